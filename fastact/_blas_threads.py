"""One BLAS thread while fastact computes.

OpenBLAS's multithreaded GEMM splits the work differently from its
single-threaded one, and rounds differently with it; fastact's results must
not depend on the thread count.  So fit and predict call BLAS on one thread
and make their own parallelism (predict: fixed chunks of rows, one per OpenMP
thread; training: fastact's own GEMM, csrc/gemm.h, which splits rows and
leaves BLAS only as the fallback on CPUs without AVX2+FMA), and the results
are the same whatever the number of threads.

OpenBLAS (pthreads) has one process-wide thread setting: the first fastact
call to enter saves the user's setting and sets 1, the last to leave restores
it, whatever threads they run in.  While one runs, BLAS calls elsewhere in the
process run single-threaded too.
"""

import ctypes
import threading

from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_blas"]


class _SingleThreadedBlas:
    """Context manager: BLAS runs one thread inside (see the module).

    The setters are called directly: threadpoolctl ignores OpenBLAS changes
    made from a thread other than the first one that used it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None
        # resolved once: scanning the loaded libraries takes tens of ms
        self._libs = []
        for lc in ThreadpoolController().lib_controllers:
            if lc.user_api != "blas":
                continue
            pair = None
            if lc.internal_api == "openblas" and lc.threading_layer == "pthreads":
                pair = _openblas_thread_functions(lc.filepath)
            self._libs.append(pair or (lc.get_num_threads, lc.set_num_threads))

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                self._saved = [get() for get, _ in self._libs]
                for (_, set_), n in zip(self._libs, self._saved):
                    if n is not None and n != 1:
                        set_(1)
            self._users += 1
        return self

    def __exit__(self, *exc):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for (get, set_), n in zip(self._libs, self._saved):
                    if n is not None and get() != n:
                        set_(n)
                self._saved = None


def _openblas_thread_functions(path):
    """(get, set) of an OpenBLAS library's thread count, or None."""
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix, suffix in (("", ""), ("scipy_", ""), ("scipy_", "64_"), ("", "64_")):
        try:
            get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")
            set_ = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}")
        except AttributeError:
            continue
        get.restype, get.argtypes = ctypes.c_int, []
        set_.restype, set_.argtypes = None, [ctypes.c_int]
        return get, set_
    return None


single_threaded_blas = _SingleThreadedBlas()
