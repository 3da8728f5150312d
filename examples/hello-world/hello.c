/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hello-world: the Alder example app, and the template for your own.
 *
 * It shows what an app sees on an Alder device: who it runs as, that its root
 * filesystem is read-only, and that the one place it may keep state is its
 * private data volume ($ALDER_DATA_DIR, default /data). It keeps a run counter
 * there, written the crash-safe way (temporary file, fsync, rename, fsync of
 * the directory), so a power cut leaves either the old or the new count.
 *
 * With --serve it stays up and prints a heartbeat every second, which is what
 * a health check watches, and exits 0 on SIGTERM (how the device stops apps).
 *
 * Standalone on purpose: it is built static with nothing but a C library, so
 * the image can be FROM scratch.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef HELLO_VERSION
#define HELLO_VERSION "0.0.0-dev" /* build.sh passes the image's version label */
#endif

#define APP_NAME          "hello-world"
#define DEFAULT_DATA_DIR  "/data"
#define COUNTER_FILE      "hello-count"
#define COUNTER_TMP       "hello-count.tmp"
#define COUNTER_MAX_BYTES 32                   /* a decimal unsigned long long and a newline */
#define SERVE_MAX_SECONDS (366u * 24u * 3600u) /* bound a number that comes from outside */

static const char usage[] = "Usage: hello [--serve SECONDS]\n"
                            "\n"
                            "The Alder example app. Prints its version, the host name, the uid/gid it runs\n"
                            "as, whether its root filesystem is read-only, and whether its data volume is\n"
                            "writable; counts its runs in $ALDER_DATA_DIR/" COUNTER_FILE " (default\n"
                            "$ALDER_DATA_DIR=" DEFAULT_DATA_DIR ").\n"
                            "\n"
                            "Options:\n"
                            "  -s, --serve SECONDS  then stay up, printing a heartbeat every second, for\n"
                            "                       SECONDS seconds (0: until stopped); SIGTERM or SIGINT\n"
                            "                       end it cleanly with exit status 0\n"
                            "  -V, --version        print the version and exit\n"
                            "  -h, --help           show this help\n"
                            "\n"
                            "Exit status: 0 success (also when there is no writable data volume), 1 the\n"
                            "data volume holds a bad counter or failed while writing, 2 bad command line.\n";

static const struct option long_options[] = {
        {"serve", required_argument, NULL, 's'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
};

/*
 * What failed, for one message at the top: "write 'hello-count.tmp': No space
 * left on device". `why` replaces strerror() where errno alone says too little.
 */
struct failure {
        const char *what;
        const char *name;
        const char *why;
        int errnum;
};

static int fail_why(struct failure *f, const char *what, const char *name, int errnum, const char *why)
{
        f->what = what;
        f->name = name;
        f->why = why;
        f->errnum = errnum;
        return -errnum;
}

static int fail(struct failure *f, const char *what, const char *name, int errnum)
{
        return fail_why(f, what, name, errnum, NULL);
}

static const char *failure_why(const struct failure *f)
{
        return f->why ? f->why : strerror(f->errnum);
}

/* close() that keeps errno, so an error path can still report it. */
static void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

#define _cleanup_close_ __attribute__((cleanup(closep)))

static int steal_fd(int *fd)
{
        int r = *fd;
        *fd = -1;
        return r;
}

static void report_identity(void)
{
        char host[HOST_NAME_MAX + 1] = "";

        if (gethostname(host, sizeof(host) - 1) < 0)
                snprintf(host, sizeof(host), "(unknown: %s)", strerror(errno));
        printf("hostname: %s\n", host);
        /* Numeric ids only: a FROM scratch image has no /etc/passwd to name them. */
        printf("user: uid=%u gid=%u\n", (unsigned) getuid(), (unsigned) getgid());
}

/* Alder mounts every app's root filesystem read-only; creating a file in / must fail with EROFS. */
static void report_rootfs(void)
{
        char probe[64];

        snprintf(probe, sizeof(probe), "/.hello-probe.%ld", (long) getpid());
        _cleanup_close_ int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
                (void) unlink(probe);
                printf("rootfs: writable (not an Alder device, or a development run)\n");
        } else if (errno == EROFS) {
                printf("rootfs: read-only (EROFS)\n");
        } else {
                printf("rootfs: not writable by uid %u (%s)\n", (unsigned) getuid(), strerror(errno));
        }
}

static int parse_counter(const char *buf, unsigned long long *ret)
{
        char *end;

        if (buf[0] < '0' || buf[0] > '9')
                return -EBADMSG;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno == ERANGE || v == ULLONG_MAX)
                return -EOVERFLOW; /* no room to count one more run */
        if (strcmp(end, "\n") != 0 && *end != '\0')
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* The last count, or 0 on the first run. Bounded: the file comes from disk, not from us only. */
static int read_counter(int dirfd, unsigned long long *ret, struct failure *f)
{
        char buf[COUNTER_MAX_BYTES + 1];
        size_t len = 0;

        _cleanup_close_ int fd = openat(dirfd, COUNTER_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                if (errno != ENOENT)
                        return fail(f, "open", COUNTER_FILE, errno);
                *ret = 0;
                return 0;
        }
        for (;;) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return fail(f, "read", COUNTER_FILE, errno);
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len == sizeof(buf) - 1)
                        return fail_why(f, "read", COUNTER_FILE, EFBIG, "too large for a run count");
        }
        buf[len] = '\0';
        int r = parse_counter(buf, ret);
        if (r == -EOVERFLOW)
                return fail_why(f, "parse", COUNTER_FILE, -r, "run count at its maximum");
        if (r < 0)
                return fail_why(f, "parse", COUNTER_FILE, -r, "not a decimal run count");
        return 0;
}

