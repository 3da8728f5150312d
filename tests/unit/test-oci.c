/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image reader. Layouts are written here blob by blob (layers built with
 * libarchive, documents with jansson), so each broken document is exactly
 * what the case says; oci-archives and docker-archives are tars of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "tar-test.h"

#include "alder/digest.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/oci.h"

#define MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define REF_KEY     "org.opencontainers.image.ref.name"

static char tmpdir[64], layout[128], dest[128];

static int setup(void **state)
{
        strcpy(tmpdir, "/tmp/alder-test-oci-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        snprintf(layout, sizeof(layout), "%s/layout", tmpdir);
        snprintf(dest, sizeof(dest), "%s/rootfs", tmpdir);
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

static void sh(const char *fmt, ...) ALDER_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
        char cmd[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        assert_int_equal(system(cmd), 0);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

/* ---- writing layouts ---------------------------------------------------------------------------------- */

#define DIGEST_SIZE 72

static void sha256_str(const void *data, size_t len, char out[DIGEST_SIZE])
{
        uint8_t raw[ALDER_SHA256_LEN];
        assert_int_equal(alder_sha256_buffer(data, len, raw, NULL), 0);
        strcpy(out, "sha256:");
        alder_hex_encode(raw, sizeof(raw), out + 7);
}

/* Stores a blob; its digest goes to out. */
static void put_blob(const void *data, size_t len, char out[DIGEST_SIZE])
{
        sha256_str(data, len, out);
        char name[128];
        snprintf(name, sizeof(name), "blobs/sha256/%s", out + 7);
        write_file(layout, name, data, len);
}

static char *dump(const json_t *doc)
{
        char *s = NULL;
        assert_int_equal(alder_json_dump(doc, 0, &s, NULL, NULL), 0);
        return s;
}

static json_t *put_json_blob(json_t *doc, const char *media_type, char digest[DIGEST_SIZE])
{
        _cleanup_free_ char *s = dump(doc);
        put_blob(s, strlen(s), digest);
        return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size", (json_int_t) strlen(s));
}

/* One image of a test layout. */
struct image {
        const char *arch;
        const char *ref;
        bool platform_in_index; /* else the reader must look into the config */
        const struct ent *layers[3];
};

/* What was written, for expected messages: digests of the (last) image's blobs. */
struct written {
        char manifest[DIGEST_SIZE], config[DIGEST_SIZE], layer[DIGEST_SIZE];
};

/* The documents of an image before they are written; a case may change them. */
struct docs {
        json_t *config, *manifest, *index_entry;
};

typedef void (*mutate_fn)(struct docs *d);

static json_t *layer_blob(const struct ent *ents, char digest[DIGEST_SIZE], json_t *diff_ids)
{
        struct buf plain = {0}, gz = {0};
        build(&plain, PLAIN, ents);
        char diff_id[DIGEST_SIZE];
        sha256_str(plain.data, plain.len, diff_id);
        json_array_append_new(diff_ids, json_string(diff_id));
        build(&gz, GZIP, ents);
        put_blob(gz.data, gz.len, digest);
        json_t *d =
                json_pack("{s:s, s:s, s:I}", "mediaType", MT_LAYER_GZ, "digest", digest, "size", (json_int_t) gz.len);
        buf_free(&plain);
        buf_free(&gz);
        return d;
}

static json_t *image_config(const char *arch, json_t *diff_ids)
{
        return json_pack("{s:s, s:s, s:{s:[s], s:[s, s], s:[s], s:s, s:s, s:{s:s}, s:{s:{}}, s:s, s:n}, s:{s:s, s:o}}",
                         "architecture", arch, "os", "linux", "config", "Entrypoint", "/bin/app", "Cmd", "--port", "80",
                         "Env", "A=1", "WorkingDir", "/srv", "User", "app", "Labels", "team", "alder", "ExposedPorts",
                         "80/tcp", "StopSignal", "SIGINT", "Volumes", "rootfs", "type", "layers", "diff_ids", diff_ids);
}

static json_t *write_image(const struct image *img, mutate_fn mutate, struct written *w)
{
        json_t *diff_ids = json_array();
        json_t *layers = json_array();
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(img->layers) && img->layers[i]; i++)
                json_array_append_new(layers, layer_blob(img->layers[i], w->layer, diff_ids));
        struct docs d = {.config = image_config(img->arch, diff_ids)};
        d.manifest = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_MANIFEST, "layers", layers);
        d.index_entry = json_object();
        if (img->ref)
                json_object_set_new(d.index_entry, "annotations", json_pack("{s:s}", REF_KEY, img->ref));
        if (img->platform_in_index)
                json_object_set_new(d.index_entry, "platform",
                                    json_pack("{s:s, s:s}", "architecture", img->arch, "os", "linux"));
        if (mutate)
                mutate(&d);
        json_object_set_new(d.manifest, "config", put_json_blob(d.config, MT_CONFIG, w->config));
        json_t *desc = put_json_blob(d.manifest, MT_MANIFEST, w->manifest);
        json_object_update(d.index_entry, desc);
        json_decref(desc);
        json_decref(d.config);
        json_decref(d.manifest);
        return d.index_entry;
}

static void write_index(json_t *manifests)
{
        json_t *index = json_pack("{s:i, s:o}", "schemaVersion", 2, "manifests", manifests);
        _cleanup_free_ char *s = dump(index);
        write_file(layout, "index.json", s, strlen(s));
        json_decref(index);
}

static void write_layout(const struct image *imgs, size_t n, mutate_fn mutate, struct written *w)
{
        sh("mkdir -p '%s/blobs/sha256'", layout);
        write_file(layout, "oci-layout", "{\"imageLayoutVersion\": \"1.0.0\"}", 31);
        json_t *manifests = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(manifests, write_image(&imgs[i], mutate, w));
        write_index(manifests);
}

static const struct ent base_layer[] = {
        {REG("etc/hello", "hello\n")},
        {REG("etc/gone", "x")},
        {.name = "bin/app", .type = AE_IFREG, .perm = 0755, .data = "#!/bin/sh\n"},
        {.name = "opt/", .type = AE_IFDIR},
        {REG("opt/old", "old")},
        {0},
};
static const struct ent top_layer[] = {
        {REG("etc/.wh.gone", "")},
        {REG("opt/.wh..wh..opq", "")},
        {REG("opt/new", "new")},
        {0},
};
static const struct ent small_layer[] = {{REG("etc/hello", "amd64\n")}, {0}};

static const struct image two_images[] = {
        {.arch = "arm64", .ref = "v1", .layers = {base_layer, top_layer}},
        {.arch = "amd64", .ref = "v1", .platform_in_index = true, .layers = {small_layer}},
};

static alder_oci_image *open_ok(const char *path, const alder_oci_open_opts *o)
{
        alder_oci_image *img = NULL;
        _cleanup_error_ alder_error *err = NULL;
        if (alder_oci_open(path, o, &img, &err) < 0)
                fail_msg("open '%s': %s", path, alder_error_message(err));
        return img;
}

static void flatten_ok(alder_oci_image *img, alder_unpack_stats *stats)
{
        _cleanup_error_ alder_error *err = NULL;
        if (alder_oci_image_flatten(img, dest, NULL, stats, &err) < 0)
                fail_msg("flatten: %s", alder_error_message(err));
}

static void assert_file(const char *rel, const char *expected)
{
        char path[256], buf[256] = {0};
        snprintf(path, sizeof(path), "%s/%s", dest, rel);
        FILE *f = fopen(path, "r");
        if (!f)
                fail_msg("'%s' missing", rel);
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        assert_string_equal(buf, expected);
}

static void assert_absent(const char *path)
{
        struct stat st;
        assert_int_equal(lstat(path, &st), -1);
}

static void assert_absent_in_dest(const char *rel)
{
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dest, rel);
        assert_absent(path);
}

