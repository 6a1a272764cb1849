/* Live migration's messages (host/migrate.h): request and reply round-trip,
 * one malformed request per field class refused with a reason, counters
 * adding up across hosts and keeping only counters, the framing over a real
 * socket pair (a length out of range, a peer that goes silent or away), the
 * guest's MIGRATE control message (vmbus_migrate_decode), and the frames the
 * source forwards while the VM moves (only the VM's own unicast, in order,
 * waiting while the VM can't take them, a full queue counted, one hostile
 * frame header per field class). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/migrate.h"

static char err[160];

static struct migr_request sample(void)
{
	struct migr_request r = { .vlan = 7, .connects = 3, .migrations = 1 };

	memset(r.token, 0xab, sizeof(r.token));
	strcpy(r.source, "h1");
	strcpy(r.name, "vm1");
	memcpy(r.mac, "\x02\x00\x00\x00\x07\x01", 6);
	r.stats = json_pack("{s:{s:i, s:i}, s:{s:i, s:i}}", "synthetic", "tx_packets", 10,
	                    "rx_bytes", 640, "vf", "vf", 2, "vf_tx_packets", 5);
	return r;
}

Test(migrate, request_round_trip)
{
	struct migr_request r = sample(), d;
	size_t len;
	char *s = migr_request_encode(&r, &len);

	cr_assert_not_null(s);
	cr_assert_eq(migr_request_decode(s, len, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(memcmp(d.token, r.token, sizeof(r.token)), 0);
	cr_assert_str_eq(d.source, "h1");
	cr_assert_str_eq(d.name, "vm1");
	cr_assert_eq(memcmp(d.mac, r.mac, 6), 0);
	cr_assert_eq(d.vlan, 7);
	cr_assert_eq(d.connects, 3);
	cr_assert_eq(d.migrations, 1);
	cr_assert(json_equal(d.stats, r.stats));
	migr_request_release(&d);
	migr_request_release(&r);
	free(s);
}

Test(migrate, reply_round_trip)
{
	struct migr_reply p = { .ok = 1 }, d;
	size_t len;
	char *s;

	strcpy(p.host, "h2");
	strcpy(p.channel, "/run/iovpath/h2.vmbus");
	memset(p.secret, 0x5a, sizeof(p.secret));
	s = migr_reply_encode(&p, &len);
	cr_assert_eq(migr_reply_decode(s, len, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(memcmp(&d, &p, sizeof(p)), 0);
	free(s);
	memset(&p, 0, sizeof(p));
	strcpy(p.error, "host h2: a VM named vm1 exists");
	s = migr_reply_encode(&p, &len);
	cr_assert_eq(migr_reply_decode(s, len, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(d.ok, 0);
	cr_assert_str_eq(d.error, p.error);
	free(s);
}

/* The good request with @from replaced by @to must be refused, saying @why. */
static void refused(const char *from, const char *to, const char *why)
{
	struct migr_request r = sample(), d;
	size_t len;
	char *s = migr_request_encode(&r, &len), *at = strstr(s, from), bad[4096];

	cr_assert_not_null(at, "%s not in %s", from, s);
	snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	err[0] = '\0';
	cr_assert_eq(migr_request_decode(bad, strlen(bad), &d, err, sizeof(err)), -EPROTO,
	             "taken: %s", bad);
	cr_assert_not_null(strstr(err, why), "\"%s\" does not say \"%s\"", err, why);
	cr_assert_null(d.stats);
	migr_request_release(&r);
	free(s);
}

Test(migrate, hostile_requests_refused)
{
	refused("\"v\":1", "\"v\":2", "version");
	refused("\"v\":1", "\"v\":1,\"extra\":1", "unknown field");
	refused("abababab", "zzabab", "token");
	refused("\"source\":\"h1\"", "\"source\":\"H 1\"", "source");
	refused("\"name\":\"vm1\"", "\"name\":\"external\"", "name");
	refused("\"name\":\"vm1\"", "\"name\":\"vm1vm1vm1vm1vm1vm1vm1vm1vm1vm1vm1vm1\"", "name");
	refused("02:00:00:00:07:01", "03:00:00:00:07:01", "unicast");
	refused("02:00:00:00:07:01", "00:00:00:00:00:00", "unicast");
	refused("\"vlan\":7", "\"vlan\":4095", "vlan");
	refused("\"vlan\":7", "\"vlan\":7,\"policy\":0", "unknown field");
	refused("\"connects\":3", "\"connects\":-3", "connects");
	refused("\"v\":1", "\"v\":1,\"v\":1", "JSON");
}

