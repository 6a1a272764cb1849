/* vmbus_ring — one direction of a VMBus channel: a single-producer,
 * single-consumer packet ring in memory shared by two processes that do not
 * trust each other.
 *
 * Memory layout (offsets from the start of the ring's memory, never pointers):
 *
 *   0      +-------------------------------------------------------------+
 *          | line 0 (creator, read-only after format):                   |
 *          |   magic, version, size, feature_bits                        |
 *   128    | line 1 (PRODUCER writes, consumer reads): write_index       |
 *   256    | line 2 (CONSUMER writes, producer reads): read_index        |
 *   384    | line 3 (CONSUMER writes, rarely): interrupt_mask            |
 *   512    | line 4 (PRODUCER writes, rarely): pending_send_sz           |
 *   4096   +-------------------------------------------------------------+
 *          | data area: @size bytes, a power of two                      |
 *          |                                                             |
 *          |  ... [desc|ext|payload|pad][trailer] [desc|...][trailer] ...|
 *          |      ^read_index & mask               ^write_index & mask   |
 *   4096+size +----------------------------------------------------------+
 *
 * Each field sits on its own 128-byte span (a cache line plus the one the
 * adjacent-line prefetcher pulls in): the producer and the consumer never
 * write to the same line, and the flags each side reads on every burst
 * (interrupt_mask, pending_send_sz) are not on a line the other side
 * writes on every burst (its index), so reading them rarely misses.
 *
 * Indices are free-running unsigned 32-bit byte counts; a byte's position in
 * the data area is (index & (size - 1)). So:
 *
 *   used = write_index - read_index      (0 <= used <= size, a multiple of 8)
 *   free = size - used
 *
 * Ownership of the data area, for each side:
 *   - bytes in [read_index, write_index) belong to the CONSUMER: published
 *     packets it has not consumed. The producer never touches them.
 *   - bytes in [write_index, read_index + size) belong to the PRODUCER: free
 *     space it may fill. The consumer never reads them.
 * A packet becomes the consumer's when the producer stores write_index
 * (release); it goes back to the producer when the consumer stores read_index
 * (release). Each side keeps its own index privately and only ever STORES it
 * to the shared header; the peer's index is LOADED once per burst and
 * validated, so a scribbled header can't make either side read or write
 * outside the data area.
 *
 * Packet (all 8-byte aligned; may wrap around the end of the data area):
 *
 *   +0   struct vmbus_desc  {type, flags, len, offset, pad, trans_id}  16 bytes
 *   +16  extension bytes (offset - 16; type-specific, e.g. page ranges)
 *   +offset payload (len - offset - pad bytes) then pad (0..7) bytes
 *   +len trailer: u64 = (start index << 32) | len   (8 bytes)
 *
 * Signalling (the peer is told through a callback, an eventfd in practice):
 *   - the producer signals after a burst only when the ring was EMPTY before
 *     the burst (the consumer may be asleep) and the consumer has not set
 *     interrupt_mask (it is busy polling): at most one signal per burst.
 *   - a producer that finds no room stores the bytes it needs in
 *     pending_send_sz; the consumer signals it once, when a read burst makes
 *     free space cross that amount.
 *   - a consumer about to sleep clears interrupt_mask and checks for data
 *     once more (vmbus_ring_arm) so no wake-up is lost.
 *
 * Thread-safety: a struct vmbus_ring is one side of one ring and is used by
 * one thread at a time. The two sides may run concurrently in any processes.
 *
 * Errors: a value read from the shared header or a descriptor that breaks the
 * rules (the peer is buggy or hostile) latches the ring as broken: the call
 * returns what it read correctly before the bad packet, later calls return
 * -EPROTO, and vmbus_ring_error() names the field and the value.
 */
#ifndef IOVPATH_VMBUS_RING_H
#define IOVPATH_VMBUS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VMBUS_RING_MAGIC    0x52564f49u /* "IOVR" */
#define VMBUS_RING_VERSION  2u
#define VMBUS_RING_HDR_SIZE 4096u
#define VMBUS_RING_MIN_SIZE 4096u
#define VMBUS_RING_MAX_SIZE (1u << 30)

