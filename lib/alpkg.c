/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alder/alpkg.h"
#include "alder/fileio.h"
#include "alder/json.h"
#include "alder/tarwrite.h"
#include "pkgfile-internal.h"

static const struct alder_pkgfile_kind alpkg_kind = {ALDER_ALPKG_MAGIC, ALDER_ALPKG_FORMAT_VERSION,
                                                     "an Alder app package", "package"};

enum { COMPONENT_META = 0, COMPONENT_ROOTFS = 1, N_COMPONENTS = 2 };

static const char *const component_ids[N_COMPONENTS][4] = {
        {"alder", "app", "meta", NULL},
        {"alder", "app", "rootfs", NULL},
};
static const char *const component_uris[N_COMPONENTS] = {ALDER_ALPKG_META_URI, ALDER_ALPKG_ROOTFS_URI};

struct alder_alpkg {
        char *path;
        int fd;
        uint8_t *envelope;
        size_t envelope_len;
        alder_app_meta *meta;
        alder_alpkg_info info;
        uint64_t rootfs_offset;
        bool rootfs_consumed; /* the payload can be streamed once */
};

/* ---- identifiers and names ------------------------------------------------- */

int alder_alpkg_vendor_id(const char *vendor_domain, uint8_t vendor_id[ALDER_UUID_LEN], alder_error **err)
{
        return alder_uuid_v5(alder_uuid_namespace_dns, vendor_domain ? vendor_domain : ALDER_ALPKG_DEFAULT_VENDOR,
                             vendor_id, err);
}

int alder_alpkg_class_id(const uint8_t vendor_id[ALDER_UUID_LEN], const char *name, const char *arch,
                         uint8_t class_id[ALDER_UUID_LEN], alder_error **err)
{
        _cleanup_free_ char *class_name = NULL;
        if (asprintf(&class_name, "app/%s/%s", name, arch) < 0)
                return alder_error_set(err, ENOMEM, "class id: out of memory");
        return alder_uuid_v5(vendor_id, class_name, class_id, err);
}

int alder_alpkg_file_name(const alder_app_meta *meta, char **ret, alder_error **err)
{
        if (asprintf(ret, "%s_%s_%s.alpkg", meta->name, meta->version, meta->arch) < 0)
                return alder_error_set(err, ENOMEM, "package name: out of memory");
        return 0;
}

/* ---- creating -------------------------------------------------------------- */

static int fill_spec(const alder_alpkg_create_opts *o, const alder_alpkg_info *info, struct alder_suit_spec *spec,
                     alder_error **err)
{
        *spec = (struct alder_suit_spec){
                .sequence_number = o->sequence, .n_components = N_COMPONENTS, .description = o->meta->name};
        int r = alder_alpkg_vendor_id(o->vendor_domain, spec->vendor_id, err);
        if (r == 0)
                r = alder_alpkg_class_id(spec->vendor_id, o->meta->name, o->meta->arch, spec->class_id, err);
        for (int i = 0; r == 0 && i < N_COMPONENTS; i++) {
                struct alder_suit_component *c = &spec->components[i];
                r = alder_suit_component_id_from_strings(&c->id, component_ids[i], err);
                c->uri = component_uris[i];
                c->description = o->meta->name;
                c->version = o->meta->version;
        }
        if (r < 0)
                return r;
        memcpy(spec->components[COMPONENT_META].digest, info->meta_digest, ALDER_SHA256_LEN);
        spec->components[COMPONENT_META].size = info->meta_size;
        memcpy(spec->components[COMPONENT_ROOTFS].digest, info->rootfs_digest, ALDER_SHA256_LEN);
        spec->components[COMPONENT_ROOTFS].size = info->rootfs_size;
        return 0;
}

/* Serializes the metadata the way it is stored: compact, sorted keys. */
static int meta_bytes(const alder_app_meta *meta, char **ret, size_t *ret_len, alder_error **err)
{
        _cleanup_json_ json_t *doc = NULL;
        int r = alder_app_meta_to_json(meta, &doc, err);
        if (r < 0)
                return r;
        return alder_json_dump(doc, 0, ret, ret_len, err);
}

