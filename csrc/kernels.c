/* Instantiates the activation loops of kernels_impl.h for float32 and float64
 * and holds what both share: the thread policy and the table metadata. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Below this many elements a parallel region costs more than it saves. */
#define FA_PARALLEL_MIN ((size_t)1 << 17)

static int fa_threads_for(size_t n, int requested) {
    if (requested <= 1 || n < FA_PARALLEL_MIN) return 1;
    size_t most = n / (FA_PARALLEL_MIN / 2);
    return (size_t)requested < most ? requested : (int)most;
}

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
