import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './server.mjs';
import { useAppAndBrowser, withPage, login, bodyText } from './helpers.mjs';

// The workflow editor and the calendar as a region admin meets them in a real browser: the
// ECharts diagram is drawn, steps are added and removed from the keyboard, the server checks the
// draft as it is typed (issues at their step, diagram redrawn), and the month grid shows closures.

const env = useAppAndBrowser();

async function openFoodWorkflow(page) {
  await page.goto('/admin/workflows');
  await page.getByRole('link', { name: '审批流程' }).nth(await rowOf(page, '罗平县')).click();
  await page.getByRole('link', { name: '食品经营许可证核发' }).click();
  await page.waitForSelector('#wf-diagram[data-drawn]');
}

/** Index of the region's row among the "审批流程" links of the index page. */
async function rowOf(page, region) {
  const rows = await page.locator('tbody tr').allInnerTexts();
  const i = rows.findIndex((t) => t.includes(region));
  assert.ok(i >= 0, `no row for ${region}`);
  return i;
}

test('a region admin edits a workflow from the keyboard, checked as they type', () =>
  withPage(env, async (page) => {
    await login(page, 'luoping.admin');
    await openFoodWorkflow(page);
    assert.match(await page.locator('#wf-origin').innerText(), /本级设置/);
    assert.equal(await page.getAttribute('#wf-diagram', 'data-drawn'), '5', 'five steps drawn');
    assert.ok((await page.locator('#wf-diagram canvas').count()) > 0, 'ECharts draws a canvas');

    // 添加步骤 with the keyboard: focus lands in the new step's key field.
    const steps = page.locator('#wf-steps > li');
    const before = await steps.count();
    await page.locator('#wf-add').focus();
    await page.keyboard.press('Enter');
    assert.equal(await steps.count(), before + 1);
    const added = steps.last();
    assert.equal(await page.evaluate(() => document.activeElement?.name?.startsWith('key_')), true, 'focus in the new key field');
    await page.keyboard.type('lonely');
    await page.keyboard.press('Tab');
    await page.keyboard.type('孤立步骤');
    await added.locator('[name^="department_"]').fill('市场监督管理局');
    await added.locator('[name^="days_"]').fill('1');
    await added.locator('[name^="approve_"]').fill('done');

    // The live check marks the step nobody reaches and redraws the diagram with it.
    await added.locator('.wf-step-issues li').first().waitFor();
    assert.match(await added.locator('.wf-step-issues').innerText(), /从开始步骤无法到达/, await bodyText(page));
    await page.waitForSelector('#wf-diagram[data-drawn="6"]');
    assert.match(await page.locator('#wf-summary').innerText(), /处问题/);

    const dir = path.join(ROOT, 'target', 'browser');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: path.join(dir, 'workflow-editor.png'), fullPage: true });

    // Removing it (keyboard again) leaves a definition that passes.
    await added.locator('[data-remove]').focus();
    await page.keyboard.press('Enter');
    assert.equal(await steps.count(), before);
    await page.locator('#wf-summary .alert.ok').waitFor();
    assert.match(await page.locator('#wf-summary').innerText(), /检查通过/);
    await page.waitForSelector('#wf-diagram[data-drawn="5"]');

    // A step's kind shows only its fields.
    const first = steps.first();
    assert.equal(await first.locator('[name^="branches_"]').isVisible(), false);
    await first.locator('select.wf-kind').selectOption('fork');
    assert.equal(await first.locator('[name^="branches_"]').isVisible(), true);
    assert.equal(await first.locator('[name^="department_"]').isVisible(), false);
  }));

test('the calendar shows holidays, 调休, closures with their origin, and flags a deadline beyond it', () =>
  withPage(env, async (page) => {
    await login(page, 'luoping.admin');
    await page.goto('/admin/workflows');
    await page.getByRole('link', { name: '工作日历' }).nth(await rowOf(page, '罗平县')).click();
    await page.goto(page.url().split('?')[0] + '?month=2026-08');
    const typhoon = page.locator('td[data-date="2026-08-12"]');
    assert.match(await typhoon.getAttribute('class'), /cal-closed/);
    assert.match(await typhoon.innerText(), /台风过境/);
    await page.goto(page.url().split('?')[0] + '?month=2026-10');
    assert.match(await page.locator('td[data-date="2026-10-01"]').getAttribute('class'), /cal-holiday/);
    assert.match(await page.locator('td[data-date="2026-10-10"]').getAttribute('class'), /cal-makeup/);
    // The deadline calculator, a plain form.
    await page.fill('input[name=from]', '2026-12-10');
    await page.fill('input[name=days]', '20');
    await page.getByRole('button', { name: '计算' }).click();
    await page.waitForLoadState('domcontentloaded');
    assert.match(await page.locator('#deadline').innerText(), /计算日期超出已加载的工作日历/);
  }));
