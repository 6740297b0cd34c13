#include "util/rng.h"

#include <string.h>

#include "util/hash.h"

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t lr_stream_key(uint64_t seed, const char *purpose, int64_t a, int64_t b, int64_t c)
{
    const char *text = purpose ? purpose : "";
    uint64_t h = lr_fnv1a64(LR_FNV1A64_OFFSET_BASIS, text, strlen(text));
    uint64_t k = splitmix64(seed);
    k = splitmix64(k ^ h);
    k = splitmix64(k ^ (uint64_t)a);
    k = splitmix64(k ^ (uint64_t)b);
    k = splitmix64(k ^ (uint64_t)c);
    return k;
}

void lr_rng_reseed(gsl_rng *r, uint64_t seed, const char *purpose, int64_t a, int64_t b, int64_t c)
{
    uint64_t k = lr_stream_key(seed, purpose, a, b, c);
    /* MT19937 takes a 32-bit seed; fold the key. Zero selects GSL's default seed, so avoid it. */
    unsigned long s = (unsigned long)((k ^ (k >> 32)) & 0xffffffffULL);
    gsl_rng_set(r, s ? s : 1);
}

gsl_rng *lr_rng_stream(uint64_t seed, const char *purpose, int64_t a, int64_t b, int64_t c)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (r) lr_rng_reseed(r, seed, purpose, a, b, c);
    return r;
}
