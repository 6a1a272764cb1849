/* Emulated SR-IOV NIC unit tests: every PF operation's rules and error
 * codes, a table of forwarding decisions, MOVE_FILTER atomicity, FLR
 * isolation, PF halt, the backchannel (config space, config blocks), and the
 * filter table against a reference model under random operations. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nic/nic.h"

#define W     NIC_PORT_WIRE
#define NOTAG (-1)
#define P(n)  (1u << (n))

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0x0a }; /* VF0 */
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0x0b }; /* VF1 */
static const uint8_t MAC_C[6] = { 0x02, 0, 0, 0, 0, 0x0c }; /* VF2, VLAN 10 only */
static const uint8_t MAC_D[6] = { 0x02, 0, 0, 0, 0, 0x0d }; /* VF3, VPort without filters */
static const uint8_t MAC_P[6] = { 0x02, 0, 0, 0, 0, 0x50 }; /* a PF VPort */
static const uint8_t MAC_S[6] = { 0x02, 0, 0, 0, 0, 0x53 }; /* a synthetic VM (VPort 0) */
static const uint8_t MAC_X[6] = { 0x02, 0, 0, 0, 0, 0x99 }; /* out on the wire */
static const uint8_t MAC_Y[6] = { 0x02, 0, 0, 0, 0, 0x98 }; /* nowhere */
static const uint8_t MAC_Z[6] = { 0x06, 1, 2, 3, 4, 5 };    /* a forged source */
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MCAST[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };

static const struct nic_caps CAPS = {
	.max_vfs = 4,
	.max_vports = 8,
	.total_queue_pairs = 16,
	.max_qps_per_vport = 4,
	.mac_filters_per_vport = 3,
};

/* An Ethernet frame dst, src, [802.1Q @tag], IPv4 ethertype, 46 bytes. */
static size_t mkframe(uint8_t *buf, const uint8_t *dst, const uint8_t *src, int tag)
{
	size_t n = 12;

	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	if (tag != NOTAG) {
		buf[n++] = 0x81;
		buf[n++] = 0x00;
		buf[n++] = (uint8_t)(tag >> 8);
		buf[n++] = (uint8_t)tag;
	}
	buf[n++] = 0x08;
	buf[n++] = 0x00;
	memset(buf + n, 0xab, 46);
	return n + 46;
}

static struct nic *new_nic(const struct nic_caps *caps)
{
	struct nic *nic = nic_create(caps);

	cr_assert(nic, "nic_create: %s", strerror(errno));
	return nic;
}

/* A VF for @mac with a VPort of one queue pair; returns the VPort. */
static int attach_vf(struct nic *nic, const uint8_t *mac, int *vf_out)
{
	int vf = nic_vf_alloc(nic, mac, NULL);
	int vp;

	cr_assert_geq(vf, 0, "nic_vf_alloc: %d", vf);
	vp = nic_vport_create(nic, vf, 1);
	cr_assert_geq(vp, 1, "nic_vport_create: %d", vp);
	if (vf_out)
		*vf_out = vf;
	return vp;
}

static unsigned int lookup(const struct nic *nic, int src, const uint8_t *dst, const uint8_t *smac,
                           int tag, struct nic_verdict *v)
{
	uint8_t buf[128];
	size_t len = mkframe(buf, dst, smac, tag);

	return nic_lookup(nic, buf, len, src, v);
}

/* The single destination of a unicast frame from the wire (-1: dropped). */
static int wire_to(const struct nic *nic, const uint8_t *dst, int tag)
{
	struct nic_verdict v;

	if (lookup(nic, W, dst, MAC_X, tag, &v) != 1)
		return -1;
	return nic_verdict_next(&v, -1);
}

/* --- capabilities and life cycle ---------------------------------------- */

Test(nic, create_checks_caps, .timeout = 10)
{
	struct nic_caps c;
	struct nic_info info;
	struct nic *nic;

	errno = 0;
	cr_assert_null(nic_create(NULL));
	cr_assert_eq(errno, EINVAL);

#define BAD(field, value)                                                                          \
	do {                                                                                       \
		c = CAPS;                                                                          \
		c.field = (value);                                                                 \
		errno = 0;                                                                         \
		cr_assert_null(nic_create(&c), #field " = " #value);                               \
		cr_assert_eq(errno, EINVAL, #field " = " #value);                                  \
	} while (0)
	BAD(max_vports, CAPS.max_vfs);       /* no room for VPort 0 */
	BAD(max_vports, NIC_MAX_VPORTS + 1); /* more than the id space */
	BAD(max_vfs, NIC_MAX_VFS + 1);
	BAD(total_queue_pairs, CAPS.max_vports - 1);
	BAD(max_qps_per_vport, 0);
	BAD(max_qps_per_vport, 3);
	BAD(mac_filters_per_vport, 0);
	BAD(mac_filters_per_vport, NIC_MAX_FILTERS_PER_VPORT + 1);
#undef BAD

	c = CAPS;
	c.max_vports = c.max_vfs + 1; /* the minimum */
	c.total_queue_pairs = c.max_vports;
	nic = new_nic(&c);
	nic_get_info(nic, &info);
	cr_assert_eq(info.caps.max_vports, 5);
	cr_assert_not(info.has_switch);
	cr_assert_eq(info.vfs + info.vports + info.filters + info.qps_used, 0);
	nic_destroy(nic);

	c = (struct nic_caps){ 0, 1, 1, 1, 1 }; /* no SR-IOV at all: still a NIC switch */
	nic = new_nic(&c);
	cr_assert_eq(nic_switch_create(nic, 1), 0);
	cr_assert_eq(nic_vf_alloc(nic, MAC_A, NULL), -ENOSPC);
	cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 1), -ENOSPC);
	nic_destroy(nic);
	nic_destroy(NULL);
}

Test(nic, switch_rules, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	struct nic_vport_info vi;
	struct nic_info info;
	int vf, vp;

	/* Nothing works without the switch. */
	cr_assert_eq(nic_switch_delete(nic), -ENODEV);
	cr_assert_eq(nic_vf_alloc(nic, MAC_A, NULL), -ENODEV);
	cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 1), -ENODEV);
	cr_assert_eq(nic_filter_set(nic, 0, MAC_A, 0), -ENODEV);
	cr_assert_eq(nic_vport_get(nic, 0, &vi), -ENOENT);

	cr_assert_eq(nic_switch_create(nic, 3), -EINVAL);
	cr_assert_eq(nic_switch_create(nic, 0), -EINVAL);
	cr_assert_eq(nic_switch_create(nic, 8), -EINVAL); /* over max_qps_per_vport */
	cr_assert_eq(nic_switch_create(nic, 2), 0);
	cr_assert_eq(nic_switch_create(nic, 2), -EEXIST);

	/* VPort 0: the PF's, active, can't be deleted or stopped. */
	cr_assert_eq(nic_vport_get(nic, 0, &vi), 0);
	cr_assert_eq(vi.vf, NIC_ATTACH_PF);
	cr_assert_eq(vi.nqp, 2);
	cr_assert(vi.running && vi.active);
	cr_assert_eq(nic_vport_delete(nic, 0), -EPERM);
	cr_assert_eq(nic_vport_set_running(nic, 0, false), -EPERM);
	cr_assert_eq(nic_vport_set_running(nic, 0, true), 0);
	nic_get_info(nic, &info);
	cr_assert(info.has_switch);
	cr_assert_eq(info.vports, 1);
	cr_assert_eq(info.qps_used, 2);

	/* Delete is refused while anything hangs off the switch. */
	cr_assert_eq(nic_filter_set(nic, 0, MAC_S, 0), 0);
	cr_assert_eq(nic_switch_delete(nic), -EBUSY);
	cr_assert_eq(nic_filter_clear(nic, MAC_S, 0), 0);
	vf = nic_vf_alloc(nic, MAC_A, NULL);
	cr_assert_eq(nic_switch_delete(nic), -EBUSY);
	vp = nic_vport_create(nic, NIC_ATTACH_PF, 1);
	cr_assert_eq(nic_vf_free(nic, (unsigned int)vf), 0);
	cr_assert_eq(nic_switch_delete(nic), -EBUSY);
	cr_assert_eq(nic_vport_delete(nic, (unsigned int)vp), 0);
	cr_assert_eq(nic_switch_delete(nic), 0);

	nic_get_info(nic, &info);
	cr_assert_not(info.has_switch);
	cr_assert_eq(info.vports + info.qps_used, 0);
	cr_assert_eq(nic_switch_create(nic, 1), 0, "re-creatable");
	nic_destroy(nic);
}

