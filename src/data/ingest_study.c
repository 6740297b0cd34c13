/* One study directory -> its annotations (one per reader) and lesion rows. */
#include <dirent.h>
#include <gsl/gsl_sort.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/ingest.h"
#include "util/parse.h"

/* ---- directory scan ---- */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

/* "stem.nii.gz" or "stem.nii" -> length of stem, else 0. */
static size_t nifti_stem(const char *name)
{
    size_t n = strlen(name);
    if (n > 7 && !strcmp(name + n - 7, ".nii.gz")) return n - 7;
    if (n > 4 && !strcmp(name + n - 4, ".nii")) return n - 4;
    return 0;
}

void lr_study_files_free(lr_study_files *sf)
{
    for (size_t r = 0; r < sf->n_readers; r++) {
        free(sf->readers[r].name);
        free(sf->readers[r].mask);
        free(sf->readers[r].followup);
    }
    free(sf->readers);
    free(sf->dir);
    free(sf->ct);
    free(sf->organs);
    memset(sf, 0, sizeof *sf);
}

static lr_reader *reader_slot(lr_study_files *sf, const char *name, size_t len, lr_err *err)
{
    for (size_t r = 0; r < sf->n_readers; r++)
        if (strlen(sf->readers[r].name) == len && !strncmp(sf->readers[r].name, name, len)) return &sf->readers[r];
    lr_reader *grown = realloc(sf->readers, (sf->n_readers + 1) * sizeof *grown);
    if (!grown) {
        lr_fail(err, "out of memory");
        return NULL;
    }
    sf->readers = grown;
    lr_reader *rd = &sf->readers[sf->n_readers];
    memset(rd, 0, sizeof *rd);
    if (!(rd->name = strndup(name, len))) {
        lr_fail(err, "out of memory");
        return NULL;
    }
    sf->n_readers++;
    return rd;
}

/* Sets *slot to dir/name; two spellings of the same file (.nii and .nii.gz) are an error. */
static int set_path(char **slot, const char *dir, const char *name, lr_err *err)
{
    if (*slot) return lr_fail(err, "%s: both %s and %s: keep one", dir, *slot + strlen(dir) + 1, name);
    if (!(*slot = join(dir, name))) return lr_fail(err, "out of memory");
    return 0;
}

static int classify(lr_study_files *sf, const char *name, lr_err *err)
{
    size_t stem = nifti_stem(name);
    if (!stem) return 0; /* not a NIfTI file: ignored (sidecars, legends, notes) */
    static const char followup[] = "_followup";
    size_t fl = sizeof followup - 1;
    if (stem == 2 && !strncmp(name, "ct", 2)) return set_path(&sf->ct, sf->dir, name, err);
    if (stem == 6 && !strncmp(name, "organs", 6)) return set_path(&sf->organs, sf->dir, name, err);
    if (stem > 8 && !strncmp(name, "lesions_", 8)) {
        const char *tok = name + 8;
        size_t len = stem - 8;
        int is_fu = len > fl && !strncmp(tok + len - fl, followup, fl);
        if (is_fu) len -= fl;
        lr_reader *rd = reader_slot(sf, tok, len, err);
        if (!rd) return -1;
        return set_path(is_fu ? &rd->followup : &rd->mask, sf->dir, name, err);
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const lr_reader *)a)->name, ((const lr_reader *)b)->name);
}

