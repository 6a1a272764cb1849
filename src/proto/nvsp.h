/* nvsp — the Network VSP protocol (NVSP): the control messages NetVSC (guest)
 * and NetVSP (host) exchange in VMBus in-band packets. Message layouts,
 * encoders, one validating decoder, version negotiation. No I/O.
 *
 * Every NVSP message starts with a u32 type. The fixed-size messages are
 * padded with zeros to NVSP_MSG_SIZE bytes (the size of the union of all
 * messages that the Linux and DPDK guests send); two carry a variable part:
 *
 *   SEND_RECV_BUF_COMPLETE   {type, status, num_sections} then num_sections
 *                            {offset, sub_alloc_size, num_sub_allocs, end_offset}
 *   SEND_INDIRECTION_TABLE   {type, count, offset} and count u32 channel
 *                            numbers at byte @offset counted from the START OF
 *                            THE MESSAGE (the type field), not from the count
 *                            field. Our encoder puts the table right after the
 *                            padded fixed part, at NVSP_MSG_SIZE.
 *
 * SUBCHANNEL is one type for both directions: the request (guest -> host,
 * in-band) carries {op, num_subchannels}, the completion (host -> guest, a
 * VMBus completion packet) {status, num_subchannels}. The decoder can't tell
 * them apart; both views of the union are filled and the caller picks the one
 * its direction implies.
 *
 * Versions (NVSP_VERSION_*) name the protocol revision a message appeared in;
 * the guest proposes a range in INIT, the host answers with one version in
 * INIT_COMPLETE (nvsp_version_negotiate).
 *
 * Wire format: little-endian, no alignment (decoders copy with memcpy). The
 * structs below ARE the wire layout; iovpath assumes a little-endian host.
 *
 * Thread-safety: every function is pure and reentrant.
 * Ownership: encoders write into the caller's buffer; nvsp_decode copies the
 * message into the caller's struct nvsp_msg and keeps no pointer to the input.
 * Errors: 0 or a negative errno; encoders return the bytes written.
 */
#ifndef IOVPATH_PROTO_NVSP_H
#define IOVPATH_PROTO_NVSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "NVSP wire structs assume little-endian");

/* Protocol versions, oldest first ("NVSP 1" is 2, "NVSP 2" is 0x30002). */
#define NVSP_VERSION_1  0x00002u
#define NVSP_VERSION_2  0x30002u
#define NVSP_VERSION_4  0x40000u
#define NVSP_VERSION_5  0x50000u
#define NVSP_VERSION_6  0x60000u
#define NVSP_VERSION_61 0x60001u
#define NVSP_NVERSIONS  6

/* Every version this module knows, ascending. */
extern const uint32_t nvsp_versions[NVSP_NVERSIONS];

/* Message types. */
#define NVSP_TYPE_INIT                    1u
#define NVSP_TYPE_INIT_COMPLETE           2u
#define NVSP_TYPE_SEND_NDIS_VER           100u /* v1 */
#define NVSP_TYPE_SEND_RECV_BUF           101u
#define NVSP_TYPE_SEND_RECV_BUF_COMPLETE  102u
#define NVSP_TYPE_REVOKE_RECV_BUF         103u
#define NVSP_TYPE_SEND_SEND_BUF           104u
#define NVSP_TYPE_SEND_SEND_BUF_COMPLETE  105u
#define NVSP_TYPE_REVOKE_SEND_BUF         106u
#define NVSP_TYPE_SEND_RNDIS_PKT          107u
#define NVSP_TYPE_SEND_RNDIS_PKT_COMPLETE 108u
#define NVSP_TYPE_SEND_NDIS_CONFIG        125u /* v2 (109..127: chimney, VMQ: not implemented) */
#define NVSP_TYPE_SEND_VF_ASSOCIATION     128u /* v4 */
#define NVSP_TYPE_SWITCH_DATA_PATH        129u
#define NVSP_TYPE_SUBCHANNEL              133u /* v5 (131, 132: OID_QUERY_EX, not implemented) */
#define NVSP_TYPE_SEND_INDIRECTION_TABLE  134u

