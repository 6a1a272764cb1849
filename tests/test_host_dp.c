/* The host datapath assembled (host_dp): VMs on the synthetic path through
 * NetVSP, the extensible switch and the NIC's PF default VPort to the wire.
 *
 *   VM A (vlan 0) ─┐                                         ┌─ shm wire ─ far end
 *   VM B (vlan 0) ─┼─ NetVSP ─ vsw ─ external port ─ PF ─ NIC ┤             (this thread)
 *   VM C (vlan 10)─┘      (host thread: host_dp_poll)         └─ default VPort
 *
 * VM to VM stays in the switch; VM to outside leaves by the wire and comes
 * back to the right VM; a spoofed source is dropped; VLANs isolate. */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/netvsc.h"
#include "guest/vmproc.h"
#include "harness.h"
#include "host/host_dp.h"
#include "proto/nvsp.h"
#include "proto/rndis.h"
#include "util/util.h"

static const uint8_t MAC_X[6] = { 0x02, 0, 0x5e, 0, 0, 0xee }; /* behind the wire */

struct host {
	const char *path;
	int lfd;
	struct nic *nic;
	struct port *wire;
	struct host_dp *h;
	int vm[3];
	unsigned int nvm;
	volatile int stop;
	pthread_mutex_t mu;
	pthread_t th;
};

static struct host H;
static struct netvsc *G[3];
static struct port *far;

static void mac_of(unsigned int i, uint8_t mac[6])
{
	memcpy(mac, "\x02\x00\x5e\x20\x00", 5);
	mac[5] = (uint8_t)(i + 1);
}

static void *host_main(void *arg)
{
	(void)arg;
	while (!H.stop) {
		struct pollfd pfd = { .fd = H.lfd, .events = POLLIN };

		if (H.nvm < 3 && poll(&pfd, 1, 0) == 1) {
			char err[256];
			struct vmbus_chan *ch = vmbus_chan_accept(H.lfd, NULL, err, sizeof(err));
			struct host_vm_config c = { .name = "vm", .vlan = H.nvm == 2 ? 10 : 0 };

			mac_of(H.nvm, c.mac);
			if (ch) {
				pthread_mutex_lock(&H.mu);
				H.vm[H.nvm] = host_dp_vm_add(H.h, ch, &c);
				H.nvm++;
				pthread_mutex_unlock(&H.mu);
			}
		}
		pthread_mutex_lock(&H.mu);
		int w = host_dp_poll(H.h, NULL);

		pthread_mutex_unlock(&H.mu);
		if (!w)
			usleep(50);
	}
	return NULL;
}

/* The host: its NIC, the wire listening at @wpath, the datapath, and VMs
 * taken at @vpath (static: H.path points at it). Its thread not started. */
static void host_up(const char *wpath, const char *vpath)
{
	struct nic_caps caps = { .max_vfs = 2,
		                 .max_vports = 3,
		                 .total_queue_pairs = 4,
		                 .max_qps_per_vport = 1,
		                 .mac_filters_per_vport = 4 };
	char spec[200], err[256];

	memset(&H, 0, sizeof(H));
	pthread_mutex_init(&H.mu, NULL);
	H.nic = nic_create(&caps);
	cr_assert(H.nic && !nic_switch_create(H.nic, 1));
	snprintf(spec, sizeof(spec), "shm-listen:%s", wpath);
	H.wire = port_open(spec, err, sizeof(err));
	cr_assert(H.wire, "%s", err);
	H.h = host_dp_create(H.nic, H.wire, err, sizeof(err));
	cr_assert(H.h, "%s", err);
	H.path = vpath;
	H.lfd = vmbus_listen(H.path);
	cr_assert(H.lfd >= 0);
}

static void setup(void)
{
	char spec[200], err[256], wpath[160];
	static char vpath[160];

	snprintf(wpath, sizeof(wpath), "%s", th_sock_path()); /* th_sock_path reuses its buffer */
	snprintf(vpath, sizeof(vpath), "%s", th_sock_path());
	host_up(wpath, vpath);
	pthread_create(&H.th, NULL, host_main, NULL);
	snprintf(spec, sizeof(spec), "shm-connect:%s", wpath);
	far = port_open(spec, err, sizeof(err));
	cr_assert(far, "%s", err);
	for (int i = 0; i < 3; i++) {
		struct netvsc_config c = { .path = H.path, .name = "vm" };

		G[i] = netvsc_open(&c, err, sizeof(err));
		cr_assert(G[i], "VM %d: %s", i, err);
	}
}

static void teardown(void)
{
	for (int i = 0; i < 3; i++)
		netvsc_close(G[i]);
	H.stop = 1;
	pthread_join(H.th, NULL);
	port_close(far);
	host_dp_destroy(H.h);
	port_close(H.wire);
	nic_destroy(H.nic);
	close(H.lfd);
}

