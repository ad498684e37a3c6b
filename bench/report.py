"""Run fastact's benchmarks once and print the ratio tables as markdown.

Usage (from the repository root, after ``tools/dev_build.sh``)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/report.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/report.py --quick
    ... --threads 1,2 --only fwd,bwd,fused,train --json report.json

Quote numbers only from a command that unsets OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE *for that command* (``env -u ... -u ...`` as above): on some
processors they pin OpenBLAS to another kernel than the one it would pick,
which skews the BLAS-bound workloads (T1, T2, P2 and their GEMM floor).  This
script never changes them; the report prints which OpenBLAS core type
threadpoolctl then sees and whether either variable was still set.

Timer: fastact._bench's own interleaved timer, not pytest-benchmark.  Within a
cell every contender (fastact, the roofline ``np.multiply(x, 1.0, out=x)``,
NumPy/SciPy, scikit-learn, PyTorch) runs on the same buffers, round-robin, one
call per sample with the order rotated every round, and the buffers the call
overwrites are restored from a pristine copy before each sample outside the
timed region; medians per contender.  The load of a shared machine then hits
all contenders of a cell alike, which makes these ratios more trustworthy
than comparing pytest-benchmark groups whose members ran one after another
(the ``bench/`` suites are for history and regression tracking).

Tables: the whole K-fwd and K-bwd matrix (activation x size x dtype, for each
thread count): fastact / roofline, and fastest-peer / fastact with the peer's
name (>= 1.0: fastact wins); a per-activation summary; the BENCHMARKS.md
targets; the cells where fastact loses; K-fused; T1/T2/P1/P2 (skipped with a
note while fastact.MLPClassifier does not exist); the machine.

Options: ``--quick`` (sizes 1k/100k/1M and fewer repeats, < 2 min),
``--threads 1,2`` (thread counts pinned for every contender with
threadpoolctl and torch.set_num_threads; 1 is the headline),
``--only fwd,bwd,fused,train``, ``--activations tanh,relu`` (subset),
``--json FILE`` (all records: median, min and quartiles of every contender),
``--stat median|min`` (the statistic of the kernel tables; median by default,
min when the machine is so loaded that preemption hits most samples),
``--from-json FILE`` (re-render a saved run, e.g. with the other statistic).
"""

import argparse
import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if (_ROOT / "fastact" / "__init__.py").exists() and str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))      # the in-place build of this checkout

from fastact import _bench  # noqa: E402

WORKLOADS = ("fwd", "bwd", "fused", "train")


def _list(s):
    return [p.strip() for p in s.split(",") if p.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="sizes 1k/100k/1M, fewer repeats (< 2 min)")
    ap.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2 (default)")
    ap.add_argument("--only", default=",".join(WORKLOADS),
                    help="subset of fwd,bwd,fused,train (default: all)")
    ap.add_argument("--activations", default=None, help="subset of activations")
    ap.add_argument("--json", metavar="FILE", help="also write every record as JSON")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="per-contender statistic of the kernel tables (default median; "
                         "min resists preemption on an overloaded machine)")
    ap.add_argument("--from-json", metavar="FILE",
                    help="re-render a report saved with --json instead of running")
    args = ap.parse_args(argv)
    if args.from_json:
        import json
        with open(args.from_json) as f:
            sys.stdout.write(_bench.markdown_report(json.load(f), args.stat))
        return 0
    only = _list(args.only)
    bad = [w for w in only if w not in WORKLOADS]
    if bad:
        ap.error(f"--only: unknown workload(s) {bad}; choose from {','.join(WORKLOADS)}")
    threads = [int(t) for t in _list(args.threads)]
    acts = _list(args.activations) if args.activations else None
    if acts:
        import fastact
        unknown = [a for a in acts if a not in fastact.ACTIVATIONS]
        if unknown:
            ap.error(f"--activations: unknown {unknown}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"note: {var} is set; for quotable numbers run "
                  f"`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/report.py`",
                  file=sys.stderr)
    results = _bench.run_report(only, threads, args.quick, acts)
    if args.json:
        _bench.dump_json(results, args.json)
    sys.stdout.write(_bench.markdown_report(results, args.stat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
