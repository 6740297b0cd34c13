/* lesionrank run / merge: campaigns under MPI (rank 0 is the master) or in one process. */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/pretrain.h"
#include "runner/plan.h"
#include "runner/runner.h"
#include "util/cli.h"
#include "verbs.h"

static void run_help(void)
{
    printf("usage: lesionrank run CONFIG [--plan [--cores N]] [--list-jobs] [--job ID] [--retry-failed] [--fresh]\n"
           "                          [--threads N]\n"
           "Run a campaign: every (model, repeat, fold, replicate) of the experiment, plus the pretraining (fractal task\n"
           "for imagenet_resnet50, organ task for radimagenet_resnet50) the\n"
           "ResNet50 rows need when no weights file is configured. Under mpirun, rank 0 schedules jobs to ranks\n"
           "1..N-1 (most expensive first) and costs almost no CPU: use mpirun -np (cores + 1). Without mpirun\n"
           "the jobs run one after another in this process. Finished jobs (results/<name>/jobs/<job>.h5 with\n"
           "status ok) are skipped: resume is the default; a killed job resumes from its last epoch.\n"
           "At the end all ranks merge the shards into results/<name>.h5 (parallel HDF5).\n"
           "  --plan        without training: per job and per kind the core-seconds, wall seconds (at the\n"
           "                config's threads) and peak memory at the config's real sizes, totals in core-hours,\n"
           "                and the #SBATCH lines (x%.2f time, x%.2f memory of the plan: safety factors).\n"
           "                Calibrates each distinct network shape once per host (a few real training steps in\n"
           "                a child process), cached in <results_dir>/.plan/calibration-<host>.txt\n"
           "  --cores N     with --plan: the cores of the allocation the makespan is planned for (default:\n"
           "                this machine's); ranks = N / threads workers, plus the master\n"
           "  --list-jobs   print the job table (id, model, sweep setting, repeat, fold, replicate, estimated cost,\n"
           "                state: done, pending, stale or FAILED with the last error line of its log) and exit\n"
           "  --job ID      run only job ID in this process (SLURM arrays); no merge\n"
           "  --retry-failed  rerun exactly the jobs that failed (list-jobs marks them FAILED with their last\n"
           "                error line; same seed, same identity), and the pretraining they need; jobs not yet\n"
           "                started stay for a later run; then merge\n"
           "  --fresh       move an existing results/<name>/ and results/<name>.h5 aside (renamed with a\n"
           "                timestamp, never deleted) and start over\n"
           "  --threads N   CNN engine threads per rank (BLIS and OpenMP; default: the config's `threads`, 1);\n"
           "                results are bitwise the same for any N, and jobs keep their identity\n"
           "Exit status: 0 all jobs ok, 1 a job failed every try or bad input, 2 usage error.\n",
           LR_PLAN_TIME_SAFETY, LR_PLAN_MEM_SAFETY);
}

static void merge_help(void)
{
    printf("usage: lesionrank merge CONFIG\n"
           "Merge the campaign's job shards into results/<name>.h5 (under mpirun, all ranks write in parallel\n"
           "with the MPI-IO driver). Jobs without a shard are marked missing. Written to a temporary name and\n"
           "renamed, so an interrupted merge never leaves a partial file.\n");
}

/* Rank 0 loads and checks everything (generating the synthetic cohort if needed); all ranks agree. */
static int load_everywhere(const char *path, int check_inputs, lr_experiment *exp, lr_campaign *c, MPI_Comm comm,
                           const char *verb)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    lr_err err = {0};
    int rc = 0;
    if (rank == 0) {
        rc = lr_experiment_load(path, exp, &err);
        if (!rc && check_inputs) rc = lr_experiment_check_inputs(exp, &err);
        if (rc) fprintf(stderr, "lesionrank %s: %s\n", verb, err.msg);
        if (!rc) rc = lr_campaign_build(exp, c, &err);
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
    if (rc) return -1;
    if (rank != 0 && (lr_experiment_load(path, exp, &err) || lr_campaign_build(exp, c, &err))) {
        fprintf(stderr, "lesionrank %s (rank %d): %s\n", verb, rank, err.msg);
        rc = 1;
    }
    int any = 0;
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_LOR, comm);
    return any ? -1 : 0;
}

