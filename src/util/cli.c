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

char *lr_read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) {
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}
