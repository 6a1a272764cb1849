/* bench ring — a producer process and a consumer process over one VMBus
 * channel, frames of --size bytes as fast as they go; the consumer checks
 * every frame's sequence number, length and tail tag. Baseline in the same
 * run: a single-process memcpy of the same frame size. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "util/frame.h"
#include "util/util.h"
#include "vmbus/vmbus_chan.h"

struct result {
	uint64_t frames, lost, bad;
	double secs;
};

static int producer(const char *path, const struct bench_opts *o)
{
	struct vmbus_client_opts co = { .name = "bench", .ring_size = { o->ring, o->ring } };
	char err[256];
	struct vmbus_chan *ch;
	uint8_t *frames = malloc((size_t)o->burst * o->size);
	struct iovec *iov = calloc(o->burst, sizeof(*iov));
	struct vmbus_tx *tx = calloc(o->burst, sizeof(*tx));
	uint64_t seq = 0, end;
	uint32_t need = vmbus_pkt_space(0, o->size);

	util_pin_cpu(0);
	ch = vmbus_chan_connect(path, &co, err, sizeof(err));
	if (!ch) {
		fprintf(stderr, "bench producer: %s\n", err);
		return 1;
	}
	for (unsigned int i = 0; i < o->burst; i++) {
		uint8_t *f = frames + (size_t)i * o->size;

		util_frame_fill(f, o->size, 0, 0, UTIL_FRAME_FULL);
		iov[i] = (struct iovec){ f, o->size };
		tx[i] =
		    (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND, .iov = &iov[i], .iovcnt = 1 };
	}
	end = util_now_ns() + (uint64_t)(o->seconds * 1e9);
	while (util_now_ns() < end) {
		for (unsigned int i = 0; i < o->burst; i++) {
			uint8_t *f = frames + (size_t)i * o->size;
			uint64_t s = seq + i, tail = s ^ UTIL_FRAME_TAIL;

			memcpy(f, &s, 8);
			memcpy(f + o->size - 8, &tail, 8);
		}
		unsigned int done = 0;

		while (done < o->burst) {
			int n = vmbus_chan_send(ch, tx + done, o->burst - done);

			if (n < 0) {
				fprintf(stderr, "bench producer: %s\n", strerror(-n));
				return 1;
			}
			if (n == 0 && vmbus_chan_wait(ch, VMBUS_EV_TX, need, 1000) < 0)
				return 1;
			done += (unsigned int)n;
		}
		seq += o->burst;
	}
	vmbus_chan_close(ch);
	free(frames);
	free(iov);
	free(tx);
	return 0;
}

static int consumer(struct vmbus_chan *ch, const struct bench_opts *o, struct result *r)
{
	size_t buflen = 64 * ((size_t)o->size + 64);
	uint8_t *buf = malloc(buflen);
	struct vmbus_rx rx[64];
	uint64_t expect = 0, t0 = 0, t1 = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		int n = vmbus_chan_recv(ch, rx, 64, buf, buflen);

		if (n == 0) {
			n = vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 2000);
			if (n > 0)
				continue;
		}
		if (n == -EPIPE)
			break;
		if (n < 0) {
			fprintf(stderr, "bench consumer: %s\n", vmbus_chan_error(ch));
			free(buf);
			return 1;
		}
		if (!t0)
			t0 = util_now_ns();
		for (int i = 0; i < n; i++) {
			uint64_t seq;
			uint32_t flow;

			if (util_frame_check(rx[i].data, rx[i].len, &seq, &flow,
			                     UTIL_FRAME_QUICK) ||
			    rx[i].len != o->size) {
				r->bad++;
				continue;
			}
			if (seq != expect)
				r->lost += seq > expect ? seq - expect : 1;
			expect = seq + 1;
			r->frames++;
		}
		t1 = util_now_ns();
	}
	r->secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
	free(buf);
	return 0;
}

/* One measurement: 0 with @r filled, or 1 after printing why. */
static int ring_run(const struct bench_opts *o, struct result *r)
{
	char path[108], err[256];
	struct vmbus_chan *ch;
	pid_t pid;
	int lfd, st;

	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "/tmp/iovpath-bench-%d.sock", (int)getpid());
	lfd = vmbus_listen(path);
	if (lfd < 0) {
		fprintf(stderr, "bench: listen %s: %s\n", path, strerror(-lfd));
		return 1;
	}
	pid = fork();
	if (pid == 0)
		_exit(producer(path, o));
	util_pin_cpu(1);
	ch = vmbus_chan_accept(lfd, NULL, err, sizeof(err));
	close(lfd);
	unlink(path);
	if (!ch) {
		fprintf(stderr, "bench: %s\n", err);
		return 1;
	}
	if (consumer(ch, o, r))
		return 1;
	vmbus_chan_close(ch);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "bench: producer failed\n");
		return 1;
	}
	if (r->secs <= 0) {
		fprintf(stderr, "bench: nothing was received\n");
		return 1;
	}
	return 0;
}

double bench_ring_mpps(const struct bench_opts *o)
{
	struct result r;

	if (ring_run(o, &r))
		return -1;
	if (r.lost || r.bad) {
		fprintf(stderr, "bench ring: %llu frames lost, %llu bad\n",
		        (unsigned long long)r.lost, (unsigned long long)r.bad);
		return -1;
	}
	return (double)r.frames / r.secs / 1e6;
}

