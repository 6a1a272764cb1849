/* rndis_oid — the host's RNDIS request responder, as a pure function: the
 * state of one synthetic adapter (struct rndis_oid_adapter) plus one decoded
 * request from the guest gives the completion's bytes, and SETs change the
 * state. No I/O: the caller (NetVSP) decodes the request with rndis_decode(),
 * calls rndis_oid_respond() and sends what it wrote.
 *
 *   INITIALIZE  -> INITIALIZE_CMPLT (RNDIS 1.0, 802.3, connectionless,
 *                  packet alignment factor RNDIS_ALIGN_FACTOR)
 *   HALT        -> no completion; the adapter is uninitialised again
 *   QUERY, SET  -> QUERY_CMPLT / SET_CMPLT, the OIDs below
 *   RESET       -> RESET_CMPLT (state kept, addressing_reset 0)
 *   KEEPALIVE   -> KEEPALIVE_CMPLT
 *
 * Trust: the request comes from the VM. rndis_decode() already proved that
 * its info buffer lies inside the message; here every OID checks the length
 * it was given against what it needs before reading a byte, reads fixed-size
 * values with memcpy, and answers a bad request with an NDIS status in the
 * completion, never with a crash:
 *   - unknown OID, or a query-only OID SET, or SET of an address
 *     (MAC spoofing), OID_GEN_RNDIS_CONFIG_PARAMETER     RNDIS_STATUS_NOT_SUPPORTED
 *   - info buffer of the wrong size (too small or too large) RNDIS_STATUS_INVALID_LENGTH
 *   - a value outside the defined ones                    RNDIS_STATUS_INVALID_DATA
 *   - more multicast addresses than RNDIS_OID_MCAST_MAX   RNDIS_STATUS_MULTICAST_FULL
 *   - QUERY/SET before INITIALIZE (or after HALT)         RNDIS_STATUS_ADAPTER_NOT_READY
 *   - the answer is larger than the output space or the
 *     guest's max transfer size                           RNDIS_STATUS_BUFFER_TOO_SHORT
 *   - INITIALIZE with an RNDIS major version other than 1 RNDIS_STATUS_BAD_VERSION
 * A failed SET leaves the state untouched.
 *
 * Thread-safety: none; one adapter is used by one thread (its NetVSP).
 * Ownership: the caller owns the adapter, the request and the output buffer.
 * Errors: 0 or a negative errno (see rndis_oid_respond).
 */
#ifndef IOVPATH_PROTO_RNDIS_OID_H
#define IOVPATH_PROTO_RNDIS_OID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/rndis.h"

/* OIDs (NDIS object identifiers). */
#define RNDIS_OID_GEN_SUPPORTED_LIST                0x00010101u
#define RNDIS_OID_GEN_HARDWARE_STATUS               0x00010102u
#define RNDIS_OID_GEN_MEDIA_SUPPORTED               0x00010103u
#define RNDIS_OID_GEN_MEDIA_IN_USE                  0x00010104u
#define RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE            0x00010106u
#define RNDIS_OID_GEN_LINK_SPEED                    0x00010107u
#define RNDIS_OID_GEN_CURRENT_PACKET_FILTER         0x0001010eu
#define RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE            0x00010111u
#define RNDIS_OID_GEN_MEDIA_CONNECT_STATUS          0x00010114u
#define RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER        0x0001021bu
#define RNDIS_OID_GEN_XMIT_OK                       0x00020101u
#define RNDIS_OID_GEN_RCV_OK                        0x00020102u
#define RNDIS_OID_GEN_XMIT_ERROR                    0x00020103u
#define RNDIS_OID_GEN_RCV_ERROR                     0x00020104u
#define RNDIS_OID_GEN_RCV_NO_BUFFER                 0x00020105u
#define RNDIS_OID_802_3_PERMANENT_ADDRESS           0x01010101u
#define RNDIS_OID_802_3_CURRENT_ADDRESS             0x01010102u
#define RNDIS_OID_802_3_MULTICAST_LIST              0x01010103u
#define RNDIS_OID_802_3_MAXIMUM_LIST_SIZE           0x01010104u
#define RNDIS_OID_TCP_OFFLOAD_PARAMETERS            0xfc01020cu /* set only */
#define RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES 0xfc01020du /* query only */

