/* Physical-port backends: the shared-memory wire between two processes (no
 * root), and TAP + AF_PACKET against each other in a namespace of the
 * test's own (root; skipped with a message otherwise). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "port/port.h"
#include "util/frame.h"
#include "util/util.h"
#include "vmbus/vmbus_chan.h"

static char g_err[256];
static const char *g_path;

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	g_path = th_sock_path();
}

Test(port, bad_specs_are_explained, .timeout = 10)
{
	cr_assert_null(port_open("nonsense", g_err, sizeof(g_err)));
	cr_assert(strstr(g_err, "expected tap:NAME"), "%s", g_err);
	cr_assert_null(port_open("tap:x,netns=../etc", g_err, sizeof(g_err)));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(port_open("shm-connect:/nonexistent/sock", g_err, sizeof(g_err)));
	cr_assert(strstr(g_err, "connect"), "%s", g_err);
}

/* A backend whose receive is "a system call": it counts its calls and hands
 * out as many frames as told. */
static unsigned int g_calls, g_have;

static int fake_rx(struct port *p, struct port_pkt *pkts, unsigned int n)
{
	unsigned int k = g_have < n ? g_have : n;

	(void)p;
	g_calls++;
	g_have -= k;
	for (unsigned int i = 0; i < k; i++)
		pkts[i] = (struct port_pkt){ .data = (uint8_t *)"frame", .len = 5 };
	return (int)k;
}

static const struct port_ops fake_ops = { .kind = "fake",
	                                  .rx_burst = fake_rx,
	                                  .rx_idle_skip = PORT_RX_SKIP };

Test(port, idle_skip_after_short_read, .timeout = 10)
{
	struct port p = { .ops = &fake_ops };
	struct port_pkt pkts[PORT_BURST];

	/* a full burst: the next call asks again */
	g_have = 100;
	cr_assert_eq(port_rx_burst(&p, pkts, PORT_BURST), (int)PORT_BURST);
	cr_assert_eq(port_rx_burst(&p, pkts, PORT_BURST), (int)PORT_BURST);
	cr_assert_eq(g_calls, 2);
	/* a short read: the next PORT_RX_SKIP calls don't reach the backend... */
	g_have = 3;
	cr_assert_eq(port_rx_burst(&p, pkts, PORT_BURST), 3);
	g_have = 5;
	for (unsigned int i = 0; i < PORT_RX_SKIP; i++)
		cr_assert_eq(port_rx_burst(&p, pkts, PORT_BURST), 0);
	cr_assert_eq(g_calls, 3);
	/* ...then it is asked again */
	cr_assert_eq(port_rx_burst(&p, pkts, PORT_BURST), 5);
	cr_assert_eq(g_calls, 4);
	/* the wait descriptor polled readable: asked at once */
	g_have = 2;
	cr_assert_eq(port_rx_burst(&p, pkts, PORT_BURST), 0);
	cr_assert_eq(g_calls, 4, "skipping after the short read of 5");
	port_rx_ready(&p);
	cr_assert_eq(port_rx_burst(&p, pkts, PORT_BURST), 2);
	cr_assert_eq(g_calls, 5);
}

/* Wait until @p has frames, up to 5 s. */
static int rx_wait(struct port *p, struct port_pkt *pkts, unsigned int n)
{
	for (int i = 0; i < 5000; i++) {
		int r = port_rx_burst(p, pkts, n);

		if (r)
			return r;
		if (port_arm(p)) {
			struct pollfd pfd = { .fd = port_wait_fd(p), .events = POLLIN };

			if (poll(&pfd, 1, 1) == 1)
				port_rx_ready(p);
		}
	}
	return 0;
}

#define WIRE_FRAMES 20000

