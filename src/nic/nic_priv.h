/* nic_priv — the NIC's internal state, shared by nic.c (control plane),
 * nic_lookup.c (filter table and forwarding decision) and nic_vf.c (VF
 * config space, config blocks, FLR, power). Not for other modules.
 *
 * The filter table: open addressing with linear probing, sized at creation
 * to at least twice the switch's filter capacity (so probes stay short),
 * deleted from by backward shift (no tombstones). A key packs the MAC (48
 * bits), the VLAN (12 bits) and a "used" bit; 0 is an empty slot. A filter
 * also sits in its VPort's list (for limits, dumps, VLAN membership), and
 * each VLAN has a bitmap of the VPorts with a filter on it (broadcast).
 */
#ifndef IOVPATH_NIC_PRIV_H
#define IOVPATH_NIC_PRIV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "nic/nic.h"

#define __NIC_VLAN_IDS 4096u
#define __NIC_KEY_USED (1ull << 63)
#define __NIC_NO_VPORT 0xffffu

struct __nic_slot {
	uint64_t key;   /* 0: empty */
	uint32_t vport; /* written with one store by MOVE_FILTER */
};

struct __nic_vport {
	bool exists;
	bool running;
	int16_t vf;         /* NIC_ATTACH_PF or the VF id */
	uint64_t spoof_mac; /* the VF's MAC as a key with VLAN 0; 0: PF (no check) */
	uint32_t nqp;
	uint32_t nfilters;
	uint64_t *filters; /* keys, oldest first; caps.mac_filters_per_vport slots */
	struct nic_port_stats st;
};

struct __nic_block {
	bool present;
	uint16_t len;
	uint8_t data[NIC_BLOCK_MAX_LEN];
};

struct __nic_vf {
	bool allocated;
	uint8_t mac[6];
	uint16_t vport; /* __NIC_NO_VPORT: none */
	uint32_t serial;
	enum nic_power power;
	uint64_t pending;
	uint8_t cfg[NIC_CFG_SPACE_SIZE];
	struct __nic_block blocks[NIC_BLOCKS];
};

struct nic {
	/* what nic_lookup reads */
	struct __nic_slot *table;
	uint32_t table_mask;
	unsigned int table_shift;                 /* 64 - log2(table size) */
	uint64_t active[NIC_PORT_WORDS];          /* VPorts that send and receive */
	uint64_t (*vlan_members)[NIC_PORT_WORDS]; /* [__NIC_VLAN_IDS]: VPorts with a filter there */
	struct __nic_vport *vports;               /* [caps.max_vports] */
	bool has_switch;

	/* control plane */
	struct nic_caps caps;
	struct __nic_vf *vfs;  /* [caps.max_vfs] */
	uint64_t *filter_keys; /* backing store of every VPort's filter list */
	uint32_t nvfs, nvports, nfilters, qps_used;
	uint32_t next_serial; /* 0 once spent */
	struct nic_port_stats wire;
};

/* A MAC (6 bytes, network order) and VLAN as a table key. */
static inline uint64_t __nic_key(const uint8_t *mac, uint16_t vlan)
{
	return __NIC_KEY_USED | (uint64_t)(vlan & 0xfff) << 48 | (uint64_t)mac[0] << 40 |
	       (uint64_t)mac[1] << 32 | (uint64_t)mac[2] << 24 | (uint64_t)mac[3] << 16 |
	       (uint64_t)mac[4] << 8 | mac[5];
}

static inline uint16_t __nic_key_vlan(uint64_t key)
{
	return (uint16_t)(key >> 48 & 0xfff);
}

static inline void __nic_key_mac(uint64_t key, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(key >> (40 - 8 * i));
}

static inline void __nic_bit_set(uint64_t *map, unsigned int bit, bool on)
{
	if (on)
		map[bit / 64] |= 1ull << (bit % 64);
	else
		map[bit / 64] &= ~(1ull << (bit % 64));
}

static inline bool __nic_vport_exists(const struct nic *nic, unsigned int vport)
{
	return nic->has_switch && vport < nic->caps.max_vports && nic->vports[vport].exists;
}

/* 0, or -EINVAL (id out of range) or -ENOENT (not allocated). */
static inline int __nic_vf_check(const struct nic *nic, unsigned int vf)
{
	if (vf >= nic->caps.max_vfs)
		return -EINVAL;
	return nic->vfs[vf].allocated ? 0 : -ENOENT;
}

/* nic_lookup.c: the filter table. */
struct __nic_slot *__nic_table_find(const struct nic *nic, uint64_t key);
void __nic_table_insert(struct nic *nic, uint64_t key, unsigned int vport);
void __nic_table_remove(struct nic *nic, struct __nic_slot *slot);

/* nic.c: recompute whether @vport is active (after running/power change). */
void __nic_vport_update_active(struct nic *nic, unsigned int vport);

/* nic_vf.c: a VF's power-on config space and blocks. */
void __nic_vf_power_on(struct __nic_vf *vf, unsigned int id, bool keep_pf_blocks);

#endif
