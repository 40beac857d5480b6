#!/usr/bin/env bash
# bench/profile.sh — where fcgimux's CPU goes under load, and how many system
# calls it makes per request next to nginx (issue #5: "profiles of the hot
# path at c=64").
#
#   bash bench/profile.sh [-c 64] [-d 10] [--compare "nginx"] [--record "fcgimux"] [--freq 499]
#                         [--call-graph dwarf|fp|none] [--top 25]
#                         [--all-syscalls] [--out FILE] [--append FILE] [--keep]
#
# Three libfcgi responders and, in front of them, the gateways configured as
# bench/run.sh does (bench/lib.sh, the same settings: threads = 2 …; h2o,
# which cannot balance, in front of a responder of its own with the threads
# of the three), each
# started fresh and driven by wrk at concurrency C on `/hello` for D seconds
# after a 1 s warm-up, one after another:
#   1. fcgimux, then each --compare gateway, under
#        perf stat -e raw_syscalls:sys_enter -e syscalls:sys_enter_NAME... -p PIDS
#      (all the gateway's processes and threads; about 50 names an event loop
#      uses, all ~350 with --all-syscalls): system calls per request by name,
#      side by side, with CPU µs per request (user, system) from
#      /proc/PID/stat over the same run. Counting slows every system call
#      (requests/s drop), but not the count per request;
#   2. each --record gateway (default: fcgimux) again, under
#        perf record -e cpu-clock --call-graph MODE -F FREQ -p PIDS
#      where the samples are (which system call or user code, called from
#      which function of the gateway; inside a system call: waking the other
#      end, being scheduled out, the loopback receive path), top symbols by
#      self %, by children % (self + callees), and by DSO.
# The two are separate runs so that the counters do not disturb the profile.
# The machine has no hardware counters here: the profile samples cpu-clock.
#
# It prints the summary (stdout); --out FILE also writes it there (Markdown),
# --append FILE puts it into FILE as a section, in place of an earlier run's
# (e.g. --append bench/RESULTS.md: run.sh keeps such sections when it
# rewrites RESULTS.md).
# Nothing is written into the repository otherwise, except the Release build
# in build-release/ that every bench script shares (FCGIMUX_BIN=... to use
# another binary). Work files go to /tmp and are removed at the end unless
# --keep (then perf.data stays for `perf report -i`). Everything it starts is
# stopped by PID on exit; every wait is bounded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command_line="bash bench/profile.sh $*"

conc=64
duration=10
compare="nginx"
record="fcgimux"
freq=499
call_graph=dwarf
top=25
out=
append=
keep=0
all_syscalls=0
while (($#)); do
  case $1 in
    -c | --concurrency) conc=$2; shift ;;
    -d | --duration) duration=$2; shift ;;
    --compare) compare=$2; shift ;;
    --record) record=$2; shift ;;
    --freq) freq=$2; shift ;;
    --call-graph) call_graph=$2; shift ;;
    --top) top=$2; shift ;;
    --out) out=$2; shift ;;
    --append) append=$2; shift ;;
    --keep) keep=1 ;;
    --all-syscalls) all_syscalls=1 ;;
    -h | --help) sed -n "2,37p" "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $out && $out != /* ]] && out="$PWD/$out"
