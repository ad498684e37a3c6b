/* The GEMM of gemm.h for one dtype and one instruction set: included by
 * gemm.c once per REAL and ISA, with that pair's vector macros (VT, VL, V_*),
 * the 256-bit transpose macros for packing B^T (TVT, TVL, TV_*), MR, FN and
 * the target attributes (GEMM_TARGET, GEMM_INLINE); it undefines all of
 * those but REAL and the TV_* at its end.  See gemm.h for the design. */

#define FA_GEMM_PRAGMA_(x) _Pragma(#x)
#define FA_GEMM_PRAGMA(x) FA_GEMM_PRAGMA_(x)
#define NR (2 * VL) /* columns of a register tile and of a packed panel */
/* MR: rows of a register tile, defined by gemm.c */

typedef struct {
    int at;                 /* op(A) = A^T */
    int M, N, K;
    REAL alpha, beta;
    const REAL *A, *B;
    REAL *C;
    ptrdiff_t lda, ldb, ldc;
    const REAL *bp;         /* packed panels of op(B), panel p at bp + p*K*NR, or NULL */
    const REAL *edge;       /* the packed partial last panel when bp is NULL, or NULL */
    int kc, nc;             /* K block, N block (a multiple of NR unless it is N) */
    int ep;                 /* FA_GEMM_EP_* (gemm.h) */
    const REAL *ebias;      /* BIAS_RELU: the bias */
    const REAL *ey;         /* RELU_SLOPE: relu's output, row stride ldey */
    ptrdiff_t ldey;
    REAL *esum;             /* RELU_SLOPE with sums: the column sums */
    int esums;              /* 1: add the results' columns into esum */
} FN(gemm_ctx);

/* ---------------------------------------------------------------------- */
/* Register tiles: C[0:rows, p*NR : p*NR + NV*VL] for the np panels p of one
 * row tile, over k in [0, kc).  NV, CM (last vector masked on C) and AT are
 * constants after inlining (the masked vector has nrem < VL lanes: loaded
 * with cmask, stored by narrower stores, AMD's masked stores being slow); a
 * short tile (rows < MR) repeats its last row
 * in the unused rows of registers and does not store them, so one loop
 * serves all.  b is panel 0's row pointer, kb elements between consecutive
 * k, pb between panels; all NV*VL lanes of b are readable (packed panels
 * are zero-padded).  first: start from 0, else from the raw partial sums in
 * C.  last: apply alpha/beta and store, else store the raw partial sums. */
GEMM_INLINE void FN(tiles)(const int NV, const int CM, const int AT, const int EP, int rows,
                           int kc, const REAL *restrict a, ptrdiff_t lda,
                           const REAL *restrict b, ptrdiff_t kb, ptrdiff_t pb, int np,
                           REAL *restrict c, ptrdiff_t ldc, VI cmask, int nrem, int first,
                           int last, REAL alpha, REAL beta, const REAL *ebias,
                           const REAL *ey, ptrdiff_t ldey, REAL *esum, int esums) {
    const REAL *ar[MR];
    /* op(A)[i+r, k] at ar[r] + k (A[i+r, k]) or ar[r] + k*lda (A[k, i+r]) */
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        const int rr = r < rows ? r : rows - 1;
        ar[r] = a + (AT ? rr : rr * lda);
    }
    const VT va = V_SET1(alpha), vb = V_SET1(beta);
    const int scale = last && alpha != 1, add = last && beta != 0;
    for (int p = 0; p < np; p++, b += pb, c += NR, ebias += NR, ey += NR, esum += NR) {
        VT acc[MR][2];
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                if (first || r >= rows)
                    acc[r][v] = V_ZERO();
                else if (CM && v == NV - 1)
                    acc[r][v] = V_MLOAD(c + r * ldc + v * VL, cmask);
                else
                    acc[r][v] = V_LOAD(c + r * ldc + v * VL);
            }
        const REAL *bk = b;
#ifdef FA_GEMM_UNROLL
        FA_GEMM_PRAGMA(GCC unroll FA_GEMM_UNROLL)
