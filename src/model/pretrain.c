#include "model/pretrain.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/synth.h"
#include "model/batch.h"
#include "nn/net.h"
#include "util/cli.h"
#include "util/h5.h"
#include "util/rng.h"

#define PRETRAIN_BATCH 32

static void describe(const lr_train_options *o, char *desc, size_t n)
{
    snprintf(desc, n, "pretrained: synthetic organ task (ResNet50 width %d, corpus seed %llu, %d patients, %d epochs)",
             o->r50_width, (unsigned long long)o->pretrain_seed, o->pretrain_patients, o->pretrain_epochs);
}

static int settings_match(const lr_train_options *o, const char *path, lr_err *err)
{
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return -1;
    long v[4] = {0, 0, 0, 0};
    long want[4] = {o->r50_width, (long)o->pretrain_seed, o->pretrain_patients, o->pretrain_epochs};
    int rc = lr_h5_attr_read(f, "/", "pretrain_settings", H5T_NATIVE_LONG, 4, v, err);
    H5Fclose(f);
    if (rc) return lr_fail_ctx(err, "%s", path);
    if (memcmp(v, want, sizeof v))
        return lr_fail(err, "%s: pretrained weights were made with other settings (width %ld, seed %ld, %ld patients, "
                       "%ld epochs); delete the file or set resnet50.pretrain.path", path, v[0], v[1], v[2], v[3]);
    return 0;
}

int lr_pretrain_organ_current(const lr_train_options *o)
{
    lr_err err;
    struct stat st;
    return stat(o->pretrain_path, &st) == 0 && settings_match(o, o->pretrain_path, &err) == 0;
}

int lr_pretrain_organ_ensure(const lr_train_options *o, char *desc, size_t desc_size, lr_err *err)
{
    describe(o, desc, desc_size);
    struct stat st;
    if (stat(o->pretrain_path, &st) == 0) return settings_match(o, o->pretrain_path, err);
    return lr_pretrain_organ_run(o, 0, err);
}


/* Softmax cross-entropy over K classes, mean over the batch; dlogits overwritten. */
static double cross_entropy(const float *logits, const int *label, int n, int K, float *dlogits)
{
    double loss = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * K;
        float mx = z[0];
        for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        double sum = 0;
        for (int k = 0; k < K; k++) sum += exp((double)z[k] - mx);
        loss += log(sum) + mx - z[label[i]];
        for (int k = 0; k < K; k++)
            dlogits[(size_t)i * K + k] = (float)((exp((double)z[k] - mx) / sum - (k == label[i])) / n);
    }
    return loss / n;
}