/* --- VFs ------------------------------------------------------------------ */

Test(nic, vf_alloc_free_rules, .timeout = 10)
{
	static const uint8_t zero[6], mcast_mac[6] = { 0x03, 0, 0, 0, 0, 1 };
	struct nic *nic = new_nic(&CAPS);
	struct nic_vf_info vi;
	uint8_t mac[6] = { 0x02, 0, 0, 0, 1, 0 };
	uint32_t serial;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	cr_assert_eq(nic_vf_alloc(nic, zero, &serial), -EINVAL);
	cr_assert_eq(nic_vf_alloc(nic, mcast_mac, &serial), -EINVAL);
	cr_assert_eq(nic_vf_alloc(nic, BCAST, &serial), -EINVAL);
	cr_assert_eq(nic_vf_alloc(nic, NULL, &serial), -EINVAL);

	for (unsigned int i = 0; i < CAPS.max_vfs; i++) {
		mac[5] = (uint8_t)i;
		cr_assert_eq(nic_vf_alloc(nic, mac, &serial), (int)i, "lowest free id");
		cr_assert_eq(nic_vf_get(nic, i, &vi), 0);
		cr_assert_eq(memcmp(vi.mac, mac, 6), 0);
		cr_assert_eq(vi.serial, serial);
		cr_assert_eq(vi.vport, -1);
		cr_assert_eq(vi.power, NIC_POWER_D0);
	}
	mac[5] = 0x77;
	cr_assert_eq(nic_vf_alloc(nic, mac, &serial), -ENOSPC, "all VFs taken");

	cr_assert_eq(nic_vf_free(nic, 2), 0);
	cr_assert_eq(nic_vf_free(nic, 2), -ENOENT);
	cr_assert_eq(nic_vf_free(nic, CAPS.max_vfs), -EINVAL);
	cr_assert_eq(nic_vf_get(nic, 2, &vi), -ENOENT);
	mac[5] = 1;
	cr_assert_eq(nic_vf_alloc(nic, mac, &serial), -EEXIST, "one VF per adapter MAC");
	mac[5] = 0x77;
	cr_assert_eq(nic_vf_alloc(nic, mac, &serial), 2, "the freed id is reused");

	/* FREE_VF fails while its VPort exists. */
	int vp = nic_vport_create(nic, 2, 1);
	cr_assert_geq(vp, 1);
	cr_assert_eq(nic_vf_free(nic, 2), -EBUSY);
	cr_assert_eq(nic_vf_get(nic, 2, &vi), 0);
	cr_assert_eq(vi.vport, vp);
	cr_assert_eq(nic_vport_delete(nic, (unsigned int)vp), 0);
	cr_assert_eq(nic_vf_free(nic, 2), 0);
	nic_destroy(nic);
}

Test(nic, serials_unique_never_reused, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	static uint32_t seen[4000];
	unsigned int n = 0;
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0 };

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	for (unsigned int round = 0; round < 1000; round++) {
		int ids[4];

		for (int k = 0; k < 4; k++) {
			mac[4] = (uint8_t)(round >> 8), mac[5] = (uint8_t)(round * 4 + k);
			mac[3] = (uint8_t)k;
			ids[k] = nic_vf_alloc(nic, mac, &seen[n]);
			cr_assert_geq(ids[k], 0);
			cr_assert_neq(seen[n], 0);
			n++;
		}
		for (int k = 0; k < 4; k++)
			cr_assert_eq(nic_vf_free(nic, (unsigned int)ids[(k + round) % 4]), 0);
		if (round % 100 == 99) { /* a PF halt doesn't restart the numbering */
			cr_assert_eq(nic_pf_halt(nic), 0);
			cr_assert_eq(nic_switch_create(nic, 1), 0);
		}
	}
	for (unsigned int i = 1; i < n; i++)
		cr_assert_gt(seen[i], seen[i - 1], "serials grow: %u then %u", seen[i - 1],
		             seen[i]);
	nic_destroy(nic);
}

/* --- VPorts and queue pairs --------------------------------------------- */

Test(nic, vport_rules, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	struct nic_vport_info vi;
	int vf0, vf1, vp;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	vf0 = nic_vf_alloc(nic, MAC_A, NULL);
	vf1 = nic_vf_alloc(nic, MAC_B, NULL);

	cr_assert_eq(nic_vport_create(nic, 3, 1), -ENOENT, "VF 3 not allocated");
	cr_assert_eq(nic_vport_create(nic, (int)CAPS.max_vfs, 1), -EINVAL);
	cr_assert_eq(nic_vport_create(nic, -7, 1), -EINVAL);
	cr_assert_eq(nic_vport_create(nic, vf0, 0), -EINVAL);
	cr_assert_eq(nic_vport_create(nic, vf0, 3), -EINVAL, "not a power of two");
	cr_assert_eq(nic_vport_create(nic, vf0, 8), -EINVAL, "over the per-VPort max");

	vp = nic_vport_create(nic, vf0, 4);
	cr_assert_eq(vp, 1);
	cr_assert_eq(nic_vport_create(nic, vf0, 1), -EEXIST, "one VPort per VF");
	cr_assert_eq(nic_vport_get(nic, 1, &vi), 0);
	cr_assert_eq(vi.vf, vf0);
	cr_assert_eq(vi.nqp, 4);
	cr_assert_eq(vi.nfilters, 0);
	cr_assert(vi.running && vi.active);

	cr_assert_eq(nic_vport_delete(nic, 5), -ENOENT);
	cr_assert_eq(nic_vport_delete(nic, CAPS.max_vports), -EINVAL);
	cr_assert_eq(nic_filter_set(nic, 1, MAC_A, 0), 0);
	cr_assert_eq(nic_vport_delete(nic, 1), -EBUSY, "filters left");
	cr_assert_eq(nic_filter_clear(nic, MAC_A, 0), 0);
	cr_assert_eq(nic_vport_delete(nic, 1), 0);
	cr_assert_eq(nic_vport_get(nic, 1, &vi), -ENOENT);
	cr_assert_eq(nic_vport_set_running(nic, 1, true), -ENOENT);

	/* The lowest free id; a PF VPort has no VF. */
	cr_assert_eq(nic_vport_create(nic, vf1, 1), 1);
	cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 1), 2);
	cr_assert_eq(nic_vport_get(nic, 2, &vi), 0);
	cr_assert_eq(vi.vf, NIC_ATTACH_PF);
	nic_destroy(nic);
}

Test(nic, vport_and_queue_pair_pools, .timeout = 10)
{
	struct nic_caps c = CAPS;
	struct nic_info info;
	struct nic *nic;
	int vps[8];

	/* VPort pool: 7 besides VPort 0. */
	nic = new_nic(&c);
	cr_assert_eq(nic_switch_create(nic, 1), 0);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 1), i + 1);
	cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 1), -ENOSPC);
	/* ...and a VF finds no VPort left: it stays synthetic. */
	int vf = nic_vf_alloc(nic, MAC_A, NULL);
	cr_assert_eq(nic_vport_create(nic, vf, 1), -ENOSPC);
	cr_assert_eq(nic_vport_delete(nic, 4), 0);
	cr_assert_eq(nic_vport_create(nic, vf, 1), 4);
	nic_destroy(nic);

	/* Queue-pair pool: 16 = 4 (VPort 0) + 4 + 4 + 2 + 1 + 1. */
	nic = new_nic(&c);
	cr_assert_eq(nic_switch_create(nic, 4), 0);
	vps[0] = nic_vport_create(nic, NIC_ATTACH_PF, 4);
	vps[1] = nic_vport_create(nic, NIC_ATTACH_PF, 4);
	vps[2] = nic_vport_create(nic, NIC_ATTACH_PF, 2);
	cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 4), -ENOSPC);
	vps[3] = nic_vport_create(nic, NIC_ATTACH_PF, 1);
	vps[4] = nic_vport_create(nic, NIC_ATTACH_PF, 1);
	cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 1), -ENOSPC, "no queue pair left");
	nic_get_info(nic, &info);
	cr_assert_eq(info.qps_used, 16);
	cr_assert_eq(nic_vport_delete(nic, (unsigned int)vps[2]), 0);
	nic_get_info(nic, &info);
	cr_assert_eq(info.qps_used, 14, "queue pairs go back to the pool");
	cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 2), vps[2]);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(nic_vport_delete(nic, (unsigned int)vps[i]), 0);
	cr_assert_eq(nic_switch_delete(nic), 0);
	cr_assert_eq(nic_switch_create(nic, 8), -EINVAL);
	nic_destroy(nic);

	/* More default queue pairs than the pool holds. */
	c = (struct nic_caps){ 1, 2, 2, 4, 1 };
	nic = new_nic(&c);
	cr_assert_eq(nic_switch_create(nic, 4), -ENOSPC);
	nic_destroy(nic);
}

