/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Package URI pulls (download.h): coap:// with Block2 in a libcoap context of
 * the download's own, http(s):// with libcurl from a thread that wakes the
 * loop through an eventfd. coaps:// is refused: there is no DTLS identity for
 * other servers.
 */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/log.h"
#if DMC_HTTP
#include <curl/curl.h>
#endif

#define IDLE_TIMEOUT_MS 60000

struct dmc_download {
        struct dmc *d;
        const char *what;
        dmc_download_fn done;
        void *ctx;
        char *uri;
        char *path, *tmp_path;
        bool running;
        /* pull over CoAP */
        coap_context_t *coap;
        coap_session_t *session;
        int fd;
        uint64_t received;
        int64_t started_ms, last_block_ms;
        uint8_t token[8];
        size_t token_len;
        /* pull over HTTP(S): a thread of its own */
        pthread_t http_thread;
        bool http_running;
        atomic_bool http_done, http_cancel;
        _Atomic uint64_t http_received;
        enum dmc_dl_status http_status;
        char *http_error;
        int event_fd;
};

const char *dmc_download_path(const struct dmc_download *dl)
{
        return dl->path;
}

bool dmc_download_running(const struct dmc_download *dl)
{
        return dl->running;
}

bool dmc_download_ending(const struct dmc_download *dl)
{
        return dl->http_running;
}

/* The CoAP session is released by dmc_download_tick, outside libcoap's callbacks. */
static void stop(struct dmc_download *dl)
{
        alder_closep(&dl->fd);
        if (dl->tmp_path)
                unlink(dl->tmp_path);
}

static void finish(struct dmc_download *dl, enum dmc_dl_status st, const char *why, uint64_t bytes)
{
        dl->running = false;
        if (st != DMC_DL_DONE) {
                alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("URI", dl->uri), "%s download failed: %s", dl->what, why);
                stop(dl);
        } else {
                double s = (double) (dmc_now_ms() - dl->started_ms) / 1000.0;
                alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("URI", dl->uri),
                          "%s downloaded: %llu bytes from %s in %.2f s", dl->what, (unsigned long long) bytes, dl->uri,
                          s);
                alder_closep(&dl->fd);
        }
        dl->done(dl->ctx, st, st == DMC_DL_DONE ? NULL : why);
}

/* ---- pull over CoAP ------------------------------------------------------------ */

static coap_response_t on_block(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                const coap_mid_t mid)
{
        struct dmc_download *dl = coap_get_app_data(coap_session_get_context(session));
        coap_bin_const_t token = coap_pdu_get_token(received);
        if (session != dl->session || !dl->running || token.length != dl->token_len ||
            memcmp(token.s, dl->token, dl->token_len) != 0)
                return COAP_RESPONSE_FAIL;
        unsigned code = coap_pdu_get_code(received);
        if (code >> 5 != 2) {
                char why[64];
                snprintf(why, sizeof(why), "the server answered %u.%02u", code >> 5, code & 31);
                finish(dl, code == COAP_RESPONSE_CODE_NOT_FOUND ? DMC_DL_INVALID_URI : DMC_DL_CONNECTION_LOST, why, 0);
                return COAP_RESPONSE_OK;
        }
        size_t len = 0, offset = 0, total = 0;
        const uint8_t *data = NULL;
        coap_get_data_large(received, &len, &data, &offset, &total);
        if (offset != dl->received) {
                finish(dl, DMC_DL_CONNECTION_LOST, "blocks out of order", 0);
                return COAP_RESPONSE_OK;
        }
        _cleanup_error_ alder_error *err = NULL;
        if (len && alder_write_all(dl->fd, data, len, dl->tmp_path, &err) < 0) {
                finish(dl, alder_error_errno(err) == ENOSPC ? DMC_DL_NO_SPACE : DMC_DL_FAILED, alder_error_message(err),
                       0);
                return COAP_RESPONSE_OK;
        }
        dl->received += len;
        dl->last_block_ms = dmc_now_ms();
        if (offset + len < total)
                return COAP_RESPONSE_OK; /* libcoap asks for the next block */
        if (fsync(dl->fd) < 0 || rename(dl->tmp_path, dl->path) < 0) {
                finish(dl, errno == ENOSPC ? DMC_DL_NO_SPACE : DMC_DL_FAILED, strerror(errno), 0);
                return COAP_RESPONSE_OK;
        }
        finish(dl, DMC_DL_DONE, NULL, dl->received);
        return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
        struct dmc_download *dl = coap_get_app_data(coap_session_get_context(session));
        if (session == dl->session && dl->running)
                finish(dl, DMC_DL_CONNECTION_LOST, "no answer from the package server", 0);
}

