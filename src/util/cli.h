/* Shared CLI helpers of the verbs (the verbs themselves are declared in src/verbs.h): error lines with the
 * exit codes 1 (runtime/input error) and 2 (usage error), strict option-value parsing, mkdir -p. */
#ifndef LR_UTIL_CLI_H
#define LR_UTIL_CLI_H

#include <stddef.h>

#define LR_VERSION "0.1.0"

/* Print "lesionrank VERB: message" to stderr and return 2 (usage error). */
int lr_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "lesionrank VERB: message" to stderr and return 1 (runtime error). */
int lr_runtime_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strict number parsing of option values: whole string must parse, in [lo, hi]. 0 ok, -1 bad. */
int lr_parse_long(const char *s, long lo, long hi, long *out);
int lr_parse_double(const char *s, double *out);
/* "DxHxW" with each extent in [lo, hi]. 0 ok, -1 bad. */
int lr_parse_dims(const char *s, long lo, long hi, size_t dims[3]);
/* mkdir -p of the directory part of a file path (path_is_dir: of the path itself). 0 ok, -1 failed. */
int lr_mkdir_parents(const char *path, int path_is_dir);
/* 64-bit FNV-1a of a file's bytes (the campaign's cohort checksum); *ok = 0 when unreadable. */
unsigned long long lr_fnv1a64_file(const char *path, int *ok);

#endif
