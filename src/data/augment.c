#include "data/augment.h"

#include <gsl/gsl_interp2d.h>
#include <gsl/gsl_math.h>
#include <math.h>
#include <stdlib.h>

struct lr_augmenter {
    int size;
    double *grid; /* [size]: 0..size-1 */
    double *z;    /* [size*size] input as double, GSL's layout z[j*nx + i] = f(x_i, y_j) */
    gsl_interp2d *interp;
    gsl_interp_accel *xa, *ya;
};

void lr_aug_sample(lr_aug_draw *d, const lr_aug_params *p, int size, gsl_rng *r)
{
    /* Always consume the same number of draws so streams stay aligned whatever the options. */
    double u[6];
    for (int k = 0; k < 6; k++) u[k] = gsl_rng_uniform(r);
    d->shift_x = (2 * u[0] - 1) * p->shift * size;
    d->shift_y = (2 * u[1] - 1) * p->shift * size;
    d->zoom = 1.0 + (2 * u[2] - 1) * p->scale;
    d->angle = (2 * u[3] - 1) * p->rotate_deg * M_PI / 180.0;
    d->flip_x = p->flip && u[4] < 0.5;
    d->flip_y = p->flip && u[5] < 0.5;
}

lr_augmenter *lr_augmenter_create(int size, lr_err *err)
{
    lr_augmenter *a = lr_calloc(1, sizeof *a, err);
    if (!a) return NULL;
    a->size = size;
    a->grid = lr_malloc((size_t)size, sizeof *a->grid, err);
    a->z = lr_malloc((size_t)size * size, sizeof *a->z, err);
    a->interp = gsl_interp2d_alloc(gsl_interp2d_bilinear, (size_t)size, (size_t)size);
    a->xa = gsl_interp_accel_alloc();
    a->ya = gsl_interp_accel_alloc();
    if (!a->grid || !a->z || !a->interp || !a->xa || !a->ya) {
        lr_augmenter_free(a);
        lr_fail(err, "out of memory (augmenter)");
        return NULL;
    }
    for (int i = 0; i < size; i++) a->grid[i] = i;
    return a;
}

void lr_augmenter_free(lr_augmenter *a)
{
    if (!a) return;
    if (a->interp) gsl_interp2d_free(a->interp);
    if (a->xa) gsl_interp_accel_free(a->xa);
    if (a->ya) gsl_interp_accel_free(a->ya);
    free(a->grid);
    free(a->z);
    free(a);
}

/* Source coordinate of output pixel (x, y): inverse of flip -> rotate -> zoom -> shift about the centre;
 * ca, sa = cos and sin of d->angle (computed once per patch: per pixel they were 4 % of a training step). */
static void source_xy(const lr_aug_draw *d, double ca, double sa, double c, double x, double y, double *sx, double *sy)
{
    double u = x - c - d->shift_x, v = y - c - d->shift_y;
    if (d->flip_x) u = -u;
    if (d->flip_y) v = -v;
    double ru = (ca * u + sa * v) / d->zoom, rv = (-sa * u + ca * v) / d->zoom;
    *sx = ru + c;
    *sy = rv + c;
}

int lr_augment_patch(lr_augmenter *a, float *out, const float *in, const lr_aug_draw *d, lr_err *err)
{
    int n = a->size;
    for (int i = 0; i < n * n; i++) a->z[i] = in[i]; /* row i = y, column j = x: z[y*n + x] */
    if (gsl_interp2d_init(a->interp, a->grid, a->grid, a->z, (size_t)n, (size_t)n) != 0)
        return lr_fail(err, "gsl_interp2d_init failed");
    double c = 0.5 * (n - 1), hi = n - 1, ca = cos(d->angle), sa = sin(d->angle);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double sx, sy;
            source_xy(d, ca, sa, c, x, y, &sx, &sy);
            sx = GSL_MIN(GSL_MAX(sx, 0.0), hi);
            sy = GSL_MIN(GSL_MAX(sy, 0.0), hi);
            out[y * n + x] = (float)gsl_interp2d_eval(a->interp, a->grid, a->grid, a->z, sx, sy, a->xa, a->ya);
        }
    return 0;
}

/* Trilinear sample with edge replication (GSL has no 3D interpolation). */
static float trilinear(const float *v, int D, int H, int W, double z, double y, double x)
{
    z = GSL_MIN(GSL_MAX(z, 0.0), D - 1.0);
    y = GSL_MIN(GSL_MAX(y, 0.0), H - 1.0);
    x = GSL_MIN(GSL_MAX(x, 0.0), W - 1.0);
    int z0 = (int)floor(z), y0 = (int)floor(y), x0 = (int)floor(x);
    int z1 = GSL_MIN(z0 + 1, D - 1), y1 = GSL_MIN(y0 + 1, H - 1), x1 = GSL_MIN(x0 + 1, W - 1);
    double fz = z - z0, fy = y - y0, fx = x - x0;
#define V(a, b, c) (double)v[((size_t)(a) * H + (b)) * W + (c)]
    double c00 = V(z0, y0, x0) * (1 - fx) + V(z0, y0, x1) * fx;
    double c01 = V(z0, y1, x0) * (1 - fx) + V(z0, y1, x1) * fx;
    double c10 = V(z1, y0, x0) * (1 - fx) + V(z1, y0, x1) * fx;
    double c11 = V(z1, y1, x0) * (1 - fx) + V(z1, y1, x1) * fx;
#undef V
    double c0 = c00 * (1 - fy) + c01 * fy, c1 = c10 * (1 - fy) + c11 * fy;
    return (float)(c0 * (1 - fz) + c1 * fz);
}

void lr_augment_volume(float *out, const float *in, int D, int H, int W, const lr_aug_draw *d, double shift_z)
{
    double cy = 0.5 * (H - 1), cx = 0.5 * (W - 1);
    double ca = cos(d->angle), sa = sin(d->angle);
    for (int k = 0; k < D; k++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double u = x - cx - d->shift_x * W / (double)H, v = y - cy - d->shift_y;
                if (d->flip_x) u = -u;
                if (d->flip_y) v = -v;
                double sx = (ca * u + sa * v) / d->zoom + cx, sy = (-sa * u + ca * v) / d->zoom + cy;
                out[((size_t)k * H + y) * W + x] = trilinear(in, D, H, W, k - shift_z, sy, sx);
            }
}
