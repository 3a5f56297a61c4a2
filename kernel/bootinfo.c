/*
 * kernel/bootinfo.c - read the multiboot2 boot information (tags) and report it.
 *
 * bootinfo_parse():
 *  1. The structure is [u32 total_size][u32 reserved] then 8-byte aligned
 *     tags [u32 type][u32 size][payload], ending with a type-0 tag.
 *  2. Keep pointers to what later code needs: command line (1), loader name
 *     (2), modules (3), memory map (6), ACPI RSDP (14 old, 15 new); EFI
 *     system table tags (11, 12) mean UEFI firmware.
 *  3. Distrust it: sizes are checked against total_size, a tag smaller than
 *     its header stops the walk with a message rather than looping or
 *     reading past the end.
 * The information lives in low memory (the loader put it there; under UEFI
 * often below 1 MiB) and is reached through the boot direct map.
 */
#include "kernel/bootinfo.h"
#include "kernel/console.h"
#include "kernel/string.h"
#include "mm/layout.h"

enum {
	TAG_END = 0, TAG_CMDLINE = 1, TAG_LOADER = 2, TAG_MODULE = 3, TAG_MMAP = 6,
	TAG_EFI32 = 11, TAG_EFI64 = 12, TAG_ACPI_OLD = 14, TAG_ACPI_NEW = 15,
};

#define INFO_MAX_SIZE	(1u << 20)	/* far beyond any real loader's */

struct bootinfo bootinfo = { .cmdline = "", .loader = "(unknown)" };

static uint32_t read32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

void bootinfo_parse(uint64_t info_phys)
{
	const uint8_t *info = phys_to_virt(info_phys);
	uint32_t total;

	bootinfo.info_phys = info_phys;
	if (info_phys == 0 || info_phys + 8 > BOOT_DIRECT_MAP_SIZE || (info_phys & 7)) {
		kprintf("bootinfo: boot information at 0x%llx is unusable; continuing without it\n",
			(unsigned long long)info_phys);
		return;
	}
	total = read32(info);
	if (total < 16 || total > INFO_MAX_SIZE || info_phys + total > BOOT_DIRECT_MAP_SIZE) {
		kprintf("bootinfo: implausible total size %u; continuing without boot information\n", total);
		return;
	}
	bootinfo.info_size = total;

	for (uint32_t off = 8; off + 8 <= total; ) {
		const uint8_t *tag = info + off;
		uint32_t type = read32(tag), size = read32(tag + 4);

		if (type == TAG_END)
			return;
		/* Not off + size > total: a size near 2^32 wraps that sum. */
		if (size < 8 || size > total - off) {
			kprintf("bootinfo: malformed tag (type %u, size %u at offset %u); ignoring the rest\n",
				type, size, off);
			return;
		}
		switch (type) {
		case TAG_CMDLINE:
			if (size > 8 && tag[size - 1] == '\0')
				bootinfo.cmdline = (const char *)tag + 8;
			break;
		case TAG_LOADER:
			if (size > 8 && tag[size - 1] == '\0')
				bootinfo.loader = (const char *)tag + 8;
			break;
		case TAG_MODULE: {
			if (size < 16) {
				kprintf("bootinfo: module tag of %u bytes is too short; ignored\n", size);
				break;
			}
			uint32_t start = read32(tag + 8), end = read32(tag + 12);
			if (end < start) {
				kprintf("bootinfo: module ends (0x%x) before it starts (0x%x); ignored\n", end, start);
				break;
			}
			if (bootinfo.nmodules == BOOTINFO_MAX_MODULES) {
				/* Harmless to lose: nothing in the kernel reads modules. */
				kprintf("bootinfo: more than %d modules; module at 0x%x-0x%x is not kept\n",
					BOOTINFO_MAX_MODULES, start, end);
				break;
			}
			bootinfo.modules[bootinfo.nmodules++] = (struct bootinfo_module){
				start, end, size > 16 && tag[size - 1] == '\0' ? (const char *)tag + 16 : "" };
			break;
		}
		case TAG_MMAP: {
			if (size < 16) {
				kprintf("bootinfo: memory map tag of %u bytes is too short; ignored\n", size);
				break;
			}
			uint32_t esize = read32(tag + 8);
			if (esize < sizeof(struct mb2_mmap_entry) || esize % 8) {
				kprintf("bootinfo: memory map entry size %u is invalid; ignoring the map\n", esize);
				break;
			}
			bootinfo.mmap = tag + 16;
			bootinfo.mmap_entry_size = esize;
			bootinfo.mmap_count = (size - 16) / esize;
			break;
		}
		case TAG_EFI32:
		case TAG_EFI64:
			bootinfo.uefi = true;
			break;
		case TAG_ACPI_OLD:
		case TAG_ACPI_NEW:
			bootinfo.rsdp_phys = info_phys + off + 8;
			bootinfo.rsdp_revision = type == TAG_ACPI_NEW ? 2 : 1;
			break;
		}
		off += (size + 7) & ~7u;
	}
}

struct mb2_mmap_entry bootinfo_mmap_entry(uint32_t i)
{
	struct mb2_mmap_entry e;
	memcpy(&e, bootinfo.mmap + (uint64_t)i * bootinfo.mmap_entry_size, sizeof(e));
	return e;
}

static const char *mmap_type_name(uint32_t type)
{
	switch (type) {
	case 1: return "usable";
	case 2: return "reserved";
	case 3: return "ACPI reclaimable";
	case 4: return "ACPI NVS";
	case 5: return "bad memory";
	default: return "unknown type";
	}
}

static unsigned long long kib(const char *start, const char *end)
{
	return (unsigned long long)(end - start) / 1024;
}

void bootinfo_report(void)
{
	kprintf("boot: loader \"%s\", %s firmware, info at 0x%llx (%u bytes)\n", bootinfo.loader,
		bootinfo.uefi ? "UEFI" : "BIOS", (unsigned long long)bootinfo.info_phys,
		bootinfo.info_size);
	if (bootinfo.rsdp_phys)
		kprintf("boot: ACPI %s RSDP copy at 0x%llx\n", bootinfo.rsdp_revision == 2 ? "2.0+" : "1.0",
			(unsigned long long)bootinfo.rsdp_phys);
	for (unsigned i = 0; i < bootinfo.nmodules; i++)
		kprintf("boot: module [mem 0x%016llx-0x%016llx] \"%s\"\n",
			(unsigned long long)bootinfo.modules[i].start,
			(unsigned long long)bootinfo.modules[i].end - 1, bootinfo.modules[i].name);

	kprintf("memory map from the loader, %u entries:\n", bootinfo.mmap_count);
	for (uint32_t i = 0; i < bootinfo.mmap_count; i++) {
		struct mb2_mmap_entry e = bootinfo_mmap_entry(i);
		kprintf("  [mem 0x%016llx-0x%016llx] %s", (unsigned long long)e.base,
			(unsigned long long)(e.base + e.length - 1), mmap_type_name(e.type));
		if (e.type > 5)
			kprintf(" %u", e.type);
		kprintf("\n");
	}
	kprintf("kernel: text %llu KiB, rodata %llu KiB, data %llu KiB, bss %llu KiB "
		"(data segment %llu KiB, image 0x%llx-0x%llx)\n",
		kib(__text_start, __text_end), kib(__rodata_start, __rodata_end),
		kib(__data_start, __bss_start), kib(__bss_start, __bss_end),
		kib(__data_start, __data_end),
		(unsigned long long)(uint64_t)__kernel_phys_start,
		(unsigned long long)(uint64_t)__kernel_phys_end);
}
