#!/usr/bin/env python3
"""Tidemark test runner: boots the kernel under QEMU and judges its KTAP output.

`make test` calls this. It collects results from three sources, prints failures as it goes,
and ends with exactly one line "N passed, N failed[, N skipped]", exiting 0 iff nothing failed:

  1. --selftest   the runner's own unit tests (tools/test_ktest.py), named runner.<test>, and
                  the stack report's (tools/test_stack_report.py), named stack_report.<test>.
  2. --host BIN   host test binaries printing KTAP on stdout; a crash fails even if KTAP was ok.
  3. the matrix   each line of tests/matrix boots one kernel's ISO once (firmware, memory,
                  kernel, command line): the release kernel (--iso) or the debug one, built with
                  -DDEBUG (--iso-debug); each death test found is then booted alone on the same
                  kernel with ktest.filter=<suite.name> and must panic with the text it promised.
                  The matrix runs when --iso, --iso-debug or --only is given, or when neither
                  --selftest nor --host asked for something else.
  4. halt checks  boots that must stop early with a message (a CPU without long mode); run
                  with the whole matrix, not with --only.

Layout, so the logic is testable without QEMU:
  parse_ktap()   serial text -> Report                    (pure)
  judge_*()      text + exit code -> Verdict               (pure)
  run_process()  the only place that starts a process
  Tally          counts verdicts and prints them
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The kernels a matrix row may name, and where `make` puts each one's ISO.
DEFAULT_KERNELS = {"release": ROOT / "build" / "tidemark.iso",
                   "debug": ROOT / "build" / "debug" / "tidemark.iso"}
DEFAULT_MATRIX = ROOT / "tests" / "matrix"
LOG_DIR = ROOT / "build" / "test-logs"

QEMU = "qemu-system-x86_64"
# isa-debug-exit turns a write of v into exit status (v << 1) | 1; -no-reboot makes a
# triple fault a plain exit 0.
PASS_EXIT, FAIL_EXIT, TRIPLE_FAULT_EXIT = 33, 35, 0
OVMF_PAIRS = [("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
              ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd")]
OVMF_SINGLE = "/usr/share/ovmf/OVMF.fd"
TAIL_LINES = 30

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


# ---- KTAP parser ---------------------------------------------------------------------------

PLAN_RE = re.compile(r"1\.\.(\d+)")
RESULT_RE = re.compile(r"(not ok|ok) (\d+)(?:\s+-)?\s*([^#]*?)\s*(?:#\s*(.*))?")
SUBTEST_RE = re.compile(r"# Subtest: (.*)")
SKIP_RE = re.compile(r"SKIP\b:?\s*(.*)", re.IGNORECASE)


@dataclass
class Test:
    name: str                   # dotted through every enclosing suite: "printf.width"
    status: str                 # "ok", "not ok", "skip", or "death" (a skip to boot alone)
    reason: str = ""            # why it was skipped
    diagnostics: list[str] = field(default_factory=list)


@dataclass
class Report:
    started: bool               # the "KTAP version 1" line was seen
    tests: list[Test]
    plan_errors: list[str]      # innermost suite first


@dataclass
class _Result:
    ok: bool
    name: str
    directive: str | None
    diagnostics: list[str]
    subtest: _Node | None


@dataclass
class _Node:
    """One level of KTAP: the top level or a (sub)suite, identified by its indentation."""
    indent: int
    name: str = ""
    plan: int | None = None
    results: list[_Result] = field(default_factory=list)
    orphans: list[_Node] = field(default_factory=list)    # subtests whose result never came
    diagnostics: list[str] = field(default_factory=list)  # waiting for the next result line
    subtest: _Node | None = None                          # finished, waiting for its result
    misnumbered: list[str] = field(default_factory=list)  # results out of 1, 2, 3... order

    def adopt(self, child: _Node) -> None:
        child.close()
        self.close()
        self.subtest = child

    def close(self) -> None:
        if self.subtest:
            self.orphans.append(self.subtest)
            self.subtest = None


def parse_ktap(text: str) -> Report:
    """Parse KTAP from serial text; chatter before "KTAP version 1" and non-KTAP lines are ignored."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip().endswith("KTAP version 1")), None)
    if start is None:
        return Report(False, [], [])
    stack = [_Node(indent=0)]
    for line in lines[start + 1:]:
        body = line.strip()
        if not (body.startswith(("#", "KTAP version")) or PLAN_RE.match(body) or RESULT_RE.fullmatch(body)):
            continue    # kernel log or panic report interleaved with the tests
        indent = len(line) - len(line.lstrip())
        while len(stack) > 1 and indent < stack[-1].indent:
            child = stack.pop()
            stack[-1].adopt(child)
        if indent > stack[-1].indent:
            stack.append(_Node(indent))
        _parse_line(stack[-1], body)
    while len(stack) > 1:
        child = stack.pop()
        stack[-1].adopt(child)
    stack[0].close()
    report = Report(True, [], [])
    _flatten(stack[0], [], report)
    return report


