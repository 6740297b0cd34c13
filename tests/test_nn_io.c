/* Weight files and the forward verb: save/load round trip, the 3→1-channel stem, bad files (missing key,
 * wrong shape, NaN) reported with the key's name, and `lesionrank forward` exit codes and output. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "nn/net.h"
#include "util/cli.h"
#include "util/h5.h"
#include "util/rng.h"
#include "verbs.h"

static char tmpdir[512];

static const char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
    return buf;
}

static lr_net *tiny_net(int in_channels, uint64_t seed)
{
    lr_err err;
    lr_net_config cfg = {LR_ARCH_RESNET18, in_channels, 2, 3};
    gsl_rng *rng = lr_rng_stream(seed, "test_nn_io", 0, 0, 0);
    lr_net *net = lr_net_create(&cfg, rng, &err);
    gsl_rng_free(rng);
    CHECK_MSG(net, "%s", err.msg);
    return net;
}

static void test_save_load_roundtrip(void)
{
    char path[600];
    lr_err err;
    lr_net *a = tiny_net(1, 1), *b = tiny_net(1, 2);
    if (!a || !b) return;
    for (size_t i = 0; i < a->n_buffers; i++) a->buffers[i] = 0.5f + 0.001f * (float)i;
    CHECK_MSG(lr_net_save(a, tmp_path(path, sizeof path, "w.h5"), &err) == 0, "%s", err.msg);
    CHECK(memcmp(a->params, b->params, sizeof(float) * a->n_params) != 0);
    CHECK_MSG(lr_net_load(b, path, 0, &err) == 0, "%s", err.msg);
    CHECK(memcmp(a->params, b->params, sizeof(float) * a->n_params) == 0);
    CHECK(memcmp(a->buffers, b->buffers, sizeof(float) * a->n_buffers) == 0);
    /* the shapes in the file give the configuration */
    hid_t f = lr_h5_open_read(path, &err);
    lr_net_config cfg;
    CHECK(lr_net_config_from_h5(&cfg, LR_ARCH_RESNET18, f, "", &err) == 0);
    CHECK(cfg.in_channels == 1 && cfg.width == 2 && cfg.out_size == 3);
    CHECK(lr_net_config_from_h5(&cfg, LR_ARCH_RESNET18_3D, f, "", &err) == -1);
    CHECK_MSG(strstr(err.msg, "conv1.weight"), "%s", err.msg);
    H5Fclose(f);
    /* resnet50 from a resnet18 file: the first missing key is named */
    lr_net_config c50 = {LR_ARCH_RESNET50, 1, 2, 3};
    gsl_rng *rng = lr_rng_stream(1, "x", 0, 0, 0);
    lr_net *r50 = lr_net_create(&c50, rng, &err);
    gsl_rng_free(rng);
    CHECK(r50 && lr_net_load(r50, path, 0, &err) == -1);
    CHECK_MSG(strstr(err.msg, "missing key 'layer1.0.bn1.weight'") || strstr(err.msg, "layer1.0.conv1.weight"), "%s",
              err.msg);
    lr_net_free(r50);
    lr_net_free(a);
    lr_net_free(b);
}

/* Writes net a's tensors to path, with one key altered: "drop" it, "reshape" it, or put a "nan" in it. */
static void write_altered(lr_net *a, const char *path, const char *key, const char *how)
{
    lr_err err;
    hid_t f = lr_h5_create(path, &err);
    for (int i = 0; i < a->n_tensors; i++) {
        const lr_tensor *t = &a->tensors[i];
        char ds[96];
        snprintf(ds, sizeof ds, "/%s", t->name);
        float *data = lr_net_tensor_data(a, t);
        hsize_t dims[5];
        for (int d = 0; d < t->rank; d++) dims[d] = (hsize_t)t->dims[d];
        int rank = t->rank;
        float *copy = malloc(sizeof(float) * t->numel);
        memcpy(copy, data, sizeof(float) * t->numel);
        if (!strcmp(t->name, key)) {
            if (!strcmp(how, "drop")) {
                free(copy);
                continue;
            }
            if (!strcmp(how, "reshape")) dims[0] = 1, dims[1] = t->numel / 1, rank = 2;
            if (!strcmp(how, "nan")) copy[t->numel - 1] = NAN;
        }
        lr_h5_write(f, ds, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, rank, dims, NULL, 0, copy, &err);
        free(copy);
    }
    H5Fclose(f);
}

