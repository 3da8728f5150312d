/* SPDX-License-Identifier: Apache-2.0 */
/* The device directory (dm/store.c) and the list filters that query it (dm/filter.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alder-test.h"
#include "alder/json.h"
#include "filter.h"
#include "store.h"

struct fixture {
        char dir[64];
        char path[96];
        dm_store *s;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        strcpy(f->dir, "/tmp/test-dm-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/dm.db", f->dir);
        assert_int_equal(dm_store_open(f->path, &f->s, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        dm_store_close(f->s);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void reg(dm_store *s, const char *ep, const char *reg_id, uint32_t lifetime, int64_t now, char id[33])
{
        struct dm_device_reg r = {.endpoint = ep,
                                  .security = "none",
                                  .registration_id = reg_id,
                                  .address = "1.2.3.4:5",
                                  .binding = "U",
                                  .version = "1.1",
                                  .objects = "[{\"path\":\"/3/0\"}]",
                                  .has_lifetime = true,
                                  .lifetime = lifetime,
                                  .now = now};
        assert_int_equal(dm_store_device_register(s, &r, id, NULL), 0);
}

static void test_register_update_end(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ alder_error *err = NULL;
        struct stat st;
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600); /* it holds the PSKs */

        char id[33], id2[33];
        reg(f->s, "a", "r1", 60, 1000, id);
        assert_int_equal(strlen(id), 32);
        json_t *d;
        assert_int_equal(dm_store_device_get(f->s, "a", true, &d, &err), 0);
        assert_string_equal(json_string_value(json_object_get(d, "state")), "registered");
        assert_string_equal(json_string_value(json_object_get(d, "expires_at")), "1970-01-01T00:01:01.000Z");
        assert_int_equal(json_integer_value(json_object_get(d, "lifetime")), 60);
        json_decref(d);

        struct dm_device_reg u = {.registration_id = "r1", .has_lifetime = true, .lifetime = 120, .now = 2000};
        assert_int_equal(dm_store_device_update(f->s, &u, &err), 0);
        assert_int_equal(dm_store_device_get(f->s, id, false, &d, &err), 0);
        assert_int_equal(json_integer_value(json_object_get(d, "lifetime")), 120);
        assert_string_equal(json_string_value(json_object_get(d, "binding")), "U"); /* kept */
        json_decref(d);

        /* A new registration of the endpoint keeps its id and creation time. */
        reg(f->s, "a", "r2", 30, 3000, id2);
        assert_string_equal(id, id2);
        u.registration_id = "r1";
        assert_alder_error(dm_store_device_update(f->s, &u, &err), ENOENT, "no live registration 'r1'");
        assert_int_equal(dm_store_device_end(f->s, "r2", "expired", 4000, &err), 0);
        assert_alder_error(dm_store_device_end(f->s, "r2", "deregistered", 5000, &err), ENOENT,
                           "end registration: no live registration 'r2'");
        assert_alder_error(dm_store_device_delete(f->s, "nope", &err), ENOENT, "no device with id 'nope'");
        reg(f->s, "b", "r3", 30, 3000, id2);
        char busy[96];
        snprintf(busy, sizeof(busy), "device '%s' is registered: it can be deleted once it is not", id2);
        assert_alder_error(dm_store_device_delete(f->s, id2, &err), EBUSY, busy);
        assert_int_equal(dm_store_device_delete(f->s, id, &err), 0);
        assert_alder_error(dm_store_device_get(f->s, "a", true, &d, &err), ENOENT, "no device with endpoint name 'a'");
}

static void test_flags_are_bounded(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ alder_error *err = NULL;
        char id[33];
        reg(f->s, "a", "r1", 60, 1000, id);
        for (int i = 0; i < 20; i++) {
                char msg[16];
                snprintf(msg, sizeof(msg), "m%d", i);
                assert_int_equal(dm_store_device_flag(f->s, "a", "identity_in_use", msg, 1000 + i, &err), 0);
        }
        assert_alder_error(dm_store_device_flag(f->s, "zz", "x", "y", 1, &err), ENOENT,
                           "no device with endpoint name 'zz'");
        json_t *d;
        assert_int_equal(dm_store_device_get(f->s, "a", true, &d, &err), 0);
        json_t *flags = json_object_get(d, "flags");
        assert_int_equal(json_array_size(flags), 16);
        assert_string_equal(json_string_value(json_object_get(json_array_get(flags, 0), "message")), "m4");
        assert_string_equal(json_string_value(json_object_get(json_array_get(flags, 15), "message")), "m19");
        json_decref(d);
}

