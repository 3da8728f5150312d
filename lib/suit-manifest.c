/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SUIT manifest interpreter: a minimal manifest processor
 * (draft-ietf-suit-manifest, "Manifest Processor Behavior") for the commands
 * of Alder's profile.
 *
 * It runs the update procedure the way a device would (payload-fetch,
 * install, validate, each preceded by the shared sequence) over an abstract
 * machine of per-component parameters. Conditions on the device
 * (vendor/class ids) are evaluated; conditions and directives on payloads
 * (image-match, fetch) are recorded per component for the package reader,
 * which checks the payload bytes while it streams them.
 *
 * Control flow follows the draft: a failed condition terminates its
 * sequence; try-each moves on to its next sequence when soft-failure is set
 * (its default there), run-sequence halts quietly when its sequence set
 * soft-failure, and either undoes the failed sequence's parameter changes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/cbor-util.h"
#include "alder/uuid.h"
#include "suit-internal.h"

#define MAX_NESTING    4    /* try-each / run-sequence inside each other */
#define MAX_STEPS      4096 /* commands executed in all (true/array indices multiply work) */
#define MAX_TRY_EACH   8    /* sequences of one try-each */
#define MAX_PARAMETERS 16   /* entries of one override-parameters map */
#define MAX_LANGUAGES  8
#define COND_FAILED    1 /* a condition failed: the sequence terminated */

/* Parameters of one component. */
struct params {
        bool has_vendor, has_class, has_digest, has_size, has_uri;
        uint8_t vendor[ALDER_SUIT_UUID_SIZE];
        uint8_t class_id[ALDER_SUIT_UUID_SIZE];
        uint8_t digest[ALDER_SUIT_DIGEST_SIZE];
        uint64_t size;
        char uri[ALDER_SUIT_MAX_URI + 1];
};

/* What the sequences asked for one component: deferred to the package reader. */
struct record {
        bool image_match;
        uint8_t digest[ALDER_SUIT_DIGEST_SIZE];
        bool has_size;
        uint64_t size;
        bool fetch;
        char uri[ALDER_SUIT_MAX_URI + 1];
};

/* Everything a failed try-each/run-sequence sequence must not leave behind. */
struct state {
        struct params params[ALDER_SUIT_MAX_COMPONENTS];
        struct record rec[ALDER_SUIT_MAX_COMPONENTS];
        bool vendor_checked, class_checked;
        uint8_t vendor[ALDER_SUIT_UUID_SIZE];
        uint8_t class_id[ALDER_SUIT_UUID_SIZE];
};

struct machine {
        const struct alder_suit_expect *expect;
        size_t n;
        struct alder_suit_component_id ids[ALDER_SUIT_MAX_COMPONENTS];
        struct state st;
        unsigned steps;
        int cond_errno; /* errno of the last failed condition */
};

/* One running command sequence. */
struct seq {
        const char *section; /* "install", "shared sequence", ... for errors */
        unsigned depth;      /* 0: a section; >0: inside try-each / run-sequence */
        bool soft;           /* suit-parameter-soft-failure */
        bool side_effects;   /* directives allowed (not in the shared sequence) */
        size_t count;        /* selected components (0: no set-component-index yet) */
        uint8_t index[ALDER_SUIT_MAX_COMPONENTS];
};

/* A decoded override-parameters argument. */
struct param_set {
        bool vendor, class_id, digest, size, uri, soft;
        struct params v;
        bool soft_value;
};

/*
 * Names of commands and parameters by number, for messages. The IANA
 * registries give the common commands and the parameters they read the same
 * number (check-vendor-identifier 1 reads vendor-id 1, ...).
 */
static const struct {
        const char *command;
        const char *parameter;
} names[] = {
        [1] = {"check-vendor-identifier", "vendor-id"},
        [2] = {"check-class-identifier", "class-id"},
        [3] = {"condition-image-match", "image-digest"},
        [5] = {"condition-component-slot", "component-slot"},
        [6] = {"condition-check-content", NULL},
        [12] = {"set-component-index", "strict-order"},
        [13] = {NULL, "soft-failure"},
        [14] = {"condition-abort", "image-size"},
        [15] = {"try-each", NULL},
        [18] = {"write", "content"},
        [20] = {"override-parameters", NULL},
        [21] = {"fetch", "uri"},
        [22] = {"copy", "source-component"},
        [23] = {"invoke", "invoke-args"},
        [24] = {"check-device-identifier", "device-id"},
        [31] = {"swap", NULL},
        [32] = {"run-sequence", NULL},
};

static const char *command_name(int64_t code)
{
        const char *name = code >= 0 && (uint64_t) code < ALDER_ARRAY_SIZE(names) ? names[code].command : NULL;
        return name ? name : "unknown";
}

static const char *parameter_name(int64_t code)
{
        const char *name = code >= 0 && (uint64_t) code < ALDER_ARRAY_SIZE(names) ? names[code].parameter : NULL;
        return name ? name : "unknown";
}

/* "component 1 ['alder','app','rootfs']" */
static void component_name(const struct machine *m, size_t i, char *buf, size_t size)
{
        char id[160];
        alder_suit_component_id_format(&m->ids[i], id, sizeof(id));
        snprintf(buf, size, "component %zu %s", i, id);
}

/* The component a command acts on: its parameters, its record, its name for messages. */
struct target {
        const struct params *p;
        struct record *rec;
        char name[200];
};

static struct target target_of(struct machine *m, size_t i)
{
        struct target t = {.p = &m->st.params[i], .rec = &m->st.rec[i]};
        component_name(m, i, t.name, sizeof(t.name));
        return t;
}

