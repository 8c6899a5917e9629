// The catalogue in a real browser: a citizen on the public portal (not logged in) searching guides
// in Chinese and by pinyin initials, filtering, paging, opening and printing a guide, switching the
// elderly-friendly mode; and region admins in the editor and the implementation pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './server.mjs';
import { useAppAndBrowser, withPage, login, bodyText } from './helpers.mjs';

const env = useAppAndBrowser();
const SHOTS = path.join(ROOT, 'target', 'browser');
const FOOD = '000172007000'; // 食品经营许可证核发

/** The names of the guides listed on the current portal page. */
async function listedNames(page) {
  return page.locator('ul.guides li a strong').allInnerTexts();
}

/** The same search through the JSON API, from inside the page's origin. */
async function apiNames(page, query) {
  const res = await page.request.get(`/api/v1/guides?region=990121&per_page=100&${query}`);
  assert.equal(res.status(), 200);
  const body = await res.json();
  return { names: body.guides.map((g) => g.name), total: body.total, guides: body.guides };
}

test('a citizen searches in Chinese and by pinyin initials, filters, pages, opens and prints a guide', () =>
  withPage(env, async (page) => {
    await page.goto('/guide?region=990121');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await page.locator('.topbar').count(), 0, 'no staff chrome on the portal');

    // Chinese: the search box has the focus; typing and Enter searches. Names come first.
    const box = page.locator('input[name=q]');
    assert.ok(await box.evaluate((el) => el === document.activeElement), 'search box should have the focus');
    await box.fill('营业执照');
    await Promise.all([page.waitForURL(/q=/), box.press('Enter')]);
    let names = await listedNames(page);
    assert.ok(names.length >= 3, `results for 营业执照: ${names}`);
    assert.match(names[0], /营业执照/);
    const firstBodyOnly = names.findIndex((n) => !n.includes('营业执照'));
    assert.ok(firstBodyOnly === -1 || names.slice(firstBodyOnly).every((n) => !n.includes('营业执照')),
      `name matches must come before body matches: ${names}`);

    // Pinyin initials.
    await page.locator('input[name=q]').fill('yyzz');
    await Promise.all([page.waitForURL(/q=yyzz/), page.locator('form.search button').click()]);
    names = await listedNames(page);
    assert.ok(names.length >= 3 && names.slice(0, 3).every((n) => n.includes('营业执照')), `yyzz: ${names}`);

    // Filters: theme, department, who it is for — the page lists what the API finds.
    await page.locator('input[name=q]').fill('');
    await page.locator('select[name=theme]').selectOption('新生儿出生');
    await Promise.all([page.waitForURL(/theme=/), page.locator('form.search button').click()]);
    const births = await apiNames(page, `theme=${encodeURIComponent('新生儿出生')}`);
    assert.ok(births.total >= 3);
    assert.deepEqual(await listedNames(page), births.names.slice(0, 20));

    await page.locator('select[name=theme]').selectOption('');
    const dept = (await page.locator('select[name=department] option').allInnerTexts()).find((d) => d.includes('民政局'));
    assert.ok(dept, 'a 民政局 in the department filter');
    await page.locator('select[name=department]').selectOption(dept);
    await Promise.all([page.waitForURL(/department=/), page.locator('form.search button').click()]);
    const departments = await page.locator('ul.guides li .muted').allInnerTexts();
    assert.ok(departments.length >= 1 && departments.every((d) => d.includes('民政局')), `departments: ${departments}`);

    await page.locator('select[name=department]').selectOption('');
    for (const [object, code] of [['person', '1'], ['legal', null]]) {
      await page.locator('select[name=object]').selectOption(object);
      await Promise.all([page.waitForURL(new RegExp(`object=${object}`)), page.locator('form.search button').click()]);
      const api = await apiNames(page, `object=${object}`);
      assert.deepEqual(await listedNames(page), api.names.slice(0, 20), `object=${object}`);
      for (const g of api.guides) {
        if (code) assert.ok(g.objects.includes(code), `${g.name} is for 自然人`);
        else assert.ok(g.objects.some((o) => o !== '1'), `${g.name} is for 法人`);
      }
    }

    // Pages: 20 a page, the next page continues the ranking.
    await page.goto('/guide?region=990121');
    assert.equal((await listedNames(page)).length, 20);
    const all = await apiNames(page, '');
    await Promise.all([page.waitForURL(/page=2/), page.locator('nav.pager a[rel=next]').click()]);
    assert.equal(await page.locator('nav.pager a[aria-current=page]').innerText(), '2');
    assert.deepEqual(await listedNames(page), all.names.slice(20, 40));

    // Open a guide and print it: the print style hides the buttons and shows the print date.
    await page.goto(`/guide?region=990121&q=${encodeURIComponent('食品经营许可')}`);
    await Promise.all([page.waitForURL(new RegExp(`/guide/990121/${FOOD}`)), page.locator('ul.guides li a').first().click()]);
    assert.equal((await page.locator('h1').innerText()).trim(), '食品经营许可证核发');
    assert.match(await bodyText(page), /受理条件[\s\S]*申请材料/);
    const printButton = page.locator('a', { hasText: '打印指南' });
    assert.ok(await printButton.isVisible());
    assert.ok(!(await page.locator('.print-only').isVisible()));
    await page.emulateMedia({ media: 'print' });
    assert.ok(!(await printButton.isVisible()), 'the print button is not printed');
    assert.ok(!(await page.locator('a', { hasText: '在线填写申请表' }).isVisible()));
    assert.ok(await page.locator('.print-only').isVisible(), 'the print date is printed');
    assert.ok(await page.locator('table.facts-table').isVisible());
    const pdf = await page.pdf({ format: 'A4' });
    assert.ok(pdf.length > 10_000, `a printed guide (${pdf.length} bytes)`);
    await page.emulateMedia({ media: 'screen' });
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'guide.png'), fullPage: true });
  }));

