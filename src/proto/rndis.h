/* rndis — Remote NDIS messages as Hyper-V carries them inside NVSP
 * SEND_RNDIS_PKT: layouts, encoders, a transfer iterator and a validating
 * decoder. No I/O.
 *
 * Every message starts with {u32 type, u32 msg_len}; msg_len counts the whole
 * message, header included.
 *
 * OFFSETS. Every *_offset field in RNDIS (data_offset, ppi_offset, oob_offset
 * of PACKET_MSG; info_offset of QUERY, SET and QUERY_C; buf_offset of
 * INDICATE_STATUS) counts from byte RNDIS_OFFSET_BASE (8) of the message: the
 * first byte after msg_len, i.e. the request id, or data_offset itself in a
 * PACKET_MSG. NOT from the start of the message:
 *
 *   0        8                                      44
 *   | type | msg_len | data_offset ... reserved     | PPIs ... | frame ... |
 *                    ^ offsets count from here       ^ 36       ^ 36 + ppi_len
 *
 * The one exception is inside a per-packet-info entry: its own offset field
 * counts from the start of that entry (12: the data follows the 3 fields).
 *
 * TRANSFERS. One NVSP SEND_RNDIS_PKT may carry several RNDIS messages back to
 * back (a send-buffer section holding a batch of packets). Each message but
 * the last has msg_len padded to a multiple of RNDIS_ALIGN (8, the packet
 * alignment factor 3 the host announces in INITIALIZE_CMPLT), so every message
 * starts 8-byte aligned. rndis_next() walks such a transfer; rndis_pad()
 * pads a message before another is appended.
 *
 * Wire format: little-endian u32 fields; the structs below ARE the wire layout
 * (iovpath assumes a little-endian host). Input may be unaligned: the decoder
 * copies with memcpy.
 *
 * Thread-safety: every function is pure and reentrant.
 * Ownership: rndis_decode() copies the fixed fields into the caller's struct
 * rndis_msg and hands back pointers INTO the caller's buffer for the variable
 * parts (info buffer, frame). That buffer must be the caller's private copy
 * (never memory the peer can still write) and must outlive the struct.
 * Errors: 0 or a negative errno; encoders return the bytes written.
 */
#ifndef IOVPATH_PROTO_RNDIS_H
#define IOVPATH_PROTO_RNDIS_H

#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "RNDIS wire structs assume little-endian");

#define RNDIS_HDR_SIZE          8u
#define RNDIS_OFFSET_BASE       8u /* offsets count from here (see above) */
#define RNDIS_ALIGN             8u /* messages in one transfer start 8-byte aligned */
#define RNDIS_ALIGN_FACTOR      3u /* log2(RNDIS_ALIGN), as INITIALIZE_CMPLT says it */
#define RNDIS_MAJOR_VERSION     1u
#define RNDIS_MINOR_VERSION     0u
#define RNDIS_DF_CONNECTIONLESS 0x1u /* INITIALIZE_CMPLT device flags */
#define RNDIS_MEDIUM_802_3      0u

/* Message types. */
#define RNDIS_MSG_COMPLETION  0x80000000u
#define RNDIS_MSG_PACKET      0x00000001u
#define RNDIS_MSG_INIT        0x00000002u
#define RNDIS_MSG_INIT_C      (RNDIS_MSG_INIT | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_HALT        0x00000003u /* no completion */
#define RNDIS_MSG_QUERY       0x00000004u
#define RNDIS_MSG_QUERY_C     (RNDIS_MSG_QUERY | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_SET         0x00000005u
#define RNDIS_MSG_SET_C       (RNDIS_MSG_SET | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_RESET       0x00000006u
#define RNDIS_MSG_RESET_C     (RNDIS_MSG_RESET | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_INDICATE    0x00000007u /* NetVSP -> NetVSC, no completion */
#define RNDIS_MSG_KEEPALIVE   0x00000008u
#define RNDIS_MSG_KEEPALIVE_C (RNDIS_MSG_KEEPALIVE | RNDIS_MSG_COMPLETION)

