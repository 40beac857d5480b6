#!/usr/bin/env bash
# Migrates the example database once, then runs N uWSGI FastCGI workers of
# the example Django site on 127.0.0.1:BASEPORT, BASEPORT+1, ... named
# django-1 .. django-N, until Ctrl-C (or SIGTERM), when it stops each of them
# by PID.
#
#   start-workers.sh [N] [BASEPORT]        # defaults: 3 9001
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n="${1:-3}"
base="${2:-9001}"
export FCGIMUX_EXAMPLE_DB="${FCGIMUX_EXAMPLE_DB:-$here/var/example.sqlite3}"
mkdir -p "$(dirname "$FCGIMUX_EXAMPLE_DB")"
/usr/bin/python3 "$here/manage.py" migrate --noinput -v0

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ((i = 1; i <= n; i++)); do
  port=$((base + i - 1))
  "$here/run-worker.sh" "127.0.0.1:$port" "django-$i" >"${LOG_DIR:-$here/var}/django-$i.log" 2>&1 &
  pids+=("$!")
  echo "django-$i: pid $! on 127.0.0.1:$port (log ${LOG_DIR:-$here/var}/django-$i.log)"
done
wait
