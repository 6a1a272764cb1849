/* netvsp — the host end of one VM network adapter's synthetic path (NetVSP):
 * NVSP over a VMBus channel, RNDIS inside, between the VM's NetVSC and the
 * extensible switch. One struct netvsp per channel.
 *
 *   NetVSC (VM)                                   NetVSP (host)
 *     INIT {ver_min, ver_max} ------------------>  highest common version
 *     <-------------------------------- INIT_COMPLETE {ver, status}
 *     SEND_NDIS_VER, SEND_NDIS_CONFIG {mtu, caps}
 *     GPADL (socket) + SEND_RECV_BUF ----------->  map; sections
 *     <------------------------- SEND_RECV_BUF_COMPLETE {1 section}
 *     GPADL (socket) + SEND_SEND_BUF ----------->  map; cut into sections
 *     <------------------------- SEND_SEND_BUF_COMPLETE {section size}
 *     SEND_RNDIS_PKT control (inline) ---------->  rndis_oid_respond()
 *     <------------ SEND_RNDIS_PKT control (inline), completion
 *     SEND_RNDIS_PKT data {section i, bytes} --->  copy the section, walk its
 *                                                  PACKET_MSGs, frames -> ops.rx
 *     <--------------------------------- completion (the section is free again)
 *     <--- XFER_PAGES {ranges in the recv buffer} + SEND_RNDIS_PKT data
 *     completion {trans id} -------------------->  the ranges are free again
 *
 * Transfers. Guest to host, a SEND_RNDIS_PKT names a send-buffer section
 * (several PACKET_MSGs back to back, each padded to 8 bytes) or carries its
 * RNDIS bytes inline, right after the NVSP message (NVSP_MSG_SIZE bytes) in
 * the same VMBus packet. Host to guest, data goes into the receive buffer:
 * one transfer-page packet describes up to NETVSP_XFER_RANGES ranges, one
 * PACKET_MSG each, and the guest's completion (matched by transaction id, see
 * netvsp_rxbuf) gives them back; control answers go inline.
 *
 * Trust (SPEC §8). Everything the VM writes is read once, copied, then
 * checked: ring packets are copied out by the ring; a send-buffer section is
 * copied into a private buffer before its first byte is looked at; NVSP and
 * RNDIS are decoded by the validating decoders in src/proto. What a hostile
 * VM gets, by class:
 *   - a malformed or unknown NVSP message, a section index out of range, a
 *     bad RNDIS message in a transfer, a completion for a transaction never
 *     sent, a malformed VPCI control message or one only the host sends:
 *     reported (ops.log, a counter, netvsp_last_error), that message
 *     dropped (its transfer completed with a failure status), service goes on;
 *   - a message whose loss leaves the protocol state unknown (anything before
 *     INIT, a second INIT with another version, a buffer that won't map): the
 *     channel is closed (netvsp_poll returns -EPROTO); the daemon removes the
 *     adapter. Every other VM is untouched: one netvsp owns nothing shared.
 *   - a flood: netvsp_poll does bounded work per call (NETVSP_POLL_BUDGET
 *     ring packets, NETVSP_CTL_BUDGET messages from the control socket) and
 *     stops reading control requests while its answers can't be sent (the
 *     ring is full), so memory stays bounded and the caller can serve other
 *     VMs between calls. A data transfer that waits for ops.rx is parsed
 *     again when offered again; a bad message in it is reported once.
 *
 * Back-pressure. ops.rx returns how many frames it took; when it takes fewer
 * the rest of the transfer waits (not completed, not dropped) and is offered
 * again by the next netvsp_poll. netvsp_send returns how many frames fitted
 * in the guest's receive buffer and ring; the caller decides (the switch
 * counts the rest as port-full drops). While a transfer waits, nothing
 * behind it in the VM's ring is read — the VM's completions of receive
 * transfers included — so ops.rx must not wait for room that only this
 * VM's own completions can make (its receive buffer, its ring): the switch
 * never waits (it drops), and a loopback that passes netvsp_send's answer
 * back (bench synthetic) must keep fewer frames in flight than the VM's
 * send sections and ring hold (measured: 4096 frames of 64 bytes run; 8192
 * run out of sections, fall back to inline packets and crawl; 16384 stall
 * with both rings full), and fewer than its receive buffer holds (a full
 * one waits for completions behind the waiting transfer: bench synthetic
 * keeps half of it at most, 1310 frames of 1500 bytes in 4 MiB).
 *
 * Thread-safety: one thread drives a netvsp (poll, send, and the control
 * calls). Ownership: netvsp_create takes the channel; netvsp_destroy closes it.
 * Errors: negative errno; -EPROTO (the VM broke the protocol: the channel is
 * closed), -EPIPE (the VM is gone), -EAGAIN (not ready: no buffers yet, ring
 * full), -ENOTSUP (not in the negotiated version).
 */
#ifndef IOVPATH_VSWITCH_NETVSP_H
#define IOVPATH_VSWITCH_NETVSP_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/nvsp.h"
#include "proto/rndis_oid.h"
#include "vmbus/vmbus_chan.h"
#include "vswitch/netvsp_rxbuf.h"
#include "vswitch/vsw.h"

#define NETVSP_POLL_BUDGET   64u   /* ring packets handled per netvsp_poll */
#define NETVSP_CTL_BUDGET    64u   /* control-socket messages handled per netvsp_poll */
#define NETVSP_XFER_RANGES   64u   /* frames per host-to-guest transfer packet */
#define NETVSP_SECTION_SIZE  6144u /* send-buffer section size the host assigns */
#define NETVSP_MAX_GPADLS    4u
#define NETVSP_BURST         64u /* frames per ops.rx call */
#define NETVSP_RECV_BUF_MIN  (64u << 10)
/* The host writes all of a receive buffer in time, and the pages it first
 * touches are charged to it: no more than this (Linux netvsc's largest is
 * 31 MiB; a guest asks for NETVSC_RECV_BUF_SIZE, 4 MiB). */
