/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 5, Firmware Update (Core TS 1.1 §E.6): the state machine
 *   Idle(0) --Package written / Package URI written--> Downloading(1)
 *   Downloading --complete--> Downloaded(2); --failure / Cancel--> Idle + result
 *   Downloaded --Update--> Updating(3) --installed--> Idle, result 1
 *                                      --failed--> Downloaded, result 8 (5, 6 per the cause)
 *   an empty Package or Package URI resets to Idle (not while Updating).
 * Push (Package) arrives whole through libcoap's Block1; pull (Package URI)
 * supports coap:// with Block2, streamed to DATA_DIR/firmware.bin through a
 * libcoap context of its own (block by block, never the whole image in
 * memory). http:// and https:// (native builds, with libcurl) stream from a
 * thread to the same file, bounded by firmware.max_bytes, https verified
 * against firmware.ca_file; builds without libcurl (the device image) answer
 * result 9 for them. coaps:// answers result 9: there is no DTLS identity for
 * other servers. Other schemes: 9 too.
 * Update hands the file to alder-updated (update.install, docs/api/updated.md)
 * from a thread, so the LwM2M session goes on during the install; success
 * runs the reboot command when one is configured.
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/ipc.h"
#include "alder/json.h"
#include "alder/log.h"
#include "daemon.h"
#include "objects.h"
#if DMC_HTTP
#include <curl/curl.h>
#endif

enum {
        RES_PACKAGE = 0,
        RES_URI = 1,
        RES_UPDATE = 2,
        RES_STATE = 3,
        RES_RESULT = 5,
        RES_PKG_NAME = 6,
        RES_PKG_VERSION = 7,
        RES_PROTOCOLS = 8,
        RES_DELIVERY = 9,
        RES_CANCEL = 10,
        RES_LAST_CHANGE = 12,
};

enum { ST_IDLE = 0, ST_DOWNLOADING = 1, ST_DOWNLOADED = 2, ST_UPDATING = 3 };
enum {
        RESULT_INITIAL = 0,
        RESULT_SUCCESS = 1,
        RESULT_NO_SPACE = 2,
        RESULT_CONNECTION_LOST = 4,
        RESULT_INTEGRITY = 5,
        RESULT_UNSUPPORTED_TYPE = 6,
        RESULT_INVALID_URI = 7,
        RESULT_FAILED = 8,
        RESULT_UNSUPPORTED_PROTOCOL = 9,
        RESULT_CANCELLED = 10,
};

#define URI_MAX                  255
#define DOWNLOAD_IDLE_TIMEOUT_MS 60000
#define INSTALL_TIMEOUT_MS       (30 * 60 * 1000)

struct dmc_fw {
        struct dmc *d;
        int state, result;
        char uri[URI_MAX + 1];
        int64_t last_change;
        char *path, *tmp_path; /* DATA_DIR/firmware.bin and its .part */
        /* pull */
        coap_context_t *ctx;
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
        int http_result;
        char *http_error;
        /* install thread */
        pthread_t thread;
        bool thread_running;
        int event_fd;
        int install_result;
        char *install_error;
};

static void set_state(struct dmc_fw *f, int state, int result)
{
        if (f->state != state || f->result != result)
                alder_log(ALDER_LOG_INFO, NULL, "firmware update: state %d -> %d, result %d", f->state, state, result);
        f->state = state;
        f->result = result;
        f->last_change = time(NULL);
}

/* The pull's session is released by dmc_fw_tick, outside libcoap's callbacks. */
static void download_stop(struct dmc_fw *f)
{
        alder_closep(&f->fd);
        if (f->tmp_path)
                unlink(f->tmp_path);
}

static void fail_download(struct dmc_fw *f, int result, const char *why)
{
        alder_log(ALDER_LOG_WARNING, ALDER_LOG_FIELDS("URI", f->uri), "firmware download failed: %s", why);
        download_stop(f);
        set_state(f, ST_IDLE, result);
}

static void http_cancel(struct dmc_fw *f);

