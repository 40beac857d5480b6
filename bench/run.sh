#!/usr/bin/env bash
# fcgimux side by side with nginx, HAProxy, lighttpd and h2o on the same
# FastCGI workers (issue #5). See bench/README.md.
#
#   bash bench/run.sh [--quick | --bar] [--kinds "libfcgi php django"] [--out FILE]
#
# --bar: only the bar's requests/s points (c=64 and 512), 15 short rounds,
# the gateways' order changing from round to round, no large bodies and no
# idle connections; writes bench/RESULTS.bar.md, with a 95% interval of the
# ratio over the run's rounds (what it covers: bench/README.md, "Judging the
# bar in a noisy run"). The full plan measures the bar's points on the
# libfcgi workers the same way, and every other point in 5 rounds of 10 s.
#
# Installs what it needs (apt-get, idempotent), builds fcgimux into
# build-release/, starts three workers of each kind on loopback ports chosen
# by the kernel (and h2o's own, as big as the three: it cannot balance), then
# for each kind runs the five gateways in turn, round after round, under wrk;
# finally large bodies and idle connections.
# Writes bench/RESULTS.md (and bench/RESULTS.raw.tsv). Everything it starts
# is stopped by PID on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
command_line="bash bench/run.sh $*"

quick=0
bar=0
kinds="libfcgi php django"
out=""
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --bar) bar=1 ;;
    --kinds) kinds=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { print }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ -z $out ]]; then
  if ((bar)); then out="$here/RESULTS.bar.md"; else out="$here/RESULTS.md"; fi
fi
((quick && bar)) && { echo "--quick and --bar are two different plans: pick one" >&2; exit 2; }

# wrk takes whole seconds only (-d0.5s is rejected: it did nothing): warm-up
# and duration are integers.
#
# Two kinds of load point. The bar's points (issue #5's requests/s points,
# c=64 and 512, on the kinds in bar_kinds; with --bar every point is one)
# run bar_rounds rounds of bar_duration s, the gateways' order changing from
# round to round (round_order); every other point runs `rounds` rounds of
# `duration` s in one order. Many short rounds rather than a few long ones:
# the host's speed drifts over tens of seconds, and a median of 15 moves
# less than one of 5 (six full runs with 5 rounds of 10 s at every point
# gave libfcgi c=64 1.19-1.43x the best anchor). --quick has none: its
# 3 rounds of 2 s at c=64 and 512 are for trying a change, not the bar.
bar_concurrencies=(64 512)
if ((quick)); then
  concurrencies=(64 512); rounds=3; duration=2; warmup=1; body_rounds=2; body_transfers=3; idle_rounds=1
  bar_kinds=""; bar_rounds=0; bar_duration=1; bar_warmup=1
elif ((bar)); then
  concurrencies=(64 512); rounds=0; duration=1; warmup=1; body_rounds=0; body_transfers=0; idle_rounds=0
  bar_kinds=$kinds; bar_rounds=15; bar_duration=5; bar_warmup=1
else
  # Large bodies: 45 transfers each way per gateway (15 rounds of 3, the
  # gateway started fresh each round); one 50 MiB download's MB/s spreads
  # over nearly 2:1 within a round here, so the median needs many of them.
  concurrencies=(1 8 64 512); rounds=5; duration=10; warmup=2; body_rounds=15; body_transfers=3; idle_rounds=3
  bar_kinds=libfcgi; bar_rounds=15; bar_duration=5; bar_warmup=1
fi
idle_conns=10000
# For trying the script itself (not for results): override the plan. Under
# --bar every point is one of the bar's, and BENCH_ROUNDS, BENCH_DURATION and
# BENCH_WARMUP set its rounds (as BENCH_BAR_* do).
[[ -n ${BENCH_CONCURRENCIES:-} ]] && read -r -a concurrencies <<<"$BENCH_CONCURRENCIES"
if ((bar)); then
  bar_concurrencies=("${concurrencies[@]}")
  bar_rounds=${BENCH_BAR_ROUNDS:-${BENCH_ROUNDS:-$bar_rounds}}
  bar_duration=${BENCH_BAR_DURATION:-${BENCH_DURATION:-$bar_duration}}
  bar_warmup=${BENCH_BAR_WARMUP:-${BENCH_WARMUP:-$bar_warmup}}
else
  rounds=${BENCH_ROUNDS:-$rounds} duration=${BENCH_DURATION:-$duration} warmup=${BENCH_WARMUP:-$warmup}
  bar_rounds=${BENCH_BAR_ROUNDS:-$bar_rounds} bar_duration=${BENCH_BAR_DURATION:-$bar_duration} bar_warmup=${BENCH_BAR_WARMUP:-$bar_warmup}
