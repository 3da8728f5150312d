/* SPDX-License-Identifier: Apache-2.0 */
/* CoAP request → struct dmc_request (fuzzed by fuzz/fuzz-dmc-request.c). */
#include <errno.h>
#include <string.h>

#include "request.h"

/* An unsigned option value of at most max_len bytes (RFC 7252 §3.2 uint). */
static int uint_option(const coap_pdu_t *pdu, coap_option_num_t num, const char *name, size_t max_len, int *ret,
                       alder_error **err)
{
        coap_opt_iterator_t it;
        coap_opt_t *opt = coap_check_option(pdu, num, &it);
        if (!opt)
                return 0;
        if (coap_opt_length(opt) > max_len)
                return alder_error_set(err, EINVAL, "%s option of %u bytes (at most %zu)", name, coap_opt_length(opt),
                                       max_len);
        *ret = (int) coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
        if (coap_option_next(&it))
                return alder_error_set(err, EINVAL, "%s option repeated", name);
        return 0;
}

static int path_from_options(const coap_pdu_t *pdu, struct alder_lwm2m_path *ret, alder_error **err)
{
        coap_opt_iterator_t it;
        coap_opt_filter_t filter;
        coap_option_filter_clear(&filter);
        coap_option_filter_set(&filter, COAP_OPTION_URI_PATH);
        coap_option_iterator_init(pdu, &it, &filter);
        const uint8_t *seg[ALDER_LWM2M_PATH_MAX_LEN];
        size_t seg_len[ALDER_LWM2M_PATH_MAX_LEN];
        size_t n = 0;
        coap_opt_t *opt;
        while ((opt = coap_option_next(&it))) {
                if (n == ALDER_LWM2M_PATH_MAX_LEN)
                        return alder_error_set(err, ENOENT, "Uri-Path: more than %u levels is not an LwM2M path",
                                               ALDER_LWM2M_PATH_MAX_LEN);
                seg[n] = coap_opt_value(opt);
                seg_len[n++] = coap_opt_length(opt);
        }
        struct alder_lwm2m_path p = {0};
        if (n == 1 && seg_len[0] == 0)
                n = 0; /* a lone empty segment is the root, "/" */
        for (size_t k = 0; k < n; k++) {
                const uint8_t *v = seg[k];
                size_t len = seg_len[k];
                unsigned long id = 0;
                bool ok = len >= 1 && len <= 5;
                for (size_t i = 0; ok && i < len; i++) {
                        ok = v[i] >= '0' && v[i] <= '9';
                        id = id * 10 + (unsigned long) (v[i] - '0');
                }
                if (!ok || id > ALDER_LWM2M_ID_MAX) {
                        char shown[32];
                        size_t m = ALDER_MIN(len, sizeof(shown) - 1);
                        for (size_t i = 0; i < m; i++)
                                shown[i] = v[i] >= 0x20 && v[i] < 0x7f ? (char) v[i] : '?';
                        shown[m] = '\0';
                        return alder_error_set(err, ENOENT, "Uri-Path segment %zu ('%s%s') is not an LwM2M id (0-%u)",
                                               k + 1, shown, len > m ? "..." : "", ALDER_LWM2M_ID_MAX);
                }
                p.id[p.len++] = (uint16_t) id;
        }
        *ret = p;
        return 0;
}

int dmc_request_from_pdu(const coap_pdu_t *pdu, const coap_string_t *query, struct dmc_request *req, alder_error **err)
{
        struct dmc_request r = {
                .method = (enum dmc_method) coap_pdu_get_code(pdu),
                .content_format = DMC_NO_FORMAT,
                .accept = DMC_NO_FORMAT,
                .observe = -1,
        };
        int ret = path_from_options(pdu, &r.path, err);
        if (ret == 0)
                ret = uint_option(pdu, COAP_OPTION_CONTENT_FORMAT, "Content-Format", 2, &r.content_format, err);
        if (ret == 0)
                ret = uint_option(pdu, COAP_OPTION_ACCEPT, "Accept", 2, &r.accept, err);
        if (ret == 0)
                ret = uint_option(pdu, COAP_OPTION_OBSERVE, "Observe", 3, &r.observe, err);
        if (ret < 0)
                return ret;
        if (query) {
                r.query = (const char *) query->s;
                r.query_len = query->length;
        }
        size_t len = 0, offset = 0, total = 0;
        const uint8_t *data = NULL;
        if (coap_get_data_large(pdu, &len, &data, &offset, &total)) {
                if (offset != 0 || len != total)
                        return alder_error_set(err, EINVAL, "payload incomplete: bytes %zu-%zu of %zu", offset,
                                               offset + len, total);
                r.payload = data;
                r.payload_len = len;
        }
        *req = r;
        return 0;
}
