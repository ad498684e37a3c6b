/* The activation table as scalar code: for each elementwise activation a
 * forward f(x) and a slope, side by side.  Slopes of OUTPUT kinds take y = f(x),
 * slopes of INPUT kinds take x (see FA_ACTIVATION_TABLE in fastact.h).
 *
 * This file is a template: it is included once per dtype with
 *   REAL  the element type, SFX  its suffix (f32 / f64).
 * Parameters (fa_params converted to REAL once per call):
 *   leaky_relu, elu, celu: a = alpha     selu: a = alpha, b = scale
 *   softplus: a = beta, b = threshold    hard_tanh: a = min_val, b = max_val
 *   step: a = threshold                  swish: a = beta
 *
 * Rules every function keeps (ACTIVATIONS.md):
 *   - NaN in gives NaN out: comparisons are written so that NaN takes the
 *     branch that propagates it (e.g. `x < 0 ? 0 : x`, not `x > 0 ? x : 0`);
 *   - +-inf give the limit: wherever inf * 0 could appear (x * sigmoid(x) at
 *     x = -inf) the zero factor is tested and the term dropped;
 *   - no overflow for finite x: exponentials are only taken of -|x| or of
 *     clamped arguments, and expm1/log1p are used where they keep accuracy.
 * Every function is branch-free after if-conversion so the loops vectorize.
 */

#define FA_CAT_(a, b) a##_##b
#define FA_CAT(a, b) FA_CAT_(a, b)
#define FN(name) FA_CAT(name, SFX)
#define PAR FN(par)

#define EXP(v) FN(fa_exp)(v)
#define EXPM1(v) FN(fa_expm1)(v)
#define LOG1P(v) FN(fa_log1p)(v)
/* log1p of an argument in [0, 1] (the softplus form log1p(e^-|x|)) */
#define LOG1P_UNIT(v) FN(fa_log1p_unit)(v)
#define TANH(v) FN(fa_tanh)(v)
#define SIGMOID(v) FN(fa_sigmoid)(v)
#define ERFC_CORR(v, dv) FN(fa_erfc_corr)(v, dv)
/* e^v 2^M for v <= 0 (v clamped to EXP_SCALED_MIN), and 2^-M */
#define EXP_SCALED(v) FN(fa_exp_scaled)(v)
#define EXP_SCALED_MIN \
    (sizeof(REAL) == sizeof(float) ? (REAL)FA_EXP_SCALED_MIN_F32 : (REAL)FA_EXP_SCALED_MIN_F64)
#define EXP_UNSCALE \
    (sizeof(REAL) == sizeof(float) ? (REAL)FA_EXP_UNSCALE_F32 : (REAL)FA_EXP_UNSCALE_F64)

/* c, d: the product a b as c d with c finite where a b overflows (c the
 * larger factor, d the smaller; else c = a b, d = 1); selu's scale * alpha */
typedef struct { REAL a, b, c, d; } PAR;

FA_INLINE PAR FN(par_from)(const fa_params *p) {
    PAR q;
    q.a = p ? (REAL)p->a : 0;
    q.b = p ? (REAL)p->b : 0;
    REAL ab = q.a * q.b;
    int over = ab == (REAL)INFINITY || ab == -(REAL)INFINITY;
    int a_big = (q.a < 0 ? -q.a : q.a) > (q.b < 0 ? -q.b : q.b);
    q.c = over ? (a_big ? q.a : q.b) : ab;
    q.d = over ? (a_big ? q.b : q.a) : 1;
    return q;
}

/* |v| by clearing the sign bit: one instruction, where `v < 0 ? -v : v` costs
 * a compare and a blend (and |-0| is +0). */
FA_INLINE REAL FN(fabs_)(REAL v) {
    if (sizeof(REAL) == sizeof(float)) {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4), u &= 0x7FFFFFFFu, memcpy(&f, &u, 4);
        return (REAL)f;
    } else {
        double d = (double)v;
        uint64_t u;
        memcpy(&u, &d, 8), u &= 0x7FFFFFFFFFFFFFFFull, memcpy(&d, &u, 8);
        return (REAL)d;
    }
}

