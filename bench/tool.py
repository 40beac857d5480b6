#!/usr/bin/python3
"""Helpers of bench/run.sh (standard library only).

  tool.py wrk FILE                  parse wrk --latency output: prints
                                    "rps p50_ms p99_ms requests non2xx sockerr mean_ms"
  tool.py idle PORT N PATH DIR      opens N keep-alive connections, one request
                                    each; halfway writes DIR/half ("open K") and
                                    waits for DIR/half_done; then writes DIR/ready
                                    ("open N") and waits for DIR/done, checks,
                                    writes DIR/result
  tool.py stalled SS1 SS2           two `ss -Htni state established` samples of
                                    wrk's client connections, 1 s apart: prints
                                    "stalled seen" (connections in both samples;
                                    of those, the ones whose bytes_acked did not
                                    grow: no request answered in between)
  tool.py report RAW META OUT       writes RESULTS.md from the raw TSV and meta
  tool.py append FILE SECTION       puts the Markdown SECTION (a file that starts
                                    with a "## " heading) into FILE: in place of
                                    the section with the same heading if FILE has
                                    one, else at the end (floor.sh, profile.sh and
                                    mux.sh --append: a rerun replaces its section)
  tool.py syscalls TICKS (GW PERF_STAT_CSV CPU_TXT)...
                                    bench/profile.sh: Markdown tables of CPU and
                                    system calls per request, gateways side by side
  tool.py samples BINARY TOP < perf-script-output
                                    bench/profile.sh: the samples by (system
                                    call or user code, innermost BINARY function)
"""
import errno
import math
import os
import random
import resource
import selectors
import socket
import statistics
import sys
import time


# ------------------------------------------------------------------ wrk

def _ms(text):
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * factor
            except ValueError:
                continue
    return float("nan")


def parse_wrk(path):
    rps = p50 = p99 = mean = float("nan")
    requests = non2xx = sockerr = 0
    with open(path, errors="replace") as f:
        for line in f:
            words = line.split()
            if line.startswith("Requests/sec:"):
                rps = float(words[1])
            elif len(words) >= 2 and words[0] == "Latency" and mean != mean:
                mean = _ms(words[1])  # "Latency  17.39ms  11.51ms ..." (thread stats: avg first)
            elif len(words) == 2 and words[0] == "50.000%" or (len(words) == 2 and words[0] == "50%"):
                p50 = _ms(words[1])
            elif len(words) == 2 and words[0] in ("99%", "99.000%"):
                p99 = _ms(words[1])
            elif "requests in" in line:
                requests = int(words[0])
            elif line.strip().startswith("Non-2xx or 3xx responses:"):
                non2xx = int(words[-1])
            elif line.strip().startswith("Socket errors:"):
                # Socket errors: connect 0, read 0, write 0, timeout 0
                nums = [int(w.rstrip(",")) for w in words if w.rstrip(",").isdigit()]
                sockerr = sum(nums)
    return rps, p50, p99, requests, non2xx, sockerr, mean


# ------------------------------------------------------------------ stalled clients

def _bytes_acked(path):
    """{local address: bytes_acked} from `ss -Htni state established` output:
    a line "Recv-Q Send-Q LOCAL PEER", then an indented line of TCP info
    (no bytes_acked there: nothing acknowledged yet, 0)."""
    acked, local = {}, None
    with open(path, errors="replace") as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if not line[0].isspace():
                local = words[2] if len(words) >= 4 else None
                if local:
                    acked[local] = 0
            elif local:
                for word in words:
                    if word.startswith("bytes_acked:"):
                        acked[local] = int(word.split(":", 1)[1])
    return acked


def stalled(first, second):
    """(stalled, seen): of the client connections in both samples, those whose
    bytes_acked (bytes wrk sent) did not grow. wrk sends a connection's next
    request as soon as the answer to the last one arrives, so these had no
    request answered between the samples."""
    a, b = _bytes_acked(first), _bytes_acked(second)
    both = a.keys() & b.keys()
    return sum(1 for k in both if b[k] <= a[k]), len(both)


# ------------------------------------------------------------------ idle connections

def _signal(directory, name, text):
    with open(os.path.join(directory, name + ".tmp"), "w") as f:
        f.write(text)
    os.rename(os.path.join(directory, name + ".tmp"), os.path.join(directory, name))


def _wait_for(path, seconds):
    end = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)