/* ---- layouts ------------------------------------------------------------------------------------------ */

static void test_layout_open_and_flatten(void **state)
{
        struct written w;
        write_layout(two_images, 2, NULL, &w);
        alder_oci_open_opts o = {.architecture = "aarch64"};
        _cleanup_oci_image_ alder_oci_image *img = open_ok(layout, &o);
        assert_int_equal(alder_oci_image_kind(img), ALDER_OCI_LAYOUT);
        assert_int_equal(alder_oci_image_layer_count(img), 2);
        const alder_oci_config *c = alder_oci_image_config(img);
        assert_string_equal(c->architecture, "arm64");
        assert_string_equal(c->entrypoint[0], "/bin/app");
        assert_string_equal(c->cmd[1], "80");
        assert_string_equal(c->env[0], "A=1");
        assert_string_equal(c->working_dir, "/srv");
        assert_string_equal(c->user, "app");
        assert_string_equal(c->labels[0], "team=alder");
        assert_string_equal(c->exposed_ports[0], "80/tcp");
        assert_string_equal(c->stop_signal, "SIGINT");

        _cleanup_unpack_stats_ alder_unpack_stats stats = {0};
        flatten_ok(img, &stats);
        assert_file("etc/hello", "hello\n");
        assert_absent_in_dest("etc/gone");
        assert_absent_in_dest("opt/old");
        assert_file("opt/new", "new");
        struct stat st;
        assert_int_equal(stat(dest, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(stats.entries, 5 + 2 + 3); /* layer 1, its implicit etc/ and bin/, layer 2 */

        _cleanup_json_ json_t *j = NULL;
        assert_int_equal(alder_oci_image_to_json(img, &j, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(j, "kind")), "oci-layout");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(json_object_get(j, "config"), "labels"), "team")),
                "alder");
}

