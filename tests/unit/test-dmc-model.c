/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alder-dmc's object model (device/dmc/model.c, links.c): every LwM2M
 * operation on a test object whose definition lives here, the CoAP codes and
 * diagnostics of each refusal, formats chosen and refused, and the link
 * format of Register and Discover.
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
#include "dmc.h"
#include "objects.h"

#define OID 30000

static const struct alder_lwm2m_resource_def test_resources[] = {
        {0, "Name", ALDER_LWM2M_TYPE_STRING, ALDER_LWM2M_OP_R, false, true},
        {1, "Level", ALDER_LWM2M_TYPE_INTEGER, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
        {2, "Ratio", ALDER_LWM2M_TYPE_FLOAT, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
        {3, "Values", ALDER_LWM2M_TYPE_INTEGER, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, true, false},
        {4, "Run", ALDER_LWM2M_TYPE_NONE, ALDER_LWM2M_OP_E, false, false},
        {5, "Blob", ALDER_LWM2M_TYPE_OPAQUE, ALDER_LWM2M_OP_R, false, false},
        {6, "Flag", ALDER_LWM2M_TYPE_BOOLEAN, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
        {7, "Absent", ALDER_LWM2M_TYPE_STRING, ALDER_LWM2M_OP_R, false, false},
        {8, "Unimplemented", ALDER_LWM2M_TYPE_STRING, ALDER_LWM2M_OP_R, false, false},
};

static const struct alder_lwm2m_object_def test_def = {
        .id = OID,
        .name = "Test",
        .version = "1.2",
        .multiple = true,
        .resources = test_resources,
        .n_resources = ALDER_ARRAY_SIZE(test_resources),
};

static const struct alder_lwm2m_object_def secret_def = {
        .id = 30001,
        .name = "Secret",
        .resources = test_resources,
        .n_resources = 1,
};

struct inst {
        int64_t level;
        double ratio;
        bool flag;
        int64_t values[8];
        size_t n_values;
        char last_args[64];
};

static struct inst insts[16];
static const uint16_t implemented[] = {0, 1, 2, 3, 4, 5, 6, 7};

static int t_read(struct dmc_object *o, uint16_t i, const struct alder_lwm2m_resource_def *res,
                  struct alder_lwm2m_records *out, alder_error **err)
{
        struct inst *s = &insts[i];
        switch (res->id) {
        case 0:
                return dmc_rec_string(out, o, i, 0, -1, "hello", err);
        case 1:
                return dmc_rec_int(out, o, i, 1, -1, ALDER_LWM2M_TYPE_INTEGER, s->level, err);
        case 2: {
                struct alder_lwm2m_path p = alder_lwm2m_path_make(3, OID, i, 2);
                alder_lwm2m_value_set_float(&alder_lwm2m_records_add(out, &p)->value, s->ratio);
                return 0;
        }
        case 3:
                for (size_t k = 0; k < s->n_values; k++)
                        if (dmc_rec_int(out, o, i, 3, (int) k, ALDER_LWM2M_TYPE_INTEGER, s->values[k], err) < 0)
                                return -ENOMEM;
                return 0;
        case 5:
                return dmc_rec_opaque(out, o, i, 5, -1, "\x01\x02", 2, err);
        case 6:
                return dmc_rec_int(out, o, i, 6, -1, ALDER_LWM2M_TYPE_BOOLEAN, s->flag, err);
        }
        return alder_error_set(err, ENOENT, "not present");
}

static int t_write(struct dmc_object *o, uint16_t i, const struct alder_lwm2m_resource_def *res,
                   const struct alder_lwm2m_record *v, size_t n, bool replace, alder_error **err)
{
        struct inst *s = &insts[i];
        switch (res->id) {
        case 1:
                if (v->value.i < 0)
                        return alder_error_set(err, ERANGE, "level %lld: not below 0", (long long) v->value.i);
                s->level = v->value.i;
                return 0;
        case 2:
                s->ratio = v->value.f;
                return 0;
        case 3:
                if (replace)
                        s->n_values = 0;
                for (size_t k = 0; k < n; k++) {
                        uint16_t ri = v[k].path.id[3];
                        if (ri >= 8)
                                return alder_error_set(err, E2BIG, "at most 8 values");
                        s->values[ri] = v[k].value.i;
                        s->n_values = ALDER_MAX(s->n_values, (size_t) ri + 1);
                }
                return 0;
        case 6:
                s->flag = v->value.b;
                return 0;
        }
        return alder_error_set(err, EOPNOTSUPP, "no");
}

static int t_execute(struct dmc_object *o, uint16_t i, const struct alder_lwm2m_resource_def *res, const char *args,
                     size_t len, alder_error **err)
{
        snprintf(insts[i].last_args, sizeof(insts[i].last_args), "%.*s", (int) len, args ? args : "");
        return 0;
}

static int t_create(struct dmc_object *o, uint16_t i, const struct alder_lwm2m_records *r, alder_error **err)
{
        if (i >= 16)
                return alder_error_set(err, ENOSPC, "no room for instance %u", i);
        insts[i] = (struct inst){.level = 1};
        uint16_t ids[17];
        size_t n = 0;
        for (size_t k = 0; k < o->n_instances; k++)
                ids[n++] = o->instances[k];
        ids[n++] = i;
        for (size_t k = 0; k < r->n; k++)
                if (r->v[k].path.id[2] == 1)
                        insts[i].level = r->v[k].value.i;
        return dmc_object_set_instances(o, ids, n, err);
}

static int t_remove(struct dmc_object *o, uint16_t i, alder_error **err)
{
        uint16_t ids[16];
        size_t n = 0;
        for (size_t k = 0; k < o->n_instances; k++)
                if (o->instances[k] != i)
                        ids[n++] = o->instances[k];
        return dmc_object_set_instances(o, ids, n, err);
}

static const struct dmc_object_ops test_ops = {
        .read = t_read,
        .write = t_write,
        .execute = t_execute,
        .create = t_create,
        .remove = t_remove,
};

static struct dmc_object test_obj, secret_obj;
static struct dmc_model model;
static unsigned changes;

static void on_change(struct dmc_model *m, struct dmc_object *o, void *ctx)
{
        changes++;
}

static int setup(void **state)
{
        memset(insts, 0, sizeof(insts));
        insts[0] = (struct inst){.level = 42, .ratio = 0.5, .values = {7, 8}, .n_values = 2};
        model = (struct dmc_model){.on_change = on_change};
        test_obj = (struct dmc_object){.def = &test_def,
                                       .ops = &test_ops,
                                       .implemented = implemented,
                                       .n_implemented = ALDER_ARRAY_SIZE(implemented),
                                       .server_access = true};
        secret_obj = (struct dmc_object){
                .def = &secret_def, .ops = &test_ops, .implemented = implemented, .n_implemented = 1};
        assert_int_equal(dmc_model_add(&model, &test_obj, NULL), 0);
        assert_int_equal(dmc_model_add(&model, &secret_obj, NULL), 0);
        uint16_t zero = 0;
        assert_int_equal(dmc_object_set_instances(&test_obj, &zero, 1, NULL), 0);
        assert_int_equal(dmc_object_set_instances(&secret_obj, &zero, 1, NULL), 0);
        changes = 0;
        return 0;
}

static int teardown(void **state)
{
        dmc_model_free(&model); /* the objects are static: no ops->free */
        return 0;
}

struct answer {
        uint8_t code;
        int format;
        char *text; /* payload, NUL-terminated copy */
        size_t len;
        uint8_t *bytes;
        uint16_t created;
};

static void answer_clear(struct answer *a)
{
        free(a->text);
        free(a->bytes);
        *a = (struct answer){0};
}

static struct answer request(enum dmc_method method, const char *path, int ct, int accept, const char *query,
                             const void *payload, size_t len)
{
        struct dmc_request req = {
                .method = method,
                .content_format = ct,
                .accept = accept,
                .observe = -1,
                .query = query,
                .query_len = query ? strlen(query) : 0,
                .payload = payload,
                .payload_len = len,
        };
        if (alder_lwm2m_path_parse(path, &req.path, NULL) < 0)
                fail_msg("bad test path %s", path);
        struct dmc_response resp;
        dmc_model_handle(&model, &req, &resp);
        struct answer a = {.code = resp.code,
                           .format = resp.content_format,
                           .len = resp.payload_len,
                           .created = resp.created_instance};
        a.text = strndup(resp.payload ? (const char *) resp.payload : "", resp.payload_len);
        a.bytes = resp.payload;
        return a;
}

static void expect(const char *what, struct answer a, uint8_t code, const char *text)
{
        char got[5], want[5];
        if (a.code != code)
                fail_msg("%s: %s (%s), expected %s", what, dmc_coap_code_str(a.code, got), a.text,
                         dmc_coap_code_str(code, want));
        if (text && strcmp(a.text, text) != 0)
                fail_msg("%s: payload\n  got:      %s\n  expected: %s", what, a.text, text);
        answer_clear(&a);
}

#define GET(path, accept)    request(DMC_GET, path, DMC_NO_FORMAT, accept, NULL, NULL, 0)
#define PUT_TEXT(path, text) request(DMC_PUT, path, 0, DMC_NO_FORMAT, NULL, text, strlen(text))
#define EXEC(path, args)     request(DMC_POST, path, DMC_NO_FORMAT, DMC_NO_FORMAT, NULL, args, strlen(args))

static void test_read(void **state)
{
        expect("text", GET("/30000/0/0", DMC_NO_FORMAT), DMC_COAP_CONTENT, "hello");
        expect("level", GET("/30000/0/1", 0), DMC_COAP_CONTENT, "42");
        expect("resource instance", GET("/30000/0/3/1", DMC_NO_FORMAT), DMC_COAP_CONTENT, "8");
        struct answer a = GET("/30000/0/5", DMC_NO_FORMAT);
        assert_int_equal(a.format, 42);
        assert_int_equal(a.len, 2);
        assert_memory_equal(a.bytes, "\x01\x02", 2);
        answer_clear(&a);

        /* An instance in TLV: decode it back. */
        a = GET("/30000/0", 11542);
        assert_int_equal(a.code, DMC_COAP_CONTENT);
        assert_int_equal(a.format, 11542);
        _cleanup_lwm2m_records_ struct alder_lwm2m_records recs = {0};
        struct alder_lwm2m_path base = alder_lwm2m_path_make(2, OID, 0);
        assert_int_equal(alder_lwm2m_decode(11542, &base, a.bytes, a.len, &recs, NULL), 0);
        assert_int_equal(recs.n, 7); /* 0, 1, 2, 3/0, 3/1, 5, 6: 7 is absent, 4 executable */
        answer_clear(&a);

        /* The whole object, default format: SenML-CBOR for a 1.1 client, TLV for 1.0. */
        a = GET("/30000", DMC_NO_FORMAT);
        assert_int_equal(a.code, DMC_COAP_CONTENT);
        assert_int_equal(a.format, 112);
        answer_clear(&a);
        model.lwm2m_1_0 = true;
        a = GET("/30000/0", DMC_NO_FORMAT);
        assert_int_equal(a.format, 11542);
        answer_clear(&a);
}

static void test_read_refused(void **state)
{
        expect("unknown object", GET("/30002", DMC_NO_FORMAT), DMC_COAP_NOT_FOUND,
               "/30002: object 30002 is not implemented by this client");
        expect("unknown instance", GET("/30000/3", DMC_NO_FORMAT), DMC_COAP_NOT_FOUND,
               "/30000/3: no such Test instance");
        expect("unknown resource", GET("/30000/0/99", DMC_NO_FORMAT), DMC_COAP_NOT_FOUND,
               "/30000/0/99: object Test has no resource 99");
        expect("unimplemented", GET("/30000/0/8", DMC_NO_FORMAT), DMC_COAP_NOT_FOUND,
               "/30000/0/8: resource Unimplemented is not implemented by this client");
        expect("absent", GET("/30000/0/7", DMC_NO_FORMAT), DMC_COAP_NOT_FOUND, "/30000/0/7: not present");
        expect("single has no instances", GET("/30000/0/1/0", DMC_NO_FORMAT), DMC_COAP_NOT_FOUND,
               "/30000/0/1/0: resource Level is single-instance: it has no resource instances");
        expect("missing resource instance", GET("/30000/0/3/5", DMC_NO_FORMAT), DMC_COAP_NOT_FOUND,
               "/30000/0/3/5: resource Values has no instance 5");
        expect("executable", GET("/30000/0/4", DMC_NO_FORMAT), DMC_COAP_METHOD_NOT_ALLOWED,
               "/30000/0/4: resource Run is not readable (it is executable)");
        expect("text for an instance", GET("/30000/0", 0), DMC_COAP_NOT_ACCEPTABLE,
               "/30000/0: cannot answer in format 0 (text/plain): an object or instance needs TLV (11542), SenML-JSON "
               "(110) or SenML-CBOR (112)");
        expect("text for a multiple resource", GET("/30000/0/3", 0), DMC_COAP_NOT_ACCEPTABLE,
               "/30000/0/3: text/plain carries a single value; this path has several: use TLV, SenML-JSON or "
               "SenML-CBOR");
        expect("LwM2M JSON", GET("/30000/0/1", 11543), DMC_COAP_NOT_ACCEPTABLE,
               "/30000/0/1: cannot answer in format 11543 (application/vnd.oma.lwm2m+json): use TLV (11542), "
               "SenML-JSON (110), SenML-CBOR (112), or text (0), opaque (42), CBOR (60) for one value");
        expect("opaque for an integer", GET("/30000/0/1", 42), DMC_COAP_NOT_ACCEPTABLE,
               "/30000/0/1: resource Level is of type Integer, not Opaque");
        expect("bootstrap-only object", GET("/30001/0", DMC_NO_FORMAT), DMC_COAP_UNAUTHORIZED,
               "/30001/0: the Secret object is accessible to bootstrap servers only");
        expect("root", GET("/", DMC_NO_FORMAT), DMC_COAP_METHOD_NOT_ALLOWED,
               "operations on the root path are for bootstrap servers (Core TS 1.1 §5.2.7)");
}

static void test_write(void **state)
{
        expect("write text", PUT_TEXT("/30000/0/1", "17"), DMC_COAP_CHANGED, "");
        assert_int_equal(insts[0].level, 17);
        expect("read back", GET("/30000/0/1", DMC_NO_FORMAT), DMC_COAP_CONTENT, "17");
        expect("read-only", PUT_TEXT("/30000/0/0", "x"), DMC_COAP_METHOD_NOT_ALLOWED,
               "/30000/0/0: resource Name is not writable");
        expect("not a number", PUT_TEXT("/30000/0/1", "abc"), DMC_COAP_BAD_REQUEST, NULL);
        expect("object refuses", PUT_TEXT("/30000/0/1", "-5"), DMC_COAP_BAD_REQUEST,
               "/30000/0/1: level -5: not below 0");
        expect("no content format", request(DMC_PUT, "/30000/0/1", DMC_NO_FORMAT, DMC_NO_FORMAT, NULL, "1", 1),
               DMC_COAP_BAD_REQUEST, "/30000/0/1: Write needs a Content-Format");
        expect("LwM2M JSON", request(DMC_PUT, "/30000/0/1", 11543, DMC_NO_FORMAT, NULL, "{}", 2),
               DMC_COAP_UNSUPPORTED_FORMAT,
               "/30000/0/1: content format 11543 (application/vnd.oma.lwm2m+json) is not supported: use TLV (11542), "
               "SenML-JSON (110), SenML-CBOR (112), text (0), opaque (42) or CBOR (60)");
        expect("unknown format", request(DMC_PUT, "/30000/0/1", 9999, DMC_NO_FORMAT, NULL, "1", 1),
               DMC_COAP_UNSUPPORTED_FORMAT, NULL);
        expect("write object", PUT_TEXT("/30000", "1"), DMC_COAP_METHOD_NOT_ALLOWED,
               "/30000: Write applies to instances and resources");

        /* Partial update of an instance (POST, TLV) and replace of a multiple resource (PUT). */
        _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
        struct alder_lwm2m_path p1 = alder_lwm2m_path_make(3, OID, 0, 1), p6 = alder_lwm2m_path_make(3, OID, 0, 6);
        alder_lwm2m_value_set_int(&alder_lwm2m_records_add(&r, &p1)->value, ALDER_LWM2M_TYPE_INTEGER, 99);
        alder_lwm2m_value_set_bool(&alder_lwm2m_records_add(&r, &p6)->value, true);
        struct alder_lwm2m_path inst = alder_lwm2m_path_make(2, OID, 0);
        uint8_t *tlv;
        size_t len;
        assert_int_equal(alder_lwm2m_encode(11542, &inst, &r, &tlv, &len, NULL), 0);
        expect("partial update", request(DMC_POST, "/30000/0", 11542, DMC_NO_FORMAT, NULL, tlv, len), DMC_COAP_CHANGED,
               "");
        free(tlv);
        assert_int_equal(insts[0].level, 99);
        assert_true(insts[0].flag);
        assert_int_equal(insts[0].n_values, 2); /* untouched */

        alder_lwm2m_records_clear(&r);
        struct alder_lwm2m_path v0 = alder_lwm2m_path_make(4, OID, 0, 3, 0), res3 = alder_lwm2m_path_make(3, OID, 0, 3);
        alder_lwm2m_value_set_int(&alder_lwm2m_records_add(&r, &v0)->value, ALDER_LWM2M_TYPE_INTEGER, 5);
        assert_int_equal(alder_lwm2m_encode(11542, &res3, &r, &tlv, &len, NULL), 0);
        expect("replace values", request(DMC_PUT, "/30000/0/3", 11542, DMC_NO_FORMAT, NULL, tlv, len), DMC_COAP_CHANGED,
               "");
        free(tlv);
        assert_int_equal(insts[0].n_values, 1);
        assert_int_equal(insts[0].values[0], 5);

        /* A read-only resource inside an instance write refuses the whole write. */
        alder_lwm2m_records_clear(&r);
        struct alder_lwm2m_path p0 = alder_lwm2m_path_make(3, OID, 0, 0);
        assert_int_equal(alder_lwm2m_value_set_string(&alder_lwm2m_records_add(&r, &p0)->value, "x"), 0);
        alder_lwm2m_value_set_int(&alder_lwm2m_records_add(&r, &p1)->value, ALDER_LWM2M_TYPE_INTEGER, 1);
        assert_int_equal(alder_lwm2m_encode(11542, &inst, &r, &tlv, &len, NULL), 0);
        expect("read-only in an instance", request(DMC_PUT, "/30000/0", 11542, DMC_NO_FORMAT, NULL, tlv, len),
               DMC_COAP_METHOD_NOT_ALLOWED, "/30000/0/0: resource Name is not writable");
        free(tlv);
        assert_int_equal(insts[0].level, 99);

        expect("garbage TLV", request(DMC_PUT, "/30000/0", 11542, DMC_NO_FORMAT, NULL, "\xff", 1), DMC_COAP_BAD_REQUEST,
               NULL);
}

static void test_execute(void **state)
{
        expect("execute", EXEC("/30000/0/4", "0='go',2"), DMC_COAP_CHANGED, "");
        assert_string_equal(insts[0].last_args, "0='go',2");
        expect("bad args", EXEC("/30000/0/4", "go"), DMC_COAP_BAD_REQUEST,
               "/30000/0/4: Execute arguments: byte 0: expected an argument number 0-9");
        expect("not executable", EXEC("/30000/0/1", ""), DMC_COAP_METHOD_NOT_ALLOWED,
               "/30000/0/1: resource Level is not executable");
        expect("args not text", request(DMC_POST, "/30000/0/4", 11542, DMC_NO_FORMAT, NULL, "", 0),
               DMC_COAP_UNSUPPORTED_FORMAT,
               "/30000/0/4: Execute arguments are text/plain, not application/vnd.oma.lwm2m+tlv");
}

static void test_create_delete(void **state)
{
        _cleanup_lwm2m_records_ struct alder_lwm2m_records r = {0};
        struct alder_lwm2m_path p = alder_lwm2m_path_make(3, OID, 5, 1), obj = alder_lwm2m_path_make(1, OID);
        alder_lwm2m_value_set_int(&alder_lwm2m_records_add(&r, &p)->value, ALDER_LWM2M_TYPE_INTEGER, 3);
        uint8_t *tlv;
        size_t len;
        assert_int_equal(alder_lwm2m_encode(11542, &obj, &r, &tlv, &len, NULL), 0);
        struct answer a = request(DMC_POST, "/30000", 11542, DMC_NO_FORMAT, NULL, tlv, len);
        assert_int_equal(a.code, DMC_COAP_CREATED);
        assert_int_equal(a.created, 5);
        answer_clear(&a);
        assert_int_equal(changes, 1);
        expect("read created", GET("/30000/5/1", DMC_NO_FORMAT), DMC_COAP_CONTENT, "3");
        expect("again", request(DMC_POST, "/30000", 11542, DMC_NO_FORMAT, NULL, tlv, len), DMC_COAP_BAD_REQUEST,
               "/30000/5: the instance already exists");
        free(tlv);
        expect("delete", request(DMC_DELETE, "/30000/5", DMC_NO_FORMAT, DMC_NO_FORMAT, NULL, NULL, 0), DMC_COAP_DELETED,
               "");
        assert_int_equal(changes, 2);
        expect("delete again", request(DMC_DELETE, "/30000/5", DMC_NO_FORMAT, DMC_NO_FORMAT, NULL, NULL, 0),
               DMC_COAP_NOT_FOUND, "/30000/5: no such Test instance");
        expect("delete a resource", request(DMC_DELETE, "/30000/0/1", DMC_NO_FORMAT, DMC_NO_FORMAT, NULL, NULL, 0),
               DMC_COAP_METHOD_NOT_ALLOWED, "/30000/0/1: Delete applies to object instances");
        expect("create without payload", request(DMC_POST, "/30000", DMC_NO_FORMAT, DMC_NO_FORMAT, NULL, NULL, 0),
               DMC_COAP_BAD_REQUEST, "/30000: Create needs a Content-Format");
}

static void test_attributes_and_discover(void **state)
{
        expect("write attributes",
               request(DMC_PUT, "/30000/0/1", DMC_NO_FORMAT, DMC_NO_FORMAT, "pmin=5&gt=100", NULL, 0), DMC_COAP_CHANGED,
               "");
        expect("bad attributes", request(DMC_PUT, "/30000/0/0", DMC_NO_FORMAT, DMC_NO_FORMAT, "gt=1", NULL, 0),
               DMC_COAP_BAD_REQUEST,
               "/30000/0/0: Write-Attributes: attribute 'gt' applies to numeric resources only (this one is not "
               "numeric)");
        expect("attributes of nothing", request(DMC_PUT, "/30000/7", DMC_NO_FORMAT, DMC_NO_FORMAT, "pmin=1", NULL, 0),
               DMC_COAP_NOT_FOUND, "/30000/7: no such Test instance");
        expect("neither", request(DMC_PUT, "/30000/0", DMC_NO_FORMAT, DMC_NO_FORMAT, NULL, NULL, 0),
               DMC_COAP_BAD_REQUEST,
               "/30000/0: PUT without payload nor attributes (Write needs a payload, Write-Attributes a query)");
        expect("instance attributes", request(DMC_PUT, "/30000/0", DMC_NO_FORMAT, DMC_NO_FORMAT, "pmax=60", NULL, 0),
               DMC_COAP_CHANGED, "");
        expect("discover instance", GET("/30000/0", 40), DMC_COAP_CONTENT,
               "</30000/0>;pmax=60,</30000/0/0>,</30000/0/1>;pmin=5;gt=100,</30000/0/2>,</30000/0/3>;dim=2,"
               "</30000/0/3/0>,</30000/0/3/1>,</30000/0/4>,</30000/0/5>,</30000/0/6>,</30000/0/7>");
        expect("discover resource", GET("/30000/0/3", 40), DMC_COAP_CONTENT,
               "</30000/0/3>;dim=2,</30000/0/3/0>,</30000/0/3/1>");
        expect("discover object", GET("/30000", 40), DMC_COAP_CONTENT,
               "</30000>;ver=1.2,</30000/0>;pmax=60,</30000/0/0>,</30000/0/1>;pmin=5;gt=100,</30000/0/2>,</30000/0/"
               "3>;dim=2,"
               "</30000/0/3/0>,</30000/0/3/1>,</30000/0/4>,</30000/0/5>,</30000/0/6>,</30000/0/7>");
}

static void test_register_links(void **state)
{
        char *links;
        size_t len;
        assert_int_equal(dmc_links_register(&model, &links, &len, NULL), 0);
        /* The bootstrap-only object is never listed; the 1.2 object says its version. */
        assert_string_equal(links, "</>;rt=\"oma.lwm2m\";ct=\"60 110 112 11542\",</30000>;ver=1.2,</30000/0>");
        free(links);
        uint16_t none = 0;
        assert_int_equal(dmc_object_set_instances(&test_obj, &none, 0, NULL), 0);
        model.lwm2m_1_0 = true;
        assert_int_equal(dmc_links_register(&model, &links, &len, NULL), 0);
        assert_string_equal(links, "</30000>;ver=1.2");
        free(links);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_execute, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attributes_and_discover, setup, teardown),
                cmocka_unit_test_setup_teardown(test_register_links, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
