/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "alder/alpkg.h"
#include "alder/alupd.h"
#include "alder/appmeta.h"
#include "alder/fileio.h"
#include "pkgfile-internal.h"

static const struct alder_pkgfile_kind alupd_kind = {ALDER_ALUPD_MAGIC, ALDER_ALUPD_FORMAT_VERSION,
                                                     "an Alder update bundle", "bundle"};

static const char *const rootfs_id[] = {"alder", "os", "rootfs", NULL};
static const char *const boot_id[] = {"alder", "boot", "fit", NULL};

#define CHUNK (64u * 1024u)
/* FRAME_HEADER_MAX, which zstd.h hides behind ZSTD_STATIC_LINKING_ONLY. */
#define FRAME_HEADER_MAX 18

struct alder_alupd {
        char *name;
        int fd;
        bool own_fd;
        uint8_t *envelope;
        size_t envelope_len;
        alder_alupd_info info;
        size_t next;  /* the component the stream is at */
        bool checked; /* alder_alupd_check_rest() ran */
};

static void zstd_dctx_freep(ZSTD_DCtx **p)
{
        ZSTD_freeDCtx(*p);
}
static void zstd_cctx_freep(ZSTD_CCtx **p)
{
        ZSTD_freeCCtx(*p);
}

int alder_alupd_class_id(const uint8_t vendor_id[ALDER_UUID_LEN], const char *product, uint8_t class_id[ALDER_UUID_LEN],
                         alder_error **err)
{
        int r = alder_app_name_check(product, err);
        if (r < 0)
                return alder_error_wrap(err, "product");
        _cleanup_free_ char *class_name = NULL;
        if (asprintf(&class_name, "os/%s", product) < 0)
                return alder_error_set(err, ENOMEM, "class id: out of memory");
        return alder_uuid_v5(vendor_id, class_name, class_id, err);
}

/* ---- creating -------------------------------------------------------------- */

struct hashed_out {
        int fd;
        const char *path;
        alder_sha256 *hash;
        uint64_t size;
};

static int out_write(struct hashed_out *o, const void *buf, size_t len, alder_error **err)
{
        alder_sha256_update(o->hash, buf, len);
        o->size += len;
        return alder_write_all(o->fd, buf, len, o->path, err);
}

static int out_chunk(void *ctx, const void *buf, size_t n, alder_error **err)
{
        return out_write(ctx, buf, n, err);
}

static int zstd_setup(ZSTD_CCtx *c, int level, uint64_t size, alder_error **err)
{
        size_t z = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level ? level : 3);
        if (!ZSTD_isError(z))
                z = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, ALDER_ALUPD_WINDOW_LOG);
        if (!ZSTD_isError(z))
                z = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
        if (!ZSTD_isError(z))
                z = ZSTD_CCtx_setPledgedSrcSize(c, size); /* the frame states the image size */
        if (ZSTD_isError(z))
                return alder_error_set(err, EINVAL, "zstd: %s", ZSTD_getErrorName(z));
        return 0;
}