/* Status values in completions. */
#define NVSP_STATUS_NONE                 0u
#define NVSP_STATUS_SUCCESS              1u
#define NVSP_STATUS_FAILED               2u
#define NVSP_STATUS_PROTOCOL_TOO_NEW     3u
#define NVSP_STATUS_PROTOCOL_TOO_OLD     4u
#define NVSP_STATUS_INVALID_RNDIS_PKT    5u
#define NVSP_STATUS_BUSY                 6u
#define NVSP_STATUS_PROTOCOL_UNSUPPORTED 7u

/* SEND_NDIS_CONFIG capability bits (u64). */
#define NVSP_CAP_VMQ            (1ull << 0)
#define NVSP_CAP_CHIMNEY        (1ull << 1)
#define NVSP_CAP_SRIOV          (1ull << 2)
#define NVSP_CAP_IEEE8021Q      (1ull << 3)
#define NVSP_CAP_CORRELATION_ID (1ull << 4)
#define NVSP_CAP_TEAMING        (1ull << 5)
#define NVSP_CAP_VSUBNET_ID     (1ull << 6)
#define NVSP_CAP_RSC            (1ull << 7)

/* SEND_RNDIS_PKT channel type: what the RNDIS message inside is. */
#define NVSP_CHANNEL_DATA    0u /* RNDIS PACKET_MSG */
#define NVSP_CHANNEL_CONTROL 1u /* any other RNDIS message */

/* SEND_RNDIS_PKT section index meaning "no send-buffer section: the RNDIS
 * message travels in the VMBus packet itself"; the section size is then 0. */
#define NVSP_SECTION_NONE 0xffffffffu

/* SWITCH_DATA_PATH */
#define NVSP_DATAPATH_SYNTHETIC 0u
#define NVSP_DATAPATH_VF        1u

/* SUBCHANNEL request op */
#define NVSP_SUBCHANNEL_ALLOCATE 1u

/* Buffer ids the Linux guest uses (any u16 is legal on the wire). */
#define NVSP_RECV_BUF_ID 0xcafeu
#define NVSP_SEND_BUF_ID 0u

/* Sizes. */
#define NVSP_MSG_SIZE          40u  /* fixed messages are padded to this */
#define NVSP_RECV_SECTIONS_MAX 4u   /* Linux accepts exactly 1 */
#define NVSP_SEND_TABLE_MAX    16u  /* the send indirection table of the Linux guest */
#define NVSP_MSG_MAX           256u /* longest message nvsp_decode accepts */

struct nvsp_hdr {
	uint32_t type;
};

/* INIT (guest -> host): the range of versions the guest speaks. */
struct nvsp_init {
	uint32_t type;
	uint32_t ver_min;
	uint32_t ver_max;
};

/* INIT_COMPLETE (host -> guest). */
struct nvsp_init_complete {
	uint32_t type;
	uint32_t ver; /* negotiated version (guests ignore it: they proposed one) */
	uint32_t max_mdl_chain_len;
	uint32_t status; /* NVSP_STATUS_* */
};

/* SEND_NDIS_VER (guest -> host, no reply): the NDIS version of the guest. */
struct nvsp_ndis_ver {
	uint32_t type;
	uint32_t major;
	uint32_t minor;
};

/* SEND_NDIS_CONFIG (guest -> host, no reply, v2+). */
struct nvsp_ndis_config {
	uint32_t type;
	uint32_t mtu;
	uint32_t rsvd;
	uint64_t caps; /* NVSP_CAP_* */
} __attribute__((packed));

/* SEND_RECV_BUF and SEND_SEND_BUF (guest -> host): a buffer the guest shared
 * as a GPADL; the host completes with SEND_RECV_BUF_COMPLETE/SEND_SEND_BUF_COMPLETE. */
struct nvsp_buf {
	uint32_t type;
	uint32_t gpadl;
	uint16_t id;
} __attribute__((packed));

