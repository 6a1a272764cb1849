/* bench e2e — real guests, real TCP: one iperf3 TCP stream VM→VM on one host
 * over (a) the synthetic path, (b) the VF path, and in the same run (c) a
 * plain veth pair between two namespaces, the kernel's own baseline.
 *
 * (a) and (b) run in a lab (iovpath lab up) of one host with two VMs in a run
 * directory of their own; (b) after `vm attach-vf` on both VMs, once the host
 * reports the VF data path for each. Needs root (namespaces, TAP devices).
 * Each leg is --seconds long (default 5), after a 1 s warm-up iperf3 omits.
 * --rounds N (default 1) runs the three legs N times, back to back in each
 * round (the VFs detached again between rounds), and reports the medians,
 * each ratio the median of the rounds' own with its range (bench.h: the
 * vCPUs' placement changes from minute to minute). --seconds stays per leg.
 * Every leg uses the same TCP congestion control: the system's default, or
 * --cc NAME (iperf3 -C); the report names it (tcp_cc), since it decides much:
 * on the 2-core machine of the README, veth does 12-16 Gbit/s with bbr and
 * anywhere from 9 to 91 with cubic, and this path's legs ~5.4 and ~8.5.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "lab/lab_conf.h"
#include "lab/lab_net.h"
#include "util/util.h"

#define PREFIX "iovp-e2e-"

static char g_cli[PATH_MAX + 16], g_run[64];
static char g_cc_opt[48];     /* " -C NAME" or "" */
static char g_cc[16] = "?";   /* what the last leg's sender used */
static char g_cpus[LAB_CPUS_LEN]; /* the lab host's datapath CPUs; "none"; "": default */

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

/* Wait until the host reports @vm's data path as @path ("vf", "synthetic"). */
static int wait_path(const char *vm, const char *path)
{
	for (int i = 0; i < 200; i++) {
		if (!sh("IOVPATH_RUN_DIR=%s %s vm show %s --json | grep -q '\"datapath\": \"%s\"'",
		        g_run, g_cli, vm, path))
			return 0;
		usleep(50000);
	}
	return -1;
}

/* Both VMs to the VF path (@verb "attach-vf") or back ("detach-vf"). */
static int both_vms(const char *verb, const char *path)
{
	return sh("IOVPATH_RUN_DIR=%s %s vm %s vm1 >/dev/null && "
	          "IOVPATH_RUN_DIR=%s %s vm %s vm2 >/dev/null",
	          g_run, g_cli, verb, g_run, g_cli, verb) ||
	               wait_path("vm1", path) || wait_path("vm2", path)
	           ? -1
	           : 0;
}

/* The baseline: a veth pair between two namespaces of ours. 0 or -1. */
static int veth_up(void)
{
	struct lab_nl *nl, *a = NULL, *b = NULL;
	int r = -1;

	if (lab_netns_add(PREFIX "va") || lab_netns_add(PREFIX "vb"))
		return -1;
	nl = lab_nl_open(NULL);
	if (!nl)
		return -1;
	if (lab_nl_veth_add(nl, "eth0", PREFIX "va", NULL, "eth0", PREFIX "vb") == 0) {
		a = lab_nl_open(PREFIX "va");
		b = lab_nl_open(PREFIX "vb");
		if (a && b && !lab_nl_addr_add(a, "eth0", 0xc6130001u, 24) &&
		    !lab_nl_addr_add(b, "eth0", 0xc6130002u, 24) && !lab_nl_link_up(a, "eth0") &&
		    !lab_nl_link_up(b, "eth0") && !lab_nl_link_up(a, "lo") &&
		    !lab_nl_link_up(b, "lo"))
			r = 0;
		if (a)
			lab_nl_close(a);
		if (b)
			lab_nl_close(b);
	}
	lab_nl_close(nl);
	return r;
}

static void veth_down(void)
{
	lab_netns_del(PREFIX "va");
	lab_netns_del(PREFIX "vb");
}

/* --cpus by default: the host's datapath (daemon and VM processes, lab
 * `host h1 cpus N`) on the last CPU this process may use, the guests'
 * applications (iperf3) on any; "none" with one CPU. On the 2-core machine of
 * the README the datapath's wake-ups then stay on one CPU (a cross-CPU
 * wake-up costs ~1.5 times as much there), each of its processes finishes
 * its batch before the next runs (util_datapath_cpus), and the guests' TCP
 * has the other CPU to itself most of the time (README, Benchmarks). */
