/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.json generation for app containers (alder/ocispec.h). The choices
 * are explained in docs/design/container-hardening.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "alder/cleanup.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/ocispec.h"

#define SRC          ALDER_OCISPEC_SOURCE
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NOFILE_LIMIT 1024
#define CPU_PERIOD   100000 /* us; cpu_millis * 100 us of it per period */

/* Namespace flags clone() must not carry (moby's filter): CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP. */
#define CLONE_NS_FLAGS 0x7E020000

static const char *const capability_names[] = {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};

static const char *const masked_paths[] = {
        "/proc/acpi",        "/proc/kcore",       "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",       "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
        "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* Container paths a volume must not cover: the runtime's own mounts. */
static const char *const reserved_paths[] = {"/proc", "/dev", "/sys"};

typedef struct std_device {
        char type;
        int64_t major, minor; /* minor -1: any */
} std_device;

/* null, zero, full, random, urandom, tty, ptmx, pts/N. */
static const std_device std_devices[] = {
        {'c', 1, 3}, {'c', 1, 5}, {'c', 1, 7}, {'c', 1, 8}, {'c', 1, 9}, {'c', 5, 0}, {'c', 5, 2}, {'c', 136, -1},
};

bool alder_ocispec_capability_known(const char *name)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(capability_names); i++)
                if (strcmp(name, capability_names[i]) == 0)
                        return true;
        return false;
}