def _parse_line(node: _Node, body: str) -> None:
    if body.startswith("KTAP version"):
        return
    subtest, plan, result = SUBTEST_RE.fullmatch(body), PLAN_RE.match(body), RESULT_RE.fullmatch(body)
    if subtest:
        node.name = subtest.group(1).strip()
    elif body.startswith("#"):
        node.diagnostics.append(body)
    elif plan:
        node.plan = int(plan.group(1))
    elif result:
        due = len(node.results) + 1
        if int(result.group(2)) != due:
            node.misnumbered.append(f"test {result.group(2)} ({result.group(3)}) where {due} was due")
        node.results.append(_Result(result.group(1) == "ok", result.group(3), result.group(4),
                                    node.diagnostics, node.subtest))
        node.diagnostics, node.subtest = [], None


def _flatten(node: _Node, path: list[str], report: Report) -> None:
    for r in node.results:
        name = r.subtest.name if r.subtest and r.subtest.name else r.name
        if r.subtest:
            _flatten(r.subtest, path + [name], report)
        if not (r.subtest and r.subtest.results):   # a leaf, or a suite that ran nothing itself
            report.tests.append(_leaf(r, ".".join(path + [name])))
    for orphan in node.orphans:
        _flatten(orphan, path + [orphan.name or "(unnamed)"], report)
    where, got = ".".join(path) or "top level", len(node.results)
    report.plan_errors += [f"KTAP numbering in {where}: {m}" for m in node.misnumbered]
    if node.plan is None:
        report.plan_errors.append(f"KTAP plan missing in {where}")
    elif got < node.plan:
        report.plan_errors.append(f"KTAP plan cut short: expected {node.plan} tests in {where}, got {got}")
    elif got > node.plan:
        report.plan_errors.append(f"KTAP plan overrun: expected {node.plan} tests in {where}, got {got}")


def _leaf(r: _Result, name: str) -> Test:
    skip = SKIP_RE.match(r.directive or "")
    if skip and r.ok:  # "not ok ... # SKIP" is a failure, whatever it says
        reason = skip.group(1)
        return Test(name, "death" if reason.startswith("death test") else "skip", reason, r.diagnostics)
    return Test(name, "ok" if r.ok else "not ok", "", r.diagnostics)


# ---- judges --------------------------------------------------------------------------------

@dataclass
class Outcome:
    name: str
    status: str                 # PASS, FAIL or SKIP
    details: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    outcomes: list[Outcome]
    problem: str | None = None  # why the run as a whole went wrong, if it did
    death_tests: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.problem is not None or any(o.status == FAIL for o in self.outcomes)


def broken(reason: str) -> Verdict:
    """A run that could not even start: one failure, named by what went wrong."""
    return Verdict([Outcome(reason, FAIL)], reason)


def panic_line(lines: list[str]) -> str | None:
    # KTAP diagnostics may quote the words (a death test's expecting-line); a real panic is not one.
    return next((line.strip() for line in lines
                 if "Kernel panic" in line and not line.lstrip().startswith("#")), None)


def judge_tests(report: Report, run_death: bool) -> tuple[list[Outcome], list[str]]:
    """Outcomes for each test, and the death tests left to boot on their own (if run_death)."""
    outcomes, deaths = [], []
    for t in report.tests:
        if t.status == "death" and run_death:
            deaths.append(t.name)
        elif t.status in ("skip", "death"):
            outcomes.append(Outcome(t.name, SKIP, [t.reason]))
        else:
            outcomes.append(Outcome(t.name, PASS if t.status == "ok" else FAIL, t.diagnostics))
    return outcomes, deaths


