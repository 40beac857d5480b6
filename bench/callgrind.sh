#!/usr/bin/env bash
# bench/callgrind.sh — fcgimux's user-space work per request, counted in
# instructions (issue #5: "where the cycles go" for the part the gateway's
# own code decides).
#
#   bash bench/callgrind.sh [-c 8] [-d 10] [--top 25] [--out FILE] [--append FILE]
#
# Three libfcgi responders as in bench/run.sh and, in front of them, fcgimux
# configured as bench/lib.sh does but with one loop thread, under
# `valgrind --tool=callgrind`. wrk -t1 at concurrency C on `/hello` for 2 s
# (warm-up: connections to the workers, recycled buffers), then the counters
# are zeroed, wrk runs D seconds, and the counters are dumped:
#   instructions per request = instructions counted ÷ requests wrk saw,
# in fcgimux's user space (its code, libuv, libc, libstdc++), not in the
# kernel. Unlike time on these shared machines the count barely moves from
# run to run (within ~1%), so two builds can be compared one after the
# other: FCGIMUX_BIN=/path/to/other/fcgimux bash bench/callgrind.sh.
# Valgrind runs the gateway ~20x slower; the load, and so the batching per
# loop iteration, is not the one of bench/run.sh: compare builds with the
# same -c, not with run.sh's figures.
#
# Prints a Markdown summary (total, then the functions with the most
# instructions per request, inclusive and self); --out FILE writes it there,
# --append FILE puts it into FILE as a section, in place of an earlier
# run's (bench/run.sh keeps such sections of RESULTS.md). Everything it
# starts listens on 127.0.0.1 on ports the kernel picks and is stopped by
# PID on exit; every wait is bounded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command_line="bash bench/callgrind.sh $*"

conc=8
duration=10
top=25
out=
append=
while (($#)); do
  case $1 in
    -c | --concurrency) conc=$2; shift ;;
    -d | --duration) duration=$2; shift ;;
    --top) top=$2; shift ;;
    --out) out=$2; shift ;;
    --append) append=$2; shift ;;
    -h | --help) sed -n "2,28p" "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $conc =~ ^[1-9][0-9]*$ && $duration =~ ^[1-9][0-9]*$ && $top =~ ^[1-9][0-9]*$ ]] ||
  { echo "-c, -d and --top take whole numbers" >&2; exit 2; }
