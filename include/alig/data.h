/**
 * @file data.h
 * @brief Image classification data for the neural-net module: IDX files (MNIST format, plain or
 *        gzip), Fashion-MNIST, a seeded validation split, per-channel normalisation, seeded
 *        epoch shuffling and mini-batch gathering.
 *
 * Typical use (Fashion-MNIST from Debian's dataset-fashion-mnist package):
 * @code
 *   char err[1024];
 *   alig_image_set all, train, val, test;
 *   int rc = alig_data_load_fashion_mnist(NULL, &all, &test, err, sizeof err);
 *   if (rc) { fprintf(stderr, "alig: %s\n", err); return 1; }          // the CLI prints, not the library
 *   rc = alig_data_split(&all, 5000, 1234, &train, &val);              // 55000 / 5000, seeded
 *   alig_image_set_free(&all);
 *   alig_image_set *others[] = { &val, &test };
 *   rc = alig_data_normalise(&train, others, 2, NULL, NULL);           // train-split stats, applied to all
 *   size_t *perm = malloc(train.n * sizeof *perm);
 *   for (unsigned long epoch = 0; epoch < E; epoch++) {
 *       alig_data_shuffle_indices(train.n, seed, epoch, perm);
 *       for (size_t s = 0; s < train.n; s += B) {
 *           size_t b = train.n - s < B ? train.n - s : B;               // last batch may be short
 *           alig_data_batch(&train, perm, s, b, xb, yb);                // xb: b*c*h*w floats, yb: b labels
 *           ...
 *       }
 *   }
 * @endcode
 *
 * **Errors.** Functions that read files end with `char *err, size_t errlen`. When `err` is not
 * NULL and `errlen > 0`, it receives a NUL-terminated message (truncated to `errlen − 1` bytes):
 * on failure, "<path>: <what is wrong>" (e.g. "train-images-idx3-ubyte.gz: truncated: header
 * declares 47040000 data bytes (60000 x 28 x 28), file has 4096"); on success, the empty
 * string. Messages are truncated to fit, never overrun; 1024 bytes hold every message whose
 * paths are shorter than 300 bytes. The returned status is ALIG_EIO when a file cannot be opened or read, ALIG_EFORMAT when its content
 * is malformed (bad magic, unsupported type, bad dimensions, truncated or corrupt data or gzip
 * stream, trailing bytes, label out of range, image/label count mismatch), ALIG_ENOMEM and
 * ALIG_EINVAL as usual. The library never prints or exits.
 *
 * **IDX format** (LeCun et al., MNIST database page, yann.lecun.com/exdb/mnist): big-endian; a
 * 4-byte magic 0x00 0x00 TT NN (TT the element type, NN the number of dimensions), NN dimension
 * sizes as 32-bit unsigned integers, then the elements in row-major order. Only TT = 0x08
 * (unsigned byte) is supported; that covers MNIST and Fashion-MNIST (0x00000803 images,
 * 0x00000801 labels). The reader requires the data length to equal the product of the
 * dimensions exactly: a short file is "truncated", extra bytes are "trailing bytes". Files are
 * read through zlib's gzopen/gzread, so plain and gzip-compressed files are both accepted,
 * whatever their name; a truncated or corrupt gzip stream (CRC or length mismatch in the
 * trailer included) is an error. Trailing bytes are counted after decompression; zlib itself
 * reads concatenated gzip members as one stream and ignores non-gzip bytes after a complete
 * member (zlib.h, gzread), so those are not reported.
 *
 * **Ownership.** An alig_image_set (and an alig_idx) is a caller-owned struct; the arrays it
 * points to are allocated by the function that fills it and belong to the caller from then on:
 * release them with alig_image_set_free() (alig_idx_free()), which is NULL-safe and leaves the
 * struct zeroed. Output structs are zeroed
 * on failure, so freeing them is always safe.
 */
#ifndef ALIG_DATA_H
#define ALIG_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "alig/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where Debian's dataset-fashion-mnist package installs the four gzip files. */
#define ALIG_FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/** Most dimensions an IDX file may declare (the format allows 255; image data uses ≤ 4). */
#define ALIG_IDX_MAX_DIMS 8

/** Most data bytes (product of the dimensions) an IDX file may declare: 4 GiB, about 85 times
 *  Fashion-MNIST's training images. A header declaring more is refused as ALIG_EFORMAT with a
 *  message giving the declared size and this limit, before anything is read or allocated. */
#define ALIG_IDX_MAX_BYTES ((size_t)1 << 32)

/* ------------------------------------------------------------------------- */
/* Raw IDX                                                                   */
/* ------------------------------------------------------------------------- */

/** The content of one unsigned-byte IDX file. */
typedef struct alig_idx {
    unsigned ndim;                      /**< number of dimensions, 1..ALIG_IDX_MAX_DIMS */
    uint32_t dims[ALIG_IDX_MAX_DIMS];   /**< sizes, outermost first; all ≥ 1 */
    size_t count;                       /**< product of dims = number of bytes in `data` */
    uint8_t *data;                      /**< `count` elements, row-major (owned) */
} alig_idx;

