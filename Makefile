# Tidemark - build, run and test.
#
#   make            kernel ELF (build/tidemark.elf)
#   make iso        hybrid BIOS+UEFI ISO (build/tidemark.iso)
#   make debug-iso  the same with -DDEBUG (build/debug/tidemark.iso)
#   make run        boot the ISO in QEMU, serial console on this terminal
#   make test       host tests, then the in-kernel tests on the boot matrix
#                   (both kernels: tests/matrix says which row boots which)
#   make gdb        QEMU halted at reset, gdb attached, breakpoint on kmain
#   make stack-report  worst-case stack depths, frames, heap allocations (gcc)
#   make deps       install the Debian/Ubuntu packages the above need
#   make clean
#
# Knobs: CC=clang, CROSS=x86_64-elf-, BUILD=dir, CMDLINE="opts" (make run),
# EXTRA_KTESTS="a.c b.c" (extra in-kernel test files), MATRIX=name (make test),
# STACK_ENTRIES="regex ..." (more entry functions for make stack-report).

BUILD        ?= build
CROSS        ?=
ifeq ($(origin CC),default)
CC           := $(CROSS)gcc
endif
LD           := $(CROSS)ld
NM           := $(CROSS)nm
OBJDUMP      := $(CROSS)objdump
HOSTCC       ?= cc
PYTHON       ?= python3
QEMU         ?= qemu-system-x86_64

# The data segment (.data + .bss) is fixed at link time; linker.ld asserts it
# stays within this budget. The image must end below IMAGE_LIMIT (physical).
DATA_BUDGET  ?= 0x400000
IMAGE_LIMIT  ?= 0x1000000

# A frame above 1 KiB is worth a look (thread stacks will grow a page at a time),
# not a broken build. The spelling with "=" is the one both gcc and clang accept;
# a file or function that means it says #pragma GCC diagnostic ignored
# "-Wframe-larger-than=" (both compilers take that spelling too). And with
# -fstack-clash-protection (below), a frame larger than a page is touched page
# by page as it is made, so it hits a guard page rather than jumping it.
FRAME_WARN := -Wframe-larger-than=1024 -Wno-error=frame-larger-than=
KCFLAGS := -std=gnu11 -O2 -g -ffreestanding -fno-pic -fno-pie -mno-red-zone \
	-mcmodel=kernel -mgeneral-regs-only -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer \
	-fno-optimize-sibling-calls -fno-stack-protector -fno-strict-aliasing \
	-fno-delete-null-pointer-checks -fno-asynchronous-unwind-tables -fstack-clash-protection \
	-Wall -Wextra -Werror $(FRAME_WARN) -I. -MMD -MP $(EXTRA_CFLAGS)
KASFLAGS := $(filter-out -std=gnu11 -O2,$(KCFLAGS)) -D__ASSEMBLER__

# For make stack-report, gcc writes x.c.su (-fstack-usage) and x.c.ci
# (-fcallgraph-info=su) beside each C object x.c.o. They change no generated
# code (.text, .rodata and .data of the ELF are byte-identical with and without
# them), so the normal build writes them and the report reads the very objects
# that are linked, with no second compile. Clang has no -fcallgraph-info: then
# they are left out, and make stack-report says so.
STACK_INFO := $(shell $(CC) -fcallgraph-info=su -E -x c /dev/null -o /dev/null 2>/dev/null && echo yes)
KCFLAGS += $(if $(STACK_INFO),-fstack-usage -fcallgraph-info=su)

KLDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --orphan-handling=error \
	-T linker.ld --defsym DATA_BUDGET=$(DATA_BUDGET) --defsym IMAGE_LIMIT=$(IMAGE_LIMIT)

