/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object model and the LwM2M device-management operations on it
 * (Core TS 1.1 §6.3 with the CoAP mapping of §8.2). Nothing here knows
 * libcoap: a request comes in as method, path, formats, query and payload.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmc.h"
#include "objects.h"

int64_t dmc_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- objects and instances ----------------------------------------------- */

int dmc_model_add(struct dmc_model *m, struct dmc_object *o, alder_error **err)
{
        if (dmc_model_find(m, o->def->id))
                return alder_error_set(err, EEXIST, "object %u added twice", o->def->id);
        struct dmc_object **v = realloc(m->objects, (m->n_objects + 1) * sizeof(*v));
        if (!v)
                return alder_error_set(err, ENOMEM, "out of memory");
        m->objects = v;
        size_t i = m->n_objects;
        while (i > 0 && v[i - 1]->def->id > o->def->id) {
                v[i] = v[i - 1];
                i--;
        }
        v[i] = o;
        m->n_objects++;
        o->model = m;
        return 0;
}

struct dmc_object *dmc_model_find(const struct dmc_model *m, uint16_t id)
{
        for (size_t i = 0; i < m->n_objects; i++)
                if (m->objects[i]->def->id == id)
                        return m->objects[i];
        return NULL;
}

void dmc_model_free(struct dmc_model *m)
{
        for (size_t i = 0; i < m->n_objects; i++) {
                struct dmc_object *o = m->objects[i];
                free(o->instances);
                o->instances = NULL;
                if (o->ops->free)
                        o->ops->free(o);
        }
        free(m->objects);
        free(m->attrs);
        m->objects = NULL;
        m->attrs = NULL;
        m->n_objects = m->n_attrs = 0;
}

static int cmp_u16(const void *a, const void *b)
{
        return (int) *(const uint16_t *) a - (int) *(const uint16_t *) b;
}

int dmc_object_set_instances(struct dmc_object *o, const uint16_t *ids, size_t n, alder_error **err)
{
        if (n > DMC_MAX_INSTANCES)
                return alder_error_set(err, E2BIG, "object %u: %zu instances, at most %u", o->def->id, n,
                                       DMC_MAX_INSTANCES);
        _cleanup_free_ uint16_t *v = malloc((n ? n : 1) * sizeof(*v));
        if (!v)
                return alder_error_set(err, ENOMEM, "out of memory");
        if (n)
                memcpy(v, ids, n * sizeof(*v));
        qsort(v, n, sizeof(*v), cmp_u16);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (k == 0 || v[k - 1] != v[i])
                        v[k++] = v[i];
        if (k == o->n_instances && (k == 0 || memcmp(v, o->instances, k * sizeof(*v)) == 0))
                return 0;
        free(o->instances);
        o->instances = steal_pointer(&v);
        o->n_instances = k;
        if (o->model && o->model->on_change)
                o->model->on_change(o->model, o, o->model->on_change_ctx);
        return 0;
}

bool dmc_object_has_instance(const struct dmc_object *o, uint16_t inst)
{
        return o->instances && bsearch(&inst, o->instances, o->n_instances, sizeof(uint16_t), cmp_u16);
}

bool dmc_object_implements(const struct dmc_object *o, uint16_t res)
{
        return o->implemented && bsearch(&res, o->implemented, o->n_implemented, sizeof(uint16_t), cmp_u16);
}

/* ---- records the objects fill -------------------------------------------- */

static struct alder_lwm2m_record *rec_add(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst,
                                          uint16_t res, int ri, alder_error **err)
{
        struct alder_lwm2m_path p = ri < 0 ? alder_lwm2m_path_make(3, o->def->id, inst, res)
                                           : alder_lwm2m_path_make(4, o->def->id, inst, res, ri);
        struct alder_lwm2m_record *rec = alder_lwm2m_records_add(out, &p);
        if (!rec)
                alder_error_set(err, ENOMEM, "out of memory (or more than %u values)", ALDER_LWM2M_RECORDS_MAX);
        return rec;
}

