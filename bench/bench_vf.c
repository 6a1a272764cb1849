/* bench vf — the VF path against the synthetic path, and the NIC switch.
 *
 *   vf:       VF endpoint process ─qp─► NIC engine (host process) ─shm wire─► reflector
 *             process (swaps MACs) ─► NIC engine ─qp─► VF endpoint     (frames/s back)
 *   nic_switch: one core: frames into the NIC switch through the default VPort,
 *             decided, copied into a VF's receive queue and drained (Mpps).
 *
 *   synthetic: the same trip on the synthetic path: NetVSC endpoint process
 *             ─VMBus─► NetVSP + extensible switch + NIC engine (host process)
 *             ─PF default VPort─► NIC switch ─shm wire─► reflector and back.
 *
 * --seconds S is each measurement's time in all, spent in --rounds N rounds
 * (default 6) of the three back to back; medians of the rounds (bench.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "guest/endpoint.h"
#include "guest/vf.h"
#include "host/host_dp.h"
#include "nic/nicdp.h"
#include "util/util.h"

static const uint8_t MAC_VM[6] = { 0x02, 0x00, 0x5e, 0, 0, 0x01 };
static const uint8_t MAC_EXT[6] = { 0x02, 0x00, 0x5e, 0, 0, 0xee };

/* The far end of the wire, plugged into the host process: every frame goes
 * back with its MACs swapped. (A third process would have to share a core
 * with the endpoint on a 2-core machine and measure the scheduler.) */
struct peer {
	const char *spec;
	struct port *p;
	char err[256];
	volatile int done;
};

static void *peer_connect(void *arg)
{
	struct peer *pe = arg;

	pe->p = port_open(pe->spec, pe->err, sizeof(pe->err));
	pe->done = 1;
	return NULL;
}

/* Connect the far end from a thread while @service runs the near end. */
static struct port *plug_peer(const char *spec, int (*service)(void *), void *arg)
{
	struct peer pe = { .spec = spec };
	pthread_t th;

	if (pthread_create(&th, NULL, peer_connect, &pe))
		return NULL;
	while (!pe.done)
		service(arg);
	pthread_join(th, NULL);
	if (!pe.p)
		fprintf(stderr, "bench vf: wire peer: %s\n", pe.err);
	return pe.p;
}

static void reflect(struct port *p, int (*service)(void *), void *arg)
{
	struct port_pkt pk[PORT_BURST];
	int n = port_rx_burst(p, pk, PORT_BURST);

	for (int i = 0; i < n; i++) {
		uint8_t t[6];

		memcpy(t, pk[i].data, 6);
		memcpy(pk[i].data, pk[i].data + 6, 6);
		memcpy(pk[i].data + 6, t, 6);
	}
	for (int done = 0, tries = 0; done < n && tries < 1000; tries++) {
		int r = port_tx_burst(p, pk + done, (unsigned int)(n - done));

		if (r < 0)
			return;
		done += r;
		if (done < n)
			service(arg); /* the NIC drains the wire */
	}
}

static int service_nicdp(void *dp)
{
	return nicdp_poll(dp);
}

static int service_host(void *h)
{
	return host_dp_poll(h, NULL);
}

static int vf_tx(void *dev, const struct port_pkt *p, unsigned int n)
{
	return vf_tx_burst(dev, p, n);
}

static int vf_rx(void *dev, struct port_pkt *p, unsigned int n)
{
	return vf_rx_burst(dev, p, n);
}

/* The VF endpoint: generate, send, receive, check, for @secs seconds. */
static int vf_endpoint(struct vfbar *bar, uint32_t serial, const struct bench_opts *o, int resfd)
{
	char err[256];
	struct vf *vf = vf_start(dup(bar->memfd), dup(bar->efd_nic), dup(bar->efd_vf), serial, err,
	                         sizeof(err));
	struct bench_ep_result res = { 0 };
	struct bench_dev dev = { .tx = vf_tx, .rx = vf_rx, .dev = vf };

	if (!vf) {
		fprintf(stderr, "bench vf: %s\n", err);
		return 1;
	}
	util_pin_cpu(0);
	if (bench_ep_loop(o, vf->mac, MAC_EXT, &dev, &res))
		return 1;
	if (write(resfd, &res, sizeof(res)) != sizeof(res))
		return 1;
	vf_stop(vf);
	return 0;
}

static void pf_drop(void *arg, const struct port_pkt *pkts, unsigned int n)
{
	*(uint64_t *)arg += n;
}

static struct nic *bench_nic(void)
{
	struct nic_caps caps = { .max_vfs = 4,
		                 .max_vports = 5,
		                 .total_queue_pairs = 8,
		                 .max_qps_per_vport = 1,
		                 .mac_filters_per_vport = 4 };
	struct nic *nic = nic_create(&caps);

	if (nic && nic_switch_create(nic, 1)) {
		nic_destroy(nic);
		return NULL;
	}
	return nic;
}

