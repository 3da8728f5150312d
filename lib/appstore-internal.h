/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What appstore.c (open, commit, queries: linked into the daemon) and
 * appstore-stage.c (verify and unpack: linked only into alder-app-stage)
 * share. Not installed; not for other modules.
 */
#pragma once

#include <stdint.h>

#include "alder/error.h"
#include "alder/macro.h"

struct alder_appstore {
        char *root; /* canonical (realpath) */
};

/* *ret = the formatted path (malloc'ed). */
int appstore_path_of(char **ret, alder_error **err, const char *fmt, ...) ALDER_PRINTF(3, 4) ALDER_WUR;

/* alder_remove_tree() of path; a missing path is fine. */
int appstore_remove_quietly(const char *path, alder_error **err);

/* Target of a pointer link (e.g. "versions/7-1.0.0") of app_dir; *ret NULL when there is none. */
int appstore_read_pointer(const char *app_dir, const char *link, char **ret, alder_error **err) ALDER_WUR;

/* Sequence number of a version directory name "SEQ-VERSION" (or ".../SEQ-VERSION"). */
uint64_t appstore_sequence_of(const char *target);

/*
 * The app's id range, allocating the next free one (durably, under a lock
 * that serializes allocation with any other process) the first time.
 */
int appstore_allocate_ids(alder_appstore *store, const char *name, uint32_t *ret_start, alder_error **err) ALDER_WUR;
