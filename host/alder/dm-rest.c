/* SPDX-License-Identifier: Apache-2.0 */
#include "dm-rest.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alder/json.h"

/* Answers and events are small JSON documents: anything bigger is a broken peer. */
#define MAX_ANSWER (16u << 20)
#define MAX_EVENT  (4u << 20)

struct buffer {
        char *data;
        size_t len, cap, max;
        bool overflow;
};

static size_t buffer_append(struct buffer *b, const char *p, size_t n)
{
        if (b->len + n + 1 > b->max) {
                b->overflow = true;
                return 0; /* curl aborts the transfer */
        }
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *d = realloc(b->data, cap);
                if (!d)
                        return 0;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

static void buffer_clear(struct buffer *b)
{
        free(b->data);
        *b = (struct buffer){0};
}

static size_t write_cb(char *p, size_t size, size_t n, void *userdata)
{
        return buffer_append(userdata, p, size * n);
}

/* The event stream with CRs dropped, so events always end with "\n\n". */
static size_t events_write_cb(char *p, size_t size, size_t n, void *userdata)
{
        size_t total = size * n;
        for (size_t i = 0, start = 0; i <= total; i++)
                if (i == total || p[i] == '\r') {
                        if (i > start && buffer_append(userdata, p + start, i - start) == 0)
                                return 0;
                        start = i + 1;
                }
        return total;
}

static void curl_cleanupp(CURL **h)
{
        if (*h)
                curl_easy_cleanup(*h);
}

static void slist_freep(struct curl_slist **l)
{
        curl_slist_free_all(*l);
}

/* ---- settings ----------------------------------------------------------------- */

char *dm_rest_config_path(void)
{
        const char *xdg = getenv("XDG_CONFIG_HOME");
        const char *home = getenv("HOME");
        char *path = NULL;
        if (xdg && xdg[0] == '/')
                return asprintf(&path, "%s/alder/dm.json", xdg) < 0 ? NULL : path;
        return asprintf(&path, "%s/.config/alder/dm.json", home ? home : "/root") < 0 ? NULL : path;
}

static int take_setting(char **dst, const char *explicit_value, const char *env, json_t *file, const char *source,
                        const char *field, alder_error **err)
{
        const char *v = explicit_value ? explicit_value : getenv(env);
        if ((!v || !*v) && file) {
                int r = alder_json_get_string(file, source, field, ALDER_JSON_OPTIONAL, &v, err);
                if (r < 0)
                        return r;
        }
        if (v && *v && !(*dst = strdup(v)))
                return alder_error_set(err, ENOMEM, "out of memory");
        return 0;
}

int dm_rest_init(struct dm_rest *c, const char *url, const char *api_key, alder_error **err)
{
        *c = (struct dm_rest){0};
        _cleanup_free_ char *path = dm_rest_config_path();
        if (!path)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_json_ json_t *file = NULL;
        if (access(path, F_OK) == 0) {
                int r = alder_json_load_file(path, 1 << 16, &file, err);
                if (r < 0)
                        return r;
        }
        int r = take_setting(&c->url, url, "ALDER_DM_URL", file, path, "url", err);
        if (r == 0)
                r = take_setting(&c->api_key, api_key, "ALDER_DM_API_KEY", file, path, "api_key", err);
        if (r == 0)
                r = take_setting(&c->ca_file, NULL, "ALDER_DM_CA_FILE", file, path, "ca_file", err);
        if (r == 0 && !c->url)
                r = alder_error_set(err, EINVAL,
                                    "no service URL: give --url, set ALDER_DM_URL, or run 'alder dm login' (writes %s)",
                                    path);
        if (r == 0 && !c->api_key)
                r = alder_error_set(err, EINVAL,
                                    "no API key: give --api-key, set ALDER_DM_API_KEY, or run 'alder dm login' "
                                    "(alder-dm printed an admin key at its first start)");
        if (r < 0) {
                dm_rest_clear(c);
                return r;
        }
        size_t n = strlen(c->url);
        while (n > 0 && c->url[n - 1] == '/')
                c->url[--n] = '\0';
        curl_global_init(CURL_GLOBAL_DEFAULT);
        return 0;
}

void dm_rest_clear(struct dm_rest *c)
{
        free(c->url);
        free(c->api_key);
        free(c->ca_file);
        *c = (struct dm_rest){0};
}

/* ---- requests ----------------------------------------------------------------- */

static int setup_handle(const struct dm_rest *c, CURL *h, const char *path, struct curl_slist **headers,
                        const char *content_type, alder_error **err)
{
        _cleanup_free_ char *url = NULL, *auth = NULL, *ct = NULL;
        if (asprintf(&url, "%s%s", c->url, path) < 0 || asprintf(&auth, "Authorization: Bearer %s", c->api_key) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        struct curl_slist *l = curl_slist_append(NULL, auth);
        if (l && content_type && asprintf(&ct, "Content-Type: %s", content_type) >= 0)
                l = curl_slist_append(l, ct);
        if (l)
                l = curl_slist_append(l, "Accept: application/json, text/event-stream");
        if (!l)
                return alder_error_set(err, ENOMEM, "out of memory");
        *headers = l;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_USERAGENT, "alder-cli");
        if (c->ca_file)
                curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
        return 0;
}

/* Turns a non-2xx answer into an error with the service's own words. */
static int answer_error(const char *method, const char *path, long status, const struct buffer *b, alder_error **err)
{
        _cleanup_json_ json_t *doc = b->data ? json_loadb(b->data, b->len, 0, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(doc, "message"));
        const char *type = json_string_value(json_object_get(doc, "type"));
        const char *rid = json_string_value(json_object_get(doc, "request_id"));
        if (!msg)
                return alder_error_set(err, EPROTO, "%s %s: HTTP %ld%s%.200s", method, path, status, b->len ? ": " : "",
                                       b->len ? b->data : "");
        _cleanup_free_ char *fields = NULL;
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(doc, "fields"), i, f)
        {
                const char *fmsg = json_string_value(json_object_get(f, "message"));
                if (fmsg && strstr(msg, fmsg))
                        continue; /* the message says it already */
                char *more = NULL;
                if (asprintf(&more, "%s%s%s: %s", fields ? fields : "", fields ? "; " : "",
                             json_string_value(json_object_get(f, "name")) ?: "?",
                             json_string_value(json_object_get(f, "message")) ?: "?") < 0)
                        break;
                free(fields);
                fields = more;
        }
        int e = status == 401 || status == 403 ? EACCES : status == 404 ? ENOENT : status == 409 ? EEXIST : EPROTO;
        return alder_error_set(err, e, "%s %s: HTTP %ld %s: %s%s%s%s%s%s", method, path, status, type ? type : "", msg,
                               fields ? " (" : "", fields ? fields : "", fields ? ")" : "", rid ? " [request id " : "",
                               rid ? rid : "");
}

