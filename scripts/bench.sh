#!/usr/bin/env bash
# The benchmark suite: builds what it needs (release), runs every figure on loopback, rewrites BENCHMARKS.md.
#
#   scripts/bench.sh            # the full suite (about 15 minutes on 2 cores, after the first build)
#   scripts/bench.sh --quick    # shorter windows, same figures (under 5 minutes after the first build)
#
# Figures (issue #7): fan-out capacity vs the FastAPI and Node ws peers at 100 and 1,000 clients (the simulator's
# tick period is stepped down until p99 > 50 ms; the highest passing delivered rate per server); relay memory with 10% of
# 1,000 clients stalled; a reconnect storm of 1,000 clients; the app's size; memory per idle connection; and the
# browser figure from bench/browser.cjs when that file exists. Everything runs on 127.0.0.1, bounded in count and
# time; every process started here is stopped on exit. Raw results: target/bench/results.jsonl, logs beside it.
# Benchmarks print figures; they are not tests (scripts/test.sh does not run them).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $a (use --quick)" >&2; exit 2 ;;
  esac
done

out="$root/target/bench"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
started=$(date +%s)

pids=()
cleanup() {
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== [%3d s] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }
# Stops one process started here and forgets it.
stop() {
  local pid="$1"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=()
  for p in "${pids[@]:-}"; do [ "$p" != "$pid" ] && [ -n "$p" ] && keep+=("$p"); done
  pids=("${keep[@]:-}")
}
# Waits until an HTTP GET answers 200 (up to 20 s).
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
# Waits until a TCP port accepts (up to 20 s).
wait_port() {
  for _ in $(seq 1 400); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}
# Sets the simulator's tick period (ms).
set_tick() {
  python3 - "http://127.0.0.1:$SIM_PORT/sim/tick-ms?ms=$1" <<'EOF' || echo "could not set the tick period" >&2
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST"), timeout=5).read()
EOF
}
# Appends one result line: record NAME JSON COMMAND
record() {
  python3 - "$1" "$2" "$3" >>"$results" <<'EOF'
import json, sys
name, body, cmd = sys.argv[1], sys.argv[2], sys.argv[3]
print(json.dumps({"name": name, "cmd": cmd, "result": json.loads(body)}))
EOF
}

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- settings of the load (the same for every server) ---------------------------------------------------------------
SIM_PORT=18900
# The market moment the simulator and the relay run at: a regular session, whenever the benchmarks run.
SIM_START=2026-12-02T10:15-05:00
RELAY_PORT=18080
FASTAPI_PORT=18101
NODE_PORT=18102
TICK_MS=${BENCH_TICK_MS:-50}              # market ticks: 20 per second
LOAD_CONTRACTS=${BENCH_LOAD_CONTRACTS:-480} # SIMX listing; the nearest expiry carries about 1/8 of it
# Capacity steps: simulator tick periods (ms), slowest first (POST /sim/tick-ms goes down to 5 ms).
if [ "$quick" = 1 ]; then
  CPU_WINDOW=6; QUIET_SECS=10; REST_AGE_MS=60000; REST_SECS=90
  CAP_WARMUP=1; CAP_WINDOW=4; STALL_SECS=15
  CAP_STEPS_100=50,25,10,5; CAP_STEPS_1000=1000,250,100,50
else
  CPU_WINDOW=10; QUIET_SECS=20; REST_AGE_MS=300000; REST_SECS=360
  CAP_WARMUP=2; CAP_WINDOW=10; STALL_SECS=60
  CAP_STEPS_100=200,100,50,25,10,5; CAP_STEPS_1000=1000,500,250,100,50,25,10
