/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder/spawn.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- fault injection through -Wl,--wrap (see tests/unit/meson.build) ---- */

/* Fails the call after `after` passing calls with errnum, once. */
struct fault {
        int after;
        int errnum;
};

static struct fault pipe2_fault, fork_fault, pidfd_open_fault;
static bool close_range_enosys;
static size_t read_chunk; /* not 0: read() returns at most this many bytes (a slow reader) */

static bool fault_hit(struct fault *f)
{
        if (f->errnum == 0 || f->after-- > 0)
                return false;
        errno = f->errnum;
        f->errnum = 0;
        return true;
}

int __real_pipe2(int fds[2], int flags);
int __wrap_pipe2(int fds[2], int flags);
pid_t __real_fork(void);
pid_t __wrap_fork(void);
int __real_pidfd_open(pid_t pid, unsigned flags);
int __wrap_pidfd_open(pid_t pid, unsigned flags);
int __real_close_range(unsigned first, unsigned last, int flags);
int __wrap_close_range(unsigned first, unsigned last, int flags);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
        return __real_read(fd, buf, read_chunk ? ALDER_MIN(n, read_chunk) : n);
}

int __wrap_pipe2(int fds[2], int flags)
{
        return fault_hit(&pipe2_fault) ? -1 : __real_pipe2(fds, flags);
}

pid_t __wrap_fork(void)
{
        return fault_hit(&fork_fault) ? -1 : __real_fork();
}

int __wrap_pidfd_open(pid_t pid, unsigned flags)
{
        return fault_hit(&pidfd_open_fault) ? -1 : __real_pidfd_open(pid, flags);
}

/* Runs in the child: a kernel without close_range() (< 5.9). */
int __wrap_close_range(unsigned first, unsigned last, int flags)
{
        if (close_range_enosys) {
                errno = ENOSYS;
                return -1;
        }
        return __real_close_range(first, last, flags);
}

/* ---- helpers ---- */

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        int n = 0;
        for (struct dirent *e; (e = readdir(d));)
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

static alder_run_opts capture_opts(const char *const *argv)
{
        return (alder_run_opts){
                .spawn = {.argv = argv, .stdout_mode = ALDER_STDIO_PIPE, .stderr_mode = ALDER_STDIO_PIPE},
                .timeout_ms = 5000,
        };
}

static void run_ok(const alder_run_opts *opts, alder_run_result *res)
{
        _cleanup_error_ alder_error *err = NULL;
        int r = alder_run(opts, res, &err);
        if (r < 0)
                fail_msg("alder_run: %s", alder_error_message(err));
}

static void run_capture(const char *const *argv, alder_run_result *res)
{
        alder_run_opts opts = capture_opts(argv);
        run_ok(&opts, res);
}

static void assert_exit(const alder_exit *e, alder_exit_kind kind, int code)
{
        char buf[ALDER_EXIT_DESCRIBE_MAX];
        if (e->kind != kind || e->code != code)
                fail_msg("unexpected exit: %s (kind %d, code %d)", alder_exit_describe(e, buf, sizeof(buf)), e->kind,
                         e->code);
}

/* Asserts that spawning fails with errnum and exactly the message `expected`. */
static void assert_spawn_fails(const alder_spawn_opts *opts, int errnum, const char *expected)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_proc *p = NULL;
        assert_int_equal(alder_spawn(opts, &p, &err), -errnum);
        assert_null(p);
        assert_int_equal(alder_error_errno(err), errnum);
        assert_string_equal(alder_error_message(err), expected);
}