/* Status values (NDIS_STATUS_*): completions and INDICATE_STATUS. */
#define RNDIS_STATUS_SUCCESS           0x00000000u
#define RNDIS_STATUS_MEDIA_CONNECT     0x4001000bu
#define RNDIS_STATUS_MEDIA_DISCONNECT  0x4001000cu
#define RNDIS_STATUS_LINK_SPEED_CHANGE 0x40010013u
#define RNDIS_STATUS_NETWORK_CHANGE    0x40010018u
#define RNDIS_STATUS_FAILURE           0xc0000001u
#define RNDIS_STATUS_RESOURCES         0xc000009au
#define RNDIS_STATUS_NOT_SUPPORTED     0xc00000bbu
#define RNDIS_STATUS_BAD_VERSION       0xc0010004u
#define RNDIS_STATUS_MULTICAST_FULL    0xc0010009u
#define RNDIS_STATUS_ADAPTER_NOT_READY 0xc0010011u
#define RNDIS_STATUS_INVALID_LENGTH    0xc0010014u
#define RNDIS_STATUS_INVALID_DATA      0xc0010015u
#define RNDIS_STATUS_BUFFER_TOO_SHORT  0xc0010016u

/* Per-packet-info types (NDIS_PER_PACKET_INFO numbering). A type with
 * RNDIS_PPI_INTERNAL set belongs to Hyper-V's private space. */
#define RNDIS_PPI_CSUM       0u /* TCP/IP checksum info */
#define RNDIS_PPI_LSO        2u /* TCP large send (LSO v2) */
#define RNDIS_PPI_VLAN       6u /* IEEE 802.1Q info */
#define RNDIS_PPI_HASH_VALUE 8u /* RSS hash value */
#define RNDIS_PPI_HASH_INFO  9u /* RSS hash type and function */
#define RNDIS_PPI_INTERNAL   0x80000000u

/* struct rndis_pkt_info.present bits: one per PPI type. */
#define RNDIS_PI(type)      (1u << (type))
#define RNDIS_PI_CSUM       RNDIS_PI(RNDIS_PPI_CSUM)
#define RNDIS_PI_LSO        RNDIS_PI(RNDIS_PPI_LSO)
#define RNDIS_PI_VLAN       RNDIS_PI(RNDIS_PPI_VLAN)
#define RNDIS_PI_HASH_VALUE RNDIS_PI(RNDIS_PPI_HASH_VALUE)
#define RNDIS_PI_HASH_INFO  RNDIS_PI(RNDIS_PPI_HASH_INFO)
#define RNDIS_PI_ALL                                                                               \
	(RNDIS_PI_CSUM | RNDIS_PI_LSO | RNDIS_PI_VLAN | RNDIS_PI_HASH_VALUE | RNDIS_PI_HASH_INFO)

/* Checksum info, transmit layout (guest asks the host to compute). */
#define RNDIS_CSUM_TX_IPV4        0x00000001u
#define RNDIS_CSUM_TX_IPV6        0x00000002u
#define RNDIS_CSUM_TX_TCP         0x00000004u
#define RNDIS_CSUM_TX_UDP         0x00000008u
#define RNDIS_CSUM_TX_IP          0x00000010u /* IPv4 header checksum */
#define RNDIS_CSUM_TX_THOFF_SHIFT 16          /* 10 bits: L4 header offset in the frame */
#define RNDIS_CSUM_TX_THOFF_MASK  0x03ff0000u
/* Checksum info, receive layout (host tells what it verified). */
#define RNDIS_CSUM_RX_TCP_FAILED  0x0001u
#define RNDIS_CSUM_RX_UDP_FAILED  0x0002u
#define RNDIS_CSUM_RX_IP_FAILED   0x0004u
#define RNDIS_CSUM_RX_TCP_OK      0x0008u
#define RNDIS_CSUM_RX_UDP_OK      0x0010u
#define RNDIS_CSUM_RX_IP_OK       0x0020u
#define RNDIS_CSUM_RX_LOOPBACK    0x0040u
#define RNDIS_CSUM_RX_TCP_INVALID 0x0080u
#define RNDIS_CSUM_RX_IP_INVALID  0x0100u

