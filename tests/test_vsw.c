/* Extensible switch unit tests: MAC learning, ageing on an injected clock,
 * MAC moves (and a protected VM's MAC that must not move), flooding scope,
 * VLAN access/trunk isolation with the tags checked byte by byte, spoof
 * protection, "port full" accounting, per-port pcap capture read back with
 * libpcap, capture and filter extensions, VF-removal requests, one tx_burst
 * per destination per burst, the MAC table limit, port life cycle and
 * introspection. Port owners are sinks that copy what they are given. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vswitch/vsw.h"

#define NOTAG  (-1)
#define SEC    1000000000ull
#define MAXF   96u
#define FBYTES 256u

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t MAC_C[6] = { 0x02, 0, 0, 0, 0, 0x0c };
static const uint8_t MAC_X[6] = { 0x02, 0, 0, 0, 0, 0x99 }; /* out on the wire */
static const uint8_t MAC_Y[6] = { 0x02, 0, 0, 0, 0, 0x98 }; /* a host interface */
static const uint8_t MAC_Z[6] = { 0x06, 1, 2, 3, 4, 5 };    /* nobody / forged */
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MCAST[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };

/* A port owner that copies every frame it takes. */
struct sink {
	unsigned int calls;
	unsigned int call_n[16]; /* frames offered per call */
	int take;                /* frames taken per call; < 0: all */
	unsigned int n;
	struct {
		uint8_t data[FBYTES];
		uint32_t len;
		uint16_t flags, tci;
		struct virtio_net_hdr vnet;
	} f[MAXF];
	int (*hook)(struct sink *s); /* called inside tx_burst when set */
	int hook_rc;
};

static int sink_tx(void *ctx, struct vsw_frame *frames, unsigned int n)
{
	struct sink *s = ctx;
	unsigned int take = s->take < 0 || (unsigned int)s->take > n ? n : (unsigned int)s->take;

	if (s->calls < 16)
		s->call_n[s->calls] = n;
	s->calls++;
	if (s->hook)
		s->hook_rc = s->hook(s);
	for (unsigned int i = 0; i < take; i++) {
		cr_assert_lt(s->n, MAXF);
		cr_assert_leq(frames[i].len, FBYTES);
		memcpy(s->f[s->n].data, frames[i].data, frames[i].len);
		s->f[s->n].len = frames[i].len;
		s->f[s->n].flags = frames[i].flags;
		s->f[s->n].tci = frames[i].vlan_tci;
		s->f[s->n].vnet = frames[i].vnet;
		s->n++;
	}
	return s->take == -2 ? -EAGAIN : (int)take;
}

static const struct vsw_port_ops sink_ops = { .tx_burst = sink_tx };

/* The switch under test, its clock and up to 8 port owners (sink i = port i
 * as long as ports are added in order). */
static struct {
	struct vsw *sw;
	uint64_t now;
	struct sink sink[8];
} T;

static uint64_t test_clock(void *arg)
{
	return *(uint64_t *)arg;
}

static void setup_cfg(uint32_t max_macs)
{
	struct vsw_config cfg = {
		.name = "test", .max_macs = max_macs, .clock = test_clock, .clock_arg = &T.now
	};

	memset(&T, 0, sizeof(T));
	T.now = 1000 * SEC;
	for (int i = 0; i < 8; i++)
		T.sink[i].take = -1;
	T.sw = vsw_create(&cfg);
	cr_assert(T.sw, "vsw_create: %s", strerror(errno));
}

static void setup(void)
{
	setup_cfg(0);
}

static void teardown(void)
{
	vsw_destroy(T.sw);
}

static void clear_sinks(void)
{
	for (int i = 0; i < 8; i++) {
		T.sink[i].calls = T.sink[i].n = 0;
	}
}

/* Add a port owned by sink @sink; returns its id (== @sink, checked). */
static int add_port_full(int sink, enum vsw_port_kind kind, const struct vsw_vlan_cfg *vlan,
                         const uint8_t *mac, bool offload)
{
	struct vsw_port_config cfg = {
		.kind = kind,
		.name = kind == VSW_PORT_VM ? "vm" : vsw_port_kind_name(kind),
		.tx_vlan_offload = offload,
		.ops = &sink_ops,
		.ctx = &T.sink[sink],
	};
	int id;

	if (vlan)
		cfg.vlan = *vlan;
	if (mac) {
		memcpy(cfg.macs[0], mac, 6);
		cfg.nmacs = 1;
	}
	id = vsw_port_add(T.sw, &cfg);
	cr_assert_eq(id, sink, "vsw_port_add: %d", id);
	return id;
}

static int add_port(int sink, enum vsw_port_kind kind, int access_vlan, const uint8_t *mac)
{
	struct vsw_vlan_cfg v;

	vsw_vlan_access(&v, (uint16_t)access_vlan);
	return add_port_full(sink, kind, &v, mac, false);
}

/* An internal port trunking VLANs @allowed (0-terminated), native @native. */
static int add_trunk(int sink, const uint16_t *allowed, uint16_t native, bool offload)
{
	struct vsw_vlan_cfg v;

	vsw_vlan_trunk(&v, native);
	for (; *allowed; allowed++)
		vsw_vlan_allow(&v, *allowed);
	return add_port_full(sink, VSW_PORT_INTERNAL, &v, NULL, offload);
}

/* An Ethernet frame dst, src, [802.1Q @tci], @ethertype, 46 bytes of @fill. */
static uint32_t mkframe(uint8_t *buf, const uint8_t *dst, const uint8_t *src, int tci,
                        uint16_t ethertype, uint8_t fill)
{
	uint32_t n = 12;

	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	if (tci != NOTAG) {
		buf[n++] = 0x81;
		buf[n++] = 0x00;
		buf[n++] = (uint8_t)(tci >> 8);
		buf[n++] = (uint8_t)tci;
	}
	buf[n++] = (uint8_t)(ethertype >> 8);
	buf[n++] = (uint8_t)ethertype;
	memset(buf + n, fill, 46);
	return n + 46;
}

/* Send one frame into @port; returns vsw_input's result. */
static int send1(int port, const uint8_t *dst, const uint8_t *src, int tci)
{
	static uint8_t buf[FBYTES];
	struct vsw_frame f = { .data = buf };

	f.len = mkframe(buf, dst, src, tci, 0x0800, 0xab);
	return vsw_input(T.sw, (unsigned int)port, &f, 1);
}

/* Which sinks got frames since the last clear_sinks(), as a bitmask. */
static unsigned int got(void)
{
	unsigned int m = 0;

	for (int i = 0; i < 8; i++)
		if (T.sink[i].n)
			m |= 1u << i;
	return m;
}

static uint64_t drops(int port, enum vsw_drop why)
{
	struct vsw_port_info pi;

	cr_assert_eq(vsw_port_get(T.sw, (unsigned int)port, &pi), 0);
	return pi.stats.drops[why];
}

static struct vsw_stats stats(void)
{
	struct vsw_stats st;

	vsw_get_stats(T.sw, &st);
	return st;
}

#define P(n) (1u << (n))