static void check_bad_file(lr_net *a, const char *key, const char *how, const char *expect)
{
    char path[600];
    lr_err err;
    write_altered(a, tmp_path(path, sizeof path, "bad.h5"), key, how);
    lr_net *b = tiny_net(1, 3);
    CHECK(lr_net_load(b, path, 0, &err) == -1);
    CHECK_MSG(strstr(err.msg, key) && strstr(err.msg, expect), "%s: %s", how, err.msg);
    lr_net_free(b);
}

static void test_bad_weight_files(void)
{
    lr_net *a = tiny_net(1, 1);
    if (!a) return;
    check_bad_file(a, "layer2.1.conv2.weight", "drop", "missing key");
    check_bad_file(a, "layer3.0.downsample.1.running_var", "drop", "missing key");
    check_bad_file(a, "layer1.0.conv1.weight", "reshape", "shape [1,");
    check_bad_file(a, "fc.weight", "reshape", "expects [3,16]");
    check_bad_file(a, "layer4.1.bn2.bias", "nan", "non-finite");
    lr_net_free(a);
}

static void test_stem_channel_sum(void)
{
    char path[600];
    lr_err err;
    lr_net *rgb = tiny_net(3, 4), *gray = tiny_net(1, 5);
    if (!rgb || !gray) return;
    CHECK(lr_net_save(rgb, tmp_path(path, sizeof path, "rgb.h5"), &err) == 0);
    CHECK_MSG(lr_net_load(gray, path, 0, &err) == 0, "%s", err.msg);
    const lr_tensor *t3 = lr_net_tensor(rgb, "conv1.weight"), *t1 = lr_net_tensor(gray, "conv1.weight");
    const float *w3 = rgb->params + t3->offset, *w1 = gray->params + t1->offset;
    /* output channel 1, kernel element 10: the sum over the 3 input channels */
    CHECK_CLOSE(w1[49 + 10], w3[147 + 10] + w3[147 + 49 + 10] + w3[147 + 98 + 10], 1e-6, 1e-6);
    /* a different fc size is an error unless asked to keep the net's own fc */
    lr_net_config cfg = {LR_ARCH_RESNET18, 1, 2, 1};
    gsl_rng *rng = lr_rng_stream(1, "x", 0, 0, 0);
    lr_net *one = lr_net_create(&cfg, rng, &err);
    gsl_rng_free(rng);
    CHECK(lr_net_load(one, path, 0, &err) == -1 && strstr(err.msg, "fc.weight"));
    CHECK_MSG(lr_net_load(one, path, LR_LOAD_SKIP_FC_MISMATCH, &err) == 0, "%s", err.msg);
    lr_net_free(one);
    lr_net_free(rgb);
    lr_net_free(gray);
}

static int run_verb(int (*verb)(int, char **), const char *a0, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    for (const char *s = a0; s && argc < 31; s = va_arg(ap, const char *)) argv[argc++] = (char *)s;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    return verb(argc, argv);
}

