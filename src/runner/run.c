/* Running jobs: the worker (its job set up by lr_job_spec_make, as the train verb's) and the MPI master. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "data/split.h"
#include "model/pretrain.h"
#include "nn/engine.h"
#include "runner/plan.h"
#include "runner/runner.h"
#include "util/rng.h"

enum { TAG_JOB = 1, TAG_REPORT = 2 };
enum { JOB_PENDING, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_LEFT /* not part of this run (--retry-failed) */ };

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

void lr_worker_init(lr_worker_state *w, const lr_experiment *exp, int rank)
{
    memset(w, 0, sizeof *w);
    w->exp = exp;
    w->rank = rank;
    gethostname(w->host, sizeof w->host - 1);
    lr_nn_set_threads(exp->threads); /* before the first job initialises anything of the engine */
}

void lr_worker_free(lr_worker_state *w)
{
    if (w->have_cohort) lr_cohort_free(&w->cohort);
    free(w->part);
    memset(w, 0, sizeof *w);
}

int lr_worker_load_cohort(lr_worker_state *w, lr_model_kind kind, int repeat, lr_err *err)
{
    int need_patches = lr_model_is_learned(kind) && kind != LR_MODEL_WHOLE_VOLUME;
    if (w->have_cohort && (w->have_patches || !need_patches)) {
        if (w->part_repeat == repeat) return 0;
        w->part_repeat = repeat;
        return lr_split_parts(&w->cohort, w->exp->folds, w->exp->seed, repeat, w->part, err);
    }
    if (w->have_cohort) lr_cohort_free(&w->cohort);
    w->have_cohort = 0;
    if (lr_cohort_read(w->exp->cohort, need_patches ? 0 : LR_COHORT_NO_PATCHES, &w->cohort, err)) return -1;
    w->have_cohort = 1;
    w->have_patches = need_patches;
    free(w->part);
    w->part = lr_malloc(w->cohort.n_patients, sizeof *w->part, err);
    if (!w->part) return -1;
    w->part_repeat = repeat;
    return lr_split_parts(&w->cohort, w->exp->folds, w->exp->seed, repeat, w->part, err);
}

