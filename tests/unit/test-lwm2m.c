/* SPDX-License-Identifier: Apache-2.0 */
/* LwM2M data model: paths, values, conversions, records (lib/lwm2m.c). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alder-test.h"

#include "alder/cleanup.h"
#include "alder/lwm2m.h"

static void check_path(const char *s, const char *rendered, unsigned len)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_path p;
        char buf[ALDER_LWM2M_PATH_STRLEN];
        if (alder_lwm2m_path_parse(s, &p, &err) < 0)
                fail_msg("parse '%s': %s", s, alder_error_message(err));
        assert_int_equal(p.len, len);
        assert_string_equal(alder_lwm2m_path_format(&p, buf), rendered);
}

static void test_path_parse_and_format(void **state)
{
        check_path("/", "/", 0);
        check_path("/3", "/3", 1);
        check_path("3/0/1", "/3/0/1", 3);
        check_path("/3/0/", "/3/0", 2);
        check_path("/3/0/7/1", "/3/0/7/1", 4);
        check_path("/0003/00", "/3/0", 2);
        check_path("/65534/65534/65534/65534", "/65534/65534/65534/65534", 4);
        assert_int_equal(strlen("/65534/65534/65534/65534") + 1, ALDER_LWM2M_PATH_STRLEN);

        /* URI-Path bytes need not be NUL-terminated */
        struct alder_lwm2m_path p;
        assert_int_equal(alder_lwm2m_path_parse_n("/3/0/19999", 6, &p, NULL), 0);
        assert_int_equal(p.len, 3);
        assert_int_equal(p.id[2], 1);
}