/* A VF for MAC_VM with its VPort, filter and BAR on @dp. */
static struct vfbar *bench_vf_setup(struct nic *nic, struct nicdp *dp, uint32_t *serial)
{
	struct nicdp_vf vf;
	char err[160];

	if (nicdp_vf_create(dp, MAC_VM, 0, 0, 1, 1u << 20, &vf, err, sizeof(err))) {
		fprintf(stderr, "bench vf: %s\n", err);
		return NULL;
	}
	if (nic_filter_set(nic, (unsigned int)vf.vport, MAC_VM, NIC_VLAN_NONE))
		return NULL;
	*serial = vf.serial;
	return vf.bar;
}

static double run_vf_path(const struct bench_opts *o, struct bench_ep_result *res)
{
	char spec[160], peer[160], err[256];
	uint64_t pf_frames = 0;
	struct nic *nic = bench_nic();
	struct nicdp_ops ops = { .pf_rx = pf_drop };
	struct port *wire;
	struct nicdp *dp;
	struct vfbar *bar;
	uint32_t serial;
	struct port *far;
	int pipefd[2];
	pid_t epp;

	snprintf(spec, sizeof(spec), "shm-listen:/tmp/iovpath-bench-vf-%d.sock", (int)getpid());
	snprintf(peer, sizeof(peer), "shm-connect:/tmp/iovpath-bench-vf-%d.sock", (int)getpid());
	wire = nic ? port_open(spec, err, sizeof(err)) : NULL;
	if (!wire) {
		fprintf(stderr, "bench vf: %s\n", nic ? err : "NIC");
		return -1;
	}
	dp = nicdp_create(nic, wire, &ops, &pf_frames);
	bar = bench_vf_setup(nic, dp, &serial);
	if (!bar || pipe(pipefd) || !(far = plug_peer(peer, service_nicdp, dp)))
		return -1;
	epp = fork();
	if (epp == 0)
		_exit(vf_endpoint(bar, serial, o, pipefd[1]));
	close(pipefd[1]);
	util_pin_cpu(1);
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };

		reflect(far, service_nicdp, dp);
		if (!nicdp_poll(dp) && poll(&pfd, 1, 0) == 1)
			break;
	}
	ssize_t n = read(pipefd[0], res, sizeof(*res));

	waitpid(epp, NULL, 0);
	port_close(far);
	nicdp_destroy(dp);
	vfbar_destroy(bar);
	port_close(wire);
	nic_destroy(nic);
	close(pipefd[0]);
	if (n != sizeof(*res) || res->secs <= 0)
		return -1;
	return (double)res->rx / res->secs / 1e6;
}

/* The synthetic path the same way: a NetVSC endpoint process -> NetVSP ->
 * extensible switch -> PF default VPort -> NIC switch -> wire -> reflector
 * -> NIC -> default VPort -> switch -> NetVSP -> the endpoint. */
