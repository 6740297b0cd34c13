/* Running gnuplot: scripts from analysis/ are copied into the report (DIR/figures/gp) so the report
 * directory re-renders on its own (DIR/figures/render.sh), and each figure is rendered to PNG and SVG. */
#include "report/report.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const scripts[] = {"lr_style.gp", "fig3_organs.gp", "fig4_growth.gp", "fig5_lesions.gp",
                                      "training_curves.gp", "truth_scatter.gp", "prog_calibration.gp", "prog_km.gp",
                                      "prog_td_auc.gp", "prog_decision.gp", "predict_saliency.gp"};
#define N_SCRIPTS (sizeof scripts / sizeof scripts[0])

/* Runs argv in dir with stdout/stderr appended to log; returns the exit status, 127 when not runnable. */
static int run_in(const char *dir, const char *log, char *const *argv)
{
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int copy_file(const char *from, const char *to, lr_err *err)
{
    FILE *in = fopen(from, "rb");
    if (!in) return lr_fail(err, "%s: cannot read the plot template: %s", from, strerror(errno));
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return lr_fail(err, "%s: cannot write: %s", to, strerror(errno));
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    if (fclose(out) != 0) return lr_fail(err, "%s: write failed", to);
    return 0;
}

void lr_find_analysis_dir(const char *given, char *out, size_t size)
{
    char probe[PATH_MAX + 64];
    struct stat st;
    if (given) {
        snprintf(out, size, "%s", given);
        return;
    }
    const char *env = getenv("LESIONRANK_ANALYSIS");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(probe, sizeof probe, "%s/../analysis/lr_style.gp", exe);
            if (stat(probe, &st) == 0) {
                snprintf(out, size, "%.*s/../analysis", (int)(size > 16 ? size - 16 : 0), exe);
                return;
            }
        }
    }
    snprintf(out, size, "analysis");
}

