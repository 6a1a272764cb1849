/* netvsc — the VM's synthetic network adapter (NetVSC): the guest end of
 * NVSP/RNDIS over a VMBus channel to the host's NetVSP (see
 * vswitch/netvsp.h for the message flow).
 *
 * netvsc_open() does the whole bring-up, each step waiting for the host's
 * answer (NETVSC_TIMEOUT_MS by default): connect the channel; NVSP INIT with
 * the range of versions the guest speaks (the host picks the highest common
 * one, or refuses: the error says both ranges); NDIS version and config
 * (MTU, SR-IOV and 802.1Q capability); receive buffer and send buffer shared
 * as GPADLs; RNDIS INITIALIZE; QUERY of MAC, maximum frame size, link speed
 * and media state; SET of the offloads (checksum, LSO v2) and the packet
 * filter (directed, multicast, broadcast). netvsc_close() halts RNDIS,
 * revokes both buffers, tears the GPADLs down and closes the channel.
 *
 * Transmit. A frame goes as an RNDIS PACKET_MSG (offloads from its
 * virtio_net_hdr as per-packet info) into the open send-buffer section;
 * frames are packed back to back (8-byte aligned) until the section is full
 * or the burst ends, then one SEND_RNDIS_PKT names the section. A frame
 * larger than a section, or any frame when no section is free, goes inline in
 * the ring. When the ring has no room either, netvsc_tx_burst takes fewer
 * frames than offered: back-pressure, never a silent drop (tx_send_full
 * counts it; wait with netvsc_wait(NETVSC_EV_TX)). Sections come back with
 * the host's completions, which arrive on the receive ring: a guest that only
 * sends still calls netvsc_rx_burst() or netvsc_poll().
 *
 * Receive. Frames arrive in the receive buffer, named by transfer-page
 * packets; netvsc_rx_burst() hands them out in place (zero copy), valid
 * until the next netvsc_rx_burst() or netvsc_close(), and completes the
 * transfers the call before handed out. Control traffic on the same ring
 * (request answers, INDICATE_STATUS, SEND_VF_ASSOCIATION) is handled on the
 * way; a transfer met while waiting for a control answer is kept, in order.
 *
 * The VF (SPEC §4, §5). NetVSC is the one adapter the guest sees; a VF the
 * host hot-adds (VPCI_ADD on the channel's socket) is started under it
 * (vf.h) and never shown. The VF's state (netvsc_vf_state):
 *
 *   NONE --VPCI_ADD: vf_start--> ADDED --SEND_VF_ASSOCIATION {1, serial}
 *   matching the VF's serial AND MAC: bind, SWITCH_DATA_PATH(VF)--> SWITCHING
 *   --the host's completion--> ACTIVE: unicast goes out on the VF; broadcast
 *   and multicast stay synthetic
 *   ACTIVE --VPCI_REMOVE, or association {0}--> LEAVING: transmit is back on
 *   synthetic at once, SWITCH_DATA_PATH(synthetic) goes out; after its
 *   completion the VF's receive queue is drained (the host has moved the
 *   filter back: nothing more comes) --> on VPCI_REMOVE: vf_stop,
 *   VPCI_REMOVE_DONE, NONE; on association {0}: ADDED (unbound).
 *
 * Receive always drains both the synthetic ring and the VF's queue (from
 * VPCI_ADD to the end), so no frame is lost while the filter moves; the VF's
 * broadcast and multicast are skipped (they come on the synthetic path too).
 * A data path request never blocks: the state advances in netvsc_poll and
 * netvsc_rx_burst (the drain), with NETVSC_TIMEOUT_MS for each completion.
 * The VF disappearing under the driver (its bursts fail with -ENODEV after
 * the host's function level reset: surprise removal) sends everything back
 * to synthetic: the adapter is never lost. VPCI messages (and MIGRATE:
 * netvsc_migration) are read by netvsc_poll, netvsc_wait and the
 * synchronous requests.
 *
 * Trust: the host is trusted as a hypervisor is, but every range, offset and
 * length it names is still checked against the buffers before use, and a
 * completion for a transaction not in flight is counted and ignored; VPCI
 * messages are validated (vmbus_vpci_decode) and a VF whose serial or MAC
 * disagrees with its association is not bound.
 *
 * Thread-safety: one thread. Ownership: netvsc_open returns an adapter freed
 * by netvsc_close. Errors: netvsc_open returns NULL with errno set and @err
 * filled; other calls return a negative errno: -ETIMEDOUT (the host did not
 * answer), -EIO (it answered with a failure status, see netvsc_last_error),
 * -EPIPE (the host is gone), -EPROTO (the channel broke).
 */
#ifndef IOVPATH_GUEST_NETVSC_H
#define IOVPATH_GUEST_NETVSC_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "port/port.h"
#include "util/xid.h"
#include "vmbus/vmbus_chan.h"

