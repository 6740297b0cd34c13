/* Cohort format v1: round trip, validator rejections, generator determinism and statistics. */
#include <gsl/gsl_math.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/cohort.h"
#include "data/synth.h"
#include "util/h5.h"

static char tmpdir[512];

static const char *tmp_path(const char *name)
{
    static char buf[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int small_cohort(lr_cohort *c, size_t patients, uint64_t seed)
{
    lr_synth_params p;
    lr_synth_default_params(&p);
    p.patients = patients;
    p.seed = seed;
    lr_err err = {0};
    int rc = lr_synth_generate(&p, c, &err);
    if (rc) fprintf(stderr, "generate: %s\n", err.msg);
    return rc;
}

static int same_doubles(const double *a, const double *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0; /* bitwise: NaN follow-ups included */
}

static int cohorts_identical(const lr_cohort *a, const lr_cohort *b)
{
    if (a->n_patients != b->n_patients || a->n_annotations != b->n_annotations || a->n_lesions != b->n_lesions ||
        a->n_organs != b->n_organs || a->has_truth != b->has_truth)
        return 0;
    size_t P = a->n_patients, A = a->n_annotations, L = a->n_lesions;
    for (size_t p = 0; p < P; p++)
        if (strcmp(a->patient_id[p], b->patient_id[p])) return 0;
    for (size_t k = 0; k < a->n_organs; k++)
        if (strcmp(a->organ_name[k], b->organ_name[k])) return 0;
    return same_doubles(a->time_days, b->time_days, P) && !memcmp(a->event, b->event, P) &&
           !memcmp(a->arm, b->arm, P * 2) && !memcmp(a->ann_patient, b->ann_patient, A * 4) &&
           !memcmp(a->ann_reader, b->ann_reader, A * 2) && !memcmp(a->ann_first_lesion, b->ann_first_lesion, A * 8) &&
           !memcmp(a->ann_n_lesions, b->ann_n_lesions, A * 4) && same_doubles(a->volume_mm3, b->volume_mm3, L) &&
           same_doubles(a->diameter_mm, b->diameter_mm, L) &&
           same_doubles(a->volume_followup_mm3, b->volume_followup_mm3, L) && !memcmp(a->organ, b->organ, L * 2) &&
           !memcmp(a->patch, b->patch, L * LR_PATCH * LR_PATCH * sizeof(float)) &&
           (!a->lesion_key) == (!b->lesion_key) && (!a->lesion_key || !memcmp(a->lesion_key, b->lesion_key, L * 4)) &&
           (!a->has_truth || (same_doubles(a->truth_lesion_log_hazard, b->truth_lesion_log_hazard, L) &&
                              same_doubles(a->truth_patient_log_hazard, b->truth_patient_log_hazard, P)));
}

static void test_round_trip(void)
{
    lr_cohort c, r;
    lr_err err = {0};
    CHECK(small_cohort(&c, 12, 3) == 0);
    const char *path = tmp_path("rt.h5");
    CHECK_MSG(lr_cohort_write(path, &c, &err) == 0, "%s", err.msg);
    CHECK_MSG(lr_cohort_read(path, 0, &r, &err) == 0, "%s", err.msg);
    CHECK(cohorts_identical(&c, &r));
    CHECK(r.patch_size == LR_PATCH);
    lr_cohort_free(&r);
    lr_cohort_free(&c);
}

static void test_determinism(void)
{
    lr_cohort a, b, d;
    CHECK(small_cohort(&a, 10, 42) == 0);
    CHECK(small_cohort(&b, 10, 42) == 0);
    CHECK(small_cohort(&d, 10, 43) == 0);
    CHECK(cohorts_identical(&a, &b));
    CHECK(!cohorts_identical(&a, &d));
    /* Files: every dataset's bytes equal for the same seed. */
    lr_err err = {0};
    CHECK(lr_cohort_write(tmp_path("d1.h5"), &a, &err) == 0);
    CHECK(lr_cohort_write(tmp_path("d2.h5"), &b, &err) == 0);
    lr_cohort ra, rb;
    CHECK(lr_cohort_read(tmp_path("d1.h5"), 0, &ra, &err) == 0);
    CHECK(lr_cohort_read(tmp_path("d2.h5"), 0, &rb, &err) == 0);
    CHECK(cohorts_identical(&ra, &rb));
    lr_cohort_free(&ra);
    lr_cohort_free(&rb);
    lr_cohort_free(&a);
    lr_cohort_free(&b);
    lr_cohort_free(&d);
}

/* ---- validator: write a valid file, corrupt one thing, expect a message naming it ---- */

typedef void (*corruptor)(hid_t f);

static void overwrite_element(hid_t f, const char *path, hid_t memtype, hsize_t index, const void *value)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    hid_t s = H5Dget_space(d);
    hsize_t one = 1;
    H5Sselect_hyperslab(s, H5S_SELECT_SET, &index, NULL, &one, NULL);
    hid_t m = H5Screate_simple(1, &one, NULL);
    H5Dwrite(d, memtype, m, s, H5P_DEFAULT, value);
    H5Sclose(m);
    H5Sclose(s);
    H5Dclose(d);
}

static void drop_event(hid_t f) { H5Ldelete(f, "/patients/event", H5P_DEFAULT); }
static void wrong_shape(hid_t f)
{
    H5Ldelete(f, "/patients/arm", H5P_DEFAULT);
    int16_t arm[3] = {0, 1, 0};
    hsize_t n = 3;
    lr_err e;
    lr_h5_write(f, "/patients/arm", H5T_NATIVE_INT16, H5T_STD_I16LE, 1, &n, NULL, 0, arm, &e);
}
static void bad_time(hid_t f)
{
    double t = -4.0;
    overwrite_element(f, "/patients/time_days", H5T_NATIVE_DOUBLE, 2, &t);
}
static void zero_time(hid_t f)
{
    double t = 0.0;
    overwrite_element(f, "/patients/time_days", H5T_NATIVE_DOUBLE, 0, &t);
}
static void bad_event(hid_t f)
{
    int8_t e = 2;
    overwrite_element(f, "/patients/event", H5T_NATIVE_INT8, 1, &e);
}
static void bad_annotation(hid_t f)
{
    int64_t first = 1000000;
    overwrite_element(f, "/annotations/first_lesion", H5T_NATIVE_INT64, 0, &first);
}
static void bad_annotation_patient(hid_t f)
{
    int32_t p = 999;
    overwrite_element(f, "/annotations/patient", H5T_NATIVE_INT32, 0, &p);
}
static void nan_patch(hid_t f)
{
    hid_t d = H5Dopen2(f, "/lesions/patch", H5P_DEFAULT);
    hid_t s = H5Dget_space(d);
    hsize_t start[3] = {1, 5, 7}, count[3] = {1, 1, 1};
    H5Sselect_hyperslab(s, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t m = H5Screate_simple(3, count, NULL);
    float v = NAN;
    H5Dwrite(d, H5T_NATIVE_FLOAT, m, s, H5P_DEFAULT, &v);
    H5Sclose(m);
    H5Sclose(s);
    H5Dclose(d);
}
static void inf_volume(hid_t f)
{
    /* A user pipeline writing float volumes: accepted when finite, rejected on Inf/NaN. */
    hsize_t P = 0;
    hid_t d = H5Dopen2(f, "/patients/time_days", H5P_DEFAULT);
    hid_t s = H5Dget_space(d);
    H5Sget_simple_extent_dims(s, &P, NULL);
    H5Sclose(s);
    H5Dclose(d);
    hsize_t dims[4] = {P, 2, 3, 3};
    size_t n = (size_t)P * 18;
    float *v = calloc(n, sizeof *v);
    v[n - 2] = INFINITY;
    lr_err e;
    lr_h5_write(f, "/volumes/ct", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 4, dims, NULL, 0, v, &e);
    double sp[3] = {5, 1, 1};
    lr_h5_attr_write(f, "/volumes/ct", "spacing_mm", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 3, sp, &e);
    free(v);
}
static void bad_format(hid_t f)
{
    lr_err e;
    lr_h5_attr_write_string(f, "/", "format", "something-else", &e);
}
static void bad_version(hid_t f)
{
    lr_err e;
    int v = 2;
    lr_h5_attr_write(f, "/", "version", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &v, &e);
}
static void bad_organ(hid_t f)
{
    int16_t o = 77;
    overwrite_element(f, "/lesions/organ", H5T_NATIVE_INT16, 0, &o);
}
static void negative_volume(hid_t f)
{
    double v = -1;
    overwrite_element(f, "/lesions/volume_mm3", H5T_NATIVE_DOUBLE, 3, &v);
}

static void duplicate_key(hid_t f)
{
    int32_t k = -7;
    overwrite_element(f, "/lesions/lesion_key", H5T_NATIVE_INT32, 2, &k);
}
static void key_twice_in_annotation(hid_t f)
{
    /* the first annotation's second row takes the first row's key: one reader, one lesion twice */
    int32_t k = 0;
    overwrite_element(f, "/lesions/lesion_key", H5T_NATIVE_INT32, 1, &k);
}

static void expect_rejected(const char *name, corruptor fn, const char *must_mention)
{
    lr_cohort c, r;
    lr_err err = {0};
    CHECK(small_cohort(&c, 6, 11) == 0);
    const char *path = tmp_path(name);
    CHECK(lr_cohort_write(path, &c, &err) == 0);
    lr_cohort_free(&c);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    fn(f);
    H5Fclose(f);
    int rc = lr_cohort_read(path, 0, &r, &err);
    CHECK_MSG(rc != 0, "%s accepted", name);
    CHECK_MSG(strstr(err.msg, must_mention) != NULL, "%s: message '%s' lacks '%s'", name, err.msg, must_mention);
    CHECK_MSG(strstr(err.msg, path) != NULL, "%s: message '%s' lacks the file name", name, err.msg);
    if (rc == 0) lr_cohort_free(&r);
}

static void test_validator_rejects(void)
{
    expect_rejected("missing.h5", drop_event, "/patients/event");
    expect_rejected("shape.h5", wrong_shape, "/patients/arm");
    expect_rejected("time.h5", bad_time, "/patients/time_days[2]");
    expect_rejected("time0.h5", zero_time, "/patients/time_days[0]");
    expect_rejected("event.h5", bad_event, "/patients/event[1]");
    expect_rejected("ann.h5", bad_annotation, "/annotations/first_lesion[0]");
    expect_rejected("annp.h5", bad_annotation_patient, "/annotations/patient[0]");
    expect_rejected("nanpatch.h5", nan_patch, "/lesions/patch[1]");
    expect_rejected("infvol.h5", inf_volume, "/volumes/ct");
    expect_rejected("format.h5", bad_format, "format");
    expect_rejected("version.h5", bad_version, "version");
    expect_rejected("organ.h5", bad_organ, "/lesions/organ[0]");
    expect_rejected("negvol.h5", negative_volume, "/lesions/volume_mm3[3]");
    expect_rejected("keyneg.h5", duplicate_key, "/lesions/lesion_key[2] = -7");
    expect_rejected("keytwice.h5", key_twice_in_annotation, "/lesions/lesion_key[1] = 0");
}

/* /lesions/lesion_key: the generator's truth (rows of one key are one true lesion: same truth and organ;
 * keys numbered by first appearance), the summary, and cohorts without keys stay valid. */
static void test_lesion_keys(void)
{
    lr_cohort c, r;
    lr_err err = {0};
    CHECK(small_cohort(&c, 30, 9) == 0);
    CHECK(c.lesion_key != NULL);
    CHECK(c.ann_n_lesions[0] >= 2); /* key_twice_in_annotation needs two rows in annotation 0 */
    size_t multi_reader_rows = 0, shared = 0, physical = 0, checked_pairs = 0;
    for (size_t a = 0; a < c.n_annotations; a++) {
        size_t p = (size_t)c.ann_patient[a];
        for (int32_t i = 0; i < c.ann_n_lesions[a]; i++) {
            size_t l = (size_t)(c.ann_first_lesion[a] + i);
            CHECK(c.lesion_key[l] >= 0);
            int others = 0, found = 0, earlier = 0;
            int32_t max_before = -1;
            for (size_t b = 0; b < c.n_annotations; b++) {
                if ((size_t)c.ann_patient[b] != p) continue;
                for (int32_t j = 0; j < c.ann_n_lesions[b]; j++) {
                    size_t m = (size_t)(c.ann_first_lesion[b] + j);
                    if (m < l && c.lesion_key[m] > max_before) max_before = c.lesion_key[m];
                    if (b == a) continue;
                    others = 1;
                    if (c.lesion_key[m] != c.lesion_key[l]) continue;
                    found = 1;
                    earlier |= m < l;
                    checked_pairs++;
                    CHECK(c.truth_lesion_log_hazard[m] == c.truth_lesion_log_hazard[l]);
                    CHECK(c.organ[m] == c.organ[l]);
                }
            }
            /* first appearance order: a new key is the next number */
            if (!earlier) CHECK_MSG(c.lesion_key[l] == max_before + 1, "row %zu key %d after %d", l, c.lesion_key[l], max_before);
            physical += !earlier;
            multi_reader_rows += others;
            shared += others && found;
        }
    }
    CHECK(checked_pairs > 50);
    lr_cohort_summary m;
    CHECK(lr_cohort_summarise(&c, &m, &err) == 0);
    CHECK(m.has_lesion_keys);
    CHECK(m.physical_lesions == physical);
    CHECK_CLOSE(m.lesions_matched_fraction, (double)shared / (double)multi_reader_rows, 1e-15, 0);
    CHECK_MSG(m.lesions_matched_fraction > 0.6 && m.lesions_matched_fraction < 1.0, "%g", m.lesions_matched_fraction);
    lr_cohort_summary_free(&m);
    CHECK(lr_cohort_write(tmp_path("keys.h5"), &c, &err) == 0);
    CHECK(lr_cohort_read(tmp_path("keys.h5"), 0, &r, &err) == 0);
    CHECK(cohorts_identical(&c, &r));
    lr_cohort_free(&r);
    /* an old cohort (no /lesions/lesion_key) reads and summarises */
    free(c.lesion_key);
    c.lesion_key = NULL;
    CHECK_MSG(lr_cohort_write(tmp_path("nokeys.h5"), &c, &err) == 0, "%s", err.msg);
    CHECK_MSG(lr_cohort_read(tmp_path("nokeys.h5"), 0, &r, &err) == 0, "%s", err.msg);
    CHECK(r.lesion_key == NULL);
    CHECK(lr_cohort_summarise(&r, &m, &err) == 0);
    CHECK(!m.has_lesion_keys && m.physical_lesions == 0 && isnan(m.lesions_matched_fraction));
    lr_cohort_summary_free(&m);
    lr_cohort_free(&r);
    lr_cohort_free(&c);
}

static void test_not_hdf5(void)
{
    lr_cohort r;
    lr_err err = {0};
    const char *empty = tmp_path("empty.h5");
    fclose(fopen(empty, "w"));
    CHECK(lr_cohort_read(empty, 0, &r, &err) != 0);
    CHECK_MSG(strstr(err.msg, "empty") != NULL, "%s", err.msg);
    const char *text = tmp_path("text.h5");
    FILE *f = fopen(text, "w");
    fputs("patient_id,time_days\nA,3\n", f);
    fclose(f);
    CHECK(lr_cohort_read(text, 0, &r, &err) != 0);
    CHECK_MSG(strstr(err.msg, "not an HDF5 file") != NULL, "%s", err.msg);
    CHECK(lr_cohort_read(tmp_path("does-not-exist.h5"), 0, &r, &err) != 0);
    CHECK_MSG(strstr(err.msg, "no such file") != NULL, "%s", err.msg);
}

/* Independent O(n^2) Harrell's C with survival::concordance conventions. */
static double harrell_quadratic(size_t n, const double *t, const int8_t *e, const double *risk)
{
    double conc = 0, comp = 0;
    for (size_t i = 0; i < n; i++) {
        if (!e[i]) continue;
        for (size_t j = 0; j < n; j++) {
            if (i == j) continue;
            int later = t[j] > t[i] || (t[j] == t[i] && !e[j]);
            if (!later) continue;
            comp += 1;
            conc += risk[i] > risk[j] ? 1.0 : risk[i] == risk[j] ? 0.5 : 0.0;
        }
    }
    return conc / comp;
}

static void test_statistics_and_oracle(void)
{
    /* The done-when ranges, on the default cohort for several seeds (patches skipped for speed). */
    const uint64_t seeds[] = {7, 1, 2, 3, 4};
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        lr_synth_params p;
        lr_synth_default_params(&p);
        p.seed = seeds[s];
        p.skip_patches = 1;
        lr_cohort c;
        lr_cohort_summary m;
        lr_err err = {0};
        CHECK(lr_synth_generate(&p, &c, &err) == 0);
        CHECK(lr_cohort_summarise(&c, &m, &err) == 0);
        CHECK(m.patients == 258);
        CHECK_MSG(m.censored_fraction >= 0.25 && m.censored_fraction <= 0.31, "seed %d: %g", (int)seeds[s], m.censored_fraction);
        CHECK_MSG(m.readers_per_patient_mean >= 2.7 && m.readers_per_patient_mean <= 3.1, "%g", m.readers_per_patient_mean);
        CHECK_MSG(m.lesions_per_patient_median >= 9 && m.lesions_per_patient_median <= 12.5, "seed %d: %g", (int)seeds[s], m.lesions_per_patient_median);
        CHECK_MSG(m.lesions_per_patient_q1 >= 4 && m.lesions_per_patient_q1 <= 6, "seed %d: %g", (int)seeds[s], m.lesions_per_patient_q1);
        CHECK_MSG(m.lesions_per_patient_q3 >= 17 && m.lesions_per_patient_q3 <= 22, "seed %d: %g", (int)seeds[s], m.lesions_per_patient_q3);
        CHECK_MSG(m.followup_fraction >= 0.85 && m.followup_fraction <= 0.93, "%g", m.followup_fraction);
        CHECK_MSG(m.median_time_days >= 420 && m.median_time_days <= 700, "seed %d: %g", (int)seeds[s], m.median_time_days);
        /* organs: the five frequent ones each > 8 %, the three rare ones each < 5 % */
        for (int k = 0; k < N_SYNTH_ORGANS; k++) {
            double frac = (double)m.organ_count[k] / (double)m.lesions;
            if (k <= ORGAN_OTHER) CHECK_MSG(frac > 0.08, "%s %g", lr_synth_organ_names[k], frac);
            else CHECK_MSG(frac < 0.05, "%s %g", lr_synth_organ_names[k], frac);
        }
        double oracle = harrell_quadratic(c.n_patients, c.time_days, c.event, c.truth_patient_log_hazard);
        CHECK_CLOSE(m.oracle_cindex, oracle, 1e-12, 0);
        CHECK_MSG(oracle > 0.68 && oracle < 0.85, "oracle %g", oracle);
        /* the reachable ceiling, recomputed here from its definition */
        double *annotated = calloc(c.n_patients, sizeof *annotated);
        int *n_ann = calloc(c.n_patients, sizeof *n_ann);
        CHECK(annotated && n_ann);
        for (size_t a = 0; a < c.n_annotations; a++) {
            double sum = 0;
            for (int32_t k = 0; k < c.ann_n_lesions[a]; k++) {
                size_t l = (size_t)(c.ann_first_lesion[a] + k);
                sum += (1.0 - exp(-c.volume_mm3[l] / 4000.0)) * exp(c.truth_lesion_log_hazard[l]);
            }
            annotated[c.ann_patient[a]] += log(sum);
            n_ann[c.ann_patient[a]]++;
        }
        for (size_t i = 0; i < c.n_patients; i++) annotated[i] /= n_ann[i];
        double ceiling = harrell_quadratic(c.n_patients, c.time_days, c.event, annotated);
        CHECK_CLOSE(m.annotated_truth_cindex, ceiling, 1e-12, 0);
        CHECK_MSG(ceiling > 0.65 && ceiling < oracle, "seed %d: annotated %g oracle %g", (int)seeds[s], ceiling, oracle);
        printf("  seed %d: oracle_cindex %.4f annotated_truth_cindex %.4f\n", (int)seeds[s], oracle, ceiling);
        free(annotated);
        free(n_ann);
        /* arms balanced-ish */
        size_t arm1 = 0;
        for (size_t i = 0; i < c.n_patients; i++) arm1 += c.arm[i] == 1;
        CHECK(arm1 > 90 && arm1 < 168);
        lr_cohort_summary_free(&m);
        lr_cohort_free(&c);
    }
}

static void test_truth_structure(void)
{
    /* Bone lesions riskiest, lung lowest; growing lesions riskier than shrinking ones. */
    lr_synth_params p;
    lr_synth_default_params(&p);
    p.seed = 5;
    p.skip_patches = 1;
    lr_cohort c;
    lr_err err = {0};
    CHECK(lr_synth_generate(&p, &c, &err) == 0);
    double sum[N_SYNTH_ORGANS] = {0}, cnt[N_SYNTH_ORGANS] = {0}, grow = 0, ngrow = 0, shrink = 0, nshrink = 0;
    for (size_t l = 0; l < c.n_lesions; l++) {
        sum[c.organ[l]] += c.truth_lesion_log_hazard[l];
        cnt[c.organ[l]] += 1;
        double f = c.volume_followup_mm3[l];
        if (isnan(f)) continue;
        if (f > c.volume_mm3[l]) grow += c.truth_lesion_log_hazard[l], ngrow++;
        else shrink += c.truth_lesion_log_hazard[l], nshrink++;
    }
    for (int k = 0; k < N_SYNTH_ORGANS; k++) {
        if (k != ORGAN_BONE) CHECK_MSG(sum[ORGAN_BONE] / cnt[ORGAN_BONE] > sum[k] / cnt[k], "organ %d", k);
        if (k != ORGAN_LUNG) CHECK_MSG(sum[ORGAN_LUNG] / cnt[ORGAN_LUNG] < sum[k] / cnt[k], "organ %d", k);
    }
    CHECK(ngrow > 100 && nshrink > 100);
    CHECK(grow / ngrow > shrink / nshrink + 0.2);
    lr_cohort_free(&c);
}

static double quantile_of(const float *v, size_t n, double q)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = v[i];
    gsl_sort(d, 1, n);
    double m = gsl_stats_quantile_from_sorted_data(d, 1, n, q);
    free(d);
    return m;
}