fi
FANOUT_CLIENTS=(100 1000)
STORM_CLIENTS=1000
IDLE_CLIENTS=1000
TAP="ws://127.0.0.1:$SIM_PORT/sim/ticks?underlying=SIMX&expiry=nearest"
# CPU per delivered update at equal offered load: the tick period per client count (100 clients: 5 ms, 1,000: 50 ms).
CPU_TICKS=(100:5 1000:50)
# Many topics: a second simulator whose SIMX lists MANY_TOPICS expiries of MANY_CONTRACTS/MANY_TOPICS contracts each.
MANY_SIM_PORT=18901
MANY_TOPICS=100
MANY_CONTRACTS=${BENCH_MANY_CONTRACTS:-1000}
MANY_TICK_MS=${BENCH_MANY_TICK_MS:-1000}
MANY_TAP="ws://127.0.0.1:$MANY_SIM_PORT/sim/ticks?underlying=SIMX"
# Memory at rest: the default desk (built-in simulator, default symbols), no client, on its own port.
REST_PORT=18081

# --- build and install ------------------------------------------------------------------------------------------------
step "build (release): tickdesk-relay, tickdesk-load"
cargo build --release -p tickdesk-relay -p tickdesk-load
# CARGO_TARGET_DIR is honoured (a target dir of one's own keeps other builds from replacing the binaries mid-run).
target_dir="${CARGO_TARGET_DIR:-$root/target}"
relay_bin="$target_dir/release/tickdesk-relay"
load_bin="$target_dir/release/tickdesk-load"

step "peers: Python venv (.venv-bench) and npm ci (bench/peers)"
venv="$root/.venv-bench"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.requirements"
if ! cmp -s "$root/bench/peers/requirements.txt" "$stamp"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/bench/peers/requirements.txt"
  cp "$root/bench/peers/requirements.txt" "$stamp"
fi
if ! cmp -s "$root/bench/peers/package-lock.json" "$root/bench/peers/node_modules/.package-lock.json" 2>/dev/null \
   || [ ! -d "$root/bench/peers/node_modules/ws" ]; then
  (cd "$root/bench/peers" && npm ci --no-audit --no-fund --silent)
fi

# --- the simulator, shared by every run (it outlives relay restarts) ------------------------------------------------
start_sim() {
  "$relay_bin" simulator --listen "127.0.0.1:$SIM_PORT" --seed 7 --tick-ms "$TICK_MS" --start "$SIM_START" \
    --load-contracts "$LOAD_CONTRACTS" --key-cap 5000 --idle-code30-ms 600000 >"$out/sim.log" 2>&1 &
  sim_pid=$!
  pids+=("$sim_pid")
  wait_http "http://127.0.0.1:$SIM_PORT/sim/state"
}

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
relay_cmd_text="env ${relay_env[*]} target/release/tickdesk-relay"

start_relay() {
  env "${relay_env[@]}" "$relay_bin" >>"$out/relay.log" 2>&1 &
  relay_pid=$!
  pids+=("$relay_pid")
  wait_http "http://127.0.0.1:$RELAY_PORT/healthz"
}

start_fastapi() {
  "$venv/bin/python" "$root/bench/peers/fastapi_peer.py" --listen "127.0.0.1:$FASTAPI_PORT" --upstream "$TAP" \
    >>"$out/fastapi.log" 2>&1 &
  peer_pid=$!
  pids+=("$peer_pid")
  wait_port "$FASTAPI_PORT"
}

start_node() {
  node "$root/bench/peers/node_peer.js" --listen "127.0.0.1:$NODE_PORT" --upstream "$TAP" >>"$out/node.log" 2>&1 &
  peer_pid=$!
  pids+=("$peer_pid")
  wait_port "$NODE_PORT"
}

# --- 9. relay memory at rest: the default desk, no client, until its history is full (runs beside the rest) ---------
# The history's age bound is REST_AGE_MS (the default 5 min in the full run, 1 min in --quick); RSS is sampled every
# 15 s for REST_SECS. It costs the machine little (the default desk ticks every 250 ms), but it is one more process on
# the two cores: the figures below run beside it.
rest_env=(TICKDESK_LISTEN="127.0.0.1:$REST_PORT" TICKDESK_STATIC_DIR=/nonexistent-bench TICKDESK_SEED=7 TICKDESK_BINANCE=sim
          TICKDESK_SIM_START="$SIM_START" TICKDESK_HISTORY_MAX_AGE_MS="$REST_AGE_MS" RUST_LOG=warn)