static int sign_envelope(const alder_alpkg_create_opts *o, alder_alpkg_info *info, uint8_t **ret, size_t *ret_len,
                         alder_error **err)
{
        struct alder_suit_spec spec;
        int r = fill_spec(o, info, &spec, err);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *manifest = NULL;
        size_t manifest_len;
        r = alder_suit_manifest_encode(&spec, &manifest, &manifest_len, err);
        if (r < 0)
                return r;
        r = alder_suit_envelope_sign(manifest, manifest_len, o->signer, ret, ret_len, err);
        if (r < 0)
                return r;
        info->sequence = o->sequence;
        memcpy(info->vendor_id, spec.vendor_id, ALDER_UUID_LEN);
        memcpy(info->class_id, spec.class_id, ALDER_UUID_LEN);
        info->envelope_size = *ret_len;
        return 0;
}

static int pack_rootfs(const alder_alpkg_create_opts *o, int rootfs_fd, alder_alpkg_info *info, alder_error **err)
{
        alder_tar_write_opts topts = {
                .zstd_level = o->zstd_level, .progress = o->progress, .progress_ctx = o->progress_ctx};
        alder_tar_write_result tres;
        int r = alder_tar_write_tree(o->rootfs_dir, rootfs_fd, &topts, &tres, err);
        if (r < 0)
                return r;
        info->rootfs_size = tres.bytes_out;
        info->rootfs_entries = tres.entries;
        info->rootfs_bytes_in = tres.bytes_in;
        memcpy(info->rootfs_digest, tres.digest, ALDER_SHA256_LEN);
        if (tres.device_nodes > 0)
                return alder_error_set(err, EPERM,
                                       "%s: the root filesystem has %" PRIu64 " device node(s): a container gets "
                                       "devices from 'permissions.devices', never from its image",
                                       o->rootfs_dir, tres.device_nodes);
        if (tres.setuid_files > 0 && !o->meta->setuid_files)
                return alder_error_set(err, EPERM,
                                       "%s: the root filesystem has %" PRIu64 " setuid/setgid file(s) but the app "
                                       "metadata does not declare 'permissions.setuid_files'",
                                       o->rootfs_dir, tres.setuid_files);
        return 0;
}

/* A ready payload: copied into the temporary file and hashed. */
static int take_payload(const char *path, int rootfs_fd, alder_alpkg_info *info, alder_error **err)
{
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        int r = alder_pkgfile_copy_rest(in, rootfs_fd, path, err);
        if (r == 0)
                r = alder_sha256_file(path, info->rootfs_digest, &info->rootfs_size, err);
        return r;
}

int alder_alpkg_create(const alder_alpkg_create_opts *o, const char *out_path, alder_alpkg_info *ret, alder_error **err)
{
        if (!o->signer || !o->signer->key)
                return alder_error_set(err, EINVAL, "%s: a signing key is required", out_path);
        _cleanup_free_ char *dir = NULL;
        int r = alder_path_parent(out_path, &dir, err);
        if (r < 0)
                return r;

        alder_alpkg_info info = {0};
        _cleanup_close_ int rootfs_fd = -1;
        r = alder_pkgfile_open_tmp(dir, &rootfs_fd, err);
        if (r < 0)
                return r;
        r = o->rootfs_payload ? take_payload(o->rootfs_payload, rootfs_fd, &info, err)
                              : pack_rootfs(o, rootfs_fd, &info, err);
        if (r < 0)
                return r;

        _cleanup_free_ char *meta = NULL;
        size_t meta_len;
        r = meta_bytes(o->meta, &meta, &meta_len, err);
        if (r == 0)
                r = alder_sha256_buffer(meta, meta_len, info.meta_digest, err);
        if (r < 0)
                return r;
        info.meta_size = meta_len;

        _cleanup_free_ uint8_t *envelope = NULL;
        size_t envelope_len;
        r = sign_envelope(o, &info, &envelope, &envelope_len, err);
        if (r < 0)
                return alder_error_wrap(err, "sign '%s'", out_path);

        r = alder_pkgfile_write(&alpkg_kind, out_path, envelope, envelope_len, meta, meta_len, rootfs_fd, 0, err);
        if (r < 0)
                return r;
        if (ret)
                *ret = info;
        return 0;
}

/* ---- reading --------------------------------------------------------------- */

