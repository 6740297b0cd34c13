/* A synthetic patient's CT as one function of millimetre space, and its two samplers: a simple
 * thorax/abdomen phantom (body, lungs, mediastinum, spine, liver, spleen, stomach, kidneys) with each true
 * lesion's field (synth_render.c: its organ context blended in around it, its body on top). Whole volumes
 * sample it on the voxel grid (aperture = the voxel), patches on the axial 2d x 2d mm square through the
 * lesion's centre (aperture = the patch pixel), as ingest cuts patches out of real CTs.
 * Field of view 600 mm (z, head to feet) x 375 mm x 375 mm, as the paper's 120 x 480 x 480 crop at
 * 5 x 0.78125 x 0.78125 mm. Coordinates: z from the top, y, x from the centre, in mm. */
#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth.h"
#include "util/rng.h"

static double ell(double x, double y, double cx, double cy, double ax, double ay)
{
    double u = (x - cx) / ax, v = (y - cy) / ay;
    return u * u + v * v;
}

/* Organ label at a point (-1: outside the body, -2: body fat / no organ), and its HU. */
int lr_synth_organ_at(double z, double y, double x, double *hu)
{
    if (ell(x, y, 0, 0, 170, 120) > 1) {
        *hu = LR_HU_AIR;
        return -1;
    }
    if (ell(x, y, 0, 0, 160, 110) > 1) {
        *hu = -95;
        return -2;
    }
    double sr = sqrt(x * x + (y - 78) * (y - 78));
    if (sr < 18) {
        *hu = sr > 14 ? 900 : 250;
        return ORGAN_BONE;
    }
    if (z > 60 && z < 340) {
        double zf = 1.0 - ((z - 200) / 140) * ((z - 200) / 140);
        double sz = sqrt(GSL_MAX(zf, 0.0));
        if (sz > 0.05 && (ell(x, y, -78, -5, 58 * sz + 1, 80 * sz + 1) < 1 || ell(x, y, 78, -5, 58 * sz + 1, 80 * sz + 1) < 1)) {
            *hu = -860;
            return ORGAN_LUNG;
        }
        if (fabs(x) < 22 && y > -75 && y < 55) {
            *hu = (z > 220 && ell(x, y, 8, -25, 40, 35) < 1) ? 40 : -90;
            return ORGAN_MEDIASTINUM;
        }
    }
    if (z > 300 && z < 460 && ell(x, y, -60, 0, 85, 80) < 1) {
        *hu = 62;
        return ORGAN_LIVER;
    }
    if (z > 300 && z < 420 && ell(x, y, 95, 40, 30, 40) < 1) {
        *hu = 48;
        return ORGAN_SPLEEN;
    }
    if (z > 320 && z < 420 && ell(x, y, 55, -35, 35, 30) < 1) {
        *hu = ell(x, y, 55, -35, 30, 25) < 1 ? -950 : 40;
        return ORGAN_STOMACH;
    }
    if (z > 400 && z < 520 && (ell(x, y, -65, 55, 25, 30) < 1 || ell(x, y, 65, 55, 25, 30) < 1)) {
        *hu = 150;
        return ORGAN_KIDNEY;
    }
    *hu = 42;
    return ORGAN_OTHER;
}

#define PLACE_TRIES 2000 /* random positions tried inside the organ with the body clear of the others */
#define PLACE_GAP_MM 2.0

static double body_radius(const lr_synth_lesion *L)
{
    double xy, z;
    lr_synth_body_reach(L, &xy, &z);
    return GSL_MAX(xy, z);
}

