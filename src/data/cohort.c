#include "data/cohort.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth.h"
#include "survival/concordance.h"
#include "util/h5.h"

void lr_cohort_free(lr_cohort *c)
{
    lr_h5_free_strings(c->patient_id, c->n_patients);
    lr_h5_free_strings(c->organ_name, c->n_organs);
    free(c->time_days);
    free(c->event);
    free(c->arm);
    free(c->ann_patient);
    free(c->ann_reader);
    free(c->ann_first_lesion);
    free(c->ann_n_lesions);
    free(c->patch);
    free(c->volume_mm3);
    free(c->diameter_mm);
    free(c->volume_followup_mm3);
    free(c->organ);
    free(c->lesion_key);
    free(c->truth_lesion_log_hazard);
    free(c->truth_patient_log_hazard);
    memset(c, 0, sizeof *c);
}

/* ---- validation of in-memory arrays (shared by reader and writer) ---- */

static int check_patients(const lr_cohort *c, lr_err *err)
{
    if (c->n_patients == 0) return lr_fail(err, "/patients/id: no patients (expected at least one)");
    for (size_t p = 0; p < c->n_patients; p++) {
        if (!c->patient_id[p] || !c->patient_id[p][0])
            return lr_fail(err, "/patients/id[%zu]: empty identifier", p);
        if (!isfinite(c->time_days[p]) || c->time_days[p] <= 0)
            return lr_fail(err, "/patients/time_days[%zu] = %g: expected a finite time > 0", p, c->time_days[p]);
        if (c->event[p] != 0 && c->event[p] != 1)
            return lr_fail(err, "/patients/event[%zu] = %d: expected 0 (censored) or 1 (event)", p, c->event[p]);
    }
    return 0;
}

static int check_annotations(const lr_cohort *c, lr_err *err)
{
    for (size_t a = 0; a < c->n_annotations; a++) {
        if (c->ann_patient[a] < 0 || (size_t)c->ann_patient[a] >= c->n_patients)
            return lr_fail(err, "/annotations/patient[%zu] = %d: expected an index in [0, %zu)", a,
                           (int)c->ann_patient[a], c->n_patients);
        int64_t first = c->ann_first_lesion[a];
        int32_t n = c->ann_n_lesions[a];
        if (first < 0 || n < 0 || (uint64_t)first + (uint64_t)n > c->n_lesions)
            return lr_fail(err,
                           "/annotations/first_lesion[%zu] = %lld, n_lesions = %d: points outside the %zu "
                           "lesions (expected 0 <= first, first + n <= %zu)",
                           a, (long long)first, (int)n, c->n_lesions, c->n_lesions);
    }
    return 0;
}

static int check_lesions(const lr_cohort *c, lr_err *err)
{
    for (size_t l = 0; l < c->n_lesions; l++) {
        if (!isfinite(c->volume_mm3[l]) || c->volume_mm3[l] <= 0)
            return lr_fail(err, "/lesions/volume_mm3[%zu] = %g: expected a finite volume > 0", l, c->volume_mm3[l]);
        if (!isfinite(c->diameter_mm[l]) || c->diameter_mm[l] <= 0)
            return lr_fail(err, "/lesions/diameter_mm[%zu] = %g: expected a finite diameter > 0", l, c->diameter_mm[l]);
        double f = c->volume_followup_mm3[l];
        if (!isnan(f) && (!isfinite(f) || f < 0))
            return lr_fail(err, "/lesions/volume_followup_mm3[%zu] = %g: expected >= 0 or NaN (no second time point)",
                           l, f);
        if (c->organ[l] < 0 || (size_t)c->organ[l] >= c->n_organs)
            return lr_fail(err, "/lesions/organ[%zu] = %d: expected an index in [0, %zu) into /organs/name", l,
                           (int)c->organ[l], c->n_organs);
    }
    if (c->patch) {
        size_t per = (size_t)c->patch_size * c->patch_size;
        for (size_t i = 0; i < c->n_lesions * per; i++)
            if (!isfinite(c->patch[i]))
                return lr_fail(err, "/lesions/patch[%zu]: non-finite value %g at pixel (%zu, %zu): expected HU",
                               i / per, (double)c->patch[i], (i % per) / c->patch_size, i % c->patch_size);
    }
    return 0;
}

