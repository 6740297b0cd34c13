#include "util/hash.h"

#include <stdio.h>

#define FNV1A64_PRIME 0x100000001b3ULL

uint64_t lr_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV1A64_PRIME;
    }
    return h;
}

unsigned long long lr_fnv1a64_file(const char *path, int *ok)
{
    FILE *f = fopen(path, "rb");
    if (ok) *ok = f != NULL;
    if (!f) return 0;
    uint64_t h = LR_FNV1A64_OFFSET_BASIS;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = lr_fnv1a64(h, buf, n);
    fclose(f);
    return h;
}