static void test_psk_and_api_keys(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ alder_error *err = NULL;
        static const uint8_t key[16] = {1, 2, 3};
        assert_int_equal(dm_store_psk_set(f->s, "a", "id-a", key, sizeof(key), &err), 0);
        assert_alder_error(dm_store_psk_set(f->s, "b", "id-a", key, sizeof(key), &err), EEXIST,
                           "PSK identity 'id-a' belongs to another endpoint");
        assert_int_equal(dm_store_psk_set(f->s, "a", "id-a2", key, 8, &err), 0); /* replaced */
        char *ep;
        uint8_t got[DM_PSK_KEY_MAX];
        size_t len;
        assert_int_equal(dm_store_psk_by_identity(f->s, "id-a2", &ep, got, &len, &err), 0);
        assert_string_equal(ep, "a");
        assert_int_equal(len, 8);
        free(ep);
        assert_alder_error(dm_store_psk_by_identity(f->s, "id-a", &ep, got, &len, &err), ENOENT,
                           "no PSK with identity 'id-a'");
        assert_int_equal(dm_store_psk_remove(f->s, "a", &err), 0);
        assert_alder_error(dm_store_psk_remove(f->s, "a", &err), ENOENT, "endpoint 'a' has no PSK");

        uint8_t d1[32] = {1}, d2[32] = {2};
        unsigned n;
        assert_int_equal(dm_store_apikey_count(f->s, &n, &err), 0);
        assert_int_equal(n, 0);
        assert_int_equal(dm_store_apikey_match(f->s, d1, &err), -EACCES);
        assert_int_equal(dm_store_apikey_add(f->s, "k1", "admin", d1, 1, &err), 0);
        assert_int_equal(dm_store_apikey_match(f->s, d1, &err), 0);
        assert_int_equal(dm_store_apikey_match(f->s, d2, &err), -EACCES);

        json_t *v;
        assert_int_equal(dm_store_setting_get(f->s, "callback", &v, &err), 0);
        assert_null(v);
        _cleanup_json_ json_t *cb = alder_test_json("{\"url\":\"http://x/\"}");
        assert_int_equal(dm_store_setting_set(f->s, "callback", cb, &err), 0);
        assert_int_equal(dm_store_setting_get(f->s, "callback", &v, &err), 0);
        alder_test_check_json("callback", v, cb);
        json_decref(v);
        assert_int_equal(dm_store_setting_set(f->s, "callback", NULL, &err), 0);
        assert_int_equal(dm_store_setting_get(f->s, "callback", &v, &err), 0);
        assert_null(v);
}

/* Endpoint names of a list call with the query "k=v&k2=v2". */
static char *names(dm_store *s, const char *query)
{
        struct dm_param params[16];
        size_t n = 0;
        _cleanup_free_ char *copy = strdup(query);
        for (char *save = NULL, *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
                char *eq = strchr(kv, '=');
                *eq = '\0';
                params[n++] = (struct dm_param){kv, eq + 1};
        }
        struct dm_query q = {0};
        const char *field;
        _cleanup_error_ alder_error *err = NULL;
        if (dm_query_parse(params, n, &q, &field, &err) < 0)
                fail_msg("%s: %s", query, alder_error_message(err));
        json_t *list;
        assert_int_equal(dm_store_device_list(s, &q, &list, &err), 0);
        dm_query_clear(&q);
        char *out = calloc(1, 256);
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(list, "data"), i, d)
        {
                strcat(out, json_string_value(json_object_get(d, "endpoint_name")));
                strcat(out, " ");
        }
        if (json_is_true(json_object_get(list, "has_more")))
                strcat(out, "+");
        json_t *total = json_object_get(list, "total_count");
        if (total)
                sprintf(out + strlen(out), "=%d", (int) json_integer_value(total));
        json_decref(list);
        return out;
}