void lr_worker_run_job(lr_worker_state *w, const lr_job *j, int attempt, lr_job_report *rep)
{
    const lr_experiment *exp = w->exp;
    memset(rep, 0, sizeof *rep);
    rep->id = j->id;
    rep->attempt = attempt;
    rep->rank = w->rank;
    rep->status = LR_JOB_FAILED;
    for (int k = 0; k < 3; k++) rep->c[k] = NAN;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double cpu0 = cpu_seconds();
    lr_err err = {0};
    if (j->pretrain) {
        if (lr_pretrain_run(&exp->train, (lr_pretrain_task)(j->pretrain - 1), 0, &err) == 0) rep->status = LR_JOB_OK;
        else snprintf(rep->error, sizeof rep->error, "%.500s", err.msg);
    } else {
        char shard[LR_PATH_MAX + 64], log[LR_PATH_MAX + 64], ckpt[LR_PATH_MAX + 64];
        lr_campaign_shard_path(exp, j, shard, sizeof shard);
        lr_campaign_log_path(exp, j, log, sizeof log);
        lr_campaign_checkpoint_path(exp, j, ckpt, sizeof ckpt);
        lr_job_result res;
        memset(&res, 0, sizeof res);
        if (lr_worker_load_cohort(w, j->kind, j->repeat, &err)) {
            snprintf(rep->error, sizeof rep->error, "%.500s", err.msg);
        } else {
            /* the job's experiment: its sweep setting applied (the identity stays the campaign's) */
            const lr_experiment *jexp = lr_job_experiment(exp, j);
            lr_job_spec spec = lr_job_spec_make(jexp ? jexp : exp, &w->cohort, w->part, j);
            spec.log_path = log;
            spec.checkpoint_path = ckpt;
            spec.identity = lr_job_identity(exp, j);
            const char *stop = getenv("LESIONRANK_TEST_STOP_AFTER_EPOCHS"); /* fault-injection for tests */
            if (stop) spec.stop_after_epochs = atoi(stop);
            if (!jexp) {
                snprintf(rep->error, sizeof rep->error, "out of memory (the job's setting)");
            } else if (lr_train_job(&spec, &res, &err)) {
                snprintf(rep->error, sizeof rep->error, "%.500s", err.msg);
            } else {
                lr_shard_meta meta = {.config_text = exp->text,
                                      .config_path = exp->path,
                                      .cohort_path = exp->cohort,
                                      .model = lr_model_name(j->kind),
                                      .repeat = j->repeat,
                                      .setting = j->setting,
                                      .fold = j->fold,
                                      .replicate = j->replicate,
                                      .seed = exp->seed,
                                      .attempts = attempt,
                                      .rank = w->rank,
                                      .identity = spec.identity,
                                      .host = w->host,
                                      .opt = &exp->train};
                if (lr_shard_write(shard, &meta, &res, &err)) {
                    snprintf(rep->error, sizeof rep->error, "%.500s", err.msg);
                } else {
                    rep->status = res.status;
                    memcpy(rep->c, res.c_final, sizeof rep->c);
                    snprintf(rep->error, sizeof rep->error, "%.500s", res.error);
                    if (res.status == LR_JOB_OK) unlink(ckpt);
                }
            }
            if (jexp) lr_job_experiment_free(exp, jexp);
        }
        lr_job_result_free(&res);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->wall = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    rep->cpu = cpu_seconds() - cpu0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    rep->peak_rss_kb = ru.ru_maxrss;
}

/* ---- master ---- */

typedef struct {
    const lr_experiment *exp;
    const lr_campaign *c;
    int *state, *attempts, *order;
    int *busy;             /* [ranks] 1 while the rank runs a job (master with workers) */
    int n_done, n_failed, n_skipped, n_left, running;
    double t0, cpu0, last_status;
    int verbose;
    /* the ETA: the plan's wall seconds per job (from the calibration cache; NULL without one), corrected
     * by what this run measured: finished jobs per kind and the epochs done of running jobs */
    double *planned;       /* [jobs] or NULL */
    double *started;       /* [jobs] when the job was sent (this run), for running jobs */
    double *took;          /* [jobs] measured wall seconds of jobs finished in this run, else -1 */
    int *finish_seq;       /* [jobs] order in which they finished (0 first) */
    int n_finished;
    int *rank_job;         /* [ranks] the job a rank runs, -1 idle */
    int ranks;             /* ranks that run jobs: size - 1, or 1 alone */
} master;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int kind_slot(const lr_job *j) { return j->pretrain ? LR_N_MODELS : (int)j->kind; }

/* Epochs done of a running job, from the last "epoch k/N" line of its log; 0 when none yet. */
static double epochs_fraction(const master *M, const lr_job *j)
{
    if (j->pretrain || !lr_model_is_learned(j->kind)) return 0;
    char path[LR_PATH_MAX + 64], line[512];
    lr_campaign_log_path(M->exp, j, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int k = 0, n = 0, kk, nn;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "epoch %d/%d", &kk, &nn) == 2 && nn > 0) k = kk, n = nn;
    fclose(f);
    return n > 0 ? (double)k / n : 0;
}

/* Wall seconds job id is expected to take. With a plan: its planned time times actual / planned of the
 * jobs finished in this run, the most recent weighing most (weights 0.7^age, each by its planned time): the
 * plan is right within its tolerance per kind, while the load of a shared machine changes under a run.
 * Without a plan: the mean of the finished jobs of its kind. NAN: cannot say. */
static double expected_wall(const master *M, int id)
{
    int slot = kind_slot(&M->c->jobs[id]);
    double act_k = 0, act = 0, pl = 0;
    int n_k = 0;
    for (int i = 0; i < M->c->n_jobs; i++) {
        if (M->took[i] < 0) continue;
        if (kind_slot(&M->c->jobs[i]) == slot) act_k += M->took[i], n_k++;
        if (!M->planned) continue;
        double w = pow(0.7, (double)(M->n_finished - 1 - M->finish_seq[i]));
        act += w * M->took[i], pl += w * M->planned[i];
    }
    if (!M->planned) return n_k ? act_k / n_k : NAN;
    return M->planned[id] * (pl > 0 ? act / pl : 1);
}

/* Seconds until the campaign is done: running jobs' remainders (expected time, blended with their epoch
 * progress) and the pending jobs list-scheduled on the ranks in the master's order. NAN: unknown. */
static double campaign_eta(const master *M)
{
    const lr_campaign *c = M->c;
    double *rem = malloc((size_t)c->n_jobs * sizeof *rem), *fin = calloc((size_t)c->n_jobs, sizeof *fin);
    double *free_at = calloc((size_t)M->ranks, sizeof *free_at), eta = NAN, t = now();
    if (!rem || !fin || !free_at) goto done;
    for (int w = 0; w < M->ranks; w++) {
        int id = M->rank_job[w];
        if (id < 0) continue;
        double T = expected_wall(M, id), e = t - M->started[id], f = epochs_fraction(M, &c->jobs[id]);
        if (isnan(T)) goto done;
        /* mix the rate measured so far (e / f) and the expectation, weighted by the progress */
        double total = f > 0 ? f * (e / f) + (1 - f) * T : T;
        free_at[w] = f > 0 ? (1 - f) * total : fmax(T - e, 0.05 * T);
        fin[id] = free_at[w];
    }
    for (int i = 0; i < c->n_jobs; i++) {
        rem[i] = -1;
        if (M->state[i] != JOB_PENDING) continue;
        rem[i] = expected_wall(M, i);
        if (isnan(rem[i])) goto done;
        rem[i] = fmax(rem[i], 1e-6);
    }
    eta = lr_plan_makespan(c, M->order, rem, fin, free_at, M->ranks);
done:
    free(rem), free(fin), free(free_at);
    return eta;
}

