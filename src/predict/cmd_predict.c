/* lesionrank predict RESULTS.h5 --model NAME --cohort NEW.h5 -o PRED.h5 [--csv PRED.csv] [--saliency]:
 * the kept fold models of one campaign row applied to a new cohort (predict/predict.h). Under mpirun the
 * eval chunks (runs of whole annotations, model/score.h) are dealt round-robin to the ranks, every rank
 * scores its chunks with every fold model, the rows are summed onto rank 0 (each row has one owner, the others contribute zeros) and rank 0 writes the
 * files — so the output is the same for any number of ranks. A failing rank reports to rank 0; no rank
 * calls exit(). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/score.h"
#include "predict/predict.h"
#include "report/report.h"
#include "runner/config.h"
#include "util/cli.h"
#include "util/csv.h"
#include "util/h5.h"
#include "verbs.h"

#define VERB "predict"
#define P2 (LR_PATCH * LR_PATCH)

static void help(void)
{
    printf("usage: lesionrank predict RESULTS.h5 --model NAME --cohort NEW.h5 -o PRED.h5 [options]\n"
           "  Applies the kept fold models of one campaign row to a new cohort (external validation).\n"
           "  --model NAME      campaign row (proposed, no_fc, no_scaler, mean_largest5, imagenet_resnet50, ...)\n"
           "  --cohort NEW.h5   cohort file (format v1) with the new patients\n"
           "  -o PRED.h5        predictions (README \"predict\"); refused when it exists unless --force\n"
           "  --csv PRED.csv    one row per patient: patient_id,risk_mean,risk_fold<k>...,surv_at_<days>...\n"
           "  --saliency        add per-lesion maps [L,72,72] (mean over the fold models): occlusion (risk drop,\n"
           "                    8x8 window, stride 4) and SmoothGrad (input gradient, 8 noisy copies)\n"
           "  --saliency-lesions R1,R2,...  maps only for these lesion rows (0-based; the others are NaN), e.g. the\n"
           "                    four of the report's Figure 5 (`report` prints them as figure5_lesions)\n"
           "  --figures DIR     with --saliency: DIR/figures/saliency_lesions.png|svg, the 2 highest- and 2 lowest-risk\n"
           "                    lesions with both maps over the patch (gnuplot; data in DIR/data)\n"
           "  --analysis DIR    plot templates (default: $LESIONRANK_ANALYSIS, <binary>/../analysis, ./analysis)\n"
           "  --bootstrap B     replicates of the BCa intervals of the metrics (default 1000; 0: none)\n"
           "  --force           replace existing outputs (only once everything succeeded)\n"
           "  Prints key: value lines: models, patients, lesions, external_cindex (Harrell, of risk_mean),\n"
           "  external_uno_cindex (tau = last horizon), external_auc_<t>, external_brier_<t>, external_ipa_<t>,\n"
           "  each with _ci_low/_ci_high (BCa); seeds from the campaign seed. Runs under mpirun.\n");
}

typedef struct {
    const char *campaign, *model, *cohort, *out, *csv, *figures, *analysis, *saliency_lesions;
    int saliency, force;
    long bootstrap;
} options;

static int parse(int argc, char **argv, options *o, int rank)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"cohort", required_argument, 0, 'c'},
                                         {"csv", required_argument, 0, 'v'},   {"saliency", no_argument, 0, 's'},
                                         {"saliency-lesions", required_argument, 0, 'L'},
                                         {"bootstrap", required_argument, 0, 'b'}, {"force", no_argument, 0, 'f'},
                                         {"figures", required_argument, 0, 'F'}, {"analysis", required_argument, 0, 'A'},
                                         {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    *o = (options){.bootstrap = 1000};
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "m:c:o:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'c': o->cohort = optarg; break;
        case 'o': o->out = optarg; break;
        case 'v': o->csv = optarg; break;
        case 's': o->saliency = 1; break;
        case 'L': o->saliency = 1, o->saliency_lesions = optarg; break;
        case 'F': o->figures = optarg; break;
        case 'A': o->analysis = optarg; break;
        case 'f': o->force = 1; break;
        case 'b':
            o->bootstrap = strtol(optarg, &end, 10);
            if (*end || o->bootstrap < 0) return rank ? 2 : lr_usage_error(VERB, "--bootstrap expects an integer >= 0, got '%s'", optarg);
            break;
        case 'h':
            if (!rank) help();
            return -1;
        default: return rank ? 2 : lr_usage_error(VERB, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return rank ? 2 : lr_usage_error(VERB, "expected exactly one RESULTS.h5 argument (see --help)");
    o->campaign = argv[optind];
    if (!o->model) return rank ? 2 : lr_usage_error(VERB, "missing --model NAME");
    if (!o->cohort) return rank ? 2 : lr_usage_error(VERB, "missing --cohort NEW.h5");
    if (!o->out) return rank ? 2 : lr_usage_error(VERB, "missing -o PRED.h5");
    if (o->figures && !o->saliency) return rank ? 2 : lr_usage_error(VERB, "--figures needs --saliency");
    if (o->figures && o->saliency_lesions)
        return rank ? 2 : lr_usage_error(VERB, "--figures draws the extremes of all lesions: not with --saliency-lesions");
    return 0;
}

/* Everything the ranks sum onto rank 0: rows [L][K], [A][K], maps [L][72*72]. */
typedef struct {
    size_t K, L, A;
    float *lesion_risk, *lesion_scale; /* [L*K] */
    signed char *lesion_used;          /* [L*K] */
    double *annotation_risk;           /* [A*K] */
    float *occlusion, *gradient;       /* [L*P2] or NULL */
} rows;

