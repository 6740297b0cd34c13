/* Per-lesion measures on a canonical label map (see nifti.h for the layout) and the lesion patch. */
#include <gsl/gsl_interp2d.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/ingest.h"

long lr_label_components(int32_t *labels, const size_t dims[3], int connectivity, lr_err *err)
{
    if (connectivity != 6 && connectivity != 26)
        return lr_fail(err, "connectivity %d: expected 6 or 26", connectivity);
    size_t D = dims[0], H = dims[1], W = dims[2], n = D * H * W, n_fg = 0;
    for (size_t v = 0; v < n; v++)
        if (labels[v] != 0) {
            labels[v] = -1; /* foreground, not yet labelled */
            n_fg++;
        }
    size_t *queue = lr_malloc(n_fg ? n_fg : 1, sizeof *queue, err); /* each voxel is queued once */
    if (!queue) return -1;
    long next = 0;
    for (size_t seed = 0; seed < n; seed++) {
        if (labels[seed] != -1) continue;
        if (next == INT32_MAX) {
            free(queue);
            return lr_fail(err, "more than %d connected components", INT32_MAX);
        }
        labels[seed] = (int32_t)++next;
        size_t head = 0, tail = 0;
        queue[tail++] = seed;
        while (head < tail) {
            size_t v = queue[head++];
            long k = (long)(v / (H * W)), i = (long)((v / W) % H), j = (long)(v % W);
            for (long dk = -1; dk <= 1; dk++)
                for (long di = -1; di <= 1; di++)
                    for (long dj = -1; dj <= 1; dj++) {
                        int manhattan = abs((int)dk) + abs((int)di) + abs((int)dj);
                        if (manhattan == 0 || (connectivity == 6 && manhattan != 1)) continue;
                        long kk = k + dk, ii = i + di, jj = j + dj;
                        if (kk < 0 || ii < 0 || jj < 0 || kk >= (long)D || ii >= (long)H || jj >= (long)W) continue;
                        size_t u = ((size_t)kk * H + (size_t)ii) * W + (size_t)jj;
                        if (labels[u] == -1) {
                            labels[u] = (int32_t)next;
                            queue[tail++] = u;
                        }
                    }
        }
    }
    free(queue);
    return next;
}

/* Index of label in the sorted array lab[0..n), or -1. */
static long find_label(const int32_t *lab, size_t n, int32_t label)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (lab[mid] < label) lo = mid + 1;
        else hi = mid;
    }
    return (lo < n && lab[lo] == label) ? (long)lo : -1;
}

/* Distinct positive labels, sorted (a lesion count is small; insertion keeps the code simple). */
static int distinct_labels(const int32_t *labels, size_t n, int32_t **out, size_t *n_out, lr_err *err)
{
    size_t cap = 16, len = 0;
    int32_t *lab = lr_malloc(cap, sizeof *lab, err), last = 0;
    if (!lab) return -1;
    for (size_t v = 0; v < n; v++) {
        int32_t l = labels[v];
        if (l <= 0 || l == last) continue;
        last = l;
        size_t pos = 0;
        while (pos < len && lab[pos] < l) pos++;
        if (pos < len && lab[pos] == l) continue;
        if (len == cap) {
            int32_t *grown = realloc(lab, 2 * cap * sizeof *lab);
            if (!grown) {
                free(lab);
                return lr_fail(err, "out of memory (labels)");
            }
            lab = grown;
            cap *= 2;
        }
        memmove(lab + pos + 1, lab + pos, (len - pos) * sizeof *lab);
        lab[pos] = l;
        len++;
    }
    *out = lab;
    *n_out = len;
    return 0;
}

/* Longest in-plane extent of the lesion's pixels in slice k: the largest distance between corners of
 * its pixels. The convex hull of a row-wise pixel set is spanned by the outer corners of each row's
 * leftmost and rightmost pixels, so only those are compared. pts holds 8 * rows doubles. */
