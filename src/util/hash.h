/* 64-bit FNV-1a: the cohort checksum of a campaign (a file's bytes) and the purpose strings of the RNG
 * stream keys. One loop for both. */
#ifndef LR_UTIL_HASH_H
#define LR_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define LR_FNV1A64_OFFSET_BASIS 0xcbf29ce484222325ULL

/* h continued over n bytes (start with LR_FNV1A64_OFFSET_BASIS). */
uint64_t lr_fnv1a64(uint64_t h, const void *data, size_t n);
/* FNV-1a of a file's bytes; *ok = 0 (and 0 returned) when unreadable. ok may be NULL. */
unsigned long long lr_fnv1a64_file(const char *path, int *ok);

#endif
