/* SPDX-License-Identifier: Apache-2.0 */
/* The alder-secd wire codec (lib/psa/wire.c): every malformed frame gets its PSA error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "psa/protected_storage.h"
#include "secd-wire.h"

static uint8_t frame[SECD_WIRE_MAX_FRAME + 64];

/* A raw header with the given fields. */
static void put_header(uint8_t *p, uint32_t magic, uint16_t version, uint16_t op, int32_t status, uint32_t len)
{
        memcpy(p, &magic, 4);
        memcpy(p + 4, &version, 2);
        memcpy(p + 6, &op, 2);
        memcpy(p + 8, &status, 4);
        memcpy(p + 12, &len, 4);
}

static void test_round_trip_of_every_field(void **state)
{
        struct secd_writer w;
        psa_key_attributes_t a = psa_key_attributes_init();
        psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
        psa_set_key_bits(&a, 256);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_EXPORT);
        psa_set_key_algorithm(&a, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
        psa_set_key_id(&a, 0x3fffffff);
        secd_writer_start(&w, frame, sizeof(frame), SECD_OP_GENERATE_KEY, PSA_ERROR_NOT_PERMITTED);
        secd_put_attrs(&w, &a);
        secd_put_u32(&w, SECD_TAG_KEY_ID, 7);
        secd_put_u32(&w, SECD_TAG_ALG, PSA_ALG_GCM);
        secd_put_u64(&w, SECD_TAG_UID, 0x0102030405060708ull);
        secd_put_bytes(&w, SECD_TAG_INPUT, "abc", 3);
        secd_put_bytes(&w, SECD_TAG_NONCE, "", 0);
        secd_put_info(&w, &(struct secd_info){1, 2, 3});
        size_t n = secd_writer_finish(&w);
        assert_int_equal(n, 16 + 26 + 10 + 10 + 14 + 9 + 6 + 18);

        struct secd_header h;
        struct secd_msg m;
        assert_int_equal(secd_header_decode(frame, n, &h), PSA_SUCCESS);
        assert_int_equal(h.opcode, SECD_OP_GENERATE_KEY);
        assert_int_equal(h.status, PSA_ERROR_NOT_PERMITTED);
        assert_int_equal(h.body_len, n - 16);
        assert_int_equal(secd_body_decode(frame + 16, h.body_len, &m), PSA_SUCCESS);
        assert_memory_equal(&m.attrs, &a, sizeof(a));
        assert_int_equal(psa_get_key_lifetime(&m.attrs), PSA_KEY_LIFETIME_PERSISTENT);
        assert_int_equal(m.key_id, 7);
        assert_int_equal(m.alg, PSA_ALG_GCM);
        assert_true(m.uid == 0x0102030405060708ull);
        assert_int_equal(m.input.len, 3);
        assert_memory_equal(m.input.p, "abc", 3);
        assert_true(m.present & SECD_BIT(SECD_TAG_NONCE));
        assert_int_equal(m.nonce.len, 0);
        assert_int_equal(m.info.capacity, 1);
        assert_int_equal(m.info.flags, 3);
        /* little endian on the wire, whatever the host */
        assert_memory_equal(frame, "ASEC\x01\x00\x01\x00", 8);
}

static void test_header_errors(void **state)
{
        static const struct {
                const char *what;
                uint32_t magic;
                uint16_t version;
                uint32_t len;
                size_t have;
                psa_status_t want;
        } cases[] = {
                {"truncated", SECD_WIRE_MAGIC, 1, 0, 15, PSA_ERROR_INSUFFICIENT_DATA},
                {"empty", SECD_WIRE_MAGIC, 1, 0, 0, PSA_ERROR_INSUFFICIENT_DATA},
                {"bad magic", 0x41534543, 1, 0, 16, PSA_ERROR_COMMUNICATION_FAILURE},
                {"version 0", SECD_WIRE_MAGIC, 0, 0, 16, PSA_ERROR_NOT_SUPPORTED},
                {"version 2", SECD_WIRE_MAGIC, 2, 0, 16, PSA_ERROR_NOT_SUPPORTED},
                {"oversized", SECD_WIRE_MAGIC, 1, SECD_WIRE_MAX_BODY + 1, 16, PSA_ERROR_INVALID_ARGUMENT},
                {"huge", SECD_WIRE_MAGIC, 1, UINT32_MAX, 16, PSA_ERROR_INVALID_ARGUMENT},
                {"largest allowed", SECD_WIRE_MAGIC, 1, SECD_WIRE_MAX_BODY, 16, PSA_SUCCESS},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct secd_header h = {.opcode = 0xeeee};
                put_header(frame, cases[i].magic, cases[i].version, 1, 0, cases[i].len);
                psa_status_t s = secd_header_decode(frame, cases[i].have, &h);
                if (s != cases[i].want)
                        fail_msg("%s: got %d, want %d", cases[i].what, (int) s, (int) cases[i].want);
                if (s != PSA_SUCCESS && h.opcode != 0xeeee)
                        fail_msg("%s: header written on failure", cases[i].what);
        }
}

