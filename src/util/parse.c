#include "util/parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int lr_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int lr_parse_double(const char *s, double *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int lr_parse_dims(const char *s, long lo, long hi, size_t dims[3])
{
    long d[3];
    char extra;
    if (!s || sscanf(s, "%ldx%ldx%ld%c", &d[0], &d[1], &d[2], &extra) != 3) return -1;
    for (int i = 0; i < 3; i++) {
        if (d[i] < lo || d[i] > hi) return -1;
        dims[i] = (size_t)d[i];
    }
    return 0;
}