def judge_boot(log: str, exit_code: int | None, timeout: float = 120, death: bool = True) -> Verdict:
    """Judge one matrix boot. exit_code None means QEMU was killed after `timeout` seconds."""
    report = parse_ktap(log)
    outcomes, deaths = judge_tests(report, death)
    failed = any(o.status == FAIL for o in outcomes)
    problem = _boot_problem(report, log, exit_code, timeout, failed)
    if problem and not failed:
        outcomes.append(Outcome(f"boot: {problem}", FAIL))
    return Verdict(outcomes, problem, deaths)


def _boot_problem(report: Report, log: str, exit_code: int | None, timeout: float,
                  failed: bool) -> str | None:
    panic = panic_line(log.splitlines())
    if panic:
        return f"panic: {panic}"
    if exit_code is None:
        return f"timeout after {timeout:g}s"
    if exit_code == TRIPLE_FAULT_EXIT:
        return "triple fault (QEMU exited 0)"
    if not report.started:
        return "no KTAP output"
    if report.plan_errors:
        return report.plan_errors[0]
    if not report.tests:
        return "no test ran"
    if exit_code != (FAIL_EXIT if failed else PASS_EXIT):
        return f"exit code {exit_code}"
    return None


def judge_death(name: str, log: str, exit_code: int | None, timeout: float = 120) -> Verdict:
    """Judge a boot with ktest.filter=name: the test must panic with the text it announced."""
    reason = _death_failure(name, log.splitlines(), exit_code, timeout)
    return Verdict([Outcome(name, FAIL if reason else PASS, [f"death test: {reason}"] if reason else [])],
                   reason)


def _death_failure(name: str, lines: list[str], exit_code: int | None, timeout: float) -> str | None:
    expect = re.compile(r"#\s*death test " + re.escape(name) + r': expecting a panic that mentions "(.*)"')
    start = next((i for i, line in enumerate(lines) if expect.search(line)), None)
    if start is None:
        return f'never started (no "# death test {name}: expecting ..." line)'
    text, after = expect.search(lines[start]).group(1), lines[start + 1:]
    short = re.escape(name.rsplit(".", 1)[-1])
    result = re.compile(r"\s*(?:not )?ok \d+(?:\s+-)?\s*" + short + r"(?:\s|#|$)")
    if any(result.match(line) for line in after):
        return "survived"
    hung = f"timeout after {timeout:g}s" if exit_code is None else None
    if panic_line(after) is None:
        return hung or ("triple fault (QEMU exited 0)" if exit_code == TRIPLE_FAULT_EXIT else "no panic")
    if not any(text in line for line in after):
        return f'report lacks "{text}"'
    if exit_code != FAIL_EXIT:
        return hung or f"exit code {exit_code}"
    return None


SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:")


def judge_host(stdout: str, stderr: str, exit_code: int | None, timeout: float = 120) -> Verdict:
    """Judge a host test binary. A crash always counts; other trouble only if no test failed."""
    report = parse_ktap(stdout)
    outcomes, _ = judge_tests(report, run_death=False)
    failed = any(o.status == FAIL for o in outcomes)
    sanitizer = next((line.strip() for line in stderr.splitlines() if SANITIZER_RE.search(line)), None)
    crash = _host_crash(exit_code, sanitizer, failed)
    problem = crash or _host_problem(report, exit_code, timeout)
    if crash or (problem and not failed):
        outcomes.append(Outcome(problem, FAIL, [sanitizer] if sanitizer else []))
    return Verdict(outcomes, problem)


def _host_crash(exit_code: int | None, sanitizer: str | None, failed: bool) -> str | None:
    # Failed tests make the binary exit non-zero on purpose; that alone is no crash.
    if exit_code is not None and exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-exit_code}"
        return f"crashed ({name})"
    if exit_code and (sanitizer or not failed):
        return f"crashed (exit {exit_code})"
    if sanitizer:
        return f"sanitizer report: {sanitizer}"
    return None


def _host_problem(report: Report, exit_code: int | None, timeout: float) -> str | None:
    if exit_code is None:
        return f"timeout after {timeout:g}s"
    if not report.started:
        return "no KTAP output"
    return report.plan_errors[0] if report.plan_errors else None


# ---- running things ------------------------------------------------------------------------

