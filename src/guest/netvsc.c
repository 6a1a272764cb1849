/* netvsc — see netvsc.h. */
#include "guest/netvsc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "guest/vf.h"
#include "nic/nic.h"
#include "proto/nvsp.h"
#include "proto/rndis.h"
#include "proto/rndis_oid.h"
#include "proto/rndis_vnet.h"
#include "util/util.h"

#define MAX_RANGES   256u  /* ranges per transfer-page packet we accept */
#define TX_BATCH     64u   /* VMBus packets per ring write */
#define CTL_MAX      4096u /* largest RNDIS control message */
#define CTL_EVERY    64u   /* netvsc_poll calls between looks at the control socket */
#define RNDIS_XFER   (64u << 10)
#define STASH_RANGES (1u << 20) /* ranges kept while waiting for a control answer */
#define DONE_MAX     1024u      /* completions not yet written */

/* A transfer-page packet met while waiting for a control answer. */
struct stash {
	struct stash *next;
	uint32_t trans_id;
	uint32_t nr, next_range;
	struct vmbus_xfer_range r[];
};

/* A transfer being handed out by rx_burst. */
struct cur_xfer {
	bool active;
	uint32_t trans_id;
	uint32_t nr, next_range;
	const struct vmbus_xfer_range *r;
};

struct netvsc_priv {
	/* control messages (VPCI) are rare: the socket is looked at on every
	 * CTL_EVERY-th poll, and on the first poll after a sleep it woke */
	unsigned int ctl_tick;
	bool ctl_check;
	int arm_efd, arm_sock, arm_vf; /* netvsc_arm's entries in the caller's pfd, or -1 */
	struct vmbus_chan *ch;
	struct netvsc_config cfg;
	int timeout_ms;
	/* a MIGRATE the host sent, until netvsc_migration takes it */
	struct vmbus_migrate migr;
	bool migr_pending;
	struct vmbus_gpadl rbuf, sbuf;
	bool rbuf_ok, sbuf_ok;       /* the buffer's GPADL exists (torn down at close) */
	bool rbuf_taken, sbuf_taken; /* ...and the host took it (revoked at close) */
	bool halted; /* RNDIS HALT sent (netvsc_halt) */

	struct util_xid xid; /* slots [0, nsec): sections; [nsec, 4096): requests */
	uint32_t *free_sec, nfree_sec;
	int64_t next_sec; /* taken off free_sec to be the next one used; -1: none */
	uint32_t *free_req, nfree_req;

	/* the open section */
	int64_t cur_sec;
	uint32_t cur_off; /* bytes used (every message padded) */
	uint32_t pf_off;  /* syn_tx_burst asked for the lines of offsets [0, pf_off) */

	/* transmit batch */
	struct vmbus_tx tx[TX_BATCH];
	struct iovec iov[TX_BATCH][3];
	uint8_t nvmsg[TX_BATCH][NVSP_MSG_SIZE];
	uint8_t rhdr[TX_BATCH][128]; /* inline: the RNDIS header */
	unsigned int ntx;
	uint32_t tx_space; /* ring bytes the batch needs */
	uint32_t tx_need;  /* bytes the last cut-short burst needed */

	/* receive */
	struct vmbus_rx pk[NETVSC_BURST];
	unsigned int npk, ipk;
	uint8_t *pkbuf;
	size_t pkbuf_len;
	struct cur_xfer cur;
	struct stash *stash_head, *stash_tail;
	uint32_t stash_ranges;
	uint32_t done[DONE_MAX]; /* transfers to complete */
	unsigned int ndone;

	/* control: the request being waited for */
	uint32_t wait_xid; /* NVSP completion awaited (0: none) */
	bool wait_xid_done;
	uint8_t reply[256]; /* its payload */
	uint32_t reply_len;
	uint32_t wait_req_id; /* RNDIS answer awaited (0: none) */
	bool wait_req_done;
	uint8_t answer[CTL_MAX];
	uint32_t answer_len;
	uint32_t req_id;

	/* transmit back-pressure, for netvsc_arm */
	bool tx_blocked, vf_tx_blocked;
	uint32_t vf_tx_need;

	/* the VF (nv->vf_state says where it stands) */
	struct vf *vf;         /* started, NULL after a removal or reset */
	struct vf *vf_held;    /* the VF whose frames the last rx_burst handed out */
	struct vf *vf_retired; /* vf_held, out of use: stopped by the next rx_burst */
	uint32_t vf_serial;    /* of the VF hot-added last */
	bool assoc_new;        /* an association (or a VF) to look at */
	bool remove_pending;   /* VPCI_REMOVE for vf_serial */
	bool tx_vf;            /* unicast goes out on the VF */
	bool vf_drained;       /* LEAVING: the VF's queue was empty after the completion */
	/* the data path request of SWITCHING or LEAVING */
	uint32_t sw_path;
	uint32_t sw_xid;
	bool sw_sent, sw_done;
	uint64_t sw_deadline;
};

