#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lr_fail_at(const char *file, int line, lr_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    err->file = file;
    err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int lr_fail_ctx(lr_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    int k = snprintf(err->msg, sizeof err->msg, "%s: ", prefix);
    if (k >= 0 && (size_t)k < sizeof err->msg) snprintf(err->msg + k, sizeof err->msg - (size_t)k, "%.*s", (int)(sizeof err->msg - (size_t)k - 1), old);
    return -1;
}

void *lr_calloc(size_t n, size_t size, lr_err *err)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) lr_fail(err, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *lr_malloc(size_t n, size_t size, lr_err *err)
{
    if (size && n > (size_t)-1 / size) {
        lr_fail(err, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    size_t bytes = n * size;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) lr_fail(err, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

const char *lr_err_where(const lr_err *err, char *buf, size_t n)
{
    if (!err || !err->file) snprintf(buf, n, "%s", "");
    else snprintf(buf, n, "%s:%d", err->file, err->line);
    return buf;
}
