# shellcheck shell=bash
# The QEMU machine both image/build (to dump the control DTB) and image/run
# (to boot) use. U-Boot takes the DTB QEMU hands over; the one carrying the
# public key must come from the very same machine options, or the kernel
# probes devices that are not there (docs/design/image.md).
QEMU=${QEMU:-qemu-system-aarch64}
UBOOT_BIN=${UBOOT_BIN:-/usr/lib/u-boot/qemu_arm64/u-boot.bin}
ALDER_QEMU_MEM=512
ALDER_QEMU_SMP=1

# qemu_machine_args [ENV_FLASH]: prints one argument per line. ENV_FLASH is
# U-Boot's (read-only) environment in the second pflash bank (image/build
# makes it: no autoboot delay, boot.scr straight away).
qemu_machine_args() {
        printf '%s\n' -M virt -cpu cortex-a57 -m "$ALDER_QEMU_MEM" -smp "$ALDER_QEMU_SMP" \
                -bios "$UBOOT_BIN" -nodefaults -no-user-config
        if [ -n "${1:-}" ]; then
                printf '%s\n' -drive "if=pflash,unit=1,format=raw,readonly=on,file=$1"
        fi
}
