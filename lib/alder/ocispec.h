/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI runtime configuration (config.json, runtime-spec 1.0.2) for one app.
 *
 * Turns an app's metadata (appmeta.h) plus device-side settings into the
 * bundle configuration the runtime CLI (crun, runc) starts the container
 * from. Everything is hardened by default (read-only root, user namespace,
 * no capabilities, no new privileges, masked /proc paths, a seccomp
 * allow-list) and relaxed only where the metadata asks: requested
 * capabilities, devices, host network. docs/design/container-hardening.md
 * explains each choice.
 *
 * Errors name the app.json field at fault:
 *     app.json: field 'runtime.user': 'nobody' is not numeric UID[:GID]
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appmeta.h"
#include "error.h"
#include "macro.h"

/* Source name used in errors about metadata fields. */
#define ALDER_OCISPEC_SOURCE "app.json"

/*
 * Where an app finds its alder-secd socket (docs/api/secd.md): the host
 * folder of its socket is bind-mounted read-only at ALDER_OCISPEC_SECD_DIR and
 * ALDER_SECD_SOCKET names the socket in it.
 */
#define ALDER_OCISPEC_SECD_DIR    "/run/alder/secd.d"
#define ALDER_OCISPEC_SECD_SOCKET ALDER_OCISPEC_SECD_DIR "/secd.sock"
#define ALDER_OCISPEC_SECD_ENV    "ALDER_SECD_SOCKET"

/* Bounds on device-side settings (the meta's lists are bounded by appmeta). */
#define ALDER_OCISPEC_MIN_IDS 1024u /* user namespace must hold at least this many ids */

typedef struct alder_ocispec_settings {
        const char *rootfs;   /* bundle-relative or absolute path of the root file system */
        const char *hostname; /* the app's name */
        /* Host ids mapped to container ids 0..id_count-1 (e.g. 100000 + N * 65536, 65536). */
        uint32_t id_start;
        uint32_t id_count;
        /* Host directory of each data volume, same order and count as meta->volumes. */
        const char *const *volume_dirs;
        const char *cgroups_path; /* NULL: the runtime's default */
        /*
         * Host folder holding only the app's alder-secd socket, mounted at
         * ALDER_OCISPEC_SECD_DIR (its mount point must exist in the rootfs),
         * with ALDER_SECD_SOCKET set; NULL: none.
         */
        const char *secd_dir;
        /*
         * Emit memory/cpu/pids limits. Off where the runtime cannot apply them
         * (e.g. some cgroup v1 hierarchies); the devices cgroup rules are
         * always emitted.
         */
        bool limits;
        int64_t default_memory_bytes; /* used when meta->memory_bytes is 0; 0 = no limit */
        int oom_score_adj;            /* -1000..1000 */
} alder_ocispec_settings;

/* Builds config.json for `meta`; *ret is a new reference. */
int alder_ocispec_generate(const alder_app_meta *meta, const alder_ocispec_settings *settings, json_t **ret,
                           alder_error **err) ALDER_WUR;

/* Writes `config` as BUNDLE_DIR/config.json, mode 0600 (env may hold secrets); not fsynced: bundles live in /run. */
int alder_ocispec_write_bundle(const char *bundle_dir, const json_t *config, alder_error **err) ALDER_WUR;

/*
 * The app's user "UID[:GID]" (numeric only; NULL or "" = 0:0), container side,
 * checked to lie inside the id_count ids mapped for the app.
 */
int alder_ocispec_parse_user(const char *user, uint32_t id_count, uint32_t *ret_uid, uint32_t *ret_gid,
                             alder_error **err) ALDER_WUR;

/* True for a capability name the kernel knows (CAP_CHOWN .. CAP_CHECKPOINT_RESTORE). */
bool alder_ocispec_capability_known(const char *name);

/*
 * The default seccomp profile's allow-list (lib/ocispec-seccomp.c). Exposed
 * so tests and documentation can check what is (not) in it.
 */
extern const char *const alder_ocispec_seccomp_allowed[];
extern const size_t alder_ocispec_seccomp_n_allowed;