def idle(port, n, path, directory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    sel = selectors.DefaultSelector()
    done_socks = []
    failed = 0
    deadline = time.monotonic() + 120
    batch = 200
    opened = 0
    half_written = False
    while opened < n and time.monotonic() < deadline:
        if not half_written and opened >= n // 2:
            # Halfway: the caller reads the gateway's RSS here too, so that the
            # second half gives the cost of one more connection without the
            # one-time growth (arenas, descriptor tables) of the first ones.
            _signal(directory, "half", "open %d failed %d\n" % (len(done_socks), failed))
            _wait_for(os.path.join(directory, "half_done"), 60)
            half_written = True
        pending = {}
        for _ in range(min(batch, n - opened)):
            s = socket.socket()
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            pending[s] = bytearray()
            sel.register(s, selectors.EVENT_WRITE)
        opened += batch
        sent = set()
        while pending and time.monotonic() < deadline:
            for key, ev in sel.select(timeout=1):
                s = key.fileobj
                if s not in pending:
                    continue
                if ev & selectors.EVENT_WRITE and s not in sent:
                    try:
                        s.send(request)
                        sent.add(s)
                        sel.modify(s, selectors.EVENT_READ)
                    except OSError:
                        sel.unregister(s)
                        del pending[s]
                        s.close()
                        failed += 1
                    continue
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    del pending[s]
                    s.close()
                    failed += 1
                    continue
                buf = pending[s]
                buf += data
                head_end = buf.find(b"\r\n\r\n")
                if head_end >= 0:
                    length = 0
                    for line in bytes(buf[:head_end]).split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value.strip())
                    if len(buf) >= head_end + 4 + length:
                        ok = buf.startswith(b"HTTP/1.1 200")
                        sel.unregister(s)
                        del pending[s]
                        if ok:
                            done_socks.append(s)
                        else:
                            s.close()
                            failed += 1
        for s in pending:
            sel.unregister(s)
            s.close()
            failed += 1
    _signal(directory, "ready", "open %d failed %d\n" % (len(done_socks), failed))
    _wait_for(os.path.join(directory, "done"), 60)
    # How many did the gateway keep open all along?
    still = 0
    probe = selectors.DefaultSelector()
    for s in done_socks:
        probe.register(s, selectors.EVENT_READ)
    readable = {k.fileobj for k, _ in probe.select(timeout=0)}
    for s in done_socks:
        if s not in readable:
            still += 1
            continue
        try:
            if s.recv(1, socket.MSG_PEEK):
                still += 1
        except OSError:
            pass
    with open(os.path.join(directory, "result"), "w") as f:
        f.write("open %d still %d failed %d\n" % (len(done_socks), still, failed))
    for s in done_socks:
        s.close()


# ------------------------------------------------------------------ report

GATEWAYS = ["fcgimux", "nginx", "haproxy", "lighttpd", "h2o"]
# For each metric, whether more is better (the best anchor is the max) or less.
HIGHER_BETTER = {"rps": True, "p50": False, "p99": False, "cpu1k": False, "rss": False}
ANCHORS = GATEWAYS[1:]


