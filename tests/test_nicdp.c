/* The NIC engine end to end, in real processes:
 *
 *    VF A process ──qp──┐                      ┌── shm wire ── wire-peer process
 *                       ├─ NIC engine (parent) ┤               (echoes, MACs swapped)
 *    VF B process ──qp──┘                      └── default VPort (counted)
 *
 * A→B stays inside the NIC; A→outside leaves by the wire and comes back to A;
 * a spoofed source is dropped and counted; offload metadata rides along.
 * Frames of 200 B to 60 KB (a TSO segment), every byte checked. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/vf.h"
#include "harness.h"
#include "nic/nicdp.h"
#include "util/frame.h"

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0xa };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0xb };
static const uint8_t MAC_X[6] = { 0x02, 0, 0, 0, 0, 0xee }; /* outside, behind the wire */

static struct vfbar *g_bar[2];
static uint32_t g_serial[2];
static char g_wire[200], g_err[256];
static unsigned int g_pf_frames;

#define N 100

/* Frame @seq's length: from short ones up to a TSO segment's. */
static uint32_t flen(uint64_t seq)
{
	static const uint32_t base[4] = { 200, 1514, 9000, 60000 };

	return base[seq % 4] + (uint32_t)(seq * 37 % 256);
}

static uint32_t mkframe(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint64_t seq)
{
	uint32_t len = flen(seq);

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	util_frame_fill(f + 14, len - 14, seq, 0, UTIL_FRAME_FULL);
	return len;
}

/* A test frame as sent: its length and every byte; its sequence number. */
static bool frame_ok(const struct port_pkt *pk, uint64_t *seq)
{
	uint32_t flow;

	return pk->len > 14 &&
	       util_frame_check(pk->data + 14, pk->len - 14, seq, &flow, UTIL_FRAME_FULL) == 0 &&
	       pk->len == flen(*seq);
}

static int rx_some(struct vf *vf, struct port_pkt *pk)
{
	for (int i = 0; i < 5000; i++) {
		int n = vf_rx_burst(vf, pk, PORT_BURST);

		if (n)
			return n;
		if (vf_arm(vf)) {
			struct pollfd p = { .fd = vf->bar->efd_vf, .events = POLLIN };
			uint64_t v;

			if (poll(&p, 1, 1) == 1 && read(p.fd, &v, sizeof(v)) < 0)
				return -1;
		}
	}
	return 0;
}

static struct vf *start(int i)
{
	struct vfbar *b = g_bar[i];

	return vf_start(dup(b->memfd), dup(b->efd_nic), dup(b->efd_vf), g_serial[i], g_err,
	                sizeof(g_err));
}

static int vf_a(void *arg)
{
	struct vf *vf = start(0);
	static uint8_t f[65536];
	struct port_pkt pk[PORT_BURST];
	int got = 0;

	if (!vf)
		return 10;
	if (memcmp(vf->mac, MAC_A, 6) || vf->mtu != 1500)
		return 11; /* read through the backchannel */
	for (int i = 0; i < N; i++) {
		pk[0] = (struct port_pkt){ .data = f,
			                   .len = mkframe(f, i % 2 ? MAC_B : MAC_X, MAC_A,
			                                  (uint64_t)i) };
		pk[0].vnet.gso_size = (uint16_t)(1000 + i);
		while (vf_tx_burst(vf, pk, 1) != 1) /* the queue is full: wait */
			usleep(100);
	}
	pk[0] = (struct port_pkt){ .data = f, .len = mkframe(f, MAC_B, MAC_X, 999) }; /* spoofed */
	while (vf_tx_burst(vf, pk, 1) != 1)
		usleep(100);
	while (got < N / 2) { /* the echoes from the wire */
		int n = rx_some(vf, pk);
		uint64_t seq;

		if (n <= 0)
			return 14;
		for (int i = 0; i < n; i++)
			if (memcmp(pk[i].data, MAC_A, 6) || memcmp(pk[i].data + 6, MAC_X, 6) ||
			    !frame_ok(&pk[i], &seq) || seq % 2 != 0)
				return 15;
		got += n;
	}
	vf_stop(vf);
	return 0;
}

static int vf_b(void *arg)
{
	struct vf *vf = start(1);
	struct port_pkt pk[PORT_BURST];
	int got = 0;

	if (!vf)
		return 20;
	while (got < N / 2) {
		int n = rx_some(vf, pk);

		if (n <= 0)
			return 21;
		for (int i = 0; i < n; i++) {
			uint64_t seq;

			if (memcmp(pk[i].data + 6, MAC_A, 6) || !frame_ok(&pk[i], &seq) ||
			    seq % 2 != 1 || pk[i].vnet.gso_size != 1000 + seq)
				return 22;
		}
		got += n;
	}
	vf_stop(vf);
	return 0;
}

