/* Kept models and predict's building blocks; helper modes for tests/cli_predict.sh:
 *   test_predict                                  unit tests
 *   test_predict --saliency-ratio PRED.h5 DATASET [--shuffle]   mean |map| per pixel inside the lesion's disc
 *                                                 (radius = side/4: the lesion of diameter d in its 2d×2d
 *                                                 patch) over outside, averaged over lesions (--shuffle: each
 *                                                 map's pixels permuted first, the negative control)
 *   test_predict --set-int FILE DATASET VALUE     every element of an int32 dataset set to VALUE
 *   test_predict --set-string FILE DATASET I TEXT element I of a fixed- or variable-length string dataset
 *   test_predict --drop FILE PATH                 unlink a group or dataset (a campaign from before /models) */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model/kept_model.h"
#include "model/score.h"
#include "runner/config.h"
#include "util/h5.h"

#define P2 (LR_PATCH * LR_PATCH)

/* A small trained-looking model: random init, then the head and normalisation moved off their defaults. */
static int make_model(lr_lesion_model *m, lr_model_kind kind, lr_train_options *o, unsigned long seed)
{
    lr_experiment exp;
    lr_experiment_defaults(&exp);
    *o = exp.train;
    o->width = o->r50_width = 4;
    o->scaler_hidden = 4;
    o->hu_min = -900, o->hu_max = 700, o->max_lesions = 3;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    lr_err e = {0};
    int rc = lr_lesion_model_init(m, kind, o, r, &e);
    for (size_t i = 0; !rc && i < m->cnn->n_buffers; i++) m->cnn->buffers[i] += (float)gsl_rng_uniform(r); /* BN stats */
    for (size_t i = 0; !rc && i < m->n_head; i++) m->head[i] += (float)(gsl_rng_uniform(r) - 0.5);
    m->logv_mean = 6.5, m->logv_sd = 1.3, m->v_mean = 2100;
    gsl_rng_free(r);
    return rc;
}

static void random_patches(float *hu, int n, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (size_t i = 0; i < (size_t)n * P2; i++) hu[i] = (float)(-1000 + 1600 * gsl_rng_uniform(r));
    gsl_rng_free(r);
}

/* shard /model -> read -> build: the same risks, bit for bit, and the same scales */
static void kept_roundtrip(lr_model_kind kind)
{
    lr_lesion_model m, b;
    lr_train_options o, ob;
    CHECK(make_model(&m, kind, &o, 5) == 0);
    lr_kept_model k, r;
    lr_kept_model_describe(&m, &o, &k);
    char path[] = "/tmp/lr_test_kept_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    lr_err e = {0};
    hid_t f = lr_h5_create(path, &e);
    CHECK(f >= 0 && lr_kept_model_write_shard(f, &k, m.cnn->params, m.cnn->buffers, m.head, &e) == 0);
    H5Fclose(f);
    f = lr_h5_open_read(path, &e);
    float *values = NULL;
    CHECK(lr_kept_model_in_shard(f) && lr_kept_model_read_shard(f, &r, &values, &e) == 0);
    H5Fclose(f);
    unlink(path);
    CHECK(r.kind == kind && !strcmp(r.arch, k.arch) && r.width == 4 && r.max_lesions == k.max_lesions);
    CHECK(r.hu_window[0] == -900 && r.hu_window[1] == 700 && r.size_normalisation[2] == 2100);
    lr_experiment exp;
    lr_experiment_defaults(&exp);
    ob = exp.train;
    CHECK(values && lr_kept_model_build(&r, values, &ob, &b, &e) == 0);
    CHECK(ob.hu_min == -900 && ob.max_lesions == k.max_lesions);
    float hu[6 * P2], r1[6], r2[6], s1[6], s2[6];
    double vol[6] = {50, 300, 1200, 4000, 9000, 30000};
    random_patches(hu, 6, 9);
    CHECK(lr_score_patches(&m, &o, hu, 6, r1, &e) == 0 && lr_score_patches(&b, &ob, hu, 6, r2, &e) == 0);
    CHECK(memcmp(r1, r2, sizeof r1) == 0);
    if (kind != LR_MODEL_MEAN_LARGEST5) {
        CHECK(lr_size_scale_forward(&m, vol, 6, s1, &e) == 0 && lr_size_scale_forward(&b, vol, 6, s2, &e) == 0);
        CHECK(memcmp(s1, s2, sizeof s1) == 0);
    }
    /* the values do not fit another width: refused, naming both */
    r.width = 8;
    lr_lesion_model c;
    ob = exp.train;
    CHECK(lr_kept_model_build(&r, values, &ob, &c, &e) != 0 && strstr(e.msg, "expects"));
    free(values);
    lr_lesion_model_free(&m);
    lr_lesion_model_free(&b);
}

