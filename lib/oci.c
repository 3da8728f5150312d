/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alder/digest.h"
#include "alder/json.h"
#include "alder/oci.h"

#define MT_OCI_INDEX        "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST     "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG       "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST      "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST  "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG    "application/vnd.docker.container.image.v1+json"
#define ANNOTATION_REF      "org.opencontainers.image.ref.name"

#define MAX_DOCKER_IMAGES   256u
#define MAX_AVAILABLE_SHOWN 16u

static const struct {
        const char *media_type;
        alder_unpack_compression compression;
} layer_types[] = {
        {"application/vnd.oci.image.layer.v1.tar", ALDER_UNPACK_COMPRESSION_NONE},
        {"application/vnd.oci.image.layer.v1.tar+gzip", ALDER_UNPACK_COMPRESSION_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", ALDER_UNPACK_COMPRESSION_ZSTD},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", ALDER_UNPACK_COMPRESSION_GZIP},
};

const char *alder_oci_kind_name(alder_oci_kind kind)
{
        static const char *const names[] = {"oci-layout", "oci-archive", "docker-archive", "rootfs-dir"};
        return (unsigned) kind < ALDER_ARRAY_SIZE(names) ? names[kind] : "unknown";
}

/* ---- digests -------------------------------------------------------------------------------------------- */

#define DIGEST_PREFIX "sha256:"

struct digest {
        uint8_t raw[ALDER_SHA256_LEN];
        char str[sizeof(DIGEST_PREFIX) + ALDER_SHA256_HEX_LEN]; /* "sha256:<hex>" */
        char shown[sizeof(DIGEST_PREFIX) + 12];                 /* "sha256:<12 hex>" for messages */
};

static void digest_from_raw(struct digest *d)
{
        memcpy(d->str, DIGEST_PREFIX, strlen(DIGEST_PREFIX));
        alder_hex_encode(d->raw, ALDER_SHA256_LEN, d->str + strlen(DIGEST_PREFIX));
        snprintf(d->shown, sizeof(d->shown), "%.19s", d->str);
}

/* "sha256:" and 64 lower-case hex digits (the OCI spec's form for sha256); why not, or NULL. */
static const char *digest_parse(const char *s, struct digest *d)
{
        if (strncmp(s, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
                return strchr(s, ':') ? "unsupported digest algorithm (only sha256)" : "not a digest";
        const char *hex = s + strlen(DIGEST_PREFIX);
        if (strlen(hex) != ALDER_SHA256_HEX_LEN || strspn(hex, "0123456789abcdef") != ALDER_SHA256_HEX_LEN ||
            alder_hex_decode(hex, d->raw, ALDER_SHA256_LEN) < 0)
                return "not a sha256 digest (64 lower-case hex digits)";
        digest_from_raw(d);
        return NULL;
}

/* ---- the image ------------------------------------------------------------------------------------------ */

struct layer {
        char *path;       /* below the image root */
        char *media_type; /* NULL for a docker-archive */
        alder_unpack_compression compression;
        struct digest digest; /* of the file; docker-archive: of the uncompressed tar (rootfs.diff_ids) */
        int64_t size;         /* -1: not known beforehand (docker-archive) */
};

struct alder_oci_image {
        alder_oci_kind kind;
        char *path;
        char *tmp;   /* archives: the temporary directory they were extracted into */
        int root_fd; /* the layout (or the rootfs-dir) */
        bool has_digest;
        struct digest digest;
        bool has_config;
        alder_oci_config config;
        json_t *config_doc; /* the config's strings point into it */
        struct layer *layers;
        size_t n_layers;
};

/* A manifest (or docker-archive image) that could be selected. */
struct candidate {
        struct digest digest; /* of the manifest (OCI) or of the config (docker-archive) */
        int64_t size;
        char *media_type;
        char *ref;          /* OCI: the ref.name annotation */
        char **tags;        /* docker-archive: RepoTags */
        char *config_path;  /* docker-archive */
        char **layer_paths; /* docker-archive */
        char *os, *arch, *variant;
};

struct candidates {
        struct candidate *v;
        size_t n;
};

static void config_clear(alder_oci_config *c)
{
        alder_strv_free(c->entrypoint);
        alder_strv_free(c->cmd);
        alder_strv_free(c->env);
        alder_strv_free(c->labels);
        alder_strv_free(c->exposed_ports);
        alder_strv_free(c->volumes);
        *c = (alder_oci_config){0};
}

static void candidates_clear(struct candidates *cs)
{
        for (size_t i = 0; i < cs->n; i++) {
                struct candidate *c = &cs->v[i];
                free(c->media_type);
                free(c->ref);
                alder_strv_free(c->tags);
                free(c->config_path);
                alder_strv_free(c->layer_paths);
                free(c->os);
                free(c->arch);
                free(c->variant);
        }
        free(cs->v);
        *cs = (struct candidates){0};
}

#define _cleanup_candidates_ _cleanup_(candidates_clear)

void alder_oci_image_free(alder_oci_image *img)
{
        if (!img)
                return;
        alder_closep(&img->root_fd);
        if (img->tmp) {
                int r = alder_remove_tree(img->tmp, NULL);
                (void) r; /* nothing to report to from a destructor */
        }
        for (size_t i = 0; i < img->n_layers; i++) {
                free(img->layers[i].path);
                free(img->layers[i].media_type);
        }
        free(img->layers);
        config_clear(&img->config);
        json_decref(img->config_doc);
        free(img->tmp);
        free(img->path);
        free(img);
}

alder_oci_kind alder_oci_image_kind(const alder_oci_image *img)
{
        return img->kind;
}

const alder_oci_config *alder_oci_image_config(const alder_oci_image *img)
{
        return img->has_config ? &img->config : NULL;
}

const char *alder_oci_image_digest(const alder_oci_image *img)
{
        return img->has_digest ? img->digest.str : NULL;
}

size_t alder_oci_image_layer_count(const alder_oci_image *img)
{
        return img->n_layers;
}

static char *dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

/* ---- files below the image root ------------------------------------------------------------------------- */

/*
 * Opens a regular file below the image root. RESOLVE_IN_ROOT: symlinks inside
 * an image (docker save links duplicate layers) resolve within it, never out.
 */
static int open_in_root(const alder_oci_image *img, const char *rel, int *ret_fd, alder_error **err)
{
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, img->root_fd, rel, &how, sizeof(how));
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", rel);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return alder_error_set(err, EINVAL, "'%s': not a regular file", rel);
        }
        *ret_fd = fd;
        return 0;
}

