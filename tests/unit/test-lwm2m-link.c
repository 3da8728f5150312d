/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/lwm2m.h"

static int parse(const char *s, struct alder_lwm2m_links *ret, alder_error **err)
{
        return alder_lwm2m_links_parse(s, strlen(s), ret, err);
}

static void test_registration_payload(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_links l;
        assert_int_equal(parse("</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0>,</5>;ver=1.1,</33900/2>", &l, &err), 0);
        assert_int_equal(l.n, 5);

        assert_string_equal(l.v[0].uri, "/");
        assert_true(l.v[0].is_path);
        assert_int_equal(l.v[0].path.len, 0);
        assert_int_equal(l.v[0].n_attrs, 2);
        assert_string_equal(alder_lwm2m_link_attr(&l.v[0], "rt"), "oma.lwm2m");
        assert_string_equal(alder_lwm2m_link_attr(&l.v[0], "ct"), "110");

        assert_true(l.v[1].is_path);
        assert_int_equal(l.v[1].path.len, 2);
        assert_int_equal(l.v[1].path.id[0], 1);
        assert_int_equal(l.v[1].path.id[1], 0);
        assert_int_equal(l.v[1].n_attrs, 0);
        assert_null(alder_lwm2m_link_attr(&l.v[1], "ver"));

        assert_int_equal(l.v[3].path.len, 1);
        assert_string_equal(alder_lwm2m_link_attr(&l.v[3], "ver"), "1.1");
        assert_int_equal(l.v[4].path.id[0], 33900);
        alder_lwm2m_links_clear(&l);
        assert_null(l.v);
        assert_int_equal(l.n, 0);
}

static void test_discover_answer(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_links l;
        assert_int_equal(parse("</3/0>;pmin=10;pmax=60,</3/0/1>,</3/0/7>;dim=2;obs,</3/0/11/0>", &l, &err), 0);
        assert_int_equal(l.n, 4);
        assert_string_equal(alder_lwm2m_link_attr(&l.v[0], "pmin"), "10");
        assert_string_equal(alder_lwm2m_link_attr(&l.v[0], "pmax"), "60");
        assert_string_equal(alder_lwm2m_link_attr(&l.v[2], "dim"), "2");
        /* A valueless attribute is there, with no value. */
        assert_int_equal(l.v[2].n_attrs, 2);
        assert_string_equal(l.v[2].attrs[1].name, "obs");
        assert_null(l.v[2].attrs[1].value);
        assert_null(alder_lwm2m_link_attr(&l.v[2], "obs"));
        assert_int_equal(l.v[3].path.len, 4);
        assert_int_equal(l.v[3].path.id[3], 0);
        alder_lwm2m_links_clear(&l);
}

