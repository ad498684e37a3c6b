/*
 * vecmath.h - branch-free, table-free elementary functions for fastact.
 *
 * Plain C99, header only, every function `static inline`.  The code is written
 * so that GCC (>= 12) at -O3, without -ffast-math, auto-vectorizes a loop such as
 *
 *     for (i = 0; i < n; i++) out[i] = fa_tanh_f32(in[i]);
 *
 * (e.g. in a function carrying
 *  __attribute__((target_clones("arch=x86-64-v4","arch=x86-64-v3","default")))):
 *   - no libm calls and no lookup tables;
 *   - no data-dependent branches: every lane computes every path and the
 *     result is picked with bit-mask selects (see fa__sel_f32 below);
 *   - float <-> integer reinterpretation only through memcpy (no UB), and no
 *     float -> int conversions: rounding to an integer uses the
 *     "add 1.5*2^(p-1)" trick and the integer is read from the bits of the sum;
 *   - clamps select on `x > c` / `x < c`, which is false for NaN, so NaN
 *     passes through every function;
 *   - these loops are bound by the latency of their dependency chain, not by
 *     their operation count (the out-of-order window fills with operations
 *     waiting on their predecessors), so the chain is kept short: polynomials
 *     by Estrin's scheme (FA__EST*), and an argument range is "clamped" by
 *     computing on the raw argument and selecting, at the end, the value the
 *     bound gives (its compare runs beside the chain, not at its head; lanes
 *     beyond the bound compute garbage that is discarded).  tanh float32,
 *     100k elements on AVX-512: 19.3 us with a clamp in front and Horner,
 *     17.2 with the end select, 16.0 with Estrin as well.
 * Checked with GCC 12: every loop vectorizes for x86-64-v4 (zmm) and x86-64-v3
 * (ymm); for baseline x86-64 (SSE2) the float32 loops vectorize, the float64
 * ones stay scalar (no 64-bit vector compares/blends in SSE2).
 * The accuracy does not depend on whether the compiler contracts a*b+c into FMA
 * (the algorithms are accurate with and without contraction).
 *
 * All polynomial coefficients are weighted-minimax fits computed by
 * tools/fit_vecmath.py (re-run it with --update-header to regenerate the block
 * below).  The "Max error" figures in the comments are measured by
 * tests/c/vecmath_accuracy.c as |y - f(x)| / ulp(f(x)) against a reference
 * computed in higher precision (double libm for float32, long double libm for
 * float64), over all inputs whose result is a normal number: float32 over all
 * 2^32 inputs, float64 over 3e7 random plus 4e5 structured inputs; "FMA" is
 * the same measurement with a*b+c contracted into FMA (-march=x86-64-v3
 * -ffp-contract=fast), as in the vectorized AVX2/AVX-512 code of a default
 * (gnu) build.  Results in the subnormal range are within 1.3 units of the
 * smallest subnormal; 0 is only returned where the true value is below it.
 */
#ifndef FASTACT_VECMATH_H
#define FASTACT_VECMATH_H

#include <stdint.h>
#include <string.h>

/* The kernels must be inlined into the caller's loop to vectorize (the larger
   ones exceed GCC's default inlining limits, e.g. inside target_clones). */
#if defined(__GNUC__) || defined(__clang__)
#define FA_INLINE static inline __attribute__((always_inline))
#else
#define FA_INLINE static inline
#endif

