/* SPDX-License-Identifier: Apache-2.0 */
/*
 * App packages (.alpkg): create, verify, inspect and unpack
 * (format: docs/formats/alpkg.md).
 *
 *     16-byte header | SUIT envelope | #app.json | #rootfs.tar.zst
 *
 * Reading verifies the envelope's signature and manifest before it reads a
 * byte of payload, checks the app metadata's digest before parsing it, and
 * hashes the root filesystem while it streams into the safe unpacker; a
 * mismatch removes what was unpacked.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "appmeta.h"
#include "cose.h"
#include "digest.h"
#include "error.h"
#include "keys.h"
#include "macro.h"
#include "suit.h"
#include "unpack.h"
#include "uuid.h"

#define ALDER_ALPKG_MAGIC \
        "\x89"            \
        "ALPKG\r\n"
#define ALDER_ALPKG_MAGIC_LEN      8
#define ALDER_ALPKG_FORMAT_VERSION 1
#define ALDER_ALPKG_HEADER_SIZE    16
#define ALDER_ALPKG_DEFAULT_VENDOR "alder.invalid"
#define ALDER_ALPKG_META_URI       "#app.json"
#define ALDER_ALPKG_ROOTFS_URI     "#rootfs.tar.zst"

/* Vendor id = UUIDv5(DNS namespace, domain); NULL domain: ALDER_ALPKG_DEFAULT_VENDOR. */
int alder_alpkg_vendor_id(const char *vendor_domain, uint8_t vendor_id[ALDER_UUID_LEN], alder_error **err) ALDER_WUR;
/* Class id = UUIDv5(vendor id, "app/NAME/ARCH"). */
int alder_alpkg_class_id(const uint8_t vendor_id[ALDER_UUID_LEN], const char *name, const char *arch,
                         uint8_t class_id[ALDER_UUID_LEN], alder_error **err) ALDER_WUR;

/* "NAME_VERSION_ARCH.alpkg" (malloc'ed). */
int alder_alpkg_file_name(const alder_app_meta *meta, char **ret, alder_error **err) ALDER_WUR;

typedef struct alder_alpkg_create_opts {
        const alder_app_meta *meta;
        const char *rootfs_dir;                 /* flattened container root filesystem */
        /*
         * Instead of rootfs_dir: a ready zstd-compressed tar used as the payload
         * as it is (for tools that make their own, and for tests of devices'
         * handling of hostile payloads). Not checked: devices check it.
         */
        const char *rootfs_payload;
        uint64_t sequence;                      /* anti-rollback sequence number */
        const char *vendor_domain;              /* NULL: ALDER_ALPKG_DEFAULT_VENDOR */
        const struct alder_cose_signer *signer; /* required: devices accept only signed packages */
        int zstd_level;                         /* 0: default */
        void (*progress)(void *ctx, uint64_t entries, uint64_t bytes_in);
        void *progress_ctx;
} alder_alpkg_create_opts;

/* What a package holds, as written or as verified. */
typedef struct alder_alpkg_info {
        uint64_t sequence;
        uint8_t vendor_id[ALDER_UUID_LEN];
        uint8_t class_id[ALDER_UUID_LEN];
        uint64_t envelope_size;
        uint64_t meta_size;
        uint8_t meta_digest[ALDER_SHA256_LEN];
        uint64_t rootfs_size; /* compressed */
        uint8_t rootfs_digest[ALDER_SHA256_LEN];
        uint64_t rootfs_entries;              /* when created */
        uint64_t rootfs_bytes_in;             /* uncompressed file content, when created */
        bool verified;                        /* signature checked against a trust store */
        struct alder_cose_signer_info signer; /* when verified */
} alder_alpkg_info;

/* Writes a signed package to out_path, crash-safely (nothing at out_path on failure). */
int alder_alpkg_create(const alder_alpkg_create_opts *opts, const char *out_path, alder_alpkg_info *ret,
                       alder_error **err) ALDER_WUR;

typedef struct alder_alpkg alder_alpkg;

/*
 * What a device requires of a package beyond a trusted signature. Passing
 * NULL instead checks neither vendor nor architecture (inspection); the class
 * id is always checked against the metadata's name and architecture.
 */
typedef struct alder_alpkg_expect {
        const char *vendor_domain; /* NULL: ALDER_ALPKG_DEFAULT_VENDOR */
        const char *arch;          /* NULL: any */
} alder_alpkg_expect;

/*
 * Opens a package, verifies the envelope against `trust` and reads the app
 * metadata (digest-checked). With trust == NULL the signature is NOT checked
 * (for `alder app inspect` of an unsigned-by-us package): info.verified says
 * which. The root filesystem is not read yet.
 */
int alder_alpkg_open(const char *path, const alder_trust_store *trust, const alder_alpkg_expect *expect,
                     alder_alpkg **ret, alder_error **err) ALDER_WUR;

const alder_app_meta *alder_alpkg_meta(const alder_alpkg *pkg);
const alder_alpkg_info *alder_alpkg_get_info(const alder_alpkg *pkg);
/* The raw SUIT envelope (for re-signing). */
const uint8_t *alder_alpkg_envelope(const alder_alpkg *pkg, size_t *ret_len);

/* Reads the root filesystem payload through SHA-256 and checks digest, size and end of file. */
int alder_alpkg_check_rootfs(alder_alpkg *pkg, alder_error **err) ALDER_WUR;

/*
 * Streams the root filesystem into `dest` (which must not exist) through the
 * safe unpacker, checking digest and size; on any failure dest is removed.
 * opts->mode must be ALDER_UNPACK_FRESH; compression is forced to zstd.
 */
int alder_alpkg_unpack(alder_alpkg *pkg, const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats,
                       alder_error **err) ALDER_WUR;

void alder_alpkg_close(alder_alpkg *pkg);
static inline void alder_alpkg_closep(alder_alpkg **p)
{
        alder_alpkg_close(*p);
}
#define _cleanup_alpkg_ _cleanup_(alder_alpkg_closep)

/*
 * Replaces the signature of a package (re-signing with another key): the
 * manifest and payloads stay byte-identical. The input is verified first when
 * `trust` is given.
 */
int alder_alpkg_resign(const char *in_path, const struct alder_cose_signer *signer, const char *out_path,
                       alder_error **err) ALDER_WUR;