static double slice_diameter(const int32_t *labels, const lr_nifti_geom *g, const lr_lesion *les, size_t k,
                             double *pts)
{
    size_t H = g->dims[1], W = g->dims[2], m = 0;
    double sy = g->spacing[1], sx = g->spacing[2];
    for (size_t i = les->lo[1]; i <= les->hi[1]; i++) {
        const int32_t *row = labels + (k * H + i) * W;
        long jmin = -1, jmax = -1;
        for (size_t j = les->lo[2]; j <= les->hi[2]; j++)
            if (row[j] == les->label) {
                if (jmin < 0) jmin = (long)j;
                jmax = (long)j;
            }
        if (jmin < 0) continue;
        double y0 = ((double)i - 0.5) * sy, y1 = ((double)i + 0.5) * sy;
        double xl = ((double)jmin - 0.5) * sx, xr = ((double)jmax + 0.5) * sx;
        double corner[4][2] = {{y0, xl}, {y1, xl}, {y0, xr}, {y1, xr}};
        for (int c = 0; c < 4; c++, m++) {
            pts[2 * m] = corner[c][0];
            pts[2 * m + 1] = corner[c][1];
        }
    }
    double best = 0;
    for (size_t a = 0; a < m; a++)
        for (size_t b = a + 1; b < m; b++) {
            double dy = pts[2 * a] - pts[2 * b], dx = pts[2 * a + 1] - pts[2 * b + 1];
            double d2 = dy * dy + dx * dx;
            if (d2 > best) best = d2;
        }
    return sqrt(best);
}

int lr_lesion_measure(const int32_t *labels, const lr_nifti_geom *g, lr_lesion **out, size_t *n_out, lr_err *err)
{
    size_t D = g->dims[0], H = g->dims[1], W = g->dims[2], n = D * H * W, n_les = 0;
    int32_t *lab = NULL;
    lr_lesion *les = NULL;
    double *pts = NULL;
    *out = NULL;
    *n_out = 0;
    LR_TRY(distinct_labels(labels, n, &lab, &n_les, err));
    les = lr_calloc(n_les, sizeof *les, err);
    pts = lr_malloc(8 * H, sizeof *pts, err);
    if (!les || !pts) goto fail;
    for (size_t l = 0; l < n_les; l++) {
        les[l].label = lab[l];
        for (int a = 0; a < 3; a++) les[l].lo[a] = SIZE_MAX;
    }
    long cached = -1;
    int32_t cached_label = 0;
    for (size_t v = 0; v < n; v++) {
        int32_t l = labels[v];
        if (l <= 0) continue;
        if (l != cached_label) {
            cached = find_label(lab, n_les, l);
            cached_label = l;
        }
        lr_lesion *L = &les[cached];
        size_t idx[3] = {v / (H * W), (v / W) % H, v % W};
        L->n_voxels++;
        for (int a = 0; a < 3; a++) {
            if (idx[a] < L->lo[a]) L->lo[a] = idx[a];
            if (idx[a] > L->hi[a] || L->n_voxels == 1) L->hi[a] = idx[a];
            L->centroid[a] += (double)idx[a];
        }
    }
    double voxel_mm3 = g->spacing[0] * g->spacing[1] * g->spacing[2];
    for (size_t l = 0; l < n_les; l++) {
        lr_lesion *L = &les[l];
        for (int a = 0; a < 3; a++) L->centroid[a] /= (double)L->n_voxels;
        L->volume_mm3 = (double)L->n_voxels * voxel_mm3;
        for (size_t k = L->lo[0]; k <= L->hi[0]; k++) {
            double d = slice_diameter(labels, g, L, k, pts);
            if (d > L->diameter_mm) L->diameter_mm = d;
        }
    }
    free(lab);
    free(pts);
    *out = les;
    *n_out = n_les;
    return 0;
fail:
    free(lab);
    free(les);
    free(pts);
    return -1;
}

