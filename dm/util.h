/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers of alder-dm: clocks, timestamps as the REST API shows them,
 * random identifiers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alder/error.h"

#include <pthread.h>
#include <time.h>

/* Wall clock (for timestamps users read) and monotonic clock (for deadlines), in milliseconds. */
int64_t dm_now_ms(void);
int64_t dm_mono_ms(void);

/* "2024-05-01T12:00:00.123Z"; buf holds at least DM_TIME_STRLEN bytes. */
#define DM_TIME_STRLEN 32
char *dm_time_format(int64_t ms, char buf[static DM_TIME_STRLEN]);

/* Parses what dm_time_format() writes (fraction optional) or plain milliseconds since the epoch. */
int dm_time_parse(const char *s, int64_t *ret) ALDER_WUR;

/*
 * MIME type of a CoAP Content-Format and back: the LwM2M formats
 * (alder_lwm2m_format_name()/_from_name()) plus application/json (50), which
 * devices may answer with. NULL / -1 when unknown.
 */
const char *dm_content_format_mime(unsigned format);
int dm_content_format_from_mime(const char *mime);

/* 2 * nbytes lower-case hex digits of getrandom() bytes, NUL-terminated. */
int dm_random_hex(char *out, size_t nbytes, alder_error **err) ALDER_WUR;

/* "2.05", "4.04": the dotted form of a CoAP code; buf holds at least 5 bytes. */
char *dm_coap_code_format(unsigned code, char buf[static 5]);

/* True when s is 1..max bytes of printable ASCII without the characters in `forbidden`. */
bool dm_is_printable(const char *s, size_t max, const char *forbidden);

/* A condition variable timed on CLOCK_MONOTONIC, and the deadline ms from now on that clock. */
void dm_cond_init_monotonic(pthread_cond_t *c);
struct timespec dm_deadline_after(int ms);
