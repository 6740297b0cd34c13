/* The ingest driver. Every rank reads the clinical CSV and lists the study directories (cheap and
 * deterministic, so all ranks agree on patients and reader ids without messages). Studies are dealt
 * round-robin to ranks; each rank ingests its share one study at a time and keeps only the lesion rows.
 * Per-patient counts and failures are then combined (allreduce; messages gathered to rank 0), so every
 * rank knows the final shapes: the cohort is created collectively with parallel HDF5 (mpio driver, final
 * shapes, unfiltered datasets), each rank writes its own rows independently, and with --volumes each rank
 * re-reads its CTs and writes their resampled volumes. The file is written under a temporary name and
 * renamed by rank 0 only when every rank succeeded. Without mpirun this runs as one process. */
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/ingest.h"
#include "data/resample.h"
#include "util/h5.h"

void lr_ingest_default_opts(lr_ingest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->volume_dims[0] = 120;
    o->volume_dims[1] = 480;
    o->volume_dims[2] = 480;
    o->volume_spacing[0] = 5.0;
    o->volume_spacing[1] = 0.78125;
    o->volume_spacing[2] = 0.78125;
    o->connectivity = 26;
}

/* Everything every rank knows about the inputs. */
typedef struct {
    lr_clinical_row *rows;
    size_t n_rows;             /* CSV rows = candidate patients */
    lr_study_files *files;     /* [n_rows] (zeroed when the scan failed) */
    char **setup_error;        /* [n_rows] message or NULL: known to every rank */
    char **orphans;            /* study directories without a CSV row */
    size_t n_orphans;
    lr_organ_table organs;
    int readers_mapped;
} inputs;

static void inputs_free(inputs *in)
{
    for (size_t p = 0; p < in->n_rows; p++) {
        if (in->files) lr_study_files_free(&in->files[p]);
        if (in->setup_error) free(in->setup_error[p]);
    }
    for (size_t k = 0; k < in->n_orphans; k++) free(in->orphans[k]);
    free(in->orphans);
    free(in->files);
    free(in->setup_error);
    lr_clinical_free(in->rows, in->n_rows);
    lr_organ_table_free(&in->organs);
    memset(in, 0, sizeof *in);
}

