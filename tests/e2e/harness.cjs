// Fixtures for the browser tests: a real relay process on a loopback port the kernel picks (it logs the address it
// bound), Debian's Chromium driven by playwright-core (which never downloads a browser of its own), and `openDesk`,
// which puts the two together the way nearly every test starts.
'use strict';
const { spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const fs = require('node:fs');
const { chromium } = require(path.join(__dirname, '..', '..', 'tools', 'node_modules', 'playwright-core'));

const root = path.join(__dirname, '..', '..');
const RELAY_BIN = process.env.TICKDESK_RELAY_BIN || path.join(root, 'target', 'debug', 'tickdesk-relay');
const DIST = process.env.TICKDESK_DIST || path.join(root, 'dist');
const OUT = path.join(root, 'test-output');
const CHROMIUM = process.env.TICKDESK_CHROMIUM || '/usr/bin/chromium';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The market moment every browser test runs at unless it asks for another: a Wednesday's regular session, so the
 * suite does not depend on when it runs (the simulator and the relay share this clock). */
const IN_SESSION = '2026-12-02T10:15-05:00';

/** `s` without its terminal colour codes (the relay's tracing output is coloured even into a pipe). */
const plain = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

/** The line the relay logs once its listener is bound and it is about to serve (relay/src/server.rs). */
const LISTENING = /tickdesk relay listening on http:\/\/([^/\s]+)\//;

/** The end of a relay's log, for error messages: the last `n` lines, from its error or panic on if that is earlier
 * (a backtrace, with RUST_BACKTRACE set, would push the reason out of a plain tail). */
function logTail(child, n = 40) {
  const lines = plain(child.logs).trimEnd().split('\n');
  let from = Math.max(0, lines.length - n);
  const why = lines.findLastIndex((l) => /^Error: |panicked at /.test(l));
  if (why >= 0) from = Math.max(Math.min(from, why), lines.length - 200);
  return lines.slice(from).join('\n');
}

/**
 * Starts the relay and waits until it logs the address it bound. It listens on `listen` (default `127.0.0.1:0`: the
 * kernel picks a free port, so no two relays ever race for one); `extraArgs` go after the harness's defaults
 * (`--static-dir dist/`, `--sim-start` in a session, `--binance sim`, each unless given). Returns the child process
 * with `logs` (everything it printed, as printed), `addr` (`127.0.0.1:PORT`), `port` and `base` (`http://addr`).
 */
async function startRelay(extraArgs = [], { listen = '127.0.0.1:0', timeoutMs = 15000 } = {}) {
  const dir = extraArgs.includes('--static-dir') ? [] : ['--static-dir', DIST];
  const clock = extraArgs.includes('--sim-start') ? [] : ['--sim-start', IN_SESSION];
  // Browser tests never reach the internet: Binance is the built-in simulator unless a test asks otherwise.
  const binance = extraArgs.includes('--binance') ? [] : ['--binance', 'sim'];
  const args = ['--listen', listen, ...dir, ...clock, ...binance, ...extraArgs];
  const child = spawn(RELAY_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'info' } });
  child.logs = '';
  const addr = await new Promise((resolve, reject) => {
    const fail = (why) => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`relay (${RELAY_BIN} ${args.join(' ')}) ${why}; the end of its log:\n${logTail(child)}`));
    };
    let listening = false;
    const onData = (d) => {
      child.logs += d; // kept for the whole run: tests read the log
      if (listening) return;
      const m = plain(child.logs).match(LISTENING);
      if (m) {
        listening = true;
        cleanup();
        resolve(m[1]);
      }
    };
    // 'close', not 'exit': by then both pipes are drained, so the log tail in the error is complete.
    const onClose = (code, signal) => fail(`exited (${signal || code}) before it was listening`);
    const onError = (e) => fail(`could not be started: ${e.message}`);
    const timer = setTimeout(() => fail(`did not say it was listening within ${timeoutMs} ms`), timeoutMs);
    const cleanup = () => {
      listening = true;
      clearTimeout(timer);
      child.off('close', onClose);
      child.off('error', onError);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('close', onClose);
    child.once('error', onError);
  });
  child.addr = addr;
  child.port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  child.base = `http://${addr}`;
  return child;
}