/*
 * Crash-safe replace: the new content is complete and on disk before the
 * rename makes it visible, and the directory fsync makes the rename itself
 * durable. Readers see the old or the new count, never a torn one.
 */
static int write_counter(int dirfd, unsigned long long value, struct failure *f)
{
        int r = 0;

        _cleanup_close_ int fd =
                openat(dirfd, COUNTER_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return fail(f, "create", COUNTER_TMP, errno);
        /* dprintf() completes short writes, as stdio does. */
        if (dprintf(fd, "%llu\n", value) < 0)
                r = fail(f, "write", COUNTER_TMP, errno);
        else if (fsync(fd) < 0)
                r = fail(f, "fsync", COUNTER_TMP, errno);
        else if (close(steal_fd(&fd)) < 0)
                r = fail(f, "close", COUNTER_TMP, errno);
        else if (renameat(dirfd, COUNTER_TMP, dirfd, COUNTER_FILE) < 0)
                r = fail(f, "rename to " COUNTER_FILE, COUNTER_TMP, errno);
        if (r < 0) {
                (void) unlinkat(dirfd, COUNTER_TMP, 0);
                return r;
        }
        if (fsync(dirfd) < 0)
                return fail(f, "fsync directory of", COUNTER_FILE, errno);
        return 0;
}

static int count_run(const char *dir, unsigned long long *ret, struct failure *f)
{
        unsigned long long count = 0;
        int r;

        _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return fail(f, "open", dir, errno);
        r = read_counter(dirfd, &count, f);
        if (r < 0)
                return r;
        r = write_counter(dirfd, count + 1, f);
        if (r < 0)
                return r;
        *ret = count + 1;
        return 0;
}

/* No volume, or one we may not write: the app still works, it just cannot keep state. */
static bool volume_unavailable(int errnum)
{
        return errnum == ENOENT || errnum == ENOTDIR || errnum == EROFS || errnum == EACCES || errnum == EPERM;
}

static int report_data_volume(void)
{
        const char *dir = getenv("ALDER_DATA_DIR");
        struct failure f = {0};
        unsigned long long count = 0;

        if (!dir || !*dir)
                dir = DEFAULT_DATA_DIR;
        int r = count_run(dir, &count, &f);
        if (r >= 0) {
                printf("data: %s writable, run count %llu\n", dir, count);
                return 0;
        }
        if (volume_unavailable(f.errnum)) {
                printf("data: %s unavailable, nothing persisted (%s '%s': %s)\n", dir, f.what, f.name, failure_why(&f));
                return 0;
        }
        fprintf(stderr, "hello: data volume %s: %s '%s': %s\n", dir, f.what, f.name, failure_why(&f));
        return r;
}

static int report_errno(const char *what)
{
        int errnum = errno;

        fprintf(stderr, "hello: %s: %s\n", what, strerror(errnum));
        return -errnum;
}

/*
 * Heartbeats until the time is up or SIGTERM/SIGINT arrives. The signals are
 * blocked and taken with sigtimedwait(), so there is no handler and no race;
 * blocked signals also reach us as PID 1 of a container, where default
 * actions are ignored.
 */
static int serve(unsigned seconds)
{
        sigset_t stop;
        const struct timespec tick = {.tv_sec = 1};

        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0)
                return report_errno("block SIGTERM/SIGINT");
        printf("serving: heartbeat every second%s\n", seconds ? "" : " until stopped");
        unsigned beat = 0;
        while (seconds == 0 || beat < seconds) {
                int sig = sigtimedwait(&stop, NULL, &tick);
                if (sig > 0) {
                        printf("received %s, exiting\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                        return 0;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return report_errno("wait for signals");
                printf("heartbeat %u\n", ++beat);
        }
        printf("served %u seconds, exiting\n", seconds);
        return 0;
}

static int parse_seconds(const char *s, unsigned *ret)
{
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v > SERVE_MAX_SECONDS)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

int main(int argc, char **argv)
{
        bool serving = false;
        unsigned seconds = 0;
        int c;

        /* Container logs are a pipe: one line at a time, not one buffer at exit. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        while ((c = getopt_long(argc, argv, "s:Vh", long_options, NULL)) != -1) {
                switch (c) {
                case 's':
                        if (parse_seconds(optarg, &seconds) < 0) {
                                fprintf(stderr, "hello: --serve: '%s' is not a number of seconds (0-%u)\n", optarg,
                                        SERVE_MAX_SECONDS);
                                return 2;
                        }
                        serving = true;
                        break;
                case 'V':
                        printf("%s %s\n", APP_NAME, HELLO_VERSION);
                        return 0;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fprintf(stderr, "Try 'hello --help'.\n");
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "hello: unexpected argument '%s'\nTry 'hello --help'.\n", argv[optind]);
                return 2;
        }

        printf("Hello from Alder! %s %s\n", APP_NAME, HELLO_VERSION);
        report_identity();
        report_rootfs();
        if (report_data_volume() < 0)
                return 1;
        if (serving && serve(seconds) < 0)
                return 1;
        return 0;
}
