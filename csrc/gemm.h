/* fastact: a deterministic GEMM for the training loop's small shapes.
 *
 *   C = alpha op(A) op(B) + beta C      row-major, op(X) = X or X^T
 *
 * Same arguments as the row-major _gemm wrapper of fastact/_mlp_core.pyx
 * (ta/tb 'N'/'n' or 'T'/'t'/'C'/'c', M x N result, inner dimension K, leading
 * dimensions in elements), plus n_threads.  Returns 1 when it computed C, 0
 * when it declines (nothing was written; the caller uses BLAS instead):
 * another ta/tb, a negative size, a leading dimension below the row length,
 * a CPU without AVX2+FMA, a compiler other than GCC/clang on x86-64; and -1
 * when the packing buffer cannot be allocated (nothing was written either;
 * the caller reports the lack of memory: BLAS would need memory too, and
 * OpenBLAS waits for its buffer forever when it cannot allocate it).
 *
 * Determinism.  Every element is computed by one fixed sequence whatever the
 * thread count, tiling or position in a tile:
 *     acc = 0;  for k = 0 .. K-1 ascending: acc = fma(opA[i,k], opB[k,j], acc)
 *     C[i,j] = alpha*acc           (beta == 0: C is never read, NaN cannot leak;
 *                                   alpha == 1 skips the product, which is exact)
 *     C[i,j] = fma(beta, C[i,j], alpha*acc)          (beta != 0)
 * and C = beta*C (0 when beta == 0) when K == 0 or alpha == 0, where A and B
 * are not read (BLAS semantics).  Each lane of a vector FMA is one scalar
 * fma, masked edge columns and short edge rows run the same chain, and K
 * blocks (used only when beta == 0) store the raw float partial sum into C
 * and reload it, which is exact.  So splitting the rows over OpenMP threads
 * gives bitwise the same C as one thread; K is never split.  The worker
 * threads also run with the caller's MXCSR (flush-to-zero/denormals-are-zero
 * settings), which would otherwise be per-thread.
 *
 * Kernel.  AVX2+FMA register tiles of 6 rows x 2 vectors (6x16 float32,
 * 6x8 float64: 12 accumulators), broadcasting op(A) elements (from 6 rows
 * of A for 'N'; for 'T' from A[k, i..i+5], contiguous) and loading rows of a
 * panel of op(B); short edge tiles repeat their last row in the spare
 * registers and store only their own rows, edge columns are loaded masked
 * and stored with narrower stores.  No packing of A.  op(B) is packed into
 * zero-padded panels of K x 16 (K x 8) when it is B^T (8x8 / 4x4 register
 * transposes) or when B is larger than 96 KB; a smaller B is read in place
 * and only its partial last panel is copied.  With beta == 0, K is cut into
 * balanced blocks of at most 256 and N into blocks so that a packed K block
 * of op(B) stays within 256 KB of L2; a row tile of A stays in L1 while it
 * meets every panel of the block.  Threads (M*N*K >= FA_GEMM_PARALLEL_MIN,
 * at least half of that and one row tile or panel per thread): when M >= N
 * they pack a share of the panels, meet at a barrier, then take contiguous
 * runs of row tiles; when M < N each takes a run of panels (balanced by
 * columns), packs them and computes all rows of them, no barrier; either
 * way each thread reads all of the smaller operand only.  The
 * kernels carry __attribute__((target("avx2,fma"))) and run when
 * __builtin_cpu_supports says so (checked once): the default portable build
 * uses them, and so does the sanitizer build (FA_NO_MULTIVERSION), as no
 * ifunc is involved.
 */
#ifndef FASTACT_GEMM_H
#define FASTACT_GEMM_H

