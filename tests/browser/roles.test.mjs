import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startServer, ROOT } from './server.mjs';
import { launchBrowser, newPage, login, bodyText } from './helpers.mjs';

// Each role's home page heading. The system administrator is province-level
// only (jingjiang.sysadmin); every other role is tried as a 罗平县 user.
const ROLES = [
  { user: 'luoping.clerk', h1: '窗口工作台', region: '罗平县', label: '窗口人员' },
  { user: 'luoping.reviewer', h1: '审批待办', region: '罗平县' },
  { user: 'luoping.manager', h1: '大厅管理', region: '罗平县' },
  { user: 'luoping.admin', h1: '区划管理', region: '罗平县' },
  { user: 'luoping.supervisor', h1: '效能监察', region: '罗平县' },
  { user: 'luoping.auditor', h1: '审计查询', region: '罗平县' },
  { user: 'jingjiang.sysadmin', h1: '系统管理', region: '静江省' },
];
const SCREENSHOT_OF = 'luoping.clerk';

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

for (const role of ROLES) {
  test(`${role.user} lands on ${role.h1}`, async () => {
    const { context, page } = await newPage(browser, server.baseURL);
    try {
      await login(page, role.user);
      assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
      const h1 = (await page.locator('h1').first().innerText()).trim();
      assert.equal(h1, role.h1, `home heading for ${role.user}; page says:\n${await bodyText(page)}`);

      const who = (await page.locator('.who').first().innerText()).trim();
      assert.match(who, new RegExp(role.region), `.who should name the region ${role.region}: "${who}"`);
      if (role.label) assert.match(who, new RegExp(role.label), `.who should name the role ${role.label}: "${who}"`);
      assert.equal(await page.locator('form#logout').count(), 1, 'header should offer logout');

      if (role.user === SCREENSHOT_OF) {
        const dir = path.join(ROOT, 'target', 'browser');
        mkdirSync(dir, { recursive: true });
        await page.screenshot({ path: path.join(dir, 'home.png'), fullPage: true });
      }
    } finally {
      await context.close();
    }
  });
}
