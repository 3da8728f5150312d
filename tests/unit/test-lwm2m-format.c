/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LwM2M content formats (lib/lwm2m-*.c): known answers from the
 * specification's examples, round trips of every type in every format, and
 * every malformed-input error the decoders report.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alder-test.h"
#include "lwm2m-test.h"

/*
 * OMA-TS-LightweightM2M_Core §7.4.3 example: Read of /3/0 (Device), as a
 * list of resource TLVs.
 */
static const char device_tlv[] =
        "c8 00 14 4f 70 65 6e 20 4d 6f 62 69 6c 65 20 41 6c 6c 69 61 6e 63 65"       /* 0 "Open Mobile Alliance" */
        "c8 01 16 4c 69 67 68 74 77 65 69 67 68 74 20 4d 32 4d 20 43 6c 69 65 6e 74" /* 1 "Lightweight M2M Client" */
        "c8 02 09 33 34 35 30 30 30 31 32 33"                                        /* 2 "345000123" */
        "c3 03 31 2e 30"                                                             /* 3 "1.0" */
        "86 06 41 00 01 41 01 05"                                                    /* 6 power sources 1, 5 */
        "88 07 08 42 00 0e d8 42 01 13 88"                                           /* 7 voltages 3800, 5000 mV */
        "87 08 41 00 7d 42 01 03 84"                                                 /* 8 currents 125, 900 mA */
        "c1 09 64"                                                                   /* 9 battery level 100 % */
        "c1 0a 0f"                                                                   /* 10 free memory 15 KB */
        "83 0b 41 00 00"                                                             /* 11 error code 0 */
        "c4 0d 51 82 42 8f"                                                          /* 13 current time */
        "c6 0e 2b 30 32 3a 30 30"                                                    /* 14 UTC offset "+02:00" */
        "c1 10 55";                                                                  /* 16 binding "U" */

/* The same records, typed as the Device object defines them. */
static void device_records(struct alder_lwm2m_records *r)
{
        lw_add_str(r, "/3/0/0", "Open Mobile Alliance");
        lw_add_str(r, "/3/0/1", "Lightweight M2M Client");
        lw_add_str(r, "/3/0/2", "345000123");
        lw_add_str(r, "/3/0/3", "1.0");
        lw_add_int(r, "/3/0/6/0", 1);
        lw_add_int(r, "/3/0/6/1", 5);
        lw_add_int(r, "/3/0/7/0", 3800);
        lw_add_int(r, "/3/0/7/1", 5000);
        lw_add_int(r, "/3/0/8/0", 125);
        lw_add_int(r, "/3/0/8/1", 900);
        lw_add_int(r, "/3/0/9", 100);
        lw_add_int(r, "/3/0/10", 15);
        lw_add_int(r, "/3/0/11/0", 0);
        alder_lwm2m_value_set_int(lw_add(r, "/3/0/13"), ALDER_LWM2M_TYPE_TIME, 1367491215);
        lw_add_str(r, "/3/0/14", "+02:00");
        lw_add_str(r, "/3/0/16", "U");
}

/* Types TLV leaves out, by position in device_records(). */
static void type_device_records(struct alder_lwm2m_records *r)
{
        for (size_t i = 0; i < r->n; i++) {
                unsigned res = r->v[i].path.id[2];
                enum alder_lwm2m_type t = res <= 3 || res == 14 || res == 16 ? ALDER_LWM2M_TYPE_STRING
                                          : res == 13                        ? ALDER_LWM2M_TYPE_TIME
                                                                             : ALDER_LWM2M_TYPE_INTEGER;
                _cleanup_error_ alder_error *err = NULL;
                if (alder_lwm2m_value_convert(&r->v[i].value, t, ALDER_LWM2M_FMT_TLV, &err) < 0)
                        fail_msg("convert: %s", alder_error_message(err));
        }
}

static void test_tlv_device_known_answer(void **state)
{
        _cleanup_test_buf_ struct test_buf spec = lw_hex(device_tlv);
        _cleanup_lwm2m_records_ struct alder_lwm2m_records exp = {0}, got = {0}, wrapped = {0}, inside = {0};
        device_records(&exp);

        /* decode: values come out untyped, 16 records in path order */
        lw_decode(ALDER_LWM2M_FMT_TLV, "/3/0", spec.data, spec.len, &got);
        assert_int_equal(got.n, 16);
        assert_int_equal(got.v[9].value.type, ALDER_LWM2M_TYPE_NONE);
        assert_int_equal(got.v[9].value.len, 2); /* 5000 */
        type_device_records(&got);
        lw_check_records("TLV /3/0", &got, &exp);

        /* encode: exactly the specification's bytes */
        _cleanup_test_buf_ struct test_buf enc = lw_encode(ALDER_LWM2M_FMT_TLV, "/3/0", &exp);
        lw_check_bytes("encode /3/0", enc.data, enc.len, spec.data, spec.len);

        /* Read of /3: one Object Instance TLV around the same (§7.4.3, 08 00 79 ...) */
        _cleanup_test_buf_ struct test_buf obj = lw_encode(ALDER_LWM2M_FMT_TLV, "/3", &exp);
        assert_int_equal(obj.len, spec.len + 3);
        lw_check_bytes("encode /3 header", obj.data, 3, (const uint8_t *) "\x08\x00\x79", 3);
        lw_check_bytes("encode /3 body", obj.data + 3, obj.len - 3, spec.data, spec.len);
        lw_decode(ALDER_LWM2M_FMT_TLV, "/3", obj.data, obj.len, &wrapped);
        type_device_records(&wrapped);
        lw_check_records("TLV /3", &wrapped, &exp);
        /* some clients wrap an instance read in its Object Instance TLV too */
        lw_decode(ALDER_LWM2M_FMT_TLV, "/3/0", obj.data, obj.len, &inside);
        type_device_records(&inside);
        lw_check_records("TLV /3/0 wrapped", &inside, &exp);
}

static void test_tlv_levels(void **state)
{
        _cleanup_lwm2m_records_ struct alder_lwm2m_records voltages = {0}, one = {0}, sw = {0}, big = {0};
        lw_add_int(&voltages, "/3/0/7/0", 3800);
        lw_add_int(&voltages, "/3/0/7/1", 5000);
        /* a multiple resource read: one Multiple Resource TLV (§7.4.3 example) */
        _cleanup_test_buf_ struct test_buf mr = lw_encode(ALDER_LWM2M_FMT_TLV, "/3/0/7", &voltages);
        _cleanup_test_buf_ struct test_buf mr_exp = lw_hex("88 07 08 42 00 0e d8 42 01 13 88");
        lw_check_bytes("/3/0/7", mr.data, mr.len, mr_exp.data, mr_exp.len);

        /* a resource instance: a Resource Instance TLV */
        lw_add_int(&one, "/3/0/7/1", 5000);
        _cleanup_test_buf_ struct test_buf ri = lw_encode(ALDER_LWM2M_FMT_TLV, "/3/0/7/1", &one);
        lw_check_bytes("/3/0/7/1", ri.data, ri.len, (const uint8_t *) "\x42\x01\x13\x88", 4);

        /* 16-bit ids: Switch 5850 = true (IPSO example) */
        alder_lwm2m_value_set_bool(lw_add(&sw, "/3311/0/5850"), true);
        _cleanup_test_buf_ struct test_buf s = lw_encode(ALDER_LWM2M_FMT_TLV, "/3311/0", &sw);
        lw_check_bytes("/3311/0", s.data, s.len, (const uint8_t *) "\xe1\x16\xda\x01", 4);

        /* 16- and 24-bit lengths */
        static uint8_t blob[70000];
        memset(blob, 0xab, sizeof(blob));
        lw_add_bytes(&big, "/5/0/0", ALDER_LWM2M_TYPE_OPAQUE, blob, 300);
        lw_add_bytes(&big, "/5/0/1", ALDER_LWM2M_TYPE_OPAQUE, blob, sizeof(blob));
        _cleanup_test_buf_ struct test_buf b = lw_encode(ALDER_LWM2M_FMT_TLV, "/5/0", &big);
        assert_int_equal(b.len, 4 + 300 + 5 + sizeof(blob));
        lw_check_bytes("16-bit length", b.data, 4, (const uint8_t *) "\xd0\x00\x01\x2c", 4);
        lw_check_bytes("24-bit length", b.data + 304, 5, (const uint8_t *) "\xd8\x01\x01\x11\x70", 5);
        _cleanup_lwm2m_records_ struct alder_lwm2m_records back = {0};
        lw_decode(ALDER_LWM2M_FMT_TLV, "/5/0", b.data, b.len, &back);
        assert_int_equal(
                alder_lwm2m_value_convert(&back.v[0].value, ALDER_LWM2M_TYPE_OPAQUE, ALDER_LWM2M_FMT_TLV, NULL), 0);
        assert_int_equal(
                alder_lwm2m_value_convert(&back.v[1].value, ALDER_LWM2M_TYPE_OPAQUE, ALDER_LWM2M_FMT_TLV, NULL), 0);
        lw_check_records("big", &back, &big);
}

