"""Writes BENCHMARKS.md from scripts/bench.sh's results (target/bench/results.jsonl): every figure with the command
that produced it, the machine, ratios ours/peer and each target met or missed (by how much). The analysis of why a
figure is what it is lives in bench/analysis.md and is included as is."""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def machine():
    cpu = sh("lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1") or platform.processor()
    mem = sh("free -g | awk '/^Mem:/{print $2}'")
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} cores"),
        ("memory", f"{mem} GiB"),
        ("kernel", platform.release()),
        ("rustc", sh("rustc --version")),
        ("python", platform.python_version()),
        ("node", sh("node --version")),
        ("git", sh(f"git -C {ROOT} rev-parse --short HEAD") + (" (uncommitted changes)" if sh(f"git -C {ROOT} status --porcelain --untracked-files=no") else "")),
    ]


def fmt_int(x):
    return f"{x:,.0f}" if x is not None else "—"


def fmt_ms(x):
    if x is None:
        return "—"
    return f"{x:,.1f} ms" if x < 1000 else f"{x / 1000:,.2f} s"


def fmt_mb(kb):
    return f"{kb / 1024:,.1f} MiB" if kb is not None else "—"


def verdict(ok, text):
    return ("**met**" if ok else "**missed**") + f" — {text}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", default="0")
    ap.add_argument("--elapsed", default="0")
    ap.add_argument("--tick-ms", default="?")
    ap.add_argument("--load-contracts", default="?")
    ap.add_argument("--window", default="?")
    ap.add_argument("--warmup", default="?")
    ap.add_argument("--stall-secs", default="?")
    a = ap.parse_args()
    quick = a.quick == "1"
    rows = [json.loads(line) for line in pathlib.Path(a.results).read_text().splitlines() if line.strip()]
    res = {r["name"]: r for r in rows}

    def get(name):
        return res.get(name, {}).get("result")

    def cmd(name):
        return res.get(name, {}).get("cmd", "")

    out = []
    w = out.append
    w("# tickdesk benchmarks")
    w("")
    w(f"Written by `scripts/bench.sh{' --quick' if quick else ''}` on "
      f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} in {a.elapsed} s "
      f"({'quick mode: shorter windows' if quick else 'full mode'}). Rerun it to refresh every figure; raw results are "
      "in `target/bench/results.jsonl`. Benchmarks print figures; they are not tests.")
    w("")
    w("| machine | |")
    w("|---|---|")
    for k, v in machine():
        w(f"| {k} | {v} |")
    w("")
    w("Everything runs on this one machine over loopback, **the load tool included** (it parses every frame it "
      "receives, so it competes with the server for the same 2 cores).")
    w("")
    upstream = get("upstream")
    w("## The load")
    w("")
    w(f"One Schwab simulator (`tickdesk-relay simulator --tick-ms {a.tick_ms} --load-contracts {a.load_contracts}`) "
      "feeds every server the same market: `SIMX`'s nearest expiry, every contract repriced on every tick. The relay "
      "reads it as Schwab's streamer protocol (`LEVELONE_OPTIONS`, one upstream connection) and clients subscribe to "
      "`chain:SIMX:<nearest expiry>`; each peer reads the simulator's tick tap (`/sim/ticks?underlying=SIMX&"
      "expiry=nearest`: the same changed contracts, with the relay's field names, one JSON frame per tick) and "
      "forwards every frame to every client. A **contract update** is one contract's changed fields in a frame; its "
      "**latency** runs from the simulator's timestamp (the row's `ts`, ms since epoch, stamped when the tick is sent) "
      "to the moment the client has read the frame.")
    if upstream:
        w("")
        w(f"Upstream, per client: **{fmt_int(upstream['updates_per_s'])} contract updates/s** in "
          f"{fmt_int(upstream['frames_per_s'])} frames/s ({upstream['bytes_per_s'] / 1e6:,.2f} MB/s), measured on the tap "
          f"itself (`{cmd('upstream')}`). The offered fan-out load is that times the number of clients.")
    w("")

    # --- targets summary, filled as we go
    targets = []

    # 1. fan-out
    w("## 1. Fan-out: ours vs FastAPI and Node `ws`")
    w("")
    w(f"Each server alone, {a.warmup} s of warm-up then a {a.window} s window. Delivered = contract updates that "
      "reached clients per second, all clients together; latency percentiles over every update delivered in the window.")
    w("")
    for n in (100, 1000):
        ours = get(f"fanout-tickdesk-{n}")
        if not ours:
            continue
        offered = upstream["updates_per_s"] * n if upstream else None
        w(f"### {n:,} clients" + (f" (offered: {fmt_int(offered)} updates/s)" if offered else ""))
        w("")
        w("| server | delivered updates/s | of offered | MB/s | p50 | p99 | max | ours / this (updates/s) | server RSS at end |")
        w("|---|---|---|---|---|---|---|---|---|")
        for key, label in (("tickdesk", "**tickdesk relay**"), ("fastapi", "FastAPI + uvicorn"), ("node", "Node `ws`")):
            r = get(f"fanout-{key}-{n}")
            if not r:
                w(f"| {label} | (no result) | | | | | | | |")
                continue
            ratio = ours["updates_per_s"] / r["updates_per_s"] if r["updates_per_s"] else float("inf")
            share = f"{100 * r['updates_per_s'] / offered:,.0f}%" if offered else "—"
            w(f"| {label} | {fmt_int(r['updates_per_s'])} | {share} | {r['bytes_per_s'] / 1e6:,.1f} | {fmt_ms(r['p50_ms'])} | "
              f"{fmt_ms(r['p99_ms'])} | {fmt_ms(r['max_ms'])} | {'—' if key == 'tickdesk' else f'{ratio:,.2f}×'} | "
              f"{fmt_mb(r.get('rss_end_kb'))} |")
        w("")
        for key, label in (("fastapi", "FastAPI"), ("node", "Node ws")):
            r = get(f"fanout-{key}-{n}")
            if not r:
                continue
            ratio = ours["updates_per_s"] / r["updates_per_s"] if r["updates_per_s"] else float("inf")
            need = 10 if key == "fastapi" else 2
            p99_ok = ours["p99_ms"] <= 50
            ok = ratio >= need and p99_ok
            targets.append((f"fan-out {n:,} clients ≥ {need}× {label} at p99 ≤ 50 ms",
                            verdict(ok, f"{ratio:,.2f}× (target {need}×, {'reached' if ratio >= need else f'short by {need / ratio:,.1f}×'}), "
                                        f"our p99 {fmt_ms(ours['p99_ms'])}" + ("" if p99_ok else f" ({ours['p99_ms'] - 50:,.0f} ms over)")
                                        + f"; {label} p99 {fmt_ms(r['p99_ms'])}")))
        w("Commands:")
        w("")
        for key in ("tickdesk", "fastapi", "node"):
            if cmd(f"fanout-{key}-{n}"):
                w(f"- `{cmd(f'fanout-{key}-{n}')}`")
        w("")
        extra = [f"{k}: gaps {get(f'fanout-{k}-{n}')['gaps']}, disconnects {get(f'fanout-{k}-{n}')['disconnects']}, "
                 f"clients with state {get(f'fanout-{k}-{n}')['ready']}/{n}"
                 for k in ("tickdesk", "fastapi", "node") if get(f"fanout-{k}-{n}")]
        w("Integrity: " + "; ".join(extra) + ".")
        w("")

    # 2. stalled
    w("## 2. Stalled clients: memory with 10% of 1,000 clients not reading")
    w("")
    st = get("stalled-tickdesk")
    if st:
        w(f"{st['clients']:,} clients at full upstream rate; {st['stalled']} of them stop reading after their first "
          f"snapshot (peers: first frame) and hold their sockets for the {a.stall_secs} s window, while the other "
          f"{st['measured_clients']} keep reading. Server memory (VmRSS) at the start and end of the window; the "
          "readers' figures over the window. The peers are measured the same way, for comparison.")
        w("")
        w("| server | RSS at start | RSS at end | growth per stalled client | readers: updates/s | readers: p99 | samples (s: RSS) |")
        w("|---|---|---|---|---|---|---|")
        for key, label in (("tickdesk", "**tickdesk relay**"), ("fastapi", "FastAPI + uvicorn"), ("node", "Node `ws`")):
            r = get(f"stalled-{key}")
            if not r:
                continue
            start = r.get("rss_after_warmup_kb") or r.get("rss_start_kb")
            end = r.get("rss_end_kb")
            growth = (end - start) if (start is not None and end is not None) else None
            per = growth / r["stalled"] if growth is not None and r["stalled"] else None
            samples = ", ".join(f"{t:,.0f}: {fmt_mb(kb)}" for t, kb in r.get("rss_samples", []))
            w(f"| {label} | {fmt_mb(start)} | {fmt_mb(end)} | {f'{per:,.1f} KiB' if per is not None else '—'} | "
              f"{fmt_int(r['updates_per_s'])} | {fmt_ms(r['p99_ms'])} | {samples} |")
            if key == "tickdesk" and per is not None:
                targets.append(("memory flat with stalled clients (≤ 1 MB growth per stalled client)",
                                verdict(per <= 1024, f"{per:,.1f} KiB per stalled client over {a.stall_secs} s "
                                        f"(readers meanwhile: p99 {fmt_ms(r['p99_ms'])})")))
        w("")
        w("Commands:")
        w("")
        for key in ("tickdesk", "fastapi", "node"):
            if cmd(f"stalled-{key}"):
                w(f"- `{cmd(f'stalled-{key}')}`")
    else:
        w("(no result)")
    w("")

    # 3. storm
    s = get("storm-1000")
    w("## 3. Reconnect storm: 1,000 clients, relay killed and restarted")
    w("")
    if s and "all_back_ms" in s:
        w(f"{s['clients']:,} clients hold `{s['topic']}` ({s['contracts']} contracts). The relay is killed with SIGKILL and "
          "started again against the same simulator (an external one: `--schwab-api` set to its URL, so it outlives "
          "the relay). Clients reconnect with the app's own policy (`tickdesk_wire::backoff`, full jitter 0.5 s → 20 s) "
          "and resume from the seqs they hold; a client counts as back when it holds the whole chain in the new epoch.")
        w("")
        w("| | |")
        w("|---|---|")
        w(f"| kill → new relay listening | {fmt_ms(s['kill_to_listening_ms'])} |")
        w(f"| kill → every client back with full state | {fmt_ms(s['all_back_ms'])} ({s['clients_back']}/{s['clients']} clients) |")
        w(f"| per client, p50 / p99 | {fmt_ms(s['p50_back_ms'])} / {fmt_ms(s['p99_back_ms'])} |")
        w(f"| upstream (simulator) connections opened during the storm | {s['upstream_connections_opened']} (logins {s['upstream_logins']}, most open at once {s['upstream_max_open']}) |")
        w("")
        w(f"Command: `{cmd('storm-1000')}`")
        back = s["all_back_ms"]
        ok = back is not None and back <= 3000 and s["upstream_connections_opened"] == 1 and s["upstream_max_open"] <= 1
        targets.append(("1,000 clients back within 3 s of a restart, one upstream connection",
                        verdict(ok, f"all back in {fmt_ms(back)}" + ("" if back is not None and back <= 3000 else " (over 3 s)")
                                + f"; upstream connections opened {s['upstream_connections_opened']}, most open at once {s['upstream_max_open']}")))
    else:
        w(f"(no result{': ' + json.dumps(s) if s else ''})")
    w("")

    # 4. browser
    b = get("browser")
    w("## 4. Browser: frame rate and tick-to-screen latency")
    w("")
    if b and "fps" in b:
        w("Headless Chromium, a ±20-strike chain receiving 10,000 cell updates/s.")
        w("")
        w("| fps | tick-to-screen p50 | p99 | cell updates/s |")
        w("|---|---|---|---|")
        w(f"| {b['fps']:,.1f} | {fmt_ms(b.get('tick_to_screen_p50_ms'))} | {fmt_ms(b.get('tick_to_screen_p99_ms'))} | {fmt_int(b.get('cell_updates_per_s'))} |")
        w("")
        w(f"Command: `{cmd('browser')}`")
        targets.append(("browser ≥ 45 fps", verdict(b["fps"] >= 45, f"{b['fps']:,.1f} fps")))
        p99 = b.get("tick_to_screen_p99_ms")
        if p99 is not None:
            targets.append(("browser p99 tick-to-screen ≤ 100 ms", verdict(p99 <= 100, fmt_ms(p99))))
    else:
        w("<!-- placeholder: figure 4 is produced by bench/browser.cjs (owned by the app), which scripts/bench.sh runs "
          "when it exists; its last stdout line is one JSON object "
          "{\"fps\":..,\"tick_to_screen_p50_ms\":..,\"tick_to_screen_p99_ms\":..,\"cell_updates_per_s\":..} -->")
        w("**Not measured in this run**" + (f" ({b['error']})" if b and "error" in b else ": `bench/browser.cjs` does not exist yet") +
          ". Target: ≥ 45 fps and p99 tick-to-screen ≤ 100 ms in headless Chromium with a ±20-strike chain receiving "
          "10,000 cell updates/s.")
    w("")

    # 5. app size
    app = get("app-size")
    w("## 5. The app's size")
    w("")
    if app and "files" in app:
        w("| file | raw | gzip -9 |")
        w("|---|---|---|")
        for f in app["files"]:
            w(f"| `dist/{f['file']}` | {f['raw'] / 1024:,.1f} KiB | {f['gzip'] / 1024:,.1f} KiB |")
        w(f"| **total** | **{app['raw'] / 1024:,.1f} KiB** | **{app['gzip'] / 1024:,.1f} KiB** |")
        w("")
        w(f"Command: `{cmd('app-size')}`")
        targets.append(("app ≤ 250 KB gzipped", verdict(app["gzip"] <= 250_000, f"{app['gzip'] / 1000:,.1f} KB gzipped")))
    else:
        w(f"(no result{': ' + app['error'] if app and 'error' in app else ''})")
    w("")

    # 6. idle
    idle = next((get(k) for k in res if k.startswith("idle-")), None)
    idle_name = next((k for k in res if k.startswith("idle-")), "")
    w("## 6. Relay memory per idle connection")
    w("")
    if idle:
        w(f"{idle['connected']:,} clients connect and say `hello` (no subscriptions), then sit: RSS {fmt_mb(idle['rss_before_kb'])} → "
          f"{fmt_mb(idle['rss_after_kb'])}, **{idle['per_connection_kb']:,.1f} KiB per connection**.")
        w("")
        w(f"Command: `{cmd(idle_name)}`")
    else:
        w("(no result)")
    w("")

    # targets
    summary = ["## Targets", "", "| target | result |", "|---|---|"]
    summary += [f"| {t} | {v} |" for t, v in targets]
    summary += [""]
    analysis = ROOT / "bench" / "analysis.md"
    tail = [analysis.read_text().rstrip(), ""] if analysis.exists() else []
    # Targets first, after the machine and the load.
    i = out.index("## 1. Fan-out: ours vs FastAPI and Node `ws`")
    out[i:i] = summary
    pathlib.Path(a.out).write_text("\n".join(out + tail) + "\n")


if __name__ == "__main__":
    main()
