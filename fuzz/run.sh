#!/bin/bash
# Runs every fuzz target of a fuzz build for SECONDS each, starting from the
# seeds in fuzz/corpus/<name>/ (never modified: new inputs go to a scratch dir).
#   fuzz/run.sh BUILD_DIR [SECONDS]
# A crash, leak or sanitizer report fails the run; the reproducer is kept in
# BUILD_DIR/fuzz-artifacts/.
set -euo pipefail

build=${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"

status=0
ran=0
for target in "$build"/fuzz/fuzz-*; do
        [ -f "$target" ] && [ -x "$target" ] || continue
        name=$(basename "$target")
        name=${name#fuzz-}
        scratch=$(mktemp -d)
        echo "fuzz: $name for ${seconds}s"
        if "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$artifacts/$name-" "$scratch" "$here/corpus/$name" \
                >"$build/fuzz-$name.log" 2>&1; then
                echo "fuzz: $name ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
                        "$build/fuzz-$name.log" | grep -o '[0-9]*$') runs)"
        else
                echo "fuzz: $name FAILED; log: $build/fuzz-$name.log" >&2
                tail -n 40 "$build/fuzz-$name.log" >&2
                status=1
        fi
        rm -rf "$scratch"
        ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
        echo "fuzz: no fuzz targets in $build/fuzz" >&2
        exit 1
fi
exit $status