/* feature_bits */
#define VMBUS_RING_F_PENDING_SEND_SZ 0x1u

/* Packet types (the values Hyper-V uses) and flags. */
#define VMBUS_PKT_DATA_INBAND            6
#define VMBUS_PKT_DATA_XFER_PAGES        7
#define VMBUS_PKT_COMP                   11
#define VMBUS_PKT_F_COMPLETION_REQUESTED 0x1

struct vmbus_ring_hdr {
	/* line 0: written by the creator before the memory is shared */
	uint32_t magic;
	uint32_t version;
	uint32_t size; /* data-area bytes, a power of two */
	uint32_t feature_bits;
	uint8_t rsvd0[112];
	/* line 1: producer-owned, written every burst */
	uint32_t write_index;
	uint8_t rsvd1[124];
	/* line 2: consumer-owned, written every burst */
	uint32_t read_index;
	uint8_t rsvd2[124];
	/* line 3: consumer-owned, written when it sleeps and wakes */
	uint32_t interrupt_mask;
	uint8_t rsvd3[124];
	/* line 4: producer-owned, written when it finds no room */
	uint32_t pending_send_sz;
	uint8_t rsvd4[VMBUS_RING_HDR_SIZE - 516];
};
_Static_assert(sizeof(struct vmbus_ring_hdr) == VMBUS_RING_HDR_SIZE, "ring header is one page");
_Static_assert(offsetof(struct vmbus_ring_hdr, write_index) == 128, "producer line");
_Static_assert(offsetof(struct vmbus_ring_hdr, read_index) == 256, "consumer line");
_Static_assert(offsetof(struct vmbus_ring_hdr, interrupt_mask) == 384, "consumer flag line");
_Static_assert(offsetof(struct vmbus_ring_hdr, pending_send_sz) == 512, "producer flag line");

struct vmbus_desc {
	uint16_t type;
	uint16_t flags;
	uint32_t len;    /* descriptor + extension + payload + pad, bytes; multiple of 8 */
	uint16_t offset; /* descriptor start to payload, bytes; multiple of 8, >= 16, <= len */
	uint8_t pad;     /* padding bytes after the payload: 0..7 */
	uint8_t rsvd;    /* zero */
	uint32_t trans_id;
};
_Static_assert(sizeof(struct vmbus_desc) == 16, "descriptor is 16 bytes");
_Static_assert(offsetof(struct vmbus_desc, len) == 4, "desc.len");
_Static_assert(offsetof(struct vmbus_desc, offset) == 8, "desc.offset");
_Static_assert(offsetof(struct vmbus_desc, trans_id) == 12, "desc.trans_id");

#define VMBUS_TRAILER_SIZE 8u

/* Bytes a packet with @ext_len extension bytes and @len payload bytes takes in
 * the ring, trailer included. */
static inline uint32_t vmbus_pkt_space(uint32_t ext_len, uint32_t len)
{
	return (uint32_t)sizeof(struct vmbus_desc) + ext_len + ((len + 7u) & ~7u) +
	       VMBUS_TRAILER_SIZE;
}

/* Bytes of the shared memory a ring with a data area of @size bytes needs. */
static inline size_t vmbus_ring_mem_size(uint32_t size)
{
	return (size_t)VMBUS_RING_HDR_SIZE + size;
}

/* A packet to send. The payload is gathered from @iov; @ext (ext_len bytes, a
 * multiple of 8, at most 65520 - 16) goes between the descriptor and the payload. */
struct vmbus_tx {
	uint16_t type;
	uint16_t flags;
	uint32_t trans_id;
	const void *ext;
	uint32_t ext_len;
	const struct iovec *iov;
	unsigned int iovcnt;
};