static void test_patches_plausible(void)
{
    lr_cohort c;
    CHECK(small_cohort(&c, 20, 9) == 0);
    int seen[N_SYNTH_ORGANS] = {0};
    const int P2 = LR_PATCH * LR_PATCH;
    for (size_t l = 0; l < c.n_lesions; l++) {
        float *patch = c.patch + l * P2;
        float centre[36];
        int k = 0;
        for (int i = 33; i < 39; i++)
            for (int j = 33; j < 39; j++) centre[k++] = patch[i * LR_PATCH + j];
        double mc = quantile_of(centre, 36, 0.5), p10 = quantile_of(patch, (size_t)P2, 0.1),
               p90 = quantile_of(patch, (size_t)P2, 0.9);
        float lo = patch[0], hi = patch[0];
        for (int i = 0; i < P2; i++) lo = GSL_MIN(lo, patch[i]), hi = GSL_MAX(hi, patch[i]);
        CHECK(lo >= -1024 && hi <= 3071);
        int o = c.organ[l];
        seen[o]++;
        if (o == ORGAN_LUNG) {
            CHECK_MSG(p10 < -650, "lung patch %zu 10th percentile %g", l, p10); /* aerated lung around */
            CHECK_MSG(mc > -150, "lung lesion %zu centre %g", l, mc);      /* solid nodule */
        } else if (o == ORGAN_LIVER) {
            CHECK_MSG(mc > -60 && mc < 90, "liver lesion centre %g", mc);
        } else if (o == ORGAN_BONE) {
            CHECK_MSG(p90 > 180, "bone patch %zu 90th percentile %g", l, p90); /* bone or sclerosis */
        }
    }
    CHECK(seen[ORGAN_LUNG] > 0 && seen[ORGAN_BONE] > 0 && seen[ORGAN_LIVER] > 0);
    lr_cohort_free(&c);
}

