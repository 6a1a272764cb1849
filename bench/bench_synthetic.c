/* bench synthetic — the synthetic data path, guest to host and back:
 *
 *   guest process: endpoint -> NetVSC ==VMBus==> host process: NetVSP -> loopback
 *   at the VM's switch port -> NetVSP ==VMBus==> NetVSC -> endpoint (checked)
 *
 * Frames travel in send-buffer sections (several RNDIS packets each) one
 * way and receive-buffer transfer pages the other, with completions, as in
 * Hyper-V. In the same run: the bare ring (bench ring) at the same size, the
 * ceiling the synthetic path is measured against (ring_mpps, ratio), and the
 * bare ring in this benchmark's own shape (ring_echo_mpps, ratio_echo): the
 * same endpoint, one frame per ring packet, echoed back by a host process.
 * bench ring moves each frame once, one way, with a core at each end; here
 * each frame goes there and back and the guest's core both sends and
 * receives, so when the cores (not the cache lines between them) are the
 * limit, ratio cannot pass about 0.5 while ratio_echo can reach 1.
 *
 * --seconds S is each path's time in all; it is spent in --rounds N rounds
 * (default 6), each of the three measurements back to back for S/N
 * seconds, and the ratios reported are the medians of the rounds' (with
 * their range): see bench.h on why one placement per ratio. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "guest/endpoint.h"
#include "guest/netvsc.h"
#include "proto/rndis.h"
#include "util/util.h"
#include "vswitch/netvsp.h"
#include "vswitch/netvsp_rxbuf.h"

static const uint8_t MAC_VM[6] = { 0x02, 0x00, 0x5e, 0, 0, 0x01 };

static unsigned int loopback(void *ctx, struct netvsp *v, const struct vsw_frame *f, unsigned int n)
{
	int r = netvsp_send(v, f, n);

	return r < 0 ? n : (unsigned int)r;
}

/* The host: NetVSP for one VM, every frame back to it, until it leaves. */
static int host(int lfd)
{
	static const struct netvsp_ops ops = { .rx = loopback };
	struct netvsp_config cfg = { .name = "bench-vm" };
	char err[256];
	struct vmbus_chan *ch;
	struct netvsp *v;

	util_pin_cpu(1);
	memcpy(cfg.mac, MAC_VM, 6);
	ch = vmbus_chan_accept(lfd, NULL, err, sizeof(err));
	if (!ch || !(v = netvsp_create(ch, &cfg, &ops, NULL))) {
		fprintf(stderr, "bench synthetic host: %s\n", ch ? strerror(errno) : err);
		return 1;
	}
	for (;;) {
		int r = netvsp_poll(v);

		if (r < 0)
			break;
		if (!r && netvsp_arm(v))
			vmbus_chan_wait(netvsp_chan(v), VMBUS_EV_RX | VMBUS_EV_CTL, 0, 100);
	}
	netvsp_destroy(v);
	return 0;
}

static int nv_tx(void *dev, const struct port_pkt *p, unsigned int n)
{
	return netvsc_tx_burst(dev, p, n);
}

static int nv_rx(void *dev, struct port_pkt *p, unsigned int n)
{
	return netvsc_rx_burst(dev, p, n);
}

/* The guest side of a synthetic-path run against the host at @path:
 * frames to @dst (NULL: to itself). Returns 0 with @res filled. */
int bench_netvsc_guest(const char *path, const uint8_t *dst, const struct bench_opts *o,
                       struct bench_ep_result *res)
{
	struct netvsc_config c = { .path = path, .name = "bench-vm" };
	char err[256];
	struct netvsc *nv;
	struct bench_dev dev = { .tx = nv_tx, .rx = nv_rx };
	int r;

