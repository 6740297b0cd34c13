/* Figure data: every figure is a set of whitespace-separated files in DIR/data that the gnuplot scripts
 * in analysis/ plot; the numbers (densities, quartiles, colours) are computed here. */
#include "report/report.h"

#include <errno.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cli.h"
#include "util/h5.h"

#define KDE_POINTS 80

static FILE *open_data(const lr_plotter *pl, const char *name, lr_err *err)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/data/%s", pl->out_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) lr_fail(err, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

static int close_data(FILE *f, const lr_plotter *pl, const char *name, lr_err *err)
{
    if (fclose(f) != 0) return lr_fail(err, "%s/data/%s: write failed", pl->out_dir, name);
    return 0;
}

typedef struct {
    char label[96];
    double *values; /* [n], sorted in place */
    size_t n;
    unsigned colour;
} violin_group;

/* poly: one closed polygon per non-empty group (x y rgb), blocks separated by two blank lines;
 * stats: one row per drawn group: x median q1 q3 n rgb "label". Each violin is scaled to its own
 * maximum density (half-width 0.4) and trimmed to the data range. */
static int write_violins(const lr_plotter *pl, const char *poly_name, const char *stats_name, violin_group *g,
                         size_t n_groups, lr_group_stats *stats, lr_err *err)
{
    FILE *poly = open_data(pl, poly_name, err);
    if (!poly) return -1;
    FILE *st = open_data(pl, stats_name, err);
    if (!st) {
        fclose(poly);
        return -1;
    }
    fprintf(poly, "# violin outlines: x y rgb (one block per group)\n");
    fprintf(st, "# x median q1 q3 n rgb label\n");
    double x[KDE_POINTS], dens[KDE_POINTS];
    size_t pos = 0;
    for (size_t i = 0; i < n_groups; i++) {
        lr_group_stats s = {g[i].n, NAN, NAN, NAN};
        if (g[i].n) {
            gsl_sort(g[i].values, 1, g[i].n);
            s.median = gsl_stats_median_from_sorted_data(g[i].values, 1, g[i].n);
            s.q1 = gsl_stats_quantile_from_sorted_data(g[i].values, 1, g[i].n, 0.25);
            s.q3 = gsl_stats_quantile_from_sorted_data(g[i].values, 1, g[i].n, 0.75);
        }
        if (stats) stats[i] = s;
        if (!g[i].n) continue;
        pos++;
        double lo = g[i].values[0], hi = g[i].values[g[i].n - 1];
        double h = lr_silverman_bandwidth(g[i].values, g[i].n);
        if (hi - lo < 1e-9) {
            lo -= h;
            hi += h;
        }
        for (size_t k = 0; k < KDE_POINTS; k++) x[k] = lo + (hi - lo) * (double)k / (KDE_POINTS - 1);
        lr_gaussian_kde(g[i].values, g[i].n, h, x, KDE_POINTS, dens);
        double peak = 0.0;
        for (size_t k = 0; k < KDE_POINTS; k++) peak = dens[k] > peak ? dens[k] : peak;
        double scale = peak > 0.0 ? 0.4 / peak : 0.0;
        fprintf(poly, "# %s: n = %zu, Silverman bandwidth %.6g\n", g[i].label, g[i].n, h);
        for (size_t k = 0; k < KDE_POINTS; k++)
            fprintf(poly, "%.6f %.6g %u\n", (double)pos + scale * dens[k], x[k], g[i].colour);
        for (size_t k = KDE_POINTS; k-- > 0;)
            fprintf(poly, "%.6f %.6g %u\n", (double)pos - scale * dens[k], x[k], g[i].colour);
        fprintf(poly, "%.6f %.6g %u\n\n\n", (double)pos + scale * dens[0], x[0], g[i].colour);
        fprintf(st, "%zu %.6g %.6g %.6g %zu %u \"%s (n=%zu)\"\n", pos, s.median, s.q1, s.q3, g[i].n, g[i].colour,
                g[i].label, g[i].n);
    }
    int rc = close_data(poly, pl, poly_name, err);
    if (close_data(st, pl, stats_name, err)) rc = -1;
    return rc;
}