test('a citizen switches the elderly-friendly mode, and it stays on across pages', () =>
  withPage(env, async (page) => {
    await page.goto('/guide?region=990121&q=yyzz');
    const size = () => page.locator('ul.guides li a strong').first().evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
    const before = await size();
    assert.notEqual(await page.getAttribute('html', 'class'), 'elderly');
    await page.locator('form.elderly-toggle button').click();
    await page.waitForFunction(() => document.documentElement.className === 'elderly');
    assert.match(page.url(), /q=yyzz/, 'back on the same search');
    const after = await size();
    assert.ok(after > before, `larger type: ${before}px → ${after}px`);
    const touch = await page.locator('form.search button').evaluate((el) => el.getBoundingClientRect().height);
    assert.ok(touch >= 56, `big touch targets (${touch}px)`);
    await page.goto(`/guide/990121/${FOOD}`);
    assert.equal(await page.getAttribute('html', 'class'), 'elderly', 'kept in a cookie');
    await page.goto('/guide?region=990121');
    await page.locator('form.elderly-toggle button').click();
    await page.waitForFunction(() => document.documentElement.className !== 'elderly');
    await page.goto(`/guide/990121/${FOOD}`);
    assert.notEqual(await page.getAttribute('html', 'class'), 'elderly', 'and off again for good');
  }));

/** The id in the first link whose text is `name` and whose href matches `pattern`. */
async function idOfLink(page, name, pattern) {
  const href = await page.locator('a', { hasText: name }).evaluateAll(
    (links, p) => links.map((a) => a.getAttribute('href')).find((h) => new RegExp(p).test(h)), pattern.source);
  assert.ok(href, `a link "${name}" matching ${pattern}`);
  return Number(href.match(pattern)[1]);
}

test('a province admin edits a draft, sees the quality error beside the field, fixes it and publishes', () =>
  withPage(env, async (page) => {
    await login(page, 'jingjiang.admin');
    await page.goto('/admin/catalogue');
    const serviceId = await idOfLink(page, '食品经营许可证核发', /^\/admin\/catalogue\/services\/(\d+)$/);
    await page.goto(`/admin/catalogue/services/${serviceId}`);
    await Promise.all([page.waitForURL(/\/draft$/), page.locator('a', { hasText: '新建草稿' }).click()]);

    // Charge a fee without its basis: refused, the message beside 收费依据, the input marked.
    await page.locator('#f-fee-charged').check();
    await page.locator('#f-fee-amount').fill('工本费每证 10 元');
    await page.locator('#f-conditions').fill('经营场所与食品品种、数量相适应；有食品安全管理制度。');
    await Promise.all([page.waitForLoadState('domcontentloaded'), page.locator('.savebar button', { hasText: '保存草稿' }).first().click()]);
    assert.match(await page.locator('#error-summary').innerText(), /收费依据/);
    assert.match(await page.locator('#f-fee-basis-e').innerText(), /收费事项须填写收费依据/);
    assert.equal(await page.getAttribute('#f-fee-basis', 'aria-invalid'), 'true');
    assert.equal(await page.locator('#f-conditions').inputValue(), '经营场所与食品品种、数量相适应；有食品安全管理制度。', 'what was typed stays');
    mkdirSync(SHOTS, { recursive: true });
    await page.locator('#s-fee').screenshot({ path: path.join(SHOTS, 'editor-error.png') });

    // Fix it from the keyboard (the summary links to the input; Alt+S saves).
    await page.locator('#error-summary a[href="#f-fee-basis"]').click();
    await page.locator('#f-fee-basis').focus();
    await page.keyboard.type('《食品经营许可和备案管理办法》');
    await Promise.all([page.waitForURL(/saved=1/), page.locator('.savebar button[accesskey=s]').click()]);
    assert.match(await bodyText(page), /草稿已保存/);

    // Publish the draft from today; it becomes the version in force.
    await page.goto(`/admin/catalogue/services/${serviceId}`);
    const draftRow = page.locator('tr[data-status=draft]');
    await Promise.all([page.waitForURL(/published=/), draftRow.locator('form.publish button').click()]);
    assert.match(await bodyText(page), /已发布：第 2 版/);
    assert.match(await page.locator('#v-2').innerText(), /当前生效/);
    const guide = await page.request.get(`/api/v1/guides/990121/${FOOD}`);
    const body = await guide.json();
    assert.equal(body.record.fee.basis, '《食品经营许可和备案管理办法》');
  }));