void lr_synth_place_lesions(lr_synth_lesion *les, int n, uint64_t key)
{
    gsl_rng *r = lr_rng_stream(key, "place", 0, 0, 0);
    if (!r) return;
    for (int l = 0; l < n; l++) {
        double hu, pos[3] = {300, 0, 0}, rl = body_radius(&les[l]);
        /* first tries: inside the organ, apart from the lesions placed so far; then inside the organ */
        for (int t = 0; t < 2 * PLACE_TRIES; t++) {
            double z = 600 * gsl_rng_uniform(r), y = -120 + 240 * gsl_rng_uniform(r), x = -170 + 340 * gsl_rng_uniform(r);
            if (lr_synth_organ_at(z, y, x, &hu) != les[l].organ) continue;
            pos[0] = z, pos[1] = y, pos[2] = x;
            int clear = 1;
            for (int m = 0; m < l && clear; m++) {
                double d2 = gsl_pow_2(z - les[m].position[0]) + gsl_pow_2(y - les[m].position[1]) +
                            gsl_pow_2(x - les[m].position[2]);
                clear = sqrt(d2) > rl + body_radius(&les[m]) + PLACE_GAP_MM;
            }
            if (clear || t >= PLACE_TRIES) break;
        }
        memcpy(les[l].position, pos, sizeof pos);
    }
    gsl_rng_free(r);
}

int lr_synth_scene_init(lr_synth_scene *S, const lr_synth_lesion *les, int n, uint64_t key, lr_err *err)
{
    *S = (lr_synth_scene){.n = n};
    S->fields = lr_calloc((size_t)GSL_MAX(n, 1), sizeof *S->fields, err);
    if (!S->fields) return -1;
    for (int l = 0; l < n; l++) lr_synth_field_init(&S->fields[l], &les[l], lr_stream_key(key, "lesion-field", l, 0, 0));
    return 0;
}

void lr_synth_scene_free(lr_synth_scene *S)
{
    free(S->fields);
    S->fields = NULL;
    S->n = 0;
}

void lr_synth_scene_set_aperture(lr_synth_scene *S, const double ap[3])
{
    memcpy(S->aperture, ap, sizeof S->aperture);
    for (int l = 0; l < S->n; l++) lr_synth_field_set_aperture(&S->fields[l], ap);
}

int lr_synth_scene_candidates(const lr_synth_scene *S, const double lo[3], const double hi[3], int *cand)
{
    int n = 0;
    for (int l = 0; l < S->n; l++) {
        const lr_synth_field *F = &S->fields[l];
        const double *ap = S->aperture;
        double reach_z = GSL_MAX(F->ctx_half_height + F->ctx_fade, F->body_reach_z + ap[0]);
        double reach_xy = GSL_MAX(F->ctx_radius + F->ctx_fade, F->body_reach_xy + GSL_MAX(ap[1], ap[2]));
        double reach[3] = {reach_z, reach_xy, reach_xy};
        int in = 1;
        for (int a = 0; a < 3 && in; a++)
            in = F->les.position[a] + reach[a] >= lo[a] && F->les.position[a] - reach[a] <= hi[a];
        if (in) cand[n++] = l;
    }
    return n;
}

double lr_synth_scene_hu(const lr_synth_scene *S, const double pos[3], const int *cand, int n_cand)
{
    double phantom, rel[3];
    lr_synth_organ_at(pos[0], pos[1], pos[2], &phantom);
    /* the organ context: the field whose cylinder holds pos most firmly (nearest, relative to its size) */
    int best = -1;
    double best_w = 0, best_reach = HUGE_VAL;
    for (int c = 0; c < n_cand; c++) {
        const lr_synth_field *F = &S->fields[cand[c]];
        for (int a = 0; a < 3; a++) rel[a] = pos[a] - F->les.position[a];
        double reach, w = lr_synth_field_context(F, rel, &reach);
        if (w > best_w || (w > 0 && w == best_w && reach < best_reach)) best = cand[c], best_w = w, best_reach = reach;
    }
    double hu = phantom;
    if (best >= 0) {
        const lr_synth_field *F = &S->fields[best];
        for (int a = 0; a < 3; a++) rel[a] = pos[a] - F->les.position[a];
        hu = best_w * lr_synth_field_background(F, rel) + (1 - best_w) * phantom;
    }
    /* the bodies on top, in field order */
    for (int c = 0; c < n_cand; c++) {
        const lr_synth_field *F = &S->fields[cand[c]];
        for (int a = 0; a < 3; a++) rel[a] = pos[a] - F->les.position[a];
        double les, frac = lr_synth_field_body(F, rel, &les);
        if (frac > 0) hu = frac * les + (1 - frac) * hu;
    }
    return hu;
}

