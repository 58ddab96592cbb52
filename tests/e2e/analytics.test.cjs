// The Analytics tab against a real relay and its simulator: GEX bars with the spot, zero-gamma and walls marked, the
// headline numbers equal to the relay's `analytics:` item, the term structure and the smile drawn, and the unusual
// activity list filling newest first (low thresholds, so it does within the test).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, screenshot } = require('./harness.cjs');

test('the Analytics tab draws the relay\'s analytics and lists unusual activity, live', async (t) => {
  const { page, base } = await openDesk(t, ['--seed', '11', '--symbols', 'SPY,AAPL',
    '--activity-ratio', '0.01', '--activity-min-volume', '20'], { path: '/#analytics', viewport: { width: 1400, height: 1100 } });
  assert.equal(await page.getAttribute('button[data-tab="analytics"]', 'aria-selected'), 'true');
  // Bars, and the spot marked on them.
  await page.waitForFunction(() => document.querySelectorAll('#gex-chart rect.bar').length > 5, null, { timeout: 20000 });
  await page.waitForSelector('#gex-chart line[data-mark="spot"]', { state: 'attached', timeout: 10000 });
  const marks = await page.$$eval('#gex-chart line[data-mark]', (ls) => ls.map((l) => l.dataset.mark));
  assert.ok(marks.includes('call-wall') && marks.includes('put-wall'), marks.join());
  // Both signs of exposure are drawn (calls up, puts down).
  assert.ok(await page.$('#gex-chart rect.bar.pos'));
  assert.ok(await page.$('#gex-chart rect.bar.neg'));
  // The headline numbers are the relay's: the selected expiry's item over REST, once both show the same moment.
  const underlying = await page.$eval('#analytics-underlying', (s) => s.value);
  const expiry = await page.$eval('#analytics-expiry', (s) => s.value);
  assert.match(expiry, /^\d{4}-\d{2}-\d{2}$/);
  let agreed = false;
  for (let i = 0; i < 50 && !agreed; i++) {
    const r = await (await fetch(`${base}/api/topic/${encodeURIComponent(`analytics:${underlying}`)}`)).json();
    const item = r.items[expiry];
    const shown = await page.$eval('[data-field="max_pain"] .value', (e) => e.textContent);
    const wall = await page.$eval('[data-field="call_wall"] .value', (e) => e.textContent);
    agreed = item && shown === String(item.max_pain) && wall === String(item.call_wall);
    if (!agreed) await page.waitForTimeout(100);
  }
  assert.ok(agreed, 'max pain and the call wall as the relay computes them');
  for (const f of ['spot', 'atm_iv', 'gex', 'pc_oi', 'expected_move']) {
    assert.notEqual(await page.$eval(`[data-field="${f}"] .value`, (e) => e.textContent), '—', f);
  }
  // The term structure has a point per held expiry, the smile a line.
  await page.waitForSelector('#term-chart circle.pt', { state: 'attached', timeout: 10000 });
  const smile = await page.$eval('#smile-chart polyline', (p) => p.getAttribute('points'));
  assert.ok(smile.split(' ').length > 5, smile);
  // A streamed expiry does not say "REST picture".
  assert.equal(await page.$eval('#analytics-rest', (e) => e.hidden), true);
  // Unusual activity: rows, newest first (ids are arrival order).
  await page.waitForFunction(() => document.querySelectorAll('#activity-table tbody tr').length >= 2, null, { timeout: 20000 });
  const ids = await page.$$eval('#activity-table tbody tr', (rs) => rs.map((r) => r.dataset.activity));
  assert.deepEqual(ids, [...ids].sort().reverse());
  // Live: the spot cell changes as the market moves.
  const before = await page.$eval('[data-field="gex"] .value', (e) => e.textContent);
  await page.waitForFunction((b) => document.querySelector('[data-field="gex"] .value').textContent !== b, before, { timeout: 20000 });
  await screenshot(page, 'analytics');
  // Switching the underlying follows in the tab.
  const other = underlying === 'SPY' ? 'AAPL' : 'SPY';
  await page.selectOption('#analytics-underlying', other);
  await page.waitForFunction((u) => {
    const s = document.querySelector('[data-field="spot"] .value');
    return s && s.textContent !== '—' && document.querySelector('#analytics-underlying').value === u;
  }, other, { timeout: 20000 });
  await page.waitForFunction(() => document.querySelectorAll('#gex-chart rect.bar').length > 5, null, { timeout: 20000 });
  await screenshot(page, 'analytics-' + other.toLowerCase());
});
