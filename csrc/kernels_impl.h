/* The generic loops, instantiated for each activation of the table by macros
 * and for each dtype by including this file once per REAL/SFX (kernels.c).
 * Patterns: elementwise forward (in place or into out), elementwise backward,
 * per-feature (prelu), row-wise (softmax family), reducing (maxout), and the
 * fused layer and loss kernels the estimator runs. */

#include "act_scalar.h"

/* ------------------------------------------------------------------ */
/* Elementwise loops: three per activation, each multi-versioned.      */

/* bias_grad[j] += d[r, j] for r = 0 .. nr-1 in that order (nr <= FA_SUM_ROWS):
 * the rows of a group are added in one expression, left to right, so each
 * column sees the same sequence of roundings as a row-by-row loop, but
 * bias_grad is loaded and stored once per group: row by row, each row's
 * add waited for the previous row's store (2.7 us of a T1 step's 200 x 100
 * backward, 0.9 us in groups of four). */
#define FA_SUM_ROWS 4
FA_INLINE void FN(add_rows)(const REAL *restrict d, size_t ld, size_t nr, size_t ncols,
                            REAL *restrict bias_grad) {
    const REAL *restrict d0 = d;
    if (nr == 4) {
        const REAL *restrict d1 = d + ld, *restrict d2 = d + 2 * ld, *restrict d3 = d + 3 * ld;
        for (size_t j = 0; j < ncols; j++)
            bias_grad[j] = bias_grad[j] + d0[j] + d1[j] + d2[j] + d3[j];
    } else {
        for (size_t r = 0; r < nr; r++, d0 += ld)
            for (size_t j = 0; j < ncols; j++) bias_grad[j] += d0[j];
    }
}