Test(migrate, stats_must_be_an_object)
{
	static const char j[] =
	    "{\"v\":1,\"token\":\""
	    "0707070707070707070707070707070707070707070707070707070707070707"
	    "\",\"source\":\"h1\",\"port\":{\"name\":\"vm1\",\"mac\":\"02:00:00:00:07:01\","
	    "\"vlan\":0},\"state\":{\"connects\":0,\"migrations\":0,\"stats\":[1]}}";
	struct migr_request d;

	cr_assert_eq(migr_request_decode(j, strlen(j), &d, err, sizeof(err)), -EPROTO);
	cr_assert_not_null(strstr(err, "stats"), "%s", err);
}

Test(migrate, size_limits)
{
	struct migr_request d;
	char *big = malloc(MIGR_MSG_MAX + 2);

	memset(big, ' ', MIGR_MSG_MAX + 1);
	cr_assert_eq(migr_request_decode(big, MIGR_MSG_MAX + 1, &d, err, sizeof(err)), -EPROTO);
	cr_assert_not_null(strstr(err, "bytes"));
	cr_assert_eq(migr_request_decode(big, 0, &d, err, sizeof(err)), -EPROTO);
	free(big);
}

Test(migrate, counters_add_up_and_stay_counters)
{
	json_t *acc = json_object();
	json_t *h1 = json_pack("{s:{s:i, s:s}, s:{s:i, s:i}, s:b}", "synthetic", "tx_packets", 10,
	                       "note", "text", "vf", "vf", 3, "vf_tx_packets", 4, "flag", 1);
	json_t *h2 = json_pack("{s:{s:i, s:i}, s:{s:{s:{s:{s:i}}}}}", "synthetic", "tx_packets", 5,
	                       "rx_packets", -1, "deep", "a", "b", "c", "d", 1);

	migr_counters_add(acc, h1, 0);
	migr_counters_add(acc, h2, 0);
	cr_assert_eq(
	    json_integer_value(json_object_get(json_object_get(acc, "synthetic"), "tx_packets")),
	    15);
	cr_assert_null(json_object_get(json_object_get(acc, "synthetic"), "note"));
	cr_assert_null(json_object_get(json_object_get(acc, "synthetic"), "rx_packets"));
	cr_assert_null(json_object_get(json_object_get(acc, "vf"), "vf"), "an index is no counter");
	cr_assert_eq(
	    json_integer_value(json_object_get(json_object_get(acc, "vf"), "vf_tx_packets")), 4);
	cr_assert_null(json_object_get(acc, "flag"));
	/* deeper than MIGR_COUNTER_DEPTH: left out */
	json_t *c = json_object_get(
	    json_object_get(json_object_get(json_object_get(acc, "deep"), "a"), "b"), "c");
	cr_assert(!c || !json_object_get(c, "d"));
	json_decref(acc);
	json_decref(h1);
	json_decref(h2);
}

Test(migrate, framing_over_a_socket)
{
	int sv[2];
	char buf[MIGR_MSG_MAX + 1];
	const char *msg = "{\"v\":1}";
	uint8_t huge[4] = { 0, 0, 0x40, 0x01 }; /* MIGR_MSG_MAX + 1 */

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(migr_send(sv[0], msg, strlen(msg)), 0);
	cr_assert_eq(migr_recv(sv[1], buf, 1000), (int)strlen(msg));
	cr_assert_str_eq(buf, msg);
	cr_assert_eq(migr_send(sv[0], msg, 0), -EMSGSIZE);
	cr_assert_eq(write(sv[0], huge, 4), 4);
	cr_assert_eq(migr_recv(sv[1], buf, 1000), -EMSGSIZE);
	cr_assert_eq(write(sv[0], "\0\0\0\x10{", 5), 5); /* 16 bytes promised, 1 sent */
	cr_assert_eq(migr_recv(sv[1], buf, 50), -ETIMEDOUT);
	close(sv[0]);
	cr_assert_eq(migr_recv(sv[1], buf, 1000), -EPIPE);
	close(sv[1]);
}

