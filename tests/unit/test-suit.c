/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alder-test.h"
#include "keys-test.h"

#include "alder/cbor-util.h"
#include "alder/digest.h"
#include "alder/suit.h"
#include "suit-internal.h"

/*
 * draft-ietf-suit-manifest, Appendix B: the key that signed the examples,
 * and the examples' envelopes (with their COSE authentication objects).
 */
static const char draft_key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                                    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgApZYjZCUGLM50VBC\n"
                                    "CjYStX+09jGmnyJPrpDLTz/hiXOhRANCAASEloEarguqq9JhVxie7NomvqqL8Rtv\n"
                                    "P+bitWWchdvArTsfKktsCYExwKNtrNHXi9OB3N+wnAUtszmR23M4tKiW\n"
                                    "-----END PRIVATE KEY-----\n";

/* Example 0: secure boot (validate + invoke, no install). */
static const char example0_hex[] =
        "d86ba2025873825824822f58206658ea560262696dd1f13b782239a064da7c6c5cbaf52fded428a6fc83c7e5af584ad28443a101"
        "26a0f6584056acf3c133338f558bbbac1e73a62bffac2a0067d0f7a2e860e20b9119a61d964af04fb56c2c7618d3d74558c14f5d"
        "af7cafa8771b34ec42160f5c94250a57eb035871a50101020003585fa202818141000458568614a40150fa6b4a53d5ad5fdfbe9d"
        "e663e4d41ffe02501492af1425695e48bf429b2d51f2ab45035824822f582000112233445566778899aabbccddeeff0123456789"
        "abcdeffedcba98765432100e1987d0010f020f074382030f0943821702";

/* Example 1: simultaneous download and installation of a payload. */
static const char example1_hex[] =
        "d86ba2025873825824822f58201f2e7acca0dc2786f2fe4eb947f50873a6a3cfaa98866c5b02e621f42074daf2584ad28443a101"
        "26a0f658404f3881a2258e17ac55342aba9d7134bb2ee1eee2a7d99191b1c99b5d73364416b8f452d17cc6bd74a66cd168b91761"
        "50d737c8eda2b3a277664fde7671cb60f0035894a50101020103585fa202818141000458568614a40150fa6b4a53d5ad5fdfbe9d"
        "e663e4d41ffe02501492af1425695e48bf429b2d51f2ab45035824822f582000112233445566778899aabbccddeeff0123456789"
        "abcdeffedcba98765432100e1987d0010f020f074382030f1458258614a115781b687474703a2f2f6578616d706c652e636f6d2f"
        "66696c652e62696e1502030f";

/* Example 1's manifest and SUIT_Digest, as they stand in its envelope. */
static const char example1_manifest_hex[] =
        "a50101020103585fa202818141000458568614a40150fa6b4a53d5ad5fdfbe9de663e4d41ffe02501492af1425695e48bf429b2d"
        "51f2ab45035824822f582000112233445566778899aabbccddeeff0123456789abcdeffedcba98765432100e1987d0010f020f07"
        "4382030f1458258614a115781b687474703a2f2f6578616d706c652e636f6d2f66696c652e62696e1502030f";
static const char example1_digest_hex[] = "822f58201f2e7acca0dc2786f2fe4eb947f50873a6a3cfaa98866c5b02e621f42074daf2";

/*
 * Example 5's manifest (two images), with its install sequence under key 20:
 * the published example still used the interim key 17 there.
 */
static const char example5_manifest_hex[] =
        "a601010205035895a202828141008141010458898c0c0014a40150fa6b4a53d5ad5fdfbe9de663e4d41ffe02501492af1425695e"
        "48bf429b2d51f2ab45035824822f582000112233445566778899aabbccddeeff0123456789abcdeffedcba98765432100e1987d0"
        "010f020f0c0114a2035824822f58200123456789abcdeffedcba987654321000112233445566778899aabbccddeeff0e1a00012c"
        "220749880c00030f0c01030f0945840c00170214584f900c0014a115781c687474703a2f2f6578616d706c652e636f6d2f66696c"
        "65312e62696e1502030f0c0114a115781c687474703a2f2f6578616d706c652e636f6d2f66696c65322e62696e1502030f";

#define EX_VENDOR   "fa6b4a53d5ad5fdfbe9de663e4d41ffe"
#define EX_CLASS    "1492af1425695e48bf429b2d51f2ab45"
#define EX_DIGEST_A "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"
#define EX_DIGEST_B "0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff"

static void hex_to(const char *hex, uint8_t *out, size_t len)
{
        assert_int_equal(strlen(hex), 2 * len);
        assert_int_equal(alder_hex_decode(hex, out, len), 0);
}

static struct test_buf finish(struct alder_cbor_writer *w)
{
        _cleanup_error_ alder_error *err = NULL;
        struct test_buf b = {0};
        if (alder_cbor_writer_finish(w, "test", &b.data, &b.len, &err) < 0)
                fail_msg("%s", alder_error_message(err));
        return b;
}

static void put_hex(struct alder_cbor_writer *w, const char *hex)
{
        _cleanup_test_buf_ struct test_buf b = test_from_hex(hex);
        alder_cbor_put_raw(w, b.data, b.len);
}

static void put_wrapped_hex(struct alder_cbor_writer *w, const char *hex)
{
        _cleanup_test_buf_ struct test_buf b = test_from_hex(hex);
        alder_cbor_put_bytes(w, b.data, b.len);
}

/* "<hex of the bstr wrapping hex>": nested sequences written in hex. */
static char *wrap_hex(const char *hex)
{
        struct alder_cbor_writer w = {0};
        put_wrapped_hex(&w, hex);
        _cleanup_test_buf_ struct test_buf b = finish(&w);
        char *out = malloc(2 * b.len + 1);
        assert_non_null(out);
        alder_hex_encode(b.data, b.len, out);
        return out;
}

static struct alder_suit_result *result_new(void)
{
        struct alder_suit_result *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        return r;
}

/* ---- the draft's examples -------------------------------------------------------------------- */

/* A trust store with a self-signed certificate for the key that signed the draft's examples. */
static alder_trust_store *draft_store(struct test_identity *id)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *dir = test_tmpdir();
        _cleanup_free_ char *path = test_write(dir, "draft.key", draft_key_pem);
        assert_int_equal(alder_key_load_pem(path, &id->key, &err), 0);
        test_rm_rf(dir);
        struct alder_cert_options o = {.common_name = "SUIT draft examples", .days = 1};
        assert_int_equal(alder_cert_create(id->key, &o, &id->cert, &err), 0);
        return test_store_new(id->cert, NULL);
}

