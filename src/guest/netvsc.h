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
 * Trust: the host is trusted as a hypervisor is, but every range, offset and
 * length it names is still checked against the buffers before use, and a
 * completion for a transaction not in flight is counted and ignored.
 *
 * Thread-safety: one thread. Ownership: netvsc_open returns an adapter freed
 * by netvsc_close. Errors: netvsc_open returns NULL with errno set and @err
 * filled; other calls return a negative errno: -ETIMEDOUT (the host did not
 * answer), -EIO (it answered with a failure status, see netvsc_last_error),
 * -EPIPE (the host is gone), -EPROTO (the channel broke).
 */
#ifndef IOVPATH_GUEST_NETVSC_H
#define IOVPATH_GUEST_NETVSC_H

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

/* Frames received, at most @max; they stay valid until the next call. */
int netvsc_rx_burst(struct netvsc *nv, struct port_pkt *pkts, unsigned int max);

/* Handle completions and control traffic without taking frames. Returns the
 * packets handled or a negative errno. */
int netvsc_poll(struct netvsc *nv);

#define NETVSC_EV_RX 0x1u /* frames or control traffic wait */
#define NETVSC_EV_TX 0x2u /* a burst cut short can go on */
/* Sleep (after a short spin) until one of @events; see vmbus_chan_wait. */
int netvsc_wait(struct netvsc *nv, unsigned int events, int timeout_ms);

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
