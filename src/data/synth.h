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

/* Longest in-plane extent of the lesion (mm): the RECIST-like long-axis diameter of its boundary. */
double lr_synth_axial_diameter(const lr_synth_lesion *les);

/* The lesion body lies within reach_xy of its centre in-plane and reach_z along z (mm). */
void lr_synth_body_reach(const lr_synth_lesion *les, double *reach_xy, double *reach_z);

/* ---- One appearance for patches and volumes (synth_render.c, synth_volume.c) ----
 * A lesion is ONE function of millimetre space: its body (ellipsoid with lobulation and spicules,
 * phenotype texture, necrotic core) and the organ context around it (the organ boundary at the lesion's
 * containment margin, organ textures, vessels, ribs), evaluated at a point (z, y, x) in mm relative to the
 * lesion centre. A patient's CT is the phantom with every lesion's context blended in (inside a cylinder
 * around the lesion) and every body on top. Patches and whole volumes sample that same function on their own
 * grids; partial volume is analytic: the value at a sample is the function averaged over the sample's box
 * aperture (z, y, x extent in mm): plane waves are attenuated by their box response (a product of sincs),
 * steps (lesion and organ boundaries) become linear ramps across the aperture projected on their normal. */
#define LR_SYNTH_WAVES 5
#define LR_SYNTH_VESSELS 5

typedef struct {
    double kz, ky, kx, phase; /* cos(k . r + phase), k in rad/mm */
} lr_synth_wave;

typedef struct {
    double py, px;         /* a point of the vessel's axis (mm, in the lesion's axial plane) */
    double dz, dy, dx;     /* unit direction of the axis */
    double width, radius;  /* lung: Gaussian tube width; mediastinum: vertical cylinder radius */
    double hu;
} lr_synth_vessel;

typedef struct {
    lr_synth_lesion les;   /* the true lesion (position = its centre in the volume) */
    lr_synth_wave bg[LR_SYNTH_WAVES], tex[LR_SYNTH_WAVES];
    double bg_att[LR_SYNTH_WAVES], tex_att[LR_SYNTH_WAVES]; /* box response of each wave at the aperture */
    lr_synth_vessel vessels[LR_SYNTH_VESSELS];
    int n_vessels;
    double boundary_ny, boundary_nx, boundary_dist; /* organ boundary: the plane y ny + x nx = dist */
    double cos_o, sin_o, rib_phase;
    double lesion_hu, heterogeneity, necrosis;
    double body_reach_xy, body_reach_z; /* the body lies within these distances of the centre */
    double ctx_radius, ctx_half_height, ctx_fade; /* context cylinder: weight 1 inside, 0 beyond + fade */
    double aperture[3];    /* z, y, x box the samples average over (mm) */
} lr_synth_field;

/* A patient's CT as a function: the phantom plus its lesions' fields. */
typedef struct {
    int n;
    lr_synth_field *fields; /* [n], one per true lesion, bodies painted in this order */
    double aperture[3];
} lr_synth_scene;

/* The field of lesion les (its position must be set), its random parts drawn from key. */
void lr_synth_field_init(lr_synth_field *f, const lr_synth_lesion *les, uint64_t key);
/* The sampling aperture (z, y, x box in mm; 0 = a point along that axis) of the following lookups. */
void lr_synth_field_set_aperture(lr_synth_field *f, const double aperture_mm[3]);
/* At p (z, y, x mm from the lesion centre): the context's weight (1 inside its cylinder, 0 beyond the fade)
 * with *reach its normalised distance; the organ context's HU; the body's fraction of the aperture box
 * (0 outside) with *hu its HU. */
double lr_synth_field_context(const lr_synth_field *f, const double p[3], double *reach);
double lr_synth_field_background(const lr_synth_field *f, const double p[3]);
double lr_synth_field_body(const lr_synth_field *f, const double p[3], double *hu);
/* n lesions (placed): field l drawn from lr_stream_key(key, "lesion-field", l, 0, 0). */
int lr_synth_scene_init(lr_synth_scene *s, const lr_synth_lesion *les, int n, uint64_t key, lr_err *err);
void lr_synth_scene_free(lr_synth_scene *s);
/* The sampling aperture (z, y, x box in mm; 0 = a point along that axis) of the following lookups. */
void lr_synth_scene_set_aperture(lr_synth_scene *s, const double aperture_mm[3]);
/* Fields whose reach may include some point of the box [lo, hi] (z, y, x mm): their indices, ascending. */
int lr_synth_scene_candidates(const lr_synth_scene *s, const double lo[3], const double hi[3], int *cand);
/* Noise-free HU of the CT at pos (z, y, x mm in the volume's coordinates) averaged over the aperture;
 * cand / n_cand: a superset of the fields that reach pos, ascending (lr_synth_scene_candidates). */
double lr_synth_scene_hu(const lr_synth_scene *s, const double pos[3], const int *cand, int n_cand);

/* How one lesion row's patch samples the scene: the axial plane through the true lesion's centre, a
 * crop_mm square centred at the centre + shift, LR_PATCH x LR_PATCH points at pixel centres with the
 * aperture (0, crop/LR_PATCH, crop/LR_PATCH), plus Gaussian noise from noise_key. */
typedef struct {
    int lesion;             /* index of the true lesion in the patient's scene */
    double crop_mm, shift_y_mm, shift_x_mm;
    uint64_t noise_key;
} lr_synth_patch_view;

/* Render one row's 72 x 72 patch (HU) from the patient's scene. */
int lr_synth_render_patch(float *patch, lr_synth_scene *s, const lr_synth_patch_view *view, lr_err *err);
#define LR_SYNTH_NOISE_HU 10.0 /* SD of the acquisition noise added to every patch pixel and voxel */

/* Whole-volume phantom (synth_volume.c). Coordinates in mm: z from the top of the 600 mm field of view,
 * y (anterior -> posterior) and x (patient right -> left) from its centre. */
/* The phantom's organ at a point (ORGAN_*; -1 outside the body, -2 body fat) and its HU. */
int lr_synth_organ_at(double z, double y, double x, double *hu);
/* Positions for a patient's true lesions: inside their organs, bodies apart when possible. */
void lr_synth_place_lesions(lr_synth_lesion *les, int n, uint64_t key);
/* Sample the scene on a voxel grid (aperture = spacing) with noise from key into vol [D*H*W]. */
int lr_synth_render_volume(int16_t *vol, const size_t dims[3], const double spacing[3], lr_synth_scene *s,
                           uint64_t key, lr_err *err);

/* The generator with its records, for tests: per patient the scene (true lesions, placed), per lesion row
 * the view its patch was rendered from. Free with lr_synth_records_free. */
typedef struct {
    size_t n_patients, n_rows;
    lr_synth_scene *scenes;      /* [P] */
    lr_synth_patch_view *views;  /* [L] */
} lr_synth_records;
int lr_synth_generate_records(const lr_synth_params *p, lr_cohort *c, lr_synth_records *rec, lr_err *err);
void lr_synth_records_free(lr_synth_records *rec);

/* The cohort as NIfTI studies (synth_nifti.c): DIR/clinical.csv and DIR/<id>/{ct, organs, lesions_<reader>,
 * lesions_<reader>_followup}.nii.gz on a grid of p->volume_dims over the phantom's field of view, rendered
 * from the cohort's lesion rows (each reader's lesions at that reader's volumes, distinct labels in row
 * order, non-overlapping). Same seed, same files. */
int lr_synth_write_nifti(const char *dir, const lr_synth_params *p, lr_err *err);

#endif
