#include "util/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void vreport(const char *verb, const char *fmt, va_list ap)
{
    fprintf(stderr, "lesionrank %s: ", verb);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int lr_usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(verb, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'lesionrank %s --help'.\n", verb);
    return 2;
}

int lr_runtime_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(verb, fmt, ap);
    va_end(ap);
    return 1;
}

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

int lr_mkdir_parents(const char *path, int path_is_dir)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n + 2 > sizeof dir) return -1;
    memcpy(dir, path, n + 1);
    if (path_is_dir) {
        dir[n] = '/';
        dir[n + 1] = '\0';
    }
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return 0;
}

unsigned long long lr_fnv1a64_file(const char *path, int *ok)
{
    FILE *f = fopen(path, "rb");
    if (ok) *ok = f != NULL;
    if (!f) return 0;
    unsigned long long h = 0xcbf29ce484222325ULL;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) {
            h ^= buf[i];
            h *= 0x100000001b3ULL;
        }
    fclose(f);
    return h;
}