def _num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _median(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def _fmt(v, digits=1):
    if v != v:
        return "n/a"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return ("{:.%df}" % digits).format(v)


# The bar's requests/s item (issue #5): fcgimux ≥ 1.3 × the best anchor.
BAR_RPS_RATIO = 1.3


def _round_plan(meta):
    """How the run's load points were ordered, from run.sh's meta keys
    rounds, bar_points ("KIND... c=C..."), bar_rounds and williams_cycle."""
    fixed = "gateways in turn, A B C D E, A B C D E, …"
    williams = ("gateways in turn in an order that changes from round to round: a Williams design, where every "
                "gateway runs in every position and right after every other gateway equally often over %s rounds"
                % meta.get("williams_cycle", "?"))
    rounds = meta.get("rounds", "?")  # "0": every point is one of the bar's
    bar_points = meta.get("bar_points", "").strip()
    if not bar_points:
        return "%s rounds, %s" % (rounds, fixed)
    bar_rounds = meta.get("bar_rounds", "?")
    if rounds == "0":
        return "%s rounds, %s" % (bar_rounds, williams)
    kinds, _, cs = bar_points.partition(" c=")
    return "%s rounds, %s; the bar's points (%s workers at c=%s): %s rounds of their own, %s" % (
        rounds, fixed, kinds, " and ".join(cs.split()), bar_rounds, williams)


def round_bootstrap(per_round, anchors, resamples=2000, seed=5):
    """95% interval of fcgimux's requests/s ÷ the best anchor's, over medians
    of rounds, from |resamples| resamples of the rounds with replacement.

    per_round: round -> gateway -> requests/s. A resample takes whole rounds,
    the same ones for every gateway, so that the gateways of one round (run
    within a minute of each other) stay together and the host's drift from
    round to round is what the interval measures. Returns (low, high, share
    of resamples ≥ BAR_RPS_RATIO, rounds used), or None with fewer than 3
    rounds."""
    # Every round fcgimux ran in, as the headline's median takes them
    # (requests/s 0 included); anchors missing from a round are nan there.
    rounds = [per for _, per in sorted(per_round.items())
              if "fcgimux" in per and not math.isnan(per["fcgimux"])]
    if len(rounds) < 3:
        return None
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        pick = [rng.choice(rounds) for _ in rounds]
        f = _median([p["fcgimux"] for p in pick])
        meds = [m for m in (_median([p.get(a, float("nan")) for p in pick]) for a in anchors) if m == m]
        best = max(meds, default=0)
        if best > 0:
            ratios.append(f / best)
    if not ratios:
        return None
    ratios.sort()
    lo = ratios[int(0.025 * (len(ratios) - 1))]
    hi = ratios[int(0.975 * (len(ratios) - 1))]
    return lo, hi, sum(1 for r in ratios if r >= BAR_RPS_RATIO) / len(ratios), len(rounds)


def _ratio(a, b):
    if a != a or b != b or b == 0:
        return "n/a"
    return "%.2f" % (a / b)


def report(raw_path, meta_path, out_path):
    rows = []
    with open(raw_path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    meta = {}
    order = []
    with open(meta_path) as f:
        for line in f:
            if "=" in line:
                k, _, v = line.rstrip("\n").partition("=")
                if k not in meta:
                    order.append(k)
                    meta[k] = v
                else:
                    meta[k] += "\n" + v

    kinds = [k for k in meta.get("kinds", "").split() if k]
    gateways = [g for g in meta.get("gateways", "").split() if g] or GATEWAYS
    anchors = [g for g in gateways if g != "fcgimux"]

    load = {}   # (kind, gw, c) -> metric -> [values]
    by_round = {}  # (kind, c) -> round -> gw -> 2xx requests/s
    errors = {}  # (kind, gw) -> [non2xx, sockerr, requests]
    bodies = {}  # (kind, gw, test) -> [MB/s]
    body_fail = {}
    idle_rows = {}
    for r in rows:
        t = r["test"]
        kind, gw = r["kind"], r["gateway"]
        if t == "load":
            c = int(r["concurrency"])
            d = load.setdefault((kind, gw, c), {})
            reqs = _num(r["requests"])
            cpu = _num(r["cpu_s"])
            non2xx = _num(r["non2xx"])
            good = (reqs - non2xx) / reqs if reqs > 0 else float("nan")
            # Clients served at once (Little's law: requests/s × mean
            # latency). Below the offered concurrency, some connections
            # were left waiting: their requests are missing from the
            # latency figures, which then describe the luckier ones.
            served = _num(r["rps"]) * _num(r.get("mean_ms")) / 1000
            for name, v in (("rps", _num(r["rps"]) * good), ("p50", _num(r["p50_ms"])), ("p99", _num(r["p99_ms"])),
                            ("cpu1k", cpu / reqs * 1000 if reqs > 0 else float("nan")),
                            ("rss", _num(r["peak_rss_kb"]) / 1024), ("served", served),
                            ("stalled", _num(r.get("stalled")))):
                d.setdefault(name, []).append(v)
            by_round.setdefault((kind, c), {}).setdefault(int(_num(r["round"])), {})[gw] = _num(r["rps"]) * good
            e = errors.setdefault((kind, gw, c), [0, 0, 0])
            e[0] += int(_num(r["non2xx"]) or 0)
            e[1] += int(_num(r["sockerr"]) or 0)
            e[2] += int(reqs or 0)
        elif t in ("download", "upload"):
            if r["ok"] == "1":
                bodies.setdefault((kind, gw, t), []).append(_num(r["mb_s"]))
            else:
                body_fail[(kind, gw, t)] = body_fail.get((kind, gw, t), 0) + 1
        elif t == "idle":
            idle_rows.setdefault(gw, []).append(r)

    concs = sorted({k[2] for k in load})
    med = {k: {m: _median(v) for m, v in d.items()} for k, d in load.items()}

    out = []
    w = out.append
    w("# fcgimux benchmark results")
    w("")
    w("Generated by `bench/run.sh` on %s — do not edit by hand; rerun instead." % meta.get("date", "?"))
    w("")
    w("Command: `%s`" % meta.get("command", "?"))
    w("")
    w("Ratios are **fcgimux ÷ anchor** over the medians of interleaved rounds, each gateway restarted "
      "for every point: %s. "
      "Requests/s and MB/s: above 1 means fcgimux is better. Latency, CPU per request and "
      "memory: below 1 means fcgimux is better. Only ratios from one run are meaningful: "
      "the machine is shared and noisy, so absolute numbers move between runs." % _round_plan(meta))
    w("")

    def best_anchor(kind, mname, c):
        """(anchor, value): the best anchor's median for this metric and point."""
        vals = [(a, med.get((kind, a, c), {}).get(mname, float("nan"))) for a in anchors]
        vals = [(a, v) for a, v in vals if v == v]
        if not vals:
            return None, float("nan")
        pick = max if HIGHER_BETTER.get(mname, True) else min
        return pick(vals, key=lambda av: av[1])

    def ratio_table(kind, metrics):
        w("| metric | concurrency | " + " | ".join("vs %s" % a for a in anchors) + " | vs best anchor |")
        w("|---|---:|" + "---:|" * len(anchors) + "---:|")
        for mname, label in metrics:
            for c in concs:
                f = med.get((kind, "fcgimux", c), {}).get(mname, float("nan"))
                cells = []
                for a in anchors:
                    cell = _ratio(f, med.get((kind, a, c), {}).get(mname, float("nan")))
                    bad = [g for g in ("fcgimux", a) if sum(errors.get((kind, g, c), [0, 0, 0])[:2]) > 0]
                    cells.append(cell + ("*" if bad else ""))
                best, bv = best_anchor(kind, mname, c)
                cells.append("%s (%s)" % (_ratio(f, bv), best) if best else "n/a")
                w("| %s | %d | %s |" % (label, c, " | ".join(cells)))
        w("")
        w("\\* one of the two gateways had non-2xx responses or socket errors at this point "
          "(see the absolute table and \"Problems seen\"); requests/s counts 2xx responses only. "
          "\"vs best anchor\": against the anchor best at that point for that metric (most requests/s; "
          "least latency, CPU, memory), named in brackets." +
          (" h2o cannot balance: it has one worker of its own per kind with the capacity of the three "
           "the others balance over." if "h2o" in anchors else ""))

    def paired_rps(kind, c, best):
        """fcgimux's requests/s ÷ |best|'s (the anchor with the best median) in
        the same round, round by round. Not the best anchor of each round:
        the best of four noisy figures is picked for its luck in that round,
        which pulls such a ratio down when the anchors are close."""
        out = []
        for _, per_gw in sorted(by_round.get((kind, c), {}).items()):
            if per_gw.get(best, 0) > 0 and "fcgimux" in per_gw:
                out.append(per_gw["fcgimux"] / per_gw[best])
        return out

    def bar(kind):
        """Issue #5's bar, item by item, from this run's medians (kind = the headline kind)."""
        w("The bar (issue #5), from this run — %s workers:" % kind)
        w("")
        for c in (64, 512):
            if c not in concs:
                continue
            f = med.get((kind, "fcgimux", c), {})
            best, bv = best_anchor(kind, "rps", c)
            if best:
                r = f.get("rps", float("nan")) / bv if bv else float("nan")
                bp99 = med.get((kind, best, c), {}).get("p99", float("nan"))
                w("- requests/s at c=%d: **%s× the best anchor** (%s, %s req/s; fcgimux %s) — bar ≥ 1.3; "
                  "p99 %s ms vs %s's %s ms (bar: no higher)" % (
                      c, _ratio(f.get("rps", float("nan")), bv), best, _fmt(bv, 0), _fmt(f.get("rps", float("nan")), 0),
                      _fmt(f.get("p99", float("nan")), 2), best, _fmt(bp99, 2)))
                # Every gateway with a lower p99 at this point, and whether it served all the clients.
                for g in anchors:
                    gm = med.get((kind, g, c), {})
                    if gm.get("p99", float("inf")) < f.get("p99", float("nan")):
                        gs = gm.get("served", float("nan"))
                        fs = f.get("served", float("nan"))
                        note = ""
                        if gs == gs and gs < 0.9 * c:
                            note = (" — but it served only %s of the %d clients at once (requests/s × mean latency; "
                                    "fcgimux %s): the others waited, and their requests are missing from its latency "
                                    "figures" % (_fmt(gs, 0), c, _fmt(fs, 0)))
                        st = gm.get("stalled", float("nan"))
                        if st == st and st > 0:
                            note += "%s%s clients got no answer for ≥1 s mid-run" % (
                                "; " if note else " — but ", _fmt(st, 0))
                        w("  - lower p99 at c=%d: %s %s ms%s" % (c, g, _fmt(gm["p99"], 2), note))
                boot = round_bootstrap(by_round.get((kind, c), {}), anchors)
                if boot:
                    share = boot[2]
                    share_txt = ">99%" if 0.99 < share < 1 else "<1%" if 0 < share < 0.01 else "%d%%" % round(100 * share)
                    w("  - 95%% interval of that ratio over this run's rounds (%d rounds resampled 2,000 times, "
                      "whole rounds; the noise from round to round within this run, not from run to run): "
                      "%s–%s; %s of the resamples at or above %s" % (
                          boot[3], _fmt(boot[0], 2), _fmt(boot[1], 2), share_txt, BAR_RPS_RATIO))
                paired = paired_rps(kind, c, best)
                if paired:
                    w("  - the same rounds paired (not the bar's figure): fcgimux ÷ %s in each round "
                      "%s, median %s. The host's speed drifts from round to round, and a ratio of medians can "
                      "set one round's fcgimux against another's anchor." % (
                          best, ", ".join(_fmt(x, 2) for x in paired), _fmt(_median(paired), 2)))
        for c in (64, 512):
            if c in concs and "nginx" in anchors:
                n = med.get((kind, "nginx", c), {})
                f = med.get((kind, "fcgimux", c), {})
                w("- c=%d: CPU per request %s× nginx's (bar ≤ 0.7); peak RSS %s× nginx's (bar ≤ 1)" % (
                    c, _ratio(f.get("cpu1k", float("nan")), n.get("cpu1k", float("nan"))),
                    _ratio(f.get("rss", float("nan")), n.get("rss", float("nan")))))
        if idle_rows.get("fcgimux"):
            w("- idle keep-alive connections: %s KiB each, %s KiB each in the second half (bar ≤ 2; nginx %s, %s)" % (
                _fmt(idle_per("fcgimux"), 2), _fmt(idle_marginal("fcgimux"), 2),
                _fmt(idle_per("nginx"), 2), _fmt(idle_marginal("nginx"), 2)))
        if "nginx" in anchors and bodies.get((kind, "fcgimux", "download")):
            parts = []
            for t, label in (("download", "50 MB download"), ("upload", "10 MB upload")):
                parts.append("%s %s× nginx's MB/s" % (label, _ratio(_median(bodies.get((kind, "fcgimux", t), [])),
                                                                    _median(bodies.get((kind, "nginx", t), [])))))
            w("- " + "; ".join(parts) + " (bar ≥ 1)")
        w("")

    def idle_marginal(g):
        vals = []
        for r in idle_rows.get(g) or []:
            n = _num(r["open"]) - _num(r.get("half_open"))
            if n > 0 and _num(r.get("rss_half_kb")) > 0:
                vals.append((_num(r["rss_after_kb"]) - _num(r.get("rss_half_kb"))) / n)
        return _median(vals)

    def idle_per(g):
        rs = idle_rows.get(g) or []
        if not rs:
            return float("nan")
        return _median([_num(r["rss_after_kb"]) - _num(r["rss_before_kb"]) for r in rs]) / max(1, _median([_num(r["open"]) for r in rs]))

    metrics = [("rps", "requests/s"), ("p50", "p50 latency"), ("p99", "p99 latency"),
               ("cpu1k", "CPU s / 1000 req"), ("rss", "peak RSS")]
    if kinds:
        # The first kind run is the headline: libfcgi in the full plan, where
        # the workers cost least and the gateway is the bottleneck.
        w("## Headline: %s workers%s, fcgimux ÷ anchor"
          % (kinds[0], " (the gateway is the bottleneck)" if kinds[0] == "libfcgi" else ""))
        w("")
        bar(kinds[0])
        ratio_table(kinds[0], metrics)
        w("")

    for kind in kinds:
        w("## Worker kind: %s" % kind)
        w("")
        w("%s" % meta.get("about_" + kind, ""))
        w("")
        w("### Ratios fcgimux ÷ anchor")
        w("")
        ratio_table(kind, metrics)
        w("")
        w("### Absolute medians")
        w("")
        w("Clients served at once: requests/s × wrk's mean latency (Little's law), near the concurrency when "
          "every client is served (above it with a long latency tail: wrk adds samples for the requests a slow "
          "answer held back). Clients stalled ≥1 s: of wrk's connections, mid-run, those that had no "
          "request answered for 1 s (`ss` twice, 1 s apart: bytes_acked, the bytes wrk sent, did not grow); "
          "their requests are missing from the latency figures if still unanswered at the end. Blank: not sampled. "
          "† more than 1.5× the concurrency: wrk's p99 there follows a few long stalls, which its correction for "
          "coordinated omission counts hundreds of times each; `bench/latency.sh` times such a point's requests exactly.")
        w("")
        w("| concurrency | gateway | requests/s (2xx) | p50 ms | p99 ms | clients served at once | clients stalled ≥1 s | CPU s / 1000 req | peak RSS MiB | requests (all rounds) | non-2xx | socket errors |")
        w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in concs:
            for g in gateways:
                m = med.get((kind, g, c))
                if not m:
                    continue
                e = errors.get((kind, g, c), [0, 0, 0])
                st = m.get("stalled", float("nan"))
                served = m.get("served", float("nan"))
                mark = "†" if served == served and served > 1.5 * c else ""
                w("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d |" % (
                    c, g, _fmt(m["rps"], 0), _fmt(m["p50"], 2), _fmt(m["p99"], 2), _fmt(served, 0) + mark,
                    _fmt(st, 0) if st == st else "", _fmt(m["cpu1k"], 3),
                    _fmt(m["rss"], 1), "{:,}".format(e[2]), e[0], e[1]))
        w("")
        if not any(k[0] == kind for k in list(bodies) + list(body_fail)):
            continue  # a plan without large bodies (--bar)
        w("### Large bodies (MB/s = 10^6 bytes/s, median of all transfers of all rounds, one transfer at a time with curl)")
        w("")
        w("| gateway | 50 MB download MB/s | 10 MB upload MB/s | ratio fcgimux ÷ gateway (download / upload) |")
        w("|---|---:|---:|---|")
        fd = _median(bodies.get((kind, "fcgimux", "download"), []))
        fu = _median(bodies.get((kind, "fcgimux", "upload"), []))
        for g in gateways:
            d = _median(bodies.get((kind, g, "download"), []))
            u = _median(bodies.get((kind, g, "upload"), []))
            fails = []
            for t in ("download", "upload"):
                if body_fail.get((kind, g, t)):
                    fails.append("%d failed %s(s)" % (body_fail[(kind, g, t)], t))
            ratio = "—" if g == "fcgimux" else "%s / %s" % (_ratio(fd, d), _ratio(fu, u))
            w("| %s | %s | %s | %s%s |" % (g, _fmt(d, 0), _fmt(u, 0), ratio, ("; " + ", ".join(fails)) if fails else ""))
        w("")

    if idle_rows:
        w("## 10,000 idle keep-alive client connections (%s workers)" % meta.get("idle_kind", "libfcgi"))
        w("")
        w("Each connection sends one `GET` and keeps the connection open; RSS is VmRSS summed over "
          "the gateway's processes before, with half the connections open and with all of them "
          "(kernel socket buffers not included). KiB per connection = (after − before) ÷ connections; "
          "second half = (after − half) ÷ the connections opened after the half, the cost of one more "
          "connection without one-time growth. Median over rounds.")
        w("")
        w("| gateway | connections held | still open at the end | RSS before MiB | at half MiB | after MiB | KiB per connection | second half KiB per connection | ratio fcgimux ÷ gateway |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        per = {g: idle_per(g) for g in idle_rows}
        for g in gateways:
            rs = idle_rows.get(g)
            if not rs:
                continue
            r = rs[len(rs) // 2]
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                g, r["open"], r["still"], _fmt(_num(r["rss_before_kb"]) / 1024), _fmt(_num(r.get("rss_half_kb")) / 1024),
                _fmt(_num(r["rss_after_kb"]) / 1024), _fmt(per[g], 2), _fmt(idle_marginal(g), 2),
                "—" if g == "fcgimux" else _ratio(per.get("fcgimux", float("nan")), per[g])))
        w("")

    notes = meta.get("notes", "").strip()
    if notes:
        w("## Problems seen during this run")
        w("")
        for line in notes.split("\n"):
            w("- " + line)
        w("")

    w("## Versions and machine")
    w("")
    for k in order:
        if k.startswith("version_") or k in ("kernel", "nproc", "cpu", "memory", "fcgimux_build"):
            w("- %s: `%s`" % (k.replace("version_", ""), meta[k]))
    w("")
    w("## Settings")
    w("")
    for line in meta.get("settings", "").split("\n"):
        if line.strip():
            w("- " + line)
    w("")
    # Sections other scripts appended after ours (bench/mux.sh, bench/profile.sh
    # --append): kept, they have their own date and command.
    kept = _appended_sections(out_path)
    if kept:
        w("")
        w(kept)
    with open(out_path, "w") as f:
        f.write("\n".join(out))


def _appended_sections(path):
    """What follows the Settings section of an existing RESULTS.md: sections
    appended by other scripts (run.sh's report ends with Settings)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    at = text.find("\n## Settings\n")
    if at < 0:
        return ""
    nxt = text.find("\n## ", at + 1)
    return text[nxt + 1:].rstrip("\n") + "\n" if nxt >= 0 else ""


def append_section(path, section_path):
    """Puts a section into a Markdown file: in place of the section with the
    same "## " heading (up to the next "## " heading), else at the end."""
    with open(section_path) as f:
        section = f.read().strip("\n") + "\n"
    heading = next((line for line in section.splitlines() if line.startswith("## ")), None)
    if heading is None:
        sys.exit("tool.py append: %s has no '## ' heading" % section_path)
    try:
        with open(path) as f:
            lines = f.read().splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    out, replaced, skipping = [], False, False
    for line in lines:
        if line.startswith("## "):
            skipping = line.rstrip("\n") == heading
            if skipping and not replaced:
                out.append(section + "\n")
                replaced = True
        if not skipping:
            out.append(line)
    text = "".join(out).rstrip("\n") + "\n"
    if not replaced:
        text += "\n" + section
    with open(path, "w") as f:
        f.write(text)


# ------------------------------------------------------------------ profile.sh

def _perf_stat(path):
    """perf stat -x, output: {event: count} (not counted = 0)."""
    counts = {}
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split(",")
            if len(fields) < 3:
                continue
            try:
                value = float(fields[0])
            except ValueError:
                value = 0.0
            counts[fields[2]] = counts.get(fields[2], 0.0) + value
    return counts


def syscalls(ticks, triples):
    gws, stats, cpu = [], {}, {}
    for gw, csv, cpu_txt in triples:
        gws.append(gw)
        stats[gw] = _perf_stat(csv)
        with open(cpu_txt) as f:
            w = f.read().split()
        cpu[gw] = {"requests": int(w[0]), "rps": float(w[1]), "user": int(w[2]) / ticks,
                   "sys": int(w[3]) / ticks, "non2xx": w[4], "sockerr": w[5], "p99": w[6]}
    first = gws[0]

    def per(gw, x):
        n = cpu[gw]["requests"]
        return x / n if n else float("nan")

    def ratio_cells(values):
        if len(gws) < 2:
            return ""
        # a ratio to (or of) a call made less than once per 200 requests says nothing
        return " | " + " | ".join(
            "—" if min(values[first], values[g]) < 0.005 else _ratio(values[first], values[g]) for g in gws[1:])

    rhead = "".join(" | %s ÷ %s" % (first, g) for g in gws[1:])
    ralign = "---:|" * (len(gws) - 1)
    print("| | " + " | ".join(gws) + rhead + " |")
    print("|---|" + "---:|" * len(gws) + ralign)
    rows = [
        ("requests (2xx and others)", {g: cpu[g]["requests"] for g in gws}, "{:,.0f}", False),
        ("requests/s", {g: cpu[g]["rps"] for g in gws}, "{:,.0f}", True),
        ("p99 ms", {g: float(cpu[g]["p99"]) for g in gws}, "{:.2f}", True),
        ("CPU µs / request, user", {g: per(g, cpu[g]["user"]) * 1e6 for g in gws}, "{:.1f}", True),
        ("CPU µs / request, system", {g: per(g, cpu[g]["sys"]) * 1e6 for g in gws}, "{:.1f}", True),
        ("CPU µs / request, total", {g: per(g, cpu[g]["user"] + cpu[g]["sys"]) * 1e6 for g in gws}, "{:.1f}", True),
        ("**system calls / request** (raw_syscalls:sys_enter)",
         {g: per(g, stats[g].get("raw_syscalls:sys_enter", float("nan"))) for g in gws}, "**{:.2f}**", True),
        ("context switches / request (the gateway's threads scheduled out)",
         {g: per(g, stats[g].get("context-switches", float("nan"))) for g in gws}, "{:.3f}", True),
        ("CPU migrations / request", {g: per(g, stats[g].get("cpu-migrations", float("nan"))) for g in gws}, "{:.3f}", True),
    ]
    for label, values, fmt, with_ratio in rows:
        cells = [fmt.format(values[g]) if values[g] == values[g] else "n/a" for g in gws]
        extra = ratio_cells(values) if with_ratio else " | " * (len(gws) - 1)
        print("| %s | %s%s |" % (label, " | ".join(cells), extra.rstrip()))
    bad = [g for g in gws if cpu[g]["non2xx"] != "0" or cpu[g]["sockerr"] != "0"]
    if bad:
        print()
        print("Errors: " + ", ".join("%s non-2xx %s, socket errors %s" % (g, cpu[g]["non2xx"], cpu[g]["sockerr"]) for g in bad))
    print()
    print("By system call (per request; calls seen less than once per 100 requests by every gateway left out):")
    print()
    names = set()
    for g in gws:
        names.update(k for k in stats[g] if k.startswith("syscalls:sys_enter_"))
    table = []
    for name in names:
        values = {g: per(g, stats[g].get(name, 0.0)) for g in gws}
        if max(values.values()) >= 0.01:
            table.append((name[len("syscalls:sys_enter_"):], values))
    table.sort(key=lambda t: -max(t[1].values()))
    print("| system call | " + " | ".join(gws) + rhead + " |")
    print("|---|" + "---:|" * len(gws) + ralign)
    for name, values in table:
        print("| %s | %s%s |" % (name, " | ".join("%.2f" % values[g] for g in gws), ratio_cells(values)))
    sums = {g: per(g, sum(v for k, v in stats[g].items() if k.startswith("syscalls:sys_enter_"))) for g in gws}
    other = {g: max(0.0, per(g, stats[g].get("raw_syscalls:sys_enter", 0.0)) - sums[g]) for g in gws}
    print("| (other, not counted by name) | %s%s |" % (" | ".join("%.2f" % other[g] for g in gws), ratio_cells(other)))


def _syscall_of(frame):
    """The system call a libc/libuv wrapper frame makes, from its symbol."""
    name = frame
    for prefix in ("__GI___libc_", "__libc_", "__GI___", "__GI_", "__"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if name.endswith("_syscall"):
        name = name[: -len("_syscall")]
    # glibc wrappers whose system call has another name
    return {"recv": "recvfrom", "send": "sendto", "epoll_wait": "epoll_wait"}.get(name, name)


def _short(sym):
    """A C++ symbol without template arguments and ABI tags."""
    out, depth = [], 0
    for ch in sym:
        if ch == "<":
            if depth == 0:
                out.append("<…>")
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out).replace("[abi:cxx11]", "")


def samples(binary, top):
    """Reads `perf script -F comm,tid,event,ip,sym,dso` (with call chains) on
    stdin. Each sample is put under (what the thread was doing, who asked):
    - a system call (the sample is in the kernel below do_syscall_64): named by
      the kernel's entry point (__x64_sys_NAME, ksys_NAME), else by the libc
      wrapper above the kernel frames;
    - user code: the DSO of the leaf frame;
    and the innermost frame of BINARY in the chain (libuv internals show as
    addresses, the event loop's own reads and epoll_wait have no BINARY frame).
    """
    base = os.path.basename(binary)
    counts = {}
    by_kind = {}
    inside = {}
    total = 0

    def flush(chain):
        nonlocal total
        if not chain:
            return
        total += 1
        kernel = [f for f in chain if f[1] == "[kernel.kallsyms]"]
        user = [f for f in chain if f[1] not in ("[kernel.kallsyms]", "[unknown]", "inlined")]
        if kernel and any(f[0] == "do_syscall_64" for f in kernel):
            # The kernel's entry point names the call as perf stat does
            # (__x64_sys_recvfrom, ksys_write); a sample taken on the way back
            # (scheduled out in exit_to_user_mode_loop) has none: then the
            # libc wrapper above the kernel frames names it.
            i = [f[0] for f in chain].index("do_syscall_64")
            name = None
            for f in reversed(chain[max(0, i - 4):i]):
                for prefix in ("__x64_sys_", "__do_sys_", "__se_sys_", "ksys_", "__sys_"):
                    if f[0].startswith(prefix):
                        name = f[0][len(prefix):]
                        break
                if name:
                    break
            if name is None:
                wrapper = next((f[0] for f in chain if f[1] != "[kernel.kallsyms]" and f[0] != "[unknown]"), "[unknown]")
                name = _syscall_of(wrapper)
            kind = "syscall %s" % name
        elif kernel:
            kind = "kernel, not a system call (%s)" % kernel[-1][0]
        elif user:
            kind = "user: %s" % os.path.basename(user[0][1])
        else:
            kind = "unknown"
        caller = next((_short(f[0]) for f in chain if os.path.basename(f[1]) == base), "(no %s frame)" % base)
        counts[(kind, caller)] = counts.get((kind, caller), 0) + 1
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if kind.startswith("syscall "):
            names = {f[0] for f in kernel}
            if names & {"schedule", "__schedule", "finish_task_switch.isra.0", "finish_task_switch"}:
                part = "scheduled out (another thread ran)"
            elif names & {"sock_def_readable", "try_to_wake_up", "__wake_up_sync_key", "ep_poll_callback", "__wake_up_common"}:
                part = "waking the reader of the other end"
            elif names & {"net_rx_action", "__netif_receive_skb_one_core", "process_backlog"}:
                part = "loopback receive path of the other end (softirq)"
            else:
                part = "the rest of the system call"
            d = inside.setdefault((kind, caller), {})
            d[part] = d.get(part, 0) + 1

    chain = []
    for line in sys.stdin:
        if not line.strip():
            flush(chain)
            chain = []
            continue
        if not line.startswith(("\t", " ")):
            flush(chain)
            chain = []
            continue
        # "\t   addr sym+off (dso)" or "\t addr sym (dso)"
        text = line.strip()
        parts = text.split(None, 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        dso = ""
        if rest.endswith(")") and " (" in rest:
            rest, _, dso = rest.rpartition(" (")
            dso = dso[:-1]
        sym = rest.split("+0x")[0]
        if chain and chain[-1] == (sym, dso):
            continue   # perf repeats a frame it unwound twice
        chain.append((sym, dso))
    flush(chain)
    if not total:
        print("(no samples)")
        return
    print("| where the sample was | innermost %s function | %% of samples |" % base)
    print("|---|---|---:|")
    for (kind, caller), n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
        print("| %s | %s | %.1f |" % (kind, caller.replace("|", "\\|"), 100.0 * n / total))
    print()
    print("Inside the three largest system-call rows (loopback: the writer's system call also runs the "
          "receiver's TCP input and wakes it):")
    print()
    rows = [kc for kc, _ in sorted(counts.items(), key=lambda kv: -kv[1]) if kc in inside][:3]
    for kc in rows:
        n = counts[kc]
        print("- %s from %s (%.1f%%): %s" % (kc[0], kc[1], 100.0 * n / total, ", ".join(
            "%s %.0f%%" % (part, 100.0 * c / n) for part, c in sorted(inside[kc].items(), key=lambda kv: -kv[1]))))
    print()
    print("Totals by what the thread was doing: " + ", ".join(
        "%s %.1f%%" % (k, 100.0 * n / total) for k, n in sorted(by_kind.items(), key=lambda kv: -kv[1])[:12]) +
        " (%d samples)." % total)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "wrk":
        print(" ".join(str(x) for x in parse_wrk(sys.argv[2])))
    elif len(sys.argv) == 4 and sys.argv[1] == "stalled":
        print("%d %d" % stalled(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) == 6 and sys.argv[1] == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif len(sys.argv) >= 6 and sys.argv[1] == "syscalls" and (len(sys.argv) - 3) % 3 == 0:
        args = sys.argv[3:]
        syscalls(int(sys.argv[2]), [tuple(args[i:i + 3]) for i in range(0, len(args), 3)])
    elif len(sys.argv) == 4 and sys.argv[1] == "samples":
        samples(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "append":
        append_section(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