/* a * b + c with one rounding: recovers the exact rounding error of a product
 * (fma(a, b, -a*b)), which the tails below need.  One instruction on the
 * FMA-capable builds, a correct library call on the baseline one. */
FA_INLINE REAL FN(fma_)(REAL a, REAL b, REAL c) {
    return sizeof(REAL) == sizeof(float) ? (REAL)fmaf((float)a, (float)b, (float)c)
                                         : (REAL)fma((double)a, (double)b, (double)c);
}

/* identity */
FA_INLINE REAL FN(fwd_identity)(REAL x, PAR p) { (void)p; return x; }
FA_INLINE REAL FN(slope_identity)(REAL y, PAR p) { (void)p; (void)y; return 1; }

/* logistic: slope y(1 - y) */
FA_INLINE REAL FN(fwd_logistic)(REAL x, PAR p) { (void)p; return SIGMOID(x); }
FA_INLINE REAL FN(slope_logistic)(REAL y, PAR p) { (void)p; return y * (1 - y); }

/* tanh: slope 1 - y^2 */
FA_INLINE REAL FN(fwd_tanh)(REAL x, PAR p) { (void)p; return TANH(x); }
FA_INLINE REAL FN(slope_tanh)(REAL y, PAR p) { (void)p; return 1 - y * y; }

/* c ? a : b as bit masks, and x < lo ? lo : (x > hi ? hi : x) for lo <= hi
 * as two of them (NaN and -0 pass as they are), a compare and a blend each.
 * Written with ternaries, GCC merged the clamp's conditions into four
 * compares, two ands and two blends, and relu6 ran at 0.75-0.78x PyTorch's
 * speed on 1M elements (same buffer); a 0/1 slope became an integer and plus
 * a conversion.  Mask selects keep the lanes' arithmetic unconditional.
 * (vecmath.h's fa__sel_f32/f64 are the same thing, but the FASTACT_LIBM_MATH
 * build does not include vecmath.h.) */
FA_INLINE REAL FN(sel_)(int c, REAL a, REAL b) {
    if (sizeof(REAL) == sizeof(float)) {
        uint32_t m = 0u - (uint32_t)c, ua, ub;
        float fa = (float)a, fb = (float)b, r;
        memcpy(&ua, &fa, 4), memcpy(&ub, &fb, 4);
        ua = (ua & m) | (ub & ~m);
        memcpy(&r, &ua, 4);
        return (REAL)r;
    } else {
        uint64_t m = (uint64_t)0 - (uint64_t)c, ua, ub;
        double da = (double)a, db = (double)b, r;
        memcpy(&ua, &da, 8), memcpy(&ub, &db, 8);
        ua = (ua & m) | (ub & ~m);
        memcpy(&r, &ua, 8);
        return (REAL)r;
    }
}
FA_INLINE REAL FN(clamp_)(REAL x, REAL lo, REAL hi) {
    REAL t = FN(sel_)(lo > x, lo, x);
    return FN(sel_)(hi < t, hi, t);
}

/* relu: slope [y > 0], 0 at the kink as scikit-learn's delta[Z == 0] = 0 */
FA_INLINE REAL FN(fwd_relu)(REAL x, PAR p) { (void)p; return x < 0 ? 0 : x; }
FA_INLINE REAL FN(slope_relu)(REAL y, PAR p) { (void)p; return FN(sel_)(y > 0, 1, 0); }

/* leaky_relu(alpha > 0): the sign of y is the sign of x */
FA_INLINE REAL FN(fwd_leaky_relu)(REAL x, PAR p) { return x > 0 ? x : p.a * x; }
FA_INLINE REAL FN(slope_leaky_relu)(REAL y, PAR p) { return y > 0 ? 1 : p.a; }