int dmc_rec_string(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst, uint16_t res, int ri,
                   const char *s, alder_error **err)
{
        struct alder_lwm2m_record *rec = rec_add(out, o, inst, res, ri, err);
        if (!rec)
                return -ENOMEM;
        if (alder_lwm2m_value_set_string(&rec->value, s ? s : "") < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        return 0;
}

int dmc_rec_opaque(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst, uint16_t res, int ri,
                   const void *data, size_t len, alder_error **err)
{
        struct alder_lwm2m_record *rec = rec_add(out, o, inst, res, ri, err);
        if (!rec)
                return -ENOMEM;
        if (alder_lwm2m_value_set_bytes(&rec->value, ALDER_LWM2M_TYPE_OPAQUE, data, len) < 0)
                return alder_error_set(err, ENOMEM, "out of memory");
        return 0;
}

int dmc_rec_int(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst, uint16_t res, int ri,
                enum alder_lwm2m_type type, int64_t v, alder_error **err)
{
        struct alder_lwm2m_record *rec = rec_add(out, o, inst, res, ri, err);
        if (!rec)
                return -ENOMEM;
        switch (type) {
        case ALDER_LWM2M_TYPE_UNSIGNED:
                alder_lwm2m_value_set_uint(&rec->value, (uint64_t) (v < 0 ? 0 : v));
                break;
        case ALDER_LWM2M_TYPE_BOOLEAN:
                alder_lwm2m_value_set_bool(&rec->value, v != 0);
                break;
        case ALDER_LWM2M_TYPE_FLOAT:
                alder_lwm2m_value_set_float(&rec->value, (double) v);
                break;
        case ALDER_LWM2M_TYPE_TIME:
                alder_lwm2m_value_set_int(&rec->value, ALDER_LWM2M_TYPE_TIME, v);
                break;
        default:
                alder_lwm2m_value_set_int(&rec->value, ALDER_LWM2M_TYPE_INTEGER, v);
                break;
        }
        return 0;
}

int dmc_rec_objlnk(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst, uint16_t res, int ri,
                   uint16_t obj, uint16_t obj_inst, alder_error **err)
{
        struct alder_lwm2m_record *rec = rec_add(out, o, inst, res, ri, err);
        if (!rec)
                return -ENOMEM;
        alder_lwm2m_value_set_objlnk(&rec->value, obj, obj_inst);
        return 0;
}

/* Adds a record of the resource's own type from a number (integer, unsigned, boolean, time, float). */
int dmc_rec_number(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t inst,
                   const struct alder_lwm2m_resource_def *res, int64_t v, alder_error **err)
{
        return dmc_rec_int(out, o, inst, res->id, res->multiple ? 0 : -1, res->type, v, err);
}

/* ---- responses ------------------------------------------------------------ */

void dmc_response_clear(struct dmc_response *resp)
{
        free(resp->payload);
        resp->payload = NULL;
        resp->payload_len = 0;
}

const char *dmc_coap_code_str(uint8_t code, char buf[static 5])
{
        snprintf(buf, 5, "%u.%02u", (unsigned) (code >> 5) % 10, (unsigned) (code & 0x1f) % 100);
        return buf;
}

uint8_t dmc_coap_code_for_errno(int r)
{
        switch (-r) {
        case ENOENT:
                return DMC_COAP_NOT_FOUND;
        case EINVAL:
        case EBADMSG:
        case ERANGE:
        case EEXIST:
        case EILSEQ:
                return DMC_COAP_BAD_REQUEST;
        case EPERM:
        case EACCES:
                return DMC_COAP_UNAUTHORIZED;
        case EOPNOTSUPP:
                return DMC_COAP_METHOD_NOT_ALLOWED;
        case EPROTONOSUPPORT:
                return DMC_COAP_UNSUPPORTED_FORMAT;
        case E2BIG:
        case EMSGSIZE:
                return DMC_COAP_REQUEST_TOO_LARGE;
        case EAGAIN:
        case EBUSY:
        case ECONNREFUSED:
        case ETIMEDOUT:
                return DMC_COAP_SERVICE_UNAVAILABLE;
        default:
                return DMC_COAP_INTERNAL_ERROR;
        }
}

/* Sets an error response with a diagnostic payload; returns -1 so handlers can `return fail(...)`. */
static int fail(struct dmc_response *resp, uint8_t code, const char *fmt, ...) ALDER_PRINTF(3, 4);
static int fail(struct dmc_response *resp, uint8_t code, const char *fmt, ...)
{
        dmc_response_clear(resp);
        resp->code = code;
        resp->content_format = DMC_NO_FORMAT;
        va_list ap;
        va_start(ap, fmt);
        char *msg = NULL;
        int n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n >= 0) {
                resp->payload = (uint8_t *) msg;
                resp->payload_len = (size_t) n;
        }
        return -1;
}

