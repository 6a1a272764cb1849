/* The lab: config parsing (every error class names FILE:LINE and the reason;
 * no root), then, with root (skipped with a message otherwise), a real lab
 * built from a config like examples/lab.conf:
 *
 *                     iovp-tPu-net: bridge "net"
 *     ┌──────────┬──────────┬─────────┴─┬───────────┬───────────┐
 *     h1 (veth)  h2 (TAP)   ext1        ext2        ext3        ext4
 *     │                     │           │           │ VLAN 20   │ VLAN 20
 *   iovp-tPu-h1:phys0  …-ext1:eth0  …-ext2:eth0  …-ext3:eth0.20 …-ext4:eth0.20
 *                      .0.100/24    .0.101/24    .1.1/24        .1.2/24
 *   iovp-tPu-vm1, iovp-tPu-vm2: namespaces only
 *
 * UDP (and ping, when installed) from ext1 to ext2 and ext3 to ext4 across
 * the bridge; the hosts' port specs open with port_open(); lab down leaves no
 * name with the lab's prefix; lab down --force cleans up after a crash that
 * lost the state file. Every root test uses names with its own prefix
 * (iovp-t<pid>…) and removes them in .fini, whatever happened. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lab/lab.h"
#include "lab/lab_conf.h"
#include "lab/lab_net.h"
#include "port/port.h"
#include "util/util.h"

static char g_err[512];

static struct lab_conf *parse(const char *text)
{
	return lab_conf_parse(text, strlen(text), "t.conf", g_err, sizeof(g_err));
}

/* ---- parsing (no root) ---- */

Test(lab_conf, example_file, .timeout = 10)
{
	struct lab_conf *c = lab_conf_load("examples/lab.conf", g_err, sizeof(g_err));

	cr_assert(c, "%s", g_err);
	cr_assert_str_eq(c->network, "net");
	cr_assert_eq(c->nhosts, 1);
	cr_assert_str_eq(c->hosts[0].name, "h1");
	cr_assert(c->hosts[0].has_nic);
	cr_assert_eq(c->hosts[0].vfs, 4);
	cr_assert_eq(c->hosts[0].nvms, 2);
	cr_assert_eq(c->nvms, 2);
	cr_assert_str_eq(c->vms[0].name, "vm1");
	cr_assert_str_eq(c->vms[1].name, "vm2");
	cr_assert_eq(c->nexts, 1);
	cr_assert_str_eq(c->exts[0].name, "ext1");
	cr_assert_eq(c->exts[0].ip, 0xc6120064u); /* 198.18.0.100 */
	cr_assert_eq(c->exts[0].plen, 24);
	lab_conf_free(c);
}

/* Every example in examples/ parses (demo.conf, migrate.conf: as README uses them). */
Test(lab_conf, other_examples, .timeout = 10)
{
	static const char *const files[] = { "examples/demo.conf", "examples/migrate.conf" };

	for (unsigned int i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct lab_conf *c = lab_conf_load(files[i], g_err, sizeof(g_err));

		cr_assert(c, "%s: %s", files[i], g_err);
		if (i == 1) { /* two hosts with VFs, one VM on each */
			cr_assert_eq(c->nhosts, 2);
			cr_assert(c->hosts[0].has_nic && c->hosts[1].has_nic);
			cr_assert_eq(c->hosts[0].nvms, 1);
			cr_assert_eq(c->hosts[1].nvms, 1);
		}
		lab_conf_free(c);
	}
}