static void reset(struct dmc_fw *f)
{
        http_cancel(f);
        download_stop(f);
        unlink(f->path);
        f->uri[0] = '\0';
        set_state(f, ST_IDLE, RESULT_INITIAL);
}

/* ---- pull over CoAP ------------------------------------------------------------ */

static coap_response_t on_block(coap_session_t *session, const coap_pdu_t *sent, const coap_pdu_t *received,
                                const coap_mid_t mid)
{
        struct dmc_fw *f = coap_get_app_data(coap_session_get_context(session));
        coap_bin_const_t token = coap_pdu_get_token(received);
        if (session != f->session || f->state != ST_DOWNLOADING || token.length != f->token_len ||
            memcmp(token.s, f->token, f->token_len) != 0)
                return COAP_RESPONSE_FAIL;
        unsigned code = coap_pdu_get_code(received);
        if (code >> 5 != 2) {
                char why[64];
                snprintf(why, sizeof(why), "the server answered %u.%02u", code >> 5, code & 31);
                fail_download(f, code == COAP_RESPONSE_CODE_NOT_FOUND ? RESULT_INVALID_URI : RESULT_CONNECTION_LOST,
                              why);
                return COAP_RESPONSE_OK;
        }
        size_t len = 0, offset = 0, total = 0;
        const uint8_t *data = NULL;
        coap_get_data_large(received, &len, &data, &offset, &total);
        if (offset != f->received) {
                fail_download(f, RESULT_CONNECTION_LOST, "blocks out of order");
                return COAP_RESPONSE_OK;
        }
        _cleanup_error_ alder_error *err = NULL;
        if (len && alder_write_all(f->fd, data, len, f->tmp_path, &err) < 0) {
                fail_download(f, alder_error_errno(err) == ENOSPC ? RESULT_NO_SPACE : RESULT_FAILED,
                              alder_error_message(err));
                return COAP_RESPONSE_OK;
        }
        f->received += len;
        f->last_block_ms = dmc_now_ms();
        if (offset + len < total)
                return COAP_RESPONSE_OK; /* libcoap asks for the next block */
        if (fsync(f->fd) < 0 || rename(f->tmp_path, f->path) < 0) {
                fail_download(f, errno == ENOSPC ? RESULT_NO_SPACE : RESULT_FAILED, strerror(errno));
                return COAP_RESPONSE_OK;
        }
        double s = (double) (dmc_now_ms() - f->started_ms) / 1000.0;
        alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("URI", f->uri), "firmware downloaded: %llu bytes from %s in %.2f s",
                  (unsigned long long) f->received, f->uri, s);
        alder_closep(&f->fd);
        set_state(f, ST_DOWNLOADED, RESULT_INITIAL);
        return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
        struct dmc_fw *f = coap_get_app_data(coap_session_get_context(session));
        if (session == f->session && f->state == ST_DOWNLOADING)
                fail_download(f, RESULT_CONNECTION_LOST, "no answer from the package server");
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

/* ---- pull over HTTP(S) ------------------------------------------------------------- */

static void wake_loop(struct dmc_fw *f)
{
        uint64_t one = 1;
        if (write(f->event_fd, &one, sizeof(one)) < 0) {
                /* the loop then never learns: nothing better to do from here */
        }
}

#if DMC_HTTP
struct http_pull {
        struct dmc_fw *f;
        int fd;
        int write_errno;
};

static size_t http_write(char *data, size_t size, size_t n, void *ctx)
{
        struct http_pull *p = ctx;
        _cleanup_error_ alder_error *err = NULL;
        if (alder_write_all(p->fd, data, size * n, p->f->tmp_path, &err) < 0) {
                p->write_errno = alder_error_errno(err);
                return 0;
        }
        atomic_fetch_add(&p->f->http_received, size * n);
        return size * n;
}

static int http_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        struct http_pull *p = ctx;
        return atomic_load(&p->f->http_cancel) ? 1 : 0;
}

static void free_easy(CURL **c)
{
        if (*c)
                curl_easy_cleanup(*c);
}

