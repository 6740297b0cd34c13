/* NIfTI-1/-2 volumes (niftilib, .nii or .nii.gz) read into lesionrank's canonical axial layout, and a
 * small writer for the synthetic studies and tests.
 *
 * Canonical layout of an array read here: index [k][i][j] (j fastest) with
 *   k = slice,  superior -> inferior   (head to feet)
 *   i = row,    anterior -> posterior
 *   j = column, patient right -> patient left   (axial slices as a radiologist displays them)
 * The voxel-to-world transform is the sform when sform_code > 0, else the qform when qform_code > 0,
 * else the pixdim scaling (NIfTI "method 1"). World coordinates are NIfTI's RAS+ millimetres. Storage
 * axes are matched to the canonical ones by niftilib's nearest-orientation rule
 * (nifti_dmat44_to_orientation), so any permuted or flipped (LPS, RAS, ...) storage order reads the same;
 * an oblique transform is treated as its nearest axis-aligned orientation with spacing = column norms. */
#ifndef LR_DATA_NIFTI_H
#define LR_DATA_NIFTI_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define LR_NIFTI_MAX_SPACING_MM 50.0

typedef struct {
    size_t dims[3];          /* canonical D (slices), H (rows), W (columns) */
    double spacing[3];       /* mm along k, i, j */
    double to_world[3][4];   /* canonical (k, i, j, 1) -> RAS mm */
    size_t storage_dims[3];  /* nx, ny, nz as stored */
    double storage_affine[3][4]; /* stored (i, j, k, 1) -> RAS mm (the chosen sform/qform) */
} lr_nifti_geom;

/* Read a 3-D scalar image as float in the canonical layout (scl_slope/scl_inter applied). *data is
 * allocated [D*H*W]. Errors name the file: missing, not NIfTI, corrupt gzip / truncated data,
 * not 3-D, unsupported data type, spacing outside (0, 50] mm. */
int lr_nifti_read_float(const char *path, lr_nifti_geom *g, float **data, lr_err *err);
/* Same for a label map: every voxel must be a non-negative integer (error names the first voxel that
 * is not). *labels is allocated [D*H*W]. */
int lr_nifti_read_labels(const char *path, lr_nifti_geom *g, int32_t **labels, lr_err *err);

/* 0 when b is on a's voxel grid (same stored dimensions, spacing and transform within 1e-3 mm);
 * otherwise -1 with "dimensions ... differ from ..." / "voxel spacing ..." / "orientation or origin ...". */
int lr_nifti_same_grid(const lr_nifti_geom *a, const lr_nifti_geom *b, lr_err *err);

/* Write a NIfTI-1 file (.nii.gz compressed) with both qform and sform set to `affine`
 * (stored (i, j, k, 1) -> RAS mm). data is in storage order (i fastest); datatype is a NIFTI_TYPE_*
 * code (UINT8, INT16, INT32, FLOAT32). */
int lr_nifti_write(const char *path, int datatype, const size_t storage_dims[3], const double affine[3][4],
                   const void *data, lr_err *err);
/* The affine that stores a canonical [D][H][W] array as is (i = column R->L, j = row A->P,
 * k = slice S->I): diag(-sx, -sy, -sz) with voxel (0,0,0) at origin_ras. storage_dims = {W, H, D}. */
void lr_nifti_canonical_affine(const size_t dims[3], const double spacing[3], const double origin_ras[3],
                               size_t storage_dims[3], double affine[3][4]);

#endif
