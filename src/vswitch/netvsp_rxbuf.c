/* netvsp_rxbuf — see netvsp_rxbuf.h. */
#include "vswitch/netvsp_rxbuf.h"

#include <string.h>

void netvsp_rxbuf_init(struct netvsp_rxbuf *rb, uint32_t size)
{
	memset(rb, 0, sizeof(*rb));
	rb->size = size - size % NETVSP_RXBUF_ALIGN;
	util_xid_init(&rb->xid);
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