TestSuite(vsw, .init = setup, .fini = teardown);

/* --- learning, ageing, moves -------------------------------------------- */

Test(vsw, learning, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int v1 = add_port(1, VSW_PORT_VM, 0, MAC_A);
	int v2 = add_port(2, VSW_PORT_VM, 0, MAC_B);
	int v3 = add_port(3, VSW_PORT_VM, 0, MAC_C);

	/* B unknown: flooded, not back to V1. A is learned on V1. */
	cr_assert_eq(send1(v1, MAC_B, MAC_A, NOTAG), 1);
	cr_assert_eq(got(), P(e) | P(v2) | P(v3));
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), v1);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 5), -ENOENT, "learned on its own VLAN only");

	/* B answers: A is known, only V1 gets it. */
	clear_sinks();
	cr_assert_eq(send1(v2, MAC_A, MAC_B, NOTAG), 1);
	cr_assert_eq(got(), P(v1));
	cr_assert_eq(memcmp(T.sink[v1].f[0].data, MAC_A, 6), 0);

	/* From the wire to B: only V2; V3 never sees unicast for other VMs. */
	clear_sinks();
	cr_assert_eq(send1(e, MAC_B, MAC_X, NOTAG), 1);
	cr_assert_eq(got(), P(v2));
	clear_sinks();
	cr_assert_eq(send1(v3, MAC_X, MAC_C, NOTAG), 1);
	cr_assert_eq(got(), P(e));
	cr_assert_eq(stats().mac_learned, 4);
	cr_assert_eq(stats().macs, 4);
}

Test(vsw, ageing_on_injected_clock, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int v1 = add_port(1, VSW_PORT_VM, 0, MAC_A);
	int v2 = add_port(2, VSW_PORT_VM, 0, MAC_B);

	cr_assert_eq(stats().mac_age_ns, 300 * SEC, "default age 300 s");
	send1(v1, BCAST, MAC_A, NOTAG);
	T.now += 299 * SEC;
	clear_sinks();
	send1(e, MAC_A, MAC_X, NOTAG);
	cr_assert_eq(got(), P(v1), "still known after 299 s");

	T.now += 2 * SEC; /* 301 s since A last sent */
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), -ENOENT);
	clear_sinks();
	send1(e, MAC_A, MAC_X, NOTAG);
	cr_assert_eq(got(), P(v1) | P(v2), "expired: flooded again");
	cr_assert_eq(vsw_mac_age(T.sw), 1, "the sweep removes A only (X was just seen)");
	cr_assert_eq(stats().mac_aged, 1);

	/* A configurable age. */
	cr_assert_eq(vsw_set_mac_age(T.sw, 0), -EINVAL);
	cr_assert_eq(vsw_set_mac_age(T.sw, 10 * SEC), 0);
	send1(v1, BCAST, MAC_A, NOTAG);
	T.now += 9 * SEC;
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), v1);
	T.now += 2 * SEC;
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), -ENOENT);
	/* Re-learned when it speaks again. */
	send1(v1, BCAST, MAC_A, NOTAG);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), v1);
}

Test(vsw, mac_move, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int i = add_port(1, VSW_PORT_INTERNAL, 0, NULL);
	int v = add_port(2, VSW_PORT_VM, 0, MAC_A);

	send1(e, BCAST, MAC_Y, NOTAG);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_Y, 0), e);
	send1(i, BCAST, MAC_Y, NOTAG); /* the host interface moved */
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_Y, 0), i);
	cr_assert_eq(stats().mac_moved, 1);
	clear_sinks();
	send1(v, MAC_Y, MAC_A, NOTAG);
	cr_assert_eq(got(), P(i));
}

Test(vsw, protected_vm_mac_does_not_move, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int i = add_port(1, VSW_PORT_INTERNAL, 0, NULL);
	int v = add_port(2, VSW_PORT_VM, 0, MAC_A);

	send1(v, BCAST, MAC_A, NOTAG);
	clear_sinks();
	/* The wire claims A: forwarded, but A stays on the VM's port. */
	cr_assert_eq(send1(e, MAC_Y, MAC_A, NOTAG), 1);
	cr_assert_eq(got(), P(i) | P(v), "Y unknown: flooded");
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), v);
	cr_assert_eq(stats().mac_move_refused, 1);
	clear_sinks();
	send1(i, MAC_A, MAC_Y, NOTAG);
	cr_assert_eq(got(), P(v));
}

/* A VM that moves in is found on its port as soon as it is up, wherever
 * its MAC was seen before; a VM that moves away gives its MAC up, and the
 * MAC follows the VM's announcement from the wire. */
Test(vsw, migrating_vm_mac_learned_and_released, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int i = add_port(1, VSW_PORT_INTERNAL, 0, NULL);
	int v = add_port(2, VSW_PORT_VM, 0, MAC_A);

	send1(e, BCAST, MAC_A, NOTAG); /* A was on another host */
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), e);
	cr_assert_eq(vsw_port_learn_macs(T.sw, (unsigned int)v), 0);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), v, "not found on its port once up");
	clear_sinks();
	send1(i, MAC_A, MAC_Y, NOTAG);
	cr_assert_eq(got(), P(v));
	/* it moves away: the port stays, the MAC follows the wire's RARP */
	cr_assert_eq(vsw_port_release_macs(T.sw, (unsigned int)v), 0);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), v, "forgotten before it was seen elsewhere");
	send1(e, BCAST, MAC_A, NOTAG);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), e);
	clear_sinks();
	send1(i, MAC_A, MAC_Y, NOTAG);
	cr_assert_eq(got(), P(e));
	cr_assert_eq(vsw_port_learn_macs(T.sw, (unsigned int)e), -EINVAL);
	cr_assert_eq(vsw_port_release_macs(T.sw, 200), -ENOENT);
}

/* A spoof-protected VM's MAC, once learned on its port, is never learned on
 * another, though its entry expired (a VM that only receives) or was swept:
 * frames to it still reach it. Before it is learned there (a VM arriving by
 * migration), the MAC follows the wire (the test above). */
Test(vsw, protected_mac_stays_after_ageing, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int i = add_port(1, VSW_PORT_INTERNAL, 0, NULL);
	int v = add_port(2, VSW_PORT_VM, 0, MAC_A);

	cr_assert_eq(vsw_port_learn_macs(T.sw, (unsigned int)v), 0);
	T.now += 301 * SEC; /* expired, still in the table */
	send1(e, BCAST, MAC_A, NOTAG);
	cr_assert_neq(vsw_mac_lookup(T.sw, MAC_A, 0), e, "moved to the wire once expired");
	clear_sinks();
	send1(i, MAC_A, MAC_Y, NOTAG);
	cr_assert(got() & P(v), "the VM did not get its own unicast (got %#x)", got());
	cr_assert_eq(vsw_mac_age(T.sw), 1, "A swept (Y was just seen)");
	send1(e, BCAST, MAC_A, NOTAG);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), -ENOENT, "learned on the wire once swept");
	clear_sinks();
	send1(i, MAC_A, MAC_Y, NOTAG);
	cr_assert(got() & P(v));
	cr_assert_geq(stats().mac_move_refused, 2);
	/* it speaks: found on its port again; released (moved away): free to go */
	send1(v, BCAST, MAC_A, NOTAG);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), v);
	cr_assert_eq(vsw_port_release_macs(T.sw, (unsigned int)v), 0);
	send1(e, BCAST, MAC_A, NOTAG);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), e);
}

