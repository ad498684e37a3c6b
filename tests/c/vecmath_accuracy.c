/*
 * Accuracy and special-value test for csrc/vecmath.h.
 *
 *   gcc -O2 -std=c99 -I csrc tests/c/vecmath_accuracy.c -lm -o vecmath_accuracy
 *   ./vecmath_accuracy [STRIDE [N64 [FUNC...]]]
 *
 * STRIDE: float32 inputs are the bit patterns 0, STRIDE, 2*STRIDE, ... < 2^32
 *         (STRIDE=1 is exhaustive; default 4099, a few seconds), plus a fixed
 *         set of structured inputs (powers of two, thresholds, specials).
 * N64:    number of random float64 inputs (default 3000000), on top of the
 *         structured float64 inputs (powers of two, neighbourhoods of the
 *         overflow/underflow/interval thresholds, subnormals, +-0, +-inf, NaN).
 * FUNC:   optional list of function names (e.g. exp_f32 tanh_f64) to test;
 *         default all.
 *
 * References: float32 results are compared with the double-precision libm
 * function (error < 2^-50 relative, i.e. far below a float ulp), float64
 * results with the long double (x87 64-bit mantissa) libm function.
 *
 * Error measure: |y - ref| / ulp(ref), ulp(ref) = 2^(floor(log2|ref|) - p + 1),
 * for references whose rounded value is a normal number (an infinite y
 * counts as 2^128 / 2^1024).  Results in the subnormal range are measured in
 * units of the smallest subnormal ("sub" column).  Failures (exit status 1):
 *   - max ulp error > 4 for normal results,
 *   - subnormal-range error > 4 units of the smallest subnormal, or a zero
 *     result where |ref| is at least the smallest subnormal,
 *   - wrong special values: NaN must give NaN, infinite/zero references must
 *     be matched exactly (including the sign of zero), and expm1, log1p and
 *     tanh of a subnormal x must return x.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vecmath.h"

#define ULP_LIMIT 4.0
#define SUB_LIMIT 4.0
#define MAX_SPECIAL_REPORT 5

typedef struct {
    const char *name;
    double maxulp, worst_x;     /* normal results */
    double maxsub, worst_sub_x; /* subnormal-range results */
    long special_fail;
    long n;
} stat_t;


static void report_special(stat_t *s, double x, double y, double ref)
{
    s->special_fail++;
    if (s->special_fail <= MAX_SPECIAL_REPORT)
        printf("  SPECIAL FAIL %s(%.17g [%a]) = %.17g, expected %.17g\n",
               s->name, x, x, y, ref);
}

/* ---------------------------------------------------------------- float32 */
static void check_f32(stat_t *s, float x, float y, double ref, int identity_tiny)
{
    s->n++;
    if (isnan(ref)) {
        if (!isnan(y))
            report_special(s, x, y, ref);
        return;
    }
    if (isnan(y)) {
        report_special(s, x, y, ref);
        return;
    }
    if (isinf(ref) || ref == 0.0) {
        if ((double)y != ref || !signbit(y) != !signbit(ref))
            report_special(s, x, y, ref);
        return;
    }
    if (identity_tiny && x != 0.0f && fabsf(x) < FLT_MIN) {
        if (y != x)
            report_special(s, x, y, x);
        return;
    }
    float yr = (float)ref; /* correctly rounded result */
    if (isinf(yr) && y == yr)
        return;
    double ar = fabs(ref);
    if (ar < (double)FLT_MIN) {
        double err = fabs((double)y - ref) / 0x1p-149;
        if (y == 0.0f && ar >= 0x1p-149)
            report_special(s, x, y, ref);
        if (err > s->maxsub) {
            s->maxsub = err;
            s->worst_sub_x = x;
        }
        return;
    }
    double yy = isinf(y) ? copysign(0x1p128, y) : (double)y;
    double ulp = ldexp(1.0, ilogb(ref) - 23);
    double err = fabs(yy - ref) / ulp;
    if (err > s->maxulp) {
        s->maxulp = err;
        s->worst_x = x;
    }
}