/* BEGIN GENERATED COEFFICIENTS (tools/fit_vecmath.py) */
/* ln2 with 16 significant bits: k*hi exact for |k| < 2^8 */
#define FA__LN2HI_F 0x1.62e4p-1f
/* ln2 - LN2HI rounded */
#define FA__LN2LO_F 0x1.7f7d1cp-20f
/* 1/ln2 rounded */
#define FA__LOG2E_F 0x1.715476p+0f
/* bit pattern of sqrt(1/2) rounded */
#define FA__SQRT1_2_BITS_F 0x3F3504F3u
/* expm1(r) ~ r + r^2*P(r), |r|<=0.34727, rel err 1.4e-08 */
#define FA__EXPF_P0 0x1.fffffep-2f
#define FA__EXPF_P1 0x1.5554b2p-3f
#define FA__EXPF_P2 0x1.5556fap-5f
#define FA__EXPF_P3 0x1.1226bap-7f
#define FA__EXPF_P4 0x1.6b9442p-10f
/* log1p(f) ~ f + f^2*P(f), f in [-0.2930, 0.4143], rel err 4.2e-09 */
#define FA__LOG1PF_P0 -0x1.fffff8p-2f
#define FA__LOG1PF_P1 0x1.55555p-2f
#define FA__LOG1PF_P2 -0x1.000434p-2f
#define FA__LOG1PF_P3 0x1.99a41ep-3f
#define FA__LOG1PF_P4 -0x1.54253ep-3f
#define FA__LOG1PF_P5 0x1.226d36p-3f
#define FA__LOG1PF_P6 -0x1.0f43ep-3f
#define FA__LOG1PF_P7 0x1.086886p-3f
#define FA__LOG1PF_P8 -0x1.38450ap-4f
/* log1p(t) ~ t + t^2*P(t), t in [0, 1], rel err 5.3e-09 */
#define FA__LOG1PUF_P0 -0x1.ffffd2p-2f
#define FA__LOG1PUF_P1 0x1.554dd8p-2f
#define FA__LOG1PUF_P2 -0x1.ff2518p-3f
#define FA__LOG1PUF_P3 0x1.9353fp-3f
#define FA__LOG1PUF_P4 -0x1.3a629cp-3f
#define FA__LOG1PUF_P5 0x1.b52bfcp-4f
#define FA__LOG1PUF_P6 -0x1.d7ceb8p-5f
#define FA__LOG1PUF_P7 0x1.4a6eb6p-6f
#define FA__LOG1PUF_P8 -0x1.b1ebdep-9f
/* erf(x) ~ x*P(x^2), |x| <= 0.47, err rel. to erfc 5.1e-09 */
#define FA__ERFF_S0 0x1.20dd74p+0f
#define FA__ERFF_S1 -0x1.81264ep-2f
#define FA__ERFF_S2 0x1.cdecf2p-4f
#define FA__ERFF_S3 -0x1.b149bp-6f
#define FA__ERFF_S4 0x1.0d70d6p-8f
/* erfcx(x) ~ Q(x - C), x in [0.47, 1.9], rel err 2.2e-09 */
#define FA__ERFCF_A_C 0x1.382p+0f
#define FA__ERFCF_A0 0x1.7f5564p-2f
#define FA__ERFCF_A1 -0x1.b96bb6p-3f
#define FA__ERFCF_A2 0x1.c8f0aep-4f
#define FA__ERFCF_A3 -0x1.b24ba2p-5f
#define FA__ERFCF_A4 0x1.805c9p-6f
#define FA__ERFCF_A5 -0x1.400cdcp-7f
#define FA__ERFCF_A6 0x1.f9500ap-9f
#define FA__ERFCF_A7 -0x1.782662p-10f
#define FA__ERFCF_A8 0x1.0b05dap-11f
#define FA__ERFCF_A9 -0x1.b4b15cp-13f
#define FA__ERFCF_A10 0x1.40e496p-14f
/* erfcx(x) ~ G(t - C)/x, t = 1/x, x in [1.9, 10.1], rel err 5.8e-10 */
#define FA__ERFCF_B_C 0x1.3f2p-2f
#define FA__ERFCF_B0 0x1.14812p-1f
#define FA__ERFCF_B1 -0x1.19f53ap-3f
#define FA__ERFCF_B2 -0x1.06ede2p-3f
#define FA__ERFCF_B3 0x1.a1eda4p-3f
#define FA__ERFCF_B4 -0x1.70f1bep-4f
#define FA__ERFCF_B5 -0x1.14ba94p-3f
#define FA__ERFCF_B6 0x1.45cbaap-2f
#define FA__ERFCF_B7 -0x1.261f72p-2f
#define FA__ERFCF_B8 -0x1.513ffep-4f
#define FA__ERFCF_B9 0x1.aaf472p-1f
#define FA__ERFCF_B10 -0x1.2b7cecp+0f
/* ln2 with 42 significant bits: k*hi exact for |k| < 2^11 */
#define FA__LN2HI_D 0x1.62e42fefa38p-1
/* ln2 - LN2HI rounded */
#define FA__LN2LO_D 0x1.ef35793c7673p-45
/* 1/ln2 rounded */
#define FA__LOG2E_D 0x1.71547652b82fep+0
/* bit pattern of sqrt(1/2) rounded */
#define FA__SQRT1_2_BITS_D 0x3FE6A09E667F3BCDull
/* expm1(r) ~ r + r^2*P(r), |r|<=0.34727, rel err 1.9e-17 */
#define FA__EXPD_P0 0x1.0000000000005p-1
#define FA__EXPD_P1 0x1.5555555555543p-3
#define FA__EXPD_P2 0x1.5555555552128p-5
#define FA__EXPD_P3 0x1.1111111116e5dp-7
#define FA__EXPD_P4 0x1.6c16c17f2f5ccp-10
#define FA__EXPD_P5 0x1.a01a017f6c4e1p-13
#define FA__EXPD_P6 0x1.a019a6879964fp-16
#define FA__EXPD_P7 0x1.71de721a37393p-19
#define FA__EXPD_P8 0x1.28a2bf3bb9f8dp-22
#define FA__EXPD_P9 0x1.ae8d5de6a2b31p-26
/* tanh(x) ~ x + x^3*P(x^2), |x| <= 0.55, rel err 5.8e-19 */
#define FA__TANHD_P0 -0x1.555555555554fp-2
#define FA__TANHD_P1 0x1.1111111110794p-3
#define FA__TANHD_P2 -0x1.ba1ba1b97d0dep-5
#define FA__TANHD_P3 0x1.664f4859597f3p-6
#define FA__TANHD_P4 -0x1.226e2f11e714ep-7
#define FA__TANHD_P5 0x1.d6d29b3a23211p-9
#define FA__TANHD_P6 -0x1.7d8fcf72cf6ccp-10
#define FA__TANHD_P7 0x1.34838e9b3b231p-11
#define FA__TANHD_P8 -0x1.e96e98123955cp-13
#define FA__TANHD_P9 0x1.5d7130a381cf4p-14
#define FA__TANHD_P10 -0x1.4709af2fd97cep-16
/* log1p(f) ~ f + f^2*P(f), f in [-0.2930, 0.4143], rel err 8.1e-18 */
#define FA__LOG1PD_P0 -0x1.0000000000003p-1
#define FA__LOG1PD_P1 0x1.5555555555521p-2
#define FA__LOG1PD_P2 -0x1.fffffffffdeb5p-3
#define FA__LOG1PD_P3 0x1.99999999a0de5p-3
#define FA__LOG1PD_P4 -0x1.55555556e45bbp-3
#define FA__LOG1PD_P5 0x1.249249228463bp-3
#define FA__LOG1PD_P6 -0x1.fffffef5c1cc2p-4
#define FA__LOG1PD_P7 0x1.c71c71bf1b52ep-4
#define FA__LOG1PD_P8 -0x1.9999c91cd2f09p-4
#define FA__LOG1PD_P9 0x1.745d4812e4254p-4
#define FA__LOG1PD_P10 -0x1.555074da53251p-4
#define FA__LOG1PD_P11 0x1.3b0a9408a2441p-4
#define FA__LOG1PD_P12 -0x1.24dc17632c947p-4
#define FA__LOG1PD_P13 0x1.11da4f066907fp-4
#define FA__LOG1PD_P14 -0x1.fb75dfef05fbap-5
#define FA__LOG1PD_P15 0x1.cfa0666aa762cp-5
#define FA__LOG1PD_P16 -0x1.d11d8c3d06aa3p-5
#define FA__LOG1PD_P17 0x1.0b625de46a2cbp-4
#define FA__LOG1PD_P18 -0x1.ebfef1c694fb5p-5
#define FA__LOG1PD_P19 0x1.acfaa6bf948b6p-6
/* erf(x) ~ x*P(x^2), |x| <= 0.47, err rel. to erfc 5.6e-19 */
#define FA__ERFD_S0 0x1.20dd750429b6dp+0
#define FA__ERFD_S1 -0x1.812746b03799ep-2
#define FA__ERFD_S2 0x1.ce2f21a03d333p-4
#define FA__ERFD_S3 -0x1.b82ce30f73496p-6
#define FA__ERFD_S4 0x1.565bcc1fe15e2p-8
#define FA__ERFD_S5 -0x1.c02d5f1ca7a02p-11
#define FA__ERFD_S6 0x1.f990d6432ac1cp-14
#define FA__ERFD_S7 -0x1.f27638b80622bp-17
#define FA__ERFD_S8 0x1.8ee14cd7a564p-20
#define FA__ERFD_S9 -0x1.0b38fa81ca9dbp-28
/* erfcx(x) ~ Q(x - C), x in [0.47, 1.3], rel err 1.3e-18 */
#define FA__ERFCD_A_C 0x1.c38p-1
#define FA__ERFCD_A0 0x1.d940d0bc65e0bp-2
#define FA__ERFCD_A1 -0x1.40cc03ec612d8p-2
#define FA__ERFCD_A2 0x1.7cb9d08d665dcp-3
#define FA__ERFCD_A3 -0x1.97cee5956c755p-4
#define FA__ERFCD_A4 0x1.91d4ee264821ep-5
#define FA__ERFCD_A5 -0x1.71036b53a15b7p-6
#define FA__ERFCD_A6 0x1.3ed6104530d8fp-7
#define FA__ERFCD_A7 -0x1.0510e5a29f8c7p-8
#define FA__ERFCD_A8 0x1.977479f11fa87p-10
#define FA__ERFCD_A9 -0x1.306cb31041f36p-11
#define FA__ERFCD_A10 0x1.b52a82376c698p-13
#define FA__ERFCD_A11 -0x1.2e9f83271541dp-14
#define FA__ERFCD_A12 0x1.94f9dda3d898fp-16
#define FA__ERFCD_A13 -0x1.061bd03e067f7p-17
#define FA__ERFCD_A14 0x1.4a8ebc9357802p-19
#define FA__ERFCD_A15 -0x1.adf895a38068bp-21
#define FA__ERFCD_A16 0x1.f190ca7fe1c38p-23
/* erfcx(x) ~ Q(x - C), x in [1.3, 2.5], rel err 5.8e-18 */
#define FA__ERFCD_B_C 0x1.eacp+0
#define FA__ERFCD_B0 0x1.0ee83aa77840ap-2
#define FA__ERFCD_B1 -0x1.d339dcbe4d3ddp-4
#define FA__ERFCD_B2 0x1.77eb7d6824de2p-5
#define FA__ERFCD_B3 -0x1.1d16b91c4816fp-6
#define FA__ERFCD_B4 0x1.9aa756eaaa827p-8
#define FA__ERFCD_B5 -0x1.1a821541cd6ddp-9
#define FA__ERFCD_B6 0x1.74fd14c2af9c7p-11
#define FA__ERFCD_B7 -0x1.da4deb49c1c92p-13
#define FA__ERFCD_B8 0x1.235bbbfec1838p-14
#define FA__ERFCD_B9 -0x1.5abc13a465624p-16
#define FA__ERFCD_B10 0x1.9097dff60b89dp-18
#define FA__ERFCD_B11 -0x1.c23a7da60818fp-20
#define FA__ERFCD_B12 0x1.ed13699e03f3p-22
#define FA__ERFCD_B13 -0x1.063e5f9d83fdfp-23
#define FA__ERFCD_B14 0x1.103613a40f964p-25
#define FA__ERFCD_B15 -0x1.3402a9cfbcf1cp-27
#define FA__ERFCD_B16 0x1.46c9e5da83e2dp-29
/* erfcx(x) ~ G(t - C)/x, t = 1/x, x in [2.5, 6.0], rel err 1.3e-18 */
#define FA__ERFCD_C_C 0x1.1ecp-2
#define FA__ERFCD_C0 0x1.16a9f8e6a159fp-1
#define FA__ERFCD_C1 -0x1.080ea5165b3b1p-3
#define FA__ERFCD_C2 -0x1.2f940c891fb62p-3
#define FA__ERFCD_C3 0x1.b61081ed33d35p-3
#define FA__ERFCD_C4 -0x1.048a98d9447c5p-4
#define FA__ERFCD_C5 -0x1.9c9f9308d89d3p-3
#define FA__ERFCD_C6 0x1.80d582e02e4eap-2
#define FA__ERFCD_C7 -0x1.ca2d7244e467dp-3
#define FA__ERFCD_C8 -0x1.6c81f9f76ff2dp-2
#define FA__ERFCD_C9 0x1.1cef3626dab99p+0
#define FA__ERFCD_C10 -0x1.5045bd3690cd8p+0
#define FA__ERFCD_C11 -0x1.ece34f2c03639p-5
#define FA__ERFCD_C12 0x1.c15e3e234eb6ap+1
#define FA__ERFCD_C13 -0x1.e98ebe81ce285p+2
#define FA__ERFCD_C14 0x1.d9cbf51508df3p+2
#define FA__ERFCD_C15 0x1.0d82948ce954ep+3
#define FA__ERFCD_C16 -0x1.1e620159f7b3dp+5
/* erfcx(x) ~ G(t - C)/x, t = 1/x, x in [6.0, 27.3], rel err 1.1e-19 */
#define FA__ERFCD_D_C 0x1.a88p-4
#define FA__ERFCD_D0 0x1.1f568d7b6f3d6p-1
#define FA__ERFCD_D1 -0x1.d027a2e139c04p-5
#define FA__ERFCD_D2 -0x1.06b1994ca51cbp-2
#define FA__ERFCD_D3 0x1.3b9e106dd8bb3p-3
#define FA__ERFCD_D4 0x1.1d7e77b4d5338p-2
#define FA__ERFCD_D5 -0x1.e08b24fd3e95p-2
#define FA__ERFCD_D6 -0x1.0cf9ac516b221p-2
#define FA__ERFCD_D7 0x1.816b0de8d65fep+0
#define FA__ERFCD_D8 -0x1.810a153e0154ap-1
#define FA__ERFCD_D9 -0x1.194e01c615cd2p+2
#define FA__ERFCD_D10 0x1.1109d113bcaacp+3
#define FA__ERFCD_D11 0x1.b82bab1fac88bp+2
#define FA__ERFCD_D12 -0x1.9a258b9de8abap+5
#define FA__ERFCD_D13 0x1.94c3348843cbap+5
#define FA__ERFCD_D14 0x1.8dcc843d47d74p+8
#define FA__ERFCD_D15 -0x1.c998969480828p+9
#define FA__ERFCD_D16 -0x1.8b94fff520bf2p+13
/* END GENERATED COEFFICIENTS */