/* Members killed after their parent died were reparented to us (subreaper): reap them, then the group is empty. */
static void assert_group_gone(pid_t pgid)
{
        for (int i = 0; i < 300; i++) {
                siginfo_t si = {0};
                while (waitid(P_PGID, (id_t) pgid, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
                        memset(&si, 0, sizeof(si));
                if (kill(-pgid, 0) < 0 && errno == ESRCH)
                        return;
                usleep(10 * 1000);
        }
        fail_msg("process group %d still exists", (int) pgid);
}

static void assert_pid_gone(pid_t pid)
{
        for (int i = 0; i < 300; i++) {
                siginfo_t si = {0};
                (void) waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG);
                if (kill(pid, 0) < 0 && errno == ESRCH)
                        return;
                usleep(10 * 1000);
        }
        fail_msg("process %d still exists", (int) pid);
}

/* The child prints the pid of a background grandchild ($!) once it has started it. */
static pid_t read_pid_line(int fd)
{
        char buf[32] = {0};
        assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
        int pid = atoi(buf);
        assert_true(pid > 0);
        return pid;
}

static void reap_strays(void)
{
        siginfo_t si = {0};
        while (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
                memset(&si, 0, sizeof(si));
}

static void assert_no_zombie(void)
{
        siginfo_t si = {0};
        int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
        assert_true((r < 0 && errno == ECHILD) || (r == 0 && si.si_pid == 0));
}

/* Reads a line the child writes once it is set up, so that a test never races its start. */
static void wait_ready(int fd)
{
        char buf[16] = {0};
        assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
        assert_string_equal(buf, "ready\n");
}

/* ---- exit codes and signals ---- */

static void test_true_exits_zero(void **state)
{
        alder_run_opts opts = {.spawn = {.argv = ARGV("/bin/true")}};
        _cleanup_run_result_ alder_run_result res = {0};
        run_ok(&opts, &res);
        assert_exit(&res.exit, ALDER_EXITED, 0);
        assert_true(alder_exit_ok(&res.exit));
        assert_null(res.stdout_buf.data); /* not captured */
}

static void test_false_exits_one(void **state)
{
        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/false"), &res);
        assert_exit(&res.exit, ALDER_EXITED, 1);
        assert_false(alder_exit_ok(&res.exit));
        assert_string_equal(res.stdout_buf.data, ""); /* captured, empty, still a string */
}

static void test_exit_code_is_kept(void **state)
{
        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/sh", "-c", "exit 3"), &res);
        assert_exit(&res.exit, ALDER_EXITED, 3);
}

static void test_signal_death_reported(void **state)
{
        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/sh", "-c", "kill -USR1 $$"), &res);
        assert_exit(&res.exit, ALDER_SIGNALED, SIGUSR1);
        char buf[ALDER_EXIT_DESCRIBE_MAX];
        assert_string_equal(alder_exit_describe(&res.exit, buf, sizeof(buf)),
                            "killed by signal 10 (User defined signal 1)");
}

static void test_exit_describe(void **state)
{
        char buf[ALDER_EXIT_DESCRIBE_MAX];
        alder_exit e = {.kind = ALDER_EXITED, .code = 3};
        assert_string_equal(alder_exit_describe(&e, buf, sizeof(buf)), "exited with status 3");
        e = (alder_exit){.kind = ALDER_SIGNALED, .code = SIGKILL};
        assert_string_equal(alder_exit_describe(&e, buf, sizeof(buf)), "killed by signal 9 (Killed)");
        e = (alder_exit){.kind = ALDER_TIMED_OUT, .code = SIGTERM, .timeout_ms = 2000};
        assert_string_equal(alder_exit_describe(&e, buf, sizeof(buf)), "timed out after 2000 ms");
        e = (alder_exit){.kind = ALDER_SIGNALED, .code = 1000};
        assert_string_equal(alder_exit_describe(&e, buf, sizeof(buf)), "killed by signal 1000 (unknown signal)");
}

/* ---- capture ---- */

static void test_capture_stdout_and_stderr_separately(void **state)
{
        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/sh", "-c", "echo out; echo err >&2; echo out2"), &res);
        assert_exit(&res.exit, ALDER_EXITED, 0);
        assert_string_equal(res.stdout_buf.data, "out\nout2\n");
        assert_int_equal(res.stdout_buf.len, 9);
        assert_string_equal(res.stderr_buf.data, "err\n");
        assert_false(res.stdout_buf.truncated);
}

/* Both streams far beyond a pipe buffer: reading only one of them at a time would deadlock. */
static void test_large_output_is_truncated_without_deadlock(void **state)
{
        alder_run_opts opts = capture_opts(
                ARGV("/bin/sh", "-c", "head -c 3000000 /dev/zero >&2; head -c 3000000 /dev/zero; echo tail >&2"));
        opts.max_capture = 1 << 20;
        _cleanup_run_result_ alder_run_result res = {0};
        run_ok(&opts, &res);
        assert_exit(&res.exit, ALDER_EXITED, 0);
        assert_int_equal(res.stdout_buf.len, 1 << 20);
        assert_true(res.stdout_buf.truncated);
        assert_int_equal(res.stderr_buf.len, 1 << 20);
        assert_true(res.stderr_buf.truncated);
        assert_int_equal(res.stdout_buf.data[1 << 20], '\0');
}

static void test_large_output_within_limit_is_whole(void **state)
{
        alder_run_opts opts = capture_opts(ARGV("/bin/sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' x"));
        opts.max_capture = 4 << 20;
        _cleanup_run_result_ alder_run_result res = {0};
        run_ok(&opts, &res);
        assert_int_equal(res.stdout_buf.len, 2000000);
        assert_false(res.stdout_buf.truncated);
        assert_int_equal(strspn(res.stdout_buf.data, "x"), 2000000);
}

/* ---- spawn failures ---- */

static void test_exec_missing_program(void **state)
{
        alder_spawn_opts opts = {.argv = ARGV("/nonexistent/alder-prog", "arg")};
        char expected[256];
        snprintf(expected, sizeof(expected), "spawn '/nonexistent/alder-prog': exec: %s", strerror(ENOENT));
        assert_spawn_fails(&opts, ENOENT, expected);

        _cleanup_error_ alder_error *err = NULL;
        alder_run_opts ropts = {.spawn = opts};
        alder_run_result res = {.pid = 12345};
        assert_int_equal(alder_run(&ropts, &res, &err), -ENOENT);
        assert_int_equal(res.pid, 12345); /* untouched on failure */
        assert_string_equal(alder_error_message(err), expected);
}

static void test_exec_not_executable(void **state)
{
        char path[] = "/tmp/alder-spawn-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
        close(fd);
        assert_int_equal(chmod(path, 0644), 0);

        alder_spawn_opts opts = {.argv = ARGV(path)};
        char expected[256];
        snprintf(expected, sizeof(expected), "spawn '%s': exec: %s", path, strerror(EACCES));
        assert_spawn_fails(&opts, EACCES, expected);
        unlink(path);
}

static void test_program_must_be_a_path(void **state)
{
        alder_spawn_opts opts = {.argv = ARGV("sh", "-c", "true")};
        assert_spawn_fails(&opts, EINVAL, "spawn 'sh': program must be a path (there is no PATH search)");
        opts.path = "/bin/sh"; /* argv[0] may be anything once path is given */
        _cleanup_run_result_ alder_run_result res = {0};
        run_ok(&(alder_run_opts){.spawn = opts}, &res);
        assert_exit(&res.exit, ALDER_EXITED, 0);
}

static void test_invalid_options(void **state)
{
        alder_spawn_opts opts = {.argv = ARGV("/bin/cat"), .stdin_mode = ALDER_STDIO_PIPE};
        assert_spawn_fails(&opts, EINVAL, "spawn '/bin/cat': invalid stdio redirection");
        opts = (alder_spawn_opts){.argv = ARGV("/bin/cat"), .stdout_mode = ALDER_STDIO_FD, .stdout_fd = -1};
        assert_spawn_fails(&opts, EINVAL, "spawn '/bin/cat': invalid stdio redirection");
        opts = (alder_spawn_opts){.argv = ARGV(NULL)};
        assert_spawn_fails(&opts, EINVAL, "spawn: no program given");
}

static void test_bad_cwd_names_chdir(void **state)
{
        alder_spawn_opts opts = {.argv = ARGV("/bin/pwd"), .cwd = "/nonexistent-dir"};
        char expected[256];
        snprintf(expected, sizeof(expected), "spawn '/bin/pwd': chdir '/nonexistent-dir': %s", strerror(ENOENT));
        assert_spawn_fails(&opts, ENOENT, expected);
}

/* ---- timeouts and group kill ---- */

/* Runs argv with capture, timeout and grace; returns how long alder_run() took. */
static int64_t run_timed(const char *const *argv, unsigned timeout_ms, unsigned grace_ms, alder_run_result *res)
{
        alder_run_opts opts = capture_opts(argv);
        opts.timeout_ms = timeout_ms;
        opts.grace_ms = grace_ms;
        int64_t start = now_ms();
        run_ok(&opts, res);
        return now_ms() - start;
}

static void test_timeout_kills_the_group(void **state)
{
        _cleanup_run_result_ alder_run_result res = {0};
        int64_t took = run_timed(ARGV("/bin/sh", "-c", "sleep 100 & echo $!; sleep 100"), 200, 1000, &res);

        assert_int_equal(res.exit.kind, ALDER_TIMED_OUT);
        assert_int_equal(res.exit.code, SIGTERM);
        char buf[ALDER_EXIT_DESCRIBE_MAX];
        assert_string_equal(alder_exit_describe(&res.exit, buf, sizeof(buf)), "timed out after 200 ms");
        assert_true(took >= 200 && took < 1000);
        /* the background sleep held the pipes too: it is gone, not waited for */
        assert_pid_gone(atoi(res.stdout_buf.data));
        assert_group_gone(res.pid);
}

/* Output that never pauses (a reader slower than its writer) must not hold alder_run() past its timeout. */
static void test_timeout_holds_against_endless_output(void **state)
{
        _cleanup_run_result_ alder_run_result res = {0};
        read_chunk = 1;
        int64_t took = run_timed(ARGV("/bin/sh", "-c", "/usr/bin/yes & sleep 3; kill $!"), 200, 200, &res);
        read_chunk = 0;

        assert_int_equal(res.exit.kind, ALDER_TIMED_OUT);
        assert_true(took >= 200 && took < 2000);
        assert_true(res.stdout_buf.len > 0);
        assert_group_gone(res.pid);
}

static void test_sigterm_ignored_gets_sigkill_after_grace(void **state)
{
        _cleanup_run_result_ alder_run_result res = {0};
        int64_t took = run_timed(ARGV("/bin/sh", "-c", "trap '' TERM; sleep 100"), 200, 300, &res);

        assert_exit(&res.exit, ALDER_TIMED_OUT, SIGKILL);
        assert_true(took >= 500 && took < 2000);
        assert_group_gone(res.pid);
}

static void test_leader_exit_then_leftovers_hold_pipes(void **state)
{
        /* The shell exits at once; its background child keeps stdout open until the timeout. */
        _cleanup_run_result_ alder_run_result res = {0};
        int64_t took = run_timed(ARGV("/bin/sh", "-c", "echo hi; sleep 100 & exit 4"), 200, 200, &res);
        assert_true(took >= 200 && took < 1000);
        assert_exit(&res.exit, ALDER_EXITED, 4); /* the command's own result, not a timeout */
        assert_string_equal(res.stdout_buf.data, "hi\n");
        assert_group_gone(res.pid);
}

static void test_proc_kill_stops_ignoring_process(void **state)
{
        int pfd[2];
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        alder_spawn_opts opts = {.argv = ARGV("/bin/sh", "-c", "trap '' TERM; echo ready; exec sleep 100"),
                                 .stdout_mode = ALDER_STDIO_FD,
                                 .stdout_fd = pfd[1]};
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_proc_ alder_proc *p = NULL;
        assert_int_equal(alder_spawn(&opts, &p, &err), 0);
        close(pfd[1]);
        wait_ready(pfd[0]);
        close(pfd[0]);

        int64_t start = now_ms();
        alder_exit ex;
        assert_int_equal(alder_proc_kill(p, 200, &ex, &err), 0);
        assert_exit(&ex, ALDER_SIGNALED, SIGKILL);
        assert_true(now_ms() - start >= 200);
        assert_group_gone(alder_proc_pid(p));
}

static void test_proc_kill_graceful(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_proc_ alder_proc *p = NULL;
        assert_int_equal(alder_spawn(&(alder_spawn_opts){.argv = ARGV("/bin/sleep", "100")}, &p, &err), 0);
        int64_t start = now_ms();
        alder_exit ex;
        assert_int_equal(alder_proc_kill(p, 5000, &ex, &err), 0);
        assert_exit(&ex, ALDER_SIGNALED, SIGTERM);
        assert_true(now_ms() - start < 2000);
        /* reaped: a second kill only reports */
        assert_int_equal(alder_proc_kill(p, 5000, &ex, &err), 0);
        assert_exit(&ex, ALDER_SIGNALED, SIGTERM);
}

static void test_wait_timeout_then_signal(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_proc_ alder_proc *p = NULL;
        assert_int_equal(alder_spawn(&(alder_spawn_opts){.argv = ARGV("/bin/sleep", "100")}, &p, &err), 0);
        assert_true(alder_proc_pidfd(p) >= 0);
        assert_int_equal(getpgid(alder_proc_pid(p)), alder_proc_pid(p)); /* its own group */
        assert_int_equal(alder_proc_stdout_fd(p), -1);

        alder_exit ex;
        assert_int_equal(alder_proc_wait(p, 0, &ex, &err), -ETIMEDOUT);
        assert_int_equal(alder_proc_wait(p, 50, &ex, &err), -ETIMEDOUT);
        char expected[128];
        snprintf(expected, sizeof(expected), "wait for '/bin/sleep' (pid %d): still running after 50 ms",
                 (int) alder_proc_pid(p));
        assert_string_equal(alder_error_message(err), expected);

        assert_int_equal(alder_proc_signal(p, SIGUSR2, &err), 0);
        assert_int_equal(alder_proc_wait(p, -1, &ex, &err), 0);
        assert_exit(&ex, ALDER_SIGNALED, SIGUSR2);
        assert_int_equal(alder_proc_wait(p, 0, &ex, &err), 0); /* same answer once reaped */
        assert_exit(&ex, ALDER_SIGNALED, SIGUSR2);
        assert_int_equal(alder_proc_signal(p, SIGTERM, &err), -ESRCH);
        assert_int_equal(alder_proc_signal_group(p, SIGTERM, &err), -ESRCH);
}

static void test_signal_group_reaches_grandchildren(void **state)
{
        alder_spawn_opts opts = {.argv = ARGV("/bin/sh", "-c", "sleep 100 & echo $!; wait"),
                                 .stdout_mode = ALDER_STDIO_PIPE};
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_proc_ alder_proc *p = NULL;
        assert_int_equal(alder_spawn(&opts, &p, &err), 0);
        pid_t grandchild = read_pid_line(alder_proc_stdout_fd(p));
        assert_int_equal(getpgid(grandchild), alder_proc_pid(p));
        assert_int_equal(alder_proc_signal_group(p, SIGKILL, &err), 0);
        alder_exit ex;
        assert_int_equal(alder_proc_wait(p, -1, &ex, &err), 0);
        assert_exit(&ex, ALDER_SIGNALED, SIGKILL);
        assert_pid_gone(grandchild);
        assert_group_gone(alder_proc_pid(p));
}

static void test_free_kills_running_group(void **state)
{
        alder_spawn_opts opts = {.argv = ARGV("/bin/sh", "-c", "sleep 100 & echo $!; sleep 100"),
                                 .stdout_mode = ALDER_STDIO_PIPE};
        _cleanup_error_ alder_error *err = NULL;
        alder_proc *p = NULL;
        assert_int_equal(alder_spawn(&opts, &p, &err), 0);
        pid_t grandchild = read_pid_line(alder_proc_stdout_fd(p));
        pid_t pgid = alder_proc_pid(p);
        int64_t start = now_ms();
        alder_proc_free(p);
        assert_true(now_ms() - start < 1000);
        assert_pid_gone(grandchild);
        assert_group_gone(pgid);
        alder_proc_free(NULL);
}

/* ---- environment, cwd, stdio ---- */

static void test_env_replaced(void **state)
{
        alder_run_opts opts = capture_opts(ARGV("/usr/bin/env"));
        opts.spawn.envp = ARGV("ALDER_X=42", "B=two words");
        _cleanup_run_result_ alder_run_result res = {0};
        run_ok(&opts, &res);
        assert_string_equal(res.stdout_buf.data, "ALDER_X=42\nB=two words\n");
}

static void test_env_inherited_by_default(void **state)
{
        assert_int_equal(setenv("ALDER_SPAWN_TEST", "inherited", 1), 0);
        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/sh", "-c", "echo $ALDER_SPAWN_TEST"), &res);
        unsetenv("ALDER_SPAWN_TEST");
        assert_string_equal(res.stdout_buf.data, "inherited\n");
}

static void test_cwd_honoured(void **state)
{
        alder_run_opts opts = capture_opts(ARGV("/bin/pwd"));
        opts.spawn.cwd = "/proc";
        _cleanup_run_result_ alder_run_result res = {0};
        run_ok(&opts, &res);
        assert_string_equal(res.stdout_buf.data, "/proc\n");
}

static void test_stdin_fd_honoured(void **state)
{
        int pfd[2];
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        assert_int_equal(write(pfd[1], "hello\n", 6), 6);
        close(pfd[1]);
        alder_run_opts opts = capture_opts(ARGV("/bin/cat"));
        opts.spawn.stdin_mode = ALDER_STDIO_FD;
        opts.spawn.stdin_fd = pfd[0];
        _cleanup_run_result_ alder_run_result res = {0};
        run_ok(&opts, &res);
        close(pfd[0]);
        assert_string_equal(res.stdout_buf.data, "hello\n");
}

static void test_stdin_defaults_to_dev_null(void **state)
{
        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/cat"), &res); /* would block on an inherited terminal */
        assert_exit(&res.exit, ALDER_EXITED, 0);
        assert_string_equal(res.stdout_buf.data, "");
}

/* stdout and stderr swapped: each source must survive the other's installation. */
static void test_stdio_fds_swapped(void **state)
{
        int out[2], errp[2];
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
        assert_int_equal(dup2(out[1], 100), 100);
        assert_int_equal(dup2(errp[1], 101), 101);
        close(out[1]);
        close(errp[1]);
        alder_run_opts opts = {.spawn = {.argv = ARGV("/bin/sh", "-c", "echo O; echo E >&2"),
                                         .stdout_mode = ALDER_STDIO_FD,
                                         .stdout_fd = 100,
                                         .stderr_mode = ALDER_STDIO_FD,
                                         .stderr_fd = 101}};
        _cleanup_run_result_ alder_run_result res = {0};
        run_ok(&opts, &res);
        close(100);
        close(101);
        char buf[8] = {0};
        assert_int_equal(read(out[0], buf, sizeof(buf)), 2);
        assert_string_equal(buf, "O\n");
        memset(buf, 0, sizeof(buf));
        assert_int_equal(read(errp[0], buf, sizeof(buf)), 2);
        assert_string_equal(buf, "E\n");
        close(out[0]);
        close(errp[0]);
}

/* A source sitting on fd 0 must not be clobbered when stdin is installed first (inetd-style callers). */
static void test_stdout_to_fd_zero(void **state)
{
        int pfd[2];
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        int saved = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 10);
        assert_true(saved >= 0);
        assert_int_equal(dup2(pfd[1], STDIN_FILENO), STDIN_FILENO);
        close(pfd[1]);
        alder_run_opts opts = {
                .spawn = {.argv = ARGV("/bin/echo", "hi"), .stdout_mode = ALDER_STDIO_FD, .stdout_fd = 0}};
        alder_run_result res = {0};
        int r = alder_run(&opts, &res, NULL);
        assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
        close(saved);
        assert_int_equal(r, 0);
        assert_exit(&res.exit, ALDER_EXITED, 0);
        char buf[8] = {0};
        assert_int_equal(read(pfd[0], buf, sizeof(buf)), 3);
        assert_string_equal(buf, "hi\n");
        close(pfd[0]);
}

/* Closes the test's own 0-2 (kept in saved[]) and puts them back. */
static void stdio_close(int saved[3])
{
        for (int i = 0; i < 3; i++) {
                saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
                assert_true(saved[i] >= 0);
        }
        for (int i = 0; i < 3; i++)
                close(i);
}

static void stdio_restore(const int saved[3])
{
        for (int i = 0; i < 3; i++) {
                dup2(saved[i], i);
                close(saved[i]);
        }
}

/* With 0-2 closed in the parent, its pipes and socket take those numbers. */
static void test_parent_without_stdio(void **state)
{
        int saved[3];
        stdio_close(saved);
        alder_run_opts opts = capture_opts(ARGV("/bin/sh", "-c", "cat; echo out; echo err >&2"));
        alder_run_result res = {0};
        int r = alder_run(&opts, &res, NULL);
        stdio_restore(saved);
        assert_int_equal(r, 0);
        assert_exit(&res.exit, ALDER_EXITED, 0);
        assert_string_equal(res.stdout_buf.data, "out\n");
        assert_string_equal(res.stderr_buf.data, "err\n");
        alder_run_result_clear(&res);
}

/* Not even the exec-status socket may stay below 3: it would be overwritten or kept open. */
static void test_parent_without_stdio_no_capture(void **state)
{
        int saved[3];
        stdio_close(saved);
        alder_run_opts opts = {.spawn = {.argv = ARGV("/bin/true")}};
        alder_run_result res = {0};
        int r = alder_run(&opts, &res, NULL);
        stdio_restore(saved);
        assert_int_equal(r, 0);
        assert_exit(&res.exit, ALDER_EXITED, 0);
}

/* An ignored or blocked signal in the parent must not be ignored or blocked in the child. */
static void test_signals_reset_in_child(void **state)
{
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;
        assert_int_equal(sigaction(SIGUSR1, &ign, &old), 0);
        sigset_t block, saved;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR2);
        assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &saved), 0);

        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"), &res);

        assert_int_equal(pthread_sigmask(SIG_SETMASK, &saved, NULL), 0);
        assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
        assert_string_equal(res.stdout_buf.data, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

/* An fd the parent left without O_CLOEXEC must not reach the child. */
static void check_parent_fds_not_leaked(void)
{
        int fd = open("/dev/null", O_RDONLY); /* deliberately no O_CLOEXEC */
        assert_true(fd >= 0);
        assert_int_equal(dup2(fd, 77), 77);
        close(fd);
        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/ls", "/proc/self/fd"), &res);
        close(77);
        /* 0-2 and the directory ls itself reads */
        assert_string_equal(res.stdout_buf.data, "0\n1\n2\n3\n");
}

static void test_parent_fds_not_leaked(void **state)
{
        check_parent_fds_not_leaked();
}

static void test_parent_fds_not_leaked_without_close_range(void **state)
{
        close_range_enosys = true;
        check_parent_fds_not_leaked();
        close_range_enosys = false;
}

/* PR_SET_PDEATHSIG follows the spawning thread: its exit kills the child. */
static void *spawn_in_thread(void *arg)
{
        alder_spawn_opts opts = {.argv = ARGV("/bin/sleep", "100"), .pdeathsig = SIGKILL};
        alder_proc **p = arg;
        if (alder_spawn(&opts, p, NULL) < 0)
                *p = NULL;
        return NULL;
}

static void test_pdeathsig(void **state)
{
        _cleanup_proc_ alder_proc *p = NULL;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, spawn_in_thread, &p), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_non_null(p);
        _cleanup_error_ alder_error *err = NULL;
        alder_exit ex;
        assert_int_equal(alder_proc_wait(p, 3000, &ex, &err), 0);
        assert_exit(&ex, ALDER_SIGNALED, SIGKILL);
}

