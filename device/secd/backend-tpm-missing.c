/* SPDX-License-Identifier: Apache-2.0 */
/* The TPM backend of a secd built without tpm2-tss (libtss2-dev): it says so when chosen. */
#include <errno.h>

#include "backend.h"

static int tpm_missing(const json_t *settings, const char *config_path, alder_error **err)
{
        return alder_error_set(err, ENOTSUP, "alder-secd was built without tpm2-tss (libtss2-dev)");
}

const struct secd_backend secd_backend_tpm = {
        .name = "tpm",
        .init = tpm_missing,
};
