// The rates blotter and tape in a real browser: the curve chart, spreads, positions and PnL render and update;
// a signal published by a bot appears on the tape; a panel whose topic stops updating says stale; and with the
// websocket refused the desk falls back to polling the REST views and says so, and streams again once it works.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, screenshot } = require('./harness.cjs');

const TOKEN = 'e2e-publish-token';

test('rates blotter renders and updates, and a published signal reaches the tape', async (t) => {
  const { page, errors, base } = await openDesk(t, ['--rates-tick-ms', '200', '--publish-token', TOKEN, '--seed', '7'],
    { path: '/#rates' });

  // The chart: 11 points today, 11 at the prior close, and they move.
  await page.waitForFunction(() => {
    const p = document.querySelector('#curve-today')?.getAttribute('points') || '';
    return p.trim().split(/\s+/).length === 11;
  });
  const before = await page.getAttribute('#curve-today', 'points');
  await page.waitForFunction((b) => document.querySelector('#curve-today').getAttribute('points') !== b, before, { timeout: 8000 });
  assert.equal((await page.getAttribute('#curve-chart .prior', 'points')).trim().split(/\s+/).length, 11);

  // Spreads, positions and PnL are populated with numbers.
  await page.waitForFunction(() => document.querySelectorAll('#positions-table tr[data-position]').length >= 8);
  const pos = await page.$$eval('#positions-table tr[data-position]', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  for (const cells of pos) {
    assert.match(cells[0], /^(UST|IRS)/, `instrument: ${cells}`);
    assert.match(cells[5], /^-?[\d,]+$/, `DV01 is a number: ${cells}`);
  }
  const total = await page.textContent('#pnl-table tr[data-pnl="total"] td.day_pnl');
  assert.match(total, /^[+-]?[\d,]+$/, `total day PnL: ${total}`);
  assert.match(await page.textContent('#spreads-table tr[data-spread="2s10s"] td.bp'), /^-?\d+\.\d$/);
  await page.waitForSelector('#sources .source[data-source="rates"][data-state="live"]');
  // The Schwab client, against the built-in simulator, through the real client path.
  await page.waitForSelector('#sources .source[data-source="schwab"][data-state="live"]', { timeout: 15000 });

  // A bot publishes a signal: it appears on the tape without a reload.
  const r = await fetch(`${base}/api/publish/signal`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ signal_type: 'BUY', symbol: 'NVDA', price: 187.25, confidence: 0.91 }),
  });
  assert.equal(r.status, 202, await r.text());
  await page.waitForFunction(() => [...document.querySelectorAll('#signals-table tr[data-signal]')].some((tr) => tr.textContent.includes('NVDA')), null, { timeout: 5000 });
  const row = await page.$eval('#signals-table tr[data-signal]', (tr) => tr.textContent);
  assert.match(row, /NVDA.*BUY.*187\.25.*0\.91/, `newest first, all fields: ${row}`);

  // Trades' quantities read like the positions: a notional in millions, a share count as it is (it printed
  // `75000000.0` before).
  for (const [symbol, quantity] of [['UST 10Y', 75000000], ['SPY', 1500]]) {
    const tr = await fetch(`${base}/api/publish/trade`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ symbol, side: 'SELL', quantity, price: 99.5 }),
    });
    assert.equal(tr.status, 202, await tr.text());
  }
  const qty = (symbol) => page.waitForFunction((s) => {
    const tr = [...document.querySelectorAll('#trades-table tr[data-trade]')].find((r) => r.cells[1].textContent === s);
    return tr ? tr.cells[3].textContent : null;
  }, symbol, { timeout: 5000 }).then((h) => h.jsonValue());
  assert.equal(await qty('UST 10Y'), '75.0mm');
  assert.equal(await qty('SPY'), '1,500');
  // The rates desk's own tickets too: every quantity on the tape is in millions or a plain count, never `.0`.
  const quantities = await page.$$eval('#trades-table tr[data-trade] td:nth-child(4)', (tds) => tds.map((td) => td.textContent));
  for (const q of quantities) assert.match(q, /^(-?\d+\.\dmm|[\d,]+)$/, `quantity ${q}`);
  await screenshot(page, 'rates-blotter');
  await page.setViewportSize({ width: 640, height: 900 });
  await screenshot(page, 'rates-blotter-narrow');
  assert.equal(await page.getAttribute('#conn-state', 'data-state'), 'live');
  assert.deepEqual(errors, []);
});

