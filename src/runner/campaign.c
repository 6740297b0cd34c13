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

/* The ResNet50 rows without a weights file each need their task's pretraining (one job per task). */
static int needs_pretraining(const lr_experiment *exp, lr_model_kind k)
{
    if (k == LR_MODEL_IMAGENET_RESNET50) return !exp->train.imagenet_weights[0];
    if (k == LR_MODEL_RADIMAGENET_RESNET50) return !exp->train.radimagenet_weights[0];
    return 0;
}

/* Job sets of one model row: the sweep's settings for a learned row, else one. */
static int n_settings_of(const lr_experiment *exp, lr_model_kind k)
{
    return lr_model_is_learned(k) && exp->sweep.n_settings > 0 ? exp->sweep.n_settings : 1;
}

const lr_experiment *lr_job_experiment(const lr_experiment *exp, const lr_job *j)
{
    if (j->setting < 0) return exp;
    lr_experiment *copy = malloc(sizeof *copy);
    if (!copy) return NULL;
    *copy = *exp;
    lr_experiment_apply_setting(copy, j->setting);
    return copy;
}

void lr_job_experiment_free(const lr_experiment *exp, const lr_experiment *job_exp)
{
    if (job_exp != exp) free((void *)job_exp);
}

int lr_campaign_build(const lr_experiment *exp, lr_campaign *c, lr_err *err)
{
    memset(c, 0, sizeof *c);
    int task_needed[LR_PRETRAIN_N_TASKS] = {0}, n_pre = 0;
    for (int m = 0; m < exp->n_models; m++)
        if (needs_pretraining(exp, exp->models[m])) task_needed[lr_pretrain_task_of(exp->models[m])] = 1;
    for (int t = 0; t < LR_PRETRAIN_N_TASKS; t++) n_pre += task_needed[t];
    /* a sweep expands every learned model row into its settings (the size baselines have nothing to tune) */
    int n_model = 0, per_row = exp->repeats * exp->folds * exp->replicates;
    for (int m = 0; m < exp->n_models; m++) n_model += n_settings_of(exp, exp->models[m]) * per_row;
    c->jobs = lr_calloc((size_t)(n_model + n_pre), sizeof *c->jobs, err);
    if (!c->jobs) return -1;
    int pre_id[LR_PRETRAIN_N_TASKS], next = n_model;
    for (int t = 0; t < LR_PRETRAIN_N_TASKS; t++) pre_id[t] = task_needed[t] ? next++ : -1;
    for (int m = 0; m < exp->n_models; m++) {
        int swept = lr_model_is_learned(exp->models[m]) && exp->sweep.n_settings > 0;
        for (int s = swept ? 0 : -1; s < (swept ? exp->sweep.n_settings : 0); s++) {
            lr_job proto = {.kind = exp->models[m], .setting = s};
            const lr_experiment *jexp = lr_job_experiment(exp, &proto);
            if (!jexp) return lr_fail(err, "out of memory");
            double cost = job_cost(&jexp->train, proto.kind);
            lr_job_experiment_free(exp, jexp);
            for (int k = 0; k < exp->repeats; k++)
                for (int f = 0; f < exp->folds; f++)
                    for (int r = 0; r < exp->replicates; r++) {
                        lr_job *j = &c->jobs[c->n_jobs];
                        j->id = c->n_jobs++;
                        j->kind = exp->models[m];
                        j->setting = s;
                        j->repeat = k;
                        j->fold = f;
                        j->replicate = r;
                        j->cost = cost;
                        j->depends_on = needs_pretraining(exp, j->kind) ? pre_id[lr_pretrain_task_of(j->kind)] : -1;
                        lr_job_name(exp, j);
                    }
        }
    }
    c->n_model_jobs = c->n_jobs;
    for (int t = 0; t < LR_PRETRAIN_N_TASKS; t++) {
        if (!task_needed[t]) continue;
        lr_job *j = &c->jobs[c->n_jobs];
        j->id = c->n_jobs++;
        j->pretrain = 1 + t;
        j->kind = t == LR_PRETRAIN_FRACTAL ? LR_MODEL_IMAGENET_RESNET50 : LR_MODEL_RADIMAGENET_RESNET50;
        j->fold = j->replicate = j->repeat = j->setting = -1;
        j->depends_on = -1;
        /* for the ETA (it is scheduled first anyway): the ResNet50 epochs over the corpus (about 12 images
         * per corpus patient in either task), in the unit above */
        double w = exp->train.r50_width / COST_REFERENCE_WIDTH;
        j->cost = w * w * COST_RESNET50 * exp->train.pretrain_epochs * exp->train.pretrain_patients /
                      (double)LR_SYNTH_DEFAULT_PATIENTS + COST_PER_JOB;
        snprintf(j->name, sizeof j->name, "pretrain-%s-resnet50", lr_pretrain_task_name((lr_pretrain_task)t));
    }
    return 0;
}