/* OID_GEN_CURRENT_PACKET_FILTER bits (NDIS_PACKET_TYPE_*). */
#define RNDIS_PACKET_TYPE_DIRECTED      0x00000001u
#define RNDIS_PACKET_TYPE_MULTICAST     0x00000002u
#define RNDIS_PACKET_TYPE_ALL_MULTICAST 0x00000004u
#define RNDIS_PACKET_TYPE_BROADCAST     0x00000008u
#define RNDIS_PACKET_TYPE_PROMISCUOUS   0x00000020u
#define RNDIS_OID_FILTER_SUPPORTED                                                                 \
	(RNDIS_PACKET_TYPE_DIRECTED | RNDIS_PACKET_TYPE_MULTICAST |                                \
	 RNDIS_PACKET_TYPE_ALL_MULTICAST | RNDIS_PACKET_TYPE_BROADCAST |                           \
	 RNDIS_PACKET_TYPE_PROMISCUOUS)

/* OID_GEN_MEDIA_CONNECT_STATUS values. */
#define RNDIS_MEDIA_STATE_CONNECTED    0u
#define RNDIS_MEDIA_STATE_DISCONNECTED 1u

#define RNDIS_OID_MCAST_MAX    32u  /* OID_802_3_MAXIMUM_LIST_SIZE */
#define RNDIS_OID_QUERY_IN_MAX 512u /* largest input a QUERY may carry */
#define RNDIS_OID_ETH_HLEN     14u

/* NDIS object header, first in every NDIS 6 structure an OID carries. */
struct rndis_oid_obj_hdr {
	uint8_t type;
	uint8_t rev;
	uint16_t size; /* the whole structure, header included */
};
#define RNDIS_OID_OBJ_DEFAULT 0x80u /* NDIS_OBJECT_TYPE_DEFAULT */
#define RNDIS_OID_OBJ_OFFLOAD 0xa7u /* NDIS_OBJECT_TYPE_OFFLOAD */

/* OID_TCP_OFFLOAD_PARAMETERS (SET): NDIS_OFFLOAD_PARAMETERS. Each u8 is a
 * RNDIS_OID_OFFLOAD_* value; NOCHG keeps the current setting. */
struct rndis_oid_offload_params {
	struct rndis_oid_obj_hdr hdr; /* RNDIS_OID_OBJ_DEFAULT, rev 1..3 */
	uint8_t ip4_csum;             /* OFF/TX/RX/TXRX */
	uint8_t tcp4_csum;            /* OFF/TX/RX/TXRX */
	uint8_t udp4_csum;            /* OFF/TX/RX/TXRX */
	uint8_t tcp6_csum;            /* OFF/TX/RX/TXRX */
	uint8_t udp6_csum;            /* OFF/TX/RX/TXRX */
	uint8_t lsov1;                /* OFF/ON */
	uint8_t ipsecv1;              /* 1 off .. 4 AH+ESP */
	uint8_t lsov2_ip4;            /* OFF/ON */
	uint8_t lsov2_ip6;            /* OFF/ON */
	uint8_t tcp4_conn;            /* chimney: 0 */
	uint8_t tcp6_conn;            /* chimney: 0 */
	uint32_t flags;               /* 0 */
	/* revision 2 (NDIS 6.1) */
	uint8_t ipsecv2;     /* 1 off .. 4 AH+ESP */
	uint8_t ipsecv2_ip4; /* 1 off .. 4 AH+ESP */
	/* revision 3 (NDIS 6.30) */
	uint8_t rsc_ip4;     /* OFF/ON */
	uint8_t rsc_ip6;     /* OFF/ON */
	uint8_t encap;       /* NOCHG/ON (1)/OFF (2) */
	uint8_t encap_types; /* bit 0: NVGRE */
};
#define RNDIS_OID_OFFLOAD_PARAMS_SIZE_1 20u /* through flags */
#define RNDIS_OID_OFFLOAD_PARAMS_SIZE_2 22u /* through ipsecv2_ip4 */
#define RNDIS_OID_OFFLOAD_PARAMS_SIZE_3 26u /* through encap_types */
_Static_assert(offsetof(struct rndis_oid_offload_params, ip4_csum) == 4, "params.ip4_csum");
_Static_assert(offsetof(struct rndis_oid_offload_params, tcp6_conn) == 14, "params.tcp6_conn");
_Static_assert(offsetof(struct rndis_oid_offload_params, flags) == 16, "params.flags");
_Static_assert(offsetof(struct rndis_oid_offload_params, ipsecv2) == 20, "params.ipsecv2");
_Static_assert(offsetof(struct rndis_oid_offload_params, rsc_ip4) == 22, "params.rsc_ip4");
_Static_assert(offsetof(struct rndis_oid_offload_params, encap_types) == 25, "params.encap_types");
_Static_assert(sizeof(struct rndis_oid_offload_params) == 28, "params padded size");

