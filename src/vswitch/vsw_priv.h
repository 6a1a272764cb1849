/* vsw_priv — the extensible switch's internal state, shared by vsw.c (ports,
 * datapath, extensions), vsw_mac.c (the MAC table) and vsw_capture.c (pcap).
 * Not part of the API: see vsw.h for the rules.
 */
#ifndef IOVPATH_VSWITCH_VSW_PRIV_H
#define IOVPATH_VSWITCH_VSW_PRIV_H

#include "vswitch/vsw.h"

#define VSW__ETH_HLEN    14u
#define VSW__VLAN_HLEN   4u
#define VSW__ETH_P_8021Q 0x8100u
#define VSW__ETH_P_8021AD 0x88a8u
#define VSW__VID_MASK    0x0fffu
#define VSW__NVLANS      (VSW_VLAN_MAX + 1u) /* switch VLANs 0..4094 */
#define VSW__NIL         UINT32_MAX
#define VSW__SWEEP_NS    1000000000ull /* a full table is swept at most once a second */

struct vsw__capture; /* vsw_capture.c */

struct vsw__port {
	bool used;
	bool spoof_check; /* a VM port without allow_mac_spoofing */
	bool claimed;     /* spoof_check, and its MACs were learned on it: no other port learns them */
	bool allow_mac_spoofing;
	bool tx_vlan_offload;
	enum vsw_port_kind kind;
	unsigned int nmacs;
	uint64_t mac48[VSW_PORT_MACS]; /* the VM's MACs, as vsw__mac48() numbers */
	struct vsw_vlan_cfg vlan;
	const struct vsw_port_ops *ops;
	void *ctx;
	struct vsw__capture *cap; /* NULL: not capturing */
	unsigned int cap_dirs;    /* VSW_CAP_* written to it (0 when cap is NULL) */
	struct vsw_port_stats st;
	char name[VSW_NAME_LEN];
};

/* A MAC table entry; key = MAC << 12 | VLAN. Chained in a bucket by index. */
struct vsw__mac {
	uint64_t key;
	uint64_t seen; /* clock of the last frame from it */
	uint32_t next; /* next in the bucket, or in the free list; VSW__NIL ends */
	uint16_t port;
	uint8_t used;
};

/* One frame of the burst being forwarded. */
struct vsw__pkt {
	const struct vsw_frame *in;
	uint64_t dst[VSW_PORT_WORDS];
	uint16_t vlan;           /* its switch VLAN */
	uint16_t tci;            /* the tag it leaves with: PCP/DEI as it came, VID = vlan */
	bool inband;             /* in->data carries an 802.1Q tag at offset 12 */
	const uint8_t *bytes[2]; /* [0] untagged, [1] tagged with tci; NULL: not built yet */
};

struct vsw__ext {
	const struct vsw_ext_ops *ops;
	void *ctx;
};

struct vsw {
	char name[VSW_NAME_LEN];
	uint64_t (*clock)(void *arg);
	void *clock_arg;
	uint64_t age_ns;
	uint32_t max_frame;
	bool busy; /* inside vsw_input: callbacks can't reenter */

	struct vsw__port ports[VSW_MAX_PORTS];
	unsigned int nports;
	int external;                                  /* the external port's id, or -1 */
	uint64_t members[VSW__NVLANS][VSW_PORT_WORDS]; /* ports in each VLAN */

	/* MAC table: max_macs entries, chained from 2^n >= max_macs buckets. */
	struct vsw__mac *macs;
	uint32_t *buckets;
	uint32_t bucket_mask;
	uint32_t max_macs;
	uint32_t nmacs;
	uint32_t free_head;
	uint64_t seed;
	uint64_t last_sweep;
	bool swept; /* last_sweep is valid */

	/* extensions: slots, and the two chains in order (slot ids) */
	struct vsw__ext exts[VSW_MAX_EXTS];
	uint8_t cap_chain[VSW_MAX_EXTS], filter_chain[VSW_MAX_EXTS];
	unsigned int ncap, nfilter;

	int (*vf_fn)(void *arg, struct vsw *sw, unsigned int port);
	void *vf_arg;
	uint64_t vf_pending[VSW_PORT_WORDS];

	struct vsw_stats st; /* the mac_* and vf_* counters */

	/* per-burst scratch */
	struct vsw__pkt pkts[VSW_BURST];
	struct vsw_frame out[VSW_BURST];
	uint8_t *arena; /* re-tagged copies: 2 per frame at most */
	size_t arena_size, arena_used;
	uint8_t *capbuf; /* a frame as the pcap shows it; allocated by the first capture */
};

static inline bool vsw__bit(const uint64_t *map, unsigned int i)
{
	return map[i / 64] >> (i % 64) & 1;
}

static inline void vsw__bit_set(uint64_t *map, unsigned int i, bool on)
{
	if (on)
		map[i / 64] |= 1ull << (i % 64);
	else
		map[i / 64] &= ~(1ull << (i % 64));
}

static inline uint16_t vsw__be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint64_t vsw__mac48(const uint8_t *mac)
{
	return (uint64_t)mac[0] << 40 | (uint64_t)mac[1] << 32 | (uint64_t)mac[2] << 24 |
	       (uint64_t)mac[3] << 16 | (uint64_t)mac[4] << 8 | mac[5];
}

static inline bool vsw__port_owns(const struct vsw__port *p, uint64_t mac48)
{
	for (unsigned int i = 0; i < p->nmacs; i++)
		if (p->mac48[i] == mac48)
			return true;
	return false;
}

/* vsw_mac.c */
int vsw__mac_init(struct vsw *sw, uint32_t max_macs);
void vsw__mac_fini(struct vsw *sw);
/* The live entry's port for @key, or -1. */
int vsw__mac_port(const struct vsw *sw, uint64_t key, uint64_t now);
void vsw__mac_learn(struct vsw *sw, uint64_t key, unsigned int port, uint64_t now);
/* Forget every entry on @port. */
void vsw__mac_forget_port(struct vsw *sw, unsigned int port);
/* Call @fn for every live entry (vsw_dump). */
int vsw__mac_dump(const struct vsw *sw, int (*fn)(void *arg, const struct vsw_mac_info *mac),
                  void *arg);

static inline uint64_t vsw__mac_key48(uint64_t mac48, uint16_t vlan)
{
	return mac48 << 12 | vlan;
}

static inline uint64_t vsw__mac_key(const uint8_t *mac, uint16_t vlan)
{
	return vsw__mac_key48(vsw__mac48(mac), vlan);
}

/* vsw_capture.c */
/* Write @n frames to @p's capture file. */
void vsw__capture_write(struct vsw *sw, struct vsw__port *p, const struct vsw_frame *f,
                        unsigned int n);
/* Close @p's capture, if any: 0 or -EIO. */
int vsw__capture_close(struct vsw__port *p);

#endif
