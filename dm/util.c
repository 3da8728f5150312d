/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "alder/digest.h"
#include "alder/lwm2m.h"
#include "util.h"

static int64_t clock_ms(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dm_now_ms(void)
{
        return clock_ms(CLOCK_REALTIME);
}

int64_t dm_mono_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC);
}

char *dm_time_format(int64_t ms, char buf[static DM_TIME_STRLEN])
{
        time_t t = (time_t) (ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t n = strftime(buf, DM_TIME_STRLEN, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, DM_TIME_STRLEN - n, ".%03dZ", (int) (ms % 1000));
        return buf;
}

int dm_time_parse(const char *s, int64_t *ret)
{
        char *end;
        if (*s >= '0' && *s <= '9' && strchr(s, '-') == NULL) {
                errno = 0;
                long long v = strtoll(s, &end, 10);
                if (errno || *end)
                        return -EINVAL;
                *ret = v;
                return 0;
        }
        struct tm tm = {0};
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
                return -EINVAL;
        int frac = 0;
        if (*end == '.') {
                end++;
                int digits = 0;
                while (isdigit((unsigned char) *end)) {
                        if (digits < 3)
                                frac = frac * 10 + (*end - '0');
                        digits++;
                        end++;
                }
                if (digits == 0)
                        return -EINVAL;
                for (; digits < 3; digits++)
                        frac *= 10;
        }
        if (strcmp(end, "Z") != 0)
                return -EINVAL;
        time_t t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        *ret = (int64_t) t * 1000 + frac;
        return 0;
}

int dm_random_hex(char *out, size_t nbytes, alder_error **err)
{
        uint8_t buf[64];
        if (nbytes > sizeof(buf))
                return alder_error_set(err, EINVAL, "random id of %zu bytes: too long", nbytes);
        if (getrandom(buf, nbytes, 0) != (ssize_t) nbytes)
                return alder_error_sys(err, errno, "getrandom");
        alder_hex_encode(buf, nbytes, out);
        return 0;
}

#define DM_FORMAT_JSON 50

const char *dm_content_format_mime(unsigned format)
{
        return format == DM_FORMAT_JSON ? "application/json" : alder_lwm2m_format_name(format);
}

int dm_content_format_from_mime(const char *mime)
{
        static const char json[] = "application/json";
        size_t len = strcspn(mime, ";");
        while (len > 0 && (mime[len - 1] == ' ' || mime[len - 1] == '\t'))
                len--;
        if (len == sizeof(json) - 1 && strncasecmp(mime, json, len) == 0)
                return DM_FORMAT_JSON;
        return alder_lwm2m_format_from_name(mime);
}

char *dm_coap_code_format(unsigned code, char buf[static 5])
{
        snprintf(buf, 5, "%u.%02u", (code >> 5) & 7, code & 31);
        return buf;
}

bool dm_is_printable(const char *s, size_t max, const char *forbidden)
{
        size_t n = 0;
        for (; s[n]; n++) {
                unsigned char c = (unsigned char) s[n];
                if (n >= max || c < 0x21 || c > 0x7e || (forbidden && strchr(forbidden, c)))
                        return false;
        }
        return n > 0;
}

void dm_cond_init_monotonic(pthread_cond_t *c)
{
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(c, &attr);
        pthread_condattr_destroy(&attr);
}

struct timespec dm_deadline_after(int ms)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long) (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        return ts;
}