/* A condition failed: sets the message and returns COND_FAILED (the caller decides how hard it is). */
ALDER_PRINTF(4, 5)
static int cond_fail(struct machine *m, int errnum, alder_error **err, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        m->cond_errno = errnum;
        (void) alder_error_set(err, errnum, "%s", msg);
        return COND_FAILED;
}

/* ---- decoding helpers ------------------------------------------------------------------------ */

static int decode_sequence(const char *section, const cbor_item_t *bstr, cbor_item_t **ret, alder_error **err)
{
        if (!cbor_isa_bytestring(bstr))
                return alder_error_set(err, EBADMSG, "%s: expected a bstr-wrapped command sequence, got %s", section,
                                       alder_cbor_type_name(bstr));
        _cleanup_cbor_ cbor_item_t *seq = NULL;
        int r = alder_cbor_decode(section, cbor_bytestring_handle(bstr), cbor_bytestring_length(bstr), &seq, err);
        if (r < 0)
                return r;
        if (!cbor_isa_array(seq) || cbor_array_size(seq) == 0 || cbor_array_size(seq) % 2 != 0)
                return alder_error_set(err, EBADMSG, "%s: expected a non-empty array of command/argument pairs",
                                       section);
        *ret = steal_pointer(&seq);
        return 0;
}

static int decode_uuid(const char *what, const cbor_item_t *v, uint8_t out[ALDER_SUIT_UUID_SIZE], alder_error **err)
{
        if (cbor_isa_tag(v))
                return alder_error_set(err, ENOTSUP,
                                       "%s: CBOR PEN identifiers are not supported (expected a 16-byte "
                                       "UUID)",
                                       what);
        if (!cbor_isa_bytestring(v) || cbor_bytestring_length(v) != ALDER_SUIT_UUID_SIZE)
                return alder_error_set(err, EBADMSG, "%s: expected a 16-byte UUID", what);
        memcpy(out, cbor_bytestring_handle(v), ALDER_SUIT_UUID_SIZE);
        return 0;
}

/* URIs end up in logs and file lookups: printable ASCII without spaces only. */
static int decode_uri(const char *what, const cbor_item_t *v, char out[ALDER_SUIT_MAX_URI + 1], alder_error **err)
{
        size_t len = cbor_isa_string(v) ? cbor_string_length(v) : 0;
        if (len == 0 || len > ALDER_SUIT_MAX_URI)
                return alder_error_set(err, EBADMSG, "%s: expected a text string of 1 to %d bytes", what,
                                       ALDER_SUIT_MAX_URI);
        const unsigned char *p = cbor_string_handle(v);
        for (size_t i = 0; i < len; i++)
                if (p[i] <= 0x20 || p[i] >= 0x7f)
                        return alder_error_set(err, EBADMSG, "%s: only printable ASCII without spaces is allowed",
                                               what);
        memcpy(out, p, len);
        out[len] = '\0';
        return 0;
}

static int decode_component_id(const char *what, const cbor_item_t *v, struct alder_suit_component_id *id,
                               alder_error **err)
{
        if (!cbor_isa_array(v) || cbor_array_size(v) > ALDER_SUIT_MAX_ID_SEGMENTS)
                return alder_error_set(err, EBADMSG, "%s: expected an array of at most %d byte strings", what,
                                       ALDER_SUIT_MAX_ID_SEGMENTS);
        *id = (struct alder_suit_component_id){.n_segments = cbor_array_size(v)};
        for (size_t i = 0; i < id->n_segments; i++) {
                const cbor_item_t *s = cbor_array_handle(v)[i];
                if (!cbor_isa_bytestring(s) || cbor_bytestring_length(s) > ALDER_SUIT_MAX_SEGMENT_SIZE)
                        return alder_error_set(err, EBADMSG,
                                               "%s: segment %zu: expected a byte string of at most %d "
                                               "bytes",
                                               what, i, ALDER_SUIT_MAX_SEGMENT_SIZE);
                id->segments[i].len = cbor_bytestring_length(s);
                memcpy(id->segments[i].bytes, cbor_bytestring_handle(s), id->segments[i].len);
        }
        return 0;
}

/* ---- parameters ------------------------------------------------------------------------------ */

static int decode_bool(const char *what, const cbor_item_t *v, bool *out, alder_error **err)
{
        if (!cbor_is_bool(v))
                return alder_error_set(err, EBADMSG, "%s: expected a boolean, got %s", what, alder_cbor_type_name(v));
        *out = cbor_get_bool(v);
        return 0;
}

static int decode_image_digest(const char *what, const cbor_item_t *v, uint8_t out[ALDER_SUIT_DIGEST_SIZE],
                               alder_error **err)
{
        if (!cbor_isa_bytestring(v))
                return alder_error_set(err, EBADMSG, "%s: expected a bstr-wrapped SUIT_Digest, got %s", what,
                                       alder_cbor_type_name(v));
        _cleanup_cbor_ cbor_item_t *d = NULL;
        int r = alder_cbor_decode(what, cbor_bytestring_handle(v), cbor_bytestring_length(v), &d, err);
        return r < 0 ? r : suit_decode_digest(what, d, out, err);
}

