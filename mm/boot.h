/* mm/boot.h - memory management bring-up at boot (see mm/boot.c). */
#ifndef MM_BOOT_H
#define MM_BOOT_H

void mm_init(void);

#endif