/**
 * @brief Read an unsigned-byte IDX file, plain or gzip-compressed.
 *
 * Checks: magic 0x00 0x00 0x08 NN with 1 ≤ NN ≤ ALIG_IDX_MAX_DIMS, every dimension ≥ 1, the
 * product of dimensions at most ALIG_IDX_MAX_BYTES, the data length equal to that product (no fewer and no
 * more bytes), and an intact gzip stream. Memory grows with the bytes actually read, so a
 * corrupt header announcing a huge size yields "truncated", not an allocation failure.
 * @param path   file to read.
 * @param out    receives the content (zeroed on failure); free with alig_idx_free().
 * @param err    message buffer (see the file comment), may be NULL.
 * @return ALIG_SUCCESS, ALIG_EIO, ALIG_EFORMAT, ALIG_ENOMEM or ALIG_EINVAL (NULL path/out).
 */
alig_status alig_idx_read(const char *path, alig_idx *out, char *err, size_t errlen);

/** @brief Free `idx->data` and zero the struct; NULL-safe. */
void alig_idx_free(alig_idx *idx);

/* ------------------------------------------------------------------------- */
/* Image sets                                                                */
/* ------------------------------------------------------------------------- */

/**
 * n labelled images in NCHW layout, held in one of two ways:
 *   - floats: x holds the n·c·h·w values (u and lut are NULL); or
 *   - bytes: u holds n·c·h·w pixel bytes in the same layout and lut a table of c·256 floats, the
 *     value of byte v in channel k being lut[256·k + v] (x is NULL). The loaders (IDX, CIFAR,
 *     SVHN) produce byte sets with lut[256·k + v] = (float)v / 255.0f, a quarter of the memory
 *     of floats; alig_data_normalise rewrites the table instead of the pixels, with the same
 *     float arithmetic per value, and alig_data_batch gathers floats through it. A byte set
 *     therefore yields bit for bit the values the float set of (float)u / 255.0f would, after
 *     the same operations.
 * Every function below accepts both; alig_image_set_value reads one value of either.
 */
typedef struct alig_image_set {
    size_t n;               /**< number of samples */
    size_t c, h, w;         /**< channels, height, width of one sample */
    float *x;               /**< float sets: n·c·h·w values, x[((i·c + k)·h + r)·w + s] (owned); NULL for
                                 byte sets. In [0, 1] as loaded, standardised after alig_data_normalise() */
    int32_t *y;             /**< n labels in [0, num_classes) (owned) */
    size_t num_classes;     /**< number of classes */
    uint8_t *u;             /**< byte sets: n·c·h·w pixel bytes in the layout of x (owned); NULL for float sets */
    float *lut;             /**< byte sets: c·256 floats (owned), the value of byte v in channel k at [256·k + v] */
} alig_image_set;

/** @brief Free the set's arrays and zero the struct; NULL-safe. */
void alig_image_set_free(alig_image_set *set);

/** @brief c·h·w, the number of floats in one sample (0 for NULL). */
size_t alig_image_set_sample_size(const alig_image_set *set);

/**
 * @brief An empty byte set (see alig_image_set): y, u and lut allocated for n images of shape
 *        (c, h, w), u and y uninitialised, lut[256·k + v] = (float)v / 255.0f.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL), ALIG_EBADLEN (a size 0 or too large), ALIG_ENOMEM
 *         (s zeroed on failure).
 */
alig_status alig_image_set_alloc_bytes(alig_image_set *s, size_t n, size_t c, size_t h, size_t w,
                                       size_t num_classes);

/** @brief Element i (0 ≤ i < n·c·h·w, NCHW order) of a float or byte set, as a float.
 *  No check beyond NULL (which gives NaN). */
float alig_image_set_value(const alig_image_set *set, size_t i);

/**
 * @brief Build an image set from an IDX image file and an IDX label file.
 *
 * The images file must be 3-D (n, h, w; then c = 1) or 4-D (n, c, h, w); the labels file 1-D
 * with the same n. The set holds the bytes (see alig_image_set); their values are scaled to
 * [0, 1] as (float)u / 255.0f (as torchvision's ToTensor and the PyTorch peer do).
 * @param num_classes  labels must be < num_classes; 0 infers num_classes = max label + 1.
 * @param out          receives the set (zeroed on failure); free with alig_image_set_free().
 * @return ALIG_SUCCESS, ALIG_EIO, ALIG_EFORMAT (also for wrong dimensionality, "label 12 at index
 *         5 is out of range (must be < 10 classes)", and a count mismatch, whose message names both
 *         files), ALIG_ENOMEM, ALIG_EINVAL.
 */
alig_status alig_data_load_idx(const char *images_path, const char *labels_path, size_t num_classes,
                               alig_image_set *out, char *err, size_t errlen);

