/* rndis_vnet — see rndis_vnet.h. */
#include "proto/rndis_vnet.h"

#include <errno.h>
#include <string.h>

#define ETH_HLEN_ 14u

/* The ethertype after any 802.1Q/802.1ad tags, or 0. */
static uint16_t l3_type(const uint8_t *f, uint32_t len)
{
	uint32_t off = 12;

	while (off + 2 <= len) {
		uint16_t t = (uint16_t)(f[off] << 8 | f[off + 1]);

		if (t != 0x8100 && t != 0x88a8)
			return t;
		off += 4;
	}
	return 0;
}

int rndis_vnet_to_pi_full(const struct virtio_net_hdr *h, const uint8_t *frame, uint32_t len,
                          enum rndis_dir dir, struct rndis_pkt_info *pi)
{
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	uint16_t et = l3_type(frame, len);
	int v6 = et == 0x86dd;

	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6) {
		if (!h->gso_size || h->csum_start < ETH_HLEN_ || h->csum_start >= len)
			return -EINVAL;
		pi->present |= RNDIS_PI_LSO;
		pi->lso =
		    rndis_lso2_info(h->csum_start, h->gso_size, gso == VIRTIO_NET_HDR_GSO_TCPV6);
		if (dir == RNDIS_TO_GUEST) {
			pi->present |= RNDIS_PI_CSUM;
			pi->csum = RNDIS_CSUM_RX_TCP_OK | (v6 ? 0 : RNDIS_CSUM_RX_IP_OK);
		}
		return 0;
	}
	if (gso != VIRTIO_NET_HDR_GSO_NONE)
		return -EINVAL; /* UDP fragmentation offload: never negotiated */
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		int tcp = h->csum_offset == 16, udp = h->csum_offset == 6;

		if ((!tcp && !udp) || h->csum_start < ETH_HLEN_ ||
		    (uint32_t)h->csum_start + h->csum_offset + 2 > len || (et != 0x0800 && !v6))
			return -EINVAL;
		pi->present |= RNDIS_PI_CSUM;
		if (dir == RNDIS_TO_HOST)
			pi->csum =
			    rndis_csum_tx_info((v6 ? RNDIS_CSUM_TX_IPV6 : RNDIS_CSUM_TX_IPV4) |
			                           (tcp ? RNDIS_CSUM_TX_TCP : RNDIS_CSUM_TX_UDP),
			                       h->csum_start);
		else
			pi->csum = (tcp ? RNDIS_CSUM_RX_TCP_OK : RNDIS_CSUM_RX_UDP_OK) |
			           (v6 ? 0 : RNDIS_CSUM_RX_IP_OK);
		return 0;
	}
	if ((h->flags & VIRTIO_NET_HDR_F_DATA_VALID) && dir == RNDIS_TO_GUEST) {
		pi->present |= RNDIS_PI_CSUM;
		pi->csum =
		    RNDIS_CSUM_RX_TCP_OK | RNDIS_CSUM_RX_UDP_OK | (v6 ? 0 : RNDIS_CSUM_RX_IP_OK);
	}
	return 0;
}

int rndis_pi_to_vnet_full(const struct rndis_pkt_info *pi, const uint8_t *frame, uint32_t len,
                          enum rndis_dir dir, struct virtio_net_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (pi->present & RNDIS_PI_LSO) {
		uint32_t thoff = rndis_lso_thoff(pi->lso), mss = rndis_lso_mss(pi->lso), doff;

		/* The TCP header must be in the frame: its data offset gives hdr_len. */
		if (!(pi->lso & RNDIS_LSO_V2) || !mss || mss > 0xffff || thoff < ETH_HLEN_ ||
		    thoff + 20 > len)
			return -EINVAL;
		doff = (uint32_t)(frame[thoff + 12] >> 4) * 4;
		if (doff < 20 || thoff + doff > len)
			return -EINVAL;
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->gso_type = (pi->lso & RNDIS_LSO_IPV6) ? VIRTIO_NET_HDR_GSO_TCPV6
		                                         : VIRTIO_NET_HDR_GSO_TCPV4;
		h->gso_size = (uint16_t)mss;
		h->hdr_len = (uint16_t)(thoff + doff);
		h->csum_start = (uint16_t)thoff;
		h->csum_offset = 16;
		return 0;
	}
	if (!(pi->present & RNDIS_PI_CSUM))
		return 0;
	if (dir == RNDIS_TO_GUEST) {
		if (pi->csum & (RNDIS_CSUM_RX_TCP_OK | RNDIS_CSUM_RX_UDP_OK))
			h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
		return 0;
	}
	if (pi->csum & (RNDIS_CSUM_TX_TCP | RNDIS_CSUM_TX_UDP)) {
		uint32_t thoff = rndis_csum_tx_thoff(pi->csum);
		uint16_t off = (pi->csum & RNDIS_CSUM_TX_TCP) ? 16 : 6;

		if ((pi->csum & RNDIS_CSUM_TX_TCP) && (pi->csum & RNDIS_CSUM_TX_UDP))
			return -EINVAL;
		if (thoff < ETH_HLEN_ || thoff + off + 2u > len)
			return -EINVAL;
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = (uint16_t)thoff;
		h->csum_offset = off;
	}
	return 0;
}