static void test_platform_from_index(void **state)
{
        struct written w;
        write_layout(two_images, 2, NULL, &w);
        alder_oci_open_opts o = {.architecture = "x86_64", .ref = "v1"};
        _cleanup_oci_image_ alder_oci_image *img = open_ok(layout, &o);
        assert_string_equal(alder_oci_image_digest(img), w.manifest); /* the amd64 image was written last */
        flatten_ok(img, NULL);
        assert_file("etc/hello", "amd64\n");
}

static void test_selection_errors(void **state)
{
        struct written w;
        write_layout(two_images, 2, NULL, &w);
        static const struct {
                alder_oci_open_opts o;
                int errnum;
                const char *message;
        } cases[] = {
                {{.os = NULL},
                 EINVAL,
                 "2 images match linux/*; choose one by platform or ref; available: linux/arm64 'v1', linux/amd64 "
                 "'v1'"},
                {{.architecture = "arm", .variant = "v7"},
                 ENOENT,
                 "no image for linux/arm/v7; available: linux/arm64 'v1', linux/amd64 'v1'"},
                {{.architecture = "arm64", .ref = "v2"},
                 ENOENT,
                 "no image for linux/arm64 'v2'; available: linux/arm64 'v1', linux/amd64 'v1'"},
                {{.os = "windows"}, ENOENT, "no image for windows/*; available: linux/arm64 'v1', linux/amd64 'v1'"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                alder_oci_image *img = NULL;
                _cleanup_error_ alder_error *err = NULL;
                char expected[512];
                snprintf(expected, sizeof(expected), "image '%s': %s", layout, cases[i].message);
                assert_alder_error(alder_oci_open(layout, &cases[i].o, &img, &err), cases[i].errnum, expected);
                assert_null(img);
        }
}

/* An index inside an index (multi-arch images), up to the depth limit. */
static void test_nested_indexes(void **state)
{
        struct written w;
        write_layout(two_images, 2, NULL, &w);
        /* index.json itself plus up to ALDER_OCI_MAX_INDEX_DEPTH nested indexes */
        for (unsigned depth = 1; depth <= ALDER_OCI_MAX_INDEX_DEPTH + 1; depth++) {
                /* wrap the current index.json into a blob and point a new index.json at it */
                _cleanup_free_ char *path = NULL, *text = NULL;
                assert_true(asprintf(&path, "%s/index.json", layout) > 0);
                size_t len;
                assert_int_equal(alder_read_file(path, 1 << 20, &text, &len, NULL), 0);
                char digest[DIGEST_SIZE];
                put_blob(text, len, digest);
                json_t *entry =
                        json_pack("{s:s, s:s, s:I}", "mediaType", MT_INDEX, "digest", digest, "size", (json_int_t) len);
                write_index(json_pack("[o]", entry));
                alder_oci_open_opts o = {.architecture = "arm64"};
                alder_oci_image *img = NULL;
                _cleanup_error_ alder_error *err = NULL;
                int r = alder_oci_open(layout, &o, &img, &err);
                if (depth <= ALDER_OCI_MAX_INDEX_DEPTH) {
                        if (r < 0)
                                fail_msg("depth %u: %s", depth, alder_error_message(err));
                        assert_int_equal(alder_oci_image_layer_count(img), 2);
                        alder_oci_image_free(img);
                        continue;
                }
                assert_int_equal(r, -ELOOP);
                assert_non_null(strstr(alder_error_message(err), ": indexes nested deeper than 4"));
        }
}

/* ---- broken documents --------------------------------------------------------------------------------- */

static void set_config_arch_null(struct docs *d)
{
        json_object_del(d->config, "architecture");
}

static void set_env_number(struct docs *d)
{
        json_object_set_new(json_object_get(d->config, "config"), "Env", json_pack("[i]", 7));
}

static void set_layer_media_type(struct docs *d)
{
        json_object_set_new(json_array_get(json_object_get(d->manifest, "layers"), 0), "mediaType",
                            json_string("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"));
}

static void add_diff_id(struct docs *d)
{
        json_array_append_new(json_object_get(json_object_get(d->config, "rootfs"), "diff_ids"),
                              json_string("sha256:0000000000000000000000000000000000000000000000000000000000000000"));
}

static void set_schema_1(struct docs *d)
{
        json_object_set_new(d->manifest, "schemaVersion", json_integer(1));
}

static void set_labels_array(struct docs *d)
{
        json_object_set_new(json_object_get(d->config, "config"), "Labels", json_pack("[s]", "x"));
}

static void set_nulls(struct docs *d)
{
        /* What docker writes for empty lists: fine. */
        json_t *c = json_object_get(d->config, "config");
        json_object_set_new(c, "Entrypoint", json_null());
        json_object_set_new(c, "Labels", json_null());
}

/* After writing: damage a file of the layout. */
enum damage { NONE, FLIP_MANIFEST, GROW_CONFIG, SHA512_DIGEST, BAD_LAYOUT_VERSION, INDEX_SYNTAX, NO_LAYER_BLOB };

struct broken_case {
        const char *title;
        mutate_fn mutate;
        enum damage damage;
        int errnum;
        const char *message; /* %M manifest, %C config, %Y layer: short digest; %m %c %y: full */
};

static const struct broken_case broken_cases[] = {
        {"config without architecture", set_config_arch_null, NONE, ENOENT, "config %C: field 'architecture': missing"},
        {"Env of numbers", set_env_number, NONE, EINVAL,
         "config %C: field 'config.Env[0]': expected string, got integer"},
        {"Labels not an object", set_labels_array, NONE, EINVAL,
         "config %C: field 'config.Labels': expected object, got array"},
        {"unknown layer media type", set_layer_media_type, NONE, ENOTSUP,
         "manifest %M: layers[0]: unsupported media type "
         "'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'"},
        {"diff_ids do not match the layers", add_diff_id, NONE, EINVAL,
         "config %C: field 'rootfs.diff_ids': 2 entries for 1 layers"},
        {"manifest schema 1", set_schema_1, NONE, ERANGE,
         "manifest %M: field 'schemaVersion': 1 is out of range [2, 2]"},
        {"manifest changed", NULL, FLIP_MANIFEST, EBADMSG, "manifest %M: digest mismatch: expected %m, got "},
        {"config grew", NULL, GROW_CONFIG, EBADMSG, "config %C: "},
        {"sha512 digest", NULL, SHA512_DIGEST, EINVAL,
         "index.json: manifests[0]: field 'digest': 'sha512:00': unsupported digest algorithm (only sha256)"},
        {"layout version", NULL, BAD_LAYOUT_VERSION, ENOTSUP,
         "oci-layout: imageLayoutVersion '2.0.0' is not supported (1.0.0 is)"},
        {"index syntax", NULL, INDEX_SYNTAX, EBADMSG, "index.json:1:1: string or '}' expected near end of file"},
        {"nulls are empty lists", set_nulls, NONE, 0, NULL},
        {"missing layer blob", NULL, NO_LAYER_BLOB, 0, NULL},
};

static void blob_file(const char *digest, char *out, size_t size)
{
        snprintf(out, size, "%s/blobs/sha256/%s", layout, digest + 7);
}

static void apply_damage(enum damage d, const struct written *w)
{
        char path[256];
        switch (d) {
        case FLIP_MANIFEST:
                blob_file(w->manifest, path, sizeof(path));
                sh("sed -i 's/schemaVersion/schemaVersioN/' '%s'", path);
                break;
        case GROW_CONFIG:
                blob_file(w->config, path, sizeof(path));
                sh("echo >> '%s'", path);
                break;
        case SHA512_DIGEST:
                write_index(json_pack("[{s:s, s:s, s:i}]", "mediaType", MT_MANIFEST, "digest", "sha512:00", "size", 1));
                break;
        case BAD_LAYOUT_VERSION:
                write_file(layout, "oci-layout", "{\"imageLayoutVersion\": \"2.0.0\"}", 31);
                break;
        case INDEX_SYNTAX:
                write_file(layout, "index.json", "{", 1);
                break;
        case NO_LAYER_BLOB:
                blob_file(w->layer, path, sizeof(path));
                assert_int_equal(unlink(path), 0);
                break;
        case NONE:
                break;
        }
}

/* Expands %M %C %Y (short digests) and %m %c %y (full) in a message template. */
static void expand(const char *tmpl, const struct written *w, char *out, size_t size)
{
        size_t o = 0;
        for (const char *p = tmpl; *p && o + 80 < size; p++) {
                const char *d = NULL;
                if (*p == '%' && p[1]) {
                        d = strchr("Mm", p[1]) ? w->manifest : strchr("Cc", p[1]) ? w->config : w->layer;
                        o += (size_t) snprintf(out + o, size - o, "%.*s", p[1] >= 'a' ? 71 : 19, d);
                        p++;
                        continue;
                }
                out[o++] = *p;
        }
        out[o] = '\0';
}

static void test_broken_documents(void **state)
{
        static const struct image one = {.arch = "arm64", .ref = "v1", .layers = {small_layer}};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(broken_cases); i++) {
                const struct broken_case *c = &broken_cases[i];
                struct written w;
                sh("rm -rf '%s'", layout);
                write_layout(&one, 1, c->mutate, &w);
                apply_damage(c->damage, &w);
                alder_oci_image *img = NULL;
                _cleanup_error_ alder_error *err = NULL;
                int r = alder_oci_open(layout, NULL, &img, &err);
                if (c->errnum == 0) {
                        assert_int_equal(r, 0);
                        alder_oci_image_free(img);
                        continue;
                }
                char expected[512], prefixed[768];
                expand(c->message, &w, expected, sizeof(expected));
                snprintf(prefixed, sizeof(prefixed), "image '%s': %s", layout, expected);
                const char *got = r < 0 ? alder_error_message(err) : "(success)";
                if (r != -c->errnum || strncmp(got, prefixed, strlen(prefixed)) != 0)
                        fail_msg("case '%s': got %d '%s', expected %d '%s'", c->title, r, got, -c->errnum, prefixed);
                assert_null(img);
        }
}