static int wire_peer(void *arg)
{
	struct port *p = NULL;
	struct port_pkt pk[PORT_BURST];
	int got = 0;

	for (int i = 0; i < 300 && !p; i++)
		if (!(p = port_open(g_wire, g_err, sizeof(g_err))))
			usleep(10000);
	if (!p)
		return 30;
	/* "plugged in": a frame for nobody (it reaches the PF) tells the NIC's
	 * side the wire is up before any VF sends: an unplugged wire drops */
	{
		static const uint8_t nobody[6] = { 0x02, 0, 0, 0, 0, 0xfe };
		uint8_t hello[60] = { 0 };
		struct port_pkt h = { .data = hello, .len = sizeof(hello) };

		memcpy(hello, nobody, 6);
		memcpy(hello + 6, MAC_X, 6);
		if (port_tx_burst(p, &h, 1) != 1)
			return 33;
	}
	while (got < N / 2) {
		int n = port_rx_burst(p, pk, PORT_BURST);

		for (int i = 0; i < n; i++) {
			uint8_t t[6];

			if (memcmp(pk[i].data, MAC_X, 6))
				return 31; /* only A's frames for the outside may leave the NIC */
			memcpy(t, pk[i].data, 6);
			memcpy(pk[i].data, pk[i].data + 6, 6);
			memcpy(pk[i].data + 6, t, 6);
		}
		if (n > 0 && port_tx_burst(p, pk, (unsigned int)n) != n)
			return 32;
		got += n > 0 ? n : 0;
		if (n == 0)
			usleep(100);
	}
	usleep(300 * 1000);
	port_close(p);
	return 0;
}

static void pf_rx(void *arg, const struct port_pkt *pkts, unsigned int n)
{
	g_pf_frames += n;
}

Test(nicdp, vf_to_vf_wire_and_spoof_in_processes, .timeout = 30)
{
	struct nic_caps caps = { .max_vfs = 4,
		                 .max_vports = 5,
		                 .total_queue_pairs = 8,
		                 .max_qps_per_vport = 2,
		                 .mac_filters_per_vport = 4 };
	struct nic *nic = nic_create(&caps);
	struct nicdp_ops ops = { .pf_rx = pf_rx };
	char spec[160];
	struct port *wire;
	struct nicdp *dp;
	struct nic_port_stats st;
	pid_t pid[3];
	int vport[2];

	signal(SIGPIPE, SIG_IGN);
	cr_assert(nic);
	cr_assert_eq(nic_switch_create(nic, 1), 0);
	snprintf(spec, sizeof(spec), "shm-listen:%s", th_sock_path());
	wire = port_open(spec, g_err, sizeof(g_err));
	cr_assert(wire, "%s", g_err);
	snprintf(g_wire, sizeof(g_wire), "shm-connect:%s", spec + strlen("shm-listen:"));
	dp = nicdp_create(nic, wire, &ops, NULL);
	for (int i = 0; i < 2; i++) {
		const uint8_t *mac = i ? MAC_B : MAC_A;
		int vf = nic_vf_alloc(nic, mac, &g_serial[i]);

		cr_assert_geq(vf, 0);
		vport[i] = nic_vport_create(nic, vf, 1);
		cr_assert_gt(vport[i], 0);
		cr_assert_eq(nic_filter_set(nic, (unsigned int)vport[i], mac, NIC_VLAN_NONE), 0);
		g_bar[i] = vfbar_create(1, 4u << 20); /* holds every frame: none dropped */
		cr_assert(g_bar[i]);
		cr_assert_eq(nicdp_vport_attach(dp, (unsigned int)vport[i], g_bar[i]), 0);
	}
	pid[2] = th_spawn(wire_peer, NULL);
	for (int i = 0; i < 5000 && !g_pf_frames; i++) /* the wire is plugged in */
		if (!nicdp_poll(dp))
			nicdp_wait(dp, 1);
	cr_assert_eq(g_pf_frames, 1, "the wire peer's hello reached the PF");
	g_pf_frames = 0;
	pid[0] = th_spawn(vf_a, NULL);
	pid[1] = th_spawn(vf_b, NULL);
	for (int live = 3; live > 0;) {
		if (!nicdp_poll(dp))
			nicdp_wait(dp, 1);
		live = 0;
		for (int i = 0; i < 3; i++)
			if (pid[i] > 0 && kill(pid[i], 0) == 0) {
				int st2;

				if (waitpid(pid[i], &st2, WNOHANG) == pid[i]) {
					cr_assert(WIFEXITED(st2) && WEXITSTATUS(st2) == 0,
					          "child %d failed: %d", i, WEXITSTATUS(st2));
					pid[i] = -1;
				} else {
					live++;
				}
			}
	}
	cr_assert_eq(nic_port_stats(nic, (unsigned int)vport[0], &st), 0);
	cr_assert_eq(st.drops[NIC_DROP_SPOOF], 1, "the spoofed frame is dropped and counted");
	cr_assert_eq(st.tx_frames, N + 1);
	cr_assert_eq(st.rx_frames, N / 2, "the echoes came back to A");
	cr_assert_eq(nic_port_stats(nic, NIC_PORT_WIRE, &st), 0);
	cr_assert_eq(st.rx_frames, N / 2, "only A's frames for the outside left the NIC");
	cr_assert_eq(g_pf_frames, 0);
	nicdp_destroy(dp);
	port_close(wire);
	for (int i = 0; i < 2; i++)
		vfbar_destroy(g_bar[i]);
	nic_destroy(nic);
}
