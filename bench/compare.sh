#!/usr/bin/env bash
# Side-by-side comparison of two relay builds on BENCHMARKS.md's headline figures, measured in one run:
#
#   bench/compare.sh BEFORE_RELAY AFTER_RELAY LOAD_BIN
#
# BEFORE_RELAY / AFTER_RELAY: two `tickdesk-relay` release binaries (e.g. the last commit before a change and the change).
# LOAD_BIN: one `tickdesk-load` binary, used as the client for both (keep the client identical).
# The Schwab simulator is SIM_BIN's `simulator` subcommand (default: BEFORE_RELAY), the same process for every run.
#
# Figures, with the settings of scripts/bench.sh (the simulator: seed 7, --load-contracts 480, a 50 ms tick; the relay:
# scripts/bench.sh's relay_env), every figure run for both binaries interleaved (before, after, before, after, …):
#   0. CPU per delivered update: N clients on the SIMX nearest chain, the simulator's tick stepped to 5 ms (100 clients)
#      or 50 ms (1,000 clients), a 2 s warm-up, then the relay's CPU (/proc, user + system) over CPU_WINDOW seconds
#      divided by the contract updates its clients received: µs of CPU per 1,000 updates. A fresh relay each run.
#   7. quiet topic: one client on the chain (background) + one measuring chain client; then 1,000 clients on
#      `signals` only: the relay's cores with and without them (QUIET_SECS windows); "added" is the difference.
#   3. reconnect storm: `tickdesk-load storm`, 1,000 clients, relay SIGKILLed and restarted: kill → all back.
#   9. memory at rest: the default desk (built-in simulators), no client, history age REST_AGE_MS, VmRSS sampled every
#      15 s for REST_SECS; REST_COPIES instances of each binary run at the same time (side by side, own ports).
#
# Knobs (environment): ROUNDS_CPU (3), CPU_CLIENTS ("100 1000"), CPU_WINDOW (10), QUIET_ROUNDS (2), QUIET_SECS (20),
# STORM_ROUNDS (2), REST_SECS (180), REST_AGE_MS (60000), REST_COPIES (2), FIGURES ("0 7 3 9"),
# WAIT_QUIET_S (0: do not wait; else poll the 1-minute load average every 30 s, up to this long, until < WAIT_LOAD),
# WAIT_LOAD (1.0), OUT (target/bench-compare). Raw results: $OUT/results.jsonl; logs beside it; the table again from them:
# bench/compare.sh --table OUT. CPU comes from /proc in 10 ms ticks: over a 20 s window, 0.0005 core is one tick.
# Everything runs on 127.0.0.1, bounded in time (timeouts on every load-tool call); every process started is stopped
# on exit (trap), children of the load tool's storm included.
set -euo pipefail

