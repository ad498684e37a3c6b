"""The loops written twice, for AVX2 and for AVX-512, give the same bits.

The GEMM's kernel sets are checked by tests/c/gemm_check.c (test_gemm.py);
this builds tests/c/adam_isa_check.c, which runs Adam's two loops of
csrc/mlp_train.h on the same data.  Skipped without gcc; the program itself
reports SKIP on a CPU without AVX-512F.
"""
import os
import subprocess
from pathlib import Path

import pytest

from test_gemm import GCC, SAN_FLAGS, SETUP_FLAGS, _compile

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "tests" / "c" / "adam_isa_check.c"

pytestmark = pytest.mark.skipif(GCC is None, reason="gcc not available")


def test_adam_avx2_and_avx512_loops_agree(tmp_path):
    flags = SAN_FLAGS if os.environ.get("FASTACT_SANITIZER") else SETUP_FLAGS
    exe = tmp_path / "adam_isa_check"
    _compile([GCC, *flags, "-I", str(ROOT / "csrc"), str(SRC), "-o", str(exe), "-lm"])
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    if out.startswith("SKIP"):
        pytest.skip(out.strip())
    assert proc.returncode == 0 and out.strip().endswith("SAME"), out
