/* NIfTI reading into the canonical axial layout (see nifti.h) and writing, on top of niftilib. */
#include "data/nifti.h"

#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Canonical axes: slice S->I, row A->P, column R->L, and the niftilib orientation codes of each pair. */
static const int canon_code[3] = {NIFTI_S2I, NIFTI_A2P, NIFTI_R2L};
static const int canon_opposite[3] = {NIFTI_I2S, NIFTI_P2A, NIFTI_L2R};

/* Why nifti_read_header failed: not gzip-readable at all, or readable but not a NIfTI header. */
static int diagnose_unreadable(const char *path, lr_err *err)
{
    unsigned char magic[2] = {0, 0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(magic, 1, 2, f) : 0;
    if (f) fclose(f);
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        char buf[540];
        int zerr = Z_OK;
        gzFile gz = gzopen(path, "rb");
        int got = gz ? gzread(gz, buf, sizeof buf) : -1;
        if (gz) {
            gzerror(gz, &zerr);
            gzclose(gz);
        }
        if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
            return lr_fail(err, "%s: corrupt or truncated gzip data (cannot decompress the header)", path);
    }
    return lr_fail(err, "%s: not a NIfTI file (no valid NIfTI-1/-2 header)", path);
}

static int open_image(const char *path, nifti_image **out, lr_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) return lr_fail(err, "%s: no such file", path);
    if (!S_ISREG(st.st_mode)) return lr_fail(err, "%s: not a regular file", path);
    nifti_set_debug_level(0);
    int version = 0;
    void *hdr = nifti_read_header(path, &version, 1);
    if (!hdr || version < 1) {
        free(hdr);
        return diagnose_unreadable(path, err);
    }
    free(hdr);
    /* The data are read here with zlib rather than by nifti_image_load, which silently replaces NaN/Inf
     * floats by 0 (a CT with NaN must be rejected, not repaired) and stops before the gzip trailer
     * (whose CRC is what detects corrupt compressed data). gzopen reads uncompressed files too. */
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim || !nim->iname) {
        if (nim) nifti_image_free(nim);
        return lr_fail(err, "%s: cannot read the NIfTI header", path);
    }
    size_t bytes = (size_t)nim->nvox * (size_t)nim->nbyper, got = 0;
    int zerr = Z_OK, complete = 0;
    gzFile gz = gzopen(nim->iname, "rb");
    nim->data = malloc(bytes ? bytes : 1);
    if (gz && nim->data) {
        gzbuffer(gz, 1 << 20);
        if (gzseek(gz, (z_off_t)nim->iname_offset, SEEK_SET) == (z_off_t)nim->iname_offset) {
            for (complete = 1; complete && got < bytes;) { /* gzread takes an unsigned int count */
                size_t want = bytes - got > (1u << 30) ? (1u << 30) : bytes - got;
                int r = gzread(gz, (char *)nim->data + got, (unsigned)want);
                if (r <= 0) complete = 0;
                else got += (size_t)r;
            }
            if (complete) {
                gzgetc(gz); /* reach the end of the stream: zlib verifies the gzip CRC and length */
                gzerror(gz, &zerr);
            }
        }
    }
    if (gz) gzclose(gz);
    if (!nim->data || !complete || got != bytes || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        nifti_image_free(nim);
        return lr_fail(err, "%s: cannot read the voxel data (truncated file or corrupt gzip data)", path);
    }
    if (nim->byteorder != nifti_short_order() && nim->swapsize > 1)
        nifti_swap_Nbytes(nim->nvox, nim->swapsize, nim->data);
    for (int d = 4; d <= 7; d++)
        if (nim->dim[0] >= d && nim->dim[d] > 1) {
            long long extra = (long long)nim->dim[d];
            nifti_image_free(nim);
            return lr_fail(err, "%s: dimension %d has %lld elements: expected a 3-D volume", path, d, extra);
        }
    *out = nim;
    return 0;
}

/* One canonical row: n values from storage offset src with stride step, as double (type switch
 * outside the loop: this runs over every voxel of every file). */
#define GATHER(T)                                                                                  \
    do {                                                                                           \
        const T *p = (const T *)nim->data;                                                         \
        for (size_t j = 0; j < n; j++, src += step) out[j] = (double)p[src];                       \
    } while (0)

