/* Ingest: NIfTI orientation handling, connected components, lesion measures, patches, resampling, bad
 * studies, the nibabel fixture, and the synth -> NIfTI -> ingest round trip. Runs as an MPI singleton. */
#include <math.h>
#include <mpi.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "data/cohort.h"
#include "data/ingest.h"
#include "data/resample.h"
#include "data/nifti.h"
#include "data/synth.h"

static char tmpdir[512];

static const char *tmp_path(const char *name)
{
    static char buf[8][700];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Canonical direction (RAS) of slice, row, column: S->I, A->P, R->L. */
static const double canon_dir[3][3] = {{0, 0, -1}, {0, -1, 0}, {-1, 0, 0}};

/* Store a canonical float array with canonical axis c on storage axis perm[c], reversed when flip[c]. */
static int write_permuted(const char *path, const float *canon, const size_t dims[3], const double sp[3],
                          const double origin[3], const int perm[3], const int flip[3], lr_err *err)
{
    size_t sd[3];
    double aff[3][4] = {{0}};
    for (int c = 0; c < 3; c++) sd[perm[c]] = dims[c];
    for (int r = 0; r < 3; r++) aff[r][3] = origin[r];
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 3; r++) {
            double step = canon_dir[c][r] * sp[c];
            aff[r][perm[c]] = flip[c] ? -step : step;
            if (flip[c]) aff[r][3] += step * (double)(dims[c] - 1);
        }
    size_t n = dims[0] * dims[1] * dims[2];
    float *st = malloc(n * sizeof *st);
    if (!st) return -1;
    for (size_t k = 0; k < dims[0]; k++)
        for (size_t i = 0; i < dims[1]; i++)
            for (size_t j = 0; j < dims[2]; j++) {
                size_t idx[3] = {k, i, j}, s[3];
                for (int c = 0; c < 3; c++) s[perm[c]] = flip[c] ? dims[c] - 1 - idx[c] : idx[c];
                st[s[0] + sd[0] * (s[1] + sd[1] * s[2])] = canon[(k * dims[1] + i) * dims[2] + j];
            }
    int rc = lr_nifti_write(path, NIFTI_TYPE_FLOAT32, sd, aff, st, err);
    free(st);
    return rc;
}

static void test_orientation(void)
{
    size_t dims[3] = {5, 6, 7}, n = 5 * 6 * 7;
    double sp[3] = {2.5, 0.8, 0.9}, origin[3] = {12, -30, 40};
    float *canon = malloc(n * sizeof *canon);
    for (size_t v = 0; v < n; v++) canon[v] = (float)v;
    static const int perms[4][3] = {{2, 1, 0}, {0, 1, 2}, {1, 2, 0}, {2, 0, 1}};
    static const int flips[4][3] = {{0, 0, 0}, {1, 0, 1}, {0, 1, 0}, {1, 1, 1}};
    lr_nifti_geom ref;
    memset(&ref, 0, sizeof ref);
    for (int t = 0; t < 4; t++) {
        lr_err err = {0};
        const char *path = tmp_path("orient.nii.gz");
        CHECK_MSG(write_permuted(path, canon, dims, sp, origin, perms[t], flips[t], &err) == 0, "%s", err.msg);
        lr_nifti_geom g;
        float *back = NULL;
        CHECK_MSG(lr_nifti_read_float(path, &g, &back, &err) == 0, "%s", err.msg);
        if (!back) continue;
        for (int c = 0; c < 3; c++) {
            CHECK(g.dims[c] == dims[c]);
            CHECK_CLOSE(g.spacing[c], sp[c], 1e-5, 0);
        }
        CHECK(memcmp(back, canon, n * sizeof *canon) == 0);
        if (t == 0) ref = g;
        for (int r = 0; r < 3; r++) /* the canonical voxel-to-world transform does not depend on storage */
            for (int c = 0; c < 4; c++) CHECK_CLOSE(g.to_world[r][c], ref.to_world[r][c], 1e-4, 0);
        free(back);
    }
    CHECK_CLOSE(ref.to_world[0][3], origin[0], 1e-4, 0);
    free(canon);
}