static void add_segments(coap_pdu_t *pdu, coap_option_num_t num, const uint8_t *s, size_t len, char sep)
{
        for (size_t i = 0; i < len;) {
                size_t n = 0;
                while (i + n < len && s[i + n] != sep)
                        n++;
                if (n)
                        coap_add_option(pdu, num, n, s + i);
                i += n + 1;
        }
}

static void coap_start(struct dmc_download *dl)
{
        coap_uri_t uri;
        if (coap_split_uri((const uint8_t *) dl->uri, strlen(dl->uri), &uri) < 0 ||
            uri.scheme != COAP_URI_SCHEME_COAP || uri.host.length == 0 || uri.host.length >= 256) {
                finish(dl, DMC_DL_INVALID_URI, "not a coap:// URI", 0);
                return;
        }
        char host[256];
        memcpy(host, uri.host.s, uri.host.length);
        host[uri.host.length] = '\0';
        struct dmc_server_config s = {.host = host, .port = uri.port};
        coap_address_t addr;
        _cleanup_error_ alder_error *err = NULL;
        if (dmc_coap_resolve(&s, &addr, &err) < 0) {
                finish(dl, DMC_DL_INVALID_URI, alder_error_message(err), 0);
                return;
        }
        dl->fd = open(dl->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (dl->fd < 0) {
                finish(dl, errno == ENOSPC ? DMC_DL_NO_SPACE : DMC_DL_FAILED, strerror(errno), 0);
                return;
        }
        dl->session = coap_new_client_session(dl->coap, NULL, &addr, COAP_PROTO_UDP);
        coap_pdu_t *pdu =
                dl->session ? coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, coap_new_message_id(dl->session),
                                            coap_session_max_pdu_size(dl->session))
                            : NULL;
        if (!pdu) {
                finish(dl, DMC_DL_FAILED, "libcoap: cannot set up the request", 0);
                return;
        }
        coap_session_new_token(dl->session, &dl->token_len, dl->token);
        coap_add_token(pdu, dl->token_len, dl->token);
        add_segments(pdu, COAP_OPTION_URI_PATH, uri.path.s, uri.path.length, '/');
        add_segments(pdu, COAP_OPTION_URI_QUERY, uri.query.s, uri.query.length, '&');
        dl->received = 0;
        dl->last_block_ms = dmc_now_ms();
        if (coap_send(dl->session, pdu) == COAP_INVALID_MID)
                finish(dl, DMC_DL_CONNECTION_LOST, "libcoap: cannot send the request", 0);
}

/* ---- pull over HTTP(S) ------------------------------------------------------------- */

#if DMC_HTTP
struct http_pull {
        struct dmc_download *dl;
        int fd;
        int write_errno;
};

static size_t http_write(char *data, size_t size, size_t n, void *ctx)
{
        struct http_pull *p = ctx;
        _cleanup_error_ alder_error *err = NULL;
        if (alder_write_all(p->fd, data, size * n, p->dl->tmp_path, &err) < 0) {
                p->write_errno = alder_error_errno(err);
                return 0;
        }
        atomic_fetch_add(&p->dl->http_received, size * n);
        return size * n;
}

static int http_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        struct http_pull *p = ctx;
        return atomic_load(&p->dl->http_cancel) ? 1 : 0;
}

static void free_easy(CURL **c)
{
        if (*c)
                curl_easy_cleanup(*c);
}

/* The status of a failed transfer. */
static enum dmc_dl_status http_status_of(CURLcode cc, long status, int write_errno)
{
        switch (cc) {
        case CURLE_URL_MALFORMAT:
        case CURLE_COULDNT_RESOLVE_HOST:
                return DMC_DL_INVALID_URI;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return DMC_DL_UNSUPPORTED_PROTOCOL;
        case CURLE_HTTP_RETURNED_ERROR:
                return status == 404 || status == 410 ? DMC_DL_INVALID_URI : DMC_DL_CONNECTION_LOST;
        case CURLE_FILESIZE_EXCEEDED:
                return DMC_DL_NO_SPACE;
        case CURLE_WRITE_ERROR:
                return write_errno == ENOSPC || write_errno == EDQUOT || write_errno == EFBIG ? DMC_DL_NO_SPACE
                                                                                              : DMC_DL_FAILED;
        case CURLE_OUT_OF_MEMORY:
                return DMC_DL_FAILED;
        default: /* connect, TLS (an untrusted certificate too), timeouts, resets */
                return DMC_DL_CONNECTION_LOST;
        }
}

static void wake_loop(struct dmc_download *dl)
{
        uint64_t one = 1;
        if (write(dl->event_fd, &one, sizeof(one)) < 0) {
                /* the loop then never learns: nothing better to do from here */
        }
}

