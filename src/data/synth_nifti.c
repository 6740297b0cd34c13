/* The synthetic cohort as NIfTI studies, so ingest is tested on real-format files end to end.
 *
 * The studies are rendered from the cohort's lesion rows (lr_synth_generate), not from the generator's
 * private state: rows of different readers that describe the same true lesion share its
 * /lesions/lesion_key. Each true lesion gets one ellipsoid shape (drawn from its own
 * stream, like the generator's: elongation 1-1.6, height ratio 0.7-1.2, random in-plane angle) and one
 * position; each reader's mask paints it at that reader's volume, the follow-up mask at the follow-up
 * volume. Positions are snapped to voxel centres (so every lesion has at least one voxel), kept inside
 * the field of view, inside their organ when possible, and apart: spheres of each lesion's largest
 * semi-axis over all readers and time points, plus a voxel diagonal, never overlap. The organ map paints
 * each lesion's largest extent with its organ, so the majority vote recovers the cohort's organ. */
#include <errno.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/nifti.h"
#include "data/synth.h"
#include "util/rng.h"

#define FOV_Z 600.0
#define FOV_YX 375.0

typedef struct {
    double log_hazard;
    int organ;
    double elong, zratio, angle; /* shape */
    double max_semi;             /* largest semi-axis over readers and time points (mm) */
    double mean_volume;          /* geometric mean of the readers' baseline volumes: the CT lesion */
    int n_rows;
    lr_synth_lesion geom;        /* position and CT rendering */
} lesion_group;

static void semi_axes(const lesion_group *g, double volume, double *a, double *b, double *c)
{
    *a = cbrt(3.0 * volume / (4.0 * M_PI) * g->elong / g->zratio);
    *b = *a / g->elong;
    *c = *a * g->zratio;
}

/* Groups of rows (one per true lesion) of patient p; row_group[l - first] receives the group. */
static int group_rows(const lr_cohort *c, size_t p, size_t a0, size_t a1, uint64_t seed, lesion_group **out,
                      int *n_out, int *row_group, lr_err *err)
{
    size_t first = (size_t)c->ann_first_lesion[a0], cap = 0;
    for (size_t a = a0; a < a1; a++) cap += (size_t)c->ann_n_lesions[a];
    lesion_group *g = lr_calloc(cap, sizeof *g, err);
    if (!g) return -1;
    int n = 0;
    for (size_t a = a0; a < a1; a++)
        for (int32_t t = 0; t < c->ann_n_lesions[a]; t++) {
            size_t l = (size_t)c->ann_first_lesion[a] + (size_t)t;
            int k = c->lesion_key[l]; /* keys are 0, 1, ... in order of first appearance */
            if (k < 0 || k > n) {
                free(g);
                return lr_fail(err, "patient %zu: lesion row %zu has key %d (expected keys in order)", p, l, k);
            }
            if (k == n) {
                g[n].log_hazard = c->truth_lesion_log_hazard[l];
                g[n].organ = c->organ[l];
                g[n].mean_volume = 0;
                n++;
            }
            row_group[l - first] = k;
            g[k].mean_volume += log(c->volume_mm3[l]);
            g[k].n_rows++;
        }
    gsl_rng *r = lr_rng_stream(seed, "synth-nifti-shape", (int64_t)p, 0, 0);
    if (!r) {
        free(g);
        return lr_fail(err, "out of memory (rng)");
    }
    for (int k = 0; k < n; k++) {
        g[k].mean_volume = exp(g[k].mean_volume / g[k].n_rows);
        g[k].elong = 1.0 + 0.6 * gsl_rng_uniform(r);
        g[k].zratio = 0.7 + 0.5 * gsl_rng_uniform(r);
        g[k].angle = M_PI * gsl_rng_uniform(r);
        g[k].geom.variant = (int)gsl_rng_uniform_int(r, 2);
    }
    gsl_rng_free(r);
    for (size_t a = a0; a < a1; a++)
        for (int32_t t = 0; t < c->ann_n_lesions[a]; t++) {
            size_t l = (size_t)c->ann_first_lesion[a] + (size_t)t;
            lesion_group *G = &g[row_group[l - first]];
            double v = GSL_MAX(c->volume_mm3[l], isnan(c->volume_followup_mm3[l]) ? 0 : c->volume_followup_mm3[l]);
            double sa, sb, sc;
            semi_axes(G, v, &sa, &sb, &sc);
            G->max_semi = GSL_MAX(G->max_semi, GSL_MAX(sa, sc));
        }
    *out = g;
    *n_out = n;
    return 0;
}

