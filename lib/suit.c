/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SUIT envelopes: the manifest encoder, signing, and the envelope half of
 * verification (structure, digest, signature). The manifest interpreter is in
 * suit-manifest.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/cbor-util.h"
#include "alder/digest.h"
#include "suit-internal.h"

#define WHAT_ENV      "SUIT envelope"
#define WHAT_SPEC     "manifest spec"
#define TEXT_LANGUAGE "en"
/* Most authentication blocks accepted beside the digest (the profile makes one). */
#define MAX_AUTH_BLOCKS 4

/* ---- component identifiers ------------------------------------------------------------------- */

int alder_suit_component_id_from_strings(struct alder_suit_component_id *id, const char *const *segments,
                                         alder_error **err)
{
        struct alder_suit_component_id out = {0};
        for (size_t i = 0; segments[i]; i++) {
                size_t len = strlen(segments[i]);
                if (i >= ALDER_SUIT_MAX_ID_SEGMENTS)
                        return alder_error_set(err, E2BIG, "component id: more than %d segments",
                                               ALDER_SUIT_MAX_ID_SEGMENTS);
                if (len > ALDER_SUIT_MAX_SEGMENT_SIZE)
                        return alder_error_set(err, E2BIG, "component id: segment '%s' is longer than %d bytes",
                                               segments[i], ALDER_SUIT_MAX_SEGMENT_SIZE);
                out.segments[i].len = len;
                memcpy(out.segments[i].bytes, segments[i], len);
                out.n_segments = i + 1;
        }
        *id = out;
        return 0;
}

static bool printable(const uint8_t *p, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '\'' || p[i] == '\\')
                        return false;
        return len > 0;
}

void alder_suit_component_id_format(const struct alder_suit_component_id *id, char *buf, size_t size)
{
        size_t off = 0;
#define APPEND(...)                                                                     \
        do {                                                                            \
                int n_ = snprintf(buf + off, size > off ? size - off : 0, __VA_ARGS__); \
                off += n_ > 0 ? (size_t) n_ : 0;                                        \
        } while (0)
        if (size == 0)
                return;
        buf[0] = '\0';
        APPEND("[");
        for (size_t i = 0; i < id->n_segments && i < ALDER_SUIT_MAX_ID_SEGMENTS; i++) {
                const uint8_t *p = id->segments[i].bytes;
                size_t len = ALDER_MIN(id->segments[i].len, (size_t) ALDER_SUIT_MAX_SEGMENT_SIZE);
                APPEND("%s", i ? "," : "");
                if (printable(p, len)) {
                        APPEND("'%.*s'", (int) len, (const char *) p);
                        continue;
                }
                APPEND("h'");
                for (size_t j = 0; j < len; j++)
                        APPEND("%02x", p[j]);
                APPEND("'");
        }
        APPEND("]");
#undef APPEND
}

/* ---- digests --------------------------------------------------------------------------------- */

int suit_digest_bstr(const uint8_t *content, size_t len, uint8_t ret[ALDER_SUIT_DIGEST_SIZE], alder_error **err)
{
        unsigned char head[9];
        size_t head_len = cbor_encode_bytestring_start(len, head, sizeof(head));
        _cleanup_sha256_ alder_sha256 *h = NULL;
        int r = alder_sha256_new(&h, err);
        if (r < 0)
                return r;
        alder_sha256_update(h, head, head_len);
        alder_sha256_update(h, content, len);
        return alder_sha256_final(h, ret, err);
}

