/* The synthetic path end to end: NetVSC (this process) and NetVSP (a host
 * thread, or a host process for the long stream) over a real VMBus channel.
 *
 *    guest VM A (NetVSC, test thread) ─┐                 ┌─ NetVSP A ─┐
 *                                      ├── channels ─────┤            ├─ loopback: every
 *    guest VM B (NetVSC, test thread) ─┘                 └─ NetVSP B ─┘  frame goes back
 *                                                          (host thread)   to its sender
 *
 * Bring-up, the version matrix, 10 million frames guest -> host -> guest,
 * section exhaustion and back-pressure, and one test per class of hostile
 * guest message: each is reported and dropped (or closes only that VM's
 * channel), and VM B keeps its service throughout. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/netvsc.h"
#include "harness.h"
#include "proto/nvsp.h"
#include "proto/rndis.h"
#include "proto/rndis_oid.h"
#include "util/frame.h"
#include "util/util.h"
#include "vswitch/netvsp.h"

#define MAX_VMS 4

struct host {
	const char *path;
	int lfd;
	uint32_t ver_max;
	pthread_t th;
	pthread_mutex_t mu;
	volatile int stop;
	volatile int stall; /* ops.rx takes nothing */
	struct netvsp *v[MAX_VMS];
	int rc[MAX_VMS]; /* what netvsp_poll returned last (negative: closed) */
	int max_work[MAX_VMS]; /* the most one netvsp_poll call did */
	unsigned int nvm;
};

static struct host H;

static unsigned int loop_rx(void *ctx, struct netvsp *v, const struct vsw_frame *f, unsigned int n)
{
	struct host *h = ctx;
	int r;

	if (h->stall)
		return 0;
	r = netvsp_send(v, f, n);
	return r < 0 ? n : (unsigned int)r; /* not ready to receive: dropped */
}

static const struct netvsp_ops LOOP_OPS = { .rx = loop_rx };

static void mac_of(unsigned int i, uint8_t mac[6])
{
	memcpy(mac, "\x02\x00\x5e\x10\x00", 5);
	mac[5] = (uint8_t)(i + 1);
}

/* Serve every VM that connects, in loopback, until stop. */
static void *host_main(void *arg)
{
	struct host *h = arg;
	struct vmbus_server_opts so = { .timeout_ms = 2000 };
	char err[256];

	while (!h->stop) {
		int work = 0;

		if (h->nvm < MAX_VMS) {
			struct pollfd pfd = { .fd = h->lfd, .events = POLLIN };

			if (poll(&pfd, 1, 0) == 1) {
				struct vmbus_chan *ch =
				    vmbus_chan_accept(h->lfd, &so, err, sizeof(err));

				if (ch) {
					struct netvsp_config c = { .ver_max = h->ver_max };

					mac_of(h->nvm, c.mac);
					pthread_mutex_lock(&h->mu);
					h->v[h->nvm++] = netvsp_create(ch, &c, &LOOP_OPS, h);
					pthread_mutex_unlock(&h->mu);
				}
			}
		}
		pthread_mutex_lock(&h->mu);
		for (unsigned int i = 0; i < h->nvm; i++) {
			if (h->rc[i] < 0)
				continue;
			h->rc[i] = netvsp_poll(h->v[i]);
			if (h->rc[i] > 0)
				work++;
			if (h->rc[i] > h->max_work[i])
				h->max_work[i] = h->rc[i];
		}
		pthread_mutex_unlock(&h->mu);
		if (!work)
			usleep(50);
	}
	return NULL;
}

static void host_start(uint32_t ver_max)
{
	memset(&H, 0, sizeof(H));
	H.path = th_sock_path();
	H.lfd = vmbus_listen(H.path);
	H.ver_max = ver_max;
	cr_assert(H.lfd >= 0);
	pthread_mutex_init(&H.mu, NULL);
	pthread_create(&H.th, NULL, host_main, &H);
}

static void host_stop(void)
{
	H.stop = 1;
	pthread_join(H.th, NULL);
	for (unsigned int i = 0; i < H.nvm; i++)
		netvsp_destroy(H.v[i]);
	close(H.lfd);
	unlink(H.path);
}

static struct netvsp_stats host_stats(unsigned int i, char *last, size_t len)
{
	struct netvsp_stats st;

	pthread_mutex_lock(&H.mu);
	netvsp_get_stats(H.v[i], &st);
	if (last)
		snprintf(last, len, "%s", netvsp_last_error(H.v[i]));
	pthread_mutex_unlock(&H.mu);
	return st;
}

static struct netvsc *guest(const char *name, uint32_t vmin, uint32_t vmax, char *err, size_t len)
{
	struct netvsc_config c = { .path = H.path, .name = name, .ver_min = vmin, .ver_max = vmax };

	return netvsc_open(&c, err, len);
}

static struct netvsc *guest_ok(const char *name)
{
	char err[256];
	struct netvsc *nv = guest(name, 0, 0, err, sizeof(err));

	cr_assert(nv, "netvsc_open: %s", err);
	return nv;
}

