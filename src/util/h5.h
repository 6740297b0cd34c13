/* Small HDF5 helpers: whole-dataset read/write with shape checks, string arrays, attributes.
 * Paths may contain groups ("/lesions/patch"); intermediate groups are created on write.
 * Every failure names the file-level object and what was expected. */
#ifndef LR_UTIL_H5_H
#define LR_UTIL_H5_H

#include <hdf5.h>
#include <stddef.h>

#include "util/err.h"

#define LR_H5_MAXRANK 8

/* Turn off HDF5's automatic error-stack printing (we report our own messages). */
void lr_h5_quiet(void);

/* Create (truncate) or open a file with the default (serial) driver. */
hid_t lr_h5_create(const char *path, lr_err *err);
hid_t lr_h5_open_read(const char *path, lr_err *err);

int lr_h5_exists(hid_t file, const char *path);

/* Write a dataset of `rank` dims. chunk (may be NULL) gives chunk dims; deflate>0 adds compression. */
int lr_h5_write(hid_t file, const char *path, hid_t memtype, hid_t filetype, int rank, const hsize_t *dims,
                const hsize_t *chunk, int deflate, const void *data, lr_err *err);
/* Create a dataset of its final shape (intermediate groups too; chunk may be NULL) and return it open:
 * the collective half of "create every dataset, then each rank writes its rows" (parallel HDF5). */
hid_t lr_h5_create_dataset(hid_t file, const char *path, hid_t filetype, int rank, const hsize_t *dims,
                           const hsize_t *chunk, lr_err *err);
/* Rows [start, start + count) along the first dimension (every other extent whole) of an open dataset,
 * from / into a contiguous buffer; independent I/O. name is for messages. */
int lr_h5_write_rows(hid_t ds, hid_t memtype, hsize_t start, hsize_t count, const void *buf, const char *name,
                     lr_err *err);
int lr_h5_read_rows(hid_t ds, hid_t memtype, hsize_t start, hsize_t count, void *buf, const char *name, lr_err *err);
/* Read the shape of a dataset. */
int lr_h5_shape(hid_t file, const char *path, int *rank, hsize_t *dims, lr_err *err);
/* Read a whole dataset converted to memtype; the caller has checked the shape / sized the buffer. */
int lr_h5_read(hid_t file, const char *path, hid_t memtype, void *data, lr_err *err);
/* Read a whole 1-D dataset of n elements into a newly allocated buffer (checks rank 1 and length n
 * unless n_expected < 0). *n_out receives the length. */
void *lr_h5_read_1d(hid_t file, const char *path, hid_t memtype, size_t elsize, long n_expected,
                    size_t *n_out, lr_err *err);

/* Variable-length UTF-8 string arrays. read allocates strs[i] (free with lr_h5_free_strings). */
int lr_h5_write_strings(hid_t file, const char *path, size_t n, const char *const *strs, lr_err *err);
char **lr_h5_read_strings(hid_t file, const char *path, size_t *n_out, lr_err *err);
void lr_h5_free_strings(char **strs, size_t n);

/* Attributes on an object (path "/" for the root). */
int lr_h5_attr_write_string(hid_t file, const char *obj, const char *name, const char *value, lr_err *err);
int lr_h5_attr_write(hid_t file, const char *obj, const char *name, hid_t memtype, hid_t filetype, size_t n,
                     const void *values, lr_err *err);
/* Reads a string attribute into buf (fixed or variable length string). */
int lr_h5_attr_read_string(hid_t file, const char *obj, const char *name, char *buf, size_t bufsize, lr_err *err);
/* Reads n numeric values (checks the attribute has exactly n elements). */
int lr_h5_attr_read(hid_t file, const char *obj, const char *name, hid_t memtype, size_t n, void *values,
                    lr_err *err);
int lr_h5_attr_exists(hid_t file, const char *obj, const char *name);

#endif
