/* iovpath-bench — the benchmarks; `iovpath bench NAME …` runs this. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} benches[] = {
	{ "ring", bench_ring, "VMBus ring: producer process -> consumer process (Mpps, Gbit/s)" },
	{ "synthetic", bench_synthetic,
	  "synthetic path: NetVSC -> VMBus -> NetVSP -> loopback -> back, vs the bare ring" },
	{ "vf", bench_vf, "VF path through the NIC and the wire and back; NIC switch on one core" },
	{ "scale", bench_scale, "per-frame cost: 64 VMs with 63 VFs vs 1 VM, same offered load" },
	{ "e2e", bench_e2e, "iperf3 TCP VM->VM over synthetic, VF, and a plain veth pair (root)" },
	{ "wake", bench_wake, "what a doorbell costs here: waking a sleeping process, per CPU" },
	{ "migrate", bench_migrate,
	  "live migration under traffic: move time, blackout, frames forwarded, lost (none)" },
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
			if (!strcmp(argv[1], benches[i].name))
				return benches[i].run(argc - 1, argv + 1);
	fprintf(stderr, "usage: iovpath bench NAME [--size N] [--seconds S] [--rounds N] [--json]\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(stderr, "  %-10s %s\n", benches[i].name, benches[i].help);
	return 2;
}
