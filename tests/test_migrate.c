/* Live migration's messages (host/migrate.h): request and reply round-trip,
 * one malformed request per field class refused with a reason, counters
 * adding up across hosts and keeping only counters, the framing over a real
 * socket pair (a length out of range, a peer that goes silent or away), and
 * the guest's MIGRATE control message (vmbus_migrate_decode). */
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
