/* rndis_vnet — offload metadata between the two worlds a frame crosses:
 * Linux's struct virtio_net_hdr (TAP devices, port backends, the switch) and
 * RNDIS per-packet info (the synthetic path). Pure functions, no I/O.
 *
 * Towards the host (NetVSC sends, NetVSP receives) the PPIs have their
 * transmit meaning: a checksum PPI asks the host to complete the TCP/UDP
 * checksum whose field starts the L4 header at thoff; an LSO v2 PPI asks it
 * to cut the frame into MSS-sized segments.
 *
 * Towards the guest (NetVSP sends, NetVSC receives) the checksum PPI has its
 * receive meaning (RNDIS_CSUM_RX_*_OK: the host vouches for the checksums, as
 * a frame from a local VM whose checksum was never computed is good by
 * construction), and an LSO v2 PPI marks a coalesced segment (like RSC) with
 * its MSS and L4 offset, so a 64 KiB TCP segment crosses VM to VM whole.
 *
 *   virtio_net_hdr                      -> PPIs
 *   gso TCPV4/TCPV6, csum_start, size     LSO v2 {mss, thoff=csum_start, ipv6}
 *   NEEDS_CSUM, csum_offset 16/6          to host: CSUM tx {IPv4|IPv6, TCP|UDP, thoff}
 *                                         to guest: CSUM rx {IP_OK, TCP_OK|UDP_OK}
 *   DATA_VALID                            to guest: CSUM rx as above
 *
 * Trust: a PPI comes from the peer. rndis_pi_to_vnet() checks that every
 * offset it derives lies inside the frame before it is used (the TCP header
 * length is read from the frame's bytes, which the caller copied already).
 *
 * Errors: -EINVAL for metadata that describes no valid frame (the caller
 * drops the frame and counts it), 0 otherwise.
 */
#ifndef IOVPATH_PROTO_RNDIS_VNET_H
#define IOVPATH_PROTO_RNDIS_VNET_H

#include <linux/virtio_net.h>
#include <stdint.h>

#include "proto/rndis.h"

enum rndis_dir { RNDIS_TO_HOST, RNDIS_TO_GUEST };

int rndis_vnet_to_pi_full(const struct virtio_net_hdr *h, const uint8_t *frame, uint32_t len,
                          enum rndis_dir dir, struct rndis_pkt_info *pi);
int rndis_pi_to_vnet_full(const struct rndis_pkt_info *pi, const uint8_t *frame, uint32_t len,
                          enum rndis_dir dir, struct virtio_net_hdr *h);

/* Whether @h has nothing to tell (no PPI comes of it): most frames. */
static inline int rndis_vnet_plain(const struct virtio_net_hdr *h)
{
	return !(h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) &&
	       !(h->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID));
}

/* @h for the frame (@frame, @len) -> PPIs in @pi (present bits added).
 * Inline for the frame with nothing to tell, most of them. */
static inline int rndis_vnet_to_pi(const struct virtio_net_hdr *h, const uint8_t *frame,
                                   uint32_t len, enum rndis_dir dir, struct rndis_pkt_info *pi)
{
	if (rndis_vnet_plain(h))
		return 0;
	return rndis_vnet_to_pi_full(h, frame, len, dir, pi);
}

/* PPIs of a received frame -> @h (zeroed first). */
static inline int rndis_pi_to_vnet(const struct rndis_pkt_info *pi, const uint8_t *frame,
                                   uint32_t len, enum rndis_dir dir, struct virtio_net_hdr *h)
{
	if (!(pi->present & (RNDIS_PI_LSO | RNDIS_PI_CSUM))) {
		*h = (struct virtio_net_hdr){ 0 };
		return 0;
	}
	return rndis_pi_to_vnet_full(pi, frame, len, dir, h);
}

#endif