static void print_jobs(const lr_experiment *exp, const lr_campaign *c)
{
    static const char *const state_name[] = {"pending", "done", "FAILED", "stale"};
    int n_state[4] = {0};
    printf("%4s  %-22s %7s %6s %4s %4s %10s  %-8s %s\n", "id", "model", "setting", "repeat", "fold", "rep", "est_cost",
           "state", "name");
    for (int i = 0; i < c->n_jobs; i++) {
        const lr_job *j = &c->jobs[i];
        char what[32], error[600];
        snprintf(what, sizeof what, "pretrain_%s", j->pretrain ? lr_pretrain_task_name((lr_pretrain_task)(j->pretrain - 1)) : "");
        lr_job_state st = lr_campaign_job_state(exp, j, error, sizeof error);
        n_state[st]++;
        printf("%4d  %-22s %7d %6d %4d %4d %10.2f  %-8s %s", j->id, j->pretrain ? what : lr_model_name(j->kind),
               j->setting, j->repeat, j->fold, j->replicate, j->cost, state_name[st], j->name);
        if (j->depends_on >= 0) printf(" (after %s)", c->jobs[j->depends_on].name);
        if (st == LR_JOB_STATE_FAILED) printf(": %s", error); /* the last error line: run --retry-failed */
        printf("\n");
    }
    printf("jobs_done: %d\njobs_failed: %d\njobs_pending: %d\njobs_stale: %d\n", n_state[LR_JOB_STATE_DONE],
           n_state[LR_JOB_STATE_FAILED], n_state[LR_JOB_STATE_PENDING], n_state[LR_JOB_STATE_STALE]);
    char file[LR_PATH_MAX];
    lr_campaign_file_path(exp, file, sizeof file);
    printf("name: %s\ncampaign_file: %s\njobs: %d\nmodel_jobs: %d\npretrain_job: %d\nrepeats: %d\nfolds: %d\n"
           "replicates: %d\nthreads: %d\n",
           exp->name, file, c->n_jobs, c->n_model_jobs, c->n_jobs > c->n_model_jobs ? c->n_model_jobs : -1,
           exp->repeats, exp->folds, exp->replicates, exp->threads);
    /* every pretraining job (one per task; contiguous ids after the model jobs) as an sbatch --array spec */
    for (int s = 0; s < exp->sweep.n_settings; s++) { /* what each setting number means */
        char text[400];
        lr_sweep_setting_text(&exp->sweep, s, text, sizeof text);
        printf("setting_%d: %s\n", s, text);
    }
    if (c->n_jobs > c->n_model_jobs) printf("pretrain_jobs: %d-%d\n", c->n_model_jobs, c->n_jobs - 1);
    else printf("pretrain_jobs: none\n");
}

static int move_aside(const lr_experiment *exp)
{
    char stamp[32], dir[LR_PATH_MAX], file[LR_PATH_MAX], dst[LR_PATH_MAX + 64];
    time_t t = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
    lr_campaign_dir(exp, dir, sizeof dir);
    lr_campaign_file_path(exp, file, sizeof file);
    struct stat st;
    if (stat(dir, &st) == 0) {
        snprintf(dst, sizeof dst, "%s.old-%s", dir, stamp);
        if (rename(dir, dst) != 0) return -1;
        printf("fresh: moved %s to %s\n", dir, dst);
    }
    if (stat(file, &st) == 0) {
        snprintf(dst, sizeof dst, "%s.old-%s", file, stamp);
        if (rename(file, dst) != 0) return -1;
        printf("fresh: moved %s to %s\n", file, dst);
    }
    return 0;
}

