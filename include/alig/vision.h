/**
 * @file vision.h
 * @brief The image data sets of the ALI-G paper's vision experiments: CIFAR-10 and CIFAR-100 in
 *        their binary distribution format, SVHN's cropped digits in MATLAB format, and the
 *        standard CIFAR augmentation (random crop with zero padding, random horizontal flip).
 *
 * Every loader fills an alig_image_set (data.h) holding the pixel bytes in NCHW order, their
 * values scaled to [0, 1] as (float)u / 255.0f exactly as the IDX loader (and torchvision's
 * ToTensor) does. Errors
 * follow data.h: `err` receives "<path>: <what is wrong>", ALIG_EIO when a file cannot be opened
 * or read, ALIG_EFORMAT when its content is malformed (a size that is not a whole number of
 * records, a label out of range, a missing variable, a variable of the wrong class or
 * dimensions), ALIG_EUNSUPPORTED when this build cannot read the format (SVHN without libmatio).
 * Output sets are zeroed on failure: nothing is half-built. Allocations are bounded by the size
 * of the file on disk (CIFAR: about 4 bytes per byte of file, the floats) or by the dimensions
 * matio reports once they have been checked against the format, the file size and
 * ALIG_SVHN_MAX_IMAGES (SVHN). The library never prints or exits.
 *
 * **CIFAR** (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009; the
 * binary version on the CIFAR web page). A file is a sequence of fixed-size records:
 *   - CIFAR-10: 1 label byte (0..9), then 3072 pixel bytes; the distribution has five training
 *     files data_batch_1.bin .. data_batch_5.bin (10000 records each) and test_batch.bin;
 *   - CIFAR-100: 1 coarse label byte (0..19), 1 fine label byte (0..99), then 3072 pixel bytes;
 *     train.bin (50000 records) and test.bin (10000).
 * The 3072 bytes are the 1024 red, then 1024 green, then 1024 blue values of a 32×32 image,
 * each plane row by row: exactly the NCHW order of alig_image_set.
 *
 * **SVHN** (Netzer et al., "Reading Digits in Natural Images with Unsupervised Feature
 * Learning", NIPS workshop 2011), format 2 (cropped digits): train_32x32.mat, test_32x32.mat
 * and extra_32x32.mat, MATLAB files holding X, a 32×32×3×N uint8 array (MATLAB order: row,
 * column, channel, sample, the first index fastest), and y, an N×1 array of labels 1..10 where
 * 10 stands for the digit 0. The reader maps label 10 to class 0 (as torchvision's SVHN does)
 * and accepts y of any numeric class whose values are the integers 1..10. Files are MAT 5 (the
 * distribution's format), read with libmatio after the reader has walked the file's top level
 * itself: only variables that are real numeric arrays of 2 to 4 dimensions, each within the file,
 * reach matio (libmatio 1.5 trusts some header fields: a damaged rank made it ask for 8 GB).
 * MAT 7.3 (HDF5) and MAT 4 files are refused.
 */
#ifndef ALIG_VISION_H
#define ALIG_VISION_H

#include <stddef.h>
#include <stdint.h>
#include "alig/status.h"
#include "alig/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ALIG_CIFAR_SIDE 32                  /**< CIFAR and SVHN images are 3×32×32 */
#define ALIG_CIFAR_PIXELS 3072              /**< bytes of pixels per record */
/** Most images an SVHN file may declare (2²⁰; the largest file of the distribution,
 *  extra_32x32.mat, holds 531,131). The count comes from X's header: it is checked against this
 *  bound and against the file's size (N·3072 bytes at most the file size for an uncompressed X,
 *  at most 1032 times it for a compressed one, deflate's largest expansion) before anything is
 *  allocated, so a damaged header asks for at most 3 GiB of pixels (12 GiB as floats). */
#define ALIG_SVHN_MAX_IMAGES ((size_t)1 << 20)

/**
 * @brief Read one CIFAR binary file.
 * @param label_bytes  1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine).
 * @param label_index  which label byte is the class: 0 for CIFAR-10; 0 (coarse) or 1 (fine) for CIFAR-100.
 * @param classes      labels must be < classes (10, 20 or 100); the set gets num_classes = classes.
 * @param out          receives the records (zeroed on failure); free with alig_image_set_free().
 * @return ALIG_SUCCESS; ALIG_EIO; ALIG_EFORMAT ("<path>: 30723 bytes is not a whole number of
 *         3073-byte records (CIFAR-10 format)", "<path>: record 3 has label 12, CIFAR-10 has 10
 *         classes", an empty file); ALIG_EINVAL (NULL argument, label_bytes or label_index out of
 *         range); ALIG_ENOMEM.
 */
alig_status alig_cifar_read(const char *path, int label_bytes, int label_index, size_t classes, alig_image_set *out,
                            char *err, size_t errlen);

/**
 * @brief Load CIFAR-10 from a directory holding data_batch_1.bin .. data_batch_5.bin and
 *        test_batch.bin (or from its parent, when it has the distribution's folder
 *        cifar-10-batches-bin). The training set is the five files in order.
 * @param train, test  receive the sets (either may be NULL to skip it).
 * @return as alig_cifar_read(); a missing file is ALIG_EIO naming the path.
 */