static void test_components(void)
{
    size_t dims[3] = {3, 4, 4};
    int32_t lab[48] = {0};
    lr_err err = {0};
    /* two voxels touching only at a corner (diagonal in 3-D), and a separate pair */
    lab[(0 * 4 + 0) * 4 + 0] = 1;
    lab[(1 * 4 + 1) * 4 + 1] = 1;
    lab[(2 * 4 + 3) * 4 + 3] = 1;
    lab[(2 * 4 + 3) * 4 + 2] = 1;
    int32_t copy[48];
    memcpy(copy, lab, sizeof lab);
    CHECK(lr_label_components(lab, dims, 26, &err) == 2);
    CHECK(lr_label_components(copy, dims, 6, &err) == 3);
    CHECK(lab[0] == 1 && lab[(1 * 4 + 1) * 4 + 1] == 1 && lab[(2 * 4 + 3) * 4 + 3] == 2);
    CHECK(lr_label_components(copy, dims, 8, &err) == -1);
}

static lr_nifti_geom geom(size_t D, size_t H, size_t W, double sz, double sy, double sx)
{
    lr_nifti_geom g;
    memset(&g, 0, sizeof g);
    g.dims[0] = D, g.dims[1] = H, g.dims[2] = W;
    g.spacing[0] = sz, g.spacing[1] = sy, g.spacing[2] = sx;
    return g;
}

static void test_measures(void)
{
    /* A 3 x 4 pixel rectangle on 2 slices: volume 24 voxels, diameter = its pixel-corner diagonal. */
    lr_nifti_geom g = geom(4, 10, 10, 2.0, 0.5, 0.75);
    int32_t *lab = calloc(400, sizeof *lab);
    for (size_t k = 1; k <= 2; k++)
        for (size_t i = 2; i < 5; i++)
            for (size_t j = 3; j < 7; j++) lab[(k * 10 + i) * 10 + j] = 7;
    lab[(3 * 10 + 9) * 10 + 9] = 3; /* a one-voxel lesion: diameter = the pixel diagonal */
    lr_lesion *les = NULL;
    size_t n = 0;
    lr_err err = {0};
    CHECK_MSG(lr_lesion_measure(lab, &g, &les, &n, &err) == 0, "%s", err.msg);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(les[0].label == 3 && les[1].label == 7);
        CHECK(les[1].n_voxels == 24);
        CHECK_CLOSE(les[1].volume_mm3, 24 * 2.0 * 0.5 * 0.75, 1e-9, 0);
        CHECK_CLOSE(les[1].diameter_mm, hypot(3 * 0.5, 4 * 0.75), 1e-9, 0);
        CHECK_CLOSE(les[0].diameter_mm, hypot(0.5, 0.75), 1e-9, 0);
        CHECK(les[1].lo[0] == 1 && les[1].hi[0] == 2 && les[1].lo[1] == 2 && les[1].hi[1] == 4);
        CHECK_CLOSE(les[1].centroid[0], 1.5, 1e-12, 0);
        CHECK_CLOSE(les[1].centroid[2], 4.5, 1e-12, 0);
    }
    free(les);
    free(lab);
}

static void test_patch(void)
{
    /* CT = a linear ramp in HU along rows and columns: bilinear interpolation is exact, so the patch is
     * the ramp at the patch's physical sample points; outside the volume is air. */
    lr_nifti_geom g = geom(3, 40, 50, 3.0, 0.7, 0.9);
    float *ct = malloc(3 * 40 * 50 * sizeof *ct);
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < 40; i++)
            for (size_t j = 0; j < 50; j++) ct[(k * 40 + i) * 50 + j] = (float)(100.0 * k + 2.0 * i * 0.7 - 3.0 * j * 0.9);
    lr_lesion les = {0};
    les.centroid[0] = 1.2, les.centroid[1] = 20.0, les.centroid[2] = 25.0;
    les.diameter_mm = 6.0;
    float patch[LR_PATCH * LR_PATCH];
    lr_err err = {0};
    CHECK_MSG(lr_lesion_patch(ct, &g, &les, patch, &err) == 0, "%s", err.msg);
    double step = 12.0 / LR_PATCH, cy = 20 * 0.7, cx = 25 * 0.9;
    int bad = 0;
    for (int r = 0; r < LR_PATCH; r++)
        for (int c = 0; c < LR_PATCH; c++) {
            double y = cy - 6 + (r + 0.5) * step, x = cx - 6 + (c + 0.5) * step;
            bad += fabs(patch[r * LR_PATCH + c] - (100.0 + 2.0 * y - 3.0 * x)) > 1e-3;
        }
    CHECK_MSG(bad == 0, "%d pixels off the ramp", bad);
    /* rows run anterior -> posterior (row index up), columns right -> left (column index up) */
    CHECK(patch[LR_PATCH * (LR_PATCH - 1)] > patch[0] && patch[LR_PATCH - 1] < patch[0]);
    les.centroid[1] = 1.0; /* near the anterior edge: the top rows fall outside -> air */
    CHECK(lr_lesion_patch(ct, &g, &les, patch, &err) == 0);
    CHECK(patch[0] == -1000.0f && patch[LR_PATCH * (LR_PATCH - 1)] != -1000.0f);
    free(ct);
}

