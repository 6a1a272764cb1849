/* RNDIS OID responder tests: the guest's requests go through the real
 * encoder and decoder, the host's completions are decoded back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rndis_oid.h"
#include "util/util.h"

static const uint8_t MAC[6] = { 0x00, 0x15, 0x5d, 0x01, 0x02, 0x03 };

static struct rndis_oid_adapter a;
static uint8_t req[2048], out[2048];
static struct rndis_msg c; /* the last completion, decoded */
static char err[160];

/* Decode the @len-byte request in req, answer it into @cap bytes of out,
 * decode the completion into c. Returns the responder's result. */
static int respond(int len, size_t cap)
{
	struct rndis_msg r;
	int rc;

	cr_assert_gt(len, 0);
	cr_assert_eq(rndis_decode(req, (size_t)len, &r, err, sizeof(err)), 0, "%s", err);
	memset(&c, 0, sizeof(c));
	rc = rndis_oid_respond(&a, &r, out, cap);
	if (rc > 0)
		cr_assert_eq(rndis_decode(out, (size_t)rc, &c, err, sizeof(err)), 0,
		             "completion does not decode: %s", err);
	return rc;
}

static void setup(void)
{
	rndis_oid_adapter_init(&a, MAC, 1500, 100000000); /* 10 Gbit/s */
	cr_assert_gt(respond(rndis_encode_init(req, sizeof(req), 1, 1, 0, 0x4000), sizeof(out)), 0);
	cr_assert_eq(c.init_c.status, RNDIS_STATUS_SUCCESS);
}

/* QUERY @oid (no input); returns the status, the value in c.info. */
static uint32_t query(uint32_t oid)
{
	cr_assert_gt(respond(rndis_encode_query(req, sizeof(req), 5, oid, NULL, 0), sizeof(out)),
	             0);
	cr_assert_eq(c.hdr.type, RNDIS_MSG_QUERY_C);
	cr_assert_eq(c.query_c.req_id, 5);
	return c.query_c.status;
}

static uint32_t query_u32(uint32_t oid)
{
	uint32_t v;

	cr_assert_eq(query(oid), RNDIS_STATUS_SUCCESS, "%s", rndis_oid_name(oid));
	cr_assert_eq(c.info_len, 4, "%s", rndis_oid_name(oid));
	memcpy(&v, c.info, 4);
	return v;
}

static uint32_t set(uint32_t oid, const void *v, uint32_t len)
{
	cr_assert_eq(respond(rndis_encode_set(req, sizeof(req), 6, oid, v, len), sizeof(out)), 16);
	cr_assert_eq(c.hdr.type, RNDIS_MSG_SET_C);
	cr_assert_eq(c.set_c.req_id, 6);
	return c.set_c.status;
}

TestSuite(rndis_oid, .init = setup, .timeout = 10);

Test(rndis_oid, initialize)
{
	cr_assert_eq(c.hdr.len, 52);
	cr_assert_eq(c.init_c.req_id, 1);
	cr_assert_eq(c.init_c.major, 1);
	cr_assert_eq(c.init_c.minor, 0);
	cr_assert_eq(c.init_c.dev_flags, RNDIS_DF_CONNECTIONLESS);
	cr_assert_eq(c.init_c.medium, RNDIS_MEDIUM_802_3);
	cr_assert_eq(c.init_c.max_pkts_per_msg, 8);
	cr_assert_eq(c.init_c.pkt_align_factor, 3);
	cr_assert(a.initialized);
	cr_assert_eq(a.guest_max_xfer, 0x4000);

	/* An RNDIS 2.0 guest is refused; the state is not touched. */
	a.packet_filter = RNDIS_PACKET_TYPE_DIRECTED;
	respond(rndis_encode_init(req, sizeof(req), 2, 2, 0, 0x4000), sizeof(out));
	cr_assert_eq(c.init_c.status, RNDIS_STATUS_BAD_VERSION);
	cr_assert_eq(c.init_c.req_id, 2);
	cr_assert_eq(a.packet_filter, RNDIS_PACKET_TYPE_DIRECTED);
	/* A second INITIALIZE starts over. */
	respond(rndis_encode_init(req, sizeof(req), 3, 1, 0, 0x8000), sizeof(out));
	cr_assert_eq(c.init_c.status, RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.packet_filter, 0);
	cr_assert_eq(a.guest_max_xfer, 0x8000);
}