static void test_path_parse_errors(void **state)
{
        static const struct {
                const char *in;
                const char *msg;
        } cases[] = {
                {"", "empty LwM2M path (the root is '/')"},
                {"//", "LwM2M path '//': level 1 is empty"},
                {"/3//1", "LwM2M path '/3//1': level 2 is empty"},
                {"/3/x/1", "LwM2M path '/3/x/1': level 2 ('x') is not a decimal id"},
                {"/3/+1", "LwM2M path '/3/+1': level 2 ('+1') is not a decimal id"},
                {"/-3", "LwM2M path '/-3': level 1 ('-3') is not a decimal id"},
                {"/3/0 ", "LwM2M path '/3/0 ': level 2 ('0 ') is not a decimal id"},
                {"/3/65535", "LwM2M path '/3/65535': level 2 ('65535') is over 65534"},
                {"/99999999999999999999",
                 "LwM2M path '/99999999999999999999': level 1 ('99999999999999999999') is over 65534"},
                {"/1/2/3/4/5", "LwM2M path '/1/2/3/4/5': more than 4 levels"},
                {"/1/2/3/4//", "LwM2M path '/1/2/3/4//': level 5 is empty"},
                {"/3/\x01\xff", "LwM2M path '/3/\\x01\\xff': level 2 ('\\x01\\xff') is not a decimal id"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_error_ alder_error *err = NULL;
                struct alder_lwm2m_path p = alder_lwm2m_path_make(1, 42);
                char what[64];
                alder_test_case_name(what, i, "'%s'", cases[i].in);
                int r = alder_lwm2m_path_parse(cases[i].in, &p, &err);
                alder_test_check_error(what, r, err, EINVAL, cases[i].msg);
                assert_int_equal(p.len, 1); /* untouched on failure */
                assert_int_equal(p.id[0], 42);
        }
        /* a long hostile name is cut in the message */
        char big[200];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_path p;
        assert_int_equal(alder_lwm2m_path_parse(big, &p, &err), -EINVAL);
        assert_true(strlen(alder_error_message(err)) < 140);
}

static void test_path_make_compare_prefix(void **state)
{
        struct alder_lwm2m_path root = alder_lwm2m_path_make(0), o = alder_lwm2m_path_make(1, 3),
                                oi = alder_lwm2m_path_make(2, 3, 0), r = alder_lwm2m_path_make(3, 3, 0, 1),
                                ri = alder_lwm2m_path_make(4, 3, 0, 7, 1), other = alder_lwm2m_path_make(3, 3, 1, 0),
                                big = alder_lwm2m_path_make(9, 1, 2, 3, 4, 5, 6);
        assert_int_equal(big.len, 4);
        assert_int_equal(big.id[3], 4);
        assert_int_equal(alder_lwm2m_path_compare(&r, &r), 0);
        assert_true(alder_lwm2m_path_compare(&oi, &r) < 0); /* shorter first on a common prefix */
        assert_true(alder_lwm2m_path_compare(&r, &ri) < 0); /* /3/0/1 < /3/0/7/1 */
        assert_true(alder_lwm2m_path_compare(&ri, &other) < 0);
        assert_true(alder_lwm2m_path_compare(&other, &oi) > 0);
        assert_true(alder_lwm2m_path_compare(&root, &o) < 0);

        assert_true(alder_lwm2m_path_has_prefix(&r, &root));
        assert_true(alder_lwm2m_path_has_prefix(&r, &o));
        assert_true(alder_lwm2m_path_has_prefix(&r, &oi));
        assert_true(alder_lwm2m_path_has_prefix(&r, &r));
        assert_false(alder_lwm2m_path_has_prefix(&oi, &r));
        assert_false(alder_lwm2m_path_has_prefix(&other, &oi));
        assert_true(alder_lwm2m_path_has_prefix(&root, &root));
}

static void test_names(void **state)
{
        assert_string_equal(alder_lwm2m_format_name(ALDER_LWM2M_FMT_TLV), "application/vnd.oma.lwm2m+tlv");
        assert_string_equal(alder_lwm2m_format_name(0), "text/plain");
        assert_string_equal(alder_lwm2m_format_name(110), "application/senml+json");
        assert_string_equal(alder_lwm2m_format_name(112), "application/senml+cbor");
        assert_string_equal(alder_lwm2m_format_name(60), "application/cbor");
        assert_string_equal(alder_lwm2m_format_name(42), "application/octet-stream");
        assert_string_equal(alder_lwm2m_format_name(40), "application/link-format");
        assert_string_equal(alder_lwm2m_format_name(11543), "application/vnd.oma.lwm2m+json");
        assert_null(alder_lwm2m_format_name(50));
        assert_string_equal(alder_lwm2m_type_name(ALDER_LWM2M_TYPE_UNSIGNED), "Unsigned Integer");
        assert_string_equal(alder_lwm2m_type_name(ALDER_LWM2M_TYPE_OBJLNK), "Objlnk");
        assert_string_equal(alder_lwm2m_type_name(ALDER_LWM2M_TYPE_NONE), "none");
        assert_string_equal(alder_lwm2m_type_name((enum alder_lwm2m_type) 99), "unknown");
}

static void value_done(struct alder_lwm2m_value *v)
{
        alder_lwm2m_value_clear(v);
}
#define _cleanup_value_ _cleanup_(value_done)

static void check_text(const struct alder_lwm2m_value *v, size_t max, const char *expected)
{
        _cleanup_free_ char *t = alder_lwm2m_value_to_text(v, max);
        assert_non_null(t);
        assert_string_equal(t, expected);
}

static void test_value_setters_and_text(void **state)
{
        _cleanup_value_ struct alder_lwm2m_value v = {0};
        alder_lwm2m_value_set_int(&v, ALDER_LWM2M_TYPE_INTEGER, -42);
        check_text(&v, 8, "-42");
        alder_lwm2m_value_set_int(&v, ALDER_LWM2M_TYPE_TIME, 1367491215);
        assert_int_equal(v.type, ALDER_LWM2M_TYPE_TIME);
        check_text(&v, 8, "1367491215");
        alder_lwm2m_value_set_uint(&v, UINT64_MAX);
        check_text(&v, 8, "18446744073709551615");
        alder_lwm2m_value_set_float(&v, 0.1);
        check_text(&v, 8, "0.1");
        alder_lwm2m_value_set_float(&v, 1e300);
        check_text(&v, 8, "1e+300");
        alder_lwm2m_value_set_float(&v, -1500);
        check_text(&v, 8, "-1500");
        alder_lwm2m_value_set_float(&v, 1e20);
        check_text(&v, 8, "100000000000000000000");
        alder_lwm2m_value_set_float(&v, 1e21);
        check_text(&v, 8, "1e+21");
        alder_lwm2m_value_set_float(&v, 1.25e-6);
        check_text(&v, 8, "0.00000125");
        alder_lwm2m_value_set_float(&v, 1.25e-7);
        check_text(&v, 8, "1.25e-07");
        alder_lwm2m_value_set_float(&v, -DBL_MAX);
        check_text(&v, 8, "-1.7976931348623157e+308");
        alder_lwm2m_value_set_float(&v, 5e-324);
        check_text(&v, 8, "5e-324");
        alder_lwm2m_value_set_float(&v, NAN);
        check_text(&v, 8, "nan");
        alder_lwm2m_value_set_float(&v, -INFINITY);
        check_text(&v, 8, "-inf");
        alder_lwm2m_value_set_bool(&v, true);
        check_text(&v, 8, "true");
        alder_lwm2m_value_set_objlnk(&v, 3, 0);
        check_text(&v, 8, "3:0");
        assert_int_equal(alder_lwm2m_value_set_string(&v, "Open Mobile Alliance"), 0);
        assert_int_equal(v.type, ALDER_LWM2M_TYPE_STRING);
        assert_int_equal(v.len, 20);
        check_text(&v, 8, "Open Mobile Alliance");
        assert_int_equal(alder_lwm2m_value_set_bytes(&v, ALDER_LWM2M_TYPE_OPAQUE, "\x01\x02\xff", 3), 0);
        check_text(&v, 8, "0102ff");
        check_text(&v, 2, "0102... (3 bytes)");
        assert_int_equal(v.data[3], 0); /* always NUL-terminated */
        assert_int_equal(alder_lwm2m_value_set_bytes(&v, ALDER_LWM2M_TYPE_OPAQUE, NULL, 0), 0);
        assert_non_null(v.data);
        check_text(&v, 2, "");
        /* a type without bytes is refused and v kept */
        assert_int_equal(alder_lwm2m_value_set_bytes(&v, ALDER_LWM2M_TYPE_INTEGER, "x", 1), -EINVAL);
        assert_int_equal(v.type, ALDER_LWM2M_TYPE_OPAQUE);
        alder_lwm2m_value_clear(&v);
        assert_int_equal(v.type, ALDER_LWM2M_TYPE_NONE);
        assert_null(v.data);
        check_text(&v, 2, "(no value)");
}

static void test_value_equal(void **state)
{
        _cleanup_value_ struct alder_lwm2m_value a = {0}, b = {0};
        assert_true(alder_lwm2m_value_equal(&a, &b)); /* both value-less */
        alder_lwm2m_value_set_int(&a, ALDER_LWM2M_TYPE_INTEGER, 5);
        alder_lwm2m_value_set_int(&b, ALDER_LWM2M_TYPE_TIME, 5);
        assert_false(alder_lwm2m_value_equal(&a, &b));
        alder_lwm2m_value_set_int(&b, ALDER_LWM2M_TYPE_INTEGER, 5);
        assert_true(alder_lwm2m_value_equal(&a, &b));
        alder_lwm2m_value_set_float(&a, NAN);
        alder_lwm2m_value_set_float(&b, NAN);
        assert_true(alder_lwm2m_value_equal(&a, &b));
        assert_int_equal(alder_lwm2m_value_set_string(&a, "ab"), 0);
        assert_int_equal(alder_lwm2m_value_set_string(&b, "ac"), 0);
        assert_false(alder_lwm2m_value_equal(&a, &b));
        assert_int_equal(alder_lwm2m_value_set_bytes(&a, ALDER_LWM2M_TYPE_NONE, NULL, 0), 0);
        alder_lwm2m_value_clear(&b);
        assert_false(alder_lwm2m_value_equal(&a, &b)); /* empty bytes are a value, no data is none */
}

struct conv_case {
        unsigned format;
        const char *raw;
        size_t raw_len;
        enum alder_lwm2m_type to;
        const char *text; /* expected alder_lwm2m_value_to_text(), or the error */
};

static void run_conv(const struct conv_case *c, size_t i, bool ok)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_value_ struct alder_lwm2m_value v = {0};
        char what[96];
        alder_test_case_name(what, i, "%s as %s", c->format == ALDER_LWM2M_FMT_TLV ? "TLV" : "text",
                             alder_lwm2m_type_name(c->to));
        assert_int_equal(alder_lwm2m_value_set_bytes(&v, ALDER_LWM2M_TYPE_NONE, c->raw, c->raw_len), 0);
        int r = alder_lwm2m_value_convert(&v, c->to, c->format, &err);
        if (!ok) {
                alder_test_check_error(what, r, err, EBADMSG, c->text);
                assert_int_equal(v.type, ALDER_LWM2M_TYPE_NONE); /* unchanged */
                assert_int_equal(v.len, c->raw_len);
                return;
        }
        if (r < 0)
                fail_msg("%s: %s", what, alder_error_message(err));
        assert_int_equal(v.type, c->to);
        _cleanup_free_ char *t = alder_lwm2m_value_to_text(&v, 16);
        if (strcmp(t, c->text) != 0)
                fail_msg("%s: got '%s', expected '%s'", what, t, c->text);
}