void lr_job_name(const lr_experiment *exp, lr_job *j)
{
    char set[24] = "", rep[24] = "";
    if (j->setting >= 0) snprintf(set, sizeof set, "-s%d", j->setting);
    if (exp->repeats > 1) snprintf(rep, sizeof rep, "-rep%d", j->repeat);
    snprintf(j->name, sizeof j->name, "%s%s%s-f%d-r%d", lr_model_name(j->kind), set, rep, j->fold, j->replicate);
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
    if (j->pretrain) snprintf(buf, n, "%s", lr_pretrain_path(&exp->train, (lr_pretrain_task)(j->pretrain - 1)));
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
    if (j->pretrain) /* a cache: redone when settings changed */
        return lr_pretrain_current(&exp->train, (lr_pretrain_task)(j->pretrain - 1));
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

/* The last "job failed: ..." line of the job's log after its last "job model=" line (a later attempt that
 * is still running or succeeded starts a new section); "" when none. */
static void last_failure_line(const lr_experiment *exp, const lr_job *j, char *out, size_t n)
{
    char path[LR_PATH_MAX + 64], line[1024];
    out[0] = '\0';
    lr_campaign_log_path(exp, j, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "job model=", 10)) out[0] = '\0';
        else if (!strncmp(line, "job failed: ", 12)) snprintf(out, n, "%s", line + 12);
    }
    fclose(f);
}

lr_job_state lr_campaign_job_state(const lr_experiment *exp, const lr_job *j, char *error, size_t n)
{
    char buf[1024] = "";
    if (error && n) error[0] = '\0';
    int done = lr_campaign_job_done(exp, j);
    if (done > 0) return LR_JOB_STATE_DONE;
    if (done < 0) return LR_JOB_STATE_STALE;
    if (j->pretrain) return LR_JOB_STATE_PENDING; /* a cache, redone by whoever needs it */
    last_failure_line(exp, j, buf, sizeof buf);
    char path[LR_PATH_MAX];
    lr_campaign_shard_path(exp, j, path, sizeof path);
    struct stat st;
    if (!buf[0] && stat(path, &st) == 0) { /* a failed shard without a log line: its error attribute */
        lr_err err;
        hid_t f = lr_h5_open_read(path, &err);
        if (f >= 0) {
            char status[32] = "";
            lr_h5_attr_read_string(f, "/", "status", status, sizeof status, &err);
            if (!strcmp(status, "failed") &&
                (lr_h5_attr_read_string(f, "/", "error", buf, sizeof buf, &err) != 0 || !buf[0]))
                snprintf(buf, sizeof buf, "failed (no error recorded)");
            H5Fclose(f);
        }
    }
    if (!buf[0]) return LR_JOB_STATE_PENDING;
    buf[strcspn(buf, "\n")] = '\0';
    if (error && n) snprintf(error, n, "%s", buf);
    return LR_JOB_STATE_FAILED;
}

uint64_t lr_job_identity(const lr_experiment *exp, const lr_job *j)
{
    const char *text = exp->text ? exp->text : "";
    uint64_t h = lr_fnv1a64(LR_FNV1A64_OFFSET_BASIS, text, strlen(text));
    int64_t ids[5] = {j->kind, j->fold, j->replicate, j->repeat, j->setting};
    /* a campaign of one split without a sweep keeps the identities it always had */
    size_t n = j->repeat != 0 || j->setting >= 0 ? 5 : 3;
    unsigned char bytes[40]; /* little-endian, so the identity is the same on any host */
    for (size_t k = 0; k < 8 * n; k++) bytes[k] = (unsigned char)((uint64_t)ids[k / 8] >> (8 * (k % 8)));
    h = lr_fnv1a64(h, bytes, 8 * n);
    return h ? h : 1;
}

lr_job_spec lr_job_spec_make(const lr_experiment *exp, const lr_cohort *cohort, const int *part, const lr_job *j)
{
    return (lr_job_spec){.cohort = cohort,
                         .cohort_path = exp->cohort,
                         .opt = &exp->train,
                         .kind = j->kind,
                         .repeat = j->repeat,
                         .fold = j->fold,
                         .folds = exp->folds,
                         .replicate = j->replicate,
                         .seed = exp->seed,
                         .part = part};
}
