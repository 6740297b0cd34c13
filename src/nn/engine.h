/* Engine-wide settings (threads, the BLIS sub-configuration) and the step profile.
 *
 * Threads: every non-GEMM pass of the engine is an OpenMP loop over channels (or planes) with a static
 * schedule and no cross-thread reduction, and BLIS splits only the m/n dimensions of a GEMM, so a
 * result does not depend on the thread count. lr_nn_set_threads sets both (default 1 per process: an
 * MPI rank must not spawn a thread per core on its own).
 *
 * Profile: when a profile is active (lr_profile_begin), every engine pass adds its wall time to a
 * (pass, kind) cell; `lesionrank bench --profile` prints the table. Off, it costs one branch. */
#ifndef LR_NN_ENGINE_H
#define LR_NN_ENGINE_H

#include <time.h>

typedef enum { LR_PASS_FORWARD, LR_PASS_INPUT_GRAD, LR_PASS_WEIGHT_GRAD, LR_PASS_OPTIMIZER, LR_N_PASSES } lr_pass;
typedef enum {
    LR_KIND_GEMM,
    LR_KIND_WINOGRAD,  /* Winograd transforms (weights, input, output and their adjoints) */
    LR_KIND_IM2COL,    /* im2col / col2im */
    LR_KIND_BN,        /* batch norm (with its fused residual add and ReLU) */
    LR_KIND_RELU,
    LR_KIND_POOL,      /* max and average pooling */
    LR_KIND_ADD,       /* residual add */
    LR_KIND_ADAM,
    LR_KIND_COPY,      /* memset / memcpy / layout changes */
    LR_N_KINDS
} lr_kind;

typedef struct {
    double seconds[LR_N_PASSES][LR_N_KINDS];
} lr_profile;

const char *lr_pass_name(lr_pass p);
const char *lr_kind_name(lr_kind k);

/* Accumulate into prof until lr_profile_end (prof zeroed by the caller). Not thread-safe to switch. */
void lr_profile_begin(lr_profile *prof);
void lr_profile_end(void);
/* The active profile, or NULL. */
lr_profile *lr_profile_active(void);

static inline double lr_profile_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Time a region into cell (pass, kind) when profiling: t0 = lr_prof_start(); ...; lr_prof_stop(pass, kind, t0). */
static inline double lr_prof_start(void) { return lr_profile_active() ? lr_profile_now() : 0.0; }
static inline void lr_prof_stop(lr_pass pass, lr_kind kind, double t0)
{
    lr_profile *prof = lr_profile_active();
    if (prof) prof->seconds[pass][kind] += lr_profile_now() - t0;
}

/* Time `stmt` (an expression statement without preprocessor lines) into cell (pass, kind). */
/* The engine's revision: raised by every change to how a layer is computed that moves its time or memory
 * (2: 3D Winograd, im2col in blocks of output planes). run --plan keys its cached calibrations with it, so an upgrade recalibrates. */
#define LR_NN_ENGINE_REVISION 2

#define LR_PROF(pass, kind, stmt)                                                                  \
    do {                                                                                           \
        lr_profile *prof_ = lr_profile_active();                                                   \
        double t0_ = prof_ ? lr_profile_now() : 0.0;                                               \
        stmt;                                                                                      \
        if (prof_) prof_->seconds[pass][kind] += lr_profile_now() - t0_;                           \
    } while (0)

/* Threads for BLIS and the engine's OpenMP loops (>= 1). */
void lr_nn_set_threads(int threads);
int lr_nn_threads(void);

/* The BLIS sub-configuration (see blis_arch.c). Call lr_blis_choose_arch before anything initialises
 * BLIS (first thing in main); it may export BLIS_ARCH_TYPE. arch is the id exported, -1 when BLIS is left
 * to its own choice; source says why, for logs. */
typedef struct {
    int arch;
    char source[512];
} lr_blis_choice;
int lr_blis_choose_arch(lr_blis_choice *out);
const lr_blis_choice *lr_blis_last_choice(void);
/* The sub-configuration BLIS runs (initialises BLIS). */
const char *lr_blis_arch_in_use(void);

/* Hot loops are compiled for AVX-512, AVX2 and the baseline ISA and picked at load time (GCC ifunc).
 * Contraction to FMA is off (-std=c11), so every clone rounds identically. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define LR_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LR_SIMD_CLONES
#endif

#endif
