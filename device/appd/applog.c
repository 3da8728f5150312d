/* SPDX-License-Identifier: Apache-2.0 */
/*
 * App output: each container's stdout and stderr are FIFOs in
 * ROOT/run/alder/output (ID.out, ID.err). The container holds them open for
 * reading and writing, so it never gets SIGPIPE while appd is away (a restart
 * of appd re-opens the FIFOs and reads on; meanwhile the app blocks once the
 * pipe buffer is full). appd reads them line by line and sends each line,
 * tagged APP=name VERSION=version STREAM=stdout|stderr at priority info
 * (stdout) or warning (stderr):
 *   - when alder-logd runs, to it alone (its datagram socket, logd_socket):
 *     logd stores, tags and forwards it. The socket is connected and
 *     non-blocking: when logd's queue is full, appd stops reading the FIFOs
 *     until logd takes more (the apps block on their full pipes: nothing is
 *     lost), and gives up on logd for a while after LOGD_BLOCK_MAX_MS;
 *   - otherwise (logd not running, or not taking output), to the system log
 *     (journal or syslog) and to the per-app file
 *     ROOT/var/log/alder/apps/NAME.log, which is rotated to NAME.log.1 when
 *     it exceeds the configured size, and where `alder app logs --file`
 *     finds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "appd.h"

#define LOGD_RETRY_MS     1000 /* between attempts to reach alder-logd */
#define LOGD_BLOCK_MAX_MS 5000 /* logd not taking output this long: the file takes it */

static int fifo_path(struct appd *d, const struct instance *inst, bool is_stderr, char **ret, alder_error **err)
{
        if (asprintf(ret, "%s/%s.%s", d->fifos_path, inst->id, is_stderr ? "err" : "out") < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        return 0;
}

/* The read end (ours) and, when creating, the write end handed to the container. */
static int open_fifo(struct appd *d, struct instance *inst, struct applog_stream *s, bool create, int *ret_w,
                     alder_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r = fifo_path(d, inst, s->is_stderr, &path, err);
        if (r < 0)
                return r;
        if (create && (unlink(path) < 0 && errno != ENOENT))
                return alder_error_sys(err, errno, "remove stale FIFO '%s'", path);
        if (create && mkfifo(path, 0600) < 0)
                return alder_error_sys(err, errno, "create FIFO '%s'", path);
        s->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (s->fd < 0)
                return alder_error_sys(err, errno, "open FIFO '%s'", path);
        if (!create)
                return 0;
        /* read-write: the container itself keeps a reader, so its writes never raise SIGPIPE */
        *ret_w = open(path, O_RDWR | O_CLOEXEC);
        if (*ret_w < 0)
                return alder_error_sys(err, errno, "open FIFO '%s'", path);
        return 0;
}

int applog_open_fifos(struct appd *d, struct instance *inst, bool create, int *ret_out_w, int *ret_err_w,
                      alder_error **err)
{
        int r = open_fifo(d, inst, &inst->out, create, ret_out_w, err);
        return r < 0 ? r : open_fifo(d, inst, &inst->err, create, ret_err_w, err);
}

void applog_close(struct appd *d, struct instance *inst)
{
        struct applog_stream *streams[] = {&inst->out, &inst->err};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(streams); i++) {
                alder_closep(&streams[i]->fd);
                _cleanup_free_ char *path = NULL;
                if (fifo_path(d, inst, streams[i]->is_stderr, &path, NULL) == 0)
                        (void) unlink(path);
        }
}

static int log_path(struct appd *d, const char *name, const char *suffix, char **ret)
{
        return asprintf(ret, "%s/%s.log%s", d->logs_path, name, suffix) < 0 ? -ENOMEM : 0;
}

/* Opens (or after rotation re-opens) the unit's log file. */
static int unit_log_fd(struct appd *d, struct unit *u)
{
        if (u->log_fd >= 0)
                return u->log_fd;
        _cleanup_free_ char *path = NULL;
        if (log_path(d, u->name, "", &path) < 0)
                return -1;
        u->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        return u->log_fd;
}

/* NAME.log → NAME.log.1 (replacing the older one) once it has grown past the limit. */
static void rotate_if_full(struct appd *d, struct unit *u)
{
        struct stat st;
        if (fstat(u->log_fd, &st) < 0 || (uint64_t) st.st_size < d->set.log_max_bytes)
                return;
        _cleanup_free_ char *path = NULL, *old = NULL;
        if (log_path(d, u->name, "", &path) < 0 || log_path(d, u->name, ".1", &old) < 0)
                return;
        if (rename(path, old) < 0)
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("APP", u->name), "rotate '%s': %s", path,
                          strerror(errno));
        alder_closep(&u->log_fd);
}

