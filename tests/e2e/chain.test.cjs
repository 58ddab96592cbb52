// The options chain in a real browser, fed by the relay's real Schwab client streaming from the built-in simulator:
// calls and puts centred on the money, ITM shading and the ATM marker, a moving price flashes, switching expiry
// (click and arrow keys) and underlying changes the rows, the symbol box (and its refusal of a typo), column choice,
// the strike window and the minimum-OI filter, rows outside the relay's key budget marked not live, and the narrow
// layout where the chain scrolls sideways under a fixed header.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { openDesk, schwabSim, screenshot } = require('./harness.cjs');

/** The desk on the chain tab, live, with the simulator's seed fixed. */
const chainDesk = (t, relayArgs, viewport = { width: 1280, height: 800 }) =>
  openDesk(t, ['--seed', '11', ...relayArgs], { path: '/#chain', viewport });

/** The visible chain rows as plain data. */
function rows(page) {
  return page.$$eval('#chain-table tbody tr[data-strike]', (trs) =>
    trs.map((tr) => {
      const cell = (side, field) => tr.querySelector(`td[data-side="${side}"][data-field="${field}"]`)?.textContent ?? null;
      const n = (s) => (s == null || s === '—' || s === '' ? null : Number(s.replace(/,/g, '')));
      return {
        strike: Number(tr.dataset.strike),
        call: tr.dataset.call || null,
        put: tr.dataset.put || null,
        cls: tr.className,
        callBid: n(cell('C', 'bid')),
        putBid: n(cell('P', 'bid')),
        oi: Math.max(n(cell('C', 'open_interest')) ?? 0, n(cell('P', 'open_interest')) ?? 0),
      };
    }));
}

const spotOf = async (page) => Number((await page.textContent('#underlying .last')).replace(/,/g, ''));

/** Waits until every visible row belongs to `underlying` (OSI root) and expiry `date` (YYYY-MM-DD). */
async function waitForChain(page, root, date, min = 5) {
  const code = date.slice(2).replace(/-/g, '');
  await page.waitForFunction(([root, code, min]) => {
    const trs = [...document.querySelectorAll('#chain-table tbody tr[data-strike]')];
    const keys = trs.map((tr) => tr.dataset.call || tr.dataset.put || '');
    return trs.length >= min && keys.every((k) => k.startsWith(root.padEnd(6, ' ') + code));
  }, [root, code, min], { timeout: 15000 });
}

const pressed = (page, sel) => page.$eval(`${sel} button[aria-pressed="true"]`, (b) => b.dataset.date || b.dataset.symbol);