/* Frames never cross VLANs through stacked tags: a VM on the untagged
 * network (access VLAN 0, the trunk's native VLAN) sends a priority tag with
 * a VLAN 10 tag behind it, which would leave the trunk untagged on VLAN 0
 * with VLAN 10's tag first (a hop, found by an audit); a trunk sends VLAN 10
 * with an 802.1ad tag behind it; an offloading owner sends a tag in vlan_tci
 * with one in the bytes. All dropped and counted; plain ones pass. */
Test(vsw, stacked_tags_do_not_hop_vlans, .timeout = 10)
{
	static const uint16_t t10[] = { 10, 0 };
	static uint8_t buf[FBYTES];
	struct vsw_frame f = { .data = buf };
	int tr = add_trunk(0, t10, 0, false);
	int v0 = add_port(1, VSW_PORT_VM, 0, MAC_A);
	int v10 = add_port(2, VSW_PORT_VM, 10, MAC_B);

	f.len = mkframe(buf, MAC_B, MAC_A, 0x0000, 0x8100, 0);
	buf[18] = 0x00, buf[19] = 0x0a, buf[20] = 0x08, buf[21] = 0x00;
	vsw_input(T.sw, (unsigned int)v0, &f, 1);
	cr_assert_eq(got(), 0, "a VLAN 0 VM's double-tagged frame went out (%#x)", got());
	cr_assert_eq(drops(v0, VSW_DROP_VLAN), 1);
	f.len = mkframe(buf, MAC_B, MAC_X, 10, 0x88a8, 0);
	vsw_input(T.sw, (unsigned int)tr, &f, 1);
	cr_assert_eq(got(), 0);
	cr_assert_eq(drops(tr, VSW_DROP_VLAN), 1);
	f.len = mkframe(buf, MAC_B, MAC_X, NOTAG, 0x8100, 0);
	f.flags = VSW_F_VLAN, f.vlan_tci = 10;
	vsw_input(T.sw, (unsigned int)tr, &f, 1);
	cr_assert_eq(got(), 0);
	cr_assert_eq(drops(tr, VSW_DROP_VLAN), 2);
	f.flags = 0;
	send1(tr, MAC_B, MAC_X, 10);
	cr_assert_eq(got(), P(v10), "a plain VLAN 10 frame");
	clear_sinks();
	send1(v0, BCAST, MAC_A, 0);
	cr_assert_eq(got(), P(tr), "a plain priority-tagged one");
}

Test(vsw, table_limit, .timeout = 10)
{
	const uint8_t *srcs[] = { MAC_A, MAC_B, MAC_C, MAC_X, MAC_Y, MAC_Z };
	int e, i;

	teardown();
	setup_cfg(4);
	e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	i = add_port(1, VSW_PORT_INTERNAL, 0, NULL);
	for (int k = 0; k < 6; k++)
		cr_assert_eq(send1(e, BCAST, srcs[k], NOTAG), 1, "still forwarded when full");
	cr_assert_eq(stats().macs, 4);
	cr_assert_eq(stats().max_macs, 4);
	cr_assert_eq(stats().mac_table_full, 2);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_Y, 0), -ENOENT);
	/* Once entries expire, a full table makes room. */
	T.now += 301 * SEC;
	send1(i, BCAST, MAC_Y, NOTAG);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_Y, 0), i);
	cr_assert_eq(stats().macs, 1);
	cr_assert_eq(stats().mac_aged, 4);
	vsw_mac_flush(T.sw);
	cr_assert_eq(stats().macs, 0);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_Y, 0), -ENOENT);
}

/* --- flooding and VLANs ------------------------------------------------- */

Test(vsw, flood_scope, .timeout = 10)
{
	static const uint16_t t10[] = { 10, 0 };
	int p1 = add_port(0, VSW_PORT_VM, 10, MAC_A);
	int p2 = add_port(1, VSW_PORT_VM, 10, MAC_B);
	int p3 = add_port(2, VSW_PORT_VM, 20, MAC_C);
	int e = add_port(3, VSW_PORT_INTERNAL, 0, NULL);
	int t = add_trunk(4, t10, VSW_VLAN_NONE, false);
	const uint8_t *dsts[] = { BCAST, MCAST, MAC_Z };

	for (int k = 0; k < 3; k++) {
		clear_sinks();
		cr_assert_eq(send1(p1, dsts[k], MAC_A, NOTAG), 1);
		cr_assert_eq(got(), P(p2) | P(t), "dst %d: VLAN 10 only, not back", k);
	}
	clear_sinks();
	cr_assert_eq(send1(p3, BCAST, MAC_C, NOTAG), 0, "alone on VLAN 20");
	cr_assert_eq(got(), 0);
	cr_assert_eq(drops(p3, VSW_DROP_NO_ROUTE), 1);
	clear_sinks();
	send1(e, BCAST, MAC_Y, NOTAG);
	cr_assert_eq(got(), 0, "VLAN 0 has nobody else");
	/* A frame to a MAC learned on the sender's own port goes nowhere. */
	send1(p2, BCAST, MAC_B, NOTAG);
	clear_sinks();
	cr_assert_eq(send1(t, MAC_B, MAC_X, 10), 1);
	cr_assert_eq(got(), P(p2));
	cr_assert_eq(send1(p2, MAC_B, MAC_B, NOTAG), 0);
	cr_assert_eq(drops(p2, VSW_DROP_NO_ROUTE), 1);
}

/* The frame @s got (index @k) is @orig with the tag @tci (NOTAG: none) in
 * its bytes. */
static void expect_bytes(const struct sink *s, unsigned int k, const uint8_t *dst,
                         const uint8_t *src, int tci)
{
	uint8_t want[FBYTES];
	uint32_t len = mkframe(want, dst, src, tci, 0x0800, 0xab);

	cr_assert_gt(s->n, k);
	cr_assert_eq(s->f[k].len, len, "len %u, want %u", s->f[k].len, len);
	cr_assert_eq(memcmp(s->f[k].data, want, len), 0, "bytes differ (tci %d)", tci);
	cr_assert_eq(s->f[k].flags & VSW_F_VLAN, 0);
}

