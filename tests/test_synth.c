/* The synthetic CT: one lesion appearance for patches and whole volumes.
 * - The stored patch of a lesion row is the scene's function (the one the volume renderer samples), sampled
 *   on the patch's own grid here, plus the acquisition noise: the difference must be that noise alone.
 * - The stored whole volume around an isolated lesion agrees with its patch averaged over each voxel's
 *   in-plane footprint (coarser grid and a voxel thickness the patch does not have: a looser tolerance). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/cohort.h"
#include "data/synth.h"

static char tmpdir[512];

static size_t patient_of_row(const lr_cohort *c, size_t row)
{
    for (size_t a = 0; a < c->n_annotations; a++)
        if ((size_t)c->ann_first_lesion[a] <= row && row < (size_t)c->ann_first_lesion[a] + (size_t)c->ann_n_lesions[a])
            return (size_t)c->ann_patient[a];
    return (size_t)-1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int stored_at_clamp(float v) { return v <= -1024.0f || v >= 3071.0f; }

/* Tolerance: the patch noise is N(0, LR_SYNTH_NOISE_HU^2) per pixel, so over >= 50 000 pixels the mean of
 * (stored - function) is within 0.5 HU of 0, its SD within 5 % of the noise SD, and no pixel is off by more
 * than 5.5 SD (pixels at the HU clamp excluded). */
static void test_patch_is_the_volume_function(void)
{
    lr_synth_params p;
    lr_synth_default_params(&p);
    p.patients = 8;
    p.seed = 5;
    lr_cohort c;
    lr_synth_records rec;
    lr_err err = {0};
    CHECK_MSG(lr_synth_generate_records(&p, &c, &rec, &err) == 0, "%s", err.msg);
    if (c.n_lesions == 0) return;
    double sum = 0, sum2 = 0, worst = 0;
    size_t n = 0, rows = 0;
    int organs_seen[N_SYNTH_ORGANS] = {0};
    for (size_t l = 0; l < c.n_lesions && rows < 40; l += 3, rows++) {
        size_t pt = patient_of_row(&c, l);
        lr_synth_scene *S = &rec.scenes[pt];
        const lr_synth_patch_view *v = &rec.views[l];
        const double *centre = S->fields[v->lesion].les.position;
        organs_seen[c.organ[l]] = 1;
        double pix = v->crop_mm / LR_PATCH;
        lr_synth_scene_set_aperture(S, (const double[3]){0, pix, pix});
        int *all = malloc((size_t)S->n * sizeof *all); /* every field: a superset of those that reach */
        for (int k = 0; k < S->n; k++) all[k] = k;
        for (int i = 0; i < LR_PATCH; i++)
            for (int j = 0; j < LR_PATCH; j++) {
                double pos[3] = {centre[0], centre[1] + v->shift_y_mm + (i + 0.5 - 0.5 * LR_PATCH) * pix,
                                 centre[2] + v->shift_x_mm + (j + 0.5 - 0.5 * LR_PATCH) * pix};
                float stored = c.patch[(l * LR_PATCH + (size_t)i) * LR_PATCH + (size_t)j];
                if (stored_at_clamp(stored)) continue;
                double d = stored - lr_synth_scene_hu(S, pos, all, S->n);
                sum += d, sum2 += d * d, n++;
                if (fabs(d) > worst) worst = fabs(d);
            }
        free(all);
    }
    int n_organs = 0;
    for (int k = 0; k < N_SYNTH_ORGANS; k++) n_organs += organs_seen[k];
    CHECK_MSG(n >= 50000 && n_organs >= 4, "%zu pixels, %d organs", n, n_organs);
    double mean = sum / (double)n, sd = sqrt(sum2 / (double)n - mean * mean);
    printf("  patch vs the volume function: %zu rows, %zu pixels, diff mean %.3f HU, SD %.3f HU, max %.1f HU\n", rows, n,
           mean, sd, worst);
    CHECK_MSG(fabs(mean) < 0.5, "mean %g", mean);
    CHECK_MSG(fabs(sd / LR_SYNTH_NOISE_HU - 1) < 0.05, "sd %g", sd);
    CHECK_MSG(worst < 5.5 * LR_SYNTH_NOISE_HU, "max %g", worst);
    lr_synth_records_free(&rec);
    lr_cohort_free(&c);
}

