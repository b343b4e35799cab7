/* splitmix.h - SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014; the constants are those of its public reference code, splitmix64.c by S. Vigna):
 * the one implementation behind every seed mix and counter-based stream of the library. Internal:
 * not installed, not exported.
 *
 * Users: the epoch order's mt19937 seed (nets/data.c), weight initialisation's (nets/nn_models.c),
 * dropout masks (nets/kernels.c, nets/ops_norm.c), augmentation draws (data/augment.c), the
 * repeat-copy generator (data/repeat_copy.c) and the per-run seeds of `alig rates`
 * (analysis/rates.c). Each of them documents how it combines these functions; changing anything
 * here changes every seeded result of the library.
 *
 * The generator's state is one 64-bit counter s; each output adds the increment γ (the odd integer
 * nearest 2^64/φ, φ the golden ratio) and returns the finaliser of the new state:
 *   next:  s ← s + γ,  return mix(s),
 *   mix(z) = z₃ with z₁ = (z ⊕ (z ≫ 30))·0xBF58476D1CE4E5B9, z₂ = (z₁ ⊕ (z₁ ≫ 27))·0x94D049BB133111EB,
 *            z₃ = z₂ ⊕ (z₂ ≫ 31)   (arithmetic mod 2^64),
 * a bijection of the 64-bit integers whose every output bit depends on every input bit. */
#ifndef ALIG_SPLITMIX_H
#define ALIG_SPLITMIX_H

#include <stdint.h>

/** γ, the increment of the SplitMix64 state. */
#define ALIG_SPLITMIX_GAMMA UINT64_C(0x9E3779B97F4A7C15)

/** The SplitMix64 finaliser mix(z) (see the file comment). */
static inline uint64_t alig_splitmix_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/** mix(s + γ): the first output of a SplitMix64 generator started at state s; used as a seed mix. */
static inline uint64_t alig_splitmix(uint64_t s) { return alig_splitmix_mix(s + ALIG_SPLITMIX_GAMMA); }

/** Advance the state *s by γ and return the finaliser of the new state (the generator's next output). */
static inline uint64_t alig_splitmix_next(uint64_t *s)
{
    *s += ALIG_SPLITMIX_GAMMA;
    return alig_splitmix_mix(*s);
}

#endif /* ALIG_SPLITMIX_H */