Test(vsw, vlan_access_tags_and_untags, .timeout = 10)
{
	static const uint16_t t[] = { 10, 20, 0 };
	int a = add_port(0, VSW_PORT_VM, 10, MAC_A);
	int tr = add_trunk(1, t, VSW_VLAN_NONE, false);
	int b = add_port(2, VSW_PORT_INTERNAL, 10, NULL);

	/* Untagged from an access port: tagged on the trunk, untagged on access. */
	cr_assert_eq(send1(a, BCAST, MAC_A, NOTAG), 1);
	expect_bytes(&T.sink[tr], 0, BCAST, MAC_A, 10);
	expect_bytes(&T.sink[b], 0, BCAST, MAC_A, NOTAG);

	/* Tagged 10 from the trunk: untagged on both access ports. */
	clear_sinks();
	cr_assert_eq(send1(tr, BCAST, MAC_X, 10), 1);
	expect_bytes(&T.sink[a], 0, BCAST, MAC_X, NOTAG);
	expect_bytes(&T.sink[b], 0, BCAST, MAC_X, NOTAG);

	/* Tagged with its own VLAN: accepted, and the tag is kept on the trunk. */
	clear_sinks();
	cr_assert_eq(send1(a, BCAST, MAC_A, 10), 1);
	expect_bytes(&T.sink[tr], 0, BCAST, MAC_A, 10);
	expect_bytes(&T.sink[b], 0, BCAST, MAC_A, NOTAG);

	/* Priority-tagged (VID 0, PCP 5): VLAN 10, the priority kept. */
	clear_sinks();
	cr_assert_eq(send1(a, BCAST, MAC_A, 0xa000), 1);
	expect_bytes(&T.sink[tr], 0, BCAST, MAC_A, 0xa00a);
	expect_bytes(&T.sink[b], 0, BCAST, MAC_A, NOTAG);

	/* Tagged with another VLAN: dropped, counted. */
	clear_sinks();
	cr_assert_eq(send1(a, BCAST, MAC_A, 20), 0);
	cr_assert_eq(got(), 0);
	cr_assert_eq(drops(a, VSW_DROP_VLAN), 1);

	/* VLAN 20 from the trunk reaches no access port of VLAN 10. */
	cr_assert_eq(send1(tr, BCAST, MAC_X, 20), 0);
	cr_assert_eq(got(), 0);
	cr_assert_eq(drops(tr, VSW_DROP_NO_ROUTE), 1);
}

Test(vsw, vlan_trunk_allowed_and_native, .timeout = 10)
{
	static const uint16_t t[] = { 10, 20, 0 };
	int tr = add_trunk(0, t, 30, false);
	int a10 = add_port(1, VSW_PORT_VM, 10, MAC_A);
	int a20 = add_port(2, VSW_PORT_VM, 20, MAC_B);
	int a30 = add_port(3, VSW_PORT_INTERNAL, 30, NULL);
	int a0 = add_port(4, VSW_PORT_INTERNAL, 0, NULL);

	cr_assert_eq(send1(tr, BCAST, MAC_X, 10), 1);
	cr_assert_eq(got(), P(a10));
	expect_bytes(&T.sink[a10], 0, BCAST, MAC_X, NOTAG);
	clear_sinks();
	cr_assert_eq(send1(tr, BCAST, MAC_X, 20), 1);
	cr_assert_eq(got(), P(a20));
	clear_sinks();
	cr_assert_eq(send1(tr, BCAST, MAC_X, NOTAG), 1, "untagged: the native VLAN");
	cr_assert_eq(got(), P(a30));
	clear_sinks();
	cr_assert_eq(send1(tr, BCAST, MAC_X, 30), 1, "native, tagged: accepted");
	cr_assert_eq(got(), P(a30));
	clear_sinks();
	cr_assert_eq(send1(tr, BCAST, MAC_X, 40), 0);
	cr_assert_eq(drops(tr, VSW_DROP_VLAN), 1);
	cr_assert_eq(got(), 0);

	/* Out on the trunk: tagged, except the native VLAN. */
	cr_assert_eq(send1(a30, BCAST, MAC_Y, NOTAG), 1);
	expect_bytes(&T.sink[tr], 0, BCAST, MAC_Y, NOTAG);
	cr_assert_eq(send1(a20, BCAST, MAC_B, NOTAG), 1);
	expect_bytes(&T.sink[tr], 1, BCAST, MAC_B, 20);
	cr_assert_eq(send1(a0, BCAST, MAC_Y, NOTAG), 0, "VLAN 0 is not on the trunk");
	cr_assert_eq(T.sink[tr].n, 2);

	/* A trunk without a native VLAN drops untagged frames. */
	struct vsw_vlan_cfg v;

	vsw_vlan_trunk(&v, VSW_VLAN_NONE);
	vsw_vlan_allow(&v, 10);
	cr_assert_eq(vsw_port_set_vlan(T.sw, (unsigned int)tr, &v), 0);
	cr_assert_eq(send1(tr, BCAST, MAC_X, NOTAG), 0);
	cr_assert_eq(drops(tr, VSW_DROP_VLAN), 2);
	clear_sinks();
	cr_assert_eq(send1(tr, BCAST, MAC_X, 20), 0, "20 no longer allowed");
	cr_assert_eq(send1(a20, BCAST, MAC_B, NOTAG), 0);
	cr_assert_eq(got(), 0);
}

Test(vsw, vlan_offload_metadata, .timeout = 10)
{
	static const uint16_t t[] = { 10, 0 };
	int tr = add_trunk(0, t, VSW_VLAN_NONE, true);
	int a = add_port(1, VSW_PORT_VM, 10, MAC_A);
	uint8_t buf[FBYTES];
	struct vsw_frame f = { .data = buf, .flags = VSW_F_VLAN, .vlan_tci = 0x200a };

	/* The offloading trunk gets untagged bytes and the tag in vlan_tci. */
	cr_assert_eq(send1(a, BCAST, MAC_A, NOTAG), 1);
	cr_assert_eq(T.sink[tr].f[0].flags, VSW_F_VLAN);
	cr_assert_eq(T.sink[tr].f[0].tci, 10);
	f.len = mkframe(buf, BCAST, MAC_A, NOTAG, 0x0800, 0xab);
	cr_assert_eq(T.sink[tr].f[0].len, f.len);
	cr_assert_eq(memcmp(T.sink[tr].f[0].data, buf, f.len), 0);

	/* A tag arriving in the metadata classifies like one in the bytes. */
	f.len = mkframe(buf, BCAST, MAC_X, NOTAG, 0x0800, 0xab);
	cr_assert_eq(vsw_input(T.sw, (unsigned int)tr, &f, 1), 1);
	expect_bytes(&T.sink[a], 0, BCAST, MAC_X, NOTAG);
	f.vlan_tci = 11;
	cr_assert_eq(vsw_input(T.sw, (unsigned int)tr, &f, 1), 0);
	cr_assert_eq(drops(tr, VSW_DROP_VLAN), 1);
}

