/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-appd's side of alder-secd (docs/api/secd.md, "Container
 * integration"): before an app's container starts, secd is asked over its
 * admin socket to serve the app (app_add, with the cgroup prefix of the app's
 * containers for secd's cross-check), and the folder of the app's socket is
 * mounted into the container; a removed app is dropped (app_remove). The
 * admin socket speaks secd's binary protocol through lib/psa's codec and
 * transport, which need nothing but libc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/json.h"
#include "alder/log.h"
#include "alder/ocispec.h"
#include "appd.h"
#include "psa-client.h"

#define SECD_TIMEOUT_S 5 /* secd answers these at once; a hung one must not hold up appd for long */

const char *const appd_secd_state_names[] = {
        [APPD_SECD_NONE] = "none",
        [APPD_SECD_AVAILABLE] = "available",
        [APPD_SECD_UNAVAILABLE] = "unavailable",
        [APPD_SECD_UNKNOWN] = "unknown",
};

int appd_cgroup_path(const char *name, const char *instance_id, char **ret, alder_error **err)
{
        /* Instance ids are NAME.SEQUENCE.RUN and app names have no '.': "/alder/NAME." is the app's alone. */
        int n = instance_id ? asprintf(ret, "/alder/%s", instance_id) : asprintf(ret, "/alder/%s.", name);
        return n < 0 ? alder_error_set(err, ENOMEM, "out of memory") : 0;
}

/* One request to secd's admin socket; a PSA error becomes an alder_error that says what secd answered. */
static int secd_call(struct appd *d, uint16_t op, const char *name, const char *cgroup, uint32_t flags,
                     alder_error **err)
{
        uint8_t req[1024 + SECD_CGROUP_MAX];
        _cleanup_free_ uint8_t *reply = malloc(SECD_WIRE_MAX_FRAME);
        if (!reply)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_close_ int fd = secd_connect(d->secd_socket, SECD_TIMEOUT_S);
        if (fd < 0)
                return alder_error_sys(err, -fd, "alder-secd is not running: connect '%s'", d->secd_socket);
        struct secd_writer w;
        secd_writer_start(&w, req, sizeof(req), op, 0);
        secd_put_bytes(&w, SECD_TAG_APP, name, strlen(name));
        if (cgroup)
                secd_put_bytes(&w, SECD_TAG_CGROUP, cgroup, strlen(cgroup));
        if (op == SECD_OP_APP_REMOVE)
                secd_put_u32(&w, SECD_TAG_FLAGS, flags);
        struct secd_msg m;
        psa_status_t s = secd_transact(fd, req, secd_writer_finish(&w), reply, &m);
        if (s != PSA_SUCCESS)
                return alder_error_set(err, s == PSA_ERROR_COMMUNICATION_FAILURE ? ECONNRESET : EIO,
                                       "alder-secd at '%s': %s %s: %s (%d)", d->secd_socket, secd_op_name(op), name,
                                       secd_status_name(s), (int) s);
        return 0;
}

int appd_secd_remove(struct appd *d, const char *name, bool purge, alder_error **err)
{
        return secd_call(d, SECD_OP_APP_REMOVE, name, NULL, purge ? SECD_APP_REMOVE_PURGE : 0, err);
}

/*
 * mkdir -p of `rel` below the version's rootfs, owned by the app's root, for
 * the runtime to mount on. The rootfs is the package's: no component may be
 * a symbolic link out of it.
 */
static int make_mount_point(const char *rootfs, const char *rel, uint32_t id_start, alder_error **err)
{
        _cleanup_close_ int dfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return alder_error_sys(err, errno, "open '%s'", rootfs);
        char path[256];
        snprintf(path, sizeof(path), "%s", rel);
        char *save = NULL;
        for (char *c = strtok_r(path, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (mkdirat(dfd, c, 0755) == 0) {
                        if (geteuid() == 0 && fchownat(dfd, c, id_start, id_start, AT_SYMLINK_NOFOLLOW) < 0)
                                return alder_error_sys(err, errno, "chown '%s/%s'", rootfs, rel);
                } else if (errno != EEXIST) {
                        return alder_error_sys(err, errno, "create mount point '%s/%s'", rootfs, rel);
                }
                int next = openat(dfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        return alder_error_sys(err, errno, "mount point '%s/%s': component '%s'", rootfs, rel, c);
                close(dfd);
                dfd = next;
        }
        return 0;
}

/* The app's socket: secd serves it, its mount point is there. */
static int secd_attach(struct appd *d, const char *name, const char *rootfs, uint32_t id_start, char **ret_dir,
                       alder_error **err)
{
        _cleanup_free_ char *cgroup = NULL, *dir = NULL;
        int r = appd_cgroup_path(name, NULL, &cgroup, err);
        if (r == 0 && asprintf(&dir, "%s/%s", d->secd_apps_dir, name) < 0)
                r = alder_error_set(err, ENOMEM, "out of memory");
        if (r == 0)
                r = secd_call(d, SECD_OP_APP_ADD, name, cgroup, 0, err);
        if (r == 0)
                r = make_mount_point(rootfs, ALDER_OCISPEC_SECD_DIR, id_start, err);
        if (r < 0)
                return r;
        *ret_dir = steal_pointer(&dir);
        return 0;
}

int appd_secd_prepare(struct appd *d, struct instance *inst, alder_app_secure_services want, const char *rootfs,
                      uint32_t id_start, char **ret_dir, alder_error **err)
{
        const char *name = inst->unit->name;
        *ret_dir = NULL;
        if (want == ALDER_APP_SECURE_SERVICES_NONE) {
                inst->secd = APPD_SECD_NONE;
                return 0;
        }
        bool required = want == ALDER_APP_SECURE_SERVICES_REQUIRED;
        _cleanup_error_ alder_error *e = NULL;
        if (secd_attach(d, name, rootfs, id_start, ret_dir, required ? err : &e) == 0) {
                inst->secd = APPD_SECD_AVAILABLE;
                return 0;
        }
        if (required)
                return alder_error_wrap(err, "app '%s' requires secure services (permissions.secure_services)", name);
        alder_log_error(ALDER_LOG_WARNING, e, ALDER_LOG_FIELDS("APP", name),
                        "starting %s without secure services (no alder-secd socket in its container)", name);
        inst->secd = APPD_SECD_UNAVAILABLE;
        free(inst->secd_error);
        inst->secd_error = strdup(alder_error_message(e));
        return 0;
}

enum appd_secd_state appd_secd_state_of_bundle(struct appd *d, const char *id)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *config = NULL;
        if (asprintf(&path, "%s/%s/config.json", d->bundles_path, id) < 0 ||
            alder_json_load_file(path, 1024 * 1024, &config, NULL) < 0)
                return APPD_SECD_UNKNOWN;
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(config, "mounts"), i, m)
        {
                const char *dest = json_string_value(json_object_get(m, "destination"));
                if (dest && strcmp(dest, ALDER_OCISPEC_SECD_DIR) == 0)
                        return APPD_SECD_AVAILABLE;
        }
        return APPD_SECD_UNAVAILABLE;
}