static int wire_echo(void *arg)
{
	struct port *p = NULL;
	struct port_pkt pkts[PORT_BURST];
	int echoed = 0;

	for (int i = 0; i < 200 && !p; i++) {
		p = port_open(g_path, g_err, sizeof(g_err));
		if (!p)
			usleep(10000);
	}
	if (!p)
		return 10;
	while (echoed < WIRE_FRAMES) {
		int n = rx_wait(p, pkts, PORT_BURST);

		if (n <= 0)
			return 11;
		for (int done = 0; done < n;) {
			int r = port_tx_burst(p, pkts + done, (unsigned int)(n - done));

			if (r < 0)
				return 12;
			done += r;
		}
		echoed += n;
	}
	usleep(200 * 1000);
	port_close(p);
	return 0;
}

Test(port, shm_wire_two_processes, .init = setup, .timeout = 60)
{
	char spec[160];
	struct port *p;
	struct port_pkt tx[PORT_BURST], rx[PORT_BURST];
	static uint8_t frames[PORT_BURST][1600];
	uint64_t sent = 0, got = 0;
	pid_t pid;

	snprintf(spec, sizeof(spec), "shm-listen:%s", g_path);
	p = port_open(spec, g_err, sizeof(g_err));
	cr_assert(p, "%s", g_err);
	snprintf(spec, sizeof(spec), "shm-connect:%s", g_path);
	g_path = spec;
	pid = th_spawn(wire_echo, NULL);
	while (got < WIRE_FRAMES) {
		unsigned int k = 0;

		while (k < PORT_BURST && sent + k < WIRE_FRAMES) {
			uint32_t len = 60 + (uint32_t)((sent + k) % 1500);

			util_frame_fill(frames[k], len, sent + k, 0, UTIL_FRAME_FULL);
			tx[k] = (struct port_pkt){ .data = frames[k], .len = len };
			tx[k].vnet.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
			tx[k].vnet.gso_size = (uint16_t)(sent + k);
			k++;
		}
		/* Before the peer plugs in, frames are dropped and counted. */
		int r = k ? port_tx_burst(p, tx, k) : 0;

		cr_assert_geq(r, 0);
		if (p->st.tx_frames == 0 && r > 0) { /* not connected yet */
			sent = 0;
			usleep(1000);
		} else {
			sent += (uint64_t)r;
		}
		int n = port_rx_burst(p, rx, PORT_BURST);

		for (int i = 0; i < n; i++, got++) {
			uint64_t seq;
			uint32_t flow;

			cr_assert_eq(
			    util_frame_check(rx[i].data, rx[i].len, &seq, &flow, UTIL_FRAME_FULL),
			    0);
			cr_assert_eq(seq, got, "in order, none lost");
			cr_assert_eq(rx[i].vnet.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
			cr_assert_eq(rx[i].vnet.gso_size, (uint16_t)seq,
			             "offload metadata carried");
		}
		if (!n && sent == WIRE_FRAMES)
			usleep(100);
	}
	cr_assert_eq(th_wait(pid), 0);
	cr_assert_eq(p->st.rx_frames, WIRE_FRAMES);
	port_close(p);
}

/* ---- root: TAP and AF_PACKET in a namespace made by the test ---- */

static char g_ns[64];

static void ns_setup(void)
{
	char cmd[256];

	if (geteuid() != 0)
		cr_skip_test("needs root for network namespaces and TAP devices");
	snprintf(g_ns, sizeof(g_ns), "iovpath-tport-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "ip netns add %s", g_ns);
	cr_assert_eq(system(cmd), 0);
	/* no IPv6 autoconfiguration: its router solicitations and MLD reports
	 * would arrive among the test's frames at random moments */
	snprintf(cmd, sizeof(cmd),
	         "ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
	         "net.ipv6.conf.default.disable_ipv6=1",
	         g_ns);
	cr_assert_eq(system(cmd), 0);
}

static void ns_teardown(void)
{
	char cmd[256];

	if (g_ns[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s", g_ns);
		if (system(cmd)) {
			/* nothing else to do: the namespace name is unique to this test */
		}
	}
}

/* A TCP/IPv4 frame of @payload bytes, checksum left for offload. */
static uint32_t tcp_frame(uint8_t *f, uint32_t payload)
{
	static const uint8_t hdr[54] = {
		0x02, 0,    0,    0,    0, 0x02, 0x02, 0, 0,  0, 0, 0x01, 0x08, 0x00, /* eth */
		0x45, 0,    0,    0,    0, 1,    0x40, 0, 64, 6, 0, 0,    198,  18,
		0,    1,    198,  18,   0, 2, /* ip */
		0x30, 0x39, 0x00, 0x50, 0, 0,    0,    1, 0,  0, 0, 0,    0x50, 0x18,
		0xff, 0xff, 0,    0,    0, 0,
	};
	uint16_t tot = htons((uint16_t)(20 + 20 + payload));

	memcpy(f, hdr, sizeof(hdr));
	memcpy(f + 16, &tot, 2);
	memset(f + 54, 0x61, payload);
	return 54 + payload;
}

/* A TAP device @dev in the test's namespace, and an AF_PACKET port on it. */
static void tap_and_afpacket(const char *dev, struct port **tap, struct port **afp)
{
	char spec[160];

	snprintf(spec, sizeof(spec), "tap:%s,netns=%s", dev, g_ns);
	*tap = port_open(spec, g_err, sizeof(g_err));
	cr_assert(*tap, "%s", g_err);
	snprintf(spec, sizeof(spec), "afpacket:%s,netns=%s", dev, g_ns);
	*afp = port_open(spec, g_err, sizeof(g_err));
	cr_assert(*afp, "%s", g_err);
}

Test(port_root, tap_and_afpacket_with_offloads, .init = ns_setup, .fini = ns_teardown,
     .timeout = 30)
{
	struct port *tap, *afp;
	struct port_pkt pk = { 0 }, rx[PORT_BURST];
	static uint8_t f[20000];
	int n;

	tap_and_afpacket("iovt0", &tap, &afp);

	/* TAP -> kernel -> AF_PACKET: a plain frame. */
	util_frame_fill(f + 14, 200, 77, 0, UTIL_FRAME_FULL);
	memcpy(f, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x88\xb5", 14);
	pk.data = f;
	pk.len = 214;
	cr_assert_eq(port_tx_burst(tap, &pk, 1), 1);
	n = rx_wait(afp, rx, PORT_BURST);
	cr_assert_eq(n, 1, "the frame the TAP sent arrives on the interface");
	cr_assert_eq(rx[0].len, 214);
	cr_assert_eq(memcmp(rx[0].data, f, 214), 0);

	/* AF_PACKET -> out of the interface -> TAP: a 14 KB TSO segment stays whole. */
	pk.len = tcp_frame(f, 14000);
	memset(&pk.vnet, 0, sizeof(pk.vnet));
	pk.vnet.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	pk.vnet.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	pk.vnet.gso_size = 1448;
	pk.vnet.hdr_len = 54;
	pk.vnet.csum_start = 34;
	pk.vnet.csum_offset = 16;
	cr_assert_eq(port_tx_burst(afp, &pk, 1), 1);
	cr_assert_eq(afp->st.tx_dropped, 0);
	n = rx_wait(tap, rx, PORT_BURST);
	cr_assert_eq(n, 1);
	cr_assert_eq(rx[0].len, pk.len, "one 64 KiB-class segment, not 10 wire frames");
	cr_assert_eq(rx[0].vnet.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	cr_assert_eq(rx[0].vnet.gso_size, 1448);
	cr_assert_eq(memcmp(rx[0].data + 54, f + 54, 14000), 0);
	port_close(afp);
	port_close(tap);
}

/* A peer on the shared-memory wire that sends one packet longer than the
 * port's whole receive buffer (3 MiB in its 4 MiB ring), then a frame. */
static int wire_sends_huge(void *arg)
{
	struct vmbus_client_opts o = { .name = "wire", .ring_size = { 4u << 20, 4u << 20 } };
	static uint8_t big[3u << 20], f[214];
	uint8_t ext[16] = { 0 };
	struct iovec iov[2] = { { big, sizeof(big) }, { f, sizeof(f) } };
	struct vmbus_tx tx[2];
	struct vmbus_chan *ch = NULL;

	(void)arg;
	for (int i = 0; i < 200 && !ch; i++) {
		ch = vmbus_chan_connect(g_path, &o, g_err, sizeof(g_err));
		if (!ch)
			usleep(10000);
	}
	if (!ch)
		return 10;
	util_frame_fill(f, sizeof(f), 5, 0, UTIL_FRAME_FULL);
	for (int i = 0; i < 2; i++)
		tx[i] = (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND,
			                   .ext = ext,
			                   .ext_len = sizeof(ext),
			                   .iov = &iov[i],
			                   .iovcnt = 1 };
	if (vmbus_chan_send(ch, tx, 1) != 1)
		return 11;
	if (vmbus_chan_send(ch, tx + 1, 1) != 1)
		return 12;
	sleep(2);
	vmbus_chan_close(ch);
	return 0;
}

/* The wire's peer is another process, not trusted: a packet too long for any
 * frame is dropped and counted like any bad one, and the wire goes on (it
 * stuck there for good: every receive failed on that packet, -ENOBUFS). */
Test(port, shm_wire_packet_longer_than_buffer_dropped, .init = setup, .timeout = 30)
{
	char spec[160];
	struct port *p;
	struct port_pkt rx[PORT_BURST];
	uint64_t seq;
	uint32_t flow;
	pid_t pid;
	int n;

	snprintf(spec, sizeof(spec), "shm-listen:%s", g_path);
	p = port_open(spec, g_err, sizeof(g_err));
	cr_assert(p, "%s", g_err);
	pid = th_spawn(wire_sends_huge, NULL);
	n = rx_wait(p, rx, PORT_BURST);
	cr_assert_eq(n, 1, "the frame after the long packet arrives (rx_errors %llu)",
	             (unsigned long long)p->st.rx_errors);
	cr_assert_eq(rx[0].len, 214);
	cr_assert_eq(util_frame_check(rx[0].data, rx[0].len, &seq, &flow, UTIL_FRAME_FULL), 0);
	cr_assert_eq(seq, 5);
	cr_assert_eq(p->st.rx_errors, 1, "the long packet is counted");
	cr_assert_eq(p->st.rx_frames, 1);
	cr_assert_eq(th_wait(pid), 0);
	port_close(p);
}

/* A peer on the wire that sends one frame (sequence number @arg) and goes. */
static int wire_sends_one(void *arg)
{
	struct port *p = NULL;
	static uint8_t f[214];
	struct port_pkt pk = { .data = f, .len = sizeof(f) };

	for (int i = 0; i < 200 && !p; i++) {
		p = port_open(g_path, g_err, sizeof(g_err));
		if (!p)
			usleep(10000);
	}
	if (!p)
		return 10;
	util_frame_fill(f, sizeof(f), (uint64_t)(uintptr_t)arg, 0, UTIL_FRAME_FULL);
	if (port_tx_burst(p, &pk, 1) != 1 || p->st.tx_frames != 1)
		return 11;
	usleep(100 * 1000);
	port_close(p);
	return 0;
}

/* shm-listen: a peer that went away leaves the port unplugged until another
 * connects, and the next peer is taken (it was never noticed gone: the
 * next peer's handshake timed out, the wire stayed dead for good). */
Test(port, shm_wire_listen_takes_next_peer, .init = setup, .timeout = 30)
{
	char spec[160], cspec[160];
	struct port *p;
	struct port_pkt rx[PORT_BURST], pk = { 0 };
	static uint8_t f[214];
	uint64_t seq;
	uint32_t flow;

	snprintf(spec, sizeof(spec), "shm-listen:%s", g_path);
	p = port_open(spec, g_err, sizeof(g_err));
	cr_assert(p, "%s", g_err);
	snprintf(cspec, sizeof(cspec), "shm-connect:%s", g_path);
	g_path = cspec;
	for (uintptr_t peer = 1; peer <= 2; peer++) {
		pid_t pid = th_spawn(wire_sends_one, (void *)peer);
		int n = rx_wait(p, rx, PORT_BURST);

		cr_assert_eq(n, 1, "peer %u's frame arrives", (unsigned int)peer);
		cr_assert_eq(util_frame_check(rx[0].data, rx[0].len, &seq, &flow, UTIL_FRAME_FULL),
		             0);
		cr_assert_eq(seq, peer);
		/* asleep on the port: its leaving wakes us */
		if (port_arm(p)) {
			struct pollfd pfd = { .fd = port_wait_fd(p), .events = POLLIN };

			cr_assert_eq(poll(&pfd, 1, 3000), 1, "peer %u's leaving wakes",
			             (unsigned int)peer);
		}
		cr_assert_eq(th_wait(pid), 0, "peer %u", (unsigned int)peer);
		cr_assert_not(port_arm(p), "peer %u's leaving is noticed", (unsigned int)peer);
		cr_assert_eq(port_rx_burst(p, rx, PORT_BURST), 0);
	}
	/* no peer now: sending drops, counted */
	pk.data = f;
	pk.len = sizeof(f);
	util_frame_fill(f, sizeof(f), 3, 0, UTIL_FRAME_FULL);
	cr_assert_eq(port_tx_burst(p, &pk, 1), 1);
	cr_assert_eq(p->st.tx_dropped, 1, "unplugged");
	port_close(p);
}

/* AF_PACKET on the wire: an 802.1Q-tagged frame arrives tagged. The kernel
 * takes the tag out of the bytes before AF_PACKET sees them (it rides in
 * the socket's auxiliary data): handed out untagged, a VLAN 7 frame looked
 * like an untagged one to the NIC's MAC-only filters. Offload offsets move
 * with the tag. */
Test(port_root, afpacket_keeps_vlan_tag, .init = ns_setup, .fini = ns_teardown, .timeout = 30)
{
	struct port *tap, *afp;
	struct port_pkt pk = { 0 }, rx[PORT_BURST];
	static uint8_t f[2000], t[2000];
	uint32_t len;
	int n;

	tap_and_afpacket("iovt2", &tap, &afp);

	/* a plain tagged frame (VLAN 7, priority 3) */
	memcpy(f, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x81\x00\x60\x07\x88\xb5", 18);
	util_frame_fill(f + 18, 200, 9, 0, UTIL_FRAME_FULL);
	pk.data = f;
	pk.len = 218;
	cr_assert_eq(port_tx_burst(tap, &pk, 1), 1);
	n = rx_wait(afp, rx, PORT_BURST);
	cr_assert_eq(n, 1);
	cr_assert_eq(rx[0].len, 218, "the tag is in the frame (len %u)", rx[0].len);
	cr_assert_eq(memcmp(rx[0].data, f, 218), 0, "as sent, tag included");

	/* a tagged TCP segment whose checksum the kernel leaves to us: its
	 * csum_start counts the tag */
	len = tcp_frame(t, 1000);
	memcpy(f, t, 12);
	memcpy(f + 12, "\x81\x00\x00\x07", 4);
	memcpy(f + 16, t + 12, len - 12);
	pk.len = len + 4;
	memset(&pk.vnet, 0, sizeof(pk.vnet));
	pk.vnet.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	pk.vnet.csum_start = 38;
	pk.vnet.csum_offset = 16;
	cr_assert_eq(port_tx_burst(tap, &pk, 1), 1);
	n = rx_wait(afp, rx, PORT_BURST);
	cr_assert_eq(n, 1);
	cr_assert_eq(rx[0].len, pk.len);
	cr_assert_eq(memcmp(rx[0].data, f, 16), 0, "tagged");
	cr_assert(rx[0].vnet.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, "flags %#x", rx[0].vnet.flags);
	cr_assert_eq(rx[0].vnet.csum_start, 38, "csum_start %u counts the tag",
	             rx[0].vnet.csum_start);
	port_close(afp);
	port_close(tap);
}
