/* Winograd F(4×4, 3×3) (Lavin & Gray 2016, interpolation points 0, ±1, ±2, ∞):
 *   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G  = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * V = Bᵀ d B (input tiles), U = G g Gᵀ (weights), Y = Aᵀ (U ⊙ V) A; the backward passes apply the
 * adjoints: dM = A dY Aᵀ, dd = B dV Bᵀ (overlap-added: input tiles overlap by 2), dg = Gᵀ dU G.
 *
 * A 3×3×3 stride-1 pad-1 3D convolution is F(1×4×4, 3×3×3): every depth plane of the input is a map of
 * its own (the same 2D transforms over N·D planes), each of the three depth taps kd has its own transformed
 * weights U_kd, and output plane d sums tap kd over input plane d + kd − 1 (zero outside the volume): per ξ,
 * one GEMM of the middle tap over all tiles, then per image the outer taps over the planes they reach,
 * accumulated in that fixed order. 27 multiplies per output become 3 · 36 / 16 = 6.75.
 *
 * Every transform works on CHUNK tiles of one channel at a time (see "tiles" below), vectorised across
 * the chunk (LR_SIMD_CLONES). OpenMP splits channels; every output element has one writer, so results do
 * not depend on the thread count. */
#include <blis.h>
#include <string.h>

#include "nn/engine.h"
#include "nn/winograd.h"

#define CHUNK 64
#define XI 36 /* transformed tile elements */

/* y = Bᵀ x (6 → 6) */
#define BT6(y, x)                                                                                  \
    do {                                                                                           \
        float s12_ = x[1] + x[2], d12_ = x[1] - x[2], s34_ = x[3] + x[4], d43_ = x[4] - x[3];      \
        float d42_ = x[4] - x[2], d31_ = x[3] - x[1];                                              \
        y[0] = 4.0f * x[0] - 5.0f * x[2] + x[4];                                                   \
        y[1] = s34_ - 4.0f * s12_;                                                                 \
        y[2] = d43_ + 4.0f * d12_;                                                                 \
        y[3] = d42_ + 2.0f * d31_;                                                                 \
        y[4] = d42_ - 2.0f * d31_;                                                                 \
        y[5] = 4.0f * x[1] - 5.0f * x[3] + x[5];                                                   \
    } while (0)
/* y = B x (6 → 6), the adjoint of BT6 */
#define B6(y, x)                                                                                   \
    do {                                                                                           \
        float d21_ = x[2] - x[1], d43_ = x[4] - x[3], s12_ = x[1] + x[2], s34_ = x[3] + x[4];      \
        y[0] = 4.0f * x[0];                                                                        \
        y[1] = 4.0f * (d21_ + x[5]) + 2.0f * d43_;                                                 \
        y[2] = -5.0f * x[0] - 4.0f * s12_ - s34_;                                                  \
        y[3] = -d21_ - 2.0f * d43_ - 5.0f * x[5];                                                  \
        y[4] = x[0] + s12_ + s34_;                                                                 \
        y[5] = x[5];                                                                               \
    } while (0)
/* y = Aᵀ x (6 → 4) */
#define AT6(y, x)                                                                                  \
    do {                                                                                           \
        float s12_ = x[1] + x[2], d12_ = x[1] - x[2], s34_ = x[3] + x[4], d34_ = x[3] - x[4];      \
        y[0] = x[0] + s12_ + s34_;                                                                 \
        y[1] = d12_ + 2.0f * d34_;                                                                 \
        y[2] = s12_ + 4.0f * s34_;                                                                 \
        y[3] = d12_ + 8.0f * d34_ + x[5];                                                          \
    } while (0)
/* y = A x (4 → 6), the adjoint of AT6 */
#define A4(y, x)                                                                                   \
    do {                                                                                           \
        float s02_ = x[0] + x[2], s13_ = x[1] + x[3], e02_ = x[0] + 4.0f * x[2];                   \
        float e13_ = 2.0f * x[1] + 8.0f * x[3];                                                    \
        y[0] = x[0];                                                                               \
        y[1] = s02_ + s13_;                                                                        \
        y[2] = s02_ - s13_;                                                                        \
        y[3] = e02_ + e13_;                                                                        \
        y[4] = e02_ - e13_;                                                                        \
        y[5] = x[3];                                                                               \
    } while (0)
