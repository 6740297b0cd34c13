/* Winograd F(2×2, 3×3) for 3×3, stride-1, pad-1 2D convolutions (the bulk of ResNet18's work):
 * 16 batched BLIS GEMMs  M[ξ][Cout][T] = U[ξ][Cout][Cin] · V[ξ][Cin][T]  over all T tiles of the batch,
 * 2.25× fewer multiply-adds than im2col at large maps. The input gradient of such a conv is the same
 * conv with the kernel rotated by 180° and its in/out channels swapped, so backward reuses it.
 * Transforms (Lavin & Gray 2016):
 *   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 -1 -1]. */
#include <blis.h>
#include <string.h>

#include "nn/winograd.h"

int lr_winograd_eligible(const lr_conv_shape *s)
{
    if (s->in[0] != 1 || s->k[0] != 1 || s->k[1] != 3 || s->k[2] != 3) return 0;
    if (s->stride[1] != 1 || s->stride[2] != 1 || s->pad[1] != 1 || s->pad[2] != 1) return 0;
    /* at small maps the tile overhang (a 3×3 map is covered by 4×4 outputs) eats the gain */
    int th = (s->out[1] + 1) / 2, tw = (s->out[2] + 1) / 2;
    return 9.0 * s->out[1] * s->out[2] >= 1.6 * 16.0 * th * tw;
}

static size_t tiles(const lr_conv_shape *s) { return (size_t)s->n * ((s->out[1] + 1) / 2) * ((s->out[2] + 1) / 2); }

size_t lr_winograd_workspace(const lr_conv_shape *s)
{
    size_t cmax = s->cin > s->cout ? s->cin : s->cout;
    /* U [16][cout][cin], V [16][cmax][T], M [16][cmax][T] (forward and the swapped-channel backward) */
    return 16 * ((size_t)s->cin * s->cout + 2 * cmax * tiles(s));
}

/* U[ξ][co][ci] = (G g Gᵀ)[ξ]; rot: g = w[ci][co] rotated 180° (the input-gradient conv). */
static void transform_weights(float *U, const float *w, int cout, int cin, int rot)
{
    size_t plane = (size_t)cout * cin;
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            float g[3][3];
            const float *src = rot ? w + ((size_t)ci * cout + co) * 9 : w + ((size_t)co * cin + ci) * 9;
            for (int i = 0; i < 9; i++) g[i / 3][i % 3] = rot ? src[8 - i] : src[i];
            float t[4][3]; /* G g */
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[0][j];
                t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            float *u = U + (size_t)co * cin + ci;
            for (int i = 0; i < 4; i++) { /* (G g) Gᵀ */
                u[(4 * i + 0) * plane] = t[i][0];
                u[(4 * i + 1) * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[(4 * i + 2) * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[(4 * i + 3) * plane] = t[i][2];
            }
        }
}

/* V[ξ][c][t] = (Bᵀ d B)[ξ] for every 4×4 input tile d. Each (c, n) plane is first copied into a
 * zero-bordered plane `pad` [2·th+2][2·tw+2], so every tile is interior and the inner loops run over
 * tiles with contiguous stores (vectorisable). */
static void transform_input(float *V, float *pad, const float *in, int c_n, int n, int H, int W, size_t T)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2, PW = 2 * tw + 2, PH = 2 * th + 2;
    const size_t plane = (size_t)c_n * T;
    memset(pad, 0, sizeof(float) * PW * PH);
    for (int c = 0; c < c_n; c++)
        for (int b = 0; b < n; b++) {
            const float *x = in + ((size_t)c * n + b) * H * W;
            for (int y = 0; y < H; y++) memcpy(pad + (size_t)(y + 1) * PW + 1, x + (size_t)y * W, sizeof(float) * W);
            for (int ty = 0; ty < th; ty++) {
                const float *p0 = pad + (size_t)(2 * ty) * PW, *p1 = p0 + PW, *p2 = p1 + PW, *p3 = p2 + PW;
                float *v = V + (size_t)c * T + ((size_t)b * th + ty) * tw;
                float *v0 = v, *v1 = v + plane, *v2 = v + 2 * plane, *v3 = v + 3 * plane;
                float *v4 = v + 4 * plane, *v5 = v + 5 * plane, *v6 = v + 6 * plane, *v7 = v + 7 * plane;
                float *v8 = v + 8 * plane, *v9 = v + 9 * plane, *v10 = v + 10 * plane, *v11 = v + 11 * plane;
                float *v12 = v + 12 * plane, *v13 = v + 13 * plane, *v14 = v + 14 * plane, *v15 = v + 15 * plane;
                for (int tx = 0; tx < tw; tx++) {
                    const int o = 2 * tx;
                    /* rows of Bᵀ d */
                    float r00 = p0[o] - p2[o], r01 = p0[o + 1] - p2[o + 1], r02 = p0[o + 2] - p2[o + 2],
                          r03 = p0[o + 3] - p2[o + 3];
                    float r10 = p1[o] + p2[o], r11 = p1[o + 1] + p2[o + 1], r12 = p1[o + 2] + p2[o + 2],
                          r13 = p1[o + 3] + p2[o + 3];
                    float r20 = p2[o] - p1[o], r21 = p2[o + 1] - p1[o + 1], r22 = p2[o + 2] - p1[o + 2],
                          r23 = p2[o + 3] - p1[o + 3];
                    float r30 = p1[o] - p3[o], r31 = p1[o + 1] - p3[o + 1], r32 = p1[o + 2] - p3[o + 2],
                          r33 = p1[o + 3] - p3[o + 3];
                    /* (Bᵀ d) B */
                    v0[tx] = r00 - r02, v1[tx] = r01 + r02, v2[tx] = r02 - r01, v3[tx] = r01 - r03;
                    v4[tx] = r10 - r12, v5[tx] = r11 + r12, v6[tx] = r12 - r11, v7[tx] = r11 - r13;
                    v8[tx] = r20 - r22, v9[tx] = r21 + r22, v10[tx] = r22 - r21, v11[tx] = r21 - r23;
                    v12[tx] = r30 - r32, v13[tx] = r31 + r32, v14[tx] = r32 - r31, v15[tx] = r31 - r33;
                }
            }
        }
}