@dataclass
class Config:
    name: str
    firmware: str               # "bios" or "uefi"
    memory: str                 # QEMU -m argument, e.g. "128M"
    kernel: str                 # a key of DEFAULT_KERNELS: which ISO this config boots
    death: bool                 # boot each death test on its own in this config
    cmdline: str = ""
    qemu: str = "tcg"           # "tcg", or "icount": -icount shift=0,sleep=off, guest time
                                # instruction time, for the tests that time the collector

    def qemu_args(self) -> list[str]:
        return ["-icount", "shift=0,sleep=off"] if self.qemu == "icount" else []

    def kernel_cmdline(self, extra: str = "") -> str:
        """The row's command line, told whether it runs under icount, and extra."""
        parts = [self.cmdline, "ktest.icount=1" if self.qemu == "icount" else "", extra]
        return " ".join(p for p in parts if p)


def parse_matrix(text: str, source: str = "matrix") -> list[Config]:
    """Lines are "name firmware memory kernel qemu death [kernel command line...]"; '#' starts a
    comment."""
    configs: list[Config] = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split(None, 6)
        if not fields:
            continue
        where = f"{source}:{number}"
        if len(fields) < 6:
            raise ValueError(f"{where}: expected 'name firmware memory kernel qemu death [cmdline]'")
        name, firmware, memory, kernel, qemu, death = fields[:6]
        if firmware not in ("bios", "uefi"):
            raise ValueError(f"{where}: firmware must be bios or uefi, not {firmware!r}")
        if not re.fullmatch(r"\d+[KMG]?", memory):
            raise ValueError(f"{where}: bad memory size {memory!r}")
        if kernel not in DEFAULT_KERNELS:
            raise ValueError(f"{where}: kernel must be {' or '.join(DEFAULT_KERNELS)}, not {kernel!r}")
        if qemu not in ("tcg", "icount"):
            raise ValueError(f"{where}: qemu must be tcg or icount, not {qemu!r}")
        if death not in ("yes", "no"):
            raise ValueError(f"{where}: death must be yes or no, not {death!r}")
        if any(c.name == name for c in configs):
            raise ValueError(f"{where}: duplicate config {name!r}")
        cmdline = fields[6].strip() if len(fields) > 6 else ""
        configs.append(Config(name, firmware, memory, kernel, death == "yes", cmdline, qemu))
    return configs