/* y = G x (3 → 6) */
#define G3(y, x)                                                                                   \
    do {                                                                                           \
        y[0] = x[0] * 0.25f;                                                                       \
        y[1] = (x[0] + x[1] + x[2]) * (-1.0f / 6.0f);                                              \
        y[2] = (x[0] - x[1] + x[2]) * (-1.0f / 6.0f);                                              \
        y[3] = x[0] * (1.0f / 24.0f) + x[1] * (1.0f / 12.0f) + x[2] * (1.0f / 6.0f);               \
        y[4] = x[0] * (1.0f / 24.0f) - x[1] * (1.0f / 12.0f) + x[2] * (1.0f / 6.0f);               \
        y[5] = x[2];                                                                               \
    } while (0)
/* y = Gᵀ x (6 → 3), the adjoint of G3 */
#define GT6(y, x)                                                                                  \
    do {                                                                                           \
        y[0] = x[0] * 0.25f - (x[1] + x[2]) * (1.0f / 6.0f) + (x[3] + x[4]) * (1.0f / 24.0f);      \
        y[1] = (x[2] - x[1]) * (1.0f / 6.0f) + (x[3] - x[4]) * (1.0f / 12.0f);                     \
        y[2] = (x[3] + x[4] - x[1] - x[2]) * (1.0f / 6.0f) + x[5];                                 \
    } while (0)

static int tiles_h(const lr_conv_shape *s) { return (s->out[1] + 3) / 4; }
static int tiles_w(const lr_conv_shape *s) { return (s->out[2] + 3) / 4; }
static int taps(const lr_conv_shape *s) { return s->k[0]; }                  /* depth taps: 1 (2D) or 3 */
static size_t planes(const lr_conv_shape *s) { return (size_t)s->n * s->in[0]; } /* N·D maps of H×W */

int lr_winograd_eligible(const lr_conv_shape *s)
{
    if (s->k[1] != 3 || s->k[2] != 3 || s->stride[1] != 1 || s->stride[2] != 1 || s->pad[1] != 1 || s->pad[2] != 1)
        return 0;
    int flat = s->in[0] == 1 && s->k[0] == 1 && s->stride[0] == 1 && s->pad[0] == 0;
    int deep = s->in[0] >= 2 && s->k[0] == 3 && s->stride[0] == 1 && s->pad[0] == 1;
    if (!flat && !deep) return 0;
    /* 3D: the outer depth taps are a GEMM per volume over (D − 1) planes of tiles; on maps of fewer than 6
     * tiles (6×6 and smaller) those GEMMs are too thin and the 3·36·cout·cin transformed weights too many
     * for their work: bench --profile measured Winograd 0.2–0.83× im2col there, 1.7–5.2× from 6 tiles up
     * (the demo's whole-volume net and the bench's 24×96×96 at width 64) */
    if (deep && tiles_h(s) * tiles_w(s) < 6) return 0;
    /* direct multiplies 9·H·W against 36 per 4×4 tile: a 2×2 map (one tile, 36 vs 36) does not pay */
    return 9.0 * s->out[1] * s->out[2] >= 1.5 * XI * tiles_h(s) * tiles_w(s);
}

size_t lr_winograd_tiles(const lr_conv_shape *s) { return planes(s) * tiles_h(s) * tiles_w(s); }
size_t lr_winograd_weights_size(const lr_conv_shape *s) { return (size_t)XI * taps(s) * s->cout * s->cin; }
size_t lr_winograd_input_size(const lr_conv_shape *s) { return (size_t)XI * s->cin * lr_winograd_tiles(s); }