static void test_tlv_create_without_instance(void **state)
{
        /* a Create on /3 whose resources are not in an Object Instance TLV: the client picks the id */
        _cleanup_test_buf_ struct test_buf in = lw_hex("c1 09 64 86 06 41 00 01 41 01 05");
        _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
        lw_decode(ALDER_LWM2M_FMT_TLV, "/3", in.data, in.len, &r);
        assert_int_equal(r.n, 3);
        char p[ALDER_LWM2M_PATH_STRLEN];
        assert_string_equal(alder_lwm2m_path_format(&r.v[0].path, p), "/3/65535/6/0");
        assert_string_equal(alder_lwm2m_path_format(&r.v[2].path, p), "/3/65535/9");
        assert_int_equal(r.v[0].path.id[1], ALDER_LWM2M_ID_NONE);
        /* and back: resources without the wrapper, in path order */
        _cleanup_test_buf_ struct test_buf out = lw_encode(ALDER_LWM2M_FMT_TLV, "/3", &r);
        _cleanup_test_buf_ struct test_buf exp = lw_hex("86 06 41 00 01 41 01 05 c1 09 64");
        lw_check_bytes("create", out.data, out.len, exp.data, exp.len);
}

/* One record of each type, as the typed formats carry them. */
static void every_type(struct alder_lwm2m_records *r)
{
        lw_add_str(r, "/9/0/0", "caf\xc3\xa9 \"x\"\\\n");
        lw_add_int(r, "/9/0/1", INT64_MIN);
        lw_add_int(r, "/9/0/2", -129);
        lw_add_int(r, "/9/0/3", 40000);
        alder_lwm2m_value_set_uint(lw_add(r, "/9/0/4"), UINT64_MAX);
        alder_lwm2m_value_set_float(lw_add(r, "/9/0/5"), 0.1);
        alder_lwm2m_value_set_float(lw_add(r, "/9/0/6"), -2.5);
        alder_lwm2m_value_set_bool(lw_add(r, "/9/0/7"), false);
        lw_add_bytes(r, "/9/0/8", ALDER_LWM2M_TYPE_OPAQUE, "\x00\xff\x10", 3);
        alder_lwm2m_value_set_int(lw_add(r, "/9/0/9"), ALDER_LWM2M_TYPE_TIME, -1);
        alder_lwm2m_value_set_objlnk(lw_add(r, "/9/0/10"), 65535, 65535);
        lw_add_bytes(r, "/9/0/11", ALDER_LWM2M_TYPE_CORELNK, "</3/0>;ver=1.1", 14);
        lw_add_str(r, "/9/0/12/0", "");
        lw_add_bytes(r, "/9/0/12/7", ALDER_LWM2M_TYPE_OPAQUE, "", 0);
        lw_add_int(r, "/9/0/65534", 7);
}

static void test_tlv_round_trip_every_type(void **state)
{
        _cleanup_lwm2m_records_ struct alder_lwm2m_records exp = {0}, got = {0};
        every_type(&exp);
        _cleanup_test_buf_ struct test_buf b = lw_encode(ALDER_LWM2M_FMT_TLV, "/9", &exp);
        lw_decode(ALDER_LWM2M_FMT_TLV, "/9", b.data, b.len, &got);
        assert_int_equal(got.n, exp.n);
        for (size_t i = 0; i < got.n; i++) {
                _cleanup_error_ alder_error *err = NULL;
                if (alder_lwm2m_value_convert(&got.v[i].value, exp.v[i].value.type, ALDER_LWM2M_FMT_TLV, &err) < 0)
                        fail_msg("record %zu: %s", i, alder_error_message(err));
        }
        lw_check_records("TLV every type", &got, &exp);
        /* floats take 4 bytes when exact, integers the fewest bytes */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records one = {0};
        alder_lwm2m_value_set_float(lw_add(&one, "/9/0/6"), -2.5);
        _cleanup_test_buf_ struct test_buf f = lw_encode(ALDER_LWM2M_FMT_TLV, "/9/0/6", &one);
        lw_check_bytes("float", f.data, f.len, (const uint8_t *) "\xc4\x06\xc0\x20\x00\x00", 6);
}

static void test_text_and_opaque(void **state)
{
        static const struct {
                const char *text;
                enum alder_lwm2m_type type;
        } cases[] = {
                {"-42", ALDER_LWM2M_TYPE_INTEGER},
                {"18446744073709551615", ALDER_LWM2M_TYPE_UNSIGNED},
                {"0.1", ALDER_LWM2M_TYPE_FLOAT},
                {"1", ALDER_LWM2M_TYPE_BOOLEAN},
                {"0", ALDER_LWM2M_TYPE_BOOLEAN},
                {"3:0", ALDER_LWM2M_TYPE_OBJLNK},
                {"AQIDBAU=", ALDER_LWM2M_TYPE_OPAQUE},
                {"1367491215", ALDER_LWM2M_TYPE_TIME},
                {"Open Mobile Alliance", ALDER_LWM2M_TYPE_STRING},
                {"</3/0>", ALDER_LWM2M_TYPE_CORELNK},
                {"", ALDER_LWM2M_TYPE_STRING},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
                lw_decode(ALDER_LWM2M_FMT_TEXT, "/3/0/9", cases[i].text, strlen(cases[i].text), &r);
                assert_int_equal(r.n, 1);
                assert_int_equal(r.v[0].value.type, ALDER_LWM2M_TYPE_NONE);
                assert_int_equal(alder_lwm2m_value_convert(&r.v[0].value, cases[i].type, ALDER_LWM2M_FMT_TEXT, NULL),
                                 0);
                _cleanup_test_buf_ struct test_buf b = lw_encode(ALDER_LWM2M_FMT_TEXT, "/3/0/9", &r);
                lw_check_bytes(cases[i].text, b.data, b.len, (const uint8_t *) cases[i].text, strlen(cases[i].text));
        }
        /* opaque: the bytes as they are, typed */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records o = {0}, exp = {0};
        lw_decode(ALDER_LWM2M_FMT_OPAQUE, "/5/0/0", "\x00\x01\x02", 3, &o);
        lw_add_bytes(&exp, "/5/0/0", ALDER_LWM2M_TYPE_OPAQUE, "\x00\x01\x02", 3);
        lw_check_records("opaque", &o, &exp);
        _cleanup_test_buf_ struct test_buf b = lw_encode(ALDER_LWM2M_FMT_OPAQUE, "/5/0/0", &o);
        lw_check_bytes("opaque", b.data, b.len, (const uint8_t *) "\x00\x01\x02", 3);
}

