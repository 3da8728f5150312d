/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "alder/spawn.h"
#include "logd.h"

#define CONFIG_MAX_SIZE     (64u * 1024u)
#define DEFAULT_MAX_BYTES   (32ull * 1024 * 1024)
#define DEFAULT_RESERVE     (16ull * 1024 * 1024)
#define MAX_SEGMENT_DEFAULT (8ull * 1024 * 1024)
#define RCVBUF_SIZE         (8 * 1024 * 1024)
#define INGEST_BATCH        256 /* datagrams per round, so that API calls are served under a flood too */
#define DROPS_NOTE_MS       10000u
#define SYSLOG_LINE_MAX     2048
/* A record's values and keys in the native protocol: its payload bounds them, plus framing and the tail fields. */
#define FORWARD_BUF_SIZE (2 * LOGREC_MAX_PAYLOAD + 4096)
#define BOOT_ID_FILE     "/proc/sys/kernel/random/boot_id"
#define JOURNAL_SOCKET   "/run/systemd/journal/socket"
#define SYSLOG_SOCKET    "/dev/log"

uint64_t logd_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static uint64_t clock_us(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* ---- levels ---- */

static const char *const level_names[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};

const char *logd_level_name(int level)
{
        return ALDER_NAME_OF(level_names, level);
}

int logd_level_parse(const char *s)
{
        if (!s)
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        for (int i = 0; i < (int) ALDER_ARRAY_SIZE(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return i;
        return strcasecmp(s, "error") == 0 ? 3 : strcasecmp(s, "warn") == 0 ? 4 : -EINVAL;
}

/* ---- configuration ---- */

static int path_under(const char *root, const char *rel, const char *given, char **ret, alder_error **err)
{
        if (given)
                return (*ret = strdup(given)) ? 0 : alder_error_set(err, ENOMEM, "out of memory");
        return asprintf(ret, "%s%s", root, rel) < 0 ? alder_error_set(err, ENOMEM, "out of memory") : 0;
}

static int get_level(const json_t *obj, const char *src, const char *field, int *ret, alder_error **err)
{
        const char *s = NULL;
        int r = alder_json_get_string(obj, src, field, ALDER_JSON_OPTIONAL, &s, err);
        if (r < 0 || !s)
                return r;
        int level = logd_level_parse(s);
        if (level < 0)
                return alder_error_set(err, EINVAL, "%s: field '%s': '%s' is not a level (emerg..debug or 0-7)", src,
                                       field, s);
        *ret = level;
        return 0;
}

static int get_u64(const json_t *obj, const char *src, const char *field, int64_t min, uint64_t *ret, alder_error **err)
{
        int64_t v = (int64_t) *ret;
        int r = alder_json_get_int_range(obj, src, field, ALDER_JSON_OPTIONAL, min, INT64_MAX / 4, &v, err);
        *ret = (uint64_t) v;
        return r;
}

static int load_forward(struct logd *d, const json_t *doc, const char *src, alder_error **err)
{
        json_t *fwd = NULL;
        int r = alder_json_get_object(doc, src, "forward", ALDER_JSON_OPTIONAL, &fwd, err);
        if (r < 0 || !fwd)
                return r;
        static const char *const keys[] = {"to", "level", "socket", NULL};
        const char *to = NULL, *sock = NULL;
        r = alder_json_check_keys(doc, src, "forward", keys, err);
        if (r == 0)
                r = alder_json_get_string(doc, src, "forward.to", ALDER_JSON_OPTIONAL, &to, err);
        if (r == 0 && to) {
                static const char *const names[] = {"none", "journal", "syslog"};
                size_t i = 0;
                while (i < ALDER_ARRAY_SIZE(names) && strcmp(to, names[i]) != 0)
                        i++;
                if (i == ALDER_ARRAY_SIZE(names))
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'forward.to': '%s' is not one of none, journal, syslog", src,
                                               to);
                d->set.forward_to = (enum logd_forward_to) i;
        }
        if (r == 0)
                r = get_level(doc, src, "forward.level", &d->set.forward_level, err);
        if (r == 0)
                r = alder_json_get_string(doc, src, "forward.socket", ALDER_JSON_OPTIONAL, &sock, err);
        if (r == 0 && sock && sock[0] != '/')
                return alder_error_set(err, EINVAL, "%s: field 'forward.socket': '%s' is not an absolute path", src,
                                       sock);
        if (r == 0 && sock && !(d->set.forward_socket = strdup(sock)))
                return alder_error_set(err, ENOMEM, "out of memory");
        return r;
}

static int load_trusted(struct logd *d, const json_t *doc, const char *src, alder_error **err)
{
        json_t *uids = NULL;
        int r = alder_json_get_array(doc, src, "trusted_uids", ALDER_JSON_OPTIONAL, &uids, err);
        if (r < 0 || !uids)
                return r;
        if (json_array_size(uids) > LOGD_MAX_TRUSTED_UIDS)
                return alder_error_set(err, E2BIG, "%s: field 'trusted_uids': more than %u uids", src,
                                       LOGD_MAX_TRUSTED_UIDS);
        size_t i;
        json_t *v;
        json_array_foreach(uids, i, v)
        {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX - 1)
                        return alder_error_set(err, EINVAL, "%s: field 'trusted_uids[%zu]': expected a uid", src, i);
                d->set.trusted_uids[i] = (uint32_t) json_integer_value(v);
        }
        d->set.n_trusted = json_array_size(uids);
        return 0;
}

static int load_settings(struct logd *d, alder_error **err)
{
        d->set = (struct logd_settings){
                .max_bytes = DEFAULT_MAX_BYTES,
                .reserve_bytes = DEFAULT_RESERVE,
                .sync_level = ALDER_LOG_WARNING,
                .sync_interval_ms = 1000,
                .forward_level = ALDER_LOG_INFO,
                .management_level = ALDER_LOG_WARNING,
                .trusted_uids = {0},
                .n_trusted = 1,
        };
        _cleanup_json_ json_t *doc = NULL;
        const char *src = d->config_path;
        int r = alder_json_load_file(src, CONFIG_MAX_SIZE, &doc, err);
        if (r == -ENOENT && !d->cfg.config) {
                alder_error_clear(err);
                doc = json_object();
                r = doc ? 0 : alder_error_set(err, ENOMEM, "out of memory");
        }
        static const char *const keys[] = {"max_bytes",        "segment_bytes",    "reserve_bytes",
                                           "sync_level",       "sync_interval_ms", "forward",
                                           "management_level", "trusted_uids",     NULL};
        if (r == 0)
                r = alder_json_check_keys(doc, src, NULL, keys, err);
        if (r == 0)
                r = get_u64(doc, src, "max_bytes", 2 * LOGSTORE_MIN_SEGMENT, &d->set.max_bytes, err);
        /* by default 16 segments, each between the minimum and 8 MiB */
        d->set.segment_bytes =
                ALDER_MAX((uint64_t) LOGSTORE_MIN_SEGMENT, ALDER_MIN(d->set.max_bytes / 16, MAX_SEGMENT_DEFAULT));
        if (r == 0)
                r = get_u64(doc, src, "segment_bytes", LOGSTORE_MIN_SEGMENT, &d->set.segment_bytes, err);
        if (r == 0)
                r = get_u64(doc, src, "reserve_bytes", 0, &d->set.reserve_bytes, err);
        if (r == 0)
                r = get_level(doc, src, "sync_level", &d->set.sync_level, err);
        int64_t interval = d->set.sync_interval_ms;
        if (r == 0)
                r = alder_json_get_int_range(doc, src, "sync_interval_ms", ALDER_JSON_OPTIONAL, 0, 3600 * 1000,
                                             &interval, err);
        d->set.sync_interval_ms = (unsigned) interval;
        if (r == 0)
                r = load_forward(d, doc, src, err);
        if (r == 0)
                r = get_level(doc, src, "management_level", &d->set.management_level, err);
        if (r == 0)
                r = load_trusted(d, doc, src, err);
        return r;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (the kernel's form) or 32 hex digits. */
static int parse_boot_id(const char *s, uint8_t out[16])
{
        size_t k = 0;
        for (size_t i = 0; s[i] && s[i] != '\n'; i++) {
                if (s[i] == '-')
                        continue;
                int v = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                        : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                        : s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10
                                                     : -1;
                if (v < 0 || k == 32)
                        return -EINVAL;
                out[k / 2] = (uint8_t) (k % 2 ? out[k / 2] | v : v << 4);
                k++;
        }
        return k == 32 ? 0 : -EINVAL;
}

static int read_boot_id(struct logd *d, alder_error **err)
{
        const char *path = d->cfg.boot_id_file ? d->cfg.boot_id_file : BOOT_ID_FILE;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = alder_read_file(path, 128, &text, &len, err);
        if (r < 0)
                return alder_error_wrap(err, "boot id");
        if (strlen(text) != len || parse_boot_id(text, d->boot_id) < 0)
                return alder_error_set(err, EINVAL, "boot id: '%s' does not hold a UUID", path);
        for (int i = 0; i < 16; i++)
                snprintf(d->boot_hex + 2 * i, 3, "%02x", d->boot_id[i]);
        return 0;
}

/* ---- sockets ---- */

static int socket_address(const char *path, struct sockaddr_un *sa, alder_error **err)
{
        *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa->sun_path))
                return alder_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
        memcpy(sa->sun_path, path, strlen(path));
        return 0;
}

/* Is another logd reading there? A socket file nobody reads is stale. */
static bool socket_live(const struct sockaddr_un *sa)
{
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        return fd >= 0 && connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) == 0;
}

