/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder app pack: OCI image (layout, oci-archive, docker-archive) or a root
 * filesystem folder -> signed .alpkg.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alder/alpkg.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/oci.h"
#include "cli.h"
#include "signer.h"

#define LIST_MAX 256

static const char pack_usage[] =
        "Usage: alder app pack [OPTIONS] --key KEY --cert CERT INPUT\n"
        "\n"
        "Turn a container image into a signed app package NAME_VERSION_ARCH.alpkg.\n"
        "\n"
        "INPUT is one of:\n"
        "  DIR[:REF]     an OCI image layout (buildah/podman/skopeo/umoci output); REF picks\n"
        "                the image by its ref name when the layout holds several\n"
        "  FILE.tar      an oci-archive or a 'docker save' / docker-archive tar\n"
        "  DIR           a plain root filesystem folder (then --arch, --name, --version and\n"
        "                --entrypoint or --cmd are required)\n"
        "The image's layers are applied in order (whiteouts resolved) into a staging\n"
        "folder beside the output, through the same safe unpacker devices use, then\n"
        "written as one zstd-compressed tar covered by the signed SUIT manifest.\n"
        "\n"
        "Identity (default: from the image's org.opencontainers.image.title/.version labels):\n"
        "  --name NAME          app name: 1-63 of a-z, 0-9, '-'\n"
        "  --version VERSION    semantic version, e.g. 1.4.0\n"
        "  --arch ARCH          arm64, arm or amd64; must match the image (default: the image's)\n"
        "  --ref REF            image ref name inside a layout with several images\n"
        "\n"
        "Runtime (default: from the image config):\n"
        "  --entrypoint ARGS    JSON array (\"[\\\"/app\\\",\\\"-v\\\"]\") or words split at spaces\n"
        "  --cmd ARGS           same form\n"
        "  --env NAME=VALUE     add or replace a variable (repeatable)\n"
        "  --workdir DIR        working directory\n"
        "  --user UID[:GID]     user inside the container's user namespace\n"
        "\n"
        "Permissions the app asks for (default: none; devices refuse anything not signed):\n"
        "  --host-network       share the device's network namespace\n"
        "  --device PATH        bind a device node, e.g. /dev/ttyS0 (repeatable)\n"
        "  --cap CAP_NAME       keep a capability, e.g. CAP_NET_BIND_SERVICE (repeatable)\n"
        "  --memory SIZE        memory limit: bytes or with K, M, G suffix\n"
        "  --cpu MILLICORES     CPU limit, 1000 = one core\n"
        "  --pids N             process limit\n"
        "  --volume NAME:PATH   private writable volume kept across updates (repeatable;\n"
        "                       default: the image's VOLUMEs, named after their paths)\n"
        "  --allow-setuid       accept setuid/setgid files in the image\n"
        "  --health-cmd ARGS    command whose success marks an update healthy (form as --cmd)\n"
        "  --health-grace SECS  how long the app must stay up after start (default 5)\n"
        "  --restart POLICY     when the device restarts the app after it ends: no,\n"
        "                       on-failure (non-zero exit or killed by a signal; the\n"
        "                       default) or always (also after exit 0); with back-off\n"
        "  --secure-services MODE  the app's alder-secd socket: optional (mounted when\n"
        "                       alder-secd runs; the default), required (the app does\n"
        "                       not start without it) or none\n"
        "\n"
        "Package:\n"
        "  --key KEY            signing key (alder keys generate)\n"
        "  --cert CERT          its certificate\n"
        "  --chain CHAIN        intermediate certificates to carry in the signature\n"
        "  --sequence N         anti-rollback sequence number (default: now, in seconds)\n"
        "  --vendor DOMAIN      vendor domain for the SUIT vendor id (default " ALDER_ALPKG_DEFAULT_VENDOR ")\n"
        "  -o, --output PATH    output file, or a folder to put NAME_VERSION_ARCH.alpkg in\n"
        "                       (default: the current folder)\n"
        "  --zstd-level N       1 (fast) .. 19 (small); default 3\n"
        "  --json               print the result as JSON\n"
        "  -h, --help           show this help\n"
        "\n"
        "Example:\n"
        "  alder app pack --key dev.key --cert dev.crt out/arm64/oci:1.0.0\n";