/* The manifest must describe exactly our two components, in order, fully covered. */
static int check_components(const struct alder_suit_result *res, const char *path, alder_error **err)
{
        if (res->n_components != N_COMPONENTS)
                return alder_error_set(err, EBADMSG, "%s: manifest has %zu components, an app package has %d", path,
                                       res->n_components, N_COMPONENTS);
        for (int i = 0; i < N_COMPONENTS; i++) {
                const struct alder_suit_result_component *c = &res->components[i];
                struct alder_suit_component_id want;
                int r = alder_suit_component_id_from_strings(&want, component_ids[i], err);
                if (r < 0)
                        return r;
                char shown[128];
                alder_suit_component_id_format(&c->id, shown, sizeof(shown));
                if (memcmp(&want, &c->id, sizeof(want)) != 0)
                        return alder_error_set(err, EBADMSG, "%s: manifest component %d is %s, expected %s", path, i,
                                               shown, i == 0 ? "['alder','app','meta']" : "['alder','app','rootfs']");
                if (!c->image_match || !c->has_size || !c->fetch || strcmp(c->uri, component_uris[i]) != 0)
                        return alder_error_set(err, EBADMSG,
                                               "%s: manifest component %s must be fetched from '%s' and checked by "
                                               "digest and size",
                                               path, shown, component_uris[i]);
        }
        if (res->components[COMPONENT_META].size > ALDER_APP_META_MAX_SIZE)
                return alder_error_set(err, E2BIG, "%s: app metadata of %" PRIu64 " bytes exceeds %u", path,
                                       res->components[COMPONENT_META].size, ALDER_APP_META_MAX_SIZE);
        return 0;
}

static int read_envelope(alder_alpkg *pkg, const alder_trust_store *trust, const struct alder_suit_expect *expect,
                         struct alder_suit_result *res, alder_error **err)
{
        int r = alder_pkgfile_read_envelope(&alpkg_kind, pkg->fd, pkg->path, &pkg->envelope, &pkg->envelope_len, err);
        if (r < 0)
                return r;
        r = trust ? alder_suit_envelope_verify(pkg->envelope, pkg->envelope_len, trust, expect, res, err)
                  : alder_suit_envelope_inspect(pkg->envelope, pkg->envelope_len, expect, res, err);
        if (r < 0)
                return alder_error_wrap(err, "%s", pkg->path);
        return check_components(res, pkg->path, err);
}

static int read_meta(alder_alpkg *pkg, const struct alder_suit_result_component *c, alder_error **err)
{
        _cleanup_free_ char *buf = malloc(c->size + 1);
        if (!buf)
                return alder_error_set(err, ENOMEM, "%s: out of memory", pkg->path);
        int r = alder_pkgfile_read_exact(pkg->fd, buf, c->size, pkg->path, "app metadata", err);
        if (r < 0)
                return r;
        uint8_t digest[ALDER_SHA256_LEN];
        r = alder_sha256_buffer(buf, c->size, digest, err);
        if (r < 0)
                return r;
        if (memcmp(digest, c->digest, sizeof(digest)) != 0)
                return alder_error_set(err, EBADMSG, "%s: app metadata does not match the manifest's digest",
                                       pkg->path);
        _cleanup_json_ json_t *doc = NULL;
        r = alder_json_parse("app.json", buf, c->size, &doc, err);
        if (r == 0)
                r = alder_app_meta_from_json(doc, "app.json", &pkg->meta, err);
        if (r < 0)
                return alder_error_wrap(err, "%s", pkg->path);
        return 0;
}

/* Binds the signed class id to the metadata's name and arch, and the arch to the device's. */
static int check_identity(alder_alpkg *pkg, const alder_alpkg_expect *expect, alder_error **err)
{
        uint8_t cls[ALDER_UUID_LEN];
        int r = alder_alpkg_class_id(pkg->info.vendor_id, pkg->meta->name, pkg->meta->arch, cls, err);
        if (r < 0)
                return r;
        if (memcmp(cls, pkg->info.class_id, sizeof(cls)) != 0)
                return alder_error_set(err, EILSEQ,
                                       "%s: class id does not match app '%s' for %s (metadata and manifest disagree)",
                                       pkg->path, pkg->meta->name, pkg->meta->arch);
        if (expect && expect->arch && strcmp(expect->arch, pkg->meta->arch) != 0)
                return alder_error_set(err, ENOEXEC, "%s: package is for %s, this device is %s", pkg->path,
                                       pkg->meta->arch, expect->arch);
        return 0;
}

