/*
 * boot/entry.S - from the multiboot2 loader to kmain() in the higher half.
 *
 * GRUB (BIOS or UEFI) enters _start in 32-bit protected mode, paging off,
 * EAX = multiboot2 magic, EBX = physical address of the boot information.
 * Nothing else about the machine is trusted: RAM is not zeroed, CR0.WP may be
 * set (UEFI), and ESP is undefined.
 *
 *  1. Take a tiny stack inside the image and save magic and info pointer.
 *  2. Refuse, with a message on COM1, a wrong magic or a CPU without long mode.
 *  3. Zero .bss: real hardware leaves garbage there.
 *  4. Build boot page tables in .bss (2 MiB pages, the first 4 GiB):
 *       identity       0x0000000000000000  (needed only for the switch)
 *       direct map     0xffff800000000000  (boot information, later mm/)
 *       kernel image   0xffffffff80000000  (first 1 GiB)
 *  5. PAE, EFER.LME (+NXE when the CPU has NX), CR0.PG|WP, a 64-bit GDT and
 *     a far jump into 64-bit code, then a jump to the higher half.
 *  6. Switch to the boot stack, drop the identity map (null pointers fault
 *     from here on), and call kmain(magic, info_phys).
 */
#include "mm/layout.h"

#define PHYS(x)		((x) - KERNEL_VMA)
#define MB2_MAGIC	0xe85250d6
#define MB2_BOOT_MAGIC	0x36d76289
#define COM1		0x3f8

/* ---- multiboot2 header: asks for cmdline, loader name, memory map, RSDP ---- */
	.section .multiboot2, "a"
	.balign 8
	.globl mb2_header
mb2_header:
	.long MB2_MAGIC
	.long 0				/* architecture: i386 protected mode */
	.long mb2_header_end - mb2_header
	.long 0x100000000 - (MB2_MAGIC + (mb2_header_end - mb2_header))
	.balign 8
mb2_info_request:
	.short 1			/* information request tag */
	.short 1			/* optional: boot even if some are missing */
	.long mb2_info_request_end - mb2_info_request
	.long 1				/* boot command line */
	.long 2				/* boot loader name */
	.long 6				/* memory map */
	.long 14			/* ACPI 1.0 RSDP */
	.long 15			/* ACPI 2.0+ RSDP */
mb2_info_request_end:
	.balign 8
	.short 0, 0			/* end tag */
	.long 8
mb2_header_end:

/* ---- 32-bit entry ---- */
	.section .boot.text, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl	$early_stack_top, %esp
	movl	%eax, boot_magic
	movl	%ebx, boot_info

	call	com1_init32
	cmpl	$MB2_BOOT_MAGIC, boot_magic
	je	1f
	movl	$msg_magic, %esi
	jmp	die32
1:
	/* CPUID exists iff EFLAGS.ID (bit 21) can be toggled. */
	pushfl
	popl	%eax
	movl	%eax, %ecx
	xorl	$(1 << 21), %eax
	pushl	%eax
	popfl
	pushfl
	popl	%eax
	pushl	%ecx
	popfl
	cmpl	%eax, %ecx
	je	no_long_mode
	movl	$0x80000000, %eax
	cpuid
	cmpl	$0x80000001, %eax
	jb	no_long_mode
	movl	$0x80000001, %eax
	cpuid
	testl	$(1 << 29), %edx		/* LM */
	jz	no_long_mode
	andl	$(1 << 20), %edx		/* NX: remembered for EFER.NXE */
	movl	%edx, boot_has_nx

	/* 3. zero .bss */
	movl	$PHYS(__bss_start), %edi
	movl	$PHYS(__bss_end), %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl

	/* 4. boot page tables: four page directories of 2 MiB pages = 4 GiB */
	movl	$PHYS(boot_pd), %edi
	xorl	%ecx, %ecx			/* ecx = index of the 2 MiB page */
2:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$0x83, %eax			/* present | write | 2 MiB */
	movl	%eax, (%edi, %ecx, 8)
	movl	%ecx, %eax
	shrl	$11, %eax			/* bits 32+ of the address */
	movl	%eax, 4(%edi, %ecx, 8)
	incl	%ecx
	cmpl	$2048, %ecx
	jb	2b

	movl	$PHYS(boot_pdpt_low), %edi	/* 4 x 1 GiB slots -> the 4 PDs */
	movl	$PHYS(boot_pd) + 3, %eax
	xorl	%ecx, %ecx