int lr_pretrain_organ_run(const lr_train_options *o, int verbose, lr_err *err)
{
    lr_synth_params sp;
    lr_synth_default_params(&sp);
    sp.patients = (size_t)o->pretrain_patients;
    sp.seed = o->pretrain_seed;
    lr_cohort corpus;
    if (lr_synth_generate(&sp, &corpus, err)) return lr_fail_ctx(err, "pretraining corpus");
    int K = (int)corpus.n_organs, rc = -1;
    /* one annotation per patient (the first reader) so no lesion appears twice */
    size_t n = 0;
    int64_t *rows = lr_malloc(corpus.n_lesions, sizeof *rows, err);
    int *label = lr_malloc(PRETRAIN_BATCH, sizeof *label, err);
    float *x = lr_malloc((size_t)PRETRAIN_BATCH * LR_PATCH * LR_PATCH, sizeof *x, err);
    float *dlog = lr_malloc((size_t)PRETRAIN_BATCH * K, sizeof *dlog, err);
    lr_net *net = NULL;
    lr_adam opt = {0};
    lr_patch_pipeline pp = {0};
    gsl_rng *r = lr_rng_stream(o->pretrain_seed, "pretrain", 0, 0, 0);
    char tmp[LR_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o->pretrain_path, (long)getpid());
    if (!rows || !label || !x || !dlog || !r) goto done;
    int last_patient = -1;
    for (size_t a = 0; a < corpus.n_annotations; a++) {
        if (corpus.ann_patient[a] == last_patient) continue;
        last_patient = corpus.ann_patient[a];
        for (int k = 0; k < corpus.ann_n_lesions[a]; k++) rows[n++] = corpus.ann_first_lesion[a] + k;
    }
    lr_net_config cfg = {LR_ARCH_RESNET50, 1, o->r50_width, K};
    net = lr_net_create(&cfg, r, err);
    if (!net || lr_adam_init(&opt, net->n_params, 1e-3f, 0.0f, err) || lr_patch_pipeline_init(&pp, o, err)) goto done;
    int dims[3] = {1, LR_PATCH, LR_PATCH};
    for (int e = 0; e < o->pretrain_epochs; e++) {
        gsl_ran_shuffle(r, rows, n, sizeof *rows);
        double sum = 0;
        int steps = 0, correct = 0, seen = 0;
        for (size_t i = 0; i + 1 < n; i += PRETRAIN_BATCH) {
            int b = (int)(n - i < PRETRAIN_BATCH ? n - i : PRETRAIN_BATCH);
            for (int k = 0; k < b; k++) label[k] = corpus.organ[rows[i + k]];
            if (lr_build_patch_batch(&pp, &corpus, rows + i, b, o, r, x, err)) goto done;
            if (lr_net_forward(net, x, b, dims, 1, err)) goto done;
            const float *logits = lr_net_output(net);
            for (int k = 0; k < b; k++) {
                int arg = 0;
                for (int j = 1; j < K; j++) arg = logits[(size_t)k * K + j] > logits[(size_t)k * K + arg] ? j : arg;
                correct += arg == label[k];
            }
            seen += b;
            double loss = cross_entropy(logits, label, b, K, dlog);
            if (!isfinite(loss)) {
                lr_fail(err, "pretraining: non-finite loss at epoch %d", e + 1);
                goto done;
            }
            lr_net_zero_grad(net);
            if (lr_net_backward(net, dlog, NULL, err)) goto done;
            lr_adam_step(&opt, net->params, net->grads);
            sum += loss;
            steps++;
        }
        if (verbose)
            printf("pretrain epoch %d/%d: cross-entropy %.4f, organ accuracy %.3f\n", e + 1, o->pretrain_epochs,
                   steps ? sum / steps : NAN, seen ? (double)correct / seen : NAN);
    }
    lr_mkdir_parents(o->pretrain_path, 0);
    hid_t f = lr_h5_create(tmp, err);
    if (f < 0) goto done;
    long settings[4] = {o->r50_width, (long)o->pretrain_seed, o->pretrain_patients, o->pretrain_epochs};
    char desc[400];
    describe(o, desc, sizeof desc);
    int wrc = lr_net_save_h5(net, f, "", err);
    if (!wrc) wrc = lr_h5_attr_write(f, "/", "pretrain_settings", H5T_NATIVE_LONG, H5T_STD_I64LE, 4, settings, err);
    if (!wrc) wrc = lr_h5_attr_write_string(f, "/", "provenance", desc, err);
    if (H5Fclose(f) < 0 || wrc) {
        unlink(tmp);
        if (!wrc) lr_fail(err, "%s: error closing", tmp);
        goto done;
    }
    if (rename(tmp, o->pretrain_path) != 0) {
        unlink(tmp);
        lr_fail(err, "%s: cannot rename into place", o->pretrain_path);
        goto done;
    }
    rc = 0;
done:
    if (net) lr_net_free(net);
    if (opt.m) lr_adam_free(&opt);
    lr_patch_pipeline_free(&pp);
    if (r) gsl_rng_free(r);
    free(rows);
    free(label);
    free(x);
    free(dlog);
    lr_cohort_free(&corpus);
    return rc;
}
