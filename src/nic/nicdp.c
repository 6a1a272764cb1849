/* nicdp — see nicdp.h. */
#include "nic/nicdp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

#define BURST   PORT_BURST
#define SLOT    (PORT_MAX_FRAME + 64)
#define BUF_LEN (BURST * SLOT)
/* A VF's large frame is read where it lies in its tx queue (the VM's
 * memory), copied once, into the destination; the NIC decides on a private
 * copy of its first HEAD bytes (the Ethernet header and tag nic_lookup reads)
 * and delivers that copy with the rest, so the VM changing the frame under
 * us changes no decision: a spoofed source or another VLAN can't pass. Only
 * VF queues (another guest's, which trusts no byte it gets) take a frame
 * that way; the wire and the default VPort (the host's switch, the kernel)
 * get a whole private copy (__private). */
#define HEAD 64u
_Static_assert(VMBUS_PEEK_MIN > HEAD, "a frame read in place is longer than its head");

/* Frames bound for one destination during a pass. */
struct batch {
	struct port_pkt pkts[BURST];
	uint8_t *head[BURST]; /* a frame in VM memory: its private head; NULL: private */
	unsigned int n;
};

struct nicdp {
	struct nic *nic;
	struct port *wire;
	struct nicdp_ops ops;
	void *arg;
	struct vfbar *bar[NIC_MAX_VPORTS];
	unsigned int nbars;
	uint8_t *rxbuf;    /* frames copied out of a VF's tx ring (short or wrapping) */
	uint8_t *priv;     /* per frame of a VF's burst, a SLOT: its head, then the rest
	                   when a destination needs all of it private (__private) */
	bool whole[BURST]; /* priv's slot holds the whole frame */
	struct vmbus_rx rx[BURST];
	struct port_pkt in[BURST];
	uint8_t *in_head[BURST];             /* in[i] lies in VM memory: its head in priv */
	struct batch out[NIC_PORT_WIRE + 1]; /* per destination port */
	uint8_t touched[NIC_PORT_WIRE + 1];
	unsigned int ntouched;
	uint8_t list[NIC_PORT_WIRE + 1];
};

struct nicdp *nicdp_create(struct nic *nic, struct port *wire, const struct nicdp_ops *ops,
                           void *arg)
{
	struct nicdp *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	dp->rxbuf = malloc(BUF_LEN);
	dp->priv = malloc(BUF_LEN);
	if (!dp->rxbuf || !dp->priv) {
		free(dp->rxbuf);
		free(dp->priv);
		free(dp);
		errno = ENOMEM;
		return NULL;
	}
	dp->nic = nic;
	dp->wire = wire;
	dp->ops = *ops;
	dp->arg = arg;
	return dp;
}

void nicdp_destroy(struct nicdp *dp)
{
	if (!dp)
		return;
	free(dp->rxbuf);
	free(dp->priv);
	free(dp);
}

int nicdp_vport_attach(struct nicdp *dp, unsigned int vport, struct vfbar *bar)
{
	if (vport == NIC_DEFAULT_VPORT || vport >= NIC_MAX_VPORTS || !bar)
		return -EINVAL;
	if (dp->bar[vport])
		return -EEXIST;
	dp->bar[vport] = bar;
	dp->nbars++;
	return 0;
}

void nicdp_vport_detach(struct nicdp *dp, unsigned int vport)
{
	if (vport < NIC_MAX_VPORTS && dp->bar[vport]) {
		dp->bar[vport] = NULL;
		dp->nbars--;
	}
}

/* Queue @p for @port (once per pass per port in dp->list); @head: its
 * private head when it lies in VM memory. */
static inline void __enqueue(struct nicdp *dp, unsigned int port, const struct port_pkt *p,
                             uint8_t *head)
{
	struct batch *b = &dp->out[port];

	if (!dp->touched[port]) {
		dp->touched[port] = 1;
		dp->list[dp->ntouched++] = (uint8_t)port;
	}
	b->head[b->n] = head;
	b->pkts[b->n++] = *p;
}

/* The whole of a frame in VM memory, privately (its slot of dp->priv, after
 * the head already there), once however many destinations want it. */
static const uint8_t *__private(struct nicdp *dp, const struct port_pkt *p, uint8_t *head)
{
	size_t slot = (size_t)(head - dp->priv) / SLOT;

	if (!dp->whole[slot]) {
		memcpy(head + HEAD, p->data + HEAD, p->len - HEAD);
		dp->whole[slot] = true;
	}
	return head;
}

