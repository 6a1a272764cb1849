/* rndis_oid — see rndis_oid.h for the requests answered and the statuses. */
#include "proto/rndis_oid.h"

#include <errno.h>
#include <string.h>

#include "util/util.h"

#define RNDIS_OID__Q 0x1 /* answers QUERY */
#define RNDIS_OID__S 0x2 /* accepts SET */

/* clang-format off */
#define D(name, ops) { RNDIS_##name, ops, #name }
static const struct rndis_oid__desc {
	uint32_t oid;
	uint8_t ops;
	const char *name;
} rndis_oid__oids[] = {
	D(OID_GEN_SUPPORTED_LIST, RNDIS_OID__Q),
	D(OID_GEN_HARDWARE_STATUS, RNDIS_OID__Q),
	D(OID_GEN_MEDIA_SUPPORTED, RNDIS_OID__Q),
	D(OID_GEN_MEDIA_IN_USE, RNDIS_OID__Q),
	D(OID_GEN_MAXIMUM_FRAME_SIZE, RNDIS_OID__Q),
	D(OID_GEN_LINK_SPEED, RNDIS_OID__Q),
	D(OID_GEN_CURRENT_PACKET_FILTER, RNDIS_OID__Q | RNDIS_OID__S),
	D(OID_GEN_MAXIMUM_TOTAL_SIZE, RNDIS_OID__Q),
	D(OID_GEN_MEDIA_CONNECT_STATUS, RNDIS_OID__Q),
	D(OID_GEN_XMIT_OK, RNDIS_OID__Q),
	D(OID_GEN_RCV_OK, RNDIS_OID__Q),
	D(OID_GEN_XMIT_ERROR, RNDIS_OID__Q),
	D(OID_GEN_RCV_ERROR, RNDIS_OID__Q),
	D(OID_GEN_RCV_NO_BUFFER, RNDIS_OID__Q),
	D(OID_802_3_PERMANENT_ADDRESS, RNDIS_OID__Q),
	D(OID_802_3_CURRENT_ADDRESS, RNDIS_OID__Q), /* SET refused: the guest keeps its MAC */
	D(OID_802_3_MULTICAST_LIST, RNDIS_OID__Q | RNDIS_OID__S),
	D(OID_802_3_MAXIMUM_LIST_SIZE, RNDIS_OID__Q),
	D(OID_TCP_OFFLOAD_PARAMETERS, RNDIS_OID__S),
	D(OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, RNDIS_OID__Q),
	D(OID_GEN_RNDIS_CONFIG_PARAMETER, 0), /* named for logs; refused */
};
#undef D
/* clang-format on */

/* The largest value a QUERY answers: the multicast list. */
#define RNDIS_OID__VAL_MAX (RNDIS_OID_MCAST_MAX * 6)
_Static_assert(RNDIS_OID__VAL_MAX >= sizeof(struct rndis_oid_offload), "hw caps fit");
_Static_assert(RNDIS_OID__VAL_MAX >= ARRAY_SIZE(rndis_oid__oids) * 4, "supported list fits");

/* OID_TCP_OFFLOAD_PARAMETERS fields: where, and the largest defined value. */
/* clang-format off */
#define P(f, max) { offsetof(struct rndis_oid_offload_params, f), max }
/* clang-format on */
static const struct {
	uint8_t off;
	uint8_t max;
} rndis_oid__params[] = {
	P(ip4_csum, 4),    P(tcp4_csum, 4), P(udp4_csum, 4), P(tcp6_csum, 4),
	P(udp6_csum, 4),   P(lsov1, 2),     P(ipsecv1, 4),   P(lsov2_ip4, 2),
	P(lsov2_ip6, 2),   P(tcp4_conn, 2), P(tcp6_conn, 2), P(ipsecv2, 4),
	P(ipsecv2_ip4, 4), P(rsc_ip4, 2),   P(rsc_ip6, 2),   P(encap, 2),
};
#undef P
#define RNDIS_OID__ENCAP_TYPES 0x1u /* NVGRE */

