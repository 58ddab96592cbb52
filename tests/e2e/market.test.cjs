// Closed is not stale: on a Saturday (the market clock set with --sim-start) the Schwab chip says closed with the
// next open and that the clock is simulated, and the options chain says "as of the close" instead of turning
// stale when its quotes stand still; halted contracts are never guessed. Then a session: the chip is live.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, schwabSim, screenshot } = require('./harness.cjs');

/** The desk on the chain tab with the market clock starting at `start`. */
const deskAt = (t, start) => openDesk(t, ['--seed', '11', '--sim-start', start], { path: '/#chain' });

test('on a Saturday the chip says closed with the next open, and the chain is as of the close, not stale', async (t) => {
  const { page, base } = await deskAt(t, '2026-12-05T12:00-05:00');
  const chip = '#sources .source[data-source="schwab"]';
  await page.waitForSelector(`${chip}[data-state="closed"]`, { timeout: 20000 });
  const text = await page.textContent(chip);
  assert.match(text, /schwab: closed · opens 2026-12-07 09:30 ET \(simulated clock\)/);
  assert.equal(await page.getAttribute(chip, 'data-clock'), 'simulated');
  // The relay says the same over REST.
  const status = await (await fetch(`${base}/api/status`)).json();
  const schwab = (status.items || status).schwab;
  assert.equal(schwab.state, 'closed');
  assert.equal(schwab.market, 'closed');
  assert.equal(schwab.next_open_et, '2026-12-07 09:30 ET');
  // The chain loads (Monday's expiry: no 0DTE on a Saturday) and keeps its label past the stale limit (10 s).
  await page.waitForSelector('#chain-table tbody tr[data-strike]', { timeout: 20000 });
  const panel = 'section.panel[data-topic^="chain:"]';
  await page.waitForSelector(`${panel}[data-closed="true"]`, { timeout: 10000 });
  assert.match(await page.textContent(`${panel} h2 .age`), /as of the close · opens 2026-12-07 09:30 ET/);
  const topic = await page.getAttribute(panel, 'data-topic');
  assert.ok(topic.endsWith('2026-12-07'), topic);
  await page.waitForTimeout(11000);
  assert.equal(await page.getAttribute(`${panel} h2 .age`, 'data-stale'), 'false');
  assert.equal(await page.$eval(panel, (s) => s.classList.contains('stale')), false);
  await screenshot(page, 'market-closed');
});

test('in a session the chip is live and the chain is not marked closed', async (t) => {
  const { page } = await deskAt(t, '2026-12-02T10:15-05:00');
  const chip = '#sources .source[data-source="schwab"]';
  await page.waitForSelector(`${chip}[data-state="live"]`, { timeout: 20000 });
  assert.match(await page.textContent(chip), /schwab: live \(simulated clock\)/);
  await page.waitForSelector('#chain-table tbody tr[data-strike]', { timeout: 20000 });
  assert.equal(await page.getAttribute('section.panel[data-topic^="chain:"]', 'data-closed'), 'false');
});

test('a halted contract is struck through, from Schwab\'s security status', async (t) => {
  const { page, relay } = await openDesk(t, ['--seed', '11'], { path: '/#chain' });
  // The built-in simulator's address, from the relay's log.
  const sim = schwabSim(relay);
  await page.waitForSelector('#chain-table tbody tr[data-strike][data-call]', { timeout: 20000 });
  const key = await page.getAttribute('#chain-table tbody tr.atm[data-call]', 'data-call');
  const row = `#chain-table tbody tr[data-call="${key}"]`;
  assert.equal(await page.$eval(row, (tr) => tr.classList.contains('call-halted')), false);
  const r = await fetch(`${sim}/sim/faults/halt?symbol=${encodeURIComponent(key)}`, { method: 'POST' });
  assert.equal(r.status, 200);
  await page.waitForSelector(`${row}.call-halted`, { timeout: 10000 });
  const deco = await page.$eval(`${row} td.c[data-field="bid"]`, (td) => getComputedStyle(td).textDecorationLine);
  assert.equal(deco, 'line-through');
  await screenshot(page, 'market-halted');
  await fetch(`${sim}/sim/faults/halt?symbol=${encodeURIComponent(key)}&resume=true`, { method: 'POST' });
  await page.waitForFunction((sel) => !document.querySelector(sel).classList.contains('call-halted'), row, { timeout: 10000 });
});