size_t lr_winograd_workspace(const lr_conv_shape *s)
{
    size_t T = lr_winograd_tiles(s), cin = (size_t)s->cin, cout = (size_t)s->cout, KD = (size_t)taps(s);
    size_t fwd = XI * cout * T;                                  /* M */
    size_t bwd = XI * cout * T + XI * (cin * T > KD * cin * cout ? cin * T : KD * cin * cout); /* dM, then dU or dV */
    return fwd > bwd ? fwd : bwd;
}

/* ---- weights --------------------------------------------------------------------------------- */

#define WBLOCK 64 /* (cout, cin) pairs per block: the 3×3 kernels are transposed to [9][WBLOCK] first */

/* U[ξ][p] for pairs p in [p0, p0 + nb), from the 3×3 kernel at w[p·kstride + koff] (a depth tap of a 3D
 * kernel: kstride 27, koff 9·kd). */
LR_SIMD_CLONES
static void weights_block(float *U, const float *w, size_t p0, int nb, size_t plane, size_t kstride, size_t koff)
{
    float g[9][WBLOCK], t[6][3][WBLOCK];
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < 9; k++) g[k][i] = w[(p0 + i) * kstride + koff + k];
    for (int j = 0; j < 3; j++) /* G g: columns */
        for (int i = 0; i < nb; i++) {
            float x[3] = {g[j][i], g[3 + j][i], g[6 + j][i]}, y[6];
            G3(y, x);
            for (int a = 0; a < 6; a++) t[a][j][i] = y[a];
        }
    for (int a = 0; a < 6; a++) /* (G g) Gᵀ: rows */
        for (int i = 0; i < nb; i++) {
            float x[3] = {t[a][0][i], t[a][1][i], t[a][2][i]}, y[6];
            G3(y, x);
            for (int b = 0; b < 6; b++) U[(size_t)(6 * a + b) * plane + p0 + i] = y[b];
        }
}

/* dw[p·kstride + koff ...] += Gᵀ dU[·][p] G for pairs p in [p0, p0 + nb). */
LR_SIMD_CLONES
static void weights_adjoint_block(float *dw, const float *dU, size_t p0, int nb, size_t plane, size_t kstride,
                                  size_t koff)
{
    float t[3][6][WBLOCK], dg[9][WBLOCK];
    for (int b = 0; b < 6; b++) /* Gᵀ dU: columns */
        for (int i = 0; i < nb; i++) {
            float x[6], y[3];
            for (int a = 0; a < 6; a++) x[a] = dU[(size_t)(6 * a + b) * plane + p0 + i];
            GT6(y, x);
            for (int r = 0; r < 3; r++) t[r][b][i] = y[r];
        }
    for (int r = 0; r < 3; r++) /* (Gᵀ dU) G: rows */
        for (int i = 0; i < nb; i++) {
            float x[6] = {t[r][0][i], t[r][1][i], t[r][2][i], t[r][3][i], t[r][4][i], t[r][5][i]}, y[3];
            GT6(y, x);
            for (int c = 0; c < 3; c++) dg[3 * r + c][i] = y[c];
        }
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < 9; k++) dw[(p0 + i) * kstride + koff + k] += dg[k][i];
}

void lr_winograd_transform_weights(float *U, const float *w, const lr_conv_shape *s)
{
    const size_t plane = (size_t)s->cout * s->cin, KD = (size_t)taps(s);
    const long blocks = (long)((plane + WBLOCK - 1) / WBLOCK);
    double t0 = lr_prof_start();
#pragma omp parallel for schedule(static)
    for (long k = 0; k < blocks; k++) {
        size_t p0 = (size_t)k * WBLOCK;
        for (size_t kd = 0; kd < KD; kd++)
            weights_block(U + kd * XI * plane, w, p0, plane - p0 < WBLOCK ? (int)(plane - p0) : WBLOCK, plane, 9 * KD,
                          9 * kd);
    }
    lr_prof_stop(LR_PASS_FORWARD, LR_KIND_WINOGRAD, t0);
}

/* ---- tiles ----------------------------------------------------------------------------------- */

