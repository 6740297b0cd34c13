/* One synthetic lesion as a function of millimetre space: its body (shape, lobulation, spicules, phenotype
 * texture, necrotic core, partial-volume edge) and the organ context around it (organ boundary at the
 * lesion's containment margin, organ textures, vessels, ribs). The CNN must learn organ, containment
 * margin and the proliferation phenotype from pixels; patches and whole volumes sample this one function
 * (synth_volume.c composes a patient's CT from it). Coordinates: (z, y, x) mm relative to the lesion centre,
 * z head -> feet, y anterior -> posterior, x patient right -> left.
 *
 * Partial volume is analytic: a sample averages the function over its box aperture. A plane wave
 * cos(k.r + phase) averaged over a box of sides a is the same wave times prod_i sinc(k_i a_i / 2); a step
 * across a plane becomes a linear ramp as wide as the box projected on the plane's normal. */
#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <math.h>

#include "data/synth.h"
#include "util/rng.h"

#define WAVE_NORM 1.5811388300841898 /* sqrt(LR_SYNTH_WAVES / 2): a sum of waves with unit variance */
#define CTX_RADIUS 1.2               /* context cylinder radius, in lesion diameters (the patch's half width is one) */
#define CTX_FADE 0.4                 /* ... blended into the phantom over this many diameters */

double lr_synth_axial_diameter(const lr_synth_lesion *L)
{
    double amp = L->spiculation;
    for (int k = 0; k < 3; k++) amp += L->lobulation[k];
    return 2.0 * L->semi_a * (1.0 + 0.5 * amp);
}

void lr_synth_body_reach(const lr_synth_lesion *L, double *reach_xy, double *reach_z)
{
    double r_max = 1.0 + 2.0 * L->spiculation; /* largest boundary radius, in units of the ellipse */
    for (int k = 0; k < 3; k++) r_max += L->lobulation[k];
    *reach_xy = L->semi_a * r_max;
    *reach_z = L->semi_c * r_max;
}

/* Waves with in-plane wavelength in [lambda_lo, lambda_hi], random in-plane direction and a vertical
 * component of up to the in-plane wave number (elevation up to 45 degrees). */
static void draw_waves(gsl_rng *r, lr_synth_wave *w, double lambda_lo, double lambda_hi)
{
    for (int k = 0; k < LR_SYNTH_WAVES; k++) {
        double lambda = lambda_lo + (lambda_hi - lambda_lo) * gsl_rng_uniform(r);
        double ang = 2 * M_PI * gsl_rng_uniform(r);
        w[k].kx = 2 * M_PI / lambda * cos(ang);
        w[k].ky = 2 * M_PI / lambda * sin(ang);
        w[k].phase = 2 * M_PI * gsl_rng_uniform(r);
        w[k].kz = 2 * M_PI / lambda * (2 * gsl_rng_uniform(r) - 1);
    }
}

static double sinc(double t) { return fabs(t) < 1e-8 ? 1.0 : sin(t) / t; }

/* Box response of each wave: the average of cos over the aperture box is att * cos at its centre. */
static void wave_attenuation(double *att, const lr_synth_wave *w, const double ap[3])
{
    for (int k = 0; k < LR_SYNTH_WAVES; k++)
        att[k] = sinc(0.5 * w[k].kz * ap[0]) * sinc(0.5 * w[k].ky * ap[1]) * sinc(0.5 * w[k].kx * ap[2]);
}

/* Unit-variance texture at (z, y, x) averaged over the aperture. */
static double waves_at(const lr_synth_wave *w, const double *att, double z, double y, double x)
{
    double s = 0;
    for (int k = 0; k < LR_SYNTH_WAVES; k++) s += att[k] * cos(w[k].kz * z + w[k].ky * y + w[k].kx * x + w[k].phase);
    return s * (1.0 / WAVE_NORM);
}

/* The box average of the step [s > 0] for a box of projected width `width` along the step's normal. */
static double ramp(double s, double width)
{
    if (width <= 0) return s > 0 ? 1.0 : 0.0;
    return GSL_MIN(GSL_MAX(s / width + 0.5, 0.0), 1.0);
}

