/* status.c - messages for alig_status. */
#include <stddef.h>
#include "alig/status.h"

typedef struct { int code; const char *name; const char *msg; } status_entry;

static const status_entry table[] = {
    { ALIG_SUCCESS, "ALIG_SUCCESS", "success" },
    { ALIG_CONTINUE, "ALIG_CONTINUE", "iteration has not converged yet" },
    { ALIG_EINVAL, "ALIG_EINVAL", "invalid argument" },
    { ALIG_EBADLEN, "ALIG_EBADLEN", "bad length or dimension" },
    { ALIG_ENOMEM, "ALIG_ENOMEM", "out of memory" },
    { ALIG_ENONFINITE, "ALIG_ENONFINITE", "non-finite value (NaN or infinity) in a loss, gradient or iterate" },
    { ALIG_EIO, "ALIG_EIO", "input/output error" },
    { ALIG_EFORMAT, "ALIG_EFORMAT", "malformed or truncated input" },
    { ALIG_EUNSUPPORTED, "ALIG_EUNSUPPORTED", "operation not supported by this object" },
    { ALIG_ENOPROG, "ALIG_ENOPROG", "inner solver made no progress" },
    { ALIG_EBADETA, "ALIG_EBADETA", "eta (maximal learning rate) must be > 0 (inf allowed)" },
    { ALIG_EBADDELTA, "ALIG_EBADDELTA", "delta must be finite and >= 0" },
    { ALIG_EBADMOMENTUM, "ALIG_EBADMOMENTUM", "momentum must lie in [0, 1)" },
    { ALIG_EBADRADIUS, "ALIG_EBADRADIUS", "radius must be > 0 (inf = no constraint)" },
    { ALIG_EBADLR, "ALIG_EBADLR", "learning rate must be finite and > 0" },
    { ALIG_EBADBOUND, "ALIG_EBADBOUND", "lower bound / optimal value must be finite" },
    { ALIG_EBADDECAY, "ALIG_EBADDECAY", "decay exponent or factor out of range" },
    { ALIG_EBADSCHEDULE, "ALIG_EBADSCHEDULE", "unknown schedule or milestones not increasing" },
    { ALIG_EBADDAMPENING, "ALIG_EBADDAMPENING", "dampening must be in [0, 1]; Nesterov needs momentum > 0 and dampening 0" },
    { ALIG_EBADWEIGHTDECAY, "ALIG_EBADWEIGHTDECAY", "weight decay must be finite and >= 0" },
    { ALIG_EBADSPSC, "ALIG_EBADSPSC", "SPS constant c must be finite and > 0" },
    { ALIG_EBADGAMMAB, "ALIG_EBADGAMMAB", "SPS cap gamma_b must be > 0, tau > 1 and batches per epoch >= 1" },
    { ALIG_EBADEPS, "ALIG_EBADEPS", "epsilon (stabiliser) must be finite and >= 0" },
    { ALIG_EBADBETAS, "ALIG_EBADBETAS", "betas must lie in [0, 1)" },
    { ALIG_EBADRELAX, "ALIG_EBADRELAX", "Polyak relaxation must lie in (0, 2)" },
    { ALIG_EBADTOL, "ALIG_EBADTOL", "interpolation tolerance eps must be finite and >= 0" },
    { ALIG_EBADSEED, "ALIG_EBADSEED", "seed out of range" },
    { ALIG_EBADBATCH, "ALIG_EBADBATCH", "batch size must be between 1 and the number of samples" },
    { ALIG_EBADDTYPE, "ALIG_EBADDTYPE", "element type must be ALIG_F64 or ALIG_F32" },
    { ALIG_EBADACCUM, "ALIG_EBADACCUM", "initial accumulator value must be finite and >= 0 (adagrad-tf: > 0, as TensorFlow 1.x requires)" },
    { ALIG_EBADFRACTION, "ALIG_EBADFRACTION", "L4 fraction alpha must be finite and > 0" },
    { ALIG_EBADMINLOSS, "ALIG_EBADMINLOSS", "L4 gamma and gamma0 must lie in [0, 1] and tau must be > 0" },
    { ALIG_EBADTIMESCALE, "ALIG_EBADTIMESCALE", "moving-average time scale must be finite and >= 1" },
    { ALIG_ENEGLOSS, "ALIG_ENEGLOSS", "this method needs a loss >= 0" },
    { ALIG_EBADPLATEAU, "ALIG_EBADPLATEAU", "plateau schedule: patience must be a whole number >= 1 and the epoch decay in (0, 1] (0 = the default 1)" },
};

static const status_entry *find(int code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == code) return &table[i];
    return NULL;
}

const char *alig_strerror(int status)
{
    const status_entry *e = find(status);
    return e ? e->msg : "unknown alig status";
}

const char *alig_status_name(int status)
{
    const status_entry *e = find(status);
    return e ? e->name : "ALIG_UNKNOWN";
}
