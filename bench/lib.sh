# shellcheck shell=bash
# bench/lib.sh — reusable pieces of fcgimux's benchmarks: packages, build,
# free loopback ports, starting and stopping FastCGI workers (libfcgi
# responder, PHP-FPM, Django under uWSGI) and gateways (fcgimux, nginx,
# HAProxy, lighttpd, h2o) with comparable configurations, and reading CPU time and
# memory of a process tree from /proc.
#
# Source it from bash (`source bench/lib.sh`); it sets no shell options and
# starts nothing by itself. Every process started through bench_spawn is
# recorded in BENCH_PIDS; call bench_stop_all from an EXIT trap.
#
# Start functions never print the PID (a `$(...)` would make the process a
# grandchild we cannot wait for); they set BENCH_LAST_PID instead.
#
# Settings (environment, with defaults) shared by every gateway so that the
# comparison is fair; bench/faults/ can override them before sourcing:
: "${BENCH_THREADS:=2}"              # fcgimux threads, nginx worker_processes, HAProxy nbthread, h2o num-threads (lighttpd: always 1)
: "${BENCH_CONNECT_TIMEOUT:=1}"      # seconds, gateway → worker connect
: "${BENCH_RESPONSE_TIMEOUT:=30}"    # seconds, worker response (first byte and gaps)
: "${BENCH_IDLE_TIMEOUT:=60}"        # seconds, client keep-alive idle
: "${BENCH_HEADER_TIMEOUT:=10}"      # seconds, client request head
: "${BENCH_MAX_CLIENTS:=12000}"      # client connections a gateway accepts at once
: "${BENCH_MAX_BODY_MB:=64}"         # request body limit (MiB)
: "${BENCH_UPSTREAM_IDLE:=16}"       # idle kept-alive worker connections per worker per thread/process
: "${BENCH_UPSTREAM_KEEPALIVE_TIMEOUT:=4}"  # seconds an idle worker connection is kept
# fcgimux max_conns: connections per worker (all threads), requests past it
# wait in fcgimux's queue; 0 = no cap. HAProxy's equivalent (`maxconn` per
# server, BENCH_HAPROXY_SERVER_EXTRA) measured slower and stays off; nginx
# (open source) answers 502 at max_conns instead of queueing; lighttpd and
# h2o have none. bench/README.md, "Connections per worker", has the figures.
# Set the cap here, not in BENCH_FCGIMUX_POOL_EXTRA: the pool would then
# have max_conns twice, which fcgimux rejects as a config error.
: "${BENCH_FCGIMUX_MAX_CONNS:=24}"
: "${BENCH_LIBFCGI_THREADS:=200}"    # threads per libfcgi responder (h2o's own: 3x, see bench_start_h2o_worker)
: "${BENCH_PHP_CHILDREN:=200}"       # static PHP-FPM children per pool (h2o's own: 3x)
: "${BENCH_DJANGO_PROCESSES:=2}"     # uWSGI processes per Django worker (h2o's own: 3x)
: "${BENCH_DJANGO_THREADS:=2}"       # uWSGI threads per process
: "${BENCH_WORKER_BACKLOG:=1024}"    # listen backlog of every worker
# Extra lines appended verbatim to a gateway's pool/backend section (fault
# scenarios use these for health settings), empty by default:
: "${BENCH_FCGIMUX_POOL_EXTRA:=}"
: "${BENCH_FCGIMUX_SERVER_EXTRA:=}"  # lines appended to fcgimux's [server] (bench/floor.sh: io_uring = false)
: "${BENCH_NGINX_SERVER_EXTRA:=}"    # appended to each nginx upstream `server` line
: "${BENCH_LIGHTTPD_HOST_EXTRA:=}"   # appended inside each lighttpd host block
: "${BENCH_HAPROXY_SERVER_EXTRA:=}"   # appended to HAProxy's default-server line (e.g. maxconn 24)
: "${BENCH_HAPROXY_FCGI_APP_EXTRA:=}" # lines appended to HAProxy's fcgi-app section (bench/mux.sh: mpxs-conns)
# Logging for fault runs (defaults: the quiet benchmark settings):
: "${BENCH_FCGIMUX_LOG_LEVEL:=warn}"  # fcgimux log_level (error_log is DIR/fcgimux-error.log)
: "${BENCH_NGINX_LOG_LEVEL:=error}"   # nginx error_log level (DIR/nginx-error.log)
: "${BENCH_LIGHTTPD_SERVER_EXTRA:=}"  # lines appended to lighttpd.conf (e.g. server.errorlog-high-precision)