static void default_cpus(void)
{
	cpu_set_t set;

	snprintf(g_cpus, sizeof(g_cpus), "none");
	if (sched_getaffinity(0, sizeof(set), &set) || CPU_COUNT(&set) < 2)
		return;
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &set)) {
			snprintf(g_cpus, sizeof(g_cpus), "%d", c);
			return;
		}
}

/* bench e2e's figures, per round in which every leg finished. */
struct e2e_rounds {
	double syn[BENCH_ROUNDS_MAX], vf[BENCH_ROUNDS_MAX], veth[BENCH_ROUNDS_MAX];
	double syn_r[BENCH_ROUNDS_MAX], vf_r[BENCH_ROUNDS_MAX]; /* each over its round's veth */
	double syn_host[BENCH_ROUNDS_MAX], syn_vms[BENCH_ROUNDS_MAX];
	double vf_host[BENCH_ROUNDS_MAX], vf_vms[BENCH_ROUNDS_MAX];
	double syn_rt, vf_rt, veth_rt; /* retransmitted segments, all rounds; -1: unknown */
};

static void add_retr(double *sum, double r)
{
	*sum = *sum < 0 || r < 0 ? -1 : *sum + r;
}

static void put(json_t *obj, const char *key, double v)
{
	json_object_set_new(obj, key, json_real(v));
}

/* The median of @n figures as @key (-1: none), and with @range their
 * smallest and largest as KEY_min and KEY_max. */
static void put_median(json_t *obj, const char *key, double *v, unsigned int n, bool range)
{
	char k[64];
	double lo = -1, hi = -1;

	if (n && range)
		bench_range(v, n, &lo, &hi);
	put(obj, key, n ? bench_median(v, n) : -1);
	if (!range)
		return;
	snprintf(k, sizeof(k), "%s_min", key);
	put(obj, k, lo);
	snprintf(k, sizeof(k), "%s_max", key);
	put(obj, k, hi);
}