[[ $append && $append != /* ]] && append="$PWD/$append"

# shellcheck source=bench/lib.sh
source "$here/lib.sh"

BENCH_KEEP_WORK=$keep
bench_workdir profile
BENCH_KEEP_NOTE="perf report -i $work/prof-fcgimux/perf.data"
ulimit -n "$(ulimit -Hn)"

bench_ensure_packages wrk nginx-light linux-perf libfcgi-dev cmake g++ pkg-config libuv1-dev \
  libtomlplusplus-dev libfmt-dev node-llhttp
bench_build
ticks=$(getconf CLK_TCK)
wrk_t=2
((conc < 2)) && wrk_t=1

read -r w1 w2 w3 wh gport <<<"$(bench_free_ports 5)"
bench_start_workers libfcgi "$work/workers" "$w1" "$w2" "$w3"
# h2o cannot balance: its own responder, as big as the three (see bench/lib.sh).
wh_pid=
if [[ " $compare $record " == *" h2o "* ]]; then
  bench_start_h2o_worker libfcgi "$work/workers" "$wh"
  wh_pid=$BENCH_H2O_WORKER_PID
fi
bench_worker_paths libfcgi
url="http://127.0.0.1:$gport$BENCH_PATH_SMALL"

# start GW NAME: the gateway, warmed up (fcgimux answers 503 until its first
# probe admits a worker); sets pid, procs.
start() {
  local gw=$1 dir="$work/$2" workers=("$w1" "$w2" "$w3")
  [[ $gw == h2o ]] && workers=("$wh")
  bench_start_gateway "$gw" libfcgi "$gport" "$dir" "${workers[@]}"
  pid=$BENCH_LAST_PID
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true) == 200 ]] && break
    sleep 0.1
  done
  timeout 30 wrk -t"$wrk_t" -c"$conc" -d1s --timeout 10s "$url" >"$dir/warmup.txt" 2>&1 || true
  procs=$(bench_tree "$pid")
}

# proc_times PID...: "utime stime" in ticks, summed.
proc_times() {
  local p u=0 s=0 rest
  for p in "$@"; do
    rest=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    read -r a b <<<"$(awk '{print $12, $13}' <<<"$rest")"
    u=$((u + a)) s=$((s + b))
  done
  echo "$u $s"
}

# under_load MODE GW NAME: MODE stat (perf stat of the system calls of all
# the gateway's processes) or record (perf record of them) while wrk drives the
# gateway for $duration s; writes NAME/wrk.txt, NAME/perf.* and NAME/cpu.txt
# ("requests rps utime_ticks stime_ticks non2xx sockerr p99_ms").
under_load() {
  local mode=$1 gw=$2 name=$3 dir="$work/$3"
  start "$gw" "$name"
  local pids perf_pid b a
  pids=$(tr ' ' ',' <<<"$procs")
  case $mode in
    stat) perf stat -x, -o "$dir/perf-stat.csv" -e raw_syscalls:sys_enter -e context-switches -e cpu-migrations \
      "${syscall_events[@]}" -p "$pids" >"$dir/perf.out" 2>&1 & ;;
    record)
      local cg=()
      [[ $call_graph == none ]] || cg=(--call-graph "$call_graph")
      perf record -e cpu-clock -F "$freq" "${cg[@]}" -p "$pids" -o "$dir/perf.data" >"$dir/perf.out" 2>&1 &
      ;;
  esac
  perf_pid=$!
  BENCH_PIDS+=("$perf_pid")
  sleep 1   # perf attaches to every thread (hundreds of counters) before the load starts
  kill -0 "$perf_pid" 2>/dev/null || { cat "$dir/perf.out" >&2; bench_die "perf did not start"; }
  # shellcheck disable=SC2086
  b=$(proc_times $procs)
  timeout $((duration + 30)) wrk -t"$wrk_t" -c"$conc" -d"${duration}s" --timeout 10s --latency "$url" >"$dir/wrk.txt" 2>&1 || true
  # shellcheck disable=SC2086
  a=$(proc_times $procs)
  kill -INT "$perf_pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 1200; i++)); do kill -0 "$perf_pid" 2>/dev/null || break; sleep 0.1; done
  bench_stop "$perf_pid"
  local rps p99 reqs non2xx sockerr bu bs au as
  read -r rps _ p99 reqs non2xx sockerr _ < <(/usr/bin/python3 "$here/tool.py" wrk "$dir/wrk.txt")
  read -r bu bs <<<"$b"
  read -r au as <<<"$a"
  echo "$reqs $rps $((au - bu)) $((as - bs)) $non2xx $sockerr $p99" >"$dir/cpu.txt"
  bench_log "$name: $reqs requests, $rps req/s, p99 $p99 ms, non-2xx $non2xx, socket errors $sockerr"
  bench_stop "$pid"
}

# The system calls an event-loop gateway makes; the total
# (raw_syscalls:sys_enter) shows what else there was ("other"), and
# --all-syscalls counts each of the ~350 (perf then takes ~15 s to stop).
if ((all_syscalls)); then
  syscall_events=(-e 'syscalls:sys_enter_*')
else
  syscall_events=()
  for s in read write readv writev pread64 pwrite64 recvfrom sendto recvmsg sendmsg recvmmsg sendmmsg \
    epoll_wait epoll_pwait epoll_pwait2 epoll_ctl poll ppoll select pselect6 accept accept4 connect close shutdown \
    socket setsockopt getsockopt getsockname getpeername futex ioctl fcntl timerfd_settime eventfd2 \
    mmap munmap madvise mprotect brk sched_yield nanosleep clock_nanosleep clock_gettime splice sendfile64 \
    io_uring_enter rt_sigprocmask openat newfstatat; do
    [[ -e /sys/kernel/tracing/events/syscalls/sys_enter_$s ]] && syscall_events+=(-e "syscalls:sys_enter_$s")
  done
  ((${#syscall_events[@]})) || syscall_events=(-e 'syscalls:sys_enter_*')  # tracefs not mounted yet: perf finds them
fi

gateways=(fcgimux)
for g in $compare; do [[ $g == fcgimux ]] || gateways+=("$g"); done
read -r -a recorded <<<"$record"

for gw in "${gateways[@]}"; do
  bench_log "system calls: $gw at c=$conc for ${duration}s"
  under_load stat "$gw" "sys-$gw"
done
for gw in "${recorded[@]}"; do
  bench_log "profile: $gw at c=$conc for ${duration}s (perf record -F $freq --call-graph $call_graph)"
  under_load record "$gw" "prof-$gw"
done

# ---------------------------------------------------------------- summary
# binary GW: the gateway's executable (its frames name "who asked").
binary() {
  case $1 in
    fcgimux) echo "$FCGIMUX_BIN" ;;
    *) command -v "$1" ;;
  esac
}
summary="$work/summary.md"
set +o pipefail   # `head` closes the pipes of perf report early
{
  echo "## Hot-path profile (bench/profile.sh)"
  echo
  echo "\`$command_line\` — $(date -u '+%Y-%m-%d %H:%M UTC'), $BENCH_BUILD_NOTE; $(nproc) cores, $(uname -r)."
  h2o_note=
  [[ -n $wh_pid ]] && h2o_note="; h2o, which cannot balance, has one of its own with $((3 * BENCH_LIBFCGI_THREADS))"
  echo "Three libfcgi responders ($BENCH_LIBFCGI_THREADS threads$h2o_note), gateways as in bench/run.sh (threads/processes $BENCH_THREADS, keep-alive to workers), wrk -t$wrk_t -c$conc -d${duration}s on \`$BENCH_PATH_SMALL\`, each gateway fresh. The client, gateways and workers share the cores: compare per-request figures, not requests/s."
  echo
  echo "### System calls per request (perf stat of every process and thread of the gateway)"
  echo
  args=()
  for gw in "${gateways[@]}"; do args+=("$gw" "$work/sys-$gw/perf-stat.csv" "$work/sys-$gw/cpu.txt"); done
  /usr/bin/python3 "$here/tool.py" syscalls "$ticks" "${args[@]}"
  for gw in "${recorded[@]}"; do
    d="$work/prof-$gw"
    read -r reqs rps _ <"$d/cpu.txt"
    echo
    echo "### Profile of $gw ($reqs requests, $rps req/s under perf record; cpu-clock samples of all its processes and threads)"
    echo
    rep=(perf report -i "$d/perf.data" --stdio --no-header -g none --percent-limit 0.3)
    echo "#### Where the samples are: in a system call (named as the kernel enters it) or in user code, and the innermost $gw function on the stack"
    echo
    perf script -i "$d/perf.data" -F comm,tid,event,ip,sym,dso 2>/dev/null |
      /usr/bin/python3 "$here/tool.py" samples "$(binary "$gw")" "$top"
    echo
    echo "#### By DSO (self)"
    echo
    echo '```'
    "${rep[@]}" --no-children --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
    echo '```'
    echo
    echo "#### Top symbols by self %"
    echo
    echo '```'
    "${rep[@]}" --no-children --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -"$top"
    echo '```'
    if [[ $call_graph != none ]]; then
      echo
      echo "#### Top symbols by children % (self + what they call)"
      echo
      echo '```'
      "${rep[@]}" --children --sort sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -"$top"
      echo '```'
    fi
  done
} >"$summary"
cat "$summary"
[[ -z $out ]] || { cp "$summary" "$out"; bench_log "wrote $out"; }
[[ -z $append ]] || { /usr/bin/python3 "$here/tool.py" append "$append" "$summary"; bench_log "wrote its section in $append"; }