/* ---------------------------------------------------------------- float64 */
static void check_f64(stat_t *s, double x, double y, long double ref, int identity_tiny)
{
    s->n++;
    if (isnan(ref)) {
        if (!isnan(y))
            report_special(s, x, y, (double)ref);
        return;
    }
    if (isnan(y)) {
        report_special(s, x, y, (double)ref);
        return;
    }
    if (isinf(ref) || ref == 0.0L) {
        if ((long double)y != ref || !signbit(y) != !signbit(ref))
            report_special(s, x, y, (double)ref);
        return;
    }
    if (identity_tiny && x != 0.0 && fabs(x) < DBL_MIN) {
        if (y != x)
            report_special(s, x, y, x);
        return;
    }
    double yr = (double)ref;
    if (isinf(yr) && y == yr)
        return;
    long double ar = fabsl(ref);
    if (ar < (long double)DBL_MIN) {
        long double err = fabsl((long double)y - ref) / 0x1p-1074L;
        if (y == 0.0 && ar >= 0x1p-1074L)
            report_special(s, x, y, (double)ref);
        if (err > s->maxsub) {
            s->maxsub = (double)err;
            s->worst_sub_x = x;
        }
        return;
    }
    long double yy = isinf(y) ? copysignl(0x1p1024L, y) : (long double)y;
    long double ulp = ldexpl(1.0L, ilogbl(ref) - 52);
    double err = (double)(fabsl(yy - ref) / ulp);
    if (err > s->maxulp) {
        s->maxulp = err;
        s->worst_x = x;
    }
}

/* ------------------------------------------------------------- references */
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static long double ref_sigmoidl(long double x) { return 1.0L / (1.0L + expl(-x)); }
/* fa_exp_scaled is defined for x <= 0 (clamped at its MIN): checked at -|x| */
static double ref_exp_scaled(double x)
{
    double v = -fabs(x);
    return isnan(x) ? x : ldexp(exp(v < FA_EXP_SCALED_MIN_F32 ? FA_EXP_SCALED_MIN_F32 : v), 64);
}
static long double ref_exp_scaledl(long double x)
{
    long double v = -fabsl(x);
    return isnan(x) ? x : ldexpl(expl(v < FA_EXP_SCALED_MIN_F64 ? FA_EXP_SCALED_MIN_F64 : v), 128);
}
/* fa_log1p_unit_f32 on its domain [0, 1]: x -> |x|, NaN outside */
static float log1p_unit_on_f32(float x)
{
    float t = fabsf(x);
    return fa_log1p_unit_f32(t <= 1.0f ? t : NAN);
}
static double ref_log1p_unit(double x)
{
    double t = fabs(x);
    return t <= 1.0 ? log1p(t) : NAN;
}
static float exp_scaled_neg_f32(float x) { return fa_exp_scaled_f32(-fabsf(x)); }
static double exp_scaled_neg_f64(double x) { return fa_exp_scaled_f64(-fabs(x)); }