BENCH_ROOT="${BENCH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
BENCH_DIR="$BENCH_ROOT/bench"
BENCH_PIDS=()
BENCH_LAST_PID=
BENCH_GATEWAYS_ALL=(fcgimux nginx haproxy lighttpd h2o)
BENCH_WORKER_KINDS_ALL=(libfcgi php django)

bench_log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() { bench_log "error: $*"; exit 1; }

# bench_workdir NAME: makes the run's work directory (/tmp/fcgimux-NAME.XXXXXX,
# in $work) and the traps every bench script needs: on exit everything
# bench_spawn started is stopped by PID, and the directory is removed after
# a success, kept (and named) after a failure or with BENCH_KEEP_WORK=1
# (BENCH_KEEP_NOTE: what to say about it then).
bench_workdir() {
  work=$(mktemp -d "/tmp/fcgimux-$1.XXXXXX")
  trap bench__finish EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
bench__finish() {
  local rc=$?
  trap - EXIT INT TERM
  bench_stop_all
  if ((rc != 0)); then bench_log "failed (rc=$rc); files kept in $work"
  elif [[ ${BENCH_KEEP_WORK:-0} == 1 ]]; then bench_log "files kept in $work${BENCH_KEEP_NOTE:+ ($BENCH_KEEP_NOTE)}"
  else rm -rf "$work"; fi
  exit "$rc"
}

# ---------------------------------------------------------------- packages

# bench_ensure_packages PKG...: installs with apt-get what is not installed.
bench_ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  bench_log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's postinst would start the packaged services; we start our own.
  local policy=/usr/sbin/policy-rc.d created=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created=1; fi
  if ! timeout 900 apt-get install -y --no-install-recommends "${missing[@]}"; then
    timeout 600 apt-get update && timeout 900 apt-get install -y --no-install-recommends "${missing[@]}"
  fi
  local rc=$?
  ((created)) && rm -f "$policy"
  return $rc
}

# bench_wait_answer URL GW [TRIES]: until URL answers 200 (fcgimux answers
# 503 until its first probe admits a worker), at most TRIES (default 50)
# tries 0.1 s apart; then dies unless the body is the kind's small body.
bench_wait_answer() {
  local url=$1 gw=$2 tries=${3:-50} i body
  for ((i = 0; i < tries; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true) == 200 ]] && break
    sleep 0.1
  done
  body=$(curl -s --max-time 5 "$url" || true)
  [[ $body == "$BENCH_SMALL_BODY"* ]] || bench_die "$gw answered '$body' on $url"
}

# bench_publish SUMMARY OUT APPEND: prints a script's Markdown summary;
# writes it to the file OUT and puts it into the file APPEND as a section
# (`tool.py append`: in place of the section an earlier run put there)
# when they are not empty. floor.sh, callgrind.sh and latency.sh end with it.
bench_publish() {
  local summary=$1 out=$2 append=$3
  printf '%s\n' "$summary"
  [[ -z $out ]] || printf '%s\n' "$summary" >"$out"
  if [[ -n $append ]]; then
    printf '%s\n' "$summary" >"$work/section.md"
    /usr/bin/python3 "$BENCH_DIR/tool.py" append "$append" "$work/section.md"
  fi
}

# ---------------------------------------------------------------- build

