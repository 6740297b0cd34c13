/* lesionrank <verb>: dispatch only. */
#include <stdio.h>
#include <string.h>

#include "nn/engine.h"
#include "util/cli.h"
#include "util/h5.h"
#include "verbs.h"

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} verb;

static const verb verbs[] = {
    {"synth", "generate the synthetic cohort with known truth", cmd_synth},
    {"inspect", "validate a cohort file and summarise it (key: value lines)", cmd_inspect},
    {"ingest", "build a cohort from NIfTI CT studies", cmd_ingest},
    {"train", "train and evaluate one job (no MPI needed)", cmd_train},
    {"run", "run a campaign; under mpirun rank 0 is the master", cmd_run},
    {"merge", "merge job shards into the campaign file", cmd_merge},
    {"report", "Table 2, figures and interpretation from a campaign file", cmd_report},
    {"stats", "survival statistics on a CSV file", cmd_stats},
    {"predict", "apply a campaign's trained models to a new cohort (external validation, saliency)", cmd_predict},
    {"forward", "run a CNN in eval mode", cmd_forward},
    {"bench", "benchmark the CNN engine against BLIS sgemm (and PyTorch when present)", cmd_bench},
};
#define N_VERBS (sizeof verbs / sizeof verbs[0])

static void print_help(FILE *out)
{
    fprintf(out, "lesionrank %s — cancer prognosis from CT by lesion prioritization\n\n", LR_VERSION);
    fprintf(out, "usage: lesionrank <verb> [options]   (lesionrank <verb> --help for details)\n\nverbs:\n");
    for (size_t i = 0; i < N_VERBS; i++)
        fprintf(out, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "lesionrank: missing verb\n");
        print_help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("lesionrank %s\n", LR_VERSION);
        return 0;
    }
    lr_h5_quiet();
    lr_blis_choose_arch(NULL); /* before anything initialises BLIS */
    lr_nn_set_threads(1);      /* one engine thread unless a verb says otherwise (never one per core per rank) */
    for (size_t i = 0; i < N_VERBS; i++) {
        const verb *v = &verbs[i];
        if (!strcmp(argv[1], v->name)) return v->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "lesionrank: unknown verb '%s'\n", argv[1]);
    print_help(stderr);
    return 2;
}