static int decode_parameter(const struct seq *s, int64_t key, const cbor_item_t *v, struct param_set *ps,
                            alder_error **err)
{
        char what[96];
        snprintf(what, sizeof(what), "%s: override-parameters: %s", s->section, parameter_name(key));
        switch (key) {
        case SUIT_PARAM_VENDOR_ID:
                ps->vendor = true;
                return decode_uuid(what, v, ps->v.vendor, err);
        case SUIT_PARAM_CLASS_ID:
                ps->class_id = true;
                return decode_uuid(what, v, ps->v.class_id, err);
        case SUIT_PARAM_IMAGE_DIGEST:
                ps->digest = true;
                return decode_image_digest(what, v, ps->v.digest, err);
        case SUIT_PARAM_IMAGE_SIZE:
                ps->size = true;
                if (!cbor_isa_uint(v))
                        return alder_error_set(err, EBADMSG, "%s: expected an unsigned integer, got %s", what,
                                               alder_cbor_type_name(v));
                ps->v.size = cbor_get_int(v);
                return 0;
        case SUIT_PARAM_URI:
                ps->uri = true;
                return decode_uri(what, v, ps->v.uri, err);
        case SUIT_PARAM_SOFT_FAILURE:
                ps->soft = true;
                return decode_bool(what, v, &ps->soft_value, err);
        case SUIT_PARAM_STRICT_ORDER: {
                bool ignored; /* commands always run in order here */
                return decode_bool(what, v, &ignored, err);
        }
        default:
                return alder_error_set(err, ENOTSUP,
                                       "%s: override-parameters: parameter %lld (%s) is not supported by this profile",
                                       s->section, (long long) key, parameter_name(key));
        }
}

