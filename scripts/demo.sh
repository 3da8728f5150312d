#!/bin/bash
# The newcomer's first command: installs the Debian packages Alder needs (only
# those missing), builds, and runs the main demo.
#   scripts/demo.sh
# Today's demo shows the foundation end to end: the alder CLI, and a daemon
# serving Alder's IPC protocol that the CLI talks to (peer credentials,
# field-named errors, timeouts). Later issues grow it into the full device
# demo (QEMU image, app install, update).
set -euo pipefail

cd "$(dirname "$0")/.."
build=build

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() {
        say "$(printf '%q ' "$@")"
        "$@"
}

scripts/deps.sh build

echo "==> building (meson + ninja) in ./$build"
if [ -f "$build/build.ninja" ]; then
        meson setup --reconfigure "$build" >/dev/null
else
        meson setup "$build" >/dev/null
fi
ninja -C "$build"

alder="$build/host/alder"
run "$alder" --version
run "$alder" version --json

# A daemon speaking Alder's IPC protocol (the test server of tests/helpers).
rundir=$(mktemp -d /tmp/alder-demo.XXXXXX)
sock="$rundir/demo.sock"
"$build/tests/helpers/ipc-echo-server" "$sock" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$rundir"' EXIT
for _ in $(seq 50); do
        [ -S "$sock" ] && break
        sleep 0.1
done

run "$alder" ipc call --socket "$sock" echo '{"hello": "device"}'
run "$alder" ipc call --socket "$sock" peer
say "$alder ipc call --socket $sock echo '{\"broken\": }'   # bad input: the error names the place"
"$alder" ipc call --socket "$sock" echo '{"broken": }' || echo "(exit status $?)"
say "$alder ipc call --socket $sock --timeout 300 sleep '{\"ms\": 2000}'   # a daemon that does not answer in time"
"$alder" ipc call --socket "$sock" --timeout 300 sleep '{"ms": 2000}' || echo "(exit status $?)"

echo
echo "Demo done. Next: ./scripts/test.sh runs the whole test suite."