/* REVOKE_RECV_BUF and REVOKE_SEND_BUF (guest -> host). */
struct nvsp_revoke_buf {
	uint32_t type;
	uint16_t id;
} __attribute__((packed));

/* One section of the receive buffer, cut into num_sub_allocs slots of
 * sub_alloc_size bytes between offset and end_offset. */
struct nvsp_recv_section {
	uint32_t offset;
	uint32_t sub_alloc_size;
	uint32_t num_sub_allocs;
	uint32_t end_offset;
};

/* SEND_RECV_BUF_COMPLETE (host -> guest); the sections follow. */
struct nvsp_recv_buf_complete {
	uint32_t type;
	uint32_t status;
	uint32_t num_sections;
};

/* SEND_SEND_BUF_COMPLETE (host -> guest): the host picks the section size. */
struct nvsp_send_buf_complete {
	uint32_t type;
	uint32_t status;
	uint32_t section_size;
};

/* SEND_RNDIS_PKT (both ways): one or more RNDIS messages follow, in the
 * VMBus packet (section_index NVSP_SECTION_NONE) or in a send-buffer section
 * (host-bound) / receive-buffer ranges (guest-bound, transfer-page packet). */
struct nvsp_rndis_pkt {
	uint32_t type;
	uint32_t channel_type;  /* NVSP_CHANNEL_* */
	uint32_t section_index; /* NVSP_SECTION_NONE or a send-buffer section */
	uint32_t section_size;  /* bytes used in that section; 0 with NVSP_SECTION_NONE */
};

/* SEND_RNDIS_PKT_COMPLETE (both ways). */
struct nvsp_rndis_pkt_complete {
	uint32_t type;
	uint32_t status;
};

/* SEND_VF_ASSOCIATION (host -> guest, v4+): a VF with this serial number
 * now belongs to the adapter (allocated 1) or no longer (0). */
struct nvsp_vf_assoc {
	uint32_t type;
	uint32_t allocated;
	uint32_t serial;
};

/* SWITCH_DATA_PATH (guest -> host, v4+). */
struct nvsp_switch_data_path {
	uint32_t type;
	uint32_t active_path; /* NVSP_DATAPATH_* */
};

/* SUBCHANNEL request (guest -> host, v5+). */
struct nvsp_subchannel_req {
	uint32_t type;
	uint32_t op; /* NVSP_SUBCHANNEL_ALLOCATE */
	uint32_t num_subchannels;
};

/* SUBCHANNEL completion (host -> guest): how many were allocated. */
struct nvsp_subchannel_complete {
	uint32_t type;
	uint32_t status;
	uint32_t num_subchannels;
};

/* SEND_INDIRECTION_TABLE (host -> guest, v5+): which channel to send on. */
struct nvsp_indirection_table {
	uint32_t type;
	uint32_t count;
	uint32_t offset; /* from the start of the message */
};

