/*
 * tests/host/bootinfo_test.c - kernel/bootinfo.c's multiboot2 parsing on
 * crafted information blocks, under ASan and UBSan: each block is copied
 * into a heap buffer of exactly its stated size, so that a read past it is
 * caught. A block the loader got wrong must be parsed as far as it is sound,
 * with a message, and never read outside itself or hang.
 */
#include "htest.h"
#include "kernel/bootinfo.h"
#include "kernel/console.h"
#include "mm/layout.h"

#include <stdlib.h>
#include <string.h>

#define HEXPECT_CONTAINS(hay, needle)	HEXPECT_TRUE(strstr((hay), (needle)) != NULL)

#define INFO_PHYS	0x1000		/* where the tests place the block */

/* The linker's symbols, which bootinfo_report prints (not called here). */
char __kernel_phys_start[1], __kernel_phys_end[1], __text_start[1], __text_end[1];
char __rodata_start[1], __rodata_end[1], __data_end[1], __bss_end[1];

static char out[4096];
static void *block;

/* Parse the words w (w[0] is the total size in bytes) as the information
 * at INFO_PHYS; the console output lands in out. */
static void parse_words(const uint32_t *w)
{
	uint32_t total = w[0];
	free(block);
	block = aligned_alloc(8, (total + 7) & ~7u);
	memcpy(block, w, total);
	host_phys_base = (uint8_t *)block - INFO_PHYS;
	bootinfo = (struct bootinfo){ .cmdline = "", .loader = "(unknown)" };
	console_capture(out, sizeof(out));
	bootinfo_parse(INFO_PHYS);
	console_capture(NULL, 0);
}

#define MB2_USABLE	1
#define MB2_RESERVED	2

HTEST(well_formed_block_is_read_whole)
{
	static const uint32_t w[] = {
		96, 0,
		1, 16, 'a' | 'b' << 8 | '=' << 16 | '1' << 24, 0,		/* cmdline "ab=1" */
		6, 64, 24, 0,							/* memory map, 2 entries */
		0x0, 0x0, 0x9fc00, 0x0, MB2_USABLE, 0,
		0x100000, 0x0, 0x7f00000, 0x0, MB2_USABLE, 0,
		0, 8,								/* end */
	};
	parse_words(w);
	HEXPECT_STREQ(bootinfo.cmdline, "ab=1");
	HEXPECT_EQ(bootinfo.mmap_count, 2);
	HEXPECT_EQ(bootinfo_mmap_entry(1).base, 0x100000);
	HEXPECT_EQ(bootinfo_mmap_entry(1).length, 0x7f00000);
	HEXPECT_STREQ(out, "");
}

/* A tag whose size is near 2^32: off + size wrapped, so the tag was taken,
 * and the walk then stood still (a hang) or read 4 GiB away. */
HTEST(tag_size_near_4_gib_ends_the_walk)
{
	static const uint32_t hang[] = { 24, 0, 99, 0xfffffffc, 0, 8 };
	parse_words(hang);
	HEXPECT_CONTAINS(out, "malformed tag (type 99, size 4294967292 at offset 8)");
	static const uint32_t far[] = { 24, 0, 1, 0xffffffff, 0, 8 };
	parse_words(far);
	HEXPECT_CONTAINS(out, "malformed tag (type 1, size 4294967295 at offset 8)");
	HEXPECT_STREQ(bootinfo.cmdline, "");
}

/* A memory map tag shorter than its 16-byte header: (size - 16) / entry
 * size wrapped to some 179 million entries. */
HTEST(memory_map_tag_shorter_than_its_header_is_ignored)
{
	for (uint32_t size = 8; size < 16; size++) {
		const uint32_t w[] = { 24, 0, 6, size, 24, 0 };
		parse_words(w);
		HEXPECT_EQ(bootinfo.mmap_count, 0);
		HEXPECT_TRUE(bootinfo.mmap == NULL);
		HEXPECT_CONTAINS(out, "memory map tag of");
		HEXPECT_CONTAINS(out, "is too short; ignored");
	}
}

int main(void)
{
	return htest_main("bootinfo");
}