static void test_resample(void)
{
    /* Linear ramp: trilinear resampling reproduces it inside; the pad is air. */
    lr_nifti_geom g = geom(10, 20, 20, 2.0, 1.0, 1.0);
    float *ct = malloc(10 * 20 * 20 * sizeof *ct);
    for (size_t k = 0; k < 10; k++)
        for (size_t i = 0; i < 20; i++)
            for (size_t j = 0; j < 20; j++) ct[(k * 20 + i) * 20 + j] = (float)(10.0 * k * 2.0 + 3.0 * i - 2.0 * j);
    size_t od[3] = {8, 30, 10};
    double os[3] = {2.5, 1.0, 1.5};
    int16_t *out = malloc(8 * 30 * 10 * sizeof *out);
    lr_volume_resample(out, LR_VOXEL_INT16, od, os, ct, LR_VOXEL_FLOAT, g.dims, g.spacing, LR_HU_AIR);
    /* output voxel (k,i,j) at mm from centre; input index = 4.5 + z/2 etc. */
    for (size_t k = 1; k < 7; k++) {
        double z = ((double)k - 3.5) * 2.5, fi = 9.5 + ((double)5 - 14.5) * 1.0, fj = 9.5 + ((double)4 - 4.5) * 1.5;
        double fk = 4.5 + z / 2.0;
        double expect = 10.0 * fk * 2.0 + 3.0 * fi - 2.0 * fj;
        CHECK_CLOSE(out[(k * 30 + 5) * 10 + 4], expect, 0.51, 0);
    }
    CHECK(out[(3 * 30 + 0) * 10 + 4] == -1000); /* rows beyond the 20 mm input: padded with air */
    free(ct);
    free(out);
}

/* ---- small studies written from C ---- */