Test(vsw, offload_offsets_follow_the_tag, .timeout = 10)
{
	static const uint16_t t[] = { 10, 0 };
	int a = add_port(0, VSW_PORT_VM, 10, MAC_A);
	int tr = add_trunk(1, t, VSW_VLAN_NONE, false);
	uint8_t buf[FBYTES];
	struct vsw_frame f = { .data = buf };
	struct vsw_vlan_cfg v;
	int to;

	vsw_vlan_trunk(&v, VSW_VLAN_NONE);
	vsw_vlan_allow(&v, 10);
	to = add_port_full(2, VSW_PORT_INTERNAL, &v, NULL, true);

	f.len = mkframe(buf, BCAST, MAC_A, NOTAG, 0x0800, 0xab);
	f.vnet.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	f.vnet.csum_start = 34;
	f.vnet.csum_offset = 16;
	f.vnet.hdr_len = 54;
	f.vnet.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	f.vnet.gso_size = 1448;
	cr_assert_eq(vsw_input(T.sw, (unsigned int)a, &f, 1), 1);
	cr_assert_eq(T.sink[tr].f[0].vnet.csum_start, 38, "tag added in the bytes");
	cr_assert_eq(T.sink[tr].f[0].vnet.hdr_len, 58);
	cr_assert_eq(T.sink[tr].f[0].vnet.csum_offset, 16);
	cr_assert_eq(T.sink[tr].f[0].vnet.gso_size, 1448);
	cr_assert_eq(T.sink[to].f[0].vnet.csum_start, 34, "tag in the metadata");
	cr_assert_eq(T.sink[to].f[0].vnet.hdr_len, 54);

	/* And back: tagged in, untagged out. */
	f.len = mkframe(buf, BCAST, MAC_X, 10, 0x0800, 0xab);
	f.vnet.csum_start = 38;
	f.vnet.hdr_len = 58;
	cr_assert_eq(vsw_input(T.sw, (unsigned int)tr, &f, 1), 1);
	cr_assert_eq(T.sink[a].f[0].vnet.csum_start, 34);
	cr_assert_eq(T.sink[a].f[0].vnet.hdr_len, 54);
	cr_assert_eq(T.sink[a].f[0].vnet.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
}

/* --- policies and counters ---------------------------------------------- */

Test(vsw, spoof_protection, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int v = add_port(1, VSW_PORT_VM, 0, MAC_A);
	const uint8_t macs[2][6] = { { 0x02, 0, 0, 0, 0, 0x0a }, { 0x02, 0, 0, 0, 0, 0x0b } };
	struct vsw_port_info pi;

	cr_assert_eq(send1(v, BCAST, MAC_Z, NOTAG), 0);
	cr_assert_eq(send1(v, MAC_X, MAC_B, NOTAG), 0);
	cr_assert_eq(got(), 0);
	cr_assert_eq(drops(v, VSW_DROP_SPOOF), 2);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_Z, 0), -ENOENT, "a spoofed source is not learned");
	cr_assert_eq(send1(v, BCAST, MAC_A, NOTAG), 1);
	cr_assert_eq(got(), P(e));

	/* A second MAC, then spoofing allowed. */
	cr_assert_eq(vsw_port_set_macs(T.sw, (unsigned int)v, macs, 2, false), 0);
	cr_assert_eq(send1(v, BCAST, MAC_B, NOTAG), 1);
	cr_assert_eq(send1(v, BCAST, MAC_Z, NOTAG), 0);
	cr_assert_eq(vsw_port_set_macs(T.sw, (unsigned int)v, macs, 0, true), 0);
	cr_assert_eq(send1(v, BCAST, MAC_Z, NOTAG), 1);
	cr_assert_eq(drops(v, VSW_DROP_SPOOF), 3);
	cr_assert_eq(vsw_port_get(T.sw, (unsigned int)v, &pi), 0);
	cr_assert_eq(pi.stats.rx_frames, 6);
	cr_assert_eq(pi.stats.rx_bytes, 6 * 60);

	/* Errors: no MACs while protected, a group MAC, not a VM port. */
	cr_assert_eq(vsw_port_set_macs(T.sw, (unsigned int)v, macs, 0, false), -EINVAL);
	cr_assert_eq(vsw_port_set_macs(T.sw, (unsigned int)v, (const uint8_t(*)[6])MCAST, 1, false),
	             -EINVAL);
	cr_assert_eq(vsw_port_set_macs(T.sw, (unsigned int)e, macs, 1, false), -EINVAL);
	cr_assert_eq(vsw_port_set_macs(T.sw, 99, macs, 1, false), -ENOENT);
}

Test(vsw, port_full_drops_counted, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int v = add_port(1, VSW_PORT_VM, 0, MAC_A);
	uint8_t buf[5][FBYTES];
	struct vsw_frame f[5];
	struct vsw_port_info pi;

	for (int k = 0; k < 5; k++) {
		f[k] = (struct vsw_frame){ .data = buf[k] };
		f[k].len = mkframe(buf[k], MAC_A, MAC_X, NOTAG, 0x0800, (uint8_t)k);
	}
	send1(v, BCAST, MAC_A, NOTAG);
	T.sink[v].take = 2;
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, f, 5), 5);
	cr_assert_eq(T.sink[v].calls, 1);
	cr_assert_eq(T.sink[v].n, 2);
	cr_assert_eq(T.sink[v].f[1].data[20], 1, "taken in order");
	cr_assert_eq(vsw_port_get(T.sw, (unsigned int)v, &pi), 0);
	cr_assert_eq(pi.stats.tx_frames, 2);
	cr_assert_eq(pi.stats.tx_bytes, 120);
	cr_assert_eq(pi.stats.drops[VSW_DROP_PORT_FULL], 3);
	cr_assert_eq(drops(e, VSW_DROP_PORT_FULL), 0, "charged to the destination");

	T.sink[v].take = -2; /* an error: nothing taken */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, f, 5), 5);
	cr_assert_eq(drops(v, VSW_DROP_PORT_FULL), 8);
}

Test(vsw, malformed, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	uint8_t buf[FBYTES];
	struct vsw_frame f = { .data = buf };

	add_port(1, VSW_PORT_INTERNAL, 0, NULL);
	f.len = mkframe(buf, BCAST, MAC_X, NOTAG, 0x0800, 0);
	f.len = 13; /* runt */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, &f, 1), 0);
	f.len = mkframe(buf, BCAST, MAC_X, 10, 0x0800, 0);
	f.len = 17; /* truncated tag */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, &f, 1), 0);
	f.len = mkframe(buf, BCAST, MAC_X, 0xfff, 0x0800, 0); /* VLAN 4095 */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, &f, 1), 0);
	f.len = mkframe(buf, BCAST, MCAST, NOTAG, 0x0800, 0); /* group source */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, &f, 1), 0);
	f.len = VSW_MAX_FRAME + 1; /* oversize (never read past the header) */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, &f, 1), 0);
	cr_assert_eq(drops(e, VSW_DROP_MALFORMED), 5);
	cr_assert_eq(got(), 0);
	mkframe(buf, BCAST, MAC_X, NOTAG, 0x0800, 0);
	f.len = 14; /* a bare header is fine */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, &f, 1), 1);
}

/* --- batching ----------------------------------------------------------- */

