/* Channel tests: two real processes, a real Unix socket, real memfd and
 * eventfds; hostile peers on both sides of the handshake and the rings. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "util/frame.h"
#include "util/util.h"
#include "vmbus/vmbus_chan.h"

static const char *g_path;
static char g_err[256];

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	g_path = th_sock_path();
}

static struct vmbus_chan *client_open(const char *name, uint32_t ring)
{
	struct vmbus_client_opts o = { .name = name, .ring_size = { ring, ring } };

	return vmbus_chan_connect(g_path, &o, g_err, sizeof(g_err));
}

/* Frame sizes of the mixed stream: 64..9000, spread by a hash of the seq. */
static uint32_t mixed_len(uint64_t seq)
{
	uint64_t h = seq * 0x9e3779b97f4a7c15ull;

	return 64 + (uint32_t)((h >> 32) % (9000 - 64 + 1));
}

struct stream_arg {
	uint64_t count;
	int burst;
};

/* Child: connect and send @count self-checking frames, bursts of up to 32. */
static int stream_sender(void *argp)
{
	struct stream_arg *a = argp;
	static uint8_t frames[32][9000];
	struct iovec iov[32];
	struct vmbus_tx tx[32];
	struct vmbus_chan *ch = client_open("stream", 1u << 20);
	uint64_t seq = 0;

	if (!ch)
		return 10;
	while (seq < a->count) {
		int n = 0, rc;

		while (n < a->burst && seq + (uint64_t)n < a->count) {
			uint32_t len = mixed_len(seq + (uint64_t)n);

			util_frame_fill(frames[n], len, seq + (uint64_t)n, 1, UTIL_FRAME_FULL);
			iov[n] = (struct iovec){ frames[n], len };
			tx[n] = (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND,
				                   .trans_id = (uint32_t)(seq + (uint64_t)n),
				                   .iov = &iov[n],
				                   .iovcnt = 1 };
			n++;
		}
		for (int done = 0; done < n; done += rc) {
			rc = vmbus_chan_send(ch, tx + done, (unsigned)(n - done));
			if (rc < 0)
				return 11;
			if (rc == 0 &&
			    vmbus_chan_wait(ch, VMBUS_EV_TX,
			                    vmbus_pkt_space(0, tx[done].iov->iov_len), 5000) <= 0)
				return 12;
		}
		seq += (uint64_t)n;
	}
	vmbus_chan_close(ch);
	return 0;
}

Test(chan, two_process_stream_mixed_sizes, .init = setup, .timeout = 600)
{
	struct stream_arg a = { .count = th_env_u64("IOVPATH_TEST_PACKETS", 10000000),
		                .burst = 32 };
	int lfd = vmbus_listen(g_path);
	struct vmbus_chan *ch;
	static uint8_t buf[1 << 20];
	struct vmbus_rx rx[64];
	uint64_t expect = 0, bytes = 0;
	pid_t pid;

	cr_assert_geq(lfd, 0);
	pid = th_spawn(stream_sender, &a);
	ch = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	cr_assert(ch, "accept: %s", g_err);
	while (expect < a.count) {
		int n = vmbus_chan_recv(ch, rx, 64, buf, sizeof(buf));

		if (n == 0) {
			n = vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 10000);
			cr_assert_gt(n, 0, "stream stalled at %llu: %d %s",
			             (unsigned long long)expect, n, vmbus_chan_error(ch));
			continue;
		}
		cr_assert_gt(n, 0, "recv: %d %s", n, vmbus_chan_error(ch));
		for (int i = 0; i < n; i++) {
			uint64_t seq;
			uint32_t flow;

			cr_assert_eq(
			    util_frame_check(rx[i].data, rx[i].len, &seq, &flow, UTIL_FRAME_FULL),
			    0, "frame %llu corrupted", (unsigned long long)expect);
			cr_assert_eq(seq, expect, "lost or reordered: got %llu, expected %llu",
			             (unsigned long long)seq, (unsigned long long)expect);
			cr_assert_eq(rx[i].len, mixed_len(seq));
			bytes += rx[i].len;
			expect++;
		}
	}
	cr_assert_eq(vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 5000), -EPIPE,
	             "nothing after the last frame; then the peer is gone");
	cr_assert_eq(th_wait(pid), 0);
	cr_log_info("%llu frames, %llu bytes verified", (unsigned long long)expect,
	            (unsigned long long)bytes);
	vmbus_chan_close(ch);
	close(lfd);
}

