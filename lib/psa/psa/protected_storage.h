/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PSA Certified Secure Storage API 1.0, Protected Storage part, for Alder
 * apps (libalder-psa): small secrets kept by alder-secd, encrypted at rest,
 * visible only to the app that stored them.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "psa/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t psa_storage_uid_t;
typedef uint32_t psa_storage_create_flags_t;

#define PSA_STORAGE_FLAG_NONE                 ((psa_storage_create_flags_t) 0)
#define PSA_STORAGE_FLAG_WRITE_ONCE           ((psa_storage_create_flags_t) (1u << 0))
#define PSA_STORAGE_FLAG_NO_CONFIDENTIALITY   ((psa_storage_create_flags_t) (1u << 1))
#define PSA_STORAGE_FLAG_NO_REPLAY_PROTECTION ((psa_storage_create_flags_t) (1u << 2))
#define PSA_STORAGE_SUPPORT_SET_EXTENDED      (1u << 0)

/* The largest secret alder-secd keeps. */
#define ALDER_PS_MAX_DATA_SIZE 16384u

struct psa_storage_info_t {
        size_t capacity;
        size_t size;
        psa_storage_create_flags_t flags;
};

psa_status_t psa_ps_set(psa_storage_uid_t uid, size_t data_length, const void *p_data,
                        psa_storage_create_flags_t create_flags);
psa_status_t psa_ps_get(psa_storage_uid_t uid, size_t data_offset, size_t data_size, void *p_data,
                        size_t *p_data_length);
psa_status_t psa_ps_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info);
psa_status_t psa_ps_remove(psa_storage_uid_t uid);
uint32_t psa_ps_get_support(void);

#ifdef __cplusplus
}
#endif
