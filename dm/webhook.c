/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Webhook delivery: the queue's events go to the callback URL as an HTTP PUT
 * of the notification message (application/json), with the headers the
 * callback names. A delivery counts when the receiver answers 2xx; otherwise
 * it is retried, waiting 1 s, 2 s, 4 s ... up to 60 s between attempts, and
 * the events wait in the hub meanwhile (its ring bounds them).
 *
 * A plain HTTP/1.1 client over a socket: http:// only, every step bounded by
 * a timeout.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alder/json.h"
#include "alder/log.h"
#include "rest.h"
#include "util.h"

#define BATCH_MAX        100
#define BACKOFF_MAX_MS   60000
#define IO_TIMEOUT_MS    10000
#define HEADERS_MAX      16
#define HEADER_VALUE_MAX 1024

struct dm_webhook {
        dm_store *store;
        dm_hub *hub;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool reload, stop, active;
        json_t *cb;
};

struct url {
        char host[256];
        char port[8];
        char path[1024];
};

static int parse_url(const char *url, struct url *u, alder_error **err)
{
        if (strncmp(url, "https://", 8) == 0)
                return alder_error_set(err, ENOTSUP, "url: https callbacks are not implemented (only http://)");
        if (strncmp(url, "http://", 7) != 0)
                return alder_error_set(err, EINVAL, "url: expected http://HOST[:PORT]/PATH");
        const char *h = url + 7, *end = h + strcspn(h, "/?#");
        const char *port = NULL;
        size_t hlen;
        if (*h == '[') {
                const char *close = memchr(h, ']', (size_t) (end - h));
                if (!close)
                        return alder_error_set(err, EINVAL, "url: unterminated IPv6 address");
                hlen = (size_t) (close - h - 1);
                h++;
                if (close + 1 < end && close[1] == ':')
                        port = close + 2;
        } else {
                const char *colon = memchr(h, ':', (size_t) (end - h));
                hlen = (size_t) ((colon ? colon : end) - h);
                port = colon ? colon + 1 : NULL;
        }
        if (hlen == 0 || hlen >= sizeof(u->host))
                return alder_error_set(err, EINVAL, "url: bad host");
        memcpy(u->host, h, hlen);
        u->host[hlen] = '\0';
        size_t plen = port ? (size_t) (end - port) : 0;
        if (port && (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen))
                return alder_error_set(err, EINVAL, "url: bad port");
        snprintf(u->port, sizeof(u->port), "%.*s", port ? (int) plen : 2, port ? port : "80");
        const char *path = *end == '/' ? end : "/";
        if (strlen(path) >= sizeof(u->path) || !dm_is_printable(path, sizeof(u->path), NULL))
                return alder_error_set(err, EINVAL, "url: bad path");
        snprintf(u->path, sizeof(u->path), "%s", path);
        return 0;
}

static bool header_name_ok(const char *s)
{
        return dm_is_printable(s, 64, "()<>@,;:\\\"/[]?={}");
}

int dm_webhook_check(const json_t *cb, alder_error **err)
{
        static const char *const allowed[] = {"url", "headers", NULL};
        const char *url;
        json_t *headers = NULL;
        struct url u;
        int r = alder_json_check_keys(cb, "callback", NULL, allowed, err);
        if (r >= 0)
                r = alder_json_get_string(cb, "callback", "url", 0, &url, err);
        if (r >= 0)
                r = alder_json_get_object(cb, "callback", "headers", ALDER_JSON_OPTIONAL, &headers, err);
        if (r >= 0)
                r = parse_url(url, &u, err);
        if (r < 0)
                return r;
        if (json_object_size(headers) > HEADERS_MAX)
                return alder_error_set(err, E2BIG, "headers: more than %d", HEADERS_MAX);
        const char *k;
        json_t *v;
        json_object_foreach(headers, k, v)
        {
                const char *s = json_string_value(v);
                if (!header_name_ok(k))
                        return alder_error_set(err, EINVAL, "headers: bad header name '%s'", k);
                if (!s || strlen(s) > HEADER_VALUE_MAX || strpbrk(s, "\r\n"))
                        return alder_error_set(err, EINVAL, "headers.%s: expected a string of one line", k);
        }
        return 0;
}

