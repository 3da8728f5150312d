#!/bin/bash
# Installs the Debian bookworm packages Alder needs, and only those missing.
#   scripts/deps.sh build   what building and the demo need (the demo boots the device image)
#   scripts/deps.sh test    + what the whole test suite needs (cross build, fuzzing, pytest)
# Idempotent: a second run installs nothing and does not touch apt's lists.
set -euo pipefail

profile=${1:-build}

build_pkgs=(
        meson ninja-build pkg-config gcc libc6-dev
        libjansson-dev libcmocka-dev
        libcbor-dev libssl-dev libarchive-dev libzstd-dev zlib1g-dev
        libcoap3-dev libsqlite3-dev libmicrohttpd-dev  # LwM2M client (alder-dmc) and service (alder-dm)
        libcurl4-openssl-dev                # HTTP(S): alder dm (REST client), package/bundle downloads
        libtss2-dev                         # alder-secd's TPM 2.0 backend (tpm2-tss ESAPI; optional at build time)
        libp11-kit-dev                      # the PKCS#11 header for alder-secd's PKCS#11 backend (optional at build time)
        gcc-aarch64-linux-gnu umoci skopeo file  # the demo packs an arm64 example app
        # the demo's device image: aarch64 cross build, image/build, image/run
        libjansson-dev:arm64 libcbor-dev:arm64 libssl-dev:arm64 libarchive-dev:arm64 libzstd-dev:arm64 zlib1g-dev:arm64 libcoap3-dev:arm64
        qemu-system-arm qemu-utils u-boot-qemu u-boot-tools device-tree-compiler busybox-static
        mtools dosfstools erofs-utils e2fsprogs gdisk kmod cpio cryptsetup-bin openssh-client openssl
)
test_pkgs=(
        python3 python3-pytest file
        clang libclang-rt-14-dev            # libFuzzer + sanitizers for fuzz targets
        qemu-user-static
        libcmocka-dev:arm64                 # unit tests of the aarch64 build (under qemu-user)
        zstd tar                            # reference tools for fixtures and bench/pack
        umoci skopeo buildah runc           # real OCI image tools and a runtime for app fixtures
        busybox-static                      # a static userland for container tests (test_ocispec.py)
        strace                              # kill -9 injection at each syscall (test_appd_crash.py)
        libubootenv-tool                    # fw_setenv/fw_printenv: alder-updated arms the try-boot (test_update.py)
        libcoap3-bin                        # third-party CoAP peers: coap-client, coap-rd-openssl (LwM2M interop)
        swtpm swtpm-tools tpm2-tools        # a software TPM and the TCG tools for secd's TPM backend (test_secd_tpm.py)
        softhsm2 opensc                     # a PKCS#11 token and pkcs11-tool for secd's PKCS#11 backend (test_secd_pkcs11.py)
)

case "$profile" in
build) wanted=("${build_pkgs[@]}") ;;
test) wanted=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
        echo "usage: $0 build|test" >&2
        exit 2
        ;;
esac

if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: installing Debian packages needs root (run with sudo)" >&2
        exit 1
fi

# The cross build uses Debian's arm64 multiarch -dev packages.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        echo "deps.sh: enabling the arm64 architecture for cross-building"
        dpkg --add-architecture arm64
        need_update=1
fi

# Qualify names with the native architecture: once arm64 is added, a bare
# "libjansson-dev" would match both architectures' packages.
native=$(dpkg --print-architecture)
missing=()
for p in "${wanted[@]}"; do
        q=$p
        [[ $q == *:* ]] || q="$p:$native"
        status=$(dpkg-query -W -f='${db:Status-Status}' "$q" 2>/dev/null || true)
        # Architecture-independent packages answer only to their bare name.
        [ -n "$status" ] || status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        if [ "$status" != installed ]; then
                missing+=("$p")
        fi
done

if [ ${#missing[@]} -eq 0 ] && [ -z "${need_update:-}" ]; then
        echo "deps.sh: all ${#wanted[@]} packages present"
        exit 0
fi

echo "deps.sh: installing ${missing[*]:-(none)}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps.sh: done"
