/* iovpath — the command-line tool: a table of subcommands. It controls (over
 * each host daemon's management socket, cli_ctl.c), builds labs (cli_lab.c)
 * and measures (benchmarks run iovpath-bench, which lives next to this
 * binary). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define IOVPATH_VERSION "0.1.0"

static int cmd_bench(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n < 0) {
		perror("iovpath: /proc/self/exe");
		return 1;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/iovpath-bench", self);
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "iovpath: cannot run %s: %s (build it with `make`)\n", path,
	        strerror(errno));
	return 1;
}

static int cmd_version(int argc, char **argv)
{
	printf("iovpath %s\n", IOVPATH_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);
static int cmd_host(int argc, char **argv)
{
	return cli_cmd_ctl("host", argc - 1, argv + 1);
}
static int cmd_vm(int argc, char **argv)
{
	return cli_cmd_ctl("vm", argc - 1, argv + 1);
}
static int cmd_nic(int argc, char **argv)
{
	return cli_cmd_ctl("nic", argc - 1, argv + 1);
}
static int cmd_vf(int argc, char **argv)
{
	return cli_cmd_ctl("vf", argc - 1, argv + 1);
}
static int cmd_port(int argc, char **argv)
{
	return cli_cmd_ctl("port", argc - 1, argv + 1);
}
static int cmd_filter(int argc, char **argv)
{
	return cli_cmd_ctl("filter", argc - 1, argv + 1);
}
static int cmd_switch(int argc, char **argv)
{
	return cli_cmd_ctl("switch", argc - 1, argv + 1);
}
static int cmd_stats(int argc, char **argv)
{
	return cli_cmd_stats(argc - 1, argv + 1);
}
static int cmd_capture(int argc, char **argv)
{
	return cli_cmd_capture(argc - 1, argv + 1);
}
static int cmd_events(int argc, char **argv)
{
	return cli_cmd_events(argc - 1, argv + 1);
}
static int cmd_lab(int argc, char **argv)
{
	return cli_cmd_lab(argc - 1, argv + 1);
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *args, *help;
} cmds[] = {
	{ "host", cmd_host, "show | set vf-timeout MS", "the host daemon: NIC, port, VMs, uptime" },
	{ "vm", cmd_vm, "show [VM] | create VM MAC [VLAN] | delete VM",
	  "VM network adapters on the host" },
	{ "", NULL, "attach-vf VM | detach-vf VM", "give the VM a VF (VF path) / take it back" },
	{ "", NULL, "set VM mac MAC | set VM vlan V", "change a stopped VM's adapter" },
	{ "nic", cmd_nic, "show", "the SR-IOV NIC: VFs, VPorts, filters, counters" },
	{ "vf", cmd_vf, "show", "the NIC's VFs" },
	{ "filter", cmd_filter, "show", "the NIC switch's receive filters" },
	{ "port", cmd_port, "show", "the extensible switch's ports" },
	{ "switch", cmd_switch, "show", "the extensible switch: ports and MAC table" },
	{ "stats", cmd_stats, "VM", "per-path counters of a VM (netvsc names)" },
	{ "capture", cmd_capture, "PORT -w FILE [--seconds S]", "pcap of a switch port" },
	{ "events", cmd_events, "[--follow]", "the host's timeline: attach, switch, detach" },
	{ "lab", cmd_lab, "up FILE | down [--force] | show", "build or remove a lab" },
	{ "bench", cmd_bench, "NAME [--size N] [--seconds S] [--rounds N] [--json]",
	  "run a benchmark (`iovpath bench` lists them)" },
	{ "version", cmd_version, "", "print the version" },
	{ "help", cmd_help, "", "this list" },
};

static int cmd_help(int argc, char **argv)
{
	printf(
	    "usage: iovpath COMMAND [ARGS] [--host HOST] [--run-dir DIR] [--json]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-8s %-46s %s\n", cmds[i].name, cmds[i].args, cmds[i].help);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (cmds[i].run && !strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "iovpath: unknown command '%s'; try `iovpath help`\n", argv[1]);
	return 2;
}