/* ------------------------------------------------------------------------ */
/* bit casts and branch-free selects                                         */
/* ------------------------------------------------------------------------ */
FA_INLINE uint32_t fa__f2u(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }
FA_INLINE float fa__u2f(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }
FA_INLINE uint64_t fa__d2u(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
FA_INLINE double fa__u2d(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }

/*
 * Selects are written with all-ones/all-zero bit masks rather than `c ? a : b`.
 * A plain ternary becomes a control-flow join (PHI) in GCC's IR; when one arm is
 * a constant (a clamp bound, a per-interval coefficient), PRE/sinking then
 * evaluate the downstream arithmetic separately per arm, leaving floating-point
 * operations in conditional blocks, which if-conversion refuses to speculate
 * when FP traps are honoured (the default, no -ffast-math) unless the target has
 * masked vector ops (AVX-512).  Mask selects keep every lane's arithmetic
 * unconditional (GCC turns them back into vector blends).
 */
#define FA__M32(cond) (0u - (uint32_t)(cond))
#define FA__M64(cond) ((uint64_t)0 - (uint64_t)(cond))
FA_INLINE float fa__sel_f32(uint32_t m, float a, float b)
{
    return fa__u2f((fa__f2u(a) & m) | (fa__f2u(b) & ~m));
}
FA_INLINE double fa__sel_f64(uint64_t m, double a, double b)
{
    return fa__u2d((fa__d2u(a) & m) | (fa__d2u(b) & ~m));
}

#define FA__MAGIC_F 0x1.8p23f /* 1.5*2^23: x + MAGIC rounds x to an integer */
#define FA__MAGIC_D 0x1.8p52  /* 1.5*2^52 */

/*
 * Polynomials c0 + c1 v + ... + cn v^n by Estrin's scheme (see the top of the
 * file for why): pairs c_i + c_(i+1) v combined with v^2, then v^4, ...;
 * degree 9 takes 4 dependent FMA steps once v^4 is known instead of Horner's
 * 9.  The powers are passed in (v2 = v*v, v4 = v2*v2, ...) so that callers
 * share them; the arguments must be plain variables (expanded more than once).
 */
#define FA__EST1(v, c0, c1) ((c1) * (v) + (c0))
#define FA__EST3(v, v2, c0, c1, c2, c3) (FA__EST1(v, c2, c3) * (v2) + FA__EST1(v, c0, c1))
#define FA__EST4(v, v2, c0, c1, c2, c3, c4)                                     \
    (((c4) * (v2) + FA__EST1(v, c2, c3)) * (v2) + FA__EST1(v, c0, c1))
#define FA__EST7(v, v2, v4, c0, c1, c2, c3, c4, c5, c6, c7)                     \
    (FA__EST3(v, v2, c4, c5, c6, c7) * (v4) + FA__EST3(v, v2, c0, c1, c2, c3))
#define FA__EST8(v, v2, v4, c0, c1, c2, c3, c4, c5, c6, c7, c8)                 \
    (((c8) * (v4) + FA__EST3(v, v2, c4, c5, c6, c7)) * (v4) +                   \
     FA__EST3(v, v2, c0, c1, c2, c3))
#define FA__EST9(v, v2, v4, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9)             \
    ((FA__EST1(v, c8, c9) * (v4) + FA__EST3(v, v2, c4, c5, c6, c7)) * (v4) +    \
     FA__EST3(v, v2, c0, c1, c2, c3))
#define FA__EST10(v, v2, v4, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10)       \
    ((((c10) * (v2) + FA__EST1(v, c8, c9)) * (v4) +                             \
      FA__EST3(v, v2, c4, c5, c6, c7)) * (v4) + FA__EST3(v, v2, c0, c1, c2, c3))
#define FA__EST15(v, v2, v4, v8, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10,    \
                  c11, c12, c13, c14, c15)                                      \
    (FA__EST7(v, v2, v4, c8, c9, c10, c11, c12, c13, c14, c15) * (v8) +         \
     FA__EST7(v, v2, v4, c0, c1, c2, c3, c4, c5, c6, c7))
