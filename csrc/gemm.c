/* Instantiates the GEMM of gemm_impl.h for float32 and float64 (design:
 * gemm.h).  x86-64 with GCC or clang only; elsewhere fa_gemm_* decline. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#define fa_gemm_thread_num() omp_get_thread_num()
#define fa_gemm_num_threads() omp_get_num_threads()
#else
#define fa_gemm_thread_num() 0
#define fa_gemm_num_threads() 1
#endif

/* Tuning (bytes / elements) */
#ifndef FA_GEMM_KC
#define FA_GEMM_KC 256            /* K block when K is larger (beta == 0) */
#endif
#ifndef FA_GEMM_L2
#define FA_GEMM_L2 (256L * 1024)  /* a packed K block of op(B) at most this big */
#endif
#ifndef FA_GEMM_INPLACE
/* op(B) = B read in place up to this size.  96 KB takes in T1's weight
 * gradient X^T dZ1 (dZ1 200 x 100 float32, 80 KB): packing it cost more than
 * the 8 row tiles gain from reading packed panels (tools/bench_gemm.py,
 * 13.8 -> 12.6 us); T2's 100 KB and 128 KB operands stay packed (no gain
 * measured for them, and 256 KB was slower). */
#define FA_GEMM_INPLACE (96L * 1024)
#endif

/* rows of an AVX-512 register tile: 8 x 2 zmm accumulators (tools/bench_gemm.py) */
#ifndef FA_GEMM_MR_AVX512
#define FA_GEMM_MR_AVX512 8
#endif

/* The kernels of gemm_impl.h are compiled twice per dtype, for AVX2+FMA and
 * for AVX-512F (twice the vector width, more rows per register tile), and
 * the first call picks the widest the CPU has.  Both run the documented
 * FMA sequence of gemm.h for every element, so they give the same bits. */
#define FA_GEMM_AVX2 __attribute__((target("avx2,fma")))
#define FA_GEMM_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline
#define FA_GEMM_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define FA_GEMM_AVX512_INLINE \
    __attribute__((target("avx512f,avx2,fma"), always_inline)) static inline

/* the ISA level the CPU supports (0 none, 1 AVX2+FMA, 2 AVX-512F), and the
 * cap fa_gemm_cap_isa put on it (-1: none) */
static int fa_gemm_detect(void) {
    static int cached = -1;
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c < 0) {
        __builtin_cpu_init();
        c = !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 0
            : __builtin_cpu_supports("avx512f")                                 ? 2
                                                                                : 1;
        __atomic_store_n(&cached, c, __ATOMIC_RELAXED);
    }
    return c;
}

static int fa_gemm_cap = -1;

int fa_gemm_isa(void) {
    const int have = fa_gemm_detect(), cap = __atomic_load_n(&fa_gemm_cap, __ATOMIC_RELAXED);
    return cap >= 0 && cap < have ? cap : have;
}

int fa_gemm_cap_isa(int level) {
    __atomic_store_n(&fa_gemm_cap, level < 0 ? -1 : level, __ATOMIC_RELAXED);
    return fa_gemm_isa();
}

int fa_gemm_available(void) { return fa_gemm_isa() > 0; }

/* Scratch memory for packed panels, kept by each calling thread between
 * calls: a training step makes five to seven products, most of which pack
 * 4-800 KB, and allocating and freeing that each time cost ~2% of a T1 fit
 * in glibc (freed chunks above 64 KB make the next malloc consolidate the
 * heap).  The block is freed when its thread exits; a call that needs more
 * than FA_GEMM_SCRATCH_MAX bytes allocates its own and frees it. */
#ifndef FA_GEMM_SCRATCH_MAX
#define FA_GEMM_SCRATCH_MAX ((size_t)4 << 20)
#endif

typedef struct {
    void *p;
    size_t size;
} fa_gemm_scratch;

static pthread_key_t fa_gemm_scratch_key;
static pthread_once_t fa_gemm_scratch_once = PTHREAD_ONCE_INIT;
static int fa_gemm_scratch_ok;

static void fa_gemm_scratch_free(void *s) {
    fa_gemm_scratch *x = (fa_gemm_scratch *)s;
    free(x->p);
    free(x);
}

static void fa_gemm_scratch_init(void) {
    fa_gemm_scratch_ok = pthread_key_create(&fa_gemm_scratch_key, fa_gemm_scratch_free) == 0;
}

static int fa_gemm_fail_alloc; /* set by fa_gemm_test_fail_alloc */