/* Tiles are handled CHUNK at a time along the tile index t = (image·th + ty)·tw + tx of one channel, so
 * that the transforms' inner loops run over CHUNK tiles whatever the map size (a 3×3 map has one tile
 * per image). Each tile is gathered into (or scattered from) a [element][tile] buffer, bounds-checked
 * against the map; the transform itself is branch-free and vectorised across the chunk. */
typedef struct {
    int H, W, th, tw;
    size_t T;
} tile_grid;

static tile_grid grid_of(const lr_conv_shape *s)
{
    tile_grid g = {s->out[1], s->out[2], tiles_h(s), tiles_w(s), lr_winograd_tiles(s)};
    return g;
}

/* Top-left map coordinates of tile t's 4×4 output block, and the image plane it lies in. */
static void tile_origin(const tile_grid *g, size_t t, size_t *image, int *y0, int *x0)
{
    size_t per_image = (size_t)g->th * g->tw, r = t % per_image;
    *image = t / per_image;
    *y0 = 4 * (int)(r / g->tw);
    *x0 = 4 * (int)(r % g->tw);
}

/* d[6·r + k][i] = input (y0 − 1 + r, x0 − 1 + k) of tile t0 + i, zero outside the map. */
static void gather_input(float d[XI][CHUNK], const float *chan, const tile_grid *g, size_t t0, int nt)
{
    const size_t plane = (size_t)g->H * g->W;
    for (int i = 0; i < nt; i++) {
        size_t image;
        int y0, x0;
        tile_origin(g, t0 + i, &image, &y0, &x0);
        const float *x = chan + image * plane;
        int interior = y0 >= 1 && x0 >= 1 && y0 + 5 <= g->H && x0 + 5 <= g->W;
        for (int r = 0; r < 6; r++) {
            int y = y0 - 1 + r;
            const float *row = x + (size_t)y * g->W + (x0 - 1);
            if (interior) {
                for (int k = 0; k < 6; k++) d[6 * r + k][i] = row[k];
                continue;
            }
            for (int k = 0; k < 6; k++) {
                int xx = x0 - 1 + k;
                d[6 * r + k][i] = y >= 0 && y < g->H && xx >= 0 && xx < g->W ? row[k] : 0.0f;
            }
        }
    }
}

/* v[ξ][i] = (Bᵀ d B)[ξ] for each tile i of the chunk. */
LR_SIMD_CLONES
static void input_tiles(float v[XI][CHUNK], float d[XI][CHUNK], int nt)
{
    float t[XI][CHUNK]; /* [6·r + j] = (d B)[r][j] */
    for (int r = 0; r < 6; r++)
        for (int i = 0; i < nt; i++) {
            float x[6] = {d[6 * r][i], d[6 * r + 1][i], d[6 * r + 2][i], d[6 * r + 3][i], d[6 * r + 4][i], d[6 * r + 5][i]};
            float y[6];
            BT6(y, x);
            for (int j = 0; j < 6; j++) t[6 * r + j][i] = y[j];
        }
    for (int j = 0; j < 6; j++)
        for (int i = 0; i < nt; i++) {
            float x[6] = {t[j][i], t[6 + j][i], t[12 + j][i], t[18 + j][i], t[24 + j][i], t[30 + j][i]}, y[6];
            BT6(y, x);
            for (int a = 0; a < 6; a++) v[6 * a + j][i] = y[a];
        }
}

void lr_winograd_transform_input(float *V, const float *in, const lr_conv_shape *s)
{
    const tile_grid g = grid_of(s);
    const int C = s->cin;
    const size_t plane = (size_t)C * g.T, chan_size = planes(s) * g.H * g.W;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float d[XI][CHUNK], v[XI][CHUNK];
        for (size_t t0 = 0; t0 < g.T; t0 += CHUNK) {
            int nt = g.T - t0 < CHUNK ? (int)(g.T - t0) : CHUNK;
            gather_input(d, in + (size_t)c * chan_size, &g, t0, nt);
            input_tiles(v, d, nt);
            for (int xi = 0; xi < XI; xi++)
                memcpy(V + (size_t)xi * plane + (size_t)c * g.T + t0, v[xi], sizeof(float) * nt);
        }
    }
}

