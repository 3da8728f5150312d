/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Package downloads shared by Firmware Update (5) and Software Management (9):
 * a Package URI pulled into a file, coap:// with Block2 through a libcoap
 * context of its own (block by block, never the whole package in memory),
 * http:// and https:// (native builds, with libcurl) from a thread, bounded by
 * firmware.max_bytes and verified against firmware.ca_file. The file appears
 * at `path` only complete (written to path.part, then renamed).
 */
#pragma once

#include <stdint.h>

#include "daemon.h"

/* How a download ended; each object maps these to its own result codes. */
enum dmc_dl_status {
        DMC_DL_DONE = 0,
        DMC_DL_NO_SPACE,
        DMC_DL_CONNECTION_LOST,
        DMC_DL_INVALID_URI,
        DMC_DL_UNSUPPORTED_PROTOCOL, /* coaps://, other schemes, http(s) in builds without libcurl */
        DMC_DL_FAILED,               /* local I/O, out of memory */
};

struct dmc_download;
/* Called from the loop (or from dmc_download_start for an immediate failure); `why` is NULL on success. */
typedef void (*dmc_download_fn)(void *ctx, enum dmc_dl_status st, const char *why);

/* `what` starts the log lines ("firmware", "package"); the download registers with d's loop. */
int dmc_download_new(struct dmc *d, const char *what, const char *path, dmc_download_fn done, void *ctx,
                     struct dmc_download **ret, alder_error **err) ALDER_WUR;
void dmc_download_free(struct dmc_download *dl);
const char *dmc_download_path(const struct dmc_download *dl);
/* Starts pulling uri (copied); the outcome comes through the callback. */
void dmc_download_start(struct dmc_download *dl, const char *uri);
/* Stops a running transfer without calling back; removes the file and its part. */
void dmc_download_cancel(struct dmc_download *dl);
/* A cancelled HTTP transfer's thread has not ended yet: no new start. */
bool dmc_download_ending(const struct dmc_download *dl);
bool dmc_download_running(const struct dmc_download *dl);

/* The loop: fds to poll (*coap_fd -1 when none; the eventfd returned), the event, the timers. */
int dmc_download_fds(struct dmc_download *dl, int *coap_fd);
void dmc_download_event(struct dmc_download *dl);
int64_t dmc_download_tick(struct dmc_download *dl, int64_t now_ms);