fi
body_rounds=${BENCH_BODY_ROUNDS:-$body_rounds} body_transfers=${BENCH_BODY_TRANSFERS:-$body_transfers} idle_rounds=${BENCH_IDLE_ROUNDS:-$idle_rounds} idle_conns=${BENCH_IDLE_CONNS:-$idle_conns}
for v in rounds duration warmup bar_rounds bar_duration bar_warmup body_rounds body_transfers idle_rounds idle_conns; do
  [[ ${!v} =~ ^(0|[1-9][0-9]*)$ ]] ||
    { echo "BENCH_${v^^} must be a whole number (wrk takes whole seconds): ${!v}" >&2; exit 2; }
done
for c in "${concurrencies[@]}"; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_CONCURRENCIES: not a concurrency: $c" >&2; exit 2; }
done
# The bar's points this run has: bar_point_kinds (of $kinds) at
# bar_point_cs (of the concurrencies); other_points: whether any other
# point is measured.
bar_point_kinds=() bar_point_cs=()
if ((bar_rounds > 0)); then
  for c in "${concurrencies[@]}"; do [[ " ${bar_concurrencies[*]} " == *" $c "* ]] && bar_point_cs+=("$c"); done
  if ((${#bar_point_cs[@]})); then
    for k in $kinds; do [[ " $bar_kinds " == *" $k "* ]] && bar_point_kinds+=("$k"); done
  fi
  ((${#bar_point_kinds[@]})) || bar_point_cs=()
fi
other_points=0
if ((rounds > 0)) && { (($(wc -w <<<"$kinds") > ${#bar_point_kinds[@]})) || ((${#concurrencies[@]} > ${#bar_point_cs[@]})); }; then
  other_points=1
fi
if ((other_points && (duration == 0 || warmup == 0) || ${#bar_point_cs[@]} && (bar_duration == 0 || bar_warmup == 0))); then
  echo "a plan with rounds needs a duration and a warm-up of at least 1 s" >&2; exit 2
fi
download_bytes=$((50 * 1048576))
upload_bytes=$((10 * 1048576))

# shellcheck source=bench/lib.sh
source "$here/lib.sh"
gateways=("${BENCH_GATEWAYS_ALL[@]}")

bench_workdir bench

# 10,000 clients plus upstream connections; the hard limit is what we get.
ulimit -n "$(ulimit -Hn)"

bench_ensure_packages wrk nginx-light haproxy lighttpd h2o php8.2-fpm uwsgi uwsgi-plugin-python3 python3-django \
  libfcgi-dev time curl cmake g++ pkg-config libuv1-dev libtomlplusplus-dev libfmt-dev node-llhttp catch2
bench_build

raw="$work/raw.tsv"
meta="$work/meta.txt"
notes=()
printf 'test\tkind\tgateway\tconcurrency\tround\trps\tp50_ms\tp99_ms\trequests\tnon2xx\tsockerr\tcpu_s\tpeak_rss_kb\tmb_s\tok\topen\tstill\trss_before_kb\trss_after_kb\thalf_open\trss_half_kb\tmean_ms\tstalled\tstall_seen\n' >"$raw"
ticks=$(getconf CLK_TCK)

# row TEST KIND GW C ROUND key=value...: one line of raw.tsv.
row() {
  local -A v=()
  local kv
  for kv in "${@:6}"; do v[${kv%%=*}]=${kv#*=}; done
  printf '%s\t%s\t%s\t%s\t%s' "$1" "$2" "$3" "$4" "$5" >>"$raw"
  local k
  for k in rps p50_ms p99_ms requests non2xx sockerr cpu_s peak_rss_kb mb_s ok open still rss_before_kb rss_after_kb half_open rss_half_kb mean_ms stalled stall_seen; do
    printf '\t%s' "${v[$k]:-}" >>"$raw"
  done
  printf '\n' >>"$raw"
}

# note TEXT: a problem worth reporting, kept for RESULTS.md.
note() { bench_log "NOTE: $*"; notes+=("$*"); }

wrk_threads() { if (($1 < 2)); then echo 1; else echo 2; fi; }

# load_point KIND GW C ROUND DURATION WARMUP GWPORT WORKER_PORTS...
load_point() {
  local kind=$1 gw=$2 c=$3 round=$4 duration=$5 warmup=$6 port=$7
  shift 7
  local dir="$work/$kind/$gw-c$c-r$round"
  bench_start_gateway "$gw" "$kind" "$port" "$dir" "$@"
  local pid=$BENCH_LAST_PID url="http://127.0.0.1:$port$BENCH_PATH_SMALL" t
  t=$(wrk_threads "$c")
  timeout 40 wrk -t"$t" -c"$c" -d"${warmup}s" --timeout 10s "$url" >"$dir/warmup.txt" 2>&1 || true
  check_body "$kind" "$gw" "$url" "c=$c round $round"
  local procs before after
  procs=$(bench_tree "$pid")
  # shellcheck disable=SC2086
  before=$(bench_cpu_ticks $procs)
  bench_spawn "$dir/wrk.txt" timeout $((duration + 30)) wrk -t"$t" -c"$c" -d"${duration}s" --timeout 10s --latency "$url"
  local wrk_pid=$BENCH_LAST_PID
  sample_clients "$port" "$dir" "$duration"
  bench_wait "$wrk_pid"
  # shellcheck disable=SC2086
  after=$(bench_cpu_ticks $procs)
  local hwm
  # shellcheck disable=SC2086
  hwm=$(bench_mem_kb VmHWM $(bench_tree "$pid"))
  local rps p50 p99 reqs non2xx sockerr
  read -r rps p50 p99 reqs non2xx sockerr mean < <(/usr/bin/python3 "$here/tool.py" wrk "$dir/wrk.txt")
  local cpu stalled='' seen=
  cpu=$(awk -v a="$before" -v b="$after" -v t="$ticks" 'BEGIN{printf "%.3f", (b - a) / t}')
  if [[ -f $dir/ss2.txt ]]; then read -r stalled seen < <(/usr/bin/python3 "$here/tool.py" stalled "$dir/ss1.txt" "$dir/ss2.txt"); fi
  # wrk keeps its c connections open all along: fewer in both samples means
  # reconnects or connections not set up; none, that nothing was measured.
  if [[ -n $seen ]] && ((seen < c)); then
    note "$kind c=$c round $round: $gw: only $seen of $c client connections were open in both mid-run samples (reconnects, or connections not yet set up)"
    ((seen > 0)) || stalled=''
  fi
  row load "$kind" "$gw" "$c" "$round" rps="$rps" p50_ms="$p50" p99_ms="$p99" requests="$reqs" \
    non2xx="$non2xx" sockerr="$sockerr" cpu_s="$cpu" peak_rss_kb="$hwm" mean_ms="$mean" stalled="$stalled" stall_seen="$seen"
  printf '  %-8s %-9s c=%-3d r%d: %8.0f req/s p50 %7.2fms p99 %8.2fms cpu %6.3fs rss %6d KiB non2xx %s sockerr %s served %s stalled %s of %s\n' \
    "$kind" "$gw" "$c" "$round" "$rps" "$p50" "$p99" "$cpu" "$hwm" "$non2xx" "$sockerr" \
    "$(awk -v r="$rps" -v m="$mean" 'BEGIN{printf "%.0f", r * m / 1000}')" "${stalled:--}" "${seen:--}" >&2
  if [[ -n $stalled && $stalled != 0 ]]; then
    note "$kind c=$c round $round: $gw: $stalled of $seen client connections had no request answered for 1 s mid-run (stalled; requests still unanswered at the end are missing from wrk's latency figures)"
  fi
  if [[ $non2xx != 0 || $sockerr != 0 ]]; then
    note "$kind c=$c round $round: $gw: $non2xx non-2xx responses, socket errors: $(grep -h 'Socket errors' "$dir/wrk.txt" || echo none) (of $reqs requests)"
  fi
  if ! kill -0 "$pid" 2>/dev/null; then note "$kind c=$c round $round: $gw exited during the run"; fi
  bench_stop "$pid"
  collect_gateway_errors "$kind" "$gw" "$dir" "c=$c round $round"
}

# sample_clients PORT DIR DURATION: mid-run (wrk runs DURATION s), wrk's side of its client
# connections to PORT, twice 1 s apart, into DIR/ss1.txt and DIR/ss2.txt.
# bytes_acked is what wrk sent; wrk sends a connection's next request as
# soon as the answer to the last one arrives, so a connection whose
# bytes_acked did not grow had no request answered in that second
# (tool.py stalled counts them). Catches a gateway leaving some clients
# waiting (h2o before it had a worker of its own: half of them at c=512),
# which wrk's figures do not show: requests unanswered at the end are dropped.
# Parsed after the run, so that only two `ss` run during it.
sample_clients() {
  local port=$1 dir=$2 duration=$3
  ((duration >= 2)) || return 0
  sleep "$(awk -v d="$duration" 'BEGIN{print d / 2 - 0.5}')"
  ss -Htni state established "( dport = :$port )" >"$dir/ss1.txt" 2>&1 || true
  sleep 1
  ss -Htni state established "( dport = :$port )" >"$dir/ss2.txt" 2>&1 || true
}

# check_body KIND GW URL WHAT: the small request's answer is the worker's
# (status 200, the expected body), so that no gateway is measured answering
# errors or its own pages fast. After the warm-up: fcgimux answers 503 until
# its first probe admits a worker.
check_body() {
  local kind=$1 gw=$2 url=$3 what=$4 answer
  answer=$(curl -s --max-time 10 -w '\n%{http_code}' "$url" || true)
  local code=${answer##*$'\n'} body=${answer%$'\n'*}
  body=${body%$'\n'}
  if [[ $code != 200 || $body != "$BENCH_SMALL_BODY" ]]; then
    note "$kind $what: $gw answered $BENCH_PATH_SMALL with HTTP $code, body '$(head -c 120 <<<"$body" | tr '\n' ' ')' (expected '$BENCH_SMALL_BODY')"
  fi
}

# collect_gateway_errors KIND GW DIR WHAT: warnings fcgimux logged, kept for the report.
collect_gateway_errors() {
  local kind=$1 gw=$2 dir=$3 what=$4
  [[ $gw == fcgimux && -s $dir/fcgimux-error.log ]] || return 0
  local lines
  lines=$(grep -E 'level=(warn|error)' "$dir/fcgimux-error.log" | sed -E 's/^ts=[^ ]+ //; s/[0-9]+(ms)?( |$)/N\1\2/g' | sort | uniq -c | sort -rn | head -5 || true)
  [[ -n $lines ]] || return 0
  while IFS= read -r l; do note "$kind $what: fcgimux logged: $(sed -E 's/^ +//' <<<"$l")"; done <<<"$lines"
}

# body_point KIND GW ROUND GWPORT WORKER_PORTS...: $body_transfers 50 MB
# downloads and as many 10 MB uploads, in turn, a row each. One transfer
# lasts 10-100 ms here: a single one per point measured the host's moment
# more than the gateway (uploads 1.01-2.33x nginx from run to run).
body_point() {
  local kind=$1 gw=$2 round=$3 port=$4
  shift 4
  local dir="$work/$kind/$gw-body-r$round"
  bench_start_gateway "$gw" "$kind" "$port" "$dir" "$@"
  local pid=$BENCH_LAST_PID base="http://127.0.0.1:$port" res code size secs ok mbs answer t
  local downs=() ups=()
  curl -s -o /dev/null --max-time 10 "$base$BENCH_PATH_SMALL" || true
  for ((t = 1; t <= body_transfers; t++)); do
    res=$(curl -s -o /dev/null --max-time 120 -w '%{http_code} %{size_download} %{time_total}' \
      "$base$(bench_download_path "$kind" "$download_bytes")" || echo "000 0 0")
    read -r code size secs <<<"$res"
    ok=0
    [[ $code == 200 && $size == "$download_bytes" ]] && ok=1
    mbs=$(awk -v b="$size" -v s="$secs" 'BEGIN{ if (s > 0) printf "%.1f", b / s / 1e6; else print "nan" }')
    row download "$kind" "$gw" 1 "$round" mb_s="$mbs" ok="$ok"
    downs+=("$mbs")
    ((ok)) || note "$kind: $gw: 50 MB download failed: HTTP $code, $size bytes"
    answer=$(curl -s --max-time 120 -H 'Expect:' -H 'Content-Type: application/octet-stream' \
      --data-binary @"$work/upload.bin" -w '\n%{http_code} %{size_upload} %{time_total}' "$base$BENCH_PATH_UPLOAD" || echo "000 0 0")
    read -r code size secs <<<"$(tail -1 <<<"$answer")"
    ok=0
    [[ $code == 200 && $size == "$upload_bytes" ]] && grep -q "$upload_bytes" <<<"$answer" && ok=1
    mbs=$(awk -v b="$size" -v s="$secs" 'BEGIN{ if (s > 0) printf "%.1f", b / s / 1e6; else print "nan" }')
    row upload "$kind" "$gw" 1 "$round" mb_s="$mbs" ok="$ok"
    ups+=("$mbs")
    ((ok)) || note "$kind: $gw: 10 MB upload failed: HTTP $code, answer $(head -c 200 <<<"$answer" | tr '\n' ' ')"
  done
  printf '  %-8s %-9s body r%d: download %s, upload %s MB/s\n' "$kind" "$gw" "$round" "${downs[*]}" "${ups[*]}" >&2
  bench_stop "$pid"
  collect_gateway_errors "$kind" "$gw" "$dir" "large bodies round $round"
}

# idle_point KIND GW ROUND GWPORT WORKER_PORTS...: RSS of $idle_conns idle keep-alive clients.
idle_point() {
  local kind=$1 gw=$2 round=$3 port=$4
  shift 4
  local dir="$work/$kind/$gw-idle-r$round"
  bench_start_gateway "$gw" "$kind" "$port" "$dir" "$@"
  local pid=$BENCH_LAST_PID
  timeout 10 wrk -t1 -c8 -d1s "http://127.0.0.1:$port$BENCH_PATH_SMALL" >/dev/null 2>&1 || true
  sleep 0.5
  local before after
  # shellcheck disable=SC2046
  before=$(bench_mem_kb VmRSS $(bench_tree "$pid"))
  mkdir -p "$dir/idle"
  /usr/bin/python3 "$here/tool.py" idle "$port" "$idle_conns" "$BENCH_PATH_SMALL" "$dir/idle" >"$dir/idle.log" 2>&1 &
  local client=$! i half=0 half_open=0
  BENCH_PIDS+=("$client")
  # halfway (the client waits): RSS with half the connections
  for ((i = 0; i < 1800; i++)); do [[ -f $dir/idle/half ]] && break; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
  if [[ -f $dir/idle/half ]]; then
    sleep 1
    # shellcheck disable=SC2046
    half=$(bench_mem_kb VmRSS $(bench_tree "$pid"))
    read -r _ half_open _ <"$dir/idle/half"
  fi
  touch "$dir/idle/half_done"
  for ((i = 0; i < 1800; i++)); do [[ -f $dir/idle/ready ]] && break; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
  sleep 1
  # shellcheck disable=SC2046
  after=$(bench_mem_kb VmRSS $(bench_tree "$pid"))
  touch "$dir/idle/done"
  for ((i = 0; i < 300; i++)); do [[ -f $dir/idle/result ]] && break; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
  bench_stop "$client"
  local open=0 still=0 failed=0
  [[ -f $dir/idle/result ]] && read -r _ open _ still _ failed <"$dir/idle/result"
  row idle "$kind" "$gw" "$idle_conns" "$round" open="$open" still="$still" rss_before_kb="$before" rss_after_kb="$after" \
    half_open="$half_open" rss_half_kb="$half"
  printf '  %-8s %-9s idle r%d: %s held (%s still open), RSS %s KiB -> %s KiB at %s connections -> %s KiB\n' "$kind" "$gw" "$round" \
    "$open" "$still" "$before" "$half" "$half_open" "$after" >&2
  if ((open < idle_conns || still < open)); then
    note "idle connections: $gw held $open of $idle_conns (failed $failed), $still still open after the measurement$( [[ -s $dir/idle.log ]] && echo "; client: $(tail -1 "$dir/idle.log")")"
  fi
  bench_stop "$pid"
  collect_gateway_errors "$kind" "$gw" "$dir" "idle connections"
}

# load_plan_text: the plan's rounds, durations and orders, for Settings.
load_plan_text() {
  local fixed="$rounds rounds of ${duration} s after a ${warmup} s warm-up, the gateways in one order (A B C D E, A B C D E, …)"
  local williams="$bar_rounds rounds of ${bar_duration} s after a ${bar_warmup} s warm-up, the gateways' order changing from round to round (a Williams design)"
  local cs=${bar_point_cs[*]}
  if ((${#bar_point_cs[@]} == 0)); then
    echo "$fixed"
  elif ((!other_points)); then
    echo "$williams"
  else
    echo "$fixed; except the bar's points (${bar_point_kinds[*]} workers at c=${cs// / and }): $williams"
  fi
}

head -c "$upload_bytes" /dev/urandom >"$work/upload.bin"
start=$(date +%s)
# workers_of GW: the worker ports GW is given: h2o its own (it cannot
# balance), the other gateways the three.
workers_of() { if [[ $1 == h2o ]]; then echo "$wh"; else echo "$w1 $w2 $w3"; fi; }

# williams_cycle: rounds after which the Williams orders repeat (2n for an
# odd number of gateways, n for an even one); the report quotes it.
williams_cycle() { local n=${#gateways[@]}; echo $((n % 2 ? 2 * n : n)); }

# round_order ROUND WILLIAMS: the gateways in the order this round runs
# them. WILLIAMS=0: one order (A B C D E every round). WILLIAMS=1 (the bar's
# points): the orders of a Williams design: row i is 0, 1, n-1, 2, n-2, ...
# plus i (mod n), and for an odd n the same rows reversed, 2n orders in all;
# over them every gateway runs in every position, and right after every
# other gateway, equally often. So no gateway is always measured first, or
# always just after the one that warmed (or tired) the host the same way.
round_order() {
  local n=${#gateways[@]} i j row base=()
  if (($2 == 0)); then printf '%s\n' "${gateways[@]}"; return; fi
  for ((j = 0; j < n; j++)); do
    if ((j == 0)); then base+=(0); elif ((j % 2)); then base+=($(((j + 1) / 2))); else base+=($((n - j / 2))); fi
  done
  local rows
  rows=$(williams_cycle)
  row=$((($1 - 1) % rows))
  for ((i = 0; i < n; i++)); do
    j=$i
    ((row >= n)) && j=$((n - 1 - i))   # the reversed half
    echo "${gateways[(base[j] + row) % n]}"
  done
}

for kind in $kinds; do
  bench_log "=== $kind workers"
  read -r w1 w2 w3 wh gport <<<"$(bench_free_ports 5)"
  [[ $kind == django ]] && bench_django_db "$work"
  bench_start_workers "$kind" "$work/$kind/workers" "$w1" "$w2" "$w3"
  bench_start_h2o_worker "$kind" "$work/$kind/workers" "$wh"
  bench_worker_paths "$kind"
  # The bar's points of this kind, and the others.
  bar_cs=() other_cs=()
  for c in "${concurrencies[@]}"; do
    if [[ " ${bar_point_kinds[*]} " == *" $kind "* && " ${bar_point_cs[*]} " == *" $c "* ]]; then
      bar_cs+=("$c")
    else
      other_cs+=("$c")
    fi
  done
  # shellcheck disable=SC2046 # workers_of: a list of ports
  for ((round = 1; round <= rounds; round++)); do
    for c in "${other_cs[@]}"; do
      for gw in $(round_order "$round" 0); do load_point "$kind" "$gw" "$c" "$round" "$duration" "$warmup" "$gport" $(workers_of "$gw"); done
    done
  done
  # shellcheck disable=SC2046
  for ((round = 1; round <= bar_rounds; round++)); do
    for c in "${bar_cs[@]}"; do
      for gw in $(round_order "$round" 1); do load_point "$kind" "$gw" "$c" "$round" "$bar_duration" "$bar_warmup" "$gport" $(workers_of "$gw"); done
    done
  done
  # shellcheck disable=SC2046
  for ((round = 1; round <= body_rounds; round++)); do
    for gw in "${gateways[@]}"; do body_point "$kind" "$gw" "$round" "$gport" $(workers_of "$gw"); done
  done
  if [[ $kind == libfcgi ]]; then
    # shellcheck disable=SC2046
    for ((round = 1; round <= idle_rounds; round++)); do
      for gw in "${gateways[@]}"; do idle_point "$kind" "$gw" "$round" "$gport" $(workers_of "$gw"); done
    done
  fi
  bench_stop "${BENCH_WORKER_PIDS[@]}" "$BENCH_H2O_WORKER_PID"
  unset FCGIMUX_EXAMPLE_DB
done
elapsed=$(($(date +%s) - start))

{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "command=$command_line"
  echo "kinds=$kinds"
  echo "gateways=${gateways[*]}"
  # rounds: of the points in one order (0: there were none); bar_points:
  # those in Williams-design orders, "KIND... c=C...", absent when none.
  echo "rounds=$((other_points ? rounds : 0))"
  if ((${#bar_point_cs[@]})); then
    echo "bar_points=${bar_point_kinds[*]} c=${bar_point_cs[*]}"
    echo "bar_rounds=$bar_rounds"
    echo "williams_cycle=$(williams_cycle)"
  fi
  echo "idle_kind=libfcgi"
  echo "about_libfcgi=Three \`examples/libfcgi/libfcgi_responder\` processes ($BENCH_LIBFCGI_THREADS threads each, FCGI_KEEP_CONN honoured; h2o's own: one with $((3 * BENCH_LIBFCGI_THREADS)) threads); load on \`/hello\` (19-byte body). The workers cost almost nothing, so the gateway is what is measured."
  echo "about_php=Three PHP-FPM 8.2 pools (pm = static, $BENCH_PHP_CHILDREN children each, keep-alive honoured, \`php-fpm -n\`: no opcache; h2o's own: one pool of $((3 * BENCH_PHP_CHILDREN)) children); load on \`bench/php/hello.php\`."
  echo "about_django=Three uWSGI FastCGI workers of the example Django site (\`examples/django/run-worker.sh\`, $BENCH_DJANGO_PROCESSES processes × $BENCH_DJANGO_THREADS threads each; h2o's own: one of $((3 * BENCH_DJANGO_PROCESSES)) processes × $BENCH_DJANGO_THREADS threads; uWSGI closes the connection after every response); load on \`/healthz\`. Django's CPU, not the gateway, bounds throughput: ratios near 1 are expected, and the gateway's CPU per request is the telling column."
  echo "version_fcgimux=$(bench_gateway_version fcgimux)"
  echo "fcgimux_build=$BENCH_BUILD_NOTE"
  echo "version_nginx=$(bench_gateway_version nginx)"
  echo "version_haproxy=$(bench_gateway_version haproxy)"
  echo "version_lighttpd=$(bench_gateway_version lighttpd)"
  echo "version_h2o=$(bench_gateway_version h2o)"
  echo "version_wrk=$(wrk -v 2>&1 | head -1)"
  echo "version_php-fpm=$(php-fpm8.2 -v | head -1)"
  echo "version_uwsgi=$(uwsgi --version)"
  echo "version_libfcgi=$(dpkg-query -W -f='${Version}' libfcgi-dev)"
  echo "version_curl=$(curl --version | head -1)"
  echo "kernel=$(uname -srm)"
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "memory=$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "settings=Every gateway listens on 127.0.0.1 and balances over the same three workers of a kind, least-connections (fcgimux \`least-conn\`, nginx \`least_conn\`, HAProxy \`leastconn\`, lighttpd \`fastcgi.balance = \"fair\"\`) — except h2o, which has one worker of its own with the capacity of the three."
  echo "settings=**h2o** ($(bench_gateway_version h2o | awk '{print $3}'), Debian's) cannot balance: \`fastcgi.connect\` takes one address, so h2o has **one worker of its own per kind with the capacity of the three** the others balance over: libfcgi $((3 * BENCH_LIBFCGI_THREADS)) threads, PHP-FPM $((3 * BENCH_PHP_CHILDREN)) children, Django $((3 * BENCH_DJANGO_PROCESSES)) processes × $BENCH_DJANGO_THREADS threads. (In front of one of the three shared workers, at c=512 h2o kept more connections to it than it had threads: the rest waited in its listen backlog and about half of wrk's clients got no answer for the whole run.) Otherwise the same settings where h2o has them: \`num-threads $BENCH_THREADS\` (one process), \`fastcgi.timeout.io ${BENCH_RESPONSE_TIMEOUT}000\` ms (it also bounds the connect: h2o has no connect timeout of its own), \`fastcgi.timeout.keepalive ${BENCH_UPSTREAM_KEEPALIVE_TIMEOUT}000\` ms (FCGI_KEEP_CONN; no limit on the number of idle worker connections; 0, no keep-alive, for Django/uWSGI like nginx and HAProxy), \`http1-request-timeout ${BENCH_IDLE_TIMEOUT}\` s (one timeout for the request head and the keep-alive idle time), \`max-connections $BENCH_MAX_CLIENTS\`, \`limit-request-body\` ${BENCH_MAX_BODY_MB} MiB, no access log. PHP through \`file.dir\` + \`file.custom-handler\` (.php), which sets SCRIPT_FILENAME; libfcgi and Django mounted at / (SCRIPT_NAME empty, PATH_INFO the path). h2o 2.2 reads the whole request body before it starts the FastCGI request (in memory, \`temp-buffer-path\` in the run's directory beyond that): uploads are not streamed."
  echo "settings=Threads/processes: fcgimux \`threads = $BENCH_THREADS\`, nginx \`worker_processes $BENCH_THREADS\` (+ an idle master), HAProxy \`nbthread $BENCH_THREADS\`, h2o \`num-threads $BENCH_THREADS\`, lighttpd 1 process (it is single-threaded by design; \`server.max-worker\` is deprecated) — lighttpd gets half the CPU parallelism of the others."
  echo "settings=Logging: no access log anywhere (fcgimux \`access_log = \"\"\`, nginx \`access_log off\`, HAProxy no \`log\`, lighttpd without mod_accesslog, h2o no \`access-log\`); error logs to files, level warn/error."
  echo "settings=Answers checked: at every load point, after the warm-up, one request on the small path must return 200 with the worker's body (\`Hello from libfcgi\`, \`Hello from PHP\`, \`ok\`); large bodies must arrive whole (download size, upload length echoed by the worker). Failures are listed under \"Problems seen\"."
  echo "settings=Timeouts: connect to worker ${BENCH_CONNECT_TIMEOUT}s, worker response ${BENCH_RESPONSE_TIMEOUT}s, client keep-alive idle ${BENCH_IDLE_TIMEOUT}s, request head ${BENCH_HEADER_TIMEOUT}s; request bodies up to ${BENCH_MAX_BODY_MB} MiB."
  echo "settings=Worker connections: FCGI_KEEP_CONN on (fcgimux always, nginx \`fastcgi_keep_conn on\` + \`keepalive $((BENCH_UPSTREAM_IDLE * 3))\` per process, HAProxy \`option keep-conn\` + \`http-reuse always\` + \`pool-max-conn $((BENCH_UPSTREAM_IDLE * BENCH_THREADS))\`); idle ones closed after ${BENCH_UPSTREAM_KEEPALIVE_TIMEOUT}s; up to $BENCH_UPSTREAM_IDLE idle per worker per thread (fcgimux \`max_idle_conns\`). Connections per worker: fcgimux \`max_conns = $BENCH_FCGIMUX_MAX_CONNS\` (0: no cap; requests past it wait in fcgimux's queue); HAProxy \`default-server\` ${BENCH_HAPROXY_SERVER_EXTRA:-without \`maxconn\`} (\`maxconn 24\` per server measured slower, bench/README.md); nginx open source has no queue at \`max_conns\` (it answers 502), lighttpd and h2o no cap. lighttpd 1.4 cannot keep worker connections: it connects for every request. Django/uWSGI closes after every response whatever FCGI_KEEP_CONN says: nginx (\`fastcgi_keep_conn off\`) and HAProxy (\`no option keep-conn\`) are told not to ask for it there, since with it they reuse closed connections (nginx then marks workers failed and answers 502); fcgimux is left to learn it by itself."
  echo "settings=Bodies: streamed, not spooled to disk: nginx \`fastcgi_request_buffering off\` and \`fastcgi_max_temp_file_size 0\`, lighttpd \`server.stream-request-body = 1\` / \`stream-response-body = 1\`; fcgimux and HAProxy stream by design."
  echo "settings=Keep-alive requests per client connection: unlimited except lighttpd (65535, its maximum) — nginx \`keepalive_requests\` raised from its default 1000."
  echo "settings=Workers: libfcgi $BENCH_LIBFCGI_THREADS threads and PHP-FPM $BENCH_PHP_CHILDREN static children per worker (3× that in h2o's own) — more than any gateway opens connections — because a worker thread/child stays with a kept-alive connection until the gateway closes it; with fewer, connections past the pool size wait in the listen backlog behind idle kept connections. Listen backlog $BENCH_WORKER_BACKLOG for every worker (uWSGI through \`UWSGI_LISTEN\`)."
  echo "settings=Load: wrk, \`--timeout 10s\`, 1 thread at concurrency 1 and 2 threads above; concurrencies ${concurrencies[*]}; $(load_plan_text); every gateway is started fresh for every point, so peak RSS (VmHWM summed over the gateway's processes) is that point's. CPU = utime+stime from /proc/PID/stat of the gateway's processes (nginx master + workers) over the measured wrk run ÷ requests. The client, the gateway and the workers share the $(nproc) cores. Clients served at once = requests/s × mean latency. Clients stalled ≥1 s: mid-run, \`ss -Htni state established \"( dport = :PORT )\"\` (wrk's side of its connections) twice about 1 s apart; connections whose bytes_acked (bytes wrk sent) did not grow had no request answered in that second (wrk sends the next request as soon as an answer arrives; it drops requests still unanswered at the end, so such clients are missing from its latency figures)."
  if ((body_rounds == 0 || body_transfers == 0)); then
    echo "settings=Large bodies: not measured in this plan."
  else
    echo "settings=Large bodies: one curl transfer at a time, $body_rounds rounds of $body_transfers downloads and $body_transfers uploads per gateway (in turn, the gateway started fresh each round), gateways interleaved, median of all transfers; 50 MiB downloads (\`/bytes?n=\`, \`bytes.php?n=\`, Django \`/big?mb=50\`) and 10 MiB uploads (\`Expect:\` disabled) of random bytes."
  fi
  if ((idle_rounds == 0)); then
    echo "settings=Idle connections: not measured in this plan."
  else
    echo "settings=Idle connections: $idle_conns client connections to each gateway with libfcgi workers, one request each, then held; $idle_rounds round(s). Open-file hard limit: $(ulimit -Hn)."
  fi
  echo "settings=Duration of this run: ${elapsed}s."
  for n in "${notes[@]}"; do echo "notes=$n"; done
} >"$meta"
/usr/bin/python3 "$here/tool.py" report "$raw" "$meta" "$out"
cp "$raw" "${out%.md}.raw.tsv"
bench_log "wrote $out (${elapsed}s)"
