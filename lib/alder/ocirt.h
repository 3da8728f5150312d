/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI runtime CLI wrapper: how alder-appd drives crun or runc.
 *
 * Every operation runs the runtime's CLI through alder_run() with a timeout,
 * as `RUNTIME --root STATE_ROOT --log LOGFILE --log-format json OP ...`. The
 * JSON log (a temporary file in STATE_ROOT, removed afterwards) is where the
 * runtime's own error comes from, so it is never mixed up with what the
 * container writes. Errors carry that message, trimmed and bounded:
 *
 *     runc run 'hello': runc run failed: container with given ID already exists
 *
 * Container ids are checked ([a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}) before they
 * reach the CLI, so an id can never be taken for an option or a path.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "macro.h"
#include "spawn.h"

typedef struct alder_ocirt alder_ocirt;

#define ALDER_OCIRT_ID_MAX          128u               /* characters of a container id */
#define ALDER_OCIRT_MESSAGE_MAX     512u               /* bytes of a runtime message kept in errors */
#define ALDER_OCIRT_MAX_CONTAINERS  4096u              /* entries accepted from `list` */
#define ALDER_OCIRT_MAX_OUTPUT      ((size_t) 1 << 20) /* bytes read of `state`/`list` output and the log */
#define ALDER_OCIRT_DEFAULT_TIMEOUT 30000u             /* ms for one CLI call (not run_foreground) */

/* Directories searched for the runtime binaries, in order. */
#define ALDER_OCIRT_SEARCH_PATH "/usr/bin, /usr/sbin, /usr/local/bin"

/* 0 for a valid container id; otherwise EINVAL naming the id and the rule. */
int alder_ocirt_check_id(const char *id, alder_error **err) ALDER_WUR;

/*
 * The runtime selection rule, without touching the system (for tests):
 * `name` is "crun", "runc" or NULL (auto); crun_path/runc_path are the found
 * binaries or NULL. Auto picks crun when installed and the host has a unified
 * cgroup v2 hierarchy, else runc when installed. *ret is crun_path or runc_path.
 */
int alder_ocirt_select(const char *name, bool has_cgroup2, const char *crun_path, const char *runc_path,
                       const char **ret, alder_error **err) ALDER_WUR;

/*
 * Finds and checks the runtime (see alder_ocirt_select; the binary must answer
 * `--version`), creates state_root (0700) if missing and removes the temp
 * files a caller killed in the middle of a call left there (one process owns
 * a state root). state_root is passed to every call as --root.
 */
int alder_ocirt_open(const char *name, const char *state_root, alder_ocirt **ret, alder_error **err) ALDER_WUR;
void alder_ocirt_free(alder_ocirt *rt);
static inline void alder_ocirt_freep(alder_ocirt **rt)
{
        alder_ocirt_free(*rt);
}
#define _cleanup_ocirt_ _cleanup_(alder_ocirt_freep)

const char *alder_ocirt_name(const alder_ocirt *rt);    /* "crun" or "runc" */
const char *alder_ocirt_path(const alder_ocirt *rt);    /* e.g. "/usr/sbin/runc" */
const char *alder_ocirt_version(const alder_ocirt *rt); /* first line of --version */
/* Timeout of each CLI call (run_foreground has its own); 0: ALDER_OCIRT_DEFAULT_TIMEOUT. */
void alder_ocirt_set_timeout(alder_ocirt *rt, unsigned timeout_ms);

typedef enum alder_ocirt_status {
        ALDER_OCIRT_CREATING,
        ALDER_OCIRT_CREATED,
        ALDER_OCIRT_RUNNING,
        ALDER_OCIRT_PAUSED, /* runc only */
        ALDER_OCIRT_STOPPED,
} alder_ocirt_status;

const char *alder_ocirt_status_name(alder_ocirt_status s);

typedef struct alder_ocirt_container {
        char id[ALDER_OCIRT_ID_MAX + 1];
        alder_ocirt_status status;
        pid_t pid; /* 0 when stopped */
} alder_ocirt_container;

/*
 * One state object as `state` prints it (or an entry of `list`); errors name
 * the field: "runc state: field 'status': unknown status 'zombie'".
 */
