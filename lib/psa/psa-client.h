/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transport of libalder-psa, shared with the `alder secure` CLI (which talks
 * to the admin socket with the same frames).
 */
#pragma once
#include "secd-wire.h"

/* A connected socket to `path` with send/receive timeouts of timeout_s, or a negative errno. */
int secd_connect(const char *path, unsigned timeout_s);

/*
 * Sends the req_len bytes of req (0: the request did not fit in a frame) and
 * reads the reply into `reply` (SECD_WIRE_MAX_FRAME bytes), decoded into *ret
 * (pointing into reply). Returns the reply's status, or
 * PSA_ERROR_COMMUNICATION_FAILURE when the exchange failed.
 */
psa_status_t secd_transact(int fd, uint8_t *req, size_t req_len, uint8_t *reply, struct secd_msg *ret);
