import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useAppAndBrowser, withPage, login, bodyText } from './helpers.mjs';

const env = useAppAndBrowser();

test('a 罗平县 clerk opening /admin/regions gets 403 没有权限', () =>
  withPage(env, async (page) => {
    await login(page, 'luoping.clerk');
    const response = await page.goto('/admin/regions');
    assert.equal(response.status(), 403, `expected 403, got ${response.status()}:\n${await bodyText(page)}`);
    assert.match(await bodyText(page), /没有权限/);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  }));

test('jiuan.admin opens /admin/regions and sees 罗平县', () =>
  withPage(env, async (page) => {
    await login(page, 'jiuan.admin');
    const response = await page.goto('/admin/regions');
    assert.equal(response.status(), 200, `expected 200, got ${response.status()}:\n${await bodyText(page)}`);
    assert.match(await bodyText(page), /罗平县/);
  }));