/* --- receive filters ------------------------------------------------------ */

Test(nic, filter_rules, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	uint8_t mac[6] = { 0x02, 0, 0, 0, 7, 0 };
	int vp;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	vp = attach_vf(nic, MAC_A, NULL);

	cr_assert_eq(nic_filter_set(nic, 0, BCAST, 0), -EINVAL);
	cr_assert_eq(nic_filter_set(nic, 0, MCAST, 0), -EINVAL);
	cr_assert_eq(nic_filter_set(nic, 0, MAC_A, 4095), -EINVAL);
	cr_assert_eq(nic_filter_set(nic, 5, MAC_A, 0), -ENXIO, "no such VPort");
	cr_assert_eq(nic_filter_set(nic, CAPS.max_vports, MAC_A, 0), -EINVAL);

	/* MAC-only and MAC+VLAN filters of one MAC are different filters. */
	cr_assert_eq(nic_filter_set(nic, 0, MAC_A, 0), 0);
	cr_assert_eq(nic_filter_set(nic, (unsigned int)vp, MAC_A, 100), 0);
	cr_assert_eq(nic_filter_set(nic, 0, MAC_A, 0), -EEXIST);
	cr_assert_eq(nic_filter_set(nic, (unsigned int)vp, MAC_A, 0), -EEXIST,
	             "unique in the switch");
	cr_assert_eq(nic_filter_find(nic, MAC_A, 0), 0);
	cr_assert_eq(nic_filter_find(nic, MAC_A, 100), vp);
	cr_assert_eq(nic_filter_find(nic, MAC_A, 101), -ENOENT);

	/* Per-VPort limit (3). */
	for (int i = 0; i < 2; i++) {
		mac[5] = (uint8_t)i;
		cr_assert_eq(nic_filter_set(nic, (unsigned int)vp, mac, 0), 0);
	}
	mac[5] = 9;
	cr_assert_eq(nic_filter_set(nic, (unsigned int)vp, mac, 0), -ENOSPC);
	cr_assert_eq(nic_filter_set(nic, (unsigned int)vp, MAC_A, 0), -EEXIST,
	             "a duplicate is a duplicate even on a full VPort");

	cr_assert_eq(nic_filter_clear(nic, MAC_A, 5), -ENOENT);
	cr_assert_eq(nic_filter_clear(nic, MAC_A, 100), 0);
	cr_assert_eq(nic_filter_clear(nic, MAC_A, 100), -ENOENT);
	cr_assert_eq(nic_filter_find(nic, MAC_A, 0), 0, "the MAC-only filter stays");
	cr_assert_eq(nic_filter_set(nic, (unsigned int)vp, mac, 0), 0, "room again");
	nic_destroy(nic);
}

Test(nic, move_filter_rules, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	uint8_t mac[6] = { 0x02, 0, 0, 0, 7, 0 };
	int vp;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	vp = attach_vf(nic, MAC_A, NULL);
	cr_assert_eq(nic_filter_set(nic, 0, MAC_A, 0), 0);

	cr_assert_eq(nic_filter_move(nic, MAC_B, 0, (unsigned int)vp), -ENOENT);
	cr_assert_eq(nic_filter_move(nic, MAC_A, 7, (unsigned int)vp), -ENOENT);
	cr_assert_eq(nic_filter_move(nic, MAC_A, 0, 6), -ENXIO);
	cr_assert_eq(nic_filter_move(nic, MAC_A, 0, CAPS.max_vports), -EINVAL);
	cr_assert_eq(nic_filter_move(nic, MAC_A, 0, 0), 0, "to where it is: nothing to do");

	/* A full target: refused, nothing changed. */
	for (int i = 0; i < 3; i++) {
		mac[5] = (uint8_t)i;
		cr_assert_eq(nic_filter_set(nic, (unsigned int)vp, mac, 0), 0);
	}
	cr_assert_eq(nic_filter_move(nic, MAC_A, 0, (unsigned int)vp), -ENOSPC);
	cr_assert_eq(nic_filter_find(nic, MAC_A, 0), 0);
	cr_assert_eq(wire_to(nic, MAC_A, NOTAG), 0);
	mac[5] = 0;
	cr_assert_eq(nic_filter_clear(nic, mac, 0), 0);
	cr_assert_eq(nic_filter_move(nic, MAC_A, 0, (unsigned int)vp), 0);
	cr_assert_eq(nic_filter_find(nic, MAC_A, 0), vp);
	nic_destroy(nic);
}

static int count_filters(void *arg, const struct nic_filter_info *f)
{
	(*(int *)arg)++;
	return 0;
}

/* The attach / failover sequence of the spec: the VM's filter goes to the VF's
 * VPort and back, and every lookup in between sees exactly one VPort. */
Test(nic, move_filter_is_atomic, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	const struct nic_dump_ops ops = { .filter = count_filters };
	struct nic_verdict v;
	int vp, vf, nfilters;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	cr_assert_eq(nic_filter_set(nic, 0, MAC_A, 0), 0); /* synthetic VM A */
	cr_assert_eq(nic_filter_set(nic, 0, MAC_A, 42), 0);
	vp = attach_vf(nic, MAC_A, &vf);

	for (int round = 0; round < 3; round++) {
		/* before: the default VPort */
		cr_assert_eq(wire_to(nic, MAC_A, NOTAG), 0);
		cr_assert_eq(wire_to(nic, MAC_A, 0), 0);
		cr_assert_eq(lookup(nic, vp, MAC_X, MAC_A, NOTAG, &v), 0, "VF can't send yet");
		cr_assert_eq(v.drop, NIC_DROP_SPOOF);

		cr_assert_eq(nic_filter_move(nic, MAC_A, 0, (unsigned int)vp), 0);
		/* after: the VF's VPort, for unicast and broadcast alike */
		cr_assert_eq(wire_to(nic, MAC_A, NOTAG), vp);
		cr_assert_eq(wire_to(nic, MAC_A, 0), vp);
		cr_assert_eq(wire_to(nic, MAC_A, 42), 0, "the VLAN-42 filter did not move");
		cr_assert_eq(lookup(nic, 0, MAC_A, MAC_S, NOTAG, &v), 1);
		cr_assert(nic_verdict_has(&v, (unsigned int)vp), "host to VM now reaches the VF");
		cr_assert_eq(lookup(nic, W, BCAST, MAC_X, NOTAG, &v), 2);
		cr_assert(nic_verdict_has(&v, 0) && nic_verdict_has(&v, (unsigned int)vp));
		cr_assert_eq(lookup(nic, vp, MAC_X, MAC_A, NOTAG, &v), 1, "VF sends now");
		cr_assert(nic_verdict_has(&v, W));
		nfilters = 0;
		nic_dump(nic, &ops, &nfilters);
		cr_assert_eq(nfilters, 2, "moved, not copied");

		/* failover: back to the default VPort, delete, reset, free */
		cr_assert_eq(nic_filter_move(nic, MAC_A, 0, 0), 0);
		cr_assert_eq(wire_to(nic, MAC_A, NOTAG), 0);
		cr_assert_eq(lookup(nic, W, BCAST, MAC_X, NOTAG, &v), 1);
		cr_assert(nic_verdict_has(&v, 0));
		cr_assert_eq(nic_vport_delete(nic, (unsigned int)vp), 0);
		cr_assert_eq(nic_vf_reset(nic, (unsigned int)vf), 0);
		cr_assert_eq(nic_vf_free(nic, (unsigned int)vf), 0);
		cr_assert_eq(wire_to(nic, MAC_A, NOTAG), 0);
		vp = attach_vf(nic, MAC_A, &vf);
	}
	nic_destroy(nic);
}