static void test_cbor_known_answers(void **state)
{
        static const struct {
                const char *hex;
                enum alder_lwm2m_type type; /* after decoding */
                const char *text;
        } cases[] = {
                {"18 64", ALDER_LWM2M_TYPE_INTEGER, "100"},
                {"20", ALDER_LWM2M_TYPE_INTEGER, "-1"},
                {"3b 7f ff ff ff ff ff ff ff", ALDER_LWM2M_TYPE_INTEGER, "-9223372036854775808"},
                {"1b ff ff ff ff ff ff ff ff", ALDER_LWM2M_TYPE_UNSIGNED, "18446744073709551615"},
                {"fa 3f c0 00 00", ALDER_LWM2M_TYPE_FLOAT, "1.5"},
                {"fb 3f b9 99 99 99 99 99 9a", ALDER_LWM2M_TYPE_FLOAT, "0.1"},
                {"f5", ALDER_LWM2M_TYPE_BOOLEAN, "true"},
                {"61 55", ALDER_LWM2M_TYPE_STRING, "U"},
                {"43 01 02 ff", ALDER_LWM2M_TYPE_OPAQUE, "0102ff"},
                {"c1 1a 51 82 42 8f", ALDER_LWM2M_TYPE_TIME, "1367491215"},
                {"c1 20", ALDER_LWM2M_TYPE_TIME, "-1"},
                {"63 33 3a 30", ALDER_LWM2M_TYPE_STRING, "3:0"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_test_buf_ struct test_buf in = lw_hex(cases[i].hex);
                _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
                lw_decode(ALDER_LWM2M_FMT_CBOR, "/3/0/13", in.data, in.len, &r);
                assert_int_equal(r.n, 1);
                assert_int_equal(r.v[0].value.type, cases[i].type);
                _cleanup_free_ char *t = alder_lwm2m_value_to_text(&r.v[0].value, 8);
                assert_string_equal(t, cases[i].text);
                _cleanup_test_buf_ struct test_buf out = lw_encode(ALDER_LWM2M_FMT_CBOR, "/3/0/13", &r);
                lw_check_bytes(cases[i].hex, out.data, out.len, in.data, in.len);
        }
        /* what has no CBOR type of its own: objlnk as "O:I" text, half floats and indefinite strings read */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records l = {0}, h = {0}, s = {0};
        alder_lwm2m_value_set_objlnk(lw_add(&l, "/1/0/1"), 3, 0);
        _cleanup_test_buf_ struct test_buf lb = lw_encode(ALDER_LWM2M_FMT_CBOR, "/1/0/1", &l);
        lw_check_bytes("objlnk", lb.data, lb.len, (const uint8_t *) "\x63\x33\x3a\x30", 4);
        lw_decode(ALDER_LWM2M_FMT_CBOR, "/3/0/1", "\xf9\x3c\x00", 3, &h);
        assert_int_equal(h.v[0].value.type, ALDER_LWM2M_TYPE_FLOAT);
        assert_true(h.v[0].value.f == 1.0);
        lw_decode(ALDER_LWM2M_FMT_CBOR, "/3/0/1", "\x7f\x61\x61\x60\x61\x62\xff", 7, &s);
        assert_int_equal(s.v[0].value.len, 2);
        assert_string_equal((char *) s.v[0].value.data, "ab");
}

static void test_tlv_malformed(void **state)
{
        const unsigned T = ALDER_LWM2M_FMT_TLV;
        /* 4097 resource instances of one byte at the top of a payload for a multiple resource */
        static char many[4097 * 8 + 1];
        for (size_t i = 0; i < 4097; i++)
                sprintf(many + 8 * i, "61%02x%02x00", (unsigned) (i >> 8), (unsigned) (i & 0xff));
        const struct lw_bad_case cases[] = {
                {T, "/3/0", "c8", NULL, EBADMSG, "TLV offset 0: truncated header (3 bytes, 1 left)"},
                {T, "/3/0", "c1 09 64 e8 00", NULL, EBADMSG, "TLV offset 3: truncated header (4 bytes, 2 left)"},
                {T, "/3/0", "c8 00 14 41", NULL, EBADMSG,
                 "TLV offset 0: Resource 0: value of 20 bytes exceeds the remaining 1 bytes"},
                {T, "/3/0", "86 06 41 00 01 42 01", NULL, EBADMSG,
                 "TLV offset 0: Multiple Resource 6: value of 6 bytes exceeds the remaining 5 bytes"},
                {T, "/3/0", "86 06 41 00 01 42 01 05 00", NULL, EBADMSG,
                 "TLV offset 5: Resource Instance 1: value of 2 bytes exceeds the remaining 1 bytes"},
                {T, "/3/0", "e1 ff ff 01", NULL, EBADMSG, "TLV offset 0: Resource id 65535 is reserved"},
                {T, "/3", "02 00 00 01", NULL, EBADMSG,
                 "TLV offset 2: Object Instance TLV inside an Object Instance TLV"},
                {T, "/3", "03 00 41 00 01", NULL, EBADMSG,
                 "TLV offset 2: Resource Instance TLV inside an Object Instance TLV"},
                {T, "/3/0", "83 07 c1 00 01", NULL, EBADMSG,
                 "TLV offset 2: Resource TLV inside a Multiple Resource TLV"},
                {T, "/3/0", "41 00 01", NULL, EBADMSG,
                 "TLV offset 0: Resource Instance TLV at the top of a payload for /3/0 (expected Resource TLVs)"},
                {T, "/3", "41 00 01", NULL, EBADMSG,
                 "TLV offset 0: Resource Instance TLV at the top of a payload for /3 (expected Object Instance "
                 "TLVs)"},
                {T, "/3/0", "03 01 c1 09 64", NULL, EBADMSG, "TLV offset 0: /3/1 is outside the request path /3/0"},
                {T, "/3/0/9", "c1 0a 0f", NULL, EBADMSG, "TLV offset 0: /3/0/10 is outside the request path /3/0/9"},
                {T, "/3/0/7/1", "c1 07 05", NULL, EBADMSG, "TLV offset 0: /3/0/7 is outside the request path /3/0/7/1"},
                {T, "/3/0/7/1", "86 07 41 00 01 41 01 05", NULL, EBADMSG,
                 "TLV offset 2: /3/0/7/0 is outside the request path /3/0/7/1"},
                {T, "/3", "c1 09 64 03 00 c1 0a 0f", NULL, EBADMSG,
                 "TLV offset 3: Resource TLVs (offset 0) and Object Instance TLVs (offset 3) at the top of one "
                 "payload"},
                {T, "/3/0", "c1 09 64 c1 09 65", NULL, EBADMSG, "TLV offset 3: duplicate /3/0/9 (see offset 0)"},
                {T, "/3", "03 00 c1 09 64 03 00 c1 09 64", NULL, EBADMSG,
                 "TLV offset 7: duplicate /3/0/9 (see offset 2)"},
                {T, "/3/0", "c1 07 05 83 07 41 00 01", NULL, EBADMSG,
                 "TLV offset 5: resource /3/0/7 has a value and also instances (see offset 0)"},
                {T, "/", "", NULL, EBADMSG, "TLV has no object level: the request path / cannot be read in it"},
                {T, "/3/0/7", many, NULL, E2BIG, "TLV offset 16384: more than 4096 records"},
        };
        lw_check_bad(cases, ALDER_ARRAY_SIZE(cases));
}

static void test_single_value_malformed(void **state)
{
        const unsigned C = ALDER_LWM2M_FMT_CBOR, X = ALDER_LWM2M_FMT_TEXT, O = ALDER_LWM2M_FMT_OPAQUE;
        const struct lw_bad_case cases[] = {
                {X, "/3/0", NULL, "1", EBADMSG,
                 "text/plain carries one resource (instance), the request path /3/0 is not one"},
                {O, "/5", NULL, "1", EBADMSG,
                 "application/octet-stream carries one resource (instance), the request path /5 is not one"},
                {C, "/3/0", "01", NULL, EBADMSG,
                 "application/cbor carries one resource (instance), the request path /3/0 is not one"},
                {C, "/3/0/1", "", NULL, EBADMSG, "application/cbor: CBOR offset 0: truncated (an item is missing)"},
                {C, "/3/0/1", "01 02", NULL, EBADMSG,
                 "application/cbor: CBOR offset 1: 1 trailing bytes after the value"},
                {C, "/3/0/1", "80", NULL, EBADMSG,
                 "application/cbor: CBOR offset 0: expected a single value, got array"},
                {C, "/3/0/1", "9f ff", NULL, EBADMSG,
                 "application/cbor: CBOR offset 0: expected a single value, got an indefinite-length array"},
                {C, "/3/0/1", "f6", NULL, EBADMSG,
                 "application/cbor: CBOR offset 0: expected a single value, got null"},
                {C, "/3/0/1", "c0 60", NULL, EBADMSG,
                 "application/cbor: CBOR offset 0: tag 0 is not supported (only 1, epoch time)"},
                {C, "/3/0/1", "c1 f9 3c 00", NULL, EBADMSG,
                 "application/cbor: CBOR offset 1: tag 1 (epoch time) holds a floating-point number (LwM2M Time is "
                 "whole seconds)"},
                {C, "/3/0/1", "c1 1b ff ff ff ff ff ff ff ff", NULL, EBADMSG,
                 "application/cbor: CBOR offset 1: integer out of the range of 64-bit signed integers"},
                {C, "/3/0/1", "3b 80 00 00 00 00 00 00 00", NULL, EBADMSG,
                 "application/cbor: CBOR offset 0: integer out of the range of 64-bit signed integers"},
                {C, "/3/0/1", "c6 00", NULL, EBADMSG, "application/cbor: CBOR offset 0: tag 6 is not supported"},
                {C, "/3/0/1", "19 01", NULL, EBADMSG, "application/cbor: CBOR offset 0: truncated item"},
                {C, "/3/0/1", "7a ff ff ff ff 00", NULL, EBADMSG, "application/cbor: CBOR offset 0: truncated item"},
                {C, "/3/0/1", "1c", NULL, EBADMSG, "application/cbor: CBOR offset 0: malformed item (byte 0x1c)"},
                {C, "/3/0/1", "62 c3 28", NULL, EBADMSG,
                 "application/cbor: CBOR offset 0: text string is not UTF-8 without NUL (string offset 0)"},
                {C, "/3/0/1", "62 61 00", NULL, EBADMSG,
                 "application/cbor: CBOR offset 0: text string is not UTF-8 without NUL (string offset 1)"},
                {C, "/3/0/1", "7f 41 00 ff", NULL, EBADMSG,
                 "application/cbor: CBOR offset 1: chunk of an indefinite-length text string is a byte string"},
                {C, "/3/0/1", "7f 7f ff ff", NULL, EBADMSG,
                 "application/cbor: CBOR offset 1: chunk of an indefinite-length text string is an indefinite text "
                 "string"},
                {C, "/3/0/1", "7f 61 61", NULL, EBADMSG,
                 "application/cbor: CBOR offset 3: truncated (an item is missing)"},
                {ALDER_LWM2M_FMT_LWM2M_JSON, "/3/0", NULL, "{}", EPROTONOSUPPORT,
                 "decode application/vnd.oma.lwm2m+json (11543): the LwM2M 1.0 JSON format is not supported "
                 "(superseded in 1.1), use SenML-JSON (110) or TLV (11542)"},
                {ALDER_LWM2M_FMT_LINK, "/3/0", NULL, "</3/0>", EPROTONOSUPPORT,
                 "decode application/link-format (40): link format carries links, not resource values "
                 "(alder_lwm2m_links_parse() reads it)"},
                {50, "/3/0", NULL, "{}", EPROTONOSUPPORT, "decode: content format 50 is not an LwM2M data format"},
        };
        lw_check_bad(cases, ALDER_ARRAY_SIZE(cases));
}

struct bad_encode {
        unsigned format;
        const char *base;
        int errnum;
        const char *msg;
};

static void check_bad_encode(const struct alder_lwm2m_records *r, const struct bad_encode *cases, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_error_ alder_error *err = NULL;
                struct alder_lwm2m_path base = lw_path(cases[i].base);
                uint8_t *out = (uint8_t *) "untouched";
                size_t out_len = 42;
                char what[96];
                alder_test_case_name(what, i, "format %u for %s", cases[i].format, cases[i].base);
                int ret = alder_lwm2m_encode(cases[i].format, &base, r, &out, &out_len, &err);
                alder_test_check_error(what, ret, err, cases[i].errnum, cases[i].msg);
                assert_string_equal((char *) out, "untouched");
                assert_int_equal(out_len, 42);
        }
}

