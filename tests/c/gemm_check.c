/*
 * Correctness and determinism checks for csrc/gemm.c (fa_gemm_f32/f64).
 *
 *   gcc -O2 -fopenmp -ffp-contract=off -I csrc tests/c/gemm_check.c csrc/gemm.c -lm -o gemm_check
 *   ./gemm_check
 *
 * For float32 and float64, all of op = NN, TN, NT, TT:
 *   - shapes from {1,2,3,5,7,8,15,16,17,31,33,64,100,147,200,257} in each
 *     dimension (every triple of the small ones, a fixed random sample of the
 *     rest), leading dimensions above the minimum, alpha in {1, -0.75, 2.5},
 *     beta in {0 (C filled with NaN beforehand), 1, 0.5};
 *     every element must be within the rounding-error bound of a dot product
 *     of length K of the long double reference,
 *         |C - ref| <= (K + 2) u (|alpha| sum_k |a_ik b_kj| + |beta C_old|),
 *     and bitwise equal to the documented sequence (gemm.h), computed with
 *     scalar fma; the padding of C beyond N columns is never written;
 *   - NaN/inf in A or B: same NaN/inf/finite pattern and values as that
 *     scalar sequence;
 *   - K = 0 and alpha = 0: C = beta C (0 when beta = 0, NaN not read);
 *     M = 0 or N = 0: returns 1 and writes nothing;
 *   - declines (returns 0, writes nothing) a bad transpose flag or a leading
 *     dimension below the row length;
 *   - all of the above for each set of kernels the CPU can run (AVX-512F,
 *     AVX2+FMA), selected with fa_gemm_cap_isa;
 *   - n_threads = 1, 2, 3, 8 give bitwise the same C on shapes above the
 *     parallel threshold (split by rows and by columns), also with flush-to-zero set by the caller (on
 *     subnormal products, which it then changes).
 * Prints one line per group and "ALL PASS" / exits 1 on failure; prints
 * "SKIP" and exits 0 when the CPU has no AVX2+FMA (fa_gemm declines).
 */
#ifndef GEMM_CHECK_BODY
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#endif

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
/* uniform in [-1, 1) */
static double urand(void) { return (double)(rnd() >> 11) * 0x1p-52 - 1.0; }

static long failures = 0;
#define FAIL(...)                                \
    do {                                         \
        if (failures++ < 20) printf(__VA_ARGS__); \
    } while (0)
#define CHECK(cond, ...)          \
    do {                          \
        if (!(cond)) FAIL(__VA_ARGS__); \
    } while (0)

static const int SIZES[] = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 64, 100, 147, 200, 257};
#define NSIZES ((int)(sizeof SIZES / sizeof SIZES[0]))
static const char OPS[4][2] = {{'N', 'N'}, {'T', 'N'}, {'N', 'T'}, {'T', 'T'}};

#define GEMM_CHECK_BODY
#define REAL float
#define SFX f32
#define NAME "f32"
#define FMA fmaf
#define UNIT 0x1p-24
#include "gemm_check.c"
#undef REAL
#undef SFX
#undef NAME
#undef FMA
#undef UNIT

#define REAL double
#define SFX f64
#define NAME "f64"
#define FMA fma
#define UNIT 0x1p-53
#include "gemm_check.c"

int main(void) {
    if (!fa_gemm_available()) {
        float a = 1, b = 1, c = 0;
        if (fa_gemm_f32('N', 'N', 1, 1, 1, 1, &a, 1, &b, 1, 0, &c, 1, 1) != 0) {
            printf("FAIL: no AVX2+FMA but fa_gemm_f32 did not decline\n");
            return 1;
        }
        printf("SKIP: no AVX2+FMA, fa_gemm declines\n");
        return 0;
    }
    /* every kernel set this CPU can run, widest first: each must give the
     * documented sequence's bits */
    static const char *ISA_NAMES[] = {"none", "AVX2+FMA", "AVX-512F"};
    for (int level = fa_gemm_isa(); level >= 1; level--) {
        if (fa_gemm_cap_isa(level) != level) {
            printf("FAIL: could not select ISA level %d\n", level);
            return 1;
        }
        printf("kernels: %s\n", ISA_NAMES[level]);
        run_f32();
        run_f64();
    }
    fa_gemm_cap_isa(-1);
    if (failures) {
        printf("FAILED: %ld failure(s)\n", failures);
        return 1;
    }
    printf("ALL PASS\n");
    return 0;
}

