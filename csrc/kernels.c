/* Instantiates the activation loops of kernels_impl.h for float32 and float64
 * and holds what both share: the thread policy and the table metadata. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "fastact.h"
#include "mathfns.h"

/* Each hot loop is compiled for AVX-512, AVX2+FMA and baseline x86-64 and the
 * best one is picked when the module loads (GCC function multi-versioning),
 * so a portable build still runs at full width.  Elsewhere: one version. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(FA_NO_MULTIVERSION)
#define FA_TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FA_TARGETS
#endif

/* Threads pay off only above a certain amount of work: forking and joining
 * costs a few microseconds, so a call parallelizes when its elements times
 * their cost (in units of a relu pass over one float32, ~0.13 ns here)
 * reach FA_PARALLEL_WORK, and each thread gets at least half that much.
 * A cheap kind needs 128 k elements; a transcendental one (gelu, softplus:
 * ~30 units) needs only ~4 k, so a 100 k buffer no longer runs on one core
 * for 400 us. */
#define FA_PARALLEL_WORK ((size_t)1 << 17)

/* Work per element of a forward pass, per kind (measured single-threaded
 * on 100 k float32 elements with `fastact.forward` timings, rounded;
 * kinds not listed are memory-bound: 1).  float64 counts twice. */
static const unsigned char fa_fwd_work[FA_N_ACTIVATIONS] = {
    [FA_LOGISTIC] = 6, [FA_TANH] = 6, [FA_ELU] = 6, [FA_SELU] = 6, [FA_CELU] = 8,
    [FA_EXP] = 5, [FA_PRELU] = 4, [FA_SOFTPLUS] = 32, [FA_SWISH] = 16, [FA_GELU] = 28,
    [FA_GELU_TANH] = 20, [FA_MISH] = 20, [FA_SOFTMAX] = 16, [FA_LOG_SOFTMAX] = 16,
    [FA_MAXOUT] = 2,
};
/* the same for the backward (slope) pass */
static const unsigned char fa_bwd_work[FA_N_ACTIVATIONS] = {
    [FA_PRELU] = 4, [FA_SOFTPLUS] = 6, [FA_SWISH] = 16, [FA_GELU] = 32, [FA_GELU_TANH] = 24,
    [FA_MISH] = 12, [FA_SOFTMAX] = 4, [FA_LOG_SOFTMAX] = 8, [FA_MAXOUT] = 2,
};

static size_t fa_work(const unsigned char *table, fa_kind k, size_t n, size_t elem_size) {
    size_t w = table[k] ? table[k] : 1;
    return n * w * (elem_size > 4 ? 2 : 1);
}

/* requested: the most threads a call may use, or 0 for OpenMP's default
 * (omp_get_max_threads(), which threadpoolctl limits).  The default is asked
 * for only when the work is large enough to be split: the query cost 4 ns,
 * a tenth of a call on a small array. */
static int fa_threads_for(size_t work, int requested) {
    if (work < FA_PARALLEL_WORK) return 1;
#ifdef _OPENMP
    if (requested == 0) requested = omp_get_max_threads();
#endif
    if (requested <= 1) return 1;
    size_t most = work / (FA_PARALLEL_WORK / 2);
    return (size_t)requested < most ? requested : (int)most;
}
#define FA_FWD_WORK(k, n) fa_work(fa_fwd_work, (k), (n), sizeof(REAL))
#define FA_BWD_WORK(k, n) fa_work(fa_bwd_work, (k), (n), sizeof(REAL))

/* start of chunk t of n elements split in nt parts, aligned to 64 elements so
 * that threads never share a cache line */
static size_t fa_chunk(size_t n, int nt, int t) {
    size_t c = (size_t)(((unsigned long long)n * (unsigned)t) / (unsigned)nt);
    c &= ~(size_t)63;
    return t == nt ? n : c;
}

#define FA_NAME_ROW(ID, name, from, pattern) #name,
const char *const fa_kind_names[] = {FA_ACTIVATION_TABLE(FA_NAME_ROW) NULL};
#define FA_FROM_ROW(ID, name, from, pattern) FA_FROM_IS_##from,
#define FA_FROM_IS_OUTPUT 0
#define FA_FROM_IS_INPUT 1
const int fa_slope_from_input[] = {FA_ACTIVATION_TABLE(FA_FROM_ROW)};

#define REAL float
#define SFX f32
#define FA_NEXTDOWN(v) nextafterf((v), -INFINITY)
#include "kernels_impl.h"
#undef REAL
#undef SFX

#undef FA_NEXTDOWN
#define REAL double
#define SFX f64
#define FA_NEXTDOWN(v) nextafter((v), -INFINITY)
#include "kernels_impl.h"
#undef REAL
#undef SFX
