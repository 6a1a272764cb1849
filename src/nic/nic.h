/* nic — the emulated SR-IOV NIC: its control plane (the operations the PF
 * driver issues) and its forwarding decision (what the NIC switch does with
 * one frame). No I/O, no threads, no shared memory: the queue-pair datapath
 * moves the frames, calls nic_lookup() for each and reports what happened
 * with nic_vport_count().
 *
 *                          +-------------- NIC -----------------+
 *     host switch ---------| VPort 0 (default, PF)              |
 *     (PF driver)          | VPort k (PF)        NIC switch  ---+---- physical port
 *     VF n driver ---------| VPort m (VF n)      (id 0)         |     (NIC_PORT_WIRE)
 *                          +------------------------------------+
 *
 * Objects and their rules (errors are listed per call below):
 *   - one NIC switch (id 0). Creating it creates VPort 0, the default VPort:
 *     attached to the PF, always active, deleted only with the switch.
 *   - VFs: allocated for a VM adapter (its MAC) with a 32-bit serial number
 *     that is never handed out twice in the NIC's life. A VF has at most one
 *     VPort; it can't be freed while it has one.
 *   - VPorts 1..max_vports-1: attached for life to the PF or to one VF, with a
 *     power-of-two number of queue pairs drawn from the NIC's pool.
 *   - receive filters: (MAC, VLAN) -> VPort, each (MAC, VLAN) at most once in
 *     the switch. VLAN 0 means "MAC only": the filter takes untagged and
 *     VLAN-0 (priority-tagged) frames; VLAN 1..4094 takes that VLAN only.
 *     nic_filter_move() changes a filter's VPort in one call: there is no
 *     instant at which the (MAC, VLAN) has no VPort, or two.
 *
 * Forwarding (nic_lookup), for a frame entering the switch from @src:
 *   - malformed (runt, truncated tag, VLAN 4095, multicast source) -> drop.
 *   - from a VF's VPort: the source MAC must be the VF's and the VPort must
 *     own a filter for (source MAC, frame VLAN), else drop "spoof". So a VF
 *     sends on exactly the (MAC, VLAN) pairs it receives on.
 *   - unicast: the VPort whose filter matches (destination MAC, frame VLAN);
 *     no match: from the wire -> the default VPort (the host switch sorts it
 *     out); from any VPort -> the wire. A VF-to-VF frame never leaves the NIC.
 *     The host's synthetic VMs are reached through their filters on VPort 0.
 *   - broadcast/multicast: every active VPort with a filter on the frame's
 *     VLAN, plus the default VPort, plus the wire when the frame did not come
 *     from it.
 *   - never back to @src; a VPort that is not active (queues stopped by an
 *     FLR, VF in D3hot) neither sends nor receives.
 *
 * Thread-safety: none inside. The caller serializes every call on one NIC;
 * nic_lookup() and the const calls only read, so they may run concurrently
 * with each other but not with a call that changes the NIC. Different NICs
 * are independent.
 *
 * Ownership: nic_create() allocates everything the NIC will ever need
 * (filter table, config spaces, counters) — no later call allocates, and
 * nic_lookup() costs one hash probe. nic_destroy() frees it all. Buffers
 * passed in are copied; buffers passed out are filled by the callee.
 *
 * Errors: nic_create() returns NULL and sets errno; every other call returns
 * 0 (or a count or id) or a negative errno, listed with the call. Common to
 * all: -EINVAL for an id out of range or a malformed argument, -ENODEV when
 * the call needs the NIC switch and there is none.
 */
#ifndef IOVPATH_NIC_H
#define IOVPATH_NIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIC_MAX_VPORTS            255u /* VPort ids 0..254 */
#define NIC_MAX_VFS               (NIC_MAX_VPORTS - 1)
#define NIC_MAX_FILTERS_PER_VPORT 256u
#define NIC_PORT_WIRE             255u /* the physical port, as a source or a destination */
#define NIC_SRC_WIRE              NIC_PORT_WIRE
#define NIC_DST_WIRE              NIC_PORT_WIRE
#define NIC_PORT_WORDS            4u /* 64-bit words of a port bitmap: VPorts and the wire */
#define NIC_DEFAULT_VPORT         0u
#define NIC_ATTACH_PF             (-1) /* nic_vport_create: attach to the PF */
#define NIC_VLAN_NONE             0u   /* a MAC-only filter */
#define NIC_VLAN_MAX              4094u