/* A frame to ourselves (the loopback sends it back). */
static uint32_t mkframe(uint8_t *f, const struct netvsc *nv, uint32_t len, uint64_t seq)
{
	memcpy(f, nv->mac, 6);
	memcpy(f + 6, nv->mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	util_frame_fill(f + 14, len - 14, seq, 0, UTIL_FRAME_FULL);
	return len;
}

/* Send @n frames of @len bytes and receive them back, checked. */
static void roundtrip(struct netvsc *nv, unsigned int n, uint32_t len)
{
	static uint8_t f[9100];
	struct port_pkt pk[PORT_BURST];
	unsigned int got = 0;
	uint64_t seq0 = util_now_ns();

	for (unsigned int i = 0; i < n; i++) {
		struct port_pkt p = { .data = f, .len = mkframe(f, nv, len, seq0 + i) };

		for (int t = 0; netvsc_tx_burst(nv, &p, 1) != 1; t++) {
			cr_assert(t < 100000, "back-pressure never ends");
			netvsc_poll(nv);
		}
	}
	for (int t = 0; got < n && t < 200000; t++) {
		int r = netvsc_rx_burst(nv, pk, PORT_BURST);

		cr_assert(r >= 0, "rx: %s", netvsc_last_error(nv));
		for (int i = 0; i < r; i++) {
			uint64_t seq;
			uint32_t flow;

			cr_assert_eq(pk[i].len, len);
			cr_assert_eq(util_frame_check(pk[i].data + 14, len - 14, &seq, &flow,
			                              UTIL_FRAME_FULL),
			             0);
			cr_assert_eq(seq, seq0 + got, "frame %u out of order", got);
			got++;
		}
		if (!r)
			netvsc_wait(nv, NETVSC_EV_RX, 5);
	}
	cr_assert_eq(got, n, "%u of %u frames came back", got, n);
}

/* Offload metadata through the loopback, both ways: a checksum request and
 * a TCP segment to coalesce leave the guest as PPIs, reach the host's frame
 * as its virtio header, and come back as the receive meaning of each (the
 * per-frame paths of both sides have a separate branch for a frame with
 * PPIs); a plain frame between them comes back with none. */
Test(netvsp, offload_metadata_both_ways, .timeout = 30)
{
	host_start(0);
	struct netvsc *nv = guest_ok("vm-a");
	static uint8_t f[3][200];
	struct port_pkt tx[3], rx[PORT_BURST];
	unsigned int got = 0;

	for (int i = 0; i < 3; i++) {
		memcpy(f[i], nv->mac, 6);
		memcpy(f[i] + 6, nv->mac, 6);
		f[i][12] = 0x08; /* IPv4; the TCP header at 34, data offset 5 words */
		f[i][14] = 0x45;
		f[i][23] = 6;
		f[i][34 + 12] = 0x50;
		f[i][199] = (uint8_t)i;
		tx[i] = (struct port_pkt){ .data = f[i], .len = 200 };
	}
	tx[0].vnet = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		                              .csum_start = 34,
		                              .csum_offset = 16 };
	tx[2].vnet = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		                              .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		                              .gso_size = 100,
		                              .hdr_len = 54,
		                              .csum_start = 34,
		                              .csum_offset = 16 };
	cr_assert_eq(netvsc_tx_burst(nv, tx, 3), 3, "%s", netvsc_last_error(nv));
	for (int t = 0; got < 3 && t < 200000; t++) {
		int r = netvsc_rx_burst(nv, rx, PORT_BURST);

		cr_assert(r >= 0, "rx: %s", netvsc_last_error(nv));
		for (int i = 0; i < r; i++, got++) {
			const struct virtio_net_hdr *h = &rx[i].vnet;

			cr_assert_eq(rx[i].len, 200);
			cr_assert_eq(memcmp(rx[i].data, f[got], 200), 0, "frame %u's bytes", got);
			if (got == 0) {
				cr_expect_eq(h->flags, VIRTIO_NET_HDR_F_DATA_VALID);
				cr_expect_eq(h->gso_type, VIRTIO_NET_HDR_GSO_NONE);
			} else if (got == 1) {
				cr_expect_eq(h->flags, 0);
				cr_expect_eq(h->gso_type, VIRTIO_NET_HDR_GSO_NONE);
			} else {
				cr_expect_eq(h->flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
				cr_expect_eq(h->gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
				cr_expect_eq(h->gso_size, 100);
				cr_expect_eq(h->hdr_len, 54);
				cr_expect_eq(h->csum_start, 34);
				cr_expect_eq(h->csum_offset, 16);
			}
		}
		if (!r)
			netvsc_wait(nv, NETVSC_EV_RX, 5);
	}
	cr_assert_eq(got, 3, "%u of 3 frames came back", got);
	netvsc_close(nv);
	host_stop();
}

/* Send a frame to @dst, then a marker to @marker (one that passes); true
 * when the first came back before the marker (the loopback keeps order). */
static bool delivered(struct netvsc *nv, const uint8_t dst[6], const uint8_t marker[6])
{
	static uint8_t f[2][64];
	struct port_pkt tx[2] = { { .data = f[0], .len = 64 }, { .data = f[1], .len = 64 } };
	struct port_pkt pk[PORT_BURST];
	bool got = false;

	for (int i = 0; i < 2; i++) {
		mkframe(f[i], nv, 64, (uint64_t)i);
		memcpy(f[i], i ? marker : dst, 6);
	}
	for (int t = 0; netvsc_tx_burst(nv, tx, 2) != 2; t++) {
		cr_assert(t < 100000, "back-pressure never ends");
		netvsc_poll(nv);
	}
	for (int t = 0; t < 4000; t++) {
		int r = netvsc_rx_burst(nv, pk, PORT_BURST);

		cr_assert(r >= 0, "rx: %s", netvsc_last_error(nv));
		for (int i = 0; i < r; i++) {
			uint64_t seq;
			uint32_t flow;

			cr_assert_eq(
			    util_frame_check(pk[i].data + 14, 50, &seq, &flow, UTIL_FRAME_FULL), 0);
			if (seq == 1)
				return got;
			cr_assert_arr_eq(pk[i].data, dst, 6);
			got = true;
		}
		if (!r)
			netvsc_wait(nv, NETVSC_EV_RX, 5);
	}
	cr_assert_fail("the marker never came back");
	return false;
}

static void set_filter(struct netvsc *nv, uint32_t f)
{
	cr_assert_eq(netvsc_set(nv, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &f, 4), 0, "%s",
	             netvsc_last_error(nv));
}

/* The RNDIS packet filter the guest set decides what NetVSP delivers to it:
 * its own address (DIRECTED), broadcast, multicast (no list: every group),
 * all of them with PROMISCUOUS; what does not pass is counted. */
Test(netvsp, packet_filter_decides_delivery, .timeout = 60)
{
	host_start(0);
	struct netvsc *nv = guest_ok("vm-a");
	const uint8_t *own = nv->mac, bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t other[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x99 };
	const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	uint8_t near[6]; /* own but the last byte: the whole address is compared */

	memcpy(near, own, 6);
	near[5] ^= 0x80;
	/* what NetVSC sets: DIRECTED | MULTICAST | BROADCAST */
	cr_expect(delivered(nv, own, own));
	cr_expect(!delivered(nv, other, own));
	cr_expect(!delivered(nv, near, own));
	near[5] ^= 0x80, near[0] ^= 0x04;
	cr_expect(!delivered(nv, near, own));
	cr_expect(delivered(nv, bcast, own));
	cr_expect(delivered(nv, mcast, own));
	cr_expect_eq(host_stats(0, NULL, 0).tx_filtered, 3);
	set_filter(nv, RNDIS_PACKET_TYPE_BROADCAST);
	cr_expect(!delivered(nv, own, bcast), "DIRECTED off");
	cr_expect(!delivered(nv, mcast, bcast));
	set_filter(nv, RNDIS_PACKET_TYPE_DIRECTED);
	cr_expect(!delivered(nv, bcast, own));
	cr_expect(delivered(nv, own, own));
	set_filter(nv, RNDIS_PACKET_TYPE_PROMISCUOUS);
	cr_expect(delivered(nv, other, own));
	cr_expect(delivered(nv, mcast, own));
	cr_expect_eq(host_stats(0, NULL, 0).tx_filtered, 6);
	netvsc_close(nv);
	host_stop();
}

static uint64_t query_stat(struct netvsc *nv, uint32_t oid)
{
	uint64_t v = ~0ull;
	uint32_t len = sizeof(v);

	cr_assert_eq(netvsc_query(nv, oid, &v, &len), 0, "query %#x: %s", oid,
	             netvsc_last_error(nv));
	cr_assert_eq(len, sizeof(v), "statistics OIDs are 64-bit");
	return v;
}

/* The statistics OIDs count what the path moved, as the guest's miniport
 * would: sends taken, frames received; a frame the packet filter refused is
 * neither an error nor a receive. */
Test(netvsp, statistics_oids_count_the_traffic, .timeout = 30)
{
	host_start(0);
	struct netvsc *nv = guest_ok("vm-a");
	const uint8_t other[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x99 };

	cr_expect_eq(query_stat(nv, RNDIS_OID_GEN_XMIT_OK), 0);
	roundtrip(nv, 100, 64 + 14);
	roundtrip(nv, 10, 1514);
	cr_expect(!delivered(nv, other, nv->mac)); /* 2 sent, 1 back */
	cr_expect_eq(query_stat(nv, RNDIS_OID_GEN_XMIT_OK), 112);
	cr_expect_eq(query_stat(nv, RNDIS_OID_GEN_RCV_OK), 111);
	cr_expect_eq(query_stat(nv, RNDIS_OID_GEN_XMIT_ERROR), 0);
	cr_expect_eq(query_stat(nv, RNDIS_OID_GEN_RCV_ERROR), 0);
	cr_expect_eq(query_stat(nv, RNDIS_OID_GEN_RCV_NO_BUFFER), 0);
	netvsc_close(nv);
	host_stop();
}

/* The receive buffer the host writes into has a ceiling (the pages it
 * touches are charged to the host): a guest offering more is refused with a
 * reason, one at the ceiling is served. */
Test(netvsp, receive_buffer_size_bounded, .timeout = 30)
{
	char err[256], last[256];
	struct netvsc_config c = { .name = "vm-a", .recv_buf_size = NETVSP_RECV_BUF_MAX * 2 };
	struct netvsc *nv;

	host_start(0);
	c.path = H.path;
	cr_assert_null(netvsc_open(&c, err, sizeof(err)), "a 64 MiB receive buffer was taken");
	cr_expect(strstr(err, "refused the receive buffer"), "the guest said: %s", err);
	/* the host said why, and heard no revoke of a buffer it never took */
	usleep(100000);
	cr_expect_eq(host_stats(0, last, sizeof(last)).bad_nvsp, 1, "host said last: %s", last);
	cr_expect(strstr(last, "SEND_RECV_BUF refused: its size"), "host said: %s", last);
	c.name = "vm-b";
	c.recv_buf_size = NETVSP_RECV_BUF_MAX;
	nv = netvsc_open(&c, err, sizeof(err));
	cr_assert(nv, "a 32 MiB receive buffer: %s", err);
	roundtrip(nv, 100, 64 + 14);
	netvsc_close(nv);
	host_stop();
}

Test(netvsp, bring_up_query_keepalive_close, .timeout = 30)
{
	host_start(0);
	struct netvsc *nv = guest_ok("vm-a");
	uint8_t mac[6];

	mac_of(0, mac);
	cr_expect_arr_eq(nv->mac, mac, 6);
	cr_expect_eq(nv->mtu, 1500);
	cr_expect_eq(nv->link_speed, 100000000);
	cr_expect(nv->media_connected);
	cr_expect_eq(nv->version, NVSP_VERSION_61);
	cr_expect_eq(nv->section_size, NETVSP_SECTION_SIZE);
	cr_expect_eq(netvsc_keepalive(nv), 0, "%s", netvsc_last_error(nv));
	const struct rndis_oid_adapter *ad = netvsp_adapter(H.v[0]);

	pthread_mutex_lock(&H.mu);
	cr_expect(ad->initialized);
	cr_expect(ad->packet_filter & RNDIS_PACKET_TYPE_DIRECTED);
	cr_expect_eq(ad->offload.lsov2_ip4, RNDIS_OID_OFFLOAD_LSO_ON);
	pthread_mutex_unlock(&H.mu);
	roundtrip(nv, 100, 64 + 14);
	roundtrip(nv, 10, 9000); /* larger than a section: inline */
	cr_expect_gt(nv->st.tx_inline, 0);
	/* media state changes reach the guest */
	pthread_mutex_lock(&H.mu);
	netvsp_indicate(H.v[0], RNDIS_STATUS_MEDIA_DISCONNECT);
	pthread_mutex_unlock(&H.mu);
	cr_expect_eq(netvsc_keepalive(nv), 0);
	cr_expect(!nv->media_connected);
	netvsc_close(nv);
	usleep(100000);
	struct netvsp_stats st = host_stats(0, NULL, 0);

	cr_expect_eq(st.bad_nvsp + st.bad_rndis + st.bad_section + st.bad_completion, 0,
	             "a well-behaved guest got reports: %s", netvsp_last_error(H.v[0]));
	cr_expect_eq(st.rx_frames, 110);
	cr_expect_eq(st.tx_frames, 110);
	host_stop();
}

Test(netvsp, version_matrix, .timeout = 60)
{
	static const uint32_t host_max[] = { NVSP_VERSION_1, NVSP_VERSION_2, NVSP_VERSION_4,
		                             NVSP_VERSION_5, NVSP_VERSION_61 };
	static const uint32_t g[][2] = { { NVSP_VERSION_1, NVSP_VERSION_1 },
		                         { NVSP_VERSION_1, NVSP_VERSION_61 },
		                         { NVSP_VERSION_4, NVSP_VERSION_61 },
		                         { NVSP_VERSION_5, NVSP_VERSION_5 },
		                         { NVSP_VERSION_61, NVSP_VERSION_61 } };

	for (unsigned int h = 0; h < sizeof(host_max) / sizeof(host_max[0]); h++) {
		for (unsigned int k = 0; k < sizeof(g) / sizeof(g[0]); k++) {
			uint32_t want = 0;
			char err[256];

			for (unsigned int i = 0; i < NVSP_NVERSIONS; i++)
				if (nvsp_versions[i] >= g[k][0] && nvsp_versions[i] <= g[k][1] &&
				    nvsp_versions[i] <= host_max[h])
					want = nvsp_versions[i];
			host_start(host_max[h]);
			struct netvsc *nv = guest("vm-v", g[k][0], g[k][1], err, sizeof(err));

			if (want) {
				cr_assert(nv, "host %#x guest %#x..%#x: %s", host_max[h], g[k][0],
				          g[k][1], err);
				cr_expect_eq(nv->version, want);
				roundtrip(nv, 3, 100);
				if (want < NVSP_VERSION_4)
					cr_expect_eq(netvsc_switch_datapath(nv, NVSP_DATAPATH_VF),
					             -ENOTSUP);
				else
					cr_expect_eq(netvsc_switch_datapath(nv, NVSP_DATAPATH_VF),
					             0);
			} else {
				cr_assert_null(nv, "host %#x guest %#x..%#x: opened", host_max[h],
				               g[k][0], g[k][1]);
				cr_expect(strstr(err, "no common version"), "%s", err);
			}
			netvsc_close(nv);
			host_stop();
		}
	}
}

/* ---- 10 million frames, host in another process ---- */

static volatile sig_atomic_t g_term;

static void on_term(int sig)
{
	(void)sig;
	g_term = 1;
	H.stop = 1;
}

static int host_process_main(void *arg)
{
	(void)arg;
	signal(SIGTERM, on_term);
	pthread_mutex_init(&H.mu, NULL);
	host_main(&H);
	for (unsigned int i = 0; i < H.nvm; i++) {
		struct netvsp_stats st;

		netvsp_get_stats(H.v[i], &st);
		if (st.bad_nvsp || st.bad_rndis || st.bad_section || st.bad_completion)
			return 3;
	}
	return 0;
}

/* Frames of @len_of(seq) bytes guest -> host -> guest through NetVSC and a
 * NetVSP host process, each checked on arrival (every byte of one in
 * @full_every, header and tail of the others): none lost, reordered or bad. */
static void stream_frames(const char *vm, uint64_t count, uint32_t (*len_of)(uint64_t),
                          unsigned int full_every, uint32_t recv_buf_size)
{
	char err[256];
	struct netvsc_config c = { .name = vm, .recv_buf_size = recv_buf_size };
	uint64_t sent = 0, got = 0, last = util_now_ns();
	/* frames in flight: with a small receive buffer, fewer than it holds
	 * (the loop-back host waits for room in it: netvsp.h, "Back-pressure") */
	const uint64_t window = recv_buf_size ? recv_buf_size / 512 : 8192;
	static uint8_t buf[PORT_BURST][1600];
	struct port_pkt tx[PORT_BURST], rx[PORT_BURST];
	pid_t pid;
	struct netvsc *nv;

	memset(&H, 0, sizeof(H));
	H.path = th_sock_path();
	H.lfd = vmbus_listen(H.path);
	cr_assert(H.lfd >= 0);
	pid = th_spawn(host_process_main, NULL);
	c.path = H.path;
	nv = netvsc_open(&c, err, sizeof(err));
	cr_assert(nv, "netvsc_open: %s", err);
	while (got < count) {
		if (sent < count && sent - got < window) {
			unsigned int n =
			    count - sent < PORT_BURST ? (unsigned int)(count - sent) : PORT_BURST;

			for (unsigned int i = 0; i < n; i++) {
				uint64_t s = sent + i;
				uint32_t len = len_of(s);

				memcpy(buf[i], nv->mac, 6);
				memcpy(buf[i] + 6, nv->mac, 6);
				buf[i][12] = 0x88, buf[i][13] = 0xb5;
				util_frame_fill(buf[i] + 14, len - 14, s, 0,
				                s % full_every ? UTIL_FRAME_QUICK
				                               : UTIL_FRAME_FULL);
				tx[i] = (struct port_pkt){ .data = buf[i], .len = len };
			}
			int r = netvsc_tx_burst(nv, tx, n);

			cr_assert(r >= 0, "tx: %s", netvsc_last_error(nv));
			sent += (unsigned int)r;
		}
		int r = netvsc_rx_burst(nv, rx, PORT_BURST);

		cr_assert(r >= 0, "rx: %s", netvsc_last_error(nv));
		cr_assert_eq(nv->st.rx_errors, 0, "a received message did not decode");
		if (r)
			last = util_now_ns();
		cr_assert(util_now_ns() - last < 10000000000ull,
		          "nothing arrived for 10 s at frame %llu", (unsigned long long)got);
		for (int i = 0; i < r; i++, got++) {
			uint64_t seq;
			uint32_t flow;

			cr_assert_eq(rx[i].len, len_of(got), "frame %llu: %u bytes",
			             (unsigned long long)got, rx[i].len);
			cr_assert_eq(
			    util_frame_check(rx[i].data + 14, rx[i].len - 14, &seq, &flow,
			                     got % full_every ? UTIL_FRAME_QUICK : UTIL_FRAME_FULL),
			    0, "frame %llu corrupt", (unsigned long long)got);
			cr_assert_eq(seq, got, "frame %llu: got sequence %llu (lost or reordered)",
			             (unsigned long long)got, (unsigned long long)seq);
		}
		if (!r && sent - got >= window)
			netvsc_wait(nv, NETVSC_EV_RX, 10);
	}
	cr_expect_eq(nv->st.rx_errors, 0);
	cr_expect_eq(nv->st.bad_completions, 0);
	netvsc_close(nv);
	kill(pid, SIGTERM);
	cr_expect_eq(th_wait(pid), 0, "the host counted a bad message");
	close(H.lfd);
	unlink(H.path);
}

static uint32_t len_spread(uint64_t s)
{
	return 60 + (uint32_t)((s * 7919) % 1455); /* 60..1514 */
}

Test(netvsp, ten_million_frames_guest_host_guest, .timeout = 900)
{
	stream_frames("vm-stream", th_env_u64("IOVPATH_TEST_PACKETS", 10000000), len_spread, 64, 0);
}

/* Runs of small frames (the host stages them and copies each run into the
 * receive buffer as one block) between runs of large ones (written in
 * place), across many wraps of the receive buffer: every byte checked. */
static uint32_t len_runs(uint64_t s)
{
	return (s / 37) % 3 ? 60 + (uint32_t)(s % 153) : 213 + (uint32_t)((s * 7919) % 1302);
}

Test(netvsp, small_frames_staged_between_large_ones_arrive_whole, .timeout = 300)
{
	stream_frames("vm-runs", 300000, len_runs, 1, 0);
}

/* Small frames of every staged size (spans of 128 to 256 bytes) through the
 * smallest receive buffer NetVSP takes: ~1000 wraps, every way a burst's
 * messages can meet the buffer's end; every byte checked. */
static uint32_t len_small(uint64_t s)
{
	uint64_t h = (s + 1) * 0x9e3779b97f4a7c15ull; /* no period the buffer's size shares */

	return 60 + (uint32_t)((h ^ h >> 29) % 153); /* 60..212: 104..256 bytes with RNDIS */
}

Test(netvsp, small_frames_through_the_smallest_receive_buffer, .timeout = 300)
{
	stream_frames("vm-small", 400000, len_small, 1, NETVSP_RECV_BUF_MIN);
}

Test(netvsp, section_exhaustion_then_back_pressure, .timeout = 60)
{
	host_start(0);
	struct netvsc *nv = guest_ok("vm-x");
	static uint8_t f[1000];
	struct port_pkt p = { .data = f, .len = mkframe(f, nv, sizeof(f), 0) };
	struct port_pkt rx[PORT_BURST];
	uint64_t sent = 0, got = 0;

	H.stall = 1; /* the host takes nothing: sections are not completed */
	for (int t = 0; t < 1000000; t++) {
		util_frame_fill(f + 14, sizeof(f) - 14, sent, 0, UTIL_FRAME_FULL);
		int r = netvsc_tx_burst(nv, &p, 1);

		cr_assert(r >= 0);
		if (!r)
			break;
		sent++;
	}
	cr_expect_gt(nv->st.tx_sections, 0);
	cr_expect_gt(nv->st.tx_inline, 0, "no inline fallback when the sections ran out");
	cr_expect_gt(nv->st.tx_send_full, 0, "no back-pressure");
	H.stall = 0;
	for (int t = 0; got < sent && t < 100000; t++) {
		int r = netvsc_rx_burst(nv, rx, PORT_BURST);

		for (int i = 0; i < r; i++, got++) {
			uint64_t seq;
			uint32_t flow;

			cr_assert_eq(util_frame_check(rx[i].data + 14, rx[i].len - 14, &seq, &flow,
			                              UTIL_FRAME_FULL),
			             0);
			cr_assert_eq(seq, got);
		}
		if (!r)
			netvsc_wait(nv, NETVSC_EV_RX, 5);
	}
	cr_expect_eq(got, sent, "%llu frames accepted, %llu came back", (unsigned long long)sent,
	             (unsigned long long)got);
	roundtrip(nv, 100, 200); /* sections are back */
	netvsc_close(nv);
	host_stop();
}

/* Frames netvsc_rx_burst hands out stay the application's until its next
 * netvsc_rx_burst (netvsc.h), however often it polls meanwhile: their
 * transfer is not completed, so the host does not write over them. */
Test(netvsp, received_frames_outlive_netvsc_poll, .timeout = 60)
{
	host_start(0);
	char err[256];
	struct netvsc_config c = { .path = H.path, .name = "vm-keep", .recv_buf_size = 64u << 10 };
	struct netvsc *nv = netvsc_open(&c, err, sizeof(err));
	static uint8_t f[1000], keep[1000];
	struct port_pkt p = { .data = f, .len = sizeof(f) }, rx[PORT_BURST];
	int r = 0;

	cr_assert(nv, "netvsc_open: %s", err);
	mkframe(f, nv, sizeof(f), 1);
	cr_assert_eq(netvsc_tx_burst(nv, &p, 1), 1);
	for (int t = 0; t < 5000 && (r = netvsc_rx_burst(nv, rx, PORT_BURST)) == 0; t++)
		usleep(200);
	cr_assert_eq(r, 1);
	memcpy(keep, rx[0].data, rx[0].len);
	/* more than the 64 KiB buffer holds comes back while only polling */
	for (uint64_t s = 2; s < 200; s++) {
		mkframe(f, nv, sizeof(f), s);
		for (int t = 0; t < 1000 && netvsc_tx_burst(nv, &p, 1) != 1; t++)
			netvsc_poll(nv);
		netvsc_poll(nv);
	}
	for (int t = 0; t < 200; t++) {
		netvsc_poll(nv);
		usleep(500);
	}
	cr_expect_eq(memcmp(keep, rx[0].data, sizeof(keep)), 0,
	             "a frame handed out was written over before the next netvsc_rx_burst");
	netvsc_close(nv);
	host_stop();
}

/* ---- hostile guests: A misbehaves, B is served throughout ---- */

static struct netvsc *A, *B;

static void hostile_setup(void)
{
	host_start(0);
	A = guest_ok("vm-hostile");
	B = guest_ok("vm-good");
}

static void hostile_teardown(void)
{
	netvsc_close(A);
	netvsc_close(B);
	host_stop();
}

/* After a hostile message: A is still served (a keepalive and frames round
 * trip), and so is B; the host counted it and said why. */
static void after(uint64_t(get)(const struct netvsp_stats *), const char *why)
{
	char last[256];

	cr_assert_eq(netvsc_keepalive(A), 0, "A lost service: %s", netvsc_last_error(A));
	struct netvsp_stats st = host_stats(0, last, sizeof(last));

	cr_expect_eq(get(&st), 1, "the host did not count it (last report: %s)", last);
	cr_expect(strstr(last, why), "report \"%s\" does not say \"%s\"", last, why);
	roundtrip(A, 20, 300);
	roundtrip(B, 20, 300);
}

static uint64_t g_nvsp(const struct netvsp_stats *s)
{
	return s->bad_nvsp;
}
static uint64_t g_rndis(const struct netvsp_stats *s)
{
	return s->bad_rndis;
}
static uint64_t g_section(const struct netvsp_stats *s)
{
	return s->bad_section;
}
static uint64_t g_comp(const struct netvsp_stats *s)
{
	return s->bad_completion;
}

/* An inline SEND_RNDIS_PKT carrying @rlen RNDIS bytes. */
static void send_inline(struct netvsc *nv, uint32_t chan, const void *rndis, uint32_t rlen)
{
	static uint8_t m[NVSP_MSG_SIZE + 4096];

	memset(m, 0, NVSP_MSG_SIZE);
	nvsp_encode_rndis_pkt(m, NVSP_MSG_SIZE, chan, NVSP_SECTION_NONE, 0);
	memcpy(m + NVSP_MSG_SIZE, rndis, rlen);
	cr_assert_eq(netvsc_send_raw(nv, VMBUS_PKT_DATA_INBAND, VMBUS_PKT_F_COMPLETION_REQUESTED,
	                             0x7777, m, NVSP_MSG_SIZE + rlen),
	             0);
}

/* A valid PACKET_MSG (to ourselves) in @buf; returns its length. */
static uint32_t good_packet(struct netvsc *nv, uint8_t *buf)
{
	int hl = rndis_encode_packet(buf, 256, NULL, 100);

	mkframe(buf + hl, nv, 100, 1);
	return (uint32_t)hl + 100;
}

Test(hostile, unknown_nvsp_type, .init = hostile_setup, .fini = hostile_teardown, .timeout = 30)
{
	uint32_t m[10] = { 999 };

	cr_assert_eq(netvsc_send_raw(A, VMBUS_PKT_DATA_INBAND, 0, 0, m, sizeof(m)), 0);
	after(g_nvsp, "NVSP message dropped");
}

Test(hostile, truncated_nvsp, .init = hostile_setup, .fini = hostile_teardown, .timeout = 30)
{
	uint32_t m[2] = { NVSP_TYPE_SEND_RNDIS_PKT, 0 };

	cr_assert_eq(netvsc_send_raw(A, VMBUS_PKT_DATA_INBAND, 0, 0, m, sizeof(m)), 0);
	after(g_nvsp, "NVSP message dropped");
}

Test(hostile, rndis_length_overflow, .init = hostile_setup, .fini = hostile_teardown, .timeout = 30)
{
	uint8_t r[256];
	uint32_t len = good_packet(A, r), huge = 0xfffffff0u;

	memcpy(r + 4, &huge, 4); /* msg_len far past the transfer */
	send_inline(A, NVSP_CHANNEL_DATA, r, len);
	after(g_rndis, "data transfer dropped");
}

Test(hostile, rndis_offset_outside_message, .init = hostile_setup, .fini = hostile_teardown,
     .timeout = 30)
{
	uint8_t r[256];
	uint32_t len = good_packet(A, r), off = 4000;

	memcpy(r + 8, &off, 4); /* data_offset */
	send_inline(A, NVSP_CHANNEL_DATA, r, len);
	after(g_rndis, "data transfer dropped");
}

Test(hostile, ppi_past_message, .init = hostile_setup, .fini = hostile_teardown, .timeout = 30)
{
	uint8_t r[256];
	struct rndis_pkt_info pi = { .present = RNDIS_PI_CSUM, .csum = 0 };
	int hl = rndis_encode_packet(r, sizeof(r), &pi, 100);
	uint32_t ppi_len = 200;

	mkframe(r + hl, A, 100, 1);
	memcpy(r + 32, &ppi_len, 4); /* ppi_len runs past the message */
	send_inline(A, NVSP_CHANNEL_DATA, r, (uint32_t)hl + 100);
	after(g_rndis, "data transfer dropped");
}

Test(hostile, section_index_out_of_range, .init = hostile_setup, .fini = hostile_teardown,
     .timeout = 30)
{
	uint8_t m[NVSP_MSG_SIZE] = { 0 };

	nvsp_encode_rndis_pkt(m, sizeof(m), NVSP_CHANNEL_DATA, 99999, 100);
	cr_assert_eq(netvsc_send_raw(A, VMBUS_PKT_DATA_INBAND, VMBUS_PKT_F_COMPLETION_REQUESTED,
	                             0x7777, m, sizeof(m)),
	             0);
	after(g_section, "section 99999");
}

Test(hostile, section_size_too_large, .init = hostile_setup, .fini = hostile_teardown,
     .timeout = 30)
{
	uint8_t m[NVSP_MSG_SIZE] = { 0 };

	nvsp_encode_rndis_pkt(m, sizeof(m), NVSP_CHANNEL_DATA, 0, NETVSP_SECTION_SIZE + 8);
	cr_assert_eq(netvsc_send_raw(A, VMBUS_PKT_DATA_INBAND, VMBUS_PKT_F_COMPLETION_REQUESTED,
	                             0x7777, m, sizeof(m)),
	             0);
	after(g_section, "section 0");
}

Test(hostile, oid_buffer_too_small_or_too_large, .init = hostile_setup, .fini = hostile_teardown,
     .timeout = 30)
{
	uint8_t small[2] = { 1, 0 }, large[64] = { 1 };

	cr_expect_eq(netvsc_set(A, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, small, sizeof(small)),
	             -EIO);
	cr_expect(strstr(netvsc_last_error(A), "0xc0010014"), "%s", netvsc_last_error(A));
	cr_expect_eq(netvsc_set(A, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, large, sizeof(large)),
	             -EIO);
	cr_expect(strstr(netvsc_last_error(A), "0xc0010014"), "%s", netvsc_last_error(A));
	/* an address SET is MAC spoofing: refused */
	cr_expect_eq(netvsc_set(A, RNDIS_OID_802_3_CURRENT_ADDRESS, "\x02\x00\x00\x00\x00\x99", 6),
	             -EIO);
	/* the filter is untouched: traffic still flows */
	roundtrip(A, 20, 300);
	roundtrip(B, 20, 300);
}

Test(hostile, completion_never_sent, .init = hostile_setup, .fini = hostile_teardown, .timeout = 30)
{
	uint8_t m[NVSP_MSG_SIZE] = { 0 };

	nvsp_encode_rndis_pkt_complete(m, sizeof(m), NVSP_STATUS_SUCCESS);
	cr_assert_eq(netvsc_send_raw(A, VMBUS_PKT_COMP, 0, 0x12345, m, sizeof(m)), 0);
	after(g_comp, "never sent");
}

Test(hostile, control_flood_is_bounded, .init = hostile_setup, .fini = hostile_teardown,
     .timeout = 60)
{
	uint8_t r[16];
	int n = rndis_encode_keepalive(r, sizeof(r), 42);
	unsigned int sent = 0;

	/* A floods keepalives and never reads the answers */
	for (; sent < 200000; sent++) {
		static uint8_t m[NVSP_MSG_SIZE + 16];

		memset(m, 0, NVSP_MSG_SIZE);
		nvsp_encode_rndis_pkt(m, NVSP_MSG_SIZE, NVSP_CHANNEL_CONTROL, NVSP_SECTION_NONE, 0);
		memcpy(m + NVSP_MSG_SIZE, r, (size_t)n);
		if (netvsc_send_raw(A, VMBUS_PKT_DATA_INBAND, 0, 0, m, NVSP_MSG_SIZE + (uint32_t)n))
			break; /* A's ring is full: the host stopped reading A */
	}
	cr_expect_lt(sent, 200000, "the host kept reading an unanswerable flood");
	/* B is served meanwhile */
	roundtrip(B, 200, 300);
	/* the host reads A's ring until its answers fill A's: then it stops */
	struct netvsp_stats st = host_stats(0, NULL, 0);

	for (int i = 0; i < 2000 && !st.ctl_throttled; i++) {
		usleep(1000);
		st = host_stats(0, NULL, 0);
	}
	cr_expect_gt(st.ctl_throttled, 0);
	/* A drains its answers: service resumes */
	for (int i = 0; i < 1000; i++) {
		netvsc_poll(A);
		usleep(1000);
		if (host_stats(0, NULL, 0).ctl_msgs >= sent)
			break;
	}
	cr_expect_geq(host_stats(0, NULL, 0).ctl_msgs, sent);
	cr_expect_eq(netvsc_keepalive(A), 0, "%s", netvsc_last_error(A));
}

/* A floods its control socket with GPADL teardowns of a handle it never
 * had: each is reported, one netvsp_poll handles at most NETVSP_CTL_BUDGET
 * of them (the rest at the next), B is served meanwhile, A afterwards. */
static volatile int flood_stop;

static void *flood_main(void *arg)
{
	uint32_t h = 0xdead;

	while (!flood_stop)
		vmbus_chan_send_ctl(arg, VMBUS_CTL_GPADL_TEARDOWN, 0, &h, 4, NULL, 0);
	return NULL;
}

Test(hostile, socket_flood_is_bounded, .init = hostile_setup, .fini = hostile_teardown,
     .timeout = 60)
{
	pthread_t th;

	pthread_mutex_lock(&H.mu);
	H.max_work[0] = 0;
	pthread_mutex_unlock(&H.mu);
	flood_stop = 0;
	pthread_create(&th, NULL, flood_main, netvsc_chan(A));
	usleep(300000);
	roundtrip(B, 200, 300);
	flood_stop = 1;
	pthread_join(th, NULL);
	struct netvsp_stats st = host_stats(0, NULL, 0);

	cr_expect_gt(st.bad_nvsp, NETVSP_CTL_BUDGET, "the flood was read and counted");
	pthread_mutex_lock(&H.mu);
	cr_expect_leq(H.max_work[0], (int)(NETVSP_CTL_BUDGET + NETVSP_POLL_BUDGET),
	              "one netvsp_poll handled %d messages", H.max_work[0]);
	pthread_mutex_unlock(&H.mu);
	cr_expect_eq(netvsc_keepalive(A), 0, "A lost service: %s", netvsc_last_error(A));
	roundtrip(A, 20, 300);
}

/* A transfer of a good frame and one whose LSO info does not fit it, while
 * the host's switch takes nothing for a while (the transfer is offered
 * again on every poll): the bad frame is reported once, the good one
 * delivered once. */
Test(hostile, bad_frame_reported_once_under_back_pressure, .init = hostile_setup,
     .fini = hostile_teardown, .timeout = 30)
{
	static uint8_t r[1024];
	uint32_t len = good_packet(A, r);
	struct rndis_pkt_info pi = { .present = RNDIS_PI_LSO, .lso = rndis_lso2_info(2, 1000, 0) };
	int hl = rndis_encode_packet(r + len, 256, &pi, 100);
	struct port_pkt pk[PORT_BURST];
	unsigned int got = 0;

	cr_assert_gt(hl, 0);
	mkframe(r + len + hl, A, 100, 2);
	len += (uint32_t)hl + 100;
	H.stall = 1;
	send_inline(A, NVSP_CHANNEL_DATA, r, len);
	for (int i = 0; i < 200 && host_stats(0, NULL, 0).rx_pending < 50; i++)
		usleep(1000);
	cr_assert_geq(host_stats(0, NULL, 0).rx_pending, 50, "offered again and again");
	H.stall = 0;
	for (int t = 0; t < 2000 && got < 2; t++) {
		int n = netvsc_rx_burst(A, pk, PORT_BURST);

		cr_assert(n >= 0);
		got += (unsigned int)n;
		if (!n)
			netvsc_wait(A, NETVSC_EV_RX, 5);
	}
	cr_expect_eq(got, 1, "the good frame, once");
	cr_expect_eq(host_stats(0, NULL, 0).bad_offload, 1);
	roundtrip(B, 20, 300);
}

Test(hostile, message_before_init_closes_only_that_channel, .timeout = 30)
{
	host_start(0);
	B = guest_ok("vm-good");
	struct vmbus_client_opts co = { .name = "vm-early" };
	char err[256];
	struct vmbus_chan *ch = vmbus_chan_connect(H.path, &co, err, sizeof(err));
	uint8_t m[NVSP_MSG_SIZE] = { 0 };
	struct iovec iov = { m, sizeof(m) };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };

	cr_assert(ch, "%s", err);
	nvsp_encode_rndis_pkt(m, sizeof(m), NVSP_CHANNEL_DATA, 0, 64);
	cr_assert_eq(vmbus_chan_send(ch, &tx, 1), 1);
	cr_expect_eq(vmbus_chan_wait(ch, VMBUS_EV_RX, 0, 5000), -EPIPE,
	             "the host did not close the channel");
	for (int i = 0; i < 100 && H.rc[1] >= 0; i++)
		usleep(10000);
	cr_expect_eq(H.rc[1], -EPROTO);
	cr_expect(strstr(netvsp_last_error(H.v[1]), "before INIT"), "%s",
	          netvsp_last_error(H.v[1]));
	roundtrip(B, 50, 300);
	vmbus_chan_close(ch);
	netvsc_close(B);
	host_stop();
}

