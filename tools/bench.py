#!/usr/bin/env python3
"""tools/bench.py - `make bench`: guest and host figures for the allocators and the collector.

Guest: boots the ISO with `ktest.action=bench` under QEMU `-icount shift=0,sleep=off`, where the
TSC advances one tick per guest instruction, so the kernel's figures (bench/kernel/*.c) are
instruction counts, identical from run to run. Host: runs bench/host binaries (mm/ code on the
test shim, timed with clock_gettime) and reports their median ns per operation. Each binary runs
--runs times, the binaries taking turns, and each figure is the median over the runs: the
repetitions inside one process all share its memory layout, and the layout (ASLR) alone moved
some figures by 1.5x between processes (mimalloc's, stable with ASLR off).

Tables: the guest cases with the host figure for the same case; the collector in the guest;
the heap's host workloads (bench/host/slab_bench.c, one binary per allocator) with Tidemark's
time as a ratio to each peer allocator's, each checked against its target, and workload b's
footprint: peak resident memory growth per peak live byte for every allocator
(`slab_bench_<name> f`), then Tidemark's exact peak heap bytes per peak live byte, which has a
target; last, the collector's core on the host against Boehm's collector and Go's
(bench/host/gc_bench.c, bench/host/binarytrees.go), with issue 14's targets. --no-guest runs
the host binaries alone, without the ISO.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ktest  # noqa: E402  (shares the QEMU command line)

LINE = re.compile(r"bench: (\S+) (.*)")
TARGETS = {  # case -> (bound on the guest median, where the bound comes from)
    "order0_cached.pair": (100, "issue 3: <= 100 instructions (Linux per-CPU lists: ~163 cycles)"),
    "kmalloc64.pair": (50, "issue 4: <= 50 instructions"),
    "thread.switch": (200, "issue 13: <= 200 instructions"),
    "thread.idle_bytes": (8192, "issue 13: <= 8 KiB an idle thread (bytes, not instructions)"),
    "kstack_grow_cache.page": (1500, "issue 13: <= 1,500 instructions a page, zeroing included"),
    "kstack_grow_reserve.page": (1500, "issue 13: <= 1,500 a page; its zeroing (~520) was paid by the refill"),
}
# Guest cases whose host figure comes from another host case (workload a is kmalloc64.pair).
HOST_CASE = {"kmalloc64.pair": "slab.a/tidemark"}

# The heap's host workloads (bench/host/slab_bench.c) and peer allocators, in table order.
SLAB_WORKLOADS = {
    "slab.a": "a hot loop, 64 B",
    "slab.b": "b random 8..4096 B, ~1000 live",
    "slab.c": "c batches of 10^4 x 128 B",
    "slab.d": "d alloc/free on two threads",
}
PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
PEAK_RATIO = 1.25  # issue 4: peak heap bytes / peak live bytes in workload b

# The worst single cached operation is a refill or a drain: PMM_CACHE_BATCH (31) order-0 buddy
# operations under one lock hold. A refill splits a large block once and then takes the halves it
# left on the lower lists; a drain merges each page as far as its buddies allow. Neither does more
# than 31 buddy operations' worth of work, so the stated bound is 31 x the measured order-0
# buddy operation (the no-cache case), plus 10% for the batch loop.
BATCH = 31
WORST_CASES = {"order0_cached_burst.alloc": "order0_nocache.alloc",
               "order0_cached_burst.free": "order0_nocache.free"}


def parse(text: str) -> dict[str, dict[str, str]]:
    """case -> its fields; a line naming an allocator (alloc=x) is filed under "case/x"."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if m:
            fields = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
            key = f"{m.group(1)}/{fields['alloc']}" if "alloc" in fields else m.group(1)
            out.setdefault(key, {}).update(fields)
    return out