static void gather_row(const nifti_image *nim, ptrdiff_t src, ptrdiff_t step, size_t n, double *out)
{
    switch (nim->datatype) {
    case NIFTI_TYPE_UINT8: GATHER(uint8_t); break;
    case NIFTI_TYPE_INT8: GATHER(int8_t); break;
    case NIFTI_TYPE_INT16: GATHER(int16_t); break;
    case NIFTI_TYPE_UINT16: GATHER(uint16_t); break;
    case NIFTI_TYPE_INT32: GATHER(int32_t); break;
    case NIFTI_TYPE_UINT32: GATHER(uint32_t); break;
    case NIFTI_TYPE_INT64: GATHER(int64_t); break;
    case NIFTI_TYPE_UINT64: GATHER(uint64_t); break;
    case NIFTI_TYPE_FLOAT32: GATHER(float); break;
    case NIFTI_TYPE_FLOAT64: GATHER(double); break;
    default:
        for (size_t j = 0; j < n; j++) out[j] = NAN;
    }
}

static int supported_type(int t)
{
    return t == NIFTI_TYPE_UINT8 || t == NIFTI_TYPE_INT8 || t == NIFTI_TYPE_INT16 || t == NIFTI_TYPE_UINT16 ||
           t == NIFTI_TYPE_INT32 || t == NIFTI_TYPE_UINT32 || t == NIFTI_TYPE_INT64 || t == NIFTI_TYPE_UINT64 ||
           t == NIFTI_TYPE_FLOAT32 || t == NIFTI_TYPE_FLOAT64;
}

/* The storage -> canonical mapping: for canonical axis c, the storage axis it comes from, its direction,
 * and the canonical geometry. */
typedef struct {
    int axis[3];          /* storage axis (0 = i, 1 = j, 2 = k) of canonical axis c */
    int flip[3];          /* 1: the canonical index runs against the storage index */
} axis_map;

static int geometry(const char *path, const nifti_image *nim, lr_nifti_geom *g, axis_map *map, lr_err *err)
{
    nifti_dmat44 m;
    if (nim->sform_code > 0) m = nim->sto_xyz;
    else if (nim->qform_code > 0) m = nim->qto_xyz;
    else {
        memset(&m, 0, sizeof m);
        m.m[0][0] = nim->dx;
        m.m[1][1] = nim->dy;
        m.m[2][2] = nim->dz;
        m.m[3][3] = 1;
    }
    int64_t n[3] = {nim->nx, nim->ny, nim->nz};
    double pix[3] = {nim->dx, nim->dy, nim->dz}, col[3];
    for (int a = 0; a < 3; a++) {
        col[a] = sqrt(m.m[0][a] * m.m[0][a] + m.m[1][a] * m.m[1][a] + m.m[2][a] * m.m[2][a]);
        if (n[a] < 1) return lr_fail(err, "%s: dimension %d is %lld: expected >= 1", path, a + 1, (long long)n[a]);
    }
    for (int a = 0; a < 3; a++)
        if (!(col[a] > 0 && col[a] <= LR_NIFTI_MAX_SPACING_MM) || !(pix[a] > 0 && pix[a] <= LR_NIFTI_MAX_SPACING_MM))
            return lr_fail(err, "%s: voxel spacing %g x %g x %g mm (pixdim %g x %g x %g): expected each in (0, %g] mm",
                           path, col[0], col[1], col[2], pix[0], pix[1], pix[2], LR_NIFTI_MAX_SPACING_MM);
    int code[3];
    nifti_dmat44_to_orientation(m, &code[0], &code[1], &code[2]);
    for (int c = 0; c < 3; c++) {
        map->axis[c] = -1;
        for (int a = 0; a < 3; a++)
            if (code[a] == canon_code[c] || code[a] == canon_opposite[c]) {
                map->axis[c] = a;
                map->flip[c] = code[a] == canon_opposite[c];
            }
        if (map->axis[c] < 0) return lr_fail(err, "%s: degenerate voxel-to-world transform (no orientation)", path);
    }
    double origin[3] = {m.m[0][3], m.m[1][3], m.m[2][3]};
    for (int c = 0; c < 3; c++) {
        int a = map->axis[c];
        g->dims[c] = (size_t)n[a];
        g->spacing[c] = col[a];
        double s = map->flip[c] ? -1.0 : 1.0;
        for (int r = 0; r < 3; r++) {
            g->to_world[r][c] = s * m.m[r][a];
            if (map->flip[c]) origin[r] += m.m[r][a] * (double)(n[a] - 1);
        }
    }
    for (int r = 0; r < 3; r++) {
        g->to_world[r][3] = origin[r];
        for (int a = 0; a < 4; a++) g->storage_affine[r][a] = m.m[r][a];
        g->storage_dims[r] = (size_t)n[r];
    }
    return 0;
}