Test(lab_conf, every_option, .timeout = 10)
{
	static const char text[] = "# a comment line\r\n"
	                           "\n"
	                           "lab demo   # names become iovp-demo-*\n"
	                           "network phys\n"
	                           "host h1\tport veth cpus 0,2-3\n"
	                           "host h2 port tap\n"
	                           "nic h1 vfs 254\r\n"
	                           "vm vm1 host h1 mac 02:AB:cd:00:00:01 ip 198.19.255.254/15\n"
	                           "vm vm2 host h2 ip 198.18.0.12/24 mac 02:00:00:00:00:02 "
	                           "vlan 4094 netns guest2\n"
	                           "   external   ext1 ip 198.18.0.101/30 vlan 1 mac "
	                           "02:00:00:00:00:64\n";
	struct lab_conf *c = parse(text);
	char buf[LAB_NETNS_MAX];

	cr_assert(c, "%s", g_err);
	cr_assert_str_eq(c->lab, "demo");
	cr_assert_str_eq(c->network, "phys");
	cr_assert_eq(c->network_line, 4);
	cr_assert_eq(c->hosts[0].port, LAB_PORT_VETH);
	cr_assert_eq(c->hosts[1].port, LAB_PORT_TAP);
	cr_assert_str_eq(c->hosts[0].cpus, "0,2-3");
	cr_assert_str_eq(c->hosts[1].cpus, "", "no cpus: any CPU");
	cr_assert_eq(c->hosts[0].vfs, 254);
	cr_assert_not(c->hosts[1].has_nic, "a host without a nic line has no VFs");
	cr_assert_eq(c->vms[0].mac[1], 0xab);
	cr_assert_eq(c->vms[0].ip, 0xc613fffeu);
	cr_assert_eq(c->vms[0].plen, 15);
	cr_assert_str_eq(c->vms[0].netns, "vm1", "netns defaults to the VM's name");
	cr_assert_eq(c->vms[1].host, 1);
	cr_assert_eq(c->vms[1].vlan, 4094);
	cr_assert_eq(c->vms[1].line, 9);
	cr_assert_str_eq(c->vms[1].netns, "guest2");
	cr_assert(c->exts[0].has_mac);
	cr_assert_eq(c->exts[0].vlan, 1);
	cr_assert_eq(lab_conf_prefix(c, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "iovp-demo-");
	cr_assert_eq(lab_conf_netns(c, c->vms[1].netns, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "iovp-demo-guest2");
	lab_conf_free(c);
}

/* Each bad file: the line the error must name and a phrase it must contain. */
static const struct {
	const char *text;
	unsigned int line; /* 0: the error names the file only */
	const char *says;
} bad[] = {
	{ "network n\nbogus x\n", 2, "unknown keyword 'bogus'" },
	{ "network n\nhost h1\nvm v host h1 mac 02:00:00:00:00 ip 198.18.0.1/24\n", 3, "bad MAC" },
	{ "network n\nhost h1\nvm v host h1 mac 02:00:00:00:00:zz ip 198.18.0.1/24\n", 3,
	  "bad MAC" },
	{ "network n\nhost h1\nvm v host h1 mac 01:00:5e:00:00:01 ip 198.18.0.1/24\n", 3,
	  "multicast" },
	{ "network n\nhost h1\nvm v host h1 mac 00:00:00:00:00:00 ip 198.18.0.1/24\n", 3,
	  "not a station address" },
	{ "network n\nexternal e ip 10.0.0.1/24\n", 2, "outside 198.18.0.0/15" },
	{ "network n\nexternal e ip 198.20.0.1/24\n", 2, "outside 198.18.0.0/15" },
	{ "network n\nexternal e ip 198.17.255.1/24\n", 2, "outside 198.18.0.0/15" },
	{ "network n\nexternal e ip 198.18.0.1\n", 2, "expected A.B.C.D/PREFIX" },
	{ "network n\nexternal e ip 198.18.0.300/24\n", 2, "bad IPv4 address" },
	{ "network n\nexternal e ip 198.18.0.1/31\n", 2, "prefix length 31 is out of range" },
	{ "network n\nexternal e ip 198.18.0.1/14\n", 2, "prefix length 14 is out of range" },
	{ "network n\nexternal e ip 198.18.0.1/2x\n", 2, "not a decimal number" },
	{ "network n\nexternal e ip 198.18.1.0/24\n", 2, "network address" },
	{ "network n\nexternal e ip 198.18.1.255/24\n", 2, "broadcast address" },
	{ "network n\nhost h1\n\nvm h1 host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24\n", 4,
	  "duplicate name 'h1': already the host declared on line 2" },
	{ "network n\nhost n\n", 2, "duplicate name 'n'" },
	{ "network n\nhost h1\nvm a host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24\n"
	  "vm b host h1 mac 02:00:00:00:00:01 ip 198.18.0.2/24\n",
	  4, "duplicate MAC 02:00:00:00:00:01: already a's (line 3)" },
	{ "network n\nhost h1\nvm a host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24\n"
	  "external b ip 198.18.0.1/16\n",
	  4, "duplicate address 198.18.0.1: already a's (line 3)" },
	{ "network n\nhost h1\nvm a host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24 netns g\n"
	  "vm b host h1 mac 02:00:00:00:00:02 ip 198.18.0.2/24 netns g\n",
	  4, "namespace 'g' is already a's (line 3)" },
	{ "network n\nhost h1\nvm a host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24 netns g\n"
	  "external g ip 198.18.0.3/24\n",
	  4, "its namespace 'g' is already vm a's" },
	{ "network n\nhost h1\nvm a host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24 netns h1\n", 3,
	  "namespace 'h1' is already h1's" },
	{ "network n\nvm v host h9 mac 02:00:00:00:00:01 ip 198.18.0.1/24\n", 2,
	  "unknown host 'h9'" },
	{ "network n\nvm v host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24\nhost h1\n", 2,
	  "declare it with `host h1` on an earlier line" },
	{ "network n\nnic h1 vfs 4\n", 2, "nic: unknown host 'h1'" },
	{ "network n\nhost h1\nnic h1 vfs 4\nnic h1 vfs 2\n", 4, "already has a NIC" },
	{ "network n\nhost h1\nnic h1 vfs 255\n", 3, "vfs 255 is out of range (0..254)" },
	{ "network n\nhost h1\nnic h1 vfs -1\n", 3, "not a decimal number" },
	{ "network n\nhost h1\nnic h1 vfs 99999999999999999999\n", 3, "out of range" },
	{ "network n\nhost h1\nnic h1 4\n", 3, "expected `nic HOST vfs N`" },
	{ "network n\nhost h1\nvm v host h1 ip 198.18.0.1/24\n", 3, "vm v: missing 'mac'" },
	{ "network n\nhost h1\nvm v mac 02:00:00:00:00:01 ip 198.18.0.1/24\n", 3,
	  "vm v: missing 'host'" },
	{ "network n\nhost h1\nvm v host h1 mac 02:00:00:00:00:01\n", 3, "missing 'ip'" },
	{ "network n\nhost h1\nvm v host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24 color red\n", 3,
	  "unknown option 'color'" },
	{ "network n\nhost h1\nvm v host h1 host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24\n", 3,
	  "'host' given twice" },
	{ "network n\nhost h1\nvm v host h1 mac 02:00:00:00:00:01 ip\n", 3, "'ip' needs a value" },
	{ "network n\nhost h1\nvm v host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24 vlan 0\n", 3,
	  "vlan 0 is out of range (1..4094)" },
	{ "network n\nexternal e ip 198.18.0.1/24 vlan 4095\n", 2, "vlan 4095 is out of range" },
	{ "network n\nexternal e vlan 5\n", 2, "external e: missing 'ip'" },
	{ "network n\nnetwork m\n", 2, "a second `network` line" },
	{ "lab a\nlab b\nnetwork n\n", 2, "a second `lab` line" },
	{ "host h1\n", 0, "no `network NAME` line" },
	{ "", 0, "no `network NAME` line" },
	{ "network n\nhost this-name-is-too-long\n", 2, "bad host name" },
	{ "network n\nhost h/1\n", 2, "bad host name 'h/1'" },
	{ "network n\nhost -h\n", 2, "bad host name" },
	{ "network lo\n", 1, "'lo' is reserved" },
	{ "network n\nexternal sit0 ip 198.18.0.1/24\n", 2, "'sit0' is reserved" },
	{ "network n\nhost h1 port wire\n", 2, "port 'wire': expected veth or tap" },
	{ "network n\nhost h1 port\n", 2, "'port' needs a value" },
	{ "network n\nhost h1 cpus one\n", 2, "host h1: cpus: CPU list 'one': want N, N-M" },
	{ "network n\nhost h1 cpus 3-1\n", 2, "ranges ascending" },
	{ "network n\nhost h1 cpus 1,\n", 2, "want N, N-M" },
	{ "network n\nhost h1 cpus 1024\n", 2, "CPUs 0..1023" },
	{ "network n\nhost h1 cpus 1 cpus 2\n", 2, "'cpus' given twice" },
	{ "network n\nhost h1 speed 1\n", 2, "unknown option 'speed' (expected port or cpus)" },
	{ "network\n", 1, "expected `network NAME`" },
	{ "network n\nhost a b c d e f g h i j k l m n o p q\n", 2, "too many words" },
	{ "network n\n\x01host h1\n", 2, "control character 0x01" },
};

Test(lab_conf, every_error_names_file_line_and_reason, .timeout = 10)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[32];
		struct lab_conf *c = parse(bad[i].text);

		cr_assert_null(c, "case %zu was accepted:\n%s", i, bad[i].text);
		cr_assert_eq(errno, EINVAL, "case %zu", i);
		if (bad[i].line)
			snprintf(want, sizeof(want), "t.conf:%u: ", bad[i].line);
		else
			snprintf(want, sizeof(want), "t.conf: ");
		cr_assert(strncmp(g_err, want, strlen(want)) == 0,
		          "case %zu: '%s' should start '%s'", i, g_err, want);
		cr_assert(strstr(g_err, bad[i].says), "case %zu: '%s' should say '%s'", i, g_err,
		          bad[i].says);
	}
}

