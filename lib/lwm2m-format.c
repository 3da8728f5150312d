/* SPDX-License-Identifier: Apache-2.0 */
/* Content formats: dispatch by CoAP Content-Format number. */
#include <errno.h>

#include "alder/lwm2m.h"
#include "lwm2m-internal.h"

int alder_lwm2m_encode(unsigned format, const struct alder_lwm2m_path *base, const struct alder_lwm2m_records *records,
                       uint8_t **ret, size_t *ret_len, alder_error **err)
{
        return alder_error_set(err, EPROTONOSUPPORT, "encode %u: content formats are not implemented yet", format);
}

int alder_lwm2m_decode(unsigned format, const struct alder_lwm2m_path *base, const uint8_t *buf, size_t len,
                       struct alder_lwm2m_records *out, alder_error **err)
{
        return alder_error_set(err, EPROTONOSUPPORT, "decode %u: content formats are not implemented yet", format);
}
