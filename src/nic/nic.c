/* nic — the PF's control plane: life cycle, NIC switch, VFs, VPorts,
 * receive filters, PF halt, counters, introspection. See nic.h. */
#include "nic/nic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nic/nic_priv.h"
#include "util/util.h"

static bool __nic_caps_ok(const struct nic_caps *c)
{
	return c && c->max_vfs <= NIC_MAX_VFS && c->max_vports >= c->max_vfs + 1 &&
	       c->max_vports <= NIC_MAX_VPORTS && c->total_queue_pairs >= c->max_vports &&
	       is_pow2(c->max_qps_per_vport) && c->mac_filters_per_vport >= 1 &&
	       c->mac_filters_per_vport <= NIC_MAX_FILTERS_PER_VPORT;
}

struct nic *nic_create(const struct nic_caps *caps)
{
	struct nic *nic;
	size_t nfilters, size = 16;
	unsigned int bits = 4;

	if (!__nic_caps_ok(caps)) {
		errno = EINVAL;
		return NULL;
	}
	nfilters = (size_t)caps->max_vports * caps->mac_filters_per_vport;
	while (size < 2 * nfilters)
		size <<= 1, bits++;

	nic = calloc(1, sizeof(*nic));
	if (!nic)
		goto err;
	nic->caps = *caps;
	nic->next_serial = 1;
	nic->table_mask = (uint32_t)(size - 1);
	nic->table_shift = 64 - bits;
	nic->table = calloc(size, sizeof(*nic->table));
	if (!nic->table)
		goto err_nic;
	nic->vlan_members = calloc(__NIC_VLAN_IDS, sizeof(*nic->vlan_members));
	if (!nic->vlan_members)
		goto err_table;
	nic->vports = calloc(caps->max_vports, sizeof(*nic->vports));
	if (!nic->vports)
		goto err_members;
	nic->filter_keys = calloc(nfilters, sizeof(*nic->filter_keys));
	if (!nic->filter_keys)
		goto err_vports;
	nic->vfs = calloc(caps->max_vfs ? caps->max_vfs : 1, sizeof(*nic->vfs));
	if (!nic->vfs)
		goto err_keys;
	for (unsigned int i = 0; i < caps->max_vports; i++)
		nic->vports[i].filters = nic->filter_keys + (size_t)i * caps->mac_filters_per_vport;
	return nic;

err_keys:
	free(nic->filter_keys);
err_vports:
	free(nic->vports);
err_members:
	free(nic->vlan_members);
err_table:
	free(nic->table);
err_nic:
	free(nic);
err:
	errno = ENOMEM;
	return NULL;
}

void nic_destroy(struct nic *nic)
{
	if (!nic)
		return;
	free(nic->vfs);
	free(nic->filter_keys);
	free(nic->vports);
	free(nic->vlan_members);
	free(nic->table);
	free(nic);
}

/* --- VPorts (internal) --------------------------------------------------- */

void __nic_vport_update_active(struct nic *nic, unsigned int vport)
{
	const struct __nic_vport *vp = &nic->vports[vport];
	bool on =
	    vp->exists && vp->running && (vp->vf < 0 || nic->vfs[vp->vf].power == NIC_POWER_D0);

	__nic_bit_set(nic->active, vport, on);
}

static int __nic_qps_check(const struct nic *nic, unsigned int nqp)
{
	if (!is_pow2(nqp) || nqp > nic->caps.max_qps_per_vport)
		return -EINVAL;
	return nqp <= nic->caps.total_queue_pairs - nic->qps_used ? 0 : -ENOSPC;
}