static void test_kept_proposed(void) { kept_roundtrip(LR_MODEL_PROPOSED); }
static void test_kept_no_fc(void) { kept_roundtrip(LR_MODEL_NO_FC); }
static void test_kept_mean_largest5(void) { kept_roundtrip(LR_MODEL_MEAN_LARGEST5); }

/* lr_net_input_gradient after an eval-mode forward against central differences of the eval-mode output */
static void test_input_gradient_fd(void)
{
    lr_net_config cfg = {LR_ARCH_RESNET18, 1, 4, 1};
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    lr_err e = {0};
    lr_net *net = lr_net_create(&cfg, r, &e);
    CHECK(net != NULL);
    if (!net) return;
    for (int t = 0; t < net->n_tensors; t++) { /* running statistics away from their 0 / 1 start */
        const lr_tensor *ts = &net->tensors[t];
        if (!ts->is_buffer) continue;
        int var = strstr(ts->name, "running_var") != NULL;
        float *v = net->buffers + ts->offset;
        for (size_t i = 0; i < ts->numel; i++) v[i] = (float)(var ? 0.5 + gsl_rng_uniform(r) : 0.2 * (gsl_rng_uniform(r) - 0.5));
    }
    for (size_t i = 0; i < net->n_params; i++) net->params[i] += (float)(0.05 * (gsl_rng_uniform(r) - 0.5));
    enum { N = 2, S = 40 };
    int dims[3] = {1, S, S};
    static float x[N * S * S], dx[N * S * S];
    for (size_t i = 0; i < N * S * S; i++) x[i] = (float)(2 * gsl_rng_uniform(r) - 1);
    float dy[N] = {1.0f, -0.5f};
    CHECK(lr_net_forward(net, x, N, dims, 0, &e) == 0);
    CHECK(lr_net_input_gradient(net, dy, NULL, dx, &e) == 0);
    int good = 0, tried = 0, nonzero = 0;
    for (int t = 0; t < 24; t++) {
        size_t i = gsl_rng_uniform_int(r, N * S * S);
        const float h = 1e-2f, keep = x[i];
        double f[2];
        for (int s2 = 0; s2 < 2; s2++) {
            x[i] = keep + (s2 ? -h : h);
            lr_net_forward(net, x, N, dims, 0, &e);
            const float *out = lr_net_output(net);
            f[s2] = (double)dy[0] * out[0] + (double)dy[1] * out[1];
        }
        x[i] = keep;
        double fd = (f[0] - f[1]) / (2 * h);
        tried++;
        nonzero += fabs(dx[i]) > 1e-6;
        if (getenv("LR_DEBUG_FD")) fprintf(stderr, "%zu fd %g an %g\n", i, fd, dx[i]);
        good += fabs(fd - dx[i]) <= 2e-4 + 0.05 * fabs(dx[i]);
    }
    CHECK_MSG(good >= tried - 2, "%d of %d pixels agree with central differences", good, tried);
    CHECK(nonzero >= tried / 2);
    lr_net_free(net);
    gsl_rng_free(r);
}

/* eval chunks: consecutive, whole annotations, each closed once it holds >= 128 lesions */
static void test_chunks(void)
{
    int32_t n_les[7] = {100, 30, 5, 200, 1, 127, 3}, ann_patient[7] = {0, 0, 1, 1, 2, 2, 3}, chunk[7];
    lr_cohort c;
    memset(&c, 0, sizeof c);
    c.n_annotations = 7;
    c.ann_n_lesions = n_les;
    c.ann_patient = ann_patient;
    size_t n = lr_score_chunks(&c, chunk);
    int32_t want[7] = {0, 0, 1, 1, 2, 2, 3};
    CHECK(n == 4 && memcmp(chunk, want, sizeof want) == 0);
}

/* ---- helper modes ---- */