/**
 * @brief Load Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60000 training and 10000 test
 *        images of 1×28×28, 10 classes, pixels in [0, 1].
 *
 * Looks in `dir` for train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
 * and t10k-labels-idx1-ubyte, each with a ".gz" suffix (preferred) or without.
 * @param dir    directory, or NULL for ALIG_FMNIST_DEFAULT_DIR (installed by scripts/install-deps).
 * @param train  receives the 60000 training images (may be NULL to skip loading them).
 * @param test   receives the 10000 test images (may be NULL to skip loading them).
 * @return as alig_data_load_idx(); a missing file is ALIG_EIO with a message naming the path
 *         tried and the Debian package that provides it. Sizes are not forced to 60000/10000,
 *         so a directory of other IDX files with the same names (e.g. MNIST) loads too.
 */
alig_status alig_data_load_fashion_mnist(const char *dir, alig_image_set *train, alig_image_set *test,
                                         char *err, size_t errlen);

/**
 * @brief Copy the samples idx[0..k−1] of `set` (in that order) into a new set.
 * @param out  receives the subset (zeroed on failure); free with alig_image_set_free().
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL argument or an index ≥ set->n), ALIG_EBADLEN (k = 0),
 *         ALIG_ENOMEM.
 */
alig_status alig_image_set_subset(const alig_image_set *set, const size_t *idx, size_t k, alig_image_set *out);

/**
 * @brief Seeded random split into a training part and a validation part of `val_count` samples.
 *
 * A gsl_rng mt19937 seeded with `seed` shuffles 0..n−1 with gsl_ran_shuffle; the first
 * `val_count` shuffled indices form the validation set, the others the training set. Within each
 * part samples keep their original relative order. Same (n, val_count, seed), same split.
 * `all` is left untouched (both parts are copies: peak memory is about twice the set).
 * @param train_out  receives n − val_count samples; free with alig_image_set_free().
 * @param val_out    receives val_count samples; free with alig_image_set_free().
 * @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_EBADLEN (val_count = 0 or ≥ n), ALIG_ENOMEM.
 */
alig_status alig_data_split(const alig_image_set *all, size_t val_count, unsigned long seed,
                            alig_image_set *train_out, alig_image_set *val_out);

/**
 * @brief Per-channel mean and standard deviation of `set`, accumulated in double (two passes).
 *
 * std is the unbiased sample standard deviation (divisor N − 1, N = n·h·w values per channel),
 * as torch.Tensor.std() used by the PyTorch peer; on Fashion-MNIST's 60000 training images
 * mean ≈ 0.2860 and std ≈ 0.3530.
 * @param mean, std  c entries each.
 * @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_EBADLEN (fewer than 2 values per channel).
 */
alig_status alig_data_channel_stats(const alig_image_set *set, double *mean, double *std);

/**
 * @brief Standardise one set in place with given per-channel statistics:
 *        x ← (x − mean[k]) / std[k] for channel k, computed in double and rounded once to float
 *        (a byte set: each of the channel's 256 table values, the pixels staying as they are).
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL argument, or a mean not finite, or a std not finite
 *         and > 0; the set is then untouched).
 */
alig_status alig_data_normalise_with(alig_image_set *set, const double *mean, const double *std);

/**
 * @brief Per-channel normalisation: statistics from `train` (alig_data_channel_stats), applied
 *        to `train` and to each of the `n_others` sets (validation, test).
 * @param others       sets to normalise with the training statistics (may be NULL if n_others = 0).
 * @param mean_out, std_out  if not NULL, receive the c statistics used.
 * @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_EBADLEN (a set with a different channel count, or
 *         train too small); on error no set has been modified.
 */
alig_status alig_data_normalise(alig_image_set *train, alig_image_set *const *others, size_t n_others,
                                double *mean_out, double *std_out);

/**
 * @brief Fill idx[0..n−1] with a random permutation of 0..n−1 that depends only on (seed, epoch).
 *
 * A gsl_rng mt19937 is seeded with a SplitMix64 mix of seed and epoch (GSL's mt19937 keeps the low
 * 32 bits) and shuffles the identity with gsl_ran_shuffle, so each epoch's order can be
 * recomputed independently (e.g. when resuming).
 * @return ALIG_SUCCESS, ALIG_EINVAL (idx NULL), ALIG_EBADLEN (n = 0), ALIG_ENOMEM.
 */
alig_status alig_data_shuffle_indices(size_t n, unsigned long seed, unsigned long epoch, size_t *idx);

/**
 * @brief Gather the mini-batch of samples idx[start .. start+B−1] into contiguous buffers.
 * @param idx    sample order (e.g. from alig_data_shuffle_indices), or NULL for 0..n−1.
 * @param x_out  B·c·h·w floats, NCHW.
 * @param y_out  B labels, or NULL to skip them.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL set/x_out, or an index ≥ n), ALIG_EBADBATCH
 *         (B = 0 or start + B > n).
 */
alig_status alig_data_batch(const alig_image_set *set, const size_t *idx, size_t start, size_t B,
                            float *x_out, int32_t *y_out);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_DATA_H */
