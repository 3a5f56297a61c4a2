#!/usr/bin/env python3
"""Unit tests for tools/ktest.py, the test runner.

They feed crafted serial logs and exit codes to the parser and judges, so no kernel is needed;
the few end-to-end cases stand in a tiny Python script for QEMU or a host test binary.
Run with `python3 tools/test_ktest.py` or `tools/ktest.py --selftest`.
"""

import contextlib
import io
import os
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ktest  # noqa: E402


def log(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


ALL_OK = log("""
    SeaBIOS (version 1.16)
    Tidemark 0.1 booting, 128 MiB
    KTAP version 1
    1..2
        KTAP version 1
        # Subtest: printf
        1..2
        ok 1 basic
        ok 2 width
    ok 1 printf
        KTAP version 1
        # Subtest: pmm
        1..1
        ok 1 alloc_free
    ok 2 pmm
    # ktest: 3 passed, 0 failed, 0 skipped
    """)

ONE_FAILS = log("""
    KTAP version 1
    1..1
        KTAP version 1
        # Subtest: printf
        1..3
        ok 1 basic
        # printf_test.c:20: KEXPECT_EQ failed: n == 3 (4 vs 3)
        not ok 2 width
        ok 3 null_deref # SKIP death test: booted on its own
    not ok 1 printf
    # ktest: 1 passed, 1 failed, 0 skipped
    """)

CUT_SHORT = log("""
    KTAP version 1
    1..2
        KTAP version 1
        # Subtest: printf
        1..3
        ok 1 basic
    """)

PANIC_MID_SUITE = CUT_SHORT + log("""
    PAGE FAULT at ffffffff80105000 (write, not present)
    Kernel panic - not syncing: page fault in kernel mode
    Call Trace:
     [<ffffffff80101234>] printf_width+0x14/0x30
    """)

DEATH_BOOT = log("""
    KTAP version 1
    1..1
        KTAP version 1
        # Subtest: printf
        1..1
        # death test printf.null_deref: expecting a panic that mentions "page fault"
    PAGE FAULT at 0000000000000000 (read, not present)
    Kernel panic - not syncing: page fault in kernel mode
    Call Trace:
     [<ffffffff80101234>] printf_null_deref+0x14/0x30
    """)


def names(verdict, status):
    return [o.name for o in verdict.outcomes if o.status == status]


class ParseTest(unittest.TestCase):
    def test_names_are_suite_dot_test(self):
        report = ktest.parse_ktap(ALL_OK)
        self.assertTrue(report.started)
        self.assertEqual([t.name for t in report.tests], ["printf.basic", "printf.width", "pmm.alloc_free"])
        self.assertEqual(report.plan_errors, [])

    def test_boot_chatter_before_ktap_ignored(self):
        # Firmware leaves terminal escapes on the line the kernel's first output lands on.
        chatter = "ok 1 grub_says_hi\n1..7\n# not a diagnostic\nnot ok 9 bios\n"
        report = ktest.parse_ktap(chatter + ALL_OK.replace("MiB\n", "MiB\n\x1b[2J\x1b[01;01H"))
        self.assertEqual(len(report.tests), 3)
        self.assertEqual(report.plan_errors, [])

    def test_crlf_line_endings_tolerated(self):
        self.assertEqual(ktest.parse_ktap(ALL_OK.replace("\n", "\r\n")), ktest.parse_ktap(ALL_OK))
        self.assertFalse(ktest.judge_boot(ONE_FAILS.replace("\n", "\r\n"), 35).outcomes[1].details[0]
                         .endswith("\r"))

    def test_deeper_nesting_joins_every_suite_name(self):
        text = log("""
            KTAP version 1
            1..1
                KTAP version 1
                # Subtest: mm
                1..1
                    KTAP version 1
                    # Subtest: slab
                    1..1
                    ok 1 grow
                ok 1 slab
            ok 1 mm
            """)
        report = ktest.parse_ktap(text)
        self.assertEqual([t.name for t in report.tests], ["mm.slab.grow"])
        self.assertEqual(report.plan_errors, [])

    def test_kernel_log_lines_inside_a_suite_ignored(self):
        text = ALL_OK.replace("    ok 2 width\n", "pmm: 32000 pages free\n    ok 2 width\n")
        self.assertEqual(ktest.parse_ktap(text), ktest.parse_ktap(ALL_OK))

    def test_suite_that_ran_nothing_counts_as_one_test(self):
        text = log("""
            KTAP version 1
            1..1
                KTAP version 1
                # Subtest: acpi
                1..0
            ok 1 acpi # SKIP no ACPI tables
            """)
        self.assertEqual(ktest.parse_ktap(text).tests, [ktest.Test("acpi", "skip", "no ACPI tables")])


class JudgeBootTest(unittest.TestCase):
    def test_all_ok_passes(self):
        verdict = ktest.judge_boot(ALL_OK, 33)
        self.assertFalse(verdict.failed)
        self.assertIsNone(verdict.problem)
        self.assertEqual(names(verdict, ktest.PASS), ["printf.basic", "printf.width", "pmm.alloc_free"])

    def test_not_ok_fails_with_its_diagnostic(self):
        verdict = ktest.judge_boot(ONE_FAILS, 35, death=False)
        self.assertEqual(names(verdict, ktest.FAIL), ["printf.width"])
        width = verdict.outcomes[1]
        self.assertEqual(width.details, ["# printf_test.c:20: KEXPECT_EQ failed: n == 3 (4 vs 3)"])
        self.assertEqual(verdict.outcomes[0].details, [], "diagnostic belongs to the next result only")
        self.assertIsNone(verdict.problem, "exit 35 is right when a test failed")

    def test_exit_pass_despite_failure_is_a_problem_but_not_an_extra_failure(self):
        verdict = ktest.judge_boot(ONE_FAILS, 33, death=False)
        self.assertEqual(verdict.problem, "exit code 33")
        self.assertEqual(names(verdict, ktest.FAIL), ["printf.width"])

    def test_cut_short_plan_fails(self):
        verdict = ktest.judge_boot(CUT_SHORT, 33)
        self.assertEqual(verdict.problem, "KTAP plan cut short: expected 3 tests in printf, got 1")
        self.assertEqual(names(verdict, ktest.FAIL), ["boot: " + verdict.problem])
        self.assertEqual(names(verdict, ktest.PASS), ["printf.basic"])

    def test_missing_suite_result_cuts_top_level_plan(self):
        text = ALL_OK.replace("ok 2 pmm\n", "")
        self.assertEqual(ktest.judge_boot(text, 33).problem,
                         "KTAP plan cut short: expected 2 tests in top level, got 1")

    def test_triple_fault_fails(self):
        verdict = ktest.judge_boot(CUT_SHORT, 0)
        self.assertEqual(verdict.problem, "triple fault (QEMU exited 0)")
        self.assertEqual(names(verdict, ktest.FAIL), ["boot: triple fault (QEMU exited 0)"])

    def test_timeout_fails(self):
        verdict = ktest.judge_boot(CUT_SHORT, None, timeout=5)
        self.assertEqual(names(verdict, ktest.FAIL), ["boot: timeout after 5s"])

    def test_panic_mid_suite_names_the_panic_line(self):
        verdict = ktest.judge_boot(PANIC_MID_SUITE, 35)
        self.assertEqual(verdict.problem, "panic: Kernel panic - not syncing: page fault in kernel mode")
        self.assertEqual(names(verdict, ktest.FAIL), ["boot: " + verdict.problem])

    def test_panic_is_named_even_when_qemu_hangs_after_it(self):
        self.assertTrue(ktest.judge_boot(PANIC_MID_SUITE, None).problem.startswith("panic: Kernel panic"))

    def test_no_ktap_output(self):
        verdict = ktest.judge_boot("Tidemark 0.1 booting\n", 35)
        self.assertEqual(names(verdict, ktest.FAIL), ["boot: no KTAP output"])

    def test_wrong_exit_code_with_all_ok(self):
        self.assertEqual(ktest.judge_boot(ALL_OK, 35).problem, "exit code 35")

    def test_skip_counted(self):
        text = ALL_OK.replace("ok 1 alloc_free", "ok 1 alloc_free # SKIP needs 256M")
        verdict = ktest.judge_boot(text, 33)
        self.assertFalse(verdict.failed)
        self.assertEqual(names(verdict, ktest.SKIP), ["pmm.alloc_free"])
        self.assertEqual(verdict.outcomes[2].details, ["needs 256M"])

    def test_death_test_queued_in_death_config(self):
        verdict = ktest.judge_boot(ONE_FAILS, 35, death=True)
        self.assertEqual(verdict.death_tests, ["printf.null_deref"])
        self.assertNotIn("printf.null_deref", [o.name for o in verdict.outcomes])

    def test_death_test_skipped_in_no_death_config(self):
        verdict = ktest.judge_boot(ONE_FAILS, 35, death=False)
        self.assertEqual(verdict.death_tests, [])
        self.assertEqual(names(verdict, ktest.SKIP), ["printf.null_deref"])


    def test_not_ok_with_a_skip_directive_fails(self):
        text = ALL_OK.replace("ok 1 alloc_free", "not ok 1 alloc_free # SKIP death test: booted on its own")
        verdict = ktest.judge_boot(text, 35, death=True)
        self.assertEqual(names(verdict, ktest.FAIL), ["pmm.alloc_free"])
        self.assertEqual(verdict.death_tests, [])

    def test_repeated_or_skipped_test_numbers_fail(self):
        text = ALL_OK.replace("ok 1 alloc_free", "ok 2 alloc_free")
        verdict = ktest.judge_boot(text, 33)
        self.assertTrue(verdict.failed)
        self.assertIn("KTAP numbering in pmm: test 2 (alloc_free) where 1 was due", verdict.problem)

    def test_boot_that_ran_no_test_fails(self):
        verdict = ktest.judge_boot(log("KTAP version 1\n1..0\n"), 33)
        self.assertEqual(verdict.problem, "no test ran")
        self.assertTrue(verdict.failed)


class CollectorTest(unittest.TestCase):
    """The self-tests' own results: every unittest outcome must be counted."""

    def test_failed_subtest_and_unexpected_success_count_as_failures(self):
        class Inner(unittest.TestCase):
            def test_sub(self):
                for x in (1, 2):
                    with self.subTest(x=x):
                        self.assertEqual(x, 1)

            @unittest.expectedFailure
            def test_xpass(self):
                pass

            def test_ok(self):
                pass

        result = ktest._Collector()
        unittest.defaultTestLoader.loadTestsFromTestCase(Inner).run(result)
        got = sorted((o.name, o.status) for o in result.found)
        self.assertEqual(got, [("runner.test_ok", ktest.PASS), ("runner.test_sub (x=2)", ktest.FAIL),
                               ("runner.test_xpass", ktest.FAIL)])

    def test_set_up_class_error_is_a_failure(self):
        class Inner(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                raise RuntimeError("broken fixture")

            def test_a(self):
                pass

        result = ktest._Collector()
        unittest.defaultTestLoader.loadTestsFromTestCase(Inner).run(result)
        self.assertEqual([o.status for o in result.found], [ktest.FAIL])


class JudgeDeathTest(unittest.TestCase):
    def judge(self, text, exit_code=35):
        return ktest.judge_death("printf.null_deref", text, exit_code)

    def test_passes_when_panic_report_mentions_text(self):
        verdict = self.judge(DEATH_BOOT)
        self.assertFalse(verdict.failed)
        self.assertEqual(names(verdict, ktest.PASS), ["printf.null_deref"])

    def test_fails_when_it_survived(self):
        survived = DEATH_BOOT.split("PAGE FAULT")[0] + "    ok 1 null_deref\nok 1 printf\n"
        verdict = self.judge(survived, 33)
        self.assertEqual(verdict.problem, "survived")
        self.assertEqual(verdict.outcomes[0].details, ["death test: survived"])

    def test_fails_when_text_missing(self):
        text = DEATH_BOOT.replace("PAGE FAULT at", "GP fault at").replace("page fault in", "oops in")
        verdict = self.judge(text)
        self.assertEqual(verdict.problem, 'report lacks "page fault"')

    def test_expecting_line_itself_does_not_count_as_text(self):
        verdict = self.judge(DEATH_BOOT.replace("page fault", "oops").replace('"oops"', '"page fault"'))
        self.assertEqual(verdict.problem, 'report lacks "page fault"')

    def test_fails_without_panic(self):
        hung = DEATH_BOOT.split("PAGE FAULT")[0]
        self.assertEqual(self.judge(hung, 35).problem, "no panic")
        self.assertEqual(self.judge(hung, None).problem, "timeout after 120s")
        self.assertEqual(self.judge(hung, 0).problem, "triple fault (QEMU exited 0)")

    def test_fails_when_never_started(self):
        self.assertTrue(self.judge(ALL_OK, 33).problem.startswith("never started"))

    def test_fails_when_panic_does_not_exit(self):
        self.assertEqual(self.judge(DEATH_BOOT, None).problem, "timeout after 120s")


class JudgeHostTest(unittest.TestCase):
    def test_clean_exit_passes(self):
        self.assertFalse(ktest.judge_host(ALL_OK, "", 0).failed)

    def test_nonzero_exit_with_all_ok_is_a_crash(self):
        verdict = ktest.judge_host(ALL_OK, "", 1)
        self.assertEqual(names(verdict, ktest.FAIL), ["crashed (exit 1)"])

    def test_signal_is_a_crash(self):
        verdict = ktest.judge_host(CUT_SHORT, "", -11)
        self.assertEqual(names(verdict, ktest.FAIL), ["crashed (SIGSEGV)"])

    def test_real_time_signal_is_a_crash(self):
        verdict = ktest.judge_host(CUT_SHORT, "", -40)  # has no name in signal.Signals
        self.assertEqual(names(verdict, ktest.FAIL), ["crashed (signal 40)"])

    def test_failed_test_explains_nonzero_exit(self):
        self.assertEqual(names(ktest.judge_host(ONE_FAILS, "", 1), ktest.FAIL), ["printf.width"])

    def test_sanitizer_report_is_a_crash_even_with_failed_tests(self):
        asan = "==42==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020\n"
        verdict = ktest.judge_host(ONE_FAILS, asan, 1)
        self.assertEqual(names(verdict, ktest.FAIL), ["printf.width", "crashed (exit 1)"])
        self.assertIn("heap-use-after-free", verdict.outcomes[-1].details[0])


class MatrixTest(unittest.TestCase):
    def test_columns_and_command_line(self):
        configs = ktest.parse_matrix(log("""
            # name  firmware memory kernel  qemu   death cmdline
            bios    bios     128M   release tcg    yes
            uefi    uefi     128M   debug   icount no    log=debug  ktest.seed=7   # trailing comment
            """))
        self.assertEqual(configs, [ktest.Config("bios", "bios", "128M", "release", True, ""),
                                   ktest.Config("uefi", "uefi", "128M", "debug", False,
                                                "log=debug  ktest.seed=7", "icount")])
        self.assertEqual(configs[0].qemu_args(), [])
        self.assertEqual(configs[1].qemu_args(), ["-icount", "shift=0,sleep=off"])
        self.assertEqual(configs[1].kernel_cmdline("ktest.filter=a.b"),
                         "log=debug  ktest.seed=7 ktest.icount=1 ktest.filter=a.b")
        self.assertEqual(configs[0].kernel_cmdline(), "")

    def test_bad_lines_rejected_with_line_number(self):
        for bad in ["bios bios 128M release tcg", "x coreboot 128M release tcg yes",
                    "x bios lots release tcg yes", "x bios 64M release tcg maybe",
                    "x bios 64M kasan tcg no", "x bios 64M release kvm no",
                    "a bios 64M release tcg no\na uefi 64M debug tcg no"]:
            with self.assertRaisesRegex(ValueError, r"^m:\d: "):
                ktest.parse_matrix(bad, "m")

    def test_unknown_kernel_is_a_matrix_error_naming_the_known_ones(self):
        with self.assertRaisesRegex(ValueError, r"^m:2: kernel must be release or debug, not 'kasan'$"):
            ktest.parse_matrix("a bios 64M release tcg no\nb bios 64M kasan tcg no\n", "m")
        # A row of an old format, without a column, is not taken for one with it.
        with self.assertRaisesRegex(ValueError, r"^m:1: kernel must be release or debug, not 'yes'$"):
            ktest.parse_matrix("a bios 64M yes tcg mem=48M\n", "m")
        with self.assertRaisesRegex(ValueError, r"^m:1: qemu must be tcg or icount, not 'no'$"):
            ktest.parse_matrix("a bios 64M release no mem=48M\n", "m")
        with self.assertRaisesRegex(ValueError, r"^m:1: expected 'name firmware memory kernel qemu death"):
            ktest.parse_matrix("a bios 64M release no\n", "m")

    def test_repository_matrix_parses(self):
        configs = ktest.parse_matrix(ktest.DEFAULT_MATRIX.read_text())
        self.assertEqual([c.name for c in configs[:3]], ["bios", "uefi", "bios-64M"])
        self.assertEqual({c.kernel for c in configs}, set(ktest.DEFAULT_KERNELS))
        self.assertTrue(any(c.kernel == "debug" and c.death for c in configs),
                        "the debug kernel's death tests (its lock-rank check) boot somewhere")

    def test_qemu_command_escapes_commas_and_omits_empty_cmdline(self):
        cmd = ktest.qemu_command(Path("t.iso"), "64M", "a=1,2 b", [])
        self.assertEqual(cmd[-2:], ["-fw_cfg", "name=opt/tidemark/cmdline,string=a=1,,2 b"])
        self.assertNotIn("-fw_cfg", ktest.qemu_command(Path("t.iso"), "64M", "", []))

    def test_uefi_vars_copy_is_fresh_per_boot(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            try:
                first, second = ktest.uefi_firmware(a), ktest.uefi_firmware(b)
            except OSError:
                self.skipTest("no OVMF installed")
            self.assertEqual(first == second, first[0] == "-bios")


# Stands in for QEMU: a test that must be booted alone, which panics when it is. It names the
# ISO it booted, so that a test can tell which kernel a boot ran.
FAKE_QEMU = '''
import sys
cmdline = next((a for a in sys.argv if a.startswith("name=opt/tidemark/cmdline")), "")
print("booting", sys.argv[sys.argv.index("-cdrom") + 1])
print("KTAP version 1\\n1..1\\n    KTAP version 1\\n    # Subtest: printf\\n    1..2\\n    ok 1 basic")
if "ktest.filter=printf.null_deref" not in cmdline:
    print("    ok 2 null_deref # SKIP death test: booted on its own\\nok 1 printf")
    sys.exit(33)
print('    # death test printf.null_deref: expecting a panic that mentions "page fault"')
print("Kernel panic - not syncing: page fault in kernel mode")
sys.exit(35)
'''


class EndToEndTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.tmp = Path(self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def script(self, name, body):
        path = self.tmp / name
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(0o755)
        return str(path)

    def run_main(self, argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = ktest.main(argv)
        return code, out.getvalue().splitlines()

    def test_host_binaries_counted_and_total_line_last(self):
        ok = self.script("ok_test", f"print({ALL_OK!r})")
        crash = self.script("crash_test", f"print({ALL_OK!r}); import sys; sys.exit(1)")
        code, lines = self.run_main(["--host", ok, "--host", crash])
        self.assertEqual(code, 1)
        self.assertIn("FAIL host crash_test: crashed (exit 1)", lines)
        self.assertEqual(lines[-1], "6 passed, 1 failed")

    def run_matrix(self, text, isos):
        """Run matrix `text` on the fake QEMU; return the tally, the output and the log directory."""
        matrix, logs = self.tmp / "matrix", self.tmp / "logs"
        matrix.write_text(text)
        old_qemu, ktest.QEMU = ktest.QEMU, self.script("qemu", FAKE_QEMU)
        tally = ktest.Tally()
        try:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                ktest.run_matrix(isos, matrix, None, 10, logs, tally)
        finally:
            ktest.QEMU = old_qemu
        return tally, out.getvalue(), logs

    def isos(self, *present):
        isos = {k: self.tmp / f"{k}.iso" for k in ktest.DEFAULT_KERNELS}
        for k in present:
            isos[k].write_text("")
        return isos

    def test_matrix_boot_then_death_boot(self):
        tally, out, logs = self.run_matrix("bios bios 64M release tcg yes\nsmall bios 32M release tcg no\n",
                                           self.isos("release"))
        self.assertEqual(ktest.summary(tally.counts), "3 passed, 0 failed, 1 skipped", out)
        self.assertEqual(sorted(p.name for p in logs.iterdir()),
                         ["bios.log", "bios.printf.null_deref.log", "small.log"])
        self.assertIn("Kernel panic", (logs / "bios.printf.null_deref.log").read_text())

    def test_each_row_and_its_death_boots_run_the_kernel_it_names(self):
        isos = self.isos("release", "debug")
        tally, out, logs = self.run_matrix("rel bios 64M release tcg yes\ndbg bios 64M debug tcg yes\n", isos)
        self.assertEqual(ktest.summary(tally.counts), "4 passed, 0 failed", out)
        for row, kernel in [("rel", "release"), ("dbg", "debug")]:
            for name in [f"{row}.log", f"{row}.printf.null_deref.log"]:
                self.assertIn(f"booting {isos[kernel]}\n", (logs / name).read_text(), name)

    def test_missing_kernel_iso_fails_once_and_the_other_rows_still_boot(self):
        isos = self.isos("release")
        tally, out, logs = self.run_matrix("a bios 64M debug tcg no\nb bios 64M release tcg no\n"
                                           "c bios 32M debug tcg no\n", isos)
        self.assertEqual(ktest.summary(tally.counts), "1 passed, 1 failed, 1 skipped", out)
        self.assertIn(f"FAIL matrix: debug kernel: {isos['debug']} not found (build it first)", out)
        self.assertEqual(sorted(p.name for p in logs.iterdir()), ["b.log"])

    def test_kernel_isos_default_to_the_build_and_follow_the_options(self):
        self.assertEqual(ktest.kernel_isos(ktest.parse_args([])), ktest.DEFAULT_KERNELS)
        isos = ktest.kernel_isos(ktest.parse_args(["--iso", "r.iso", "--iso-debug", "d.iso"]))
        self.assertEqual(isos, {"release": Path("r.iso"), "debug": Path("d.iso")})

    def test_halt_check_passes_on_message_and_fails_without(self):
        msg = "does not support x86-64 long mode"
        self.assertFalse(ktest.judge_halt("no-lm", f"Tidemark: this CPU {msg}; halting", msg).failed)
        verdict = ktest.judge_halt("no-lm", "KTAP version 1\n1..0\n", msg)
        self.assertTrue(verdict.failed)
        self.assertIn(msg, verdict.problem)

    def test_unknown_only_config_fails(self):
        matrix = self.tmp / "matrix"
        matrix.write_text("bios bios 64M release tcg yes\n")
        code, lines = self.run_main(["--matrix", str(matrix), "--only", "nope"])
        self.assertEqual((code, lines[-1]), (1, "0 passed, 1 failed"))


if __name__ == "__main__":
    unittest.main()