/* Every fallback device the kernel puts in each new namespace (ip_gre:
 * gre0, gretap0, erspan0; ip6_gre: ip6gre0; sit, ipip, ip6_tunnel, vti) is
 * refused as a name: with its module loaded, a bridge or port of that name
 * could not be made at `lab up`, long after the file was said to be fine. */
Test(lab_conf, every_fallback_device_name_reserved, .timeout = 10)
{
	static const char *const fb[] = { "sit0",    "tunl0",   "ip6tnl0",  "gre0",   "gretap0",
		                          "erspan0", "ip_vti0", "ip6_vti0", "ip6gre0" };
	char text[128], want[64];

	for (size_t i = 0; i < sizeof(fb) / sizeof(fb[0]); i++) {
		snprintf(text, sizeof(text), "network n\nhost %s\n", fb[i]);
		snprintf(want, sizeof(want), "t.conf:2: the name '%s' is reserved", fb[i]);
		cr_assert_null(parse(text), "host %s was accepted", fb[i]);
		cr_assert(strstr(g_err, want), "'%s' should say '%s'", g_err, want);
	}
}

/* A lab's names start with iovp-LAB-, and `lab down --force` sweeps that
 * prefix: with a '-' in a lab name, lab "a"'s sweep (iovp-a-) would take
 * lab "a-b"'s namespaces (iovp-a-b-…) with it, a lab that is up. */