/* Batch @b, every frame private (for the wire and the default VPort). */
static void __privatize(struct nicdp *dp, struct batch *b)
{
	for (unsigned int i = 0; i < b->n; i++)
		if (b->head[i])
			b->pkts[i].data = (uint8_t *)__private(dp, &b->pkts[i], b->head[i]);
}

/* Deliver @n frames into @vport's receive queue pair (chosen by a hash of
 * the addresses when the VPort has several). Returns frames taken, their
 * bytes added to *@bytes; a frame the queue can never hold is dropped alone
 * (the frames after it still go), a full queue drops the rest. */
static unsigned int __to_vf(struct nicdp *dp, unsigned int vport, const struct batch *b,
                            uint64_t *bytes)
{
	const struct port_pkt *pkts = b->pkts;
	unsigned int n = b->n, taken = 0;
	struct vfbar *bar = dp->bar[vport];
	struct vfbar_ext ext[BURST];
	struct iovec iov[2 * BURST];
	struct vmbus_tx tx[BURST];

	if (!bar)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		memset(&ext[i], 0, sizeof(ext[i]));
		ext[i].vnet = pkts[i].vnet;
		if (b->head[i]) { /* the head decided on, the rest from VM memory */
			iov[2 * i] = (struct iovec){ b->head[i], HEAD };
			iov[2 * i + 1] = (struct iovec){ pkts[i].data + HEAD, pkts[i].len - HEAD };
		} else {
			iov[2 * i] = (struct iovec){ pkts[i].data, pkts[i].len };
		}
		tx[i] = (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND,
			                   .ext = &ext[i],
			                   .ext_len = sizeof(ext[i]),
			                   .iov = &iov[2 * i],
			                   .iovcnt = b->head[i] ? 2 : 1 };
	}
	if (bar->num_qp == 1) {
		for (unsigned int at = 0; at < n;) {
			int r = vmbus_ring_write(&bar->rx[0], tx + at, n - at);

			if (r == -EMSGSIZE) { /* tx[at] can never fit */
				at++;
				continue;
			}
			if (r <= 0)
				break; /* full (or broken) */
			for (unsigned int i = at; i < at + (unsigned int)r; i++)
				*bytes += pkts[i].len;
			taken += (unsigned int)r;
			at += (unsigned int)r;
		}
		return taken;
	}
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *f = b->head[i] ? b->head[i] : pkts[i].data;
		uint32_t h = 0;

		for (int k = 0; k < 12; k++) /* destination and source MAC */
			h = h * 31 + f[k];
		if (vmbus_ring_write(&bar->rx[h & (bar->num_qp - 1)], &tx[i], 1) == 1) {
			taken++;
			*bytes += pkts[i].len;
		}
	}
	return taken;
}

/* Hand every destination its batch, count what each took and dropped. */
static void __flush(struct nicdp *dp)
{
	for (unsigned int k = 0; k < dp->ntouched; k++) {
		unsigned int port = dp->list[k];
		struct batch *b = &dp->out[port];
		unsigned int taken;
		uint64_t bytes = 0;

		if (port == NIC_PORT_WIRE) {
			__privatize(dp, b);
			int r = dp->wire ? port_tx_burst(dp->wire, b->pkts, b->n) : 0;

			taken = r > 0 ? (unsigned int)r : 0;
		} else if (port == NIC_DEFAULT_VPORT) {
			__privatize(dp, b);
			dp->ops.pf_rx(dp->arg, b->pkts, b->n);
			taken = b->n;
		} else {
			taken = __to_vf(dp, port, b, &bytes);
		}
		if (port == NIC_PORT_WIRE || port == NIC_DEFAULT_VPORT) /* a prefix */
			for (unsigned int i = 0; i < taken; i++)
				bytes += b->pkts[i].len;
		if (taken)
			nic_vport_count(dp->nic, port, NIC_CTR_RX, taken, bytes);
		if (taken < b->n)
			nic_vport_count(dp->nic, port, NIC_CTR_DROP(NIC_DROP_QUEUE_FULL),
			                b->n - taken, 0);
		b->n = 0;
		dp->touched[port] = 0;
	}
	dp->ntouched = 0;
}

/* Decide and queue @n frames that entered from @src; @heads (or NULL): per
 * frame, its private head when it lies in VM memory (decided on that). */
