/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes what alder-appd reads from the OCI runtime: `state` and `list`
 * JSON output and the runtime's JSON log (error message extraction). A
 * runtime is trusted code, but its output still must not crash the daemon.
 */
#include <stdint.h>
#include <stdlib.h>

#include "alder/ocirt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *text = (const char *) data;
        alder_error *err = NULL;
        alder_ocirt_container c;
        (void) alder_ocirt_parse_state("state", text, size, &c, &err);
        alder_error_clear(&err);
        alder_ocirt_container *list = NULL;
        size_t n = 0;
        if (alder_ocirt_parse_list("list", text, size, &list, &n, &err) == 0)
                free(list);
        alder_error_clear(&err);
        /* the same bytes as a log, and split in two as log + stderr */
        free(alder_ocirt_message(text, size, NULL, 0));
        size_t half = size / 2;
        free(alder_ocirt_message(text, half, text + half, size - half));
        return 0;
}