static void on_alarm(int sig)
{
}

/* A signal every millisecond: every blocking call must resume, not fail with EINTR. */
static void test_eintr_everywhere(void **state)
{
        struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
        struct sigaction old;
        assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
        struct itimerval it = {.it_interval = {0, 1000}, .it_value = {0, 1000}};
        assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);

        _cleanup_run_result_ alder_run_result res = {0};
        run_capture(ARGV("/bin/sh", "-c", "sleep 0.3; echo done"), &res);
        alder_spawn_opts missing = {.argv = ARGV("/nonexistent/x")};
        _cleanup_error_ alder_error *err = NULL;
        alder_proc *p = NULL;
        int r = alder_spawn(&missing, &p, &err);

        it = (struct itimerval){0};
        assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
        assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
        assert_exit(&res.exit, ALDER_EXITED, 0);
        assert_string_equal(res.stdout_buf.data, "done\n");
        assert_int_equal(r, -ENOENT);
}

/* ---- injected failures: clean error, no fd or child left behind ---- */

static void assert_injected_failure(struct fault *f, int after, int errnum, const char *step)
{
        reap_strays();
        int fds = count_fds();
        *f = (struct fault){.after = after, .errnum = errnum};
        alder_run_opts opts = capture_opts(ARGV("/bin/echo", "x"));
        _cleanup_error_ alder_error *err = NULL;
        alder_run_result res = {0};
        assert_int_equal(alder_run(&opts, &res, &err), -errnum);
        assert_int_equal(f->errnum, 0); /* the fault was reached */
        char expected[256];
        snprintf(expected, sizeof(expected), "spawn '/bin/echo': %s: %s", step, strerror(errnum));
        assert_string_equal(alder_error_message(err), expected);
        assert_int_equal(count_fds(), fds);
        assert_no_zombie();
}