/* LSO v2 info (transmit): MSS in bits 0..19, TCP header offset in 20..29,
 * bit 30 = LSO v2 (vs v1), bit 31 = IPv6 (vs IPv4). */
#define RNDIS_LSO_MSS_MASK    0x000fffffu
#define RNDIS_LSO_THOFF_SHIFT 20
#define RNDIS_LSO_THOFF_MASK  0x3ff00000u
#define RNDIS_LSO_V2          0x40000000u
#define RNDIS_LSO_IPV6        0x80000000u

/* 802.1Q info: priority in bits 0..2, CFI bit 3, VLAN id in 4..15. */
#define RNDIS_VLAN_PRI_MASK 0x0007u
#define RNDIS_VLAN_CFI      0x0008u
#define RNDIS_VLAN_ID_SHIFT 4
#define RNDIS_VLAN_ID_MASK  0xfff0u

/* Hash info: function in bits 0..7, hash types above. */
#define RNDIS_HASH_FUNC_TOEPLITZ 0x00000001u
#define RNDIS_HASH_IPV4          0x00000100u
#define RNDIS_HASH_TCP_IPV4      0x00000200u
#define RNDIS_HASH_IPV6          0x00000400u
#define RNDIS_HASH_IPV6_EX       0x00000800u
#define RNDIS_HASH_TCP_IPV6      0x00001000u
#define RNDIS_HASH_TCP_IPV6_EX   0x00002000u
#define RNDIS_HASH_UDP_IPV4      0x00004000u

struct rndis_hdr {
	uint32_t type;
	uint32_t len; /* msg_len: the whole message */
};

/* INITIALIZE (guest -> host). */
struct rndis_init_req {
	uint32_t type;
	uint32_t len;
	uint32_t req_id;
	uint32_t major;
	uint32_t minor;
	uint32_t max_xfer_size; /* largest transfer the guest accepts */
};

/* INITIALIZE_CMPLT (host -> guest). */
struct rndis_init_comp {
	uint32_t type;
	uint32_t len;
	uint32_t req_id;
	uint32_t status;
	uint32_t major;
	uint32_t minor;
	uint32_t dev_flags; /* RNDIS_DF_CONNECTIONLESS */
	uint32_t medium;    /* RNDIS_MEDIUM_802_3 */
	uint32_t max_pkts_per_msg;
	uint32_t max_xfer_size;
	uint32_t pkt_align_factor; /* messages in a transfer align to 1 << this */
	uint32_t af_list_offset;   /* connection-oriented devices only: 0 */
	uint32_t af_list_size;
};

/* HALT, RESET (req_id is reserved there), KEEPALIVE requests. */
struct rndis_id_req {
	uint32_t type;
	uint32_t len;
	uint32_t req_id;
};

/* QUERY and SET requests (guest -> host): the info buffer is the OID's
 * input (SET: the new value; QUERY: optional, e.g. an NDIS object header). */
struct rndis_info_req {
	uint32_t type;
	uint32_t len;
	uint32_t req_id;
	uint32_t oid;
	uint32_t info_len;
	uint32_t info_offset; /* from RNDIS_OFFSET_BASE */
	uint32_t dev_vc_handle;
};

/* QUERY_CMPLT: the info buffer is the OID's value. */
struct rndis_query_comp {
	uint32_t type;
	uint32_t len;
	uint32_t req_id;
	uint32_t status;
	uint32_t info_len;
	uint32_t info_offset; /* from RNDIS_OFFSET_BASE */
};

/* SET_CMPLT and KEEPALIVE_CMPLT. */
struct rndis_comp {
	uint32_t type;
	uint32_t len;
	uint32_t req_id;
	uint32_t status;
};

/* RESET_CMPLT: no request id. */
struct rndis_reset_comp {
	uint32_t type;
	uint32_t len;
	uint32_t status;
	uint32_t addressing_reset; /* 1: the guest must set filter and multicast list again */
};

/* INDICATE_STATUS (host -> guest): media connect/disconnect, network change... */
struct rndis_indicate {
	uint32_t type;
	uint32_t len;
	uint32_t status; /* RNDIS_STATUS_MEDIA_CONNECT ... */
	uint32_t buf_len;
	uint32_t buf_offset; /* from RNDIS_OFFSET_BASE */
};