/* Keys: -1 or >= 0; one reader cannot annotate one physical lesion twice, so the non-negative keys of an
 * annotation are distinct. */
static int check_lesion_keys(const lr_cohort *c, lr_err *err)
{
    if (!c->lesion_key) return 0;
    for (size_t l = 0; l < c->n_lesions; l++)
        if (c->lesion_key[l] < -1)
            return lr_fail(err, "/lesions/lesion_key[%zu] = %d: expected -1 (unknown) or a key >= 0", l,
                           (int)c->lesion_key[l]);
    for (size_t a = 0; a < c->n_annotations; a++) {
        const int32_t *key = c->lesion_key + c->ann_first_lesion[a];
        for (int32_t i = 0; i < c->ann_n_lesions[a]; i++)
            for (int32_t j = 0; j < i; j++)
                if (key[i] >= 0 && key[i] == key[j])
                    return lr_fail(err,
                                   "/lesions/lesion_key[%lld] = /lesions/lesion_key[%lld] = %d: two lesions of "
                                   "annotation %zu (one reader) are one physical lesion",
                                   (long long)(c->ann_first_lesion[a] + j), (long long)(c->ann_first_lesion[a] + i),
                                   (int)key[i], a);
    }
    return 0;
}

static int check_truth(const lr_cohort *c, lr_err *err)
{
    if (!c->has_truth) return 0;
    for (size_t l = 0; l < c->n_lesions; l++)
        if (!isfinite(c->truth_lesion_log_hazard[l]))
            return lr_fail(err, "/truth/lesion_log_hazard[%zu]: not finite", l);
    for (size_t p = 0; p < c->n_patients; p++)
        if (!isfinite(c->truth_patient_log_hazard[p]))
            return lr_fail(err, "/truth/patient_log_hazard[%zu]: not finite", p);
    return 0;
}

int lr_cohort_check(const lr_cohort *c, lr_err *err)
{
    if (c->patch_size != LR_PATCH)
        return lr_fail(err, "patch_size = %d: expected %d", c->patch_size, LR_PATCH);
    if (c->n_organs == 0) return lr_fail(err, "/organs/name: empty (expected at least one organ name)");
    LR_TRY(check_patients(c, err));
    LR_TRY(check_annotations(c, err));
    LR_TRY(check_lesions(c, err));
    LR_TRY(check_lesion_keys(c, err));
    LR_TRY(check_truth(c, err));
    return 0;
fail:
    return -1;
}

/* ---- writer ---- */

static int write_1d(hid_t f, const char *path, hid_t mt, hid_t ft, size_t n, const void *data, lr_err *err)
{
    hsize_t dims[1] = {n};
    return lr_h5_write(f, path, mt, ft, 1, dims, NULL, 0, data, err);
}