int suit_decode_digest(const char *what, const cbor_item_t *item, uint8_t ret[ALDER_SUIT_DIGEST_SIZE],
                       alder_error **err)
{
        int64_t alg;
        if (!cbor_isa_array(item) || cbor_array_size(item) != 2)
                return alder_error_set(err, EBADMSG, "%s: expected a SUIT_Digest [algorithm-id, bytes]", what);
        cbor_item_t **v = cbor_array_handle(item);
        if (!alder_cbor_get_int64(v[0], &alg))
                return alder_error_set(err, EBADMSG, "%s: algorithm-id: expected an integer, got %s", what,
                                       alder_cbor_type_name(v[0]));
        if (alg == 2)
                return alder_error_set(err, ENOTSUP,
                                       "%s: digest algorithm 2 (draft-09 era encoding is not supported): expected "
                                       "-16 (SHA-256)",
                                       what);
        if (alg != SUIT_DIGEST_ALG_SHA256)
                return alder_error_set(err, ENOTSUP,
                                       "%s: digest algorithm %lld is not supported: expected -16 (SHA-256)", what,
                                       (long long) alg);
        if (!cbor_isa_bytestring(v[1]) || cbor_bytestring_length(v[1]) != ALDER_SUIT_DIGEST_SIZE)
                return alder_error_set(err, EBADMSG, "%s: digest bytes: expected %d bytes", what,
                                       ALDER_SUIT_DIGEST_SIZE);
        memcpy(ret, cbor_bytestring_handle(v[1]), ALDER_SUIT_DIGEST_SIZE);
        return 0;
}

/* ---- encoding -------------------------------------------------------------------------------- */

/* Appends the bytes of `inner` as a byte string (bstr-wrapped CBOR) and resets it. */
static void put_wrapped(struct alder_cbor_writer *w, struct alder_cbor_writer *inner)
{
        if (inner->error && !w->error)
                w->error = inner->error;
        else
                alder_cbor_put_bytes(w, inner->buf, inner->len);
        alder_cbor_writer_done(inner);
}

static void put_digest(struct alder_cbor_writer *w, const uint8_t digest[ALDER_SUIT_DIGEST_SIZE])
{
        alder_cbor_put_array(w, 2);
        alder_cbor_put_int(w, SUIT_DIGEST_ALG_SHA256);
        alder_cbor_put_bytes(w, digest, ALDER_SUIT_DIGEST_SIZE);
}

static void put_component_id(struct alder_cbor_writer *w, const struct alder_suit_component_id *id)
{
        alder_cbor_put_array(w, id->n_segments);
        for (size_t i = 0; i < id->n_segments; i++)
                alder_cbor_put_bytes(w, id->segments[i].bytes, id->segments[i].len);
}

/* A command with a reporting policy (or any uint argument). */
static void put_command(struct alder_cbor_writer *w, int cmd, uint64_t arg)
{
        alder_cbor_put_uint(w, (uint64_t) cmd);
        alder_cbor_put_uint(w, arg);
}

/* Number of command pairs per component, plus set-component-index when there are several components. */
static size_t sequence_items(const struct alder_suit_spec *spec, size_t pairs_per_component)
{
        size_t per = pairs_per_component + (spec->n_components > 1 ? 1 : 0);
        return 2 * per * spec->n_components;
}

static void put_select(struct alder_cbor_writer *w, const struct alder_suit_spec *spec, size_t i)
{
        if (spec->n_components > 1)
                put_command(w, SUIT_CMD_SET_COMPONENT_INDEX, i);
}

static void put_shared_sequence(struct alder_cbor_writer *w, const struct alder_suit_spec *spec)
{
        struct alder_cbor_writer digest = {0};
        alder_cbor_put_array(w, sequence_items(spec, 3));
        for (size_t i = 0; i < spec->n_components; i++) {
                const struct alder_suit_component *c = &spec->components[i];
                put_select(w, spec, i);
                alder_cbor_put_uint(w, SUIT_CMD_OVERRIDE_PARAMETERS);
                alder_cbor_put_map(w, 4);
                alder_cbor_put_uint(w, SUIT_PARAM_VENDOR_ID);
                alder_cbor_put_bytes(w, spec->vendor_id, ALDER_SUIT_UUID_SIZE);
                alder_cbor_put_uint(w, SUIT_PARAM_CLASS_ID);
                alder_cbor_put_bytes(w, spec->class_id, ALDER_SUIT_UUID_SIZE);
                alder_cbor_put_uint(w, SUIT_PARAM_IMAGE_DIGEST);
                put_digest(&digest, c->digest);
                put_wrapped(w, &digest);
                alder_cbor_put_uint(w, SUIT_PARAM_IMAGE_SIZE);
                alder_cbor_put_uint(w, c->size);
                put_command(w, SUIT_CMD_VENDOR_ID, SUIT_REPORT_ALL);
                put_command(w, SUIT_CMD_CLASS_ID, SUIT_REPORT_ALL);
        }
}

