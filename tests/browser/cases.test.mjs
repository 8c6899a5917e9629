import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useAppAndBrowser, withPage, login, bodyText } from './helpers.mjs';

// A case end to end in a real browser: a citizen applies online (the phone code read from the
// demo's development outbox), a clerk accepts it on the case page, a reviewer approves it to
// conclusion, and the citizen follows it at /follow, seeing 已办结 and the e-certificate link.

const env = useAppAndBrowser();
const FOOD = '000172007000';

/** Clicks `locator` and waits for the page it leads to (a POST answered by a redirect or a page). */
async function submitAndLoad(page, locator) {
  await Promise.all([page.waitForEvent('load'), locator.click()]);
}

test('a citizen applies online, staff decide, the citizen follows it to 已办结', async () => {
  let caseNo;
  let tracking;
  await withPage(env, async (page) => {
    await page.goto(`/apply/990121/${FOOD}`);
    await page.fill('#a-name', '钱七');
    await page.fill('#a-id', '11010519491231002X');
    await page.fill('#a-phone', '13900139111');
    await page.fill('[name="form.org_name"]', '罗平县钱七餐饮店');
    await page.fill('[name="form.legal_rep_name"]', '钱七');
    await page.fill('[name="form.contact_name"]', '钱七');
    await page.fill('[name="form.contact_phone"]', '13900139111');
    await page.fill('[name="form.org_address"]', '罗平县人民路 9 号');
    await page.check('[name="form.commitment"]');
    await page.click('#send-code');
    await page.locator('#code-status.ok').waitFor();

    const outbox = await page.context().newPage();
    await outbox.goto('/dev/outbox');
    const rows = await outbox.locator('#outbox tbody tr').allInnerTexts();
    // The dev sink shows the full number once it has delivered the message, masked before.
    const sms = rows.find((r) => (r.includes('139****9111') || r.includes('13900139111')) && r.includes('验证码'));
    assert.ok(sms, `no code in the outbox: ${rows.slice(0, 3).join(' | ')}`);
    const code = sms.match(/验证码是\s*(\d{6})/)[1];
    await outbox.close();

    await page.fill('#a-code', code);
    // Every material as a file: intake refuses an acceptance while a required one is missing.
    const files = page.locator('.materials input[type=file]');
    const n = await files.count();
    assert.ok(n >= 5, `expected the catalogue's materials, found ${n} file inputs`);
    for (let i = 0; i < n; i++) {
      await files.nth(i).setInputFiles({ name: '材料.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.7\nmaterial\n') });
    }
    await submitAndLoad(page, page.locator('#submit-apply'));
    await page.locator('#tracking-code').waitFor({ timeout: 5_000 }).catch(async () => {
      assert.fail(`no receipt: ${await bodyText(page)}`);
    });
    caseNo = (await page.locator('#case-no').innerText()).trim();
    tracking = (await page.locator('#tracking-code').innerText()).trim();
    assert.match(caseNo, /^990121-/);
  });

  let id;
  await withPage(env, async (page) => {
    await login(page, 'luoping.clerk');
    const list = await (await page.request.get('/api/v1/cases?status=submitted')).json();
    id = list.find((c) => c.case_no === caseNo)?.id;
    assert.ok(id, `case ${caseNo} not listed`);
    await page.goto(`/cases/${id}`);
    await submitAndLoad(page, page.locator('#intake-accept'));
    assert.match(await page.locator('#case-status').innerText(), /办理中/, await bodyText(page));
    assert.match(await page.locator('#notices').innerText(), /受理通知书/);
  });

  await withPage(env, async (page) => {
    await login(page, 'luoping.reviewer');
    await page.goto(`/cases/${id}`);
    for (let i = 0; i < 6; i++) {
      if ((await page.locator('#case-status').innerText()).includes('已办结')) break;
      const form = page.locator('form.act').first();
      await form.locator('textarea[name=opinion]').fill('同意');
      await submitAndLoad(page, form.locator('button[value=approve]'));
    }
    assert.match(await page.locator('#case-status').innerText(), /已办结/, await bodyText(page));
  });

  await withPage(env, async (page) => {
    await page.goto('/follow');
    const form = page.locator('form:has(input[name=code])');
    await form.locator('input[name=code]').fill(tracking);
    await submitAndLoad(page, form.locator('button'));
    assert.match(await page.locator('#follow-status').innerText(), /已办结/, await bodyText(page));
    assert.match(await page.locator('#cert-link').getAttribute('href'), /^\/verify\?c=/);
    assert.ok(!(await bodyText(page)).includes('13900139111'), 'no phone on the public page');
  });
});
