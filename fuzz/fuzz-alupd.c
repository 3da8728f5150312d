/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for update bundles (.alupd): the header, the envelope
 * (strict CBOR, manifest interpreter; no trust store, as inspection does),
 * the component checks, then the image and the boot files streamed through
 * SHA-256 and zstd (bounded window) and the app payloads and end-of-file check. Seeds are
 * real bundles, so mutations of their payload bytes reach the decompressor
 * behind an envelope that still parses.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alder/alupd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
        uint64_t declared, seen;
};

static int on_begin(void *ctx, uint64_t size, alder_error **err)
{
        ((struct count *) ctx)->declared = size;
        return 0;
}

static int on_write(void *ctx, const void *buf, size_t len, alder_error **err)
{
        struct count *c = ctx;
        c->seen += len;
        if (c->seen > c->declared) /* the reader must never hand out more than the frame states */
                __builtin_trap();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = memfd_create("alupd", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (size > 0 && write(fd, data, size) != (ssize_t) size) {
                close(fd);
                return 0;
        }
        (void) lseek(fd, 0, SEEK_SET);
        alder_error *err = NULL;
        alder_alupd *b = NULL;
        if (alder_alupd_open_fd(fd, "fuzz", NULL, NULL, &b, &err) == 0) {
                struct count c = {0};
                alder_alupd_sink sink = {.begin = on_begin, .write = on_write, .ctx = &c};
                if (alder_alupd_stream_image(b, &sink, &err) == 0) {
                        if (c.seen != c.declared)
                                __builtin_trap();
                        struct count boot = {0};
                        alder_alupd_sink boot_sink = {.begin = on_begin, .write = on_write, .ctx = &boot};
                        bool ok =
                                !alder_alupd_get_info(b)->has_boot || alder_alupd_stream_boot(b, &boot_sink, &err) == 0;
                        if (ok && boot.seen != boot.declared)
                                __builtin_trap();
                        if (ok)
                                (void) alder_alupd_check_rest(b, &err);
                }
                alder_alupd_close(b);
        }
        alder_error_free(err);
        close(fd);
        return 0;
}