/* --- forwarding decisions ------------------------------------------------- */

struct fwd_case {
	const char *name;
	int src;             /* VPort or NIC_SRC_WIRE */
	const uint8_t *smac; /* source MAC */
	const uint8_t *dmac; /* destination MAC */
	int tag;             /* the 802.1Q TCI, or NOTAG */
	uint32_t vports;     /* expected VPort destinations, P(n) */
	bool wire;           /* expected: out to the wire */
	enum nic_drop drop;  /* expected drop reason (nothing expected above) */
};

/* The fixture:
 *   VPort 0 (PF, default)  S/untagged, S/VLAN 10   (a synthetic VM)
 *   VPort 1 = VF0 (MAC A)  A/untagged, A/VLAN 20
 *   VPort 2 = VF1 (MAC B)  B/untagged
 *   VPort 3 = VF2 (MAC C)  C/VLAN 10 only
 *   VPort 4 = VF3 (MAC D)  no filter yet (before MOVE_FILTER)
 *   VPort 5 (PF)           P/untagged, P/VLAN 10
 */
#define FIXTURE_VPORTS 6

static const struct fwd_case fwd_cases[] = {
	/* VF sources */
	{ "vf to vf, untagged", 1, MAC_A, MAC_B, NOTAG, P(2), false, 0 },
	{ "vf to vf, priority tag (VLAN 0)", 1, MAC_A, MAC_B, 0x2000, P(2), false, 0 },
	{ "vf to a vlan-only filter, untagged: no match", 1, MAC_A, MAC_C, NOTAG, 0, true, 0 },
	{ "vf on its second vlan, unknown", 1, MAC_A, MAC_X, 20, 0, true, 0 },
	{ "vf to a synthetic vm (filter on VPort 0)", 1, MAC_A, MAC_S, NOTAG, P(0), false, 0 },
	{ "vf unknown unicast goes to the wire", 1, MAC_A, MAC_X, NOTAG, 0, true, 0 },
	{ "vf broadcast", 1, MAC_A, BCAST, NOTAG, P(0) | P(2) | P(5), true, 0 },
	{ "vf multicast", 1, MAC_A, MCAST, NOTAG, P(0) | P(2) | P(5), true, 0 },
	{ "vf broadcast on vlan 20: no other member", 1, MAC_A, BCAST, 20, P(0), true, 0 },
	{ "vf to itself", 1, MAC_A, MAC_A, NOTAG, 0, false, NIC_DROP_NO_FILTER },
	{ "vf spoofs another vf's mac", 1, MAC_B, MAC_X, NOTAG, 0, false, NIC_DROP_SPOOF },
	{ "vf spoofs a made-up mac", 1, MAC_Z, MAC_B, NOTAG, 0, false, NIC_DROP_SPOOF },
	{ "vf on a disallowed vlan", 1, MAC_A, MAC_B, 10, 0, false, NIC_DROP_SPOOF },
	{ "vf broadcast on a disallowed vlan", 1, MAC_A, BCAST, 10, 0, false, NIC_DROP_SPOOF },
	{ "vlan-only vf sends untagged", 3, MAC_C, MAC_X, NOTAG, 0, false, NIC_DROP_SPOOF },
	{ "vlan-only vf sends priority-tagged", 3, MAC_C, MAC_X, 0, 0, false, NIC_DROP_SPOOF },
	{ "vlan vf to a peer on its vlan", 3, MAC_C, MAC_P, 10, P(5), false, 0 },
	{ "vlan vf: priority bits don't matter", 3, MAC_C, MAC_P, 0xa00a, P(5), false, 0 },
	{ "vlan vf to synthetic vm on vlan 10", 3, MAC_C, MAC_S, 10, P(0), false, 0 },
	{ "vlan vf broadcast", 3, MAC_C, BCAST, 10, P(0) | P(5), true, 0 },
	{ "vlan vf to an untagged-only peer", 3, MAC_C, MAC_B, 10, 0, true, 0 },
	{ "vf without filters can't send", 4, MAC_D, MAC_X, NOTAG, 0, false, NIC_DROP_SPOOF },
	{ "nobody sends to a vport without filters", 1, MAC_A, MAC_D, NOTAG, 0, true, 0 },
	/* from the wire */
	{ "wire to vf", W, MAC_X, MAC_A, NOTAG, P(1), false, 0 },
	{ "wire to vf, vlan 0", W, MAC_X, MAC_A, 0, P(1), false, 0 },
	{ "wire to vf, its mac+vlan filter", W, MAC_X, MAC_A, 20, P(1), false, 0 },
	{ "wire to vf mac on another vlan", W, MAC_X, MAC_A, 30, P(0), false, 0 },
	{ "wire to vlan-only vf", W, MAC_X, MAC_C, 10, P(3), false, 0 },
	{ "wire untagged to vlan-only vf", W, MAC_X, MAC_C, NOTAG, P(0), false, 0 },
	{ "wire unknown unicast", W, MAC_X, MAC_Y, NOTAG, P(0), false, 0 },
	{ "wire to synthetic vm", W, MAC_X, MAC_S, NOTAG, P(0), false, 0 },
	{ "wire to the pf vport", W, MAC_X, MAC_P, 10, P(5), false, 0 },
	{ "wire broadcast", W, MAC_X, BCAST, NOTAG, P(0) | P(1) | P(2) | P(5), false, 0 },
	{ "wire broadcast, vlan 0", W, MAC_X, BCAST, 0, P(0) | P(1) | P(2) | P(5), false, 0 },
	{ "wire broadcast, vlan 10", W, MAC_X, BCAST, 10, P(0) | P(3) | P(5), false, 0 },
	{ "wire multicast, vlan 20", W, MAC_X, MCAST, 20, P(0) | P(1), false, 0 },
	{ "wire multicast, unused vlan", W, MAC_X, MCAST, 99, P(0), false, 0 },
	{ "wire, multicast source", W, MCAST, MAC_A, NOTAG, 0, false, NIC_DROP_MALFORMED },
	{ "wire, vlan 4095", W, MAC_X, MAC_A, 4095, 0, false, NIC_DROP_MALFORMED },
	/* from the PF's VPorts: no anti-spoofing (the host switch polices) */
	{ "host to vf", 0, MAC_S, MAC_A, NOTAG, P(1), false, 0 },
	{ "host with any source", 0, MAC_Z, MAC_B, NOTAG, P(2), false, 0 },
	{ "host unknown unicast to the wire", 0, MAC_S, MAC_X, NOTAG, 0, true, 0 },
	{ "host broadcast", 0, MAC_S, BCAST, NOTAG, P(1) | P(2) | P(5), true, 0 },
	{ "host broadcast on vlan 10", 0, MAC_S, BCAST, 10, P(3) | P(5), true, 0 },
	{ "host to its own filter", 0, MAC_X, MAC_S, NOTAG, 0, false, NIC_DROP_NO_FILTER },
	{ "pf vport to vf", 5, MAC_P, MAC_A, NOTAG, P(1), false, 0 },
	{ "pf vport unknown unicast", 5, MAC_Z, MAC_X, NOTAG, 0, true, 0 },
	{ "pf vport to synthetic vm", 5, MAC_P, MAC_S, 10, P(0), false, 0 },
	/* bad sources */
	{ "from a vport that doesn't exist", 6, MAC_A, MAC_B, NOTAG, 0, false, NIC_DROP_INACTIVE },
	{ "from beyond the vport range", 200, MAC_A, MAC_B, NOTAG, 0, false, NIC_DROP_INACTIVE },
	{ "from a negative vport", -3, MAC_A, MAC_B, NOTAG, 0, false, NIC_DROP_INACTIVE },
};

