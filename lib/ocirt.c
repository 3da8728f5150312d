/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/ocirt.h"

#define CGROUP_MOUNT    "/sys/fs/cgroup"
#define MAX_CALL_ARGS   (ALDER_OCIRT_EXEC_MAX_ARGS + 4) /* arguments after the operation */
#define VERSION_TIMEOUT 5000u                           /* ms for `--version` */
#define PID_FILE_MAX    32                              /* bytes of a pid file */
#define MAX_LOG_LINE    (16u * 1024u)                   /* longer log lines are not parsed */

static const char *const search_dirs[] = {"/usr/bin", "/usr/sbin", "/usr/local/bin"};

static const char *const status_names[] = {
        [ALDER_OCIRT_CREATING] = "creating", [ALDER_OCIRT_CREATED] = "created", [ALDER_OCIRT_RUNNING] = "running",
        [ALDER_OCIRT_PAUSED] = "paused",     [ALDER_OCIRT_STOPPED] = "stopped",
};

struct alder_ocirt {
        char *name;
        char *path;
        char *root;
        char *version;
        unsigned timeout_ms;
};

/* One CLI call: `OP ARGS...`, with where the runtime's stdout/stderr go. */
struct call {
        const char *op;
        const char *id; /* for messages; NULL when the call names no container */
        const char *args[MAX_CALL_ARGS + 1];
        alder_stdio stdout_mode, stderr_mode;
        int stdout_fd, stderr_fd;
        unsigned timeout_ms;    /* 0: the runtime's */
        bool untimed;           /* no timeout at all */
        bool enoent_if_missing; /* a failure for a container that is not there is ENOENT */
        size_t max_capture;
};

/* ---- Pure helpers ------------------------------------------------------------ */

static bool id_char(char c, bool first)
{
        return isascii((unsigned char) c) &&
               (isalnum((unsigned char) c) || (!first && (c == '_' || c == '.' || c == '-')));
}

int alder_ocirt_check_id(const char *id, alder_error **err)
{
        if (!id || !*id)
                return alder_error_set(err, EINVAL, "container id is empty");
        size_t len = strnlen(id, ALDER_OCIRT_ID_MAX + 1);
        if (len > ALDER_OCIRT_ID_MAX)
                return alder_error_set(err, EINVAL, "container id '%.32s...': longer than %u characters", id,
                                       ALDER_OCIRT_ID_MAX);
        for (size_t i = 0; i < len; i++)
                if (!id_char(id[i], i == 0))
                        return alder_error_set(err, EINVAL,
                                               "container id '%s': character %zu is not allowed "
                                               "(expected [a-zA-Z0-9][a-zA-Z0-9_.-]*)",
                                               id, i + 1);
        return 0;
}

static int select_named(const char *name, const char *crun_path, const char *runc_path, const char **ret,
                        alder_error **err)
{
        const char *path;
        if (strcmp(name, "crun") == 0)
                path = crun_path;
        else if (strcmp(name, "runc") == 0)
                path = runc_path;
        else
                return alder_error_set(err, EINVAL, "unknown OCI runtime '%s' (expected crun or runc)", name);
        if (!path)
                return alder_error_set(err, ENOENT, "OCI runtime '%s' not found in %s", name, ALDER_OCIRT_SEARCH_PATH);
        *ret = path;
        return 0;
}

int alder_ocirt_select(const char *name, bool has_cgroup2, const char *crun_path, const char *runc_path,
                       const char **ret, alder_error **err)
{
        if (name)
                return select_named(name, crun_path, runc_path, ret, err);
        /* crun refuses hybrid cgroup v1 hosts; runc copes with both. */
        if (crun_path && has_cgroup2) {
                *ret = crun_path;
                return 0;
        }
        if (runc_path) {
                *ret = runc_path;
                return 0;
        }
        if (crun_path)
                return alder_error_set(err, ENOENT,
                                       "no usable OCI runtime: crun needs a cgroup v2 hierarchy at " CGROUP_MOUNT
                                       " and runc was not found in %s",
                                       ALDER_OCIRT_SEARCH_PATH);
        return alder_error_set(err, ENOENT, "no OCI runtime found: looked for crun and runc in %s",
                               ALDER_OCIRT_SEARCH_PATH);
}