int lr_cohort_write(const char *path, const lr_cohort *c, lr_err *err)
{
    if (lr_cohort_check(c, err)) return lr_fail_ctx(err, "%s: refusing to write an invalid cohort", path);
    hid_t f = lr_h5_create(path, err);
    if (f < 0) return -1;
    size_t P = c->n_patients, A = c->n_annotations, L = c->n_lesions;
    int ps = c->patch_size;
    LR_TRY(lr_h5_attr_write_string(f, "/", "format", LR_COHORT_FORMAT, err));
    int version = LR_COHORT_VERSION;
    LR_TRY(lr_h5_attr_write(f, "/", "version", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &version, err));
    LR_TRY(lr_h5_attr_write(f, "/", "patch_size", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &ps, err));

    LR_TRY(lr_h5_write_strings(f, "/patients/id", P, (const char *const *)c->patient_id, err));
    LR_TRY(write_1d(f, "/patients/time_days", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, P, c->time_days, err));
    LR_TRY(write_1d(f, "/patients/event", H5T_NATIVE_INT8, H5T_STD_I8LE, P, c->event, err));
    LR_TRY(write_1d(f, "/patients/arm", H5T_NATIVE_INT16, H5T_STD_I16LE, P, c->arm, err));

    LR_TRY(write_1d(f, "/annotations/patient", H5T_NATIVE_INT32, H5T_STD_I32LE, A, c->ann_patient, err));
    LR_TRY(write_1d(f, "/annotations/reader", H5T_NATIVE_INT16, H5T_STD_I16LE, A, c->ann_reader, err));
    LR_TRY(write_1d(f, "/annotations/first_lesion", H5T_NATIVE_INT64, H5T_STD_I64LE, A, c->ann_first_lesion, err));
    LR_TRY(write_1d(f, "/annotations/n_lesions", H5T_NATIVE_INT32, H5T_STD_I32LE, A, c->ann_n_lesions, err));

    if (c->patch) {
        hsize_t dims[3] = {L, (hsize_t)ps, (hsize_t)ps};
        hsize_t chunk[3] = {L ? (L < 64 ? L : 64) : 1, (hsize_t)ps, (hsize_t)ps};
        LR_TRY(lr_h5_write(f, "/lesions/patch", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, dims, L ? chunk : NULL, 0,
                           c->patch, err));
    }
    LR_TRY(write_1d(f, "/lesions/volume_mm3", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, L, c->volume_mm3, err));
    LR_TRY(write_1d(f, "/lesions/diameter_mm", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, L, c->diameter_mm, err));
    LR_TRY(write_1d(f, "/lesions/volume_followup_mm3", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, L,
                    c->volume_followup_mm3, err));
    LR_TRY(write_1d(f, "/lesions/organ", H5T_NATIVE_INT16, H5T_STD_I16LE, L, c->organ, err));
    if (c->lesion_key)
        LR_TRY(write_1d(f, "/lesions/lesion_key", H5T_NATIVE_INT32, H5T_STD_I32LE, L, c->lesion_key, err));
    LR_TRY(lr_h5_write_strings(f, "/organs/name", c->n_organs, (const char *const *)c->organ_name, err));

    if (c->has_truth) {
        LR_TRY(write_1d(f, "/truth/lesion_log_hazard", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, L,
                        c->truth_lesion_log_hazard, err));
        LR_TRY(write_1d(f, "/truth/patient_log_hazard", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, P,
                        c->truth_patient_log_hazard, err));
    }
    if (H5Fclose(f) < 0) return lr_fail(err, "%s: error closing file", path);
    return 0;
fail:
    H5Fclose(f);
    return lr_fail_ctx(err, "%s", path);
}

/* ---- reader ---- */

static int read_root_attrs(hid_t f, lr_cohort *c, lr_err *err)
{
    char fmt[128];
    if (lr_h5_attr_read_string(f, "/", "format", fmt, sizeof fmt, err))
        return lr_fail(err, "root attribute 'format' missing or not a string (expected \"%s\")", LR_COHORT_FORMAT);
    if (strcmp(fmt, LR_COHORT_FORMAT) != 0)
        return lr_fail(err, "root attribute format = \"%s\": expected \"%s\"", fmt, LR_COHORT_FORMAT);
    int version = 0;
    if (lr_h5_attr_read(f, "/", "version", H5T_NATIVE_INT, 1, &version, err))
        return lr_fail(err, "root attribute 'version' missing or not an integer (expected %d)", LR_COHORT_VERSION);
    if (version != LR_COHORT_VERSION)
        return lr_fail(err, "root attribute version = %d: this lesionrank reads version %d", version, LR_COHORT_VERSION);
    if (lr_h5_attr_read(f, "/", "patch_size", H5T_NATIVE_INT, 1, &c->patch_size, err))
        return lr_fail(err, "root attribute 'patch_size' missing or not an integer (expected %d)", LR_PATCH);
    if (c->patch_size != LR_PATCH)
        return lr_fail(err, "root attribute patch_size = %d: expected %d", c->patch_size, LR_PATCH);
    return 0;
}

#define READ1(path, field, mt, n)                                                                  \
    do {                                                                                           \
        c->field = lr_h5_read_1d(f, path, mt, sizeof *c->field, (long)(n), NULL, err);             \
        if (!c->field) goto fail;                                                                  \
    } while (0)

