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
        _cleanup_lw_buf_ struct lw_buf spec = lw_hex(device_tlv);
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
        _cleanup_lw_buf_ struct lw_buf enc = lw_encode(ALDER_LWM2M_FMT_TLV, "/3/0", &exp);
        lw_check_bytes("encode /3/0", enc.data, enc.len, spec.data, spec.len);

        /* Read of /3: one Object Instance TLV around the same (§7.4.3, 08 00 79 ...) */
        _cleanup_lw_buf_ struct lw_buf obj = lw_encode(ALDER_LWM2M_FMT_TLV, "/3", &exp);
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
        _cleanup_lw_buf_ struct lw_buf mr = lw_encode(ALDER_LWM2M_FMT_TLV, "/3/0/7", &voltages);
        _cleanup_lw_buf_ struct lw_buf mr_exp = lw_hex("88 07 08 42 00 0e d8 42 01 13 88");
        lw_check_bytes("/3/0/7", mr.data, mr.len, mr_exp.data, mr_exp.len);

        /* a resource instance: a Resource Instance TLV */
        lw_add_int(&one, "/3/0/7/1", 5000);
        _cleanup_lw_buf_ struct lw_buf ri = lw_encode(ALDER_LWM2M_FMT_TLV, "/3/0/7/1", &one);
        lw_check_bytes("/3/0/7/1", ri.data, ri.len, (const uint8_t *) "\x42\x01\x13\x88", 4);

        /* 16-bit ids: Switch 5850 = true (IPSO example) */
        alder_lwm2m_value_set_bool(lw_add(&sw, "/3311/0/5850"), true);
        _cleanup_lw_buf_ struct lw_buf s = lw_encode(ALDER_LWM2M_FMT_TLV, "/3311/0", &sw);
        lw_check_bytes("/3311/0", s.data, s.len, (const uint8_t *) "\xe1\x16\xda\x01", 4);

        /* 16- and 24-bit lengths */
        static uint8_t blob[70000];
        memset(blob, 0xab, sizeof(blob));
        lw_add_bytes(&big, "/5/0/0", ALDER_LWM2M_TYPE_OPAQUE, blob, 300);
        lw_add_bytes(&big, "/5/0/1", ALDER_LWM2M_TYPE_OPAQUE, blob, sizeof(blob));
        _cleanup_lw_buf_ struct lw_buf b = lw_encode(ALDER_LWM2M_FMT_TLV, "/5/0", &big);
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
        _cleanup_lw_buf_ struct lw_buf in = lw_hex("c1 09 64 86 06 41 00 01 41 01 05");
        _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
        lw_decode(ALDER_LWM2M_FMT_TLV, "/3", in.data, in.len, &r);
        assert_int_equal(r.n, 3);
        char p[ALDER_LWM2M_PATH_STRLEN];
        assert_string_equal(alder_lwm2m_path_format(&r.v[0].path, p), "/3/65535/6/0");
        assert_string_equal(alder_lwm2m_path_format(&r.v[2].path, p), "/3/65535/9");
        assert_int_equal(r.v[0].path.id[1], ALDER_LWM2M_ID_NONE);
        /* and back: resources without the wrapper, in path order */
        _cleanup_lw_buf_ struct lw_buf out = lw_encode(ALDER_LWM2M_FMT_TLV, "/3", &r);
        _cleanup_lw_buf_ struct lw_buf exp = lw_hex("86 06 41 00 01 41 01 05 c1 09 64");
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
        _cleanup_lw_buf_ struct lw_buf b = lw_encode(ALDER_LWM2M_FMT_TLV, "/9", &exp);
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
        _cleanup_lw_buf_ struct lw_buf f = lw_encode(ALDER_LWM2M_FMT_TLV, "/9/0/6", &one);
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
                _cleanup_lw_buf_ struct lw_buf b = lw_encode(ALDER_LWM2M_FMT_TEXT, "/3/0/9", &r);
                lw_check_bytes(cases[i].text, b.data, b.len, (const uint8_t *) cases[i].text, strlen(cases[i].text));
        }
        /* opaque: the bytes as they are, typed */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records o = {0}, exp = {0};
        lw_decode(ALDER_LWM2M_FMT_OPAQUE, "/5/0/0", "\x00\x01\x02", 3, &o);
        lw_add_bytes(&exp, "/5/0/0", ALDER_LWM2M_TYPE_OPAQUE, "\x00\x01\x02", 3);
        lw_check_records("opaque", &o, &exp);
        _cleanup_lw_buf_ struct lw_buf b = lw_encode(ALDER_LWM2M_FMT_OPAQUE, "/5/0/0", &o);
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
                _cleanup_lw_buf_ struct lw_buf in = lw_hex(cases[i].hex);
                _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
                lw_decode(ALDER_LWM2M_FMT_CBOR, "/3/0/13", in.data, in.len, &r);
                assert_int_equal(r.n, 1);
                assert_int_equal(r.v[0].value.type, cases[i].type);
                _cleanup_free_ char *t = alder_lwm2m_value_to_text(&r.v[0].value, 8);
                assert_string_equal(t, cases[i].text);
                _cleanup_lw_buf_ struct lw_buf out = lw_encode(ALDER_LWM2M_FMT_CBOR, "/3/0/13", &r);
                lw_check_bytes(cases[i].hex, out.data, out.len, in.data, in.len);
        }
        /* what has no CBOR type of its own: objlnk as "O:I" text, half floats and indefinite strings read */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records l = {0}, h = {0}, s = {0};
        alder_lwm2m_value_set_objlnk(lw_add(&l, "/1/0/1"), 3, 0);
        _cleanup_lw_buf_ struct lw_buf lb = lw_encode(ALDER_LWM2M_FMT_CBOR, "/1/0/1", &l);
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tlv_device_known_answer),
                cmocka_unit_test(test_tlv_levels),
                cmocka_unit_test(test_tlv_create_without_instance),
                cmocka_unit_test(test_tlv_round_trip_every_type),
                cmocka_unit_test(test_text_and_opaque),
                cmocka_unit_test(test_cbor_known_answers),
                cmocka_unit_test(test_tlv_malformed),
                cmocka_unit_test(test_single_value_malformed),
                cmocka_unit_test(test_encode_errors),
        };
        return cmocka_run_group_tests_name("lwm2m-format", tests, NULL, NULL);
}
