/* fastact: the loops of one MLP training step that are not activations.
 *
 * Header-only (static functions), included by fastact/_mlp_core.pyx, whose
 * Cython code drives the step: gather the batch rows, the matrix products
 * (BLAS), the fused activation and loss kernels of fastact.h, then the
 * optimizer update below.  Everything here trusts its arguments; the bridge
 * has checked them.
 *
 *   gather rows        dense batch rows (and targets/weights) by index
 *   csr_matmul         first layer of a sparse (CSR) input, forward and
 *                      weight gradient
 *   squared / poisson  loss and gradient w.r.t. the output logits, in place,
 *                      with scikit-learn's normalisations
 *   dropout            inverted-dropout masks from a counter-based RNG, so a
 *                      mask depends only on (seed, step, layer, element)
 *   adam / sgd         the update of one contiguous parameter range, with
 *                      the L2 gradient folded in and sum(W^2) of the weights
 *                      the loss needs (read in the same pass)
 *
 * Instantiated for float and double from mlp_train_impl.h.
 */
#ifndef FASTACT_MLP_TRAIN_H
#define FASTACT_MLP_TRAIN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Hot loops are compiled for AVX-512, AVX2+FMA and baseline x86-64 and the
 * best is picked at load time, as in csrc/kernels.c. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(FA_NO_MULTIVERSION)
#define MLP_TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MLP_TARGETS
#endif

/* Partial sums in a fixed number of lanes: vectorizes without -ffast-math
 * and gives the same result on every instruction set. */
#define MLP_LANES 8

/* splitmix64 finalizer: a counter-based generator for dropout masks */
static inline uint64_t mlp_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#define REAL float
#define SFX f32
#include "mlp_train_impl.h"
#undef REAL
#undef SFX

#define REAL double
#define SFX f64
#include "mlp_train_impl.h"
#undef REAL
#undef SFX

#endif