struct pack_args {
        const char *input;
        const char *name, *version, *arch, *ref;
        const char *entrypoint, *cmd, *workdir, *user, *health_cmd;
        char *env[LIST_MAX + 1];
        size_t n_env;
        char *devices[LIST_MAX + 1];
        size_t n_devices;
        char *caps[LIST_MAX + 1];
        size_t n_caps;
        char *volumes[LIST_MAX + 1];
        size_t n_volumes;
        bool host_network, allow_setuid;
        int64_t memory, cpu, pids, health_grace;
        alder_app_restart restart;
        alder_app_secure_services secure_services;
        uint64_t sequence;
        bool have_sequence;
        const char *vendor, *key, *cert, *chain, *output;
        int zstd_level;
};

enum {
        O_NAME = 0x100,
        O_VERSION,
        O_ARCH,
        O_REF,
        O_ENTRYPOINT,
        O_CMD,
        O_ENV,
        O_WORKDIR,
        O_USER,
        O_HOST_NETWORK,
        O_DEVICE,
        O_CAP,
        O_MEMORY,
        O_CPU,
        O_PIDS,
        O_VOLUME,
        O_ALLOW_SETUID,
        O_HEALTH_CMD,
        O_HEALTH_GRACE,
        O_RESTART,
        O_SECURE_SERVICES,
        O_KEY,
        O_CERT,
        O_CHAIN,
        O_SEQUENCE,
        O_VENDOR,
        O_ZSTD,
};

static const struct option pack_options[] = {
        {"name", required_argument, NULL, O_NAME},
        {"version", required_argument, NULL, O_VERSION},
        {"arch", required_argument, NULL, O_ARCH},
        {"ref", required_argument, NULL, O_REF},
        {"entrypoint", required_argument, NULL, O_ENTRYPOINT},
        {"cmd", required_argument, NULL, O_CMD},
        {"env", required_argument, NULL, O_ENV},
        {"workdir", required_argument, NULL, O_WORKDIR},
        {"user", required_argument, NULL, O_USER},
        {"host-network", no_argument, NULL, O_HOST_NETWORK},
        {"device", required_argument, NULL, O_DEVICE},
        {"cap", required_argument, NULL, O_CAP},
        {"memory", required_argument, NULL, O_MEMORY},
        {"cpu", required_argument, NULL, O_CPU},
        {"pids", required_argument, NULL, O_PIDS},
        {"volume", required_argument, NULL, O_VOLUME},
        {"allow-setuid", no_argument, NULL, O_ALLOW_SETUID},
        {"health-cmd", required_argument, NULL, O_HEALTH_CMD},
        {"health-grace", required_argument, NULL, O_HEALTH_GRACE},
        {"restart", required_argument, NULL, O_RESTART},
        {"secure-services", required_argument, NULL, O_SECURE_SERVICES},
        {"key", required_argument, NULL, O_KEY},
        {"cert", required_argument, NULL, O_CERT},
        {"chain", required_argument, NULL, O_CHAIN},
        {"sequence", required_argument, NULL, O_SEQUENCE},
        {"vendor", required_argument, NULL, O_VENDOR},
        {"output", required_argument, NULL, 'o'},
        {"zstd-level", required_argument, NULL, O_ZSTD},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
};

/* ---- small parsers ------------------------------------------------------------ */

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "123", "64K", "64M", "1G" (binary units). */
static int parse_size(const char *s, int64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || s[0] == '-')
                return -EINVAL;
        unsigned shift = 0;
        if (*end) {
                const char *units = "KMGT";
                const char *u = strchr(units, *end);
                if (!u || end[1])
                        return -EINVAL;
                shift = 10u * (unsigned) (u - units + 1);
        }
        if (v > ((unsigned long long) INT64_MAX >> shift))
                return -ERANGE;
        *ret = (int64_t) (v << shift);
        return 0;
}

static int push(char **list, size_t *n, const char *cmd, const char *opt, char *value)
{
        if (*n >= LIST_MAX)
                return cli_usage_error(cmd, "%s: at most %d times", opt, LIST_MAX);
        list[(*n)++] = value;
        list[*n] = NULL;
        return -1;
}

static int parse_number_opt(const char *opt, const char *value, uint64_t max, int64_t *ret)
{
        uint64_t v;
        if (parse_u64(value, max, &v) < 0)
                return cli_usage_error("app pack", "%s: '%s' is not a number from 0 to %" PRIu64, opt, value, max);
        *ret = (int64_t) v;
        return -1;
}

