/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-dmc's notification attributes (device/dmc/attrs.c): Write-Attributes
 * parsing and its errors, inheritance, the pmin/pmax/gt/lt/st decision, the
 * Execute argument grammar, and the back-off of re-registration.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alder-test.h"
#include "daemon.h"

static struct alder_lwm2m_path P(const char *s) {
        struct alder_lwm2m_path p;
        if (alder_lwm2m_path_parse(s, &p, NULL) < 0)
                fail_msg("bad test path %s", s);
        return p;
}

static int
parse(const char *q, const char *path, enum alder_lwm2m_type t, struct dmc_attrs *set, unsigned *unset,
      alder_error **err)
{
        struct alder_lwm2m_path p = P(path);
        return dmc_attrs_parse(q, strlen(q), &p, t, set, unset, err);
}

static void test_parse_values(void **state)
{
        struct dmc_attrs a;
        unsigned unset;
        assert_int_equal(
                parse("pmin=10&pmax=60&gt=20.5&lt=-3&st=0.5", "/3303/0/5700", ALDER_LWM2M_TYPE_FLOAT, &a, &unset, NULL),
                0);
        assert_int_equal(a.set, DMC_ATTR_PMIN | DMC_ATTR_PMAX | DMC_ATTR_GT | DMC_ATTR_LT | DMC_ATTR_ST);
        assert_int_equal(a.pmin, 10);
        assert_int_equal(a.pmax, 60);
        assert_true(a.gt == 20.5 && a.lt == -3 && a.st == 0.5);
        assert_int_equal(unset, 0);
        /* A name without a value removes the attribute. */
        assert_int_equal(parse("pmin&epmax=5", "/3", ALDER_LWM2M_TYPE_NONE, &a, &unset, NULL), 0);
        assert_int_equal(a.set, DMC_ATTR_EPMAX);
        assert_int_equal(unset, DMC_ATTR_PMIN);
}

