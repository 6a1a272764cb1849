/* util_xid — transaction ids that name a slot and its generation, so a
 * completion for a transaction that was never sent, already completed or
 * belongs to an older use of the slot is recognised and refused.
 *
 *   id = (generation << UTIL_XID_SLOT_BITS) | slot,  never 0
 *
 * Thread-safety: a table belongs to one thread. Errors: -ENOENT for an id
 * that is not outstanding, -ENOSPC when every slot is in use.
 */
#ifndef IOVPATH_UTIL_XID_H
#define IOVPATH_UTIL_XID_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define UTIL_XID_SLOT_BITS 12u
#define UTIL_XID_SLOTS     (1u << UTIL_XID_SLOT_BITS)

struct util_xid {
	uint32_t gen[UTIL_XID_SLOTS]; /* current generation of each slot (>= 1) */
	uint8_t busy[UTIL_XID_SLOTS];
};

static inline void util_xid_init(struct util_xid *x)
{
	for (uint32_t i = 0; i < UTIL_XID_SLOTS; i++) {
		x->gen[i] = 1;
		x->busy[i] = 0;
	}
}

/* Mark @slot busy and return its id. */
static inline uint32_t util_xid_take(struct util_xid *x, uint32_t slot)
{
	x->busy[slot] = 1;
	return (x->gen[slot] << UTIL_XID_SLOT_BITS) | slot;
}

/* The slot an outstanding @id names, or -ENOENT. Does not release it. */
static inline int util_xid_lookup(const struct util_xid *x, uint32_t id)
{
	uint32_t slot = id & (UTIL_XID_SLOTS - 1);

	if (!x->busy[slot] || (id >> UTIL_XID_SLOT_BITS) != x->gen[slot])
		return -ENOENT;
	return (int)slot;
}

/* Release the slot of an outstanding @id; returns the slot or -ENOENT. */
static inline int util_xid_put(struct util_xid *x, uint32_t id)
{
	int slot = util_xid_lookup(x, id);

	if (slot >= 0) {
		x->busy[slot] = 0;
		x->gen[slot] = (x->gen[slot] + 1) & ((1u << (32 - UTIL_XID_SLOT_BITS)) - 1);
		if (!x->gen[slot])
			x->gen[slot] = 1;
	}
	return slot;
}

#endif
