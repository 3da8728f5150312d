/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Webhook delivery: the queue's events go to the callback URL as an HTTP PUT
 * of the notification message (application/json), with the headers the
 * callback names. A delivery counts when the receiver answers 2xx; otherwise
 * it is retried, waiting 1 s, 2 s, 4 s ... up to 60 s between attempts, and
 * the events wait in the hub meanwhile (its ring bounds them).
 *
 * libcurl does the transfer: http:// and https:// (the receiver's certificate
 * must chain to the configured CA file, or the system's CAs, and name the
 * URL's host), every attempt bounded by a timeout.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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
        char *ca_file;
};

/* Only http:// and https:// with a host: curl's own parser, so that the check and the transfer agree. */
static int parse_url(const char *url, alder_error **err)
{
        CURLU *u = curl_url();
        if (!u)
                return alder_error_set(err, ENOMEM, "out of memory");
        char *scheme = NULL, *host = NULL;
        CURLUcode c = curl_url_set(u, CURLUPART_URL, url, 0);
        if (c == CURLUE_OK)
                c = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
        if (c == CURLUE_OK)
                c = curl_url_get(u, CURLUPART_HOST, &host, 0);
        int r = 0;
        if (c != CURLUE_OK)
                r = alder_error_set(err, EINVAL, "url: %s (expected http[s]://HOST[:PORT]/PATH)", curl_url_strerror(c));
        else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
                r = alder_error_set(err, EINVAL, "url: scheme '%s' is not supported (http:// or https://)", scheme);
        else if (!dm_is_printable(url, 2048, NULL))
                r = alder_error_set(err, EINVAL, "url: expected printable characters, no spaces, at most 2047");
        curl_free(scheme);
        curl_free(host);
        curl_url_cleanup(u);
        return r;
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
        int r = alder_json_check_keys(cb, "callback", NULL, allowed, err);
        if (r >= 0)
                r = alder_json_get_string(cb, "callback", "url", 0, &url, err);
        if (r >= 0)
                r = alder_json_get_object(cb, "callback", "headers", ALDER_JSON_OPTIONAL, &headers, err);
        if (r >= 0)
                r = parse_url(url, err);
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

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
        (void) data;
        (void) ctx;
        return size * n;
}

static void free_slist(struct curl_slist **l)
{
        curl_slist_free_all(*l);
}

static void free_easy(CURL **c)
{
        if (*c)
                curl_easy_cleanup(*c);
}

/* PUTs body to the callback; returns the HTTP status. https:// receivers must chain to ca_file (NULL: the
 * system's CAs) and match the URL's host. */
static int http_put(const json_t *cb, const char *ca_file, const char *body, alder_error **err)
{
        const char *url = json_string_value(json_object_get(cb, "url"));
        _cleanup_(free_easy) CURL *c = curl_easy_init();
        _cleanup_(free_slist) struct curl_slist *headers = NULL;
        if (!c)
                return alder_error_set(err, ENOMEM, "out of memory");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(cb, "headers"), k, v)
        {
                _cleanup_free_ char *line = NULL;
                struct curl_slist *more;
                if (asprintf(&line, "%s: %s", k, json_string_value(v)) < 0 ||
                    !(more = curl_slist_append(headers, line)))
                        return alder_error_set(err, ENOMEM, "out of memory");
                headers = more;
        }
        struct curl_slist *more = curl_slist_append(headers, "Content-Type: application/json");
        if (!more)
                return alder_error_set(err, ENOMEM, "out of memory");
        headers = more;
        char reason[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "alder-dm");
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) IO_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, reason);
        if (ca_file)
                curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
        CURLcode cc = curl_easy_perform(c);
        if (cc != CURLE_OK)
                return alder_error_set(err,
                                       cc == CURLE_OPERATION_TIMEDOUT         ? ETIMEDOUT
                                       : cc == CURLE_COULDNT_CONNECT          ? ECONNREFUSED
                                       : cc == CURLE_COULDNT_RESOLVE_HOST     ? EHOSTUNREACH
                                       : cc == CURLE_PEER_FAILED_VERIFICATION ? EKEYREJECTED
                                                                              : EIO,
                                       "PUT %s: %s", url, reason[0] ? reason : curl_easy_strerror(cc));
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        return (int) status;
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
        struct timespec ts = dm_deadline_after(ms);
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
                        status = http_put(cb, w->ca_file, body, &err);
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

int dm_webhook_start(dm_store *store, dm_hub *hub, const char *ca_file, dm_webhook **ret, alder_error **err)
{
        if (ca_file && access(ca_file, R_OK) < 0)
                return alder_error_sys(err, errno, "webhook CA file '%s'", ca_file);
        dm_webhook *w = calloc(1, sizeof(*w));
        if (!w || (ca_file && !(w->ca_file = strdup(ca_file)))) {
                free(w);
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        w->store = store;
        w->hub = hub;
        pthread_mutex_init(&w->lock, NULL);
        dm_cond_init_monotonic(&w->cond);
        load(w);
        int r = pthread_create(&w->thread, NULL, run, w);
        if (r != 0) {
                json_decref(w->cb);
                free(w->ca_file);
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
        free(w->ca_file);
        free(w);
}