static void test_parse_errors(void **state)
{
        static const struct {
                const char *query, *path;
                enum alder_lwm2m_type type;
                const char *message;
        } cases[] = {
                {"pmin=1&foo=2", "/3/0", ALDER_LWM2M_TYPE_NONE,
                 "unknown attribute 'foo' (pmin, pmax, gt, lt, st, epmin, epmax are writable)"},
                {"pmin=-1", "/3/0", ALDER_LWM2M_TYPE_NONE, "attribute 'pmin': expected seconds, got '-1'"},
                {"pmax=", "/3/0", ALDER_LWM2M_TYPE_NONE,
                 "attribute 'pmax': expected seconds (0 to 2147483647), got ''"},
                {"pmax=99999999999", "/3/0", ALDER_LWM2M_TYPE_NONE,
                 "attribute 'pmax': expected seconds (0 to 2147483647), got '99999999999'"},
                {"pmax=2147483648", "/3/0", ALDER_LWM2M_TYPE_NONE, "attribute 'pmax': 2147483648 seconds is too many"},
                {"pmin=1&pmin=2", "/3/0", ALDER_LWM2M_TYPE_NONE, "attribute 'pmin' given twice"},
                {"gt=5", "/3/0", ALDER_LWM2M_TYPE_NONE, "attribute 'gt' applies to numeric resources only"},
                {"lt=5", "/3/0/0", ALDER_LWM2M_TYPE_STRING,
                 "attribute 'lt' applies to numeric resources only (this one is not numeric)"},
                {"gt=0x10", "/3/0/9", ALDER_LWM2M_TYPE_INTEGER, "attribute 'gt': expected a number, got '0x10'"},
                {"gt=inf", "/3/0/9", ALDER_LWM2M_TYPE_INTEGER, "attribute 'gt': expected a number, got 'inf'"},
                {"gt=1e999", "/3/0/9", ALDER_LWM2M_TYPE_INTEGER, "attribute 'gt': expected a number, got '1e999'"},
                {"st=-1", "/3/0/9", ALDER_LWM2M_TYPE_INTEGER, "attribute 'st': a step cannot be negative"},
                {"pmin=1&", "/3/0", ALDER_LWM2M_TYPE_NONE, "empty attribute after '&'"},
                {"pmin=1&&pmax=2", "/3/0", ALDER_LWM2M_TYPE_NONE,
                 "unknown attribute '' (pmin, pmax, gt, lt, st, epmin, epmax are writable)"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_error_ alder_error *err = NULL;
                struct dmc_attrs a;
                unsigned unset;
                char name[64];
                alder_test_case_name(name, i, "%s", cases[i].query);
                int r = parse(cases[i].query, cases[i].path, cases[i].type, &a, &unset, &err);
                alder_test_check_error(name, r, err, EINVAL, cases[i].message);
        }
}

static void test_apply_and_inherit(void **state)
{
        struct dmc_model m = {0};
        _cleanup_error_ alder_error *err = NULL;
        struct dmc_attrs set = {.set = DMC_ATTR_PMIN | DMC_ATTR_PMAX, .pmin = 5, .pmax = 100};
        struct alder_lwm2m_path obj = P("/3"), inst = P("/3/0"), res = P("/3/0/9");
        assert_int_equal(dmc_attrs_apply(&m, &obj, &set, 0, &err), 0);
        set = (struct dmc_attrs){.set = DMC_ATTR_PMIN | DMC_ATTR_GT, .pmin = 1, .gt = 50};
        assert_int_equal(dmc_attrs_apply(&m, &res, &set, 0, &err), 0);
        struct dmc_attrs eff;
        dmc_attrs_effective(&m, &res, 0, 0, &eff);
        assert_int_equal(eff.set, DMC_ATTR_PMIN | DMC_ATTR_PMAX | DMC_ATTR_GT);
        assert_int_equal(eff.pmin, 1);   /* the resource's */
        assert_int_equal(eff.pmax, 100); /* the object's */
        dmc_attrs_effective(&m, &inst, 2, 30, &eff);
        assert_int_equal(eff.pmin, 5); /* object level beats the server default */
        assert_int_equal(eff.pmax, 100);
        struct alder_lwm2m_path other = P("/1/0");
        dmc_attrs_effective(&m, &other, 2, 30, &eff);
        assert_int_equal(eff.set, DMC_ATTR_PMIN | DMC_ATTR_PMAX);
        assert_int_equal(eff.pmin, 2);
        assert_int_equal(eff.pmax, 30);

        /* lt must stay below gt, including with what is already there. */
        set = (struct dmc_attrs){.set = DMC_ATTR_LT, .lt = 60};
        assert_alder_error(dmc_attrs_apply(&m, &res, &set, 0, &err), EINVAL, "'lt' (60) must be below 'gt' (50)");
        set = (struct dmc_attrs){.set = DMC_ATTR_LT | DMC_ATTR_ST, .lt = 10, .st = 20};
        assert_alder_error(dmc_attrs_apply(&m, &res, &set, 0, &err), EINVAL,
                           "'lt' + 2 'st' (50) must be below 'gt' (50)");
        set.st = 5;
        assert_int_equal(dmc_attrs_apply(&m, &res, &set, 0, &err), 0);

        /* Discover shows what is attached at a level. */
        char *buf = NULL;
        size_t len = 0, cap = 0;
        assert_int_equal(dmc_attrs_format(dmc_attrs_get(&m, &res), &buf, &len, &cap), 0);
        assert_string_equal(buf, ";pmin=1;gt=50;lt=10;st=5");
        free(buf);

        /* Removing every attribute drops the entry; Delete forgets a subtree. */
        assert_int_equal(dmc_attrs_apply(&m, &res, &(struct dmc_attrs){0},
                                         DMC_ATTR_PMIN | DMC_ATTR_GT | DMC_ATTR_LT | DMC_ATTR_ST, &err),
                         0);
        assert_null(dmc_attrs_get(&m, &res));
        assert_int_equal(dmc_attrs_apply(&m, &res, &(struct dmc_attrs){.set = DMC_ATTR_PMAX, .pmax = 9}, 0, &err), 0);
        dmc_attrs_forget(&m, &inst);
        assert_null(dmc_attrs_get(&m, &res));
        assert_non_null(dmc_attrs_get(&m, &obj));
        dmc_model_free(&m);
}

static void set_value(struct alder_lwm2m_records *r, double v)
{
        alder_lwm2m_records_clear(r);
        struct alder_lwm2m_path p = P("/3303/0/5700");
        alder_lwm2m_value_set_float(&alder_lwm2m_records_add(r, &p)->value, v);
}

static void test_notification_decision(void **state)
{
        struct dmc_observation o = {0};
        _cleanup_lwm2m_records_ struct alder_lwm2m_records cur = {0};
        int64_t next;
        set_value(&cur, 20);
        assert_int_equal(dmc_observe_sent(&o, &cur, 1000, NULL), 0);

        /* No attributes: any change, at once; no change, never. */
        struct dmc_attrs none = {0};
        assert_false(dmc_observe_due(&o, &none, &cur, 500000, &next));
        assert_true(next == INT64_MAX);
        set_value(&cur, 20.1);
        assert_true(dmc_observe_due(&o, &none, &cur, 1001, &next));

        /* pmin holds a change back until it has passed; pmax sends without one. */
        struct dmc_attrs pp = {.set = DMC_ATTR_PMIN | DMC_ATTR_PMAX, .pmin = 10, .pmax = 60};
        assert_false(dmc_observe_due(&o, &pp, &cur, 5000, &next));
        assert_int_equal(next, 11000);
        assert_true(dmc_observe_due(&o, &pp, &cur, 11000, &next));
        set_value(&cur, 20);
        assert_false(dmc_observe_due(&o, &pp, &cur, 30000, &next));
        assert_int_equal(next, 61000);
        assert_true(dmc_observe_due(&o, &pp, &cur, 61000, &next));
        /* pmax below pmin is ignored (§5.1.2). */
        struct dmc_attrs bad = {.set = DMC_ATTR_PMIN | DMC_ATTR_PMAX, .pmin = 100, .pmax = 60};
        assert_false(dmc_observe_due(&o, &bad, &cur, 70000, &next));

        /* gt/lt: only crossings count; st: only steps that big. */
        struct dmc_attrs gt = {.set = DMC_ATTR_GT | DMC_ATTR_LT, .gt = 25, .lt = 10};
        set_value(&cur, 24);
        assert_false(dmc_observe_due(&o, &gt, &cur, 2000, &next));
        set_value(&cur, 26);
        assert_true(dmc_observe_due(&o, &gt, &cur, 2000, &next));
        set_value(&cur, 9);
        assert_true(dmc_observe_due(&o, &gt, &cur, 2000, &next));
        struct dmc_attrs st = {.set = DMC_ATTR_ST, .st = 2};
        set_value(&cur, 21.5);
        assert_false(dmc_observe_due(&o, &st, &cur, 2000, &next));
        set_value(&cur, 22);
        assert_true(dmc_observe_due(&o, &st, &cur, 2000, &next));
        set_value(&cur, 17.9);
        assert_true(dmc_observe_due(&o, &st, &cur, 2000, &next));

        /* After sending, the new value is the reference. */
        assert_int_equal(dmc_observe_sent(&o, &cur, 3000, NULL), 0);
        assert_false(dmc_observe_due(&o, &st, &cur, 4000, &next));
        dmc_observation_clear(&o);
}

static void test_exec_args(void **state)
{
        _cleanup_error_ alder_error *err = NULL;
        static const char ok[] = "0='stop now',3,7='x=1'";
        assert_int_equal(dmc_exec_args_check(ok, strlen(ok), &err), 3);
        assert_int_equal(dmc_exec_args_check("", 0, &err), 0);
        char *v = dmc_exec_arg(ok, strlen(ok), 0);
        assert_string_equal(v, "stop now");
        free(v);
        v = dmc_exec_arg(ok, strlen(ok), 3);
        assert_string_equal(v, "");
        free(v);
        v = dmc_exec_arg(ok, strlen(ok), 7);
        assert_string_equal(v, "x=1");
        free(v);
        assert_null(dmc_exec_arg(ok, strlen(ok), 1));
        static const struct {
                const char *args, *message;
        } cases[] = {
                {"a", "byte 0: expected an argument number 0-9"},
                {"1,", "byte 2: expected an argument number 0-9"},
                {"1=x", "byte 2: expected ' to open the value"},
                {"1='x", "byte 4: expected ' to close the value"},
                {"1='x\"y'", "byte 4: expected ' to close the value"},
                {"12", "byte 1: expected ',' between arguments"},
                {"1,1", "byte 2: argument 1 given twice"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                alder_error_clear(&err);
                char name[64];
                alder_test_case_name(name, i, "%s", cases[i].args);
                int r = dmc_exec_args_check(cases[i].args, strlen(cases[i].args), &err);
                alder_test_check_error(name, r, err, EINVAL, cases[i].message);
        }
}

static void test_backoff(void **state)
{
        struct dmc_config cfg = {.retry_initial_ms = 1000, .retry_max_ms = 60000};
        /* Equal jitter: between half and all of the exponential delay, capped. */
        assert_int_equal(dmc_reg_backoff_ms(&cfg, 0, 0), 500);
        assert_int_equal(dmc_reg_backoff_ms(&cfg, 0, 500), 1000);
        assert_int_equal(dmc_reg_backoff_ms(&cfg, 3, 0), 4000);
        assert_int_equal(dmc_reg_backoff_ms(&cfg, 3, 4000), 8000);
        assert_int_equal(dmc_reg_backoff_ms(&cfg, 30, 0), 30000);
        assert_int_equal(dmc_reg_backoff_ms(&cfg, 1000, UINT32_MAX), 30000 + (int64_t) (UINT32_MAX % 30001));
        for (unsigned n = 0; n < 40; n++)
                for (uint32_t rnd = 0; rnd < 100000; rnd += 7919) {
                        int64_t b = dmc_reg_backoff_ms(&cfg, n, rnd);
                        assert_true(b >= 500 && b <= 60000);
                }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_values),      cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_apply_and_inherit), cmocka_unit_test(test_notification_decision),
                cmocka_unit_test(test_exec_args),         cmocka_unit_test(test_backoff),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