Test(lab_conf, lab_name_without_dash, .timeout = 10)
{
	struct lab_conf *c;

	cr_assert_null(parse("network n\nlab a-b\n"), "lab a-b was accepted");
	cr_assert(strstr(g_err, "t.conf:2: ") == g_err, "%s", g_err);
	cr_assert(strstr(g_err, "'-'"), "%s", g_err);
	c = parse("lab a_b9\nnetwork n\n");
	cr_assert(c, "%s", g_err);
	lab_conf_free(c);
}

Test(lab_conf, binary_and_long_lines, .timeout = 10)
{
	static const char nul[] = "network n\nhost h\0\n";
	char *big = malloc(LAB_LINE_MAX + 64);

	cr_assert_null(lab_conf_parse(nul, sizeof(nul) - 1, "t.conf", g_err, sizeof(g_err)));
	cr_assert_str_eq(g_err, "t.conf:2: NUL byte in the line (not a text file?)");
	memcpy(big, "network n\n#", 11);
	memset(big + 11, 'x', LAB_LINE_MAX);
	big[LAB_LINE_MAX + 11] = '\0';
	cr_assert_null(parse(big));
	cr_assert(strstr(g_err, "t.conf:2: line longer than"), "%s", g_err);
	free(big);
}

/* Append VMs until a limit; the error names the line of the first one too many. */
Test(lab_conf, too_many_vms_for_a_host, .timeout = 10)
{
	size_t cap = 64 * 1024, len = 0;
	char *t = malloc(cap);
	unsigned int i;

	len += (size_t)snprintf(t + len, cap - len, "network n\nhost h1\nhost h2\n");
	for (i = 0; i <= LAB_MAX_VMS_PER_HOST; i++)
		len += (size_t)snprintf(
		    t + len, cap - len,
		    "vm v%u host h1 mac 02:00:00:00:%02x:%02x ip 198.18.%u.%u/16\n", i, i >> 8,
		    i & 0xff, i >> 7, (i & 127) + 1);
	cr_assert_null(parse(t));
	cr_assert(strstr(g_err, "t.conf:259: too many VMs for host h1 (at most 255"), "%s", g_err);
	free(t);
}

Test(lab_conf, write_then_parse_gives_the_same_conf, .timeout = 10)
{
	static const char text[] = "external x ip 198.18.0.100/24 vlan 7\n"
	                           "host h2 port tap\nnetwork n\nhost h1 cpus 1\nnic h1 vfs 3\n"
	                           "vm v host h1 mac 02:00:00:00:00:01 ip 198.18.0.1/24 vlan 5\n"
	                           "lab z\n";
	struct lab_conf *c = parse(text), *c2;
	char *out1, *out2;
	size_t n1, n2;
	FILE *f;

	cr_assert(c, "%s", g_err);
	f = open_memstream(&out1, &n1);
	cr_assert_eq(lab_conf_write(c, f), 0);
	fclose(f);
	c2 = lab_conf_parse(out1, n1, "out", g_err, sizeof(g_err));
	cr_assert(c2, "%s\n%s", g_err, out1);
	f = open_memstream(&out2, &n2);
	cr_assert_eq(lab_conf_write(c2, f), 0);
	fclose(f);
	cr_assert_str_eq(out1, out2);
	cr_assert_eq(c2->vms[0].vlan, 5);
	cr_assert_eq(c2->hosts[0].port, LAB_PORT_TAP);
	cr_assert_str_eq(c2->hosts[1].cpus, "1");
	cr_assert_str_eq(c2->lab, "z");
	free(out1);
	free(out2);
	lab_conf_free(c);
	lab_conf_free(c2);
}