static int seterr(struct netvsc *nv, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int seterr(struct netvsc *nv, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nv->err, sizeof(nv->err), fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- transaction ids ---- */

static int req_take(struct netvsc *nv, uint32_t *id)
{
	struct netvsc_priv *p = nv->p;

	if (!p->nfree_req)
		return -ENOSPC;
	*id = util_xid_take(&p->xid, p->free_req[--p->nfree_req]);
	return 0;
}

/* ---- sending ---- */

static int tx_flush(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	int n;

	if (!p->ntx)
		return 0;
	n = vmbus_chan_send(p->ch, p->tx, p->ntx);
	if (n < 0)
		return n;
	if ((unsigned int)n != p->ntx) /* room was checked: only a broken ring gets here */
		return seterr(nv, -EPROTO, "ring write took %d of %u packets", n, p->ntx);
	p->ntx = 0;
	p->tx_space = 0;
	return 0;
}

/* Room in the ring for the batch plus @more bytes? */
static bool tx_room(struct netvsc *nv, uint32_t more)
{
	struct netvsc_priv *p = nv->p;

	if (p->ntx == TX_BATCH && tx_flush(nv))
		return false;
	return vmbus_ring_has_room(&p->ch->tx, p->tx_space + more);
}

/* Close the open section: one SEND_RNDIS_PKT naming it joins the batch. */
static void close_section(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	unsigned int i = p->ntx;

	if (p->cur_sec < 0)
		return;
	memset(p->nvmsg[i], 0, NVSP_MSG_SIZE);
	nvsp_encode_rndis_pkt(p->nvmsg[i], NVSP_MSG_SIZE, NVSP_CHANNEL_DATA, (uint32_t)p->cur_sec,
	                      p->cur_off);
	p->iov[i][0] = (struct iovec){ p->nvmsg[i], NVSP_MSG_SIZE };
	p->tx[i] = (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND,
		                      .flags = VMBUS_PKT_F_COMPLETION_REQUESTED,
		                      .trans_id = util_xid_take(&p->xid, (uint32_t)p->cur_sec),
		                      .iov = p->iov[i],
		                      .iovcnt = 1 };
	p->ntx++;
	p->tx_space += vmbus_pkt_space(0, NVSP_MSG_SIZE);
	p->cur_sec = -1;
	nv->st.tx_sections++;
}

/* One frame inline: NVSP message, RNDIS header, frame, in one packet. */
static int tx_inline(struct netvsc *nv, const struct port_pkt *pk, const struct rndis_pkt_info *pi,
                     uint32_t hl)
{
	struct netvsc_priv *p = nv->p;
	uint32_t space = vmbus_pkt_space(0, NVSP_MSG_SIZE + hl + pk->len), id;
	unsigned int i;

	if (hl > sizeof(p->rhdr[0]) || !tx_room(nv, space) || req_take(nv, &id))
		return -EAGAIN;
	i = p->ntx;
	memset(p->nvmsg[i], 0, NVSP_MSG_SIZE);
	nvsp_encode_rndis_pkt(p->nvmsg[i], NVSP_MSG_SIZE, NVSP_CHANNEL_DATA, NVSP_SECTION_NONE, 0);
	rndis_encode_packet(p->rhdr[i], hl, pi, pk->len);
	p->iov[i][0] = (struct iovec){ p->nvmsg[i], NVSP_MSG_SIZE };
	p->iov[i][1] = (struct iovec){ p->rhdr[i], hl };
	p->iov[i][2] = (struct iovec){ pk->data, pk->len };
	p->tx[i] = (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND,
		                      .flags = VMBUS_PKT_F_COMPLETION_REQUESTED,
		                      .trans_id = id,
		                      .iov = p->iov[i],
		                      .iovcnt = 3 };
	p->ntx++;
	p->tx_space += space;
	nv->st.tx_inline++;
	/* the frame's bytes are gathered at the write: flush before returning */
	return 0;
}

/* How far ahead in the open section syn_tx_burst asks for lines again. */
#define TX_AHEAD_OPEN 1024u

/* The bytes of send-buffer section @sec, NULL for none (-1). */
static inline uint8_t *sec_mem(struct netvsc *nv, int64_t sec)
{
	return sec < 0 ? NULL : nv->p->sbuf.mem + (size_t)sec * nv->section_size;
}

/* The synthetic path's transmit: see the header. */
static int syn_tx_burst(struct netvsc *nv, const struct port_pkt *pkts, unsigned int n)
{
	struct netvsc_priv *p = nv->p;
	const uint32_t ssz = nv->section_size;
	/* the open section and the next one, kept here: nothing in this call
	 * takes completions, which alone change next_sec otherwise */
	uint8_t *cur = sec_mem(nv, p->cur_sec), *next = sec_mem(nv, p->next_sec);
	uint32_t at = p->cur_off, pf = p->pf_off; /* the open section's, here too */
	/* where the lines one section ahead are asked for (with no next
	 * section: the open one's again, which costs nothing), and up to
	 * where the open section's own lines ahead are */
	const uint8_t *ask = next ? next : cur;
	const uint32_t ahead_end = ssz > TX_AHEAD_OPEN ? ssz - TX_AHEAD_OPEN : 0;
	uint64_t bytes = 0, sent = 0;
	unsigned int i;
	int r;

	for (i = 0; i < n; i++) {
		const struct port_pkt *pk = &pkts[i];
		struct rndis_pkt_info pi = { 0 };
		uint32_t hl = sizeof(struct rndis_packet), need;

		if (!pk->len) {
			nv->st.tx_dropped++;
			continue;
		}
		if (__builtin_expect(!rndis_vnet_plain(&pk->vnet), 0)) {
			if (rndis_vnet_to_pi(&pk->vnet, pk->data, pk->len, RNDIS_TO_HOST, &pi)) {
				nv->st.tx_dropped++;
				continue;
			}
			hl = rndis_packet_hdr_len(&pi);
		}
		need = (hl + pk->len + RNDIS_ALIGN - 1) & ~(RNDIS_ALIGN - 1); /* padded */
		if (need > ssz) {
			p->cur_off = at;
			close_section(nv);
			cur = NULL;
			if (tx_inline(nv, pk, &pi, hl))
				break;
			goto out;
		}
		if (!cur || at + need > ssz) {
			p->cur_off = at;
			close_section(nv);
			cur = NULL;
			if (p->next_sec < 0 || !tx_room(nv, vmbus_pkt_space(0, NVSP_MSG_SIZE))) {
				if (tx_inline(nv, pk, &pi, hl))
					break;
				goto out;
			}
			p->cur_sec = p->next_sec;
			p->next_sec = p->nfree_sec ? (int64_t)p->free_sec[--p->nfree_sec] : -1;
			cur = next;
			next = sec_mem(nv, p->next_sec);
			ask = next ? next : cur;
			at = pf = 0;
		}
		/* A frame's lines in the send buffer are asked for, in the state
		 * for writing, one section ahead: writing at offset X of the open
		 * section asks for offset X of the section taken next (chosen
		 * ahead, so completions pushed on the free stack meanwhile don't
		 * change it). The host read those lines last; a store into one of
		 * them waits for the other core, unless asked for long before — a
		 * section's time (tens of frames) is what it takes on a 2-vCPU VM;
		 * a few frames ahead was measured to hide little. The open
		 * section's lines TX_AHEAD_OPEN ahead are asked for again, for
		 * what the first request did not bring in time (measured: +20 %).
		 * Each line once: frames share lines. */
		for (; pf < at + need; pf += 64) { /* (pf: a multiple of 64) */
			util_prefetch_w(ask + pf);
			if (pf < ahead_end)
				util_prefetch_w(cur + pf + TX_AHEAD_OPEN);
		}
		/* Every message padded to RNDIS_ALIGN, the last one too: its pad
		 * bytes zeroed by one word the frame's tail is then copied over. */
		uint8_t *m = cur + at;

		if (need != hl + pk->len)
			rndis_put64(m + need - 8, 0);
		if (__builtin_expect(!pi.present, 1)) {
			rndis_put_plain_packet(m, pk->len, need);
		} else {
			rndis_encode_packet(m, hl, &pi, pk->len);
			rndis_put32(m + 4, need); /* msg_len, padded */
		}
		util_copy_small(m + hl, pk->data, pk->len);
		at += need;
	out:
		sent++;
		bytes += pk->len;
	}
	nv->st.tx_packets += sent;
	nv->st.tx_bytes += bytes;
	p->cur_off = at;
	p->pf_off = pf;
	close_section(nv);
	r = tx_flush(nv);
	if (r < 0)
		return r;
	p->tx_blocked = i < n;
	if (i < n) {
		nv->st.tx_send_full++;
		p->tx_need = vmbus_pkt_space(0, NVSP_MSG_SIZE + 128 + pkts[i].len);
	}
	return (int)i;
}

static void vf_lost(struct netvsc *nv, int rc);

/* Unicast frames on the VF; when the VF is gone they take the synthetic
 * path instead: nothing offered is lost. */
static int vf_tx(struct netvsc *nv, const struct port_pkt *pkts, unsigned int n)
{
	struct netvsc_priv *p = nv->p;
	int r = vf_tx_burst(p->vf, pkts, n);

	if (r == -EMSGSIZE) { /* can never fit in the queue */
		nv->st.vf_tx_dropped++;
		return 1;
	}
	if (r < 0) {
		vf_lost(nv, r);
		return syn_tx_burst(nv, pkts, n);
	}
	for (int i = 0; i < r; i++) {
		nv->st.vf_tx_packets++;
		nv->st.vf_tx_bytes += pkts[i].len;
	}
	p->vf_tx_blocked = (unsigned int)r < n;
	if ((unsigned int)r < n) {
		nv->st.tx_send_full++;
		p->vf_tx_need = vmbus_pkt_space(sizeof(struct vfbar_ext), pkts[r].len + 4);
	}
	return r;
}

/* A frame of @len bytes whose destination MAC starts at @dst goes
 * synthetic: broadcast, multicast (or too short to say). */
static bool is_group_dst(const uint8_t *dst, uint32_t len)
{
	return len < 6 || (dst[0] & 1);
}

static bool is_group(const struct port_pkt *pk)
{
	return is_group_dst(pk->data, pk->len);
}

int netvsc_tx_burst(struct netvsc *nv, const struct port_pkt *pkts, unsigned int n)
{
	struct netvsc_priv *p = nv->p;
	unsigned int done = 0;

	if (!p->tx_vf)
		return syn_tx_burst(nv, pkts, n);
	/* Runs of unicast to the VF, of broadcast/multicast to synthetic. */
	while (done < n) {
		bool group = is_group(&pkts[done]);
		unsigned int k = 1;
		int r;

		while (done + k < n && is_group(&pkts[done + k]) == group)
			k++;
		r = group || !p->tx_vf ? syn_tx_burst(nv, pkts + done, k)
		                       : vf_tx(nv, pkts + done, k);
		if (r < 0)
			return done ? (int)done : r;
		done += (unsigned int)r;
		if ((unsigned int)r < k)
			break;
	}
	return (int)done;
}

/* Bytes [@at, @at + @len) of @s's region into @dst. */
static void slot_copy_out(const struct vmbus_slot *s, uint32_t at, uint32_t len, void *dst)
{
	struct iovec v[2];
	unsigned int k = vmbus_slot_iov(s, at, len, v);
	uint8_t *d = dst;

	for (unsigned int i = 0; i < k; d += v[i].iov_len, i++)
		memcpy(d, v[i].iov_base, v[i].iov_len);
}

int netvsc_tx_fill(struct netvsc *nv, netvsc_fill_fn fill, void *arg, unsigned int max,
                   struct port_pkt *spill)
{
	const uint32_t hl = sizeof(struct virtio_net_hdr), el = sizeof(struct vfbar_ext);
	struct netvsc_priv *p = nv->p;
	unsigned int done = 0;
	int rc = 0;

	spill->len = 0;
	if (!p->tx_vf || p->vf_tx_blocked)
		return -EAGAIN;
	while (done < max) {
		struct vmbus_slot s;
		struct iovec iov[4];
		unsigned int k;
		ssize_t r = vf_tx_reserve(p->vf, PORT_MAX_FRAME, &s);
		uint8_t first;

		if (r != 1) { /* no room, a VLAN tag, a reset: netvsc_tx_burst's business */
			rc = done ? 0 : -EAGAIN;
			break;
		}
		k = vmbus_slot_iov(&s, 0, hl, iov);
		k += vmbus_slot_iov(&s, el, PORT_MAX_FRAME, iov + k);
		r = fill(arg, iov, k);
		if (r <= 0) {
			rc = r < 0 ? (int)r : 0;
			break;
		}
		uint32_t len = (uint32_t)r - hl;

		slot_copy_out(&s, el, 1, &first);
		if (is_group_dst(&first, len)) { /* broadcast, multicast: synthetic's */
			slot_copy_out(&s, 0, hl, &spill->vnet);
			slot_copy_out(&s, el, len, spill->data);
			spill->len = len;
			break;
		}
		vf_tx_commit(p->vf, &s, len);
		nv->st.vf_tx_packets++;
		nv->st.vf_tx_bytes += len;
		done++;
	}
	if (done)
		vf_tx_publish(p->vf);
	return done ? (int)done : rc;
}

/* ---- receiving ---- */

static int flush_done(struct netvsc *nv);

static void complete_xfer(struct netvsc *nv, uint32_t trans_id)
{
	struct netvsc_priv *p = nv->p;

	if (p->ndone == DONE_MAX)
		flush_done(nv);
	if (p->ndone == DONE_MAX) { /* the ring stays full: the host loses that space */
		nv->st.rx_errors++;
		return;
	}
	p->done[p->ndone++] = trans_id;
}

static int flush_done(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	uint8_t msg[NVSP_MSG_SIZE] = { 0 };
	struct iovec iov = { msg, sizeof(msg) };
	struct vmbus_tx tx[NETVSC_BURST];
	unsigned int k = 0;

	nvsp_encode_rndis_pkt_complete(msg, sizeof(msg), NVSP_STATUS_SUCCESS);
	while (k < p->ndone) {
		unsigned int m = p->ndone - k < NETVSC_BURST ? p->ndone - k : NETVSC_BURST;
		int r;

		for (unsigned int i = 0; i < m; i++)
			tx[i] = (struct vmbus_tx){ .type = VMBUS_PKT_COMP,
				                   .trans_id = p->done[k + i],
				                   .iov = &iov,
				                   .iovcnt = 1 };
		r = vmbus_chan_send(p->ch, tx, m);
		if (r < 0)
			return r;
		if (!r)
			break; /* ring full: try again next call */
		k += (unsigned int)r;
		nv->st.rx_xfers += (unsigned int)r;
	}
	memmove(p->done, p->done + k, (p->ndone - k) * sizeof(p->done[0]));
	p->ndone -= k;
	return 0;
}

/* How many frames ahead take_ranges asks for a received frame's lines. */
#define RX_AHEAD 8u

/* Frames from the ranges of one transfer, from *@next on. */
static unsigned int take_ranges(struct netvsc *nv, const struct vmbus_xfer_range *r, uint32_t nr,
                                uint32_t *next, struct port_pkt *pkts, unsigned int max)
{
	struct netvsc_priv *p = nv->p;
	const uint8_t *mem = p->rbuf.mem;
	const uint64_t size = p->rbuf.size;
	uint64_t bytes = 0;
	unsigned int k = 0, bad = 0;
	uint32_t i;

	for (i = *next; i < nr && k < max; i++) {
		const struct vmbus_xfer_range *x = &r[i]; /* (a copy: pkbuf or a stash) */
		struct rndis_pkt_view m;

		/* The host wrote these lines: ask for a later frame's now (its
		 * first line and the next; a bad offset is only asked for) */
		if (i + RX_AHEAD < nr && r[i + RX_AHEAD].byte_offset < size) {
			const uint8_t *y = mem + r[i + RX_AHEAD].byte_offset;

			__builtin_prefetch(y);
			__builtin_prefetch(y + 64);
		}
		if ((uint64_t)x->byte_offset + x->byte_count > size ||
		    rndis_decode_packet(mem + x->byte_offset, x->byte_count, &m, NULL, 0) ||
		    rndis_pi_to_vnet(&m.pi, m.data, m.data_len, RNDIS_TO_GUEST, &pkts[k].vnet)) {
			bad++;
			continue;
		}
		pkts[k].data = (uint8_t *)m.data;
		pkts[k].len = m.data_len;
		bytes += m.data_len;
		k++;
	}
	*next = i;
	nv->st.rx_errors += bad;
	nv->st.rx_packets += k;
	nv->st.rx_bytes += bytes;
	return k;
}

static void handle_control_msg(struct netvsc *nv, const uint8_t *buf, uint32_t len)
{
	struct netvsc_priv *p = nv->p;
	struct rndis_msg m;
	char err[128];

	if (rndis_decode(buf, len, &m, err, sizeof(err))) {
		nv->st.rx_errors++;
		return;
	}
	if (m.hdr.type == RNDIS_MSG_INDICATE) {
		uint32_t s = m.indicate.status;

		nv->st.indications++;
		if (s == RNDIS_STATUS_MEDIA_CONNECT || s == RNDIS_STATUS_MEDIA_DISCONNECT) {
			nv->media_connected = s == RNDIS_STATUS_MEDIA_CONNECT;
			if (p->cfg.event)
				p->cfg.event(p->cfg.event_arg, nv, NETVSC_EV_MEDIA,
				             nv->media_connected);
		} else if (s == RNDIS_STATUS_NETWORK_CHANGE && p->cfg.event) {
			p->cfg.event(p->cfg.event_arg, nv, NETVSC_EV_NETWORK_CHANGE, 0);
		}
		return;
	}
	/* every completion but RESET_C has the request id right after the header */
	if (m.hdr.type & RNDIS_MSG_COMPLETION && m.hdr.type != RNDIS_MSG_RESET_C &&
	    p->wait_req_id && m.init_c.req_id == p->wait_req_id && len <= sizeof(p->answer)) {
		memcpy(p->answer, buf, len);
		p->answer_len = len;
		p->wait_req_done = true;
		return;
	}
	nv->st.rx_errors++; /* an answer nobody waits for (late, after a time-out) */
}

static void handle_comp(struct netvsc *nv, const struct vmbus_rx *pk)
{
	struct netvsc_priv *p = nv->p;
	int slot = util_xid_put(&p->xid, pk->trans_id);

	if (slot < 0) {
		nv->st.bad_completions++;
		return;
	}
	if ((uint32_t)slot >= nv->nsec)
		p->free_req[p->nfree_req++] = (uint32_t)slot;
	else if (p->next_sec < 0)
		p->next_sec = slot;
	else
		p->free_sec[p->nfree_sec++] = (uint32_t)slot;
	if (p->wait_xid && pk->trans_id == p->wait_xid) {
		p->reply_len = pk->len < sizeof(p->reply) ? pk->len : sizeof(p->reply);
		memcpy(p->reply, pk->data, p->reply_len);
		p->wait_xid_done = true;
	}
	if (p->sw_sent && !p->sw_done && pk->trans_id == p->sw_xid) {
		p->sw_done = true;
		nv->datapath = p->sw_path;
	}
}

static void handle_inband(struct netvsc *nv, const struct vmbus_rx *pk)
{
	struct netvsc_priv *p = nv->p;
	struct nvsp_msg m;
	char err[128];
	uint32_t len = pk->len;

	if (len > NVSP_MSG_SIZE)
		len = NVSP_MSG_SIZE;
	if (nvsp_decode(pk->data, len, &m, err, sizeof(err))) {
		nv->st.rx_errors++;
		return;
	}
	switch (m.hdr.type) {
	case NVSP_TYPE_SEND_RNDIS_PKT:
		if (m.rndis_pkt.channel_type == NVSP_CHANNEL_CONTROL && pk->len > NVSP_MSG_SIZE)
			handle_control_msg(nv, pk->data + NVSP_MSG_SIZE, pk->len - NVSP_MSG_SIZE);
		else
			nv->st.rx_errors++;
		break;
	case NVSP_TYPE_SEND_VF_ASSOCIATION:
		nv->vf_allocated = m.vf_assoc.allocated;
		nv->vf_serial = m.vf_assoc.serial;
		nv->st.vf_assoc_events++;
		p->assoc_new = true; /* netvsc_poll or rx_burst acts on it */
		if (p->cfg.event)
			p->cfg.event(p->cfg.event_arg, nv, NETVSC_EV_VF_ASSOC, m.vf_assoc.serial);
		break;
	case NVSP_TYPE_SEND_INDIRECTION_TABLE:
		break; /* one channel: every entry names it */
	default:
		nv->st.rx_errors++;
	}
}

/* Validate a transfer-page packet; *@r and *@nr name its ranges. */
static int xfer_ranges(struct netvsc *nv, const struct vmbus_rx *pk,
                       const struct vmbus_xfer_range **r, uint32_t *nr)
{
	struct vmbus_xfer_hdr h;

	if (pk->ext_len < sizeof(h))
		return -EBADMSG;
	memcpy(&h, pk->ext, sizeof(h));
	if (!h.range_cnt || h.range_cnt > MAX_RANGES ||
	    sizeof(h) + (size_t)h.range_cnt * sizeof(**r) > pk->ext_len)
		return -EBADMSG;
	*r = (const struct vmbus_xfer_range *)(pk->ext + sizeof(h));
	*nr = h.range_cnt;
	return 0;
}

/* Handle a non-data packet; a transfer goes to the stash (@stash) or is
 * returned as 1 (left for the caller). */
static int handle_packet(struct netvsc *nv, const struct vmbus_rx *pk, bool stash)
{
	struct netvsc_priv *p = nv->p;
	const struct vmbus_xfer_range *r;
	uint32_t nr;

	switch (pk->type) {
	case VMBUS_PKT_COMP:
		handle_comp(nv, pk);
		return 0;
	case VMBUS_PKT_DATA_INBAND:
		handle_inband(nv, pk);
		return 0;
	case VMBUS_PKT_DATA_XFER_PAGES:
		if (xfer_ranges(nv, pk, &r, &nr)) {
			nv->st.rx_errors++;
			complete_xfer(nv, pk->trans_id);
			return 0;
		}
		if (!stash)
			return 1;
		struct stash *s = malloc(sizeof(*s) + nr * sizeof(*r));

		if (!s || p->stash_ranges + nr > STASH_RANGES) {
			free(s);
			nv->st.rx_errors++;
			complete_xfer(nv, pk->trans_id);
			return 0;
		}
		s->next = NULL;
		s->trans_id = pk->trans_id;
		s->nr = nr;
		s->next_range = 0;
		memcpy(s->r, r, nr * sizeof(*r));
		p->stash_ranges += nr;
		if (p->stash_tail)
			p->stash_tail->next = s;
		else
			p->stash_head = s;
		p->stash_tail = s;
		return 0;
	default:
		nv->st.rx_errors++;
		return 0;
	}
}

/* Read the next burst of ring packets if the current one is used up.
 * Returns packets available, 0, or a negative errno. */
static int refill(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	int r;

	if (p->ipk < p->npk)
		return (int)(p->npk - p->ipk);
	r = vmbus_chan_recv(p->ch, p->pk, NETVSC_BURST, p->pkbuf, p->pkbuf_len);
	if (r < 0)
		return seterr(nv, r, "channel: %s",
		              r == -EPIPE ? "the host is gone" : vmbus_chan_error(p->ch));
	p->npk = (unsigned int)r;
	p->ipk = 0;
	return r;
}

/* A transfer being handed out stays where it is: to the head of the stash,
 * so the ring can be read on. */
static int stash_cur(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	struct stash *s;

	if (!p->cur.active)
		return 0;
	s = malloc(sizeof(*s) + p->cur.nr * sizeof(p->cur.r[0]));
	if (!s)
		return -ENOMEM;
	*s = (struct stash){ .trans_id = p->cur.trans_id,
		             .nr = p->cur.nr,
		             .next_range = p->cur.next_range };
	memcpy(s->r, p->cur.r, p->cur.nr * sizeof(p->cur.r[0]));
	s->next = p->stash_head; /* it is older than anything stashed later */
	p->stash_head = s;
	if (!p->stash_tail)
		p->stash_tail = s;
	p->stash_ranges += s->nr;
	p->cur.active = false;
	p->ipk++;
	return 0;
}

/* Handle the ring packets waiting, transfers to the stash, until *@stop
 * (NULL: until the ring is empty). Returns packets handled or -errno. */
static int drain_ring(struct netvsc *nv, const bool *stop)
{
	struct netvsc_priv *p = nv->p;
	int n = 0, r;

	if ((r = stash_cur(nv)))
		return r;
	while (!(stop && *stop) && (r = refill(nv)) > 0)
		for (; p->ipk < p->npk && !(stop && *stop); p->ipk++, n++)
			handle_packet(nv, &p->pk[p->ipk], true);
	return r < 0 ? r : n;
}

/* ---- the VF ---- */

static void vf_event(struct netvsc *nv, const char *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void vf_event(struct netvsc *nv, const char *ev, const char *fmt, ...)
{
	struct netvsc_priv *p = nv->p;
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!strcmp(ev, "vf.error") || !strcmp(ev, "vf.mismatch"))
		snprintf(nv->err, sizeof(nv->err), "%s", detail);
	if (p->cfg.vf_event)
		p->cfg.vf_event(p->cfg.event_arg, nv, ev, detail);
}

const char *netvsc_vf_state_name(enum netvsc_vf_state s)
{
	switch (s) {
	case NETVSC_VF_NONE:
		return "none";
	case NETVSC_VF_ADDED:
		return "added";
	case NETVSC_VF_SWITCHING:
		return "switching";
	case NETVSC_VF_ACTIVE:
		return "active";
	case NETVSC_VF_LEAVING:
		return "leaving";
	}
	return "?";
}

/* The VF is not used any more: stopped now, or, when the caller may still
 * hold frames it indicated, by the next rx_burst. */
static void vf_retire(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;

	if (p->vf && p->vf == p->vf_held)
		p->vf_retired = p->vf;
	else
		vf_stop(p->vf);
	p->vf = NULL;
	p->tx_vf = false;
	p->vf_tx_blocked = false;
}

/* Enter SWITCHING or LEAVING: ask the host for @path (sent by vf_progress). */
static void sw_begin(struct netvsc *nv, enum netvsc_vf_state st, uint32_t path)
{
	struct netvsc_priv *p = nv->p;

	nv->vf_state = st;
	p->sw_path = path;
	p->sw_sent = p->sw_done = false;
	p->vf_drained = false;
}

/* Send the data path request of the current state, without waiting. */
static void sw_send(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	uint8_t m[NVSP_MSG_SIZE];
	struct iovec iov = { m, sizeof(m) };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND,
		               .flags = VMBUS_PKT_F_COMPLETION_REQUESTED,
		               .iov = &iov,
		               .iovcnt = 1 };

	nvsp_encode_switch_data_path(m, sizeof(m), p->sw_path);
	if (req_take(nv, &tx.trans_id))
		return;                            /* no slot: try again next time */
	if (vmbus_chan_send(p->ch, &tx, 1) != 1) { /* ring full: next time */
		p->free_req[p->nfree_req++] = (uint32_t)util_xid_put(&p->xid, tx.trans_id);
		return;
	}
	p->sw_xid = tx.trans_id;
	p->sw_sent = true;
	p->sw_deadline = util_now_ns() + (uint64_t)p->timeout_ms * 1000000ull;
}

/* Unicast back to synthetic now, and ask the host to follow. */
static void vf_unbind(struct netvsc *nv, const char *why)
{
	struct netvsc_priv *p = nv->p;

	p->tx_vf = false;
	if (nv->vf_state == NETVSC_VF_SWITCHING || nv->vf_state == NETVSC_VF_ACTIVE ||
	    nv->vf_state == NETVSC_VF_LEAVING) {
		if (nv->vf_state != NETVSC_VF_LEAVING)
			sw_begin(nv, NETVSC_VF_LEAVING, NVSP_DATAPATH_SYNTHETIC);
		log_dbg("netvsc", "%s: transmit back on synthetic", why);
	}
}

/* The VF's queues failed (@rc: -ENODEV after the host reset it): back to
 * synthetic without it. */
static void vf_lost(struct netvsc *nv, int rc)
{
	struct netvsc_priv *p = nv->p;
	uint32_t serial = p->vf_serial;

	vf_unbind(nv, "the VF is gone");
	vf_retire(nv);
	if (nv->vf_state == NETVSC_VF_ADDED)
		nv->vf_state = NETVSC_VF_NONE;
	vf_event(nv, "vf.removed", "VF serial %u: %s; the adapter stays on synthetic", serial,
	         rc == -ENODEV ? "reset by the host (surprise removal)"
	                       : "its queues broke the contract");
}

/* Unbound (LEAVING is over, or the VF was never bound): stop the VF if it
 * was removed, else keep it, unbound. */
static void vf_left(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;

	if (nv->vf_state == NETVSC_VF_LEAVING)
		vf_event(nv, "datapath.synthetic", "VF serial %u unbound%s", p->vf_serial,
		         p->sw_done ? "" : " (the host did not complete in time)");
	if (p->vf && !p->remove_pending) {
		nv->vf_state = NETVSC_VF_ADDED;
		return;
	}
	vf_retire(nv);
	nv->vf_state = NETVSC_VF_NONE;
	if (p->remove_pending) {
		p->remove_pending = false;
		vmbus_vpci_send(p->ch, VMBUS_CTL_VPCI_REMOVE_DONE, p->vf_serial);
		vf_event(nv, "vf.removed", "VF serial %u stopped and released (VPCI_REMOVE_DONE)",
		         p->vf_serial);
	}
}

/* ADDED: does the association name this VF? Bind and ask for the VF path. */
static void vf_try_bind(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	const struct vf *vf = p->vf;

	if (!p->assoc_new)
		return;
	p->assoc_new = false;
	if (!nv->vf_allocated)
		return; /* none yet, or withdrawn: the next one is new again */
	if (nv->vf_serial != vf->serial || memcmp(nv->mac, vf->mac, 6)) {
		nv->st.vf_assoc_mismatch++;
		vf_event(nv, "vf.mismatch",
		         "association names serial %u for %02x:%02x:%02x:%02x:%02x:%02x; the VF "
		         "has serial %u, MAC %02x:%02x:%02x:%02x:%02x:%02x: not bound",
		         nv->vf_serial, nv->mac[0], nv->mac[1], nv->mac[2], nv->mac[3], nv->mac[4],
		         nv->mac[5], vf->serial, vf->mac[0], vf->mac[1], vf->mac[2], vf->mac[3],
		         vf->mac[4], vf->mac[5]);
		return;
	}
	if (p->cfg.quirks & NETVSC_QUIRK_NO_SWITCH)
		return;
	sw_begin(nv, NETVSC_VF_SWITCHING, NVSP_DATAPATH_VF);
}

/* Advance the VF's state; never blocks, never frees what the caller holds. */
static void vf_progress(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	enum netvsc_vf_state st = nv->vf_state;

	if (p->vf && vfbar_was_reset(p->vf->bar))
		vf_lost(nv, -ENODEV);
	/* config blocks the PF invalidated: read again (the mailbox's answer
	 * is the PF's; until they are taken, vf_arm says there is work) */
	if (p->vf && READ_ONCE(p->vf->bar->mbox->invalidate))
		vf_refresh(p->vf);
	if (p->assoc_new && nv->vf_state == NETVSC_VF_NONE)
		p->assoc_new = false; /* vpci_add looks at it again */
	if (p->assoc_new &&
	    (nv->vf_state == NETVSC_VF_SWITCHING || nv->vf_state == NETVSC_VF_ACTIVE)) {
		p->assoc_new = false;
		if (!nv->vf_allocated || nv->vf_serial != p->vf->serial)
			vf_unbind(nv, "association withdrawn");
	}
	if (p->remove_pending &&
	    (nv->vf_state == NETVSC_VF_SWITCHING || nv->vf_state == NETVSC_VF_ACTIVE))
		vf_unbind(nv, "VPCI_REMOVE");
	switch (nv->vf_state) {
	case NETVSC_VF_NONE:
		break;
	case NETVSC_VF_ADDED:
		if (p->remove_pending)
			vf_left(nv);
		else
			vf_try_bind(nv);
		break;
	case NETVSC_VF_SWITCHING:
		if (p->sw_done) {
			nv->vf_state = NETVSC_VF_ACTIVE;
			p->tx_vf = true;
			vf_event(nv, "datapath.vf", "VF serial %u bound: unicast on the VF",
			         p->vf_serial);
		} else if (p->sw_sent && util_now_ns() > p->sw_deadline) {
			vf_event(
			    nv, "vf.error",
			    "no completion of SWITCH_DATA_PATH(VF) in %d ms: staying synthetic",
			    p->timeout_ms);
			sw_begin(nv, NETVSC_VF_LEAVING, NVSP_DATAPATH_SYNTHETIC);
		}
		break;
	case NETVSC_VF_ACTIVE:
		break;
	case NETVSC_VF_LEAVING:
		if (p->sw_sent && !p->sw_done && util_now_ns() > p->sw_deadline)
			p->vf_drained =
			    true; /* the host is not answering: drained is all we can do */
		if ((p->sw_done || p->vf_drained) && (!p->vf || p->vf_drained))
			vf_left(nv);
		break;
	}
	if ((nv->vf_state == NETVSC_VF_SWITCHING || nv->vf_state == NETVSC_VF_LEAVING) &&
	    !p->sw_sent)
		sw_send(nv);
	if (nv->vf_state != st && nv->vf_state == NETVSC_VF_ADDED && p->assoc_new)
		vf_try_bind(nv);
}

/* VPCI_ADD: start the VF (it takes the descriptors). */
static void vpci_add(struct netvsc *nv, const struct vmbus_vpci_add *a, int *fds)
{
	struct netvsc_priv *p = nv->p;
	char err[200];

	if (nv->vf_state != NETVSC_VF_NONE || p->vf) {
		for (int i = 0; i < VMBUS_VPCI_ADD_FDS; i++)
			close(fds[i]);
		vf_event(nv, "vf.error",
		         "VPCI_ADD of serial %u while VF serial %u is here: ignored", a->serial,
		         p->vf_serial);
		return;
	}
	if (a->vendor_id != NIC_PCI_VENDOR_ID || a->device_id != NIC_PCI_VF_DEVICE_ID) {
		for (int i = 0; i < VMBUS_VPCI_ADD_FDS; i++)
			close(fds[i]);
		vf_event(nv, "vf.error", "VPCI_ADD of a device %04x:%04x: no driver for it",
		         a->vendor_id, a->device_id);
		return;
	}
	p->vf_serial = a->serial;
	p->vf = vf_start(fds[0], fds[1], fds[2], a->serial, err, sizeof(err));
	if (!p->vf) {
		vf_event(nv, "vf.error", "VF serial %u does not start: %s", a->serial, err);
		return;
	}
	nv->vf_state = NETVSC_VF_ADDED;
	p->remove_pending = false;
	p->assoc_new = true; /* its association may have come first */
	vf_event(nv, "vf.added",
	         "VF %u serial %u: MAC %02x:%02x:%02x:%02x:%02x:%02x, VLAN %u, MTU %u, %u queue "
	         "pair(s)",
	         a->vf_id, a->serial, p->vf->mac[0], p->vf->mac[1], p->vf->mac[2], p->vf->mac[3],
	         p->vf->mac[4], p->vf->mac[5], p->vf->vlan, p->vf->mtu, a->num_qp);
}

static void vpci_remove(struct netvsc *nv, uint32_t serial)
{
	struct netvsc_priv *p = nv->p;

	if (p->cfg.quirks & NETVSC_QUIRK_IGNORE_REMOVE)
		return;
	if (!p->vf || serial != p->vf_serial) {
		/* Nothing of it here (never started, or gone already): say so. */
		vmbus_vpci_send(p->ch, VMBUS_CTL_VPCI_REMOVE_DONE, serial);
		return;
	}
	p->remove_pending = true;
}

/* Control messages on the socket. Returns how many, or -errno when the
 * channel is gone. Safe anywhere: it changes no state a request depends on. */
static int ctl_poll(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	int n = 0;

	for (;;) {
		struct vmbus_ctl_msg m;
		struct vmbus_vpci_add a;
		int fds[VMBUS_CTL_MAX_FDS], nfds = 0, r;
		char err[160];

		r = vmbus_chan_recv_ctl(p->ch, &m, fds, VMBUS_CTL_MAX_FDS, &nfds);
		if (r <= 0)
			return r < 0 ? seterr(nv, r, "channel: %s",
			                      r == -EPIPE ? "the host is gone"
			                                  : vmbus_chan_error(p->ch))
			             : n;
		n++;
		if (m.hdr.type == VMBUS_CTL_MIGRATE_CANCEL) { /* the host gave up: stay */
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			if (p->migr_pending)
				vf_event(nv, "vm.migrate_cancelled", "the host cancelled the move");
			p->migr_pending = false;
			continue;
		}
		if (m.hdr.type == VMBUS_CTL_MIGRATE) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			if (vmbus_migrate_decode(&m, nfds, &p->migr, err, sizeof(err)))
				vf_event(nv, "vf.error", "control message dropped: %s", err);
			else
				p->migr_pending = true;
			continue;
		}
		r = vmbus_vpci_decode(&m, nfds, &a, err, sizeof(err));
		if (!r && m.hdr.type == VMBUS_CTL_VPCI_ADD) {
			vpci_add(nv, &a, fds);
			continue;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (!r && m.hdr.type == VMBUS_CTL_VPCI_REMOVE)
			vpci_remove(nv, a.serial);
		else
			vf_event(nv, "vf.error", "control message dropped: %s",
			         r ? err : "VPCI_REMOVE_DONE is the guest's to send");
	}
}

bool netvsc_migration(struct netvsc *nv, struct vmbus_migrate *m)
{
	struct netvsc_priv *p = nv->p;

	if (!p->migr_pending)
		return false;
	*m = p->migr;
	p->migr_pending = false;
	return true;
}

int netvsc_rx_burst(struct netvsc *nv, struct port_pkt *pkts, unsigned int max)
{
	struct netvsc_priv *p = nv->p;
	unsigned int k = 0;
	int r;

	if ((r = flush_done(nv)) < 0)
		return r;
	vf_stop(p->vf_retired); /* what it indicated was handed out before this call */
	p->vf_retired = p->vf_held = NULL;
	vf_progress(nv);
	if (p->vf && max) {
		bool done_before = p->sw_done;

		r = vf_rx_burst(p->vf, pkts, max);
		if (r < 0) {
			vf_lost(nv, r);
		} else if (r == 0) {
			if (nv->vf_state == NETVSC_VF_LEAVING && done_before)
				p->vf_drained = true;
		} else {
			/* (held from here: what follows may retire the VF) */
			p->vf_held = p->vf;
			/* A frame on the VF: the host moved the filter, so its
			 * completion is in the ring already. Take it first, so the
			 * VF's counters start after it. */
			if (nv->vf_state == NETVSC_VF_SWITCHING && !p->sw_done &&
			    drain_ring(nv, &p->sw_done) >= 0)
				vf_progress(nv);
			for (int i = 0; i < r; i++) {
				if (is_group(&pkts[i])) {
					nv->st.vf_rx_mcast_skipped++;
					continue;
				}
				nv->st.vf_rx_packets++;
				nv->st.vf_rx_bytes += pkts[i].len;
				pkts[k++] = pkts[i];
			}
		}
	}
	while (k < max && p->stash_head && p->ndone < DONE_MAX) {
		struct stash *s = p->stash_head;

		k += take_ranges(nv, s->r, s->nr, &s->next_range, pkts + k, max - k);
		if (s->next_range < s->nr)
			break;
		complete_xfer(nv, s->trans_id);
		p->stash_ranges -= s->nr;
		p->stash_head = s->next;
		if (!p->stash_head)
			p->stash_tail = NULL;
		free(s);
	}
	while (k < max && !p->stash_head && p->ndone < DONE_MAX) {
		if (p->cur.active) {
			k += take_ranges(nv, p->cur.r, p->cur.nr, &p->cur.next_range, pkts + k,
			                 max - k);
			if (p->cur.next_range < p->cur.nr)
				break;
			complete_xfer(nv, p->cur.trans_id);
			p->cur.active = false;
			p->ipk++;
			continue;
		}
		if ((r = refill(nv)) <= 0) {
			if (r < 0 && !k)
				return r;
			break;
		}
		const struct vmbus_rx *pk = &p->pk[p->ipk];

		if (handle_packet(nv, pk, false) == 1) {
			p->cur = (struct cur_xfer){ .active = true, .trans_id = pk->trans_id };
			xfer_ranges(nv, pk, &p->cur.r, &p->cur.nr);
		} else {
			p->ipk++;
		}
	}
	return (int)k;
}

/* Handle every packet waiting, keeping transfers for rx_burst. */
int netvsc_poll(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	int n = 0, r = 0;

	/* (no flush_done here: the transfers the last netvsc_rx_burst handed
	 * out are the application's until its next netvsc_rx_burst) */
	if (p->ctl_check || ++p->ctl_tick % CTL_EVERY == 0) {
		p->ctl_check = false;
		if ((n = ctl_poll(nv)) < 0)
			return n;
	}
	/* A transfer being handed out: its ranges point into pkbuf, keep them. */
	while (!p->cur.active && (r = refill(nv)) > 0) {
		for (; p->ipk < p->npk; p->ipk++, n++)
			handle_packet(nv, &p->pk[p->ipk], true);
	}
	vf_progress(nv);
	return r < 0 ? r : n;
}

int netvsc_wait(struct netvsc *nv, unsigned int events, int timeout_ms)
{
	struct netvsc_priv *p = nv->p;
	unsigned int ev = 0;
	int r;

	if ((events & NETVSC_EV_RX) &&
	    (p->stash_head || p->cur.active || p->ipk < p->npk || p->ndone))
		return NETVSC_EV_RX;
	if (events & NETVSC_EV_RX)
		ev |= VMBUS_EV_RX;
	if (events & NETVSC_EV_TX)
		ev |= VMBUS_EV_TX;
	/* Always: a control message nobody waits for would break the channel. */
	ev |= VMBUS_EV_CTL;
	r = vmbus_chan_wait(p->ch, ev, p->tx_need ? p->tx_need : 64, timeout_ms);
	if (r <= 0)
		return r;
	if (r & VMBUS_EV_CTL) {
		int c = ctl_poll(nv);

		if (c < 0)
			return c;
	}
	return ((r & (VMBUS_EV_RX | VMBUS_EV_CTL)) ? NETVSC_EV_RX : 0) |
	       ((r & VMBUS_EV_TX) ? NETVSC_EV_TX : 0);
}

int netvsc_arm(struct netvsc *nv, struct pollfd *pfd, int max)
{
	struct netvsc_priv *p = nv->p;
	int n = 0;

	p->arm_efd = p->arm_sock = p->arm_vf = -1;
	if (p->stash_head || p->cur.active || p->ipk < p->npk || p->ndone)
		return -1;
	if ((p->assoc_new || p->remove_pending) && nv->vf_state != NETVSC_VF_LEAVING)
		return -1; /* for vf_progress (LEAVING waits for its completion first) */
	if ((nv->vf_state == NETVSC_VF_SWITCHING || nv->vf_state == NETVSC_VF_LEAVING) &&
	    (!p->sw_sent || p->sw_done))
		return -1; /* a request to send, or a completion to act on */
	if (!vmbus_ring_arm(&p->ch->rx))
		return -1;
	if (p->tx_blocked && !vmbus_ring_wait_room(&p->ch->tx, p->tx_need))
		return -1;
	if (n < max) {
		p->arm_efd = n;
		pfd[n++] = (struct pollfd){ .fd = p->ch->efd_wait, .events = POLLIN };
	}
	if (n < max) {
		p->arm_sock = n;
		pfd[n++] = (struct pollfd){ .fd = p->ch->sock, .events = POLLIN };
	}
	if (!p->vf)
		return n;
	if (!vf_arm(p->vf))
		return -1;
	if (p->vf_tx_blocked && !vmbus_ring_wait_room(&p->vf->bar->tx[0], p->vf_tx_need))
		return -1;
	if (n < max) {
		p->arm_vf = n;
		pfd[n++] = (struct pollfd){ .fd = p->vf->bar->efd_vf, .events = POLLIN };
	}
	return n;
}

/* Did poll() find entry @i of @pfd readable? (No @pfd: assume so.) */
static bool fired(const struct pollfd *pfd, int i)
{
	return i >= 0 && (!pfd || (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)));
}