static int transfer_error(const char *method, const struct dm_rest *c, const char *path, CURLcode code,
                          const char *detail, alder_error **err)
{
        int e = code == CURLE_COULDNT_CONNECT ? ECONNREFUSED : code == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : EIO;
        return alder_error_set(err, e, "%s %s%s: %s%s%s", method, c->url, path, curl_easy_strerror(code),
                               detail && *detail ? ": " : "", detail ? detail : "");
}

int dm_rest_call(const struct dm_rest *c, const char *method, const char *path, const char *content_type,
                 const void *body, size_t body_len, long *ret_status, json_t **ret, alder_error **err)
{
        _cleanup_(curl_cleanupp) CURL *h = curl_easy_init();
        _cleanup_(slist_freep) struct curl_slist *headers = NULL;
        if (!h)
                return alder_error_set(err, ENOMEM, "curl: out of memory");
        int r = setup_handle(c, h, path, &headers, content_type, err);
        if (r < 0)
                return r;
        _cleanup_(buffer_clear) struct buffer b = {.max = MAX_ANSWER};
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
        if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) body_len);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        }
        CURLcode code = curl_easy_perform(h);
        if (code != CURLE_OK)
                return transfer_error(method, c, path, code, b.overflow ? "answer too large" : errbuf, err);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
                return answer_error(method, path, status, &b, err);
        json_t *doc = NULL;
        if (b.len > 0) {
                r = alder_json_parse(path, b.data, b.len, &doc, err);
                if (r < 0)
                        return alder_error_wrap(err, "%s %s: answer", method, path);
        }
        if (ret_status)
                *ret_status = status;
        *ret = doc;
        return 0;
}

/* ---- event stream -------------------------------------------------------------- */

struct dm_events {
        CURLM *multi;
        CURL *h;
        struct curl_slist *headers;
        struct buffer in;  /* bytes received, not yet parsed */
        bool headers_done; /* the status line and headers arrived */
        bool finished;
        CURLcode result;
        char errbuf[CURL_ERROR_SIZE];
        const struct dm_rest *c;
};

static size_t header_cb(char *p, size_t size, size_t n, void *userdata)
{
        struct dm_events *ev = userdata;
        if (size * n == 2 && p[0] == '\r' && p[1] == '\n')
                ev->headers_done = true;
        return size * n;
}

