# shellcheck shell=bash
# The QEMU machine both image/build (to dump the control DTB) and image/run
# (to boot) use. U-Boot takes the DTB QEMU hands over; the one carrying the
# public key must come from the very same machine options, or the kernel
# probes devices that are not there (docs/design/image.md).
QEMU=${QEMU:-qemu-system-aarch64}
UBOOT_BIN=${UBOOT_BIN:-/usr/lib/u-boot/qemu_arm64/u-boot.bin}
ALDER_QEMU_MEM=512
ALDER_QEMU_SMP=1

# qemu_machine_args: prints one argument per line.
qemu_machine_args() {
        printf '%s\n' -M virt -cpu cortex-a57 -m "$ALDER_QEMU_MEM" -smp "$ALDER_QEMU_SMP" \
                -bios "$UBOOT_BIN" -nodefaults -no-user-config
}