static void flip_byte(const char *path, long offset)
{
        FILE *f = fopen(path, "r+");
        assert_non_null(f);
        assert_int_equal(fseek(f, offset, SEEK_SET), 0);
        int c = fgetc(f);
        assert_true(c != EOF);
        assert_int_equal(fseek(f, offset, SEEK_SET), 0);
        assert_int_equal(fputc(c ^ 0xff, f), c ^ 0xff);
        assert_int_equal(fclose(f), 0);
}

/* A layer's damage shows when it streams: named by its digest, and nothing is left. */
static void check_layer_damage(bool remove_blob)
{
        static const struct image one = {.arch = "arm64", .layers = {base_layer}};
        struct written w;
        sh("rm -rf '%s'", layout);
        write_layout(&one, 1, NULL, &w);
        _cleanup_oci_image_ alder_oci_image *img = open_ok(layout, NULL);
        char path[256], expected[512];
        blob_file(w.layer, path, sizeof(path));
        if (remove_blob) {
                assert_int_equal(unlink(path), 0);
                snprintf(expected, sizeof(expected),
                         "image '%s': layer 1 of 1 (%.19s): open 'blobs/sha256/%s': No such file or directory", layout,
                         w.layer, w.layer + 7);
        } else {
                flip_byte(path, 40);
                snprintf(expected, sizeof(expected),
                         "image '%s': layer 1 of 1 (%.19s): digest mismatch: expected %s, got ", layout, w.layer,
                         w.layer);
        }
        _cleanup_error_ alder_error *err = NULL;
        if (alder_oci_image_flatten(img, dest, NULL, NULL, &err) == 0)
                fail_msg("flatten succeeded (remove_blob %d)", remove_blob);
        if (strncmp(alder_error_message(err), expected, strlen(expected)) != 0)
                fail_msg("got '%s', expected '%s...'", alder_error_message(err), expected);
        assert_absent(dest);
}

