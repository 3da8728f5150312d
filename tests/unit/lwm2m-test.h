/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the LwM2M codec tests: hex payloads, records built from path
 * strings, decode/encode that must succeed. Include after <cmocka.h> and
 * alder-test.h.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/cleanup.h"
#include "alder/lwm2m.h"
#include "keys-test.h" /* struct test_buf */

/* "c8 00 14 4f": hex digits, blanks ignored. */
static inline struct test_buf lw_hex(const char *hex)
{
        struct test_buf b = {.data = malloc(strlen(hex) / 2 + 1)};
        assert_non_null(b.data);
        for (const char *p = hex; *p;) {
                unsigned v;
                if (*p == ' ') {
                        p++;
                        continue;
                }
                if (sscanf(p, "%2x", &v) != 1)
                        fail_msg("bad test hex at '%s'", p);
                b.data[b.len++] = (uint8_t) v;
                p += 2;
        }
        return b;
}

static inline void lw_check_bytes(const char *what, const uint8_t *got, size_t got_len, const uint8_t *exp,
                                  size_t exp_len)
{
        if (got_len == exp_len && (exp_len == 0 || memcmp(got, exp, exp_len) == 0))
                return;
        fprintf(stderr, "%s: got %zu bytes:\n  ", what, got_len);
        for (size_t i = 0; i < got_len; i++)
                fprintf(stderr, "%02x%s", got[i], i + 1 < got_len ? " " : "\n");
        fprintf(stderr, "  expected %zu bytes:\n  ", exp_len);
        for (size_t i = 0; i < exp_len; i++)
                fprintf(stderr, "%02x%s", exp[i], i + 1 < exp_len ? " " : "\n");
        fail_msg("%s: encoding differs", what);
}

static inline struct alder_lwm2m_path lw_path(const char *s)
{
        struct alder_lwm2m_path p;
        if (alder_lwm2m_path_parse(s, &p, NULL) < 0)
                fail_msg("bad test path '%s'", s);
        return p;
}

static inline struct alder_lwm2m_value *lw_add(struct alder_lwm2m_records *r, const char *path)
{
        struct alder_lwm2m_path p = lw_path(path);
        struct alder_lwm2m_record *rec = alder_lwm2m_records_add(r, &p);
        assert_non_null(rec);
        return &rec->value;
}

static inline void lw_add_int(struct alder_lwm2m_records *r, const char *path, int64_t i)
{
        alder_lwm2m_value_set_int(lw_add(r, path), ALDER_LWM2M_TYPE_INTEGER, i);
}

static inline void lw_add_str(struct alder_lwm2m_records *r, const char *path, const char *s)
{
        assert_int_equal(alder_lwm2m_value_set_string(lw_add(r, path), s), 0);
}

static inline void lw_add_bytes(struct alder_lwm2m_records *r, const char *path, enum alder_lwm2m_type t,
                                const void *data, size_t len)
{
        assert_int_equal(alder_lwm2m_value_set_bytes(lw_add(r, path), t, data, len), 0);
}

/* Encodes records that must encode. */
static inline struct test_buf lw_encode(unsigned format, const char *base, const struct alder_lwm2m_records *r)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_path b = lw_path(base);
        struct test_buf out = {0};
        if (alder_lwm2m_encode(format, &b, r, &out.data, &out.len, &err) < 0)
                fail_msg("encode %u %s: %s", format, base, alder_error_message(err));
        return out;
}

/* Decodes a payload that must decode, appending to *r. */
static inline void lw_decode(unsigned format, const char *base, const void *data, size_t len,
                             struct alder_lwm2m_records *r)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_path b = lw_path(base);
        if (alder_lwm2m_decode(format, &b, data, len, r, &err) < 0)
                fail_msg("decode %u %s: %s", format, base, alder_error_message(err));
}

/* Two record lists hold the same paths and values in the same order. */
static inline void lw_check_records(const char *what, const struct alder_lwm2m_records *got,
                                    const struct alder_lwm2m_records *exp)
{
        char p[ALDER_LWM2M_PATH_STRLEN], q[ALDER_LWM2M_PATH_STRLEN];
        if (got->n != exp->n)
                fail_msg("%s: %zu records, expected %zu", what, got->n, exp->n);
        for (size_t i = 0; i < got->n; i++) {
                if (alder_lwm2m_path_compare(&got->v[i].path, &exp->v[i].path) != 0)
                        fail_msg("%s: record %zu is %s, expected %s", what, i,
                                 alder_lwm2m_path_format(&got->v[i].path, p),
                                 alder_lwm2m_path_format(&exp->v[i].path, q));
                if (!alder_lwm2m_value_equal(&got->v[i].value, &exp->v[i].value)) {
                        _cleanup_free_ char *g = alder_lwm2m_value_to_text(&got->v[i].value, 32);
                        _cleanup_free_ char *e = alder_lwm2m_value_to_text(&exp->v[i].value, 32);
                        fail_msg("%s: %s is %s '%s', expected %s '%s'", what,
                                 alder_lwm2m_path_format(&got->v[i].path, p),
                                 alder_lwm2m_type_name(got->v[i].value.type), g,
                                 alder_lwm2m_type_name(exp->v[i].value.type), e);
                }
        }
}

/* A malformed-input case: decoding `hex` (or `text` when set) for `base` fails with errnum and msg. */
struct lw_bad_case {
        unsigned format;
        const char *base;
        const char *hex;
        const char *text;
        int errnum;
        const char *msg;
};

static inline void lw_check_bad(const struct lw_bad_case *cases, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const struct lw_bad_case *c = &cases[i];
                _cleanup_error_ alder_error *err = NULL;
                _cleanup_test_buf_ struct test_buf b = {0};
                _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
                struct alder_lwm2m_path base = lw_path(c->base);
                char what[160];
                lw_add_int(&r, "/1/0/0", 1); /* decode appends; on failure it leaves this alone */
                if (c->text) {
                        b.len = strlen(c->text);
                        b.data = (uint8_t *) strdup(c->text);
                } else {
                        b = lw_hex(c->hex);
                }
                alder_test_case_name(what, i, "format %u, %s", c->format, c->text ? c->text : c->hex);
                int ret = alder_lwm2m_decode(c->format, &base, b.data, b.len, &r, &err);
                alder_test_check_error(what, ret, err, c->errnum, c->msg);
                assert_int_equal(r.n, 1);
        }
}