void fa_gemm_test_fail_alloc(int on) { __atomic_store_n(&fa_gemm_fail_alloc, on, __ATOMIC_RELAXED); }

/* 64-byte aligned memory of `bytes` (> 0) bytes, or NULL; give it back with
 * fa_gemm_release. */
static void *fa_gemm_acquire(size_t bytes) {
    if (__atomic_load_n(&fa_gemm_fail_alloc, __ATOMIC_RELAXED)) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    pthread_once(&fa_gemm_scratch_once, fa_gemm_scratch_init);
    if (bytes > FA_GEMM_SCRATCH_MAX || !fa_gemm_scratch_ok) return aligned_alloc(64, bytes);
    fa_gemm_scratch *x = (fa_gemm_scratch *)pthread_getspecific(fa_gemm_scratch_key);
    if (!x) {
        x = (fa_gemm_scratch *)calloc(1, sizeof *x);
        if (!x) return NULL;
        if (pthread_setspecific(fa_gemm_scratch_key, x) != 0) {
            free(x);
            return NULL;
        }
    }
    if (x->size < bytes) {
        /* grow geometrically (the sizes of one step's products alternate),
         * or to the size asked for when memory is short */
        size_t want = x->size * 2 > bytes ? x->size * 2 : bytes;
        if (want > FA_GEMM_SCRATCH_MAX) want = FA_GEMM_SCRATCH_MAX;
        free(x->p);
        x->p = aligned_alloc(64, want);
        if (!x->p) x->p = aligned_alloc(64, want = bytes);
        x->size = x->p ? want : 0;
        if (!x->p) return NULL;
    }
    return x->p;
}

static void fa_gemm_release(void *p) {
    fa_gemm_scratch *x =
        fa_gemm_scratch_ok ? (fa_gemm_scratch *)pthread_getspecific(fa_gemm_scratch_key) : NULL;
    if (!x || p != x->p) free(p);
}

/* 0 for 'N', 1 for 'T' (or 'C': real data), -1 otherwise */
static int fa_gemm_trans(char t) {
    if (t == 'N' || t == 'n') return 0;
    if (t == 'T' || t == 't' || t == 'C' || t == 'c') return 1;
    return -1;
}

static int fa_gemm_max1(int n) { return n > 1 ? n : 1; }

/* Pack op(B) = B (K x N, row stride ldb) into panels?  In place, a panel
 * reads K rows ldb apart: fine while B stays in L1/L2 with few conflicts. */
static int fa_gemm_pack_policy(int M, int N, int K, int ldb, int size) {
    (void)M;
    (void)N;
    return (long)K * ldb * size > FA_GEMM_INPLACE;
}

/* in-register transposes of VL x VL blocks (packing op(B) = B^T) */
FA_GEMM_AVX2_INLINE void fa_gemm_transpose_f32(__m256 *r) {
    __m256 t[8], u[8];
    for (int q = 0; q < 8; q += 2) {
        t[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
        t[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
    }
    for (int q = 0; q < 8; q += 4) {
        u[q] = _mm256_shuffle_ps(t[q], t[q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int q = 0; q < 4; q++) {
        r[q] = _mm256_permute2f128_ps(u[q], u[q + 4], 0x20);
        r[q + 4] = _mm256_permute2f128_ps(u[q], u[q + 4], 0x31);
    }
}

FA_GEMM_AVX2_INLINE void fa_gemm_transpose_f64(__m256d *r) {
    __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* stores of the first n < VL lanes */
FA_GEMM_AVX2_INLINE void fa_gemm_pstore_f32(float *p, __m256 v, int n) {
    __m128 q = _mm256_castps256_ps128(v);
    if (n & 4) {
        _mm_storeu_ps(p, q);
        q = _mm256_extractf128_ps(v, 1);
        p += 4;
    }
    if (n & 2) {
        _mm_storel_epi64((__m128i_u *)p, _mm_castps_si128(q));
        q = _mm_movehl_ps(q, q);
        p += 2;
    }
    if (n & 1) _mm_store_ss(p, q);
}

FA_GEMM_AVX2_INLINE void fa_gemm_pstore_f64(double *p, __m256d v, int n) {
    __m128d q = _mm256_castpd256_pd128(v);
    if (n & 2) {
        _mm_storeu_pd(p, q);
        q = _mm256_extractf128_pd(v, 1);
        p += 2;
    }
    if (n & 1) _mm_store_sd(p, q);
}

/* fa_gemm_<SFX>: the widest kernels the CPU has (and fa_gemm_cap_isa allows) */
#define FA_GEMM_DISPATCH(SFX, REAL_T)                                                     \
    int fa_gemm_##SFX(char ta, char tb, int M, int N, int K, REAL_T alpha, const REAL_T *A, \
                      int lda, const REAL_T *B, int ldb, REAL_T beta, REAL_T *C, int ldc,  \
                      int n_threads) {                                                    \
        switch (fa_gemm_isa()) {                                                          \
        case 2:                                                                           \
            return gemm_##SFX##_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C,   \
                                       ldc, n_threads, NULL);                             \
        case 1:                                                                           \
            return gemm_##SFX##_avx2(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, \
                                     n_threads, NULL);                                    \
        default:                                                                          \
            return 0;                                                                     \
        }                                                                                 \
    }                                                                                     \
    int fa_gemm_ep_##SFX(char ta, char tb, int M, int N, int K, const REAL_T *A, int lda,  \
                         const REAL_T *B, int ldb, REAL_T *C, int ldc, int n_threads,     \
                         fa_gemm_epilogue *ep) {                                          \
        switch (fa_gemm_isa()) {                                                          \
        case 2:                                                                           \
            return gemm_##SFX##_avx512(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C, ldc,     \
                                       n_threads, ep);                                    \
        case 1:                                                                           \
            return gemm_##SFX##_avx2(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C, ldc,       \
                                     n_threads, ep);                                      \
        default:                                                                          \
            return 0;                                                                     \
        }                                                                                 \
    }