static int fail_error(struct dmc_response *resp, int r, alder_error *err)
{
        return fail(resp, dmc_coap_code_for_errno(r), "%s", alder_error_message(err));
}

/* ---- resolving a path ------------------------------------------------------ */

struct target {
        struct dmc_object *obj;
        const struct alder_lwm2m_resource_def *res; /* path of length >= 3 */
        char path[ALDER_LWM2M_PATH_STRLEN];
};

/* Object, instance and resource of p must exist; errors: 4.04, 4.01 for Security. */
static int resolve(struct dmc_model *m, const struct alder_lwm2m_path *p, struct target *t, struct dmc_response *resp)
{
        *t = (struct target){0};
        alder_lwm2m_path_format(p, t->path);
        if (p->len == 0)
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED,
                            "operations on the root path are for bootstrap servers (Core TS 1.1 §5.2.7)");
        t->obj = dmc_model_find(m, p->id[0]);
        if (!t->obj)
                return fail(resp, DMC_COAP_NOT_FOUND, "%s: object %u is not implemented by this client", t->path,
                            p->id[0]);
        if (!t->obj->server_access)
                return fail(resp, DMC_COAP_UNAUTHORIZED, "%s: the %s object is accessible to bootstrap servers only",
                            t->path, t->obj->def->name);
        if (p->len >= 2 && !dmc_object_has_instance(t->obj, p->id[1]))
                return fail(resp, DMC_COAP_NOT_FOUND, "%s: no such %s instance", t->path, t->obj->def->name);
        if (p->len >= 3) {
                t->res = alder_lwm2m_resource_find(t->obj->def, p->id[2]);
                if (!t->res)
                        return fail(resp, DMC_COAP_NOT_FOUND, "%s: object %s has no resource %u", t->path,
                                    t->obj->def->name, p->id[2]);
                if (!dmc_object_implements(t->obj, p->id[2]))
                        return fail(resp, DMC_COAP_NOT_FOUND, "%s: resource %s is not implemented by this client",
                                    t->path, t->res->name);
        }
        if (p->len == 4 && !t->res->multiple)
                return fail(resp, DMC_COAP_NOT_FOUND,
                            "%s: resource %s is single-instance: it has no resource instances", t->path, t->res->name);
        return 0;
}

/* ---- Read ------------------------------------------------------------------- */

static int read_resource(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                         struct alder_lwm2m_records *out, alder_error **err)
{
        if (!o->ops->read)
                return alder_error_set(err, ENOENT, "object %u cannot be read", o->def->id);
        return o->ops->read(o, inst, res, out, err);
}

