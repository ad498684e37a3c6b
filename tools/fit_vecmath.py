#!/usr/bin/env python3
"""Regenerate the polynomial coefficients used by csrc/vecmath.h.

Every kernel polynomial in vecmath.h is a weighted minimax fit computed here
from scratch (no coefficients are taken from other libraries):

  * the target functions are evaluated with mpmath at high precision;
  * the discrete weighted minimax problem  min_c max_i w_i |g_i - sum_j c_j phi_j(v_i)|
    over a few hundred Chebyshev nodes is solved with Lawson's algorithm
    (iteratively re-weighted least squares).  Each least-squares step solves for a
    *correction* to the current coefficients in float64 (numpy), while residuals are
    formed in mpmath, so the result is accurate far beyond float64;
  * coefficients are then rounded to the target format one at a time, lowest
    order first, re-fitting the remaining free coefficients after each rounding so
    that the rounding errors are compensated.

The script prints the maximum weighted (= relative, for all fits here) error of
each rounded polynomial on a dense grid, and the C macro block.

Usage:
    python3 tools/fit_vecmath.py                  # print the macro block
    python3 tools/fit_vecmath.py --update-header  # rewrite the generated block
                                                  # in csrc/vecmath.h in place
Needs numpy and mpmath.  Takes a few minutes (pure-Python mpmath).
"""
import argparse
import os
import re
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 45

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "..", "csrc", "vecmath.h")
BEGIN = "/* BEGIN GENERATED COEFFICIENTS (tools/fit_vecmath.py) */"
END = "/* END GENERATED COEFFICIENTS */"


# --------------------------------------------------------------------------
# rounding to the target formats
# --------------------------------------------------------------------------
def round_to(x, prec):
    """Round an mpf to the nearest float32 (prec=24) or float64 (prec=53)."""
    if prec == 53:
        return mp.mpf(float(mp.mpf(x)))  # mpf -> float is correctly rounded
    m, e = mp.frexp(mp.mpf(x))  # x = m * 2^e, 0.5 <= |m| < 1
    return mp.ldexp(mp.nint(mp.ldexp(m, prec)), e - prec)


def fmt(x, prec):
    s = float.hex(float(x))  # e.g. '-0x1.5555560000000p-3'
    mant, exp = s.split("p")
    mant = mant.rstrip("0")
    if mant.endswith("."):
        mant = mant[:-1]
    return mant + "p" + exp + ("f" if prec == 24 else "")


# --------------------------------------------------------------------------
# Lawson minimax with mp residuals and float64 correction solves
# --------------------------------------------------------------------------
def cheb_nodes(a, b, m):
    a, b = mp.mpf(a), mp.mpf(b)
    return [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (2 * i + 1) / (2 * m)) for i in range(m)]


class Fit:
    def __init__(self, v, g, w, powers):
        self.v = v  # sample points
        self.g = g  # target values
        self.w = w  # error weights
        self.powers = powers
        # basis values phi_ij = v_i ** powers[j]
        self.phi = [[vi ** p for p in powers] for vi in v]
        A = np.array([[float(wi * x) for x in row] for wi, row in zip(w, self.phi)])
        self.scale = np.abs(A).max(axis=0)
        self.A = A / self.scale

    def resid(self, c, free):
        """Weighted residuals w_i (g_i - sum_j c_j phi_ij), as mpf."""
        return [wi * (gi - mp.fdot(row, c)) for wi, gi, row in zip(self.w, self.g, self.phi)]

    def lawson(self, c, free, u=None, iters=60):
        m = len(self.v)
        if u is None:
            u = np.full(m, 1.0 / m)
        cols = [j for j in range(len(c)) if free[j]]
        A = self.A[:, cols]
        for _ in range(iters):
            e = self.resid(c, free)
            ef = np.array([float(x) for x in e])
            sq = np.sqrt(u)
            d, *_ = np.linalg.lstsq(A * sq[:, None], ef * sq, rcond=None)
            for k, j in enumerate(cols):
                c[j] += mp.mpf(float(d[k] / self.scale[j]))
            e = np.array([abs(float(x)) for x in self.resid(c, free)])
            u = u * e
            s = u.sum()
            if s == 0:
                break
            u = u / s
        return c, u

    def maxerr(self, c):
        return max(abs(x) for x in self.resid(c, None))