static void __nic_vport_init(struct nic *nic, unsigned int id, int vf, unsigned int nqp)
{
	struct __nic_vport *vp = &nic->vports[id];
	uint64_t *filters = vp->filters;

	memset(vp, 0, sizeof(*vp));
	vp->filters = filters;
	vp->exists = true;
	vp->running = true;
	vp->vf = (int16_t)vf;
	vp->nqp = nqp;
	if (vf >= 0) {
		vp->spoof_mac = __nic_key(nic->vfs[vf].mac, 0);
		nic->vfs[vf].vport = (uint16_t)id;
	}
	nic->qps_used += nqp;
	nic->nvports++;
	__nic_vport_update_active(nic, id);
}

static void __nic_vport_fini(struct nic *nic, unsigned int id)
{
	struct __nic_vport *vp = &nic->vports[id];

	if (vp->vf >= 0)
		nic->vfs[vp->vf].vport = __NIC_NO_VPORT;
	nic->qps_used -= vp->nqp;
	nic->nvports--;
	vp->exists = false;
	__nic_vport_update_active(nic, id);
}

/* Is (MAC, VLAN) @vport's bit in the VLAN's broadcast set still deserved? */
static void __nic_vlan_refresh(struct nic *nic, unsigned int vport, uint16_t vlan)
{
	const struct __nic_vport *vp = &nic->vports[vport];
	bool member = false;

	for (uint32_t i = 0; i < vp->nfilters && !member; i++)
		member = __nic_key_vlan(vp->filters[i]) == vlan;
	__nic_bit_set(nic->vlan_members[vlan], vport, member);
}

static void __nic_vport_add_key(struct nic *nic, unsigned int vport, uint64_t key)
{
	struct __nic_vport *vp = &nic->vports[vport];

	vp->filters[vp->nfilters++] = key;
	__nic_bit_set(nic->vlan_members[__nic_key_vlan(key)], vport, true);
}

static void __nic_vport_del_key(struct nic *nic, unsigned int vport, uint64_t key)
{
	struct __nic_vport *vp = &nic->vports[vport];
	uint32_t i = 0;

	while (vp->filters[i] != key)
		i++;
	memmove(&vp->filters[i], &vp->filters[i + 1], (vp->nfilters - i - 1) * sizeof(uint64_t));
	vp->nfilters--;
	__nic_vlan_refresh(nic, vport, __nic_key_vlan(key));
}

/* --- NIC switch ---------------------------------------------------------- */

int nic_switch_create(struct nic *nic, unsigned int default_qps)
{
	int err;

	if (nic->has_switch)
		return -EEXIST;
	err = __nic_qps_check(nic, default_qps);
	if (err)
		return err;
	nic->has_switch = true;
	__nic_vport_init(nic, NIC_DEFAULT_VPORT, NIC_ATTACH_PF, default_qps);
	return 0;
}

int nic_switch_delete(struct nic *nic)
{
	if (!nic->has_switch)
		return -ENODEV;
	if (nic->nfilters || nic->nvports > 1 || nic->nvfs)
		return -EBUSY;
	__nic_vport_fini(nic, NIC_DEFAULT_VPORT);
	nic->has_switch = false;
	return 0;
}

int nic_pf_halt(struct nic *nic)
{
	if (!nic->has_switch)
		return 0;
	for (unsigned int p = 0; p < nic->caps.max_vports; p++) {
		struct __nic_vport *vp = &nic->vports[p];

		while (vp->exists && vp->nfilters) {
			uint8_t mac[6];
			uint64_t key = vp->filters[vp->nfilters - 1];

			__nic_key_mac(key, mac);
			nic_filter_clear(nic, mac, __nic_key_vlan(key));
		}
	}
	for (unsigned int p = 1; p < nic->caps.max_vports; p++)
		if (nic->vports[p].exists)
			nic_vport_delete(nic, p);
	for (unsigned int vf = 0; vf < nic->caps.max_vfs; vf++)
		if (nic->vfs[vf].allocated)
			nic_vf_free(nic, vf);
	return nic_switch_delete(nic);
}

/* --- VFs ----------------------------------------------------------------- */