static int idle_client(void *arg)
{
	struct vmbus_chan *ch = client_open("idle", 0);
	uint64_t delay_ms = (uint64_t)(uintptr_t)arg;

	if (!ch)
		return 10;
	usleep((useconds_t)(delay_ms * 1000));
	if (delay_ms < 1500) { /* then send one packet: the sleeper must wake */
		struct iovec iov = { "wake-up!", 8 };
		struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };

		if (vmbus_chan_send(ch, &tx, 1) != 1)
			return 11;
		usleep(500 * 1000);
	}
	vmbus_chan_close(ch);
	return 0;
}

static uint64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
	       (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

Test(chan, idle_channel_costs_no_cpu, .init = setup, .timeout = 20)
{
	int lfd = vmbus_listen(g_path);
	pid_t pid = th_spawn(idle_client, (void *)(uintptr_t)3000);
	struct vmbus_chan *ch = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	uint64_t c0;

	cr_assert(ch, "%s", g_err);
	c0 = cpu_us();
	cr_assert_eq(vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 1000), 0, "an idle second: time-out");
	cr_assert_lt(cpu_us() - c0, 50000,
	             "the waiting consumer used %llu us of CPU in an idle second",
	             (unsigned long long)(cpu_us() - c0));
	vmbus_chan_close(ch);
	kill(pid, SIGKILL);
	th_wait(pid);
	close(lfd);
}

Test(chan, sleeper_wakes_on_signal, .init = setup, .timeout = 20)
{
	int lfd = vmbus_listen(g_path);
	pid_t pid = th_spawn(idle_client, (void *)(uintptr_t)200);
	struct vmbus_chan *ch = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	uint8_t buf[256];
	struct vmbus_rx rx[4];

	cr_assert(ch, "%s", g_err);
	cr_assert_eq(vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 10000), VMBUS_EV_RX);
	cr_assert_eq(ch->wakeups, 1, "woken by the eventfd, once");
	cr_assert_eq(vmbus_chan_recv(ch, rx, 4, buf, sizeof(buf)), 1);
	cr_assert_eq(memcmp(rx[0].data, "wake-up!", 8), 0);
	cr_assert_eq(vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 10000), -EPIPE, "client exit is seen");
	cr_assert_eq(th_wait(pid), 0);
	vmbus_chan_close(ch);
	close(lfd);
}

/* ---- a client that dies or cheats ---- */

static int dying_client(void *arg)
{
	struct vmbus_chan *ch = client_open("dying", 0);
	uint8_t frame[128];
	struct iovec iov = { frame, sizeof(frame) };
	struct vmbus_tx tx[16];

	if (!ch)
		return 10;
	for (int i = 0; i < 16; i++) {
		util_frame_fill(frame, sizeof(frame), (uint64_t)i, 0, UTIL_FRAME_FULL);
		tx[i] =
		    (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };
		if (vmbus_chan_send(ch, &tx[i], 1) != 1)
			return 11;
	}
	/* Mid-burst: half a packet written beyond write_index, never published. */
	memset(ch->tx.data + (ch->tx.idx & ch->tx.mask), 0x5a, 64);
	_exit(0);
}

