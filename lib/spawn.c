/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alder/spawn.h"

#define NO_DEADLINE INT64_MAX
#define READ_CHUNK  ((size_t) 64 * 1024)

/* Sources of the child's fds 0-2 besides real fds. */
#define SRC_KEEP    (-1) /* leave the inherited fd as it is */
#define SRC_DEVNULL (-2) /* open /dev/null */

struct alder_proc {
        pid_t pid;
        int pidfd;
        int stdout_fd;
        int stderr_fd;
        bool reaped;
        alder_exit exit;
        char *path; /* for messages */
};

/*
 * The steps at which the child can fail (sent to the parent with its errno),
 * each with the name its error message uses. One list makes the enum and the
 * names, so a new step cannot go without a name.
 */
#define CHILD_STEPS(X)                               \
        X(STEP_SIGNALS, "reset signals")             \
        X(STEP_SETPGID, "setpgid")                   \
        X(STEP_PDEATHSIG, "set parent-death signal") \
        X(STEP_STDIO, "set up stdio")                \
        X(STEP_CHDIR, "chdir")                       \
        X(STEP_CLOSE_FDS, "close fds")               \
        X(STEP_EXEC, "exec")

#define STEP_ENUM(id, name) id,
#define STEP_NAME(id, name) [id] = name,

enum child_step { CHILD_STEPS(STEP_ENUM) };

static const char *const step_names[] = {CHILD_STEPS(STEP_NAME)};

struct child_report {
        int step;
        int errnum;
};

/* Everything the child needs, prepared before fork: after it only async-signal-safe calls are allowed. */
struct child_plan {
        const char *path;
        char *const *argv;
        char *const *envp;
        const char *cwd;
        int src[3]; /* what becomes fd 0, 1, 2: an fd, SRC_KEEP or SRC_DEVNULL */
        int report_fd;
        int parent_end; /* the parent's end of the report socket: closed first in the child */
        int pdeathsig;
        pid_t parent;
};

/* ---- time ---- */

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int64_t timeout_ms)
{
        return timeout_ms < 0 ? NO_DEADLINE : now_ms() + timeout_ms;
}

/*
 * poll() until something is ready or the deadline has passed, whatever signals
 * interrupt it. Returns the number of ready fds, 0 at the deadline, -errno.
 */
static int poll_until(struct pollfd *fds, nfds_t n, int64_t deadline)
{
        for (;;) {
                int timeout = -1;
                if (deadline != NO_DEADLINE)
                        timeout = (int) ALDER_MAX(0, ALDER_MIN(deadline - now_ms(), (int64_t) INT_MAX));
                int r = poll(fds, n, timeout);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0 || (r == 0 && timeout == 0))
                        return r;
        }
}

/* ---- child side ---- */

