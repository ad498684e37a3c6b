"""Build of fastact's compiled core: the C kernels in csrc/ linked into the
Cython extensions in fastact/.

Options (environment variables):
  FASTACT_SANITIZE=1   build with AddressSanitizer + UndefinedBehaviorSanitizer
  FASTACT_LIBM_MATH=1  use the C library's exp/tanh/... instead of vecmath.h
"""
import glob
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

KERNELS = ["csrc/kernels.c", "csrc/gemm.c"]

# -fno-trapping-math lets GCC if-convert `x > 0 ? x : a * x` (it may evaluate
# a * x for every lane); results, NaN and inf are unchanged.  Without it only
# AVX-512 masking could vectorize such selects, and AVX2 machines ran scalar.
compile_args = ["-O3", "-fno-trapping-math", "-fopenmp", "-fno-semantic-interposition"]
link_args = ["-fopenmp"]
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
if os.environ.get("FASTACT_LIBM_MATH"):
    macros.append(("FA_LIBM_MATH", "1"))
if os.environ.get("FASTACT_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
           "-fno-sanitize-recover=undefined"]
    compile_args = [a for a in compile_args if a != "-O3"] + ["-O1", "-g"] + san
    link_args += san
    macros.append(("FA_NO_MULTIVERSION", "1"))  # ASan and ifunc resolvers disagree
if sys.platform == "darwin":  # Apple clang has no OpenMP by default
    compile_args = [a for a in compile_args if a != "-fopenmp"]
    link_args = [a for a in link_args if a != "-fopenmp"]


def extension(name, pyx):
    return Extension(
        name,
        sources=[pyx] + KERNELS,
        depends=sorted(glob.glob("csrc/*.h")) + glob.glob("fastact/*.pxd"),
        include_dirs=["csrc", np.get_include()],
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


setup(
    ext_modules=cythonize(
        [extension("fastact." + os.path.basename(pyx)[:-4], pyx)
         for pyx in sorted(glob.glob("fastact/*.pyx"))],
        compiler_directives={"language_level": "3"},
    ),
)