#define assert_names(s, query, expected)               \
        do {                                           \
                char *got_ = names((s), (query));      \
                assert_string_equal(got_, (expected)); \
                free(got_);                            \
        } while (0)

static void test_filtered_lists(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ alder_error *err = NULL;
        char id[33];
        /* ids are random: sort by endpoint through id order is not known, so filters pick single devices */
        reg(f->s, "a", "r1", 10, 1700000000000, id);
        reg(f->s, "b", "r2", 20, 1700000001000, id);
        reg(f->s, "c", "r3", 30, 1700000002000, id);
        assert_int_equal(dm_store_device_end(f->s, "r2", "deregistered", 1700000003000, &err), 0);

        assert_names(f->s, "endpoint_name=b", "b ");
        assert_names(f->s, "state__neq=registered", "b ");
        assert_names(f->s, "lifetime__lte=10", "a ");
        assert_names(f->s, "lifetime__gte=30", "c ");
        assert_names(f->s, "created_at__gte=2023-11-14T22:13:22Z&lifetime__gte=20", "c ");
        assert_names(f->s, "created_at__lte=1700000000000", "a ");
        assert_names(f->s, "endpoint_name__in=a,c&state__eq=registered&lifetime__lte=10", "a ");
        assert_names(f->s, "endpoint_name__nin=a,c", "b ");
        assert_names(f->s, "endpoint_name__eq=zz&include=total_count", "=0");
        /* Pages: two of three, has_more, then the rest after the last id. */
        char *page = names(f->s, "limit=2&include=total_count");
        assert_int_equal(strlen(page), strlen("x y +=3"));
        assert_string_equal(page + 4, "+=3");
        free(page);
        json_t *first;
        struct dm_query q = {.limit = 2};
        assert_int_equal(dm_store_device_list(f->s, &q, &first, &err), 0);
        const char *last = json_string_value(json_object_get(json_array_get(json_object_get(first, "data"), 1), "id"));
        char query[64];
        snprintf(query, sizeof(query), "limit=2&after=%s", last);
        page = names(f->s, query);
        assert_int_equal(strlen(page), 2); /* one name, no more */
        char *first_text = json_dumps(first, 0);
        assert_null(strstr(first_text, page)); /* not on the first page */
        free(first_text);
        free(page);
        json_decref(first);
}

static void test_query_errors(void **state)
{
        static const struct {
                const char *key, *value, *msg;
        } cases[] = {
                {"limit", "1", "limit: expected 2 to 1000"},
                {"limit", "1001", "limit: expected 2 to 1000"},
                {"order", "up", "order: expected ASC or DESC"},
                {"include", "all", "include: only total_count is known"},
                {"color__eq", "red", "color__eq: unknown parameter or filter field"},
                {"state__like", "r", "state__like: unknown operator 'like' (eq, neq, in, nin, lte, gte)"},
                {"created_at__gte", "yesterday",
                 "created_at__gte: 'yesterday' is not a time (2024-05-01T12:00:00Z or milliseconds)"},
                {"lifetime__lte", "ten", "lifetime__lte: 'ten' is not an integer"},
                {"state__in", ",", "state__in: expected a comma-separated list of values"},
        };
        for (size_t i = 0; i < ALDER_ARRAY_SIZE(cases); i++) {
                _cleanup_error_ alder_error *err = NULL;
                struct dm_param p = {cases[i].key, cases[i].value};
                struct dm_query q = {0};
                const char *field = NULL;
                char what[64];
                alder_test_case_name(what, i, "%s", cases[i].key);
                int r = dm_query_parse(&p, 1, &q, &field, &err);
                alder_test_check_error(what, r, err, r == -E2BIG ? E2BIG : EINVAL, cases[i].msg);
                assert_string_equal(field, cases[i].key);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_register_update_end, setup, teardown),
                cmocka_unit_test_setup_teardown(test_flags_are_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_psk_and_api_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(test_filtered_lists, setup, teardown),
                cmocka_unit_test(test_query_errors),
        };
        return cmocka_run_group_tests_name("dm-store", tests, NULL, NULL);
}
