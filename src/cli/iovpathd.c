/* iovpathd — the host daemon: see host/hostd.h. This file is its command line. */
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/hostd.h"
#include "host/mgmt.h"
#include "nic/nic.h"
#include "util/util.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: iovpathd --name HOST [--port SPEC] [--vfs N] [--group GROUP]\n"
	    "                [--run-dir DIR] [--nice N] [--cpus LIST]\n"
	    "                [--migrate-listen A.B.C.D:PORT|off] [-v]\n"
	    "\n"
	    "  --name HOST     the host's name (one daemon per name; refused if one runs)\n"
	    "  --port SPEC     the NIC's physical port: tap:NAME[,netns=NS],\n"
	    "                  afpacket:IFNAME[,netns=NS], shm-listen:PATH, shm-connect:PATH\n"
	    "                  (none: the NIC has no wire; VMs still reach each other)\n"
	    "  --vfs N         VFs of the emulated SR-IOV NIC (0..%u, default 4)\n"
	    "  --group GROUP   a group whose members may use the management socket (besides root)\n"
	    "  --run-dir DIR   sockets, lock and credentials (default %s)\n"
	    "  --nice N        the daemon's scheduling priority, -20..19 (default %d: the host's\n"
	    "                  datapath ahead of the VM processes; needs root or CAP_SYS_NICE)\n"
	    "  --cpus LIST     run on these CPUs only (as taskset -c: 1, 0-3, 1,3), SCHED_BATCH:\n"
	    "                  the datapath on CPUs of its own, with its VMs' adapter processes\n"
	    "                  (iovpath-vm --cpus), apart from the guests' applications\n"
	    "                  (default: any CPU, SCHED_OTHER)\n"
	    "  --migrate-listen A.B.C.D:PORT\n"
	    "                  where other hosts' daemons send VMs migrating here (TCP; default\n"
	    "                  127.0.0.1:0, a free port host show tells; off: none)\n"
	    "  -v              debug logging\n"
	    "\n"
	    "Runs in the foreground, logs to stderr; SIGTERM or SIGINT stops it cleanly.\n",
	    NIC_MAX_VFS, HOSTD_RUN_DIR, HOSTD_NICE);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "vfs", required_argument, NULL, 'f' },
		{ "group", required_argument, NULL, 'g' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "nice", required_argument, NULL, 'N' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "migrate-listen", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hostd_config c = { .vfs = 4, .group = MGMT_NO_GROUP, .nice = HOSTD_NICE };
	char *end, err[160];
	int o;

	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			c.name = optarg;
			break;
		case 'p':
			c.port = optarg;
			break;
		case 'm':
			c.migrate_listen = optarg;
			break;
		case 'r':
			c.run_dir = optarg;
			break;
		case 'v':
			c.verbose++;
			break;
		case 'c':
			if (util_datapath_cpus(optarg, err, sizeof(err))) {
				fprintf(stderr, "iovpathd: --cpus: %s\n", err);
				return 2;
			}
			break;
		case 'f': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || !*optarg || v > NIC_MAX_VFS) {
				fprintf(stderr, "iovpathd: --vfs %s: a number 0..%u\n", optarg,
				        NIC_MAX_VFS);
				return 2;
			}
			c.vfs = (unsigned int)v;
			break;
		}
		case 'N': {
			long v = strtol(optarg, &end, 10);

			if (*end || !*optarg || v < -20 || v > 19) {
				fprintf(stderr, "iovpathd: --nice %s: a number -20..19\n", optarg);
				return 2;
			}
			c.nice = (int)v;
			break;
		}
		case 'g': {
			struct group *g = getgrnam(optarg);

			if (!g) {
				fprintf(stderr, "iovpathd: --group %s: no such group\n", optarg);
				return 2;
			}
			c.group = g->gr_gid;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!c.name || optind != argc) {
		usage(stderr);
		return 2;
	}
	util_log_level =
	    c.verbose ? UTIL_LOG_DEBUG : UTIL_LOG_INFO; /* a daemon says what it does */
	return hostd_run(&c);
}
