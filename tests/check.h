/* Minimal assertion macros for the test binaries. Each binary runs its test functions with RUN(),
 * prints "ok"/"FAIL" per check failure with file:line, and ends with TEST_SUMMARY() which prints
 * "N passed, N failed" (tests, not checks) and returns non-zero when anything failed.
 * tests/run.sh adds the per-binary lines into the suite's closing line. */
#ifndef LR_TESTS_CHECK_H
#define LR_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failures_in_test;
static int tests_passed, tests_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
            check_failures_in_test++;                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            check_failures_in_test++;                                                              \
        }                                                                                          \
    } while (0)

/* |a-b| <= tol_abs + tol_rel*|b| */
#define CHECK_CLOSE(a, b, tol_abs, tol_rel)                                                        \
    do {                                                                                           \
        double check_a_ = (double)(a), check_b_ = (double)(b);                                     \
        if (!(fabs(check_a_ - check_b_) <= (tol_abs) + (tol_rel)*fabs(check_b_))) {                \
            fprintf(stderr, "  FAIL %s:%d: %s = %.12g, expected %s = %.12g\n", __FILE__, __LINE__,  \
                    #a, check_a_, #b, check_b_);                                                   \
            check_failures_in_test++;                                                              \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        check_failures_in_test = 0;                                                                \
        fn();                                                                                      \
        if (check_failures_in_test) {                                                              \
            tests_failed++;                                                                        \
            printf("FAIL %s\n", #fn);                                                              \
        } else {                                                                                   \
            tests_passed++;                                                                        \
            printf("ok   %s\n", #fn);                                                              \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

#define TEST_SUMMARY()                                                                             \
    (printf("%d passed, %d failed\n", tests_passed, tests_failed), tests_failed ? 1 : 0)

#endif
