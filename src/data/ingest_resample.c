/* Whole-volume resampling: trilinear interpolation of a canonical CT onto a grid of the requested spacing,
 * centred on the CT's centre, cropped or padded (air, -1000 HU) to the requested shape. */
#include <math.h>
#include <stdlib.h>

#include "data/ingest.h"

/* Per output index along one axis: the two input neighbours and the weight of the second, or inside = 0
 * when the sample falls outside the input volume (beyond half a voxel from its edge centres). */
typedef struct {
    size_t *i0, *i1;
    double *w;
    unsigned char *inside;
} axis_weights;

static void axis_free(axis_weights *a)
{
    free(a->i0);
    free(a->i1);
    free(a->w);
    free(a->inside);
}

static int axis_init(axis_weights *a, size_t n_in, double s_in, size_t n_out, double s_out, lr_err *err)
{
    a->i0 = lr_malloc(n_out, sizeof *a->i0, err);
    a->i1 = lr_malloc(n_out, sizeof *a->i1, err);
    a->w = lr_malloc(n_out, sizeof *a->w, err);
    a->inside = lr_malloc(n_out, 1, err);
    if (!a->i0 || !a->i1 || !a->w || !a->inside) return -1;
    for (size_t o = 0; o < n_out; o++) {
        double p = ((double)o - 0.5 * (double)(n_out - 1)) * s_out; /* mm from the grid centre */
        double f = 0.5 * (double)(n_in - 1) + p / s_in;             /* input voxel coordinate */
        a->inside[o] = f >= -0.5 && f <= (double)n_in - 0.5;
        f = fmin(fmax(f, 0.0), (double)(n_in - 1));
        size_t i = (size_t)floor(f);
        a->i0[o] = i;
        a->i1[o] = i + 1 < n_in ? i + 1 : i;
        a->w[o] = f - (double)i;
    }
    return 0;
}

int lr_resample_volume(const float *ct, const lr_nifti_geom *g, const size_t out_dims[3], const double out_spacing[3],
                       int16_t *out, lr_err *err)
{
    axis_weights ax[3] = {{0}};
    int rc = -1;
    for (int a = 0; a < 3; a++)
        if (axis_init(&ax[a], g->dims[a], g->spacing[a], out_dims[a], out_spacing[a], err)) goto done;
    size_t H = g->dims[1], W = g->dims[2];
    for (size_t k = 0; k < out_dims[0]; k++)
        for (size_t i = 0; i < out_dims[1]; i++) {
            int16_t *row = out + (k * out_dims[1] + i) * out_dims[2];
            int in_ki = ax[0].inside[k] && ax[1].inside[i];
            double wk = ax[0].w[k], wi = ax[1].w[i];
            const float *p00 = ct + (ax[0].i0[k] * H + ax[1].i0[i]) * W, *p01 = ct + (ax[0].i0[k] * H + ax[1].i1[i]) * W;
            const float *p10 = ct + (ax[0].i1[k] * H + ax[1].i0[i]) * W, *p11 = ct + (ax[0].i1[k] * H + ax[1].i1[i]) * W;
            for (size_t j = 0; j < out_dims[2]; j++) {
                if (!in_ki || !ax[2].inside[j]) {
                    row[j] = -1000;
                    continue;
                }
                size_t j0 = ax[2].i0[j], j1 = ax[2].i1[j];
                double wj = ax[2].w[j];
                double a0 = (1 - wj) * p00[j0] + wj * p00[j1], a1 = (1 - wj) * p01[j0] + wj * p01[j1];
                double b0 = (1 - wj) * p10[j0] + wj * p10[j1], b1 = (1 - wj) * p11[j0] + wj * p11[j1];
                double v = (1 - wk) * ((1 - wi) * a0 + wi * a1) + wk * ((1 - wi) * b0 + wi * b1);
                v = fmin(fmax(v, -32768.0), 32767.0);
                row[j] = (int16_t)lrint(v);
            }
        }
    rc = 0;
done:
    for (int a = 0; a < 3; a++) axis_free(&ax[a]);
    return rc;
}
