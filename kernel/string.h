/*
 * kernel/string.h - the C string and memory functions the kernel provides
 * (the compiler may emit calls to memcpy, memmove, memset and memcmp).
 * Host test builds use the C library's instead.
 */
#ifndef KERNEL_STRING_H
#define KERNEL_STRING_H

#ifdef HOST_TEST
#include <string.h>
#else
#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);
#endif

#endif
