#!/usr/bin/env python3
"""Unit tests for tools/stack_report.py, the static stack and heap report.

Graph and disassembly cases feed hand-written .ci/.su/objdump text, so the figures are known
exactly; one end-to-end case compiles a small C file with gcc (-fstack-usage
-fcallgraph-info=su, as the kernel build does) and checks the report against gcc's own .su.
Run with `python3 tools/test_stack_report.py` or `tools/ktest.py --selftest`.
"""

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack_report as sr  # noqa: E402

# kmain -> helper -> leaf; kmain -> rec (calls itself); kmain -> via_ptr -> (indirect);
# kmain -> asm_fn (no node). Frames: kmain 32, helper 100, leaf 8, rec 48, via_ptr 16.
CI = textwrap.dedent(r'''
    graph: { title: "a.c"
    node: { title: "kmain" label: "kmain\na.c:10:6\n32 bytes (static)" }
    node: { title: "a.c:helper" label: "helper\na.c:4:13\n100 bytes (dynamic,bounded)" }
    edge: { sourcename: "kmain" targetname: "a.c:helper" label: "a.c:11:2" }
    node: { title: "leaf" label: "leaf\nb.h:1:6" shape : ellipse }
    edge: { sourcename: "a.c:helper" targetname: "leaf" label: "a.c:5:2" }
    node: { title: "a.c:rec" label: "rec\na.c:7:12\n48 bytes (static)" }
    edge: { sourcename: "a.c:rec" targetname: "a.c:rec" label: "a.c:7:40" }
    edge: { sourcename: "kmain" targetname: "a.c:rec" label: "a.c:12:2" }
    node: { title: "asm_fn" label: "asm_fn\nb.h:2:6" shape : ellipse }
    edge: { sourcename: "kmain" targetname: "asm_fn" label: "a.c:13:2" }
    node: { title: "via_ptr" label: "via_ptr\na.c:8:6\n16 bytes (static)" }
    node: { title: "__indirect_call" label: "Indirect Call Placeholder" shape : ellipse }
    edge: { sourcename: "via_ptr" targetname: "__indirect_call" label: "a.c:8:20" }
    edge: { sourcename: "kmain" targetname: "via_ptr" label: "a.c:14:2" }
    node: { title: "kmalloc" label: "kmalloc\nb.h:3:7" shape : ellipse }
    edge: { sourcename: "kmain" targetname: "kmalloc" label: "a.c:15:12" }
    }
    ''')
CI_B = textwrap.dedent(r'''
    graph: { title: "b.c"
    node: { title: "leaf" label: "leaf\nb.c:1:6\n8 bytes (static)" }
    node: { title: "b.c:helper" label: "helper\nb.c:2:13\n500 bytes (static)" }
    }
    ''')
SU = "a.c:10:6:kmain\t32\tstatic\na.c:4:13:helper\t100\tdynamic,bounded\na.c:7:12:rec\t48\tstatic\n" \
     "a.c:8:6:via_ptr\t16\tstatic\n"


