/* netvsp — see netvsp.h. */
#include "vswitch/netvsp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proto/rndis.h"
#include "proto/rndis_vnet.h"
#include "util/util.h"

#define CTL_ANSWER_MAX 4096u /* largest RNDIS control answer */
#define COMP_QUEUE     (NETVSP_POLL_BUDGET + 8u)
#define CTL_EVERY      64u  /* netvsp_poll calls between looks at the control socket */
#define STAGE_MSG_MAX  256u /* received messages up to this size are staged */
#define STAGE_SIZE     (NETVSP_XFER_RANGES * STAGE_MSG_MAX)

struct comp {
	uint32_t trans_id;
	uint8_t msg[NVSP_MSG_SIZE + 4 * sizeof(struct nvsp_recv_section)];
	uint32_t len;
};

struct netvsp {
	/* control messages (GPADL, VPCI) are rare: the socket is looked at on
	 * every CTL_EVERY-th poll, on the first poll after a sleep, and before a
	 * GPADL handle is called unknown (gpadl_find) */
	unsigned int ctl_tick;
	bool ctl_check;
	struct vmbus_chan *ch;
	struct netvsp_config cfg;
	char name[VMBUS_NAME_MAX];
	const struct netvsp_ops *ops;
	void *ctx;
	enum netvsp_state state;
	uint32_t ver;
	uint32_t datapath;
	uint32_t guest_mtu;
	uint64_t guest_caps;

	struct vmbus_gpadl gpadl[NETVSP_MAX_GPADLS];

	/* receive buffer (host writes, guest reads) */
	struct vmbus_gpadl *rbuf;
	uint16_t rbuf_id;
	bool rbuf_torn, sbuf_torn; /* GPADL gone before the REVOKE that may still come */
	struct netvsp_rxbuf rx;
	/* send buffer (guest writes, host copies sections out) */
	struct vmbus_gpadl *sbuf;
	uint16_t sbuf_id;
	uint32_t nsec;

	struct rndis_oid_adapter ad;

	/* the current burst of ring packets, copied out of the ring */
	struct vmbus_rx pk[NETVSP_POLL_BUDGET];
	unsigned int npk, ipk;
	uint8_t *pkbuf;
	size_t pkbuf_len;

	/* the data transfer being delivered (it may wait for ops.rx) */
	struct {
		bool active;
		const uint8_t *buf;
		uint32_t len;
		size_t pos;
		/* past the last bad message reported: one that waited for
		 * ops.rx is parsed again from the first frame not taken, and
		 * what was bad before it is not reported twice */
		size_t reported;
		uint32_t trans_id;
		uint32_t status;
		bool want_comp;
	} xf;
	uint8_t *secbuf; /* private copy of a send-buffer section */
	/* small received messages, written here first (see stage_at) */
	uint8_t *stage;
	uint32_t stage_off, stage_len; /* their place in the receive buffer */

	/* completions to send, batched */
	struct comp comp[COMP_QUEUE];
	unsigned int ncomp;

	uint8_t *ctlbuf; /* NVSP header + RNDIS answer */
	struct netvsp_stats st;
	char err[256];
};