static void check_example_component(const struct alder_suit_result_component *c, const char *digest_hex, uint64_t size,
                                    const char *uri)
{
        uint8_t digest[ALDER_SUIT_DIGEST_SIZE];
        hex_to(digest_hex, digest, sizeof(digest));
        assert_true(c->image_match);
        assert_memory_equal(c->digest, digest, sizeof(digest));
        assert_true(c->has_size);
        assert_int_equal(c->size, size);
        assert_int_equal(c->fetch, uri != NULL);
        assert_string_equal(c->uri, uri ? uri : "");
}

static void check_example_ids(const struct alder_suit_result *res)
{
        uint8_t vendor[ALDER_SUIT_UUID_SIZE], class_id[ALDER_SUIT_UUID_SIZE];
        hex_to(EX_VENDOR, vendor, sizeof(vendor));
        hex_to(EX_CLASS, class_id, sizeof(class_id));
        assert_memory_equal(res->vendor_id, vendor, sizeof(vendor));
        assert_memory_equal(res->class_id, class_id, sizeof(class_id));
}

/* The examples' signatures verify with our COSE code, and their manifests interpret. */
static void test_draft_examples_verify(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity id = {0};
        _cleanup_trust_store_ alder_trust_store *store = draft_store(&id);
        const struct {
                const char *hex;
                uint64_t sequence;
                const char *uri;
        } cases[] = {
                {example0_hex, 0, NULL},
                {example1_hex, 1, "http://example.com/file.bin"},
        };
        struct alder_suit_expect expect = {.check_vendor_id = true, .check_class_id = true};
        hex_to(EX_VENDOR, expect.vendor_id, ALDER_SUIT_UUID_SIZE);
        hex_to(EX_CLASS, expect.class_id, ALDER_SUIT_UUID_SIZE);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_test_buf_ struct test_buf env = test_from_hex(cases[i].hex);
                _cleanup_free_ struct alder_suit_result *res = result_new();
                int r = alder_suit_envelope_verify(env.data, env.len, store, &expect, res, &err);
                if (r < 0)
                        fail_msg("example %zu: %s", i, alder_error_message(err));
                assert_int_equal(res->sequence_number, cases[i].sequence);
                assert_string_equal(res->signer.subject, "CN=SUIT draft examples");
                assert_int_equal(res->n_components, 1);
                assert_int_equal(res->components[0].id.n_segments, 1);
                assert_int_equal(res->components[0].id.segments[0].len, 1);
                assert_int_equal(res->components[0].id.segments[0].bytes[0], 0);
                check_example_ids(res);
                check_example_component(&res->components[0], EX_DIGEST_A, 34768, cases[i].uri);
        }
}

/* The spec equivalent to Example 1 (one component, so no set-component-index). */
static void example1_spec(struct alder_suit_spec *spec)
{
        *spec = (struct alder_suit_spec){.sequence_number = 1, .n_components = 1};
        hex_to(EX_VENDOR, spec->vendor_id, ALDER_SUIT_UUID_SIZE);
        hex_to(EX_CLASS, spec->class_id, ALDER_SUIT_UUID_SIZE);
        spec->components[0].id.n_segments = 1;
        spec->components[0].id.segments[0].len = 1; /* h'00' */
        hex_to(EX_DIGEST_A, spec->components[0].digest, ALDER_SUIT_DIGEST_SIZE);
        spec->components[0].size = 34768;
        spec->components[0].uri = "http://example.com/file.bin";
}

static void test_encoder_matches_draft_example1(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_suit_spec spec;
        example1_spec(&spec);
        _cleanup_test_buf_ struct test_buf manifest = {0};
        _cleanup_test_buf_ struct test_buf expected = test_from_hex(example1_manifest_hex);
        assert_int_equal(alder_suit_manifest_encode(&spec, &manifest.data, &manifest.len, &err), 0);
        assert_int_equal(manifest.len, expected.len);
        assert_memory_equal(manifest.data, expected.data, expected.len);

        /* the envelope carries the same SUIT_Digest as the draft's */
        _cleanup_identity_ struct test_identity id = {0};
        _cleanup_trust_store_ alder_trust_store *store = draft_store(&id);
        struct alder_cose_signer signer = {.key = id.key, .cert = id.cert};
        _cleanup_test_buf_ struct test_buf env = {0};
        _cleanup_test_buf_ struct test_buf digest = test_from_hex(example1_digest_hex);
        assert_int_equal(alder_suit_envelope_sign(manifest.data, manifest.len, &signer, &env.data, &env.len, &err), 0);
        assert_non_null(memmem(env.data, env.len, digest.data, digest.len));
        assert_memory_equal(env.data, "\xd8\x6b\xa2\x02", 4);
        _cleanup_free_ struct alder_suit_result *res = result_new();
        assert_int_equal(alder_suit_envelope_verify(env.data, env.len, store, NULL, res, &err), 0);
        assert_memory_equal(res->manifest_digest, digest.data + 4, ALDER_SUIT_DIGEST_SIZE);
}

static void test_sign_refuses_bad_manifest(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity id = test_identity_new("signer", NULL);
        struct alder_cose_signer signer = {.key = id.key, .cert = id.cert};
        _cleanup_test_buf_ struct test_buf m = test_from_hex("a201010201");
        uint8_t *env = NULL;
        size_t len = 0;
        assert_alder_error(alder_suit_envelope_sign(m.data, m.len, &signer, &env, &len, &err), EBADMSG,
                           "sign SUIT manifest: manifest: no common (key 3)");
        assert_null(env);
}

