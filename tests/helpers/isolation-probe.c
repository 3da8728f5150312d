/* SPDX-License-Identifier: Apache-2.0 */
/*
 * isolation-probe: tries what an app container must not be able to do and
 * prints one line per attempt, "CHECK: RESULT", where RESULT is OK or the
 * errno name (EPERM, ENOENT, ...). tests/system/test_appd_isolation.py copies
 * it into a busybox root file system, so it is linked statically, without
 * libalder and without sanitizers.
 *
 *     isolation-probe mount          mount a tmpfs on /tmp
 *     isolation-probe unshare        unshare(CLONE_NEWUSER), unshare(CLONE_NEWNS)
 *     isolation-probe ptrace         PTRACE_ATTACH to pid 1, the parent and an own child
 *     isolation-probe kill PID...    kill(PID, 0)
 *     isolation-probe open PATH...   open(PATH, O_RDONLY)
 *     isolation-probe create PATH... open(PATH, O_WRONLY | O_CREAT)
 *     isolation-probe alloc MIB      allocate and touch MIB MiB, then "alloc MIB: OK"
 *
 * Exit status: 0 when every attempt was made (whatever its result), 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB       (1024L * 1024L)
#define ALLOC_MAX 4096L /* MiB: more would only test the host, not the limit */

static const char usage_text[] = "usage: isolation-probe mount | unshare | ptrace | kill PID... | open PATH... | "
                                 "create PATH... | alloc MIB\n";

/* Prints "WHAT: OK" for r >= 0, else "WHAT: ERRNONAME" of the errno the call left. */
static void report(const char *what, long r)
{
        const char *name = r >= 0 ? "OK" : strerrorname_np(errno);
        printf("%s: %s\n", what, name ? name : "E?");
        fflush(stdout);
}

static int probe_mount(void)
{
        report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
        return 0;
}

static int probe_unshare(void)
{
        report("unshare CLONE_NEWUSER", unshare(CLONE_NEWUSER));
        report("unshare CLONE_NEWNS", unshare(CLONE_NEWNS));
        return 0;
}

static void attach(const char *what, pid_t pid)
{
        long r = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
        int saved = errno;
        if (r >= 0)
                ptrace(PTRACE_DETACH, pid, NULL, NULL);
        errno = saved;
        report(what, r);
}

/* An own child of the same uid is what plain permissions allow: only seccomp refuses it. */
static int probe_ptrace(void)
{
        attach("ptrace attach 1", 1);
        attach("ptrace attach parent", getppid());
        pid_t child = fork();
        if (child < 0) {
                report("fork", -1);
                return 1;
        }
        if (child == 0) {
                pause();
                _exit(0);
        }
        attach("ptrace attach child", child);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return 0;
}

static int parse_long(const char *s, long min, long max, long *ret)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -1;
        *ret = v;
        return 0;
}

static int probe_kill(int argc, char **argv)
{
        for (int i = 0; i < argc; i++) {
                long pid;
                if (parse_long(argv[i], 1, 1L << 22, &pid) < 0) {
                        fputs(usage_text, stderr);
                        return 2;
                }
                char what[64];
                snprintf(what, sizeof(what), "kill %ld", pid);
                report(what, kill((pid_t) pid, 0));
        }
        return 0;
}

static int probe_open(const char *cmd, int flags, int argc, char **argv)
{
        for (int i = 0; i < argc; i++) {
                int fd = open(argv[i], flags | O_CLOEXEC, 0600);
                char what[4200];
                snprintf(what, sizeof(what), "%s %s", cmd, argv[i]);
                report(what, fd);
                if (fd >= 0)
                        close(fd);
        }
        return 0;
}

/* Touches every page so the memory is charged, not just reserved. */
static int probe_alloc(const char *arg)
{
        long mib;
        if (parse_long(arg, 1, ALLOC_MAX, &mib) < 0) {
                fputs(usage_text, stderr);
                return 2;
        }
        char *p = malloc((size_t) (mib * MIB));
        if (!p) {
                report("alloc", -1);
                return 1;
        }
        long page = sysconf(_SC_PAGESIZE);
        for (long off = 0; off < mib * MIB; off += page)
                p[off] = 1;
        char what[64];
        snprintf(what, sizeof(what), "alloc %ld", mib);
        report(what, 0);
        free(p);
        return 0;
}

int main(int argc, char **argv)
{
        const char *cmd = argc > 1 ? argv[1] : "";
        if (strcmp(cmd, "mount") == 0 && argc == 2)
                return probe_mount();
        if (strcmp(cmd, "unshare") == 0 && argc == 2)
                return probe_unshare();
        if (strcmp(cmd, "ptrace") == 0 && argc == 2)
                return probe_ptrace();
        if (strcmp(cmd, "kill") == 0 && argc > 2)
                return probe_kill(argc - 2, argv + 2);
        if (strcmp(cmd, "open") == 0 && argc > 2)
                return probe_open(cmd, O_RDONLY, argc - 2, argv + 2);
        if (strcmp(cmd, "create") == 0 && argc > 2)
                return probe_open(cmd, O_WRONLY | O_CREAT, argc - 2, argv + 2);
        if (strcmp(cmd, "alloc") == 0 && argc == 3)
                return probe_alloc(argv[2]);
        fputs(usage_text, stderr);
        return 2;
}