static int open_dgram(struct logd *d, alder_error **err)
{
        struct sockaddr_un sa;
        int r = socket_address(d->socket_path, &sa, err);
        if (r < 0)
                return r;
        if (socket_live(&sa))
                return alder_error_set(err, EADDRINUSE, "another alder-logd reads '%s'", d->socket_path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return alder_error_sys(err, errno, "socket");
        /* before bind: an entry that comes in at once has its sender's credentials too */
        int one = 1, size = RCVBUF_SIZE;
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                return alder_error_sys(err, errno, "SO_PASSCRED on '%s'", d->socket_path);
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)); /* bursts queue; the default works */
        if (unlink(d->socket_path) < 0 && errno != ENOENT)
                return alder_error_sys(err, errno, "remove stale socket '%s'", d->socket_path);
        /* every local process may log, as to journald: what it may claim is checked per entry */
        mode_t old = umask(0111);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return alder_error_sys(err, errno, "bind '%s'", d->socket_path);
        d->dgram_fd = steal_fd(&fd);
        return 0;
}

static int open_forward(struct logd *d, alder_error **err)
{
        if (d->set.forward_to == LOGD_FORWARD_NONE)
                return 0;
        if (!d->set.forward_socket &&
            !(d->set.forward_socket =
                      strdup(d->set.forward_to == LOGD_FORWARD_JOURNAL ? JOURNAL_SOCKET : SYSLOG_SOCKET)))
                return alder_error_set(err, ENOMEM, "out of memory");
        struct sockaddr_un sa;
        int r = socket_address(d->set.forward_socket, &sa, err);
        if (r < 0)
                return r;
        d->forward_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (d->forward_fd < 0)
                return alder_error_sys(err, errno, "socket");
        /* connected: journald or syslogd restarting shows as a failed send, counted, and the next one reconnects */
        (void) connect(d->forward_fd, (struct sockaddr *) &sa, sizeof(sa));
        return 0;
}

