// The access token in the browser: the desk opened once at /?token=… gets an HttpOnly, SameSite=Strict cookie and
// is redirected to the same URL without the token, then goes live; without it the desk says an access token is
// required instead of reconnecting forever; an app on another origin passes the token in the #token= fragment.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { freePort, startRelay, stopRelay, launchBrowser, screenshot } = require('./harness.cjs');

const DIST = process.env.TICKDESK_DIST || path.join(__dirname, '..', '..', 'dist');
const TOKEN = 'e2e-Access_token.0123456789';

test('opening /?token= sets the cookie, drops the token from the URL and the desk goes live', async (t) => {
  const port = await freePort();
  const relay = await startRelay(port, ['--access-token', TOKEN, '--rates-tick-ms', '200', '--no-schwab']);
  const browser = await launchBrowser();
  t.after(async () => {
    await browser.close();
    await stopRelay(relay);
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  const redirects = [];
  page.on('response', (r) => {
    if (r.status() === 303) redirects.push({ url: r.url(), headers: r.headers() });
  });
  await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}`);
  await page.waitForSelector('#conn-state[data-state="live"]', { timeout: 20000 });
  assert.equal(page.url(), `http://127.0.0.1:${port}/`, 'the token left the address bar');
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
  await stranger.goto(`http://127.0.0.1:${port}/`);
  await stranger.waitForSelector('#conn-state[data-state="unauthorized"]', { timeout: 20000 });
  assert.match(await stranger.textContent('#conn-state'), /access token required/i);
  await screenshot(stranger, 'access-token-required');
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(await stranger.getAttribute('#conn-state', 'data-state'), 'unauthorized', 'it stays put');
  // A wrong token in the URL is refused.
  const wrong = await stranger.goto(`http://127.0.0.1:${port}/?token=wrong`);
  assert.equal(wrong.status(), 401);
});

test('an app on another origin passes the token in the #token= fragment', async (t) => {
  const [relayPort, sitePort] = [await freePort(), await freePort()];
  const site = `http://127.0.0.1:${sitePort}`;
  const relay = await startRelay(relayPort, ['--static-dir', '/nonexistent', '--allowed-origins', site,
    '--access-token', TOKEN, '--rates-tick-ms', '200', '--no-schwab']);
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.url} ${req.headers.referer || ''}`);
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(DIST, rel === '/' ? 'index.html' : rel);
    if (!file.startsWith(DIST) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(sitePort, '127.0.0.1', r));
  const browser = await launchBrowser();
  t.after(async () => {
    await browser.close();
    server.close();
    await stopRelay(relay);
  });
  const page = await browser.newPage();
  await page.goto(`${site}/?relay=ws://127.0.0.1:${relayPort}#token=${TOKEN}`);
  await page.waitForSelector('#conn-state[data-state="live"]', { timeout: 20000 });
  assert.ok(!page.url().includes(TOKEN), `the token left the address bar: ${page.url()}`);
  assert.ok(!seen.some((s) => s.includes(TOKEN)), 'the static host never saw the token');
  await page.waitForFunction(() => document.querySelectorAll('#curve-table tr[data-tenor]').length === 11);

  const without = await browser.newPage();
  await without.goto(`${site}/?relay=ws://127.0.0.1:${relayPort}`);
  await without.waitForSelector('#conn-state[data-state="unauthorized"]', { timeout: 20000 });
});