static int parse_pack_option(int c, struct pack_args *a, struct cli *cli, char **argv)
{
        switch (c) {
        case O_NAME:
                a->name = optarg;
                return -1;
        case O_VERSION:
                a->version = optarg;
                return -1;
        case O_ARCH:
                a->arch = optarg;
                return -1;
        case O_REF:
                a->ref = optarg;
                return -1;
        case O_ENTRYPOINT:
                a->entrypoint = optarg;
                return -1;
        case O_CMD:
                a->cmd = optarg;
                return -1;
        case O_ENV:
                return push(a->env, &a->n_env, "app pack", "--env", optarg);
        case O_WORKDIR:
                a->workdir = optarg;
                return -1;
        case O_USER:
                a->user = optarg;
                return -1;
        case O_HOST_NETWORK:
                a->host_network = true;
                return -1;
        case O_DEVICE:
                return push(a->devices, &a->n_devices, "app pack", "--device", optarg);
        case O_CAP:
                return push(a->caps, &a->n_caps, "app pack", "--cap", optarg);
        case O_VOLUME:
                return push(a->volumes, &a->n_volumes, "app pack", "--volume", optarg);
        case O_MEMORY:
                if (parse_size(optarg, &a->memory) < 0)
                        return cli_usage_error("app pack", "--memory: '%s' is not a size (e.g. 67108864, 64M, 1G)",
                                               optarg);
                return -1;
        case O_CPU:
                return parse_number_opt("--cpu", optarg, 1000000, &a->cpu);
        case O_PIDS:
                return parse_number_opt("--pids", optarg, 4194304, &a->pids);
        case O_HEALTH_GRACE:
                return parse_number_opt("--health-grace", optarg, 3600, &a->health_grace);
        case O_ALLOW_SETUID:
                a->allow_setuid = true;
                return -1;
        case O_RESTART:
                if (alder_app_restart_parse(optarg, &a->restart, NULL) < 0)
                        return cli_usage_error("app pack", "--restart: '%s' is not one of no, on-failure, always",
                                               optarg);
                return -1;
        case O_SECURE_SERVICES:
                if (alder_app_secure_services_parse(optarg, &a->secure_services, NULL) < 0)
                        return cli_usage_error(
                                "app pack", "--secure-services: '%s' is not one of none, optional, required", optarg);
                return -1;
        case O_HEALTH_CMD:
                a->health_cmd = optarg;
                return -1;
        case O_KEY:
                a->key = optarg;
                return -1;
        case O_CERT:
                a->cert = optarg;
                return -1;
        case O_CHAIN:
                a->chain = optarg;
                return -1;
        case O_VENDOR:
                a->vendor = optarg;
                return -1;
        case 'o':
                a->output = optarg;
                return -1;
        case O_SEQUENCE:
                if (parse_u64(optarg, UINT64_MAX, &a->sequence) < 0)
                        return cli_usage_error("app pack", "--sequence: '%s' is not a non-negative integer", optarg);
                a->have_sequence = true;
                return -1;
        case O_ZSTD: {
                int64_t level = 0;
                int r = parse_number_opt("--zstd-level", optarg, 19, &level);
                if (r >= 0)
                        return r;
                if (level < 1)
                        return cli_usage_error("app pack", "--zstd-level: must be 1 to 19");
                a->zstd_level = (int) level;
                return -1;
        }
        default:
                return cli_common_option(cli, "app pack", pack_usage, c, argv);
        }
}

static int parse_pack_args(struct cli *cli, int argc, char **argv, struct pack_args *a)
{
        *a = (struct pack_args){.health_grace = -1};
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, "+:ho:", pack_options, NULL)) != -1) {
                int r = parse_pack_option(c, a, cli, argv);
                if (r >= 0)
                        return r;
        }
        if (optind >= argc)
                return cli_usage_error("app pack", "INPUT is required");
        a->input = argv[optind++];
        if (optind < argc)
                return cli_usage_error("app pack", "unexpected argument '%s'", argv[optind]);
        if (!a->key || !a->cert)
                return cli_usage_error("app pack", "--key and --cert are required (devices accept only signed "
                                                   "packages; create a key with 'alder keys generate')");
        if (a->arch && !alder_arch_normalize(a->arch, NULL))
                return cli_usage_error("app pack", "--arch: '%s' is not one of arm64, arm, amd64", a->arch);
        return -1;
}

