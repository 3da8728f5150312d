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

struct appd_config {
        const char *root;   /* prefix for every path ("" on a device; a temp folder in tests) */
        const char *store;  /* default ROOT/var/lib/alder/apps */
        const char *trust;  /* default ROOT/config/trust */
        const char *socket; /* default ROOT/run/alder/appd.sock */
        const char *vendor; /* vendor domain packages must be for (NULL: the default) */
        const char *arch;   /* NULL: this machine's */
};

struct appd {
        struct appd_config cfg;
        char *store_path, *trust_path, *socket_path;
        alder_appstore *store;
        alder_trust_store *trust;
        alder_ipc_server *server;
};

/* Opens the store (recovering it), loads the trust anchors, listens on the socket. */
int appd_init(struct appd *d, const struct appd_config *cfg, alder_error **err);
void appd_done(struct appd *d);

/* The API's method table (docs/api/appd.md). */
extern const alder_ipc_method appd_methods[];