print_table() { # RESULTS LOADAVG
  python3 - "$1" "$2" <<'EOF'
import json, math, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def pick(fig, which):
    return [r for r in rows if r["figure"] == fig and r["which"] == which and "error" not in r["result"]]
def fmt(xs, f):
    if not xs:
        return "—", None
    m = statistics.median(xs)
    s = f(m) if len(xs) == 1 else f"{f(m)} (" + ", ".join(f(x) for x in xs) + ")"
    return s, m
def line(name, unit, b, a, f):
    bs, bm = fmt(b, f); as_, am = fmt(a, f)
    ratio = f"{am / bm:.2f}×" if bm and am is not None else "—"
    diff = f(am - bm) if bm is not None and am is not None else "—"
    print(f"| {name} | {unit} | {bs} | {as_} | {diff} | {ratio} |")
def per1000(r):
    d = r["result"]; c = d.get("cpu") or {}
    return 1e9 * c["server_cores"] / d["updates_per_s"] if d.get("updates_per_s") and c.get("server_cores") is not None else None
print("| figure | unit | before: median (each round, in run order) | after: median (each round) | after − before | after / before (medians) |")
print("|---|---|---|---|---|---|")
for n in ("100", "1000"):
    fig = f"cpu-{n}"
    if any(r["figure"] == fig for r in rows):
        b = [x for x in map(per1000, pick(fig, "before")) if x is not None]
        a = [x for x in map(per1000, pick(fig, "after")) if x is not None]
        line(f"0. CPU per delivered update, {int(n):,} clients", "µs CPU per 1,000 updates", b, a, lambda v: f"{v:,.0f}")
        g = lambda w: [r["result"]["updates_per_s"] for r in pick(fig, w)]
        line(f"0. (delivered, {int(n):,} clients)", "updates/s", g("before"), g("after"), lambda v: f"{v:,.0f}")
        g = lambda w: [r["result"]["p99_ms"] for r in pick(fig, w)]
        line(f"0. (p99, {int(n):,} clients)", "ms", g("before"), g("after"), lambda v: f"{v:,.1f}")
        g = lambda w: [r["result"]["cpu"]["machine_cores"] for r in pick(fig, w)]
        line(f"0. (machine busy, {int(n):,} clients)", "cores of 2", g("before"), g("after"), lambda v: f"{v:.2f}")
q = lambda w, k: [r["result"][k]["cpu"]["server_cores"] for r in rows if r["figure"] == "quiet" and r["which"] == w
                  and "error" not in r["result"][k]]
if any(r["figure"] == "quiet" for r in rows):
    add = lambda w: [r["result"]["quiet"]["cpu"]["server_cores"] - r["result"]["base"]["cpu"]["server_cores"]
                     for r in rows if r["figure"] == "quiet" and r["which"] == w
                     and "error" not in r["result"]["quiet"] and "error" not in r["result"]["base"]]
    line("7. quiet topic: added by 1,000 clients on signals", "relay cores", add("before"), add("after"), lambda v: f"{v:.4f}")
    line("7. quiet topic: relay in all (with them)", "relay cores", q("before", "quiet"), q("after", "quiet"), lambda v: f"{v:.4f}")
    line("7. quiet topic: chain + rates only", "relay cores", q("before", "base"), q("after", "base"), lambda v: f"{v:.4f}")
    rss = lambda w: [r["result"]["quiet"]["rss_end_kb"] / 1024 for r in rows if r["figure"] == "quiet" and r["which"] == w
                     and r["result"]["quiet"].get("rss_end_kb")]
    line("7. quiet topic: RSS with the 1,000", "MiB", rss("before"), rss("after"), lambda v: f"{v:.1f}")
if any(r["figure"] == "storm" for r in rows):
    g = lambda w, k: [r["result"][k] for r in pick("storm", w) if r["result"].get(k) is not None]
    line("3. storm: kill → every client back", "ms", g("before", "all_back_ms"), g("after", "all_back_ms"), lambda v: f"{v:,.0f}")
    line("3. storm: per client back, p50", "ms", g("before", "p50_back_ms"), g("after", "p50_back_ms"), lambda v: f"{v:,.0f}")
    line("3. storm: per client back, p99", "ms", g("before", "p99_back_ms"), g("after", "p99_back_ms"), lambda v: f"{v:,.0f}")
    line("3. storm: kill → relay listening", "ms", g("before", "kill_to_listening_ms"), g("after", "kill_to_listening_ms"), lambda v: f"{v:,.0f}")
    line("3. storm: kill → old relay gone (of the above)", "ms", g("before", "kill_to_exit_ms"), g("after", "kill_to_exit_ms"), lambda v: f"{v:,.0f}")
    line("3. storm: clients back", "of 1,000", g("before", "clients_back"), g("after", "clients_back"), lambda v: f"{v:.0f}")
    line("3. storm: upstream connections opened", "count", g("before", "upstream_connections_opened"), g("after", "upstream_connections_opened"), lambda v: f"{v:.0f}")
if any(r["figure"] == "rest" for r in rows):
    g = lambda w: [r["result"]["rss_end_kb"] / 1024 for r in pick("rest", w) if r["result"].get("rss_end_kb")]
    age = next(r["result"]["age_ms"] for r in rows if r["figure"] == "rest")
    secs = max((r["result"]["samples"][-1][0] for r in rows if r["figure"] == "rest" and r["result"]["samples"]), default=0)
    line(f"9. memory at rest (history age {age // 1000} s, RSS after {secs} s)", "MiB", g("before"), g("after"), lambda v: f"{v:.1f}")
    g = lambda w: [r["result"]["history_bytes"] / 2**20 for r in pick("rest", w) if r["result"].get("history_bytes")]
    line("9. (history held at the end)", "MiB", g("before"), g("after"), lambda v: f"{v:.1f}")
print()
print("Load average (1, 5, 15 min) at each mark:")
for l in open(sys.argv[2]):
    t, label, *la = l.split()
    print(f"- {label} (+{t} s): {' '.join(la)}")
EOF
}

