// The walking skeleton in a real browser: live indicator, ticking values, pause/resume (relay side),
// stale detection, and reconnect after the relay is killed and restarted, all without a page reload.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, stopRelay, screenshot, sleep } = require('./harness.cjs');

// A 1 s heartbeat makes "stale" (no frame for > 2 heartbeats) observable in a few seconds.
const RELAY_ARGS = ['--heartbeat-ms', '1000', '--rates-tick-ms', '200'];

const yields = (page) => page.$$eval('#curve-table tr[data-tenor] td.yield', (tds) => tds.map((td) => td.textContent));
const connState = (page) => page.getAttribute('#conn-state', 'data-state');

async function waitForState(page, state, timeout) {
  await page.waitForSelector(`#conn-state[data-state="${state}"]`, { timeout });
}

async function waitForChange(page, before, timeout = 8000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const now = await yields(page);
    if (now.length === before.length && now.some((v, i) => v !== before[i])) return now;
    await sleep(100);
  }
  throw new Error(`no value changed within ${timeout} ms (still ${before.join(' ')})`);
}

test('desk goes live, pauses and resumes, notices staleness, and survives a relay restart', async (t) => {
  const desk = await openDesk(t, RELAY_ARGS, { path: '/#rates' });
  const { page, errors: consoleErrors } = desk;
  await page.waitForFunction(() => document.querySelectorAll('#curve-table tr[data-tenor]').length === 11);
  const first = await yields(page);
  assert.ok(first.every((v) => /^\d+\.\d{3}$/.test(v)), `yields render as numbers: ${first}`);
  await waitForChange(page, first);
  await page.waitForSelector('#curve-table td[class*="flash-"]', { timeout: 5000 });
  await screenshot(page, 'skeleton-live');

  // Pause with the Space key: the relay stops sending, nothing changes for 3 s.
  await page.keyboard.press('Space');
  await waitForState(page, 'paused', 5000);
  const frozen = await yields(page);
  await sleep(3000);
  assert.deepEqual(await yields(page), frozen, 'nothing changes while paused');
  assert.equal(await connState(page), 'paused', 'heartbeats keep a paused link from looking stale');
  await screenshot(page, 'skeleton-paused');

  // Resume with the button: values move again.
  await page.click('#pause-btn');
  await waitForState(page, 'live', 5000);
  await waitForChange(page, await yields(page));

  // Freeze the relay (socket open, no frames): the indicator must say stale, then recover on its own.
  desk.relay.kill('SIGSTOP');
  await waitForState(page, 'stale', 6000);
  await screenshot(page, 'skeleton-stale');
  desk.relay.kill('SIGCONT');
  await waitForState(page, 'live', 6000);

  // Kill the relay: within 2 s the indicator leaves live and says reconnecting, with the attempt count.
  await page.evaluate(() => (window.__sameDocument = true));
  const killedAt = Date.now();
  await stopRelay(desk.relay, 'SIGKILL');
  await waitForState(page, 'reconnecting', 2000);
  assert.ok(Date.now() - killedAt <= 2000, 'left live within 2 s');
  assert.match(await page.textContent('#conn-state'), /attempt \d+/);
  await screenshot(page, 'skeleton-reconnecting');

  // Start it again on the same port (the address the first run bound): live again, fresh data, same document (no
  // reload).
  await desk.restartRelay(RELAY_ARGS);
  await waitForState(page, 'live', 25000);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no page reload');
  await waitForChange(page, await yields(page));
  assert.deepEqual(consoleErrors, [], 'no uncaught errors in the page');
});