alig_status alig_cifar10_load(const char *dir, alig_image_set *train, alig_image_set *test, char *err, size_t errlen);

/**
 * @brief Load CIFAR-100 from a directory holding train.bin and test.bin (or from its parent,
 *        when it has the distribution's folder cifar-100-binary).
 * @param coarse  0: the 100 fine classes (the paper's); 1: the 20 coarse classes.
 * @return as alig_cifar10_load().
 */
alig_status alig_cifar100_load(const char *dir, int coarse, alig_image_set *train, alig_image_set *test, char *err,
                               size_t errlen);

/** @brief 1 if this build reads SVHN's MATLAB files (it was built with libmatio), else 0. */
int alig_svhn_available(void);

/**
 * @brief Read one SVHN cropped-digits file (see the file comment).
 * @param out  receives N images of 3×32×32 with labels 0..9 and num_classes = 10.
 * @return ALIG_SUCCESS; ALIG_EIO (cannot open, or not a MAT 5 file);
 *         ALIG_EFORMAT (a MAT 7.3 file; a top-level element that is not a real numeric array of 2 to
 *         4 dimensions, or that runs past the end of the file; "<path>: variable 'y' is missing", "<path>: X is 32x32x1x5, expected
 *         32x32x3xN uint8", "<path>: y has 4 labels, X has 5 images", "<path>: label 11 at index
 *         2 is not in 1..10", data that cannot be read in full); ALIG_EUNSUPPORTED (built without
 *         libmatio); ALIG_EINVAL; ALIG_ENOMEM.
 */
alig_status alig_svhn_read(const char *path, alig_image_set *out, char *err, size_t errlen);

/**
 * @brief Load SVHN from a directory holding train_32x32.mat, test_32x32.mat and, when extra is
 *        requested, extra_32x32.mat.
 * @param train, extra, test  receive the sets; each may be NULL to skip that file.
 * @return as alig_svhn_read(); on failure every output is zeroed.
 */
alig_status alig_svhn_load(const char *dir, alig_image_set *train, alig_image_set *extra, alig_image_set *test,
                           char *err, size_t errlen);

/**
 * @brief Concatenate two sets of the same sample shape (a's samples, then b's) into a new set;
 *        num_classes is the larger of the two.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL, empty), ALIG_EBADLEN (shapes differ), ALIG_ENOMEM.
 */
alig_status alig_image_set_concat(const alig_image_set *a, const alig_image_set *b, alig_image_set *out);

/* ------------------------------------------------------------------------- */
/* Augmentation                                                              */
/* ------------------------------------------------------------------------- */

/** The draws of one augmented sample. */
typedef struct alig_augment_draw {
    int dy, dx;     /**< crop offset in the padded image, 0 .. 2·pad */
    int flip;       /**< 1: mirror left-right after cropping */
} alig_augment_draw;

/**
 * @brief The random draws for sample j of batch k under seed: counter-based, a pure function of
 *        (seed, k, j), so that a resumed run draws what an uninterrupted one would.
 *
 * z = SplitMix64 of a mix of (seed, k, j) (Steele, Lea & Flood, "Fast splittable pseudorandom
 * number generators", OOPSLA 2014); dy and dx are ⌊u·(2·pad + 1)⌋ for two 21-bit fields u of z
 * read as fractions in [0, 1), multiplied and truncated (each offset's probability is within a
 * relative (2·pad + 1)/2²¹ of uniform); flip is one more bit, 0 or 1 with probability 1/2.
 */
alig_augment_draw alig_augment_draws(uint64_t seed, uint64_t k, uint64_t j, int pad);

/**
 * @brief Crop and flip one C×H×W image: the image padded by `pad` on every side with the
 *        per-channel value fill[c], cropped back to H×W at offset (dy, dx), then mirrored
 *        left-right when flip (torchvision's RandomCrop(H, padding=pad) followed by
 *        RandomHorizontalFlip, with the draws given):
 *          out[c][r][s] = padded[c][dy + r][dx + s'],  s' = flip ? W − 1 − s : s,
 *          padded[c][i][j] = in[c][i − pad][j − pad] inside, fill[c] outside.
 * On standardised images, fill[c] = (0 − mean[c]) / std[c] pads with what a black pixel becomes,
 * as padding the raw image with zeros and standardising afterwards does.
 * @param in, out  C·H·W floats each; must not overlap.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL, sizes < 1, pad < 0, an offset outside 0 .. 2·pad).
 */
alig_status alig_augment_image(const float *in, float *out, int C, int H, int W, int pad, const float *fill,
                               alig_augment_draw d);

/**
 * @brief alig_augment_image on an image of a byte set (data.h): in holds C·H·W pixel bytes, the
 *        value of byte v in channel c is lut[256·c + v]; out receives the floats, bit for bit
 *        what alig_augment_image gives on the image of those values.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL, sizes < 1, pad < 0, an offset outside 0 .. 2·pad).
 */
alig_status alig_augment_image_bytes(const uint8_t *in, const float *lut, float *out, int C, int H, int W, int pad,
                                     const float *fill, alig_augment_draw d);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_VISION_H */