static void test_body_errors(void **state)
{
        static const struct {
                const char *what;
                const char *bytes;
                size_t len;
                psa_status_t want;
        } cases[] = {
                {"empty body", "", 0, PSA_SUCCESS},
                {"field header cut", "\x01\x00\x04\x00\x00", 5, PSA_ERROR_INVALID_ARGUMENT},
                {"value cut", "\x01\x00\x04\x00\x00\x00\x07\x00", 8, PSA_ERROR_INVALID_ARGUMENT},
                {"tag 0", "\x00\x00\x00\x00\x00\x00", 6, PSA_ERROR_INVALID_ARGUMENT},
                {"unknown tag", "\x0f\x00\x00\x00\x00\x00", 6, PSA_ERROR_INVALID_ARGUMENT},
                {"tag 0xffff", "\xff\xff\x00\x00\x00\x00", 6, PSA_ERROR_INVALID_ARGUMENT},
                {"key id of 3 bytes", "\x01\x00\x03\x00\x00\x00\x01\x02\x03", 9, PSA_ERROR_INVALID_ARGUMENT},
                {"uid of 4 bytes", "\x09\x00\x04\x00\x00\x00\x01\x02\x03\x04", 10, PSA_ERROR_INVALID_ARGUMENT},
                {"attrs of 0 bytes", "\x02\x00\x00\x00\x00\x00", 6, PSA_ERROR_INVALID_ARGUMENT},
                {"repeated input", "\x04\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00", 12, PSA_ERROR_INVALID_ARGUMENT},
                {"length wraps", "\x04\x00\xff\xff\xff\xff", 6, PSA_ERROR_INVALID_ARGUMENT},
                {"two empty fields", "\x04\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00", 12, PSA_SUCCESS},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct secd_msg m;
                psa_status_t s = secd_body_decode((const uint8_t *) cases[i].bytes, cases[i].len, &m);
                if (s != cases[i].want)
                        fail_msg("%s: got %d, want %d", cases[i].what, (int) s, (int) cases[i].want);
        }
}

static void test_byte_field_limit(void **state)
{
        struct secd_writer w;
        struct secd_msg m;
        static uint8_t big[SECD_WIRE_MAX_DATA + 1];
        secd_writer_start(&w, frame, sizeof(frame), SECD_OP_PS_SET, 0);
        secd_put_bytes(&w, SECD_TAG_INPUT, big, SECD_WIRE_MAX_DATA);
        size_t n = secd_writer_finish(&w);
        assert_int_not_equal(n, 0);
        assert_int_equal(secd_body_decode(frame + 16, n - 16, &m), PSA_SUCCESS);
        /* one byte more: the encoder writes it (the frame has room), the decoder refuses it */
        secd_writer_start(&w, frame, sizeof(frame), SECD_OP_PS_SET, 0);
        secd_put_bytes(&w, SECD_TAG_INPUT, big, sizeof(big));
        n = secd_writer_finish(&w);
        assert_int_equal(secd_body_decode(frame + 16, n - 16, &m), PSA_ERROR_INVALID_ARGUMENT);
        /* a body longer than a frame is refused as a whole */
        assert_int_equal(secd_body_decode(frame, SECD_WIRE_MAX_BODY + 1, &m), PSA_ERROR_INVALID_ARGUMENT);
}

static void test_writer_overflow(void **state)
{
        struct secd_writer w;
        uint8_t small[24];
        secd_writer_start(&w, small, sizeof(small), SECD_OP_HASH_COMPUTE, 0);
        secd_put_u32(&w, SECD_TAG_ALG, 1);         /* 10 bytes: does not fit in 8 */
        secd_put_bytes(&w, SECD_TAG_INPUT, "", 0); /* would fit, but the frame is already lost */
        assert_true(w.overflow);
        assert_int_equal(secd_writer_finish(&w), 0);
        secd_writer_start(&w, small, 8, SECD_OP_HASH_COMPUTE, 0);
        assert_int_equal(secd_writer_finish(&w), 0);
        /* more than a frame, however large the buffer */
        static uint8_t huge[2 * SECD_WIRE_MAX_FRAME];
        secd_writer_start(&w, huge, sizeof(huge), SECD_OP_HASH_COMPUTE, 0);
        secd_put_bytes(&w, SECD_TAG_INPUT, huge, SECD_WIRE_MAX_BODY);
        assert_int_equal(secd_writer_finish(&w), 0);
}