step "memory at rest: default desk, history age ${REST_AGE_MS} ms, sampled for ${REST_SECS} s in the background"
env "${rest_env[@]}" "$relay_bin" >"$out/relay-rest.log" 2>&1 &
rest_pid=$!
pids+=("$rest_pid")
rest_started=$(date +%s)
(
  for _ in $(seq 0 15 "$REST_SECS"); do
    kb=$(awk '/^VmRSS:/{print $2}' "/proc/$rest_pid/status" 2>/dev/null || true)
    echo "$(( $(date +%s) - rest_started )) ${kb:-null}"
    sleep 15
  done
) >"$out/rest-rss.txt" 2>/dev/null &
rest_sampler=$!
pids+=("$rest_sampler")

step "simulator: SIMX with $LOAD_CONTRACTS contracts, a tick every $TICK_MS ms"
start_sim
cmd="tickdesk-load fanout --mode plain --url '$TAP' --clients 1 --warmup-s 1 --duration-s 3"
r=$("$load_bin" fanout --mode plain --url "$TAP" --clients 1 --warmup-s 1 --duration-s 3)
record "upstream" "$r" "$cmd"

# --- 0. CPU per delivered update at equal offered load: ours vs each peer (the headline ratio) ------------------------
# Each server alone, N clients, the simulator at one fixed tick period: the server's CPU (user + system, /proc) over
# the window divided by the contract updates its clients received.
cpu_per_update() { # NAME MODE URL N PID TICK SERVER-COMMAND-TEXT
  local r text="tickdesk-load fanout --mode $2 --url $3 --clients $4 --warmup-s 2 --duration-s $CPU_WINDOW --pid <server> --sim-pid <simulator>"
  set_tick "$6"
  if ! r=$(timeout 120 "$load_bin" fanout --mode "$2" --url "$3" --clients "$4" --warmup-s 2 --duration-s "$CPU_WINDOW" \
        --pid "$5" --sim-pid "$sim_pid" --ready-timeout-s 20); then
    r='{"error": "tickdesk-load fanout failed"}'
  fi
  record "$1" "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["tick_ms"]=int(sys.argv[2]); print(json.dumps(d))' "$r" "$6")" \
    "$7 & (POST /sim/tick-ms?ms=$6) $text"
  set_tick "$TICK_MS"
}
for nt in "${CPU_TICKS[@]}"; do
  n=${nt%%:*}; t=${nt##*:}
  step "CPU per update, $n clients at a $t ms tick: tickdesk relay, FastAPI, Node ws"
  start_relay
  cpu_per_update "cpu-tickdesk-$n" tickdesk "ws://127.0.0.1:$RELAY_PORT/ws" "$n" "$relay_pid" "$t" "$relay_cmd_text"
  stop "$relay_pid"
  start_fastapi
  cpu_per_update "cpu-fastapi-$n" plain "ws://127.0.0.1:$FASTAPI_PORT/ws" "$n" "$peer_pid" "$t" \
    ".venv-bench/bin/python bench/peers/fastapi_peer.py --upstream '$TAP'"
  stop "$peer_pid"
  start_node
  cpu_per_update "cpu-node-$n" plain "ws://127.0.0.1:$NODE_PORT/ws" "$n" "$peer_pid" "$t" \
    "node bench/peers/node_peer.js --upstream '$TAP'"
  stop "$peer_pid"
done

# --- 1. fan-out capacity: ours vs each peer ---------------------------------------------------------------------------
# Per server and client count: the clients connect once (at the slowest step), then the simulator's tick period steps
# down (POST /sim/tick-ms) so the offered load steps up; each step has a warm-up and a measured window, and the search
# stops at the first step with p99 > 50 ms, < 90% of the offered updates delivered, or clients missing.
capacity() { # capacity NAME MODE URL N PID SERVER-COMMAND-TEXT
  local name="$1" mode="$2" url="$3" n="$4" pid="$5" steps
  if [ "$n" -ge 1000 ]; then steps="$CAP_STEPS_1000"; else steps="$CAP_STEPS_100"; fi
  local args=(capacity --mode "$mode" --url "$url" --clients "$n" --sim "http://127.0.0.1:$SIM_PORT" --tap "$TAP"
              --tick-ms "$steps" --warmup-s "$CAP_WARMUP" --window-s "$CAP_WINDOW" --limit-ms 50 --min-share 0.9
              --ready-timeout-s 20 --retries 1 --restore-tick-ms "$TICK_MS" --pid "$pid" --sim-pid "$sim_pid")
  local text="tickdesk-load capacity --mode $mode --url $url --clients $n --sim http://127.0.0.1:$SIM_PORT --tap '$TAP' --tick-ms $steps --warmup-s $CAP_WARMUP --window-s $CAP_WINDOW --limit-ms 50 --min-share 0.9 --retries 1 --pid <server> --sim-pid <simulator>"
  local r
  if r=$(timeout 150 "$load_bin" "${args[@]}"); then
    record "$name" "$r" "$6 & $text"
  else
    echo "capacity run $name failed" >&2
    record "$name" '{"error": "tickdesk-load capacity failed"}' "$6 & $text"
  fi
  set_tick "$TICK_MS"
}
for n in "${FANOUT_CLIENTS[@]}"; do
  step "fan-out capacity, $n clients: tickdesk relay"
  start_relay
  capacity "capacity-tickdesk-$n" tickdesk "ws://127.0.0.1:$RELAY_PORT/ws" "$n" "$relay_pid" "$relay_cmd_text"
  stop "$relay_pid"

  step "fan-out capacity, $n clients: FastAPI peer"
  start_fastapi
  capacity "capacity-fastapi-$n" plain "ws://127.0.0.1:$FASTAPI_PORT/ws" "$n" "$peer_pid" \
    ".venv-bench/bin/python bench/peers/fastapi_peer.py --upstream '$TAP'"
  stop "$peer_pid"

  step "fan-out capacity, $n clients: Node ws peer"
  start_node
  capacity "capacity-node-$n" plain "ws://127.0.0.1:$NODE_PORT/ws" "$n" "$peer_pid" \
    "node bench/peers/node_peer.js --upstream '$TAP'"
  stop "$peer_pid"
done

# --- 2. stalled clients: memory with 10% of 1,000 not reading (ours, and the peers for comparison) ----------------
stall_args=(--clients 1000 --stall-fraction 0.1 --warmup-s 2 --duration-s "$STALL_SECS" --rss-every-s 5 --ready-timeout-s 20)
stall_text="--clients 1000 --stall-fraction 0.1 --warmup-s 2 --duration-s $STALL_SECS --rss-every-s 5"
step "stalled clients: 1,000 clients, 100 not reading, ${STALL_SECS} s: tickdesk relay"
start_relay
r=$("$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --pid "$relay_pid" "${stall_args[@]}")
record "stalled-tickdesk" "$r" "$relay_cmd_text & tickdesk-load fanout --mode tickdesk --url ws://127.0.0.1:$RELAY_PORT/ws $stall_text --pid <relay>"
stop "$relay_pid"
step "stalled clients: FastAPI peer"
start_fastapi
r=$("$load_bin" fanout --mode plain --url "ws://127.0.0.1:$FASTAPI_PORT/ws" --pid "$peer_pid" "${stall_args[@]}")
record "stalled-fastapi" "$r" "python bench/peers/fastapi_peer.py & tickdesk-load fanout --mode plain --url ws://127.0.0.1:$FASTAPI_PORT/ws $stall_text --pid <peer>"
stop "$peer_pid"
step "stalled clients: Node ws peer"
start_node
r=$("$load_bin" fanout --mode plain --url "ws://127.0.0.1:$NODE_PORT/ws" --pid "$peer_pid" "${stall_args[@]}")
record "stalled-node" "$r" "node bench/peers/node_peer.js & tickdesk-load fanout --mode plain --url ws://127.0.0.1:$NODE_PORT/ws $stall_text --pid <peer>"
stop "$peer_pid"

# --- 6. memory per idle connection ----------------------------------------------------------------------------------
step "memory per idle connection: $IDLE_CLIENTS clients"
start_relay
cmd="tickdesk-load idle --url ws://127.0.0.1:$RELAY_PORT/ws --clients $IDLE_CLIENTS --pid <relay>"
r=$("$load_bin" idle --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients "$IDLE_CLIENTS" --pid "$relay_pid")
record "idle-$IDLE_CLIENTS" "$r" "$relay_cmd_text & $cmd"
stop "$relay_pid"

# --- 7. a quiet topic: 1,000 clients on `signals` while the SIMX chain and the rates desk tick ---------------------
# One more client watches SIMX's nearest chain, so the relay streams it (it streams what clients watch); the relay's
# CPU is measured with chain clients alone first (its own work: the chain, the rates desk), then with the 1,000 quiet
# clients added.
step "quiet topic: 1,000 clients on signals while SIMX (one client) and the rates desk tick"
start_relay
"$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients 1 --warmup-s 1 \
  --duration-s $(( 2 * QUIET_SECS + 60 )) >/dev/null 2>"$out/quiet-busy.log" &
busy_pid=$!
pids+=("$busy_pid")
sleep 3
quiet_text="tickdesk-load fanout --mode tickdesk --url ws://127.0.0.1:$RELAY_PORT/ws --warmup-s 2 --duration-s $QUIET_SECS --pid <relay> --sim-pid <simulator>"
r=$("$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients 1 --warmup-s 2 \
    --duration-s "$QUIET_SECS" --pid "$relay_pid" --sim-pid "$sim_pid") || r='{"error": "tickdesk-load fanout failed"}'
record "quiet-base" "$r" "$relay_cmd_text & (one client on the SIMX chain) & $quiet_text --clients 1 (a second chain client)"
r=$("$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients 1000 --topics signals \
    --warmup-s 2 --duration-s "$QUIET_SECS" --pid "$relay_pid" --sim-pid "$sim_pid" --ready-timeout-s 30) \
  || r='{"error": "tickdesk-load fanout failed"}'
record "quiet-1000" "$r" "$relay_cmd_text & (one client on the SIMX chain) & $quiet_text --clients 1000 --topics signals"
stop "$busy_pid"
stop "$relay_pid"

# --- 8. many topics: 1,000 clients spread over 100 chains (a second simulator with 100 SIMX expiries) -----------------
step "many topics: $MANY_TOPICS SIMX expiries, $MANY_CONTRACTS contracts, a tick every $MANY_TICK_MS ms"
"$relay_bin" simulator --listen "127.0.0.1:$MANY_SIM_PORT" --seed 7 --tick-ms "$MANY_TICK_MS" --start "$SIM_START" \
  --load-contracts "$MANY_CONTRACTS" --load-expiries "$MANY_TOPICS" --key-cap 10000 --idle-code30-ms 600000 \
  >"$out/sim-many.log" 2>&1 &
many_sim_pid=$!
pids+=("$many_sim_pid")
wait_http "http://127.0.0.1:$MANY_SIM_PORT/sim/state"
many_env=("${relay_env[@]}" TICKDESK_SCHWAB_API="http://127.0.0.1:$MANY_SIM_PORT" TICKDESK_SCHWAB_KEY_BUDGET=5000)
many_text="tickdesk-load fanout --clients 1000 --warmup-s 2 --duration-s $QUIET_SECS --pid <server> --sim-pid <simulator>"
env "${many_env[@]}" "$relay_bin" >>"$out/relay.log" 2>&1 &
relay_pid=$!
pids+=("$relay_pid")
wait_http "http://127.0.0.1:$RELAY_PORT/healthz"
r=$(timeout 150 "$load_bin" fanout --mode tickdesk --url "ws://127.0.0.1:$RELAY_PORT/ws" --clients 1000 \
    --chains "$MANY_TOPICS" --warmup-s 2 --duration-s "$QUIET_SECS" --pid "$relay_pid" --sim-pid "$many_sim_pid" \
    --ready-timeout-s 40) || r='{"error": "tickdesk-load fanout failed"}'
record "many-tickdesk" "$r" "env ${many_env[*]} target/release/tickdesk-relay & $many_text --mode tickdesk --chains $MANY_TOPICS"
stop "$relay_pid"
for peer in fastapi node; do
  if [ "$peer" = fastapi ]; then
    "$venv/bin/python" "$root/bench/peers/fastapi_peer.py" --listen "127.0.0.1:$FASTAPI_PORT" --upstream "$MANY_TAP" \
      >>"$out/fastapi.log" 2>&1 &
    port=$FASTAPI_PORT; ptext=".venv-bench/bin/python bench/peers/fastapi_peer.py --upstream '$MANY_TAP'"
  else
    node "$root/bench/peers/node_peer.js" --listen "127.0.0.1:$NODE_PORT" --upstream "$MANY_TAP" >>"$out/node.log" 2>&1 &
    port=$NODE_PORT; ptext="node bench/peers/node_peer.js --upstream '$MANY_TAP'"
  fi
  peer_pid=$!
  pids+=("$peer_pid")
  wait_port "$port"
  r=$(timeout 150 "$load_bin" fanout --mode plain --url "ws://127.0.0.1:$port/ws" --clients 1000 --warmup-s 2 \
      --duration-s "$QUIET_SECS" --pid "$peer_pid" --sim-pid "$many_sim_pid" --ready-timeout-s 40) \
    || r='{"error": "tickdesk-load fanout failed"}'
  record "many-$peer" "$r" "$ptext & $many_text --mode plain"
  stop "$peer_pid"
done
stop "$many_sim_pid"

# --- 3. reconnect storm ---------------------------------------------------------------------------------------------
step "reconnect storm: $STORM_CLIENTS clients, relay killed (SIGKILL) and restarted"
cmd="tickdesk-load storm --relay-cmd target/release/tickdesk-relay --relay-addr 127.0.0.1:$RELAY_PORT --sim http://127.0.0.1:$SIM_PORT --clients $STORM_CLIENTS"
r=$(env "${relay_env[@]}" "$load_bin" storm --relay-cmd "$relay_bin" --relay-addr "127.0.0.1:$RELAY_PORT" \
    --relay-log "$out/relay.log" --sim "http://127.0.0.1:$SIM_PORT" --clients "$STORM_CLIENTS" --timeout-s 30)
record "storm-$STORM_CLIENTS" "$r" "env ${relay_env[*]} $cmd"

stop "$sim_pid"

# --- 9. (the end) memory at rest: wait for the sampler's last sample, then read it with the history's own figures ---
left=$(( REST_SECS + 5 - ($(date +%s) - rest_started) ))
if [ "$left" -gt 0 ]; then
  step "memory at rest: waiting ${left} s for the last sample"
  sleep "$left"
fi
python3 - "http://127.0.0.1:$REST_PORT/metrics" >"$out/rest-metrics.txt" 2>/dev/null <<'PYEOF' || true
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
PYEOF
r=$(python3 - "$out/rest-rss.txt" "$out/rest-metrics.txt" "$REST_AGE_MS" <<'PYEOF'
import json, sys
samples = []
for line in open(sys.argv[1]):
    t, kb = line.split()
    if kb != "null":
        samples.append((int(t), int(kb)))
hist = 0.0
for line in open(sys.argv[2]):
    if line.startswith("tickdesk_history_bytes"):
        try:
            hist += float(line.rsplit(" ", 1)[1])
        except ValueError:
            pass
print(json.dumps({"age_ms": int(sys.argv[3]), "samples": samples, "rss_end_kb": samples[-1][1] if samples else None,
                  "history_bytes": hist or None}))
PYEOF
)
record "rest" "$r" "env ${rest_env[*]} target/release/tickdesk-relay (no client; VmRSS every 15 s)"
stop "$rest_sampler"
stop "$rest_pid"

# --- 5. the app's size ----------------------------------------------------------------------------------------------
app_cmd="scripts/build-app.sh && gzip -9 of dist/*.wasm dist/*.js"
if [ "$quick" = 1 ] && compgen -G "$root/dist/*.wasm" >/dev/null; then
  step "app size: dist/ as it is (quick mode; the full run rebuilds it with scripts/build-app.sh)"
  app_cmd="gzip -9 of dist/*.wasm dist/*.js (dist/ as built, $(date -r "$(ls -t "$root"/dist/*.wasm | head -1)" -u '+%Y-%m-%d %H:%M UTC'))"
  app_ok=1
else
  step "app size: scripts/build-app.sh, then wasm + JS in dist/"
  app_ok=0
  scripts/build-app.sh >"$out/build-app.log" 2>&1 && app_ok=1
fi
if [ "$app_ok" = 1 ]; then
  r=$(python3 - "$root/dist" <<'EOF'
import gzip, json, pathlib, sys
dist = pathlib.Path(sys.argv[1])
files = sorted(p for p in dist.rglob("*") if p.suffix in (".wasm", ".js"))
rows = [{"file": str(p.relative_to(dist)), "raw": p.stat().st_size,
         "gzip": len(gzip.compress(p.read_bytes(), compresslevel=9))} for p in files]
print(json.dumps({"files": rows, "raw": sum(r["raw"] for r in rows), "gzip": sum(r["gzip"] for r in rows)}))
EOF
)
  record "app-size" "$r" "$app_cmd"
else
  echo "scripts/build-app.sh failed (see $out/build-app.log); the app size is left out" >&2
  record "app-size" '{"error": "scripts/build-app.sh failed"}' "scripts/build-app.sh"
fi

# --- 4. the browser (owned by the app; runs only when bench/browser.cjs exists) ------------------------------------
if [ -f "$root/bench/browser.cjs" ]; then
  browser_args=()
  [ "$quick" = 1 ] && browser_args=(--quick)
  step "browser: node bench/browser.cjs ${browser_args[*]:-}"
  if timeout 180 node "$root/bench/browser.cjs" "${browser_args[@]}" >"$out/browser.log" 2>&1; then
    last=$(grep -v '^[[:space:]]*$' "$out/browser.log" | tail -n 1)
    record "browser" "$last" "node bench/browser.cjs${browser_args[*]:+ ${browser_args[*]}}"
  else
    echo "bench/browser.cjs failed (see $out/browser.log)" >&2
    record "browser" '{"error": "bench/browser.cjs failed"}' "node bench/browser.cjs${browser_args[*]:+ ${browser_args[*]}}"
  fi
fi

elapsed=$(( $(date +%s) - started ))
step "writing BENCHMARKS.md (${elapsed} s)"
python3 "$root/bench/report.py" --results "$results" --out "$root/BENCHMARKS.md" --quick "$quick" \
  --elapsed "$elapsed" --tick-ms "$TICK_MS" --load-contracts "$LOAD_CONTRACTS" --window "$CAP_WINDOW" \
  --warmup "$CAP_WARMUP" --stall-secs "$STALL_SECS" --steps-100 "$CAP_STEPS_100" --steps-1000 "$CAP_STEPS_1000"
echo "BENCHMARKS.md rewritten (raw results: $results)" >&2