static void test_pipe_failure_is_clean(void **state)
{
        assert_injected_failure(&pipe2_fault, 0, EMFILE, "pipe");
        assert_injected_failure(&pipe2_fault, 1, EMFILE, "pipe"); /* the stderr pipe, after the stdout one */
}

static void test_fork_failure_is_clean(void **state)
{
        assert_injected_failure(&fork_fault, 0, EAGAIN, "fork");
}

static void test_pidfd_unavailable_is_clean(void **state)
{
        assert_injected_failure(&pidfd_open_fault, 0, ENOSYS, "pidfd_open (needs Linux >= 5.3)");
        assert_injected_failure(&pidfd_open_fault, 0, EMFILE, "pidfd_open");

        /* The program must not run at all when we can not hold a pidfd of it. */
        char marker[] = "/tmp/alder-spawn-marker-XXXXXX";
        int fd = mkstemp(marker);
        assert_true(fd >= 0);
        close(fd);
        unlink(marker);
        pidfd_open_fault = (struct fault){.errnum = ENOSYS};
        alder_spawn_opts opts = {.argv = ARGV("/bin/touch", marker)};
        alder_proc *p = NULL;
        assert_int_equal(alder_spawn(&opts, &p, NULL), -ENOSYS);
        usleep(50 * 1000);
        assert_int_equal(access(marker, F_OK), -1);
}