/* ======== float ======== */
#define REAL float
/* VL x VL transposes for packing B^T: 256-bit blocks in both kernels */
#define TVT __m256
#define TVL 8
#define TV_LOAD(p) _mm256_loadu_ps(p)
#define TV_STORE(p, v) _mm256_storeu_ps((p), (v))
#define TV_TRANSPOSE(r) fa_gemm_transpose_f32(r)

/* ---- float, avx2 ---- */
#define FN(name) name##_f32_avx2
#define MR 6
#define GEMM_TARGET FA_GEMM_AVX2
#define GEMM_INLINE FA_GEMM_AVX2_INLINE
#define VT __m256
#define VI __m256i
#define VL 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_MLOAD(p, m) _mm256_maskload_ps((p), (m))
#define V_PSTORE(p, v, n) fa_gemm_pstore_f32((p), (v), (n))
#define V_BCAST(p) _mm256_broadcast_ss(p)
#define V_SET1(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_MASK(n) \
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_RELU(t) \
    _mm256_blendv_ps((t), _mm256_setzero_ps(), _mm256_cmp_ps((t), _mm256_setzero_ps(), _CMP_LT_OQ))
#define V_STEP(y) \
    _mm256_and_ps(_mm256_cmp_ps((y), _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(1.0f))
#include "gemm_impl.h" /* which undefines the macros above */

/* ---- float, avx512 ---- */
#define FN(name) name##_f32_avx512
#define MR FA_GEMM_MR_AVX512
#define GEMM_TARGET FA_GEMM_AVX512
#define GEMM_INLINE FA_GEMM_AVX512_INLINE
#define VT __m512
#define VI __mmask16
#define VL 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_MLOAD(p, m) _mm512_maskz_loadu_ps((m), (p))
#define V_PSTORE(p, v, n) _mm512_mask_storeu_ps((p), V_MASK(n), (v))
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_MASK(n) ((__mmask16)((1u << (n)) - 1u))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_RELU(t) \
    _mm512_mask_mov_ps((t), _mm512_cmp_ps_mask((t), _mm512_setzero_ps(), _CMP_LT_OQ), \
                       _mm512_setzero_ps())
#define V_STEP(y) \
    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((y), _mm512_setzero_ps(), _CMP_GT_OQ), \
                        _mm512_set1_ps(1.0f))
#include "gemm_impl.h" /* which undefines the macros above */

FA_GEMM_DISPATCH(f32, float)

#undef REAL
#undef TVT
#undef TVL
#undef TV_LOAD
#undef TV_STORE
#undef TV_TRANSPOSE

/* ======== double ======== */
#define REAL double
/* VL x VL transposes for packing B^T: 256-bit blocks in both kernels */
#define TVT __m256d
#define TVL 4
#define TV_LOAD(p) _mm256_loadu_pd(p)
#define TV_STORE(p, v) _mm256_storeu_pd((p), (v))
#define TV_TRANSPOSE(r) fa_gemm_transpose_f64(r)