/* Storage offset of canonical voxel 0 and the storage stride of each canonical axis. */
static void strides(const lr_nifti_geom *g, const axis_map *map, ptrdiff_t *start, ptrdiff_t stride[3])
{
    ptrdiff_t s[3] = {1, (ptrdiff_t)g->storage_dims[0], (ptrdiff_t)(g->storage_dims[0] * g->storage_dims[1])};
    *start = 0;
    for (int c = 0; c < 3; c++) {
        ptrdiff_t st = s[map->axis[c]];
        if (map->flip[c]) {
            *start += st * (ptrdiff_t)(g->dims[c] - 1);
            st = -st;
        }
        stride[c] = st;
    }
}

/* Shared reader: calls visit(value, canonical index) for every voxel; visit may reject a value. */
static void voxel_name(const lr_nifti_geom *g, size_t idx, char *buf, size_t n)
{
    size_t W = g->dims[2], H = g->dims[1];
    snprintf(buf, n, "canonical voxel (slice %zu, row %zu, column %zu)", idx / (W * H), (idx / W) % H, idx % W);
}

/* Converts one row of values (starting at canonical index idx) into the output, or names the first bad
 * value. labels != 0: non-negative integer labels into int32; else finite floats. */
static int store_row(void *out, size_t idx, const double *v, size_t n, int labels, const char *path,
                     const lr_nifti_geom *g, lr_err *err)
{
    char where[128];
    if (labels) {
        int32_t *o = (int32_t *)out + idx;
        for (size_t j = 0; j < n; j++) {
            if (!(v[j] >= 0 && v[j] <= 2147483647.0 && (double)(int32_t)v[j] == v[j])) {
                voxel_name(g, idx + j, where, sizeof where);
                return lr_fail(err, "%s: value %g at %s: expected a non-negative integer label", path, v[j], where);
            }
            o[j] = (int32_t)v[j];
        }
    } else {
        float *o = (float *)out + idx;
        for (size_t j = 0; j < n; j++) {
            if (!isfinite(v[j])) {
                voxel_name(g, idx + j, where, sizeof where);
                return lr_fail(err, "%s: non-finite value %g at %s: expected finite HU", path, v[j], where);
            }
            o[j] = (float)v[j];
        }
    }
    return 0;
}

static int read_canonical(const char *path, lr_nifti_geom *g, int labels, void **out, lr_err *err)
{
    nifti_image *nim = NULL;
    double *row = NULL;
    *out = NULL;
    if (open_image(path, &nim, err)) return -1;
    axis_map map;
    int rc = -1;
    if (!supported_type(nim->datatype)) {
        lr_fail(err, "%s: unsupported NIfTI data type %s (expected an integer or float scalar type)", path,
                nifti_datatype_to_string(nim->datatype));
        goto done;
    }
    if (geometry(path, nim, g, &map, err)) goto done;
    size_t n = g->dims[0] * g->dims[1] * g->dims[2];
    *out = lr_malloc(n, labels ? sizeof(int32_t) : sizeof(float), err);
    row = lr_malloc(g->dims[2], sizeof *row, err);
    if (!*out || !row) goto done;
    double slope = nim->scl_slope, inter = nim->scl_inter;
    int scaled = isfinite(slope) && slope != 0 && !(slope == 1 && (inter == 0 || !isfinite(inter)));
    if (!isfinite(inter)) inter = 0;
    ptrdiff_t start, st[3];
    strides(g, &map, &start, st);
    size_t D = g->dims[0], H = g->dims[1], W = g->dims[2];
    for (size_t k = 0; k < D; k++)
        for (size_t i = 0; i < H; i++) {
            gather_row(nim, start + (ptrdiff_t)k * st[0] + (ptrdiff_t)i * st[1], st[2], W, row);
            if (scaled)
                for (size_t j = 0; j < W; j++) row[j] = slope * row[j] + inter;
            if (store_row(*out, (k * H + i) * W, row, W, labels, path, g, err)) goto done;
        }
    rc = 0;
done:
    nifti_image_free(nim);
    free(row);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

int lr_nifti_read_float(const char *path, lr_nifti_geom *g, float **data, lr_err *err)
{
    return read_canonical(path, g, 0, (void **)data, err);
}

int lr_nifti_read_labels(const char *path, lr_nifti_geom *g, int32_t **labels, lr_err *err)
{
    return read_canonical(path, g, 1, (void **)labels, err);
}

int lr_nifti_same_grid(const lr_nifti_geom *a, const lr_nifti_geom *b, lr_err *err)
{
    const size_t *da = a->storage_dims, *db = b->storage_dims;
    if (da[0] != db[0] || da[1] != db[1] || da[2] != db[2])
        return lr_fail(err, "dimensions %zux%zux%zu differ from the CT's %zux%zux%zu", db[0], db[1], db[2], da[0],
                       da[1], da[2]);
    double sa[3], sb[3];
    for (int c = 0; c < 3; c++) {
        sa[c] = sb[c] = 0;
        for (int r = 0; r < 3; r++) {
            sa[c] += a->storage_affine[r][c] * a->storage_affine[r][c];
            sb[c] += b->storage_affine[r][c] * b->storage_affine[r][c];
        }
        sa[c] = sqrt(sa[c]);
        sb[c] = sqrt(sb[c]);
    }
    for (int c = 0; c < 3; c++)
        if (fabs(sa[c] - sb[c]) > 1e-3 * sa[c])
            return lr_fail(err, "voxel spacing %g x %g x %g mm differs from the CT's %g x %g x %g mm", sb[0], sb[1],
                           sb[2], sa[0], sa[1], sa[2]);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) {
            double tol = c < 3 ? 1e-3 * sa[c] : 1e-3 * (1.0 + sa[0] + sa[1] + sa[2]);
            if (fabs(a->storage_affine[r][c] - b->storage_affine[r][c]) > tol)
                return lr_fail(err, "orientation or origin (voxel-to-world transform) differs from the CT's");
        }
    return 0;
}

