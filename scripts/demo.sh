#!/bin/bash
# The newcomer's first command: installs the Debian packages Alder needs (only
# those missing), builds, and runs the main demo.
#   scripts/demo.sh
# The demo: the IPC protocol the daemons speak; a signed app package made from
# a container image (keys, pack, inspect, verify, a tampered copy refused) and
# installed through alder-appd; then the aarch64 device image built and booted
# under QEMU, with the hello-world core app running on it.
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

# ---- a signed app package from a container image ---------------------------
work="$rundir/app"
mkdir -p "$work/trust"
echo
echo "==> building the hello-world example image for arm64 (offline, with umoci)"
examples/hello-world/build.sh --arch arm64 --out "$work/image" --tool umoci | tail -n 3
run "$alder" keys generate --out "$work/dev" --cn "Alder demo"
cp "$work/dev.pem" "$work/trust/"
run "$alder" app pack --key "$work/dev.key" --cert "$work/dev.pem" --memory 64M --volume data:/data \
        -o "$work" "$work/image/oci:1.0.0"
pkg="$work/hello-world_1.0.0_arm64.alpkg"
run "$alder" app inspect "$pkg"
run "$alder" app verify --trust "$work/trust" --arch arm64 "$pkg"
cp "$pkg" "$work/tampered.alpkg"
printf '\x00' | dd of="$work/tampered.alpkg" bs=1 seek=$(($(stat -c %s "$pkg") - 100)) conv=notrunc status=none
say "$alder app verify --trust $work/trust $work/tampered.alpkg   # one byte changed in the payload"
"$alder" app verify --trust "$work/trust" "$work/tampered.alpkg" || echo "(exit status $?)"

# ---- installing it on a device root through alder-appd ------------------------
device="$rundir/device"
mkdir -p "$device/config/trust"
cp "$work/dev.pem" "$device/config/trust/"
echo
echo "==> starting alder-appd on a device root in $device"
ALDER_LOG_TARGET=stderr "$build/device/appd/alder-appd" --root "$device" --arch arm64 &
appd=$!
trap 'kill $server $appd 2>/dev/null; wait $server $appd 2>/dev/null; rm -rf "$rundir"' EXIT
for _ in $(seq 50); do
        "$alder" app list --socket "$device/run/alder/appd.sock" >/dev/null 2>&1 && break
        sleep 0.1
done
say "$alder app install --socket ... $work/tampered.alpkg   # the tampered copy: refused, nothing left"
"$alder" app install --socket "$device/run/alder/appd.sock" "$work/tampered.alpkg" 2>&1 | grep -v '^err ' ||
        true
run "$alder" app install --socket "$device/run/alder/appd.sock" "$pkg"
run "$alder" app list --socket "$device/run/alder/appd.sock"
kill $appd 2>/dev/null || true
wait $appd 2>/dev/null || true

# ---- the device image, booted under QEMU ----------------------------------------
echo
echo "==> cross-building Alder for aarch64 in ./build-aarch64"
if [ -f build-aarch64/build.ninja ]; then
        meson setup --reconfigure build-aarch64 >/dev/null
else
        meson setup build-aarch64 --cross-file cross/aarch64-linux-gnu.ini -Dtests=disabled >/dev/null
fi
ninja -C build-aarch64 | tail -n 1
run image/build --build-dir build-aarch64 --host-build "$build" --out build-image
qemu_state="$rundir/qemu"
trap 'image/run --stop --state "$qemu_state" >/dev/null 2>&1 || true; kill $server 2>/dev/null; wait $server 2>/dev/null
      rm -rf "$rundir"' EXIT
run image/run --image build-image --state "$qemu_state" --headless --fresh
grep -a -m1 -o 'ALDER-READY[^[:cntrl:]]*' "$qemu_state/console.log"
ssh_key=$(sed -n 's/^ALDER_IMAGE_SSH_KEY=//p' build-image/image.env)
case $ssh_key in /*) ;; *) ssh_key=build-image/$ssh_key ;; esac
on_device() {
        say "ssh root@device $*"
        ssh -i "$ssh_key" -p "$(cat "$qemu_state/ssh.port")" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=30 root@127.0.0.1 "$@"
}
# The core app may still be starting when the device reports ready.
on_device "for i in \$(seq 30); do alder app list | grep -q ' running ' && break; sleep 1; done; uname -m; alder app list"
on_device 'sleep 2; tail -n 3 /var/log/alder/apps/hello-world.log'
run image/run --stop --state "$qemu_state"

echo
echo "Demo done. Boot the device yourself with: image/run --image build-image (Ctrl-a x quits)."
echo "Next: ./scripts/test.sh runs the whole test suite."