#else /* ------------- the checks for one dtype (REAL, SFX, FMA, UNIT) ------------- */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define F(name) CAT(name, SFX)

typedef struct {
    char ta, tb;
    int M, N, K, lda, ldb, ldc;
    REAL alpha, beta;
    REAL *A, *B, *C, *C0; /* C0: C before the call */
} F(case_t);

static REAL F(opa)(const F(case_t) *t, int i, int k) {
    return t->ta == 'T' ? t->A[(size_t)k * t->lda + i] : t->A[(size_t)i * t->lda + k];
}
static REAL F(opb)(const F(case_t) *t, int k, int j) {
    return t->tb == 'T' ? t->B[(size_t)j * t->ldb + k] : t->B[(size_t)k * t->ldb + j];
}

/* the documented sequence of gemm.h, one element */
static REAL F(chain)(const F(case_t) *t, int i, int j) {
    REAL cold = t->C0[(size_t)i * t->ldc + j];
    if (t->K == 0 || t->alpha == 0) return t->beta == 0 ? 0 : t->beta == 1 ? cold : t->beta * cold;
    REAL acc = 0;
    for (int k = 0; k < t->K; k++) acc = FMA(F(opa)(t, i, k), F(opb)(t, k, j), acc);
    REAL r = t->alpha == 1 ? acc : t->alpha * acc;
    return t->beta == 0 ? r : FMA(t->beta, cold, r);
}

static int F(same)(REAL x, REAL y) { return (isnan(x) && isnan(y)) || x == y; }

static void F(alloc)(F(case_t) *t) {
    size_t na = (size_t)(t->ta == 'T' ? t->K : t->M) * t->lda + 1;
    size_t nb = (size_t)(t->tb == 'T' ? t->N : t->K) * t->ldb + 1;
    size_t nc = (size_t)t->M * t->ldc + 1;
    t->A = malloc(na * sizeof(REAL));
    t->B = malloc(nb * sizeof(REAL));
    t->C = malloc(nc * sizeof(REAL));
    t->C0 = malloc(nc * sizeof(REAL));
    for (size_t i = 0; i < na; i++) t->A[i] = (REAL)urand();
    for (size_t i = 0; i < nb; i++) t->B[i] = (REAL)urand();
    for (size_t i = 0; i < nc; i++) t->C0[i] = t->beta == 0 ? (REAL)NAN : (REAL)urand();
    /* padding of C (columns N .. ldc-1) holds a sentinel */
    for (int i = 0; i < t->M; i++)
        for (int j = t->N; j < t->ldc; j++) t->C0[(size_t)i * t->ldc + j] = (REAL)-12345.0;
    memcpy(t->C, t->C0, nc * sizeof(REAL));
}

static void F(release)(F(case_t) *t) {
    free(t->A);
    free(t->B);
    free(t->C);
    free(t->C0);
}

static int F(call)(F(case_t) *t, int nt) {
    return CAT(fa_gemm, SFX)(t->ta, t->tb, t->M, t->N, t->K, t->alpha, t->A, t->lda, t->B,
                             t->ldb, t->beta, t->C, t->ldc, nt);
}