_Static_assert(sizeof(struct nvsp_init) == 12, "init");
_Static_assert(offsetof(struct nvsp_init, ver_max) == 8, "init.ver_max");
_Static_assert(sizeof(struct nvsp_init_complete) == 16, "init_complete");
_Static_assert(offsetof(struct nvsp_init_complete, status) == 12, "init_complete.status");
_Static_assert(sizeof(struct nvsp_ndis_ver) == 12, "ndis_ver");
_Static_assert(sizeof(struct nvsp_ndis_config) == 20, "ndis_config");
_Static_assert(offsetof(struct nvsp_ndis_config, caps) == 12, "ndis_config.caps");
_Static_assert(sizeof(struct nvsp_buf) == 10, "buf");
_Static_assert(offsetof(struct nvsp_buf, id) == 8, "buf.id");
_Static_assert(sizeof(struct nvsp_revoke_buf) == 6, "revoke_buf");
_Static_assert(sizeof(struct nvsp_recv_section) == 16, "recv_section");
_Static_assert(sizeof(struct nvsp_recv_buf_complete) == 12, "recv_buf_complete");
_Static_assert(sizeof(struct nvsp_send_buf_complete) == 12, "send_buf_complete");
_Static_assert(sizeof(struct nvsp_rndis_pkt) == 16, "rndis_pkt");
_Static_assert(offsetof(struct nvsp_rndis_pkt, section_index) == 8, "rndis_pkt.section_index");
_Static_assert(sizeof(struct nvsp_rndis_pkt_complete) == 8, "rndis_pkt_complete");
_Static_assert(sizeof(struct nvsp_vf_assoc) == 12, "vf_assoc");
_Static_assert(offsetof(struct nvsp_vf_assoc, serial) == 8, "vf_assoc.serial");
_Static_assert(sizeof(struct nvsp_switch_data_path) == 8, "switch_data_path");
_Static_assert(sizeof(struct nvsp_subchannel_req) == 12, "subchannel_req");
_Static_assert(sizeof(struct nvsp_subchannel_complete) == 12, "subchannel_complete");
_Static_assert(sizeof(struct nvsp_indirection_table) == 12, "indirection_table");
_Static_assert(offsetof(struct nvsp_indirection_table, offset) == 8, "indirection_table.offset");
_Static_assert(sizeof(struct nvsp_recv_buf_complete) +
                       NVSP_RECV_SECTIONS_MAX * sizeof(struct nvsp_recv_section) <=
                   NVSP_MSG_MAX,
               "largest receive-buffer completion fits");
_Static_assert(NVSP_MSG_SIZE + NVSP_SEND_TABLE_MAX * 4 <= NVSP_MSG_MAX, "largest table fits");

/* A decoded message: a copy of its fixed part, and its variable part. */
struct nvsp_msg {
	union {
		struct nvsp_hdr hdr;
		struct nvsp_init init;
		struct nvsp_init_complete init_complete;
		struct nvsp_ndis_ver ndis_ver;
		struct nvsp_ndis_config ndis_config;
		struct nvsp_buf recv_buf, send_buf;
		struct nvsp_revoke_buf revoke_recv_buf, revoke_send_buf;
		struct nvsp_recv_buf_complete recv_buf_complete;
		struct nvsp_send_buf_complete send_buf_complete;
		struct nvsp_rndis_pkt rndis_pkt;
		struct nvsp_rndis_pkt_complete rndis_pkt_complete;
		struct nvsp_vf_assoc vf_assoc;
		struct nvsp_switch_data_path switch_data_path;
		struct nvsp_subchannel_req subchannel_req;
		struct nvsp_subchannel_complete subchannel_complete;
		struct nvsp_indirection_table indirection_table;
	};
	uint32_t len; /* bytes the message had */
	/* SEND_RECV_BUF_COMPLETE: recv_buf_complete.num_sections of them */
	struct nvsp_recv_section sections[NVSP_RECV_SECTIONS_MAX];
	/* SEND_INDIRECTION_TABLE: indirection_table.count entries */
	uint32_t table[NVSP_SEND_TABLE_MAX];
};

/* Decode one message of @len bytes at @buf (e.g. a VMBus packet's payload).
 * The bytes are copied once, then only the copy is checked and used:
 *   - the type is one of NVSP_TYPE_* above;
 *   - @len covers the type's fixed fields (padding is not required) and is at
 *     most NVSP_MSG_MAX;
 *   - SEND_RECV_BUF_COMPLETE: num_sections <= NVSP_RECV_SECTIONS_MAX (0 only
 *     with a status other than success) and the sections lie inside @len;
 *   - SEND_INDIRECTION_TABLE: 1 <= count <= NVSP_SEND_TABLE_MAX, the table
 *     starts after the fixed fields, is 4-byte aligned and ends inside @len;
 *   - enumerated fields hold a defined value: channel type, data path, VF
 *     allocated flag; NVSP_SECTION_NONE comes with section size 0.
 * Range checks against the peer's state (a section index against the number of
 * send-buffer sections, a version against the negotiated one) are the
 * caller's: see nvsp_section_valid() and nvsp_type_min_version().
 * On error, @err (if not NULL) receives a human-readable reason.
 * Returns 0; -EBADMSG (too short, too long, a count or offset outside the
 * message), -ENOTSUP (unknown or unimplemented type), -EPROTO (a field holds
 * a value the protocol does not define). */