static int read_patches(hid_t f, lr_cohort *c, lr_err *err)
{
    int rank;
    hsize_t d[LR_H5_MAXRANK];
    if (lr_h5_shape(f, "/lesions/patch", &rank, d, err)) return -1;
    if (rank != 3 || d[0] != c->n_lesions || d[1] != (hsize_t)c->patch_size || d[2] != (hsize_t)c->patch_size)
        return lr_fail(err, "/lesions/patch: shape %s: expected [%zu, %d, %d]", rank == 3 ? "mismatch" : "wrong rank",
                       c->n_lesions, c->patch_size, c->patch_size);
    c->patch = lr_malloc(c->n_lesions * c->patch_size * c->patch_size, sizeof *c->patch, err);
    if (!c->patch) return -1;
    if (c->n_lesions) return lr_h5_read(f, "/lesions/patch", H5T_NATIVE_FLOAT, c->patch, err);
    return 0;
}

static int read_volume_meta(hid_t f, lr_cohort *c, lr_err *err)
{
    if (!lr_h5_exists(f, "/volumes/ct")) return 0;
    int rank;
    hsize_t d[LR_H5_MAXRANK];
    if (lr_h5_shape(f, "/volumes/ct", &rank, d, err)) return -1;
    if (rank != 4 || d[0] != c->n_patients)
        return lr_fail(err, "/volumes/ct: expected shape [%zu, D, H, W] (one volume per patient)", c->n_patients);
    if (lr_h5_attr_read(f, "/volumes/ct", "spacing_mm", H5T_NATIVE_DOUBLE, 3, c->volume_spacing_mm, err))
        return lr_fail(err, "/volumes/ct: attribute spacing_mm missing (expected 3 numbers: z, y, x in mm)");
    for (int i = 0; i < 3; i++) {
        c->volume_dims[i] = d[i + 1];
        if (!(c->volume_spacing_mm[i] > 0) || !isfinite(c->volume_spacing_mm[i]))
            return lr_fail(err, "/volumes/ct: spacing_mm[%d] = %g: expected > 0", i, c->volume_spacing_mm[i]);
    }
    c->has_volumes = 1;
    size_t n = c->volume_dims[0] * c->volume_dims[1] * c->volume_dims[2];
    int16_t *buf = lr_malloc(n, sizeof *buf, err);
    if (!buf) return -1;
    int rc = 0;
    for (size_t p = 0; p < c->n_patients && rc == 0; p++) rc = lr_cohort_read_volume(f, p, c->volume_dims, buf, err);
    free(buf);
    return rc;
}