Test(rndis_oid, query_basic)
{
	cr_assert_eq(query(RNDIS_OID_802_3_PERMANENT_ADDRESS), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.info_len, 6);
	cr_assert_eq(memcmp(c.info, MAC, 6), 0);
	cr_assert_eq(query(RNDIS_OID_802_3_CURRENT_ADDRESS), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.info_len, 6);
	cr_assert_eq(memcmp(c.info, MAC, 6), 0);
	cr_assert_eq(c.info, out + 24, "value right after the completion's fields");
	cr_assert_eq(c.query_c.info_offset, 16, "offset counts from byte 8");

	cr_assert_eq(query_u32(RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE), 1500);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE), 1514);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_LINK_SPEED), 100000000);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_MEDIA_CONNECT_STATUS), RNDIS_MEDIA_STATE_CONNECTED);
	a.media_connected = false;
	cr_assert_eq(query_u32(RNDIS_OID_GEN_MEDIA_CONNECT_STATUS), RNDIS_MEDIA_STATE_DISCONNECTED);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_HARDWARE_STATUS), 0);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_MEDIA_SUPPORTED), RNDIS_MEDIUM_802_3);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_MEDIA_IN_USE), RNDIS_MEDIUM_802_3);
	cr_assert_eq(query_u32(RNDIS_OID_802_3_MAXIMUM_LIST_SIZE), RNDIS_OID_MCAST_MAX);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_CURRENT_PACKET_FILTER), 0);
	a.mtu = 9000;
	cr_assert_eq(query_u32(RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE), 9000);
}

Test(rndis_oid, query_supported_list)
{
	uint32_t want[] = { RNDIS_OID_GEN_LINK_SPEED, RNDIS_OID_802_3_CURRENT_ADDRESS,
		            RNDIS_OID_GEN_CURRENT_PACKET_FILTER,
		            RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES };

	cr_assert_eq(query(RNDIS_OID_GEN_SUPPORTED_LIST), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.info_len % 4, 0);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		bool found = false;

		for (uint32_t k = 0; k < c.info_len / 4; k++) {
			uint32_t v;

			memcpy(&v, c.info + 4 * k, 4);
			found |= v == want[i];
			cr_assert_neq(v, RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER);
		}
		cr_assert(found, "%s missing", rndis_oid_name(want[i]));
	}
}

Test(rndis_oid, query_statistics)
{
	uint64_t v;

	a.stats.xmit_ok = 0x100000001ull;
	a.stats.rcv_no_buffer = 3;
	cr_assert_eq(query(RNDIS_OID_GEN_XMIT_OK), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.info_len, 8);
	memcpy(&v, c.info, 8);
	cr_assert_eq(v, 0x100000001ull);
	cr_assert_eq(query(RNDIS_OID_GEN_RCV_NO_BUFFER), RNDIS_STATUS_SUCCESS);
	memcpy(&v, c.info, 8);
	cr_assert_eq(v, 3);
	cr_assert_eq(query(RNDIS_OID_GEN_RCV_OK), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(query(RNDIS_OID_GEN_XMIT_ERROR), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(query(RNDIS_OID_GEN_RCV_ERROR), RNDIS_STATUS_SUCCESS);
}

Test(rndis_oid, set_packet_filter)
{
	uint32_t f =
	    RNDIS_PACKET_TYPE_DIRECTED | RNDIS_PACKET_TYPE_MULTICAST | RNDIS_PACKET_TYPE_BROADCAST;
	uint64_t big = f;

	cr_assert_eq(set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &f, 4), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.packet_filter, f);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_CURRENT_PACKET_FILTER), f);

	/* Too small, too large, no buffer: refused, nothing changes. */
	cr_assert_eq(set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &f, 2), RNDIS_STATUS_INVALID_LENGTH);
	cr_assert_eq(set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &big, 8),
	             RNDIS_STATUS_INVALID_LENGTH);
	cr_assert_eq(set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, NULL, 0),
	             RNDIS_STATUS_INVALID_LENGTH);
	/* Source routing, functional...: not an Ethernet adapter's. */
	f = RNDIS_PACKET_TYPE_DIRECTED | 0x10;
	cr_assert_eq(set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &f, 4), RNDIS_STATUS_NOT_SUPPORTED);
	cr_assert_eq(a.packet_filter, (uint32_t)big);

	f = RNDIS_PACKET_TYPE_PROMISCUOUS;
	cr_assert_eq(set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &f, 4), RNDIS_STATUS_SUCCESS);
	f = 0;
	cr_assert_eq(set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &f, 4), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.packet_filter, 0);
}

