#!/usr/bin/env bash
# Builds fcgimux with its tests and runs all of them (unit and end-to-end)
# through ctest. Installs missing Debian packages first. This is what CI runs
# (.ci/run). Exits with ctest's status.
#
#   bash scripts/test.sh                 # RelWithDebInfo into build/
#   BUILD_TYPE=Debug bash scripts/test.sh
#   bash scripts/test.sh -R e2e          # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --tests

cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DFCGIMUX_TESTS=ON
cmake --build build -j"$(nproc)"

# The end-to-end tests start their own processes on ports the kernel picks,
# so they run in parallel with each other and with the unit tests.
set +e
ctest --test-dir build --output-on-failure -j2 "$@"
status=$?
set -e
exit "$status"