Test(chan, peer_dies_mid_burst, .init = setup, .timeout = 20)
{
	int lfd = vmbus_listen(g_path);
	pid_t pid = th_spawn(dying_client, NULL);
	struct vmbus_chan *ch = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	uint8_t buf[8192];
	struct vmbus_rx rx[64];
	int got = 0, rc;

	cr_assert(ch, "%s", g_err);
	cr_assert_eq(th_wait(pid), 0);
	while ((rc = vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 5000)) > 0) {
		rc = vmbus_chan_recv(ch, rx, 64, buf, sizeof(buf));
		cr_assert_geq(rc, 0);
		got += rc;
	}
	cr_assert_eq(rc, -EPIPE);
	cr_assert_eq(got, 16, "every published packet arrives, nothing else");
	cr_assert_eq(vmbus_chan_recv(ch, rx, 64, buf, sizeof(buf)), -EPIPE);
	vmbus_chan_close(ch);
	close(lfd);
}

static int corrupting_client(void *arg)
{
	struct vmbus_chan *ch = client_open("evil", 0);
	struct iovec iov = { "good packet", 11 };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };

	if (!ch)
		return 10;
	if (vmbus_chan_send(ch, &tx, 1) != 1)
		return 11;
	/* A write index past the data area, and a wake-up for the host. */
	__atomic_store_n(&ch->tx.hdr->write_index, ch->tx.idx + ch->tx.size * 2, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(ch->efd_signal, &one, 8) != 8)
		return 12;
	/* The host must close the channel on us. */
	int rc = vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 5000);

	return rc == -EPIPE ? 0 : 13;
}

static int good_client(void *arg)
{
	struct vmbus_chan *ch = client_open("good", 0);
	struct iovec iov = { "hello", 5 };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };

	if (!ch)
		return 10;
	usleep(300 * 1000); /* after the evil client broke its channel */
	if (vmbus_chan_send(ch, &tx, 1) != 1)
		return 11;
	return vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 5000) == -EPIPE ? 0 : 12;
}

Test(chan, hostile_ring_closes_only_that_channel, .init = setup, .timeout = 20)
{
	int lfd = vmbus_listen(g_path);
	pid_t evil = th_spawn(corrupting_client, NULL);
	struct vmbus_chan *bad = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	pid_t good = th_spawn(good_client, NULL);
	struct vmbus_chan *ok = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	uint8_t buf[4096];
	struct vmbus_rx rx[8];
	int rc;

	cr_assert(bad && ok, "%s", g_err);
	/* The good packet may be read before the write index is seen; once it
	 * is, the channel breaks (nothing after a garbage index can be trusted). */
	while ((rc = vmbus_chan_wait(bad, VMBUS_EV_RX, 0, 5000)) > 0) {
		rc = vmbus_chan_recv(bad, rx, 8, buf, sizeof(buf));
		if (rc < 0)
			break;
		cr_assert_eq(rc, 1);
		cr_assert_eq(memcmp(rx[0].data, "good packet", 11), 0);
	}
	cr_assert_eq(rc, -EPROTO);
	cr_assert(strstr(vmbus_chan_error(bad), "write_index"), "%s", vmbus_chan_error(bad));
	cr_assert(strstr(vmbus_chan_error(bad), "c2s"), "%s", vmbus_chan_error(bad));
	cr_assert_eq(th_wait(evil), 0, "the evil client saw its channel closed");

	cr_assert_eq(vmbus_chan_wait(ok, VMBUS_EV_RX, 0, 5000), VMBUS_EV_RX);
	cr_assert_eq(vmbus_chan_recv(ok, rx, 8, buf, sizeof(buf)), 1, "the other VM is unaffected");
	cr_assert_eq(memcmp(rx[0].data, "hello", 5), 0);
	vmbus_chan_close(ok);
	cr_assert_eq(th_wait(good), 0);
	vmbus_chan_close(bad);
	close(lfd);
}

/* ---- handshake: hostile clients (server side survives) ---- */

static void hello(struct vmbus_hs_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->magic = VMBUS_HS_MAGIC;
	m->version = VMBUS_HS_VERSION;
	m->type = VMBUS_HS_HELLO;
	m->ring_size[0] = m->ring_size[1] = 65536;
	strcpy(m->name, "vm");
}