/* elu(alpha): below zero y = alpha (e^x - 1), so the slope alpha e^x = y + alpha */
FA_INLINE REAL FN(fwd_elu)(REAL x, PAR p) { return x > 0 ? x : p.a * EXPM1(x); }
FA_INLINE REAL FN(slope_elu)(REAL y, PAR p) { return y > 0 ? 1 : y + p.a; }

/* selu(alpha, scale) = scale * elu(alpha).  Below zero (c expm1(x)) d with
 * c d = scale alpha (par_from): normally c = scale alpha, d = 1, the product
 * first so that no intermediate is subnormal.  Where scale alpha overflows
 * (both are finite, their product is not), c is the larger parameter and d
 * the smaller: |expm1(x)| <= 1 keeps c expm1(x) finite, and c >= sqrt(max)
 * lifts even a subnormal expm1(x) into the normal range.  c and d are set once
 * per call, so the loop has no test for it, only one multiply more.
 * The slope y + scale alpha is c (y / c + d) in the overflow case, selected by
 * a test on the parameters alone (GCC unswitches the loop on it). */
FA_INLINE REAL FN(fwd_selu)(REAL x, PAR p) {
    return x > 0 ? p.b * x : (p.c * EXPM1(x)) * p.d;
}
FA_INLINE REAL FN(slope_selu)(REAL y, PAR p) {
    REAL neg = p.d == 1 ? y + p.c : p.c * (y / p.c + p.d);
    return y > 0 ? p.b : neg;
}

/* celu(alpha): below zero y = alpha (e^(x/alpha) - 1), slope e^(x/alpha) = y/alpha + 1 */
FA_INLINE REAL FN(fwd_celu)(REAL x, PAR p) {
    REAL t = x / p.a; /* subnormal t would carry only a few bits into alpha t */
    return x > 0 ? x : (FN(fabs_)(t) < (REAL)1e-30 ? x : p.a * EXPM1(t));
}
FA_INLINE REAL FN(slope_celu)(REAL y, PAR p) { return y > 0 ? 1 : y / p.a + 1; }


/* softsign x / (1 + |x|): +-inf give +-1; slope (1 - |y|)^2 */
FA_INLINE REAL FN(fwd_softsign)(REAL x, PAR p) {
    (void)p;
    REAL ax = FN(fabs_)(x);
    REAL one = x < 0 ? -1 : 1;
    return ax == (REAL)INFINITY ? one : x / (1 + ax);
}
FA_INLINE REAL FN(slope_softsign)(REAL y, PAR p) {
    (void)p;
    REAL d = 1 - FN(fabs_)(y);
    return d * d;
}

/* hard_sigmoid clip(x/6 + 1/2, 0, 1), as (x + 3)/6: x + 3 is exact near -3,
 * where x/6 + 1/2 would cancel to a few correct bits */
FA_INLINE REAL FN(fwd_hard_sigmoid)(REAL x, PAR p) {
    (void)p;
    REAL v = (x + 3) / 6;
    return FN(clamp_)(v, 0, 1);
}
FA_INLINE REAL FN(slope_hard_sigmoid)(REAL y, PAR p) {
    (void)p;
    return FN(sel_)((y > 0) & (y < 1), (REAL)1 / 6, 0);
}

/* hard_tanh(min_val, max_val) */
FA_INLINE REAL FN(fwd_hard_tanh)(REAL x, PAR p) { return FN(clamp_)(x, p.a, p.b); }
FA_INLINE REAL FN(slope_hard_tanh)(REAL y, PAR p) {
    return FN(sel_)((y > p.a) & (y < p.b), 1, 0);
}

/* relu6 clip(x, 0, 6) */
FA_INLINE REAL FN(fwd_relu6)(REAL x, PAR p) { (void)p; return FN(clamp_)(x, 0, 6); }
FA_INLINE REAL FN(slope_relu6)(REAL y, PAR p) {
    (void)p;
    return FN(sel_)((y > 0) & (y < 6), 1, 0);
}

