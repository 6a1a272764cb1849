/* The NIC engine end to end, in real processes:
 *
 *    VF A process ──qp──┐                      ┌── shm wire ── wire-peer process
 *                       ├─ NIC engine (parent) ┤               (echoes, MACs swapped)
 *    VF B process ──qp──┘                      └── default VPort (counted)
 *
 * A→B stays inside the NIC; A→outside leaves by the wire and comes back to A;
 * a spoofed source is dropped and counted; offload metadata rides along.
 * Frames of 200 B to 60 KB (a TSO segment), every byte checked.
 *
 * And a hostile VF (in one process, a thread of it rewriting the source
 * address of the frame the NIC is reading from its queue): the NIC decides
 * on its own copy of a frame's head and delivers that copy, so a frame gets
 * through with the VF's own address or not at all.
 *
 * And the engine's edges (suite vfpath), each once a bug an audit found: a
 * VF whose queue the NIC stopped reading (broken, or its VPort inactive)
 * does not keep the engine awake; a frame a VF's queue can never hold drops
 * only itself; rx_bytes counts the frames delivered; vf_stop after a
 * function level reset leaves the queues to the NIC. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/vf.h"
#include "harness.h"
#include "nic/nicdp.h"
#include "util/frame.h"
#include "util/util.h"

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

/* A NIC (4 VFs, 2 queue pairs per VPort at most) with its switch, served
 * by the returned engine (with @wire, or none). */
static struct nicdp *nic_engine(struct nic **nicp, struct port *wire)
{
	static const struct nicdp_ops ops = { .pf_rx = pf_rx };
	struct nic_caps caps = { .max_vfs = 4,
		                 .max_vports = 5,
		                 .total_queue_pairs = 8,
		                 .max_qps_per_vport = 2,
		                 .mac_filters_per_vport = 4 };
	struct nic *nic = nic_create(&caps);
	struct nicdp *dp;

	cr_assert(nic);
	cr_assert_eq(nic_switch_create(nic, 1), 0);
	dp = nicdp_create(nic, wire, &ops, NULL);
	cr_assert(dp);
	*nicp = nic;
	return dp;
}

/* nic_engine's NIC, and VF A and VF B (MAC_A, MAC_B) each on a VPort with
 * its filter and a BAR of one queue pair of @ring bytes. */
static struct nicdp *nic_with_two_vfs(struct nic **nicp, struct port *wire, uint32_t ring,
                                      struct vfbar *bar[2], int vport[2])
{
	struct nicdp *dp = nic_engine(nicp, wire);
	struct nic *nic = *nicp;

	for (int i = 0; i < 2; i++) {
		const uint8_t *mac = i ? MAC_B : MAC_A;
		int vf = nic_vf_alloc(nic, mac, &g_serial[i]);

		cr_assert_geq(vf, 0);
		vport[i] = nic_vport_create(nic, vf, 1);
		cr_assert_gt(vport[i], 0);
		cr_assert_eq(nic_filter_set(nic, (unsigned int)vport[i], mac, NIC_VLAN_NONE), 0);
		bar[i] = vfbar_create(1, ring);
		cr_assert(bar[i]);
		cr_assert_eq(nicdp_vport_attach(dp, (unsigned int)vport[i], bar[i]), 0);
	}
	return dp;
}

Test(nicdp, vf_to_vf_wire_and_spoof_in_processes, .timeout = 30)
{
	struct nic *nic;
	char spec[160];
	struct port *wire;
	struct nicdp *dp;
	struct nic_port_stats st;
	pid_t pid[3];
	int vport[2];

	signal(SIGPIPE, SIG_IGN);
	snprintf(spec, sizeof(spec), "shm-listen:%s", th_sock_path());
	wire = port_open(spec, g_err, sizeof(g_err));
	cr_assert(wire, "%s", g_err);
	snprintf(g_wire, sizeof(g_wire), "shm-connect:%s", spec + strlen("shm-listen:"));
	dp = nic_with_two_vfs(&nic, wire, 4u << 20, g_bar, vport); /* holds every frame */
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

/* The hostile VF's frame in its queue, the address bytes it rewrites. */
static _Atomic(uint8_t *) g_flip_at;
static atomic_bool g_flip_stop;

static void *flipper(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_flip_stop)) {
		volatile uint8_t *p = atomic_load(&g_flip_at);

		if (p) /* the source MAC's last byte: A's (0x0a), then a spoof */
			p[11] = p[11] == 0x0a ? 0x5f : 0x0a;
	}
	return NULL;
}