/* Compresses a file (the image or the boot files) into one zstd frame that states its size. */
static int compress_file(const alder_alupd_create_opts *o, const char *path, struct hashed_out *out, uint64_t *ret_size,
                         alder_error **err)
{
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (in < 0 || fstat(in, &st) < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        _cleanup_(zstd_cctx_freep) ZSTD_CCtx *c = ZSTD_createCCtx();
        if (!c)
                return alder_error_set(err, ENOMEM, "zstd: out of memory");
        int r = zstd_setup(c, o->zstd_level, (uint64_t) st.st_size, err);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *ibuf = malloc(CHUNK), *obuf = malloc(ZSTD_CStreamOutSize());
        if (!ibuf || !obuf)
                return alder_error_set(err, ENOMEM, "zstd: out of memory");
        uint64_t done = 0;
        for (;;) {
                ssize_t n = alder_read_some(in, ibuf, CHUNK);
                if (n < 0)
                        return alder_error_sys(err, (int) -n, "read '%s'", path);
                ZSTD_EndDirective mode = n == 0 ? ZSTD_e_end : ZSTD_e_continue;
                ZSTD_inBuffer ib = {ibuf, (size_t) n, 0};
                size_t left;
                do {
                        ZSTD_outBuffer ob = {obuf, ZSTD_CStreamOutSize(), 0};
                        left = ZSTD_compressStream2(c, &ob, &ib, mode);
                        if (ZSTD_isError(left))
                                return alder_error_set(err, EIO, "compress '%s': %s", path, ZSTD_getErrorName(left));
                        if ((r = out_write(out, obuf, ob.pos, err)) < 0)
                                return r;
                } while (mode == ZSTD_e_end ? left != 0 : ib.pos < ib.size);
                if (n == 0)
                        break;
                done += (uint64_t) n;
                if (o->progress)
                        o->progress(o->progress_ctx, done, (uint64_t) st.st_size);
        }
        if (done != (uint64_t) st.st_size)
                return alder_error_set(err, EIO, "'%s' changed size while compressed", path);
        *ret_size = done;
        return 0;
}

/* A ready payload must be one zstd frame that states its decompressed size. */
static int frame_content_size(const uint8_t *head, size_t len, const char *name, uint64_t *ret, alder_error **err)
{
        unsigned long long n = ZSTD_getFrameContentSize(head, len);
        if (n == ZSTD_CONTENTSIZE_ERROR)
                return alder_error_set(err, EBADMSG, "%s: the image is not a zstd frame", name);
        if (n == ZSTD_CONTENTSIZE_UNKNOWN)
                return alder_error_set(err, EBADMSG,
                                       "%s: the zstd frame does not state the image size (compress from a file, "
                                       "or with --size-hint is not enough: use 'zstd' on a regular file)",
                                       name);
        *ret = n;
        return 0;
}

static int take_image_payload(const char *path, struct hashed_out *out, uint64_t *ret_size, alder_error **err)
{
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        uint8_t head[FRAME_HEADER_MAX];
        ssize_t n = pread(in, head, sizeof(head), 0);
        if (n < 0)
                return alder_error_sys(err, errno, "read '%s'", path);
        int r = frame_content_size(head, (size_t) n, path, ret_size, err);
        if (r == 0)
                r = alder_read_chunks(in, path, out_chunk, out, err);
        return r;
}

static int take_app(const char *path, struct hashed_out *out, alder_error **err)
{
        _cleanup_alpkg_ alder_alpkg *pkg = NULL;
        int r = alder_alpkg_open(path, NULL, NULL, &pkg, err); /* shape only: the device verifies it */
        if (r < 0)
                return r;
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        return alder_read_chunks(in, path, out_chunk, out, err);
}

static int app_component(const char *path, struct alder_suit_component *c, char *uri, size_t uri_size,
                         alder_error **err)
{
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (strlen(base) == 0 || strlen(base) > ALDER_SUIT_MAX_SEGMENT_SIZE)
                return alder_error_set(err, ENAMETOOLONG, "app package file name '%s': 1 to %d bytes", base,
                                       ALDER_SUIT_MAX_SEGMENT_SIZE);
        for (const char *p = base; *p; p++)
                if (*p <= ' ' || *p >= 0x7f || *p == '#')
                        return alder_error_set(err, EINVAL, "app package file name '%s': printable ASCII only", base);
        const char *segs[] = {"alder", "app", base, NULL};
        snprintf(uri, uri_size, "#%s", base);
        c->uri = uri;
        return alder_suit_component_id_from_strings(&c->id, segs, err);
}

/* The payload file: image, boot files, then apps; fills sizes and digests in spec and info. */
static int write_payloads(const alder_alupd_create_opts *o, int fd, const char *out_path, struct alder_suit_spec *spec,
                          char uris[][ALDER_SUIT_MAX_URI + 1], alder_alupd_info *info, alder_error **err)
{
        struct hashed_out out = {.fd = fd, .path = out_path};
        size_t first_app = o->boot ? 2 : 1;
        int r = alder_sha256_new(&out.hash, err);
        for (size_t i = 0; r == 0 && i < first_app + o->n_apps; i++) {
                struct alder_suit_component *c = &spec->components[i];
                out.size = 0;
                if (i == 0) {
                        r = alder_suit_component_id_from_strings(&c->id, rootfs_id, err);
                        c->uri = ALDER_ALUPD_ROOTFS_URI;
                        c->version = o->version;
                        c->description = o->product;
                        if (r == 0)
                                r = o->image_payload
                                            ? take_image_payload(o->image_payload, &out, &info->image_size, err)
                                            : compress_file(o, o->image, &out, &info->image_size, err);
                } else if (i < first_app) {
                        r = alder_suit_component_id_from_strings(&c->id, boot_id, err);
                        c->uri = ALDER_ALUPD_BOOT_URI;
                        if (r == 0)
                                r = compress_file(o, o->boot, &out, &info->boot_size, err);
                        info->has_boot = true;
                } else {
                        r = app_component(o->apps[i - first_app], c, uris[i], sizeof(uris[i]), err);
                        if (r == 0)
                                r = take_app(o->apps[i - first_app], &out, err);
                }
                if (r == 0)
                        r = alder_sha256_final(out.hash, c->digest, err);
                if (r == 0)
                        r = alder_sha256_reset(out.hash, err);
                c->size = out.size;
        }
        alder_sha256_free(out.hash);
        return r;
}

static void record_components(const struct alder_suit_spec *spec, alder_alupd_info *info)
{
        info->n_components = spec->n_components;
        for (size_t i = 0; i < spec->n_components; i++) {
                alder_alupd_component_info *ci = &info->components[i];
                alder_suit_component_id_format(&spec->components[i].id, ci->id, sizeof(ci->id));
                snprintf(ci->uri, sizeof(ci->uri), "%s", spec->components[i].uri);
                ci->size = spec->components[i].size;
                memcpy(ci->digest, spec->components[i].digest, ALDER_SHA256_LEN);
        }
}

static int check_create_opts(const alder_alupd_create_opts *o, const char *out_path, alder_error **err)
{
        if (!o->signer || !o->signer->key)
                return alder_error_set(err, EINVAL, "%s: a signing key is required", out_path);
        if (!o->product || !o->version || !!o->image == !!o->image_payload)
                return alder_error_set(err, EINVAL, "%s: product, version and one image are required", out_path);
        size_t max_apps = ALDER_ALUPD_MAX_APPS - (o->boot ? 1 : 0);
        if (o->n_apps > max_apps)
                return alder_error_set(err, E2BIG, "%s: at most %zu app packages%s", out_path, max_apps,
                                       o->boot ? " beside the boot files" : "");
        if (strlen(o->version) == 0 || strlen(o->version) > ALDER_SUIT_MAX_TEXT)
                return alder_error_set(err, EINVAL, "%s: version: 1 to %d bytes", out_path, ALDER_SUIT_MAX_TEXT);
        return 0;
}

int alder_alupd_create(const alder_alupd_create_opts *o, const char *out_path, alder_alupd_info *ret, alder_error **err)
{
        int r = check_create_opts(o, out_path, err);
        if (r < 0)
                return r;
        _cleanup_free_ struct alder_suit_spec *spec = calloc(1, sizeof(*spec));
        _cleanup_free_ alder_alupd_info *info = calloc(1, sizeof(*info));
        if (!spec || !info)
                return alder_error_set(err, ENOMEM, "%s: out of memory", out_path);
        *spec = (struct alder_suit_spec){.sequence_number = o->sequence,
                                         .n_components = o->n_apps + (o->boot ? 2 : 1),
                                         .description = o->product};
        r = alder_alpkg_vendor_id(o->vendor_domain, spec->vendor_id, err);
        if (r == 0)
                r = alder_alupd_class_id(spec->vendor_id, o->product, spec->class_id, err);
        if (r < 0)
                return r;

        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int payloads = -1;
        char uris[ALDER_SUIT_MAX_COMPONENTS][ALDER_SUIT_MAX_URI + 1];
        r = alder_path_parent(out_path, &dir, err);
        if (r == 0)
                r = alder_pkgfile_open_tmp(dir, &payloads, err);
        if (r == 0)
                r = write_payloads(o, payloads, out_path, spec, uris, info, err);
        if (r < 0)
                return r;

        _cleanup_free_ uint8_t *manifest = NULL, *envelope = NULL;
        size_t manifest_len, envelope_len;
        r = alder_suit_manifest_encode(spec, &manifest, &manifest_len, err);
        if (r == 0)
                r = alder_suit_envelope_sign(manifest, manifest_len, o->signer, &envelope, &envelope_len, err);
        if (r < 0)
                return alder_error_wrap(err, "sign '%s'", out_path);
        r = alder_pkgfile_write(&alupd_kind, out_path, envelope, envelope_len, NULL, 0, payloads, 0, err);
        if (r < 0)
                return r;
        if (ret) {
                info->sequence = o->sequence;
                memcpy(info->vendor_id, spec->vendor_id, ALDER_UUID_LEN);
                memcpy(info->class_id, spec->class_id, ALDER_UUID_LEN);
                snprintf(info->product, sizeof(info->product), "%s", o->product);
                snprintf(info->version, sizeof(info->version), "%s", o->version);
                info->envelope_size = envelope_len;
                record_components(spec, info);
                *ret = *info; /* image_size, boot_size and has_boot were set as the payloads were written */
        }
        return 0;
}

/* ---- reading --------------------------------------------------------------- */

static bool component_is(const struct alder_suit_result_component *c, const char *const *segs)
{
        struct alder_suit_component_id want;
        return alder_suit_component_id_from_strings(&want, segs, NULL) == 0 && memcmp(&want, &c->id, sizeof(want)) == 0;
}

/* Component 0 is the image; component 1 may be the boot files; the others are app packages. */
static int check_component(const struct alder_suit_result_component *c, size_t i, const char *name, bool *has_boot,
                           alder_error **err)
{
        char shown[128];
        alder_suit_component_id_format(&c->id, shown, sizeof(shown));
        if (i == 0) {
                if (!component_is(c, rootfs_id) || strcmp(c->uri, ALDER_ALUPD_ROOTFS_URI) != 0)
                        return alder_error_set(err, EBADMSG,
                                               "%s: manifest component 0 is %s from '%s', expected "
                                               "['alder','os','rootfs'] from '" ALDER_ALUPD_ROOTFS_URI "'",
                                               name, shown, c->uri);
        } else if (component_is(c, boot_id)) {
                if (i != 1 || strcmp(c->uri, ALDER_ALUPD_BOOT_URI) != 0)
                        return alder_error_set(
                                err, EBADMSG,
                                "%s: the boot files must be manifest component 1 from '" ALDER_ALUPD_BOOT_URI
                                "', not component %zu from '%s'",
                                name, i, c->uri);
                *has_boot = true;
        } else if (c->id.n_segments != 3 || c->id.segments[0].len != 5 ||
                   memcmp(c->id.segments[0].bytes, "alder", 5) != 0 || c->id.segments[1].len != 3 ||
                   memcmp(c->id.segments[1].bytes, "app", 3) != 0 || c->uri[0] != '#') {
                return alder_error_set(err, EBADMSG,
                                       "%s: manifest component %zu (%s) is not an app package "
                                       "['alder','app',FILE] stored beside the envelope",
                                       name, i, shown);
        }
        if (!c->image_match || !c->has_size || !c->fetch)
                return alder_error_set(err, EBADMSG,
                                       "%s: manifest component %s must be fetched and checked by digest and size", name,
                                       shown);
        return 0;
}

static void record_result(alder_alupd *b, const struct alder_suit_result *res, bool has_boot, bool verified)
{
        alder_alupd_info *i = &b->info;
        i->sequence = res->sequence_number;
        memcpy(i->vendor_id, res->vendor_id, ALDER_UUID_LEN);
        memcpy(i->class_id, res->class_id, ALDER_UUID_LEN);
        snprintf(i->product, sizeof(i->product), "%s", res->description);
        snprintf(i->version, sizeof(i->version), "%s", res->components[0].version);
        i->envelope_size = b->envelope_len;
        i->n_components = res->n_components;
        i->has_boot = has_boot;
        for (size_t c = 0; c < res->n_components; c++) {
                const struct alder_suit_result_component *rc = &res->components[c];
                alder_alupd_component_info *ci = &i->components[c];
                alder_suit_component_id_format(&rc->id, ci->id, sizeof(ci->id));
                snprintf(ci->uri, sizeof(ci->uri), "%s", rc->uri);
                ci->size = rc->size;
                memcpy(ci->digest, rc->digest, ALDER_SHA256_LEN);
        }
        i->verified = verified;
        if (verified)
                i->signer = res->signer;
}

static int read_envelope(alder_alupd *b, const alder_trust_store *trust, const alder_alupd_expect *expect,
                         alder_error **err)
{
        struct alder_suit_expect sexpect = {.check_vendor_id = expect != NULL, .check_class_id = expect != NULL};
        int r = 0;
        if (expect) {
                if (!expect->product)
                        return alder_error_set(err, EINVAL, "%s: the device's product is not set", b->name);
                r = alder_alpkg_vendor_id(expect->vendor_domain, sexpect.vendor_id, err);
                if (r == 0)
                        r = alder_alupd_class_id(sexpect.vendor_id, expect->product, sexpect.class_id, err);
                if (r < 0)
                        return r;
        }
        r = alder_pkgfile_read_envelope(&alupd_kind, b->fd, b->name, &b->envelope, &b->envelope_len, err);
        if (r < 0)
                return r;
        _cleanup_free_ struct alder_suit_result *res = calloc(1, sizeof(*res));
        if (!res)
                return alder_error_set(err, ENOMEM, "%s: out of memory", b->name);
        r = trust ? alder_suit_envelope_verify(b->envelope, b->envelope_len, trust, &sexpect, res, err)
                  : alder_suit_envelope_inspect(b->envelope, b->envelope_len, &sexpect, res, err);
        if (r < 0)
                return alder_error_wrap(err, "%s", b->name);
        bool has_boot = false;
        for (size_t i = 0; i < res->n_components; i++)
                if ((r = check_component(&res->components[i], i, b->name, &has_boot, err)) < 0)
                        return r;
        if (expect && res->sequence_number < expect->min_sequence)
                return alder_error_set(err, ESTALE,
                                       "%s: sequence number %" PRIu64 " is lower than the installed %" PRIu64
                                       " (anti-rollback)",
                                       b->name, res->sequence_number, expect->min_sequence);
        record_result(b, res, has_boot, trust != NULL);
        return 0;
}

int alder_alupd_open_fd(int fd, const char *name, const alder_trust_store *trust, const alder_alupd_expect *expect,
                        alder_alupd **ret, alder_error **err)
{
        _cleanup_alupd_ alder_alupd *b = calloc(1, sizeof(*b));
        if (!b)
                return alder_error_set(err, ENOMEM, "%s: out of memory", name);
        b->fd = fd;
        if (!(b->name = strdup(name)))
                return alder_error_set(err, ENOMEM, "%s: out of memory", name);
        int r = read_envelope(b, trust, expect, err);
        if (r < 0)
                return r;
        *ret = steal_pointer(&b);
        return 0;
}

int alder_alupd_open(const char *path, const alder_trust_store *trust, const alder_alupd_expect *expect,
                     alder_alupd **ret, alder_error **err)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return alder_error_sys(err, errno, "open '%s'", path);
        alder_alupd *b = NULL;
        int r = alder_alupd_open_fd(fd, path, trust, expect, &b, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        b->own_fd = true;
        *ret = b;
        return 0;
}

const alder_alupd_info *alder_alupd_get_info(const alder_alupd *b)
{
        return &b->info;
}

void alder_alupd_close(alder_alupd *b)
{
        if (!b)
                return;
        if (b->own_fd && b->fd >= 0)
                close(b->fd);
        free(b->envelope);
        free(b->name);
        free(b);
}

/* ---- streaming --------------------------------------------------------------- */

/* Reads up to n bytes of a component, never past its declared size; a short stream is "truncated". */
static int read_component(alder_alupd *b, void *buf, size_t n, uint64_t *left, alder_sha256 *h, size_t *ret,
                          const char *what, alder_error **err)
{
        if (n > *left)
                n = (size_t) *left;
        ssize_t got = alder_read_some(b->fd, buf, n);
        if (got < 0)
                return alder_error_sys(err, (int) -got, "%s: read %s", b->name, what);
        if (got == 0)
                return alder_error_set(err, EBADMSG, "%s: truncated: %s ends %" PRIu64 " bytes early", b->name, what,
                                       *left);
        alder_sha256_update(h, buf, (size_t) got);
        *left -= (uint64_t) got;
        *ret = (size_t) got;
        return 0;
}

static int check_digest(alder_alupd *b, alder_sha256 *h, size_t component, const char *what, alder_error **err)
{
        uint8_t d[ALDER_SHA256_LEN];
        int r = alder_sha256_final(h, d, err);
        if (r < 0)
                return r;
        if (memcmp(d, b->info.components[component].digest, sizeof(d)) != 0)
                return alder_error_set(err, EBADMSG, "%s: %s does not match the manifest's digest", b->name, what);
        return 0;
}

/* One zstd-compressed component (the image, the boot files) on its way to a sink. */
struct frame_stream {
        alder_alupd *b;
        const alder_alupd_sink *sink;
        const char *what; /* "the image", "the boot files" */
        uint64_t *size;   /* where the frame's content size goes (info.image_size, info.boot_size) */
        ZSTD_DCtx *d;
        alder_sha256 *h;
        uint64_t left;
        uint64_t out;
        size_t last; /* ZSTD_decompressStream's last hint: 0 at the end of a frame */
        bool done;   /* the frame ended: nothing may follow */
        uint8_t *obuf;
};

static int begin_frame(struct frame_stream *s, const uint8_t *head, size_t len, alder_error **err)
{
        int r = frame_content_size(head, len, s->b->name, s->size, err);
        if (r == 0 && s->sink && s->sink->begin)
                r = s->sink->begin(s->sink->ctx, *s->size, err);
        return r;
}

static int feed(struct frame_stream *s, const uint8_t *buf, size_t len, alder_error **err)
{
        ZSTD_inBuffer ib = {buf, len, 0};
        while (ib.pos < ib.size) {
                if (s->done)
                        return alder_error_set(err, EBADMSG, "%s: bytes after the zstd frame of %s", s->b->name,
                                               s->what);
                ZSTD_outBuffer ob = {s->obuf, ZSTD_DStreamOutSize(), 0};
                s->last = ZSTD_decompressStream(s->d, &ob, &ib);
                if (ZSTD_isError(s->last)) {
                        bool window = ZSTD_getErrorCode(s->last) == ZSTD_error_frameParameter_windowTooLarge;
                        return alder_error_set(err, window ? EFBIG : EBADMSG, "%s: decompress %s: %s", s->b->name,
                                               s->what, ZSTD_getErrorName(s->last));
                }
                s->out += ob.pos;
                if (s->out > *s->size)
                        return alder_error_set(err, EBADMSG, "%s: %s is larger than its frame states", s->b->name,
                                               s->what);
                if (ob.pos > 0 && s->sink && s->sink->write) {
                        int r = s->sink->write(s->sink->ctx, s->obuf, ob.pos, err);
                        if (r < 0)
                                return r;
                }
                s->done = s->last == 0;
        }
        return 0;
}

static int run_frame(struct frame_stream *s, size_t component, alder_error **err)
{
        _cleanup_free_ uint8_t *ibuf = malloc(CHUNK);
        if (!ibuf)
                return alder_error_set(err, ENOMEM, "%s: out of memory", s->b->name);
        /* The frame header first: the sink learns the size before a byte is decompressed. */
        size_t head = s->left < FRAME_HEADER_MAX ? (size_t) s->left : FRAME_HEADER_MAX, have = 0;
        while (have < head) {
                size_t n;
                int r = read_component(s->b, ibuf + have, head - have, &s->left, s->h, &n, s->what, err);
                if (r < 0)
                        return r;
                have += n;
        }
        int r = begin_frame(s, ibuf, have, err);
        if (r == 0)
                r = feed(s, ibuf, have, err);
        while (r == 0 && s->left > 0) {
                size_t n;
                r = read_component(s->b, ibuf, CHUNK, &s->left, s->h, &n, s->what, err);
                if (r == 0)
                        r = feed(s, ibuf, n, err);
        }
        if (r == 0 && (s->last != 0 || s->out != *s->size))
                r = alder_error_set(err, EBADMSG, "%s: the zstd frame of %s is incomplete", s->b->name, s->what);
        if (r == 0)
                r = check_digest(s->b, s->h, component, s->what, err);
        return r;
}

/* Streams the zstd-compressed component the stream is at (the image or the boot files). */
static int stream_frame(alder_alupd *b, const alder_alupd_sink *sink, const char *what, uint64_t *size,
                        alder_error **err)
{
        size_t component = b->next++;
        _cleanup_(zstd_dctx_freep) ZSTD_DCtx *d = ZSTD_createDCtx();
        _cleanup_free_ uint8_t *obuf = malloc(ZSTD_DStreamOutSize());
        _cleanup_sha256_ alder_sha256 *h = NULL;
        if (!d || !obuf)
                return alder_error_set(err, ENOMEM, "%s: out of memory", b->name);
        size_t z = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, ALDER_ALUPD_MAX_WINDOW_LOG);
        if (ZSTD_isError(z))
                return alder_error_set(err, EINVAL, "zstd: %s", ZSTD_getErrorName(z));
        int r = alder_sha256_new(&h, err);
        if (r < 0)
                return r;
        struct frame_stream s = {.b = b,
                                 .sink = sink,
                                 .what = what,
                                 .size = size,
                                 .d = d,
                                 .h = h,
                                 .left = b->info.components[component].size,
                                 .last = 1,
                                 .obuf = obuf};
        return run_frame(&s, component, err);
}