int lr_study_scan(const char *dir, lr_study_files *sf, lr_err *err)
{
    memset(sf, 0, sizeof *sf);
    if (!(sf->dir = strdup(dir))) return lr_fail(err, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        lr_fail(err, "%s: cannot open the study directory", dir);
        goto fail;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) rc = classify(sf, e->d_name, err);
    closedir(d);
    if (rc) goto fail;
    if (!sf->ct) {
        lr_fail(err, "%s: missing ct.nii.gz (the baseline CT)", dir);
        goto fail;
    }
    if (sf->n_readers == 0) {
        lr_fail(err, "%s: no lesion mask (expected lesions_<reader>.nii.gz)", dir);
        goto fail;
    }
    for (size_t r = 0; r < sf->n_readers; r++)
        if (!sf->readers[r].mask) {
            lr_fail(err, "%s: lesions_%s_followup without the baseline lesions_%s.nii.gz", dir, sf->readers[r].name,
                    sf->readers[r].name);
            goto fail;
        }
    qsort(sf->readers, sf->n_readers, sizeof *sf->readers, by_name);
    return 0;
fail:
    lr_study_files_free(sf);
    return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int by_id(const void *a, const void *b)
{
    return ((const lr_reader *)a)->id - ((const lr_reader *)b)->id;
}

/* A reader name made of digits only (no sign or spaces) that fits an int16 reader id. */
static int integer_name(const char *s, long *v)
{
    return *s && strlen(s) <= 5 && strspn(s, "0123456789") == strlen(s) && lr_parse_long(s, 0, 32767, v) == 0;
}

int lr_reader_ids(lr_study_files *studies, size_t n, int *mapped, lr_err *err)
{
    size_t total = 0;
    int all_int = 1;
    long v;
    for (size_t s = 0; s < n; s++)
        for (size_t r = 0; r < studies[s].n_readers; r++, total++) all_int &= integer_name(studies[s].readers[r].name, &v);
    *mapped = !all_int;
    char **names = NULL;
    if (!all_int) {
        names = lr_malloc(total, sizeof *names, err);
        if (!names) return -1;
        size_t m = 0;
        for (size_t s = 0; s < n; s++)
            for (size_t r = 0; r < studies[s].n_readers; r++) names[m++] = studies[s].readers[r].name;
        qsort(names, total, sizeof *names, cmp_str);
    }
    for (size_t s = 0; s < n; s++) {
        for (size_t r = 0; r < studies[s].n_readers; r++) {
            lr_reader *rd = &studies[s].readers[r];
            if (all_int) {
                integer_name(rd->name, &v);
                rd->id = (int16_t)v;
                continue;
            }
            long id = 0; /* rank among distinct names */
            for (size_t m = 0; m < total && strcmp(names[m], rd->name) < 0; m++)
                if (m == 0 || strcmp(names[m], names[m - 1])) id++;
            if (id > 32767) {
                free(names);
                return lr_fail(err, "more than 32768 distinct reader names");
            }
            rd->id = (int16_t)id;
        }
        if (studies[s].n_readers > 1) qsort(studies[s].readers, studies[s].n_readers, sizeof *studies[s].readers, by_id);
    }
    free(names);
    return 0;
}

/* ---- rows ---- */

void lr_study_rows_free(lr_study_rows *rows)
{
    free(rows->reader);
    free(rows->ann_n_lesions);
    free(rows->patch);
    free(rows->volume_mm3);
    free(rows->diameter_mm);
    free(rows->volume_followup_mm3);
    free(rows->organ);
    free(rows->lesion_key);
    memset(rows, 0, sizeof *rows);
}

static int grow(void **p, size_t n, size_t el, lr_err *err)
{
    void *q = realloc(*p, (n ? n : 1) * el);
    if (!q) return lr_fail(err, "out of memory (lesion rows)");
    *p = q;
    return 0;
}

static int rows_reserve(lr_study_rows *rows, size_t n_ann, size_t n_les, lr_err *err)
{
    LR_TRY(grow((void **)&rows->reader, n_ann, sizeof *rows->reader, err));
    LR_TRY(grow((void **)&rows->ann_n_lesions, n_ann, sizeof *rows->ann_n_lesions, err));
    LR_TRY(grow((void **)&rows->patch, n_les, sizeof(float) * LR_PATCH * LR_PATCH, err));
    LR_TRY(grow((void **)&rows->volume_mm3, n_les, sizeof(double), err));
    LR_TRY(grow((void **)&rows->diameter_mm, n_les, sizeof(double), err));
    LR_TRY(grow((void **)&rows->volume_followup_mm3, n_les, sizeof(double), err));
    LR_TRY(grow((void **)&rows->organ, n_les, sizeof(int16_t), err));
    LR_TRY(grow((void **)&rows->lesion_key, n_les, sizeof(int32_t), err));
    return 0;
fail:
    return -1;
}

/* ---- per-lesion organ and follow-up ---- */

static long lesion_index(const lr_lesion *les, size_t n, int32_t label)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (les[mid].label < label) lo = mid + 1;
        else hi = mid;
    }
    return (lo < n && les[lo].label == label) ? (long)lo : -1;
}