# bench_build: builds fcgimux (Release) and libfcgi_responder in
# build-release/; sets FCGIMUX_BIN, RESPONDER_BIN and BENCH_BUILD_NOTE.
# FCGIMUX_BIN may be given to benchmark another binary. If the working tree
# does not build (others are editing it), the last commit is built instead,
# from `git archive HEAD` in /tmp, and BENCH_BUILD_NOTE says so.
bench_build() {
  local b="$BENCH_ROOT/build-release"
  RESPONDER_BIN="$b/examples/libfcgi/libfcgi_responder"
  BENCH_BUILD_NOTE="fcgimux built from the working tree ($(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null || echo unknown))"
  if [[ -n ${FCGIMUX_BIN:-} ]]; then
    BENCH_BUILD_NOTE="fcgimux binary given: $FCGIMUX_BIN"
  else
    FCGIMUX_BIN="$b/gateway/fcgimux"
    if [[ ! -f $b/CMakeCache.txt ]]; then
      timeout 600 cmake -S "$BENCH_ROOT" -B "$b" -DCMAKE_BUILD_TYPE=Release >&2 || bench_die "cmake configure failed"
    fi
    if ! timeout 1200 cmake --build "$b" -j"$(nproc)" --target fcgimux >&2; then
      local head src
      head=$(git -C "$BENCH_ROOT" rev-parse --short HEAD)
      src=/tmp/fcgimux-bench-head-$head
      bench_log "warning: the working tree does not build; building commit $head in $src"
      if [[ ! -x $src/build/gateway/fcgimux ]]; then
        rm -rf "$src" && mkdir -p "$src"
        git -C "$BENCH_ROOT" archive HEAD | tar -x -C "$src"
        timeout 600 cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DFCGIMUX_TESTS=OFF >&2 &&
          timeout 1200 cmake --build "$src/build" -j"$(nproc)" --target fcgimux >&2 ||
          bench_die "neither the working tree nor commit $head builds"
      fi
      FCGIMUX_BIN="$src/build/gateway/fcgimux"
      BENCH_BUILD_NOTE="the working tree did not build during this run (edits in progress); fcgimux was built from commit $head"
    fi
  fi
  if [[ ! -f $b/CMakeCache.txt ]] || ! timeout 300 cmake --build "$b" --target libfcgi_responder >/dev/null 2>&1 || [[ ! -x $RESPONDER_BIN ]]; then
    # examples/libfcgi not wired into this build: compile it directly.
    mkdir -p "$b/examples/libfcgi"
    cc -O2 -Wall -o "$RESPONDER_BIN" "$BENCH_ROOT/examples/libfcgi/responder.c" -lfcgi -lpthread ||
      bench_die "cannot build examples/libfcgi/responder.c (is libfcgi-dev installed?)"
  fi
}

# ---------------------------------------------------------------- ports, processes

# bench_free_ports N: prints N distinct free loopback TCP ports.
bench_free_ports() {
  /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# bench_wait_port PORT [SECONDS] [PID]: until 127.0.0.1:PORT accepts (fails
# early if PID died).
bench_wait_port() {
  local port=$1 limit=${2:-15} pid=${3:-} t=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.05
    t=$((t + 1))
    ((t < limit * 20)) || return 1
  done
}

# bench_spawn LOGFILE CMD...: starts CMD in the background, output to
# LOGFILE; sets BENCH_LAST_PID and records it for bench_stop_all.
bench_spawn() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 </dev/null &
  BENCH_LAST_PID=$!
  BENCH_PIDS+=("$BENCH_LAST_PID")
}

# bench_stop PID...: SIGTERM, up to 5 s, then SIGKILL; reaps.
bench_stop() {
  local pid i
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      # a zombie child counts as gone
      [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    bench_wait "$pid"
  done
}

# bench_wait PID: waits for a process bench_spawn started to end by itself
# (its status is ignored) and forgets it.
bench_wait() {
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
}

bench_stop_all() {
  local i
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do bench_stop "${BENCH_PIDS[i]}"; done
}

# bench_tree PID: PID and all its descendants, one line.
bench_tree() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      in_tree[root] = 1; out = root; changed = 1
      while (changed) { changed = 0
        for (i in pids) { p = pids[i]; if (!(p in in_tree) && (parent[p] in in_tree)) { in_tree[p] = 1; out = out " " p; changed = 1 } } }
      print out }'
}

# bench_cpu_ticks PID...: user+system clock ticks of these processes.
bench_cpu_ticks() {
  local pid total=0 rest
  for pid in "$@"; do
    rest=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    # fields after "comm)": state=1 ... utime=12 stime=13
    total=$((total + $(awk '{print $12 + $13}' <<<"$rest")))
  done
  echo "$total"
}