static void *http_thread(void *arg)
{
        struct dmc_download *dl = arg;
        const struct dmc_config *cfg = &dl->d->cfg;
        struct http_pull p = {.dl = dl, .fd = open(dl->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
        char reason[CURL_ERROR_SIZE] = "";
        _cleanup_(free_easy) CURL *c = p.fd >= 0 ? curl_easy_init() : NULL;
        long status = 0;
        CURLcode cc = CURLE_OUT_OF_MEMORY;
        if (p.fd < 0) {
                dl->http_status = errno == ENOSPC ? DMC_DL_NO_SPACE : DMC_DL_FAILED;
                snprintf(reason, sizeof(reason), "%s: %s", dl->tmp_path, strerror(errno));
        } else if (c) {
                curl_easy_setopt(c, CURLOPT_URL, dl->uri);
                curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
                curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
                curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* no data for 60 s: connection lost */
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long) (IDLE_TIMEOUT_MS / 1000));
                curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) cfg->firmware_max_bytes);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, &p);
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_progress);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA, &p);
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c, CURLOPT_ERRORBUFFER, reason);
                curl_easy_setopt(c, CURLOPT_USERAGENT, "alder-dmc");
                if (cfg->firmware_ca_file)
                        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->firmware_ca_file);
                cc = curl_easy_perform(c);
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                /* A body larger than the bound that came without Content-Length: the write count tells. */
                if (cc == CURLE_OK && atomic_load(&dl->http_received) > (uint64_t) cfg->firmware_max_bytes)
                        cc = CURLE_FILESIZE_EXCEEDED;
                if (cc == CURLE_OK && (fsync(p.fd) < 0 || rename(dl->tmp_path, dl->path) < 0)) {
                        p.write_errno = errno;
                        cc = CURLE_WRITE_ERROR;
                        snprintf(reason, sizeof(reason), "%s: %s", dl->path, strerror(errno));
                }
                dl->http_status = cc == CURLE_OK ? DMC_DL_DONE : http_status_of(cc, status, p.write_errno);
                if (cc == CURLE_WRITE_ERROR && p.write_errno && !reason[0])
                        snprintf(reason, sizeof(reason), "%s: %s", dl->tmp_path, strerror(p.write_errno));
                if (cc == CURLE_FILESIZE_EXCEEDED)
                        snprintf(reason, sizeof(reason), "the package is larger than firmware.max_bytes (%lld)",
                                 (long long) cfg->firmware_max_bytes);
        } else {
                dl->http_status = DMC_DL_FAILED;
                snprintf(reason, sizeof(reason), "libcurl: cannot set up the transfer");
        }
        if (p.fd >= 0)
                close(p.fd);
        if (dl->http_status != DMC_DL_DONE) {
                unlink(dl->tmp_path);
                dl->http_error = strdup(reason[0] ? reason : curl_easy_strerror(cc));
        }
        atomic_store(&dl->http_done, true);
        wake_loop(dl);
        return NULL;
}

static void http_start(struct dmc_download *dl)
{
        atomic_store(&dl->http_done, false);
        atomic_store(&dl->http_cancel, false);
        atomic_store(&dl->http_received, 0);
        int r = pthread_create(&dl->http_thread, NULL, http_thread, dl);
        if (r != 0) {
                finish(dl, DMC_DL_FAILED, strerror(r), 0);
                return;
        }
        dl->http_running = true;
}

/* The transfer thread ended: join it and take its outcome (unless cancelled meanwhile). */
static void http_join(struct dmc_download *dl)
{
        pthread_join(dl->http_thread, NULL);
        dl->http_running = false;
        uint64_t got = atomic_load(&dl->http_received);
        if (atomic_load(&dl->http_cancel)) {
                unlink(dl->tmp_path);
                unlink(dl->path); /* finished just before the cancel: the owner's state says it is gone */
                alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("URI", dl->uri),
                          "%s download cancelled: the transfer stopped after %llu bytes", dl->what,
                          (unsigned long long) got);
        } else {
                finish(dl, dl->http_status, dl->http_error ? dl->http_error : "out of memory", got);
        }
        free(dl->http_error);
        dl->http_error = NULL;
}
#else
static void http_start(struct dmc_download *dl)
{
        finish(dl, DMC_DL_UNSUPPORTED_PROTOCOL, "this build has no HTTP(S) client (built without libcurl)", 0);
}

static void http_join(struct dmc_download *dl)
{
        (void) dl;
}
#endif