/* checks C after a call: bound (when tol), bitwise sequence, untouched padding */
static void F(verify)(const F(case_t) *t, int tol, const char *what) {
    for (int i = 0; i < t->M; i++) {
        for (int j = 0; j < t->ldc; j++) {
            size_t at = (size_t)i * t->ldc + j;
            REAL got = t->C[at];
            if (j >= t->N) {
                if (!F(same)(got, t->C0[at]))
                    FAIL("%s %s %c%c M=%d N=%d K=%d: padding C[%d,%d] written\n", what,
                         NAME, t->ta, t->tb, t->M, t->N, t->K, i, j);
                continue;
            }
            REAL want = F(chain)(t, i, j);
            if (!F(same)(got, want)) {
                FAIL("%s %s %c%c M=%d N=%d K=%d lda=%d ldb=%d ldc=%d alpha=%g beta=%g: "
                     "C[%d,%d] = %.17g, sequence gives %.17g\n", what, NAME, t->ta, t->tb,
                     t->M, t->N, t->K, t->lda, t->ldb, t->ldc, (double)t->alpha,
                     (double)t->beta, i, j, (double)got, (double)want);
                return;
            }
            if (!tol) continue;
            long double exact = 0, mag = 0;
            for (int k = 0; k < t->K; k++) {
                long double p = (long double)F(opa)(t, i, k) * F(opb)(t, k, j);
                exact += p;
                mag += fabsl(p);
            }
            long double cold = t->beta == 0 ? 0 : t->C0[at];
            exact = t->alpha * exact + t->beta * cold;
            long double bound = (t->K + 2) * (long double)UNIT *
                                    (fabsl((long double)t->alpha) * mag + fabsl(t->beta * cold)) +
                                (long double)(sizeof(REAL) == 4 ? FLT_TRUE_MIN : DBL_TRUE_MIN);
            if (!(fabsl(got - exact) <= bound)) {
                FAIL("%s %s %c%c M=%d N=%d K=%d: C[%d,%d] = %.17g, exact %.17Lg, error %.3Lg > "
                     "bound %.3Lg\n", what, NAME, t->ta, t->tb, t->M, t->N, t->K, i, j,
                     (double)got, exact, fabsl(got - exact), bound);
                return;
            }
        }
    }
}

static int F(pick_ld)(int minimum) {
    static const int pad[] = {0, 0, 1, 3, 17};
    int m = minimum > 1 ? minimum : 1;
    return m + pad[rnd() % 5];
}

static void F(one_case)(char ta, char tb, int M, int N, int K, long *count) {
    static const REAL alphas[] = {1, (REAL)-0.75, (REAL)2.5};
    static const REAL betas[] = {0, 1, (REAL)0.5};
    F(case_t) t;
    t.ta = ta, t.tb = tb, t.M = M, t.N = N, t.K = K;
    t.lda = F(pick_ld)(ta == 'T' ? M : K);
    t.ldb = F(pick_ld)(tb == 'T' ? K : N);
    t.ldc = F(pick_ld)(N);
    t.alpha = alphas[rnd() % 3];
    t.beta = betas[rnd() % 3];
    F(alloc)(&t);
    if (!F(call)(&t, 1))
        FAIL("%s %c%c M=%d N=%d K=%d: declined\n", NAME, ta, tb, M, N, K);
    else
        F(verify)(&t, 1, "shapes");
    F(release)(&t);
    (*count)++;
}

static void F(check_shapes)(void) {
    long before = failures, count = 0;
    for (int op = 0; op < 4; op++) {
        char ta = OPS[op][0], tb = OPS[op][1];
        /* every triple of the sizes up to 17 */
        for (int a = 0; a < 9; a++)
            for (int b = 0; b < 9; b++)
                for (int c = 0; c < 9; c++)
                    F(one_case)(ta, tb, SIZES[a], SIZES[b], SIZES[c], &count);
        /* a sample of triples with at least one larger size: the work grows
         * as M*N*K, so keep the sample small where all three are large */
        for (int s = 0; s < 120; s++) {
            int M = SIZES[rnd() % NSIZES], N = SIZES[rnd() % NSIZES], K = SIZES[rnd() % NSIZES];
            if (M <= 17 && N <= 17 && K <= 17) M = SIZES[9 + rnd() % (NSIZES - 9)];
            if ((double)M * N * K > 3e6 && rnd() % 4) continue;
            F(one_case)(ta, tb, M, N, K, &count);
        }
    }
    printf("%s shapes: %ld cases %s\n", NAME, count, failures == before ? "PASS" : "FAIL");
}