# bench_mem_kb FIELD PID...: sum of FIELD (VmHWM, VmRSS) over these processes, in KiB.
bench_mem_kb() {
  local field=$1 pid total=0 v
  shift
  for pid in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# ---------------------------------------------------------------- workers

# bench_worker_paths KIND: sets BENCH_PATH_SMALL, BENCH_SMALL_BODY (what its
# answer's body is, trailing newline aside), BENCH_PATH_DOWNLOAD (a
# printf format taking the byte count), BENCH_PATH_UPLOAD and BENCH_DOCROOT
# (what gateways announce as document root; PHP needs the real one).
bench_worker_paths() {
  case $1 in
    libfcgi) BENCH_PATH_SMALL=/hello BENCH_SMALL_BODY="Hello from libfcgi" BENCH_PATH_DOWNLOAD='/bytes?n=%d' BENCH_PATH_UPLOAD=/upload BENCH_DOCROOT=/nonexistent ;;
    php) BENCH_PATH_SMALL=/hello.php BENCH_SMALL_BODY="Hello from PHP" BENCH_PATH_DOWNLOAD='/bytes.php?n=%d' BENCH_PATH_UPLOAD=/upload.php BENCH_DOCROOT="$BENCH_DIR/php" ;;
    # /big takes whole MiB (mb=N); callers pass a multiple of 1 MiB.
    django) BENCH_PATH_SMALL=/healthz BENCH_SMALL_BODY="ok" BENCH_PATH_DOWNLOAD='/big?mb=%d' BENCH_PATH_UPLOAD=/upload BENCH_DOCROOT=/nonexistent ;;
    *) bench_die "unknown worker kind $1" ;;
  esac
}

# bench_download_path KIND BYTES
bench_download_path() {
  bench_worker_paths "$1"
  if [[ $1 == django ]]; then printf "$BENCH_PATH_DOWNLOAD" $(($2 / 1048576)); else printf "$BENCH_PATH_DOWNLOAD" "$2"; fi
}

# bench_django_db DIR: a migrated sqlite database for the Django workers
# (exported as FCGIMUX_EXAMPLE_DB).
bench_django_db() {
  export FCGIMUX_EXAMPLE_DB="$1/django.sqlite3"
  [[ -f $FCGIMUX_EXAMPLE_DB ]] || timeout 120 /usr/bin/python3 "$BENCH_ROOT/examples/django/manage.py" migrate --noinput -v0
}

# bench_start_worker KIND PORT NAME DIR [SCALE]: one worker on 127.0.0.1:PORT
# with SCALE (default 1) times the usual capacity (libfcgi threads, PHP-FPM
# children, uWSGI processes); sets BENCH_LAST_PID (the process to stop:
# responder, PHP-FPM master, uWSGI master).
bench_start_worker() {
  local kind=$1 port=$2 name=$3 dir=$4 scale=${5:-1}
  mkdir -p "$dir"
  case $kind in
    libfcgi)
      bench_spawn "$dir/$name.log" "$RESPONDER_BIN" "127.0.0.1:$port" $((BENCH_LIBFCGI_THREADS * scale)) "$name" "$BENCH_WORKER_BACKLOG"
      ;;
    php)
      local d="$dir/$name"
      mkdir -p "$d"
      cat >"$d/php-fpm.conf" <<EOF
; PHP-FPM pool for the benchmark (rendered by bench/lib.sh)
[global]
pid = $d/php-fpm.pid
error_log = $d/php-fpm.log
daemonize = no
log_level = warning
process_control_timeout = 2

[$name]
listen = 127.0.0.1:$port
listen.allowed_clients = 127.0.0.1
listen.backlog = $BENCH_WORKER_BACKLOG
; static and large: a child serving a kept-alive connection stays with it, so
; a pool needs as many children as gateways open connections to it
pm = static
pm.max_children = $((BENCH_PHP_CHILDREN * scale))
pm.max_requests = 0
clear_env = yes
security.limit_extensions = .php
php_admin_value[post_max_size] = ${BENCH_MAX_BODY_MB}M
php_admin_value[upload_max_filesize] = ${BENCH_MAX_BODY_MB}M
php_admin_value[memory_limit] = 256M
php_admin_flag[log_errors] = on
php_admin_value[error_log] = $d/php-errors.log
EOF
      bench_spawn "$dir/$name.log" php-fpm8.2 -F -R -n -p "$d" -y "$d/php-fpm.conf"
      ;;
    django)
      [[ -n ${FCGIMUX_EXAMPLE_DB:-} ]] || bench_django_db "$dir"
      # UWSGI_LISTEN: run-worker.sh takes no backlog argument; uWSGI reads
      # any option from UWSGI_<NAME> (its default backlog, 100, is too small
      # for 512 clients).
      UWSGI_LISTEN=$BENCH_WORKER_BACKLOG bench_spawn "$dir/$name.log" \
        "$BENCH_ROOT/examples/django/run-worker.sh" "127.0.0.1:$port" "$name" $((BENCH_DJANGO_PROCESSES * scale)) "$BENCH_DJANGO_THREADS"
      ;;
    *) bench_die "unknown worker kind $kind" ;;
  esac
}