/* A packet received: copied out of the ring into the caller's buffer. */
struct vmbus_rx {
	uint16_t type;
	uint16_t flags;
	uint32_t trans_id;
	const uint8_t *ext; /* extension bytes, ext_len of them */
	uint32_t ext_len;
	const uint8_t *data; /* payload, len bytes */
	uint32_t len;
};

/* Extension bytes of a VMBUS_PKT_DATA_XFER_PAGES packet: the payload lives
 * in a buffer both sides share (the guest's receive buffer), in @range_cnt
 * ranges; the packet itself carries only their places. */
struct vmbus_xfer_hdr {
	uint16_t xfer_pageset_id;
	uint8_t sender_owns_set;
	uint8_t rsvd;
	uint32_t range_cnt;
};
struct vmbus_xfer_range {
	uint32_t byte_count;
	uint32_t byte_offset;
};
_Static_assert(sizeof(struct vmbus_xfer_hdr) == 8, "xfer header");
_Static_assert(sizeof(struct vmbus_xfer_range) == 8, "xfer range");

enum vmbus_ring_role { VMBUS_RING_PRODUCER, VMBUS_RING_CONSUMER };

struct vmbus_ring {
	struct vmbus_ring_hdr *hdr;
	uint8_t *data;
	uint32_t size;
	uint32_t mask;
	uint32_t idx;      /* our own index, kept privately: write (producer) or read (consumer) */
	uint32_t peer_idx; /* the peer's index as last loaded and validated */
	enum vmbus_ring_role role;
	bool broken;
	void (*signal)(void *arg); /* tells the peer; NULL: never signal */
	void *signal_arg;
	uint64_t signals;     /* signals sent */
	uint64_t full_events; /* producer: times it found no room */
	bool pending;         /* producer: pending_send_sz was set (only we write it) */
	uint32_t pub;         /* producer: the write index the consumer was last shown */
	char err[160];        /* what broke the ring */
};

/* Initialise the header of a new ring in @mem (vmbus_ring_mem_size(size)
 * bytes, zeroed). Done by the side that creates the shared memory, before
 * sharing it. Returns 0, or -EINVAL when @size is not a power of two in
 * [VMBUS_RING_MIN_SIZE, VMBUS_RING_MAX_SIZE]. */
int vmbus_ring_format(void *mem, uint32_t size);

/* Attach one side to the ring in @mem, which the caller mapped with
 * vmbus_ring_mem_size(@size) bytes. Checks magic, version and size against
 * what the channel agreed, and the indices for consistency.
 * Returns 0; -EPROTO with vmbus_ring_error() set when the header is wrong. */
int vmbus_ring_attach(struct vmbus_ring *r, void *mem, uint32_t size, enum vmbus_ring_role role,
                      void (*signal)(void *arg), void *signal_arg);

/* Producer: write up to @n packets, publish them with one index store, and
 * signal the peer at most once. Returns the number written (fewer than @n when
 * the ring is full: pending_send_sz is then set and the consumer will signal
 * when room for the next packet appears), -EMSGSIZE when pkts[0] can never fit,
 * -EINVAL for a malformed request, -EPROTO when the ring is broken.
 * The payload bytes are copied; the caller keeps ownership of @pkts. */
int vmbus_ring_write(struct vmbus_ring *r, const struct vmbus_tx *pkts, unsigned int n);

/* Producer, in place: a packet filled where it will lie, with no copy (the
 * guest's VF driver reading a frame from its TAP straight into its queue).
 * vmbus_ring_reserve finds room for @ext_len extension bytes (a multiple of
 * 8) and up to @max body bytes after the packets written so far and
 * describes it in @s: extension then body, one region that may wrap (iov[1]
 * non-empty); vmbus_slot_iov cuts pieces out of it. Nothing is visible to
 * the consumer yet. The caller fills the slot, then vmbus_ring_commit seals
 * it as a packet of @type with @len body bytes (descriptor, padding,
 * trailer), or leaves it: a slot not committed costs nothing. Committed
 * packets become visible at vmbus_ring_publish (one index store, a signal as
 * vmbus_ring_write gives), or at the next vmbus_ring_write.
 * reserve returns 1; 0 when there is no room (pending_send_sz is then set;
 * as after vmbus_ring_write, a publish of what was written clears it, and a
 * producer about to sleep asks again with vmbus_ring_wait_room); -EMSGSIZE when such a packet can never fit;
 * -EINVAL; -EPROTO when the ring is broken. Commit only the slot reserved
 * last, before any other write. */