Test(migrate, addresses)
{
	struct sockaddr_in sa;

	cr_assert_eq(migr_addr_parse("127.0.0.1:4242", &sa), 0);
	cr_assert_eq(ntohs(sa.sin_port), 4242);
	cr_assert_eq(migr_addr_parse("127.0.0.1", &sa), -EINVAL);
	cr_assert_eq(migr_addr_parse("127.0.0.1:70000", &sa), -EINVAL);
	cr_assert_eq(migr_addr_parse("localhost:1", &sa), -EINVAL);
	cr_assert_eq(migr_addr_parse(":1", &sa), -EINVAL);
}

Test(migrate, guest_control_message)
{
	struct vmbus_ctl_msg m = { .hdr = { .magic = VMBUS_CTL_MAGIC,
		                            .type = VMBUS_CTL_MIGRATE,
		                            .len = sizeof(struct vmbus_migrate) } };
	struct vmbus_migrate g = { 0 }, out;

	strcpy(g.host, "h2");
	strcpy(g.name, "vm1");
	strcpy(g.channel, "/run/iovpath/h2.vmbus");
	memcpy(m.payload, &g, sizeof(g));
	cr_assert_eq(vmbus_migrate_decode(&m, 0, &out, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(out.channel, g.channel);
	cr_assert_eq(vmbus_migrate_decode(&m, 1, &out, err, sizeof(err)), -EPROTO, "a descriptor");
	memset(((struct vmbus_migrate *)m.payload)->name, 'x', VMBUS_NAME_MAX);
	cr_assert_eq(vmbus_migrate_decode(&m, 0, &out, err, sizeof(err)), -EPROTO, "no NUL");
	cr_assert_eq(out.name[0], 0, "nothing of a refused message is kept");
	memcpy(m.payload, &g, sizeof(g));
	((struct vmbus_migrate *)m.payload)->channel[0] = 'r';
	cr_assert_eq(vmbus_migrate_decode(&m, 0, &out, err, sizeof(err)), -EPROTO, "relative");
	m.hdr.len--;
	cr_assert_eq(vmbus_migrate_decode(&m, 0, &out, err, sizeof(err)), -EPROTO, "short");
}

/* ---- frames forwarded while the VM moves ---- */

static const uint8_t VM_MAC[6] = { 0x02, 0, 0, 0, 0x07, 0x01 };

struct got {
	unsigned int n, take; /* frames kept; at most @take more (UINT_MAX: all) */
	uint8_t data[8][2048];
	uint32_t len[8];
	struct virtio_net_hdr vnet[8];
};

static unsigned int keep(void *ctx, const struct vsw_frame *f, unsigned int n)
{
	struct got *g = ctx;
	unsigned int i;

	for (i = 0; i < n && g->take && g->n < 8; i++, g->take--, g->n++) {
		memcpy(g->data[g->n], f[i].data, f[i].len);
		g->len[g->n] = f[i].len;
		g->vnet[g->n] = f[i].vnet;
	}
	return i;
}

static struct vsw_frame frame_to(uint8_t *buf, const uint8_t *dst, uint32_t len, uint8_t tag)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, "\x02\0\0\0\x09\x09", 6);
	memset(buf + 12, tag, len - 12);
	return (struct vsw_frame){ .data = buf, .len = len };
}