static void test_layer_verified_while_flattening(void **state)
{
        check_layer_damage(true);
        check_layer_damage(false);
}

static void test_flatten_refuses_existing_dest(void **state)
{
        struct written w;
        write_layout(two_images, 1, NULL, &w);
        _cleanup_oci_image_ alder_oci_image *img = open_ok(layout, NULL);
        assert_int_equal(mkdir(dest, 0755), 0);
        _cleanup_error_ alder_error *err = NULL;
        char expected[512];
        snprintf(expected, sizeof(expected), "image '%s': flatten into '%s': already exists", layout, dest);
        assert_alder_error(alder_oci_image_flatten(img, dest, NULL, NULL, &err), EEXIST, expected);
}

/* ---- archives and folders ----------------------------------------------------------------------------- */

static void count_tmp_entries(const char *dir, int expected)
{
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq %d", dir, expected);
        assert_int_equal(system(cmd), 0);
}

static void test_oci_archive(void **state)
{
        struct written w;
        write_layout(two_images, 1, NULL, &w);
        sh("tar -C '%s' -cf '%s/image.tar' .", layout, tmpdir);
        sh("mkdir '%s/tmp'", tmpdir);
        char archive[160], tmp[160];
        snprintf(archive, sizeof(archive), "%s/image.tar", tmpdir);
        snprintf(tmp, sizeof(tmp), "%s/tmp", tmpdir);
        alder_oci_open_opts o = {.tmpdir = tmp};
        alder_oci_image *img = open_ok(archive, &o);
        assert_int_equal(alder_oci_image_kind(img), ALDER_OCI_ARCHIVE);
        count_tmp_entries(tmp, 1); /* extracted while open */
        flatten_ok(img, NULL);
        assert_file("opt/new", "new");
        alder_oci_image_free(img);
        count_tmp_entries(tmp, 0); /* and removed */
}

