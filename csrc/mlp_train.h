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
 * are added to *SUMSQ (when not NULL) in chunk order.  One thread runs the
 * chunks without entering OpenMP: libgomp sets up (mallocs and frees) a team
 * even for `parallel if (0)`, ~350 ns a call, several times per batch. */
#define MLP_CHUNK_BODY(N, SUMSQ, I0, LEN, PART, CALL)                                  \
    size_t I0 = (size_t)c_ * chunk_;                                                   \
    size_t LEN = (N) - I0 < chunk_ ? (N) - I0 : chunk_;                                \
    double *PART = (SUMSQ) ? &parts_[c_] : NULL;                                       \
    parts_[c_] = 0;                                                                    \
    CALL;
#define MLP_FOR_CHUNKS(N, N_THREADS, SUMSQ, I0, LEN, PART, CALL)                       \
    do {                                                                               \
        double parts_[MLP_OPT_MAX_CHUNKS];                                             \
        size_t chunk_ = mlp_opt_chunk(N);                                              \
        ptrdiff_t n_chunks_ = (ptrdiff_t)(((N) + chunk_ - 1) / chunk_);                \
        int nt_ = (N) >= MLP_OPT_PAR_MIN ? (N_THREADS) : 1;                            \
        if (nt_ > 1) {                                                                 \
            _Pragma("omp parallel for num_threads(nt_) schedule(static)")              \
            for (ptrdiff_t c_ = 0; c_ < n_chunks_; c_++) {                             \
                MLP_CHUNK_BODY(N, SUMSQ, I0, LEN, PART, CALL)                          \
            }                                                                          \
        } else {                                                                       \
            for (ptrdiff_t c_ = 0; c_ < n_chunks_; c_++) {                             \
                MLP_CHUNK_BODY(N, SUMSQ, I0, LEN, PART, CALL)                          \
            }                                                                          \
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

static int mlp_has_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = mlp_has_avx2() && __builtin_cpu_supports("avx512f");
    }
    return cached;
}

/* the vector type of width W and element S (ps: __m256/__m512, pd: __m256d/__m512d) */
#define MLP_VT(W, S) __typeof__(_mm##W##_setzero_##S())

/* One Adam update of the entries at p + i with W-bit vectors (W = 256 or
 * 512, S = ps or pd); pk holds p + i's values.  Every multiply-add is an
 * explicit FMA or an explicit pair (no contraction left to the compiler), so
 * both widths give the same bits lane by lane. */
#define MLP_ADAM_STEP(W, S, pk)                                                           \
    do {                                                                                  \
        MLP_VT(W, S) gk = _mm##W##_fmadd_##S(L2, pk, _mm##W##_loadu_##S(g + i));           \
        MLP_VT(W, S) mk = _mm##W##_fmadd_##S(B1, _mm##W##_loadu_##S(m + i),                 \
                                             _mm##W##_mul_##S(C1, gk));                   \
        MLP_VT(W, S) vk = _mm##W##_fmadd_##S(B2, _mm##W##_loadu_##S(v + i),                 \
                                             _mm##W##_mul_##S(C2, _mm##W##_mul_##S(gk, gk))); \
        _mm##W##_storeu_##S(m + i, mk);                                                   \
        _mm##W##_storeu_##S(v + i, vk);                                                   \
        MLP_VT(W, S) step = _mm##W##_div_##S(_mm##W##_mul_##S(NLR, mk),                   \
                                             _mm##W##_add_##S(_mm##W##_sqrt_##S(vk), EPS)); \
        _mm##W##_storeu_##S(p + i, _mm##W##_add_##S(pk, step));                           \
    } while (0)

/* SS += pk * pk, fused */
#define MLP_ADAM_SQ(W, S, SS, pk) SS = _mm##W##_fmadd_##S(pk, pk, SS)

#define MLP_ADAM_LANES(W, S, SS)                                                          \
    do {                                                                                  \
        MLP_VT(W, S) pk_ = _mm##W##_loadu_##S(p + i);                                           \
        MLP_ADAM_SQ(W, S, SS, pk_);                                                       \
        MLP_ADAM_STEP(W, S, pk_);                                                         \
    } while (0)

#define MLP_ADAM_CONSTANTS(W, S)                                                          \
    const MLP_VT(W, S) L2 = _mm##W##_set1_##S(l2), B1 = _mm##W##_set1_##S(b1);                  \
    const MLP_VT(W, S) C1 = _mm##W##_set1_##S(c1), B2 = _mm##W##_set1_##S(b2);                  \
    const MLP_VT(W, S) C2 = _mm##W##_set1_##S(c2), NLR = _mm##W##_set1_##S(-lr);                \
    const MLP_VT(W, S) EPS = _mm##W##_set1_##S(eps)

