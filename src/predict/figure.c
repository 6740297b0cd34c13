/* predict --saliency --figures DIR: the 2 highest- and 2 lowest-risk lesions (mean over the fold models)
 * with their occlusion and SmoothGrad maps over the patch, rendered by analysis/predict_saliency.gp with
 * the report's plotter (data in DIR/data, DIR/figures/render.sh re-renders). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "predict/predict.h"
#include "report/report.h"

#define P2 (LR_PATCH * LR_PATCH)

/* grey patch blended with the map: red where it raises the risk, blue where it lowers it */
static int write_panel(const char *path, const float *hu, const float *map, double level, double width)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "# x y r g b: patch window L %.0f W %.0f HU%s\n", level, width, map ? ", map blended (red +, blue -)" : "");
    lr_saliency_write_rgb(f, hu, map, LR_PATCH, level, width);
    return fclose(f) ? -1 : 0;
}

int lr_predict_figure(const char *dir, const char *analysis, const lr_cohort *co, const float *risk_mean,
                      const float *occlusion, const float *gradient, size_t *rendered, lr_err *err)
{
    *rendered = 0;
    char path[2048];
    const char *sub[] = {"", "/data", "/figures"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", dir, sub[i]);
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return lr_fail(err, "%s: cannot create: %s", path, strerror(errno));
    }
    /* the two highest and two lowest finite lesion risks (first row wins ties) */
    long pick[4] = {-1, -1, -1, -1};
    for (int k = 0; k < 4; k++)
        for (size_t l = 0; l < co->n_lesions; l++) {
            if (!isfinite(risk_mean[l]) || (long)l == pick[0] || (long)l == pick[1] || (long)l == pick[2]) continue;
            int high = k < 2;
            if (pick[k] < 0 || (high ? risk_mean[l] > risk_mean[pick[k]] : risk_mean[l] < risk_mean[pick[k]])) pick[k] = (long)l;
        }
    if (pick[3] < 0) return lr_fail(err, "figure: fewer than 4 scored lesions");
    char titles[4][200];
    for (int k = 0; k < 4; k++) {
        size_t l = (size_t)pick[k];
        const char *organ = co->organ_name[co->organ[l]];
        int lung = !strcmp(organ, "lung");
        double level = lung ? -600.0 : 40.0, width = lung ? 1500.0 : 400.0; /* as Figure 5 */
        const char *panel[3] = {"patch", "occlusion", "gradient"};
        const float *maps[3] = {NULL, occlusion + l * P2, gradient + l * P2};
        for (int p = 0; p < 3; p++) {
            snprintf(path, sizeof path, "%s/data/saliency%d_%s.dat", dir, k + 1, panel[p]);
            if (write_panel(path, co->patch + l * P2, maps[p], level, width)) return lr_fail(err, "%s: cannot write", path);
        }
        snprintf(titles[k], sizeof titles[k], "title%d='%s: lesion %zu, %s, risk %.3f'", k + 1,
                 k < 2 ? "highest" : "lowest", l, organ, risk_mean[l]);
    }
    lr_plotter pl;
    if (lr_plotter_init(&pl, dir, analysis, err)) return -1;
    const char *vars[] = {titles[0], titles[1], titles[2], titles[3], "side=72"};
    int rc = lr_plot(&pl, "predict_saliency", "saliency_lesions", vars, 5, err);
    *rendered = pl.rendered;
    lr_plotter_close(&pl);
    return rc;
}
