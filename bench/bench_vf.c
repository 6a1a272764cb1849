/* bench vf — the VF path against the synthetic path, and the NIC switch.
 *
 *   vf:       VF endpoint process ─qp─► NIC engine (host process) ─shm wire─► reflector
 *             process (swaps MACs) ─► NIC engine ─qp─► VF endpoint     (frames/s back)
 *   nic_switch: one core: frames into the NIC switch through the default VPort,
 *             decided, copied into a VF's receive queue and drained (Mpps).
 *
 * The synthetic leg of the same comparison (VM port → switch → PF default
 * VPort → wire and back) joins when NetVSP lands; until then the report says
 * so instead of inventing a number. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "guest/endpoint.h"
#include "guest/vf.h"
#include "nic/nicdp.h"
#include "util/util.h"

static const uint8_t MAC_VM[6] = { 0x02, 0x00, 0x5e, 0, 0, 0x01 };
static const uint8_t MAC_EXT[6] = { 0x02, 0x00, 0x5e, 0, 0, 0xee };

struct ep_result {
	uint64_t rx, lost, bad;
	double secs;
};

/* The far end of the wire: every frame goes back with its MACs swapped. */
static int reflector(const char *spec, volatile int *stop)
{
	char err[256];
	struct port *p = NULL;
	struct port_pkt pk[PORT_BURST];

	util_pin_cpu(0);
	for (int i = 0; i < 500 && !p; i++)
		if (!(p = port_open(spec, err, sizeof(err))))
			usleep(10000);
	if (!p) {
		fprintf(stderr, "bench reflector: %s\n", err);
		return 1;
	}
	while (!*stop) {
		int n = port_rx_burst(p, pk, PORT_BURST);

		if (n <= 0) {
			if (port_arm(p)) {
				struct pollfd pfd = { .fd = port_wait_fd(p), .events = POLLIN };

				poll(&pfd, 1, 10);
			}
			continue;
		}
		for (int i = 0; i < n; i++) {
			uint8_t t[6];

			memcpy(t, pk[i].data, 6);
			memcpy(pk[i].data, pk[i].data + 6, 6);
			memcpy(pk[i].data + 6, t, 6);
		}
		for (int done = 0; done < n;) {
			int r = port_tx_burst(p, pk + done, (unsigned int)(n - done));

			if (r < 0)
				return 1;
			done += r;
		}
	}
	port_close(p);
	return 0;
}

/* The VF endpoint: generate, send, receive, check, for @secs seconds. */
static int vf_endpoint(struct vfbar *bar, uint32_t serial, const struct bench_opts *o, int resfd)
{
	char err[256];
	struct vf *vf = vf_start(dup(bar->memfd), dup(bar->efd_nic), dup(bar->efd_vf), serial, err,
	                         sizeof(err));
	struct ep_config cfg = { .size = o->size, .flows = 1, .mode = UTIL_FRAME_QUICK };
	struct ep *ep;
	uint8_t *frames = malloc((size_t)o->burst * o->size);
	struct port_pkt tx[256], rx[PORT_BURST];
	struct ep_result res = { 0 };
	struct ep_stats st;
	uint64_t t0, end, inflight_max = 4096;

	if (!vf) {
		fprintf(stderr, "bench vf: %s\n", err);
		return 1;
	}
	memcpy(cfg.src_mac, vf->mac, 6);
	memcpy(cfg.dst_mac, MAC_EXT, 6);
	ep = ep_create(&cfg);
	for (unsigned int i = 0; i < o->burst; i++)
		tx[i] = (struct port_pkt){ .data = frames + (size_t)i * o->size, .len = o->size };
	t0 = util_now_ns();
	end = t0 + (uint64_t)(o->seconds * 1e9);
	while (util_now_ns() < end) {
		ep_get_stats(ep, &st);
		if (st.tx_frames - st.rx_frames < inflight_max) {
			ep_generate(ep, frames, o->size, o->burst, util_now_ns());
			for (unsigned int done = 0; done < o->burst;) {
				int r = vf_tx_burst(vf, tx + done, o->burst - done);

				if (r < 0)
					return 1;
				done += (unsigned int)r;
				if (!r) {
					int n = vf_rx_burst(vf, rx, PORT_BURST);

					for (int i = 0; i < n; i++)
						ep_receive(ep, rx[i].data, rx[i].len, 0);
				}
			}
		}
		int n = vf_rx_burst(vf, rx, PORT_BURST);

		for (int i = 0; i < n; i++)
			ep_receive(ep, rx[i].data, rx[i].len, 0);
	}
	ep_get_stats(ep, &st);
	res.rx = st.rx_frames;
	res.lost = st.rx_reordered + st.rx_dup;
	res.bad = st.rx_bad;
	res.secs = (double)(util_now_ns() - t0) / 1e9;
	if (write(resfd, &res, sizeof(res)) != sizeof(res))
		return 1;
	ep_destroy(ep);
	vf_stop(vf);
	free(frames);
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
	int vf = nic_vf_alloc(nic, MAC_VM, serial);
	int vport = vf < 0 ? vf : nic_vport_create(nic, vf, 1);
	struct vfbar *bar;

	if (vport < 0 || nic_filter_set(nic, (unsigned int)vport, MAC_VM, NIC_VLAN_NONE))
		return NULL;
	bar = vfbar_create(1, 1u << 20);
	if (bar && nicdp_vport_attach(dp, (unsigned int)vport, bar)) {
		vfbar_destroy(bar);
		return NULL;
	}
	return bar;
}