/* A GPADL announced with a handle the VM already has, in a slot before the
 * one that holds it (a teardown freed an earlier slot): the host closes A's
 * channel (two buffers behind one handle), B is served. */
Test(hostile, gpadl_handle_used_twice_in_a_freed_slot, .timeout = 30)
{
	struct vmbus_gpadl g[3];
	uint32_t h = 0x5100;

	host_start(0);
	A = guest_ok("vm-hostile");
	B = guest_ok("vm-good");
	/* A holds its two buffers' GPADLs; two more, the first torn down */
	cr_assert_eq(vmbus_gpadl_create(netvsc_chan(A), 0x5100, 4096, &g[0]), 0);
	cr_assert_eq(vmbus_gpadl_create(netvsc_chan(A), 0x5101, 4096, &g[1]), 0);
	cr_assert_eq(netvsc_keepalive(A), 0, "%s", netvsc_last_error(A));
	cr_assert_eq(vmbus_chan_send_ctl(netvsc_chan(A), VMBUS_CTL_GPADL_TEARDOWN, 0, &h, 4, NULL,
	                                 0),
	             0);
	cr_assert_eq(netvsc_keepalive(A), 0, "%s", netvsc_last_error(A));
	cr_assert_eq(vmbus_gpadl_create(netvsc_chan(A), 0x5101, 4096, &g[2]), 0);
	for (int i = 0; i < 200 && H.rc[0] >= 0; i++) {
		netvsc_poll(A);
		usleep(10000);
	}
	cr_expect_eq(H.rc[0], -EPROTO, "the host kept A's channel");
	cr_expect(strstr(netvsp_last_error(H.v[0]), "used twice"), "%s",
	          netvsp_last_error(H.v[0]));
	roundtrip(B, 50, 300);
	for (int i = 0; i < 3; i++)
		vmbus_gpadl_release(&g[i]);
	hostile_teardown();
}