static _Noreturn void child_fail(const struct child_plan *plan, enum child_step step)
{
        struct child_report rep = {.step = step, .errnum = errno};
        ssize_t n;
        /* If the parent is gone there is nobody to tell: exit either way. */
        do
                n = send(plan->report_fd, &rep, sizeof(rep), MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        _exit(127);
}

/* Exec resets handlers but keeps ignored signals and the mask: reset all of it. */
static int child_reset_signals(void)
{
        struct sigaction sa = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL); /* fails for libc-internal signals: fine */
        sigset_t none;
        sigemptyset(&none);
        return sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_set_pdeathsig(const struct child_plan *plan)
{
        if (plan->pdeathsig == 0)
                return 0;
        if (prctl(PR_SET_PDEATHSIG, plan->pdeathsig) < 0)
                return -1;
        /* The parent may have died before prctl(): then the signal never comes. */
        if (getppid() != plan->parent)
                _exit(127);
        return 0;
}

/* fd >= 3, so that installing one stdio fd can not overwrite the source of another. */
static int move_above_stdio(int *fd)
{
        if (*fd < 0 || *fd > STDERR_FILENO)
                return 0;
        int moved = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (moved < 0)
                return -1;
        *fd = moved;
        return 0;
}

/* Puts fd at target without FD_CLOEXEC (dup2 onto itself would keep the flag). */
static int install_fd(int fd, int target)
{
        if (fd == target)
                return fcntl(fd, F_SETFD, 0);
        return dup2(fd, target) < 0 ? -1 : 0;
}

static int child_stdio(struct child_plan *plan)
{
        for (int i = 0; i < 3; i++)
                if (move_above_stdio(&plan->src[i]) < 0)
                        return -1;
        for (int i = 0; i < 3; i++) {
                int fd = plan->src[i];
                if (fd == SRC_KEEP)
                        continue;
                if (fd == SRC_DEVNULL) {
                        do
                                fd = open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
                        while (fd < 0 && errno == EINTR);
                        if (fd < 0)
                                return -1;
                }
                if (install_fd(fd, i) < 0)
                        return -1;
        }
        return 0;
}

static int child_close_fds(int keep)
{
        if ((keep == 3 || close_range(3, keep - 1, 0) == 0) && close_range(keep + 1, ~0U, 0) == 0)
                return 0;
        if (errno != ENOSYS)
                return -1;
        /* Kernels before 5.9: close them one by one. */
        struct rlimit rl;
        int max = INT_MAX;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t) INT_MAX)
                max = (int) rl.rlim_cur;
        for (int fd = 3; fd < max; fd++)
                if (fd != keep)
                        (void) close(fd);
        return 0;
}

/* Blocks until the parent holds a pidfd of us: the program must not run otherwise. */
static void child_wait_go(const struct child_plan *plan)
{
        char go;
        ssize_t n;
        do
                n = recv(plan->report_fd, &go, 1, 0);
        while (n < 0 && errno == EINTR);
        if (n != 1)
                _exit(127);
}

static _Noreturn void child_run(struct child_plan *plan)
{
        /* Else our own copy of it keeps the socket open: a parent that dies before the go byte
         * would leave us blocked for ever, holding every fd it had. */
        (void) close(plan->parent_end);
        if (move_above_stdio(&plan->report_fd) < 0)
                _exit(127);
        /* First, so that any report we write finds the go byte consumed: closing a
         * unix socket with unread data would turn our report into ECONNRESET. */
        child_wait_go(plan);
        if (child_reset_signals() < 0)
                child_fail(plan, STEP_SIGNALS);
        if (setpgid(0, 0) < 0)
                child_fail(plan, STEP_SETPGID);
        if (child_set_pdeathsig(plan) < 0)
                child_fail(plan, STEP_PDEATHSIG);
        if (child_stdio(plan) < 0)
                child_fail(plan, STEP_STDIO);
        if (plan->cwd && chdir(plan->cwd) < 0)
                child_fail(plan, STEP_CHDIR);
        if (child_close_fds(plan->report_fd) < 0)
                child_fail(plan, STEP_CLOSE_FDS);
        execve(plan->path, plan->argv, plan->envp);
        child_fail(plan, STEP_EXEC);
}

/* ---- parent side ---- */

/* The parent's ends first, the child's second; -1 when unused. */
struct spawn_fds {
        int out[2];
        int err[2];
        int sock[2];
};

static void spawn_fds_close(struct spawn_fds *f)
{
        int *all[] = {&f->out[0], &f->out[1], &f->err[0], &f->err[1], &f->sock[0], &f->sock[1]};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(all); i++) {
                alder_closep(all[i]);
                *all[i] = -1;
        }
}

static void spawn_fds_close_child_ends(struct spawn_fds *f)
{
        int *ends[] = {&f->out[1], &f->err[1], &f->sock[1]};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(ends); i++) {
                alder_closep(ends[i]);
                *ends[i] = -1;
        }
}

static int open_capture_pipe(alder_stdio mode, int pipefd[2])
{
        if (mode != ALDER_STDIO_PIPE)
                return 0;
        return pipe2(pipefd, O_CLOEXEC) < 0 ? -errno : 0;
}