Test(migrate, forwarded_frames_arrive_in_order)
{
	static uint8_t b[6][1600];
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0x07, 0x02 };
	struct vsw_frame f[6] = {
		frame_to(b[0], VM_MAC, 60, 1),   frame_to(b[1], bcast, 60, 2),
		frame_to(b[2], VM_MAC, 1514, 3), frame_to(b[3], other, 60, 4),
		frame_to(b[4], VM_MAC, 60, 5),   frame_to(b[5], VM_MAC, 200, 6),
	};
	struct got g = { .take = ~0u };
	struct migr_fwd_stats st;
	int sv[2];

	f[2].vnet = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		                             .csum_start = 34,
		                             .csum_offset = 16 };
	f[4].flags = VSW_F_VLAN; /* a VM's port never has it so: left out */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct migr_fwd *src = migr_fwd_new(sv[0], MIGR_FWD_OUT_BUF);
	struct migr_fwd *dst = migr_fwd_new(sv[1], MIGR_FWD_IN_BUF);

	cr_assert(src && dst);
	cr_assert_eq(migr_fwd_put(src, VM_MAC, f, 6), 3, "only the VM's own unicast goes");
	cr_assert(migr_fwd_pending(src));
	cr_assert_eq(migr_fwd_flush(src), 0);
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), 3);
	cr_assert_eq(g.n, 3);
	cr_assert_eq(g.len[0], 60);
	cr_assert_eq(g.data[0][20], 1);
	cr_assert_eq(g.len[1], 1514);
	cr_assert_eq(memcmp(g.data[1], b[2], 1514), 0);
	cr_assert_eq(g.vnet[1].flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	cr_assert_eq(g.vnet[1].csum_start, 34);
	cr_assert_eq(g.vnet[1].csum_offset, 16);
	cr_assert_eq(g.len[2], 200);
	cr_assert_eq(g.data[2][100], 6);
	migr_fwd_stats(dst, &st);
	cr_assert_eq(st.frames, 3);
	cr_assert_eq(st.bytes, 60 + 1514 + 200);
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), 0, "nothing more yet");
	migr_fwd_free(src); /* the source closes: the end of the stream */
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), -EPIPE);
	migr_fwd_free(dst);
}

Test(migrate, forwarded_frames_wait_for_the_vm)
{
	static uint8_t b[4][100];
	struct vsw_frame f[4];
	struct got g = { .take = 0 };
	int sv[2];

	for (int i = 0; i < 4; i++)
		f[i] = frame_to(b[i], VM_MAC, 100, (uint8_t)(i + 1));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct migr_fwd *src = migr_fwd_new(sv[0], MIGR_FWD_OUT_BUF);
	struct migr_fwd *dst = migr_fwd_new(sv[1], MIGR_FWD_IN_BUF);

	cr_assert_eq(migr_fwd_put(src, VM_MAC, f, 4), 4);
	cr_assert_eq(migr_fwd_flush(src), 0);
	migr_fwd_free(src);
	/* the VM takes none (not up yet), then one, then the rest: none lost */
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), -EAGAIN);
	g.take = 1;
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), 1);
	g.take = ~0u;
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), 3);
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), -EPIPE);
	for (unsigned int i = 0; i < 4; i++)
		cr_assert_eq(g.data[i][50], i + 1, "frame %u out of order", i);
	migr_fwd_free(dst);
}

Test(migrate, forward_queue_full_drops_and_counts)
{
	static uint8_t b[VSW_MAX_FRAME];
	struct vsw_frame f = frame_to(b, VM_MAC, 40000, 7);
	struct vsw_frame two[2] = { f, f };
	struct migr_fwd_stats st;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_null(migr_fwd_new(sv[0], 1000), "a queue smaller than one frame");
	struct migr_fwd *src = migr_fwd_new(sv[0], 4 + MIGR_FRAME_HDR + VSW_MAX_FRAME);

	cr_assert_eq(migr_fwd_put(src, VM_MAC, two, 2), 1);
	migr_fwd_stats(src, &st);
	cr_assert_eq(st.frames, 1);
	cr_assert_eq(st.dropped, 1);
	close(sv[1]); /* the destination went away */
	cr_assert_eq(migr_fwd_flush(src), -EPIPE);
	migr_fwd_free(src);
}

