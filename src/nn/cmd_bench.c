/* lesionrank bench: one CNN training step (forward, backward, Adam) against the same run's BLIS sgemm
 * speed, and against PyTorch when /usr/bin/python3 has torch. Each configuration runs in a forked child
 * so that its peak RSS is its own. Output: key: value lines. */
#include <blis.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nn/net.h"
#include "nn/engine.h"
#include "nn/winograd.h"
#include "util/cli.h"
#include "util/rng.h"

#define TORCH_PYTHON "/usr/bin/python3"

typedef struct {
    const char *label; /* key prefix */
    lr_arch arch;
    int batch, in_channels, width, dims[3];
} bench_config;

typedef struct {
    int steps;
    int torch;           /* 1: compare with PyTorch */
    int profile;         /* 1: print the per-(pass, kind) profile of the timed steps */
    char torch_script[PATH_MAX];
} bench_options;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* GFLOP/s of a 1024³ sgemm at the current thread count (best of 3 after a warm-up). */
static double sgemm_gflops(lr_err *err)
{
    const dim_t n = 1024;
    float *a = lr_malloc(3 * (size_t)n * n, sizeof(float), err);
    if (!a) return -1;
    float *b = a + (size_t)n * n, *c = b + (size_t)n * n, one = 1.0f, zero = 0.0f;
    for (size_t i = 0; i < 3 * (size_t)n * n; i++) a[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = now_s();
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, n, n, n, &one, a, n, 1, b, n, 1, &zero, c, n, 1);
        double dt = now_s() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    free(a);
    return 2.0 * n * n * n / best * 1e-9;
}

/* The profile as "<label>_t<T>_profile_<pass>_<kind>: seconds per step, share of the step" lines, then
 * per-pass and per-kind totals and the untimed rest (loss, bookkeeping, the engine between calls). */
static void print_profile(const bench_config *bc, int threads, const lr_profile *prof, double step_s, int steps)
{
    double pass_total[LR_N_PASSES] = {0}, kind_total[LR_N_KINDS] = {0}, all = 0.0;
    for (int p = 0; p < LR_N_PASSES; p++)
        for (int k = 0; k < LR_N_KINDS; k++) {
            double t = prof->seconds[p][k] / steps;
            pass_total[p] += t, kind_total[k] += t, all += t;
            if (t > 0.0)
                printf("%s_t%d_profile_%s_%s: %.4f s %5.1f%%\n", bc->label, threads, lr_pass_name((lr_pass)p),
                       lr_kind_name((lr_kind)k), t, 100.0 * t / step_s);
        }
    for (int p = 0; p < LR_N_PASSES; p++)
        printf("%s_t%d_profile_pass_%s: %.4f s %5.1f%%\n", bc->label, threads, lr_pass_name((lr_pass)p),
               pass_total[p], 100.0 * pass_total[p] / step_s);
    for (int k = 0; k < LR_N_KINDS; k++)
        printf("%s_t%d_profile_kind_%s: %.4f s %5.1f%%\n", bc->label, threads, lr_kind_name((lr_kind)k),
               kind_total[k], 100.0 * kind_total[k] / step_s);
    printf("%s_t%d_profile_untimed: %.4f s %5.1f%%\n", bc->label, threads, step_s - all,
           100.0 * (step_s - all) / step_s);
}

/* Seconds of one forward + backward (both gradients) of conv shape s, by Winograd (when eligible) or
 * im2col; best of 3 after a warm-up. */
static double time_conv(const lr_conv_shape *s, int winograd, float *buf, size_t n_in, size_t n_out, size_t n_w,
                        float *col, float *saved)
{
    float *in = buf, *out = in + n_in, *w = out + n_out, *din = w + n_w, *dw = din + n_in;
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = now_s();
        if (winograd) {
            lr_conv_forward_saved(out, saved, col, in, w, s);
            lr_conv_backward_saved(din, dw, col, out, in, w, saved, s);
        } else {
            lr_conv_forward_im2col(out, col, in, w, s);
            lr_conv_backward_im2col(din, dw, col, out, in, w, s);
        }
        double dt = now_s() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    return best;
}

