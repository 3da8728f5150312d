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

#include "alder/ocirt.h"

/* ---- Container ids ------------------------------------------------------------- */

static void test_check_id(void **state)
{
        static const char *const good[] = {"a", "hello", "app-1.2_x", "0abc"};
        static const struct {
                const char *id, *msg;
        } bad[] = {
                {"", "container id is empty"},
                {"-rf", "container id '-rf': character 1 is not allowed (expected [a-zA-Z0-9][a-zA-Z0-9_.-]*)"},
                {".hidden", "container id '.hidden': character 1 is not allowed (expected [a-zA-Z0-9][a-zA-Z0-9_.-]*)"},
                {"a/b", "container id 'a/b': character 2 is not allowed (expected [a-zA-Z0-9][a-zA-Z0-9_.-]*)"},
                {"a b", "container id 'a b': character 2 is not allowed (expected [a-zA-Z0-9][a-zA-Z0-9_.-]*)"},
                {"ab\xc3\xa9", "container id 'ab\xc3\xa9': character 3 is not allowed (expected "
                               "[a-zA-Z0-9][a-zA-Z0-9_.-]*)"},
        };
        _cleanup_error_ alder_error *err = NULL;
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(good); i++)
                assert_int_equal(alder_ocirt_check_id(good[i], &err), 0);
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(bad); i++)
                assert_alder_error(alder_ocirt_check_id(bad[i].id, &err), EINVAL, bad[i].msg);
        assert_alder_error(alder_ocirt_check_id(NULL, &err), EINVAL, "container id is empty");

        char id[ALDER_OCIRT_ID_MAX + 2];
        memset(id, 'a', sizeof(id));
        id[ALDER_OCIRT_ID_MAX] = '\0';
        assert_int_equal(alder_ocirt_check_id(id, &err), 0);
        id[ALDER_OCIRT_ID_MAX] = 'a';
        id[ALDER_OCIRT_ID_MAX + 1] = '\0';
        assert_alder_error(alder_ocirt_check_id(id, &err), EINVAL,
                           "container id 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': longer than 128 characters");
}

/* ---- Runtime selection ---------------------------------------------------------- */

#define CRUN "/usr/bin/crun"
#define RUNC "/usr/sbin/runc"

static void test_select(void **state)
{
        static const struct {
                const char *name;
                bool cgroup2;
                const char *crun, *runc;
                const char *expected; /* path, or the error message */
                int errnum;
        } cases[] = {
                {NULL, true, CRUN, RUNC, CRUN, 0},
                {NULL, false, CRUN, RUNC, RUNC, 0},
                {NULL, true, NULL, RUNC, RUNC, 0},
                {NULL, false, NULL, RUNC, RUNC, 0},
                {NULL, true, CRUN, NULL, CRUN, 0},
                {"runc", true, CRUN, RUNC, RUNC, 0},
                {"crun", false, CRUN, RUNC, CRUN, 0},
                {NULL, false, CRUN, NULL,
                 "no usable OCI runtime: crun needs a cgroup v2 hierarchy at /sys/fs/cgroup and runc was not found "
                 "in /usr/bin, /usr/sbin, /usr/local/bin",
                 ENOENT},
                {NULL, true, NULL, NULL,
                 "no OCI runtime found: looked for crun and runc in /usr/bin, /usr/sbin, "
                 "/usr/local/bin",
                 ENOENT},
                {"crun", true, NULL, RUNC, "OCI runtime 'crun' not found in /usr/bin, /usr/sbin, /usr/local/bin",
                 ENOENT},
                {"youki", true, CRUN, RUNC, "unknown OCI runtime 'youki' (expected crun or runc)", EINVAL},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_error_ alder_error *err = NULL;
                const char *path = NULL;
                char what[64];
                alder_test_case_name(what, i, "%s", cases[i].expected);
                int r = alder_ocirt_select(cases[i].name, cases[i].cgroup2, cases[i].crun, cases[i].runc, &path, &err);
                if (cases[i].errnum) {
                        alder_test_check_error(what, r, err, cases[i].errnum, cases[i].expected);
                        assert_null(path);
                } else {
                        assert_int_equal(r, 0);
                        assert_string_equal(path, cases[i].expected);
                }
        }
}

/* ---- state / list JSON -------------------------------------------------------------- */

static void test_parse_state(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_ocirt_container s;
        const char *doc = "{\"ociVersion\": \"1.0.2\", \"id\": \"hello\", \"pid\": 4242, \"status\": \"running\", "
                          "\"bundle\": \"/b\"}";
        assert_int_equal(alder_ocirt_parse_state("runc state 'hello'", doc, strlen(doc), &s, &err), 0);
        assert_string_equal(s.id, "hello");
        assert_int_equal(s.status, ALDER_OCIRT_RUNNING);
        assert_int_equal(s.pid, 4242);
        assert_string_equal(alder_ocirt_status_name(s.status), "running");
        assert_string_equal(alder_ocirt_status_name((alder_ocirt_status) 99), "unknown");

        doc = "{\"id\": \"x\", \"status\": \"stopped\"}";
        assert_int_equal(alder_ocirt_parse_state("s", doc, strlen(doc), &s, &err), 0);
        assert_int_equal(s.status, ALDER_OCIRT_STOPPED);
        assert_int_equal(s.pid, 0);
}

static void test_parse_state_bad(void **state)
{
        static const struct {
                const char *doc, *msg;
                int errnum;
        } cases[] = {
                {"{\"id\": \"x\", \"status\": \"zombie\"}", "st: field 'status': unknown status 'zombie'", EBADMSG},
                {"{\"id\": \"x\"}", "st: field 'status': missing", ENOENT},
                {"{\"status\": \"running\"}", "st: field 'id': missing", ENOENT},
                {"{\"id\": \"../x\", \"status\": \"running\"}", "st: field 'id': not a valid container id", EBADMSG},
                {"{\"id\": 7, \"status\": \"running\"}", "st: field 'id': expected string, got integer", EINVAL},
                {"{\"id\": \"x\", \"status\": \"running\", \"pid\": -1}",
                 "st: field 'pid': -1 is out of range [0, 2147483647]", ERANGE},
                {"{\"id\": \"x\", \"status\": \"running\", \"pid\": \"1\"}",
                 "st: field 'pid': expected integer, got string", EINVAL},
                {"[]", "st: expected object, got array", EINVAL},
                {"{", "st:1:1: string or '}' expected near end of file", EBADMSG},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_error_ alder_error *err = NULL;
                alder_ocirt_container s;
                char what[64];
                alder_test_case_name(what, i, "%s", cases[i].doc);
                int r = alder_ocirt_parse_state("st", cases[i].doc, strlen(cases[i].doc), &s, &err);
                alder_test_check_error(what, r, err, cases[i].errnum, cases[i].msg);
        }
}

static void test_parse_list(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        _cleanup_free_ alder_ocirt_container *v = NULL;
        size_t n = 99;
        const char *doc = "[{\"id\": \"a\", \"pid\": 10, \"status\": \"running\"}, {\"id\": \"b\", \"pid\": 0, "
                          "\"status\": \"created\"}]";
        assert_int_equal(alder_ocirt_parse_list("list", doc, strlen(doc), &v, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[1].id, "b");
        assert_int_equal(v[1].status, ALDER_OCIRT_CREATED);
        free(steal_pointer(&v));

        assert_int_equal(alder_ocirt_parse_list("list", "null\n", 5, &v, &n, &err), 0);
        assert_int_equal(n, 0);
        assert_null(v);

        doc = "[{\"id\": \"a\", \"status\": \"running\"}, {\"id\": \"b\"}]";
        assert_alder_error(alder_ocirt_parse_list("list", doc, strlen(doc), &v, &n, &err), ENOENT,
                           "list[1]: field 'status': missing");
        assert_alder_error(alder_ocirt_parse_list("list", "{}", 2, &v, &n, &err), EBADMSG,
                           "list: expected array, got object");

        /* A hostile runtime can not make us allocate without bound. */
        size_t big = ALDER_OCIRT_MAX_CONTAINERS + 1;
        _cleanup_free_ char *many = malloc(big * 3 + 2);
        char *p = many;
        *p++ = '[';
        for (size_t i = 0; i < big; i++)
                p += sprintf(p, "%s{}", i ? "," : "");
        strcpy(p, "]");
        assert_alder_error(alder_ocirt_parse_list("list", many, strlen(many), &v, &n, &err), E2BIG,
                           "list: 4097 containers, more than 4096");
}

/* ---- Runtime messages ------------------------------------------------------------- */

static void test_message(void **state)
{
        static const struct {
                const char *log, *stderr_text, *expected;
        } cases[] = {
                /* The last error-level log message wins over stderr. */
                {"{\"level\":\"warning\",\"msg\":\"w\"}\n"
                 "{\"level\":\"error\",\"msg\":\"first\"}\n"
                 "garbage line\n"
                 "{\"msg\":\"container with id exists: hello\",\"level\":\"error\",\"time\":\"t\"}\n",
                 "ignored", "container with id exists: hello"},
                {"{\"level\":\"info\",\"msg\":\"i\"}\n", "  \n boom\twith\ttabs\n\n", "boom with tabs"},
                {"", "line one\nline two\n", "line one line two"},
                {NULL, NULL, NULL},
                {"", " \n\t ", NULL},
                {"{\"level\":\"fatal\",\"msg\":\"  spaced \\u0007 bell \"}", NULL, "spaced   bell"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                const char *l = cases[i].log, *s = cases[i].stderr_text;
                _cleanup_free_ char *m = alder_ocirt_message(l, l ? strlen(l) : 0, s, s ? strlen(s) : 0);
                if (!cases[i].expected)
                        assert_null(m);
                else
                        assert_string_equal(m, cases[i].expected);
        }
}

static void test_message_is_bounded(void **state)
{
        size_t n = 3 * ALDER_OCIRT_MESSAGE_MAX;
        _cleanup_free_ char *text = malloc(n + 1);
        memset(text, 'x', n);
        text[n] = '\0';
        _cleanup_free_ char *m = alder_ocirt_message(NULL, 0, text, n);
        assert_int_equal(strlen(m), ALDER_OCIRT_MESSAGE_MAX);
        assert_string_equal(m + ALDER_OCIRT_MESSAGE_MAX - 4, "x...");
        text[ALDER_OCIRT_MESSAGE_MAX] = '\0';
        _cleanup_free_ char *exact = alder_ocirt_message(NULL, 0, text, ALDER_OCIRT_MESSAGE_MAX);
        assert_string_equal(exact, text);
}

/* ---- Open: errors that need no runtime -------------------------------------------- */

static void test_open_unknown_runtime(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        alder_ocirt *rt = NULL;
        assert_alder_error(alder_ocirt_open("youki", "/nonexistent", &rt, &err), EINVAL,
                           "unknown OCI runtime 'youki' (expected crun or runc)");
        assert_null(rt);
        alder_ocirt_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check_id),           cmocka_unit_test(test_select),
                cmocka_unit_test(test_parse_state),        cmocka_unit_test(test_parse_state_bad),
                cmocka_unit_test(test_parse_list),         cmocka_unit_test(test_message),
                cmocka_unit_test(test_message_is_bounded), cmocka_unit_test(test_open_unknown_runtime),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