static int rows_alloc(rows *r, size_t K, size_t L, size_t A, int saliency, lr_err *err)
{
    *r = (rows){.K = K, .L = L, .A = A};
    r->lesion_risk = lr_calloc(L * K + 1, sizeof(float), err);
    r->lesion_scale = lr_calloc(L * K + 1, sizeof(float), err);
    r->lesion_used = lr_calloc(L * K + 1, 1, err);
    r->annotation_risk = lr_calloc(A * K + 1, sizeof(double), err);
    if (saliency) r->occlusion = lr_calloc(L * P2 + 1, sizeof(float), err);
    if (saliency) r->gradient = lr_calloc(L * P2 + 1, sizeof(float), err);
    return r->lesion_risk && r->lesion_scale && r->lesion_used && r->annotation_risk &&
                   (!saliency || (r->occlusion && r->gradient)) ? 0 : -1;
}

static void rows_free(rows *r)
{
    free(r->lesion_risk);
    free(r->lesion_scale);
    free(r->lesion_used);
    free(r->annotation_risk);
    free(r->occlusion);
    free(r->gradient);
}

/* MPI_Reduce in pieces (counts are int) of a float/double/char array onto rank 0. */
static void reduce_sum(void *buf, size_t n, MPI_Datatype type, size_t elsize, int rank, MPI_Comm comm)
{
    const size_t piece = 1u << 24;
    for (size_t i = 0; i < n; i += piece) {
        int c = (int)(n - i < piece ? n - i : piece);
        char *p = (char *)buf + i * elsize;
        if (rank == 0) MPI_Reduce(MPI_IN_PLACE, p, c, type, MPI_SUM, 0, comm);
        else MPI_Reduce(p, NULL, c, type, MPI_SUM, 0, comm);
    }
}