#define FA__EST19(v, v2, v4, v8, v16, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9,    \
                  c10, c11, c12, c13, c14, c15, c16, c17, c18, c19)             \
    (FA__EST3(v, v2, c16, c17, c18, c19) * (v16) +                              \
     FA__EST15(v, v2, v4, v8, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11,  \
               c12, c13, c14, c15))

/* ======================================================================== */
/* float32 kernels                                                           */
/* ======================================================================== */

/*
 * Cody-Waite reduction x = k*ln2 + r, |r| <= ~0.3466 (k = nearest integer to
 * x/ln2, |x| < 2^21).  Returns r, k as a float (*kf), and the bit pattern of
 * 1.5*2^23 + k (*kb), whose low bits are k in two's complement, so that
 * (kb << 23) is k placed in the exponent field.
 */
FA_INLINE float fa__reduce_f32(float x, float *kf, uint32_t *kb)
{
    float sum = x * FA__LOG2E_F + FA__MAGIC_F;
    float k = sum - FA__MAGIC_F;
    float r = x - k * FA__LN2HI_F; /* exact: k*LN2HI is exact (Sterbenz) */
    r = r - k * FA__LN2LO_F;
    *kf = k;
    *kb = fa__f2u(sum);
    return r;
}

/* P(r) of expm1(r) ~ r + r^2 P(r); r^2 is the one expm1_r needs anyway */
FA_INLINE float fa__exp_p_f32(float r)
{
    float r2 = r * r;
    return FA__EST4(r, r2, FA__EXPF_P0, FA__EXPF_P1, FA__EXPF_P2, FA__EXPF_P3, FA__EXPF_P4);
}

/* e^r for |r| <= 0.35: 1 + r*(1 + r*P(r)) */
FA_INLINE float fa__exp_r_f32(float r)
{
    float q = fa__exp_p_f32(r) * r + 1.0f;
    return q * r + 1.0f;
}

/* e^r - 1 for |r| <= 0.35: r + r^2*P(r) (relative accuracy kept for tiny r) */
FA_INLINE float fa__expm1_r_f32(float r)
{
    return (r * r) * fa__exp_p_f32(r) + r;
}

/*
 * fa_exp_f32: x = k ln2 + r (Cody-Waite, ln2 split 16+24 bits), e^r by the
 * degree-6 polynomial 1 + r + r^2 P4(r) (minimax, relative error 1.4e-8 on
 * |r| <= 0.3473), scaled by 2^k as two factors 2^floor(k/2) * 2^ceil(k/2) so
 * that overflow is IEEE-exact and subnormal results are rounded only once.
 * x is clamped to [-104, 89] (NaN passes).
 * Max error: 1.21 ulp (FMA: 0.93).
 */
FA_INLINE float fa__exp_core_f32(float x) /* -104 <= x <= 89 */
{
    float kf;
    uint32_t kb;
    float r = fa__reduce_f32(x, &kf, &kb);
    float e = fa__exp_r_f32(r);
    uint32_t h = kb >> 1; /* (bits of) floor(k/2) */
    float s1 = fa__u2f((h << 23) + 0x3F800000u);
    float s2 = fa__u2f(((kb - h) << 23) + 0x3F800000u);
    return (e * s1) * s2;
}
FA_INLINE float fa_exp_f32(float x)
{
    float res = fa__exp_core_f32(x);
    res = fa__sel_f32(FA__M32(x > 89.0f), fa__exp_core_f32(89.0f), res);
    return fa__sel_f32(FA__M32(x < -104.0f), fa__exp_core_f32(-104.0f), res);
}

/*
 * fa_expm1_f32: same reduction; p = e^r - 1 = r + r^2 P4(r).  k == 0 returns
 * p (full relative accuracy; tiny and subnormal x give x, -0 gives -0);
 * otherwise 2^k (1 + p) - 1 = 2 * (s*p + (s - 1/2)) with s = 2^(k-1), in which
 * s*p and s - 1/2 are exact for the k that matter.  x clamped to [-20, 89].
 * Max error: 1.73 ulp (FMA: 1.59).
 */
FA_INLINE float fa__expm1_core_f32(float x) /* -20 <= x <= 89 */
{
    float kf;
    uint32_t kb;
    float r = fa__reduce_f32(x, &kf, &kb);
    float p = fa__expm1_r_f32(r);
    float s = fa__u2f((kb << 23) + (126u << 23)); /* 2^(k-1) */
    float res = 2.0f * (s * p + (s - 0.5f));
    p = fa__sel_f32(FA__M32(x == 0.0f), x, p); /* keep the sign of -0 */
    return fa__sel_f32(FA__M32(kf == 0.0f), p, res);
}
FA_INLINE float fa_expm1_f32(float x)
{
    float res = fa__expm1_core_f32(x);
    res = fa__sel_f32(FA__M32(x > 89.0f), fa__expm1_core_f32(89.0f), res);
    return fa__sel_f32(FA__M32(x < -20.0f), fa__expm1_core_f32(-20.0f), res);
}

/*
 * fa_log1p_f32: u = 1 + x = 2^e m with m in [sqrt(1/2), sqrt(2)) (exponent
 * taken from the bits of u), f = m - 1 (exact), or f = x itself when e == 0;
 * the rounding error of 1 + x is recovered exactly (Fast2Sum) and added as
 * err*2^-e/(1+f).  log(1+f) = f + f^2 P8(f) (minimax degree 10, relative
 * error 4.2e-9 on [-0.293, 0.4143]); result e*ln2 + log(1+f) with ln2 split.
 * Max error: 1.03 ulp (FMA: 1.04).
 */
FA_INLINE float fa_log1p_f32(float x)
{
    float u = 1.0f + x;
    uint32_t ub = fa__f2u(u);
    uint32_t eb = (ub + (0x3F800000u - FA__SQRT1_2_BITS_F)) >> 23; /* e + 127 */
    float m = fa__u2f(ub - ((eb - 127u) << 23));
    float ef = fa__u2f(0x4B000000u | (eb & 0x1FFu)) - 0x1.0000fep23f; /* e */
    uint32_t e0 = FA__M32(eb == 127u);
    float f = fa__sel_f32(e0, x, m - 1.0f);
    /* exact rounding error of u = 1 + x (Fast2Sum, larger operand first) */
    float err = fa__sel_f32(FA__M32(x > 1.0f), 1.0f - (u - x), x - (u - 1.0f));
    uint32_t mes = FA__M32(eb > 127u + 64u);
    uint32_t es = ((127u + 64u) & mes) | (eb & ~mes);
    float c = err * fa__u2f((254u - es) << 23); /* err * 2^-e */
    c = c - c * f + c * (f * f);                 /* ~ err * 2^-e / (1 + f) */
    float f2 = f * f, f4 = f2 * f2;
    float p = FA__EST8(f, f2, f4, FA__LOG1PF_P0, FA__LOG1PF_P1, FA__LOG1PF_P2, FA__LOG1PF_P3, FA__LOG1PF_P4, FA__LOG1PF_P5, FA__LOG1PF_P6, FA__LOG1PF_P7, FA__LOG1PF_P8);
    float t = f2 * p;
    float small = f + t;
    float big = ef * FA__LN2HI_F + (f + (t + (ef * FA__LN2LO_F + c)));
    float res = fa__sel_f32(e0, small, big);
    res = fa__sel_f32(FA__M32(x == fa__u2f(0x7F800000u)), x, res);           /* +inf */
    res = fa__sel_f32(FA__M32(x == -1.0f), fa__u2f(0xFF800000u), res);        /* -inf */
    return fa__sel_f32(FA__M32(x >= -1.0f), res, fa__u2f(0x7FC00000u));      /* NaN, x < -1 */
}