#define NETVSP_RECV_BUF_MAX  (32u << 20)
#define NETVSP_SEND_SECTIONS 2048u /* at most this many send-buffer sections */

struct netvsp;

struct netvsp_ops {
	/* Frames the VM sent, valid during the call; return how many were taken
	 * (the rest are offered again later). Required. */
	unsigned int (*rx)(void *ctx, struct netvsp *v, const struct vsw_frame *f, unsigned int n);
	/* The VM asked for a data path (NVSP_DATAPATH_*); the switch completes
	 * when this returns. Optional. */
	void (*datapath)(void *ctx, struct netvsp *v, uint32_t path);
	/* A VPCI message from the VM (today only VMBUS_CTL_VPCI_REMOVE_DONE),
	 * well-formed (vmbus_vpci_decode); whether it makes sense is for the
	 * callee. Optional: without it the message is reported and dropped. */
	void (*vpci)(void *ctx, struct netvsp *v, uint16_t type, uint32_t serial);
	/* A report: level 0 error (hostile or broken VM), 1 notice. Optional. */
	void (*log)(void *ctx, struct netvsp *v, int level, const char *msg);
};

struct netvsp_config {
	const char *name; /* for logs */
	uint8_t mac[6];
	uint32_t mtu;        /* 0: 1500 */
	uint32_t link_speed; /* 100 bit/s units; 0: 10 Gbit/s */
	uint32_t ver_max;    /* highest NVSP version offered; 0: NVSP_VERSION_61 */
};

struct netvsp_stats {
	uint64_t rx_frames, rx_bytes; /* VM -> host */
	uint64_t tx_frames, tx_bytes; /* host -> VM */
	uint64_t tx_no_room;          /* host -> VM frames refused: receive buffer or ring full */
	uint64_t tx_filtered;         /* host -> VM frames the packet filter refused */
	uint64_t tx_bad;              /* host -> VM frames whose offload info no PPI can carry */
	uint64_t rx_sections, rx_inline; /* VM transfers by kind */
	uint64_t ctl_msgs;               /* RNDIS control requests answered */
	uint64_t ctl_throttled;          /* polls that stopped because answers could not be sent */
	uint64_t bad_nvsp;               /* undecodable or unexpected NVSP messages */
	uint64_t bad_rndis;              /* undecodable RNDIS messages or transfers */
	uint64_t bad_section;            /* section index or size out of range */
	uint64_t bad_completion;         /* completions for transactions never sent */
	uint64_t bad_offload;            /* VM -> host PPIs that describe no valid frame */
	uint64_t rx_pending;             /* times ops.rx took less than offered */
	uint64_t bad_vpci;               /* VPCI control messages malformed or not the VM's */
};

enum netvsp_state {
	NETVSP_WAIT_INIT, /* channel open, no NVSP INIT yet */
	NETVSP_READY,     /* version agreed */
	NETVSP_CLOSED,    /* protocol broken or peer gone */
};

/* Start serving @ch (taken). NULL with errno on failure. */
struct netvsp *netvsp_create(struct vmbus_chan *ch, const struct netvsp_config *cfg,
                             const struct netvsp_ops *ops, void *ctx);
void netvsp_destroy(struct netvsp *v);

/* Handle what the VM sent: up to NETVSP_CTL_BUDGET control messages on the
 * socket, then up to NETVSP_POLL_BUDGET ring packets. Returns the work done
 * (messages and packets handled, 0: idle), -EPROTO, -EPIPE. */
int netvsp_poll(struct netvsp *v);

/* Before sleeping on the channel: false when work is waiting already. The
 * next netvsp_poll looks at the channel's socket (a control message, or the
 * VM gone), unless netvsp_woken says it did not poll readable. */
bool netvsp_arm(struct netvsp *v);
/* After the sleep: @ctl, whether the channel's socket polled readable. */
void netvsp_woken(struct netvsp *v, bool ctl);

/* Deliver @n frames to the VM through its receive buffer. Returns how many
 * were taken (frames the packet filter refuses count as taken and are
 * counted in tx_filtered); fewer when the buffer or ring is full; -EAGAIN
 * before the VM is ready to receive; -EPROTO/-EPIPE. */
int netvsp_send(struct netvsp *v, const struct vsw_frame *f, unsigned int n);

/* SEND_VF_ASSOCIATION {allocated, serial} (NVSP 4+). */
int netvsp_vf_assoc(struct netvsp *v, bool allocated, uint32_t serial);

/* INDICATE_STATUS (media connect/disconnect, network change). */
int netvsp_indicate(struct netvsp *v, uint32_t status);

/* The channel, for waiting (vmbus_chan_wait) or its fds. */
struct vmbus_chan *netvsp_chan(struct netvsp *v);
enum netvsp_state netvsp_state(const struct netvsp *v);
uint32_t netvsp_version(const struct netvsp *v);
uint32_t netvsp_datapath(const struct netvsp *v);
const struct rndis_oid_adapter *netvsp_adapter(const struct netvsp *v);
void netvsp_get_stats(const struct netvsp *v, struct netvsp_stats *st);
/* The last problem reported ("" if none). */
const char *netvsp_last_error(const struct netvsp *v);

#endif