/* CPU lists (a host's `cpus`, iovpathd/iovpath-vm --cpus), and what
 * util_datapath_cpus makes of the calling process (in a child: the test's
 * own process keeps its CPUs). */
Test(util_cpus, lists_and_a_datapath_process, .timeout = 10)
{
	static const char *good[] = { "0", "0-1", "1,3,5-7", "1023", "0-0" };
	static const char *worse[] = { "",
		                       "x",
		                       "-1",
		                       "1-",
		                       "1,",
		                       ",1",
		                       "1 2",
		                       "2-1",
		                       "1024",
		                       "0-1024",
		                       "99999999999999999999" };
	struct util_cpus cs;
	char err[160], self[64];
	int st;
	pid_t pid;

	cr_assert_eq(util_cpus_parse("1,3,5-7", &cs, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cs.bits[0], 0xeaull);
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		cr_assert_eq(util_cpus_parse(good[i], &cs, err, sizeof(err)), 0, "'%s': %s",
		             good[i], err);
	for (size_t i = 0; i < ARRAY_SIZE(worse); i++) {
		err[0] = '\0';
		cr_assert_eq(util_cpus_parse(worse[i], &cs, err, sizeof(err)), -EINVAL, "'%s'",
		             worse[i]);
		cr_assert(strstr(err, "CPU list"), "'%s': %s", worse[i], err);
	}
	util_cpus_self(self, sizeof(self));
	cr_assert(self[0], "this process's CPUs as a list");
	cr_assert_eq(util_cpus_parse(self, &cs, err, sizeof(err)), 0, "'%s' reads back", self);
	cr_assert_eq(util_datapath_cpus("1023", err, sizeof(err)), -EINVAL, "no CPU 1023 here");
	cr_assert(strstr(err, "none of them is online"), "%s", err);
	pid = fork();
	if (pid == 0) {
		if (util_datapath_cpus("0", err, sizeof(err)))
			_exit(1);
		util_cpus_self(self, sizeof(self));
		if (strcmp(self, "0"))
			_exit(2);
		if (sched_getscheduler(0) != SCHED_BATCH)
			_exit(3);
		_exit(util_spin_ns(5000) == 0 ? 0 : 4); /* one CPU: no busy-polling */
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the pinned child failed: %d",
	          WEXITSTATUS(st));
	if (util_spin_ns(5000) == 5000)
		cr_log_info("this process may run on several CPUs: it busy-polls");
}

/* MACs as `vm create`, `vm set`, iovpath-vm --to and a migration give them:
 * six two-digit hex bytes and ':', nothing else (sscanf's %x took a sign, a
 * space or "0x" as a digit: "02:00:00:00:-1:01" made 02:00:00:00:ff:01). */
Test(util_mac, six_hex_pairs_only, .timeout = 10)
{
	static const char *worse[] = {
		"02:00:00:00:-1:01", "02:00:00:00:+1:02",  " 2:00:00:00:00:03",
		"0x:00:00:00:00:05", "02:00:00:00:00:0g",  "02-00-00-00-00-01",
		"02:00:00:00:00:1",  "02:00:00:00:00:001", ""
	};
	uint8_t m[6];

	cr_assert_eq(util_mac_parse("02:aB:00:5e:Ff:09", m), 0);
	cr_assert_eq(memcmp(m, "\x02\xab\x00\x5e\xff\x09", 6), 0);
	for (size_t i = 0; i < ARRAY_SIZE(worse); i++)
		cr_assert_eq(util_mac_parse(worse[i], m), -EINVAL, "'%s'", worse[i]);
}

Test(lab_conf, missing_file, .timeout = 10)
{
	cr_assert_null(lab_conf_load("/nonexistent/lab.conf", g_err, sizeof(g_err)));
	cr_assert_eq(errno, ENOENT);
	cr_assert_str_eq(g_err, "/nonexistent/lab.conf: No such file or directory");
}

Test(lab, refuses_foreign_names_and_nothing_up_is_fine, .timeout = 10)
{
	cr_assert_eq(lab_sweep("eth", true, g_err, sizeof(g_err)), -EINVAL);
	cr_assert(strstr(g_err, "does not start with iovp-"), "%s", g_err);
	cr_assert_eq(lab_down("/nonexistent/lab-state.json", false, g_err, sizeof(g_err)), 0,
	             "no state file and no --force: nothing to do");
}

/* ---- root: a real lab ---- */

#define LOCK_PATH "/tmp/iovpath-test-lab-root.lock"

static int g_lock = -1;
static char g_lab[LAB_NAME_MAX + 1], g_prefix[LAB_NETNS_MAX], g_state[128];

/* Root tests take turns (one sweeps by prefix), each with names of its own. */
static void root_setup(const char *tag)
{
	if (geteuid() != 0)
		cr_skip_test(
		    "needs root: network namespaces, veth pairs, a bridge and TAP devices");
	g_lock = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(g_lock, 0);
	for (int i = 0; flock(g_lock, LOCK_EX | LOCK_NB); i++) {
		if (i == 200) {
			close(g_lock);
			g_lock = -1;
			cr_assert_fail("%s is held for 20 s by another lab test (stuck? see "
			               "`fuser %s`)",
			               LOCK_PATH, LOCK_PATH);
		}
		usleep(100 * 1000);
	}
	snprintf(g_lab, sizeof(g_lab), "t%d%s", (int)getpid(), tag);
	snprintf(g_prefix, sizeof(g_prefix), "%s%s-", LAB_PREFIX, g_lab);
	snprintf(g_state, sizeof(g_state), "/tmp/iovpath-test-lab-%s.json", g_lab);
	unlink(g_state);
}

static void up_setup(void)
{
	root_setup("u");
}

static void crash_setup(void)
{
	root_setup("c");
}

/* Whatever happened: nothing with this test's prefix stays behind. */
static void root_teardown(void)
{
	char err[256];

	if (g_lock < 0)
		return;
	lab_sweep(g_prefix, false, err, sizeof(err));
	unlink(g_state);
	close(g_lock);
}

static struct lab_conf *lab_text(const char *body)
{
	char text[2048];
	struct lab_conf *c;

	snprintf(text, sizeof(text), "lab %s\n%s", g_lab, body);
	c = parse(text);
	cr_assert(c, "%s", g_err);
	return c;
}

static void ns_name(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", g_prefix, name);
}

struct udp_req {
	uint32_t ip; /* host byte order */
	uint16_t port;
};

static int udp_open(void *arg)
{
	const struct udp_req *r = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET,
		                  .sin_port = htons(r->port),
		                  .sin_addr.s_addr = htonl(r->ip) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* A UDP datagram from @from_ns to @to_ip in @to_ns and the echo back: proof
 * that the two namespaces reach each other over the bridge. */
static bool udp_roundtrip(const char *from, uint32_t from_ip, const char *to, uint32_t to_ip)
{
	char fns[64], tns[64], buf[64];
	struct udp_req rs = { to_ip, 7777 }, rc = { from_ip, 0 };
	struct sockaddr_in dst = { .sin_family = AF_INET,
		                   .sin_port = htons(7777),
		                   .sin_addr.s_addr = htonl(to_ip) },
	                   peer;
	socklen_t plen = sizeof(peer);
	int s, c;
	bool ok = false;

	ns_name(from, fns, sizeof(fns));
	ns_name(to, tns, sizeof(tns));
	s = lab_netns_run(tns, udp_open, &rs);
	c = lab_netns_run(fns, udp_open, &rc);
	cr_assert_geq(s, 0, "server socket in %s: %s", tns, strerror(-s));
	cr_assert_geq(c, 0, "client socket in %s: %s", fns, strerror(-c));
	for (int i = 0; i < 10 && !ok; i++) { /* the first may wait for ARP */
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		ssize_t n;

		sendto(c, "hello", 5, 0, (struct sockaddr *)&dst, sizeof(dst));
		if (poll(&pfd, 1, 500) != 1)
			continue;
		n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen);
		cr_assert_eq(n, 5);
		cr_assert_eq(ntohl(peer.sin_addr.s_addr), from_ip, "the sender's own address");
		sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&peer, plen);
		pfd.fd = c;
		ok = poll(&pfd, 1, 2000) == 1 && recv(c, buf, sizeof(buf), 0) == 5 &&
		     memcmp(buf, "hello", 5) == 0;
	}
	close(s);
	close(c);
	return ok;
}

