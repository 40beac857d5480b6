#!/usr/bin/env bash
# bench/faults/run.sh — the same worker faults under the same open-loop load
# against fcgimux, nginx and lighttpd, in one interleaved run (issue #3).
#
#   bash bench/faults/run.sh --quick      # 20 s per run, 300 req/s: ~12 minutes
#   bash bench/faults/run.sh              # 30 s per run, 500 req/s: ~17 minutes
#   bash bench/faults/run.sh --scenarios kill,stop --gateways fcgimux,nginx --out /tmp/f.md --keep
#
# Writes bench/faults/RESULTS.md (or --out), RESULTS.raw.jsonl and
# RESULTS.meta.json next to it (faults.py report rebuilds the .md from them).
# Three libfcgi responders (examples/libfcgi, FCGI_RESPONDER_LOG on) on
# loopback — one of them, for the "netns" scenario, in a network namespace of
# its own; three uWSGI Django workers (examples/django, request log through
# FCGIMUX_EXAMPLE_REQUEST_LOG) for "djkill" and "djstop" — fresh workers and a
# fresh gateway for every run. Everything
# started is stopped by PID; the namespace is deleted, also on Ctrl-C. See
# bench/faults/README.md.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

quick=0
keep=0
out="$here/RESULTS.md"
scenarios="kill,stop,hung,slow,allkill,netns,post,djkill,djstop"
gateways="fcgimux,nginx,lighttpd"
command_line="bash bench/faults/run.sh $*"
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --out) out=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --gateways) gateways=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if ((quick)); then
  : "${FAULTS_DURATION:=20}" "${FAULTS_RATE:=300}"
else
  : "${FAULTS_DURATION:=30}" "${FAULTS_RATE:=500}"
fi
FAULT_AT=5        # s after the load starts
RECOVER_AT=12     # SIGCONT / link up
RESTART_AT=10     # "allkill": workers started again
CLIENT_TIMEOUT=10 # the load generator gives up on a request after this

# The shared settings of bench/lib.sh, with the fault-run timeouts.
export BENCH_CONNECT_TIMEOUT=1 BENCH_RESPONSE_TIMEOUT=2
export BENCH_NGINX_SERVER_EXTRA="max_fails=1 fail_timeout=10s"
export BENCH_LIGHTTPD_HOST_EXTRA='"disable-time" => 1'
export BENCH_FCGIMUX_POOL_EXTRA=""
# No connection cap: the fault scenarios measure detection and recovery as
# they did before the benchmark's cap (bench/lib.sh) was set.
export BENCH_FCGIMUX_MAX_CONNS=0
# fcgimux logs every health transition at info (BENCH_FCGIMUX_LOG_LEVEL=debug
# adds one line per re-admission probe that finds a worker still out).
export BENCH_FCGIMUX_LOG_LEVEL=${BENCH_FCGIMUX_LOG_LEVEL:-info} BENCH_NGINX_LOG_LEVEL=warn
export BENCH_ROOT="$root"
# shellcheck source=../lib.sh
source "$root/bench/lib.sh"

IFS=, read -r -a SCENARIOS <<<"$scenarios"
IFS=, read -r -a GATEWAYS <<<"$gateways"
PY=/usr/bin/python3
TOOL="$here/faults.py"

tmp=$(mktemp -d /tmp/fcgimux-faults.XXXXXX)
NS="fcgimux-faults-$$"
VETH_HOST="fxh$$"
VETH_NS="fxn$$"
NET_OCTET=$(($$ % 250 + 2))
NS_HOST_ADDR="10.213.$NET_OCTET.1"
NS_WORKER_ADDR="10.213.$NET_OCTET.2"
NS_MADE=0
NETNS_SKIP=""
WORKERS=() # PIDs of the current run's workers, w1 w2 w3
ok_exit=0