/* Random voxel-centre positions: inside the organ if possible, inside the field of view, apart. */
static int place_groups(lesion_group *g, int n, const size_t dims[3], const double sp[3], uint64_t seed, size_t p,
                        lr_err *err)
{
    gsl_rng *r = lr_rng_stream(seed, "synth-nifti-place", (int64_t)p, 0, 0);
    if (!r) return lr_fail(err, "out of memory (rng)");
    double gap = sqrt(sp[0] * sp[0] + sp[1] * sp[1] + sp[2] * sp[2]);
    double half[3] = {0.5 * FOV_Z, 0.5 * FOV_YX, 0.5 * FOV_YX};
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        lesion_group *G = &g[k];
        int placed = 0;
        for (int attempt = 0; attempt < 20000 && !placed; attempt++) {
            double pos[3];
            size_t idx[3];
            for (int ax = 0; ax < 3; ax++) {
                idx[ax] = (size_t)gsl_rng_uniform_int(r, dims[ax]);
                double centre = ((double)idx[ax] + 0.5) * sp[ax];
                pos[ax] = ax == 0 ? centre : centre - half[ax];
            }
            /* inside the field of view with its largest extent */
            if (pos[0] - G->max_semi < 0 || pos[0] + G->max_semi > FOV_Z || fabs(pos[1]) + G->max_semi > half[1] ||
                fabs(pos[2]) + G->max_semi > half[2])
                continue;
            double hu;
            int organ = lr_synth_organ_at(pos[0], pos[1], pos[2], &hu);
            if (attempt < 10000 && organ != G->organ) continue;
            if (attempt >= 10000 && organ == -1) continue; /* later: anywhere in the body */
            int clear = 1;
            for (int q = 0; q < k && clear; q++) {
                double d2 = 0;
                for (int ax = 0; ax < 3; ax++) d2 += gsl_pow_2(pos[ax] - g[q].geom.position[ax]);
                clear = sqrt(d2) > G->max_semi + g[q].max_semi + gap;
            }
            if (!clear) continue;
            memcpy(G->geom.position, pos, sizeof pos);
            placed = 1;
        }
        if (!placed)
            rc = lr_fail(err, "patient %zu: cannot place %d lesions without overlap on a %zux%zux%zu grid", p + 1, n,
                         dims[0], dims[1], dims[2]);
    }
    gsl_rng_free(r);
    return rc;
}

/* Paint value into every voxel whose centre is inside the ellipsoid (semi-axes a, b in-plane at angle,
 * c along z) centred at pos. Returns the number of voxels painted. */
static size_t paint_ellipsoid(void *vol, int is_u8, const size_t dims[3], const double sp[3], const double pos[3],
                              double a, double b, double c, double angle, int value)
{
    size_t D = dims[0], H = dims[1], W = dims[2], painted = 0;
    double co = cos(angle), so = sin(angle), reach = GSL_MAX(a, c);
    double centre[3] = {pos[0], pos[1] + 0.5 * FOV_YX, pos[2] + 0.5 * FOV_YX}; /* from the grid corner */
    long lo[3], hi[3];
    size_t n[3] = {D, H, W};
    for (int ax = 0; ax < 3; ax++) {
        lo[ax] = GSL_MAX((long)floor((centre[ax] - reach) / sp[ax] - 0.5), 0L);
        hi[ax] = GSL_MIN((long)ceil((centre[ax] + reach) / sp[ax] - 0.5), (long)n[ax] - 1);
    }
    for (long k = lo[0]; k <= hi[0]; k++) {
        double w = (((double)k + 0.5) * sp[0] - centre[0]) / c;
        for (long i = lo[1]; i <= hi[1]; i++) {
            double dy = ((double)i + 0.5) * sp[1] - centre[1];
            for (long j = lo[2]; j <= hi[2]; j++) {
                double dx = ((double)j + 0.5) * sp[2] - centre[2];
                double u = (dx * co + dy * so) / a, v = (-dx * so + dy * co) / b;
                if (u * u + v * v + w * w > 1.0) continue;
                size_t idx = ((size_t)k * H + (size_t)i) * W + (size_t)j;
                if (is_u8) ((uint8_t *)vol)[idx] = (uint8_t)value;
                else ((int16_t *)vol)[idx] = (int16_t)value;
                painted++;
            }
        }
    }
    return painted;
}

