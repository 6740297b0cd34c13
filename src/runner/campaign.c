#include "runner/campaign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/synth.h"
#include "model/pretrain.h"
#include "util/cli.h"
#include "util/h5.h"
#include "util/hash.h"

/* Scheduling cost of a job, in epochs of a width-8 ResNet18 on the 2D lesion batches: the master starts the
 * most expensive first. The factors are rough FLOP ratios per example; only their order matters. */
#define COST_BASELINE 0.001      /* a non-learned baseline: no training */
#define COST_REFERENCE_WIDTH 8.0 /* CNN cost grows with width² */
#define COST_RESNET50 2.3        /* ResNet50 / ResNet18 FLOP per example at the same width */
#define COST_WHOLE_VOLUME 0.5    /* one 3D volume per patient vs the patient's 2D lesion patches */
#define COST_MEAN_LARGEST5 0.5   /* at most 5 lesions per annotation */
#define COST_PER_JOB 0.01        /* reading the cohort, evaluation, the shard */
/* the organ pretraining corpus: lesion patches of pretrain_patients patients vs a cohort of
 * LR_SYNTH_DEFAULT_PATIENTS (the unit above) */

static double job_cost(const lr_train_options *o, lr_model_kind k)
{
    if (!lr_model_is_learned(k)) return COST_BASELINE;
    double w = k == LR_MODEL_WHOLE_VOLUME ? o->wv_width : lr_model_uses_resnet50(k) ? o->r50_width : o->width;
    double per = (w / COST_REFERENCE_WIDTH) * (w / COST_REFERENCE_WIDTH) * (lr_model_uses_resnet50(k) ? COST_RESNET50 : 1.0);
    if (k == LR_MODEL_WHOLE_VOLUME) per *= COST_WHOLE_VOLUME;
    if (k == LR_MODEL_MEAN_LARGEST5) per *= COST_MEAN_LARGEST5;
    return per * o->epochs + COST_PER_JOB;
}

int lr_campaign_build(const lr_experiment *exp, lr_campaign *c, lr_err *err)
{
    memset(c, 0, sizeof *c);
    int needs_pretrain = 0;
    for (int m = 0; m < exp->n_models; m++) {
        lr_model_kind k = exp->models[m];
        if (k == LR_MODEL_IMAGENET_RESNET50 && !exp->train.imagenet_weights[0]) needs_pretrain = 1;
        if (k == LR_MODEL_RADIMAGENET_RESNET50 && !exp->train.radimagenet_weights[0]) needs_pretrain = 1;
    }
    int n = exp->n_models * exp->folds * exp->replicates + needs_pretrain;
    c->jobs = lr_calloc((size_t)n, sizeof *c->jobs, err);
    if (!c->jobs) return -1;
    int pre_id = needs_pretrain ? n - 1 : -1;
    for (int m = 0; m < exp->n_models; m++)
        for (int f = 0; f < exp->folds; f++)
            for (int r = 0; r < exp->replicates; r++) {
                lr_job *j = &c->jobs[c->n_jobs];
                j->id = c->n_jobs++;
                j->kind = exp->models[m];
                j->fold = f;
                j->replicate = r;
                j->cost = job_cost(&exp->train, j->kind);
                int from_file = (j->kind == LR_MODEL_IMAGENET_RESNET50 && exp->train.imagenet_weights[0]) ||
                                (j->kind == LR_MODEL_RADIMAGENET_RESNET50 && exp->train.radimagenet_weights[0]);
                j->depends_on = lr_model_uses_resnet50(j->kind) && !from_file ? pre_id : -1;
                snprintf(j->name, sizeof j->name, "%s-f%d-r%d", lr_model_name(j->kind), f, r);
            }
    c->n_model_jobs = c->n_jobs;
    if (needs_pretrain) {
        lr_job *j = &c->jobs[c->n_jobs];
        j->id = c->n_jobs++;
        j->pretrain = 1;
        j->kind = LR_MODEL_IMAGENET_RESNET50;
        j->fold = j->replicate = -1;
        j->depends_on = -1;
        /* for the ETA (it is scheduled first anyway): the ResNet50 epochs over the corpus, in the unit above */
        double w = exp->train.r50_width / COST_REFERENCE_WIDTH;
        j->cost = w * w * COST_RESNET50 * exp->train.pretrain_epochs * exp->train.pretrain_patients /
                      (double)LR_SYNTH_DEFAULT_PATIENTS + COST_PER_JOB;
        snprintf(j->name, sizeof j->name, "pretrain-organ-resnet50");
    }
    return 0;
}

