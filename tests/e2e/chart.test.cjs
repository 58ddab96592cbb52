// The Chart tab and the Indicators panel against a real relay and its simulator's `bars:` topics. The test reads the
// same bars over the relay's REST view (`GET /api/topic/bars:SYMBOL`) and checks what the app drew against them:
// the chart publishes what it drew in `window.__tickdesk.chart` (the last bar, the bar under the crosshair, where
// the last candle is), the panel its unrounded values in `window.__tickdesk.indicators`, and the test recomputes
// those values in JS with the indicators crate's formulas (StockCharts conventions).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, screenshot } = require('./harness.cjs');

const MIN = 60000;

/** The relay's bars of `symbol`, in time order. */
async function restBars(base, symbol) {
  const r = await fetch(`${base}/api/topic/${encodeURIComponent(`bars:${symbol}`)}`);
  // A topic nobody watches is gone (404); anything else that is not 200 is a failure, not "no bars".
  if (r.status === 404) return [];
  assert.equal(r.status, 200, `bars:${symbol}`);
  const body = await r.json();
  return Object.keys(body.items || {}).sort().map((k) => body.items[k]);
}

/** 1-minute bars aggregated to `minutes` (buckets floored in UTC ms), as the Aggregator does. */
function aggregate(bars, minutes) {
  const ms = minutes * MIN;
  const out = [];
  for (const b of bars) {
    const t = Math.floor(b.t / ms) * ms;
    const a = out[out.length - 1];
    if (a && a.t === t) {
      a.h = Math.max(a.h, b.h);
      a.l = Math.min(a.l, b.l);
      a.c = b.c;
      a.v += b.v;
    } else out.push({ t, o: b.o, h: b.h, l: b.l, c: b.c, v: b.v });
  }
  return out;
}

/** EMA of `n` seeded with the SMA of the first `n` values (StockCharts); null before. */
function ema(values, n) {
  const out = values.map(() => null);
  if (values.length < n) return out;
  let e = values.slice(0, n).reduce((a, b) => a + b, 0) / n;
  out[n - 1] = e;
  const k = 2 / (n + 1);
  for (let i = n; i < values.length; i++) out[i] = e = (values[i] - e) * k + e;
  return out;
}

/** The last bar's readings, as the panel shows them: RSI 14 (Wilder), MACD 12/26/9 histogram, distance to the
 * session's VWAP (typical price; a session starts after a gap of more than 2 hours), Bollinger 20/2 %b (population
 * standard deviation), ATR 14 (Wilder, seeded with the mean of the first 14 true ranges). */
function readings(bars) {
  const c = bars.map((b) => b.c);
  const n = c.length;
  const last = bars[n - 1];
  // RSI: averages seeded with the simple mean of the first 14 changes, then Wilder smoothing.
  let rsi = null;
  if (n > 14) {
    let g = 0;
    let l = 0;
    for (let i = 1; i <= 14; i++) {
      const d = c[i] - c[i - 1];
      g += Math.max(d, 0);
      l += Math.max(-d, 0);
    }
    g /= 14;
    l /= 14;
    for (let i = 15; i < n; i++) {
      const d = c[i] - c[i - 1];
      g = (g * 13 + Math.max(d, 0)) / 14;
      l = (l * 13 + Math.max(-d, 0)) / 14;
    }
    rsi = l === 0 ? (g === 0 ? 50 : 100) : 100 - 100 / (1 + g / l);
  }
  const e12 = ema(c, 12);
  const e26 = ema(c, 26);
  const macd = c.map((_, i) => (e26[i] === null ? null : e12[i] - e26[i])).filter((x) => x !== null);
  const sig = ema(macd, 9);
  const hist = macd.length && sig[sig.length - 1] !== null ? macd[macd.length - 1] - sig[sig.length - 1] : null;
  let pctB = null;
  if (n >= 20) {
    const w = c.slice(n - 20);
    const m = w.reduce((a, b) => a + b, 0) / 20;
    const sd = Math.sqrt(w.reduce((a, x) => a + (x - m) ** 2, 0) / 20);
    // A flat window (width below rounding noise) has no %b, as in the crate.
    pctB = 2 * sd > Math.abs(m) * 1e-12 ? (last.c - (m - 2 * sd)) / (4 * sd) : null;
  }
  let atr = null;
  if (n >= 14) {
    const tr = bars.map((b, i) => (i === 0 ? b.h - b.l
      : Math.max(b.h - b.l, Math.abs(b.h - bars[i - 1].c), Math.abs(b.l - bars[i - 1].c))));
    atr = tr.slice(0, 14).reduce((a, b) => a + b, 0) / 14;
    for (let i = 14; i < n; i++) atr = (atr * 13 + tr[i]) / 14;
  }
  let pv = 0;
  let vv = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0 && bars[i].t - bars[i - 1].t > 2 * 3600000) pv = vv = 0;
    pv += ((bars[i].h + bars[i].l + bars[i].c) / 3) * bars[i].v;
    vv += bars[i].v;
  }
  const vwap = vv > 0 ? pv / vv : null;
  return { t: last.t, last: last.c, rsi, macd_hist: hist, vwap_dist_pct: vwap ? ((last.c - vwap) / vwap) * 100 : null, pct_b: pctB, atr };
}

