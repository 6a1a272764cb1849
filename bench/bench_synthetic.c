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
 * limit, ratio cannot pass about 0.5 while ratio_echo can reach 1. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "guest/endpoint.h"
#include "guest/netvsc.h"
#include "util/util.h"
#include "vswitch/netvsp.h"

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
	struct bench_dev dev = { nv_tx, nv_rx, NULL };
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
	r = bench_ep_loop(o, nv->mac, dst ? dst : nv->mac, &dev, res);
	netvsc_close(nv);
	return r;
}

int bench_synthetic(int argc, char **argv)
{
	struct bench_opts o = { .size = 64, .seconds = 3, .ring = 1u << 20, .burst = 32 };
	struct bench_ep_result r = { 0 };
	char path[108];
	double mpps, ring_mpps, echo_mpps;
	pid_t pid;
	int lfd, st;

	if (bench_parse(argc, argv, &o, EP_MIN_FRAME, 9000))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "/tmp/iovpath-bench-syn-%d.sock", (int)getpid());
	lfd = vmbus_listen(path);
	if (lfd < 0) {
		fprintf(stderr, "bench synthetic: listen %s: %s\n", path, strerror(-lfd));
		return 1;
	}
	pid = fork();
	if (pid == 0)
		_exit(host(lfd));
	close(lfd);
	if (bench_netvsc_guest(path, NULL, &o, &r)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		unlink(path);
		return 1;
	}
	waitpid(pid, &st, 0);
	unlink(path);
	mpps = (double)r.rx / r.secs / 1e6;
	ring_mpps = bench_ring_mpps(&o);
	echo_mpps = bench_ring_echo_mpps(&o);
	if (ring_mpps <= 0 || echo_mpps <= 0) {
		fprintf(stderr, "bench synthetic: the ring baseline failed\n");
		return 1;
	}
	if (!o.json)
		printf("bench synthetic: %u-byte frames; guest -> NetVSC -> VMBus -> NetVSP -> "
		       "loopback -> back, %.1f s; baseline: bare ring, same size\n",
		       o.size, r.secs);
	bench_report(&o, "size", (double)o.size, "mpps", mpps, "gbps", mpps * o.size * 8 / 1e3,
	             "ring_mpps", ring_mpps, "ratio", mpps / ring_mpps, "ring_echo_mpps", echo_mpps,
	             "ratio_echo", mpps / echo_mpps, "frames", (double)r.rx,
	             "reordered_or_dup", (double)r.lost, "bad", (double)r.bad, NULL);
	return r.bad || r.lost ? 1 : 0;
}