test('the chain shows calls and puts centred on the money, flashes, and follows expiry and underlying', async (t) => {
  const { page, errors } = await chainDesk(t, []);
  // The relay's start symbols are offered; the first is selected, with its nearest expiry.
  await page.waitForSelector('#underlyings button[data-symbol="SPY"]');
  const symbols = await page.$$eval('#underlyings button', (bs) => bs.map((b) => b.dataset.symbol));
  assert.deepEqual([...symbols].sort(), ['$SPX', 'AAPL', 'SPY']);
  await page.click('#underlyings button[data-symbol="SPY"]');
  await page.waitForSelector('#expiries button[aria-pressed="true"]');
  const dates = await page.$$eval('#expiries button', (bs) => bs.map((b) => b.dataset.date));
  assert.ok(dates.length >= 3, `expiries: ${dates}`);
  assert.deepEqual(dates, [...dates].sort(), 'expiries in date order');
  assert.equal(await pressed(page, '#expiries'), dates[0], 'the nearest expiry first');
  assert.match(await page.textContent(`#expiries button[data-date="${dates[0]}"] .dte`), /^\d+d$/);
  await waitForChain(page, 'SPY', dates[0], 21);

  // ±10 strikes (the default) around the money: 21 rows, the ATM row in the middle, the nearest strike to the price.
  await page.waitForFunction(() => document.querySelectorAll('#chain-table tbody tr.atm').length === 1);
  let r = await rows(page);
  const spot = await spotOf(page);
  assert.equal(r.length, 21);
  const atm = r.findIndex((x) => x.cls.split(' ').includes('atm'));
  assert.ok(Math.abs(atm - 10) <= 2, `ATM row ${atm} of ${r.length} (spot ${spot})`);
  const best = Math.min(...r.map((x) => Math.abs(x.strike - spot)));
  assert.ok(Math.abs(r[atm].strike - spot) <= best + 1e-9, `ATM ${r[atm].strike} is the nearest strike to ${spot}`);
  for (const x of r) {
    assert.ok(x.call?.includes('C') || x.put?.includes('P'), `row ${x.strike} has a contract`);
    // Calls are in the money below the price, puts above (a strike within a cent of the price may go either way).
    if (Math.abs(x.strike - spot) > 0.5) {
      if (x.call) assert.equal(x.cls.includes('call-itm'), x.strike < spot, `call ITM at ${x.strike} vs ${spot}`);
      if (x.put) assert.equal(x.cls.includes('put-itm'), x.strike > spot, `put ITM at ${x.strike} vs ${spot}`);
    }
  }
  assert.ok(r.some((x) => x.callBid !== null) && r.some((x) => x.putBid !== null), 'prices on both sides');
  // Rows are strictly increasing strikes.
  for (let i = 1; i < r.length; i++) assert.ok(r[i].strike > r[i - 1].strike);

  // A price that moves flashes in its direction.
  const flash = await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('#chain-table td[data-field="bid"], #chain-table td[data-field="ask"]')];
    window.__seen ??= new Map();
    for (const td of cells) {
      const key = td.closest('tr').dataset.strike + td.dataset.side + td.dataset.field;
      const prev = window.__seen.get(key);
      const now = td.textContent;
      window.__seen.set(key, now);
      if (prev !== undefined && prev !== now && prev !== '—' && now !== '—') {
        const up = Number(now) > Number(prev);
        return { up, cls: td.className, prev, now };
      }
    }
    return false;
  }, null, { polling: 'raf', timeout: 15000 });
  const f = await flash.jsonValue();
  assert.ok(f.cls.includes(f.up ? 'flash-up' : 'flash-down'), `moved ${f.prev} → ${f.now}: class ${f.cls}`);
  await screenshot(page, 'options-chain');

  // → moves to the next expiry, ← back; a click picks any.
  await page.keyboard.press('ArrowRight');
  await page.waitForSelector(`#expiries button[data-date="${dates[1]}"][aria-pressed="true"]`);
  await waitForChain(page, 'SPY', dates[1]);
  await page.keyboard.press('ArrowLeft');
  await waitForChain(page, 'SPY', dates[0]);
  await page.click(`#expiries button[data-date="${dates[2]}"]`);
  await waitForChain(page, 'SPY', dates[2]);

  // Another underlying: its header, its expiries, its rows.
  await page.click('#underlyings button[data-symbol="AAPL"]');
  await page.waitForSelector('#underlying[data-symbol="AAPL"]');
  await page.waitForFunction(() => document.querySelector('#expiries button[aria-pressed="true"]'));
  const aaplDate = await pressed(page, '#expiries');
  await waitForChain(page, 'AAPL', aaplDate);
  assert.match(await page.textContent('#underlying .last'), /^\d+\.\d\d$/);
  assert.match(await page.textContent('#underlying .chg'), /^[+-]\d+\.\d\d \([+-]\d+\.\d\d%\)$/);

  // The symbol box: a typo is refused with the reason and loses nothing; a good list replaces the buttons.
  await page.fill('#symbols', 'SPY, A A');
  await page.press('#symbols', 'Enter');
  await page.waitForFunction(() => document.querySelector('#symbols-error').textContent.includes('A A'));
  assert.equal(await page.$$eval('#underlyings button', (bs) => bs.length), 3);
  await page.fill('#symbols', ' aapl, spy ');
  await page.press('#symbols', 'Enter');
  await page.waitForFunction(() => [...document.querySelectorAll('#underlyings button')].map((b) => b.dataset.symbol).join() === 'AAPL,SPY');
  assert.equal(await page.textContent('#symbols-error'), '');
  assert.equal(await pressed(page, '#underlyings'), 'AAPL', 'the selection survives when still listed');
  assert.deepEqual(errors, []);
});

test('an index shows no bid or ask (Schwab sends none); an equity shows both', async (t) => {
  const { page, errors } = await chainDesk(t, []);
  await page.waitForSelector('#underlyings button[data-symbol="$SPX"]');
  await page.click('#underlyings button[data-symbol="SPY"]');
  await page.waitForSelector('#underlying[data-symbol="SPY"]');
  await page.waitForFunction(() => /^bid \d+\.\d\d · ask \d+\.\d\d$/.test(document.querySelector('#underlying .bidask')?.textContent ?? ''), null, { timeout: 10000 });
  assert.equal(await page.$eval('#underlying .bidask', (e) => e.hidden), false);
  await page.click('#underlyings button[data-symbol="$SPX"]');
  await page.waitForSelector('#underlying[data-symbol="$SPX"]');
  await page.waitForFunction(() => /^\d+\.\d\d$/.test(document.querySelector('#underlying .last')?.textContent ?? ''), null, { timeout: 10000 });
  // It printed `bid 0.00 · ask 0.00`.
  assert.equal(await page.$eval('#underlying .bidask', (e) => e.hidden), true);
  assert.doesNotMatch(await page.innerText('#underlying'), /bid|ask/);
  assert.deepEqual(errors, []);
});