static void record_result(alder_alpkg *pkg, const struct alder_suit_result *res, bool verified)
{
        alder_alpkg_info *i = &pkg->info;
        i->sequence = res->sequence_number;
        memcpy(i->vendor_id, res->vendor_id, ALDER_UUID_LEN);
        memcpy(i->class_id, res->class_id, ALDER_UUID_LEN);
        i->envelope_size = pkg->envelope_len;
        i->meta_size = res->components[COMPONENT_META].size;
        memcpy(i->meta_digest, res->components[COMPONENT_META].digest, ALDER_SHA256_LEN);
        i->rootfs_size = res->components[COMPONENT_ROOTFS].size;
        memcpy(i->rootfs_digest, res->components[COMPONENT_ROOTFS].digest, ALDER_SHA256_LEN);
        i->verified = verified;
        if (verified)
                i->signer = res->signer;
}

int alder_alpkg_open(const char *path, const alder_trust_store *trust, const alder_alpkg_expect *expect,
                     alder_alpkg **ret, alder_error **err)
{
        _cleanup_alpkg_ alder_alpkg *pkg = calloc(1, sizeof(*pkg));
        if (!pkg || !(pkg->path = strdup(path))) {
                free(pkg);
                pkg = NULL;
                return alder_error_set(err, ENOMEM, "%s: out of memory", path);
        }
        pkg->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (pkg->fd < 0)
                return alder_error_sys(err, errno, "open '%s'", path);

        _cleanup_free_ struct alder_suit_result *res = calloc(1, sizeof(*res));
        if (!res)
                return alder_error_set(err, ENOMEM, "%s: out of memory", path);
        /* The vendor is checked by the manifest's own condition; the class needs app.json first. */
        struct alder_suit_expect sexpect = {.check_vendor_id = expect != NULL};
        int r = expect ? alder_alpkg_vendor_id(expect->vendor_domain, sexpect.vendor_id, err) : 0;
        if (r == 0)
                r = read_envelope(pkg, trust, &sexpect, res, err);
        if (r < 0)
                return r;
        record_result(pkg, res, trust != NULL);
        r = read_meta(pkg, &res->components[COMPONENT_META], err);
        if (r == 0)
                r = check_identity(pkg, expect, err);
        if (r < 0)
                return r;
        pkg->rootfs_offset = ALDER_ALPKG_HEADER_SIZE + pkg->envelope_len + pkg->info.meta_size;
        *ret = steal_pointer(&pkg);
        return 0;
}

const alder_app_meta *alder_alpkg_meta(const alder_alpkg *pkg)
{
        return pkg->meta;
}

const alder_alpkg_info *alder_alpkg_get_info(const alder_alpkg *pkg)
{
        return &pkg->info;
}

const uint8_t *alder_alpkg_envelope(const alder_alpkg *pkg, size_t *ret_len)
{
        *ret_len = pkg->envelope_len;
        return pkg->envelope;
}

void alder_alpkg_close(alder_alpkg *pkg)
{
        if (!pkg)
                return;
        if (pkg->fd >= 0)
                close(pkg->fd);
        free(pkg->path);
        free(pkg->envelope);
        alder_app_meta_free(pkg->meta);
        free(pkg);
}

/* ---- streaming the root filesystem ----------------------------------------- */

/* Reads exactly the rootfs component, hashing it; never past its declared size. */
struct rootfs_stream {
        alder_alpkg *pkg;
        alder_sha256 *hash;
        uint64_t left;
        int read_errno;
};

static ssize_t rootfs_read(void *ctx, void *buf, size_t n)
{
        struct rootfs_stream *s = ctx;
        if (s->left == 0)
                return 0;
        if (n > s->left)
                n = (size_t) s->left;
        ssize_t got = alder_read_some(s->pkg->fd, buf, n);
        if (got < 0) {
                s->read_errno = (int) -got;
                return -1;
        }
        if (got == 0) {
                s->read_errno = EBADMSG; /* truncated: reported by finish_stream */
                return -1;
        }
        alder_sha256_update(s->hash, buf, (size_t) got);
        s->left -= (uint64_t) got;
        return got;
}