int nvsp_decode(const void *buf, size_t len, struct nvsp_msg *out, char *err, size_t errlen);

/* Encoders: write one message into @buf (@len bytes), zero-padded to
 * NVSP_MSG_SIZE. Return the bytes written, or -ENOBUFS when @len is too
 * small, -EINVAL for an argument no valid message carries. */
int nvsp_encode_init(void *buf, size_t len, uint32_t ver_min, uint32_t ver_max);
int nvsp_encode_init_complete(void *buf, size_t len, uint32_t ver, uint32_t max_mdl_chain_len,
                              uint32_t status);
int nvsp_encode_ndis_ver(void *buf, size_t len, uint32_t major, uint32_t minor);
int nvsp_encode_ndis_config(void *buf, size_t len, uint32_t mtu, uint64_t caps);
int nvsp_encode_recv_buf(void *buf, size_t len, uint32_t gpadl, uint16_t id);
/* -EINVAL when @n > NVSP_RECV_SECTIONS_MAX, or 0 with NVSP_STATUS_SUCCESS. */
int nvsp_encode_recv_buf_complete(void *buf, size_t len, uint32_t status,
                                  const struct nvsp_recv_section *sections, uint32_t n);
int nvsp_encode_revoke_recv_buf(void *buf, size_t len, uint16_t id);
int nvsp_encode_send_buf(void *buf, size_t len, uint32_t gpadl, uint16_t id);
int nvsp_encode_send_buf_complete(void *buf, size_t len, uint32_t status, uint32_t section_size);
int nvsp_encode_revoke_send_buf(void *buf, size_t len, uint16_t id);
/* -EINVAL for NVSP_SECTION_NONE with a nonzero @section_size. */
int nvsp_encode_rndis_pkt(void *buf, size_t len, uint32_t channel_type, uint32_t section_index,
                          uint32_t section_size);
int nvsp_encode_rndis_pkt_complete(void *buf, size_t len, uint32_t status);
int nvsp_encode_vf_assoc(void *buf, size_t len, uint32_t allocated, uint32_t serial);
int nvsp_encode_switch_data_path(void *buf, size_t len, uint32_t active_path);
int nvsp_encode_subchannel_req(void *buf, size_t len, uint32_t op, uint32_t num_subchannels);
int nvsp_encode_subchannel_complete(void *buf, size_t len, uint32_t status,
                                    uint32_t num_subchannels);
/* The table goes at offset NVSP_MSG_SIZE; -EINVAL unless 1 <= @count <= NVSP_SEND_TABLE_MAX. */
int nvsp_encode_indirection_table(void *buf, size_t len, const uint32_t *table, uint32_t count);

/* Host side of INIT: the highest version in @host (@n entries, any order)
 * that the guest's [@ver_min, @ver_max] contains and this module knows.
 * Returns 0 with *@ver set; -EINVAL when @ver_min > @ver_max; -ENOTSUP when
 * there is no common version (answer INIT_COMPLETE with NVSP_STATUS_FAILED). */
int nvsp_version_negotiate(uint32_t ver_min, uint32_t ver_max, const uint32_t *host, size_t n,
                           uint32_t *ver);

/* The version that introduced message @type (0: not a type of this module).
 * A message whose version is above the negotiated one is a protocol error. */
uint32_t nvsp_type_min_version(uint32_t type);

/* The name of message @type for logs ("SEND_RNDIS_PKT"; "UNKNOWN"). */
const char *nvsp_type_name(uint32_t type);

/* True when send-buffer section @idx exists in a buffer of @count sections.
 * NVSP_SECTION_NONE is never a section (check for it first). */
static inline bool nvsp_section_valid(uint32_t idx, uint32_t count)
{
	return idx != NVSP_SECTION_NONE && idx < count;
}

#endif