/* exp: overflows to +inf as IEEE says; slope y */
FA_INLINE REAL FN(fwd_exp)(REAL x, PAR p) { (void)p; return EXP(x); }
FA_INLINE REAL FN(slope_exp)(REAL y, PAR p) { (void)p; return y; }

/* step(threshold): NaN stays NaN; no useful gradient (slope 0) */
FA_INLINE REAL FN(fwd_step)(REAL x, PAR p) {
    return FN(sel_)(x > p.a, 1, FN(sel_)(x != x, x, 0)); /* NaN passes */
}
FA_INLINE REAL FN(slope_step)(REAL y, PAR p) { (void)p; (void)y; return 0; }

/* sigma(v)(1 - sigma(v)) = e / (1 + e)^2 with e = e^-|v|: exact in the tails,
 * where the product form loses everything to 1 - sigma rounding to 0. */
FA_INLINE REAL FN(sigmoid_slope_of)(REAL v) {
    REAL e = EXP(-FN(fabs_)(v));
    REAL d = 1 + e;
    return e / (d * d);
}

/* sigma(v + lo) to first order in a small lo: a rounded argument v of size
 * |v| shifts sigma(v) by |v| ulp in the tail, which the exact rounding error
 * lo of the argument puts back.  (At v = +-inf, lo is NaN and unused.) */
FA_INLINE REAL FN(sigmoid_sum)(REAL v, REAL lo) {
    REAL ds = FN(sigmoid_slope_of)(v);
    return SIGMOID(v) + (ds == 0 ? 0 : ds * lo);
}

/* Gated products x g(v) whose gate g ~ e^v underflows to a subnormal while the
 * product is still normal (v below FA_TAIL): there the exponential is taken
 * of v + K, K = M ln 2 (split in hi + lo, the sum's error recovered by
 * Fast2Sum), and the product scaled by 2^-M at the very end, so it is rounded
 * once, as a normal number. */
#define FA_TAIL (sizeof(REAL) == sizeof(float) ? (REAL)-80 : (REAL)-700)
#define FA_K_HI (sizeof(REAL) == sizeof(float) ? (REAL)44.361419677734375 : (REAL)693.1471805599454)
#define FA_K_LO \
    (sizeof(REAL) == sizeof(float) ? (REAL)-1.2189787519729715e-07 : (REAL)-4.5199270178446646e-14)
#define FA_K_SCALE (sizeof(REAL) == sizeof(float) ? (REAL)0x1p-64 : (REAL)0x1p-1000)

/* x sigma(v + lo), lo a small correction of the argument (see sigmoid_sum) */
FA_INLINE REAL FN(gated_sigmoid)(REAL x, REAL v, REAL lo) {
    int tail = v < FA_TAIL;
    REAL a = -FN(fabs_)(v);
    REAL as = tail ? a + FA_K_HI : a;
    REAL err = tail ? (a - (as - FA_K_HI)) + FA_K_LO : 0;
    REAL e = EXP(as);                        /* e^-|v|, times 2^M in the tail */
    REAL eu = tail ? e * FA_K_SCALE : e;     /* e^-|v| */
    REAL d = 1 + eu;
    REAL g = FN(sel_)(v >= 0, 1, e) / d;     /* sigma(v), times 2^M in the tail */
    REAL ds = eu / (d * d);                  /* sigma'(v) */
    /* (at v = -inf, g = 0 and err is NaN: the correction is dropped) */
    REAL gc = tail ? (g == 0 ? 0 : g + g * (err + lo)) : g + (ds == 0 ? 0 : ds * lo);
    return gc == 0 ? 0 : x * gc * (tail ? FA_K_SCALE : 1);
}