/* dd[6·r + k][i] = (B dv Bᵀ)[r][k]: the adjoint of input_tiles. */
LR_SIMD_CLONES
static void input_adjoint_tiles(float dd[XI][CHUNK], float dv[XI][CHUNK], int nt)
{
    float t[XI][CHUNK]; /* [6·r + j] = (B dv)[r][j] */
    for (int j = 0; j < 6; j++)
        for (int i = 0; i < nt; i++) {
            float x[6] = {dv[j][i], dv[6 + j][i], dv[12 + j][i], dv[18 + j][i], dv[24 + j][i], dv[30 + j][i]}, y[6];
            B6(y, x);
            for (int r = 0; r < 6; r++) t[6 * r + j][i] = y[r];
        }
    for (int r = 0; r < 6; r++)
        for (int i = 0; i < nt; i++) {
            float x[6] = {t[6 * r][i], t[6 * r + 1][i], t[6 * r + 2][i], t[6 * r + 3][i], t[6 * r + 4][i], t[6 * r + 5][i]};
            float y[6];
            B6(y, x);
            for (int k = 0; k < 6; k++) dd[6 * r + k][i] = y[k];
        }
}

/* din[c][n][H][W] += adjoint of lr_winograd_transform_input applied to dV (tiles overlap by two rows
 * and columns: added in tile order, one channel per thread). */
static void transform_input_adjoint(float *din, const float *dV, const lr_conv_shape *s)
{
    const tile_grid g = grid_of(s);
    const int C = s->cin;
    const size_t plane = (size_t)C * g.T, chan_size = planes(s) * g.H * g.W, map = (size_t)g.H * g.W;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float dv[XI][CHUNK], dd[XI][CHUNK];
        float *chan = din + (size_t)c * chan_size;
        for (size_t t0 = 0; t0 < g.T; t0 += CHUNK) {
            int nt = g.T - t0 < CHUNK ? (int)(g.T - t0) : CHUNK;
            for (int xi = 0; xi < XI; xi++)
                memcpy(dv[xi], dV + (size_t)xi * plane + (size_t)c * g.T + t0, sizeof(float) * nt);
            input_adjoint_tiles(dd, dv, nt);
            for (int i = 0; i < nt; i++) {
                size_t image;
                int y0, x0;
                tile_origin(&g, t0 + i, &image, &y0, &x0);
                float *x = chan + image * map;
                for (int r = 0; r < 6; r++) {
                    int y = y0 - 1 + r;
                    if (y < 0 || y >= g.H) continue;
                    float *row = x + (size_t)y * g.W;
                    for (int k = 0; k < 6; k++) {
                        int xx = x0 - 1 + k;
                        if (xx >= 0 && xx < g.W) row[xx] += dd[6 * r + k][i];
                    }
                }
            }
        }
    }
}

/* y[4·q + p][i] = (Aᵀ m A)[q][p] for each tile i of the chunk. */
LR_SIMD_CLONES
static void output_tiles(float y[16][CHUNK], float m[XI][CHUNK], int nt)
{
    float t[24][CHUNK]; /* [6·q + j] = (Aᵀ m)[q][j] */
    for (int j = 0; j < 6; j++)
        for (int i = 0; i < nt; i++) {
            float x[6] = {m[j][i], m[6 + j][i], m[12 + j][i], m[18 + j][i], m[24 + j][i], m[30 + j][i]}, o[4];
            AT6(o, x);
            for (int q = 0; q < 4; q++) t[6 * q + j][i] = o[q];
        }
    for (int q = 0; q < 4; q++)
        for (int i = 0; i < nt; i++) {
            float x[6] = {t[6 * q][i], t[6 * q + 1][i], t[6 * q + 2][i], t[6 * q + 3][i], t[6 * q + 4][i], t[6 * q + 5][i]};
            float o[4];
            AT6(o, x);
            for (int p = 0; p < 4; p++) y[4 * q + p][i] = o[p];
        }
}