static struct nic *fwd_fixture(void)
{
	struct nic *nic = new_nic(&CAPS);
	int pf;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	cr_assert_eq(attach_vf(nic, MAC_A, NULL), 1);
	cr_assert_eq(attach_vf(nic, MAC_B, NULL), 2);
	cr_assert_eq(attach_vf(nic, MAC_C, NULL), 3);
	cr_assert_eq(attach_vf(nic, MAC_D, NULL), 4);
	pf = nic_vport_create(nic, NIC_ATTACH_PF, 1);
	cr_assert_eq(pf, 5);
	cr_assert_eq(nic_filter_set(nic, 0, MAC_S, 0), 0);
	cr_assert_eq(nic_filter_set(nic, 0, MAC_S, 10), 0);
	cr_assert_eq(nic_filter_set(nic, 1, MAC_A, 0), 0);
	cr_assert_eq(nic_filter_set(nic, 1, MAC_A, 20), 0);
	cr_assert_eq(nic_filter_set(nic, 2, MAC_B, 0), 0);
	cr_assert_eq(nic_filter_set(nic, 3, MAC_C, 10), 0);
	cr_assert_eq(nic_filter_set(nic, 5, MAC_P, 0), 0);
	cr_assert_eq(nic_filter_set(nic, 5, MAC_P, 10), 0);
	return nic;
}

static void check_verdict(const struct fwd_case *c, unsigned int n, const struct nic_verdict *v)
{
	unsigned int expect = (unsigned int)__builtin_popcount(c->vports) + c->wire;
	unsigned int seen = 0;

	cr_assert_eq(n, expect, "%s: %u destinations, expected %u (drop %s)", c->name, n, expect,
	             nic_drop_name(v->drop));
	cr_assert_eq(v->ndst, n, "%s", c->name);
	cr_assert_eq(v->port, n == 1 ? nic_verdict_next(v, -1) : -1, "%s: the one port", c->name);
	cr_assert_eq(v->drop, c->drop, "%s: drop %s, expected %s", c->name, nic_drop_name(v->drop),
	             nic_drop_name(c->drop));
	for (int p = nic_verdict_next(v, -1); p >= 0; p = nic_verdict_next(v, p)) {
		if (p == (int)W)
			cr_assert(c->wire, "%s: unexpected wire", c->name);
		else
			cr_assert(p < 32 && (c->vports & P(p)), "%s: unexpected VPort %d", c->name,
			          p);
		cr_assert_neq(p, c->src, "%s: back to the source", c->name);
		seen++;
	}
	cr_assert_eq(seen, n, "%s", c->name);
	if (c->drop) {
		bool exists = c->src == (int)W || (c->src >= 0 && c->src < FIXTURE_VPORTS);
		int charge = exists ? c->src : -1;

		cr_assert_eq(v->drop_port, charge, "%s: drop charged to %d", c->name, v->drop_port);
	}
}

Test(nic, forwarding_table, .timeout = 10)
{
	struct nic *nic = fwd_fixture();

	for (size_t i = 0; i < sizeof(fwd_cases) / sizeof(fwd_cases[0]); i++) {
		const struct fwd_case *c = &fwd_cases[i];
		struct nic_verdict v;
		unsigned int n = lookup(nic, c->src, c->dmac, c->smac, c->tag, &v);

		check_verdict(c, n, &v);
		if (!c->drop && c->tag != NOTAG)
			cr_assert_eq(v.vlan, c->tag & 0xfff, "%s", c->name);
	}
	nic_destroy(nic);
}

Test(nic, runt_and_truncated_frames, .timeout = 10)
{
	struct nic *nic = fwd_fixture();
	struct nic_verdict v;
	uint8_t buf[128];
	size_t full = mkframe(buf, MAC_A, MAC_X, 20);

	for (size_t len = 0; len < 18; len++) {
		uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any over-read */

		memcpy(copy, buf, len);
		cr_assert_eq(nic_lookup(nic, copy, len, W, &v), 0, "len %zu", len);
		cr_assert_eq(v.drop, NIC_DROP_MALFORMED, "len %zu", len);
		cr_assert_eq(v.drop_port, (int)W);
		free(copy);
	}
	cr_assert_eq(nic_lookup(nic, buf, 18, W, &v), 1, "a tagged header and no payload");
	cr_assert_eq(nic_lookup(nic, buf, full, W, &v), 1);
	cr_assert(nic_verdict_has(&v, 1));

	/* Untagged: 14 bytes are enough, 13 aren't. */
	full = mkframe(buf, MAC_A, MAC_X, NOTAG);
	cr_assert_eq(nic_lookup(nic, buf, 13, W, &v), 0);
	cr_assert_eq(nic_lookup(nic, buf, 14, W, &v), 1);
	/* From a VF: a runt is charged to it. */
	full = mkframe(buf, MAC_B, MAC_A, NOTAG);
	cr_assert_eq(nic_lookup(nic, buf, 10, 1, &v), 0);
	cr_assert_eq(v.drop, NIC_DROP_MALFORMED);
	cr_assert_eq(v.drop_port, 1);
	nic_destroy(nic);
}

Test(nic, no_switch_drops_everything, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	struct nic_verdict v;

	cr_assert_eq(lookup(nic, W, MAC_A, MAC_X, NOTAG, &v), 0);
	cr_assert_eq(v.drop, NIC_DROP_NO_FILTER);
	cr_assert_eq(lookup(nic, W, BCAST, MAC_X, NOTAG, &v), 0);
	cr_assert_eq(lookup(nic, 0, MAC_A, MAC_X, NOTAG, &v), 0);
	cr_assert_eq(v.drop, NIC_DROP_INACTIVE);
	cr_assert_eq(v.drop_port, -1);
	nic_destroy(nic);
}

/* --- FLR, power ----------------------------------------------------------- */

Test(nic, flr_affects_only_the_target_vf, .timeout = 10)
{
	struct nic *nic = fwd_fixture();
	struct nic_port_stats st;
	struct nic_vport_info vi;
	struct nic_vf_info fi;
	struct nic_verdict v;
	uint8_t cfg0[NIC_CFG_SPACE_SIZE], cfg1[NIC_CFG_SPACE_SIZE], b[NIC_BLOCK_MAX_LEN];
	const uint16_t cmd = 0x0006;
	uint64_t pending;

	/* Dirty VF0 (VPort 1) and VF1 (VPort 2) alike. */
	for (unsigned int vf = 0; vf < 2; vf++) {
		cr_assert_eq(nic_vport_count(nic, vf + 1, NIC_CTR_ENQUEUE, 5 + vf, 0), 0);
		cr_assert_eq(nic_vf_cfg_write(nic, vf, 0x04, &cmd, 2), 0);
		cr_assert_eq(nic_vf_block_write(nic, vf, NIC_BY_VF, 40, "up", 2), 0);
		cr_assert_eq(nic_vf_block_write(nic, vf, NIC_BY_PF, 5, "pf", 2), 0);
		cr_assert_eq(nic_vf_block_invalidate(nic, vf, 1u << 5), 0);
	}
	cr_assert_eq(nic_vf_set_power(nic, 0, NIC_POWER_D3HOT), 0);
	cr_assert_eq(nic_vf_cfg_read(nic, 1, 0, cfg1, sizeof(cfg1)), 0);

	cr_assert_eq(nic_vf_reset(nic, 0), 0);

	/* VF0: queued frames became FLR drops, queues stopped, power-on state. */
	cr_assert_eq(nic_port_stats(nic, 1, &st), 0);
	cr_assert_eq(st.queued, 0);
	cr_assert_eq(st.drops[NIC_DROP_FLR], 5);
	cr_assert_eq(nic_vport_get(nic, 1, &vi), 0);
	cr_assert_not(vi.running);
	cr_assert_not(vi.active);
	cr_assert_eq(vi.nfilters, 2, "filters are the PF's: kept");
	cr_assert_eq(nic_vf_get(nic, 0, &fi), 0);
	cr_assert_eq(fi.power, NIC_POWER_D0);
	cr_assert_eq(fi.pending, 0);
	cr_assert_eq(fi.vport, 1);
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 0, cfg0, sizeof(cfg0)), 0);
	cr_assert_eq(cfg0[4] | cfg0[5], 0, "command register back to 0");
	cr_assert_eq(cfg0[0x54] & 3, 0, "PMCSR: D0");
	cr_assert_eq(nic_vf_block_read(nic, 0, 40, b, sizeof(b)), -ENOENT, "VF block cleared");
	cr_assert_eq(nic_vf_block_read(nic, 0, 5, b, sizeof(b)), 2, "PF block kept");
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCK_MAC, b, sizeof(b)), 6);
	cr_assert_eq(memcmp(b, MAC_A, 6), 0);

	/* VF1 untouched. */
	cr_assert_eq(nic_port_stats(nic, 2, &st), 0);
	cr_assert_eq(st.queued, 6);
	cr_assert_eq(st.drops[NIC_DROP_FLR], 0);
	cr_assert_eq(nic_vport_get(nic, 2, &vi), 0);
	cr_assert(vi.running && vi.active);
	cr_assert_eq(nic_vf_cfg_read(nic, 1, 0, cfg0, sizeof(cfg0)), 0);
	cr_assert_eq(memcmp(cfg0, cfg1, sizeof(cfg0)), 0);
	cr_assert_eq(nic_vf_block_read(nic, 1, 40, b, sizeof(b)), 2);
	cr_assert_eq(nic_vf_block_pending(nic, 1, &pending), 0);
	cr_assert_eq(pending, 1u << 5);

	/* Stopped queues neither receive nor send; the others carry on. */
	cr_assert_eq(lookup(nic, W, MAC_A, MAC_X, NOTAG, &v), 0);
	cr_assert_eq(v.drop, NIC_DROP_INACTIVE);
	cr_assert_eq(v.drop_port, 1, "charged to the stopped VPort");
	cr_assert_eq(lookup(nic, 1, MAC_B, MAC_A, NOTAG, &v), 0);
	cr_assert_eq(v.drop, NIC_DROP_INACTIVE);
	cr_assert_eq(lookup(nic, W, BCAST, MAC_X, NOTAG, &v), 3);
	cr_assert_not(nic_verdict_has(&v, 1));
	cr_assert_eq(lookup(nic, W, MAC_B, MAC_X, NOTAG, &v), 1);
	cr_assert(nic_verdict_has(&v, 2));

	/* The VF driver starts again. */
	cr_assert_eq(nic_vport_set_running(nic, 1, true), 0);
	cr_assert_eq(wire_to(nic, MAC_A, NOTAG), 1);

	/* Only allocated VFs. */
	cr_assert_eq(nic_vf_free(nic, 3), -EBUSY);
	cr_assert_eq(nic_vport_delete(nic, 4), 0);
	cr_assert_eq(nic_vf_free(nic, 3), 0);
	cr_assert_eq(nic_vf_reset(nic, 3), -ENOENT);
	cr_assert_eq(nic_vf_reset(nic, CAPS.max_vfs), -EINVAL);
	/* A VF without a VPort can be reset too. */
	cr_assert_eq(nic_vf_alloc(nic, MAC_D, NULL), 3);
	cr_assert_eq(nic_vf_reset(nic, 3), 0);
	nic_destroy(nic);
}

