#!/usr/bin/env bash
# bench/soak/run.sh — the soak test (issue #6; not part of CI's run).
#
#   bash bench/soak/run.sh [--minutes N] [--out DIR]
#
# Runs fcgimux (release build, bench/lib.sh's bench_build) in front of three
# libfcgi responders (examples/libfcgi) for N minutes (default 30) of mixed
# traffic (bench/soak/load.py: small GETs, POSTs, 4 MiB responses, slow
# views, slow readers, slow uploads), while every 20 s one worker is, in
# turn, killed with SIGKILL and restarted on its port 5 s later, or stopped
# with SIGSTOP for about 8 s (the next 5 s sample after 8 s) and continued. Every 5 s it records fcgimux's VmRSS
# and open file descriptors in DIR/samples.csv. At the end it prints the
# first, last and largest values and whether they stayed flat: the mean of
# the last fifth of the run within 10 % (RSS) / 16 fds of the mean of the
# second fifth (the first is warm-up). Exit status 0 when flat and fcgimux
# survived, 1 otherwise.
#
# It stops by itself, and stops only the processes it started (by PID, also
# on Ctrl-C). DIR (default /tmp/fcgimux-soak-TIMESTAMP) keeps the logs.
set -euo pipefail

# Everything is inside functions, called from the last line: bash has then
# read the whole file before anything runs, so editing it during a 30-minute
# run cannot derail the run.