# bench_start_workers KIND DIR PORT...: one worker per port, named KIND-1..;
# waits until all listen; sets BENCH_WORKER_PIDS.
bench_start_workers() {
  local kind=$1 dir=$2 port i=0
  shift 2
  BENCH_WORKER_PIDS=()
  for port in "$@"; do
    i=$((i + 1))
    bench_start_worker "$kind" "$port" "$kind-$i" "$dir"
    BENCH_WORKER_PIDS+=("$BENCH_LAST_PID")
  done
  i=0
  for port in "$@"; do
    bench_wait_port "$port" 60 "${BENCH_WORKER_PIDS[i]}" || { tail -20 "$dir/$kind-$((i + 1)).log" >&2; bench_die "$kind worker on port $port did not start"; }
    i=$((i + 1))
  done
}

# bench_start_h2o_worker KIND DIR PORT: h2o's own worker, named KIND-h2o,
# with the capacity of the three the other gateways balance over (3× the
# threads, children or processes); waits until it listens; sets
# BENCH_H2O_WORKER_PID. h2o 2.2 cannot balance (fastcgi.connect takes one
# address). In front of one of the three shared workers it kept more
# connections to it (754 at c=512) than it had threads (200): the extra ones
# waited in the worker's listen backlog behind idle kept ones, and about
# half of wrk's clients got no answer for the whole run — missing from h2o's
# latency figures. With a worker of three workers' capacity it is limited
# by the same capacity as the others, not by a third of it.
bench_start_h2o_worker() {
  local kind=$1 dir=$2 port=$3
  bench_log "h2o's own $kind worker on port $port: 3x the capacity of one (h2o cannot balance over three)"
  bench_start_worker "$kind" "$port" "$kind-h2o" "$dir" 3
  BENCH_H2O_WORKER_PID=$BENCH_LAST_PID
  bench_wait_port "$port" 60 "$BENCH_H2O_WORKER_PID" || { tail -20 "$dir/$kind-h2o.log" >&2; bench_die "h2o's $kind worker on port $port did not start"; }
}

# ---------------------------------------------------------------- gateways

# bench_worker_addr PORT|HOST:PORT: the worker's address, 127.0.0.1 unless given.
bench_worker_addr() {
  if [[ $1 == *:* ]]; then echo "$1"; else echo "127.0.0.1:$1"; fi
}

# bench_gateway_config GW KIND PORT DIR WORKER_PORT...: writes DIR/GW.conf
# (nginx, haproxy, lighttpd) or DIR/fcgimux.toml, every gateway listening on
# 127.0.0.1:PORT, balancing over 127.0.0.1:WORKER_PORT... (h2o: exactly one,
# see bench_start_h2o_worker), with the shared
# settings above. PHP gets its document root; other kinds get SCRIPT_NAME=""
# and PATH_INFO = the path, as for an application mounted at /. A worker may
# also be given as HOST:PORT (IPv4), for a worker that is not on 127.0.0.1.
bench_gateway_config() {
  local gw=$1 kind=$2 port=$3 dir=$4 wp i=0
  shift 4
  bench_worker_paths "$kind"
  local docroot=$BENCH_DOCROOT
  mkdir -p "$dir"
  case $gw in
    fcgimux)
      local workers="" route_extra=""
      for wp in "$@"; do workers+="${workers:+, }\"$(bench_worker_addr "$wp")\""; done
      [[ $kind == php ]] && route_extra="document_root = \"$docroot\""$'\n'"index = \"index.php\""
      cat >"$dir/fcgimux.toml" <<EOF
# fcgimux for the benchmark (rendered by bench/lib.sh)
[server]
listen = ["127.0.0.1:$port"]
threads = $BENCH_THREADS
max_connections = $BENCH_MAX_CLIENTS
header_timeout = "${BENCH_HEADER_TIMEOUT}s"
idle_timeout = "${BENCH_IDLE_TIMEOUT}s"
shutdown_timeout = "1s"
max_body_size = "${BENCH_MAX_BODY_MB}MiB"
access_log = ""
error_log = "$dir/fcgimux-error.log"
log_level = "$BENCH_FCGIMUX_LOG_LEVEL"
$BENCH_FCGIMUX_SERVER_EXTRA

[[route]]
prefix = "/"
pool = "w"
$route_extra