/* ---- init ---- */

static int make_paths(struct logd *d, const struct logd_config *cfg, alder_error **err)
{
        const char *root = cfg->root ? cfg->root : "";
        int r = path_under(root, "", NULL, &d->root, err);
        if (r == 0)
                r = path_under(root, "/config/logd.json", cfg->config, &d->config_path, err);
        if (r == 0)
                r = path_under(root, "/var/lib/alder/log", NULL, &d->store_dir, err);
        if (r == 0)
                r = path_under(root, "/run/alder/log.sock", NULL, &d->socket_path, err);
        if (r == 0)
                r = path_under(root, "/run/alder/logd.sock", NULL, &d->api_path, err);
        return r;
}

int logd_init(struct logd *d, const struct logd_config *cfg, alder_error **err)
{
        *d = (struct logd){.cfg = *cfg, .dgram_fd = -1, .signal_fd = -1, .forward_fd = -1};
        d->rbuf = malloc(LOGD_DGRAM_MAX);
        d->fwd_buf = malloc(FORWARD_BUF_SIZE);
        d->msg = malloc(sizeof(*d->msg));
        d->scratch = malloc(sizeof(*d->scratch));
        if (!d->rbuf || !d->fwd_buf || !d->msg || !d->scratch)
                return alder_error_set(err, ENOMEM, "out of memory");
        int r = make_paths(d, cfg, err);
        if (r == 0)
                r = load_settings(d, err);
        if (r == 0)
                r = read_boot_id(d, err);
        struct logstore_options so = {
                .dir = d->store_dir,
                .max_bytes = d->set.max_bytes,
                .segment_bytes = d->set.segment_bytes,
                .reserve_bytes = d->set.reserve_bytes,
        };
        memcpy(so.boot_id, d->boot_id, 16);
        if (r == 0)
                r = logstore_open(&so, &d->store, err);
        _cleanup_free_ char *run = NULL;
        if (r == 0)
                r = alder_path_parent(d->socket_path, &run, err);
        if (r == 0)
                r = alder_mkdir_p(run, 0755, err);
        /* entries first: once the API answers, senders find the datagram socket */
        if (r == 0)
                r = open_dgram(d, err);
        alder_ipc_server_options opts = {.name = "alder-logd", .socket_mode = 0600, .max_message_size = 4u << 20};
        if (r == 0)
                r = alder_ipc_server_new(d->api_path, logd_methods, d, &opts, &d->server, err);
        if (r == 0)
                r = open_forward(d, err);
        static const int signals[] = {SIGTERM, SIGINT, SIGHUP};
        if (r == 0)
                r = d->signal_fd = alder_signalfd_open(signals, ALDER_ARRAY_SIZE(signals), err);
        return r < 0 ? r : 0;
}