/* Every readable resource of one instance; absent ones (-ENOENT) are skipped. */
static int read_instance(struct dmc_object *o, uint16_t inst, struct alder_lwm2m_records *out, alder_error **err)
{
        for (size_t i = 0; i < o->n_implemented; i++) {
                const struct alder_lwm2m_resource_def *res = alder_lwm2m_resource_find(o->def, o->implemented[i]);
                if (!res || !(res->ops & ALDER_LWM2M_OP_R))
                        continue;
                int r = read_resource(o, inst, res, out, err);
                if (r == -ENOENT) {
                        alder_error_clear(err);
                        continue;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int dmc_model_read(struct dmc_model *m, const struct alder_lwm2m_path *p, struct alder_lwm2m_records *out,
                   alder_error **err)
{
        struct dmc_object *o = p->len ? dmc_model_find(m, p->id[0]) : NULL;
        if (!o || !o->server_access)
                return alder_error_set(err, ENOENT, "object %u: not readable", p->len ? p->id[0] : 0);
        if (p->len == 1) {
                for (size_t i = 0; i < o->n_instances; i++) {
                        int r = read_instance(o, o->instances[i], out, err);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!dmc_object_has_instance(o, p->id[1]))
                return alder_error_set(err, ENOENT, "no instance %u of object %u", p->id[1], p->id[0]);
        if (p->len == 2)
                return read_instance(o, p->id[1], out, err);
        const struct alder_lwm2m_resource_def *res = alder_lwm2m_resource_find(o->def, p->id[2]);
        if (!res || !dmc_object_implements(o, p->id[2]))
                return alder_error_set(err, ENOENT, "object %u has no resource %u", p->id[0], p->id[2]);
        if (!(res->ops & ALDER_LWM2M_OP_R))
                return alder_error_set(err, EOPNOTSUPP, "resource %s is not readable", res->name);
        _cleanup_lwm2m_records_ struct alder_lwm2m_records all = {0};
        int r = read_resource(o, p->id[1], res, p->len == 3 ? out : &all, err);
        if (r < 0 || p->len == 3)
                return r;
        /* One resource instance: pick it out of the whole resource. */
        for (size_t i = 0; i < all.n; i++) {
                if (alder_lwm2m_path_compare(&all.v[i].path, p) != 0)
                        continue;
                struct alder_lwm2m_record *rec = alder_lwm2m_records_add(out, p);
                if (!rec)
                        return alder_error_set(err, ENOMEM, "out of memory");
                rec->value = all.v[i].value;
                all.v[i].value = (struct alder_lwm2m_value){0};
                return 0;
        }
        return alder_error_set(err, ENOENT, "resource %s has no instance %u", res->name, p->id[3]);
}

static bool single_value_format(int f)
{
        return f == ALDER_LWM2M_FMT_TEXT || f == ALDER_LWM2M_FMT_OPAQUE || f == ALDER_LWM2M_FMT_CBOR;
}

static bool encodable_format(int f)
{
        return single_value_format(f) || f == ALDER_LWM2M_FMT_SENML_JSON || f == ALDER_LWM2M_FMT_SENML_CBOR ||
               f == ALDER_LWM2M_FMT_TLV;
}

static const char *format_name(int f)
{
        const char *n = f >= 0 ? alder_lwm2m_format_name((unsigned) f) : NULL;
        return n ? n : "unknown";
}

/* The format of a Read answer: the Accept'd one, else text/opaque for one value, else SenML-CBOR (TLV for 1.0). */
static int read_format(struct dmc_model *m, const struct dmc_request *req, const struct target *t,
                       struct dmc_response *resp)
{
        bool one_value = req->path.len == 4 || (req->path.len == 3 && !t->res->multiple);
        if (req->accept == DMC_NO_FORMAT) {
                if (one_value)
                        return t->res->type == ALDER_LWM2M_TYPE_OPAQUE ? ALDER_LWM2M_FMT_OPAQUE : ALDER_LWM2M_FMT_TEXT;
                return m->lwm2m_1_0 ? ALDER_LWM2M_FMT_TLV : ALDER_LWM2M_FMT_SENML_CBOR;
        }
        if (!encodable_format(req->accept))
                return fail(resp, DMC_COAP_NOT_ACCEPTABLE,
                            "%s: cannot answer in format %d (%s): use TLV (11542), SenML-JSON (110), SenML-CBOR (112), "
                            "or text (0), opaque (42), CBOR (60) for one value",
                            t->path, req->accept, format_name(req->accept));
        if (single_value_format(req->accept) && !one_value)
                return fail(resp, DMC_COAP_NOT_ACCEPTABLE,
                            "%s: %s carries a single value; this path has several: use TLV, SenML-JSON or SenML-CBOR",
                            t->path, format_name(req->accept));
        if (req->accept == ALDER_LWM2M_FMT_OPAQUE && t->res->type != ALDER_LWM2M_TYPE_OPAQUE)
                return fail(resp, DMC_COAP_NOT_ACCEPTABLE, "%s: resource %s is of type %s, not Opaque", t->path,
                            t->res->name, alder_lwm2m_type_name(t->res->type));
        return req->accept;
}

static void encode_answer(const struct dmc_request *req, int format, const struct alder_lwm2m_records *recs,
                          struct dmc_response *resp)
{
        _cleanup_error_ alder_error *err = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = alder_lwm2m_encode((unsigned) format, &req->path, recs, &buf, &len, &err);
        if (r < 0) {
                char path[ALDER_LWM2M_PATH_STRLEN];
                fail(resp, r == -ENOMEM ? DMC_COAP_INTERNAL_ERROR : DMC_COAP_NOT_ACCEPTABLE, "%s: %s",
                     alder_lwm2m_path_format(&req->path, path), alder_error_message(err));
                return;
        }
        resp->code = DMC_COAP_CONTENT;
        resp->content_format = format;
        resp->payload = buf;
        resp->payload_len = len;
}

static int do_discover(struct dmc_model *m, const struct dmc_request *req, const struct target *t,
                       struct dmc_response *resp)
{
        if (req->path.len == 4)
                return fail(resp, DMC_COAP_BAD_REQUEST, "%s: Discover applies to objects, instances and resources",
                            t->path);
        _cleanup_error_ alder_error *err = NULL;
        char *links = NULL;
        size_t len = 0;
        int r = dmc_links_discover(m, &req->path, &links, &len, &err);
        if (r < 0)
                return fail_error(resp, r, err);
        resp->code = DMC_COAP_CONTENT;
        resp->content_format = ALDER_LWM2M_FMT_LINK;
        resp->payload = (uint8_t *) links;
        resp->payload_len = len;
        return 0;
}

static int do_read(struct dmc_model *m, const struct dmc_request *req, struct dmc_response *resp)
{
        struct target t;
        if (resolve(m, &req->path, &t, resp) < 0)
                return -1;
        if (req->accept == ALDER_LWM2M_FMT_LINK)
                return do_discover(m, req, &t, resp);
        if (t.res && !(t.res->ops & ALDER_LWM2M_OP_R))
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: resource %s is not readable%s", t.path, t.res->name,
                            t.res->ops & ALDER_LWM2M_OP_E ? " (it is executable)" : "");
        int format = DMC_NO_FORMAT;
        if (t.res) {
                format = read_format(m, req, &t, resp);
                if (format < 0)
                        return -1;
        } else if (req->accept != DMC_NO_FORMAT &&
                   (!encodable_format(req->accept) || single_value_format(req->accept))) {
                return fail(resp, DMC_COAP_NOT_ACCEPTABLE,
                            "%s: cannot answer in format %d (%s): an object or instance needs TLV (11542), SenML-JSON "
                            "(110) or SenML-CBOR (112)",
                            t.path, req->accept, format_name(req->accept));
        } else {
                format = req->accept != DMC_NO_FORMAT ? req->accept
                         : m->lwm2m_1_0               ? ALDER_LWM2M_FMT_TLV
                                                      : ALDER_LWM2M_FMT_SENML_CBOR;
        }
        _cleanup_lwm2m_records_ struct alder_lwm2m_records recs = {0};
        _cleanup_error_ alder_error *err = NULL;
        int r = dmc_model_read(m, &req->path, &recs, &err);
        if (r < 0)
                return fail(resp, dmc_coap_code_for_errno(r), "%s: %s", t.path, alder_error_message(err));
        alder_lwm2m_records_sort(&recs);
        encode_answer(req, format, &recs, resp);
        return 0;
}

/* ---- Write ------------------------------------------------------------------ */

static bool decodable_format(int f)
{
        return encodable_format(f);
}

/* Decodes a payload under path; errors become 4.00 / 4.13 / 4.15 answers. */
static int decode_payload(const struct dmc_request *req, const char *what, const char *path,
                          struct alder_lwm2m_records *recs, struct dmc_response *resp)
{
        if (req->content_format == DMC_NO_FORMAT)
                return fail(resp, DMC_COAP_BAD_REQUEST, "%s: %s needs a Content-Format", path, what);
        if (!decodable_format(req->content_format))
                return fail(resp, DMC_COAP_UNSUPPORTED_FORMAT,
                            "%s: content format %d (%s) is not supported: use TLV (11542), SenML-JSON (110), "
                            "SenML-CBOR (112), text (0), opaque (42) or CBOR (60)",
                            path, req->content_format, format_name(req->content_format));
        _cleanup_error_ alder_error *err = NULL;
        int r = alder_lwm2m_decode((unsigned) req->content_format, &req->path, req->payload, req->payload_len, recs,
                                   &err);
        if (r == 0)
                r = alder_lwm2m_records_apply_types(recs, (unsigned) req->content_format, &err);
        if (r < 0)
                return fail(resp,
                            r == -EPROTONOSUPPORT ? DMC_COAP_UNSUPPORTED_FORMAT
                            : r == -E2BIG         ? DMC_COAP_REQUEST_TOO_LARGE
                            : r == -ENOMEM        ? DMC_COAP_INTERNAL_ERROR
                                                  : DMC_COAP_BAD_REQUEST,
                            "%s: %s payload (%s): %s", path, what, format_name(req->content_format),
                            alder_error_message(err));
        return 0;
}

/*
 * Checks the records of one instance before anything is written: every
 * resource exists, is writable, has the right type and shape. `create`
 * allows read-only resources (Create sets them).
 */
static int check_write(struct dmc_object *o, struct alder_lwm2m_records *recs, bool create, unsigned format,
                       struct dmc_response *resp)
{
        for (size_t i = 0; i < recs->n; i++) {
                struct alder_lwm2m_record *rec = &recs->v[i];
                char path[ALDER_LWM2M_PATH_STRLEN];
                alder_lwm2m_path_format(&rec->path, path);
                if (rec->path.len < 3)
                        return fail(resp, DMC_COAP_BAD_REQUEST, "%s: a value for a whole object or instance", path);
                const struct alder_lwm2m_resource_def *res = alder_lwm2m_resource_find(o->def, rec->path.id[2]);
                if (!res || !dmc_object_implements(o, rec->path.id[2]))
                        return fail(resp, DMC_COAP_NOT_FOUND, "%s: no such resource in %s", path, o->def->name);
                if (!(res->ops & ALDER_LWM2M_OP_W) && !create)
                        return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: resource %s is not writable", path,
                                    res->name);
                if (res->ops & ALDER_LWM2M_OP_E)
                        return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: resource %s is executable, not writable",
                                    path, res->name);
                if (res->multiple != (rec->path.len == 4))
                        return fail(resp, DMC_COAP_BAD_REQUEST, "%s: resource %s is %s-instance", path, res->name,
                                    res->multiple ? "multiple" : "single");
                _cleanup_error_ alder_error *err = NULL;
                if (alder_lwm2m_value_convert(&rec->value, res->type, format, &err) < 0)
                        return fail(resp, DMC_COAP_BAD_REQUEST, "%s: resource %s: %s", path, res->name,
                                    alder_error_message(err));
        }
        return 0;
}

/*
 * Writes the checked records of instance inst, one call per resource.
 * `replace` (PUT on an instance or resource) makes the given instances of a
 * multiple resource all it has; a PUT to one resource instance never replaces
 * its siblings, nor does a partial update (POST).
 */
static int write_records(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_records *recs, bool replace,
                         struct dmc_response *resp)
{
        if (!o->ops->write)
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "object %s cannot be written", o->def->name);
        for (size_t i = 0; i < recs->n;) {
                size_t j = i + 1;
                while (j < recs->n && recs->v[j].path.id[2] == recs->v[i].path.id[2])
                        j++;
                const struct alder_lwm2m_resource_def *res = alder_lwm2m_resource_find(o->def, recs->v[i].path.id[2]);
                _cleanup_error_ alder_error *err = NULL;
                int r = o->ops->write(o, inst, res, &recs->v[i], j - i, replace, &err);
                if (r < 0) {
                        char path[ALDER_LWM2M_PATH_STRLEN];
                        return fail(resp, dmc_coap_code_for_errno(r), "%s: %s",
                                    alder_lwm2m_path_format(&recs->v[i].path, path), alder_error_message(err));
                }
                i = j;
        }
        return 0;
}