def qemu_command(iso: Path, memory: str, cmdline: str, firmware: list[str],
                 extra: list[str] | None = None) -> list[str]:
    cmd = [QEMU, "-accel", "tcg"] + (extra or []) + ["-machine", "pc", "-cpu", "max", "-m", memory,
           "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none", "-nic", "none",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-cdrom", str(iso)] + firmware
    if cmdline:
        # QEMU option syntax: a literal comma inside a value is written ",,".
        cmd += ["-fw_cfg", "name=opt/tidemark/cmdline,string=" + cmdline.replace(",", ",,")]
    return cmd


def uefi_firmware(scratch: str) -> list[str]:
    """QEMU arguments for OVMF; the writable VARS store is a fresh copy so boots don't share state."""
    for code, store in OVMF_PAIRS:
        if os.path.exists(code) and os.path.exists(store):
            copy = os.path.join(scratch, "OVMF_VARS.fd")
            shutil.copyfile(store, copy)
            return ["-drive", f"if=pflash,format=raw,readonly=on,file={code}",
                    "-drive", f"if=pflash,format=raw,file={copy}"]
    if os.path.exists(OVMF_SINGLE):
        return ["-bios", OVMF_SINGLE]
    raise OSError("no OVMF firmware found (install the ovmf package)")


@dataclass
class Run:
    exit_code: int | None       # None: killed after the timeout
    output: str
    errors: str
    seconds: float


def run_process(cmd: list[str], timeout: float, merge_stderr: bool) -> Run:
    start = time.monotonic()
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            code = None
    return Run(code, _decode(out), _decode(err), time.monotonic() - start)


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def boot(iso: Path, config: Config, cmdline: str, timeout: float, log: Path) -> Run:
    """Boot once under QEMU; the serial log (with QEMU's own messages) is saved to `log`."""
    with tempfile.TemporaryDirectory(prefix="ktest-") as scratch:
        firmware = uefi_firmware(scratch) if config.firmware == "uefi" else []
        run = run_process(qemu_command(iso, config.memory, cmdline, firmware, config.qemu_args()),
                          timeout, merge_stderr=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(run.output)
    return run


class Tally:
    """Totals over every run; prints failures, a summary line per run, and a log tail on failure."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.counts: Counter = Counter()

    def record(self, group: str, verdict: Verdict, seconds: float = 0.0, log: str = "") -> None:
        counts = Counter(o.status for o in verdict.outcomes)
        self.counts.update(counts)
        for o in verdict.outcomes:
            if o.status == FAIL or self.verbose:
                print(f"{o.status} {group}: {o.name}")
                print("".join(f"    {line}\n" for line in o.details), end="")
        if verdict.failed and log:
            print(f"    --- last {TAIL_LINES} lines of output ---")
            print("".join(f"    | {line}\n" for line in log.splitlines()[-TAIL_LINES:]), end="")
        problem = f": {verdict.problem}" if verdict.problem else ""
        print(f"{group}: {summary(counts)} ({seconds:.1f} s){problem}")

    @property
    def failed(self) -> int:
        return self.counts[FAIL]


def summary(counts: Counter) -> str:
    skipped = f", {counts[SKIP]} skipped" if counts[SKIP] else ""
    return f"{counts[PASS]} passed, {counts[FAIL]} failed{skipped}"


class _Collector(unittest.TestResult):
    """Records each unittest case as an Outcome named runner.<test>, counted like any other test."""

    def __init__(self, prefix: str = "runner"):
        super().__init__()
        self.prefix = prefix
        self.found: list[Outcome] = []

    def _name(self, test) -> str:
        # A setUpClass error comes as an _ErrorHolder, which has no method name.
        return f"{self.prefix}.{getattr(test, '_testMethodName', str(test))}"

    def addSuccess(self, test):
        self.found.append(Outcome(self._name(test), PASS))

    def addFailure(self, test, err):
        lines = "".join(traceback.format_exception(*err)).splitlines()
        self.found.append(Outcome(self._name(test), FAIL, lines))

    addError = addFailure

    def addSkip(self, test, reason):
        self.found.append(Outcome(self._name(test), SKIP, [reason]))

    def addSubTest(self, test, subtest, err):
        # unittest reports no addSuccess for a test one of whose subtests failed.
        if err is not None:
            lines = "".join(traceback.format_exception(*err)).splitlines()
            self.found.append(Outcome(f"{self._name(test)} {subtest._subDescription()}", FAIL, lines))

    def addUnexpectedSuccess(self, test):
        self.found.append(Outcome(self._name(test), FAIL, ["passed, but is marked expectedFailure"]))


# Unit tests of the tools, each module's tests named <prefix>.<test>.
SELFTESTS = [("runner", "test_ktest"), ("stack_report", "test_stack_report")]


def run_selftest(tally: Tally) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for prefix, name in SELFTESTS:
        group = f"selftest {prefix}"
        start = time.monotonic()
        try:
            module = importlib.import_module(name)
        except Exception as e:  # a broken test file is a failure to report, not a runner crash
            tally.record(group, broken(f"cannot import {name}: {e!r}"))
            continue
        collector = _Collector(prefix)
        unittest.defaultTestLoader.loadTestsFromModule(module).run(collector)
        tally.record(group, Verdict(collector.found), time.monotonic() - start)


def run_host(binary: str, timeout: float, tally: Tally) -> None:
    group = f"host {Path(binary).name}"
    try:
        run = run_process([str(Path(binary).resolve())], timeout, merge_stderr=False)
    except OSError as e:
        tally.record(group, broken(f"cannot run: {e}"))
        return
    verdict = judge_host(run.output, run.errors, run.exit_code, timeout)
    tally.record(group, verdict, run.seconds, run.output + run.errors)


def run_matrix(isos: dict[str, Path], matrix: Path, only: str | None, timeout: float, logs: Path,
               tally: Tally) -> None:
    """Boot each config (or only `only`) on the ISO of the kernel it names, a key of isos."""
    try:
        configs = parse_matrix(matrix.read_text(), str(matrix))
    except (OSError, ValueError) as e:
        tally.record("matrix", broken(str(e)))
        return
    if only is not None:
        configs = [c for c in configs if c.name == only]
        if not configs:
            tally.record("matrix", broken(f"no config named {only!r} in {matrix}"))
            return
    # One failure for each kernel whose ISO is missing; the configs of the others still boot.
    missing = [k for k in DEFAULT_KERNELS if not isos[k].exists() and any(c.kernel == k for c in configs)]
    for kernel in missing:
        tally.record("matrix", broken(f"{kernel} kernel: {isos[kernel]} not found (build it first)"))
    for config in configs:
        if config.kernel not in missing:
            run_config(isos[config.kernel], config, timeout, logs, tally)


# Boots that must stop the kernel early with a message rather than run tests: the CPU check in
# boot/entry.S halts (no QEMU exit), so the run ends at the timeout and is judged by its text.
HALT_CHECKS = [
    ("no-long-mode", ["-cpu", "qemu32"], "does not support x86-64 long mode", 15.0),
]


def judge_halt(name: str, log: str, expected: str) -> Verdict:
    if expected in log:
        return Verdict([Outcome(name, PASS)])
    return Verdict([Outcome(name, FAIL, [f"expected the kernel to print {expected!r}"])],
                   f"no {expected!r} in the serial log")


def run_until(cmd: list[str], expected: str, timeout: float) -> Run:
    """Run cmd until `expected` appears in its output (then kill it) or the timeout passes."""
    start, out = time.monotonic(), b""
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as proc:
        os.set_blocking(proc.stdout.fileno(), False)
        while expected.encode() not in out and proc.poll() is None \
                and time.monotonic() - start < timeout:
            out += proc.stdout.read() or b""
            time.sleep(0.05)
        code = proc.poll()
        proc.kill()
        out += proc.stdout.read() or b""
    return Run(code, _decode(out), "", time.monotonic() - start)


def run_halt_checks(iso: Path, logs: Path, tally: Tally) -> None:
    for name, qemu_args, expected, seconds in HALT_CHECKS:
        cmd = qemu_command(iso, "128M", "", []) + qemu_args   # a later -cpu overrides -cpu max
        try:
            run = run_until(cmd, expected, seconds)
        except OSError as e:    # QEMU missing, say: a failure, and the summary still comes
            tally.record(name, broken(f"boot: {e}"))
            continue
        (logs / f"{name}.log").write_text(run.output)
        tally.record(name, judge_halt(name, run.output, expected), run.seconds, run.output)


def run_config(iso: Path, config: Config, timeout: float, logs: Path, tally: Tally) -> None:
    """The config's main boot, then one boot per death test it reported."""
    try:
        run = boot(iso, config, config.kernel_cmdline(), timeout, logs / f"{config.name}.log")
    except OSError as e:
        tally.record(config.name, broken(f"boot: {e}"))
        return
    verdict = judge_boot(run.output, run.exit_code, timeout, config.death)
    tally.record(config.name, verdict, run.seconds, run.output)
    for name in verdict.death_tests:
        group = f"{config.name}.{name}"
        cmdline = config.kernel_cmdline(f"ktest.filter={name}")
        try:
            run = boot(iso, config, cmdline, timeout, logs / f"{group}.log")
        except OSError as e:
            tally.record(group, broken(f"boot: {e}"))
            continue
        tally.record(group, judge_death(name, run.output, run.exit_code, timeout), run.seconds, run.output)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", metavar="BIN", action="append", default=[], help="host test binary (repeatable)")
    p.add_argument("--iso", help="the release kernel's ISO "
                   f"(default {DEFAULT_KERNELS['release'].relative_to(ROOT)})")
    p.add_argument("--iso-debug", metavar="ISO", help="the debug kernel's ISO, for the matrix's debug "
                   f"rows (default {DEFAULT_KERNELS['debug'].relative_to(ROOT)})")
    p.add_argument("--matrix", default=str(DEFAULT_MATRIX), help="boot matrix file")
    p.add_argument("--only", metavar="NAME", help="boot only this matrix config")
    p.add_argument("--timeout", type=float, default=120, help="seconds per boot or host binary")
    p.add_argument("--selftest", action="store_true", help="run the runner's own unit tests")
    p.add_argument("-v", "--verbose", action="store_true", help="also list passed and skipped tests")
    return p.parse_args(argv)


def kernel_isos(args: argparse.Namespace) -> dict[str, Path]:
    """Each kernel's ISO: as given on the command line, else where `make` puts it."""
    given = {"release": args.iso, "debug": args.iso_debug}
    return {k: Path(given[k]) if given[k] else path for k, path in DEFAULT_KERNELS.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tally = Tally(args.verbose)
    if args.selftest:
        run_selftest(tally)
    for binary in args.host:
        run_host(binary, args.timeout, tally)
    if args.iso or args.iso_debug or args.only or not (args.selftest or args.host):
        isos = kernel_isos(args)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        run_matrix(isos, Path(args.matrix), args.only, args.timeout, LOG_DIR, tally)
        if args.only is None and isos["release"].exists():
            run_halt_checks(isos["release"], LOG_DIR, tally)
    print(summary(tally.counts))
    return 0 if tally.failed == 0 else 1


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    sys.exit(main())
