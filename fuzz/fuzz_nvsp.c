/* libFuzzer target: nvsp_decode() on arbitrary bytes (a hostile guest's or
 * host's VMBus packet payload). Whatever decodes must re-encode to the same
 * fields; an INIT also goes through version negotiation.
 *
 * Input: the message bytes, as they would arrive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nvsp.h"

#define SAME(field) (memcmp(&m.field, &m2.field, sizeof(m.field)) == 0)

/* Encode @m again; returns whether the new bytes decode to the same fields. */
static int reencode(const struct nvsp_msg *pm)
{
	static uint8_t b[NVSP_MSG_MAX];
	struct nvsp_msg m = *pm, m2;
	int rc = -1;

	switch (m.hdr.type) {
	case NVSP_TYPE_INIT:
		rc = nvsp_encode_init(b, sizeof(b), m.init.ver_min, m.init.ver_max);
		break;
	case NVSP_TYPE_INIT_COMPLETE:
		rc = nvsp_encode_init_complete(b, sizeof(b), m.init_complete.ver,
		                               m.init_complete.max_mdl_chain_len,
		                               m.init_complete.status);
		break;
	case NVSP_TYPE_SEND_NDIS_VER:
		rc = nvsp_encode_ndis_ver(b, sizeof(b), m.ndis_ver.major, m.ndis_ver.minor);
		break;
	case NVSP_TYPE_SEND_NDIS_CONFIG:
		rc = nvsp_encode_ndis_config(b, sizeof(b), m.ndis_config.mtu, m.ndis_config.caps);
		m.ndis_config.rsvd = 0;
		break;
	case NVSP_TYPE_SEND_RECV_BUF:
		rc = nvsp_encode_recv_buf(b, sizeof(b), m.recv_buf.gpadl, m.recv_buf.id);
		break;
	case NVSP_TYPE_SEND_SEND_BUF:
		rc = nvsp_encode_send_buf(b, sizeof(b), m.send_buf.gpadl, m.send_buf.id);
		break;
	case NVSP_TYPE_REVOKE_RECV_BUF:
		rc = nvsp_encode_revoke_recv_buf(b, sizeof(b), m.revoke_recv_buf.id);
		break;
	case NVSP_TYPE_REVOKE_SEND_BUF:
		rc = nvsp_encode_revoke_send_buf(b, sizeof(b), m.revoke_send_buf.id);
		break;
	case NVSP_TYPE_SEND_RECV_BUF_COMPLETE:
		rc = nvsp_encode_recv_buf_complete(b, sizeof(b), m.recv_buf_complete.status,
		                                   m.sections, m.recv_buf_complete.num_sections);
		break;
	case NVSP_TYPE_SEND_SEND_BUF_COMPLETE:
		rc = nvsp_encode_send_buf_complete(b, sizeof(b), m.send_buf_complete.status,
		                                   m.send_buf_complete.section_size);
		break;
	case NVSP_TYPE_SEND_RNDIS_PKT:
		rc = nvsp_encode_rndis_pkt(b, sizeof(b), m.rndis_pkt.channel_type,
		                           m.rndis_pkt.section_index, m.rndis_pkt.section_size);
		break;
	case NVSP_TYPE_SEND_RNDIS_PKT_COMPLETE:
		rc = nvsp_encode_rndis_pkt_complete(b, sizeof(b), m.rndis_pkt_complete.status);
		break;
	case NVSP_TYPE_SEND_VF_ASSOCIATION:
		rc = nvsp_encode_vf_assoc(b, sizeof(b), m.vf_assoc.allocated, m.vf_assoc.serial);
		break;
	case NVSP_TYPE_SWITCH_DATA_PATH:
		rc = nvsp_encode_switch_data_path(b, sizeof(b), m.switch_data_path.active_path);
		break;
	case NVSP_TYPE_SUBCHANNEL:
		rc = nvsp_encode_subchannel_req(b, sizeof(b), m.subchannel_req.op,
		                                m.subchannel_req.num_subchannels);
		break;
	case NVSP_TYPE_SEND_INDIRECTION_TABLE:
		rc =
		    nvsp_encode_indirection_table(b, sizeof(b), m.table, m.indirection_table.count);
		m.indirection_table.offset = NVSP_MSG_SIZE; /* where the encoder puts it */
		break;
	}
	if (rc <= 0 || nvsp_decode(b, (size_t)rc, &m2, NULL, 0) != 0)
		return 0;
	switch (m.hdr.type) {
	case NVSP_TYPE_INIT:
		return SAME(init);
	case NVSP_TYPE_INIT_COMPLETE:
		return SAME(init_complete);
	case NVSP_TYPE_SEND_NDIS_VER:
		return SAME(ndis_ver);
	case NVSP_TYPE_SEND_NDIS_CONFIG:
		return SAME(ndis_config);
	case NVSP_TYPE_SEND_RECV_BUF:
	case NVSP_TYPE_SEND_SEND_BUF:
		return SAME(recv_buf);
	case NVSP_TYPE_REVOKE_RECV_BUF:
	case NVSP_TYPE_REVOKE_SEND_BUF:
		return SAME(revoke_recv_buf);
	case NVSP_TYPE_SEND_RECV_BUF_COMPLETE:
		return SAME(recv_buf_complete) && SAME(sections);
	case NVSP_TYPE_SEND_SEND_BUF_COMPLETE:
		return SAME(send_buf_complete);
	case NVSP_TYPE_SEND_RNDIS_PKT:
		return SAME(rndis_pkt);
	case NVSP_TYPE_SEND_RNDIS_PKT_COMPLETE:
		return SAME(rndis_pkt_complete);
	case NVSP_TYPE_SEND_VF_ASSOCIATION:
		return SAME(vf_assoc);
	case NVSP_TYPE_SWITCH_DATA_PATH:
		return SAME(switch_data_path);
	case NVSP_TYPE_SUBCHANNEL:
		return SAME(subchannel_req);
	case NVSP_TYPE_SEND_INDIRECTION_TABLE:
		return SAME(indirection_table) && SAME(table);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct nvsp_msg m;
	char err[128];
	uint32_t ver;

	if (nvsp_decode(in, len, &m, err, sizeof(err)) != 0) {
		if (!err[0])
			abort(); /* every refusal says why */
		return 0;
	}
	if (m.hdr.type == NVSP_TYPE_SEND_RECV_BUF_COMPLETE &&
	    m.recv_buf_complete.num_sections > NVSP_RECV_SECTIONS_MAX)
		abort();
	if (m.hdr.type == NVSP_TYPE_SEND_INDIRECTION_TABLE &&
	    (m.indirection_table.count == 0 || m.indirection_table.count > NVSP_SEND_TABLE_MAX))
		abort();
	if (!reencode(&m))
		abort();
	if (m.hdr.type == NVSP_TYPE_INIT &&
	    nvsp_version_negotiate(m.init.ver_min, m.init.ver_max, nvsp_versions, NVSP_NVERSIONS,
	                           &ver) == 0 &&
	    (ver < m.init.ver_min || ver > m.init.ver_max))
		abort();
	return 0;
}