static void test_encode_errors(void **state)
{
        const unsigned T = ALDER_LWM2M_FMT_TLV, X = ALDER_LWM2M_FMT_TEXT, O = ALDER_LWM2M_FMT_OPAQUE,
                       C = ALDER_LWM2M_FMT_CBOR;
        _cleanup_lwm2m_records_ struct alder_lwm2m_records two = {0}, dup = {0}, multi = {0}, none = {0},
                                                           reserved = {0}, nan = {0}, raw = {0};
        lw_add_int(&two, "/3/0/9", 1);
        lw_add_int(&two, "/3/0/10", 1);
        const struct bad_encode two_cases[] = {
                {T, "/", EINVAL, "encode TLV: TLV has no object level, it cannot carry the root path"},
                {T, "/4", EINVAL, "encode TLV: record /3/0/9 is outside the request path /4"},
                {X, "/3/0", EINVAL, "text/plain carries one resource (instance), not /3/0"},
                {X, "/3/0/9", EINVAL, "text/plain carries exactly one value, got 2 records"},
                {C, "/3/0/9", EINVAL, "application/cbor carries exactly one value, got 2 records"},
                {ALDER_LWM2M_FMT_LWM2M_JSON, "/3/0", EPROTONOSUPPORT,
                 "encode application/vnd.oma.lwm2m+json (11543): the LwM2M 1.0 JSON format is not supported "
                 "(superseded in 1.1), use SenML-JSON (110) or TLV (11542)"},
        };
        check_bad_encode(&two, two_cases, ALDER_ARRAY_SIZE(two_cases));

        lw_add_int(&dup, "/3/0/9", 1);
        lw_add_int(&dup, "/3/0/9", 2);
        const struct bad_encode dup_cases[] = {{T, "/3/0", EINVAL, "encode TLV: duplicate /3/0/9"}};
        check_bad_encode(&dup, dup_cases, 1);

        lw_add_int(&multi, "/3/0/7/0", 1);
        lw_add_int(&multi, "/3/0/7", 2);
        const struct bad_encode multi_cases[] = {
                {T, "/3/0", EINVAL, "encode TLV: resource /3/0/7 has a value and also instances"}};
        check_bad_encode(&multi, multi_cases, 1);

        lw_add(&none, "/3/0/9");
        const struct bad_encode none_cases[] = {
                {T, "/3/0", EINVAL, "encode TLV: record /3/0/9 has no value"},
                {X, "/3/0/9", EINVAL, "text/plain: record /3/0/9 has no value"},
        };
        check_bad_encode(&none, none_cases, ALDER_ARRAY_SIZE(none_cases));

        struct alder_lwm2m_path rp = alder_lwm2m_path_make(3, 3, 0, 65535);
        alder_lwm2m_value_set_int(&alder_lwm2m_records_add(&reserved, &rp)->value, ALDER_LWM2M_TYPE_INTEGER, 1);
        const struct bad_encode reserved_cases[] = {
                {T, "/3/0", EINVAL, "encode TLV: record /3/0/65535 uses the reserved id 65535"},
                {X, "/3/0/9", EINVAL, "text/plain: record /3/0/65535 is not the request path"},
        };
        check_bad_encode(&reserved, reserved_cases, ALDER_ARRAY_SIZE(reserved_cases));

        alder_lwm2m_value_set_float(lw_add(&nan, "/3/0/9"), NAN);
        const struct bad_encode nan_cases[] = {
                {X, "/3/0/9", EINVAL, "text/plain: Float value nan has no text form"},
                {O, "/3/0/9", EINVAL, "application/octet-stream carries Opaque values, /3/0/9 is Float"},
        };
        check_bad_encode(&nan, nan_cases, ALDER_ARRAY_SIZE(nan_cases));

        lw_add_bytes(&raw, "/3/0/9", ALDER_LWM2M_TYPE_NONE, "1", 1);
        const struct bad_encode raw_cases[] = {
                {C, "/3/0/9", EINVAL, "application/cbor: record /3/0/9 has an untyped value (convert it first)"},
        };
        check_bad_encode(&raw, raw_cases, ALDER_ARRAY_SIZE(raw_cases));

        /* past the 24-bit TLV length */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records huge = {0};
        _cleanup_free_ uint8_t *blob = calloc(1, 0x1000000);
        assert_non_null(blob);
        lw_add_bytes(&huge, "/5/0/0", ALDER_LWM2M_TYPE_OPAQUE, blob, 0x1000000);
        const struct bad_encode huge_cases[] = {
                {T, "/5/0", E2BIG, "encode TLV: Resource 0 of 16777216 bytes exceeds the 24-bit length"},
        };
        check_bad_encode(&huge, huge_cases, ALDER_ARRAY_SIZE(huge_cases));
}