static void put_common(struct alder_cbor_writer *w, const struct alder_suit_spec *spec)
{
        struct alder_cbor_writer shared = {0};
        alder_cbor_put_map(w, 2);
        alder_cbor_put_uint(w, SUIT_COMMON_COMPONENTS);
        alder_cbor_put_array(w, spec->n_components);
        for (size_t i = 0; i < spec->n_components; i++)
                put_component_id(w, &spec->components[i].id);
        alder_cbor_put_uint(w, SUIT_COMMON_SHARED_SEQUENCE);
        put_shared_sequence(&shared, spec);
        put_wrapped(w, &shared);
}

static void put_validate(struct alder_cbor_writer *w, const struct alder_suit_spec *spec)
{
        alder_cbor_put_array(w, sequence_items(spec, 1));
        for (size_t i = 0; i < spec->n_components; i++) {
                put_select(w, spec, i);
                put_command(w, SUIT_CMD_IMAGE_MATCH, SUIT_REPORT_ALL);
        }
}

static void put_install(struct alder_cbor_writer *w, const struct alder_suit_spec *spec)
{
        alder_cbor_put_array(w, sequence_items(spec, 3));
        for (size_t i = 0; i < spec->n_components; i++) {
                const char *uri = spec->components[i].uri;
                put_select(w, spec, i);
                alder_cbor_put_uint(w, SUIT_CMD_OVERRIDE_PARAMETERS);
                alder_cbor_put_map(w, 1);
                alder_cbor_put_uint(w, SUIT_PARAM_URI);
                alder_cbor_put_text(w, uri, strlen(uri));
                put_command(w, SUIT_CMD_FETCH, SUIT_REPORT_REC_FAIL);
                put_command(w, SUIT_CMD_IMAGE_MATCH, SUIT_REPORT_ALL);
        }
}

static bool has_text(const char *s)
{
        return s && *s;
}

static bool component_has_text(const struct alder_suit_component *c)
{
        return has_text(c->description) || has_text(c->version);
}

static void put_opt_text(struct alder_cbor_writer *w, int key, const char *s)
{
        if (!has_text(s))
                return;
        alder_cbor_put_uint(w, (uint64_t) key);
        alder_cbor_put_text(w, s, strlen(s));
}

/* Encoded component ids of the components with text, to sort map keys as RFC 8949 §4.2.1 wants. */
struct text_key {
        size_t component;
        uint8_t *key;
        size_t len;
};

