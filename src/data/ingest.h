/* Ingest of real CT studies (NIfTI CT + per-reader lesion masks + organ masks + follow-up masks and a
 * clinical CSV) into cohort format v1. The user-facing description (inputs, definitions, errors) is the
 * README's "ingest" section; the pieces:
 *   ingest_csv.c      clinical CSV -> patients (per-row validation so bad rows can be skipped)
 *   ingest_lesion.c   connected components, per-lesion measures, the 72 x 72 patch (GSL bilinear)
 *   ingest_resample.c whole-volume trilinear resampling with centre crop/pad
 *   ingest_study.c    one study directory -> its annotations and lesion rows
 *   ingest.c          the driver: patients over MPI ranks, error gathering, parallel HDF5 output */
#ifndef LR_DATA_INGEST_H
#define LR_DATA_INGEST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "data/cohort.h"
#include "data/nifti.h"
#include "util/err.h"

#define LR_INGEST_MAX_ORGANS 64

/* Organ label table: organs.nii.gz label value -> index into names. Label 0 (and a lesion outside every
 * organ) maps to "other". */
typedef struct {
    size_t n_names;
    char *names[LR_INGEST_MAX_ORGANS];   /* /organs/name */
    size_t n_labels;
    int32_t label[LR_INGEST_MAX_ORGANS]; /* organ map value ... */
    int16_t index[LR_INGEST_MAX_ORGANS]; /* ... -> organ index */
    int16_t other;                       /* index of "other" (background, no organ map) */
} lr_organ_table;

/* The default table: 1 lung, 2 mediastinum, 3 bone, 4 liver, 5 other, 6 spleen, 7 kidney, 8 stomach
 * (the synthetic cohort's organ order, so label = organ index + 1). */
int lr_organ_table_default(lr_organ_table *t, lr_err *err);
/* A legend CSV with columns label,name (names new to the default table are appended). */
int lr_organ_table_read(const char *path, lr_organ_table *t, lr_err *err);
void lr_organ_table_free(lr_organ_table *t);

typedef struct {
    const char *clinical_csv;
    const char *studies_dir;
    const char *output;
    const char *organ_legend;  /* NULL: default table */
    int force;                 /* overwrite an existing output */
    int skip_bad;              /* skip bad patients (listed) instead of failing */
    int volumes;               /* write /volumes/ct */
    size_t volume_dims[3];     /* D, H, W (default 120 x 480 x 480) */
    double volume_spacing[3];  /* z, y, x mm (default 5 x 0.78125 x 0.78125) */
    int connectivity;          /* 26 (default) or 6, for binary masks */
    int quiet;                 /* no progress lines */
} lr_ingest_opts;

void lr_ingest_default_opts(lr_ingest_opts *o);

/* ---- clinical CSV ---- */
typedef struct {
    char *id;
    double time_days;
    int8_t event;
    int16_t arm;
    char error[512]; /* non-empty: this row is bad (time <= 0, event not 0/1, ...) */
} lr_clinical_row;

/* Reads patient_id,time_days,event,arm (other columns ignored). Structural problems (missing column,
 * ragged rows, duplicate ids) fail; value problems are recorded per row in rows[p].error. */
int lr_clinical_read(const char *path, lr_clinical_row **rows, size_t *n, lr_err *err);
void lr_clinical_free(lr_clinical_row *rows, size_t n);

/* ---- per-lesion measures (ingest_lesion.c) ---- */
typedef struct {
    int32_t label;
    size_t n_voxels;
    size_t lo[3], hi[3];     /* canonical bounding box (k, i, j), inclusive */
    double centroid[3];      /* canonical voxel coordinates (k, i, j) */
    double volume_mm3;
    double diameter_mm;      /* longest in-plane extent: see lr_lesion_measure */
} lr_lesion;