Test(vsw, one_tx_burst_per_destination_per_burst, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int v1 = add_port(1, VSW_PORT_VM, 0, MAC_A);
	int v2 = add_port(2, VSW_PORT_VM, 0, MAC_B);
	int v3 = add_port(3, VSW_PORT_VM, 0, MAC_C);
	uint8_t buf[40][FBYTES];
	struct vsw_frame f[40];

	send1(v2, BCAST, MAC_B, NOTAG);
	send1(v3, BCAST, MAC_C, NOTAG);
	clear_sinks();
	/* 10 frames: B C B bcast C B C bcast B bcast */
	const uint8_t *dst[10] = { MAC_B, MAC_C, MAC_B, BCAST, MAC_C,
		                   MAC_B, MAC_C, BCAST, MAC_B, BCAST };
	for (int k = 0; k < 10; k++) {
		f[k] = (struct vsw_frame){ .data = buf[k] };
		f[k].len = mkframe(buf[k], dst[k], MAC_A, NOTAG, 0x0800, (uint8_t)k);
	}
	cr_assert_eq(vsw_input(T.sw, (unsigned int)v1, f, 10), 10);
	cr_assert_eq(T.sink[v2].calls, 1);
	cr_assert_eq(T.sink[v2].call_n[0], 7);
	cr_assert_eq(T.sink[v3].calls, 1);
	cr_assert_eq(T.sink[v3].call_n[0], 6);
	cr_assert_eq(T.sink[e].calls, 1);
	cr_assert_eq(T.sink[e].call_n[0], 3);
	cr_assert_eq(T.sink[v1].calls, 0);
	/* In input order. */
	static const uint8_t order_v2[] = { 0, 2, 3, 5, 7, 8, 9 };
	for (int k = 0; k < 7; k++)
		cr_assert_eq(T.sink[v2].f[k].data[20], order_v2[k]);

	/* Longer than VSW_BURST: batches of VSW_BURST. */
	clear_sinks();
	for (int k = 0; k < 40; k++) {
		f[k] = (struct vsw_frame){ .data = buf[k] };
		f[k].len = mkframe(buf[k], MAC_B, MAC_A, NOTAG, 0x0800, (uint8_t)k);
	}
	cr_assert_eq(vsw_input(T.sw, (unsigned int)v1, f, 40), 40);
	cr_assert_eq(T.sink[v2].calls, 2);
	cr_assert_eq(T.sink[v2].call_n[0], VSW_BURST);
	cr_assert_eq(T.sink[v2].call_n[1], 40 - VSW_BURST);
	cr_assert_eq(got(), P(v2));
}

/* --- capture ------------------------------------------------------------ */

static char *tmp_path(const char *what)
{
	static char path[256];
	const char *dir = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/iovpath-vsw-%d-%s.pcap", dir ? dir : "/tmp", (int)getpid(),
	         what);
	return path;
}

Test(vsw, capture_both_directions_to_pcap, .timeout = 10)
{
	static const uint16_t t[] = { 10, 0 };
	int e = add_port(0, VSW_PORT_EXTERNAL, 10, NULL);
	int v = add_trunk(1, t, VSW_VLAN_NONE, true); /* out frames carry the tag in metadata */
	const char *path = tmp_path("both");
	uint8_t want[5][FBYTES], buf[3][FBYTES];
	uint32_t wlen[5];
	struct vsw_frame f[3];
	struct vsw_port_info pi;
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *pc;
	int n = 0;

	cr_assert_eq(vsw_capture_start(T.sw, (unsigned int)v, path, VSW_CAP_IN | VSW_CAP_OUT), 0);
	cr_assert_eq(vsw_port_get(T.sw, (unsigned int)v, &pi), 0);
	cr_assert_eq(pi.capture, VSW_CAP_IN | VSW_CAP_OUT);

	/* In: 3 tagged frames from the trunk (one is dropped: still captured). */
	for (int k = 0; k < 3; k++) {
		f[k] = (struct vsw_frame){ .data = buf[k] };
		f[k].len = mkframe(buf[k], BCAST, MAC_B, k == 2 ? 11 : 10, 0x0800, (uint8_t)k);
		memcpy(want[k], buf[k], f[k].len);
		wlen[k] = f[k].len;
	}
	cr_assert_eq(vsw_input(T.sw, (unsigned int)v, f, 3), 2);
	/* Out: 2 frames to the trunk, tag in the metadata, in the file in the bytes. */
	for (int k = 0; k < 2; k++) {
		f[k].len = mkframe(buf[k], MAC_B, MAC_X, NOTAG, 0x86dd, (uint8_t)(0x10 + k));
		wlen[3 + k] = mkframe(want[3 + k], MAC_B, MAC_X, 10, 0x86dd, (uint8_t)(0x10 + k));
	}
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, f, 2), 2);
	cr_assert_eq(T.sink[v].f[0].flags, VSW_F_VLAN);
	cr_assert_eq(vsw_capture_stop(T.sw, (unsigned int)v), 0);
	/* Not captured any more. */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)e, f, 1), 1);

	pc = pcap_open_offline(path, err);
	cr_assert(pc, "pcap_open_offline: %s", err);
	cr_assert_eq(pcap_datalink(pc), DLT_EN10MB);
	cr_assert_eq(pcap_snapshot(pc), 65535);
	while (pcap_next_ex(pc, &h, &data) == 1) {
		cr_assert_lt(n, 5);
		cr_assert_eq(h->len, wlen[n], "frame %d: len %u", n, h->len);
		cr_assert_eq(h->caplen, wlen[n]);
		cr_assert_eq(memcmp(data, want[n], wlen[n]), 0, "frame %d bytes", n);
		cr_assert_gt(h->ts.tv_sec, 1500000000, "a real time stamp");
		n++;
	}
	cr_assert_eq(n, 5);
	pcap_close(pc);
	unlink(path);
}

Test(vsw, capture_start_stop_errors, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	const char *path = tmp_path("err");
	char dir_missing[] = "/nonexistent-iovpath-dir/x.pcap";

	cr_assert_eq(vsw_capture_start(T.sw, 7, path, VSW_CAP_IN), -ENOENT);
	cr_assert_eq(vsw_capture_start(T.sw, (unsigned int)e, path, 0), -EINVAL);
	cr_assert_eq(vsw_capture_start(T.sw, (unsigned int)e, path, 4), -EINVAL);
	cr_assert_eq(vsw_capture_start(T.sw, (unsigned int)e, dir_missing, VSW_CAP_IN), -ENOENT);
	cr_assert_eq(vsw_capture_stop(T.sw, (unsigned int)e), 0, "not capturing: nothing to do");
	cr_assert_eq(vsw_capture_start(T.sw, (unsigned int)e, path, VSW_CAP_OUT), 0);
	cr_assert_eq(vsw_capture_start(T.sw, (unsigned int)e, path, VSW_CAP_OUT), -EBUSY);
	/* Removing the port (or destroying the switch) closes the file. */
	cr_assert_eq(vsw_port_remove(T.sw, (unsigned int)e), 0);
	cr_assert_eq(vsw_capture_stop(T.sw, (unsigned int)e), -ENOENT);
	unlink(path);
}

/* --- extensions --------------------------------------------------------- */

struct ext_log {
	char seq[64]; /* 'c' capture, 'f' filter, per frame */
	unsigned int len;
	unsigned int captured, filtered;
	uint16_t vlans[8];
	int request_port; /* >= 0: request VF removal of this port from the filter */
	int request_rc;
};

