// Shared helpers for the browser tests: a Chromium from Debian driven by
// playwright-core, and a login helper that follows the demo contract.
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

export const CHROMIUM = process.env.ONESTOP_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
export const PASSWORD = 'onestop-demo';

/** Launches Chromium with a fresh temporary profile (playwright's default). */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** A new isolated context (own cookies) and page, with short timeouts. */
export async function newPage(browser, baseURL) {
  const context = await browser.newContext({ baseURL, locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  const page = await context.newPage();
  return { context, page };
}

/** The visible text of the page, trimmed, for assertion messages. */
export async function bodyText(page) {
  try {
    return (await page.locator('body').innerText({ timeout: 2_000 })).slice(0, 2_000);
  } catch {
    return (await page.content()).slice(0, 2_000);
  }
}

/**
 * Fills `form#login` and submits it. Returns the response to the POST.
 * Does not assert success: callers check where they ended up.
 */
export async function submitLogin(page, username, password = PASSWORD) {
  await page.goto('/login');
  const form = page.locator('form#login');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=password]').fill(password);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login'),
    form.locator('button[type=submit]').click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  return response;
}

/** Logs in and asserts that the browser lands on the home page `/`. */
export async function login(page, username, password = PASSWORD) {
  const response = await submitLogin(page, username, password);
  assert.equal(response.status(), 303, `POST /login as ${username} should redirect (303), got ${response.status()}`);
  await page.waitForURL((url) => url.pathname === '/');
  return response;
}

/**
 * Registers before/after hooks for a test file: one demo server and one
 * browser, started together and always cleaned up (even when one of them
 * failed to start). Returns an object whose `server` and `browser` are set
 * once the before hook has run.
 */
export function useAppAndBrowser() {
  const env = { server: undefined, browser: undefined };
  const cleanup = async () => {
    await env.browser?.close().catch(() => {});
    await env.server?.stop();
    env.browser = undefined;
    env.server = undefined;
  };
  before(async () => {
    const [server, browser] = await Promise.allSettled([startServer(), launchBrowser()]);
    if (server.status === 'fulfilled') env.server = server.value;
    if (browser.status === 'fulfilled') env.browser = browser.value;
    const failed = [server, browser].find((r) => r.status === 'rejected');
    if (failed) {
      await cleanup();
      throw failed.reason;
    }
  });
  after(cleanup);
  return env;
}

/** Runs fn with a fresh page in a fresh context of env's browser, then closes it. */
export async function withPage(env, fn) {
  assert.ok(env.browser && env.server, 'server and browser did not start (see the before hook)');
  const { context, page } = await newPage(env.browser, env.server.baseURL);
  try {
    return await fn(page);
  } finally {
    await context.close();
  }
}
