#!/bin/bash
# Runs Alder's whole test suite; this is what CI runs (.ci/run).
#   scripts/test.sh
# Stages: install missing Debian packages; build and unit-test (meson test)
# plainly and with ASan+UBSan; system tests (pytest) on both builds; aarch64
# cross build with the unit tests run under qemu-user; the device image built
# from it and booted under QEMU (test_image.py, test_image_update.py); every fuzz target for
# FUZZ_SECONDS (default 20). Ends with one summary line; exits non-zero if
# any stage failed.
set -uo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
fuzz_seconds=${FUZZ_SECONDS:-20}
python=/usr/bin/python3 # Debian's, where python3-pytest lives (not a pyenv shim)

failed_stages=()
results=() # files the summary reads

stage() {
        local name=$1
        shift
        local start=$SECONDS
        echo
        echo "==> $name"
        if "$@"; then
                echo "<== $name: ok ($((SECONDS - start)) s)"
        else
                echo "<== $name: FAILED ($((SECONDS - start)) s)" >&2
                failed_stages+=("$name")
                return 1
        fi
}

# meson setup, or reconfigure an existing directory with the same options.
setup() {
        local dir=$1
        shift
        if [ -f "$dir/build.ninja" ]; then
                meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1 || {
                        cat "$dir.setup.log"
                        return 1
                }
        else
                rm -rf "$dir"
                meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || {
                        cat "$dir.setup.log"
                        return 1
                }
        fi
}

build_and_unit_test() {
        local dir=$1
        shift
        setup "$dir" "$@" && ninja -C "$dir" &&
                meson test -C "$dir" --print-errorlogs --num-processes 2 &&
                results+=("meson:$dir/meson-logs/testlog.json")
}

# system_tests BUILD_DIR [PYTEST ARGS...]
system_tests() {
        local dir=$1
        shift
        local xml="$root/$dir/pytest-results.xml"
        ALDER_BUILD_DIR="$root/$dir" "$python" -m pytest -q -p no:cacheprovider \
                --junitxml="$xml" "$@" tests/system
        local rc=$?
        results+=("pytest:$xml")
        return $rc
}

check_aarch64_elf() {
        local dir=$1 bad=0 n=0
        while IFS= read -r f; do
                n=$((n + 1))
                if ! file -b "$f" | grep -q 'ARM aarch64'; then
                        echo "not an aarch64 ELF: $f: $(file -b "$f")" >&2
                        bad=1
                fi
        done < <(find "$dir/host" "$dir/device" "$dir/tests" -type f -perm -u+x ! -name '*.so*' 2>/dev/null)
        echo "aarch64 ELF executables: $n"
        [ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
}

# image_tests AARCH64_BUILD_DIR: builds the device image from that build (cached
# by content hash in build-image-cache/) and boots it under qemu-system-aarch64.
image_tests() {
        local xml="$root/$1/pytest-image-results.xml"
        ALDER_IMAGE_TESTS=1 ALDER_AARCH64_BUILD_DIR="$root/$1" ALDER_HOST_BUILD_DIR="$root/build" ALDER_IMAGE_LOG_DIR="$root/$1/image-logs" \
                "$python" -m pytest -q -p no:cacheprovider --junitxml="$xml" tests/system/test_image.py \
                tests/system/test_image_update.py
        local rc=$?
        results+=("pytest:$xml")
        return $rc
}

# libFuzzer instruments the library too (fuzzer-no-link); only targets link the driver.
fuzz_setup() {
        (
                export CC=clang
                setup "$1" -Dfuzzing=true -Dtests=disabled -Dhost_tools=false \
                        -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
        )
}

stage "dependencies" scripts/deps.sh test || exit 1

stage "build + unit tests" build_and_unit_test build
stage "sanitizer build (ASan+UBSan) + unit tests" \
        build_and_unit_test build-asan -Db_sanitize=address,undefined -Db_lundef=false
stage "system tests (plain build)" system_tests build
# The example's tests do not use Alder's binaries: once is enough.
stage "system tests (sanitizer build)" system_tests build-asan --ignore=tests/system/test_example.py
stage "aarch64 cross build + unit tests under qemu-user" \
        build_and_unit_test build-aarch64 --cross-file cross/aarch64-linux-gnu.ini &&
        stage "aarch64 binaries are aarch64 ELF" check_aarch64_elf build-aarch64 &&
        stage "device image: build + boot + A/B update under QEMU (tests/system/test_image*.py)" image_tests build-aarch64
stage "fuzz build (clang, libFuzzer)" fuzz_setup build-fuzz &&
        stage "fuzz build: compile" ninja -C build-fuzz &&
        stage "fuzz targets (${fuzz_seconds} s each)" fuzz/run.sh build-fuzz "$fuzz_seconds"

echo
"$python" scripts/summarize.py "${results[@]}"
summary_rc=$?
if [ ${#failed_stages[@]} -gt 0 ]; then
        echo "failed stages: ${failed_stages[*]}" >&2
        exit 1
fi
exit $summary_rc