#define NETVSC_TIMEOUT_MS    2000
#define NETVSC_RECV_BUF_SIZE (4u << 20)
#define NETVSC_SEND_BUF_SIZE (1u << 20)
#define NETVSC_RING_SIZE     (1u << 20)
#define NETVSC_BURST         64u /* ring packets read at once */
#define NETVSC_MAX_SECTIONS  2048u
#define NETVSC_GPADL_RECV    1u
#define NETVSC_GPADL_SEND    2u

struct netvsc;

enum netvsc_event {
	NETVSC_EV_VF_ASSOC,       /* value: serial; netvsc->vf_allocated says added or removed */
	NETVSC_EV_MEDIA,          /* value: 1 connected, 0 disconnected */
	NETVSC_EV_NETWORK_CHANGE, /* value: 0 */
};

/* Test quirks (netvsc_config.quirks): a guest that misbehaves on purpose. */
#define NETVSC_QUIRK_NO_SWITCH     0x1u /* bind a VF, never ask for the VF data path */
#define NETVSC_QUIRK_IGNORE_REMOVE 0x2u /* ignore VPCI_REMOVE (the host must time out) */

enum netvsc_vf_state {
	NETVSC_VF_NONE,      /* no VF: synthetic */
	NETVSC_VF_ADDED,     /* hot-added and started, not bound */
	NETVSC_VF_SWITCHING, /* bound; SWITCH_DATA_PATH(VF) sent: transmit still synthetic */
	NETVSC_VF_ACTIVE,    /* the host completed: unicast out on the VF */
	NETVSC_VF_LEAVING,   /* back to synthetic: waiting for the completion, draining the VF */
};

struct netvsc_config {
	const char *path;          /* the host's channel socket */
	const char *name;          /* adapter name the host knows (< VMBUS_NAME_MAX) */
	const uint8_t *secret;     /* VMBUS_SECRET_LEN bytes, or NULL */
	uint32_t ver_min, ver_max; /* NVSP versions offered; 0: every known one */
	uint32_t ring_size;        /* each direction; 0: NETVSC_RING_SIZE */
	uint32_t recv_buf_size;    /* 0: NETVSC_RECV_BUF_SIZE */
	uint32_t send_buf_size;    /* 0: NETVSC_SEND_BUF_SIZE */
	int timeout_ms;            /* per request; 0: NETVSC_TIMEOUT_MS */
	void (*event)(void *arg, struct netvsc *nv, enum netvsc_event ev, uint32_t value);
	void *event_arg;
	/* VF events, by name: "vf.added", "vf.mismatch" (an association that does
	 * not match the VF), "datapath.vf", "datapath.synthetic", "vf.removed",
	 * "vf.error"; @detail says more. Optional; gets event_arg. */
	void (*vf_event)(void *arg, struct netvsc *nv, const char *event, const char *detail);
	uint32_t quirks; /* NETVSC_QUIRK_*: tests only */
};

/* Counters, named as `ethtool -S` names them on a Linux netvsc adapter. */
struct netvsc_stats {
	uint64_t rx_packets, rx_bytes, rx_errors; /* rx_errors: bad ranges or RNDIS from the host */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_send_full; /* bursts cut short: no section and no ring room (back-pressure) */
	uint64_t tx_inline;    /* frames sent inline in the ring */
	uint64_t tx_sections;  /* send-buffer sections sent */
	uint64_t tx_dropped;   /* frames whose offload metadata described no valid frame */
	uint64_t rx_xfers;     /* transfer-page packets completed */
	uint64_t bad_completions;
	uint64_t vf_assoc_events;
	uint64_t indications;
	/* the VF path (the rx_* and tx_* above count the synthetic path only) */
	uint64_t vf_rx_packets, vf_rx_bytes;
	uint64_t vf_tx_packets, vf_tx_bytes;
	uint64_t vf_tx_dropped;       /* frames the VF's queue can never take */
	uint64_t vf_rx_mcast_skipped; /* broadcast/multicast the VF got too: taken from synthetic */
	uint64_t vf_assoc_mismatch;   /* associations not bound: serial or MAC disagree */
};

struct netvsc {
	/* what the host told (read-only for users) */
	uint8_t mac[6];
	uint32_t mtu; /* bytes after the Ethernet header */
	uint32_t link_speed;
	bool media_connected;
	uint32_t version; /* NVSP */
	uint32_t section_size, nsec;
	bool vf_allocated;
	uint32_t vf_serial;
	uint32_t datapath; /* NVSP_DATAPATH_* the host completed last */
	enum netvsc_vf_state vf_state;
	struct netvsc_stats st;
	char err[256];
	/* the rest is private: see netvsc.c */
	struct netvsc_priv *p;
};

struct netvsc *netvsc_open(const struct netvsc_config *cfg, char *err, size_t errlen);
void netvsc_close(struct netvsc *nv);

/* Frames queued (copied into the send buffer or the ring), in order; fewer
 * than @n on back-pressure. Negative errno when the channel is gone. */
int netvsc_tx_burst(struct netvsc *nv, const struct port_pkt *pkts, unsigned int n);