static char *dup_msg(const char *fmt_prefix, const char *msg)
{
    size_t n = strlen(fmt_prefix) + strlen(msg) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", fmt_prefix, msg);
    return s;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_path(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Study directories that no CSV row names. */
static int find_orphans(const char *dir, inputs *in, lr_err *err)
{
    DIR *d = opendir(dir);
    if (!d) return lr_fail(err, "%s: cannot open the studies directory", dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!is_dir(path)) continue;
        size_t p = 0;
        while (p < in->n_rows && strcmp(in->rows[p].id, e->d_name)) p++;
        if (p < in->n_rows) continue;
        char **grown = realloc(in->orphans, (in->n_orphans + 1) * sizeof *grown);
        if (!grown) {
            rc = lr_fail(err, "out of memory");
            break;
        }
        in->orphans = grown;
        if (!(in->orphans[in->n_orphans] = strdup(path))) rc = lr_fail(err, "out of memory");
        else in->n_orphans++;
    }
    closedir(d);
    if (rc == 0 && in->n_orphans > 1) qsort(in->orphans, in->n_orphans, sizeof *in->orphans, cmp_path);
    return rc;
}

static int read_inputs(const lr_ingest_opts *o, inputs *in, lr_err *err)
{
    memset(in, 0, sizeof *in);
    if (o->organ_legend ? lr_organ_table_read(o->organ_legend, &in->organs, err)
                        : lr_organ_table_default(&in->organs, err))
        return -1;
    if (lr_clinical_read(o->clinical_csv, &in->rows, &in->n_rows, err)) goto fail;
    if (!is_dir(o->studies_dir)) {
        lr_fail(err, "%s: no such studies directory", o->studies_dir);
        goto fail;
    }
    in->files = lr_calloc(in->n_rows, sizeof *in->files, err);
    in->setup_error = lr_calloc(in->n_rows, sizeof *in->setup_error, err);
    if (!in->files || !in->setup_error) goto fail;
    for (size_t p = 0; p < in->n_rows; p++) {
        const lr_clinical_row *row = &in->rows[p];
        char dir[8192], prefix[600];
        snprintf(dir, sizeof dir, "%s/%s", o->studies_dir, row->id);
        snprintf(prefix, sizeof prefix, "patient %s: ", row->id);
        lr_err e = {0};
        if (row->error[0]) in->setup_error[p] = strdup(row->error);
        else if (!is_dir(dir)) {
            lr_fail(&e, "no study directory %s (the patient is in %s)", dir, o->clinical_csv);
            in->setup_error[p] = dup_msg(prefix, e.msg);
        } else if (lr_study_scan(dir, &in->files[p], &e)) {
            in->setup_error[p] = dup_msg(prefix, e.msg);
        }
        if ((row->error[0] || e.msg[0]) && !in->setup_error[p]) {
            lr_fail(err, "out of memory");
            goto fail;
        }
    }
    LR_TRY(find_orphans(o->studies_dir, in, err));
    /* Reader ids over the studies that scanned (the others have no readers). */
    LR_TRY(lr_reader_ids(in->files, in->n_rows, &in->readers_mapped, err));
    return 0;
fail:
    inputs_free(in);
    return -1;
}

/* ---- parallel HDF5 output ---- */

enum { DS_ID, DS_TIME, DS_EVENT, DS_ARM, DS_ORGAN_NAME, DS_ANN_PATIENT, DS_ANN_READER, DS_ANN_FIRST, DS_ANN_N,
       DS_PATCH, DS_VOLUME, DS_DIAMETER, DS_FOLLOWUP, DS_ORGAN, DS_LESION_KEY, N_DS };

typedef struct {
    size_t P, A, L;           /* final sizes */
    long *final_index;        /* [n_rows] index among the written patients, -1 skipped */
    int64_t *ann_first;       /* [n_rows] first annotation row */
    int64_t *les_first;       /* [n_rows] first lesion row */
} layout;

static int fixed_strings(char *const *strs, size_t n, size_t *width, char **buf, lr_err *err)
{
    size_t w = 1;
    for (size_t k = 0; k < n; k++)
        if (strlen(strs[k]) + 1 > w) w = strlen(strs[k]) + 1;
    *buf = lr_calloc(n ? n : 1, w, err);
    if (!*buf) return -1;
    for (size_t k = 0; k < n; k++) memcpy(*buf + k * w, strs[k], strlen(strs[k]));
    *width = w;
    return 0;
}

/* Collective: create the file and every dataset; rank 0 writes the patient and organ tables; each rank
 * writes its patients' annotation and lesion rows. Local write failures are returned (after the
 * collective calls), so the caller can still close collectively. */
static int write_cohort(hid_t f, const lr_ingest_opts *o, const inputs *in, const layout *lay, lr_study_rows *rows,
                        int rank, lr_err *err)
{
    hid_t ds[N_DS];
    for (int k = 0; k < N_DS; k++) ds[k] = -1;
    char *ids = NULL, *organ_buf = NULL, **id_list = NULL;
    int32_t *ann_patient = NULL;
    size_t id_w = 0, organ_w = 0;
    int rc = -1, local = 0;
    id_list = lr_calloc(lay->P, sizeof *id_list, err);
    if (!id_list) goto done;
    for (size_t p = 0; p < in->n_rows; p++)
        if (lay->final_index[p] >= 0) id_list[lay->final_index[p]] = in->rows[p].id;
    if (fixed_strings(id_list, lay->P, &id_w, &ids, err) ||
        fixed_strings(in->organs.names, in->organs.n_names, &organ_w, &organ_buf, err))
        goto done;
    hid_t id_type = H5Tcopy(H5T_C_S1), organ_type = H5Tcopy(H5T_C_S1);
    H5Tset_size(id_type, id_w);
    H5Tset_size(organ_type, organ_w);
    hsize_t P = lay->P, A = lay->A, L = lay->L, K = in->organs.n_names;
    hsize_t patch_dims[3] = {L, LR_PATCH, LR_PATCH};
    struct {
        const char *path;
        hid_t type;
        int rank;
        const hsize_t *dims;
    } spec[N_DS] = {
        {"/patients/id", id_type, 1, &P},           {"/patients/time_days", H5T_IEEE_F64LE, 1, &P},
        {"/patients/event", H5T_STD_I8LE, 1, &P},   {"/patients/arm", H5T_STD_I16LE, 1, &P},
        {"/organs/name", organ_type, 1, &K},        {"/annotations/patient", H5T_STD_I32LE, 1, &A},
        {"/annotations/reader", H5T_STD_I16LE, 1, &A}, {"/annotations/first_lesion", H5T_STD_I64LE, 1, &A},
        {"/annotations/n_lesions", H5T_STD_I32LE, 1, &A}, {"/lesions/patch", H5T_IEEE_F32LE, 3, patch_dims},
        {"/lesions/volume_mm3", H5T_IEEE_F64LE, 1, &L}, {"/lesions/diameter_mm", H5T_IEEE_F64LE, 1, &L},
        {"/lesions/volume_followup_mm3", H5T_IEEE_F64LE, 1, &L}, {"/lesions/organ", H5T_STD_I16LE, 1, &L},
        {"/lesions/lesion_key", H5T_STD_I32LE, 1, &L},
    };
    int version = LR_COHORT_VERSION, ps = LR_PATCH;
    int created = lr_h5_attr_write_string(f, "/", "format", LR_COHORT_FORMAT, err) == 0 &&
                  lr_h5_attr_write(f, "/", "version", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &version, err) == 0 &&
                  lr_h5_attr_write(f, "/", "patch_size", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &ps, err) == 0;
    for (int k = 0; k < N_DS && created; k++)
        created = (ds[k] = lr_h5_create_dataset(f, spec[k].path, spec[k].type, spec[k].rank, spec[k].dims, NULL, err)) >= 0;
    if (created && o->volumes)
        created = lr_cohort_volumes_create(f, lay->P, o->volume_dims, o->volume_spacing, err) == 0;
    if (!created) goto types;

    if (rank == 0) { /* patients and organs */
        double *time = lr_malloc(P, sizeof *time, err);
        int8_t *event = lr_malloc(P, sizeof *event, err);
        int16_t *arm = lr_malloc(P, sizeof *arm, err);
        if (!time || !event || !arm) local = -1;
        for (size_t p = 0; !local && p < in->n_rows; p++) {
            long q = lay->final_index[p];
            if (q < 0) continue;
            time[q] = in->rows[p].time_days;
            event[q] = in->rows[p].event;
            arm[q] = in->rows[p].arm;
        }
        if (!local)
            local = lr_h5_write_rows(ds[DS_ID], id_type, 0, P, ids, "/patients/id", err) ||
                    lr_h5_write_rows(ds[DS_TIME], H5T_NATIVE_DOUBLE, 0, P, time, "/patients/time_days", err) ||
                    lr_h5_write_rows(ds[DS_EVENT], H5T_NATIVE_INT8, 0, P, event, "/patients/event", err) ||
                    lr_h5_write_rows(ds[DS_ARM], H5T_NATIVE_INT16, 0, P, arm, "/patients/arm", err) ||
                    lr_h5_write_rows(ds[DS_ORGAN_NAME], organ_type, 0, K, organ_buf, "/organs/name", err);
        free(time);
        free(event);
        free(arm);
    }
    for (size_t p = 0; !local && p < in->n_rows; p++) {
        const lr_study_rows *r = &rows[p];
        if (lay->final_index[p] < 0 || r->n_annotations == 0) continue; /* skipped, or another rank's */
        hsize_t a0 = (hsize_t)lay->ann_first[p], l0 = (hsize_t)lay->les_first[p], na = r->n_annotations,
                nl = r->n_lesions;
        int32_t *pat = realloc(ann_patient, na * sizeof *pat);
        int64_t *first = pat ? malloc(na * sizeof *first) : NULL;
        if (!pat || !first) {
            free(first);
            local = lr_fail(err, "out of memory");
            break;
        }
        ann_patient = pat;
        int64_t next = lay->les_first[p];
        for (size_t a = 0; a < na; a++) {
            pat[a] = (int32_t)lay->final_index[p];
            first[a] = next;
            next += r->ann_n_lesions[a];
        }
        local = lr_h5_write_rows(ds[DS_ANN_PATIENT], H5T_NATIVE_INT32, a0, na, pat, "/annotations/patient", err) ||
                lr_h5_write_rows(ds[DS_ANN_READER], H5T_NATIVE_INT16, a0, na, r->reader, "/annotations/reader", err) ||
                lr_h5_write_rows(ds[DS_ANN_FIRST], H5T_NATIVE_INT64, a0, na, first, "/annotations/first_lesion", err) ||
                lr_h5_write_rows(ds[DS_ANN_N], H5T_NATIVE_INT32, a0, na, r->ann_n_lesions, "/annotations/n_lesions", err) ||
                lr_h5_write_rows(ds[DS_PATCH], H5T_NATIVE_FLOAT, l0, nl, r->patch, "/lesions/patch", err) ||
                lr_h5_write_rows(ds[DS_VOLUME], H5T_NATIVE_DOUBLE, l0, nl, r->volume_mm3, "/lesions/volume_mm3", err) ||
                lr_h5_write_rows(ds[DS_DIAMETER], H5T_NATIVE_DOUBLE, l0, nl, r->diameter_mm, "/lesions/diameter_mm", err) ||
                lr_h5_write_rows(ds[DS_FOLLOWUP], H5T_NATIVE_DOUBLE, l0, nl, r->volume_followup_mm3,
                           "/lesions/volume_followup_mm3", err) ||
                lr_h5_write_rows(ds[DS_ORGAN], H5T_NATIVE_INT16, l0, nl, r->organ, "/lesions/organ", err) ||
                lr_h5_write_rows(ds[DS_LESION_KEY], H5T_NATIVE_INT32, l0, nl, r->lesion_key, "/lesions/lesion_key", err);
        free(first);
    }
    rc = local ? -1 : 0;
types:
    H5Tclose(id_type);
    H5Tclose(organ_type);
done:
    for (int k = 0; k < N_DS; k++)
        if (ds[k] >= 0) H5Dclose(ds[k]);
    free(ids);
    free(organ_buf);
    free(id_list);
    free(ann_patient);
    return rc;
}

/* --volumes: each rank re-reads its CTs (one at a time) and writes their resampled volumes. */
static int write_volumes(hid_t f, const lr_ingest_opts *o, const inputs *in, const layout *lay, const int *owner,
                         int rank, lr_err *err)
{
    size_t n = o->volume_dims[0] * o->volume_dims[1] * o->volume_dims[2];
    int16_t *vol = lr_malloc(n, sizeof *vol, err);
    if (!vol) return -1;
    int rc = 0;
    for (size_t p = 0; rc == 0 && p < in->n_rows; p++) {
        if (lay->final_index[p] < 0 || owner[p] != rank) continue;
        lr_nifti_geom g;
        float *ct = NULL;
        rc = lr_nifti_read_float(in->files[p].ct, &g, &ct, err);
        /* the canonical CT onto the cohort's grid, centred (crop or pad with air), rounded to int16 */
        if (rc == 0)
            lr_volume_resample(vol, LR_VOXEL_INT16, o->volume_dims, o->volume_spacing, ct, LR_VOXEL_FLOAT, g.dims,
                               g.spacing, LR_HU_AIR);
        if (rc == 0) rc = lr_cohort_volume_write(f, (size_t)lay->final_index[p], o->volume_dims, vol, err);
        if (rc) lr_fail_ctx(err, "patient %s: volume", in->rows[p].id);
        free(ct);
    }
    free(vol);
    return rc;
}

/* ---- the run ---- */

/* Rank 0 receives every rank's concatenated messages (one per line) and prints them. */
static void gather_and_print(const char *mine, int rank, int size, MPI_Comm comm)
{
    int len = (int)strlen(mine);
    int *lens = rank == 0 ? calloc((size_t)size, sizeof *lens) : NULL, *displ = NULL;
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, comm);
    char *all = NULL;
    int total = 0;
    if (rank == 0 && lens) {
        displ = calloc((size_t)size, sizeof *displ);
        for (int r = 0; r < size; r++) {
            if (displ) displ[r] = total;
            total += lens[r];
        }
        all = malloc((size_t)total + 1);
    }
    int ok = rank != 0 || (lens && displ && all);
    MPI_Gatherv(mine, len, MPI_CHAR, ok && rank == 0 ? all : NULL, lens, displ, MPI_CHAR, 0, comm);
    if (rank == 0 && ok) {
        all[total] = '\0';
        fputs(all, stderr);
    }
    free(lens);
    free(displ);
    free(all);
}