struct vmbus_slot {
	uint32_t w; /* where the packet starts (free-running index) */
	uint32_t ext_len, max;
	struct iovec iov[2];
};
int vmbus_ring_reserve(struct vmbus_ring *r, uint32_t ext_len, uint32_t max, struct vmbus_slot *s);
/* The iovecs (1 or 2) of bytes [@at, @at + @len) of @s's region. */
unsigned int vmbus_slot_iov(const struct vmbus_slot *s, uint32_t at, uint32_t len,
                            struct iovec out[2]);
void vmbus_ring_commit(struct vmbus_ring *r, const struct vmbus_slot *s, uint16_t type,
                       uint32_t len);
void vmbus_ring_publish(struct vmbus_ring *r);

/* Consumer: read up to @max packets, copying each into @buf (@buflen bytes),
 * and release their ring space with one index store; signal a waiting
 * producer at most once. Every byte of the ring is read once; descriptors are
 * validated on the copy. Returns the number of packets read (0: empty),
 * -ENOBUFS when @buf can't hold the first packet, -EPROTO when the ring is
 * broken (packets read before the bad one are still returned first). */
int vmbus_ring_read(struct vmbus_ring *r, struct vmbus_rx *pkts, unsigned int max, void *buf,
                    size_t buflen);

/* vmbus_ring_read without the copy: for a consumer of a producer it trusts
 * (the guest's VF driver reading what the NIC wrote), or one that decides on
 * no byte of a body in place without copying that byte first (the NIC
 * reading a VF's frames: nicdp copies each frame's head). Descriptors and
 * trailers are validated as there, on a copy; a body of VMBUS_PEEK_MIN bytes
 * or more that lies contiguous in the data area is handed out in place (an
 * untrusted peer can change it under the caller at any time); a shorter one,
 * or one that wraps, is copied into @buf. Nothing is released:
 * the packets stay valid, and their space held, until
 * vmbus_ring_release(@r, *@next) (call it before the next peek). Returns as
 * vmbus_ring_read. */
#define VMBUS_PEEK_MIN 512u /* vmbus_ring_peek copies bodies shorter than this */
int vmbus_ring_peek(struct vmbus_ring *r, struct vmbus_rx *pkts, unsigned int max, void *buf,
                    size_t buflen, uint32_t *next);
void vmbus_ring_release(struct vmbus_ring *r, uint32_t next);

/* Consumer: bytes published and not consumed (0: empty); -EPROTO if the
 * producer's index is invalid. */
int64_t vmbus_ring_avail(struct vmbus_ring *r);

/* Producer: true when a packet of @need ring bytes fits now. */
bool vmbus_ring_has_room(struct vmbus_ring *r, uint32_t need);

/* Consumer: before sleeping, ask to be signalled; returns true when the ring
 * is still empty (safe to sleep), false when data arrived meanwhile (go on
 * reading; interrupts are then masked again). */
bool vmbus_ring_arm(struct vmbus_ring *r);

/* Consumer: while busy polling, tell the producer not to signal. */
void vmbus_ring_disarm(struct vmbus_ring *r);

/* Producer: before sleeping for room, publish the bytes needed; returns true
 * when there is still no room (safe to sleep). */
bool vmbus_ring_wait_room(struct vmbus_ring *r, uint32_t need);

/* Why the ring broke ("" if it did not). */
static inline const char *vmbus_ring_error(const struct vmbus_ring *r)
{
	return r->err;
}

#endif
