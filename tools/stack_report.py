#!/usr/bin/env python3
"""Tidemark's static stack and heap report: C's counterpart of Go's -gcflags=-m.

`make stack-report` runs this over the kernel's C objects. It needs GCC 10 or later: the
normal build writes, beside each object x.c.o, gcc's x.c.su (-fstack-usage: one line per
function, its frame in bytes and whether it is static, dynamic or dynamic,bounded) and
x.c.ci (-fcallgraph-info=su: the call graph in VCG text, each defined function's frame in
its node's label). Clang has no -fcallgraph-info.

Inputs: the object files (arguments); their .ci and .su; objdump on the objects that call
an allocator; the C sources those calls are in, for the argument's text.
Output, on stdout, the same for the same inputs (every list has a total order):
  1. the worst-case stack depth from each entry function, and the deepest paths;
  2. what makes a depth a lower bound: recursion cycles, indirect calls, unbounded
     dynamic frames, callees with no stack data; and gcc's bounded dynamic frames;
  3. the largest frames;
  4. every call to an allocator, with its size where that is a constant (the kernel's
     "escapes to heap" list).
Exit status 0; 1 when an input is missing or unreadable, or an --entry pattern names nothing.

How the figures are made:
  - A frame is gcc's figure. On x86-64 it includes the return address the call pushed, so
    a path's depth is the sum of its frames. "dynamic,bounded" figures (arguments pushed
    for a call, mostly) are already the bound; "dynamic" (alloca, VLA) has none.
  - Calls are the .ci's edges, after inlining: an inlined callee's calls are its caller's.
  - A recursion cycle (a strongly connected component) counts every function in it once:
    one trip around any cycle, which is a floor, not a bound.
  - An indirect call, and a call to a function with no .ci node (assembly, or an object
    not given), count 8 bytes: the return address, the least any callee takes.
  - A depth with any of these on some path below it is printed with a "+".

Allocation sizes come from the machine code, not the graph: for each call (or tail jump)
to an allocator, objdump's listing is read backwards from the call for the instruction
that sets the size argument's register. A `mov $imm` or a `xor` of the register with
itself gives a constant; any other write, a call, a string instruction or a jump target
in between gives "not constant". So it sees whatever the compiler folded (sizeof, inlined
wrappers, constant propagation), and it cannot see a size the compiler left in memory or
computed in another basic block (reported as not constant), nor the object size behind
kmem_cache_alloc (the cache's, set at kmem_cache_create). The line table has no columns,
so calls to one allocator on one source line share their sizes.

Layout, so the logic is testable on text:
  parse_ci(), parse_su()    .ci text -> Unit; .su text -> its lines (check_su compares)
  link()                    units -> Graph (static names resolved per file)
  analyse()                 Graph -> Depth per SCC (Tarjan, then one pass bottom-up)
  parse_objdump()           objdump text -> allocator call sites with sizes (pure)
  report()                  everything -> the text printed
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Thread and test entry points, as full-match regexes on a function's name (a static
# function's file prefix and nothing else stripped). kmain runs on the boot stack, which
# becomes the idle thread (sched_idle); every other thread starts in thread_start, which
# calls its function through a pointer, so each function given to kthread_create is the
# top of a stack too: the kernel's own are listed here (init_main), and the ktest/kbench
# harnesses take ktest_fn_*/kbench_fn_* by address. A new kthread_create target joins
# this list (or, for one run, `make stack-report STACK_ENTRIES='name regex'`).
DEFAULT_ENTRIES = ["kmain", "sched_idle", "thread_start", "init_main", r"ktest_fn_.*",
                   r"kbench_fn_.*"]

# Every allocator whose callers make the heap list: name -> (size argument, unit).
# The argument is 0-based in the SysV order; "order" sizes are 4 KiB << order;
# None: the size is not an argument (a cache's object size).
ALLOCATORS = {
    "kmalloc": (0, "bytes"),
    "kzalloc": (0, "bytes"),
    "krealloc": (1, "bytes"),
    "kmem_cache_alloc": (None, "object"),
    "page_alloc": (0, "order"),
    "page_alloc_as": (0, "order"),
    "pmm_alloc": (1, "order"),
    "pmm_alloc_as": (1, "order"),
    "gc_alloc": (0, "bytes"),
}
PAGE_SIZE = 4096
ARG_REGS = [("rdi", "edi", "di", "dil"), ("rsi", "esi", "si", "sil")]

INDIRECT = "__indirect_call"    # gcc's placeholder node for a call through a pointer
CALL_FRAME = 8                  # what an unknown callee counts: its return address
TOP_FRAMES = 20


# ---- gcc's outputs -------------------------------------------------------------------------

@dataclass
class Func:
    title: str          # gcc's node title: "name", or "file:name" for a static function
    name: str           # as gcc's label gives it: clone suffixes like ".constprop" kept
    loc: str            # file:line:col of the definition
    frame: int
    kind: str           # "static", "dynamic" or "dynamic,bounded"
    unit: str = ""      # the source file compiled, as the .ci's graph title names it

    @property
    def bare(self) -> str:
        """The title without a static function's file prefix: what entry patterns match."""
        return self.title.rsplit(":", 1)[-1]

    @property
    def unbounded(self) -> bool:
        return self.kind == "dynamic"