test('a city value shows in a county that has not overridden it; the county overrides and resets it', () =>
  withPage(env, async (page) => {
    await login(page, 'jiuan.admin');
    await page.goto('/admin/catalogue');
    const city = await idOfLink(page, '久安市', /^\/admin\/catalogue\/regions\/(\d+)$/);
    const qinghe = await idOfLink(page, '清河县', /^\/admin\/catalogue\/regions\/(\d+)$/);
    await page.goto(`/admin/catalogue/regions/${city}`);
    const service = await idOfLink(page, '食品经营许可证核发', /\/services\/(\d+)$/);

    // The city changes the hours and the promised limit (a structured field with its unit).
    await page.goto(`/admin/catalogue/regions/${city}/services/${service}`);
    const hours = page.locator('#f-hours');
    await hours.locator('summary').click();
    await hours.locator('input[name=value]').fill('周一至周日 8:00-20:00');
    await Promise.all([page.waitForURL(/#f-hours$/), hours.locator('form.override-form button').click()]);
    assert.match(await page.locator('#f-hours .origin').innerText(), /本级设置/);
    const limit = page.locator('#f-promised_limit');
    await limit.locator('summary').click();
    await limit.locator('input[name=limit_value]').fill('99');
    await Promise.all([page.waitForLoadState('domcontentloaded'), limit.locator('form.override-form button').click()]);
    assert.match(await page.locator('#e-promised_limit').innerText(), /超过了法定时限/);
    await page.locator('#f-promised_limit input[name=limit_value]').fill('4');
    await Promise.all([page.waitForURL(/#f-promised_limit$/), page.locator('#f-promised_limit form.override-form button').click()]);
    assert.match(await page.locator('#f-promised_limit .value').innerText(), /4 个工作日/);

    // 清河县 has not overridden them: it shows the city's values, from the city.
    await page.goto(`/admin/catalogue/regions/${qinghe}/services/${service}`);
    assert.match(await page.locator('#f-hours .value').innerText(), /周一至周日 8:00-20:00/);
    assert.match(await page.locator('#f-hours .origin').innerText(), /继承自久安市/);
    assert.match(await page.locator('#f-promised_limit .value').innerText(), /4 个工作日/);
    const pub = await (await page.request.get(`/api/v1/guides/990122/${FOOD}`)).json();
    assert.equal(pub.record.hours, '周一至周日 8:00-20:00');

    // 清河县's own admin overrides the hours, then resets them: the city's value is back.
    await page.locator('form#logout button').click();
    await login(page, 'qinghe.admin');
    await page.goto(`/admin/catalogue/regions/${qinghe}/services/${service}`);
    await page.locator('#f-hours summary').click();
    await page.locator('#f-hours input[name=value]').fill('工作日 9:00-17:00');
    await Promise.all([page.waitForURL(/#f-hours$/), page.locator('#f-hours form.override-form button').click()]);
    assert.match(await page.locator('#f-hours .value').innerText(), /工作日 9:00-17:00/);
    assert.match(await page.locator('#f-hours .origin').innerText(), /本级设置/);
    await page.screenshot({ path: path.join(SHOTS, 'implementation.png'), fullPage: true });
    await Promise.all([page.waitForURL(/#f-hours$/), page.locator('#f-hours button', { hasText: '恢复继承' }).click()]);
    assert.match(await page.locator('#f-hours .value').innerText(), /周一至周日 8:00-20:00/);
    assert.match(await page.locator('#f-hours .origin').innerText(), /继承自久安市/);
    assert.equal(await page.locator('#f-hours button', { hasText: '恢复继承' }).count(), 0);
  }));
