/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 0, LwM2M Security: one instance describing the configured server.
 * Only a bootstrap server may access it (Core TS 1.1 §E.1), and alder-dmc has
 * none, so the model answers 4.01 to every request; the secret key is not
 * readable even locally.
 */
#include <errno.h>
#include <string.h>

#include "alder/fileio.h"
#include "daemon.h"
#include "objects.h"

enum {
        RES_URI = 0,
        RES_BOOTSTRAP = 1,
        RES_MODE = 2,
        RES_IDENTITY = 3,
        RES_SERVER_KEY = 4,
        RES_SECRET_KEY = 5,
        RES_SSID = 10,
};

/* Security Mode resource values. */
enum { MODE_PSK = 0, MODE_CERT = 2, MODE_NOSEC = 3 };

static int read_file_value(struct alder_lwm2m_records *out, const struct dmc_object *o, uint16_t res, const char *path,
                           alder_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = alder_read_file(path, 64 * 1024, &data, &len, err);
        if (r < 0)
                return r;
        return dmc_rec_opaque(out, o, 0, res, -1, data, len, err);
}

static int security_read(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                         struct alder_lwm2m_records *out, alder_error **err)
{
        const struct dmc_server_config *s = &dmc_object_dmc(o)->cfg.server;
        switch (res->id) {
        case RES_URI:
                return dmc_rec_string(out, o, inst, res->id, -1, s->uri, err);
        case RES_BOOTSTRAP:
                return dmc_rec_int(out, o, inst, res->id, -1, ALDER_LWM2M_TYPE_BOOLEAN, 0, err);
        case RES_MODE:
                return dmc_rec_int(out, o, inst, res->id, -1, ALDER_LWM2M_TYPE_INTEGER,
                                   s->security == DMC_SEC_PSK    ? MODE_PSK
                                   : s->security == DMC_SEC_CERT ? MODE_CERT
                                                                 : MODE_NOSEC,
                                   err);
        case RES_IDENTITY:
                if (s->security == DMC_SEC_PSK)
                        return dmc_rec_opaque(out, o, inst, res->id, -1, s->psk_identity, strlen(s->psk_identity), err);
                if (s->security == DMC_SEC_CERT)
                        return read_file_value(out, o, res->id, s->certificate, err);
                return dmc_rec_opaque(out, o, inst, res->id, -1, "", 0, err);
        case RES_SERVER_KEY:
                if (s->security == DMC_SEC_CERT)
                        return read_file_value(out, o, res->id, s->ca, err);
                return dmc_rec_opaque(out, o, inst, res->id, -1, "", 0, err);
        case RES_SECRET_KEY:
                return alder_error_set(err, EACCES, "the secret key is never readable");
        case RES_SSID:
                return dmc_rec_int(out, o, inst, res->id, -1, ALDER_LWM2M_TYPE_INTEGER, s->short_id, err);
        }
        return alder_error_set(err, ENOENT, "not implemented");
}

static const struct dmc_object_ops security_ops = {
        .read = security_read,
        .free = dmc_object_free_plain,
};

int dmc_obj_security_add(struct dmc *d, alder_error **err)
{
        static const uint16_t implemented[] = {RES_URI,        RES_BOOTSTRAP,  RES_MODE, RES_IDENTITY,
                                               RES_SERVER_KEY, RES_SECRET_KEY, RES_SSID};
        static const uint16_t inst[] = {0};
        struct dmc_object *o;
        int r = dmc_object_new(d, 0, &security_ops, implemented, ALDER_ARRAY_SIZE(implemented), 0, inst, 1, &o, err);
        if (r == 0)
                o->server_access = false;
        return r;
}
