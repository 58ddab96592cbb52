// The access token in the browser: the desk opened once at /?token=… gets an HttpOnly, SameSite=Strict cookie and
// is redirected to the same URL without the token, then goes live; without it the desk says an access token is
// required instead of reconnecting forever; an app on another origin passes the token in the #token= fragment.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, serveDist, screenshot } = require('./harness.cjs');

const TOKEN = 'e2e-Access_token.0123456789';

test('opening /?token= sets the cookie, drops the token from the URL and the desk goes live', async (t) => {
  const redirects = [];
  const { relay, base, port, browser, context, page } = await openDesk(t,
    ['--access-token', TOKEN, '--rates-tick-ms', '200', '--no-schwab'], {
      path: `/?token=${TOKEN}`,
      beforeGoto: (p) => p.on('response', (r) => {
        if (r.status() === 303) redirects.push({ url: r.url(), headers: r.headers() });
      }),
    });
  assert.equal(page.url(), `${base}/`, 'the token left the address bar');
  assert.equal(redirects.length, 1);
  assert.equal(redirects[0].headers['referrer-policy'], 'no-referrer');
  const cookies = await context.cookies();
  const cookie = cookies.find((c) => c.name === `tickdesk_token_${port}`);
  assert.ok(cookie, JSON.stringify(cookies));
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'HttpOnly: the page cannot read it');
  await page.waitForFunction(() => document.querySelectorAll('#curve-table tr[data-tenor]').length === 11);
  // A reload keeps the desk open on the cookie alone.
  await page.reload();
  await page.waitForSelector('#conn-state[data-state="live"]', { timeout: 20000 });
  assert.ok(!relay.logs.includes(TOKEN), 'the relay never logged the token');

  // Another browser without the cookie: the desk says why instead of reconnecting forever.
  const stranger = await (await browser.newContext()).newPage();
  await stranger.goto(`${base}/`);
  await stranger.waitForSelector('#conn-state[data-state="unauthorized"]', { timeout: 20000 });
  assert.match(await stranger.textContent('#conn-state'), /access token required/i);
  await screenshot(stranger, 'access-token-required');
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(await stranger.getAttribute('#conn-state', 'data-state'), 'unauthorized', 'it stays put');
  // A wrong token in the URL is refused.
  const wrong = await stranger.goto(`${base}/?token=wrong`);
  assert.equal(wrong.status(), 401);
});

test('an app on another origin passes the token in the #token= fragment', async (t) => {
  const seen = [];
  const site = await serveDist(t, (req) => seen.push(`${req.url} ${req.headers.referer || ''}`));
  const { relay, browser, page } = await openDesk(t, ['--static-dir', '/nonexistent', '--allowed-origins', site,
    '--access-token', TOKEN, '--rates-tick-ms', '200', '--no-schwab'], { url: (r) => `${site}/?relay=ws://${r.addr}#token=${TOKEN}` });
  assert.ok(!page.url().includes(TOKEN), `the token left the address bar: ${page.url()}`);
  assert.ok(!seen.some((s) => s.includes(TOKEN)), 'the static host never saw the token');
  await page.waitForFunction(() => document.querySelectorAll('#curve-table tr[data-tenor]').length === 11);

  const without = await browser.newPage();
  await without.goto(`${site}/?relay=ws://${relay.addr}`);
  await without.waitForSelector('#conn-state[data-state="unauthorized"]', { timeout: 20000 });
});