/* Serve a connection whose client side has already said @m (or nothing). */
static struct vmbus_chan *serve_after(const struct vmbus_hs_msg *m, size_t len, bool close_peer,
                                      int *peer)
{
	int sv[2];
	struct vmbus_server_opts o = { .timeout_ms = 500 };

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	if (m)
		cr_assert_eq(send(sv[1], m, len, 0), (ssize_t)len);
	if (close_peer) {
		close(sv[1]);
		sv[1] = -1;
	}
	*peer = sv[1];
	return vmbus_chan_serve(sv[0], &o, g_err, sizeof(g_err));
}

static void expect_refusal(int peer, const char *what)
{
	struct vmbus_hs_msg r;

	cr_assert_eq(recv(peer, &r, sizeof(r), 0), (ssize_t)sizeof(r));
	cr_assert_eq(r.type, VMBUS_HS_REFUSE);
	cr_assert(strstr(r.reason, what), "refusal '%s' should say %s", r.reason, what);
	close(peer);
}

Test(handshake, wrong_magic_refused, .init = setup, .timeout = 10)
{
	struct vmbus_hs_msg m;
	int peer;

	hello(&m);
	m.magic = 0xdeadbeef;
	cr_assert_null(serve_after(&m, sizeof(m), false, &peer));
	cr_assert(strstr(g_err, "magic"), "%s", g_err);
	expect_refusal(peer, "magic");
}

Test(handshake, wrong_version_refused, .init = setup, .timeout = 10)
{
	struct vmbus_hs_msg m;
	int peer;

	hello(&m);
	m.version = 7;
	cr_assert_null(serve_after(&m, sizeof(m), false, &peer));
	expect_refusal(peer, "version");
}

Test(handshake, truncated_and_bad_sizes_refused, .init = setup, .timeout = 10)
{
	struct vmbus_hs_msg m;
	int peer;

	hello(&m);
	cr_assert_null(serve_after(&m, 40, false, &peer));
	expect_refusal(peer, "bytes");
	hello(&m);
	m.ring_size[1] = 5000;
	cr_assert_null(serve_after(&m, sizeof(m), false, &peer));
	expect_refusal(peer, "ring_size");
	hello(&m);
	memset(m.name, 'A', sizeof(m.name));
	cr_assert_null(serve_after(&m, sizeof(m), false, &peer));
	expect_refusal(peer, "NUL");
}

Test(handshake, peer_closes_before_hello, .init = setup, .timeout = 10)
{
	int peer;

	cr_assert_null(serve_after(NULL, 0, true, &peer));
	cr_assert_eq(errno, EPIPE);
	cr_assert(strstr(g_err, "closed"), "%s", g_err);
}

Test(handshake, peer_closes_after_hello, .init = setup, .timeout = 10)
{
	struct vmbus_hs_msg m;
	int peer;

	hello(&m);
	cr_assert_null(serve_after(&m, sizeof(m), true, &peer));
	cr_assert(errno == EPIPE || errno == ECONNRESET, "errno %d: %s", errno, g_err);
}

Test(handshake, silent_peer_times_out, .init = setup, .timeout = 10)
{
	int peer;

	cr_assert_null(serve_after(NULL, 0, false, &peer));
	cr_assert_eq(errno, ETIMEDOUT);
	close(peer);
}

Test(handshake, hello_with_descriptors_refused, .init = setup, .timeout = 10)
{
	struct vmbus_hs_msg m;
	int sv[2], efd = eventfd(0, 0);
	struct vmbus_server_opts o = { .timeout_ms = 500 };

	hello(&m);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(util_send_fds(sv[1], &m, sizeof(m), &efd, 1), 0);
	cr_assert_null(vmbus_chan_serve(sv[0], &o, g_err, sizeof(g_err)));
	cr_assert_eq(errno, EPROTO);
	close(sv[1]);
	close(efd);
}

