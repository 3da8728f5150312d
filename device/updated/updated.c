/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The update transaction: install (verify, stream, read back, arm),
 * commit (health checks, then upgrade_available=0) and rollback, with the
 * agent's state written before and after every step that a power cut could
 * interrupt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "alder/alupd.h"
#include "alder/fileio.h"
#include "alder/ipc.h"
#include "alder/json.h"
#include "alder/keys.h"
#include "alder/slot.h"
#include "alder/spawn.h"
#include "updated.h"

#define ENV_TOOL_TIMEOUT_MS 30000
#define APPD_TIMEOUT_MS     5000
#define STATE_MAX_SIZE      (64u * 1024u)
#define SMALL_FILE_MAX      4096u
#define HEALTH_POLL_MS      500
#define MAX_CORE_APPS       64
/* Room a FAT file system needs beyond a file's bytes (cluster rounding, directory entries). */
#define BOOT_SPACE_MARGIN (1024u * 1024u)

/* ---- one operation at a time ------------------------------------------------ */

/* One update operation at a time, across the daemon and these commands. */
int upd_lock(const struct upd_config *cfg, int *ret, alder_error **err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL;
        int r = alder_path_parent(cfg->state_path, &dir, err);
        if (r == 0)
                r = alder_mkdir_p(dir, 0755, err);
        if (r == 0 && asprintf(&path, "%s/lock", dir) < 0)
                r = alder_error_set(err, ENOMEM, "out of memory");
        if (r < 0)
                return r;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return alder_error_sys(err, errno, "open %s", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                close(fd);
                return alder_error_set(err, EBUSY, "another update operation is running (%s is locked)", path);
        }
        *ret = fd;
        return 0;
}

/* ---- U-Boot env through libubootenv's tools --------------------------------- */

struct env {
        char boot_slot;
        bool upgrade_available;
        int bootcount, bootlimit;
};

static int run_tool(const struct upd_config *cfg, const char *const *argv, alder_run_result *res, alder_error **err)
{
        alder_run_opts o = {.spawn = {.argv = argv, .stdout_mode = ALDER_STDIO_PIPE, .stderr_mode = ALDER_STDIO_PIPE},
                            .timeout_ms = ENV_TOOL_TIMEOUT_MS};
        int r = alder_run(&o, res, err);
        if (r < 0)
                return alder_error_wrap(err, "run %s", argv[0]);
        if (!alder_exit_ok(&res->exit)) {
                char how[ALDER_EXIT_DESCRIBE_MAX];
                return alder_error_set(err, EIO, "%s -c %s %s: %s", argv[0], cfg->fw_env_config,
                                       alder_exit_describe(&res->exit, how, sizeof(how)),
                                       res->stderr_buf.data ? res->stderr_buf.data : "");
        }
        return 0;
}

static int env_read(const struct upd_config *cfg, struct env *ret, alder_error **err)
{
        const char *argv[] = {cfg->fw_printenv, "-c", cfg->fw_env_config, NULL};
        _cleanup_run_result_ alder_run_result res = {0};
        int r = run_tool(cfg, argv, &res, err);
        if (r < 0)
                return r;
        *ret = (struct env){.boot_slot = 'A', .bootlimit = 3};
        for (char *line = res.stdout_buf.data, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                char *eq = strchr(line, '=');
                if (!eq)
                        continue;
                *eq = '\0';
                const char *v = eq + 1;
                if (strcmp(line, "boot_slot") == 0)
                        ret->boot_slot = strcmp(v, "B") == 0 ? 'B' : 'A'; /* as boot.cmd reads it */
                else if (strcmp(line, "upgrade_available") == 0)
                        ret->upgrade_available = strcmp(v, "1") == 0;
                else if (strcmp(line, "bootcount") == 0)
                        ret->bootcount = atoi(v);
                else if (strcmp(line, "bootlimit") == 0)
                        ret->bootlimit = atoi(v);
        }
        return 0;
}