/* PACKET_MSG: one Ethernet frame and its per-packet info. */
struct rndis_packet {
	uint32_t type;
	uint32_t len;
	uint32_t data_offset; /* from RNDIS_OFFSET_BASE */
	uint32_t data_len;
	uint32_t oob_offset; /* out-of-band data: unused by Hyper-V, 0 */
	uint32_t oob_len;
	uint32_t oob_count;
	uint32_t ppi_offset; /* from RNDIS_OFFSET_BASE */
	uint32_t ppi_len;
	uint32_t vc_handle;
	uint32_t reserved;
};

/* One per-packet-info entry; @offset counts from the entry's start. */
struct rndis_ppi {
	uint32_t size; /* the whole entry, a multiple of 4 */
	uint32_t type; /* RNDIS_PPI_* */
	uint32_t offset;
};

_Static_assert(sizeof(struct rndis_hdr) == RNDIS_HDR_SIZE, "hdr");
_Static_assert(sizeof(struct rndis_init_req) == 24, "init");
_Static_assert(offsetof(struct rndis_init_req, max_xfer_size) == 20, "init.max_xfer_size");
_Static_assert(sizeof(struct rndis_init_comp) == 52, "init_c");
_Static_assert(offsetof(struct rndis_init_comp, max_pkts_per_msg) == 32, "init_c.max_pkts");
_Static_assert(offsetof(struct rndis_init_comp, pkt_align_factor) == 40, "init_c.align");
_Static_assert(sizeof(struct rndis_id_req) == 12, "id_req");
_Static_assert(sizeof(struct rndis_info_req) == 28, "query/set");
_Static_assert(offsetof(struct rndis_info_req, info_offset) == 20, "query.info_offset");
_Static_assert(sizeof(struct rndis_query_comp) == 24, "query_c");
_Static_assert(offsetof(struct rndis_query_comp, info_offset) == 20, "query_c.info_offset");
_Static_assert(sizeof(struct rndis_comp) == 16, "set_c/keepalive_c");
_Static_assert(sizeof(struct rndis_reset_comp) == 16, "reset_c");
_Static_assert(offsetof(struct rndis_reset_comp, status) == 8, "reset_c.status");
_Static_assert(sizeof(struct rndis_indicate) == 20, "indicate");
_Static_assert(offsetof(struct rndis_indicate, buf_offset) == 16, "indicate.buf_offset");
_Static_assert(sizeof(struct rndis_packet) == 44, "packet");
_Static_assert(offsetof(struct rndis_packet, data_offset) == RNDIS_OFFSET_BASE, "packet.data");
_Static_assert(offsetof(struct rndis_packet, ppi_offset) == 28, "packet.ppi_offset");
_Static_assert(sizeof(struct rndis_ppi) == 12, "ppi");

/* Per-packet info of a PACKET_MSG, decoded (or to encode): the value of each
 * known PPI whose RNDIS_PI_* bit is in @present. Which layout @csum has
 * (RNDIS_CSUM_TX_* or RNDIS_CSUM_RX_*) follows from the direction. */
struct rndis_pkt_info {
	uint32_t present;
	uint32_t csum;
	uint32_t lso;
	uint32_t vlan;
	uint32_t hash_value;
	uint32_t hash_info;
};

/* A decoded message. */
struct rndis_msg {
	union {
		struct rndis_hdr hdr;
		struct rndis_init_req init;
		struct rndis_init_comp init_c;
		struct rndis_id_req halt, reset, keepalive;
		struct rndis_info_req query, set;
		struct rndis_query_comp query_c;
		struct rndis_comp set_c, keepalive_c;
		struct rndis_reset_comp reset_c;
		struct rndis_indicate indicate;
		struct rndis_packet pkt;
	};
	/* QUERY, SET, QUERY_C: the info buffer; INDICATE: the status buffer.
	 * Points into the decoded buffer; NULL when info_len is 0. */
	const uint8_t *info;
	uint32_t info_len;
	/* PACKET: the frame (data_len >= 1), pointing into the decoded buffer. */
	const uint8_t *data;
	uint32_t data_len;
	struct rndis_pkt_info pi; /* PACKET: known PPIs */
	uint32_t nppi;            /* PACKET: PPI entries, unknown ones included */
};