const char *alder_ocirt_status_name(alder_ocirt_status s)
{
        const char *n = ALDER_NAME_OF(status_names, s);
        return n ? n : "unknown";
}

static int status_from_name(const char *s, alder_ocirt_status *ret)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(status_names); i++)
                if (strcmp(s, status_names[i]) == 0) {
                        *ret = (alder_ocirt_status) i;
                        return 0;
                }
        return -EINVAL;
}

int alder_ocirt_container_from_json(const json_t *obj, const char *source, alder_ocirt_container *ret,
                                    alder_error **err)
{
        const char *id, *status;
        int64_t pid = 0;
        alder_ocirt_container s = {0};
        int r = alder_json_get_string(obj, source, "id", 0, &id, err);
        if (r < 0)
                return r;
        if (alder_ocirt_check_id(id, NULL) < 0)
                return alder_error_set(err, EBADMSG, "%s: field 'id': not a valid container id", source);
        r = alder_json_get_string(obj, source, "status", 0, &status, err);
        if (r < 0)
                return r;
        if (status_from_name(status, &s.status) < 0)
                return alder_error_set(err, EBADMSG, "%s: field 'status': unknown status '%.32s'", source, status);
        r = alder_json_get_int_range(obj, source, "pid", ALDER_JSON_OPTIONAL, 0, INT32_MAX, &pid, err);
        if (r < 0)
                return r;
        memcpy(s.id, id, strlen(id) + 1);
        s.pid = (pid_t) pid;
        *ret = s;
        return 0;
}

int alder_ocirt_parse_state(const char *source, const char *buf, size_t len, alder_ocirt_container *ret,
                            alder_error **err)
{
        _cleanup_json_ json_t *doc = NULL;
        int r = alder_json_parse(source, buf, len, &doc, err);
        if (r < 0)
                return r;
        return alder_ocirt_container_from_json(doc, source, ret, err);
}

/* runc prints "null" for no containers; alder_json_parse takes only arrays and objects. */
static bool is_null_document(const char *buf, size_t len)
{
        while (len > 0 && isspace((unsigned char) buf[len - 1]))
                len--;
        return len == 4 && memcmp(buf, "null", 4) == 0;
}

int alder_ocirt_parse_list(const char *source, const char *buf, size_t len, alder_ocirt_container **ret, size_t *ret_n,
                           alder_error **err)
{
        _cleanup_json_ json_t *doc = NULL;
        int r = is_null_document(buf, len) ? 0 : alder_json_parse(source, buf, len, &doc, err);
        if (r < 0)
                return r;
        size_t n = json_is_array(doc) ? json_array_size(doc) : 0;
        if (doc && !json_is_array(doc))
                return alder_error_set(err, EBADMSG, "%s: expected array, got %s", source, alder_json_type_name(doc));
        if (n > ALDER_OCIRT_MAX_CONTAINERS)
                return alder_error_set(err, E2BIG, "%s: %zu containers, more than %u", source, n,
                                       ALDER_OCIRT_MAX_CONTAINERS);
        _cleanup_free_ alder_ocirt_container *v = n ? calloc(n, sizeof(*v)) : NULL;
        if (n && !v)
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        for (size_t i = 0; i < n; i++) {
                char where[64];
                snprintf(where, sizeof(where), "%.40s[%zu]", source, i);
                r = alder_ocirt_container_from_json(json_array_get(doc, i), where, &v[i], err);
                if (r < 0)
                        return r;
        }
        *ret = steal_pointer(&v);
        *ret_n = n;
        return 0;
}

