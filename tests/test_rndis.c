/* RNDIS unit tests: every message round-trips, where offsets count from,
 * multi-message transfers, and one malformed input per field class. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rndis.h"
#include "util/util.h"

static uint8_t buf[4096];
static struct rndis_msg m;
static char err[160];

/* The data path's decoder gives the general one's verdict on @len bytes:
 * the same packet, the same error, or -ENOMSG for another type. */
static void packet_decoder_agrees(size_t len, int rc)
{
	struct rndis_pkt_view v;
	char e[160] = "";
	int r = rndis_decode_packet(buf, len, &v, e, sizeof(e));

	if (rc < 0) {
		cr_assert_eq(r, rc, "rndis_decode_packet: %d (%s), rndis_decode %d", r, e, rc);
		cr_assert(e[0] != '\0', "no reason given");
	} else if (m.hdr.type != RNDIS_MSG_PACKET) {
		cr_assert_eq(r, -ENOMSG, "%s: rndis_decode_packet gave %d", e, r);
		cr_assert(strstr(e, "not a PACKET"), "reason: %s", e);
	} else {
		cr_assert_eq(r, 0, "%s", e);
		cr_assert(v.data == m.data && v.data_len == m.data_len && v.nppi == m.nppi);
		cr_assert_eq(memcmp(&v.pi, &m.pi, sizeof(v.pi)), 0);
	}
}

