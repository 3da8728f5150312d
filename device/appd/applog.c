/* SPDX-License-Identifier: Apache-2.0 */
/*
 * App output: each container's stdout and stderr are FIFOs in
 * ROOT/run/alder/output (ID.out, ID.err). The container holds them open for
 * reading and writing, so it never gets SIGPIPE while appd is away (a restart
 * of appd re-opens the FIFOs and reads on; meanwhile the app blocks once the
 * pipe buffer is full). appd reads them line by line and sends each line
 *   - to the system log (journal or syslog) tagged APP=name VERSION=version
 *     STREAM=stdout|stderr, at priority info (stdout) or warning (stderr);
 *   - to the per-app file ROOT/var/log/alder/apps/NAME.log, which is rotated
 *     to NAME.log.1 when it exceeds the configured size.
 * The full logging framework (alder-logd) plugs in as another destination.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "appd.h"

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
        if (!u || unit_log_fd(d, u) < 0)
                return;
        _cleanup_error_ alder_error *e = NULL;
        if (alder_write_all(u->log_fd, data, len, "app log", &e) < 0) /* a full disk loses output, not the app */
                alder_log_error(ALDER_LOG_DEBUG, e, ALDER_LOG_FIELDS("APP", u->name), "write log");
        rotate_if_full(d, u);
}

static void emit_line(struct instance *inst, const struct applog_stream *s, const char *line, size_t len)
{
        const char *name = inst->unit ? inst->unit->name : inst->id;
        alder_log(s->is_stderr ? ALDER_LOG_WARNING : ALDER_LOG_INFO,
                  ALDER_LOG_FIELDS("APP", name, "VERSION", inst->version, "STREAM", s->is_stderr ? "stderr" : "stdout"),
                  "%.*s", (int) len, line);
}

/* Hands the complete lines in the buffer on; keeps a partial one unless `flush`. */
static void drain_lines(struct appd *d, struct instance *inst, struct applog_stream *s, bool flush)
{
        size_t start = 0;
        for (size_t i = 0; i < s->len; i++) {
                if (s->buf[i] != '\n')
                        continue;
                emit_line(inst, s, s->buf + start, i - start);
                start = i + 1;
        }
        /* a line longer than the buffer is cut into pieces rather than held forever */
        bool cut = start == 0 && s->len == sizeof(s->buf);
        if ((flush || cut) && start < s->len) {
                emit_line(inst, s, s->buf + start, s->len - start);
                start = s->len;
        }
        write_file(d, inst->unit, s->buf, start);
        memmove(s->buf, s->buf + start, s->len - start);
        s->len -= start;
}

void applog_read(struct appd *d, struct instance *inst, struct applog_stream *s)
{
        while (s->fd >= 0) {
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
