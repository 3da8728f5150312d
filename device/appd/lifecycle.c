/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running installed apps: bundle = the current version's rootfs + a hardened
 * config.json (ocispec), run detached by the OCI runtime (ocirt) with the
 * container's output appended to the app's log file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/log.h"
#include "alder/ocispec.h"
#include "appd.h"

#define STOP_POLL_MS 50
#define KILL_WAIT_MS 3000

static int need_runtime(struct appd *d, alder_error **err)
{
        if (d->runtime)
                return 0;
        return alder_error_set(err, ENOTSUP, "no OCI runtime: %s", d->runtime_error ? d->runtime_error : "none");
}

static int load_current_meta(struct appd *d, const char *name, char **ret_dir, alder_app_meta **ret_meta,
                             alder_error **err)
{
        _cleanup_free_ char *link = NULL, *meta_path = NULL;
        int r = alder_appstore_current(d->store, name, &link, err);
        if (r < 0)
                return r;
        char real[PATH_MAX];
        if (!realpath(link, real))
                return alder_error_sys(err, errno, "resolve '%s'", link);
        if (asprintf(&meta_path, "%s/app.json", real) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_json_ json_t *doc = NULL;
        r = alder_json_load_file(meta_path, ALDER_APP_META_MAX_SIZE, &doc, err);
        if (r == 0)
                r = alder_app_meta_from_json(doc, meta_path, ret_meta, err);
        if (r == 0 && !(*ret_dir = strdup(real)))
                r = alder_error_set(err, ENOMEM, "out of memory");
        return r;
}

/* Creates the app's data volumes, owned by its user as the container sees it. */
static int prepare_volumes(struct appd *d, const char *name, const alder_app_meta *m, uint32_t id_start,
                           char ***ret_dirs, alder_error **err)
{
        uint32_t uid, gid;
        int r = alder_ocispec_parse_user(m->user, ALDER_APPSTORE_ID_COUNT, &uid, &gid, err);
        if (r < 0)
                return r;
        _cleanup_strv_ char **dirs = calloc(m->n_volumes + 1, sizeof(char *));
        if (!dirs)
                return alder_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < m->n_volumes; i++) {
                if (asprintf(&dirs[i], "%s/%s/data/%s", d->store_path, name, m->volumes[i].name) < 0)
                        return alder_error_set(err, ENOMEM, "out of memory");
                r = alder_mkdir_p(dirs[i], 0750, err);
                if (r < 0)
                        return r;
                if (geteuid() == 0 && chown(dirs[i], (uid_t) (id_start + uid), (gid_t) (id_start + gid)) < 0)
                        return alder_error_sys(err, errno, "chown '%s'", dirs[i]);
        }
        *ret_dirs = steal_pointer(&dirs);
        return 0;
}

static int write_bundle(struct appd *d, const char *name, const char *version_dir, const alder_app_meta *m,
                        char **ret_bundle, alder_error **err)
{
        uint32_t id_start;
        _cleanup_strv_ char **volume_dirs = NULL;
        _cleanup_free_ char *rootfs = NULL, *bundle = NULL;
        int r = alder_appstore_id_range(d->store, name, &id_start, err);
        if (r == 0)
                r = prepare_volumes(d, name, m, id_start, &volume_dirs, err);
        if (r < 0)
                return r;
        if (asprintf(&rootfs, "%s/rootfs", version_dir) < 0 || asprintf(&bundle, "%s/%s", d->bundles_path, name) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        alder_ocispec_settings settings = {
                .rootfs = rootfs,
                .hostname = name,
                .id_start = id_start,
                .id_count = ALDER_APPSTORE_ID_COUNT,
                .volume_dirs = (const char *const *) volume_dirs,
                .limits = !d->cfg.no_limits,
        };
        _cleanup_json_ json_t *config = NULL;
        r = alder_ocispec_generate(m, &settings, &config, err);
        if (r == 0)
                r = alder_mkdir_p(bundle, 0711, err);
        if (r == 0)
                r = alder_ocispec_write_bundle(bundle, config, err);
        if (r < 0)
                return r;
        *ret_bundle = steal_pointer(&bundle);
        return 0;
}

static int open_log(struct appd *d, const char *name, int *ret_fd, alder_error **err)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s.log", d->logs_path, name) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
                return alder_error_sys(err, errno, "open log '%s'", path);
        *ret_fd = fd;
        return 0;
}

int appd_app_state(struct appd *d, const char *name, alder_ocirt_container *ret, alder_error **err)
{
        int r = need_runtime(d, err);
        return r < 0 ? r : alder_ocirt_state(d->runtime, name, ret, err);
}