int bench_e2e(int argc, char **argv)
{
	struct bench_opts o = {
		.size = 1500, .seconds = 5, .ring = 1u << 20, .burst = 32, .rounds = 1
	};
	struct e2e_rounds *er;
	char self[PATH_MAX], conf[128];
	unsigned int done = 0; /* rounds with every leg measured */
	ssize_t n;
	json_t *rep;
	FILE *f;

	/* --cc NAME and --cpus LIST are this benchmark's own; the rest are the
	 * common options */
	for (int i = 1; i < argc; i++) {
		bool cc = !strcmp(argv[i], "--cc");

		if (!cc && strcmp(argv[i], "--cpus") != 0)
			continue;
		if (!cc) {
			struct util_cpus cs;
			char why[160];

			if (i + 1 >= argc || strlen(argv[i + 1]) >= sizeof(g_cpus) ||
			    (strcmp(argv[i + 1], "none") &&
			     util_cpus_parse(argv[i + 1], &cs, why, sizeof(why)))) {
				fprintf(stderr, "bench e2e: --cpus needs a CPU list (as taskset -c: 1, "
				                "0-3) or none\n");
				return 2;
			}
			snprintf(g_cpus, sizeof(g_cpus), "%s", argv[i + 1]);
		} else if (i + 1 >= argc || !argv[i + 1][0] ||
		           strspn(argv[i + 1], "abcdefghijklmnopqrstuvwxyz0123456789_") !=
		               strlen(argv[i + 1]) ||
		           strlen(argv[i + 1]) >= sizeof(g_cc)) {
			fprintf(stderr, "bench e2e: --cc needs a congestion control's name, "
			                "one of /proc/sys/net/ipv4/tcp_available_congestion_control\n");
			return 2;
		} else {
			snprintf(g_cc_opt, sizeof(g_cc_opt), " -C %s", argv[i + 1]);
		}
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
	er = calloc(1, sizeof(*er));
	if (!f || !er) {
		perror("bench e2e");
		if (f)
			fclose(f);
		free(er);
		return 1;
	}
	if (!g_cpus[0])
		default_cpus();
	fprintf(f, "lab e2e\nnetwork net\nhost h1%s%s\nnic h1 vfs 2\n",
	        strcmp(g_cpus, "none") ? " cpus " : "", strcmp(g_cpus, "none") ? g_cpus : "");
	fprintf(f, "vm vm1 host h1 mac 02:00:00:00:0e:01 ip 198.18.0.1/24\n"
	           "vm vm2 host h1 mac 02:00:00:00:0e:02 ip 198.18.0.2/24\n");
	fclose(f);
	sh("IOVPATH_RUN_DIR=%s %s lab down --force %s >/dev/null 2>&1", g_run, g_cli, conf);
	veth_down();
	if (sh("IOVPATH_RUN_DIR=%s %s lab up %s >/dev/null", g_run, g_cli, conf)) {
		fprintf(stderr, "bench e2e: lab up failed (see %s/*.log)\n", g_run);
	} else if (veth_up()) {
		fprintf(stderr, "bench e2e: the veth pair could not be made\n");
	} else {
		/* Each round: synthetic, VF, veth, back to back (one placement of
		 * the vCPUs per round's ratios, as in bench.h). */
		for (unsigned int i = 0; i < o.rounds; i++) {
			double rs, rv, rw, g_syn, g_vf, g_veth;

			if (i && both_vms("detach-vf", "synthetic")) {
				fprintf(stderr, "bench e2e: the VMs did not go back to synthetic\n");
				break;
			}
			g_syn = lab_leg(o.seconds, &rs, &er->syn_host[done], &er->syn_vms[done]);
			if (both_vms("attach-vf", "vf")) {
				fprintf(stderr, "bench e2e: the VF path did not come up\n");
				break;
			}
			g_vf = lab_leg(o.seconds, &rv, &er->vf_host[done], &er->vf_vms[done]);
			g_veth = iperf(PREFIX "vb", PREFIX "va", "198.19.0.2", o.seconds, &rw);
			if (g_syn <= 0 || g_vf <= 0 || g_veth <= 0) {
				fprintf(stderr, "bench e2e: round %u: a leg failed (synthetic %.2f, "
				                "VF %.2f, veth %.2f Gbit/s)\n",
				        i + 1, g_syn, g_vf, g_veth);
				break;
			}
			er->syn[done] = g_syn, er->vf[done] = g_vf, er->veth[done] = g_veth;
			er->syn_r[done] = g_syn / g_veth, er->vf_r[done] = g_vf / g_veth;
			if (!done)
				er->syn_rt = er->vf_rt = er->veth_rt = 0;
			add_retr(&er->syn_rt, rs), add_retr(&er->vf_rt, rv), add_retr(&er->veth_rt, rw);
			done++;
		}
	}
	sh("IOVPATH_RUN_DIR=%s %s lab down --force %s >/dev/null 2>&1", g_run, g_cli, conf);
	veth_down();
	sh("rm -rf %s", g_run); /* logs, state: ours, made by mkdtemp */
	if (!o.json)
		printf("bench e2e: iperf3, one TCP stream VM→VM, %.0f s per leg, %u round(s) of "
		       "synthetic, VF, veth%s\n",
		       o.seconds, o.rounds, o.rounds > 1 ? "; medians" : "");
	/* retransmitted segments per leg: a path that drops shows here first;
	 * CPU per Gbit: what each path costs the host and the VM processes */
	rep = json_object();
	if (rep) {
		put_median(rep, "synthetic_gbps", er->syn, done, false);
		put_median(rep, "vf_gbps", er->vf, done, false);
		put_median(rep, "veth_gbps", er->veth, done, false);
		put_median(rep, "synthetic_vs_veth", er->syn_r, done, true);
		put_median(rep, "vf_vs_veth", er->vf_r, done, true);
		put(rep, "seconds", o.seconds);
		json_object_set_new(rep, "rounds", json_integer(done));
		json_object_set_new(rep, "tcp_cc", json_string(g_cc));
		json_object_set_new(rep, "datapath_cpus", json_string(g_cpus));
		json_object_set_new(rep, "synthetic_retransmits", json_integer(done ? (json_int_t)er->syn_rt : -1));
		json_object_set_new(rep, "vf_retransmits", json_integer(done ? (json_int_t)er->vf_rt : -1));
		json_object_set_new(rep, "veth_retransmits", json_integer(done ? (json_int_t)er->veth_rt : -1));
		put_median(rep, "synthetic_host_ms_per_gbit", er->syn_host, done, false);
		put_median(rep, "vf_host_ms_per_gbit", er->vf_host, done, false);
		put_median(rep, "synthetic_vms_ms_per_gbit", er->syn_vms, done, false);
		put_median(rep, "vf_vms_ms_per_gbit", er->vf_vms, done, false);
	}
	bench_report_json(&o, rep);
	free(er);
	return done == o.rounds ? 0 : 1;
}