[[ $out && $out != /* ]] && out="$PWD/$out"
[[ $append && $append != /* ]] && append="$PWD/$append"

# shellcheck source=bench/lib.sh
source "$here/lib.sh"

bench_workdir callgrind

bench_ensure_packages wrk valgrind libfcgi-dev curl cmake g++ pkg-config libuv1-dev \
  libtomlplusplus-dev libfmt-dev node-llhttp catch2
bench_build

read -r -a wports <<<"$(bench_free_ports 3)"
bench_worker_paths libfcgi
bench_start_workers libfcgi "$work/workers" "${wports[@]}"

read -r port <<<"$(bench_free_ports 1)"
BENCH_THREADS=1 bench_gateway_config fcgimux libfcgi "$port" "$work/gw" "${wports[@]}"
profile="$work/callgrind.out"
bench_spawn "$work/gw/valgrind.out" valgrind --tool=callgrind --callgrind-out-file="$profile" \
  "$FCGIMUX_BIN" -c "$work/gw/fcgimux.toml"
gw_pid=$BENCH_LAST_PID
bench_wait_port "$port" 60 "$gw_pid" || { tail -20 "$work/gw/valgrind.out" >&2; bench_die "fcgimux did not start under valgrind"; }
url="http://127.0.0.1:$port$BENCH_PATH_SMALL"
for ((i = 0; i < 100; i++)); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true) == 200 ]] && break
  sleep 0.1
done
timeout 60 wrk -t1 -c"$conc" -d2s --timeout 10s "$url" >/dev/null 2>&1 || true
timeout 60 callgrind_control -z "$gw_pid" >/dev/null
timeout $((duration + 60)) wrk -t1 -c"$conc" -d"${duration}s" --timeout 10s "$url" >"$work/wrk.txt" 2>&1 || true
timeout 60 callgrind_control -d "$gw_pid" >/dev/null
# The dump after the zeroing is the second file (callgrind.out.1).
for ((i = 0; i < 100; i++)); do [[ -s $profile.1 ]] && break; sleep 0.1; done
[[ -s $profile.1 ]] || bench_die "callgrind wrote no dump"
read -r rps _p50 _p99 reqs non2xx sockerr _mean < <(/usr/bin/python3 "$here/tool.py" wrk "$work/wrk.txt")
((reqs > 0)) || bench_die "wrk got no answer"
callgrind_annotate --inclusive=yes --threshold=100 "$profile.1" >"$work/inclusive.txt" 2>/dev/null
callgrind_annotate --inclusive=no --threshold=100 "$profile.1" >"$work/self.txt" 2>/dev/null

summary=$(/usr/bin/python3 - "$work/inclusive.txt" "$work/self.txt" "$reqs" "$rps" "$((non2xx + sockerr))" \
  "$command_line" "$BENCH_BUILD_NOTE" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$conc" "$duration" "$top" <<'EOF'
import re, sys
inclusive, self_, reqs, rps, errors, command, build, when, conc, duration, top = sys.argv[1:]
reqs, top = int(reqs), int(top)
line = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*?)\s*(?:\[([^\]]*)\])?\s*$")

def rows(path):
    total, out = None, []
    for l in open(path):
        m = line.match(l)
        if not m:
            continue
        n, what = int(m.group(1).replace(",", "")), m.group(2)
        if what == "PROGRAM TOTALS":
            total = n
            continue
        if ":" not in what:
            continue
        name = what.split(":", 1)[1] if not what.startswith("???:") else what[4:]
        if name.startswith("0x"):  # a static function of a library without symbols
            out.append((n, "(internal to " + (m.group(3) or "?").rsplit("/", 1)[-1] + ")"))
            continue
        # Arguments, templates and return types make names unreadable: keep
        # Class::function.
        name = name.replace("(anonymous namespace)", "anon")
        name = re.sub(r"\(.*$", "", name)
        while re.search(r"<[^<>]*>", name):
            name = re.sub(r"<[^<>]*>", "", name)
        name = name.split(" ")[-1] or name
        out.append((n, name))
    return total, out

total, inc = rows(inclusive)
_, slf = rows(self_)
# Frames every instruction runs under (the thread's start, uv_run, the
# loop) say nothing: leave out what has the whole total (callgrind_annotate
# lists them with it even as self cost).
inc = [(n, f) for n, f in inc if total and n < 0.98 * total]
slf = [(n, f) for n, f in slf if total and n < 0.98 * total]
per = lambda n: n / reqs
out = []
out.append("## User-space instructions per request (bench/callgrind.sh)\n")
out.append(f"`{command}` — {when}, {build}.")
out.append(f"fcgimux with one loop thread under valgrind's callgrind, three libfcgi responders, wrk -t1 -c{conc} on `/hello`, "
           f"counters zeroed after a 2 s warm-up, then {duration} s: {reqs:,} requests ({float(rps):,.0f}/s under valgrind), "
           f"{errors} errors. Instructions in fcgimux's user space (its code, libuv, libc, libstdc++; not the kernel) ÷ requests. "
           "The count moves about 1% between runs, so builds can be compared one after the other.\n")
out.append(f"**{per(total):,.0f} instructions per request.**\n")
out.append("| function | inclusive / request | self / request |")
out.append("|---|---:|---:|")
selfmap = {}
for n, f in slf:
    selfmap[f] = selfmap.get(f, 0) + n
seen = set()
for n, f in inc:
    if f in seen:
        continue
    seen.add(f)
    out.append(f"| `{f}` | {per(n):,.0f} | {per(selfmap.get(f, 0)):,.0f} |")
    if len(seen) >= top:
        break
out.append("\nTop by self (the instructions in the function itself):\n")
out.append("| function | self / request | share |")
out.append("|---|---:|---:|")
for n, f in sorted(((v, k) for k, v in selfmap.items()), reverse=True)[:top]:
    out.append(f"| `{f}` | {per(n):,.0f} | {100 * n / total:.1f}% |")
print("\n".join(out))
EOF
)
bench_publish "$summary" "$out" "$append"
exit 0
