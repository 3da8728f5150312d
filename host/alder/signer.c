/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "alder/json.h"
#include "alder/keys.h"
#include "cli.h"
#include "signer.h"

int cli_signer_load(struct cli_signer *s, const char *key_path, const char *cert_path, const char *chain_path,
                    alder_error **err)
{
        *s = (struct cli_signer){0};
        int r = alder_key_load_pem(key_path, &s->key, err);
        if (r == 0)
                r = alder_cert_load_pem(cert_path, &s->cert, err);
        if (r == 0 && chain_path)
                r = alder_certs_load_pem(chain_path, &s->chain, err);
        if (r < 0)
                return r;
        if (X509_check_private_key(s->cert, s->key) != 1)
                return alder_error_set(err, EKEYREJECTED, "'%s' is not the certificate of key '%s'", cert_path,
                                       key_path);
        bool self_signed = X509_check_issued(s->cert, s->cert) == X509_V_OK;
        s->cose = (struct alder_cose_signer){
                .key = s->key,
                .cert = s->cert,
                .chain = s->chain,
                .x5chain = !self_signed || s->chain,
                .alg = ALDER_COSE_ALG_ES256,
        };
        return 0;
}

void cli_signer_done(struct cli_signer *s)
{
        EVP_PKEY_free(s->key);
        X509_free(s->cert);
        if (s->chain)
                sk_X509_pop_free(s->chain, X509_free);
        *s = (struct cli_signer){0};
}

int cli_resign(struct cli *cli, cli_resign_fn resign, const char *in, const char *out, const char *key,
               const char *cert, const char *chain)
{
        _cleanup_error_ alder_error *err = NULL;
        struct cli_signer signer;
        int r = cli_signer_load(&signer, key, cert, chain, &err);
        if (r == 0)
                r = resign(in, &signer.cose, out, &err);
        cli_signer_done(&signer);
        if (r < 0)
                return cli_fail(cli, err);
        if (cli->json) {
                _cleanup_json_ json_t *doc = json_pack("{s:s}", "file", out);
                return cli_print_json(cli, doc);
        }
        printf("signed %s\n", out);
        return CLI_EXIT_OK;
}