/* OMA-TS-LightweightM2M_Core §7.4.4 example: Read of /3/0 in SenML-JSON. */
static const char device_senml_json[] = "[{\"bn\":\"/3/0/\",\"n\":\"0\",\"vs\":\"Open Mobile Alliance\"},\n"
                                        " {\"n\":\"1\",\"vs\":\"Lightweight M2M Client\"},\n"
                                        " {\"n\":\"2\",\"vs\":\"345000123\"},\n"
                                        " {\"n\":\"3\",\"vs\":\"1.0\"},\n"
                                        " {\"n\":\"6/0\",\"v\":1},\n"
                                        " {\"n\":\"6/1\",\"v\":5},\n"
                                        " {\"n\":\"7/0\",\"v\":3800},\n"
                                        " {\"n\":\"7/1\",\"v\":5000},\n"
                                        " {\"n\":\"8/0\",\"v\":125},\n"
                                        " {\"n\":\"8/1\",\"v\":900},\n"
                                        " {\"n\":\"9\",\"v\":100},\n"
                                        " {\"n\":\"10\",\"v\":15},\n"
                                        " {\"n\":\"11/0\",\"v\":0},\n"
                                        " {\"n\":\"13\",\"v\":1367491215},\n"
                                        " {\"n\":\"14\",\"vs\":\"+02:00\"},\n"
                                        " {\"n\":\"16\",\"vs\":\"U\"}]";

/* The example without its blanks: what the encoder writes. */
static char *without_blanks(const char *s)
{
        char *out = strdup(s), *o = out;
        assert_non_null(out);
        bool in_string = false;
        for (; *s; s++) {
                if (*s == '"')
                        in_string = !in_string;
                if (in_string || (*s != ' ' && *s != '\n'))
                        *o++ = *s;
        }
        *o = '\0';
        return out;
}

static void test_senml_json_device_known_answer(void **state)
{
        _cleanup_lwm2m_records_ struct alder_lwm2m_records exp = {0}, got = {0};
        device_records(&exp);
        lw_decode(ALDER_LWM2M_FMT_SENML_JSON, "/3/0", device_senml_json, strlen(device_senml_json), &got);
        assert_int_equal(got.n, 16);
        assert_int_equal(got.v[13].value.type, ALDER_LWM2M_TYPE_INTEGER); /* every number is "v" */
        type_device_records(&got);
        lw_check_records("SenML-JSON /3/0", &got, &exp);

        _cleanup_test_buf_ struct test_buf enc = lw_encode(ALDER_LWM2M_FMT_SENML_JSON, "/3/0", &exp);
        _cleanup_free_ char *compact = without_blanks(device_senml_json);
        lw_check_bytes("encode SenML-JSON /3/0", enc.data, enc.len, (const uint8_t *) compact, strlen(compact));

        /* the same from the root: bn "/", names relative to it */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records root = {0};
        lw_decode(ALDER_LWM2M_FMT_SENML_JSON, "/", device_senml_json, strlen(device_senml_json), &root);
        assert_int_equal(root.n, 16);
}

static void test_senml_names(void **state)
{
        static const struct {
                const char *base;
                const char *json; /* what the encoder writes for the records decoded from it */
                size_t n;
        } cases[] = {
                /* a single resource: bn is its path, no n */
                {"/3/0/0", "[{\"bn\":\"/3/0/0\",\"vs\":\"Open Mobile Alliance\"}]", 1},
                /* a multiple resource: bn with a trailing '/', n the instances */
                {"/3/0/7", "[{\"bn\":\"/3/0/7/\",\"n\":\"0\",\"v\":3800},{\"n\":\"1\",\"v\":5000}]", 2},
                /* a resource instance */
                {"/3/0/7/1", "[{\"bn\":\"/3/0/7/1\",\"v\":5000}]", 1},
                /* Read-Composite request: names alone, any depth */
                {"/", "[{\"bn\":\"/\",\"n\":\"1/0\"},{\"n\":\"3/0/1\"},{\"n\":\"5\"}]", 3},
                /* Write-Composite: several objects, every type of value */
                {"/",
                 "[{\"bn\":\"/\",\"n\":\"1/0/1\",\"v\":60},{\"n\":\"1/0/6\",\"vb\":true},"
                 "{\"n\":\"3/0/14\",\"vs\":\"+01:00\"},{\"n\":\"5/0/0\",\"vd\":\"AP8Q\"},"
                 "{\"n\":\"9/0/5\",\"v\":-0.5},{\"n\":\"9/0/6\",\"v\":3.0},{\"n\":\"9/0/7\",\"vlo\":\"3:0\"}]",
                 7},
                {"/5/0", "[]", 0},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0}, c = {0};
                lw_decode(ALDER_LWM2M_FMT_SENML_JSON, cases[i].base, cases[i].json, strlen(cases[i].json), &r);
                assert_int_equal(r.n, cases[i].n);
                _cleanup_test_buf_ struct test_buf j = lw_encode(ALDER_LWM2M_FMT_SENML_JSON, cases[i].base, &r);
                lw_check_bytes(cases[i].json, j.data, j.len, (const uint8_t *) cases[i].json, strlen(cases[i].json));
                /* SenML-CBOR carries the same */
                _cleanup_test_buf_ struct test_buf b = lw_encode(ALDER_LWM2M_FMT_SENML_CBOR, cases[i].base, &r);
                lw_decode(ALDER_LWM2M_FMT_SENML_CBOR, cases[i].base, b.data, b.len, &c);
                lw_check_records(cases[i].json, &c, &r);
        }
}