static char *quoted_var(char *buf, size_t size, const char *name, const char *value)
{
    snprintf(buf, size, "%s='", name);
    size_t k = strlen(buf);
    for (const char *s = value; *s && k + 3 < size; s++)
        if (*s != '\'' && *s != '"') buf[k++] = *s;
    buf[k++] = '\'';
    buf[k] = 0;
    return buf;
}

int lr_figure_organs(lr_plotter *pl, const lr_results *c, const lr_lesion_set *s, const char *caption,
                     lr_group_stats *stats, lr_err *err)
{
    violin_group *g = lr_calloc(c->K ? c->K : 1, sizeof *g, err);
    double *values = lr_malloc(s->n ? s->n : 1, sizeof *values, err);
    int rc = -1;
    if (!g || !values) goto done;
    size_t used = 0;
    for (size_t k = 0; k < c->K; k++) {
        g[k].values = values + used;
        for (size_t i = 0; i < s->n; i++)
            if ((size_t)c->lesion_organ[s->lesion[i]] == k) g[k].values[g[k].n++] = s->risk[i];
        used += g[k].n;
        snprintf(g[k].label, sizeof g[k].label, "%s", c->organ_name[k]);
        g[k].colour = lr_organ_colour(k);
    }
    if (write_violins(pl, "fig3_violins.dat", "fig3_stats.dat", g, c->K, stats, err)) goto done;
    char v[1][512];
    const char *vars[] = {quoted_var(v[0], sizeof v[0], "caption", caption)};
    rc = lr_plot(pl, "fig3_organs", "fig3_organs", vars, 1, err);
done:
    free(g);
    free(values);
    return rc;
}

int lr_figure_growth(lr_plotter *pl, const lr_results *c, const lr_lesion_set *s, const char *caption,
                     lr_err *err)
{
    violin_group g[2] = {{.colour = 0x4575b4}, {.colour = 0xd73027}};
    snprintf(g[0].label, sizeof g[0].label, "shrinking or vanished");
    snprintf(g[1].label, sizeof g[1].label, "growing");
    double *values = lr_malloc(2 * (s->n ? s->n : 1), sizeof *values, err);
    if (!values) return -1;
    g[0].values = values;
    g[1].values = values + s->n;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = s->lesion[i];
        double v0 = c->lesion_volume_mm3[l], v1 = c->lesion_volume_followup_mm3[l];
        if (isnan(v1)) continue;
        violin_group *to = &g[v1 > v0];
        to->values[to->n++] = s->risk[i];
    }
    int rc = write_violins(pl, "fig4_violins.dat", "fig4_stats.dat", g, 2, NULL, err);
    char v[1][512];
    const char *vars[] = {quoted_var(v[0], sizeof v[0], "caption", caption)};
    if (!rc) rc = lr_plot(pl, "fig4_growth", "fig4_growth", vars, 1, err);
    free(values);
    return rc;
}

/* ---- Figure 5 ---- */

