/* nvsp — see nvsp.h for the message layouts and the validation rules. */
#include "proto/nvsp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

const uint32_t nvsp_versions[NVSP_NVERSIONS] = {
	NVSP_VERSION_1, NVSP_VERSION_2, NVSP_VERSION_4,
	NVSP_VERSION_5, NVSP_VERSION_6, NVSP_VERSION_61,
};

/* What the decoder knows about each type. */
struct nvsp__type {
	uint32_t type;
	uint32_t ver;     /* introduced in */
	uint32_t min_len; /* bytes of fixed fields */
	const char *name;
};

/* Indexed by the type: one look per message (a type past the end fails
 * to compile: raise the size with it). */
/* clang-format off */
#define T(t, v, s) [NVSP_TYPE_##t] = { NVSP_TYPE_##t, NVSP_VERSION_##v, sizeof(struct s), #t }
/* clang-format on */
static const struct nvsp__type nvsp__types[NVSP_TYPE_SEND_INDIRECTION_TABLE + 1] = {
	T(INIT, 1, nvsp_init),
	T(INIT_COMPLETE, 1, nvsp_init_complete),
	T(SEND_NDIS_VER, 1, nvsp_ndis_ver),
	T(SEND_RECV_BUF, 1, nvsp_buf),
	T(SEND_RECV_BUF_COMPLETE, 1, nvsp_recv_buf_complete),
	T(REVOKE_RECV_BUF, 1, nvsp_revoke_buf),
	T(SEND_SEND_BUF, 1, nvsp_buf),
	T(SEND_SEND_BUF_COMPLETE, 1, nvsp_send_buf_complete),
	T(REVOKE_SEND_BUF, 1, nvsp_revoke_buf),
	T(SEND_RNDIS_PKT, 1, nvsp_rndis_pkt),
	T(SEND_RNDIS_PKT_COMPLETE, 1, nvsp_rndis_pkt_complete),
	T(SEND_NDIS_CONFIG, 2, nvsp_ndis_config),
	T(SEND_VF_ASSOCIATION, 4, nvsp_vf_assoc),
	T(SWITCH_DATA_PATH, 4, nvsp_switch_data_path),
	T(SUBCHANNEL, 5, nvsp_subchannel_req),
	T(SEND_INDIRECTION_TABLE, 5, nvsp_indirection_table),
};
#undef T

static const struct nvsp__type *__nvsp_type(uint32_t type)
{
	if (type >= ARRAY_SIZE(nvsp__types) || !nvsp__types[type].name)
		return NULL;
	return &nvsp__types[type];
}

uint32_t nvsp_type_min_version(uint32_t type)
{
	const struct nvsp__type *t = __nvsp_type(type);

	return t ? t->ver : 0;
}

const char *nvsp_type_name(uint32_t type)
{
	const struct nvsp__type *t = __nvsp_type(type);

	return t ? t->name : "UNKNOWN";
}