/* One round of the transfer: waits up to timeout_ms for data. */
static int events_pump(struct dm_events *ev, int timeout_ms, alder_error **err)
{
        int running = 0;
        CURLMcode mc = curl_multi_poll(ev->multi, NULL, 0, timeout_ms, NULL);
        if (mc == CURLM_OK)
                mc = curl_multi_perform(ev->multi, &running);
        if (mc != CURLM_OK)
                return alder_error_set(err, EIO, "event stream: %s", curl_multi_strerror(mc));
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(ev->multi, &left)))
                if (m->msg == CURLMSG_DONE) {
                        ev->finished = true;
                        ev->result = m->data.result;
                }
        return 0;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dm_events_open(const struct dm_rest *c, struct dm_events **ret, alder_error **err)
{
        struct dm_events *ev = calloc(1, sizeof(*ev));
        if (!ev)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_dm_events_ struct dm_events *guard = ev;
        ev->c = c;
        ev->in.max = MAX_EVENT;
        ev->multi = curl_multi_init();
        ev->h = curl_easy_init();
        if (!ev->multi || !ev->h)
                return alder_error_set(err, ENOMEM, "curl: out of memory");
        const char *path = "/v2/notification/events";
        int r = setup_handle(c, ev->h, path, &ev->headers, NULL, err);
        if (r < 0)
                return r;
        curl_easy_setopt(ev->h, CURLOPT_WRITEFUNCTION, events_write_cb);
        curl_easy_setopt(ev->h, CURLOPT_WRITEDATA, &ev->in);
        curl_easy_setopt(ev->h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(ev->h, CURLOPT_HEADERDATA, ev);
        curl_easy_setopt(ev->h, CURLOPT_ERRORBUFFER, ev->errbuf);
        curl_multi_add_handle(ev->multi, ev->h);
        /* The stream counts as open once the service answered its headers: from then on no event is missed. */
        int64_t deadline = now_ms() + 15000;
        while (!ev->headers_done && !ev->finished) {
                if (now_ms() > deadline)
                        return alder_error_set(err, ETIMEDOUT, "GET %s%s: no answer within 15 s", c->url, path);
                r = events_pump(ev, 200, err);
                if (r < 0)
                        return r;
        }
        long status = 0;
        curl_easy_getinfo(ev->h, CURLINFO_RESPONSE_CODE, &status);
        if (ev->finished && ev->result != CURLE_OK)
                return transfer_error("GET", c, path, ev->result, ev->errbuf, err);
        if (status != 200) {
                while (!ev->finished && events_pump(ev, 200, NULL) == 0) /* the error body */
                        ;
                return answer_error("GET", path, status, &ev->in, err);
        }
        *ret = steal_pointer(&guard);
        return 0;
}

/*
 * Takes one complete event out of the input (events end with a blank line; the
 * data: lines of one event are joined by '\n', comments and other fields are
 * skipped). Returns 1 with *ret set, 0 when no complete event is buffered.
 */
static int take_event(struct dm_events *ev, json_t **ret, alder_error **err)
{
        for (;;) {
                char *end = ev->in.data ? strstr(ev->in.data, "\n\n") : NULL;
                if (!end)
                        return 0;
                size_t consumed = (size_t) (end - ev->in.data) + 2;
                *end = '\0';
                struct buffer data = {.max = MAX_EVENT};
                for (char *line = ev->in.data, *next; line; line = next) {
                        next = strchr(line, '\n');
                        if (next)
                                *next++ = '\0';
                        if (strncmp(line, "data:", 5) != 0)
                                continue;
                        const char *v = line + 5 + (line[5] == ' ');
                        if (data.len)
                                buffer_append(&data, "\n", 1);
                        buffer_append(&data, v, strlen(v));
                }
                memmove(ev->in.data, ev->in.data + consumed, ev->in.len - consumed + 1);
                ev->in.len -= consumed;
                _cleanup_free_ char *text = data.data;
                if (!data.len)
                        continue; /* a keep-alive comment */
                return alder_json_parse("event stream", text, data.len, ret, err) < 0 ? -EBADMSG : 1;
        }
}

int dm_events_next(struct dm_events *ev, int timeout_ms, json_t **ret, alder_error **err)
{
        int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
        for (;;) {
                int r = take_event(ev, ret, err);
                if (r != 0)
                        return r;
                if (ev->finished)
                        return ev->result == CURLE_OK
                                       ? alder_error_set(err, ECONNRESET, "the service closed the event stream")
                                       : transfer_error("GET", ev->c, "/v2/notification/events", ev->result, ev->errbuf,
                                                        err);
                int64_t left = deadline - now_ms();
                if (left <= 0)
                        return 0;
                r = events_pump(ev, left > 1000 ? 1000 : (int) left, err);
                if (r < 0)
                        return r;
        }
}

void dm_events_close(struct dm_events *ev)
{
        if (ev->multi && ev->h)
                curl_multi_remove_handle(ev->multi, ev->h);
        if (ev->h)
                curl_easy_cleanup(ev->h);
        if (ev->multi)
                curl_multi_cleanup(ev->multi);
        curl_slist_free_all(ev->headers);
        free(ev->in.data);
        free(ev);
}