/* The cost model's choice (Winograd for every eligible 3×3 conv) checked per distinct layer shape:
 * "<label>_t<T>_plan_<cin>x<cout>_<H>x<W>: winograd S s, im2col S s, speedup X". */
static int print_plan(const bench_config *bc, int threads, const lr_net *net, lr_err *err)
{
    int done[LR_NET_MAX_BLOCKS * 3][3], n_done = 0;
    for (int b = 0; b < net->n_blocks; b++)
        for (int j = 0; j < net->blocks[b].n_conv; j++) {
            const lr_conv_shape *s = &net->blocks[b].conv[j].shape;
            if (!lr_winograd_eligible(s)) continue;
            int seen = 0;
            for (int i = 0; i < n_done; i++)
                seen |= done[i][0] == s->cin && done[i][1] == s->cout && done[i][2] == s->out[1];
            if (seen) continue;
            done[n_done][0] = s->cin, done[n_done][1] = s->cout, done[n_done][2] = s->out[1], n_done++;
            size_t n_in = (size_t)s->cin * s->n * lr_conv_in_plane(s), n_out = (size_t)s->cout * s->n * lr_conv_out_plane(s);
            size_t n_w = (size_t)s->cout * lr_conv_k(s), n_col = lr_conv_layer_workspace(s);
            size_t n_im2col = lr_conv_k(s) * s->n * lr_conv_out_plane(s);
            if (n_im2col > n_col) n_col = n_im2col;
            float *buf = lr_calloc(2 * n_in + n_out + 2 * n_w + n_col + lr_conv_saved_size(s), sizeof(float), err);
            if (!buf) return -1;
            for (size_t i = 0; i < n_in + n_out + n_w; i++) buf[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
            float *col = buf + 2 * n_in + n_out + 2 * n_w, *saved = col + n_col;
            double tw = time_conv(s, 1, buf, n_in, n_out, n_w, col, saved);
            double ti = time_conv(s, 0, buf, n_in, n_out, n_w, col, saved);
            printf("%s_t%d_plan_%dx%d_%dx%d: winograd %.4f s, im2col %.4f s, speedup %.2f (chosen: winograd)\n",
                   bc->label, threads, s->cin, s->cout, s->out[1], s->out[2], tw, ti, ti / tw);
            free(buf);
        }
    return 0;
}

/* One config at one thread count, in this (child) process. Prints "<label>_t<T>_<key>: value". */
static int bench_engine(const bench_config *bc, int threads, const bench_options *o, double result[2], lr_err *err)
{
    lr_nn_set_threads(threads);
    double sgemm = sgemm_gflops(err);
    if (sgemm < 0) return -1;
    lr_net_config cfg = {bc->arch, bc->in_channels, bc->width, 1};
    gsl_rng *rng = lr_rng_stream(1, "bench", 0, 0, 0);
    if (!rng) return lr_fail(err, "out of memory");
    lr_net *net = lr_net_create(&cfg, rng, err);
    size_t nx = (size_t)bc->batch * bc->in_channels * bc->dims[0] * bc->dims[1] * bc->dims[2];
    float *x = lr_malloc(nx + bc->batch, sizeof(float), err);
    lr_adam opt = {0};
    int rc = -1;
    if (!net || !x || lr_adam_init(&opt, net->n_params, 1e-4f, 0.0f, err)) goto done;
    float *dy = x + nx;
    for (size_t i = 0; i < nx; i++) x[i] = (float)(gsl_rng_uniform(rng) * 2.0 - 1.0);
    for (int i = 0; i < bc->batch; i++) dy[i] = (float)((gsl_rng_uniform(rng) - 0.5) / bc->batch);
    double total = 0.0, total_cpu = 0.0;
    lr_profile prof;
    memset(&prof, 0, sizeof prof);
    for (int s = 0; s <= o->steps; s++) { /* step 0 is the warm-up (allocations, page faults) */
        if (s == 1 && o->profile) lr_profile_begin(&prof);
        double t0 = now_s(), c0 = cpu_s();
        LR_PROF(LR_PASS_WEIGHT_GRAD, LR_KIND_COPY, lr_net_zero_grad(net));
        if (lr_net_forward(net, x, bc->batch, bc->dims, 1, err) || lr_net_backward(net, dy, NULL, err)) goto done;
        lr_adam_step(&opt, net->params, net->grads);
        if (s > 0) total += now_s() - t0, total_cpu += cpu_s() - c0;
    }
    lr_profile_end();
    double step_s = total / o->steps, flop = lr_net_train_flop(net), gflops = flop / step_s * 1e-9;
    const char *unit = bc->dims[0] > 1 ? "volumes_per_s" : "patches_per_s";
    result[0] = bc->batch / step_s;
    result[1] = total_cpu / o->steps;
    printf("%s_t%d_%s: %.2f\n", bc->label, threads, unit, result[0]);
    printf("%s_t%d_step_s: %.3f\n", bc->label, threads, step_s);
    /* CPU time is steadier than wall time on a shared machine (at 1 thread they agree when idle) */
    printf("%s_t%d_step_cpu_s: %.3f\n", bc->label, threads, result[1]);
    printf("%s_t%d_gflop_per_step: %.2f\n", bc->label, threads, flop * 1e-9);
    printf("%s_t%d_gflops: %.1f\n", bc->label, threads, gflops);
    printf("%s_t%d_sgemm_gflops: %.1f\n", bc->label, threads, sgemm);
    printf("%s_t%d_fraction_of_sgemm: %.3f\n", bc->label, threads, gflops / sgemm);
    printf("%s_t%d_peak_rss_mb: %.1f\n", bc->label, threads, peak_rss_mb());
    printf("%s_t%d_blis_arch: %s\n", bc->label, threads, lr_blis_arch_in_use());
    if (o->profile) {
        print_profile(bc, threads, &prof, total / o->steps, o->steps);
        if (print_plan(bc, threads, net, err)) goto done;
    }
    fflush(stdout);
    rc = 0;
done:
    lr_adam_free(&opt);
    free(x);
    lr_net_free(net);
    gsl_rng_free(rng);
    return rc;
}

/* Runs the PyTorch twin; prints its figures under "<label>_t<T>_torch_" and the ratio. */
static void bench_torch(const bench_config *bc, int threads, const bench_options *o, const double ours[2])
{
    char cmd[PATH_MAX + 512], dims[64];
    if (bc->dims[0] > 1) snprintf(dims, sizeof dims, "%dx%dx%d", bc->dims[0], bc->dims[1], bc->dims[2]);
    else snprintf(dims, sizeof dims, "%dx%d", bc->dims[1], bc->dims[2]);
    snprintf(cmd, sizeof cmd,
             "OMP_NUM_THREADS=%d " TORCH_PYTHON " '%s' --arch %s --threads %d --batch %d --in-channels %d "
             "--width %d --dims %s --steps %d 2>&1",
             threads, o->torch_script, lr_arch_name(bc->arch), threads, bc->batch, bc->in_channels, bc->width, dims,
             o->steps);
    FILE *p = popen(cmd, "r");
    if (!p) {
        printf("%s_t%d_torch: failed to start\n", bc->label, threads);
        return;
    }
    char line[512];
    double theirs = 0.0, theirs_cpu = 0.0;
    while (fgets(line, sizeof line, p)) {
        char key[128];
        double v;
        if (sscanf(line, "%127[^:]: %lf", key, &v) == 2 && !strcmp(key, "samples_per_s")) theirs = v;
        if (sscanf(line, "%127[^:]: %lf", key, &v) == 2 && !strcmp(key, "step_cpu_s")) theirs_cpu = v;
        if (strchr(line, ':') && !strstr(line, "Traceback")) printf("%s_t%d_torch_%s", bc->label, threads, line);
    }
    int status = pclose(p);
    if (status != 0 || theirs <= 0.0) {
        printf("%s_t%d_torch: failed (exit status %d)\n", bc->label, threads, status);
        return;
    }
    printf("%s_t%d_ratio_vs_torch: %.3f\n", bc->label, threads, ours[0] / theirs);
    if (theirs_cpu > 0.0 && ours[1] > 0.0)
        printf("%s_t%d_ratio_vs_torch_cpu: %.3f\n", bc->label, threads, theirs_cpu / ours[1]);
    fflush(stdout);
}

static int run_config(const bench_config *bc, int threads, const bench_options *o)
{
    fflush(stdout);
    int fds[2];
    if (pipe(fds)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* child: BLIS (and its threads) live only here, so each config's peak RSS is its own */
        close(fds[0]);
        lr_err err;
        double result[2] = {0.0, 0.0};
        int rc = bench_engine(bc, threads, o, result, &err);
        if (rc) fprintf(stderr, "lesionrank bench: %s_t%d: %s\n", bc->label, threads, err.msg);
        if (write(fds[1], result, sizeof result) != sizeof result) rc = -1;
        close(fds[1]);
        fflush(stdout);
        _exit(rc ? 1 : 0);
    }
    close(fds[1]);
    double result[2] = {0.0, 0.0};
    ssize_t got = read(fds[0], result, sizeof result);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != sizeof result || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    if (o->torch) bench_torch(bc, threads, o, result);
    return 0;
}

/* bench_torch.py next to this source file: found from the executable (bin/.. or build-x/bin/../..) or the cwd. */
static int find_torch_script(char *out, size_t size)
{
    char exe[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *rel[] = {"/../src/nn/bench_torch.py", "/../../src/nn/bench_torch.py"};
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        for (int i = 0; i < 2; i++) {
            snprintf(out, size, "%s%s", exe, rel[i]);
            if (access(out, R_OK) == 0) return 0;
        }
    }
    snprintf(out, size, "src/nn/bench_torch.py");
    return access(out, R_OK);
}

static void bench_help(void)
{
    printf("usage: lesionrank bench [--only r18,r50,3d] [--threads 1,2] [--steps N] [--batch N] [--width N]\n"
           "                        [--volume DxHxW] [--volume-batch N] [--profile] [--no-torch]\n"
           "Times one training step (forward, backward, Adam) of ResNet18 and ResNet50 (width 64, 1 input\n"
           "channel, a batch of 40 patches of 72x72) and the 3D ResNet18 (one 1x24x96x96 volume), reporting\n"
           "samples/s, achieved GFLOP/s, the same run's 1024^3 sgemm GFLOP/s, their ratio and peak RSS; and the\n"
           "identical PyTorch step when " TORCH_PYTHON " has torch, with the ratio lesionrank / torch.\n"
           "  --only LIST      subset of r18, r50, 3d (default all)\n"
           "  --threads LIST   BLIS thread counts (default 1,2)\n"
           "  --steps N        timed steps after one warm-up (default 3)\n"
           "  --batch N        2D batch size (default 40)\n"
           "  --width N        base width of every network (default 64, as the paper; the demo uses 8)\n"
           "  --volume DxHxW   the 3D ResNet18's input volume (default 24x96x96)\n"
           "  --volume-batch N volumes per 3D step (default 1)\n"
           "  --profile        print seconds and share of the step per pass (forward, input_grad,\n"
           "                   weight_grad, optimizer) and kind (gemm, winograd, im2col, batchnorm, relu, pool,\n"
           "                   residual_add, adam, memset_copy)\n"
           "  --no-torch       skip the PyTorch comparison\n");
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {{"only", required_argument, 0, 'O'},  {"threads", required_argument, 0, 'T'},
                                         {"steps", required_argument, 0, 'S'}, {"batch", required_argument, 0, 'B'},
                                         {"no-torch", no_argument, 0, 'N'},     {"help", no_argument, 0, 'h'},
                                         {"profile", no_argument, 0, 'P'},      {"width", required_argument, 0, 'W'},
                                         {"volume", required_argument, 0, 'V'}, {"volume-batch", required_argument, 0, 'v'},
                                         {0, 0, 0, 0}};
    bench_options o = {.steps = 3, .torch = 1};
    const char *only = "r18,r50,3d", *threads_list = "1,2";
    long v, batch = 40, width = 64, vbatch = 1;
    size_t vol[3] = {24, 96, 96};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'O': only = optarg; break;
        case 'T': threads_list = optarg; break;
        case 'S':
            if (lr_parse_long(optarg, 1, 1000, &v)) return lr_usage_error("bench", "--steps '%s': expected 1..1000", optarg);
            o.steps = (int)v;
            break;
        case 'B':
            if (lr_parse_long(optarg, 1, 4096, &batch)) return lr_usage_error("bench", "--batch '%s': expected 1..4096", optarg);
            break;
        case 'N': o.torch = 0; break;
        case 'P': o.profile = 1; break;
        case 'W':
            if (lr_parse_long(optarg, 1, 1024, &width)) return lr_usage_error("bench", "--width '%s': expected 1..1024", optarg);
            break;
        case 'V':
            if (lr_parse_dims(optarg, 1, 4096, vol)) return lr_usage_error("bench", "--volume '%s': expected DxHxW, each 1..4096", optarg);
            break;
        case 'v':
            if (lr_parse_long(optarg, 1, 1024, &vbatch)) return lr_usage_error("bench", "--volume-batch '%s': expected 1..1024", optarg);
            break;
        case 'h': bench_help(); return 0;
        default: return lr_usage_error("bench", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return lr_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    bench_config all[3] = {{"resnet18", LR_ARCH_RESNET18, (int)batch, 1, (int)width, {1, 72, 72}},
                           {"resnet50", LR_ARCH_RESNET50, (int)batch, 1, (int)width, {1, 72, 72}},
                           {"resnet18_3d", LR_ARCH_RESNET18_3D, (int)vbatch, 1, (int)width, {(int)vol[0], (int)vol[1], (int)vol[2]}}};
    const char *short_names[3] = {"r18", "r50", "3d"};
    int selected[3] = {0}, threads[8], n_threads = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", only);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int found = 0;
        for (int i = 0; i < 3; i++)
            if (!strcmp(tok, short_names[i]) || !strcmp(tok, all[i].label)) selected[i] = found = 1;
        if (!found) return lr_usage_error("bench", "--only: unknown '%s' (expected r18, r50, 3d)", tok);
    }
    snprintf(buf, sizeof buf, "%s", threads_list);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n_threads == 8 || lr_parse_long(tok, 1, 256, &v))
            return lr_usage_error("bench", "--threads '%s': expected a list like 1,2", threads_list);
        threads[n_threads++] = (int)v;
    }
    if (o.torch) {
        o.torch = find_torch_script(o.torch_script, sizeof o.torch_script) == 0 &&
                  system(TORCH_PYTHON " -c 'import torch' >/dev/null 2>&1") == 0;
        printf("torch: %s\n", o.torch ? o.torch_script : "not available (" TORCH_PYTHON " without torch)");
    }
    printf("blis_version: %s\n", bli_info_get_version_str());
    printf("blis_arch_choice: %s\n", lr_blis_last_choice()->source);
    int failed = 0;
    for (int i = 0; i < 3; i++)
        for (int t = 0; selected[i] && t < n_threads; t++)
            if (run_config(&all[i], threads[t], &o)) failed = 1;
    return failed ? lr_runtime_error("bench", "a configuration failed") : 0;
}
