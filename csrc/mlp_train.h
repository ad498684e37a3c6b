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
 *                      the loss needs (read in the same pass), threaded in
 *                      fixed chunks
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

/* Optimizer updates run in chunks of at least MLP_OPT_CHUNK parameters (and
 * at most MLP_OPT_MAX_CHUNKS chunks), which threads share from
 * MLP_OPT_PAR_MIN parameters on.  The chunking depends on the parameter
 * count alone, never on the thread count, so the per-chunk sums of p^2 are
 * always added in the same order.  Batches of at least MLP_GATHER_PAR_BYTES
 * are gathered by all threads. */
#define MLP_OPT_CHUNK ((size_t)16384)
#define MLP_OPT_MAX_CHUNKS 256
#define MLP_OPT_PAR_MIN ((size_t)1 << 16)
#define MLP_GATHER_PAR_BYTES ((size_t)1 << 18)

static inline size_t mlp_opt_chunk(size_t n) {
    size_t c = (n + MLP_OPT_MAX_CHUNKS - 1) / MLP_OPT_MAX_CHUNKS;
    c = (c + 15) & ~(size_t)15; /* whole AVX2/AVX-512 vectors of either dtype */
    return c > MLP_OPT_CHUNK ? c : MLP_OPT_CHUNK;
}

/* Runs CALL, an update of parameters [I0, I0 + LEN) that adds their sum(p^2)
 * to *PART when PART is not NULL, over the chunks of N parameters, on up to
 * N_THREADS threads from MLP_OPT_PAR_MIN parameters on; the chunks' sums
 * are added to *SUMSQ (when not NULL) in chunk order. */
#define MLP_FOR_CHUNKS(N, N_THREADS, SUMSQ, I0, LEN, PART, CALL)                       \
    do {                                                                               \
        double parts_[MLP_OPT_MAX_CHUNKS];                                             \
        size_t chunk_ = mlp_opt_chunk(N);                                              \
        ptrdiff_t n_chunks_ = (ptrdiff_t)(((N) + chunk_ - 1) / chunk_);                \
        int nt_ = (N) >= MLP_OPT_PAR_MIN ? (N_THREADS) : 1;                            \
        (void)nt_;                                                                     \
        _Pragma("omp parallel for num_threads(nt_) schedule(static) if (nt_ > 1)")     \
        for (ptrdiff_t c_ = 0; c_ < n_chunks_; c_++) {                                 \
            size_t I0 = (size_t)c_ * chunk_;                                           \
            size_t LEN = (N) - I0 < chunk_ ? (N) - I0 : chunk_;                        \
            double *PART = (SUMSQ) ? &parts_[c_] : NULL;                               \
            parts_[c_] = 0;                                                            \
            CALL;                                                                      \
        }                                                                              \
        if (SUMSQ)                                                                     \
            for (ptrdiff_t c_ = 0; c_ < n_chunks_; c_++) *(SUMSQ) += parts_[c_];       \
    } while (0)

/* splitmix64 finalizer: a counter-based generator for dropout masks */
static inline uint64_t mlp_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Adam needs a square root per parameter.  GCC only vectorizes sqrt under
 * -fno-math-errno, which cannot be set per function, so on x86-64 the Adam
 * loop has an explicit AVX2 version chosen at run time (the scalar loop
 * finishes the tail and serves other machines). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(FA_NO_MULTIVERSION)
#define MLP_X86_AVX2 1
#include <immintrin.h>

static int mlp_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}

/* Both return how many leading entries they updated (a multiple of the
 * vector width), adding sum(p^2) of those entries (before the update) to
 * *sumsq when it is not NULL: the L2 term of the loss, read in the same pass. */
__attribute__((target("avx2,fma"))) static size_t mlp_adam_avx2_f32(
        float *p, const float *g, float *m, float *v, size_t n, float l2, float b1, float c1,
        float b2, float c2, float lr, float eps, double *sumsq) {
    const __m256 L2 = _mm256_set1_ps(l2), B1 = _mm256_set1_ps(b1), C1 = _mm256_set1_ps(c1);
    const __m256 B2 = _mm256_set1_ps(b2), C2 = _mm256_set1_ps(c2);
    const __m256 NLR = _mm256_set1_ps(-lr), EPS = _mm256_set1_ps(eps);
    __m256 ss0 = _mm256_setzero_ps(), ss1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 pk = _mm256_loadu_ps(p + i);
        if (i & 8) ss1 = _mm256_add_ps(ss1, _mm256_mul_ps(pk, pk));
        else ss0 = _mm256_add_ps(ss0, _mm256_mul_ps(pk, pk));
        __m256 gk = _mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_mul_ps(L2, pk));
        __m256 mk = _mm256_add_ps(_mm256_mul_ps(B1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(C1, gk));
        __m256 vk = _mm256_add_ps(_mm256_mul_ps(B2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(C2, _mm256_mul_ps(gk, gk)));
        _mm256_storeu_ps(m + i, mk);
        _mm256_storeu_ps(v + i, vk);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(NLR, mk), _mm256_add_ps(_mm256_sqrt_ps(vk), EPS));
        _mm256_storeu_ps(p + i, _mm256_add_ps(pk, step));
    }
    if (sumsq) {
        float lanes[8];
        _mm256_storeu_ps(lanes, _mm256_add_ps(ss0, ss1));
        double s = 0;
        for (int k = 0; k < 8; k++) s += (double)lanes[k];
        *sumsq += s;
    }
    return i;
}

__attribute__((target("avx2,fma"))) static size_t mlp_adam_avx2_f64(
        double *p, const double *g, double *m, double *v, size_t n, double l2, double b1,
        double c1, double b2, double c2, double lr, double eps, double *sumsq) {
    const __m256d L2 = _mm256_set1_pd(l2), B1 = _mm256_set1_pd(b1), C1 = _mm256_set1_pd(c1);
    const __m256d B2 = _mm256_set1_pd(b2), C2 = _mm256_set1_pd(c2);
    const __m256d NLR = _mm256_set1_pd(-lr), EPS = _mm256_set1_pd(eps);
    __m256d ss = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d pk = _mm256_loadu_pd(p + i);
        ss = _mm256_add_pd(ss, _mm256_mul_pd(pk, pk));
        __m256d gk = _mm256_add_pd(_mm256_loadu_pd(g + i), _mm256_mul_pd(L2, pk));
        __m256d mk = _mm256_add_pd(_mm256_mul_pd(B1, _mm256_loadu_pd(m + i)), _mm256_mul_pd(C1, gk));
        __m256d vk = _mm256_add_pd(_mm256_mul_pd(B2, _mm256_loadu_pd(v + i)),
                                   _mm256_mul_pd(C2, _mm256_mul_pd(gk, gk)));
        _mm256_storeu_pd(m + i, mk);
        _mm256_storeu_pd(v + i, vk);
        __m256d step = _mm256_div_pd(_mm256_mul_pd(NLR, mk), _mm256_add_pd(_mm256_sqrt_pd(vk), EPS));
        _mm256_storeu_pd(p + i, _mm256_add_pd(pk, step));
    }
    if (sumsq) {
        double lanes[4];
        _mm256_storeu_pd(lanes, ss);
        *sumsq += (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    }
    return i;
}
#endif

#define REAL float
#define SFX f32
#define MLP_SQRT sqrtf
#include "mlp_train_impl.h"
#undef REAL
#undef SFX
#undef MLP_SQRT

#define REAL double
#define SFX f64
#define MLP_SQRT sqrt
#include "mlp_train_impl.h"
#undef REAL
#undef SFX
#undef MLP_SQRT

#endif
