/* Whole synthetic CT volumes: a simple thorax/abdomen phantom (body, lungs, mediastinum, spine, liver,
 * spleen, stomach, kidneys) with the patient's true lesions as ellipsoids in their organs.
 * Field of view 600 mm (z, head to feet) x 375 mm x 375 mm, as the paper's 120 x 480 x 480 crop at
 * 5 x 0.78125 x 0.78125 mm. Coordinates: z from the top, y, x from the centre, in mm. */
#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <string.h>

#include "data/synth.h"
#include "util/rng.h"

int lr_synth_render_volume(int16_t *vol, const size_t dims[3], const double spacing[3], const lr_synth_lesion *les,
                           int n, uint64_t key);
void lr_synth_place_lesions(lr_synth_lesion *les, int n, uint64_t key);

static double ell(double x, double y, double cx, double cy, double ax, double ay)
{
    double u = (x - cx) / ax, v = (y - cy) / ay;
    return u * u + v * v;
}

/* Organ label at a point (-1: outside the body, -2: body fat / no organ), and its HU. */
static int organ_at(double z, double y, double x, double *hu);

int lr_synth_organ_at(double z, double y, double x, double *hu) { return organ_at(z, y, x, hu); }

static int organ_at(double z, double y, double x, double *hu)
{
    if (ell(x, y, 0, 0, 170, 120) > 1) {
        *hu = LR_HU_AIR;
        return -1;
    }
    if (ell(x, y, 0, 0, 160, 110) > 1) {
        *hu = -95;
        return -2;
    }
    double sr = hypot(x, y - 78);
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

void lr_synth_place_lesions(lr_synth_lesion *les, int n, uint64_t key)
{
    gsl_rng *r = lr_rng_stream(key, "place", 0, 0, 0);
    if (!r) return;
    for (int l = 0; l < n; l++) {
        double hu, z = 300, y = 0, x = 0;
        for (int t = 0; t < 2000; t++) {
            z = 600 * gsl_rng_uniform(r);
            y = -120 + 240 * gsl_rng_uniform(r);
            x = -170 + 340 * gsl_rng_uniform(r);
            if (organ_at(z, y, x, &hu) == les[l].organ) break;
        }
        les[l].position[0] = z;
        les[l].position[1] = y;
        les[l].position[2] = x;
    }
    gsl_rng_free(r);
}

int lr_synth_render_volume(int16_t *vol, const size_t dims[3], const double spacing[3], const lr_synth_lesion *les,
                           int n, uint64_t key)
{
    gsl_rng *r = lr_rng_stream(key, "volume-noise", 0, 0, 0);
    if (!r) return -1;
    size_t D = dims[0], H = dims[1], W = dims[2];
    for (size_t k = 0; k < D; k++) {
        double z = (k + 0.5) * spacing[0];
        for (size_t i = 0; i < H; i++) {
            double y = ((i + 0.5) - 0.5 * H) * spacing[1];
            for (size_t j = 0; j < W; j++) {
                double x = ((j + 0.5) - 0.5 * W) * spacing[2];
                double hu;
                organ_at(z, y, x, &hu);
                if (hu > LR_HU_AIR) hu += gsl_ran_gaussian_ziggurat(r, 10.0);
                vol[(k * H + i) * W + j] = (int16_t)lrint(GSL_MIN(GSL_MAX(hu, -1024.0), 3071.0));
            }
        }
    }
    for (int l = 0; l < n; l++) {
        const lr_synth_lesion *L = &les[l];
        double co = cos(L->orientation), so = sin(L->orientation);
        double hu = L->organ == ORGAN_BONE && L->variant ? 720 : 35;
        for (size_t k = 0; k < D; k++) {
            double dz = (k + 0.5) * spacing[0] - L->position[0];
            if (fabs(dz) > L->semi_c) continue;
            for (size_t i = 0; i < H; i++) {
                double dy = ((i + 0.5) - 0.5 * H) * spacing[1] - L->position[1];
                if (fabs(dy) > L->semi_a) continue;
                for (size_t j = 0; j < W; j++) {
                    double dx = ((j + 0.5) - 0.5 * W) * spacing[2] - L->position[2];
                    double u = (dx * co + dy * so) / L->semi_a, v = (-dx * so + dy * co) / L->semi_b,
                           w = dz / L->semi_c;
                    if (u * u + v * v + w * w <= 1.0) vol[(k * H + i) * W + j] = (int16_t)lrint(hu);
                }
            }
        }
    }
    gsl_rng_free(r);
    return 0;
}