static void write_file(struct appd *d, struct unit *u, const char *data, size_t len)
{
        if (!u || !len || unit_log_fd(d, u) < 0)
                return;
        _cleanup_error_ alder_error *e = NULL;
        if (alder_write_all(u->log_fd, data, len, "app log", &e) < 0) /* a full disk loses output, not the app */
                alder_log_error(ALDER_LOG_DEBUG, e, ALDER_LOG_FIELDS("APP", u->name), "write log");
        rotate_if_full(d, u);
}

static const char *app_name(const struct instance *inst)
{
        return inst->unit ? inst->unit->name : inst->id;
}

/*
 * Without alder-logd: the system log (the daemon's own log target, unless that
 * is logd, which is what failed) and the per-app file.
 */
static void fallback_line(struct appd *d, struct instance *inst, const struct applog_stream *s, const char *line,
                          size_t len, size_t consumed)
{
        if (alder_log_get_target() != ALDER_LOG_TARGET_ALDER)
                alder_log(s->is_stderr ? ALDER_LOG_WARNING : ALDER_LOG_INFO,
                          ALDER_LOG_FIELDS("APP", app_name(inst), "VERSION", inst->version, "STREAM",
                                           s->is_stderr ? "stderr" : "stdout"),
                          "%.*s", (int) len, line);
        write_file(d, inst->unit, line, consumed);
}

/* A connected, non-blocking socket to alder-logd; -1 when it is not there (tried again after LOGD_RETRY_MS). */
static int logd_fd(struct appd *d)
{
        if (d->logd_fd >= 0)
                return d->logd_fd;
        uint64_t now = appd_now_ms();
        if (now < d->logd_retry_ms)
                return -1;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || strlen(d->logd_socket) >= sizeof(sa.sun_path) ||
            (memcpy(sa.sun_path, d->logd_socket, strlen(d->logd_socket)),
             connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)) {
                d->logd_retry_ms = now + LOGD_RETRY_MS;
                return -1;
        }
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("SOCKET", d->logd_socket), "apps' output goes to alder-logd");
        d->logd_fd = steal_fd(&fd);
        return d->logd_fd;
}

enum delivery { SENT, WAIT, NO_LOGD };

