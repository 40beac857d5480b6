#!/usr/bin/env bash
# Multiplexing (issue #4): one multiplexing FastCGI worker, four gateways in
# front of it, interleaved round by round:
#   fcgimux-mux    fcgimux, multiplex = "on"
#   fcgimux-off    fcgimux, multiplex = "off" (one request per connection, kept alive)
#   nginx          fastcgi_keep_conn on + upstream keepalive (nginx never multiplexes)
#   haproxy        fcgi-app with option keep-conn + option mpxs-conns + option get-values,
#                  http-reuse always
# Per point: requests/s (wrk, /hello) and the worker-side connections: the
# established TCP connections to the worker's port, sampled every 100 ms
# during the measured run (max and median of the samples).
#
#   bash bench/mux.sh [--quick] [--worker node|perl] [--out FILE]
#
# --quick: 3 rounds of 3 s points (about 3 minutes); default: 5 rounds of
# 10 s (about 10 minutes). --worker: examples/node/worker.js (node-fastcgi,
# default) or examples/perl/worker.pl (Net::Async::FastCGI). The result
# section goes into bench/RESULTS.md (or --out), in place of the one an
# earlier run wrote, with the exact command.
# Every process started is stopped by PID on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
command_line="bash bench/mux.sh $*"

quick=0
worker=node
out="$here/RESULTS.md"
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --worker) worker=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if ((quick)); then rounds=3 duration=3 warmup=1; else rounds=5 duration=10 warmup=2; fi
rounds=${BENCH_ROUNDS:-$rounds} duration=${BENCH_DURATION:-$duration}
concurrencies=(64 256)
[[ -n ${BENCH_CONCURRENCIES:-} ]] && read -r -a concurrencies <<<"$BENCH_CONCURRENCIES"
path=/hello
gateways=(fcgimux-mux fcgimux-off nginx haproxy)

# No connection cap (bench/lib.sh sets one for run.sh): with multiplexing
# off, fcgimux opens a connection per request in flight, which is what this
# comparison counts.
BENCH_FCGIMUX_MAX_CONNS=${BENCH_FCGIMUX_MAX_CONNS:-0}
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

bench_workdir bench-mux
ulimit -n "$(ulimit -Hn)"

case $worker in
  node) bench_ensure_packages nodejs node-fastcgi ;;
  perl) bench_ensure_packages libnet-async-fastcgi-perl ;;
  *) bench_die "unknown worker $worker (node or perl)" ;;
esac
bench_ensure_packages wrk nginx-light haproxy iproute2 cmake g++ pkg-config libuv1-dev \
  libtomlplusplus-dev libfmt-dev node-llhttp libfcgi-dev
bench_build

# The worker, started once for the whole run (every gateway meets the same
# process).
read -r wport <<<"$(bench_free_ports 1)"
case $worker in
  node) bench_spawn "$work/worker.log" /usr/bin/node "$root/examples/node/worker.js" "127.0.0.1:$wport" node-1 ;;
  perl) bench_spawn "$work/worker.log" /usr/bin/perl "$root/examples/perl/worker.pl" "127.0.0.1:$wport" perl-1 ;;
esac
wpid=$BENCH_LAST_PID
bench_wait_port "$wport" 30 "$wpid" || { tail -20 "$work/worker.log" >&2; bench_die "worker did not start"; }
worker_version=$(case $worker in
  node) echo "node $(/usr/bin/node --version), node-fastcgi $(dpkg-query -W -f='${Version}' node-fastcgi)" ;;
  perl) echo "perl $(perl -e 'print $^V'), Net::Async::FastCGI $(dpkg-query -W -f='${Version}' libnet-async-fastcgi-perl)" ;;
esac)

# worker_conns: established connections whose remote end is the worker
# (the gateway's side of each connection).
worker_conns() { ss -Htn state established dst "127.0.0.1:$wport" 2>/dev/null | wc -l; }

raw="$work/raw.tsv"
printf 'gateway\tconcurrency\tround\trps\tp99_ms\trequests\tnon2xx\tsockerr\tconns_max\tconns_median\n' >"$raw"