/* PCI identity of a VF (Microsoft's vendor id; a device id of iovpath's own). */
#define NIC_PCI_VENDOR_ID    0x1414u
#define NIC_PCI_VF_DEVICE_ID 0xa0f1u
#define NIC_CFG_SPACE_SIZE   256u
#define NIC_VF_BAR_SIZE      0x10000u    /* BAR0/1: 64-bit prefetchable memory */
#define NIC_VF_BAR_BASE      0xe0000000u /* VF n's BAR0 at power-on: base + n * size */

/* Config blocks (PF/VF backchannel): ids 0..63, one invalidation bit each.
 * Blocks below NIC_BLOCK_VF_FIRST are the PF's (the VF only reads them and
 * an FLR keeps them); the VF may write blocks from NIC_BLOCK_VF_FIRST on
 * (an FLR clears them). The NIC fills in 1..3 when it allocates the VF. */
#define NIC_BLOCKS         64u
#define NIC_BLOCK_MAX_LEN  128u
#define NIC_BLOCK_MAC      1u /* 6 bytes: the VF's MAC */
#define NIC_BLOCK_VLAN     2u /* u16 little-endian: 0 = none */
#define NIC_BLOCK_MTU      3u /* u32 little-endian: 1500 */
#define NIC_BLOCK_VF_FIRST 32u

/* What the NIC is built with (nic_create). */
struct nic_caps {
	uint32_t max_vfs;               /* 0..NIC_MAX_VFS */
	uint32_t max_vports;            /* >= max_vfs + 1, <= NIC_MAX_VPORTS (VPort 0 included) */
	uint32_t total_queue_pairs;     /* >= max_vports */
	uint32_t max_qps_per_vport;     /* a power of two */
	uint32_t mac_filters_per_vport; /* 1..NIC_MAX_FILTERS_PER_VPORT */
};

enum nic_power { NIC_POWER_D0 = 0, NIC_POWER_D3HOT = 3 };

/* Why a frame was dropped (nic_verdict.drop; the index of nic_port_stats.drops). */
enum nic_drop {
	NIC_DROP_NONE = 0,
	NIC_DROP_MALFORMED,  /* runt, truncated 802.1Q tag, VLAN 4095, multicast source MAC */
	NIC_DROP_SPOOF,      /* from a VF: not its MAC, or a VLAN its VPort has no filter for */
	NIC_DROP_NO_FILTER,  /* nowhere to go: no switch, or the only match is the sender */
	NIC_DROP_INACTIVE,   /* the source, or the matched VPort, is missing or not active */
	NIC_DROP_FLR,        /* in a VPort's queues when its VF was reset (nic_vf_reset) */
	NIC_DROP_QUEUE_FULL, /* reported by the datapath */
	NIC_DROP_MAX
};

/* The forwarding decision for one frame. */
struct nic_verdict {
	uint64_t dst[NIC_PORT_WORDS]; /* bit p: port p (VPort p, or NIC_DST_WIRE) */
	unsigned int ndst;            /* bits set in dst; 0: dropped */
	int port;                     /* ndst == 1: that port (no need to walk dst); else -1 */
	enum nic_drop drop;           /* NIC_DROP_NONE unless ndst == 0 */
	int drop_port;                /* the port to charge the drop to; -1: none (bad source) */
	uint16_t vlan;                /* the frame's VLAN id (0: untagged or priority-tagged) */
};

static inline bool nic_verdict_has(const struct nic_verdict *v, unsigned int port)
{
	return port <= NIC_PORT_WIRE && (v->dst[port / 64] >> (port % 64) & 1);
}