/* ---- metadata from the image config and the command line ---------------------- */

static const char *label(const alder_oci_config *cfg, const char *key)
{
        size_t n = strlen(key);
        for (char **l = cfg ? cfg->labels : NULL; l && *l; l++)
                if (strncmp(*l, key, n) == 0 && (*l)[n] == '=')
                        return *l + n + 1;
        return NULL;
}

static int strv_dup(char **src, char ***ret, alder_error **err)
{
        size_t n = 0;
        while (src && src[n])
                n++;
        _cleanup_strv_ char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return alder_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                if (!(v[i] = strdup(src[i])))
                        return alder_error_set(err, ENOMEM, "out of memory");
        alder_strv_free(*ret);
        *ret = steal_pointer(&v);
        return 0;
}

/* "--cmd" values: a JSON array of strings, or words separated by spaces. */
static int parse_argv_option(const char *opt, const char *value, char ***ret, alder_error **err)
{
        if (value[0] == '[') {
                _cleanup_json_ json_t *doc = NULL;
                int r = alder_json_parse(opt, value, strlen(value), &doc, err);
                if (r < 0)
                        return r;
                _cleanup_json_ json_t *wrap = json_pack("{s:O}", "v", doc);
                char **v = NULL;
                r = alder_json_get_strv(wrap, opt, "v", 0, LIST_MAX, &v, err);
                if (r < 0)
                        return r;
                alder_strv_free(*ret);
                *ret = v;
                return 0;
        }
        _cleanup_free_ char *copy = strdup(value);
        char *words[LIST_MAX + 1];
        size_t n = 0;
        char *save = NULL;
        for (char *w = copy ? strtok_r(copy, " \t", &save) : NULL; w && n < LIST_MAX; w = strtok_r(NULL, " \t", &save))
                words[n++] = w;
        words[n] = NULL;
        if (!copy)
                return alder_error_set(err, ENOMEM, "out of memory");
        return strv_dup(words, ret, err);
}

/* Adds or replaces NAME=VALUE entries of env with those of `extra`. */
static int merge_env(char ***env, char **extra, alder_error **err)
{
        for (char **e = extra; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                if (!eq || eq == *e)
                        return alder_error_set(err, EINVAL, "--env: '%s' is not NAME=VALUE", *e);
                size_t key = (size_t) (eq - *e) + 1;
                size_t n = 0, found = SIZE_MAX;
                for (; (*env)[n]; n++)
                        if (strncmp((*env)[n], *e, key) == 0)
                                found = n;
                char *copy = strdup(*e);
                if (!copy)
                        return alder_error_set(err, ENOMEM, "out of memory");
                if (found != SIZE_MAX) {
                        free((*env)[found]);
                        (*env)[found] = copy;
                        continue;
                }
                char **grown = realloc(*env, (n + 2) * sizeof(char *));
                if (!grown) {
                        free(copy);
                        return alder_error_set(err, ENOMEM, "out of memory");
                }
                grown[n] = copy;
                grown[n + 1] = NULL;
                *env = grown;
        }
        return 0;
}

static int set_string(char **field, const char *value, alder_error **err)
{
        if (!value)
                return 0;
        char *copy = strdup(value);
        if (!copy)
                return alder_error_set(err, ENOMEM, "out of memory");
        free(*field);
        *field = copy;
        return 0;
}