static int run_single_job(const lr_experiment *exp, const lr_campaign *c, int id)
{
    const lr_job *j = &c->jobs[id];
    int done = lr_campaign_job_done(exp, j);
    if (done > 0) {
        printf("job %d %s: already finished (shard present); nothing to do\n", id, j->name);
        return 0;
    }
    if (done < 0)
        return lr_runtime_error("run", "job %d %s: its shard was made with another config; refusing to overwrite it "
                                "(start over with run --fresh)", id, j->name);
    lr_err err = {0};
    if (lr_campaign_make_dirs(exp, &err)) return lr_runtime_error("run", "%s", err.msg);
    lr_worker_state w;
    lr_worker_init(&w, exp, 0);
    lr_job_report rep;
    printf("job %d %s started\n", id, j->name);
    fflush(stdout);
    lr_worker_run_job(&w, j, 1, &rep);
    lr_worker_free(&w);
    if (rep.status == LR_JOB_OK) {
        printf("job %d %s done (%.1fs): C train %.4f valid %.4f test %.4f\n", id, j->name, rep.wall, rep.c[0],
               rep.c[1], rep.c[2]);
        /* what run --plan estimates for this job, measured (tests/cli_plan.sh compares them) */
        printf("job_cost: %s wall_s %.3f core_s %.3f peak_mb %.1f\n", j->name, rep.wall, rep.cpu, rep.peak_rss_kb / 1024.0);
        return 0;
    }
    fprintf(stderr, "lesionrank run: job %d %s failed: %s\n", id, j->name, rep.error);
    return 1;
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"job", required_argument, 0, 'j'}, {"list-jobs", no_argument, 0, 'l'},
                                         {"fresh", no_argument, 0, 'F'},       {"resume", no_argument, 0, 'R'},
                                         {"threads", required_argument, 0, 'T'}, {"help", no_argument, 0, 'h'},
                                         {"plan", no_argument, 0, 'P'},        {"cores", required_argument, 0, 'C'},
                                         {"retry-failed", no_argument, 0, 'X'},
                                         {0, 0, 0, 0}};
    long job = -1, threads = 0, cores = 0;
    int list = 0, fresh = 0, plan = 0, retry = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            if (lr_parse_long(optarg, 0, 100000000, &job)) return lr_usage_error("run", "--job '%s': expected a job id >= 0", optarg);
            break;
        case 'l': list = 1; break;
        case 'T':
            if (lr_parse_long(optarg, 1, 256, &threads))
                return lr_usage_error("run", "--threads '%s': expected 1..256 (CNN engine threads per rank)", optarg);
            break;
        case 'F': fresh = 1; break;
        case 'P': plan = 1; break;
        case 'X': retry = 1; break;
        case 'C':
            if (lr_parse_long(optarg, 1, 1000000, &cores)) return lr_usage_error("run", "--cores '%s': expected 1..1000000", optarg);
            break;
        case 'R': break; /* resume is the default */
        case 'h': run_help(); return 0;
        default: return lr_usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return lr_usage_error("run", "expected exactly one CONFIG argument");
    if (fresh && job >= 0) return lr_usage_error("run", "--fresh and --job do not combine");
    if (plan && (fresh || job >= 0 || list)) return lr_usage_error("run", "--plan combines with --cores and --threads only");
    if (cores && !plan) return lr_usage_error("run", "--cores goes with --plan");
    if (retry && (fresh || job >= 0 || list || plan))
        return lr_usage_error("run", "--retry-failed combines with --threads only");
    MPI_Init(NULL, NULL);
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    lr_experiment exp;
    lr_campaign camp;
    memset(&exp, 0, sizeof exp);
    memset(&camp, 0, sizeof camp);
    int rc = 1;
    if (load_everywhere(argv[optind], !list && !plan, &exp, &camp, comm, "run")) goto done;
    if (threads > 0) exp.threads = (int)threads; /* the command line wins; the jobs' identity stays */
    if (list) {
        if (rank == 0) print_jobs(&exp, &camp);
        rc = 0;
        goto done;
    }
    if (plan) {
        if (rank == 0) {
            lr_plan p;
            lr_err err = {0};
            long n = cores ? cores : sysconf(_SC_NPROCESSORS_ONLN);
            if (lr_plan_make(&exp, &camp, LR_PLAN_CALIBRATE, &p, &err)) {
                rc = lr_runtime_error("run", "--plan: %s", err.msg);
            } else {
                lr_plan_print(stdout, &exp, &camp, &p, (int)(n > 0 ? n : 1));
                rc = 0;
            }
            lr_plan_free(&p);
        } else {
            rc = 0;
        }
        goto done;
    }
    if (job >= 0) {
        if (job >= camp.n_jobs) {
            if (rank == 0) lr_runtime_error("run", "--job %ld: the campaign has jobs 0..%d", job, camp.n_jobs - 1);
        } else if (rank == 0) {
            rc = run_single_job(&exp, &camp, (int)job);
        } else {
            rc = 0;
        }
        goto done;
    }
    int prep = 0;
    if (rank == 0) {
        lr_err err = {0};
        if (fresh && move_aside(&exp)) prep = lr_runtime_error("run", "--fresh: cannot move the old results aside");
        else if (lr_campaign_make_dirs(&exp, &err)) prep = lr_runtime_error("run", "%s", err.msg);
    }
    MPI_Bcast(&prep, 1, MPI_INT, 0, comm);
    if (prep) goto done;
    int failed = 0;
    if (rank == 0) failed = lr_master_run(&exp, &camp, comm, retry ? LR_RUN_RETRY_FAILED : LR_RUN_ALL);
    else lr_worker_loop(&exp, &camp, comm);
    MPI_Bcast(&failed, 1, MPI_INT, 0, comm);
    double secs = 0;
    lr_err err = {0};
    int mrc = lr_campaign_merge(&exp, &camp, comm, &secs, &err);
    if (rank == 0) {
        char file[LR_PATH_MAX];
        lr_campaign_file_path(&exp, file, sizeof file);
        if (mrc) fprintf(stderr, "lesionrank run: merge failed: %s\n", err.msg);
        else printf("campaign file: %s (merged by %d rank%s in %.2fs)\n", file, size, size > 1 ? "s" : "", secs);
        printf("failed_jobs: %d\n", failed);
    }
    rc = (mrc || failed) ? 1 : 0;
