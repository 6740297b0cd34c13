/* Rendering of synthetic lesion patches in HU: organ context, the lesion's shape and texture, noise.
 * Coordinates are in mm, centred on the lesion; the CNN must learn organ, containment margin and the
 * proliferation phenotype (boundary irregularity, heterogeneous texture, necrotic core) from pixels. */
#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <math.h>

#include "data/synth.h"
#include "util/rng.h"

#define N_WAVES 5
#define N_VESSELS 5

typedef struct {
    double kx, ky, phase;
} wave;

typedef struct {
    double px, py, dx, dy, width, radius, hu;
} vessel;

/* cos(kx x + ky y + phase) = cx cy - sx sy with per-column (x) and per-row (y) tables. */
typedef struct {
    double cx[N_WAVES][LR_PATCH], sx[N_WAVES][LR_PATCH], cy[N_WAVES][LR_PATCH], sy[N_WAVES][LR_PATCH];
} wave_table;

typedef struct {
    wave bg[N_WAVES], tex[N_WAVES];
    wave_table bg_t, tex_t;
    vessel vessels[N_VESSELS];
    double boundary_nx, boundary_ny, boundary_dist; /* organ boundary: x.n = dist */
    double cos_o, sin_o;
    double q_sig;
    double rib_phase;
    int n_vessels; /* lung: vessels crossing the field, about one per 15 mm of field width */
} scene;

static void tabulate(wave_table *t, const wave *w, double crop, double shift_x, double shift_y)
{
    for (int k = 0; k < N_WAVES; k++)
        for (int i = 0; i < LR_PATCH; i++) {
            double c = ((i + 0.5) / LR_PATCH - 0.5) * crop;
            t->cx[k][i] = cos(w[k].kx * (c + shift_x));
            t->sx[k][i] = sin(w[k].kx * (c + shift_x));
            t->cy[k][i] = cos(w[k].ky * (c + shift_y) + w[k].phase);
            t->sy[k][i] = sin(w[k].ky * (c + shift_y) + w[k].phase);
        }
}

/* Sum of the waves at pixel (i, j), scaled to unit variance (sqrt(N_WAVES / 2)). */
static double waves_at(const wave_table *t, int i, int j)
{
    double s = 0;
    for (int k = 0; k < N_WAVES; k++) s += t->cx[k][j] * t->cy[k][i] - t->sx[k][j] * t->sy[k][i];
    return s * (1.0 / 1.5811388300841898);
}

static void draw_waves(gsl_rng *r, wave *w, double lambda_lo, double lambda_hi)
{
    for (int k = 0; k < N_WAVES; k++) {
        double lambda = lambda_lo + (lambda_hi - lambda_lo) * gsl_rng_uniform(r);
        double ang = 2 * M_PI * gsl_rng_uniform(r);
        w[k].kx = 2 * M_PI / lambda * cos(ang);
        w[k].ky = 2 * M_PI / lambda * sin(ang);
        w[k].phase = 2 * M_PI * gsl_rng_uniform(r);
    }
}

/* HU of the organ context at (x, y); s > 0 beyond the organ boundary. */
static double background(const lr_synth_lesion *L, const scene *S, double x, double y, int i, int j)
{
    double s = x * S->boundary_nx + y * S->boundary_ny - S->boundary_dist;
    double n = waves_at(&S->bg_t, i, j);
    double hu;
    switch (L->organ) {
    case ORGAN_LUNG: {
        if (s > 0) { /* chest wall: pleura/muscle, fat, rib */
            if (s < 5) return 40 + 8 * n;
            if (s < 11) return -90 + 10 * n;
            return (cos(0.25 * (x * S->boundary_ny - y * S->boundary_nx) + S->rib_phase) > 0.2) ? 650 + 60 * n : 45;
        }
        hu = -860 + 25 * n;
        for (int v = 0; v < S->n_vessels; v++) {
            const vessel *V = &S->vessels[v];
            double ddx = x - V->px, ddy = y - V->py;
            double dist = ddx * V->dy - ddy * V->dx; /* perpendicular distance to the vessel line */
            hu += 900 * exp(-dist * dist / (2 * V->width * V->width));
        }
        return GSL_MIN(hu, 60);
    }
    case ORGAN_MEDIASTINUM:
        if (s > 0) return -850 + 25 * n;
        hu = -90 + 15 * n;
        for (int v = 0; v < 3; v++) {
            const vessel *V = &S->vessels[v];
            if (hypot(x - V->px, y - V->py) < V->radius) hu = V->hu + 8 * n;
        }
        return hu;
    case ORGAN_BONE:
        if (s > 0) return 45 + 10 * n;
        if (s > -2.5) return 950 + 60 * n;
        return 260 + 110 * n;
    case ORGAN_LIVER:
        if (s > 6) return 45 + 8 * n;
        if (s > 0) return -90 + 10 * n;
        return 62 + 7 * n;
    case ORGAN_SPLEEN:
        if (s > 0) return -85 + 12 * n;
        return 48 + 6 * n;
    case ORGAN_KIDNEY:
        if (s > 0) return -90 + 12 * n;
        if (s > -5) return 160 + 15 * n;
        return 40 + 10 * n;
    case ORGAN_STOMACH:
        if (s > 0) return -90 + 12 * n;
        if (s > -4) return 40 + 8 * n;
        return L->variant ? 8 + 5 * n : -950 + 20 * n;
    default: /* other soft tissue: muscle with fat streaks */
        if (s > 0) return -90 + 10 * n;
        return n > 1.1 ? -80 + 10 * n : 42 + 12 * n;
    }
}

