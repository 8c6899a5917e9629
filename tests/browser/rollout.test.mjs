import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useAppAndBrowser, withPage, login, bodyText } from './helpers.mjs';

// Rollout and the model report as a city admin meets them in a real browser: the dry run shows
// what one county would get, the run applies it and the page shows the progress, then the model
// report draws its charts (ECharts) with the county adopted and the city as the pioneer.

const env = useAppAndBrowser();

test('a city admin previews and applies a rollout, then reads the model report with its chart', () =>
  withPage(env, async (page) => {
    await login(page, 'jiuan.admin');
    await page.goto('/admin/rollout?from=990100');
    await page.locator('#to').fill('990122');
    await page.getByRole('button', { name: '预览（不写入）' }).click();
    await page.waitForSelector('#preview');
    assert.match(await page.locator('#preview').innerText(), /990122/, await bodyText(page));

    await page.getByRole('button', { name: '执行推广' }).click();
    await page.waitForURL(/\/admin\/rollout\/runs\/\d+/);
    // The run page refreshes itself while running; wait for the target to be applied.
    await page.waitForFunction(() => document.body.innerText.includes('已推广'), null, { timeout: 20_000 });
    await page.goto('/admin/rollout');
    assert.match(await page.locator('#spread').innerText(), /990122[\s\S]*来自 990100/, await bodyText(page));

    const year = new Date().getUTCFullYear();
    await page.goto(`/supervision/model-report?region=990100&from=${year}-01-01&to=${year}-12-31&min_sample=0`);
    await page.waitForSelector('body[data-chart="ready"]');
    assert.ok((await page.locator('#ranking-chart canvas').count()) > 0, 'ECharts draws the ranking');
    assert.match(await page.locator('#report').innerText(), /示范地区/, await bodyText(page));
  }));