static bool __nic_mac_ok(const uint8_t *mac)
{
	static const uint8_t zero[6];

	return mac && !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

int nic_vf_alloc(struct nic *nic, const uint8_t mac[6], uint32_t *serial)
{
	unsigned int id = nic->caps.max_vfs;
	struct __nic_vf *vf;

	if (!__nic_mac_ok(mac))
		return -EINVAL;
	if (!nic->has_switch)
		return -ENODEV;
	for (unsigned int i = nic->caps.max_vfs; i-- > 0;) {
		if (!nic->vfs[i].allocated)
			id = i;
		else if (!memcmp(nic->vfs[i].mac, mac, 6))
			return -EEXIST;
	}
	if (id == nic->caps.max_vfs)
		return -ENOSPC;
	if (!nic->next_serial)
		return -EOVERFLOW;

	vf = &nic->vfs[id];
	memset(vf, 0, sizeof(*vf));
	vf->allocated = true;
	memcpy(vf->mac, mac, 6);
	vf->vport = __NIC_NO_VPORT;
	vf->serial = nic->next_serial++; /* wraps to 0: spent */
	__nic_vf_power_on(vf, id, false);
	nic->nvfs++;
	if (serial)
		*serial = vf->serial;
	return (int)id;
}

int nic_vf_free(struct nic *nic, unsigned int vf)
{
	int err = __nic_vf_check(nic, vf);

	if (err)
		return err;
	if (nic->vfs[vf].vport != __NIC_NO_VPORT)
		return -EBUSY;
	memset(&nic->vfs[vf], 0, sizeof(nic->vfs[vf]));
	nic->nvfs--;
	return 0;
}

/* --- VPorts -------------------------------------------------------------- */

int nic_vport_create(struct nic *nic, int vf, unsigned int nqp)
{
	unsigned int id;
	int err;

	if (!nic->has_switch)
		return -ENODEV;
	if (vf != NIC_ATTACH_PF) {
		err = vf < 0 ? -EINVAL : __nic_vf_check(nic, (unsigned int)vf);
		if (err)
			return err;
		if (nic->vfs[vf].vport != __NIC_NO_VPORT)
			return -EEXIST;
	}
	err = __nic_qps_check(nic, nqp);
	if (err)
		return err;
	for (id = 1; id < nic->caps.max_vports && nic->vports[id].exists; id++)
		;
	if (id == nic->caps.max_vports)
		return -ENOSPC;
	__nic_vport_init(nic, id, vf, nqp);
	return (int)id;
}

/* 0, or -ENODEV, -EINVAL, -ENOENT: @vport names no VPort. */
static int __nic_vport_check(const struct nic *nic, unsigned int vport)
{
	if (!nic->has_switch)
		return -ENODEV;
	if (vport >= nic->caps.max_vports)
		return -EINVAL;
	return nic->vports[vport].exists ? 0 : -ENOENT;
}

int nic_vport_delete(struct nic *nic, unsigned int vport)
{
	int err = __nic_vport_check(nic, vport);

	if (err)
		return err;
	if (vport == NIC_DEFAULT_VPORT)
		return -EPERM;
	if (nic->vports[vport].nfilters)
		return -EBUSY;
	__nic_vport_fini(nic, vport);
	return 0;
}

int nic_vport_set_running(struct nic *nic, unsigned int vport, bool running)
{
	int err = __nic_vport_check(nic, vport);

	if (err)
		return err;
	if (vport == NIC_DEFAULT_VPORT && !running)
		return -EPERM;
	nic->vports[vport].running = running;
	__nic_vport_update_active(nic, vport);
	return 0;
}

/* --- receive filters ----------------------------------------------------- */

static int __nic_filter_args(const struct nic *nic, const uint8_t *mac, uint16_t vlan)
{
	if (!__nic_mac_ok(mac) || vlan > NIC_VLAN_MAX)
		return -EINVAL;
	return nic->has_switch ? 0 : -ENODEV;
}

/* The target VPort of a filter call: -ENXIO instead of -ENOENT, to tell it
 * apart from a missing filter. */
static int __nic_filter_vport(const struct nic *nic, unsigned int vport)
{
	int err = __nic_vport_check(nic, vport);

	return err == -ENOENT ? -ENXIO : err;
}

static bool __nic_vport_full(const struct nic *nic, unsigned int vport)
{
	return nic->vports[vport].nfilters >= nic->caps.mac_filters_per_vport;
}

int nic_filter_set(struct nic *nic, unsigned int vport, const uint8_t mac[6], uint16_t vlan)
{
	uint64_t key;
	int err = __nic_filter_args(nic, mac, vlan);

	if (!err)
		err = __nic_filter_vport(nic, vport);
	if (err)
		return err;
	key = __nic_key(mac, vlan);
	if (__nic_table_find(nic, key))
		return -EEXIST;
	if (__nic_vport_full(nic, vport))
		return -ENOSPC;
	__nic_vport_add_key(nic, vport, key);
	__nic_table_insert(nic, key, vport);
	nic->nfilters++;
	return 0;
}

int nic_filter_clear(struct nic *nic, const uint8_t mac[6], uint16_t vlan)
{
	struct __nic_slot *s;
	uint64_t key;
	int err = __nic_filter_args(nic, mac, vlan);

	if (err)
		return err;
	key = __nic_key(mac, vlan);
	s = __nic_table_find(nic, key);
	if (!s)
		return -ENOENT;
	__nic_vport_del_key(nic, s->vport, key);
	__nic_table_remove(nic, s);
	nic->nfilters--;
	return 0;
}

int nic_filter_move(struct nic *nic, const uint8_t mac[6], uint16_t vlan, unsigned int vport)
{
	struct __nic_slot *s;
	unsigned int from;
	uint64_t key;
	int err = __nic_filter_args(nic, mac, vlan);

	if (err)
		return err;
	key = __nic_key(mac, vlan);
	s = __nic_table_find(nic, key);
	if (!s)
		return -ENOENT;
	err = __nic_filter_vport(nic, vport);
	if (err)
		return err;
	from = s->vport;
	if (from == vport)
		return 0;
	if (__nic_vport_full(nic, vport))
		return -ENOSPC;
	/* The destination changes with the one store to the slot: the new
	 * VPort joins the broadcast set before it, the old one leaves after. */
	__nic_vport_add_key(nic, vport, key);
	WRITE_ONCE(s->vport, vport);
	__nic_vport_del_key(nic, from, key);
	return 0;
}

int nic_filter_find(const struct nic *nic, const uint8_t mac[6], uint16_t vlan)
{
	const struct __nic_slot *s;
	int err = __nic_filter_args(nic, mac, vlan);

	if (err)
		return err;
	s = __nic_table_find(nic, __nic_key(mac, vlan));
	return s ? (int)s->vport : -ENOENT;
}

/* --- counters ------------------------------------------------------------ */

static struct nic_port_stats *__nic_port_st(const struct nic *nic, unsigned int port, int *err)
{
	if (port == NIC_PORT_WIRE) {
		*err = 0;
		return (struct nic_port_stats *)&nic->wire;
	}
	*err = __nic_vport_check(nic, port);
	if (*err == -ENODEV)
		*err = -ENOENT;
	return *err ? NULL : &nic->vports[port].st;
}

int nic_vport_count(struct nic *nic, unsigned int port, enum nic_ctr ctr, uint32_t frames,
                    uint64_t bytes)
{
	struct nic_port_stats *st;
	int err;

	if ((unsigned int)ctr >= (unsigned int)NIC_CTR_DROP(NIC_DROP_MAX) ||
	    ctr == NIC_CTR_DROP(NIC_DROP_NONE))
		return -EINVAL;
	st = __nic_port_st(nic, port, &err);
	if (!st)
		return err;
	switch (ctr) {
	case NIC_CTR_RX:
		st->rx_frames += frames;
		st->rx_bytes += bytes;
		break;
	case NIC_CTR_TX:
		st->tx_frames += frames;
		st->tx_bytes += bytes;
		break;
	case NIC_CTR_ENQUEUE:
		st->queued += frames;
		break;
	case NIC_CTR_DEQUEUE:
		st->queued -= frames < st->queued ? frames : st->queued;
		break;
	default:
		st->drops[ctr - NIC_CTR_DROP_BASE] += frames;
		break;
	}
	return 0;
}

int nic_port_stats(const struct nic *nic, unsigned int port, struct nic_port_stats *out)
{
	const struct nic_port_stats *st;
	int err;

	st = __nic_port_st(nic, port, &err);
	if (!st)
		return err;
	*out = *st;
	return 0;
}

/* --- introspection ------------------------------------------------------- */

void nic_get_info(const struct nic *nic, struct nic_info *info)
{
	info->caps = nic->caps;
	info->has_switch = nic->has_switch;
	info->vfs = nic->nvfs;
	info->vports = nic->nvports;
	info->filters = nic->nfilters;
	info->qps_used = nic->qps_used;
}

int nic_vf_get(const struct nic *nic, unsigned int id, struct nic_vf_info *info)
{
	const struct __nic_vf *vf;
	int err = __nic_vf_check(nic, id);

	if (err)
		return err;
	vf = &nic->vfs[id];
	info->id = id;
	memcpy(info->mac, vf->mac, 6);
	info->serial = vf->serial;
	info->vport = vf->vport == __NIC_NO_VPORT ? -1 : vf->vport;
	info->power = vf->power;
	info->pending = vf->pending;
	return 0;
}

int nic_vport_get(const struct nic *nic, unsigned int id, struct nic_vport_info *info)
{
	const struct __nic_vport *vp;
	int err = __nic_vport_check(nic, id);

	if (err)
		return err == -ENODEV ? -ENOENT : err;
	vp = &nic->vports[id];
	info->id = id;
	info->vf = vp->vf;
	info->nqp = vp->nqp;
	info->nfilters = vp->nfilters;
	info->running = vp->running;
	info->active = nic->active[id / 64] >> (id % 64) & 1;
	return 0;
}

int nic_dump(const struct nic *nic, const struct nic_dump_ops *ops, void *arg)
{
	int ret = 0;

	for (unsigned int i = 0; ops->vf && !ret && i < nic->caps.max_vfs; i++) {
		struct nic_vf_info vf;

		if (!nic_vf_get(nic, i, &vf))
			ret = ops->vf(arg, &vf);
	}
	for (unsigned int i = 0; ops->vport && !ret && i < nic->caps.max_vports; i++) {
		struct nic_vport_info vp;

		if (!nic_vport_get(nic, i, &vp))
			ret = ops->vport(arg, &vp);
	}
	for (unsigned int i = 0; ops->filter && !ret && i < nic->caps.max_vports; i++) {
		const struct __nic_vport *vp = &nic->vports[i];

		for (uint32_t k = 0; vp->exists && !ret && k < vp->nfilters; k++) {
			struct nic_filter_info f = { .vport = i };

			__nic_key_mac(vp->filters[k], f.mac);
			f.vlan = __nic_key_vlan(vp->filters[k]);
			ret = ops->filter(arg, &f);
		}
	}
	return ret;
}

const char *nic_drop_name(enum nic_drop reason)
{
	static const char *const names[NIC_DROP_MAX] = {
		[NIC_DROP_NONE] = "none",
		[NIC_DROP_MALFORMED] = "malformed",
		[NIC_DROP_SPOOF] = "spoof",
		[NIC_DROP_NO_FILTER] = "no-filter",
		[NIC_DROP_INACTIVE] = "inactive",
		[NIC_DROP_FLR] = "flr",
		[NIC_DROP_QUEUE_FULL] = "queue-full",
	};

	return (unsigned int)reason < NIC_DROP_MAX ? names[reason] : "unknown";
}
