/* SPDX-License-Identifier: Apache-2.0 */
/* What every object of alder-dmc shares: allocation with private state, and its daemon. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "daemon.h"
#include "objects.h"

struct box {
        struct dmc_object o;
        struct dmc *d;
        max_align_t data[];
};

static struct box *box_of(const struct dmc_object *o)
{
        return (struct box *) ((char *) o - offsetof(struct box, o));
}

struct dmc *dmc_object_dmc(const struct dmc_object *o)
{
        return box_of(o)->d;
}

void dmc_object_free_plain(struct dmc_object *o)
{
        free(box_of(o));
}

int dmc_object_new(struct dmc *d, uint16_t id, const struct dmc_object_ops *ops, const uint16_t *implemented,
                   size_t n_implemented, size_t size, const uint16_t *inst, size_t n, struct dmc_object **ret,
                   alder_error **err)
{
        const struct alder_lwm2m_object_def *def = alder_lwm2m_object_find(id);
        if (!def)
                return alder_error_set(err, ENOENT, "object %u: no definition in libalder (lib/lwm2m-objects.c)", id);
        for (size_t i = 1; i < n_implemented; i++)
                if (implemented[i - 1] >= implemented[i])
                        return alder_error_set(err, EINVAL, "object %u: implemented resources out of order", id);
        struct box *b = calloc(1, sizeof(*b) + size);
        if (!b)
                return alder_error_set(err, ENOMEM, "out of memory");
        b->d = d;
        b->o = (struct dmc_object){
                .def = def,
                .ops = ops,
                .implemented = implemented,
                .n_implemented = n_implemented,
                .server_access = true,
                .data = size ? b->data : NULL,
        };
        int r = dmc_model_add(&d->model, &b->o, err);
        if (r < 0) {
                free(b);
                return r;
        }
        /* From here on the model owns it (ops->free). */
        r = dmc_object_set_instances(&b->o, inst, n, err);
        if (r < 0)
                return r;
        if (ret)
                *ret = &b->o;
        return 0;
}