done:
    lr_campaign_free(&camp);
    lr_experiment_free(&exp);
    MPI_Finalize();
    return rc;
}

int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            merge_help();
            return 0;
        }
        return lr_usage_error("merge", "unknown option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 1) return lr_usage_error("merge", "expected exactly one CONFIG argument");
    MPI_Init(NULL, NULL);
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    lr_experiment exp;
    lr_campaign camp;
    memset(&exp, 0, sizeof exp);
    memset(&camp, 0, sizeof camp);
    int rc = 1;
    if (load_everywhere(argv[optind], 0, &exp, &camp, comm, "merge") == 0) {
        double secs = 0;
        lr_err err = {0};
        rc = lr_campaign_merge(&exp, &camp, comm, &secs, &err) ? 1 : 0;
        if (rank == 0) {
            char file[LR_PATH_MAX];
            lr_campaign_file_path(&exp, file, sizeof file);
            if (rc) fprintf(stderr, "lesionrank merge: %s\n", err.msg);
            else {
                int missing = 0;
                for (int i = 0; i < camp.n_model_jobs; i++) missing += lr_campaign_job_done(&exp, &camp.jobs[i]) != 1;
                printf("campaign file: %s\njobs: %d\nnot_ok: %d\nranks: %d\nmerge_seconds: %.3f\n", file,
                       camp.n_model_jobs, missing, size, secs);
            }
        }
    }
    lr_campaign_free(&camp);
    lr_experiment_free(&exp);
    MPI_Finalize();
    return rc;
}