static uint32_t frame(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint8_t tag)
{
	memset(f, tag, 100);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	return 100;
}

static void vm_send(int i, const uint8_t *dst, const uint8_t *src, uint8_t tag)
{
	static uint8_t f[100];
	struct port_pkt p = { .data = f, .len = frame(f, dst, src, tag) };

	cr_assert_eq(netvsc_tx_burst(G[i], &p, 1), 1);
}

/* Frames VM @i receives within @ms whose byte 14 is @tag. */
static int vm_count(int i, uint8_t tag, int ms)
{
	struct port_pkt pk[PORT_BURST];
	int n = 0;
	uint64_t end = util_now_ns() + (uint64_t)ms * 1000000;

	while (util_now_ns() < end) {
		int r = netvsc_rx_burst(G[i], pk, PORT_BURST);

		for (int k = 0; k < r; k++)
			n += pk[k].len == 100 && pk[k].data[14] == tag;
		if (!r)
			netvsc_wait(G[i], NETVSC_EV_RX, 5);
	}
	return n;
}

static int far_count(uint8_t tag, int ms, uint8_t *src_seen)
{
	struct port_pkt pk[PORT_BURST];
	int n = 0;
	uint64_t end = util_now_ns() + (uint64_t)ms * 1000000;

	while (util_now_ns() < end) {
		int r = port_rx_burst(far, pk, PORT_BURST);

		for (int k = 0; k < r; k++)
			if (pk[k].len == 100 && pk[k].data[14] == tag) {
				n++;
				if (src_seen)
					memcpy(src_seen, pk[k].data + 6, 6);
			}
		if (r <= 0)
			usleep(1000);
	}
	return n;
}

Test(host_dp, vm_to_vm_stays_in_the_switch, .init = setup, .fini = teardown, .timeout = 30)
{
	uint8_t a[6], b[6];

	mac_of(0, a);
	mac_of(1, b);
	vm_send(1, MAC_X, b, 0x10); /* B speaks: the switch learns it */
	cr_assert_eq(far_count(0x10, 200, NULL), 1);
	for (int i = 0; i < 10; i++)
		vm_send(0, b, a, 0x11);
	cr_expect_eq(vm_count(1, 0x11, 300), 10);
	cr_expect_eq(far_count(0x11, 50, NULL), 0, "a frame for a known VM left by the wire");
}

Test(host_dp, vm_to_outside_and_back, .init = setup, .fini = teardown, .timeout = 30)
{
	uint8_t a[6], src[6] = { 0 };

	mac_of(0, a);
	for (int i = 0; i < 10; i++)
		vm_send(0, MAC_X, a, 0x21);
	cr_expect_eq(far_count(0x21, 300, src), 10);
	cr_expect_arr_eq(src, a, 6);
	/* and in: the NIC has no VF filter for A, so the default VPort takes it */
	static uint8_t f[100];
	struct port_pkt p = { .data = f, .len = frame(f, a, MAC_X, 0x22) };

	for (int i = 0; i < 10; i++)
		cr_assert_eq(port_tx_burst(far, &p, 1), 1);
	cr_expect_eq(vm_count(0, 0x22, 300), 10);
	cr_expect_eq(vm_count(1, 0x22, 50), 0, "another VM saw A's frame");
}

Test(host_dp, spoofed_source_dropped, .init = setup, .fini = teardown, .timeout = 30)
{
	uint8_t b[6];
	struct vsw_port_info pi;

	mac_of(1, b);
	for (int i = 0; i < 5; i++)
		vm_send(0, MAC_X, b, 0x31); /* A pretends to be B */
	cr_expect_eq(far_count(0x31, 200, NULL), 0);
	cr_expect_eq(vm_count(1, 0x31, 50), 0);
	pthread_mutex_lock(&H.mu);
	vsw_port_get(host_dp_vsw(H.h), (unsigned int)host_dp_vm_port(H.h, H.vm[0]), &pi);
	pthread_mutex_unlock(&H.mu);
	cr_expect_eq(pi.stats.drops[VSW_DROP_SPOOF], 5);
}

Test(host_dp, vlan_isolation, .init = setup, .fini = teardown, .timeout = 30)
{
	uint8_t a[6];
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	mac_of(0, a);
	for (int i = 0; i < 5; i++)
		vm_send(0, bcast, a, 0x41);
	cr_expect_eq(vm_count(1, 0x41, 300), 5, "B (same VLAN) misses the broadcast");
	cr_expect_eq(vm_count(2, 0x41, 100), 0, "C (VLAN 10) saw VLAN 0's broadcast");
	cr_expect_eq(far_count(0x41, 100, NULL), 5);
}

/* Live migration (host_dp_vm_forward): once the VM halted, and after it
 * left (unplugged), its port's frames go to the forwarding function, not
 * lost; the frames forwarded to a VM on its new host are handed to it
 * (host_dp_vm_deliver). */
