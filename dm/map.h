/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A string-keyed hash map for the CoAP thread's registrations and requests
 * (10k+ devices: lookups must not be linear). Keys are not copied: each is a
 * string inside the value it maps to, alive while the entry is in the map.
 * Not thread-safe.
 */
#pragma once

#include <stddef.h>

struct dm_map_entry {
        const char *key;
        void *value;
};

struct dm_map {
        struct dm_map_entry *v; /* open addressing, linear probing, tombstones = key NULL + value != NULL */
        size_t cap, n, used;
};

void *dm_map_get(const struct dm_map *m, const char *key);
/* Adds or replaces; returns 0 or -ENOMEM. */
int dm_map_put(struct dm_map *m, const char *key, void *value);
/* Removes and returns the value (NULL when absent). */
void *dm_map_remove(struct dm_map *m, const char *key);
/* Iteration: *i starts at 0; returns the next value or NULL at the end. Do not add while iterating; removing the
 * current one is fine. */
void *dm_map_next(const struct dm_map *m, size_t *i);
void dm_map_clear(struct dm_map *m);
