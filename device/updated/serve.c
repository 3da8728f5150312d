/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-updated's socket API (docs/api/updated.md): update.status,
 * update.install {"path"}, update.commit, update.rollback, update.boot. Calls are
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

typedef int (*upd_op)(const struct upd_config *cfg, json_t *params, json_t **ret, alder_error **err);

static int op_status(const struct upd_config *cfg, json_t *params, json_t **ret, alder_error **err)
{
        return upd_status(cfg, ret, err);
}

static int op_install(const struct upd_config *cfg, json_t *params, json_t **ret, alder_error **err)
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
        return upd_install(cfg, fd, path, NULL, NULL, ret, err);
}

static int op_commit(const struct upd_config *cfg, json_t *params, json_t **ret, alder_error **err)
{
        return upd_commit(cfg, ret, err);
}

static int op_rollback(const struct upd_config *cfg, json_t *params, json_t **ret, alder_error **err)
{
        return upd_rollback(cfg, ret, err);
}

static int op_boot(const struct upd_config *cfg, json_t *params, json_t **ret, alder_error **err)
{
        return upd_boot(cfg, ret, err);
}

static const struct {
        const char *method;
        upd_op op;
} ops[] = {
        {"update.status", op_status},     {"update.install", op_install}, {"update.commit", op_commit},
        {"update.rollback", op_rollback}, {"update.boot", op_boot},
};

/* Every call holds the agent's lock, like the command-line operations. */
static int dispatch(alder_ipc_call *call, json_t *params, json_t **ret, alder_error **err)
{
        const struct upd_config *cfg = alder_ipc_call_userdata(call);
        const char *method = alder_ipc_call_method(call);
        _cleanup_close_ int lock = -1;
        int r = upd_lock(cfg, &lock, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(ops); i++)
                if (strcmp(ops[i].method, method) == 0)
                        return ops[i].op(cfg, params, ret, err);
        return alder_error_set(err, ENOSYS, "%s: unknown method", method);
}

int upd_serve(const struct upd_config *cfg, alder_error **err)
{
        static const alder_ipc_method methods[] = {
                {"update.status", dispatch},   {"update.install", dispatch}, {"update.commit", dispatch},
                {"update.rollback", dispatch}, {"update.boot", dispatch},    {NULL, NULL},
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