static void __switch(struct nicdp *dp, int src, const struct port_pkt *pkts, uint8_t **heads,
                     unsigned int n)
{
	uint64_t bytes = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *head = heads ? heads[i] : NULL;
		struct nic_verdict v;

		bytes += pkts[i].len;
		if (!nic_lookup(dp->nic, head ? head : pkts[i].data, pkts[i].len, src, &v)) {
			if (v.drop_port >= 0)
				nic_vport_count(dp->nic, (unsigned int)v.drop_port,
				                NIC_CTR_DROP(v.drop), 1, 0);
			continue;
		}
		if (v.ndst == 1) /* unicast: no walk of the destination set */
			__enqueue(dp, (unsigned int)v.port, &pkts[i], head);
		else
			for (int p = nic_verdict_next(&v, -1); p >= 0; p = nic_verdict_next(&v, p))
				__enqueue(dp, (unsigned int)p, &pkts[i], head);
	}
	if (n)
		nic_vport_count(dp->nic, (unsigned int)src, NIC_CTR_TX, n, bytes);
	__flush(dp);
}

int nicdp_pf_tx(struct nicdp *dp, const struct port_pkt *pkts, unsigned int n)
{
	for (unsigned int done = 0; done < n;) {
		unsigned int k = n - done > BURST ? BURST : n - done;

		__switch(dp, NIC_DEFAULT_VPORT, pkts + done, NULL, k);
		done += k;
	}
	return (int)n;
}

/* Serve one mailbox request of @vport's VF. */
static void __mailbox(struct nicdp *dp, unsigned int vport, struct vfbar *bar)
{
	struct nic_vport_info vi;
	struct vfbar_req req;
	uint8_t out[VFBAR_MBOX_DATA];
	int rc;

	if (vfbar_mbox_take(bar, &req) != 1)
		return;
	if (nic_vport_get(dp->nic, vport, &vi) || vi.vf < 0) { /* taken: answered too */
		vfbar_mbox_reply(bar, &req, -ENODEV, NULL, 0);
		return;
	}
	switch (req.op) {
	case VFBAR_OP_READ_CONFIG:
		rc = nic_vf_cfg_read(dp->nic, (unsigned int)vi.vf, req.arg0, out, req.arg1);
		vfbar_mbox_reply(bar, &req, rc, out, rc ? 0 : req.arg1);
		break;
	case VFBAR_OP_WRITE_CONFIG:
		rc = nic_vf_cfg_write(dp->nic, (unsigned int)vi.vf, req.arg0, req.data, req.arg1);
		vfbar_mbox_reply(bar, &req, rc, NULL, 0);
		break;
	case VFBAR_OP_READ_BLOCK:
		rc = nic_vf_block_read(dp->nic, (unsigned int)vi.vf, req.arg0, out, req.arg1);
		vfbar_mbox_reply(bar, &req, rc < 0 ? rc : 0, out, rc < 0 ? 0 : (uint32_t)rc);
		break;
	case VFBAR_OP_WRITE_BLOCK:
		rc = nic_vf_block_write(dp->nic, (unsigned int)vi.vf, NIC_BY_VF, req.arg0, req.data,
		                        req.arg1);
		vfbar_mbox_reply(bar, &req, rc, NULL, 0);
		break;
	}
}

/* Take a burst from each queue pair of @vport's VF. */
static int __from_vf(struct nicdp *dp, unsigned int vport, struct vfbar *bar)
{
	int moved = 0;

	for (uint32_t q = 0; q < bar->num_qp; q++) {
		uint32_t next;
		int n = vmbus_ring_peek(&bar->tx[q], dp->rx, BURST, dp->rxbuf, BUF_LEN, &next),
		    k = 0;

		if (n < 0) {
			/* A hostile or broken VF: its queue is dead until an FLR. */
			log_warn("nic", "VPort %u qp %u: %s", vport, q,
			         vmbus_ring_error(&bar->tx[q]));
			nic_vport_set_running(dp->nic, vport, false);
			continue;
		}
		for (int i = 0; i < n; i++) {
			const struct vmbus_rx *x = &dp->rx[i];

			if (x->ext_len != sizeof(struct vfbar_ext) || x->len < 14 ||
			    x->len > PORT_MAX_FRAME) {
				nic_vport_count(dp->nic, vport, NIC_CTR_DROP(NIC_DROP_MALFORMED), 1,
				                0);
				continue;
			}
			memcpy(&dp->in[k].vnet, x->ext, sizeof(dp->in[k].vnet));
			dp->in[k].data = (uint8_t *)x->data;
			dp->in[k].len = x->len;
			dp->in_head[k] = NULL;
			if ((uintptr_t)x->data - (uintptr_t)dp->rxbuf >= BUF_LEN) {
				/* in place (peek hands out large bodies so): a private head */
				dp->in_head[k] = dp->priv + (size_t)k * SLOT;
				dp->whole[k] = false;
				memcpy(dp->in_head[k], x->data, HEAD);
			}
			k++;
		}
		__switch(dp, (int)vport, dp->in, dp->in_head, (unsigned int)k);
		if (n > 0) /* every copy out of VM memory is done: the space goes back */
			vmbus_ring_release(&bar->tx[q], next);
		moved += n;
	}
	return moved;
}

