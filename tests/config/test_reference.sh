#!/bin/bash
# docs/configuration.md is the output of `schedworker --config-reference`
# below its header: regenerate it with the command in its header.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
want=$(mktemp)
trap 'rm -f "$want"' EXIT
"$BUILD/schedworker" --config-reference >"$want"
if ! diff <(sed '1,/^The annotated sample/d' docs/configuration.md | sed '1{/^$/d}') "$want"; then
    echo "FAIL: docs/configuration.md is out of date; regenerate it:"
    echo "  (head -6 docs/configuration.md; $BUILD/schedworker --config-reference) > new && mv new docs/configuration.md"
    exit 1
fi
echo "ok: docs/configuration.md matches the settings table"
