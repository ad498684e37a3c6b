"""How accurate fastact and the benchmark's peers are, under ACTIVATIONS.md's rule.

Usage (from the repository root, after ``tools/dev_build.sh``; needs mpmath,
one of the test extras)::

    python bench/peer_accuracy.py
    python bench/peer_accuracy.py --activations gelu,log_softmax --dtypes float32

The speed report (bench/report.py) compares fastact with the fastest peer in
each cell.  A peer can be fast because it computes something else: a cheaper
erf, a log of a rounded sum.  This script runs every contender of the K-fwd
and K-bwd cells (the same peer forms, through fastact._bench) once on inputs
that probe the accuracy rule, and compares each result with the 40-digit
mpmath reference of tests/reference.py:

* elementwise activations: the dense grid the tests use (the whole range of
  the dtype, the over/underflow bands, the kinks, the special values);
  backward gets delta = 1, so it returns the slope, which is compared with
  the spec's slope at the same y (or x) the contenders were given;
* softmax and log_softmax (forward): rows of 100 logits at several spreads,
  with the largest entry lifted above the others by 0 to 40, so that the sum
  of the other exponentials goes from order 1 down to ~1e-17.

Columns: the worst relative error where the true value is normal and finite;
the points that break the rule as the test suite applies it to fastact
(tests/reference.py's accuracy_violations: relative error 2e-6 for float32,
1e-13 for float64 where the true value is normal, relative to the size of
the terms for slopes that cancel; the exact value where it is inf or NaN);
of those, the points where the true value is inf or NaN.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import fastact
except ImportError:                     # not installed: the in-place build of this checkout
    sys.path.insert(0, ROOT)
    import fastact
sys.path.append(os.path.join(ROOT, "tests"))

from fastact import _bench as B  # noqa: E402
import reference as ref  # noqa: E402  (tests/reference.py)

ROW = 100


def _logit_rows(dtype):
    """(rows, 100) logits: N(0, s^2) rows, the first entry of each row lifted
    to max + lift."""
    rng = np.random.default_rng(0)
    rows = []
    for s in (0.5, 3.0, 30.0):
        for lift in (0.0, 5.0, 10.0, 20.0, 30.0, 40.0):
            for _ in range(4):
                r = rng.standard_normal(ROW) * s
                r[0] = r.max() + lift
                rows.append(r)
    return np.array(rows).astype(dtype)


def _slope_arg(name, x, y):
    return y if fastact.ACTIVATIONS[name].slope_from == "output" else x


def _cases(name, dtype, directions):
    """(direction, x, y, reference, scale) of one activation and dtype; scale
    (slopes only) is the size of the slope formula's terms, which the rule is
    relative to where they cancel (as in the tests)."""
    kind = fastact.ACTIVATIONS[name].pattern
    if kind == "elementwise":
        x = ref.dense_grid(dtype)
        y = fastact.forward(name, x.copy())
        if "fwd" in directions:
            yield "fwd", x, None, ref.forward_elementwise(name, x.astype(np.float64)), None
        if "bwd" in directions:
            # finite points off the kinks only: the slope at +-inf, NaN or a
            # kink is a convention (1 for relu at y = +inf; PyTorch's
            # hardswish slope at -3 is 0, the spec's -1/2), not an accuracy
            keep = np.isfinite(x) & np.isfinite(y)
            for k in ref.kinks(name):
                keep &= x != k
            x, y = x[keep], y[keep]
            s = _slope_arg(name, x, y).astype(np.float64)
            yield "bwd", x, y, ref.slope(name, s), ref.slope_terms(name, s)
    elif name in ("softmax", "log_softmax") and "fwd" in directions:
        x = _logit_rows(dtype)
        yield "fwd", x, None, ref.softmax_ref(x, log=name == "log_softmax"), None


def _run(direction, name, dtype, x, y):
    """{contender: result} of fastact and every available peer on x (fwd) or
    on (x, y, delta = 1) (bwd)."""
    b = B.Bufs(dtype, B._full_params(name, {}))
    out = {}
    if direction == "fwd":
        b.x = x.copy()
        out["fastact"] = fastact.forward(name, x.copy())
    else:
        b.x, b.y, b.d = x.copy(), y.copy(), np.ones_like(y)
        xarg = x if fastact.ACTIVATIONS[name].slope_from == "input" else None
        out["fastact"] = fastact.backward(name, y.copy(), np.ones_like(y), xarg)
    for form in B.peer_forms(direction, name):
        b.x = x.copy()
        if direction == "bwd":
            b.y, b.d = y.copy(), np.ones_like(y)
        default = (lambda ret: b.x) if direction == "fwd" else (lambda ret: b.d)
        fn, result = B._make_peer(form, b, default)
        with np.errstate(all="ignore"):
            out[f"{form.lib}: {form.label}"] = np.asarray(result(fn()), dtype=dtype).copy()
    return out


def _score(got, want, scale, dtype):
    """(worst relative error where the true value is normal, the flat index
    where it is, points beyond the rule, of which inf/NaN disagreements), by tests/reference.py's
    accuracy_violations, the rule the test suite applies to fastact."""
    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    mag = np.abs(want) if scale is None else np.maximum(np.abs(want), np.ravel(scale))
    normal = np.isfinite(want) & (mag >= float(np.finfo(dtype).smallest_normal))
    with np.errstate(all="ignore"):
        rel = np.abs(got[normal] - want[normal]) / mag[normal]
    rel = np.where(np.isnan(rel), np.inf, rel)
    worst = float(rel.max()) if rel.size else 0.0
    where = int(np.flatnonzero(normal)[np.argmax(rel)]) if rel.size else None
    bad = ref.accuracy_violations(got, want, dtype, scale=scale)
    return worst, where, int(bad.sum()), int((bad & ~normal).sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--activations", default="",
                    help="comma-separated subset (default: every activation with a peer)")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--only", default="fwd,bwd", help="fwd, bwd or both")
    args = ap.parse_args(argv)
    names = [n for n in args.activations.split(",") if n] or [
        n for n in fastact.ACTIVATIONS
        if B.peer_forms("fwd", n) or B.peer_forms("bwd", n)]
    directions = set(args.only.split(","))
    print("| activation | dtype | dir | contender | worst rel. error | points breaking "
          "the rule | of which inf/NaN | points |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        for dtype in (np.dtype(d) for d in args.dtypes.split(",")):
            for direction, x, y, want, scale in _cases(name, dtype, directions):
                for who, got in _run(direction, name, dtype, x, y).items():
                    worst, where, beyond, bad = _score(got, want, scale, dtype)
                    mark = "" if beyond == 0 else " **✗**"
                    at = "" if where is None or worst == 0 else (
                        f" at x = {x.flat[where]:.7g}" if x.ndim == 1
                        else f" in row {where // x.shape[1]}")
                    print(f"| {name} | {dtype.name} | {direction} | {who} | {worst:.2g}{at} | "
                          f"{beyond}{mark} | {bad} | {want.size} |")


if __name__ == "__main__":
    main()