Test(rndis_oid, set_multicast_list)
{
	uint8_t list[(RNDIS_OID_MCAST_MAX + 1) * 6];

	for (size_t i = 0; i < ARRAY_SIZE(list); i += 6) {
		const uint8_t g[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, (uint8_t)(i / 6) };

		memcpy(list + i, g, 6);
	}
	cr_assert_eq(set(RNDIS_OID_802_3_MULTICAST_LIST, list, 12), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.mcast_count, 2);
	cr_assert_eq(query(RNDIS_OID_802_3_MULTICAST_LIST), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.info_len, 12);
	cr_assert_eq(memcmp(c.info, list, 12), 0);

	/* The full list fits; one more does not. */
	cr_assert_eq(set(RNDIS_OID_802_3_MULTICAST_LIST, list, RNDIS_OID_MCAST_MAX * 6),
	             RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.mcast_count, RNDIS_OID_MCAST_MAX);
	cr_assert_eq(set(RNDIS_OID_802_3_MULTICAST_LIST, list, sizeof(list)),
	             RNDIS_STATUS_MULTICAST_FULL);
	cr_assert_eq(a.mcast_count, RNDIS_OID_MCAST_MAX);
	/* Not a whole number of addresses. */
	cr_assert_eq(set(RNDIS_OID_802_3_MULTICAST_LIST, list, 13), RNDIS_STATUS_INVALID_LENGTH);
	/* A unicast address in the list. */
	list[6] = 0x02;
	cr_assert_eq(set(RNDIS_OID_802_3_MULTICAST_LIST, list, 12), RNDIS_STATUS_INVALID_DATA);
	cr_assert_eq(a.mcast_count, RNDIS_OID_MCAST_MAX);
	/* Empty: clears. */
	cr_assert_eq(set(RNDIS_OID_802_3_MULTICAST_LIST, NULL, 0), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.mcast_count, 0);
	cr_assert_eq(query(RNDIS_OID_802_3_MULTICAST_LIST), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.info_len, 0);
}

/* OID_TCP_OFFLOAD_PARAMETERS as the Linux guest sends it. */
static struct rndis_oid_offload_params linux_params(uint16_t size)
{
	struct rndis_oid_offload_params p = { .hdr = { RNDIS_OID_OBJ_DEFAULT, 3, size } };

	p.ip4_csum = RNDIS_OID_OFFLOAD_OFF;
	p.tcp4_csum = p.tcp6_csum = RNDIS_OID_OFFLOAD_TXRX;
	p.udp4_csum = p.udp6_csum = RNDIS_OID_OFFLOAD_TXRX;
	p.lsov2_ip4 = p.lsov2_ip6 = RNDIS_OID_OFFLOAD_LSO_ON;
	p.rsc_ip4 = p.rsc_ip6 = RNDIS_OID_OFFLOAD_LSO_ON;
	return p;
}

Test(rndis_oid, set_offload_params)
{
	struct rndis_oid_offload_params p = linux_params(sizeof(p));

	cr_assert_eq(a.offload.tcp4_csum, RNDIS_OID_OFFLOAD_OFF, "everything off at first");
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.offload.tcp4_csum, RNDIS_OID_OFFLOAD_TXRX);
	cr_assert_eq(a.offload.udp6_csum, RNDIS_OID_OFFLOAD_TXRX);
	cr_assert_eq(a.offload.ip4_csum, RNDIS_OID_OFFLOAD_OFF);
	cr_assert_eq(a.offload.lsov2_ip6, RNDIS_OID_OFFLOAD_LSO_ON);
	cr_assert_eq(a.offload.rsc_ip4, RNDIS_OID_OFFLOAD_LSO_ON);
	cr_assert_eq(a.offload.lsov1, RNDIS_OID_OFFLOAD_OFF, "NOCHG kept it");

	/* NVSP 4 form: 22 bytes, header size 22; rsc is not sent (no change). */
	p = linux_params(RNDIS_OID_OFFLOAD_PARAMS_SIZE_2);
	p.tcp4_csum = RNDIS_OID_OFFLOAD_TX;
	p.rsc_ip4 = 0;
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, RNDIS_OID_OFFLOAD_PARAMS_SIZE_2),
	             RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.offload.tcp4_csum, RNDIS_OID_OFFLOAD_TX);
	cr_assert_eq(a.offload.rsc_ip4, RNDIS_OID_OFFLOAD_LSO_ON);

	/* Header size says 20 though 28 bytes came: fields past 20 unchanged. */
	p = linux_params(RNDIS_OID_OFFLOAD_PARAMS_SIZE_1);
	p.rsc_ip6 = RNDIS_OID_OFFLOAD_LSO_OFF;
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(a.offload.rsc_ip6, RNDIS_OID_OFFLOAD_LSO_ON);
}