/* docker save's format: manifest.json, <config hex>.json, <id>/layer.tar (a symlink for a repeated layer). */
static void write_docker_archive(const char *config_name_override, char *archive, size_t size)
{
        char dir[160], layer_digest[DIGEST_SIZE], config_digest[DIGEST_SIZE], name[160];
        snprintf(dir, sizeof(dir), "%s/docker", tmpdir);
        sh("mkdir -p '%s/aaa' '%s/bbb'", dir, dir);
        struct buf plain = {0};
        build(&plain, PLAIN, small_layer);
        sha256_str(plain.data, plain.len, layer_digest);
        write_file(dir, "aaa/layer.tar", plain.data, plain.len);
        sh("ln -s ../aaa/layer.tar '%s/bbb/layer.tar'", dir);
        json_t *config = image_config("arm64", json_pack("[s, s]", layer_digest, layer_digest));
        _cleanup_free_ char *cs = dump(config);
        sha256_str(cs, strlen(cs), config_digest);
        snprintf(name, sizeof(name), "%s.json", config_name_override ? config_name_override : config_digest + 7);
        write_file(dir, name, cs, strlen(cs));
        json_t *manifest = json_pack("[{s:s, s:[s], s:[s, s]}]", "Config", name, "RepoTags", "docker.io/library/app:1",
                                     "Layers", "aaa/layer.tar", "bbb/layer.tar");
        _cleanup_free_ char *ms = dump(manifest);
        write_file(dir, "manifest.json", ms, strlen(ms));
        snprintf(archive, size, "%s/docker.tar", tmpdir);
        sh("tar -C '%s' -cf '%s' .", dir, archive);
        json_decref(config);
        json_decref(manifest);
        buf_free(&plain);
}