test('columns, strike window, minimum open interest and recentring', async (t) => {
  const { page, errors, relay } = await chainDesk(t, []);
  await page.click('#underlyings button[data-symbol="SPY"]');
  await page.waitForSelector('#expiries button[aria-pressed="true"]');
  const date = await pressed(page, '#expiries');
  await waitForChain(page, 'SPY', date, 21);

  // Columns: drop delta, add gamma; both sides follow, and gamma shows numbers.
  assert.equal(await page.$$eval('#chain-table thead th[data-field="delta"]', (x) => x.length), 2);
  await page.click('#columns summary');
  await page.click('#columns input[data-field="delta"]');
  await page.click('#columns input[data-field="gamma"]');
  await page.waitForFunction(() => document.querySelectorAll('#chain-table thead th[data-field="gamma"]').length === 2);
  assert.equal(await page.$$eval('#chain-table thead th[data-field="delta"]', (x) => x.length), 0);
  assert.equal(await page.$$eval('#chain-table tbody td[data-field="delta"]', (x) => x.length), 0);
  const gammas = await page.$$eval('#chain-table tbody td[data-field="gamma"]', (tds) => tds.map((td) => td.textContent));
  assert.ok(gammas.some((g) => /^0\.\d{3}$/.test(g)), `gamma values: ${gammas.slice(0, 6)}`);
  // Calls mirror puts: bid and ask sit next to the strike on both sides.
  const head = await page.$$eval('#chain-table thead tr:nth-child(2) th', (ths) => ths.map((th) => th.dataset.field || 'strike'));
  const k = head.indexOf('strike');
  assert.deepEqual(head.slice(k - 2, k + 3), ['bid', 'ask', 'strike', 'bid', 'ask'], head.join());

  // Strike window.
  await page.selectOption('#strike-window', '5');
  await page.waitForFunction(() => document.querySelectorAll('#chain-table tbody tr[data-strike]').length === 11);
  await page.selectOption('#strike-window', 'all');
  await page.waitForFunction(() => document.querySelectorAll('#chain-table tbody tr[data-strike]').length > 21);
  const all = await rows(page);
  // Every strike shown has a call or a put with something on it (a quote, a trade or open interest).
  for (const x of all) assert.ok((x.call || x.put) && (x.callBid != null || x.putBid != null || x.oi > 0), `row ${x.strike}`);

  // Minimum open interest: rows whose call and put are both below it go.
  const ois = all.map((x) => x.oi).sort((a, b) => a - b);
  const min = ois[Math.floor(ois.length / 2)];
  await page.fill('#min-oi', String(min));
  await page.press('#min-oi', 'Enter');
  await page.waitForFunction((n) => document.querySelectorAll('#chain-table tbody tr[data-strike]').length < n, all.length);
  const kept = await rows(page);
  assert.ok(kept.length > 0);
  for (const x of kept) assert.ok(x.oi >= min, `row ${x.strike} has OI ${x.oi} < ${min}`);
  assert.equal(kept.length, all.filter((x) => x.oi >= min).length);
  await page.fill('#min-oi', '0');
  await page.press('#min-oi', 'Enter');
  await page.waitForFunction((n) => document.querySelectorAll('#chain-table tbody tr[data-strike]').length === n, all.length);

  // C recentres the window on the current price. The window stays where it was pinned when the chain opened, so
  // first the price gaps down to the strike 4 rows below the pinned money (the rows near the money are $1 apart):
  // the ATM row sits 4 rows off the window's middle, and only C brings it back.
  const full = (await rows(page)).map((x) => x.strike); // the window is still "all": every row
  await page.selectOption('#strike-window', '10');
  await page.waitForFunction(() => document.querySelectorAll('#chain-table tbody tr[data-strike]').length === 21);
  const centreNote = async () => Number((await page.textContent('.centre-note')).replace('centred on ', ''));
  const nearestRow = (strikes, p) => strikes.reduce((best, k, i) => (Math.abs(k - p) < Math.abs(strikes[best] - p) ? i : best), 0);
  /** The visible strikes and where the ATM row is among them (-1: not shown). */
  const shown = () => page.$$eval('#chain-table tbody tr[data-strike]', (trs) => ({
    strikes: trs.map((tr) => Number(tr.dataset.strike)),
    atm: trs.findIndex((tr) => tr.classList.contains('atm')),
  }));
  const pinned = await centreNote();
  const m = nearestRow(full, pinned);
  assert.ok(m >= 14 && full.length - m > 10, `rows enough on both sides of the money: row ${m} of ${full.join(' ')}`);
  const target = full[m - 4];
  const pct = (target / (await spotOf(page)) - 1) * 100;
  const gap = await fetch(`${schwabSim(relay)}/sim/faults/gap?symbol=SPY&pct=${pct}`, { method: 'POST' });
  assert.equal(gap.status, 200, await gap.text());
  await page.waitForFunction((k) => Math.abs(Number(document.querySelector('#underlying .last').textContent.replace(/,/g, '')) - k) < 0.3,
    target, { timeout: 10000 });
  const off = await shown();
  assert.equal(off.strikes.length, 21);
  assert.equal(await centreNote(), pinned, 'the window stays pinned while the price moves');
  assert.ok(off.atm >= 0 && off.atm <= 7, `before C the money (${target}) is off-centre: ATM row ${off.atm} of ${off.strikes.join(' ')}`);
  // The key is the desk's, not the field's: the minimum-OI box typed in above still has the focus, and a key typed
  // into a field never recentres, so leave it first.
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press('KeyC');
  await page.waitForFunction(() => {
    const trs = [...document.querySelectorAll('#chain-table tbody tr[data-strike]')];
    const i = trs.findIndex((tr) => tr.classList.contains('atm'));
    return trs.length === 21 && Math.abs(i - 10) <= 1;
  }, null, { timeout: 5000 });
  const spot = await spotOf(page);
  const note = await centreNote();
  assert.ok(Math.abs(note - spot) < 0.5, `centred on ${note}, price ${spot}`);
  const on = await shown();
  assert.equal(nearestRow(on.strikes, note), 10, `the middle row is the strike nearest ${note}: ${on.strikes.join(' ')}`);
  await screenshot(page, 'options-chain-columns');
  assert.deepEqual(errors, []);
});

