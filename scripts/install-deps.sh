#!/usr/bin/env bash
# Installs the Debian 12 packages fcgimux needs, and nothing when they are
# all there already (checked with dpkg-query first; `apt-get update` runs
# only when something is missing).
#
#   bash scripts/install-deps.sh            # build + run the example
#   bash scripts/install-deps.sh --tests    # also what the tests need
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libuv1-dev libtomlplusplus-dev libfmt-dev catch2 node-llhttp
  uwsgi uwsgi-plugin-python3 python3 python3-django
)
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(php8.2-fpm libfcgi-dev curl iproute2 nodejs node-fastcgi libnet-async-fastcgi-perl)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "installing: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "missing packages (${missing[*]}) and not root: install them, or run as root" >&2
    exit 1
  fi
fi
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