int lr_pick_extremes(const lr_lesion_set *s, const lr_results *c, lr_picked_lesion *out, size_t *n_out)
{
    *n_out = 0;
    if (s->n < 4) return 0;
    size_t hi[2] = {0, 0}, lo[2] = {0, 0};
    /* two passes each way keep it O(n) and independent of ties' order (first index wins) */
    for (int r = 0; r < 2; r++) {
        long best_hi = -1, best_lo = -1;
        for (size_t i = 0; i < s->n; i++) {
            if (r == 1 && i == hi[0]) continue;
            if (best_hi < 0 || s->risk[i] > s->risk[best_hi]) best_hi = (long)i;
        }
        for (size_t i = 0; i < s->n; i++) {
            if (r == 1 && i == lo[0]) continue;
            if (best_lo < 0 || s->risk[i] < s->risk[best_lo]) best_lo = (long)i;
        }
        hi[r] = (size_t)best_hi;
        lo[r] = (size_t)best_lo;
    }
    const size_t order[4] = {hi[0], hi[1], lo[0], lo[1]};
    for (int k = 0; k < 4; k++) {
        size_t l = s->lesion[order[k]];
        out[k].lesion = l;
        out[k].annotation = (size_t)c->lesion_annotation[l];
        out[k].patient = (size_t)c->ann_patient[out[k].annotation];
        out[k].risk = s->risk[order[k]];
        out[k].rank_high = k < 2 ? k + 1 : 0;
        out[k].rank_low = k >= 2 ? k - 1 : 0;
    }
    *n_out = 4;
    return 0;
}


/* Reads patch rows lesions[0..n) of /lesions/patch [L,S,S] into out[n*S*S]. */
static int read_patches(const char *path, const char *dataset, size_t L, const size_t *lesions, size_t n,
                        float *out, int *side, char *why, size_t why_size)
{
    lr_err err = {0};
    hid_t f = lr_h5_open_read(path, &err);
    if (f < 0) {
        snprintf(why, why_size, "%s", err.msg);
        return -1;
    }
    int rank, rc = -1;
    hsize_t dims[LR_H5_MAXRANK];
    hid_t d = -1, fs = -1, ms = -1;
    if (lr_h5_shape(f, dataset, &rank, dims, &err) || rank != 3 || dims[0] != L || dims[1] != dims[2]) {
        snprintf(why, why_size, "%s: %s missing or not [%zu, S, S] %s", path, dataset, L, err.msg);
        goto done;
    }
    *side = (int)dims[1];
    d = H5Dopen2(f, dataset, H5P_DEFAULT);
    fs = H5Dget_space(d);
    hsize_t mdims[1] = {dims[1] * dims[2]};
    ms = H5Screate_simple(1, mdims, NULL);
    for (size_t i = 0; i < n; i++) {
        hsize_t start[3] = {lesions[i], 0, 0}, count[3] = {1, dims[1], dims[2]};
        if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out + i * mdims[0]) < 0) {
            snprintf(why, why_size, "%s: cannot read %s row %zu", path, dataset, lesions[i]);
            goto done;
        }
    }
    rc = 0;
done:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return rc;
}

/* data/fig5_saliency<k>.dat: x y r g b, the windowed patch with its occlusion map blended (lr_saliency_blend). */
static int write_saliency_panel(lr_plotter *pl, int k, const float *hu, const float *map, int side, double level,
                                double width, lr_err *err)
{
    char name[64];
    snprintf(name, sizeof name, "fig5_saliency%d.dat", k + 1);
    FILE *f = open_data(pl, name, err);
    if (!f) return -1;
    fprintf(f, "# x y r g b: patch (window L %.0f W %.0f HU) with its occlusion map (red: the window raises the "
               "risk, blue: lowers it; opacity |map| / its max |map|)\n", level, width);
    lr_saliency_write_rgb(f, hu, map, side, level, width);
    return close_data(f, pl, name, err);
}

/* The occlusion maps of `rows` from a `predict --saliency` file, which must be of this campaign's model on
 * this campaign's cohort (the maps are then of the lesions Figure 5 shows). */