void dmc_download_start(struct dmc_download *dl, const char *uri)
{
        dmc_download_cancel(dl);
        free(dl->uri);
        dl->uri = strdup(uri);
        dl->running = true;
        dl->started_ms = dmc_now_ms();
        if (!dl->uri) {
                finish(dl, DMC_DL_FAILED, "out of memory", 0);
                return;
        }
        _cleanup_error_ alder_error *err = NULL;
        if (alder_mkdir_p(dl->d->cfg.data_dir, 0700, &err) < 0) {
                finish(dl, alder_error_errno(err) == ENOSPC ? DMC_DL_NO_SPACE : DMC_DL_FAILED, alder_error_message(err),
                       0);
                return;
        }
        if (strncmp(uri, "http://", 7) == 0 || strncmp(uri, "https://", 8) == 0) {
                http_start(dl);
                return;
        }
        size_t scheme = strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789+-.");
        if (scheme > 0 && strncmp(uri + scheme, "://", 3) == 0 && strncmp(uri, "coap://", 7) != 0) {
                finish(dl, DMC_DL_UNSUPPORTED_PROTOCOL,
                       "only coap://, http:// and https:// package URIs are supported (coaps:// is not)", 0);
                return;
        }
        coap_start(dl);
}

void dmc_download_cancel(struct dmc_download *dl)
{
        if (dl->http_running)
                atomic_store(&dl->http_cancel, true);
        dl->running = false;
        stop(dl);
        unlink(dl->path);
}

int dmc_download_fds(struct dmc_download *dl, int *coap_fd)
{
        *coap_fd = dl->session ? coap_context_get_coap_fd(dl->coap) : -1;
        return dl->event_fd;
}

void dmc_download_event(struct dmc_download *dl)
{
        uint64_t n;
        if (read(dl->event_fd, &n, sizeof(n)) != sizeof(n))
                return;
        if (dl->http_running && atomic_load(&dl->http_done))
                http_join(dl);
}

int64_t dmc_download_tick(struct dmc_download *dl, int64_t now_ms)
{
        if (!dl->session)
                return INT64_MAX;
        coap_io_process(dl->coap, COAP_IO_NO_WAIT);
        if (dl->running && !dl->http_running && now_ms - dl->last_block_ms > IDLE_TIMEOUT_MS)
                finish(dl, DMC_DL_CONNECTION_LOST, "no data for 60 s", 0);
        if (!dl->running && dl->session) {
                coap_session_release(dl->session);
                dl->session = NULL;
        }
        return dl->session ? dl->last_block_ms + IDLE_TIMEOUT_MS + 1 : INT64_MAX;
}

void dmc_download_free(struct dmc_download *dl)
{
        if (!dl)
                return;
        struct dmc *d = dl->d;
        for (size_t i = 0; i < d->n_downloads; i++)
                if (d->downloads[i] == dl)
                        d->downloads[i] = d->downloads[--d->n_downloads];
        if (dl->http_running) {
                atomic_store(&dl->http_cancel, true);
                http_join(dl);
        }
        stop(dl);
        if (dl->session)
                coap_session_release(dl->session);
        if (dl->coap)
                coap_free_context(dl->coap);
        alder_closep(&dl->event_fd);
        free(dl->uri);
        free(dl->path);
        free(dl->tmp_path);
        free(dl);
}

int dmc_download_new(struct dmc *d, const char *what, const char *path, dmc_download_fn done, void *ctx,
                     struct dmc_download **ret, alder_error **err)
{
        if (d->n_downloads >= DMC_MAX_DOWNLOADS)
                return alder_error_set(err, EBUSY, "at most %d downloads at once", DMC_MAX_DOWNLOADS);
        struct dmc_download *dl = calloc(1, sizeof(*dl));
        if (!dl)
                return alder_error_set(err, ENOMEM, "out of memory");
        dl->d = d;
        dl->what = what;
        dl->done = done;
        dl->ctx = ctx;
        dl->fd = -1;
        dl->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        d->downloads[d->n_downloads++] = dl;
        int r = 0;
        if (dl->event_fd < 0)
                r = alder_error_sys(err, errno, "eventfd");
        else if (!(dl->path = strdup(path)) || asprintf(&dl->tmp_path, "%s.part", path) < 0) {
                dl->tmp_path = NULL; /* asprintf leaves it undefined on failure */
                r = alder_error_set(err, ENOMEM, "out of memory");
        } else if (!(dl->coap = coap_new_context(NULL)))
                r = alder_error_set(err, ENOMEM, "libcoap: cannot create a context");
        if (r < 0) {
                dmc_download_free(dl);
                return r;
        }
        unlink(dl->tmp_path);
        coap_set_app_data(dl->coap, dl);
        coap_context_set_block_mode(dl->coap, COAP_BLOCK_USE_LIBCOAP); /* block by block, streamed to the file */
        coap_register_response_handler(dl->coap, on_block);
        coap_register_nack_handler(dl->coap, on_nack);
        *ret = dl;
        return 0;
}