void netvsc_disarm(struct netvsc *nv, const struct pollfd *pfd)
{
	struct netvsc_priv *p = nv->p;
	uint64_t cnt;

	/* Only what rang costs a system call: a wake-up by the guest's own
	 * device reads no doorbell and leaves the socket alone. */
	if (fired(pfd, p->arm_efd))
		vmbus_chan_drain_signal(p->ch);
	if (fired(pfd, p->arm_sock))
		p->ctl_check = true;
	if (p->vf && fired(pfd, p->arm_vf))
		(void)!read(p->vf->bar->efd_vf, &cnt, sizeof(cnt));
	p->arm_efd = p->arm_sock = p->arm_vf = -1;

	vmbus_ring_disarm(&p->ch->rx);
	if (p->vf)
		for (uint32_t q = 0; q < p->vf->bar->num_qp; q++)
			vmbus_ring_disarm(&p->vf->bar->rx[q]);
}

/* ---- synchronous requests ---- */

/* Process the ring until @done is true or the time-out. */
static int wait_for(struct netvsc *nv, const bool *done, const char *what)
{
	struct netvsc_priv *p = nv->p;
	uint64_t end = util_now_ns() + (uint64_t)p->timeout_ms * 1000000ull;

	/* a transfer being handed out stays where it is; stash what follows */
	while (!*done) {
		int r = drain_ring(nv, done);

		if (r < 0)
			return r;
		if (*done)
			break;
		int left = (int)((int64_t)(end - util_now_ns()) / 1000000);

		if ((int64_t)(end - util_now_ns()) <= 0)
			return seterr(nv, -ETIMEDOUT, "no answer from the host to %s in %d ms",
			              what, p->timeout_ms);
		r = vmbus_chan_wait(p->ch, VMBUS_EV_RX | VMBUS_EV_CTL, 0, left > 0 ? left : 1);
		if (r > 0 && (r & VMBUS_EV_CTL))
			r = ctl_poll(nv); /* a VF hot-added meanwhile: started, acted on later */
		if (r < 0)
			return seterr(nv, r, "waiting for %s: %s", what,
			              r == -EPIPE ? "the host is gone" : vmbus_chan_error(p->ch));
	}
	return 0;
}

