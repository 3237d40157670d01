#!/bin/bash
# test_regressions.sh - every kept fuzz input through its harness, without
# libFuzzer: the corpus (tests/fuzz/corpus/NAME), the inputs that once
# crashed (tests/fuzz/regressions/NAME) and, for the command parser, the
# message table (tests/data/valid, tests/data/invalid).  The harnesses are
# built as plain programs ($BUILD/fuzz-replay/fuzz_NAME, tests/fuzz/driver.c);
# under make SANITIZE=1 test they run with ASan+UBSan.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
fail=0
found=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    bin=$BUILD/fuzz-replay/fuzz_$name
    if [ ! -x "$bin" ]; then
        make -s BUILD="$BUILD" "$bin" >&2 || {
            echo "FAIL $name: cannot build $bin"
            fail=1
            continue
        }
    fi
    dirs=()
    for d in tests/fuzz/corpus/$name tests/fuzz/regressions/$name; do
        [ -d "$d" ] && dirs+=("$d")
    done
    [ "$name" = command ] && dirs+=(tests/data/valid tests/data/invalid)
    [ ${#dirs[@]} -gt 0 ] || {
        echo "FAIL $name: no corpus"
        fail=1
        continue
    }
    if out=$(timeout 120 "$bin" "${dirs[@]}" 2>&1); then
        echo "ok   $name: ${out##*: }"
        found=$((found + 1))
    else
        echo "FAIL $name:"
        echo "$out" | tail -n 20
        fail=1
    fi
done
[ $found -gt 0 ] || { echo "FAIL: no harness ran"; exit 1; }
exit $fail