/*
 * fa_log1p_unit_f32: log1p(t) for t in [0, 1] only, as t + t^2 P8(t) (minimax
 * degree 10 over the whole interval, relative error 5.3e-9): no reduction,
 * no exponent arithmetic, no correction term, so about a third of the
 * operations of fa_log1p_f32.  It serves the softplus form
 * log1p(e^-|x|), whose argument is always in [0, 1].  t is exact and
 * t^2 P8(t) at most 0.31 of the result, so the rounding errors stay small;
 * a subnormal t gives t, NaN gives NaN.  Outside [0, 1] the result is
 * meaningless.
 * Max error: 1.77 ulp on [0, 1] (FMA: 1.34).
 */
FA_INLINE float fa_log1p_unit_f32(float t)
{
    float t2 = t * t, t4 = t2 * t2;
    float p = FA__EST8(t, t2, t4, FA__LOG1PUF_P0, FA__LOG1PUF_P1, FA__LOG1PUF_P2, FA__LOG1PUF_P3, FA__LOG1PUF_P4, FA__LOG1PUF_P5, FA__LOG1PUF_P6, FA__LOG1PUF_P7, FA__LOG1PUF_P8);
    return t2 * p + t;
}

/*
 * fa_tanh_f32: tanh|x| = E / (E + 2) with E = expm1(2|x|) computed as
 * s*p + (s - 1), s = 2^k, p = expm1(r) (the shared exp kernel; k >= 0 here so
 * s*p and s - 1 are exact); 1 above |x| = 9.5 (NaN passes), sign restored by
 * bits (tanh(-0) = -0, tiny x returns x).  One division.  (A separate odd
 * polynomial for small |x|, as in fa_tanh_f64, would cut the worst error to
 * ~1.5 ulp but costs ~30% more instructions; the exhaustively measured error
 * of this form is well inside the 4 ulp budget.)
 * Max error: 2.61 ulp, at |x| ~ 0.062 (FMA: 2.60).
 */
FA_INLINE float fa_tanh_f32(float x)
{
    uint32_t xb = fa__f2u(x);
    float a = fa__u2f(xb & 0x7FFFFFFFu);
    float kf;
    uint32_t kb;
    float r = fa__reduce_f32(a + a, &kf, &kb);
    float p = fa__expm1_r_f32(r);
    float s = fa__u2f((kb << 23) + 0x3F800000u); /* 2^k, 0 <= k <= 28 */
    float em = s * p + (s - 1.0f);
    float t = em / (em + 2.0f);
    /* above 9.5 the lanes computed garbage (k out of range); tanh is 1 there */
    t = fa__sel_f32(FA__M32(a > 9.5f), 1.0f, t);
    return fa__u2f(fa__f2u(t) | (xb & 0x80000000u));
}

/*
 * fa_sigmoid_f32: e = e^-|x| = 2^k e^r (the exp kernel; |x| clamped to 104,
 * NaN passes; scaled by 2^(k+32) then 2^-32 so that a subnormal e is rounded
 * once), result (x >= 0 ? 1 : e) / (1 + e).  Never overflows.  One division.
 * (fa_sigmoid_f64 uses a form with one rounding fewer that costs ~30% more.)
 * Max error: 2.40 ulp (FMA: 2.40).
 */
FA_INLINE float fa_sigmoid_f32(float x)
{
    float nx = fa__u2f(fa__f2u(x) | 0x80000000u); /* -|x| */
    float kf;
    uint32_t kb;
    float r = fa__reduce_f32(nx, &kf, &kb);
    float ep = fa__exp_r_f32(r);
    float s = fa__u2f((kb << 23) + ((127u + 32u) << 23)); /* 2^(k+32) */
    float e = (ep * s) * 0x1p-32f;
    e = fa__sel_f32(FA__M32(nx < -104.0f), 0.0f, e); /* e^-104 rounds to 0 */
    float num = fa__sel_f32(FA__M32(x >= 0.0f), 1.0f, e);
    return num / (1.0f + e);
}

/*
 * fa_erfc_f32:
 *   |x| < 0.47:  1 - x P4(x^2)  (erf minimax, degree 9)
 *   |x| >= 0.47: E = exp(-x^2) * erfcx(|x|), with
 *       erfcx = Q10(|x| - C)                 on [0.47, 1.9]  (minimax degree 10)
 *       erfcx = G10(t - C') / |x|, t = 1/|x| on [1.9, 10.1]  (minimax degree 10)
 *     (both evaluated, the lane's result selected); C, C' chosen so that the
 *     constant terms are almost exactly representable.  x^2 is split exactly
 *     as xh^2 + xl (x + xh) (xh = x with 12 significant bits) so that
 *     exp(-x^2) = 2^k e^r is accurate; the factor e^r is applied as
 *     Q + Q (e^r - 1) with the constant term added last; the division by |x|
 *     comes last so that the rounding of t only enters through G's argument;
 *     scaling by 2^(k+32) then 2^-32 so that intermediates stay normal;
 *     x <= -0.47 gives 2 - E.  Two divisions.
 * Max error: 2.58 ulp (FMA: 2.52).
 *
 * fa_erfc_corr_f32(x, dx): erfc(x + dx) for a small correction dx of the
 *   argument (|dx| of the order of an ulp of x, e.g. the rounding error of
 *   x): erfc(x) - 2/sqrt(pi) e^(-x^2) dx, the second term formed from the
 *   e^(-x^2) the large-|x| path computes anyway and applied before its last
 *   roundings.  Where erfc changes by 2x^2 ulp per ulp of x (the tail), this
 *   keeps the accuracy of erfc at the exact argument.  dx is ignored for
 *   |x| < 0.47 (there it moves erfc by less than 0.1 ulp) and beyond the
 *   clamp (erfc is 0 or 2 there), and must be finite elsewhere.
 *   fa_erfc_f32(x) is fa_erfc_corr_f32(x, 0), bit for bit.
 */