/* One fw_setenv call (a script): both variables change in the same env write, or neither. */
static int env_set(const struct upd_config *cfg, char boot_slot, bool upgrade_available, alder_error **err)
{
        char script[] = "/tmp/alder-updated-env-XXXXXX";
        _cleanup_close_ int fd = mkstemp(script);
        if (fd < 0)
                return alder_error_sys(err, errno, "create %s", script);
        char text[96];
        int n = snprintf(text, sizeof(text), "boot_slot=%c\nupgrade_available=%d\nbootcount=0\n", boot_slot,
                         upgrade_available ? 1 : 0);
        int r = alder_write_all(fd, text, (size_t) n, script, err);
        if (r == 0) {
                const char *argv[] = {cfg->fw_setenv, "-c", cfg->fw_env_config, "-s", script, NULL};
                _cleanup_run_result_ alder_run_result res = {0};
                r = run_tool(cfg, argv, &res, err);
        }
        (void) unlink(script);
        return r;
}

/* ---- agent state ------------------------------------------------------------ */

static int state_load(const struct upd_config *cfg, json_t **ret, alder_error **err)
{
        if (access(cfg->state_path, F_OK) < 0 && errno == ENOENT) {
                *ret = json_pack("{s:s}", "state", "idle");
                return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
        }
        int r = alder_json_load_file(cfg->state_path, STATE_MAX_SIZE, ret, err);
        if (r == 0 && !json_is_object(*ret)) {
                json_decref(*ret);
                return alder_error_set(err, EBADMSG, "%s: expected a JSON object", cfg->state_path);
        }
        return r;
}

/* Sets "state" (and "error" when given), stamps the time, and writes atomically. */
static int state_save(const struct upd_config *cfg, json_t *st, const char *state, const char *error, alder_error **err)
{
        _cleanup_free_ char *dir = NULL;
        int r = alder_path_parent(cfg->state_path, &dir, err);
        if (r == 0)
                r = alder_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        json_object_set_new(st, "state", json_string(state));
        if (error)
                json_object_set_new(st, "error", json_string(error));
        else
                json_object_del(st, "error");
        json_object_set_new(st, "time", json_integer((json_int_t) time(NULL)));
        return alder_json_write_file(cfg->state_path, st, 0644, err);
}

static const char *state_str(json_t *st, const char *key)
{
        const char *v = json_string_value(json_object_get(st, key));
        return v ? v : "";
}

/* ---- slots -------------------------------------------------------------------- */

static int booted_slot(const struct upd_config *cfg, char *ret, alder_error **err)
{
        if (cfg->booted_slot) {
                *ret = cfg->booted_slot;
                return 0;
        }
        _cleanup_free_ char *cmdline = NULL;
        size_t len;
        int r = alder_read_file("/proc/cmdline", 4096, &cmdline, &len, err);
        if (r < 0)
                return r;
        const char *p = strstr(cmdline, "alder.slot=");
        if (!p || (p[11] != 'A' && p[11] != 'B'))
                return alder_error_set(err, ENOENT,
                                       "the booted slot is unknown: no alder.slot=A|B on the kernel command line "
                                       "and no 'booted_slot' in %s",
                                       cfg->config_path);
        *ret = p[11];
        return 0;
}

/* The slot's block device: its path, or the partition named by PARTLABEL=NAME (looked up now). */
static int slot_path(const struct upd_config *cfg, char slot, char **ret, alder_error **err)
{
        const char *spec = cfg->slots[slot == 'B'];
        if (strncmp(spec, "PARTLABEL=", 10) == 0)
                return alder_slot_find_partition(cfg->sysfs_block, cfg->dev_dir, spec + 10, ret, err);
        char *path = strdup(spec);
        if (!path)
                return alder_error_set(err, ENOMEM, "out of memory");
        *ret = path;
        return 0;
}

/* A small text file's first line (a boot id, a number), or ENOENT. */
static int read_line(const char *path, char **ret, alder_error **err)
{
        size_t len;
        int r = alder_read_file(path, SMALL_FILE_MAX, ret, &len, err);
        if (r < 0)
                return r;
        (*ret)[strcspn(*ret, "\r\n")] = '\0';
        return 0;
}

static int current_boot_id(const struct upd_config *cfg, char **ret, alder_error **err)
{
        if (cfg->boot_id) {
                char *id = strdup(cfg->boot_id);
                if (!id)
                        return alder_error_set(err, ENOMEM, "out of memory");
                *ret = id;
                return 0;
        }
        return read_line("/proc/sys/kernel/random/boot_id", ret, err);
}