static unsigned int forwarded;

static unsigned int fwd_count(void *ctx, const struct vsw_frame *f, unsigned int n)
{
	(void)ctx;
	for (unsigned int i = 0; i < n; i++)
		if (f[i].len == 100 && f[i].data[14] == 0x51)
			__atomic_add_fetch(&forwarded, 1, __ATOMIC_RELAXED);
	return n;
}

static void far_send(const uint8_t *dst, uint8_t tag, int n)
{
	static uint8_t f[100];
	struct port_pkt p = { .data = f, .len = frame(f, dst, MAC_X, tag) };

	for (int i = 0; i < n; i++)
		cr_assert_eq(port_tx_burst(far, &p, 1), 1);
}

static unsigned int forwarded_within(unsigned int want, int ms)
{
	for (int t = 0; t < ms && __atomic_load_n(&forwarded, __ATOMIC_RELAXED) < want; t++)
		usleep(1000);
	return __atomic_load_n(&forwarded, __ATOMIC_RELAXED);
}

Test(host_dp, a_leaving_vms_frames_are_forwarded, .init = setup, .fini = teardown, .timeout = 30)
{
	uint8_t a[6], b[6];
	static uint8_t f[100];
	struct vsw_frame vf = { .data = f };

	mac_of(0, a);
	mac_of(1, b);
	vf.len = frame(f, b, MAC_X, 0x52);
	forwarded = 0;
	pthread_mutex_lock(&H.mu);
	host_dp_vm_forward(H.h, H.vm[0], fwd_count, NULL);
	pthread_mutex_unlock(&H.mu);
	far_send(a, 0x51, 5); /* not halted yet: A takes them */
	cr_expect_eq(vm_count(0, 0x51, 300), 5);
	cr_expect_eq(forwarded, 0);
	cr_assert_eq(netvsc_halt(G[0]), 0, "%s", netvsc_last_error(G[0]));
	far_send(a, 0x51, 10);
	cr_expect_eq(forwarded_within(10, 1000), 10, "frames for a halted VM not forwarded");
	cr_expect_eq(vm_count(0, 0x51, 100), 0, "the host delivered after the HALT");
	netvsc_close(G[0]);
	G[0] = NULL;
	pthread_mutex_lock(&H.mu);
	host_dp_vm_unplug(H.h, H.vm[0]);
	pthread_mutex_unlock(&H.mu);
	far_send(a, 0x51, 7); /* its port stays: still forwarded */
	cr_expect_eq(forwarded_within(17, 1000), 17);
	/* on its new host: frames that came that way reach the VM */
	pthread_mutex_lock(&H.mu);
	unsigned int took = host_dp_vm_deliver(H.h, H.vm[1], &vf, 1);
	pthread_mutex_unlock(&H.mu);
	cr_expect_eq(took, 1);
	cr_expect_eq(vm_count(1, 0x52, 300), 1);
}

/* A move called off after the VM halted (hostd's cancel: the forwarding
 * ends, host_dp_vm_forward(NULL)), and the VM opens its adapter again with
 * an RNDIS INITIALIZE: its port has its MAC back and what it sends passes
 * the spoof check (found by an audit: the MAC and the NIC filter the halt
 * gave up were never given back). */
Test(host_dp, a_vm_that_stays_after_a_cancelled_move_gets_its_mac_back, .init = setup,
     .fini = teardown, .timeout = 30)
{
	uint8_t a[6], m[NVSP_MSG_SIZE + 64];
	struct vsw_port_info pi;
	unsigned int port;
	int n;

	mac_of(0, a);
	pthread_mutex_lock(&H.mu);
	host_dp_vm_forward(H.h, H.vm[0], fwd_count, NULL);
	port = (unsigned int)host_dp_vm_port(H.h, H.vm[0]);
	pthread_mutex_unlock(&H.mu);
	cr_assert_eq(netvsc_halt(G[0]), 0, "%s", netvsc_last_error(G[0]));
	for (int t = 0; t < 2000; t++) { /* host_dp_poll sees the halt */
		pthread_mutex_lock(&H.mu);
		vsw_port_get(host_dp_vsw(H.h), port, &pi);
		pthread_mutex_unlock(&H.mu);
		if (!pi.nmacs)
			break;
		usleep(1000);
	}
	cr_assert_eq(pi.nmacs, 0, "the halt gave up the MAC");
	pthread_mutex_lock(&H.mu);
	host_dp_vm_forward(H.h, H.vm[0], NULL, NULL); /* called off: it stays */
	pthread_mutex_unlock(&H.mu);
	memset(m, 0, sizeof(m));
	nvsp_encode_rndis_pkt(m, NVSP_MSG_SIZE, NVSP_CHANNEL_CONTROL, NVSP_SECTION_NONE, 0);
	n = rndis_encode_init(m + NVSP_MSG_SIZE, 64, 77, 1, 0, 0x4000);
	cr_assert_gt(n, 0);
	cr_assert_eq(netvsc_send_raw(G[0], VMBUS_PKT_DATA_INBAND, VMBUS_PKT_F_COMPLETION_REQUESTED,
	                             0x7777, m, NVSP_MSG_SIZE + (uint32_t)n),
	             0);
	for (int t = 0; t < 2000; t++) {
		netvsc_poll(G[0]);
		pthread_mutex_lock(&H.mu);
		vsw_port_get(host_dp_vsw(H.h), port, &pi);
		pthread_mutex_unlock(&H.mu);
		if (pi.nmacs)
			break;
		usleep(1000);
	}
	cr_assert_eq(pi.nmacs, 1, "the VM that stays has no MAC on its port");
	cr_assert_arr_eq(pi.macs[0], a, 6);
	for (int i = 0; i < 5; i++)
		vm_send(0, MAC_X, a, 0x61);
	cr_expect_eq(far_count(0x61, 300, NULL), 5, "the VM that stays can't send");
	pthread_mutex_lock(&H.mu);
	vsw_port_get(host_dp_vsw(H.h), port, &pi);
	pthread_mutex_unlock(&H.mu);
	cr_expect_eq(pi.stats.drops[VSW_DROP_SPOOF], 0);
}

