/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what alder-dmc reads from an LwM2M server: a CoAP
 * request datagram (Uri-Path, Uri-Query, Content-Format, Accept, Observe,
 * payload) parsed by libcoap and device/dmc/request.c, then performed on an
 * object model (device/dmc/model.c): Read, Discover, Write in every content
 * format (the decoders), Write-Attributes (attrs.c), Execute arguments,
 * Create and Delete. Byte 0 picks the target: 0-1 the CoAP path, 2 the
 * Write-Attributes parser alone, 3 the Execute argument grammar alone.
 * Every answer must carry a CoAP code; nothing may crash or leak.
 */
#include <coap3/coap.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmc.h"
#include "objects.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct alder_lwm2m_resource_def res[] = {
        {0, "Name", ALDER_LWM2M_TYPE_STRING, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, true},
        {1, "Level", ALDER_LWM2M_TYPE_INTEGER, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
        {2, "Ratio", ALDER_LWM2M_TYPE_FLOAT, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
        {3, "Values", ALDER_LWM2M_TYPE_UNSIGNED, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, true, false},
        {4, "Run", ALDER_LWM2M_TYPE_NONE, ALDER_LWM2M_OP_E, false, false},
        {5, "Blob", ALDER_LWM2M_TYPE_OPAQUE, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
        {6, "Flag", ALDER_LWM2M_TYPE_BOOLEAN, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
        {7, "Link", ALDER_LWM2M_TYPE_OBJLNK, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
        {8, "When", ALDER_LWM2M_TYPE_TIME, ALDER_LWM2M_OP_R | ALDER_LWM2M_OP_W, false, false},
};
static const struct alder_lwm2m_object_def def = {
        .id = 3, .name = "Fuzz", .version = "1.1", .multiple = true, .resources = res, .n_resources = 9};
static const uint16_t implemented[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};

/* Reads give fixed values; writes and creates check what they get and keep nothing. */
static int f_read(struct dmc_object *o, uint16_t i, const struct alder_lwm2m_resource_def *r,
                  struct alder_lwm2m_records *out, alder_error **err)
{
        switch (r->id) {
        case 0:
                return dmc_rec_string(out, o, i, 0, -1, "fuzz", err);
        case 3:
                for (int k = 0; k < 3; k++)
                        if (dmc_rec_int(out, o, i, 3, k, ALDER_LWM2M_TYPE_UNSIGNED, k, err) < 0)
                                return -1;
                return 0;
        case 5:
                return dmc_rec_opaque(out, o, i, 5, -1, "\0\1", 2, err);
        case 7:
                return dmc_rec_objlnk(out, o, i, 7, -1, 3, 0, err);
        default:
                return dmc_rec_number(out, o, i, r, 42, err);
        }
}

static int f_write(struct dmc_object *o, uint16_t i, const struct alder_lwm2m_resource_def *r,
                   const struct alder_lwm2m_record *v, size_t n, bool replace, alder_error **err)
{
        for (size_t k = 0; k < n; k++)
                if (v[k].value.type != r->type)
                        abort(); /* the model must have checked the type */
        return 0;
}

static int f_exec(struct dmc_object *o, uint16_t i, const struct alder_lwm2m_resource_def *r, const char *a, size_t len,
                  alder_error **err)
{
        return 0;
}

static int f_create(struct dmc_object *o, uint16_t i, const struct alder_lwm2m_records *r, alder_error **err)
{
        uint16_t ids[2] = {0, i};
        return dmc_object_set_instances(o, ids, 2, err);
}

static int f_remove(struct dmc_object *o, uint16_t i, alder_error **err)
{
        uint16_t zero = 0;
        return dmc_object_set_instances(o, &zero, i == 0 ? 0 : 1, err);
}

static const struct dmc_object_ops ops = {
        .read = f_read, .write = f_write, .execute = f_exec, .create = f_create, .remove = f_remove};

static void run_request(const uint8_t *data, size_t size)
{
        coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, size + 64);
        if (!pdu)
                return;
        if (coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu) && coap_pdu_get_code(pdu) >= 1 &&
            coap_pdu_get_code(pdu) <= 31) {
                struct dmc_object obj = {.def = &def,
                                         .ops = &ops,
                                         .implemented = implemented,
                                         .n_implemented = 9,
                                         .server_access = true};
                struct dmc_model m = {0};
                uint16_t zero = 0;
                coap_string_t *query = coap_get_query(pdu);
                struct dmc_request req;
                if (dmc_model_add(&m, &obj, NULL) == 0 && dmc_object_set_instances(&obj, &zero, 1, NULL) == 0 &&
                    dmc_request_from_pdu(pdu, query, &req, NULL) == 0) {
                        /* Twice: the second sees attributes and instances the first left. */
                        for (int k = 0; k < 2; k++) {
                                struct dmc_response resp;
                                dmc_model_handle(&m, &req, &resp);
                                if (resp.code < 0x40)
                                        abort();
                                dmc_response_clear(&resp);
                        }
                }
                coap_delete_string(query);
                dmc_model_free(&m);
        }
        coap_delete_pdu(pdu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool started;
        if (!started) {
                coap_startup();
                coap_set_log_level(LOG_EMERG);
                started = true;
        }
        if (size < 1)
                return 0;
        uint8_t mode = data[0] % 4;
        data++;
        size--;
        if (mode <= 1) {
                run_request(data, size);
        } else if (mode == 2) {
                struct alder_lwm2m_path p = alder_lwm2m_path_make(3, 3, 0, 1);
                struct dmc_attrs set;
                unsigned unset;
                struct dmc_model m = {0};
                alder_error *err = NULL;
                if (dmc_attrs_parse((const char *) data, size, &p, ALDER_LWM2M_TYPE_FLOAT, &set, &unset, &err) == 0)
                        (void) !dmc_attrs_apply(&m, &p, &set, unset, &err);
                alder_error_free(err);
                dmc_model_free(&m);
        } else {
                int n = dmc_exec_args_check((const char *) data, size, NULL);
                for (int k = 0; k < 10 && n > 0; k++)
                        free(dmc_exec_arg((const char *) data, size, (unsigned) k));
        }
        return 0;
}