/* Send an NVSP request (@len bytes at @msg) and wait for its completion,
 * whose payload lands in p->reply. */
static int nvsp_request(struct netvsc *nv, const void *msg, uint32_t len, const char *what)
{
	struct netvsc_priv *p = nv->p;
	struct iovec iov = { (void *)msg, len };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND,
		               .flags = VMBUS_PKT_F_COMPLETION_REQUESTED,
		               .iov = &iov,
		               .iovcnt = 1 };
	int r;

	if (req_take(nv, &tx.trans_id))
		return seterr(nv, -EAGAIN, "%s: too many requests in flight", what);
	p->wait_xid = tx.trans_id;
	p->wait_xid_done = false;
	r = vmbus_chan_send(p->ch, &tx, 1);
	if (r == 1)
		r = wait_for(nv, &p->wait_xid_done, what);
	else if (r >= 0)
		r = seterr(nv, -EAGAIN, "%s: the ring is full", what);
	p->wait_xid = 0;
	return r;
}

/* An NVSP message without completion. */
static int nvsp_post(struct netvsc *nv, const void *msg, uint32_t len)
{
	struct iovec iov = { (void *)msg, len };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };
	int r = vmbus_chan_send(nv->p->ch, &tx, 1);

	return r < 0 ? r : r == 1 ? 0 : -EAGAIN;
}