function close(a, b, what) {
  if (a === null || b === null) return assert.equal(a, b, what);
  assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${what}: app ${a}, expected ${b}`);
}

/** Polls `f` (async, returns a value or throws) until it stops throwing, for up to `ms`; rethrows the last error. */
async function eventually(page, ms, f) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await page.waitForTimeout(150);
    }
  }
}

const chart = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__tickdesk.chart)));

test('the Chart tab draws the relay\'s bars live, reads out the bar under the crosshair, switches timeframe and overlays; the Indicators panel equals the formulas; tabs follow back/forward', async (t) => {
  const { page, errors, base } = await openDesk(t, ['--seed', '3', '--symbols', 'SPY,AAPL'],
    { path: '/#chain', viewport: { width: 1400, height: 1300 } });

  // The tab, by its button: the hash follows, and the chart shows the chain's underlying (one selection).
  await page.click('button[data-tab="chart"]');
  await page.waitForURL(/#chart$/);
  await page.waitForSelector('#chart-tab:not([hidden])');
  await page.selectOption('#chart-underlying', 'AAPL');
  await page.waitForFunction(() => {
    const c = window.__tickdesk && window.__tickdesk.chart;
    return c && c.symbol === 'AAPL' && c.bars > 30;
  }, null, { timeout: 30000 });
  assert.equal(await page.$eval('#underlyings button[data-symbol="AAPL"]', (b) => b.getAttribute('aria-pressed')), 'true',
    'the chain selects what the chart shows');

  // The chart's bars are the relay's: the same count and the same last bar, at one moment.
  await eventually(page, 20000, async () => {
    const [c, rest] = [await chart(page), await restBars(base, 'AAPL')];
    assert.equal(c.bars, rest.length, 'one candle per bar');
    assert.deepEqual(c.last && { t: c.last.t, o: c.last.o, h: c.last.h, l: c.last.l, c: c.last.c, v: c.last.v }, rest[rest.length - 1]);
  });
  await screenshot(page, 'chart-aapl-1m');

  // The last candle moves live.
  const before = (await chart(page)).last;
  await page.waitForFunction((b) => {
    const l = window.__tickdesk.chart.last;
    return l.t !== b.t || l.c !== b.c || l.v !== b.v;
  }, before, { timeout: 30000 });

  // The crosshair on the 6th bar from the end: the readout is that bar, as the relay has it, with its indicators.
  const canvas = await page.$('#chart-canvas');
  const box = await canvas.boundingBox();
  await eventually(page, 20000, async () => {
    const c = await chart(page);
    await page.mouse.move(box.x + c.lastX - 5 * c.slot, box.y + 100);
    // The readout is the live bar until the pointer is over another one.
    await page.waitForFunction(() => {
      const k = window.__tickdesk.chart;
      return k.readout && k.last && k.readout.t !== k.last.t;
    }, null, { timeout: 5000 });
    const r = (await chart(page)).readout;
    const rest = await restBars(base, 'AAPL');
    assert.equal(rest.length, c.bars);
    const want = rest[rest.length - 6];
    assert.deepEqual({ t: r.t, o: r.o, h: r.h, l: r.l, c: r.c, v: r.v }, want);
    const text = await page.$eval('#chart-readout', (e) => e.textContent);
    const shownC = Number((text.match(/ C (\S+)/) || [])[1]);
    assert.ok(Math.abs(shownC - want.c) <= 0.0051, `readout close ${shownC} for ${want.c}: ${text}`);
    const calc = readings(rest.slice(0, rest.length - 5));
    close(r.rsi, calc.rsi, 'readout RSI');
    close(r.atr, calc.atr, 'readout ATR');
  });
  await screenshot(page, 'chart-aapl-crosshair');
  await page.mouse.move(box.x + box.width / 2, box.y - 60); // off the canvas: the readout follows the live bar again
  await page.waitForFunction(() => {
    const k = window.__tickdesk.chart;
    return k.readout && k.last && k.readout.t === k.last.t;
  }, null, { timeout: 5000 });

  // Zoom out with the wheel: more bars in view; a double click goes back to the live edge at the opening zoom.
  const span0 = (await chart(page)).span;
  await page.mouse.move(box.x + box.width / 2, box.y + 200);
  for (let i = 0; i < 5; i++) await page.mouse.wheel(0, 300);
  await page.waitForFunction((s) => window.__tickdesk.chart.span > s, span0, { timeout: 5000 });
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 200, box.y + 200, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => window.__tickdesk.chart.following === false, null, { timeout: 5000 });
  await page.mouse.dblclick(box.x + box.width / 2, box.y + 200);
  await page.waitForFunction((s) => window.__tickdesk.chart.following && window.__tickdesk.chart.span === s, span0, { timeout: 5000 });

  // Timeframe 5m: buckets of 5 minutes, the last one summing its minutes.
  await page.selectOption('#chart-tf', '5m');
  await eventually(page, 20000, async () => {
    const c = await chart(page);
    assert.equal(c.tf, '5m');
    const agg = aggregate(await restBars(base, 'AAPL'), 5);
    assert.equal(c.bars, agg.length);
    assert.deepEqual({ t: c.last.t, o: c.last.o, h: c.last.h, l: c.last.l, c: c.last.c, v: c.last.v }, agg[agg.length - 1]);
  });

  // Overlays: Bollinger on, VWAP off.
  assert.equal((await chart(page)).overlays, 'vwap,ema');
  await page.click('input[data-overlay="bb"]');
  await page.click('input[data-overlay="vwap"]');
  await page.waitForFunction(() => window.__tickdesk.chart.overlays === 'ema,bb', null, { timeout: 5000 });
  await screenshot(page, 'chart-aapl-5m-bollinger');

  // The Indicators panel: a row per start symbol and timeframe, equal to the formulas on the relay's bars.
  for (const sym of ['SPY', 'AAPL']) {
    await eventually(page, 20000, async () => {
      const shown = await page.evaluate((s) => JSON.parse(JSON.stringify(window.__tickdesk.indicators[s] || null)), sym);
      assert.ok(shown, `${sym} in the panel`);
      const rest = await restBars(base, sym);
      for (const [tf, m] of [['1m', 1], ['5m', 5], ['15m', 15]]) {
        const want = readings(aggregate(rest, m));
        const got = shown[tf];
        assert.ok(got, `${sym} ${tf}`);
        assert.equal(got.t, want.t, `${sym} ${tf}: same bar`);
        for (const k of ['last', 'rsi', 'macd_hist', 'vwap_dist_pct', 'pct_b', 'atr']) close(got[k], want[k], `${sym} ${tf} ${k}`);
        // Two sessions of minutes are plenty: at 1m nothing is still warming up (a null would pass `close` above).
        if (tf === '1m') for (const k of ['rsi', 'macd_hist', 'pct_b', 'atr']) assert.notEqual(got[k], null, `${sym} 1m ${k}`);
      }
    });
  }
  // Rounded for the eye, coloured by threshold.
  const cells = await page.$$eval('#indicators-table td[data-field="rsi"]', (tds) => tds.map((td) => ({ text: td.textContent, cls: td.className })));
  assert.equal(cells.length, 6, 'two symbols x three timeframes');
  assert.ok(cells.some(({ text }) => !Number.isNaN(Number(text))), `some RSI shown: ${JSON.stringify(cells)}`);
  for (const { text, cls } of cells) {
    const v = Number(text);
    if (Number.isNaN(v)) continue;
    assert.equal(cls.includes('hot'), v > 70, `${text} ${cls}`);
    assert.equal(cls.includes('cold'), v < 30, `${text} ${cls}`);
  }
  const hist = await page.$$eval('#indicators-table td[data-field="macd_hist"]', (tds) => tds.map((td) => ({ text: td.textContent, cls: td.className })));
  for (const { text, cls } of hist) {
    const v = Number(text);
    if (!Number.isNaN(v) && v !== 0) assert.ok(cls.includes(v > 0 ? 'pos' : 'neg'), `${text} ${cls}`);
  }
  await screenshot(page, 'chart-indicators');

  // Another underlying on the chain moves the chart too.
  await page.click('button[data-tab="chain"]');
  await page.click('#underlyings button[data-symbol="SPY"]');
  await page.goBack(); // back to #chart
  await page.waitForSelector('#chart-tab:not([hidden])');
  assert.equal(await page.getAttribute('button[data-tab="chart"]', 'aria-selected'), 'true');
  await page.waitForFunction(() => window.__tickdesk.chart.symbol === 'SPY' && window.__tickdesk.chart.bars > 0, null, { timeout: 20000 });

  // Back and forward through the tabs' history.
  await page.click('button[data-tab="rates"]');
  await page.waitForSelector('#rates-tab:not([hidden])');
  // Bars are watched only while the tab is open: away from it, the relay empties the topics nobody watches.
  await eventually(page, 20000, async () => {
    for (const sym of ['SPY', 'AAPL']) assert.equal((await restBars(base, sym)).length, 0, `bars:${sym} unwatched`);
  });
  await page.goBack();
  await page.waitForSelector('#chart-tab:not([hidden])');
  await page.goBack();
  await page.waitForSelector('#chart-tab:not([hidden])', { state: 'hidden' });
  await page.waitForSelector('#chain-tab:not([hidden])');
  assert.equal(await page.getAttribute('button[data-tab="chain"]', 'aria-selected'), 'true');
  await page.goForward();
  await page.waitForSelector('#chart-tab:not([hidden])');
  await page.goForward();
  await page.waitForSelector('#rates-tab:not([hidden])');
  assert.equal(new URL(page.url()).hash, '#rates');
  assert.deepEqual(errors, []);
});