static int refuse_evil(const char *name, const uint8_t *secret, void *arg)
{
	return strcmp(name, "evil") ? 0 : -EACCES;
}

static int evil_connect(void *arg)
{
	struct vmbus_chan *ch = client_open("evil", 0);

	if (ch)
		return 10;
	return strstr(g_err, "refused") && strstr(g_err, "denied") ? 0 : 11;
}

Test(handshake, credential_check_refuses, .init = setup, .timeout = 10)
{
	int lfd = vmbus_listen(g_path);
	pid_t pid = th_spawn(evil_connect, NULL);
	struct vmbus_server_opts o = { .check = refuse_evil };

	cr_assert_null(vmbus_chan_accept(lfd, &o, g_err, sizeof(g_err)));
	cr_assert_eq(errno, EACCES);
	cr_assert_eq(th_wait(pid), 0, "the client was told why");
	close(lfd);
}

/* ---- handshake: a hostile server (the client side survives) ---- */

enum fake_offer {
	FAKE_RING_MAGIC,
	FAKE_RING_VERSION,
	FAKE_HS_VERSION,
	FAKE_UNSEALED,
	FAKE_TOO_FEW_FDS,
	FAKE_CLOSE
};

static int fake_server(void *arg)
{
	enum fake_offer how = (enum fake_offer)(uintptr_t)arg;
	int lfd = vmbus_listen(g_path), fd, fds[3];
	struct vmbus_hs_msg m;
	uint32_t rs = 65536;
	size_t size = 2 * vmbus_ring_mem_size(rs);
	void *mem;

	if (lfd < 0)
		return 10;
	fd = accept(lfd, NULL, NULL);
	if (fd < 0 || recv(fd, &m, sizeof(m), 0) != sizeof(m))
		return 11;
	if (how == FAKE_CLOSE)
		return 0; /* exit: the socket closes mid-handshake */
	fds[0] = memfd_create("fake", MFD_ALLOW_SEALING);
	if (ftruncate(fds[0], (off_t)size))
		return 12;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	vmbus_ring_format(mem, rs);
	vmbus_ring_format((uint8_t *)mem + vmbus_ring_mem_size(rs), rs);
	if (how == FAKE_RING_MAGIC)
		((struct vmbus_ring_hdr *)mem)->magic = 0x1234;
	if (how == FAKE_RING_VERSION)
		((struct vmbus_ring_hdr *)((uint8_t *)mem + vmbus_ring_mem_size(rs)))->version = VMBUS_RING_VERSION + 1;
	if (how != FAKE_UNSEALED)
		fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	fds[1] = eventfd(0, 0);
	fds[2] = eventfd(0, 0);
	memset(&m, 0, sizeof(m));
	m.magic = VMBUS_HS_MAGIC;
	m.version = how == FAKE_HS_VERSION ? 9 : VMBUS_HS_VERSION;
	m.type = VMBUS_HS_OFFER;
	m.ring_size[0] = m.ring_size[1] = rs;
	m.mem_size = size;
	if (util_send_fds(fd, &m, sizeof(m), fds, how == FAKE_TOO_FEW_FDS ? 2 : 3))
		return 13;
	/* The client must answer with a refusal (or just hang up). */
	ssize_t n = recv(fd, &m, sizeof(m), 0);

	if (n == 0)
		return 0;
	return n == sizeof(m) && m.type == VMBUS_HS_REFUSE ? 0 : 14;
}

static void expect_client_fails(enum fake_offer how, const char *what)
{
	pid_t pid = th_spawn(fake_server, (void *)(uintptr_t)how);
	struct vmbus_chan *ch = NULL;

	for (int i = 0; i < 200 && !ch; i++) { /* until the fake server listens */
		ch = client_open("vm", 0);
		if (!ch && !strncmp(g_err, "connect ", 8))
			usleep(10000);
		else
			break;
	}
	cr_assert_null(ch);
	cr_assert(strstr(g_err, what), "client error '%s' should say %s", g_err, what);
	cr_assert_eq(th_wait(pid), 0);
}