static int saliency_ratio(const char *path, const char *dataset, int shuffle)
{
    lr_err e = {0};
    hid_t f = lr_h5_open_read(path, &e);
    int rank;
    hsize_t d[LR_H5_MAXRANK];
    if (f < 0 || lr_h5_shape(f, dataset, &rank, d, &e) || rank != 3 || d[1] != LR_PATCH) {
        fprintf(stderr, "%s: no %s [L,72,72]: %s\n", path, dataset, e.msg);
        return 1;
    }
    size_t L = d[0];
    float *m = malloc(L * P2 * sizeof(float) + 1);
    if (!m || lr_h5_read(f, dataset, H5T_NATIVE_FLOAT, m, &e)) return 1;
    H5Fclose(f);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double ratio_sum = 0;
    size_t used = 0;
    for (size_t l = 0; l < L; l++) {
        float *map = m + l * P2;
        if (shuffle) gsl_ran_shuffle(r, map, P2, sizeof(float));
        double in = 0, out = 0;
        size_t n_in = 0, n_out = 0;
        for (int i = 0; i < LR_PATCH; i++)
            for (int j = 0; j < LR_PATCH; j++) {
                double rr = hypot(i + 0.5 - LR_PATCH / 2.0, j + 0.5 - LR_PATCH / 2.0);
                double v = fabs(map[i * LR_PATCH + j]);
                if (rr <= LR_PATCH / 4.0) in += v, n_in++;
                else out += v, n_out++;
            }
        if (!(out > 0) || !isfinite(in)) continue;
        ratio_sum += (in / n_in) / (out / n_out);
        used++;
    }
    gsl_rng_free(r);
    free(m);
    printf("lesions: %zu\nsaliency_inside_ratio: %.6f\n", used, used ? ratio_sum / used : NAN);
    return used ? 0 : 1;
}

static int set_int(const char *path, const char *ds_path, int value)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = f >= 0 ? H5Dopen2(f, ds_path, H5P_DEFAULT) : -1;
    if (ds < 0) return fprintf(stderr, "%s: no %s\n", path, ds_path), 1;
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int *v = malloc((size_t)n * sizeof(int) + 1);
    for (hssize_t i = 0; i < n; i++) v[i] = value;
    herr_t rc = H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    free(v);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(f);
    return rc < 0;
}

static int set_string(const char *path, const char *ds_path, long index, const char *text)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = f >= 0 ? H5Dopen2(f, ds_path, H5P_DEFAULT) : -1;
    if (ds < 0) return fprintf(stderr, "%s: no %s\n", path, ds_path), 1;
    hid_t type = H5Dget_type(ds), sp = H5Dget_space(ds);
    hsize_t start = (hsize_t)index, one = 1;
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, &start, NULL, &one, NULL);
    hid_t mem = H5Screate_simple(1, &one, NULL);
    herr_t rc;
    if (H5Tis_variable_str(type) > 0) {
        const char *p = text;
        rc = H5Dwrite(ds, type, mem, sp, H5P_DEFAULT, &p);
    } else {
        size_t w = H5Tget_size(type);
        char *buf = calloc(1, w);
        snprintf(buf, w, "%s", text);
        rc = H5Dwrite(ds, type, mem, sp, H5P_DEFAULT, buf);
        free(buf);
    }
    H5Sclose(mem);
    H5Sclose(sp);
    H5Tclose(type);
    H5Dclose(ds);
    H5Fclose(f);
    return rc < 0;
}

static int drop(const char *path, const char *obj)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    herr_t rc = f >= 0 ? H5Ldelete(f, obj, H5P_DEFAULT) : -1;
    if (f >= 0) H5Fclose(f);
    return rc < 0;
}

int main(int argc, char **argv)
{
    lr_h5_quiet();
    if (argc >= 4 && !strcmp(argv[1], "--saliency-ratio"))
        return saliency_ratio(argv[2], argv[3], argc > 4 && !strcmp(argv[4], "--shuffle"));
    if (argc == 5 && !strcmp(argv[1], "--set-int")) return set_int(argv[2], argv[3], atoi(argv[4]));
    if (argc == 6 && !strcmp(argv[1], "--set-string")) return set_string(argv[2], argv[3], atol(argv[4]), argv[5]);
    if (argc == 4 && !strcmp(argv[1], "--drop")) return drop(argv[2], argv[3]);
    if (argc > 1) return fprintf(stderr, "test_predict: unknown mode %s\n", argv[1]), 2;
    RUN(test_kept_proposed);
    RUN(test_kept_no_fc);
    RUN(test_kept_mean_largest5);
    RUN(test_chunks);
    RUN(test_input_gradient_fd);
    return TEST_SUMMARY();
}