static float clamp_hu(double hu) { return (float)GSL_MIN(GSL_MAX(hu, -1024.0), 3071.0); }

int lr_synth_render_patch(float *patch, lr_synth_scene *S, const lr_synth_patch_view *v, lr_err *err)
{
    const lr_synth_field *F = &S->fields[v->lesion];
    double pix = v->crop_mm / LR_PATCH;
    double z = F->les.position[0], y0 = F->les.position[1] + v->shift_y_mm, x0 = F->les.position[2] + v->shift_x_mm;
    lr_synth_scene_set_aperture(S, (const double[3]){0, pix, pix});
    double half = 0.5 * v->crop_mm;
    int *cand = lr_malloc((size_t)GSL_MAX(S->n, 1), sizeof *cand, err);
    gsl_rng *r = lr_rng_stream(v->noise_key, "patch", 0, 0, 0);
    if (!cand || !r) {
        free(cand);
        if (r) gsl_rng_free(r);
        return lr_fail(err, "out of memory (patch)");
    }
    int n_cand = lr_synth_scene_candidates(S, (const double[3]){z, y0 - half, x0 - half},
                                           (const double[3]){z, y0 + half, x0 + half}, cand);
    for (int i = 0; i < LR_PATCH; i++)
        for (int j = 0; j < LR_PATCH; j++) {
            double pos[3] = {z, y0 + ((i + 0.5) / LR_PATCH - 0.5) * v->crop_mm, x0 + ((j + 0.5) / LR_PATCH - 0.5) * v->crop_mm};
            double hu = lr_synth_scene_hu(S, pos, cand, n_cand) + gsl_ran_gaussian_ziggurat(r, LR_SYNTH_NOISE_HU);
            patch[i * LR_PATCH + j] = clamp_hu(hu);
        }
    free(cand);
    gsl_rng_free(r);
    return 0;
}

int lr_synth_render_volume(int16_t *vol, const size_t dims[3], const double spacing[3], lr_synth_scene *S,
                           uint64_t key, lr_err *err)
{
    size_t D = dims[0], H = dims[1], W = dims[2];
    lr_synth_scene_set_aperture(S, spacing);
    int *row = lr_malloc((size_t)GSL_MAX(S->n, 1), sizeof *row, err);
    gsl_rng *r = lr_rng_stream(key, "volume-noise", 0, 0, 0);
    int rc = 0;
    if (!row || !r) {
        rc = lr_fail(err, "out of memory (volume)");
        goto done;
    }
    double x_lo = -0.5 * (double)W * spacing[2], x_hi = 0.5 * (double)W * spacing[2];
    for (size_t k = 0; k < D; k++) {
        double z = ((double)k + 0.5) * spacing[0];
        for (size_t i = 0; i < H; i++) {
            double y = ((double)i + 0.5 - 0.5 * (double)H) * spacing[1];
            int n_row = lr_synth_scene_candidates(S, (const double[3]){z, y, x_lo}, (const double[3]){z, y, x_hi}, row);
            for (size_t j = 0; j < W; j++) {
                double pos[3] = {z, y, ((double)j + 0.5 - 0.5 * (double)W) * spacing[2]};
                double hu = lr_synth_scene_hu(S, pos, row, n_row);
                if (hu > LR_HU_AIR + 0.5) hu += gsl_ran_gaussian_ziggurat(r, LR_SYNTH_NOISE_HU);
                vol[(k * H + i) * W + j] = (int16_t)lrint(clamp_hu(hu));
            }
        }
    }
done:
    free(row);
    if (r) gsl_rng_free(r);
    return rc;
}
