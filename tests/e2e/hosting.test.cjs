// The app as plain static files on another origin, pointed at the relay by ?relay= — allowed only when the relay's
// TICKDESK_ALLOWED_ORIGINS lists that origin — and the browser's offline/online events.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { freePort, startRelay, stopRelay, launchBrowser, screenshot } = require('./harness.cjs');

const DIST = process.env.TICKDESK_DIST || path.join(__dirname, '..', '..', 'dist');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };

/** A bare static file server for dist/, standing in for any static host. */
function serveDist(port) {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(DIST, rel === '/' ? 'index.html' : rel);
    if (!file.startsWith(DIST) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

test('hosted on another origin, the app reaches an allowing relay and is refused by others', async (t) => {
  const [relayPort, otherRelayPort, sitePort] = [await freePort(), await freePort(), await freePort()];
  const site = `http://127.0.0.1:${sitePort}`;
  const allowing = await startRelay(relayPort, ['--static-dir', '/nonexistent', '--allowed-origins', site, '--rates-tick-ms', '200']);
  const refusing = await startRelay(otherRelayPort, ['--static-dir', '/nonexistent']);
  const server = await serveDist(sitePort);
  const browser = await launchBrowser();
  t.after(async () => {
    await browser.close();
    server.close();
    await stopRelay(allowing);
    await stopRelay(refusing);
  });

  const page = await browser.newPage();
  await page.goto(`${site}/?relay=ws://127.0.0.1:${relayPort}`);
  await page.waitForSelector('#conn-state[data-state="live"]', { timeout: 20000 });
  await page.waitForFunction(() => document.querySelectorAll('#curve-table tr[data-tenor]').length === 11);
  assert.match(await page.textContent('.relay-url'), new RegExp(`ws://127.0.0.1:${relayPort}/ws`));

  const other = await browser.newPage();
  await other.goto(`${site}/?relay=ws://127.0.0.1:${otherRelayPort}`);
  await other.waitForSelector('#conn-state[data-state="reconnecting"]', { timeout: 20000 });
  assert.ok(!(await other.$('#conn-state[data-state="live"]')), 'a relay that does not list the origin refuses it');
});

test('the indicator follows the browser offline and back online', async (t) => {
  const port = await freePort();
  const relay = await startRelay(port, ['--rates-tick-ms', '200']);
  const browser = await launchBrowser();
  const context = await browser.newContext();
  t.after(async () => {
    await browser.close();
    await stopRelay(relay);
  });
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('#conn-state[data-state="live"]', { timeout: 20000 });
  await context.setOffline(true);
  await page.waitForSelector('#conn-state[data-state="offline"]', { timeout: 5000 });
  await screenshot(page, 'offline');
  await context.setOffline(false);
  await page.waitForSelector('#conn-state[data-state="live"]', { timeout: 10000 });
});