/* One hand-made frame message: @w the length word, @hdr its 12 bytes. */
static size_t msg(uint8_t *m, uint32_t w, const uint8_t *hdr, uint32_t flen)
{
	m[0] = (uint8_t)(w >> 24), m[1] = (uint8_t)(w >> 16), m[2] = (uint8_t)(w >> 8);
	m[3] = (uint8_t)w;
	memcpy(m + 4, hdr, MIGR_FRAME_HDR);
	memcpy(m + 16, VM_MAC, 6);
	memset(m + 22, 0x5a, flen - 6);
	return 16 + flen;
}

Test(migrate, hostile_forwarded_frames)
{
	static const uint8_t ok[12] = { 0 };
	static const struct {
		uint32_t w;
		uint8_t hdr[12];
		const char *why;
	} bad[] = {
		{ 12 + 60, { 0 }, "where a frame was due" },
		{ MIGR_FRAME_BIT | 12, { 0 }, "outside" },
		{ MIGR_FRAME_BIT | (12 + VSW_MAX_FRAME + 1), { 0 }, "outside" },
		{ MIGR_FRAME_BIT | 72, { 0x80 }, "flags" },
		{ MIGR_FRAME_BIT | 72, { 0, 9 }, "gso_type" },
		{ MIGR_FRAME_BIT | 72, { [10] = 1 }, "reserved" },
		{ MIGR_FRAME_BIT | 72, { 1, 0, 0, 0, 0, 0, 0, 200, 0, 16 }, "past" },
	};
	static uint8_t m[256];
	struct vsw_frame f;
	size_t used;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = msg(m, bad[i].w, bad[i].hdr, 60);

		err[0] = '\0';
		cr_expect_eq(migr_frame_decode(m, n, &f, &used, err, sizeof(err)), -EPROTO,
		             "case %u accepted", i);
		cr_expect(strstr(err, bad[i].why), "case %u: \"%s\"", i, err);
	}
	size_t n = msg(m, MIGR_FRAME_BIT | 72, ok, 60);

	cr_assert_eq(migr_frame_decode(m, n - 1, &f, &used, err, sizeof(err)), 0, "a partial one");
	cr_assert_eq(migr_frame_decode(m, 3, &f, &used, err, sizeof(err)), 0);
	cr_assert_eq(migr_frame_decode(m, n, &f, &used, err, sizeof(err)), 1);
	cr_assert_eq(used, n);
	cr_assert_eq(f.len, 60);
	cr_assert_eq(f.data, m + 16);

	/* over a socket: a frame for another MAC is dropped and counted, the
	 * next one delivered; a malformed one ends the stream with a reason */
	int sv[2];
	struct got g = { .take = ~0u };
	struct migr_fwd_stats st;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct migr_fwd *dst = migr_fwd_new(sv[1], MIGR_FWD_IN_BUF);

	n = msg(m, MIGR_FRAME_BIT | 72, ok, 60);
	m[16 + 5] = 0x99; /* not the VM's MAC */
	cr_assert_eq(write(sv[0], m, n), (ssize_t)n);
	n = msg(m, MIGR_FRAME_BIT | 72, ok, 60);
	cr_assert_eq(write(sv[0], m, n), (ssize_t)n);
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), 1);
	migr_fwd_stats(dst, &st);
	cr_assert_eq(st.dropped, 1);
	n = msg(m, MIGR_FRAME_BIT | 72, bad[3].hdr, 60);
	cr_assert_eq(write(sv[0], m, n), (ssize_t)n);
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), -EPROTO);
	cr_assert(strstr(err, "flags"), "%s", err);
	close(sv[0]);
	migr_fwd_free(dst);
}

/* The source gives up (its VM did not move): frames before the cancel are
 * handed over, then the reason; a malformed message there ends the stream. */