/** The HTTP base of the relay's built-in Schwab simulator (its `/sim/...` controls), from the relay's log. */
function schwabSim(relay) {
  const m = plain(relay.logs).match(/built-in Schwab simulator api=(http:\/\/[^\s/]+)/);
  if (!m) throw new Error(`no built-in Schwab simulator in the relay's log:\n${logTail(relay)}`);
  return m[1];
}

/** Stops the relay with `signal` and waits until it is gone; a relay already gone (exited, or killed by a signal:
 * `exitCode` is then null, `signalCode` set) is left alone. */
async function stopRelay(child, signal = 'SIGKILL') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await done;
}

async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

async function screenshot(page, name) {
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}

/**
 * The desk in a browser: starts a relay (`args`: extra relay arguments, as for startRelay), launches Chromium, opens
 * a page on the relay's desk and, unless `opts.state` is null, waits until the connection indicator says
 * `opts.state` (default `live`). With a test context `t`, everything is stopped after the test (`t.after`); else
 * the caller calls `close()`. Options:
 * - `path`: path, query and hash to open on the relay (default `/`), e.g. `/#chain` or `/?perf#chain`;
 * - `url(relay)`: the whole URL instead (an app hosted elsewhere, pointed at the relay by `?relay=`);
 * - `viewport` (default 1280×800);
 * - `state`, `stateTimeout` (default 20 s);
 * - `beforeGoto(page, desk)`: runs before the first navigation (listeners, routes).
 * Returns `{relay, addr, port, base, url, browser, context, page, errors, restartRelay(args), close()}`: `errors`
 * collects the page's uncaught errors; `relay` is the current relay process (restartRelay replaces it).
 */
async function openDesk(t, args = [], opts = {}) {
  const { path: at = '/', url, viewport = { width: 1280, height: 800 }, state = 'live', stateTimeout = 20000, beforeGoto } = opts;
  const desk = { relay: null, browser: null, errors: [] };
  desk.close = async () => {
    try {
      if (desk.browser) await desk.browser.close();
    } finally {
      await stopRelay(desk.relay);
    }
  };
  /**
   * Stops the relay and starts another on the same address with `relayArgs` (the page keeps the URL it has and
   * reconnects to it). The address is the one the first run bound, free again once the old process is gone. Not a
   * race with the other tests: the suite runs one test file at a time (`--test-concurrency=1`) and a file's tests
   * one after another, so nothing else in the suite binds a port in between (only a process outside it could, and
   * the kernel does not hand a just-freed port straight out again to a bind on port 0).
   */
  desk.restartRelay = async (relayArgs = args) => {
    const listen = desk.relay.addr;
    await stopRelay(desk.relay);
    desk.relay = await startRelay(relayArgs, { listen });
    return desk.relay;
  };
  if (t) t.after(() => desk.close());
  try {
    desk.relay = await startRelay(args);
    Object.assign(desk, { addr: desk.relay.addr, port: desk.relay.port, base: desk.relay.base });
    desk.browser = await launchBrowser();
    desk.context = await desk.browser.newContext({ viewport });
    desk.page = await desk.context.newPage();
    desk.page.on('pageerror', (e) => desk.errors.push(String(e)));
    if (beforeGoto) await beforeGoto(desk.page, desk);
    desk.url = url ? url(desk.relay) : `${desk.base}${at}`;
    await desk.page.goto(desk.url);
    if (state) await desk.page.waitForSelector(`#conn-state[data-state="${state}"]`, { timeout: stateTimeout });
  } catch (e) {
    if (!t) await desk.close();
    throw e;
  }
  return desk;
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };

/**
 * A bare static file server for dist/ on a loopback port the kernel picks, standing in for any static host (the app
 * on another origin than the relay). `onRequest(req)` sees every request. Closed after the test. Returns its origin,
 * `http://127.0.0.1:PORT`.
 */
async function serveDist(t, onRequest = () => {}) {
  const server = http.createServer((req, res) => {
    onRequest(req);
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(DIST, rel === '/' ? 'index.html' : rel);
    if (!file.startsWith(DIST) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${server.address().port}`;
}

module.exports = { startRelay, stopRelay, launchBrowser, openDesk, serveDist, schwabSim, screenshot, sleep, plain };