int lr_cohort_read(const char *path, int flags, lr_cohort *c, lr_err *err)
{
    memset(c, 0, sizeof *c);
    hid_t f = lr_h5_open_read(path, err);
    if (f < 0) return -1;
    LR_TRY(read_root_attrs(f, c, err));
    c->patient_id = lr_h5_read_strings(f, "/patients/id", &c->n_patients, err);
    if (!c->patient_id) goto fail;
    size_t P = c->n_patients;
    READ1("/patients/time_days", time_days, H5T_NATIVE_DOUBLE, P);
    READ1("/patients/event", event, H5T_NATIVE_INT8, P);
    READ1("/patients/arm", arm, H5T_NATIVE_INT16, P);

    c->ann_patient = lr_h5_read_1d(f, "/annotations/patient", H5T_NATIVE_INT32, sizeof(int32_t), -1,
                                   &c->n_annotations, err);
    if (!c->ann_patient) goto fail;
    size_t A = c->n_annotations;
    READ1("/annotations/reader", ann_reader, H5T_NATIVE_INT16, A);
    READ1("/annotations/first_lesion", ann_first_lesion, H5T_NATIVE_INT64, A);
    READ1("/annotations/n_lesions", ann_n_lesions, H5T_NATIVE_INT32, A);

    c->volume_mm3 = lr_h5_read_1d(f, "/lesions/volume_mm3", H5T_NATIVE_DOUBLE, sizeof(double), -1, &c->n_lesions, err);
    if (!c->volume_mm3) goto fail;
    size_t L = c->n_lesions;
    READ1("/lesions/diameter_mm", diameter_mm, H5T_NATIVE_DOUBLE, L);
    READ1("/lesions/volume_followup_mm3", volume_followup_mm3, H5T_NATIVE_DOUBLE, L);
    READ1("/lesions/organ", organ, H5T_NATIVE_INT16, L);
    if (lr_h5_exists(f, "/lesions/lesion_key")) READ1("/lesions/lesion_key", lesion_key, H5T_NATIVE_INT32, L);
    if (flags & LR_COHORT_NO_PATCHES) {
        int rank;
        hsize_t d[LR_H5_MAXRANK];
        LR_TRY(lr_h5_shape(f, "/lesions/patch", &rank, d, err));
        if (rank != 3 || d[0] != L || d[1] != (hsize_t)c->patch_size || d[2] != (hsize_t)c->patch_size) {
            lr_fail(err, "/lesions/patch: expected shape [%zu, %d, %d]", L, c->patch_size, c->patch_size);
            goto fail;
        }
    } else {
        LR_TRY(read_patches(f, c, err));
    }
    c->organ_name = lr_h5_read_strings(f, "/organs/name", &c->n_organs, err);
    if (!c->organ_name) goto fail;

    if (lr_h5_exists(f, "/truth/lesion_log_hazard") || lr_h5_exists(f, "/truth/patient_log_hazard")) {
        READ1("/truth/lesion_log_hazard", truth_lesion_log_hazard, H5T_NATIVE_DOUBLE, L);
        READ1("/truth/patient_log_hazard", truth_patient_log_hazard, H5T_NATIVE_DOUBLE, P);
        c->has_truth = 1;
    }
    LR_TRY(lr_cohort_check(c, err));
    LR_TRY(read_volume_meta(f, c, err));
    H5Fclose(f);
    return 0;
fail:
    H5Fclose(f);
    lr_cohort_free(c);
    return lr_fail_ctx(err, "%s", path);
}

/* ---- volumes ---- */

int lr_cohort_volumes_create(hid_t file, size_t P, const size_t dims[3], const double spacing_mm[3], lr_err *err)
{
    hsize_t d[4] = {P, dims[0], dims[1], dims[2]};
    hsize_t chunk[4] = {1, dims[0], dims[1], dims[2]}; /* one patient per chunk */
    hid_t ds = lr_h5_create_dataset(file, "/volumes/ct", H5T_STD_I16LE, 4, d, chunk, err);
    if (ds < 0) return -1;
    H5Dclose(ds);
    return lr_h5_attr_write(file, "/volumes/ct", "spacing_mm", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 3, spacing_mm, err);
}

static int volume_io(hid_t file, size_t patient, const size_t dims[3], void *vol, hid_t memtype, int write,
                     lr_err *err)
{
    hid_t ds = H5Dopen2(file, "/volumes/ct", H5P_DEFAULT);
    if (ds < 0) return lr_fail(err, "missing dataset /volumes/ct");
    /* a row is one whole volume: the buffer holds dims[0]*dims[1]*dims[2] values, so the file must agree */
    int rank;
    hsize_t d[LR_H5_MAXRANK];
    lr_err e2;
    int rc = lr_h5_shape(file, "/volumes/ct", &rank, d, &e2) == 0 && rank == 4 && d[1] == dims[0] &&
                     d[2] == dims[1] && d[3] == dims[2] && patient < d[0]
                 ? 0
                 : -1;
    if (rc == 0) rc = write ? lr_h5_write_rows(ds, memtype, patient, 1, vol, "/volumes/ct", &e2)
                            : lr_h5_read_rows(ds, memtype, patient, 1, vol, "/volumes/ct", &e2);
    if (rc) lr_fail(err, "/volumes/ct: cannot %s patient %zu", write ? "write" : "read", patient);
    H5Dclose(ds);
    return rc;
}

int lr_cohort_volume_write(hid_t file, size_t patient, const size_t dims[3], const int16_t *vol, lr_err *err)
{
    return volume_io(file, patient, dims, (void *)vol, H5T_NATIVE_INT16, 1, err);
}

