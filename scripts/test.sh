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
# End-to-end tests run real processes against each other on a shared,
# noisy machine: a test that fails is run once more, and only a test that
# fails twice fails the run (unit tests are deterministic and never need it).
ctest --test-dir build --output-on-failure -j2 --repeat until-pass:2 "$@"
status=$?
set -e

# The whole suite again (unit and end-to-end) under AddressSanitizer +
# UndefinedBehaviorSanitizer. Any report aborts the process that made it
# (-fno-sanitize-recover, abort_on_error): a unit test fails at once, and the
# e2e harness fails the test case whose fcgimux (or fault_worker) printed a
# report, leaks at exit included. quarantine_size_mb keeps ASan's pool of
# freed memory small, so that the tests that watch fcgimux's VmRSS measure
# fcgimux and not the quarantine. FCGIMUX_SKIP_SANITIZE=1 skips this part.
if [[ ${FCGIMUX_SKIP_SANITIZE:-0} != 1 ]]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFCGIMUX_SANITIZE=ON -DFCGIMUX_TESTS=ON
  cmake --build build-asan -j"$(nproc)"
  set +e
  ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:quarantine_size_mb=8 \
  UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j2 --repeat until-pass:2 "$@"
  asan_status=$?
  set -e
  # A rerun (--repeat until-pass) must not hide a sanitizer report: any
  # report in any attempt's output fails the run.
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' \
      build-asan/Testing/Temporary/LastTest.log 2>/dev/null; then
    echo "test.sh: a sanitizer report appeared in a test's output (build-asan/Testing/Temporary/LastTest.log)" >&2
    asan_status=1
  fi
  if [[ $status -eq 0 ]]; then status=$asan_status; fi
fi
exit "$status"
