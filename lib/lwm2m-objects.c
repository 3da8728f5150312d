/* SPDX-License-Identifier: Apache-2.0 */
/* Definitions of the LwM2M objects Alder implements or shows. */
#include <errno.h>

#include "alder/lwm2m.h"

const struct alder_lwm2m_object_def *alder_lwm2m_object_find(uint16_t id)
{
        return NULL; /* the definitions come with lib/lwm2m-objects.c proper */
}

const struct alder_lwm2m_resource_def *alder_lwm2m_resource_find(const struct alder_lwm2m_object_def *o, uint16_t id)
{
        for (size_t i = 0; o && i < o->n_resources; i++)
                if (o->resources[i].id == id)
                        return &o->resources[i];
        return NULL;
}

int alder_lwm2m_records_apply_types(struct alder_lwm2m_records *r, unsigned format, alder_error **err)
{
        return alder_error_set(err, ENOSYS, "LwM2M object definitions are not implemented yet");
}