/* Walk a transfer of @len bytes holding RNDIS messages back to back. *@pos
 * (start at 0) is where the next message begins; on success *@msg and
 * *@msg_len name it and *@pos moves past it. Each msg_len must be at least
 * RNDIS_HDR_SIZE, fit in what is left, and be a multiple of RNDIS_ALIGN when
 * another message follows. The messages themselves are not decoded.
 * Returns 1 (a message), 0 (the transfer is done), -EBADMSG (a bad msg_len or
 * trailing bytes; @err says which, *@pos is left at the bad message). */
int rndis_next(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **msg, uint32_t *msg_len,
               char *err, size_t errlen);

/* A PACKET_MSG as the data path needs it: the frame and its known PPIs. */
struct rndis_pkt_view {
	const uint8_t *data; /* into the decoded buffer; data_len >= 1 */
	uint32_t data_len;
	uint32_t nppi; /* PPI entries, unknown ones included */
	struct rndis_pkt_info pi;
};

/* The data path's decoder: the checks rndis_decode() makes on a PACKET_MSG
 * (one implementation serves both), into @v, without the work a control
 * message needs. Returns 0, -ENOMSG (a plausible header of another type:
 * decode it with rndis_decode), or rndis_decode's errors with @err. */
int rndis_decode_packet_full(const void *buf, size_t len, struct rndis_pkt_view *v, char *err,
                             size_t errlen);

/* The data path's walk: rndis_next() and rndis_decode_packet() in one step.
 * Returns 1 (*@v is the packet, *@pos moved past it), 0 (the transfer is
 * done), or their errors with @err. */
int rndis_next_packet_full(const uint8_t *buf, size_t len, size_t *pos, struct rndis_pkt_view *v,
                           char *err, size_t errlen);

/* The frame of a plain PACKET_MSG — the common case: no PPI, no OOB data —
 * at @msg (msg_len <= @len), after the checks rndis_decode() makes on one:
 * its msg_len, or 0 for anything else (the full decoder then decides). */
static inline uint32_t rndis__plain_packet(const uint8_t *msg, size_t len,
                                           struct rndis_pkt_view *v)
{
	struct rndis_packet k;
	uint64_t abs;

	if (len < sizeof(k))
		return 0;
	__builtin_memcpy(&k, msg, sizeof(k)); /* one read of memory the peer may write */
	abs = (uint64_t)k.data_offset + RNDIS_OFFSET_BASE;
	if (k.type != RNDIS_MSG_PACKET || k.len < sizeof(k) || k.len > len || k.oob_len ||
	    k.ppi_len || !k.data_len || abs < sizeof(k) || abs + k.data_len > k.len)
		return 0;
	*v = (struct rndis_pkt_view){ .data = msg + abs, .data_len = k.data_len };
	return k.len;
}

static inline int rndis_decode_packet(const void *buf, size_t len, struct rndis_pkt_view *v,
                                      char *err, size_t errlen)
{
	if (__builtin_expect(rndis__plain_packet((const uint8_t *)buf, len, v) != 0, 1))
		return 0;
	return rndis_decode_packet_full(buf, len, v, err, errlen);
}

static inline int rndis_next_packet(const uint8_t *buf, size_t len, size_t *pos,
                                    struct rndis_pkt_view *v, char *err, size_t errlen)
{
	size_t left = len - *pos;
	uint32_t n;

	if (__builtin_expect(*pos < len, 1) &&
	    (n = rndis__plain_packet(buf + *pos, left, v)) != 0 &&
	    (n == left || n % RNDIS_ALIGN == 0)) {
		*pos += n;
		return 1;
	}
	return rndis_next_packet_full(buf, len, pos, v, err, errlen);
}