#define RAW(s) s, sizeof(s) - 1

static void test_convert_tlv_and_text(void **state)
{
        const unsigned T = ALDER_LWM2M_FMT_TLV, X = ALDER_LWM2M_FMT_TEXT;
        static const struct conv_case good[] = {
                {T, RAW("\x7f"), ALDER_LWM2M_TYPE_INTEGER, "127"},
                {T, RAW("\x80"), ALDER_LWM2M_TYPE_INTEGER, "-128"},
                {T, RAW("\xff\xfe"), ALDER_LWM2M_TYPE_INTEGER, "-2"},
                {T, RAW("\x0e\xd8"), ALDER_LWM2M_TYPE_INTEGER, "3800"},
                {T, RAW("\x51\x82\x42\x8f"), ALDER_LWM2M_TYPE_TIME, "1367491215"},
                {T, RAW("\x80\x00\x00\x00\x00\x00\x00\x00"), ALDER_LWM2M_TYPE_INTEGER, "-9223372036854775808"},
                {T, RAW("\xff"), ALDER_LWM2M_TYPE_UNSIGNED, "255"},
                {T, RAW("\xff\xff\xff\xff\xff\xff\xff\xff"), ALDER_LWM2M_TYPE_UNSIGNED, "18446744073709551615"},
                {T, RAW("\x3f\x80\x00\x00"), ALDER_LWM2M_TYPE_FLOAT, "1"},
                {T, RAW("\x3f\xb9\x99\x99\x99\x99\x99\x9a"), ALDER_LWM2M_TYPE_FLOAT, "0.1"},
                {T, RAW("\x01"), ALDER_LWM2M_TYPE_BOOLEAN, "true"},
                {T, RAW("\x00"), ALDER_LWM2M_TYPE_BOOLEAN, "false"},
                {T, RAW("\x00\x03\x00\x01"), ALDER_LWM2M_TYPE_OBJLNK, "3:1"},
                {T, RAW("\xff\xff\xff\xff"), ALDER_LWM2M_TYPE_OBJLNK, "65535:65535"},
                {T, RAW("caf\xc3\xa9"), ALDER_LWM2M_TYPE_STRING, "caf\xc3\xa9"},
                {T, RAW("</3/0>"), ALDER_LWM2M_TYPE_CORELNK, "</3/0>"},
                {T, RAW("\x00\x01"), ALDER_LWM2M_TYPE_OPAQUE, "0001"},
                {T, RAW(""), ALDER_LWM2M_TYPE_STRING, ""},
                {X, RAW("-42"), ALDER_LWM2M_TYPE_INTEGER, "-42"},
                {X, RAW("9223372036854775807"), ALDER_LWM2M_TYPE_INTEGER, "9223372036854775807"},
                {X, RAW("-9223372036854775808"), ALDER_LWM2M_TYPE_INTEGER, "-9223372036854775808"},
                {X, RAW("1367491215"), ALDER_LWM2M_TYPE_TIME, "1367491215"},
                {X, RAW("18446744073709551615"), ALDER_LWM2M_TYPE_UNSIGNED, "18446744073709551615"},
                {X, RAW("-1.5e3"), ALDER_LWM2M_TYPE_FLOAT, "-1500"},
                {X, RAW("0.1"), ALDER_LWM2M_TYPE_FLOAT, "0.1"},
                {X, RAW("1"), ALDER_LWM2M_TYPE_BOOLEAN, "true"},
                {X, RAW("0"), ALDER_LWM2M_TYPE_BOOLEAN, "false"},
                {X, RAW("3:0"), ALDER_LWM2M_TYPE_OBJLNK, "3:0"},
                {X, RAW("AQIDBAU="), ALDER_LWM2M_TYPE_OPAQUE, "0102030405"},
                {X, RAW("AQIDBAU"), ALDER_LWM2M_TYPE_OPAQUE, "0102030405"},
                {X, RAW("+/8="), ALDER_LWM2M_TYPE_OPAQUE, "fbff"},
                {X, RAW(""), ALDER_LWM2M_TYPE_OPAQUE, ""},
                {X, RAW("U"), ALDER_LWM2M_TYPE_STRING, "U"},
        };
        static const struct conv_case bad[] = {
                {T, RAW("\x01\x02\x03"), ALDER_LWM2M_TYPE_INTEGER,
                 "TLV value of 3 bytes is not an Integer (1, 2, 4 or 8 bytes)"},
                {T, RAW(""), ALDER_LWM2M_TYPE_TIME, "TLV value of 0 bytes is not a Time (1, 2, 4 or 8 bytes)"},
                {T, RAW("\x01\x02\x03\x04\x05"), ALDER_LWM2M_TYPE_UNSIGNED,
                 "TLV value of 5 bytes is not an Unsigned Integer (1, 2, 4 or 8 bytes)"},
                {T, RAW("\x01\x02"), ALDER_LWM2M_TYPE_FLOAT, "TLV value of 2 bytes is not a Float (4 or 8 bytes)"},
                {T, RAW("\x02"), ALDER_LWM2M_TYPE_BOOLEAN, "TLV value is not a Boolean (one byte, 0 or 1)"},
                {T, RAW("\x00\x01"), ALDER_LWM2M_TYPE_BOOLEAN, "TLV value is not a Boolean (one byte, 0 or 1)"},
                {T, RAW("\x00\x03\x00"), ALDER_LWM2M_TYPE_OBJLNK, "TLV value of 3 bytes is not an Objlnk (4 bytes)"},
                {T,
                 RAW("a\x00"
                     "b"),
                 ALDER_LWM2M_TYPE_STRING, "TLV value is not UTF-8 without NUL (offset 1)"},
                {T, RAW("ab\xc3"), ALDER_LWM2M_TYPE_STRING, "TLV value is not UTF-8 without NUL (offset 2)"},
                {T, RAW("\xc0\xaf"), ALDER_LWM2M_TYPE_CORELNK, "TLV value is not UTF-8 without NUL (offset 0)"},
                {T, RAW("\xed\xa0\x80"), ALDER_LWM2M_TYPE_STRING, "TLV value is not UTF-8 without NUL (offset 0)"},
                {T, RAW("\xf4\x90\x80\x80"), ALDER_LWM2M_TYPE_STRING, "TLV value is not UTF-8 without NUL (offset 0)"},
                {X, RAW("abc"), ALDER_LWM2M_TYPE_INTEGER, "text value 'abc' is not an Integer"},
                {X, RAW(""), ALDER_LWM2M_TYPE_INTEGER, "text value '' is not an Integer"},
                {X, RAW("-"), ALDER_LWM2M_TYPE_INTEGER, "text value '-' is not an Integer"},
                {X, RAW("+1"), ALDER_LWM2M_TYPE_INTEGER, "text value '+1' is not an Integer"},
                {X, RAW(" 1"), ALDER_LWM2M_TYPE_INTEGER, "text value ' 1' is not an Integer"},
                {X, RAW("1\x00"), ALDER_LWM2M_TYPE_INTEGER, "text value '1\\x00' is not an Integer"},
                {X, RAW("9223372036854775808"), ALDER_LWM2M_TYPE_INTEGER,
                 "text value '9223372036854775808' is not an Integer"},
                {X, RAW("0x10"), ALDER_LWM2M_TYPE_TIME, "text value '0x10' is not a Time"},
                {X, RAW("-1"), ALDER_LWM2M_TYPE_UNSIGNED, "text value '-1' is not an Unsigned Integer"},
                {X, RAW("18446744073709551616"), ALDER_LWM2M_TYPE_UNSIGNED,
                 "text value '18446744073709551616' is not an Unsigned Integer"},
                {X, RAW("nan"), ALDER_LWM2M_TYPE_FLOAT, "text value 'nan' is not a Float"},
                {X, RAW("1e999"), ALDER_LWM2M_TYPE_FLOAT, "text value '1e999' is not a Float"},
                {X, RAW("0x1p3"), ALDER_LWM2M_TYPE_FLOAT, "text value '0x1p3' is not a Float"},
                {X, RAW("1.5."), ALDER_LWM2M_TYPE_FLOAT, "text value '1.5.' is not a Float"},
                {X, RAW("true"), ALDER_LWM2M_TYPE_BOOLEAN, "text value 'true' is not a Boolean"},
                {X, RAW("3"), ALDER_LWM2M_TYPE_OBJLNK, "text value '3' is not an Objlnk"},
                {X, RAW("3:65536"), ALDER_LWM2M_TYPE_OBJLNK, "text value '3:65536' is not an Objlnk"},
                {X, RAW(":1"), ALDER_LWM2M_TYPE_OBJLNK, "text value ':1' is not an Objlnk"},
                {X, RAW("AQ*D"), ALDER_LWM2M_TYPE_OPAQUE, "text value is not base64 (offset 2)"},
                {X, RAW("AQIDB"), ALDER_LWM2M_TYPE_OPAQUE, "text value is not base64 (offset 4)"},
                {X, RAW("AQ-_"), ALDER_LWM2M_TYPE_OPAQUE, "text value is not base64 (offset 2)"},
                {X, RAW("\xff"), ALDER_LWM2M_TYPE_STRING, "text value is not UTF-8 without NUL (offset 0)"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(good); i++)
                run_conv(&good[i], i, true);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(bad); i++)
                run_conv(&bad[i], i, false);
}

