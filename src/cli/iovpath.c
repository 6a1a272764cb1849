/* iovpath — the command-line tool: a table of subcommands. It controls and
 * measures; it does not link the datapath (benchmarks run iovpath-bench,
 * which lives next to this binary). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *args, *help;
} cmds[] = {
	{ "bench", cmd_bench, "NAME [--size N] [--seconds S] [--json]",
	  "run a benchmark (`iovpath bench` lists them)" },
	{ "version", cmd_version, "", "print the version" },
	{ "help", cmd_help, "", "this list" },
};

static int cmd_help(int argc, char **argv)
{
	printf("usage: iovpath COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-8s %-40s %s\n", cmds[i].name, cmds[i].args, cmds[i].help);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "iovpath: unknown command '%s'; try `iovpath help`\n", argv[1]);
	return 2;
}
