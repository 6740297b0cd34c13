/* lesionrank forward: run a CNN in eval mode on a batch from an HDF5 file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/net.h"
#include "util/cli.h"
#include "util/h5.h"
#include "util/rng.h"

static void forward_help(void)
{
    printf("usage: lesionrank forward --arch resnet18|resnet50|resnet18_3d --weights W.h5 --input X.h5 -o Y.h5\n"
           "Run a CNN in eval mode (BN running statistics). Input channels, base width and output size are\n"
           "read from the weight file's shapes (conv1.weight, fc.weight).\n"
           "  -a, --arch NAME      resnet18, resnet50 (2D, torchvision layout) or resnet18_3d\n"
           "  -w, --weights FILE   HDF5, one dataset per state_dict key (analysis/torchvision_to_h5.py writes it)\n"
           "  -i, --input FILE     HDF5 with /x float32 [N,C,H,W] ([N,C,D,H,W] for resnet18_3d)\n"
           "  -o, --output FILE    HDF5 to write: /y [N,out] and /embedding [N,E] (pooled features)\n"
           "  -b, --batch N        images per forward pass (default 16; bounds memory)\n"
           "      --force          overwrite an existing output file\n");
}

typedef struct {
    int n, c, dims[3];
    float *x; /* [N][C][D][H][W] */
} forward_input;

static int read_input(forward_input *in, const char *path, int want_rank, lr_err *err)
{
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return -1;
    int rank, rc = -1;
    hsize_t d[LR_H5_MAXRANK];
    if (!lr_h5_exists(f, "/x")) {
        lr_fail(err, "%s: missing dataset /x", path);
        goto done;
    }
    if (lr_h5_shape(f, "/x", &rank, d, err)) goto done;
    if (rank != want_rank) {
        lr_fail(err, "%s: /x has rank %d, expected %d (%s)", path, rank, want_rank,
                want_rank == 4 ? "[N,C,H,W]" : "[N,C,D,H,W]");
        goto done;
    }
    in->n = (int)d[0];
    in->c = (int)d[1];
    in->dims[0] = rank == 5 ? (int)d[2] : 1;
    in->dims[1] = (int)d[rank - 2];
    in->dims[2] = (int)d[rank - 1];
    size_t total = 1;
    for (int i = 0; i < rank; i++) total *= d[i];
    if (total == 0) {
        lr_fail(err, "%s: /x is empty", path);
        goto done;
    }
    in->x = lr_malloc(total, sizeof(float), err);
    if (!in->x || lr_h5_read(f, "/x", H5T_NATIVE_FLOAT, in->x, err)) goto done;
    for (size_t i = 0; i < total; i++)
        if (!isfinite(in->x[i])) {
            lr_fail(err, "%s: /x has a non-finite value (%g) at element %zu", path, in->x[i], i);
            goto done;
        }
    rc = 0;
done:
    H5Fclose(f);
    return rc;
}

static int write_output(const char *path, const float *y, const float *emb, int n, int out, int e, lr_err *err)
{
    hid_t f = lr_h5_create(path, err);
    if (f < 0) return -1;
    hsize_t dy[2] = {(hsize_t)n, (hsize_t)out}, de[2] = {(hsize_t)n, (hsize_t)e};
    int rc = lr_h5_write(f, "/y", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, dy, NULL, 0, y, err);
    if (!rc) rc = lr_h5_write(f, "/embedding", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, de, NULL, 0, emb, err);
    if (H5Fclose(f) < 0 && !rc) rc = lr_fail(err, "%s: cannot close", path);
    return rc;
}

