/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-updated's socket API (docs/api/updated.md): update.status,
 * update.install {"path"}, update.commit, update.rollback. Calls are
 * answered one at a time; an install holds the loop until it is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>

#include "alder/fileio.h"
#include "alder/ipc.h"
#include "alder/json.h"
#include "updated.h"

static alder_ipc_server *server_for_signal;

static void on_signal(int sig)
{
        (void) sig;
        if (server_for_signal)
                alder_ipc_server_stop(server_for_signal);
}

static int m_status(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        return upd_status(alder_ipc_call_userdata(call), ret, err);
}

static int m_install(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const char *path = NULL;
        int r = alder_json_get_string(params, "update.install", "path", 0, &path, err);
        if (r < 0)
                return r;
        if (path[0] != '/')
                return alder_error_set(err, EINVAL, "update.install: 'path' must be absolute: %s", path);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        return upd_install(alder_ipc_call_userdata(call), fd, path, NULL, NULL, ret, err);
}

static int m_commit(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        return upd_commit(alder_ipc_call_userdata(call), ret, err);
}

static int m_rollback(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        return upd_rollback(alder_ipc_call_userdata(call), ret, err);
}

int upd_serve(const struct upd_config *cfg, alder_error **err)
{
        static const alder_ipc_method methods[] = {
                {"update.status", m_status},
                {"update.install", m_install},
                {"update.commit", m_commit},
                {"update.rollback", m_rollback},
                {NULL, NULL},
        };
        _cleanup_free_ char *dir = NULL;
        int r = alder_path_parent(cfg->socket_path, &dir, err);
        if (r == 0)
                r = alder_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        alder_ipc_server *srv = NULL;
        alder_ipc_server_options opts = {.name = "alder-updated", .idle_timeout_ms = 60 * 60 * 1000};
        r = alder_ipc_server_new(cfg->socket_path, methods, (void *) cfg, &opts, &srv, err);
        if (r < 0)
                return r;
        server_for_signal = srv;
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        r = alder_ipc_server_run(srv, err);
        server_for_signal = NULL;
        alder_ipc_server_free(srv);
        return r;
}