static void cap_cb(void *ctx, struct vsw *sw, unsigned int in_port, const struct vsw_frame *f)
{
	struct ext_log *l = ctx;

	if (l->len < sizeof(l->seq) - 1)
		l->seq[l->len++] = 'c';
	l->captured++;
}

static enum vsw_verdict filter_cb(void *ctx, struct vsw *sw, unsigned int in_port, uint16_t vlan,
                                  const struct vsw_frame *f)
{
	struct ext_log *l = ctx;

	if (l->len < sizeof(l->seq) - 1)
		l->seq[l->len++] = 'f';
	if (l->filtered < 8)
		l->vlans[l->filtered] = vlan;
	l->filtered++;
	if (l->request_port >= 0)
		l->request_rc = vsw_request_vf_removal(sw, (unsigned int)l->request_port);
	/* Drop experimental ethertype 0x88b5. */
	return f->len >= 14 && f->data[12] == 0x88 && f->data[13] == 0xb5 ? VSW_DROP : VSW_PASS;
}

static const struct vsw_ext_ops cap_ext = { .name = "cap", .capture = cap_cb };
static const struct vsw_ext_ops filter_ext = { .name = "filter", .filter = filter_cb };

Test(vsw, filter_extension_drops, .timeout = 10)
{
	struct ext_log log = { .request_port = -1 };
	int e = add_port(0, VSW_PORT_EXTERNAL, 7, NULL);
	int v = add_port(1, VSW_PORT_VM, 7, MAC_A);
	uint8_t buf[3][FBYTES];
	struct vsw_frame f[3];
	int fid, cid;

	/* Added filter first: captures still run before filters. */
	fid = vsw_ext_add(T.sw, &filter_ext, &log);
	cid = vsw_ext_add(T.sw, &cap_ext, &log);
	cr_assert_geq(fid, 0);
	cr_assert_geq(cid, 0);
	for (int k = 0; k < 3; k++) {
		f[k] = (struct vsw_frame){ .data = buf[k] };
		f[k].len = mkframe(buf[k], BCAST, k == 1 ? MAC_Z : MAC_A, NOTAG,
		                   k == 2 ? 0x88b5 : 0x0800, 0);
	}
	/* Frame 0 passes, frame 1 is spoofed (captured, never filtered), frame 2
	 * is dropped by the filter. */
	cr_assert_eq(vsw_input(T.sw, (unsigned int)v, f, 3), 1);
	cr_assert_str_eq(log.seq, "cfccf");
	cr_assert_eq(log.vlans[0], 7);
	cr_assert_eq(drops(v, VSW_DROP_FILTER), 1);
	cr_assert_eq(drops(v, VSW_DROP_SPOOF), 1);
	cr_assert_eq(T.sink[e].n, 1);

	/* Removed: no longer called. */
	cr_assert_eq(vsw_ext_remove(T.sw, fid), 0);
	cr_assert_eq(vsw_ext_remove(T.sw, fid), -ENOENT);
	cr_assert_eq(vsw_input(T.sw, (unsigned int)v, &f[2], 1), 1);
	cr_assert_eq(log.filtered, 2);
	cr_assert_eq(log.captured, 4);

	/* Errors. */
	struct vsw_ext_ops both = { .capture = cap_cb, .filter = filter_cb }, none = { 0 };
	cr_assert_eq(vsw_ext_add(T.sw, &both, &log), -EINVAL);
	cr_assert_eq(vsw_ext_add(T.sw, &none, &log), -EINVAL);
	for (unsigned int k = 1; k < VSW_MAX_EXTS; k++)
		cr_assert_geq(vsw_ext_add(T.sw, &cap_ext, &log), 0);
	cr_assert_eq(vsw_ext_add(T.sw, &cap_ext, &log), -ENOSPC);
}

struct vf_host {
	unsigned int calls;
	unsigned int port;
	unsigned int sink_calls_at_request; /* tx_burst calls already made then */
};

static int vf_handler(void *arg, struct vsw *sw, unsigned int port)
{
	struct vf_host *h = arg;

	h->calls++;
	h->port = port;
	h->sink_calls_at_request = T.sink[0].calls;
	/* Outside the burst: the host may act on the switch right away. */
	return vsw_input(sw, port, NULL, 0) == 0 ? 42 : -1;
}

Test(vsw, filter_requests_vf_removal, .timeout = 10)
{
	struct ext_log log = { .request_port = 1 };
	struct vf_host host = { 0 };
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int v = add_port(1, VSW_PORT_VM, 0, MAC_A);
	uint8_t buf[3][FBYTES];
	struct vsw_frame f[3];

	cr_assert_eq(vsw_request_vf_removal(T.sw, (unsigned int)v), -EOPNOTSUPP, "no handler");
	vsw_set_vf_removal_handler(T.sw, vf_handler, &host);
	cr_assert_eq(vsw_request_vf_removal(T.sw, (unsigned int)e), -EINVAL, "not a VM port");
	cr_assert_eq(vsw_request_vf_removal(T.sw, 9), -ENOENT);

	cr_assert_geq(vsw_ext_add(T.sw, &filter_ext, &log), 0);
	for (int k = 0; k < 3; k++) {
		f[k] = (struct vsw_frame){ .data = buf[k] };
		f[k].len = mkframe(buf[k], BCAST, MAC_A, NOTAG, 0x0800, 0);
	}
	cr_assert_eq(vsw_input(T.sw, (unsigned int)v, f, 3), 3);
	cr_assert_eq(log.request_rc, 0, "queued during the burst");
	cr_assert_eq(host.calls, 1, "once per port per burst");
	cr_assert_eq(host.port, (unsigned int)v);
	cr_assert_eq(host.sink_calls_at_request, 1, "after the burst was delivered");
	{
		struct vsw_stats st = stats();

		cr_assert_eq(st.vf_removal_requests, 3);
	}
	/* Outside a burst the handler runs now and its result comes back. */
	cr_assert_eq(vsw_request_vf_removal(T.sw, (unsigned int)v), 42);
	cr_assert_eq(host.calls, 2);
}

/* --- life cycle, reentry, introspection --------------------------------- */