static int check_digest(const void *data, size_t len, const struct digest *want, const char *what, alder_error **err)
{
        struct digest got;
        int r = alder_sha256_buffer(data, len, got.raw, err);
        if (r < 0)
                return r;
        if (memcmp(got.raw, want->raw, sizeof(got.raw)) == 0)
                return 0;
        digest_from_raw(&got);
        return alder_error_set(err, EBADMSG, "%s: digest mismatch: expected %s, got %s", what, want->str, got.str);
}

/*
 * Reads a whole file of at most max bytes, NUL-terminated. With want, its
 * digest (and with want_size >= 0 its size) must match.
 */
static int read_checked(const alder_oci_image *img, const char *rel, const char *what, size_t max,
                        const struct digest *want, int64_t want_size, char **ret, size_t *ret_len, alder_error **err)
{
        _cleanup_close_ int fd = -1;
        int r = open_in_root(img, rel, &fd, err);
        if (r < 0)
                return alder_error_wrap(err, "%s", what);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return alder_error_sys(err, errno, "%s: stat", what);
        if (want_size >= 0 && st.st_size != want_size)
                return alder_error_set(err, EBADMSG, "%s: %jd bytes, its descriptor says %" PRId64, what,
                                       (intmax_t) st.st_size, want_size);
        if ((uintmax_t) st.st_size > max)
                return alder_error_set(err, EFBIG, "%s: %jd bytes, more than the %zu allowed", what,
                                       (intmax_t) st.st_size, max);
        size_t len = (size_t) st.st_size;
        _cleanup_free_ char *buf = malloc(len + 1);
        if (!buf)
                return alder_error_set(err, ENOMEM, "%s: out of memory", what);
        /* Up to one byte more than fstat said: the file must end exactly there. */
        size_t got = 0;
        for (;;) {
                ssize_t n = read(fd, buf + got, len + 1 - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return alder_error_sys(err, errno, "%s: read", what);
                got += (size_t) n;
                if (n == 0 || got > len)
                        break;
        }
        if (got != len)
                return alder_error_set(err, EIO, "%s: changed while being read", what);
        if (want) {
                r = check_digest(buf, len, want, what, err);
                if (r < 0)
                        return r;
        }
        buf[len] = '\0';
        *ret = steal_pointer(&buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

static int load_json(const alder_oci_image *img, const char *rel, const char *what, size_t max,
                     const struct digest *want, int64_t want_size, json_t **ret, alder_error **err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_checked(img, rel, what, max, want, want_size, &buf, &len, err);
        if (r < 0)
                return r;
        return alder_json_parse(what, buf, len, ret, err);
}

static void blob_path(const struct digest *d, char out[sizeof("blobs/sha256/") + ALDER_SHA256_HEX_LEN])
{
        snprintf(out, sizeof("blobs/sha256/") + ALDER_SHA256_HEX_LEN, "blobs/sha256/%s",
                 d->str + strlen(DIGEST_PREFIX));
}

#define BLOB_PATH_SIZE (sizeof("blobs/sha256/") + ALDER_SHA256_HEX_LEN)
#define WHAT_SIZE      96

/*
 * Loads the JSON blob a descriptor references ("index", "manifest", "config"
 * by `kind`), checking digest and size; `what` gets its name for messages.
 */
static int load_blob_json(const alder_oci_image *img, const char *kind, const struct digest *digest, int64_t size,
                          size_t max, char what[WHAT_SIZE], json_t **ret, alder_error **err)
{
        char path[BLOB_PATH_SIZE];
        blob_path(digest, path);
        snprintf(what, WHAT_SIZE, "%s %s", kind, digest->shown);
        return load_json(img, path, what, max, digest, size, ret, err);
}

/* ---- descriptors and platforms -------------------------------------------------------------------------- */

struct descriptor {
        const char *media_type;
        struct digest digest;
        int64_t size;
};

/* mediaType, digest and size of a descriptor object; `source` names it in errors. */
static int parse_descriptor(const json_t *obj, const char *source, int64_t max_size, struct descriptor *d,
                            alder_error **err)
{
        const char *digest;
        int r = alder_json_get_string(obj, source, "mediaType", 0, &d->media_type, err);
        if (r == 0)
                r = alder_json_get_string(obj, source, "digest", 0, &digest, err);
        if (r == 0)
                r = alder_json_get_int_range(obj, source, "size", 0, 0, max_size, &d->size, err);
        if (r < 0)
                return r;
        const char *why = digest_parse(digest, &d->digest);
        if (why)
                return alder_error_set(err, EINVAL, "%s: field 'digest': '%.80s': %s", source, digest, why);
        return 0;
}

static bool is_one_of(const char *s, const char *a, const char *b)
{
        return s && (strcmp(s, a) == 0 || strcmp(s, b) == 0);
}

/* Go architecture names as images use them; common other spellings map onto them. */
static void normalize_platform(const char **arch, const char **variant)
{
        static const struct {
                const char *alias, *arch, *variant;
        } aliases[] = {
                {"aarch64", "arm64", NULL}, {"x86_64", "amd64", NULL}, {"armhf", "arm", "v7"},
                {"armv7", "arm", "v7"},     {"armv7l", "arm", "v7"},   {"i386", "386", NULL},
        };
        for (size_t i = 0; *arch && i < ALDER_ARRAY_SIZE(aliases); i++)
                if (strcmp(*arch, aliases[i].alias) == 0) {
                        *arch = aliases[i].arch;
                        if (!*variant)
                                *variant = aliases[i].variant;
                }
        /* arm64 is v8 whether or not an image says so. */
        if (*arch && *variant && strcmp(*arch, "arm64") == 0 && strcmp(*variant, "v8") == 0)
                *variant = NULL;
}

static int set_platform(struct candidate *c, const char *os, const char *arch, const char *variant)
{
        normalize_platform(&arch, &variant);
        c->os = dup_or_null(os);
        c->arch = dup_or_null(arch);
        c->variant = dup_or_null(variant);
        return (os && !c->os) || (arch && !c->arch) || (variant && !c->variant) ? -ENOMEM : 0;
}

/*
 * os, architecture and variant below `prefix` ("platform." in an index entry,
 * "" in a config): what a candidate runs on.
 */
static int parse_platform(const json_t *obj, const char *source, const char *prefix, struct candidate *c,
                          alder_error **err)
{
        static const char *const keys[] = {"os", "architecture", "variant"};
        const char *values[3] = {NULL, NULL, NULL};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(keys); i++) {
                char field[32];
                snprintf(field, sizeof(field), "%s%s", prefix, keys[i]);
                unsigned flags = i == 2 ? ALDER_JSON_OPTIONAL : 0;
                int r = alder_json_get_string(obj, source, field, flags, &values[i], err);
                if (r < 0)
                        return r;
        }
        if (set_platform(c, values[0], values[1], values[2]) < 0)
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        return 0;
}

/* The optional "platform" object of an index entry. */
static int parse_index_platform(const json_t *entry, const char *source, struct candidate *c, alder_error **err)
{
        json_t *p = NULL;
        int r = alder_json_get_object(entry, source, "platform", ALDER_JSON_OPTIONAL, &p, err);
        if (r < 0 || !p)
                return r;
        return parse_platform(entry, source, "platform.", c, err);
}

static int add_candidate(struct candidates *cs, struct candidate **ret, alder_error **err)
{
        if (cs->n >= ALDER_OCI_MAX_MANIFESTS)
                return alder_error_set(err, E2BIG, "more than %u manifests", ALDER_OCI_MAX_MANIFESTS);
        struct candidate *n = realloc(cs->v, (cs->n + 1) * sizeof(*n));
        if (!n)
                return alder_error_set(err, ENOMEM, "out of memory");
        cs->v = n;
        *ret = &n[cs->n++];
        **ret = (struct candidate){.size = -1};
        return 0;
}

/* ---- OCI: index → candidates ---------------------------------------------------------------------------- */

static int collect_index(const alder_oci_image *img, const json_t *index, const char *source, const char *ref,
                         unsigned depth, struct candidates *cs, alder_error **err);

static int load_nested_index(const alder_oci_image *img, const struct descriptor *d, const char *ref, unsigned depth,
                             struct candidates *cs, alder_error **err)
{
        if (depth >= ALDER_OCI_MAX_INDEX_DEPTH)
                return alder_error_set(err, ELOOP, "index %s: indexes nested deeper than %u", d->digest.shown,
                                       ALDER_OCI_MAX_INDEX_DEPTH);
        char what[WHAT_SIZE];
        _cleanup_json_ json_t *nested = NULL;
        int r = load_blob_json(img, "index", &d->digest, d->size, ALDER_OCI_MAX_INDEX_SIZE, what, &nested, err);
        if (r < 0)
                return r;
        return collect_index(img, nested, what, ref, depth + 1, cs, err);
}

/* The ref.name annotation, looked up by hand: its key has dots, where field paths split. */
static int ref_annotation(const json_t *entry, const char *source, const char **ret, alder_error **err)
{
        json_t *annotations = NULL;
        int r = alder_json_get_object(entry, source, "annotations", ALDER_JSON_OPTIONAL, &annotations, err);
        json_t *v = r == 0 && annotations ? json_object_get(annotations, ANNOTATION_REF) : NULL;
        if (!v)
                return r;
        if (!json_is_string(v))
                return alder_error_set(err, EINVAL, "%s: annotation '%s': expected string, got %s", source,
                                       ANNOTATION_REF, alder_json_type_name(v));
        *ret = json_string_value(v);
        return 0;
}

static int collect_entry(const alder_oci_image *img, const json_t *entry, const char *source, const char *ref,
                         unsigned depth, struct candidates *cs, alder_error **err)
{
        struct descriptor d;
        int r = parse_descriptor(entry, source, ALDER_OCI_MAX_MANIFEST_SIZE, &d, err);
        if (r < 0)
                return r;
        const char *own_ref = NULL;
        r = ref_annotation(entry, source, &own_ref, err);
        if (r < 0)
                return r;
        if (!own_ref)
                own_ref = ref;
        if (is_one_of(d.media_type, MT_OCI_INDEX, MT_DOCKER_LIST))
                return load_nested_index(img, &d, own_ref, depth, cs, err);
        if (!is_one_of(d.media_type, MT_OCI_MANIFEST, MT_DOCKER_MANIFEST))
                return 0; /* not an image (e.g. an artifact): not a candidate */

        struct candidate *c;
        r = add_candidate(cs, &c, err);
        if (r < 0)
                return alder_error_wrap(err, "%s", source);
        c->digest = d.digest;
        c->size = d.size;
        c->media_type = strdup(d.media_type);
        c->ref = dup_or_null(own_ref);
        if (!c->media_type || (own_ref && !c->ref))
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        return parse_index_platform(entry, source, c, err);
}

static int collect_index(const alder_oci_image *img, const json_t *index, const char *source, const char *ref,
                         unsigned depth, struct candidates *cs, alder_error **err)
{
        int64_t version;
        const char *mt = NULL;
        json_t *manifests;
        int r = alder_json_get_int_range(index, source, "schemaVersion", 0, 2, 2, &version, err);
        if (r == 0)
                r = alder_json_get_string(index, source, "mediaType", ALDER_JSON_OPTIONAL, &mt, err);
        if (r == 0 && mt && !is_one_of(mt, MT_OCI_INDEX, MT_DOCKER_LIST))
                r = alder_error_set(err, EINVAL, "%s: field 'mediaType': '%s' is not an image index", source, mt);
        if (r == 0)
                r = alder_json_get_array(index, source, "manifests", 0, &manifests, err);
        if (r < 0)
                return r;
        if (json_array_size(manifests) > ALDER_OCI_MAX_MANIFESTS)
                return alder_error_set(err, E2BIG, "%s: field 'manifests': %zu entries, at most %u allowed", source,
                                       json_array_size(manifests), ALDER_OCI_MAX_MANIFESTS);
        for (size_t i = 0; i < json_array_size(manifests); i++) {
                char entry_source[WHAT_SIZE + 32];
                snprintf(entry_source, sizeof(entry_source), "%s: manifests[%zu]", source, i);
                r = collect_entry(img, json_array_get(manifests, i), entry_source, ref, depth, cs, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- configs -------------------------------------------------------------------------------------------- */

/* A list that images often write as null when empty. */
static int get_strv_or_null(const json_t *root, const json_t *cfg, const char *source, const char *key, char ***ret,
                            alder_error **err)
{
        json_t *v = json_object_get(cfg, key);
        if (!v || json_is_null(v))
                return 0;
        char field[64];
        snprintf(field, sizeof(field), "config.%s", key);
        return alder_json_get_strv(root, source, field, 0, ALDER_OCI_MAX_LIST, ret, err);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Labels ("KEY=VALUE") or exposed ports ("80/tcp"): an object, or null. Sorted, so output is stable. */
static int get_object_as_strv(const json_t *cfg, const char *source, const char *key, bool with_values, char ***ret,
                              alder_error **err)
{
        json_t *obj = json_object_get(cfg, key);
        if (!obj || json_is_null(obj))
                return 0;
        if (!json_is_object(obj))
                return alder_error_set(err, EINVAL, "%s: field 'config.%s': expected object, got %s", source, key,
                                       alder_json_type_name(obj));
        size_t n = json_object_size(obj);
        if (n > ALDER_OCI_MAX_LIST)
                return alder_error_set(err, E2BIG, "%s: field 'config.%s': %zu items, at most %u allowed", source, key,
                                       n, ALDER_OCI_MAX_LIST);
        _cleanup_strv_ char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        size_t i = 0;
        const char *k;
        json_t *val;
        json_object_foreach(obj, k, val)
        {
                if (with_values && !json_is_string(val))
                        return alder_error_set(err, EINVAL, "%s: field 'config.%s.%s': expected string, got %s", source,
                                               key, k, alder_json_type_name(val));
                int r = with_values ? asprintf(&v[i], "%s=%s", k, json_string_value(val)) : asprintf(&v[i], "%s", k);
                if (r < 0) {
                        v[i] = NULL;
                        return alder_error_set(err, ENOMEM, "%s: out of memory", source);
                }
                i++;
        }
        qsort(v, n, sizeof(char *), cmp_str);
        *ret = steal_pointer(&v);
        return 0;
}

static int parse_config_section(const json_t *root, const char *source, alder_oci_config *c, alder_error **err)
{
        json_t *cfg = NULL;
        int r = alder_json_get(root, source, "config", ALDER_JSON_OPTIONAL, &cfg, err);
        if (r < 0 || !cfg || json_is_null(cfg))
                return r;
        if (!json_is_object(cfg))
                return alder_error_set(err, EINVAL, "%s: field 'config': expected object, got %s", source,
                                       alder_json_type_name(cfg));
        r = get_strv_or_null(root, cfg, source, "Entrypoint", &c->entrypoint, err);
        if (r == 0)
                r = get_strv_or_null(root, cfg, source, "Cmd", &c->cmd, err);
        if (r == 0)
                r = get_strv_or_null(root, cfg, source, "Env", &c->env, err);
        if (r == 0)
                r = alder_json_get_string(root, source, "config.WorkingDir", ALDER_JSON_OPTIONAL, &c->working_dir, err);
        if (r == 0)
                r = alder_json_get_string(root, source, "config.User", ALDER_JSON_OPTIONAL, &c->user, err);
        if (r == 0)
                r = alder_json_get_string(root, source, "config.StopSignal", ALDER_JSON_OPTIONAL, &c->stop_signal, err);
        if (r == 0)
                r = get_object_as_strv(cfg, source, "Labels", true, &c->labels, err);
        if (r == 0)
                r = get_object_as_strv(cfg, source, "ExposedPorts", false, &c->exposed_ports, err);
        if (r == 0)
                r = get_object_as_strv(cfg, source, "Volumes", false, &c->volumes, err);
        return r;
}

static int parse_config(const json_t *root, const char *source, alder_oci_config *c, alder_error **err)
{
        int r = alder_json_get_string(root, source, "architecture", 0, &c->architecture, err);
        if (r == 0)
                r = alder_json_get_string(root, source, "os", 0, &c->os, err);
        if (r == 0)
                r = alder_json_get_string(root, source, "variant", ALDER_JSON_OPTIONAL, &c->variant, err);
        if (r == 0)
                r = parse_config_section(root, source, c, err);
        return r;
}

/* rootfs.diff_ids: one per layer. */
static int parse_diff_ids(const json_t *root, const char *source, size_t n_layers, struct digest *out,
                          alder_error **err)
{
        json_t *ids;
        int r = alder_json_get_array(root, source, "rootfs.diff_ids", 0, &ids, err);
        if (r < 0)
                return r;
        if (json_array_size(ids) != n_layers)
                return alder_error_set(err, EINVAL, "%s: field 'rootfs.diff_ids': %zu entries for %zu layers", source,
                                       json_array_size(ids), n_layers);
        for (size_t i = 0; i < n_layers; i++) {
                json_t *id = json_array_get(ids, i);
                const char *why = json_is_string(id) ? digest_parse(json_string_value(id), &out[i]) : "not a string";
                if (why)
                        return alder_error_set(err, EINVAL, "%s: field 'rootfs.diff_ids[%zu]': %s", source, i, why);
        }
        return 0;
}

/* ---- OCI: manifest → layers, config --------------------------------------------------------------------- */

static int layer_compression(const char *media_type, alder_unpack_compression *ret)
{
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(layer_types); i++)
                if (strcmp(media_type, layer_types[i].media_type) == 0) {
                        *ret = layer_types[i].compression;
                        return 0;
                }
        return -ENOTSUP;
}

static int alloc_layers(alder_oci_image *img, size_t n, const char *source, alder_error **err)
{
        if (n > ALDER_OCI_MAX_LAYERS)
                return alder_error_set(err, E2BIG, "%s: %zu layers, at most %u allowed", source, n,
                                       ALDER_OCI_MAX_LAYERS);
        img->layers = calloc(n ? n : 1, sizeof(*img->layers));
        if (!img->layers)
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        img->n_layers = n;
        return 0;
}

static int parse_layer(const json_t *entry, const char *source, struct layer *l, alder_error **err)
{
        struct descriptor d;
        int r = parse_descriptor(entry, source, INT64_MAX, &d, err);
        if (r < 0)
                return r;
        if (layer_compression(d.media_type, &l->compression) < 0)
                return alder_error_set(err, ENOTSUP, "%s: unsupported media type '%s'", source, d.media_type);
        char path[BLOB_PATH_SIZE];
        blob_path(&d.digest, path);
        l->path = strdup(path);
        l->media_type = strdup(d.media_type);
        if (!l->path || !l->media_type)
                return alder_error_set(err, ENOMEM, "%s: out of memory", source);
        l->digest = d.digest;
        l->size = d.size;
        return 0;
}

/* Reads a manifest: its config descriptor (*ret_config) and, with img, its layers. */
static int load_manifest(alder_oci_image *img, const struct candidate *c, struct descriptor *ret_config,
                         json_t **ret_doc, alder_error **err)
{
        char what[WHAT_SIZE];
        _cleanup_json_ json_t *m = NULL;
        int r = load_blob_json(img, "manifest", &c->digest, c->size, ALDER_OCI_MAX_MANIFEST_SIZE, what, &m, err);
        if (r < 0)
                return r;
        int64_t version;
        const char *mt = NULL;
        json_t *config;
        r = alder_json_get_int_range(m, what, "schemaVersion", 0, 2, 2, &version, err);
        if (r == 0)
                r = alder_json_get_string(m, what, "mediaType", ALDER_JSON_OPTIONAL, &mt, err);
        if (r == 0 && mt && strcmp(mt, c->media_type) != 0)
                r = alder_error_set(err, EINVAL, "%s: field 'mediaType': '%s', but the index says '%s'", what, mt,
                                    c->media_type);
        if (r == 0)
                r = alder_json_get_object(m, what, "config", 0, &config, err);
        if (r < 0)
                return r;
        char config_source[WHAT_SIZE + 16];
        snprintf(config_source, sizeof(config_source), "%s: config", what);
        r = parse_descriptor(config, config_source, ALDER_OCI_MAX_CONFIG_SIZE, ret_config, err);
        if (r == 0 && !is_one_of(ret_config->media_type, MT_OCI_CONFIG, MT_DOCKER_CONFIG))
                r = alder_error_set(err, ENOTSUP, "%s: unsupported media type '%s'", config_source,
                                    ret_config->media_type);
        if (r < 0)
                return r;
        *ret_doc = steal_pointer(&m);
        return 0;
}

static int load_config_blob(const alder_oci_image *img, const struct descriptor *d, json_t **ret, char *what,
                            alder_error **err)
{
        return load_blob_json(img, "config", &d->digest, d->size, ALDER_OCI_MAX_CONFIG_SIZE, what, ret, err);
}

static int oci_candidate_platform(alder_oci_image *img, struct candidate *c, alder_error **err)
{
        struct descriptor cd;
        _cleanup_json_ json_t *m = NULL, *config = NULL;
        char what[WHAT_SIZE];
        int r = load_manifest(img, c, &cd, &m, err);
        if (r == 0)
                r = load_config_blob(img, &cd, &config, what, err);
        if (r == 0)
                r = parse_platform(config, what, "", c, err);
        return r;
}

static int oci_load_selected(alder_oci_image *img, const struct candidate *c, alder_error **err)
{
        struct descriptor cd;
        _cleanup_json_ json_t *m = NULL, *config = NULL;
        char what[WHAT_SIZE];
        int r = load_manifest(img, c, &cd, &m, err);
        if (r < 0)
                return r;
        char source[WHAT_SIZE];
        snprintf(source, sizeof(source), "manifest %s", c->digest.shown);
        json_t *layers;
        r = alder_json_get_array(m, source, "layers", 0, &layers, err);
        if (r == 0)
                r = alloc_layers(img, json_array_size(layers), source, err);
        for (size_t i = 0; r == 0 && i < img->n_layers; i++) {
                char layer_source[WHAT_SIZE + 32];
                snprintf(layer_source, sizeof(layer_source), "%s: layers[%zu]", source, i);
                r = parse_layer(json_array_get(layers, i), layer_source, &img->layers[i], err);
        }
        if (r == 0)
                r = load_config_blob(img, &cd, &config, what, err);
        if (r == 0)
                r = parse_config(config, what, &img->config, err);
        if (r < 0)
                return r;
        img->config_doc = json_incref(config);
        /* Checked for consistency only: OCI layers are verified by their (compressed) digests. */
        _cleanup_free_ struct digest *ids = calloc(img->n_layers ? img->n_layers : 1, sizeof(*ids));
        if (!ids)
                return alder_error_set(err, ENOMEM, "%s: out of memory", what);
        r = parse_diff_ids(config, what, img->n_layers, ids, err);
        if (r < 0)
                return r;
        img->has_config = true;
        img->digest = c->digest;
        img->has_digest = true;
        return 0;
}

/* ---- docker-archive: manifest.json → candidates --------------------------------------------------------- */

/* Legacy "<hex>.json" and new "blobs/sha256/<hex>" config names carry their digest. */
static int digest_from_name(const char *path, struct digest *d)
{
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        char s[sizeof(DIGEST_PREFIX) + ALDER_SHA256_HEX_LEN];
        size_t n = strcspn(base, ".");
        if (n != ALDER_SHA256_HEX_LEN || (base[n] && strcmp(base + n, ".json") != 0))
                return -EINVAL;
        snprintf(s, sizeof(s), DIGEST_PREFIX "%.*s", (int) n, base);
        return digest_parse(s, d) ? -EINVAL : 0;
}

static int load_docker_config(const alder_oci_image *img, const struct candidate *c, json_t **ret, char *what,
                              alder_error **err)
{
        snprintf(what, WHAT_SIZE, "config %s", c->digest.shown);
        return load_json(img, c->config_path, what, ALDER_OCI_MAX_CONFIG_SIZE, &c->digest, -1, ret, err);
}

static int docker_candidate(alder_oci_image *img, const json_t *entry, const char *source, struct candidates *cs,
                            alder_error **err)
{
        struct candidate *c;
        int r = add_candidate(cs, &c, err);
        if (r < 0)
                return alder_error_wrap(err, "manifest.json");
        const char *config_path;
        r = alder_json_get_string(entry, source, "Config", 0, &config_path, err);
        if (r == 0 && !(c->config_path = strdup(config_path)))
                r = alder_error_set(err, ENOMEM, "%s: out of memory", source);
        if (r == 0)
                r = alder_json_get_strv(entry, source, "Layers", 0, ALDER_OCI_MAX_LAYERS, &c->layer_paths, err);
        if (r == 0 && json_is_array(json_object_get(entry, "RepoTags")))
                r = alder_json_get_strv(entry, source, "RepoTags", 0, ALDER_OCI_MAX_LIST, &c->tags, err);
        if (r < 0)
                return r;
        if (digest_from_name(c->config_path, &c->digest) < 0)
                return alder_error_set(err, EINVAL, "%s: field 'Config': '%.80s' does not name its digest", source,
                                       c->config_path);
        _cleanup_json_ json_t *config = NULL;
        char what[WHAT_SIZE];
        r = load_docker_config(img, c, &config, what, err);
        if (r == 0)
                r = parse_platform(config, what, "", c, err);
        return r;
}

static int docker_collect(alder_oci_image *img, struct candidates *cs, alder_error **err)
{
        _cleanup_json_ json_t *list = NULL;
        int r = load_json(img, "manifest.json", "manifest.json", ALDER_OCI_MAX_INDEX_SIZE, NULL, -1, &list, err);
        if (r < 0)
                return r;
        if (!json_is_array(list))
                return alder_error_set(err, EINVAL, "manifest.json: expected array, got %s",
                                       alder_json_type_name(list));
        if (json_array_size(list) > MAX_DOCKER_IMAGES)
                return alder_error_set(err, E2BIG, "manifest.json: %zu images, at most %u allowed",
                                       json_array_size(list), MAX_DOCKER_IMAGES);
        for (size_t i = 0; i < json_array_size(list); i++) {
                char source[48];
                snprintf(source, sizeof(source), "manifest.json: [%zu]", i);
                r = docker_candidate(img, json_array_get(list, i), source, cs, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int docker_load_selected(alder_oci_image *img, const struct candidate *c, alder_error **err)
{
        _cleanup_json_ json_t *config = NULL;
        char what[WHAT_SIZE];
        size_t n = 0;
        while (c->layer_paths[n])
                n++;
        int r = load_docker_config(img, c, &config, what, err);
        if (r == 0)
                r = parse_config(config, what, &img->config, err);
        if (r == 0)
                r = alloc_layers(img, n, what, err);
        if (r < 0)
                return r;
        img->config_doc = json_incref(config);
        _cleanup_free_ struct digest *ids = calloc(n ? n : 1, sizeof(*ids));
        if (!ids)
                return alder_error_set(err, ENOMEM, "%s: out of memory", what);
        r = parse_diff_ids(config, what, n, ids, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct layer *l = &img->layers[i];
                l->path = strdup(c->layer_paths[i]);
                if (!l->path)
                        return alder_error_set(err, ENOMEM, "%s: out of memory", what);
                l->compression = ALDER_UNPACK_COMPRESSION_AUTO;
                l->digest = ids[i]; /* docker-archive layers are uncompressed tars: their digest is the diff_id */
                l->size = -1;
        }
        img->has_config = true;
        img->digest = c->digest;
        img->has_digest = true;
        return 0;
}

/* ---- selection ------------------------------------------------------------------------------------------ */

struct selector {
        const char *os, *arch, *variant, *ref;
};

static bool streq_or_any(const char *want, const char *have)
{
        return !want || (have && strcmp(want, have) == 0);
}

/* Docker's implied registry and namespace: "docker.io/library/x:1" is "x:1". */
static const char *short_tag(const char *tag)
{
        if (strncmp(tag, "docker.io/", 10) == 0)
                tag += 10;
        if (strncmp(tag, "library/", 8) == 0)
                tag += 8;
        return tag;
}

static bool has_ref(const struct candidate *c, const char *ref)
{
        if (!ref)
                return true;
        if (c->ref && strcmp(c->ref, ref) == 0)
                return true;
        for (char **t = c->tags; t && *t; t++)
                if (strcmp(short_tag(*t), short_tag(ref)) == 0)
                        return true;
        return false;
}

static bool matches(const struct candidate *c, const struct selector *s)
{
        return streq_or_any(s->os, c->os) && streq_or_any(s->arch, c->arch) && streq_or_any(s->variant, c->variant) &&
               has_ref(c, s->ref);
}

/* "linux/arm/v7 'v1.2'" for each candidate, for error messages. */
static char *describe_available(const struct candidates *cs)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; i < cs->n && i < MAX_AVAILABLE_SHOWN; i++) {
                const struct candidate *c = &cs->v[i];
                fprintf(f, "%s%s/%s%s%s", i ? ", " : "", c->os ? c->os : "?", c->arch ? c->arch : "?",
                        c->variant ? "/" : "", c->variant ? c->variant : "");
                const char *ref = c->ref ? c->ref : c->tags ? c->tags[0] : NULL;
                if (ref)
                        fprintf(f, " '%.100s'", ref);
        }
        if (cs->n > MAX_AVAILABLE_SHOWN)
                fprintf(f, ", ... (%zu in all)", cs->n);
        if (cs->n == 0)
                fputs("none", f);
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

static int select_candidate(const struct candidates *cs, const struct selector *s, const struct candidate **ret,
                            alder_error **err)
{
        const struct candidate *found = NULL;
        size_t n = 0;
        for (size_t i = 0; i < cs->n; i++)
                if (matches(&cs->v[i], s)) {
                        found = found ? found : &cs->v[i];
                        n++;
                }
        if (n == 1) {
                *ret = found;
                return 0;
        }
        _cleanup_free_ char *available = describe_available(cs);
        char wanted[256];
        snprintf(wanted, sizeof(wanted), "%s/%s%s%s%s%s%s", s->os, s->arch ? s->arch : "*", s->variant ? "/" : "",
                 s->variant ? s->variant : "", s->ref ? " '" : "", s->ref ? s->ref : "", s->ref ? "'" : "");
        if (n == 0)
                return alder_error_set(err, ENOENT, "no image for %s; available: %s", wanted,
                                       available ? available : "?");
        return alder_error_set(err, EINVAL, "%zu images match %s; choose one by platform or ref; available: %s", n,
                               wanted, available ? available : "?");
}

/* ---- opening -------------------------------------------------------------------------------------------- */

static int check_layout_version(const alder_oci_image *img, alder_error **err)
{
        _cleanup_json_ json_t *layout = NULL;
        const char *version;
        int r = load_json(img, "oci-layout", "oci-layout", 4096, NULL, -1, &layout, err);
        if (r == 0)
                r = alder_json_get_string(layout, "oci-layout", "imageLayoutVersion", 0, &version, err);
        if (r == 0 && strcmp(version, "1.0.0") != 0)
                r = alder_error_set(err, ENOTSUP, "oci-layout: imageLayoutVersion '%.40s' is not supported (1.0.0 is)",
                                    version);
        return r;
}

static int oci_collect(alder_oci_image *img, struct candidates *cs, alder_error **err)
{
        int r = check_layout_version(img, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *index = NULL;
        r = load_json(img, "index.json", "index.json", ALDER_OCI_MAX_INDEX_SIZE, NULL, -1, &index, err);
        if (r == 0)
                r = collect_index(img, index, "index.json", NULL, 0, cs, err);
        for (size_t i = 0; r == 0 && i < cs->n; i++)
                if (!cs->v[i].os)
                        r = oci_candidate_platform(img, &cs->v[i], err);
        return r;
}

static int load_image(alder_oci_image *img, const alder_oci_open_opts *opts, alder_error **err)
{
        _cleanup_candidates_ struct candidates cs = {0};
        bool docker = img->kind == ALDER_OCI_DOCKER_ARCHIVE;
        int r = docker ? docker_collect(img, &cs, err) : oci_collect(img, &cs, err);
        if (r < 0)
                return r;
        struct selector s = {opts->os ? opts->os : "linux", opts->architecture, opts->variant, opts->ref};
        normalize_platform(&s.arch, &s.variant);
        const struct candidate *c = NULL;
        r = select_candidate(&cs, &s, &c, err);
        if (r < 0)
                return r;
        return docker ? docker_load_selected(img, c, err) : oci_load_selected(img, c, err);
}

static bool has_file(int dirfd, const char *name)
{
        return faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Extracts an archive (contents only, bounded) into a private temporary directory. */
static int extract_archive(alder_oci_image *img, const alder_oci_open_opts *opts, alder_error **err)
{
        const char *base = opts->tmpdir ? opts->tmpdir : getenv("TMPDIR");
        if (asprintf(&img->tmp, "%s/alder-oci-XXXXXX", base && *base ? base : "/var/tmp") < 0) {
                img->tmp = NULL;
                return alder_error_set(err, ENOMEM, "out of memory");
        }
        if (!mkdtemp(img->tmp)) {
                int e = errno;
                _cleanup_free_ char *t = steal_pointer(&img->tmp);
                return alder_error_sys(err, e, "create temporary directory '%s'", t);
        }
        _cleanup_free_ char *dest = NULL;
        if (asprintf(&dest, "%s/image", img->tmp) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        alder_unpack_opts o = {.flags = ALDER_UNPACK_DATA_ONLY, .limits = opts->archive_limits};
        int r = alder_unpack_file(img->path, dest, &o, NULL, err);
        if (r < 0)
                return r;
        img->root_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (img->root_fd < 0)
                return alder_error_sys(err, errno, "open '%s'", dest);
        if (has_file(img->root_fd, "manifest.json"))
                img->kind = ALDER_OCI_DOCKER_ARCHIVE;
        else if (has_file(img->root_fd, "oci-layout"))
                img->kind = ALDER_OCI_ARCHIVE;
        else
                return alder_error_set(
                        err, EINVAL, "neither an oci-archive (no oci-layout) nor a docker-archive (no manifest.json)");
        return 0;
}

static int detect_and_load(alder_oci_image *img, const alder_oci_open_opts *opts, alder_error **err)
{
        struct stat st;
        if (stat(img->path, &st) < 0)
                return alder_error_sys(err, errno, "stat");
        if (S_ISREG(st.st_mode)) {
                int r = extract_archive(img, opts, err);
                if (r < 0)
                        return r;
        } else if (S_ISDIR(st.st_mode)) {
                img->root_fd = open(img->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (img->root_fd < 0)
                        return alder_error_sys(err, errno, "open");
                img->kind = has_file(img->root_fd, "oci-layout") ? ALDER_OCI_LAYOUT : ALDER_OCI_ROOTFS_DIR;
        } else {
                return alder_error_set(err, EINVAL, "neither a directory nor an archive file");
        }
        if (img->kind == ALDER_OCI_ROOTFS_DIR)
                return 0;
        return load_image(img, opts, err);
}

int alder_oci_open(const char *path, const alder_oci_open_opts *opts, alder_oci_image **ret, alder_error **err)
{
        static const alder_oci_open_opts defaults = {0};
        _cleanup_oci_image_ alder_oci_image *img = calloc(1, sizeof(*img));
        if (!img || !(img->path = strdup(path)))
                return alder_error_set(err, ENOMEM, "image '%s': out of memory", path);
        img->root_fd = -1;
        int r = detect_and_load(img, opts ? opts : &defaults, err);
        if (r < 0)
                return alder_error_wrap(err, "image '%s'", path);
        *ret = steal_pointer(&img);
        return 0;
}

/* ---- JSON ----------------------------------------------------------------------------------------------- */

static json_t *strv_json(char **v)
{
        if (!v)
                return json_null();
        json_t *a = json_array();
        for (char **s = v; a && *s; s++)
                if (json_array_append_new(a, json_string(*s)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *labels_json(char **v)
{
        json_t *o = json_object();
        for (char **s = v; o && s && *s; s++) {
                char *eq = strchr(*s, '=');
                _cleanup_free_ char *key = strndup(*s, (size_t) (eq - *s));
                if (!key || json_object_set_new(o, key, json_string(eq + 1)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

static json_t *layers_json(const alder_oci_image *img)
{
        json_t *a = json_array();
        for (size_t i = 0; a && i < img->n_layers; i++) {
                const struct layer *l = &img->layers[i];
                json_t *o = json_pack("{s:s, s:s*, s:s}", "digest", l->digest.str, "media_type", l->media_type, "path",
                                      l->path);
                if (o && l->size >= 0)
                        json_object_set_new(o, "size", json_integer(l->size));
                if (!o || json_array_append_new(a, o) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static json_t *config_json(const alder_oci_config *c)
{
        return json_pack("{s:s, s:s, s:s*, s:o*, s:o*, s:o*, s:s*, s:s*, s:s*, s:o*, s:o*, s:o*}", "architecture",
                         c->architecture, "os", c->os, "variant", c->variant, "entrypoint", strv_json(c->entrypoint),
                         "cmd", strv_json(c->cmd), "env", strv_json(c->env), "working_dir", c->working_dir, "user",
                         c->user, "stop_signal", c->stop_signal, "labels", labels_json(c->labels), "exposed_ports",
                         strv_json(c->exposed_ports), "volumes", strv_json(c->volumes));
}

int alder_oci_image_to_json(const alder_oci_image *img, json_t **ret, alder_error **err)
{
        _cleanup_json_ json_t *o =
                json_pack("{s:s, s:s, s:s*, s:o*}", "kind", alder_oci_kind_name(img->kind), "path", img->path, "digest",
                          alder_oci_image_digest(img), "layers", layers_json(img));
        if (o && img->has_config && json_object_set_new(o, "config", config_json(&img->config)) < 0)
                json_decref(steal_pointer(&o));
        if (!o)
                return alder_error_set(err, ENOMEM, "image '%s': out of memory", img->path);
        *ret = steal_pointer(&o);
        return 0;
}

/* ---- flattening ----------------------------------------------------------------------------------------- */

/* Feeds a layer blob to the unpacker, hashing it; the size and digest are checked at its end. */
struct blob_reader {
        int fd;
        alder_sha256 *hash;
        uint64_t size;
        int64_t want_size; /* -1: unknown */
        const struct digest *want;
        bool verified; /* the end was reached and checked */
        alder_error *error;
};

/* Records why the blob is bad and fails the read with that errno. */
#define blob_fail(b, errnum, ...) (alder_error_set(&(b)->error, errnum, __VA_ARGS__), errno = (errnum), -1)

static ssize_t blob_verify(struct blob_reader *b)
{
        if (b->want_size >= 0 && b->size != (uint64_t) b->want_size)
                return blob_fail(b, EBADMSG, "%" PRIu64 " bytes, its descriptor says %" PRId64, b->size, b->want_size);
        struct digest got;
        if (alder_sha256_final(b->hash, got.raw, &b->error) < 0) {
                errno = EIO;
                return -1;
        }
        if (memcmp(got.raw, b->want->raw, sizeof(got.raw)) != 0) {
                digest_from_raw(&got);
                return blob_fail(b, EBADMSG, "digest mismatch: expected %s, got %s", b->want->str, got.str);
        }
        return 0;
}

static ssize_t blob_read(void *ctx, void *buf, size_t n)
{
        struct blob_reader *b = ctx;
        if (b->error) {
                errno = alder_error_errno(b->error);
                return -1;
        }
        if (b->verified)
                return 0;
        ssize_t got = read(b->fd, buf, n);
        if (got < 0)
                return -1; /* EINTR is retried by the unpacker */
        if (got == 0) {
                b->verified = true;
                return blob_verify(b);
        }
        b->size += (uint64_t) got;
        if (b->want_size >= 0 && b->size > (uint64_t) b->want_size)
                return blob_fail(b, EBADMSG, "more than the %" PRId64 " bytes its descriptor says", b->want_size);
        alder_sha256_update(b->hash, buf, (size_t) got);
        return got;
}

/*
 * After the unpacker gave up on a blob: reads the rest, so that a corrupt blob
 * is reported as what it is (a digest mismatch) rather than by its symptom.
 */
static void blob_finish(struct blob_reader *b)
{
        char buf[64 * 1024];
        for (;;) {
                ssize_t n = blob_read(b, buf, sizeof(buf));
                if (n <= 0 && !(n < 0 && errno == EINTR && !b->error))
                        return;
        }
}

static int apply_layer(alder_oci_image *img, size_t i, const char *dest, alder_unpack_opts *o,
                       alder_unpack_stats *stats, alder_error **err)
{
        const struct layer *l = &img->layers[i];
        char what[WHAT_SIZE];
        snprintf(what, sizeof(what), "layer %zu of %zu (%s)", i + 1, img->n_layers, l->digest.shown);
        struct blob_reader b = {.fd = -1, .want_size = l->size, .want = &l->digest};
        int r = open_in_root(img, l->path, &b.fd, err);
        if (r == 0)
                r = alder_sha256_new(&b.hash, err);
        if (r == 0) {
                o->compression = l->compression;
                r = alder_unpack(blob_read, &b, dest, o, stats, err);
                if (r < 0 && !b.error)
                        blob_finish(&b);
                /* The blob's own failure (digest, size) says more than the unpacker's echo of it. */
                if (r < 0 && b.error && err) {
                        alder_error_clear(err);
                        *err = steal_pointer(&b.error);
                }
        }
        alder_error_free(b.error);
        alder_sha256_free(b.hash);
        alder_closep(&b.fd);
        if (r < 0)
                return alder_error_wrap(err, "%s", what);
        return 0;
}

/* The new root: 0755 whatever the umask, owned by the (shifted) root when we run as root. */
static int make_root(const char *dest, const alder_unpack_opts *o, alder_error **err)
{
        if (mkdir(dest, 0700) < 0) {
                if (errno == EEXIST)
                        return alder_error_set(err, EEXIST, "flatten into '%s': already exists", dest);
                return alder_error_sys(err, errno, "flatten into '%s'", dest);
        }
        bool chown_ok = geteuid() == 0 && !(o->flags & (ALDER_UNPACK_NO_OWNERSHIP | ALDER_UNPACK_DATA_ONLY));
        if (chown_ok && chown(dest, o->uid_shift, o->gid_shift) < 0)
                return alder_error_sys(err, errno, "chown '%s'", dest);
        if (chmod(dest, 0755) < 0)
                return alder_error_sys(err, errno, "chmod '%s'", dest);
        return 0;
}

static int flatten_layers(alder_oci_image *img, const char *dest, const alder_unpack_opts *opts,
                          alder_unpack_stats *stats, alder_error **err)
{
        alder_unpack_opts o = opts ? *opts : (alder_unpack_opts){0};
        o.mode = ALDER_UNPACK_LAYER;
        int r = make_root(dest, &o, err);
        if (r == -EEXIST)
                return r;
        for (size_t i = 0; r == 0 && i < img->n_layers; i++)
                r = apply_layer(img, i, dest, &o, stats, err);
        if (r < 0) {
                /* Layer mode leaves the tree to us: nothing of a failed image stays. */
                int rr = alder_remove_tree(dest, NULL);
                (void) rr;
        }
        return r;
}

int alder_oci_image_flatten(alder_oci_image *img, const char *dest, const alder_unpack_opts *opts,
                            alder_unpack_stats *stats, alder_error **err)
{
        int r;
        _cleanup_unpack_stats_ alder_unpack_stats acc = {0};
        if (img->kind == ALDER_OCI_ROOTFS_DIR) {
                alder_unpack_opts o = opts ? *opts : (alder_unpack_opts){0};
                o.mode = ALDER_UNPACK_FRESH;
                r = alder_unpack_dir(img->path, dest, &o, &acc, err);
        } else {
                r = flatten_layers(img, dest, opts, &acc, err);
        }
        if (r < 0)
                return alder_error_wrap(err, "image '%s'", img->path);
        if (stats)
                alder_unpack_stats_add(stats, &acc);
        return 0;
}