KSRCS := $(wildcard boot/*.S) $(wildcard kernel/*.c kernel/*.S) $(wildcard mm/*.c) $(wildcard bench/kernel/*.c) \
	$(wildcard tests/kernel/*.c)
KOBJS := $(patsubst %,$(BUILD)/obj/%.o,$(KSRCS))

# Extra test files may live anywhere: each object is named by its position.
EXTRA_KTESTS ?=
EXTRA_OBJS :=
define extra_rule
$(BUILD)/extra/$(words $(EXTRA_OBJS))-$(notdir $(1)).o: $(1)
	@mkdir -p $$(dir $$@)
	@echo "  CC      $(1)"
	$(Q)$$(CC) $$(KCFLAGS) -c $$< -o $$@
EXTRA_OBJS += $(BUILD)/extra/$(words $(EXTRA_OBJS))-$(notdir $(1)).o
endef
$(foreach f,$(EXTRA_KTESTS),$(eval $(call extra_rule,$(f))))

# Relink when the list of extra test files changes.
EXTRA_STAMP := $(BUILD)/extra-ktests.list
$(shell mkdir -p $(BUILD); echo "$(EXTRA_KTESTS)" | cmp -s - $(EXTRA_STAMP) || echo "$(EXTRA_KTESTS)" > $(EXTRA_STAMP))

ELF := $(BUILD)/tidemark.elf
ISO := $(BUILD)/tidemark.iso
# The debug kernel: the same sources with -DDEBUG (DEBUG_ASSERTs and the
# lock-rank check compiled in), built by a make of its own with its own
# build directory, so its objects never mix with the release kernel's.
DEBUG_ISO := $(BUILD)/debug/tidemark.iso

# Host tests: the same sources, built for the host with sanitizers and, as
# the debug kernel, with DEBUG_ASSERTs (fuzz targets too: an input that
# breaks an invariant stops where it breaks it).
HOSTCFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -I. -DHOST_TEST -DDEBUG \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# Built in one step without dependency files, so each depends on every header
# (a header's change must not leave a stale binary passing).
HOST_HEADERS := $(wildcard kernel/*.h mm/*.h tests/host/*.h)
HOST_TESTS := printf_test cmdline_test symbols_test memmap_test bootinfo_test pmm_test slab_test scale_test kstack_test gc_test
host_srcs_printf_test  := kernel/printf.c
host_srcs_scale_test   := kernel/scale.c tests/host/kshim.c kernel/printf.c
host_srcs_cmdline_test := kernel/cmdline.c kernel/printf.c
host_srcs_symbols_test := kernel/symbols.c
host_srcs_memmap_test  := mm/memmap.c kernel/printf.c
host_srcs_bootinfo_test := kernel/bootinfo.c tests/host/kshim.c kernel/printf.c
host_srcs_pmm_test     := mm/pmm.c tests/host/kshim.c kernel/printf.c
host_srcs_kstack_test  :=
host_srcs_gc_test      := mm/gc_heap.c mm/gc_mark.c tests/host/gc_shim.c tests/host/kshim.c kernel/printf.c
host_srcs_slab_test    := mm/slab.c mm/slab_cache.c mm/slab_footprint.c mm/slab_check.c mm/slab_debug.c mm/slab_fast.c mm/kmalloc.c mm/pmm.c tests/host/kshim.c kernel/printf.c
HOST_BINS := $(addprefix $(BUILD)/host/,$(HOST_TESTS))

# libFuzzer targets (clang): the same sources as the host tests.
FUZZERS := memmap_fuzz pmm_fuzz slab_fuzz gc_fuzz
FUZZ_SECONDS ?= 60
fuzz_srcs_memmap_fuzz := $(host_srcs_memmap_test)
fuzz_srcs_pmm_fuzz    := $(host_srcs_pmm_test)
fuzz_srcs_slab_fuzz   := $(host_srcs_slab_test)
fuzz_srcs_gc_fuzz     := $(host_srcs_gc_test)
FUZZCFLAGS := -std=gnu11 -g -O1 -I. -DHOST_TEST -DDEBUG -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all

.PHONY: all iso debug-iso run test host-tests fuzz bench bench-deps gdb deps deps-check clean stack-report
all: $(ELF)
iso: $(ISO)

# Flags live here: a changed Makefile rebuilds everything.
$(KOBJS) $(EXTRA_OBJS): Makefile

# V=1 shows the full commands.
ifneq ($(V),1)
Q := @
endif

# The heap's fast paths end their failures in tail calls and are leaves
# without frames of their own (mm/slab_fast.c says why); everything else
# keeps every frame, for whole backtraces.
$(BUILD)/obj/mm/slab_fast.c.o: KCFLAGS += -foptimize-sibling-calls -momit-leaf-frame-pointer

$(BUILD)/obj/%.c.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(KCFLAGS) -c $< -o $@

$(BUILD)/obj/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)$(CC) $(KASFLAGS) -c $< -o $@

# Two-pass link: pass 1 with an empty symbol table, pass 2 with pass 1's
# symbols. The table sits after .text, so code addresses must not move; the
# check below proves it.
$(BUILD)/ksyms-empty.S: tools/gensyms.sh
	@mkdir -p $(dir $@)
	$(Q)sh tools/gensyms.sh $(NM) > $@
$(BUILD)/%.o: $(BUILD)/%.S
	@echo "  AS      $<"
	$(Q)$(CC) $(KASFLAGS) -c $< -o $@

$(BUILD)/tidemark.pass1.elf: $(KOBJS) $(EXTRA_OBJS) $(BUILD)/ksyms-empty.o linker.ld $(EXTRA_STAMP)
	@echo "  LD      $@"
	$(Q)$(LD) $(KLDFLAGS) -o $@ $(KOBJS) $(EXTRA_OBJS) $(BUILD)/ksyms-empty.o
$(BUILD)/ksyms.S: $(BUILD)/tidemark.pass1.elf tools/gensyms.sh
	@echo "  SYMS    $@"
	$(Q)sh tools/gensyms.sh $(NM) $< > $@
$(ELF): $(BUILD)/tidemark.pass1.elf $(BUILD)/ksyms.o
	@echo "  LD      $@"
	$(Q)$(LD) $(KLDFLAGS) -o $@ $(KOBJS) $(EXTRA_OBJS) $(BUILD)/ksyms.o
	$(Q)$(NM) -n $(BUILD)/tidemark.pass1.elf | grep -i ' t ' > $(BUILD)/pass1.syms
	$(Q)$(NM) -n $@ | grep -i ' t ' > $(BUILD)/pass2.syms
	@cmp -s $(BUILD)/pass1.syms $(BUILD)/pass2.syms || \
		{ echo "error: code moved between link passes; symbol table would lie"; rm -f $@; exit 1; }
	@if command -v grub-file >/dev/null; then \
		grub-file --is-x86-multiboot2 $@ || { echo "error: $@ is not multiboot2"; rm -f $@; exit 1; }; fi

$(ISO): $(ELF) boot/grub.cfg
	@$(MAKE) --no-print-directory deps-check
	@echo "  ISO     $@"
	$(Q)rm -rf $(BUILD)/isodir
	$(Q)mkdir -p $(BUILD)/isodir/boot/grub
	$(Q)cp $(ELF) $(BUILD)/isodir/boot/tidemark.elf
	$(Q)cp boot/grub.cfg $(BUILD)/isodir/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(BUILD)/isodir 2> $(BUILD)/grub-mkrescue.log || \
		{ cat $(BUILD)/grub-mkrescue.log; exit 1; }

# Phony: the sub-make knows whether the debug kernel is up to date.
debug-iso:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/debug EXTRA_CFLAGS="$(EXTRA_CFLAGS) -DDEBUG" iso

QEMU_FLAGS := -accel tcg -machine pc -cpu max -m 128M -display none -no-reboot \
	-serial stdio -monitor none -nic none -device isa-debug-exit,iobase=0xf4,iosize=0x04
CMDLINE ?=
comma := ,
# fw_cfg option syntax: commas separate properties, so a comma in the value is doubled.
qemu_cmdline = $(if $(CMDLINE),-fw_cfg 'name=opt/tidemark/cmdline$(comma)string=$(subst $(comma),$(comma)$(comma),$(CMDLINE))')

# QEMU exits 33 when the kernel reports success, 35 on failure or panic.
run: $(ISO)
	@$(QEMU) $(QEMU_FLAGS) -cdrom $(ISO) $(qemu_cmdline) < /dev/null; rc=$$?; \
	case $$rc in \
	33) exit 0 ;; \
	0)  echo "make run: QEMU exited 0: triple fault or reset"; exit 1 ;; \
	35) echo "make run: the kernel reported a failure or panicked"; exit 1 ;; \
	*)  echo "make run: QEMU exited $$rc"; exit 1 ;; \
	esac

.SECONDEXPANSION:
$(BUILD)/host/%: tests/host/%.c $(HOST_HEADERS) $$(host_srcs_$$*)
	@mkdir -p $(dir $@)
	@echo "  HOSTCC  $@"
	$(Q)$(HOSTCC) $(HOSTCFLAGS) $< $(host_srcs_$*) -o $@

host-tests: $(HOST_BINS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(HOST_HEADERS) $$(fuzz_srcs_$$*)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $@"
	$(Q)clang $(FUZZCFLAGS) $< $(fuzz_srcs_$*) -o $@

# Each target runs FUZZ_SECONDS from an empty corpus (CI gives it a short run).
fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZERS))
	@for f in $(FUZZERS); do \
		echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
		mkdir -p $(BUILD)/fuzz/$$f.corpus; \
		$(BUILD)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/$$f. \
			$(BUILD)/fuzz/$$f.corpus > $(BUILD)/fuzz/$$f.log 2>&1 || \
			{ tail -40 $(BUILD)/fuzz/$$f.log; echo "fuzz: $$f FAILED"; exit 1; }; \
		grep -E '^stat::number_of_executed_units' $(BUILD)/fuzz/$$f.log; \
	done

test: deps-check $(ISO) debug-iso $(HOST_BINS)
	$(PYTHON) tools/ktest.py --selftest $(addprefix --host ,$(HOST_BINS)) \
		--iso $(ISO) --iso-debug $(DEBUG_ISO) --matrix tests/matrix $(if $(MATRIX),--only $(MATRIX))

# Entry functions beyond tools/stack_report.py's DEFAULT_ENTRIES (kmain,
# ktest_fn_*, kbench_fn_*): full-match regexes, e.g. STACK_ENTRIES='worker_main'.
STACK_ENTRIES ?=
ifeq ($(STACK_INFO),yes)
stack-report: $(KOBJS) $(EXTRA_OBJS)
	$(Q)$(PYTHON) tools/stack_report.py --objdump $(OBJDUMP) $(addprefix --entry ,$(STACK_ENTRIES)) \
		$(filter %.c.o,$(KOBJS)) $(EXTRA_OBJS)
else
stack-report:
	@echo "make stack-report needs gcc 10 or later (-fcallgraph-info); $(CC) lacks it: use CC=gcc"; exit 1
endif

# Benchmarks: host builds are optimised and unsanitised, unlike the host tests.
BENCHCFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. -DHOST_TEST
HOST_BENCHES := pmm_bench
bench_srcs_pmm_bench := mm/pmm.c tests/host/kshim.c kernel/printf.c
# Built in one step, without dependency files: any kernel header may matter.
BENCH_HEADERS := $(wildcard kernel/*.h mm/*.h)

$(BUILD)/bench/%: bench/host/%.c $$(bench_srcs_$$*) $(BENCH_HEADERS)
	@mkdir -p $(dir $@)
	@echo "  HOSTCC  $@"
	$(Q)$(HOSTCC) $(BENCHCFLAGS) $< $(bench_srcs_$*) -o $@

# The heap against other allocators: one binary per allocator from
# bench/host/slab_bench.c. Tidemark's is mm/slab.c on the test shim; each
# other links the library whose malloc replaces glibc's (glibc's own: -lc).
SLAB_ALLOCS := tidemark glibc jemalloc mimalloc tcmalloc
slab_lib_glibc    := c
slab_lib_jemalloc := jemalloc
slab_lib_mimalloc := mimalloc
slab_lib_tcmalloc := tcmalloc_minimal
slab_srcs_tidemark := mm/slab.c mm/slab_cache.c mm/slab_footprint.c mm/slab_check.c mm/slab_debug.c mm/slab_fast.c mm/kmalloc.c mm/pmm.c tests/host/kshim.c kernel/printf.c
slab_deps_tidemark := $(BENCH_HEADERS)
HOST_BENCHES += $(addprefix slab_bench_,$(SLAB_ALLOCS))

# Order-only on bench-deps: the peers' libraries must be installed before
# linking, which is no reason to relink.
$(BUILD)/bench/slab_bench_%: bench/host/slab_bench.c $$(slab_srcs_$$*) $$(slab_deps_$$*) | bench-deps
	@mkdir -p $(dir $@)
	@echo "  HOSTCC  $@"
	$(Q)$(HOSTCC) $(BENCHCFLAGS) -pthread -DALLOC_NAME='"$*"' \
		$(if $(slab_lib_$*),-DALLOC_LIB='"$(slab_lib_$*)"',-DALLOC_TIDEMARK) \
		$< $(slab_srcs_$*) -o $@ $(addprefix -l,$(slab_lib_$*))

# The collector against Boehm's and Go's: one binary per collector from
# bench/host/gc_bench.c (Tidemark's core in whole-collection mode, on
# bench/host/gc_machine.c; libgc), and the same trees in Go (bench/host/binarytrees.go).
GC_COLLECTORS := tidemark boehm
gc_flags_tidemark := -DGC_TIDEMARK
gc_flags_boehm    := -DGC_BOEHM
gc_srcs_tidemark  := mm/gc_heap.c mm/gc_mark.c bench/host/gc_machine.c tests/host/kshim.c kernel/printf.c
gc_deps_tidemark  := $(BENCH_HEADERS) tests/host/gc_shim.h
gc_libs_boehm     := -lgc
HOST_BENCHES += $(addprefix gc_bench_,$(GC_COLLECTORS)) binarytrees

$(BUILD)/bench/gc_bench_%: bench/host/gc_bench.c $$(gc_srcs_$$*) $$(gc_deps_$$*) | bench-deps
	@mkdir -p $(dir $@)
	@echo "  HOSTCC  $@"
	$(Q)$(HOSTCC) $(BENCHCFLAGS) $(gc_flags_$*) $< $(gc_srcs_$*) -o $@ $(gc_libs_$*)

# golang-go puts go on PATH; a Go installed in /usr/lib/go alone is found
# there. Its cache and GOPATH live in the build directory and no module is
# fetched, so the build needs neither a home directory nor the network.
GO ?= $(shell command -v go || echo /usr/lib/go/bin/go)
$(BUILD)/bench/binarytrees: bench/host/binarytrees.go | bench-deps
	@mkdir -p $(dir $@)
	@echo "  GO      $@"
	$(Q)GOCACHE=$(abspath $(BUILD))/go-cache GOPATH=$(abspath $(BUILD))/go GOPROXY=off \
		$(GO) build -o $@ $<

bench: deps-check $(ISO) $(addprefix $(BUILD)/bench/,$(HOST_BENCHES))
	$(PYTHON) tools/bench.py --iso $(ISO) $(addprefix --host ,$(addprefix $(BUILD)/bench/,$(HOST_BENCHES)))

bench-deps:
	@HOSTCC=$(HOSTCC) sh tools/deps.sh check bench || HOSTCC=$(HOSTCC) sh tools/deps.sh install bench

gdb: $(ISO)
	@echo "QEMU waits for gdb on :1234; gdb stops at kmain. Quit gdb to stop QEMU."
	$(QEMU) $(QEMU_FLAGS) -cdrom $(ISO) -s -S $(qemu_cmdline) < /dev/null > $(BUILD)/gdb-serial.log & \
	qpid=$$!; gdb -q -x tools/gdbinit $(ELF); kill $$qpid 2>/dev/null; true

deps:
	sh tools/deps.sh install

deps-check:
	@sh tools/deps.sh check || sh tools/deps.sh install

clean:
	rm -rf $(BUILD) build-clang

-include $(KOBJS:.o=.d) $(EXTRA_OBJS:.o=.d)
