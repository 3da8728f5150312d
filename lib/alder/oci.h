/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading container images on the host, for `alder app pack`.
 *
 * An input is one of (docs/formats/oci-input.md):
 *   - an OCI image layout directory (oci-layout, index.json, blobs/sha256/...);
 *   - an oci-archive: a tar of such a directory (`skopeo copy ... oci-archive:`);
 *   - a docker-archive: `docker save` / `podman save` output (manifest.json with
 *     Config, RepoTags, Layers), old layout with <id>/layer.tar or new with blobs/;
 *   - a plain root filesystem directory (no config: the caller supplies the command).
 * Archives are extracted with the safe unpacker (contents only, bounded) into a
 * private temporary directory that alder_oci_image_free() removes.
 *
 * Every blob is checked against the digest and size that reference it:
 * index, manifests and configs when they are read, layers while they stream
 * into the unpacker. docker-archive layers are checked against the config's
 * rootfs.diff_ids, its config against its file name. JSON documents are bounded
 * and errors name the document and field ("manifest sha256:0123456789ab: field
 * 'layers': expected array, got object").
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "error.h"
#include "macro.h"
#include "unpack.h"

typedef enum alder_oci_kind {
        ALDER_OCI_LAYOUT = 0,     /* "oci-layout" */
        ALDER_OCI_ARCHIVE,        /* "oci-archive" */
        ALDER_OCI_DOCKER_ARCHIVE, /* "docker-archive" */
        ALDER_OCI_ROOTFS_DIR,     /* "rootfs-dir" */
} alder_oci_kind;

/* The names above. */
const char *alder_oci_kind_name(alder_oci_kind kind);

/* Bounds on what an image may make us read. */
#define ALDER_OCI_MAX_INDEX_SIZE    (1u << 20)
#define ALDER_OCI_MAX_MANIFEST_SIZE (4u << 20) /* the OCI distribution spec's limit */
#define ALDER_OCI_MAX_CONFIG_SIZE   (8u << 20)
#define ALDER_OCI_MAX_MANIFESTS     1024u /* in one index, nested indexes included */
#define ALDER_OCI_MAX_INDEX_DEPTH   4u
#define ALDER_OCI_MAX_LAYERS        256u
#define ALDER_OCI_MAX_LIST          4096u /* Env, Cmd, Entrypoint, Labels, ExposedPorts, Volumes items */

typedef struct alder_oci_open_opts {
        /*
         * Which image of a multi-image input. os NULL means "linux";
         * architecture NULL means any (then only one may match). Architectures
         * are Go names (amd64, arm64, arm); aarch64, x86_64, armhf and armv7 are
         * understood too. variant NULL means any ("v7" for 32-bit arm).
         */
        const char *os, *architecture, *variant;
        /* org.opencontainers.image.ref.name of an index entry, or a docker-archive RepoTag; NULL: any. */
        const char *ref;
        /* Where archives are extracted; NULL: $TMPDIR, else /var/tmp. */
        const char *tmpdir;
        /* Limits for extracting archives (zero fields: the unpacker's defaults). */
        alder_unpack_limits archive_limits;
} alder_oci_open_opts;

/* The parts of an image config an app needs, owned by the image. Lists are NULL-terminated, NULL when absent. */
typedef struct alder_oci_config {
        const char *architecture, *os, *variant; /* variant may be NULL */
        char **entrypoint, **cmd, **env;
        const char *working_dir, *user, *stop_signal; /* NULL when absent */
        char **labels;                                /* "KEY=VALUE", sorted by key */
        char **exposed_ports;                         /* "80/tcp", sorted */
        char **volumes;                               /* "/data", sorted (the image's VOLUME paths) */
} alder_oci_config;

typedef struct alder_oci_image alder_oci_image;

/* Opens and validates an input; says why not and, for a selection that fails, what is available. */
int alder_oci_open(const char *path, const alder_oci_open_opts *opts, alder_oci_image **ret,
                   alder_error **err) ALDER_WUR;

alder_oci_kind alder_oci_image_kind(const alder_oci_image *img);

/* The config; NULL for a rootfs-dir. Owned by img. */
const alder_oci_config *alder_oci_image_config(const alder_oci_image *img);

/* "sha256:..." of the selected manifest (docker-archive: of the config, docker's image id); NULL for a rootfs-dir. */
const char *alder_oci_image_digest(const alder_oci_image *img);

size_t alder_oci_image_layer_count(const alder_oci_image *img);

/*
 * What was opened, as JSON: kind, digest, the config fields (entrypoint, cmd,
 * env, working_dir, user, labels as an object, exposed_ports, stop_signal,
 * architecture, os, variant) and the layers (digest, media_type, size).
 */
int alder_oci_image_to_json(const alder_oci_image *img, json_t **ret, alder_error **err) ALDER_WUR;

/*
 * Builds the image's root filesystem in dest, which must not exist: the layers
 * in order with their whiteouts (a rootfs-dir is copied), all through the safe
 * unpacker with `opts` (mode and compression are set here; limits, flags and
 * id shift are the caller's and bound the whole image). Each layer is verified
 * against its digest while it streams. On failure dest is removed. stats as
 * for alder_unpack(): totals over all layers, untouched on failure.
 */
int alder_oci_image_flatten(alder_oci_image *img, const char *dest, const alder_unpack_opts *opts,
                            alder_unpack_stats *stats, alder_error **err) ALDER_WUR;

/* Removes the temporary directory of an archive, frees img. NULL is fine. */
void alder_oci_image_free(alder_oci_image *img);

static inline void alder_oci_image_freep(alder_oci_image **img)
{
        alder_oci_image_free(*img);
}

#define _cleanup_oci_image_ _cleanup_(alder_oci_image_freep)