/* softplus(beta, threshold) = log(1 + e^(beta x)) / beta, x where beta x > threshold.
 * Written max(x, 0) + log1p(e^-|bx|) / beta so nothing overflows whatever the
 * threshold (even where beta x does).  The rounding error lo of bx is fed back
 * (d softplus = sigma(bx) d(bx)), and below FA_TAIL, where log1p(e) = e is
 * subnormal, e is scaled as in gated_sigmoid.
 * Slope sigma(beta x) = 1 - e^(-beta y), as -expm1 for accuracy. */
FA_INLINE REAL FN(fwd_softplus)(REAL x, PAR p) {
    REAL bx = p.a * x;
    REAL lo = bx - bx == 0 ? FN(fma_)(p.a, x, -bx) : 0; /* 0 for inf/NaN bx */
    int tail = bx < FA_TAIL;
    REAL a = -FN(fabs_)(bx);
    REAL as = tail ? a + FA_K_HI : a;
    REAL err = tail ? (a - (as - FA_K_HI)) + FA_K_LO : 0;
    REAL e = EXP(as);                        /* e^-|bx|, times 2^M in the tail */
    REAL eu = tail ? e * FA_K_SCALE : e;
    REAL sig = bx >= 0 ? 1 / (1 + eu) : eu / (1 + eu);
    REAL r = tail ? (e == 0 ? 0 : e + e * (err + lo)) / p.a * FA_K_SCALE
                  : (bx > 0 ? x : 0) + (LOG1P_UNIT(e) + sig * lo) / p.a;
    return bx > p.b ? x : r;
}
FA_INLINE REAL FN(slope_softplus)(REAL y, PAR p) { return -EXPM1(-p.a * y); }
/* softplus with beta = 1 (the default) runs loops of its own, chosen per call
 * (kernels_impl.h, LOOPS_FOR): beta x = x is exact, and EXP rounds a
 * subnormal e^-|x| once while LOG1P_UNIT returns a tiny argument unchanged, so
 * neither the argument-error term (one division) nor the tail scaling is
 * needed: max(x, 0) + log1p(e^-|x|), x above the threshold. */
FA_INLINE REAL FN(fwd_softplus1)(REAL x, PAR p) {
    REAL r = (x > 0 ? x : 0) + LOG1P_UNIT(EXP(-FN(fabs_)(x)));
    return x > p.b ? x : r;
}
FA_INLINE REAL FN(slope_softplus1)(REAL y, PAR p) { (void)p; return -EXPM1(-y); }

/* swish(beta) = x sigma(beta x); slope s + beta x s (1 - s).  The products
 * are dropped where their small factor is exactly 0 (x = +-inf).  beta = 0 is
 * x / 2 (slope 1/2) everywhere: beta x is taken as 0 then, also at x = +-inf
 * where 0 * inf would be NaN. */
FA_INLINE REAL FN(fwd_swish)(REAL x, PAR p) {
    REAL bx = p.a == 0 ? 0 : p.a * x; /* beta = 0: x / 2, also at x = +-inf */
    REAL lo = p.a == 0 ? 0 : FN(fma_)(p.a, x, -bx);
    return FN(gated_sigmoid)(x, bx, lo);
}
/* swish with beta = 1 (the default, and torch's silu) runs loops of its own,
 * chosen per call (kernels_impl.h, LOOPS_FOR): beta x = x is exact, so there
 * is no rounding error of the argument to feed back, and one exponential and
 * one division suffice in both directions.  e = e^-|x| is taken scaled by 2^M
 * (EXP_SCALED, normal where e is subnormal and x e still is not) and the
 * negative side is scaled back last, so it is rounded once; below
 * EXP_SCALED_MIN the result is 0 (+0, as the general path gives).
 *   forward  x / d or (x e) / d, d = 1 + e
 *   slope    sigma + x sigma' = (d + x e) / d^2 or e (d + x) / d^2
 * At x = +inf, e = 0 and the product x e is dropped. */