3:	movl	%eax, (%edi, %ecx, 8)
	addl	$4096, %eax
	incl	%ecx
	cmpl	$4, %ecx
	jb	3b

	movl	$PHYS(boot_pdpt_high), %edi	/* -2 GiB -> first 1 GiB */
	movl	$PHYS(boot_pd) + 3, 510 * 8(%edi)

	movl	$PHYS(boot_pml4), %edi
	movl	$PHYS(boot_pdpt_low) + 3, (%edi)		/* identity */
	movl	$PHYS(boot_pdpt_low) + 3, 256 * 8(%edi)	/* direct map */
	movl	$PHYS(boot_pdpt_high) + 3, 511 * 8(%edi)	/* kernel */

	/* 5. into long mode */
	movl	%edi, %cr3
	movl	%cr4, %eax
	orl	$(1 << 5), %eax			/* PAE */
	movl	%eax, %cr4
	movl	$0xc0000080, %ecx		/* EFER */
	rdmsr
	orl	$(1 << 8), %eax			/* LME */
	cmpl	$0, boot_has_nx
	je	4f
	orl	$(1 << 11), %eax		/* NXE */
4:	wrmsr
	movl	%cr0, %eax
	orl	$((1 << 31) | (1 << 16) | 1), %eax	/* PG | WP | PE */
	movl	%eax, %cr0
	lgdt	boot_gdt_ptr
	ljmp	$0x08, $long_entry

no_long_mode:
	movl	$msg_no_lm, %esi
	/* fall through */

/* Print the NUL-terminated string at %esi on COM1 and halt for good. */
die32:
	movb	(%esi), %al
	testb	%al, %al
	jz	5f
	call	com1_putc32
	incl	%esi
	jmp	die32
5:	cli
	hlt
	jmp	5b

/* 16550 at 115200 8N1, FIFOs on, no interrupts. */
com1_init32:
	movw	$COM1 + 1, %dx
	xorb	%al, %al
	outb	%al, %dx			/* IER: no interrupts */
	movw	$COM1 + 3, %dx
	movb	$0x80, %al
	outb	%al, %dx			/* LCR: DLAB */
	movw	$COM1, %dx
	movb	$1, %al
	outb	%al, %dx			/* divisor 1 = 115200 baud */
	movw	$COM1 + 1, %dx
	xorb	%al, %al
	outb	%al, %dx
	movw	$COM1 + 3, %dx
	movb	$0x03, %al
	outb	%al, %dx			/* LCR: 8N1 */
	movw	$COM1 + 2, %dx
	movb	$0xc7, %al
	outb	%al, %dx			/* FCR: enable + clear FIFOs */
	ret

com1_putc32:
	movb	%al, %ah
	movw	$COM1 + 5, %dx
6:	inb	%dx, %al
	testb	$0x20, %al			/* LSR: transmit holding empty */
	jz	6b
	movb	%ah, %al
	movw	$COM1, %dx
	outb	%al, %dx
	ret

	.code64
long_entry:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	xorw	%ax, %ax
	movw	%ax, %fs
	movw	%ax, %gs
	movabsq	$higher_half, %rax
	jmp	*%rax

	.section .boot.data, "aw"
	.balign 16
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff		/* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff		/* 0x10: data */
boot_gdt_ptr:
	.short boot_gdt_ptr - boot_gdt - 1
	.long boot_gdt
	.globl boot_magic, boot_info
boot_magic:	.long 0
boot_info:	.long 0
boot_has_nx:	.long 0
msg_magic:	.asciz "Tidemark: not started by a multiboot2 boot loader (bad magic in EAX); halting.\r\n"
msg_no_lm:	.asciz "Tidemark: this CPU does not support x86-64 long mode; Tidemark needs a 64-bit CPU. Halting.\r\n"
	.balign 16
	.space 256
early_stack_top:

/* ---- 64-bit, higher half ---- */
	.text
higher_half:
	movq	$boot_stack_top, %rsp
	xorl	%ebp, %ebp			/* ends frame-pointer backtraces */
	movl	boot_magic, %edi		/* read while still identity-mapped */
	movl	boot_info, %esi
	movq	$0, boot_pml4			/* 6. drop the identity map */
	movq	%cr3, %rax
	movq	%rax, %cr3
	call	kmain
7:	cli
	hlt
	jmp	7b

	.bss
	.balign 4096
	.globl boot_pml4
boot_pml4:	.space 4096
boot_pdpt_low:	.space 4096
boot_pdpt_high:	.space 4096
boot_pd:	.space 4 * 4096
	.balign 4096
	.globl boot_stack_guard
boot_stack_guard:	.space 4096	/* unmapped once the kernel's tables are in */
boot_stack:	.space BOOT_STACK_SIZE
	.globl boot_stack_top
boot_stack_top:
