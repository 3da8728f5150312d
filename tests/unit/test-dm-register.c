/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/json.h"
#include "register.h"

#define Q(...) ((const char *[]){__VA_ARGS__}), ALDER_ARRAY_SIZE(((const char *[]){__VA_ARGS__}))

static void test_register_parameters(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct dm_reg_params p;
        assert_int_equal(dm_reg_params_parse(NULL,
                                             Q("ep=node-1", "lt=300", "lwm2m=1.1", "b=UN", "Q", "sms=+4912",
                                               "et=sensor", "unknown=x", "noval"),
                                             &p, &err),
                         0);
        assert_string_equal(p.endpoint, "node-1");
        assert_string_equal(p.endpoint_type, "sensor");
        assert_string_equal(p.version, "1.1");
        assert_true(p.has_lifetime);
        assert_int_equal(p.lifetime, 300);
        assert_string_equal(p.binding, "UN");
        assert_string_equal(p.sms, "+4912");
        assert_true(p.queue);
        dm_reg_params_clear(&p);

        /* Defaults of the specification: lifetime 86400, version 1.0. */
        assert_int_equal(dm_reg_params_parse(NULL, Q("ep=x"), &p, &err), 0);
        assert_false(p.has_lifetime);
        assert_int_equal(p.lifetime, 86400);
        assert_string_equal(p.version, "1.0");
        assert_false(p.has_binding);
        dm_reg_params_clear(&p);

        /* LwM2M 1.0: queue mode is a Q in the binding. */
        assert_int_equal(dm_reg_params_parse(NULL, Q("ep=x", "lwm2m=1.0", "b=UQ"), &p, &err), 0);
        assert_true(p.queue);
        dm_reg_params_clear(&p);
        assert_int_equal(dm_reg_params_parse(NULL, Q("ep=x", "lt=4294967295"), &p, &err), 0);
        assert_int_equal(p.lifetime, 4294967295u);
        dm_reg_params_clear(&p);
}

static void test_update_parameters(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        struct dm_reg_params p;
        assert_int_equal(dm_reg_params_parse("1.0", Q("lt=5", "b=UQ"), &p, &err), 0);
        assert_true(p.has_lifetime && p.has_binding && p.queue);
        assert_null(p.endpoint);
        dm_reg_params_clear(&p);
        assert_int_equal(dm_reg_params_parse("1.1", Q("b=T"), &p, &err), 0);
        assert_false(p.has_lifetime);
        assert_int_equal(p.lifetime, 0);
        dm_reg_params_clear(&p);
}

static void test_parameter_errors(void **state)
{
        static const struct {
                const char *version; /* NULL: Register */
                const char *q[3];
                int errnum;
                const char *msg;
        } cases[] = {
                {NULL, {"lt=60"}, EINVAL, "missing endpoint name (ep)"},
                {NULL, {"ep="}, EINVAL, "parameter 'ep' needs a value"},
                {NULL, {"ep"}, EINVAL, "parameter 'ep' needs a value"},
                {NULL,
                 {"ep=a/b"},
                 EINVAL,
                 "endpoint name (ep): expected 1 to 255 printable characters without spaces and /?#%\"\\"},
                {NULL, {"ep=a", "ep=b"}, EINVAL, "parameter 'ep' given twice"},
                {NULL,
                 {"ep=a", "lwm2m=1.2"},
                 EPROTONOSUPPORT,
                 "unsupported LwM2M version '1.2' (this server speaks 1.0 and 1.1)"},
                {NULL, {"ep=a", "lt=0"}, EINVAL, "lifetime (lt) 0: expected 1 to 4294967295 seconds"},
                {NULL, {"ep=a", "lt=4294967296"}, EINVAL, "lifetime (lt) 4294967296: expected 1 to 4294967295 seconds"},
                {NULL, {"ep=a", "lt=1e3"}, EINVAL, "lifetime (lt) '1e3': expected a number of seconds"},
                {NULL, {"ep=a", "lt=-1"}, EINVAL, "lifetime (lt) '-1': expected a number of seconds"},
                {NULL,
                 {"ep=a", "lwm2m=1.1", "b=UQ"},
                 EINVAL,
                 "binding (b) 'UQ': expected letters of U, S, N and T (LwM2M 1.1)"},
                {NULL, {"ep=a", "b=UU"}, EINVAL, "binding (b) 'UU': 'U' given twice"},
                {NULL, {"ep=a", "b=N"}, EINVAL, "binding (b) 'N': expected letters of U, S and Q (LwM2M 1.0)"},
                {NULL, {"ep=a", "sms=12a"}, EINVAL, "SMS number (sms) '12a': expected an MSISDN (digits)"},
                {NULL, {"ep=a", "Q=1"}, EINVAL, "parameter 'Q' takes no value"},
                {"1.1", {"ep=a"}, EINVAL, "parameter 'ep' is not allowed in an Update"},
                {"1.1", {"lwm2m=1.1"}, EINVAL, "parameter 'lwm2m' is not allowed in an Update"},
                {"1.1", {"b=UQ"}, EINVAL, "binding (b) 'UQ': expected letters of U, S, N and T (LwM2M 1.1)"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_error_ alder_error *err = NULL;
                size_t n = 0;
                while (n < 3 && cases[i].q[n])
                        n++;
                struct dm_reg_params p = {.lifetime = 7};
                char what[64];
                alder_test_case_name(what, i, "%s", cases[i].q[0]);
                int r = dm_reg_params_parse(cases[i].version, cases[i].q, n, &p, &err);
                alder_test_check_error(what, r, err, cases[i].errnum, cases[i].msg);
                assert_int_equal(p.lifetime, 7); /* untouched */
        }
        const char *many[DM_REG_QUERY_MAX + 1];
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(many); i++)
                many[i] = "x=1";
        _cleanup_error_ alder_error *err = NULL;
        struct dm_reg_params p;
        int r = dm_reg_params_parse(NULL, many, ALDER_ARRAY_SIZE(many), &p, &err);
        alder_test_check_error("too many", r, err, E2BIG, "more than 32 query parameters");
}

static void test_object_lists(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        static const char reg[] = "</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0>,</5>;ver=1.1;obs";
        json_t *objects;
        assert_int_equal(dm_reg_objects_parse(reg, sizeof(reg) - 1, &objects, &err), 0);
        _cleanup_json_ json_t *want = alder_test_json(
                "[{\"path\":\"/1/0\"},{\"path\":\"/3/0\"},{\"path\":\"/5\",\"ver\":\"1.1\",\"obs\":true}]");
        alder_test_check_json("registration", objects, want);
        json_decref(objects);

        /* An alternate root is stripped. */
        static const char alt[] = "</lwm2m>;rt=\"oma.lwm2m\",</lwm2m/3/0>,</lwm2m/4>";
        assert_int_equal(dm_reg_objects_parse(alt, sizeof(alt) - 1, &objects, &err), 0);
        _cleanup_json_ json_t *want_alt = alder_test_json("[{\"path\":\"/3/0\"},{\"path\":\"/4\"}]");
        alder_test_check_json("alternate root", objects, want_alt);
        json_decref(objects);

        static const struct {
                const char *in;
                const char *msg;
        } bad[] = {
                {"</3/0", "object list: link format: offset 5: expected a URI character or '>', got end of payload"},
                {"</3/0/1>", "object list: link 1 </3/0/1> is not an object or an object instance"},
                {"</3/0>,<3/1>", "object list: link 2 <3/1> is not an LwM2M path below /"},
                {"</lwm2m>;rt=\"oma.lwm2m\",</3/0>", "object list: link 2 </3/0> is not an LwM2M path below /lwm2m"},
                {"</a>;rt=\"oma.lwm2m\",</b>;rt=\"oma.lwm2m\"", "object list: two links with rt=\"oma.lwm2m\""},
                {"</70000>", "object list: link 1 </70000> is not an LwM2M path below /"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(bad); i++) {
                alder_error_clear(&err);
                int r = dm_reg_objects_parse(bad[i].in, strlen(bad[i].in), &objects, &err);
                char what[64];
                alder_test_case_name(what, i, "%s", bad[i].in);
                alder_test_check_error(what, r, err, r == -EBADMSG ? EBADMSG : EINVAL, bad[i].msg);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_register_parameters),
                cmocka_unit_test(test_update_parameters),
                cmocka_unit_test(test_parameter_errors),
                cmocka_unit_test(test_object_lists),
        };
        return cmocka_run_group_tests_name("dm-register", tests, NULL, NULL);
}
