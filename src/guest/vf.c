/* vf — see vf.h. */
#include "guest/vf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nic/nic.h"
#include "util/util.h"

#define MBOX_TIMEOUT_MS 2000
#define RXBUF_LEN       (PORT_BURST * (PORT_MAX_FRAME + 64))

/* Read the PF's config blocks: MAC (required), VLAN and MTU. */
static int __read_config(struct vf *vf, char *err, size_t errlen)
{
	uint8_t buf[NIC_BLOCK_MAX_LEN];
	int n;

	n = vfbar_mbox_call(vf->bar, VFBAR_OP_READ_BLOCK, NIC_BLOCK_MAC, sizeof(buf), NULL, 0, buf,
	                    sizeof(buf), MBOX_TIMEOUT_MS);
	if (n != 6) {
		snprintf(err, errlen, "VF: reading the MAC config block: %s",
		         n < 0 ? strerror(-n) : "wrong length");
		return n < 0 ? n : -EPROTO;
	}
	memcpy(vf->mac, buf, 6);
	n = vfbar_mbox_call(vf->bar, VFBAR_OP_READ_BLOCK, NIC_BLOCK_VLAN, sizeof(buf), NULL, 0, buf,
	                    sizeof(buf), MBOX_TIMEOUT_MS);
	vf->vlan = n == 2 ? (uint16_t)(buf[0] | buf[1] << 8) : 0;
	n = vfbar_mbox_call(vf->bar, VFBAR_OP_READ_BLOCK, NIC_BLOCK_MTU, sizeof(buf), NULL, 0, buf,
	                    sizeof(buf), MBOX_TIMEOUT_MS);
	vf->mtu = n == 4 ? (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
	                       (uint32_t)buf[3] << 24
	                 : 1500;
	return 0;
}

struct vf *vf_start(int memfd, int efd_nic, int efd_vf, uint32_t serial, char *err, size_t errlen)
{
	struct vf *vf = calloc(1, sizeof(*vf));
	int rc;

	if (!vf) {
		close(memfd);
		close(efd_nic);
		close(efd_vf);
		errno = ENOMEM;
		return NULL;
	}
	vf->serial = serial;
	vf->rxbuf = malloc(RXBUF_LEN);
	vf->bar = vfbar_attach(memfd, efd_nic, efd_vf, err, errlen);
	if (!vf->bar || !vf->rxbuf) {
		rc = vf->bar ? -ENOMEM : -errno;
		goto fail;
	}
	rc = __read_config(vf, err, errlen);
	if (rc)
		goto fail;
	return vf;
fail:
	vf_stop(vf);
	errno = -rc;
	return NULL;
}

/* Give the ring space of the frames handed out last back to the NIC. */
static void __rx_release(struct vf *vf)
{
	for (uint32_t q = 0; q < vf->bar->num_qp && q < VFBAR_MAX_QP; q++)
		if (vf->rx_held[q]) {
			vmbus_ring_release(&vf->bar->rx[q], vf->rx_next[q]);
			vf->rx_held[q] = false;
		}
}

void vf_stop(struct vf *vf)
{
	if (!vf)
		return;
	if (vf->bar && !vfbar_was_reset(vf->bar)) /* after an FLR the queues are the NIC's */
		__rx_release(vf);
	vfbar_destroy(vf->bar);
	free(vf->rxbuf);
	free(vf);
}

/* The port VLAN's tag goes in after the MACs; offsets into the frame move. */
static unsigned int __tag(const struct vf *vf, const struct port_pkt *pk, struct vfbar_ext *ext,
                          struct iovec *iov, const uint8_t *tag)
{
	memset(ext, 0, sizeof(*ext));
	ext->vnet = pk->vnet;
	if (!vf->vlan || pk->len < 14) {
		iov[0] = (struct iovec){ pk->data, pk->len };
		return 1;
	}
	if (ext->vnet.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		ext->vnet.csum_start = (uint16_t)(ext->vnet.csum_start + 4);
	if (ext->vnet.hdr_len)
		ext->vnet.hdr_len = (uint16_t)(ext->vnet.hdr_len + 4);
	iov[0] = (struct iovec){ pk->data, 12 };
	iov[1] = (struct iovec){ (void *)tag, 4 };
	iov[2] = (struct iovec){ pk->data + 12, pk->len - 12 };
	return 3;
}

/* Take the port VLAN's tag off a received frame (in place). */
static void __untag(const struct vf *vf, struct port_pkt *pk)
{
	if (!vf->vlan || pk->len < 18 || pk->data[12] != 0x81 || pk->data[13] != 0x00 ||
	    ((pk->data[14] << 8 | pk->data[15]) & 0xfff) != vf->vlan)
		return;
	memmove(pk->data + 4, pk->data, 12);
	pk->data += 4;
	pk->len -= 4;
	if ((pk->vnet.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && pk->vnet.csum_start >= 18)
		pk->vnet.csum_start = (uint16_t)(pk->vnet.csum_start - 4);
	if (pk->vnet.hdr_len >= 18)
		pk->vnet.hdr_len = (uint16_t)(pk->vnet.hdr_len - 4);
}

/* A queue failed with @r: because the function was reset, or broken. */
static int __qerr(const struct vf *vf, int r)
{
	return vfbar_was_reset(vf->bar) ? -ENODEV : r;
}

int vf_tx_burst(struct vf *vf, const struct port_pkt *pkts, unsigned int n)
{
	struct vfbar_ext ext[PORT_BURST];
	struct iovec iov[PORT_BURST][3];
	struct vmbus_tx tx[PORT_BURST];
	uint8_t tag[4] = { 0x81, 0x00, (uint8_t)(vf->vlan >> 8), (uint8_t)vf->vlan };
	unsigned int done = 0;

	if (vfbar_was_reset(vf->bar))
		return -ENODEV;
	while (done < n) {
		unsigned int k = n - done > PORT_BURST ? PORT_BURST : n - done;
		int r;

		for (unsigned int i = 0; i < k; i++)
			tx[i] = (struct vmbus_tx){
				.type = VMBUS_PKT_DATA_INBAND,
				.ext = &ext[i],
				.ext_len = sizeof(ext[i]),
				.iov = iov[i],
				.iovcnt = __tag(vf, &pkts[done + i], &ext[i], iov[i], tag),
			};
		r = vmbus_ring_write(&vf->bar->tx[0], tx, k);
		if (r < 0)
			return done ? (int)done : __qerr(vf, r);
		for (int i = 0; i < r; i++) {
			vf->st.tx_packets++;
			vf->st.tx_bytes += pkts[done + (unsigned int)i].len;
		}
		done += (unsigned int)r;
		if ((unsigned int)r < k)
			break;
	}
	return (int)done;
}

int vf_tx_reserve(struct vf *vf, uint32_t max, struct vmbus_slot *s)
{
	struct iovec ext[2];
	int r;

	if (vf->vlan)
		return -ENOTSUP;
	if (vfbar_was_reset(vf->bar))
		return -ENODEV;
	r = vmbus_ring_reserve(&vf->bar->tx[0], sizeof(struct vfbar_ext), max, s);
	if (r == 1)
		for (unsigned int i = 0, k = vmbus_slot_iov(s, 0, sizeof(struct vfbar_ext), ext);
		     i < k; i++)
			memset(ext[i].iov_base, 0, ext[i].iov_len);
	return r < 0 ? __qerr(vf, r) : r;
}

void vf_tx_commit(struct vf *vf, const struct vmbus_slot *s, uint32_t len)
{
	if (vfbar_was_reset(vf->bar)) /* reset since the reserve: the queue is the NIC's */
		return;
	vmbus_ring_commit(&vf->bar->tx[0], s, VMBUS_PKT_DATA_INBAND, len);
	vf->st.tx_packets++;
	vf->st.tx_bytes += len;
}

void vf_tx_publish(struct vf *vf)
{
	if (vfbar_was_reset(vf->bar))
		return;
	vmbus_ring_publish(&vf->bar->tx[0]);
}

int vf_rx_burst(struct vf *vf, struct port_pkt *pkts, unsigned int n)
{
	int got = 0;

	if (vfbar_was_reset(vf->bar))
		return -ENODEV;
	if (n > PORT_BURST)
		n = PORT_BURST;
	__rx_release(vf);
	/* The queues in turn, from the one after the last that gave frames: a
	 * busy queue does not keep the others waiting. */
	for (uint32_t k = 0, nq = vf->bar->num_qp; k < nq && (unsigned int)got < n; k++) {
		uint32_t q = (vf->rx_q + k) % nq;

		/* The NIC is the guest's trusted producer: frames are handed out
		 * where they lie in the ring (no copy), their space released on the
		 * next call. */
		int r = vmbus_ring_peek(&vf->bar->rx[q], vf->rx, n - (unsigned int)got, vf->rxbuf,
		                        RXBUF_LEN, &vf->rx_next[q]);

		if (r > 0)
			vf->rx_held[q] = true;

		if (r < 0)
			return got ? got : __qerr(vf, r);
		for (int i = 0; i < r; i++) {
			const struct vmbus_rx *x = &vf->rx[i];

			if (x->ext_len != sizeof(struct vfbar_ext))
				continue;
			memcpy(&pkts[got].vnet, x->ext, sizeof(pkts[got].vnet));
			pkts[got].data = (uint8_t *)x->data;
			pkts[got].len = x->len;
			__untag(vf, &pkts[got]);
			vf->st.rx_packets++;
			vf->st.rx_bytes += pkts[got].len;
			got++;
		}
		if (nq > 1 && r > 0) {
			vf->rx_q = (q + 1) % nq;
			break; /* the buffer now holds this queue's frames */
		}
	}
	return got;
}

bool vf_arm(struct vf *vf)
{
	if (vfbar_was_reset(vf->bar))
		return false;
	__rx_release(vf); /* the frames handed out last are done with before a sleep */
	for (uint32_t q = 0; q < vf->bar->num_qp; q++)
		if (!vmbus_ring_arm(&vf->bar->rx[q]))
			return false;
	return READ_ONCE(vf->bar->mbox->invalidate) == 0;
}

uint64_t vf_refresh(struct vf *vf)
{
	uint64_t mask = vfbar_take_invalidations(vf->bar);
	char err[128];

	if (mask & ((1ull << NIC_BLOCK_MAC) | (1ull << NIC_BLOCK_VLAN) | (1ull << NIC_BLOCK_MTU)))
		__read_config(vf, err, sizeof(err));
	return mask;
}
