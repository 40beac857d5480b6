#!/usr/bin/env bash
# bench/alloc_count.sh — heap allocations per request through fcgimux, and
# where they come from (issue #5: "no per-request heap allocation beyond a
# small fixed number").
#
#   bash bench/alloc_count.sh [N1] [N2]        (defaults 200 and 2200)
#   bash bench/alloc_count.sh --mux [S1] [S2]  (defaults 2 and 6 seconds)
#
# Starts one examples/libfcgi responder and fcgimux (threads = 1, no access
# log) under heaptrack, sends N keep-alive `GET /hello` on one client
# connection (so one kept-alive worker connection carries them all), stops
# fcgimux, and repeats with N2 requests. Start-up, the first connections and
# shutdown are the same in both runs, so
#     allocations per request = (calls(N2) - calls(N1)) / (N2 - N1)
# and `heaptrack_print --diff` of the two runs lists the per-request call
# sites, most calls first. Nothing here times anything.
#
# --mux: a multiplexing worker instead (the tests' mux_worker, FCGI_MPXS_CONNS
# = 1; pool `multiplex = "on"`), so that one worker connection carries many
# requests at once, and 32 concurrent clients (wrk) for S1, then S2 seconds:
# allocations per request = (calls(S2) - calls(S1)) / (requests(S2) -
# requests(S1)). It covers what one client at a time cannot: several
# requests' records written to one connection in one loop iteration.
#
# FCGIMUX_BIN and RESPONDER_BIN may name other binaries; by default the
# RelWithDebInfo build in build/ (symbols make the call sites readable):
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j2
# Installs heaptrack (Debian) if missing, as the other bench scripts do.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mux=0
if [[ ${1:-} == --mux ]]; then mux=1; shift; fi
if ((mux)); then N1=${1:-2} N2=${2:-6}; else N1=${1:-200} N2=${2:-2200}; fi
((N2 > N1)) || bench_die "N2 must be larger than N1"
: "${FCGIMUX_BIN:=$BENCH_ROOT/build/gateway/fcgimux}"
: "${RESPONDER_BIN:=$BENCH_ROOT/build/examples/libfcgi/libfcgi_responder}"
: "${MUX_WORKER_BIN:=$BENCH_ROOT/build/tests/e2e/mux_worker}"
[[ -x $FCGIMUX_BIN ]] || bench_die "no $FCGIMUX_BIN: build first (see the top of this script)"
if ((mux)); then
  [[ -x $MUX_WORKER_BIN ]] || bench_die "no $MUX_WORKER_BIN: build with -DFCGIMUX_TESTS=ON first"
  bench_ensure_packages heaptrack wrk || bench_die "cannot install heaptrack and wrk"
else
  [[ -x $RESPONDER_BIN ]] || bench_die "no $RESPONDER_BIN: build first"
  bench_ensure_packages heaptrack || bench_die "cannot install heaptrack"
fi

WORK=$(mktemp -d /tmp/fcgimux-alloc.XXXXXX)
trap 'bench_stop_all; [[ -n ${ALLOC_KEEP:-} ]] || rm -rf "$WORK"' EXIT

read -r WPORT GPORT < <(bench_free_ports 2)

cat >"$WORK/fcgimux.toml" <<EOF
[server]
listen = ["127.0.0.1:$GPORT"]
threads = 1
access_log = ""
error_log = "$WORK/fcgimux-error.log"
log_level = "warn"

[[route]]
prefix = "/"
pool = "w"

[pools.w]
workers = ["127.0.0.1:$WPORT"]
EOF
((mux)) && echo 'multiplex = "on"' >>"$WORK/fcgimux.toml"