FA_INLINE REAL FN(fwd_swish1)(REAL x, PAR p) {
    (void)p;
    REAL es = EXP_SCALED(-FN(fabs_)(x));      /* e^-|x| 2^M */
    REAL d = 1 + es * EXP_UNSCALE;
    int pos = x >= 0;
    REAL q = FN(sel_)(pos, x, x * es) / d;
    return FN(sel_)(pos, q, FN(sel_)(x < EXP_SCALED_MIN, 0, q * EXP_UNSCALE));
}
FA_INLINE REAL FN(slope_swish1)(REAL x, PAR p) {
    (void)p;
    REAL es = EXP_SCALED(-FN(fabs_)(x));      /* e^-|x| 2^M */
    REAL eu = es * EXP_UNSCALE;
    REAL d = 1 + eu;
    REAL xe = FN(sel_)(eu == 0, 0, x * eu);
    int pos = x >= 0;
    REAL q = FN(sel_)(pos, d + xe, es * (d + x)) / (d * d);
    return FN(sel_)(pos, q, FN(sel_)(x < EXP_SCALED_MIN, 0, q * EXP_UNSCALE));
}
FA_INLINE REAL FN(slope_swish)(REAL x, PAR p) {
    REAL bx = p.a == 0 ? 0 : p.a * x;
    REAL lo = p.a == 0 ? 0 : FN(fma_)(p.a, x, -bx);
    REAL s = FN(sigmoid_sum)(bx, lo);
    REAL ds = FN(sigmoid_slope_of)(bx);
    return s + (ds == 0 ? 0 : bx * ds);
}

/* gelu (exact) = x Phi(x), Phi(x) = erfc(a) / 2 with a = -x / sqrt 2;
 * slope Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi).
 * In the left tail erfc(a) changes by 2a^2 ulp per ulp of a, so the rounding
 * error da of a (and of 1/sqrt 2 itself) is fed back to first order:
 * erfc(a + da) = erfc(a) - 2/sqrt(pi) e^(-a^2) da (ERFC_CORR, which takes
 * e^(-a^2) from its own computation).  Likewise x^2 is split in
 * hi + lo for phi. */
FA_INLINE REAL FN(gelu_cdf)(REAL x) {
    const REAL c = (REAL)0.70710678118654752440;
    const REAL c_lo = sizeof(REAL) == sizeof(float) ? (REAL)1.210161710447897e-08
                                                    : (REAL)-4.833646656726457e-17;
    REAL a = -x * c;
    REAL da = FN(fma_)(-x, c, -a) - x * c_lo;
    da = FN(sel_)(da - da == 0, da, 0);          /* x = +-inf: NaN, and unused */
    return (REAL)0.5 * ERFC_CORR(a, da);
}
FA_INLINE REAL FN(fwd_gelu)(REAL x, PAR p) {
    (void)p;
    REAL cdf = FN(gelu_cdf)(x);
    return FN(sel_)(cdf == 0, 0, x * cdf);
}
FA_INLINE REAL FN(slope_gelu)(REAL x, PAR p) {
    (void)p;
    REAL cdf = FN(gelu_cdf)(x);
    REAL xc = x > 40 ? 40 : (x < -40 ? -40 : x); /* phi underflows well before */
    REAL hi = xc * xc, lo = FN(fma_)(xc, xc, -hi);
    REAL pdf = (REAL)0.39894228040143267794 * EXP((REAL)-0.5 * hi) * (1 - (REAL)0.5 * lo);
    /* One explicit rounding: written as cdf + x * pdf, GCC fused it into an FMA
     * in the scalar remainder of a loop but not in its vector body (or the other
     * way round), so an element's bits depended on where it sat in the array.
     * xc, not x: pdf is 0 beyond the clamp, and xc * pdf is 0 there too, where
     * x * pdf would be NaN (x = +-inf). */
    return FN(fma_)(xc, pdf, cdf);
}

/* gelu, tanh form: 0.5 x (1 + tanh u) = x sigma(2u), u = sqrt(2/pi)(x + 0.044715 x^3).
 * The sigma form avoids the cancellation of 1 + tanh u for negative x.
 * slope: sigma(2u) + x sigma'(2u) 2u', u' = sqrt(2/pi)(1 + 3 * 0.044715 x^2).
 * 2u is formed in double and split into hi + lo (see sigmoid_sum): its few
 * roundings would otherwise cost |2u| ulp of sigma in the left tail. */