__attribute__((format(printf, 4, 5))) static int __nvsp_fail(int rc, char *err, size_t errlen,
                                                             const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int nvsp_decode(const void *buf, size_t len, struct nvsp_msg *m, char *err, size_t errlen)
{
	const size_t fixed_max = offsetof(struct nvsp_msg, len); /* the union */
	uint8_t copy[NVSP_MSG_MAX];
	const struct nvsp__type *t;
	uint32_t n, off;

	memset(m, 0, sizeof(*m));
	if (err && errlen)
		err[0] = '\0';
	if (len < sizeof(struct nvsp_hdr))
		return __nvsp_fail(-EBADMSG, err, errlen, "%zu bytes: no message type", len);
	if (len > NVSP_MSG_MAX)
		return __nvsp_fail(-EBADMSG, err, errlen, "%zu bytes: longer than any message (%u)",
		                   len, NVSP_MSG_MAX);
	/* The only read of @buf: everything below looks at the copy. */
	memcpy(copy, buf, len);
	memcpy(&m->hdr, copy, len < fixed_max ? len : fixed_max);
	m->len = (uint32_t)len;

	t = __nvsp_type(m->hdr.type);
	if (!t)
		return __nvsp_fail(-ENOTSUP, err, errlen, "unknown message type %u", m->hdr.type);
	if (len < t->min_len)
		return __nvsp_fail(-EBADMSG, err, errlen, "%s: %zu bytes, needs %u", t->name, len,
		                   t->min_len);

	switch (m->hdr.type) {
	case NVSP_TYPE_SEND_RECV_BUF_COMPLETE:
		n = m->recv_buf_complete.num_sections;
		if (n > NVSP_RECV_SECTIONS_MAX)
			return __nvsp_fail(-EBADMSG, err, errlen, "%s: %u sections (at most %u)",
			                   t->name, n, NVSP_RECV_SECTIONS_MAX);
		if (n == 0 && m->recv_buf_complete.status == NVSP_STATUS_SUCCESS)
			return __nvsp_fail(-EPROTO, err, errlen, "%s: success without a section",
			                   t->name);
		if (len < t->min_len + n * sizeof(struct nvsp_recv_section))
			return __nvsp_fail(-EBADMSG, err, errlen,
			                   "%s: %u sections run past the %zu-byte message", t->name,
			                   n, len);
		memcpy(m->sections, copy + t->min_len, n * sizeof(struct nvsp_recv_section));
		break;
	case NVSP_TYPE_SEND_INDIRECTION_TABLE:
		n = m->indirection_table.count;
		off = m->indirection_table.offset;
		if (n == 0 || n > NVSP_SEND_TABLE_MAX)
			return __nvsp_fail(-EBADMSG, err, errlen, "%s: %u entries (1..%u)", t->name,
			                   n, NVSP_SEND_TABLE_MAX);
		if (off < t->min_len || off % 4 || (uint64_t)off + 4ull * n > len)
			return __nvsp_fail(
			    -EBADMSG, err, errlen,
			    "%s: table at %u (%u entries) outside the %zu-byte message", t->name,
			    off, n, len);
		memcpy(m->table, copy + off, 4ull * n);
		break;
	case NVSP_TYPE_SEND_RNDIS_PKT:
		if (m->rndis_pkt.channel_type > NVSP_CHANNEL_CONTROL)
			return __nvsp_fail(-EPROTO, err, errlen, "%s: channel type %u", t->name,
			                   m->rndis_pkt.channel_type);
		if (m->rndis_pkt.section_index == NVSP_SECTION_NONE && m->rndis_pkt.section_size)
			return __nvsp_fail(-EPROTO, err, errlen,
			                   "%s: %u bytes in no section (index 0xffffffff)", t->name,
			                   m->rndis_pkt.section_size);
		break;
	case NVSP_TYPE_SEND_VF_ASSOCIATION:
		if (m->vf_assoc.allocated > 1)
			return __nvsp_fail(-EPROTO, err, errlen, "%s: allocated = %u", t->name,
			                   m->vf_assoc.allocated);
		break;
	case NVSP_TYPE_SWITCH_DATA_PATH:
		if (m->switch_data_path.active_path > NVSP_DATAPATH_VF)
			return __nvsp_fail(-EPROTO, err, errlen, "%s: data path %u", t->name,
			                   m->switch_data_path.active_path);
		break;
	}
	return 0;
}

/* Write the fixed fields @fixed (@fixed_len bytes) of a message of @total
 * bytes (at least NVSP_MSG_SIZE), zeroing the rest. */
static int __nvsp_put(void *buf, size_t len, size_t total, const void *fixed, size_t fixed_len)
{
	if (total < NVSP_MSG_SIZE)
		total = NVSP_MSG_SIZE;
	if (len < total)
		return -ENOBUFS;
	memset(buf, 0, total);
	memcpy(buf, fixed, fixed_len);
	return (int)total;
}

#define __nvsp_put_fixed(buf, len, msg) __nvsp_put(buf, len, 0, &(msg), sizeof(msg))

int nvsp_encode_init(void *buf, size_t len, uint32_t ver_min, uint32_t ver_max)
{
	struct nvsp_init m = { NVSP_TYPE_INIT, ver_min, ver_max };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_init_complete(void *buf, size_t len, uint32_t ver, uint32_t max_mdl_chain_len,
                              uint32_t status)
{
	struct nvsp_init_complete m = { NVSP_TYPE_INIT_COMPLETE, ver, max_mdl_chain_len, status };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_ndis_ver(void *buf, size_t len, uint32_t major, uint32_t minor)
{
	struct nvsp_ndis_ver m = { NVSP_TYPE_SEND_NDIS_VER, major, minor };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_ndis_config(void *buf, size_t len, uint32_t mtu, uint64_t caps)
{
	struct nvsp_ndis_config m = { NVSP_TYPE_SEND_NDIS_CONFIG, mtu, 0, caps };

	return __nvsp_put_fixed(buf, len, m);
}

static int __nvsp_encode_buf(void *buf, size_t len, uint32_t type, uint32_t gpadl, uint16_t id)
{
	struct nvsp_buf m = { type, gpadl, id };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_recv_buf(void *buf, size_t len, uint32_t gpadl, uint16_t id)
{
	return __nvsp_encode_buf(buf, len, NVSP_TYPE_SEND_RECV_BUF, gpadl, id);
}

int nvsp_encode_send_buf(void *buf, size_t len, uint32_t gpadl, uint16_t id)
{
	return __nvsp_encode_buf(buf, len, NVSP_TYPE_SEND_SEND_BUF, gpadl, id);
}

static int __nvsp_encode_revoke(void *buf, size_t len, uint32_t type, uint16_t id)
{
	struct nvsp_revoke_buf m = { type, id };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_revoke_recv_buf(void *buf, size_t len, uint16_t id)
{
	return __nvsp_encode_revoke(buf, len, NVSP_TYPE_REVOKE_RECV_BUF, id);
}

int nvsp_encode_revoke_send_buf(void *buf, size_t len, uint16_t id)
{
	return __nvsp_encode_revoke(buf, len, NVSP_TYPE_REVOKE_SEND_BUF, id);
}

int nvsp_encode_recv_buf_complete(void *buf, size_t len, uint32_t status,
                                  const struct nvsp_recv_section *sections, uint32_t n)
{
	struct nvsp_recv_buf_complete m = { NVSP_TYPE_SEND_RECV_BUF_COMPLETE, status, n };
	size_t secs = n * sizeof(*sections);
	int rc;

	if (n > NVSP_RECV_SECTIONS_MAX || (n == 0 && status == NVSP_STATUS_SUCCESS))
		return -EINVAL;
	rc = __nvsp_put(buf, len, sizeof(m) + secs, &m, sizeof(m));
	if (rc > 0 && secs)
		memcpy((uint8_t *)buf + sizeof(m), sections, secs);
	return rc;
}

int nvsp_encode_send_buf_complete(void *buf, size_t len, uint32_t status, uint32_t section_size)
{
	struct nvsp_send_buf_complete m = { NVSP_TYPE_SEND_SEND_BUF_COMPLETE, status,
		                            section_size };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_rndis_pkt(void *buf, size_t len, uint32_t channel_type, uint32_t section_index,
                          uint32_t section_size)
{
	struct nvsp_rndis_pkt m = { NVSP_TYPE_SEND_RNDIS_PKT, channel_type, section_index,
		                    section_size };

	if (channel_type > NVSP_CHANNEL_CONTROL ||
	    (section_index == NVSP_SECTION_NONE && section_size))
		return -EINVAL;
	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_rndis_pkt_complete(void *buf, size_t len, uint32_t status)
{
	struct nvsp_rndis_pkt_complete m = { NVSP_TYPE_SEND_RNDIS_PKT_COMPLETE, status };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_vf_assoc(void *buf, size_t len, uint32_t allocated, uint32_t serial)
{
	struct nvsp_vf_assoc m = { NVSP_TYPE_SEND_VF_ASSOCIATION, allocated, serial };

	if (allocated > 1)
		return -EINVAL;
	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_switch_data_path(void *buf, size_t len, uint32_t active_path)
{
	struct nvsp_switch_data_path m = { NVSP_TYPE_SWITCH_DATA_PATH, active_path };

	if (active_path > NVSP_DATAPATH_VF)
		return -EINVAL;
	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_subchannel_req(void *buf, size_t len, uint32_t op, uint32_t num_subchannels)
{
	struct nvsp_subchannel_req m = { NVSP_TYPE_SUBCHANNEL, op, num_subchannels };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_subchannel_complete(void *buf, size_t len, uint32_t status,
                                    uint32_t num_subchannels)
{
	struct nvsp_subchannel_complete m = { NVSP_TYPE_SUBCHANNEL, status, num_subchannels };

	return __nvsp_put_fixed(buf, len, m);
}

int nvsp_encode_indirection_table(void *buf, size_t len, const uint32_t *table, uint32_t count)
{
	struct nvsp_indirection_table m = { NVSP_TYPE_SEND_INDIRECTION_TABLE, count,
		                            NVSP_MSG_SIZE };
	int rc;

	if (count == 0 || count > NVSP_SEND_TABLE_MAX)
		return -EINVAL;
	rc = __nvsp_put(buf, len, NVSP_MSG_SIZE + 4 * count, &m, sizeof(m));
	if (rc > 0)
		memcpy((uint8_t *)buf + NVSP_MSG_SIZE, table, 4 * count);
	return rc;
}

static bool __nvsp_version_known(uint32_t v)
{
	for (size_t i = 0; i < NVSP_NVERSIONS; i++)
		if (nvsp_versions[i] == v)
			return true;
	return false;
}

int nvsp_version_negotiate(uint32_t ver_min, uint32_t ver_max, const uint32_t *host, size_t n,
                           uint32_t *ver)
{
	uint32_t best = 0;

	if (ver_min > ver_max)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = host[i];

		if (v >= ver_min && v <= ver_max && v > best && __nvsp_version_known(v))
			best = v;
	}
	if (!best)
		return -ENOTSUP;
	*ver = best;
	return 0;
}