static void status_line(master *M)
{
    double el = now() - M->t0, eta = campaign_eta(M);
    char eta_s[32];
    if (isnan(eta)) snprintf(eta_s, sizeof eta_s, "unknown");
    else snprintf(eta_s, sizeof eta_s, "%.0fs", eta);
    printf("[%7.1fs] status: %d/%d done, %d running, %d failed, elapsed %.0fs, ETA %s\n", el,
           M->n_done + M->n_failed, M->c->n_jobs - M->n_left, M->running, M->n_failed, el, eta_s);
    fflush(stdout);
    M->last_status = now();
}

/* Next runnable job (most expensive first, dependency finished); -1 none ready now. */
static int next_job(master *M)
{
    for (int k = 0; k < M->c->n_jobs; k++) {
        int id = M->order[k];
        if (M->state[id] != JOB_PENDING) continue;
        int dep = M->c->jobs[id].depends_on;
        if (dep >= 0 && M->state[dep] != JOB_DONE) {
            if (M->state[dep] == JOB_FAILED) { /* its input will never come */
                M->state[id] = JOB_FAILED;
                M->n_failed++;
                printf("[%7.1fs] job %d %s failed: dependency %s failed\n", now() - M->t0, id, M->c->jobs[id].name,
                       M->c->jobs[dep].name);
            }
            continue;
        }
        return id;
    }
    return -1;
}

static void on_report(master *M, const lr_job_report *rep)
{
    const lr_job *j = &M->c->jobs[rep->id];
    M->running--;
    for (int w = 0; w < M->ranks; w++)
        if (M->rank_job[w] == rep->id) M->rank_job[w] = -1;
    if (rep->status == LR_JOB_OK) {
        M->state[rep->id] = JOB_DONE;
        M->n_done++;
        M->took[rep->id] = rep->wall;
        M->finish_seq[rep->id] = M->n_finished++;
        if (j->pretrain) printf("[%7.1fs] job %d %s done on rank %d (%.1fs, cpu %.1fs)\n", now() - M->t0, rep->id,
                                j->name, rep->rank, rep->wall, rep->cpu);
        else printf("[%7.1fs] job %d %s done on rank %d (%.1fs, cpu %.1fs): C train %.3f valid %.3f test %.3f\n",
                    now() - M->t0, rep->id, j->name, rep->rank, rep->wall, rep->cpu, rep->c[0], rep->c[1], rep->c[2]);
    } else if (M->attempts[rep->id] <= M->exp->retries) {
        M->state[rep->id] = JOB_PENDING;
        printf("[%7.1fs] job %d %s failed on rank %d (attempt %d, will retry): %s\n", now() - M->t0, rep->id, j->name,
               rep->rank, rep->attempt, rep->error);
    } else {
        M->state[rep->id] = JOB_FAILED;
        M->n_failed++;
        printf("[%7.1fs] job %d %s FAILED on rank %d after %d attempts: %s\n", now() - M->t0, rep->id, j->name,
               rep->rank, rep->attempt, rep->error);
    }
    fflush(stdout);
}

static int cmp_cost_desc(const void *a, const void *b, void *ctx)
{
    const master *M = ctx;
    const lr_campaign *c = M->c;
    int x = *(const int *)a, y = *(const int *)b;
    if (!c->jobs[x].pretrain != !c->jobs[y].pretrain) return c->jobs[x].pretrain ? -1 : 1; /* others wait for them */
    /* the plan's wall time when there is one, else the campaign's relative estimate */
    double cx = M->planned ? M->planned[x] : c->jobs[x].cost, cy = M->planned ? M->planned[y] : c->jobs[y].cost;
    return cx < cy ? 1 : cx > cy ? -1 : (x > y) - (x < y);
}