Test(rndis_oid, set_offload_params_refused)
{
	struct rndis_oid_offload_params p, before = a.offload;
	uint8_t big[sizeof(p) + 1] = { 0 };

	p = linux_params(sizeof(p));
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, 19), RNDIS_STATUS_INVALID_LENGTH);
	memcpy(big, &p, sizeof(p));
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, big, sizeof(big)),
	             RNDIS_STATUS_INVALID_LENGTH);
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, NULL, 0), RNDIS_STATUS_INVALID_LENGTH);

	p = linux_params(sizeof(p));
	p.hdr.type = RNDIS_OID_OBJ_OFFLOAD;
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)),
	             RNDIS_STATUS_INVALID_DATA);
	p = linux_params(sizeof(p));
	p.hdr.rev = 4;
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)),
	             RNDIS_STATUS_INVALID_DATA);
	p = linux_params(sizeof(p) + 1); /* header claims more than was sent */
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)),
	             RNDIS_STATUS_INVALID_DATA);
	p = linux_params(12);
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)),
	             RNDIS_STATUS_INVALID_DATA);
	p = linux_params(sizeof(p));
	p.udp4_csum = 5;
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)),
	             RNDIS_STATUS_INVALID_DATA);
	p = linux_params(sizeof(p));
	p.lsov2_ip4 = 3;
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)),
	             RNDIS_STATUS_INVALID_DATA);
	p = linux_params(sizeof(p));
	p.encap_types = 0x80;
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, &p, sizeof(p)),
	             RNDIS_STATUS_INVALID_DATA);
	cr_assert_eq(memcmp(&a.offload, &before, sizeof(before)), 0, "state untouched");
}

Test(rndis_oid, query_offload_caps)
{
	struct rndis_oid_offload caps;
	struct rndis_oid_obj_hdr h = { RNDIS_OID_OBJ_OFFLOAD, 1, RNDIS_OID_OFFLOAD_SIZE_1 };

	cr_assert_eq(query(RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES), RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.info_len, RNDIS_OID_OFFLOAD_SIZE_3);
	memcpy(&caps, c.info, sizeof(caps));
	cr_assert_eq(caps.hdr.type, RNDIS_OID_OBJ_OFFLOAD);
	cr_assert_eq(caps.hdr.rev, 3);
	cr_assert_eq(caps.hdr.size, RNDIS_OID_OFFLOAD_SIZE_3);
	cr_assert(caps.csum.ip4_txcsum & RNDIS_OID_CSUM_CAP_TCP);
	cr_assert(caps.lsov2.ip4_encap & RNDIS_OID_ENCAP_802_3);
	cr_assert_gt(caps.lsov2.ip6_maxsz, 60000);

	/* A guest that names revision 1 gets the 112-byte form. */
	respond(rndis_encode_query(req, sizeof(req), 8, RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES,
	                           &h, sizeof(h)),
	        sizeof(out));
	cr_assert_eq(c.query_c.status, RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.info_len, RNDIS_OID_OFFLOAD_SIZE_1);
	memcpy(&h, c.info, sizeof(h));
	cr_assert_eq(h.rev, 1);
	cr_assert_eq(h.size, RNDIS_OID_OFFLOAD_SIZE_1);

	/* A wrong object type, a header cut short. */
	h = (struct rndis_oid_obj_hdr){ RNDIS_OID_OBJ_DEFAULT, 3, 156 };
	respond(rndis_encode_query(req, sizeof(req), 8, RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES,
	                           &h, sizeof(h)),
	        sizeof(out));
	cr_assert_eq(c.query_c.status, RNDIS_STATUS_INVALID_DATA);
	cr_assert_eq(c.info_len, 0);
	respond(rndis_encode_query(req, sizeof(req), 8, RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES,
	                           &h, 3),
	        sizeof(out));
	cr_assert_eq(c.query_c.status, RNDIS_STATUS_INVALID_LENGTH);
}