static void test_convert_typed(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_value_ struct alder_lwm2m_value v = {0};
        const unsigned J = ALDER_LWM2M_FMT_SENML_JSON;

        alder_lwm2m_value_set_int(&v, ALDER_LWM2M_TYPE_INTEGER, 7);
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_UNSIGNED, J, &err), 0);
        assert_int_equal(v.u, 7);
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_TIME, J, &err), 0);
        assert_int_equal(v.i, 7);
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_FLOAT, J, &err), 0);
        assert_true(v.f == 7.0);
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_INTEGER, J, &err), 0);
        assert_int_equal(v.i, 7);
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_NONE, J, &err), 0);
        assert_int_equal(v.type, ALDER_LWM2M_TYPE_INTEGER);

        alder_lwm2m_value_set_int(&v, ALDER_LWM2M_TYPE_INTEGER, -1);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_UNSIGNED, J, &err), EBADMSG,
                           "Integer value -1 cannot be converted to Unsigned Integer without loss");
        alder_lwm2m_value_set_uint(&v, UINT64_MAX);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_INTEGER, J, &err), EBADMSG,
                           "Unsigned Integer value 18446744073709551615 cannot be converted to Integer without loss");
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_FLOAT, J, &err), EBADMSG,
                           "Unsigned Integer value 18446744073709551615 cannot be converted to Float without loss");
        alder_lwm2m_value_set_int(&v, ALDER_LWM2M_TYPE_INTEGER, (INT64_C(1) << 53) + 1);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_FLOAT, J, &err), EBADMSG,
                           "Integer value 9007199254740993 cannot be converted to Float without loss");
        alder_lwm2m_value_set_float(&v, 1.5);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_INTEGER, J, &err), EBADMSG,
                           "Float value 1.5 cannot be converted to Integer without loss");
        alder_lwm2m_value_set_float(&v, 9.3e18);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_INTEGER, J, &err), EBADMSG,
                           "Float value 9300000000000000000 cannot be converted to Integer without loss");
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_UNSIGNED, J, &err), 0);
        assert_int_equal(v.u, UINT64_C(9300000000000000000));
        alder_lwm2m_value_set_float(&v, -3.0);
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_TIME, J, &err), 0);
        assert_int_equal(v.i, -3);
        alder_lwm2m_value_set_float(&v, NAN);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_UNSIGNED, J, &err), EBADMSG,
                           "Float value nan cannot be converted to Unsigned Integer without loss");

        assert_int_equal(alder_lwm2m_value_set_string(&v, "</3/0>"), 0);
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_CORELNK, J, &err), 0);
        assert_int_equal(v.type, ALDER_LWM2M_TYPE_CORELNK);
        assert_string_equal((char *) v.data, "</3/0>");
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_OBJLNK, J, &err), EBADMSG,
                           "Corelnk value </3/0> cannot be converted to Objlnk without loss");
        assert_int_equal(alder_lwm2m_value_set_string(&v, "5:2"), 0);
        assert_int_equal(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_OBJLNK, ALDER_LWM2M_FMT_CBOR, &err), 0);
        assert_int_equal(v.objlnk.object, 5);
        assert_int_equal(v.objlnk.instance, 2);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_BOOLEAN, J, &err), EBADMSG,
                           "Objlnk value 5:2 cannot be converted to Boolean without loss");

        assert_int_equal(alder_lwm2m_value_set_bytes(&v, ALDER_LWM2M_TYPE_OPAQUE, "\x01", 1), 0);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_STRING, J, &err), EBADMSG,
                           "Opaque value 01 cannot be converted to String without loss");

        /* raw bytes only come from TLV and text */
        assert_int_equal(alder_lwm2m_value_set_bytes(&v, ALDER_LWM2M_TYPE_NONE, "1", 1), 0);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_INTEGER, J, &err), EINVAL,
                           "untyped value from format 110 (only TLV and text/plain leave values untyped)");
        alder_lwm2m_value_clear(&v);
        assert_alder_error(alder_lwm2m_value_convert(&v, ALDER_LWM2M_TYPE_INTEGER, ALDER_LWM2M_FMT_TLV, &err), EBADMSG,
                           "no value to convert to Integer");
}