/* M*N*K below which the product always runs on the calling thread.  The
 * 1.3M products of the 64-100-10 network ran ~1.4x faster on 2 threads in
 * a C loop, but no faster in tools/bench_gemm.py (operands moving between
 * the cores, threads woken late), so they stay on one; 6.5M and up: ~1.6x.
 * Lowered to 1M, the 2-thread T1 fit ran ~5% faster alone, but ~10% slower
 * in the benchmark's process, alternating with scikit-learn's and PyTorch's
 * fits (medians 0.28 -> 0.31-0.33 s).  On the AVX-512 machine (2026-12-02),
 * 1M made the 2-thread T1 fit 0.88x the 1-thread time alone (65 vs 74 ms),
 * but 2.7x it with another process busy on the second core (203 vs 76 ms;
 * 80 ms at 2M): every product then waits for a time slice of that core. */
#ifndef FA_GEMM_PARALLEL_MIN
#define FA_GEMM_PARALLEL_MIN (1L << 21)
#endif

int fa_gemm_f32(char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc, int n_threads);
int fa_gemm_f64(char ta, char tb, int M, int N, int K, double alpha, const double *A, int lda,
                const double *B, int ldb, double beta, double *C, int ldc, int n_threads);

/* An epilogue applied to C = op(A) op(B) (alpha 1, beta 0) as each tile is
 * stored, so that a hidden relu layer needs no pass of its own over C:
 *   FA_GEMM_EP_BIAS       (forward)   C = C + bias, bias: N entries (the
 *       output layer's logits), each element RN(c + b);
 *   FA_GEMM_EP_BIAS_RELU  (forward)   C = relu(C + bias), bias: N entries,
 *       each element as fa_bias_act_forward's relu: RN(c + b), then x < 0 ? 0 : x;
 *   FA_GEMM_EP_RELU_SLOPE (backward)  C *= [y > 0], y: relu's output (M x N,
 *       row stride ldy), each element as fa_act_backward's relu: c * 1 or
 *       c * 0; and, with colsum not NULL and the product on one thread,
 *       colsum[j] = the sum of column j of the result, added row after row
 *       from 0 as fa_act_backward_bias_grad does (summed = 1); with threads
 *       the sums are left to the caller (summed = 0), whose order they keep.
 * Bitwise what the GEMM followed by those kernels gives.  Only for
 * ta = 'N' (op(A) = A). */
enum { FA_GEMM_EP_NONE = 0, FA_GEMM_EP_BIAS_RELU = 1, FA_GEMM_EP_RELU_SLOPE = 2,
       FA_GEMM_EP_BIAS = 3 };
typedef struct {
    int kind;
    const void *bias;   /* BIAS, BIAS_RELU: N entries of C's dtype */
    const void *y;      /* RELU_SLOPE: M x N of C's dtype, row stride ldy */
    int ldy;
    void *colsum;       /* RELU_SLOPE: N entries, or NULL */
    int summed;         /* out: 1 when colsum holds the column sums */
} fa_gemm_epilogue;

/* fa_gemm_* with alpha = 1, beta = 0 and an epilogue (ep may be NULL: none).
 * Returns as fa_gemm_*; 0 (declined, nothing written) also for ta != 'N'
 * with an epilogue. */
int fa_gemm_ep_f32(char ta, char tb, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, float *C, int ldc, int n_threads,
                   fa_gemm_epilogue *ep);
int fa_gemm_ep_f64(char ta, char tb, int M, int N, int K, const double *A, int lda,
                   const double *B, int ldb, double *C, int ldc, int n_threads,
                   fa_gemm_epilogue *ep);

/* 1 when the AVX2+FMA kernels can run here (fa_gemm_* never declines for the
 * CPU's sake then) */
int fa_gemm_available(void);

/* The kernels fa_gemm_* run: 2 AVX-512F, 1 AVX2+FMA, 0 none (they decline). */
int fa_gemm_isa(void);

/* For tests and benchmarks: run no kernels above `level` (a negative level
 * lifts the cap); returns fa_gemm_isa() afterwards.  Not thread-safe against
 * concurrent fa_gemm_* calls in the sense that a call already running keeps
 * the kernels it chose. */
int fa_gemm_cap_isa(int level);

/* For tests: while `on`, every allocation of packing memory fails (the
 * calls that need it return -1). */
void fa_gemm_test_fail_alloc(int on);

#endif
