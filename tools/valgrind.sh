#!/usr/bin/env bash
# valgrind memcheck of a kernel sweep and small fits/predictions
# (tools/valgrind_driver.py), reporting only errors in fastact's own code.
#
#   tools/valgrind.sh            # build a scratch copy with -g, run, judge
#
# The working tree is copied to a scratch directory and built there with the
# normal (optimized) flags plus -g, so the installed/in-place build is not
# touched and the stacks have file:line.  CPython, NumPy, OpenBLAS and glibc
# produce memcheck noise of their own (custom allocators, uninitialised
# padding copied around, intentional leaks at exit), so instead of a
# suppression file that chases their versions:
#   - PYTHONMALLOC=malloc makes Python's objects visible to memcheck,
#   - every error is kept in an XML log, and an error counts only when its
#     stack (or its allocation stack) passes through fastact's own code: the
#     extension modules (fastact/_*.so) or the C kernels (csrc/, fastact/*.c);
#   - leaks count only as "definitely lost" blocks allocated from that code.
# Exit status: 0 when the driver finished and no such error was found.
#
# Environment: FASTACT_VALGRIND_DIR (scratch dir), FASTACT_VALGRIND_KEEP=1
# (keep it), FASTACT_LIBM_MATH (passed to setup.py; set automatically when
# csrc/vecmath.h does not exist yet), VALGRIND_EXTRA (more valgrind options).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${FASTACT_VALGRIND_DIR:-$(mktemp -d /tmp/fastact-valgrind.XXXXXX)}"
SRC="$WORK/src"
cleanup() {
    if [[ "${FASTACT_VALGRIND_KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

if ! command -v valgrind >/dev/null; then
    echo "valgrind: FAIL (valgrind is not installed)"
    exit 2
fi

rm -rf "$SRC"
mkdir -p "$SRC"
echo "valgrind: copying $ROOT -> $SRC"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z -c -o --exclude-standard \
        | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
        | tar --null -T - -cf -) | tar -xf - -C "$SRC"
else
    tar -C "$ROOT" --exclude=./build --exclude='*.so' --exclude=./.git -cf - . | tar -xf - -C "$SRC"
fi
rm -f "$SRC"/fastact/*.so

if [[ ! -f "$SRC/csrc/vecmath.h" && -z "${FASTACT_LIBM_MATH:-}" ]]; then
    echo "valgrind: csrc/vecmath.h does not exist yet; building with FASTACT_LIBM_MATH=1"
    export FASTACT_LIBM_MATH=1
fi
echo "valgrind: building (optimized, with -g)"
if ! (cd "$SRC" && CFLAGS="-g -fno-omit-frame-pointer ${CFLAGS:-}" \
        python setup.py -q build_ext --inplace -j 2 >"$WORK/build.log" 2>&1); then
    tail -40 "$WORK/build.log"
    echo "valgrind: FAIL (the build failed)"
    exit 2
fi

XML="$WORK/memcheck.xml"
# the interpreter itself, not a wrapper script (pyenv shims are shell scripts,
# and memcheck would follow the shell rather than python)
PYTHON="$(python -c 'import sys; print(sys.executable)')"
echo "valgrind: running tools/valgrind_driver.py under memcheck (this takes a few minutes)"
cd "$SRC"
PYTHONMALLOC=malloc PYTHONPATH="$SRC" OMP_NUM_THREADS=2 \
valgrind --tool=memcheck --error-limit=no --num-callers=50 \
    --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --track-origins=yes --xml=yes --xml-file="$XML" ${VALGRIND_EXTRA:-} \
    "$PYTHON" "$SRC/tools/valgrind_driver.py" 2>&1 | tee "$WORK/driver.log" | grep '^valgrind_driver'
driver_rc=${PIPESTATUS[0]}

python - "$XML" "$driver_rc" "$(cat "$WORK/driver.log" | grep -c 'valgrind_driver: done')" <<'EOF'
import re, sys, collections
import xml.etree.ElementTree as ET

xml_path, driver_rc, done = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    root = ET.parse(xml_path).getroot()
except (ET.ParseError, FileNotFoundError) as e:
    print(f"valgrind: FAIL (no memcheck log: {e})")
    sys.exit(1)

OURS = re.compile(r"(fastact/_[A-Za-z_]+\.cpython[^/]*\.so|/csrc/|fastact/_[A-Za-z_]+\.(c|pyx|pxd|h)(:|$))")

def frames(stack):
    out = []
    for f in stack.iter("frame"):
        obj = f.findtext("obj") or ""
        fn = f.findtext("fn") or "?"
        d, fl, ln = f.findtext("dir") or "", f.findtext("file") or "", f.findtext("line") or ""
        out.append((obj, fn, f"{d}/{fl}:{ln}" if fl else ""))
    return out

def ours(frs):
    return any(OURS.search(obj) or OURS.search(loc) for obj, fn, loc in frs)

kinds = collections.Counter()
mine = []
for err in root.iter("error"):
    kind = err.findtext("kind")
    kinds[kind] += 1
    stacks = [frames(s) for s in err.findall("stack")]
    # leaks: only the allocation stack matters; others: any stack (incl. origin)
    if ours([f for s in stacks for f in s]):
        what = err.find("what")
        text = what.text if what is not None else (err.findtext("xwhat/text") or kind)
        mine.append((kind, text, stacks))

print(f"valgrind: memcheck reported {sum(kinds.values())} error(s) in the whole process "
      f"(CPython/NumPy/OpenBLAS included): {dict(kinds) or 'none'}")
for kind, text, stacks in mine:
    print(f"--- {kind}: {text}")
    for s in stacks:
        for obj, fn, loc in s[:14]:
            print(f"      {fn}  {loc or obj}")
        print("      ...")
ok = True
if mine:
    print(f"valgrind: FAIL ({len(mine)} error(s) in fastact's code)")
    ok = False
if driver_rc != 0 or not done:
    print(f"valgrind: FAIL (the driver did not finish: exit {driver_rc})")
    ok = False
if ok:
    print("valgrind: PASS (no memcheck errors and no definite leaks in fastact's code)")
sys.exit(0 if ok else 1)
EOF
