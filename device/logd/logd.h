/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-logd: Alder's logging framework (docs/api/logd.md).
 *
 * One thread, one poll loop over
 *   - the datagram socket ROOT/run/alder/log.sock, where daemons (lib/log.c,
 *     target "alder") and alder-appd (each line of an app's output) send
 *     entries in journald's native protocol (msg.h); SO_PASSCRED tags each
 *     with the sender's pid/uid/gid;
 *   - the API socket ROOT/run/alder/logd.sock (lib/alder/ipc.h): log.query,
 *     log.follow (a long poll), log.status;
 *   - a signalfd (SIGTERM, SIGINT, SIGHUP).
 * Each entry gets a sequence number, the boot id, monotonic and wall time of
 * its arrival, is appended to the store (store.h), forwarded to the journal
 * or syslog when configured, and handed to the followers it matches.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "alder/ipc.h"
#include "msg.h"
#include "store.h"

/* From the command line; NULL fields come from the config file or defaults. */
struct logd_config {
        const char *root;         /* prefix for every path ("" on a device; a temp folder in tests) */
        const char *config;       /* default ROOT/config/logd.json */
        const char *boot_id_file; /* default /proc/sys/kernel/random/boot_id (not under ROOT) */
};

enum logd_forward_to { LOGD_FORWARD_NONE, LOGD_FORWARD_JOURNAL, LOGD_FORWARD_SYSLOG };

#define LOGD_MAX_TRUSTED_UIDS 16

/* The config file (docs/api/logd.md#configuration), with defaults. */
struct logd_settings {
        uint64_t max_bytes, segment_bytes, reserve_bytes;
        int sync_level;            /* an entry at this level or more severe is synced at once */
        unsigned sync_interval_ms; /* anything else within this */
        enum logd_forward_to forward_to;
        int forward_level;
        char *forward_socket; /* NULL: the journal's or /dev/log */
        int management_level; /* what alder-dmc is to upload (not done yet: docs) */
        uint32_t trusted_uids[LOGD_MAX_TRUSTED_UIDS];
        size_t n_trusted;
};

struct logd_counters {
        uint64_t received, stored, malformed, oversize, fields_rejected, no_credentials;
        uint64_t forwarded, forward_errors;
};

/* A log.follow waiting for entries. */
struct logd_follower;

struct logd {
        struct logd_config cfg;
        struct logd_settings set;
        char *root, *config_path, *store_dir, *socket_path, *api_path;
        uint8_t boot_id[16];
        char boot_hex[33];
        logstore *store;
        int dgram_fd, signal_fd, forward_fd;
        alder_ipc_server *server;
        uint8_t *rbuf;    /* one datagram */
        uint8_t *fwd_buf; /* one entry forwarded to the journal */
        struct logd_msg *msg;
        struct logd_msg_scratch *scratch;
        struct logd_counters n;
        struct logd_follower *followers;
        uint64_t last_sync_ms;
        bool sync_now;        /* an entry at sync_level came in */
        uint64_t noted_drops; /* drops already reported by an event of logd's own */
        uint64_t drops_noted_ms;
        bool stopping;
};

/* logd.c */
int logd_init(struct logd *d, const struct logd_config *cfg, alder_error **err) ALDER_WUR;
void logd_done(struct logd *d);
/* Runs until SIGTERM/SIGINT. */
int logd_run(struct logd *d, alder_error **err) ALDER_WUR;
uint64_t logd_now_ms(void);
/* An entry of logd's own (source alder-logd), to the store and logd's own log. */
void logd_event(struct logd *d, int level, const char *fmt, ...) ALDER_PRINTF(3, 4);
/* Reads what is queued on the datagram socket, at most max entries; returns how many. */
size_t logd_ingest(struct logd *d, size_t max);
/* Writes what the store buffers, so that readers see it (a failure is counted by the store). */
void logd_flush(struct logd *d);
/* Flushes, syncs when due; returns the next deadline (0: none). */
uint64_t logd_sync_tick(struct logd *d, uint64_t now);

/* serve.c */
extern const alder_ipc_method logd_methods[];
/* New entries were stored: answer the followers they match. */
void logd_followers_wake(struct logd *d);
/* Followers whose time is up get an empty answer; returns the next deadline (0: none). */
uint64_t logd_followers_tick(struct logd *d, uint64_t now);
void logd_followers_free(struct logd *d);

/* Level names 0-7 (emerg..debug), and their parse ("warning", "warn", "4"...): -EINVAL. */
const char *logd_level_name(int level);
int logd_level_parse(const char *s);