static void F(check_specials)(void) {
    long before = failures;
    const REAL specials[] = {(REAL)NAN, (REAL)INFINITY, (REAL)-INFINITY};
    for (int op = 0; op < 4; op++) {
        for (int rep = 0; rep < 6; rep++) {
            F(case_t) t;
            t.ta = OPS[op][0], t.tb = OPS[op][1];
            t.M = 23, t.N = 37, t.K = 19;
            t.lda = t.ta == 'T' ? t.M : t.K;
            t.ldb = t.tb == 'T' ? t.K : t.N;
            t.ldc = t.N;
            t.alpha = rep % 2 ? 1 : (REAL)-1.5;
            t.beta = rep < 3 ? 0 : 1;
            F(alloc)(&t);
            size_t na = (size_t)(t.ta == 'T' ? t.K : t.M) * t.lda;
            size_t nb = (size_t)(t.tb == 'T' ? t.N : t.K) * t.ldb;
            for (int s = 0; s < 4; s++) {
                t.A[rnd() % na] = specials[rnd() % 3];
                t.B[rnd() % nb] = specials[rnd() % 3];
            }
            if (rep == 5) t.A[0] = 0, t.B[0] = (REAL)INFINITY; /* 0 * inf */
            if (!F(call)(&t, 1))
                FAIL("%s specials: declined\n", NAME);
            else
                F(verify)(&t, 0, "specials");
            F(release)(&t);
        }
    }
    printf("%s NaN/inf in A, B: %s\n", NAME, failures == before ? "PASS" : "FAIL");
}

static void F(check_degenerate)(void) {
    long before = failures;
    for (int op = 0; op < 4; op++) {
        for (int bi = 0; bi < 3; bi++) {
            static const REAL betas[] = {0, 1, (REAL)0.5};
            /* K = 0, and alpha = 0 with NaN in A and B (not read) */
            for (int z = 0; z < 2; z++) {
                F(case_t) t;
                t.ta = OPS[op][0], t.tb = OPS[op][1];
                t.M = 9, t.N = 21, t.K = z ? 5 : 0;
                t.lda = (t.ta == 'T' ? t.M : t.K) + 1;
                t.ldb = (t.tb == 'T' ? t.K : t.N) + 1;
                t.ldc = t.N + 2;
                t.alpha = z ? 0 : 1;
                t.beta = betas[bi];
                F(alloc)(&t);
                if (z) t.A[0] = t.B[0] = (REAL)NAN;
                if (!F(call)(&t, 1))
                    FAIL("%s K=0/alpha=0: declined\n", NAME);
                else
                    F(verify)(&t, 0, z ? "alpha=0" : "K=0");
                for (int i = 0; i < t.M && t.beta == 0; i++)
                    for (int j = 0; j < t.N; j++)
                        if (t.C[(size_t)i * t.ldc + j] != 0) FAIL("%s K=0: C not 0\n", NAME);
                F(release)(&t);
            }
        }
        /* M = 0, N = 0: nothing written */
        for (int z = 0; z < 2; z++) {
            REAL a[64], b[64], c[64];
            for (int i = 0; i < 64; i++) a[i] = b[i] = 1, c[i] = (REAL)-7;
            int M = z ? 4 : 0, N = z ? 0 : 4;
            int r = CAT(fa_gemm, SFX)(OPS[op][0], OPS[op][1], M, N, 3, 1, a, 4, b, 4, 0, c, 4, 1);
            if (r != 1) FAIL("%s M=%d N=%d: returned %d\n", NAME, M, N, r);
            for (int i = 0; i < 64; i++)
                if (c[i] != (REAL)-7) {
                    FAIL("%s M=%d N=%d: C written\n", NAME, M, N);
                    break;
                }
        }
    }
    /* declines: bad flag, short leading dimensions; C untouched */
    {
        REAL a[64], b[64], c[64];
        for (int i = 0; i < 64; i++) a[i] = b[i] = 1, c[i] = (REAL)-7;
        int r = 0;
        r |= CAT(fa_gemm, SFX)('X', 'N', 4, 4, 4, 1, a, 4, b, 4, 0, c, 4, 1);
        r |= CAT(fa_gemm, SFX)('N', 'Q', 4, 4, 4, 1, a, 4, b, 4, 0, c, 4, 1);
        r |= CAT(fa_gemm, SFX)('N', 'N', 4, 4, 4, 1, a, 3, b, 4, 0, c, 4, 1);
        r |= CAT(fa_gemm, SFX)('T', 'N', 5, 4, 4, 1, a, 4, b, 4, 0, c, 4, 1);
        r |= CAT(fa_gemm, SFX)('N', 'T', 4, 4, 5, 1, a, 5, b, 4, 0, c, 4, 1);
        r |= CAT(fa_gemm, SFX)('N', 'N', 4, 5, 4, 1, a, 4, b, 5, 0, c, 4, 1);
        r |= CAT(fa_gemm, SFX)('N', 'N', -1, 4, 4, 1, a, 4, b, 4, 0, c, 4, 1);
        if (r) FAIL("%s: did not decline a bad argument\n", NAME);
        for (int i = 0; i < 64; i++)
            if (c[i] != (REAL)-7) {
                FAIL("%s: a declined call wrote C\n", NAME);
                break;
            }
    }
    printf("%s K=0, alpha=0, M=0, N=0, declines: %s\n", NAME, failures == before ? "PASS" : "FAIL");
}