static double run_vf_path(const struct bench_opts *o, struct ep_result *res)
{
	char spec[160], peer[160], err[256];
	uint64_t pf_frames = 0;
	struct nic *nic = bench_nic();
	struct nicdp_ops ops = { .pf_rx = pf_drop };
	struct port *wire;
	struct nicdp *dp;
	struct vfbar *bar;
	uint32_t serial;
	int pipefd[2];
	pid_t ref, epp;
	static volatile int never;

	snprintf(spec, sizeof(spec), "shm-listen:/tmp/iovpath-bench-vf-%d.sock", (int)getpid());
	snprintf(peer, sizeof(peer), "shm-connect:/tmp/iovpath-bench-vf-%d.sock", (int)getpid());
	wire = nic ? port_open(spec, err, sizeof(err)) : NULL;
	if (!wire) {
		fprintf(stderr, "bench vf: %s\n", nic ? err : "NIC");
		return -1;
	}
	dp = nicdp_create(nic, wire, &ops, &pf_frames);
	bar = bench_vf_setup(nic, dp, &serial);
	if (!bar || pipe(pipefd))
		return -1;
	ref = fork();
	if (ref == 0)
		_exit(reflector(peer, &never));
	epp = fork();
	if (epp == 0)
		_exit(vf_endpoint(bar, serial, o, pipefd[1]));
	close(pipefd[1]);
	util_pin_cpu(1);
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };

		if (!nicdp_poll(dp) && poll(&pfd, 1, 0) == 1)
			break;
	}
	ssize_t n = read(pipefd[0], res, sizeof(*res));

	kill(ref, SIGKILL);
	waitpid(ref, NULL, 0);
	waitpid(epp, NULL, 0);
	nicdp_destroy(dp);
	vfbar_destroy(bar);
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
	struct bench_opts o = { .size = 64, .seconds = 3, .ring = 1u << 20, .burst = 32 };
	struct ep_result r;
	double vf_mpps, sw_mpps;

	if (bench_parse(argc, argv, &o, EP_MIN_FRAME, 9000))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	vf_mpps = run_vf_path(&o, &r);
	sw_mpps = run_nic_switch(&o);
	if (vf_mpps < 0 || sw_mpps < 0) {
		fprintf(stderr, "bench vf: setup failed\n");
		return 1;
	}
	if (!o.json)
		printf(
		    "bench vf: %u-byte frames; VF endpoint -> NIC -> wire -> reflector -> back\n",
		    o.size);
	bench_report(&o, "size", (double)o.size, "vf_mpps", vf_mpps, "vf_gbps",
	             vf_mpps * o.size * 8 / 1e3, "nic_switch_mpps", sw_mpps, "frames", (double)r.rx,
	             "reordered_or_dup", (double)r.lost, "bad", (double)r.bad, NULL);
	return r.bad || r.lost ? 1 : 0;
}