/* Whole volume (the demo's grid) vs patch: for isolated lesions (no other field reaches theirs) at least
 * 3 voxels wide, the voxel in the slice holding the lesion centre against the mean of the patch pixels
 * whose centres fall in the voxel's in-plane footprint. Differences: the voxel's noise (10 HU), its
 * thickness (the patch is the centre plane; the voxel averages 7.5 mm of a lesion that changes along z)
 * and the mean-of-pixels approximation of the box; largest in lung (vessels and edges against -860 HU) and
 * bone (trabecular texture averaged along z). Tolerance (measured: correlation 0.99, RMS 55, median 14.5):
 * correlation >= 0.97, RMS <= 80 HU, median |diff| <= 20 HU, while the compared voxels span >= 300 HU. */
static void test_volume_agrees_with_patch(void)
{
    lr_synth_params p;
    lr_synth_default_params(&p);
    p.patients = 10;
    p.seed = 5;
    p.volumes = 1;
    p.volume_dims[0] = p.volume_dims[1] = p.volume_dims[2] = 80;
    char path[600];
    snprintf(path, sizeof path, "%s/vol.h5", tmpdir);
    lr_err err = {0};
    CHECK_MSG(lr_synth_write(path, &p, &err) == 0, "%s", err.msg);
    lr_cohort c, file;
    lr_synth_records rec;
    p.volumes = 0;
    CHECK_MSG(lr_synth_generate_records(&p, &c, &rec, &err) == 0, "%s", err.msg);
    CHECK_MSG(lr_cohort_read(path, 0, &file, &err) == 0, "%s", err.msg);
    CHECK(file.n_lesions == c.n_lesions && file.has_volumes);
    CHECK(memcmp(file.patch, c.patch, c.n_lesions * LR_PATCH * LR_PATCH * sizeof(float)) == 0);
    const size_t *dims = file.volume_dims;
    const double *sp = file.volume_spacing_mm;
    size_t D = dims[0], H = dims[1], W = dims[2];
    int16_t *vol = malloc(D * H * W * sizeof *vol);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    double sum2 = 0, lo = HUGE_VAL, hi = -HUGE_VAL, sv = 0, sq = 0, svv = 0, sqq = 0, svq = 0;
    double org2[N_SYNTH_ORGANS] = {0};
    size_t orgn[N_SYNTH_ORGANS] = {0};
    double *absd = malloc(200000 * sizeof *absd);
    size_t n = 0, lesions = 0, last_patient = (size_t)-1;
    int *cand = NULL;
    for (size_t l = 0; l < c.n_lesions; l++) {
        size_t pt = patient_of_row(&c, l);
        lr_synth_scene *S = &rec.scenes[pt];
        const lr_synth_patch_view *v = &rec.views[l];
        const lr_synth_field *F = &S->fields[v->lesion];
        if (v->crop_mm < 3 * sp[2]) continue;
        /* isolated: no other field reaches this one's context box */
        double reach_xy = F->ctx_radius + F->ctx_fade, reach_z = F->ctx_half_height + F->ctx_fade;
        const double *ctr = F->les.position;
        free(cand);
        cand = malloc((size_t)S->n * sizeof *cand);
        lr_synth_scene_set_aperture(S, sp);
        int nc = lr_synth_scene_candidates(S, (const double[3]){ctr[0] - reach_z, ctr[1] - reach_xy, ctr[2] - reach_xy},
                                           (const double[3]){ctr[0] + reach_z, ctr[1] + reach_xy, ctr[2] + reach_xy}, cand);
        if (nc != 1) continue;
        if (pt != last_patient) {
            CHECK(lr_cohort_read_volume(f, pt, dims, vol, &err) == 0);
            last_patient = pt;
        }
        long k = (long)floor(ctr[0] / sp[0]);
        if (k < 0 || k >= (long)D) continue;
        double pix = v->crop_mm / LR_PATCH;
        double y0 = ctr[1] + v->shift_y_mm - 0.5 * v->crop_mm, x0 = ctr[2] + v->shift_x_mm - 0.5 * v->crop_mm;
        const float *patch = c.patch + l * LR_PATCH * LR_PATCH;
        lesions++;
        for (size_t i = 0; i < H; i++) {
            double vy0 = ((double)i - 0.5 * (double)H) * sp[1]; /* the voxel's footprint [vy0, vy0 + sp] */
            if (vy0 < y0 || vy0 + sp[1] > y0 + v->crop_mm) continue;
            for (size_t j = 0; j < W; j++) {
                double vx0 = ((double)j - 0.5 * (double)W) * sp[2];
                if (vx0 < x0 || vx0 + sp[2] > x0 + v->crop_mm) continue;
                double acc = 0;
                int m = 0;
                for (int pi = 0; pi < LR_PATCH; pi++) {
                    double py = y0 + (pi + 0.5) * pix;
                    if (py < vy0 || py >= vy0 + sp[1]) continue;
                    for (int pj = 0; pj < LR_PATCH; pj++) {
                        double px = x0 + (pj + 0.5) * pix;
                        if (px < vx0 || px >= vx0 + sp[2]) continue;
                        acc += patch[pi * LR_PATCH + pj];
                        m++;
                    }
                }
                if (m == 0) continue;
                double d = (double)vol[((size_t)k * H + i) * W + j] - acc / m;
                sum2 += d * d;
                double vv = vol[((size_t)k * H + i) * W + j], qq = acc / m;
                sv += vv, sq += qq, svv += vv * vv, sqq += qq * qq, svq += vv * qq;
                org2[c.organ[l]] += d * d, orgn[c.organ[l]]++;
                if (n < 200000) absd[n++] = fabs(d);
                lo = fmin(lo, acc / m), hi = fmax(hi, acc / m);
            }
        }
    }
    H5Fclose(f);
    CHECK_MSG(lesions >= 20 && n >= 300, "%zu lesions, %zu voxels", lesions, n);
    if (n > 0) {
        qsort(absd, n, sizeof *absd, cmp_double);
        double rms = sqrt(sum2 / (double)n), med = absd[n / 2];
        printf("  volume vs patch (%zux%zux%zu): %zu lesions, %zu voxels, RMS %.1f HU, median |diff| %.1f HU, patch means "
               "span %.0f..%.0f HU; ", D, H, W, lesions, n, rms, med, lo, hi);
        double nn = (double)n, cov = svq / nn - sv / nn * sq / nn;
        double corr = cov / sqrt((svv / nn - sv / nn * sv / nn) * (sqq / nn - sq / nn * sq / nn));
        printf("  correlation %.4f; RMS by organ:", corr);
        for (int o = 0; o < N_SYNTH_ORGANS; o++)
            if (orgn[o]) printf(" %s %.0f", lr_synth_organ_names[o], sqrt(org2[o] / (double)orgn[o]));
        printf(" HU\n");
        CHECK_MSG(corr >= 0.97, "correlation %g", corr);
        CHECK_MSG(rms <= 80, "rms %g", rms);
        CHECK_MSG(med <= 20, "median %g", med);
        CHECK_MSG(hi - lo >= 300, "span %g", hi - lo);
    }
    free(cand);
    free(absd);
    free(vol);
    lr_synth_records_free(&rec);
    lr_cohort_free(&c);
    lr_cohort_free(&file);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/lr_test_synth_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_patch_is_the_volume_function);
    RUN(test_volume_agrees_with_patch);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_SUMMARY();
}
