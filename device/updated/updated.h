/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-updated: the A/B root-filesystem update agent (docs/api/updated.md).
 *
 * Everything but main() is here, so tests link the same code. An install
 * verifies the bundle's envelope first, streams the image into the inactive
 * slot (zstd → SHA-256 → slot, read back), and only then arms a try-boot in
 * the U-Boot env with one fw_setenv call. The agent's own state is a small
 * JSON file on the data partition, written crash-safely before and after each
 * step, so that after a power cut it can say what happened.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "alder/error.h"
#include "alder/macro.h"

struct upd_config {
        char *root;          /* prefix of the default paths ("" on a device) */
        char *config_path;   /* ROOT/config/updated.json, else ROOT/etc/alder/updated.json */
        char *state_path;    /* ROOT/var/lib/alder/update/state.json */
        char *socket_path;   /* ROOT/run/alder/updated.sock */
        char *trust_dir;     /* ROOT/config/trust */
        char *hooks_dir;     /* ROOT/config/update-hooks.d */
        char *appd_socket;   /* ROOT/run/alder/appd.sock; "" skips the check */
        char *appd_config;   /* ROOT/config/appd.json: its core_apps must be running */
        char *sequence_file; /* ROOT/etc/alder/sequence: the running image's sequence number */
        char *sysfs_block;   /* ROOT/sys/class/block: where PARTLABEL= slots are looked up */
        char *dev_dir;       /* ROOT/dev: where they are */
        char *boot_dir;      /* "" (none) or where fit-A.itb and fit-B.itb live */
        char *boot_id;       /* NULL: /proc/sys/kernel/random/boot_id (tests set it) */
        char *product;
        char *vendor;
        char *slots[2]; /* A, B: a path, or PARTLABEL=NAME */
        char *fw_env_config;
        char *fw_setenv, *fw_printenv;
        char booted_slot; /* 'A', 'B', or 0: from /proc/cmdline alder.slot= */
        unsigned hook_timeout_ms;
        unsigned health_timeout_ms; /* how long the health check waits for alder-appd and the core apps */
};

int upd_config_load(struct upd_config *cfg, const char *root, const char *config_path, alder_error **err) ALDER_WUR;
void upd_config_done(struct upd_config *cfg);

/* Progress of a write: `what` ("the image", "the boot files"), bytes written, of total. */
typedef void (*upd_progress_fn)(void *ctx, const char *what, uint64_t done, uint64_t total);

/*
 * Installs the bundle read from fd (`name` for messages) into the inactive
 * slot and arms a try-boot. *ret describes the result (reboot_required, ...).
 */
int upd_install(const struct upd_config *cfg, int fd, const char *name, upd_progress_fn progress, void *progress_ctx,
                json_t **ret, alder_error **err) ALDER_WUR;

/* Health checks, then upgrade_available=0; a failed check rolls back (and is the error). */
int upd_commit(const struct upd_config *cfg, json_t **ret, alder_error **err) ALDER_WUR;

/*
 * Once per boot, when the platform is up: a try-boot this agent armed for
 * the booted slot is health-checked, then committed or rolled back (the
 * caller reboots when *ret says "reboot_required"); a slot the bootloader
 * could not boot is recorded and the try-boot ended; otherwise the state is
 * reconciled as status does. *ret: {"action": "none"|"committed"|"rolled-back", ...}.
 */
int upd_boot(const struct upd_config *cfg, json_t **ret, alder_error **err) ALDER_WUR;

/* Re-targets the slot that ran before the update. */
int upd_rollback(const struct upd_config *cfg, json_t **ret, alder_error **err) ALDER_WUR;

/* Env, agent state and booted slot; an install a crash interrupted is reported (and recorded) as failed. */
int upd_status(const struct upd_config *cfg, json_t **ret, alder_error **err) ALDER_WUR;

/* Takes the agent's lock (STATE_DIR/lock, flock): EBUSY while another operation runs. *ret: close to release. */
int upd_lock(const struct upd_config *cfg, int *ret, alder_error **err) ALDER_WUR;

/* Serves the socket API until SIGTERM/SIGINT. */
int upd_serve(const struct upd_config *cfg, alder_error **err) ALDER_WUR;