# point GW C ROUND
point() {
  local gw=$1 c=$2 round=$3 port
  read -r port <<<"$(bench_free_ports 1)"
  local dir="$work/$gw-c$c-r$round" base=${gw%%-*}
  case $gw in
    fcgimux-mux) BENCH_FCGIMUX_POOL_EXTRA='multiplex = "on"' ;;
    fcgimux-off) BENCH_FCGIMUX_POOL_EXTRA='multiplex = "off"' ;;
    *) BENCH_FCGIMUX_POOL_EXTRA= ;;
  esac
  BENCH_HAPROXY_FCGI_APP_EXTRA=
  [[ $gw == haproxy ]] && BENCH_HAPROXY_FCGI_APP_EXTRA=$'  option get-values\n  option mpxs-conns\n  option max-reqs 100'
  # kind libfcgi: /hello, SCRIPT_NAME "" and PATH_INFO = the path; what the
  # example workers answer too.
  bench_start_gateway "$base" libfcgi "$port" "$dir" "$wport"
  local gpid=$BENCH_LAST_PID url="http://127.0.0.1:$port$path"
  timeout 40 wrk -t2 -c"$c" -d"${warmup}s" --timeout 10s "$url" >"$dir/warmup.txt" 2>&1 || true
  : >"$dir/conns.txt"
  (while :; do worker_conns >>"$dir/conns.txt"; sleep 0.1; done) &
  local sampler=$!
  BENCH_PIDS+=("$sampler")
  timeout $((duration + 30)) wrk -t2 -c"$c" -d"${duration}s" --timeout 10s --latency "$url" >"$dir/wrk.txt" 2>&1 || true
  bench_stop "$sampler"
  local rps p50 p99 reqs non2xx sockerr cmax cmed
  read -r rps p50 p99 reqs non2xx sockerr _ < <(/usr/bin/python3 "$here/tool.py" wrk "$dir/wrk.txt")
  read -r cmax cmed < <(sort -n "$dir/conns.txt" | awk '{v[NR]=$1} END{ if (NR) print v[NR], v[int((NR+1)/2)]; else print 0, 0 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$gw" "$c" "$round" "$rps" "$p99" "$reqs" "$non2xx" "$sockerr" "$cmax" "$cmed" >>"$raw"
  printf '  %-12s c=%-3d r%d: %8.0f req/s p99 %8.2fms worker conns max %3d median %3d non2xx %s sockerr %s\n' \
    "$gw" "$c" "$round" "$rps" "$p99" "$cmax" "$cmed" "$non2xx" "$sockerr" >&2
  kill -0 "$gpid" 2>/dev/null || bench_log "NOTE: $gw exited during c=$c round $round"
  bench_stop "$gpid"
  # Let the worker see every connection of this gateway close before the next.
  local i
  for ((i = 0; i < 50; i++)); do (($(worker_conns) == 0)) && break; sleep 0.1; done
}

started=$(date +%s)
bench_log "worker $worker on 127.0.0.1:$wport; ${rounds} rounds, ${duration}s points, c=${concurrencies[*]}"
for ((round = 1; round <= rounds; round++)); do
  for c in "${concurrencies[@]}"; do
    # rotate the gateway order each round
    for ((g = 0; g < ${#gateways[@]}; g++)); do
      point "${gateways[(g + round) % ${#gateways[@]}]}" "$c" "$round"
    done
  done
done
elapsed=$(($(date +%s) - started))
kill -0 "$wpid" 2>/dev/null || bench_die "the worker died during the run"

# Medians per gateway and concurrency, ratios to fcgimux-off and nginx.
section=$(/usr/bin/python3 - "$raw" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
cs = sorted({int(r["concurrency"]) for r in rows})
gws = ["fcgimux-mux", "fcgimux-off", "nginx", "haproxy"]
med = {}
for g in gws:
    for c in cs:
        sel = [r for r in rows if r["gateway"] == g and int(r["concurrency"]) == c]
        if not sel:
            continue
        f = lambda k: statistics.median(float(r[k]) for r in sel)
        med[g, c] = dict(rps=f("rps"), p99=f("p99_ms"), cmax=f("conns_max"), cmed=f("conns_median"),
                         errs=sum(int(r["non2xx"]) + int(r["sockerr"]) for r in sel), n=len(sel))
print("| gateway | c | req/s (median) | × fcgimux-off | × nginx | p99 ms | worker conns max / median | errors |")
print("|---|---|---|---|---|---|---|---|")
for c in cs:
    for g in gws:
        m = med.get((g, c))
        if not m:
            continue
        ratio = lambda other: ("%.2f" % (m["rps"] / med[other, c]["rps"])) if (other, c) in med and med[other, c]["rps"] else "-"
        print(f"| {g} | {c} | {m['rps']:.0f} | {ratio('fcgimux-off')} | {ratio('nginx')} | {m['p99']:.1f} | {m['cmax']:.0f} / {m['cmed']:.0f} | {m['errs']} |")
EOF
)
{
  echo "## Multiplexing: one $worker worker, multiplex on/off, nginx, HAProxy (bench/mux.sh)"
  echo
  echo "Command: \`$command_line\` — $(date -u '+%Y-%m-%d %H:%M UTC'), ${elapsed}s, $BENCH_BUILD_NOTE."
  echo "Worker: $worker_version, one process on loopback, the same for every gateway."
  echo "Load: wrk -t2, \`$path\`, ${duration}s per point after ${warmup}s warm-up, c=${concurrencies[*]}, $rounds rounds, gateways rotated each round, each started fresh per point."
  echo "Worker conns: established TCP connections to the worker port (\`ss state established dst\`), sampled every 100 ms during the measured run; medians over rounds."
  echo "Gateways: fcgimux threads=$BENCH_THREADS \`multiplex = \"on\"\` / \`\"off\"\`; nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') keepalive + fastcgi_keep_conn on; HAProxy $(haproxy -v 2>&1 | head -1 | awk '{print $3}') fcgi-app \`option keep-conn\`, \`option get-values\`, \`option mpxs-conns\`, \`option max-reqs 100\`, \`http-reuse always\`."
  echo
  echo "$section"
} | tee "$work/section.md"
# In place of the section an earlier run wrote, else at the end.
/usr/bin/python3 "$here/tool.py" append "$out" "$work/section.md"
cp "$raw" "${out%.md}.mux.raw.tsv"