static int read_saliency(const char *path, const lr_results *c, const char *model, const size_t *rows, size_t n,
                         int side, float *out, lr_err *err)
{
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return -1;
    char format[64] = "", pred_model[64] = "", cohort_hex[32] = "";
    int rc = -1;
    if (lr_h5_attr_read_string(f, "/", "format", format, sizeof format, err) || strcmp(format, LR_PREDICT_FORMAT)) {
        lr_fail(err, "--saliency %s: not a predict file (root attribute format = '%s', expected '%s')", path, format,
                LR_PREDICT_FORMAT);
        goto done;
    }
    if (lr_h5_attr_read_string(f, "/", "model", pred_model, sizeof pred_model, err) ||
        lr_h5_attr_read_string(f, "/", "cohort_fnv1a64", cohort_hex, sizeof cohort_hex, err))
        goto done;
    if (strcmp(pred_model, model)) {
        lr_fail(err, "--saliency %s: its maps are of model '%s', the report's Figure 5 shows '%s' (--model)", path,
                pred_model, model);
        goto done;
    }
    if (c->cohort_fnv1a64[0] && strcmp(cohort_hex, c->cohort_fnv1a64)) {
        lr_fail(err, "--saliency %s: predicted on another cohort (checksum %s) than the campaign's (%s): run predict "
                "--saliency with --cohort set to the campaign's cohort", path, cohort_hex, c->cohort_fnv1a64);
        goto done;
    }
    if (!lr_h5_exists(f, "/saliency/occlusion")) {
        lr_fail(err, "--saliency %s: no /saliency/occlusion (run predict with --saliency)", path);
        goto done;
    }
    char why[1024] = "";
    int map_side = 0;
    if (read_patches(path, "/saliency/occlusion", c->L, rows, n, out, &map_side, why, sizeof why) ||
        map_side != side) {
        lr_fail(err, "--saliency %s: %s", path, why[0] ? why : "maps are not the size of the patches");
        goto done;
    }
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < (size_t)side * side; i++)
            if (!isfinite(out[k * side * side + i])) {
                lr_fail(err, "--saliency %s: no map for lesion row %zu (Figure 5 shows rows %zu,%zu,%zu,%zu: run predict "
                        "--saliency-lesions with them, or --saliency for all)", path, rows[k], rows[0], rows[1],
                        rows[2], rows[3]);
                goto done;
            }
    rc = 0;
done:
    H5Fclose(f);
    return rc;
}