static void transform_output(float *out, const float *M, const lr_conv_shape *s)
{
    const tile_grid g = grid_of(s);
    const int C = s->cout;
    const size_t plane = (size_t)C * g.T, chan_size = planes(s) * g.H * g.W, map = (size_t)g.H * g.W;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float m[XI][CHUNK], y[16][CHUNK];
        float *chan = out + (size_t)c * chan_size;
        for (size_t t0 = 0; t0 < g.T; t0 += CHUNK) {
            int nt = g.T - t0 < CHUNK ? (int)(g.T - t0) : CHUNK;
            for (int xi = 0; xi < XI; xi++)
                memcpy(m[xi], M + (size_t)xi * plane + (size_t)c * g.T + t0, sizeof(float) * nt);
            output_tiles(y, m, nt);
            for (int i = 0; i < nt; i++) {
                size_t image;
                int y0, x0;
                tile_origin(&g, t0 + i, &image, &y0, &x0);
                float *x = chan + image * map;
                for (int q = 0; q < 4 && y0 + q < g.H; q++) {
                    float *row = x + (size_t)(y0 + q) * g.W + x0;
                    for (int p = 0; p < 4 && x0 + p < g.W; p++) row[p] = y[4 * q + p][i];
                }
            }
        }
    }
}

/* dm[ξ][i] = (A dy Aᵀ)[ξ]: the adjoint of output_tiles. */
LR_SIMD_CLONES
static void dout_tiles(float dm[XI][CHUNK], float dy[16][CHUNK], int nt)
{
    float t[24][CHUNK]; /* [6·q + j] = (dy Aᵀ)[q][j] */
    for (int q = 0; q < 4; q++)
        for (int i = 0; i < nt; i++) {
            float x[4] = {dy[4 * q][i], dy[4 * q + 1][i], dy[4 * q + 2][i], dy[4 * q + 3][i]}, o[6];
            A4(o, x);
            for (int j = 0; j < 6; j++) t[6 * q + j][i] = o[j];
        }
    for (int j = 0; j < 6; j++)
        for (int i = 0; i < nt; i++) {
            float x[4] = {t[j][i], t[6 + j][i], t[12 + j][i], t[18 + j][i]}, o[6];
            A4(o, x);
            for (int a = 0; a < 6; a++) dm[6 * a + j][i] = o[a];
        }
}

static void transform_dout(float *dM, const float *dout, const lr_conv_shape *s)
{
    const tile_grid g = grid_of(s);
    const int C = s->cout;
    const size_t plane = (size_t)C * g.T, chan_size = planes(s) * g.H * g.W, map = (size_t)g.H * g.W;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float dy[16][CHUNK], dm[XI][CHUNK];
        const float *chan = dout + (size_t)c * chan_size;
        for (size_t t0 = 0; t0 < g.T; t0 += CHUNK) {
            int nt = g.T - t0 < CHUNK ? (int)(g.T - t0) : CHUNK;
            for (int i = 0; i < nt; i++) {
                size_t image;
                int y0, x0;
                tile_origin(&g, t0 + i, &image, &y0, &x0);
                const float *x = chan + image * map;
                for (int q = 0; q < 4; q++)
                    for (int p = 0; p < 4; p++)
                        dy[4 * q + p][i] = y0 + q < g.H && x0 + p < g.W ? x[(size_t)(y0 + q) * g.W + x0 + p] : 0.0f;
            }
            dout_tiles(dm, dy, nt);
            for (int xi = 0; xi < XI; xi++)
                memcpy(dM + (size_t)xi * plane + (size_t)c * g.T + t0, dm[xi], sizeof(float) * nt);
        }
    }
}

/* ---- the 36 GEMMs (per depth tap) ------------------------------------------------------------- */