Test(rndis_oid, unsupported)
{
	const uint8_t evil[6] = { 0x00, 0x15, 0x5d, 0x66, 0x66, 0x66 };
	uint32_t v = 1;

	cr_assert_eq(query(0x12345678), RNDIS_STATUS_NOT_SUPPORTED);
	cr_assert_eq(c.info_len, 0);
	cr_assert_eq(query(RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER), RNDIS_STATUS_NOT_SUPPORTED);
	cr_assert_eq(query(RNDIS_OID_TCP_OFFLOAD_PARAMETERS), RNDIS_STATUS_NOT_SUPPORTED);
	cr_assert_eq(query(0x00010204), RNDIS_STATUS_NOT_SUPPORTED); /* RSS parameters */
	cr_assert_eq(set(0x12345678, &v, 4), RNDIS_STATUS_NOT_SUPPORTED);
	cr_assert_eq(set(RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER, &v, 4), RNDIS_STATUS_NOT_SUPPORTED);
	cr_assert_eq(set(RNDIS_OID_GEN_LINK_SPEED, &v, 4), RNDIS_STATUS_NOT_SUPPORTED);
	cr_assert_eq(set(RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, &v, 4),
	             RNDIS_STATUS_NOT_SUPPORTED);
	/* The guest may not choose its MAC address. */
	cr_assert_eq(set(RNDIS_OID_802_3_CURRENT_ADDRESS, evil, 6), RNDIS_STATUS_NOT_SUPPORTED);
	cr_assert_eq(memcmp(a.mac, MAC, 6), 0);
	cr_assert_str_eq(rndis_oid_name(RNDIS_OID_GEN_LINK_SPEED), "OID_GEN_LINK_SPEED");
	cr_assert_str_eq(rndis_oid_name(0x12345678), "UNKNOWN");
}

Test(rndis_oid, not_initialized)
{
	uint32_t f = RNDIS_PACKET_TYPE_DIRECTED;

	cr_assert_eq(respond(rndis_encode_halt(req, sizeof(req), 4), sizeof(out)), 0);
	cr_assert_not(a.initialized);
	cr_assert_eq(query(RNDIS_OID_GEN_LINK_SPEED), RNDIS_STATUS_ADAPTER_NOT_READY);
	cr_assert_eq(set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &f, 4),
	             RNDIS_STATUS_ADAPTER_NOT_READY);
	cr_assert_eq(a.packet_filter, 0);
	/* Keepalive and reset are answered anyway. */
	cr_assert_eq(respond(rndis_encode_keepalive(req, sizeof(req), 42), sizeof(out)), 16);
	cr_assert_eq(c.hdr.type, RNDIS_MSG_KEEPALIVE_C);
	cr_assert_eq(c.keepalive_c.req_id, 42);
	cr_assert_eq(c.keepalive_c.status, RNDIS_STATUS_SUCCESS);
	cr_assert_eq(respond(rndis_encode_reset(req, sizeof(req)), sizeof(out)), 16);
	cr_assert_eq(c.hdr.type, RNDIS_MSG_RESET_C);
	cr_assert_eq(c.reset_c.status, RNDIS_STATUS_SUCCESS);
	cr_assert_eq(c.reset_c.addressing_reset, 0);
}

Test(rndis_oid, not_requests)
{
	struct rndis_pkt_info pi = { 0 };
	int hdr = rndis_encode_packet(req, sizeof(req), &pi, 14);

	memset(req + hdr, 0, 14);
	cr_assert_eq(respond(hdr + 14, sizeof(out)), -EINVAL);
	cr_assert_eq(respond(rndis_encode_set_c(req, sizeof(req), 1, 0), sizeof(out)), -EINVAL);
	cr_assert_eq(
	    respond(rndis_encode_indicate(req, sizeof(req), RNDIS_STATUS_MEDIA_CONNECT, NULL, 0),
	            sizeof(out)),
	    -EINVAL);
}