static void test_senml_json_input_forms(void **state)
{
        /* bn changes midway, bt/t/u are ignored, names without a leading '/', vd padded or not */
        static const char in[] = "[{\"bn\":\"/3/0/\",\"bt\":1.5e9,\"n\":\"9\",\"v\":100,\"t\":-5,\"u\":\"%EL\"},"
                                 " {\"bn\":\"5/0/\",\"n\":\"0\",\"vd\":\"AP8Q\",\"bver\":10},"
                                 " {\"n\":\"1\",\"vs\":\"\\u00e9\\n\",\"x\":[1,{}]},"
                                 " {\"bn\":\"/1/0/1\",\"v\":-1e-3},"
                                 " {\"bn\":\"/9/0/\",\"n\":\"4\",\"vd\":\"AP8QAA==\"}]";
        _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0}, exp = {0};
        lw_decode(ALDER_LWM2M_FMT_SENML_JSON, "/", in, strlen(in), &r);
        alder_lwm2m_value_set_float(lw_add(&exp, "/1/0/1"), -1e-3);
        lw_add_int(&exp, "/3/0/9", 100);
        lw_add_bytes(&exp, "/5/0/0", ALDER_LWM2M_TYPE_OPAQUE, "\x00\xff\x10", 3);
        lw_add_str(&exp, "/5/0/1", "\xc3\xa9\n");
        lw_add_bytes(&exp, "/9/0/4", ALDER_LWM2M_TYPE_OPAQUE, "\x00\xff\x10\x00", 4);
        lw_check_records("input forms", &r, &exp);
}

static void test_senml_cbor_known_answer(void **state)
{
        /* [{-2: "/3/0/0", 3: "Open Mobile Alliance"}] */
        _cleanup_test_buf_ struct test_buf single = lw_hex(
                "81 a2 21 66 2f 33 2f 30 2f 30 03 74 4f 70 65 6e 20 4d 6f 62 69 6c 65 20 41 6c 6c 69 61 6e 63 65");
        /* [{-2: "/3/0/", 0: "9", 2: 100}, {0: "13", 2: 1367491215}, {0: "6/0", 2: 1}] in any order, indefinite
         * lengths, a float and a text label that is not ours */
        _cleanup_test_buf_ struct test_buf multi = lw_hex("9f"
                                                          "bf 21 65 2f 33 2f 30 2f 00 61 39 02 18 64 ff"
                                                          "a3 02 1a 51 82 42 8f 00 62 31 33 63 66 6f 6f f6"
                                                          "a2 00 7f 61 36 62 2f 30 ff 02 f9 3c 00"
                                                          "ff");
        _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0}, m = {0}, exp = {0};
        lw_decode(ALDER_LWM2M_FMT_SENML_CBOR, "/3/0/0", single.data, single.len, &r);
        lw_add_str(&exp, "/3/0/0", "Open Mobile Alliance");
        lw_check_records("SenML-CBOR /3/0/0", &r, &exp);
        _cleanup_test_buf_ struct test_buf enc = lw_encode(ALDER_LWM2M_FMT_SENML_CBOR, "/3/0/0", &exp);
        lw_check_bytes("encode SenML-CBOR", enc.data, enc.len, single.data, single.len);

        lw_decode(ALDER_LWM2M_FMT_SENML_CBOR, "/3/0", multi.data, multi.len, &m);
        alder_lwm2m_records_clear(&exp);
        alder_lwm2m_value_set_float(lw_add(&exp, "/3/0/6/0"), 1.0);
        lw_add_int(&exp, "/3/0/9", 100);
        lw_add_int(&exp, "/3/0/13", 1367491215);
        lw_check_records("SenML-CBOR /3/0", &m, &exp);

        /* [{-2: "/3/0/", 0: "9", 99: {0: "1", 2: 7}, 2: 100}]: an extension label's map is skipped whole */
        _cleanup_test_buf_ struct test_buf ext = lw_hex("81 a4 21 65 2f 33 2f 30 2f 00 61 39 18 63 a2 00 61 31 02 07"
                                                        "02 18 64");
        _cleanup_lwm2m_records_ struct alder_lwm2m_records e = {0};
        lw_decode(ALDER_LWM2M_FMT_SENML_CBOR, "/3/0", ext.data, ext.len, &e);
        alder_lwm2m_records_clear(&exp);
        lw_add_int(&exp, "/3/0/9", 100);
        lw_check_records("SenML-CBOR extension map", &e, &exp);

        /* objlnk under the text label "vlo", opaque as a byte string, bool */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records l = {0};
        alder_lwm2m_value_set_objlnk(lw_add(&l, "/1/0/1"), 3, 0);
        alder_lwm2m_value_set_bool(lw_add(&l, "/1/0/2"), true);
        lw_add_bytes(&l, "/1/0/3", ALDER_LWM2M_TYPE_OPAQUE, "\x01", 1);
        _cleanup_test_buf_ struct test_buf lb = lw_encode(ALDER_LWM2M_FMT_SENML_CBOR, "/1/0", &l);
        _cleanup_test_buf_ struct test_buf lexp = lw_hex("83 a3 21 65 2f 31 2f 30 2f 00 61 31 63 76 6c 6f 63 33 3a 30"
                                                         "a2 00 61 32 04 f5"
                                                         "a2 00 61 33 08 41 01");
        lw_check_bytes("encode vlo", lb.data, lb.len, lexp.data, lexp.len);
}

static void test_senml_round_trip_every_type(void **state)
{
        const unsigned formats[] = {ALDER_LWM2M_FMT_SENML_JSON, ALDER_LWM2M_FMT_SENML_CBOR};
        for (size_t f = 0; f < ALDER_ARRAY_SIZE(formats); f++) {
                _cleanup_lwm2m_records_ struct alder_lwm2m_records exp = {0}, got = {0};
                every_type(&exp);
                if (formats[f] == ALDER_LWM2M_FMT_SENML_JSON)
                        exp.v[4].value.u = INT64_MAX; /* jansson reads no integer above it */
                _cleanup_test_buf_ struct test_buf b = lw_encode(formats[f], "/9", &exp);
                lw_decode(formats[f], "/9", b.data, b.len, &got);
                assert_int_equal(got.n, exp.n);
                for (size_t i = 0; i < got.n; i++) {
                        _cleanup_error_ alder_error *err = NULL;
                        if (alder_lwm2m_value_convert(&got.v[i].value, exp.v[i].value.type, formats[f], &err) < 0)
                                fail_msg("format %u record %zu: %s", formats[f], i, alder_error_message(err));
                }
                lw_check_records(f == 0 ? "SenML-JSON every type" : "SenML-CBOR every type", &got, &exp);
        }
}