Test(nic, power_state, .timeout = 10)
{
	struct nic *nic = fwd_fixture();
	struct nic_vport_info vi;
	struct nic_vf_info fi;
	uint8_t pmcsr;

	cr_assert_eq(nic_vf_set_power(nic, 1, (enum nic_power)1), -EINVAL, "D1: not supported");
	cr_assert_eq(nic_vf_set_power(nic, 1, (enum nic_power)7), -EINVAL);
	cr_assert_eq(nic_vf_set_power(nic, CAPS.max_vfs, NIC_POWER_D3HOT), -EINVAL);
	cr_assert_eq(nic_vport_delete(nic, 4), 0);
	cr_assert_eq(nic_vf_free(nic, 3), 0);
	cr_assert_eq(nic_vf_set_power(nic, 3, NIC_POWER_D3HOT), -ENOENT);

	cr_assert_eq(nic_vf_set_power(nic, 1, NIC_POWER_D3HOT), 0);
	cr_assert_eq(nic_vf_get(nic, 1, &fi), 0);
	cr_assert_eq(fi.power, NIC_POWER_D3HOT);
	cr_assert_eq(nic_vf_cfg_read(nic, 1, 0x54, &pmcsr, 1), 0);
	cr_assert_eq(pmcsr & 3, 3, "PMCSR shows D3hot");
	cr_assert_eq(nic_vport_get(nic, 2, &vi), 0);
	cr_assert(vi.running && !vi.active);
	cr_assert_eq(wire_to(nic, MAC_B, NOTAG), -1, "no traffic to a VF in D3hot");
	cr_assert_eq(wire_to(nic, MAC_A, NOTAG), 1, "other VFs unaffected");
	/* The VF can't wake itself through config space. */
	pmcsr = 0;
	cr_assert_eq(nic_vf_cfg_write(nic, 1, 0x54, &pmcsr, 1), 0);
	cr_assert_eq(nic_vf_cfg_read(nic, 1, 0x54, &pmcsr, 1), 0);
	cr_assert_eq(pmcsr & 3, 3);

	cr_assert_eq(nic_vf_set_power(nic, 1, NIC_POWER_D0), 0);
	cr_assert_eq(wire_to(nic, MAC_B, NOTAG), 2);
	nic_destroy(nic);
}

/* --- backchannel: config space and config blocks ------------------------- */

static uint32_t rd32(const struct nic *nic, unsigned int vf, unsigned int off)
{
	uint8_t b[4];

	cr_assert_eq(nic_vf_cfg_read(nic, vf, off, b, 4), 0);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr32(struct nic *nic, unsigned int vf, unsigned int off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	cr_assert_eq(nic_vf_cfg_write(nic, vf, off, b, 4), 0);
}

Test(nic, config_space, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	uint8_t all[NIC_CFG_SPACE_SIZE], junk[NIC_CFG_SPACE_SIZE];
	unsigned int cap;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 0, all, 4), -ENOENT);
	cr_assert_eq(nic_vf_alloc(nic, MAC_A, NULL), 0);
	cr_assert_eq(nic_vf_alloc(nic, MAC_B, NULL), 1);

	cr_assert_eq(rd32(nic, 0, 0x00), NIC_PCI_VF_DEVICE_ID << 16 | NIC_PCI_VENDOR_ID);
	cr_assert_eq(rd32(nic, 0, 0x08) >> 8, 0x020000, "class: Ethernet controller");
	cr_assert_eq(rd32(nic, 0, 0x10), NIC_VF_BAR_BASE | 0xc);
	cr_assert_eq(rd32(nic, 1, 0x10), (NIC_VF_BAR_BASE + NIC_VF_BAR_SIZE) | 0xc);
	cr_assert_eq(rd32(nic, 0, 0x2c), rd32(nic, 0, 0x00), "subsystem ids");

	/* The capability list is well formed: PCIe, then power management. */
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 0, all, sizeof(all)), 0);
	cr_assert(all[0x06] & 0x10);
	cap = all[0x34];
	cr_assert_eq(cap, 0x40);
	cr_assert_eq(all[cap], 0x10);
	cap = all[cap + 1];
	cr_assert_eq(all[cap], 0x01);
	cr_assert_eq(all[cap + 1], 0);

	/* Read-only fields ignore writes; writable bits take them. */
	memset(junk, 0xff, sizeof(junk));
	cr_assert_eq(nic_vf_cfg_write(nic, 0, 0, junk, sizeof(junk)), 0);
	cr_assert_eq(rd32(nic, 0, 0x00), NIC_PCI_VF_DEVICE_ID << 16 | NIC_PCI_VENDOR_ID);
	cr_assert_eq(rd32(nic, 0, 0x04), 0x0010 << 16 | 0x0546, "command: writable bits only");
	cr_assert_eq(rd32(nic, 0, 0x08), rd32(nic, 1, 0x08));
	cr_assert_eq(rd32(nic, 0, 0x10), 0xffff000c, "BAR sizing: 64 KiB, 64-bit, prefetchable");
	cr_assert_eq(rd32(nic, 0, 0x14), 0xffffffff);
	cr_assert_eq(rd32(nic, 0, 0x18), 0, "BAR2 not implemented");
	cr_assert_eq(rd32(nic, 0, 0x48) & 0xffff, 0x7fff, "device control, FLR bit read-only");
	cr_assert_eq(rd32(nic, 0, 0x3c) & 0xffff, 0x00ff, "interrupt line; no pin");
	wr32(nic, 0, 0x10, 0xc1230000);
	wr32(nic, 0, 0x14, 0);
	cr_assert_eq(rd32(nic, 0, 0x10), 0xc123000c);
	cr_assert_eq(rd32(nic, 1, 0x04) & 0xffff, 0, "the other VF's space is its own");

	/* Bounds. */
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 255, junk, 1), 0);
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 256, junk, 0), 0);
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 255, junk, 2), -EINVAL);
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 256, junk, 1), -EINVAL);
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 0, junk, 257), -EINVAL);
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 8, junk, SIZE_MAX), -EINVAL);
	cr_assert_eq(nic_vf_cfg_write(nic, 0, 200, junk, 57), -EINVAL);
	cr_assert_eq(nic_vf_cfg_write(nic, 0, 0xffffffffu, junk, 2), -EINVAL);
	cr_assert_eq(nic_vf_cfg_write(nic, CAPS.max_vfs, 0, junk, 2), -EINVAL);
	cr_assert_eq(nic_vf_cfg_write(nic, 2, 0, junk, 2), -ENOENT);

	/* An FLR restores the power-on space. */
	cr_assert_eq(nic_vf_reset(nic, 0), 0);
	cr_assert_eq(nic_vf_cfg_read(nic, 0, 0, junk, sizeof(junk)), 0);
	cr_assert_eq(memcmp(all, junk, sizeof(all)), 0);
	nic_destroy(nic);
}