FA_INLINE REAL FN(gelu_tanh_2u)(REAL x, REAL *lo) {
    /* 2 sqrt(2/pi) and 0.044715, each as the nearest double + the rest */
    const double k_hi = 1.5957691216057308, k_lo = -9.96930880911092e-17;
    const double c_hi = 0.044715, c_lo = 2.1960211427085595e-18;
    double xd = x > 1e6 ? 1e6 : (x < -1e6 ? -1e6 : (double)x); /* keep x^3 finite */
    if (sizeof(REAL) == sizeof(float)) {
        double v = k_hi * (xd + c_hi * xd * xd * xd);
        REAL hi = (REAL)v;
        *lo = (REAL)(v - (double)hi);
        return hi;
    }
    /* float64: 2u as hi + lo from exact products (fma) and a TwoSum, with the
     * constants' rests too: the few roundings of the plain form cost |2u| ulp
     * of sigma in the tail */
    double x2 = xd * xd, x2_lo = fma(xd, xd, -x2);
    double x3 = x2 * xd, x3_lo = fma(x2, xd, -x3) + x2_lo * xd;
    double cx3 = c_hi * x3, cx3_lo = fma(c_hi, x3, -cx3) + (c_hi * x3_lo + c_lo * x3);
    double t = xd + cx3, tb = t - xd;
    double t_lo = ((xd - (t - tb)) + (cx3 - tb)) + cx3_lo;
    double v = k_hi * t;
    double v_lo = fma(k_hi, t, -v) + (k_hi * t_lo + k_lo * t);
    *lo = (REAL)v_lo;
    return (REAL)v;
}
FA_INLINE REAL FN(fwd_gelu_tanh)(REAL x, PAR p) {
    (void)p;
    REAL lo, v = FN(gelu_tanh_2u)(x, &lo);
    return FN(gated_sigmoid)(x, v, lo);
}
FA_INLINE REAL FN(slope_gelu_tanh)(REAL x, PAR p) {
    (void)p;
    REAL lo, v = FN(gelu_tanh_2u)(x, &lo);
    REAL s = FN(sigmoid_sum)(v, lo);
    /* sigma'(v + lo) = sigma'(v) (1 + (1 - 2 sigma(v)) lo) to first order */
    REAL ds0 = FN(sigmoid_slope_of)(v);
    REAL ds = ds0 == 0 ? 0 : ds0 + ds0 * (1 - 2 * s) * lo;
    REAL dv = (REAL)1.5957691216057307117 * (1 + (REAL)0.134145 * x * x);
    REAL body = s + (ds == 0 ? 0 : x * ds * dv);
    /* Below FA_TAIL sigma(v) and sigma'(v) are e^v to within a relative e^v,
     * and subnormal, while the slope e^(v + lo) (1 + x 2u') is still normal
     * (float32 x in (-10.6, -9.6), float64 (-21.5, -20.8)): there e^v is
     * taken times 2^M, as in gated_sigmoid, and scaled back last.  From the
     * unscaled ones, the slope had 8e-6 relative error at x = -10.2. */
    REAL vs = v + FA_K_HI;
    REAL err = ((v - (vs - FA_K_HI)) + FA_K_LO) + lo;
    REAL e = EXP(vs);                        /* e^v 2^M (inf, unused, for v > 0) */
    REAL w = e * (1 + x * dv);
    REAL low = FN(sel_)(e == 0, 0, (w + w * err) * FA_K_SCALE);
    return FN(sel_)(v < FA_TAIL, low, body);
}

/* mish = x tanh(softplus(x)).  With e = e^x and n = e (e + 2),
 * tanh(log(1 + e)) = n / (n + 2); slope t + x sigma(x) 4 (n + 1) / (n + 2)^2.
 * Beyond x = 20 both are x and 1 to within float64 rounding, and clamping
 * there keeps n finite. */
