/* SPDX-License-Identifier: Apache-2.0 */
/* From a CoAP request PDU to the model's request: the part of alder-dmc that reads server bytes first. */
#pragma once

#include <coap3/coap.h>

#include "dmc.h"

/*
 * Fills req from a request PDU: method, Uri-Path as an LwM2M path (numeric
 * segments, at most four; -ENOENT otherwise), Content-Format, Accept and
 * Observe options (-EINVAL when malformed), the query (borrowed from `query`,
 * which may be NULL) and the payload (borrowed from the PDU). now_ms is left 0.
 */
int dmc_request_from_pdu(const coap_pdu_t *pdu, const coap_string_t *query, struct dmc_request *req,
                         alder_error **err) ALDER_WUR;