#endif
        for (int k = 0; k < kc; k++, bk += kb) {
            const ptrdiff_t off = AT ? k * lda : k;
            VT b0 = V_LOAD(bk), b1 = NV > 1 ? V_LOAD(bk + VL) : b0;
#pragma GCC unroll 16
            for (int r = 0; r < MR; r++) {
                VT av = V_BCAST(ar[r] + off);
                acc[r][0] = V_FMA(av, b0, acc[r][0]);
                if (NV > 1) acc[r][1] = V_FMA(av, b1, acc[r][1]);
            }
        }
        /* the epilogue's operands of this panel (EP only runs with last) */
        VT eb[2] = {V_ZERO(), V_ZERO()}, es[2] = {V_ZERO(), V_ZERO()};
        const int sum = EP == FA_GEMM_EP_RELU_SLOPE && last && esums;
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            if ((EP == FA_GEMM_EP_BIAS_RELU || EP == FA_GEMM_EP_BIAS) && last)
                eb[v] = CM && v == NV - 1 ? V_MLOAD(ebias + v * VL, cmask)
                                          : V_LOAD(ebias + v * VL);
            if (sum)
                es[v] = CM && v == NV - 1 ? V_MLOAD(esum + v * VL, cmask)
                                          : V_LOAD(esum + v * VL);
        }
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            if (r >= rows) break;
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                REAL *cp = c + r * ldc + v * VL;
                VT t = acc[r][v];
                if (scale) t = V_MUL(va, t);
                if (EP == FA_GEMM_EP_BIAS && last) t = V_ADD(t, eb[v]);
                if (EP == FA_GEMM_EP_BIAS_RELU && last) t = V_RELU(V_ADD(t, eb[v]));
                if (EP == FA_GEMM_EP_RELU_SLOPE && last) {
                    const REAL *yp = ey + r * ldey + v * VL;
                    t = V_MUL(t, V_STEP(CM && v == NV - 1 ? V_MLOAD(yp, cmask) : V_LOAD(yp)));
                    if (sum) es[v] = V_ADD(es[v], t);     /* row after row */
                }
                if (CM && v == NV - 1) {
                    if (add) t = V_FMA(vb, V_MLOAD(cp, cmask), t);
                    V_PSTORE(cp, t, nrem);
                } else {
                    if (add) t = V_FMA(vb, V_LOAD(cp), t);
                    V_STORE(cp, t);
                }
            }
        }
        if (sum)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                if (CM && v == NV - 1)
                    V_PSTORE(esum + v * VL, es[v], nrem);
                else
                    V_STORE(esum + v * VL, es[v]);
            }
    }
}

/* the full panels, then the partial one (ncols < NR columns) */
#define FA_TILE_CALL(NV, CM, AT, EP, bb, kbb, pbb, np, cc, j)                              \
    FN(tiles)(NV, CM, AT, EP, rows, kc, a, lda, bb, kbb, pbb, np, cc, ldc, cmask, nrem,   \
              first, last, al, be, x->ebias + (j), ey_row + (j), x->ldey, esum + (j), x->esums)
#define FA_TILES(AT, EP)                                                         \
    do {                                                                         \
        if (nfull) FA_TILE_CALL(2, 0, AT, EP, b, kb, pb, nfull, c, jc);          \
        if (ncols > VL)                                                          \
            FA_TILE_CALL(2, 1, AT, EP, b_part, NR, 0, 1, c_part, jp);            \
        else if (ncols == VL)                                                    \
            FA_TILE_CALL(1, 0, AT, EP, b_part, NR, 0, 1, c_part, jp);            \
        else if (ncols > 0)                                                      \
            FA_TILE_CALL(1, 1, AT, EP, b_part, NR, 0, 1, c_part, jp);            \
    } while (0)

/* rows [m0, m1) x panels [p0, p1) of C: N blocks, K blocks, row tiles (A's
 * tile stays in L1), panels (read from L2) */