void logd_done(struct logd *d)
{
        logd_followers_free(d);
        alder_ipc_server_free(d->server);
        if (d->store)
                logstore_close(d->store);
        if (d->dgram_fd >= 0)
                (void) unlink(d->socket_path);
        alder_closep(&d->dgram_fd);
        alder_closep(&d->signal_fd);
        alder_closep(&d->forward_fd);
        void *owned[] = {d->root, d->config_path, d->store_dir, d->socket_path, d->api_path, d->set.forward_socket,
                         d->rbuf, d->fwd_buf,     d->msg,       d->scratch};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(owned); i++)
                free(owned[i]);
        *d = (struct logd){.dgram_fd = -1, .signal_fd = -1, .forward_fd = -1};
}

/* ---- forwarding ---- */

static void forward_send(struct logd *d, const struct iovec *iov, size_t n)
{
        struct msghdr mh = {.msg_iov = (struct iovec *) iov, .msg_iovlen = n};
        ssize_t r;
        while ((r = sendmsg(d->forward_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
                ;
        if (r < 0 && (errno == ECONNREFUSED || errno == ENOTCONN)) {
                /* the reader restarted: find its new socket once */
                struct sockaddr_un sa;
                if (socket_address(d->set.forward_socket, &sa, NULL) == 0 &&
                    connect(d->forward_fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        r = sendmsg(d->forward_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        if (r < 0)
                d->n.forward_errors++;
        else
                d->n.forwarded++;
}

/* KEY=value\n, or KEY\n + little-endian u64 size + value + \n when the value has a newline. */
static size_t put_native(uint8_t *out, const char *key, struct logrec_str v)
{
        size_t n = strlen(key);
        memcpy(out, key, n);
        if (v.len && memchr(v.p, '\n', v.len)) {
                uint64_t size = htole64((uint64_t) v.len);
                out[n++] = '\n';
                memcpy(out + n, &size, sizeof(size));
                n += sizeof(size);
        } else {
                out[n++] = '=';
        }
        if (v.len)
                memcpy(out + n, v.p, v.len);
        n += v.len;
        out[n++] = '\n';
        return n;
}

/*
 * The entry as logd sees it, not as it came: the source it was given (an
 * untrusted sender's with its prefix), app tags only when trusted, and who
 * sent it, since journald will see logd as the sender.
 */
static void forward_journal(struct logd *d, const struct logrec *r)
{
        char prio[2] = {(char) ('0' + r->level), 0}, num[3][24];
        const char *stream = r->flags & LOGREC_STDOUT ? "stdout" : r->flags & LOGREC_STDERR ? "stderr" : NULL;
        snprintf(num[0], sizeof(num[0]), "%" PRIu64, r->seq);
        snprintf(num[1], sizeof(num[1]), "%u", r->pid);
        snprintf(num[2], sizeof(num[2]), "%u", r->uid);
        struct {
                const char *key;
                struct logrec_str value;
        } head[] = {
                {"MESSAGE", r->message}, {"PRIORITY", {prio, 1}}, {"SYSLOG_IDENTIFIER", r->source},
                {"APP", r->app},         {"VERSION", r->version}, {"STREAM", {stream, stream ? 6 : 0}},
        };
        uint8_t *p = d->fwd_buf;
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(head); i++)
                if (i < 3 || head[i].value.len)
                        p += put_native(p, head[i].key, head[i].value);
        for (size_t i = 0; i < r->n_fields; i++) {
                char key[LOGREC_KEY_MAX + 1];
                memcpy(key, r->fields[i].key.p, r->fields[i].key.len);
                key[r->fields[i].key.len] = '\0';
                p += put_native(p, key, r->fields[i].value);
        }
        static const char *const tail_keys[] = {"ALDER_SEQ", "ALDER_PID", "ALDER_UID"};
        for (size_t i = 0; i < 3; i++)
                p += put_native(p, tail_keys[i], (struct logrec_str){num[i], strlen(num[i])});
        struct iovec iov = {d->fwd_buf, (size_t) (p - d->fwd_buf)};
        forward_send(d, &iov, 1);
}

/* RFC 3164 as syslogd reads it from /dev/log: "<PRI>Mmm dd hh:mm:ss SOURCE[PID]: message", one line. */
static void forward_syslog(struct logd *d, const struct logrec *r)
{
        char line[SYSLOG_LINE_MAX], stamp[32];
        time_t t = (time_t) (r->realtime_us / 1000000u);
        struct tm tm;
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", localtime_r(&t, &tm));
        int facility = r->flags & (LOGREC_STDOUT | LOGREC_STDERR) ? LOG_USER : LOG_DAEMON;
        int n = snprintf(line, sizeof(line), "<%d>%s %.*s[%u]: %.*s", facility | r->level, stamp, (int) r->source.len,
                         r->source.p, r->pid, (int) r->message.len, r->message.p);
        n = ALDER_MIN(n, (int) sizeof(line) - 1);
        for (int i = 0; i < n; i++)
                if ((unsigned char) line[i] < 0x20)
                        line[i] = ' ';
        struct iovec iov = {line, (size_t) n};
        forward_send(d, &iov, 1);
}

/* ---- ingest ---- */

static void stamp(struct logrec *r)
{
        r->realtime_us = clock_us(CLOCK_REALTIME);
        r->monotonic_us = clock_us(CLOCK_MONOTONIC);
}

/* To the store, the forward target (unless logd's own: its log has it) and, through the loop, the followers. */
static void store_record(struct logd *d, struct logrec *r, bool forward)
{
        _cleanup_error_ alder_error *e = NULL;
        if (logstore_append(d->store, r, &e) == 0) {
                d->n.stored++;
                if (r->level <= d->set.sync_level)
                        d->sync_now = true;
        } else {
                r->seq = 0; /* counted by the store; reported by the drop notes */
        }
        if (!forward || d->set.forward_to == LOGD_FORWARD_NONE || r->level > d->set.forward_level)
                return;
        if (d->set.forward_to == LOGD_FORWARD_JOURNAL)
                forward_journal(d, r);
        else
                forward_syslog(d, r);
}

void logd_event(struct logd *d, int level, const char *fmt, ...)
{
        char message[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        alder_log(level, NULL, "%s", message);
        if (!d->store)
                return;
        struct logrec r = {
                .pid = (uint32_t) getpid(),
                .uid = (uint32_t) getuid(),
                .gid = (uint32_t) getgid(),
                .level = (uint8_t) level,
                .flags = LOGREC_TRUSTED,
                .source = {"alder-logd", strlen("alder-logd")},
                .message = {message, strlen(message)},
        };
        stamp(&r);
        store_record(d, &r, false);
}

static bool uid_trusted(const struct logd *d, uint32_t uid)
{
        for (size_t i = 0; i < d->set.n_trusted; i++)
                if (d->set.trusted_uids[i] == uid)
                        return true;
        return false;
}

/* /proc/PID/comm, for a sender that names itself nowhere. */
static bool read_comm(uint32_t pid, char out[static 32])
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%u/comm", pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, out, 31) : -1;
        if (n <= 0)
                return false;
        out[n] = '\0';
        out[strcspn(out, "\n")] = '\0';
        return true;
}

static void handle_datagram(struct logd *d, size_t len, const struct ucred *cred)
{
        _cleanup_error_ alder_error *e = NULL;
        if (logd_msg_parse(d->rbuf, len, d->msg, &e) < 0) {
                d->n.malformed++;
                alder_log_error(ALDER_LOG_DEBUG, e, NULL, "malformed entry from pid %d", cred ? cred->pid : 0);
                return;
        }
        d->n.fields_rejected += d->msg->rejected;
        struct logd_origin o = {.uid = UINT32_MAX, .gid = UINT32_MAX};
        if (cred)
                o = (struct logd_origin){(uint32_t) cred->pid, cred->uid, cred->gid, uid_trusted(d, cred->uid), NULL};
        else
                d->n.no_credentials++;
        char comm[32];
        if (!logd_msg_find(d->msg, "SYSLOG_IDENTIFIER") && o.pid && read_comm(o.pid, comm))
                o.comm = comm;
        struct logrec r;
        logd_msg_record(d->msg, &o, d->scratch, &r);
        stamp(&r);
        store_record(d, &r, true);
}

static const struct ucred *find_credentials(struct msghdr *mh)
{
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                    c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                        return (const struct ucred *) CMSG_DATA(c);
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) /* journald's memfds: not taken */
                        for (int *fd = (int *) CMSG_DATA(c); (char *) (fd + 1) <= (char *) c + c->cmsg_len; fd++)
                                close(*fd);
        }
        return NULL;
}

size_t logd_ingest(struct logd *d, size_t max)
{
        size_t n = 0;
        while (n < max) {
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(4 * sizeof(int))];
                } control;
                struct iovec iov = {d->rbuf, LOGD_DGRAM_MAX};
                struct msghdr mh = {
                        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
                ssize_t k = recvmsg(d->dgram_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        break; /* EAGAIN: all read */
                n++;
                d->n.received++;
                const struct ucred *cred = find_credentials(&mh);
                if (mh.msg_flags & MSG_TRUNC)
                        d->n.oversize++;
                else
                        handle_datagram(d, (size_t) k, cred);
        }
        return n;
}

/* ---- the loop ---- */

void logd_flush(struct logd *d)
{
        _cleanup_error_ alder_error *e = NULL;
        if (logstore_flush(d->store, &e) < 0)
                alder_log_error(ALDER_LOG_DEBUG, e, NULL, "write the store");
}

static uint64_t drops(const struct logd *d)
{
        const struct logstore_stats *s = logstore_stats(d->store);
        return s->dropped_no_space + s->dropped_write_error + s->dropped_too_big + d->n.malformed + d->n.oversize;
}

/* At most every DROPS_NOTE_MS, an entry saying what was lost since the last one. */
static void note_drops(struct logd *d, uint64_t now)
{
        uint64_t total = drops(d);
        if (total == d->noted_drops || (d->drops_noted_ms && now - d->drops_noted_ms < DROPS_NOTE_MS))
                return;
        const struct logstore_stats *s = logstore_stats(d->store);
        logd_event(d, ALDER_LOG_WARNING,
                   "dropped %" PRIu64 " entries (total: %" PRIu64 " below the free-space reserve, %" PRIu64
                   " write errors, %" PRIu64 " too big, %" PRIu64 " malformed, %" PRIu64 " oversize datagrams)",
                   total - d->noted_drops, s->dropped_no_space, s->dropped_write_error, s->dropped_too_big,
                   d->n.malformed, d->n.oversize);
        d->noted_drops = drops(d); /* the note itself may have been dropped */
        d->drops_noted_ms = now;
}

uint64_t logd_sync_tick(struct logd *d, uint64_t now)
{
        note_drops(d, now);
        uint64_t next_note = drops(d) != d->noted_drops ? d->drops_noted_ms + DROPS_NOTE_MS : 0;
        if (!logstore_unsynced(d->store))
                return next_note;
        uint64_t due = d->last_sync_ms + d->set.sync_interval_ms;
        if (!d->sync_now && now < due) {
                logd_flush(d);
                return next_note ? ALDER_MIN(next_note, due) : due;
        }
        _cleanup_error_ alder_error *e = NULL;
        if (logstore_sync(d->store, &e) < 0)
                alder_log_error(ALDER_LOG_DEBUG, e, NULL, "sync");
        d->last_sync_ms = now;
        d->sync_now = false;
        return next_note;
}

static void handle_signals(struct logd *d)
{
        struct signalfd_siginfo si;
        while (read(d->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                if (si.ssi_signo == SIGHUP)
                        alder_log_info("SIGHUP: the configuration is read at start only; restart alder-logd");
                else
                        d->stopping = true;
        }
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
        return !a ? b : !b ? a : ALDER_MIN(a, b);
}

static int run_once(struct logd *d, alder_error **err)
{
        uint64_t now = logd_now_ms();
        uint64_t next = earliest(logd_sync_tick(d, now), logd_followers_tick(d, now));
        struct pollfd fds[] = {
                {.fd = d->signal_fd, .events = POLLIN},
                {.fd = d->dgram_fd, .events = POLLIN},
                {.fd = alder_ipc_server_fd(d->server), .events = POLLIN},
        };
        int timeout = -1;
        now = logd_now_ms();
        if (next)
                timeout = next > now ? (int) ALDER_MIN(next - now, (uint64_t) 60000) : 0;
        if (poll(fds, ALDER_ARRAY_SIZE(fds), timeout) < 0)
                return errno == EINTR ? 0 : alder_error_sys(err, errno, "poll");
        if (fds[0].revents)
                handle_signals(d);
        if (fds[1].revents && logd_ingest(d, INGEST_BATCH) > 0) {
                logd_flush(d);
                logd_followers_wake(d);
        }
        if (fds[2].revents)
                return alder_ipc_server_run_once(d->server, 0, err);
        return 0;
}

int logd_run(struct logd *d, alder_error **err)
{
        const struct logstore_stats *s = logstore_stats(d->store);
        logd_event(d, ALDER_LOG_INFO,
                   "started: boot %s, store %" PRIu64 " of %" PRIu64 " bytes in %zu segments, sequence %" PRIu64
                   "..%" PRIu64 ", %" PRIu64 " damaged regions skipped, torn tail of %" PRIu64 " bytes cut",
                   d->boot_hex, logstore_bytes(d->store), d->set.max_bytes, logstore_n_segments(d->store),
                   logstore_first_seq(d->store), logstore_next_seq(d->store) - 1, s->damaged_regions,
                   s->torn_tail_bytes);
        while (!d->stopping) {
                int r = run_once(d, err);
                if (r < 0)
                        return r;
        }
        /* what is still queued is read before the store closes (bounded: senders may go on) */
        for (int i = 0; i < 64 && logd_ingest(d, INGEST_BATCH) > 0; i++)
                ;
        logd_event(d, ALDER_LOG_INFO, "stopping");
        return logstore_sync(d->store, err);
}