/* Majority vote of organ-map values inside each lesion (ties: the lower organ index). */
static int lesion_organs(const int32_t *labels, const int32_t *organ_map, const char *organ_path,
                         const lr_nifti_geom *g, const lr_organ_table *t, const lr_lesion *les, size_t n,
                         int16_t *organ, lr_err *err)
{
    size_t H = g->dims[1], W = g->dims[2];
    for (size_t l = 0; l < n; l++) {
        organ[l] = t->other;
        if (!organ_map) continue;
        size_t votes[LR_INGEST_MAX_ORGANS] = {0};
        const lr_lesion *L = &les[l];
        for (size_t k = L->lo[0]; k <= L->hi[0]; k++)
            for (size_t i = L->lo[1]; i <= L->hi[1]; i++)
                for (size_t j = L->lo[2]; j <= L->hi[2]; j++) {
                    size_t v = (k * H + i) * W + j;
                    if (labels[v] != L->label) continue;
                    int32_t o = organ_map[v];
                    if (o == 0) {
                        votes[t->other]++;
                        continue;
                    }
                    size_t q = 0;
                    while (q < t->n_labels && t->label[q] != o) q++;
                    if (q == t->n_labels)
                        return lr_fail(err, "%s: organ label %d is not in the organ table (see --organ-legend)",
                                       organ_path, (int)o);
                    votes[t->index[q]]++;
                }
        size_t best = 0;
        for (size_t k = 1; k < t->n_names; k++)
            if (votes[k] > votes[best]) best = k;
        organ[l] = (int16_t)best;
    }
    return 0;
}

/* Label maps: the follow-up volume of baseline lesion l is the volume of its label in the follow-up map
 * (0 when absent). Binary baselines with several components: follow-up components are matched to the
 * baseline lesion they overlap most (same grid required); unmatched components are new lesions, ignored. */
static int followup_volumes(const char *path, const int32_t *base, const lr_nifti_geom *g, int base_binary,
                            int connectivity, const lr_lesion *les, size_t n, double *vol, lr_err *err)
{
    lr_nifti_geom fg;
    int32_t *fl = NULL;
    size_t *count = NULL, *overlap = NULL;
    LR_TRY(lr_nifti_read_labels(path, &fg, &fl, err));
    size_t nv = fg.dims[0] * fg.dims[1] * fg.dims[2];
    double voxel_mm3 = fg.spacing[0] * fg.spacing[1] * fg.spacing[2];
    if (!base_binary || n == 1) {
        count = lr_calloc(n, sizeof *count, err);
        if (!count) goto fail;
        for (size_t v = 0; v < nv; v++) {
            if (fl[v] <= 0) continue;
            long l = n == 1 && base_binary ? 0 : lesion_index(les, n, fl[v]);
            if (l >= 0) count[l]++;
        }
        for (size_t l = 0; l < n; l++) vol[l] = (double)count[l] * voxel_mm3;
    } else {
        if (lr_nifti_same_grid(g, &fg, err)) {
            lr_fail_ctx(err, "%s: a binary baseline mask needs its follow-up on the same grid to match lesions (or "
                             "use label maps with the same labels)",
                        path);
            goto fail;
        }
        long m = lr_label_components(fl, fg.dims, connectivity, err);
        if (m < 0) goto fail;
        if ((double)m * (double)n > 5e7) {
            lr_fail(err, "%s: too many follow-up components (%ld) to match", path, m);
            goto fail;
        }
        overlap = lr_calloc((size_t)m * n, sizeof *overlap, err);
        count = lr_calloc((size_t)m + 1, sizeof *count, err);
        if (!overlap || !count) goto fail;
        for (size_t v = 0; v < nv; v++) {
            if (fl[v] <= 0) continue;
            count[fl[v]]++;
            long l = base[v] > 0 ? lesion_index(les, n, base[v]) : -1;
            if (l >= 0) overlap[(size_t)(fl[v] - 1) * n + (size_t)l]++;
        }
        for (size_t l = 0; l < n; l++) vol[l] = 0;
        for (long c = 0; c < m; c++) {
            size_t best = 0;
            for (size_t l = 1; l < n; l++)
                if (overlap[(size_t)c * n + l] > overlap[(size_t)c * n + best]) best = l;
            if (overlap[(size_t)c * n + best] > 0) vol[best] += (double)count[c + 1] * voxel_mm3;
        }
    }
    free(fl);
    free(count);
    free(overlap);
    return 0;
fail:
    free(fl);
    free(count);
    free(overlap);
    return -1;
}

static int max_label_is_one(const int32_t *labels, size_t n)
{
    int32_t mx = 0;
    for (size_t v = 0; v < n; v++)
        if (labels[v] > mx) mx = labels[v];
    return mx == 1;
}

/* ---- lesion identity across readers (the rule is in ingest.h) ---- */