Test(vsw, ports_add_remove_ids_stable, .timeout = 10)
{
	struct vsw_port_config bad = { .kind = VSW_PORT_VM, .ops = &sink_ops };
	struct vsw_vlan_cfg v;
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int i = add_port(1, VSW_PORT_INTERNAL, 0, NULL);
	int vm = add_port(2, VSW_PORT_VM, 0, MAC_A);
	struct vsw_port_config ext2 = { .kind = VSW_PORT_EXTERNAL, .ops = &sink_ops };

	cr_assert_eq(vsw_port_add(T.sw, &ext2), -EEXIST, "one external port");
	cr_assert_eq(vsw_port_add(T.sw, &bad), -EINVAL, "a VM port needs its MACs");
	bad.ops = NULL;
	bad.allow_mac_spoofing = true;
	cr_assert_eq(vsw_port_add(T.sw, &bad), -EINVAL, "no ops");
	bad.ops = &sink_ops;
	bad.vlan.access_vlan = 4095;
	cr_assert_eq(vsw_port_add(T.sw, &bad), -EINVAL, "VLAN out of range");
	vsw_vlan_trunk(&v, 4095);
	cr_assert_eq(vsw_vlan_cfg_check(&v), -EINVAL);
	vsw_vlan_trunk(&v, VSW_VLAN_NONE);
	v.allowed[0] = 1;
	cr_assert_eq(vsw_vlan_cfg_check(&v), -EINVAL, "VLAN 0 is never tagged");

	send1(vm, BCAST, MAC_A, NOTAG);
	send1(e, BCAST, MAC_X, NOTAG);
	cr_assert_eq(vsw_port_remove(T.sw, (unsigned int)i), 0);
	cr_assert_eq(vsw_port_remove(T.sw, (unsigned int)i), -ENOENT);
	cr_assert_eq(vsw_input(T.sw, (unsigned int)i, NULL, 0), -ENOENT);
	cr_assert_eq(stats().ports, 2);
	/* The others keep their ids; the free id is reused. */
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), vm);
	cr_assert_eq(add_port(1, VSW_PORT_INTERNAL, 0, NULL), 1);
	cr_assert_eq(vsw_port_remove(T.sw, (unsigned int)vm), 0);
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_A, 0), -ENOENT, "its MACs are forgotten");
	cr_assert_eq(vsw_mac_lookup(T.sw, MAC_X, 0), e);
	cr_assert_eq(vsw_port_remove(T.sw, (unsigned int)e), 0);
	cr_assert_eq(add_port(0, VSW_PORT_EXTERNAL, 0, NULL), 0, "a new external port");
	for (unsigned int k = 2; k < VSW_MAX_PORTS; k++)
		cr_assert_eq(
		    vsw_port_add(T.sw, &(struct vsw_port_config){ .kind = VSW_PORT_INTERNAL,
		                                                  .ops = &sink_ops }),
		    (int)k);
	cr_assert_eq(vsw_port_add(T.sw, &(struct vsw_port_config){ .kind = VSW_PORT_INTERNAL,
	                                                           .ops = &sink_ops }),
	             -ENOSPC);
}

static struct {
	int input_rc, remove_rc, ext_rc;
} reentry;

static int reenter(struct sink *s)
{
	uint8_t b[64];
	struct vsw_frame f = { .data = b, .len = mkframe(b, BCAST, MAC_X, NOTAG, 0x0800, 0) };

	reentry.input_rc = vsw_input(T.sw, 0, &f, 1);
	reentry.remove_rc = vsw_port_remove(T.sw, 0);
	reentry.ext_rc = vsw_ext_add(T.sw, &cap_ext, NULL);
	return 0;
}

Test(vsw, callbacks_cannot_reenter, .timeout = 10)
{
	int e = add_port(0, VSW_PORT_EXTERNAL, 0, NULL);
	int i = add_port(1, VSW_PORT_INTERNAL, 0, NULL);

	T.sink[i].hook = reenter;
	cr_assert_eq(send1(e, BCAST, MAC_X, NOTAG), 1);
	cr_assert_eq(reentry.input_rc, -EBUSY);
	cr_assert_eq(reentry.remove_rc, -EBUSY);
	cr_assert_eq(reentry.ext_rc, -EBUSY);
	cr_assert_eq(T.sink[i].n, 1);
}

struct dump_ctx {
	unsigned int ports, macs;
	struct vsw_port_info p[4];
	struct vsw_mac_info m[4];
};

static int dump_port(void *arg, const struct vsw_port_info *p)
{
	struct dump_ctx *d = arg;

	if (d->ports < 4)
		d->p[d->ports] = *p;
	d->ports++;
	return 0;
}

static int dump_mac(void *arg, const struct vsw_mac_info *m)
{
	struct dump_ctx *d = arg;

	if (d->macs < 4)
		d->m[d->macs] = *m;
	d->macs++;
	return 0;
}

static int dump_stop(void *arg, const struct vsw_port_info *p)
{
	return 7;
}

Test(vsw, dump_ports_and_macs, .timeout = 10)
{
	static const uint16_t t[] = { 5, 6, 0 };
	const struct vsw_dump_ops ops = { .port = dump_port, .mac = dump_mac };
	struct dump_ctx d = { 0 };
	int tr = add_trunk(0, t, 1, false);
	int v = add_port(1, VSW_PORT_VM, 5, MAC_A);

	send1(v, BCAST, MAC_A, NOTAG);
	send1(v, BCAST, MAC_Z, NOTAG);
	T.now += 3 * SEC;
	cr_assert_eq(vsw_dump(T.sw, &ops, &d), 0);
	cr_assert_eq(d.ports, 2);
	cr_assert_eq(d.p[0].id, (unsigned int)tr);
	cr_assert_eq(d.p[0].kind, VSW_PORT_INTERNAL);
	cr_assert_eq(d.p[0].vlan.mode, VSW_VLAN_TRUNK);
	cr_assert_eq(d.p[0].vlan.native_vlan, 1);
	cr_assert(vsw_vlan_has(&d.p[0].vlan, 6));
	cr_assert_not(vsw_vlan_has(&d.p[0].vlan, 7));
	cr_assert_eq(d.p[0].stats.tx_frames, 1);
	cr_assert_str_eq(d.p[1].name, "vm");
	cr_assert_eq(d.p[1].kind, VSW_PORT_VM);
	cr_assert_eq(d.p[1].vlan.access_vlan, 5);
	cr_assert_eq(d.p[1].nmacs, 1);
	cr_assert_eq(memcmp(d.p[1].macs[0], MAC_A, 6), 0);
	cr_assert_eq(d.p[1].stats.rx_frames, 2);
	cr_assert_eq(d.p[1].stats.drops[VSW_DROP_SPOOF], 1);
	cr_assert_eq(d.macs, 1);
	cr_assert_eq(memcmp(d.m[0].mac, MAC_A, 6), 0);
	cr_assert_eq(d.m[0].vlan, 5);
	cr_assert_eq(d.m[0].port, (unsigned int)v);
	cr_assert_eq(d.m[0].idle_ns, 3 * SEC);

	cr_assert_eq(vsw_dump(T.sw, &(struct vsw_dump_ops){ .port = dump_stop }, NULL), 7);
	cr_assert_str_eq(vsw_drop_name(VSW_DROP_SPOOF), "spoof");
	cr_assert_str_eq(vsw_drop_name(VSW_DROP_PORT_FULL), "port-full");
	cr_assert_str_eq(vsw_port_kind_name(VSW_PORT_VM), "vm");
	cr_assert_str_eq(vsw_vlan_mode_name(VSW_VLAN_TRUNK), "trunk");
}

Test(vsw, create_rejects_bad_config, .timeout = 10)
{
	struct vsw *sw;

	errno = 0;
	cr_assert_null(vsw_create(&(struct vsw_config){ .max_macs = (1u << 20) + 1 }));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(vsw_create(&(struct vsw_config){ .max_frame = VSW_MAX_FRAME + 1 }));
	cr_assert_eq(errno, EINVAL);
	sw = vsw_create(NULL);
	cr_assert(sw);
	vsw_destroy(sw);
	vsw_destroy(NULL);
}
