/* nic_lookup — the NIC switch's "hardware": the (MAC, VLAN) filter table
 * and the forwarding decision for one frame. See nic.h for the rules and
 * nic_priv.h for the table. */
#include <string.h>

#include "nic/nic_priv.h"
#include "util/util.h"

#define ETH_HLEN      14u
#define VLAN_HLEN     4u
#define ETH_P_8021Q   0x8100u
#define VLAN_VID_MASK 0xfffu

static inline uint32_t __nic_home(const struct nic *nic, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> nic->table_shift);
}

struct __nic_slot *__nic_table_find(const struct nic *nic, uint64_t key)
{
	uint32_t i = __nic_home(nic, key);

	/* The table is at most half full, so an empty slot ends every probe. */
	for (;; i = (i + 1) & nic->table_mask) {
		struct __nic_slot *s = &nic->table[i];

		if (s->key == key)
			return s;
		if (!s->key)
			return NULL;
	}
}

void __nic_table_insert(struct nic *nic, uint64_t key, unsigned int vport)
{
	uint32_t i = __nic_home(nic, key);

	while (nic->table[i].key)
		i = (i + 1) & nic->table_mask;
	nic->table[i].vport = vport;
	nic->table[i].key = key;
}

/* Backward-shift deletion: pull later entries of the probe run into the hole
 * unless that would move one before its home slot. */
void __nic_table_remove(struct nic *nic, struct __nic_slot *slot)
{
	uint32_t hole = (uint32_t)(slot - nic->table);
	uint32_t j = hole;

	for (;;) {
		uint32_t home;

		j = (j + 1) & nic->table_mask;
		if (!nic->table[j].key)
			break;
		home = __nic_home(nic, nic->table[j].key);
		/* stays when its home lies cyclically in (hole, j] */
		if (((j - home) & nic->table_mask) < ((j - hole) & nic->table_mask))
			continue;
		nic->table[hole] = nic->table[j];
		hole = j;
	}
	nic->table[hole].key = 0;
	nic->table[hole].vport = 0;
}

static inline bool __nic_is_active(const struct nic *nic, unsigned int vport)
{
	return nic->active[vport / 64] >> (vport % 64) & 1;
}

static inline unsigned int __nic_drop(struct nic_verdict *v, enum nic_drop reason, int port)
{
	v->port = -1;
	v->drop = reason;
	v->drop_port = port;
	return 0;
}

static inline unsigned int __nic_to(struct nic_verdict *v, unsigned int port)
{
	__nic_bit_set(v->dst, port, true);
	v->ndst = 1;
	v->port = (int)port;
	return 1;
}

unsigned int nic_lookup(const struct nic *nic, const uint8_t *frame, size_t len, int src_vport,
                        struct nic_verdict *v)
{
	const bool from_wire = src_vport == (int)NIC_SRC_WIRE;
	const struct __nic_vport *src = NULL;
	const struct __nic_slot *s;
	uint16_t vlan = 0;

	memset(v, 0, sizeof(*v));
	if (!from_wire) {
		if (unlikely(src_vport < 0 || !__nic_vport_exists(nic, (unsigned int)src_vport)))
			return __nic_drop(v, NIC_DROP_INACTIVE, -1);
		src = &nic->vports[src_vport];
	}

	/* Ethernet header, then an optional 802.1Q tag. */
	if (unlikely(len < ETH_HLEN))
		return __nic_drop(v, NIC_DROP_MALFORMED, src_vport);
	if ((frame[12] << 8 | frame[13]) == ETH_P_8021Q) {
		if (unlikely(len < ETH_HLEN + VLAN_HLEN))
			return __nic_drop(v, NIC_DROP_MALFORMED, src_vport);
		vlan = (uint16_t)((frame[14] << 8 | frame[15]) & VLAN_VID_MASK);
		if (unlikely(vlan == VLAN_VID_MASK)) /* reserved */
			return __nic_drop(v, NIC_DROP_MALFORMED, src_vport);
	}
	v->vlan = vlan;
	if (unlikely(frame[6] & 1)) /* a group address can't be a source */
		return __nic_drop(v, NIC_DROP_MALFORMED, src_vport);

	if (src) {
		if (unlikely(!__nic_is_active(nic, (unsigned int)src_vport)))
			return __nic_drop(v, NIC_DROP_INACTIVE, src_vport);
		/* Anti-spoofing: a VF sends only as (its MAC, a VLAN it receives on). */
		if (src->spoof_mac) {
			uint64_t skey = __nic_key(frame + 6, vlan);

			if (unlikely((skey ^ src->spoof_mac) & 0xffffffffffffull))
				return __nic_drop(v, NIC_DROP_SPOOF, src_vport);
			s = __nic_table_find(nic, skey);
			if (unlikely(!s || s->vport != (unsigned int)src_vport))
				return __nic_drop(v, NIC_DROP_SPOOF, src_vport);
		}
	} else if (unlikely(!nic->has_switch)) {
		return __nic_drop(v, NIC_DROP_NO_FILTER, src_vport);
	}

	if (frame[0] & 1) {
		/* Broadcast/multicast: the VPorts on this VLAN, the default VPort,
		 * the wire; never the source. */
		const uint64_t *members = nic->vlan_members[vlan];
		unsigned int n = 0;

		for (unsigned int w = 0; w < NIC_PORT_WORDS; w++)
			v->dst[w] = members[w] & nic->active[w];
		__nic_bit_set(v->dst, NIC_DEFAULT_VPORT, true);
		__nic_bit_set(v->dst, NIC_DST_WIRE, !from_wire);
		if (src)
			__nic_bit_set(v->dst, (unsigned int)src_vport, false);
		for (unsigned int w = 0; w < NIC_PORT_WORDS; w++)
			n += (unsigned int)__builtin_popcountll(v->dst[w]);
		v->ndst = n;
		v->port = n == 1 ? nic_verdict_next(v, -1) : -1;
		return n ? n : __nic_drop(v, NIC_DROP_NO_FILTER, src_vport);
	}

	/* Unicast: the one VPort whose filter matches. */
	s = __nic_table_find(nic, __nic_key(frame, vlan));
	if (s) {
		unsigned int dst = READ_ONCE(s->vport);

		if (unlikely(dst == (unsigned int)src_vport))
			return __nic_drop(v, NIC_DROP_NO_FILTER, src_vport);
		if (unlikely(!__nic_is_active(nic, dst)))
			return __nic_drop(v, NIC_DROP_INACTIVE, (int)dst);
		return __nic_to(v, dst);
	}
	/* No filter: what came in from the wire goes to the host switch, what a
	 * VPort sent goes out to the wire. */
	return __nic_to(v, from_wire ? NIC_DEFAULT_VPORT : NIC_DST_WIRE);
}