int lr_figure_lesions(lr_plotter *pl, const lr_results *c, const lr_lesion_set *s, const char *cohort_path,
                      const char *saliency_path, const char *model, const lr_picked_lesion *picked,
                      size_t n_picked, char *skipped, size_t skipped_size, lr_err *err)
{
    skipped[0] = 0;
    if (n_picked < 4) {
        snprintf(skipped, skipped_size, "fewer than 4 test lesions with a risk");
        return 0;
    }
    if (c->cohort_fnv1a64[0]) {
        int ok;
        char hex[32];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)lr_fnv1a64_file(cohort_path, &ok));
        if (!ok) {
            snprintf(skipped, skipped_size, "the cohort file %s is not readable (%s)", cohort_path, strerror(errno));
            return 0;
        }
        if (strcmp(hex, c->cohort_fnv1a64) != 0) {
            snprintf(skipped, skipped_size, "the cohort file %s has changed since the campaign ran (checksum %s, "
                     "campaign %s): its patches may not be the lesions that were scored", cohort_path, hex,
                     c->cohort_fnv1a64);
            return 0;
        }
    }
    size_t rows[4];
    for (int k = 0; k < 4; k++) rows[k] = picked[k].lesion;
    float *patch = lr_malloc(4 * 512 * 512, sizeof *patch, err), *occlusion = NULL;
    if (!patch) return -1;
    int side = 0;
    if (read_patches(cohort_path, "/lesions/patch", c->L, rows, 4, patch, &side, skipped, skipped_size) || side > 512) {
        if (side > 512) snprintf(skipped, skipped_size, "patch side %d too large", side);
        free(patch);
        return 0;
    }
    if (saliency_path && (!(occlusion = lr_malloc(4 * (size_t)side * side, sizeof *occlusion, err)) ||
                          read_saliency(saliency_path, c, model, rows, 4, side, occlusion, err))) {
        free(patch);
        free(occlusion);
        return -1;
    }
    double rmin = s->risk[0], rmax = s->risk[0];
    for (size_t i = 1; i < s->n; i++) {
        rmin = s->risk[i] < rmin ? s->risk[i] : rmin;
        rmax = s->risk[i] > rmax ? s->risk[i] : rmax;
    }
    double span = rmax > rmin ? rmax - rmin : 1.0;
    int rc = -1;
    char names[4][64], titles[4][600];
    for (int k = 0; k < 4; k++) {
        const lr_picked_lesion *p = &picked[k];
        size_t l = p->lesion;
        int lung = !strcmp(c->organ_name[c->lesion_organ[l]], "lung");
        double level = lung ? -600.0 : 40.0, width = lung ? 1500.0 : 400.0; /* lung / soft-tissue window */
        snprintf(names[k], sizeof names[k], "fig5_patch%d.dat", k + 1);
        FILE *f = open_data(pl, names[k], err);
        if (!f) goto done;
        fprintf(f, "# lesion row %zu, %s, window L %.0f W %.0f HU, grey 0..1 (matrix: row = anterior->posterior)\n",
                l, c->organ_name[c->lesion_organ[l]], level, width);
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                double g = (patch[(size_t)k * side * side + (size_t)y * side + x] - (level - width / 2)) / width;
                fprintf(f, "%s%.3f", x ? " " : "", g < 0 ? 0.0 : g > 1 ? 1.0 : g);
            }
            fputc('\n', f);
        }
        if (close_data(f, pl, names[k], err)) goto done;
        if (occlusion && write_saliency_panel(pl, k, patch + (size_t)k * side * side,
                                              occlusion + (size_t)k * side * side, side, level, width, err))
            goto done;
        /* the lesion outline (circle of diameter d = half the 2d-wide patch) and the annotation's lesions */
        char oname[64];
        snprintf(oname, sizeof oname, "fig5_marks%d.dat", k + 1);
        f = open_data(pl, oname, err);
        if (!f) goto done;
        double half = side / 2.0 - 0.5;
        fprintf(f, "# x y radius rgb: block 0 = the lesion outline, block 1 = every lesion of the annotation "
                   "(risk order), selected one first\n");
        fprintf(f, "%.2f %.2f %.2f %u\n\n\n", half, half, side / 4.0, lr_risk_colour((p->risk - rmin) / span));
        size_t a = p->annotation, first = (size_t)c->ann_first_lesion[a], n = (size_t)c->ann_n_lesions[a];
        size_t shown = 0;
        double step = n > 1 ? (side - 8.0) / (double)(n - 1) : 0.0;
        if (step > 8.0) step = 8.0;
        for (size_t q = 0; q < n; q++) {
            size_t m = first + q;
            double r = s->by_lesion[m]; /* the set's risk (the lesion's own fold and replicates) */
            if (!isfinite(r)) continue;
            fprintf(f, "%.2f %.2f %.2f %u %d\n", 4.0 + step * (double)shown, side + 6.0, m == l ? 3.0 : 2.2,
                    lr_risk_colour((r - rmin) / span), m == l);
            shown++;
        }
        if (close_data(f, pl, oname, err)) goto done;
        snprintf(titles[k], sizeof titles[k], "title%d='%s #%d: %s, risk %.2f (patient %zu, %zu lesions annotated)'",
                 k + 1, p->rank_high ? "highest" : "lowest", p->rank_high ? p->rank_high : p->rank_low,
                 c->organ_name[c->lesion_organ[l]], p->risk, p->patient, n);
    }
    char extra[3][256];
    snprintf(extra[0], sizeof extra[0], "side=%d", side);
    snprintf(extra[1], sizeof extra[1], "scale='blue = lowest test risk (%.2f), red = highest (%.2f)'", rmin, rmax);
    snprintf(extra[2], sizeof extra[2], "saliency=%d", occlusion != NULL);
    const char *vars[] = {titles[0], titles[1], titles[2], titles[3], extra[0], extra[1], extra[2]};
    rc = lr_plot(pl, "fig5_lesions", "fig5_lesions", vars, 7, err);