int lr_lesion_patch(const float *ct, const lr_nifti_geom *g, const lr_lesion *les, float *patch, lr_err *err)
{
    size_t D = g->dims[0], H = g->dims[1], W = g->dims[2];
    double sy = g->spacing[1], sx = g->spacing[2];
    if (H < 2 || W < 2) return lr_fail(err, "CT slices of %zu x %zu pixels: expected at least 2 x 2", H, W);
    long k = lround(les->centroid[0]);
    if (k < 0) k = 0;
    if (k >= (long)D) k = (long)D - 1;
    double d = les->diameter_mm, cy = les->centroid[1] * sy, cx = les->centroid[2] * sx, step = 2.0 * d / LR_PATCH;
    /* The slice's sub-rectangle that covers the patch (at least 2 x 2 samples for bilinear). */
    long i0 = (long)floor((cy - d) / sy) - 1, i1 = (long)ceil((cy + d) / sy) + 1;
    long j0 = (long)floor((cx - d) / sx) - 1, j1 = (long)ceil((cx + d) / sx) + 1;
    i0 = i0 < 0 ? 0 : i0;
    j0 = j0 < 0 ? 0 : j0;
    i1 = i1 > (long)H - 1 ? (long)H - 1 : i1;
    j1 = j1 > (long)W - 1 ? (long)W - 1 : j1;
    if (i1 - i0 < 1) i0 = i1 > 0 ? i1 - 1 : 0, i1 = i0 + 1;
    if (j1 - j0 < 1) j0 = j1 > 0 ? j1 - 1 : 0, j1 = j0 + 1;
    size_t ny = (size_t)(i1 - i0 + 1), nx = (size_t)(j1 - j0 + 1);
    double *ya = lr_malloc(ny, sizeof *ya, err), *xa = lr_malloc(nx, sizeof *xa, err);
    double *za = lr_malloc(nx * ny, sizeof *za, err);
    gsl_interp2d *interp = gsl_interp2d_alloc(gsl_interp2d_bilinear, nx, ny);
    gsl_interp_accel *xacc = gsl_interp_accel_alloc(), *yacc = gsl_interp_accel_alloc();
    int rc = -1;
    if (!ya || !xa || !za || !interp || !xacc || !yacc) {
        lr_fail(err, "out of memory (patch interpolation)");
        goto done;
    }
    for (size_t r = 0; r < ny; r++) ya[r] = (double)(i0 + (long)r) * sy;
    for (size_t c = 0; c < nx; c++) xa[c] = (double)(j0 + (long)c) * sx;
    for (size_t r = 0; r < ny; r++) {
        const float *row = ct + ((size_t)k * H + (size_t)i0 + r) * W + (size_t)j0;
        for (size_t c = 0; c < nx; c++) za[r * nx + c] = row[c]; /* GSL: za[y_index * nx + x_index] */
    }
    if (gsl_interp2d_init(interp, xa, ya, za, nx, ny) != 0) {
        lr_fail(err, "GSL bilinear interpolation setup failed");
        goto done;
    }
    /* The volume covers [-half a voxel, n - half a voxel]; beyond that is air. */
    double ylo = -0.5 * sy, yhi = ((double)H - 0.5) * sy, xlo = -0.5 * sx, xhi = ((double)W - 0.5) * sx;
    for (int r = 0; r < LR_PATCH; r++) {
        double y = cy - d + (r + 0.5) * step; /* rows: anterior -> posterior */
        for (int c = 0; c < LR_PATCH; c++) {
            double x = cx - d + (c + 0.5) * step; /* columns: patient right -> left */
            float *out = &patch[r * LR_PATCH + c];
            if (y < ylo || y > yhi || x < xlo || x > xhi) {
                *out = (float)LR_HU_AIR;
                continue;
            }
            double yc = fmin(fmax(y, ya[0]), ya[ny - 1]), xc = fmin(fmax(x, xa[0]), xa[nx - 1]);
            *out = (float)gsl_interp2d_eval(interp, xa, ya, za, xc, yc, xacc, yacc);
        }
    }
    rc = 0;
done:
    if (interp) gsl_interp2d_free(interp);
    if (xacc) gsl_interp_accel_free(xacc);
    if (yacc) gsl_interp_accel_free(yacc);
    free(xa);
    free(ya);
    free(za);
    return rc;
}