# summarize CSV LOAD_JSON ALIVE(0|1): prints the figures; status 1 if RSS or
# fds grew or fcgimux died. Also: bash bench/soak/run.sh --summarize DIR
summarize() {
/usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import csv, json, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["rss_kib"]]
alive = sys.argv[3] == "1"
rss = [int(r["rss_kib"]) for r in rows]
fds = [int(r["fds"]) for r in rows]
n = len(rows)
def mean(v): return sum(v) / len(v) if v else 0
second = slice(n // 5, max(n // 5 + 1, 2 * n // 5))
last = slice(max(0, n - n // 5 - 1), n)
rss_flat = mean(rss[last]) <= mean(rss[second]) * 1.10
fds_flat = mean(fds[last]) <= mean(fds[second]) + 16
print(f"samples: {n} (every 5 s, {rows[-1]['elapsed_s']} s)")
print(f"VmRSS KiB: first {rss[0]}  last {rss[-1]}  max {max(rss)}  "
      f"mean 2nd fifth {mean(rss[second]):.0f}  mean last fifth {mean(rss[last]):.0f}  -> {'flat' if rss_flat else 'GROWING'}")
print(f"open fds:  first {fds[0]}  last {fds[-1]}  max {max(fds)}  "
      f"mean 2nd fifth {mean(fds[second]):.1f}  mean last fifth {mean(fds[last]):.1f}  -> {'flat' if fds_flat else 'GROWING'}")
print("fcgimux:", "alive at the end" if alive else "DIED")
try:
    counts = json.load(open(sys.argv[2]))
    total = sum(counts.values())
    print(f"requests: {total}")
    for k, v in counts.items():
        print(f"  {k}: {v}")
except (OSError, ValueError):
    print("requests: load.json missing")
sys.exit(0 if alive and rss_flat and fds_flat else 1)
EOF
}

main() {

minutes=30
out=/tmp/fcgimux-soak-$(date +%Y%m%d-%H%M%S)
while (($#)); do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--minutes N] [--out DIR]" >&2; exit 2 ;;
  esac
done
[[ $minutes =~ ^[0-9]+$ && $minutes -ge 1 ]] || { echo "--minutes wants a whole number >= 1" >&2; exit 2; }

# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
trap bench_stop_all EXIT
trap 'exit 130' INT TERM
mkdir -p "$out"

bench_build # sets FCGIMUX_BIN, RESPONDER_BIN
read -r p1 p2 p3 gw_port <<<"$(bench_free_ports 4)"
ports=("$p1" "$p2" "$p3")
declare -A worker_pid

start_worker() { # INDEX
  local i=$1
  bench_spawn "$out/worker-$i.log" "$RESPONDER_BIN" "127.0.0.1:${ports[i]}" 64 "soak-$i"
  worker_pid[$i]=$BENCH_LAST_PID
  # A restarted worker may find its port still held for a moment: retry.
  local try
  for try in 1 2 3 4 5; do
    bench_wait_port "${ports[i]}" 3 "${worker_pid[$i]}" && return 0
    kill -0 "${worker_pid[$i]}" 2>/dev/null && return 0
    bench_stop "${worker_pid[$i]}"
    sleep 1
    bench_spawn "$out/worker-$i.log" "$RESPONDER_BIN" "127.0.0.1:${ports[i]}" 64 "soak-$i"
    worker_pid[$i]=$BENCH_LAST_PID
  done
  bench_die "worker $i does not start on port ${ports[i]}"
}
for i in 0 1 2; do start_worker "$i"; done

cat >"$out/fcgimux.toml" <<EOF
[server]
listen = ["127.0.0.1:$gw_port"]
threads = 2
access_log = ""
error_log = "$out/fcgimux-error.log"
log_level = "warn"
body_timeout = "10s"

[[route]]
prefix = "/"
pool = "soak"

[pools.soak]
workers = ["127.0.0.1:${ports[0]}", "127.0.0.1:${ports[1]}", "127.0.0.1:${ports[2]}"]
connect_timeout = "500ms"
response_timeout = "5s"
disable_time = "1s"
max_disable_time = "5s"
probe_timeout = "500ms"
queue_timeout = "2s"
EOF
bench_spawn "$out/fcgimux.log" "$FCGIMUX_BIN" -c "$out/fcgimux.toml"
gw_pid=$BENCH_LAST_PID
bench_wait_port "$gw_port" 15 "$gw_pid" || bench_die "fcgimux did not start; see $out/fcgimux.log"

start=$(date +%s)
deadline=$((start + minutes * 60))
bench_log "soak: ${minutes} min, fcgimux pid $gw_pid on 127.0.0.1:$gw_port, workers on ${ports[*]}, logs in $out"
bench_spawn "$out/load.log" /usr/bin/python3 "$BENCH_DIR/soak/load.py" "$gw_port" "$deadline" "$out/load.json"
load_pid=$BENCH_LAST_PID

csv=$out/samples.csv
echo "elapsed_s,rss_kib,fds,event" >"$csv"
sample() { # EVENT
  local rss fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$gw_pid/status" 2>/dev/null || echo "")
  fds=$(find "/proc/$gw_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  echo "$(($(date +%s) - start)),${rss:-},${fds},$1" >>"$csv"
}

# The fault schedule: every 20 s the next step, over the workers in turn.
next_fault=$((start + 20))
step=0
stopped= # "INDEX UNTIL" of a stopped worker
killed=  # "INDEX UNTIL" of a killed worker
while (($(date +%s) < deadline)); do
  now=$(date +%s)
  event=
  if [[ -n $stopped ]] && ((now >= ${stopped#* })); then
    kill -CONT "${worker_pid[${stopped% *}]}" 2>/dev/null || true
    event="SIGCONT worker ${stopped% *}"
    stopped=
  fi
  if [[ -n $killed ]] && ((now >= ${killed#* })); then
    start_worker "${killed% *}"
    event="restarted worker ${killed% *}"
    killed=
  fi
  if ((now >= next_fault)) && [[ -z $stopped && -z $killed ]]; then
    i=$((step % 3))
    if ((step % 2 == 0)); then
      kill -KILL "${worker_pid[$i]}" 2>/dev/null || true
      bench_stop "${worker_pid[$i]}" # reaps it
      killed="$i $((now + 5))"
      event="SIGKILL worker $i"
    else
      kill -STOP "${worker_pid[$i]}" 2>/dev/null || true
      stopped="$i $((now + 8))"
      event="SIGSTOP worker $i"
    fi
    step=$((step + 1))
    next_fault=$((now + 20))
  fi
  kill -0 "$gw_pid" 2>/dev/null || { sample "fcgimux died"; break; }
  sample "$event"
  sleep 5
done
[[ -n $stopped ]] && kill -CONT "${worker_pid[${stopped% *}]}" 2>/dev/null || true

alive=1
kill -0 "$gw_pid" 2>/dev/null || alive=0
# The load generator ends by itself at the deadline (plus a socket timeout).
for ((i = 0; i < 60; i++)); do kill -0 "$load_pid" 2>/dev/null || break; sleep 1; done
bench_stop "$load_pid"
sample "end"

summarize "$csv" "$out/load.json" "$alive"
}

if [[ ${1:-} == --summarize ]]; then
  summarize "$2/samples.csv" "$2/load.json" 1
  exit
fi
main "$@"
exit