/* The first destination port greater than @after (-1 to start), or -1. */
static inline int nic_verdict_next(const struct nic_verdict *v, int after)
{
	unsigned int p = (unsigned int)(after + 1);

	while (p <= NIC_PORT_WIRE) {
		uint64_t w = v->dst[p / 64] >> (p % 64);

		if (w)
			return (int)(p + (unsigned int)__builtin_ctzll(w));
		p = (p / 64 + 1) * 64;
	}
	return -1;
}

/* Per-port counters (a VPort, or the wire). */
struct nic_port_stats {
	uint64_t rx_frames, rx_bytes; /* delivered into the port (the wire: sent out) */
	uint64_t tx_frames, tx_bytes; /* taken from the port into the switch */
	uint64_t drops[NIC_DROP_MAX]; /* frames, by reason (drops[NIC_DROP_NONE] stays 0) */
	uint64_t queued;              /* frames in flight in the port's queues */
};

/* What the datapath reports about a port (nic_vport_count). */
enum nic_ctr {
	NIC_CTR_RX,        /* @frames, @bytes delivered into the port */
	NIC_CTR_TX,        /* @frames, @bytes taken from the port */
	NIC_CTR_ENQUEUE,   /* @frames entered the port's queues (queued += frames) */
	NIC_CTR_DEQUEUE,   /* @frames left them (queued -= frames, never below 0) */
	NIC_CTR_DROP_BASE, /* NIC_CTR_DROP(reason): @frames dropped */
};
#define NIC_CTR_DROP(reason) ((enum nic_ctr)(NIC_CTR_DROP_BASE + (reason)))

/* Introspection (nic_dump, nic_*_get). */
struct nic_info {
	struct nic_caps caps;
	bool has_switch;
	uint32_t vfs;      /* allocated */
	uint32_t vports;   /* existing, VPort 0 included */
	uint32_t filters;  /* in the switch */
	uint32_t qps_used; /* queue pairs held by VPorts */
};

struct nic_vf_info {
	unsigned int id;
	uint8_t mac[6];
	uint32_t serial;
	int vport; /* its VPort, or -1 */
	enum nic_power power;
	uint64_t pending; /* invalidated blocks the VF has not collected yet */
};

struct nic_vport_info {
	unsigned int id;
	int vf; /* NIC_ATTACH_PF or the VF's id */
	unsigned int nqp;
	unsigned int nfilters;
	bool running; /* queues started (an FLR stops them until nic_vport_set_running) */
	bool active;  /* running and, for a VF's VPort, the VF in D0: frames flow */
};

struct nic_filter_info {
	uint8_t mac[6];
	uint16_t vlan; /* NIC_VLAN_NONE: MAC only */
	unsigned int vport;
};

/* nic_dump callbacks; NULL: skip that kind. A non-zero return stops the dump. */
struct nic_dump_ops {
	int (*vf)(void *arg, const struct nic_vf_info *vf);
	int (*vport)(void *arg, const struct nic_vport_info *vport);
	int (*filter)(void *arg, const struct nic_filter_info *filter);
};

struct nic;

/* --- life cycle --------------------------------------------------------- */

/* A NIC with @caps and no switch. NULL with errno EINVAL (caps break a rule
 * in struct nic_caps) or ENOMEM. */
struct nic *nic_create(const struct nic_caps *caps);
/* Free @nic (NULL: nothing), whatever state it is in. */
void nic_destroy(struct nic *nic);

/* --- NIC switch --------------------------------------------------------- */

/* CREATE_SWITCH: switch 0 and VPort 0 with @default_qps queue pairs.
 * -EEXIST: already created; -EINVAL: @default_qps not a power of two or over
 * max_qps_per_vport; -ENOSPC: more than the pool. */
int nic_switch_create(struct nic *nic, unsigned int default_qps);
/* DELETE_SWITCH (and VPort 0). -ENODEV: none; -EBUSY: filters, VPorts other
 * than 0, or VFs remain. */
