// Crypto from Binance (here its built-in simulator, as on any machine that cannot reach Binance): the crypto panel
// ticks sub-second, a symbol opens its chart, a symbol that stops trading shows stale on its own row, and the header
// chip follows the source's state (simulated → polling REST when websockets are refused → back).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, screenshot } = require('./harness.cjs');

/** The desk on the chain tab (the crypto panel beside it), live, with the simulators' seed fixed. */
const cryptoDesk = (t, extra = []) =>
  openDesk(t, ['--seed', '5', ...extra], { path: '/#chain', viewport: { width: 1400, height: 900 } });

/** The relay's binance status, over REST. */
async function binanceStatus(base) {
  const status = await (await fetch(`${base}/api/status`)).json();
  return (status.items || status).binance;
}

/** The built-in simulator's HTTP base, from the stream base the status names (one port serves both). */
async function simBase(base) {
  const s = await binanceStatus(base);
  assert.match(s.endpoint, /^ws:\/\/127\.0\.0\.1:\d+/, JSON.stringify(s));
  return s.endpoint.replace(/^ws:/, 'http:').replace(/\/$/, '');
}

const chip = '#sources .source[data-source="binance"]';
const row = (sym) => `#crypto-table tr[data-crypto="${sym}"]`;

test('crypto prices tick sub-second beside the desk, and a symbol opens its chart', async (t) => {
  // On a Saturday: the stock market is closed, crypto is not.
  const { page } = await cryptoDesk(t, ['--sim-start', '2026-12-05T12:00-05:00']);
  await page.waitForSelector(`${chip}[data-state="simulated"]`, { timeout: 20000 });
  assert.match(await page.textContent(chip), /binance: simulated/);
  for (const sym of ['BTCUSDT', 'ETHUSDT', 'SOLUSDT']) {
    await page.waitForSelector(`${row(sym)} td.last`, { timeout: 20000 });
  }
  await page.waitForFunction((sel) => /\d/.test(document.querySelector(sel)?.textContent || ''), `${row('BTCUSDT')} td.last`);
  // Sample BTCUSDT's last price every 50 ms for 4 s: it must change more often than once a second.
  const seen = await page.evaluate(async (sel) => {
    const out = [];
    for (let i = 0; i < 80; i++) {
      out.push(document.querySelector(sel).textContent);
      await new Promise((r) => setTimeout(r, 50));
    }
    return out;
  }, `${row('BTCUSDT')} td.last`);
  const changes = seen.filter((v, i) => i > 0 && v !== seen[i - 1]).length;
  assert.ok(changes >= 5, `BTCUSDT's last changed ${changes} times in 4 s: ${seen.join(' ')}`);
  // The row carries bid < ask and a 24 h change with a sign; nothing is stale.
  const num = async (sym, f) => Number((await page.textContent(`${row(sym)} td.${f}`)).replace(/[,+%]/g, ''));
  assert.ok((await num('BTCUSDT', 'bid')) <= (await num('BTCUSDT', 'ask')));
  assert.match(await page.textContent(`${row('ETHUSDT')} td.change_pct`), /^[+-]\d+\.\d\d%$/);
  assert.equal(await page.getAttribute(row('SOLUSDT'), 'data-stale'), 'false');
  await screenshot(page, 'crypto-panel');
  // A click on the symbol opens the Chart tab on its bars.
  await page.click(`${row('ETHUSDT')} button.link`);
  await page.waitForFunction(() => location.hash === '#chart');
  await page.waitForFunction(() => {
    const c = window.__tickdesk && window.__tickdesk.chart;
    return c && c.symbol === 'ETHUSDT' && c.bars > 10 && c.last;
  }, null, { timeout: 20000 });
  assert.equal(await page.$eval('#chart-underlying', (s) => s.value), 'ETHUSDT');
  // The stock market's close says nothing about a crypto pair: its chart is live, not "as of the close".
  const chartPanel = 'section.panel[data-topic="bars:ETHUSDT"]';
  await page.waitForSelector(chartPanel);
  assert.equal(await page.getAttribute(chartPanel, 'data-closed'), 'false');
  assert.doesNotMatch(await page.textContent(`${chartPanel} h2 .age`), /close/);
  // The chart's last candle is the relay's last crypto bar, moving live.
  const first = await page.evaluate(() => ({ ...window.__tickdesk.chart.last }));
  await page.waitForFunction((c0) => {
    const l = window.__tickdesk.chart.last;
    return l.t > c0.t || l.c !== c0.c || l.v !== c0.v;
  }, first, { timeout: 20000 });
  await screenshot(page, 'crypto-chart');
  // Back to the chain: the chain's underlying is not a crypto symbol.
  await page.goBack();
  await page.waitForFunction(() => location.hash === '#chain');
  const chainTopic = await page.getAttribute('section.panel[data-topic^="chain:"]', 'data-topic');
  assert.ok(chainTopic && !/USDT/.test(chainTopic), `the chain kept its underlying: ${chainTopic}`);
});

test('a symbol that stops trading shows stale alone; the chip follows the source into REST polling and back', async (t) => {
  const { page, base } = await cryptoDesk(t, ['--binance-stale-ms', '1000', '--binance-backoff-max-ms', '1000']);
  await page.waitForSelector(`${chip}[data-state="simulated"]`, { timeout: 20000 });
  await page.waitForSelector(`${row('SOLUSDT')}[data-stale="false"]`, { timeout: 20000 });
  const sim = await simBase(base);
  let r = await fetch(`${sim}/sim/faults/quiet?symbol=SOLUSDT`, { method: 'POST' });
  assert.equal(r.status, 200);
  await page.waitForSelector(`${row('SOLUSDT')}[data-stale="true"] .stale-badge:not([hidden])`, { timeout: 20000 });
  assert.equal(await page.getAttribute(row('BTCUSDT'), 'data-stale'), 'false');
  await screenshot(page, 'crypto-stale');
  await fetch(`${sim}/sim/faults/quiet?symbol=SOLUSDT&off=true`, { method: 'POST' });
  await page.waitForSelector(`${row('SOLUSDT')}[data-stale="false"]`, { timeout: 20000 });
  // Websockets refused (a proxy), the stream dropped: the relay polls Binance's REST tickers and says so.
  r = await fetch(`${sim}/sim/faults/refuse-ws?status=403`, { method: 'POST' });
  assert.equal(r.status, 200);
  await fetch(`${sim}/sim/faults/drop`, { method: 'POST' });
  await page.waitForSelector(`${chip}[data-state="polling REST"]`, { timeout: 20000 });
  assert.match(await page.textContent(chip), /binance: polling REST/);
  // Prices still move while polling (every 2 s).
  const before = await page.textContent(`${row('BTCUSDT')} td.last`);
  await page.waitForFunction(([sel, b]) => document.querySelector(sel).textContent !== b, [`${row('BTCUSDT')} td.last`, before], { timeout: 20000 });
  await screenshot(page, 'crypto-polling');
  // Allowed again: back on the stream.
  await fetch(`${sim}/sim/faults/refuse-ws?off=true`, { method: 'POST' });
  await page.waitForSelector(`${chip}[data-state="simulated"]`, { timeout: 30000 });
});