/* ---- double, avx2 ---- */
#define FN(name) name##_f64_avx2
#define MR 6
#define GEMM_TARGET FA_GEMM_AVX2
#define GEMM_INLINE FA_GEMM_AVX2_INLINE
#define VT __m256d
#define VI __m256i
#define VL 4
#define V_ZERO() _mm256_setzero_pd()
#define V_LOAD(p) _mm256_loadu_pd(p)
#define V_STORE(p, v) _mm256_storeu_pd((p), (v))
#define V_MLOAD(p, m) _mm256_maskload_pd((p), (m))
#define V_PSTORE(p, v, n) fa_gemm_pstore_f64((p), (v), (n))
#define V_BCAST(p) _mm256_broadcast_sd(p)
#define V_SET1(x) _mm256_set1_pd(x)
#define V_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define V_MUL(a, b) _mm256_mul_pd((a), (b))
#define V_MASK(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define V_ADD(a, b) _mm256_add_pd((a), (b))
#define V_RELU(t) \
    _mm256_blendv_pd((t), _mm256_setzero_pd(), _mm256_cmp_pd((t), _mm256_setzero_pd(), _CMP_LT_OQ))
#define V_STEP(y) \
    _mm256_and_pd(_mm256_cmp_pd((y), _mm256_setzero_pd(), _CMP_GT_OQ), _mm256_set1_pd(1.0))
#include "gemm_impl.h" /* which undefines the macros above */

/* ---- double, avx512 ---- */
#define FN(name) name##_f64_avx512
#define MR FA_GEMM_MR_AVX512
#define GEMM_TARGET FA_GEMM_AVX512
#define GEMM_INLINE FA_GEMM_AVX512_INLINE
#define VT __m512d
#define VI __mmask8
#define VL 8
#define V_ZERO() _mm512_setzero_pd()
#define V_LOAD(p) _mm512_loadu_pd(p)
#define V_STORE(p, v) _mm512_storeu_pd((p), (v))
#define V_MLOAD(p, m) _mm512_maskz_loadu_pd((m), (p))
#define V_PSTORE(p, v, n) _mm512_mask_storeu_pd((p), V_MASK(n), (v))
#define V_BCAST(p) _mm512_set1_pd(*(p))
#define V_SET1(x) _mm512_set1_pd(x)
#define V_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_pd((a), (b))
#define V_MASK(n) ((__mmask8)((1u << (n)) - 1u))
#define V_ADD(a, b) _mm512_add_pd((a), (b))
#define V_RELU(t) \
    _mm512_mask_mov_pd((t), _mm512_cmp_pd_mask((t), _mm512_setzero_pd(), _CMP_LT_OQ), \
                       _mm512_setzero_pd())
#define V_STEP(y) \
    _mm512_maskz_mov_pd(_mm512_cmp_pd_mask((y), _mm512_setzero_pd(), _CMP_GT_OQ), \
                        _mm512_set1_pd(1.0))
#include "gemm_impl.h" /* which undefines the macros above */

FA_GEMM_DISPATCH(f64, double)

#undef REAL
#undef TVT
#undef TVL
#undef TV_LOAD
#undef TV_STORE
#undef TV_TRANSPOSE

#else /* not GCC/clang on x86-64: always decline */

int fa_gemm_available(void) { return 0; }
int fa_gemm_isa(void) { return 0; }
void fa_gemm_test_fail_alloc(int on) { (void)on; }
int fa_gemm_cap_isa(int level) {
    (void)level;
    return 0;
}

int fa_gemm_f32(char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc, int n_threads) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
    (void)B, (void)ldb, (void)beta, (void)C, (void)ldc, (void)n_threads;
    return 0;
}

int fa_gemm_f64(char ta, char tb, int M, int N, int K, double alpha, const double *A, int lda,
                const double *B, int ldb, double beta, double *C, int ldc, int n_threads) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
    (void)B, (void)ldb, (void)beta, (void)C, (void)ldc, (void)n_threads;
    return 0;
}

int fa_gemm_ep_f32(char ta, char tb, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, float *C, int ldc, int n_threads,
                   fa_gemm_epilogue *ep) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
    (void)C, (void)ldc, (void)n_threads, (void)ep;
    return 0;
}

int fa_gemm_ep_f64(char ta, char tb, int M, int N, int K, const double *A, int lda,
                   const double *B, int ldb, double *C, int ldc, int n_threads,
                   fa_gemm_epilogue *ep) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
    (void)C, (void)ldc, (void)n_threads, (void)ep;
    return 0;
}

#endif