static void F(check_threads)(void) {
    long before = failures;
    static const int shapes[][5] = {
        /* op, M, N, K, beta != 0 */
        {0, 200, 256, 784, 0}, {1, 784, 256, 200, 0}, {2, 200, 256, 128, 0},
        {3, 257, 257, 257, 0}, {0, 1024, 100, 64, 0}, {1, 257, 100, 200, 1},
        {0, 203, 33, 513, 1},  {2, 147, 257, 100, 0}, {0, 13, 1000, 300, 0},
        {0, 64, 3000, 600, 0}, {0, 200, 250, 60, 1},  {1, 64, 100, 400, 0},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        F(case_t) t;
        int op = shapes[s][0];
        t.ta = OPS[op][0], t.tb = OPS[op][1];
        t.M = shapes[s][1], t.N = shapes[s][2], t.K = shapes[s][3];
        t.lda = (t.ta == 'T' ? t.M : t.K) + (int)(s % 2);
        t.ldb = (t.tb == 'T' ? t.K : t.N) + (int)(s % 3);
        t.ldc = t.N + (int)(s % 2) * 5;
        t.alpha = s % 2 ? (REAL)0.5 : 1;
        t.beta = shapes[s][4] ? (REAL)0.25 : 0;
        if ((double)t.M * t.N * t.K < FA_GEMM_PARALLEL_MIN)
            FAIL("%s threads: shape %zu below the parallel threshold\n", NAME, s);
        F(alloc)(&t);
        size_t nc = (size_t)t.M * t.ldc + 1;
        REAL *first = malloc(nc * sizeof(REAL));
        static const int nts[] = {1, 2, 3, 8};
        for (int q = 0; q < 4; q++) {
            memcpy(t.C, t.C0, nc * sizeof(REAL));
            if (!F(call)(&t, nts[q])) {
                FAIL("%s threads: declined\n", NAME);
                break;
            }
            if (q == 0) {
                memcpy(first, t.C, nc * sizeof(REAL));
                if (s < 3) F(verify)(&t, 0, "threads");
            } else if (memcmp(first, t.C, nc * sizeof(REAL)) != 0) {
                FAIL("%s threads: %c%c M=%d N=%d K=%d differs at n_threads=%d\n", NAME, t.ta,
                     t.tb, t.M, t.N, t.K, nts[q]);
            }
        }
        free(first);
        F(release)(&t);
    }
#ifdef HAVE_MXCSR
    /* the caller's FTZ/DAZ hold in the worker threads too */
    {
        F(case_t) t;
        t.ta = 'N', t.tb = 'N', t.M = 120, t.N = 100, t.K = 200;
        t.lda = t.K, t.ldb = t.N, t.ldc = t.N, t.alpha = 1, t.beta = 0;
        F(alloc)(&t);
        const REAL tiny = sizeof(REAL) == 4 ? (REAL)1e-20 : (REAL)1e-160;
        for (int i = 0; i < t.M * t.K; i++) t.A[i] *= tiny;
        for (int i = 0; i < t.K * t.N; i++) t.B[i] *= tiny;
        size_t nc = (size_t)t.M * t.ldc;
        REAL *plain = malloc(nc * sizeof(REAL)), *first = malloc(nc * sizeof(REAL));
        F(call)(&t, 1);
        memcpy(plain, t.C, nc * sizeof(REAL));
        const unsigned int csr = _mm_getcsr();
        _mm_setcsr(csr | 0x8040); /* FTZ | DAZ */
        static const int nts[] = {1, 2, 3, 8};
        for (int q = 0; q < 4; q++) {
            F(call)(&t, nts[q]);
            if (q == 0)
                memcpy(first, t.C, nc * sizeof(REAL));
            else if (memcmp(first, t.C, nc * sizeof(REAL)) != 0)
                FAIL("%s threads with FTZ: differs at n_threads=%d\n", NAME, nts[q]);
        }
        _mm_setcsr(csr);
        if (memcmp(first, plain, nc * sizeof(REAL)) == 0)
            FAIL("%s threads with FTZ: FTZ changed nothing (test data)\n", NAME);
        free(plain);
        free(first);
        F(release)(&t);
    }
#endif
    printf("%s n_threads 1/2/3/8 bitwise: %s\n", NAME, failures == before ? "PASS" : "FAIL");
}

