#!/usr/bin/env bash
# Builds fcgimux (release), starts three uWSGI FastCGI workers of the example
# Django site on 127.0.0.1:9001-9003 and fcgimux on 127.0.0.1:8080
# (conf/fcgimux.toml), and serves until Ctrl-C. Everything it started is
# then stopped by PID. Installs missing Debian packages first.
#
#   bash scripts/run-example.sh
#
# Logs: examples/django/var/django-N.log; fcgimux logs to this terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DFCGIMUX_TESTS=OFF >/dev/null
cmake --build build-release --target fcgimux -j"$(nproc)"

var="$root/examples/django/var"
mkdir -p "$var"
export FCGIMUX_EXAMPLE_DB="${FCGIMUX_EXAMPLE_DB:-$var/example.sqlite3}"
# The sessions table must exist before any worker starts.
/usr/bin/python3 examples/django/manage.py migrate --noinput -v0

pids=()
worker_pids=()
stop_children() {
  trap - EXIT INT TERM
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Up to 10 s for a graceful exit, then SIGKILL; reap each one.
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_children EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls until 127.0.0.1:$1 accepts connections; fails if $2 (a PID) exits.
wait_for_port() {
  local port=$1 pid=$2 what=$3
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited before listening on 127.0.0.1:$port (is the port taken?)" >&2
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "$what does not listen on 127.0.0.1:$port after 30 s" >&2
  return 1
}

for i in 1 2 3; do
  port=$((9000 + i))
  examples/django/run-worker.sh "127.0.0.1:$port" "django-$i" 2 4 >"$var/django-$i.log" 2>&1 &
  pids+=("$!")
  worker_pids[i]=$!
done
# uWSGI binds its socket before it loads Django and installs its signal
# handlers, so an open port is not enough: wait for its workers too (a
# SIGTERM sent during start-up would be lost).
wait_for_log() {
  local file=$1 text=$2 pid=$3 what=$4
  for _ in $(seq 300); do
    grep -q "$text" "$file" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited during start-up; see $file" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$what not ready after 30 s; see $file" >&2
  return 1
}
for i in 1 2 3; do
  wait_for_port $((9000 + i)) "${worker_pids[i]}" "django-$i (log: $var/django-$i.log)"
  wait_for_log "$var/django-$i.log" "spawned uWSGI worker" "${worker_pids[i]}" "django-$i"
done

build-release/gateway/fcgimux -c conf/fcgimux.toml &
gateway=$!
pids+=("$gateway")
wait_for_port 8080 "$gateway" "fcgimux"

echo "fcgimux is serving http://127.0.0.1:8080/"
echo "(workers django-1..3 on 127.0.0.1:9001-9003; Ctrl-C stops everything)"
# Until Ctrl-C, or until fcgimux exits by itself.
wait "$gateway" || true