# client N: N keep-alive GETs on one connection; fails on anything but 200.
client() {
  /usr/bin/python3 - "$GPORT" "$1" <<'EOF'
import socket, sys
import time
port, n = int(sys.argv[1]), int(sys.argv[2])
# fcgimux answers 503 until its first probe admits the worker (slow under
# heaptrack): wait for a 200 on a connection of its own first. The few
# allocations of those requests are the same in both runs, to within a 503 or two.
for _ in range(200):
    w = socket.create_connection(("127.0.0.1", port))
    w.sendall(b"GET /hello HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    r = b""
    while (d := w.recv(65536)): r += d
    w.close()
    if r.startswith(b"HTTP/1.1 200"): break
    time.sleep(0.05)
s = socket.create_connection(("127.0.0.1", port))
req = b"GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: alloc_count\r\nAccept: */*\r\n\r\n"
buf = b""
for _ in range(n):
    s.sendall(req)
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d: sys.exit("connection closed")
        buf += d
    head, _, buf = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"): sys.exit("unexpected response: %r" % head[:80])
    length = next(int(l.split(b":", 1)[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
    while len(buf) < length:
        d = s.recv(65536)
        if not d: sys.exit("connection closed")
        buf += d
    buf = buf[length:]
s.close()
EOF
}

# mux_client S: 32 concurrent keep-alive clients for S seconds, once the
# worker is admitted; writes the number of requests to $WORK/requests.S and
# fails on anything but 200s.
mux_client() {
  local i out
  for ((i = 0; i < 200; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GPORT/hello") == 200 ]] && break
    sleep 0.05
  done
  out=$(wrk -t1 -c32 -d"$1"s "http://127.0.0.1:$GPORT/hello") || return 1
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$out" >&2; return 1; fi
  awk '/requests in/ {print $1}' <<<"$out" >"$WORK/requests.$1"
}

# run N: a fresh worker, and fcgimux under heaptrack, for N requests (--mux:
# N seconds); prints the data file.
run() {
  local n=$1 out="$WORK/heaptrack.$1" wpid
  if ((mux)); then
    bench_spawn "$WORK/worker.$n.log" "$MUX_WORKER_BIN" --listen "127.0.0.1:$WPORT" --name mux-1
  else
    bench_spawn "$WORK/worker.$n.log" "$RESPONDER_BIN" "127.0.0.1:$WPORT" 16 libfcgi-1
  fi
  wpid=$BENCH_LAST_PID
  bench_wait_port "$WPORT" 15 "$wpid" || bench_die "the libfcgi responder did not start"
  bench_spawn "$WORK/run.$n.log" heaptrack -o "$out" "$FCGIMUX_BIN" -c "$WORK/fcgimux.toml"
  local pid=$BENCH_LAST_PID
  bench_wait_port "$GPORT" 30 "$pid" || { cat "$WORK/run.$n.log" >&2; bench_die "fcgimux did not start"; }
  # heaptrack (a shell script) runs the gateway as its child, next to its
  # own interpreter: SIGTERM the gateway, then heaptrack finishes the file.
  local gw="" c exe
  exe=$(readlink -f "$FCGIMUX_BIN")
  for c in $(pgrep -P "$pid"); do if [[ $(readlink -f "/proc/$c/exe") == "$exe" ]]; then gw=$c; fi; done
  [[ -n $gw ]] || bench_die "fcgimux is not running under heaptrack"
  if ((mux)); then
    mux_client "$n" || { kill -TERM "$gw"; bench_die "client failed"; }
  else
    client "$n" || { kill -TERM "$gw"; bench_die "client failed"; }
    echo "$n" >"$WORK/requests.$n"
  fi
  kill -TERM "$gw"
  wait "$pid" 2>/dev/null || true
  bench_stop "$wpid"
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
  local f
  for f in "$out".zst "$out".gz; do if [[ -f $f ]]; then echo "$f"; return 0; fi; done
  bench_die "heaptrack wrote no data file"
}

calls() { heaptrack_print -f "$1" -p 0 -a 0 -T 0 | awk '/^calls to allocation functions:/ {print $5}'; }

run "$N1" >"$WORK/f1"
run "$N2" >"$WORK/f2"
F1=$(cat "$WORK/f1")
F2=$(cat "$WORK/f2")
C1=$(calls "$F1")
C2=$(calls "$F2")
R1=$(cat "$WORK/requests.$N1")
R2=$(cat "$WORK/requests.$N2")
((R2 > R1)) || bench_die "the second run served no more requests than the first ($R2, $R1)"
what="keep-alive GET /hello, libfcgi worker, kept-alive upstream"
((mux)) && what="32 concurrent keep-alive GET /hello clients, one multiplexed worker connection"
echo "fcgimux: $FCGIMUX_BIN"
echo "allocation calls: $C1 for $R1 requests, $C2 for $R2 requests"
awk -v a="$C1" -v b="$C2" -v n1="$R1" -v n2="$R2" -v what="$what" \
  'BEGIN { printf "allocations per request (%s): %.2f\n", what, (b - a) / (n2 - n1) }'
echo
echo "per-request call sites (heaptrack_print --diff of the two runs), allocations per request"
echo "and the two innermost fcgimux frames of the call stack, innermost first:"
heaptrack_print -f "$F2" -d "$F1" -p 0 -a 0 -T 0 --flamegraph-cost-type allocations -F "$WORK/stacks.txt" >/dev/null
/usr/bin/python3 - "$WORK/stacks.txt" "$((R2 - R1))" <<'EOF'
import collections, re, sys
per = collections.Counter()
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip("\n").rpartition(" ")
    ours = [f for f in stack.split(";") if re.search(r"\b(fcgimux|fcgi)::", f)]
    key = "  <-  ".join(reversed(ours[-2:])) if ours else stack.split(";")[-1]
    per[key] += int(n)
for key, n in per.most_common():
    if abs(n) / int(sys.argv[2]) >= 0.05:
        print("%6.2f  %s" % (n / int(sys.argv[2]), key))
EOF
