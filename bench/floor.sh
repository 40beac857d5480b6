#!/usr/bin/env bash
# bench/floor.sh — how far each gateway is from the least any FastCGI gateway
# can cost on this machine (issue #5).
#
#   bash bench/floor.sh [-c "64 512"] [-d 5] [--rounds 3]
#                       [--gateways "fcgimux fcgimux-write nginx haproxy h2o floor floor-ring static"]
#                       [--out FILE] [--append FILE]
#
# Three libfcgi responders as in bench/run.sh; in front of them, each started
# fresh for every point and driven by wrk on `/hello`, gateways in turn round
# after round (medians reported):
#   fcgimux, nginx, haproxy, h2o  configured by bench/lib.sh as in bench/run.sh
#           (h2o, which cannot balance, on a responder of its own with the
#           threads of the three);
#   fcgimux-write  fcgimux with `io_uring = false`: one write(2) per socket;
#   floor   bench/floor/relay.c: the four system calls a FastCGI gateway must
#           make per request (read the client, write the worker, read the
#           worker, write the client) and almost nothing else — one kept
#           worker connection per client, no timeouts, no health, no parsing
#           past the request line. Not a gateway; a lower bound for
#           gateways that write with one system call per socket;
#   floor-ring  the same relay handing each epoll batch's writes to the
#           kernel in one io_uring_enter (FLOOR_RING=1), as fcgimux does;
#   static  nginx answering `/hello` by itself, no FastCGI at all (the issue's
#           "nginx answering by itself" reference: half the system calls).
# Per gateway: requests/s, p99, and CPU per request split into user and
# system time (/proc/PID/stat of all its processes over the measured run).
# The table puts each gateway's CPU per request next to the floor's and to
# nginx's: if the floor itself is above 0.7× nginx, no gateway making one
# system call per socket write can be at 0.7× nginx on this machine,
# whatever its user code does; floor-ring shows what batching the writes
# changes. Context switches per request (the gateway's threads scheduled
# out while runnable, i.e. preempted, from /proc/PID/task/*/status) show why.
# Next to it, over the same run, the workers' CPU per request and the whole
# machine's (every core's busy time, /proc/stat): with the cores busy all
# the time, requests/s is the inverse of the machine's cost, of which the
# gateway is only a part; the floor's requests/s is where the cheapest
# possible gateway lands against the anchors on this machine.
#
# Prints the Markdown summary; --out FILE writes it there, --append FILE
# puts it into FILE as a section, in place of the one an earlier run put
# there (bench/run.sh keeps such sections of RESULTS.md).
# Everything it starts listens on 127.0.0.1 on ports the kernel picks and is
# stopped by PID on exit; every wait is bounded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command_line="bash bench/floor.sh $*"

concurrencies="64 512"
duration=5
rounds=3
gateways="fcgimux fcgimux-write nginx haproxy h2o floor floor-ring static"
out=
append=
while (($#)); do
  case $1 in
    -c | --concurrency) concurrencies=$2; shift ;;
    -d | --duration) duration=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --gateways) gateways=$2; shift ;;
    --out) out=$2; shift ;;
    --append) append=$2; shift ;;
    -h | --help) sed -n "2,30p" "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $duration =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] || { echo "-d and --rounds take whole numbers" >&2; exit 2; }
