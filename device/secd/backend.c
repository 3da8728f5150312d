/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "backend.h"

const struct secd_backend *secd_backend_find(const char *name)
{
        static const struct secd_backend *const all[] = {&secd_backend_soft, &secd_backend_tpm, &secd_backend_pkcs11};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
                if (strcmp(name, all[i]->name) == 0)
                        return all[i];
        return NULL;
}
