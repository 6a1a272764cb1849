/* vfbar — a virtual function's "BAR": the memory and doorbells the emulated
 * NIC shares with the VF driver in a VM. The NIC (host) creates it; VPCI
 * hands its descriptors to the VM on hot-add; the VF driver maps it.
 *
 * Memory (one memfd, created and sealed by the NIC; offsets, never pointers):
 *
 *   0                      header page: magic, version, num_qp, ring_size, offsets
 *   4096                   mailbox page (the PF/VF backchannel)
 *   8192                   qp 0 tx ring (VF produces, NIC consumes): vmbus_ring layout
 *   8192 + R               qp 0 rx ring (NIC produces, VF consumes)
 *   ...                    qp 1 tx, qp 1 rx, ...     (R = vmbus_ring_mem_size(ring_size))
 *
 * Doorbells: two eventfds — one the VF rings to wake the NIC (frames to send,
 * room made in rx, a mailbox request), one the NIC rings to wake the VF
 * (frames received, room in tx, a mailbox response, invalidated blocks).
 *
 * Queue pairs carry one frame per ring packet; the frame's virtio-net header
 * (checksum/TSO offload) rides in the packet's 16 extension bytes, so
 * offloads pass end to end on the VF path.
 *
 * Mailbox (backchannel, SPEC §6): the VF writes a request and then bumps
 * req_seq; the PF copies the request once, validates it, performs it (config
 * space or config block read/write, through the NIC's PF operations) and
 * writes the response with resp_seq = req_seq. The PF invalidates config
 * blocks by OR-ing bits into `invalidate`; the VF takes them with an atomic
 * exchange and re-reads those blocks. One request at a time.
 *
 * Trust: the NIC side treats every byte the VF writes (ring indices,
 * descriptors, mailbox requests) as hostile: rings are validated by
 * vmbus_ring; mailbox requests are copied and checked by vfbar_mbox_take().
 *
 * Thread-safety: each side of a BAR is used by one thread at a time.
 * Errors: 0 or a negative errno; constructors return NULL and set errno.
 */
#ifndef IOVPATH_NIC_VFBAR_H
#define IOVPATH_NIC_VFBAR_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmbus/vmbus_ring.h"

#define VFBAR_MAGIC     0x46564f49u /* "IOVF" */
#define VFBAR_VERSION   1u
#define VFBAR_MAX_QP    16u
#define VFBAR_MBOX_DATA 1024u

struct vfbar_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t num_qp;
	uint32_t ring_size; /* data bytes of each ring */
	uint64_t mbox_off;
	uint64_t qp_off;
	uint64_t total_size;
	uint32_t flr; /* NIC-written: function level resets so far (the VF compares) */
	uint32_t rsvd0;
	uint8_t rsvd[4096 - 48];
};
_Static_assert(sizeof(struct vfbar_hdr) == 4096, "BAR header is one page");
_Static_assert(offsetof(struct vfbar_hdr, flr) == 40, "hdr.flr");

enum vfbar_op {
	VFBAR_OP_READ_CONFIG = 1,  /* arg0 offset, arg1 length -> data */
	VFBAR_OP_WRITE_CONFIG = 2, /* arg0 offset, arg1 length, data */
	VFBAR_OP_READ_BLOCK = 3,   /* arg0 block id, arg1 max length -> data */
	VFBAR_OP_WRITE_BLOCK = 4,  /* arg0 block id, arg1 length, data */
};

struct vfbar_mbox {
	/* VF-written */
	uint32_t req_seq;
	uint32_t req_op;
	uint32_t req_arg0;
	uint32_t req_arg1;
	uint8_t req_data[VFBAR_MBOX_DATA];
	uint8_t rsvd0[2048 - 16 - VFBAR_MBOX_DATA];
	/* PF-written */
	uint32_t resp_seq;
	int32_t resp_status; /* 0 or a negative errno */
	uint32_t resp_len;
	uint32_t rsvd1;
	uint8_t resp_data[VFBAR_MBOX_DATA];
	uint64_t invalidate; /* PF ORs bits in; VF exchanges with 0 */
	uint8_t rsvd2[2048 - 24 - VFBAR_MBOX_DATA];
};
_Static_assert(sizeof(struct vfbar_mbox) == 4096, "mailbox is one page");
_Static_assert(offsetof(struct vfbar_mbox, resp_seq) == 2048, "PF half on its own lines");

