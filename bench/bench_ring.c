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

	if (ring_run(o, &r) || r.lost || r.bad)
		return -1;
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
