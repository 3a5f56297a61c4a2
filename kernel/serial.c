/*
 * kernel/serial.c - COM1 (16550 UART) at 115200 8N1, polled.
 *
 * The console writes here one byte at a time, spinning on the line status
 * register; no interrupts, so it works in any context, including a panic
 * inside an exception handler. "\n" goes out as "\r\n" for real terminals.
 */
#include "kernel/serial.h"
#include "kernel/x86.h"

#define COM1		0x3f8
#define REG_DATA	0	/* DLAB=0: transmit/receive; DLAB=1: divisor low */
#define REG_IER		1	/* DLAB=0: interrupt enable; DLAB=1: divisor high */
#define REG_FCR		2
#define REG_LCR		3
#define REG_MCR		4
#define REG_LSR		5
#define LSR_THR_EMPTY	0x20
#define LCR_DLAB	0x80
#define LCR_8N1		0x03

void serial_init(void)
{
	outb(COM1 + REG_IER, 0);
	outb(COM1 + REG_LCR, LCR_DLAB);
	outb(COM1 + REG_DATA, 1);	/* 115200 / 1 */
	outb(COM1 + REG_IER, 0);
	outb(COM1 + REG_LCR, LCR_8N1);
	outb(COM1 + REG_FCR, 0xc7);	/* enable and clear FIFOs, 14-byte trigger */
	outb(COM1 + REG_MCR, 0x03);	/* DTR | RTS */
}

static void serial_put_raw(char c)
{
	/* Bounded wait: a missing UART (real PCs without COM1) reads 0xff, so this
	 * ends at once there; a stuck one must not hang a panic forever. */
	for (int spins = 0; spins < 100000; spins++)
		if (inb(COM1 + REG_LSR) & LSR_THR_EMPTY)
			break;
	outb(COM1 + REG_DATA, (uint8_t)c);
}

void serial_putc(char c)
{
	if (c == '\n')
		serial_put_raw('\r');
	serial_put_raw(c);
}