/* The Update Result for a failed transfer. */
static int http_result_of(CURLcode cc, long status, int write_errno)
{
        switch (cc) {
        case CURLE_URL_MALFORMAT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_UNSUPPORTED_PROTOCOL:
                return cc == CURLE_UNSUPPORTED_PROTOCOL ? RESULT_UNSUPPORTED_PROTOCOL : RESULT_INVALID_URI;
        case CURLE_HTTP_RETURNED_ERROR:
                return status == 404 || status == 410 ? RESULT_INVALID_URI : RESULT_CONNECTION_LOST;
        case CURLE_FILESIZE_EXCEEDED:
                return RESULT_NO_SPACE;
        case CURLE_WRITE_ERROR:
                return write_errno == ENOSPC || write_errno == EDQUOT || write_errno == EFBIG ? RESULT_NO_SPACE
                                                                                              : RESULT_FAILED;
        case CURLE_ABORTED_BY_CALLBACK:
                return RESULT_CANCELLED;
        case CURLE_OUT_OF_MEMORY:
                return RESULT_FAILED;
        default: /* connect, TLS (an untrusted certificate too), timeouts, resets */
                return RESULT_CONNECTION_LOST;
        }
}

static void *http_thread(void *arg)
{
        struct dmc_fw *f = arg;
        struct http_pull p = {.f = f, .fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
        char reason[CURL_ERROR_SIZE] = "";
        _cleanup_(free_easy) CURL *c = p.fd >= 0 ? curl_easy_init() : NULL;
        long status = 0;
        CURLcode cc = CURLE_OUT_OF_MEMORY;
        if (p.fd < 0) {
                f->http_result = errno == ENOSPC ? RESULT_NO_SPACE : RESULT_FAILED;
                snprintf(reason, sizeof(reason), "%s: %s", f->tmp_path, strerror(errno));
        } else if (c) {
                curl_easy_setopt(c, CURLOPT_URL, f->uri);
                curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
                curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
                curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* no data for 60 s: connection lost */
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long) (DOWNLOAD_IDLE_TIMEOUT_MS / 1000));
                curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) f->d->cfg.firmware_max_bytes);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, &p);
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_progress);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA, &p);
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c, CURLOPT_ERRORBUFFER, reason);
                curl_easy_setopt(c, CURLOPT_USERAGENT, "alder-dmc");
                if (f->d->cfg.firmware_ca_file)
                        curl_easy_setopt(c, CURLOPT_CAINFO, f->d->cfg.firmware_ca_file);
                cc = curl_easy_perform(c);
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                /* A body larger than the bound that came without Content-Length: the write count tells. */
                if (cc == CURLE_OK && atomic_load(&f->http_received) > (uint64_t) f->d->cfg.firmware_max_bytes)
                        cc = CURLE_FILESIZE_EXCEEDED;
                if (cc == CURLE_OK && (fsync(p.fd) < 0 || rename(f->tmp_path, f->path) < 0)) {
                        p.write_errno = errno;
                        cc = CURLE_WRITE_ERROR;
                        snprintf(reason, sizeof(reason), "%s: %s", f->path, strerror(errno));
                }
                f->http_result = cc == CURLE_OK ? RESULT_INITIAL : http_result_of(cc, status, p.write_errno);
                if (cc == CURLE_WRITE_ERROR && p.write_errno && !reason[0])
                        snprintf(reason, sizeof(reason), "%s: %s", f->tmp_path, strerror(p.write_errno));
                if (cc == CURLE_FILESIZE_EXCEEDED)
                        snprintf(reason, sizeof(reason), "the package is larger than firmware.max_bytes (%lld)",
                                 (long long) f->d->cfg.firmware_max_bytes);
        } else {
                f->http_result = RESULT_FAILED;
                snprintf(reason, sizeof(reason), "libcurl: cannot set up the transfer");
        }
        if (p.fd >= 0)
                close(p.fd);
        if (f->http_result != RESULT_INITIAL) {
                unlink(f->tmp_path);
                f->http_error = strdup(reason[0] ? reason : curl_easy_strerror(cc));
        }
        atomic_store(&f->http_done, true);
        wake_loop(f);
        return NULL;
}