const char *rndis_oid_name(uint32_t oid)
{
	for (size_t i = 0; i < ARRAY_SIZE(rndis_oid__oids); i++)
		if (rndis_oid__oids[i].oid == oid)
			return rndis_oid__oids[i].name;
	return "UNKNOWN";
}

/* What the guest configures goes back to its power-on value. */
static void __oid_guest_reset(struct rndis_oid_adapter *a)
{
	a->packet_filter = 0;
	a->mcast_count = 0;
	memset(a->mcast, 0, sizeof(a->mcast));
	memset(&a->offload, RNDIS_OID_OFFLOAD_OFF, sizeof(a->offload));
	a->offload.hdr =
	    (struct rndis_oid_obj_hdr){ RNDIS_OID_OBJ_DEFAULT, 3, RNDIS_OID_OFFLOAD_PARAMS_SIZE_3 };
	a->offload.flags = 0;
	a->offload.encap = 2; /* NDIS_OFFLOAD_SET_OFF */
	a->offload.encap_types = 0;
}

void rndis_oid_adapter_init(struct rndis_oid_adapter *a, const uint8_t mac[6], uint32_t mtu,
                            uint32_t link_speed)
{
	const uint32_t csum4 = RNDIS_OID_CSUM_CAP_IPOPT | RNDIS_OID_CSUM_CAP_TCPOPT |
	                       RNDIS_OID_CSUM_CAP_TCP | RNDIS_OID_CSUM_CAP_UDP |
	                       RNDIS_OID_CSUM_CAP_IP4;
	const uint32_t csum6 = RNDIS_OID_CSUM_CAP_IPOPT | RNDIS_OID_CSUM_CAP_TCPOPT |
	                       RNDIS_OID_CSUM_CAP_TCP | RNDIS_OID_CSUM_CAP_UDP;
	struct rndis_oid_offload *c = &a->hw_caps;

	memset(a, 0, sizeof(*a));
	memcpy(a->perm_mac, mac, 6);
	memcpy(a->mac, mac, 6);
	a->mtu = mtu;
	a->link_speed = link_speed;
	a->media_connected = true;
	a->max_pkts_per_msg = 8;
	a->max_xfer_size = 0x20000;

	c->hdr = (struct rndis_oid_obj_hdr){ RNDIS_OID_OBJ_OFFLOAD, 3, RNDIS_OID_OFFLOAD_SIZE_3 };
	c->csum.ip4_txenc = c->csum.ip4_rxenc = RNDIS_OID_ENCAP_802_3;
	c->csum.ip4_txcsum = c->csum.ip4_rxcsum = csum4;
	c->csum.ip6_txenc = c->csum.ip6_rxenc = RNDIS_OID_ENCAP_802_3;
	c->csum.ip6_txcsum = c->csum.ip6_rxcsum = csum6;
	c->lsov2.ip4_encap = c->lsov2.ip6_encap = RNDIS_OID_ENCAP_802_3;
	c->lsov2.ip4_maxsz = c->lsov2.ip6_maxsz = 62780; /* headers + payload stay under 64 KiB */
	c->lsov2.ip4_minsg = c->lsov2.ip6_minsg = 2;
	c->lsov2.ip6_opts = RNDIS_OID_CSUM_CAP_IPOPT | RNDIS_OID_CSUM_CAP_TCPOPT;

	__oid_guest_reset(a);
}