static void test_senml_malformed(void **state)
{
        const unsigned J = ALDER_LWM2M_FMT_SENML_JSON, C = ALDER_LWM2M_FMT_SENML_CBOR;
        static char many_json[4097 * 3 + 3], many_cbor[2 * (3 + 4097) + 1], deep[2 * 40 + 1];
        strcpy(many_json, "[");
        for (size_t i = 0; i < 4097; i++)
                strcat(many_json, i ? ",{}" : "{}");
        strcat(many_json, "]");
        strcpy(many_cbor, "991001");
        for (size_t i = 0; i < 4097; i++)
                strcat(many_cbor, "a0");
        strcpy(deep, "81a109");
        for (size_t i = 0; i < 17; i++)
                strcat(deep, "81");
        strcat(deep, "00");
        const struct lw_bad_case cases[] = {
                {J, "/", NULL, "", EBADMSG, "SenML-JSON offset 0: '[' or '{' expected near end of file"},
                {J, "/", NULL, "[{}] x", EBADMSG, "SenML-JSON offset 6: end of file expected near 'x'"},
                {J, "/", NULL, "{}", EBADMSG, "SenML-JSON: expected an array of records, got object"},
                {J, "/", NULL, "[1]", EBADMSG, "SenML-JSON record 0: expected an object, got integer"},
                {J, "/", NULL, "[{\"n\":5}]", EBADMSG, "SenML-JSON record 0: field 'n' must be a string, got integer"},
                {J, "/", NULL, "[{\"n\":\"/3/0/1\",\"v\":\"1\"}]", EBADMSG,
                 "SenML-JSON record 0: field 'v' must be a number, got string"},
                {J, "/", NULL, "[{\"n\":\"/3/0/1\",\"vb\":1}]", EBADMSG,
                 "SenML-JSON record 0: field 'vb' must be a boolean, got integer"},
                {J, "/", NULL, "[{\"n\":\"/3/0/1\",\"bt\":\"now\"}]", EBADMSG,
                 "SenML-JSON record 0: field 'bt' must be a number, got string"},
                {J, "/", NULL, "[{\"n\":\"/3/0/1\",\"v\":1,\"vs\":\"a\"}]", EBADMSG,
                 "SenML-JSON record 0: more than one value field ('v' and 'vs')"},
                {J, "/", NULL, "[{\"n\":\"/3/0/1\",\"v\":1,\"v\":2}]", EBADMSG,
                 "SenML-JSON offset 24: duplicate object key near '\"v\"'"},
                {J, "/", NULL, "[{\"n\":\"/3/0/1\",\"bv\":1}]", EBADMSG,
                 "SenML-JSON record 0: field 'bv' (base value, sum) is not supported by LwM2M"},
                {J, "/", NULL, "[{\"n\":\"/3/0/1\",\"foo_\":1}]", EBADMSG,
                 "SenML-JSON record 0: field 'foo_' must be understood (RFC 8428 §4.4) and is not"},
                {J, "/", NULL, "[{\"n\":\"/3/x\",\"v\":1}]", EBADMSG,
                 "SenML-JSON record 0: LwM2M path '/3/x': level 2 ('x') is not a decimal id"},
                {J, "/", NULL, "[{\"v\":1}]", EBADMSG, "SenML-JSON record 0: empty LwM2M path (the root is '/')"},
                {J, "/", NULL, "[{\"bn\":\"/3/0/\",\"n\":\"1\",\"v\":1},{\"n\":\"1\",\"v\":2}]", EBADMSG,
                 "SenML-JSON record 1: duplicate /3/0/1 (see record 0)"},
                {J, "/", NULL, "[{\"n\":\"/3/0/7\",\"v\":1},{\"n\":\"/3/0/7/0\",\"v\":2}]", EBADMSG,
                 "SenML-JSON record 1: resource /3/0/7 has a value and also instances (see record 0)"},
                {J, "/3/0", NULL, "[{\"n\":\"/4/0/1\",\"v\":1}]", EBADMSG,
                 "SenML-JSON record 0: /4/0/1 is outside the request path /3/0"},
                {J, "/", NULL, "[{\"n\":\"/3/0\",\"v\":1}]", EBADMSG,
                 "SenML-JSON record 0: /3/0 has a value but is not a resource"},
                {J, "/", NULL, "[{\"n\":\"/5/0/0\",\"vd\":\"AP8+\"}]", EBADMSG,
                 "SenML-JSON record 0: field 'vd' is not base64url (offset 3)"},
                {J, "/", NULL, "[{\"n\":\"/5/0/0\",\"vd\":\"A\"}]", EBADMSG,
                 "SenML-JSON record 0: field 'vd' is not base64url (offset 0)"},
                {J, "/", NULL, "[{\"n\":\"/1/0/1\",\"vlo\":\"3\"}]", EBADMSG,
                 "SenML-JSON record 0: field 'vlo' ('3') is not an object link 'O:I'"},
                {J, "/", NULL, "[{\"n\":\"/1/0/1\",\"vs\":\"a\\u0000\"}]", EBADMSG,
                 "SenML-JSON offset 29: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000\"'"},
                {J, "/", NULL, "[{\"n\":\"/1/0/1\",\"vs\":\"\xff\"}]", EBADMSG,
                 "SenML-JSON offset 21: unable to decode byte 0xff near '\"'"},
                {J, "/", NULL,
                 "[{\"bn\":\"/00000000000000000000000000000000000000000000000000000000000000003\",\"v\":1}]", EBADMSG,
                 "SenML-JSON record 0: base name '/000000000000000000000000000000000000000...' is longer than 64 "
                 "bytes"},
                {J, "/", NULL, many_json, E2BIG, "SenML-JSON: 4097 records (at most 4096)"},
                {C, "/", "", NULL, EBADMSG, "SenML-CBOR: CBOR offset 0: truncated (an item is missing)"},
                {C, "/", "a0", NULL, EBADMSG, "SenML-CBOR: expected an array of records, got map"},
                {C, "/", "81 01", NULL, EBADMSG, "SenML-CBOR record 0: expected a map, got unsigned integer"},
                {C, "/", "81 a1 00 01", NULL, EBADMSG,
                 "SenML-CBOR record 0: field 'n' must be a text string, got unsigned integer"},
                {C, "/", "81 a1 f5 00", NULL, EBADMSG,
                 "SenML-CBOR record 0: a label must be an integer or a text string, got boolean"},
                {C, "/", "81 a2 00 61 31 00 61 32", NULL, EBADMSG, "SenML-CBOR record 0: field 'n' appears twice"},
                {C, "/", "81 a1 24 01", NULL, EBADMSG,
                 "SenML-CBOR record 0: field 'bv' (base value, sum) is not supported by LwM2M"},
                {C, "/", "81 a1 62 61 5f 01", NULL, EBADMSG,
                 "SenML-CBOR record 0: field 'a_' must be understood (RFC 8428 §4.4) and is not"},
                {C, "/", "81 a1 63 78 78 78 01", NULL, EBADMSG,
                 "SenML-CBOR record 0: empty LwM2M path (the root is '/')"},
                {C, "/", "81 a2 00 66 2f 33 2f 30 2f 31 02 61 78", NULL, EBADMSG,
                 "SenML-CBOR: CBOR offset 11: expected a number, got text string"},
                {C, "/", "81 a2 00 66 2f 33 2f 30 2f 31 04 01", NULL, EBADMSG,
                 "SenML-CBOR: CBOR offset 11: expected a boolean, got unsigned integer"},
                {C, "/", "81 a2 00 66 2f 33 2f 30 2f 31 08 61 78", NULL, EBADMSG,
                 "SenML-CBOR: CBOR offset 11: expected a byte string, got text string"},
                {C, "/", "81 a2 00 66 2f 33 2f 30 2f 31 03 62 c3 28", NULL, EBADMSG,
                 "SenML-CBOR record 0: field 'vs' is not UTF-8 without NUL (offset 0)"},
                {C, "/", "81 a2 00 66 2f 33 2f 30 2f 31 63 76 6c 6f 61 33", NULL, EBADMSG,
                 "SenML-CBOR record 0: field 'vlo' ('3') is not an object link 'O:I'"},
                {C, "/", "81 a3 00 66 2f 33 2f 30 2f 31 63 76 6c 6f 63 33 3a 30 63 76 6c 6f 63 33 3a 30", NULL, EBADMSG,
                 "SenML-CBOR record 0: field 'vlo' appears twice"},
                {C, "/", "81 a3 00 66 2f 33 2f 30 2f 31 02 01 03 61 61", NULL, EBADMSG,
                 "SenML-CBOR record 0: more than one value field ('v' and 'vs')"},
                {C, "/", "81 a1 22 61 61", NULL, EBADMSG,
                 "SenML-CBOR record 0: field 'bt' must be a number, got text string"},
                {C, "/", "82 a0", NULL, EBADMSG,
                 "SenML-CBOR: CBOR offset 0: array of 2 items exceeds the remaining 1 bytes"},
                {C, "/", "9f a1 00 66 2f 33 2f 30 2f 31", NULL, EBADMSG,
                 "SenML-CBOR: CBOR offset 10: truncated (an item is missing)"},
                {C, "/", "80 00", NULL, EBADMSG, "SenML-CBOR: CBOR offset 1: 1 trailing bytes after the records"},
                {C, "/", "81 b9 ff ff", NULL, EBADMSG,
                 "SenML-CBOR: CBOR offset 1: map of 65535 items exceeds the remaining 0 bytes"},
                {C, "/", deep, NULL, E2BIG, "SenML-CBOR: CBOR offset 19: nesting deeper than 16 levels"},
                {C, "/", "81 bf 00 ff", NULL, EBADMSG,
                 "SenML-CBOR record 0: field 'n' must be a text string, got break"},
                {C, "/", "81 bf 00 61 31", NULL, EBADMSG, "SenML-CBOR: CBOR offset 5: truncated (an item is missing)"},
                {C, "/3/0", "81 a2 00 66 2f 34 2f 30 2f 31 02 01", NULL, EBADMSG,
                 "SenML-CBOR record 0: /4/0/1 is outside the request path /3/0"},
                {C, "/", many_cbor, NULL, E2BIG, "SenML-CBOR: 4097 records (at most 4096)"},
        };
        lw_check_bad(cases, ALDER_ARRAY_SIZE(cases));
}

