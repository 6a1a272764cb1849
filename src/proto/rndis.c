/* rndis — see rndis.h for the layouts, the offset rule and the checks. */
#include "proto/rndis.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

struct rndis__type {
	uint32_t type;
	uint32_t min_len; /* bytes of fixed fields */
	const char *name;
};

static const struct rndis__type rndis__types[] = {
	{ RNDIS_MSG_PACKET, sizeof(struct rndis_packet), "PACKET" },
	{ RNDIS_MSG_INIT, sizeof(struct rndis_init_req), "INIT" },
	/* af_list_size may be missing from a completion of a connectionless device */
	{ RNDIS_MSG_INIT_C, offsetof(struct rndis_init_comp, af_list_size), "INIT_C" },
	{ RNDIS_MSG_HALT, sizeof(struct rndis_id_req), "HALT" },
	{ RNDIS_MSG_QUERY, sizeof(struct rndis_info_req), "QUERY" },
	{ RNDIS_MSG_QUERY_C, sizeof(struct rndis_query_comp), "QUERY_C" },
	{ RNDIS_MSG_SET, sizeof(struct rndis_info_req), "SET" },
	{ RNDIS_MSG_SET_C, sizeof(struct rndis_comp), "SET_C" },
	{ RNDIS_MSG_RESET, sizeof(struct rndis_id_req), "RESET" },
	{ RNDIS_MSG_RESET_C, sizeof(struct rndis_reset_comp), "RESET_C" },
	{ RNDIS_MSG_INDICATE, sizeof(struct rndis_indicate), "INDICATE_STATUS" },
	{ RNDIS_MSG_KEEPALIVE, sizeof(struct rndis_id_req), "KEEPALIVE" },
	{ RNDIS_MSG_KEEPALIVE_C, sizeof(struct rndis_comp), "KEEPALIVE_C" },
};

/* Where struct rndis_pkt_info keeps each known PPI's value, by PPI type
 * (0: not a type this module knows). The encoder writes them in type order. */
#define RNDIS__NPPI (RNDIS_PPI_HASH_INFO + 1)
static const uint8_t rndis__ppi_off[RNDIS__NPPI] = {
	[RNDIS_PPI_CSUM] = offsetof(struct rndis_pkt_info, csum),
	[RNDIS_PPI_LSO] = offsetof(struct rndis_pkt_info, lso),
	[RNDIS_PPI_VLAN] = offsetof(struct rndis_pkt_info, vlan),
	[RNDIS_PPI_HASH_VALUE] = offsetof(struct rndis_pkt_info, hash_value),
	[RNDIS_PPI_HASH_INFO] = offsetof(struct rndis_pkt_info, hash_info),
};
_Static_assert(offsetof(struct rndis_pkt_info, present) == 0, "no PPI value at offset 0");
_Static_assert(RNDIS_PI_ALL < (1u << RNDIS__NPPI), "every known PPI has a table entry");

/* The offset of PPI @type's value in struct rndis_pkt_info, or 0. */
static inline uint32_t __rndis_ppi_off(uint32_t type)
{
	return type < RNDIS__NPPI ? rndis__ppi_off[type] : 0;
}

static const struct rndis__type *__rndis_type(uint32_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(rndis__types); i++)
		if (rndis__types[i].type == type)
			return &rndis__types[i];
	return NULL;
}

const char *rndis_type_name(uint32_t type)
{
	const struct rndis__type *t = __rndis_type(type);

	return t ? t->name : "UNKNOWN";
}