/* want[l] = 1 for the rows of --saliency-lesions (every row without it); a row outside [0, L) is an error. */
static int saliency_rows(const char *list, size_t L, unsigned char *want, lr_err *err)
{
    memset(want, list ? 0 : 1, L);
    for (const char *p = list; p && *p;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || (unsigned long long)v >= L || (*end && *end != ','))
            return lr_fail(err, "--saliency-lesions '%s': expected comma-separated lesion rows in [0, %zu)", list, L);
        want[v] = 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* This rank's annotations (mine[a]) and their lesions (lesion_mine[l]), scored by every fold model; maps
 * for the rows with want[l]. */
static int score_mine(const lr_predict_set *set, const lr_cohort *co, const int8_t *mine, const int *lesion_mine,
                      const unsigned char *want, rows *r, lr_err *err)
{
    lr_experiment exp;
    lr_experiment_defaults(&exp);
    lr_scores sc;
    if (lr_scores_alloc(&sc, co, err)) return -1;
    int saliency = want != NULL;
    float *map = saliency ? lr_malloc(P2, sizeof(float), err) : NULL;
    int rc = saliency && !map ? -1 : 0;
    for (size_t k = 0; !rc && k < set->K; k++) {
        lr_train_options o = exp.train;
        lr_lesion_model m;
        if (lr_predict_build(set, k, &o, &m, err)) {
            rc = -1;
            break;
        }
        rc = lr_score_cohort(&m, &o, co, mine, &sc, err);
        for (size_t a = 0; !rc && a < co->n_annotations; a++)
            if (mine[a]) r->annotation_risk[a * set->K + k] = sc.annotation_risk[a];
        for (size_t l = 0; !rc && l < co->n_lesions; l++) {
            if (!lesion_mine[l]) continue;
            r->lesion_risk[l * set->K + k] = sc.lesion_risk[l];
            r->lesion_scale[l * set->K + k] = sc.lesion_scale[l];
            r->lesion_used[l * set->K + k] = (signed char)sc.lesion_used[l];
            if (!saliency || !want[l]) continue;
            rc = lr_saliency_occlusion(&m, &o, co->patch + l * P2, map, err);
            for (size_t i = 0; !rc && i < P2; i++) r->occlusion[l * P2 + i] += map[i] / (float)set->K;
            if (!rc) rc = lr_saliency_smoothgrad(&m, &o, co->patch + l * P2, (uint64_t)set->campaign.seed, (int64_t)l, map, err);
            for (size_t i = 0; !rc && i < P2; i++) r->gradient[l * P2 + i] += map[i] / (float)set->K;
        }
        if (rc) lr_fail_ctx(err, "%s", set->label[k]);
        lr_lesion_model_free(&m);
    }
    free(map);
    lr_scores_free(&sc);
    return rc;
}

/* ---- rank 0: patient rows, survival, metrics, files ---- */

typedef struct {
    size_t P, K, H;
    double *risk;      /* [P*K] mean over the patient's annotations, NaN without one */
    double *risk_mean; /* [P] */
    double *surv;      /* [P*H] mean over the fold models of S_k(t | x) */
    double *annotation_mean; /* [A] */
    float *lesion_mean;      /* [L] */
} patient_rows;

static int patients_compute(const lr_predict_set *set, const lr_cohort *co, const rows *r, patient_rows *pr, lr_err *err)
{
    size_t P = co->n_patients, K = set->K, H = set->campaign.H, A = co->n_annotations, L = co->n_lesions;
    *pr = (patient_rows){.P = P, .K = K, .H = H};
    pr->risk = lr_calloc(P * K + 1, sizeof(double), err);
    pr->risk_mean = lr_calloc(P + 1, sizeof(double), err);
    pr->surv = lr_calloc(P * H + 1, sizeof(double), err);
    pr->annotation_mean = lr_calloc(A + 1, sizeof(double), err);
    pr->lesion_mean = lr_calloc(L + 1, sizeof(float), err);
    double *cnt = lr_calloc(P + 1, sizeof(double), err);
    if (!pr->risk || !pr->risk_mean || !pr->surv || !pr->annotation_mean || !pr->lesion_mean || !cnt) {
        free(cnt);
        return -1;
    }
    /* as a training job's evaluation: the patient's risk is the mean over its annotations */
    for (size_t a = 0; a < A; a++) {
        size_t p = (size_t)co->ann_patient[a];
        for (size_t k = 0; k < K; k++) pr->risk[p * K + k] += r->annotation_risk[a * K + k];
        cnt[p] += 1;
        double s = 0;
        for (size_t k = 0; k < K; k++) s += r->annotation_risk[a * K + k];
        pr->annotation_mean[a] = s / (double)K;
    }
    for (size_t p = 0; p < P; p++) {
        double s = 0;
        for (size_t k = 0; k < K; k++) {
            pr->risk[p * K + k] = cnt[p] > 0 ? pr->risk[p * K + k] / cnt[p] : NAN;
            s += pr->risk[p * K + k];
        }
        pr->risk_mean[p] = s / (double)K;
        /* S(t | x) = exp(-H0_k(t) exp(coef_k risk_k)) per fold model, then averaged: scale-free */
        for (size_t h = 0; h < H; h++) {
            double sv = 0;
            for (size_t k = 0; k < K; k++)
                sv += exp(-set->cumhaz[k * H + h] * exp(set->coef[k] * pr->risk[p * K + k]));
            pr->surv[p * H + h] = sv / (double)K;
        }
    }
    for (size_t l = 0; l < L; l++) {
        double s = 0;
        for (size_t k = 0; k < K; k++) s += r->lesion_risk[l * K + k];
        pr->lesion_mean[l] = (float)(s / (double)K);
    }
    free(cnt);
    return 0;
}

static void patients_free(patient_rows *pr)
{
    free(pr->risk);
    free(pr->risk_mean);
    free(pr->surv);
    free(pr->annotation_mean);
    free(pr->lesion_mean);
}

static int wd(hid_t f, const char *path, int rank, const hsize_t *dims, const double *v, lr_err *err)
{
    return lr_h5_write(f, path, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, rank, dims, NULL, 0, v, err);
}

static int wf(hid_t f, const char *path, int rank, const hsize_t *dims, const float *v, lr_err *err)
{
    return lr_h5_write(f, path, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, rank, dims, NULL, 0, v, err);
}

static int wi(hid_t f, const char *path, hsize_t n, const int32_t *v, lr_err *err)
{
    return lr_h5_write(f, path, H5T_NATIVE_INT32, H5T_STD_I32LE, 1, &n, NULL, 0, v, err);
}

static int write_body(hid_t f, const options *op, const lr_predict_set *set, const lr_cohort *co, const rows *r,
                      const patient_rows *pr, const lr_predict_metrics *mt, lr_err *err)
{
    hsize_t P = co->n_patients, A = co->n_annotations, L = co->n_lesions, K = set->K, H = set->campaign.H;
    long version = LR_PREDICT_VERSION, seed = set->campaign.seed;
    LR_TRY(lr_h5_attr_write_string(f, "/", "format", LR_PREDICT_FORMAT, err));
    LR_TRY(lr_h5_attr_write(f, "/", "version", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &version, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "software_version", LR_VERSION, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "campaign", op->campaign, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "model", set->model, err));
    LR_TRY(lr_h5_attr_write_string(f, "/", "cohort", op->cohort, err));
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)lr_fnv1a64_file(op->cohort, NULL));
    LR_TRY(lr_h5_attr_write_string(f, "/", "cohort_fnv1a64", hex, err));
    LR_TRY(lr_h5_attr_write(f, "/", "seed", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &seed, err));
    const char **labels = malloc(K * sizeof *labels);
    if (!labels) return lr_fail(err, "out of memory");
    for (size_t k = 0; k < K; k++) labels[k] = set->label[k];
    int rc = lr_h5_write_strings(f, "/models/label", K, labels, err);
    free(labels);
    LR_TRY(rc);
    LR_TRY(wi(f, "/models/job", K, set->job, err));
    LR_TRY(wi(f, "/models/fold", K, set->fold, err));
    LR_TRY(wi(f, "/models/replicate", K, set->replicate, err));
    LR_TRY(wd(f, "/models/risk_coef", 1, &K, set->coef, err));
    hsize_t KH[2] = {K, H}, PK[2] = {P, K}, PH[2] = {P, H}, AK[2] = {A, K}, LK[2] = {L, K};
    LR_TRY(wd(f, "/models/baseline_cumhaz", 2, KH, set->cumhaz, err));
    LR_TRY(wd(f, "/horizons_days", 1, &H, set->campaign.horizons_days, err));
    LR_TRY(lr_h5_write_strings(f, "/patients/id", P, (const char *const *)co->patient_id, err));
    LR_TRY(wd(f, "/patients/risk", 2, PK, pr->risk, err));
    LR_TRY(wd(f, "/patients/risk_mean", 1, &P, pr->risk_mean, err));
    LR_TRY(wd(f, "/patients/surv", 2, PH, pr->surv, err));
    LR_TRY(wi(f, "/annotations/patient", A, co->ann_patient, err));
    LR_TRY(wd(f, "/annotations/risk", 2, AK, r->annotation_risk, err));
    LR_TRY(wd(f, "/annotations/risk_mean", 1, &A, pr->annotation_mean, err));
    LR_TRY(wf(f, "/lesions/risk", 2, LK, r->lesion_risk, err));
    LR_TRY(wf(f, "/lesions/risk_mean", 1, &L, pr->lesion_mean, err));
    LR_TRY(wf(f, "/lesions/scale", 2, LK, r->lesion_scale, err));
    LR_TRY(lr_h5_write(f, "/lesions/used", H5T_NATIVE_SCHAR, H5T_STD_I8LE, 2, LK, NULL, 0, r->lesion_used, err));
    if (r->occlusion) {
        hsize_t LPP[3] = {L, LR_PATCH, LR_PATCH};
        LR_TRY(wf(f, "/saliency/occlusion", 3, LPP, r->occlusion, err));
        LR_TRY(wf(f, "/saliency/gradient", 3, LPP, r->gradient, err));
    }
    hsize_t M = mt->n;
    const char *names[LR_PREDICT_MAX_METRICS], *notes[LR_PREDICT_MAX_METRICS];
    for (size_t i = 0; i < mt->n; i++) names[i] = mt->name[i], notes[i] = mt->note[i];
    LR_TRY(lr_h5_write_strings(f, "/metrics/name", M, names, err));
    LR_TRY(lr_h5_write_strings(f, "/metrics/note", M, notes, err));
    LR_TRY(wd(f, "/metrics/estimate", 1, &M, mt->estimate, err));
    LR_TRY(wd(f, "/metrics/ci_low", 1, &M, mt->low, err));
    LR_TRY(wd(f, "/metrics/ci_high", 1, &M, mt->high, err));
    return 0;