int bench_ring(int argc, char **argv)
{
	struct bench_opts o = { .size = 64, .seconds = 3, .ring = 1u << 20, .burst = 32 };
	struct result r;

	if (bench_parse(argc, argv, &o, UTIL_FRAME_MIN, 65000))
		return 2;
	if (ring_run(&o, &r))
		return 1;
	double mpps = (double)r.frames / r.secs / 1e6;
	double gbps = (double)r.frames * o.size * 8 / r.secs / 1e9;
	double memcpy_gbps = bench_memcpy_gbps(o.size, o.seconds < 1 ? o.seconds : 1);

	if (!o.json)
		printf("bench ring: %u-byte frames, producer process -> consumer process, %.1f s\n",
		       o.size, r.secs);
	bench_report(&o, "size", (double)o.size, "mpps", mpps, "gbps", gbps, "memcpy_gbps",
	             memcpy_gbps, "frames", (double)r.frames, "lost", (double)r.lost, "bad",
	             (double)r.bad, "seconds", r.secs, NULL);
	return r.lost || r.bad ? 1 : 0;
}

/* ---- the bare ring in the synthetic benchmark's shape ----
 * The same endpoint (bench_ep_loop) in a "guest" process sends one frame
 * per ring packet to a "host" process that sends every packet back on the
 * other ring: the round trip the synthetic path makes, with no NVSP, RNDIS,
 * buffers or sections. */

struct echo_dev {
	struct vmbus_chan *ch;
	struct vmbus_tx tx[PORT_BURST];
	struct iovec iov[PORT_BURST];
	struct vmbus_rx rx[PORT_BURST];
	uint8_t *buf;
	size_t buflen;
};

static int echo_tx(void *dev, const struct port_pkt *p, unsigned int n)
{
	struct echo_dev *e = dev;

	if (n > PORT_BURST)
		n = PORT_BURST;
	for (unsigned int i = 0; i < n; i++) {
		e->iov[i] = (struct iovec){ p[i].data, p[i].len };
		e->tx[i] = (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND,
			                      .iov = &e->iov[i],
			                      .iovcnt = 1 };
	}
	return vmbus_chan_send(e->ch, e->tx, n);
}

static int echo_rx(void *dev, struct port_pkt *p, unsigned int n)
{
	struct echo_dev *e = dev;
	int r = vmbus_chan_recv(e->ch, e->rx, n > PORT_BURST ? PORT_BURST : n, e->buf, e->buflen);

	for (int i = 0; i < r; i++)
		p[i] = (struct port_pkt){ .data = (uint8_t *)e->rx[i].data, .len = e->rx[i].len };
	return r;
}

/* The host: every packet back as it came, until the guest leaves. */
static int echo_host(int lfd, const struct bench_opts *o)
{
	struct echo_dev e = { .buflen = (size_t)PORT_BURST * ((size_t)o->size + 64) };
	char err[256];

	util_pin_cpu(1);
	e.buf = malloc(e.buflen);
	e.ch = vmbus_chan_accept(lfd, NULL, err, sizeof(err));
	if (!e.ch || !e.buf) {
		fprintf(stderr, "bench ring echo: %s\n", e.ch ? strerror(ENOMEM) : err);
		return 1;
	}
	for (;;) {
		struct port_pkt p[PORT_BURST];
		int n = echo_rx(&e, p, PORT_BURST), done = 0;

		if (n == 0)
			n = vmbus_chan_wait(e.ch, VMBUS_EV_RX, 0, 100) < 0 ? -EPIPE : 0;
		if (n < 0)
			break;
		while (done < n) {
			int r = echo_tx(&e, p + done, (unsigned int)(n - done));

			if (r < 0 || (r == 0 && vmbus_chan_wait(e.ch, VMBUS_EV_TX,
			                                        vmbus_pkt_space(0, o->size), 100) < 0))
				goto out;
			done += r;
		}
	}
out:
	vmbus_chan_close(e.ch);
	free(e.buf);
	return 0;
}

double bench_ring_echo_mpps(const struct bench_opts *o)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0, 0, 0x02 };
	struct vmbus_client_opts co = { .name = "bench-echo", .ring_size = { o->ring, o->ring } };
	struct echo_dev e = { .buflen = (size_t)PORT_BURST * ((size_t)o->size + 64) };
	struct bench_dev dev = { .tx = echo_tx, .rx = echo_rx, .dev = &e };
	struct bench_ep_result r = { 0 };
	char path[108], err[256];
	int lfd, rc = -1;
	pid_t pid;

	snprintf(path, sizeof(path), "/tmp/iovpath-bench-echo-%d.sock", (int)getpid());
	lfd = vmbus_listen(path);
	if (lfd < 0)
		return -1;
	pid = fork();
	if (pid == 0)
		_exit(echo_host(lfd, o));
	close(lfd);
	util_pin_cpu(0);
	e.buf = malloc(e.buflen);
	e.ch = vmbus_chan_connect(path, &co, err, sizeof(err));
	if (e.ch && e.buf)
		rc = bench_ep_loop(o, mac, mac, &dev, &r);
	else
		fprintf(stderr, "bench ring echo: %s\n", e.ch ? strerror(ENOMEM) : err);
	if (!e.ch)
		kill(pid, SIGKILL); /* still waiting for us to connect */
	vmbus_chan_close(e.ch);
	free(e.buf);
	waitpid(pid, NULL, 0);
	unlink(path);
	if (rc || r.bad || r.lost || r.secs <= 0 || !r.rx) {
		fprintf(stderr, "bench ring echo: %s (%llu frames back, %llu bad, %llu out of order)\n",
		        rc ? "the channel failed" : "a bad run", (unsigned long long)r.rx,
		        (unsigned long long)r.bad, (unsigned long long)r.lost);
		return -1;
	}
	return (double)r.rx / r.secs / 1e6;
}