done:
    free(patch);
    free(occlusion);
    return rc;
}

/* ---- training curves ---- */

int lr_figure_curves(lr_plotter *pl, const lr_results *c, size_t *n_models, lr_err *err)
{
    static const char *const models[] = {"imagenet_resnet50", "radimagenet_resnet50", "proposed", "no_fc",
                                         "no_scaler", "mean_largest5", "whole_volume"};
    *n_models = 0;
    FILE *f = open_data(pl, "curves.dat", err);
    if (!f) return -1;
    double *vals = lr_malloc(c->J ? c->J : 1, sizeof *vals, err);
    if (!vals) {
        fclose(f);
        return -1;
    }
    char names[512] = "", colours[512] = "";
    fprintf(f, "# one block per model; one file block per series: epoch mean lo hi rgb (lo/hi = mean -/+ sd over "
               "jobs; evaluated epochs only)\n# series per model: 0 train loss, 1 train C, 2 valid C\n");
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        int any = 0;
        for (size_t j = 0; j < c->J; j++)
            any |= c->job_status[j] == LR_JOB_STATUS_OK && c->job_pooled[j] && !strcmp(c->job_model[j], models[m]);
        if (!any) continue;
        for (int series = 0; series < 3; series++) {
            fprintf(f, "# %s series %d\n", models[m], series);
            int rows = 0;
            for (size_t e = 0; e < c->E; e++) {
                size_t n = 0;
                for (size_t j = 0; j < c->J; j++) {
                    if (c->job_status[j] != LR_JOB_STATUS_OK || !c->job_pooled[j] || strcmp(c->job_model[j], models[m]))
                        continue;
                    double v = series == 0 ? c->curve_loss[j * c->E + e]
                                           : c->curve_cindex[(j * c->E + e) * 3 + (series == 1 ? 0 : 1)];
                    if (isfinite(v)) vals[n++] = v;
                }
                if (!n) continue;
                double mean = gsl_stats_mean(vals, 1, n), sd = n > 1 ? gsl_stats_sd(vals, 1, n) : 0.0;
                fprintf(f, "%zu %.6g %.6g %.6g %u\n", e + 1, mean, mean - sd, mean + sd, lr_model_colour(models[m]));
                rows++;
            }
            if (!rows) fprintf(f, "NaN NaN NaN NaN %u\n", lr_model_colour(models[m]));
            fprintf(f, "\n\n");
        }
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", *n_models ? " " : "", models[m]);
        snprintf(colours + strlen(colours), sizeof colours - strlen(colours), "%s#%06x", *n_models ? " " : "",
                 lr_model_colour(models[m]));
        (*n_models)++;
    }
    free(vals);
    if (close_data(f, pl, "curves.dat", err)) return -1;
    if (!*n_models) return 0;
    char v[4][600];
    snprintf(v[0], sizeof v[0], "models='%s'", names);
    snprintf(v[1], sizeof v[1], "nmodels=%zu", *n_models);
    snprintf(v[2], sizeof v[2], "colors='%s'", colours);
    snprintf(v[3], sizeof v[3], "nepochs=%zu", c->E);
    const char *vars[] = {v[0], v[1], v[2], v[3]};
    return lr_plot(pl, "training_curves", "training_curves", vars, 4, err);
}

/* ---- truth recovery ---- */

static double spearman_of(const double *a, const double *b, size_t n, double *work)
{
    if (n < 3) return NAN;
    return gsl_stats_spearman(a, 1, b, 1, n, work);
}