#define RNDIS_OID_OFFLOAD_NOCHG   0u /* every field */
#define RNDIS_OID_OFFLOAD_OFF     1u /* checksum fields */
#define RNDIS_OID_OFFLOAD_TX      2u
#define RNDIS_OID_OFFLOAD_RX      3u
#define RNDIS_OID_OFFLOAD_TXRX    4u
#define RNDIS_OID_OFFLOAD_LSO_OFF 1u /* lsov1, lsov2_*, rsc_* */
#define RNDIS_OID_OFFLOAD_LSO_ON  2u

/* OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES (QUERY): NDIS_OFFLOAD. */
struct rndis_oid_offload {
	struct rndis_oid_obj_hdr hdr; /* RNDIS_OID_OBJ_OFFLOAD, rev 1..3 */
	struct {
		uint32_t ip4_txenc, ip4_txcsum, ip4_rxenc, ip4_rxcsum;
		uint32_t ip6_txenc, ip6_txcsum, ip6_rxenc, ip6_rxcsum;
	} csum;
	struct {
		uint32_t encap, maxsize, minsegs, opts;
	} lsov1;
	struct {
		uint32_t encap, ah_esp, xport_tun, ip4_opts, flags, ip4_ah, ip4_esp;
	} ipsecv1;
	struct {
		uint32_t ip4_encap, ip4_maxsz, ip4_minsg;
		uint32_t ip6_encap, ip6_maxsz, ip6_minsg, ip6_opts;
	} lsov2;
	uint32_t flags;
	/* revision 2 (NDIS 6.1) */
	struct {
		uint32_t encap;
		uint8_t ip6, ip4opt, ip6ext, ah, esp, ah_esp, xport, tun, xport_tun, lso, extseq;
		uint32_t udp_esp, auth, crypto, sa_caps;
	} ipsecv2;
	/* revision 3 (NDIS 6.30) */
	struct {
		uint8_t ip4, ip6;
	} rsc;
	struct {
		uint32_t flags, maxhdr;
	} encap_gre;
};
#define RNDIS_OID_OFFLOAD_SIZE_1 112u /* through flags */
#define RNDIS_OID_OFFLOAD_SIZE_2 144u /* through ipsecv2 */
#define RNDIS_OID_OFFLOAD_SIZE_3 156u /* through encap_gre */
_Static_assert(offsetof(struct rndis_oid_offload, csum) == 4, "offload.csum");
_Static_assert(offsetof(struct rndis_oid_offload, lsov1) == 36, "offload.lsov1");
_Static_assert(offsetof(struct rndis_oid_offload, ipsecv1) == 52, "offload.ipsecv1");
_Static_assert(offsetof(struct rndis_oid_offload, lsov2) == 80, "offload.lsov2");
_Static_assert(offsetof(struct rndis_oid_offload, flags) == RNDIS_OID_OFFLOAD_SIZE_1 - 4, "flags");
_Static_assert(offsetof(struct rndis_oid_offload, ipsecv2) == RNDIS_OID_OFFLOAD_SIZE_1, "ipsecv2");
_Static_assert(offsetof(struct rndis_oid_offload, ipsecv2.udp_esp) == 128, "ipsecv2.udp_esp");
_Static_assert(offsetof(struct rndis_oid_offload, rsc) == RNDIS_OID_OFFLOAD_SIZE_2, "rsc");
_Static_assert(offsetof(struct rndis_oid_offload, encap_gre) == 148, "encap_gre");
_Static_assert(sizeof(struct rndis_oid_offload) == RNDIS_OID_OFFLOAD_SIZE_3, "offload size");

