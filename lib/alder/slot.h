/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing a root-filesystem image into an A/B slot (a block device, or a
 * regular file in tests) as it streams in: the size is checked against the
 * slot before the first byte is written, every byte is hashed on its way,
 * and alder_slot_finish() flushes, drops the cached pages and reads the slot
 * back to compare. Nothing but the image's own length is ever written.
 */
#pragma once

#include <stdint.h>

#include "cleanup.h"
#include "digest.h"
#include "error.h"
#include "macro.h"

typedef struct alder_slot alder_slot;

/*
 * The block device of the GPT partition labelled `label`: the entry of
 * `sysfs_block` (/sys/class/block) whose uevent says PARTNAME=label, as
 * "DEV_DIR/DEVNAME" (DEV_DIR: /dev). ENOENT when none is; ENOTUNIQ when two are.
 */
int alder_slot_find_partition(const char *sysfs_block, const char *dev_dir, const char *label, char **ret,
                              alder_error **err) ALDER_WUR;

/* Opens an existing slot for writing; its capacity is the device's or file's size. */
int alder_slot_open(const char *path, alder_slot **ret, alder_error **err) ALDER_WUR;
uint64_t alder_slot_capacity(const alder_slot *s);

/* Declares the image size: ENOSPC when it does not fit. Required before writing. */
int alder_slot_reserve(alder_slot *s, uint64_t size, alder_error **err) ALDER_WUR;

/* Appends; EFBIG past the reserved size. Short writes are retried; errors name the slot. */
int alder_slot_write(alder_slot *s, const void *buf, size_t len, alder_error **err) ALDER_WUR;

/* All reserved bytes written? fsync, read back, compare with what was written (EIO on a mismatch). */
int alder_slot_finish(alder_slot *s, uint8_t ret_digest[ALDER_SHA256_LEN], alder_error **err) ALDER_WUR;

uint64_t alder_slot_written(const alder_slot *s);

void alder_slot_close(alder_slot *s);
static inline void alder_slot_closep(alder_slot **p)
{
        alder_slot_close(*p);
}
#define _cleanup_slot_ _cleanup_(alder_slot_closep)
