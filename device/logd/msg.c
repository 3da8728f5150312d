/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"

static void add_field(struct logd_msg *m, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
        if (!logrec_key_valid((const char *) key, key_len) || key[0] == '_' || m->n_fields == LOGREC_MAX_FIELDS) {
                m->rejected++;
                return;
        }
        m->fields[m->n_fields++] = (struct logrec_field){
                .key = {(const char *) key, key_len},
                .value = {(const char *) value, value_len},
        };
}

int logd_msg_parse(const void *buf, size_t len, struct logd_msg *ret, alder_error **err)
{
        const uint8_t *p = buf, *end = p + len;
        ret->n_fields = 0;
        ret->rejected = 0;
        while (p < end) {
                const uint8_t *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl || nl == p)
                        break; /* a last field without its newline, or an empty line: the end of the entry */
                const uint8_t *eq = memchr(p, '=', (size_t) (nl - p));
                if (eq) {
                        add_field(ret, p, (size_t) (eq - p), eq + 1, (size_t) (nl - eq - 1));
                        p = nl + 1;
                        continue;
                }
                /* KEY\n, a little-endian u64 size, the value, \n */
                const uint8_t *key = p;
                size_t key_len = (size_t) (nl - p);
                p = nl + 1;
                uint64_t size;
                if ((size_t) (end - p) < sizeof(size))
                        return alder_error_set(err, EBADMSG, "field '%.*s': size cut short",
                                               (int) ALDER_MIN(key_len, (size_t) LOGREC_KEY_MAX), (const char *) key);
                memcpy(&size, p, sizeof(size));
                size = le64toh(size);
                p += sizeof(size);
                if (size >= (uint64_t) (end - p) || p[size] != '\n')
                        return alder_error_set(err, EBADMSG, "field '%.*s': %llu bytes announced, %zu left",
                                               (int) ALDER_MIN(key_len, (size_t) LOGREC_KEY_MAX), (const char *) key,
                                               (unsigned long long) size, (size_t) (end - p));
                add_field(ret, key, key_len, p, (size_t) size);
                p += size + 1;
        }
        return 0;
}

static bool key_is(const struct logrec_field *f, const char *key)
{
        return f->key.len == strlen(key) && memcmp(f->key.p, key, f->key.len) == 0;
}

static bool value_is(const struct logrec_field *f, const char *value)
{
        return f->value.len == strlen(value) && memcmp(f->value.p, value, f->value.len) == 0;
}

const struct logrec_str *logd_msg_find(const struct logd_msg *m, const char *key)
{
        for (size_t i = 0; i < m->n_fields; i++)
                if (key_is(&m->fields[i], key))
                        return &m->fields[i].value;
        return NULL;
}

static struct logrec_str cut_name(struct logrec_str s)
{
        s.len = ALDER_MIN(s.len, (size_t) LOGREC_NAME_MAX);
        return s;
}

/* The record's parts the sender may set; each taken from the first field of its name. */
enum part { P_MESSAGE, P_PRIORITY, P_IDENT, P_APP, P_VERSION, P_STREAM, N_PARTS };
static const char *const part_keys[N_PARTS] = {"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "APP", "VERSION", "STREAM"};

void logd_msg_record(const struct logd_msg *m, const struct logd_origin *o, struct logd_msg_scratch *scratch,
                     struct logrec *ret)
{
        const struct logrec_field *part[N_PARTS] = {0};
        size_t n_extra = 0;
        for (size_t i = 0; i < m->n_fields; i++) {
                const struct logrec_field *f = &m->fields[i];
                enum part k = 0;
                while (k < N_PARTS && !key_is(f, part_keys[k]))
                        k++;
                /* APP, VERSION and STREAM are the record's only when a trusted sender says so */
                bool takes = k < N_PARTS && !part[k] && (k < P_APP || o->trusted) &&
                             (k != P_STREAM || value_is(f, "stdout") || value_is(f, "stderr"));
                if (takes)
                        part[k] = f;
                else
                        scratch->extra[n_extra++] = *f;
        }

        struct logrec r = {.pid = o->pid, .uid = o->uid, .gid = o->gid, .level = 6};
        if (part[P_PRIORITY] && part[P_PRIORITY]->value.len == 1 && part[P_PRIORITY]->value.p[0] >= '0' &&
            part[P_PRIORITY]->value.p[0] <= '7')
                r.level = (uint8_t) (part[P_PRIORITY]->value.p[0] - '0');
        if (part[P_MESSAGE])
                r.message = part[P_MESSAGE]->value;
        if (part[P_IDENT])
                r.source = cut_name(part[P_IDENT]->value);
        else if (o->comm)
                r.source = cut_name((struct logrec_str){o->comm, strlen(o->comm)});
        if (o->trusted) {
                r.flags |= LOGREC_TRUSTED;
                if (part[P_APP])
                        r.app = cut_name(part[P_APP]->value);
                if (part[P_VERSION])
                        r.version = cut_name(part[P_VERSION]->value);
                /* an app's output: the app is its source */
                if (part[P_STREAM] && r.app.len) {
                        r.flags |= value_is(part[P_STREAM], "stdout") ? LOGREC_STDOUT : LOGREC_STDERR;
                        r.source = r.app;
                }
        } else {
                int n = snprintf(scratch->source, sizeof(scratch->source), "uid-%u:%.*s", o->uid, (int) r.source.len,
                                 r.source.p ? r.source.p : "");
                r.source = (struct logrec_str){scratch->source, (size_t) ALDER_MIN(n, (int) LOGREC_NAME_MAX)};
        }
        r.fields = scratch->extra;
        r.n_fields = n_extra;
        *ret = r;
}
