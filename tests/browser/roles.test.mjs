import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './server.mjs';
import { useAppAndBrowser, withPage, login, bodyText } from './helpers.mjs';

// Each role's home page heading, and the role label in the header's .who. The system administrator is province-level
// only (jingjiang.sysadmin); every other role is tried as a 罗平县 user.
const ROLES = [
  { user: 'luoping.clerk', h1: '窗口工作台', region: '罗平县', label: '窗口人员' },
  { user: 'luoping.reviewer', h1: '审批待办', region: '罗平县', label: '审批人员' },
  { user: 'luoping.manager', h1: '大厅管理', region: '罗平县', label: '大厅管理员' },
  { user: 'luoping.admin', h1: '区划管理', region: '罗平县', label: '区划管理员' },
  { user: 'luoping.supervisor', h1: '效能监察', region: '罗平县', label: '效能监察' },
  { user: 'luoping.auditor', h1: '审计查询', region: '罗平县', label: '审计员' },
  { user: 'jingjiang.sysadmin', h1: '系统管理', region: '静江省', label: '系统管理员' },
];
const SCREENSHOT_OF = 'luoping.clerk';

const env = useAppAndBrowser();

for (const role of ROLES) {
  test(`${role.user} lands on ${role.h1}`, () =>
    withPage(env, async (page) => {
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
    }));
}
