/* lesionrank train CONFIG --model NAME --fold K [--replicate R] [--repeat R] -o SHARD.h5: one job, no MPI needed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cohort.h"
#include "data/split.h"
#include "model/train.h"
#include "runner/config.h"
#include "runner/runner.h"
#include "util/cli.h"
#include "verbs.h"

static void train_help(void)
{
    printf("usage: lesionrank train CONFIG --model NAME --fold K [--replicate R] [--repeat R] [--setting S]\n"
           "                        -o SHARD.h5 [--force] [--quiet]\n"
           "Train and evaluate one Table 2 variant on one cross-validation fold, and write its shard.\n"
           "  CONFIG            experiment file (libconfig), e.g. experiments/smoke.cfg\n"
           "  --model NAME      proposed, no_fc, no_scaler, mean_largest5, whole_volume, imagenet_resnet50,\n"
           "                    radimagenet_resnet50, total_volume, sum_diameters, lesion_count\n"
           "  --fold K          0 <= K < folds: test = part K, validation = part K+1 mod folds\n"
           "  --replicate R     replicate index (default 0): another seed stream for init, order, augmentation\n"
           "  --repeat R        repeated CV: the split of repeat R (0 <= R < repeats; default 0, the one split\n"
           "                    of a campaign without repeats)\n"
           "  --setting S       with a sweep in CONFIG (learned models): its setting S (0 <= S < settings,\n"
           "                    numbered with the last key fastest; run --list-jobs shows them)\n"
           "  -o SHARD.h5       output (refuses to overwrite unless --force); written even when the job fails\n"
           "  --log FILE        append per-epoch lines to FILE\n"
           "  --quiet           no per-epoch lines on stdout\n"
           "  --threads N       CNN engine threads (BLIS and OpenMP; default: the config's `threads`, 1); the\n"
           "                    results are bitwise the same for any N\n"
           "Exit status: 0 job ok, 1 job failed (the shard says why) or bad input, 2 usage error.\n");
}

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},  {"fold", required_argument, 0, 'k'},
                                         {"replicate", required_argument, 0, 'r'}, {"repeat", required_argument, 0, 'R'},
                                         {"setting", required_argument, 0, 'S'}, {"output", required_argument, 0, 'o'},
                                         {"force", no_argument, 0, 'f'},         {"quiet", no_argument, 0, 'q'},
                                         {"log", required_argument, 0, 'l'},     {"help", no_argument, 0, 'h'},
                                         {"threads", required_argument, 0, 'T'}, {0, 0, 0, 0}};
    const char *model = NULL, *out = NULL, *log = NULL;
    long fold = -1, replicate = 0, repeat = 0, setting = -1, threads = 0;
    int force = 0, quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:k:r:R:S:o:fqh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'k':
            if (lr_parse_long(optarg, 0, 1000, &fold)) return lr_usage_error("train", "--fold '%s': expected an integer >= 0", optarg);
            break;
        case 'r':
            if (lr_parse_long(optarg, 0, 1000000, &replicate)) return lr_usage_error("train", "--replicate '%s': expected an integer >= 0", optarg);
            break;
        case 'R':
            if (lr_parse_long(optarg, 0, 1000, &repeat)) return lr_usage_error("train", "--repeat '%s': expected an integer >= 0", optarg);
            break;
        case 'S':
            if (lr_parse_long(optarg, 0, 100000, &setting)) return lr_usage_error("train", "--setting '%s': expected an integer >= 0", optarg);
            break;
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        case 'q': quiet = 1; break;
        case 'l': log = optarg; break;
        case 'T':
            if (lr_parse_long(optarg, 1, 256, &threads))
                return lr_usage_error("train", "--threads '%s': expected 1..256 (CNN engine threads)", optarg);
            break;
        case 'h': train_help(); return 0;
        default: return lr_usage_error("train", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return lr_usage_error("train", "expected exactly one CONFIG argument");
    if (!model) return lr_usage_error("train", "missing --model NAME");
    if (fold < 0) return lr_usage_error("train", "missing --fold K");
    if (!out) return lr_usage_error("train", "missing -o SHARD.h5");
    if (!out[0]) return lr_usage_error("train", "-o '': expected a file name");
    lr_model_kind kind;
    if (lr_model_parse(model, &kind)) return lr_usage_error("train", "unknown model '%s'", model);
    struct stat st;
    if (!force && stat(out, &st) == 0) return lr_runtime_error("train", "%s exists; refusing to overwrite (use --force)", out);

    lr_err err = {0};
    lr_experiment exp;
    if (lr_experiment_load(argv[optind], &exp, &err)) return lr_runtime_error("train", "%s", err.msg);
    if (threads > 0) exp.threads = (int)threads; /* the command line wins, as in run */
    int rc = 1;
    lr_worker_state w; /* the campaign worker's setup: engine threads, cohort and split */
    lr_worker_init(&w, &exp, -1);
    lr_job_result res;
    memset(&res, 0, sizeof res);
    if (fold >= exp.folds) {
        lr_runtime_error("train", "--fold %ld: the experiment has %d folds (0..%d)", fold, exp.folds, exp.folds - 1);
        goto done;
    }
    if (repeat >= exp.repeats) {
        lr_runtime_error("train", "--repeat %ld: the experiment has %d repeat(s) (0..%d)", repeat, exp.repeats,
                         exp.repeats - 1);
        goto done;
    }
    if (setting >= 0 && (setting >= exp.sweep.n_settings || !lr_model_is_learned(kind))) {
        lr_runtime_error("train", "--setting %ld: %s", setting,
                         !lr_model_is_learned(kind) ? "a size baseline has no sweep settings"
                         : exp.sweep.n_settings ? "beyond the sweep's settings" : "the experiment has no sweep");
        goto done;
    }
    if (setting < 0 && exp.sweep.n_settings > 0 && lr_model_is_learned(kind)) {
        lr_runtime_error("train", "the experiment has a sweep of %d settings: give --setting S", exp.sweep.n_settings);
        goto done;
    }
    if (lr_experiment_check_inputs(&exp, &err)) {
        lr_runtime_error("train", "%s", err.msg);
        goto done;
    }
    if (lr_worker_load_cohort(&w, kind, (int)repeat, &err)) {
        lr_runtime_error("train", "%s", err.msg);
        goto done;
    }
    if (kind == LR_MODEL_WHOLE_VOLUME && !w.cohort.has_volumes) {
        lr_runtime_error("train", "%s: model whole_volume needs /volumes/ct, but cohort %s has none", exp.path, exp.cohort);
        goto done;
    }
    lr_job job = {.kind = kind, .repeat = (int)repeat, .setting = (int)setting, .fold = (int)fold,
                  .replicate = (int)replicate, .depends_on = -1};
    lr_experiment_apply_setting(&exp, job.setting); /* the setting's values (the shard echoes the config) */
    lr_job_spec spec = lr_job_spec_make(&exp, &w.cohort, w.part, &job);
    spec.log_path = log;
    spec.verbose = !quiet;
    if (lr_train_job(&spec, &res, &err)) {
        lr_runtime_error("train", "%s", err.msg);
        goto done;
    }
    lr_shard_meta meta = {.config_text = exp.text,
                          .config_path = exp.path,
                          .cohort_path = exp.cohort,
                          .model = model,
                          .repeat = (int)repeat,
                          .setting = (int)setting,
                          .fold = (int)fold,
                          .replicate = (int)replicate,
                          .seed = exp.seed,
                          .attempts = 1,
                          .rank = -1,
                          .identity = 0, /* standalone: no campaign (LR_SHARD_STANDALONE_IDENTITY) */
                          .host = w.host,
                          .opt = &exp.train};
    if (lr_shard_write(out, &meta, &res, &err)) {
        lr_runtime_error("train", "%s", err.msg);
        goto done;
    }
    printf("shard: %s\nstatus: %s\n", out, res.status == LR_JOB_OK ? "ok" : "failed");
    if (res.status != LR_JOB_OK) printf("error: %s\n", res.error);
    printf("model: %s\nrepeat: %ld\nfold: %ld\nreplicate: %ld\nweights: %s\n", model, repeat, fold, replicate,
           res.weights_source);
    printf("cindex_train: %.4f\ncindex_valid: %.4f\ncindex_test: %.4f\n", res.c_final[0], res.c_final[1], res.c_final[2]);
    printf("selected_epoch: %d\nwall_seconds: %.1f\npeak_rss_mb: %.1f\n", res.selected_epoch + 1, res.wall_seconds,
           res.peak_rss_kb / 1024.0);
    rc = res.status == LR_JOB_OK ? 0 : 1;
done:
    lr_job_result_free(&res);
    lr_worker_free(&w);
    lr_experiment_free(&exp);
    return rc;
}