/* A burst whose first small message does not fit before the receive
 * buffer's end (so it is placed at the start) and whose second would: both
 * arrive whole, in order (found in review: the burst's window stayed at the
 * end after the skip, and the second message overwrote the first's bytes). */
Test(netvsp, small_messages_across_the_buffer_end, .timeout = 60)
{
	host_start(0);
	char err[256];
	struct netvsc_config c = { .path = H.path, .name = "vm-w", .recv_buf_size = 64u << 10 };
	struct netvsc *nv = netvsc_open(&c, err, sizeof(err));
	static uint8_t f[2][256];
	struct port_pkt pk[PORT_BURST];
	unsigned int got = 0;

	cr_assert(nv, "netvsc_open: %s", err);
	/* 511 messages of 44 + 60 bytes, 128 apart: the head 128 bytes before
	 * the end of the 64 KiB buffer; their completions reach the host */
	for (int k = 0; k < 511; k++)
		roundtrip(nv, 1, 60);
	for (int t = 0; t < 200; t++) {
		netvsc_poll(nv);
		usleep(1000);
	}
	struct port_pkt tx[2] = { { .data = f[0], .len = mkframe(f[0], nv, 148, 1000) },
		                  { .data = f[1], .len = mkframe(f[1], nv, 60, 1001) } };

	cr_assert_eq(netvsc_tx_burst(nv, tx, 2), 2);
	for (int t = 0; t < 2000 && got < 2; t++) {
		int r = netvsc_rx_burst(nv, pk, PORT_BURST);

		cr_assert(r >= 0, "rx: %s", netvsc_last_error(nv));
		for (int i = 0; i < r; i++, got++) {
			uint64_t seq;
			uint32_t flow;

			cr_assert_eq(pk[i].len, got ? 60u : 148u, "frame %u", got);
			cr_assert_eq(util_frame_check(pk[i].data + 14, pk[i].len - 14, &seq, &flow,
			                              UTIL_FRAME_FULL),
			             0, "frame %u corrupt", got);
			cr_assert_eq(seq, 1000 + got);
		}
		if (!r)
			netvsc_wait(nv, NETVSC_EV_RX, 5);
	}
	cr_expect_eq(got, 2);
	cr_expect_eq(nv->st.rx_errors, 0);
	struct netvsp_stats st = host_stats(0, NULL, 0);

	cr_expect_eq(st.tx_no_room, 0, "the burst went out in one call, as meant");
	cr_expect_eq(st.rx_pending, 0);
	netvsc_close(nv);
	host_stop();
}