/* Offload capability encodings. */
#define RNDIS_OID_ENCAP_802_3     0x0002u /* NDIS_OFFLOAD_ENCAP_8023 */
#define RNDIS_OID_CSUM_CAP_IPOPT  0x001u  /* IPv4 options / IPv6 extension headers */
#define RNDIS_OID_CSUM_CAP_TCPOPT 0x004u
#define RNDIS_OID_CSUM_CAP_TCP    0x010u
#define RNDIS_OID_CSUM_CAP_UDP    0x040u
#define RNDIS_OID_CSUM_CAP_IP4    0x100u /* IPv4 header checksum */

/* Counters the statistics OIDs report (64-bit on the wire). */
struct rndis_oid_stats {
	uint64_t xmit_ok;
	uint64_t rcv_ok;
	uint64_t xmit_error;
	uint64_t rcv_error;
	uint64_t rcv_no_buffer;
};

/* One synthetic adapter as the guest sees it through RNDIS. */
struct rndis_oid_adapter {
	/* Set by the host (rndis_oid_adapter_init, then freely). */
	uint8_t perm_mac[6];
	uint8_t mac[6];
	uint32_t mtu;        /* bytes after the Ethernet header (OID_GEN_MAXIMUM_FRAME_SIZE) */
	uint32_t link_speed; /* units of 100 bit/s, as NDIS reports it: 10 Gbit/s = 100000000 */
	bool media_connected;
	uint32_t max_pkts_per_msg;        /* offered in INITIALIZE_CMPLT */
	uint32_t max_xfer_size;           /* offered in INITIALIZE_CMPLT */
	struct rndis_oid_offload hw_caps; /* rev 3, answered (cut to the asked rev) */
	struct rndis_oid_stats stats;     /* the data path counts */

	/* Set by the guest through requests. */
	bool initialized;
	bool halted;             /* HALT came (and no INITIALIZE since) */
	uint32_t guest_max_xfer; /* from INITIALIZE: largest completion it takes */
	uint32_t packet_filter;  /* RNDIS_PACKET_TYPE_* */
	uint32_t mcast_count;
	uint8_t mcast[RNDIS_OID_MCAST_MAX][6];
	/* current offload settings: every field a defined value, never NOCHG */
	struct rndis_oid_offload_params offload;
};

/* A fresh adapter: @mac as permanent and current address, @mtu, @link_speed
 * (100 bit/s units), media connected, nothing initialised, every offload off,
 * and hardware capabilities for checksum (IPv4/IPv6, TCP/UDP, both ways) and
 * LSO v2 (64 KiB, IPv4 and IPv6). */
void rndis_oid_adapter_init(struct rndis_oid_adapter *a, const uint8_t mac[6], uint32_t mtu,
                            uint32_t link_speed);

/* Answer request @req (decoded by rndis_decode, from the guest) for adapter
 * @a: write the completion into @out (@cap bytes) and apply a SET to @a.
 * Returns the completion's bytes; 0 for HALT (no completion);
 * -EINVAL when @req is not a request a guest sends a device (PACKET,
 * INDICATE_STATUS, a completion); -ENOBUFS when @cap can't hold even the
 * completion without data (nothing changed). */
int rndis_oid_respond(struct rndis_oid_adapter *a, const struct rndis_msg *req, void *out,
                      size_t cap);

/* The name of @oid for logs ("OID_GEN_LINK_SPEED"; "UNKNOWN"). */
const char *rndis_oid_name(uint32_t oid);

#endif