/* Frames read straight into the VF's transmit queue: with no copy of the
 * guest's own (a TAP's frames go from the kernel into the queue). While the
 * VF carries transmit, up to @max times: a slot for one frame of up to
 * PORT_MAX_FRAME bytes is described to @fill as iovecs, a virtio_net_hdr's
 * bytes then the frame's; @fill reads one frame into them and returns the
 * bytes (header included, at least the header and 14), 0 when there is none,
 * or a negative errno. Unicast goes to the VF; a broadcast or multicast
 * frame is copied into @spill (its data, PORT_MAX_FRAME bytes, the caller's)
 * and ends the call: send it with netvsc_tx_burst (synthetic's). Returns the
 * frames sent; -EAGAIN when none could be (not on the VF path, its queue
 * full or blocked, a VLAN tag to insert, a reset): use netvsc_tx_burst,
 * which knows what to do about each; or @fill's error. */
typedef ssize_t (*netvsc_fill_fn)(void *arg, const struct iovec *iov, unsigned int iovcnt);
int netvsc_tx_fill(struct netvsc *nv, netvsc_fill_fn fill, void *arg, unsigned int max,
                   struct port_pkt *spill);

/* Frames received, at most @max; they stay valid until the next call. */
int netvsc_rx_burst(struct netvsc *nv, struct port_pkt *pkts, unsigned int max);

/* Handle completions and control traffic (VPCI messages on the socket
 * included) without taking frames, and advance the VF's state. The frames
 * the last netvsc_rx_burst handed out stay valid (their transfers are
 * completed by the next netvsc_rx_burst). Returns the packets handled or a
 * negative errno. */
int netvsc_poll(struct netvsc *nv);

/* Live migration (host/migrate.h): true once after the host sent MIGRATE
 * (and no MIGRATE_CANCEL after it: the host gave up, the adapter stays),
 * with where the adapter lives now in *@m. The caller quiesces, halts this
 * adapter (netvsc_halt: every frame sent is through, every frame delivered
 * is here), hands out what came, closes it and opens the new one
 * (netvsc_open with @m's channel, name and secret). */
bool netvsc_migration(struct netvsc *nv, struct vmbus_migrate *m);

/* RNDIS HALT, and wait (at most 500 ms) for the host's completion of it:
 * every frame sent before is through, and every frame the host delivered
 * before it is here: netvsc_rx_burst hands them out still. From then on the
 * host delivers nothing more (a migrating adapter's frames are forwarded to
 * its new host). netvsc_close halts unless this did. 0 or a negative errno. */
int netvsc_halt(struct netvsc *nv);

#define NETVSC_EV_RX 0x1u /* frames or control traffic wait */
#define NETVSC_EV_TX 0x2u /* a burst cut short can go on */
/* Sleep (after a short spin) until one of @events; see vmbus_chan_wait. A
 * VPCI message that arrives meanwhile is handled and counts as NETVSC_EV_RX. */
int netvsc_wait(struct netvsc *nv, unsigned int events, int timeout_ms);

/* Before sleeping in poll() with descriptors of its own: arm the channel
 * (and, when the last burst was cut short, ask for room), the VF's receive
 * queues and doorbell, and put the descriptors to wait on in @pfd (at most
 * @max: the channel's eventfd and socket, the VF's doorbell). Returns how
 * many, or -1 when work is waiting already (don't sleep). */
int netvsc_arm(struct netvsc *nv, struct pollfd *pfd, int max);
/* After waking: busy-polling again, ask the host and the NIC not to signal.
 * @pfd: the array netvsc_arm filled, after poll() (its revents say which
 * doorbell to drain and whether to look at the socket), or NULL when not
 * known (or poll was not called): then both are done. */
void netvsc_disarm(struct netvsc *nv, const struct pollfd *pfd);

/* The VF's state, and its name ("none", "added", "switching", "active",
 * "leaving"). */
static inline enum netvsc_vf_state netvsc_vf_state(const struct netvsc *nv)
{
	return nv->vf_state;
}
const char *netvsc_vf_state_name(enum netvsc_vf_state s);

/* Synchronous RNDIS requests. QUERY: up to *@len bytes into @out, *@len
 * set to the answer's size. -EIO with the NDIS status in netvsc_last_error
 * when the host refused. */
int netvsc_query(struct netvsc *nv, uint32_t oid, void *out, uint32_t *len);
int netvsc_set(struct netvsc *nv, uint32_t oid, const void *in, uint32_t len);
int netvsc_keepalive(struct netvsc *nv);

/* SWITCH_DATA_PATH: ask the host to send on @path (NVSP_DATAPATH_*) and wait
 * for its completion. -ENOTSUP before NVSP 4. */
int netvsc_switch_datapath(struct netvsc *nv, uint32_t path);

/* Send one raw NVSP/VMBus packet (tests of a hostile guest). */
int netvsc_send_raw(struct netvsc *nv, uint16_t type, uint16_t flags, uint32_t trans_id,
                    const void *data, uint32_t len);
struct vmbus_chan *netvsc_chan(struct netvsc *nv);

static inline const char *netvsc_last_error(const struct netvsc *nv)
{
	return nv->err;
}

#endif