Test(nic, config_blocks, .timeout = 10)
{
	struct nic *nic = new_nic(&CAPS);
	uint8_t b[NIC_BLOCK_MAX_LEN + 1] = { 0 };
	uint64_t pending;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	cr_assert_eq(nic_vf_alloc(nic, MAC_A, NULL), 0);

	/* Filled in at allocation: MAC, VLAN, MTU. */
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCK_MAC, b, sizeof(b)), 6);
	cr_assert_eq(memcmp(b, MAC_A, 6), 0);
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCK_VLAN, b, sizeof(b)), 2);
	cr_assert_eq(b[0] | b[1], 0);
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCK_MTU, b, sizeof(b)), 4);
	cr_assert_eq(b[0] | b[1] << 8, 1500);
	cr_assert_eq(nic_vf_block_read(nic, 0, 7, b, sizeof(b)), -ENOENT, "never written");

	/* The PF writes, the VF reads; the VF writes only its own blocks. */
	cr_assert_eq(nic_vf_block_write(nic, 0, NIC_BY_PF, NIC_BLOCK_VLAN, "\x0a\x00", 2), 0);
	cr_assert_eq(nic_vf_block_write(nic, 0, NIC_BY_VF, NIC_BLOCK_VLAN, "\x0b\x00", 2), -EPERM);
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCK_VLAN, b, sizeof(b)), 2);
	cr_assert_eq(b[0], 0x0a);
	cr_assert_eq(nic_vf_block_write(nic, 0, NIC_BY_VF, NIC_BLOCK_VF_FIRST, "ready", 5), 0);
	cr_assert_eq(nic_vf_block_write(nic, 0, NIC_BY_VF, NIC_BLOCKS - 1, "", 0), 0);
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCKS - 1, b, 0), 0, "an empty block");
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCK_VF_FIRST, b, sizeof(b)), 5);
	cr_assert_eq(memcmp(b, "ready", 5), 0);
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCK_VF_FIRST, b, 4), -ENOBUFS);

	/* Sizes and ids. */
	memset(b, 0x5a, sizeof(b));
	cr_assert_eq(nic_vf_block_write(nic, 0, NIC_BY_PF, 9, b, NIC_BLOCK_MAX_LEN), 0);
	cr_assert_eq(nic_vf_block_read(nic, 0, 9, b, sizeof(b)), (int)NIC_BLOCK_MAX_LEN);
	cr_assert_eq(nic_vf_block_write(nic, 0, NIC_BY_PF, 9, b, NIC_BLOCK_MAX_LEN + 1), -EINVAL);
	cr_assert_eq(nic_vf_block_write(nic, 0, NIC_BY_PF, NIC_BLOCKS, b, 1), -EINVAL);
	cr_assert_eq(nic_vf_block_write(nic, 0, (enum nic_who)9, 40, b, 1), -EINVAL);
	cr_assert_eq(nic_vf_block_read(nic, 0, NIC_BLOCKS, b, sizeof(b)), -EINVAL);
	cr_assert_eq(nic_vf_block_read(nic, 1, 1, b, sizeof(b)), -ENOENT, "VF not allocated");
	cr_assert_eq(nic_vf_block_write(nic, 1, NIC_BY_PF, 1, b, 1), -ENOENT);

	/* Invalidation: the PF sets bits, the VF reads and clears them. */
	cr_assert_eq(nic_vf_block_pending(nic, 0, &pending), 0);
	cr_assert_eq(pending, 0);
	cr_assert_eq(nic_vf_block_invalidate(nic, 0, 1u << NIC_BLOCK_VLAN), 0);
	cr_assert_eq(nic_vf_block_invalidate(nic, 0, 1ull << 63 | 1u << NIC_BLOCK_MTU), 0);
	cr_assert_eq(nic_vf_block_pending(nic, 0, &pending), 0);
	cr_assert_eq(pending, 1ull << 63 | 1u << NIC_BLOCK_MTU | 1u << NIC_BLOCK_VLAN);
	cr_assert_eq(nic_vf_block_pending(nic, 0, &pending), 0);
	cr_assert_eq(pending, 0, "read and cleared");
	cr_assert_eq(nic_vf_block_invalidate(nic, 1, 1), -ENOENT);
	cr_assert_eq(nic_vf_block_pending(nic, 1, &pending), -ENOENT);
	nic_destroy(nic);
}

/* --- PF halt ---------------------------------------------------------------- */

static int count_vfs(void *arg, const struct nic_vf_info *vf)
{
	(*(int *)arg)++;
	return 0;
}

static int count_vports(void *arg, const struct nic_vport_info *vp)
{
	(*(int *)arg)++;
	return 0;
}

static int dump_count(const struct nic *nic)
{
	const struct nic_dump_ops ops = { count_vfs, count_vports, count_filters };
	int n = 0;

	cr_assert_eq(nic_dump(nic, &ops, &n), 0);
	return n;
}

Test(nic, pf_halt_empties_and_recreates, .timeout = 10)
{
	struct nic *nic = fwd_fixture();
	struct nic_vport_info vi;
	struct nic_info info;
	uint32_t serial_before, serial_after;
	struct nic_vf_info fi;

	cr_assert_eq(nic_vf_get(nic, 3, &fi), 0);
	serial_before = fi.serial;
	cr_assert_eq(dump_count(nic), 4 + 6 + 8);

	cr_assert_eq(nic_pf_halt(nic), 0);
	nic_get_info(nic, &info);
	cr_assert_not(info.has_switch);
	cr_assert_eq(info.vfs + info.vports + info.filters + info.qps_used, 0);
	cr_assert_eq(dump_count(nic), 0);
	for (unsigned int i = 0; i < CAPS.max_vfs; i++)
		cr_assert_eq(nic_vf_get(nic, i, &fi), -ENOENT);
	cr_assert_eq(nic_vport_get(nic, 0, &vi), -ENOENT);
	cr_assert_eq(nic_filter_find(nic, MAC_A, 0), -ENODEV);
	cr_assert_eq(nic_pf_halt(nic), 0, "halting a halted PF");

	/* Everything can be built again; serial numbers go on. */
	cr_assert_eq(nic_switch_create(nic, 1), 0);
	cr_assert_eq(nic_vf_alloc(nic, MAC_A, &serial_after), 0);
	cr_assert_gt(serial_after, serial_before);
	cr_assert_eq(nic_vport_create(nic, 0, 1), 1);
	cr_assert_eq(nic_filter_set(nic, 1, MAC_A, 0), 0);
	cr_assert_eq(wire_to(nic, MAC_A, NOTAG), 1);
	cr_assert_eq(nic_pf_halt(nic), 0);
	cr_assert_eq(dump_count(nic), 0);
	nic_destroy(nic);
}

/* --- counters and introspection ------------------------------------------- */