static int do_write(struct dmc_model *m, const struct dmc_request *req, bool replace, struct dmc_response *resp)
{
        struct target t;
        if (resolve(m, &req->path, &t, resp) < 0)
                return -1;
        if (req->path.len < 2)
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: Write applies to instances and resources", t.path);
        if (t.res && !(t.res->ops & ALDER_LWM2M_OP_W))
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: resource %s is not writable", t.path, t.res->name);
        _cleanup_lwm2m_records_ struct alder_lwm2m_records recs = {0};
        if (decode_payload(req, "Write", t.path, &recs, resp) < 0)
                return -1;
        if (recs.n == 0 && req->path.len != 3)
                return fail(resp, DMC_COAP_BAD_REQUEST, "%s: Write without values", t.path);
        alder_lwm2m_records_sort(&recs);
        if (check_write(t.obj, &recs, false, (unsigned) req->content_format, resp) < 0)
                return -1;
        /* Replacing a multiple resource with no instances at all: one call with n = 0. */
        if (recs.n == 0) {
                _cleanup_error_ alder_error *err = NULL;
                int r = t.res->multiple ? t.obj->ops->write(t.obj, req->path.id[1], t.res, NULL, 0, replace, &err)
                                        : alder_error_set(&err, EINVAL, "no value");
                if (r < 0)
                        return fail(resp, dmc_coap_code_for_errno(r), "%s: %s", t.path, alder_error_message(err));
        } else if (write_records(t.obj, req->path.id[1], &recs, replace && req->path.len <= 3, resp) < 0) {
                return -1;
        }
        resp->code = DMC_COAP_CHANGED;
        return 0;
}