Test(nicdp, a_vf_rewriting_a_frame_in_its_queue_changes_no_decision, .timeout = 60)
{
	struct nic *nic;
	struct vfbar *bar[2], *vfa, *vfb;
	struct nic_port_stats st;
	struct nicdp *dp;
	pthread_t th;
	unsigned int got = 0, spoofed_seen = 0, sent = 0;
	int vport[2];
	uint64_t until;
	enum { FRAMES = 3000, LEN = 4000 }; /* large: read where it lies */
	static uint8_t buf[2 * LEN];
	struct vmbus_rx rx[8];

	dp = nic_with_two_vfs(&nic, NULL, 1u << 20, bar, vport);
	vfa = vfbar_attach(dup(bar[0]->memfd), dup(bar[0]->efd_nic), dup(bar[0]->efd_vf), g_err,
	                   sizeof(g_err));
	vfb = vfbar_attach(dup(bar[1]->memfd), dup(bar[1]->efd_nic), dup(bar[1]->efd_vf), g_err,
	                   sizeof(g_err));
	cr_assert(vfa && vfb, "%s", g_err);
	atomic_store(&g_flip_stop, false);
	cr_assert_eq(pthread_create(&th, NULL, flipper, NULL), 0);
	/* FRAMES frames, and on until the flips were seen both ways (a busy
	 * machine may run the flipper late), 20 s at most */
	until = util_now_ns() + 20000000000ull;
	for (unsigned int k = 0;; k++) {
		static const struct vfbar_ext ext;
		static uint8_t f[LEN];
		struct vmbus_slot sl;
		struct iovec e[2], v[2];
		unsigned int nv, at = 0;

		if (k >= (unsigned int)FRAMES) {
			cr_assert_eq(nic_port_stats(nic, (unsigned int)vport[0], &st), 0);
			if ((got && st.drops[NIC_DROP_SPOOF]) || util_now_ns() > until)
				break;
		}
		/* A's frame to B, written where it lies in A's queue */
		memcpy(f, MAC_B, 6);
		memcpy(f + 6, MAC_A, 6);
		f[12] = 0x88, f[13] = 0xb5;
		memset(f + 14, (int)(k & 0xff), LEN - 14);
		cr_assert_eq(vmbus_ring_reserve(&vfa->tx[0], sizeof(ext), LEN, &sl), 1);
		for (unsigned int i = 0, ne = vmbus_slot_iov(&sl, 0, sizeof(ext), e); i < ne; i++)
			memcpy(e[i].iov_base, (const uint8_t *)&ext + (i ? e[0].iov_len : 0),
			       e[i].iov_len);
		nv = vmbus_slot_iov(&sl, sizeof(ext), LEN, v);
		for (unsigned int i = 0; i < nv; at += (unsigned int)v[i++].iov_len)
			memcpy(v[i].iov_base, f + at, v[i].iov_len);
		vmbus_ring_commit(&vfa->tx[0], &sl, VMBUS_PKT_DATA_INBAND, LEN);
		vmbus_ring_publish(&vfa->tx[0]);
		if (nv == 1) /* one that wraps the NIC copies first: nothing to race */
			atomic_store(&g_flip_at, (uint8_t *)v[0].iov_base);
		while (nicdp_poll(dp) == 0)
			;
		atomic_store(&g_flip_at, NULL);
		sent++;
		/* what B got: A's address, or nothing */
		for (int n; (n = vmbus_ring_read(&vfb->rx[0], rx, 8, buf, sizeof(buf))) > 0;)
			for (int i = 0; i < n; i++) {
				cr_assert_eq(rx[i].len, LEN);
				if (memcmp((const uint8_t *)rx[i].data + 6, MAC_A, 6))
					spoofed_seen++;
				got++;
			}
	}
	atomic_store(&g_flip_stop, true);
	pthread_join(th, NULL);
	cr_assert_eq(spoofed_seen, 0, "%u frames reached B with another source than A's",
	             spoofed_seen);
	cr_assert_eq(nic_port_stats(nic, (unsigned int)vport[0], &st), 0);
	cr_assert_eq(got + st.drops[NIC_DROP_SPOOF], sent, "each frame delivered or dropped");
	cr_assert_gt(st.drops[NIC_DROP_SPOOF], 0, "the rewrites were seen: some decided spoofed");
	cr_assert_gt(got, 0);
	vfbar_destroy(vfa);
	vfbar_destroy(vfb);
	nicdp_destroy(dp);
	for (int i = 0; i < 2; i++)
		vfbar_destroy(bar[i]);
	nic_destroy(nic);
}

