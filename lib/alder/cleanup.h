/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scope-bound cleanup helpers over __attribute__((cleanup)).
 *
 * A variable declared with one of these macros is released when it goes out of
 * scope, so error paths are plain `return` statements instead of goto ladders.
 * Ownership leaves the variable with steal_pointer() / steal_fd().
 *
 *     _cleanup_free_ char *buf = malloc(n);
 *     _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
 *     ...
 *     *ret_buf = steal_pointer(&buf);
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void alder_freep(void *p)
{
        free(*(void **) p);
}

/* close() that keeps errno: cleanup runs on error paths where errno matters. */
/* Closes *fd (keeping errno) and marks it closed (-1), so it can also be used to close a field for good. */
static inline void alder_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
                *fd = -1;
        }
}

static inline void alder_fclosep(FILE **f)
{
        if (*f) {
                int saved = errno;
                fclose(*f);
                errno = saved;
        }
}

static inline void alder_closedirp(DIR **d)
{
        if (*d) {
                int saved = errno;
                closedir(*d);
                errno = saved;
        }
}

/* Frees a NULL-terminated vector of strings and the vector itself. */
static inline void alder_strv_free(char **v)
{
        if (!v)
                return;
        for (char **s = v; *s; s++)
                free(*s);
        free(v);
}

static inline void alder_strv_freep(char ***v)
{
        alder_strv_free(*v);
}

#define _cleanup_(fn)      __attribute__((cleanup(fn)))
#define _cleanup_free_     _cleanup_(alder_freep)
#define _cleanup_close_    _cleanup_(alder_closep)
#define _cleanup_fclose_   _cleanup_(alder_fclosep)
#define _cleanup_closedir_ _cleanup_(alder_closedirp)
#define _cleanup_strv_     _cleanup_(alder_strv_freep)

/* Takes ownership out of a cleanup variable: returns the value, leaves NULL. */
#define steal_pointer(pp)                          \
        ({                                         \
                __typeof__(*(pp)) _stolen = *(pp); \
                *(pp) = NULL;                      \
                _stolen;                           \
        })

/* Same for file descriptors: returns the fd, leaves -1. */
static inline int steal_fd(int *fd)
{
        int r = *fd;
        *fd = -1;
        return r;
}