[pools.w]
workers = [$workers]
balance = "least-conn"
connect_timeout = "${BENCH_CONNECT_TIMEOUT}s"
response_timeout = "${BENCH_RESPONSE_TIMEOUT}s"
keepalive_timeout = "${BENCH_UPSTREAM_KEEPALIVE_TIMEOUT}s"
max_idle_conns = $BENCH_UPSTREAM_IDLE
max_conns = $BENCH_FCGIMUX_MAX_CONNS
$BENCH_FCGIMUX_POOL_EXTRA
EOF
      ;;
    nginx)
      local servers="" script_params
      for wp in "$@"; do servers+="    server $(bench_worker_addr "$wp")${BENCH_NGINX_SERVER_EXTRA:+ $BENCH_NGINX_SERVER_EXTRA};"$'\n'; done
      if [[ $kind == php ]]; then
        script_params="fastcgi_param SCRIPT_NAME \$fastcgi_script_name; fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name; fastcgi_param REDIRECT_STATUS 200;"
      else
        script_params="fastcgi_param SCRIPT_NAME \"\"; fastcgi_param PATH_INFO \$uri;"
      fi
      # uWSGI closes after every response whatever FCGI_KEEP_CONN says; nginx
      # and HAProxy would reuse the closed connection (nginx then marks the
      # worker failed and answers 502), so for Django they do not ask for it.
      # fcgimux learns this by itself.
      local keep_conn=on
      [[ $kind == django ]] && keep_conn=off
      mkdir -p "$dir/nginx-tmp"
      cat >"$dir/nginx.conf" <<EOF