/* The earlier readers' baseline lesion voxels, sparse (lesions are a small part of a CT). */
typedef struct {
    size_t n_voxels, cap_voxels;
    size_t *voxel;          /* [n_voxels] voxel index */
    int32_t *lesion;        /* [n_voxels] index into the earlier lesions */
    size_t n_lesions, cap_lesions;
    int32_t *key;           /* [n_lesions] */
    size_t *size;           /* [n_lesions] voxels */
    int32_t n_keys;
} prior_lesions;

static void prior_free(prior_lesions *pr)
{
    free(pr->voxel);
    free(pr->lesion);
    free(pr->key);
    free(pr->size);
    memset(pr, 0, sizeof *pr);
}

typedef struct {
    double dice;
    size_t row;
    int32_t key;
} match_pair;

static int cmp_pair(const void *a, const void *b)
{
    const match_pair *x = a, *y = b;
    if (x->dice != y->dice) return x->dice > y->dice ? -1 : 1;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

/* Keys for one reader's n lesions (labels: its dense label map), then its voxels join prior. */
static int match_reader(prior_lesions *pr, const int32_t *labels, size_t n_vox, const lr_lesion *les, size_t n,
                        int32_t *key, lr_err *err)
{
    size_t E = pr->n_lesions;
    size_t *overlap = lr_calloc(n * (E ? E : 1), sizeof *overlap, err); /* [n, E] */
    match_pair *pairs = lr_malloc(n * (E ? E : 1), sizeof *pairs, err);
    uint8_t *used = lr_calloc((size_t)pr->n_keys + 1, 1, err);
    int rc = -1;
    if (!overlap || !pairs || !used) goto done;
    for (size_t t = 0; t < pr->n_voxels; t++) {
        int32_t lab = labels[pr->voxel[t]];
        long l = lab > 0 ? lesion_index(les, n, lab) : -1;
        if (l >= 0) overlap[(size_t)l * E + (size_t)pr->lesion[t]]++;
    }
    /* best Dice per (row, key) */
    size_t n_pairs = 0;
    for (size_t l = 0; l < n; l++) {
        key[l] = -1;
        for (size_t e = 0; e < E; e++) {
            if (!overlap[l * E + e]) continue;
            double dice = 2.0 * (double)overlap[l * E + e] / (double)(les[l].n_voxels + pr->size[e]);
            size_t q = 0;
            while (q < n_pairs && !(pairs[q].row == l && pairs[q].key == pr->key[e])) q++;
            if (q == n_pairs) pairs[n_pairs++] = (match_pair){.dice = dice, .row = l, .key = pr->key[e]};
            else if (dice > pairs[q].dice) pairs[q].dice = dice;
        }
    }
    qsort(pairs, n_pairs, sizeof *pairs, cmp_pair);
    for (size_t q = 0; q < n_pairs && pairs[q].dice >= LR_MATCH_MIN_DICE; q++) {
        if (key[pairs[q].row] >= 0 || used[pairs[q].key]) continue;
        key[pairs[q].row] = pairs[q].key;
        used[pairs[q].key] = 1;
    }
    for (size_t l = 0; l < n; l++)
        if (key[l] < 0) key[l] = pr->n_keys++;
    /* this reader's lesions and voxels join the earlier ones */
    size_t add = 0;
    for (size_t l = 0; l < n; l++) add += les[l].n_voxels;
    if (pr->n_lesions + n > pr->cap_lesions) {
        size_t cap = 2 * (pr->n_lesions + n);
        int32_t *k2 = realloc(pr->key, cap * sizeof *k2);
        if (k2) pr->key = k2;
        size_t *s2 = k2 ? realloc(pr->size, cap * sizeof *s2) : NULL;
        if (s2) pr->size = s2;
        if (!k2 || !s2) {
            lr_fail(err, "out of memory (lesion matching)");
            goto done;
        }
        pr->cap_lesions = cap;
    }
    if (pr->n_voxels + add > pr->cap_voxels) {
        size_t cap = 2 * (pr->n_voxels + add);
        size_t *v2 = realloc(pr->voxel, cap * sizeof *v2);
        if (v2) pr->voxel = v2;
        int32_t *l2 = v2 ? realloc(pr->lesion, cap * sizeof *l2) : NULL;
        if (l2) pr->lesion = l2;
        if (!v2 || !l2) {
            lr_fail(err, "out of memory (lesion matching)");
            goto done;
        }
        pr->cap_voxels = cap;
    }
    for (size_t l = 0; l < n; l++) {
        pr->key[E + l] = key[l];
        pr->size[E + l] = les[l].n_voxels;
    }
    for (size_t v = 0; v < n_vox; v++) {
        if (labels[v] <= 0) continue;
        long l = lesion_index(les, n, labels[v]);
        pr->voxel[pr->n_voxels] = v;
        pr->lesion[pr->n_voxels++] = (int32_t)(E + (size_t)l);
    }
    pr->n_lesions = E + n;
    rc = 0;
done:
    free(overlap);
    free(pairs);
    free(used);
    return rc;
}

/* One reader's annotation appended to rows. */
static int ingest_reader(const lr_study_files *sf, const lr_reader *rd, const float *ct, const lr_nifti_geom *g,
                         const int32_t *organ_map, const lr_organ_table *organs, int connectivity,
                         prior_lesions *prior, lr_study_rows *rows, lr_err *err)
{
    lr_nifti_geom mg;
    int32_t *labels = NULL;
    lr_lesion *les = NULL;
    size_t n = 0;
    LR_TRY(lr_nifti_read_labels(rd->mask, &mg, &labels, err));
    if (lr_nifti_same_grid(g, &mg, err)) {
        lr_fail_ctx(err, "%s", rd->mask);
        goto fail;
    }
    size_t nv = g->dims[0] * g->dims[1] * g->dims[2];
    int binary = max_label_is_one(labels, nv);
    if (binary && lr_label_components(labels, g->dims, connectivity, err) < 0) goto fail;
    LR_TRY(lr_lesion_measure(labels, g, &les, &n, err));
    if (n == 0) {
        lr_fail(err, "%s: empty mask (no lesion voxels; a reader who found no lesion has no file)", rd->mask);
        goto fail;
    }
    if (n > INT32_MAX) {
        lr_fail(err, "%s: too many lesions", rd->mask);
        goto fail;
    }
    size_t a = rows->n_annotations, first = rows->n_lesions;
    LR_TRY(rows_reserve(rows, a + 1, first + n, err));
    rows->reader[a] = rd->id;
    rows->ann_n_lesions[a] = (int32_t)n;
    for (size_t l = 0; l < n; l++) {
        rows->volume_mm3[first + l] = les[l].volume_mm3;
        rows->diameter_mm[first + l] = les[l].diameter_mm;
        rows->volume_followup_mm3[first + l] = NAN;
        LR_TRY(lr_lesion_patch(ct, g, &les[l], rows->patch + (first + l) * LR_PATCH * LR_PATCH, err));
    }
    LR_TRY(lesion_organs(labels, organ_map, sf->organs, g, organs, les, n, rows->organ + first, err));
    LR_TRY(match_reader(prior, labels, nv, les, n, rows->lesion_key + first, err));
    if (rd->followup)
        LR_TRY(followup_volumes(rd->followup, labels, g, binary, connectivity, les, n, rows->volume_followup_mm3 + first,
                                err));
    rows->n_annotations = a + 1;
    rows->n_lesions = first + n;
    free(labels);
    free(les);
    return 0;
fail:
    free(labels);
    free(les);
    return -1;
}

int lr_study_ingest(const lr_study_files *sf, const lr_organ_table *organs, int connectivity, lr_study_rows *rows,
                    lr_err *err)
{
    memset(rows, 0, sizeof *rows);
    lr_nifti_geom g, og;
    float *ct = NULL;
    int32_t *organ_map = NULL;
    LR_TRY(lr_nifti_read_float(sf->ct, &g, &ct, err));
    if (g.dims[1] < 2 || g.dims[2] < 2) {
        lr_fail(err, "%s: axial slices of %zu x %zu pixels: expected at least 2 x 2", sf->ct, g.dims[1], g.dims[2]);
        goto fail;
    }
    if (sf->organs) {
        LR_TRY(lr_nifti_read_labels(sf->organs, &og, &organ_map, err));
        if (lr_nifti_same_grid(&g, &og, err)) {
            lr_fail_ctx(err, "%s", sf->organs);
            goto fail;
        }
    }
    prior_lesions prior = {0};
    for (size_t r = 0; r < sf->n_readers; r++)
        if (ingest_reader(sf, &sf->readers[r], ct, &g, organ_map, organs, connectivity, &prior, rows, err)) {
            prior_free(&prior);
            goto fail;
        }
    prior_free(&prior);
    free(ct);
    free(organ_map);
    return 0;
fail:
    free(ct);
    free(organ_map);
    lr_study_rows_free(rows);
    return -1;
}