int lr_cohort_read_volume(hid_t file, size_t patient, const size_t dims[3], int16_t *vol, lr_err *err)
{
    hid_t ds = H5Dopen2(file, "/volumes/ct", H5P_DEFAULT);
    if (ds < 0) return lr_fail(err, "missing dataset /volumes/ct");
    hid_t t = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    H5Dclose(ds);
    if (cls == H5T_INTEGER) return volume_io(file, patient, dims, vol, H5T_NATIVE_INT16, 0, err);
    if (cls != H5T_FLOAT) return lr_fail(err, "/volumes/ct: expected int16 HU values");
    /* Floating-point volumes are accepted but must be finite HU within int16 range. */
    size_t n = dims[0] * dims[1] * dims[2];
    float *tmp = lr_malloc(n, sizeof *tmp, err);
    if (!tmp) return -1;
    int rc = volume_io(file, patient, dims, tmp, H5T_NATIVE_FLOAT, 0, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!isfinite(tmp[i]) || tmp[i] < -32768.f || tmp[i] > 32767.f)
            rc = lr_fail(err, "/volumes/ct[%zu]: value %g at voxel %zu: expected finite HU in int16 range", patient,
                         (double)tmp[i], i);
        else
            vol[i] = (int16_t)lrintf(tmp[i]);
    }
    free(tmp);
    return rc;
}

/* ---- summary ---- */

void lr_cohort_lesions_per_patient(const lr_cohort *c, double *out)
{
    size_t P = c->n_patients;
    double *n_ann = calloc(P, sizeof *n_ann);
    for (size_t p = 0; p < P; p++) out[p] = 0;
    for (size_t a = 0; a < c->n_annotations; a++) {
        out[c->ann_patient[a]] += c->ann_n_lesions[a];
        if (n_ann) n_ann[c->ann_patient[a]] += 1;
    }
    for (size_t p = 0; p < P; p++) out[p] = (n_ann && n_ann[p] > 0) ? out[p] / n_ann[p] : 0;
    free(n_ann);
}

void lr_cohort_annotated_truth(const lr_cohort *c, double *out)
{
    size_t P = c->n_patients;
    for (size_t p = 0; p < P; p++) out[p] = 0;
    size_t *n_ann = calloc(P ? P : 1, sizeof *n_ann);
    for (size_t a = 0; a < c->n_annotations; a++) {
        double sum = 0;
        for (int32_t k = 0; k < c->ann_n_lesions[a]; k++) {
            size_t l = (size_t)(c->ann_first_lesion[a] + k);
            sum += lr_synth_size_weight(c->volume_mm3[l]) * exp(c->truth_lesion_log_hazard[l]);
        }
        out[c->ann_patient[a]] += sum > 0 ? log(sum) : -INFINITY;
        if (n_ann) n_ann[c->ann_patient[a]]++;
    }
    /* a patient without annotations (or an empty one) ranks lowest: it has nothing to read */
    for (size_t p = 0; p < P; p++)
        out[p] = (n_ann && n_ann[p] > 0 && isfinite(out[p])) ? out[p] / (double)n_ann[p] : -1e300;
    free(n_ann);
}

static int annotation_has_followup(const lr_cohort *c, size_t a)
{
    for (int32_t k = 0; k < c->ann_n_lesions[a]; k++)
        if (!isnan(c->volume_followup_mm3[c->ann_first_lesion[a] + k])) return 1;
    return 0;
}

/* physical_lesions and lesions_matched_fraction (see the header). A patient's annotations need not be
 * adjacent, so they are listed per patient first (CSR over annotations). */