/* Inspecting shows who a signature claims to be; the manifest can be taken out for re-signing. */
static void test_inspect_and_manifest_bytes(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity ca = test_identity_new("CA", NULL);
        _cleanup_identity_ struct test_identity leaf = test_identity_new("CI signer", &ca);
        struct alder_cose_signer signer = {.key = leaf.key, .cert = leaf.cert, .x5chain = true};
        struct alder_suit_spec spec;
        example1_spec(&spec);
        _cleanup_test_buf_ struct test_buf manifest = {0}, env = {0};
        assert_int_equal(alder_suit_manifest_encode(&spec, &manifest.data, &manifest.len, &err), 0);
        assert_int_equal(alder_suit_envelope_sign(manifest.data, manifest.len, &signer, &env.data, &env.len, &err), 0);

        _cleanup_free_ struct alder_suit_result *res = result_new();
        char fp[ALDER_FINGERPRINT_HEX_SIZE];
        test_fingerprint_hex(leaf.cert, fp);
        assert_int_equal(alder_suit_envelope_inspect(env.data, env.len, NULL, res, &err), 0);
        assert_string_equal(res->signer.subject, "CN=CI signer");
        assert_string_equal(res->signer.fingerprint, fp);
        assert_int_equal(res->sequence_number, 1);

        const uint8_t *m = NULL;
        size_t len = 0;
        assert_int_equal(alder_suit_envelope_manifest(env.data, env.len, &m, &len, &err), 0);
        assert_int_equal(len, manifest.len);
        assert_memory_equal(m, manifest.data, len);
        _cleanup_test_buf_ struct test_buf ex1 = test_from_hex(example1_hex);
        _cleanup_test_buf_ struct test_buf ex1_manifest = test_from_hex(example1_manifest_hex);
        assert_int_equal(alder_suit_envelope_manifest(ex1.data, ex1.len, &m, &len, &err), 0);
        assert_int_equal(len, ex1_manifest.len);
        assert_memory_equal(m, ex1_manifest.data, len);
        assert_alder_error(alder_suit_envelope_manifest(ex1.data, ex1.len - 1, &m, &len, &err), EBADMSG,
                           "SUIT envelope: CBOR offset 122: truncated item");
}

static void test_draft_example5_two_images(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_test_buf_ struct test_buf m = test_from_hex(example5_manifest_hex);
        _cleanup_free_ struct alder_suit_result *res = result_new();
        assert_int_equal(suit_manifest_interpret(m.data, m.len, NULL, NULL, res, &err), 0);
        assert_int_equal(res->sequence_number, 5);
        assert_int_equal(res->n_components, 2);
        check_example_ids(res);
        check_example_component(&res->components[0], EX_DIGEST_A, 34768, "http://example.com/file1.bin");
        check_example_component(&res->components[1], EX_DIGEST_B, 76834, "http://example.com/file2.bin");
        assert_int_equal(res->components[1].id.segments[0].bytes[0], 1);
}

/* ---- round trip ------------------------------------------------------------------------------ */

static void app_spec(struct alder_suit_spec *spec)
{
        static const char *const ids[][4] = {
                {"alder", "app", "metadata", NULL},
                {"alder", "app", "rootfs", NULL},
                {"alder", "app", "config", NULL},
        };
        static const char *const uris[] = {"#app.json", "#rootfs.tar.zst", "#config.json"};
        *spec = (struct alder_suit_spec){.sequence_number = 1700000000, .n_components = 3, .description = "hello"};
        memset(spec->vendor_id, 0xa1, ALDER_SUIT_UUID_SIZE);
        memset(spec->class_id, 0xc1, ALDER_SUIT_UUID_SIZE);
        for (size_t i = 0; i < spec->n_components; i++) {
                struct alder_suit_component *c = &spec->components[i];
                assert_int_equal(alder_suit_component_id_from_strings(&c->id, ids[i], NULL), 0);
                memset(c->digest, (int) (0x10 + i), ALDER_SUIT_DIGEST_SIZE);
                c->size = 1000 * (i + 1);
                c->uri = uris[i];
        }
        spec->components[0].description = "hello app";
        spec->components[0].version = "1.2.3";
        spec->components[2].version = "7";
}

struct signed_env {
        struct test_identity id;
        alder_trust_store *store;
        struct test_buf env;
};

static void signed_env_done(struct signed_env *s)
{
        test_identity_done(&s->id);
        alder_trust_store_free(s->store);
        test_buf_done(&s->env);
}
#define _cleanup_signed_env_ _cleanup_(signed_env_done)

static struct signed_env sign_spec(const struct alder_suit_spec *spec, int alg)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_test_buf_ struct test_buf manifest = {0};
        struct signed_env s = {.id = test_identity_new("alder release", NULL)};
        struct alder_cose_signer signer = {.key = s.id.key, .cert = s.id.cert, .alg = alg};
        s.store = test_store_new(s.id.cert, NULL);
        if (alder_suit_manifest_encode(spec, &manifest.data, &manifest.len, &err) < 0 ||
            alder_suit_envelope_sign(manifest.data, manifest.len, &signer, &s.env.data, &s.env.len, &err) < 0)
                fail_msg("%s", alder_error_message(err));
        return s;
}

static void test_round_trip_with_text(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_suit_spec spec;
        app_spec(&spec);
        const int algs[] = {ALDER_COSE_ALG_ES256, ALDER_COSE_ALG_ESP256};
        for (size_t a = 0; a < ALDER_ARRAY_SIZE(algs); a++) {
                _cleanup_signed_env_ struct signed_env s = sign_spec(&spec, algs[a]);
                struct alder_suit_expect expect = {.check_vendor_id = true, .check_class_id = true};
                memcpy(expect.vendor_id, spec.vendor_id, ALDER_SUIT_UUID_SIZE);
                memcpy(expect.class_id, spec.class_id, ALDER_SUIT_UUID_SIZE);
                _cleanup_free_ struct alder_suit_result *res = result_new();
                assert_int_equal(alder_suit_envelope_verify(s.env.data, s.env.len, s.store, &expect, res, &err), 0);
                assert_int_equal(res->signer.alg, algs[a]);
                assert_int_equal(res->sequence_number, 1700000000);
                assert_string_equal(res->description, "hello");
                assert_int_equal(res->n_components, 3);
                for (size_t i = 0; i < 3; i++) {
                        const struct alder_suit_result_component *c = &res->components[i];
                        assert_true(suit_component_id_equal(&c->id, &spec.components[i].id));
                        assert_true(c->image_match && c->fetch && c->has_size);
                        assert_memory_equal(c->digest, spec.components[i].digest, ALDER_SUIT_DIGEST_SIZE);
                        assert_int_equal(c->size, spec.components[i].size);
                        assert_string_equal(c->uri, spec.components[i].uri);
                }
                assert_string_equal(res->components[0].description, "hello app");
                assert_string_equal(res->components[0].version, "1.2.3");
                assert_string_equal(res->components[1].description, "");
                assert_string_equal(res->components[2].version, "7");
        }
}

