#!/usr/bin/env bash
# Run the whole test suite against an AddressSanitizer + UndefinedBehaviorSanitizer
# build of fastact's extensions.
#
#   tools/sanitize.sh                 # build in a scratch copy, run all tests
#   tools/sanitize.sh -k fuzz -x      # extra arguments go to pytest
#   tools/sanitize.sh tests/test_fuzz_kernels.py   # only these tests
#
# The working tree (tracked and untracked, non-ignored files) is copied to a
# scratch directory and built there with FASTACT_SANITIZE=1 (-O1 -g,
# -fsanitize=address,undefined, no multiversioning), so no sanitized .so ever
# lands in the repository's own fastact/ (the normal in-place build stays as
# it is).  Exit status: 0 only when pytest passes AND no sanitizer wrote a
# report (reports from subprocesses the tests start are collected too).
#
# Environment:
#   FASTACT_SANITIZE_DIR   scratch directory to use (default: a new mktemp dir)
#   FASTACT_SANITIZE_KEEP  1 = keep the scratch directory afterwards
#   HYPOTHESIS_PROFILE     fuzz budget (default "ci", see tests/conftest.py)
#   FASTACT_LIBM_MATH      passed through to setup.py; set automatically when
#                          csrc/vecmath.h does not exist yet
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${FASTACT_SANITIZE_DIR:-$(mktemp -d /tmp/fastact-sanitize.XXXXXX)}"
SRC="$WORK/src"
LOGS="$WORK/logs"
cleanup() {
    if [[ "${FASTACT_SANITIZE_KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

rm -rf "$SRC" "$LOGS"
mkdir -p "$SRC" "$LOGS"

# --- 1. a scratch copy of the working tree -------------------------------------
echo "sanitize: copying $ROOT -> $SRC"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z -c -o --exclude-standard \
        | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
        | tar --null -T - -cf -) | tar -xf - -C "$SRC"
else
    tar -C "$ROOT" --exclude=./build --exclude='*.so' --exclude=./.git -cf - . | tar -xf - -C "$SRC"
fi
rm -f "$SRC"/fastact/*.so

# --- 2. the sanitized build --------------------------------------------------------
export CC="${CC:-gcc}"      # the ASan runtime preloaded below must be gcc's
if [[ ! -f "$SRC/csrc/vecmath.h" && -z "${FASTACT_LIBM_MATH:-}" ]]; then
    echo "sanitize: csrc/vecmath.h does not exist yet; building with FASTACT_LIBM_MATH=1"
    export FASTACT_LIBM_MATH=1
fi
echo "sanitize: building (FASTACT_SANITIZE=1${FASTACT_LIBM_MATH:+ FASTACT_LIBM_MATH=1})"
if ! (cd "$SRC" && FASTACT_SANITIZE=1 python setup.py -q build_ext --inplace -j 2 \
        >"$WORK/build.log" 2>&1); then
    tail -40 "$WORK/build.log"
    echo "sanitize: FAIL (the sanitized build failed)"
    exit 2
fi
for so in "$SRC"/fastact/*.so; do
    if [[ "$(ldd "$so")" != *libasan* ]]; then
        echo "sanitize: FAIL ($so is not linked against libasan)"
        exit 2
    fi
done

# --- 3. the test suite under the sanitizers ------------------------------------------
PYTHON="$(python -c 'import sys; print(sys.executable)')"   # not a wrapper script (pyenv shims)
LIBASAN="$("$CC" -print-file-name=libasan.so)"
if [[ ! -e "$LIBASAN" ]]; then
    echo "sanitize: FAIL (no libasan.so for $CC)"
    exit 2
fi
# The ASan runtime must be the first library loaded; python itself is not
# instrumented, so it is preloaded.  libubsan comes in as a dependency of the
# extension modules.  libstdc++ is preloaded too: ASan intercepts __cxa_throw
# and must find the real one at start-up, or the first C++ exception thrown by
# a library loaded later (matplotlib's ft2font, ...) aborts with "CHECK failed:
# real___cxa_throw != 0".
LIBSTDCXX="$("$CC" -print-file-name=libstdc++.so)"
export LD_PRELOAD="$LIBASAN:$LIBSTDCXX${LD_PRELOAD:+:$LD_PRELOAD}"
# detect_leaks=0: CPython does not free everything at exit (interned strings,
#   static types, module state of numpy/scipy/OpenBLAS), so LeakSanitizer would
#   report thousands of by-design "leaks" outside fastact; memory growth of
#   fastact itself is tested by tests/test_resources.py and tools/valgrind.sh.
# allocator_may_return_null=1: absurd allocation requests must come back as
#   NULL (-> MemoryError in Python, which the fault tests expect), not abort.
# log_path: every ASan report, also from subprocesses the tests spawn, lands
#   in $LOGS, which is checked below.  UBSan (a separate runtime with gcc)
#   ignores log_path and writes to stderr: pytest runs with --capture=sys so
#   that output written to file descriptor 2 by C code reaches the log, and the
#   log is scanned for reports (a UBSan stop kills the pytest process itself,
#   whose fd-captured output would otherwise be lost with it).
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$LOGS/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Python objects through malloc, so ASan also sees overruns into them.
export PYTHONMALLOC=malloc
# Tests that cannot work under ASan (RSS measurements: ASan's quarantine and
# shadow memory dominate RSS) skip themselves on this variable.
export FASTACT_SANITIZER=1
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
export PYTHONDONTWRITEBYTECODE=1

cd "$SRC"
"$PYTHON" - <<'EOF' || { echo "sanitize: FAIL (the sanitized package does not import)"; exit 2; }
import os, fastact
assert os.path.dirname(fastact.__file__) == os.path.join(os.getcwd(), "fastact"), fastact.__file__
print("sanitize: testing", fastact.__file__)
EOF
# the whole suite, unless test paths were given (tools/sanitize.sh tests/test_x.py)
TARGET=(tests)
for arg in "$@"; do
    if [[ "$arg" == tests/* ]]; then TARGET=(); break; fi
done
echo "sanitize: python -m pytest -q --capture=sys -p no:cacheprovider ${TARGET[*]} $*"
"$PYTHON" -m pytest -q --capture=sys -p no:cacheprovider "${TARGET[@]}" "$@" 2>&1 | tee "$WORK/pytest.log"
rc=${PIPESTATUS[0]}
unset LD_PRELOAD

# --- 4. verdict ------------------------------------------------------------------------
reports=$(find "$LOGS" -type f -size +0 | sort)
if [[ -n "$reports" ]]; then
    echo "sanitize: sanitizer reports:"
    for f in $reports; do
        echo "=== $f"
        head -60 "$f"
    done
fi
PATTERN='runtime error:|ERROR: AddressSanitizer|AddressSanitizer: CHECK|ERROR: LeakSanitizer|UndefinedBehaviorSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer'
inline=$(grep -E -c "$PATTERN" "$WORK/pytest.log")
if [[ $inline -gt 0 ]]; then
    echo "sanitize: reports in the test output (first ones):"
    grep -E -A12 "$PATTERN" "$WORK/pytest.log" | head -80
fi
if [[ $rc -ne 0 || -n "$reports" || $inline -gt 0 ]]; then
    echo "sanitize: FAIL (pytest exit $rc, $(echo -n "$reports" | grep -c .) ASan report file(s), $inline report line(s) in the test output)"
    exit 1
fi
echo "sanitize: PASS (pytest passed under ASan+UBSan, no sanitizer reports)"