int alder_ocirt_container_from_json(const json_t *obj, const char *source, alder_ocirt_container *ret,
                                    alder_error **err) ALDER_WUR;
int alder_ocirt_parse_state(const char *source, const char *buf, size_t len, alder_ocirt_container *ret,
                            alder_error **err) ALDER_WUR;
/* `list --format json` output: an array (or null, runc's "none"), at most ALDER_OCIRT_MAX_CONTAINERS. */
int alder_ocirt_parse_list(const char *source, const char *buf, size_t len, alder_ocirt_container **ret, size_t *ret_n,
                           alder_error **err) ALDER_WUR;

/*
 * The message to show for a failed call: the last error-level "msg" of the
 * JSON log when there is one, else the trimmed stderr text; control
 * characters become spaces, and more than ALDER_OCIRT_MESSAGE_MAX bytes are
 * cut with "...". NULL when both say nothing. Allocation failure: NULL too.
 */
char *alder_ocirt_message(const char *log, size_t log_len, const char *stderr_text, size_t stderr_len);

/*
 * Starts container `id` from `bundle` in the background: `run --detach`
 * (create and start in one call; a failed start deletes the container again). Without a terminal
 * the runtime hands its own stdin/stdout/stderr to the container, so the
 * container's stdout/stderr are exactly stdout_fd/stderr_fd (-1: /dev/null;
 * the caller keeps them); stdin is /dev/null. pid_file (may be NULL) is kept
 * with the init pid; *ret_pid gets it.
 */
int alder_ocirt_run_detached(alder_ocirt *rt, const char *id, const char *bundle, int stdout_fd, int stderr_fd,
                             const char *pid_file, pid_t *ret_pid, alder_error **err) ALDER_WUR;

/* -ENOENT when the container does not exist. */
int alder_ocirt_state(alder_ocirt *rt, const char *id, alder_ocirt_container *ret, alder_error **err) ALDER_WUR;
int alder_ocirt_kill(alder_ocirt *rt, const char *id, int sig, alder_error **err) ALDER_WUR;
/* force: kill a running container first. -ENOENT when it does not exist. */
int alder_ocirt_delete(alder_ocirt *rt, const char *id, bool force, alder_error **err) ALDER_WUR;
/*
 * `delete --force ID` in the background, for a daemon that must not wait for
 * it: *ret is the runtime's process (reap it with alder_proc_wait(); a
 * non-zero exit says only that it failed: call alder_ocirt_delete() for why).
 */
int alder_ocirt_delete_spawn(alder_ocirt *rt, const char *id, alder_proc **ret, alder_error **err) ALDER_WUR;

/* Every container under state_root; *ret is malloc'ed (NULL when none). */
int alder_ocirt_list(alder_ocirt *rt, alder_ocirt_container **ret, size_t *ret_n, alder_error **err) ALDER_WUR;

/*
 * `run` attached: waits up to timeout_ms (0: none) and captures the
 * container's stdout/stderr (bounded by max_capture, 0: the alder_run
 * default). The container's exit (exited with N, killed, timed out) is a
 * result in ret->exit; errors are failures of the runtime itself. The
 * container is force-deleted afterwards whatever happened.
 */
int alder_ocirt_run_foreground(alder_ocirt *rt, const char *id, const char *bundle, unsigned timeout_ms,
                               size_t max_capture, alder_run_result *ret, alder_error **err) ALDER_WUR;

/* Words of a command alder_ocirt_exec() accepts. */
#define ALDER_OCIRT_EXEC_MAX_ARGS 32u

/*
 * `exec ID CMD...` in a running container (health commands), with the
 * container's own process settings (user, capabilities, seccomp). As for
 * run_foreground, the command's exit (or ALDER_TIMED_OUT after timeout_ms,
 * 0: the runtime's call timeout) is a result in ret->exit and its output is
 * captured; errors are failures of the runtime (-ENOENT: no such container).
 */
int alder_ocirt_exec(alder_ocirt *rt, const char *id, const char *const *cmd, unsigned timeout_ms,
                     alder_run_result *ret, alder_error **err) ALDER_WUR;