/* ---- Write-Attributes ------------------------------------------------------ */

static int do_write_attributes(struct dmc_model *m, const struct dmc_request *req, struct dmc_response *resp)
{
        struct target t;
        if (resolve(m, &req->path, &t, resp) < 0)
                return -1;
        if (!req->query_len)
                return fail(resp, DMC_COAP_BAD_REQUEST,
                            "%s: PUT without payload nor attributes (Write needs a payload, Write-Attributes a query)",
                            t.path);
        struct dmc_attrs set;
        unsigned unset;
        _cleanup_error_ alder_error *err = NULL;
        int r = dmc_attrs_parse(req->query, req->query_len, &req->path, t.res ? t.res->type : ALDER_LWM2M_TYPE_NONE,
                                &set, &unset, &err);
        if (r == 0)
                r = dmc_attrs_apply(m, &req->path, &set, unset, &err);
        if (r < 0)
                return fail(resp, dmc_coap_code_for_errno(r), "%s: Write-Attributes: %s", t.path,
                            alder_error_message(err));
        resp->code = DMC_COAP_CHANGED;
        return 0;
}

/* ---- Execute ---------------------------------------------------------------- */

static int do_execute(struct dmc_model *m, const struct dmc_request *req, struct dmc_response *resp)
{
        struct target t;
        if (resolve(m, &req->path, &t, resp) < 0)
                return -1;
        if (req->path.len == 4)
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: resource instances cannot be executed", t.path);
        if (!(t.res->ops & ALDER_LWM2M_OP_E) || !t.obj->ops->execute)
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: resource %s is not executable", t.path,
                            t.res->name);
        if (req->content_format != DMC_NO_FORMAT && req->content_format != ALDER_LWM2M_FMT_TEXT)
                return fail(resp, DMC_COAP_UNSUPPORTED_FORMAT, "%s: Execute arguments are text/plain, not %s", t.path,
                            format_name(req->content_format));
        _cleanup_error_ alder_error *err = NULL;
        int r = dmc_exec_args_check((const char *) req->payload, req->payload_len, &err);
        if (r < 0)
                return fail(resp, DMC_COAP_BAD_REQUEST, "%s: Execute arguments: %s", t.path, alder_error_message(err));
        r = t.obj->ops->execute(t.obj, req->path.id[1], t.res, (const char *) req->payload, req->payload_len, &err);
        if (r < 0)
                return fail(resp, dmc_coap_code_for_errno(r), "%s: %s", t.path, alder_error_message(err));
        resp->code = DMC_COAP_CHANGED;
        return 0;
}