test('contracts outside the relay key budget are marked not live; the narrow chain scrolls under a fixed header', async (t) => {
  // 40 keys for three start symbols and this chain: the wings of the chain are served from REST, not streamed.
  const { page, errors } = await chainDesk(t, ['--key-budget', '40'], { width: 640, height: 900 });
  await page.click('#underlyings button[data-symbol="$SPX"]');
  await page.waitForSelector('#expiries button[aria-pressed="true"]');
  const date = await pressed(page, '#expiries');
  await page.selectOption('#strike-window', '20');
  await waitForChain(page, 'SPXW', date, 21);
  await page.waitForFunction(() => document.querySelector('#chain-table tr.call-not-live, #chain-table tr.put-not-live'));
  const r = await rows(page);
  const notLive = r.filter((x) => /(call|put)-not-live/.test(x.cls));
  assert.ok(notLive.length > 0 && notLive.length < r.length, `${notLive.length} of ${r.length} rows not live`);
  const atm = r.find((x) => x.cls.split(' ').includes('atm'));
  if (atm) assert.ok(!/not-live/.test(atm.cls), 'the money is streamed first');
  const style = await page.$eval('#chain-table tr.call-not-live td.c, #chain-table tr.put-not-live td.p', (td) => getComputedStyle(td).fontStyle);
  assert.equal(style, 'italic');

  // Narrow: the table is wider than its box and scrolls sideways; the header stays at the top when the page scrolls.
  const [scrollW, clientW] = await page.$eval('.chain-scroll', (d) => [d.scrollWidth, d.clientWidth]);
  assert.ok(scrollW > clientW, `chain ${scrollW}px in a ${clientW}px box`);
  await page.$eval('.chain-scroll', (d) => (d.scrollLeft = d.scrollWidth));
  assert.ok(await page.$eval('.chain-scroll', (d) => d.scrollLeft > 0), 'the chain scrolled sideways');
  // Scroll the page until the chain's table starts at the top of the view: everything above it, a header that did
  // not stick included, has left the view.
  const scrolled = await page.evaluate(() => {
    window.scrollBy(0, document.querySelector('#chain-table').getBoundingClientRect().top);
    const bar = document.querySelector('.topbar');
    return { y: window.scrollY, height: bar.offsetHeight, top: bar.getBoundingClientRect().top,
      onTop: !!document.elementFromPoint(window.innerWidth / 2, bar.offsetHeight / 2)?.closest('.topbar') };
  });
  assert.ok(scrolled.y > scrolled.height, `the page scrolled ${scrolled.y}px, past the ${scrolled.height}px header`);
  assert.equal(scrolled.top, 0, 'header stays');
  assert.ok(scrolled.onTop, 'the header is drawn over the chain, not under it');
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'options-chain-narrow');
  assert.deepEqual(errors, []);
});
