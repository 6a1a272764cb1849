/* netvsp_rxbuf — see netvsp_rxbuf.h. */
#include "vswitch/netvsp_rxbuf.h"

#include <string.h>

void netvsp_rxbuf_init(struct netvsp_rxbuf *rb, uint32_t size)
{
	memset(rb, 0, sizeof(*rb));
	rb->size = size - size % NETVSP_RXBUF_ALIGN;
	util_xid_init(&rb->xid);
}

int netvsp_rxbuf_alloc(struct netvsp_rxbuf *rb, uint32_t len, uint32_t *off)
{
	uint64_t need = (len + NETVSP_RXBUF_ALIGN - 1) & ~(uint64_t)(NETVSP_RXBUF_ALIGN - 1);
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

uint32_t netvsp_rxbuf_commit(struct netvsp_rxbuf *rb)
{
	uint32_t slot = rb->rec_head % UTIL_XID_SLOTS;

	if (rb->head == rb->open)
		return 0;
	rb->rec[slot].end = rb->head;
	rb->rec[slot].done = 0;
	rb->rec_head++;
	rb->open = rb->head;
	rb->open_off = rb->head_off;
	return util_xid_take(&rb->xid, slot);
}

void netvsp_rxbuf_abort(struct netvsp_rxbuf *rb)
{
	rb->head = rb->open;
	rb->head_off = rb->open_off;
}

int netvsp_rxbuf_complete(struct netvsp_rxbuf *rb, uint32_t id)
{
	int slot = util_xid_put(&rb->xid, id);

	if (slot < 0)
		return slot;
	rb->rec[slot].done = 1;
	while (rb->rec_tail != rb->rec_head && rb->rec[rb->rec_tail % UTIL_XID_SLOTS].done) {
		rb->tail = rb->rec[rb->rec_tail % UTIL_XID_SLOTS].end;
		rb->rec_tail++;
	}
	return 0;
}
