/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 5, Firmware Update (Core TS 1.1 §E.6): the state machine
 *   Idle(0) --Package written / Package URI written--> Downloading(1)
 *   Downloading --complete--> Downloaded(2); --failure / Cancel--> Idle + result
 *   Downloaded --Update--> Updating(3) --installed--> Idle, result 1
 *                                      --failed--> Downloaded, result 8 (5, 6 per the cause)
 *   an empty Package or Package URI resets to Idle (not while Updating).
 * Push (Package) arrives whole through libcoap's Block1; pull (Package URI)
 * is download.c's, to DATA_DIR/firmware.bin: coap:// with Block2, http:// and
 * https:// with libcurl on native builds. Builds without libcurl (the device
 * image) answer result 9 for http(s), as for coaps:// (there is no DTLS
 * identity for other servers) and other schemes.
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
#include "download.h"
#include "objects.h"

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

#define URI_MAX            255
#define INSTALL_TIMEOUT_MS (30 * 60 * 1000)

struct dmc_fw {
        struct dmc *d;
        int state, result;
        char uri[URI_MAX + 1];
        int64_t last_change;
        struct dmc_download *dl; /* to DATA_DIR/firmware.bin */
        const char *path;
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

static void reset(struct dmc_fw *f)
{
        dmc_download_cancel(f->dl);
        f->uri[0] = '\0';
        set_state(f, ST_IDLE, RESULT_INITIAL);
}

/* The pull ended (download.c logged how). */
static void on_download(void *ctx, enum dmc_dl_status st, const char *why)
{
        static const int results[] = {
                [DMC_DL_DONE] = RESULT_INITIAL,
                [DMC_DL_NO_SPACE] = RESULT_NO_SPACE,
                [DMC_DL_CONNECTION_LOST] = RESULT_CONNECTION_LOST,
                [DMC_DL_INVALID_URI] = RESULT_INVALID_URI,
                [DMC_DL_UNSUPPORTED_PROTOCOL] = RESULT_UNSUPPORTED_PROTOCOL,
                [DMC_DL_FAILED] = RESULT_FAILED,
        };
        struct dmc_fw *f = ctx;
        set_state(f, st == DMC_DL_DONE ? ST_DOWNLOADED : ST_IDLE, results[st]);
}

static void wake_loop(struct dmc_fw *f)
{
        uint64_t one = 1;
        if (write(f->event_fd, &one, sizeof(one)) < 0) {
                /* the loop then never learns: nothing better to do from here */
        }
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

int dmc_fw_fd(struct dmc_fw *f)
{
        return f->event_fd;
}

void dmc_fw_event(struct dmc_fw *f)
{
        uint64_t n;
        if (read(f->event_fd, &n, sizeof(n)) != sizeof(n))
                return;
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
        if (dmc_download_ending(f->dl))
                return alder_error_set(err, EBUSY, "the cancelled HTTP download is still ending, try again");
        memcpy(f->uri, v->value.data, v->value.len);
        f->uri[v->value.len] = '\0';
        set_state(f, ST_DOWNLOADING, RESULT_INITIAL);
        dmc_download_start(f->dl, f->uri);
        return 0;
}

static int fw_execute(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res, const char *args,
                      size_t len, alder_error **err)
{
        struct dmc_fw *f = fw_of(o);
        if (res->id == RES_CANCEL) {
                if (f->state != ST_DOWNLOADING && f->state != ST_DOWNLOADED)
                        return alder_error_set(err, EINVAL, "nothing to cancel in state %d", f->state);
                dmc_download_cancel(f->dl);
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

void dmc_fw_free(struct dmc_fw *f)
{
        if (!f)
                return;
        if (f->thread_running)
                pthread_join(f->thread, NULL); /* bounded by the install timeout */
        dmc_download_free(f->dl);
        alder_closep(&f->event_fd);
        free(f->install_error);
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
        f->last_change = time(NULL);
        f->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (f->event_fd < 0)
                return alder_error_sys(err, errno, "eventfd");
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/firmware.bin", d->cfg.data_dir) < 0) {
                path = NULL;
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        int r = dmc_download_new(d, "firmware", path, on_download, f, &f->dl, err);
        if (r < 0)
                return r;
        f->path = dmc_download_path(f->dl);
        /* A package downloaded before a restart is still there to install. */
        if (access(f->path, R_OK) == 0)
                f->state = ST_DOWNLOADED;
        struct dmc_object *o;
        r = dmc_object_new(d, 5, &fw_ops, implemented, ALDER_ARRAY_SIZE(implemented), sizeof(f), inst, 1, &o, err);
        if (r == 0)
                *(struct dmc_fw **) o->data = f;
        return r;
}
