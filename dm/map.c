/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

static const char tombstone_value[1];
#define TOMBSTONE ((void *) tombstone_value)

static uint64_t hash(const char *s)
{
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 1099511628211ull;
        }
        return h;
}

static struct dm_map_entry *find(const struct dm_map *m, const char *key)
{
        if (!m->cap)
                return NULL;
        for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                struct dm_map_entry *e = &m->v[i];
                if (!e->key && e->value != TOMBSTONE)
                        return NULL;
                if (e->key && strcmp(e->key, key) == 0)
                        return e;
        }
}

void *dm_map_get(const struct dm_map *m, const char *key)
{
        struct dm_map_entry *e = find(m, key);
        return e ? e->value : NULL;
}

static void insert(struct dm_map *m, const char *key, void *value)
{
        for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                struct dm_map_entry *e = &m->v[i];
                if (!e->key) {
                        if (e->value != TOMBSTONE)
                                m->used++;
                        *e = (struct dm_map_entry){key, value};
                        m->n++;
                        return;
                }
        }
}

static int grow(struct dm_map *m)
{
        size_t cap = m->cap ? m->cap : 16;
        while ((m->n + 1) * 4 > cap * 3 / 2) /* rehash keeps the table at most 3/8 full */
                cap *= 2;
        struct dm_map_entry *v = calloc(cap, sizeof(*v));
        if (!v)
                return -ENOMEM;
        struct dm_map old = *m;
        *m = (struct dm_map){.v = v, .cap = cap};
        for (size_t i = 0; i < old.cap; i++)
                if (old.v[i].key)
                        insert(m, old.v[i].key, old.v[i].value);
        free(old.v);
        return 0;
}

int dm_map_put(struct dm_map *m, const char *key, void *value)
{
        struct dm_map_entry *e = find(m, key);
        if (e) {
                *e = (struct dm_map_entry){key, value};
                return 0;
        }
        /* Tombstones count as used: rebuild before probes get long. */
        if ((m->used + 1) * 4 > m->cap * 3 && grow(m) < 0)
                return -ENOMEM;
        insert(m, key, value);
        return 0;
}

void *dm_map_remove(struct dm_map *m, const char *key)
{
        struct dm_map_entry *e = find(m, key);
        if (!e)
                return NULL;
        void *v = e->value;
        *e = (struct dm_map_entry){NULL, TOMBSTONE};
        m->n--;
        return v;
}

void *dm_map_next(const struct dm_map *m, size_t *i)
{
        for (; *i < m->cap; (*i)++)
                if (m->v[*i].key)
                        return m->v[(*i)++].value;
        return NULL;
}

void dm_map_clear(struct dm_map *m)
{
        free(m->v);
        *m = (struct dm_map){0};
}