class GraphTest(unittest.TestCase):
    def setUp(self):
        self.graph = sr.link([sr.parse_ci(CI), sr.parse_ci(CI_B)])
        self.depths, self.comp_of = sr.analyse(self.graph)

    def depth(self, title):
        return self.depths[self.comp_of[title]]

    def test_static_names_are_per_file_and_globals_link_across_files(self):
        self.assertEqual(self.graph.callees["a.c:helper"], ["leaf"])
        self.assertEqual(self.graph.funcs["b.c:helper"].frame, 500)
        self.assertEqual(self.graph.funcs["a.c:helper"].bare, "helper")

    def test_deepest_path_sums_frames(self):
        d = self.depth("kmain")
        self.assertEqual(d.depth, 32 + 100 + 8)
        self.assertEqual([what.split()[0] for what, _ in sr.path(self.graph, self.depths, self.comp_of["kmain"])],
                         ["kmain", "helper", "leaf"])

    def test_recursion_indirect_and_unknown_callees_make_it_a_lower_bound(self):
        d = self.depth("kmain")
        self.assertFalse(d.bounded)
        self.assertEqual([self.depths[i].members for i in d.recursion], [["a.c:rec"]])
        self.assertEqual(d.indirect, {"via_ptr"})
        self.assertEqual(d.unknown, {"asm_fn", "kmalloc"})
        self.assertTrue(self.depth("a.c:helper").bounded)
        self.assertEqual(self.depth("via_ptr").depth, 16 + sr.CALL_FRAME)

    def test_mutual_recursion_is_one_component_counted_once_each(self):
        ci = textwrap.dedent(r'''
            graph: { title: "m.c"
            node: { title: "top" label: "top\nm.c:1:1\n10 bytes (static)" }
            node: { title: "a" label: "a\nm.c:2:1\n20 bytes (static)" }
            node: { title: "b" label: "b\nm.c:3:1\n30 bytes (static)" }
            edge: { sourcename: "top" targetname: "a" label: "m.c:1:9" }
            edge: { sourcename: "a" targetname: "b" label: "m.c:2:9" }
            edge: { sourcename: "b" targetname: "a" label: "m.c:3:9" }
            }
            ''')
        graph = sr.link([sr.parse_ci(ci)])
        depths, comp_of = sr.analyse(graph)
        self.assertEqual(depths[comp_of["a"]].members, ["a", "b"])
        self.assertEqual(depths[comp_of["top"]].depth, 60)
        self.assertRegex(sr.report(graph, ["top"], [], 1, 1), r"\n +60\+  R +top\n")

    def test_su_must_agree_with_ci(self):
        unit = sr.parse_ci(CI)
        self.assertEqual(sr.check_su(unit, sr.parse_su(SU)), [])
        problems = sr.check_su(unit, sr.parse_su(SU.replace("\t48\t", "\t64\t")))
        self.assertEqual(len(problems), 2, problems)

    def test_report_marks_and_sections(self):
        text = sr.report(self.graph, ["kmain"], [], 2, 1)
        self.assertIn("     140+  RIU    kmain", text)
        self.assertIn("    rec (a.c:7:12)", text)
        self.assertRegex(text, r"via_ptr +at a\.c:8:20")
        self.assertRegex(text, r"asm_fn +from kmain")
        self.assertIn("helper 100", text)      # a bounded dynamic frame, listed


# objdump -d -r -l --no-show-raw-insn, cut down: one function, four allocator calls.
DISASM = textwrap.dedent('''
    Disassembly of section .text:

    0000000000000000 <f>:
    f():
    /src/t.c:5
       0:\tpush   %rbp
       1:\tmov    $0x28,%edi
       6:\tmov    %rsp,%rbp
       9:\tmovslq %eax,%rbx
       c:\tcall   11 <f+0x11>
    \t\t\td: R_X86_64_PLT32\tkmalloc-0x4
    /src/t.c:6
      11:\txor    %esi,%esi
      13:\tmov    %rbx,%rdi
      16:\tcall   1b <f+0x1b>
    \t\t\t17: R_X86_64_PLT32\tpmm_alloc-0x4
    /src/t.c:7
      1b:\tmov    $0x40,%edi
      20:\ttest   %eax,%eax
      22:\tjne    26 <f+0x26>
      24:\tmov    %ebx,%edi
      26:\tcall   2b <f+0x2b>
    \t\t\t27: R_X86_64_PLT32\tkmalloc-0x4
    /src/t.c:8
      2b:\tmov    $0x2,%edi
      30:\tmov    %rax,%rsi
      33:\tjmp    38 <f+0x38>
    \t\t\t34: R_X86_64_PLT32\tpage_alloc-0x4
    ''')


class ObjdumpTest(unittest.TestCase):
    def sites(self, relocs=""):
        return [(s.line, s.allocator, s.size) for s in sr.parse_objdump(DISASM, relocs, Path("/src"), "t.c")]

    def test_immediates_and_xor_are_constants_behind_unrelated_instructions(self):
        self.assertEqual(self.sites()[:2], [(5, "kmalloc", 40), (6, "pmm_alloc", 0)])

    def test_a_jump_target_between_write_and_call_is_not_constant(self):
        self.assertEqual(self.sites()[2], (7, "kmalloc", None))

    def test_tail_jump_counts_and_the_file_is_relative_to_the_tree(self):
        self.assertEqual(self.sites()[3], (8, "page_alloc", 2))
        self.assertEqual({s.file for s in sr.parse_objdump(DISASM, "", Path("/src"), "t.c")}, {"t.c"})

    def test_a_jump_table_entry_is_a_target_debug_relocations_are_not(self):
        relocs = ("RELOCATION RECORDS FOR [.debug_line]:\n"
                  "OFFSET           TYPE              VALUE\n"
                  "0000000000000010 R_X86_64_64       .text+0x0000000000000006\n"
                  "RELOCATION RECORDS FOR [.rodata]:\n"
                  "OFFSET           TYPE              VALUE\n"
                  "0000000000000000 R_X86_64_64       .text+0x000000000000000c\n")
        self.assertEqual(self.sites(relocs)[0], (5, "kmalloc", None))
        self.assertEqual(self.sites(relocs.split("RELOCATION RECORDS FOR [.rodata]")[0])[0], (5, "kmalloc", 40))

    def test_call_text_finds_a_nested_call(self):
        src = "int x;\n\tKEXPECT_EQ(kfree(kmalloc(sizeof(struct s),\n\t\t0)), 0);\n"
        self.assertEqual(sr.call_text(src, 2, 2, "kmalloc"), "kmalloc(sizeof(struct s), 0)")
        self.assertEqual(sr.call_text(src, 2, 2, "kzalloc"), "")

    def test_sizes_shown_by_unit(self):
        self.assertEqual(sr.show_size("page_alloc", [2]), "order 2 (16 KiB)")
        self.assertEqual(sr.show_size("kmalloc", [None, 64]), "64 B, not constant")
        self.assertEqual(sr.show_size("kmem_cache_alloc", []), "cache's object size")