static int __oid_init(struct rndis_oid_adapter *a, const struct rndis_msg *req, void *out,
                      size_t cap)
{
	struct rndis_init_comp c = {
		.req_id = req->init.req_id,
		.status = RNDIS_STATUS_SUCCESS,
		.major = RNDIS_MAJOR_VERSION,
		.minor = RNDIS_MINOR_VERSION,
		.dev_flags = RNDIS_DF_CONNECTIONLESS,
		.medium = RNDIS_MEDIUM_802_3,
		.max_pkts_per_msg = a->max_pkts_per_msg,
		.max_xfer_size = a->max_xfer_size,
		.pkt_align_factor = RNDIS_ALIGN_FACTOR,
	};
	int rc;

	if (req->init.major != RNDIS_MAJOR_VERSION)
		c.status = RNDIS_STATUS_BAD_VERSION;
	rc = rndis_encode_init_c(out, cap, &c);
	if (rc < 0 || c.status != RNDIS_STATUS_SUCCESS)
		return rc;
	__oid_guest_reset(a);
	a->initialized = true;
	a->halted = false;
	a->guest_max_xfer = req->init.max_xfer_size;
	return rc;
}

static void __put32(uint8_t *val, uint32_t *n, uint32_t v)
{
	memcpy(val + *n, &v, sizeof(v));
	*n += sizeof(v);
}

/* OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES: the caller may name the revision it
 * understands in an NDIS object header; the answer is cut to it. */
static uint32_t __oid_hw_caps(const struct rndis_oid_adapter *a, const struct rndis_msg *req,
                              uint8_t *val, uint32_t *n)
{
	static const uint16_t size[] = { 0, RNDIS_OID_OFFLOAD_SIZE_1, RNDIS_OID_OFFLOAD_SIZE_2,
		                         RNDIS_OID_OFFLOAD_SIZE_3 };
	struct rndis_oid_offload c = a->hw_caps;
	uint8_t rev = 3;

	if (req->info_len) {
		struct rndis_oid_obj_hdr h;

		if (req->info_len < sizeof(h))
			return RNDIS_STATUS_INVALID_LENGTH;
		memcpy(&h, req->info, sizeof(h));
		if (h.type != RNDIS_OID_OBJ_OFFLOAD || h.rev == 0)
			return RNDIS_STATUS_INVALID_DATA;
		if (h.rev < rev)
			rev = h.rev;
	}
	c.hdr = (struct rndis_oid_obj_hdr){ RNDIS_OID_OBJ_OFFLOAD, rev, size[rev] };
	memcpy(val, &c, size[rev]);
	*n = size[rev];
	return RNDIS_STATUS_SUCCESS;
}

/* The value of QUERY @req into @val (*@n bytes); returns the NDIS status. */
static uint32_t __oid_query_value(const struct rndis_oid_adapter *a, const struct rndis_msg *req,
                                  uint8_t *val, uint32_t *n)
{
	const uint64_t *stat = NULL;

	switch (req->query.oid) {
	case RNDIS_OID_GEN_SUPPORTED_LIST:
		for (size_t i = 0; i < ARRAY_SIZE(rndis_oid__oids); i++)
			if (rndis_oid__oids[i].ops)
				__put32(val, n, rndis_oid__oids[i].oid);
		break;
	case RNDIS_OID_GEN_HARDWARE_STATUS:
		__put32(val, n, 0); /* NdisHardwareStatusReady */
		break;
	case RNDIS_OID_GEN_MEDIA_SUPPORTED:
	case RNDIS_OID_GEN_MEDIA_IN_USE:
		__put32(val, n, RNDIS_MEDIUM_802_3);
		break;
	case RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE:
		__put32(val, n, a->mtu);
		break;
	case RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE:
		__put32(val, n, a->mtu + RNDIS_OID_ETH_HLEN);
		break;
	case RNDIS_OID_GEN_LINK_SPEED:
		__put32(val, n, a->link_speed);
		break;
	case RNDIS_OID_GEN_CURRENT_PACKET_FILTER:
		__put32(val, n, a->packet_filter);
		break;
	case RNDIS_OID_GEN_MEDIA_CONNECT_STATUS:
		__put32(val, n,
		        a->media_connected ? RNDIS_MEDIA_STATE_CONNECTED
		                           : RNDIS_MEDIA_STATE_DISCONNECTED);
		break;
	case RNDIS_OID_802_3_MAXIMUM_LIST_SIZE:
		__put32(val, n, RNDIS_OID_MCAST_MAX);
		break;
	case RNDIS_OID_802_3_PERMANENT_ADDRESS:
		memcpy(val, a->perm_mac, 6);
		*n = 6;
		break;
	case RNDIS_OID_802_3_CURRENT_ADDRESS:
		memcpy(val, a->mac, 6);
		*n = 6;
		break;
	case RNDIS_OID_802_3_MULTICAST_LIST:
		*n = a->mcast_count * 6;
		memcpy(val, a->mcast, *n);
		break;
	case RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES:
		return __oid_hw_caps(a, req, val, n);
	case RNDIS_OID_GEN_XMIT_OK:
		stat = &a->stats.xmit_ok;
		break;
	case RNDIS_OID_GEN_RCV_OK:
		stat = &a->stats.rcv_ok;
		break;
	case RNDIS_OID_GEN_XMIT_ERROR:
		stat = &a->stats.xmit_error;
		break;
	case RNDIS_OID_GEN_RCV_ERROR:
		stat = &a->stats.rcv_error;
		break;
	case RNDIS_OID_GEN_RCV_NO_BUFFER:
		stat = &a->stats.rcv_no_buffer;
		break;
	default:
		return RNDIS_STATUS_NOT_SUPPORTED;
	}
	if (stat) { /* NDIS 6 statistics: 64-bit */
		memcpy(val, stat, sizeof(*stat));
		*n = sizeof(*stat);
	}
	return RNDIS_STATUS_SUCCESS;
}