static void test_senml_encode_errors(void **state)
{
        _cleanup_lwm2m_records_ struct alder_lwm2m_records nan = {0}, raw = {0};
        alder_lwm2m_value_set_float(lw_add(&nan, "/3/0/9"), NAN);
        const struct bad_encode nan_cases[] = {
                {ALDER_LWM2M_FMT_SENML_JSON, "/3/0", EINVAL, "encode SenML-JSON: record /3/0/9: nan has no JSON form"},
        };
        check_bad_encode(&nan, nan_cases, ALDER_ARRAY_SIZE(nan_cases));
        /* CBOR has NaN */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records back = {0};
        _cleanup_test_buf_ struct test_buf b = lw_encode(ALDER_LWM2M_FMT_SENML_CBOR, "/3/0", &nan);
        lw_decode(ALDER_LWM2M_FMT_SENML_CBOR, "/3/0", b.data, b.len, &back);
        lw_check_records("NaN", &back, &nan);

        lw_add_bytes(&raw, "/3/0/9", ALDER_LWM2M_TYPE_NONE, "1", 1);
        const struct bad_encode raw_cases[] = {
                {ALDER_LWM2M_FMT_SENML_JSON, "/3/0", EINVAL,
                 "encode SenML-JSON: record /3/0/9 has an untyped value (convert it first)"},
                {ALDER_LWM2M_FMT_SENML_CBOR, "/3/0", EINVAL,
                 "encode SenML-CBOR: record /3/0/9 has an untyped value (convert it first)"},
                {ALDER_LWM2M_FMT_SENML_CBOR, "/4", EINVAL,
                 "encode SenML-CBOR: record /3/0/9 is outside the request path /4"},
        };
        check_bad_encode(&raw, raw_cases, ALDER_ARRAY_SIZE(raw_cases));
}

static void test_apply_types(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_test_buf_ struct test_buf spec = lw_hex(device_tlv);
        _cleanup_lwm2m_records_ struct alder_lwm2m_records exp = {0}, got = {0}, bad = {0}, text = {0};
        device_records(&exp);
        lw_decode(ALDER_LWM2M_FMT_TLV, "/3/0", spec.data, spec.len, &got);
        /* an unknown object and an executable stay untyped */
        lw_add_bytes(&got, "/3311/0/5850", ALDER_LWM2M_TYPE_NONE, "\x01", 1);
        lw_add_bytes(&got, "/3/0/4", ALDER_LWM2M_TYPE_NONE, "", 0);
        assert_int_equal(alder_lwm2m_records_apply_types(&got, ALDER_LWM2M_FMT_TLV, &err), 0);
        assert_int_equal(got.v[16].value.type, ALDER_LWM2M_TYPE_NONE);
        assert_int_equal(got.v[17].value.type, ALDER_LWM2M_TYPE_NONE);
        got.n -= 2;
        alder_lwm2m_value_clear(&got.v[16].value);
        alder_lwm2m_value_clear(&got.v[17].value);
        lw_check_records("apply_types", &got, &exp);

        lw_decode(ALDER_LWM2M_FMT_TLV, "/3/0", "\xc3\x09\x01\x02\x03", 5, &bad);
        assert_alder_error(alder_lwm2m_records_apply_types(&bad, ALDER_LWM2M_FMT_TLV, &err), EBADMSG,
                           "/3/0/9 (Battery Level): TLV value of 3 bytes is not an Integer (1, 2, 4 or 8 bytes)");
        lw_decode(ALDER_LWM2M_FMT_TEXT, "/33900/1/4", "x", 1, &text);
        assert_alder_error(alder_lwm2m_records_apply_types(&text, ALDER_LWM2M_FMT_TEXT, &err), EBADMSG,
                           "/33900/1/4 (Restart Count): text value 'x' is not an Integer");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tlv_device_known_answer),
                cmocka_unit_test(test_tlv_levels),
                cmocka_unit_test(test_apply_types),
                cmocka_unit_test(test_tlv_create_without_instance),
                cmocka_unit_test(test_tlv_round_trip_every_type),
                cmocka_unit_test(test_text_and_opaque),
                cmocka_unit_test(test_cbor_known_answers),
                cmocka_unit_test(test_tlv_malformed),
                cmocka_unit_test(test_single_value_malformed),
                cmocka_unit_test(test_encode_errors),
                cmocka_unit_test(test_senml_json_device_known_answer),
                cmocka_unit_test(test_senml_names),
                cmocka_unit_test(test_senml_json_input_forms),
                cmocka_unit_test(test_senml_cbor_known_answer),
                cmocka_unit_test(test_senml_round_trip_every_type),
                cmocka_unit_test(test_senml_malformed),
                cmocka_unit_test(test_senml_encode_errors),
        };
        return cmocka_run_group_tests_name("lwm2m-format", tests, NULL, NULL);
}