# The table alone, from an earlier run's directory: bench/compare.sh --table OUT
if [ "${1:-}" = --table ]; then print_table "$2/results.jsonl" "$2/loadavg.txt"; exit 0; fi

if [ $# -ne 3 ]; then sed -n '2,25p' "$0"; exit 2; fi
before_bin="$(readlink -f "$1")"; after_bin="$(readlink -f "$2")"; load_bin="$(readlink -f "$3")"
for b in "$before_bin" "$after_bin" "$load_bin"; do [ -x "$b" ] || { echo "not executable: $b" >&2; exit 2; }; done
sim_bin="$(readlink -f "${SIM_BIN:-$before_bin}")"

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${OUT:-$root/target/bench-compare}" && cd "${OUT:-$root/target/bench-compare}" && pwd)"
results="$out/results.jsonl"
: > "$results"
: > "$out/loadavg.txt"
started=$(date +%s)

ROUNDS_CPU=${ROUNDS_CPU:-3}
CPU_CLIENTS=${CPU_CLIENTS:-"100 1000"}
CPU_WINDOW=${CPU_WINDOW:-10}
QUIET_ROUNDS=${QUIET_ROUNDS:-2}
QUIET_SECS=${QUIET_SECS:-20}
STORM_ROUNDS=${STORM_ROUNDS:-2}
REST_SECS=${REST_SECS:-180}
REST_AGE_MS=${REST_AGE_MS:-60000}
REST_COPIES=${REST_COPIES:-2}
FIGURES=${FIGURES:-"0 7 3 9"}
WAIT_QUIET_S=${WAIT_QUIET_S:-0}
WAIT_LOAD=${WAIT_LOAD:-1.0}

pids=()
# A pid and all its descendants (from /proc/*/stat), the pid first. The storm's relay is the load tool's child: the
# tool kills it on drop, but not when the tool itself is killed, so a stop takes the whole tree at once.
tree() {
  python3 - "$1" <<'PYEOF'
import os, sys
kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            st = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
out, todo = [], [int(sys.argv[1])]
while todo:
    p = todo.pop()
    out.append(p)
    todo.extend(kids.get(p, []))
print(" ".join(map(str, out)))
PYEOF
}
kill_tree() {
  local p
  for p in $(tree "$1"); do kill "$p" 2>/dev/null || true; done
}
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill_tree "$p"; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== [%4d s] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }
stop() {
  local pid="$1" keep=() p
  kill_tree "$pid"
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]:-}"; do [ "$p" != "$pid" ] && [ -n "$p" ] && keep+=("$p"); done
  pids=("${keep[@]:-}")
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# Notes the load average at a point of the run: mark LABEL
mark() { echo "$(( $(date +%s) - started )) $1 $(loadavg)" >> "$out/loadavg.txt"; echo "   load average ($1): $(loadavg)" >&2; }
wait_http() {
  for _ in $(seq 1 400); do
    if python3 - "$1" <<'EOF' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1).read()
EOF
    sleep 0.05
  done
  echo "no answer from $1" >&2
  return 1
}
set_tick() {
  python3 - "http://127.0.0.1:$SIM_PORT/sim/tick-ms?ms=$1" <<'EOF' || echo "could not set the tick period" >&2
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST"), timeout=5).read()
EOF
}
# record FIGURE WHICH ROUND JSON
record() {
  python3 - "$1" "$2" "$3" "$4" "$(loadavg)" >>"$results" <<'EOF'
import json, sys
fig, which, rnd, body, la = sys.argv[1:6]
try:
    r = json.loads(body)
except ValueError:
    r = {"error": "unparsable", "raw": body[:500]}
print(json.dumps({"figure": fig, "which": which, "round": int(rnd), "loadavg_after": la, "result": r}))
EOF
}

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- the settings of scripts/bench.sh ----------------------------------------------------------------------------------
SIM_PORT=18900
SIM_START=2026-12-02T10:15-05:00
RELAY_PORT=18080
REST_PORT0=18081
TICK_MS=50
LOAD_CONTRACTS=480
STORM_CLIENTS=1000
declare -A CPU_TICK=([100]=5 [1000]=50)
relay_env=(
  TICKDESK_LISTEN="127.0.0.1:$RELAY_PORT"
  TICKDESK_SCHWAB_API="http://127.0.0.1:$SIM_PORT"
  TICKDESK_SIM_START="$SIM_START"
  TICKDESK_SYMBOLS=SIMX
  TICKDESK_SCHWAB_STRIKE_WINDOW=0
  TICKDESK_SCHWAB_MIN_OI=0
  TICKDESK_SCHWAB_MAX_DTE=400
  TICKDESK_SCHWAB_KEY_BUDGET=2000
  TICKDESK_STATIC_DIR=/nonexistent-bench
  TICKDESK_IDLE_TIMEOUT_MS=600000
  TICKDESK_SEED=7
  TICKDESK_BINANCE=off
  RUST_LOG=warn
)
bin_of() { if [ "$1" = before ]; then echo "$before_bin"; else echo "$after_bin"; fi; }

