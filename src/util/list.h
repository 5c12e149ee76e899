/* An intrusive doubly-linked circular list with a sentinel head (the Linux kernel's list_head,
 * libuv's queue). A node is an mt__link_t inside the element; mt__list_entry gets the element
 * back. No allocation; an element may be on one list per link it has. Shared by the engine
 * (timeouts, retries) and the built-in target (connections, ready queue, streams). */
#ifndef MT_UTIL_LIST_H
#define MT_UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mt__link {
    struct mt__link *prev, *next;
} mt__link_t;

/* The element of type `type` whose member `member` is the link l. */
#define mt__list_entry(l, type, member) ((type *)((char *)(l)-offsetof(type, member)))

/* An empty list: the sentinel points at itself. */
static inline void mt__list_init(mt__link_t *l)
{
    l->prev = l->next = l;
}

static inline bool mt__list_empty(const mt__link_t *l)
{
    return l->next == l;
}

static inline void mt__list_remove(mt__link_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
}

static inline void mt__list_append(mt__link_t *l, mt__link_t *n) /* at the tail */
{
    n->prev = l->prev;
    n->next = l;
    l->prev->next = n;
    l->prev = n;
}

#endif