Test(nic, counters, .timeout = 10)
{
	struct nic *nic = fwd_fixture();
	struct nic_port_stats st;

	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_RX, 2, 120), 0);
	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_TX, 3, 300), 0);
	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_ENQUEUE, 4, 0), 0);
	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_DEQUEUE, 3, 0), 0);
	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_DROP(NIC_DROP_QUEUE_FULL), 7, 0), 0);
	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_DROP(NIC_DROP_SPOOF), 1, 0), 0);
	cr_assert_eq(nic_port_stats(nic, 1, &st), 0);
	cr_assert_eq(st.rx_frames, 2);
	cr_assert_eq(st.rx_bytes, 120);
	cr_assert_eq(st.tx_frames, 3);
	cr_assert_eq(st.tx_bytes, 300);
	cr_assert_eq(st.queued, 1);
	cr_assert_eq(st.drops[NIC_DROP_QUEUE_FULL], 7);
	cr_assert_eq(st.drops[NIC_DROP_SPOOF], 1);
	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_DEQUEUE, 5, 0), 0);
	cr_assert_eq(nic_port_stats(nic, 1, &st), 0);
	cr_assert_eq(st.queued, 0, "never below zero");

	cr_assert_eq(nic_vport_count(nic, W, NIC_CTR_RX, 1, 60), 0, "the wire has counters");
	cr_assert_eq(nic_port_stats(nic, W, &st), 0);
	cr_assert_eq(st.rx_frames, 1);

	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_DROP(NIC_DROP_NONE), 1, 0), -EINVAL);
	cr_assert_eq(nic_vport_count(nic, 1, NIC_CTR_DROP(NIC_DROP_MAX), 1, 0), -EINVAL);
	cr_assert_eq(nic_vport_count(nic, 6, NIC_CTR_RX, 1, 0), -ENOENT);
	cr_assert_eq(nic_vport_count(nic, 100, NIC_CTR_RX, 1, 0), -EINVAL);
	cr_assert_eq(nic_port_stats(nic, 6, &st), -ENOENT);

	/* A re-created VPort starts from zero. */
	cr_assert_eq(nic_filter_clear(nic, MAC_A, 0), 0);
	cr_assert_eq(nic_filter_clear(nic, MAC_A, 20), 0);
	cr_assert_eq(nic_vport_delete(nic, 1), 0);
	cr_assert_eq(nic_vport_create(nic, 0, 1), 1);
	cr_assert_eq(nic_port_stats(nic, 1, &st), 0);
	cr_assert_eq(st.tx_frames + st.drops[NIC_DROP_QUEUE_FULL], 0);

	cr_assert_str_eq(nic_drop_name(NIC_DROP_SPOOF), "spoof");
	cr_assert_str_eq(nic_drop_name(NIC_DROP_NO_FILTER), "no-filter");
	cr_assert_str_eq(nic_drop_name(NIC_DROP_MAX), "unknown");
	nic_destroy(nic);
}

struct collected {
	struct nic_vf_info vf[8];
	struct nic_vport_info vp[8];
	struct nic_filter_info f[16];
	int nvf, nvp, nf, stop_after;
};

static int got_vf(void *arg, const struct nic_vf_info *vf)
{
	struct collected *c = arg;

	c->vf[c->nvf++] = *vf;
	return 0;
}

static int got_vport(void *arg, const struct nic_vport_info *vp)
{
	struct collected *c = arg;

	c->vp[c->nvp++] = *vp;
	return 0;
}

static int got_filter(void *arg, const struct nic_filter_info *f)
{
	struct collected *c = arg;

	c->f[c->nf++] = *f;
	return c->nf == c->stop_after ? 42 : 0;
}

Test(nic, dump, .timeout = 10)
{
	struct nic *nic = fwd_fixture();
	const struct nic_dump_ops ops = { got_vf, got_vport, got_filter };
	struct collected c = { .stop_after = -1 };

	cr_assert_eq(nic_dump(nic, &ops, &c), 0);
	cr_assert_eq(c.nvf, 4);
	cr_assert_eq(c.nvp, 6);
	cr_assert_eq(c.nf, 8);
	cr_assert_eq(memcmp(c.vf[2].mac, MAC_C, 6), 0);
	cr_assert_eq(c.vf[2].vport, 3);
	cr_assert_eq(c.vp[5].id, 5);
	cr_assert_eq(c.vp[5].vf, NIC_ATTACH_PF);
	cr_assert_eq(c.vp[3].vf, 2);
	cr_assert_eq(c.vp[1].nfilters, 2);
	/* filters by VPort, oldest first */
	cr_assert_eq(c.f[0].vport, 0);
	cr_assert_eq(memcmp(c.f[0].mac, MAC_S, 6), 0);
	cr_assert_eq(c.f[1].vlan, 10);
	cr_assert_eq(c.f[2].vport, 1);
	cr_assert_eq(memcmp(c.f[3].mac, MAC_A, 6), 0);
	cr_assert_eq(c.f[3].vlan, 20);
	cr_assert_eq(c.f[7].vport, 5);

	/* A callback stops the walk. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 3;
	cr_assert_eq(nic_dump(nic, &(struct nic_dump_ops){ .filter = got_filter }, &c), 42);
	cr_assert_eq(c.nf, 3);
	cr_assert_eq(c.nvf + c.nvp, 0);
	nic_destroy(nic);
}

/* --- the filter table against a model ------------------------------------- */

/* Random set/clear/move on a small MAC x VLAN space, full VPorts included;
 * after every operation each key leads where the model says, for unicast
 * (table probes, backward-shift deletes) and broadcast (VLAN membership). */
Test(nic, filters_match_a_model, .timeout = 30)
{
	enum { NMAC = 24, NVLAN = 3, NVP = 8, PER = 6 };
	static const uint16_t vlans[NVLAN] = { 0, 7, 4094 };
	const struct nic_caps caps = { 0, NVP, NVP, 1, PER };
	struct nic *nic = new_nic(&caps);
	int model[NMAC][NVLAN], count[NVP] = { 0 };
	uint8_t macs[NMAC][6];
	unsigned int seed = 12345;

	cr_assert_eq(nic_switch_create(nic, 1), 0);
	for (int i = 1; i < NVP; i++)
		cr_assert_eq(nic_vport_create(nic, NIC_ATTACH_PF, 1), i);
	for (int m = 0; m < NMAC; m++) {
		/* MACs that differ in few bits, so homes collide */
		const uint8_t mac[6] = { 0x02, 0, 0, (uint8_t)(m & 1), 0, (uint8_t)(m >> 1) };

		memcpy(macs[m], mac, 6);
		for (int k = 0; k < NVLAN; k++)
			model[m][k] = -1;
	}

	for (int op = 0; op < 20000; op++) {
		int m = rand_r(&seed) % NMAC, k = rand_r(&seed) % NVLAN, p = rand_r(&seed) % NVP;
		int cur = model[m][k], rc, want;

		switch (rand_r(&seed) % 3) {
		case 0:
			rc = nic_filter_set(nic, (unsigned int)p, macs[m], vlans[k]);
			want = cur >= 0 ? -EEXIST : count[p] == PER ? -ENOSPC : 0;
			cr_assert_eq(rc, want, "op %d set: %d, want %d", op, rc, want);
			if (!rc)
				model[m][k] = p, count[p]++;
			break;
		case 1:
			rc = nic_filter_clear(nic, macs[m], vlans[k]);
			cr_assert_eq(rc, cur >= 0 ? 0 : -ENOENT, "op %d clear", op);
			if (!rc)
				model[m][k] = -1, count[cur]--;
			break;
		default:
			rc = nic_filter_move(nic, macs[m], vlans[k], (unsigned int)p);
			want = cur < 0 ? -ENOENT : cur == p ? 0 : count[p] == PER ? -ENOSPC : 0;
			cr_assert_eq(rc, want, "op %d move: %d, want %d", op, rc, want);
			if (!rc && cur != p)
				model[m][k] = p, count[p]++, count[cur]--;
			break;
		}

		for (int mm = 0; mm < NMAC; mm++)
			for (int kk = 0; kk < NVLAN; kk++) {
				int dst = model[mm][kk];

				cr_assert_eq(nic_filter_find(nic, macs[mm], vlans[kk]),
				             dst >= 0 ? dst : -ENOENT, "op %d", op);
				cr_assert_eq(wire_to(nic, macs[mm], vlans[kk] ? vlans[kk] : NOTAG),
				             dst >= 0 ? dst : 0, "op %d", op);
			}
		for (int kk = 0; kk < NVLAN; kk++) {
			uint32_t members = P(0);
			struct nic_verdict v;

			for (int mm = 0; mm < NMAC; mm++)
				if (model[mm][kk] >= 0)
					members |= P(model[mm][kk]);
			lookup(nic, W, BCAST, MAC_X, vlans[kk], &v);
			cr_assert_eq(v.dst[0], members, "op %d vlan %u", op, vlans[kk]);
			cr_assert_eq(v.dst[1] | v.dst[2] | v.dst[3], 0);
		}
	}
	nic_destroy(nic);
}