/* out[c][n][H][W] (= or +=) Aᵀ m A for every tile; rows of two output rows go through `rows`
 * [2][2·tw] so the inner loop is over tiles with contiguous loads. */
static void transform_output(float *out, float *rows, const float *M, int c_n, int n, int H, int W, size_t T,
                             int accumulate)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t plane = (size_t)c_n * T;
    float *row0 = rows, *row1 = rows + 2 * tw;
    for (int c = 0; c < c_n; c++)
        for (int b = 0; b < n; b++) {
            float *y = out + ((size_t)c * n + b) * H * W;
            for (int ty = 0; ty < th; ty++) {
                const float *m = M + (size_t)c * T + ((size_t)b * th + ty) * tw;
                for (int tx = 0; tx < tw; tx++) {
                    float m0 = m[tx], m1 = m[plane + tx], m2 = m[2 * plane + tx], m3 = m[3 * plane + tx];
                    float m4 = m[4 * plane + tx], m5 = m[5 * plane + tx], m6 = m[6 * plane + tx], m7 = m[7 * plane + tx];
                    float m8 = m[8 * plane + tx], m9 = m[9 * plane + tx], m10 = m[10 * plane + tx],
                          m11 = m[11 * plane + tx];
                    float m12 = m[12 * plane + tx], m13 = m[13 * plane + tx], m14 = m[14 * plane + tx],
                          m15 = m[15 * plane + tx];
                    /* Aᵀ m: two rows of four */
                    float a0 = m0 + m4 + m8, a1 = m1 + m5 + m9, a2 = m2 + m6 + m10, a3 = m3 + m7 + m11;
                    float b0 = m4 - m8 - m12, b1 = m5 - m9 - m13, b2 = m6 - m10 - m14, b3 = m7 - m11 - m15;
                    row0[2 * tx] = a0 + a1 + a2, row0[2 * tx + 1] = a1 - a2 - a3;
                    row1[2 * tx] = b0 + b1 + b2, row1[2 * tx + 1] = b1 - b2 - b3;
                }
                for (int i = 0; i < 2 && 2 * ty + i < H; i++) {
                    float *dst = y + (size_t)(2 * ty + i) * W;
                    const float *src = i ? row1 : row0;
                    if (accumulate)
                        for (int x = 0; x < W; x++) dst[x] += src[x];
                    else
                        memcpy(dst, src, sizeof(float) * W);
                }
            }
        }
}

/* out[cout][N·H·W] (= or +=) conv3x3(in[cin][N·H·W]) with transformed weights U. */
static void winograd_conv(float *out, float *V, float *M, const float *U, const float *in, int cin, int cout, int n,
                          int H, int W, int accumulate)
{
    const size_t T = (size_t)n * ((H + 1) / 2) * ((W + 1) / 2);
    float one = 1.0f, zero = 0.0f;
    transform_input(V, M, in, cin, n, H, W, T); /* M is free until the GEMMs: the padded plane */
    for (int xi = 0; xi < 16; xi++)
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, cout, (dim_t)T, cin, &one, (float *)U + (size_t)xi * cout * cin,
                  cin, 1, V + (size_t)xi * cin * T, (dim_t)T, 1, &zero, M + (size_t)xi * cout * T, (dim_t)T, 1);
    transform_output(out, V, M, cout, n, H, W, T, accumulate); /* V is free after the GEMMs: row buffer */
}

void lr_winograd_forward(float *out, float *ws, const float *in, const float *w, const lr_conv_shape *s)
{
    size_t cmax = s->cin > s->cout ? s->cin : s->cout, T = tiles(s);
    float *U = ws, *V = U + 16 * (size_t)s->cin * s->cout, *M = V + 16 * cmax * T;
    transform_weights(U, w, s->cout, s->cin, 0);
    winograd_conv(out, V, M, U, in, s->cin, s->cout, s->n, s->out[1], s->out[2], 0);
}