void lr_campaign_free(lr_campaign *c)
{
    free(c->jobs);
    memset(c, 0, sizeof *c);
}

/* results_dir/name/<sub>/<job>.<ext> */
static void job_file(const lr_experiment *exp, const char *sub, const lr_job *j, const char *ext, char *buf, size_t n)
{
    snprintf(buf, n, LR_CAMPAIGN_DIR_FMT "/%s/%s.%s", exp->results_dir, exp->name, sub, j->name, ext);
}

void lr_campaign_shard_path(const lr_experiment *exp, const lr_job *j, char *buf, size_t n)
{
    if (j->pretrain) snprintf(buf, n, "%s", exp->train.pretrain_path);
    else job_file(exp, "jobs", j, "h5", buf, n);
}

void lr_campaign_log_path(const lr_experiment *exp, const lr_job *j, char *buf, size_t n)
{
    job_file(exp, "logs", j, "log", buf, n);
}

void lr_campaign_checkpoint_path(const lr_experiment *exp, const lr_job *j, char *buf, size_t n)
{
    job_file(exp, "checkpoints", j, "h5", buf, n);
}

void lr_campaign_dir(const lr_experiment *exp, char *buf, size_t n)
{
    snprintf(buf, n, LR_CAMPAIGN_DIR_FMT, exp->results_dir, exp->name);
}

void lr_campaign_file_path(const lr_experiment *exp, char *buf, size_t n)
{
    snprintf(buf, n, LR_CAMPAIGN_DIR_FMT ".h5", exp->results_dir, exp->name);
}

int lr_campaign_make_dirs(const lr_experiment *exp, lr_err *err)
{
    const char *sub[3] = {"jobs", "logs", "checkpoints"};
    for (int i = 0; i < 3; i++) {
        char p[LR_PATH_MAX];
        snprintf(p, sizeof p, LR_CAMPAIGN_DIR_FMT "/%s", exp->results_dir, exp->name, sub[i]);
        if (lr_mkdir_parents(p, 1)) return lr_fail(err, "%s: cannot create directory", p);
    }
    return 0;
}

int lr_campaign_job_done(const lr_experiment *exp, const lr_job *j)
{
    char path[LR_PATH_MAX];
    lr_campaign_shard_path(exp, j, path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (j->pretrain) return lr_pretrain_organ_current(&exp->train); /* a cache: redone when settings changed */
    lr_err err;
    hid_t f = lr_h5_open_read(path, &err);
    if (f < 0) return 0;
    char status[32] = "", ident[32] = "", want[32];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)lr_job_identity(exp, j));
    int ok = lr_h5_attr_read_string(f, "/", "status", status, sizeof status, &err) == 0 && !strcmp(status, "ok");
    lr_h5_attr_read_string(f, "/", "identity", ident, sizeof ident, &err);
    H5Fclose(f);
    if (strcmp(ident, want) != 0) return -1; /* another config's result: never mixed in silently */
    return ok;
}

uint64_t lr_job_identity(const lr_experiment *exp, const lr_job *j)
{
    const char *text = exp->text ? exp->text : "";
    uint64_t h = lr_fnv1a64(LR_FNV1A64_OFFSET_BASIS, text, strlen(text));
    int64_t ids[3] = {j->kind, j->fold, j->replicate};
    unsigned char bytes[24]; /* little-endian, so the identity is the same on any host */
    for (int k = 0; k < 24; k++) bytes[k] = (unsigned char)((uint64_t)ids[k / 8] >> (8 * (k % 8)));
    h = lr_fnv1a64(h, bytes, sizeof bytes);
    return h ? h : 1;
}

lr_job_spec lr_job_spec_make(const lr_experiment *exp, const lr_cohort *cohort, const int *part, lr_model_kind kind,
                             int fold, int replicate)
{
    return (lr_job_spec){.cohort = cohort,
                         .cohort_path = exp->cohort,
                         .opt = &exp->train,
                         .kind = kind,
                         .fold = fold,
                         .folds = exp->folds,
                         .replicate = replicate,
                         .seed = exp->seed,
                         .part = part};
}
