/* bench e2e — real guests, real TCP: one iperf3 TCP stream VM→VM on one host
 * over (a) the synthetic path, (b) the VF path, and in the same run (c) a
 * plain veth pair between two namespaces, the kernel's own baseline.
 *
 * (a) and (b) run in a lab (iovpath lab up) of one host with two VMs in a run
 * directory of their own; (b) after `vm attach-vf` on both VMs, once the host
 * reports the VF data path for each. Needs root (namespaces, TAP devices).
 * Each leg is --seconds long (default 5), after a 1 s warm-up iperf3 omits.
 * Every leg uses the same TCP congestion control: the system's default, or
 * --cc NAME (iperf3 -C); the report names it (tcp_cc), since it decides much:
 * on the 2-core machine of the README, veth does 12-16 Gbit/s with bbr and
 * anywhere from 9 to 91 with cubic, and this path's legs ~5.4 and ~8.5.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "lab/lab_net.h"

#define PREFIX "iovp-e2e-"

static char g_cli[PATH_MAX + 16], g_run[64];
static char g_cc_opt[48];     /* " -C NAME" or "" */
static char g_cc[16] = "?";   /* what the last leg's sender used */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return r == 0 ? 0 : -1;
}

/* iperf3 client in @ns_c to @ip (server in @ns_s): received Gbit/s, or -1;
 * the sender's retransmitted segments in *@retr (-1: unknown). */
static double iperf(const char *ns_s, const char *ns_c, const char *ip, double secs,
                    double *retr)
{
	char cmd[512], *out = NULL;
	size_t cap = 0, len = 0;
	json_t *j;
	json_error_t je;
	double gbps = -1;
	FILE *p;

	*retr = -1;
	if (sh("ip netns exec %s iperf3 -s -p 5399 -D -1 -I %s/iperf.pid >/dev/null 2>&1", ns_s,
	       g_run))
		return -1;
	usleep(300000);
	snprintf(cmd, sizeof(cmd),
	         "ip netns exec %s iperf3 -c %s -p 5399 -t %.0f -O 1 -J%s 2>/dev/null", ns_c, ip,
	         secs + 1, g_cc_opt);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	for (;;) {
		if (len + 4096 > cap) {
			char *n = realloc(out, cap = cap ? cap * 2 : 65536);

			if (!n)
				break;
			out = n;
		}
		size_t k = fread(out + len, 1, cap - len - 1, p);

		if (!k)
			break;
		len += k;
	}
	pclose(p);
	/* a one-off server ends after its test; one whose client failed does not */
	sh("[ -f %s/iperf.pid ] && kill $(cat %s/iperf.pid) 2>/dev/null; rm -f %s/iperf.pid", g_run,
	   g_run, g_run);
	if (!out)
		return -1;
	out[len] = '\0';
	j = json_loads(out, 0, &je);
	if (j) {
		json_t *end = json_object_get(j, "end");
		json_t *bps = json_object_get(json_object_get(end, "sum_received"), "bits_per_second");
		json_t *cc = json_object_get(end, "sender_tcp_congestion");
		json_t *rt = json_object_get(json_object_get(end, "sum_sent"), "retransmits");

		if (json_is_number(bps))
			gbps = json_number_value(bps) / 1e9;
		if (json_is_number(rt))
			*retr = json_number_value(rt);
		if (json_is_string(cc))
			snprintf(g_cc, sizeof(g_cc), "%s", json_string_value(cc));
		json_decref(j);
	}
	free(out);
	return gbps;
}

/* CPU the lab's processes have used so far (ns): the host daemon's (h1),
 * and the VMs' together. */
static void lab_cpu(uint64_t *host, uint64_t *vms)
{
	char path[128], name[64];
	int pid;
	FILE *f;

	*host = *vms = 0;
	snprintf(path, sizeof(path), "%s/lab.pids", g_run);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fscanf(f, "%d %63s", &pid, name) == 2)
		*(strcmp(name, "h1") ? vms : host) += bench_cpu_ns(pid);
	fclose(f);
}

/* A leg VM1 -> VM2 in the lab: Gbit/s (iperf), and the CPU the host daemon
 * and the two VM processes spent per Gbit moved (ms; iperf3 runs --seconds
 * plus the omitted first second, counted at the same rate). */
static double lab_leg(double secs, double *retr, double *host_ms, double *vms_ms)
{
	uint64_t h0, v0, h1, v1;
	double g, gbit;

	lab_cpu(&h0, &v0);
	g = iperf(PREFIX "vm2", PREFIX "vm1", "198.18.0.2", secs, retr);
	lab_cpu(&h1, &v1);
	gbit = g > 0 ? g * (secs + 1) : 0;
	*host_ms = gbit > 0 && h1 > h0 ? (double)(h1 - h0) / 1e6 / gbit : -1;
	*vms_ms = gbit > 0 && v1 > v0 ? (double)(v1 - v0) / 1e6 / gbit : -1;
	return g;
}

static int wait_vf(const char *vm)
{
	for (int i = 0; i < 200; i++) {
		if (!sh("IOVPATH_RUN_DIR=%s %s vm show %s --json | grep -q '\"datapath\": \"vf\"'",
		        g_run, g_cli, vm))
			return 0;
		usleep(50000);
	}
	return -1;
}