int nicdp_poll(struct nicdp *dp)
{
	int moved = 0;

	if (dp->wire) {
		int n = port_rx_burst(dp->wire, dp->in, BURST);

		if (n > 0) {
			__switch(dp, NIC_SRC_WIRE, dp->in, NULL, (unsigned int)n);
			moved += n;
		}
	}
	for (unsigned int v = 1, seen = 0; seen < dp->nbars && v < NIC_MAX_VPORTS; v++) {
		struct vfbar *bar = dp->bar[v];
		struct nic_vport_info vi;

		if (!bar)
			continue;
		seen++;
		__mailbox(dp, v, bar);
		if (nic_vport_get(dp->nic, v, &vi) == 0 && vi.active)
			moved += __from_vf(dp, v, bar);
	}
	return moved;
}

int nicdp_arm(struct nicdp *dp, struct pollfd *pfd, int max)
{
	int n = 0;

	if (dp->wire) {
		if (!port_arm(dp->wire))
			return -1;
		if (n < max)
			pfd[n++] =
			    (struct pollfd){ .fd = port_wait_fd(dp->wire), .events = POLLIN };
	}
	for (unsigned int v = 1; v < NIC_MAX_VPORTS; v++) {
		struct vfbar *bar = dp->bar[v];

		if (!bar)
			continue;
		/* Arm, then look once more. A doorbell rung while we were busy
		 * wakes the poll once; nicdp_ack then drains it (no syscall per
		 * VF here: with many VFs that cost dominated every sleep). The
		 * queues nicdp_poll does not read — an inactive VPort's, a broken
		 * queue's — are not looked at: what waits there stays until an FLR
		 * or D0, and must not keep the engine from sleeping. */
		struct nic_vport_info vi;
		bool active = nic_vport_get(dp->nic, v, &vi) == 0 && vi.active;

		for (uint32_t q = 0; active && q < bar->num_qp; q++)
			if (!bar->tx[q].broken && !vmbus_ring_arm(&bar->tx[q]))
				return -1;
		if (READ_ONCE(bar->mbox->req_seq) != bar->mbox_seen)
			return -1;
		if (n < max)
			pfd[n++] = (struct pollfd){ .fd = bar->efd_nic, .events = POLLIN };
	}
	return n;
}

void nicdp_ack(struct nicdp *dp, const struct pollfd *pfd, int n)
{
	uint64_t cnt;

	if (dp->wire && n > 0 && (pfd[0].revents & POLLIN))
		port_rx_ready(dp->wire);
	for (int i = dp->wire ? 1 : 0; i < n; i++)
		if (pfd[i].revents & POLLIN)
			(void)!read(pfd[i].fd, &cnt, sizeof(cnt));
}

int nicdp_wait(struct nicdp *dp, int timeout_ms)
{
	struct pollfd pfd[NIC_MAX_VPORTS + 1];
	int n = nicdp_arm(dp, pfd, NIC_MAX_VPORTS + 1), r;

	if (n < 0)
		return 1;
	r = poll(pfd, (nfds_t)n, timeout_ms);
	if (r > 0)
		nicdp_ack(dp, pfd, n);
	return r > 0;
}

int nicdp_vf_reset(struct nicdp *dp, unsigned int vf)
{
	struct nic_vf_info info;
	int rc = nic_vf_get(dp->nic, vf, &info);

	if (rc)
		return rc;
	if (info.vport > 0 && dp->bar[info.vport]) {
		uint64_t dropped = vfbar_reset_queues(dp->bar[info.vport]);

		if (dropped)
			nic_vport_count(dp->nic, (unsigned int)info.vport,
			                NIC_CTR_DROP(NIC_DROP_FLR), (uint32_t)dropped, 0);
	}
	return nic_vf_reset(dp->nic, vf);
}