/* Send an RNDIS request (@len bytes at @rmsg, request id inside) inline and
 * wait for its answer (p->answer) unless @no_answer (HALT). */
static int rndis_request(struct netvsc *nv, const void *rmsg, uint32_t len, uint32_t req_id,
                         bool no_answer, const char *what)
{
	struct netvsc_priv *p = nv->p;
	uint8_t nvm[NVSP_MSG_SIZE] = { 0 };
	struct iovec iov[2] = { { nvm, sizeof(nvm) }, { (void *)rmsg, len } };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND,
		               .flags = VMBUS_PKT_F_COMPLETION_REQUESTED,
		               .iov = iov,
		               .iovcnt = 2 };
	int r;

	nvsp_encode_rndis_pkt(nvm, sizeof(nvm), NVSP_CHANNEL_CONTROL, NVSP_SECTION_NONE, 0);
	if (req_take(nv, &tx.trans_id))
		return seterr(nv, -EAGAIN, "%s: too many requests in flight", what);
	p->wait_req_id = no_answer ? 0 : req_id;
	p->wait_req_done = false;
	p->wait_xid = tx.trans_id;
	p->wait_xid_done = false;
	r = vmbus_chan_send(p->ch, &tx, 1);
	if (r == 1)
		r = wait_for(nv, no_answer ? &p->wait_xid_done : &p->wait_req_done, what);
	else if (r >= 0)
		r = seterr(nv, -EAGAIN, "%s: the ring is full", what);
	p->wait_req_id = 0;
	p->wait_xid = 0;
	return r;
}

