/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a signing identity for commands that sign (app pack/sign, later
 * update create/sign): --key KEY.pem --cert CERT.pem [--chain CHAIN.pem].
 */
#pragma once

#include "alder/cose.h"
#include "alder/error.h"

struct cli_signer {
        struct alder_cose_signer cose; /* points at the fields below */
        EVP_PKEY *key;
        X509 *cert;
        STACK_OF(X509) * chain;
};

/*
 * Loads the key and certificate (and optional intermediates), checks that they
 * belong together. A certificate that is not self-signed is carried in the
 * signature (COSE x5chain), so devices that trust only its CA can verify it.
 */
int cli_signer_load(struct cli_signer *s, const char *key_path, const char *cert_path, const char *chain_path,
                    alder_error **err);
void cli_signer_done(struct cli_signer *s);

/*
 * The body of `alder app sign` and `alder update sign`: loads the signer,
 * re-signs `in` into `out` with `resign`, reports. Returns an exit code.
 */
struct cli;
typedef int (*cli_resign_fn)(const char *in, const struct alder_cose_signer *signer, const char *out,
                             alder_error **err);
int cli_resign(struct cli *cli, cli_resign_fn resign, const char *in, const char *out, const char *key,
               const char *cert, const char *chain);