Test(rndis_oid, output_limits)
{
	static uint8_t big[RNDIS_OID_QUERY_IN_MAX + 1];
	uint8_t list[RNDIS_OID_MCAST_MAX * 6];
	uint32_t f = RNDIS_PACKET_TYPE_DIRECTED;

	memset(list, 0x01, sizeof(list));
	cr_assert_eq(set(RNDIS_OID_802_3_MULTICAST_LIST, list, sizeof(list)), RNDIS_STATUS_SUCCESS);
	/* The 192-byte answer does not fit 100 bytes of output. */
	cr_assert_eq(respond(rndis_encode_query(req, sizeof(req), 9, RNDIS_OID_802_3_MULTICAST_LIST,
	                                        NULL, 0),
	                     100),
	             24);
	cr_assert_eq(c.query_c.status, RNDIS_STATUS_BUFFER_TOO_SHORT);
	cr_assert_eq(c.info_len, 0);
	/* Nor the guest's own limit. */
	a.guest_max_xfer = 64;
	cr_assert_eq(query(RNDIS_OID_802_3_MULTICAST_LIST), RNDIS_STATUS_BUFFER_TOO_SHORT);
	cr_assert_eq(query_u32(RNDIS_OID_GEN_LINK_SPEED), 100000000);
	/* No room for a completion at all: nothing written, nothing changed. */
	cr_assert_eq(
	    respond(rndis_encode_query(req, sizeof(req), 9, RNDIS_OID_GEN_LINK_SPEED, NULL, 0), 23),
	    -ENOBUFS);
	cr_assert_eq(respond(rndis_encode_set(req, sizeof(req), 9,
	                                      RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &f, 4),
	                     15),
	             -ENOBUFS);
	cr_assert_eq(a.packet_filter, 0);
	cr_assert_eq(respond(rndis_encode_init(req, sizeof(req), 1, 1, 0, 0), 51), -ENOBUFS);
	cr_assert_eq(a.guest_max_xfer, 64);
	/* A query carrying more input than any OID takes. */
	a.guest_max_xfer = 0;
	cr_assert_eq(respond(rndis_encode_query(req, sizeof(req), 9, RNDIS_OID_GEN_LINK_SPEED, big,
	                                        sizeof(big)),
	                     sizeof(out)),
	             24);
	cr_assert_eq(c.query_c.status, RNDIS_STATUS_INVALID_LENGTH);
}

/* Hostile requests: every settable OID with every info length 0..40, the
 * info buffer ending exactly where an exact-size heap copy ends, so ASan
 * sees any read past it. The responder must answer with a status. */
Test(rndis_oid, hostile_lengths_in_bounds)
{
	const uint32_t oids[] = {
		RNDIS_OID_GEN_CURRENT_PACKET_FILTER, RNDIS_OID_802_3_MULTICAST_LIST,
		RNDIS_OID_TCP_OFFLOAD_PARAMETERS,    RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES,
		RNDIS_OID_802_3_CURRENT_ADDRESS,     RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER
	};
	uint8_t junk[40];

	memset(junk, 0x01, sizeof(junk));
	for (size_t i = 0; i < ARRAY_SIZE(oids); i++) {
		for (uint32_t n = 0; n <= sizeof(junk); n++) {
			for (int q = 0; q < 2; q++) {
				int len =
				    q ? rndis_encode_query(req, sizeof(req), 1, oids[i], junk, n)
				      : rndis_encode_set(req, sizeof(req), 1, oids[i], junk, n);
				uint8_t *copy = malloc((size_t)len);
				struct rndis_msg r;
				int rc;

				memcpy(copy, req, (size_t)len);
				cr_assert_eq(rndis_decode(copy, (size_t)len, &r, err, sizeof(err)),
				             0);
				rc = rndis_oid_respond(&a, &r, out, sizeof(out));
				cr_assert_gt(rc, 0);
				cr_assert_eq(rndis_decode(out, (size_t)rc, &c, err, sizeof(err)),
				             0);
				free(copy);
			}
		}
	}
}

/* A message claiming more info than it carries never reaches the responder. */
Test(rndis_oid, hostile_info_len)
{
	uint32_t f = 1, len;
	struct rndis_msg r;

	len = (uint32_t)rndis_encode_set(req, sizeof(req), 1, RNDIS_OID_GEN_CURRENT_PACKET_FILTER,
	                                 &f, 4);
	len -= 2;
	memcpy(req + 4, &len, 4); /* msg_len cut: the value runs past it */
	cr_assert_eq(rndis_decode(req, len, &r, err, sizeof(err)), -EBADMSG);
}