static void test_volumes(void)
{
    lr_synth_params p;
    lr_synth_default_params(&p);
    p.patients = 3;
    p.seed = 4;
    p.volumes = 1;
    p.volume_dims[0] = 12;
    p.volume_dims[1] = 48;
    p.volume_dims[2] = 40;
    lr_err err = {0};
    const char *path = tmp_path("vol.h5");
    CHECK_MSG(lr_synth_write(path, &p, &err) == 0, "%s", err.msg);
    lr_cohort c;
    CHECK_MSG(lr_cohort_read(path, LR_COHORT_NO_PATCHES, &c, &err) == 0, "%s", err.msg);
    CHECK(c.has_volumes);
    CHECK(c.volume_dims[0] == 12 && c.volume_dims[1] == 48 && c.volume_dims[2] == 40);
    CHECK_CLOSE(c.volume_spacing_mm[0], 50.0, 1e-12, 0);
    int16_t *v = malloc(12 * 48 * 40 * sizeof *v);
    hid_t f = lr_h5_open_read(path, &err);
    CHECK(lr_cohort_read_volume(f, 2, c.volume_dims, v, &err) == 0);
    H5Fclose(f);
    int lung = 0, air = 0, bone = 0;
    for (int i = 0; i < 12 * 48 * 40; i++) lung += v[i] < -700 && v[i] > -950, air += v[i] <= -990, bone += v[i] > 200;
    CHECK(lung > 100 && air > 100 && bone > 10);
    free(v);
    lr_cohort_free(&c);
}

int main(void)
{
    lr_h5_quiet();
    snprintf(tmpdir, sizeof tmpdir, "%s/cohort-XXXXXX", getenv("TMPDIR_TESTS") ? getenv("TMPDIR_TESTS") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_round_trip);
    RUN(test_determinism);
    RUN(test_validator_rejects);
    RUN(test_lesion_keys);
    RUN(test_not_hdf5);
    RUN(test_statistics_and_oracle);
    RUN(test_truth_structure);
    RUN(test_patches_plausible);
    RUN(test_volumes);
    return TEST_SUMMARY();
}