/* The GEMMs of one pass, for every ξ: C[ξ] (=, or +=) A[ξ] · B[ξ]. One of n, k is the tile dimension: the
 * columns of the output planes' operand and of the input planes' operand (B's rows when the tiles are the
 * inner dimension, the weight gradient). A depth tap's transformed weights (or their gradient) are the
 * operand `tap`, 36·cout·cin floats apart. */
enum { OPND_A, OPND_B, OPND_C };
typedef struct {
    const float *a;
    inc_t rsa, csa;
    const float *b;
    inc_t rsb, csb;
    float *c;
    inc_t rsc;
    size_t stride_a, stride_b, stride_c; /* between consecutive ξ */
    dim_t m, other;                      /* m, and the non-tile one of n, k */
    int tiles_in_k;                      /* 1: k is the tile dimension (n = other), else n is (k = other) */
    int out, in, tap;                    /* operands: output planes' tiles, input planes' tiles, tap weights */
} batched_gemm;

static void gemm_part(const batched_gemm *g, int xi, const size_t off[3], dim_t tiles, float beta, int threaded)
{
    float one = 1.0f;
    float *a = (float *)g->a + xi * g->stride_a + off[OPND_A], *b = (float *)g->b + xi * g->stride_b + off[OPND_B];
    float *c = g->c + xi * g->stride_c + off[OPND_C];
    dim_t n = g->tiles_in_k ? g->other : tiles, k = g->tiles_in_k ? tiles : g->other;
    if (threaded) {
        rntm_t rntm = BLIS_RNTM_INITIALIZER;
        bli_rntm_set_num_threads(1, &rntm);
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, g->m, n, k, &one, a, g->rsa, g->csa, b, g->rsb, g->csb,
                     &beta, c, g->rsc, 1, NULL, &rntm);
    } else {
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, g->m, n, k, &one, a, g->rsa, g->csa, b, g->rsb, g->csb, &beta,
                  c, g->rsc, 1);
    }
}

/* For ξ < 36: the middle depth tap (or the only one, 2D) over all T tiles, then per image the tap below
 * (kd 0: output plane d from input plane d − 1, d ≥ 1) and the tap above (kd 2: d from d + 1, d ≤ D − 2),
 * in that fixed order. Accumulated into C, except the weight gradient's, where each tap has its own C.
 * With several threads each ξ runs whole on one thread (single-threaded BLIS), so its rounding and its
 * order of accumulation are the 1-thread ones. */
static void gemm36(const batched_gemm *g, const lr_conv_shape *s, lr_pass pass)
{
    const int KD = taps(s), threaded = lr_nn_threads() > 1;
    const size_t T = lr_winograd_tiles(s), D = (size_t)s->in[0], thw = (size_t)tiles_h(s) * tiles_w(s);
    const size_t tap_size = (size_t)XI * s->cout * s->cin; /* one tap's U (or dU) */
    double t0 = lr_prof_start();
#pragma omp parallel for schedule(static) if (threaded)
    for (int xi = 0; xi < XI; xi++) {
        size_t off[3] = {0, 0, 0};
        off[g->tap] = KD == 3 ? tap_size : 0; /* the middle tap */
        gemm_part(g, xi, off, (dim_t)T, 0.0f, threaded);
        for (int kd = 0; KD == 3 && kd <= 2; kd += 2)
            for (int i = 0; i < s->n; i++) {
                size_t base = (size_t)i * D * thw, o[3] = {0, 0, 0};
                o[g->out] = base + (kd == 0 ? thw : 0);
                o[g->in] = base + (kd == 0 ? 0 : thw);
                o[g->tap] += (size_t)kd * tap_size;
                float beta = g->tiles_in_k && i == 0 ? 0.0f : 1.0f;
                gemm_part(g, xi, o, (dim_t)((D - 1) * thw), beta, threaded);
            }
    }
    lr_prof_stop(pass, LR_KIND_GEMM, t0);
}