/* The sequence number a bundle must reach: the last committed one, or the running image's if higher. */
static int min_sequence(const struct upd_config *cfg, json_t *st, uint64_t *ret, alder_error **err)
{
        uint64_t committed = (uint64_t) json_integer_value(json_object_get(st, "sequence"));
        if (access(cfg->sequence_file, F_OK) < 0 && errno == ENOENT) {
                *ret = committed; /* an image that does not say */
                return 0;
        }
        _cleanup_free_ char *text = NULL;
        int r = read_line(cfg->sequence_file, &text, err);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || end == text || *end)
                return alder_error_set(err, EINVAL, "%s: expected a sequence number, got '%s'", cfg->sequence_file,
                                       text);
        *ret = v > committed ? v : committed;
        return 0;
}

static char other_slot(char slot)
{
        return slot == 'A' ? 'B' : 'A';
}

/* ---- install ------------------------------------------------------------------ */

struct install_ctx {
        const struct upd_config *cfg;
        char target;
        alder_slot *slot;
        char *boot_path;         /* BOOT_DIR/fit-TARGET.itb */
        alder_atomic_file *boot; /* its new content, until committed */
        upd_progress_fn progress;
        void *progress_ctx;
        uint64_t total, done;
};

static void install_ctx_done(struct install_ctx *c)
{
        alder_slot_close(c->slot);
        alder_atomic_file_free(c->boot); /* uncommitted: its temp file goes */
        free(c->boot_path);
}

static void report(struct install_ctx *c, const char *what, size_t len)
{
        c->done += len;
        if (c->progress)
                c->progress(c->progress_ctx, what, c->done, c->total);
}

static int slot_begin(void *ctx, uint64_t size, alder_error **err)
{
        struct install_ctx *c = ctx;
        c->total = size;
        c->done = 0;
        return alder_slot_reserve(c->slot, size, err);
}

static int slot_write(void *ctx, const void *buf, size_t len, alder_error **err)
{
        struct install_ctx *c = ctx;
        int r = alder_slot_write(c->slot, buf, len, err);
        if (r == 0)
                report(c, "the image", len);
        return r;
}

static int boot_begin(void *ctx, uint64_t size, alder_error **err)
{
        struct install_ctx *c = ctx;
        struct statvfs vfs;
        if (statvfs(c->cfg->boot_dir, &vfs) < 0)
                return alder_error_sys(err, errno, "statvfs %s", c->cfg->boot_dir);
        uint64_t avail = (uint64_t) vfs.f_bavail * vfs.f_frsize;
        if (size + BOOT_SPACE_MARGIN > avail)
                return alder_error_set(err, ENOSPC,
                                       "the boot files (%" PRIu64 " bytes) do not fit in %s (%" PRIu64 " bytes free)",
                                       size, c->cfg->boot_dir, avail);
        c->total = size;
        c->done = 0;
        return alder_atomic_file_open(c->boot_path, 0600, &c->boot, err);
}

static int boot_write(void *ctx, const void *buf, size_t len, alder_error **err)
{
        struct install_ctx *c = ctx;
        int r = alder_atomic_file_write(c->boot, buf, len, err);
        if (r == 0)
                report(c, "the boot files", len);
        return r;
}

static int verify_bundle(const struct upd_config *cfg, int fd, const char *name, json_t *st, alder_alupd **ret,
                         alder_error **err)
{
        _cleanup_trust_store_ alder_trust_store *trust = NULL;
        _cleanup_alupd_ alder_alupd *b = NULL;
        alder_alupd_expect expect = {.vendor_domain = cfg->vendor, .product = cfg->product};
        int r = min_sequence(cfg, st, &expect.min_sequence, err);
        if (r == 0)
                r = alder_trust_store_load_dir(cfg->trust_dir, &trust, err);
        if (r == 0)
                r = alder_alupd_open_fd(fd, name, trust, &expect, &b, err);
        if (r < 0)
                return r;
        /* Each slot boots its own FIT, which holds its image's dm-verity root hash: both come together. */
        bool has_boot = alder_alupd_get_info(b)->has_boot;
        if (cfg->boot_dir[0] && !has_boot)
                return alder_error_set(err, EINVAL,
                                       "%s: carries no boot files, but this device boots each slot from a FIT in %s "
                                       "(make the bundle with 'alder update create --boot FIT')",
                                       name, cfg->boot_dir);
        if (!cfg->boot_dir[0] && has_boot)
                return alder_error_set(err, EINVAL, "%s: carries boot files, but no 'boot_dir' is configured in %s",
                                       name, cfg->config_path);
        *ret = steal_pointer(&b);
        return 0;
}