/* The receive-buffer allocator: in order, no range split by the end of the
 * buffer, space back only on completion, an aborted record undone. */
Test(rxbuf, wrap_abort_complete, .timeout = 10)
{
	struct netvsp_rxbuf rb;
	uint32_t off, id1, id2;

	netvsp_rxbuf_init(&rb, 1000); /* 960 usable: 15 lines */
	cr_assert_eq(rb.size, 960);
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 0, &off), -ENOSPC);
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 961, &off), -ENOSPC);
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 100, &off), 0);
	cr_assert_eq(off, 0);
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 600, &off), 0);
	cr_assert_eq(off, 128);
	id1 = netvsp_rxbuf_commit(&rb);
	cr_assert_neq(id1, 0);
	cr_assert_eq(netvsp_rxbuf_commit(&rb), 0, "nothing new");
	/* 768 of 960 used: 192 left at the end, none at the start */
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 200, &off), -ENOSPC);
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 192, &off), 0);
	cr_assert_eq(off, 768);
	netvsp_rxbuf_abort(&rb);
	cr_assert_eq(netvsp_rxbuf_used(&rb), 768);
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 130, &off), 0);
	cr_assert_eq(off, 768);
	id2 = netvsp_rxbuf_commit(&rb);
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 64, &off), -ENOSPC, "full until a completion");
	cr_assert_eq(netvsp_rxbuf_complete(&rb, id2), 0);
	cr_assert_eq(netvsp_rxbuf_used(&rb), 960, "out of order: reclaimed after id1");
	cr_assert_eq(netvsp_rxbuf_complete(&rb, id2), -ENOENT, "twice");
	cr_assert_eq(netvsp_rxbuf_complete(&rb, id1), 0);
	cr_assert_eq(netvsp_rxbuf_used(&rb), 0);
	/* empty, head at the buffer's start again */
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 500, &off), 0);
	cr_assert_eq(off, 0);
	cr_assert_eq(netvsp_rxbuf_complete(&rb, netvsp_rxbuf_commit(&rb)), 0);
	/* empty, head at 512: 448 bytes left at the end, a 512-byte range
	 * skips to the start */
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 500, &off), 0);
	cr_assert_eq(off, 0);
	cr_assert_eq(netvsp_rxbuf_used(&rb), 960, "the skipped end counts until reclaimed");
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 64, &off), -ENOSPC);
}