static int __oid_query(struct rndis_oid_adapter *a, const struct rndis_msg *req, void *out,
                       size_t cap)
{
	const size_t hdr = sizeof(struct rndis_query_comp);
	uint8_t val[RNDIS_OID__VAL_MAX];
	size_t limit = cap;
	uint32_t status, n = 0;

	if (cap < hdr)
		return -ENOBUFS;
	if (a->guest_max_xfer && a->guest_max_xfer < limit)
		limit = a->guest_max_xfer;
	if (!a->initialized)
		status = RNDIS_STATUS_ADAPTER_NOT_READY;
	else if (req->info_len > RNDIS_OID_QUERY_IN_MAX)
		status = RNDIS_STATUS_INVALID_LENGTH;
	else
		status = __oid_query_value(a, req, val, &n);
	if (status == RNDIS_STATUS_SUCCESS && hdr + n > limit)
		status = RNDIS_STATUS_BUFFER_TOO_SHORT;
	if (status != RNDIS_STATUS_SUCCESS)
		n = 0;
	return rndis_encode_query_c(out, cap, req->query.req_id, status, val, n);
}

static uint32_t __oid_set_filter(struct rndis_oid_adapter *a, const struct rndis_msg *req)
{
	uint32_t v;

	if (req->info_len != sizeof(v))
		return RNDIS_STATUS_INVALID_LENGTH;
	memcpy(&v, req->info, sizeof(v));
	if (v & ~RNDIS_OID_FILTER_SUPPORTED)
		return RNDIS_STATUS_NOT_SUPPORTED;
	a->packet_filter = v;
	return RNDIS_STATUS_SUCCESS;
}

static uint32_t __oid_set_mcast(struct rndis_oid_adapter *a, const struct rndis_msg *req)
{
	uint32_t n = req->info_len / 6;

	if (req->info_len % 6)
		return RNDIS_STATUS_INVALID_LENGTH;
	if (n > RNDIS_OID_MCAST_MAX)
		return RNDIS_STATUS_MULTICAST_FULL;
	for (uint32_t i = 0; i < n; i++)
		if (!(req->info[i * 6] & 0x01)) /* the group bit */
			return RNDIS_STATUS_INVALID_DATA;
	if (n)
		memcpy(a->mcast, req->info, n * 6);
	a->mcast_count = n;
	return RNDIS_STATUS_SUCCESS;
}

