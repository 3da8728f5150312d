/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-appd: the application manager (DESIGN.md §4). This part: the package
 * store behind a Unix-socket API (docs/api/appd.md). Running apps in
 * containers (ocispec + the OCI runtime) builds on it.
 */
#pragma once

#include "alder/appstore.h"
#include "alder/ipc.h"
#include "alder/keys.h"
#include "alder/ocirt.h"

struct appd_config {
        const char *root;    /* prefix for every path ("" on a device; a temp folder in tests) */
        const char *store;   /* default ROOT/var/lib/alder/apps */
        const char *trust;   /* default ROOT/config/trust */
        const char *socket;  /* default ROOT/run/alder/appd.sock */
        const char *vendor;  /* vendor domain packages must be for (NULL: the default) */
        const char *arch;    /* NULL: this machine's */
        const char *runtime; /* "crun", "runc" or NULL: auto */
        bool no_limits;      /* do not set cgroup memory/cpu/pids limits (hosts that cannot) */
};

struct appd {
        struct appd_config cfg;
        char *store_path, *trust_path, *socket_path;
        char *bundles_path; /* ROOT/run/alder/bundles: config.json per running app */
        char *logs_path;    /* ROOT/var/log/alder/apps: NAME.log per app */
        alder_appstore *store;
        alder_ocirt *runtime; /* NULL when none could be opened (store functions still work) */
        char *runtime_error;  /* why, then */
        alder_trust_store *trust;
        alder_ipc_server *server;
};

/* Opens the store (recovering it), loads the trust anchors, listens on the socket. */
int appd_init(struct appd *d, const struct appd_config *cfg, alder_error **err);
void appd_done(struct appd *d);

/* Containers (lifecycle.c). The container id is the app's name. */
int appd_start_app(struct appd *d, const char *name, pid_t *ret_pid, alder_error **err);
int appd_stop_app(struct appd *d, const char *name, long timeout_ms, bool *ret_killed, alder_error **err);
int appd_app_state(struct appd *d, const char *name, alder_ocirt_container *ret, alder_error **err);
/* Up to `max` bytes of the app's log from `offset` (< 0: the last bytes): {"data", "offset", "size"}. */
int appd_read_log(struct appd *d, const char *name, int64_t offset, size_t max, json_t **ret, alder_error **err);

/* The API's method table (docs/api/appd.md). */
extern const alder_ipc_method appd_methods[];