/* Decode the message at @buf; @len bytes are readable and the message is
 * the first msg_len of them. Checks, on a copy of the fixed fields:
 *   - RNDIS_HDR_SIZE <= msg_len <= @len; the type is known; msg_len covers
 *     the type's fixed fields (INITIALIZE_CMPLT may omit af_list_size);
 *   - every offset/length pair (info, status buffer, data, PPIs, OOB) lies
 *     inside the message, after the fixed fields, computed without overflow;
 *   - PACKET: data_len > 0; the PPI area is 4-byte aligned and splits exactly
 *     into entries whose size is a multiple of 4 with 12 <= offset <= size;
 *     a known PPI carries at least 4 bytes and appears at most once.
 * Fills @out (pointers into @buf, see "Ownership"). On error @err (if not
 * NULL) receives a reason. Returns 0; -EBADMSG (a length or offset outside
 * the message, a malformed PPI); -ENOTSUP (unknown type); -EPROTO (PACKET
 * with no data, a PPI repeated). */
int rndis_decode(const void *buf, size_t len, struct rndis_msg *out, char *err, size_t errlen);

/* Encoders. Each writes one message at @buf (@cap bytes) with its exact
 * msg_len, every offset pointing right after the fixed fields. They return
 * the bytes written or -ENOBUFS (@cap too small), -EINVAL (bad argument),
 * -EMSGSIZE (the message would be larger than INT_MAX bytes). */
int rndis_encode_init(void *buf, size_t cap, uint32_t req_id, uint32_t major, uint32_t minor,
                      uint32_t max_xfer_size);
/* @c: every field but type and len, which the encoder sets. */
int rndis_encode_init_c(void *buf, size_t cap, const struct rndis_init_comp *c);
int rndis_encode_halt(void *buf, size_t cap, uint32_t req_id);
int rndis_encode_query(void *buf, size_t cap, uint32_t req_id, uint32_t oid, const void *info,
                       uint32_t info_len);
int rndis_encode_query_c(void *buf, size_t cap, uint32_t req_id, uint32_t status, const void *info,
                         uint32_t info_len);
int rndis_encode_set(void *buf, size_t cap, uint32_t req_id, uint32_t oid, const void *info,
                     uint32_t info_len);
int rndis_encode_set_c(void *buf, size_t cap, uint32_t req_id, uint32_t status);
int rndis_encode_reset(void *buf, size_t cap);
int rndis_encode_reset_c(void *buf, size_t cap, uint32_t status, uint32_t addressing_reset);
int rndis_encode_keepalive(void *buf, size_t cap, uint32_t req_id);
int rndis_encode_keepalive_c(void *buf, size_t cap, uint32_t req_id, uint32_t status);
int rndis_encode_indicate(void *buf, size_t cap, uint32_t status, const void *sbuf,
                          uint32_t sbuf_len);

/* PACKET_MSG: write the header and one 16-byte PPI per bit of @pi->present
 * (NULL: none), in PPI type order, for a frame of @data_len bytes that the
 * caller places right after them (at @buf + the return value; @cap need only
 * hold the header). msg_len = header + @data_len, unpadded.
 * Returns the header bytes; -EINVAL (@data_len 0, an unknown present bit),
 * -ENOBUFS, -EMSGSIZE. */
int rndis_encode_packet_full(void *buf, size_t cap, const struct rndis_pkt_info *pi,
                             uint32_t data_len);

#define RNDIS_PPI_ENTRY 16u /* what the encoder writes per PPI: header + one u32 */

/* Bytes rndis_encode_packet() writes before the frame for @pi (NULL: none). */
static inline uint32_t rndis_packet_hdr_len(const struct rndis_pkt_info *pi)
{
	uint32_t n = 0;

	/* a handful of bits: no libgcc popcount call on the per-frame path */
	for (uint32_t b = pi ? pi->present & RNDIS_PI_ALL : 0; b; b &= b - 1)
		n++;
	return (uint32_t)sizeof(struct rndis_packet) + n * RNDIS_PPI_ENTRY;
}

