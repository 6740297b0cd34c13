/* Reproducible random streams: every stream is keyed by (experiment seed, purpose, up to three ids),
 * so a job draws the same numbers on any rank and under any number of ranks. */
#ifndef LR_UTIL_RNG_H
#define LR_UTIL_RNG_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

/* 64-bit key for a stream: splitmix64 over the seed, an FNV-1a hash of `purpose` and the ids. */
uint64_t lr_stream_key(uint64_t seed, const char *purpose, int64_t a, int64_t b, int64_t c);
/* A new gsl_rng (MT19937) seeded from the stream key; NULL when out of memory. Free with gsl_rng_free. */
gsl_rng *lr_rng_stream(uint64_t seed, const char *purpose, int64_t a, int64_t b, int64_t c);
/* Reseed an existing generator for another stream (cheap re-use inside loops). */
void lr_rng_reseed(gsl_rng *r, uint64_t seed, const char *purpose, int64_t a, int64_t b, int64_t c);

#endif