/* OID_TCP_OFFLOAD_PARAMETERS. The header's size says how many fields the
 * guest sent (Linux sends revision 3 with 22 bytes to an NVSP 4 host); the
 * fields past it mean "no change". */
static uint32_t __oid_set_offload(struct rndis_oid_adapter *a, const struct rndis_msg *req)
{
	struct rndis_oid_offload_params p = { 0 };
	const uint8_t *in = (const uint8_t *)&p;
	uint8_t *cur = (uint8_t *)&a->offload;

	if (req->info_len < RNDIS_OID_OFFLOAD_PARAMS_SIZE_1 || req->info_len > sizeof(p))
		return RNDIS_STATUS_INVALID_LENGTH;
	memcpy(&p, req->info, req->info_len);
	if (p.hdr.type != RNDIS_OID_OBJ_DEFAULT || p.hdr.rev < 1 || p.hdr.rev > 3 ||
	    p.hdr.size < RNDIS_OID_OFFLOAD_PARAMS_SIZE_1 || p.hdr.size > req->info_len)
		return RNDIS_STATUS_INVALID_DATA;
	memset((uint8_t *)&p + p.hdr.size, 0, sizeof(p) - p.hdr.size);
	for (size_t i = 0; i < ARRAY_SIZE(rndis_oid__params); i++)
		if (in[rndis_oid__params[i].off] > rndis_oid__params[i].max)
			return RNDIS_STATUS_INVALID_DATA;
	if (p.encap_types & ~RNDIS_OID__ENCAP_TYPES)
		return RNDIS_STATUS_INVALID_DATA;

	for (size_t i = 0; i < ARRAY_SIZE(rndis_oid__params); i++)
		if (in[rndis_oid__params[i].off] != RNDIS_OID_OFFLOAD_NOCHG)
			cur[rndis_oid__params[i].off] = in[rndis_oid__params[i].off];
	if (p.encap != RNDIS_OID_OFFLOAD_NOCHG)
		a->offload.encap_types = p.encap_types;
	return RNDIS_STATUS_SUCCESS;
}

static int __oid_set(struct rndis_oid_adapter *a, const struct rndis_msg *req, void *out,
                     size_t cap)
{
	uint32_t status;

	if (cap < sizeof(struct rndis_comp))
		return -ENOBUFS;
	if (!a->initialized)
		status = RNDIS_STATUS_ADAPTER_NOT_READY;
	else if (req->set.oid == RNDIS_OID_GEN_CURRENT_PACKET_FILTER)
		status = __oid_set_filter(a, req);
	else if (req->set.oid == RNDIS_OID_802_3_MULTICAST_LIST)
		status = __oid_set_mcast(a, req);
	else if (req->set.oid == RNDIS_OID_TCP_OFFLOAD_PARAMETERS)
		status = __oid_set_offload(a, req);
	else
		status = RNDIS_STATUS_NOT_SUPPORTED;
	return rndis_encode_set_c(out, cap, req->set.req_id, status);
}

int rndis_oid_respond(struct rndis_oid_adapter *a, const struct rndis_msg *req, void *out,
                      size_t cap)
{
	switch (req->hdr.type) {
	case RNDIS_MSG_INIT:
		return __oid_init(a, req, out, cap);
	case RNDIS_MSG_HALT:
		a->initialized = false;
		a->halted = true;
		return 0;
	case RNDIS_MSG_QUERY:
		return __oid_query(a, req, out, cap);
	case RNDIS_MSG_SET:
		return __oid_set(a, req, out, cap);
	case RNDIS_MSG_RESET:
		return rndis_encode_reset_c(out, cap, RNDIS_STATUS_SUCCESS, 0);
	case RNDIS_MSG_KEEPALIVE:
		return rndis_encode_keepalive_c(out, cap, req->keepalive.req_id,
		                                RNDIS_STATUS_SUCCESS);
	default:
		return -EINVAL;
	}
}
