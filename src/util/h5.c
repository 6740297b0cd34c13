#include "util/h5.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void lr_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

hid_t lr_h5_create(const char *path, lr_err *err)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) lr_fail(err, "%s: cannot create HDF5 file", path);
    return f;
}

hid_t lr_h5_open_read(const char *path, lr_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        lr_fail(err, "%s: no such file", path);
        return -1;
    }
    if (st.st_size == 0) {
        lr_fail(err, "%s: empty file (expected an HDF5 file)", path);
        return -1;
    }
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        lr_fail(err, "%s: not an HDF5 file", path);
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) lr_fail(err, "%s: cannot open HDF5 file (corrupt or truncated?)", path);
    return f;
}

int lr_h5_exists(hid_t file, const char *path)
{
    /* H5Lexists fails on a missing intermediate group, so check every prefix. */
    char buf[512];
    size_t n = strlen(path);
    if (n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) return 0;
            buf[i] = c;
        }
    }
    return 1;
}

int lr_h5_write(hid_t file, const char *path, hid_t memtype, hid_t filetype, int rank, const hsize_t *dims,
                const hsize_t *chunk, int deflate, const void *data, lr_err *err)
{
    int rc = -1;
    hid_t space = -1, lcpl = -1, dcpl = -1, dset = -1;
    space = H5Screate_simple(rank, dims, NULL);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space < 0 || lcpl < 0 || dcpl < 0) goto done;
    H5Pset_create_intermediate_group(lcpl, 1);
    if (chunk) {
        if (H5Pset_chunk(dcpl, rank, chunk) < 0) goto done;
        if (deflate > 0 && H5Pset_deflate(dcpl, (unsigned)deflate) < 0) goto done;
    }
    dset = H5Dcreate2(file, path, filetype, space, lcpl, dcpl, H5P_DEFAULT);
    if (dset < 0) goto done;
    if (H5Dwrite(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) goto done;
    rc = 0;
done:
    if (rc) lr_fail(err, "cannot write dataset %s", path);
    if (dset >= 0) H5Dclose(dset);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (space >= 0) H5Sclose(space);
    return rc;
}

hid_t lr_h5_create_dataset(hid_t file, const char *path, hid_t filetype, int rank, const hsize_t *dims,
                           const hsize_t *chunk, lr_err *err)
{
    hid_t space = -1, lcpl = -1, dcpl = H5P_DEFAULT, ds = -1;
    LR_CHECK(space = H5Screate_simple(rank, dims, NULL), err);
    LR_CHECK(lcpl = H5Pcreate(H5P_LINK_CREATE), err);
    LR_CHECK(H5Pset_create_intermediate_group(lcpl, 1), err);
    if (chunk) {
        LR_CHECK(dcpl = H5Pcreate(H5P_DATASET_CREATE), err);
        LR_CHECK(H5Pset_chunk(dcpl, rank, chunk), err);
    }
    ds = H5Dcreate2(file, path, filetype, space, lcpl, dcpl, H5P_DEFAULT);
    if (ds < 0) lr_fail(err, "cannot create %s", path);
fail:
    if (dcpl >= 0 && dcpl != H5P_DEFAULT) H5Pclose(dcpl);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (space >= 0) H5Sclose(space);
    return ds;
}

static int rows_io(hid_t ds, hid_t memtype, hsize_t start, hsize_t count, void *buf, int write, const char *name,
                   lr_err *err)
{
    if (count == 0) return 0;
    hid_t fs = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(fs);
    if (rank < 1 || rank > LR_H5_MAXRANK) {
        H5Sclose(fs);
        return lr_fail(err, "%s: cannot %s rows of a dataset of rank %d", name, write ? "write" : "read", rank);
    }
    hsize_t dims[LR_H5_MAXRANK], off[LR_H5_MAXRANK] = {0}, cnt[LR_H5_MAXRANK];
    H5Sget_simple_extent_dims(fs, dims, NULL);
    for (int d = 0; d < rank; d++) cnt[d] = dims[d];
    off[0] = start;
    cnt[0] = count;
    hid_t ms = H5Screate_simple(rank, cnt, NULL);
    int rc = 0;
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
        (write ? H5Dwrite(ds, memtype, ms, fs, H5P_DEFAULT, buf) : H5Dread(ds, memtype, ms, fs, H5P_DEFAULT, buf)) < 0)
        rc = lr_fail(err, "cannot %s %s rows %llu..%llu", write ? "write" : "read", name, (unsigned long long)start,
                     (unsigned long long)(start + count));
    H5Sclose(ms);
    H5Sclose(fs);
    return rc;
}

int lr_h5_write_rows(hid_t ds, hid_t memtype, hsize_t start, hsize_t count, const void *buf, const char *name,
                     lr_err *err)
{
    return rows_io(ds, memtype, start, count, (void *)buf, 1, name, err);
}