static int decode_parameters(const struct seq *s, const cbor_item_t *arg, struct param_set *ps, alder_error **err)
{
        *ps = (struct param_set){0};
        if (!cbor_isa_map(arg) || cbor_map_size(arg) == 0 || cbor_map_size(arg) > MAX_PARAMETERS)
                return alder_error_set(err, EBADMSG, "%s: override-parameters: expected a map of 1 to %d parameters",
                                       s->section, MAX_PARAMETERS);
        struct cbor_pair *pairs = cbor_map_handle(arg);
        for (size_t i = 0; i < cbor_map_size(arg); i++) {
                int64_t key;
                if (!alder_cbor_get_int64(pairs[i].key, &key))
                        return alder_error_set(err, EBADMSG, "%s: override-parameters: keys must be integers",
                                               s->section);
                int r = decode_parameter(s, key, pairs[i].value, ps, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void apply_parameters(struct params *p, const struct param_set *ps)
{
#define APPLY(flag, has, field)                                            \
        do {                                                               \
                if (ps->flag) {                                            \
                        p->has = true;                                     \
                        memcpy(&p->field, &ps->v.field, sizeof(p->field)); \
                }                                                          \
        } while (0)
        APPLY(vendor, has_vendor, vendor);
        APPLY(class_id, has_class, class_id);
        APPLY(digest, has_digest, digest);
        APPLY(size, has_size, size);
        APPLY(uri, has_uri, uri);
#undef APPLY
}

/* ---- commands -------------------------------------------------------------------------------- */

/* What a command does to one component; `arg` is the command's (decoded) argument. */
typedef int (*component_fn)(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err);

/*
 * Runs fn once for each selected component: set-component-index takes an
 * integer, an array or true (the draft's "Special Cases of Component Index").
 */
static int for_each_component(struct machine *m, struct seq *s, int64_t code, const void *arg, component_fn fn,
                              alder_error **err)
{
        if (s->count == 0)
                return alder_error_set(err, EBADMSG,
                                       "%s: %s before set-component-index (the manifest has %zu components)",
                                       s->section, command_name(code), m->n);
        for (size_t k = 0; k < s->count; k++) {
                int r = fn(m, s, s->index[k], arg, err);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int set_component_index(struct machine *m, struct seq *s, const cbor_item_t *arg, alder_error **err)
{
        const cbor_item_t *const *items = &arg;
        size_t n = 1;
        if (cbor_is_bool(arg) && cbor_get_bool(arg)) {
                s->count = m->n;
                for (size_t i = 0; i < m->n; i++)
                        s->index[i] = (uint8_t) i;
                return 0;
        }
        if (cbor_isa_array(arg)) {
                items = (const cbor_item_t *const *) cbor_array_handle(arg);
                n = cbor_array_size(arg);
        }
        if (n == 0 || n > m->n)
                return alder_error_set(err, EBADMSG, "%s: set-component-index: expected 1 to %zu indices", s->section,
                                       m->n);
        for (size_t i = 0; i < n; i++) {
                if (!cbor_isa_uint(items[i]) || cbor_get_int(items[i]) >= m->n)
                        return alder_error_set(err, EBADMSG,
                                               "%s: set-component-index: expected an index below %zu, an array of "
                                               "them or true",
                                               s->section, m->n);
                s->index[i] = (uint8_t) cbor_get_int(items[i]);
        }
        s->count = n;
        return 0;
}

static int override_one(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err)
{
        apply_parameters(&m->st.params[i], arg);
        return 0;
}

static int override_parameters(struct machine *m, struct seq *s, const cbor_item_t *arg, alder_error **err)
{
        struct param_set ps;
        int r = decode_parameters(s, arg, &ps, err);
        if (r < 0)
                return r;
        if (ps.soft) {
                if (s->depth == 0)
                        return alder_error_set(err, EBADMSG,
                                               "%s: soft-failure may only be set inside try-each or run-sequence",
                                               s->section);
                s->soft = ps.soft_value;
        }
        if (!(ps.vendor || ps.class_id || ps.digest || ps.size || ps.uri))
                return 0;
        return for_each_component(m, s, SUIT_CMD_OVERRIDE_PARAMETERS, &ps, override_one, err);
}

/* check-vendor-identifier / check-class-identifier against what the device expects. */
static int check_identifier(struct machine *m, struct seq *s, size_t i, bool vendor, alder_error **err)
{
        struct target t = target_of(m, i);
        const struct params *p = t.p;
        const char *cond = vendor ? "check-vendor-identifier" : "check-class-identifier";
        const char *param = vendor ? "vendor-id" : "class-id";
        const uint8_t *have = vendor ? p->vendor : p->class_id;
        bool check = m->expect && (vendor ? m->expect->check_vendor_id : m->expect->check_class_id);
        const uint8_t *want = m->expect ? (vendor ? m->expect->vendor_id : m->expect->class_id) : NULL;
        if (!(vendor ? p->has_vendor : p->has_class))
                return cond_fail(m, ENODATA, err, "%s: condition %s failed: %s has no %s parameter", s->section, cond,
                                 t.name, param);
        if (check && memcmp(have, want, ALDER_SUIT_UUID_SIZE) != 0) {
                char a[ALDER_UUID_STRING_LEN + 1], b[ALDER_UUID_STRING_LEN + 1];
                alder_uuid_format(have, a);
                alder_uuid_format(want, b);
                return cond_fail(m, ENODEV, err,
                                 "%s: condition %s failed: %s: the manifest's %s %s is not this device's %s",
                                 s->section, cond, t.name, param, a, b);
        }
        bool *checked = vendor ? &m->st.vendor_checked : &m->st.class_checked;
        if (!*checked)
                memcpy(vendor ? m->st.vendor : m->st.class_id, have, ALDER_SUIT_UUID_SIZE);
        *checked = true;
        return 0;
}

static int check_vendor(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err)
{
        return check_identifier(m, s, i, true, err);
}

static int check_class(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err)
{
        return check_identifier(m, s, i, false, err);
}

/* Records the size in effect; two different sizes for one image is a broken manifest. */
static int record_size(struct machine *m, struct seq *s, size_t i, alder_error **err)
{
        struct target t = target_of(m, i);
        if (!t.p->has_size)
                return 0;
        if (t.rec->has_size && t.rec->size != t.p->size)
                return alder_error_set(err, EBADMSG, "%s: %s has conflicting image sizes", s->section, t.name);
        t.rec->has_size = true;
        t.rec->size = t.p->size;
        return 0;
}

static int image_match(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err)
{
        struct target t = target_of(m, i);
        if (!t.p->has_digest)
                return cond_fail(m, ENODATA, err,
                                 "%s: condition condition-image-match failed: %s has no image-digest "
                                 "parameter",
                                 s->section, t.name);
        if (t.rec->image_match && memcmp(t.rec->digest, t.p->digest, ALDER_SUIT_DIGEST_SIZE) != 0)
                return alder_error_set(err, EBADMSG, "%s: %s has conflicting image digests", s->section, t.name);
        t.rec->image_match = true;
        memcpy(t.rec->digest, t.p->digest, ALDER_SUIT_DIGEST_SIZE);
        return record_size(m, s, i, err);
}

static int condition_abort(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err)
{
        return cond_fail(m, ECANCELED, err, "%s: condition condition-abort failed", s->section);
}

static int fetch(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err)
{
        struct target t = target_of(m, i);
        if (!t.p->has_uri)
                return alder_error_set(err, ENODATA, "%s: fetch: %s has no uri parameter", s->section, t.name);
        if (t.rec->fetch && strcmp(t.rec->uri, t.p->uri) != 0)
                return alder_error_set(err, EBADMSG, "%s: %s is fetched from two different URIs", s->section, t.name);
        t.rec->fetch = true;
        memcpy(t.rec->uri, t.p->uri, sizeof(t.rec->uri));
        return record_size(m, s, i, err);
}

static int exec_sequence(struct machine *m, struct seq *s, const cbor_item_t *bstr, alder_error **err);

/* Runs a nested sequence for component i; *soft tells how it ended (its soft-failure value). */
static int run_nested(struct machine *m, const struct seq *parent, size_t i, const cbor_item_t *bstr, bool soft_default,
                      bool *soft, alder_error **err)
{
        if (parent->depth >= MAX_NESTING)
                return alder_error_set(err, E2BIG, "%s: try-each/run-sequence nested deeper than %d levels",
                                       parent->section, MAX_NESTING);
        struct seq child = {
                .section = parent->section,
                .depth = parent->depth + 1,
                .soft = soft_default,
                .side_effects = parent->side_effects,
                .count = 1,
                .index = {(uint8_t) i},
        };
        int r = exec_sequence(m, &child, bstr, err);
        *soft = child.soft;
        return r;
}

static int check_try_each(const struct seq *s, const cbor_item_t *arg, alder_error **err)
{
        size_t n = cbor_isa_array(arg) ? cbor_array_size(arg) : 0;
        if (n == 0 || n > MAX_TRY_EACH)
                return alder_error_set(err, EBADMSG, "%s: try-each: expected an array of 1 to %d sequences", s->section,
                                       MAX_TRY_EACH);
        for (size_t k = 0; k < n; k++) {
                const cbor_item_t *alt = cbor_array_handle(arg)[k];
                if (!cbor_isa_bytestring(alt) && !(k == n - 1 && cbor_is_null(alt)))
                        return alder_error_set(err, EBADMSG,
                                               "%s: try-each[%zu]: expected a bstr-wrapped sequence (or nil last)",
                                               s->section, k);
        }
        return 0;
}

static int try_each(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err)
{
        const cbor_item_t *alts = arg;
        struct state saved = m->st;
        for (size_t k = 0; k < cbor_array_size(alts); k++) {
                const cbor_item_t *alt = cbor_array_handle(alts)[k];
                bool soft = false;
                if (cbor_is_null(alt))
                        return 0; /* an empty sequence: always succeeds */
                int r = run_nested(m, s, i, alt, true, &soft, err);
                if (r <= 0)
                        return r;
                if (!soft)
                        return COND_FAILED; /* the sequence made its failure hard */
                m->st = saved;
        }
        (void) alder_error_wrap(err, "%s: try-each: every sequence failed", s->section);
        return COND_FAILED;
}

static int run_sequence(struct machine *m, struct seq *s, size_t i, const void *arg, alder_error **err)
{
        struct state saved = m->st;
        bool soft = false;
        int r = run_nested(m, s, i, (const cbor_item_t *) arg, false, &soft, err);
        if (r != COND_FAILED || !soft)
                return r;
        /* Soft failure: the sequence halts without side effects and the caller goes on. */
        m->st = saved;
        alder_error_clear(err);
        return 0;
}

static int check_policy(const struct seq *s, int64_t code, const cbor_item_t *arg, alder_error **err)
{
        if (!cbor_isa_uint(arg))
                return alder_error_set(err, EBADMSG, "%s: %s: expected a reporting policy (unsigned integer), got %s",
                                       s->section, command_name(code), alder_cbor_type_name(arg));
        return 0;
}

/* Conditions, and fetch: commands on each selected component with a reporting policy. */
static component_fn condition_fn(int64_t code)
{
        switch (code) {
        case SUIT_CMD_VENDOR_ID:
                return check_vendor;
        case SUIT_CMD_CLASS_ID:
                return check_class;
        case SUIT_CMD_IMAGE_MATCH:
                return image_match;
        case SUIT_CMD_ABORT:
                return condition_abort;
        case SUIT_CMD_FETCH:
                return fetch;
        default:
                return NULL;
        }
}

static int exec_command(struct machine *m, struct seq *s, int64_t code, const cbor_item_t *arg, alder_error **err)
{
        int r;
        /* The shared sequence may only set parameters and check conditions (the draft's suit-common). */
        if (code == SUIT_CMD_FETCH && !s->side_effects)
                return alder_error_set(err, EBADMSG, "%s: fetch is not allowed in the shared sequence", s->section);
        switch (code) {
        case SUIT_CMD_SET_COMPONENT_INDEX:
                return set_component_index(m, s, arg, err);
        case SUIT_CMD_OVERRIDE_PARAMETERS:
                return override_parameters(m, s, arg, err);
        case SUIT_CMD_TRY_EACH:
                r = check_try_each(s, arg, err);
                return r < 0 ? r : for_each_component(m, s, code, arg, try_each, err);
        case SUIT_CMD_RUN_SEQUENCE:
                return for_each_component(m, s, code, arg, run_sequence, err);
        case SUIT_CMD_FETCH:
        case SUIT_CMD_VENDOR_ID:
        case SUIT_CMD_CLASS_ID:
        case SUIT_CMD_IMAGE_MATCH:
        case SUIT_CMD_ABORT:
                r = check_policy(s, code, arg, err);
                return r < 0 ? r : for_each_component(m, s, code, arg, condition_fn(code), err);
        default:
                return alder_error_set(err, ENOTSUP, "%s: command %lld (%s) is not supported by this profile",
                                       s->section, (long long) code, command_name(code));
        }
}

static int exec_sequence(struct machine *m, struct seq *s, const cbor_item_t *bstr, alder_error **err)
{
        _cleanup_cbor_ cbor_item_t *cmds = NULL;
        int r = decode_sequence(s->section, bstr, &cmds, err);
        if (r < 0)
                return r;
        cbor_item_t **v = cbor_array_handle(cmds);
        for (size_t i = 0; i < cbor_array_size(cmds); i += 2) {
                int64_t code;
                if (!alder_cbor_get_int64(v[i], &code))
                        return alder_error_set(err, EBADMSG,
                                               "%s: command %zu: expected an integer command code, got %s", s->section,
                                               i / 2, alder_cbor_type_name(v[i]));
                if (++m->steps > MAX_STEPS)
                        return alder_error_set(err, E2BIG, "%s: more than %d commands executed", s->section, MAX_STEPS);
                r = exec_command(m, s, code, v[i + 1], err);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* ---- manifest structure ---------------------------------------------------------------------- */

/* The members of a manifest (items borrowed from its decoded tree or the envelope's). */
struct manifest {
        uint64_t sequence_number;
        bool has_version, has_sequence;
        const cbor_item_t *common;
        const cbor_item_t *shared; /* inside the decoded common */
        const cbor_item_t *validate, *load, *invoke, *payload_fetch, *install, *text;
};

/* A severable member: inline bstr, or a SUIT_Digest of the element the envelope carries. */
static int resolve_severable(const char *name, const cbor_item_t *v, const cbor_item_t *severed, bool optional,
                             const cbor_item_t **ret, alder_error **err)
{
        if (cbor_isa_bytestring(v)) {
                *ret = v;
                return 0;
        }
        char what[64];
        snprintf(what, sizeof(what), "manifest: %s digest", name);
        uint8_t want[ALDER_SUIT_DIGEST_SIZE], have[ALDER_SUIT_DIGEST_SIZE];
        int r = suit_decode_digest(what, v, want, err);
        if (r < 0)
                return r;
        if (!severed) {
                if (optional)
                        return 0;
                return alder_error_set(err, EBADMSG, "manifest: %s is severed and not in the envelope", name);
        }
        r = suit_digest_bstr(cbor_bytestring_handle(severed), cbor_bytestring_length(severed), have, err);
        if (r < 0)
                return r;
        if (memcmp(want, have, sizeof(want)) != 0)
                return alder_error_set(err, EKEYREJECTED,
                                       "manifest: %s: the envelope's element does not match its digest", name);
        *ret = severed;
        return 0;
}

static int manifest_uint(const char *name, const cbor_item_t *v, uint64_t *ret, alder_error **err)
{
        if (!cbor_isa_uint(v))
                return alder_error_set(err, EBADMSG, "manifest: %s: expected an unsigned integer, got %s", name,
                                       alder_cbor_type_name(v));
        *ret = cbor_get_int(v);
        return 0;
}

static int manifest_bstr(const char *name, const cbor_item_t *v, const cbor_item_t **ret, alder_error **err)
{
        if (!cbor_isa_bytestring(v))
                return alder_error_set(err, EBADMSG, "manifest: %s: expected a byte string, got %s", name,
                                       alder_cbor_type_name(v));
        *ret = v;
        return 0;
}

static int manifest_member(struct manifest *mf, int64_t key, const cbor_item_t *v, const struct suit_severed *sev,
                           alder_error **err)
{
        uint64_t version = 0;
        int r;
        switch (key) {
        case SUIT_MANIFEST_VERSION:
                r = manifest_uint("suit-manifest-version", v, &version, err);
                if (r == 0 && version != 1)
                        r = alder_error_set(err, ENOTSUP,
                                            "manifest: suit-manifest-version %llu is not supported (expected 1)",
                                            (unsigned long long) version);
                mf->has_version = true;
                return r;
        case SUIT_MANIFEST_SEQUENCE:
                mf->has_sequence = true;
                return manifest_uint("suit-manifest-sequence-number", v, &mf->sequence_number, err);
        case SUIT_MANIFEST_COMMON:
                return manifest_bstr("common", v, &mf->common, err);
        case SUIT_MANIFEST_REFERENCE_URI:
                return cbor_isa_string(v)
                               ? 0
                               : alder_error_set(err, EBADMSG, "manifest: reference-uri: expected a text string");
        case SUIT_MANIFEST_VALIDATE:
                return manifest_bstr("validate", v, &mf->validate, err);
        case SUIT_MANIFEST_LOAD:
                return manifest_bstr("load", v, &mf->load, err);
        case SUIT_MANIFEST_INVOKE:
                return manifest_bstr("invoke", v, &mf->invoke, err);
        case SUIT_MANIFEST_PAYLOAD_FETCH:
                return resolve_severable("payload-fetch", v, sev->payload_fetch, false, &mf->payload_fetch, err);
        case SUIT_MANIFEST_INSTALL:
                return resolve_severable("install", v, sev->install, false, &mf->install, err);
        case SUIT_MANIFEST_TEXT:
                return resolve_severable("text", v, sev->text, true, &mf->text, err);
        default:
                return alder_error_set(err, ENOTSUP, "manifest: unknown key %lld", (long long) key);
        }
}

/* An element in the envelope must be the one a manifest digest names (or it could be anything). */
static int check_severed_used(const struct manifest *mf, const struct suit_severed *sev, alder_error **err)
{
        if (sev->payload_fetch && mf->payload_fetch != sev->payload_fetch)
                return alder_error_set(err, EBADMSG, "SUIT envelope: payload-fetch: no digest of it in the manifest");
        if (sev->install && mf->install != sev->install)
                return alder_error_set(err, EBADMSG, "SUIT envelope: install: no digest of it in the manifest");
        if (sev->text && mf->text != sev->text)
                return alder_error_set(err, EBADMSG, "SUIT envelope: text: no digest of it in the manifest");
        return 0;
}

static int parse_manifest(const cbor_item_t *root, const struct suit_severed *sev, struct manifest *mf,
                          alder_error **err)
{
        *mf = (struct manifest){0};
        if (!cbor_isa_map(root))
                return alder_error_set(err, EBADMSG, "manifest: expected a map, got %s", alder_cbor_type_name(root));
        struct cbor_pair *pairs = cbor_map_handle(root);
        for (size_t i = 0; i < cbor_map_size(root); i++) {
                int64_t key;
                if (!alder_cbor_get_int64(pairs[i].key, &key))
                        return alder_error_set(err, EBADMSG, "manifest: keys must be integers, got %s",
                                               alder_cbor_type_name(pairs[i].key));
                int r = manifest_member(mf, key, pairs[i].value, sev, err);
                if (r < 0)
                        return r;
        }
        if (!mf->has_version)
                return alder_error_set(err, EBADMSG, "manifest: no suit-manifest-version (key 1)");
        if (!mf->has_sequence)
                return alder_error_set(err, EBADMSG, "manifest: no suit-manifest-sequence-number (key 2)");
        if (!mf->common)
                return alder_error_set(err, EBADMSG, "manifest: no common (key 3)");
        return check_severed_used(mf, sev, err);
}

static int parse_components(struct machine *m, const cbor_item_t *v, alder_error **err)
{
        size_t n = cbor_isa_array(v) ? cbor_array_size(v) : 0;
        if (n == 0 || n > ALDER_SUIT_MAX_COMPONENTS)
                return alder_error_set(err, n ? E2BIG : EBADMSG,
                                       "manifest: common: components: expected 1 to %d "
                                       "component identifiers",
                                       ALDER_SUIT_MAX_COMPONENTS);
        for (size_t i = 0; i < n; i++) {
                char what[64];
                snprintf(what, sizeof(what), "manifest: common: component %zu", i);
                int r = decode_component_id(what, cbor_array_handle(v)[i], &m->ids[i], err);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (suit_component_id_equal(&m->ids[i], &m->ids[j]))
                                return alder_error_set(err, EBADMSG,
                                                       "manifest: common: components %zu and %zu have the same "
                                                       "identifier",
                                                       j, i);
        }
        m->n = n;
        return 0;
}

static int parse_common(struct machine *m, const cbor_item_t *common, const cbor_item_t **shared, alder_error **err)
{
        *shared = NULL;
        if (!cbor_isa_map(common))
                return alder_error_set(err, EBADMSG, "manifest: common: expected a map, got %s",
                                       alder_cbor_type_name(common));
        struct cbor_pair *pairs = cbor_map_handle(common);
        for (size_t i = 0; i < cbor_map_size(common); i++) {
                int64_t key = INT64_MIN;
                int r = 0;
                (void) alder_cbor_get_int64(pairs[i].key, &key);
                if (key == SUIT_COMMON_COMPONENTS)
                        r = parse_components(m, pairs[i].value, err);
                else if (key == SUIT_COMMON_SHARED_SEQUENCE)
                        *shared = pairs[i].value;
                else if (key == SUIT_COMMON_DEPENDENCIES)
                        r = alder_error_set(err, ENOTSUP, "manifest: common: dependencies are not supported");
                else if (key == INT64_MIN)
                        r = alder_error_set(err, EBADMSG, "manifest: common: keys must be integers");
                else
                        r = alder_error_set(err, ENOTSUP, "manifest: common: unknown key %lld", (long long) key);
                if (r < 0)
                        return r;
        }
        if (m->n == 0)
                return alder_error_set(err, EBADMSG, "manifest: common: no components (key 2)");
        return 0;
}

/* load and invoke are not run here (starting apps is not SUIT's job in Alder) but must be well-formed. */
static int check_unexecuted(const char *section, const cbor_item_t *bstr, alder_error **err)
{
        _cleanup_cbor_ cbor_item_t *seq = NULL;
        return bstr ? decode_sequence(section, bstr, &seq, err) : 0;
}

/* ---- text ------------------------------------------------------------------------------------ */

/* Informational text: control characters become spaces, overlong text is cut at a UTF-8 boundary. */
static void copy_text(const cbor_item_t *v, char out[ALDER_SUIT_MAX_TEXT + 1])
{
        size_t len = cbor_string_length(v);
        const unsigned char *p = cbor_string_handle(v);
        if (len > ALDER_SUIT_MAX_TEXT) {
                len = ALDER_SUIT_MAX_TEXT;
                while (len > 0 && (p[len] & 0xc0) == 0x80)
                        len--;
        }
        for (size_t i = 0; i < len; i++)
                out[i] = p[i] < 0x20 || p[i] == 0x7f ? ' ' : (char) p[i];
        out[len] = '\0';
}

static int text_value(const char *what, const cbor_item_t *v, char out[ALDER_SUIT_MAX_TEXT + 1], alder_error **err)
{
        if (!cbor_isa_string(v))
                return alder_error_set(err, EBADMSG, "manifest: text: %s: expected a text string, got %s", what,
                                       alder_cbor_type_name(v));
        copy_text(v, out);
        return 0;
}

static int component_text(const struct machine *m, const cbor_item_t *key, const cbor_item_t *map,
                          struct alder_suit_result *res, alder_error **err)
{
        struct alder_suit_component_id id;
        int r = decode_component_id("manifest: text: component", key, &id, err);
        if (r < 0)
                return r;
        size_t i = 0;
        while (i < m->n && !suit_component_id_equal(&id, &m->ids[i]))
                i++;
        if (i == m->n)
                return alder_error_set(err, EBADMSG, "manifest: text: a component that is not in the manifest");
        if (!cbor_isa_map(map))
                return alder_error_set(err, EBADMSG, "manifest: text: component %zu: expected a map", i);
        struct cbor_pair *pairs = cbor_map_handle(map);
        for (size_t k = 0; r == 0 && k < cbor_map_size(map); k++) {
                int64_t label = 0;
                (void) alder_cbor_get_int64(pairs[k].key, &label);
                if (label == SUIT_TEXT_COMPONENT_DESCRIPTION)
                        r = text_value("component description", pairs[k].value, res->components[i].description, err);
                else if (label == SUIT_TEXT_COMPONENT_VERSION)
                        r = text_value("component version", pairs[k].value, res->components[i].version, err);
        }
        return r;
}

/* The language map to read: "en" when present, else the first. */
static const cbor_item_t *pick_language(const cbor_item_t *text)
{
        struct cbor_pair *pairs = cbor_map_handle(text);
        for (size_t i = 0; i < cbor_map_size(text); i++)
                if (cbor_string_length(pairs[i].key) == 2 && memcmp(cbor_string_handle(pairs[i].key), "en", 2) == 0)
                        return pairs[i].value;
        return pairs[0].value;
}

static int check_languages(const cbor_item_t *text, alder_error **err)
{
        size_t n = cbor_isa_map(text) ? cbor_map_size(text) : 0;
        if (n == 0 || n > MAX_LANGUAGES)
                return alder_error_set(err, EBADMSG, "manifest: text: expected a map of 1 to %d languages",
                                       MAX_LANGUAGES);
        for (size_t i = 0; i < n; i++) {
                struct cbor_pair *p = &cbor_map_handle(text)[i];
                if (!cbor_isa_string(p->key) || !cbor_isa_map(p->value))
                        return alder_error_set(err, EBADMSG, "manifest: text: expected language tag => map");
        }
        return 0;
}

static int parse_text(const struct machine *m, const cbor_item_t *bstr, struct alder_suit_result *res,
                      alder_error **err)
{
        _cleanup_cbor_ cbor_item_t *text = NULL;
        int r = alder_cbor_decode("manifest: text", cbor_bytestring_handle(bstr), cbor_bytestring_length(bstr), &text,
                                  err);
        if (r == 0)
                r = check_languages(text, err);
        if (r < 0)
                return r;
        const cbor_item_t *lmap = pick_language(text);
        struct cbor_pair *pairs = cbor_map_handle(lmap);
        for (size_t i = 0; r == 0 && i < cbor_map_size(lmap); i++) {
                int64_t label;
                if (cbor_isa_array(pairs[i].key))
                        r = component_text(m, pairs[i].key, pairs[i].value, res, err);
                else if (!alder_cbor_get_int64(pairs[i].key, &label))
                        r = alder_error_set(err, EBADMSG, "manifest: text: keys must be integers or component ids");
                else if (label == SUIT_TEXT_MANIFEST_DESCRIPTION)
                        r = text_value("manifest description", pairs[i].value, res->description, err);
        }
        return r;
}

/* ---- the update procedure -------------------------------------------------------------------- */

static struct seq section_seq(const struct machine *m, const char *name, bool side_effects)
{
        /* With one component, commands apply to it without a set-component-index (the draft's "Required Checks"). */
        struct seq s = {.section = name, .side_effects = side_effects, .count = m->n == 1 ? 1 : 0};
        return s;
}

/* A top-level sequence: a failed condition there is final. */
static int run_top(struct machine *m, struct seq *s, const cbor_item_t *bstr, alder_error **err)
{
        int r = exec_sequence(m, s, bstr, err);
        return r == COND_FAILED ? -m->cond_errno : r;
}

/* One section of the update procedure, preceded by the shared sequence with fresh parameters. */
static int run_section(struct machine *m, const cbor_item_t *shared, const char *name, const cbor_item_t *section,
                       alder_error **err)
{
        memset(m->st.params, 0, sizeof(m->st.params));
        int r = 0;
        if (shared) {
                struct seq s = section_seq(m, "shared sequence", false);
                r = run_top(m, &s, shared, err);
        }
        if (r == 0 && section) {
                struct seq s = section_seq(m, name, true);
                r = run_top(m, &s, section, err);
        }
        return r;
}

static int run_update_procedure(struct machine *m, const struct manifest *mf, alder_error **err)
{
        const struct {
                const char *name;
                const cbor_item_t *seq;
        } sections[] = {
                {"payload-fetch", mf->payload_fetch},
                {"install", mf->install},
                {"validate", mf->validate},
        };
        bool ran = false;
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(sections); i++) {
                if (!sections[i].seq)
                        continue;
                int r = run_section(m, mf->shared, sections[i].name, sections[i].seq, err);
                if (r < 0)
                        return r;
                ran = true;
        }
        int r = ran ? 0 : run_section(m, mf->shared, NULL, NULL, err);
        if (r < 0)
                return r;
        if (!m->st.vendor_checked)
                return alder_error_set(err, EBADMSG,
                                       "manifest: no check-vendor-identifier condition (the profile "
                                       "requires one)");
        if (!m->st.class_checked)
                return alder_error_set(err, EBADMSG,
                                       "manifest: no check-class-identifier condition (the profile "
                                       "requires one)");
        return 0;
}

static void fill_result(const struct machine *m, const struct manifest *mf, struct alder_suit_result *res)
{
        res->sequence_number = mf->sequence_number;
        memcpy(res->vendor_id, m->st.vendor, ALDER_SUIT_UUID_SIZE);
        memcpy(res->class_id, m->st.class_id, ALDER_SUIT_UUID_SIZE);
        res->n_components = m->n;
        for (size_t i = 0; i < m->n; i++) {
                struct alder_suit_result_component *c = &res->components[i];
                const struct record *rec = &m->st.rec[i];
                c->id = m->ids[i];
                c->image_match = rec->image_match;
                memcpy(c->digest, rec->digest, ALDER_SUIT_DIGEST_SIZE);
                c->has_size = rec->has_size;
                c->size = rec->size;
                c->fetch = rec->fetch;
                memcpy(c->uri, rec->uri, sizeof(c->uri));
        }
}

static int interpret(struct machine *m, const cbor_item_t *root, const struct suit_severed *sev,
                     struct alder_suit_result *res, alder_error **err)
{
        struct manifest mf;
        _cleanup_cbor_ cbor_item_t *common = NULL;
        int r = parse_manifest(root, sev, &mf, err);
        if (r == 0)
                r = alder_cbor_decode("manifest: common", cbor_bytestring_handle(mf.common),
                                      cbor_bytestring_length(mf.common), &common, err);
        if (r == 0)
                r = parse_common(m, common, &mf.shared, err);
        if (r == 0)
                r = check_unexecuted("load", mf.load, err);
        if (r == 0)
                r = check_unexecuted("invoke", mf.invoke, err);
        if (r == 0)
                r = run_update_procedure(m, &mf, err);
        if (r == 0 && mf.text)
                r = parse_text(m, mf.text, res, err);
        if (r == 0)
                fill_result(m, &mf, res);
        return r;
}

int suit_manifest_interpret(const uint8_t *manifest, size_t len, const struct suit_severed *severed,
                            const struct alder_suit_expect *expect, struct alder_suit_result *ret, alder_error **err)
{
        static const struct suit_severed none;
        _cleanup_cbor_ cbor_item_t *root = NULL;
        int r = alder_cbor_decode("manifest", manifest, len, &root, err);
        if (r < 0)
                return r;
        struct machine *m = calloc(1, sizeof(*m));
        if (!m)
                return alder_error_set(err, ENOMEM, "manifest: out of memory");
        m->expect = expect;
        r = interpret(m, root, severed ? severed : &none, ret, err);
        free(m);
        return r;
}
