/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-secd: the device's key keeper (docs/api/secd.md).
 *
 * One poll loop serves the admin socket (ROOT/run/alder/secd/admin.sock, mode
 * 0600, peers with secd's own uid only) and one socket per app
 * (ROOT/run/alder/secd/apps/APP/secd.sock). The socket a request came in on is
 * the caller's identity: an app's requests always act on that app's keys and
 * secrets; only the admin socket names an app in the request.
 */
#pragma once
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "alder/error.h"
#include "backend.h"
#include "secd-wire.h"
#include "store.h"

#define SECD_MAX_APPS          256u
#define SECD_MAX_CONNS         128u
#define SECD_MAX_CONNS_PER_APP 8u
#define SECD_MAX_VOLATILE      32u /* volatile keys per connection */
#define SECD_SEND_TIMEOUT_MS   2000
#define SECD_FRAME_TIMEOUT_MS  5000 /* a frame begun must be complete by then, or the connection goes */

struct secd_config {
        const char *root;    /* prefix of every path ("" = /) */
        const char *config;  /* default ROOT/config/secd.json */
        const char *backend; /* default: the config's, else "software" ("tpm": settings in the config's "tpm") */
        char **apps;         /* apps named on the command line (NULL-terminated, may be NULL) */
        bool no_sockets;     /* unit tests: store and dispatch only */
};

/* What a connection may act on: one app (app socket) or any named app (admin). */
struct secd_session {
        const char *app; /* NULL on the admin socket */
        struct secd_key *volatile_keys[SECD_MAX_VOLATILE];
};

struct secd_app {
        char *name;
        char *socket_path;
        char *cgroup; /* the cgroup prefix of the app's processes (from alder-appd); NULL: not checked */
        int listen_fd;
        bool removed; /* by app_remove: its slot goes at the end of the loop's round */
};

struct secd_conn {
        int fd;
        int app;      /* index in apps, -1 for the admin socket */
        bool denied;  /* the peer failed the cgroup cross-check: its first request is refused, then it goes */
        bool closing; /* its app was removed: dropped at the end of the loop's round */
        size_t have;
        int64_t frame_deadline_ms; /* when the frame begun in buf must be complete */
        uint8_t *buf;              /* SECD_WIRE_MAX_FRAME */
        struct secd_session session;
};

struct secd {
        char *root;
        char *run_dir;     /* ROOT/run/alder/secd */
        char *cgroups_dir; /* ROOT/run/alder/secd/cgroups: the prefix of each app, kept across restarts */
        struct secd_store store;
        const struct secd_backend *backend;
        bool backend_open; /* init() done: done() is due */
        int admin_fd;
        char *admin_path;
        /* Grown on demand (an idle secd with few apps keeps little): n_* in use, cap_* allocated. */
        struct secd_app *apps;
        size_t n_apps, cap_apps;
        struct secd_conn *conns;
        size_t n_conns, cap_conns;
        uint8_t *reply;   /* SECD_WIRE_MAX_FRAME */
        uint8_t *scratch; /* SECD_WIRE_MAX_DATA: output of an operation */
        struct secd_key *key;
        /* The last persistent key loaded and its app: the next request usually uses it again. */
        struct secd_key *cached;
        char cached_app[SECD_APP_NAME_MAX + 1];
        bool listening; /* false in unit tests that only dispatch */
};

int secd_init(struct secd *d, const struct secd_config *cfg, alder_error **err) ALDER_WUR;
/* Serves until *stop is set (by a signal handler). */
int secd_run(struct secd *d, volatile sig_atomic_t *stop, alder_error **err) ALDER_WUR;
void secd_done(struct secd *d);

/*
 * Handles one request frame (header + body, already length-checked by the
 * caller) of a session; writes the reply frame into d->reply and returns its
 * length. Never fails: errors become the reply's status.
 */
size_t secd_handle(struct secd *d, struct secd_session *sess, const uint8_t *frame, size_t len);

/*
 * Opens the app's socket (and its store folder); idempotent. A non-NULL
 * cgroup sets the prefix the cgroup of every peer of the app's socket must
 * begin with ("" clears it), and keeps it in cgroups_dir for a restart.
 */
int secd_app_add(struct secd *d, const char *name, const char *cgroup, alder_error **err) ALDER_WUR;

/*
 * Stops serving the app: closes its connections and socket, removes its
 * socket folder and cgroup prefix; `purge` also deletes its keys and secrets.
 * An app secd does not serve is no error (purge still deletes what is stored).
 */
int secd_app_remove(struct secd *d, const char *name, bool purge, alder_error **err) ALDER_WUR;

/* cgroup.c: the cgroup cross-check of app sockets. */
/*
 * The cgroup path that identifies a process from the text of its
 * /proc/PID/cgroup: on cgroup v1 (hybrid too) the line of the first of the
 * pids, memory, devices, freezer, cpu controllers that is there, on a pure
 * cgroup v2 system the "0::" line. -ENOENT when there is neither.
 */
int secd_cgroup_pick(const char *text, char *out, size_t size);
/* secd_cgroup_pick() of /proc/PID/cgroup; -ESRCH for pid 0 (a peer in a pid namespace secd cannot see). */
int secd_peer_cgroup(pid_t pid, char *out, size_t size);
bool secd_cgroup_matches(const char *cgroup, const char *prefix);

/* Frees the volatile keys of a session. */
void secd_session_clear(struct secd_session *sess);
