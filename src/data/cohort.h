/* Cohort format v1 (HDF5): reader, writer, validator and summary. The format is documented in
 * README.md ("Cohort format v1"); the reader is the validator: it checks every dataset before use and fails
 * with a message naming the file, the dataset, the element and what was expected. */
#ifndef LR_DATA_COHORT_H
#define LR_DATA_COHORT_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define LR_COHORT_FORMAT "lesionrank-cohort"
#define LR_COHORT_VERSION 1
#define LR_PATCH 72
/* Air in Hounsfield units: what patches and volumes are padded with outside the CT. */
#define LR_HU_AIR (-1000)

typedef struct {
    int patch_size; /* root attribute patch_size (72) */

    size_t n_patients;          /* P */
    char **patient_id;          /* [P] */
    double *time_days;          /* [P] > 0 */
    int8_t *event;              /* [P] 1 death observed, 0 censored */
    int16_t *arm;               /* [P] treatment arm code */

    size_t n_annotations;       /* A */
    int32_t *ann_patient;       /* [A] index into patients */
    int16_t *ann_reader;        /* [A] reader id */
    int64_t *ann_first_lesion;  /* [A] first lesion row */
    int32_t *ann_n_lesions;     /* [A] number of lesion rows, contiguous from first */

    size_t n_lesions;           /* L */
    float *patch;               /* [L, patch, patch] HU; NULL when read with LR_COHORT_NO_PATCHES */
    double *volume_mm3;         /* [L] > 0 */
    double *diameter_mm;        /* [L] > 0 */
    double *volume_followup_mm3;/* [L] >= 0, NaN when no second time point */
    int16_t *organ;             /* [L] index into organ_name */
    int32_t *lesion_key;        /* [L] or NULL when /lesions/lesion_key is absent: one value per physical lesion
                                 * of a patient, shared by every reader's row of it; -1 unknown */

    size_t n_organs;            /* K */
    char **organ_name;          /* [K] */

    int has_volumes;            /* /volumes/ct present (not loaded; see lr_cohort_read_volume) */
    size_t volume_dims[3];      /* D, H, W */
    double volume_spacing_mm[3];/* z, y, x */

    int has_truth;                     /* synthetic cohorts only */
    double *truth_lesion_log_hazard;   /* [L] */
    double *truth_patient_log_hazard;  /* [P] */
} lr_cohort;

enum { LR_COHORT_NO_PATCHES = 1 };

/* Read and validate. On failure *c is freed and err holds "<path>: <what is wrong>". */
int lr_cohort_read(const char *path, int flags, lr_cohort *c, lr_err *err);
/* Write everything except /volumes (see below). Truncates path. Patches chunked per lesion. */
int lr_cohort_write(const char *path, const lr_cohort *c, lr_err *err);
/* Consistency checks on an in-memory cohort (what the reader checks on disk). */
int lr_cohort_check(const lr_cohort *c, lr_err *err);
void lr_cohort_free(lr_cohort *c);

/* /volumes/ct: create [P,D,H,W] int16 chunked per patient in an open file, then write one patient. */
int lr_cohort_volumes_create(hid_t file, size_t P, const size_t dims[3], const double spacing_mm[3], lr_err *err);
int lr_cohort_volume_write(hid_t file, size_t patient, const size_t dims[3], const int16_t *vol, lr_err *err);
/* Read one patient's volume [D*H*W] (validating finiteness when stored as floating point). */
int lr_cohort_read_volume(hid_t file, size_t patient, const size_t dims[3], int16_t *vol, lr_err *err);

typedef struct {
    size_t patients, events, annotations, lesions;
    double censored_fraction, median_time_days, readers_per_patient_mean;
    double lesions_per_patient_median, lesions_per_patient_q1, lesions_per_patient_q3;
    double followup_fraction; /* annotations whose scan has a second time point */
    double oracle_cindex;     /* NaN without truth: Harrell's C of /truth/patient_log_hazard (every true lesion,
                               * annotated or not, and the arm) -- not reachable from the annotations */
    double annotated_truth_cindex; /* NaN without truth: Harrell's C of the reachable ceiling, per patient the mean
                                    * over its annotations of log sum_l s(v_l) exp(h_l) over the lesions that
                                    * reader annotated (measured volume v_l, true h_l; see lr_synth_size_weight) */
    int has_lesion_keys;
    size_t physical_lesions;  /* distinct (patient, key >= 0) pairs; 0 without keys */
    double lesions_matched_fraction; /* rows, among patients with >= 2 annotations, whose key another reader's
                                      * row shares; NaN without keys or without such patients */
    size_t *organ_count;      /* [K] lesions per organ */
} lr_cohort_summary;

int lr_cohort_summarise(const lr_cohort *c, lr_cohort_summary *s, lr_err *err);
void lr_cohort_summary_free(lr_cohort_summary *s);

/* The reachable truth per patient (see annotated_truth_cindex); needs truth. out[P]. */
void lr_cohort_annotated_truth(const lr_cohort *c, double *out);

/* Per-patient lesion count: mean over the patient's annotations (readers) of n_lesions. out[P]. */
void lr_cohort_lesions_per_patient(const lr_cohort *c, double *out);

#endif
