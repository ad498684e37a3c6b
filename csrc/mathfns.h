/* The elementary functions the activation table is written in, for both dtypes.
 *
 * The default build uses vecmath.h: branch-free polynomial versions that GCC
 * vectorizes inside the activation loops (a libm call per element would stop
 * vectorization and cost ~10x on float32).  Defining FA_LIBM_MATH switches to
 * the C library instead, which serves as an accuracy reference and a fallback
 * when debugging a numeric discrepancy.
 */
#ifndef FASTACT_MATHFNS_H
#define FASTACT_MATHFNS_H

#include <math.h>

/* Every scalar function of the activation table must be inlined into the
 * loops that call it, or the loop cannot be vectorized.  With three clones
 * per loop and two dtypes, GCC's inlining size limits otherwise leave calls
 * in place (and the loops scalar, 10-60x slower), so inlining is forced. */
#if defined(__GNUC__)
#define FA_INLINE static inline __attribute__((always_inline))
#else
#define FA_INLINE static inline
#endif

#ifdef FA_LIBM_MATH
static inline float fa_exp_f32(float x) { return expf(x); }
static inline float fa_expm1_f32(float x) { return expm1f(x); }
static inline float fa_log1p_f32(float x) { return log1pf(x); }
static inline float fa_log1p_unit_f32(float t) { return log1pf(t); }
static inline float fa_tanh_f32(float x) { return tanhf(x); }
static inline float fa_erfc_f32(float x) { return erfcf(x); }
/* erfc(x + dx) for a tiny dx (see vecmath.h), in double */
static inline float fa_erfc_corr_f32(float x, float dx) {
    double e = exp(-(double)x * (double)x);
    return (float)(erfc((double)x) - (e == 0 ? 0 : 1.1283791670955126 * e * (double)dx));
}
static inline float fa_sigmoid_f32(float x) {
    float e = expf(-fabsf(x));
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}
/* e^x 2^64 (float) / 2^128 (double) for x <= 0, normal where e^x is not
 * (see vecmath.h) */
#define FA_EXP_UNSCALE_F32 0x1p-64f
#define FA_EXP_SCALED_MIN_F32 (-110.0f)
static inline float fa_exp_scaled_f32(float x) {
    return (float)(exp((double)(x < FA_EXP_SCALED_MIN_F32 ? FA_EXP_SCALED_MIN_F32 : x)) * 0x1p64);
}
#define FA_EXP_UNSCALE_F64 0x1p-128
#define FA_EXP_SCALED_MIN_F64 (-760.0)
static inline double fa_exp_scaled_f64(double x) {
    long double xc = x < FA_EXP_SCALED_MIN_F64 ? FA_EXP_SCALED_MIN_F64 : x;
    return (double)(expl(xc) * 0x1p128L);
}
static inline double fa_exp_f64(double x) { return exp(x); }
static inline double fa_expm1_f64(double x) { return expm1(x); }
static inline double fa_log1p_f64(double x) { return log1p(x); }
static inline double fa_log1p_unit_f64(double t) { return log1p(t); }
static inline double fa_tanh_f64(double x) { return tanh(x); }
static inline double fa_erfc_f64(double x) { return erfc(x); }
static inline double fa_erfc_corr_f64(double x, double dx) {
    double e = exp(-x * x);
    return erfc(x) - (e == 0 ? 0 : 1.1283791670955126 * e * dx);
}
static inline double fa_sigmoid_f64(double x) {
    double e = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}
#else
/* vecmath.h declares its functions `static inline`: forced too (see above) */
#define inline inline __attribute__((always_inline))
#include "vecmath.h"
#undef inline
#endif

#endif