static json_t *strings_json(const char *const *v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_string(v[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static size_t strv_len(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

/* Appends a NULL-terminated vector (may be NULL) to array a, less the entries that begin with `skip`. */
static int append_strv_but(json_t *a, char *const *v, const char *skip)
{
        for (size_t i = 0; v && v[i]; i++)
                if ((!skip || strncmp(v[i], skip, strlen(skip)) != 0) &&
                    json_array_append_new(a, json_string(v[i])) < 0)
                        return -ENOMEM;
        return 0;
}

static int append_strv(json_t *a, char *const *v)
{
        return append_strv_but(a, v, NULL);
}

static int oom(alder_error **err)
{
        return alder_error_set(err, ENOMEM, "build config.json: out of memory");
}

/* Parses one decimal id of "UID[:GID]"; no names (there is no passwd lookup). */
static int parse_id(const char *s, size_t len, uint32_t *ret)
{
        if (len == 0 || len > 10)
                return -EINVAL;
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        if (v > UINT32_MAX - 1)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int alder_ocispec_parse_user(const char *user, uint32_t id_count, uint32_t *uid, uint32_t *gid, alder_error **err)
{
        *uid = *gid = 0; /* no user: root of the user namespace, an unprivileged host id */
        if (!user || !*user)
                return 0;
        const char *colon = strchr(user, ':');
        size_t ulen = colon ? (size_t) (colon - user) : strlen(user);
        if (parse_id(user, ulen, uid) < 0 || (colon && parse_id(colon + 1, strlen(colon + 1), gid) < 0))
                return alder_error_set(err, EINVAL, "%s: field 'runtime.user': '%s' is not numeric UID[:GID]", SRC,
                                       user);
        if (*uid >= id_count || *gid >= id_count)
                return alder_error_set(
                        err, ERANGE, "%s: field 'runtime.user': '%s' is outside the %" PRIu32 " ids mapped for the app",
                        SRC, user, id_count);
        return 0;
}

static json_t *capabilities_json(char *const *caps)
{
        static const char *const sets[] = {"bounding", "effective", "inheritable", "permitted", "ambient"};
        json_t *o = json_object();
        for (size_t i = 0; o && i < ALDER_ARRAY_SIZE(sets); i++) {
                json_t *a = json_array();
                if (!a || append_strv(a, caps) < 0 || json_object_set_new(o, sets[i], a) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

static int check_capabilities(char *const *caps, alder_error **err)
{
        for (size_t i = 0; caps && caps[i]; i++)
                if (!alder_ocispec_capability_known(caps[i]))
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'permissions.capabilities[%zu]': unknown capability '%s'",
                                               SRC, i, caps[i]);
        return 0;
}

static bool env_has_path(char *const *env)
{
        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], "PATH=", 5) == 0)
                        return true;
        return false;
}

static int check_env(char *const *env, alder_error **err)
{
        for (size_t i = 0; env && env[i]; i++) {
                const char *eq = strchr(env[i], '=');
                if (!eq || eq == env[i])
                        return alder_error_set(err, EINVAL, "%s: field 'runtime.env[%zu]': '%s' is not NAME=VALUE", SRC,
                                               i, env[i]);
        }
        return 0;
}

static int process_json(const alder_app_meta *m, const alder_ocispec_settings *s, json_t **ret, alder_error **err)
{
        if (strv_len(m->entrypoint) + strv_len(m->cmd) == 0)
                return alder_error_set(err, EINVAL,
                                       "%s: fields 'runtime.entrypoint' and 'runtime.cmd': both empty, "
                                       "nothing to run",
                                       SRC);
        const char *cwd = m->workdir && *m->workdir ? m->workdir : "/";
        if (cwd[0] != '/')
                return alder_error_set(err, EINVAL, "%s: field 'runtime.workdir': '%s' is not absolute", SRC, cwd);
        uint32_t uid, gid;
        int r = alder_ocispec_parse_user(m->user, s->id_count, &uid, &gid, err);
        if (r == 0)
                r = check_env(m->env, err);
        if (r == 0)
                r = check_capabilities(m->capabilities, err);
        if (r < 0)
                return r;

        /* The device says where the secd socket is: a value the app's image brings is dropped. */
        const char *secd_env = ALDER_OCISPEC_SECD_ENV "=";
        _cleanup_json_ json_t *args = json_array(), *env = json_array();
        if (!args || !env || append_strv(args, m->entrypoint) < 0 || append_strv(args, m->cmd) < 0 ||
            append_strv_but(env, m->env, s->secd_dir ? secd_env : NULL) < 0)
                return oom(err);
        if (s->secd_dir &&
            json_array_append_new(env, json_string(ALDER_OCISPEC_SECD_ENV "=" ALDER_OCISPEC_SECD_SOCKET)) < 0)
                return oom(err);
        if (!env_has_path(m->env) && json_array_append_new(env, json_string(DEFAULT_PATH)) < 0)
                return oom(err);
        json_t *p = json_pack("{s:b, s:{s:I, s:I}, s:O, s:O, s:s, s:o*, s:b, s:[{s:s, s:I, s:I}], s:i}", "terminal", 0,
                              "user", "uid", (json_int_t) uid, "gid", (json_int_t) gid, "args", args, "env", env, "cwd",
                              cwd, "capabilities", capabilities_json(m->capabilities), "noNewPrivileges", 1, "rlimits",
                              "type", "RLIMIT_NOFILE", "hard", (json_int_t) NOFILE_LIMIT, "soft",
                              (json_int_t) NOFILE_LIMIT, "oomScoreAdj", s->oom_score_adj);
        if (!p || !json_object_get(p, "capabilities")) {
                json_decref(p);
                return oom(err);
        }
        *ret = p;
        return 0;
}

static json_t *mount_json(const char *dest, const char *type, const char *source, const char *options)
{
        _cleanup_free_ char *copy = strdup(options);
        json_t *opts = json_array();
        if (!copy || !opts) {
                json_decref(opts);
                return NULL;
        }
        char *save = NULL;
        for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
                json_array_append_new(opts, json_string(o));
        return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", source, "options", opts);
}

typedef struct std_mount {
        const char *dest, *type, *source, *options;
} std_mount;

static const std_mount std_mounts[] = {
        {"/proc", "proc", "proc", "nosuid,noexec,nodev"},
        {"/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"},
        {"/dev/pts", "devpts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"},
        {"/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=64m"},
        {"/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"},
        {"/tmp", "tmpfs", "tmpfs", "nosuid,nodev,mode=1777,size=64m"},
};

/*
 * sysfs can only be mounted in a network namespace the user namespace owns;
 * with the host's network it is bind-mounted read-only instead.
 */
static const std_mount sys_own_netns = {"/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"};
static const std_mount sys_host_netns = {"/sys", "bind", "/sys", "rbind,nosuid,noexec,nodev,ro"};

/*
 * Absolute, no empty, "." or ".." components and no trailing slash: the
 * runtime resolves what we write, so "/dev/../etc" must not pass a prefix check.
 */
static bool path_normalized(const char *path)
{
        if (path[0] != '/')
                return false;
        if (path[1] == '\0')
                return true;
        for (const char *c = path + 1;;) {
                size_t n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (c[n] == '\0')
                        return true;
                c += n + 1;
        }
}

static bool path_under(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int check_volume(const alder_app_meta *m, const alder_ocispec_settings *s, size_t i, alder_error **err)
{
        const char *path = m->volumes[i].path;
        if (!path_normalized(path) || strcmp(path, "/") == 0)
                return alder_error_set(err, EINVAL,
                                       "%s: field 'permissions.volumes[%zu]': path '%s' is not a "
                                       "normalized absolute path below /",
                                       SRC, i, path);
        for (size_t k = 0; k < ALDER_ARRAY_SIZE(reserved_paths); k++)
                if (path_under(path, reserved_paths[k]))
                        return alder_error_set(err, EINVAL,
                                               "%s: field 'permissions.volumes[%zu]': path '%s' is "
                                               "reserved for the runtime",
                                               SRC, i, path);
        if (!s->volume_dirs || !s->volume_dirs[i] || s->volume_dirs[i][0] != '/')
                return alder_error_set(err, EINVAL, "volume '%s': no absolute host directory given",
                                       m->volumes[i].name);
        return 0;
}

static int mounts_json(const alder_app_meta *m, const alder_ocispec_settings *s, json_t **ret, alder_error **err)
{
        for (size_t i = 0; i < m->n_volumes; i++) {
                int r = check_volume(m, s, i, err);
                if (r < 0)
                        return r;
        }
        _cleanup_json_ json_t *a = json_array();
        if (!a)
                return oom(err);
        const std_mount *sys = m->host_network ? &sys_host_netns : &sys_own_netns;
        for (size_t i = 0; i <= ALDER_ARRAY_SIZE(std_mounts); i++) {
                const std_mount *sm = i < ALDER_ARRAY_SIZE(std_mounts) ? &std_mounts[i] : sys;
                if (json_array_append_new(a, mount_json(sm->dest, sm->type, sm->source, sm->options)) < 0)
                        return oom(err);
        }
        for (size_t i = 0; i < m->n_volumes; i++)
                if (json_array_append_new(
                            a, mount_json(m->volumes[i].path, "bind", s->volume_dirs[i], "rbind,nosuid,nodev")) < 0)
                        return oom(err);
        for (size_t i = 0; m->devices && m->devices[i]; i++)
                if (json_array_append_new(a, mount_json(m->devices[i], "bind", m->devices[i], "bind,nosuid,noexec")) <
                    0)
                        return oom(err);
        if (s->secd_dir && json_array_append_new(a, mount_json(ALDER_OCISPEC_SECD_DIR, "bind", s->secd_dir,
                                                               "bind,ro,nosuid,nodev,noexec")) < 0)
                return oom(err);
        *ret = steal_pointer(&a);
        return 0;
}

static json_t *device_rule(char type, int64_t major, int64_t minor)
{
        char t[2] = {type, '\0'};
        json_t *o =
                json_pack("{s:b, s:s, s:I, s:s}", "allow", 1, "type", t, "major", (json_int_t) major, "access", "rwm");
        /* An absent minor is the wildcard. */
        if (o && minor >= 0 && json_object_set_new(o, "minor", json_integer(minor)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/*
 * A requested device: its host node decides type and numbers. Device nodes
 * are bind-mounted (a user namespace cannot mknod) and allowed in the
 * devices cgroup.
 */
static int requested_device(const char *path, size_t i, json_t *devices, json_t *rules, alder_error **err)
{
        if (strncmp(path, "/dev/", 5) != 0 || !path_normalized(path))
                return alder_error_set(err, EINVAL,
                                       "%s: field 'permissions.devices[%zu]': '%s' is not a path "
                                       "under /dev",
                                       SRC, i, path);
        struct stat st;
        if (stat(path, &st) < 0)
                return alder_error_sys(err, errno, "%s: field 'permissions.devices[%zu]': '%s'", SRC, i, path);
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                return alder_error_set(err, EINVAL,
                                       "%s: field 'permissions.devices[%zu]': '%s' is not a device "
                                       "node",
                                       SRC, i, path);
        char type = S_ISCHR(st.st_mode) ? 'c' : 'b';
        char t[2] = {type, '\0'};
        json_int_t maj = major(st.st_rdev), min = minor(st.st_rdev);
        if (json_array_append_new(devices, json_pack("{s:s, s:s, s:I, s:I, s:i}", "path", path, "type", t, "major", maj,
                                                     "minor", min, "fileMode", (int) (st.st_mode & 0777))) < 0 ||
            json_array_append_new(rules, device_rule(type, maj, min)) < 0)
                return oom(err);
        return 0;
}

static int devices_json(const alder_app_meta *m, json_t **ret_devices, json_t **ret_rules, alder_error **err)
{
        _cleanup_json_ json_t *devices = json_array();
        _cleanup_json_ json_t *rules = json_pack("[{s:b, s:s}]", "allow", 0, "access", "rwm");
        if (!devices || !rules)
                return oom(err);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(std_devices); i++)
                if (json_array_append_new(
                            rules, device_rule(std_devices[i].type, std_devices[i].major, std_devices[i].minor)) < 0)
                        return oom(err);
        for (size_t i = 0; m->devices && m->devices[i]; i++) {
                int r = requested_device(m->devices[i], i, devices, rules, err);
                if (r < 0)
                        return r;
        }
        *ret_devices = steal_pointer(&devices);
        *ret_rules = steal_pointer(&rules);
        return 0;
}

static int resources_json(const alder_app_meta *m, const alder_ocispec_settings *s, json_t *rules, json_t **ret,
                          alder_error **err)
{
        _cleanup_json_ json_t *res = json_pack("{s:O}", "devices", rules);
        if (!res)
                return oom(err);
        int64_t memory = m->memory_bytes ? m->memory_bytes : s->default_memory_bytes;
        int r = 0;
        if (s->limits && memory > 0)
                r = json_object_set_new(res, "memory", json_pack("{s:I}", "limit", (json_int_t) memory));
        /* cpu_millis is bounded by appmeta (<= 1000000), so the quota cannot overflow. */
        if (r == 0 && s->limits && m->cpu_millis > 0)
                r = json_object_set_new(res, "cpu",
                                        json_pack("{s:I, s:I}", "quota", (json_int_t) m->cpu_millis * 100, "period",
                                                  (json_int_t) CPU_PERIOD));
        if (r == 0 && s->limits && m->pids > 0)
                r = json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t) m->pids));
        if (r < 0)
                return oom(err);
        *ret = steal_pointer(&res);
        return 0;
}

static json_t *namespaces_json(bool host_network)
{
        static const char *const types[] = {"pid", "ipc", "uts", "mount", "cgroup", "user", "network"};
        size_t n = ALDER_ARRAY_SIZE(types) - (host_network ? 1 : 0);
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_pack("{s:s}", "type", types[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *seccomp_json(void)
{
        json_t *names = strings_json(alder_ocispec_seccomp_allowed, alder_ocispec_seccomp_n_allowed);
        /* clone without namespace flags; clone3 reports ENOSYS so libc falls back to the filtered clone. */
        return json_pack("{s:s, s:i, s:[s, s, s], s:[{s:o, s:s}, {s:[s], s:s, s:[{s:i, s:I, s:I, s:s}]},"
                         " {s:[s], s:s, s:i}]}",
                         "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet", EPERM, "architectures",
                         "SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "syscalls", "names", names, "action",
                         "SCMP_ACT_ALLOW", "names", "clone", "action", "SCMP_ACT_ALLOW", "args", "index", 0, "value",
                         (json_int_t) CLONE_NS_FLAGS, "valueTwo", (json_int_t) 0, "op", "SCMP_CMP_MASKED_EQ", "names",
                         "clone3", "action", "SCMP_ACT_ERRNO", "errnoRet", ENOSYS);
}

static int linux_json(const alder_app_meta *m, const alder_ocispec_settings *s, json_t **ret, alder_error **err)
{
        _cleanup_json_ json_t *devices = NULL, *rules = NULL, *resources = NULL;
        int r = devices_json(m, &devices, &rules, err);
        if (r == 0)
                r = resources_json(m, s, rules, &resources, err);
        if (r < 0)
                return r;
        json_t *l = json_pack("{s:o, s:[{s:i, s:I, s:I}], s:[{s:i, s:I, s:I}], s:O, s:O, s:o, s:o, s:o, s:o}",
                              "namespaces", namespaces_json(m->host_network), "uidMappings", "containerID", 0, "hostID",
                              (json_int_t) s->id_start, "size", (json_int_t) s->id_count, "gidMappings", "containerID",
                              0, "hostID", (json_int_t) s->id_start, "size", (json_int_t) s->id_count, "devices",
                              devices, "resources", resources, "maskedPaths",
                              strings_json(masked_paths, ALDER_ARRAY_SIZE(masked_paths)), "readonlyPaths",
                              strings_json(readonly_paths, ALDER_ARRAY_SIZE(readonly_paths)), "seccomp", seccomp_json(),
                              "sysctl", json_object());
        if (!l)
                return oom(err);
        if (s->cgroups_path && json_object_set_new(l, "cgroupsPath", json_string(s->cgroups_path)) < 0) {
                json_decref(l);
                return oom(err);
        }
        *ret = l;
        return 0;
}

static int check_settings(const alder_ocispec_settings *s, alder_error **err)
{
        if (!s->rootfs || !*s->rootfs)
                return alder_error_set(err, EINVAL, "container settings: no root file system given");
        if (!s->hostname || !*s->hostname)
                return alder_error_set(err, EINVAL, "container settings: no hostname given");
        if (s->id_count < ALDER_OCISPEC_MIN_IDS || s->id_start == 0 || s->id_start > UINT32_MAX - s->id_count)
                return alder_error_set(err, ERANGE,
                                       "container settings: id range %" PRIu32 "+%" PRIu32
                                       " must be non-root, at least %u ids and within 32 bits",
                                       s->id_start, s->id_count, ALDER_OCISPEC_MIN_IDS);
        if (s->oom_score_adj < -1000 || s->oom_score_adj > 1000)
                return alder_error_set(err, ERANGE, "container settings: oom_score_adj %d is outside -1000..1000",
                                       s->oom_score_adj);
        return 0;
}

int alder_ocispec_generate(const alder_app_meta *meta, const alder_ocispec_settings *settings, json_t **ret,
                           alder_error **err)
{
        _cleanup_json_ json_t *process = NULL, *mounts = NULL, *lnx = NULL;
        int r = check_settings(settings, err);
        if (r == 0)
                r = process_json(meta, settings, &process, err);
        if (r == 0)
                r = mounts_json(meta, settings, &mounts, err);
        if (r == 0)
                r = linux_json(meta, settings, &lnx, err);
        if (r < 0)
                return r;
        json_t *c = json_pack("{s:s, s:O, s:{s:s, s:b}, s:s, s:O, s:O}", "ociVersion", "1.0.2", "process", process,
                              "root", "path", settings->rootfs, "readonly", 1, "hostname", settings->hostname, "mounts",
                              mounts, "linux", lnx);
        if (!c)
                return oom(err);
        *ret = c;
        return 0;
}

int alder_ocispec_write_bundle(const char *bundle_dir, const json_t *config, alder_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len;
        int r = alder_path_join(bundle_dir, "config.json", &path, err);
        if (r == 0)
                r = alder_json_dump(config, ALDER_JSON_PRETTY, &text, &len, err);
        /* A bundle lives in /run and is made afresh for every start: durability would only cost time. */
        if (r == 0)
                r = alder_write_file_volatile(path, text, len, 0600, err);
        if (r < 0)
                return alder_error_wrap(err, "write bundle %s", bundle_dir);
        return 0;
}