static int start_stream(alder_alpkg *pkg, struct rootfs_stream *s, alder_error **err)
{
        if (pkg->rootfs_consumed)
                return alder_error_set(err, EALREADY, "%s: the root filesystem was already read", pkg->path);
        pkg->rootfs_consumed = true;
        if (lseek(pkg->fd, (off_t) pkg->rootfs_offset, SEEK_SET) < 0)
                return alder_error_sys(err, errno, "%s: seek to the root filesystem", pkg->path);
        *s = (struct rootfs_stream){.pkg = pkg, .left = pkg->info.rootfs_size};
        return alder_sha256_new(&s->hash, err);
}

/* Drains what the consumer left, then checks size, digest and end of file. */
static int finish_stream(struct rootfs_stream *s, alder_error **err)
{
        alder_alpkg *pkg = s->pkg;
        uint8_t buf[64 * 1024];
        while (s->left > 0 && s->read_errno == 0)
                if (rootfs_read(s, buf, sizeof(buf)) < 0)
                        break;
        if (s->read_errno == EBADMSG)
                return alder_error_set(err, EBADMSG, "%s: truncated: the root filesystem ends %" PRIu64 " bytes early",
                                       pkg->path, s->left);
        if (s->read_errno)
                return alder_error_sys(err, s->read_errno, "%s: read the root filesystem", pkg->path);
        uint8_t digest[ALDER_SHA256_LEN];
        int r = alder_sha256_final(s->hash, digest, err);
        if (r < 0)
                return r;
        if (memcmp(digest, pkg->info.rootfs_digest, sizeof(digest)) != 0)
                return alder_error_set(err, EBADMSG, "%s: root filesystem does not match the manifest's digest",
                                       pkg->path);
        return alder_pkgfile_expect_eof(pkg->fd, pkg->path, err);
}

int alder_alpkg_check_rootfs(alder_alpkg *pkg, alder_error **err)
{
        struct rootfs_stream s = {0};
        int r = start_stream(pkg, &s, err);
        if (r == 0)
                r = finish_stream(&s, err);
        alder_sha256_free(s.hash);
        return r;
}

int alder_alpkg_unpack(alder_alpkg *pkg, const char *dest, const alder_unpack_opts *opts, alder_unpack_stats *stats,
                       alder_error **err)
{
        alder_unpack_opts o = opts ? *opts : (alder_unpack_opts){0};
        if (o.mode != ALDER_UNPACK_FRESH)
                return alder_error_set(err, EINVAL, "%s: a package unpacks only into a fresh directory", pkg->path);
        o.compression = ALDER_UNPACK_COMPRESSION_ZSTD;
        if (pkg->meta->setuid_files)
                o.flags |= ALDER_UNPACK_ALLOW_SETUID;

        struct rootfs_stream s = {0};
        int r = start_stream(pkg, &s, err);
        if (r < 0) {
                alder_sha256_free(s.hash);
                return r;
        }
        r = alder_unpack(rootfs_read, &s, dest, &o, stats, err);
        if (r < 0 && !s.read_errno)
                alder_error_wrap(err, "%s: root filesystem", pkg->path);
        if (r < 0 && s.read_errno) {
                /* The unpacker saw a read failure: report its real cause. */
                alder_error_clear(err);
                r = finish_stream(&s, err);
                if (r == 0)
                        r = alder_error_set(err, EIO, "%s: root filesystem unreadable", pkg->path);
        } else if (r == 0) {
                r = finish_stream(&s, err);
                if (r < 0) {
                        /* Unpacked, but not what was signed: take it away again. */
                        alder_error *rm_err = NULL;
                        if (alder_remove_tree(dest, &rm_err) < 0)
                                alder_error_wrap(err, "'%s' left behind (removing it failed: %s)", dest,
                                                 alder_error_message(rm_err));
                        alder_error_free(rm_err);
                }
        }
        alder_sha256_free(s.hash);
        return r;
}

/* ---- re-signing ------------------------------------------------------------ */

int alder_alpkg_resign(const char *in_path, const struct alder_cose_signer *signer, const char *out_path,
                       alder_error **err)
{
        _cleanup_alpkg_ alder_alpkg *pkg = NULL;
        int r = alder_alpkg_open(in_path, NULL, NULL, &pkg, err);
        if (r < 0)
                return r;
        return alder_pkgfile_resign(&alpkg_kind, pkg->envelope, pkg->envelope_len, pkg->fd, in_path, signer, out_path,
                                    err);
}