int nicdp_vport_drain(struct nicdp *dp, unsigned int vport)
{
	struct vfbar *bar = vport < NIC_MAX_VPORTS ? dp->bar[vport] : NULL;
	struct nic_vport_info vi;
	uint32_t passes;
	int taken = 0;

	if (!bar || nic_vport_get(dp->nic, vport, &vi) || !vi.active)
		return 0;
	/* A ring holds at most this many bursts of the smallest frames. */
	passes = bar->ring_size / (vmbus_pkt_space(sizeof(struct vfbar_ext), 14) * BURST) + 1;
	while (passes--) {
		int n = __from_vf(dp, vport, bar);

		if (n <= 0)
			break;
		taken += n;
	}
	return taken;
}

int nicdp_vf_create(struct nicdp *dp, const uint8_t mac[6], uint16_t vlan, uint32_t mtu,
                    unsigned int nqp, uint32_t ring_size, struct nicdp_vf *out, char *err,
                    size_t errlen)
{
	uint8_t vlan_le[2] = { (uint8_t)vlan, (uint8_t)(vlan >> 8) };
	uint8_t mtu_le[4];
	int rc;

	if (!mtu)
		mtu = 1500;
	for (int i = 0; i < 4; i++)
		mtu_le[i] = (uint8_t)(mtu >> (8 * i));
	*out = (struct nicdp_vf){ .vf = -1, .vport = -1 };
	rc = nic_vf_alloc(dp->nic, mac, &out->serial);
	if (rc < 0) {
		snprintf(err, errlen, "ALLOCATE_VF: %s",
		         rc == -ENOSPC ? "no VF left" : strerror(-rc));
		return rc;
	}
	out->vf = rc;
	rc = nic_vport_create(dp->nic, out->vf, nqp);
	if (rc < 0) {
		snprintf(err, errlen, "CREATE_VPORT: %s",
		         rc == -ENOSPC ? "no VPort or queue pairs left" : strerror(-rc));
		goto free_vf;
	}
	out->vport = rc;
	if ((rc = nic_vf_block_write(dp->nic, (unsigned int)out->vf, NIC_BY_PF, NIC_BLOCK_VLAN,
	                             vlan_le, sizeof(vlan_le))) ||
	    (rc = nic_vf_block_write(dp->nic, (unsigned int)out->vf, NIC_BY_PF, NIC_BLOCK_MTU,
	                             mtu_le, sizeof(mtu_le)))) {
		snprintf(err, errlen, "config blocks: %s", strerror(-rc));
		goto delete_vport;
	}
	out->bar = vfbar_create(nqp, ring_size);
	if (!out->bar) {
		rc = errno ? -errno : -ENOMEM;
		snprintf(err, errlen, "VF BAR: %s", strerror(errno));
		goto delete_vport;
	}
	rc = nicdp_vport_attach(dp, (unsigned int)out->vport, out->bar);
	if (rc) {
		snprintf(err, errlen, "servicing the VF's queues: %s", strerror(-rc));
		vfbar_destroy(out->bar);
		goto delete_vport;
	}
	return 0;
delete_vport:
	nic_vport_delete(dp->nic, (unsigned int)out->vport);
free_vf:
	nic_vf_free(dp->nic, (unsigned int)out->vf);
	*out = (struct nicdp_vf){ .vf = -1, .vport = -1 };
	return rc;
}

int nicdp_vf_destroy(struct nicdp *dp, struct nicdp_vf *vf)
{
	struct nic_vport_info vi;

	if (vf->vf < 0 || nic_vport_get(dp->nic, (unsigned int)vf->vport, &vi))
		return -ENOENT;
	if (vi.nfilters)
		return -EBUSY;
	nicdp_vport_detach(dp, (unsigned int)vf->vport);
	nic_vport_delete(dp->nic, (unsigned int)vf->vport);
	vfbar_reset_queues(vf->bar);
	nic_vf_reset(dp->nic, (unsigned int)vf->vf);
	nic_vf_free(dp->nic, (unsigned int)vf->vf);
	vfbar_destroy(vf->bar);
	*vf = (struct nicdp_vf){ .vf = -1, .vport = -1 };
	return 0;
}