void lr_winograd_backward_data(float *din, float *ws, const float *dout, const float *w, const lr_conv_shape *s)
{
    size_t cmax = s->cin > s->cout ? s->cin : s->cout, T = tiles(s);
    float *U = ws, *V = U + 16 * (size_t)s->cin * s->cout, *M = V + 16 * cmax * T;
    transform_weights(U, w, s->cin, s->cout, 1);
    winograd_conv(din, V, M, U, dout, s->cout, s->cin, s->n, s->out[1], s->out[2], 1);
}

/* dM[ξ][c][t] = (A dy Aᵀ)[ξ] for every 2×2 output-gradient tile dy (zero beyond the map): the adjoint
 * of transform_output. rows: [2][2·tw] scratch. */
static void transform_dout(float *dM, float *rows, const float *dout, int c_n, int n, int H, int W, size_t T)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t plane = (size_t)c_n * T;
    float *y0 = rows, *y1 = rows + 2 * tw;
    for (int c = 0; c < c_n; c++)
        for (int b = 0; b < n; b++) {
            const float *dy = dout + ((size_t)c * n + b) * H * W;
            for (int ty = 0; ty < th; ty++) {
                memset(rows, 0, sizeof(float) * 4 * tw);
                memcpy(y0, dy + (size_t)(2 * ty) * W, sizeof(float) * W);
                if (2 * ty + 1 < H) memcpy(y1, dy + (size_t)(2 * ty + 1) * W, sizeof(float) * W);
                float *m = dM + (size_t)c * T + ((size_t)b * th + ty) * tw;
                for (int tx = 0; tx < tw; tx++) {
                    float a0 = y0[2 * tx], a1 = y0[2 * tx + 1], b0 = y1[2 * tx], b1 = y1[2 * tx + 1];
                    /* rows of A dy: r0 = y0, r1 = y0 + y1, r2 = y0 − y1, r3 = −y1 */
                    float r[4][2] = {{a0, a1}, {a0 + b0, a1 + b1}, {a0 - b0, a1 - b1}, {-b0, -b1}};
                    for (int i = 0; i < 4; i++) { /* (A dy) Aᵀ */
                        m[(4 * i + 0) * plane + tx] = r[i][0];
                        m[(4 * i + 1) * plane + tx] = r[i][0] + r[i][1];
                        m[(4 * i + 2) * plane + tx] = r[i][0] - r[i][1];
                        m[(4 * i + 3) * plane + tx] = -r[i][1];
                    }
                }
            }
        }
}

/* dw[co][ci][3][3] += Gᵀ dU[·][co][ci] G: the adjoint of transform_weights. */
static void accumulate_dweights(float *dw, const float *dU, int cout, int cin)
{
    const size_t plane = (size_t)cout * cin;
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            const float *u = dU + (size_t)co * cin + ci;
            float t[3][4]; /* Gᵀ dU */
            for (int j = 0; j < 4; j++) {
                float u0 = u[j * plane], u1 = u[(4 + j) * plane], u2 = u[(8 + j) * plane], u3 = u[(12 + j) * plane];
                t[0][j] = u0 + 0.5f * (u1 + u2);
                t[1][j] = 0.5f * (u1 - u2);
                t[2][j] = 0.5f * (u1 + u2) + u3;
            }
            float *g = dw + ((size_t)co * cin + ci) * 9;
            for (int a = 0; a < 3; a++) { /* (Gᵀ dU) G */
                g[3 * a + 0] += t[a][0] + 0.5f * (t[a][1] + t[a][2]);
                g[3 * a + 1] += 0.5f * (t[a][1] - t[a][2]);
                g[3 * a + 2] += 0.5f * (t[a][1] + t[a][2]) + t[a][3];
            }
        }
}

void lr_winograd_backward_weights(float *dw, float *ws, const float *dout, const float *in, const lr_conv_shape *s)
{
    size_t cmax = s->cin > s->cout ? s->cin : s->cout, T = tiles(s);
    float *dU = ws, *V = dU + 16 * (size_t)s->cin * s->cout, *dM = V + 16 * cmax * T;
    float one = 1.0f, zero = 0.0f;
    const int H = s->out[1], W = s->out[2];
    transform_input(V, dM, in, s->cin, s->n, H, W, T);          /* dM is free yet: the padded plane */
    transform_dout(dM, dU, dout, s->cout, s->n, H, W, T);       /* dU is free yet: the row buffer */
    /* dU[ξ][co][ci] = dM[ξ][co][t] · V[ξ][ci][t]ᵀ  (V read as T×cin through strides 1, T) */
    for (int xi = 0; xi < 16; xi++)
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, s->cout, s->cin, (dim_t)T, &one, dM + (size_t)xi * s->cout * T,
                  (dim_t)T, 1, V + (size_t)xi * s->cin * T, 1, (dim_t)T, &zero, dU + (size_t)xi * s->cout * s->cin,
                  s->cin, 1);
    accumulate_dweights(dw, dU, s->cout, s->cin);
}