def median_field(values: list[str]) -> str:
    """The median of one field's values over runs (an odd number of them), as printed."""
    try:
        return sorted(values, key=float)[len(values) // 2]
    except ValueError:
        return values[0]


def host_commands(binary: str) -> list[tuple[list[str], dict[str, str]]]:
    """The processes one run of a host binary is: each one's arguments and added environment."""
    name = Path(binary).name
    if name.startswith("slab_bench_"):
        # A heap binary's footprint (workload f) needs a process of its own.
        return [([binary], {}), ([binary, "f"], {})]
    if name == "binarytrees":
        # A process per workload and GOMAXPROCS, so that each gctrace is one workload's.
        return [([binary, w.removeprefix("gc.")], {"GOMAXPROCS": procs, "GODEBUG": "gctrace=1"})
                for procs in GO_PROCS.values() for w in GC_HOST_WORKLOADS]
    return [([binary], {})]


GCTRACE = re.compile(r"gc \d+ @[\d.]+s (\d+)%: ([\d.]+)\+[\d.]+\+([\d.]+) ms clock, "
                     r".*?(\d+)->(\d+)->(\d+) MB")


def gctrace(stderr: str) -> dict[str, str]:
    """Go's figures from its GODEBUG=gctrace=1 lines: collections, the largest stop-the-world
    pause in ms (the first and third clock fields: sweep and mark termination) and the GC's
    share of CPU since the start (the last line's P%), none counting a forced cycle (the
    runtime.GC after the timed part); the peak heap in MiB, the largest X->Y->Z of any cycle."""
    cycles, stw, pct, peak = 0, 0.0, "0", 0
    for line in stderr.splitlines():
        m = GCTRACE.match(line)
        if not m:
            continue
        peak = max(peak, *(int(x) for x in m.group(4, 5, 6)))
        if line.rstrip().endswith("(forced)"):
            continue
        cycles += 1
        stw = max(stw, float(m.group(2)), float(m.group(3)))
        pct = m.group(1)
    return {"collections": str(cycles), "max_stw_ms": f"{stw:.3f}", "gc_pct": pct,
            "peak_mib": str(peak)}


def run_hosts(binaries: list[str], runs: int) -> dict[str, dict[str, str]]:
    """parse() of every host binary's output, each field the median over `runs` runs. The
    binaries take turns, one run each per round, so that a stretch of noise from the machine's
    neighbours falls on all of them alike rather than on whichever ran then."""
    results: dict[str, list[dict[str, dict[str, str]]]] = {b: [] for b in binaries}
    for _ in range(runs):
        for binary in binaries:
            found: dict[str, dict[str, str]] = {}
            for cmd, env in host_commands(binary):
                run = subprocess.run(cmd, capture_output=True, text=True,
                                     env={**os.environ, **env} if env else None)
                if run.returncode != 0:
                    sys.exit(f"bench: {' '.join(cmd)} failed (exit {run.returncode}):\n"
                             f"{(run.stdout + run.stderr)[-2000:]}")
                cases = parse(run.stdout)
                if "GODEBUG" in env:
                    for fields in cases.values():
                        fields.update(gctrace(run.stderr))
                found.update(cases)
            results[binary].append(found)
    out: dict[str, dict[str, str]] = {}
    for rs in results.values():
        out.update({case: {f: median_field([r[case][f] for r in rs]) for f in fields}
                    for case, fields in rs[0].items()})
    return out


def guest(iso: Path, timeout: float) -> dict[str, dict[str, str]]:
    cmd = ktest.qemu_command(iso, BENCH_MEMORY, "ktest.action=bench", [])
    cmd[cmd.index("tcg") + 1:cmd.index("tcg") + 1] = ["-icount", "shift=0,sleep=off"]
    run = ktest.run_process(cmd, timeout, merge_stderr=True)
    if run.exit_code != ktest.PASS_EXIT:
        sys.exit(f"bench: guest run failed (exit {run.exit_code}):\n{run.output[-2000:]}")
    return parse(run.output)


def slab_target(workload: str, ns: dict[str, float]) -> tuple[str, bool | None]:
    """The target for one workload and whether Tidemark met it (None: no target, or a figure
    it needs is missing)."""
    tm = ns.get("tidemark")
    if workload == "slab.a":
        if tm is None or "mimalloc" not in ns:
            return "<= 1.0 x mimalloc", None
        return "<= 1.0 x mimalloc", tm <= ns["mimalloc"]
    if workload in ("slab.b", "slab.c"):
        peers = {a: v for a, v in ns.items() if a in PEERS}
        if tm is None or not peers:
            return "<= 1.3 x best peer", None
        best = min(peers, key=peers.get)
        return f"<= 1.3 x best peer ({best})", tm <= 1.3 * peers[best]
    return "", None


def slab_table(h: dict[str, dict[str, str]]) -> int:
    """Print the heap's host table; return the number of targets missed."""
    allocs = ["tidemark"] + PEERS
    if not any(f"{w}/{a}" in h for w in SLAB_WORKLOADS for a in allocs):
        return 0
    missed = 0
    print()
    print("heap, host: median ns per alloc+free pair; tm/x = Tidemark's time over allocator x's")
    print(f"{'workload':32}" + "".join(f"{a:>9}" for a in allocs) + "  "
          + "".join(f"{'tm/' + a:>12}" for a in PEERS) + "  target")
    for w, title in SLAB_WORKLOADS.items():
        ns = {a: float(h[f"{w}/{a}"]["ns"]) for a in allocs if "ns" in h.get(f"{w}/{a}", {})}
        cells = "".join(f"{ns[a]:>9.1f}" if a in ns else f"{'?':>9}" for a in allocs)
        ratios = "".join(f"{ns['tidemark'] / ns[a]:>12.2f}" if "tidemark" in ns and a in ns
                         else f"{'?':>12}" for a in PEERS)
        want, ok = slab_target(w, ns)
        note = "" if not want else f"{'met' if ok else 'MISSED' if ok is False else 'not measured'}: {want}"
        missed += ok is False
        print(f"{title:32}{cells}  {ratios}  {note}")
    rss = {a: float(h[f"slab.f/{a}"]["rss_ratio"]) for a in allocs
           if "rss_ratio" in h.get(f"slab.f/{a}", {})}
    if rss:
        print(f"{'b, peak RSS growth / peak live':32}"
              + "".join(f"{rss[a]:>9.3f}" if a in rss else f"{'?':>9}" for a in allocs)
              + "  (each allocator alike, in a process of its own; no target)")
    peak = h.get("slab.b/tidemark", {})
    if "peak_ratio" in peak:
        ratio = float(peak["peak_ratio"])
        ok = ratio <= PEAK_RATIO
        missed += not ok
        print(f"b, Tidemark: peak heap / peak live bytes = {ratio:.3f} ({peak['peak_heap']} / "
              f"{peak['peak_live']})  {'met' if ok else 'MISSED'}: <= {PEAK_RATIO}")
    else:
        print(f"b, Tidemark: peak heap / peak live bytes not measured (target <= {PEAK_RATIO})")
    return missed


# Guest RAM: GCBench's peak heap (tens of MiB) must not meet the page allocator's end, or its
# allocations wait for memory and every such quantum is an overrun.
BENCH_MEMORY = "1G"

# The collector's workloads (bench/kernel/gc_bench.c) and issue 14's targets.
GC_WORKLOADS = {"gc.gcbench": "GCBench 18/16, 500k words, 4..16",
                "gc.binarytrees": "binary-trees 16",
                "gc.binarytrees17": "binary-trees 17",
                "gc.binarytrees18": "binary-trees 18"}


def gc_table(g: dict[str, dict[str, str]]) -> int:
    """Print the collector's guest table; return the number of targets missed."""
    rows = {w: g[w] for w in GC_WORKLOADS if w in g}
    if not rows:
        return 0
    missed = 0
    print()
    print("collector, guest (-icount: ns are instructions): pauses from the pause log; MMU from its windows")
    print(f"{'workload':36}{'ms':>7}{'GC%':>5}{'p50us':>7}{'p99us':>7}{'maxus':>7}"
          f"{'MMU1':>6}{'MMU10':>6}{'MMU50':>6}{'a':>7}{'m':>7}{'L KiB':>8}{'peak/L':>8}{'bound/L':>8}{'over':>5}")
    for w, v in rows.items():
        live = max(int(v["live_kb"]), 1)
        print(f"{GC_WORKLOADS[w]:36}{v['total_ms']:>7}{v['gc_pct']:>5}{v['p50_us']:>7}{v['p99_us']:>7}"
              f"{v['max_us']:>7}{int(v['mmu1']) / 10:>6.1f}{int(v['mmu10']) / 10:>6.1f}"
              f"{int(v['mmu50']) / 10:>6.1f}{int(v['a_milli']) / 1000:>7.3f}{int(v['m_pico']) / 1000:>7.3f}"
              f"{live:>8}{int(v['peak_kb']) / live:>8.2f}{int(v['bound_kb']) / live:>8.2f}{v['overruns']:>5}")
        checks = [
            ("ran correctly", v["ok"] == "1"),
            ("largest pause <= 550 us", int(v["max_us"]) <= 550),
            ("zero overruns", v["overruns"] == "0"),
            ("MMU 50 ms >= 80%", int(v["mmu50"]) >= 800),
            ("MMU 10 ms >= 75%", int(v["mmu10"]) >= 750),
            ("MMU 1 ms >= 40%", int(v["mmu1"]) >= 400),
            ("peak <= 1.1 x bound", int(v["peak_kb"]) <= 1.1 * int(v["bound_kb"])),
        ]
        for what, ok in checks:
            missed += not ok
        print("    " + "; ".join(f"{'met' if ok else 'MISSED'}: {what}" for what, ok in checks))
    print("(a: bytes allocated per ns of mutator time; m: ns of collector time per byte scanned;"
          " bound: max(L(1+gc.percent/100), L(1+am(1-u)/u)), u = 0.2)")
    if "gc.collect" in g and "gc.collect_live" in g:
        live = int(g["gc.collect_live"]["scanned_kb"])
        print(f"one complete collection in idle time, GCBench's live set ({live} KiB scanned): "
              f"{int(g['gc.collect']['median']):,} instructions, "
              f"{int(g['gc.collect']['median']) / (live << 10):.2f} a byte scanned")
    if "gc.retention" in g:
        r = g["gc.retention"]
        print(f"false retention after GCBench: {int(r['retained_bytes']):,} bytes kept beyond the "
              f"{int(r['true_bytes']):,} reachable ({int(r['live_bytes']):,} marked)")
    return missed


# The collector's host workloads (bench/host/gc_bench.c; the first three also
# bench/host/binarytrees.go), the runtimes beside Tidemark's core, and Go's GOMAXPROCS for each.
GC_HOST_WORKLOADS = {"gc.gcbench": "GCBench 18/16, 500k words, 4..16",
                     "gc.bintrees16": "binary-trees 16",
                     "gc.bintrees18": "binary-trees 18"}
GO_PROCS = {"go1": "1", "go2": "2"}
GC_RUNTIMES = ["tidemark", "boehm"] + list(GO_PROCS)


def gc_host_row(v: dict[str, str]) -> dict[str, float | None]:
    """One runtime's figures for a workload, in ms and MiB (None: not reported)."""
    mib = 1 << 20
    total = float(v["total_ns"]) / 1e6
    go = "peak_mib" in v
    return {
        "ms": total,
        "gc_pct": float(v["gc_pct"]) if go else 100 * float(v["gc_ns"]) / 1e6 / total,
        "sys_pct": None if go else 100 * float(v["sys_ns"]) / 1e6 / total,
        "cycles": float(v["collections"]),
        "stw_ms": float(v["max_stw_ms"]) if go else float(v["max_pause_ns"]) / 1e6,
        "peak": float(v["peak_mib"]) if go else float(v["peak_heap"]) / mib,
        "live": float(v["live_bytes"]) / mib,
    }


def gc_host_table(h: dict[str, dict[str, str]]) -> int:
    """Print the collector's host table; return the number of targets missed."""
    if not any(f"{w}/{r}" in h for w in GC_HOST_WORKLOADS for r in GC_RUNTIMES):
        return 0
    missed = 0
    print()
    divisor = h.get("gc.gcbench/boehm", {}).get("free_space_divisor", "?")
    print("collector, host: Tidemark's core in whole-collection mode (bench/host/gc_machine.c); Boehm GC "
          f"(libgc, GC_MARKERS=1, free-space divisor {divisor}); Go (GOMAXPROCS=1, 2)")
    print(f"{'workload':34}{'runtime':>9}{'ms':>9}{'tm/x':>6}{'gc%':>5}{'sys%':>5}{'cycles':>7}"
          f"{'max STW ms':>11}{'peak MiB':>9}{'live MiB':>9}{'peak/L':>7}")
    for w, title in GC_HOST_WORKLOADS.items():
        rows = {r: gc_host_row(h[f"{w}/{r}"]) for r in GC_RUNTIMES if f"{w}/{r}" in h}
        tm = rows.get("tidemark")
        for r, v in rows.items():
            ratio = f"{tm['ms'] / v['ms']:>6.2f}" if tm and r != "tidemark" else f"{'':>6}"
            sys_pct = f"{v['sys_pct']:>5.0f}" if v["sys_pct"] is not None else f"{'-':>5}"
            print(f"{title:34}{r:>9}{v['ms']:>9.1f}{ratio}{v['gc_pct']:>5.0f}{sys_pct}"
                  f"{v['cycles']:>7.0f}{v['stw_ms']:>11.2f}{v['peak']:>9.1f}{v['live']:>9.2f}"
                  f"{v['peak'] / v['live']:>7.2f}")
            title = ""
    tm, bo = h.get("gc.gcbench/tidemark", {}), h.get("gc.gcbench/boehm", {})
    if "total_ns" in tm and "total_ns" in bo:
        print(f"GCBench total, Tidemark / Boehm: {float(tm['total_ns']) / float(bo['total_ns']):.2f} "
              "(reported; the target is one collection's)")
    checks = [("gc.collect", "one collection, GCBench's live set held (ms)", 1e6,
               "whole-collection core no slower than Boehm"),
              ("gc.alloc32", "32 B allocation, collections included (ns)", 1,
               "gc_alloc no slower than GC_malloc")]
    for case, what, unit, target in checks:
        t, b = h.get(f"{case}/tidemark", {}), h.get(f"{case}/boehm", {})
        if "ns" not in t or "ns" not in b:
            print(f"{what}: not measured (target: {target})")
            continue
        ratio = float(t["ns"]) / float(b["ns"])
        ok = ratio <= 1.0
        missed += not ok
        print(f"{what}: Tidemark {float(t['ns']) / unit:.2f}, Boehm {float(b['ns']) / unit:.2f}, "
              f"ratio {ratio:.2f}  {'met' if ok else 'MISSED'}: <= 1.0, {target}")
    t, b = h.get("gc.alloc32/tidemark", {}), h.get("gc.alloc32/boehm", {})
    if "alloc_ns" in t and "alloc_ns" in b:
        print(f"32 B allocation outside collections (ns): Tidemark {float(t['alloc_ns']):.2f}, "
              f"Boehm {float(b['alloc_ns']):.2f}, ratio {float(t['alloc_ns']) / float(b['alloc_ns']):.2f}"
              " (Boehm's lazy sweep stays in)")
    print("(tm/x: Tidemark's time over x's. gc%: time in collections; Go: the trace's GC share of CPU.")
    print(" sys%: kernel CPU time (page faults on first touch).")
    print(" max STW: the longest collection; Go: the longest stop-the-world phase, concurrent marking apart.")
    print(" peak: Tidemark's mapped span pages, Boehm's GC_get_heap_size(), Go's largest heap in its trace")
    print(" (whole MiB). L: what a forced collection after the workload finds live; Boehm's 32 B nodes take 48.)")
    return missed


def guest_table(g: dict[str, dict[str, str]], h: dict[str, dict[str, str]]) -> int:
    """Print the guest cases with the host figure for each; return the number of targets missed."""
    cal = g.get("calibration", {})
    print(f"guest: -icount shift=0,sleep=off; a 2000-instruction loop measured "
          f"{cal.get('loop_2000_instructions', '?')} ticks (timer cost {cal.get('timer_cost', '?')} removed)")
    print(f"{'case':30} {'guest median':>12} {'guest max':>10} {'host ns':>9}  target")
    missed = 0
    for case, v in g.items():
        if case == "calibration" or "median" not in v or case in GC_WORKLOADS:
            continue
        host = h.get(HOST_CASE.get(case, case), {}).get("ns", "")
        note = ""
        if case in TARGETS:
            bound, why = TARGETS[case]
            ok = int(v["median"]) <= bound
            missed += not ok
            note = f"{'met' if ok else 'MISSED'}: {why}"
        elif case in WORST_CASES and WORST_CASES[case] in g:
            bound = int(int(g[WORST_CASES[case]]["median"]) * BATCH * 1.1)
            ok = int(v["max"]) <= bound
            missed += not ok
            note = f"{'met' if ok else 'MISSED'}: max <= {bound} (31 x {WORST_CASES[case]} + 10%)"
        print(f"{case:30} {v['median']:>12} {v['max']:>10} {host:>9}  {note}")
    print("(guest figures: instructions per operation; host: median ns per alloc+free pair)")
    return missed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iso", help="the kernel's ISO (needed unless --no-guest)")
    p.add_argument("--no-guest", action="store_true", help="run the host binaries only")
    p.add_argument("--host", action="append", default=[], help="host benchmark binary")
    p.add_argument("--runs", type=int, default=5, help="runs of each host binary (odd)")
    p.add_argument("--timeout", type=float, default=900)
    args = p.parse_args()
    if args.runs < 1 or args.runs % 2 == 0:
        p.error("--runs must be odd, so that a median is one of the runs")
    if not args.no_guest and not args.iso:
        p.error("--iso is needed unless --no-guest")

    g = {} if args.no_guest else guest(Path(args.iso), args.timeout)
    h = run_hosts(args.host, args.runs)

    missed = 0
    if not args.no_guest:
        missed += guest_table(g, h)
    missed += gc_table(g)
    missed += slab_table(h)
    missed += gc_host_table(h)
    if missed:
        print(f"bench: {missed} target(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
