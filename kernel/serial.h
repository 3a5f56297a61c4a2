/* kernel/serial.h - the COM1 16550 UART, the kernel's console device. */
#ifndef KERNEL_SERIAL_H
#define KERNEL_SERIAL_H

void serial_init(void);
void serial_putc(char c);

#endif