def minimax(target, weight, a, b, powers, prec, m=400, iters=80, check=4000, name=""):
    """Fit sum_j c_j v^powers[j] to target(v) on [a, b] minimising max |weight*(err)|.

    Returns the list of coefficients rounded to `prec` bits and the max weighted
    error of the rounded polynomial on a dense grid (evaluated exactly)."""
    v = cheb_nodes(a, b, m)
    g = [target(x) for x in v]
    w = [weight(x) for x in v]
    F = Fit(v, g, w, powers)
    n = len(powers)
    c = [mp.mpf(0)] * n
    free = [True] * n
    c, u = F.lawson(c, free, iters=iters)
    err_unrounded = F.maxerr(c)
    # sequential rounding, lowest order (largest contribution) first
    for j in range(n):
        c[j] = round_to(c[j], prec)
        free[j] = False
        if any(free):
            c, u = F.lawson(c, free, u=u, iters=25)
    # dense check of the rounded polynomial
    vv = [mp.mpf(a) + (mp.mpf(b) - a) * i / (check - 1) for i in range(check)]
    err = max(abs(weight(x) * (target(x) - mp.fsum(cj * x ** p for cj, p in zip(c, powers))))
              for x in vv if weight(x) != mp.inf)
    print("  %-16s [%9.6g, %9.6g] n=%2d  minimax %.3g  rounded %.3g" %
          (name, float(a), float(b), n, float(err_unrounded), float(err)), file=sys.stderr)
    return c, err


# --------------------------------------------------------------------------
# the individual kernels (must match the evaluation forms in vecmath.h)
# --------------------------------------------------------------------------
LN2 = mp.log(2)
SQRT1_2 = mp.sqrt(2) / 2


def erfcx(x):
    return mp.exp(x * x) * mp.erfc(x)


def split_const(c, prec, kbits):
    """c = hi + lo with hi having prec-kbits significant bits (so k*hi is exact
    for |k| < 2^kbits) and lo the rounded remainder."""
    m, e = mp.frexp(c)
    hb = prec - kbits
    hi = mp.ldexp(mp.floor(mp.ldexp(m, hb) + mp.mpf(1) / 2), e - hb)
    lo = round_to(c - hi, prec)
    return hi, lo


def kernels(prec):
    """Return list of (macro_prefix, coeffs, comment) for one precision."""
    out = []
    sfx = "F" if prec == 24 else "D"
    R = LN2 / 2 * mp.mpf("1.002")  # |r| bound after Cody-Waite reduction, with margin

    # expm1(r) = r + r^2 * P(r) on [-R, R], relative error; exp uses 1 + r*(1 + r*P(r))
    nexp = 5 if prec == 24 else 10
    c, err = minimax(lambda r: mp.expm1(r) - r, lambda r: 1 / abs(mp.expm1(r)), -R, R,
                     [2 + j for j in range(nexp)], prec, name="expm1_%s" % sfx)
    out.append(("FA__EXP%s_P" % sfx, c, "expm1(r) ~ r + r^2*P(r), |r|<=%.5f, rel err %.2g" % (R, err)))

    # tanh(x) = x + x^3 * P(x^2) on [0, 0.55], relative error (float64 only)
    if prec == 53:
        T = mp.mpf("0.55")
        c, err = minimax(lambda x: mp.tanh(x) - x, lambda x: 1 / mp.tanh(x), mp.mpf("1e-30"), T,
                         [3 + 2 * j for j in range(11)], prec, name="tanh_%s" % sfx)
        out.append(("FA__TANH%s_P" % sfx, c, "tanh(x) ~ x + x^3*P(x^2), |x| <= %s, rel err %.2g"
                    % (T, err)))

    # log(1+f) = f + f^2 * P(f), f = m - 1, m in [sqrt(1/2), sqrt(2))
    fa, fb = SQRT1_2 - 1 - mp.mpf("1e-4"), mp.sqrt(2) - 1 + mp.mpf("1e-4")
    nlog = 9 if prec == 24 else 20
    c, err = minimax(lambda f: mp.log1p(f) - f, lambda f: 1 / abs(mp.log1p(f)), fa, fb,
                     [2 + j for j in range(nlog)], prec, name="log1p_%s" % sfx)
    out.append(("FA__LOG1P%s_P" % sfx, c, "log1p(f) ~ f + f^2*P(f), f in [%.4f, %.4f], rel err %.2g"
                % (fa, fb, err)))

    # log(1+t) = t + t^2 * P(t) on the whole of [0, 1] (float32 only): the
    # softplus tail log1p(e^-|x|) needs no range reduction then
    if prec == 24:
        c, err = minimax(lambda t: mp.log1p(t) - t, lambda t: 1 / mp.log1p(t), mp.mpf("1e-30"),
                         mp.mpf(1), [2 + j for j in range(9)], prec, name="log1p_unit_%s" % sfx)
        out.append(("FA__LOG1PU%s_P" % sfx, c, "log1p(t) ~ t + t^2*P(t), t in [0, 1], rel err %.2g"
                    % err))

    # erfc: small |x|  erf(x) = x * P(x^2); error relative to erfc(x) (>= 0.5 here)
    xs = mp.mpf("0.47")
    nes = 5 if prec == 24 else 10
    c, err = minimax(lambda x: mp.erf(x), lambda x: 1 / mp.erfc(x), mp.mpf("1e-30"), xs,
                     [1 + 2 * j for j in range(nes)], prec, name="erf_small_%s" % sfx)
    out.append(("FA__ERF%s_S" % sfx, c, "erf(x) ~ x*P(x^2), |x| <= %s, err rel. to erfc %.2g"
                % (xs, err)))

    if prec == 24:
        iv = [("A", "x", xs, mp.mpf("1.9")), ("B", "t", mp.mpf("1.9"), mp.mpf("10.1"))]
        nerfc = 11
    else:
        iv = [("A", "x", xs, mp.mpf("1.3")), ("B", "x", mp.mpf("1.3"), mp.mpf("2.5")),
              ("C", "t", mp.mpf("2.5"), mp.mpf("6.0")), ("D", "t", mp.mpf("6.0"), mp.mpf("27.3"))]
        nerfc = 17
    for tag, kind, lo, hi in iv:
        name = "FA__ERFC%s_%s" % (sfx, tag)
        if kind == "x":
            # erfcx(x) = Q(x - ctr); ctr chosen so that erfcx(ctr) is almost exactly
            # representable (the constant term then carries no rounding error)
            ctr = pick_center(erfcx, lo, hi, prec)
            c, err = minimax(lambda v, ctr=ctr: erfcx(v + ctr), lambda v, ctr=ctr: 1 / erfcx(v + ctr),
                             lo - ctr, hi - ctr, list(range(nerfc)), prec, name="erfcx%s_%s" % (tag, sfx))
            out.append((name + "_C", ctr, "erfcx(x) ~ Q(x - C), x in [%s, %s], rel err %.2g"
                        % (lo, hi, err)))
        else:
            # erfcx(x) = G(t - tc) / x, t = 1/x
            G = lambda t: erfcx(1 / t) / t
            tc = pick_center(G, 1 / hi, 1 / lo, prec)
            c, err = minimax(lambda v, tc=tc: G(v + tc), lambda v, tc=tc: 1 / G(v + tc),
                             1 / hi - tc, 1 / lo - tc, list(range(nerfc)), prec,
                             name="erfcx%s_%s" % (tag, sfx))
            out.append((name + "_C", tc, "erfcx(x) ~ G(t - C)/x, t = 1/x, x in [%s, %s], rel err %.2g"
                        % (lo, hi, err)))
        out.append((name, c, None))
    return out