#define B(t) SECD_BIT(SECD_TAG_##t)

static void test_request_check(void **state)
{
        static const struct {
                psa_status_t want;
                const char *what;
                uint16_t op;
                uint32_t present;
                uint32_t app_len;
                bool admin;
        } cases[] = {
                {PSA_ERROR_NOT_SUPPORTED, "opcode 0", 0, 0, 0, false},
                {PSA_ERROR_NOT_SUPPORTED, "opcode past the table", SECD_OP_MAX, 0, 0, false},
                {PSA_ERROR_NOT_SUPPORTED, "opcode 0xffff", 0xffff, 0, 0, true},
                {PSA_ERROR_INVALID_ARGUMENT, "sign without alg", SECD_OP_SIGN_HASH, B(KEY_ID) | B(INPUT) | B(OUT_SIZE),
                 0, false},
                {PSA_SUCCESS, "sign complete", SECD_OP_SIGN_HASH, B(KEY_ID) | B(ALG) | B(INPUT) | B(OUT_SIZE), 0,
                 false},
                {PSA_ERROR_INVALID_ARGUMENT, "sign with a uid", SECD_OP_SIGN_HASH,
                 B(KEY_ID) | B(ALG) | B(INPUT) | B(OUT_SIZE) | B(UID), 0, false},
                {PSA_SUCCESS, "aead with aad", SECD_OP_AEAD_ENCRYPT,
                 B(KEY_ID) | B(ALG) | B(NONCE) | B(INPUT) | B(OUT_SIZE) | B(AAD), 0, false},
                {PSA_ERROR_INVALID_ARGUMENT, "app field on app socket", SECD_OP_KEY_LIST, B(APP), 1, false},
                {PSA_ERROR_INVALID_ARGUMENT, "admin without app", SECD_OP_KEY_LIST, 0, 0, true},
                {PSA_SUCCESS, "admin with app", SECD_OP_KEY_LIST, B(APP), 1, true},
                {PSA_ERROR_INVALID_ARGUMENT, "admin app name too long", SECD_OP_KEY_LIST, B(APP), SECD_APP_NAME_MAX + 1,
                 true},
                {PSA_ERROR_NOT_PERMITTED, "app_add on app socket", SECD_OP_APP_ADD, B(APP), 1, false},
                {PSA_ERROR_INVALID_ARGUMENT, "reply field in request", SECD_OP_DESTROY_KEY, B(KEY_ID) | B(OUTPUT), 0,
                 false},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct secd_msg m = {.present = cases[i].present, .app = {(const uint8_t *) "a", cases[i].app_len}};
                psa_status_t s = secd_request_check(cases[i].op, &m, cases[i].admin);
                if (s != cases[i].want)
                        fail_msg("%s: got %d, want %d", cases[i].what, (int) s, (int) cases[i].want);
        }
        for (uint16_t op = 1; op < SECD_OP_MAX; op++)
                if (op != 20) /* app_remove: alder-appd's integration */
                        assert_non_null(secd_op_name(op));
}

static void test_status_names(void **state)
{
        assert_string_equal(secd_status_name(PSA_SUCCESS), "PSA_SUCCESS");
        assert_string_equal(secd_status_name(PSA_ERROR_NOT_PERMITTED), "PSA_ERROR_NOT_PERMITTED");
        assert_string_equal(secd_status_name(PSA_ERROR_DATA_INVALID), "PSA_ERROR_DATA_INVALID");
        assert_string_equal(secd_status_name(-144), "PSA_ERROR_UNKNOWN");
        assert_string_equal(secd_status_name(1), "PSA_ERROR_UNKNOWN");
        assert_string_equal(secd_status_name(INT32_MIN), "PSA_ERROR_UNKNOWN");
}

static void test_attribute_setters_follow_the_specification(void **state)
{
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        psa_set_key_id(&a, 5);
        assert_int_equal(psa_get_key_lifetime(&a), PSA_KEY_LIFETIME_PERSISTENT);
        psa_set_key_lifetime(&a, PSA_KEY_LIFETIME_VOLATILE);
        assert_int_equal(psa_get_key_id(&a), PSA_KEY_ID_NULL);
        psa_set_key_bits(&a, 1u << 20);
        assert_int_equal(psa_get_key_bits(&a), 0xffff);
        psa_reset_key_attributes(&a);
        assert_int_equal(psa_get_key_bits(&a), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_of_every_field),
                cmocka_unit_test(test_header_errors),
                cmocka_unit_test(test_body_errors),
                cmocka_unit_test(test_byte_field_limit),
                cmocka_unit_test(test_writer_overflow),
                cmocka_unit_test(test_request_check),
                cmocka_unit_test(test_status_names),
                cmocka_unit_test(test_attribute_setters_follow_the_specification),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
