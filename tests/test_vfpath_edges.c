/* The VF path's edges (nicdp, vfbar, vf), each once a bug an audit found:
 * a VF whose queue the NIC stopped reading (broken, or its VPort inactive)
 * must not keep the engine awake; a frame a VF's queue can never hold drops
 * only itself; rx_bytes counts the frames delivered; vf_stop after a
 * function level reset leaves the queues to the NIC. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "guest/vf.h"
#include "nic/nicdp.h"
#include "util/util.h"

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0xa };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0xb };
static const uint8_t S0[6] = { 0x02, 0, 0, 0, 0, 0x01 }; /* with MAC_B: hash even -> qp 0 */
static const uint8_t S1[6] = { 0x02, 0, 0, 0, 0, 0x02 }; /* with MAC_B: hash odd -> qp 1 */
static char g_err[256];

static void pf_rx(void *arg, const struct port_pkt *pkts, unsigned int n)
{
	(void)arg, (void)pkts, (void)n;
}

static struct nicdp *mk(struct nic **nicp)
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
	dp = nicdp_create(nic, NULL, &ops, NULL);
	cr_assert(dp);
	*nicp = nic;
	return dp;
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
	struct nicdp *dp = mk(&nic);
	struct nicdp_vf a;
	struct vfbar *va;
	struct nic_vport_info vi;
	int woke = 0;

	mkvf(dp, nic, MAC_A, 1, 65536, &a);
	va = vfside(a.bar);
	vf_send(va, MAC_B, MAC_A, 100);
	va->tx[0].data[11] = 1; /* desc.rsvd != 0: the NIC's ring latches broken */
	cr_assert_eq(nicdp_poll(dp), 0);
	cr_assert_eq(nic_vport_get(nic, (unsigned int)a.vport, &vi), 0);
	cr_assert(!vi.running, "the NIC stopped the hostile VPort");
	for (int i = 0; i < 50; i++) {
		nicdp_poll(dp);
		woke += nicdp_wait(dp, 20);
	}
	cr_assert_eq(woke, 0, "nicdp_wait returned 'work' %d/50 times with nothing to do", woke);
	vfbar_destroy(va);
	done(dp, nic, &a, MAC_A);
}

/* The same with a VPort that is not active (its VF in D3hot) and a frame
 * waiting in its queue. */
Test(vfpath, inactive_vport_lets_the_engine_sleep, .timeout = 20)
{
	struct nic *nic;
	struct nicdp *dp = mk(&nic);
	struct nicdp_vf a;
	struct vfbar *va;
	int woke = 0;

	mkvf(dp, nic, MAC_A, 1, 65536, &a);
	va = vfside(a.bar);
	cr_assert_eq(nic_vf_set_power(nic, (unsigned int)a.vf, NIC_POWER_D3HOT), 0);
	vf_send(va, MAC_B, MAC_A, 100);
	for (int i = 0; i < 50; i++) {
		nicdp_poll(dp);
		woke += nicdp_wait(dp, 20);
	}
	cr_assert_eq(woke, 0, "nicdp_wait returned 'work' %d/50 times with nothing to do", woke);
	vfbar_destroy(va);
	done(dp, nic, &a, MAC_A);
}

/* One queue pair: a frame bigger than the VF's whole ring is dropped alone;
 * the frame behind it, which fits, arrives. */
Test(vfpath, oversized_frame_drops_only_itself, .timeout = 20)
{
	struct nic *nic;
	struct nicdp *dp = mk(&nic);
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
	struct nicdp *dp = mk(&nic);
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

/* vf_stop after a function level reset gives no receive space back into
 * the queues the NIC reset: a new driver attaches. */
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

Test(vfpath, vf_stop_after_flr_leaves_the_queues_usable, .timeout = 30)
{
	struct nic *nic;
	struct nicdp_vf a;
	struct vf *vf;
	pthread_t th;
	static uint8_t f[200];
	struct port_pkt p, rcv[PORT_BURST];
	struct vfbar *again;

	g_dp = mk(&nic);
	mkvf(g_dp, nic, MAC_A, 1, 65536, &a);
	atomic_store(&g_stop, false);
	cr_assert_eq(pthread_create(&th, NULL, poller, NULL), 0);
	vf = vf_start(dup(a.bar->memfd), dup(a.bar->efd_nic), dup(a.bar->efd_vf), a.serial, g_err,
	              sizeof(g_err));
	atomic_store(&g_stop, true);
	pthread_join(th, NULL);
	cr_assert(vf, "%s", g_err);
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