FA_INLINE float fa_erfc_corr_f32(float x, float dx)
{
    uint32_t xb = fa__f2u(x);
    float ax = fa__u2f(xb & 0x7FFFFFFFu);
    /* small |x| */
    float z = x * x;
    float z2 = z * z;
    float ps = FA__EST4(z, z2, FA__ERFF_S0, FA__ERFF_S1, FA__ERFF_S2, FA__ERFF_S3, FA__ERFF_S4);
    float small = 1.0f - x * ps;
    /* large |x| */
    float a = fa__sel_f32(FA__M32(ax > 10.1f), 10.1f, ax);
    a = fa__sel_f32(FA__M32(a < 0.47f), 0.47f, a);
    uint32_t lo = FA__M32(a < 1.9f);
    float t = 1.0f / a;
    /* both interval polynomials are evaluated (cheaper than selecting each
       coefficient) and the lane's own one is picked */
    float va = a - FA__ERFCF_A_C, vb = t - FA__ERFCF_B_C;
    float va2 = va * va, va4 = va2 * va2, vb2 = vb * vb, vb4 = vb2 * vb2;
    float qa = FA__EST9(va, va2, va4, FA__ERFCF_A1, FA__ERFCF_A2, FA__ERFCF_A3, FA__ERFCF_A4, FA__ERFCF_A5, FA__ERFCF_A6, FA__ERFCF_A7, FA__ERFCF_A8, FA__ERFCF_A9, FA__ERFCF_A10);
    float qb = FA__EST9(vb, vb2, vb4, FA__ERFCF_B1, FA__ERFCF_B2, FA__ERFCF_B3, FA__ERFCF_B4, FA__ERFCF_B5, FA__ERFCF_B6, FA__ERFCF_B7, FA__ERFCF_B8, FA__ERFCF_B9, FA__ERFCF_B10);
    float c0 = fa__sel_f32(lo, FA__ERFCF_A0, FA__ERFCF_B0);
    float vq = fa__sel_f32(lo, va * qa, vb * qb);
    float q = c0 + vq; /* erfcx(a) on the low interval, a * erfcx(a) on the high one */
    /* exp(-a^2) = 2^k e^r */
    float ah = fa__u2f(fa__f2u(a) & 0xFFFFF000u);
    float al = a - ah;
    float nh = -(ah * ah); /* exact */
    float nl = -(al * (a + ah));
    float sum = (nh + nl) * FA__LOG2E_F + FA__MAGIC_F;
    float kf = sum - FA__MAGIC_F;
    float r = (nh - kf * FA__LN2HI_F) + (nl - kf * FA__LN2LO_F);
    float qe = (fa__exp_p_f32(r) * r + 1.0f) * r; /* e^r - 1 */
    float w = c0 + (q * qe + vq);                 /* q e^r, constant term last */
    float div = fa__sel_f32(lo, 1.0f, a);
    /* the correction, in terms of a = |x| and scaled like w: 2/sqrt(pi) e^r da div */
    float da = fa__sel_f32(FA__M32(x < 0.0f), -dx, dx);
    da = fa__sel_f32(FA__M32(ax > 10.1f), 0.0f, da);
    w = w - (1.1283791670955126f * da) * (qe + 1.0f) * div;
    float s = fa__u2f((fa__f2u(sum) << 23) + ((127u + 32u) << 23)); /* 2^(k+32) */
    float big = ((w * s) / div) * 0x1p-32f;
    float res = fa__sel_f32(FA__M32(x < 0.0f), 2.0f - big, big);
    return fa__sel_f32(FA__M32(ax < 0.47f), small, res);
}

FA_INLINE float fa_erfc_f32(float x) { return fa_erfc_corr_f32(x, 0.0f); }

/* ======================================================================== */
/* float64 kernels                                                           */
/* ======================================================================== */

FA_INLINE double fa__reduce_f64(double x, double *kf, uint64_t *kb)
{
    double sum = x * FA__LOG2E_D + FA__MAGIC_D;
    double k = sum - FA__MAGIC_D;
    double r = x - k * FA__LN2HI_D;
    r = r - k * FA__LN2LO_D;
    *kf = k;
    *kb = fa__d2u(sum);
    return r;
}

/*
 * fa_exp_scaled_f32: e^x 2^FA_EXP_SCALED_M_F32 (2^64) for x <= 0, x clamped
 * to FA_EXP_SCALED_MIN_F32 (-110; NaN passes): one rounding, and normal all
 * the way down, where e^x itself is subnormal from x = -87.3.  For products
 * x g(e^x) that stay normal while e^x is not (swish's left tail): the caller
 * multiplies by 2^-64 last, so the result is rounded once.  The clamp is
 * where x e^x is below half the smallest subnormal: callers return 0 there.
 * Max error (at -|x|, all 2^32 inputs): 1.21 ulp (FMA: 0.93).
 */
#define FA_EXP_SCALED_M_F32 64
#define FA_EXP_UNSCALE_F32 0x1p-64f
#define FA_EXP_SCALED_MIN_F32 (-110.0f)
FA_INLINE float fa__exp_scaled_core_f32(float x) /* MIN <= x <= 0 */
{
    float kf;
    uint32_t kb;
    float r = fa__reduce_f32(x, &kf, &kb);
    float e = fa__exp_r_f32(r);
    /* 2^(k+64), -159 <= k <= 0 */
    float s = fa__u2f((kb << 23) + ((127u + FA_EXP_SCALED_M_F32) << 23));
    return e * s;
}
FA_INLINE float fa_exp_scaled_f32(float x)
{
    return fa__sel_f32(FA__M32(x < FA_EXP_SCALED_MIN_F32),
                       fa__exp_scaled_core_f32(FA_EXP_SCALED_MIN_F32), fa__exp_scaled_core_f32(x));
}

/* P9(r) of expm1(r) ~ r + r^2 P9(r) */
FA_INLINE double fa__exp_p_f64(double r)
{
    double r2 = r * r;
    double r4 = r2 * r2;
    return FA__EST9(r, r2, r4, FA__EXPD_P0, FA__EXPD_P1, FA__EXPD_P2, FA__EXPD_P3, FA__EXPD_P4, FA__EXPD_P5, FA__EXPD_P6, FA__EXPD_P7, FA__EXPD_P8, FA__EXPD_P9);
}

FA_INLINE double fa__exp_r_f64(double r)
{
    double q = fa__exp_p_f64(r) * r + 1.0;
    return q * r + 1.0;
}

FA_INLINE double fa__expm1_r_f64(double r)
{
    return (r * r) * fa__exp_p_f64(r) + r;
}

/*
 * fa_exp_f64: as fa_exp_f32 with ln2 split 42+53 bits and the degree-11
 * polynomial 1 + r + r^2 P9(r) (relative error 1.9e-17 on |r| <= 0.3473);
 * x clamped to [-746, 710].
 * Max error: 1.19 ulp (FMA: 0.93).
 */
FA_INLINE double fa__exp_core_f64(double x) /* -746 <= x <= 710 */
{
    double kf;
    uint64_t kb;
    double r = fa__reduce_f64(x, &kf, &kb);
    double e = fa__exp_r_f64(r);
    uint64_t h = kb >> 1;
    double s1 = fa__u2d((h << 52) + 0x3FF0000000000000ull);
    double s2 = fa__u2d(((kb - h) << 52) + 0x3FF0000000000000ull);
    return (e * s1) * s2;
}
FA_INLINE double fa_exp_f64(double x)
{
    double res = fa__exp_core_f64(x);
    res = fa__sel_f64(FA__M64(x > 710.0), fa__exp_core_f64(710.0), res);
    return fa__sel_f64(FA__M64(x < -746.0), fa__exp_core_f64(-746.0), res);
}

/*
 * fa_exp_scaled_f64: as fa_exp_scaled_f32, e^x 2^128 for x <= 0, x clamped
 * to -760 (x e^x is 0 in float64 below that).
 * Max error: 1.18 ulp (FMA: 0.94).
 */