/* ------------------------------------------------------------ input sets */
static float *g_in32;
static size_t g_n32;
static double *g_in64;
static size_t g_n64;

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd64(void)
{
    /* splitmix64 */
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rnd01(void) { return (double)(rnd64() >> 11) * 0x1p-53; }

static void push32(float x)
{
    static size_t cap;
    if (g_n32 == cap) {
        cap = cap ? 2 * cap : 4096;
        g_in32 = realloc(g_in32, cap * sizeof *g_in32);
        if (!g_in32)
            exit(2);
    }
    g_in32[g_n32++] = x;
}

static void push64(double x)
{
    static size_t cap;
    if (g_n64 == cap) {
        cap = cap ? 2 * cap : 1 << 16;
        g_in64 = realloc(g_in64, cap * sizeof *g_in64);
        if (!g_in64)
            exit(2);
    }
    g_in64[g_n64++] = x;
}

/* thresholds and interval boundaries used by the kernels and the functions */
static const double g_thresholds[] = {
    0.0, 1.0, -1.0, 2.0, 0.47, 1.3, 1.9, 2.5, 6.0, 10.1, 27.3, 89.0, -104.0, -20.0, -40.0,
    9.5, 19.5, 710.0, -746.0, 0.34657359027997264, -0.34657359027997264,
    1.0397207708399179, -1.0397207708399179, 0.69314718055994529, -0.69314718055994529,
    88.722839, 88.72283935546875, -87.336544750553102, -103.27892990343184, -103.97207708399179,
    709.782712893384, -708.39641853226408, -744.44007192138122, -745.13321910194111,
    -17.328679513998633, -36.736800569677101, 9.010913347279289, 18.714973875118524,
    9.1945, 10.0542, 26.5432, 27.2258, 3.9, 5.9, -3.9, -5.9,
    -0.29289321881345243, 0.41421356237309503, -0.5, 1e-4, 1e-8, -1e-8,
};

static void build_inputs_f32(void)
{
    /* specials and structured values */
    const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MIN, -FLT_MIN,
                        FLT_MAX, -FLT_MAX, 0x1p-149f, -0x1p-149f, 1.0f, -1.0f};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
        push32(sp[i]);
    for (int e = -149; e <= 127; e++)
        for (int sg = -1; sg <= 1; sg += 2) {
            float p = (float)sg * ldexpf(1.0f, e);
            push32(p);
            push32(nextafterf(p, 0.0f));
            push32(nextafterf(p, (float)sg * INFINITY));
        }
    for (size_t i = 0; i < sizeof g_thresholds / sizeof g_thresholds[0]; i++) {
        for (int sg = -1; sg <= 1; sg += 2) {
            float t = (float)(sg * g_thresholds[i]);
            float lo = t, hi = t;
            for (int k = 0; k < 300; k++) {
                push32(lo);
                push32(hi);
                lo = nextafterf(lo, -INFINITY);
                hi = nextafterf(hi, INFINITY);
            }
        }
    }
}

static void build_inputs_f64(long nrand)
{
    const double sp[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, DBL_MIN, -DBL_MIN,
                         DBL_MAX, -DBL_MAX, 0x1p-1074, -0x1p-1074, 1.0, -1.0};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
        push64(sp[i]);
    for (int e = -1074; e <= 1023; e++)
        for (int sg = -1; sg <= 1; sg += 2) {
            double p = sg * ldexp(1.0, e);
            push64(p);
            push64(nextafter(p, 0.0));
            push64(nextafter(p, sg * INFINITY));
        }
    for (size_t i = 0; i < sizeof g_thresholds / sizeof g_thresholds[0]; i++) {
        for (int sg = -1; sg <= 1; sg += 2) {
            double t = sg * g_thresholds[i];
            double lo = t, hi = t;
            for (int k = 0; k < 1000; k++) {
                push64(lo);
                push64(hi);
                lo = nextafter(lo, -INFINITY);
                hi = nextafter(hi, INFINITY);
            }
            /* and a random spread at relative distance up to 2^-20 */
            for (int k = 0; k < 1000; k++)
                push64(t + (rnd01() - 0.5) * 0x1p-20 * (fabs(t) > 0 ? fabs(t) : 1.0));
        }
    }
    /* reduction boundaries (k + 1/2) ln2 for the exp-type kernels */
    for (int k = -1080; k <= 1030; k++) {
        double t = (k + 0.5) * 0.69314718055994531;
        for (int j = 0; j < 20; j++)
            push64(t + (rnd01() - 0.5) * 0x1p-40 * (fabs(t) + 1));
    }
    /* x -> -1 for log1p */
    for (int e = 1; e <= 60; e++)
        for (int j = 0; j < 200; j++)
            push64(-1.0 + ldexp(1.0 + rnd01(), -e));
    for (long i = 0; i < nrand; i++) {
        double x;
        switch (i % 8) {
        case 0: /* log-uniform magnitude 2^-40 .. 2^10 */
        case 1:
            x = ldexp(1.0 + rnd01(), -40 + (int)(rnd64() % 51));
            x = (rnd64() & 1) ? -x : x;
            break;
        case 2: x = (rnd01() * 2 - 1) * 30.0; break;
        case 3: x = (rnd01() * 2 - 1) * 6.0; break;
        case 4: x = (rnd01() * 2 - 1) * 1.5; break;
        case 5: x = (rnd01() * 2 - 1) * 750.0; break;
        case 6: /* subnormal and tiny */
            x = ldexp(rnd01(), -1022 - (int)(rnd64() % 60));
            x = (rnd64() & 1) ? -x : x;
            break;
        default: { /* random bit pattern */
            uint64_t b = rnd64();
            memcpy(&x, &b, sizeof x);
        }
        }
        push64(x);
    }
}

