/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alder/error.h"

struct alder_error_part {
        struct alder_error_part *next; /* towards the innermost failure */
        char text[];
};

struct alder_error {
        int errnum;                     /* positive errno */
        bool is_static;                 /* the out-of-memory fallback below */
        struct alder_error_part *parts; /* outermost context first */
        char *joined;                   /* cache for alder_error_message() */
};

/*
 * When memory runs out while reporting an error we still must report one:
 * this object is handed out instead and never freed.
 */
static struct alder_error oom_error = {
        .errnum = ENOMEM,
        .is_static = true,
        .joined = (char *) "out of memory while reporting an error",
};

static int normalize_errno(int errnum)
{
        if (errnum < 0)
                errnum = -errnum;
        return errnum == 0 ? EINVAL : errnum;
}

ALDER_PRINTF(1, 0) static struct alder_error_part *part_new(const char *fmt, va_list ap, const char *suffix)
{
        va_list aq;
        va_copy(aq, ap);
        int n = vsnprintf(NULL, 0, fmt, aq);
        va_end(aq);
        if (n < 0)
                return NULL;

        size_t suffix_len = suffix ? strlen(suffix) + 2 : 0;
        struct alder_error_part *p = malloc(sizeof(*p) + (size_t) n + suffix_len + 1);
        if (!p)
                return NULL;
        vsnprintf(p->text, (size_t) n + 1, fmt, ap);
        if (suffix) {
                memcpy(p->text + n, ": ", 2);
                memcpy(p->text + n + 2, suffix, suffix_len - 2 + 1);
        }
        p->next = NULL;
        return p;
}

void alder_error_free(alder_error *err)
{
        if (!err || err->is_static)
                return;
        struct alder_error_part *p = err->parts;
        while (p) {
                struct alder_error_part *next = p->next;
                free(p);
                p = next;
        }
        free(err->joined);
        free(err);
}

void alder_error_clear(alder_error **err)
{
        if (!err)
                return;
        alder_error_free(*err);
        *err = NULL;
}

ALDER_PRINTF(4, 0) static int error_newv(alder_error **err, int errnum, bool with_strerror, const char *fmt, va_list ap)
{
        errnum = normalize_errno(errnum);
        if (!err)
                return -errnum;

        /*
         * Format before freeing the old error: the arguments may quote it
         * ("retry failed (%s)", alder_error_message(*err)).
         */
        struct alder_error_part *part = part_new(fmt, ap, with_strerror ? strerror(errnum) : NULL);
        alder_error *e = calloc(1, sizeof(*e));
        alder_error_clear(err);
        if (!part || !e) {
                free(part);
                free(e);
                *err = &oom_error;
                return -errnum;
        }
        e->errnum = errnum;
        e->parts = part;
        *err = e;
        return -errnum;
}

/* alder_error_set() and alder_error_sys() differ only in the strerror suffix. */
#define DEFINE_ERROR_CONSTRUCTOR(name, with_strerror)                    \
        int name(alder_error **err, int errnum, const char *fmt, ...)    \
        {                                                                \
                va_list ap;                                              \
                va_start(ap, fmt);                                       \
                int r = error_newv(err, errnum, with_strerror, fmt, ap); \
                va_end(ap);                                              \
                return r;                                                \
        }

DEFINE_ERROR_CONSTRUCTOR(alder_error_set, false)
DEFINE_ERROR_CONSTRUCTOR(alder_error_sys, true)

int alder_error_vwrap(alder_error **err, const char *fmt, va_list ap)
{
        if (!err)
                return -EIO;
        if (!*err)
                return error_newv(err, EIO, false, fmt, ap);

        alder_error *e = *err;
        if (e->is_static)
                return -e->errnum;

        struct alder_error_part *part = part_new(fmt, ap, NULL);
        if (!part)
                return -e->errnum; /* keep the inner message rather than lose it */
        part->next = e->parts;
        e->parts = part;
        free(e->joined);
        e->joined = NULL;
        return -e->errnum;
}

int alder_error_wrap(alder_error **err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = alder_error_vwrap(err, fmt, ap);
        va_end(ap);
        return r;
}

int alder_error_errno(const alder_error *err)
{
        return err ? err->errnum : 0;
}

unsigned alder_error_depth(const alder_error *err)
{
        unsigned n = 0;
        if (err && err->is_static)
                return 1;
        for (const struct alder_error_part *p = err ? err->parts : NULL; p; p = p->next)
                n++;
        return n;
}

const char *alder_error_part(const alder_error *err, unsigned i)
{
        if (!err)
                return NULL;
        if (err->is_static)
                return i == 0 ? err->joined : NULL;
        for (const struct alder_error_part *p = err->parts; p; p = p->next, i--)
                if (i == 0)
                        return p->text;
        return NULL;
}

const char *alder_error_message(alder_error *err)
{
        if (!err)
                return "(no error)";
        if (err->joined)
                return err->joined;

        size_t len = 0;
        for (const struct alder_error_part *p = err->parts; p; p = p->next)
                len += strlen(p->text) + 2;
        char *s = malloc(len + 1);
        if (!s)
                return err->parts ? err->parts->text : "(no message)";

        char *w = s;
        *w = '\0';
        for (const struct alder_error_part *p = err->parts; p; p = p->next) {
                size_t n = strlen(p->text);
                memcpy(w, p->text, n);
                w += n;
                if (p->next) {
                        memcpy(w, ": ", 2);
                        w += 2;
                }
        }
        *w = '\0';
        err->joined = s;
        return s;
}