static double veth_gbps(double secs, double *retr)
{
	struct lab_nl *nl;
	double g = -1;

	if (lab_netns_add(PREFIX "va") || lab_netns_add(PREFIX "vb"))
		goto out;
	nl = lab_nl_open(NULL);
	if (!nl)
		goto out;
	if (lab_nl_veth_add(nl, "eth0", PREFIX "va", NULL, "eth0", PREFIX "vb") == 0) {
		struct lab_nl *a = lab_nl_open(PREFIX "va"), *b = lab_nl_open(PREFIX "vb");

		if (a && b && !lab_nl_addr_add(a, "eth0", 0xc6130001u, 24) &&
		    !lab_nl_addr_add(b, "eth0", 0xc6130002u, 24) && !lab_nl_link_up(a, "eth0") &&
		    !lab_nl_link_up(b, "eth0") && !lab_nl_link_up(a, "lo") &&
		    !lab_nl_link_up(b, "lo"))
			g = iperf(PREFIX "vb", PREFIX "va", "198.19.0.2", secs, retr);
		if (a)
			lab_nl_close(a);
		if (b)
			lab_nl_close(b);
	}
	lab_nl_close(nl);
out:
	lab_netns_del(PREFIX "va");
	lab_netns_del(PREFIX "vb");
	return g;
}

int bench_e2e(int argc, char **argv)
{
	struct bench_opts o = { .size = 1500, .seconds = 5, .ring = 1u << 20, .burst = 32 };
	char self[PATH_MAX], conf[128];
	ssize_t n;
	double syn = -1, vf = -1, veth, syn_rt = -1, vf_rt = -1, veth_rt = -1;
	double syn_host = -1, syn_vms = -1, vf_host = -1, vf_vms = -1;
	FILE *f;

	/* --cc NAME is this benchmark's own; the rest are the common options */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cc") != 0)
			continue;
		if (i + 1 >= argc || !argv[i + 1][0] ||
		    strspn(argv[i + 1], "abcdefghijklmnopqrstuvwxyz0123456789_") !=
		        strlen(argv[i + 1]) ||
		    strlen(argv[i + 1]) >= sizeof(g_cc)) {
			fprintf(stderr, "bench e2e: --cc needs a congestion control's name, "
			                "one of /proc/sys/net/ipv4/tcp_available_congestion_control\n");
			return 2;
		}
		snprintf(g_cc_opt, sizeof(g_cc_opt), " -C %s", argv[i + 1]);
		memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(*argv));
		argc -= 2;
		i--;
	}
	if (bench_parse(argc, argv, &o, 60, 65535))
		return 2;
	if (geteuid() != 0) {
		fprintf(stderr, "bench e2e: needs root (network namespaces, TAP devices, veth)\n");
		return 1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	if (strrchr(self, '/'))
		*strrchr(self, '/') = '\0';
	snprintf(g_cli, sizeof(g_cli), "%s/iovpath", self);
	snprintf(g_run, sizeof(g_run), "/tmp/iovpath-e2e.XXXXXX");
	if (!mkdtemp(g_run)) {
		perror("bench e2e: mkdtemp");
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/lab.conf", g_run);
	f = fopen(conf, "w");
	if (!f)
		return 1;
	fprintf(f, "lab e2e\nnetwork net\nhost h1\nnic h1 vfs 2\n"
	           "vm vm1 host h1 mac 02:00:00:00:0e:01 ip 198.18.0.1/24\n"
	           "vm vm2 host h1 mac 02:00:00:00:0e:02 ip 198.18.0.2/24\n");
	fclose(f);
	sh("IOVPATH_RUN_DIR=%s %s lab down --force %s >/dev/null 2>&1", g_run, g_cli, conf);
	if (sh("IOVPATH_RUN_DIR=%s %s lab up %s >/dev/null", g_run, g_cli, conf)) {
		fprintf(stderr, "bench e2e: lab up failed (see %s/*.log)\n", g_run);
	} else {
		syn = lab_leg(o.seconds, &syn_rt, &syn_host, &syn_vms);
		if (!sh("IOVPATH_RUN_DIR=%s %s vm attach-vf vm1 >/dev/null && "
		        "IOVPATH_RUN_DIR=%s %s vm attach-vf vm2 >/dev/null",
		        g_run, g_cli, g_run, g_cli) &&
		    !wait_vf("vm1") && !wait_vf("vm2"))
			vf = lab_leg(o.seconds, &vf_rt, &vf_host, &vf_vms);
		else
			fprintf(stderr, "bench e2e: the VF path did not come up\n");
	}
	sh("IOVPATH_RUN_DIR=%s %s lab down --force %s >/dev/null 2>&1", g_run, g_cli, conf);
	veth = veth_gbps(o.seconds, &veth_rt);
	sh("rm -rf %s", g_run); /* logs, state: ours, made by mkdtemp */
	if (!o.json)
		printf("bench e2e: iperf3, one TCP stream VM→VM, %.0f s per leg\n", o.seconds);
	/* retransmitted segments per leg: a path that drops shows here first;
	 * CPU per Gbit: what each path costs the host and the VM processes */
	bench_report_json(
	    &o, json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:f}",
	                  "synthetic_gbps", syn, "vf_gbps", vf, "veth_gbps", veth,
	                  "synthetic_vs_veth", veth > 0 ? syn / veth : 0.0, "vf_vs_veth",
	                  veth > 0 ? vf / veth : 0.0, "seconds", o.seconds, "tcp_cc", g_cc,
	                  "synthetic_retransmits", (json_int_t)syn_rt, "vf_retransmits",
	                  (json_int_t)vf_rt, "veth_retransmits", (json_int_t)veth_rt,
	                  "synthetic_host_ms_per_gbit", syn_host, "vf_host_ms_per_gbit", vf_host,
	                  "synthetic_vms_ms_per_gbit", syn_vms, "vf_vms_ms_per_gbit", vf_vms));
	return syn > 0 && vf > 0 && veth > 0 ? 0 : 1;
}