GEMM_TARGET static void FN(gemm_part)(const FN(gemm_ctx) *x, int m0, int m1, int p0, int p1) {
    const int K = x->K, N = x->N < p1 * NR ? x->N : p1 * NR;
    const ptrdiff_t ldc = x->ldc;
    const REAL al = x->alpha, be = x->beta;
    for (int jc = p0 * NR; jc < N; jc += x->nc) {
        const int jend = N - jc < x->nc ? N : jc + x->nc;
        const int nfull = (jend - jc) / NR, ncols = (jend - jc) % NR, jp = jc + nfull * NR;
        const int nrem = ncols % VL;
        const VI cmask = V_MASK(nrem);
        for (int pc = 0; pc < K; pc += x->kc) {
            const int kc = K - pc < x->kc ? K - pc : x->kc;
            const int first = pc == 0, last = pc + kc == K;
            /* panel jc / NR (and the partial panel jp / NR) */
            const REAL *b, *b_part;
            ptrdiff_t kb, pb;
            if (x->bp) {
                b = x->bp + (ptrdiff_t)(jc / NR) * K * NR + (ptrdiff_t)pc * NR;
                kb = NR;
                pb = (ptrdiff_t)K * NR;
                b_part = x->bp + (ptrdiff_t)(jp / NR) * K * NR + (ptrdiff_t)pc * NR;
            } else {
                b = x->B + (ptrdiff_t)pc * x->ldb + jc;
                kb = x->ldb;
                pb = NR;
                b_part = x->edge ? x->edge + (ptrdiff_t)pc * NR : NULL;
            }
            for (int i = m0; i < m1; i += MR) {
                const int rows = m1 - i < MR ? m1 - i : MR;
                const REAL *a = x->at ? x->A + (ptrdiff_t)pc * x->lda + i
                                      : x->A + (ptrdiff_t)i * x->lda + pc;
                REAL *c = x->C + (ptrdiff_t)i * ldc + jc, *c_part = c + nfull * NR;
                const ptrdiff_t lda = x->lda;
                /* the epilogue's pointers, offset by the column in FA_TILE_CALL
                 * (unused, and not dereferenced, without an epilogue) */
                const REAL *ey_row = x->ey + (ptrdiff_t)i * x->ldey;
                REAL *esum = x->esum;
                if (x->at)
                    FA_TILES(1, FA_GEMM_EP_NONE);
                else if (x->ep == FA_GEMM_EP_BIAS_RELU)
                    FA_TILES(0, FA_GEMM_EP_BIAS_RELU);
                else if (x->ep == FA_GEMM_EP_BIAS)
                    FA_TILES(0, FA_GEMM_EP_BIAS);
                else if (x->ep == FA_GEMM_EP_RELU_SLOPE)
                    FA_TILES(0, FA_GEMM_EP_RELU_SLOPE);
                else
                    FA_TILES(0, FA_GEMM_EP_NONE);
            }
        }
    }
}

#undef FA_TILES
#undef FA_TILE_CALL

/* Panel p of op(B) (columns p*NR .. p*NR+NR-1, zero beyond N) as K x NR. */
GEMM_TARGET static void FN(pack_panel)(const REAL *B, ptrdiff_t ldb, int bt, int N, int K,
                                       int p, REAL *restrict dst) {
    const int j0 = p * NR, ncols = N - j0 < NR ? N - j0 : NR;
    if (!bt) {
        const REAL *src = B + j0;
        if (ncols == NR) {
            for (int k = 0; k < K; k++, src += ldb, dst += NR) {
                V_STORE(dst, V_LOAD(src));
                V_STORE(dst + VL, V_LOAD(src + VL));
            }
        } else {
            const VI m0 = V_MASK(ncols >= VL ? VL : ncols);
            const VI m1 = V_MASK(ncols >= VL ? ncols - VL : 0);
            for (int k = 0; k < K; k++, src += ldb, dst += NR) {
                V_STORE(dst, V_MLOAD(src, m0));
                V_STORE(dst + VL, ncols > VL ? V_MLOAD(src + VL, m1) : V_ZERO());
            }
        }
    } else {
        /* op(B)[k, j] = B[j, k]: TVL x TVL blocks of rows of B transposed
         * in (256-bit) registers, then the edges element by element */
        int k0 = 0;
        if (ncols == NR) {
            for (; k0 + TVL <= K; k0 += TVL)
                for (int h = 0; h < NR / TVL; h++) {
                    TVT r[TVL];
                    const REAL *src = B + (ptrdiff_t)(j0 + h * TVL) * ldb + k0;
                    for (int q = 0; q < TVL; q++) r[q] = TV_LOAD(src + q * ldb);
                    TV_TRANSPOSE(r);
                    for (int q = 0; q < TVL; q++)
                        TV_STORE(dst + (ptrdiff_t)(k0 + q) * NR + h * TVL, r[q]);
                }
        }
        for (int jj = 0; jj < NR; jj++) {
            if (jj < ncols) {
                const REAL *src = B + (ptrdiff_t)(j0 + jj) * ldb;
                for (int k = k0; k < K; k++) dst[(ptrdiff_t)k * NR + jj] = src[k];
            } else {
                for (int k = k0; k < K; k++) dst[(ptrdiff_t)k * NR + jj] = 0;
            }
        }
    }
}

/* C = beta C (0 when beta == 0): K == 0 or alpha == 0 */
static void FN(gemm_scale)(int M, int N, REAL beta, REAL *C, ptrdiff_t ldc) {
    if (beta == 1) return;
    for (int i = 0; i < M; i++) {
        REAL *c = C + (ptrdiff_t)i * ldc;
        if (beta == 0)
            memset(c, 0, (size_t)N * sizeof(REAL));
        else
            for (int j = 0; j < N; j++) c[j] = beta * c[j];
    }
}

