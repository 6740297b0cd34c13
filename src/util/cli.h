/* Shared CLI helpers of the verbs (the verbs themselves are declared in src/verbs.h): error lines with the
 * exit codes 1 (runtime/input error) and 2 (usage error), strict option-value parsing, mkdir -p. */
#ifndef LR_UTIL_CLI_H
#define LR_UTIL_CLI_H

#include <stddef.h>

#include "util/hash.h"  /* lr_fnv1a64_file */
#include "util/parse.h" /* lr_parse_long, lr_parse_double, lr_parse_dims for the verbs */

#define LR_VERSION "0.1.0"

/* Print "lesionrank VERB: message" to stderr and return 2 (usage error). */
int lr_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "lesionrank VERB: message" to stderr and return 1 (runtime error). */
int lr_runtime_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The whole file as a NUL-terminated string (malloc'd); NULL when unreadable. */
char *lr_read_text_file(const char *path);
/* mkdir -p of the directory part of a file path (path_is_dir: of the path itself). 0 ok, -1 failed. */
int lr_mkdir_parents(const char *path, int path_is_dir);

#endif
