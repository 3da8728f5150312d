/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for SUIT envelopes, manifests and COSE_Sign1 objects: the
 * strict CBOR decoder, the envelope parser, the manifest interpreter and the
 * COSE header parser, on arbitrary bytes.
 *
 * No trust store: the structural parse and the interpreter are what an
 * attacker reaches before a signature is checked (the envelope's digest and
 * COSE structure are parsed first), and what a signer's mistake reaches after.
 * The same bytes are also interpreted as a bare manifest, because random
 * envelopes rarely carry the right manifest digest. Byte 0 of the input picks
 * whether the interpreter checks vendor/class ids (and which), so mismatch
 * paths are reached too.
 */
#include <stdint.h>
#include <string.h>

#include "alder/cose.h"
#include "alder/suit.h"
#include "suit-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(const struct alder_suit_result *res)
{
        /* what the package reader relies on: bounded, NUL-terminated strings and counts */
        if (res->n_components > ALDER_SUIT_MAX_COMPONENTS)
                __builtin_trap();
        for (size_t i = 0; i < res->n_components; i++) {
                const struct alder_suit_result_component *c = &res->components[i];
                if (strnlen(c->uri, sizeof(c->uri)) == sizeof(c->uri) ||
                    c->id.n_segments > ALDER_SUIT_MAX_ID_SEGMENTS ||
                    strnlen(c->description, sizeof(c->description)) == sizeof(c->description))
                        __builtin_trap();
                char id[256];
                alder_suit_component_id_format(&c->id, id, sizeof(id));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct alder_suit_result res;
        struct alder_suit_expect expect = {0};
        if (size > 0 && (data[0] & 1)) {
                expect.check_vendor_id = true;
                memset(expect.vendor_id, data[0], sizeof(expect.vendor_id));
        }
        if (size > 0 && (data[0] & 2)) {
                expect.check_class_id = true;
                memset(expect.class_id, data[0], sizeof(expect.class_id));
        }

        alder_error *err = NULL;
        memset(&res, 0, sizeof(res));
        if (alder_suit_envelope_inspect(data, size, &expect, &res, &err) == 0)
                check_result(&res);
        (void) alder_error_message(err);
        alder_error_clear(&err);

        memset(&res, 0, sizeof(res));
        if (suit_manifest_interpret(data, size, NULL, &expect, &res, &err) == 0)
                check_result(&res);
        (void) alder_error_message(err);
        alder_error_clear(&err);

        struct alder_cose_sign1 s;
        if (alder_cose_sign1_decode(data, size, &s, &err) == 0)
                alder_cose_sign1_done(&s);
        alder_error_clear(&err);
        return 0;
}