static void report(struct netvsp *v, int level, uint64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(struct netvsp *v, int level, uint64_t *counter, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(v->err, sizeof(v->err), "%s: ", v->name);

	va_start(ap, fmt);
	vsnprintf(v->err + n, sizeof(v->err) - (size_t)n, fmt, ap);
	va_end(ap);
	if (counter)
		(*counter)++;
	if (v->ops->log)
		v->ops->log(v->ctx, v, level, v->err);
}

/* The VM broke the protocol in a way that loses state: close its channel. */
static int fail(struct netvsp *v, const char *what)
{
	report(v, 0, &v->st.bad_nvsp, "closing the channel: %s", what);
	v->state = NETVSP_CLOSED;
	return vmbus_chan_fail(v->ch, "%s", what);
}

struct netvsp *netvsp_create(struct vmbus_chan *ch, const struct netvsp_config *cfg,
                             const struct netvsp_ops *ops, void *ctx)
{
	struct netvsp *v;

	if (!ch || !cfg || !ops || !ops->rx) {
		errno = EINVAL;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->ch = ch;
	v->cfg = *cfg;
	snprintf(v->name, sizeof(v->name), "%s", cfg->name ? cfg->name : ch->name);
	v->cfg.name = v->name;
	if (!v->cfg.mtu)
		v->cfg.mtu = 1500;
	if (!v->cfg.link_speed)
		v->cfg.link_speed = 100000000; /* 10 Gbit/s */
	if (!v->cfg.ver_max)
		v->cfg.ver_max = NVSP_VERSION_61;
	v->ops = ops;
	v->ctx = ctx;
	for (unsigned int i = 0; i < NETVSP_MAX_GPADLS; i++)
		v->gpadl[i].fd = -1;
	rndis_oid_adapter_init(&v->ad, cfg->mac, v->cfg.mtu, v->cfg.link_speed);
	v->pkbuf_len = ch->ring_size[VMBUS_C2S];
	v->pkbuf = malloc(v->pkbuf_len);
	v->secbuf = malloc(NETVSP_SECTION_SIZE);
	v->stage = aligned_alloc(64, STAGE_SIZE);
	v->ctlbuf = malloc(NVSP_MSG_SIZE + CTL_ANSWER_MAX);
	if (v->stage) /* the pad after a message goes out too: never our heap's bytes */
		memset(v->stage, 0, STAGE_SIZE);
	if (!v->pkbuf || !v->secbuf || !v->stage || !v->ctlbuf) {
		free(v->pkbuf);
		free(v->secbuf);
		free(v->stage);
		free(v->ctlbuf);
		free(v);
		errno = ENOMEM;
		return NULL;
	}
	return v;
}

void netvsp_destroy(struct netvsp *v)
{
	if (!v)
		return;
	for (unsigned int i = 0; i < NETVSP_MAX_GPADLS; i++)
		vmbus_gpadl_release(&v->gpadl[i]);
	vmbus_chan_close(v->ch);
	free(v->pkbuf);
	free(v->secbuf);
	free(v->stage);
	free(v->ctlbuf);
	free(v);
}

/* ---- sending ---- */

static int flush_comps(struct netvsp *v)
{
	struct vmbus_tx tx[COMP_QUEUE];
	struct iovec iov[COMP_QUEUE];
	int n;

	if (!v->ncomp)
		return 0;
	for (unsigned int i = 0; i < v->ncomp; i++) {
		iov[i] = (struct iovec){ v->comp[i].msg, v->comp[i].len };
		tx[i] = (struct vmbus_tx){ .type = VMBUS_PKT_COMP,
			                   .trans_id = v->comp[i].trans_id,
			                   .iov = &iov[i],
			                   .iovcnt = 1 };
	}
	n = vmbus_chan_send(v->ch, tx, v->ncomp);
	if (n < 0)
		return n;
	memmove(v->comp, v->comp + n, (v->ncomp - (unsigned int)n) * sizeof(v->comp[0]));
	v->ncomp -= (unsigned int)n;
	return 0;
}

/* Queue a completion carrying the NVSP message the encoder @len wrote. */
static struct comp *comp_slot(struct netvsp *v, uint32_t trans_id)
{
	struct comp *c;

	if (v->ncomp == COMP_QUEUE && flush_comps(v) < 0)
		return NULL;
	if (v->ncomp == COMP_QUEUE)
		return NULL;
	c = &v->comp[v->ncomp];
	memset(c->msg, 0, sizeof(c->msg));
	c->trans_id = trans_id;
	return c;
}

static void comp_push(struct netvsp *v, int len)
{
	if (len > 0) {
		v->comp[v->ncomp].len = (uint32_t)len;
		v->ncomp++;
	}
}

static void complete_rndis(struct netvsp *v, uint32_t trans_id, uint32_t status)
{
	struct comp *c = comp_slot(v, trans_id);

	if (c)
		comp_push(v, nvsp_encode_rndis_pkt_complete(c->msg, sizeof(c->msg), status));
}

/* An NVSP message (plus @extra bytes) in an in-band packet, no completion. */
static int send_inband(struct netvsp *v, const void *msg, uint32_t len)
{
	struct iovec iov = { (void *)msg, len };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };
	int n = vmbus_chan_send(v->ch, &tx, 1);

	return n < 0 ? n : n == 1 ? 0 : -EAGAIN;
}

/* ---- control messages on the socket: GPADLs ---- */

/* The VM's GPADL with @handle other than @skip (NULL: any), or NULL. */
static struct vmbus_gpadl *gpadl_other(struct netvsp *v, uint32_t handle,
                                       const struct vmbus_gpadl *skip)
{
	for (unsigned int i = 0; i < NETVSP_MAX_GPADLS; i++)
		if (v->gpadl[i].fd >= 0 && v->gpadl[i].handle == handle && &v->gpadl[i] != skip)
			return &v->gpadl[i];
	return NULL;
}

static struct vmbus_gpadl *gpadl_lookup(struct netvsp *v, uint32_t handle)
{
	return gpadl_other(v, handle, NULL);
}

static int drain_ctl(struct netvsp *v);

/* The guest sends a GPADL on the socket before the NVSP message naming it,
 * but the host may have looked at the socket just before the GPADL came and
 * at the ring just after the NVSP message: look at the socket again. */
static struct vmbus_gpadl *gpadl_find(struct netvsp *v, uint32_t handle)
{
	struct vmbus_gpadl *g = gpadl_lookup(v, handle);

	if (!g && drain_ctl(v) > 0)
		g = gpadl_lookup(v, handle);
	return g;
}

static int handle_ctl(struct netvsp *v, const struct vmbus_ctl_msg *m, int *fds, int nfds)
{
	char err[160];

	if (m->hdr.type == VMBUS_CTL_GPADL) {
		struct vmbus_gpadl *slot = NULL;

		for (int i = 1; i < nfds; i++)
			close(fds[i]);
		if (nfds < 1)
			return fail(v, "GPADL message without a descriptor");
		for (unsigned int i = 0; i < NETVSP_MAX_GPADLS && !slot; i++)
			if (v->gpadl[i].fd < 0)
				slot = &v->gpadl[i];
		if (!slot) {
			close(fds[0]);
			return fail(v, "more than NETVSP_MAX_GPADLS GPADLs");
		}
		if (vmbus_gpadl_map(m, fds[0], slot, err, sizeof(err)))
			return fail(v, err);
		if (gpadl_other(v, slot->handle, slot)) { /* in any slot, before or after */
			vmbus_gpadl_release(slot);
			return fail(v, "GPADL handle used twice");
		}
		return 0;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (m->hdr.type >= VMBUS_CTL_VPCI_ADD && m->hdr.type <= VMBUS_CTL_VPCI_REMOVE_DONE) {
		struct vmbus_vpci_add vp;

		if (vmbus_vpci_decode(m, nfds, &vp, err, sizeof(err)))
			report(v, 0, &v->st.bad_vpci, "dropped: %s", err);
		else if (m->hdr.type != VMBUS_CTL_VPCI_REMOVE_DONE || !v->ops->vpci)
			report(v, 0, &v->st.bad_vpci, "dropped: VPCI message type %u from the VM",
			       m->hdr.type);
		else
			v->ops->vpci(v->ctx, v, m->hdr.type, vp.serial);
		return 0;
	}
	if (m->hdr.type == VMBUS_CTL_GPADL_TEARDOWN && m->hdr.len >= 4) {
		uint32_t handle;
		struct vmbus_gpadl *g;

		memcpy(&handle, m->payload, 4);
		g = gpadl_lookup(v, handle);
		if (!g) {
			report(v, 0, &v->st.bad_nvsp, "GPADL teardown of unknown handle %u",
			       handle);
			return 0;
		}
		/* The socket and the ring are not ordered: a teardown may overtake
		 * the REVOKE the guest sent first. The buffer is gone either way. */
		if (g == v->rbuf)
			v->rbuf = NULL, v->rbuf_torn = true;
		if (g == v->sbuf)
			v->sbuf = NULL, v->nsec = 0, v->sbuf_torn = true;
		vmbus_gpadl_release(g);
		return 0;
	}
	report(v, 0, &v->st.bad_nvsp, "unknown control message type %u", m->hdr.type);
	return 0;
}

/* ---- data: VM -> host ---- */

/* A bad message at byte @at of the current transfer: true the first time
 * (report it), false when a parse again after a wait for ops.rx meets it. */
static bool xf_first_report(struct netvsp *v, size_t at)
{
	if (at < v->xf.reported)
		return false;
	v->xf.reported = at + 1;
	return true;
}

/* Walk the current transfer from xf.pos: frames to ops.rx, in bursts.
 * Returns 1 when the transfer is done, 0 when it waits for ops.rx. */
static int deliver_xfer(struct netvsp *v)
{
	char err[160];

	while (v->xf.active) {
		struct vsw_frame fr[NETVSP_BURST];
		size_t start[NETVSP_BURST], pos = v->xf.pos;
		unsigned int k = 0, took;
		int end = 0;

		while (k < NETVSP_BURST) {
			struct rndis_pkt_view rm;
			size_t at = pos;
			/* -ENOMSG: another type, "..., not a PACKET" */
			int r = rndis_next_packet(v->xf.buf, v->xf.len, &pos, &rm, err, sizeof(err));

			if (r == 0) {
				end = 1;
				break;
			}
			if (r < 0) {
				if (xf_first_report(v, at))
					report(v, 0, &v->st.bad_rndis,
					       "data transfer dropped from byte %zu: %s", at, err);
				v->xf.status = NVSP_STATUS_INVALID_RNDIS_PKT;
				end = 1;
				break;
			}
			struct vsw_frame *f = &fr[k];

			f->data = rm.data; /* (the vnet header: rndis_pi_to_vnet) */
			f->len = rm.data_len;
			f->flags = 0;
			f->vlan_tci = 0;
			if (rm.pi.present & RNDIS_PI_VLAN) {
				f->flags = VSW_F_VLAN;
				f->vlan_tci = (uint16_t)(rndis_vlan_id(rm.pi.vlan) |
				                         (rndis_vlan_pri(rm.pi.vlan) << 13));
			}
			if (rndis_pi_to_vnet(&rm.pi, rm.data, rm.data_len, RNDIS_TO_HOST,
			                     &f->vnet)) {
				if (xf_first_report(v, at))
					report(v, 0, &v->st.bad_offload,
					       "frame dropped: offload info does not fit the frame");
				continue;
			}
			start[k++] = at;
		}
		took = k ? v->ops->rx(v->ctx, v, fr, k) : 0;
		if (took > k)
			took = k;
		for (unsigned int i = 0; i < took; i++) {
			v->st.rx_frames++;
			v->st.rx_bytes += fr[i].len;
		}
		if (took < k) {
			v->xf.pos = start[took];
			v->st.rx_pending++;
			return 0;
		}
		v->xf.pos = pos;
		if (end)
			v->xf.active = false;
	}
	if (v->xf.want_comp)
		complete_rndis(v, v->xf.trans_id, v->xf.status);
	return 1;
}

/* ---- NVSP messages from the VM ---- */

static void handle_recv_buf(struct netvsp *v, const struct vmbus_rx *p, const struct nvsp_msg *m)
{
	struct comp *c = comp_slot(v, p->trans_id);
	struct vmbus_gpadl *g = gpadl_find(v, m->recv_buf.gpadl);
	struct nvsp_recv_section sec;

	if (!c)
		return;
	if (!g || v->rbuf || g == v->sbuf || g->size < NETVSP_RECV_BUF_MIN ||
	    g->size > NETVSP_RECV_BUF_MAX) {
		report(v, 0, &v->st.bad_nvsp, "SEND_RECV_BUF refused: %s",
		       !g             ? "unknown GPADL"
		       : v->rbuf      ? "a receive buffer exists"
		       : g == v->sbuf ? "the GPADL is the send buffer"
		                      : "its size is outside 64 KiB..32 MiB");
		comp_push(v, nvsp_encode_recv_buf_complete(c->msg, sizeof(c->msg),
		                                           NVSP_STATUS_FAILED, NULL, 0));
		return;
	}
	v->rbuf = g;
	v->rbuf_id = m->recv_buf.id;
	netvsp_rxbuf_init(&v->rx, (uint32_t)g->size);
	sec = (struct nvsp_recv_section){ .offset = 0,
		                          .sub_alloc_size = NETVSP_RXBUF_ALIGN,
		                          .num_sub_allocs = v->rx.size / NETVSP_RXBUF_ALIGN,
		                          .end_offset = v->rx.size };
	comp_push(
	    v, nvsp_encode_recv_buf_complete(c->msg, sizeof(c->msg), NVSP_STATUS_SUCCESS, &sec, 1));
}

static void handle_send_buf(struct netvsp *v, const struct vmbus_rx *p, const struct nvsp_msg *m)
{
	struct comp *c = comp_slot(v, p->trans_id);
	struct vmbus_gpadl *g = gpadl_find(v, m->send_buf.gpadl);

	if (!c)
		return;
	if (!g || v->sbuf || g == v->rbuf || g->size < NETVSP_SECTION_SIZE) {
		report(v, 0, &v->st.bad_nvsp, "SEND_SEND_BUF refused: %s",
		       !g        ? "unknown GPADL"
		       : v->sbuf ? "a send buffer exists"
		                 : "bad size");
		comp_push(v, nvsp_encode_send_buf_complete(c->msg, sizeof(c->msg),
		                                           NVSP_STATUS_FAILED, 0));
		return;
	}
	v->sbuf = g;
	v->sbuf_id = m->send_buf.id;
	v->nsec = (uint32_t)(g->size / NETVSP_SECTION_SIZE);
	if (v->nsec > NETVSP_SEND_SECTIONS)
		v->nsec = NETVSP_SEND_SECTIONS;
	comp_push(v, nvsp_encode_send_buf_complete(c->msg, sizeof(c->msg), NVSP_STATUS_SUCCESS,
	                                           NETVSP_SECTION_SIZE));
}

/* Answer one RNDIS control request. 0, or -EAGAIN when the answer can't be
 * sent now (the packet is then handled again later). */
/* The statistics OIDs, as the guest's miniport would count them: its sends
 * the host took or refused, the frames given to it or refused for want of
 * room or because their offload info could not be expressed. Frames its
 * packet filter refused are not errors (NDIS counts them nowhere). */
static void stats_to_oid(struct netvsp *v)
{
	v->ad.stats = (struct rndis_oid_stats){
		.xmit_ok = v->st.rx_frames,
		.xmit_error = v->st.bad_rndis + v->st.bad_section + v->st.bad_offload,
		.rcv_ok = v->st.tx_frames,
		.rcv_error = v->st.tx_bad,
		.rcv_no_buffer = v->st.tx_no_room,
	};
}

static int handle_control(struct netvsp *v, const struct vmbus_rx *p, const uint8_t *buf,
                          uint32_t len)
{
	char err[160];
	const uint8_t *msg;
	uint32_t mlen;
	size_t pos = 0;
	struct rndis_msg rm;
	int r;

	if (!vmbus_ring_has_room(&v->ch->tx, vmbus_pkt_space(0, NVSP_MSG_SIZE + CTL_ANSWER_MAX))) {
		v->st.ctl_throttled++;
		return -EAGAIN;
	}
	r = rndis_next(buf, len, &pos, &msg, &mlen, err, sizeof(err));
	if (r == 0)
		snprintf(err, sizeof(err), "empty control transfer");
	if (r <= 0 || rndis_decode(msg, mlen, &rm, err, sizeof(err)) < 0) {
		report(v, 0, &v->st.bad_rndis, "control message dropped: %s", err);
		complete_rndis(v, p->trans_id, NVSP_STATUS_INVALID_RNDIS_PKT);
		return 0;
	}
	stats_to_oid(v);
	r = rndis_oid_respond(&v->ad, &rm, v->ctlbuf + NVSP_MSG_SIZE, CTL_ANSWER_MAX);
	if (r < 0) {
		report(v, 0, &v->st.bad_rndis, "control message dropped: %s is not a request",
		       rndis_type_name(rm.hdr.type));
		complete_rndis(v, p->trans_id, NVSP_STATUS_INVALID_RNDIS_PKT);
		return 0;
	}
	v->st.ctl_msgs++;
	if (r > 0) {
		memset(v->ctlbuf, 0, NVSP_MSG_SIZE);
		nvsp_encode_rndis_pkt(v->ctlbuf, NVSP_MSG_SIZE, NVSP_CHANNEL_CONTROL,
		                      NVSP_SECTION_NONE, 0);
		send_inband(v, v->ctlbuf, NVSP_MSG_SIZE + (uint32_t)r);
	}
	if (p->flags & VMBUS_PKT_F_COMPLETION_REQUESTED)
		complete_rndis(v, p->trans_id, NVSP_STATUS_SUCCESS);
	return 0;
}

static int handle_rndis_pkt(struct netvsp *v, const struct vmbus_rx *p, const struct nvsp_msg *m)
{
	const struct nvsp_rndis_pkt *rp = &m->rndis_pkt;
	const uint8_t *buf;
	uint32_t len;

	if (rp->section_index == NVSP_SECTION_NONE) {
		buf = p->data + NVSP_MSG_SIZE;
		len = p->len > NVSP_MSG_SIZE ? p->len - NVSP_MSG_SIZE : 0;
		if (!len) {
			report(v, 0, &v->st.bad_rndis, "SEND_RNDIS_PKT inline without RNDIS bytes");
			complete_rndis(v, p->trans_id, NVSP_STATUS_INVALID_RNDIS_PKT);
			return 0;
		}
	} else {
		if (!v->sbuf || !nvsp_section_valid(rp->section_index, v->nsec) ||
		    !rp->section_size || rp->section_size > NETVSP_SECTION_SIZE) {
			report(
			    v, 0, &v->st.bad_section,
			    "SEND_RNDIS_PKT dropped: section %u of %u, %u bytes (section size %u)",
			    rp->section_index, v->nsec, rp->section_size, NETVSP_SECTION_SIZE);
			complete_rndis(v, p->trans_id, NVSP_STATUS_FAILED);
			return 0;
		}
		/* Read once: the VM may still write the section. */
		util_copy_block(v->secbuf,
		                v->sbuf->mem + (size_t)rp->section_index * NETVSP_SECTION_SIZE,
		                rp->section_size);
		buf = v->secbuf;
		len = rp->section_size;
	}
	if (rp->channel_type == NVSP_CHANNEL_CONTROL)
		return handle_control(v, p, buf, len);
	if (rp->section_index == NVSP_SECTION_NONE)
		v->st.rx_inline++;
	else
		v->st.rx_sections++;
	v->xf.active = true;
	v->xf.buf = buf;
	v->xf.len = len;
	v->xf.pos = v->xf.reported = 0;
	v->xf.trans_id = p->trans_id;
	v->xf.status = NVSP_STATUS_SUCCESS;
	v->xf.want_comp = p->flags & VMBUS_PKT_F_COMPLETION_REQUESTED;
	deliver_xfer(v);
	return 0;
}

static int handle_init(struct netvsp *v, const struct vmbus_rx *p, const struct nvsp_msg *m)
{
	uint32_t host[NVSP_NVERSIONS], n = 0, ver = 0;
	struct comp *c = comp_slot(v, p->trans_id);
	int r;

	if (v->state != NETVSP_WAIT_INIT)
		return fail(v, "a second NVSP INIT");
	for (unsigned int i = 0; i < NVSP_NVERSIONS; i++)
		if (nvsp_versions[i] <= v->cfg.ver_max)
			host[n++] = nvsp_versions[i];
	r = nvsp_version_negotiate(m->init.ver_min, m->init.ver_max, host, n, &ver);
	if (c)
		comp_push(v,
		          nvsp_encode_init_complete(c->msg, sizeof(c->msg), r ? 0 : ver, 1,
		                                    r ? NVSP_STATUS_FAILED : NVSP_STATUS_SUCCESS));
	if (r) {
		report(v, 1, &v->st.bad_nvsp,
		       "NVSP INIT refused: the VM speaks %#x..%#x, the host %#x..%#x",
		       m->init.ver_min, m->init.ver_max, host[0], host[n - 1]);
		return 0;
	}
	v->ver = ver;
	v->state = NETVSP_READY;
	return 0;
}

/* One NVSP message in an in-band packet. -EAGAIN: handle it again later. */
static int handle_inband(struct netvsp *v, const struct vmbus_rx *p)
{
	char err[160];
	struct nvsp_msg m;
	uint32_t type = 0;
	size_t len = p->len;
	int r;

	if (len >= 4)
		memcpy(&type, p->data, 4);
	if (type == NVSP_TYPE_SEND_RNDIS_PKT && len > NVSP_MSG_SIZE)
		len = NVSP_MSG_SIZE; /* inline RNDIS bytes follow the NVSP message */
	r = nvsp_decode(p->data, len, &m, err, sizeof(err));
	if (r < 0) {
		if (v->state == NETVSP_WAIT_INIT)
			return fail(v, err);
		report(v, 0, &v->st.bad_nvsp, "NVSP message dropped: %s", err);
		if (type == NVSP_TYPE_SEND_RNDIS_PKT &&
		    (p->flags & VMBUS_PKT_F_COMPLETION_REQUESTED))
			complete_rndis(v, p->trans_id, NVSP_STATUS_INVALID_RNDIS_PKT);
		return 0;
	}
	if (v->state == NETVSP_WAIT_INIT && m.hdr.type != NVSP_TYPE_INIT)
		return fail(v, "NVSP message before INIT");
	if (v->state == NETVSP_READY && nvsp_type_min_version(m.hdr.type) > v->ver) {
		report(v, 0, &v->st.bad_nvsp, "NVSP %s dropped: not in version %#x",
		       nvsp_type_name(m.hdr.type), v->ver);
		return 0;
	}
	switch (m.hdr.type) {
	case NVSP_TYPE_INIT:
		return handle_init(v, p, &m);
	case NVSP_TYPE_SEND_NDIS_VER:
		return 0;
	case NVSP_TYPE_SEND_NDIS_CONFIG:
		v->guest_mtu = m.ndis_config.mtu;
		v->guest_caps = m.ndis_config.caps;
		return 0;
	case NVSP_TYPE_SEND_RECV_BUF:
		handle_recv_buf(v, p, &m);
		return 0;
	case NVSP_TYPE_SEND_SEND_BUF:
		handle_send_buf(v, p, &m);
		return 0;
	case NVSP_TYPE_REVOKE_RECV_BUF:
		if (v->rbuf_torn && m.revoke_recv_buf.id == v->rbuf_id)
			v->rbuf_torn = false;
		else if (!v->rbuf || m.revoke_recv_buf.id != v->rbuf_id)
			report(v, 0, &v->st.bad_nvsp, "REVOKE_RECV_BUF of unknown buffer %u",
			       m.revoke_recv_buf.id);
		else
			v->rbuf = NULL;
		return 0;
	case NVSP_TYPE_REVOKE_SEND_BUF:
		if (v->sbuf_torn && m.revoke_send_buf.id == v->sbuf_id)
			v->sbuf_torn = false;
		else if (!v->sbuf || m.revoke_send_buf.id != v->sbuf_id)
			report(v, 0, &v->st.bad_nvsp, "REVOKE_SEND_BUF of unknown buffer %u",
			       m.revoke_send_buf.id);
		else
			v->sbuf = NULL, v->nsec = 0;
		return 0;
	case NVSP_TYPE_SEND_RNDIS_PKT:
		return handle_rndis_pkt(v, p, &m);
	case NVSP_TYPE_SWITCH_DATA_PATH: {
		struct comp *c;

		v->datapath = m.switch_data_path.active_path;
		if (v->ops->datapath)
			v->ops->datapath(v->ctx, v, v->datapath);
		if ((p->flags & VMBUS_PKT_F_COMPLETION_REQUESTED) &&
		    (c = comp_slot(v, p->trans_id)))
			comp_push(
			    v, nvsp_encode_switch_data_path(c->msg, sizeof(c->msg), v->datapath));
		return 0;
	}
	case NVSP_TYPE_SUBCHANNEL: {
		/* One channel per adapter: a 2-core host gains nothing from more. */
		struct comp *c = comp_slot(v, p->trans_id);

		if (c)
			comp_push(v, nvsp_encode_subchannel_complete(c->msg, sizeof(c->msg),
			                                             NVSP_STATUS_SUCCESS, 0));
		return 0;
	}
	default:
		report(v, 0, &v->st.bad_nvsp, "NVSP %s dropped: not a message for the host",
		       nvsp_type_name(m.hdr.type));
		return 0;
	}
}

static int handle_packet(struct netvsp *v, const struct vmbus_rx *p)
{
	if (p->type == VMBUS_PKT_DATA_INBAND)
		return handle_inband(v, p);
	if (p->type == VMBUS_PKT_COMP) {
		if (!v->rbuf && v->rbuf_torn)
			return 0; /* the teardown overtook the guest's last completions */
		if (!v->rbuf || netvsp_rxbuf_complete(&v->rx, p->trans_id) < 0)
			report(v, 0, &v->st.bad_completion,
			       "completion for transaction %#x that was never sent", p->trans_id);
		return 0;
	}
	report(v, 0, &v->st.bad_nvsp, "VMBus packet type %u dropped", p->type);
	return 0;
}

/* Handle up to NETVSP_CTL_BUDGET control messages waiting: a VM that floods
 * its socket gets bounded work per call like its ring (the rest at the next
 * poll). Returns how many, or -EPROTO (the channel is closed). */
static int drain_ctl(struct netvsp *v)
{
	int n = 0, r = 0;

	while (n < (int)NETVSP_CTL_BUDGET) {
		struct vmbus_ctl_msg m;
		int fds[VMBUS_CTL_MAX_FDS], nfds = 0;

		r = vmbus_chan_recv_ctl(v->ch, &m, fds, VMBUS_CTL_MAX_FDS, &nfds);
		if (r <= 0)
			break;
		if (handle_ctl(v, &m, fds, nfds) < 0)
			return -EPROTO;
		n++;
	}
	if (r == -EPROTO)
		return fail(v, vmbus_chan_error(v->ch));
	if (n == (int)NETVSP_CTL_BUDGET)
		v->ctl_check = true; /* there may be more: look again next poll */
	return n;
}

int netvsp_poll(struct netvsp *v)
{
	int work = 0, r;

	if (v->state == NETVSP_CLOSED)
		return -EPROTO;
	/* control messages first: a GPADL precedes the NVSP that names it */
	if (v->ctl_check || ++v->ctl_tick % CTL_EVERY == 0 || v->state != NETVSP_READY) {
		v->ctl_check = false;
		r = drain_ctl(v);
		if (r < 0)
			return r;
		work += r;
	}
	if (flush_comps(v) < 0)
		goto broken;
	if (v->xf.active && !deliver_xfer(v))
		return work;
	for (unsigned int budget = NETVSP_POLL_BUDGET; budget;) {
		if (v->ipk == v->npk) {
			r = vmbus_chan_recv(v->ch, v->pk, budget, v->pkbuf, v->pkbuf_len);
			if (r <= 0) {
				if (r < 0 && r != -EPIPE && v->state != NETVSP_CLOSED)
					report(v, 0, NULL, "channel broken: %s",
					       vmbus_chan_error(v->ch));
				if (r < 0)
					v->state = NETVSP_CLOSED;
				flush_comps(v);
				return r < 0 ? r : work;
			}
			v->npk = (unsigned int)r;
			v->ipk = 0;
			budget -= (unsigned int)r;
		}
		while (v->ipk < v->npk) {
			if (v->ncomp == COMP_QUEUE &&
			    (flush_comps(v) < 0 || v->ncomp == COMP_QUEUE))
				goto out;
			r = handle_packet(v, &v->pk[v->ipk]);
			if (r == -EAGAIN)
				goto out;
			if (r < 0)
				return r;
			v->ipk++;
			work++;
			if (v->xf.active)
				goto out; /* waits for ops.rx */
		}
	}
out:
	if (flush_comps(v) < 0)
		goto broken;
	return work;
broken:
	v->state = NETVSP_CLOSED;
	return vmbus_chan_error(v->ch)[0] && !v->ch->peer_gone ? -EPROTO : -EPIPE;
}

bool netvsp_arm(struct netvsp *v)
{
	v->ctl_check = true; /* whatever wakes us, look at the socket once... */
	if (v->xf.active || v->ipk < v->npk || v->ncomp)
		return false;
	return vmbus_ring_arm(&v->ch->rx);
}

void netvsp_woken(struct netvsp *v, bool ctl)
{
	v->ctl_check = ctl; /* ...unless the waker knows it was quiet */
}

/* ---- data: host -> VM ---- */

static bool filter_pass(const struct netvsp *v, const uint8_t *dst)
{
	uint32_t pf = v->ad.packet_filter;

	if (pf & RNDIS_PACKET_TYPE_PROMISCUOUS)
		return true;
	if (!(dst[0] & 1))
		return (pf & RNDIS_PACKET_TYPE_DIRECTED) && !memcmp(dst, v->ad.mac, 6);
	if (!memcmp(dst, "\xff\xff\xff\xff\xff\xff", 6))
		return pf & RNDIS_PACKET_TYPE_BROADCAST;
	if (pf & RNDIS_PACKET_TYPE_ALL_MULTICAST)
		return true;
	if (!(pf & RNDIS_PACKET_TYPE_MULTICAST))
		return false;
	for (uint32_t i = 0; i < v->ad.mcast_count; i++)
		if (!memcmp(dst, v->ad.mcast[i], 6))
			return true;
	return v->ad.mcast_count == 0; /* no list set: every group */
}

/* Small messages for the guest are built in a private staging area and
 * copied into the receive buffer in one block per run of consecutive
 * ranges, before the transfer packet naming them is sent: the stores into
 * lines the guest read last then go out back to back, instead of one or
 * two between a frame's other work. The same lines RX_AHEAD further on
 * are then asked for in the state for writing, so the runs to come don't
 * wait for them either. A larger message is written in place. Measured
 * (bench synthetic at 64 B, alternating runs, where the host is the limit):
 * the stage +3.5-7 %, the asking at the flush +2-4 % on top. */
#define RX_AHEAD 4096u
_Static_assert(RX_AHEAD + STAGE_SIZE <= NETVSP_RECV_BUF_MIN, "one wrap at most");

static void stage_flush(struct netvsp *v)
{
	uint8_t *mem = v->rbuf->mem;
	uint32_t at = v->stage_off + RX_AHEAD, end = at + v->stage_len;

	if (!v->stage_len)
		return;
	util_copy_block(mem + v->stage_off, v->stage, v->stage_len);
	if (at >= v->rx.size) /* the lines ahead start past the end: from the start */
		at -= v->rx.size, end -= v->rx.size;
	for (; at < end && at < v->rx.size; at += 64)
		util_prefetch_w(mem + at);
	for (at = 0; end > v->rx.size && at < end - v->rx.size; at += 64)
		util_prefetch_w(mem + at); /* ...and the rest from the start */
	v->stage_len = 0;
}

/* Where to write the @len-byte message that goes at @off of the receive
 * buffer (allocated there: 64-byte aligned, consecutive ones adjacent).
 * xfer_flush empties the stage, so it is empty between netvsp_send calls. */
static uint8_t *stage_at(struct netvsp *v, uint32_t off, uint32_t len)
{
	uint64_t need = netvsp_rxbuf_span(len);
	uint8_t *at;

	if (off != v->stage_off + v->stage_len || v->stage_len + need > STAGE_SIZE)
		stage_flush(v); /* (nothing to do when it is empty) */
	if (need > STAGE_MSG_MAX) {
		stage_flush(v);
		return v->rbuf->mem + off;
	}
	if (!v->stage_len)
		v->stage_off = off;
	at = v->stage + v->stage_len;
	v->stage_len += (uint32_t)need;
	return at;
}

/* The burst's window: free receive-buffer bytes at the head that the stage
 * stands for (stage_off = the window's offset), which netvsp_send fills with
 * frames back to back without an allocation or a stage check per frame. */
struct window {
	uint32_t off, len, used;
};

/* Give the window's used bytes to the stage and the allocator; none left. */
static void window_close(struct netvsp *v, struct window *w)
{
	if (w->used) {
		v->stage_len += w->used;
		netvsp_rxbuf_take(&v->rx, w->used);
	}
	*w = (struct window){ 0 };
}

/* A window at the head of the receive buffer: the stage emptied first. */
static void window_open(struct netvsp *v, struct window *w)
{
	stage_flush(v);
	w->len = netvsp_rxbuf_contig(&v->rx, &w->off);
	if (w->len > STAGE_SIZE)
		w->len = STAGE_SIZE;
	w->used = 0;
	v->stage_off = w->off;
}

struct xfer_out {
	struct vmbus_xfer_hdr hdr;
	struct vmbus_xfer_range r[NETVSP_XFER_RANGES];
};

/* Send the ranges allocated since the last commit as one transfer packet.
 * Returns 0, or -EAGAIN (ring full: the allocations are undone). */
static int xfer_flush(struct netvsp *v, struct xfer_out *x)
{
	uint8_t nv[NVSP_MSG_SIZE] = { 0 };
	struct iovec iov = { nv, sizeof(nv) };
	uint32_t ext_len = (uint32_t)(sizeof(x->hdr) + x->hdr.range_cnt * sizeof(x->r[0]));
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_XFER_PAGES,
		               .flags = VMBUS_PKT_F_COMPLETION_REQUESTED,
		               .ext = x,
		               .ext_len = (ext_len + 7) & ~7u,
		               .iov = &iov,
		               .iovcnt = 1 };
	int n;

	stage_flush(v); /* the bytes before the packet that names them */
	if (!x->hdr.range_cnt)
		return 0;
	if (!vmbus_ring_has_room(&v->ch->tx, vmbus_pkt_space(tx.ext_len, sizeof(nv)))) {
		netvsp_rxbuf_abort(&v->rx);
		x->hdr.range_cnt = 0;
		return -EAGAIN;
	}
	nvsp_encode_rndis_pkt(nv, sizeof(nv), NVSP_CHANNEL_DATA, NVSP_SECTION_NONE, 0);
	tx.trans_id = netvsp_rxbuf_commit(&v->rx);
	n = vmbus_chan_send(v->ch, &tx, 1);
	x->hdr.range_cnt = 0;
	if (n < 0)
		return n;
	return n == 1 ? 0 : -EAGAIN;
}

int netvsp_send(struct netvsp *v, const struct vsw_frame *f, unsigned int n)
{
	struct xfer_out x; /* only the ranges named by hdr.range_cnt are sent */
	struct window w = { 0 };
	/* the open batch: its bytes, frames refused, and its ranges (frames) */
	uint64_t b_bytes = 0, b_filtered = 0, b_bad = 0;
	uint32_t nr = 0;
	unsigned int i, taken = 0; /* frames [0, taken) are final */
	int r = 0;

	if (v->state != NETVSP_READY)
		return v->state == NETVSP_CLOSED ? -EPIPE : -EAGAIN;
	if (!v->rbuf || !v->ad.initialized)
		return -EAGAIN;
	x.hdr = (struct vmbus_xfer_hdr){ .xfer_pageset_id = v->rbuf_id };
	/* The common case, a frame to the adapter's own MAC with DIRECTED set,
	 * in one compare of a frame's first 8 bytes (masked to 6); anything
	 * else asks filter_pass (own ~0 never matches when DIRECTED is off,
	 * nor for a group address given as the adapter's, which it judges). */
	uint64_t own = ~0ull, own_mask = 0;

	if ((v->ad.packet_filter & RNDIS_PACKET_TYPE_DIRECTED) && !(v->ad.mac[0] & 1)) {
		own = 0;
		memcpy(&own, v->ad.mac, 6);
		memset(&own_mask, 0xff, 6);
	}
	for (i = 0; i < n; i++) {
		const struct vsw_frame *fr = &f[i];
		struct rndis_pkt_info pi = { 0 };
		uint32_t hl = sizeof(struct rndis_packet), off, need;
		uint8_t *msg;
		uint64_t dst;

		if (fr->len < 14) {
			b_filtered++;
			continue;
		}
		memcpy(&dst, fr->data, 8);
		if ((dst & own_mask) != own && !filter_pass(v, fr->data)) {
			b_filtered++;
			continue;
		}
		if (__builtin_expect((fr->flags & VSW_F_VLAN) || !rndis_vnet_plain(&fr->vnet), 0)) {
			if (fr->flags & VSW_F_VLAN) {
				pi.present |= RNDIS_PI_VLAN;
				pi.vlan = rndis_vlan_info(fr->vlan_tci & 0xfff,
				                          (uint8_t)(fr->vlan_tci >> 13));
			}
			if (rndis_vnet_to_pi(&fr->vnet, fr->data, fr->len, RNDIS_TO_GUEST, &pi)) {
				b_bad++;
				continue;
			}
			hl = rndis_packet_hdr_len(&pi);
		}
		need = (uint32_t)netvsp_rxbuf_span(hl + fr->len);
		if (__builtin_expect(w.len - w.used < need || need > STAGE_MSG_MAX, 0)) {
			window_close(v, &w);
			if (need <= STAGE_MSG_MAX)
				window_open(v, &w);
		}
		if (__builtin_expect(w.len - w.used >= need, 1)) {
			off = w.off + w.used;
			msg = v->stage + w.used;
			w.used += need;
		} else { /* a large message, or the buffer's end: one by one */
			if (netvsp_rxbuf_alloc(&v->rx, hl + fr->len, &off) < 0)
				break;
			msg = stage_at(v, off, hl + fr->len);
			/* the allocation may have skipped the buffer's end: the
			 * window (empty) no longer lies at the head */
			w = (struct window){ 0 };
		}
		if (__builtin_expect(!pi.present, 1))
			rndis_put_plain_packet(msg, fr->len, hl + fr->len);
		else
			rndis_encode_packet(msg, hl, &pi, fr->len);
		util_copy_small(msg + hl, fr->data, fr->len);
		x.r[nr++] = (struct vmbus_xfer_range){ hl + fr->len, off };
		b_bytes += fr->len;
		if (nr < NETVSP_XFER_RANGES)
			continue;
		x.hdr.range_cnt = nr;
		window_close(v, &w);
		if ((r = xfer_flush(v, &x)))
			break;
		v->st.tx_frames += nr, v->st.tx_bytes += b_bytes;
		v->st.tx_filtered += b_filtered, v->st.tx_bad += b_bad;
		nr = 0, b_bytes = b_filtered = b_bad = 0;
		taken = i + 1;
	}
	x.hdr.range_cnt = nr;
	window_close(v, &w);
	if (!r && !(r = xfer_flush(v, &x))) {
		v->st.tx_frames += nr, v->st.tx_bytes += b_bytes;
		v->st.tx_filtered += b_filtered, v->st.tx_bad += b_bad;
		taken = i;
	}
	if (r && r != -EAGAIN)
		return r;
	v->st.tx_no_room += n - taken;
	return (int)taken;
}

/* ---- host-initiated messages ---- */

int netvsp_vf_assoc(struct netvsp *v, bool allocated, uint32_t serial)
{
	uint8_t m[NVSP_MSG_SIZE];

	if (v->state != NETVSP_READY)
		return -EAGAIN;
	if (v->ver < NVSP_VERSION_4)
		return -ENOTSUP;
	nvsp_encode_vf_assoc(m, sizeof(m), allocated, serial);
	return send_inband(v, m, sizeof(m));
}

int netvsp_indicate(struct netvsp *v, uint32_t status)
{
	int r;

	if (v->state != NETVSP_READY)
		return -EAGAIN;
	memset(v->ctlbuf, 0, NVSP_MSG_SIZE);
	nvsp_encode_rndis_pkt(v->ctlbuf, NVSP_MSG_SIZE, NVSP_CHANNEL_CONTROL, NVSP_SECTION_NONE, 0);
	r = rndis_encode_indicate(v->ctlbuf + NVSP_MSG_SIZE, CTL_ANSWER_MAX, status, NULL, 0);
	if (r < 0)
		return r;
	if (status == RNDIS_STATUS_MEDIA_CONNECT)
		v->ad.media_connected = true;
	else if (status == RNDIS_STATUS_MEDIA_DISCONNECT)
		v->ad.media_connected = false;
	return send_inband(v, v->ctlbuf, NVSP_MSG_SIZE + (uint32_t)r);
}

struct vmbus_chan *netvsp_chan(struct netvsp *v)
{
	return v->ch;
}

enum netvsp_state netvsp_state(const struct netvsp *v)
{
	return v->state;
}

uint32_t netvsp_version(const struct netvsp *v)
{
	return v->ver;
}

uint32_t netvsp_datapath(const struct netvsp *v)
{
	return v->datapath;
}

const struct rndis_oid_adapter *netvsp_adapter(const struct netvsp *v)
{
	return &v->ad;
}

void netvsp_get_stats(const struct netvsp *v, struct netvsp_stats *st)
{
	*st = v->st;
}

const char *netvsp_last_error(const struct netvsp *v)
{
	return v->err;
}