int lr_figure_truth(lr_plotter *pl, const lr_results *c, const lr_lesion_set *s, const char *model,
                    lr_truth_rho *rho, size_t *n_rho, double *rho_split, lr_err *err)
{
    static const char *const models[] = {"imagenet_resnet50", "radimagenet_resnet50", "proposed", "no_fc",
                                         "no_scaler", "mean_largest5"}; /* lesion-level risks */
    *n_rho = 0;
    *rho_split = NAN;
    size_t L = c->L ? c->L : 1;
    double *a = lr_malloc(L, sizeof *a, err), *b = lr_malloc(L, sizeof *b, err);
    double *work = lr_malloc(2 * L, sizeof *work, err);
    int rc = -1;
    FILE *f = NULL;
    if (!a || !b || !work) goto done;
    f = open_data(pl, "truth_scatter.dat", err);
    if (!f) goto done;
    fprintf(f, "# test lesions of %s: true_log_hazard predicted_risk rgb(organ) organ\n", model);
    for (size_t i = 0; i < s->n; i++) {
        size_t l = s->lesion[i];
        a[i] = c->truth_lesion_log_hazard[l];
        b[i] = s->risk[i];
        fprintf(f, "%.6g %.6g %u ", a[i], b[i], lr_organ_colour((size_t)c->lesion_organ[l]));
        for (const char *q = c->organ_name[c->lesion_organ[l]]; *q; q++) fputc(*q == ' ' ? '_' : *q, f);
        fputc('\n', f);
    }
    if (close_data(f, pl, "truth_scatter.dat", err)) {
        f = NULL;
        goto done;
    }
    f = NULL;
    *rho_split = spearman_of(a, b, s->n, work);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        lr_truth_rho r = {models[m], 0, NAN, NAN, NAN, 0};
        double per_fold[64];
        for (long k = 0; k < c->folds && k < 64; k++) {
            lr_lesion_set fold_set;
            lr_err ignored;
            if (lr_test_lesions(c, models[m], (int)k, &fold_set, &ignored)) continue;
            for (size_t i = 0; i < fold_set.n; i++) {
                a[i] = c->truth_lesion_log_hazard[fold_set.lesion[i]];
                b[i] = fold_set.risk[i];
            }
            double value = spearman_of(a, b, fold_set.n, work);
            if (k == (long)(s->job >= 0 ? c->job_fold[s->job] : 0)) {
                r.rho_split = value;
                r.n_split = fold_set.n;
            }
            lr_lesion_set_free(&fold_set);
            if (isfinite(value)) per_fold[r.folds++] = value;
        }
        if (!r.folds) continue;
        r.rho_mean = gsl_stats_mean(per_fold, 1, r.folds);
        r.rho_sd = r.folds > 1 ? gsl_stats_sd(per_fold, 1, r.folds) : NAN;
        rho[(*n_rho)++] = r;
    }
    char v[4][1024];
    snprintf(v[0], sizeof v[0], "rho=%.6f", isfinite(*rho_split) ? *rho_split : 0.0);
    snprintf(v[1], sizeof v[1], "model='%s'", model);
    /* legend: organ names (spaces as _) and their colours, in organ order */
    snprintf(v[2], sizeof v[2], "organs='");
    snprintf(v[3], sizeof v[3], "ocolors='");
    for (size_t k = 0; k < c->K && k < 32; k++) {
        size_t n2 = strlen(v[2]);
        for (const char *q = c->organ_name[k]; *q && n2 + 40 < sizeof v[2]; q++) v[2][n2++] = *q == ' ' ? '_' : *q;
        v[2][n2] = 0;
        snprintf(v[2] + n2, sizeof v[2] - n2, "%s", k + 1 < c->K ? " " : "");
        snprintf(v[3] + strlen(v[3]), sizeof v[3] - strlen(v[3]), "#%06x%s", lr_organ_colour(k), k + 1 < c->K ? " " : "");
    }
    strncat(v[2], "'", sizeof v[2] - strlen(v[2]) - 1);
    strncat(v[3], "'", sizeof v[3] - strlen(v[3]) - 1);
    const char *vars[] = {v[0], v[1], v[2], v[3]};
    rc = lr_plot(pl, "truth_scatter", "truth_scatter", vars, 4, err);
done:
    if (f) fclose(f);
    free(a);
    free(b);
    free(work);
    return rc;
}
