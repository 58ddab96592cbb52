// Fixtures for the browser tests: a real relay process on a loopback port, and Debian's Chromium driven by
// playwright-core (which never downloads a browser of its own).
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');
const { chromium } = require(path.join(__dirname, '..', '..', 'tools', 'node_modules', 'playwright-core'));

const root = path.join(__dirname, '..', '..');
const RELAY_BIN = process.env.TICKDESK_RELAY_BIN || path.join(root, 'target', 'debug', 'tickdesk-relay');
const DIST = process.env.TICKDESK_DIST || path.join(root, 'dist');
const OUT = path.join(root, 'test-output');
const CHROMIUM = process.env.TICKDESK_CHROMIUM || '/usr/bin/chromium';

/** A free loopback port (bound, then released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The market moment every browser test runs at unless it asks for another: a Wednesday's regular session, so the
 * suite does not depend on when it runs (the simulator and the relay share this clock). */
const IN_SESSION = '2026-12-02T10:15-05:00';

/** Starts the relay on `port` and waits until /healthz answers. Returns the child process. */
async function startRelay(port, extraArgs = []) {
  const dir = extraArgs.includes('--static-dir') ? [] : ['--static-dir', DIST];
  const clock = extraArgs.includes('--sim-start') ? [] : ['--sim-start', IN_SESSION];
  // Browser tests never reach the internet: Binance is the built-in simulator unless a test asks otherwise.
  const binance = extraArgs.includes('--binance') ? [] : ['--binance', 'sim'];
  const args = ['--listen', `127.0.0.1:${port}`, ...dir, ...clock, ...binance, ...extraArgs];
  const child = spawn(RELAY_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'info' } });
  child.logs = '';
  child.stdout.on('data', (d) => (child.logs += d));
  child.stderr.on('data', (d) => (child.logs += d));
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`relay exited early (${child.exitCode}):\n${child.logs}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) return child;
    } catch (_) {
      /* not up yet */
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`relay did not come up on port ${port}:\n${child.logs}`);
}

async function stopRelay(child, signal = 'SIGKILL') {
  if (!child || child.exitCode !== null) return;
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

module.exports = { freePort, startRelay, stopRelay, launchBrowser, screenshot, sleep };