	util_pin_cpu(0);
	for (int i = 0; i < 200 && !(nv = netvsc_open(&c, err, sizeof(err))) && errno == ENOENT;
	     i++)
		usleep(10000);
	if (!nv) {
		fprintf(stderr, "bench: NetVSC: %s\n", err);
		return -1;
	}
	dev.dev = nv;
	/* Half the receive buffer at most (netvsp.h, "Back-pressure"): a loopback
	 * that fills it waits for completions queued behind its own transfer. */
	dev.inflight =
	    (unsigned int)(NETVSC_RECV_BUF_SIZE / 2 /
	                   netvsp_rxbuf_span((uint32_t)sizeof(struct rndis_packet) + o->size));
	r = bench_ep_loop(o, nv->mac, dst ? dst : nv->mac, &dev, res);
	netvsc_close(nv);
	return r;
}

/* One measurement of the synthetic path: a host process, this process the
 * guest. Mpps, or -1. */
static double run_synthetic(const struct bench_opts *o, struct bench_ep_result *r)
{
	char path[108];
	pid_t pid;
	int lfd, st;

	snprintf(path, sizeof(path), "/tmp/iovpath-bench-syn-%d.sock", (int)getpid());
	lfd = vmbus_listen(path);
	if (lfd < 0) {
		fprintf(stderr, "bench synthetic: listen %s: %s\n", path, strerror(-lfd));
		return -1;
	}
	pid = fork();
	if (pid == 0)
		_exit(host(lfd));
	close(lfd);
	if (bench_netvsc_guest(path, NULL, o, r)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		unlink(path);
		return -1;
	}
	waitpid(pid, &st, 0);
	unlink(path);
	return (double)r->rx / r->secs / 1e6;
}

int bench_synthetic(int argc, char **argv)
{
	struct bench_opts o = {
		.size = 64, .seconds = 3, .ring = 1u << 20, .burst = 32, .rounds = 6
	};
	double mpps[BENCH_ROUNDS_MAX], ring[BENCH_ROUNDS_MAX], echo[BENCH_ROUNDS_MAX];
	double ratio[BENCH_ROUNDS_MAX], ratio_echo[BENCH_ROUNDS_MAX], lo, hi, lo_e, hi_e;
	uint64_t frames = 0, lost = 0, bad = 0;
	double secs = 0, m_syn, m_ring, m_echo;
	struct bench_opts ro;

	if (bench_parse(argc, argv, &o, EP_MIN_FRAME, 9000) || bench_round_opts(&o, &ro))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	for (unsigned int i = 0; i < o.rounds; i++) {
		struct bench_ep_result r = { 0 };

		mpps[i] = run_synthetic(&ro, &r);
		if (mpps[i] < 0)
			return 1;
		ring[i] = bench_ring_mpps(&ro);
		echo[i] = bench_ring_echo_mpps(&ro);
		if (ring[i] <= 0 || echo[i] <= 0) {
			fprintf(stderr, "bench synthetic: the ring baseline failed\n");
			return 1;
		}
		ratio[i] = mpps[i] / ring[i];
		ratio_echo[i] = mpps[i] / echo[i];
		frames += r.rx, lost += r.lost, bad += r.bad, secs += r.secs;
	}
	bench_range(ratio, o.rounds, &lo, &hi);
	bench_range(ratio_echo, o.rounds, &lo_e, &hi_e);
	m_syn = bench_median(mpps, o.rounds);
	m_ring = bench_median(ring, o.rounds);
	m_echo = bench_median(echo, o.rounds);
	if (!o.json)
		printf("bench synthetic: %u-byte frames; guest -> NetVSC -> VMBus -> NetVSP -> "
		       "loopback -> back; baseline: bare ring, same size; %u rounds of %.2f s "
		       "each, medians\n",
		       o.size, o.rounds, ro.seconds);
	bench_report(&o, "size", (double)o.size, "mpps", m_syn, "gbps", m_syn * o.size * 8 / 1e3,
	             "ring_mpps", m_ring, "ratio", bench_median(ratio, o.rounds), "ratio_min", lo,
	             "ratio_max", hi, "ring_echo_mpps", m_echo, "ratio_echo",
	             bench_median(ratio_echo, o.rounds), "ratio_echo_min", lo_e, "ratio_echo_max",
	             hi_e, "rounds", (double)o.rounds, "seconds", secs, "frames", (double)frames,
	             "reordered_or_dup", (double)lost, "bad", (double)bad, NULL);
	return bad || lost ? 1 : 0;
}