#define GEN_LOOPS_ELEMENTWISE(name)                                                     \
    FA_TARGETS static void FN(fwd_inplace_##name)(REAL *buf, size_t n, PAR p) {          \
        _Pragma("GCC unroll 4")                                                          \
        for (size_t i = 0; i < n; i++) buf[i] = FN(fwd_##name)(buf[i], p);               \
    }                                                                                    \
    FA_TARGETS static void FN(fwd_copy_##name)(const REAL *restrict x,                   \
                                               REAL *restrict out, size_t n, PAR p) {    \
        _Pragma("GCC unroll 4")                                                          \
        for (size_t i = 0; i < n; i++) out[i] = FN(fwd_##name)(x[i], p);                 \
    }                                                                                    \
    FA_TARGETS static void FN(bias_fwd_##name)(REAL *restrict z, const REAL *restrict b, \
                                               size_t rows, size_t cols, PAR p) {        \
        for (size_t r = 0; r < rows; r++) {                                              \
            REAL *restrict zr = z + r * cols;                                            \
            for (size_t j = 0; j < cols; j++) zr[j] = FN(fwd_##name)(zr[j] + b[j], p);   \
        }                                                                                \
    }                                                                                    \
    FA_TARGETS static void FN(bwd_##name)(const REAL *restrict src,                      \
                                          REAL *restrict delta, size_t n, PAR p) {       \
        _Pragma("GCC unroll 4")                                                          \
        for (size_t i = 0; i < n; i++) delta[i] *= FN(slope_##name)(src[i], p);          \
    }                                                                                    \
    /* delta *= slope over columns [0, ncols) of rows ld apart, the column sums    */  \
    /* of the result added to bias_grad row after row, in one call (one per row   */  \
    /* cost more than the work of a short row).  The slope loop is bwd's, pragma   */  \
    /* included: fused with the sums, GCC contracted its scalar remainder unlike   */  \
    /* its vector body (gelu float32), so a column's bits would have depended on   */  \
    /* where a thread's columns start.                                             */  \
    FA_TARGETS static void FN(bwd_bias_##name)(const REAL *restrict src,                 \
                                               REAL *restrict delta,                     \
                                               REAL *restrict bias_grad, size_t rows,    \
                                               size_t ld, size_t ncols, PAR p) {         \
        for (size_t r0 = 0; r0 < rows; r0 += FA_SUM_ROWS) {                              \
            const size_t nr = rows - r0 < FA_SUM_ROWS ? rows - r0 : FA_SUM_ROWS;         \
            for (size_t r = r0; r < r0 + nr; r++) {                                      \
                const REAL *restrict sr = src + r * ld;                                  \
                REAL *restrict dr = delta + r * ld;                                      \
                _Pragma("GCC unroll 4")                                                  \
                for (size_t j = 0; j < ncols; j++) dr[j] *= FN(slope_##name)(sr[j], p);  \
            }                                                                            \
            FN(add_rows)(delta + r0 * ld, ld, nr, ncols, bias_grad);                     \
        }                                                                                \
    }
#define GEN_LOOPS_PER_FEATURE(name)
#define GEN_LOOPS_ROWWISE(name)
#define GEN_LOOPS_REDUCE(name)
#define GEN_LOOPS(ID, name, from, pattern) GEN_LOOPS_##pattern(name)
FA_ACTIVATION_TABLE(GEN_LOOPS)

typedef void (*FN(inplace_fn))(REAL *, size_t, PAR);
typedef void (*FN(copy_fn))(const REAL *restrict, REAL *restrict, size_t, PAR);
typedef void (*FN(bias_fn))(REAL *restrict, const REAL *restrict, size_t, size_t, PAR);
typedef void (*FN(bwd_fn))(const REAL *restrict, REAL *restrict, size_t, PAR);
typedef void (*FN(bwd_bias_fn))(const REAL *restrict, REAL *restrict, REAL *restrict, size_t,
                                size_t, size_t, PAR);

#define PTR_ELEMENTWISE(prefix, name) FN(prefix##_##name),
#define PTR_PER_FEATURE(prefix, name) NULL,
#define PTR_ROWWISE(prefix, name) NULL,
#define PTR_REDUCE(prefix, name) NULL,
#define PTR_INPLACE(ID, name, from, pattern) PTR_##pattern(fwd_inplace, name)
#define PTR_COPY(ID, name, from, pattern) PTR_##pattern(fwd_copy, name)
#define PTR_BIAS(ID, name, from, pattern) PTR_##pattern(bias_fwd, name)
#define PTR_BWD(ID, name, from, pattern) PTR_##pattern(bwd, name)
#define PTR_BWD_BIAS(ID, name, from, pattern) PTR_##pattern(bwd_bias, name)
static const FN(inplace_fn) FN(inplace_table)[] = {FA_ACTIVATION_TABLE(PTR_INPLACE)};
static const FN(copy_fn) FN(copy_table)[] = {FA_ACTIVATION_TABLE(PTR_COPY)};
static const FN(bias_fn) FN(bias_table)[] = {FA_ACTIVATION_TABLE(PTR_BIAS)};
static const FN(bwd_fn) FN(bwd_table)[] = {FA_ACTIVATION_TABLE(PTR_BWD)};
static const FN(bwd_bias_fn) FN(bwd_bias_table)[] = {FA_ACTIVATION_TABLE(PTR_BWD_BIAS)};

/* The loops for kind k called with parameters q.  Parameter values with a
 * cheaper exact form get loops of their own: swish and softplus with
 * beta = 1 (act_scalar.h, fwd_swish1 and fwd_softplus1).  LOOPS_FOR reads
 * the k and q of the function it is used in. */
GEN_LOOPS_ELEMENTWISE(swish1)
GEN_LOOPS_ELEMENTWISE(softplus1)
#define LOOPS_FOR(prefix, table)                                                        \
    (q.a == 1 && k == FA_SWISH ? FN(prefix##_swish1)                                    \
     : q.a == 1 && k == FA_SOFTPLUS ? FN(prefix##_softplus1) : FN(table)[k])
static FN(inplace_fn) FN(inplace_for)(fa_kind k, PAR q) {
    return LOOPS_FOR(fwd_inplace, inplace_table);
}
static FN(copy_fn) FN(copy_for)(fa_kind k, PAR q) { return LOOPS_FOR(fwd_copy, copy_table); }
static FN(bias_fn) FN(bias_for)(fa_kind k, PAR q) { return LOOPS_FOR(bias_fwd, bias_table); }
static FN(bwd_fn) FN(bwd_for)(fa_kind k, PAR q) { return LOOPS_FOR(bwd, bwd_table); }
static FN(bwd_bias_fn) FN(bwd_bias_for)(fa_kind k, PAR q) {
    return LOOPS_FOR(bwd_bias, bwd_bias_table);
}
#undef LOOPS_FOR

/* A store that straddles two cache lines costs two: a pass over a large
 * buffer first does the few elements before the written array's next
 * 64-byte boundary, so that the vector body stores whole lines.  NumPy
 * aligns large allocations to 16 bytes only; with y and delta so placed,
 * a memory-bound backward ran at 0.87x NumPy's `d *= y` before this. */
#define FA_ALIGN_MIN 4096
FA_INLINE size_t FN(align_head)(const REAL *p, size_t n) {
    if (n < FA_ALIGN_MIN) return 0;
    size_t mis = (size_t)((uintptr_t)p % 64);
    return mis % sizeof(REAL) ? 0 : (64 - mis) % 64 / sizeof(REAL);
}

static void FN(forward_range)(fa_kind k, PAR q, const REAL *x, REAL *out, size_t lo, size_t hi) {
    if (x == out)
        FN(inplace_for)(k, q)(out + lo, hi - lo, q);
    else
        FN(copy_for)(k, q)(x + lo, out + lo, hi - lo, q);
}

/* step compares x > threshold: with the threshold rounded down to REAL (the
 * largest REAL <= it) the comparison gives what it gives in exact arithmetic. */
static PAR FN(par_for)(fa_kind k, const fa_params *p) {
    PAR q = FN(par_from)(p);
    if (k == FA_STEP && p && (double)q.a > p->a) q.a = FA_NEXTDOWN(q.a);
    return q;
}

void FN(fa_forward)(fa_kind k, const fa_params *p, const REAL *x, REAL *out, size_t n,
                    int n_threads) {
    if (k == FA_IDENTITY && x == out) return;
    PAR q = FN(par_for)(k, p);
    size_t h = FN(align_head)(out, n);
    if (h) {
        FN(forward_range)(k, q, x, out, 0, h);
        x += h, out += h, n -= h;
    }
    int nt = fa_threads_for(FA_FWD_WORK(k, n), n_threads);
    if (nt <= 1) {
        FN(forward_range)(k, q, x, out, 0, n);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++)
        FN(forward_range)(k, q, x, out, fa_chunk(n, nt, t), fa_chunk(n, nt, t + 1));
}

void FN(fa_backward)(fa_kind k, const fa_params *p, const REAL *src, REAL *delta, size_t n,
                     int n_threads) {
    if (k == FA_IDENTITY) return;
    PAR q = FN(par_from)(p);
    size_t h = FN(align_head)(delta, n);
    if (h) {
        FN(bwd_for)(k, q)(src, delta, h, q);
        src += h, delta += h, n -= h;
    }
    int nt = fa_threads_for(FA_BWD_WORK(k, n), n_threads);
    if (nt <= 1) {
        FN(bwd_for)(k, q)(src, delta, n, q);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        size_t lo = fa_chunk(n, nt, t), hi = fa_chunk(n, nt, t + 1);
        FN(bwd_for)(k, q)(src + lo, delta + lo, hi - lo, q);
    }
}

/* ------------------------------------------------------------------ */
/* Reductions with a fixed 16-lane order: GCC vectorizes them without   */
/* -ffast-math, and the result is the same on every instruction set.    */

#define FA_LANES 16

/* the halves added pairwise (lanes k and k + 8, then k and k + 4, ...), each
 * level into a fresh array so that GCC makes each one vector instruction:
 * folded in place, the levels went through the stack as scalar loads and
 * stores, ~25% of a softmax over 100-wide rows.  row_max folds the same way. */
_Static_assert(FA_LANES == 16, "fold_lanes and row_max fold exactly 16 lanes");
FA_INLINE REAL FN(fold_lanes)(const REAL *acc) {
    REAL h8[8], h4[4];
    for (int k = 0; k < 8; k++) h8[k] = acc[k] + acc[k + 8];
    for (int k = 0; k < 4; k++) h4[k] = h8[k] + h8[k + 4];
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

/* The remainder of a row (n % FA_LANES elements) takes the row's last whole
 * block, which overlaps elements already done: a maximum may see them twice,
 * a sum masks them out (lanes below `skip`).  The remainder then runs at the
 * vector width: a scalar remainder loop cost more than the rest of a
 * 100-wide row.  Rows shorter than a block (n < FA_LANES) go element by
 * element. */
FA_INLINE size_t FN(overlap_skip)(size_t n) { return FA_LANES - n % FA_LANES; }

FA_INLINE REAL FN(row_sum)(const REAL *v, size_t n) {
    REAL acc[FA_LANES] = {0};
    size_t i = 0;
    for (; i + FA_LANES <= n; i += FA_LANES)
        for (int k = 0; k < FA_LANES; k++) acc[k] += v[i + k];
    if (i < n && n >= FA_LANES) {
        const REAL *last = v + n - FA_LANES;
        size_t skip = FN(overlap_skip)(n);
        for (int k = 0; k < FA_LANES; k++) acc[k] += (size_t)k < skip ? 0 : last[k];
    } else {
        for (int k = 0; i < n; i++, k++) acc[k] += v[i];
    }
    return FN(fold_lanes)(acc);
}

FA_INLINE REAL FN(row_dot)(const REAL *u, const REAL *v, size_t n) {
    REAL acc[FA_LANES] = {0};
    size_t i = 0;
    for (; i + FA_LANES <= n; i += FA_LANES)
        for (int k = 0; k < FA_LANES; k++) acc[k] += u[i + k] * v[i + k];
    if (i < n && n >= FA_LANES) {
        const REAL *lu = u + n - FA_LANES, *lv = v + n - FA_LANES;
        size_t skip = FN(overlap_skip)(n);
        for (int k = 0; k < FA_LANES; k++) acc[k] += (size_t)k < skip ? 0 : lu[k] * lv[k];
    } else {
        for (int k = 0; i < n; i++, k++) acc[k] += u[i] * v[i];
    }
    return FN(fold_lanes)(acc);
}

/* The 16 lanes of row_max as 32-byte GCC vectors (2 of float32, 4 of
 * float64): written as an array, the lanes were kept in 16 scalar registers
 * inside the softmax blocks (GCC's SLP gave up there).  Lane k sees the same
 * elements in the same order either way, so the result is the same. */
typedef REAL FN(vec32) __attribute__((vector_size(32)));
typedef __typeof__((FN(vec32)){0} > (FN(vec32)){0}) FN(mask32);
#define FA_VEC32_N ((int)(FA_LANES * sizeof(REAL) / 32))
FA_INLINE void FN(max_lanes)(FN(vec32) *acc, const REAL *v) {
    for (int q = 0; q < FA_VEC32_N; q++) {
        FN(vec32) x;
        memcpy(&x, v + q * (32 / sizeof(REAL)), sizeof x);
        FN(mask32) up = x > acc[q];   /* false for NaN: it is ignored */
        acc[q] = (FN(vec32))(((FN(mask32))x & up) | ((FN(mask32))acc[q] & ~up));
    }
}

/* max ignoring NaN (a NaN still reaches the output through the sum) */
FA_INLINE REAL FN(row_max)(const REAL *v, size_t n) {
    REAL acc[FA_LANES];
    size_t i = 0;
    if (n >= FA_LANES) {
        FN(vec32) a[FA_VEC32_N];
        for (int q = 0; q < FA_VEC32_N; q++) a[q] = (FN(vec32)){0} - (REAL)INFINITY;
        for (; i + FA_LANES <= n; i += FA_LANES) FN(max_lanes)(a, v + i);
        if (i < n) FN(max_lanes)(a, v + n - FA_LANES);
        memcpy(acc, a, sizeof acc);
    } else {
        for (int k = 0; k < FA_LANES; k++) acc[k] = -(REAL)INFINITY;
        for (int k = 0; i < n; i++, k++) acc[k] = v[i] > acc[k] ? v[i] : acc[k];
    }
    REAL h8[8], h4[4];
    for (int k = 0; k < 8; k++) h8[k] = acc[k + 8] > acc[k] ? acc[k + 8] : acc[k];
    for (int k = 0; k < 4; k++) h4[k] = h8[k + 4] > h8[k] ? h8[k + 4] : h8[k];
    REAL m0 = h4[2] > h4[0] ? h4[2] : h4[0], m1 = h4[3] > h4[1] ? h4[3] : h4[1];
    return m1 > m0 ? m1 : m0;
}

/* ------------------------------------------------------------------ */
/* Softmax family along rows.                                          */

/* e^(a - b) with the rounding error of a - b fed back (two-sum):
 * e^(d + err) = e^d (1 + err).  A difference d of size |d| rounded would
 * otherwise cost |d| / 2 ulp, too much far in the tail.  b is always the
 * row's maximum, so d <= 0 (or NaN) and the one-sided EXP_SCALED serves:
 * one power-of-two scaling instead of EXP's two-factor one, a subnormal
 * result still rounded once (softmax / log_softmax 100k: 0.96x the time). */
FA_INLINE REAL FN(exp_diff)(REAL a, REAL b) {
    REAL d = a - b;
    REAL bb = a - d;
    REAL err = (a - (d + bb)) + (bb - b);
    REAL e = EXP_SCALED(d) * EXP_UNSCALE;
    return FN(sel_)(e == 0, 0, e + e * err); /* also keeps inf - inf out */
}

/* out_i = e^(x_i - m), returns their sum (lanes as row_sum); x may equal out.
 * The overlapping last block (see row_sum) is computed first, from x as it
 * was, and stored last: its overlap gets the same values again. */
FA_INLINE REAL FN(exp_shifted)(const REAL *x, REAL *out, size_t n, REAL m) {
    REAL acc[FA_LANES] = {0}, last[FA_LANES], last_acc[FA_LANES] = {0};
    int overlap = n % FA_LANES && n >= FA_LANES;
    if (overlap) {
        size_t skip = FN(overlap_skip)(n);
        for (int k = 0; k < FA_LANES; k++) {
            last[k] = FN(exp_diff)(x[n - FA_LANES + k], m);
            last_acc[k] = (size_t)k < skip ? 0 : last[k];
        }
    }
    size_t i = 0;
    for (; i + FA_LANES <= n; i += FA_LANES)
        for (int k = 0; k < FA_LANES; k++) {
            REAL e = FN(exp_diff)(x[i + k], m);
            out[i + k] = e;
            acc[k] += e;
        }
    if (overlap) {
        for (int k = 0; k < FA_LANES; k++) {
            out[n - FA_LANES + k] = last[k];
            acc[k] += last_acc[k];
        }
    } else {
        for (int k = 0; i < n; i++, k++) {
            out[i] = FN(exp_diff)(x[i], m);
            acc[k] += out[i];
        }
    }
    return FN(fold_lanes)(acc);
}

/* log sum_i e^(x_i - m) = log1p(rest): the terms where x equals its maximum
 * m are exactly 1, so they are counted instead of summed, and rest is the sum
 * of the others plus (count - 1), exact integers.  log of a rounded sum near 1
 * would keep only a few correct digits.  One vectorizable pass, no search
 * for the maximum's index.  (An all-NaN or all -inf row gets NaN terms, which
 * gives the NaN such rows deserve.)  The selects are written as arithmetic
 * (e - e top, top in {0, 1}; e is finite or NaN) so that GCC vectorizes;
 * lanes below `skip` are the overlap of the last block (see row_sum). */
FA_INLINE void FN(sum_exp_block)(const REAL *x, REAL m, size_t skip, REAL *acc, REAL *ties) {
    for (int k = 0; k < FA_LANES; k++) {
        REAL top = (REAL)(x[k] == m);
        REAL keep = (REAL)((size_t)k >= skip);
        REAL e = FN(exp_diff)(x[k], m);
        acc[k] += keep * (e - e * top);
        ties[k] += keep * top;
    }
}
FA_INLINE REAL FN(sum_exp_below_max)(const REAL *x, size_t n, REAL m) {
    REAL acc[FA_LANES] = {0}, ties[FA_LANES] = {0};
    size_t i = 0;
    for (; i + FA_LANES <= n; i += FA_LANES) FN(sum_exp_block)(x + i, m, 0, acc, ties);
    if (i < n && n >= FA_LANES) {
        FN(sum_exp_block)(x + n - FA_LANES, m, FN(overlap_skip)(n), acc, ties);
    } else {
        for (int k = 0; i < n; i++, k++) {
            REAL top = (REAL)(x[i] == m);
            REAL e = FN(exp_diff)(x[i], m);
            acc[k] += e - e * top;
            ties[k] += top;
        }
    }
    REAL count = FN(fold_lanes)(ties);
    return FN(fold_lanes)(acc) + (count > 0 ? count - 1 : 0);
}

/* the first index where x equals m (n if none) */
FA_INLINE size_t FN(index_of)(const REAL *x, size_t n, REAL m) {
    size_t i = 0;
    while (i < n && !(x[i] == m)) i++;
    return i;
}

FA_INLINE REAL FN(row_sum_except)(const REAL *v, size_t n, size_t top) {
    REAL acc[FA_LANES] = {0};
    size_t i = 0;
    for (; i + FA_LANES <= n; i += FA_LANES)
        for (int k = 0; k < FA_LANES; k++) acc[k] += i + k == top ? 0 : v[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += i == top ? 0 : v[i];
    return FN(fold_lanes)(acc);
}

/* A row holding +inf: the limit puts equal mass on the +inf entries. */
static size_t FN(count_posinf)(const REAL *x, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += x[i] == (REAL)INFINITY;
    return c;
}

/* a NaN anywhere makes a whole softmax row NaN (the sum sees it otherwise) */
static int FN(row_has_nan)(const REAL *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != x[i]) return 1;
    return 0;
}

/* Rows whose maximum is +inf, by the limit: the +inf entries share the mass
 * (or log of it) equally, a NaN anywhere makes the whole row NaN.  Rare, so
 * kept out of the vectorized row loops. */
static void FN(softmax_posinf_row)(const REAL *x, REAL *out, size_t n, int log_form) {
    if (FN(row_has_nan)(x, n)) {
        for (size_t i = 0; i < n; i++) out[i] = (REAL)NAN;
        return;
    }
    size_t c = FN(count_posinf)(x, n);
    REAL on_top = log_form ? -(REAL)log((double)c) : (REAL)1 / (REAL)c;
    REAL below = log_form ? -(REAL)INFINITY : 0;
    for (size_t i = 0; i < n; i++) out[i] = x[i] == (REAL)INFINITY ? on_top : below;
}

FA_INLINE void FN(softmax_row)(const REAL *x, REAL *out, size_t n) {
    REAL m = FN(row_max)(x, n);
    if (m == (REAL)INFINITY) {
        FN(softmax_posinf_row)(x, out, n, 0);
        return;
    }
    REAL s = FN(exp_shifted)(x, out, n, m);
    for (size_t i = 0; i < n; i++) out[i] /= s;
}

FA_INLINE void FN(log_softmax_row)(const REAL *x, REAL *out, size_t n) {
    REAL m = FN(row_max)(x, n);
    if (m == (REAL)INFINITY) {
        FN(softmax_posinf_row)(x, out, n, 1);
        return;
    }
    /* summed without storing: x may be out */
    /* log1p in double, inlined (a libm call per row cost 20 ns) */
    REAL ls = (REAL)fa_log1p_f64((double)FN(sum_exp_below_max)(x, n, m));
    for (size_t i = 0; i < n; i++) out[i] = (x[i] - m) - ls;
}

FA_INLINE void FN(softmax_backward_row)(const REAL *y, REAL *d, size_t n) {
    REAL dot = FN(row_dot)(d, y, n);
    for (size_t i = 0; i < n; i++) d[i] = y[i] * (d[i] - dot);
}

FA_INLINE void FN(log_softmax_backward_row)(const REAL *y, REAL *d, size_t n) {
    REAL s = FN(row_sum)(d, n);
    for (size_t i = 0; i < n; i++) d[i] -= EXP(y[i]) * s;
}

/* Rows of up to BLOCK_COLS (10 classes, a 100-wide layer) would spend much
 * of their time in per-row loop overheads and remainders, so they go in
 * blocks of at most SHORT_BLOCK elements: per-row scalars (max, sum,
 * log-sum) are reduced and broadcast into block-sized arrays, and the
 * exponentials and the final division or subtraction run as flat loops over
 * the block, vectorized across rows.  The reductions of short rows (at most
 * SHORT_COLS) run in sequence, longer ones in 16 lanes (row_sum).  A block
 * holding a +inf maximum goes row by row (the limit rules of
 * softmax_posinf_row); nothing is written before that is known. */
#define SHORT_COLS 32
#define BLOCK_COLS 256
/* The backward passes are one reduction and one flat pass, cheap enough that
 * the block's extra array traffic costs more than a row's overheads above
 * SHORT_COLS (A/B, softmax backward, 48- and 100-wide rows: 0.71-0.88x the
 * time; log_softmax backward 0.81-1.08x); the bits are the same, as the
 * block's row reductions above SHORT_COLS are the row path's. */
#define BLOCK_COLS_BWD SHORT_COLS
#define SHORT_BLOCK 1024

/* Reductions of a short row, in sequence: the 16-lane forms spend most of
 * their time folding a row of 10 classes (scalar stores into the lane array,
 * then vector loads: store-forwarding stalls).  sum of v_j over j != skip
 * (skip >= n: all of them); max ignoring NaN, as row_max.  Also used by the
 * fused cross-entropy below (rows of at most XENT_MAX_COLS). */
FA_INLINE REAL FN(short_sum)(const REAL *v, size_t n, size_t skip) {
    REAL s = 0;
    for (size_t j = 0; j < n; j++) s += j == skip ? 0 : v[j];
    return s;
}
FA_INLINE REAL FN(short_dot)(const REAL *u, const REAL *v, size_t n) {
    REAL s = 0;
    for (size_t j = 0; j < n; j++) s += u[j] * v[j];
    return s;
}
FA_INLINE REAL FN(short_max)(const REAL *v, size_t n) {
    REAL m = -(REAL)INFINITY;
    for (size_t j = 0; j < n; j++) m = v[j] > m ? v[j] : m;
    return m;
}

/* a block row's reductions: in sequence up to SHORT_COLS, in 16 lanes above */
FA_INLINE REAL FN(block_row_sum)(const REAL *v, size_t n) {
    return n <= SHORT_COLS ? FN(short_sum)(v, n, n) : FN(row_sum)(v, n);
}
FA_INLINE REAL FN(block_row_dot)(const REAL *u, const REAL *v, size_t n) {
    return n <= SHORT_COLS ? FN(short_dot)(u, v, n) : FN(row_dot)(u, v, n);
}
FA_INLINE REAL FN(block_row_max)(const REAL *v, size_t n) {
    return n <= SHORT_COLS ? FN(short_max)(v, n) : FN(row_max)(v, n);
}
FA_INLINE void FN(broadcast_rows)(REAL *rep, const REAL *per_row, size_t nb, size_t cols) {
    for (size_t r = 0; r < nb; r++)
        for (size_t j = 0; j < cols; j++) rep[r * cols + j] = per_row[r];
}

/* nb * cols <= SHORT_BLOCK; x may be out.  Rows whose maximum is +inf run
 * through the flat loops too (giving NaN there, no traps), then get their
 * limit from a copy taken first: a finite row's arithmetic never depends on
 * the other rows of its block (nor, so, on the thread count). */
FA_INLINE void FN(softmax_short_block)(const REAL *x, REAL *out, size_t nb, size_t cols,
                                       int log_form) {
    REAL per_row[SHORT_BLOCK], rep[SHORT_BLOCK], e[SHORT_BLOCK], aux[SHORT_BLOCK];
    REAL saved[SHORT_BLOCK];
    double lg[SHORT_BLOCK];
    size_t n = nb * cols;
    int any_inf = 0;
    for (size_t r = 0; r < nb; r++) {
        per_row[r] = FN(block_row_max)(x + r * cols, cols);
        if (per_row[r] == (REAL)INFINITY) {
            memcpy(saved + r * cols, x + r * cols, cols * sizeof(REAL));
            any_inf = 1;
        }
    }
    FN(broadcast_rows)(rep, per_row, nb, cols);
    if (!log_form) {
        for (size_t i = 0; i < n; i++) out[i] = FN(exp_diff)(x[i], rep[i]);
        for (size_t r = 0; r < nb; r++) per_row[r] = FN(block_row_sum)(out + r * cols, cols);
        FN(broadcast_rows)(aux, per_row, nb, cols);
        for (size_t i = 0; i < n; i++) out[i] /= aux[i];
    } else {
        /* as sum_exp_below_max: the maxima's terms counted, not summed */
        for (size_t i = 0; i < n; i++) {
            REAL top = (REAL)(x[i] == rep[i]);
            REAL ee = FN(exp_diff)(x[i], rep[i]);
            e[i] = ee - ee * top;
            aux[i] = top;
        }
        for (size_t r = 0; r < nb; r++) {
            REAL count = FN(block_row_sum)(aux + r * cols, cols);
            REAL rest = FN(block_row_sum)(e + r * cols, cols);
            lg[r] = (double)(rest + (count > 0 ? count - 1 : 0));
        }
        for (size_t r = 0; r < nb; r++) lg[r] = fa_log1p_f64(lg[r]);
        for (size_t r = 0; r < nb; r++) per_row[r] = (REAL)lg[r];
        FN(broadcast_rows)(aux, per_row, nb, cols);
        for (size_t i = 0; i < n; i++) out[i] = (x[i] - rep[i]) - aux[i];
    }
    if (any_inf)
        for (size_t r = 0; r < nb; r++)
            if (rep[r * cols] == (REAL)INFINITY)
                FN(softmax_posinf_row)(saved + r * cols, out + r * cols, cols, log_form);
}

/* backward of short rows, blocked the same way */
FA_INLINE void FN(softmax_backward_short_block)(const REAL *y, REAL *d, size_t nb, size_t cols,
                                                int log_form) {
    REAL per_row[SHORT_BLOCK], rep[SHORT_BLOCK];
    size_t n = nb * cols;
    for (size_t r = 0; r < nb; r++)
        per_row[r] = log_form ? FN(block_row_sum)(d + r * cols, cols)
                              : FN(block_row_dot)(d + r * cols, y + r * cols, cols);
    FN(broadcast_rows)(rep, per_row, nb, cols);
    if (log_form)
        for (size_t i = 0; i < n; i++) d[i] -= EXP(y[i]) * rep[i];
    else
        for (size_t i = 0; i < n; i++) d[i] = y[i] * (d[i] - rep[i]);
}

/* A block of rows per call, multi-versioned as a whole: the row helpers are
 * inlined and vectorized at the width of the running CPU (called one row at
 * a time, each helper went through the clone dispatcher, and the row
 * functions themselves ran at the baseline width). */
#define GEN_ROWS(name, a_type, b_type, short_block, log_form, block_cols)                  \
    FA_TARGETS static void FN(name##_rows)(a_type a, b_type b, size_t rows, size_t cols) { \
        if (cols <= (block_cols) && cols > 0) {                                           \
            size_t nb = SHORT_BLOCK / cols;                                               \
            for (size_t r = 0; r < rows; r += nb) {                                       \
                if (nb > rows - r) nb = rows - r;                                         \
                short_block(a + r * cols, b + r * cols, nb, cols, log_form);              \
            }                                                                             \
            return;                                                                       \
        }                                                                                 \
        for (size_t r = 0; r < rows; r++) FN(name##_row)(a + r * cols, b + r * cols, cols); \
    }
GEN_ROWS(softmax, const REAL *, REAL *, FN(softmax_short_block), 0, BLOCK_COLS)
GEN_ROWS(log_softmax, const REAL *, REAL *, FN(softmax_short_block), 1, BLOCK_COLS)
GEN_ROWS(softmax_backward, const REAL *, REAL *, FN(softmax_backward_short_block), 0,
         BLOCK_COLS_BWD)
GEN_ROWS(log_softmax_backward, const REAL *, REAL *, FN(softmax_backward_short_block), 1,
         BLOCK_COLS_BWD)
#undef GEN_ROWS

/* Row-wise kernels: threads take whole rows, so a row's result never depends
 * on the thread count. */
#define GEN_ROWWISE(name, rows_fn, work)                                                  \
    void FN(fa_##name)(const REAL *a, REAL *b, size_t rows, size_t cols, int n_threads) {  \
        int nt = fa_threads_for(work, n_threads);                                         \
        if (nt <= 1) {                                                                    \
            rows_fn(a, b, rows, cols);                                                    \
            return;                                                                       \
        }                                                                                 \
        _Pragma("omp parallel for num_threads(nt) schedule(static)")                      \
        for (int t = 0; t < nt; t++) {                                                    \
            size_t r0 = rows * (size_t)t / (size_t)nt, r1 = rows * (size_t)(t + 1) / (size_t)nt; \
            rows_fn(a + r0 * cols, b + r0 * cols, r1 - r0, cols);                         \
        }                                                                                 \
    }
GEN_ROWWISE(softmax_forward, FN(softmax_rows), FA_FWD_WORK(FA_SOFTMAX, rows * cols))
GEN_ROWWISE(log_softmax_forward, FN(log_softmax_rows), FA_FWD_WORK(FA_LOG_SOFTMAX, rows * cols))
GEN_ROWWISE(softmax_backward, FN(softmax_backward_rows), FA_BWD_WORK(FA_SOFTMAX, rows * cols))
GEN_ROWWISE(log_softmax_backward, FN(log_softmax_backward_rows),
            FA_BWD_WORK(FA_LOG_SOFTMAX, rows * cols))
#undef GEN_ROWWISE

/* ------------------------------------------------------------------ */
/* prelu: one alpha per column.                                        */

/* The row loops sit inside the multi-versioned functions: called once per
 * row, the dispatch (an indirect call through the ifunc) and the vector
 * loop's set-up cost more than a 100-wide row (1000 x 100 float32 took
 * 1.5x leaky_relu's time). */
FA_TARGETS static void FN(prelu_rows)(const REAL *restrict x, REAL *restrict out,
                                      const REAL *restrict alpha, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++, x += cols, out += cols)
        for (size_t j = 0; j < cols; j++) out[j] = x[j] > 0 ? x[j] : alpha[j] * x[j];
}
FA_TARGETS static void FN(prelu_rows_inplace)(REAL *buf, const REAL *restrict alpha, size_t rows,
                                              size_t cols) {
    for (size_t r = 0; r < rows; r++, buf += cols)
        for (size_t j = 0; j < cols; j++) buf[j] = buf[j] > 0 ? buf[j] : alpha[j] * buf[j];
}

/* Rows whose width is not a multiple of 16 end in a remainder loop each,
 * which costs most of a narrow row.  Rows narrower than 256 are processed as
 * runs of whole rows spanning a multiple of 16 (at most FA_PRELU_TILE
 * elements), with alpha repeated to match: the same operation per element,
 * so the same results.  C timing, float32 in place, 1 thread: 10000 x 10
 * 0.19 -> 0.05 ns per element, 5000 x 20 0.13 -> 0.06.  The limit was 64
 * until a buffer outside the L2 cache showed the remainders' cost: 10000 x
 * 100 float32 took 4x the roofline, twice float64's time (perf: most samples
 * on the row loop's stores and its scalar remainder); as runs 198 -> 47 us
 * (A/B in one process, AVX-512), 10000 x 65 and 4000 x 250 0.56x and 0.70x
 * the time, 1000 x 100 0.77x. */
#define FA_PRELU_TILE 2048
/* rows [r0, r1), in place when x is out */
static void FN(prelu_block)(const REAL *x, REAL *out, const REAL *alpha, size_t r0, size_t r1,
                            size_t cols) {
    if (x == out)
        FN(prelu_rows_inplace)(out + r0 * cols, alpha, r1 - r0, cols);
    else
        FN(prelu_rows)(x + r0 * cols, out + r0 * cols, alpha, r1 - r0, cols);
}
void FN(fa_prelu_forward)(const REAL *x, REAL *out, const REAL *alpha, size_t rows,
                          size_t cols, int n_threads) {
    int nt = fa_threads_for(FA_FWD_WORK(FA_PRELU, rows * cols), n_threads);
    size_t span = cols;
    while (span % 16 && span <= FA_PRELU_TILE) span += cols;
    REAL tiled[FA_PRELU_TILE];
    if (cols < 256 && cols % 16 && span <= FA_PRELU_TILE && rows * cols >= 2 * span) {
        for (size_t i = 0; i < span; i++) tiled[i] = alpha[i % cols];
        const size_t n = rows * cols, runs = n / span, tail = n - runs * span;
        alpha = tiled;
        if (tail) FN(prelu_block)(x + runs * span, out + runs * span, alpha, 0, 1, tail);
        rows = runs;
        cols = span;
    }
    if (rows < (size_t)nt) nt = (int)rows;
    if (nt <= 1) {  /* not through OpenMP, whose team set-up costs ~350 ns even for one */
        FN(prelu_block)(x, out, alpha, 0, rows, cols);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++)
        FN(prelu_block)(x, out, alpha, rows * (size_t)t / (size_t)nt,
                        rows * (size_t)(t + 1) / (size_t)nt, cols);
}

FA_TARGETS static void FN(prelu_bwd_rows)(const REAL *restrict y, REAL *restrict d,
                                          const REAL *restrict alpha, REAL *restrict ga,
                                          size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++, y += cols, d += cols)
        for (size_t j = 0; j < cols; j++) {
            int neg = !(y[j] > 0);
            if (ga) ga[j] += neg ? d[j] * (y[j] / alpha[j]) : 0;
            d[j] *= neg ? alpha[j] : 1;
        }
}

void FN(fa_prelu_backward)(const REAL *y, REAL *delta, const REAL *alpha, REAL *grad_alpha,
                           size_t rows, size_t cols) {
    if (grad_alpha)
        for (size_t j = 0; j < cols; j++) grad_alpha[j] = 0;
    FN(prelu_bwd_rows)(y, delta, alpha, grad_alpha, rows, cols);
}

/* ------------------------------------------------------------------ */
/* maxout: y_j = max_p x_(j k + p); the first maximal piece wins ties,  */
/* a NaN piece wins over everything (so NaN propagates).  Outputs of all */
/* rows are contiguous, so both loops run over n = rows * m outputs; the */
/* piece loop is outermost so the inner loop vectorizes across outputs,  */
/* with k a compile-time constant for the usual 2..4 pieces.             */

/* bitwise & and |, not && and ||: no branches, so the loops if-convert and
 * vectorize (random data made the branches mispredict half the time) */
FA_INLINE int FN(maxout_takes)(REAL best, REAL v) {
    return (best == best) & ((v > best) | (v != v));
}

#define GEN_MAXOUT_FWD_ANY(suffix, K)                                                      \
    FA_TARGETS static void FN(maxout_fwd_##suffix)(const REAL *restrict x,                  \
                                                   REAL *restrict out, size_t n, size_t k) { \
        (void)k;                                                                          \
        for (size_t j = 0; j < n; j++) out[j] = x[j * (K)];                              \
        for (size_t p = 1; p < (K); p++)                                                  \
            for (size_t j = 0; j < n; j++) {                                              \
                REAL v = x[j * (K) + p];                                                  \
                out[j] = FN(maxout_takes)(out[j], v) ? v : out[j];                        \
            }                                                                             \
    }
#define GEN_MAXOUT_BWD_ANY(suffix, K)                                                      \
    FA_TARGETS static void FN(maxout_bwd_##suffix)(const REAL *restrict x,                  \
                                                   const REAL *restrict d,                 \
                                                   REAL *restrict g, size_t n, size_t k) {  \
        (void)k;                                                                          \
        for (size_t j = 0; j < n; j++) {                                                  \
            REAL best = x[j * (K)];                                                       \
            REAL arg = 0; /* a REAL index keeps the loop in one lane width */             \
            for (size_t p = 1; p < (K); p++) {                                            \
                REAL v = x[j * (K) + p];                                                  \
                int take = FN(maxout_takes)(best, v);                                     \
                best = take ? v : best;                                                   \
                arg = take ? (REAL)p : arg;                                               \
            }                                                                             \
            for (size_t p = 0; p < (K); p++) g[j * (K) + p] = (REAL)p == arg ? d[j] : 0;   \
        }                                                                                 \
    }
/* Two pieces, the common case, written out as one pass each: GCC vectorizes
 * these forms (the general ones above stay scalar for K = 2). */
FA_TARGETS static void FN(maxout_fwd_k2)(const REAL *restrict x, REAL *restrict out,
                                         size_t n, size_t k) {
    (void)k;
    for (size_t j = 0; j < n; j++) {
        REAL a = x[2 * j], b = x[2 * j + 1];
        out[j] = FN(maxout_takes)(a, b) ? b : a;
    }
}
FA_TARGETS static void FN(maxout_bwd_k2)(const REAL *restrict x, const REAL *restrict d,
                                         REAL *restrict g, size_t n, size_t k) {
    (void)k;
    for (size_t j = 0; j < n; j++) {
        int second = FN(maxout_takes)(x[2 * j], x[2 * j + 1]);
        REAL dj = d[j];
        g[2 * j] = second ? 0 : dj;
        g[2 * j + 1] = second ? dj : 0;
    }
}
GEN_MAXOUT_FWD_ANY(k3, 3)
GEN_MAXOUT_BWD_ANY(k3, 3)
GEN_MAXOUT_FWD_ANY(k4, 4)
GEN_MAXOUT_BWD_ANY(k4, 4)
GEN_MAXOUT_FWD_ANY(kn, k)
GEN_MAXOUT_BWD_ANY(kn, k)
#undef GEN_MAXOUT_FWD_ANY
#undef GEN_MAXOUT_BWD_ANY

void FN(fa_maxout_forward)(const REAL *x, REAL *out, size_t rows, size_t m, size_t k) {
    size_t n = rows * m;
    if (k == 2) FN(maxout_fwd_k2)(x, out, n, k);
    else if (k == 3) FN(maxout_fwd_k3)(x, out, n, k);
    else if (k == 4) FN(maxout_fwd_k4)(x, out, n, k);
    else FN(maxout_fwd_kn)(x, out, n, k);
}

void FN(fa_maxout_backward)(const REAL *x, const REAL *delta, REAL *grad_x, size_t rows,
                            size_t m, size_t k) {
    size_t n = rows * m;
    if (k == 2) FN(maxout_bwd_k2)(x, delta, grad_x, n, k);
    else if (k == 3) FN(maxout_bwd_k3)(x, delta, grad_x, n, k);
    else if (k == 4) FN(maxout_bwd_k4)(x, delta, grad_x, n, k);
    else FN(maxout_bwd_kn)(x, delta, grad_x, n, k);
}

/* ------------------------------------------------------------------ */
/* Fused layer kernels.                                                */

/* rows [r0, r1) of bias_act_forward.  All rows in one multi-versioned call
 * (a call per row cost more than a 100-wide row's work), each row through
 * the same loop, vector body and remainder alike.  (Narrow rows laid end to
 * end as wider ones ran faster, but then the same column of two rows could
 * fall in the vector body and in the scalar remainder, whose FMA
 * contractions differ for gelu float32: a row's bits would have depended on
 * its position, so on the thread count.) */
static void FN(bias_act_rows)(fa_kind k, PAR q, REAL *z, const REAL *bias, REAL *saved_input,
                              size_t r0, size_t r1, size_t cols) {
    int rowwise = k == FA_SOFTMAX || k == FA_LOG_SOFTMAX;
    if (saved_input || rowwise) {
        FN(bias_table)[FA_IDENTITY](z + r0 * cols, bias, r1 - r0, cols, q);
        if (saved_input)
            memcpy(saved_input + r0 * cols, z + r0 * cols, (r1 - r0) * cols * sizeof(REAL));
        if (!rowwise) FN(inplace_for)(k, q)(z + r0 * cols, (r1 - r0) * cols, q);
    } else {
        FN(bias_for)(k, q)(z + r0 * cols, bias, r1 - r0, cols, q);
    }
    /* the softmax family on the whole range at once (short rows are blocked) */
    if (k == FA_SOFTMAX) FN(softmax_rows)(z + r0 * cols, z + r0 * cols, r1 - r0, cols);
    if (k == FA_LOG_SOFTMAX) FN(log_softmax_rows)(z + r0 * cols, z + r0 * cols, r1 - r0, cols);
}

void FN(fa_bias_act_forward)(fa_kind k, const fa_params *p, REAL *z, const REAL *bias,
                             REAL *saved_input, size_t rows, size_t cols, int n_threads) {
    PAR q = FN(par_for)(k, p);
    int nt = fa_threads_for(FA_FWD_WORK(k, rows * cols), n_threads);
    if (nt <= 1) {
        FN(bias_act_rows)(k, q, z, bias, saved_input, 0, rows, cols);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++)
        FN(bias_act_rows)(k, q, z, bias, saved_input, rows * (size_t)t / (size_t)nt,
                          rows * (size_t)(t + 1) / (size_t)nt, cols);
}

/* Threads split the columns, so every bias-gradient entry is summed over the
 * rows in the same order whatever the thread count. */
void FN(fa_act_backward_bias_grad)(fa_kind k, const fa_params *p, const REAL *src, REAL *delta,
                                   REAL *bias_grad, size_t rows, size_t cols, int n_threads) {
    PAR q = FN(par_from)(p);
    int nt = fa_threads_for(FA_BWD_WORK(k, rows * cols), n_threads);
    if ((size_t)nt > cols / 64) nt = (int)(cols / 64);
    if (nt <= 1) {  /* not through OpenMP, whose team set-up costs ~350 ns even for one */
        for (size_t j = 0; j < cols; j++) bias_grad[j] = 0;
        FN(bwd_bias_for)(k, q)(src, delta, bias_grad, rows, cols, cols, q);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        size_t c0 = fa_chunk(cols, nt, t), c1 = fa_chunk(cols, nt, t + 1);
        for (size_t j = c0; j < c1; j++) bias_grad[j] = 0;
        FN(bwd_bias_for)(k, q)(src + c0, delta + c0, bias_grad + c0, rows, cols, c1 - c0, q);
    }
}

/* ------------------------------------------------------------------ */
/* Fused output layer + loss.                                          */

static double FN(weight_total)(const REAL *w, size_t rows) {
    if (!w) return (double)rows;
    double s = 0;
    for (size_t r = 0; r < rows; r++) s += w[r];
    return s;
}

/* A power of two the weights are multiplied by (exactly) before they meet
 * 1 / total: 1 when that is finite, else (a subnormal float64 total, whose
 * inverse overflows to inf, and inf * 0 = NaN) 2^1000.  The losses and
 * gradients are the same ratios w_r / total. */
FA_INLINE double FN(weight_scale)(double total) {
    return total > 0 && total < 0x1p-1000 ? 0x1p+1000 : 1.0;
}

/* A term t * v of a loss: exactly 0 where the target t is 0, whatever v
 * (v may be -inf: a -inf logit, or a logit difference that overflows). */
FA_INLINE double FN(target_times)(double t, double v) { return t == 0 ? 0 : t * v; }

/* The weighted loss of a row: a row of zero weight adds exactly 0, even when
 * its loss is infinite (a NaN loss, from NaN input, still shows). */
FA_INLINE double FN(weighted)(double w, double row_loss) {
    return w == 0 && row_loss == row_loss ? 0 : w * row_loss;
}

/* Softmax + cross-entropy of a row holding +inf (m = +inf), by the limit
 * softmax_row takes: the +inf entries share the mass equally, the others get
 * 0 (log p = -inf), and a NaN anywhere makes the whole row NaN.  Writes the
 * gradient (and proba) and returns the row's loss -sum_j t_j log p_j. */
static double FN(xent_posinf_row)(REAL *zr, const REAL *tr, REAL *proba, size_t n, REAL scale) {
    int has_nan = FN(row_has_nan)(zr, n);
    size_t c = FN(count_posinf)(zr, n);
    REAL share = (REAL)1 / (REAL)c;
    double log_c = log((double)c);
    double row_loss = has_nan ? (double)NAN : 0;
    for (size_t j = 0; j < n; j++) {
        int top = zr[j] == (REAL)INFINITY;
        row_loss += FN(target_times)((double)tr[j], top ? log_c : (double)INFINITY);
        REAL pj = has_nan ? (REAL)NAN : (top ? share : 0);
        if (proba) proba[j] = pj;
        zr[j] = scale * (pj - tr[j]);
    }
    return row_loss;
}

/* sum_j t_j (z_j - m) of a row (and sum_j t_j to *tsum), in double: the
 * differences are exact for float32.  A float64 difference can overflow
 * (finite logits of huge spread); then it is formed halved, which is exact
 * there, and t_j (z_j - m) / 2 doubled. */
FA_INLINE double FN(xent_target_term)(REAL z, REAL t, REAL m) {
    double zj = (double)z, tj = (double)t, md = (double)m;
    double d = zj - md;
    /* float32: d is exact, and infinite only where m is (+inf rows take
     * their limit; m = -inf leaves no finite z), where halving changes
     * nothing */
    if (sizeof(REAL) == sizeof(float)) return FN(target_times)(tj, d);
    /* bitwise |, selects on both sides: no branches (one-hot targets made
     * the branch on t unpredictable), and the block loop vectorizes */
    int plain = (d - d == 0) | (zj - zj != 0);
    double halved = 2 * FN(target_times)(tj, 0.5 * zj - 0.5 * md);
    return plain ? FN(target_times)(tj, d) : halved;
}

FA_INLINE double FN(xent_target_terms)(const REAL *zr, const REAL *tr, size_t cols, REAL m,
                                       double *tsum) {
    double tz = 0, ts = 0;
    for (size_t j = 0; j < cols; j++) {
        tz += FN(xent_target_term)(zr[j], tr[j], m);
        ts += (double)tr[j];
    }
    *tsum = ts;
    return tz;
}

#define XENT_BLOCK 2048
#define XENT_MAX_COLS 64

/* One row of softmax + cross-entropy: writes the gradient scale * (p - t)
 * over z (and p to proba_r) and returns the row's weighted loss.  Rows
 * wider than XENT_MAX_COLS go this way, and shorter ones only when
 * xent_block's scratch cannot be allocated. */
static double FN(xent_row)(REAL *zr, const REAL *tr, REAL *proba_r, size_t cols, double wr,
                           REAL scale) {
    int short_row = cols <= XENT_MAX_COLS;     /* the sums xent_block makes */
    REAL m = short_row ? FN(short_max)(zr, cols) : FN(row_max)(zr, cols);
    if (m == (REAL)INFINITY)
        return FN(weighted)(wr, FN(xent_posinf_row)(zr, tr, proba_r, cols, scale));
    double tsum, tz = FN(xent_target_terms)(zr, tr, cols, m, &tsum);
    size_t top = FN(index_of)(zr, cols, m);
    REAL s;
    double rest;
    if (short_row) {
        for (size_t j = 0; j < cols; j++) zr[j] = FN(exp_diff)(zr[j], m);
        s = FN(short_sum)(zr, cols, cols);
        rest = (double)FN(short_sum)(zr, cols, top);
    } else {
        s = FN(exp_shifted)(zr, zr, cols, m);
        rest = (double)FN(row_sum_except)(zr, cols, top);
    }
    double log_s = fa_log1p_f64(rest);
    REAL inv_s = 1 / s;
    for (size_t j = 0; j < cols; j++) {
        REAL pj = zr[j] * inv_s;
        if (proba_r) proba_r[j] = pj;
        zr[j] = scale * (pj - tr[j]);
    }
    return FN(weighted)(wr, tsum * log_s - tz);
}

/* Few classes (digits: 10) make a loop per row mostly remainder, and its
 * reductions chains of dependent operations, so rows go in blocks of at
 * most XENT_BLOCK elements, transposed into columns (zt[j * nb + r] =
 * z[r, j]): then every step, from the row's maximum to its gradient, is a
 * loop across the block's rows, vectorized, row r in lane r.  A row runs
 * through its own sequence of operations whatever its block and position,
 * so its bits depend on neither; a row holding +inf runs through the loops
 * too (giving NaN there, no traps), then takes its limit (xent_posinf_row)
 * from its saved column.  Adds the block's row losses to *loss in row order.
 * Scratch: zt, tt and et of XENT_BLOCK elements each. */
FA_INLINE void FN(xent_block)(REAL *zb, const REAL *tb, const REAL *wb, double wscale,
                              REAL *pb, size_t nb, size_t cols, double inv_total,
                              REAL scale_all, REAL *zt,
                              REAL *tt, REAL *et, double *loss) {
    REAL m[XENT_BLOCK / 2], top[XENT_BLOCK / 2], s[XENT_BLOCK / 2], rest[XENT_BLOCK / 2];
    REAL sc[XENT_BLOCK / 2];
    double tz[XENT_BLOCK / 2], tsum[XENT_BLOCK / 2];
    for (size_t j = 0; j < cols; j++) {
#pragma omp simd
        for (size_t r = 0; r < nb; r++) {
            zt[j * nb + r] = zb[r * cols + j];
            tt[j * nb + r] = tb[r * cols + j];
        }
    }
    /* the maximum (NaN ignored, as short_max) and the first index holding it
     * (an index as REAL: exact, and the lanes stay as wide as the data) */
    for (size_t r = 0; r < nb; r++) m[r] = -(REAL)INFINITY;
    for (size_t j = 0; j < cols; j++)
        for (size_t r = 0; r < nb; r++) {
            REAL v = zt[j * nb + r];
            m[r] = v > m[r] ? v : m[r];
        }
    for (size_t r = 0; r < nb; r++) top[r] = (REAL)cols;
    for (size_t j = cols; j-- > 0;)
        for (size_t r = 0; r < nb; r++) top[r] = zt[j * nb + r] == m[r] ? (REAL)j : top[r];
    /* sum_j t_j (z_j - m) and sum_j t_j, in double; the row's loss is then
     * tsum log(sum_j e_j) - tz */
    for (size_t r = 0; r < nb; r++) tz[r] = tsum[r] = 0;
    for (size_t j = 0; j < cols; j++)
        for (size_t r = 0; r < nb; r++) {
            tz[r] += FN(xent_target_term)(zt[j * nb + r], tt[j * nb + r], m[r]);
            tsum[r] += (double)tt[j * nb + r];
        }
    /* e_j = e^(z_j - m), their sum, and the sum but the top one (which is 1):
     * log(sum) = log1p(rest) */
    for (size_t j = 0; j < cols; j++)
        for (size_t r = 0; r < nb; r++) et[j * nb + r] = FN(exp_diff)(zt[j * nb + r], m[r]);
    for (size_t r = 0; r < nb; r++) s[r] = rest[r] = 0;
    for (size_t j = 0; j < cols; j++)
        for (size_t r = 0; r < nb; r++) {
            REAL v = et[j * nb + r];
            s[r] += v;
            rest[r] += (REAL)j == top[r] ? 0 : v;
        }
    for (size_t r = 0; r < nb; r++) s[r] = 1 / s[r];
    if (wb)
        for (size_t r = 0; r < nb; r++) sc[r] = (REAL)((double)wb[r] * wscale * inv_total);
    else
        for (size_t r = 0; r < nb; r++) sc[r] = scale_all;
    /* probabilities into et, the gradient scale * (p - t) into tt, then both
     * back to rows */
    for (size_t j = 0; j < cols; j++)
        for (size_t r = 0; r < nb; r++) {
            REAL e = et[j * nb + r];
            tt[j * nb + r] = sc[r] * (e * s[r] - tt[j * nb + r]);
            et[j * nb + r] = e * s[r];
        }
    for (size_t j = 0; j < cols; j++) {
#pragma omp simd
        for (size_t r = 0; r < nb; r++) zb[r * cols + j] = tt[j * nb + r];
    }
    if (pb)
        for (size_t j = 0; j < cols; j++) {
#pragma omp simd
            for (size_t r = 0; r < nb; r++) pb[r * cols + j] = et[j * nb + r];
        }
    /* the rows' losses, in a loop of their own so that log1p vectorizes (tz
     * is not needed once they are formed) */
    double *const row_losses = tz;
    for (size_t r = 0; r < nb; r++)
        row_losses[r] = tsum[r] * fa_log1p_f64((double)rest[r]) - tz[r];
    for (size_t r = 0; r < nb; r++) {
        double row_loss = row_losses[r];
        if (m[r] == (REAL)INFINITY) {
            REAL row[XENT_MAX_COLS];
            for (size_t j = 0; j < cols; j++) row[j] = zt[j * nb + r];
            row_loss = FN(xent_posinf_row)(row, tb + r * cols, pb ? pb + r * cols : NULL, cols,
                                           sc[r]);
            memcpy(zb + r * cols, row, cols * sizeof(REAL));
        }
        *loss += FN(weighted)(wb ? (double)wb[r] * wscale : 1.0, row_loss);
    }
}

FA_TARGETS double FN(fa_softmax_xent)(REAL *z, const REAL *t, const REAL *w, REAL *proba,
                                      size_t rows, size_t cols) {
    double total = FN(weight_total)(w, rows), wscale = FN(weight_scale)(total);
    total *= wscale;
    /* all weights zero: nothing to learn from, so loss and gradient are 0 */
    double inv_total = total > 0 ? 1.0 / total : 0.0;
    double loss = 0;
    REAL scale_all = (REAL)inv_total;
    size_t r = 0;
    REAL *scratch = cols >= 2 && cols <= XENT_MAX_COLS && rows > 0
                        ? (REAL *)malloc(3 * XENT_BLOCK * sizeof(REAL)) : NULL;
    if (scratch) {
        size_t nb = XENT_BLOCK / cols;          /* <= XENT_BLOCK / 2 rows */
        for (; r < rows; r += nb) {
            if (nb > rows - r) nb = rows - r;
            size_t off = r * cols;
            FN(xent_block)(z + off, t + off, w ? w + r : NULL, wscale,
                           proba ? proba + off : NULL, nb, cols, inv_total, scale_all, scratch,
                           scratch + XENT_BLOCK, scratch + 2 * XENT_BLOCK, &loss);
        }
        free(scratch);
    }
    for (; r < rows; r++) {
        double wr = w ? (double)w[r] * wscale : 1.0;
        loss += FN(xent_row)(z + r * cols, t + r * cols, proba ? proba + r * cols : NULL, cols,
                             wr, w ? (REAL)(wr * inv_total) : scale_all);
    }
    return loss * inv_total;
}

/* Logistic + binary cross-entropy is elementwise, so it runs flat over
 * chunks of BXENT_CHUNK elements (whatever the row length: a binary
 * classifier has rows of 1): each pass is a vectorized loop over the chunk.
 * A row's loss terms are then added in the row's order, as they would be
 * row by row, so neither the chunking nor the thread count changes a bit. */
#define BXENT_CHUNK 1024

/* -t log s - (1-t) log(1-s) = softplus(v) - t v
 *   = (1 - t) v + log1p(e^-|v|) for v > 0,  -t v + log1p(e^-|v|) else:
 * no cancellation of max(v, 0) against t v, and a term whose factor
 * (1 - t or t) is 0 adds exactly 0, also at v = +-inf */
FA_INLINE double FN(bxent_term)(REAL v, REAL t) {
    double vd = (double)v, tj = (double)t;
    double lin = v > 0 ? FN(target_times)(1 - tj, vd) : FN(target_times)(-tj, vd);
    return lin + (double)LOG1P_UNIT(EXP(-FN(fabs_)(v)));
}

FA_TARGETS double FN(fa_logistic_bxent)(REAL *z, const REAL *t, const REAL *w, REAL *proba,
                                        size_t rows, size_t cols) {
    double total = FN(weight_total)(w, rows), wscale = FN(weight_scale)(total);
    total *= wscale;
    /* all weights zero: nothing to learn from, so loss and gradient are 0 */
    double inv_total = total > 0 ? 1.0 / total : 0.0;
    double loss = 0, row_loss = 0;
    REAL scale_all = (REAL)inv_total;
    double term[BXENT_CHUNK];
    REAL scale[BXENT_CHUNK];  /* with weights: each element's row's gradient scale */
    size_t n = rows * cols, r = 0, j = 0;   /* z[i0] is element j of row r */
    for (size_t i0 = 0; i0 < n; i0 += BXENT_CHUNK) {
        const size_t len = n - i0 < BXENT_CHUNK ? n - i0 : BXENT_CHUNK;
        REAL *zc = z + i0;
        const REAL *tc = t + i0;
        for (size_t i = 0; i < len; i++) term[i] = FN(bxent_term)(zc[i], tc[i]);
        /* the losses, row by row in order; the rows' gradient scales */
        for (size_t i = 0; i < len;) {
            size_t seg = cols - j < len - i ? cols - j : len - i;
            for (size_t k = 0; k < seg; k++) row_loss += term[i + k];
            if (w) {
                REAL sc = (REAL)((double)w[r] * wscale * inv_total);
                for (size_t k = 0; k < seg; k++) scale[i + k] = sc;
            }
            i += seg;
            j += seg;
            if (j == cols) {
                loss += FN(weighted)(w ? (double)w[r] * wscale : 1.0, row_loss);
                row_loss = 0;
                j = 0;
                r++;
            }
        }
        for (size_t i = 0; i < len; i++) {
            REAL p = SIGMOID(zc[i]);
            if (proba) proba[i0 + i] = p;
            zc[i] = (w ? scale[i] : scale_all) * (p - tc[i]);
        }
    }
    return loss * inv_total;
}

#undef GEN_LOOPS_ELEMENTWISE
#undef GEN_LOOPS_PER_FEATURE
#undef GEN_LOOPS_ROWWISE
#undef GEN_LOOPS_REDUCE
#undef GEN_LOOPS
#undef PTR_ELEMENTWISE
#undef PTR_PER_FEATURE
#undef PTR_ROWWISE
#undef PTR_REDUCE
#undef PTR_INPLACE
#undef PTR_COPY
#undef PTR_BIAS
#undef PTR_BWD
#undef PTR_BWD_BIAS
#undef GEN_ROWWISE
#undef XENT_BLOCK
#undef BXENT_CHUNK
#undef XENT_MAX_COLS
#undef SHORT_COLS
#undef BLOCK_COLS
#undef SHORT_BLOCK
#undef GEN_ROWWISE_BWD
#undef FA_VEC32_N
#undef FN
#undef PAR
#undef EXP
#undef EXPM1
#undef LOG1P
#undef LOG1P_UNIT
#undef TANH
#undef SIGMOID
#undef ERFC_CORR
