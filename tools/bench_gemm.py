"""fa_gemm (csrc/gemm.c) against OpenBLAS sgemm/dgemm on the training step's
GEMM calls.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python tools/bench_gemm.py [--dtype f64]

csrc/gemm.c is compiled with setup.py's flags into a temporary shared object
together with a small C timing loop.  BLAS is the sgemm/dgemm of
scipy.linalg.cython_blas (the function pointer the training code calls),
called from C as fastact's _gemm wrapper calls it (row-major through the
column-major trick: no copies), so neither side pays Python overhead.
Threads: OpenBLAS limited with threadpoolctl, fa_gemm given n_threads.
Each entry is the median over repeats of the mean time of a run of ~2 ms of
calls; 1 thread: fa and BLAS runs alternate call by call; 2 threads: they
alternate in phases over a workload's calls with 0.2 s pauses, each run
after a warm-up run (see below).
ratio = fa time / BLAS time; STEP SUM adds a workload's calls.
"""
import argparse
import ctypes
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.linalg.cython_blas as cblas
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]

TIMER_C = r"""
#include <time.h>
#include "gemm.h"
typedef void (*gemm_f32)(char *, char *, int *, int *, int *, float *, const float *, int *,
                         const float *, int *, float *, float *, int *);
typedef void (*gemm_f64)(char *, char *, int *, int *, int *, double *, const double *, int *,
                         const double *, int *, double *, double *, int *);
int bench_clock = CLOCK_MONOTONIC;
static double now(void) {
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
#define TIMER(T, SFX, FT)                                                                  \
    double time_fa_##SFX(char ta, char tb, int M, int N, int K, const T *A, int lda,       \
                         const T *B, int ldb, T *C, int ldc, int nt, int reps) {          \
        double t0 = now();                                                                 \
        for (int r = 0; r < reps; r++)                                                     \
            if (!fa_gemm_##SFX(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C, ldc, nt)) return -1; \
        return (now() - t0) / reps;                                                        \
    }                                                                                      \
    double time_blas_##SFX(void *fn, char ta, char tb, int M, int N, int K, const T *A,    \
                           int lda, const T *B, int ldb, T *C, int ldc, int reps) {       \
        T one = 1, zero = 0;                                                               \
        double t0 = now();                                                                 \
        for (int r = 0; r < reps; r++)                                                     \
            ((FT)fn)(&tb, &ta, &N, &M, &K, &one, B, &ldb, A, &lda, &zero, C, &ldc);        \
        return (now() - t0) / reps;                                                        \
    }
TIMER(float, f32, gemm_f32)
TIMER(double, f64, gemm_f64)
"""

B = 200


def step_calls(sizes, rows):
    """(name, ta, tb, M, N, K) of one training step of an MLP with these
    layer sizes: the forward products, then from the top layer down the
    weight gradient and (all layers but the first) the input gradient."""
    calls = []
    for l, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        calls.append(("fwd  %d->%d" % (fi, fo), "N", "N", rows, fo, fi))
    for l in range(len(sizes) - 2, -1, -1):
        fi, fo = sizes[l], sizes[l + 1]
        calls.append(("wgrad %d->%d" % (fi, fo), "T", "N", fi, fo, rows))
        if l > 0:
            calls.append(("igrad %d->%d" % (fi, fo), "N", "T", rows, fi, fo))
    return calls


WORKLOADS = [
    ("T1", [64, 100, 10], B),
    ("T1 last batch", [64, 100, 10], 147),
    ("T2", [784, 256, 128, 10], B),
]


def build(tmp, extra=()):
    cflags = (sysconfig.get_config_var("CFLAGS") or "").split()
    setup_flags = ["-O3", "-fno-trapping-math", "-fopenmp", "-fno-semantic-interposition"]
    src = Path(tmp) / "timer.c"
    src.write_text(TIMER_C)
    so = Path(tmp) / "libbench_gemm.so"
    cmd = [os.environ.get("CC", "gcc"), *cflags, *setup_flags, "-fPIC", "-shared",
           "-I", str(ROOT / "csrc"), str(ROOT / "csrc" / "gemm.c"), str(src), "-o", str(so), *extra]
    subprocess.run(cmd, check=True)
    return ctypes.CDLL(str(so))