int nic_switch_delete(struct nic *nic);
/* PF halt, in the documented order: clear every filter, delete every VPort,
 * free every VF, delete the switch. Always succeeds (nothing to do: 0). */
int nic_pf_halt(struct nic *nic);

/* --- VFs ---------------------------------------------------------------- */

/* ALLOCATE_VF for the VM adapter with @mac (unicast, non-zero): returns the
 * VF id (lowest free) and its serial number in *@serial. The VF starts in D0
 * with its power-on config space and blocks 1..3 filled in.
 * -EINVAL: bad MAC; -ENODEV: no switch; -EEXIST: a VF already has @mac;
 * -ENOSPC: every VF taken; -EOVERFLOW: the 2^32-1 serial numbers are spent. */
int nic_vf_alloc(struct nic *nic, const uint8_t mac[6], uint32_t *serial);
/* FREE_VF. -ENOENT: not allocated; -EBUSY: a VPort is attached to it. */
int nic_vf_free(struct nic *nic, unsigned int vf);
/* RESET_VF (function level reset) of one allocated VF: its VPort's queues
 * stop (not running) and the frames they held become NIC_DROP_FLR drops;
 * config space and VF-writable blocks return to power-on; pending
 * invalidations are cleared; power state D0. Nothing else changes (filters,
 * serial, the PF's blocks, other VFs). -ENOENT: not allocated. */
int nic_vf_reset(struct nic *nic, unsigned int vf);
/* SET_VF_POWER_STATE (privileged). In D3hot the VF's VPort is not active.
 * -EINVAL: not D0/D3hot; -ENOENT: not allocated. */
int nic_vf_set_power(struct nic *nic, unsigned int vf, enum nic_power state);

/* --- VF config space and config blocks (backchannel) -------------------- */

/* READ/WRITE_VF_CONFIG_SPACE: @len bytes at @off of the VF's 256-byte PCI
 * config space. Writes change only the writable bits (command, cache line,
 * BAR0/1 address bits, interrupt line, PCIe device control); the rest is
 * ignored. -EINVAL: [@off, @off+@len) outside 0..255; -ENOENT: not allocated. */
int nic_vf_cfg_read(const struct nic *nic, unsigned int vf, unsigned int off, void *buf,
                    size_t len);
int nic_vf_cfg_write(struct nic *nic, unsigned int vf, unsigned int off, const void *buf,
                     size_t len);

/* Who accesses a config block. */
enum nic_who { NIC_BY_PF, NIC_BY_VF };

/* READ_VF_CONFIG_BLOCK: copy block @id into @buf; returns its length.
 * -ENOENT: VF not allocated, or block never written; -ENOBUFS: @buflen too
 * small; -EINVAL: @id >= NIC_BLOCKS. */
int nic_vf_block_read(const struct nic *nic, unsigned int vf, unsigned int id, void *buf,
                      size_t buflen);
/* WRITE_VF_CONFIG_BLOCK: the PF writes any block, the VF only blocks from
 * NIC_BLOCK_VF_FIRST on. -EPERM: the VF writes a PF block; -EINVAL: @id or
 * @len (> NIC_BLOCK_MAX_LEN) out of range; -ENOENT: not allocated. */
int nic_vf_block_write(struct nic *nic, unsigned int vf, enum nic_who who, unsigned int id,
                       const void *buf, size_t len);
/* The PF invalidates the blocks in @mask (bit n: block n): they become
 * pending for the VF. -ENOENT: not allocated. */
int nic_vf_block_invalidate(struct nic *nic, unsigned int vf, uint64_t mask);
/* The VF collects (reads and clears) its pending invalidation bits into
 * *@mask. -ENOENT: not allocated. */
int nic_vf_block_pending(struct nic *nic, unsigned int vf, uint64_t *mask);

/* --- VPorts ------------------------------------------------------------- */

