/* lesionrank <verb>: dispatch only. */
#include <stdio.h>
#include <string.h>

#include "nn/engine.h"
#include "util/cli.h"
#include "util/h5.h"

typedef struct {
    const char *name;
    const char *synopsis;
    const char *summary;
    int (*run)(int argc, char **argv); /* NULL: a later milestone */
} verb;

static const verb verbs[] = {
    {"synth", "-o COHORT.h5 [--patients N] [--seed S] [--volumes DxHxW]", "generate the synthetic cohort with known truth", cmd_synth},
    {"inspect", "COHORT.h5", "validate a cohort file and summarise it (key: value lines)", cmd_inspect},
    {"ingest", "--clinical CSV --studies DIR -o COHORT.h5 [--volumes]", "build a cohort from NIfTI CT studies", cmd_ingest},
    {"train", "CONFIG --model NAME --fold K [--replicate R] -o SHARD.h5", "train and evaluate one job (no MPI needed)", cmd_train},
    {"run", "CONFIG [--job ID] [--fresh] [--list-jobs]", "run a campaign; under mpirun rank 0 is the master", cmd_run},
    {"merge", "CONFIG", "merge job shards into the campaign file", cmd_merge},
    {"report", "RESULTS.h5 -o DIR", "Table 2, figures and interpretation from a campaign file", cmd_report},
    {"stats", "cindex|npll|lmm|uno|auc FILE.csv [options]", "survival statistics on a CSV file", cmd_stats},
    {"forward", "--arch resnet18|resnet50 --weights W.h5 --input X.h5 -o Y.h5", "run a CNN in eval mode", cmd_forward},
    {"bench", "", "benchmark the CNN engine against BLIS sgemm (and PyTorch when present)", cmd_bench},
};
#define N_VERBS (sizeof verbs / sizeof verbs[0])

static void print_help(FILE *out)
{
    fprintf(out, "lesionrank %s — cancer prognosis from CT by lesion prioritization\n\n", LR_VERSION);
    fprintf(out, "usage: lesionrank <verb> [options]   (lesionrank <verb> --help for details)\n\nverbs:\n");
    for (size_t i = 0; i < N_VERBS; i++)
        fprintf(out, "  %-8s %s%s\n", verbs[i].name, verbs[i].summary, verbs[i].run ? "" : " [not implemented yet]");
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
    for (size_t i = 0; i < N_VERBS; i++) {
        const verb *v = &verbs[i];
        if (strcmp(argv[1], v->name) != 0) continue;
        if (v->run) return v->run(argc - 1, argv + 1);
        if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            printf("usage: lesionrank %s %s\n  %s\n  (not implemented yet)\n", v->name, v->synopsis, v->summary);
            return 0;
        }
        fprintf(stderr, "lesionrank %s: not implemented yet\n", v->name);
        return 2;
    }
    fprintf(stderr, "lesionrank: unknown verb '%s'\n", argv[1]);
    print_help(stderr);
    return 2;
}