static void test_component_id_format(void **state)
{
        struct alder_suit_component_id id;
        const char *const segs[] = {"alder", "app", NULL};
        char out[64];
        assert_int_equal(alder_suit_component_id_from_strings(&id, segs, NULL), 0);
        id.segments[id.n_segments].len = 2;
        memcpy(id.segments[id.n_segments++].bytes, "\x00\xff", 2);
        alder_suit_component_id_format(&id, out, sizeof(out));
        assert_string_equal(out, "['alder','app',h'00ff']");
        alder_suit_component_id_format(&id, out, 8);
        assert_string_equal(out, "['alder");
}

/* ---- envelope failures ----------------------------------------------------------------------- */

/* Replaces the first occurrence of `from` (hex) in b by `to` (same length). */
static void patch(struct test_buf *b, const char *from, const char *to)
{
        _cleanup_test_buf_ struct test_buf f = test_from_hex(from), t = test_from_hex(to);
        uint8_t *p = memmem(b->data, b->len, f.data, f.len);
        assert_non_null(p);
        assert_int_equal(f.len, t.len);
        memcpy(p, t.data, t.len);
}

enum mutation {
        FLIP_LAST_BYTE, /* in the manifest: its digest no longer matches */
        FLIP_SIGNATURE,
        WRONG_ALG,
        DRAFT09_DIGEST_ALG,
        TRUNCATE,
        TRAILING_BYTE,
        UNTAGGED,
        OTHER_TAG,
        UNTRUSTED,
};

/* Offset of the manifest key in an envelope 107({2: bstr(auth), 3: bstr(manifest)}) as we sign them. */
static size_t manifest_key_offset(const struct test_buf *env)
{
        const uint8_t *p = env->data + 4; /* d8 6b a2 02 */
        assert_true(p[0] == 0x58 || p[0] == 0x59);
        size_t len = p[0] == 0x58 ? p[1] : ((size_t) p[1] << 8 | p[2]);
        return 4 + (p[0] == 0x58 ? 2 : 3) + len;
}

static void mutate(struct test_buf *env, enum mutation m, alder_trust_store **store)
{
        switch (m) {
        case FLIP_LAST_BYTE:
                env->data[env->len - 1] ^= 0x01;
                break;
        case FLIP_SIGNATURE:
                /* the signature ends the authentication wrapper */
                env->data[manifest_key_offset(env) - 1] ^= 0x01;
                break;
        case WRONG_ALG:
                patch(env, "43a10126", "43a10127");
                break;
        case DRAFT09_DIGEST_ALG:
                patch(env, "822f5820", "82025820");
                break;
        case TRUNCATE:
                env->len--;
                break;
        case TRAILING_BYTE:
                env->data = realloc(env->data, env->len + 1);
                env->data[env->len++] = 0;
                break;
        case UNTAGGED:
                memmove(env->data, env->data + 2, env->len - 2);
                env->len -= 2;
                break;
        case OTHER_TAG:
                env->data[1] = 0x6c;
                break;
        case UNTRUSTED:
                alder_trust_store_free(*store);
                *store = test_store_new(NULL);
                break;
        }
}

/* Fills in "{fp}" with the signer's fingerprint and "{len}" with the envelope length. */
static void expand(char *out, size_t size, const char *msg, const char *fp, size_t len)
{
        size_t o = 0;
        for (const char *p = msg; *p && o + 1 < size;) {
                if (strncmp(p, "{fp}", 4) == 0) {
                        o += (size_t) snprintf(out + o, size - o, "%s", fp);
                        p += 4;
                } else if (strncmp(p, "{len}", 5) == 0) {
                        o += (size_t) snprintf(out + o, size - o, "%zu", len);
                        p += 5;
                } else {
                        out[o++] = *p++;
                }
        }
        out[ALDER_MIN(o, size - 1)] = '\0';
}