__attribute__((format(printf, 4, 5))) static int __rndis_fail(int rc, char *err, size_t errlen,
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

int rndis_next(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **msg, uint32_t *msg_len,
               char *err, size_t errlen)
{
	struct rndis_hdr h;
	size_t left;

	if (err && errlen)
		err[0] = '\0';
	if (*pos > len)
		return __rndis_fail(-EINVAL, err, errlen, "position %zu past the %zu-byte transfer",
		                    *pos, len);
	left = len - *pos;
	if (left == 0)
		return 0;
	if (left < RNDIS_HDR_SIZE)
		return __rndis_fail(-EBADMSG, err, errlen, "%zu trailing bytes at %zu", left, *pos);
	memcpy(&h, buf + *pos, sizeof(h));
	if (h.len < RNDIS_HDR_SIZE || h.len > left)
		return __rndis_fail(-EBADMSG, err, errlen,
		                    "msg_len %u at %zu: outside the %zu bytes left", h.len, *pos,
		                    left);
	if (h.len < left && h.len % RNDIS_ALIGN)
		return __rndis_fail(
		    -EBADMSG, err, errlen,
		    "msg_len %u at %zu: not a multiple of %u, yet a message follows", h.len, *pos,
		    RNDIS_ALIGN);
	*msg = buf + *pos;
	*msg_len = h.len;
	*pos += h.len;
	return 1;
}

/* The @n bytes at offset @off (from RNDIS_OFFSET_BASE) of a message of
 * @msg_len bytes: they must start at or after @min_abs (the end of the fixed
 * fields) and end inside the message. Returns the absolute offset, or -1. */
static int64_t __rndis_range(uint32_t msg_len, uint32_t off, uint32_t n, uint32_t min_abs)
{
	uint64_t abs = (uint64_t)off + RNDIS_OFFSET_BASE;

	if (abs < min_abs || abs + n > msg_len)
		return -1;
	return (int64_t)abs;
}

/* Walk the PPI area (@len bytes at @p) of a packet into @v. */
static int __rndis_ppis(struct rndis_pkt_view *v, const uint8_t *p, uint32_t len, char *err,
                        size_t errlen)
{
	uint32_t pos = 0;

	while (pos < len) {
		struct rndis_ppi e;
		uint32_t off;

		if (len - pos < sizeof(e))
			return __rndis_fail(-EBADMSG, err, errlen,
			                    "PPI at %u: %u bytes left, an entry needs %zu", pos,
			                    len - pos, sizeof(e));
		memcpy(&e, p + pos, sizeof(e));
		if (e.size < sizeof(e) || e.size > len - pos || e.size % 4)
			return __rndis_fail(-EBADMSG, err, errlen,
			                    "PPI at %u: size %u (PPI area %u bytes)", pos, e.size,
			                    len);
		if (e.offset < sizeof(e) || e.offset > e.size)
			return __rndis_fail(-EBADMSG, err, errlen,
			                    "PPI at %u: data offset %u outside its %u bytes", pos,
			                    e.offset, e.size);
		v->nppi++;
		off = __rndis_ppi_off(e.type);
		if (off) {
			if (e.size - e.offset < sizeof(uint32_t))
				return __rndis_fail(-EBADMSG, err, errlen,
				                    "PPI type %u at %u: %u data bytes", e.type, pos,
				                    e.size - e.offset);
			if (v->pi.present & RNDIS_PI(e.type))
				return __rndis_fail(-EPROTO, err, errlen,
				                    "PPI type %u at %u: repeated", e.type, pos);
			memcpy((uint8_t *)&v->pi + off, p + pos + e.offset, sizeof(uint32_t));
			v->pi.present |= RNDIS_PI(e.type);
		}
		pos += e.size;
	}
	return 0;
}

/* The checks of a PACKET_MSG whose fixed fields (@k, a copy, msg_len already
 * checked against what is readable) were read from @p. */
static int __rndis_packet(const struct rndis_packet *k, const uint8_t *p,
                          struct rndis_pkt_view *v, char *err, size_t errlen)
{
	int64_t abs;

	memset(v, 0, sizeof(*v));
	if (k->data_len == 0)
		return __rndis_fail(-EPROTO, err, errlen, "PACKET: no data");
	abs = __rndis_range(k->len, k->data_offset, k->data_len, sizeof(*k));
	if (abs < 0)
		return __rndis_fail(
		    -EBADMSG, err, errlen,
		    "PACKET: data (offset %u, %u bytes) outside the %u-byte message",
		    k->data_offset, k->data_len, k->len);
	v->data = p + abs;
	v->data_len = k->data_len;

	if (k->oob_len && __rndis_range(k->len, k->oob_offset, k->oob_len, sizeof(*k)) < 0)
		return __rndis_fail(-EBADMSG, err, errlen,
		                    "PACKET: OOB data (offset %u, %u bytes) outside the message",
		                    k->oob_offset, k->oob_len);

	if (k->ppi_len == 0)
		return 0;
	abs = __rndis_range(k->len, k->ppi_offset, k->ppi_len, sizeof(*k));
	if (abs < 0 || abs % 4)
		return __rndis_fail(
		    -EBADMSG, err, errlen,
		    "PACKET: PPIs (offset %u, %u bytes) outside the %u-byte message "
		    "or unaligned",
		    k->ppi_offset, k->ppi_len, k->len);
	return __rndis_ppis(v, p + abs, k->ppi_len, err, errlen);
}

int rndis_decode_packet_full(const void *buf, size_t len, struct rndis_pkt_view *v, char *err,
                             size_t errlen)
{
	struct rndis_packet k;

	if (len < sizeof(k) || (memcpy(&k, buf, sizeof(k)), k.type != RNDIS_MSG_PACKET) ||
	    k.len < sizeof(k) || k.len > len) {
		struct rndis_msg m; /* not a plausible PACKET: the general decoder says why */
		int r = rndis_decode(buf, len, &m, err, errlen);

		/* rndis_decode refuses every PACKET refused here */
		memset(v, 0, sizeof(*v));
		return r ? r
		         : __rndis_fail(-ENOMSG, err, errlen, "%s, not a PACKET",
		                        rndis_type_name(m.hdr.type));
	}
	if (err && errlen)
		err[0] = '\0';
	return __rndis_packet(&k, buf, v, err, errlen);
}

int rndis_next_packet_full(const uint8_t *buf, size_t len, size_t *pos, struct rndis_pkt_view *v,
                           char *err, size_t errlen)
{
	const uint8_t *msg;
	uint32_t mlen;
	int r = rndis_next(buf, len, pos, &msg, &mlen, err, errlen);

	if (r <= 0)
		return r;
	r = rndis_decode_packet_full(msg, mlen, v, err, errlen);
	return r < 0 ? r : 1;
}

int rndis_decode(const void *buf, size_t len, struct rndis_msg *m, char *err, size_t errlen)
{
	const size_t fixed_max = offsetof(struct rndis_msg, info); /* the union */
	const uint8_t *p = buf;
	const struct rndis__type *t;
	uint32_t n = 0, off = 0, min_abs = 0;
	int64_t abs;

	memset(m, 0, sizeof(*m));
	if (err && errlen)
		err[0] = '\0';
	if (len < RNDIS_HDR_SIZE)
		return __rndis_fail(-EBADMSG, err, errlen, "%zu bytes: no header", len);
	/* One copy of the fixed fields; every check below reads the copy. */
	memcpy(&m->hdr, p, len < fixed_max ? len : fixed_max);
	if (m->hdr.len < RNDIS_HDR_SIZE || m->hdr.len > len)
		return __rndis_fail(-EBADMSG, err, errlen, "msg_len %u outside the %zu bytes given",
		                    m->hdr.len, len);
	if (m->hdr.len < fixed_max) /* bytes past msg_len are not this message's */
		memset((uint8_t *)&m->hdr + m->hdr.len, 0, fixed_max - m->hdr.len);
	t = __rndis_type(m->hdr.type);
	if (!t)
		return __rndis_fail(-ENOTSUP, err, errlen, "unknown message type 0x%x",
		                    m->hdr.type);
	if (m->hdr.len < t->min_len)
		return __rndis_fail(-EBADMSG, err, errlen, "%s: msg_len %u, needs %u", t->name,
		                    m->hdr.len, t->min_len);

	switch (m->hdr.type) {
	case RNDIS_MSG_PACKET: {
		struct rndis_pkt_view v;
		int r = __rndis_packet(&m->pkt, p, &v, err, errlen);

		m->data = v.data;
		m->data_len = v.data_len;
		m->nppi = v.nppi;
		m->pi = v.pi;
		return r;
	}
	case RNDIS_MSG_QUERY:
	case RNDIS_MSG_SET:
		n = m->query.info_len;
		off = m->query.info_offset;
		min_abs = sizeof(struct rndis_info_req);
		break;
	case RNDIS_MSG_QUERY_C:
		n = m->query_c.info_len;
		off = m->query_c.info_offset;
		min_abs = sizeof(struct rndis_query_comp);
		break;
	case RNDIS_MSG_INDICATE:
		n = m->indicate.buf_len;
		off = m->indicate.buf_offset;
		min_abs = sizeof(struct rndis_indicate);
		break;
	}
	if (n == 0) /* no buffer: its offset means nothing */
		return 0;
	abs = __rndis_range(m->hdr.len, off, n, min_abs);
	if (abs < 0)
		return __rndis_fail(-EBADMSG, err, errlen,
		                    "%s: buffer (offset %u, %u bytes) outside the %u-byte message",
		                    t->name, off, n, m->hdr.len);
	m->info = p + abs;
	m->info_len = n;
	return 0;
}

/* Write @fixed (@fixed_len bytes, msg_len set here) then @var_len bytes of
 * @var: one whole message. */
static int __rndis_put(void *buf, size_t cap, void *fixed, size_t fixed_len, const void *var,
                       uint32_t var_len)
{
	uint64_t total = (uint64_t)fixed_len + var_len;

	if (var_len && !var)
		return -EINVAL;
	if (total > INT_MAX)
		return -EMSGSIZE;
	if (cap < total)
		return -ENOBUFS;
	((struct rndis_hdr *)fixed)->len = (uint32_t)total;
	memcpy(buf, fixed, fixed_len);
	if (var_len)
		memcpy((uint8_t *)buf + fixed_len, var, var_len);
	return (int)total;
}

#define __rndis_put_fixed(buf, cap, msg) __rndis_put(buf, cap, &(msg), sizeof(msg), NULL, 0)

/* Where a buffer right after @fixed_len bytes of fixed fields lies, as an
 * RNDIS offset. */
#define RNDIS_OFF_AFTER(fixed_len) ((uint32_t)(fixed_len)-RNDIS_OFFSET_BASE)

int rndis_encode_init(void *buf, size_t cap, uint32_t req_id, uint32_t major, uint32_t minor,
                      uint32_t max_xfer_size)
{
	struct rndis_init_req m = { RNDIS_MSG_INIT, 0, req_id, major, minor, max_xfer_size };

	return __rndis_put_fixed(buf, cap, m);
}

int rndis_encode_init_c(void *buf, size_t cap, const struct rndis_init_comp *c)
{
	struct rndis_init_comp m = *c;

	m.type = RNDIS_MSG_INIT_C;
	return __rndis_put_fixed(buf, cap, m);
}

static int __rndis_encode_id_req(void *buf, size_t cap, uint32_t type, uint32_t req_id)
{
	struct rndis_id_req m = { type, 0, req_id };

	return __rndis_put_fixed(buf, cap, m);
}

int rndis_encode_halt(void *buf, size_t cap, uint32_t req_id)
{
	return __rndis_encode_id_req(buf, cap, RNDIS_MSG_HALT, req_id);
}

int rndis_encode_reset(void *buf, size_t cap)
{
	return __rndis_encode_id_req(buf, cap, RNDIS_MSG_RESET, 0);
}

int rndis_encode_keepalive(void *buf, size_t cap, uint32_t req_id)
{
	return __rndis_encode_id_req(buf, cap, RNDIS_MSG_KEEPALIVE, req_id);
}

static int __rndis_encode_info_req(void *buf, size_t cap, uint32_t type, uint32_t req_id,
                                   uint32_t oid, const void *info, uint32_t info_len)
{
	struct rndis_info_req m = { type, 0, req_id, oid, info_len, RNDIS_OFF_AFTER(sizeof(m)), 0 };

	return __rndis_put(buf, cap, &m, sizeof(m), info, info_len);
}

int rndis_encode_query(void *buf, size_t cap, uint32_t req_id, uint32_t oid, const void *info,
                       uint32_t info_len)
{
	return __rndis_encode_info_req(buf, cap, RNDIS_MSG_QUERY, req_id, oid, info, info_len);
}

int rndis_encode_set(void *buf, size_t cap, uint32_t req_id, uint32_t oid, const void *info,
                     uint32_t info_len)
{
	return __rndis_encode_info_req(buf, cap, RNDIS_MSG_SET, req_id, oid, info, info_len);
}

int rndis_encode_query_c(void *buf, size_t cap, uint32_t req_id, uint32_t status, const void *info,
                         uint32_t info_len)
{
	struct rndis_query_comp m = { RNDIS_MSG_QUERY_C,         0, req_id, status, info_len,
		                      RNDIS_OFF_AFTER(sizeof(m)) };

	return __rndis_put(buf, cap, &m, sizeof(m), info, info_len);
}

static int __rndis_encode_comp(void *buf, size_t cap, uint32_t type, uint32_t req_id,
                               uint32_t status)
{
	struct rndis_comp m = { type, 0, req_id, status };

	return __rndis_put_fixed(buf, cap, m);
}

int rndis_encode_set_c(void *buf, size_t cap, uint32_t req_id, uint32_t status)
{
	return __rndis_encode_comp(buf, cap, RNDIS_MSG_SET_C, req_id, status);
}

int rndis_encode_keepalive_c(void *buf, size_t cap, uint32_t req_id, uint32_t status)
{
	return __rndis_encode_comp(buf, cap, RNDIS_MSG_KEEPALIVE_C, req_id, status);
}

int rndis_encode_reset_c(void *buf, size_t cap, uint32_t status, uint32_t addressing_reset)
{
	struct rndis_reset_comp m = { RNDIS_MSG_RESET_C, 0, status, addressing_reset };

	return __rndis_put_fixed(buf, cap, m);
}

int rndis_encode_indicate(void *buf, size_t cap, uint32_t status, const void *sbuf,
                          uint32_t sbuf_len)
{
	struct rndis_indicate m = { RNDIS_MSG_INDICATE, 0, status, sbuf_len,
		                    RNDIS_OFF_AFTER(sizeof(m)) };

	return __rndis_put(buf, cap, &m, sizeof(m), sbuf, sbuf_len);
}

int rndis_encode_packet_full(void *buf, size_t cap, const struct rndis_pkt_info *pi,
                             uint32_t data_len)
{
	uint32_t present = pi ? pi->present : 0, hdr = rndis_packet_hdr_len(pi);
	struct rndis_packet m = {
		.type = RNDIS_MSG_PACKET,
		.len = hdr + data_len,
		.data_offset = RNDIS_OFF_AFTER(hdr),
		.data_len = data_len,
		.ppi_offset = RNDIS_OFF_AFTER(sizeof(m)),
		.ppi_len = hdr - (uint32_t)sizeof(m),
	};
	uint8_t *p = (uint8_t *)buf + sizeof(m);

	if (data_len == 0 || (present & ~RNDIS_PI_ALL))
		return -EINVAL;
	if ((uint64_t)hdr + data_len > UINT32_MAX)
		return -EMSGSIZE;
	if (cap < hdr)
		return -ENOBUFS;
	memcpy(buf, &m, sizeof(m));
	for (uint32_t b = present; b; b &= b - 1, p += RNDIS_PPI_ENTRY) { /* in type order */
		uint32_t type = (uint32_t)__builtin_ctz(b);
		struct rndis_ppi e = { RNDIS_PPI_ENTRY, type, sizeof(e) };

		memcpy(p, &e, sizeof(e));
		memcpy(p + sizeof(e), (const uint8_t *)pi + rndis__ppi_off[type], sizeof(uint32_t));
	}
	return (int)hdr;
}

int rndis_pad(void *msg, size_t cap)
{
	struct rndis_hdr h;
	uint64_t padded;

	if (cap < sizeof(h))
		return -EBADMSG;
	memcpy(&h, msg, sizeof(h));
	if (h.len < sizeof(h) || h.len > cap)
		return -EBADMSG;
	padded = ALIGN_UP((uint64_t)h.len, RNDIS_ALIGN);
	if (padded > INT_MAX)
		return -EMSGSIZE;
	if (padded > cap)
		return -ENOBUFS;
	memset((uint8_t *)msg + h.len, 0, padded - h.len);
	h.len = (uint32_t)padded;
	memcpy(msg, &h, sizeof(h));
	return (int)padded;
}