/* fa_gemm_ep_*: C = A op(B), then C + bias, relu(C + bias) or C * [y > 0] with the
 * column sums added row after row, all bitwise as the separate passes; the
 * sums are made on one thread only (summed says so); ta = 'T' declines. */
static void F(one_epilogue)(int kind, char tb, int M, int N, int K, int nt, long *count) {
    F(case_t) t = {'N', tb, M, N, K, 0, 0, 0, 1, 0, NULL, NULL, NULL, NULL};
    t.lda = F(pick_ld)(K);
    t.ldb = F(pick_ld)(tb == 'T' ? K : N);
    t.ldc = F(pick_ld)(N);
    F(alloc)(&t);
    REAL *bias = malloc(((size_t)N + 1) * sizeof(REAL));
    REAL *y = malloc(((size_t)M * N + 1) * sizeof(REAL));
    REAL *sums = malloc(((size_t)N + 2) * sizeof(REAL));
    for (int j = 0; j < N; j++) bias[j] = (REAL)urand();
    for (size_t i = 0; i < (size_t)M * N; i++) {
        double u = urand();
        y[i] = u < -0.8 ? (REAL)NAN : u < -0.2 ? (REAL)0 : (REAL)u;  /* <= 0, NaN, > 0 */
    }
    for (int j = 0; j < N + 2; j++) sums[j] = (REAL)-777.0;
    fa_gemm_epilogue ep = {kind, bias, y, N, sums, -1};
    int done = CAT(fa_gemm_ep, SFX)('N', tb, M, N, K, t.A, t.lda, t.B, t.ldb, t.C, t.ldc, nt,
                                    &ep);
    CHECK(done == 1, "%s epilogue %d %c M=%d N=%d K=%d nt=%d: returned %d\n", NAME, kind, tb,
          M, N, K, nt, done);
    int summed = kind == FA_GEMM_EP_RELU_SLOPE && ep.summed == 1;
    CHECK(kind != FA_GEMM_EP_RELU_SLOPE || ep.summed == 1 || nt > 1,
          "%s epilogue: one thread did not sum\n", NAME);
    for (int j = 0; j < N; j++) {
        REAL s = 0;
        for (int i = 0; i < M; i++) {
            REAL c = F(chain)(&t, i, j), want;
            if (kind == FA_GEMM_EP_BIAS) {
                want = c + bias[j];
            } else if (kind == FA_GEMM_EP_BIAS_RELU) {
                REAL v = c + bias[j];
                want = v < 0 ? 0 : v;
            } else {
                want = c * (y[(size_t)i * N + j] > 0 ? (REAL)1 : (REAL)0);
                s += want;
            }
            REAL got = t.C[(size_t)i * t.ldc + j];
            CHECK(F(same)(got, want) && signbit(got) == signbit(want),
                  "%s epilogue %d %c M=%d N=%d K=%d nt=%d: C[%d,%d] = %a, want %a\n", NAME,
                  kind, tb, M, N, K, nt, i, j, (double)got, (double)want);
        }
        if (summed)
            CHECK(F(same)(sums[j], s), "%s epilogue sums M=%d N=%d K=%d: [%d] = %a, want %a\n",
                  NAME, M, N, K, j, (double)sums[j], (double)s);
    }
    if (!summed)
        for (int j = 0; j < N; j++)
            CHECK(sums[j] == (REAL)-777.0, "%s epilogue: sums written, not summed\n", NAME);
    CHECK(sums[N] == (REAL)-777.0 && sums[N + 1] == (REAL)-777.0,
          "%s epilogue: sums written past N\n", NAME);
    for (int i = 0; i < M; i++)
        for (int j = N; j < t.ldc; j++)
            CHECK(t.C[(size_t)i * t.ldc + j] == (REAL)-12345.0, "%s epilogue: padding\n", NAME);
    /* op(A) = A^T is declined, C untouched */
    memcpy(t.C, t.C0, ((size_t)M * t.ldc + 1) * sizeof(REAL));
    done = CAT(fa_gemm_ep, SFX)('T', tb, M, N, K, t.A, t.lda, t.B, t.ldb, t.C, t.ldc, nt, &ep);
    CHECK(done == 0 && memcmp(t.C, t.C0, (size_t)M * t.ldc * sizeof(REAL)) == 0,
          "%s epilogue with ta = T: returned %d\n", NAME, done);
    free(bias);
    free(y);
    free(sums);
    F(release)(&t);
    ++*count;
}