static int meta_identity(const struct pack_args *a, const alder_oci_config *cfg, alder_app_meta *m, alder_error **err)
{
        const char *name = a->name ? a->name : label(cfg, "org.opencontainers.image.title");
        const char *version = a->version ? a->version : label(cfg, "org.opencontainers.image.version");
        if (!name)
                return alder_error_set(err, EINVAL,
                                       "%s: no app name: give --name (or label the image with "
                                       "org.opencontainers.image.title)",
                                       a->input);
        if (!version)
                return alder_error_set(err, EINVAL,
                                       "%s: no version: give --version (or label the image with "
                                       "org.opencontainers.image.version)",
                                       a->input);
        const char *image_arch =
                cfg && cfg->architecture ? alder_arch_normalize(cfg->architecture, cfg->variant) : NULL;
        if (cfg && cfg->architecture && !image_arch)
                return alder_error_set(err, ENOEXEC,
                                       "%s: image architecture '%s%s%s' is not supported (arm64, arm/v7, "
                                       "amd64)",
                                       a->input, cfg->architecture, cfg->variant ? "/" : "",
                                       cfg->variant ? cfg->variant : "");
        const char *want = a->arch ? alder_arch_normalize(a->arch, NULL) : NULL;
        if (want && image_arch && strcmp(want, image_arch) != 0)
                return alder_error_set(err, ENOEXEC, "%s: the image is for %s, not %s (--arch)", a->input, image_arch,
                                       want);
        const char *arch = want ? want : image_arch;
        if (!arch)
                return alder_error_set(err, EINVAL, "%s: no architecture: give --arch", a->input);
        int r = set_string(&m->name, name, err);
        if (r == 0)
                r = set_string(&m->version, version, err);
        if (r == 0)
                r = set_string(&m->arch, arch, err);
        if (r < 0)
                return r;
        if (alder_app_name_check(m->name, err) < 0 || alder_semver_check(m->version, err) < 0)
                return alder_error_wrap(err, "%s", a->input);
        return 0;
}

static int meta_runtime(const struct pack_args *a, const alder_oci_config *cfg, alder_app_meta *m, alder_error **err)
{
        int r = strv_dup(cfg ? cfg->entrypoint : NULL, &m->entrypoint, err);
        /* As with `docker run --entrypoint`: a new entrypoint drops the image's cmd. */
        if (r == 0)
                r = strv_dup(cfg && !a->entrypoint ? cfg->cmd : NULL, &m->cmd, err);
        if (r == 0)
                r = strv_dup(cfg ? cfg->env : NULL, &m->env, err);
        if (r == 0 && a->entrypoint)
                r = parse_argv_option("--entrypoint", a->entrypoint, &m->entrypoint, err);
        if (r == 0 && a->cmd)
                r = parse_argv_option("--cmd", a->cmd, &m->cmd, err);
        if (r == 0)
                r = merge_env(&m->env, (char **) a->env, err);
        if (r == 0)
                r = set_string(&m->workdir, a->workdir ? a->workdir : (cfg ? cfg->working_dir : NULL), err);
        if (r == 0)
                r = set_string(&m->user, a->user ? a->user : (cfg ? cfg->user : NULL), err);
        if (r == 0 && a->health_cmd)
                r = parse_argv_option("--health-cmd", a->health_cmd, &m->health_command, err);
        return r;
}

/* "/var/lib/app" -> "var-lib-app": a volume name (a-z, 0-9, '-') for an image VOLUME path. */
static char *volume_name_from_path(const char *path)
{
        char *name = calloc(1, ALDER_APP_NAME_MAX + 1);
        size_t n = 0;
        for (const char *p = path; name && *p && n < ALDER_APP_NAME_MAX; p++) {
                char c = (char) tolower((unsigned char) *p);
                bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                if (ok || (n > 0 && name[n - 1] != '-'))
                        name[n++] = ok ? c : '-';
        }
        while (name && n > 0 && name[n - 1] == '-')
                name[--n] = '\0';
        if (name && n == 0)
                strcpy(name, "volume");
        return name;
}

