"""Correctness and thread-count determinism of csrc/gemm.c (fa_gemm_f32/f64).

Builds tests/c/gemm_check.c with gcc against csrc/gemm.c (compiled with
setup.py's flags) and runs it; see that file for what is checked.  Under
tools/sanitize.sh (FASTACT_SANITIZER=1) both are built with ASan + UBSan and
FA_NO_MULTIVERSION, as the sanitized extensions are.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INC = ROOT / "csrc"
GEMM = INC / "gemm.c"
SRC = ROOT / "tests" / "c" / "gemm_check.c"

GCC = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="gcc not available")

# setup.py's compile flags (and its sanitizer variant)
SETUP_FLAGS = ["-O3", "-fno-trapping-math", "-fopenmp", "-fno-semantic-interposition"]
SAN_FLAGS = ["-O1", "-g", "-fno-trapping-math", "-fopenmp", "-fno-semantic-interposition",
             "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
             "-fno-sanitize-recover=undefined", "-DFA_NO_MULTIVERSION"]


def _compile(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, "build failed:\n%s\n%s" % (" ".join(cmd), proc.stderr)


def test_gemm_check(tmp_path):
    flags = SAN_FLAGS if os.environ.get("FASTACT_SANITIZER") else SETUP_FLAGS
    obj, exe = tmp_path / "gemm.o", tmp_path / "gemm_check"
    _compile([GCC, *flags, "-Wall", "-Werror", "-I", str(INC), "-c", str(GEMM), "-o", str(obj)])
    # the checker's scalar reference must not be contracted into other FMAs
    _compile([GCC, *flags, "-ffp-contract=off", "-I", str(INC), str(SRC), str(obj),
              "-o", str(exe), "-lm"])
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    if out.startswith("SKIP"):
        pytest.skip(out.strip())
    assert "ALL PASS" in out, out
    for sfx in ("f32", "f64"):
        for group in ("shapes", "NaN/inf", "K=0", "n_threads", "epilogues"):
            assert any(line.startswith("%s %s" % (sfx, group)) and line.endswith("PASS")
                       for line in out.splitlines()), out
