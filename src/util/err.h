/* Error reporting: functions return 0 on success, -1 on failure with a message in an lr_err.
 * Only main (or the MPI master) decides to exit. */
#ifndef LR_UTIL_ERR_H
#define LR_UTIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char msg[1024];
} lr_err;

/* Sets err->msg (printf-style) and returns -1, so callers can `return lr_fail(err, ...)`. */
int lr_fail(lr_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes an existing message with context ("reading X: <old message>") and returns -1. */
int lr_fail_ctx(lr_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that reports failure into err instead of crashing. */
void *lr_calloc(size_t n, size_t size, lr_err *err);
void *lr_malloc(size_t n, size_t size, lr_err *err);

/* Jump to `fail` when a library call reports an error (negative return), recording file/line/call. */
#define LR_CHECK(call, err)                                                                         \
    do {                                                                                          \
        if ((call) < 0) {                                                                         \
            lr_fail((err), "%s:%d: %s failed", __FILE__, __LINE__, #call);                        \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)

/* Propagate a failure from one of our own functions (message already set). */
#define LR_TRY(call)                                                                               \
    do {                                                                                          \
        if ((call) != 0) goto fail;                                                               \
    } while (0)

#endif