static void http_start(struct dmc_fw *f)
{
        atomic_store(&f->http_done, false);
        atomic_store(&f->http_cancel, false);
        atomic_store(&f->http_received, 0);
        f->started_ms = dmc_now_ms();
        int r = pthread_create(&f->http_thread, NULL, http_thread, f);
        if (r != 0) {
                fail_download(f, RESULT_FAILED, strerror(r));
                return;
        }
        f->http_running = true;
}

/* The download thread ended: join it and take its outcome (unless cancelled meanwhile). */
static void http_finish(struct dmc_fw *f)
{
        pthread_join(f->http_thread, NULL);
        f->http_running = false;
        uint64_t got = atomic_load(&f->http_received);
        if (atomic_load(&f->http_cancel)) {
                unlink(f->tmp_path);
                unlink(f->path); /* finished just before the cancel: the state says Idle */
                alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("URI", f->uri),
                          "firmware download cancelled: the transfer stopped after %llu bytes",
                          (unsigned long long) got);
        } else if (f->http_result != RESULT_INITIAL) {
                fail_download(f, f->http_result, f->http_error ? f->http_error : "out of memory");
        } else {
                double s = (double) (dmc_now_ms() - f->started_ms) / 1000.0;
                alder_log(ALDER_LOG_INFO, ALDER_LOG_FIELDS("URI", f->uri),
                          "firmware downloaded: %llu bytes from %s in %.2f s", (unsigned long long) got, f->uri, s);
                set_state(f, ST_DOWNLOADED, RESULT_INITIAL);
        }
        free(f->http_error);
        f->http_error = NULL;
}

static void http_cancel(struct dmc_fw *f)
{
        if (f->http_running)
                atomic_store(&f->http_cancel, true);
}
#else
static void http_start(struct dmc_fw *f)
{
        fail_download(f, RESULT_UNSUPPORTED_PROTOCOL, "this build has no HTTP(S) client (built without libcurl)");
}

static void http_finish(struct dmc_fw *f)
{
        (void) f;
}

static void http_cancel(struct dmc_fw *f)
{
        (void) f;
}
#endif

/* Starts a pull from f->uri; failures set the result (invalid URI, unsupported protocol, ...). */
static void download_start(struct dmc_fw *f)
{
        coap_uri_t uri;
        if (strncmp(f->uri, "http://", 7) == 0 || strncmp(f->uri, "https://", 8) == 0) {
                http_start(f);
                return;
        }
        size_t scheme = strspn(f->uri, "abcdefghijklmnopqrstuvwxyz0123456789+-.");
        if (scheme > 0 && strncmp(f->uri + scheme, "://", 3) == 0 && strncmp(f->uri, "coap://", 7) != 0) {
                fail_download(f, RESULT_UNSUPPORTED_PROTOCOL,
                              "only coap://, http:// and https:// package URIs are supported (coaps:// is not)");
                return;
        }
        if (coap_split_uri((const uint8_t *) f->uri, strlen(f->uri), &uri) < 0 || uri.scheme != COAP_URI_SCHEME_COAP ||
            uri.host.length == 0 || uri.host.length >= 256) {
                fail_download(f, RESULT_INVALID_URI, "not a coap:// URI");
                return;
        }
        char host[256], port[8];
        memcpy(host, uri.host.s, uri.host.length);
        host[uri.host.length] = '\0';
        snprintf(port, sizeof(port), "%u", uri.port);
        struct dmc_server_config s = {.host = host, .port = uri.port};
        coap_address_t addr;
        _cleanup_error_ alder_error *err = NULL;
        if (dmc_coap_resolve(&s, &addr, &err) < 0) {
                fail_download(f, RESULT_INVALID_URI, alder_error_message(err));
                return;
        }
        f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (f->fd < 0) {
                fail_download(f, RESULT_FAILED, strerror(errno));
                return;
        }
        f->session = coap_new_client_session(f->ctx, NULL, &addr, COAP_PROTO_UDP);
        coap_pdu_t *pdu =
                f->session ? coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, coap_new_message_id(f->session),
                                           coap_session_max_pdu_size(f->session))
                           : NULL;
        if (!pdu) {
                fail_download(f, RESULT_FAILED, "libcoap: cannot set up the request");
                return;
        }
        coap_session_new_token(f->session, &f->token_len, f->token);
        coap_add_token(pdu, f->token_len, f->token);
        add_segments(pdu, COAP_OPTION_URI_PATH, uri.path.s, uri.path.length, '/');
        add_segments(pdu, COAP_OPTION_URI_QUERY, uri.query.s, uri.query.length, '&');
        f->received = 0;
        f->started_ms = f->last_block_ms = dmc_now_ms();
        if (coap_send(f->session, pdu) == COAP_INVALID_MID)
                fail_download(f, RESULT_CONNECTION_LOST, "libcoap: cannot send the request");
}