int lr_h5_read_rows(hid_t ds, hid_t memtype, hsize_t start, hsize_t count, void *buf, const char *name, lr_err *err)
{
    return rows_io(ds, memtype, start, count, buf, 0, name, err);
}

int lr_h5_shape(hid_t file, const char *path, int *rank, hsize_t *dims, lr_err *err)
{
    if (!lr_h5_exists(file, path)) return lr_fail(err, "missing dataset %s", path);
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return lr_fail(err, "%s is not a dataset", path);
    hid_t s = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(s);
    int rc = 0;
    if (r < 0 || r > LR_H5_MAXRANK) rc = lr_fail(err, "%s: unsupported dataspace", path);
    else {
        *rank = r;
        H5Sget_simple_extent_dims(s, dims, NULL);
    }
    H5Sclose(s);
    H5Dclose(d);
    return rc;
}

int lr_h5_read(hid_t file, const char *path, hid_t memtype, void *data, lr_err *err)
{
    if (!lr_h5_exists(file, path)) return lr_fail(err, "missing dataset %s", path);
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return lr_fail(err, "%s is not a dataset", path);
    int rc = 0;
    if (H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = lr_fail(err, "%s: cannot read (wrong type? expected a numeric dataset)", path);
    H5Dclose(d);
    return rc;
}

void *lr_h5_read_1d(hid_t file, const char *path, hid_t memtype, size_t elsize, long n_expected,
                    size_t *n_out, lr_err *err)
{
    int rank;
    hsize_t dims[LR_H5_MAXRANK];
    if (lr_h5_shape(file, path, &rank, dims, err)) return NULL;
    if (rank != 1) {
        lr_fail(err, "%s: expected a 1-D dataset, found rank %d", path, rank);
        return NULL;
    }
    if (n_expected >= 0 && dims[0] != (hsize_t)n_expected) {
        lr_fail(err, "%s: expected %ld elements, found %llu", path, n_expected, (unsigned long long)dims[0]);
        return NULL;
    }
    void *buf = lr_malloc(dims[0], elsize, err);
    if (!buf) return NULL;
    if (dims[0] && lr_h5_read(file, path, memtype, buf, err)) {
        free(buf);
        return NULL;
    }
    if (n_out) *n_out = dims[0];
    return buf;
}

static hid_t vlen_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int lr_h5_write_strings(hid_t file, const char *path, size_t n, const char *const *strs, lr_err *err)
{
    hid_t t = vlen_string_type();
    hsize_t dims[1] = {n};
    int rc = lr_h5_write(file, path, t, t, 1, dims, NULL, 0, strs, err);
    H5Tclose(t);
    return rc;
}

void lr_h5_free_strings(char **strs, size_t n)
{
    if (!strs) return;
    for (size_t i = 0; i < n; i++) free(strs[i]);
    free(strs);
}

char **lr_h5_read_strings(hid_t file, const char *path, size_t *n_out, lr_err *err)
{
    int rank;
    hsize_t dims[LR_H5_MAXRANK];
    if (lr_h5_shape(file, path, &rank, dims, err)) return NULL;
    if (rank != 1) {
        lr_fail(err, "%s: expected a 1-D string dataset, found rank %d", path, rank);
        return NULL;
    }
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    hid_t ft = H5Dget_type(d);
    char **out = NULL;
    if (H5Tget_class(ft) != H5T_STRING) {
        lr_fail(err, "%s: expected strings", path);
        goto done;
    }
    size_t n = dims[0];
    out = lr_calloc(n ? n : 1, sizeof *out, err);
    if (!out) goto done;
    if (H5Tis_variable_str(ft) > 0) {
        hid_t t = vlen_string_type();
        char **tmp = lr_calloc(n ? n : 1, sizeof *tmp, err);
        if (tmp && n && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
            lr_fail(err, "%s: cannot read strings", path);
            free(tmp);
            tmp = NULL;
        }
        if (tmp) {
            int copied = 1;
            for (size_t i = 0; i < n && copied; i++) copied = (out[i] = strdup(tmp[i] ? tmp[i] : "")) != NULL;
            hid_t s = H5Dget_space(d);
            if (n) H5Dvlen_reclaim(t, s, H5P_DEFAULT, tmp);
            H5Sclose(s);
            free(tmp);
            if (!copied) {
                lr_h5_free_strings(out, n);
                out = NULL;
                lr_fail(err, "%s: out of memory copying %zu strings", path, n);
            }
        } else {
            free(out);
            out = NULL;
        }
        H5Tclose(t);
    } else {
        size_t w = H5Tget_size(ft);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, w + 1);
        H5Tset_strpad(t, H5T_STR_NULLTERM);
        char *flat = lr_calloc(n ? n : 1, w + 1, err);
        if (flat && n && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, flat) >= 0) {
            int copied = 1;
            for (size_t i = 0; i < n && copied; i++) copied = (out[i] = strndup(flat + i * (w + 1), w)) != NULL;
            if (!copied) {
                lr_h5_free_strings(out, n);
                out = NULL;
                lr_fail(err, "%s: out of memory copying %zu strings", path, n);
            }
        } else if (n) {
            lr_fail(err, "%s: cannot read strings", path);
            free(out);
            out = NULL;
        }
        free(flat);
        H5Tclose(t);
    }
    if (out && n_out) *n_out = n;