int alder_alupd_stream_image(alder_alupd *b, const alder_alupd_sink *sink, alder_error **err)
{
        if (b->next != 0)
                return alder_error_set(err, EALREADY, "%s: the image was already read", b->name);
        return stream_frame(b, sink, "the image", &b->info.image_size, err);
}

int alder_alupd_stream_boot(alder_alupd *b, const alder_alupd_sink *sink, alder_error **err)
{
        if (!b->info.has_boot)
                return alder_error_set(err, ENOENT, "%s: the bundle carries no boot files", b->name);
        if (b->next != 1 || b->checked)
                return alder_error_set(err, b->next == 0 ? EINVAL : EALREADY, "%s: %s", b->name,
                                       b->next == 0 ? "stream the image first" : "the boot files were already read");
        return stream_frame(b, sink, "the boot files", &b->info.boot_size, err);
}

int alder_alupd_check_rest(alder_alupd *b, alder_error **err)
{
        if (b->next == 0 || b->checked)
                return alder_error_set(err, EINVAL, "%s: %s", b->name,
                                       b->checked ? "already checked" : "stream the image first");
        b->checked = true;
        int r = 0;
        if (b->info.has_boot && b->next == 1)
                r = stream_frame(b, NULL, "the boot files", &b->info.boot_size, err);
        _cleanup_sha256_ alder_sha256 *h = NULL;
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        if (r == 0)
                r = buf ? alder_sha256_new(&h, err) : alder_error_set(err, ENOMEM, "%s: out of memory", b->name);
        for (size_t i = b->next; r == 0 && i < b->info.n_components; i++) {
                char what[ALDER_SUIT_MAX_URI + 32];
                snprintf(what, sizeof(what), "app package '%s'", b->info.components[i].uri + 1);
                for (uint64_t left = b->info.components[i].size; r == 0 && left > 0;) {
                        size_t n;
                        r = read_component(b, buf, CHUNK, &left, h, &n, what, err);
                }
                if (r == 0)
                        r = check_digest(b, h, i, what, err);
                if (r == 0)
                        r = alder_sha256_reset(h, err);
        }
        if (r == 0)
                r = alder_pkgfile_expect_eof(b->fd, b->name, err);
        return r;
}

/* ---- re-signing ------------------------------------------------------------ */

int alder_alupd_resign(const char *in_path, const struct alder_cose_signer *signer, const char *out_path,
                       alder_error **err)
{
        _cleanup_alupd_ alder_alupd *b = NULL;
        int r = alder_alupd_open(in_path, NULL, NULL, &b, err);
        if (r < 0)
                return r;
        return alder_pkgfile_resign(&alupd_kind, b->envelope, b->envelope_len, b->fd, in_path, signer, out_path, err);
}
