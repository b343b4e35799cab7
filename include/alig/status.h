/**
 * @file status.h
 * @brief One status enum for the whole library, and alig_strerror().
 *
 * Every fallible library function returns an alig_status. The library never
 * prints and never exits: callers (the `alig` CLI, your program) decide what
 * to do with a non-zero status. ALIG_SUCCESS is 0; ALIG_CONTINUE is returned
 * by stopping tests only and is not an error.
 */
#ifndef ALIG_STATUS_H
#define ALIG_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum alig_status {
    ALIG_SUCCESS = 0,       /**< done, no error */
    ALIG_CONTINUE = 1,      /**< stopping test: not converged yet (not an error) */

    /* generic failures */
    ALIG_EINVAL = 10,       /**< invalid argument (NULL pointer, unknown name, inconsistent request) */
    ALIG_EBADLEN,           /**< a length or dimension is zero, too large or does not match */
    ALIG_ENOMEM,            /**< memory allocation failed */
    ALIG_ENONFINITE,        /**< a NaN or infinity in a loss, gradient or iterate (run-away) */
    ALIG_EIO,               /**< a file could not be opened, read, written or renamed */
    ALIG_EFORMAT,           /**< a file's content is malformed or truncated */
    ALIG_EUNSUPPORTED,      /**< valid request that this object does not support */
    ALIG_ENOPROG,           /**< an inner solver made no progress */

    /* one code per invalid solver / problem parameter */
    ALIG_EBADETA = 40,      /**< eta (maximal learning rate) must be > 0 (INFINITY allowed) */
    ALIG_EBADDELTA,         /**< delta must be finite and >= 0 */
    ALIG_EBADMOMENTUM,      /**< momentum must lie in [0, 1) */
    ALIG_EBADRADIUS,        /**< radius must be > 0 (INFINITY = no constraint) */
    ALIG_EBADLR,            /**< learning rate must be finite and > 0 */
    ALIG_EBADBOUND,         /**< lower bound B / f_star must be finite */
    ALIG_EBADDECAY,         /**< decay exponent / factor out of range */
    ALIG_EBADSCHEDULE,      /**< schedule kind unknown or milestones not increasing */
    ALIG_EBADDAMPENING,     /**< dampening must be in [0, 1]; Nesterov needs momentum > 0, dampening 0 */
    ALIG_EBADWEIGHTDECAY,   /**< weight decay must be finite and >= 0 */
    ALIG_EBADSPSC,          /**< SPS constant c must be finite and > 0 */
    ALIG_EBADGAMMAB,        /**< SPSmax cap gamma_b must be > 0 (INFINITY = plain SPS) */
    ALIG_EBADEPS,           /**< an epsilon (stabiliser) must be finite and >= 0 */
    ALIG_EBADBETAS,         /**< Adam-type betas must lie in [0, 1) */
    ALIG_EBADRELAX,         /**< Polyak relaxation must lie in (0, 2) */
    ALIG_EBADTOL,           /**< interpolation tolerance eps must be finite and >= 0 */
    ALIG_EBADSEED,          /**< seed out of range */
    ALIG_EBADBATCH,         /**< batch size must be in [1, n] */
    ALIG_EBADDTYPE,         /**< element type is neither ALIG_F64 nor ALIG_F32 */
    ALIG_EBADACCUM,         /**< initial accumulator (AdaGrad, Yogi v0, RMSProp's v) must be finite and >= 0;
                                 adagrad-tf's > 0 (TensorFlow 1.x) */
    ALIG_EBADFRACTION,      /**< L4 fraction alpha must be finite and > 0 */
    ALIG_EBADMINLOSS,       /**< L4 minimum-loss settings: gamma, gamma0 in [0, 1], forgetting time tau > 0 */
    ALIG_EBADTIMESCALE,     /**< a moving-average time scale must be finite and >= 1 */
    ALIG_ENEGLOSS,          /**< the method needs a loss >= 0 (L4) */
    ALIG_EBADPLATEAU        /**< plateau schedule: patience a whole number >= 0, epoch decay in [0, 1] (0 = default) */
} alig_status;

/**
 * @brief A static, human-readable sentence for a status code.
 * @return never NULL; unknown codes give "unknown alig status".
 */
const char *alig_strerror(int status);

/** @brief Short symbolic name of a status ("ALIG_EBADETA"); never NULL. */
const char *alig_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_STATUS_H */