fail:
    return -1;
}

/* %.17g round-trips a double; a missing value is written NaN, which R's read.csv and Python's float() read */
static void csv_number(FILE *f, double v)
{
    if (isnan(v)) fputs(",NaN", f);
    else fprintf(f, ",%.17g", v);
}

static int write_csv(FILE *f, const lr_predict_set *set, const lr_cohort *co, const patient_rows *pr)
{
    fprintf(f, "patient_id,risk_mean");
    for (size_t k = 0; k < set->K; k++) fprintf(f, ",risk_%s", set->label[k]);
    for (size_t h = 0; h < pr->H; h++) fprintf(f, ",surv_at_%.0f", set->campaign.horizons_days[h]);
    fputc('\n', f);
    for (size_t p = 0; p < pr->P; p++) {
        if (lr_csv_write_field(f, co->patient_id[p])) return -1;
        csv_number(f, pr->risk_mean[p]);
        for (size_t k = 0; k < set->K; k++) csv_number(f, pr->risk[p * set->K + k]);
        for (size_t h = 0; h < pr->H; h++) csv_number(f, pr->surv[p * pr->H + h]);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

/* Both outputs to temporary names, renamed into place only when both are complete. */
static int write_outputs(const options *op, const lr_predict_set *set, const lr_cohort *co, const rows *r,
                         const patient_rows *pr, const lr_predict_metrics *mt, lr_err *err)
{
    char tmp[LR_PATH_MAX + 32], tmp_csv[LR_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", op->out, (long)getpid());
    snprintf(tmp_csv, sizeof tmp_csv, "%s.tmp.%ld", op->csv ? op->csv : "", (long)getpid());
    hid_t f = lr_h5_create(tmp, err);
    if (f < 0) return lr_fail_ctx(err, "%s", op->out);
    int rc = write_body(f, op, set, co, r, pr, mt, err);
    if (H5Fclose(f) < 0 && !rc) rc = lr_fail(err, "%s: error closing", tmp);
    if (!rc && op->csv) {
        FILE *c = fopen(tmp_csv, "w");
        rc = !c || write_csv(c, set, co, pr) ? lr_fail(err, "%s: cannot write", op->csv) : 0;
        if (c && fclose(c) && !rc) rc = lr_fail(err, "%s: cannot write", op->csv);
    }
    if (!rc && rename(tmp, op->out)) rc = lr_fail(err, "%s: cannot rename %s into place", op->out, tmp);
    if (!rc && op->csv && rename(tmp_csv, op->csv)) rc = lr_fail(err, "%s: cannot rename %s into place", op->csv, tmp_csv);
    if (rc) {
        unlink(tmp);
        if (op->csv) unlink(tmp_csv);
    }
    return rc;
}

static void print_summary(const lr_predict_set *set, const lr_cohort *co, const options *op, const lr_predict_metrics *mt,
                          int ranks)
{
    printf("predictions: %s\n", op->out);
    if (op->csv) printf("csv: %s\n", op->csv);
    printf("model: %s\nmodels: %zu\npatients: %zu\nannotations: %zu\nlesions: %zu\nranks: %d\n", set->model, set->K,
           co->n_patients, co->n_annotations, co->n_lesions, ranks);
    printf("patients_scored: %zu\nevents: %zu\nbootstrap: %ld\n", mt->patients, mt->events, op->bootstrap);
    for (size_t i = 0; i < mt->n; i++) {
        printf("%s: %.10g\n", mt->name[i], mt->estimate[i]);
        printf("%s_ci_low: %.10g\n%s_ci_high: %.10g\n", mt->name[i], mt->low[i], mt->name[i], mt->high[i]);
        if (mt->note[i][0]) printf("%s_note: %s\n", mt->name[i], mt->note[i]);
    }
    if (op->saliency)
        printf("saliency: /saliency/occlusion /saliency/gradient [%zu,%d,%d]\n", co->n_lesions, LR_PATCH, LR_PATCH);
}

/* Rank 0 prints every failing rank's message (one line each); returns 1 when any rank failed. */
static int report_failures(int local_rc, const lr_err *err, int rank, int size, MPI_Comm comm)
{
    int any = 0;
    MPI_Allreduce(&local_rc, &any, 1, MPI_INT, MPI_LOR, comm);
    if (!any) return 0;
    char mine[600];
    snprintf(mine, sizeof mine, "%.590s", local_rc ? err->msg : "");
    char *all = rank == 0 ? calloc((size_t)size, sizeof mine) : NULL;
    MPI_Gather(mine, (int)sizeof mine, MPI_CHAR, all, (int)sizeof mine, MPI_CHAR, 0, comm);
    if (rank == 0) {
        const char *first = NULL;
        for (int r = 0; all && r < size; r++) {
            const char *m = all + (size_t)r * sizeof mine;
            if (!m[0] || (first && !strcmp(first, m))) continue; /* every rank says the same: say it once */
            if (first) fprintf(stderr, "lesionrank predict: rank %d: %s\n", r, m);
            else fprintf(stderr, "lesionrank predict: %s\n", m);
            if (!first) first = m;
        }
        free(all);
    }
    return 1;
}

static int run(const options *op, int rank, int size, MPI_Comm comm)
{
    lr_err err = {0};
    lr_predict_set set;
    lr_cohort co;
    memset(&set, 0, sizeof set);
    memset(&co, 0, sizeof co);
    int have_set = 0, have_co = 0, rc = 0;
    /* checks every rank makes alike (same files): any failure is reported once by rank 0 */
    if (!op->force && access(op->out, F_OK) == 0)
        rc = lr_fail(&err, "%s exists; refusing to overwrite (use --force)", op->out);
    if (!rc && op->figures && !op->force && access(op->figures, F_OK) == 0)
        rc = lr_fail(&err, "%s exists; refusing to overwrite (use --force)", op->figures);
    if (!rc && op->csv && !op->force && access(op->csv, F_OK) == 0)
        rc = lr_fail(&err, "%s exists; refusing to overwrite (use --force)", op->csv);
    if (!rc) rc = lr_predict_open(op->campaign, op->model, &set, &err), have_set = !rc;
    if (!rc) {
        rc = lr_cohort_read(op->cohort, 0, &co, &err);
        have_co = !rc;
        if (rc) lr_fail_ctx(&err, "cohort");
    }
    if (!rc) rc = lr_predict_check_cohort(&set, &co, op->cohort, &err);
    if (report_failures(rc, &err, rank, size, comm)) goto done;

    /* the eval chunks (runs of whole annotations) are dealt round-robin to the ranks */
    unsigned char *want = op->saliency ? lr_malloc(co.n_lesions + 1, 1, &err) : NULL;
    rc = op->saliency && (!want || saliency_rows(op->saliency_lesions, co.n_lesions, want, &err));
    if (report_failures(rc, &err, rank, size, comm)) {
        free(want);
        goto done;
    }
    int8_t *mine = lr_calloc(co.n_annotations + 1, 1, &err);
    int *lesion_mine = lr_calloc(co.n_lesions + 1, sizeof(int), &err);
    int32_t *chunk = lr_calloc(co.n_annotations + 1, sizeof(int32_t), &err);
    rows r = {0};
    rc = mine && lesion_mine && chunk ? 0 : -1;
    if (!rc) rc = rows_alloc(&r, set.K, co.n_lesions, co.n_annotations, op->saliency, &err);
    if (!rc) lr_score_chunks(&co, chunk);
    for (size_t a = 0; !rc && a < co.n_annotations; a++) {
        mine[a] = chunk[a] % size == rank;
        for (int i = 0; i < co.ann_n_lesions[a]; i++) lesion_mine[co.ann_first_lesion[a] + i] = mine[a];
    }
    free(chunk);
    if (!rc) rc = score_mine(&set, &co, mine, lesion_mine, want, &r, &err);
    int failed = report_failures(rc, &err, rank, size, comm);
    if (!failed) {
        reduce_sum(r.lesion_risk, r.L * r.K, MPI_FLOAT, sizeof(float), rank, comm);
        reduce_sum(r.lesion_scale, r.L * r.K, MPI_FLOAT, sizeof(float), rank, comm);
        reduce_sum(r.lesion_used, r.L * r.K, MPI_SIGNED_CHAR, 1, rank, comm);
        reduce_sum(r.annotation_risk, r.A * r.K, MPI_DOUBLE, sizeof(double), rank, comm);
        if (r.occlusion) reduce_sum(r.occlusion, r.L * P2, MPI_FLOAT, sizeof(float), rank, comm);
        if (r.gradient) reduce_sum(r.gradient, r.L * P2, MPI_FLOAT, sizeof(float), rank, comm);
    }
    if (!failed && rank == 0) {
        /* lesions outside every annotation have no owner: not scored */
        int *owned = lr_calloc(co.n_lesions + 1, sizeof(int), &err);
        rc = owned ? 0 : -1;
        for (size_t a = 0; !rc && a < co.n_annotations; a++)
            for (int i = 0; i < co.ann_n_lesions[a]; i++) owned[co.ann_first_lesion[a] + i] = 1;
        for (size_t l = 0; !rc && l < co.n_lesions; l++)
            if (!owned[l])
                for (size_t k = 0; k < r.K; k++) r.lesion_risk[l * r.K + k] = r.lesion_scale[l * r.K + k] = NAN;
        for (size_t l = 0; !rc && want && l < co.n_lesions; l++)
            if (!want[l] || !owned[l])
                for (size_t i = 0; i < P2; i++) r.occlusion[l * P2 + i] = r.gradient[l * P2 + i] = NAN;
        free(owned);
        patient_rows pr = {0};
        lr_predict_metrics mt;
        memset(&mt, 0, sizeof mt);
        if (!rc) rc = patients_compute(&set, &co, &r, &pr, &err);
        if (!rc) rc = lr_predict_metrics_compute(&co, pr.risk_mean, pr.surv, set.campaign.H, set.campaign.horizons_days,
                                                 (size_t)op->bootstrap, (uint64_t)set.campaign.seed, &mt, &err);
        if (!rc) rc = write_outputs(op, &set, &co, &r, &pr, &mt, &err);
        if (!rc) print_summary(&set, &co, op, &mt, size);
        if (!rc && op->figures) {
            char analysis[1024];
            size_t rendered = 0;
            lr_find_analysis_dir(op->analysis, analysis, sizeof analysis);
            rc = lr_predict_figure(op->figures, analysis, &co, pr.lesion_mean, r.occlusion, r.gradient, &rendered, &err);
            if (!rc) printf("figure: %s/figures/saliency_lesions.png\nfigures_rendered: %zu\n", op->figures, rendered);
        }
        if (rc) fprintf(stderr, "lesionrank predict: %s\n", err.msg);
        patients_free(&pr);
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
    if (failed) rc = -1;
    rows_free(&r);
    free(mine);
    free(want);
    free(lesion_mine);
done:
    if (have_co) lr_cohort_free(&co);
    if (have_set) lr_predict_close(&set);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    int was_init = 0;
    MPI_Initialized(&was_init);
    if (!was_init) MPI_Init(NULL, NULL);
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    options op;
    int p = parse(argc, argv, &op, rank);
    int code = p < 0 ? 0 : p > 0 ? 2 : (run(&op, rank, size, comm) ? 1 : 0);
    if (!was_init) MPI_Finalize();
    return code;
}