/* The last error-level "msg" of a JSON-lines log, or NULL (borrowed from the returned doc in *keep). */
static const char *log_error_msg(const char *log, size_t len, json_t **keep)
{
        const char *msg = NULL;
        const char *end = log + len;
        for (const char *p = log; p < end;) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                json_t *line = n <= MAX_LOG_LINE ? json_loadb(p, n, 0, NULL) : NULL;
                const char *level = json_string_value(json_object_get(line, "level"));
                const char *m = json_string_value(json_object_get(line, "msg"));
                if (m && level && (strcmp(level, "error") == 0 || strcmp(level, "fatal") == 0)) {
                        json_decref(*keep);
                        *keep = steal_pointer(&line);
                        msg = m;
                }
                json_decref(line);
                p += n + 1;
        }
        return msg;
}

/* Trims, replaces control characters, bounds. */
static char *clean_message(const char *s, size_t len)
{
        while (len > 0 && isspace((unsigned char) *s))
                s++, len--;
        while (len > 0 && isspace((unsigned char) s[len - 1]))
                len--;
        if (len == 0)
                return NULL;
        bool cut = len > ALDER_OCIRT_MESSAGE_MAX;
        size_t keep = cut ? ALDER_OCIRT_MESSAGE_MAX - 3 : len;
        char *out = malloc(keep + 4);
        if (!out)
                return NULL;
        for (size_t i = 0; i < keep; i++)
                out[i] = iscntrl((unsigned char) s[i]) ? ' ' : s[i];
        strcpy(out + keep, cut ? "..." : "");
        return out;
}

char *alder_ocirt_message(const char *log, size_t log_len, const char *stderr_text, size_t stderr_len)
{
        _cleanup_json_ json_t *keep = NULL;
        const char *msg = log ? log_error_msg(log, log_len, &keep) : NULL;
        if (msg)
                return clean_message(msg, strlen(msg));
        return stderr_text ? clean_message(stderr_text, stderr_len) : NULL;
}

/* ---- Runtime calls ------------------------------------------------------------- */