void lr_winograd_forward(float *out, float *V, float *ws, const float *in, const float *U, const lr_conv_shape *s)
{
    const size_t T = lr_winograd_tiles(s), cin = (size_t)s->cin, cout = (size_t)s->cout;
    float *M = ws;
    LR_PROF(LR_PASS_FORWARD, LR_KIND_WINOGRAD, lr_winograd_transform_input(V, in, s));
    /* M[ξ][cout][T] = Σ_kd U_kd[ξ][cout][cin] · V[ξ][cin][tiles of the tap's input planes] */
    batched_gemm g = {.a = U, .rsa = (inc_t)cin, .csa = 1, .stride_a = cout * cin,
                      .b = V, .rsb = (inc_t)T, .csb = 1, .stride_b = cin * T,
                      .c = M, .rsc = (inc_t)T, .stride_c = cout * T,
                      .m = (dim_t)cout, .other = (dim_t)cin, .out = OPND_C, .in = OPND_B, .tap = OPND_A};
    gemm36(&g, s, LR_PASS_FORWARD);
    LR_PROF(LR_PASS_FORWARD, LR_KIND_WINOGRAD, transform_output(out, M, s));
}

void lr_winograd_backward(float *din, float *dw, float *ws, const float *dout, const float *U, const float *V,
                          const lr_conv_shape *s)
{
    const size_t T = lr_winograd_tiles(s), cin = (size_t)s->cin, cout = (size_t)s->cout, KD = (size_t)taps(s);
    float *dM = ws, *rest = ws + XI * cout * T; /* rest: dU (per tap), then dV */
    lr_pass pass = dw ? LR_PASS_WEIGHT_GRAD : LR_PASS_INPUT_GRAD; /* dout's transform serves both */
    LR_PROF(pass, LR_KIND_WINOGRAD, transform_dout(dM, dout, s));
    if (dw) {
        /* dU_kd[ξ][co][ci] = dM[ξ][co][output tiles] · V[ξ][ci][input tiles]ᵀ (V read as T×cin through
         * strides 1, T) */
        batched_gemm g = {.a = dM, .rsa = (inc_t)T, .csa = 1, .stride_a = cout * T,
                          .b = V, .rsb = 1, .csb = (inc_t)T, .stride_b = cin * T,
                          .c = rest, .rsc = (inc_t)cin, .stride_c = cout * cin,
                          .m = (dim_t)cout, .other = (dim_t)cin, .tiles_in_k = 1, .out = OPND_A, .in = OPND_B,
                          .tap = OPND_C};
        gemm36(&g, s, LR_PASS_WEIGHT_GRAD);
        const size_t plane = cout * cin;
        const long blocks = (long)((plane + WBLOCK - 1) / WBLOCK);
        double t0 = lr_prof_start();
#pragma omp parallel for schedule(static)
        for (long k = 0; k < blocks; k++) {
            size_t p0 = (size_t)k * WBLOCK;
            for (size_t kd = 0; kd < KD; kd++)
                weights_adjoint_block(dw, rest + kd * XI * plane, p0, plane - p0 < WBLOCK ? (int)(plane - p0) : WBLOCK,
                                      plane, 9 * KD, 9 * kd);
        }
        lr_prof_stop(LR_PASS_WEIGHT_GRAD, LR_KIND_WINOGRAD, t0);
    }
    if (!din) return;
    /* dV[ξ][ci][input tiles] = Σ_kd U_kd[ξ]ᵀ · dM[ξ][output tiles]  (U read as cin×cout through strides 1, cin) */
    batched_gemm g = {.a = U, .rsa = 1, .csa = (inc_t)cin, .stride_a = cout * cin,
                      .b = dM, .rsb = (inc_t)T, .csb = 1, .stride_b = cout * T,
                      .c = rest, .rsc = (inc_t)T, .stride_c = cin * T,
                      .m = (dim_t)cin, .other = (dim_t)cout, .out = OPND_B, .in = OPND_C, .tap = OPND_A};
    gemm36(&g, s, LR_PASS_INPUT_GRAD);
    LR_PROF(LR_PASS_INPUT_GRAD, LR_KIND_WINOGRAD, transform_input_adjoint(din, rest, s));
}