static int write_canon(const char *path, int dt, const void *data, const size_t dims[3], const double sp[3])
{
    double origin[3] = {0, 0, 0}, aff[3][4];
    size_t sd[3];
    lr_err err = {0};
    lr_nifti_canonical_affine(dims, sp, origin, sd, aff);
    int rc = lr_nifti_write(path, dt, sd, aff, data, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

/* A study: CT 6 x 20 x 20 at 2 x 1 x 1 mm with two box lesions (labels 1 and 2) in the liver (4). */
static void make_study(const char *dir, int with_followup)
{
    mkdir(dir, 0777);
    size_t dims[3] = {6, 20, 20}, n = 2400;
    double sp[3] = {2, 1, 1};
    int16_t *ct = malloc(n * 2), *les = calloc(n, 2), *fu = calloc(n, 2);
    uint8_t *org = calloc(n, 1);
    for (size_t v = 0; v < n; v++) ct[v] = 40, org[v] = 4;
    for (size_t k = 1; k < 4; k++)
        for (size_t i = 3; i < 7; i++)
            for (size_t j = 3; j < 6; j++) les[(k * 20 + i) * 20 + j] = 1, fu[(k * 20 + i) * 20 + j] = 1;
    for (size_t k = 2; k < 5; k++)
        for (size_t i = 12; i < 15; i++)
            for (size_t j = 12; j < 17; j++) les[(k * 20 + i) * 20 + j] = 2;
    char path[800];
    snprintf(path, sizeof path, "%s/ct.nii.gz", dir);
    write_canon(path, NIFTI_TYPE_INT16, ct, dims, sp);
    snprintf(path, sizeof path, "%s/lesions_2.nii.gz", dir);
    write_canon(path, NIFTI_TYPE_INT16, les, dims, sp);
    snprintf(path, sizeof path, "%s/organs.nii.gz", dir);
    write_canon(path, NIFTI_TYPE_UINT8, org, dims, sp);
    if (with_followup) {
        snprintf(path, sizeof path, "%s/lesions_2_followup.nii.gz", dir);
        write_canon(path, NIFTI_TYPE_INT16, fu, dims, sp);
    }
    free(ct);
    free(les);
    free(fu);
    free(org);
}

static int ingest_dir(const char *dir, lr_study_rows *rows, lr_err *err)
{
    lr_study_files sf;
    lr_organ_table t;
    if (lr_organ_table_default(&t, err)) return -1;
    int mapped, rc = lr_study_scan(dir, &sf, err);
    if (rc == 0) rc = lr_reader_ids(&sf, 1, &mapped, err);
    if (rc == 0) rc = lr_study_ingest(&sf, &t, 26, rows, err);
    if (sf.dir) lr_study_files_free(&sf);
    lr_organ_table_free(&t);
    return rc;
}

static void test_study(void)
{
    const char *dir = tmp_path("study_ok");
    make_study(dir, 1);
    lr_study_rows rows;
    lr_err err = {0};
    CHECK_MSG(ingest_dir(dir, &rows, &err) == 0, "%s", err.msg);
    if (rows.n_lesions != 2) {
        CHECK(rows.n_lesions == 2);
        return;
    }
    CHECK(rows.n_annotations == 1 && rows.reader[0] == 2 && rows.ann_n_lesions[0] == 2);
    CHECK_CLOSE(rows.volume_mm3[0], 36 * 2.0, 1e-9, 0);
    CHECK_CLOSE(rows.volume_mm3[1], 45 * 2.0, 1e-9, 0);
    CHECK(rows.organ[0] == ORGAN_LIVER && rows.organ[1] == ORGAN_LIVER);
    CHECK_CLOSE(rows.volume_followup_mm3[0], 72.0, 1e-9, 0);
    CHECK(rows.volume_followup_mm3[1] == 0.0); /* label 2 absent at follow-up: gone */
    CHECK_CLOSE(rows.diameter_mm[0], 5.0, 1e-9, 0);
    lr_study_rows_free(&rows);
}

/* Lesion identity across readers (the rule in ingest.h), on hand-made label maps of the make_study grid. */
static void paint_box(int16_t *m, int value, size_t k0, size_t k1, size_t i0, size_t i1, size_t j0, size_t j1)
{
    for (size_t k = k0; k <= k1; k++)
        for (size_t i = i0; i <= i1; i++)
            for (size_t j = j0; j <= j1; j++) m[(k * 20 + i) * 20 + j] = (int16_t)value;
}

static void test_lesion_matching(void)
{
    const char *dir = tmp_path("study_match");
    make_study(dir, 0); /* reader 2: label 1 = box k1-3 i3-6 j3-5 (36 voxels), label 2 = k2-4 i12-14 j12-16 */
    size_t dims[3] = {6, 20, 20}, n = 2400;
    double sp[3] = {2, 1, 1};
    int16_t *m5 = calloc(n, 2), *m7 = calloc(n, 2);
    CHECK(m5 && m7);
    paint_box(m5, 1, 2, 4, 12, 14, 12, 16); /* = reader 2's lesion 2: Dice 1 -> key 1 */
    paint_box(m5, 2, 0, 1, 16, 19, 0, 3);   /* overlaps nothing -> new key 2 */
    paint_box(m5, 3, 1, 3, 3, 6, 4, 6);     /* reader 2's lesion 1 moved 1 voxel: Dice 2*24/72 -> key 0 */
    paint_box(m5, 4, 1, 1, 3, 3, 0, 3);     /* touches lesion 1 in one voxel: Dice 2/40 < 0.1 -> new key 3 */
    paint_box(m7, 1, 0, 1, 16, 19, 0, 3);   /* = reader 5's new lesion -> key 2 */
    paint_box(m7, 2, 1, 3, 3, 6, 3, 5);     /* = reader 2's lesion 1 -> key 0 */
    char path[800];
    snprintf(path, sizeof path, "%s/lesions_5.nii.gz", dir);
    CHECK(write_canon(path, NIFTI_TYPE_INT16, m5, dims, sp) == 0);
    snprintf(path, sizeof path, "%s/lesions_7.nii.gz", dir);
    CHECK(write_canon(path, NIFTI_TYPE_INT16, m7, dims, sp) == 0);
    free(m5);
    free(m7);
    lr_study_rows rows;
    lr_err err = {0};
    CHECK_MSG(ingest_dir(dir, &rows, &err) == 0, "%s", err.msg);
    const int32_t want[8] = {0, 1, 1, 2, 0, 3, 2, 0};
    CHECK(rows.n_annotations == 3 && rows.n_lesions == 8);
    for (size_t l = 0; l < 8 && rows.n_lesions == 8; l++)
        CHECK_MSG(rows.lesion_key[l] == want[l], "row %zu: key %d, expected %d", l, rows.lesion_key[l], want[l]);
    lr_study_rows_free(&rows);
}

/* Replace one file of a fresh copy of the good study and expect an error mentioning `needle`. */
static void expect_bad(const char *name, const char *file, int dt, const void *data, const size_t dims[3],
                       const double sp[3], const char *needle)
{
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s", tmp_path(name));
    make_study(dir, 1);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (data) write_canon(path, dt, data, dims, sp);
    else unlink(path);
    lr_study_rows rows;
    lr_err err = {0};
    int rc = ingest_dir(dir, &rows, &err);
    CHECK_MSG(rc != 0, "%s: accepted", name);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", name, err.msg, needle);
    if (rc == 0) lr_study_rows_free(&rows);
}

static void test_bad_studies(void)
{
    size_t dims[3] = {6, 20, 20}, small[3] = {6, 20, 19}, n = 2400;
    double sp[3] = {2, 1, 1}, sp_other[3] = {2, 1, 1.5}, sp_zero[3] = {0, 1, 1}, sp_huge[3] = {60, 1, 1};
    int16_t *zeros = calloc(n, 2);
    float *f = calloc(n, sizeof *f);
    expect_bad("bad_noct", "ct.nii.gz", 0, NULL, dims, sp, "missing ct.nii.gz");
    expect_bad("bad_nomask", "lesions_2.nii.gz", 0, NULL, dims, sp, "lesions_2_followup without the baseline");
    expect_bad("bad_dims", "lesions_2.nii.gz", NIFTI_TYPE_INT16, zeros, small, sp, "dimensions 19x20x6 differ");
    expect_bad("bad_spacing", "lesions_2.nii.gz", NIFTI_TYPE_INT16, zeros, dims, sp_other, "voxel spacing");
    expect_bad("bad_empty", "lesions_2.nii.gz", NIFTI_TYPE_INT16, zeros, dims, sp, "lesions_2.nii.gz: empty mask");
    f[100] = 1.5f;
    expect_bad("bad_nonint", "lesions_2.nii.gz", NIFTI_TYPE_FLOAT32, f, dims, sp, "expected a non-negative integer label");
    f[100] = NAN;
    expect_bad("bad_nan", "ct.nii.gz", NIFTI_TYPE_FLOAT32, f, dims, sp, "ct.nii.gz: non-finite value");
    expect_bad("bad_zero_spacing", "ct.nii.gz", NIFTI_TYPE_INT16, zeros, dims, sp_zero, "expected each in (0, 50] mm");
    expect_bad("bad_huge_spacing", "ct.nii.gz", NIFTI_TYPE_INT16, zeros, dims, sp_huge, "expected each in (0, 50] mm");
    expect_bad("bad_organs", "organs.nii.gz", NIFTI_TYPE_INT16, zeros, small, sp, "organs.nii.gz: dimensions");
    for (size_t v = 0; v < n; v++) zeros[v] = 99;
    expect_bad("bad_organ_label", "organs.nii.gz", NIFTI_TYPE_INT16, zeros, dims, sp, "organ label 99 is not in");
    /* not NIfTI, corrupt gzip */
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s", tmp_path("bad_text"));
    make_study(dir, 0);
    snprintf(path, sizeof path, "%s/ct.nii.gz", dir);
    FILE *fp = fopen(path, "w");
    fputs("this is not an image\n", fp);
    fclose(fp);
    lr_study_rows rows;
    lr_err err = {0};
    CHECK(ingest_dir(dir, &rows, &err) != 0 && strstr(err.msg, "ct.nii.gz: not a NIfTI file"));
    snprintf(path, sizeof path, "%s/lesions_2.nii.gz", dir);
    make_study(dir, 0);
    fp = fopen(path, "r+b");
    fseek(fp, 12, SEEK_SET);
    for (int k = 0; k < 64; k++) fputc(0xA5, fp);
    fclose(fp);
    CHECK_MSG(ingest_dir(dir, &rows, &err) != 0 && strstr(err.msg, "lesions_2.nii.gz: corrupt"), "%s", err.msg);
    /* a damaged gzip trailer (CRC-32): only the end-of-stream check catches it */
    make_study(dir, 0);
    fp = fopen(path, "r+b");
    fseek(fp, -6, SEEK_END);
    int byte = fgetc(fp);
    fseek(fp, -6, SEEK_END);
    fputc(byte ^ 0xff, fp);
    fclose(fp);
    CHECK_MSG(ingest_dir(dir, &rows, &err) != 0 && (strstr(err.msg, "lesions_2.nii.gz: cannot read the voxel data") ||
                                                     strstr(err.msg, "lesions_2.nii.gz: corrupt")),
              "%s", err.msg);
    free(zeros);
    free(f);
}

static void test_clinical(void)
{
    const char *path = tmp_path("clin.csv");
    FILE *f = fopen(path, "w");
    fputs("patient_id,site,time_days,event,arm\nA,x,100,1,0\nB,y,0,1,0\nC,z,50,2,1\nD,w,12.5,0,3\n", f);
    fclose(f);
    lr_clinical_row *rows = NULL;
    size_t n = 0;
    lr_err err = {0};
    CHECK_MSG(lr_clinical_read(path, &rows, &n, &err) == 0, "%s", err.msg);
    CHECK(n == 4);
    if (n == 4) {
        CHECK(!rows[0].error[0] && rows[0].time_days == 100 && rows[0].event == 1);
        CHECK(strstr(rows[1].error, "patient B: time_days '0': expected a number > 0") != NULL);
        CHECK(strstr(rows[2].error, "patient C: event '2'") != NULL);
        CHECK(!rows[3].error[0] && rows[3].arm == 3);
    }
    lr_clinical_free(rows, n);
    f = fopen(path, "w");
    fputs("patient_id,time_days,event,arm\nA,1,1,0\nA,2,0,0\n", f);
    fclose(f);
    CHECK(lr_clinical_read(path, &rows, &n, &err) != 0 && strstr(err.msg, "appears twice"));
}

/* ---- the nibabel fixture: the same anatomy stored RAS (P1) and LPS-permuted (P2) ---- */
static void test_fixture(void)
{
    const char *ref = "tests/references/ingest";
    char csv[600], studies[600];
    snprintf(csv, sizeof csv, "%s/clinical.csv", ref);
    snprintf(studies, sizeof studies, "%s/studies", ref);
    lr_ingest_opts o;
    lr_ingest_default_opts(&o);
    o.clinical_csv = csv;
    o.studies_dir = studies;
    o.output = tmp_path("fixture.h5");
    o.quiet = 1;
    o.volumes = 1;
    o.volume_dims[0] = 8, o.volume_dims[1] = 24, o.volume_dims[2] = 24;
    o.volume_spacing[0] = 4, o.volume_spacing[1] = 2, o.volume_spacing[2] = 2;
    lr_ingest_report rep;
    lr_err err = {0};
    CHECK_MSG(lr_ingest_run(&o, MPI_COMM_WORLD, &rep, &err) == 0, "%s", err.msg);
    lr_cohort c;
    if (lr_cohort_read(o.output, 0, &c, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    /* expected.csv (written by the generator): patient,reader,label,volume_mm3,organ,followup_mm3 */
    char exp_path[600], line[512];
    snprintf(exp_path, sizeof exp_path, "%s/expected.csv", ref);
    FILE *f = fopen(exp_path, "r");
    CHECK(f != NULL);
    size_t row = 0;
    while (f && fgets(line, sizeof line, f)) {
        char pid[64], organ[64];
        int reader, label;
        double vol, fu;
        if (sscanf(line, "%63[^,],%d,%d,%lf,%63[^,],%lf", pid, &reader, &label, &vol, organ, &fu) != 6) continue;
        CHECK(row < c.n_lesions);
        if (row >= c.n_lesions) break;
        CHECK_CLOSE(c.volume_mm3[row], vol, 1e-6, 1e-6);
        CHECK_MSG(!strcmp(c.organ_name[c.organ[row]], organ), "row %zu organ %s, expected %s", row,
                  c.organ_name[c.organ[row]], organ);
        if (isnan(fu)) CHECK(isnan(c.volume_followup_mm3[row]));
        else CHECK_CLOSE(c.volume_followup_mm3[row], fu, 1e-6, 1e-6);
        row++;
    }
    if (f) fclose(f);
    CHECK(row == c.n_lesions && row > 0);
    /* P1 (RAS storage) and P2 (the same voxels stored LPS with permuted axes) read identically. */
    CHECK(c.n_patients == 2 && c.n_annotations == 4);
    if (c.n_annotations == 4) {
        for (int a = 0; a < 2; a++) {
            CHECK(c.ann_n_lesions[a] == c.ann_n_lesions[a + 2]);
            for (int t = 0; t < c.ann_n_lesions[a]; t++) {
                size_t l1 = (size_t)(c.ann_first_lesion[a] + t), l2 = (size_t)(c.ann_first_lesion[a + 2] + t);
                CHECK_CLOSE(c.diameter_mm[l1], c.diameter_mm[l2], 1e-6, 0);
                double maxdiff = 0;
                for (int px = 0; px < LR_PATCH * LR_PATCH; px++)
                    maxdiff = fmax(maxdiff, fabs(c.patch[l1 * LR_PATCH * LR_PATCH + px] - c.patch[l2 * LR_PATCH * LR_PATCH + px]));
                CHECK_MSG(maxdiff < 1e-3, "patch %zu vs %zu differ by %g", l1, l2, maxdiff);
            }
        }
        /* The CT is HU = 1000 - 4 * (RAS x): patient-left columns (higher index) have lower x, higher HU. */
        const float *p = c.patch;
        CHECK(p[36 * LR_PATCH + 60] > p[36 * LR_PATCH + 10]);
    }
    hid_t h = H5Fopen(o.output, H5F_ACC_RDONLY, H5P_DEFAULT);
    int16_t v1[8 * 24 * 24], v2[8 * 24 * 24];
    CHECK(lr_cohort_read_volume(h, 0, o.volume_dims, v1, &err) == 0 && lr_cohort_read_volume(h, 1, o.volume_dims, v2, &err) == 0);
    CHECK(memcmp(v1, v2, sizeof v1) == 0);
    H5Fclose(h);
    lr_cohort_free(&c);
}

/* ---- synth -> NIfTI -> ingest round trip ---- */
static void test_round_trip(void)
{
    lr_synth_params prm;
    lr_synth_default_params(&prm);
    prm.patients = 3;
    prm.seed = 11;
    prm.volume_dims[0] = 48, prm.volume_dims[1] = 96, prm.volume_dims[2] = 96;
    lr_err err = {0};
    const char *h5 = tmp_path("rt_synth.h5"), *dir = tmp_path("rt_nifti"), *out = tmp_path("rt_ingest.h5");
    CHECK_MSG(lr_synth_write(h5, &prm, &err) == 0, "%s", err.msg);
    CHECK_MSG(lr_synth_write_nifti(dir, &prm, &err) == 0, "%s", err.msg);
    char csv[800];
    snprintf(csv, sizeof csv, "%s/clinical.csv", dir);
    lr_ingest_opts o;
    lr_ingest_default_opts(&o);
    o.clinical_csv = csv, o.studies_dir = dir, o.output = out, o.quiet = 1;
    lr_ingest_report rep;
    CHECK_MSG(lr_ingest_run(&o, MPI_COMM_WORLD, &rep, &err) == 0, "%s", err.msg);
    lr_cohort a, b;
    if (lr_cohort_read(h5, LR_COHORT_NO_PATCHES, &a, &err) || lr_cohort_read(out, LR_COHORT_NO_PATCHES, &b, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    CHECK(a.n_patients == b.n_patients && a.n_annotations == b.n_annotations && a.n_lesions == b.n_lesions);
    if (a.n_lesions != b.n_lesions || a.n_annotations != b.n_annotations) return;
    for (size_t p = 0; p < a.n_patients; p++) {
        CHECK(!strcmp(a.patient_id[p], b.patient_id[p]) && a.time_days[p] == b.time_days[p]);
        CHECK(a.event[p] == b.event[p] && a.arm[p] == b.arm[p]);
    }
    for (size_t k = 0; k < a.n_annotations; k++)
        CHECK(a.ann_patient[k] == b.ann_patient[k] && a.ann_reader[k] == b.ann_reader[k] &&
              a.ann_n_lesions[k] == b.ann_n_lesions[k] && a.ann_first_lesion[k] == b.ann_first_lesion[k]);
    /* Voxelisation error bound: surface area (<= 1.3 x the equal-volume sphere's for these ellipsoids)
     * times half the voxel diagonal. */
    double sp[3] = {600.0 / 48, 375.0 / 96, 375.0 / 96}, h = 0.5 * sqrt(sp[0] * sp[0] + sp[1] * sp[1] + sp[2] * sp[2]);
    size_t organ_bad = 0, vol_bad = 0, fu_bad = 0;
    for (size_t l = 0; l < a.n_lesions; l++) {
        organ_bad += a.organ[l] != b.organ[l];
        double r = cbrt(3 * a.volume_mm3[l] / (4 * M_PI));
        vol_bad += fabs(b.volume_mm3[l] - a.volume_mm3[l]) > 1.3 * 4 * M_PI * r * r * h;
        double fa = a.volume_followup_mm3[l], fb = b.volume_followup_mm3[l];
        if (isnan(fa) || fa == 0) fu_bad += isnan(fa) != isnan(fb) || (fa == 0) != (fb == 0);
        else {
            double rf = cbrt(3 * fa / (4 * M_PI));
            fu_bad += !(fabs(fb - fa) <= 1.3 * 4 * M_PI * rf * rf * h);
        }
    }
    CHECK_MSG(organ_bad == 0, "%zu organs differ", organ_bad);
    CHECK_MSG(vol_bad == 0, "%zu volumes outside the voxelisation bound", vol_bad);
    CHECK_MSG(fu_bad == 0, "%zu follow-ups differ", fu_bad);
    lr_cohort_free(&a);
    lr_cohort_free(&b);
}

/* A failed ingest leaves neither the output nor a temporary file; an existing output is refused. */
static void test_driver_failures(void)
{
    const char *studies = tmp_path("drv");
    mkdir(studies, 0777);
    char dir[800], csv[800];
    snprintf(dir, sizeof dir, "%s/P1", studies);
    make_study(dir, 0);
    snprintf(dir, sizeof dir, "%s/P9", studies); /* orphan */
    make_study(dir, 0);
    snprintf(csv, sizeof csv, "%s/clin.csv", tmpdir);
    FILE *f = fopen(csv, "w");
    fputs("patient_id,time_days,event,arm\nP1,100,1,0\nP2,200,0,1\n", f);
    fclose(f);
    lr_ingest_opts o;
    lr_ingest_default_opts(&o);
    o.clinical_csv = csv, o.studies_dir = studies, o.output = tmp_path("drv.h5"), o.quiet = 1;
    lr_ingest_report rep;
    lr_err err = {0};
    fprintf(stderr, "(expected errors follow)\n");
    CHECK(lr_ingest_run(&o, MPI_COMM_WORLD, &rep, &err) != 0 && strstr(err.msg, "2 bad studies"));
    CHECK(access(o.output, F_OK) != 0);
    o.skip_bad = 1;
    CHECK_MSG(lr_ingest_run(&o, MPI_COMM_WORLD, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.patients == 1 && rep.skipped == 2 && rep.lesions == 2);
    CHECK(lr_ingest_run(&o, MPI_COMM_WORLD, &rep, &err) != 0 && strstr(err.msg, "refusing to overwrite"));
    o.force = 1;
    CHECK(lr_ingest_run(&o, MPI_COMM_WORLD, &rep, &err) == 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp- > /dev/null", tmpdir);
    CHECK(system(cmd) != 0); /* no temporary file left behind */
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(tmpdir, sizeof tmpdir, "%s/test_ingest_XXXXXX", getenv("TMPDIR_TESTS") ? getenv("TMPDIR_TESTS") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_orientation);
    RUN(test_components);
    RUN(test_measures);
    RUN(test_patch);
    RUN(test_resample);
    RUN(test_study);
    RUN(test_lesion_matching);
    RUN(test_bad_studies);
    RUN(test_clinical);
    RUN(test_fixture);
    RUN(test_round_trip);
    RUN(test_driver_failures);
    int rc = TEST_SUMMARY();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    MPI_Finalize();
    return rc;
}