static void test_records(void **state)
{
        _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
        const unsigned ids[] = {9, 0, 7, 1};
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(ids); i++) {
                struct alder_lwm2m_path p = alder_lwm2m_path_make(3, 3, 0, ids[i]);
                struct alder_lwm2m_record *rec = alder_lwm2m_records_add(&r, &p);
                assert_non_null(rec);
                assert_int_equal(rec->value.type, ALDER_LWM2M_TYPE_NONE);
                assert_null(rec->value.data);
                assert_int_equal(alder_lwm2m_value_set_string(&rec->value, "x"), 0);
        }
        struct alder_lwm2m_path p = alder_lwm2m_path_make(4, 3, 0, 7, 0);
        assert_non_null(alder_lwm2m_records_add(&r, &p));
        alder_lwm2m_records_sort(&r);
        const char *order[] = {"/3/0/0", "/3/0/1", "/3/0/7", "/3/0/7/0", "/3/0/9"};
        assert_int_equal(r.n, 5);
        for (size_t i = 0; i < r.n; i++) {
                char buf[ALDER_LWM2M_PATH_STRLEN];
                assert_string_equal(alder_lwm2m_path_format(&r.v[i].path, buf), order[i]);
        }
        alder_lwm2m_records_clear(&r);
        assert_int_equal(r.n, 0);
        assert_null(r.v);

        /* the bound */
        for (size_t i = 0; i < ALDER_LWM2M_RECORDS_MAX; i++)
                assert_non_null(alder_lwm2m_records_add(&r, &p));
        errno = 0;
        assert_null(alder_lwm2m_records_add(&r, &p));
        assert_int_equal(errno, E2BIG);
        assert_int_equal(r.n, ALDER_LWM2M_RECORDS_MAX);
}