int appd_start_app(struct appd *d, const char *name, pid_t *ret_pid, alder_error **err)
{
        int r = need_runtime(d, err);
        if (r < 0)
                return r;
        alder_ocirt_container c;
        if (alder_ocirt_state(d->runtime, name, &c, NULL) == 0) {
                if (c.status == ALDER_OCIRT_RUNNING)
                        return alder_error_set(err, EALREADY, "app '%s' is already running (pid %d)", name,
                                               (int) c.pid);
                r = alder_ocirt_delete(d->runtime, name, true, err); /* a stopped leftover */
                if (r < 0)
                        return r;
        }
        _cleanup_free_ char *version_dir = NULL, *bundle = NULL;
        _cleanup_app_meta_ alder_app_meta *meta = NULL;
        _cleanup_close_ int log_fd = -1;
        r = load_current_meta(d, name, &version_dir, &meta, err);
        if (r == 0)
                r = write_bundle(d, name, version_dir, meta, &bundle, err);
        if (r == 0)
                r = open_log(d, name, &log_fd, err);
        if (r == 0)
                r = alder_ocirt_run_detached(d->runtime, name, bundle, log_fd, log_fd, NULL, ret_pid, err);
        return r < 0 ? alder_error_wrap(err, "start app '%s'", name) : 0;
}

static void sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Waits until the container is no longer running; true when it stopped in time. */
static bool wait_stopped(struct appd *d, const char *name, long timeout_ms)
{
        for (long waited = 0; waited <= timeout_ms; waited += STOP_POLL_MS) {
                alder_ocirt_container c;
                if (alder_ocirt_state(d->runtime, name, &c, NULL) < 0 || c.status != ALDER_OCIRT_RUNNING)
                        return true;
                sleep_ms(STOP_POLL_MS);
        }
        return false;
}

int appd_stop_app(struct appd *d, const char *name, long timeout_ms, bool *ret_killed, alder_error **err)
{
        int r = need_runtime(d, err);
        if (r < 0)
                return r;
        alder_ocirt_container c;
        r = alder_ocirt_state(d->runtime, name, &c, err);
        if (r == -ENOENT) {
                alder_error_clear(err);
                return alder_error_set(err, ENOENT, "app '%s' is not running", name);
        }
        if (r < 0)
                return r;
        *ret_killed = false;
        if (c.status == ALDER_OCIRT_RUNNING) {
                /* TERM first; KILL only if the app ignores it past the timeout. */
                r = alder_ocirt_kill(d->runtime, name, SIGTERM, err);
                if (r == 0 && !wait_stopped(d, name, timeout_ms)) {
                        *ret_killed = true;
                        r = alder_ocirt_kill(d->runtime, name, SIGKILL, err);
                        if (r == 0 && !wait_stopped(d, name, KILL_WAIT_MS))
                                r = alder_error_set(err, ETIMEDOUT, "app '%s' did not stop after SIGKILL", name);
                }
                if (r < 0)
                        return r;
        }
        return alder_ocirt_delete(d->runtime, name, true, err);
}

/* Replaces bytes that are not valid UTF-8 with '?', in place: JSON strings must be UTF-8. */
static void utf8_sanitize(char *s, size_t n)
{
        for (size_t i = 0; i < n;) {
                unsigned char c = (unsigned char) s[i];
                size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
                bool ok = len > 0 && i + len <= n;
                for (size_t k = 1; ok && k < len; k++)
                        ok = ((unsigned char) s[i + k] >> 6) == 0x2;
                if (ok && c == 0)
                        ok = false; /* NUL would cut C strings */
                if (!ok) {
                        s[i++] = '?';
                        continue;
                }
                i += len;
        }
}

int appd_read_log(struct appd *d, const char *name, int64_t offset, size_t max, json_t **ret, alder_error **err)
{
        int r = alder_app_name_check(name, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s.log", d->logs_path, name) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? alder_error_set(err, ENOENT, "app '%s' has no log yet", name)
                                       : alder_error_sys(err, errno, "open log '%s'", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return alder_error_sys(err, errno, "stat log '%s'", path);
        /* offset < 0: the last `max` bytes; beyond the end (log replaced): from the start. */
        int64_t size = st.st_size;
        int64_t from = offset < 0 ? (size > (int64_t) max ? size - (int64_t) max : 0) : offset > size ? 0 : offset;
        size_t n = (size_t) ALDER_MIN((int64_t) max, size - from);
        _cleanup_free_ char *buf = malloc(n + 1);
        if (!buf)
                return alder_error_set(err, ENOMEM, "out of memory");
        ssize_t got = pread(fd, buf, n, from);
        if (got < 0)
                return alder_error_sys(err, errno, "read log '%s'", path);
        utf8_sanitize(buf, (size_t) got);
        *ret = json_pack("{s:s%,s:I,s:I}", "data", buf, (size_t) got, "offset", (json_int_t) (from + got), "size",
                         (json_int_t) size);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}
