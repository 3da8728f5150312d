/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the link-format parser (LwM2M Register/Update payloads and Discover
 * answers come from devices) and the attribute lookup on what it returns.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alder/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_error_ alder_error *err = NULL;
        struct alder_lwm2m_links links;
        if (alder_lwm2m_links_parse((const char *) data, size, &links, &err) < 0) {
                (void) alder_error_message(err);
                return 0;
        }
        for (size_t i = 0; i < links.n; i++) {
                (void) alder_lwm2m_link_attr(&links.v[i], "ver");
                (void) alder_lwm2m_link_attr(&links.v[i], "rt");
                for (size_t j = 0; j < links.v[i].n_attrs; j++)
                        (void) strlen(links.v[i].attrs[j].name);
        }
        alder_lwm2m_links_clear(&links);
        return 0;
}