/* ---- the engine's edges ---- */

static const uint8_t S0[6] = { 0x02, 0, 0, 0, 0, 0x01 }; /* with MAC_B: hash even -> qp 0 */
static const uint8_t S1[6] = { 0x02, 0, 0, 0, 0, 0x02 }; /* with MAC_B: hash odd -> qp 1 */

/* With nothing for it to do, the engine sleeps: nicdp_wait times out (0)
 * each of 50 times. */
static void wakeups_none(struct nicdp *dp)
{
	int woke = 0;

	for (int i = 0; i < 50; i++) {
		nicdp_poll(dp);
		woke += nicdp_wait(dp, 20);
	}
	cr_assert_eq(woke, 0, "nicdp_wait returned 'work' %d/50 times with nothing to do", woke);
}

static void mkvf(struct nicdp *dp, struct nic *nic, const uint8_t *mac, unsigned int nqp,
                 uint32_t ring, struct nicdp_vf *vf)
{
	cr_assert_eq(nicdp_vf_create(dp, mac, 0, 0, nqp, ring, vf, g_err, sizeof(g_err)), 0, "%s",
	             g_err);
	cr_assert_eq(nic_filter_set(nic, (unsigned int)vf->vport, mac, NIC_VLAN_NONE), 0);
}

static void done(struct nicdp *dp, struct nic *nic, struct nicdp_vf *vf, const uint8_t *mac)
{
	cr_assert_eq(nic_filter_clear(nic, mac, NIC_VLAN_NONE), 0);
	cr_assert_eq(nicdp_vf_destroy(dp, vf), 0);
	nicdp_destroy(dp);
	nic_destroy(nic);
}

static struct vfbar *vfside(struct vfbar *b)
{
	struct vfbar *v =
	    vfbar_attach(dup(b->memfd), dup(b->efd_nic), dup(b->efd_vf), g_err, sizeof(g_err));
	cr_assert(v, "%s", g_err);
	return v;
}

static void vf_send(struct vfbar *v, const uint8_t *dst, const uint8_t *src, uint32_t len)
{
	static uint8_t f[65536];
	struct vfbar_ext ext = { 0 };
	struct iovec iov = { f, len };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND,
		               .ext = &ext,
		               .ext_len = sizeof(ext),
		               .iov = &iov,
		               .iovcnt = 1 };

	memset(f, 0x5a, len);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88, f[13] = 0xb5;
	cr_assert_eq(vmbus_ring_write(&v->tx[0], &tx, 1), 1);
}

static struct port_pkt pkt(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint32_t len)
{
	memset(f, 0x33, len);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88, f[13] = 0xb5;
	return (struct port_pkt){ .data = f, .len = len };
}

/* A VF that breaks its transmit queue (one bad descriptor): the NIC stops
 * its VPort, and the engine can sleep (the bytes left in that queue are not
 * work nicdp_arm waits for). */