FIXTURE = textwrap.dedent('''
    #include <stddef.h>
    void *kmalloc(size_t n, unsigned flags);
    void *page_alloc(unsigned order, unsigned flags);
    struct s { long a[5]; };
    void (*hook)(void);
    __attribute__((noipa)) int rec(int n) {
        volatile char b[64];
        b[0] = (char)n;
        return n > 0 ? rec(n - 1) + b[0] : 0;
    }
    __attribute__((noipa)) void *leaf_alloc(size_t n) { return kmalloc(n, 0); }
    __attribute__((noipa)) void *mid(void) {
        volatile char big[200];
        big[0] = 1;
        return leaf_alloc((size_t)big[0]);
    }
    __attribute__((noipa)) void calls_hook(void) { hook(); }
    void *kmain(int n) {
        void *p = kmalloc(sizeof(struct s), 0);
        void *q = page_alloc(2, 0);
        calls_hook();
        rec(n);
        return mid() ? p : q;
    }
    ''').lstrip()
# The kernel's flags that shape frames, and the two that write the inputs.
GCC_FLAGS = ["-O2", "-g", "-ffreestanding", "-mno-red-zone", "-fno-omit-frame-pointer",
             "-mno-omit-leaf-frame-pointer", "-fno-optimize-sibling-calls",
             "-fstack-usage", "-fcallgraph-info=su"]


@unittest.skipUnless(shutil.which("gcc") and shutil.which("objdump"), "needs gcc and objdump")
class EndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        root = Path(cls.dir.name)
        (root / "t.c").write_text(FIXTURE)
        subprocess.run(["gcc", *GCC_FLAGS, "-c", "t.c", "-o", "t.c.o"], cwd=root, check=True)
        cls.frames = {}
        for line in (root / "t.c.su").read_text().splitlines():
            loc, frame, _ = line.split("\t")
            cls.frames[loc.rsplit(":", 1)[1]] = int(frame)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cls.code = sr.main(["--root", str(root), str(root / "t.c.o")])
        cls.text = out.getvalue()

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_depth_of_kmain_is_its_deepest_chain_of_gcc_frames(self):
        f = self.frames
        deepest = f["kmain"] + max(f["mid"] + f["leaf_alloc"] + sr.CALL_FRAME, f["rec"],
                                   f["calls_hook"] + sr.CALL_FRAME)
        self.assertEqual(self.code, 0)
        self.assertIn(f"{deepest:>8}+  RIU    kmain\n", self.text)

    def test_recursion_and_indirect_call_named(self):
        self.assertRegex(self.text, r"Recursion \(1 cycles.*\n    rec \(t\.c:6:")
        self.assertRegex(self.text, r"\n    calls_hook +at t\.c:17:")

    def test_constant_sizes_found_and_a_variable_one_is_not(self):
        self.assertRegex(self.text, r"40 B +kmalloc\(sizeof\(struct s\), 0\) +kmain \(t\.c:19\)")
        self.assertRegex(self.text, r"order 2 \(16 KiB\) +page_alloc\(2, 0\) +kmain \(t\.c:20\)")
        self.assertRegex(self.text, r"not constant +kmalloc\(n, 0\) +leaf_alloc \(t\.c:11\)")

    def test_missing_inputs_and_unknown_entries_fail(self):
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(sr.main([str(Path(self.dir.name) / "none.c.o")]), 1)
            self.assertEqual(sr.main(["--root", self.dir.name, "--entry", "nope",
                                      str(Path(self.dir.name) / "t.c.o")]), 1)
        self.assertIn("none.c.ci missing", err.getvalue())
        self.assertIn("nope", err.getvalue())


if __name__ == "__main__":
    unittest.main()