/* Volumes from --volume NAME:PATH, or else the image's VOLUME paths. */
static int meta_volumes(const struct pack_args *a, const alder_oci_config *cfg, alder_app_meta *m, alder_error **err)
{
        size_t n_image = 0;
        while (cfg && cfg->volumes && cfg->volumes[n_image])
                n_image++;
        size_t n = a->n_volumes ? a->n_volumes : n_image;
        m->volumes = calloc(n + 1, sizeof(*m->volumes));
        if (!m->volumes)
                return alder_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                alder_app_volume *v = &m->volumes[i];
                m->n_volumes++;
                if (a->n_volumes) {
                        const char *colon = strchr(a->volumes[i], ':');
                        if (!colon)
                                return alder_error_set(err, EINVAL, "--volume: '%s' is not NAME:PATH", a->volumes[i]);
                        v->name = strndup(a->volumes[i], (size_t) (colon - a->volumes[i]));
                        v->path = strdup(colon + 1);
                } else {
                        v->name = volume_name_from_path(cfg->volumes[i]);
                        v->path = strdup(cfg->volumes[i]);
                }
                if (!v->name || !v->path)
                        return alder_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

static int meta_permissions(const struct pack_args *a, const alder_oci_config *cfg, alder_app_meta *m,
                            alder_error **err)
{
        m->host_network = a->host_network;
        m->setuid_files = a->allow_setuid;
        m->memory_bytes = a->memory;
        m->cpu_millis = a->cpu;
        m->pids = a->pids;
        if (a->health_grace >= 0)
                m->health_grace_seconds = a->health_grace;
        m->restart = a->restart;
        m->secure_services = a->secure_services;
        int r = strv_dup((char **) a->devices, &m->devices, err);
        if (r == 0)
                r = strv_dup((char **) a->caps, &m->capabilities, err);
        if (r == 0)
                r = meta_volumes(a, cfg, m, err);
        return r;
}

/* Builds the metadata and validates it the way a device will (round trip through app.json). */
static int build_meta(const struct pack_args *a, const alder_oci_image *img, alder_app_meta **ret, alder_error **err)
{
        const alder_oci_config *cfg = alder_oci_image_config(img);
        _cleanup_app_meta_ alder_app_meta *m = NULL;
        int r = alder_app_meta_new(&m, err);
        if (r == 0)
                r = meta_identity(a, cfg, m, err);
        if (r == 0)
                r = meta_runtime(a, cfg, m, err);
        if (r == 0)
                r = meta_permissions(a, cfg, m, err);
        if (r < 0)
                return r;
        const char *digest = alder_oci_image_digest(img);
        m->source = json_pack("{s:s,s:s*}", "kind", alder_oci_kind_name(alder_oci_image_kind(img)), "digest", digest);
        _cleanup_json_ json_t *doc = NULL;
        r = alder_app_meta_to_json(m, &doc, err);
        if (r == 0)
                r = alder_app_meta_from_json(doc, "app metadata", ret, err);
        return r;
}

/* ---- packing ------------------------------------------------------------------ */

static void progress(void *ctx, uint64_t entries, uint64_t bytes)
{
        if (entries % 512 == 0)
                fprintf(stderr, "\rpacking: %" PRIu64 " entries, %" PRIu64 " MiB", entries, bytes >> 20);
}

static int output_path(const struct pack_args *a, const alder_app_meta *m, char **ret, alder_error **err)
{
        _cleanup_free_ char *name = NULL;
        int r = alder_alpkg_file_name(m, &name, err);
        if (r < 0)
                return r;
        struct stat st;
        if (!a->output || (stat(a->output, &st) == 0 && S_ISDIR(st.st_mode))) {
                if (asprintf(ret, "%s/%s", a->output ? a->output : ".", name) < 0)
                        return alder_error_set(err, ENOMEM, "out of memory");
                return 0;
        }
        *ret = strdup(a->output);
        return *ret ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

/* A private staging folder beside the output (same file system, removed afterwards). */
static int make_staging(const char *out_path, char **ret, alder_error **err)
{
        const char *slash = strrchr(out_path, '/');
        _cleanup_free_ char *tmpl = NULL;
        if (asprintf(&tmpl, "%.*s.alder-pack-XXXXXX", slash ? (int) (slash - out_path + 1) : 0, out_path) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (!mkdtemp(tmpl))
                return alder_error_sys(err, errno, "create staging folder '%s'", tmpl);
        *ret = steal_pointer(&tmpl);
        return 0;
}

static int report_packed(struct cli *cli, const char *path, const alder_app_meta *m, const alder_alpkg_info *i)
{
        char d[ALDER_SHA256_HEX_LEN + 1];
        alder_hex_encode(i->rootfs_digest, ALDER_SHA256_LEN, d);
        uint64_t total = ALDER_ALPKG_HEADER_SIZE + i->envelope_size + i->meta_size + i->rootfs_size;
        if (cli->json) {
                _cleanup_json_ json_t *doc =
                        json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "file", path, "name", m->name, "version",
                                  m->version, "arch", m->arch, "sequence", (json_int_t) i->sequence, "size",
                                  (json_int_t) total, "rootfs_entries", (json_int_t) i->rootfs_entries, "rootfs_bytes",
                                  (json_int_t) i->rootfs_bytes_in, "rootfs_sha256", d);
                return cli_print_json(cli, doc);
        }
        printf("packed %s: %s %s (%s), %" PRIu64 " entries, %.1f MiB -> %.1f MiB, sequence %" PRIu64 "\n", path,
               m->name, m->version, m->arch, i->rootfs_entries, (double) i->rootfs_bytes_in / (1 << 20),
               (double) total / (1 << 20), i->sequence);
        return CLI_EXIT_OK;
}

/*
 * "DIR:REF" (the skopeo/umoci spelling) when DIR exists and the whole string
 * does not; otherwise the input is taken as a path.
 */
static int split_input_ref(const char *input, char **ret_path, char **ret_ref, alder_error **err)
{
        struct stat st;
        const char *colon = strrchr(input, ':');
        *ret_ref = NULL;
        if (colon && stat(input, &st) < 0) {
                _cleanup_free_ char *path = strndup(input, (size_t) (colon - input));
                if (path && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
                        *ret_ref = strdup(colon + 1);
                        *ret_path = steal_pointer(&path);
                        return *ret_ref ? 0 : alder_error_set(err, ENOMEM, "out of memory");
                }
        }
        *ret_path = strdup(input);
        return *ret_path ? 0 : alder_error_set(err, ENOMEM, "out of memory");
}

static int pack(struct cli *cli, const struct pack_args *a, const struct alder_cose_signer *signer, alder_error **err)
{
        _cleanup_free_ char *path = NULL, *ref = NULL;
        int r = split_input_ref(a->input, &path, &ref, err);
        if (r < 0)
                return r;
        if (ref && a->ref && strcmp(ref, a->ref) != 0)
                return alder_error_set(err, EINVAL, "%s: the ref in INPUT and --ref %s disagree", a->input, a->ref);
        alder_oci_open_opts oopts = {.ref = a->ref ? a->ref : ref, .architecture = a->arch};
        _cleanup_oci_image_ alder_oci_image *img = NULL;
        r = alder_oci_open(path, &oopts, &img, err);
        if (r < 0)
                return r;
        _cleanup_app_meta_ alder_app_meta *meta = NULL;
        r = build_meta(a, img, &meta, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *out = NULL, *staging = NULL, *rootfs = NULL;
        r = output_path(a, meta, &out, err);
        if (r == 0)
                r = make_staging(out, &staging, err);
        if (r < 0)
                return r;
        if (alder_oci_image_kind(img) == ALDER_OCI_ROOTFS_DIR) {
                /* A folder is packed where it is: no layers to apply, no copy to make. */
                rootfs = strdup(path);
                r = rootfs ? 0 : alder_error_set(err, ENOMEM, "out of memory");
        } else if (asprintf(&rootfs, "%s/rootfs", staging) < 0) {
                r = alder_error_set(err, ENOMEM, "out of memory");
        } else {
                alder_unpack_opts uopts = {.flags = a->allow_setuid ? ALDER_UNPACK_ALLOW_SETUID : 0};
                _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
                r = alder_oci_image_flatten(img, rootfs, &uopts, &stats, err);
        }
        alder_alpkg_info info;
        if (r == 0) {
                bool show = !cli->json && isatty(STDERR_FILENO);
                alder_alpkg_create_opts copts = {
                        .meta = meta,
                        .rootfs_dir = rootfs,
                        .sequence = a->have_sequence ? a->sequence : (uint64_t) time(NULL),
                        .vendor_domain = a->vendor,
                        .signer = signer,
                        .zstd_level = a->zstd_level,
                        .progress = show ? progress : NULL,
                };
                r = alder_alpkg_create(&copts, out, &info, err);
                if (show)
                        fputc('\n', stderr);
        }
        alder_error *rm_err = NULL;
        if (alder_remove_tree(staging, &rm_err) < 0 && r == 0)
                fprintf(stderr, "alder: warning: %s\n", alder_error_message(rm_err));
        alder_error_free(rm_err);
        if (r < 0)
                return r;
        return report_packed(cli, out, meta, &info);
}

int cmd_app_pack(struct cli *cli, int argc, char **argv)
{
        struct pack_args a;
        int r = parse_pack_args(cli, argc, argv, &a);
        if (r >= 0)
                return r;
        _cleanup_error_ alder_error *err = NULL;
        struct cli_signer signer;
        r = cli_signer_load(&signer, a.key, a.cert, a.chain, &err);
        if (r == 0)
                r = pack(cli, &a, &signer.cose, &err);
        cli_signer_done(&signer);
        if (r < 0)
                return cli_fail(cli, err);
        return r;
}