/* ---- install through alder-updated ---------------------------------------------- */

static void *install_thread(void *arg)
{
        struct dmc_fw *f = arg;
        _cleanup_ipc_client_ alder_ipc_client *c = NULL;
        _cleanup_json_ json_t *params = json_pack("{s:s}", "path", f->path);
        alder_error *err = NULL;
        int r = params ? alder_ipc_client_connect(f->d->cfg.updated_socket, 2000, &c, &err)
                       : alder_error_set(&err, ENOMEM, "out of memory");
        if (r == 0)
                r = alder_ipc_client_call(c, "update.install", params, INSTALL_TIMEOUT_MS, NULL, &err);
        else
                alder_error_wrap(&err, "alder-updated at %s", f->d->cfg.updated_socket);
        f->install_result = r;
        f->install_error = r < 0 ? strdup(alder_error_message(err)) : NULL;
        alder_error_free(err);
        wake_loop(f);
        return NULL;
}

void dmc_fw_event(struct dmc_fw *f)
{
        uint64_t n;
        if (read(f->event_fd, &n, sizeof(n)) != sizeof(n))
                return;
        if (f->http_running && atomic_load(&f->http_done))
                http_finish(f);
        if (!f->thread_running)
                return;
        pthread_join(f->thread, NULL);
        f->thread_running = false;
        if (f->install_result == 0) {
                alder_log_info("firmware update: alder-updated installed %s", f->path);
                unlink(f->path);
                f->uri[0] = '\0';
                set_state(f, ST_IDLE, RESULT_SUCCESS);
                if (f->d->cfg.device.reboot_command) {
                        _cleanup_error_ alder_error *err = NULL;
                        if (dmc_schedule_command(f->d, f->d->cfg.device.reboot_command,
                                                 "Reboot after the firmware update", &err) < 0)
                                alder_log_error(ALDER_LOG_WARNING, err, NULL, "firmware update");
                }
        } else {
                int e = -f->install_result;
                alder_log(ALDER_LOG_WARNING, NULL, "firmware update failed: %s", f->install_error);
                set_state(f, ST_DOWNLOADED,
                          e == EBADMSG || e == EPERM || e == EKEYREJECTED ? RESULT_INTEGRITY
                          : e == EPROTONOSUPPORT || e == ENOEXEC          ? RESULT_UNSUPPORTED_TYPE
                          : e == ENOSPC                                   ? RESULT_NO_SPACE
                                                                          : RESULT_FAILED);
        }
        free(f->install_error);
        f->install_error = NULL;
}

/* ---- the object -------------------------------------------------------------------- */

static struct dmc_fw *fw_of(const struct dmc_object *o)
{
        return *(struct dmc_fw **) o->data;
}

