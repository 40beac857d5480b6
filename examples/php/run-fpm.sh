#!/usr/bin/env bash
# Runs PHP-FPM in the foreground for the example PHP scripts.
#
#   run-fpm.sh ADDRESS [DIR]        # e.g. run-fpm.sh 127.0.0.1:9100
#
# DIR (default: a new temporary directory) receives the rendered config, the
# pid file and the logs. Point an fcgimux route with
# document_root = "<this directory>" at ADDRESS. The script execs php-fpm, so
# the PID you started is PHP-FPM's master; SIGTERM or SIGINT stops it.
# FPM_MAX_CHILDREN (default 2) is the static pool's pm.max_children.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 ADDRESS [DIR]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
dir="${2:-$(mktemp -d /tmp/fcgimux-php.XXXXXX)}"
mkdir -p "$dir"
sed -e "s|@DIR@|$dir|g" -e "s|@LISTEN@|$1|g" -e "s|@CHILDREN@|${FPM_MAX_CHILDREN:-2}|g" "$here/php-fpm.conf.in" >"$dir/php-fpm.conf"
echo "php-fpm: config $dir/php-fpm.conf, document root $here" >&2
exec php-fpm8.2 -F -R -n -p "$dir" -y "$dir/php-fpm.conf"