static void decode_ok(int rc, uint32_t type)
{
	cr_assert_gt(rc, 0, "encoder returned %d", rc);
	cr_assert_eq(rndis_decode(buf, (size_t)rc, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(m.hdr.type, type);
	cr_assert_eq(m.hdr.len, (uint32_t)rc);
	packet_decoder_agrees((size_t)rc, 0);
}

static void decode_fails(size_t len, int rc)
{
	err[0] = '\0';
	cr_assert_eq(rndis_decode(buf, len, &m, err, sizeof(err)), rc, "reason: %s", err);
	cr_assert(err[0] != '\0', "no reason given");
	packet_decoder_agrees(len, rc);
}

static void put32(size_t off, uint32_t v)
{
	memcpy(buf + off, &v, 4);
}

static uint32_t get32(size_t off)
{
	uint32_t v;

	memcpy(&v, buf + off, 4);
	return v;
}

Test(rndis, roundtrip_init, .timeout = 10)
{
	struct rndis_init_comp c = {
		.req_id = 7,
		.status = RNDIS_STATUS_SUCCESS,
		.major = 1,
		.dev_flags = RNDIS_DF_CONNECTIONLESS,
		.medium = RNDIS_MEDIUM_802_3,
		.max_pkts_per_msg = 8,
		.max_xfer_size = 0x10000,
		.pkt_align_factor = RNDIS_ALIGN_FACTOR,
	};

	decode_ok(rndis_encode_init(buf, sizeof(buf), 7, 1, 0, 0x4000), RNDIS_MSG_INIT);
	cr_assert_eq(m.init.req_id, 7);
	cr_assert_eq(m.init.major, 1);
	cr_assert_eq(m.init.minor, 0);
	cr_assert_eq(m.init.max_xfer_size, 0x4000);

	decode_ok(rndis_encode_init_c(buf, sizeof(buf), &c), RNDIS_MSG_INIT_C);
	cr_assert_eq(m.hdr.len, 52);
	c.type = RNDIS_MSG_INIT_C;
	c.len = 52;
	cr_assert_eq(memcmp(&m.init_c, &c, sizeof(c)), 0);
}

Test(rndis, roundtrip_control, .timeout = 10)
{
	decode_ok(rndis_encode_halt(buf, sizeof(buf), 9), RNDIS_MSG_HALT);
	cr_assert_eq(m.halt.req_id, 9);
	decode_ok(rndis_encode_reset(buf, sizeof(buf)), RNDIS_MSG_RESET);
	decode_ok(rndis_encode_reset_c(buf, sizeof(buf), RNDIS_STATUS_SUCCESS, 1),
	          RNDIS_MSG_RESET_C);
	cr_assert_eq(m.reset_c.status, RNDIS_STATUS_SUCCESS);
	cr_assert_eq(m.reset_c.addressing_reset, 1);
	decode_ok(rndis_encode_keepalive(buf, sizeof(buf), 11), RNDIS_MSG_KEEPALIVE);
	cr_assert_eq(m.keepalive.req_id, 11);
	decode_ok(rndis_encode_keepalive_c(buf, sizeof(buf), 11, RNDIS_STATUS_SUCCESS),
	          RNDIS_MSG_KEEPALIVE_C);
	cr_assert_eq(m.keepalive_c.req_id, 11);
	decode_ok(rndis_encode_set_c(buf, sizeof(buf), 12, RNDIS_STATUS_INVALID_DATA),
	          RNDIS_MSG_SET_C);
	cr_assert_eq(m.set_c.req_id, 12);
	cr_assert_eq(m.set_c.status, RNDIS_STATUS_INVALID_DATA);
}

Test(rndis, roundtrip_query_set, .timeout = 10)
{
	const uint8_t in[4] = { 0x80, 3, 28, 0 }, out[6] = { 0, 0x15, 0x5d, 1, 2, 3 };
	uint32_t filter = 0x9;

	decode_ok(rndis_encode_query(buf, sizeof(buf), 21, 0x01010102, NULL, 0), RNDIS_MSG_QUERY);
	cr_assert_eq(m.query.oid, 0x01010102);
	cr_assert_null(m.info);
	cr_assert_eq(m.info_len, 0);

	decode_ok(rndis_encode_query(buf, sizeof(buf), 22, 0xfc01020d, in, sizeof(in)),
	          RNDIS_MSG_QUERY);
	cr_assert_eq(m.query.req_id, 22);
	cr_assert_eq(m.info_len, 4);
	cr_assert_eq(memcmp(m.info, in, 4), 0);

	decode_ok(rndis_encode_query_c(buf, sizeof(buf), 22, RNDIS_STATUS_SUCCESS, out, 6),
	          RNDIS_MSG_QUERY_C);
	cr_assert_eq(m.query_c.status, RNDIS_STATUS_SUCCESS);
	cr_assert_eq(m.info_len, 6);
	cr_assert_eq(memcmp(m.info, out, 6), 0);

	decode_ok(rndis_encode_set(buf, sizeof(buf), 23, 0x0001010e, &filter, 4), RNDIS_MSG_SET);
	cr_assert_eq(m.set.oid, 0x0001010e);
	cr_assert_eq(m.info_len, 4);
	cr_assert_eq(memcmp(m.info, &filter, 4), 0);
	cr_assert_eq(m.info, buf + 28, "SET info right after the 28-byte request");
}

Test(rndis, roundtrip_indicate, .timeout = 10)
{
	uint32_t change = 2;

	decode_ok(rndis_encode_indicate(buf, sizeof(buf), RNDIS_STATUS_MEDIA_CONNECT, NULL, 0),
	          RNDIS_MSG_INDICATE);
	cr_assert_eq(m.indicate.status, RNDIS_STATUS_MEDIA_CONNECT);
	cr_assert_null(m.info);
	decode_ok(rndis_encode_indicate(buf, sizeof(buf), RNDIS_STATUS_NETWORK_CHANGE, &change, 4),
	          RNDIS_MSG_INDICATE);
	cr_assert_eq(m.indicate.status, 0x40010018);
	cr_assert_eq(m.info_len, 4);
	cr_assert_eq(m.info, buf + 20);
}

Test(rndis, roundtrip_packet, .timeout = 10)
{
	struct rndis_pkt_info pi = {
		.present = RNDIS_PI_ALL,
		.csum = rndis_csum_tx_info(RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_TCP, 34),
		.lso = rndis_lso2_info(34, 1460, 0),
		.vlan = rndis_vlan_info(100, 5),
		.hash_value = 0x12345678,
		.hash_info = RNDIS_HASH_FUNC_TOEPLITZ | RNDIS_HASH_TCP_IPV4,
	};
	uint8_t frame[60];
	int hdr;

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	hdr = rndis_encode_packet(buf, sizeof(buf), &pi, sizeof(frame));
	cr_assert_eq(hdr, 44 + 5 * 16);
	cr_assert_eq((uint32_t)hdr, rndis_packet_hdr_len(&pi));
	memcpy(buf + hdr, frame, sizeof(frame));
	decode_ok(hdr + (int)sizeof(frame), RNDIS_MSG_PACKET);
	cr_assert_eq(m.data, buf + hdr);
	cr_assert_eq(m.data_len, sizeof(frame));
	cr_assert_eq(memcmp(m.data, frame, sizeof(frame)), 0);
	cr_assert_eq(m.nppi, 5);
	cr_assert_eq(memcmp(&m.pi, &pi, sizeof(pi)), 0);

	/* Offsets count from byte 8: the data sits at 8 + data_offset. */
	cr_assert_eq(get32(8), (uint32_t)hdr - 8);
	cr_assert_eq(get32(28), 36, "PPIs right after the header");
	cr_assert_eq(get32(44 + 8), 12, "PPI offset counts from the entry");

	/* The helpers' bit layouts. */
	cr_assert_eq(rndis_vlan_id(m.pi.vlan), 100);
	cr_assert_eq(rndis_vlan_pri(m.pi.vlan), 5);
	cr_assert_eq(m.pi.vlan, (100u << 4) | 5);
	cr_assert_eq(rndis_lso_mss(m.pi.lso), 1460);
	cr_assert_eq(rndis_lso_thoff(m.pi.lso), 34);
	cr_assert(m.pi.lso & RNDIS_LSO_V2);
	cr_assert_not(m.pi.lso & RNDIS_LSO_IPV6);
	cr_assert(rndis_lso2_info(54, 1440, 1) & RNDIS_LSO_IPV6);
	cr_assert_eq(rndis_csum_tx_thoff(m.pi.csum), 34);
	cr_assert_eq(m.pi.csum & 0xffff, RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_TCP);

	/* No PPI at all: the inline encoder writes what the general one does. */
	uint8_t full[44];

	cr_assert_eq(rndis_encode_packet_full(full, sizeof(full), NULL, 14), 44);
	hdr = rndis_encode_packet(buf, sizeof(buf), NULL, 14);
	cr_assert_eq(hdr, 44);
	cr_assert_eq(memcmp(buf, full, sizeof(full)), 0);
	pi.present = 0;
	cr_assert_eq(rndis_encode_packet(buf, sizeof(buf), &pi, 14), 44);
	cr_assert_eq(memcmp(buf, full, sizeof(full)), 0);
	cr_assert_eq(rndis_encode_packet(buf, 43, NULL, 14), -ENOBUFS);
	cr_assert_eq(rndis_encode_packet(buf, sizeof(buf), NULL, 0), -EINVAL);
	cr_assert_eq(rndis_encode_packet(buf, sizeof(buf), NULL, UINT32_MAX - 43), -EMSGSIZE);
	memset(buf + hdr, 0xee, 14);
	decode_ok(hdr + 14, RNDIS_MSG_PACKET);
	cr_assert_eq(m.pi.present, 0);
	cr_assert_eq(m.nppi, 0);
	cr_assert_eq(m.data, buf + 44);

	/* Only VLAN. */
	pi.present = RNDIS_PI_VLAN;
	hdr = rndis_encode_packet(buf, sizeof(buf), &pi, 14);
	cr_assert_eq(hdr, 60);
	decode_ok(hdr + 14, RNDIS_MSG_PACKET);
	cr_assert_eq(m.pi.present, RNDIS_PI_VLAN);
	cr_assert_eq(m.pi.vlan, pi.vlan);
}

Test(rndis, encoder_errors, .timeout = 10)
{
	struct rndis_pkt_info pi = { .present = RNDIS_PI(1) };

	cr_assert_eq(rndis_encode_init(buf, 23, 1, 1, 0, 0), -ENOBUFS);
	cr_assert_eq(rndis_encode_query(buf, 28 + 3, 1, 1, "abcd", 4), -ENOBUFS);
	cr_assert_eq(rndis_encode_set(buf, sizeof(buf), 1, 1, NULL, 4), -EINVAL);
	cr_assert_eq(rndis_encode_set(buf, sizeof(buf), 1, 1, buf, 0x80000000u), -EMSGSIZE);
	cr_assert_eq(rndis_encode_packet(buf, sizeof(buf), NULL, 0), -EINVAL);
	cr_assert_eq(rndis_encode_packet(buf, sizeof(buf), &pi, 14), -EINVAL);
	cr_assert_eq(rndis_encode_packet(buf, 43, NULL, 14), -ENOBUFS);
	cr_assert_eq(rndis_encode_packet(buf, sizeof(buf), NULL, 0xffffffff), -EMSGSIZE);
}

/* A transfer: packets and a control message, each padded but the last. */
Test(rndis, transfer_iteration, .timeout = 10)
{
	struct rndis_pkt_info pi = { .present = RNDIS_PI_CSUM, .csum = 0x13 };
	const uint32_t lens[] = { 60, 61, 1514, 7 };
	size_t pos = 0, end = 0;
	const uint8_t *msg;
	uint32_t len;
	int rc, n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		if (i) { /* another message follows the previous one */
			rc = rndis_pad(buf + pos, sizeof(buf) - pos);
			cr_assert_gt(rc, 0);
			cr_assert_eq(rc % 8, 0);
			pos += (size_t)rc;
		}
		rc = rndis_encode_packet(buf + pos, sizeof(buf) - pos, &pi, lens[i]);
		cr_assert_gt(rc, 0);
		memset(buf + pos + rc, (int)i + 1, lens[i]);
		end = pos + (size_t)rc + lens[i];
	}
	rc = rndis_pad(buf + pos, sizeof(buf) - pos);
	pos += (size_t)rc;
	rc = rndis_encode_keepalive(buf + pos, sizeof(buf) - pos, 99);
	end = pos + (size_t)rc; /* the last message: 12 bytes, unpadded */
	cr_assert_eq(end % 8, 4);

	pos = 0;
	while ((rc = rndis_next(buf, end, &pos, &msg, &len, err, sizeof(err))) == 1) {
		cr_assert_eq((size_t)(msg - buf) % 8, 0, "messages start 8-byte aligned");
		cr_assert_eq(rndis_decode(msg, len, &m, err, sizeof(err)), 0, "%s", err);
		if (n < 4) {
			cr_assert_eq(m.hdr.type, RNDIS_MSG_PACKET);
			cr_assert_eq(m.data_len, lens[n]);
			cr_assert_eq(m.data[0], n + 1);
			cr_assert_eq(m.data[lens[n] - 1], n + 1);
			cr_assert_eq(m.pi.csum, 0x13);
		} else {
			cr_assert_eq(m.hdr.type, RNDIS_MSG_KEEPALIVE);
			cr_assert_eq(m.keepalive.req_id, 99);
		}
		n++;
	}
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(n, 5);
	cr_assert_eq(pos, end);
	cr_assert_eq(rndis_next(buf, end, &pos, &msg, &len, err, sizeof(err)), 0);
}

Test(rndis, transfer_bad_msg_len, .timeout = 10)
{
	size_t pos;
	const uint8_t *msg;
	uint32_t len;

	/* Two 12-byte keepalives back to back: the first is not padded. */
	rndis_encode_keepalive(buf, sizeof(buf), 1);
	rndis_encode_keepalive(buf + 12, sizeof(buf) - 12, 2);
	pos = 0;
	cr_assert_eq(rndis_next(buf, 24, &pos, &msg, &len, err, sizeof(err)), -EBADMSG);
	cr_assert_eq(pos, 0);
	cr_assert(err[0]);
	/* msg_len below the header */
	put32(4, 4);
	pos = 0;
	cr_assert_eq(rndis_next(buf, 24, &pos, &msg, &len, err, sizeof(err)), -EBADMSG);
	put32(4, 0);
	cr_assert_eq(rndis_next(buf, 24, &pos, &msg, &len, err, sizeof(err)), -EBADMSG);
	/* msg_len beyond the transfer, and overflowing */
	put32(4, 25);
	cr_assert_eq(rndis_next(buf, 24, &pos, &msg, &len, err, sizeof(err)), -EBADMSG);
	put32(4, 0xfffffff8);
	cr_assert_eq(rndis_next(buf, 24, &pos, &msg, &len, err, sizeof(err)), -EBADMSG);
	/* trailing bytes that can't be a header */
	put32(4, 16);
	cr_assert_eq(rndis_next(buf, 20, &pos, &msg, &len, err, sizeof(err)), 1);
	cr_assert_eq(rndis_next(buf, 20, &pos, &msg, &len, err, sizeof(err)), -EBADMSG);
	cr_assert_eq(pos, 16);
	/* a position past the end */
	pos = 21;
	cr_assert_eq(rndis_next(buf, 20, &pos, &msg, &len, err, sizeof(err)), -EINVAL);
}

Test(rndis, pad, .timeout = 10)
{
	memset(buf, 0xaa, 32);
	rndis_encode_keepalive(buf, sizeof(buf), 1);
	cr_assert_eq(rndis_pad(buf, 15), -ENOBUFS);
	cr_assert_eq(rndis_pad(buf, 16), 16);
	cr_assert_eq(get32(4), 16);
	cr_assert_eq(get32(12), 0, "pad bytes zeroed");
	cr_assert_eq(rndis_pad(buf, 16), 16, "already aligned");
	cr_assert_eq(rndis_pad(buf, 7), -EBADMSG);
	put32(4, 3);
	cr_assert_eq(rndis_pad(buf, 16), -EBADMSG);
}

Test(rndis, bad_header, .timeout = 10)
{
	rndis_encode_keepalive(buf, sizeof(buf), 1);
	decode_fails(7, -EBADMSG);  /* no header */
	decode_fails(11, -EBADMSG); /* msg_len beyond what was given */
	put32(4, 4);                /* msg_len below the header */
	decode_fails(12, -EBADMSG);
	put32(4, 0xffffffff);
	decode_fails(12, -EBADMSG);
	put32(4, 8); /* shorter than a KEEPALIVE */
	decode_fails(12, -EBADMSG);
	put32(4, 12);
	put32(0, 0x80000007); /* a completion of INDICATE: no such message */
	decode_fails(12, -ENOTSUP);
	put32(0, 0x42);
	decode_fails(12, -ENOTSUP);
}

Test(rndis, truncated_each_type, .timeout = 10)
{
	const struct {
		uint32_t type, min;
	} t[] = {
		{ RNDIS_MSG_PACKET, 44 },      { RNDIS_MSG_INIT, 24 },
		{ RNDIS_MSG_INIT_C, 48 },      { RNDIS_MSG_HALT, 12 },
		{ RNDIS_MSG_QUERY, 28 },       { RNDIS_MSG_QUERY_C, 24 },
		{ RNDIS_MSG_SET, 28 },         { RNDIS_MSG_SET_C, 16 },
		{ RNDIS_MSG_RESET, 12 },       { RNDIS_MSG_RESET_C, 16 },
		{ RNDIS_MSG_INDICATE, 20 },    { RNDIS_MSG_KEEPALIVE, 12 },
		{ RNDIS_MSG_KEEPALIVE_C, 16 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		memset(buf, 0, 64);
		put32(0, t[i].type);
		put32(4, t[i].min - 1);
		decode_fails(64, -EBADMSG);
		cr_assert_str_neq(rndis_type_name(t[i].type), "UNKNOWN");
	}
}

Test(rndis, init_c_short_form, .timeout = 10)
{
	struct rndis_init_comp c = { .req_id = 3, .max_pkts_per_msg = 8 };

	/* A 48-byte completion (no af_list_size) followed by other bytes: those
	 * bytes must not show up as af_list_size. */
	memset(buf, 0x5a, 64);
	rndis_encode_init_c(buf, sizeof(buf), &c);
	put32(4, 48);
	cr_assert_eq(rndis_decode(buf, 64, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(m.init_c.af_list_size, 0);
	cr_assert_eq(m.init_c.max_pkts_per_msg, 8);
}

Test(rndis, bad_info_offset, .timeout = 10)
{
	const uint8_t v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	rndis_encode_set(buf, sizeof(buf), 1, 0x0001010e, v, 8);
	cr_assert_eq(rndis_decode(buf, 36, &m, err, sizeof(err)), 0);
	put32(20, 0); /* would point at byte 8: inside the request's own fields */
	decode_fails(36, -EBADMSG);
	put32(20, 19); /* one byte into the header */
	decode_fails(36, -EBADMSG);
	put32(20, 21); /* runs one byte past the message */
	decode_fails(36, -EBADMSG);
	put32(20, 0xfffffffc); /* offset + 8 + length overflows 32 bits */
	decode_fails(36, -EBADMSG);
	put32(20, 20);
	put32(16, 9); /* length one past the end */
	decode_fails(36, -EBADMSG);
	put32(16, 0xffffffff);
	decode_fails(36, -EBADMSG);
	put32(16, 0); /* no buffer: the offset is not looked at */
	put32(20, 0xdeadbeef);
	cr_assert_eq(rndis_decode(buf, 36, &m, err, sizeof(err)), 0);
	cr_assert_null(m.info);

	/* The same rule for QUERY_C and INDICATE_STATUS. */
	rndis_encode_query_c(buf, sizeof(buf), 1, 0, v, 8);
	put32(20, 15); /* into the completion's fields */
	decode_fails(32, -EBADMSG);
	rndis_encode_indicate(buf, sizeof(buf), RNDIS_STATUS_NETWORK_CHANGE, v, 8);
	put32(16, 13);
	decode_fails(28, -EBADMSG);
	put32(16, 11);
	decode_fails(28, -EBADMSG);
}

/* A packet with one VLAN PPI and 14 bytes of data: 44 + 16 + 14 = 74. */
static void vlan_packet(void)
{
	struct rndis_pkt_info pi = { .present = RNDIS_PI_VLAN, .vlan = rndis_vlan_info(7, 0) };
	int hdr = rndis_encode_packet(buf, sizeof(buf), &pi, 14);

	cr_assert_eq(hdr, 60);
	memset(buf + hdr, 0x11, 14);
	cr_assert_eq(rndis_decode(buf, 74, &m, err, sizeof(err)), 0, "%s", err);
}

Test(rndis, bad_packet_data, .timeout = 10)
{
	vlan_packet();
	put32(12, 0); /* data length 0 */
	decode_fails(74, -EPROTO);
	vlan_packet();
	put32(12, 15); /* one past the end */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(12, 0xfffffff0); /* huge */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(8, 35); /* data offset into the header */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(8, 0xfffffffc); /* offset overflowing */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(8, 50); /* data overlapping the PPIs is allowed, ending inside */
	cr_assert_eq(rndis_decode(buf, 74, &m, err, sizeof(err)), 0);
	vlan_packet();
	put32(4, 73); /* msg_len cut: data now runs past it */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(16, 36); /* OOB data outside */
	put32(20, 100);
	decode_fails(74, -EBADMSG);
}

Test(rndis, bad_ppi, .timeout = 10)
{
	vlan_packet();
	put32(32, 17); /* PPI area running past the message */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(32, 0xfffffff0);
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(28, 0xfffffffc); /* PPI offset overflowing */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(28, 35); /* PPI offset into the header */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(28, 38); /* unaligned */
	put32(32, 12);
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(32, 12); /* area shorter than the entry's size */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(32, 8); /* area shorter than an entry header */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(44, 8); /* entry size below its header */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(44, 0); /* size 0: would loop forever */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(44, 14); /* size not a multiple of 4 */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(44, 20); /* entry running past the area */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(52, 8); /* data offset inside the entry's header */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(52, 17); /* data offset past the entry */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(52, 16); /* a known type with no data */
	decode_fails(74, -EBADMSG);
	vlan_packet();
	put32(52, 13); /* a known type with 3 bytes */
	decode_fails(74, -EBADMSG);
	/* The same type twice. */
	{
		struct rndis_ppi e = { 16, RNDIS_PPI_VLAN, 12 };
		uint32_t v = 5;

		rndis_encode_packet(buf, sizeof(buf), NULL, 14);
		for (int i = 0; i < 2; i++) {
			memcpy(buf + 44 + 16 * i, &e, 12);
			memcpy(buf + 56 + 16 * i, &v, 4);
		}
		put32(32, 32);     /* ppi_len */
		put32(8, 76 - 8);  /* data after both */
		put32(4, 76 + 14); /* msg_len */
		decode_fails(90, -EPROTO);
	}
}

Test(rndis, unknown_ppis_skipped, .timeout = 10)
{
	struct rndis_ppi e[3] = { { 12, 11, 12 },                     /* no data, unknown */
		                  { 16, 1 | RNDIS_PPI_INTERNAL, 12 }, /* internal type 1 */
		                  { 24, RNDIS_PPI_HASH_VALUE, 20 } }; /* data after a gap */
	uint32_t id = 0x01020304, hash = 0xcafef00d;

	memset(buf, 0, 256);
	rndis_encode_packet(buf, sizeof(buf), NULL, 20);
	memcpy(buf + 44, &e[0], 12);
	memcpy(buf + 56, &e[1], 12);
	memcpy(buf + 68, &id, 4);
	memcpy(buf + 72, &e[2], 12);
	memcpy(buf + 92, &hash, 4);
	put32(32, 52);    /* ppi_len */
	put32(8, 96 - 8); /* data after the PPIs */
	put32(4, 96 + 20);
	cr_assert_eq(rndis_decode(buf, 116, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(m.nppi, 3);
	cr_assert_eq(m.pi.present, RNDIS_PI_HASH_VALUE);
	cr_assert_eq(m.pi.hash_value, hash);
	cr_assert_eq(m.data, buf + 96);
}

/* The decoder never reads past the bytes it was given: every prefix of a
 * valid packet, from an exact-size heap copy (ASan checks the bounds). */
Test(rndis, every_prefix_in_bounds, .timeout = 10)
{
	struct rndis_pkt_info pi = { .present = RNDIS_PI_ALL };
	int hdr = rndis_encode_packet(buf, sizeof(buf), &pi, 64);
	size_t total = (size_t)hdr + 64;

	for (size_t len = 0; len <= total; len++) {
		uint8_t *copy = malloc(len ? len : 1);

		memcpy(copy, buf, len);
		if (len >= 8) { /* claim the prefix is the whole message */
			uint32_t l = (uint32_t)len;

			memcpy(copy + 4, &l, 4);
		}
		int rc = rndis_decode(copy, len, &m, err, sizeof(err));
		cr_assert(len == total ? rc == 0 : rc < 0, "len %zu: rc %d", len, rc);
		free(copy);
	}
}

Test(rndis, names, .timeout = 10)
{
	cr_assert_str_eq(rndis_type_name(RNDIS_MSG_PACKET), "PACKET");
	cr_assert_str_eq(rndis_type_name(RNDIS_MSG_QUERY_C), "QUERY_C");
	cr_assert_str_eq(rndis_type_name(RNDIS_MSG_INDICATE), "INDICATE_STATUS");
	cr_assert_str_eq(rndis_type_name(0x80000001), "UNKNOWN");
}
