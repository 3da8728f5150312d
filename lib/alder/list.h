/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intrusive doubly linked lists (systemd's LIST_* idea): the element struct
 * has `prev` and `next` pointers to its own type; the list is a head pointer.
 *
 *     struct conn { struct conn *prev, *next; ... };
 *     struct conn *conns = NULL;
 *     ALDER_LIST_PREPEND(conns, c);
 *     ALDER_LIST_REMOVE(conns, c);
 *
 * Both are O(1) and leave the removed element's links NULL.
 */
#pragma once

#define ALDER_LIST_PREPEND(head, item)             \
        do {                                       \
                __typeof__(item) _item = (item);   \
                _item->prev = NULL;                \
                _item->next = (head);              \
                if (_item->next)                   \
                        _item->next->prev = _item; \
                (head) = _item;                    \
        } while (0)

#define ALDER_LIST_REMOVE(head, item)                    \
        do {                                             \
                __typeof__(item) _item = (item);         \
                if (_item->prev)                         \
                        _item->prev->next = _item->next; \
                else                                     \
                        (head) = _item->next;            \
                if (_item->next)                         \
                        _item->next->prev = _item->prev; \
                _item->prev = _item->next = NULL;        \
        } while (0)