static double run_synthetic_path(const struct bench_opts *o, struct bench_ep_result *res)
{
	char spec[160], peer[160], path[108], err[256];
	struct nic *nic = bench_nic();
	struct host_vm_config vc = { .name = "bench-vm" };
	struct port *wire;
	struct host_dp *h;
	struct vmbus_chan *ch;
	struct port *far;
	int pipefd[2], lfd;
	pid_t epp;

	snprintf(spec, sizeof(spec), "shm-listen:/tmp/iovpath-bench-syn-%d.sock", (int)getpid());
	snprintf(peer, sizeof(peer), "shm-connect:/tmp/iovpath-bench-syn-%d.sock", (int)getpid());
	snprintf(path, sizeof(path), "/tmp/iovpath-bench-vm-%d.sock", (int)getpid());
	wire = nic ? port_open(spec, err, sizeof(err)) : NULL;
	h = wire ? host_dp_create(nic, wire, err, sizeof(err)) : NULL;
	lfd = h ? vmbus_listen(path) : -1;
	if (lfd < 0 || pipe(pipefd) || !(far = plug_peer(peer, service_host, h))) {
		fprintf(stderr, "bench vf: synthetic leg: %s\n", err);
		return -1;
	}
	epp = fork();
	if (epp == 0) {
		struct bench_ep_result r = { 0 };

		if (bench_netvsc_guest(path, MAC_EXT, o, &r) ||
		    write(pipefd[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	util_pin_cpu(1);
	memcpy(vc.mac, MAC_VM, 6);
	ch = vmbus_chan_accept(lfd, NULL, err, sizeof(err));
	close(lfd);
	unlink(path);
	if (!ch || host_dp_vm_add(h, ch, &vc) < 0) {
		fprintf(stderr, "bench vf: synthetic leg: %s\n", ch ? "VM port" : err);
		kill(epp, SIGKILL);
		return -1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };

		reflect(far, service_host, h);
		if (!host_dp_poll(h, NULL) && poll(&pfd, 1, 0) == 1)
			break;
	}
	ssize_t n = read(pipefd[0], res, sizeof(*res));

	waitpid(epp, NULL, 0);
	port_close(far);
	host_dp_destroy(h);
	port_close(wire);
	nic_destroy(nic);
	close(pipefd[0]);
	if (n != sizeof(*res) || res->secs <= 0)
		return -1;
	return (double)res->rx / res->secs / 1e6;
}

/* One core: PF → NIC switch → VF receive queue, drained by the same thread. */
static double run_nic_switch(const struct bench_opts *o)
{
	uint64_t pf_frames = 0, frames = 0, t0, t1;
	struct nic *nic = bench_nic();
	struct nicdp_ops ops = { .pf_rx = pf_drop };
	struct nicdp *dp = nic ? nicdp_create(nic, NULL, &ops, &pf_frames) : NULL;
	struct vfbar *bar;
	struct vmbus_rx rx[64];
	struct port_pkt pk[PORT_BURST];
	uint8_t *buf = malloc(1u << 20), *fr = malloc((size_t)PORT_BURST * o->size);
	uint32_t serial;

	if (!dp || !(bar = bench_vf_setup(nic, dp, &serial)))
		return -1;
	for (unsigned int i = 0; i < PORT_BURST; i++) {
		uint8_t *f = fr + (size_t)i * o->size;

		memset(f, 0, o->size);
		memcpy(f, MAC_VM, 6);
		memcpy(f + 6, MAC_EXT, 6);
		f[12] = 0x88;
		f[13] = 0xb5;
		pk[i] = (struct port_pkt){ .data = f, .len = o->size };
	}
	/* A consumer view of the VF's receive ring, in this thread. */
	struct vmbus_ring vfrx;

	vmbus_ring_attach(&vfrx, (uint8_t *)bar->mem + 8192 + vmbus_ring_mem_size(bar->ring_size),
	                  bar->ring_size, VMBUS_RING_CONSUMER, NULL, NULL);
	util_pin_cpu(1);
	t0 = util_now_ns();
	do {
		for (int k = 0; k < 64; k++) {
			nicdp_pf_tx(dp, pk, PORT_BURST);
			int n;

			while ((n = vmbus_ring_read(&vfrx, rx, 64, buf, 1u << 20)) > 0)
				frames += (uint64_t)n;
		}
		t1 = util_now_ns();
	} while ((double)(t1 - t0) < o->seconds * 1e9 / 2);
	nicdp_destroy(dp);
	vfbar_destroy(bar);
	nic_destroy(nic);
	free(buf);
	free(fr);
	return (double)frames / ((double)(t1 - t0) / 1e9) / 1e6;
}

int bench_vf(int argc, char **argv)
{
	struct bench_opts o = {
		.size = 64, .seconds = 3, .ring = 1u << 20, .burst = 32, .rounds = 6
	};
	double vf[BENCH_ROUNDS_MAX], syn[BENCH_ROUNDS_MAX], sw[BENCH_ROUNDS_MAX];
	double ratio[BENCH_ROUNDS_MAX], lo, hi, m_vf;
	uint64_t vf_frames = 0, syn_frames = 0, lost = 0, bad = 0;
	struct bench_opts ro;

	if (bench_parse(argc, argv, &o, EP_MIN_FRAME, 9000) || bench_round_opts(&o, &ro))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	for (unsigned int i = 0; i < o.rounds; i++) {
		struct bench_ep_result r = { 0 }, rs = { 0 };

		vf[i] = run_vf_path(&ro, &r);
		syn[i] = run_synthetic_path(&ro, &rs);
		sw[i] = run_nic_switch(&ro);
		if (vf[i] < 0 || syn[i] <= 0 || sw[i] < 0) {
			fprintf(stderr, "bench vf: setup failed\n");
			return 1;
		}
		ratio[i] = vf[i] / syn[i];
		vf_frames += r.rx, syn_frames += rs.rx;
		lost += r.lost + rs.lost, bad += r.bad + rs.bad;
	}
	bench_range(ratio, o.rounds, &lo, &hi);
	m_vf = bench_median(vf, o.rounds);
	if (!o.json)
		printf("bench vf: %u-byte frames, each path out through the NIC and the wire to a "
		       "reflector and back;\n  vf: VF endpoint -> queue pair -> NIC switch; "
		       "synthetic: NetVSC -> VMBus -> NetVSP -> switch -> PF -> NIC switch;\n"
		       "  %u rounds of %.2f s each, medians\n",
		       o.size, o.rounds, ro.seconds);
	bench_report(&o, "size", (double)o.size, "vf_mpps", m_vf, "synthetic_mpps",
	             bench_median(syn, o.rounds), "vf_over_synthetic",
	             bench_median(ratio, o.rounds), "vf_over_synthetic_min", lo,
	             "vf_over_synthetic_max", hi, "vf_gbps", m_vf * o.size * 8 / 1e3,
	             "nic_switch_mpps", bench_median(sw, o.rounds), "rounds", (double)o.rounds,
	             "vf_frames", (double)vf_frames, "synthetic_frames", (double)syn_frames,
	             "reordered_or_dup", (double)lost, "bad", (double)bad, NULL);
	return bad || lost ? 1 : 0;
}
