#!/usr/bin/env bash
# Runs one uWSGI FastCGI worker of the example Django site in the foreground.
#
#   run-worker.sh ADDRESS NAME [PROCESSES] [THREADS]
#   run-worker.sh 127.0.0.1:9001 django-1
#
# The worker speaks FastCGI on ADDRESS and puts NAME into every response
# (X-Worker header, "worker" in JSON). It uses the sqlite database named by
# FCGIMUX_EXAMPLE_DB (default: var/example.sqlite3 here), which must have
# been migrated first: `/usr/bin/python3 manage.py migrate` (start-workers.sh
# does it). SIGTERM or SIGINT stops it. The script execs uWSGI, so the PID
# you started is uWSGI's master.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 ADDRESS NAME [PROCESSES] [THREADS]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
export WORKER_NAME="$2"
# --no-orphans: if the master is killed hard, its worker processes go too.
# --need-app: exit at once if Django cannot be loaded, rather than serve 500s.
exec uwsgi \
  --plugin python3 \
  --fastcgi-socket "$1" \
  --chdir "$here" \
  --pythonpath "$here" \
  --wsgi-file "$here/exampleproj/wsgi.py" \
  --master \
  --processes "${3:-1}" \
  --threads "${4:-4}" \
  --die-on-term \
  --need-app \
  --no-orphans \
  --disable-logging \
  --ignore-sigpipe \
  --ignore-write-errors \
  --disable-write-exception