#define FA_EXP_SCALED_M_F64 128
#define FA_EXP_UNSCALE_F64 0x1p-128
#define FA_EXP_SCALED_MIN_F64 (-760.0)
FA_INLINE double fa__exp_scaled_core_f64(double x) /* MIN <= x <= 0 */
{
    double kf;
    uint64_t kb;
    double r = fa__reduce_f64(x, &kf, &kb);
    double e = fa__exp_r_f64(r);
    /* 2^(k+128), -1097 <= k <= 0 */
    double s = fa__u2d((kb << 52) + ((1023ull + FA_EXP_SCALED_M_F64) << 52));
    return e * s;
}
FA_INLINE double fa_exp_scaled_f64(double x)
{
    return fa__sel_f64(FA__M64(x < FA_EXP_SCALED_MIN_F64),
                       fa__exp_scaled_core_f64(FA_EXP_SCALED_MIN_F64), fa__exp_scaled_core_f64(x));
}

/*
 * fa_expm1_f64: as fa_expm1_f32 with the degree-11 polynomial; x clamped to
 * [-40, 710].
 * Max error: 2.22 ulp (FMA: 2.10).
 */
FA_INLINE double fa__expm1_core_f64(double x) /* -40 <= x <= 710 */
{
    double kf;
    uint64_t kb;
    double r = fa__reduce_f64(x, &kf, &kb);
    double p = fa__expm1_r_f64(r);
    double s = fa__u2d((kb << 52) + (1022ull << 52)); /* 2^(k-1) */
    double res = 2.0 * (s * p + (s - 0.5));
    p = fa__sel_f64(FA__M64(x == 0.0), x, p);
    return fa__sel_f64(FA__M64(kf == 0.0), p, res);
}
FA_INLINE double fa_expm1_f64(double x)
{
    double res = fa__expm1_core_f64(x);
    res = fa__sel_f64(FA__M64(x > 710.0), fa__expm1_core_f64(710.0), res);
    return fa__sel_f64(FA__M64(x < -40.0), fa__expm1_core_f64(-40.0), res);
}

/*
 * fa_log1p_f64: as fa_log1p_f32 with log(1+f) = f + f^2 P19(f) (minimax
 * degree 21, relative error 8.1e-18 on [-0.293, 0.4143]).
 * Max error: 1.08 ulp (FMA: 1.04).
 */
FA_INLINE double fa_log1p_f64(double x)
{
    double u = 1.0 + x;
    uint64_t ub = fa__d2u(u);
    uint64_t eb = (ub + (0x3FF0000000000000ull - FA__SQRT1_2_BITS_D)) >> 52; /* e + 1023 */
    double m = fa__u2d(ub - ((eb - 1023u) << 52));
    double ef = fa__u2d(0x4330000000000000ull | (eb & 0xFFFu)) - 0x1.00000000003ffp52;
    uint64_t e0 = FA__M64(eb == 1023u);
    double f = fa__sel_f64(e0, x, m - 1.0);
    double err = fa__sel_f64(FA__M64(x > 1.0), 1.0 - (u - x), x - (u - 1.0));
    uint64_t mes = FA__M64(eb > 1023u + 512u);
    uint64_t es = ((1023u + 512u) & mes) | (eb & ~mes);
    double c = err * fa__u2d((2046u - es) << 52);
    c = c - c * f + c * (f * f);
    double f2 = f * f, f4 = f2 * f2, f8 = f4 * f4, f16 = f8 * f8;
    double p = FA__EST19(f, f2, f4, f8, f16, FA__LOG1PD_P0, FA__LOG1PD_P1, FA__LOG1PD_P2, FA__LOG1PD_P3, FA__LOG1PD_P4, FA__LOG1PD_P5, FA__LOG1PD_P6, FA__LOG1PD_P7, FA__LOG1PD_P8, FA__LOG1PD_P9, FA__LOG1PD_P10, FA__LOG1PD_P11, FA__LOG1PD_P12, FA__LOG1PD_P13, FA__LOG1PD_P14, FA__LOG1PD_P15, FA__LOG1PD_P16, FA__LOG1PD_P17, FA__LOG1PD_P18, FA__LOG1PD_P19);
    double t = f2 * p;
    double small = f + t;
    double big = ef * FA__LN2HI_D + (f + (t + (ef * FA__LN2LO_D + c)));
    double res = fa__sel_f64(e0, small, big);
    res = fa__sel_f64(FA__M64(x == fa__u2d(0x7FF0000000000000ull)), x, res);
    res = fa__sel_f64(FA__M64(x == -1.0), fa__u2d(0xFFF0000000000000ull), res);
    return fa__sel_f64(FA__M64(x >= -1.0), res, fa__u2d(0x7FF8000000000000ull));
}

/* float64 keeps the general log1p for the softplus form: one polynomial over
 * all of [0, 1] would need about twice the degree of fa_log1p_f64's. */
FA_INLINE double fa_log1p_unit_f64(double t) { return fa_log1p_f64(t); }

/*
 * fa_tanh_f64: on a = |x|,
 *   a < 0.55:  a + a^3 P10(a^2)  (minimax, degree 23, relative error 5.8e-19)
 *   a >= 0.55: E / (E + 2), E = expm1(2a) = s*p + (s - 1) as in fa_tanh_f32,
 *              1 above a = 19.5;
 * sign restored by bits.  One division.
 * Max error: 1.50 ulp (FMA: 1.50).
 */
FA_INLINE double fa_tanh_f64(double x)
{
    uint64_t xb = fa__d2u(x);
    double a = fa__u2d(xb & 0x7FFFFFFFFFFFFFFFull);
    double z = a * a;
    double z2 = z * z, z4 = z2 * z2;
    double ps = FA__EST10(z, z2, z4, FA__TANHD_P0, FA__TANHD_P1, FA__TANHD_P2, FA__TANHD_P3, FA__TANHD_P4, FA__TANHD_P5, FA__TANHD_P6, FA__TANHD_P7, FA__TANHD_P8, FA__TANHD_P9, FA__TANHD_P10);
    double small = (a * z) * ps + a;
    double kf;
    uint64_t kb;
    double r = fa__reduce_f64(a + a, &kf, &kb);
    double p = fa__expm1_r_f64(r);
    double s = fa__u2d((kb << 52) + 0x3FF0000000000000ull);
    double em = s * p + (s - 1.0);
    double t = fa__sel_f64(FA__M64(a < 0.55), small, em / (em + 2.0));
    t = fa__sel_f64(FA__M64(a > 19.5), 1.0, t); /* tanh rounds to 1 above 19.1 */
    return fa__u2d(fa__d2u(t) | (xb & 0x8000000000000000ull));
}

/*
 * fa_sigmoid_f64: 1 / (1 + E), E = e^-x = 2^k e^r (the exp kernel, -x
 * clamped to [-40, 746], NaN passes), evaluated as
 *     2^-k / ((2^-k + 1) + (e^r - 1))     (k <= 52; 1 + (2^-k + (e^r - 1)) above)
 * so that the denominator is rounded once and E itself is never formed;
 * 2^-k enters scaled by 2^64 and the quotient is scaled back by 2^-64.
 * One division.
 * Max error: 1.84 ulp (FMA: 1.68).
 */