static uint32_t next_req_id(struct netvsc *nv)
{
	if (!++nv->p->req_id)
		nv->p->req_id = 1;
	return nv->p->req_id;
}

int netvsc_query(struct netvsc *nv, uint32_t oid, void *out, uint32_t *len)
{
	struct netvsc_priv *p = nv->p;
	uint8_t req[64];
	uint32_t id = next_req_id(nv);
	struct rndis_msg m;
	char err[128];
	int n = rndis_encode_query(req, sizeof(req), id, oid, NULL, 0), r;

	if (n < 0)
		return n;
	r = rndis_request(nv, req, (uint32_t)n, id, false, rndis_oid_name(oid));
	if (r)
		return r;
	if (rndis_decode(p->answer, p->answer_len, &m, err, sizeof(err)) ||
	    m.hdr.type != RNDIS_MSG_QUERY_C)
		return seterr(nv, -EPROTO, "QUERY %s: bad answer: %s", rndis_oid_name(oid), err);
	if (m.query_c.status != RNDIS_STATUS_SUCCESS)
		return seterr(nv, -EIO, "QUERY %s: host says %#x", rndis_oid_name(oid),
		              m.query_c.status);
	if (m.info_len > *len)
		return seterr(nv, -EMSGSIZE, "QUERY %s: %u bytes, room for %u", rndis_oid_name(oid),
		              m.info_len, *len);
	if (m.info_len)
		memcpy(out, m.info, m.info_len);
	*len = m.info_len;
	return 0;
}

