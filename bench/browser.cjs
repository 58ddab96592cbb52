// Browser benchmark (issue #7, figure 4): frames per second and tick-to-screen latency in headless Chromium while a
// ±20-strike chain (82 contracts, every column shown) receives the simulator's fastest stream.
//
//   node bench/browser.cjs [--quick] [--tick-ms MS] [--seconds S]
//
// Starts the release relay (TICKDESK_RELAY_BIN, default target/release/tickdesk-relay) on a loopback port serving
// dist/ (TICKDESK_DIST), with the built-in simulator ticking every --tick-ms (default 20). Opens the app with `?perf`,
// which makes it record, in `window.__tickdeskPerf`, the chain cell updates it receives and, for every chain item it
// writes, the time from the item's upstream timestamp to the first animation frame after the write (tick-to-screen).
// Frames are counted with requestAnimationFrame. Prints a summary, then one JSON line (the last line) for
// scripts/bench.sh: {"fps", "tick_to_screen_p50_ms", "tick_to_screen_p99_ms", "tick_to_screen_max_ms",
// "cell_updates_per_s", "rows", "cells", "seconds", "tick_ms"}.
'use strict';
const path = require('node:path');

const root = path.join(__dirname, '..');
process.env.TICKDESK_RELAY_BIN ||= path.join(root, 'target', 'release', 'tickdesk-relay');
const { openDesk, sleep } = require(path.join(root, 'tests', 'e2e', 'harness.cjs'));

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const quick = process.argv.includes('--quick');
const tickMs = arg('--tick-ms', 20);
const seconds = arg('--seconds', quick ? 8 : 30);
const WARMUP_MS = 3000;

function quantile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main() {
  const desk = await openDesk(null, ['--sim-tick-ms', String(tickMs), '--seed', '5', '--min-oi', '0'], { path: '/?perf#chain' });
  try {
    const { page, errors } = desk;
    await page.click('#underlyings button[data-symbol="SPY"]', { timeout: 20000 });
    await page.selectOption('#strike-window', '20');
    // Every column, so every field the relay sends lands in a visible cell.
    await page.click('#columns summary');
    for (const box of await page.$$('#columns input[type="checkbox"]')) {
      if (!(await box.isChecked())) await box.click();
    }
    await page.click('#columns summary');
    await page.waitForFunction(() => document.querySelectorAll('#chain-table tbody tr[data-strike]').length >= 41, null, { timeout: 20000 });
    await sleep(WARMUP_MS);
    // Where the main thread's time goes (Chromium's own counters), to explain the figures.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const m0 = await metrics();

    await page.evaluate(() => {
      const p = window.__tickdeskPerf;
      p.lat.length = 0;
      window.__bench = { fields0: p.fields, frames: 0, t0: performance.now(), stop: false };
      const loop = () => {
        if (window.__bench.stop) return;
        window.__bench.frames += 1;
        requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
    });
    await sleep(seconds * 1000);
    const r = await page.evaluate(() => {
      const b = window.__bench;
      b.stop = true;
      const p = window.__tickdeskPerf;
      return {
        elapsed_ms: performance.now() - b.t0,
        frames: b.frames,
        fields: p.fields - b.fields0,
        lat: Array.from(p.lat),
        rows: document.querySelectorAll('#chain-table tbody tr[data-strike]').length,
        cells: document.querySelectorAll('#chain-table tbody td[data-field]').length,
      };
    });
    const m1 = await metrics();
    const secs = r.elapsed_ms / 1000;
    const share = (k) => +((100 * (m1[k] - m0[k])) / secs).toFixed(1);
    const busy = { script: share('ScriptDuration'), style: share('RecalcStyleDuration'), layout: share('LayoutDuration'), task: share('TaskDuration') };
    const lat = r.lat.filter(Number.isFinite).sort((a, b) => a - b);
    const out = {
      fps: +(r.frames / secs).toFixed(1),
      tick_to_screen_p50_ms: quantile(lat, 0.5),
      tick_to_screen_p99_ms: quantile(lat, 0.99),
      tick_to_screen_max_ms: lat.length ? lat[lat.length - 1] : null,
      samples: lat.length,
      cell_updates_per_s: Math.round(r.fields / secs),
      rows: r.rows,
      cells: r.cells,
      seconds: +secs.toFixed(1),
      tick_ms: tickMs,
      page_errors: errors.length,
      main_thread_busy_pct: busy,
    };
    for (const k of ['tick_to_screen_p50_ms', 'tick_to_screen_p99_ms', 'tick_to_screen_max_ms']) {
      if (out[k] !== null) out[k] = +out[k].toFixed(1);
    }
    console.log(`chain: ${r.rows} strikes, ${r.cells} live cells, simulator tick ${tickMs} ms, measured ${out.seconds} s`);
    console.log(`received ${out.cell_updates_per_s} cell updates/s; ${out.fps} frames/s`);
    console.log(`tick-to-screen: p50 ${out.tick_to_screen_p50_ms} ms, p99 ${out.tick_to_screen_p99_ms} ms, max ${out.tick_to_screen_max_ms} ms (${out.samples} samples)`);
    console.log(`main thread busy: ${busy.task}% (script ${busy.script}%, style ${busy.style}%, layout ${busy.layout}%)`);
    if (errors.length) console.log(`page errors: ${errors.join('; ')}`);
    console.log(JSON.stringify(out));
  } finally {
    await desk.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