static int append_msg(char **buf, size_t *len, const char *msg)
{
    size_t m = strlen(msg);
    char *grown = realloc(*buf, *len + m + 64);
    if (!grown) return -1;
    *buf = grown;
    *len += (size_t)sprintf(grown + *len, "lesionrank ingest: %s\n", msg);
    return 0;
}

/* All ranks agree whether anyone failed. */
static int any(int failed, MPI_Comm comm)
{
    int out = 0;
    MPI_Allreduce(&failed, &out, 1, MPI_INT, MPI_MAX, comm);
    return out;
}

int lr_ingest_run(const lr_ingest_opts *o, MPI_Comm comm, lr_ingest_report *rep, lr_err *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(rep, 0, sizeof *rep);
    double t0 = MPI_Wtime();
    inputs in = {0};
    lr_study_rows *rows = NULL;
    int *owner = NULL;
    long long *counts = NULL, *sum = NULL;
    layout lay = {0};
    char *msgs = NULL, tmp[4200] = "";
    size_t msgs_len = 0;
    int rc = -1;

    /* Refuse an existing output before any work (rank 0 decides). */
    int exists = 0;
    if (rank == 0) exists = access(o->output, F_OK) == 0 && !o->force;
    MPI_Bcast(&exists, 1, MPI_INT, 0, comm);
    if (exists) {
        lr_fail(err, "%s exists; refusing to overwrite (use --force)", o->output);
        return -1;
    }
    if (any(read_inputs(o, &in, err) != 0, comm)) {
        if (rank != 0 || !err->msg[0]) lr_fail(err, "cannot read the inputs (see rank 0)");
        inputs_free(&in);
        return -1;
    }
    size_t N = in.n_rows;
    rows = lr_calloc(N, sizeof *rows, err);
    owner = lr_calloc(N, sizeof *owner, err);
    counts = lr_calloc(3 * N, sizeof *counts, err);
    sum = lr_calloc(3 * N, sizeof *sum, err);
    lay.final_index = lr_calloc(N, sizeof *lay.final_index, err);
    lay.ann_first = lr_calloc(N, sizeof *lay.ann_first, err);
    lay.les_first = lr_calloc(N, sizeof *lay.les_first, err);
    if (any(!rows || !owner || !counts || !sum || !lay.final_index || !lay.ann_first || !lay.les_first, comm))
        goto out;

    /* Deal the studies that scanned to ranks; ingest mine one at a time. */
    size_t candidates = 0;
    for (size_t p = 0; p < N; p++) owner[p] = in.setup_error[p] ? -1 : (int)(candidates++ % (size_t)size);
    int local_fail = 0, tty = !o->quiet && isatty(STDERR_FILENO);
    size_t mine = 0, done = 0;
    for (size_t p = 0; p < N; p++) mine += owner[p] == rank;
    for (size_t p = 0; p < N; p++) {
        if (owner[p] != rank) continue;
        if (tty) fprintf(stderr, "\r[rank %d] study %zu/%zu %s   ", rank, ++done, mine, in.rows[p].id);
        lr_err e = {0};
        if (lr_study_ingest(&in.files[p], &in.organs, o->connectivity, &rows[p], &e)) {
            char line[sizeof e.msg + 600];
            snprintf(line, sizeof line, "patient %s: %s", in.rows[p].id, e.msg);
            if (append_msg(&msgs, &msgs_len, line)) local_fail = 1;
            counts[3 * p + 2] = 1; /* failed */
        } else {
            counts[3 * p] = (long long)rows[p].n_annotations;
            counts[3 * p + 1] = (long long)rows[p].n_lesions;
        }
    }
    if (tty && mine) fputc('\n', stderr);
    if (any(local_fail, comm)) {
        lr_fail(err, "out of memory collecting messages");
        goto out;
    }
    MPI_Allreduce(counts, sum, (int)(3 * N), MPI_LONG_LONG, MPI_SUM, comm);

    /* Rank 0 reports every problem: setup (known to all), per-study (gathered), orphan directories. */
    size_t n_bad = 0;
    char *setup_msgs = NULL;
    size_t setup_len = 0;
    for (size_t p = 0; p < N; p++) {
        if (in.setup_error[p]) {
            n_bad++;
            if (rank == 0) append_msg(&setup_msgs, &setup_len, in.setup_error[p]);
        }
        n_bad += sum[3 * p + 2] > 0;
    }
    for (size_t k = 0; k < in.n_orphans; k++) {
        n_bad++;
        char line[8400];
        snprintf(line, sizeof line, "%s: study directory without a row in %s", in.orphans[k], o->clinical_csv);
        if (rank == 0) append_msg(&setup_msgs, &setup_len, line);
    }
    if (rank == 0 && setup_msgs) fputs(setup_msgs, stderr);
    free(setup_msgs);
    gather_and_print(msgs ? msgs : "", rank, size, comm);
    if (n_bad && !o->skip_bad) {
        lr_fail(err, "%zu bad stud%s (listed above); nothing written (--skip-bad skips them)", n_bad,
                n_bad == 1 ? "y" : "ies");
        goto out;
    }

    /* Final layout, identical on every rank. */
    for (size_t p = 0; p < N; p++) {
        int ok = !in.setup_error[p] && sum[3 * p + 2] == 0;
        lay.final_index[p] = ok ? (long)lay.P++ : -1;
        if (!ok) continue;
        lay.ann_first[p] = (int64_t)lay.A;
        lay.les_first[p] = (int64_t)lay.L;
        lay.A += (size_t)sum[3 * p];
        lay.L += (size_t)sum[3 * p + 1];
    }
    rep->skipped = N - lay.P + in.n_orphans;
    if (lay.P == 0) {
        lr_fail(err, "no valid study to write");
        goto out;
    }

    /* Temporary name next to the output (so the final rename is atomic). */
    if (rank == 0) snprintf(tmp, sizeof tmp, "%s.tmp-%ld", o->output, (long)getpid());
    MPI_Bcast(tmp, sizeof tmp, MPI_CHAR, 0, comm);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (any(f < 0, comm)) {
        lr_fail(err, "%s: cannot create the output file", tmp);
        if (f >= 0) H5Fclose(f);
        goto out;
    }
    int wfail = write_cohort(f, o, &in, &lay, rows, rank, err) != 0;
    /* Lesion rows are on disk; free them before the volumes pass. */
    for (size_t p = 0; p < N; p++) lr_study_rows_free(&rows[p]);
    if (!any(wfail, comm) && o->volumes) wfail = write_volumes(f, o, &in, &lay, owner, rank, err) != 0;
    wfail |= H5Fclose(f) < 0;
    int failed = any(wfail, comm);
    if (rank == 0) {
        if (!failed && rename(tmp, o->output) != 0) {
            failed = 1;
            lr_fail(err, "cannot rename %s to %s: %s", tmp, o->output, strerror(errno));
        }
        if (failed) unlink(tmp);
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, comm);
    if (failed) {
        if (!wfail) lr_fail(err, "writing %s failed on another rank (see rank 0)", o->output);
        goto out;
    }
    rep->patients = lay.P;
    rep->annotations = lay.A;
    rep->lesions = lay.L;
    rep->seconds = MPI_Wtime() - t0;
    MPI_Bcast(&rep->seconds, 1, MPI_DOUBLE, 0, comm);
    rep->studies_per_minute = rep->seconds > 0 ? 60.0 * (double)lay.P / rep->seconds : 0;
    if (rank == 0 && !o->quiet) {
        printf("wrote: %s\npatients: %zu\nannotations: %zu\nlesions: %zu\nskipped: %zu\n", o->output, lay.P, lay.A,
               lay.L, rep->skipped);
        for (size_t p = 0; p < N; p++)
            if (lay.final_index[p] < 0) printf("skipped_patient: %s\n", in.rows[p].id);
        for (size_t k = 0; k < in.n_orphans; k++) printf("skipped_directory: %s\n", in.orphans[k]);
        if (in.readers_mapped)
            for (size_t p = 0; p < N; p++)
                for (size_t r = 0; lay.final_index[p] >= 0 && r < in.files[p].n_readers; r++)
                    printf("reader_id: %s %s=%d\n", in.rows[p].id, in.files[p].readers[r].name,
                           in.files[p].readers[r].id);
        printf("volumes: %s\n", o->volumes ? "yes" : "no");
        printf("ranks: %d\nseconds: %.2f\nstudies_per_minute: %.1f\n", size, rep->seconds, rep->studies_per_minute);
        fflush(stdout);
    }
    rc = 0;
out:
    if (rows)
        for (size_t p = 0; p < N; p++) lr_study_rows_free(&rows[p]);
    free(rows);
    free(owner);
    free(counts);
    free(sum);
    free(lay.final_index);
    free(lay.ann_first);
    free(lay.les_first);
    free(msgs);
    inputs_free(&in);
    return rc;
}