static void test_object_definitions(void **state)
{
        const uint16_t ids[] = {0, 1, 3, 4, 5, 9, ALDER_LWM2M_OBJECT_APP};
        size_t found = 0;
        for (unsigned id = 0; id <= UINT16_MAX; id++) {
                const struct alder_lwm2m_object_def *o = alder_lwm2m_object_find((uint16_t) id);
                if (!o)
                        continue;
                assert_int_equal(o->id, id);
                assert_int_equal(ids[found++], id);
                assert_non_null(o->name);
                assert_non_null(o->urn);
                assert_true(o->n_resources > 0);
                for (size_t i = 0; i < o->n_resources; i++) {
                        const struct alder_lwm2m_resource_def *r = &o->resources[i];
                        char what[96];
                        snprintf(what, sizeof(what), "/%u resource %u (%s)", id, (unsigned) r->id, r->name);
                        /* ids strictly increasing, so the table has no duplicates */
                        if (i > 0 && r->id <= o->resources[i - 1].id)
                                fail_msg("%s: out of order", what);
                        /* executables carry no value, everything else has a type */
                        if ((r->ops == ALDER_LWM2M_OP_E) != (r->type == ALDER_LWM2M_TYPE_NONE))
                                fail_msg("%s: ops %u with type %s", what, r->ops, alder_lwm2m_type_name(r->type));
                        if ((r->ops & ALDER_LWM2M_OP_E) && (r->ops != ALDER_LWM2M_OP_E || r->multiple))
                                fail_msg("%s: executable with other operations or instances", what);
                        assert_ptr_equal(alder_lwm2m_resource_find(o, r->id), r);
                }
        }
        assert_int_equal(found, ALDER_ARRAY_SIZE(ids));
        assert_null(alder_lwm2m_object_find(2));
        assert_null(alder_lwm2m_resource_find(NULL, 0));

        const struct alder_lwm2m_object_def *dev = alder_lwm2m_object_find(3);
        assert_string_equal(dev->name, "Device");
        assert_string_equal(dev->urn, "urn:oma:lwm2m:oma:3:1.1");
        assert_string_equal(dev->version, "1.1");
        assert_false(dev->multiple);
        const struct alder_lwm2m_resource_def *t = alder_lwm2m_resource_find(dev, 13);
        assert_string_equal(t->name, "Current Time");
        assert_int_equal(t->type, ALDER_LWM2M_TYPE_TIME);
        assert_int_equal(t->ops, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W);
        assert_true(alder_lwm2m_resource_find(dev, 11)->multiple);
        assert_true(alder_lwm2m_resource_find(dev, 11)->mandatory);
        assert_int_equal(alder_lwm2m_resource_find(dev, 4)->ops, ALDER_LWM2M_OP_E);
        assert_null(alder_lwm2m_resource_find(dev, 23));

        const struct alder_lwm2m_object_def *fw = alder_lwm2m_object_find(5);
        assert_int_equal(alder_lwm2m_resource_find(fw, 0)->type, ALDER_LWM2M_TYPE_OPAQUE);
        assert_int_equal(alder_lwm2m_resource_find(fw, 0)->ops, ALDER_LWM2M_OP_W);
        assert_null(alder_lwm2m_resource_find(fw, 4));                     /* removed from the object */
        assert_int_equal(alder_lwm2m_object_find(0)->resources[5].ops, 0); /* Secret Key: no server access */

        /* Alder App, as docs/api/lwm2m/33900.xml defines it */
        static const struct {
                const char *name;
                enum alder_lwm2m_type type;
        } app[] = {
                {"Name", ALDER_LWM2M_TYPE_STRING},
                {"Version", ALDER_LWM2M_TYPE_STRING},
                {"State", ALDER_LWM2M_TYPE_STRING},
                {"Running Version", ALDER_LWM2M_TYPE_STRING},
                {"Restart Count", ALDER_LWM2M_TYPE_INTEGER},
                {"Last Exit Status", ALDER_LWM2M_TYPE_INTEGER},
                {"Last Error", ALDER_LWM2M_TYPE_STRING},
                {"Log Tail", ALDER_LWM2M_TYPE_STRING},
                {"Start", ALDER_LWM2M_TYPE_NONE},
                {"Stop", ALDER_LWM2M_TYPE_NONE},
                {"Restart", ALDER_LWM2M_TYPE_NONE},
        };
        const struct alder_lwm2m_object_def *a = alder_lwm2m_object_find(ALDER_LWM2M_OBJECT_APP);
        assert_string_equal(a->name, "Alder App");
        assert_string_equal(a->urn, "urn:oma:lwm2m:x:33900");
        assert_null(a->version);
        assert_true(a->multiple);
        assert_int_equal(a->n_resources, ALDER_ARRAY_SIZE(app));
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(app); i++) {
                assert_int_equal(a->resources[i].id, i);
                assert_string_equal(a->resources[i].name, app[i].name);
                assert_int_equal(a->resources[i].type, app[i].type);
                assert_int_equal(a->resources[i].ops, app[i].type ? ALDER_LWM2M_OP_R : ALDER_LWM2M_OP_E);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_parse_and_format),
                cmocka_unit_test(test_path_parse_errors),
                cmocka_unit_test(test_path_make_compare_prefix),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_value_setters_and_text),
                cmocka_unit_test(test_value_equal),
                cmocka_unit_test(test_convert_tlv_and_text),
                cmocka_unit_test(test_convert_typed),
                cmocka_unit_test(test_records),
                cmocka_unit_test(test_object_definitions),
        };
        return cmocka_run_group_tests_name("lwm2m", tests, NULL, NULL);
}