# Every relay runs in a scratch directory of its own (nothing it might write lands in the repository).
mkdir -p "$out/run-before" "$out/run-after" "$out/run-sim"

{
  echo "before: $before_bin ($(sha256sum "$before_bin" | cut -c1-12))"
  echo "after:  $after_bin ($(sha256sum "$after_bin" | cut -c1-12))"
  echo "load:   $load_bin ($(sha256sum "$load_bin" | cut -c1-12))"
  echo "sim:    $sim_bin simulator"
  echo "settings: ROUNDS_CPU=$ROUNDS_CPU CPU_CLIENTS='$CPU_CLIENTS' CPU_WINDOW=$CPU_WINDOW QUIET_ROUNDS=$QUIET_ROUNDS QUIET_SECS=$QUIET_SECS STORM_ROUNDS=$STORM_ROUNDS REST_SECS=$REST_SECS REST_AGE_MS=$REST_AGE_MS REST_COPIES=$REST_COPIES FIGURES='$FIGURES'"
} | tee "$out/setup.txt" >&2

# --- wait for a quiet machine (optional) -----------------------------------------------------------------------------
if [ "$WAIT_QUIET_S" -gt 0 ]; then
  step "waiting up to ${WAIT_QUIET_S} s for the 1-minute load average < $WAIT_LOAD"
  waited=0
  while :; do
    la=$(cut -d' ' -f1 /proc/loadavg)
    echo "   $(date -u +%H:%M:%S) load average $(loadavg)" >&2
    if python3 -c "import sys; sys.exit(0 if float('$la') < float('$WAIT_LOAD') else 1)"; then break; fi
    if [ "$waited" -ge "$WAIT_QUIET_S" ]; then echo "   never got quiet: running anyway" >&2; break; fi
    sleep 30; waited=$(( waited + 30 ))
  done
  echo "waited ${waited} s; load average at start $(loadavg)" >> "$out/setup.txt"
fi