FA_INLINE REAL FN(fwd_mish)(REAL x, PAR p) {
    (void)p;
    int tail = x < FA_TAIL;                  /* see gated_sigmoid */
    REAL xs = tail ? x + FA_K_HI : (x > 20 ? 20 : x);
    REAL err = tail ? (x - (xs - FA_K_HI)) + FA_K_LO : 0;
    REAL e = EXP(xs);                        /* e^x, times 2^M in the tail */
    REAL eu = tail ? e * FA_K_SCALE : e;
    REAL n = eu * (eu + 2);
    /* t = n / (n + 2); in the tail (e (eu + 2) / (n + 2)) (1 + err), times 2^M.
     * One division serves both: outside the tail e = eu, so e (eu + 2) is n
     * (a vectorized loop computes both sides of a select). */
    REAL q = e * (eu + 2) / (n + 2);
    REAL t = FN(sel_)(tail, FN(sel_)(e == 0, 0, q * (1 + err)), q);
    return FN(sel_)(x > 20, x, FN(sel_)(t == 0, 0, x * t * FN(sel_)(tail, FA_K_SCALE, 1)));
}
/* The slope t + x sigma(x) 4 (n + 1) / (n + 2)^2 is e F(e, x) with
 * F = (e + 2) / d + 4 x (n + 1) / ((1 + e) d^2), d = n + 2.  Below FA_TAIL
 * the slope, about (1 + x) e^x, is still normal where e^x no longer is
 * (float32 x in (-93, -87.3), float64 (-715, -708.4)); from an unscaled e^x
 * it had 4e-6 relative error at x = -91.6 (float32; found by
 * bench/peer_accuracy.py).  There the factor e is taken scaled, as in
 * gated_sigmoid: e^(x + K) = e^x 2^M, K = M ln 2 in hi + lo, the rounding
 * error of x + K_hi recovered (Fast2Sum) and applied to first order (the
 * slope is proportional to e^x there), and 2^-M applied last; F needs e
 * only to first order, so the unscaled e, subnormal there, serves.
 * Elsewhere K = 0 and the scale is 1, exactly the plain formula.  (Selecting
 * the constants, not the results, keeps one copy of the arithmetic: 1.25x
 * the time of the unguarded slope, against 1.35x.) */
FA_INLINE REAL FN(slope_mish)(REAL x, PAR p) {
    (void)p;
    int tail = x < FA_TAIL;
    REAL k_hi = tail ? FA_K_HI : 0, k_lo = tail ? FA_K_LO : 0;
    REAL scale = tail ? FA_K_SCALE : 1;
    REAL xc = FN(sel_)(x > 20, 20, x);
    REAL xs = xc + k_hi;
    REAL err = (xc - (xs - k_hi)) + k_lo;    /* 0 outside the tail */
    REAL es = EXP(xs);                       /* e^x, times 2^M in the tail */
    REAL e = es * scale;
    REAL n = e * (e + 2);
    REAL d = n + 2;
    REAL f = (e + 2) / d + 4 * xc * (n + 1) / ((1 + e) * (d * d));
    REAL v = es * f;
    /* (at x = -inf, es = 0 and f, err are NaN: 0 is the limit) */
    REAL slope = FN(sel_)(es == 0, 0, (v + v * err) * scale);
    return FN(sel_)(x > 20, 1, slope);
}

/* hardswish x clip(x + 3, 0, 6) / 6 */
FA_INLINE REAL FN(fwd_hardswish)(REAL x, PAR p) {
    (void)p;
    return x <= -3 ? 0 : (x >= 3 ? x : x * (x + 3) / 6);
}
FA_INLINE REAL FN(slope_hardswish)(REAL x, PAR p) {
    (void)p;
    return x < -3 ? 0 : (x > 3 ? 1 : (2 * x + 3) / 6);
}
