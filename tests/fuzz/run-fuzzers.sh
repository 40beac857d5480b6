#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for
# SECONDS (default 60), at most JOBS (default 1, at most 2) at a time.
#
#   bash tests/fuzz/run-fuzzers.sh [SECONDS] [TARGET...]
#   JOBS=2 bash tests/fuzz/run-fuzzers.sh 300
#
# Each fuzzer starts from tests/fuzz/corpus/<target>/ and writes the inputs it
# finds into a scratch directory (FUZZ_WORK, default build-fuzz/fuzz-work/),
# never into the repository. Per target it prints the executions and the
# final coverage (libFuzzer's cov: and ft:) and any crash; crash, timeout,
# leak and oom inputs are copied to tests/fuzz/regressions/<target>/ for
# review (minimize them with ./<target> -minimize_crash=1 -runs=10000 FILE
# before committing). Exits 1 when any fuzzer found something.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}
shift || true
ALL=(fcgi_stream_parser_fuzz fcgi_params_fuzz fcgi_request_parser_fuzz cgi_response_fuzz
     http_request_fuzz config_fuzz)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
JOBS=${JOBS:-1}
[ "$JOBS" -le 2 ] || JOBS=2  # the machine is shared
BUILD=${BUILD:-$ROOT/build-fuzz}
WORK=${FUZZ_WORK:-$BUILD/fuzz-work}

CC=${CC:-clang-14}
CXX=${CXX:-clang++-14}
command -v "$CXX" >/dev/null || { CC=clang; CXX=clang++; }
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFCGIMUX_FUZZ=ON -DFCGIMUX_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target "${TARGETS[@]}" -j 2 >/dev/null

run_one() {
  local t=$1
  local work=$WORK/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  rm -f "$work"/artifacts/*  # report only what this run found
  "$BUILD/tests/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$ROOT/tests/fuzz/corpus/$t" >"$work/log" 2>&1 || true
}

running=0
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

found=0
printf '%-26s %10s %8s %8s  %s\n' target execs cov ft result
for t in "${TARGETS[@]}"; do
  work=$WORK/$t
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$work/log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  shopt -s nullglob
  artifacts=("$work"/artifacts/*)
  shopt -u nullglob
  result=ok
  if [ ${#artifacts[@]} -gt 0 ]; then
    found=1
    result="FOUND ${#artifacts[@]}: "
    mkdir -p "$ROOT/tests/fuzz/regressions/$t"
    for a in "${artifacts[@]}"; do
      cp "$a" "$ROOT/tests/fuzz/regressions/$t/"
      result+="tests/fuzz/regressions/$t/$(basename "$a") "
    done
    grep -m1 -E 'ERROR: |oracle failed' "$work/log" | sed 's/^/    /' || true
  fi
  printf '%-26s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
echo "logs and new inputs: $WORK/<target>/"
exit $found