# --- the simulator, shared by every run --------------------------------------------------------------------------------
has_fig() { case " $FIGURES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if has_fig 0 || has_fig 7 || has_fig 3; then
  step "simulator: $sim_bin simulator, SIMX with $LOAD_CONTRACTS contracts, a tick every $TICK_MS ms"
  (cd "$out/run-sim" && exec "$sim_bin" simulator --listen "127.0.0.1:$SIM_PORT" --seed 7 --tick-ms "$TICK_MS" \
     --start "$SIM_START" --load-contracts "$LOAD_CONTRACTS" --key-cap 5000 --idle-code30-ms 600000) >"$out/sim.log" 2>&1 &
  sim_pid=$!
  pids+=("$sim_pid")
  wait_http "http://127.0.0.1:$SIM_PORT/sim/state"
fi

start_relay() { # WHICH
  (cd "$out/run-$1" && exec env "${relay_env[@]}" "$(bin_of "$1")") >>"$out/relay-$1.log" 2>&1 &
  relay_pid=$!
  pids+=("$relay_pid")
  wait_http "http://127.0.0.1:$RELAY_PORT/healthz"
}

# --- 0. CPU per delivered update ---------------------------------------------------------------------------------------
if has_fig 0; then
  for n in $CPU_CLIENTS; do
    t=${CPU_TICK[$n]}
    step "figure 0: CPU per update, $n clients at a $t ms tick, $ROUNDS_CPU rounds (before, after, …)"
    mark "fig0-$n-start"
    for r in $(seq 1 "$ROUNDS_CPU"); do
      for which in before after; do
        start_relay "$which"
        sleep 1
        set_tick "$t"
        if ! res=$(timeout 120 "$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients "$n" \
              --warmup-s 2 --duration-s "$CPU_WINDOW" --pid "$relay_pid" --sim-pid "$sim_pid" --ready-timeout-s 20 \
              2>>"$out/load.log"); then
          res='{"error": "tickdesk-load fanout failed"}'
        fi
        set_tick "$TICK_MS"
        stop "$relay_pid"
        record "cpu-$n" "$which" "$r" "$res"
        python3 - "$res" "$which" "$r" <<'EOF' >&2
import json, sys
d = json.loads(sys.argv[1]); c = d.get("cpu") or {}
ups = d.get("updates_per_s") or 0
per = 1e9 * c["server_cores"] / ups if ups and c.get("server_cores") is not None else float("nan")
print(f"   round {sys.argv[3]} {sys.argv[2]:6}: {ups:,.0f} updates/s, relay {c.get('server_cores', float('nan')):.3f} cores, "
      f"{per:,.0f} µs per 1,000 updates, p99 {d.get('p99_ms', float('nan')):.1f} ms, machine {c.get('machine_cores', float('nan')):.2f} cores")
EOF
      done
    done
    mark "fig0-$n-end"
  done
fi

# --- 7. quiet topic ----------------------------------------------------------------------------------------------------
if has_fig 7; then
  step "figure 7: quiet topic, $QUIET_ROUNDS rounds, ${QUIET_SECS} s windows"
  mark "fig7-start"
  for r in $(seq 1 "$QUIET_ROUNDS"); do
    for which in before after; do
      start_relay "$which"
      "$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients 1 --warmup-s 1 \
        --duration-s $(( 2 * QUIET_SECS + 60 )) >/dev/null 2>>"$out/quiet-busy.log" &
      busy_pid=$!
      pids+=("$busy_pid")
      sleep 3
      base=$(timeout 90 "$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients 1 --warmup-s 2 \
          --duration-s "$QUIET_SECS" --pid "$relay_pid" --sim-pid "$sim_pid" 2>>"$out/load.log") \
        || base='{"error": "tickdesk-load fanout failed"}'
      quiet=$(timeout 120 "$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients 1000 \
          --topics signals --warmup-s 2 --duration-s "$QUIET_SECS" --pid "$relay_pid" --sim-pid "$sim_pid" \
          --ready-timeout-s 30 2>>"$out/load.log") || quiet='{"error": "tickdesk-load fanout failed"}'
      stop "$busy_pid"
      stop "$relay_pid"
      record "quiet" "$which" "$r" "{\"base\": $base, \"quiet\": $quiet}"
      python3 - "$base" "$quiet" "$which" "$r" <<'EOF' >&2
import json, sys
b, q = (json.loads(x).get("cpu") or {} for x in sys.argv[1:3])
bc, qc = b.get("server_cores", float("nan")), q.get("server_cores", float("nan"))
print(f"   round {sys.argv[4]} {sys.argv[3]:6}: chain only {bc:.4f} cores, + 1,000 on signals {qc:.4f} cores, added {qc - bc:.4f}")
EOF
    done
  done
  mark "fig7-end"
fi

# --- 3. reconnect storm ------------------------------------------------------------------------------------------------
if has_fig 3; then
  step "figure 3: reconnect storm, $STORM_CLIENTS clients, $STORM_ROUNDS rounds"
  mark "fig3-start"
  for r in $(seq 1 "$STORM_ROUNDS"); do
    for which in before after; do
      (cd "$out/run-$which" && exec env "${relay_env[@]}" "$load_bin" storm --relay-cmd "$(bin_of "$which")" \
         --relay-addr "127.0.0.1:$RELAY_PORT" --relay-log "$out/relay-$which.log" --sim "http://127.0.0.1:$SIM_PORT" \
         --clients "$STORM_CLIENTS" --timeout-s 30) >"$out/storm.out" 2>>"$out/load.log" &
      storm_pid=$!
      pids+=("$storm_pid")
      # Bounded: after 150 s the tool and the relay it started are stopped together.
      for _ in $(seq 1 300); do kill -0 "$storm_pid" 2>/dev/null || break; sleep 0.5; done
      if kill -0 "$storm_pid" 2>/dev/null; then
        echo "   storm run took over 150 s: stopped" >&2
        stop "$storm_pid"
        res='{"error": "tickdesk-load storm timed out"}'
      else
        wait "$storm_pid" && res=$(cat "$out/storm.out") || res='{"error": "tickdesk-load storm failed"}'
        stop "$storm_pid"
      fi
      record "storm" "$which" "$r" "$res"
      python3 - "$res" "$which" "$r" <<'EOF' >&2
import json, sys
d = json.loads(sys.argv[1])
print(f"   round {sys.argv[3]} {sys.argv[2]:6}: listening after {d.get('kill_to_listening_ms', float('nan')):.0f} ms, "
      f"all back after {d.get('all_back_ms') or float('nan'):.0f} ms ({d.get('clients_back')}/{d.get('clients')}), "
      f"upstream opened {d.get('upstream_connections_opened')}, logins {d.get('upstream_logins')}, max open {d.get('upstream_max_open')}")
EOF
      sleep 2
    done
  done
  mark "fig3-end"
fi

if [ -n "${sim_pid:-}" ]; then stop "$sim_pid"; fi

# --- 9. memory at rest -------------------------------------------------------------------------------------------------
if has_fig 9; then
  step "figure 9: memory at rest, $REST_COPIES of each binary side by side, history age $REST_AGE_MS ms, ${REST_SECS} s"
  mark "fig9-start"
  rest=()   # "which copy port pid"
  port=$REST_PORT0
  for c in $(seq 1 "$REST_COPIES"); do
    for which in before after; do
      mkdir -p "$out/run-rest-$which-$c"
      (cd "$out/run-rest-$which-$c" && exec env TICKDESK_LISTEN="127.0.0.1:$port" TICKDESK_STATIC_DIR=/nonexistent-bench \
         TICKDESK_SEED=7 TICKDESK_BINANCE=sim TICKDESK_SIM_START="$SIM_START" TICKDESK_HISTORY_MAX_AGE_MS="$REST_AGE_MS" \
         RUST_LOG=warn "$(bin_of "$which")") >"$out/relay-rest-$which-$c.log" 2>&1 &
      pids+=("$!")
      rest+=("$which $c $port $!")
      port=$(( port + 1 ))
    done
  done
  rest_started=$(date +%s)
  : > "$out/rest-rss.txt"
  for t in $(seq 0 15 "$REST_SECS"); do
    while [ $(( $(date +%s) - rest_started )) -lt "$t" ]; do sleep 0.5; done
    for e in "${rest[@]}"; do
      set -- $e
      kb=$(awk '/^VmRSS:/{print $2}' "/proc/$4/status" 2>/dev/null || true)
      echo "$1 $2 $t ${kb:-null}" >> "$out/rest-rss.txt"
    done
  done
  for e in "${rest[@]}"; do
    set -- $e
    hist=$(python3 - "http://127.0.0.1:$3/metrics" <<'EOF' 2>/dev/null || echo null
import sys, urllib.request
t = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
print(sum(float(l.rsplit(" ", 1)[1]) for l in t.splitlines() if l.startswith("tickdesk_history_bytes")))
EOF
)
    res=$(python3 - "$out/rest-rss.txt" "$1" "$2" "$hist" "$REST_AGE_MS" <<'EOF'
import json, sys
path, which, copy, hist, age = sys.argv[1:6]
s = [(int(t), int(kb)) for w, c, t, kb in (l.split() for l in open(path)) if w == which and c == copy and kb != "null"]
print(json.dumps({"age_ms": int(age), "samples": s, "rss_end_kb": s[-1][1] if s else None,
                  "history_bytes": None if hist == "null" else float(hist)}))
EOF
)
    record "rest" "$1" "$2" "$res"
    stop "$4"
  done
  mark "fig9-end"
fi

# --- the table ---------------------------------------------------------------------------------------------------------
step "done in $(( $(date +%s) - started )) s; raw results: $results"
print_table "$results" "$out/loadavg.txt" | tee "$out/table.md"
