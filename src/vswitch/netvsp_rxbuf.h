/* netvsp_rxbuf — the host's allocator for a guest's receive buffer (the
 * memory the guest shared with SEND_RECV_BUF). The host writes RNDIS
 * messages into it and tells the guest where they are with a transfer-page
 * packet; the guest's completion (by transaction id) gives the space back.
 *
 * Space is handed out in order, like a ring over the buffer: each
 * transfer-page packet is one record (every range written since the last
 * commit); records are reclaimed in order once completed, so a guest that
 * completes out of order only delays reuse. A completion for an id that is
 * not outstanding is refused (-ENOENT): never sent, already completed, or a
 * stale id from an older use of the slot.
 *
 * Thread-safety: one thread (the VM's NetVSP). Errors: -ENOSPC (no room:
 * the caller drops and counts), -ENOENT (bad completion).
 */
#ifndef IOVPATH_VSWITCH_NETVSP_RXBUF_H
#define IOVPATH_VSWITCH_NETVSP_RXBUF_H

#include <errno.h>
#include <stdint.h>

#include "util/xid.h"

#define NETVSP_RXBUF_ALIGN 64u

struct netvsp_rxbuf {
	uint32_t size; /* bytes of the buffer, a multiple of NETVSP_RXBUF_ALIGN */
	uint64_t head; /* next free byte, free-running */
	uint64_t tail; /* oldest byte still owned by the guest, free-running */
	uint64_t open; /* head when the open record began */
	uint32_t head_off, open_off; /* head and open as offsets in the buffer */
	struct {
		uint64_t end; /* head when the record was committed */
		uint8_t done;
	} rec[UTIL_XID_SLOTS];
	uint32_t rec_head, rec_tail; /* records in flight: [rec_tail, rec_head) */
	struct util_xid xid;
};

void netvsp_rxbuf_init(struct netvsp_rxbuf *rb, uint32_t size);

/* The bytes a message of @len bytes takes in the buffer: ranges start
 * NETVSP_RXBUF_ALIGN-aligned, so consecutive ones lie this far apart. */
static inline uint64_t netvsp_rxbuf_span(uint32_t len)
{
	return ((uint64_t)len + NETVSP_RXBUF_ALIGN - 1) & ~(uint64_t)(NETVSP_RXBUF_ALIGN - 1);
}

/* Room for @len bytes, contiguous in the buffer; *@off gets the offset.
 * -ENOSPC when the guest holds too much. (Inline: once per frame.) */
static inline int netvsp_rxbuf_alloc(struct netvsp_rxbuf *rb, uint32_t len, uint32_t *off)
{
	uint64_t need = netvsp_rxbuf_span(len);
	uint64_t at = rb->head;
	uint32_t pos = rb->head_off; /* head % size, kept: no division per frame */

	if (!len || need > rb->size)
		return -ENOSPC;
	if (pos + need > rb->size) /* no wrap inside a range: skip to the start */
		at += rb->size - pos, pos = 0;
	if (at + need - rb->tail > rb->size)
		return -ENOSPC;
	if (rb->rec_head - rb->rec_tail >= UTIL_XID_SLOTS)
		return -ENOSPC;
	*off = pos;
	rb->head = at + need;
	rb->head_off = pos + (uint32_t)need == rb->size ? 0 : pos + (uint32_t)need;
	return 0;
}

/* The free bytes right at the head, up to the end of the buffer (0 when
 * every record slot is in flight); *@off gets the head's offset. A caller
 * that places several messages there back to back claims what it used with
 * netvsp_rxbuf_take: one check per burst instead of one per frame. */
static inline uint32_t netvsp_rxbuf_contig(const struct netvsp_rxbuf *rb, uint32_t *off)
{
	uint64_t free = rb->size - (rb->head - rb->tail);
	uint32_t to_end = rb->size - rb->head_off;

	*off = rb->head_off;
	if (rb->rec_head - rb->rec_tail >= UTIL_XID_SLOTS)
		return 0;
	return free < to_end ? (uint32_t)free : to_end;
}

/* Claim @n bytes at the head (@n <= what netvsp_rxbuf_contig returned). */
static inline void netvsp_rxbuf_take(struct netvsp_rxbuf *rb, uint32_t n)
{
	rb->head += n;
	rb->head_off += n;
	if (rb->head_off == rb->size)
		rb->head_off = 0;
}

/* Close the record of everything allocated since the last commit; returns
 * its transaction id (nonzero), or 0 when nothing was allocated. */
uint32_t netvsp_rxbuf_commit(struct netvsp_rxbuf *rb);

/* Undo the allocations since the last commit (the packet was not sent). */
void netvsp_rxbuf_abort(struct netvsp_rxbuf *rb);

/* The guest completed @id: reclaim what can be. 0 or -ENOENT. */
int netvsp_rxbuf_complete(struct netvsp_rxbuf *rb, uint32_t id);

/* Bytes the guest holds. */
static inline uint64_t netvsp_rxbuf_used(const struct netvsp_rxbuf *rb)
{
	return rb->head - rb->tail;
}

#endif