/* `ip netns exec NS ping -c1 -W1 IP`, a few tries; true without ping. */
static bool ping(const char *from, const char *ip)
{
	char ns[64], cmd[256];

	if (system("command -v ping >/dev/null 2>&1") != 0) {
		cr_log_info("ping is not installed: the UDP exchange alone proves the bridge");
		return true;
	}
	ns_name(from, ns, sizeof(ns));
	snprintf(cmd, sizeof(cmd), "ip netns exec %s ping -q -c1 -W1 %s >/dev/null 2>&1", ns, ip);
	for (int i = 0; i < 3; i++)
		if (system(cmd) == 0)
			return true;
	return false;
}

/* The value of "port" of host @name in the state file. */
static void state_port(const char *name, char *buf, size_t len)
{
	json_error_t je;
	json_t *st = json_load_file(g_state, 0, &je), *h;
	size_t i;

	cr_assert(st, "%s: %s", g_state, je.text);
	json_array_foreach(json_object_get(st, "hosts"), i, h)
	{
		if (strcmp(json_string_value(json_object_get(h, "name")), name) == 0)
			snprintf(buf, len, "%s", json_string_value(json_object_get(h, "port")));
	}
	cr_assert(json_is_true(json_object_get(st, "complete")));
	json_decref(st);
}