static int lesion_key_summary(const lr_cohort *c, lr_cohort_summary *s, lr_err *err)
{
    s->has_lesion_keys = c->lesion_key != NULL;
    s->lesions_matched_fraction = NAN;
    if (!c->lesion_key) return 0;
    size_t P = c->n_patients, A = c->n_annotations;
    size_t *start = lr_calloc(P + 1, sizeof *start, err), *ann = lr_malloc(A ? A : 1, sizeof *ann, err);
    size_t *fill = lr_calloc(P ? P : 1, sizeof *fill, err);
    if (!start || !ann || !fill) {
        free(start);
        free(ann);
        free(fill);
        return -1;
    }
    for (size_t a = 0; a < A; a++) start[c->ann_patient[a] + 1]++;
    for (size_t p = 0; p < P; p++) start[p + 1] += start[p];
    for (size_t a = 0; a < A; a++) ann[start[c->ann_patient[a]] + fill[c->ann_patient[a]]++] = a;
    size_t rows = 0, matched = 0;
    for (size_t p = 0; p < P; p++) {
        size_t n_ann = start[p + 1] - start[p];
        for (size_t x = start[p]; x < start[p + 1]; x++) {
            size_t a = ann[x];
            for (int32_t i = 0; i < c->ann_n_lesions[a]; i++) {
                int32_t key = c->lesion_key[c->ann_first_lesion[a] + i];
                if (key < 0) continue;
                int shared = 0, seen_before = 0;
                for (size_t y = start[p]; y < start[p + 1]; y++) {
                    size_t b = ann[y];
                    if (b == a) continue;
                    for (int32_t j = 0; j < c->ann_n_lesions[b]; j++)
                        if (c->lesion_key[c->ann_first_lesion[b] + j] == key) {
                            shared = 1;
                            seen_before |= y < x;
                        }
                }
                s->physical_lesions += !seen_before;
                if (n_ann >= 2) {
                    rows++;
                    matched += shared;
                }
            }
        }
    }
    if (rows) s->lesions_matched_fraction = (double)matched / (double)rows;
    free(start);
    free(ann);
    free(fill);
    return 0;
}

int lr_cohort_summarise(const lr_cohort *c, lr_cohort_summary *s, lr_err *err)
{
    memset(s, 0, sizeof *s);
    size_t P = c->n_patients;
    s->patients = P;
    s->annotations = c->n_annotations;
    s->lesions = c->n_lesions;
    double *buf = lr_malloc(P, sizeof *buf, err);
    s->organ_count = lr_calloc(c->n_organs, sizeof *s->organ_count, err);
    int *ev = lr_malloc(P, sizeof *ev, err);
    if (!buf || !s->organ_count || !ev) goto fail;
    for (size_t p = 0; p < P; p++) {
        s->events += c->event[p] == 1;
        ev[p] = c->event[p];
        buf[p] = c->time_days[p];
    }
    s->censored_fraction = 1.0 - (double)s->events / (double)P;
    gsl_sort(buf, 1, P);
    s->median_time_days = gsl_stats_median_from_sorted_data(buf, 1, P);
    s->readers_per_patient_mean = (double)c->n_annotations / (double)P;

    lr_cohort_lesions_per_patient(c, buf);
    gsl_sort(buf, 1, P);
    s->lesions_per_patient_median = gsl_stats_median_from_sorted_data(buf, 1, P);
    s->lesions_per_patient_q1 = gsl_stats_quantile_from_sorted_data(buf, 1, P, 0.25);
    s->lesions_per_patient_q3 = gsl_stats_quantile_from_sorted_data(buf, 1, P, 0.75);

    size_t with_fu = 0;
    for (size_t a = 0; a < c->n_annotations; a++) with_fu += annotation_has_followup(c, a);
    s->followup_fraction = c->n_annotations ? (double)with_fu / (double)c->n_annotations : 0;
    for (size_t l = 0; l < c->n_lesions; l++) s->organ_count[c->organ[l]]++;

    if (lesion_key_summary(c, s, err)) goto fail;
    s->oracle_cindex = s->annotated_truth_cindex = NAN;
    if (c->has_truth) {
        lr_concordance cc;
        if (lr_harrell_cindex(P, c->time_days, ev, c->truth_patient_log_hazard, &cc, err)) goto fail;
        s->oracle_cindex = cc.cindex;
        lr_cohort_annotated_truth(c, buf);
        if (lr_harrell_cindex(P, c->time_days, ev, buf, &cc, err)) goto fail;
        s->annotated_truth_cindex = cc.cindex;
    }
    free(buf);
    free(ev);
    return 0;
fail:
    free(buf);
    free(ev);
    lr_cohort_summary_free(s);
    return -1;
}

void lr_cohort_summary_free(lr_cohort_summary *s)
{
    free(s->organ_count);
    s->organ_count = NULL;
}
