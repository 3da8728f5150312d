/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process spawning: how Alder runs crun/runc, mkfs, health commands and hooks.
 *
 * Every spawned process gets:
 *   - a pidfd, so waiting and signalling can never hit a recycled pid;
 *   - its own process group (pgid == pid), so the whole tree it starts can be
 *     stopped together;
 *   - default signal dispositions and an empty signal mask;
 *   - stdin from /dev/null unless told otherwise, and no other fd of the parent
 *     than 0, 1 and 2.
 *
 * alder_spawn() returns only once the program has been exec'ed: a failure before
 * or at exec comes back as an error naming the step, e.g.
 * "spawn '/usr/bin/crun': exec: No such file or directory", not as exit 127.
 *
 * The group is signalled only while the leader is not yet reaped: until then its
 * pid, and so the group id, can not be recycled.
 *
 * alder_run() is the one-call form: spawn, capture stdout/stderr (bounded), wait
 * with a timeout, stop the group on timeout.
 *
 * Needs Linux >= 5.4 (pidfd_open, waitid(P_PIDFD)); close_range (5.9) is used
 * when present. Nobody else may reap our children: SIGCHLD must not be
 * SIG_IGN and nobody may call waitpid(-1, ...).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "macro.h"

typedef struct alder_proc alder_proc;

/* Where one of the child's stdin, stdout and stderr comes from or goes to. */
typedef enum alder_stdio {
        ALDER_STDIO_DEFAULT = 0, /* stdin: /dev/null; stdout, stderr: inherited */
        ALDER_STDIO_NULL,        /* /dev/null */
        ALDER_STDIO_INHERIT,     /* the parent's own fd 0, 1 or 2 */
        ALDER_STDIO_FD,          /* the fd given beside (the caller keeps it) */
        ALDER_STDIO_PIPE,        /* stdout, stderr only: a pipe the parent reads */
} alder_stdio;

typedef struct alder_spawn_opts {
        /* NULL-terminated; argv[0] is also the program unless `path` is set. */
        const char *const *argv;
        /* Program to exec; must contain a '/': there is no PATH search, daemons
         * name their tools. Relative paths resolve against `cwd`. */
        const char *path;
        const char *const *envp; /* NULL: the parent's environment */
        const char *cwd;         /* NULL: the parent's */
        alder_stdio stdin_mode, stdout_mode, stderr_mode;
        int stdin_fd, stdout_fd, stderr_fd; /* used with ALDER_STDIO_FD */
        /* Signal the child gets when the *thread* that spawned it exits
         * (PR_SET_PDEATHSIG); 0: none. */
        int pdeathsig;
} alder_spawn_opts;

typedef enum alder_exit_kind {
        ALDER_EXIT_NONE = 0, /* not finished (never returned by this module) */
        ALDER_EXITED,        /* code: exit status 0..255 */
        ALDER_SIGNALED,      /* code: the signal that killed it */
        ALDER_TIMED_OUT,     /* code: the signal that ended it, 0 if it exited in the grace */
} alder_exit_kind;

typedef struct alder_exit {
        alder_exit_kind kind;
        int code;
        unsigned timeout_ms; /* ALDER_TIMED_OUT: the timeout that expired */
} alder_exit;

/* True for "exited with status 0". */
bool alder_exit_ok(const alder_exit *e);

/* Room for any text alder_exit_describe() writes. */
#define ALDER_EXIT_DESCRIBE_MAX 96

/*
 * Renders e into buf: "exited with status 3", "killed by signal 9 (Killed)",
 * "timed out after 2000 ms". Returns buf.
 */
const char *alder_exit_describe(const alder_exit *e, char *buf, size_t size);

/* Starts a process. *ret is set only on success. */
int alder_spawn(const alder_spawn_opts *opts, alder_proc **ret, alder_error **err) ALDER_WUR;

pid_t alder_proc_pid(const alder_proc *p); /* also its process-group id */
int alder_proc_pidfd(const alder_proc *p); /* for the caller's own poll loop; readable at exit */
/* Read ends of the ALDER_STDIO_PIPE pipes (-1 if none); they stay owned by p. */
int alder_proc_stdout_fd(const alder_proc *p);
int alder_proc_stderr_fd(const alder_proc *p);

