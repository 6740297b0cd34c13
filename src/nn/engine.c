/* Engine settings (threads, BLIS sub-configuration) and the per-(pass, kind) step profile. */
#include <blis.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn/engine.h"

static lr_profile *active_profile; /* process-wide switch, set only by bench */
static int engine_threads = 1;

const char *lr_pass_name(lr_pass p)
{
    static const char *names[LR_N_PASSES] = {"forward", "input_grad", "weight_grad", "optimizer"};
    return p < LR_N_PASSES ? names[p] : "?";
}

const char *lr_kind_name(lr_kind k)
{
    static const char *names[LR_N_KINDS] = {"gemm", "winograd", "im2col", "batchnorm", "relu",
                                            "pool", "residual_add", "adam", "memset_copy"};
    return k < LR_N_KINDS ? names[k] : "?";
}

void lr_profile_begin(lr_profile *prof) { active_profile = prof; }
void lr_profile_end(void) { active_profile = NULL; }
lr_profile *lr_profile_active(void) { return active_profile; }

void lr_nn_set_threads(int threads)
{
    if (threads < 1) threads = 1;
    engine_threads = threads;
    bli_thread_set_num_threads(threads);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
}

int lr_nn_threads(void) { return engine_threads; }
