/* iovpath-vm — one VM network adapter: see guest/vmproc.h. This file is its
 * command line. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/vmproc.h"
#include "host/hostd.h"
#include "util/util.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: iovpath-vm --host HOST --name VM [--netns NS] [--ifname IF] [--ip A.B.C.D/P]\n"
	    "                  [--cpus LIST]\n"
	    "       iovpath-vm --host HOST --name VM --endpoint [--to MAC] [--size N] [--pps R]\n"
	    "                  [--seconds S] [--wait-vf] [--quiet]\n"
	    "\n"
	    "  --host HOST     the host daemon (iovpathd --name HOST) the adapter lives on\n"
	    "  --name VM       the adapter, created first with `iovpath vm create`\n"
	    "  --run-dir DIR   the host's run directory (default %s)\n"
	    "  --secret FILE   the adapter's credential (default RUN_DIR/VM.secret)\n"
	    "  --cpus LIST     run on these CPUs only (as taskset -c: 1, 0-3, 1,3), SCHED_BATCH:\n"
	    "                  its host's datapath CPUs (iovpathd --cpus); default: any CPU\n"
	    "TAP mode (root): the guest OS is namespace NS; its one adapter IF (default eth0)\n"
	    "  gets the VM's MAC, the address given, and is brought up.\n"
	    "Endpoint mode (no root): the built-in endpoint checks every frame it receives;\n"
	    "  with --to it also sends N-byte frames (default 64) to MAC, at R frames/s\n"
	    "  (default: as fast as the path takes); counters as one JSON line at the end\n"
	    "  (and on SIGUSR1, going on);\n"
	    "  with --wait-vf it starts sending (and counting S) once its VF path is active.\n",
	    HOSTD_RUN_DIR);
}

static int parse_ip(const char *s, uint32_t *ip, uint8_t *plen)
{
	char buf[32], *slash, *end;
	struct in_addr a;
	unsigned long p;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	p = strtoul(slash + 1, &end, 10);
	if (*end || p < 1 || p > 32 || inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*ip = ntohl(a.s_addr);
	*plen = (uint8_t)p;
	return 0;
}

/* @s, decimal digits only, as a number in @min..@max into *@v: 0, or -1 (a
 * sign, a space, nothing, another character, or out of range; strtoull
 * alone takes "-1" as ULLONG_MAX, and a cast to a narrower type keeps the
 * low bits: 4294967356 was a 60-byte --size). */
static int parse_num(const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *v)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return *end || errno || *v < min || *v > max ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "name", required_argument, NULL, 'n' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "secret", required_argument, NULL, 's' },
		{ "netns", required_argument, NULL, 'N' },
		{ "ifname", required_argument, NULL, 'i' },
		{ "ip", required_argument, NULL, 'a' },
		{ "endpoint", no_argument, NULL, 'e' },
		{ "to", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 'z' },
		{ "pps", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "wait-vf", no_argument, NULL, 'w' },
		{ "cpus", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct vmproc_config c = { .mode = VMPROC_TAP };
	char *end, err[160];
	unsigned long long n;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			c.host = optarg;
			break;
		case 'n':
			c.name = optarg;
			break;
		case 'r':
			c.run_dir = optarg;
			break;
		case 's':
			c.secret_file = optarg;
			break;
		case 'N':
			c.netns = optarg;
			break;
		case 'i':
			c.ifname = optarg;
			break;
		case 'e':
			c.mode = VMPROC_ENDPOINT;
			break;
		case 'q':
			c.quiet = true;
			break;
		case 'w':
			c.wait_vf = true;
			break;
		case 'c':
			if (util_datapath_cpus(optarg, err, sizeof(err))) {
				fprintf(stderr, "iovpath-vm: --cpus: %s\n", err);
				return 2;
			}
			break;
		case 'a':
			if (parse_ip(optarg, &c.ip, &c.plen)) {
				fprintf(stderr, "iovpath-vm: --ip %s: want A.B.C.D/P\n", optarg);
				return 2;
			}
			break;
		case 't':
			if (util_mac_parse(optarg, c.dst_mac)) {
				fprintf(stderr,
				        "iovpath-vm: --to %s: want a MAC like 02:00:00:00:01:02\n",
				        optarg);
				return 2;
			}
			c.generate = true;
			break;
		case 'z':
			if (parse_num(optarg, 60, 1514, &n)) {
				fprintf(stderr, "iovpath-vm: --size %s: 60..1514 bytes\n", optarg);
				return 2;
			}
			c.size = (uint32_t)n;
			break;
		case 'p':
			if (parse_num(optarg, 0, UINT64_MAX, &n)) {
				fprintf(stderr,
				        "iovpath-vm: --pps %s: a number of frames per second\n",
				        optarg);
				return 2;
			}
			c.pps = n;
			break;
		case 'S':
			/* finite, 0 or more (0: until a signal); not "", "nan", "inf" */
			c.seconds = strtod(optarg, &end);
			if (!*optarg || *end || !(c.seconds >= 0) || isinf(c.seconds)) {
				fprintf(
				    stderr,
				    "iovpath-vm: --seconds %s: a number of seconds, 0 or more\n",
				    optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!c.host || !c.name || optind != argc) {
		usage(stderr);
		return 2;
	}
	util_log_level = UTIL_LOG_INFO; /* a daemon says what it does */
	return vmproc_run(&c);
}