static bool has_cgroup2(void)
{
        struct statfs fs;
        return statfs(CGROUP_MOUNT, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

static char *find_binary(const char *name)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(search_dirs); i++) {
                char *p = NULL;
                if (asprintf(&p, "%s/%s", search_dirs[i], name) < 0)
                        return NULL;
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

static int read_version(alder_ocirt *rt, alder_error **err)
{
        const char *argv[] = {rt->path, "--version", NULL};
        alder_run_opts o = {.spawn = {.argv = argv, .stdout_mode = ALDER_STDIO_PIPE, .stderr_mode = ALDER_STDIO_NULL},
                            .timeout_ms = VERSION_TIMEOUT,
                            .max_capture = 4096};
        _cleanup_run_result_ alder_run_result res = {0};
        int r = alder_run(&o, &res, err);
        if (r < 0)
                return alder_error_wrap(err, "%s --version", rt->path);
        if (!alder_exit_ok(&res.exit) || !res.stdout_buf.data) {
                char d[ALDER_EXIT_DESCRIBE_MAX];
                return alder_error_set(err, EIO, "%s --version: %s", rt->path,
                                       alder_exit_describe(&res.exit, d, sizeof(d)));
        }
        rt->version = clean_message(res.stdout_buf.data, strcspn(res.stdout_buf.data, "\n"));
        if (!rt->version)
                return alder_error_set(err, EIO, "%s --version: printed no version", rt->path);
        return 0;
}

/* The per-call temp files (.ocirt-log-*, .ocirt-pid-*) of a caller killed in the middle of a call. */
static void remove_stale_temp_files(const alder_ocirt *rt)
{
        _cleanup_closedir_ DIR *d = opendir(rt->root);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (strncmp(de->d_name, ".ocirt-", 7) == 0)
                        (void) unlinkat(dirfd(d), de->d_name, 0);
}

int alder_ocirt_open(const char *name, const char *state_root, alder_ocirt **ret, alder_error **err)
{
        _cleanup_free_ char *crun = find_binary("crun"), *runc = find_binary("runc");
        const char *path;
        int r = alder_ocirt_select(name, has_cgroup2(), crun, runc, &path, err);
        if (r < 0)
                return r;
        _cleanup_ocirt_ alder_ocirt *rt = calloc(1, sizeof(*rt));
        if (!rt)
                return alder_error_set(err, ENOMEM, "OCI runtime: out of memory");
        rt->name = strdup(path == crun ? "crun" : "runc");
        rt->path = strdup(path);
        rt->root = strdup(state_root);
        rt->timeout_ms = ALDER_OCIRT_DEFAULT_TIMEOUT;
        if (!rt->name || !rt->path || !rt->root)
                return alder_error_set(err, ENOMEM, "OCI runtime: out of memory");
        r = alder_mkdir_p(state_root, 0700, err);
        if (r < 0)
                return alder_error_wrap(err, "OCI runtime state root");
        r = read_version(rt, err);
        if (r < 0)
                return r;
        remove_stale_temp_files(rt);
        *ret = steal_pointer(&rt);
        return 0;
}

void alder_ocirt_free(alder_ocirt *rt)
{
        if (!rt)
                return;
        free(rt->name);
        free(rt->path);
        free(rt->root);
        free(rt->version);
        free(rt);
}

const char *alder_ocirt_name(const alder_ocirt *rt)
{
        return rt->name;
}

const char *alder_ocirt_path(const alder_ocirt *rt)
{
        return rt->path;
}

const char *alder_ocirt_version(const alder_ocirt *rt)
{
        return rt->version;
}

void alder_ocirt_set_timeout(alder_ocirt *rt, unsigned timeout_ms)
{
        rt->timeout_ms = timeout_ms ? timeout_ms : ALDER_OCIRT_DEFAULT_TIMEOUT;
}

/* A file in the state root that is removed when the variable leaves scope. */
typedef struct temp_file {
        char *path;
        int fd;
} temp_file;

static void temp_file_clear(temp_file *t)
{
        if (t->path)
                unlink(t->path);
        free(t->path);
        alder_closep(&t->fd);
}
#define _cleanup_temp_file_ _cleanup_(temp_file_clear)

static int temp_file_make(const alder_ocirt *rt, const char *kind, temp_file *t, alder_error **err)
{
        if (asprintf(&t->path, "%s/.ocirt-%s-XXXXXX", rt->root, kind) < 0) {
                t->path = NULL;
                return alder_error_set(err, ENOMEM, "OCI runtime: out of memory");
        }
        t->fd = mkostemp(t->path, O_CLOEXEC);
        if (t->fd < 0) {
                int e = errno;
                free(steal_pointer(&t->path));
                return alder_error_sys(err, e, "create temporary file in '%s'", rt->root);
        }
        return 0;
}

/* Reads the file behind fd from its start, at most ALDER_OCIRT_MAX_OUTPUT bytes; NULL on failure. */
static char *read_fd_bounded(int fd, size_t *ret_len)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return NULL;
        size_t size = ALDER_MIN((size_t) st.st_size, ALDER_OCIRT_MAX_OUTPUT);
        char *buf = malloc(size + 1);
        size_t len = 0;
        if (!buf)
                return NULL;
        while (len < size) {
                ssize_t n = pread(fd, buf + len, size - len, (off_t) len);
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        *ret_len = len;
        return buf;
}

/* "runc create 'hello'" or "runc list": how errors name a call. */
static const char *call_name(const alder_ocirt *rt, const struct call *c, char *buf, size_t size)
{
        if (c->id)
                snprintf(buf, size, "%s %s '%s'", rt->name, c->op, c->id);
        else
                snprintf(buf, size, "%s %s", rt->name, c->op);
        return buf;
}

/*
 * Runs the call. *ret_msg gets the runtime's message (from the log; from its
 * stderr too when that was captured), or NULL.
 */
static int call_run(alder_ocirt *rt, const struct call *c, alder_run_result *ret, char **ret_msg, alder_error **err)
{
        char what[ALDER_OCIRT_ID_MAX + 64];
        _cleanup_temp_file_ temp_file log = {.fd = -1};
        int r = temp_file_make(rt, "log", &log, err);
        if (r < 0)
                return alder_error_wrap(err, "%s", call_name(rt, c, what, sizeof(what)));
        const char *argv[8 + MAX_CALL_ARGS + 1] = {
                rt->path, "--root", rt->root, "--log", log.path, "--log-format", "json", c->op,
        };
        for (size_t i = 0; c->args[i]; i++)
                argv[8 + i] = c->args[i];
        alder_run_opts o = {
                .spawn = {.argv = argv,
                          .stdout_mode = c->stdout_mode,
                          .stdout_fd = c->stdout_fd,
                          .stderr_mode = c->stderr_mode,
                          .stderr_fd = c->stderr_fd},
                .timeout_ms = c->untimed      ? 0
                              : c->timeout_ms ? c->timeout_ms
                                              : rt->timeout_ms,
                .max_capture = c->max_capture ? c->max_capture : ALDER_OCIRT_MAX_OUTPUT,
        };
        _cleanup_run_result_ alder_run_result res = {0};
        r = alder_run(&o, &res, err);
        if (r < 0)
                return alder_error_wrap(err, "%s", call_name(rt, c, what, sizeof(what)));
        size_t log_len = 0;
        _cleanup_free_ char *log_text = read_fd_bounded(log.fd, &log_len);
        /* The runtime's stderr is its own only when it is not the container's. */
        bool own_stderr = c->stderr_mode == ALDER_STDIO_PIPE && strcmp(c->op, "run") != 0;
        *ret_msg = alder_ocirt_message(log_text, log_len, own_stderr ? res.stderr_buf.data : NULL, res.stderr_buf.len);
        *ret = res;
        res = (alder_run_result){0};
        return 0;
}

static bool container_exists(const alder_ocirt *rt, const char *id)
{
        int dfd = open(rt->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return true; /* cannot tell: let the runtime's message stand */
        bool exists = faccessat(dfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
        close(dfd);
        return exists;
}

/* The error for a call that did not exit 0. */
static int call_error(alder_ocirt *rt, const struct call *c, const alder_run_result *res, const char *msg,
                      alder_error **err)
{
        char what[ALDER_OCIRT_ID_MAX + 64], d[ALDER_EXIT_DESCRIBE_MAX];
        call_name(rt, c, what, sizeof(what));
        int errnum = c->enoent_if_missing && !container_exists(rt, c->id) ? ENOENT : EIO;
        if (res->exit.kind == ALDER_TIMED_OUT || !msg)
                return alder_error_set(err, errnum, "%s: %s", what, alder_exit_describe(&res->exit, d, sizeof(d)));
        return alder_error_set(err, errnum, "%s: %s", what, msg);
}

/* Runs a call that must exit 0; *ret (may be NULL) gets the result. */
static int call_checked(alder_ocirt *rt, const struct call *c, alder_run_result *ret, alder_error **err)
{
        _cleanup_run_result_ alder_run_result res = {0};
        _cleanup_free_ char *msg = NULL;
        int r = call_run(rt, c, &res, &msg, err);
        if (r < 0)
                return r;
        if (!alder_exit_ok(&res.exit))
                return call_error(rt, c, &res, msg, err);
        if (ret) {
                *ret = res;
                res = (alder_run_result){0};
        }
        return 0;
}

/* A call whose output is captured (state, list, kill, delete, start). */
static struct call captured(const char *op, const char *id)
{
        return (struct call){.op = op,
                             .id = id,
                             .stdout_mode = ALDER_STDIO_PIPE,
                             .stderr_mode = ALDER_STDIO_PIPE,
                             .enoent_if_missing = id != NULL};
}

static int read_pid_file(const char *path, pid_t *ret, alder_error **err)
{
        _cleanup_free_ char *buf = NULL;
        int r = alder_read_file(path, PID_FILE_MAX, &buf, NULL, err);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        long v = strtol(buf, &end, 10);
        if (errno || end == buf || v <= 0 || v > INT32_MAX || (*end && !isspace((unsigned char) *end)))
                return alder_error_set(err, EBADMSG, "pid file '%s': not a pid", path);
        *ret = (pid_t) v;
        return 0;
}

/* Cleanup on a path that already failed: its own error would hide the first one. */
static void delete_quietly(alder_ocirt *rt, const char *id)
{
        if (alder_ocirt_delete(rt, id, true, NULL) < 0)
                return; /* gone already, or the caller's error says enough */
}

int alder_ocirt_run_detached(alder_ocirt *rt, const char *id, const char *bundle, int stdout_fd, int stderr_fd,
                             const char *pid_file, pid_t *ret_pid, alder_error **err)
{
        int r = alder_ocirt_check_id(id, err);
        if (r < 0)
                return r;
        _cleanup_temp_file_ temp_file pidtmp = {.fd = -1};
        if (!pid_file) {
                r = temp_file_make(rt, "pid", &pidtmp, err);
                if (r < 0)
                        return r;
                pid_file = pidtmp.path;
        }
        /* run --detach: create and start in one call of the runtime (a failed start deletes the container) */
        struct call c = {
                .op = "run",
                .id = id,
                .args = {"--detach", "--bundle", bundle, "--pid-file", pid_file, id},
                .stdout_mode = stdout_fd >= 0 ? ALDER_STDIO_FD : ALDER_STDIO_NULL,
                .stdout_fd = stdout_fd,
                .stderr_mode = stderr_fd >= 0 ? ALDER_STDIO_FD : ALDER_STDIO_NULL,
                .stderr_fd = stderr_fd,
        };
        r = call_checked(rt, &c, NULL, err);
        if (r < 0)
                return r;
        pid_t pid = 0;
        r = read_pid_file(pid_file, &pid, err);
        if (r < 0) {
                delete_quietly(rt, id);
                return alder_error_wrap(err, "%s run '%s'", rt->name, id);
        }
        if (ret_pid)
                *ret_pid = pid;
        return 0;
}

int alder_ocirt_state(alder_ocirt *rt, const char *id, alder_ocirt_container *ret, alder_error **err)
{
        int r = alder_ocirt_check_id(id, err);
        if (r < 0)
                return r;
        struct call c = captured("state", id);
        c.args[0] = id;
        _cleanup_run_result_ alder_run_result res = {0};
        r = call_checked(rt, &c, &res, err);
        if (r < 0)
                return r;
        char what[ALDER_OCIRT_ID_MAX + 64];
        return alder_ocirt_parse_state(call_name(rt, &c, what, sizeof(what)), res.stdout_buf.data, res.stdout_buf.len,
                                       ret, err);
}

int alder_ocirt_kill(alder_ocirt *rt, const char *id, int sig, alder_error **err)
{
        int r = alder_ocirt_check_id(id, err);
        if (r < 0)
                return r;
        if (sig <= 0 || sig >= NSIG)
                return alder_error_set(err, EINVAL, "%s kill '%s': invalid signal %d", rt->name, id, sig);
        char signum[16];
        snprintf(signum, sizeof(signum), "%d", sig);
        struct call c = captured("kill", id);
        c.args[0] = id;
        c.args[1] = signum;
        return call_checked(rt, &c, NULL, err);
}

int alder_ocirt_delete(alder_ocirt *rt, const char *id, bool force, alder_error **err)
{
        int r = alder_ocirt_check_id(id, err);
        if (r < 0)
                return r;
        /* nothing to delete: spare the runtime's start-up (appd checks before every start) */
        if (!container_exists(rt, id))
                return alder_error_set(err, ENOENT, "%s delete '%s': no such container", rt->name, id);
        struct call c = captured("delete", id);
        c.args[0] = force ? "--force" : id;
        c.args[1] = force ? id : NULL;
        return call_checked(rt, &c, NULL, err);
}

int alder_ocirt_list(alder_ocirt *rt, alder_ocirt_container **ret, size_t *ret_n, alder_error **err)
{
        struct call c = captured("list", NULL);
        c.args[0] = "--format";
        c.args[1] = "json";
        _cleanup_run_result_ alder_run_result res = {0};
        int r = call_checked(rt, &c, &res, err);
        if (r < 0)
                return r;
        char what[64];
        return alder_ocirt_parse_list(call_name(rt, &c, what, sizeof(what)), res.stdout_buf.data, res.stdout_buf.len,
                                      ret, ret_n, err);
}

/*
 * For calls that run a command of the container (run, exec): the runtime logs
 * only its own failures, so a message is an error; the command's exit is a
 * result, moved to *ret.
 */
static int command_result(alder_ocirt *rt, const struct call *c, alder_run_result *res, const char *msg,
                          alder_run_result *ret, alder_error **err)
{
        if (msg && res->exit.kind != ALDER_TIMED_OUT)
                return call_error(rt, c, res, msg, err);
        *ret = *res;
        *res = (alder_run_result){0};
        return 0;
}

int alder_ocirt_run_foreground(alder_ocirt *rt, const char *id, const char *bundle, unsigned timeout_ms,
                               size_t max_capture, alder_run_result *ret, alder_error **err)
{
        int r = alder_ocirt_check_id(id, err);
        if (r < 0)
                return r;
        struct call c = captured("run", id);
        c.args[0] = "--bundle";
        c.args[1] = bundle;
        c.args[2] = id;
        c.timeout_ms = timeout_ms;
        c.untimed = timeout_ms == 0;
        c.enoent_if_missing = false;
        c.max_capture = max_capture ? max_capture : ALDER_RUN_DEFAULT_MAX_CAPTURE;
        _cleanup_run_result_ alder_run_result res = {0};
        _cleanup_free_ char *msg = NULL;
        r = call_run(rt, &c, &res, &msg, err);
        /* A timeout leaves the container behind: runc only forwarded the signal. */
        delete_quietly(rt, id);
        return r < 0 ? r : command_result(rt, &c, &res, msg, ret, err);
}

int alder_ocirt_exec(alder_ocirt *rt, const char *id, const char *const *cmd, unsigned timeout_ms,
                     alder_run_result *ret, alder_error **err)
{
        int r = alder_ocirt_check_id(id, err);
        if (r < 0)
                return r;
        size_t n = 0;
        while (cmd[n])
                n++;
        if (n == 0 || n > ALDER_OCIRT_EXEC_MAX_ARGS)
                return alder_error_set(err, EINVAL, "%s exec '%s': a command of 1 to %u words is needed, got %zu",
                                       rt->name, id, ALDER_OCIRT_EXEC_MAX_ARGS, n);
        struct call c = captured("exec", id);
        c.args[0] = id;
        for (size_t i = 0; i < n; i++)
                c.args[1 + i] = cmd[i];
        c.timeout_ms = timeout_ms;
        c.enoent_if_missing = true;
        _cleanup_run_result_ alder_run_result res = {0};
        _cleanup_free_ char *msg = NULL;
        r = call_run(rt, &c, &res, &msg, err);
        return r < 0 ? r : command_result(rt, &c, &res, msg, ret, err);
}

int alder_ocirt_delete_spawn(alder_ocirt *rt, const char *id, alder_proc **ret, alder_error **err)
{
        int r = alder_ocirt_check_id(id, err);
        if (r < 0)
                return r;
        /* No JSON log: nobody waits to read it. A failure is repeated with alder_ocirt_delete() for its message. */
        const char *argv[] = {rt->path, "--root", rt->root, "delete", "--force", id, NULL};
        alder_spawn_opts o = {.argv = argv, .stdout_mode = ALDER_STDIO_NULL, .stderr_mode = ALDER_STDIO_NULL};
        r = alder_spawn(&o, ret, err);
        return r < 0 ? alder_error_wrap(err, "%s delete '%s'", rt->name, id) : 0;
}
