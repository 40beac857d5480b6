#!/usr/bin/env bash
# bench/latency.sh — wrk's latency figures next to exactly timed requests,
# per gateway (issue #5).
#
#   bash bench/latency.sh [--kind php] [-c 8] [-d 8] [--rounds 3] [--slow 100]
#                         [--gateways "fcgimux nginx haproxy lighttpd h2o"]
#                         [--out FILE] [--append FILE]
#
# Besides the five gateways, --gateways takes fcgimux variants:
# fcgimux-t1 (`threads = 1`), fcgimux-write (`io_uring = false`) and
# fcgimux-ka0 (`keepalive_requests = 0`: worker connections never retired).
#
# Three workers of KIND (libfcgi, php or django) as in bench/run.sh; each
# gateway started fresh for every round (h2o, which cannot balance, on a
# worker of its own with the capacity of the three), gateways in turn.
# Against each: wrk -t2 -cC -dD --latency on the kind's small path, as
# bench/run.sh runs it, then bench/latency/client.c for the same C and D: a
# closed loop on C keep-alive connections that times every request exactly.
#
# Why: wrk corrects its latency histogram for coordinated omission (see the
# top of bench/latency/client.c). After one long stall it adds hundreds of
# samples, so its p99 follows the few longest stalls of a run. The exact
# client reports what the requests of the run waited, with the stalls
# counted once each (max, requests ≥ --slow ms). The two answer different
# questions; the table gives both, and "in flight" (requests/s × mean
# latency, at most C for a closed loop) shows when wrk's figures were
# corrected. The two measure one after the other, not the same seconds.
#
# Prints the Markdown summary; --out FILE writes it there, --append FILE
# puts it into FILE as a section, in place of the one an earlier run put
# there. Everything it starts listens on 127.0.0.1 on ports the kernel picks
# and is stopped by PID on exit; every wait is bounded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command_line="bash bench/latency.sh $*"

kind=php
conc=8
duration=8
rounds=3
slow=100
gateways="fcgimux nginx haproxy lighttpd h2o"
out=
append=
while (($#)); do
  case $1 in
    --kind) kind=$2; shift ;;
    -c | --concurrency) conc=$2; shift ;;
    -d | --duration) duration=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --gateways) gateways=$2; shift ;;
    --out) out=$2; shift ;;
    --append) append=$2; shift ;;
    --slow) slow=$2; shift ;;
    -h | --help) sed -n "2,32p" "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $kind =~ ^(libfcgi|php|django)$ ]] || { echo "--kind is libfcgi, php or django" >&2; exit 2; }
[[ $conc =~ ^[1-9][0-9]*$ && $duration =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ && $slow =~ ^[1-9][0-9]*$ ]] ||
  { echo "-c, -d, --rounds and --slow take whole numbers" >&2; exit 2; }
