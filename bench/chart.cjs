// Browser benchmark of the Chart tab: the time of one chart draw and the frame rate in headless Chromium with about
// 1,000 candles in view and the last one moving live.
//
//   node bench/chart.cjs [--seconds S] [--tick-ms MS] [--synthetic N]
//
// Starts the relay (TICKDESK_RELAY_BIN, default target/release/tickdesk-relay) serving dist/ (TICKDESK_DIST) with
// the built-in simulator ticking every --tick-ms (default 50), opens `/?perf#chart` on AAPL and zooms out with the
// wheel until at least 1,000 bars are in view. With `?perf` the chart records each draw's duration (the JS time to
// sync the series and issue the canvas calls) in `window.__tickdeskPerf.chartDraw`; frames are counted with
// requestAnimationFrame. `--synthetic N` instead feeds the page N synthetic bars whose last one changes every 16 ms
// (the websocket's `bars:` frames are replaced in the page, the rest still comes from the relay): a worst case that
// does not depend on the simulator's pace. Prints a summary, then one JSON line: {"draw_p50_ms", "draw_p95_ms",
// "draw_max_ms", "draws_per_s", "fps", "bars_in_view", "bars", "seconds"}.
'use strict';
const path = require('node:path');

const root = path.join(__dirname, '..');
process.env.TICKDESK_RELAY_BIN ||= path.join(root, 'target', 'release', 'tickdesk-relay');
const { openDesk, sleep } = require(path.join(root, 'tests', 'e2e', 'harness.cjs'));

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const seconds = arg('--seconds', 15);
const tickMs = arg('--tick-ms', 50);
const synthetic = arg('--synthetic', 0);

function quantile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
}

/** Replaces the page's `bars:` subscriptions by `n` synthetic bars, the last one changing every 16 ms. */
async function injectBars(page, n) {
  await page.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      const msg = JSON.parse(m);
      if (msg.type !== 'subscribe' && msg.type !== 'unsubscribe') return server.send(m);
      const rest = msg.topics.filter((t) => !t.startsWith('bars:'));
      if (rest.length) server.send(JSON.stringify({ ...msg, topics: rest }));
      if (msg.type !== 'subscribe') return;
      for (const topic of msg.topics.filter((t) => t.startsWith('bars:'))) {
        const t0 = Math.floor(Date.now() / 60000) * 60000 - (n - 1) * 60000;
        const items = {};
        let p = 200;
        for (let i = 0; i < n; i++) {
          const c = p + Math.sin(i / 7) * 0.4 + (i % 5) * 0.02;
          items[String(t0 + i * 60000)] = { t: t0 + i * 60000, o: p, h: Math.max(p, c) + 0.1, l: Math.min(p, c) - 0.1, c, v: 1000 + (i % 13) * 300 };
          p = c;
        }
        let seq = 1;
        ws.send(JSON.stringify({ type: 'snapshot', topic, epoch: 'bench', seq, recovered: false, items }));
        const last = { ...items[String(t0 + (n - 1) * 60000)] };
        const timer = setInterval(() => {
          last.c += (Math.random() - 0.5) * 0.05;
          last.h = Math.max(last.h, last.c);
          last.l = Math.min(last.l, last.c);
          last.v += 10;
          ws.send(JSON.stringify({ type: 'deltas', updates: [{ topic, epoch: 'bench', prev: seq, seq: seq + 1, set: { [String(last.t)]: last } }] }));
          seq += 1;
        }, 16);
        ws.onClose(() => clearInterval(timer));
      }
    });
    server.onMessage((m) => ws.send(m));
  });
}

async function main() {
  const desk = await openDesk(null, ['--sim-tick-ms', String(tickMs), '--seed', '5', '--symbols', 'SPY,AAPL'], {
    path: '/?perf#chart',
    viewport: { width: 1600, height: 1000 },
    beforeGoto: synthetic ? (page) => injectBars(page, synthetic) : undefined,
  });
  try {
    const { page, errors } = desk;
    await page.selectOption('#chart-underlying', 'AAPL');
    await page.waitForFunction(() => window.__tickdesk.chart.symbol === 'AAPL' && window.__tickdesk.chart.bars >= 1000, null, { timeout: 60000 });
    const box = await (await page.$('#chart-canvas')).boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    while ((await page.evaluate(() => window.__tickdesk.chart.span)) < 1000) {
      await page.mouse.wheel(0, 300);
      await sleep(30);
    }
    // The pointer off the chart, so the readout follows the live bar and nothing but data asks for frames.
    await page.mouse.move(box.x + box.width / 2, box.y - 80);
    await sleep(1000);
    const result = await page.evaluate(async (ms) => {
      const perf = window.__tickdeskPerf;
      perf.chartDraw.length = 0;
      let frames = 0;
      let running = true;
      const count = () => {
        frames += 1;
        if (running) requestAnimationFrame(count);
      };
      requestAnimationFrame(count);
      await new Promise((r) => setTimeout(r, ms));
      running = false;
      const c = window.__tickdesk.chart;
      return { draws: perf.chartDraw.slice(), frames, span: c.span, bars: c.bars };
    }, seconds * 1000);
    const draws = result.draws.slice().sort((a, b) => a - b);
    const out = {
      draw_p50_ms: quantile(draws, 0.5),
      draw_p95_ms: quantile(draws, 0.95),
      draw_max_ms: draws[draws.length - 1] ?? null,
      draws_per_s: result.draws.length / seconds,
      fps: result.frames / seconds,
      bars_in_view: Math.min(result.bars, Math.round(result.span)),
      bars: result.bars,
      seconds,
    };
    console.log(`chart: ${out.bars} bars, ${out.bars_in_view} in view; ${out.draws_per_s.toFixed(1)} draws/s at ${out.fps.toFixed(1)} fps; draw p50 ${out.draw_p50_ms?.toFixed(2)} ms, p95 ${out.draw_p95_ms?.toFixed(2)} ms, max ${out.draw_max_ms?.toFixed(2)} ms`);
    if (errors.length) console.log('page errors:', errors);
    console.log(JSON.stringify(out));
  } finally {
    await desk.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