/* The burst window (netvsp_rxbuf_contig/take): the free bytes at the head up
 * to the buffer's end, never more than is free, none when every record slot
 * is in flight; what is taken is allocated like netvsp_rxbuf_alloc's. */
Test(rxbuf, contig_window_take, .timeout = 10)
{
	struct netvsp_rxbuf rb;
	uint32_t off, id, n = 0;

	netvsp_rxbuf_init(&rb, 960);
	cr_assert_eq(netvsp_rxbuf_contig(&rb, &off), 960);
	cr_assert_eq(off, 0);
	netvsp_rxbuf_take(&rb, 640);
	cr_assert_eq(netvsp_rxbuf_contig(&rb, &off), 320, "to the end");
	cr_assert_eq(off, 640);
	cr_assert_eq(netvsp_rxbuf_alloc(&rb, 64, &off), 0);
	cr_assert_eq(off, 640, "after what was taken");
	id = netvsp_rxbuf_commit(&rb);
	cr_assert_neq(id, 0);
	netvsp_rxbuf_take(&rb, 256); /* up to the end: the head back at 0 */
	cr_assert_eq(netvsp_rxbuf_used(&rb), 960);
	cr_assert_eq(netvsp_rxbuf_contig(&rb, &off), 0, "nothing free");
	cr_assert_eq(off, 0);
	netvsp_rxbuf_abort(&rb);
	cr_assert_eq(netvsp_rxbuf_contig(&rb, &off), 256, "an abort gives the take back");
	cr_assert_eq(off, 704);
	cr_assert_eq(netvsp_rxbuf_complete(&rb, id), 0);
	cr_assert_eq(netvsp_rxbuf_contig(&rb, &off), 256, "free at the start, not contiguous");
	netvsp_rxbuf_take(&rb, 256);
	cr_assert_eq(netvsp_rxbuf_contig(&rb, &off), 960 - 256, "wrapped: what is free");
	cr_assert_eq(off, 0);
	/* every record slot in flight: no window */
	netvsp_rxbuf_init(&rb, 1u << 20);
	while (netvsp_rxbuf_alloc(&rb, 64, &off) == 0 && netvsp_rxbuf_commit(&rb))
		n++;
	cr_assert_eq(n, UTIL_XID_SLOTS);
	cr_assert_eq(netvsp_rxbuf_contig(&rb, &off), 0);
}