void lr_synth_field_init(lr_synth_field *F, const lr_synth_lesion *L, uint64_t key)
{
    *F = (lr_synth_field){.les = *L};
    gsl_rng *r = lr_rng_stream(key, "field", 0, 0, 0);
    double d = lr_synth_axial_diameter(L), crop = 2.0 * d; /* the nominal patch field */
    if (r) { /* out of memory: a field without texture or vessels (the caller's allocations fail first) */
        draw_waves(r, F->bg, 4.0, 18.0);
        draw_waves(r, F->tex, 0.25 * L->semi_b + 0.5, 0.6 * L->semi_a + 1.0);
        F->rib_phase = 2 * M_PI * gsl_rng_uniform(r);
        F->n_vessels = (int)GSL_MIN((double)LR_SYNTH_VESSELS, floor(crop / 15.0 + gsl_rng_uniform(r)));
        for (int v = 0; v < LR_SYNTH_VESSELS; v++) {
            lr_synth_vessel *V = &F->vessels[v];
            V->px = (gsl_rng_uniform(r) - 0.5) * crop;
            V->py = (gsl_rng_uniform(r) - 0.5) * crop;
            double ang = 2 * M_PI * gsl_rng_uniform(r), elev = 0.2 * (2 * gsl_rng_uniform(r) - 1);
            V->dx = cos(ang) * cos(elev);
            V->dy = sin(ang) * cos(elev);
            V->dz = sin(elev);
            V->width = 0.3 + 0.9 * gsl_rng_uniform(r);
            V->radius = 3.0 + 0.25 * crop * gsl_rng_uniform(r);
            V->hu = gsl_rng_uniform(r) < 0.5 ? 45 : 170;
        }
        gsl_rng_free(r);
    }
    F->boundary_nx = cos(L->boundary_angle);
    F->boundary_ny = sin(L->boundary_angle);
    F->boundary_dist = L->semi_a + L->margin * d;
    F->cos_o = cos(L->orientation);
    F->sin_o = sin(L->orientation);
    double q_sig = 1.0 / (1.0 + exp(-1.5 * L->proliferation));
    switch (L->organ) {
    case ORGAN_BONE: F->lesion_hu = L->variant ? 720 : 35; break;
    case ORGAN_LIVER: F->lesion_hu = 22; break;
    case ORGAN_SPLEEN: F->lesion_hu = 25; break;
    case ORGAN_MEDIASTINUM: F->lesion_hu = 38; break;
    default: F->lesion_hu = 35; break;
    }
    F->heterogeneity = 6.0 + 30.0 * q_sig;
    F->necrosis = GSL_MAX(0.0, (q_sig - 0.6) / 0.4) * (L->organ == ORGAN_BONE && L->variant ? 300 : 45);
    lr_synth_body_reach(L, &F->body_reach_xy, &F->body_reach_z);
    F->ctx_radius = GSL_MAX(CTX_RADIUS * d, F->body_reach_xy);
    F->ctx_half_height = F->body_reach_z + 0.25 * d;
    F->ctx_fade = CTX_FADE * d;
    lr_synth_field_set_aperture(F, (const double[3]){0, 0, 0});
}

void lr_synth_field_set_aperture(lr_synth_field *F, const double ap[3])
{
    for (int a = 0; a < 3; a++) F->aperture[a] = ap[a];
    wave_attenuation(F->bg_att, F->bg, ap);
    wave_attenuation(F->tex_att, F->tex, ap);
}

/* Weight of the field's context at p (1 inside the cylinder, 0 beyond the fade) and its normalised
 * distance from the centre (which context wins where two overlap). */
double lr_synth_field_context(const lr_synth_field *F, const double p[3], double *reach)
{
    double r = sqrt(p[1] * p[1] + p[2] * p[2]), h = fabs(p[0]);
    *reach = GSL_MAX(r / F->ctx_radius, h / F->ctx_half_height);
    double wr = GSL_MIN(GSL_MAX((F->ctx_radius + F->ctx_fade - r) / F->ctx_fade, 0.0), 1.0);
    double wz = GSL_MIN(GSL_MAX((F->ctx_half_height + F->ctx_fade - h) / F->ctx_fade, 0.0), 1.0);
    return wr * wz;
}

/* Lung vessels: Gaussian tubes; the box blur adds its variance across the tube and lowers the peak. */
static double lung_vessels(const lr_synth_field *F, const double p[3])
{
    const double *ap = F->aperture;
    double hu = 0;
    for (int v = 0; v < F->n_vessels; v++) {
        const lr_synth_vessel *V = &F->vessels[v];
        double rz = p[0], ry = p[1] - V->py, rx = p[2] - V->px;
        double along = rz * V->dz + ry * V->dy + rx * V->dx;
        double d2 = GSL_MAX(rz * rz + ry * ry + rx * rx - along * along, 0.0);
        double blur = (ap[0] * ap[0] * (1 - V->dz * V->dz) + ap[1] * ap[1] * (1 - V->dy * V->dy) +
                       ap[2] * ap[2] * (1 - V->dx * V->dx)) / 24.0;
        double s2 = V->width * V->width, s2e = s2 + blur;
        hu += 900 * (s2 / s2e) * exp(-d2 / (2 * s2e));
    }
    return hu;
}

/* HU of the organ context at p; s > 0 beyond the organ boundary (a vertical plane). Nested layers are
 * sums of ramps, so the aperture blurs each interface. */