@dataclass
class Call:
    caller: str         # title
    callee: str         # title as the caller's unit names it
    loc: str            # file:line:col of the call


@dataclass
class Unit:
    name: str = ""      # the .ci's graph title: the source file compiled
    funcs: list[Func] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)


_VCG_STR = r'"((?:[^"\\]|\\.)*)"'
GRAPH_RE = re.compile(r'graph: \{ title: ' + _VCG_STR)
NODE_RE = re.compile(r'node: \{ title: ' + _VCG_STR + r' label: ' + _VCG_STR)
EDGE_RE = re.compile(r'edge: \{ sourcename: ' + _VCG_STR + r' targetname: ' + _VCG_STR
                     + r' label: ' + _VCG_STR)
# A defined function's label: name, definition, frame (-fcallgraph-info=su).
FRAME_LABEL_RE = re.compile(r"(?P<name>[^\\]+)\\n(?P<loc>[^\\]+)\\n(?P<frame>\d+) bytes \((?P<kind>[^)]*)\)")
SU_RE = re.compile(r"(?P<loc>.+:\d+:\d+):(?P<name>[^:\t]+)\t(?P<frame>\d+)\t(?P<kind>\S+)")


def parse_ci(text: str) -> Unit:
    """One .ci file. Nodes without a frame in their label are declarations, not functions."""
    unit = Unit()
    for line in text.splitlines():
        if m := GRAPH_RE.match(line):
            unit.name = m.group(1)
        elif m := NODE_RE.match(line):
            if f := FRAME_LABEL_RE.fullmatch(m.group(2)):
                unit.funcs.append(Func(m.group(1), f["name"], f["loc"], int(f["frame"]), f["kind"]))
        elif m := EDGE_RE.match(line):
            unit.calls.append(Call(m.group(1), m.group(2), m.group(3)))
    for f in unit.funcs:
        f.unit = unit.name
    return unit


def parse_su(text: str) -> Counter:
    """One .su file, as a multiset of (location, name, frame, kind)."""
    out = Counter()
    for line in text.splitlines():
        if m := SU_RE.fullmatch(line.rstrip("\n")):
            out[(m["loc"], m["name"], int(m["frame"]), m["kind"])] += 1
        elif line.strip():
            raise ValueError(f"unexpected line {line!r}")
    return out


def check_su(unit: Unit, su: Counter) -> list[str]:
    """The .su and the .ci come from one compile; any difference means stale or foreign files."""
    ci = Counter((f.loc, f.name, f.frame, f.kind) for f in unit.funcs)
    return [f"{loc}:{name} {frame} {kind}: only in the {where}"
            for where, a, b in (("su", su, ci), ("ci", ci, su))
            for (loc, name, frame, kind) in sorted(a - b)]


# ---- the whole graph -----------------------------------------------------------------------

@dataclass
class Graph:
    funcs: dict[str, Func]                  # title -> function
    callees: dict[str, list[str]]           # title -> defined callees' titles, sorted, unique
    indirect: dict[str, list[str]]          # title -> locations of its indirect calls
    unknown: dict[str, list[str]]           # title -> callees with no .ci node (sorted)
    calls: list[Call]                       # every edge, as read