void lr_nifti_canonical_affine(const size_t dims[3], const double spacing[3], const double origin_ras[3],
                               size_t storage_dims[3], double affine[3][4])
{
    memset(affine, 0, 12 * sizeof(double));
    affine[0][0] = -spacing[2]; /* i: column, right -> left = decreasing RAS x */
    affine[1][1] = -spacing[1]; /* j: row, anterior -> posterior = decreasing RAS y */
    affine[2][2] = -spacing[0]; /* k: slice, superior -> inferior = decreasing RAS z */
    for (int r = 0; r < 3; r++) affine[r][3] = origin_ras[r];
    storage_dims[0] = dims[2];
    storage_dims[1] = dims[1];
    storage_dims[2] = dims[0];
}

int lr_nifti_write(const char *path, int datatype, const size_t storage_dims[3], const double affine[3][4],
                   const void *data, lr_err *err)
{
    int64_t dims[8] = {3, (int64_t)storage_dims[0], (int64_t)storage_dims[1], (int64_t)storage_dims[2], 1, 1, 1, 1};
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_make_new_nim(dims, datatype, 0);
    if (!nim) return lr_fail(err, "%s: cannot create a NIfTI image (data type %d)", path, datatype);
    nifti_dmat44 m;
    memset(&m, 0, sizeof m);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) m.m[r][c] = affine[r][c];
    m.m[3][3] = 1;
    double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
    nifti_dmat44_to_quatern(m, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
    nim->quatern_b = qb;
    nim->quatern_c = qc;
    nim->quatern_d = qd;
    nim->qoffset_x = qx;
    nim->qoffset_y = qy;
    nim->qoffset_z = qz;
    nim->qfac = qfac;
    nim->dx = nim->pixdim[1] = dx;
    nim->dy = nim->pixdim[2] = dy;
    nim->dz = nim->pixdim[3] = dz;
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->qto_xyz = nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac);
    nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->sto_xyz = m;
    nim->sto_ijk = nifti_dmat44_inverse(m);
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    int rc = 0;
    if (nifti_set_filenames(nim, path, 0, 1) != 0) {
        rc = lr_fail(err, "%s: not a valid NIfTI file name (expected .nii or .nii.gz)", path);
    } else {
        nim->data = (void *)data; /* borrowed: detached before nifti_image_free */
        znzFile fp = nifti_image_write_hdr_img(nim, 3, "wb"); /* 1 = write data, 2 = leave open */
        if (znz_isnull(fp)) rc = lr_fail(err, "%s: cannot write NIfTI file", path);
        else znzclose(fp);
        nim->data = NULL;
    }
    nifti_image_free(nim);
    return rc;
}