static int spawn_fds_open(const alder_spawn_opts *opts, struct spawn_fds *f, const char **what)
{
        *what = "pipe";
        int r = open_capture_pipe(opts->stdout_mode, f->out);
        if (r == 0)
                r = open_capture_pipe(opts->stderr_mode, f->err);
        if (r < 0)
                return r;
        *what = "socketpair";
        return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sock) < 0 ? -errno : 0;
}

static int stdio_source(alder_stdio mode, int fd, int pipe_write_end, int fileno)
{
        switch (mode) {
        case ALDER_STDIO_DEFAULT:
                return fileno == STDIN_FILENO ? SRC_DEVNULL : SRC_KEEP;
        case ALDER_STDIO_NULL:
                return SRC_DEVNULL;
        case ALDER_STDIO_INHERIT:
                return SRC_KEEP;
        case ALDER_STDIO_FD:
                return fd;
        case ALDER_STDIO_PIPE:
                return pipe_write_end;
        }
        return SRC_KEEP;
}

static bool stdio_valid(alder_stdio mode, int fd, int fileno)
{
        if (mode == ALDER_STDIO_FD)
                return fd >= 0;
        if (mode == ALDER_STDIO_PIPE)
                return fileno != STDIN_FILENO;
        return mode >= ALDER_STDIO_DEFAULT && mode <= ALDER_STDIO_INHERIT;
}

static int check_opts(const alder_spawn_opts *opts, alder_error **err)
{
        if (!opts || !opts->argv || !opts->argv[0])
                return alder_error_set(err, EINVAL, "spawn: no program given");
        const char *path = opts->path ? opts->path : opts->argv[0];
        if (!strchr(path, '/'))
                return alder_error_set(err, EINVAL, "spawn '%s': program must be a path (there is no PATH search)",
                                       path);
        if (!stdio_valid(opts->stdin_mode, opts->stdin_fd, STDIN_FILENO) ||
            !stdio_valid(opts->stdout_mode, opts->stdout_fd, STDOUT_FILENO) ||
            !stdio_valid(opts->stderr_mode, opts->stderr_fd, STDERR_FILENO))
                return alder_error_set(err, EINVAL, "spawn '%s': invalid stdio redirection", path);
        if (opts->pdeathsig < 0 || opts->pdeathsig >= NSIG)
                return alder_error_set(err, EINVAL, "spawn '%s': invalid parent-death signal %d", path,
                                       opts->pdeathsig);
        return 0;
}

static void plan_init(struct child_plan *plan, const alder_spawn_opts *opts, const char *path,
                      const struct spawn_fds *f)
{
        *plan = (struct child_plan){
                .path = path,
                /* execve() takes char *const[] but does not modify the strings. */
                .argv = (char *const *) opts->argv,
                .envp = opts->envp ? (char *const *) opts->envp : environ,
                .cwd = opts->cwd,
                .src = {stdio_source(opts->stdin_mode, opts->stdin_fd, -1, STDIN_FILENO),
                        stdio_source(opts->stdout_mode, opts->stdout_fd, f->out[1], STDOUT_FILENO),
                        stdio_source(opts->stderr_mode, opts->stderr_fd, f->err[1], STDERR_FILENO)},
                .report_fd = f->sock[1],
                .parent_end = f->sock[0],
                .pdeathsig = opts->pdeathsig,
                .parent = getpid(),
        };
}

/*
 * fork() with every signal blocked, so that none of the parent's handlers can
 * run in the child before it has reset them. Returns like fork(); the child
 * goes straight to child_run().
 */
static pid_t fork_child(struct child_plan *plan)
{
        sigset_t all, saved;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        pid_t pid = fork();
        if (pid == 0)
                child_run(plan);
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        errno = e;
        return pid;
}

static alder_exit exit_from_siginfo(const siginfo_t *si)
{
        if (si->si_code == CLD_EXITED)
                return (alder_exit){.kind = ALDER_EXITED, .code = si->si_status};
        return (alder_exit){.kind = ALDER_SIGNALED, .code = si->si_status};
}