def link(units: list[Unit]) -> Graph:
    """Join the units: a global title names one function everywhere; a static one is per file."""
    funcs: dict[str, Func] = {}
    for unit in units:
        for f in unit.funcs:
            if f.title in funcs:
                raise ValueError(f"{f.title} defined twice: {funcs[f.title].loc} and {f.loc}")
            funcs[f.title] = f
    callees = {t: set() for t in funcs}
    indirect = {t: [] for t in funcs}
    unknown = {t: set() for t in funcs}
    calls = [c for unit in units for c in unit.calls]
    for c in calls:
        if c.callee == INDIRECT:
            indirect[c.caller].append(c.loc)
        elif c.callee in funcs:
            callees[c.caller].add(c.callee)
        else:
            unknown[c.caller].add(c.callee)
    return Graph(funcs, {t: sorted(s) for t, s in callees.items()},
                 {t: sorted(set(v), key=_loc_key) for t, v in indirect.items()},
                 {t: sorted(s) for t, s in unknown.items()}, calls)


def _loc_key(loc: str):
    file, _, rest = loc.partition(":")
    parts = rest.split(":")
    return (file, *(int(p) if p.isdigit() else 0 for p in parts))


def sccs(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit to meet).
    Each component comes after every component it can reach; members sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph.funcs):
        if root in index:
            continue
        work = [(root, iter(graph.callees[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            child = next(it, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.callees[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    comp.append(n)
                    if n == node:
                        break
                out.append(sorted(comp))
    return out


@dataclass
class Depth:
    """Worst case below (and including) one component."""
    members: list[str]
    cyclic: bool
    depth: int = 0                          # bytes, this component's frames included
    next: int | None = None                 # the component the deepest path goes on to
    leaf_call: str = ""                     # or the unknown/indirect callee it ends in
    recursion: set[int] = field(default_factory=set)    # cyclic components reachable
    indirect: set[str] = field(default_factory=set)     # functions with indirect calls reachable
    dynamic: set[str] = field(default_factory=set)      # unbounded dynamic frames reachable
    unknown: set[str] = field(default_factory=set)      # callees without stack data reachable

    @property
    def bounded(self) -> bool:
        return not (self.recursion or self.indirect or self.dynamic or self.unknown)


def analyse(graph: Graph) -> tuple[list[Depth], dict[str, int]]:
    """Depth of every component, bottom-up; and each function's component."""
    comps = sccs(graph)
    comp_of = {t: i for i, members in enumerate(comps) for t in members}
    result: list[Depth] = []
    for i, members in enumerate(comps):
        cyclic = len(members) > 1 or members[0] in graph.callees[members[0]]
        d = Depth(members, cyclic)
        if cyclic:
            d.recursion.add(i)
        best, best_next, best_leaf = 0, None, ""
        for t in members:
            f = graph.funcs[t]
            if f.unbounded:
                d.dynamic.add(t)
            if graph.indirect[t]:
                d.indirect.add(t)
                if CALL_FRAME > best:
                    best, best_next, best_leaf = CALL_FRAME, None, "(indirect call)"
            for u in graph.unknown[t]:
                d.unknown.add(u)
                if CALL_FRAME > best:
                    best, best_next, best_leaf = CALL_FRAME, None, u
            for c in graph.callees[t]:
                j = comp_of[c]
                if j == i:
                    continue
                sub = result[j]     # Tarjan's order: already done
                d.recursion |= sub.recursion
                d.indirect |= sub.indirect
                d.dynamic |= sub.dynamic
                d.unknown |= sub.unknown
                # Ties keep the first found; callees are visited in name order.
                if sub.depth > best:
                    best, best_next, best_leaf = sub.depth, j, ""
        d.depth = sum(graph.funcs[t].frame for t in members) + best
        d.next, d.leaf_call = best_next, best_leaf
        result.append(d)
    return result, comp_of


def path(graph: Graph, depths: list[Depth], start: int) -> list[tuple[str, int]]:
    """The deepest path from a component: (what, bytes) per step, a cycle as one step."""
    out, i = [], start
    while i is not None:
        d = depths[i]
        frames = sum(graph.funcs[t].frame for t in d.members)
        if d.cyclic:
            out.append(("recursion {" + ", ".join(_show(graph.funcs[t]) for t in d.members) + "}", frames))
        else:
            out.append((_show(graph.funcs[d.members[0]]), frames))
        if d.leaf_call:
            out.append((d.leaf_call, CALL_FRAME))
        i = d.next
    return out


def _show(f: Func) -> str:
    return f"{f.bare} ({f.loc})"


# ---- allocation sizes from the machine code ------------------------------------------------

@dataclass
class Site:
    unit: str           # the object's source file, as its .ci's graph title names it
    func: str           # the symbol the call is in (a .cold part counts as its function)
    allocator: str
    file: str           # source line of the call instruction, from the line table
    line: int
    size: int | None    # the size argument's value, when a constant


FUNC_RE = re.compile(r"[0-9a-f]+ <(?P<sym>[^>]+)>:$")
INSN_RE = re.compile(r"\s*(?P<addr>[0-9a-f]+):\t(?P<mnem>\S+)\s*(?P<ops>.*?)\s*$")
RELOC_RE = re.compile(r"\s*[0-9a-f]+: R_X86_64_\w+\s+(?P<sym>[^+\-\s]+)")
LINE_RE = re.compile(r"(?P<file>/?[^\s:]+\.[chS]):(?P<line>\d+)(?: \(discriminator \d+\))?$")
TARGET_RE = re.compile(r"(?P<addr>[0-9a-f]+) <(?P<sym>[^>+]+)(?P<off>\+0x[0-9a-f]+)?>")
SECTION_RE = re.compile(r"Disassembly of section (?P<sec>\S+):$")
# `objdump -r`: a relocation against a code section is an address in it that something
# (a jump table, a jump from a .cold part) may reach; debug information's are not.
RELOC_SECTION_RE = re.compile(r"RELOCATION RECORDS FOR \[(?P<sec>[^\]]+)\]:$")
SECTION_RELOC_RE = re.compile(r"[0-9a-f]+\s+R_X86_64_\w+\s+(?P<sec>\.text\S*?)\+0x(?P<off>[0-9a-f]+)$")
# These read their last operand without writing it.
READ_ONLY_RE = re.compile(r"(cmp|test|push|bt)[bwlq]?$")
# These may change rdi/rsi without naming it as their last operand.
IMPLICIT_RE = re.compile(r"(call\w*|rep\w*|(movs|stos|cmps|scas|lods)[bwlq]?|xchg\w*|xadd\w*|cmpxchg\w*|syscall)$")


@dataclass
class _Insn:
    addr: int
    mnem: str
    ops: str
    file: str
    line: int
    reloc: str = ""


def parse_objdump(disasm: str, relocs: str, root: Path, unit: str) -> list[Site]:
    """One object's `objdump -d -r -l --no-show-raw-insn` and `objdump -r` -> its allocator
    call sites."""
    functions: list[tuple[str, str, list[_Insn]]] = []     # (section, symbol, code)
    section, file, line = "", "", 0
    for raw in disasm.splitlines():
        if m := SECTION_RE.match(raw):
            section = m["sec"]
        elif m := FUNC_RE.match(raw):
            functions.append((section, m["sym"], []))
        elif m := LINE_RE.match(raw):
            file, line = _source_path(m["file"], root), int(m["line"])
        elif functions and (m := RELOC_RE.match(raw)) and functions[-1][2]:
            functions[-1][2][-1].reloc = m["sym"]
        elif functions and (m := INSN_RE.match(raw)):
            functions[-1][2].append(_Insn(int(m["addr"], 16), m["mnem"], m["ops"], file, line))
    # Where control may enter mid-function: direct jumps, and relocations against code
    # (jump tables; PC-relative ones carry -4, so both readings are taken: one too many is
    # only more cautious).
    targets = {(sec, int(t["addr"], 16)) for sec, _, insns in functions for i in insns
               if i.mnem.startswith("j") and not i.reloc for t in [TARGET_RE.match(i.ops)] if t}
    from_debug = False
    for raw in relocs.splitlines():
        if m := RELOC_SECTION_RE.match(raw):
            from_debug = m["sec"].startswith((".debug", ".eh_frame"))
        elif not from_debug and (m := SECTION_RELOC_RE.match(raw.strip())):
            off = int(m["off"], 16)
            targets |= {(m["sec"], off), (m["sec"], off + 4)}
    sites = []
    for sec, sym, insns in functions:
        here = {addr for s, addr in targets if s == sec}
        for k, insn in enumerate(insns):
            alloc = _call_target(insn)
            if alloc not in ALLOCATORS:
                continue
            arg, _ = ALLOCATORS[alloc]
            size = None if arg is None else _constant_arg(insns, k, ARG_REGS[arg], here)
            sites.append(Site(unit, sym.removesuffix(".cold"), alloc, insn.file, insn.line, size))
    return sites


def _call_target(insn: _Insn) -> str:
    if not (insn.mnem.startswith("call") or insn.mnem == "jmp"):
        return ""
    if insn.reloc:
        return insn.reloc
    m = TARGET_RE.match(insn.ops)
    return m["sym"] if m and not m["off"] else ""


def _constant_arg(insns: list[_Insn], k: int, regs: tuple[str, ...], targets: set[int]) -> int | None:
    """The value insns[k] passes in regs, if an instruction in its own basic block sets a constant."""
    for j in range(k - 1, -1, -1):
        if insns[j + 1].addr in targets:
            return None     # control may arrive here from elsewhere, with another value
        i = insns[j]
        ops = _operands(i.ops)
        names = {f"%{r}" for r in regs}
        if i.mnem.startswith("j"):
            continue        # a branch out of the block: on the way to the call it fell through
        if IMPLICIT_RE.match(i.mnem):
            return None
        if not ops or ops[-1] not in names or READ_ONLY_RE.match(i.mnem):
            continue
        if i.mnem in ("mov", "movl", "movq", "movabs") and ops[0].startswith("$") \
                and ops[-1] in (f"%{regs[0]}", f"%{regs[1]}"):
            return int(ops[0][1:], 16 if ops[0].startswith("$0x") else 10) & (2**64 - 1)
        if i.mnem.startswith(("xor", "sub")) and len(ops) == 2 and ops[0] == ops[1]:
            return 0
        return None
    return None


def _operands(ops: str) -> list[str]:
    """AT&T operands split at top-level commas; a trailing `# comment` dropped."""
    ops = ops.split("#", 1)[0].strip()
    out, depth, cur = [], 0, ""
    for ch in ops:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _source_path(path: str, root: Path) -> str:
    """A source path as the .ci spells it: relative to the tree, no "./"."""
    p = Path(path)
    if p.is_absolute():
        try:
            return str(p.relative_to(root))
        except ValueError:
            return str(p)
    return os.path.normpath(path)


# ---- the argument's text, from the source --------------------------------------------------

def call_text(source: str, line: int, col: int, callee: str) -> str:
    """`callee(args)` as written first from line:col (1-based) to the end of the statement,
    whitespace collapsed; "" if not there (a call from a macro's body, say). gcc puts a
    nested call (`kfree(kmalloc(64, 0))`, a call in a macro's argument) at the start of the
    outer expression, hence the search."""
    lines = source.splitlines()
    if not 0 < line <= len(lines):
        return ""
    text = "\n".join(lines[line - 1:line + 9])[col - 1:]
    m = re.search(r"\b" + re.escape(callee) + r"\s*\(", text.split(";", 1)[0])
    if not m:
        return ""
    text = text[m.start():]
    depth = 0
    for n, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == ")" and depth == 0:
            return " ".join(text[:n + 1].split())
    return ""


# ---- the report ----------------------------------------------------------------------------

@dataclass
class Alloc:
    caller: Func
    allocator: str
    loc: str
    sizes: list[int | None]     # every machine-code call for this source call (inlined copies)
    text: str


def allocations(graph: Graph, sites: list[Site], sources: dict[str, str]) -> list[Alloc]:
    """Each .ci call to an allocator, with the sizes of the machine-code calls on its line."""
    by_key: dict[tuple, list[int | None]] = {}
    for s in sites:
        by_key.setdefault((s.unit, s.func, s.allocator, s.file, s.line), []).append(s.size)
    out, seen = [], set()
    for c in graph.calls:
        if c.callee not in ALLOCATORS or c.caller not in graph.funcs or (c.caller, c.callee, c.loc) in seen:
            continue
        seen.add((c.caller, c.callee, c.loc))
        file, line, col = _split_loc(c.loc)
        caller = graph.funcs[c.caller]
        sizes = by_key.get((caller.unit, caller.bare, c.callee, file, line), [])
        text = call_text(sources.get(file, ""), line, col, c.callee)
        out.append(Alloc(caller, c.callee, f"{file}:{line}", sizes, text))
    out.sort(key=lambda a: (_loc_key(a.loc), a.caller.bare, a.allocator))
    return out


def _split_loc(loc: str) -> tuple[str, int, int]:
    parts = loc.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return os.path.normpath(parts[0]), int(parts[1]), int(parts[2])
    return loc, 0, 0


def show_size(allocator: str, sizes: list[int | None]) -> str:
    _, unit = ALLOCATORS[allocator]
    if unit == "object":
        return "cache's object size"
    if not sizes:
        return "? (no call found in the code)"
    shown = []
    for s in sorted(set(sizes), key=lambda s: (s is None, s or 0)):
        if s is None:
            shown.append("not constant")
        elif unit == "order":
            shown.append(f"order {s} ({_bytes(PAGE_SIZE << s) if s < 52 else '?'})")
        else:
            shown.append(f"{s} B")
    return ", ".join(shown)


def _wrap(items: list[str], indent: str, width: int = 100) -> list[str]:
    """Items joined by ", " into lines of at most `width` (an item is never split)."""
    lines, cur = [], ""
    for item in items:
        if cur and len(indent) + len(cur) + 2 + len(item) > width:
            lines.append(indent + cur + ",")
            cur = ""
        cur = f"{cur}, {item}" if cur else item
    return lines + [indent + cur] if cur else lines


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def report(graph: Graph, entries: list[str], allocs: list[Alloc], objects: int, paths: int) -> str:
    depths, comp_of = analyse(graph)
    out: list[str] = []
    w = out.append
    chosen = sorted((t for t in graph.funcs if any(re.fullmatch(p, graph.funcs[t].bare) for p in entries)),
                    key=lambda t: (-depths[comp_of[t]].depth, graph.funcs[t].bare, t))

    w(f"Tidemark stack report: {objects} objects, {len(graph.funcs)} functions (gcc -fstack-usage, "
      f"-fcallgraph-info=su)")
    w("Frames include the return address; a depth with + is a lower bound (marks: R recursion,")
    w("I indirect call, D unbounded dynamic frame, U callee with no stack data, on some path below).")
    w("")
    w(f"1. Worst-case stack depth from each entry ({len(chosen)} functions matching "
      + " ".join(entries) + ")")
    w("")
    w(f"  {'bytes':>7}  {'marks':5}  entry")
    for t in chosen:
        d = depths[comp_of[t]]
        marks = "".join(m for m, s in (("R", d.recursion), ("I", d.indirect), ("D", d.dynamic),
                                       ("U", d.unknown)) if s)
        w(f"  {d.depth:>6}{'' if d.bounded else '+':1}  {marks:5}  {graph.funcs[t].bare}")
    for t in chosen[:paths]:
        d = depths[comp_of[t]]
        w("")
        w(f"  Deepest path from {graph.funcs[t].bare}: {d.depth}{'' if d.bounded else '+'} bytes")
        w(f"  {'frame':>7} {'total':>7}  function")
        total = 0
        for what, frame in path(graph, depths, comp_of[t]):
            total += frame
            w(f"  {frame:>7} {total:>7}  {what}")

    w("")
    w("2. What the depths cannot bound")
    cyclic = sorted((d for d in depths if d.cyclic), key=lambda d: d.members)
    w("")
    w(f"  Recursion ({len(cyclic)} cycles; each counted as one trip through its functions):")
    for d in cyclic:
        w("    " + ", ".join(_show(graph.funcs[t]) for t in d.members))
    callers = sorted((t for t in graph.funcs if graph.indirect[t]), key=lambda t: (graph.funcs[t].bare, t))
    w("")
    w(f"  Indirect calls ({len(callers)} functions; each counted as {CALL_FRAME} bytes):")
    for t in callers:
        w(f"    {graph.funcs[t].bare:32} at " + ", ".join(graph.indirect[t]))
    dynamic = sorted((f for f in graph.funcs.values() if f.kind.startswith("dynamic")),
                     key=lambda f: (-f.frame, f.bare, f.loc))
    unbounded = [f for f in dynamic if f.unbounded]
    w("")
    w(f"  Unbounded dynamic frames ({len(unbounded)}; alloca or a VLA; counted at gcc's fixed part):")
    for f in unbounded:
        w(f"    {f.frame:>6}  {f.bare} ({f.loc})")
    bounded = [f for f in dynamic if not f.unbounded]
    w("")
    w(f"  Bounded dynamic frames ({len(bounded)}; gcc's figure is the bound, mostly arguments pushed")
    w("  for a call; counted as the figure):")
    out += _wrap([f"{f.bare} {f.frame}" for f in bounded], "    ")
    unknown = sorted({u for v in graph.unknown.values() for u in v})
    w("")
    w(f"  Callees with no stack data ({len(unknown)}; assembly or not in these objects; "
      f"each counted as {CALL_FRAME} bytes):")
    for u in unknown:
        who = sorted(graph.funcs[t].bare for t in graph.funcs if u in graph.unknown[t])
        w(f"    {u:24} from " + ", ".join(who[:4]) + (f" and {len(who) - 4} more" if len(who) > 4 else ""))

    w("")
    w(f"3. The {TOP_FRAMES} largest frames")
    w("")
    for f in sorted(graph.funcs.values(), key=lambda f: (-f.frame, f.bare, f.loc))[:TOP_FRAMES]:
        w(f"  {f.frame:>6}  {f.kind:16} {f.bare} ({f.loc})")

    w("")
    w(f"4. Calls to allocators: escapes to the heap ({len(allocs)} calls; "
      + ", ".join(ALLOCATORS) + ")")
    w("")
    w(f"  {'size':24}  {'call':40}  in")
    for a in allocs:
        text = a.text or f"{a.allocator}(...)"
        w(f"  {show_size(a.allocator, a.sizes):24}  {text:40}  {a.caller.bare} ({a.loc})")
    return "\n".join(out) + "\n"


# ---- inputs --------------------------------------------------------------------------------

def load(objects: list[Path], objdump: str, root: Path) -> tuple[Graph, list[Site], dict[str, str]]:
    units, problems = [], []
    alloc_objects = []
    for obj in objects:
        base = obj.with_suffix("")      # x.c.o -> x.c
        ci, su = Path(f"{base}.ci"), Path(f"{base}.su")
        for p in (ci, su):
            if not p.exists():
                raise ValueError(f"{p} missing: the object was not built by gcc with "
                                 f"-fstack-usage -fcallgraph-info=su")
        unit = parse_ci(ci.read_text())
        try:
            problems += [f"{su}: {p}" for p in check_su(unit, parse_su(su.read_text()))]
        except ValueError as e:
            raise ValueError(f"{su}: {e}") from None
        units.append(unit)
        if any(c.callee in ALLOCATORS for c in unit.calls):
            alloc_objects.append((obj, unit.name))
    if problems:
        raise ValueError("the .su and .ci files disagree (stale build?):\n  " + "\n  ".join(problems))
    graph = link(units)
    sites: list[Site] = []
    for obj, name in alloc_objects:
        disasm, relocs = (_run([objdump, *opts, str(obj)]) for opts in
                          (["-d", "-r", "-l", "--no-show-raw-insn"], ["-r"]))
        sites += parse_objdump(disasm, relocs, root, name)
    sources = {}
    for c in graph.calls:
        if c.callee in ALLOCATORS:
            file = _split_loc(c.loc)[0]
            if file not in sources:
                try:
                    sources[file] = (root / file).read_text(errors="replace")
                except OSError:
                    sources[file] = ""      # the call's text is left out, the size is not
    return graph, sites, sources


def _run(cmd: list[str]) -> str:
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise ValueError(f"{' '.join(cmd)}: {run.stderr.strip()}")
    return run.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("objects", nargs="+", type=Path, help="C objects x.c.o, with x.c.su and x.c.ci beside them")
    p.add_argument("--entry", metavar="REGEX", action="append", default=[],
                   help="another entry function (full match on its name; repeatable)")
    p.add_argument("--objdump", default="objdump", help="objdump to read the objects with")
    p.add_argument("--paths", type=int, default=3, help="print the deepest path of this many entries")
    p.add_argument("--root", type=Path, default=ROOT, help="the tree the objects were compiled in")
    args = p.parse_args(argv)
    entries = DEFAULT_ENTRIES + args.entry
    try:
        graph, sites, sources = load(args.objects, args.objdump, args.root.resolve())
    except (OSError, ValueError) as e:
        print(f"stack_report: {e}", file=sys.stderr)
        return 1
    # A default may match nothing in some build; a pattern asked for by name is a typo then.
    unmatched = [e for e in args.entry if not any(re.fullmatch(e, f.bare) for f in graph.funcs.values())]
    if unmatched:
        print(f"stack_report: no function matches entry pattern(s) {', '.join(unmatched)}", file=sys.stderr)
        return 1
    sys.stdout.write(report(graph, entries, allocations(graph, sites, sources), len(args.objects), args.paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