/*
 * Waits up to timeout_ms (-1: forever, 0: just check) for the process to exit
 * and reaps it. Returns -ETIMEDOUT if it is still running. Once reaped, further
 * calls return the same exit. Only the leader is waited for; the rest of its
 * group is left alone.
 */
int alder_proc_wait(alder_proc *p, int timeout_ms, alder_exit *ret, alder_error **err) ALDER_WUR;

/* Sends sig to the process itself (pidfd_send_signal). */
int alder_proc_signal(alder_proc *p, int sig, alder_error **err) ALDER_WUR;

/* Sends sig to the process and its whole process group. -ESRCH once reaped. */
int alder_proc_signal_group(alder_proc *p, int sig, alder_error **err) ALDER_WUR;

/*
 * Stops the whole group: SIGTERM (and SIGCONT, so stopped members can act on it)
 * to the group, up to grace_ms for the leader to exit, then SIGKILL to whatever is
 * left of the group, and reaps the leader. Members that outlive the leader get
 * SIGKILL as soon as the leader has gone. With the process already reaped this
 * only reports its exit.
 */
int alder_proc_kill(alder_proc *p, unsigned grace_ms, alder_exit *ret, alder_error **err) ALDER_WUR;

/*
 * Releases p. If the leader is still running, its group is SIGKILLed first and
 * the leader reaped, so a daemon never leaks children; call alder_proc_kill()
 * before for a graceful stop. A leader that has already exited is reaped and its
 * group left alone. NULL is a no-op.
 */
void alder_proc_free(alder_proc *p);

static inline void alder_proc_freep(alder_proc **p)
{
        alder_proc_free(*p);
}

#define _cleanup_proc_ _cleanup_(alder_proc_freep)

/* Default bound of each captured stream and default SIGTERM → SIGKILL grace. */
#define ALDER_RUN_DEFAULT_MAX_CAPTURE ((size_t) 1 << 20)
#define ALDER_RUN_DEFAULT_GRACE_MS    2000u

typedef struct alder_run_opts {
        alder_spawn_opts spawn; /* ALDER_STDIO_PIPE on stdout/stderr captures them */
        unsigned timeout_ms;    /* 0: none */
        unsigned grace_ms;      /* 0: ALDER_RUN_DEFAULT_GRACE_MS */
        size_t max_capture;     /* bytes kept per stream; 0: ALDER_RUN_DEFAULT_MAX_CAPTURE */
} alder_run_opts;

typedef struct alder_capture {
        char *data; /* NUL-terminated; NULL when the stream was not captured */
        size_t len;
        bool truncated; /* more was written; it was read and discarded */
} alder_capture;

typedef struct alder_run_result {
        alder_exit exit;
        pid_t pid; /* also the (former) process-group id */
        alder_capture stdout_buf;
        alder_capture stderr_buf;
} alder_run_result;

/*
 * Runs a command to the end: returns when the process has exited and the
 * captured pipes are at EOF (so a background child that keeps them open holds
 * alder_run() until the timeout), or when the timeout expires: then the group is
 * stopped as by alder_proc_kill() and ret->exit.kind is ALDER_TIMED_OUT (unless
 * the process itself had already exited and only its leftovers held the pipes).
 * Output already buffered is kept on every path. A non-zero exit, a signal or a
 * timeout is a result, not an error: errors are failures to spawn or to wait.
 * *ret is filled only on success; release it with alder_run_result_clear().
 */
int alder_run(const alder_run_opts *opts, alder_run_result *ret, alder_error **err) ALDER_WUR;

void alder_run_result_clear(alder_run_result *r);

#define _cleanup_run_result_ _cleanup_(alder_run_result_clear)

/*
 * For a daemon's poll loop: blocks the n signals and returns a non-blocking,
 * close-on-exec signalfd that reads them (SIGCHLD for children, SIGTERM to
 * stop, ...).
 */
int alder_signalfd_open(const int *signals, size_t n, alder_error **err) ALDER_WUR;