int main(void)
{
        /* Orphaned grandchildren come to us, so tests can reap them and see their group gone. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
                /* qemu-user does not emulate it: say so and let meson count a skip (77). */
                fprintf(stderr, "test-spawn: PR_SET_CHILD_SUBREAPER: %s; skipping\n", strerror(errno));
                return 77;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_true_exits_zero),
                cmocka_unit_test(test_false_exits_one),
                cmocka_unit_test(test_exit_code_is_kept),
                cmocka_unit_test(test_signal_death_reported),
                cmocka_unit_test(test_exit_describe),
                cmocka_unit_test(test_capture_stdout_and_stderr_separately),
                cmocka_unit_test(test_large_output_is_truncated_without_deadlock),
                cmocka_unit_test(test_large_output_within_limit_is_whole),
                cmocka_unit_test(test_exec_missing_program),
                cmocka_unit_test(test_exec_not_executable),
                cmocka_unit_test(test_program_must_be_a_path),
                cmocka_unit_test(test_invalid_options),
                cmocka_unit_test(test_bad_cwd_names_chdir),
                cmocka_unit_test(test_timeout_kills_the_group),
                cmocka_unit_test(test_timeout_holds_against_endless_output),
                cmocka_unit_test(test_sigterm_ignored_gets_sigkill_after_grace),
                cmocka_unit_test(test_leader_exit_then_leftovers_hold_pipes),
                cmocka_unit_test(test_proc_kill_stops_ignoring_process),
                cmocka_unit_test(test_proc_kill_graceful),
                cmocka_unit_test(test_wait_timeout_then_signal),
                cmocka_unit_test(test_signal_group_reaches_grandchildren),
                cmocka_unit_test(test_free_kills_running_group),
                cmocka_unit_test(test_env_replaced),
                cmocka_unit_test(test_env_inherited_by_default),
                cmocka_unit_test(test_cwd_honoured),
                cmocka_unit_test(test_stdin_fd_honoured),
                cmocka_unit_test(test_stdin_defaults_to_dev_null),
                cmocka_unit_test(test_stdio_fds_swapped),
                cmocka_unit_test(test_stdout_to_fd_zero),
                cmocka_unit_test(test_parent_without_stdio),
                cmocka_unit_test(test_parent_without_stdio_no_capture),
                cmocka_unit_test(test_signals_reset_in_child),
                cmocka_unit_test(test_parent_fds_not_leaked),
                cmocka_unit_test(test_parent_fds_not_leaked_without_close_range),
                cmocka_unit_test(test_pdeathsig),
                cmocka_unit_test(test_eintr_everywhere),
                cmocka_unit_test(test_pipe_failure_is_clean),
                cmocka_unit_test(test_fork_failure_is_clean),
                cmocka_unit_test(test_pidfd_unavailable_is_clean),
        };
        return cmocka_run_group_tests_name("spawn", tests, NULL, NULL);
}