# nginx for the benchmark (rendered by bench/lib.sh)
daemon off;
master_process on;
user root;
worker_processes $BENCH_THREADS;
worker_rlimit_nofile $(ulimit -Hn);
pid $dir/nginx.pid;
error_log $dir/nginx-error.log $BENCH_NGINX_LOG_LEVEL;
events {
  worker_connections $((BENCH_MAX_CLIENTS + 4096));
}
http {
  access_log off;
  client_body_temp_path $dir/nginx-tmp/body;
  fastcgi_temp_path $dir/nginx-tmp/fastcgi;
  proxy_temp_path $dir/nginx-tmp/proxy;
  keepalive_timeout ${BENCH_IDLE_TIMEOUT}s;
  keepalive_requests 100000000;
  client_header_timeout ${BENCH_HEADER_TIMEOUT}s;
  client_body_timeout ${BENCH_IDLE_TIMEOUT}s;
  send_timeout ${BENCH_IDLE_TIMEOUT}s;
  client_max_body_size ${BENCH_MAX_BODY_MB}m;
  upstream w {
    least_conn;
$servers    keepalive $((BENCH_UPSTREAM_IDLE * $#));
    keepalive_requests 100000000;
    keepalive_timeout ${BENCH_UPSTREAM_KEEPALIVE_TIMEOUT}s;
  }
  server {
    listen 127.0.0.1:$port;
    root $docroot;
    location / {
      fastcgi_pass w;
      fastcgi_keep_conn $keep_conn;
      fastcgi_connect_timeout ${BENCH_CONNECT_TIMEOUT}s;
      fastcgi_read_timeout ${BENCH_RESPONSE_TIMEOUT}s;
      fastcgi_send_timeout ${BENCH_RESPONSE_TIMEOUT}s;
      # stream request bodies; buffer responses in memory only, like fcgimux
      fastcgi_request_buffering off;
      fastcgi_max_temp_file_size 0;
      fastcgi_next_upstream error timeout;
      fastcgi_param GATEWAY_INTERFACE CGI/1.1;
      fastcgi_param SERVER_SOFTWARE nginx/\$nginx_version;
      fastcgi_param SERVER_PROTOCOL \$server_protocol;
      fastcgi_param SERVER_NAME \$server_name;
      fastcgi_param SERVER_ADDR \$server_addr;
      fastcgi_param SERVER_PORT \$server_port;
      fastcgi_param REMOTE_ADDR \$remote_addr;
      fastcgi_param REMOTE_PORT \$remote_port;
      fastcgi_param REQUEST_METHOD \$request_method;
      fastcgi_param REQUEST_URI \$request_uri;
      fastcgi_param DOCUMENT_URI \$document_uri;
      fastcgi_param DOCUMENT_ROOT \$document_root;
      fastcgi_param QUERY_STRING \$query_string;
      fastcgi_param CONTENT_TYPE \$content_type;
      fastcgi_param CONTENT_LENGTH \$content_length;
      $script_params
    }
  }
}
EOF
      ;;
    haproxy)
      local servers="" pathinfo
      for wp in "$@"; do i=$((i + 1)); servers+="  server w$i $(bench_worker_addr "$wp") proto fcgi"$'\n'; done
      # PHP: script then path-info; others: empty SCRIPT_NAME, the whole path as PATH_INFO.
      if [[ $kind == php ]]; then pathinfo='^(/.+\.php)(/.*)?$'; else pathinfo='^()(/.*)$'; fi
      # haproxy needs about two descriptors per connection; stay under the hard limit.
      local keep_conn="option keep-conn"
      [[ $kind == django ]] && keep_conn="no option keep-conn"   # see nginx above
      local maxconn=$BENCH_MAX_CLIENTS hard
      hard=$(ulimit -Hn)
      ((maxconn * 2 + 200 > hard)) && maxconn=$(((hard - 200) / 2))
      cat >"$dir/haproxy.conf" <<EOF
# HAProxy for the benchmark (rendered by bench/lib.sh)
global
  nbthread $BENCH_THREADS
  maxconn $maxconn
  tune.maxrewrite 1024

defaults
  mode http
  maxconn $maxconn
  option http-keep-alive
  timeout connect ${BENCH_CONNECT_TIMEOUT}s
  timeout client ${BENCH_IDLE_TIMEOUT}s
  timeout server ${BENCH_RESPONSE_TIMEOUT}s
  timeout http-request ${BENCH_HEADER_TIMEOUT}s
  timeout http-keep-alive ${BENCH_IDLE_TIMEOUT}s

fcgi-app app
  docroot $docroot
  index index.php
  path-info $pathinfo
  $keep_conn
  no option get-values
$BENCH_HAPROXY_FCGI_APP_EXTRA

frontend fe
  bind 127.0.0.1:$port
  default_backend be

backend be
  balance leastconn
  http-reuse always
  use-fcgi-app app
  default-server pool-max-conn $((BENCH_UPSTREAM_IDLE * BENCH_THREADS)) pool-purge-delay ${BENCH_UPSTREAM_KEEPALIVE_TIMEOUT}s${BENCH_HAPROXY_SERVER_EXTRA:+ $BENCH_HAPROXY_SERVER_EXTRA}
$servers
EOF
      ;;
    lighttpd)
      local hosts="" fix
      if [[ $kind == php ]]; then fix=disable; else fix=enable; fi
      for wp in "$@"; do
        i=$((i + 1))
        local waddr
        waddr=$(bench_worker_addr "$wp")
        hosts+="    ( \"host\" => \"${waddr%:*}\", \"port\" => ${waddr##*:}, \"check-local\" => \"disable\","
        hosts+=" \"fix-root-scriptname\" => \"$fix\", \"connect-timeout\" => $BENCH_CONNECT_TIMEOUT,"
        hosts+=" \"read-timeout\" => $BENCH_RESPONSE_TIMEOUT, \"write-timeout\" => $BENCH_RESPONSE_TIMEOUT"
        hosts+="${BENCH_LIGHTTPD_HOST_EXTRA:+, $BENCH_LIGHTTPD_HOST_EXTRA} ),"$'\n'
      done
      local maxfds
      maxfds=$(ulimit -Hn)
      cat >"$dir/lighttpd.conf" <<EOF
