/* The synthetic cohort: a paper-like cohort with a known truth that a CNN can learn from the pixels.
 * The truth model (equations and constants) is documented in README.md ("The synthetic cohort"); the constants
 * live in synth.c next to the code that uses them. */
#ifndef LR_DATA_SYNTH_H
#define LR_DATA_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "data/cohort.h"
#include "util/err.h"

#define LR_SYNTH_DEFAULT_PATIENTS 258

typedef struct {
    size_t patients;       /* P, default 258 */
    uint64_t seed;         /* every number derives from (seed, patient, lesion, reader, purpose) */
    int volumes;           /* also write /volumes/ct */
    size_t volume_dims[3]; /* D, H, W; spacing covers a 600 x 375 x 375 mm field of view */
    int skip_patches;      /* in-memory statistics only: no /lesions/patch (c->patch stays NULL) */
} lr_synth_params;

/* The truth's saturating size weight s(v) = 1 - exp(-v / 4000 mm^3) (README "The synthetic cohort"). */
double lr_synth_size_weight(double volume_mm3);

void lr_synth_default_params(lr_synth_params *p);
/* Generate the cohort in memory (without volumes). */
int lr_synth_generate(const lr_synth_params *p, lr_cohort *c, lr_err *err);
/* Generate and write to path (volumes streamed per patient when requested). */
int lr_synth_write(const char *path, const lr_synth_params *p, lr_err *err);

/* The organ table of synthetic cohorts (index = /lesions/organ). */
enum { ORGAN_LUNG, ORGAN_MEDIASTINUM, ORGAN_BONE, ORGAN_LIVER, ORGAN_OTHER, ORGAN_SPLEEN, ORGAN_KIDNEY,
       ORGAN_STOMACH, N_SYNTH_ORGANS };
extern const char *const lr_synth_organ_names[N_SYNTH_ORGANS];

/* One true lesion (shared by every reader who finds it). Lengths in mm. */
typedef struct {
    int organ;
    double volume_mm3;
    double semi_a, semi_b, semi_c; /* ellipsoid semi-axes: in-plane long, in-plane short, cranio-caudal */
    double orientation;            /* in-plane angle of the long axis (rad) */
    double margin;                 /* distance lesion edge -> organ boundary, in units of the diameter */
    double boundary_angle;         /* direction of the nearest organ boundary (rad) */
    double proliferation;          /* latent phenotype q ~ N(0,1): irregular boundary, heterogeneous texture */
    double lobulation[3], lobulation_phase[3]; /* low-frequency boundary harmonics k = 2, 3, 4 */
    double spiculation, spicule_phase;         /* high-frequency harmonic amplitude (grows with q) */
    int spicule_k;
    double log_hazard;             /* the truth: this lesion's contribution (see docs) */
    double growth_log_ratio;       /* log(V_followup / V) */
    int variant;                   /* organ-specific appearance (e.g. lytic / sclerotic bone) */
    double position[3];            /* centre in the whole volume (mm, z y x), for --volumes */
} lr_synth_lesion;

/* Render one lesion's 72 x 72 axial patch in HU, centred on the lesion, covering crop_mm x crop_mm.
 * noise_key seeds the per-patch texture and noise. */
void lr_synth_render_patch(float *patch, const lr_synth_lesion *les, double crop_mm, double shift_x_mm,
                           double shift_y_mm, uint64_t noise_key);

/* Whole-volume phantom (synth_volume.c). Coordinates in mm: z from the top of the 600 mm field of view,
 * y (anterior -> posterior) and x (patient right -> left) from its centre. */
/* The phantom's organ at a point (ORGAN_*; -1 outside the body, -2 body fat) and its HU. */
int lr_synth_organ_at(double z, double y, double x, double *hu);
/* Render the phantom with the lesions (ellipsoids at les[].position) into vol [D*H*W]. */
int lr_synth_render_volume(int16_t *vol, const size_t dims[3], const double spacing[3], const lr_synth_lesion *les,
                           int n, uint64_t key);

/* The cohort as NIfTI studies (synth_nifti.c): DIR/clinical.csv and DIR/<id>/{ct, organs, lesions_<reader>,
 * lesions_<reader>_followup}.nii.gz on a grid of p->volume_dims over the phantom's field of view, rendered
 * from the cohort's lesion rows (each reader's lesions at that reader's volumes, distinct labels in row
 * order, non-overlapping). Same seed, same files. */
int lr_synth_write_nifti(const char *dir, const lr_synth_params *p, lr_err *err);

#endif