/* Waits until fd is ready for `events` or the deadline (monotonic ms) passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
        for (;;) {
                int64_t left = deadline - dm_mono_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = events};
                int n = poll(&p, 1, (int) left);
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

static int connect_to(const struct url *u, int64_t deadline, alder_error **err)
{
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res;
        int r = getaddrinfo(u->host, u->port, &hints, &res);
        if (r != 0)
                return alder_error_set(err, EHOSTUNREACH, "resolve '%s': %s", u->host, gai_strerror(r));
        int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                freeaddrinfo(res);
                return alder_error_sys(err, errno, "socket");
        }
        r = connect(fd, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
        if (r < 0 && errno != EINPROGRESS) {
                r = alder_error_sys(err, errno, "connect to %s:%s", u->host, u->port);
                close(fd);
                return r;
        }
        int so = 0;
        socklen_t len = sizeof(so);
        if ((r = wait_fd(fd, POLLOUT, deadline)) < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) < 0 || so) {
                r = alder_error_sys(err, r < 0 ? -r : so ? so : errno, "connect to %s:%s", u->host, u->port);
                close(fd);
                return r;
        }
        return fd;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline, alder_error **err)
{
        while (len > 0) {
                int r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return alder_error_sys(err, -r, "send");
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return alder_error_sys(err, errno, "send");
                if (n > 0) {
                        buf += n;
                        len -= (size_t) n;
                }
        }
        return 0;
}

/* PUTs body to the callback; returns the HTTP status. */
static int http_put(const json_t *cb, const char *body, alder_error **err)
{
        struct url u;
        int r = parse_url(json_string_value(json_object_get(cb, "url")), &u, err);
        if (r < 0)
                return r;
        int64_t deadline = dm_mono_ms() + IO_TIMEOUT_MS;
        _cleanup_close_ int fd = connect_to(&u, deadline, err);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *extra = strdup("");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(cb, "headers"), k, v)
        {
                char *more;
                if (asprintf(&more, "%s%s: %s\r\n", extra, k, json_string_value(v)) < 0)
                        return alder_error_set(err, ENOMEM, "out of memory");
                free(extra);
                extra = more;
        }
        _cleanup_free_ char *head = NULL;
        size_t len = strlen(body);
        if (!extra || asprintf(&head,
                               "PUT %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                               "Content-Length: %zu\r\nConnection: close\r\nUser-Agent: alder-dm\r\n%s\r\n",
                               u.path, u.host, u.port, len, extra) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        if ((r = send_all(fd, head, strlen(head), deadline, err)) < 0 ||
            (r = send_all(fd, body, len, deadline, err)) < 0)
                return r;
        char resp[256];
        size_t got = 0;
        while (got < sizeof(resp) - 1 && !memchr(resp, '\n', got)) {
                if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
                        return alder_error_sys(err, -r, "read the answer");
                ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
                if (n == 0)
                        break;
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return alder_error_sys(err, errno, "read the answer");
                if (n > 0)
                        got += (size_t) n;
        }
        resp[got] = '\0';
        int status;
        if (sscanf(resp, "HTTP/1.%*[01] %3d", &status) != 1)
                return alder_error_set(err, EBADMSG, "the receiver did not answer with HTTP");
        return status;
}

static void load(dm_webhook *w)
{
        _cleanup_error_ alder_error *err = NULL;
        json_t *cb = NULL;
        if (dm_store_setting_get(w->store, "callback", &cb, &err) < 0)
                alder_log_error(ALDER_LOG_ERR, err, NULL, "load the callback");
        json_decref(w->cb);
        w->cb = cb;
        w->active = cb != NULL;
}

/* Waits up to ms for a reload or stop (lock held). */
static void pause_for(dm_webhook *w, int ms)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long) (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        while (!w->reload && !w->stop)
                if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT)
                        break;
}

static void *run(void *arg)
{
        dm_webhook *w = arg;
        int backoff = 0;
        pthread_mutex_lock(&w->lock);
        while (!w->stop) {
                if (w->reload) {
                        w->reload = false;
                        backoff = 0;
                        load(w);
                }
                if (!w->cb) {
                        pause_for(w, 1000);
                        continue;
                }
                json_t *cb = json_incref(w->cb);
                pthread_mutex_unlock(&w->lock);

                uint64_t upto;
                json_t *msg = dm_hub_queue_wait(w->hub, 1000, BATCH_MAX, false, &upto);
                char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
                json_decref(msg);
                int status = 0;
                _cleanup_error_ alder_error *err = NULL;
                if (body)
                        status = http_put(cb, body, &err);
                free(body);
                if (status >= 200 && status < 300) {
                        dm_hub_queue_commit(w->hub, upto);
                        backoff = 0;
                } else if (msg) {
                        backoff = backoff ? ALDER_MIN(2 * backoff, BACKOFF_MAX_MS) : 1000;
                        const char *url = json_string_value(json_object_get(cb, "url"));
                        if (status < 0)
                                alder_log_error(ALDER_LOG_WARNING, err, ALDER_LOG_FIELDS("URL", url),
                                                "callback delivery failed, retrying in %d ms", backoff);
                        else
                                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("URL", url),
                                          "callback answered HTTP %d, retrying in %d ms", status, backoff);
                }
                json_decref(cb);
                pthread_mutex_lock(&w->lock);
                if (backoff && !(status >= 200 && status < 300))
                        pause_for(w, backoff);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int dm_webhook_start(dm_store *store, dm_hub *hub, dm_webhook **ret, alder_error **err)
{
        dm_webhook *w = calloc(1, sizeof(*w));
        if (!w)
                return alder_error_set(err, ENOMEM, "out of memory");
        w->store = store;
        w->hub = hub;
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &attr);
        pthread_condattr_destroy(&attr);
        load(w);
        int r = pthread_create(&w->thread, NULL, run, w);
        if (r != 0) {
                json_decref(w->cb);
                free(w);
                return alder_error_sys(err, r, "start the webhook thread");
        }
        *ret = w;
        return 0;
}

void dm_webhook_reload(dm_webhook *w)
{
        pthread_mutex_lock(&w->lock);
        w->reload = true;
        /* Known at once: a pull right after a DELETE of the callback must not be refused. */
        load(w);
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

bool dm_webhook_active(dm_webhook *w)
{
        pthread_mutex_lock(&w->lock);
        bool a = w->active;
        pthread_mutex_unlock(&w->lock);
        return a;
}

void dm_webhook_stop(dm_webhook *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        json_decref(w->cb);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
}