/* CREATE_VPORT attached to the PF (@vf = NIC_ATTACH_PF) or to VF @vf, with
 * @nqp queue pairs. Returns the VPort id (lowest free, >= 1); the VPort is
 * running. -EINVAL: @nqp not a power of two or over max_qps_per_vport;
 * -ENOENT: VF not allocated; -EEXIST: the VF has a VPort; -ENOSPC: no VPort
 * or not @nqp queue pairs left. */
int nic_vport_create(struct nic *nic, int vf, unsigned int nqp);
/* DELETE_VPORT, returning its queue pairs. -EPERM: VPort 0; -ENOENT: no
 * such VPort; -EBUSY: it still has filters. */
int nic_vport_delete(struct nic *nic, unsigned int vport);
/* The datapath starts (after an FLR: the VF driver re-initialised) or stops
 * a VPort's queues. -EPERM: stopping VPort 0; -ENOENT: no such VPort. */
int nic_vport_set_running(struct nic *nic, unsigned int vport, bool running);

/* --- receive filters ---------------------------------------------------- */

/* Set the filter (@mac, @vlan) -> @vport. @mac: unicast, non-zero; @vlan:
 * NIC_VLAN_NONE or 1..NIC_VLAN_MAX. -EEXIST: (@mac, @vlan) is already in
 * the switch (on any VPort); -ENXIO: no such VPort; -ENOSPC: the VPort holds
 * mac_filters_per_vport filters. */
int nic_filter_set(struct nic *nic, unsigned int vport, const uint8_t mac[6], uint16_t vlan);
/* Clear the filter (@mac, @vlan). -ENOENT: there is none. */
int nic_filter_clear(struct nic *nic, const uint8_t mac[6], uint16_t vlan);
/* MOVE_FILTER: the filter (@mac, @vlan) now leads to @vport (a no-op when it
 * already does). On error nothing changed. -ENOENT: no such filter; -ENXIO:
 * no such VPort; -ENOSPC: @vport is full. */
int nic_filter_move(struct nic *nic, const uint8_t mac[6], uint16_t vlan, unsigned int vport);
/* The VPort the filter (@mac, @vlan) leads to, or -ENOENT. */
int nic_filter_find(const struct nic *nic, const uint8_t mac[6], uint16_t vlan);

/* --- forwarding and counters (the datapath's calls) --------------------- */

/* The NIC switch's decision for the Ethernet frame @frame (@len bytes) that
 * entered from @src_vport (a VPort id, or NIC_SRC_WIRE): fills *@out and
 * returns the number of destinations (0: dropped, out->drop says why).
 * Reads only the Ethernet header and the 802.1Q tag; never fails otherwise. */
unsigned int nic_lookup(const struct nic *nic, const uint8_t *frame, size_t len, int src_vport,
                        struct nic_verdict *out);

/* Count on @port (a VPort or NIC_PORT_WIRE) what the datapath did: see enum
 * nic_ctr; @bytes is used by RX and TX only. -ENOENT: no such VPort;
 * -EINVAL: bad @ctr. */
int nic_vport_count(struct nic *nic, unsigned int port, enum nic_ctr ctr, uint32_t frames,
                    uint64_t bytes);
/* A copy of @port's counters. -ENOENT: no such VPort. */
int nic_port_stats(const struct nic *nic, unsigned int port, struct nic_port_stats *st);

/* --- introspection ------------------------------------------------------ */

void nic_get_info(const struct nic *nic, struct nic_info *info);
/* -ENOENT: not allocated / no such VPort. */
int nic_vf_get(const struct nic *nic, unsigned int vf, struct nic_vf_info *info);
int nic_vport_get(const struct nic *nic, unsigned int vport, struct nic_vport_info *info);
/* Every VF (by id), then every VPort (by id), then every filter (by VPort,
 * oldest first). Returns 0, or the first non-zero value a callback returned. */
int nic_dump(const struct nic *nic, const struct nic_dump_ops *ops, void *arg);

/* A name for a drop reason ("spoof", "no-filter"...). */
const char *nic_drop_name(enum nic_drop reason);

#endif
