"""Accuracy / special-value / vectorization checks for csrc/vecmath.h.

Builds tests/c/vecmath_accuracy.c with gcc and runs it with a fast float32
stride (the exhaustive run is `vecmath_accuracy 1`, see that file).
"""
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INC = ROOT / "csrc"
SRC = ROOT / "tests" / "c" / "vecmath_accuracy.c"

GCC = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="gcc not available")

STRIDE = "4099"    # ~1e6 float32 inputs per function
N64 = "300000"     # random float64 inputs per function (plus ~0.6M structured ones)

FUNCS = ["exp", "expm1", "log1p", "tanh", "sigmoid", "erfc", "exp_scaled"]


def _cpu_has(*flags):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return all(fl in have for fl in flags)
    except OSError:
        pass
    return False


def _build(tmp_path, name, flags):
    exe = tmp_path / name
    cmd = [GCC, *flags, "-I", str(INC), str(SRC), "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, "build failed:\n%s\n%s" % (" ".join(cmd), proc.stderr)
    return exe


def _run(exe):
    proc = subprocess.run([str(exe), STRIDE, N64], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # one PASS line per function
    for fn in FUNCS:
        for sfx in ("f32", "f64"):
            assert re.search(r"^%s_%s .* PASS$" % (fn, sfx), out, re.M), out
    return out


def test_accuracy_and_specials(tmp_path):
    """Plain C99 build (no FMA contraction): <= 4 ulp and exact special values."""
    _run(_build(tmp_path, "vecmath_accuracy", ["-O2", "-std=c99"]))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or not _cpu_has("avx2", "fma"),
                    reason="needs an x86-64-v3 (AVX2+FMA) CPU")
def test_accuracy_with_fma_contraction(tmp_path):
    """Same checks with a*b+c contracted into FMA, as in the vectorized
    x86-64-v3/v4 code paths of a default (gnu) build."""
    _run(_build(tmp_path, "vecmath_accuracy_fma",
                ["-O2", "-std=gnu99", "-march=x86-64-v3", "-ffp-contract=fast"]))


def _gcc_major():
    proc = subprocess.run([GCC, "-dumpversion"], capture_output=True, text=True)
    try:
        return int(proc.stdout.strip().split(".")[0])
    except ValueError:
        return 0


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 only")
def test_loops_vectorize(tmp_path):
    """Every kernel's loop auto-vectorizes at -O3 (no -ffast-math) for AVX-512
    and AVX2 (the target_clones arch=x86-64-v4 / -v3 variants)."""
    if GCC is None or _gcc_major() < 12:
        pytest.skip("needs gcc >= 12")
    names = ["%s_%s" % (fn, sfx) for sfx in ("f32", "f64") for fn in FUNCS]
    src = ['#include <stddef.h>', '#include "vecmath.h"']
    for i, nm in enumerate(names):
        t = "float" if nm.endswith("f32") else "double"
        src.append("void loop_%s(%s *restrict o, const %s *restrict x, size_t n)" % (nm, t, t))
        src.append("{ for (size_t i = 0; i < n; i++) o[i] = fa_%s(x[i]); }" % nm)
    c = tmp_path / "loops.c"
    c.write_text("\n".join(src) + "\n")
    procs = []
    for arch, width in (("x86-64-v4", 64), ("x86-64-v3", 32)):
        cmd = [GCC, "-O3", "-std=c99", "-march=%s" % arch, "-I", str(INC), "-c", str(c),
               "-o", os.devnull, "-fopt-info-vec-optimized"]
        procs.append((arch, width, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                                    stderr=subprocess.PIPE, text=True)))
    for arch, width, proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        lines = {int(m.group(1)) for m in re.finditer(
            r"loops\.c:(\d+):\d+: optimized: loop vectorized using %d byte vectors" % width, err)}
        missing = [nm for i, nm in enumerate(names) if 4 + 2 * i not in lines]
        assert not missing, "not vectorized for %s: %s\n%s" % (arch, missing, err)