static const char topo[] = "network net\n"
                           "host h1\n"
                           "nic h1 vfs 4\n"
                           "host h2 port tap\n"
                           "vm vm1 host h1 mac 02:00:00:00:01:01 ip 198.18.0.11/24\n"
                           "vm vm2 host h1 mac 02:00:00:00:01:02 ip 198.18.0.12/24 vlan 10\n"
                           "external ext1 ip 198.18.0.100/24\n"
                           "external ext2 ip 198.18.0.101/24 mac 02:00:00:00:02:02\n";
static const char topo_vlan[] = "external ext3 ip 198.18.1.1/24 vlan 20\n"
                                "external ext4 ip 198.18.1.2/24 vlan 20\n";

Test(lab_root, up_traffic_down, .init = up_setup, .fini = root_teardown, .timeout = 60)
{
	const char *names[] = { "net", "h1", "h2", "vm1", "vm2", "ext1", "ext2", "ext3", "ext4" };
	size_t nnames = sizeof(names) / sizeof(names[0]);
	char text[1024], ns[64], spec[128];
	struct lab_conf *c;
	struct lab_nl *nl;
	struct port *p;
	bool vlan = true;
	int rc;

	snprintf(text, sizeof(text), "%s%s", topo, topo_vlan);
	c = lab_text(text);
	rc = lab_up(c, g_state, g_err, sizeof(g_err));
	if (rc == -EOPNOTSUPP && strstr(g_err, "802.1Q")) {
		/* ext3's VLAN device failed after most of the lab was made: all of it is gone. */
		cr_assert_eq(lab_sweep(g_prefix, true, g_err, sizeof(g_err)), 0, "unwound");
		cr_assert_neq(access(g_state, F_OK), 0, "no state file after a failed up");
		cr_log_info("this kernel has no 802.1Q VLAN devices: testing without ext3, ext4");
		lab_conf_free(c);
		c = lab_text(topo);
		vlan = false;
		nnames -= 2;
		rc = lab_up(c, g_state, g_err, sizeof(g_err));
	}
	cr_assert_eq(rc, 0, "lab up: %s", g_err);
	for (size_t i = 0; i < nnames; i++) {
		ns_name(names[i], ns, sizeof(ns));
		cr_assert(lab_netns_exists(ns), "%s", ns);
	}
	cr_assert_eq(lab_up(c, g_state, g_err, sizeof(g_err)), -EEXIST);
	cr_assert(strstr(g_err, "a lab is already up"), "%s", g_err);

	/* Across the bridge: untagged, and tagged VLAN 20 end to end. */
	cr_assert(udp_roundtrip("ext1", 0xc6120064u, "ext2", 0xc6120065u), "ext1 -> ext2");
	if (vlan)
		cr_assert(udp_roundtrip("ext3", 0xc6120101u, "ext4", 0xc6120102u),
		          "ext3 -> ext4, VLAN 20");
	cr_assert(ping("ext1", "198.18.0.101"), "ping ext1 -> ext2");

	/* The daemons' physical ports open where the state file says. */
	ns_name("net", ns, sizeof(ns));
	nl = lab_nl_open(ns);
	cr_assert(nl);
	cr_assert_eq(lab_nl_master(nl, "h1"), lab_nl_ifindex(nl, "net"), "veth port on the bridge");
	cr_assert_eq(lab_nl_master(nl, "h2"), lab_nl_ifindex(nl, "net"), "TAP port on the bridge");
	lab_nl_close(nl);
	state_port("h1", spec, sizeof(spec));
	cr_assert(strstr(spec, "afpacket:phys0,netns=iovp-t"), "%s", spec);
	p = port_open(spec, g_err, sizeof(g_err));
	cr_assert(p, "%s: %s", spec, g_err);
	port_close(p);
	state_port("h2", spec, sizeof(spec));
	cr_assert(strstr(spec, "tap:h2,netns=iovp-t"), "%s", spec);
	p = port_open(spec, g_err, sizeof(g_err));
	cr_assert(p, "%s: %s", spec, g_err);
	port_close(p);

	/* Something already gone (a VM namespace removed by hand) is skipped. */
	ns_name("vm2", ns, sizeof(ns));
	cr_assert_eq(lab_netns_del(ns), 0);
	rc = lab_down(g_state, false, g_err, sizeof(g_err));
	cr_assert_geq(rc, (int)nnames, "lab down removed %d: %s", rc, g_err);
	cr_assert_eq(lab_sweep(g_prefix, true, g_err, sizeof(g_err)), 0,
	             "no namespace or device named %s* is left", g_prefix);
	cr_assert_neq(access(g_state, F_OK), 0, "the state file is gone");
	cr_assert_eq(lab_down(g_state, false, g_err, sizeof(g_err)), 0, "a second down: no-op");
	lab_conf_free(c);
}

