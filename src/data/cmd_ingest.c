/* lesionrank ingest: NIfTI CT studies + clinical CSV -> cohort (see the README's "ingest" section). */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/ingest.h"
#include "util/cli.h"
#include "verbs.h"

static void ingest_help(void)
{
    printf("usage: lesionrank ingest --clinical CSV --studies DIR -o COHORT.h5 [--volumes] [options]\n"
           "Build a cohort (format v1) from CT studies in NIfTI (convert DICOM with dcm2niix first).\n"
           "  CSV: patient_id,time_days,event,arm (other columns ignored); DIR/<patient_id>/ holds\n"
           "  ct.nii.gz, lesions_<reader>.nii.gz (label map, or binary mask split into connected components),\n"
           "  optional lesions_<reader>_followup.nii.gz and organs.nii.gz. Under mpirun the studies are\n"
           "  shared between ranks and the file is written with parallel HDF5.\n"
           "  -c, --clinical CSV        clinical table\n"
           "  -d, --studies DIR         one sub-directory per patient\n"
           "  -o, --output FILE         cohort to write (written to a temporary name, renamed on success)\n"
           "      --volumes             also write resampled whole CTs to /volumes/ct (int16)\n"
           "      --volume-shape DxHxW  crop/pad of the resampled CT (default 120x480x480)\n"
           "      --volume-spacing Z,Y,X  resampling spacing in mm (default 5,0.78125,0.78125)\n"
           "      --organ-legend CSV    organ map labels: columns label,name (default 1 lung, 2 mediastinum,\n"
           "                            3 bone, 4 liver, 5 other, 6 spleen, 7 kidney, 8 stomach)\n"
           "      --connectivity 26|6   for splitting binary masks into lesions (default 26)\n"
           "      --skip-bad            skip bad studies (listed) instead of failing\n"
           "      --force               overwrite an existing output file\n"
           "  -q, --quiet               no summary\n");
}


static int parse_spacing(const char *s, double sp[3])
{
    char extra;
    if (sscanf(s, "%lf,%lf,%lf%c", &sp[0], &sp[1], &sp[2], &extra) != 3) return -1;
    for (int i = 0; i < 3; i++)
        if (!(sp[i] > 0 && sp[i] <= LR_NIFTI_MAX_SPACING_MM)) return -1;
    return 0;
}

/* Options; 0 ok, 1 help printed, 2 usage error (printed). */
static int parse(int argc, char **argv, lr_ingest_opts *o)
{
    static const struct option opts[] = {{"clinical", required_argument, 0, 'c'},
                                         {"studies", required_argument, 0, 'd'},
                                         {"output", required_argument, 0, 'o'},
                                         {"volumes", no_argument, 0, 'V'},
                                         {"volume-shape", required_argument, 0, 'S'},
                                         {"volume-spacing", required_argument, 0, 'P'},
                                         {"organ-legend", required_argument, 0, 'L'},
                                         {"connectivity", required_argument, 0, 'C'},
                                         {"skip-bad", no_argument, 0, 'k'},
                                         {"force", no_argument, 0, 'f'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:d:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o->clinical_csv = optarg; break;
        case 'd': o->studies_dir = optarg; break;
        case 'o': o->output = optarg; break;
        case 'V': o->volumes = 1; break;
        case 'S':
            if (lr_parse_dims(optarg, 1, 4096, o->volume_dims))
                return lr_usage_error("ingest", "--volume-shape '%s': expected DxHxW, e.g. 120x480x480", optarg);
            break;
        case 'P':
            if (parse_spacing(optarg, o->volume_spacing))
                return lr_usage_error("ingest", "--volume-spacing '%s': expected Z,Y,X in (0, 50] mm, e.g. 5,0.78125,0.78125",
                                      optarg);
            break;
        case 'L': o->organ_legend = optarg; break;
        case 'C':
            if (lr_parse_long(optarg, 6, 26, &v) || (v != 6 && v != 26))
                return lr_usage_error("ingest", "--connectivity '%s': expected 26 or 6", optarg);
            o->connectivity = (int)v;
            break;
        case 'k': o->skip_bad = 1; break;
        case 'f': o->force = 1; break;
        case 'q': o->quiet = 1; break;
        case 'h': ingest_help(); return 1;
        default: return lr_usage_error("ingest", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return lr_usage_error("ingest", "unexpected argument '%s'", argv[optind]);
    if (!o->clinical_csv) return lr_usage_error("ingest", "missing --clinical CSV");
    if (!o->studies_dir) return lr_usage_error("ingest", "missing --studies DIR");
    if (!o->output) return lr_usage_error("ingest", "missing -o COHORT.h5");
    if (!o->output[0]) return lr_usage_error("ingest", "-o '': expected a file name");
    return 0;
}

int cmd_ingest(int argc, char **argv)
{
    lr_ingest_opts o;
    lr_ingest_default_opts(&o);
    int prc = parse(argc, argv, &o);
    if (prc == 1) return 0;
    if (prc) return prc;
    int was_init = 0;
    MPI_Initialized(&was_init);
    if (!was_init) MPI_Init(NULL, NULL);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    lr_ingest_report rep;
    lr_err err = {0};
    int rc = lr_ingest_run(&o, MPI_COMM_WORLD, &rep, &err);
    if (!was_init) MPI_Finalize();
    if (rc) return rank == 0 ? lr_runtime_error("ingest", "%s", err.msg) : 1;
    return 0;
}
