/* SPDX-License-Identifier: Apache-2.0 */
/*
 * App metadata: the `#app.json` component of an app package
 * (docs/formats/alpkg.md): identity, runtime settings taken from the image,
 * and the permissions the app asks for. Parsing is strict (unknown fields are
 * refused, every error names the field), since a dropped field could be a
 * dropped permission restriction.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "macro.h"

#define ALDER_APP_META_FORMAT   1
#define ALDER_APP_NAME_MAX      63
#define ALDER_APP_META_MAX_SIZE (1024u * 1024u)

typedef struct alder_app_volume {
        char *name;
        char *path;
} alder_app_volume;

/*
 * What alder-appd does when the app's main process ends (docs/formats/alpkg.md):
 * on-failure restarts it after a non-zero exit or a signal, always also after
 * exit 0; both with back-off. The zero value is the default.
 */
typedef enum alder_app_restart {
        ALDER_APP_RESTART_ON_FAILURE = 0,
        ALDER_APP_RESTART_NO,
        ALDER_APP_RESTART_ALWAYS,
} alder_app_restart;

/*
 * Whether the app gets its alder-secd socket (docs/api/secd.md): optional
 * (the default) mounts it when alder-secd runs and starts the app without it
 * otherwise; required refuses to start without it; none never mounts it.
 */
typedef enum alder_app_secure_services {
        ALDER_APP_SECURE_SERVICES_OPTIONAL = 0,
        ALDER_APP_SECURE_SERVICES_REQUIRED,
        ALDER_APP_SECURE_SERVICES_NONE,
} alder_app_secure_services;

typedef struct alder_app_meta {
        char *name;
        char *version;
        char *arch; /* arm64, arm, amd64 */

        char **entrypoint; /* NULL-terminated; may be empty */
        char **cmd;
        char **env;
        char *workdir;
        char *user;

        bool host_network;
        char **devices;
        char **capabilities;
        int64_t memory_bytes; /* 0: the device's default */
        int64_t cpu_millis;
        int64_t pids;
        alder_app_volume *volumes;
        size_t n_volumes;
        bool setuid_files;
        alder_app_secure_services secure_services;

        char **health_command;
        int64_t health_grace_seconds;

        alder_app_restart restart;

        json_t *source; /* provenance object, free-form; may be NULL */
} alder_app_meta;

/* Validates and parses an app.json document; `source` names it in errors. */
int alder_app_meta_from_json(const json_t *doc, const char *source, alder_app_meta **ret, alder_error **err) ALDER_WUR;

/* Serializes (canonical form: all fields present, sorted keys when dumped). */
int alder_app_meta_to_json(const alder_app_meta *meta, json_t **ret, alder_error **err) ALDER_WUR;

/* A new, empty metadata object with defaults (format 1, workdir "/", grace 5 s, restart on-failure). */
int alder_app_meta_new(alder_app_meta **ret, alder_error **err) ALDER_WUR;

void alder_app_meta_free(alder_app_meta *meta);
static inline void alder_app_meta_freep(alder_app_meta **m)
{
        alder_app_meta_free(*m);
}
#define _cleanup_app_meta_ _cleanup_(alder_app_meta_freep)

/* Field validators, shared with the CLI so flags get the same messages. */
int alder_app_name_check(const char *name, alder_error **err) ALDER_WUR;
int alder_semver_check(const char *version, alder_error **err) ALDER_WUR;

/* "no", "on-failure", "always"; NULL for a value outside the enum. */
const char *alder_app_restart_name(alder_app_restart restart);

/* The policy named s; EINVAL naming s and the allowed values otherwise (callers add the field). */
int alder_app_restart_parse(const char *s, alder_app_restart *ret, alder_error **err) ALDER_WUR;

/* "optional", "required", "none"; NULL for a value outside the enum. */
const char *alder_app_secure_services_name(alder_app_secure_services v);
/* As alder_app_restart_parse, for permissions.secure_services. */
int alder_app_secure_services_parse(const char *s, alder_app_secure_services *ret, alder_error **err) ALDER_WUR;

/*
 * Maps architecture spellings of OCI/Go, Debian and the kernel to Alder's
 * (arm64, arm, amd64): "aarch64" -> "arm64", "armhf"/"arm/v7" -> "arm",
 * "x86_64" -> "amd64". Returns NULL for anything else.
 */
const char *alder_arch_normalize(const char *arch, const char *variant);

/* This machine's architecture in Alder's spelling (NULL if unsupported). */
const char *alder_arch_native(void);