/* ------------------------------------------------------------ test loops */
static int g_fail;

static int selected(int argc, char **argv, int first, const char *name)
{
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static void finish(stat_t *s)
{
    int bad = s->maxulp > ULP_LIMIT || s->maxsub > SUB_LIMIT || s->special_fail > 0;
    printf("%-12s max %6.3f ulp at x=%-24.17g [%a]  sub %5.2f at x=%-14.9g  specials %s  n=%ld  %s\n",
           s->name, s->maxulp, s->worst_x, s->worst_x, s->maxsub, s->worst_sub_x,
           s->special_fail ? "FAIL" : "ok", s->n, bad ? "FAIL" : "PASS");
    fflush(stdout);
    g_fail |= bad;
}

#define TEST_F32(NAME, FN, REF, IDENT)                                          \
    static void test_##NAME(uint64_t stride)                                     \
    {                                                                            \
        stat_t s = {#NAME, 0, 0, 0, 0, 0, 0};                                    \
        for (uint64_t i = 0; i < (1ull << 32); i += stride) {                    \
            uint32_t b = (uint32_t)i;                                            \
            float x;                                                             \
            memcpy(&x, &b, sizeof x);                                            \
            check_f32(&s, x, FN(x), REF((double)x), IDENT);                      \
        }                                                                        \
        for (size_t i = 0; i < g_n32; i++) {                                     \
            float x = g_in32[i];                                                 \
            check_f32(&s, x, FN(x), REF((double)x), IDENT);                      \
        }                                                                        \
        finish(&s);                                                              \
    }

#define TEST_F64(NAME, FN, REF, IDENT)                                          \
    static void test_##NAME(void)                                                \
    {                                                                            \
        stat_t s = {#NAME, 0, 0, 0, 0, 0, 0};                                    \
        for (size_t i = 0; i < g_n64; i++) {                                     \
            double x = g_in64[i];                                                \
            check_f64(&s, x, FN(x), REF((long double)x), IDENT);                 \
        }                                                                        \
        finish(&s);                                                              \
    }

TEST_F32(exp_f32, fa_exp_f32, exp, 0)
TEST_F32(expm1_f32, fa_expm1_f32, expm1, 1)
TEST_F32(log1p_f32, fa_log1p_f32, log1p, 1)
TEST_F32(log1p_unit_f32, log1p_unit_on_f32, ref_log1p_unit, 0)
TEST_F32(tanh_f32, fa_tanh_f32, tanh, 1)
TEST_F32(sigmoid_f32, fa_sigmoid_f32, ref_sigmoid, 0)
TEST_F32(erfc_f32, fa_erfc_f32, erfc, 0)
TEST_F32(exp_scaled_f32, exp_scaled_neg_f32, ref_exp_scaled, 0)
TEST_F64(exp_f64, fa_exp_f64, expl, 0)
TEST_F64(expm1_f64, fa_expm1_f64, expm1l, 1)
TEST_F64(log1p_f64, fa_log1p_f64, log1pl, 1)
TEST_F64(tanh_f64, fa_tanh_f64, tanhl, 1)
TEST_F64(sigmoid_f64, fa_sigmoid_f64, ref_sigmoidl, 0)
TEST_F64(erfc_f64, fa_erfc_f64, erfcl, 0)
TEST_F64(exp_scaled_f64, exp_scaled_neg_f64, ref_exp_scaledl, 0)

/* explicit special values (also covered by the sweeps, listed for clarity) */
static int specials(void)
{
    const float inf = INFINITY, nan = NAN;
    const double dinf = INFINITY, dnan = NAN;
    int bad = 0;
#define EXPECT(cond)                                                             \
    do {                                                                         \
        if (!(cond)) {                                                           \
            printf("  SPECIAL FAIL: %s\n", #cond);                               \
            bad = 1;                                                             \
        }                                                                        \
    } while (0)
#define SAME32(a, b) (memcmp(&(float){a}, &(float){b}, 4) == 0)
#define SAME64(a, b) (memcmp(&(double){a}, &(double){b}, 8) == 0)
    EXPECT(isnan(fa_exp_f32(nan)) && isnan(fa_expm1_f32(nan)) && isnan(fa_log1p_f32(nan)) &&
           isnan(fa_tanh_f32(nan)) && isnan(fa_sigmoid_f32(nan)) && isnan(fa_erfc_f32(nan)));
    EXPECT(isnan(fa_exp_f64(dnan)) && isnan(fa_expm1_f64(dnan)) && isnan(fa_log1p_f64(dnan)) &&
           isnan(fa_tanh_f64(dnan)) && isnan(fa_sigmoid_f64(dnan)) && isnan(fa_erfc_f64(dnan)));
    EXPECT(fa_exp_f32(inf) == inf && SAME32(fa_exp_f32(-inf), 0.0f));
    EXPECT(fa_exp_f64(dinf) == dinf && SAME64(fa_exp_f64(-dinf), 0.0));
    EXPECT(fa_exp_f32(89.0f) == inf && fa_exp_f32(88.72283f) < inf && fa_exp_f32(88.7229f) == inf);
    EXPECT(fa_exp_f64(709.78) < dinf && fa_exp_f64(709.79) == dinf);
    EXPECT(fa_exp_f32(-103.0f) > 0.0f && fa_exp_f32(-104.0f) == 0.0f);
    EXPECT(fa_exp_f64(-744.0) > 0.0 && fa_exp_f64(-746.0) == 0.0);
    EXPECT(fa_expm1_f32(-inf) == -1.0f && fa_expm1_f32(inf) == inf && fa_expm1_f32(100.0f) == inf);
    EXPECT(fa_expm1_f64(-dinf) == -1.0 && fa_expm1_f64(dinf) == dinf && fa_expm1_f64(710.0) == dinf);
    EXPECT(SAME32(fa_expm1_f32(-0.0f), -0.0f) && SAME64(fa_expm1_f64(-0.0), -0.0));
    EXPECT(fa_expm1_f32(0x1p-140f) == 0x1p-140f && fa_expm1_f64(-0x1p-1070) == -0x1p-1070);
    EXPECT(fa_log1p_f32(-1.0f) == -inf && isnan(fa_log1p_f32(-1.5f)) && isnan(fa_log1p_f32(-inf)));
    EXPECT(fa_log1p_f64(-1.0) == -dinf && isnan(fa_log1p_f64(-1.5)) && isnan(fa_log1p_f64(-dinf)));
    EXPECT(fa_log1p_f32(inf) == inf && fa_log1p_f64(dinf) == dinf);
    EXPECT(SAME32(fa_log1p_f32(-0.0f), -0.0f) && SAME64(fa_log1p_f64(-0.0), -0.0));
    EXPECT(fa_log1p_f32(0x1p-130f) == 0x1p-130f && fa_log1p_f64(0x1p-1060) == 0x1p-1060);
    EXPECT(SAME32(fa_log1p_unit_f32(0.0f), 0.0f) && isnan(fa_log1p_unit_f32(nan)) &&
           fa_log1p_unit_f32(0x1p-140f) == 0x1p-140f);
    EXPECT(fa_tanh_f32(inf) == 1.0f && fa_tanh_f32(-inf) == -1.0f);
    EXPECT(fa_tanh_f64(dinf) == 1.0 && fa_tanh_f64(-dinf) == -1.0);
    EXPECT(SAME32(fa_tanh_f32(-0.0f), -0.0f) && SAME64(fa_tanh_f64(-0.0), -0.0));
    EXPECT(fa_tanh_f32(-0x1p-149f) == -0x1p-149f && fa_tanh_f64(0x1p-1074) == 0x1p-1074);
    EXPECT(fa_sigmoid_f32(inf) == 1.0f && SAME32(fa_sigmoid_f32(-inf), 0.0f));
    EXPECT(fa_sigmoid_f64(dinf) == 1.0 && SAME64(fa_sigmoid_f64(-dinf), 0.0));
    EXPECT(fa_sigmoid_f32(0.0f) == 0.5f && fa_sigmoid_f32(-0.0f) == 0.5f && fa_sigmoid_f64(-0.0) == 0.5);
    EXPECT(fa_sigmoid_f32(-100.0f) > 0.0f && fa_sigmoid_f32(200.0f) == 1.0f);
    EXPECT(fa_erfc_f32(-inf) == 2.0f && SAME32(fa_erfc_f32(inf), 0.0f));
    EXPECT(fa_erfc_f64(-dinf) == 2.0 && SAME64(fa_erfc_f64(dinf), 0.0));
    EXPECT(fa_erfc_f32(0.0f) == 1.0f && fa_erfc_f64(-0.0) == 1.0);
    EXPECT(fa_exp_scaled_f32(0.0f) == 0x1p64f && fa_exp_scaled_f64(-0.0) == 0x1p128);
    EXPECT(fa_exp_scaled_f32(-inf) == fa_exp_scaled_f32(FA_EXP_SCALED_MIN_F32) &&
           fa_exp_scaled_f32(-100.0f) * 0x1p-64f > 0.0f && fa_exp_scaled_f32(-100.0f) >= FLT_MIN);
    EXPECT(fa_exp_scaled_f64(-dinf) == fa_exp_scaled_f64(FA_EXP_SCALED_MIN_F64) &&
           fa_exp_scaled_f64(-750.0) >= DBL_MIN);
    EXPECT(isnan(fa_exp_scaled_f32(nan)) && isnan(fa_exp_scaled_f64(dnan)));
    EXPECT(fa_erfc_f32(-20.0f) == 2.0f && fa_erfc_f32(20.0f) == 0.0f && fa_erfc_f64(30.0) == 0.0);
    return bad;
#undef EXPECT
}

int main(int argc, char **argv)
{
    uint64_t stride = argc > 1 ? strtoull(argv[1], NULL, 0) : 4099;
    long n64 = argc > 2 ? strtol(argv[2], NULL, 0) : 3000000;
    if (stride == 0)
        stride = 1;

    printf("vecmath accuracy: float32 stride %llu%s, float64 %ld random inputs\n",
           (unsigned long long)stride, stride == 1 ? " (exhaustive)" : "", n64);
    fflush(stdout);
    if (specials()) {
        printf("explicit special-value checks: FAIL\n");
        g_fail = 1;
    } else {
        printf("explicit special-value checks: ok\n");
    }
    build_inputs_f32();
    build_inputs_f64(n64);

#define RUN32(NAME) if (selected(argc, argv, 3, #NAME)) test_##NAME(stride)
#define RUN64(NAME) if (selected(argc, argv, 3, #NAME)) test_##NAME()
    RUN32(exp_f32);
    RUN32(expm1_f32);
    RUN32(log1p_f32);
    RUN32(log1p_unit_f32);
    RUN32(tanh_f32);
    RUN32(sigmoid_f32);
    RUN32(erfc_f32);
    RUN32(exp_scaled_f32);
    RUN64(exp_f64);
    RUN64(expm1_f64);
    RUN64(log1p_f64);
    RUN64(tanh_f64);
    RUN64(sigmoid_f64);
    RUN64(erfc_f64);
    RUN64(exp_scaled_f64);
    printf("%s\n", g_fail ? "RESULT: FAIL" : "RESULT: PASS");
    return g_fail ? 1 : 0;
}
