/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 1, LwM2M Server: the configured server's registration parameters.
 * Writing Lifetime or Binding sends a registration Update carrying the new
 * value; Registration Update Trigger sends one at once. Default pmin/pmax
 * apply to observations without attributes of their own.
 */
#include <errno.h>
#include <string.h>

#include "alder/log.h"
#include "daemon.h"
#include "objects.h"

enum {
        RES_SSID = 0,
        RES_LIFETIME = 1,
        RES_DEFAULT_PMIN = 2,
        RES_DEFAULT_PMAX = 3,
        RES_NOTIFICATION_STORING = 6,
        RES_BINDING = 7,
        RES_UPDATE_TRIGGER = 8,
};

struct server_state {
        bool notification_storing;
};

static int server_read(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                       struct alder_lwm2m_records *out, alder_error **err)
{
        struct dmc *d = dmc_object_dmc(o);
        const struct server_state *st = o->data;
        switch (res->id) {
        case RES_SSID:
                return dmc_rec_number(out, o, inst, res, d->cfg.server.short_id, err);
        case RES_LIFETIME:
                return dmc_rec_number(out, o, inst, res, d->lifetime_s, err);
        case RES_DEFAULT_PMIN:
                return dmc_rec_number(out, o, inst, res, d->cfg.server.default_pmin_s, err);
        case RES_DEFAULT_PMAX:
                return dmc_rec_number(out, o, inst, res, d->cfg.server.default_pmax_s, err);
        case RES_NOTIFICATION_STORING:
                return dmc_rec_number(out, o, inst, res, st->notification_storing, err);
        case RES_BINDING:
                return dmc_rec_string(out, o, inst, res->id, -1, d->cfg.server.binding, err);
        }
        return alder_error_set(err, ENOENT, "not implemented");
}

/* The value of a written single resource as an integer (the model converted it to the resource's type). */
static int64_t as_int(const struct alder_lwm2m_value *v)
{
        return v->type == ALDER_LWM2M_TYPE_UNSIGNED  ? (int64_t) ALDER_MIN(v->u, (uint64_t) INT64_MAX)
               : v->type == ALDER_LWM2M_TYPE_BOOLEAN ? v->b
                                                     : v->i;
}

static int server_write(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                        const struct alder_lwm2m_record *v, size_t n, bool replace, alder_error **err)
{
        struct dmc *d = dmc_object_dmc(o);
        struct server_state *st = o->data;
        if (n != 1)
                return alder_error_set(err, EINVAL, "expected one value");
        int64_t x = as_int(&v->value);
        switch (res->id) {
        case RES_LIFETIME:
                if (x < 1 || x > 0x7fffffff)
                        return alder_error_set(err, EINVAL, "lifetime %lld: 1 to 2147483647 seconds", (long long) x);
                if (x != d->lifetime_s) {
                        alder_log_info("the server set the lifetime to %lld s (was %lld s)", (long long) x,
                                       (long long) d->lifetime_s);
                        d->lifetime_s = x;
                        d->send_lifetime = true;
                        dmc_reg_request_update(d);
                }
                return 0;
        case RES_DEFAULT_PMIN:
        case RES_DEFAULT_PMAX:
                if (x < 0 || x > 0x7fffffff)
                        return alder_error_set(err, EINVAL, "%lld: 0 to 2147483647 seconds", (long long) x);
                *(res->id == RES_DEFAULT_PMIN ? &d->cfg.server.default_pmin_s : &d->cfg.server.default_pmax_s) = x;
                return 0;
        case RES_NOTIFICATION_STORING:
                st->notification_storing = v->value.b;
                return 0;
        case RES_BINDING:
                if (strcmp((const char *) v->value.data, "U") != 0)
                        return alder_error_set(
                                err, EINVAL, "binding \"%s\" is not supported: this client binds over UDP (\"U\") only",
                                (const char *) v->value.data);
                return 0;
        }
        return alder_error_set(err, EOPNOTSUPP, "not writable");
}

static int server_execute(struct dmc_object *o, uint16_t inst, const struct alder_lwm2m_resource_def *res,
                          const char *args, size_t len, alder_error **err)
{
        if (res->id != RES_UPDATE_TRIGGER)
                return alder_error_set(err, EOPNOTSUPP, "not implemented");
        dmc_reg_request_update(dmc_object_dmc(o));
        return 0;
}

static const struct dmc_object_ops server_ops = {
        .read = server_read,
        .write = server_write,
        .execute = server_execute,
        .free = dmc_object_free_plain,
};

int dmc_obj_server_add(struct dmc *d, alder_error **err)
{
        static const uint16_t implemented[] = {
                RES_SSID,    RES_LIFETIME,      RES_DEFAULT_PMIN, RES_DEFAULT_PMAX, RES_NOTIFICATION_STORING,
                RES_BINDING, RES_UPDATE_TRIGGER};
        static const uint16_t inst[] = {0};
        struct dmc_object *o;
        int r = dmc_object_new(d, 1, &server_ops, implemented, ALDER_ARRAY_SIZE(implemented),
                               sizeof(struct server_state), inst, 1, &o, err);
        if (r == 0)
                ((struct server_state *) o->data)->notification_storing = true;
        return r;
}