Test(lab_root, refuses_names_in_use, .init = up_setup, .fini = root_teardown, .timeout = 30)
{
	struct lab_conf *c = lab_text("network net\nexternal ext1 ip 198.18.0.100/24\n");
	char ns[64];

	ns_name("ext1", ns, sizeof(ns));
	cr_assert_eq(lab_netns_add(ns), 0);
	cr_assert_eq(lab_up(c, g_state, g_err, sizeof(g_err)), -EEXIST);
	cr_assert(strstr(g_err, "exists: a lab with the same names is up"), "%s", g_err);
	cr_assert(lab_netns_exists(ns), "the namespace that was there already stays");
	cr_assert_eq(lab_sweep(g_prefix, true, g_err, sizeof(g_err)), 1, "nothing else was made");
	cr_assert_neq(access(g_state, F_OK), 0);
	lab_conf_free(c);
}

static struct lab_conf *g_crash_conf;

static int up_and_crash(void *arg)
{
	char err[512];

	close(g_lock); /* the lock is the test's, not this child's */
	if (lab_up(g_crash_conf, g_state, err, sizeof(err))) {
		fprintf(stderr, "lab up: %s\n", err);
		return 1;
	}
	raise(SIGKILL); /* no lab down */
	return 2;
}

Test(lab_root, down_force_after_crash, .init = crash_setup, .fini = root_teardown, .timeout = 60)
{
	char stray[64];
	int here, all, rc;

	g_crash_conf = lab_text("network net\nhost h1\nhost h2 port tap\n"
	                        "vm vm1 host h1 mac 02:00:00:00:01:01 ip 198.18.0.11/24\n"
	                        "external ext1 ip 198.18.0.100/24\n");

	/* A crash that kept its state file, plus a leftover the state does not
	 * list: down --force removes both (the sweep keeps to the state's prefix). */
	cr_assert_eq(th_wait(th_spawn(up_and_crash, NULL)), 128 + SIGKILL);
	ns_name("stray", stray, sizeof(stray));
	cr_assert_eq(lab_netns_add(stray), 0);
	rc = lab_down(g_state, true, g_err, sizeof(g_err));
	cr_assert_geq(rc, 6, "5 namespaces, their devices and the stray one: %d %s", rc, g_err);
	cr_assert_eq(lab_sweep(g_prefix, true, g_err, sizeof(g_err)), 0);
	cr_assert_neq(access(g_state, F_OK), 0);

	/* A crash that lost its state file too. */
	cr_assert_eq(th_wait(th_spawn(up_and_crash, NULL)), 128 + SIGKILL);
	cr_assert_eq(unlink(g_state), 0, "the crashed lab left its state; now it is lost too");
	here = lab_sweep(g_prefix, true, g_err, sizeof(g_err));
	cr_assert_eq(here, 5, "5 namespaces left behind: %s", g_err);

	/* `lab down --force` sweeps every iovp-* name; run it only when every
	 * such name is this test's, so a lab of somebody else's stays up. */
	all = lab_sweep(LAB_PREFIX, true, g_err, sizeof(g_err));
	if (all == here) {
		rc = lab_down(g_state, true, g_err, sizeof(g_err));
	} else {
		cr_log_info("%d other iovp-* names exist: sweeping only %s*", all - here, g_prefix);
		rc = lab_sweep(g_prefix, false, g_err, sizeof(g_err));
	}
	cr_assert_eq(rc, 5, "removed %d: %s", rc, g_err);
	cr_assert_eq(lab_sweep(g_prefix, true, g_err, sizeof(g_err)), 0);
	lab_conf_free(g_crash_conf);
}