done:
    H5Tclose(ft);
    H5Dclose(d);
    return out;
}

static hid_t open_object(hid_t file, const char *obj, lr_err *err)
{
    if (strcmp(obj, "/") != 0 && !lr_h5_exists(file, obj)) {
        lr_fail(err, "missing object %s", obj);
        return -1;
    }
    hid_t o = H5Oopen(file, obj, H5P_DEFAULT);
    if (o < 0) lr_fail(err, "cannot open %s", obj);
    return o;
}

int lr_h5_attr_exists(hid_t file, const char *obj, const char *name)
{
    if (strcmp(obj, "/") != 0 && !lr_h5_exists(file, obj)) return 0;
    return H5Aexists_by_name(file, obj, name, H5P_DEFAULT) > 0;
}

int lr_h5_attr_write(hid_t file, const char *obj, const char *name, hid_t memtype, hid_t filetype, size_t n,
                     const void *values, lr_err *err)
{
    hid_t o = open_object(file, obj, err);
    if (o < 0) return -1;
    int rc = -1;
    hsize_t dims[1] = {n};
    hid_t s = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    hid_t a = H5Acreate2(o, name, filetype, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && H5Awrite(a, memtype, values) >= 0) rc = 0;
    else lr_fail(err, "cannot write attribute %s on %s", name, obj);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Oclose(o);
    return rc;
}

int lr_h5_attr_write_string(hid_t file, const char *obj, const char *name, const char *value, lr_err *err)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    int rc = lr_h5_attr_write(file, obj, name, t, t, 1, value, err);
    H5Tclose(t);
    return rc;
}

static hid_t open_attr(hid_t file, const char *obj, const char *name, lr_err *err)
{
    if (!lr_h5_attr_exists(file, obj, name)) {
        lr_fail(err, "missing attribute '%s' on %s", name, obj);
        return -1;
    }
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) lr_fail(err, "cannot open attribute '%s' on %s", name, obj);
    return a;
}

int lr_h5_attr_read_string(hid_t file, const char *obj, const char *name, char *buf, size_t bufsize, lr_err *err)
{
    hid_t a = open_attr(file, obj, name, err);
    if (a < 0) return -1;
    int rc = -1;
    hid_t ft = H5Aget_type(a);
    hid_t s = H5Aget_space(a);
    if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(s) != 1) {
        lr_fail(err, "attribute '%s' on %s: expected one string", name, obj);
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t t = vlen_string_type();
        char *v = NULL;
        if (H5Aread(a, t, &v) >= 0 && v) {
            snprintf(buf, bufsize, "%s", v);
            H5free_memory(v);
            rc = 0;
        }
        H5Tclose(t);
    } else {
        size_t w = H5Tget_size(ft);
        char *tmp = calloc(w + 2, 1);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, w + 1);
        H5Tset_strpad(t, H5T_STR_NULLTERM);
        if (tmp && H5Aread(a, t, tmp) >= 0) {
            snprintf(buf, bufsize, "%s", tmp);
            rc = 0;
        }
        H5Tclose(t);
        free(tmp);
    }
    if (rc) lr_fail(err, "attribute '%s' on %s: expected one readable string", name, obj);
    H5Sclose(s);
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

int lr_h5_attr_read(hid_t file, const char *obj, const char *name, hid_t memtype, size_t n, void *values,
                    lr_err *err)
{
    hid_t a = open_attr(file, obj, name, err);
    if (a < 0) return -1;
    int rc = -1;
    hid_t ft = H5Aget_type(a);
    hid_t s = H5Aget_space(a);
    H5T_class_t c = H5Tget_class(ft);
    if ((c != H5T_INTEGER && c != H5T_FLOAT) || (size_t)H5Sget_simple_extent_npoints(s) != n)
        lr_fail(err, "attribute '%s' on %s: expected %zu number(s)", name, obj, n);
    else if (H5Aread(a, memtype, values) < 0)
        lr_fail(err, "cannot read attribute '%s' on %s", name, obj);
    else
        rc = 0;
    H5Sclose(s);
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}