/* The allocator against a model: every byte handed out (alloc or take) is
 * owned by its record until the guest completes that record, in any order;
 * no new range may overlap a byte still owned, nor leave the buffer. */
#define MODEL_MAX 8192
static uint32_t owner[MODEL_MAX]; /* 0: free; else record tag */

Test(rxbuf, model_out_of_order, .timeout = 60)
{
	for (unsigned int seed = 1; seed <= 100; seed++) {
		unsigned int rs = seed; /* rand_r's state: not the loop's counter */
		struct netvsp_rxbuf *rb = malloc(sizeof(*rb));
		uint32_t size = 1024 + (uint32_t)(rand_r(&rs) % (MODEL_MAX - 1024));
		uint32_t ids[64], tags[64], nout = 0, opentag = 1, nexttag = 2;

		cr_assert(rb);
		netvsp_rxbuf_init(rb, size);
		memset(owner, 0, sizeof(owner));
		for (int step = 0; step < 5000; step++) {
			int op = rand_r(&rs) % 10;
			uint32_t off, len;

			if (op < 3) {
				len = 1 + (uint32_t)(rand_r(&rs) % (size / 3));
				if (netvsp_rxbuf_alloc(rb, len, &off) == 0) {
					uint32_t sp = (uint32_t)netvsp_rxbuf_span(len);
					cr_assert(off + sp <= rb->size, "seed %u: out of buffer",
					          seed);
					for (uint32_t b = off; b < off + sp; b++) {
						cr_assert_eq(owner[b], 0,
						             "seed %u step %d: alloc [%u,+%u) over "
						             "byte %u of record %u",
						             seed, step, off, sp, b, owner[b]);
						owner[b] = opentag;
					}
				}
			} else if (op < 5) {
				uint32_t c = netvsp_rxbuf_contig(rb, &off);
				if (c >= 64) {
					uint32_t n = 64 * (1 + (uint32_t)(rand_r(&rs) % (c / 64)));
					for (uint32_t b = off; b < off + n; b++) {
						cr_assert(b < rb->size);
						cr_assert_eq(
						    owner[b], 0,
						    "seed %u step %d: take [%u,+%u) over byte %u",
						    seed, step, off, n, b);
						owner[b] = opentag;
					}
					netvsp_rxbuf_take(rb, n);
				}
			} else if (op == 5) {
				netvsp_rxbuf_abort(rb);
				for (uint32_t b = 0; b < rb->size; b++)
					if (owner[b] == opentag)
						owner[b] = 0;
			} else if (op < 8) {
				if (nout < 64) {
					uint32_t id = netvsp_rxbuf_commit(rb);
					if (id) {
						ids[nout] = id;
						tags[nout++] = opentag;
						opentag = nexttag++;
					}
				}
			} else if (nout) {
				uint32_t k = (uint32_t)rand_r(&rs) % nout;
				cr_assert_eq(netvsp_rxbuf_complete(rb, ids[k]), 0);
				cr_assert_eq(netvsp_rxbuf_complete(rb, ids[k]), -ENOENT);
				for (uint32_t b = 0; b < rb->size; b++)
					if (owner[b] == tags[k])
						owner[b] = 0;
				ids[k] = ids[nout - 1];
				tags[k] = tags[--nout];
			}
		}
		free(rb);
	}
}