/* The epilogue (gemm.h) of C = A op(B), for K == 0 (C = 0 before it) or an
 * empty C (M or N == 0: only the column sums, zeros) */
static void FN(gemm_epilogue_only)(int M, int N, REAL *C, int ldc, fa_gemm_epilogue *ep) {
    const REAL *bias = (const REAL *)ep->bias, *y = (const REAL *)ep->y;
    REAL *colsum = ep->kind == FA_GEMM_EP_RELU_SLOPE ? (REAL *)ep->colsum : NULL;
    for (int j = 0; colsum && j < N; j++) colsum[j] = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            REAL *c = C + (ptrdiff_t)i * ldc + j;
            if (ep->kind == FA_GEMM_EP_BIAS) {
                *c = *c + bias[j];
            } else if (ep->kind == FA_GEMM_EP_BIAS_RELU) {
                REAL t = *c + bias[j];
                *c = t < 0 ? 0 : t;
            } else {
                *c = *c * (y[(ptrdiff_t)i * ep->ldy + j] > 0 ? (REAL)1 : (REAL)0);
                if (colsum) colsum[j] += *c;
            }
        }
    ep->summed = colsum != NULL;
}

GEMM_TARGET static int FN(gemm)(char ta, char tb, int M, int N, int K, REAL alpha,
                                const REAL *A, int lda, const REAL *B, int ldb, REAL beta,
                                REAL *C, int ldc, int n_threads, fa_gemm_epilogue *ep) {
    int at = fa_gemm_trans(ta), bt = fa_gemm_trans(tb);
    if (at < 0 || bt < 0 || M < 0 || N < 0 || K < 0) return 0;
    if (lda < fa_gemm_max1(at ? M : K) || ldb < fa_gemm_max1(bt ? K : N) || ldc < fa_gemm_max1(N))
        return 0;
    const int epk = ep ? ep->kind : FA_GEMM_EP_NONE;
    if (epk != FA_GEMM_EP_NONE) {
        if (at || alpha != 1 || beta != 0) return 0;
        if (epk == FA_GEMM_EP_RELU_SLOPE && ep->ldy < fa_gemm_max1(N)) return 0;
        ep->summed = 0;
    }
    if (M == 0 || N == 0) {
        if (epk != FA_GEMM_EP_NONE) FN(gemm_epilogue_only)(M, N, C, ldc, ep); /* the sums: 0 */
        return 1;
    }
    if (K == 0 || alpha == 0) {
        FN(gemm_scale)(M, N, beta, C, ldc);
        if (epk != FA_GEMM_EP_NONE) FN(gemm_epilogue_only)(M, N, C, ldc, ep);
        return 1;
    }

    FN(gemm_ctx) x;
    x.at = at;
    x.M = M, x.N = N, x.K = K;
    x.alpha = alpha, x.beta = beta;
    x.A = A, x.B = B, x.C = C;
    x.lda = lda, x.ldb = ldb, x.ldc = ldc;
    /* unused epilogue pointers point into C (offsets stay inside it) */
    x.ep = epk;
    x.ebias = epk == FA_GEMM_EP_BIAS_RELU || epk == FA_GEMM_EP_BIAS ? (const REAL *)ep->bias : C;
    x.ey = epk == FA_GEMM_EP_RELU_SLOPE ? (const REAL *)ep->y : C;
    x.ldey = epk == FA_GEMM_EP_RELU_SLOPE ? ep->ldy : 0;
    x.esum = C;
    x.esums = 0;

    /* K blocks of at most FA_GEMM_KC, balanced; none when C must be read */
    int nkb = beta != 0 ? 1 : (K + FA_GEMM_KC - 1) / FA_GEMM_KC;
    x.kc = (K + nkb - 1) / nkb;
    /* N blocks: a packed K block of op(B) within FA_GEMM_L2 bytes */
    long ncap = FA_GEMM_L2 / ((long)x.kc * (long)sizeof(REAL)) / NR * NR;
    x.nc = ncap < NR ? NR : ncap >= N ? N : (int)ncap;

    const int npanels = (N + NR - 1) / NR, tiles = (M + MR - 1) / MR;
    /* op(B) = B in place: rows of panels far apart, or reused by many row
     * tiles, are packed; otherwise only a partial last panel */
    int pack = bt || fa_gemm_pack_policy(M, N, K, ldb, (int)sizeof(REAL));
    int pack_edge = !pack && N % NR != 0;

    /* threads: at least FA_GEMM_PARALLEL_MIN / 2 multiply-adds and one row
     * tile or panel each (the result does not depend on the count) */
    int nt = 1;
    const double work = (double)M * N * K;
    if (n_threads > 1 && work >= (double)FA_GEMM_PARALLEL_MIN) {
        const double most = work / (double)(FA_GEMM_PARALLEL_MIN / 2);
        const int units = tiles > npanels ? tiles : npanels;
        nt = n_threads < units ? n_threads : units;
        if (nt > most) nt = (int)most;
    }

    /* the packed op(B), or its partial last panel */
    const size_t nb = pack ? (size_t)K * NR * npanels : pack_edge ? (size_t)K * NR : 0;
    REAL *buf = NULL;
    if (nb) {
        buf = (REAL *)fa_gemm_acquire(nb * sizeof(REAL));
        if (!buf) return -1;
    }
    x.bp = pack ? buf : NULL;
    x.edge = pack_edge ? buf : NULL;

    /* column sums in the epilogue on one thread only (row after row) */
    if (epk == FA_GEMM_EP_RELU_SLOPE && ep->colsum && nt <= 1) {
        x.esum = (REAL *)ep->colsum;
        x.esums = 1;
        for (int j = 0; j < N; j++) x.esum[j] = 0;
        ep->summed = 1;
    }
    if (nt <= 1) {
        if (pack)
            for (int p = 0; p < npanels; p++)
                FN(pack_panel)(B, ldb, bt, N, K, p, buf + (size_t)p * K * NR);
        else if (pack_edge)
            FN(pack_panel)(B, ldb, 0, N, K, npanels - 1, buf);
        FN(gemm_part)(&x, 0, M, 0, npanels);
    } else {
        /* Split the rows when op(A) is the larger operand (each thread then
         * reads all of op(B)), else the panels (each reads all of op(A) but
         * packs only its own panels, without a barrier): less data moves
         * between the cores, which decides at these sizes. */
        const int by_rows = M >= N || npanels < nt;
        const unsigned int csr = _mm_getcsr();
#pragma omp parallel num_threads(nt)
        {
            const unsigned int own = _mm_getcsr();
            _mm_setcsr(csr);
            const int t = fa_gemm_thread_num(), T = fa_gemm_num_threads();
            if (by_rows) {
                const int p0 = (int)((long)npanels * t / T);
                const int p1 = (int)((long)npanels * (t + 1) / T);
                if (pack)
                    for (int p = p0; p < p1; p++)
                        FN(pack_panel)(B, ldb, bt, N, K, p, buf + (size_t)p * K * NR);
                else if (pack_edge && t == T - 1)
                    FN(pack_panel)(B, ldb, 0, N, K, npanels - 1, buf);
#pragma omp barrier
                const int lo = (int)((long)tiles * t / T) * MR;
                const int hi = (int)((long)tiles * (t + 1) / T) * MR;
                if (lo < M) FN(gemm_part)(&x, lo, hi < M ? hi : M, 0, npanels);
            } else {
                /* panel runs balanced by columns (the last panel may be short) */
                const int p0 = (int)(((long)N * t / T + NR / 2) / NR);
                const int p1 = t == T - 1 ? npanels : (int)(((long)N * (t + 1) / T + NR / 2) / NR);
                if (pack)
                    for (int p = p0; p < p1; p++)
                        FN(pack_panel)(B, ldb, bt, N, K, p, buf + (size_t)p * K * NR);
                else if (pack_edge && p1 == npanels && p0 < p1)
                    FN(pack_panel)(B, ldb, 0, N, K, npanels - 1, buf);
                if (p0 < p1) FN(gemm_part)(&x, 0, M, p0, p1);
            }
            _mm_setcsr(own);
        }
    }
    if (buf) fa_gemm_release(buf);
    return 1;
}

#undef NR
/* the per-instantiation macros, for the next one */
#undef VT
#undef VI
#undef VL
#undef V_ZERO
#undef V_LOAD
#undef V_STORE
#undef V_MLOAD
#undef V_PSTORE
#undef V_BCAST
#undef V_SET1
#undef V_FMA
#undef V_MUL
#undef V_ADD
#undef V_RELU
#undef V_STEP
#undef V_MASK
#undef FN
#undef MR
#undef GEMM_TARGET
#undef GEMM_INLINE
