// The app as plain static files on another origin, pointed at the relay by ?relay= — allowed only when the relay's
// TICKDESK_ALLOWED_ORIGINS lists that origin — and the browser's offline/online events.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, startRelay, stopRelay, serveDist, screenshot } = require('./harness.cjs');

test('hosted on another origin, the app reaches an allowing relay and is refused by others', async (t) => {
  const site = await serveDist(t);
  const refusing = await startRelay(['--static-dir', '/nonexistent']);
  t.after(() => stopRelay(refusing));
  const { relay: allowing, browser, page } = await openDesk(t,
    ['--static-dir', '/nonexistent', '--allowed-origins', site, '--rates-tick-ms', '200'],
    { url: (r) => `${site}/?relay=ws://${r.addr}` });
  await page.waitForFunction(() => document.querySelectorAll('#curve-table tr[data-tenor]').length === 11);
  assert.match(await page.textContent('.relay-url'), new RegExp(`ws://${allowing.addr}/ws`));

  const other = await browser.newPage();
  await other.goto(`${site}/?relay=ws://${refusing.addr}`);
  await other.waitForSelector('#conn-state[data-state="reconnecting"]', { timeout: 20000 });
  assert.ok(!(await other.$('#conn-state[data-state="live"]')), 'a relay that does not list the origin refuses it');
});

test('the indicator follows the browser offline and back online', async (t) => {
  const { context, page } = await openDesk(t, ['--rates-tick-ms', '200']);
  await context.setOffline(true);
  await page.waitForSelector('#conn-state[data-state="offline"]', { timeout: 5000 });
  await screenshot(page, 'offline');
  await context.setOffline(false);
  await page.waitForSelector('#conn-state[data-state="live"]', { timeout: 10000 });
});