def pick_center(func, lo, hi, prec, bits=12, frac=mp.mpf("0.03")):
    """A number near the middle of [lo, hi] with `bits` significant bits whose
    function value is closest (relatively) to a `prec`-bit float."""
    mid = (lo + hi) / 2
    step = mp.ldexp(1, int(mp.floor(mp.log(mid, 2))) - bits + 1)
    base = mp.nint(mid / step)
    nk = int(frac * (hi - lo) / step)
    best = None
    for k in range(-nk, nk + 1):
        c = (base + k) * step
        fv = func(c)
        d = abs(fv - round_to(fv, prec)) / abs(fv)
        if best is None or d < best[0]:
            best = (d, c)
    return best[1]


def consts(prec):
    sfx = "F" if prec == 24 else "D"
    kbits = 8 if prec == 24 else 11
    hi, lo = split_const(LN2, prec, kbits)
    s12 = round_to(SQRT1_2, prec)
    bits = int(np.float32(float(s12)).view(np.uint32)) if prec == 24 else int(np.float64(float(s12)).view(np.uint64))
    return [
        ("FA__LN2HI_%s" % sfx, hi, "ln2 with %d significant bits: k*hi exact for |k| < 2^%d"
         % (prec - kbits, kbits)),
        ("FA__LN2LO_%s" % sfx, lo, "ln2 - LN2HI rounded"),
        ("FA__LOG2E_%s" % sfx, round_to(1 / LN2, prec), "1/ln2 rounded"),
        ("FA__SQRT1_2_BITS_%s" % sfx, ("0x%08Xu" if prec == 24 else "0x%016Xull") % bits,
         "bit pattern of sqrt(1/2) rounded"),
    ]


def emit(prec, items):
    lines = []
    for name, val, comment in items:
        if comment:
            lines.append("/* %s */" % comment)
        if isinstance(val, list):
            for j, cj in enumerate(val):
                lines.append("#define %s%d %s" % (name, j, fmt(cj, prec)))
        elif isinstance(val, str):
            lines.append("#define %s %s" % (name, val))
        else:
            lines.append("#define %s %s" % (name, fmt(val, prec)))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update-header", action="store_true")
    args = ap.parse_args()
    lines = [BEGIN]
    for prec in (24, 53):
        print("precision %d:" % prec, file=sys.stderr)
        lines += emit(prec, consts(prec) + kernels(prec))
    lines.append(END)
    block = "\n".join(lines)
    if args.update_header:
        with open(HEADER) as f:
            txt = f.read()
        pat = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pat.search(txt):
            sys.exit("generated block markers not found in %s" % HEADER)
        txt = pat.sub(lambda _: block, txt)
        with open(HEADER, "w") as f:
            f.write(txt)
        print("updated", HEADER, file=sys.stderr)
    else:
        print(block)


if __name__ == "__main__":
    main()