static int simple_answer(struct netvsc *nv, uint32_t type, const char *what)
{
	struct netvsc_priv *p = nv->p;
	struct rndis_msg m;
	char err[128];

	if (rndis_decode(p->answer, p->answer_len, &m, err, sizeof(err)) || m.hdr.type != type)
		return seterr(nv, -EPROTO, "%s: bad answer", what);
	if (m.set_c.status != RNDIS_STATUS_SUCCESS)
		return seterr(nv, -EIO, "%s: host says %#x", what, m.set_c.status);
	return 0;
}

int netvsc_set(struct netvsc *nv, uint32_t oid, const void *in, uint32_t len)
{
	uint8_t req[CTL_MAX];
	uint32_t id = next_req_id(nv);
	int n = rndis_encode_set(req, sizeof(req), id, oid, in, len), r;

	if (n < 0)
		return n;
	r = rndis_request(nv, req, (uint32_t)n, id, false, rndis_oid_name(oid));
	return r ? r : simple_answer(nv, RNDIS_MSG_SET_C, rndis_oid_name(oid));
}

int netvsc_keepalive(struct netvsc *nv)
{
	uint8_t req[16];
	uint32_t id = next_req_id(nv);
	int n = rndis_encode_keepalive(req, sizeof(req), id), r;

	if (n < 0)
		return n;
	r = rndis_request(nv, req, (uint32_t)n, id, false, "KEEPALIVE");
	return r ? r : simple_answer(nv, RNDIS_MSG_KEEPALIVE_C, "KEEPALIVE");
}

int netvsc_switch_datapath(struct netvsc *nv, uint32_t path)
{
	uint8_t m[NVSP_MSG_SIZE];
	int r;

	if (nv->version < NVSP_VERSION_4)
		return seterr(nv, -ENOTSUP, "SWITCH_DATA_PATH needs NVSP 4, the host speaks %#x",
		              nv->version);
	nvsp_encode_switch_data_path(m, sizeof(m), path);
	r = nvsp_request(nv, m, sizeof(m), "SWITCH_DATA_PATH");
	if (!r)
		nv->datapath = path;
	return r;
}

int netvsc_send_raw(struct netvsc *nv, uint16_t type, uint16_t flags, uint32_t trans_id,
                    const void *data, uint32_t len)
{
	struct iovec iov = { (void *)data, len };
	struct vmbus_tx tx = {
		.type = type, .flags = flags, .trans_id = trans_id, .iov = &iov, .iovcnt = 1
	};
	int r = vmbus_chan_send(nv->p->ch, &tx, 1);

	return r < 0 ? r : r == 1 ? 0 : -EAGAIN;
}

struct vmbus_chan *netvsc_chan(struct netvsc *nv)
{
	return nv->p->ch;
}

/* ---- bring-up and teardown ---- */

