/* Strict parsing of numbers written by people (option values, CSV cells, config strings): the whole
 * string must parse; one definition for the CLI, util/csv and ingest. */
#ifndef LR_UTIL_PARSE_H
#define LR_UTIL_PARSE_H

#include <stddef.h>

/* Integer in [lo, hi]. 0 ok, -1 bad (empty, trailing characters, out of range). */
int lr_parse_long(const char *s, long lo, long hi, long *out);
/* Finite double. 0 ok, -1 bad (empty, trailing characters, overflow or underflow, NaN, Inf). */
int lr_parse_double(const char *s, double *out);
/* "DxHxW" with each extent in [lo, hi]. 0 ok, -1 bad. */
int lr_parse_dims(const char *s, long lo, long hi, size_t dims[3]);

#endif
