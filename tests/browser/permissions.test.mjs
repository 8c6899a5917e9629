import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launchBrowser, newPage, login, bodyText } from './helpers.mjs';

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a 罗平县 clerk opening /admin/regions gets 403 没有权限', async () => {
  const { context, page } = await newPage(browser, server.baseURL);
  try {
    await login(page, 'luoping.clerk');
    const response = await page.goto('/admin/regions');
    assert.equal(response.status(), 403, `expected 403, got ${response.status()}:\n${await bodyText(page)}`);
    assert.match(await bodyText(page), /没有权限/);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  } finally {
    await context.close();
  }
});

test('jiuan.admin opens /admin/regions and sees 罗平县', async () => {
  const { context, page } = await newPage(browser, server.baseURL);
  try {
    await login(page, 'jiuan.admin');
    const response = await page.goto('/admin/regions');
    assert.equal(response.status(), 200, `expected 200, got ${response.status()}:\n${await bodyText(page)}`);
    assert.match(await bodyText(page), /罗平县/);
  } finally {
    await context.close();
  }
});