/* The loops' sums of p^2 added to *sumsq: float32 as ss0 + ss1, its lanes
 * added in double in order; float64 lanes pairwise. */
__attribute__((target("avx2,fma"), always_inline)) static inline void mlp_adam_sumsq_f32(
        __m256 ss0, __m256 ss1, double *sumsq) {
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(ss0, ss1));
    double s = 0;
    for (int k = 0; k < 8; k++) s += (double)lanes[k];
    *sumsq += s;
}

__attribute__((target("avx2,fma"), always_inline)) static inline void mlp_adam_sumsq_f64(
        __m256d ss, double *sumsq) {
    double lanes[4];
    _mm256_storeu_pd(lanes, ss);
    *sumsq += (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

/* All four return how many leading entries they updated (a multiple of the
 * vector width), adding sum(p^2) of those entries (before the update) to
 * *sumsq when it is not NULL: the L2 term of the loss, read in the same pass.
 * float32 sums alternate 8-lane blocks between two accumulators, float64
 * sums 4-lane blocks into one; the AVX-512 versions keep those orders. */
__attribute__((target("avx2,fma"))) static size_t mlp_adam_avx2_f32(
        float *p, const float *g, float *m, float *v, size_t n, float l2, float b1, float c1,
        float b2, float c2, float lr, float eps, double *sumsq) {
    MLP_ADAM_CONSTANTS(256, ps);
    __m256 ss0 = _mm256_setzero_ps(), ss1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if (i & 8) MLP_ADAM_LANES(256, ps, ss1);
        else MLP_ADAM_LANES(256, ps, ss0);
    }
    if (sumsq) mlp_adam_sumsq_f32(ss0, ss1, sumsq);
    return i;
}

__attribute__((target("avx512f,avx2,fma"))) static size_t mlp_adam_avx512_f32(
        float *p, const float *g, float *m, float *v, size_t n, float l2, float b1, float c1,
        float b2, float c2, float lr, float eps, double *sumsq) {
    size_t i = 0;
    __m256 ss0, ss1;
    {
        MLP_ADAM_CONSTANTS(512, ps);
        __m512 ss = _mm512_setzero_ps(); /* lanes 0-7: ss0, lanes 8-15: ss1 */
        for (; i + 16 <= n; i += 16) MLP_ADAM_LANES(512, ps, ss);
        ss0 = _mm512_castps512_ps256(ss);
        ss1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(ss), 1));
    }
    if (i + 8 <= n) {   /* i is a multiple of 16: block i goes to ss0 */
        MLP_ADAM_CONSTANTS(256, ps);
        MLP_ADAM_LANES(256, ps, ss0);
        i += 8;
    }
    if (sumsq) mlp_adam_sumsq_f32(ss0, ss1, sumsq);
    return i;
}

__attribute__((target("avx2,fma"))) static size_t mlp_adam_avx2_f64(
        double *p, const double *g, double *m, double *v, size_t n, double l2, double b1,
        double c1, double b2, double c2, double lr, double eps, double *sumsq) {
    MLP_ADAM_CONSTANTS(256, pd);
    __m256d ss = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 4 <= n; i += 4) MLP_ADAM_LANES(256, pd, ss);
    if (sumsq) mlp_adam_sumsq_f64(ss, sumsq);
    return i;
}

__attribute__((target("avx512f,avx2,fma"))) static size_t mlp_adam_avx512_f64(
        double *p, const double *g, double *m, double *v, size_t n, double l2, double b1,
        double c1, double b2, double c2, double lr, double eps, double *sumsq) {
    size_t i = 0;
    __m256d ss = _mm256_setzero_pd();
    {
        MLP_ADAM_CONSTANTS(512, pd);
        for (; i + 8 <= n; i += 8) {
            __m512d pk = _mm512_loadu_pd(p + i);
            /* p^2 added 4 lanes at a time, in the AVX2 loop's order */
            __m256d lo = _mm512_castpd512_pd256(pk), hi = _mm512_extractf64x4_pd(pk, 1);
            MLP_ADAM_SQ(256, pd, ss, lo);
            MLP_ADAM_SQ(256, pd, ss, hi);
            MLP_ADAM_STEP(512, pd, pk);
        }
    }
    if (i + 4 <= n) {
        MLP_ADAM_CONSTANTS(256, pd);
        MLP_ADAM_LANES(256, pd, ss);
        i += 4;
    }
    if (sumsq) mlp_adam_sumsq_f64(ss, sumsq);
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
