/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Update bundles (.alupd): create, verify, inspect and stream
 * (format: docs/formats/alupd.md).
 *
 *     16-byte header | SUIT envelope | #rootfs.img.zst | [#fit.itb.zst] | [#APP.alpkg ...]
 *
 * The same SUIT profile, keys and trust anchors as app packages (suit.h,
 * pkgfile-internal.h holds what the two file kinds share). Reading needs no
 * seek, so a bundle can come from a pipe: the envelope is verified before a
 * byte of payload is read; the root-filesystem image (one zstd frame that
 * states its decompressed size) is then handed to a sink chunk by chunk while
 * the compressed bytes are hashed; its digest is known good only when
 * alder_alupd_stream_image() returns 0. The optional boot component (the
 * signed FIT that boots the image: kernel, initramfs with the image's
 * dm-verity root hash, DTB) is one zstd frame too and streams the same way.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cose.h"
#include "digest.h"
#include "error.h"
#include "keys.h"
#include "macro.h"
#include "suit.h"
#include "uuid.h"

#define ALDER_ALUPD_MAGIC \
        "\x89"            \
        "ALUPD\r\n"
#define ALDER_ALUPD_FORMAT_VERSION 1
#define ALDER_ALUPD_ROOTFS_URI     "#rootfs.img.zst"
#define ALDER_ALUPD_BOOT_URI       "#fit.itb.zst"
/* App packages a bundle carries: one fewer when it carries boot files. */
#define ALDER_ALUPD_MAX_APPS (ALDER_SUIT_MAX_COMPONENTS - 1)
/* Largest zstd window a device accepts (8 MiB): bounds the agent's memory whatever the image size. */
#define ALDER_ALUPD_MAX_WINDOW_LOG 23
/* The window bundles are compressed with (1 MiB). */
#define ALDER_ALUPD_WINDOW_LOG  20
#define ALDER_ALUPD_MAX_PRODUCT 63

/* Class id = UUIDv5(vendor id, "os/PRODUCT"); PRODUCT as for app names: [a-z0-9-], 1-63. */
int alder_alupd_class_id(const uint8_t vendor_id[ALDER_UUID_LEN], const char *product, uint8_t class_id[ALDER_UUID_LEN],
                         alder_error **err) ALDER_WUR;

typedef struct alder_alupd_create_opts {
        const char *product;                    /* required */
        const char *version;                    /* required: shown, not compared */
        const char *image;                      /* raw root-filesystem image, compressed here */
        const char *image_payload;              /* instead: a ready zstd frame (must state its size) */
        const char *boot;                       /* boot files (a signed FIT), compressed here; NULL: none */
        const char *const *apps;                /* app packages (.alpkg) carried along; may be NULL */
        size_t n_apps;                          /* 0..ALDER_ALUPD_MAX_APPS */
        uint64_t sequence;                      /* anti-rollback */
        const char *vendor_domain;              /* NULL: ALDER_ALPKG_DEFAULT_VENDOR */
        const struct alder_cose_signer *signer; /* required */
        int zstd_level;                         /* 0: 3 */
        void (*progress)(void *ctx, uint64_t done, uint64_t total);
        void *progress_ctx;
} alder_alupd_create_opts;

typedef struct alder_alupd_component_info {
        char id[128]; /* as alder_suit_component_id_format() shows it */
        char uri[ALDER_SUIT_MAX_URI + 1];
        uint64_t size;
        uint8_t digest[ALDER_SHA256_LEN];
} alder_alupd_component_info;

typedef struct alder_alupd_info {
        uint64_t sequence;
        uint8_t vendor_id[ALDER_UUID_LEN];
        uint8_t class_id[ALDER_UUID_LEN];
        char product[ALDER_SUIT_MAX_TEXT + 1]; /* suit-text manifest description */
        char version[ALDER_SUIT_MAX_TEXT + 1]; /* suit-text version of the image */
        uint64_t envelope_size;
        size_t n_components; /* 0: the image; 1: the boot files when has_boot; then the app packages */
        alder_alupd_component_info components[ALDER_SUIT_MAX_COMPONENTS];
        uint64_t image_size; /* decompressed; known after create or alder_alupd_stream_image() began */
        bool has_boot;       /* component 1 is ['alder','boot','fit'] */
        uint64_t boot_size;  /* decompressed; known after create or alder_alupd_stream_boot() began */
        bool verified;
        struct alder_cose_signer_info signer;
} alder_alupd_info;

/* Writes a signed bundle to out_path crash-safely. */
int alder_alupd_create(const alder_alupd_create_opts *opts, const char *out_path, alder_alupd_info *ret,
                       alder_error **err) ALDER_WUR;

/* What a device requires beyond a trusted signature. */
typedef struct alder_alupd_expect {
        const char *vendor_domain; /* NULL: ALDER_ALPKG_DEFAULT_VENDOR */
        const char *product;       /* required */
        uint64_t min_sequence;     /* anti-rollback: a lower sequence number is refused (ESTALE) */
} alder_alupd_expect;

typedef struct alder_alupd alder_alupd;

/*
 * Reads header and envelope from fd (not closed; `name` is for errors) and
 * verifies it against `trust` and `expect`. trust == NULL: inspection only
 * (info.verified false); expect == NULL: vendor and class not compared.
 */
int alder_alupd_open_fd(int fd, const char *name, const alder_trust_store *trust, const alder_alupd_expect *expect,
                        alder_alupd **ret, alder_error **err) ALDER_WUR;
/* The same for a file, which the bundle then owns. */
int alder_alupd_open(const char *path, const alder_trust_store *trust, const alder_alupd_expect *expect,
                     alder_alupd **ret, alder_error **err) ALDER_WUR;

const alder_alupd_info *alder_alupd_get_info(const alder_alupd *b);

/* Where the decompressed image goes; begin() is called once, before any write(). */
typedef struct alder_alupd_sink {
        int (*begin)(void *ctx, uint64_t image_size, alder_error **err);
        int (*write)(void *ctx, const void *buf, size_t len, alder_error **err);
        void *ctx;
} alder_alupd_sink;

/*
 * Streams the image through SHA-256 and zstd into the sink (NULL: decompress
 * and discard). Errors: EBADMSG truncated, not one complete zstd frame with
 * a content size, digest mismatch (found at the end: the sink has then been
 * written); EFBIG a window over ALDER_ALUPD_MAX_WINDOW_LOG; whatever the sink
 * returns. Once per bundle.
 */
int alder_alupd_stream_image(alder_alupd *b, const alder_alupd_sink *sink, alder_error **err) ALDER_WUR;

/*
 * After the image, when info.has_boot: streams the boot files (one zstd
 * frame, checked like the image) into the sink (NULL: decompress and
 * discard). ENOENT when the bundle carries none. Once per bundle.
 */
int alder_alupd_stream_boot(alder_alupd *b, const alder_alupd_sink *sink, alder_error **err) ALDER_WUR;

/*
 * After the image (and the boot files): checks what was not streamed yet
 * (boot files, decompressed and discarded), the app packages' digests and
 * sizes, and the end of the stream.
 */
int alder_alupd_check_rest(alder_alupd *b, alder_error **err) ALDER_WUR;

void alder_alupd_close(alder_alupd *b);
static inline void alder_alupd_closep(alder_alupd **p)
{
        alder_alupd_close(*p);
}
#define _cleanup_alupd_ _cleanup_(alder_alupd_closep)

/* Replaces the signature; manifest and payloads stay byte-identical. */
int alder_alupd_resign(const char *in_path, const struct alder_cose_signer *signer, const char *out_path,
                       alder_error **err) ALDER_WUR;