static double lesion_base_hu(const lr_synth_lesion *L)
{
    switch (L->organ) {
    case ORGAN_BONE: return L->variant ? 720 : 35;
    case ORGAN_LIVER: return 22;
    case ORGAN_SPLEEN: return 25;
    case ORGAN_MEDIASTINUM: return 38;
    default: return 35;
    }
}

/* Boundary radius (in units of the ellipse) at polar angle phi: lobulation plus spicules. */
static double boundary_radius(const lr_synth_lesion *L, double phi)
{
    double R = 1.0;
    for (int k = 0; k < 3; k++) R += L->lobulation[k] * cos((k + 2) * phi + L->lobulation_phase[k]);
    double sp = cos(L->spicule_k * phi + L->spicule_phase);
    if (sp > 0) R += L->spiculation * sp * sp * sp * 2.0;
    return R;
}

static void build_scene(const lr_synth_lesion *L, gsl_rng *r, double crop, scene *S)
{
    draw_waves(r, S->bg, 4.0, 18.0);
    draw_waves(r, S->tex, 0.25 * L->semi_b + 0.5, 0.6 * L->semi_a + 1.0);
    double d = 2.0 * L->semi_a;
    S->boundary_nx = cos(L->boundary_angle);
    S->boundary_ny = sin(L->boundary_angle);
    S->boundary_dist = L->semi_a + L->margin * d;
    S->cos_o = cos(L->orientation);
    S->sin_o = sin(L->orientation);
    S->q_sig = 1.0 / (1.0 + exp(-1.5 * L->proliferation));
    S->rib_phase = 2 * M_PI * gsl_rng_uniform(r);
    S->n_vessels = (int)GSL_MIN((double)N_VESSELS, floor(crop / 15.0 + gsl_rng_uniform(r)));
    for (int v = 0; v < N_VESSELS; v++) {
        vessel *V = &S->vessels[v];
        V->px = (gsl_rng_uniform(r) - 0.5) * crop;
        V->py = (gsl_rng_uniform(r) - 0.5) * crop;
        double ang = 2 * M_PI * gsl_rng_uniform(r);
        V->dx = cos(ang);
        V->dy = sin(ang);
        V->width = 0.3 + 0.9 * gsl_rng_uniform(r);
        V->radius = 3.0 + 0.25 * crop * gsl_rng_uniform(r);
        V->hu = gsl_rng_uniform(r) < 0.5 ? 45 : 170;
    }
}

void lr_synth_render_patch(float *patch, const lr_synth_lesion *L, double crop_mm, double shift_x_mm,
                           double shift_y_mm, uint64_t noise_key)
{
    gsl_rng *r = lr_rng_stream(noise_key, "patch", 0, 0, 0);
    if (!r) { /* out of memory: an air patch keeps the cohort valid; the caller's allocation would fail first */
        for (int i = 0; i < LR_PATCH * LR_PATCH; i++) patch[i] = (float)LR_HU_AIR;
        return;
    }
    static _Thread_local scene S; /* ~90 kB of tables: keep it off the stack */
    build_scene(L, r, crop_mm, &S);
    tabulate(&S.bg_t, S.bg, crop_mm, shift_x_mm, shift_y_mm);
    tabulate(&S.tex_t, S.tex, crop_mm, shift_x_mm, shift_y_mm);
    double pix = crop_mm / LR_PATCH;
    double lesion_hu = lesion_base_hu(L);
    double heterogeneity = 6.0 + 30.0 * S.q_sig;
    double necrosis = GSL_MAX(0.0, (S.q_sig - 0.6) / 0.4) * (L->organ == ORGAN_BONE && L->variant ? 300 : 45);
    for (int i = 0; i < LR_PATCH; i++) {
        double y = ((i + 0.5) / LR_PATCH - 0.5) * crop_mm + shift_y_mm;
        for (int j = 0; j < LR_PATCH; j++) {
            double x = ((j + 0.5) / LR_PATCH - 0.5) * crop_mm + shift_x_mm;
            double hu = background(L, &S, x, y, i, j);
            double xr = x * S.cos_o + y * S.sin_o, yr = -x * S.sin_o + y * S.cos_o;
            double u = xr / L->semi_a, v = yr / L->semi_b;
            double rho = sqrt(u * u + v * v);
            double R = boundary_radius(L, atan2(v, u));
            /* partial-volume edge, one pixel wide */
            double w = GSL_MIN(GSL_MAX((R - rho) * L->semi_b / pix + 0.5, 0.0), 1.0);
            if (w > 0) {
                double core = rho < 0.5 * R ? necrosis * (1.0 - rho / (0.5 * R)) : 0.0;
                double les = lesion_hu + heterogeneity * waves_at(&S.tex_t, i, j) - core;
                hu = w * les + (1 - w) * hu;
            }
            hu += gsl_ran_gaussian_ziggurat(r, 10.0);
            patch[i * LR_PATCH + j] = (float)GSL_MIN(GSL_MAX(hu, -1024.0), 3071.0);
        }
    }
    gsl_rng_free(r);
}