static double background(const lr_synth_field *F, const double p[3])
{
    const lr_synth_lesion *L = &F->les;
    const double *ap = F->aperture;
    double y = p[1], x = p[2];
    double s = x * F->boundary_nx + y * F->boundary_ny - F->boundary_dist;
    double wb = fabs(F->boundary_ny) * ap[1] + fabs(F->boundary_nx) * ap[2]; /* aperture across the boundary */
    double n = waves_at(F->bg, F->bg_att, p[0], y, x);
    switch (L->organ) {
    case ORGAN_LUNG: {
        double out = ramp(s, wb), lung = 0;
        if (out < 1) lung = GSL_MIN(-860 + 25 * n + lung_vessels(F, p), 60);
        if (out <= 0) return lung;
        /* chest wall: pleura/muscle, fat, then rib or muscle along the wall */
        double t = x * F->boundary_ny - y * F->boundary_nx;
        double wt = fabs(F->boundary_nx) * ap[1] + fabs(F->boundary_ny) * ap[2];
        double rib = 45 + (605 + 60 * n) * ramp(cos(0.25 * t + F->rib_phase) - 0.2, 0.25 * wt);
        double pleura = 40 + 8 * n, fat = -90 + 10 * n;
        return lung + out * (pleura - lung) + ramp(s - 5, wb) * (fat - pleura) + ramp(s - 11, wb) * (rib - fat);
    }
    case ORGAN_MEDIASTINUM: {
        double med = -90 + 15 * n;
        for (int v = 0; v < 3; v++) { /* vertical vessels: cylinders along z */
            const lr_synth_vessel *V = &F->vessels[v];
            double dy = y - V->py, dx = x - V->px, r = sqrt(dy * dy + dx * dx);
            double wr = r > 0 ? (fabs(dy) * ap[1] + fabs(dx) * ap[2]) / r : 0.5 * (ap[1] + ap[2]);
            med += ramp(V->radius - r, wr) * (V->hu + 8 * n - med);
        }
        return med + ramp(s, wb) * (-850 + 25 * n - med);
    }
    case ORGAN_BONE: {
        double trab = 260 + 110 * n, cortex = 950 + 60 * n, soft = 45 + 10 * n;
        return trab + ramp(s + 2.5, wb) * (cortex - trab) + ramp(s, wb) * (soft - cortex);
    }
    case ORGAN_LIVER: {
        double liver = 62 + 7 * n, fat = -90 + 10 * n, muscle = 45 + 8 * n;
        return liver + ramp(s, wb) * (fat - liver) + ramp(s - 6, wb) * (muscle - fat);
    }
    case ORGAN_SPLEEN: return 48 + 6 * n + ramp(s, wb) * (-85 + 12 * n - (48 + 6 * n));
    case ORGAN_KIDNEY: {
        double medulla = 40 + 10 * n, cortex = 160 + 15 * n, fat = -90 + 12 * n;
        return medulla + ramp(s + 5, wb) * (cortex - medulla) + ramp(s, wb) * (fat - cortex);
    }
    case ORGAN_STOMACH: {
        double lumen = L->variant ? 8 + 5 * n : -950 + 20 * n, wall = 40 + 8 * n, fat = -90 + 12 * n;
        return lumen + ramp(s + 4, wb) * (wall - lumen) + ramp(s, wb) * (fat - wall);
    }
    default: { /* other soft tissue: muscle with fat streaks */
        double tissue = n > 1.1 ? -80 + 10 * n : 42 + 12 * n;
        return tissue + ramp(s, wb) * (-90 + 10 * n - tissue);
    }
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

/* The lesion body at p: the fraction of the aperture box inside it (0 outside) and its HU there. */
static double body(const lr_synth_field *F, const double p[3], double *hu)
{
    const lr_synth_lesion *L = &F->les;
    const double *ap = F->aperture;
    double z = p[0], y = p[1], x = p[2];
    if (fabs(z) > F->body_reach_z + ap[0] || sqrt(y * y + x * x) > F->body_reach_xy + GSL_MAX(ap[1], ap[2])) return 0.0;
    double xr = x * F->cos_o + y * F->sin_o, yr = -x * F->sin_o + y * F->cos_o;
    double u = xr / L->semi_a, v = yr / L->semi_b, w = z / L->semi_c;
    double rho = sqrt(u * u + v * v + w * w);
    double R = boundary_radius(L, atan2(v, u));
    double frac = 1.0;
    if (rho > 1e-12) {
        /* signed distance to the boundary ~ (R - rho) / |grad rho|; the ramp is the aperture along grad rho */
        double gu = u / (L->semi_a * rho), gv = v / (L->semi_b * rho), gz = w / (L->semi_c * rho);
        double gx = gu * F->cos_o - gv * F->sin_o, gy = gu * F->sin_o + gv * F->cos_o;
        double g = sqrt(gx * gx + gy * gy + gz * gz);
        frac = ramp((R - rho) / g, (fabs(gz) * ap[0] + fabs(gy) * ap[1] + fabs(gx) * ap[2]) / g);
    }
    if (frac <= 0) return 0.0;
    double core = rho < 0.5 * R ? F->necrosis * (1.0 - rho / (0.5 * R)) : 0.0;
    *hu = F->lesion_hu + F->heterogeneity * waves_at(F->tex, F->tex_att, z, y, x) - core;
    return frac;
}

double lr_synth_field_background(const lr_synth_field *F, const double p[3]) { return background(F, p); }

double lr_synth_field_body(const lr_synth_field *F, const double p[3], double *hu) { return body(F, p, hu); }