static void test_quoted_strings_and_alternate_root(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_links l;
        /* An escaped quote and backslash; ',' and ';' inside quotes do not split. */
        assert_int_equal(parse("</lwm2m>;rt=\"oma.lwm2m\";title=\"a \\\"b\\\\c\\\" ,;d\",</lwm2m/3/0>", &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_false(l.v[0].is_path);
        assert_string_equal(l.v[0].uri, "/lwm2m");
        assert_string_equal(alder_lwm2m_link_attr(&l.v[0], "title"), "a \"b\\c\" ,;d");
        assert_false(l.v[1].is_path);
        assert_string_equal(l.v[1].uri, "/lwm2m/3/0");
        alder_lwm2m_links_clear(&l);
}

static void test_empty_payload_is_no_links(void **state)
{
        struct alder_lwm2m_links l = {.n = 99};
        assert_int_equal(alder_lwm2m_links_parse("", 0, &l, NULL), 0);
        assert_int_equal(l.n, 0);
        assert_null(l.v);
}

static void test_not_a_path(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_links l;
        /* Ids past 65534, five levels, relative references: links, but not LwM2M paths. */
        assert_int_equal(parse("</65535>,</1/2/3/4/5>,<3/0>,</3//0>", &l, &err), 0);
        assert_int_equal(l.n, 4);
        for (size_t i = 0; i < l.n; i++)
                assert_false(l.v[i].is_path);
        alder_lwm2m_links_clear(&l);
}

static void test_errors_name_the_offset(void **state)
{
        static const struct {
                const char *in;
                const char *msg;
        } cases[] = {
                {"3/0", "link format: offset 0: expected '<' to open a link, got '3'"},
                {"</3/0>,", "link format: offset 7: expected '<' to open a link, got end of payload"},
                {"</3/0>,,</4>", "link format: offset 7: expected '<' to open a link, got ','"},
                {"</3/0> ,</4>", "link format: offset 6: expected ',' or ';' after a link, got byte 0x20"},
                {"</3/0", "link format: offset 5: expected a URI character or '>', got end of payload"},
                {"</3 /0>", "link format: offset 3: expected a URI character or '>', got byte 0x20"},
                {"</3/0>;", "link format: offset 7: expected an attribute name, got end of payload"},
                {"</3/0>;=1", "link format: offset 7: expected an attribute name, got '='"},
                {"</3/0>;ver=", "link format: offset 11: expected a value or a quoted string after '=', got end of "
                                "payload"},
                {"</3/0>;ver=1,1", "link format: offset 13: expected '<' to open a link, got '1'"},
                {"</3/0>;rt=\"abc", "link format: offset 14: quoted string opened at offset 10 is not closed"},
                {"</3/0>;rt=\"abc\\", "link format: offset 15: quoted string opened at offset 10 is not closed"},
                {"</3/0>;rt=\"a\nb\"", "link format: offset 12: expected a printable character in a quoted string, "
                                       "got byte 0x0a"},
                {"</3/0>;ver=1.1x\"", "link format: offset 15: expected ',' or ';' after a link, got '\"'"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_error_ alder_error *err = NULL;
                struct alder_lwm2m_links l = {.n = 77};
                char what[64];
                alder_test_case_name(what, i, "%s", cases[i].in);
                int r = parse(cases[i].in, &l, &err);
                alder_test_check_error(what, r, err, EBADMSG, cases[i].msg);
                assert_int_equal(l.n, 77); /* untouched on failure */
        }
}

static void test_nul_byte_refused(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_links l;
        static const char in[] = "</3/0>;rt=\"a\0b\"";
        int r = alder_lwm2m_links_parse(in, sizeof(in) - 1, &l, &err);
        alder_test_check_error("NUL in quotes", r, err, EBADMSG,
                               "link format: offset 12: expected a printable character in a quoted string, got byte "
                               "0x00");
        alder_error_clear(&err);
        static const char in2[] = "</3/0>\0";
        r = alder_lwm2m_links_parse(in2, sizeof(in2) - 1, &l, &err);
        alder_test_check_error("trailing NUL", r, err, EBADMSG,
                               "link format: offset 6: expected ',' or ';' after a link, got byte 0x00");
}

static char *repeat(const char *item, size_t n)
{
        size_t len = strlen(item);
        char *s = malloc(n * (len + 1) + 1);
        assert_non_null(s);
        char *p = s;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        *p++ = ',';
                memcpy(p, item, len);
                p += len;
        }
        *p = '\0';
        return s;
}

static void test_bounds(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_links l;
        _cleanup_free_ char *max = repeat("</3/0>", ALDER_LWM2M_RECORDS_MAX);
        assert_int_equal(parse(max, &l, &err), 0);
        assert_int_equal(l.n, ALDER_LWM2M_RECORDS_MAX);
        alder_lwm2m_links_clear(&l);

        _cleanup_free_ char *over = repeat("</3/0>", ALDER_LWM2M_RECORDS_MAX + 1);
        alder_error_clear(&err);
        int r = parse(over, &l, &err);
        alder_test_check_error("too many links", r, err, E2BIG, "link format: offset 28672: more than 4096 links");

        /* 64 attributes are fine, the 65th is refused. */
        char attrs[1024] = "</3/0>";
        for (int i = 0; i < 64; i++)
                strcat(attrs, ";a");
        alder_error_clear(&err);
        assert_int_equal(parse(attrs, &l, &err), 0);
        assert_int_equal(l.v[0].n_attrs, 64);
        alder_lwm2m_links_clear(&l);
        strcat(attrs, ";b");
        alder_error_clear(&err);
        r = parse(attrs, &l, &err);
        alder_test_check_error("too many attributes", r, err, E2BIG,
                               "link format: offset 135: more than 64 attributes on </3/0>");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_registration_payload),
                cmocka_unit_test(test_discover_answer),
                cmocka_unit_test(test_quoted_strings_and_alternate_root),
                cmocka_unit_test(test_empty_payload_is_no_links),
                cmocka_unit_test(test_not_a_path),
                cmocka_unit_test(test_errors_name_the_offset),
                cmocka_unit_test(test_nul_byte_refused),
                cmocka_unit_test(test_bounds),
        };
        return cmocka_run_group_tests_name("lwm2m-link", tests, NULL, NULL);
}