Test(handshake, client_checks_ring_magic, .init = setup, .timeout = 10)
{
	expect_client_fails(FAKE_RING_MAGIC, "magic");
}

Test(handshake, client_checks_ring_version, .init = setup, .timeout = 10)
{
	expect_client_fails(FAKE_RING_VERSION, "version");
}

Test(handshake, client_checks_handshake_version, .init = setup, .timeout = 10)
{
	expect_client_fails(FAKE_HS_VERSION, "version");
}

Test(handshake, client_requires_sealed_memory, .init = setup, .timeout = 10)
{
	expect_client_fails(FAKE_UNSEALED, "sealed");
}

Test(handshake, client_requires_three_descriptors, .init = setup, .timeout = 10)
{
	expect_client_fails(FAKE_TOO_FEW_FDS, "descriptors");
}

Test(handshake, server_closes_mid_handshake, .init = setup, .timeout = 10)
{
	expect_client_fails(FAKE_CLOSE, "closed");
}

/* ---- GPADL: guest buffers shared over the control socket ---- */

static int gpadl_client(void *arg)
{
	int how = (int)(uintptr_t)arg;
	struct vmbus_chan *ch = client_open("gpadl", 0);
	struct vmbus_gpadl g;

	if (!ch)
		return 10;
	if (how == 0) {
		if (vmbus_gpadl_create(ch, 7, 65536, &g))
			return 11;
		memset(g.mem, 0xab, g.size);
		g.mem[100] = 0x42;
		/* Tell the host the buffer is written; wait for its answer in byte 0. */
		struct iovec iov = { "go", 2 };
		struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };
		if (vmbus_chan_send(ch, &tx, 1) != 1)
			return 12;
		if (vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 5000) != VMBUS_EV_RX)
			return 13;
		return g.mem[0] == 0x77 ? 0 : 14;
	}
	/* how 1: an unsealed buffer; how 2: a size that lies; how 3: no descriptor */
	int fd = memfd_create("x", MFD_ALLOW_SEALING);
	struct vmbus_ctl_gpadl msg = { .handle = 9, .size = 65536 };

	if (ftruncate(fd, how == 2 ? 4096 : 65536))
		return 15;
	if (how == 2)
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	if (vmbus_chan_send_ctl(ch, VMBUS_CTL_GPADL, 9, &msg, sizeof(msg), &fd, how == 3 ? 0 : 1))
		return 16;
	usleep(300 * 1000);
	return 0;
}

Test(gpadl, shared_buffer_both_ways, .init = setup, .timeout = 20)
{
	int lfd = vmbus_listen(g_path);
	pid_t pid = th_spawn(gpadl_client, (void *)(uintptr_t)0);
	struct vmbus_chan *ch = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	struct vmbus_ctl_msg m;
	struct vmbus_gpadl g;
	int fds[VMBUS_CTL_MAX_FDS], nfds;
	uint8_t buf[256];
	struct vmbus_rx rx[4];

	cr_assert(ch, "%s", g_err);
	cr_assert_eq(vmbus_chan_wait(ch, VMBUS_EV_RX | VMBUS_EV_CTL, 0, 5000) & VMBUS_EV_CTL,
	             VMBUS_EV_CTL, "the GPADL message comes before the ring packet");
	cr_assert_eq(vmbus_chan_recv_ctl(ch, &m, fds, VMBUS_CTL_MAX_FDS, &nfds), 1);
	cr_assert_eq(m.hdr.type, VMBUS_CTL_GPADL);
	cr_assert_eq(nfds, 1);
	cr_assert_eq(vmbus_gpadl_map(&m, fds[0], &g, g_err, sizeof(g_err)), 0, "%s", g_err);
	cr_assert_eq(g.handle, 7);
	cr_assert_eq(vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 5000), VMBUS_EV_RX);
	cr_assert_eq(vmbus_chan_recv(ch, rx, 4, buf, sizeof(buf)), 1);
	cr_assert_eq(g.mem[100], 0x42);
	cr_assert_eq(g.mem[65535], 0xab);
	g.mem[0] = 0x77;
	struct iovec iov = { "ok", 2 };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };
	cr_assert_eq(vmbus_chan_send(ch, &tx, 1), 1);
	cr_assert_eq(th_wait(pid), 0);
	vmbus_gpadl_release(&g);
	vmbus_chan_close(ch);
	close(lfd);
}