static void test_envelope_failures(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_suit_spec spec;
        app_spec(&spec);
        const struct {
                enum mutation m;
                int errnum;
                const char *message;
        } cases[] = {
                {FLIP_LAST_BYTE, EKEYREJECTED,
                 "SUIT envelope: the manifest does not match the digest in the authentication wrapper"},
                {FLIP_SIGNATURE, EKEYREJECTED,
                 "COSE_Sign1: the signature does not verify with certificate 'CN=alder release' (key id {fp})"},
                {WRONG_ALG, ENOTSUP, "COSE_Sign1: algorithm -8 is not supported (expected ES256 (-7) or ESP256 (-9))"},
                {DRAFT09_DIGEST_ALG, ENOTSUP,
                 "manifest digest: digest algorithm 2 (draft-09 era encoding is not supported): expected -16 "
                 "(SHA-256)"},
                {TRUNCATE, EBADMSG, "SUIT envelope: CBOR offset {len}: truncated item"},
                {TRAILING_BYTE, EBADMSG, "SUIT envelope: CBOR offset {len}: 1 trailing bytes after the data item"},
                {UNTAGGED, EBADMSG,
                 "SUIT envelope: untagged (expected CBOR tag 107): draft-09 era encoding is not supported"},
                {OTHER_TAG, EBADMSG, "SUIT envelope: CBOR tag 108 (expected 107, SUIT_Envelope_Tagged)"},
                {UNTRUSTED, EKEYREJECTED, "COSE_Sign1: untrusted signer: no trusted certificate has key id {fp}"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_signed_env_ struct signed_env s = sign_spec(&spec, 0);
                _cleanup_free_ struct alder_suit_result *res = result_new();
                char fp[ALDER_FINGERPRINT_HEX_SIZE], expected[512], name[160];
                /* where the decoder stops: the manifest bstr (truncated) or the original end (trailing) */
                size_t at = cases[i].m == TRUNCATE ? manifest_key_offset(&s.env) + 1 : s.env.len;
                test_fingerprint_hex(s.id.cert, fp);
                mutate(&s.env, cases[i].m, &s.store);
                expand(expected, sizeof(expected), cases[i].message, fp, at);
                alder_test_case_name(name, i, "%.100s", expected);
                alder_error_clear(&err);
                int r = alder_suit_envelope_verify(s.env.data, s.env.len, s.store, NULL, res, &err);
                alder_test_check_error(name, r, err, cases[i].errnum, expected);
        }
}

/* Hand-made envelopes: structure errors found before any signature is looked at. */
static int verify_envelope(const uint8_t *data, size_t len, void *store, alder_error **err)
{
        _cleanup_free_ struct alder_suit_result *res = result_new();
        return alder_suit_envelope_verify(data, len, store, NULL, res, err);
}

static void test_envelope_structure(void **state)
{
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(NULL);
        const struct test_refusal cases[] = {
                {"d86bbfff", EBADMSG,
                 "SUIT envelope: CBOR offset 2: indefinite-length map (only definite lengths are allowed)"},
                {"d86ba10240", EBADMSG, "SUIT envelope: no manifest (key 3)"},
                {"d86ba10340", EBADMSG, "SUIT envelope: no authentication wrapper (key 2)"},
                {"d86ba2024003a0", EBADMSG, "SUIT envelope: manifest: expected a byte string, got map"},
                {"d86ba203400240", EBADMSG,
                 "SUIT envelope: CBOR offset 5: map keys are not in deterministic (bytewise) order"},
                {"d86ba202400240", EBADMSG, "SUIT envelope: CBOR offset 5: duplicate map key"},
                {"d86ba302400340622361"
                 "40",
                 ENOTSUP,
                 "SUIT envelope: integrated payloads are not supported (payloads are stored beside the envelope)"},
                {"d86ba2014002400340", EBADMSG, "SUIT envelope: CBOR offset 7: 2 trailing bytes after the data item"},
                {"d86ba3014002400340", ENOTSUP, "SUIT envelope: delegation chains (key 1) are not supported"},
                {"d86ba3024003400540", ENOTSUP, "SUIT envelope: unknown key 5"},
                {"d86b80", EBADMSG, "SUIT envelope: expected a map, got array"},
                {"80", EBADMSG, "SUIT envelope: expected CBOR tag 107 (SUIT_Envelope_Tagged), got array"},
                {"a20240034100", EBADMSG,
                 "SUIT envelope: untagged (expected CBOR tag 107): draft-09 era encoding is not supported"},
                {"d86ba202418003410a", EBADMSG,
                 "authentication wrapper: expected [digest, signature...], got array of 0 items"},
                {"d86ba20245824100410003410a", EBADMSG,
                 "manifest digest: expected a SUIT_Digest [algorithm-id, bytes]"},
                {"d86ba20243824800"
                 "03410a",
                 EBADMSG, "authentication wrapper: CBOR offset 1: truncated item"},
                {"d86ba2021819"
                 "0340",
                 EBADMSG, "SUIT envelope: authentication wrapper: expected a byte string, got unsigned integer"},
        };
        test_check_refusals(cases, ALDER_ARRAY_SIZE(cases), verify_envelope, store);
}

static void test_envelope_size_limit(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(NULL);
        _cleanup_free_ uint8_t *big = calloc(1, ALDER_SUIT_MAX_ENVELOPE + 1);
        _cleanup_free_ struct alder_suit_result *res = result_new();
        assert_alder_error(alder_suit_envelope_verify(big, ALDER_SUIT_MAX_ENVELOPE + 1, store, NULL, res, &err), E2BIG,
                           "SUIT envelope: 65537 bytes, at most 65536 allowed");
        assert_alder_error(alder_suit_envelope_verify(big, 16, NULL, NULL, res, &err), EINVAL,
                           "SUIT envelope: no trust store");
}

/* ---- the interpreter ------------------------------------------------------------------------- */

/* Command sequences in hex (CBOR arrays of command/argument pairs). */
#define P_VENDOR  "0150" EX_VENDOR
#define P_CLASS   "0250" EX_CLASS
#define P_DIGEST  "035824822f5820" EX_DIGEST_A
#define P_DIGEST2 "035824822f5820" EX_DIGEST_B
#define P_SIZE    "0e1987d0"
#define CHECKS    "010f020f" /* check-vendor-identifier, check-class-identifier */
/* shared sequence of Example 1: override {vendor, class, digest, size}, checks */
#define SHARED \
        "86"   \
        "14a4" P_VENDOR P_CLASS P_DIGEST P_SIZE CHECKS
#define VALIDATE "82030f"
#define INSTALL                \
        "86"                   \
        "14a115"               \
        "69236170702e6a736f6e" \
        "1502"                 \
        "030f" /* uri "#app.json", fetch, image-match */
#define ONE_COMPONENT \
        "818141"      \
        "00"
#define TWO_COMPONENTS \
        "828141"       \
        "00"           \
        "8141"         \
        "01"

struct manifest_src {
        const char *components; /* hex of the components array (NULL: one, [h'00']) */
        const char *shared;     /* hex of the sequences; NULL: left out */
        const char *validate;
        const char *install;
};

/* {1: 1, 2: 7, 3: bstr({2: components, 4: bstr(shared)}), 7: bstr(validate), 20: bstr(install)} */
static struct test_buf build_manifest(const struct manifest_src *src)
{
        struct alder_cbor_writer common = {0}, w = {0};
        alder_cbor_put_map(&common, src->shared ? 2 : 1);
        alder_cbor_put_uint(&common, SUIT_COMMON_COMPONENTS);
        put_hex(&common, src->components ? src->components : ONE_COMPONENT);
        if (src->shared) {
                alder_cbor_put_uint(&common, SUIT_COMMON_SHARED_SEQUENCE);
                put_wrapped_hex(&common, src->shared);
        }
        _cleanup_test_buf_ struct test_buf c = finish(&common);
        alder_cbor_put_map(&w, 3 + (src->validate ? 1 : 0) + (src->install ? 1 : 0));
        put_hex(&w, "0101"
                    "0207"
                    "03");
        alder_cbor_put_bytes(&w, c.data, c.len);
        if (src->validate) {
                alder_cbor_put_uint(&w, SUIT_MANIFEST_VALIDATE);
                put_wrapped_hex(&w, src->validate);
        }
        if (src->install) {
                alder_cbor_put_uint(&w, SUIT_MANIFEST_INSTALL);
                put_wrapped_hex(&w, src->install);
        }
        return finish(&w);
}

static int interpret(const struct manifest_src *src, const struct alder_suit_expect *expect,
                     struct alder_suit_result *res, alder_error **err)
{
        _cleanup_test_buf_ struct test_buf m = build_manifest(src);
        return suit_manifest_interpret(m.data, m.len, NULL, expect, res, err);
}

static int interpret_bytes(const uint8_t *data, size_t len, void *ctx, alder_error **err)
{
        _cleanup_free_ struct alder_suit_result *res = result_new();
        return suit_manifest_interpret(data, len, NULL, NULL, res, err);
}

static void test_manifest_structure_errors(void **state)
{
        const struct test_refusal cases[] = {
                {"a10102", ENOTSUP, "manifest: suit-manifest-version 2 is not supported (expected 1)"},
                {"a10101", EBADMSG, "manifest: no suit-manifest-sequence-number (key 2)"},
                {"a1020a", EBADMSG, "manifest: no suit-manifest-version (key 1)"},
                {"a201010201", EBADMSG, "manifest: no common (key 3)"},
                {"a301010201186300", ENOTSUP, "manifest: unknown key 99"},
                {"a3010102200340", EBADMSG,
                 "manifest: suit-manifest-sequence-number: expected an unsigned integer, got negative integer"},
                {"a3010102010341a0", EBADMSG, "manifest: common: no components (key 2)"},
                {"a3010102010343a10180", ENOTSUP, "manifest: common: dependencies are not supported"},
                {"a3010102010343a10280", EBADMSG,
                 "manifest: common: components: expected 1 to 8 component identifiers"},
                {"a3010102010346a10282814001", EBADMSG,
                 "manifest: common: component 1: expected an array of at most 8 byte strings"},
                {"a3010102010347a1028281408140", EBADMSG,
                 "manifest: common: components 0 and 1 have the same identifier"},
                {"a5010102010344a102814007418014822f5820" EX_DIGEST_A, EBADMSG,
                 "manifest: install is severed and not in the envelope"},
                {"80", EBADMSG, "manifest: expected a map, got array"},
                {"a101f5", EBADMSG, "manifest: suit-manifest-version: expected an unsigned integer, got boolean"},
        };
        test_check_refusals(cases, ALDER_ARRAY_SIZE(cases), interpret_bytes, NULL);
}

static void test_interpreter_errors(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *abort_seq = wrap_hex("820e0f");
        _cleanup_free_ char *try_all_fail = NULL;
        assert_true(asprintf(&try_all_fail, "820f82%s%s", abort_seq, abort_seq) > 0);
        const struct {
                struct manifest_src src;
                int errnum;
                const char *message;
        } cases[] = {
                {{.shared = "82"
                            "14a2" P_VENDOR P_CLASS},
                 EBADMSG,
                 "manifest: no check-vendor-identifier condition (the profile requires one)"},
                {{.shared = "84"
                            "14a2" P_VENDOR P_CLASS "010f"},
                 EBADMSG,
                 "manifest: no check-class-identifier condition (the profile requires one)"},
                {{.shared = "82"
                            "010f"},
                 ENODATA,
                 "shared sequence: condition check-vendor-identifier failed: component 0 [h'00'] has no vendor-id "
                 "parameter"},
                {{.shared = SHARED, .install = "82160f"},
                 ENOTSUP,
                 "install: command 22 (copy) is not supported by this profile"},
                {{.shared = SHARED, .install = "82182a0f"},
                 ENOTSUP,
                 "install: command 42 (unknown) is not supported by this profile"},
                {{.shared = "88"
                            "14a4" P_VENDOR P_CLASS P_DIGEST P_SIZE CHECKS "1502"},
                 EBADMSG,
                 "shared sequence: fetch is not allowed in the shared sequence"},
                {{.shared = "86"
                            "14a2" P_VENDOR P_CLASS CHECKS,
                  .validate = VALIDATE},
                 ENODATA,
                 "validate: condition condition-image-match failed: component 0 [h'00'] has no image-digest "
                 "parameter"},
                {{.shared = SHARED, .install = "821502"},
                 ENODATA,
                 "install: fetch: component 0 [h'00'] has no uri parameter"},
                {{.shared = SHARED, .install = "8214a10df5"},
                 EBADMSG,
                 "install: soft-failure may only be set inside try-each or run-sequence"},
                {{.shared = SHARED, .install = "8214a10500"},
                 ENOTSUP,
                 "install: override-parameters: parameter 5 (component-slot) is not supported by this profile"},
                {{.shared = SHARED, .install = "8214a0"},
                 EBADMSG,
                 "install: override-parameters: expected a map of 1 to 16 parameters"},
                {{.shared = SHARED, .install = "8214a10142abcd"},
                 EBADMSG,
                 "install: override-parameters: vendor-id: expected a 16-byte UUID"},
                {{.shared = SHARED, .install = "8214a115623a20"},
                 EBADMSG,
                 "install: override-parameters: uri: only printable ASCII without spaces is allowed"},
                {{.shared = SHARED,
                  .install = "8214a1035824820258200000000000000000000000000000000000000000000000000000"
                             "000000000000"},
                 ENOTSUP,
                 "install: override-parameters: image-digest: digest algorithm 2 (draft-09 era encoding is not "
                 "supported): expected -16 (SHA-256)"},
                {{.shared = SHARED, .validate = "8103"},
                 EBADMSG,
                 "validate: expected a non-empty array of command/argument pairs"},
                {{.shared = SHARED, .validate = "820320"},
                 EBADMSG,
                 "validate: condition-image-match: expected a reporting policy (unsigned integer), got negative "
                 "integer"},
                {{.shared = SHARED, .validate = "82f50f"},
                 EBADMSG,
                 "validate: command 0: expected an integer command code, got boolean"},
                {{.shared = SHARED, .validate = "820e0f"}, ECANCELED, "validate: condition condition-abort failed"},
                {{.shared = SHARED, .install = try_all_fail},
                 ECANCELED,
                 "install: try-each: every sequence failed: install: condition condition-abort failed"},
                {{.shared = SHARED, .install = "820f80"},
                 EBADMSG,
                 "install: try-each: expected an array of 1 to 8 sequences"},
                {{.components = TWO_COMPONENTS, .shared = SHARED},
                 EBADMSG,
                 "shared sequence: override-parameters before set-component-index (the manifest has 2 components)"},
                {{.components = TWO_COMPONENTS, .shared = "820c02"},
                 EBADMSG,
                 "shared sequence: set-component-index: expected an index below 2, an array of them or true"},
                {{.components = TWO_COMPONENTS, .shared = "820cf4"},
                 EBADMSG,
                 "shared sequence: set-component-index: expected an index below 2, an array of them or true"},
                {{.components = TWO_COMPONENTS, .shared = "820c80"},
                 EBADMSG,
                 "shared sequence: set-component-index: expected 1 to 2 indices"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_free_ struct alder_suit_result *res = result_new();
                char name[160];
                alder_test_case_name(name, i, "%.100s", cases[i].message);
                alder_error_clear(&err);
                int r = interpret(&cases[i].src, NULL, res, &err);
                alder_test_check_error(name, r, err, cases[i].errnum, cases[i].message);
        }
}

static void test_vendor_and_class_mismatch(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ struct alder_suit_result *res = result_new();
        const struct manifest_src src = {.shared = SHARED, .validate = VALIDATE, .install = INSTALL};
        struct alder_suit_expect expect = {.check_vendor_id = true, .check_class_id = true};
        hex_to(EX_VENDOR, expect.vendor_id, ALDER_SUIT_UUID_SIZE);
        hex_to(EX_CLASS, expect.class_id, ALDER_SUIT_UUID_SIZE);
        assert_int_equal(interpret(&src, &expect, res, &err), 0);

        expect.vendor_id[0] = 0;
        assert_alder_error(interpret(&src, &expect, res, &err), ENODEV,
                           "shared sequence: condition check-vendor-identifier failed: component 0 [h'00']: the "
                           "manifest's vendor-id fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe is not this device's "
                           "006b4a53-d5ad-5fdf-be9d-e663e4d41ffe");
        expect.check_vendor_id = false; /* only the class matters now */
        memset(expect.class_id, 0x22, ALDER_SUIT_UUID_SIZE);
        assert_alder_error(interpret(&src, &expect, res, &err), ENODEV,
                           "shared sequence: condition check-class-identifier failed: component 0 [h'00']: the "
                           "manifest's class-id 1492af14-2569-5e48-bf42-9b2d51f2ab45 is not this device's "
                           "22222222-2222-2222-2222-222222222222");
}

/* try-each tries its sequences in order, undoing a failed one's parameters. */
static void test_try_each_and_run_sequence(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        /* first: a wrong vendor id that fails the check softly (and a URI that must not stick) */
        _cleanup_free_ char *wrong = wrap_hex("84"
                                              "14a2"
                                              "015000000000000000000000000000000000"
                                              "156523776f6e67"
                                              "010f");
        _cleanup_free_ char *right = wrap_hex("84"
                                              "14a1" P_VENDOR "010f");
        /* run-sequence made soft: its abort halts it quietly, its parameters are dropped */
        _cleanup_free_ char *soft_abort = wrap_hex("84"
                                                   "14a20df5"
                                                   "1566236f74686572"
                                                   "0e0f");
        _cleanup_free_ char *shared = NULL, *install = NULL;
        assert_true(asprintf(&shared,
                             "88"
                             "14a3" P_CLASS P_DIGEST P_SIZE "0f82%s%s"
                             "020f"
                             "1820%s",
                             wrong, right, soft_abort) > 0);
        /* ...and the vendor check after the try-each sees the vendor id from before it */
        assert_true(asprintf(&install,
                             "8c"
                             "14a115"
                             "69236170702e6a736f6e"
                             "1820%s"
                             "1502"
                             "030f"
                             "0f82%sf6"
                             "010f",
                             soft_abort, wrong) > 0);
        const struct manifest_src src = {.shared = shared, .install = install};
        struct alder_suit_expect expect = {.check_vendor_id = true};
        hex_to(EX_VENDOR, expect.vendor_id, ALDER_SUIT_UUID_SIZE);
        _cleanup_free_ struct alder_suit_result *res = result_new();
        int r = interpret(&src, &expect, res, &err);
        if (r < 0)
                fail_msg("%s", alder_error_message(err));
        check_example_ids(res);
        check_example_component(&res->components[0], EX_DIGEST_A, 34768, "#app.json");

        /* a run-sequence that stays hard fails its section */
        _cleanup_free_ char *hard_abort = wrap_hex("820e0f");
        _cleanup_free_ char *hard = NULL;
        assert_true(asprintf(&hard,
                             "82"
                             "1820%s",
                             hard_abort) > 0);
        const struct manifest_src src2 = {.shared = SHARED, .install = hard};
        assert_alder_error(interpret(&src2, NULL, res, &err), ECANCELED, "install: condition condition-abort failed");
}

/* Index true and index arrays (the draft's "Special Cases of Component Index") over two components. */
static void test_component_index_true_and_array(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        const struct manifest_src src = {
                .components = TWO_COMPONENTS,
                .shared = "90"
                          "0cf5"
                          "14a2" P_VENDOR P_CLASS CHECKS "0c00"
                          "14a2" P_DIGEST P_SIZE "0c01"
                          "14a2" P_DIGEST2 "0e1a00012c22",
                .validate = "84"
                            "0c820001"
                            "030f",
                .install = "8c"
                           "0c00"
                           "14a115"
                           "69236170702e6a736f6e"
                           "0c01"
                           "14a115"
                           "6a23726f6f74662e746172"
                           "0cf5"
                           "1502",
        };
        _cleanup_free_ struct alder_suit_result *res = result_new();
        int r = interpret(&src, NULL, res, &err);
        if (r < 0)
                fail_msg("%s", alder_error_message(err));
        assert_int_equal(res->n_components, 2);
        check_example_component(&res->components[0], EX_DIGEST_A, 34768, "#app.json");
        check_example_component(&res->components[1], EX_DIGEST_B, 76834, "#rootf.tar");
}

static void test_nesting_is_bounded(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ char *seq = strdup("820e0f");
        for (int i = 0; i < 6; i++) {
                _cleanup_free_ char *inner = wrap_hex(seq);
                free(seq);
                assert_true(asprintf(&seq, "821820%s", inner) > 0);
        }
        const struct manifest_src src = {.shared = SHARED, .install = seq};
        _cleanup_free_ struct alder_suit_result *res = result_new();
        assert_alder_error(interpret(&src, NULL, res, &err), E2BIG,
                           "install: try-each/run-sequence nested deeper than 4 levels");
}

/* Severed install and text sequences in the envelope, checked against the manifest's digests. */
static void test_severed_members(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_identity_ struct test_identity id = test_identity_new("signer", NULL);
        _cleanup_trust_store_ alder_trust_store *store = test_store_new(id.cert, NULL);
        struct alder_cose_signer signer = {.key = id.key, .cert = id.cert};
        _cleanup_test_buf_ struct test_buf install = test_from_hex(INSTALL);
        _cleanup_test_buf_ struct test_buf text =
                test_from_hex("a162656ea101686869207468657265"); /* {"en": {1: "hi there"}} */
        uint8_t install_digest[ALDER_SUIT_DIGEST_SIZE], text_digest[ALDER_SUIT_DIGEST_SIZE];
        assert_int_equal(suit_digest_bstr(install.data, install.len, install_digest, &err), 0);
        assert_int_equal(suit_digest_bstr(text.data, text.len, text_digest, &err), 0);

        struct alder_cbor_writer mw = {0}, common = {0};
        alder_cbor_put_map(&common, 2);
        put_hex(&common, "02" ONE_COMPONENT "04");
        put_wrapped_hex(&common, SHARED);
        _cleanup_test_buf_ struct test_buf c = finish(&common);
        alder_cbor_put_map(&mw, 5);
        put_hex(&mw, "0101020103");
        alder_cbor_put_bytes(&mw, c.data, c.len);
        put_hex(&mw, "14822f5820");
        alder_cbor_put_raw(&mw, install_digest, sizeof(install_digest));
        put_hex(&mw, "17822f5820");
        alder_cbor_put_raw(&mw, text_digest, sizeof(text_digest));
        _cleanup_test_buf_ struct test_buf m = finish(&mw);

        struct alder_cbor_writer dw = {0}, aw = {0}, ew = {0};
        uint8_t md[ALDER_SUIT_DIGEST_SIZE];
        assert_int_equal(suit_digest_bstr(m.data, m.len, md, &err), 0);
        put_hex(&dw, "822f5820");
        alder_cbor_put_raw(&dw, md, sizeof(md));
        _cleanup_test_buf_ struct test_buf d = finish(&dw);
        _cleanup_test_buf_ struct test_buf cose = {0};
        assert_int_equal(alder_cose_sign1_create(d.data, d.len, &signer, &cose.data, &cose.len, &err), 0);
        alder_cbor_put_array(&aw, 2);
        alder_cbor_put_bytes(&aw, d.data, d.len);
        alder_cbor_put_bytes(&aw, cose.data, cose.len);
        _cleanup_test_buf_ struct test_buf a = finish(&aw);
        alder_cbor_put_tag(&ew, ALDER_SUIT_TAG_ENVELOPE);
        alder_cbor_put_map(&ew, 4);
        put_hex(&ew, "02");
        alder_cbor_put_bytes(&ew, a.data, a.len);
        put_hex(&ew, "03");
        alder_cbor_put_bytes(&ew, m.data, m.len);
        put_hex(&ew, "14");
        alder_cbor_put_bytes(&ew, install.data, install.len);
        put_hex(&ew, "17");
        alder_cbor_put_bytes(&ew, text.data, text.len);
        _cleanup_test_buf_ struct test_buf env = finish(&ew);

        _cleanup_free_ struct alder_suit_result *res = result_new();
        int r = alder_suit_envelope_verify(env.data, env.len, store, NULL, res, &err);
        if (r < 0)
                fail_msg("%s", alder_error_message(err));
        assert_string_equal(res->components[0].uri, "#app.json");
        assert_string_equal(res->description, "hi there");

        /* a severed element that does not match its digest */
        env.data[env.len - 1] ^= 0x01;
        assert_alder_error(alder_suit_envelope_verify(env.data, env.len, store, NULL, res, &err), EKEYREJECTED,
                           "manifest: text: the envelope's element does not match its digest");
}

/* ---- the encoder's input checks -------------------------------------------------------------- */

static void test_spec_errors(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        char long_text[ALDER_SUIT_MAX_TEXT + 2];
        memset(long_text, 'x', sizeof(long_text) - 1);
        long_text[sizeof(long_text) - 1] = '\0';
        const struct {
                size_t n;
                const char *uri;
                const char *version;
                bool same_ids;
                int errnum;
                const char *message;
        } cases[] = {
                {0, "#a", NULL, false, EINVAL, "manifest spec: 0 components, expected 1 to 8"},
                {9, "#a", NULL, false, EINVAL, "manifest spec: 9 components, expected 1 to 8"},
                {1, NULL, NULL, false, EINVAL, "manifest spec: component 0: uri: missing"},
                {1, "#a b", NULL, false, EINVAL,
                 "manifest spec: component 0: uri: only printable ASCII without spaces"},
                {2, "#a", NULL, true, EINVAL, "manifest spec: components 0 and 1 have the same id"},
                {1, "#a", long_text, false, E2BIG, "manifest spec: component 0: version: longer than 255 bytes"},
                {1, "#a", "1\n2", false, EINVAL,
                 "manifest spec: component 0: version: control characters are not allowed"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                struct alder_suit_spec spec;
                example1_spec(&spec);
                spec.n_components = cases[i].n;
                for (size_t c = 0; c < ALDER_SUIT_MAX_COMPONENTS; c++) {
                        spec.components[c] = spec.components[0];
                        spec.components[c].id.segments[0].bytes[0] = cases[i].same_ids ? 0 : (uint8_t) c;
                        spec.components[c].uri = cases[i].uri;
                        spec.components[c].version = cases[i].version;
                }
                uint8_t *out = NULL;
                size_t len = 0;
                char name[160];
                alder_test_case_name(name, i, "%.100s", cases[i].message);
                alder_error_clear(&err);
                int r = alder_suit_manifest_encode(&spec, &out, &len, &err);
                alder_test_check_error(name, r, err, cases[i].errnum, cases[i].message);
                assert_null(out);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_draft_examples_verify),
                cmocka_unit_test(test_encoder_matches_draft_example1),
                cmocka_unit_test(test_sign_refuses_bad_manifest),
                cmocka_unit_test(test_inspect_and_manifest_bytes),
                cmocka_unit_test(test_draft_example5_two_images),
                cmocka_unit_test(test_round_trip_with_text),
                cmocka_unit_test(test_component_id_format),
                cmocka_unit_test(test_envelope_failures),
                cmocka_unit_test(test_envelope_structure),
                cmocka_unit_test(test_envelope_size_limit),
                cmocka_unit_test(test_manifest_structure_errors),
                cmocka_unit_test(test_interpreter_errors),
                cmocka_unit_test(test_vendor_and_class_mismatch),
                cmocka_unit_test(test_try_each_and_run_sequence),
                cmocka_unit_test(test_component_index_true_and_array),
                cmocka_unit_test(test_nesting_is_bounded),
                cmocka_unit_test(test_severed_members),
                cmocka_unit_test(test_spec_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
