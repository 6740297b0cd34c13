/* Error reporting: functions return 0 on success, -1 on failure with a message in an lr_err.
 * Only main (or the MPI master) decides to exit. */
#ifndef LR_UTIL_ERR_H
#define LR_UTIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char msg[1024];
    const char *file; /* where the failure was raised (lr_fail / LR_CHECK), kept through lr_fail_ctx */
    int line;
} lr_err;

/* Sets err->msg (printf-style) and where it was raised, and returns -1, so callers can
 * `return lr_fail(err, ...)`. */
#define lr_fail(err, ...) lr_fail_at(__FILE__, __LINE__, (err), __VA_ARGS__)
int lr_fail_at(const char *file, int line, lr_err *err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Prefixes an existing message with context ("reading X: <old message>") and returns -1; the origin stays. */
int lr_fail_ctx(lr_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that reports failure into err instead of crashing. */
void *lr_calloc(size_t n, size_t size, lr_err *err);
void *lr_malloc(size_t n, size_t size, lr_err *err);

/* "FILE:LINE" of the failure in err ("" when none was recorded), for logs and bug reports. */
const char *lr_err_where(const lr_err *err, char *buf, size_t n);

/* Jump to `fail` when a library call (HDF5, MPI, GSL, libconfig) reports an error (negative return); the
 * message names the call, and err records this file and line. */
#define LR_CHECK(call, err)                                                                         \
    do {                                                                                          \
        if ((call) < 0) {                                                                         \
            lr_fail((err), "%s failed", #call);                                                   \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)

/* Propagate a failure from one of our own functions: the message and the file/line where it was raised
 * (by lr_fail or LR_CHECK) are already in the error. */
#define LR_TRY(call)                                                                               \
    do {                                                                                          \
        if ((call) != 0) goto fail;                                                               \
    } while (0)

#endif