static void expect_gpadl_refused(int how, const char *what)
{
	int lfd = vmbus_listen(g_path);
	pid_t pid = th_spawn(gpadl_client, (void *)(uintptr_t)how);
	struct vmbus_chan *ch = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	struct vmbus_ctl_msg m;
	struct vmbus_gpadl g;
	int fds[VMBUS_CTL_MAX_FDS], nfds;

	cr_assert(ch, "%s", g_err);
	cr_assert_eq(vmbus_chan_wait(ch, VMBUS_EV_CTL, 0, 5000), VMBUS_EV_CTL);
	cr_assert_eq(vmbus_chan_recv_ctl(ch, &m, fds, VMBUS_CTL_MAX_FDS, &nfds), 1);
	cr_assert_eq(vmbus_gpadl_map(&m, nfds ? fds[0] : -1, &g, g_err, sizeof(g_err)), -EPROTO);
	cr_assert(strstr(g_err, what), "'%s' should say %s", g_err, what);
	cr_assert_null(g.mem);
	vmbus_gpadl_release(&g);
	cr_assert_eq(th_wait(pid), 0);
	vmbus_chan_close(ch);
	close(lfd);
}

Test(gpadl, unsealed_buffer_refused, .init = setup, .timeout = 20)
{
	expect_gpadl_refused(1, "sealed");
}

Test(gpadl, size_mismatch_refused, .init = setup, .timeout = 20)
{
	expect_gpadl_refused(2, "announced size");
}

Test(gpadl, missing_descriptor_refused, .init = setup, .timeout = 20)
{
	expect_gpadl_refused(3, "malformed");
}

/* ---- a peer that does not read its control socket ---- */

static int deaf_client(void *arg)
{
	struct vmbus_chan *ch = client_open("deaf", 0);

	(void)arg;
	if (!ch)
		return 10;
	sleep(30); /* connected, never reading: killed by the test */
	return 0;
}

/* The host's control messages to a VM (VPCI_ADD/REMOVE, MIGRATE) must not
 * block the daemon when the VM stops reading: once its socket buffer is full
 * a send fails with -EAGAIN instead of waiting forever for the VM. */
Test(chan, deaf_peer_does_not_block_control_sends, .init = setup, .timeout = 20)
{
	int lfd = vmbus_listen(g_path);
	pid_t pid = th_spawn(deaf_client, NULL);
	struct vmbus_chan *ch = vmbus_chan_accept(lfd, NULL, g_err, sizeof(g_err));
	uint64_t t0 = util_now_ns();
	int rc = 0, sent = 0;

	cr_assert(ch, "%s", g_err);
	alarm(5); /* a send that blocks: the test dies here instead of hanging */
	for (; sent < 100000 && rc == 0; sent++)
		rc = vmbus_vpci_send(ch, VMBUS_CTL_VPCI_REMOVE, 1);
	alarm(0);
	cr_assert_eq(rc, -EAGAIN, "send %d: %s", sent, strerror(-rc));
	cr_assert(util_now_ns() - t0 < 5000000000ull);
	cr_assert(!ch->broken && !ch->peer_gone, "the channel itself is fine");
	kill(pid, SIGKILL);
	th_wait(pid);
	vmbus_chan_close(ch);
	close(lfd);
}