[[ $out && $out != /* ]] && out="$PWD/$out"
[[ $append && $append != /* ]] && append="$PWD/$append"

# shellcheck source=bench/lib.sh
source "$here/lib.sh"

bench_workdir floor

bench_ensure_packages wrk nginx-light haproxy h2o libfcgi-dev curl cmake g++ pkg-config libuv1-dev \
  libtomlplusplus-dev libfmt-dev node-llhttp catch2
bench_build
relay_bin="$BENCH_ROOT/build-release/bench/floor_relay"
mkdir -p "$(dirname "$relay_bin")"
cc -O2 -Wall -o "$relay_bin" "$here/floor/relay.c" -lpthread || bench_die "cannot build bench/floor/relay.c"

read -r -a wports <<<"$(bench_free_ports 3)"
bench_worker_paths libfcgi
bench_start_workers libfcgi "$work/workers" "${wports[@]}"
# h2o cannot balance: its own responder, as big as the three (see bench/lib.sh).
wh=
if [[ " $gateways " == *" h2o "* ]]; then
  read -r wh <<<"$(bench_free_ports 1)"
  bench_start_h2o_worker libfcgi "$work/workers" "$wh"
fi
ticks=$(getconf CLK_TCK)

# static_config DIR PORT: nginx answering /hello itself, otherwise as in bench/lib.sh.
static_config() {
  local dir=$1 port=$2
  mkdir -p "$dir/nginx-tmp"
  cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
user root;
worker_processes $BENCH_THREADS;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/nginx-tmp/body;
  keepalive_timeout ${BENCH_IDLE_TIMEOUT}s;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$port;
    location / { default_type text/plain; return 200 "$BENCH_SMALL_BODY\n"; }
  }
}
EOF
}

# start GW DIR PORT: sets BENCH_LAST_PID.
start() {
  local gw=$1 dir=$2 port=$3
  mkdir -p "$dir"
  case $gw in
    floor | floor-ring)
      local ring=0
      [[ $gw == floor-ring ]] && ring=1
      FLOOR_RING=$ring bench_spawn "$dir/floor.out" "$relay_bin" "$port" "$BENCH_THREADS" "${wports[@]}"
      bench_wait_port "$port" 15 "$BENCH_LAST_PID" || bench_die "$gw relay did not start"
      ;;
    fcgimux-write)
      BENCH_FCGIMUX_SERVER_EXTRA="io_uring = false" bench_start_gateway fcgimux libfcgi "$port" "$dir" "${wports[@]}"
      ;;
    static)
      static_config "$dir" "$port"
      bench_spawn "$dir/nginx.out" nginx -p "$dir" -c "$dir/nginx.conf"
      bench_wait_port "$port" 15 "$BENCH_LAST_PID" || bench_die "nginx (static) did not start"
      ;;
    h2o) bench_start_gateway h2o libfcgi "$port" "$dir" "$wh" ;;
    *) bench_start_gateway "$gw" libfcgi "$port" "$dir" "${wports[@]}" ;;
  esac
}

# cpu_split PID...: "USER_TICKS SYSTEM_TICKS" of these processes.
cpu_split() {
  local pid u=0 s=0 rest
  for pid in "$@"; do
    rest=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    read -r a b < <(awk '{print $12, $13}' <<<"$rest")
    u=$((u + a)) s=$((s + b))
  done
  echo "$u $s"
}

# machine_ticks: clock ticks the machine's cores were busy (user, nice,
# system, irq, softirq, steal: /proc/stat), whoever was running.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# preemptions PID...: involuntary context switches of all their threads.
preemptions() {
  local pid total=0 v
  for pid in "$@"; do
    v=$(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/^nonvoluntary_ctxt_switches/ {n += $2} END {print n + 0}')
    total=$((total + v))
  done
  echo "$total"
}

raw="$work/raw.tsv"
printf 'gateway\tc\tround\trps\tp99_ms\trequests\terrors\tuser_s\tsys_s\tpreempted\tworkers_s\tmachine_s\n' >"$raw"
for ((r = 1; r <= rounds; r++)); do
  for c in $concurrencies; do
    for gw in $gateways; do
      read -r port <<<"$(bench_free_ports 1)"
      dir="$work/$gw-c$c-r$r"
      start "$gw" "$dir" "$port"
      pid=$BENCH_LAST_PID
      url="http://127.0.0.1:$port$BENCH_PATH_SMALL"
      # wrk refuses more threads than connections: one thread at c=1.
      wrk_threads=$((c < 2 ? c : 2))
      timeout 30 wrk -t"$wrk_threads" -c"$c" -d1s --timeout 10s "$url" >/dev/null 2>&1 || true
      bench_wait_answer "$url" "$gw"
      procs=$(bench_tree "$pid")
      # The workers this gateway uses (h2o: its own).
      workers=("${BENCH_WORKER_PIDS[@]}")
      [[ $gw == h2o ]] && workers=("$BENCH_H2O_WORKER_PID")
      # shellcheck disable=SC2086
      read -r u0 s0 <<<"$(cpu_split $procs)"
      # shellcheck disable=SC2086
      p0=$(preemptions $procs)
      w0=$(bench_cpu_ticks "${workers[@]}")
      m0=$(machine_ticks)
      timeout $((duration + 30)) wrk -t"$wrk_threads" -c"$c" -d"${duration}s" --timeout 10s --latency "$url" >"$dir/wrk.txt" 2>&1 || true
      m1=$(machine_ticks)
      w1=$(bench_cpu_ticks "${workers[@]}")
      # shellcheck disable=SC2086
      read -r u1 s1 <<<"$(cpu_split $procs)"
      # shellcheck disable=SC2086
      p1=$(preemptions $procs)
      read -r rps _p50 p99 reqs non2xx sockerr _mean < <(/usr/bin/python3 "$here/tool.py" wrk "$dir/wrk.txt")
      errors=$((non2xx + sockerr))
      [[ $rps =~ ^[0-9.]+$ ]] || bench_die "wrk measured nothing for $gw at c=$c: $(head -c 300 "$dir/wrk.txt")"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$gw" "$c" "$r" "$rps" "$p99" "$reqs" "$errors" \
        "$(awk -v a="$u0" -v b="$u1" -v t="$ticks" 'BEGIN{print (b - a) / t}')" \
        "$(awk -v a="$s0" -v b="$s1" -v t="$ticks" 'BEGIN{print (b - a) / t}')" "$((p1 - p0))" \
        "$(awk -v a="$w0" -v b="$w1" -v t="$ticks" 'BEGIN{print (b - a) / t}')" \
        "$(awk -v a="$m0" -v b="$m1" -v t="$ticks" 'BEGIN{print (b - a) / t}')" >>"$raw"
      bench_log "r$r c=$c $gw: $rps req/s, p99 $p99 ms, errors $errors"
      bench_stop "$pid"
    done
  done
done

summary=$(/usr/bin/python3 - "$raw" "$command_line" "$BENCH_BUILD_NOTE" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "$(uptime | sed 's/.*load average: //')" "$duration" "$rounds" "$BENCH_LIBFCGI_THREADS" <<'EOF'
import csv, statistics, sys
raw, command, build, when, load, duration, rounds, threads = sys.argv[1:]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
points = {}
for r in rows:
    points.setdefault((r["gateway"], int(r["c"])), []).append(r)
def med(gw, c, f):
    rs = points.get((gw, c))
    return statistics.median(f(r) for r in rs) if rs else None
def per_req(r, key):
    n = float(r["requests"])
    return 1e6 * float(r[key]) / n if n else float("nan")
gws = list(dict.fromkeys(r["gateway"] for r in rows))
cs = sorted({int(r["c"]) for r in rows})
out = []
out.append("## The floor: what the least a FastCGI gateway can do costs here (bench/floor.sh)\n")
out.append(f"`{command}` — {when}, {build}; load average at the end {load}.")
h2o_note = f"; h2o, which cannot balance, has one of its own with {3 * int(threads)}" if "h2o" in gws else ""
out.append(f"Three libfcgi responders ({threads} threads{h2o_note}); each gateway fresh per point, wrk -t2 (-t1 at c=1) on `/hello`, {duration} s after a 1 s warm-up, "
           f"{rounds} rounds, gateways in turn; medians. CPU = user+system time of the gateway's processes over the run ÷ requests. "
           "**floor** = bench/floor/relay.c: read the client, write the worker, read the worker, write the client, nothing else "
           "(one kept worker connection per client; not a gateway); **floor-ring** the same with each epoll batch's writes in one "
           "io_uring_enter. **fcgimux-write** = fcgimux with `io_uring = false`. **static** = nginx answering by itself, no FastCGI. "
           "Preempted / req: involuntary context switches of the gateway's threads per request. "
           "The client, the gateways and the workers share the machine's cores: **workers** is the three responders' CPU per "
           "request over the same run (h2o's: its own), **machine** every core's busy time per request (/proc/stat: the gateway, "
           "the workers, wrk and the kernel's work for them), which is what requests/s is the inverse of when the cores are busy "
           "all the time (requests/s ≈ cores × 10^6 ÷ machine µs).\n")
for c in cs:
    out.append(f"### c={c}\n")
    out.append("| gateway | requests/s | p99 ms | CPU µs/req user | system | total | total ÷ floor | total ÷ nginx | workers µs/req | machine µs/req | preempted / req | errors |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    floor_t = med("floor", c, lambda r: per_req(r, "user_s") + per_req(r, "sys_s"))
    nginx_t = med("nginx", c, lambda r: per_req(r, "user_s") + per_req(r, "sys_s"))
    for gw in gws:
        if (gw, c) not in points:
            continue
        u = med(gw, c, lambda r: per_req(r, "user_s"))
        s = med(gw, c, lambda r: per_req(r, "sys_s"))
        t = med(gw, c, lambda r: per_req(r, "user_s") + per_req(r, "sys_s"))
        rps = med(gw, c, lambda r: float(r["rps"]))
        p99 = med(gw, c, lambda r: float(r["p99_ms"]))
        errs = sum(int(r["errors"]) for r in points[(gw, c)])
        pre = med(gw, c, lambda r: float(r["preempted"]) / float(r["requests"]) if float(r["requests"]) else 0)
        ratio = lambda a, b: f"{a / b:.2f}" if a and b else "—"
        wk = med(gw, c, lambda r: per_req(r, "workers_s") if "workers_s" in r else float("nan"))
        mc = med(gw, c, lambda r: per_req(r, "machine_s") if "machine_s" in r else float("nan"))
        out.append(f"| {gw} | {rps:,.0f} | {p99:.2f} | {u:.1f} | {s:.1f} | {t:.1f} | {ratio(t, floor_t)} | {ratio(t, nginx_t)} | {wk:.1f} | {mc:.1f} | {pre:.2f} | {errs} |")
    if floor_t and nginx_t:
        out.append(f"\nFloor ÷ nginx at c={c}: **{floor_t / nginx_t:.2f}** (the bar asks fcgimux for ≤ 0.70).\n")
print("\n".join(out))
EOF
)
bench_publish "$summary" "$out" "$append"
exit 0