[[ $out && $out != /* ]] && out="$PWD/$out"
[[ $append && $append != /* ]] && append="$PWD/$append"

# shellcheck source=bench/lib.sh
source "$here/lib.sh"

bench_workdir latency

bench_ensure_packages wrk nginx-light haproxy lighttpd h2o libfcgi-dev curl cmake g++ pkg-config libuv1-dev \
  libtomlplusplus-dev libfmt-dev node-llhttp catch2
[[ $kind == php ]] && bench_ensure_packages php8.2-fpm
[[ $kind == django ]] && bench_ensure_packages uwsgi uwsgi-plugin-python3 python3-django
bench_build
client_bin="$BENCH_ROOT/build-release/bench/latency_client"
mkdir -p "$(dirname "$client_bin")"
cc -O2 -Wall -Wextra -o "$client_bin" "$here/latency/client.c" || bench_die "cannot build bench/latency/client.c"

read -r -a wports <<<"$(bench_free_ports 3)"
bench_worker_paths "$kind"
bench_start_workers "$kind" "$work/workers" "${wports[@]}"
wh=
if [[ " $gateways " == *" h2o "* ]]; then
  read -r wh <<<"$(bench_free_ports 1)"
  bench_start_h2o_worker "$kind" "$work/workers" "$wh"
fi

wrk_threads=$((conc < 2 ? conc : 2))
raw="$work/raw.tsv"
printf 'gateway\tround\twrk_rps\twrk_p99_ms\twrk_mean_ms\twrk_requests\twrk_errors\trequests\trps\tmean_ms\tp50_ms\tp90_ms\tp99_ms\tp999_ms\tmax_ms\tin_flight\tslow\terrors\n' >"$raw"
for ((r = 1; r <= rounds; r++)); do
  for gw in $gateways; do
    read -r port <<<"$(bench_free_ports 1)"
    dir="$work/$gw-r$r"
    case $gw in
      h2o) bench_start_gateway h2o "$kind" "$port" "$dir" "$wh" ;;
      fcgimux-t1) BENCH_THREADS=1 bench_start_gateway fcgimux "$kind" "$port" "$dir" "${wports[@]}" ;;
      fcgimux-write) BENCH_FCGIMUX_SERVER_EXTRA="io_uring = false" bench_start_gateway fcgimux "$kind" "$port" "$dir" "${wports[@]}" ;;
      fcgimux-ka0) BENCH_FCGIMUX_POOL_EXTRA="keepalive_requests = 0" bench_start_gateway fcgimux "$kind" "$port" "$dir" "${wports[@]}" ;;
      *) bench_start_gateway "$gw" "$kind" "$port" "$dir" "${wports[@]}" ;;
    esac
    pid=$BENCH_LAST_PID
    url="http://127.0.0.1:$port$BENCH_PATH_SMALL"
    bench_wait_answer "$url" "$gw"
    timeout 30 wrk -t"$wrk_threads" -c"$conc" -d2s --timeout 10s "$url" >/dev/null 2>&1 || true
    timeout $((duration + 30)) wrk -t"$wrk_threads" -c"$conc" -d"${duration}s" --timeout 10s --latency "$url" >"$dir/wrk.txt" 2>&1 || true
    read -r wrps _p50 wp99 wreqs non2xx sockerr wmean < <(/usr/bin/python3 "$here/tool.py" wrk "$dir/wrk.txt")
    [[ $wrps =~ ^[0-9.]+$ ]] || bench_die "wrk measured nothing for $gw: $(head -c 300 "$dir/wrk.txt")"
    timeout $((duration + 30)) "$client_bin" "$port" "$BENCH_PATH_SMALL" "$conc" "$duration" "$slow" >"$dir/exact.txt" 2>&1 ||
      bench_die "bench/latency/client.c failed against $gw: $(head -c 300 "$dir/exact.txt")"
    # A connection that could not be replaced lowered the concurrency: the figures would not be comparable.
    grep -q ' lost=0$' "$dir/exact.txt" || bench_die "bench/latency/client.c lost connections to $gw: $(cat "$dir/exact.txt")"
    exact=$(tr ' ' '\n' <"$dir/exact.txt" | awk -F= '{v[$1] = $2} END {
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", v["requests"], v["rps"], v["mean_ms"], v["p50_ms"],
        v["p90_ms"], v["p99_ms"], v["p999_ms"], v["max_ms"], v["in_flight"], v["slow"], v["non2xx"] + v["errors"] }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$gw" "$r" "$wrps" "$wp99" "$wmean" "$wreqs" "$((non2xx + sockerr))" "$exact" >>"$raw"
    bench_log "r$r $gw: wrk $wrps req/s p99 $wp99 ms; exact: $(cat "$dir/exact.txt")"
    bench_stop "$pid"
  done
done

summary=$(/usr/bin/python3 - "$raw" "$command_line" "$BENCH_BUILD_NOTE" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "$(uptime | sed 's/.*load average: //')" "$kind" "$conc" "$duration" "$rounds" "$BENCH_PATH_SMALL" "$slow" <<'EOF'
import csv, statistics, sys
raw, command, build, when, load, kind, conc, duration, rounds, path, slow = sys.argv[1:]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
by_gw = {}
for r in rows:
    by_gw.setdefault(r["gateway"], []).append(r)
def med(gw, key):
    return statistics.median(float(r[key]) for r in by_gw[gw])
def total(gw, key):
    return sum(int(float(r[key])) for r in by_gw[gw])
out = []
out.append("## wrk's latency and exactly timed requests (bench/latency.sh)\n")
out.append(f"`{command}` — {when}, {build}; load average at the end {load} (this run's own load included).")
out.append(f"Three {kind} workers as in bench/run.sh (h2o: one of its own); each gateway fresh per round, gateways in turn, "
           f"{rounds} rounds, medians (max: the largest of all rounds). Per round: wrk -t2 -c{conc} -d{duration}s --latency on "
           f"`{path}`, then bench/latency/client.c, a closed loop on {conc} keep-alive connections timing every request, for "
           f"{duration} s (the two one after the other, not the same seconds). "
           "fcgimux-t1: `threads = 1`; fcgimux-write: `io_uring = false`; fcgimux-ka0: `keepalive_requests = 0`. "
           f"**In flight** = requests/s × mean latency: a closed loop of {conc} connections cannot have more than "
           f"{conc}; wrk's figure is above that when its correction for coordinated omission added samples for long stalls "
           "(the top of bench/latency/client.c explains it), and its p99 then follows the run's few longest stalls. "
           f"**≥{slow} ms**: exactly timed requests that took {slow} ms or more, all rounds. **Errors**: wrk's non-2xx and "
           "socket errors, and the exact client's non-2xx and broken connections, all rounds.\n")
out.append(f"| gateway | wrk requests/s | wrk p99 ms | wrk in flight | exact requests/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | exact in flight | ≥{slow} ms | errors (wrk + exact) |")
out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for gw, rs in by_gw.items():
    wrk_in_flight = statistics.median(float(r["wrk_rps"]) * float(r["wrk_mean_ms"]) / 1000 for r in rs)
    out.append(f"| {gw} | {med(gw, 'wrk_rps'):,.0f} | {med(gw, 'wrk_p99_ms'):.2f} | {wrk_in_flight:.1f} | "
               f"{med(gw, 'rps'):,.0f} | {med(gw, 'p50_ms'):.2f} | {med(gw, 'p90_ms'):.2f} | {med(gw, 'p99_ms'):.2f} | "
               f"{med(gw, 'p999_ms'):.2f} | {max(float(r['max_ms']) for r in rs):.1f} | {med(gw, 'in_flight'):.1f} | "
               f"{total(gw, 'slow')} | {total(gw, 'wrk_errors') + total(gw, 'errors')} |")
if "fcgimux" in by_gw:
    f99 = med("fcgimux", "p99_ms")
    ratios = [f"{gw} {f99 / med(gw, 'p99_ms'):.2f}" for gw in by_gw if gw != "fcgimux" and med(gw, "p99_ms") > 0]
    if ratios:
        out.append(f"\nExactly timed p99, fcgimux ÷ each of the others: {', '.join(ratios)}.")
print("\n".join(out))
EOF
)
bench_publish "$summary" "$out" "$append"
exit 0
