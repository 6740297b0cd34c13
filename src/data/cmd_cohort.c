/* Verbs on cohort files: synth (generate) and inspect (validate + summarise). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data/cohort.h"
#include "data/synth.h"
#include "util/cli.h"
#include "verbs.h"

static void synth_help(void)
{
    printf("usage: lesionrank synth -o COHORT.h5 [--patients N] [--seed S] [--volumes DxHxW] [--nifti DIR] [--force]\n"
           "Generate the synthetic cohort with known ground truth (see README.md, \"The synthetic cohort\").\n"
           "  -o, --output FILE     cohort file to write (refuses to overwrite unless --force)\n"
           "  -n, --patients N      number of patients (default %d, as in the paper)\n"
           "  -s, --seed S          seed; the same seed gives the same bytes (default 1)\n"
           "      --volumes DxHxW   also write whole CT volumes /volumes/ct (e.g. 24x96x96)\n"
           "      --nifti DIR       also write the cohort as NIfTI studies + DIR/clinical.csv for 'ingest'\n"
           "                        (grid: the --volumes DxHxW, default 120x240x240; see the README)\n"
           "      --force           overwrite an existing output file\n",
           LR_SYNTH_DEFAULT_PATIENTS);
}


int cmd_synth(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"patients", required_argument, 0, 'n'},
                                         {"seed", required_argument, 0, 's'},
                                         {"volumes", required_argument, 0, 'V'},
                                         {"force", no_argument, 0, 'f'},
                                         {"nifti", required_argument, 0, 'N'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *nifti_dir = NULL;
    lr_synth_params prm;
    lr_synth_default_params(&prm);
    const char *out = NULL;
    int force = 0, c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:n:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'n':
            if (lr_parse_long(optarg, 2, 1000000, &v)) return lr_usage_error("synth", "--patients '%s': expected an integer in [2, 1000000]", optarg);
            prm.patients = (size_t)v;
            break;
        case 's':
            if (lr_parse_long(optarg, 0, 0x7fffffffL, &v)) return lr_usage_error("synth", "--seed '%s': expected a non-negative integer", optarg);
            prm.seed = (uint64_t)v;
            break;
        case 'V':
            if (lr_parse_dims(optarg, 4, 2048, prm.volume_dims)) return lr_usage_error("synth", "--volumes '%s': expected DxHxW with each in [4, 2048], e.g. 24x96x96", optarg);
            prm.volumes = 1;
            break;
        case 'f': force = 1; break;
        case 'N': nifti_dir = optarg; break;
        case 'h': synth_help(); return 0;
        default: return lr_usage_error("synth", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return lr_usage_error("synth", "unexpected argument '%s'", argv[optind]);
    if (!out) return lr_usage_error("synth", "missing -o COHORT.h5");
    if (!out[0]) return lr_usage_error("synth", "-o '': expected a file name");
    struct stat st;
    if (!force && stat(out, &st) == 0)
        return lr_runtime_error("synth", "%s exists; refusing to overwrite (use --force)", out);
    if (nifti_dir && !force) {
        char csv[4200];
        snprintf(csv, sizeof csv, "%s/clinical.csv", nifti_dir);
        if (stat(csv, &st) == 0)
            return lr_runtime_error("synth", "%s exists; refusing to overwrite the NIfTI studies (use --force)", csv);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lr_err err = {0};
    if (lr_synth_write(out, &prm, &err)) return lr_runtime_error("synth", "%s", err.msg);
    if (nifti_dir) {
        lr_synth_params np = prm;
        if (!prm.volumes) np.volume_dims[0] = 120, np.volume_dims[1] = 240, np.volume_dims[2] = 240;
        if (lr_synth_write_nifti(nifti_dir, &np, &err)) return lr_runtime_error("synth", "%s", err.msg);
        printf("nifti: %s\nnifti_grid: %zux%zux%zu\n", nifti_dir, np.volume_dims[0], np.volume_dims[1],
               np.volume_dims[2]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    stat(out, &st);
    printf("wrote: %s\nseconds: %.2f\nbytes: %lld\n", out, secs, (long long)st.st_size);
    return 0;
}

static void inspect_help(void)
{
    printf("usage: lesionrank inspect COHORT.h5\n"
           "Validate a cohort file (format v1, README.md section \"Cohort format v1\") and print a summary as key: value\n"
           "lines. Exits 1 with a message naming the dataset and the problem when the file is invalid.\n");
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            inspect_help();
            return 0;
        }
        return lr_usage_error("inspect", "unknown option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 1) return lr_usage_error("inspect", "expected exactly one COHORT.h5 argument");
    const char *path = argv[optind];
    lr_cohort co;
    lr_cohort_summary s;
    lr_err err = {0};
    if (lr_cohort_read(path, 0, &co, &err)) return lr_runtime_error("inspect", "invalid cohort: %s", err.msg);
    if (lr_cohort_summarise(&co, &s, &err)) {
        lr_cohort_free(&co);
        return lr_runtime_error("inspect", "%s: %s", path, err.msg);
    }
    printf("file: %s\nformat: %s\nversion: %d\n", path, LR_COHORT_FORMAT, LR_COHORT_VERSION);
    printf("patients: %zu\nevents: %zu\ncensored_fraction: %.4f\nmedian_time_days: %.1f\n", s.patients, s.events,
           s.censored_fraction, s.median_time_days);
    printf("annotations: %zu\nreaders_per_patient_mean: %.3f\nlesions: %zu\n", s.annotations,
           s.readers_per_patient_mean, s.lesions);
    printf("lesions_per_patient_median: %.2f\nlesions_per_patient_q1: %.2f\nlesions_per_patient_q3: %.2f\n",
           s.lesions_per_patient_median, s.lesions_per_patient_q1, s.lesions_per_patient_q3);
    printf("followup_fraction: %.4f\n", s.followup_fraction);
    for (size_t k = 0; k < co.n_organs; k++) printf("organ_%s: %zu\n", co.organ_name[k], s.organ_count[k]);
    printf("volumes: %s\n", co.has_volumes ? "yes" : "no");
    if (co.has_volumes)
        printf("volume_shape: %zux%zux%zu\nvolume_spacing_mm: %g,%g,%g\n", co.volume_dims[0], co.volume_dims[1],
               co.volume_dims[2], co.volume_spacing_mm[0], co.volume_spacing_mm[1], co.volume_spacing_mm[2]);
    printf("lesion_keys: %s\n", s.has_lesion_keys ? "yes" : "no");
    if (s.has_lesion_keys)
        printf("physical_lesions: %zu\nlesions_matched_fraction: %.4f\n", s.physical_lesions,
               s.lesions_matched_fraction);
    printf("truth: %s\n", co.has_truth ? "yes" : "no");
    if (co.has_truth)
        printf("oracle_cindex: %.4f\nannotated_truth_cindex: %.4f\n", s.oracle_cindex, s.annotated_truth_cindex);
    printf("valid: yes\n");
    lr_cohort_summary_free(&s);
    lr_cohort_free(&co);
    return 0;
}