static int write_volume(const char *dir, const char *name, int datatype, const size_t dims[3], const double sp[3],
                        const void *data, lr_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* voxel (0,0,0) centre in RAS: x = right -> left decreasing, y anterior, z superior (top = 0). */
    double origin[3] = {-(0.5 * sp[2] - 0.5 * FOV_YX), -(0.5 * sp[1] - 0.5 * FOV_YX), -0.5 * sp[0]};
    size_t sd[3];
    double aff[3][4];
    lr_nifti_canonical_affine(dims, sp, origin, sd, aff);
    return lr_nifti_write(path, datatype, sd, aff, data, err);
}

/* One reader's label map (baseline or follow-up): lesion t of the annotation gets label t + 1. */
static int reader_map(const lr_cohort *c, size_t a, const lesion_group *g, const int *row_group, size_t first,
                      int followup, const size_t dims[3], const double sp[3], int16_t *map, size_t n_vox)
{
    memset(map, 0, n_vox * sizeof *map);
    for (int32_t t = 0; t < c->ann_n_lesions[a]; t++) {
        size_t l = (size_t)c->ann_first_lesion[a] + (size_t)t;
        const lesion_group *G = &g[row_group[l - first]];
        double v = followup ? c->volume_followup_mm3[l] : c->volume_mm3[l];
        if (!(v > 0)) continue; /* gone at follow-up: label absent */
        double sa, sb, sc;
        semi_axes(G, v, &sa, &sb, &sc);
        paint_ellipsoid(map, 0, dims, sp, G->geom.position, sa, sb, sc, G->angle, t + 1);
    }
    return 0;
}