static int fw_read(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                   struct alder_lwm2m_records *out, alder_error **err)
{
        struct dmc_fw *f = fw_of(o);
        switch (res->id) {
        case RES_URI:
                return dmc_rec_string(out, o, inst, res->id, -1, f->uri, err);
        case RES_STATE:
                return dmc_rec_number(out, o, inst, res, f->state, err);
        case RES_RESULT:
                return dmc_rec_number(out, o, inst, res, f->result, err);
        case RES_PROTOCOLS: {
                int r = dmc_rec_int(out, o, inst, res->id, 0, ALDER_LWM2M_TYPE_INTEGER, 0, err); /* 0: CoAP */
#if DMC_HTTP
                /* 2: HTTP 1.1, 3: HTTPS 1.1 */
                for (int i = 1; r >= 0 && i <= 2; i++)
                        r = dmc_rec_int(out, o, inst, res->id, i, ALDER_LWM2M_TYPE_INTEGER, i + 1, err);
#endif
                return r;
        }
        case RES_DELIVERY:
                return dmc_rec_number(out, o, inst, res, 2, err); /* pull and push */
        case RES_LAST_CHANGE:
                return dmc_rec_int(out, o, inst, res->id, -1, ALDER_LWM2M_TYPE_TIME, f->last_change, err);
        }
        return alder_error_set(err, ENOENT, "not implemented");
}

static int write_package(struct dmc_fw *f, const struct alder_lwm2m_value *v, alder_error **err)
{
        if (v->len == 0) {
                reset(f);
                return 0;
        }
        if (f->state != ST_IDLE)
                return alder_error_set(err, EINVAL, "a package can be written in state Idle only (now %d)", f->state);
        set_state(f, ST_DOWNLOADING, RESULT_INITIAL);
        int r = alder_mkdir_p(f->d->cfg.data_dir, 0700, err);
        if (r == 0)
                r = alder_write_file_atomic(f->path, v->data, v->len, 0600, err);
        if (r < 0) {
                set_state(f, ST_IDLE, r == -ENOSPC ? RESULT_NO_SPACE : RESULT_FAILED);
                return r;
        }
        alder_log_info("firmware package received: %zu bytes", v->len);
        set_state(f, ST_DOWNLOADED, RESULT_INITIAL);
        return 0;
}

static int fw_write(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                    const struct alder_lwm2m_record *v, size_t n, bool replace, alder_error **err)
{
        struct dmc_fw *f = fw_of(o);
        if (n != 1)
                return alder_error_set(err, EINVAL, "expected one value");
        if (f->state == ST_UPDATING)
                return alder_error_set(err, EBUSY, "an update is being installed");
        if (res->id == RES_PACKAGE)
                return write_package(f, &v->value, err);
        if (res->id != RES_URI)
                return alder_error_set(err, EOPNOTSUPP, "not writable");
        if (v->value.len == 0) {
                reset(f);
                return 0;
        }
        if (v->value.len > URI_MAX)
                return alder_error_set(err, EINVAL, "Package URI: at most %d bytes", URI_MAX);
        if (f->state != ST_IDLE)
                return alder_error_set(err, EINVAL, "a Package URI can be written in state Idle only (now %d)",
                                       f->state);
        if (f->http_running)
                return alder_error_set(err, EBUSY, "the cancelled HTTP download is still ending, try again");
        int r = alder_mkdir_p(f->d->cfg.data_dir, 0700, err);
        if (r < 0)
                return r;
        memcpy(f->uri, v->value.data, v->value.len);
        f->uri[v->value.len] = '\0';
        set_state(f, ST_DOWNLOADING, RESULT_INITIAL);
        download_start(f);
        return 0;
}

static int fw_execute(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res, const char *args,
                      size_t len, alder_error **err)
{
        struct dmc_fw *f = fw_of(o);
        if (res->id == RES_CANCEL) {
                if (f->state != ST_DOWNLOADING && f->state != ST_DOWNLOADED)
                        return alder_error_set(err, EINVAL, "nothing to cancel in state %d", f->state);
                http_cancel(f);
                download_stop(f);
                unlink(f->path);
                set_state(f, ST_IDLE, RESULT_CANCELLED);
                return 0;
        }
        if (res->id != RES_UPDATE)
                return alder_error_set(err, EOPNOTSUPP, "not implemented");
        if (f->state != ST_DOWNLOADED)
                return alder_error_set(err, EINVAL, "Update needs state Downloaded (2), not %d", f->state);
        set_state(f, ST_UPDATING, RESULT_INITIAL);
        int r = pthread_create(&f->thread, NULL, install_thread, f);
        if (r != 0) {
                set_state(f, ST_DOWNLOADED, RESULT_FAILED);
                return alder_error_sys(err, r, "start the install thread");
        }
        f->thread_running = true;
        return 0;
}