static int proc_reap(alder_proc *p, alder_error **err)
{
        siginfo_t si = {0};
        int r;
        do
                r = waitid(P_PIDFD, (id_t) p->pidfd, &si, WEXITED);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                int e = errno;
                /* ECHILD: someone else reaped it (SIGCHLD ignored?): it is gone all the same. */
                p->reaped = e == ECHILD;
                return alder_error_sys(err, e, "wait for '%s' (pid %d)", p->path, (int) p->pid);
        }
        p->reaped = true;
        p->exit = exit_from_siginfo(&si);
        return 0;
}

/* For a child that never got as far as exec (or was never released): kill it and reap it. */
static void abandon_child(pid_t pid)
{
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/*
 * Lets the child go on to exec, then reads its verdict: 0 when the exec
 * succeeded (the CLOEXEC socket closed without a word), 1 with *rep filled when
 * a step failed, -errno when the verdict could not be read.
 */
static int release_child(int sock, struct child_report *rep)
{
        char go = 1;
        ssize_t n;
        /* EPIPE: the child died before reading it; recv() then says EOF or ECONNRESET. */
        do
                n = send(sock, &go, 1, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        do
                n = recv(sock, rep, sizeof(*rep), MSG_WAITALL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                return 0;
        return n == (ssize_t) sizeof(*rep) ? 1 : -EIO;
}

static int report_child_failure(alder_proc *p, const struct child_report *rep, const char *cwd, alder_error **err)
{
        (void) proc_reap(p, NULL);
        const char *step = ALDER_NAME_OF(step_names, rep->step);
        if (rep->step == STEP_CHDIR)
                return alder_error_sys(err, rep->errnum, "spawn '%s': chdir '%s'", p->path, cwd);
        return alder_error_sys(err, rep->errnum, "spawn '%s': %s", p->path, step ? step : "set up");
}

/* Parent after fork(): get a pidfd, release the child, learn whether exec worked. */
static int parent_finish(alder_proc *p, struct spawn_fds *f, const char *cwd, alder_error **err)
{
        spawn_fds_close_child_ends(f);
        p->pidfd = pidfd_open(p->pid, 0);
        if (p->pidfd < 0) {
                int e = errno;
                abandon_child(p->pid);
                p->reaped = true;
                return alder_error_sys(err, e, "spawn '%s': pidfd_open%s", p->path,
                                       e == ENOSYS ? " (needs Linux >= 5.3)" : "");
        }
        struct child_report rep;
        int r = release_child(f->sock[0], &rep);
        if (r < 0) {
                abandon_child(p->pid);
                p->reaped = true;
                return alder_error_sys(err, -r, "spawn '%s': read exec status", p->path);
        }
        if (r == 1)
                return report_child_failure(p, &rep, cwd, err);
        p->stdout_fd = steal_fd(&f->out[0]);
        p->stderr_fd = steal_fd(&f->err[0]);
        return 0;
}

static alder_proc *proc_new(const char *path)
{
        alder_proc *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        *p = (alder_proc){.pid = -1, .pidfd = -1, .stdout_fd = -1, .stderr_fd = -1, .reaped = true};
        p->path = strdup(path);
        if (!p->path) {
                free(p);
                return NULL;
        }
        return p;
}

int alder_spawn(const alder_spawn_opts *opts, alder_proc **ret, alder_error **err)
{
        int r = check_opts(opts, err);
        if (r < 0)
                return r;
        const char *path = opts->path ? opts->path : opts->argv[0];

        /* Allocate before fork: once the child exists, nothing may fail for want of memory. */
        _cleanup_proc_ alder_proc *p = proc_new(path);
        if (!p)
                return alder_error_sys(err, ENOMEM, "spawn '%s'", path);

        _cleanup_(spawn_fds_close) struct spawn_fds f = {{-1, -1}, {-1, -1}, {-1, -1}};
        const char *what;
        r = spawn_fds_open(opts, &f, &what);
        if (r < 0)
                return alder_error_sys(err, r, "spawn '%s': %s", path, what);

        struct child_plan plan;
        plan_init(&plan, opts, path, &f);
        p->pid = fork_child(&plan);
        if (p->pid < 0)
                return alder_error_sys(err, errno, "spawn '%s': fork", path);
        p->reaped = false;

        r = parent_finish(p, &f, opts->cwd, err);
        if (r < 0)
                return r;
        *ret = steal_pointer(&p);
        return 0;
}

pid_t alder_proc_pid(const alder_proc *p)
{
        return p->pid;
}

int alder_proc_pidfd(const alder_proc *p)
{
        return p->pidfd;
}

int alder_proc_stdout_fd(const alder_proc *p)
{
        return p->stdout_fd;
}

int alder_proc_stderr_fd(const alder_proc *p)
{
        return p->stderr_fd;
}

/* 1 when the leader has exited (pidfd readable) by the deadline, 0 if not, -errno. */
static int proc_wait_exit(const alder_proc *p, int64_t deadline)
{
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        return poll_until(&pfd, 1, deadline);
}

int alder_proc_wait(alder_proc *p, int timeout_ms, alder_exit *ret, alder_error **err)
{
        if (!p->reaped) {
                int r = proc_wait_exit(p, deadline_after(timeout_ms));
                if (r < 0)
                        return alder_error_sys(err, r, "wait for '%s' (pid %d)", p->path, (int) p->pid);
                if (r == 0)
                        return alder_error_set(err, ETIMEDOUT, "wait for '%s' (pid %d): still running after %d ms",
                                               p->path, (int) p->pid, timeout_ms);
                r = proc_reap(p, err);
                if (r < 0)
                        return r;
        }
        if (ret)
                *ret = p->exit;
        return 0;
}

static int reaped_error(const alder_proc *p, int sig, alder_error **err)
{
        return alder_error_set(err, ESRCH, "send signal %d to '%s' (pid %d): it has exited and been reaped", sig,
                               p->path, (int) p->pid);
}

int alder_proc_signal(alder_proc *p, int sig, alder_error **err)
{
        if (p->reaped)
                return reaped_error(p, sig, err);
        if (pidfd_send_signal(p->pidfd, sig, NULL, 0) < 0)
                return alder_error_sys(err, errno, "send signal %d to '%s' (pid %d)", sig, p->path, (int) p->pid);
        return 0;
}

/*
 * The leader by pidfd (it may have left its group), then the group. Only called
 * while the leader is unreaped, so the group id can not have been recycled.
 * Returns 0 or -errno of the first failure other than ESRCH (nobody left).
 */
static int signal_group(const alder_proc *p, int sig)
{
        int r = 0;
        if (pidfd_send_signal(p->pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
                r = -errno;
        if (kill(-p->pid, sig) < 0 && errno != ESRCH && r == 0)
                r = -errno;
        return r;
}

int alder_proc_signal_group(alder_proc *p, int sig, alder_error **err)
{
        if (p->reaped)
                return reaped_error(p, sig, err);
        int r = signal_group(p, sig);
        if (r < 0)
                return alder_error_sys(err, r, "send signal %d to the group of '%s' (pgid %d)", sig, p->path,
                                       (int) p->pid);
        return 0;
}

int alder_proc_kill(alder_proc *p, unsigned grace_ms, alder_exit *ret, alder_error **err)
{
        if (!p->reaped) {
                (void) signal_group(p, SIGTERM);
                (void) signal_group(p, SIGCONT); /* a stopped process can not act on SIGTERM */
                (void) proc_wait_exit(p, deadline_after(grace_ms));
                int r = signal_group(p, SIGKILL);
                if (r < 0)
                        return alder_error_sys(err, r, "kill '%s' (pid %d)", p->path, (int) p->pid);
                r = proc_reap(p, err);
                if (r < 0)
                        return r;
        }
        if (ret)
                *ret = p->exit;
        return 0;
}

void alder_proc_free(alder_proc *p)
{
        if (!p)
                return;
        if (!p->reaped) {
                bool exited = proc_wait_exit(p, now_ms()) > 0;
                /* Without the SIGKILL landing, reaping would block forever: leak rather than hang. */
                if (exited || signal_group(p, SIGKILL) == 0)
                        (void) proc_reap(p, NULL);
        }
        alder_closep(&p->pidfd);
        alder_closep(&p->stdout_fd);
        alder_closep(&p->stderr_fd);
        free(p->path);
        free(p);
}

/* ---- exit status ---- */

bool alder_exit_ok(const alder_exit *e)
{
        return e->kind == ALDER_EXITED && e->code == 0;
}

const char *alder_exit_describe(const alder_exit *e, char *buf, size_t size)
{
        const char *desc;
        switch (e->kind) {
        case ALDER_EXITED:
                snprintf(buf, size, "exited with status %d", e->code);
                break;
        case ALDER_SIGNALED:
                desc = sigdescr_np(e->code);
                snprintf(buf, size, "killed by signal %d (%s)", e->code, desc ? desc : "unknown signal");
                break;
        case ALDER_TIMED_OUT:
                snprintf(buf, size, "timed out after %u ms", e->timeout_ms);
                break;
        default:
                snprintf(buf, size, "not finished");
                break;
        }
        return buf;
}

/* ---- alder_run ---- */

struct capture {
        alder_capture c;
        size_t alloc;
        size_t max;
        int *fd; /* the proc's pipe end; closed and set to -1 at EOF */
};

static void captures_free(struct capture (*caps)[2])
{
        free((*caps)[0].c.data);
        free((*caps)[1].c.data);
}

/* Room for `want` more bytes plus the NUL, growing geometrically up to max + 1. */
static int capture_reserve(struct capture *cap, size_t want)
{
        size_t need = cap->c.len + want + 1;
        if (need <= cap->alloc)
                return 0;
        size_t alloc = ALDER_MIN(ALDER_MAX(need, cap->alloc * 2), cap->max + 1);
        char *data = realloc(cap->c.data, alloc);
        if (!data)
                return -ENOMEM;
        cap->c.data = data;
        cap->alloc = alloc;
        return 0;
}

/* One read from the pipe: kept up to max, discarded beyond. Returns 0 or -errno. */
static int capture_read(struct capture *cap)
{
        char discard[16 * 1024];
        size_t room = ALDER_MIN(READ_CHUNK, cap->max - cap->c.len);
        if (room > 0 && capture_reserve(cap, room) < 0)
                return -ENOMEM;
        char *dst = room > 0 ? cap->c.data + cap->c.len : discard;
        ssize_t n = read(*cap->fd, dst, room > 0 ? room : sizeof(discard));
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (n == 0) {
                alder_closep(cap->fd);
                *cap->fd = -1;
        } else if (room > 0) {
                cap->c.len += (size_t) n;
                cap->c.data[cap->c.len] = '\0';
        } else {
                cap->c.truncated = true;
        }
        return 0;
}

/* Hands the buffer over NUL-terminated, "" if nothing came; NULL if not captured. */
static int capture_finish(struct capture *cap, bool captured, alder_capture *out)
{
        if (captured && !cap->c.data && capture_reserve(cap, 0) < 0)
                return -ENOMEM;
        if (cap->c.data)
                cap->c.data[cap->c.len] = '\0';
        *out = cap->c;
        cap->c = (alder_capture){0};
        return 0;
}

/* Whether the leader has exited (not yet reaped) and both pipes are at EOF. */
static bool run_done(struct capture caps[2], bool exited)
{
        return exited && *caps[0].fd < 0 && *caps[1].fd < 0;
}

/*
 * One poll of the leader and the pipes, reading what is ready. Returns 1 when
 * something was, 0 when nothing came by the deadline, -errno on failure.
 * *exited tells whether the leader is gone (not yet reaped).
 */
static int run_round(alder_proc *p, struct capture caps[2], int64_t deadline, bool *exited)
{
        struct pollfd fds[3] = {
                {.fd = *exited ? -1 : p->pidfd, .events = POLLIN},
                {.fd = *caps[0].fd, .events = POLLIN},
                {.fd = *caps[1].fd, .events = POLLIN},
        };
        int r = poll_until(fds, ALDER_ARRAY_SIZE(fds), deadline);
        if (r <= 0)
                return r;
        if (fds[0].revents)
                *exited = true;
        for (int i = 0; i < 2; i++) {
                r = fds[i + 1].revents ? capture_read(&caps[i]) : 0;
                if (r < 0)
                        return r;
        }
        return 1;
}

/* Reads the pipes until run_done(): 0 then, 1 at the deadline, -errno on failure. */
static int run_loop(alder_proc *p, struct capture caps[2], int64_t deadline, bool *exited)
{
        while (!run_done(caps, *exited)) {
                /* poll() returns at once while output keeps coming: it alone never reaches the deadline */
                if (deadline != NO_DEADLINE && now_ms() >= deadline)
                        return 1;
                int r = run_round(p, caps, deadline, exited);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }
        return 0;
}

/* After a timeout: stop the group, then keep what the pipes still hold without waiting for more. */
static int run_expired(alder_proc *p, const alder_run_opts *opts, struct capture caps[2], bool exited, alder_exit *ex,
                       alder_error **err)
{
        unsigned grace = opts->grace_ms ? opts->grace_ms : ALDER_RUN_DEFAULT_GRACE_MS;
        int r = alder_proc_kill(p, grace, ex, err);
        if (r < 0)
                return r;
        if (!exited)
                *ex = (alder_exit){.kind = ALDER_TIMED_OUT,
                                   .code = ex->kind == ALDER_SIGNALED ? ex->code : 0,
                                   .timeout_ms = opts->timeout_ms};
        /* Bounded: a process that escaped the group could keep writing forever. */
        bool reaped = true;
        r = 1;
        for (int i = 0; i < 64 && r > 0 && !run_done(caps, reaped); i++)
                r = run_round(p, caps, now_ms(), &reaped);
        return r < 0 ? alder_error_sys(err, r, "run '%s': read output", p->path) : 0;
}

int alder_run(const alder_run_opts *opts, alder_run_result *ret, alder_error **err)
{
        _cleanup_proc_ alder_proc *p = NULL;
        int r = alder_spawn(opts ? &opts->spawn : NULL, &p, err);
        if (r < 0)
                return r;

        size_t max = opts->max_capture ? ALDER_MIN(opts->max_capture, SIZE_MAX / 2) : ALDER_RUN_DEFAULT_MAX_CAPTURE;
        _cleanup_(captures_free) struct capture caps[2] = {
                {.max = max, .fd = &p->stdout_fd},
                {.max = max, .fd = &p->stderr_fd},
        };

        int64_t deadline = opts->timeout_ms ? now_ms() + opts->timeout_ms : NO_DEADLINE;
        bool exited = false;
        alder_exit ex;
        r = run_loop(p, caps, deadline, &exited);
        if (r < 0)
                return alder_error_sys(err, r, "run '%s': read output", p->path);
        if (r == 1)
                r = run_expired(p, opts, caps, exited, &ex, err);
        else
                r = alder_proc_wait(p, -1, &ex, err);
        if (r < 0)
                return r;

        alder_run_result res = {.exit = ex, .pid = p->pid};
        if (capture_finish(&caps[0], opts->spawn.stdout_mode == ALDER_STDIO_PIPE, &res.stdout_buf) < 0 ||
            capture_finish(&caps[1], opts->spawn.stderr_mode == ALDER_STDIO_PIPE, &res.stderr_buf) < 0) {
                alder_run_result_clear(&res);
                return alder_error_sys(err, ENOMEM, "run '%s': capture output", p->path);
        }
        *ret = res;
        return 0;
}

void alder_run_result_clear(alder_run_result *r)
{
        free(r->stdout_buf.data);
        free(r->stderr_buf.data);
        *r = (alder_run_result){0};
}

int alder_signalfd_open(const int *signals, size_t n, alder_error **err)
{
        sigset_t mask;
        sigemptyset(&mask);
        for (size_t i = 0; i < n; i++)
                sigaddset(&mask, signals[i]);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return alder_error_sys(err, errno, "block signals");
        int fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? alder_error_sys(err, errno, "signalfd") : fd;
}