static int write_patient(const char *dir, const lr_cohort *c, size_t p, size_t a0, size_t a1,
                         const lr_synth_params *prm, int16_t *vol, uint8_t *organs, lr_err *err)
{
    const size_t *dims = prm->volume_dims;
    double sp[3] = {FOV_Z / (double)dims[0], FOV_YX / (double)dims[1], FOV_YX / (double)dims[2]};
    size_t n_vox = dims[0] * dims[1] * dims[2], first = (size_t)c->ann_first_lesion[a0], n_rows = 0;
    for (size_t a = a0; a < a1; a++) n_rows += (size_t)c->ann_n_lesions[a];
    int *row_group = lr_malloc(n_rows, sizeof *row_group, err);
    lesion_group *g = NULL;
    lr_synth_lesion *les = NULL;
    lr_synth_scene scene = {0};
    int n = 0, rc = -1;
    char pdir[4200], name[300];
    snprintf(pdir, sizeof pdir, "%s/%s", dir, c->patient_id[p]);
    if (!row_group) goto done;
    if (mkdir(pdir, 0777) != 0 && errno != EEXIST) {
        lr_fail(err, "%s: cannot create directory: %s", pdir, strerror(errno));
        goto done;
    }
    LR_TRY(group_rows(c, p, a0, a1, prm->seed, &g, &n, row_group, err));
    LR_TRY(place_groups(g, n, dims, sp, prm->seed, p, err));
    les = lr_calloc((size_t)n, sizeof *les, err);
    if (!les) goto done;
    for (int k = 0; k < n; k++) { /* the CT shows each true lesion at its mean measured size */
        les[k] = g[k].geom;
        les[k].organ = g[k].organ;
        les[k].orientation = g[k].angle;
        semi_axes(&g[k], g[k].mean_volume, &les[k].semi_a, &les[k].semi_b, &les[k].semi_c);
    }
    uint64_t key = lr_stream_key(prm->seed, "synth-nifti-volume", (int64_t)p, 0, 0);
    LR_TRY(lr_synth_scene_init(&scene, les, n, key, err));
    LR_TRY(lr_synth_render_volume(vol, dims, sp, &scene, key, err));
    LR_TRY(write_volume(pdir, "ct.nii.gz", NIFTI_TYPE_INT16, dims, sp, vol, err));
    /* Organ map: the phantom's organs (label = organ index + 1, 0 = none), each lesion's largest extent
     * painted with its organ. */
    size_t D = dims[0], H = dims[1], W = dims[2];
    for (size_t k = 0; k < D; k++)
        for (size_t i = 0; i < H; i++)
            for (size_t j = 0; j < W; j++) {
                double hu;
                int o = lr_synth_organ_at(((double)k + 0.5) * sp[0], ((double)i + 0.5) * sp[1] - 0.5 * FOV_YX,
                                          ((double)j + 0.5) * sp[2] - 0.5 * FOV_YX, &hu);
                organs[(k * H + i) * W + j] = (uint8_t)(o >= 0 ? o + 1 : 0);
            }
    for (size_t a = a0; a < a1; a++)
        for (int32_t t = 0; t < c->ann_n_lesions[a]; t++) {
            size_t l = (size_t)c->ann_first_lesion[a] + (size_t)t;
            const lesion_group *G = &g[row_group[l - first]];
            double sa, sb, sc;
            semi_axes(G, c->volume_mm3[l], &sa, &sb, &sc);
            paint_ellipsoid(organs, 1, dims, sp, G->geom.position, sa, sb, sc, G->angle, G->organ + 1);
        }
    LR_TRY(write_volume(pdir, "organs.nii.gz", NIFTI_TYPE_UINT8, dims, sp, organs, err));
    for (size_t a = a0; a < a1; a++) {
        int has_fu = 0;
        for (int32_t t = 0; t < c->ann_n_lesions[a]; t++)
            has_fu |= !isnan(c->volume_followup_mm3[c->ann_first_lesion[a] + t]);
        for (int fu = 0; fu <= has_fu; fu++) {
            reader_map(c, a, g, row_group, first, fu, dims, sp, vol, n_vox);
            snprintf(name, sizeof name, "lesions_%d%s.nii.gz", (int)c->ann_reader[a], fu ? "_followup" : "");
            LR_TRY(write_volume(pdir, name, NIFTI_TYPE_INT16, dims, sp, vol, err));
        }
    }
    rc = 0;
done:
fail:
    free(row_group);
    free(g);
    free(les);
    lr_synth_scene_free(&scene);
    return rc;
}

static int write_clinical(const char *dir, const lr_cohort *c, lr_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/clinical.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return lr_fail(err, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "patient_id,time_days,event,arm\n");
    for (size_t p = 0; p < c->n_patients; p++)
        fprintf(f, "%s,%.17g,%d,%d\n", c->patient_id[p], c->time_days[p], (int)c->event[p], (int)c->arm[p]);
    if (fclose(f) != 0) return lr_fail(err, "%s: write error", path);
    return 0;
}

int lr_synth_write_nifti(const char *dir, const lr_synth_params *prm, lr_err *err)
{
    lr_synth_params q = *prm;
    q.skip_patches = 1;
    lr_cohort c;
    if (lr_synth_generate(&q, &c, err)) return -1;
    size_t n_vox = prm->volume_dims[0] * prm->volume_dims[1] * prm->volume_dims[2];
    int16_t *vol = lr_malloc(n_vox, sizeof *vol, err);
    uint8_t *organs = lr_malloc(n_vox, 1, err);
    int rc = -1;
    if (!vol || !organs) goto done;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        lr_fail(err, "%s: cannot create directory: %s", dir, strerror(errno));
        goto done;
    }
    LR_TRY(write_clinical(dir, &c, err));
    size_t a0 = 0;
    for (size_t p = 0; p < c.n_patients; p++) {
        size_t a1 = a0;
        while (a1 < c.n_annotations && (size_t)c.ann_patient[a1] == p) a1++;
        if (a1 > a0) LR_TRY(write_patient(dir, &c, p, a0, a1, prm, vol, organs, err));
        a0 = a1;
    }
    rc = 0;
done:
fail:
    free(vol);
    free(organs);
    lr_cohort_free(&c);
    return rc;
}