static int cmp_text_keys(const void *a, const void *b)
{
        const struct text_key *x = a, *y = b;
        int c = memcmp(x->key, y->key, ALDER_MIN(x->len, y->len));
        return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int encode_text_keys(const struct alder_suit_spec *spec, struct text_key *keys, size_t *ret_n, alder_error **err)
{
        size_t n = 0;
        for (size_t i = 0; i < spec->n_components; i++) {
                if (!component_has_text(&spec->components[i]))
                        continue;
                struct alder_cbor_writer kw = {0};
                put_component_id(&kw, &spec->components[i].id);
                keys[n].component = i;
                int r = alder_cbor_writer_finish(&kw, "suit-text key", &keys[n].key, &keys[n].len, err);
                if (r < 0)
                        return r;
                n++;
        }
        qsort(keys, n, sizeof(keys[0]), cmp_text_keys);
        *ret_n = n;
        return 0;
}

/* {"en": {? 1: description, * component-id => {? 5: description, ? 6: version}}} */
static int put_text(struct alder_cbor_writer *w, const struct alder_suit_spec *spec, alder_error **err)
{
        struct text_key keys[ALDER_SUIT_MAX_COMPONENTS] = {{0}};
        size_t n = 0;
        int r = encode_text_keys(spec, keys, &n, err);
        if (r == 0) {
                alder_cbor_put_map(w, 1);
                alder_cbor_put_text(w, TEXT_LANGUAGE, strlen(TEXT_LANGUAGE));
                alder_cbor_put_map(w, n + (has_text(spec->description) ? 1 : 0));
                put_opt_text(w, SUIT_TEXT_MANIFEST_DESCRIPTION, spec->description);
                for (size_t i = 0; i < n; i++) {
                        const struct alder_suit_component *c = &spec->components[keys[i].component];
                        alder_cbor_put_raw(w, keys[i].key, keys[i].len);
                        alder_cbor_put_map(w, (has_text(c->description) ? 1 : 0) + (has_text(c->version) ? 1 : 0));
                        put_opt_text(w, SUIT_TEXT_COMPONENT_DESCRIPTION, c->description);
                        put_opt_text(w, SUIT_TEXT_COMPONENT_VERSION, c->version);
                }
        }
        for (size_t i = 0; i < ALDER_SUIT_MAX_COMPONENTS; i++)
                free(keys[i].key);
        return r;
}

static bool spec_has_text(const struct alder_suit_spec *spec)
{
        for (size_t i = 0; i < spec->n_components; i++)
                if (component_has_text(&spec->components[i]))
                        return true;
        return has_text(spec->description);
}

static int put_manifest(struct alder_cbor_writer *w, const struct alder_suit_spec *spec, alder_error **err)
{
        struct alder_cbor_writer inner = {0};
        bool text = spec_has_text(spec);
        alder_cbor_put_map(w, text ? 6 : 5);
        alder_cbor_put_uint(w, SUIT_MANIFEST_VERSION);
        alder_cbor_put_uint(w, 1);
        alder_cbor_put_uint(w, SUIT_MANIFEST_SEQUENCE);
        alder_cbor_put_uint(w, spec->sequence_number);
        alder_cbor_put_uint(w, SUIT_MANIFEST_COMMON);
        put_common(&inner, spec);
        put_wrapped(w, &inner);
        alder_cbor_put_uint(w, SUIT_MANIFEST_VALIDATE);
        put_validate(&inner, spec);
        put_wrapped(w, &inner);
        alder_cbor_put_uint(w, SUIT_MANIFEST_INSTALL);
        put_install(&inner, spec);
        put_wrapped(w, &inner);
        if (!text)
                return 0;
        alder_cbor_put_uint(w, SUIT_MANIFEST_TEXT);
        int r = put_text(&inner, spec, err);
        put_wrapped(w, &inner);
        return r;
}

/* ---- spec validation ------------------------------------------------------------------------- */

/* URIs: printable ASCII without spaces (they end up in logs and paths). */
static int check_uri(const char *where, const char *uri, alder_error **err)
{
        size_t len = uri ? strlen(uri) : 0;
        if (len == 0)
                return alder_error_set(err, EINVAL, WHAT_SPEC ": %s: uri: missing", where);
        if (len > ALDER_SUIT_MAX_URI)
                return alder_error_set(err, E2BIG, WHAT_SPEC ": %s: uri: longer than %d bytes", where,
                                       ALDER_SUIT_MAX_URI);
        for (const char *p = uri; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f)
                        return alder_error_set(err, EINVAL, WHAT_SPEC ": %s: uri: only printable ASCII without spaces",
                                               where);
        return 0;
}

static int check_text(const char *where, const char *field, const char *s, alder_error **err)
{
        if (!s)
                return 0;
        if (strlen(s) > ALDER_SUIT_MAX_TEXT)
                return alder_error_set(err, E2BIG, WHAT_SPEC ": %s: %s: longer than %d bytes", where, field,
                                       ALDER_SUIT_MAX_TEXT);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return alder_error_set(err, EINVAL, WHAT_SPEC ": %s: %s: control characters are not allowed",
                                               where, field);
        return 0;
}

bool suit_component_id_equal(const struct alder_suit_component_id *a, const struct alder_suit_component_id *b)
{
        if (a->n_segments != b->n_segments)
                return false;
        for (size_t i = 0; i < a->n_segments; i++)
                if (a->segments[i].len != b->segments[i].len ||
                    memcmp(a->segments[i].bytes, b->segments[i].bytes, a->segments[i].len) != 0)
                        return false;
        return true;
}

static int check_component(const struct alder_suit_spec *spec, size_t i, alder_error **err)
{
        const struct alder_suit_component *c = &spec->components[i];
        char where[64];
        snprintf(where, sizeof(where), "component %zu", i);
        if (c->id.n_segments == 0 || c->id.n_segments > ALDER_SUIT_MAX_ID_SEGMENTS)
                return alder_error_set(err, EINVAL, WHAT_SPEC ": %s: id: expected 1 to %d segments", where,
                                       ALDER_SUIT_MAX_ID_SEGMENTS);
        for (size_t s = 0; s < c->id.n_segments; s++)
                if (c->id.segments[s].len > ALDER_SUIT_MAX_SEGMENT_SIZE)
                        return alder_error_set(err, EINVAL, WHAT_SPEC ": %s: id segment %zu: longer than %d bytes",
                                               where, s, ALDER_SUIT_MAX_SEGMENT_SIZE);
        for (size_t j = 0; j < i; j++)
                if (suit_component_id_equal(&c->id, &spec->components[j].id))
                        return alder_error_set(err, EINVAL, WHAT_SPEC ": components %zu and %zu have the same id", j,
                                               i);
        int r = check_uri(where, c->uri, err);
        if (r == 0)
                r = check_text(where, "description", c->description, err);
        if (r == 0)
                r = check_text(where, "version", c->version, err);
        return r;
}

static int check_spec(const struct alder_suit_spec *spec, alder_error **err)
{
        if (spec->n_components < 1 || spec->n_components > ALDER_SUIT_MAX_COMPONENTS)
                return alder_error_set(err, EINVAL, WHAT_SPEC ": %zu components, expected 1 to %d", spec->n_components,
                                       ALDER_SUIT_MAX_COMPONENTS);
        for (size_t i = 0; i < spec->n_components; i++) {
                int r = check_component(spec, i, err);
                if (r < 0)
                        return r;
        }
        return check_text("manifest", "description", spec->description, err);
}

int alder_suit_manifest_encode(const struct alder_suit_spec *spec, uint8_t **ret, size_t *ret_len, alder_error **err)
{
        int r = check_spec(spec, err);
        if (r < 0)
                return r;
        _cleanup_cbor_writer_ struct alder_cbor_writer w = {.max = ALDER_SUIT_MAX_ENVELOPE};
        r = put_manifest(&w, spec, err);
        if (r < 0)
                return r;
        return alder_cbor_writer_finish(&w, "SUIT manifest", ret, ret_len, err);
}

/* ---- signing --------------------------------------------------------------------------------- */

int alder_suit_envelope_sign(const uint8_t *manifest, size_t manifest_len, const struct alder_cose_signer *signer,
                             uint8_t **ret, size_t *ret_len, alder_error **err)
{
        /* Never sign what a device would refuse: the manifest must interpret. */
        _cleanup_free_ struct alder_suit_result *check = calloc(1, sizeof(*check));
        if (!check)
                return alder_error_set(err, ENOMEM, "sign SUIT manifest: out of memory");
        int r = suit_manifest_interpret(manifest, manifest_len, NULL, NULL, check, err);
        if (r < 0)
                return alder_error_wrap(err, "sign SUIT manifest");
        uint8_t digest[ALDER_SUIT_DIGEST_SIZE];
        r = suit_digest_bstr(manifest, manifest_len, digest, err);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *digest_item = NULL, *cose = NULL;
        size_t digest_len = 0, cose_len = 0;
        struct alder_cbor_writer dw = {0};
        put_digest(&dw, digest);
        r = alder_cbor_writer_finish(&dw, "SUIT_Digest", &digest_item, &digest_len, err);
        if (r == 0)
                r = alder_cose_sign1_create(digest_item, digest_len, signer, &cose, &cose_len, err);
        if (r < 0)
                return alder_error_wrap(err, "sign SUIT manifest");

        struct alder_cbor_writer auth = {0};
        alder_cbor_put_array(&auth, 2);
        alder_cbor_put_bytes(&auth, digest_item, digest_len);
        alder_cbor_put_bytes(&auth, cose, cose_len);
        _cleanup_cbor_writer_ struct alder_cbor_writer w = {.max = ALDER_SUIT_MAX_ENVELOPE};
        alder_cbor_put_tag(&w, ALDER_SUIT_TAG_ENVELOPE);
        alder_cbor_put_map(&w, 2);
        alder_cbor_put_uint(&w, SUIT_ENV_AUTH);
        put_wrapped(&w, &auth);
        alder_cbor_put_uint(&w, SUIT_ENV_MANIFEST);
        alder_cbor_put_bytes(&w, manifest, manifest_len);
        return alder_cbor_writer_finish(&w, WHAT_ENV, ret, ret_len, err);
}

/* ---- envelope parsing ------------------------------------------------------------------------ */

/* The parts of a strictly parsed envelope (items borrowed from `root`). */
struct envelope {
        cbor_item_t *root;
        const cbor_item_t *auth;     /* bstr */
        const cbor_item_t *manifest; /* bstr */
        struct suit_severed severed;
};

static void envelope_done(struct envelope *e)
{
        alder_cbor_decrefp(&e->root);
}

static int check_envelope_tag(uint64_t tag, const cbor_item_t *item, alder_error **err)
{
        if (tag == ALDER_CBOR_UNTAGGED && cbor_isa_map(item))
                return alder_error_set(err, EBADMSG,
                                       WHAT_ENV ": untagged (expected CBOR tag 107): draft-09 era encoding is not "
                                                "supported");
        int r = alder_cbor_check_tag(WHAT_ENV, tag, ALDER_SUIT_TAG_ENVELOPE, "SUIT_Envelope_Tagged", item, err);
        if (r == 0 && !cbor_isa_map(item))
                r = alder_error_set(err, EBADMSG, WHAT_ENV ": expected a map, got %s", alder_cbor_type_name(item));
        return r;
}

/* The envelope members of the profile: where each goes in struct envelope. */
static const struct {
        int64_t key;
        const char *name;
        size_t offset;
} envelope_members[] = {
        {SUIT_ENV_AUTH, "authentication wrapper", offsetof(struct envelope, auth)},
        {SUIT_ENV_MANIFEST, "manifest", offsetof(struct envelope, manifest)},
        {SUIT_MANIFEST_PAYLOAD_FETCH, "payload-fetch", offsetof(struct envelope, severed.payload_fetch)},
        {SUIT_MANIFEST_INSTALL, "install", offsetof(struct envelope, severed.install)},
        {SUIT_MANIFEST_TEXT, "text", offsetof(struct envelope, severed.text)},
};

static int envelope_member(struct envelope *e, const struct cbor_pair *p, alder_error **err)
{
        int64_t key;
        if (!alder_cbor_get_int64(p->key, &key) || key < 0 || key >= 24)
                return alder_error_set(err, ENOTSUP,
                                       WHAT_ENV ": integrated payloads are not supported (payloads are stored beside "
                                                "the envelope)");
        if (key == SUIT_ENV_DELEGATION)
                return alder_error_set(err, ENOTSUP, WHAT_ENV ": delegation chains (key 1) are not supported");
        size_t i = 0;
        while (i < ALDER_ARRAY_SIZE(envelope_members) && envelope_members[i].key != key)
                i++;
        if (i == ALDER_ARRAY_SIZE(envelope_members))
                return alder_error_set(err, ENOTSUP, WHAT_ENV ": unknown key %lld", (long long) key);
        if (!cbor_isa_bytestring(p->value))
                return alder_error_set(err, EBADMSG, WHAT_ENV ": %s: expected a byte string, got %s",
                                       envelope_members[i].name, alder_cbor_type_name(p->value));
        *(const cbor_item_t **) ((char *) e + envelope_members[i].offset) = p->value;
        return 0;
}

static int parse_envelope(const uint8_t *buf, size_t len, struct envelope *e, alder_error **err)
{
        *e = (struct envelope){0};
        if (len > ALDER_SUIT_MAX_ENVELOPE)
                return alder_error_set(err, E2BIG, WHAT_ENV ": %zu bytes, at most %u allowed", len,
                                       ALDER_SUIT_MAX_ENVELOPE);
        uint64_t tag;
        int r = alder_cbor_decode_tagged(WHAT_ENV, buf, len, &tag, &e->root, err);
        if (r == 0)
                r = check_envelope_tag(tag, e->root, err);
        if (r < 0)
                return r;
        const cbor_item_t *map = e->root;
        struct cbor_pair *pairs = cbor_map_handle(map);
        for (size_t i = 0; i < cbor_map_size(map); i++) {
                r = envelope_member(e, &pairs[i], err);
                if (r < 0)
                        return r;
        }
        if (!e->auth)
                return alder_error_set(err, EBADMSG, WHAT_ENV ": no authentication wrapper (key 2)");
        if (!e->manifest)
                return alder_error_set(err, EBADMSG, WHAT_ENV ": no manifest (key 3)");
        return 0;
}

/* The authentication wrapper: [bstr(SUIT_Digest), + bstr(COSE_Sign1_Tagged)]. */
struct auth_wrapper {
        cbor_item_t *root;
        uint8_t digest[ALDER_SUIT_DIGEST_SIZE];
        const uint8_t *digest_bytes; /* the encoded SUIT_Digest: the COSE detached payload */
        size_t digest_len;
        size_t n_blocks;
        const cbor_item_t *blocks[MAX_AUTH_BLOCKS];
};

static int parse_auth_wrapper(const cbor_item_t *bstr, struct auth_wrapper *a, alder_error **err)
{
        *a = (struct auth_wrapper){0};
        int r = alder_cbor_decode("authentication wrapper", cbor_bytestring_handle(bstr), cbor_bytestring_length(bstr),
                                  &a->root, err);
        if (r < 0)
                return r;
        size_t n = cbor_isa_array(a->root) ? cbor_array_size(a->root) : 0;
        if (n < 2)
                return alder_error_set(err, EBADMSG,
                                       "authentication wrapper: expected [digest, signature...], got %s of %zu items",
                                       alder_cbor_type_name(a->root), n);
        if (n - 1 > MAX_AUTH_BLOCKS)
                return alder_error_set(err, E2BIG, "authentication wrapper: more than %d authentication blocks",
                                       MAX_AUTH_BLOCKS);
        cbor_item_t **v = cbor_array_handle(a->root);
        for (size_t i = 0; i < n; i++)
                if (!cbor_isa_bytestring(v[i]))
                        return alder_error_set(err, EBADMSG,
                                               "authentication wrapper[%zu]: expected a byte string, got %s", i,
                                               alder_cbor_type_name(v[i]));
        _cleanup_cbor_ cbor_item_t *digest = NULL;
        a->digest_bytes = cbor_bytestring_handle(v[0]);
        a->digest_len = cbor_bytestring_length(v[0]);
        r = alder_cbor_decode("manifest digest", a->digest_bytes, a->digest_len, &digest, err);
        if (r == 0)
                r = suit_decode_digest("manifest digest", digest, a->digest, err);
        for (size_t i = 1; i < n; i++)
                a->blocks[a->n_blocks++] = v[i];
        return r;
}

static void auth_wrapper_done(struct auth_wrapper *a)
{
        alder_cbor_decrefp(&a->root);
}

static int check_manifest_digest(const struct envelope *e, const struct auth_wrapper *a,
                                 uint8_t ret[ALDER_SUIT_DIGEST_SIZE], alder_error **err)
{
        int r = suit_digest_bstr(cbor_bytestring_handle(e->manifest), cbor_bytestring_length(e->manifest), ret, err);
        if (r < 0)
                return r;
        if (memcmp(ret, a->digest, ALDER_SUIT_DIGEST_SIZE) != 0)
                return alder_error_set(err, EKEYREJECTED,
                                       WHAT_ENV ": the manifest does not match the digest in the authentication "
                                                "wrapper");
        return 0;
}

/* Accepts the first authentication block that verifies; otherwise reports the first block's failure. */
static int verify_signature(const struct auth_wrapper *a, const alder_trust_store *store,
                            struct alder_cose_signer_info *ret, alder_error **err)
{
        int first = 0;
        for (size_t i = 0; i < a->n_blocks; i++) {
                const cbor_item_t *b = a->blocks[i];
                int r = alder_cose_sign1_verify(cbor_bytestring_handle(b), cbor_bytestring_length(b), a->digest_bytes,
                                                a->digest_len, store, ret, first ? NULL : err);
                if (r == 0) {
                        alder_error_clear(err);
                        return 0;
                }
                first = first ? first : r;
        }
        return first;
}

/* Who a signature claims to be, unverified (alder_suit_envelope_inspect()). */
static int claimed_signer(const struct auth_wrapper *a, struct alder_cose_signer_info *ret, alder_error **err)
{
        const cbor_item_t *b = a->blocks[0];
        struct alder_cose_sign1 s;
        int r = alder_cose_sign1_decode(cbor_bytestring_handle(b), cbor_bytestring_length(b), &s, err);
        if (r < 0)
                return r;
        *ret = (struct alder_cose_signer_info){.alg = s.alg};
        if (s.kid_len == ALDER_FINGERPRINT_SIZE)
                alder_hex_encode(s.kid, s.kid_len, ret->fingerprint);
        _cleanup_free_ char *subject = NULL;
        if (s.x5chain && alder_cert_subject(sk_X509_value(s.x5chain, 0), &subject, NULL) == 0)
                snprintf(ret->subject, sizeof(ret->subject), "%s", subject);
        alder_cose_sign1_done(&s);
        return 0;
}

/* The envelope half of verification; `store` NULL only decodes the signature (alder_suit_envelope_inspect()). */
static int envelope_check(const uint8_t *buf, size_t len, const alder_trust_store *store,
                          const struct alder_suit_expect *expect, struct alder_suit_result *ret, alder_error **err)
{
        struct envelope e;
        struct auth_wrapper a = {0};
        _cleanup_free_ struct alder_suit_result *res = calloc(1, sizeof(*res));
        if (!res)
                return alder_error_set(err, ENOMEM, WHAT_ENV ": out of memory");
        int r = parse_envelope(buf, len, &e, err);
        if (r == 0)
                r = parse_auth_wrapper(e.auth, &a, err);
        if (r == 0)
                r = check_manifest_digest(&e, &a, res->manifest_digest, err);
        if (r == 0)
                r = store ? verify_signature(&a, store, &res->signer, err) : claimed_signer(&a, &res->signer, err);
        if (r == 0)
                r = suit_manifest_interpret(cbor_bytestring_handle(e.manifest), cbor_bytestring_length(e.manifest),
                                            &e.severed, expect, res, err);
        auth_wrapper_done(&a);
        envelope_done(&e);
        if (r < 0)
                return r;
        *ret = *res;
        return 0;
}

int alder_suit_envelope_verify(const uint8_t *buf, size_t len, const alder_trust_store *store,
                               const struct alder_suit_expect *expect, struct alder_suit_result *ret, alder_error **err)
{
        if (!store)
                return alder_error_set(err, EINVAL, WHAT_ENV ": no trust store");
        return envelope_check(buf, len, store, expect, ret, err);
}

int alder_suit_envelope_inspect(const uint8_t *buf, size_t len, const struct alder_suit_expect *expect,
                                struct alder_suit_result *ret, alder_error **err)
{
        return envelope_check(buf, len, NULL, expect, ret, err);
}

/* Encoded size of a byte string head for `len` bytes. */
static size_t bstr_head_size(size_t len)
{
        unsigned char head[9];
        return cbor_encode_bytestring_start(len, head, sizeof(head));
}

/*
 * Where key 3's content starts in buf. Deterministic encoding makes this
 * arithmetic: tag 107 (2 bytes), the map head, then each member in key order
 * as a one-byte key and a byte string.
 */
static size_t manifest_offset(const struct envelope *e)
{
        size_t off = 2 + bstr_head_size(cbor_map_size(e->root)); /* a map head is as long as a bstr head */
        struct cbor_pair *pairs = cbor_map_handle(e->root);
        for (size_t i = 0; i < cbor_map_size(e->root); i++) {
                size_t n = cbor_bytestring_length(pairs[i].value);
                if (pairs[i].value == e->manifest)
                        return off + 1 + bstr_head_size(n);
                off += 1 + bstr_head_size(n) + n;
        }
        return SIZE_MAX;
}

int alder_suit_envelope_manifest(const uint8_t *buf, size_t len, const uint8_t **ret, size_t *ret_len,
                                 alder_error **err)
{
        struct envelope e;
        int r = parse_envelope(buf, len, &e, err);
        if (r < 0)
                return r;
        size_t off = manifest_offset(&e);
        size_t n = cbor_bytestring_length(e.manifest);
        /* The arithmetic is checked against the decoded bytes, never trusted blindly. */
        if (off > len || len - off < n || memcmp(buf + off, cbor_bytestring_handle(e.manifest), n) != 0)
                r = alder_error_set(err, EBADMSG, WHAT_ENV ": cannot locate the manifest");
        envelope_done(&e);
        if (r < 0)
                return r;
        *ret = buf + off;
        *ret_len = n;
        return 0;
}