static void write_input(const char *path, int n, int c, int h, int w, float poison)
{
    lr_err err;
    size_t total = (size_t)n * c * h * w;
    float *x = malloc(sizeof(float) * total);
    for (size_t i = 0; i < total; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    x[total / 2] += poison;
    hsize_t dims[4] = {(hsize_t)n, (hsize_t)c, (hsize_t)h, (hsize_t)w};
    hid_t f = lr_h5_create(path, &err);
    lr_h5_write(f, "/x", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 4, dims, NULL, 0, x, &err);
    H5Fclose(f);
    free(x);
}

static void test_forward_verb(void)
{
    char wpath[600], xpath[600], ypath[600], bad[600], nanx[600], rgbx[600];
    lr_err err;
    lr_net *net = tiny_net(1, 6);
    if (!net) return;
    for (size_t i = 0; i < net->n_buffers; i++) net->buffers[i] = (i % 2) ? 0.8f : 0.05f; /* non-trivial BN */
    lr_net_save(net, tmp_path(wpath, sizeof wpath, "fw.h5"), &err);
    write_input(tmp_path(xpath, sizeof xpath, "x.h5"), 5, 1, 33, 35, 0.0f);
    tmp_path(ypath, sizeof ypath, "y.h5");
    unlink(ypath);
    CHECK(run_verb(cmd_forward, "forward", "--help", NULL) == 0);
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--weights", wpath, "--input", xpath, "-o", ypath,
                   "--batch", "2", NULL) == 0);
    /* the output equals an in-process eval forward */
    hid_t f = lr_h5_open_read(ypath, &err);
    CHECK(f >= 0);
    if (f >= 0) {
        float y[15], emb[80];
        CHECK(lr_h5_read(f, "/y", H5T_NATIVE_FLOAT, y, &err) == 0);
        CHECK(lr_h5_read(f, "/embedding", H5T_NATIVE_FLOAT, emb, &err) == 0);
        H5Fclose(f);
        hid_t xf = lr_h5_open_read(xpath, &err);
        float *x = malloc(sizeof(float) * 5 * 33 * 35);
        lr_h5_read(xf, "/x", H5T_NATIVE_FLOAT, x, &err);
        H5Fclose(xf);
        int dims[3] = {1, 33, 35};
        CHECK(lr_net_forward(net, x, 5, dims, 0, &err) == 0);
        for (int i = 0; i < 15; i++) CHECK_CLOSE(y[i], lr_net_output(net)[i], 1e-5, 1e-4);
        for (int i = 0; i < 80; i++) CHECK_CLOSE(emb[i], lr_net_embedding(net)[i], 1e-5, 1e-4);
        free(x);
    }
    /* refuses to overwrite, unless --force */
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--weights", wpath, "--input", xpath, "-o", ypath,
                   NULL) == 1);
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--weights", wpath, "--input", xpath, "-o", ypath,
                   "--force", NULL) == 0);
    /* usage errors: 2 */
    CHECK(run_verb(cmd_forward, "forward", "--arch", "vgg16", "--weights", wpath, "--input", xpath, "-o", ypath,
                   NULL) == 2);
    CHECK(run_verb(cmd_forward, "forward", "--weights", wpath, "--input", xpath, "-o", ypath, NULL) == 2);
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--input", xpath, "-o", ypath, NULL) == 2);
    CHECK(run_verb(cmd_forward, "forward", "--bogus", NULL) == 2);
    /* runtime errors: 1 (missing files, wrong arch for the file, missing key, NaN input, wrong channels) */
    tmp_path(bad, sizeof bad, "nope.h5");
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--weights", bad, "--input", xpath, "-o", ypath,
                   "--force", NULL) == 1);
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--weights", wpath, "--input", bad, "-o", ypath,
                   "--force", NULL) == 1);
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet50", "--weights", wpath, "--input", xpath, "-o", ypath,
                   "--force", NULL) == 1);
    write_altered(net, tmp_path(bad, sizeof bad, "missing.h5"), "layer3.1.bn1.weight", "drop");
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--weights", bad, "--input", xpath, "-o", ypath,
                   "--force", NULL) == 1);
    write_input(tmp_path(nanx, sizeof nanx, "nanx.h5"), 2, 1, 33, 35, NAN);
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--weights", wpath, "--input", nanx, "-o", ypath,
                   "--force", NULL) == 1);
    write_input(tmp_path(rgbx, sizeof rgbx, "rgbx.h5"), 2, 3, 33, 35, 0.0f);
    CHECK(run_verb(cmd_forward, "forward", "--arch", "resnet18", "--weights", wpath, "--input", rgbx, "-o", ypath,
                   "--force", NULL) == 1);
    lr_net_free(net);
}

int main(void)
{
    lr_h5_quiet();
    const char *base = getenv("TMPDIR_TESTS");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_nn_io_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_save_load_roundtrip);
    RUN(test_bad_weight_files);
    RUN(test_stem_channel_sum);
    RUN(test_forward_verb);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_SUMMARY();
}