/* One frame's extension bytes on a queue-pair ring. */
struct vfbar_ext {
	struct virtio_net_hdr vnet;
	uint8_t pad[16 - sizeof(struct virtio_net_hdr)];
};
_Static_assert(sizeof(struct vfbar_ext) == 16, "8-aligned extension");

enum vfbar_side { VFBAR_NIC, VFBAR_VF };

struct vfbar {
	enum vfbar_side side;
	int memfd;
	int efd_nic; /* the NIC sleeps on it; the VF rings it */
	int efd_vf;  /* the VF sleeps on it; the NIC rings it */
	uint8_t *mem;
	size_t size;
	uint32_t num_qp;
	uint32_t ring_size;
	struct vfbar_mbox *mbox;
	uint32_t mbox_seen; /* NIC: last request served; VF: last request sent */
	uint32_t flr_seen;  /* VF: hdr.flr when it attached */
	/* Each side's view: tx[i] and rx[i] are the rings of queue pair i, from
	 * this side (the VF produces tx, the NIC consumes it). */
	struct vmbus_ring tx[VFBAR_MAX_QP];
	struct vmbus_ring rx[VFBAR_MAX_QP];
	uint64_t doorbells; /* times this side rang the other */
	char err[160];
};

/* NIC: create a BAR with @num_qp queue pairs (1..VFBAR_MAX_QP, a power of
 * two) of @ring_size bytes per ring. */
struct vfbar *vfbar_create(uint32_t num_qp, uint32_t ring_size);

/* VF: map a BAR from its descriptors (taken over: closed by vfbar_destroy,
 * and on failure). Checks seals, size, magic, version, layout and every
 * ring's header; on failure NULL, errno EPROTO and @err says why. */
struct vfbar *vfbar_attach(int memfd, int efd_nic, int efd_vf, char *err, size_t errlen);

/* Unmap and close. */
void vfbar_destroy(struct vfbar *b);

/* NIC: function level reset of the queues — every ring back to empty (the
 * frames that were in them are returned for the drop counters), hdr.flr
 * bumped and the VF's doorbell rung. The VF driver must attach again. */
uint64_t vfbar_reset_queues(struct vfbar *b);

/* VF: has the function been reset since this side attached? (Then its
 * queues are not its own any more: the device is gone for the driver.) */
bool vfbar_was_reset(const struct vfbar *b);

/* Ring the other side's doorbell. */
void vfbar_ring_doorbell(struct vfbar *b);

/* VF: send a mailbox request (@len bytes of @data for writes) and wait up to
 * @timeout_ms for the response; the response data (at most @outlen bytes)
 * goes to @out. Returns the response length, the PF's negative errno, or
 * -ETIMEDOUT. */
int vfbar_mbox_call(struct vfbar *b, enum vfbar_op op, uint32_t arg0, uint32_t arg1,
                    const void *data, uint32_t len, void *out, uint32_t outlen, int timeout_ms);

/* A mailbox request as the NIC took it: a validated copy. */
struct vfbar_req {
	uint32_t seq;
	enum vfbar_op op;
	uint32_t arg0, arg1;
	uint8_t data[VFBAR_MBOX_DATA];
};

/* NIC: take a new request if the VF posted one. Returns 1 (in @req), 0 when
 * none is new, -EPROTO for a malformed one (answered with -EINVAL already). */
int vfbar_mbox_take(struct vfbar *b, struct vfbar_req *req);

/* NIC: answer the request taken last. */
void vfbar_mbox_reply(struct vfbar *b, const struct vfbar_req *req, int status, const void *data,
                      uint32_t len);

/* NIC: mark config blocks invalid (bit i = block i) and ring the VF. */
void vfbar_invalidate(struct vfbar *b, uint64_t mask);

/* VF: take the pending invalidation bits (and clear them). */
uint64_t vfbar_take_invalidations(struct vfbar *b);

#endif