static enum delivery logd_send(struct appd *d, int fd, const void *data, size_t len)
{
        ssize_t r;
        while ((r = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
                ;
        if (r >= 0)
                return SENT;
        if (errno == EAGAIN) {
                d->logd_blocked_ms = appd_now_ms();
                return WAIT;
        }
        return NO_LOGD; /* ECONNREFUSED: logd restarted or stopped; the caller reconnects once */
}

/* One line to alder-logd: sent, to wait for (logd's queue is full), or no logd. */
static enum delivery logd_line(struct appd *d, struct instance *inst, const struct applog_stream *s, const char *line,
                               size_t len)
{
        if (d->logd_blocked_ms)
                return WAIT;
        if (logd_fd(d) < 0)
                return NO_LOGD;
        char message[sizeof(s->buf) + 1];
        memcpy(message, line, len);
        message[len] = '\0';
        size_t n;
        _cleanup_free_ char *dgram =
                alder_log_native_entry(s->is_stderr ? ALDER_LOG_WARNING : ALDER_LOG_INFO, app_name(inst), message,
                                       ALDER_LOG_FIELDS("APP", app_name(inst), "VERSION", inst->version, "STREAM",
                                                        s->is_stderr ? "stderr" : "stdout"),
                                       &n);
        if (!dgram)
                return NO_LOGD;
        enum delivery r = logd_send(d, d->logd_fd, dgram, n);
        if (r == NO_LOGD) { /* connected to a logd that has gone: the socket of a new one, if there is one */
                alder_closep(&d->logd_fd);
                d->logd_retry_ms = 0;
                r = logd_fd(d) >= 0 ? logd_send(d, d->logd_fd, dgram, n) : NO_LOGD;
        }
        if (r == NO_LOGD) {
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("SOCKET", d->logd_socket),
                          "alder-logd is not running: apps' output goes to %s until it is", d->logs_path);
                alder_closep(&d->logd_fd);
                d->logd_retry_ms = appd_now_ms() + LOGD_RETRY_MS;
        }
        return r;
}

/*
 * One line: to alder-logd, or to the fallback. With `wait` false (the
 * instance has gone) a line that would wait for logd goes to the fallback.
 * False when the line waits (it stays in the buffer).
 */
static bool deliver(struct appd *d, struct instance *inst, const struct applog_stream *s, const char *line, size_t len,
                    size_t consumed, bool wait)
{
        enum delivery r = logd_line(d, inst, s, line, len);
        if (r == WAIT && wait)
                return false;
        if (r != SENT)
                fallback_line(d, inst, s, line, len, consumed);
        return true;
}

/* Hands the complete lines in the buffer on; keeps a partial one unless `flush`, and those that wait for logd. */
static void drain_lines(struct appd *d, struct instance *inst, struct applog_stream *s, bool flush)
{
        bool wait = !flush && !inst->exited;
        size_t start = 0;
        bool waiting = false;
        for (size_t i = 0; i < s->len && !waiting; i++) {
                if (s->buf[i] != '\n')
                        continue;
                waiting = !deliver(d, inst, s, s->buf + start, i - start, i + 1 - start, wait);
                if (!waiting)
                        start = i + 1;
        }
        /* a line longer than the buffer is cut into pieces rather than held forever */
        bool cut = start == 0 && s->len == sizeof(s->buf);
        if (!waiting && (flush || cut) && start < s->len &&
            deliver(d, inst, s, s->buf + start, s->len - start, s->len - start, wait))
                start = s->len;
        memmove(s->buf, s->buf + start, s->len - start);
        s->len -= start;
}

void applog_read(struct appd *d, struct instance *inst, struct applog_stream *s)
{
        drain_lines(d, inst, s, false); /* what waited for logd first */
        /* a full buffer waits for logd: reading nothing would look like the end */
        while (s->fd >= 0 && s->len < sizeof(s->buf)) {
                ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        if (n == 0 || errno != EAGAIN) /* every writer has gone */
                                alder_closep(&s->fd);
                        break;
                }
                s->len += (size_t) n;
                drain_lines(d, inst, s, false);
        }
        if (s->fd < 0 && s->len)
                drain_lines(d, inst, s, true);
        if (s->fd < 0 && inst->unit && inst->unit->log_fd >= 0)
                (void) fdatasync(inst->unit->log_fd);
}

int applog_logd_wait_fd(const struct appd *d)
{
        return d->logd_blocked_ms ? d->logd_fd : -1;
}

uint64_t applog_logd_deadline(const struct appd *d)
{
        return d->logd_blocked_ms ? d->logd_blocked_ms + LOGD_BLOCK_MAX_MS : 0;
}

void applog_logd_resume(struct appd *d, bool timed_out)
{
        if (!d->logd_blocked_ms)
                return;
        d->logd_blocked_ms = 0;
        if (timed_out) {
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("SOCKET", d->logd_socket),
                          "alder-logd has not taken apps' output for %d s: it goes to %s for now",
                          LOGD_BLOCK_MAX_MS / 1000, d->logs_path);
                alder_closep(&d->logd_fd);
                d->logd_retry_ms = appd_now_ms() + LOGD_RETRY_MS;
        }
        for (struct instance *i = d->instances; i; i = i->next) {
                applog_read(d, i, &i->out);
                applog_read(d, i, &i->err);
        }
}

int appd_read_log(struct appd *d, const char *name, int64_t offset, size_t max, json_t **ret, alder_error **err)
{
        int r = alder_app_name_check(name, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = NULL;
        if (log_path(d, name, "", &path) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? alder_error_set(err, ENOENT, "app '%s' has no log yet", name)
                                       : alder_error_sys(err, errno, "open log '%s'", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return alder_error_sys(err, errno, "stat log '%s'", path);
        /* offset < 0: the last `max` bytes; beyond the end (the log was rotated): from the start. */
        int64_t size = st.st_size;
        int64_t from = offset < 0 ? (size > (int64_t) max ? size - (int64_t) max : 0) : offset > size ? 0 : offset;
        size_t n = (size_t) ALDER_MIN((int64_t) max, size - from);
        _cleanup_free_ char *buf = malloc(n ? n : 1);
        if (!buf)
                return alder_error_set(err, ENOMEM, "out of memory");
        ssize_t got = pread(fd, buf, n, from);
        if (got < 0)
                return alder_error_sys(err, errno, "read log '%s'", path);
        *ret = json_pack("{s:o,s:I,s:I}", "data", alder_json_string_lossy(buf, (size_t) got), "offset",
                         (json_int_t) (from + got), "size", (json_int_t) size);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}