static void F(check_epilogues)(void) {
    static const int MS[] = {1, 3, 7, 8, 9, 17, 100, 147, 200};
    static const int NS[] = {1, 5, 10, 16, 17, 33, 100};
    static const int KS[] = {0, 1, 10, 64, 100, 300};
    long before = failures, count = 0;
    for (int kind = FA_GEMM_EP_BIAS_RELU; kind <= FA_GEMM_EP_BIAS; kind++)
        for (int o = 0; o < 2; o++)
            for (size_t a = 0; a < sizeof MS / sizeof MS[0]; a++)
                for (size_t b = 0; b < sizeof NS / sizeof NS[0]; b++)
                    for (size_t c = 0; c < sizeof KS / sizeof KS[0]; c++)
                        F(one_epilogue)(kind, o ? 'T' : 'N', MS[a], NS[b], KS[c], 1, &count);
    /* threads: products big enough to split (the sums are then the caller's) */
    for (int kind = FA_GEMM_EP_BIAS_RELU; kind <= FA_GEMM_EP_BIAS; kind++)
        for (int nt = 2; nt <= 3; nt++) {
            F(one_epilogue)(kind, 'N', 200, 256, 784, nt, &count);
            F(one_epilogue)(kind, 'T', 200, 256, 128, nt, &count);
        }
    printf("%s epilogues: %ld cases %s\n", NAME, count, failures == before ? "PASS" : "FAIL");
}

static void F(run)(void) {
    F(check_shapes)();
    F(check_specials)();
    F(check_degenerate)();
    F(check_threads)();
    F(check_epilogues)();
}

#undef CAT_
#undef CAT
#undef F
#endif