# lighttpd for the benchmark (rendered by bench/lib.sh)
server.modules = ( "mod_fastcgi" )
server.bind = "127.0.0.1"
server.port = $port
server.document-root = "$docroot"
server.errorlog = "$dir/lighttpd-error.log"
server.max-fds = $maxfds
server.max-connections = $BENCH_MAX_CLIENTS
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = $BENCH_IDLE_TIMEOUT
server.max-read-idle = $BENCH_HEADER_TIMEOUT
server.max-write-idle = $BENCH_IDLE_TIMEOUT
server.max-request-size = $((BENCH_MAX_BODY_MB * 1024))
server.upload-dirs = ( "$dir" )
# stream bodies both ways instead of spooling them to temp files
server.stream-request-body = 1
server.stream-response-body = 1
fastcgi.balance = "fair"
fastcgi.server = ( "/" => (
$hosts) )
$BENCH_LIGHTTPD_SERVER_EXTRA
EOF
      ;;
    h2o)
      # h2o 2.2 (Debian 12) takes one address per fastcgi.connect and cannot
      # balance: callers give it one worker of its own with the capacity of
      # the three the others share (bench_start_h2o_worker). PHP goes through the file
      # handler (file.custom-handler for .php), which is what sets
      # SCRIPT_FILENAME; the other kinds are mounted at / (SCRIPT_NAME "",
      # PATH_INFO = the path). Timeouts are in milliseconds; h2o has no
      # separate connect timeout (fastcgi.timeout.io covers it) and one
      # http1-request-timeout for both the request head and the keep-alive
      # idle time (set to the idle timeout). It reads the whole request body
      # before it starts the FastCGI request (temp-buffer-path for big ones).
      # Idle worker connections: no count limit in h2o 2.2, only the timeout.
      (($# == 1)) || bench_die "h2o takes one worker (it cannot balance), got $#: start its own with bench_start_h2o_worker"
      local w keepalive_ms=$((BENCH_UPSTREAM_KEEPALIVE_TIMEOUT * 1000))
      w=$(bench_worker_addr "$1")
      # keep-alive 0: no FCGI_KEEP_CONN, as nginx and HAProxy for uWSGI (see nginx below)
      [[ $kind == django ]] && keepalive_ms=0
      local connect="        fastcgi.connect:
          host: ${w%:*}
          port: ${w##*:}
          type: tcp
        fastcgi.timeout.io: $((BENCH_RESPONSE_TIMEOUT * 1000))
        fastcgi.timeout.keepalive: $keepalive_ms"
      local path_conf
      if [[ $kind == php ]]; then
        path_conf="        file.dir: $docroot
        file.index: [ 'index.php' ]
        file.custom-handler:
          extension: .php
  ${connect//$'\n'/$'\n'  }"
      else
        path_conf=$connect
      fi
      mkdir -p "$dir/h2o-tmp"
      cat >"$dir/h2o.conf" <<EOF
# h2o for the benchmark (rendered by bench/lib.sh)
user: root
num-threads: $BENCH_THREADS
max-connections: $BENCH_MAX_CLIENTS
pid-file: $dir/h2o.pid
error-log: $dir/h2o-error.log
http1-request-timeout: $BENCH_IDLE_TIMEOUT
limit-request-body: $((BENCH_MAX_BODY_MB * 1048576))
temp-buffer-path: $dir/h2o-tmp
listen:
  host: 127.0.0.1
  port: $port
hosts:
  default:
    paths:
      "/":
$path_conf
EOF
      ;;
    *) bench_die "unknown gateway $gw" ;;
  esac
}

# bench_start_gateway GW KIND PORT DIR WORKER_PORT...: writes the config,
# starts the gateway in the foreground (its master process is the PID),
# waits until it listens; sets BENCH_LAST_PID.
bench_start_gateway() {
  local gw=$1 kind=$2 port=$3 dir=$4
  bench_gateway_config "$@"
  case $gw in
    fcgimux) bench_spawn "$dir/fcgimux.out" "$FCGIMUX_BIN" -c "$dir/fcgimux.toml" ;;
    nginx) bench_spawn "$dir/nginx.out" nginx -p "$dir" -c "$dir/nginx.conf" ;;
    haproxy) bench_spawn "$dir/haproxy.out" haproxy -db -f "$dir/haproxy.conf" ;;
    lighttpd) bench_spawn "$dir/lighttpd.out" lighttpd -D -f "$dir/lighttpd.conf" ;;
    h2o) bench_spawn "$dir/h2o.out" h2o -m worker -c "$dir/h2o.conf" ;;
  esac
  if ! bench_wait_port "$port" 15 "$BENCH_LAST_PID"; then
    tail -20 "$dir/$gw.out" "$dir/$gw-error.log" >&2 2>/dev/null
    bench_die "$gw did not start on port $port"
  fi
}

# bench_gateway_version GW: one line.
bench_gateway_version() {
  case $1 in
    fcgimux) "$FCGIMUX_BIN" --version 2>&1 | head -1 ;;
    nginx) nginx -v 2>&1 | head -1 ;;
    haproxy) haproxy -v 2>&1 | head -1 ;;
    lighttpd) lighttpd -v 2>&1 | head -1 ;;
    h2o) h2o --version 2>&1 | head -1 ;;
  esac
}