/* ---- Create / Delete ------------------------------------------------------ */

static int do_create(struct dmc_model *m, const struct dmc_request *req, struct dmc_response *resp)
{
        struct target t;
        if (resolve(m, &req->path, &t, resp) < 0)
                return -1;
        if (!t.obj->def->multiple || !t.obj->ops->create)
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: instances of %s cannot be created%s", t.path,
                            t.obj->def->name, t.obj->def->multiple ? "" : " (single-instance object)");
        _cleanup_lwm2m_records_ struct alder_lwm2m_records recs = {0};
        if (decode_payload(req, "Create", t.path, &recs, resp) < 0)
                return -1;
        int inst = -1;
        for (size_t i = 0; i < recs.n; i++) {
                if (recs.v[i].path.len < 2)
                        continue;
                if (inst >= 0 && recs.v[i].path.id[1] != inst)
                        return fail(resp, DMC_COAP_BAD_REQUEST, "%s: Create of more than one instance (%d and %u)",
                                    t.path, inst, recs.v[i].path.id[1]);
                inst = recs.v[i].path.id[1];
        }
        if (inst < 0) {
                for (inst = 0; inst <= ALDER_LWM2M_ID_MAX && dmc_object_has_instance(t.obj, (uint16_t) inst); inst++)
                        ;
                if (inst > ALDER_LWM2M_ID_MAX)
                        return fail(resp, DMC_COAP_INTERNAL_ERROR, "%s: no free instance id", t.path);
        } else if (dmc_object_has_instance(t.obj, (uint16_t) inst)) {
                return fail(resp, DMC_COAP_BAD_REQUEST, "%s/%d: the instance already exists", t.path, inst);
        }
        if (t.obj->n_instances >= DMC_MAX_INSTANCES)
                return fail(resp, DMC_COAP_INTERNAL_ERROR, "%s: at most %u instances", t.path, DMC_MAX_INSTANCES);
        alder_lwm2m_records_sort(&recs);
        if (check_write(t.obj, &recs, true, (unsigned) req->content_format, resp) < 0)
                return -1;
        _cleanup_error_ alder_error *err = NULL;
        int r = t.obj->ops->create(t.obj, (uint16_t) inst, &recs, &err);
        if (r < 0)
                return fail(resp, dmc_coap_code_for_errno(r), "%s/%d: %s", t.path, inst, alder_error_message(err));
        resp->code = DMC_COAP_CREATED;
        resp->created_instance = (uint16_t) inst;
        return 0;
}

