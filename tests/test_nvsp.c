/* NVSP unit tests: every message round-trips, the version negotiation matrix,
 * and one malformed input per field class, each refused with a reason. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nvsp.h"
#include "util/util.h"

static uint8_t buf[NVSP_MSG_MAX + 8]; /* room to claim one byte too many */
static struct nvsp_msg m;
static char err[128];

/* Decode what the encoder returned (@rc bytes) and expect success. */
static void decode_ok(int rc, uint32_t type, uint32_t len)
{
	cr_assert_eq(rc, (int)len, "encoder returned %d, expected %u", rc, len);
	cr_assert_eq(nvsp_decode(buf, (size_t)rc, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(m.hdr.type, type);
	cr_assert_eq(m.len, len);
	cr_assert_str_eq(err, "");
}

/* Expect @rc from decoding @len bytes of buf, with a reason. */
static void decode_fails(size_t len, int rc)
{
	err[0] = 'x';
	cr_assert_eq(nvsp_decode(buf, len, &m, err, sizeof(err)), rc, "reason: %s", err);
	cr_assert(err[0] != '\0' && strcmp(err, "x") != 0, "no reason given");
}

static void put32(size_t off, uint32_t v)
{
	memcpy(buf + off, &v, 4);
}

Test(nvsp, roundtrip_init, .timeout = 10)
{
	decode_ok(nvsp_encode_init(buf, sizeof(buf), NVSP_VERSION_2, NVSP_VERSION_61),
	          NVSP_TYPE_INIT, NVSP_MSG_SIZE);
	cr_assert_eq(m.init.ver_min, NVSP_VERSION_2);
	cr_assert_eq(m.init.ver_max, NVSP_VERSION_61);
	for (unsigned i = sizeof(struct nvsp_init); i < NVSP_MSG_SIZE; i++)
		cr_assert_eq(buf[i], 0, "padding byte %u not zero", i);

	decode_ok(
	    nvsp_encode_init_complete(buf, sizeof(buf), NVSP_VERSION_5, 34, NVSP_STATUS_SUCCESS),
	    NVSP_TYPE_INIT_COMPLETE, NVSP_MSG_SIZE);
	cr_assert_eq(m.init_complete.ver, NVSP_VERSION_5);
	cr_assert_eq(m.init_complete.max_mdl_chain_len, 34);
	cr_assert_eq(m.init_complete.status, NVSP_STATUS_SUCCESS);
}

Test(nvsp, roundtrip_ndis, .timeout = 10)
{
	uint64_t caps = NVSP_CAP_SRIOV | NVSP_CAP_IEEE8021Q | NVSP_CAP_TEAMING | NVSP_CAP_RSC;

	decode_ok(nvsp_encode_ndis_ver(buf, sizeof(buf), 6, 30), NVSP_TYPE_SEND_NDIS_VER,
	          NVSP_MSG_SIZE);
	cr_assert_eq(m.ndis_ver.major, 6);
	cr_assert_eq(m.ndis_ver.minor, 30);

	decode_ok(nvsp_encode_ndis_config(buf, sizeof(buf), 1500, caps), NVSP_TYPE_SEND_NDIS_CONFIG,
	          NVSP_MSG_SIZE);
	cr_assert_eq(m.ndis_config.mtu, 1500);
	cr_assert_eq(m.ndis_config.caps, caps);
	cr_assert_eq(buf[12], 0x04 | 0x08 | 0x20 | 0x80, "caps at offset 12, little-endian");
	cr_assert_eq(NVSP_CAP_VMQ | NVSP_CAP_CHIMNEY | NVSP_CAP_CORRELATION_ID, 0x13);
}

Test(nvsp, roundtrip_buffers, .timeout = 10)
{
	struct nvsp_recv_section s[2] = { { 0, 1728, 9000, 1728 * 9000 },
		                          { 1728 * 9000, 64, 100, 1728 * 9000 + 6400 } };

	decode_ok(nvsp_encode_recv_buf(buf, sizeof(buf), 77, NVSP_RECV_BUF_ID),
	          NVSP_TYPE_SEND_RECV_BUF, NVSP_MSG_SIZE);
	cr_assert_eq(m.recv_buf.gpadl, 77);
	cr_assert_eq(m.recv_buf.id, NVSP_RECV_BUF_ID);

	decode_ok(nvsp_encode_recv_buf_complete(buf, sizeof(buf), NVSP_STATUS_SUCCESS, s, 1),
	          NVSP_TYPE_SEND_RECV_BUF_COMPLETE, NVSP_MSG_SIZE);
	cr_assert_eq(m.recv_buf_complete.num_sections, 1);
	cr_assert_eq(memcmp(&m.sections[0], &s[0], sizeof(s[0])), 0);

	decode_ok(nvsp_encode_recv_buf_complete(buf, sizeof(buf), NVSP_STATUS_SUCCESS, s, 2),
	          NVSP_TYPE_SEND_RECV_BUF_COMPLETE, NVSP_MSG_SIZE + 4);
	cr_assert_eq(m.recv_buf_complete.num_sections, 2);
	cr_assert_eq(memcmp(m.sections, s, sizeof(s)), 0);

	decode_ok(nvsp_encode_recv_buf_complete(buf, sizeof(buf), NVSP_STATUS_FAILED, NULL, 0),
	          NVSP_TYPE_SEND_RECV_BUF_COMPLETE, NVSP_MSG_SIZE);
	cr_assert_eq(m.recv_buf_complete.status, NVSP_STATUS_FAILED);

	decode_ok(nvsp_encode_revoke_recv_buf(buf, sizeof(buf), NVSP_RECV_BUF_ID),
	          NVSP_TYPE_REVOKE_RECV_BUF, NVSP_MSG_SIZE);
	cr_assert_eq(m.revoke_recv_buf.id, NVSP_RECV_BUF_ID);

	decode_ok(nvsp_encode_send_buf(buf, sizeof(buf), 78, NVSP_SEND_BUF_ID),
	          NVSP_TYPE_SEND_SEND_BUF, NVSP_MSG_SIZE);
	cr_assert_eq(m.send_buf.gpadl, 78);
	cr_assert_eq(m.send_buf.id, NVSP_SEND_BUF_ID);

	decode_ok(nvsp_encode_send_buf_complete(buf, sizeof(buf), NVSP_STATUS_SUCCESS, 6144),
	          NVSP_TYPE_SEND_SEND_BUF_COMPLETE, NVSP_MSG_SIZE);
	cr_assert_eq(m.send_buf_complete.section_size, 6144);

	decode_ok(nvsp_encode_revoke_send_buf(buf, sizeof(buf), 5), NVSP_TYPE_REVOKE_SEND_BUF,
	          NVSP_MSG_SIZE);
	cr_assert_eq(m.revoke_send_buf.id, 5);
}

Test(nvsp, roundtrip_rndis_pkt, .timeout = 10)
{
	decode_ok(nvsp_encode_rndis_pkt(buf, sizeof(buf), NVSP_CHANNEL_DATA, 17, 1514),
	          NVSP_TYPE_SEND_RNDIS_PKT, NVSP_MSG_SIZE);
	cr_assert_eq(m.rndis_pkt.channel_type, NVSP_CHANNEL_DATA);
	cr_assert_eq(m.rndis_pkt.section_index, 17);
	cr_assert_eq(m.rndis_pkt.section_size, 1514);

	decode_ok(
	    nvsp_encode_rndis_pkt(buf, sizeof(buf), NVSP_CHANNEL_CONTROL, NVSP_SECTION_NONE, 0),
	    NVSP_TYPE_SEND_RNDIS_PKT, NVSP_MSG_SIZE);
	cr_assert_eq(m.rndis_pkt.channel_type, NVSP_CHANNEL_CONTROL);
	cr_assert_eq(m.rndis_pkt.section_index, NVSP_SECTION_NONE);

	decode_ok(nvsp_encode_rndis_pkt_complete(buf, sizeof(buf), NVSP_STATUS_INVALID_RNDIS_PKT),
	          NVSP_TYPE_SEND_RNDIS_PKT_COMPLETE, NVSP_MSG_SIZE);
	cr_assert_eq(m.rndis_pkt_complete.status, NVSP_STATUS_INVALID_RNDIS_PKT);
}

Test(nvsp, roundtrip_v4_v5, .timeout = 10)
{
	uint32_t table[NVSP_SEND_TABLE_MAX];

	decode_ok(nvsp_encode_vf_assoc(buf, sizeof(buf), 1, 0xabcd), NVSP_TYPE_SEND_VF_ASSOCIATION,
	          NVSP_MSG_SIZE);
	cr_assert_eq(m.vf_assoc.allocated, 1);
	cr_assert_eq(m.vf_assoc.serial, 0xabcd);

	decode_ok(nvsp_encode_switch_data_path(buf, sizeof(buf), NVSP_DATAPATH_VF),
	          NVSP_TYPE_SWITCH_DATA_PATH, NVSP_MSG_SIZE);
	cr_assert_eq(m.switch_data_path.active_path, NVSP_DATAPATH_VF);

	decode_ok(nvsp_encode_subchannel_req(buf, sizeof(buf), NVSP_SUBCHANNEL_ALLOCATE, 7),
	          NVSP_TYPE_SUBCHANNEL, NVSP_MSG_SIZE);
	cr_assert_eq(m.subchannel_req.op, NVSP_SUBCHANNEL_ALLOCATE);
	cr_assert_eq(m.subchannel_req.num_subchannels, 7);

	decode_ok(nvsp_encode_subchannel_complete(buf, sizeof(buf), NVSP_STATUS_SUCCESS, 3),
	          NVSP_TYPE_SUBCHANNEL, NVSP_MSG_SIZE);
	cr_assert_eq(m.subchannel_complete.status, NVSP_STATUS_SUCCESS);
	cr_assert_eq(m.subchannel_complete.num_subchannels, 3);

	for (uint32_t i = 0; i < NVSP_SEND_TABLE_MAX; i++)
		table[i] = i % 4;
	decode_ok(nvsp_encode_indirection_table(buf, sizeof(buf), table, NVSP_SEND_TABLE_MAX),
	          NVSP_TYPE_SEND_INDIRECTION_TABLE, NVSP_MSG_SIZE + 4 * NVSP_SEND_TABLE_MAX);
	cr_assert_eq(m.indirection_table.count, NVSP_SEND_TABLE_MAX);
	cr_assert_eq(m.indirection_table.offset, NVSP_MSG_SIZE, "offset counts from the type");
	cr_assert_eq(memcmp(m.table, table, sizeof(table)), 0);
}

Test(nvsp, decode_unaligned_and_minimal, .timeout = 10)
{
	uint8_t *raw = malloc(1 + NVSP_MSG_SIZE);

	/* Unaligned input, and a message without padding (only its fields). */
	cr_assert_eq(nvsp_encode_vf_assoc(buf, sizeof(buf), 0, 9), NVSP_MSG_SIZE);
	memcpy(raw + 1, buf, sizeof(struct nvsp_vf_assoc));
	cr_assert_eq(nvsp_decode(raw + 1, sizeof(struct nvsp_vf_assoc), &m, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(m.vf_assoc.serial, 9);
	free(raw);
}

Test(nvsp, encoder_errors, .timeout = 10)
{
	struct nvsp_recv_section s[NVSP_RECV_SECTIONS_MAX + 1] = { 0 };
	uint32_t t[NVSP_SEND_TABLE_MAX + 1] = { 0 };

	cr_assert_eq(nvsp_encode_init(buf, NVSP_MSG_SIZE - 1, 2, 2), -ENOBUFS);
	cr_assert_eq(nvsp_encode_indirection_table(buf, NVSP_MSG_SIZE + 4 * 16 - 1, t, 16),
	             -ENOBUFS);
	cr_assert_eq(nvsp_encode_indirection_table(buf, sizeof(buf), t, 0), -EINVAL);
	cr_assert_eq(nvsp_encode_indirection_table(buf, sizeof(buf), t, 17), -EINVAL);
	cr_assert_eq(nvsp_encode_recv_buf_complete(buf, sizeof(buf), NVSP_STATUS_SUCCESS, s, 0),
	             -EINVAL);
	cr_assert_eq(nvsp_encode_recv_buf_complete(buf, sizeof(buf), NVSP_STATUS_SUCCESS, s,
	                                           NVSP_RECV_SECTIONS_MAX + 1),
	             -EINVAL);
	cr_assert_eq(nvsp_encode_rndis_pkt(buf, sizeof(buf), 2, NVSP_SECTION_NONE, 0), -EINVAL);
	cr_assert_eq(nvsp_encode_rndis_pkt(buf, sizeof(buf), 0, NVSP_SECTION_NONE, 1), -EINVAL);
	cr_assert_eq(nvsp_encode_vf_assoc(buf, sizeof(buf), 2, 0), -EINVAL);
	cr_assert_eq(nvsp_encode_switch_data_path(buf, sizeof(buf), 2), -EINVAL);
}

/* The reference answer for the matrix: the plain definition. */
static uint32_t expect_version(uint32_t lo, uint32_t hi, const uint32_t *host, size_t n)
{
	uint32_t best = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < NVSP_NVERSIONS; k++)
			if (host[i] == nvsp_versions[k] && host[i] >= lo && host[i] <= hi &&
			    host[i] > best)
				best = host[i];
	return best;
}

Test(nvsp, version_matrix, .timeout = 10)
{
	/* Guest range ends: every version, values between and around them. */
	const uint32_t pts[] = { 0,
		                 1,
		                 NVSP_VERSION_1,
		                 0x30001,
		                 NVSP_VERSION_2,
		                 0x3ffff,
		                 NVSP_VERSION_4,
		                 NVSP_VERSION_5,
		                 NVSP_VERSION_6,
		                 NVSP_VERSION_61,
		                 0x60002,
		                 0xffffffff };
	unsigned checked = 0, agreed = 0;

	/* Every host set: each subset of the known versions, plus one unknown version. */
	for (unsigned set = 0; set < (1u << (NVSP_NVERSIONS + 1)); set++) {
		uint32_t host[NVSP_NVERSIONS + 1];
		size_t n = 0;

		for (unsigned k = 0; k < NVSP_NVERSIONS; k++)
			if (set & (1u << k))
				host[n++] = nvsp_versions[NVSP_NVERSIONS - 1 - k]; /* descending */
		if (set & (1u << NVSP_NVERSIONS))
			host[n++] = 0x50001; /* in range of many guests, never picked */
		for (size_t i = 0; i < ARRAY_SIZE(pts); i++) {
			for (size_t j = 0; j < ARRAY_SIZE(pts); j++) {
				uint32_t v = 0xdead, want = expect_version(pts[i], pts[j], host, n);
				int rc = nvsp_version_negotiate(pts[i], pts[j], host, n, &v);

				checked++;
				if (pts[i] > pts[j]) {
					cr_assert_eq(rc, -EINVAL);
					cr_assert_eq(v, 0xdead);
				} else if (!want) {
					cr_assert_eq(rc, -ENOTSUP, "[%#x,%#x] set %#x", pts[i],
					             pts[j], set);
					cr_assert_eq(v, 0xdead);
				} else {
					cr_assert_eq(rc, 0);
					cr_assert_eq(v, want, "[%#x,%#x] set %#x: %#x", pts[i],
					             pts[j], set, v);
					agreed++;
				}
			}
		}
	}
	cr_assert_eq(checked, 128 * 144);
	cr_assert(agreed > 1000);

	/* The cases a reader checks by eye. */
	uint32_t v, all[] = { NVSP_VERSION_1, NVSP_VERSION_2, NVSP_VERSION_4,
		              NVSP_VERSION_5, NVSP_VERSION_6, NVSP_VERSION_61 };
	cr_assert_eq(nvsp_version_negotiate(NVSP_VERSION_1, NVSP_VERSION_61, all, 6, &v), 0);
	cr_assert_eq(v, NVSP_VERSION_61);
	cr_assert_eq(nvsp_version_negotiate(NVSP_VERSION_5, NVSP_VERSION_5, all, 6, &v), 0);
	cr_assert_eq(v, NVSP_VERSION_5);
	cr_assert_eq(nvsp_version_negotiate(NVSP_VERSION_61, NVSP_VERSION_61, all, 5, &v),
	             -ENOTSUP);
	cr_assert_eq(nvsp_version_negotiate(NVSP_VERSION_1, NVSP_VERSION_61, NULL, 0, &v),
	             -ENOTSUP);
}

Test(nvsp, names_and_versions, .timeout = 10)
{
	cr_assert_str_eq(nvsp_type_name(NVSP_TYPE_SEND_RNDIS_PKT), "SEND_RNDIS_PKT");
	cr_assert_str_eq(nvsp_type_name(NVSP_TYPE_SEND_VF_ASSOCIATION), "SEND_VF_ASSOCIATION");
	cr_assert_str_eq(nvsp_type_name(NVSP_TYPE_SEND_NDIS_CONFIG), "SEND_NDIS_CONFIG");
	cr_assert_str_eq(nvsp_type_name(110), "UNKNOWN");
	cr_assert_eq(nvsp_type_min_version(NVSP_TYPE_INIT), NVSP_VERSION_1);
	cr_assert_eq(nvsp_type_min_version(NVSP_TYPE_SEND_NDIS_CONFIG), NVSP_VERSION_2);
	cr_assert_eq(nvsp_type_min_version(NVSP_TYPE_SWITCH_DATA_PATH), NVSP_VERSION_4);
	cr_assert_eq(nvsp_type_min_version(NVSP_TYPE_SEND_INDIRECTION_TABLE), NVSP_VERSION_5);
	cr_assert_eq(nvsp_type_min_version(3), 0);
}

Test(nvsp, section_index, .timeout = 10)
{
	cr_assert(nvsp_section_valid(0, 1));
	cr_assert(nvsp_section_valid(169, 170));
	cr_assert_not(nvsp_section_valid(170, 170));
	cr_assert_not(nvsp_section_valid(0, 0));
	cr_assert_not(nvsp_section_valid(NVSP_SECTION_NONE, NVSP_SECTION_NONE));
	cr_assert_not(nvsp_section_valid(NVSP_SECTION_NONE, 10));
}

Test(nvsp, bad_unknown_type, .timeout = 10)
{
	const uint32_t types[] = { 0, 3, 99, 109, 127, 130, 131, 135, 0xffffffff };

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		memset(buf, 0, sizeof(buf));
		put32(0, types[i]);
		decode_fails(NVSP_MSG_SIZE, -ENOTSUP);
	}
}

Test(nvsp, bad_truncated, .timeout = 10)
{
	/* One byte short of the type's fields, for a few layouts. */
	nvsp_encode_init(buf, sizeof(buf), 2, 2);
	decode_fails(sizeof(struct nvsp_init) - 1, -EBADMSG);
	nvsp_encode_init_complete(buf, sizeof(buf), 2, 0, NVSP_STATUS_SUCCESS);
	decode_fails(sizeof(struct nvsp_init_complete) - 1, -EBADMSG);
	nvsp_encode_ndis_config(buf, sizeof(buf), 1500, 0);
	decode_fails(sizeof(struct nvsp_ndis_config) - 1, -EBADMSG);
	nvsp_encode_recv_buf(buf, sizeof(buf), 1, 1);
	decode_fails(sizeof(struct nvsp_buf) - 1, -EBADMSG);
	nvsp_encode_rndis_pkt(buf, sizeof(buf), 0, 1, 1);
	decode_fails(sizeof(struct nvsp_rndis_pkt) - 1, -EBADMSG);
	nvsp_encode_vf_assoc(buf, sizeof(buf), 1, 1);
	decode_fails(sizeof(struct nvsp_vf_assoc) - 1, -EBADMSG);
	nvsp_encode_subchannel_req(buf, sizeof(buf), 1, 1);
	decode_fails(sizeof(struct nvsp_subchannel_req) - 1, -EBADMSG);
	/* No type at all; longer than any message. */
	decode_fails(3, -EBADMSG);
	decode_fails(0, -EBADMSG);
	decode_fails(NVSP_MSG_MAX + 1, -EBADMSG);
}

Test(nvsp, bad_recv_sections, .timeout = 10)
{
	struct nvsp_recv_section s[2] = { { 0, 1728, 10, 17280 }, { 17280, 64, 4, 17536 } };

	/* Count larger than the message. */
	nvsp_encode_recv_buf_complete(buf, sizeof(buf), NVSP_STATUS_SUCCESS, s, 2);
	decode_fails(sizeof(struct nvsp_recv_buf_complete) + 2 * 16 - 1, -EBADMSG);
	/* Count above the limit, even when the bytes are there. */
	put32(8, NVSP_RECV_SECTIONS_MAX + 1);
	decode_fails(NVSP_MSG_MAX, -EBADMSG);
	put32(8, 0xffffffff);
	decode_fails(NVSP_MSG_MAX, -EBADMSG);
	/* Success without a section. */
	put32(8, 0);
	decode_fails(NVSP_MSG_SIZE, -EPROTO);
}

Test(nvsp, bad_indirection_table, .timeout = 10)
{
	uint32_t t[NVSP_SEND_TABLE_MAX] = { 0 };
	const size_t len = NVSP_MSG_SIZE + sizeof(t);

	nvsp_encode_indirection_table(buf, sizeof(buf), t, NVSP_SEND_TABLE_MAX);
	cr_assert_eq(nvsp_decode(buf, len, &m, err, sizeof(err)), 0);
	decode_fails(len - 1, -EBADMSG); /* last entry cut */
	put32(8, 8);                     /* offset over the count/offset fields */
	decode_fails(len, -EBADMSG);
	put32(8, 42); /* unaligned */
	decode_fails(len, -EBADMSG);
	put32(8, 0xfffffffc); /* far outside; offset + size overflows 32 bits */
	decode_fails(len, -EBADMSG);
	put32(8, NVSP_MSG_SIZE);
	put32(4, 0);
	decode_fails(len, -EBADMSG);
	put32(4, NVSP_SEND_TABLE_MAX + 1);
	decode_fails(NVSP_MSG_MAX, -EBADMSG);
	/* The host bug Linux works around: offset from the count field (4 short);
	 * still inside the message, so it decodes, shifted. */
	put32(4, NVSP_SEND_TABLE_MAX);
	put32(8, 12);
	cr_assert_eq(nvsp_decode(buf, len, &m, err, sizeof(err)), 0);
}

Test(nvsp, bad_enumerated_fields, .timeout = 10)
{
	nvsp_encode_rndis_pkt(buf, sizeof(buf), 0, 3, 100);
	put32(4, 2); /* channel type */
	decode_fails(NVSP_MSG_SIZE, -EPROTO);
	nvsp_encode_rndis_pkt(buf, sizeof(buf), 0, 3, 100);
	put32(8, NVSP_SECTION_NONE); /* bytes in no section */
	decode_fails(NVSP_MSG_SIZE, -EPROTO);
	nvsp_encode_vf_assoc(buf, sizeof(buf), 1, 5);
	put32(4, 7);
	decode_fails(NVSP_MSG_SIZE, -EPROTO);
	nvsp_encode_switch_data_path(buf, sizeof(buf), NVSP_DATAPATH_SYNTHETIC);
	put32(4, 2);
	decode_fails(NVSP_MSG_SIZE, -EPROTO);
}

Test(nvsp, err_may_be_null, .timeout = 10)
{
	memset(buf, 0xff, sizeof(buf));
	cr_assert_eq(nvsp_decode(buf, NVSP_MSG_SIZE, &m, NULL, 0), -ENOTSUP);
	cr_assert_eq(nvsp_decode(buf, 2, &m, err, 1), -EBADMSG);
	cr_assert_eq(err[0], '\0');
}
