/*
 * kernel/qemu.c - QEMU's fw_cfg and isa-debug-exit devices.
 *
 * fw_cfg (ports 0x510 selector, 0x511 data) answers "QEMU" to the signature
 * key; real machines read 0xff there, so the check doubles as "are we in
 * QEMU". The test runner passes extra kernel options as the fw_cfg file
 * opt/tidemark/cmdline, so one ISO serves every test boot without
 * rebuilding GRUB's configuration. isa-debug-exit (port 0xf4) ends QEMU with
 * a status the runner reads; it is only touched when fw_cfg said QEMU.
 */
#include "kernel/qemu.h"
#include "kernel/x86.h"

#define FW_CFG_SELECTOR		0x510
#define FW_CFG_DATA		0x511
#define FW_CFG_SIGNATURE	0x0000
#define FW_CFG_FILE_DIR		0x0019
#define DEBUG_EXIT_PORT		0xf4
#define CMDLINE_FILE		"opt/tidemark/cmdline"

static void fw_cfg_read(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n--)
		*p++ = inb(FW_CFG_DATA);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

bool qemu_present(void)
{
	static int present = -1;	/* -1: not yet probed */
	if (present < 0) {
		char sig[4];
		outw(FW_CFG_SELECTOR, FW_CFG_SIGNATURE);
		fw_cfg_read(sig, sizeof(sig));
		present = sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U';
	}
	return present;
}

void qemu_exit(enum qemu_exit_code code)
{
	if (qemu_present())
		outl(DEBUG_EXIT_PORT, code);
}

size_t qemu_cmdline(char *buf, size_t size)
{
	if (size == 0 || !qemu_present())
		return 0;
	buf[0] = '\0';

	uint8_t count_be[4];
	outw(FW_CFG_SELECTOR, FW_CFG_FILE_DIR);
	fw_cfg_read(count_be, sizeof(count_be));
	for (uint32_t i = be32(count_be); i > 0; i--) {
		struct { uint8_t size[4]; uint8_t select[2]; uint8_t reserved[2]; char name[56]; } f;
		fw_cfg_read(&f, sizeof(f));
		const char *want = CMDLINE_FILE;
		int j = 0;
		while (want[j] && f.name[j] == want[j])
			j++;
		if (want[j] || f.name[j])
			continue;

		size_t whole = be32(f.size), len = whole < size - 1 ? whole : size - 1;
		outw(FW_CFG_SELECTOR, (uint16_t)(f.select[0] << 8 | f.select[1]));
		fw_cfg_read(buf, len);
		buf[len] = '\0';
		return whole;
	}
	return 0;
}