/* iovpath-vm's process (vmproc_run, endpoint mode) in a child: the adapter
 * on this host's channel, RUN_DIR/h.vmbus. */
static char vp_dir[64];

static int vmproc_child(void *arg)
{
	char secf[128];
	struct vmproc_config c = { .run_dir = vp_dir,
		                   .host = "h",
		                   .name = "vm",
		                   .secret_file = secf,
		                   .mode = VMPROC_ENDPOINT };

	(void)arg;
	snprintf(secf, sizeof(secf), "%s/vm.secret", vp_dir);
	return vmproc_run(&c);
}

/* A MIGRATE to a host whose channel can't be opened: the VM process says so
 * and exits with 1 (found by an audit: it crashed printing the endpoint's
 * counters from the adapter it no longer had). */
Test(host_dp, vm_process_survives_a_move_the_new_host_refuses, .timeout = 30)
{
	struct vmbus_migrate m = { .host = "h2", .name = "vm" };
	char wpath[160], path[160];
	static char vpath[160];
	struct vsw_port_info pi = { 0 };
	FILE *f;
	pid_t pid;
	int rc;

	snprintf(vp_dir, sizeof(vp_dir), "/tmp/iovpath-vmproc.XXXXXX");
	cr_assert(mkdtemp(vp_dir));
	snprintf(path, sizeof(path), "%s/vm.secret", vp_dir);
	f = fopen(path, "w");
	cr_assert(f);
	for (int i = 0; i < VMBUS_SECRET_LEN; i++)
		fprintf(f, "00");
	fprintf(f, "\n");
	fclose(f);
	snprintf(wpath, sizeof(wpath), "%s", th_sock_path());
	snprintf(vpath, sizeof(vpath), "%s/h.vmbus", vp_dir);
	host_up(wpath, vpath);
	H.nvm = 2; /* the host thread takes one VM: this one */
	pthread_create(&H.th, NULL, host_main, NULL);
	pid = th_spawn(vmproc_child, NULL);
	for (int t = 0; t < 5000 && !pi.nmacs; t++) { /* its adapter is up: a MAC on its port */
		usleep(1000);
		pthread_mutex_lock(&H.mu);
		if (H.nvm == 3)
			vsw_port_get(host_dp_vsw(H.h), (unsigned int)host_dp_vm_port(H.h, H.vm[2]),
			             &pi);
		pthread_mutex_unlock(&H.mu);
	}
	cr_assert_eq(pi.nmacs, 1, "the VM process did not come up");
	snprintf(m.channel, sizeof(m.channel), "%s/nosuchhost.vmbus", vp_dir);
	pthread_mutex_lock(&H.mu);
	rc = vmbus_chan_send_ctl(netvsp_chan(host_dp_netvsp(H.h, H.vm[2])), VMBUS_CTL_MIGRATE, 0,
	                         &m, sizeof(m), NULL, 0);
	pthread_mutex_unlock(&H.mu);
	cr_assert_eq(rc, 0);
	rc = th_wait(pid);
	cr_expect_eq(rc, 1, "the VM process ended with %d (128 + a signal: it crashed)", rc);
	H.stop = 1;
	pthread_join(H.th, NULL);
	host_dp_destroy(H.h);
	port_close(H.wire);
	nic_destroy(H.nic);
	close(H.lfd);
	unlink(vpath);
	unlink(path);
	rmdir(vp_dir);
}