def blas_pointer(name):
    cap = cblas.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get_ptr(cap, get_name(cap))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--ms", type=float, default=2.0, help="length of one timed run (ms)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--only", default="", help="workloads whose name starts with this")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the thread's CPU clock (1 thread, busy machine)")
    ap.add_argument("--cflags", default="", help="extra compiler flags (experiments)")
    args = ap.parse_args()
    dt = np.float32 if args.dtype == "f32" else np.float64
    ct = ctypes.c_float if args.dtype == "f32" else ctypes.c_double
    P = ctypes.POINTER(ct)
    i, c = ctypes.c_int, ctypes.c_char
    with tempfile.TemporaryDirectory() as tmp:
        lib = build(tmp, args.cflags.split())
        if args.cpu_time:
            ctypes.c_int.in_dll(lib, "bench_clock").value = time.CLOCK_THREAD_CPUTIME_ID
        fa = getattr(lib, "time_fa_" + args.dtype)
        bl = getattr(lib, "time_blas_" + args.dtype)
        fa.restype = bl.restype = ctypes.c_double
        fa.argtypes = [c, c, i, i, i, P, i, P, i, P, i, i, i]
        bl.argtypes = [ctypes.c_void_p, c, c, i, i, i, P, i, P, i, P, i, i]
        fn = blas_pointer("sgemm" if args.dtype == "f32" else "dgemm")
        rng = np.random.default_rng(0)
        ptr = lambda a: a.ctypes.data_as(P)

        def operands(ta, tb, M, N, K):
            a = rng.standard_normal((K, M) if ta == "T" else (M, K)).astype(dt)
            b = rng.standard_normal((N, K) if tb == "T" else (K, N)).astype(dt)
            out = np.empty((M, N), dt)
            return a, b, out

        def run_fa(call, ops, nt, reps):
            _, ta, tb, M, N, K = call
            a, b, out = ops
            return fa(ta.encode(), tb.encode(), M, N, K, ptr(a), a.shape[1], ptr(b), b.shape[1],
                      ptr(out), N, nt, reps)

        def run_blas(call, ops, reps):
            _, ta, tb, M, N, K = call
            a, b, out = ops
            return bl(fn, ta.encode(), tb.encode(), M, N, K, ptr(a), a.shape[1], ptr(b),
                      b.shape[1], ptr(out), N, reps)

        print("fa_gemm vs OpenBLAS %sgemm, %s, median of %d interleaved runs of ~%g ms"
              " (load average %.2f at the start)"
              % ("s" if dt == np.float32 else "d", args.dtype, args.repeats, args.ms,
                 os.getloadavg()[0]))
        print("%-14s %-16s %3s %5s %5s %5s | %9s %9s %6s" % (
            "workload", "call", "op", "M", "N", "K", "fa us", "blas us", "ratio"))
        for nt in [int(t) for t in args.threads.split(",")]:
            print("--- %d thread%s" % (nt, "s" if nt > 1 else ""))
            # With 2 threads the idle pool of one side (OpenBLAS threads spin
            # ~0.1 s after their last call) would slow the other down, and
            # threads woken after a sleep can share a core until the kernel
            # spreads them (ms): the sides take turns in phases over all calls
            # of a workload, with a pause between phases, and each timed run
            # follows a ~20 ms run of the same call (steady state, as in a
            # training loop, where the pool never falls asleep).
            pause = 0.0 if nt == 1 else 0.2
            with threadpool_limits(limits=nt, user_api="blas"):
                for wname, sizes, rows in WORKLOADS:
                    if not wname.startswith(args.only):
                        continue
                    calls = step_calls(sizes, rows)
                    data, reps = [], []
                    for call in calls:
                        ops = operands(*call[1:])
                        run_fa(call, ops, nt, 1)        # agree (and warm up)
                        mine = ops[2].copy()
                        run_blas(call, ops, 1)
                        scale = np.abs(ops[2]).max() + 1
                        assert np.abs(mine - ops[2]).max() <= 1e-3 * scale, call
                        t1 = max(run_blas(call, ops, 3), run_fa(call, ops, nt, 3))
                        data.append(ops)
                        reps.append(max(1, int(args.ms * 1e-3 / t1)))
                    tf = [[] for _ in calls]
                    tb_ = [[] for _ in calls]
                    for _ in range(args.repeats):
                        for k, call in enumerate(calls):
                            if pause:
                                run_fa(call, data[k], nt, 10 * reps[k])
                            tf[k].append(run_fa(call, data[k], nt, reps[k]))
                            if not pause:
                                tb_[k].append(run_blas(call, data[k], reps[k]))
                        if pause:
                            time.sleep(pause)
                            for k, call in enumerate(calls):
                                run_blas(call, data[k], 10 * reps[k])
                                tb_[k].append(run_blas(call, data[k], reps[k]))
                            time.sleep(pause)
                    sum_fa = sum_bl = 0.0
                    for k, call in enumerate(calls):
                        mf, mb = np.median(tf[k]) * 1e6, np.median(tb_[k]) * 1e6
                        sum_fa += mf
                        sum_bl += mb
                        print("%-14s %-16s %3s %5d %5d %5d | %9.1f %9.1f %6.3f" % (
                            wname, call[0], call[1] + call[2], *call[3:], mf, mb, mf / mb))
                    print("%-14s %-16s %3s %5s %5s %5s | %9.1f %9.1f %6.3f" % (
                        wname, "STEP SUM", "", "", "", "", sum_fa, sum_bl, sum_fa / sum_bl))
    print("load average %.2f at the end" % os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