static void test_docker_archive(void **state)
{
        char archive[160];
        write_docker_archive(NULL, archive, sizeof(archive));
        alder_oci_open_opts o = {.ref = "app:1"};
        _cleanup_oci_image_ alder_oci_image *img = open_ok(archive, &o);
        assert_int_equal(alder_oci_image_kind(img), ALDER_OCI_DOCKER_ARCHIVE);
        assert_int_equal(alder_oci_image_layer_count(img), 2);
        assert_string_equal(alder_oci_image_config(img)->entrypoint[0], "/bin/app");
        flatten_ok(img, NULL);
        assert_file("etc/hello", "amd64\n");
}

static void test_docker_archive_config_must_name_its_digest(void **state)
{
        char archive[160], expected[512];
        write_docker_archive("config", archive, sizeof(archive));
        alder_oci_image *img = NULL;
        _cleanup_error_ alder_error *err = NULL;
        snprintf(expected, sizeof(expected),
                 "image '%s': manifest.json: [0]: field 'Config': 'config.json' does not name its digest", archive);
        assert_alder_error(alder_oci_open(archive, NULL, &img, &err), EINVAL, expected);
}

static void test_rootfs_dir(void **state)
{
        char src[160];
        snprintf(src, sizeof(src), "%s/src", tmpdir);
        sh("mkdir -p '%s/etc' && echo hi > '%s/etc/hello'", src, src);
        _cleanup_oci_image_ alder_oci_image *img = open_ok(src, NULL);
        assert_int_equal(alder_oci_image_kind(img), ALDER_OCI_ROOTFS_DIR);
        assert_null(alder_oci_image_config(img));
        assert_null(alder_oci_image_digest(img));
        flatten_ok(img, NULL);
        assert_file("etc/hello", "hi\n");
        assert_string_equal(alder_oci_kind_name(ALDER_OCI_ROOTFS_DIR), "rootfs-dir");
}

static void test_not_an_image(void **state)
{
        char path[160], expected[512];
        snprintf(path, sizeof(path), "%s/random.tar", tmpdir);
        sh("mkdir '%s/junk' && echo x > '%s/junk/file' && tar -C '%s/junk' -cf '%s' .", tmpdir, tmpdir, tmpdir, path);
        alder_oci_image *img = NULL;
        _cleanup_error_ alder_error *err = NULL;
        snprintf(expected, sizeof(expected),
                 "image '%s': neither an oci-archive (no oci-layout) nor a docker-archive (no manifest.json)", path);
        assert_alder_error(alder_oci_open(path, NULL, &img, &err), EINVAL, expected);
        snprintf(expected, sizeof(expected), "image '/dev/null': neither a directory nor an archive file");
        assert_alder_error(alder_oci_open("/dev/null", NULL, &img, &err), EINVAL, expected);
}

int main(void)
{
        /* The reader needs openat2 (Linux >= 5.6); qemu-user does not emulate it: let meson count a skip (77). */
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
        int fd = (int) syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
        if (fd < 0 && errno == ENOSYS) {
                fprintf(stderr, "test-oci: openat2: %s; skipping\n", strerror(errno));
                return 77;
        }
        if (fd >= 0)
                close(fd);
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_layout_open_and_flatten),
                T(test_platform_from_index),
                T(test_selection_errors),
                T(test_nested_indexes),
                T(test_broken_documents),
                T(test_layer_verified_while_flattening),
                T(test_flatten_refuses_existing_dest),
                T(test_oci_archive),
                T(test_docker_archive),
                T(test_docker_archive_config_must_name_its_digest),
                T(test_rootfs_dir),
                T(test_not_an_image),
#undef T
        };
        return cmocka_run_group_tests_name("oci", tests, NULL, NULL);
}