static int master_setup(master *M, const lr_experiment *exp, const lr_campaign *c, int ranks, int which)
{
    memset(M, 0, sizeof *M);
    M->exp = exp;
    M->c = c;
    M->verbose = 1;
    M->state = calloc((size_t)c->n_jobs, sizeof(int));
    M->attempts = calloc((size_t)c->n_jobs, sizeof(int));
    M->order = calloc((size_t)c->n_jobs, sizeof(int));
    M->busy = calloc((size_t)ranks, sizeof(int));
    M->ranks = ranks > 1 ? ranks - 1 : 1;
    M->started = calloc((size_t)c->n_jobs, sizeof(double));
    M->took = malloc((size_t)c->n_jobs * sizeof(double));
    M->rank_job = malloc((size_t)M->ranks * sizeof(int));
    M->finish_seq = calloc((size_t)c->n_jobs, sizeof(int));
    if (!M->state || !M->attempts || !M->order || !M->busy || !M->started || !M->took || !M->rank_job ||
        !M->finish_seq)
        return -1;
    for (int i = 0; i < c->n_jobs; i++) M->took[i] = -1;
    for (int w = 0; w < M->ranks; w++) M->rank_job[w] = -1;
    lr_plan plan;
    lr_err perr = {0};
    int prc = lr_plan_make(exp, c, LR_PLAN_CACHE_ONLY, &plan, &perr);
    if (prc == 0) {
        M->planned = malloc((size_t)c->n_jobs * sizeof(double));
        if (!M->planned) return -1;
        double total = 0;
        for (int i = 0; i < c->n_jobs; i++) total += M->planned[i] = plan.jobs[i].wall_s;
        printf("plan: %.0f s of jobs from %s; layout %d rank%s x %d thread%s\n", total, plan.cache_path, M->ranks,
               M->ranks > 1 ? "s" : "", exp->threads, exp->threads > 1 ? "s" : "");
    } else {
        printf("plan: %s (run --plan calibrates this host); ETA unknown until a job of each kind finished; "
               "layout %d rank%s x %d thread%s\n", prc > 0 ? "no calibration cached for this host" : perr.msg,
               M->ranks, M->ranks > 1 ? "s" : "", exp->threads, exp->threads > 1 ? "s" : "");
    }
    lr_plan_free(&plan);
    for (int i = 0; i < c->n_jobs; i++) M->order[i] = i;
    qsort_r(M->order, (size_t)c->n_jobs, sizeof(int), cmp_cost_desc, M);
    M->t0 = now();
    M->cpu0 = cpu_seconds();
    int stale = 0;
    for (int i = 0; i < c->n_jobs; i++) {
        int done = lr_campaign_job_done(exp, &c->jobs[i]);
        if (done < 0) {
            char path[LR_PATH_MAX];
            lr_campaign_shard_path(exp, &c->jobs[i], path, sizeof path);
            fprintf(stderr, "lesionrank run: %s was made with another config (or seed); refusing to mix results\n", path);
            stale++;
        }
        if (done > 0) {
            M->state[i] = JOB_DONE;
            M->n_done++;
            M->n_skipped++;
        }
    }
    if (stale) {
        fprintf(stderr, "lesionrank run: %d shard(s) from another config in %s/%s/jobs: start over with --fresh "
                "(old results are moved aside, not deleted)\n", stale, exp->results_dir, exp->name);
        return -2;
    }
    if (which == LR_RUN_RETRY_FAILED) { /* only what failed before (same seed), and the pretraining it needs */
        int retried = 0;
        for (int i = 0; i < c->n_jobs; i++) {
            if (M->state[i] != JOB_PENDING) continue;
            char error[600];
            if (lr_campaign_job_state(exp, &c->jobs[i], error, sizeof error) == LR_JOB_STATE_FAILED) {
                printf("retry: job %d %s (failed: %s)\n", i, c->jobs[i].name, error);
                retried++;
            } else {
                M->state[i] = JOB_LEFT;
            }
        }
        for (int i = 0; i < c->n_jobs; i++) {
            int dep = c->jobs[i].depends_on;
            if (M->state[i] == JOB_PENDING && dep >= 0 && M->state[dep] == JOB_LEFT) M->state[dep] = JOB_PENDING;
        }
        for (int i = 0; i < c->n_jobs; i++) M->n_left += M->state[i] == JOB_LEFT;
        printf("retry-failed: %d failed job(s) to rerun, %d not started (left for a later run)\n", retried,
               M->n_left);
    }
    printf("campaign %s: %d jobs, %d already finished (resume), %d to run\n", exp->name, c->n_jobs, M->n_skipped,
           c->n_jobs - M->n_skipped - M->n_left);
    fflush(stdout);
    return 0;
}