FA_INLINE double fa__sigmoid_core_f64(double nx) /* of -nx, -40 <= nx <= 746 */
{
    double kf;
    uint64_t kb;
    double r = fa__reduce_f64(nx, &kf, &kb);
    double em = (fa__exp_p_f64(r) * r + 1.0) * r;
    double si = fa__u2d((((uint64_t)0 - kb) << 52) + ((1023ull + 64u) << 52)); /* 2^(64-k) */
    double sk = si * 0x1p-64;
    double den = fa__sel_f64(FA__M64(kf > 52.5), 1.0 + (em + sk), (sk + 1.0) + em);
    return (si / den) * 0x1p-64;
}
FA_INLINE double fa_sigmoid_f64(double x)
{
    double nx = -x;
    double res = fa__sigmoid_core_f64(nx);
    res = fa__sel_f64(FA__M64(nx > 746.0), fa__sigmoid_core_f64(746.0), res);
    return fa__sel_f64(FA__M64(nx < -40.0), fa__sigmoid_core_f64(-40.0), res);
}

/*
 * fa_erfc_f64: as fa_erfc_f32 with
 *   |x| < 0.47: 1 - x P9(x^2);
 *   erfcx on [0.47,1.3], [1.3,2.5]: Q16(|x| - C); on [2.5,6], [6,27.3]:
 *   G16(t - C)/|x|, t = 1/|x|, the division by |x| done last so that the
 *   rounding of t does not enter (all minimax degree 16; all four are
 *   evaluated and the lane's one selected);
 *   xh = |x| with 26 significant bits; scaling 2^(k+64) * 2^-64; |x| clamped
 *   to 27.3.  Two divisions.
 * Max error: 2.37 ulp (FMA: 2.14).
 * fa_erfc_corr_f64(x, dx): erfc(x + dx), as fa_erfc_corr_f32.
 */
#define FA__ERFCD_SEL(j)                                                        \
    fa__sel_f64(i1, FA__ERFCD_A##j,                                             \
                fa__sel_f64(i2, FA__ERFCD_B##j,                                 \
                            fa__sel_f64(i3, FA__ERFCD_C##j, FA__ERFCD_D##j)))
FA_INLINE double fa_erfc_corr_f64(double x, double dx)
{
    uint64_t xb = fa__d2u(x);
    double ax = fa__u2d(xb & 0x7FFFFFFFFFFFFFFFull);
    double z = x * x;
    double z2 = z * z, z4 = z2 * z2;
    double ps = FA__EST9(z, z2, z4, FA__ERFD_S0, FA__ERFD_S1, FA__ERFD_S2, FA__ERFD_S3, FA__ERFD_S4, FA__ERFD_S5, FA__ERFD_S6, FA__ERFD_S7, FA__ERFD_S8, FA__ERFD_S9);
    double small = 1.0 - x * ps;

    double a = fa__sel_f64(FA__M64(ax > 27.3), 27.3, ax);
    a = fa__sel_f64(FA__M64(a < 0.47), 0.47, a);
    uint64_t i1 = FA__M64(a < 1.3), i2 = FA__M64(a < 2.5), i3 = FA__M64(a < 6.0);
    double t = 1.0 / a;
    /* the four interval polynomials are evaluated and the lane's one picked;
       by Estrin's scheme: as four interleaved Horner chains they were
       latency-bound (erfc float64: 0.89x the time, same max error) */
    double va = a - FA__ERFCD_A_C, vb = a - FA__ERFCD_B_C;
    double vc = t - FA__ERFCD_C_C, vd = t - FA__ERFCD_D_C;
    double va2 = va * va, va4 = va2 * va2, va8 = va4 * va4;
    double qa = FA__EST15(va, va2, va4, va8, FA__ERFCD_A1, FA__ERFCD_A2, FA__ERFCD_A3, FA__ERFCD_A4, FA__ERFCD_A5, FA__ERFCD_A6, FA__ERFCD_A7, FA__ERFCD_A8, FA__ERFCD_A9, FA__ERFCD_A10, FA__ERFCD_A11, FA__ERFCD_A12, FA__ERFCD_A13, FA__ERFCD_A14, FA__ERFCD_A15, FA__ERFCD_A16);
    double vb2 = vb * vb, vb4 = vb2 * vb2, vb8 = vb4 * vb4;
    double qb = FA__EST15(vb, vb2, vb4, vb8, FA__ERFCD_B1, FA__ERFCD_B2, FA__ERFCD_B3, FA__ERFCD_B4, FA__ERFCD_B5, FA__ERFCD_B6, FA__ERFCD_B7, FA__ERFCD_B8, FA__ERFCD_B9, FA__ERFCD_B10, FA__ERFCD_B11, FA__ERFCD_B12, FA__ERFCD_B13, FA__ERFCD_B14, FA__ERFCD_B15, FA__ERFCD_B16);
    double vc2 = vc * vc, vc4 = vc2 * vc2, vc8 = vc4 * vc4;
    double qc = FA__EST15(vc, vc2, vc4, vc8, FA__ERFCD_C1, FA__ERFCD_C2, FA__ERFCD_C3, FA__ERFCD_C4, FA__ERFCD_C5, FA__ERFCD_C6, FA__ERFCD_C7, FA__ERFCD_C8, FA__ERFCD_C9, FA__ERFCD_C10, FA__ERFCD_C11, FA__ERFCD_C12, FA__ERFCD_C13, FA__ERFCD_C14, FA__ERFCD_C15, FA__ERFCD_C16);
    double vd2 = vd * vd, vd4 = vd2 * vd2, vd8 = vd4 * vd4;
    double qd = FA__EST15(vd, vd2, vd4, vd8, FA__ERFCD_D1, FA__ERFCD_D2, FA__ERFCD_D3, FA__ERFCD_D4, FA__ERFCD_D5, FA__ERFCD_D6, FA__ERFCD_D7, FA__ERFCD_D8, FA__ERFCD_D9, FA__ERFCD_D10, FA__ERFCD_D11, FA__ERFCD_D12, FA__ERFCD_D13, FA__ERFCD_D14, FA__ERFCD_D15, FA__ERFCD_D16);
    double c0 = FA__ERFCD_SEL(0);
    double vq = fa__sel_f64(i1, va * qa, fa__sel_f64(i2, vb * qb, fa__sel_f64(i3, vc * qc, vd * qd)));
    double q = c0 + vq;

    double ah = fa__u2d(fa__d2u(a) & 0xFFFFFFFFF8000000ull);
    double al = a - ah;
    double nh = -(ah * ah);
    double nl = -(al * (a + ah));
    double sum = (nh + nl) * FA__LOG2E_D + FA__MAGIC_D;
    double kf = sum - FA__MAGIC_D;
    double r = (nh - kf * FA__LN2HI_D) + (nl - kf * FA__LN2LO_D);
    double qe = (fa__exp_p_f64(r) * r + 1.0) * r;
    double w = c0 + (q * qe + vq);
    /* high intervals: erfcx = G/a, divided last so 1/a's rounding does not enter */
    double div = fa__sel_f64(i2, 1.0, a);
    double da = fa__sel_f64(FA__M64(x < 0.0), -dx, dx);
    da = fa__sel_f64(FA__M64(ax > 27.3), 0.0, da);
    w = w - (1.1283791670955126 * da) * (qe + 1.0) * div;
    double s = fa__u2d((fa__d2u(sum) << 52) + ((1023ull + 64u) << 52));
    double big = ((w * s) / div) * 0x1p-64;
    double res = fa__sel_f64(FA__M64(x < 0.0), 2.0 - big, big);
    return fa__sel_f64(FA__M64(ax < 0.47), small, res);
}

FA_INLINE double fa_erfc_f64(double x) { return fa_erfc_corr_f64(x, 0.0); }
#undef FA__ERFCD_SEL

#endif /* FASTACT_VECMATH_H */