Test(migrate, forwarding_cancelled)
{
	static uint8_t b[100];
	struct vsw_frame f = frame_to(b, VM_MAC, 100, 9);
	struct got g = { .take = ~0u };
	char why[160];
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct migr_fwd *src = migr_fwd_new(sv[0], MIGR_FWD_OUT_BUF);
	struct migr_fwd *dst = migr_fwd_new(sv[1], MIGR_FWD_IN_BUF);

	cr_assert_eq(migr_fwd_put(src, VM_MAC, &f, 1), 1);
	cr_assert_eq(migr_fwd_cancel(src, "VM vm1 did not move within 5000 ms"), 0);
	cr_assert_eq(migr_fwd_cancel(src, ""), -EINVAL);
	cr_assert_eq(migr_fwd_flush(src), 0);
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), -ECANCELED);
	cr_assert_eq(g.n, 1, "the frame before the cancel was not handed over");
	cr_assert_str_eq(err, "VM vm1 did not move within 5000 ms");
	migr_fwd_free(src);
	migr_fwd_free(dst);

	cr_assert_eq(migr_cancel_decode("{\"v\":1,\"cancel\":\"x\"}", 20, why, sizeof(why)), 0);
	cr_assert_str_eq(why, "x");
	cr_assert_eq(migr_cancel_decode("{\"v\":1,\"cancel\":\"\"}", 19, why, sizeof(why)),
	             -EPROTO);
	cr_assert_eq(migr_cancel_decode("{\"v\":1,\"cancel\":\"x\",\"y\":1}", 26, why, sizeof(why)),
	             -EPROTO);
	cr_assert(strstr(why, "unknown field"), "%s", why);
	cr_assert_eq(migr_cancel_decode("{\"v\":2,\"cancel\":\"x\"}", 20, why, sizeof(why)),
	             -EPROTO);

	/* not JSON where a frame or the cancel was due: the stream ends */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	dst = migr_fwd_new(sv[1], MIGR_FWD_IN_BUF);
	cr_assert_eq(write(sv[0], "\0\0\0\x05hello", 9), 9);
	cr_assert_eq(migr_fwd_pump(dst, VM_MAC, keep, &g, err, sizeof(err)), -EPROTO);
	cr_assert(strstr(err, "not JSON"), "%s", err);
	close(sv[0]);
	migr_fwd_free(dst);
}

/* The listener's reader (migr_recv_some) never waits: one byte from a peer
 * that has proved nothing is "not yet" at once (an audit found the old
 * blocking read held the daemon's datapath thread 200 ms per connection);
 * a message that comes a byte at a time is whole when its last byte is;
 * a length of 0 or over MIGR_MSG_MAX is refused; a closed peer is -EPIPE. */
Test(migrate, listener_reads_without_waiting)
{
	static struct migr_rd rd;
	const char *json = "{\"x\":1}";
	uint8_t msg[4 + 7] = { 0, 0, 0, 7 };
	int sv[2];

	memcpy(msg + 4, json, 7);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(migr_recv_some(sv[1], &rd), 0, "nothing yet");
	for (unsigned int i = 0; i < sizeof(msg) - 1; i++) {
		cr_assert_eq(write(sv[0], msg + i, 1), 1);
		cr_assert_eq(migr_recv_some(sv[1], &rd), 0, "whole after %u bytes?", i + 1);
	}
	cr_assert_eq(write(sv[0], msg + sizeof(msg) - 1, 1), 1);
	cr_assert_eq(migr_recv_some(sv[1], &rd), 7);
	cr_assert_str_eq(rd.buf, json);
	memset(&rd, 0, sizeof(rd));
	cr_assert_eq(write(sv[0], "\0\0\0\0", 4), 4);
	cr_assert_eq(migr_recv_some(sv[1], &rd), -EMSGSIZE);
	memset(&rd, 0, sizeof(rd));
	cr_assert_eq(write(sv[0], "\0\1\0\0", 4), 4); /* 65536 > MIGR_MSG_MAX */
	cr_assert_eq(migr_recv_some(sv[1], &rd), -EMSGSIZE);
	memset(&rd, 0, sizeof(rd));
	close(sv[0]);
	cr_assert_eq(migr_recv_some(sv[1], &rd), -EPIPE);
	close(sv[1]);
}