int lr_plotter_init(lr_plotter *pl, const char *out_dir, const char *analysis_dir, lr_err *err)
{
    memset(pl, 0, sizeof *pl);
    snprintf(pl->out_dir, sizeof pl->out_dir, "%s", out_dir);
    snprintf(pl->analysis_dir, sizeof pl->analysis_dir, "%s", analysis_dir);
    char path[2048], from[2048];
    snprintf(path, sizeof path, "%s/figures/gp", out_dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return lr_fail(err, "%s: cannot create: %s", path, strerror(errno));
    for (size_t i = 0; i < N_SCRIPTS; i++) {
        snprintf(from, sizeof from, "%s/%s", analysis_dir, scripts[i]);
        snprintf(path, sizeof path, "%s/figures/gp/%s", out_dir, scripts[i]);
        if (copy_file(from, path, err)) return lr_fail_ctx(err, "plot templates (set --analysis DIR)");
    }
    snprintf(path, sizeof path, "%s/figures/render.sh", out_dir);
    pl->render = fopen(path, "w");
    if (!pl->render) return lr_fail(err, "%s: cannot write: %s", path, strerror(errno));
    fprintf(pl->render, "#!/bin/sh\n# Re-renders every figure of this report from data/ (needs gnuplot): sh figures/render.sh\n"
                        "cd \"$(dirname \"$0\")/..\" || exit 1\n");
    snprintf(path, sizeof path, "%s/figures/gnuplot.log", out_dir);
    FILE *log = fopen(path, "w"); /* a fresh log per report */
    if (log) fclose(log);
    char *probe_cairo[] = {"gnuplot", "-e", "set terminal pngcairo", NULL};
    char *probe[] = {"gnuplot", "-e", "set terminal png", NULL};
    if (run_in(out_dir, "figures/gnuplot.log", probe_cairo) == 0) {
        pl->gnuplot = 1;
        snprintf(pl->png_terminal, sizeof pl->png_terminal, "pngcairo");
    } else if (run_in(out_dir, "figures/gnuplot.log", probe) == 0) {
        pl->gnuplot = 1;
        snprintf(pl->png_terminal, sizeof pl->png_terminal, "png");
    } else {
        snprintf(pl->png_terminal, sizeof pl->png_terminal, "pngcairo");
    }
    return 0;
}

int lr_plot(lr_plotter *pl, const char *script, const char *name, const char *const *vars, size_t n_vars,
            lr_err *err)
{
    static const char *const formats[] = {"png", "svg"};
    for (int f = 0; f < 2; f++) {
        char assign[8192];
        int k = snprintf(assign, sizeof assign, "datadir='data'; out='figures/%s'; fmt='%s'; pngterm='%s'; "
                                                "style='figures/gp/lr_style.gp'",
                         name, formats[f], pl->png_terminal);
        for (size_t v = 0; v < n_vars && k > 0 && (size_t)k < sizeof assign; v++)
            k += snprintf(assign + k, sizeof assign - (size_t)k, "; %s", vars[v]);
        if (k < 0 || (size_t)k >= sizeof assign) return lr_fail(err, "figure %s: gnuplot variables too long", name);
        /* variables carry quotes of their own ('...'); strip anything the shell line could misread */
        for (char *s = assign; *s; s++)
            if (strchr("\"`$\\", *s)) *s = ' ';
        char script_path[512];
        snprintf(script_path, sizeof script_path, "figures/gp/%s.gp", script);
        fprintf(pl->render, "gnuplot -e \"%s\" %s\n", assign, script_path);
        if (!pl->gnuplot) continue;
        char *argv[] = {"gnuplot", "-e", assign, script_path, NULL};
        int rc = run_in(pl->out_dir, "figures/gnuplot.log", argv);
        char out[2048];
        snprintf(out, sizeof out, "%s/figures/%s.%s", pl->out_dir, name, formats[f]);
        struct stat st;
        if (rc == 0 && stat(out, &st) == 0 && st.st_size > 0) pl->rendered++;
        else pl->failed++;
    }
    return 0;
}

void lr_plotter_close(lr_plotter *pl)
{
    if (pl->render) fclose(pl->render);
    pl->render = NULL;
}

unsigned lr_model_colour(const char *model)
{
    static const struct {
        const char *model;
        unsigned rgb;
    } colours[] = {{"imagenet_resnet50", 0x9467bd}, {"radimagenet_resnet50", 0x8c564b}, {"proposed", 0xd62728},
                   {"no_fc", 0xff7f0e},             {"no_scaler", 0xbcbd22},            {"mean_largest5", 0x17becf},
                   {"whole_volume", 0x7f7f7f},      {"total_volume", 0x1f77b4},         {"sum_diameters", 0x2ca02c},
                   {"lesion_count", 0xe377c2}};
    for (size_t i = 0; i < sizeof colours / sizeof colours[0]; i++)
        if (!strcmp(model, colours[i].model)) return colours[i].rgb;
    return 0x333333;
}

unsigned lr_organ_colour(size_t organ)
{
    static const unsigned colours[] = {0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f,
                                       0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac};
    return colours[organ % (sizeof colours / sizeof colours[0])];
}

unsigned lr_risk_colour(double t)
{
    if (!(t >= 0.0)) t = 0.0;
    if (t > 1.0) t = 1.0;
    const double lo[3] = {33, 102, 172}, hi[3] = {203, 24, 29}; /* #2166ac -> #cb181d */
    unsigned rgb = 0;
    for (int k = 0; k < 3; k++) rgb = (rgb << 8) | (unsigned)(lo[k] + t * (hi[k] - lo[k]) + 0.5);
    return rgb;
}

void lr_saliency_write_rgb(FILE *f, const float *hu, const float *map, int side, double level, double width)
{
    const size_t n = (size_t)side * side;
    const double pos[3] = {1, 0.1, 0.05}, neg[3] = {0.1, 0.35, 1};
    double top = 0;
    for (size_t i = 0; map && i < n; i++) top = fmax(top, fabs(map[i]));
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            size_t i = (size_t)y * side + x;
            double g = (hu[i] - (level - width / 2)) / width, t = map && top > 0 ? map[i] / top : 0.0;
            g = g < 0 ? 0 : g > 1 ? 1 : g;
            double a = 0.65 * fabs(t);
            int rgb[3];
            for (int c = 0; c < 3; c++) rgb[c] = (int)(255 * ((1 - a) * g + a * (t > 0 ? pos[c] : neg[c])) + 0.5);
            fprintf(f, "%d %d %d %d %d\n", x, y, rgb[0], rgb[1], rgb[2]);
        }
        fputc('\n', f);
    }
}