Test(vfpath, broken_tx_queue_lets_the_engine_sleep, .timeout = 20)
{
	struct nic *nic;
	struct nicdp *dp = nic_engine(&nic, NULL);
	struct nicdp_vf a;
	struct vfbar *va;
	struct nic_vport_info vi;

	mkvf(dp, nic, MAC_A, 1, 65536, &a);
	va = vfside(a.bar);
	vf_send(va, MAC_B, MAC_A, 100);
	va->tx[0].data[11] = 1; /* desc.rsvd != 0: the NIC's ring latches broken */
	cr_assert_eq(nicdp_poll(dp), 0);
	cr_assert_eq(nic_vport_get(nic, (unsigned int)a.vport, &vi), 0);
	cr_assert(!vi.running, "the NIC stopped the hostile VPort");
	wakeups_none(dp);
	vfbar_destroy(va);
	done(dp, nic, &a, MAC_A);
}

/* The same with a VPort that is not active (its VF in D3hot) and a frame
 * waiting in its queue. */
Test(vfpath, inactive_vport_lets_the_engine_sleep, .timeout = 20)
{
	struct nic *nic;
	struct nicdp *dp = nic_engine(&nic, NULL);
	struct nicdp_vf a;
	struct vfbar *va;

	mkvf(dp, nic, MAC_A, 1, 65536, &a);
	va = vfside(a.bar);
	cr_assert_eq(nic_vf_set_power(nic, (unsigned int)a.vf, NIC_POWER_D3HOT), 0);
	vf_send(va, MAC_B, MAC_A, 100);
	wakeups_none(dp);
	vfbar_destroy(va);
	done(dp, nic, &a, MAC_A);
}

/* One queue pair: a frame bigger than the VF's whole ring is dropped alone;
 * the frame behind it, which fits, arrives. */
Test(vfpath, oversized_frame_drops_only_itself, .timeout = 20)
{
	struct nic *nic;
	struct nicdp *dp = nic_engine(&nic, NULL);
	struct nicdp_vf b;
	struct vfbar *vb;
	static uint8_t f0[9000], f1[100], buf[65536];
	struct port_pkt p[2];
	struct vmbus_rx rx[8];

	mkvf(dp, nic, MAC_B, 1, 8192, &b);
	vb = vfside(b.bar);
	p[0] = pkt(f0, MAC_B, S0, sizeof(f0));
	p[1] = pkt(f1, MAC_B, S0, sizeof(f1));
	nicdp_pf_tx(dp, p, 2);
	int n = vmbus_ring_read(&vb->rx[0], rx, 8, buf, sizeof(buf));
	cr_assert_eq(n, 1, "the 100-byte frame fits the ring and should arrive (got %d)", n);
	vfbar_destroy(vb);
	done(dp, nic, &b, MAC_B);
}

/* Several queue pairs: rx_bytes counts the frames delivered (one of 100
 * bytes), not the batch's first ones. */
Test(vfpath, multi_qp_rx_bytes_counts_the_delivered_frames, .timeout = 20)
{
	struct nic *nic;
	struct nicdp *dp = nic_engine(&nic, NULL);
	struct nicdp_vf b;
	static uint8_t f[4][1000], g[100];
	struct port_pkt p[3];
	struct nic_port_stats s0, s1;

	mkvf(dp, nic, MAC_B, 2, 4096, &b);
	for (int i = 0; i < 3; i++) /* qp 0 full: 3 x 1040 ring bytes of 4096 */
		p[i] = pkt(f[i], MAC_B, S0, 1000);
	nicdp_pf_tx(dp, p, 3);
	cr_assert_eq(nic_port_stats(nic, (unsigned int)b.vport, &s0), 0);
	cr_assert_eq(s0.rx_frames, 3);
	p[0] = pkt(f[3], MAC_B, S0, 1000); /* qp 0: no room, dropped */
	p[1] = pkt(g, MAC_B, S1, 100);     /* qp 1: delivered */
	nicdp_pf_tx(dp, p, 2);
	cr_assert_eq(nic_port_stats(nic, (unsigned int)b.vport, &s1), 0);
	cr_assert_eq(s1.rx_frames - s0.rx_frames, 1);
	cr_assert_eq(s1.drops[NIC_DROP_QUEUE_FULL] - s0.drops[NIC_DROP_QUEUE_FULL], 1);
	cr_assert_eq(s1.rx_bytes - s0.rx_bytes, 100, "rx_bytes grew by %llu for one 100-byte frame",
	             (unsigned long long)(s1.rx_bytes - s0.rx_bytes));
	done(dp, nic, &b, MAC_B);
}