static int do_delete(struct dmc_model *m, const struct dmc_request *req, struct dmc_response *resp)
{
        struct target t;
        if (resolve(m, &req->path, &t, resp) < 0)
                return -1;
        if (req->path.len != 2)
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: Delete applies to object instances", t.path);
        if (!t.obj->ops->remove)
                return fail(resp, DMC_COAP_METHOD_NOT_ALLOWED, "%s: instances of %s cannot be deleted", t.path,
                            t.obj->def->name);
        _cleanup_error_ alder_error *err = NULL;
        int r = t.obj->ops->remove(t.obj, req->path.id[1], &err);
        if (r < 0)
                return fail(resp, dmc_coap_code_for_errno(r), "%s: %s", t.path, alder_error_message(err));
        dmc_attrs_forget(m, &req->path);
        resp->code = DMC_COAP_DELETED;
        return 0;
}

void dmc_model_handle(struct dmc_model *m, const struct dmc_request *req, struct dmc_response *resp)
{
        *resp = (struct dmc_response){.content_format = DMC_NO_FORMAT};
        switch (req->method) {
        case DMC_GET:
                do_read(m, req, resp);
                break;
        case DMC_PUT:
                if (req->payload_len || req->content_format != DMC_NO_FORMAT)
                        do_write(m, req, true, resp);
                else
                        do_write_attributes(m, req, resp);
                break;
        case DMC_POST:
                if (req->path.len == 1)
                        do_create(m, req, resp);
                else if (req->path.len == 2)
                        do_write(m, req, false, resp);
                else
                        do_execute(m, req, resp);
                break;
        case DMC_DELETE:
                do_delete(m, req, resp);
                break;
        default:
                fail(resp, DMC_COAP_METHOD_NOT_ALLOWED,
                     "method %d is not supported (Read-/Write-Composite are not implemented)", (int) req->method);
                break;
        }
}
