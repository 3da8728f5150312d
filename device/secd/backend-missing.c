/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backends this secd was built without (meson defines SECD_NO_TPM without
 * tpm2-tss, SECD_NO_PKCS11 without the PKCS#11 header of p11-kit): chosen in
 * the config, they refuse to start, saying why.
 */
#include <errno.h>

#include "backend.h"

#ifdef SECD_NO_TPM
static int tpm_missing(const json_t *settings, const char *config_path, alder_error **err)
{
        return alder_error_set(err, ENOTSUP, "alder-secd was built without tpm2-tss (libtss2-dev)");
}

const struct secd_backend secd_backend_tpm = {.name = "tpm", .init = tpm_missing};
#endif

#ifdef SECD_NO_PKCS11
static int pkcs11_missing(const json_t *settings, const char *config_path, alder_error **err)
{
        return alder_error_set(err, ENOTSUP, "alder-secd was built without PKCS#11 support (libp11-kit-dev)");
}

const struct secd_backend secd_backend_pkcs11 = {.name = "pkcs11", .init = pkcs11_missing};
#endif