/* One little-endian word from a register into @p, unaligned allowed. */
static inline void rndis_put64(void *p, uint64_t v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

static inline void rndis_put32(void *p, uint32_t v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

/* The header of a PACKET_MSG with no PPI at @buf (sizeof(struct rndis_packet)
 * bytes), its frame of @data_len bytes right after it and @msg_len bytes in
 * all (at least sizeof(struct rndis_packet) + @data_len: pad bytes after the
 * frame are the caller's). Stored as whole words straight into @buf: a struct
 * built on the stack and copied would be read back before its stores settle. */
static inline void rndis_put_plain_packet(uint8_t *buf, uint32_t data_len, uint32_t msg_len)
{
	const uint64_t off = sizeof(struct rndis_packet) - RNDIS_OFFSET_BASE;

	rndis_put64(buf, RNDIS_MSG_PACKET | (uint64_t)msg_len << 32);
	rndis_put64(buf + 8, off | (uint64_t)data_len << 32); /* data_offset, data_len */
	rndis_put64(buf + 16, 0);                             /* oob_offset, oob_len */
	rndis_put64(buf + 24, off << 32);                     /* oob_count, ppi_offset */
	rndis_put64(buf + 32, 0);                             /* ppi_len, vc_handle */
	rndis_put32(buf + 40, 0);                             /* reserved */
}

/* Inline for a frame with no PPI, most of them. */
static inline int rndis_encode_packet(void *buf, size_t cap, const struct rndis_pkt_info *pi,
                                      uint32_t data_len)
{
	if ((!pi || !pi->present) && data_len &&
	    data_len <= UINT32_MAX - sizeof(struct rndis_packet) &&
	    cap >= sizeof(struct rndis_packet)) {
		rndis_put_plain_packet(buf, data_len,
		                       (uint32_t)sizeof(struct rndis_packet) + data_len);
		return (int)sizeof(struct rndis_packet);
	}
	return rndis_encode_packet_full(buf, cap, pi, data_len);
}

/* Before another message is appended after the one at @msg: round its msg_len
 * up to a multiple of RNDIS_ALIGN and zero the pad bytes (@cap bytes from
 * @msg are writable). Returns the new msg_len, -ENOBUFS, -EBADMSG (the
 * header is not a plausible message). */
int rndis_pad(void *msg, size_t cap);

/* The name of message type @type for logs ("QUERY_C"; "UNKNOWN"). */
const char *rndis_type_name(uint32_t type);

/* PPI value helpers. */
static inline uint32_t rndis_vlan_info(uint16_t vlan_id, uint8_t pri)
{
	return (pri & RNDIS_VLAN_PRI_MASK) |
	       (((uint32_t)vlan_id << RNDIS_VLAN_ID_SHIFT) & RNDIS_VLAN_ID_MASK);
}
static inline uint16_t rndis_vlan_id(uint32_t v)
{
	return (uint16_t)((v & RNDIS_VLAN_ID_MASK) >> RNDIS_VLAN_ID_SHIFT);
}
static inline uint8_t rndis_vlan_pri(uint32_t v)
{
	return (uint8_t)(v & RNDIS_VLAN_PRI_MASK);
}

static inline uint32_t rndis_lso2_info(uint32_t thoff, uint32_t mss, int ipv6)
{
	return (mss & RNDIS_LSO_MSS_MASK) |
	       ((thoff << RNDIS_LSO_THOFF_SHIFT) & RNDIS_LSO_THOFF_MASK) | RNDIS_LSO_V2 |
	       (ipv6 ? RNDIS_LSO_IPV6 : 0);
}
static inline uint32_t rndis_lso_mss(uint32_t v)
{
	return v & RNDIS_LSO_MSS_MASK;
}
static inline uint32_t rndis_lso_thoff(uint32_t v)
{
	return (v & RNDIS_LSO_THOFF_MASK) >> RNDIS_LSO_THOFF_SHIFT;
}

/* Transmit checksum request: @flags RNDIS_CSUM_TX_*, L4 header at @thoff. */
static inline uint32_t rndis_csum_tx_info(uint32_t flags, uint32_t thoff)
{
	return (flags & ~RNDIS_CSUM_TX_THOFF_MASK) |
	       ((thoff << RNDIS_CSUM_TX_THOFF_SHIFT) & RNDIS_CSUM_TX_THOFF_MASK);
}
static inline uint32_t rndis_csum_tx_thoff(uint32_t v)
{
	return (v & RNDIS_CSUM_TX_THOFF_MASK) >> RNDIS_CSUM_TX_THOFF_SHIFT;
}

#endif