static int bring_up(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	uint8_t m[NVSP_MSG_SIZE], req[64];
	struct nvsp_msg rep;
	struct rndis_msg rm;
	char err[128];
	uint32_t vmin = p->cfg.ver_min ? p->cfg.ver_min : NVSP_VERSION_1;
	uint32_t vmax = p->cfg.ver_max ? p->cfg.ver_max : NVSP_VERSION_61, len, v32, id;
	int r, n;

	/* NVSP version */
	nvsp_encode_init(m, sizeof(m), vmin, vmax);
	if ((r = nvsp_request(nv, m, sizeof(m), "NVSP INIT")))
		return r;
	if (nvsp_decode(p->reply, p->reply_len, &rep, err, sizeof(err)) ||
	    rep.hdr.type != NVSP_TYPE_INIT_COMPLETE)
		return seterr(nv, -EPROTO, "NVSP INIT: bad answer: %s", err);
	if (rep.init_complete.status != NVSP_STATUS_SUCCESS)
		return seterr(
		    nv, -EIO,
		    "the host refused NVSP versions %#x..%#x (status %u): no common version", vmin,
		    vmax, rep.init_complete.status);
	nv->version = rep.init_complete.ver;
	if (nv->version < vmin || nv->version > vmax)
		return seterr(nv, -EPROTO, "the host chose NVSP %#x, outside %#x..%#x", nv->version,
		              vmin, vmax);

	/* NDIS version and config */
	nvsp_encode_ndis_ver(m, sizeof(m), 6, 30);
	if ((r = nvsp_post(nv, m, sizeof(m))))
		return r;
	if (nv->version >= NVSP_VERSION_2) {
		nvsp_encode_ndis_config(m, sizeof(m), 1500,
		                        NVSP_CAP_IEEE8021Q |
		                            (nv->version >= NVSP_VERSION_4 ? NVSP_CAP_SRIOV : 0));
		if ((r = nvsp_post(nv, m, sizeof(m))))
			return r;
	}

	/* receive buffer */
	if ((r = vmbus_gpadl_create(p->ch, NETVSC_GPADL_RECV, p->cfg.recv_buf_size, &p->rbuf)))
		return seterr(nv, r, "receive buffer: %s", strerror(-r));
	p->rbuf_ok = true;
	nvsp_encode_recv_buf(m, sizeof(m), NETVSC_GPADL_RECV, NVSP_RECV_BUF_ID);
	if ((r = nvsp_request(nv, m, sizeof(m), "SEND_RECV_BUF")))
		return r;
	if (nvsp_decode(p->reply, p->reply_len, &rep, err, sizeof(err)) ||
	    rep.hdr.type != NVSP_TYPE_SEND_RECV_BUF_COMPLETE ||
	    rep.recv_buf_complete.status != NVSP_STATUS_SUCCESS ||
	    rep.recv_buf_complete.num_sections != 1 || rep.sections[0].end_offset > p->rbuf.size)
		return seterr(nv, -EIO, "the host refused the receive buffer");
	p->rbuf_taken = true;

	/* send buffer */
	if ((r = vmbus_gpadl_create(p->ch, NETVSC_GPADL_SEND, p->cfg.send_buf_size, &p->sbuf)))
		return seterr(nv, r, "send buffer: %s", strerror(-r));
	p->sbuf_ok = true;
	nvsp_encode_send_buf(m, sizeof(m), NETVSC_GPADL_SEND, NVSP_SEND_BUF_ID);
	if ((r = nvsp_request(nv, m, sizeof(m), "SEND_SEND_BUF")))
		return r;
	if (nvsp_decode(p->reply, p->reply_len, &rep, err, sizeof(err)) ||
	    rep.hdr.type != NVSP_TYPE_SEND_SEND_BUF_COMPLETE ||
	    rep.send_buf_complete.status != NVSP_STATUS_SUCCESS)
		return seterr(nv, -EIO, "the host refused the send buffer");
	p->sbuf_taken = true;
	nv->section_size = rep.send_buf_complete.section_size;
	if (nv->section_size < 256 || nv->section_size > p->sbuf.size || nv->section_size % 8)
		return seterr(nv, -EPROTO, "the host chose send sections of %u bytes",
		              nv->section_size);
	nv->nsec = (uint32_t)(p->sbuf.size / nv->section_size);
	if (nv->nsec > NETVSC_MAX_SECTIONS)
		nv->nsec = NETVSC_MAX_SECTIONS;
	p->nfree_sec = 0;
	for (uint32_t i = nv->nsec; i-- > 1;)
		p->free_sec[p->nfree_sec++] = i;
	p->next_sec = 0;
	p->nfree_req = 0;
	for (uint32_t i = UTIL_XID_SLOTS; i-- > nv->nsec;)
		p->free_req[p->nfree_req++] = i;

	/* RNDIS */
	id = next_req_id(nv);
	n = rndis_encode_init(req, sizeof(req), id, RNDIS_MAJOR_VERSION, RNDIS_MINOR_VERSION,
	                      RNDIS_XFER);
	if ((r = rndis_request(nv, req, (uint32_t)n, id, false, "RNDIS INITIALIZE")))
		return r;
	if (rndis_decode(p->answer, p->answer_len, &rm, err, sizeof(err)) ||
	    rm.hdr.type != RNDIS_MSG_INIT_C || rm.init_c.status != RNDIS_STATUS_SUCCESS)
		return seterr(nv, -EIO, "RNDIS INITIALIZE refused");

	len = 6;
	if ((r = netvsc_query(nv, RNDIS_OID_802_3_CURRENT_ADDRESS, nv->mac, &len)) || len != 6)
		return r ? r : seterr(nv, -EPROTO, "the MAC address has %u bytes", len);
	len = 4;
	if ((r = netvsc_query(nv, RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE, &nv->mtu, &len)))
		return r;
	len = 4;
	if ((r = netvsc_query(nv, RNDIS_OID_GEN_LINK_SPEED, &nv->link_speed, &len)))
		return r;
	len = 4;
	if ((r = netvsc_query(nv, RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, &v32, &len)))
		return r;
	nv->media_connected = v32 == RNDIS_MEDIA_STATE_CONNECTED;

	struct rndis_oid_offload_params op = {
		.hdr = { RNDIS_OID_OBJ_DEFAULT, 1, RNDIS_OID_OFFLOAD_PARAMS_SIZE_1 },
		.ip4_csum = RNDIS_OID_OFFLOAD_TXRX,
		.tcp4_csum = RNDIS_OID_OFFLOAD_TXRX,
		.udp4_csum = RNDIS_OID_OFFLOAD_TXRX,
		.tcp6_csum = RNDIS_OID_OFFLOAD_TXRX,
		.udp6_csum = RNDIS_OID_OFFLOAD_TXRX,
		.lsov2_ip4 = RNDIS_OID_OFFLOAD_LSO_ON,
		.lsov2_ip6 = RNDIS_OID_OFFLOAD_LSO_ON,
	};
	if ((r = netvsc_set(nv, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &op,
	                    RNDIS_OID_OFFLOAD_PARAMS_SIZE_1)))
		return r;
	v32 =
	    RNDIS_PACKET_TYPE_DIRECTED | RNDIS_PACKET_TYPE_MULTICAST | RNDIS_PACKET_TYPE_BROADCAST;
	return netvsc_set(nv, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &v32, 4);
}

struct netvsc *netvsc_open(const struct netvsc_config *cfg, char *err, size_t errlen)
{
	struct netvsc *nv = calloc(1, sizeof(*nv));
	struct netvsc_priv *p = calloc(1, sizeof(*p));
	struct vmbus_client_opts co = { 0 };
	int r;

	if (!nv || !p) {
		free(nv);
		free(p);
		errno = ENOMEM;
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	nv->p = p;
	p->cfg = *cfg;
	p->arm_efd = p->arm_sock = p->arm_vf = -1;
	if (!p->cfg.ring_size)
		p->cfg.ring_size = NETVSC_RING_SIZE;
	if (!p->cfg.recv_buf_size)
		p->cfg.recv_buf_size = NETVSC_RECV_BUF_SIZE;
	if (!p->cfg.send_buf_size)
		p->cfg.send_buf_size = NETVSC_SEND_BUF_SIZE;
	p->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : NETVSC_TIMEOUT_MS;
	p->cur_sec = p->next_sec = -1;
	p->rbuf.fd = p->sbuf.fd = -1;
	util_xid_init(&p->xid);
	p->free_sec = calloc(UTIL_XID_SLOTS, sizeof(uint32_t));
	p->free_req = calloc(UTIL_XID_SLOTS, sizeof(uint32_t));
	p->pkbuf_len = p->cfg.ring_size;
	p->pkbuf = malloc(p->pkbuf_len);
	/* Until the send buffer is known every slot is a request slot. */
	for (uint32_t i = UTIL_XID_SLOTS; i-- > 0;)
		p->free_req[p->nfree_req++] = i;
	nv->nsec = 0;
	co.name = cfg->name;
	co.secret = cfg->secret;
	co.ring_size[0] = co.ring_size[1] = p->cfg.ring_size;
	co.timeout_ms = p->timeout_ms;
	if (!p->free_sec || !p->free_req || !p->pkbuf) {
		r = -ENOMEM;
		snprintf(nv->err, sizeof(nv->err), "out of memory");
		goto fail;
	}
	p->ch = vmbus_chan_connect(cfg->path, &co, nv->err, sizeof(nv->err));
	if (!p->ch) {
		r = -errno;
		goto fail;
	}
	if ((r = bring_up(nv)))
		goto fail;
	return nv;
fail:
	snprintf(err, errlen, "%s", nv->err);
	netvsc_close(nv);
	errno = -r;
	return NULL;
}

int netvsc_halt(struct netvsc *nv)
{
	struct netvsc_priv *p = nv->p;
	uint8_t req[16];
	uint32_t id = next_req_id(nv);
	int n = rndis_encode_halt(req, sizeof(req), id), saved = p->timeout_ms, r;

	if (p->halted)
		return 0;
	if (!p->ch || p->ch->broken || p->ch->peer_gone)
		return -EPIPE;
	p->halted = true;
	p->timeout_ms = saved < 500 ? saved : 500;
	flush_done(nv);
	r = nv->section_size && n > 0 ? rndis_request(nv, req, (uint32_t)n, id, true, "RNDIS HALT")
	                              : 0;
	p->timeout_ms = saved;
	return r;
}

void netvsc_close(struct netvsc *nv)
{
	struct netvsc_priv *p;

	if (!nv)
		return;
	p = nv->p;
	if (p->ch && !p->ch->broken && !p->ch->peer_gone) {
		uint8_t m[NVSP_MSG_SIZE];

		netvsc_halt(nv);
		p->timeout_ms = p->timeout_ms < 500 ? p->timeout_ms : 500;
		flush_done(nv);
		if (p->sbuf_taken) {
			nvsp_encode_revoke_send_buf(m, sizeof(m), NVSP_SEND_BUF_ID);
			nvsp_post(nv, m, sizeof(m));
		}
		if (p->sbuf_ok) {
			vmbus_chan_send_ctl(p->ch, VMBUS_CTL_GPADL_TEARDOWN, 0, &p->sbuf.handle, 4,
			                    NULL, 0);
		}
		if (p->rbuf_taken) {
			nvsp_encode_revoke_recv_buf(m, sizeof(m), NVSP_RECV_BUF_ID);
			nvsp_post(nv, m, sizeof(m));
		}
		if (p->rbuf_ok) {
			vmbus_chan_send_ctl(p->ch, VMBUS_CTL_GPADL_TEARDOWN, 0, &p->rbuf.handle, 4,
			                    NULL, 0);
		}
	}
	while (p->stash_head) {
		struct stash *s = p->stash_head;

		p->stash_head = s->next;
		free(s);
	}
	vf_stop(p->vf);
	vf_stop(p->vf_retired);
	vmbus_gpadl_release(&p->rbuf);
	vmbus_gpadl_release(&p->sbuf);
	vmbus_chan_close(p->ch);
	free(p->free_sec);
	free(p->free_req);
	free(p->pkbuf);
	free(p);
	free(nv);
}