cleanup() {
  local p
  for p in "${!WORKERS[@]}"; do sig_worker CONT "$p"; done
  bench_stop_all
  netns_down
  if ((ok_exit && !keep)); then rm -rf "$tmp"; else echo "kept $tmp (configs and logs)" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------- namespace

netns_up() {
  ip netns add "$NS" || return 1
  NS_MADE=1
  ip link add "$VETH_HOST" type veth peer name "$VETH_NS" &&
    ip link set "$VETH_NS" netns "$NS" &&
    ip addr add "$NS_HOST_ADDR/30" dev "$VETH_HOST" &&
    ip link set "$VETH_HOST" up &&
    ip netns exec "$NS" ip addr add "$NS_WORKER_ADDR/30" dev "$VETH_NS" &&
    ip netns exec "$NS" ip link set "$VETH_NS" up &&
    ip netns exec "$NS" ip link set lo up
}

netns_down() {
  ((NS_MADE)) || return 0
  ip link del "$VETH_HOST" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  NS_MADE=0
}

# ------------------------------------------------------------- helpers

now() { date +%s.%N; }
sleep_until() {
  local d
  d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')
  sleep "$d"
}
# event NAME RUN_DIR: the time, taken just before the action it names.
event() { printf '%s\t%s\n' "$1" "$(now)" >>"$2/events.tsv"; }

wait_addr() { # HOST PORT SECONDS
  local t=0
  while ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    sleep 0.05
    t=$((t + 1))
    ((t < $3 * 20)) || return 1
  done
}

# start_worker RUN_DIR N PORT [netns]: wN, request log RUN_DIR/wN.req
start_worker() {
  local dir=$1 n=$2 port=$3 where=${4:-}
  if [[ $where == netns ]]; then
    FCGI_RESPONDER_LOG="$dir/w$n.req" bench_spawn "$dir/w$n.log" \
      ip netns exec "$NS" "$RESPONDER_BIN" "$NS_WORKER_ADDR:$port" "$BENCH_LIBFCGI_THREADS" "w$n" "$BENCH_WORKER_BACKLOG"
    WORKERS[n - 1]=$BENCH_LAST_PID
    wait_addr "$NS_WORKER_ADDR" "$port" 15 || bench_die "worker w$n (netns) did not start"
  else
    FCGI_RESPONDER_LOG="$dir/w$n.req" bench_start_worker libfcgi "$port" "w$n" "$dir"
    WORKERS[n - 1]=$BENCH_LAST_PID
    bench_wait_port "$port" 15 "$BENCH_LAST_PID" || bench_die "worker w$n did not start"
  fi
}

# start_django RUN_DIR N PORT: wN, a uWSGI Django worker (master + processes),
# request log RUN_DIR/wN.req, X-Worker wN.
start_django() {
  local dir=$1 n=$2 port=$3
  FCGIMUX_EXAMPLE_REQUEST_LOG="$dir/w$n.req" bench_start_worker django "$port" "w$n" "$dir"
  WORKERS[n - 1]=$BENCH_LAST_PID
  bench_wait_port "$port" 60 "$BENCH_LAST_PID" || { tail -20 "$dir/w$n.log" >&2; bench_die "django worker w$n did not start"; }
  # Each uWSGI process loads Django on its first request (~1 s here): warm
  # them all, straight over FastCGI, before any gateway sees the worker.
  "$PY" "$TOOL" warm --addr "127.0.0.1:$port" --path /healthz --requests 16 --concurrency 4 ||
    bench_die "django worker w$n did not answer the warm-up"
}

# sig_worker SIGNAL I: SIGNAL to WORKERS[I] and its child processes (uWSGI's
# master forks the processes that serve; stopping only the master would leave
# them serving), each by PID.
sig_worker() {
  local pid=${WORKERS[$2]:-} kids
  [[ -n $pid ]] || return 0
  kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
  # shellcheck disable=SC2086
  kill -"$1" "$pid" $kids 2>/dev/null
}

# reap_worker I: the worker WORKERS[I] was killed: reap it, forget its PID.
reap_worker() {
  [[ -n ${WORKERS[$1]:-} ]] && bench_stop "${WORKERS[$1]}"
  WORKERS[$1]=""
}

# ------------------------------------------------------------- one run

# run_one SCENARIO GATEWAY
run_one() {
  local sc=$1 gw=$2 dir="$tmp/$1-$2"
  mkdir -p "$dir/gw"
  : >"$dir/events.tsv"
  local ports wp=() gport
  read -r -a ports <<<"$(bench_free_ports 4)"
  wp=("${ports[@]:0:3}")
  gport=${ports[3]}
  WORKERS=()
  local specs=() bad='["w1"]' extra_meta="" mix="/hello:1" method=GET kind=libfcgi
  if [[ $sc == dj* ]]; then
    kind=django
    mix="/healthz:1"
    start_django "$dir" 1 "${wp[0]}"
    start_django "$dir" 2 "${wp[1]}"
    start_django "$dir" 3 "${wp[2]}"
    specs=("${wp[0]}" "${wp[1]}" "${wp[2]}")
  elif [[ $sc == netns ]]; then
    start_worker "$dir" 1 "${wp[0]}" netns
    specs+=("$NS_WORKER_ADDR:${wp[0]}")
  else
    start_worker "$dir" 1 "${wp[0]}"
    specs+=("${wp[0]}")
  fi
  if [[ $kind == libfcgi ]]; then
    start_worker "$dir" 2 "${wp[1]}"
    start_worker "$dir" 3 "${wp[2]}"
    specs+=("${wp[1]}" "${wp[2]}")
  fi
  case $sc in
    hung) kill -STOP "${WORKERS[0]}"; extra_meta=', "fault_at_start": true' ;;
    slow) bad='[]'; mix="/hello:95,/sleep?ms=1500:5"; extra_meta=', "slow_path": "/sleep"' ;;
    allkill) bad='["w1", "w2", "w3"]'; extra_meta=', "no_stop": true' ;;
    post) method=POST; mix="/upload:1" ;;
  esac
  bench_start_gateway "$gw" "$kind" "$gport" "$dir/gw" "${specs[@]}"
  local gw_pid=$BENCH_LAST_PID
  local start
  start=$(awk -v n="$(now)" 'BEGIN { printf "%.6f", n + 1.0 }')
  cat >"$dir/run.json" <<EOF
{"start_at": $start, "duration": $FAULTS_DURATION, "rate": $FAULTS_RATE, "workers": ["w1", "w2", "w3"], "bad": $bad$extra_meta}
EOF
  bench_spawn "$dir/load.log" "$PY" "$TOOL" load --addr "127.0.0.1:$gport" --rate "$FAULTS_RATE" \
    --duration "$FAULTS_DURATION" --start-at "$start" --out "$dir/client.tsv" --mix "$mix" --method "$method" \
    --timeout "$CLIENT_TIMEOUT"
  local load_pid=$BENCH_LAST_PID
  at() { sleep_until "$(awk -v s="$start" -v o="$1" 'BEGIN { printf "%.6f", s + o }')"; }
  case $sc in
    kill | djkill)
      at $FAULT_AT; event fault "$dir"; sig_worker KILL 0; reap_worker 0 ;;
    stop | post | djstop)
      at $FAULT_AT; event fault "$dir"; sig_worker STOP 0
      at $RECOVER_AT; event recovery "$dir"; sig_worker CONT 0 ;;
    allkill)
      at $FAULT_AT; event fault "$dir"; kill -KILL "${WORKERS[@]}"
      reap_worker 0; reap_worker 1; reap_worker 2
      at $RESTART_AT
      event recovery "$dir"
      start_worker "$dir" 1 "${wp[0]}"; start_worker "$dir" 2 "${wp[1]}"; start_worker "$dir" 3 "${wp[2]}" ;;
    netns)
      at $FAULT_AT; event fault "$dir"; ip netns exec "$NS" ip link set "$VETH_NS" down
      at $RECOVER_AT; event recovery "$dir"; ip netns exec "$NS" ip link set "$VETH_NS" up ;;
  esac
  # The load ends by itself: duration + the client timeout + its own 5 s grace.
  local limit=$((FAULTS_DURATION + CLIENT_TIMEOUT + 15)) t=0
  while kill -0 "$load_pid" 2>/dev/null && ((t < limit * 10)); do sleep 0.1; t=$((t + 1)); done
  bench_stop "$load_pid"
  if [[ $sc == hung ]]; then
    # Let the stopped worker read what was queued for it, so that its log
    # shows every request the gateway sent it.
    kill -CONT "${WORKERS[0]}"
    sleep 1.5
  fi
  bench_stop "$gw_pid"
  local p live=()
  for p in "${!WORKERS[@]}"; do [[ -n ${WORKERS[$p]} ]] && live+=("${WORKERS[$p]}") && sig_worker CONT "$p"; done
  sleep 0.3 # in-flight requests reach the worker logs
  # SIGKILL: libfcgi only notes SIGTERM and exits once every thread's accept
  # returns; the request logs are written line by line, nothing is lost.
  for p in "${!WORKERS[@]}"; do sig_worker KILL "$p"; done
  ((${#live[@]})) && bench_stop "${live[@]}"
  WORKERS=()
  [[ -s $dir/client.tsv ]] || { cat "$dir/load.log" >&2; bench_die "no client results for $sc/$gw"; }
  grep -v '^load:' "$dir/load.log" >&2
  "$PY" "$TOOL" analyze --run-dir "$dir" --scenario "$sc" --gateway "$gw" --out "$tmp/results.jsonl"
}

# ------------------------------------------------------------- main

((EUID == 0)) || bench_die "run as root (network namespaces, ulimit)"
bench_ensure_packages nginx-light lighttpd libfcgi-dev iproute2 || bench_die "packages"
command -v nginx >/dev/null || bench_ensure_packages nginx || bench_die "nginx"
bench_build
ulimit -n "$(ulimit -Hn)"

for sc in "${SCENARIOS[@]}"; do
  if [[ $sc == netns ]] && ! netns_up; then
    NETNS_SKIP="network namespaces are not permitted here: $(ip netns add "$NS-probe" 2>&1; ip netns del "$NS-probe" 2>/dev/null)"
    netns_down
    bench_log "skipping netns: $NETNS_SKIP"
  fi
done
netns_down

k=0
for sc in "${SCENARIOS[@]}"; do
  [[ $sc == netns && -n $NETNS_SKIP ]] && continue
  [[ $sc == netns ]] && { netns_up || bench_die "cannot create the namespace"; }
  # gateways interleaved, the order rotated from one scenario to the next
  n=${#GATEWAYS[@]}
  for ((j = 0; j < n; j++)); do
    gw=${GATEWAYS[(j + k) % n]}
    bench_log "scenario $sc, gateway $gw"
    run_one "$sc" "$gw"
  done
  [[ $sc == netns ]] && netns_down
  k=$((k + 1))
done

versions=()
for gw in "${GATEWAYS[@]}"; do versions+=("$(bench_gateway_version "$gw")"); done
versions+=("$(uname -sr)" "Python $($PY -c 'import sys; print(sys.version.split()[0])')" "libfcgi $(dpkg-query -W -f='${Version}' libfcgi-bin 2>/dev/null || dpkg-query -W -f='${Version}' libfcgi0ldbl 2>/dev/null || echo '?')")
export F_COMMAND="$command_line" F_BUILD="$BENCH_BUILD_NOTE" F_GATEWAYS="$gateways" F_SCENARIOS="$scenarios"
export F_RATE=$FAULTS_RATE F_DURATION=$FAULTS_DURATION F_NETNS_SKIP="$NETNS_SKIP" F_QUICK=$quick
export F_MACHINE="$(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
F_VERSIONS=$(printf '%s\n' "${versions[@]}")
export F_VERSIONS
F_CONFIGS=""
for gw in "${GATEWAYS[@]}"; do
  f=$(ls "$tmp"/kill-"$gw"/gw/{fcgimux.toml,nginx.conf,lighttpd.conf} 2>/dev/null | head -1)
  [[ -n $f ]] || f=$(ls "$tmp"/*-"$gw"/gw/{fcgimux.toml,nginx.conf,lighttpd.conf} 2>/dev/null | head -1)
  [[ -n $f ]] && F_CONFIGS+="$f"$'\n'
done
export F_CONFIGS
"$PY" "$TOOL" meta --out "$tmp/meta.json" || bench_die "meta"
raw="${out%.md}.raw.jsonl"
mkdir -p "$(dirname "$out")"
cp "$tmp/results.jsonl" "$raw"
cp "$tmp/meta.json" "${out%.md}.meta.json"
"$PY" "$TOOL" report --results "$raw" --meta "$tmp/meta.json" --out "$out" || bench_die "report"
bench_log "wrote $out and $raw"
ok_exit=1