test('polling REST, the chain gets its expiries, and a topic the relay lacks does not stop the poll', async (t) => {
  const { page, errors } = await openDesk(t, ['--rates-tick-ms', '200', '--max-connections', '0'],
    { path: '/#chain', state: 'polling' });
  // The relay's start symbol: its expiries and its nearest chain, over REST.
  await page.click('#underlyings button[data-symbol="SPY"]');
  await page.waitForFunction(() => document.querySelectorAll('#expiries button[data-date]').length >= 3, null, { timeout: 10000 });
  await page.waitForSelector('#expiries button[aria-pressed="true"]');
  await page.waitForFunction(() => document.querySelectorAll('#chain-table tbody tr[data-strike]').length > 0, null, { timeout: 10000 });
  // An underlying the relay has never loaded (only a websocket subscription can make it): its topics do not
  // exist. Before, that failed every poll (404 for the whole request) and the whole desk froze.
  await page.fill('#symbols', 'SPY, NVDA');
  await page.press('#symbols', 'Enter');
  await page.click('#underlyings button[data-symbol="NVDA"]');
  const yields = () => page.$$eval('#curve-table td.yield', (tds) => tds.map((td) => td.textContent).join());
  await page.waitForFunction(() => document.querySelectorAll('#curve-table td.yield').length === 11);
  for (let i = 0; i < 2; i++) {
    const before = await yields();
    await page.waitForFunction((f) => [...document.querySelectorAll('#curve-table td.yield')].map((td) => td.textContent).join() !== f, before, { timeout: 10000 });
  }
  assert.equal(await page.getAttribute('#conn-state', 'data-state'), 'polling');
  assert.doesNotMatch(await page.textContent('#error-log'), /polling the relay failed/);
  // Back on SPY, its expiries and rows are still there and still polled.
  await page.click('#underlyings button[data-symbol="SPY"]');
  await page.waitForFunction(() => document.querySelectorAll('#expiries button[data-date]').length >= 3, null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelectorAll('#chain-table tbody tr[data-strike]').length > 0, null, { timeout: 10000 });
  await screenshot(page, 'rest-fallback-chain');
  assert.deepEqual(errors, []);
});

test('a panel whose data stops updating says stale', async (t) => {
  // The curve ticks only every 7 s: the curve panel (stale after 5 s) must say so between ticks.
  const { page } = await openDesk(t, ['--rates-tick-ms', '7000'], { path: '/#rates' });
  // Read in the same look as the stale flag: the next tick (every 7 s) may clear it right after.
  const text = await (await page.waitForFunction(() => {
    const age = document.querySelector('section[data-topic="curve"] .age');
    return age && age.dataset.stale === 'true' ? age.textContent : null;
  }, null, { timeout: 12000 })).jsonValue();
  assert.match(text, /stale: last update \d+ s ago/);
  await screenshot(page, 'panel-stale');
});

test('with the websocket refused, the desk polls the REST views, says so, and switches back when it works', async (t) => {
  // No websocket connection is ever accepted; HTTP works: like a proxy that blocks websockets.
  const desk = await openDesk(t, ['--rates-tick-ms', '200', '--max-connections', '0'], { path: '/#rates', state: 'polling' });
  const { page, errors } = desk;
  assert.match(await page.textContent('#conn-state'), /Polling REST/);
  await page.waitForFunction(() => document.querySelectorAll('#curve-table tr[data-tenor]').length === 11);
  // Polls keep coming (several, with the chain's on-demand topics watched meanwhile, which the relay does not have
  // without a websocket: they must not break the poll).
  const yields = () => page.$$eval('#curve-table td.yield', (tds) => tds.map((td) => td.textContent).join());
  for (let i = 0; i < 3; i++) {
    const before = await yields();
    await page.waitForFunction((f) => [...document.querySelectorAll('#curve-table td.yield')].map((td) => td.textContent).join() !== f, before, { timeout: 10000 });
  }
  assert.equal(await page.getAttribute('#conn-state', 'data-state'), 'polling');
  assert.match(await page.textContent('#error-log'), /polling the relay's REST views/);
  await screenshot(page, 'rest-fallback');

  // The proxy lets websockets through again (the relay comes back on the same port accepting them): the desk goes
  // live on the websocket it kept retrying behind the polls, without a reload, and says so.
  await page.evaluate(() => (window.__sameDocument = true));
  await desk.restartRelay(['--rates-tick-ms', '200']);
  await page.waitForSelector('#conn-state[data-state="live"]', { timeout: 25000 });
  assert.match(await page.textContent('#error-log'), /the websocket works again/);
  const before = await yields();
  await page.waitForFunction((f) => [...document.querySelectorAll('#curve-table td.yield')].map((td) => td.textContent).join() !== f, before, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no page reload');
  assert.deepEqual(errors, []);
});