static bool is_boot_debris(const char *name)
{
        return strncmp(name, ".fit-", 5) == 0 && alder_is_temp_name(name);
}

/*
 * The target slot's FIT goes before its image is overwritten: a FIT on the
 * boot partition always matches a complete slot (boot.cmd's fallback never
 * boots a half-written one). Temp files of a FIT write a power cut
 * interrupted go too (each is as large as a FIT).
 */
static int remove_target_boot_files(struct install_ctx *c, alder_error **err)
{
        const char *dir = c->cfg->boot_dir;
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return alder_error_sys(err, errno, "open %s", dir);
        struct dirent *de;
        while ((de = readdir(d)))
                if (is_boot_debris(de->d_name) && unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return alder_error_sys(err, errno, "remove %s/%s", dir, de->d_name);
        if (unlink(c->boot_path) < 0 && errno != ENOENT)
                return alder_error_sys(err, errno, "remove %s", c->boot_path);
        if (fsync(dirfd(d)) < 0)
                return alder_error_sys(err, errno, "fsync %s", dir);
        return 0;
}

/* Image into the slot, boot files beside the other slot's, the rest checked; then both made durable. */
static int write_target(struct install_ctx *c, alder_alupd *b, alder_error **err)
{
        _cleanup_free_ char *dev = NULL;
        int r = slot_path(c->cfg, c->target, &dev, err);
        if (r == 0)
                r = alder_slot_open(dev, &c->slot, err);
        if (r == 0 && c->boot_path)
                r = remove_target_boot_files(c, err);
        if (r < 0)
                return r;
        alder_alupd_sink image = {.begin = slot_begin, .write = slot_write, .ctx = c};
        alder_alupd_sink boot = {.begin = boot_begin, .write = boot_write, .ctx = c};
        r = alder_alupd_stream_image(b, &image, err);
        if (r == 0 && c->boot_path)
                r = alder_alupd_stream_boot(b, &boot, err);
        if (r == 0)
                r = alder_alupd_check_rest(b, err);
        if (r == 0)
                r = alder_slot_finish(c->slot, NULL, err);
        if (r == 0 && c->boot_path)
                r = alder_atomic_file_commit(c->boot, err);
        return r;
}

static int install_checks(const struct upd_config *cfg, char *ret_booted, alder_error **err)
{
        struct env env;
        int r = booted_slot(cfg, ret_booted, err);
        if (r == 0)
                r = env_read(cfg, &env, err);
        if (r < 0)
                return r;
        if (env.upgrade_available)
                return alder_error_set(err, EBUSY,
                                       "an update to slot %c is pending: reboot into it and commit, or roll back, "
                                       "before installing another",
                                       env.boot_slot);
        if (env.boot_slot != *ret_booted)
                return alder_error_set(err, EBUSY, "the env boots slot %c but slot %c is running: roll back first",
                                       env.boot_slot, *ret_booted);
        return 0;
}

static double elapsed_s(const struct timespec *t0)
{
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (double) (t1.tv_sec - t0->tv_sec) + (double) (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int install_result(const alder_alupd_info *i, char from, char target, const struct timespec *t0, json_t **ret,
                          alder_error **err)
{
        double s = elapsed_s(t0);
        char slot_from[2] = {from, 0}, slot_to[2] = {target, 0};
        *ret = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:f,s:f,s:b}", "product", i->product, "version", i->version,
                         "from_slot", slot_from, "target_slot", slot_to, "sequence", (json_int_t) i->sequence,
                         "image_size", (json_int_t) i->image_size, "boot_size", (json_int_t) i->boot_size, "seconds", s,
                         "bytes_per_second", s > 0 ? (double) (i->image_size + i->boot_size) / s : 0.0,
                         "reboot_required", 1);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* Records the pending install (with the boot it runs in: a later boot can tell it rebooted since). */
static int record_installing(const struct upd_config *cfg, json_t *st, const alder_alupd_info *info, char from,
                             char target, alder_error **err)
{
        _cleanup_free_ char *boot_id = NULL;
        int r = current_boot_id(cfg, &boot_id, err);
        if (r < 0)
                return r;
        char slot_from[2] = {from, 0}, slot_to[2] = {target, 0};
        json_object_set_new(st, "from_slot", json_string(slot_from));
        json_object_set_new(st, "target_slot", json_string(slot_to));
        json_object_set_new(st, "pending_sequence", json_integer((json_int_t) info->sequence));
        json_object_set_new(st, "pending_version", json_string(info->version));
        json_object_set_new(st, "boot_id", json_string(boot_id));
        return state_save(cfg, st, "installing", NULL, err);
}

int upd_install(const struct upd_config *cfg, int fd, const char *name, upd_progress_fn progress, void *progress_ctx,
                json_t **ret, alder_error **err)
{
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char booted;
        _cleanup_json_ json_t *st = NULL;
        int r = state_load(cfg, &st, err);
        if (r == 0)
                r = install_checks(cfg, &booted, err);
        if (r < 0)
                return r;
        char target = other_slot(booted);

        /* The envelope is verified before anything is written anywhere. */
        _cleanup_alupd_ alder_alupd *b = NULL;
        r = verify_bundle(cfg, fd, name, st, &b, err);
        if (r < 0)
                return r;
        const alder_alupd_info *info = alder_alupd_get_info(b);
        r = record_installing(cfg, st, info, booted, target, err);
        if (r < 0)
                return r;

        _cleanup_(install_ctx_done) struct install_ctx ic = {
                .cfg = cfg, .target = target, .progress = progress, .progress_ctx = progress_ctx};
        if (info->has_boot && asprintf(&ic.boot_path, "%s/fit-%c.itb", cfg->boot_dir, target) < 0)
                r = alder_error_set(err, ENOMEM, "out of memory");
        if (r == 0)
                r = write_target(&ic, b, err);
        /* Armed only once the slot holds exactly the signed image, and its FIT is in place. */
        if (r == 0)
                r = env_set(cfg, target, true, err);
        if (r < 0) {
                alder_error *serr = NULL;
                if (state_save(cfg, st, "failed", alder_error_message(*err), &serr) < 0)
                        alder_error_wrap(err, "(recording the failure failed too: %s)", alder_error_message(serr));
                alder_error_free(serr);
                return r;
        }
        r = state_save(cfg, st, "armed", NULL, err);
        if (r == 0)
                r = install_result(info, booted, target, &t0, ret, err);
        return r;
}

/* ---- health checks ------------------------------------------------------------ */

static void sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The core apps alder-appd starts at boot (its config's core_apps; none without the file). */
static int load_core_apps(const struct upd_config *cfg, char ***ret, alder_error **err)
{
        *ret = NULL;
        if (access(cfg->appd_config, F_OK) < 0 && errno == ENOENT)
                return 0;
        _cleanup_json_ json_t *doc = NULL;
        int r = alder_json_load_file(cfg->appd_config, STATE_MAX_SIZE, &doc, err);
        if (r == 0)
                r = alder_json_get_strv(doc, cfg->appd_config, "core_apps", ALDER_JSON_OPTIONAL, MAX_CORE_APPS, ret,
                                        err);
        return r;
}

static json_t *find_app(json_t *list, const char *name)
{
        size_t i;
        json_t *app;
        json_array_foreach(list, i, app) if (strcmp(state_str(app, "name"), name) == 0) return app;
        return NULL;
}

/*
 * alder-appd answers and every core app runs: 0; not (yet): -EAGAIN with
 * the reason in *err. The check is repeated until health_timeout_ms.
 */
static int check_appd_once(const struct upd_config *cfg, char *const *core, alder_error **err)
{
        _cleanup_ipc_client_ alder_ipc_client *c = NULL;
        _cleanup_json_ json_t *list = NULL;
        int r = alder_ipc_client_connect(cfg->appd_socket, APPD_TIMEOUT_MS, &c, err);
        if (r == 0)
                r = alder_ipc_client_call(c, "app.list", NULL, APPD_TIMEOUT_MS, &list, err);
        if (r < 0) {
                alder_error_wrap(err, "alder-appd does not answer on %s", cfg->appd_socket);
                return -EAGAIN;
        }
        for (size_t i = 0; core && core[i]; i++) {
                json_t *app = find_app(list, core[i]);
                if (!app) {
                        alder_error_set(err, ENOENT, "core app %s is not installed", core[i]);
                        return -EAGAIN;
                }
                if (strcmp(state_str(app, "state"), "running") != 0) {
                        const char *why = state_str(app, "last_error");
                        alder_error_set(err, ESRCH, "core app %s is %s%s%s", core[i], state_str(app, "state"),
                                        why[0] ? ": " : "", why);
                        return -EAGAIN;
                }
        }
        return 0;
}

/* Waits (up to health_timeout_ms) for alder-appd to answer and the core apps to run. */
static int check_appd(const struct upd_config *cfg, alder_error **err)
{
        if (!cfg->appd_socket[0])
                return 0;
        _cleanup_strv_ char **core = NULL;
        int r = load_core_apps(cfg, &core, err);
        if (r < 0)
                return alder_error_wrap(err, "health check");
        int64_t deadline = now_ms() + cfg->health_timeout_ms;
        for (;;) {
                alder_error *why = NULL;
                r = check_appd_once(cfg, core, &why);
                if (r == 0 || now_ms() >= deadline) {
                        if (r < 0) {
                                r = alder_error_set(err, ETIMEDOUT, "health check: %s (waited %u ms)",
                                                    alder_error_message(why), cfg->health_timeout_ms);
                        }
                        alder_error_free(why);
                        return r;
                }
                alder_error_free(why);
                sleep_ms(HEALTH_POLL_MS);
        }
}

static int run_hook(const struct upd_config *cfg, const char *path, alder_error **err)
{
        const char *argv[] = {path, NULL};
        alder_run_opts o = {.spawn = {.argv = argv, .stdout_mode = ALDER_STDIO_PIPE, .stderr_mode = ALDER_STDIO_PIPE},
                            .timeout_ms = cfg->hook_timeout_ms};
        _cleanup_run_result_ alder_run_result res = {0};
        int r = alder_run(&o, &res, err);
        if (r < 0)
                return alder_error_wrap(err, "health hook %s", path);
        if (!alder_exit_ok(&res.exit)) {
                char how[ALDER_EXIT_DESCRIBE_MAX];
                return alder_error_set(err, ECANCELED, "health hook %s %s: %s", path,
                                       alder_exit_describe(&res.exit, how, sizeof(how)),
                                       res.stderr_buf.data ? res.stderr_buf.data : "");
        }
        return 0;
}

static int filter_hook(const struct dirent *d)
{
        return d->d_name[0] != '.';
}

/* Executable files of the hooks folder, in name order; a missing folder has none. */
static int run_hooks(const struct upd_config *cfg, alder_error **err)
{
        struct dirent **names = NULL;
        int n = scandir(cfg->hooks_dir, &names, filter_hook, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0 : alder_error_sys(err, errno, "read hooks folder %s", cfg->hooks_dir);
        int r = 0;
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                struct stat sb;
                if (r == 0 && asprintf(&path, "%s/%s", cfg->hooks_dir, names[i]->d_name) < 0)
                        r = alder_error_set(err, ENOMEM, "out of memory");
                if (r == 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0111))
                        r = run_hook(cfg, path, err);
                free(names[i]);
        }
        free(names);
        return r;
}

/* ---- commit, rollback, boot ------------------------------------------------------ */

static int pending_update(const struct upd_config *cfg, struct env *env, char *booted, alder_error **err)
{
        int r = booted_slot(cfg, booted, err);
        if (r == 0)
                r = env_read(cfg, env, err);
        if (r < 0)
                return r;
        if (!env->upgrade_available)
                return alder_error_set(err, EALREADY, "no update is pending (upgrade_available=0)");
        if (env->boot_slot != *booted)
                return alder_error_set(err, EAGAIN,
                                       "the update to slot %c is armed but slot %c is running: reboot first",
                                       env->boot_slot, *booted);
        return 0;
}

static int do_rollback(const struct upd_config *cfg, json_t *st, char to, const char *why, bool reboot, json_t **ret,
                       alder_error **err)
{
        int r = env_set(cfg, to, false, err);
        if (r == 0)
                r = state_save(cfg, st, "rolled-back", why, err);
        if (r < 0)
                return r;
        char slot[2] = {to, 0};
        *ret = json_pack("{s:s,s:s,s:b,s:s?}", "action", "rolled-back", "boot_slot", slot, "reboot_required", reboot,
                         "reason", why);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/*
 * The running slot is the armed one: health checks, then upgrade_available=0
 * and the sequence number recorded; a failed check makes the other slot the
 * boot target again and is returned as the error, with *ret describing the
 * rollback (NULL when that failed too).
 */
static int health_then_commit(const struct upd_config *cfg, json_t *st, char booted, json_t **ret, alder_error **err)
{
        int r = check_appd(cfg, err);
        if (r == 0)
                r = run_hooks(cfg, err);
        if (r < 0) {
                /* Unhealthy: back to the slot that ran before, and say why. */
                alder_error *rerr = NULL;
                if (do_rollback(cfg, st, other_slot(booted), alder_error_message(*err), true, ret, &rerr) < 0)
                        alder_error_wrap(err, "(and the rollback failed: %s)", alder_error_message(rerr));
                else
                        alder_error_wrap(err, "not committed; slot %c is the boot target again", other_slot(booted));
                alder_error_free(rerr);
                return r;
        }
        r = env_set(cfg, booted, false, err);
        if (r < 0)
                return r;
        json_object_set(st, "sequence", json_object_get(st, "pending_sequence"));
        json_object_set(st, "version", json_object_get(st, "pending_version"));
        r = state_save(cfg, st, "committed", NULL, err);
        if (r < 0)
                return r;
        char slot[2] = {booted, 0};
        *ret = json_pack("{s:s,s:s,s:O?,s:O?}", "action", "committed", "slot", slot, "sequence",
                         json_object_get(st, "sequence"), "version", json_object_get(st, "version"));
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

int upd_commit(const struct upd_config *cfg, json_t **ret, alder_error **err)
{
        struct env env;
        char booted;
        _cleanup_json_ json_t *st = NULL, *res = NULL;
        int r = state_load(cfg, &st, err);
        if (r == 0)
                r = pending_update(cfg, &env, &booted, err);
        if (r == 0)
                r = health_then_commit(cfg, st, booted, &res, err);
        if (r == 0)
                *ret = steal_pointer(&res);
        return r;
}

int upd_rollback(const struct upd_config *cfg, json_t **ret, alder_error **err)
{
        char booted;
        _cleanup_json_ json_t *st = NULL;
        int r = state_load(cfg, &st, err);
        if (r == 0)
                r = booted_slot(cfg, &booted, err);
        if (r < 0)
                return r;
        /* Armed but not rebooted: stay on the running slot. Running the new slot: back to the old one. */
        const char *from = state_str(st, "from_slot");
        char to = strcmp(state_str(st, "state"), "armed") == 0 && from[0] == booted ? booted : other_slot(booted);
        return do_rollback(cfg, st, to, "rollback requested", true, ret, err);
}

/* ---- status ------------------------------------------------------------------- */

/* What the state file says against what the env and the booted slot show: records what happened meanwhile. */
static int reconcile(const struct upd_config *cfg, json_t *st, struct env *env, char booted, alder_error **err)
{
        const char *state = state_str(st, "state"), *from = state_str(st, "from_slot");
        /* Only one operation runs at a time (the caller holds the lock): this install is not running any more. */
        if (strcmp(state, "installing") == 0) {
                /* The env write is the install's last step: if it happened, only recording it was cut short. */
                const char *target = state_str(st, "target_slot");
                if (env->upgrade_available && env->boot_slot == target[0])
                        return state_save(cfg, st, "armed", NULL, err);
                return state_save(cfg, st, "failed", "interrupted (crash or power cut) while writing the slot", err);
        }
        /* Armed, and back in the old slot with the try-boot spent: boot.cmd gave up on the new slot. */
        if (strcmp(state, "armed") == 0 && booted && from[0] == booted && !env->upgrade_available &&
            env->boot_slot == booted) {
                char why[128];
                snprintf(why, sizeof(why),
                         "slot %s did not boot within bootlimit (%d) tries: the bootloader "
                         "returned to slot %c",
                         state_str(st, "target_slot"), env->bootlimit, booted);
                return state_save(cfg, st, "rolled-back", why, err);
        }
        return 0;
}

static int status_json(json_t *st, const struct env *env, char booted, json_t **ret, alder_error **err)
{
        char b[2] = {booted, 0}, e[2] = {env->boot_slot, 0};
        *ret = json_pack("{s:O,s:s?,s:{s:s,s:b,s:i,s:i}}", "agent", st, "booted_slot", booted ? b : NULL, "env",
                         "boot_slot", e, "upgrade_available", env->upgrade_available, "bootcount", env->bootcount,
                         "bootlimit", env->bootlimit);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

int upd_status(const struct upd_config *cfg, json_t **ret, alder_error **err)
{
        _cleanup_json_ json_t *st = NULL;
        struct env env;
        char booted = 0;
        alder_error *berr = NULL;
        int r = state_load(cfg, &st, err);
        if (r == 0)
                r = env_read(cfg, &env, err);
        if (r < 0)
                return r;
        (void) booted_slot(cfg, &booted, &berr);
        alder_error_free(berr);
        r = reconcile(cfg, st, &env, booted, err);
        if (r == 0)
                r = status_json(st, &env, booted, ret, err);
        return r;
}

/* ---- at boot ------------------------------------------------------------------- */

/*
 * Armed in an earlier boot, the old slot runs and the try-boot is still
 * armed: U-Boot could not boot the new slot (its FIT is missing or failed
 * verification) and boot.cmd fell back to this one.
 */
static int bootloader_fell_back(const struct upd_config *cfg, json_t *st, const struct env *env, char booted, bool *ret,
                                alder_error **err)
{
        *ret = false;
        const char *target = state_str(st, "target_slot"), *armed_in = state_str(st, "boot_id");
        if (strcmp(state_str(st, "state"), "armed") != 0 || !env->upgrade_available || env->boot_slot != target[0] ||
            target[0] == booted || !armed_in[0])
                return 0;
        _cleanup_free_ char *boot_id = NULL;
        int r = current_boot_id(cfg, &boot_id, err);
        if (r == 0)
                *ret = strcmp(boot_id, armed_in) != 0;
        return r;
}

int upd_boot(const struct upd_config *cfg, json_t **ret, alder_error **err)
{
        _cleanup_json_ json_t *st = NULL;
        struct env env = {0};
        char booted = 0;
        int r = state_load(cfg, &st, err);
        if (r == 0)
                r = env_read(cfg, &env, err);
        if (r == 0)
                r = booted_slot(cfg, &booted, err);
        if (r == 0)
                r = reconcile(cfg, st, &env, booted, err);
        bool fell_back = false;
        if (r == 0)
                r = bootloader_fell_back(cfg, st, &env, booted, &fell_back, err);
        if (r < 0)
                return r;
        if (fell_back) {
                char why[160];
                snprintf(why, sizeof(why),
                         "the bootloader did not boot slot %s (its FIT is missing or failed verification) and fell "
                         "back to slot %c",
                         state_str(st, "target_slot"), booted);
                return do_rollback(cfg, st, booted, why, false, ret, err);
        }
        /* Only a try-boot this agent armed is committed here (not one set by hand with fw_setenv). */
        if (strcmp(state_str(st, "state"), "armed") == 0 && env.upgrade_available && env.boot_slot == booted &&
            state_str(st, "target_slot")[0] == booted) {
                _cleanup_json_ json_t *res = NULL;
                alder_error *herr = NULL;
                r = health_then_commit(cfg, st, booted, &res, &herr);
                if (r < 0 && !res) { /* not even the rollback could be recorded */
                        if (err)
                                *err = herr;
                        else
                                alder_error_free(herr);
                        return r;
                }
                alder_error_free(herr); /* a failed check: the reason is in the result and in the state */
                *ret = steal_pointer(&res);
                return 0;
        }
        _cleanup_json_ json_t *status = NULL;
        r = status_json(st, &env, booted, &status, err);
        if (r == 0) {
                *ret = json_pack("{s:s,s:O}", "action", "none", "status", status);
                if (!*ret)
                        r = alder_error_set(err, ENOMEM, "out of memory");
        }
        return r;
}
