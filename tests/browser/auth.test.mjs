import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useAppAndBrowser, withPage, submitLogin, login, bodyText } from './helpers.mjs';

const env = useAppAndBrowser();

test('login page is a Chinese page with the login form', () =>
  withPage(env, async (page) => {
    const response = await page.goto('/login');
    assert.equal(response.status(), 200);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    const form = page.locator('form#login');
    assert.equal(await form.locator('input[name=username]').count(), 1);
    assert.equal(await form.locator('input[name=password]').count(), 1);
    const submit = form.locator('button[type=submit]');
    assert.equal(await submit.count(), 1);
    assert.match(await submit.innerText(), /登录/);
  }));

test('clerk logs in, sees the desk, logs out, and / then sends to /login', () =>
  withPage(env, async (page) => {
    await login(page, 'luoping.clerk');
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal((await page.locator('h1').first().innerText()).trim(), '窗口工作台', await bodyText(page));
    const who = await page.locator('.who').first().innerText();
    assert.match(who, /罗平县/, `.who should name the region: ${who}`);
    assert.match(who, /窗口人员/, `.who should name the role: ${who}`);

    const logout = page.locator('form#logout');
    assert.equal(await logout.count(), 1, 'header should have form#logout');
    assert.match(await logout.locator('[type=submit]').first().innerText(), /退出/);
    const [logoutResponse] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      logout.locator('[type=submit]').first().click(),
    ]);
    assert.ok(logoutResponse.status() < 400, `logout POST answered ${logoutResponse.status()}`);
    await page.waitForLoadState('domcontentloaded');

    const response = await page.goto('/');
    assert.equal(new URL(page.url()).pathname, '/login', `after logout / should redirect to /login, got ${page.url()} (${response?.status()})`);
    assert.equal(await page.locator('form#login').count(), 1);
  }));

test('wrong password shows an alert and stays on /login', () =>
  withPage(env, async (page) => {
    const response = await submitLogin(page, 'luoping.clerk', 'not-the-password');
    assert.equal(response.status(), 401, 'wrong credentials should answer 401');
    assert.equal(new URL(page.url()).pathname, '/login');
    const alert = page.locator('[role=alert]');
    assert.ok((await alert.count()) >= 1, `expected [role=alert]: ${await bodyText(page)}`);
    assert.match(await alert.first().innerText(), /用户名或密码错误/);
    assert.equal(await page.locator('form#login').count(), 1, 'login form is shown again');

    // Still logged out.
    await page.goto('/');
    assert.equal(new URL(page.url()).pathname, '/login');
  }));

test('unknown user gets the same alert as a wrong password', () =>
  withPage(env, async (page) => {
    const response = await submitLogin(page, 'nobody.clerk');
    assert.equal(response.status(), 401);
    assert.match(await page.locator('[role=alert]').first().innerText(), /用户名或密码错误/);
  }));