/* Label the 6- or 26-connected components of the non-zero voxels as 1..n (in place). Returns n or -1. */
long lr_label_components(int32_t *labels, const size_t dims[3], int connectivity, lr_err *err);
/* One lr_lesion per distinct positive label, sorted by label. *out allocated. */
int lr_lesion_measure(const int32_t *labels, const lr_nifti_geom *g, lr_lesion **out, size_t *n, lr_err *err);
/* The axial 2d x 2d patch centred on the lesion centroid at the nearest slice, resampled to
 * LR_PATCH x LR_PATCH by GSL bilinear interpolation on the physical grid; -1000 HU outside the volume. */
int lr_lesion_patch(const float *ct, const lr_nifti_geom *g, const lr_lesion *les, float *patch, lr_err *err);

/* ---- one study (ingest_study.c) ---- */
typedef struct {
    char *name;       /* file name token <reader> of lesions_<reader>.nii[.gz] */
    int16_t id;       /* /annotations/reader (assigned by the driver, see lr_reader_ids) */
    char *mask;       /* baseline mask path */
    char *followup;   /* follow-up mask path, NULL: no second time point */
} lr_reader;

typedef struct {
    char *dir, *ct;
    char *organs;             /* NULL: no organ map (every lesion is "other") */
    size_t n_readers;
    lr_reader *readers;       /* sorted by name after scan, by id after lr_reader_ids */
} lr_study_files;

typedef struct {
    size_t n_annotations;
    int16_t *reader;          /* [A] */
    int32_t *ann_n_lesions;   /* [A] */
    size_t n_lesions;
    float *patch;             /* [L, 72, 72] */
    double *volume_mm3, *diameter_mm, *volume_followup_mm3; /* [L] */
    int16_t *organ;           /* [L] */
    int32_t *lesion_key;      /* [L] physical lesion across readers (lr_match_readers) */
} lr_study_rows;

/* Lesion identity across readers (/lesions/lesion_key), the rule: readers are taken in id order. The first
 * reader's lesions get keys 0, 1, ... in row order. A later reader's lesion takes the key of the physical
 * lesion (any earlier reader's row of it) it overlaps with the greatest Dice coefficient 2|A∩B|/(|A|+|B|) on
 * the baseline masks, if that Dice is >= LR_MATCH_MIN_DICE; pairs are assigned in decreasing Dice (ties: lower
 * row, then lower key), at most one lesion of a reader per key. Lesions that match nothing get the next new
 * keys in row order. */
#define LR_MATCH_MIN_DICE 0.1

/* Lists the study directory (ct, organs, lesions_<reader>[_followup]); reader ids assigned later.
 * Fails (naming the directory and file) on a missing CT, no lesion mask, a follow-up without baseline. */
int lr_study_scan(const char *dir, lr_study_files *sf, lr_err *err);
/* Reader ids for all studies: the integer itself when every reader name in the cohort is an integer in
 * [0, 32767], otherwise the rank of the name in the sorted list of distinct names. Sorts each study's
 * readers by id. */
int lr_reader_ids(lr_study_files *studies, size_t n, int *mapped, lr_err *err);
void lr_study_files_free(lr_study_files *sf);
int lr_study_ingest(const lr_study_files *sf, const lr_organ_table *organs, int connectivity, lr_study_rows *rows,
                    lr_err *err);
void lr_study_rows_free(lr_study_rows *rows);

/* ---- the driver (ingest.c) ---- */
typedef struct {
    size_t patients, annotations, lesions, skipped;
    double seconds, studies_per_minute;
} lr_ingest_report;

/* Runs on every rank of comm (collective). Returns 0 on success on every rank; on failure every rank
 * returns -1 and rank 0's err holds the gathered messages (one line per bad study). Prints progress
 * and the summary on rank 0 (stdout) unless quiet. */
int lr_ingest_run(const lr_ingest_opts *o, MPI_Comm comm, lr_ingest_report *rep, lr_err *err);

#endif