static int run_forward(lr_arch arch, const char *weights, const char *input, const char *output, int batch,
                       lr_err *err)
{
    lr_net *net = NULL;
    forward_input in = {0};
    float *y = NULL, *emb = NULL;
    int rc = -1;
    lr_net_config cfg;
    hid_t wf = lr_h5_open_read(weights, err);
    if (wf < 0) return -1;
    if (lr_net_config_from_h5(&cfg, arch, wf, "", err)) {
        lr_fail_ctx(err, "%s", weights);
        H5Fclose(wf);
        return -1;
    }
    gsl_rng *rng = lr_rng_stream(0, "forward_init", 0, 0, 0);
    net = rng ? lr_net_create(&cfg, rng, err) : NULL;
    if (rng) gsl_rng_free(rng);
    if (!net || lr_net_load_h5(net, wf, "", 0, err)) {
        if (net) lr_fail_ctx(err, "%s", weights);
        H5Fclose(wf);
        goto done;
    }
    H5Fclose(wf);
    if (read_input(&in, input, net->dims == 3 ? 5 : 4, err)) goto done;
    if (in.c != cfg.in_channels) {
        lr_fail(err, "%s: /x has %d channels, the weights (conv1.weight) expect %d", input, in.c, cfg.in_channels);
        goto done;
    }
    y = lr_malloc((size_t)in.n * cfg.out_size, sizeof(float), err);
    emb = lr_malloc((size_t)in.n * net->emb_size, sizeof(float), err);
    if (!y || !emb) goto done;
    size_t per_image = (size_t)in.c * in.dims[0] * in.dims[1] * in.dims[2];
    for (int start = 0; start < in.n; start += batch) {
        int n = in.n - start < batch ? in.n - start : batch;
        if (lr_net_forward(net, in.x + (size_t)start * per_image, n, in.dims, 0, err)) goto done;
        memcpy(y + (size_t)start * cfg.out_size, lr_net_output(net), sizeof(float) * n * cfg.out_size);
        memcpy(emb + (size_t)start * net->emb_size, lr_net_embedding(net), sizeof(float) * n * net->emb_size);
    }
    for (size_t i = 0; i < (size_t)in.n * cfg.out_size; i++)
        if (!isfinite(y[i])) {
            lr_fail(err, "non-finite output at element %zu (check the weights)", i);
            goto done;
        }
    if (write_output(output, y, emb, in.n, cfg.out_size, net->emb_size, err)) goto done;
    printf("arch: %s\nin_channels: %d\nwidth: %d\nout_size: %d\nembedding_size: %d\nimages: %d\noutput: %s\n",
           lr_arch_name(arch), cfg.in_channels, cfg.width, cfg.out_size, net->emb_size, in.n, output);
    rc = 0;
done:
    free(y);
    free(emb);
    free(in.x);
    lr_net_free(net);
    return rc;
}

int cmd_forward(int argc, char **argv)
{
    static const struct option opts[] = {{"arch", required_argument, 0, 'a'},   {"weights", required_argument, 0, 'w'},
                                         {"input", required_argument, 0, 'i'},  {"output", required_argument, 0, 'o'},
                                         {"batch", required_argument, 0, 'b'},  {"force", no_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *arch_name = NULL, *weights = NULL, *input = NULL, *output = NULL;
    int force = 0, c;
    long batch = 16;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:w:i:o:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': arch_name = optarg; break;
        case 'w': weights = optarg; break;
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case 'b':
            if (lr_parse_long(optarg, 1, 4096, &batch))
                return lr_usage_error("forward", "--batch '%s': expected an integer in [1, 4096]", optarg);
            break;
        case 'f': force = 1; break;
        case 'h': forward_help(); return 0;
        default: return lr_usage_error("forward", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return lr_usage_error("forward", "unexpected argument '%s'", argv[optind]);
    if (!arch_name) return lr_usage_error("forward", "missing --arch resnet18|resnet50|resnet18_3d");
    lr_arch arch;
    if (lr_arch_parse(arch_name, &arch))
        return lr_usage_error("forward", "--arch '%s': expected resnet18, resnet50 or resnet18_3d", arch_name);
    if (!weights) return lr_usage_error("forward", "missing --weights W.h5");
    if (!input) return lr_usage_error("forward", "missing --input X.h5");
    if (!output) return lr_usage_error("forward", "missing -o Y.h5");
    struct stat st;
    if (!force && stat(output, &st) == 0)
        return lr_runtime_error("forward", "%s exists; refusing to overwrite (use --force)", output);
    lr_err err;
    if (run_forward(arch, weights, input, output, (int)batch, &err)) return lr_runtime_error("forward", "%s", err.msg);
    return 0;
}
