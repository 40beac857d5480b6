#!/usr/bin/env bash
# bench/idle_heap.sh — heap bytes per idle keep-alive client connection in
# fcgimux, and where they are allocated (issue #5: "10,000 idle keep-alive
# connections cost at most 2 KiB each"; run.sh measures the RSS, this says
# what makes it up).
#
#   bash bench/idle_heap.sh [N1] [N2]        (defaults 1000 and 4000)
#
# Three libfcgi responders and fcgimux configured as bench/run.sh does
# (bench/lib.sh), fcgimux under heaptrack. N client connections each send
# one `GET /hello`, read the answer and stay open; then fcgimux is stopped.
# Run once with N1 and once with N2 connections: everything else is the same
# in both runs, so for each call site
#     bytes per connection = (peak(N2) - peak(N1)) / (N2 - N1)
# where peak is what heaptrack_print --print-peaks reports for it (the bytes
# it held at the moment of the heap's peak, i.e. with all connections open).
# It prints the call sites above 4 bytes per connection and the total.
# Heap only: libuv handles inside objects count, kernel socket buffers and
# malloc's own overhead (~16 bytes per block) do not.
#
# FCGIMUX_BIN=... for another binary (default: the Release build of
# build-release/, built if needed). Installs heaptrack (Debian) if missing.
# Work files in /tmp, removed unless IDLE_HEAP_KEEP=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,23p' "$0"; exit 0; }
N1=${1:-1000}
N2=${2:-4000}
[[ $N1 =~ ^[0-9]+$ && $N2 =~ ^[0-9]+$ ]] || bench_die "usage: bash bench/idle_heap.sh [N1] [N2] (numbers of connections)"
((N2 > N1)) || bench_die "N2 must be larger than N1"
bench_ensure_packages heaptrack wrk libfcgi-dev || bench_die "cannot install heaptrack"
bench_build
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d /tmp/fcgimux-idle-heap.XXXXXX)
trap 'bench_stop_all; [[ -n ${IDLE_HEAP_KEEP:-} ]] || rm -rf "$work"' EXIT

read -r w1 w2 w3 <<<"$(bench_free_ports 3)"
bench_worker_paths libfcgi
bench_start_workers libfcgi "$work/workers" "$w1" "$w2" "$w3"

# run N: fcgimux under heaptrack with N idle connections; writes $work/heap-N.txt.
run() {
  local n=$1 dir="$work/n$1" port
  port=$(bench_free_ports 1)
  bench_gateway_config fcgimux libfcgi "$port" "$dir" "$w1" "$w2" "$w3"
  bench_spawn "$dir/heaptrack.out" heaptrack -o "$dir/heap" "$FCGIMUX_BIN" -c "$dir/fcgimux.toml"
  local ht=$BENCH_LAST_PID
  bench_wait_port "$port" 60 "$ht" || bench_die "fcgimux under heaptrack did not start"
  # heaptrack's children (fcgimux, heaptrack_interpret) are stopped with it on any exit
  local kid
  for kid in $(bench_tree "$ht"); do [[ $kid == "$ht" ]] || BENCH_PIDS+=("$kid"); done
  bench_wait_answer "http://127.0.0.1:$port/hello" fcgimux 200
  mkdir -p "$dir/idle"
  touch "$dir/idle/half_done"
  /usr/bin/python3 "$here/tool.py" idle "$port" "$n" /hello "$dir/idle" >"$dir/idle.log" 2>&1 &
  local client=$!
  BENCH_PIDS+=("$client")
  for ((i = 0; i < 1800; i++)); do [[ -f $dir/idle/ready ]] && break; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
  [[ -f $dir/idle/ready ]] || bench_die "the idle client did not finish (n=$n): $(tail -1 "$dir/idle.log")"
  local open
  read -r _ open _ <"$dir/idle/ready"
  ((open == n)) || bench_die "only $open of $n connections answered 200"
  sleep 0.5
  # heaptrack runs fcgimux as its child: stop that one, heaptrack then writes its file
  local fcgimux='' exe p
  exe=$(readlink -f "$FCGIMUX_BIN")
  for p in $(bench_tree "$ht"); do
    if [[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$exe" ]]; then fcgimux=$p; break; fi
  done
  [[ -n $fcgimux ]] || bench_die "fcgimux not found under heaptrack"
  kill -TERM "$fcgimux"
  for ((i = 0; i < 600; i++)); do kill -0 "$ht" 2>/dev/null || break; sleep 0.1; done
  bench_stop "$ht"
  touch "$dir/idle/done"
  bench_stop "$client"
  heaptrack_print -f "$dir"/heap.*zst --print-peaks 1 --print-allocators 0 --print-temporary 0 \
    --print-leaks 0 --peak-limit 40 >"$work/heap-$n.txt" 2>/dev/null
  bench_log "n=$n: $(grep 'peak heap memory consumption' "$work/heap-$n.txt")"
}

run "$N1"
run "$N2"

/usr/bin/python3 - "$work/heap-$N1.txt" "$work/heap-$N2.txt" "$N1" "$N2" <<'EOF'
import re, sys

UNITS = {"B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}

def size(text):
    m = re.match(r"([0-9.]+)([KMG]?)B?$", text)
    return float(m.group(1)) * UNITS[m.group(2) or "B"]

def peaks(path):
    """{call site: bytes at the peak}, and the total peak heap."""
    out, total, lines = {}, 0.0, open(path, errors="replace").read().split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^([0-9.]+[KMG]?B?) peak memory consumed over \d+ calls from$", line)
        if m and i + 1 < len(lines):
            site = lines[i + 1].strip()
            out[site] = out.get(site, 0.0) + size(m.group(1))
        m = re.match(r"^peak heap memory consumption: ([0-9.]+[KMG]?B?)$", line)
        if m:
            total = size(m.group(1))
    return out, total

p1, t1 = peaks(sys.argv[1])
p2, t2 = peaks(sys.argv[2])
n1, n2 = int(sys.argv[3]), int(sys.argv[4])
d = n2 - n1
rows = sorted(((p2.get(s, 0.0) - p1.get(s, 0.0)) / d, s) for s in set(p1) | set(p2))
print("Heap bytes per idle keep-alive connection in fcgimux (heaptrack, %d vs %d connections; "
      "sizes as heaptrack prints them, ~1%% precision):" % (n1, n2))
print()
print("| bytes per connection | allocated in |")
print("|---:|---|")
for b, s in reversed(rows):
    if b >= 4:
        print("| %.0f | `%s` |" % (b, s))
print("| **%.0f** | **total peak heap** |" % ((t2 - t1) / d))
EOF