static void master_free(master *M)
{
    free(M->state);
    free(M->attempts);
    free(M->order);
    free(M->busy);
    free(M->planned);
    free(M->started);
    free(M->took);
    free(M->rank_job);
    free(M->finish_seq);
}

int lr_master_run(const lr_experiment *exp, const lr_campaign *c, MPI_Comm comm, int which)
{
    int size;
    MPI_Comm_size(comm, &size);
    master M;
    int setup = master_setup(&M, exp, c, size, which);
    if (setup) {
        if (setup == -1) fprintf(stderr, "lesionrank run: out of memory\n");
        master_free(&M);
        /* workers are waiting for jobs: release them */
        for (int r = 1; r < size; r++) {
            int stop[2] = {-1, 0};
            MPI_Send(stop, 2, MPI_INT, r, TAG_JOB, comm);
        }
        return c->n_jobs;
    }
    status_line(&M);
    if (size == 1) { /* no workers: run the jobs here, in the same order */
        lr_worker_state w;
        lr_worker_init(&w, exp, 0);
        int id;
        while ((id = next_job(&M)) >= 0) { /* one job at a time: nothing runs between two next_job calls */
            M.state[id] = JOB_RUNNING;
            M.running++;
            M.attempts[id]++;
            M.started[id] = now();
            M.rank_job[0] = id;
            printf("[%7.1fs] job %d %s started on rank 0 (attempt %d)\n", now() - M.t0, id, c->jobs[id].name, M.attempts[id]);
            fflush(stdout);
            lr_job_report rep;
            lr_worker_run_job(&w, &c->jobs[id], M.attempts[id], &rep);
            on_report(&M, &rep);
            status_line(&M);
        }
        lr_worker_free(&w);
    } else {
        int *busy = M.busy;
        int idle = size - 1;
        while (1) {
            for (int r = 1; r < size && idle > 0; r++) {
                if (busy[r]) continue;
                int id = next_job(&M);
                if (id < 0) break;
                M.state[id] = JOB_RUNNING;
                M.running++;
                M.attempts[id]++;
                M.started[id] = now();
                M.rank_job[r - 1] = id;
                int msg[2] = {id, M.attempts[id]};
                MPI_Send(msg, 2, MPI_INT, r, TAG_JOB, comm);
                busy[r] = 1;
                idle--;
                printf("[%7.1fs] job %d %s started on rank %d (attempt %d)\n", now() - M.t0, id, c->jobs[id].name, r,
                       M.attempts[id]);
                fflush(stdout);
            }
            if (M.running == 0 && next_job(&M) < 0) break;
            int flag = 0;
            MPI_Status st;
            MPI_Iprobe(MPI_ANY_SOURCE, TAG_REPORT, comm, &flag, &st);
            if (!flag) { /* the master costs nothing while it waits */
                sleep_ms(20);
                if (now() - M.last_status > 30) status_line(&M);
                continue;
            }
            lr_job_report rep;
            MPI_Recv(&rep, sizeof rep, MPI_BYTE, st.MPI_SOURCE, TAG_REPORT, comm, MPI_STATUS_IGNORE);
            busy[st.MPI_SOURCE] = 0;
            idle++;
            on_report(&M, &rep);
            status_line(&M);
        }
        for (int r = 1; r < size; r++) {
            int stop[2] = {-1, 0};
            MPI_Send(stop, 2, MPI_INT, r, TAG_JOB, comm);
        }
    }
    status_line(&M);
    if (size > 1) { /* the master's own cost while scheduling: a small fraction of one core */
        double cpu = cpu_seconds() - M.cpu0, el = now() - M.t0;
        printf("master: %.2f s CPU over %.1f s (%.2f %% of a core)\n", cpu, el, el > 0 ? 100 * cpu / el : 0);
    }
    int failed = M.n_failed;
    master_free(&M);
    return failed;
}

void lr_worker_loop(const lr_experiment *exp, const lr_campaign *c, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    lr_worker_state w;
    lr_worker_init(&w, exp, rank);
    while (1) {
        int flag = 0;
        MPI_Iprobe(0, TAG_JOB, comm, &flag, MPI_STATUS_IGNORE);
        if (!flag) { /* an idle worker sleeps instead of spinning a core */
            sleep_ms(20);
            continue;
        }
        int msg[2];
        MPI_Recv(msg, 2, MPI_INT, 0, TAG_JOB, comm, MPI_STATUS_IGNORE);
        if (msg[0] < 0) break;
        lr_job_report rep;
        lr_worker_run_job(&w, &c->jobs[msg[0]], msg[1], &rep);
        MPI_Send(&rep, sizeof rep, MPI_BYTE, 0, TAG_REPORT, comm);
    }
    lr_worker_free(&w);
}