/* The engine polled by a thread until g_stop (a VF driver's mailbox calls). */
static atomic_bool g_stop;
static struct nicdp *g_dp;

static void *poller(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_stop))
		if (!nicdp_poll(g_dp))
			usleep(100);
	return NULL;
}

/* The guest's VF driver started on @v (its mailbox answered by a poller
 * thread meanwhile). */
static struct vf *guest_vf(const struct nicdp_vf *v)
{
	pthread_t th;
	struct vf *vf;

	atomic_store(&g_stop, false);
	cr_assert_eq(pthread_create(&th, NULL, poller, NULL), 0);
	vf = vf_start(dup(v->bar->memfd), dup(v->bar->efd_nic), dup(v->bar->efd_vf), v->serial,
	              g_err, sizeof(g_err));
	atomic_store(&g_stop, true);
	pthread_join(th, NULL);
	cr_assert(vf, "%s", g_err);
	return vf;
}

/* vf_stop after a function level reset gives no receive space back into
 * the queues the NIC reset: a new driver attaches. */
Test(vfpath, vf_stop_after_flr_leaves_the_queues_usable, .timeout = 30)
{
	struct nic *nic;
	struct nicdp_vf a;
	struct vf *vf;
	static uint8_t f[200];
	struct port_pkt p, rcv[PORT_BURST];
	struct vfbar *again;

	g_dp = nic_engine(&nic, NULL);
	mkvf(g_dp, nic, MAC_A, 1, 65536, &a);
	vf = guest_vf(&a);
	p = pkt(f, MAC_A, S0, sizeof(f));
	nicdp_pf_tx(g_dp, &p, 1);
	cr_assert_eq(vf_rx_burst(vf, rcv, PORT_BURST), 1);
	cr_assert_eq(nicdp_vf_reset(g_dp, (unsigned int)a.vf), 0);
	cr_assert_eq(vf_rx_burst(vf, rcv, PORT_BURST), -ENODEV);
	vf_stop(vf); /* "all that is left to do" */
	again = vfbar_attach(dup(a.bar->memfd), dup(a.bar->efd_nic), dup(a.bar->efd_vf), g_err,
	                     sizeof(g_err));
	cr_assert(again, "a new driver can't attach after the FLR: %s", g_err);
	vfbar_destroy(again);
	done(g_dp, nic, &a, MAC_A);
}

/* The guest's VF driver takes its receive queues in turn: a queue that
 * always has frames does not keep another's waiting (it started at queue 0
 * on every call, so queue 1's frame came only once queue 0 was empty). */
Test(vfpath, vf_rx_takes_the_queues_in_turn, .timeout = 30)
{
	struct nic *nic;
	struct nicdp_vf b;
	struct vf *vf;
	static uint8_t f[41][64];
	struct port_pkt p[41], rcv[PORT_BURST];
	int calls = 0, r;
	bool seen = false;

	g_dp = nic_engine(&nic, NULL);
	mkvf(g_dp, nic, MAC_B, 2, 65536, &b);
	vf = guest_vf(&b);
	cr_assert_eq(vf->bar->num_qp, 2);
	for (int i = 0; i < 40; i++) /* queue 0: 40 frames */
		p[i] = pkt(f[i], MAC_B, S0, 64);
	p[40] = pkt(f[40], MAC_B, S1, 64); /* queue 1: one */
	nicdp_pf_tx(g_dp, p, 41);
	while (!seen && (r = vf_rx_burst(vf, rcv, 4)) > 0) {
		calls++;
		for (int i = 0; i < r; i++)
			seen |= !memcmp(rcv[i].data + 6, S1, 6);
	}
	cr_assert(seen, "queue 1's frame never came");
	cr_assert_leq(calls, 2, "queue 1's frame came on call %d, after queue 0's frames", calls);
	vf_stop(vf);
	done(g_dp, nic, &b, MAC_B);
}