int dmc_fw_fds(struct dmc_fw *f, int *coap_fd)
{
        *coap_fd = f->session ? coap_context_get_coap_fd(f->ctx) : -1;
        return f->event_fd;
}

int64_t dmc_fw_tick(struct dmc_fw *f, int64_t now_ms)
{
        if (!f->session)
                return INT64_MAX;
        coap_io_process(f->ctx, COAP_IO_NO_WAIT);
        if (f->state == ST_DOWNLOADING && now_ms - f->last_block_ms > DOWNLOAD_IDLE_TIMEOUT_MS)
                fail_download(f, RESULT_CONNECTION_LOST, "no data for 60 s");
        if (f->state != ST_DOWNLOADING && f->session) {
                coap_session_release(f->session);
                f->session = NULL;
        }
        return f->session ? f->last_block_ms + DOWNLOAD_IDLE_TIMEOUT_MS + 1 : INT64_MAX;
}

void dmc_fw_free(struct dmc_fw *f)
{
        if (!f)
                return;
        if (f->thread_running)
                pthread_join(f->thread, NULL); /* bounded by the install timeout */
        if (f->http_running) {
                http_cancel(f);
                http_finish(f);
        }
        download_stop(f);
        if (f->session)
                coap_session_release(f->session);
        if (f->ctx)
                coap_free_context(f->ctx);
        alder_closep(&f->event_fd);
        free(f->install_error);
        free(f->path);
        free(f->tmp_path);
        free(f);
}

static const struct dmc_object_ops fw_ops = {
        .read = fw_read,
        .write = fw_write,
        .execute = fw_execute,
        .free = dmc_object_free_plain,
};

int dmc_obj_firmware_add(struct dmc *d, alder_error **err)
{
        static const uint16_t implemented[] = {RES_PACKAGE,   RES_URI,      RES_UPDATE, RES_STATE,      RES_RESULT,
                                               RES_PROTOCOLS, RES_DELIVERY, RES_CANCEL, RES_LAST_CHANGE};
        static const uint16_t inst[] = {0};
        struct dmc_fw *f = calloc(1, sizeof(*f));
        if (!f)
                return alder_error_set(err, ENOMEM, "out of memory");
        d->fw = f;
        f->d = d;
        f->fd = -1;
        f->last_change = time(NULL);
        f->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (f->event_fd < 0)
                return alder_error_sys(err, errno, "eventfd");
        if (asprintf(&f->path, "%s/firmware.bin", d->cfg.data_dir) < 0 ||
            asprintf(&f->tmp_path, "%s/firmware.bin.part", d->cfg.data_dir) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        /* A package downloaded before a restart is still there to install. */
        if (access(f->path, R_OK) == 0)
                f->state = ST_DOWNLOADED;
        unlink(f->tmp_path);
        f->ctx = coap_new_context(NULL);
        if (!f->ctx)
                return alder_error_set(err, ENOMEM, "libcoap: cannot create a context");
        coap_set_app_data(f->ctx, f);
        coap_context_set_block_mode(f->ctx, COAP_BLOCK_USE_LIBCOAP); /* block by block, streamed to the file */
        coap_register_response_handler(f->ctx, on_block);
        coap_register_nack_handler(f->ctx, on_nack);
        struct dmc_object *o;
        int r = dmc_object_new(d, 5, &fw_ops, implemented, ALDER_ARRAY_SIZE(implemented), sizeof(f), inst, 1, &o, err);
        if (r == 0)
                *(struct dmc_fw **) o->data = f;
        return r;
}
