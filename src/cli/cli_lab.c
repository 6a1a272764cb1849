/* cli_lab — `iovpath lab up FILE`, `iovpath lab down [--force]`, `iovpath lab show`.
 *
 * lab up: builds the namespaces and devices (lab.h), then starts the lab's
 * processes: one iovpathd per host (its physical port as the lab made it)
 * and, for each VM, `vm create` on its host and one iovpath-vm whose TAP is
 * the guest's eth0 in the VM's namespace, with its MAC and address. Each
 * process runs in its own session, logs to RUN_DIR/NAME.log, and is recorded
 * in RUN_DIR/lab.pids before the next starts, so a crash of this command at
 * any point leaves nothing `lab down` can't find.
 *
 * lab down: stops the recorded processes (VMs first; SIGTERM, then SIGKILL
 * after 3 s), then removes the namespaces and devices. --force also stops
 * any iovpathd / iovpath-vm of this run directory that is not recorded and
 * sweeps every namespace and device named with the lab's prefix (from its
 * state file; without one, from FILE if given, else every lab's: iovp-*).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "host/hostd.h"
#include "lab/lab.h"
#include "util/util.h"

#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS  3000

static void path_in(const struct cli_opts *o, const char *file, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", o->run_dir, file);
}

/* The directory this binary is in: iovpathd and iovpath-vm live next to it. */
static void bin_path(const char *name, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	self[n > 0 ? n : 0] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%s/%s", n > 0 ? self : ".", name);
}

/* Start @argv[0] (a sibling binary) detached, output to RUN_DIR/@log.log,
 * and record it. Returns the pid or -1. */
static pid_t spawn(const struct cli_opts *o, const char *log, char **argv)
{
	char exe[PATH_MAX + 32], logf[PATH_MAX], pids[PATH_MAX];
	pid_t pid;
	FILE *f;

	bin_path(argv[0], exe, sizeof(exe));
	path_in(o, log, logf, sizeof(logf));
	strncat(logf, ".log", sizeof(logf) - strlen(logf) - 1);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		sigset_t none;

		setsid();
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (nul >= 0)
			dup2(nul, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(exe, argv);
		fprintf(stderr, "cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	path_in(o, "lab.pids", pids, sizeof(pids));
	f = fopen(pids, "a");
	if (f) {
		fprintf(f, "%d %s\n", (int)pid, log);
		fclose(f);
	}
	return pid;
}

static bool alive(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, WNOHANG) == pid)
		return false; /* our child, and it ended */
	return kill(pid, 0) == 0;
}

static void tail_log(const struct cli_opts *o, const char *name)
{
	char logf[PATH_MAX], line[512];
	FILE *f;

	path_in(o, name, logf, sizeof(logf));
	strncat(logf, ".log", sizeof(logf) - strlen(logf) - 1);
	f = fopen(logf, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s: %s", name, line);
	fclose(f);
}

/* Wait until the daemon of @host answers; NULL when it died or timed out. */
static struct mgmt_client *wait_host(struct cli_opts *o, const char *host, pid_t pid)
{
	char path[PATH_MAX];
	uint64_t end = util_now_ns() + START_TIMEOUT_MS * 1000000ull;

	path_in(o, host, path, sizeof(path));
	strncat(path, ".mgmt", sizeof(path) - strlen(path) - 1);
	while (util_now_ns() < end && alive(pid)) {
		struct mgmt_client *c = mgmt_connect(path);
		json_t *res = NULL;
		struct mgmt_err e;

		if (c && !mgmt_call(c, "host.show", NULL, &res, &e, 1000)) {
			json_t *pidj = json_object_get(res, "pid");
			bool ours = json_integer_value(pidj) == pid;

			json_decref(res);
			if (ours)
				return c;
		}
		if (c)
			mgmt_close(c);
		usleep(20000);
	}
	return NULL;
}

static bool vm_connected(struct mgmt_client *c, const char *vm)
{
	json_t *res = NULL, *v;
	struct mgmt_err e;
	bool yes = false;

	json_t *args = json_pack("{s:s}", "name", vm);
	int r = mgmt_call(c, "vm.show", args, &res, &e, 1000);

	json_decref(args);
	if (r == 0) {
		v = json_is_array(res) ? json_array_get(res, 0) : res;
		yes = json_is_true(json_object_get(v, "connected"));
	}
	json_decref(res);
	return yes;
}

/* A VM's adapter process on its host's datapath CPUs (@cpus; "": any). */
static int start_vm(struct cli_opts *o, struct mgmt_client *c, json_t *vm, const char *cpus)
{
	const char *name = json_string_value(json_object_get(vm, "name"));
	const char *host = json_string_value(json_object_get(vm, "host"));
	const char *netns = json_string_value(json_object_get(vm, "netns"));
	const char *mac = json_string_value(json_object_get(vm, "mac"));
	const char *ip = json_string_value(json_object_get(vm, "ip"));
	json_int_t vlan = json_integer_value(json_object_get(vm, "vlan"));
	char *argv[] = { "iovpath-vm",       "--host",      (char *)host, "--name",   (char *)name,
		         "--netns",          (char *)netns, "--ip",       (char *)ip, "--run-dir",
		         (char *)o->run_dir, "--cpus",      (char *)cpus, NULL };
	uint64_t end;
	pid_t pid;

	json_t *args = json_pack("{s:s, s:s, s:I}", "name", name, "mac", mac, "vlan", vlan);
	int r = cli_call(c, "vm.create", args, NULL);

	json_decref(args);
	if (r)
		return -1;
	if (!cpus || !*cpus)
		argv[ARRAY_SIZE(argv) - 3] = NULL; /* no "--cpus", LIST */
	pid = spawn(o, name, argv);
	end = util_now_ns() + START_TIMEOUT_MS * 1000000ull;
	while (pid > 0 && alive(pid) && util_now_ns() < end) {
		if (vm_connected(c, name)) {
			printf("  vm %-10s on %s: %s, %s in namespace %s (pid %d)\n", name, host,
			       mac, ip, netns, (int)pid);
			return 0;
		}
		usleep(20000);
	}
	fprintf(stderr, "iovpath: VM %s did not come up; its log:\n", name);
	tail_log(o, name);
	return -1;
}

static json_t *load_state(const struct cli_opts *o)
{
	char path[PATH_MAX];
	json_error_t je;

	path_in(o, "lab.json", path, sizeof(path));
	return json_load_file(path, 0, &je);
}

static int lab_start(struct cli_opts *o)
{
	json_t *st = load_state(o), *h, *vm;
	size_t i, j;
	int rc = 0;

	if (!st) {
		fprintf(stderr, "iovpath: the lab's state file is unreadable\n");
		return 1;
	}
	json_array_foreach(json_object_get(st, "hosts"), i, h)
	{
		const char *name = json_string_value(json_object_get(h, "name"));
		const char *port = json_string_value(json_object_get(h, "port"));
		const char *cpus = json_string_value(json_object_get(h, "cpus"));
		char vfs[16];
		char *argv[] = { "iovpathd",         "--name", (char *)name, "--port",
			         (char *)port,       "--vfs",  vfs,          "--run-dir",
			         (char *)o->run_dir, "--cpus", (char *)cpus, NULL };
		struct mgmt_client *c;
		pid_t pid;

		snprintf(vfs, sizeof(vfs), "%lld",
		         (long long)json_integer_value(json_object_get(h, "vfs")));
		if (!cpus || !*cpus)
			argv[ARRAY_SIZE(argv) - 3] = NULL; /* no "--cpus", LIST */
		pid = spawn(o, name, argv);
		c = pid > 0 ? wait_host(o, name, pid) : NULL;
		if (!c) {
			fprintf(stderr, "iovpath: host %s did not come up; its log:\n", name);
			tail_log(o, name);
			rc = 1;
			break;
		}
		printf("  host %-8s NIC with %s VFs, physical port %s%s%s (pid %d)\n", name, vfs,
		       port, cpus && *cpus ? ", datapath on CPUs " : "", cpus ? cpus : "",
		       (int)pid);
		json_array_foreach(json_object_get(st, "vms"), j, vm)
		{
			if (strcmp(json_string_value(json_object_get(vm, "host")), name))
				continue;
			if (start_vm(o, c, vm, cpus)) {
				rc = 1;
				break;
			}
		}
		mgmt_close(c);
		if (rc)
			break;
	}
	json_decref(st);
	return rc;
}

/* Does process @pid run one of our binaries for run directory @run_dir?
 * 1: an iovpath-vm, 2: an iovpathd, 0: neither. */
static int ours(pid_t pid, const char *run_dir)
{
	char path[64], buf[4096];
	bool dir_match = !strcmp(run_dir, HOSTD_RUN_DIR);
	int kind = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (char *a = buf, *prev = NULL; a < buf + n; prev = a, a += strlen(a) + 1) {
		const char *base = strrchr(a, '/') ? strrchr(a, '/') + 1 : a;

		if (a == buf)
			kind = !strcmp(base, "iovpath-vm") ? 1 : !strcmp(base, "iovpathd") ? 2 : 0;
		else if (prev && !strcmp(prev, "--run-dir"))
			dir_match = !strcmp(a, run_dir);
	}
	return dir_match ? kind : 0;
}

/* SIGTERM to @pids, wait up to STOP_TIMEOUT_MS, then SIGKILL and reap. */
static void stop_pids(pid_t *pids, int n)
{
	uint64_t end = util_now_ns() + STOP_TIMEOUT_MS * 1000000ull;
	bool any = true;

	for (int i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	while (any && util_now_ns() < end) {
		any = false;
		for (int i = 0; i < n; i++)
			if (pids[i] > 0 && alive(pids[i]))
				any = true;
		if (any)
			usleep(20000);
	}
	for (int i = 0; i < n; i++)
		if (pids[i] > 0 && alive(pids[i])) {
			fprintf(stderr, "iovpath: pid %d did not stop in %d ms: killed\n",
			        (int)pids[i], STOP_TIMEOUT_MS);
			kill(pids[i], SIGKILL);
			for (int k = 0; k < 100 && alive(pids[i]); k++)
				usleep(10000);
		}
}

/* Stop the lab's processes: the recorded ones (VMs, which were recorded
 * after their host, first), and with @force any other of ours. */
static int lab_stop(const struct cli_opts *o, bool force)
{
	char path[PATH_MAX];
	pid_t pids[2048];
	int n = 0, pid;
	char name[128];
	FILE *f;

	path_in(o, "lab.pids", path, sizeof(path));
	f = fopen(path, "r");
	while (f && n < 2048 && fscanf(f, "%d %127s", &pid, name) == 2)
		if (pid > 0 && ours(pid, o->run_dir))
			pids[n++] = pid;
	if (f)
		fclose(f);
	if (force) {
		DIR *d = opendir("/proc");
		struct dirent *e;

		while (d && (e = readdir(d)) && n < 2048) {
			pid = atoi(e->d_name);
			if (pid > 0 && pid != getpid() && ours(pid, o->run_dir)) {
				bool known = false;

				for (int i = 0; i < n; i++)
					known |= pids[i] == pid;
				if (!known)
					pids[n++] = pid;
			}
		}
		if (d)
			closedir(d);
	}
	/* VMs first (their adapters close cleanly while the host still serves
	 * them), then the hosts (PF halt in order). */
	int nvm = 0;

	for (int i = 0; i < n; i++)
		if (ours(pids[i], o->run_dir) == 1) {
			pid_t t = pids[nvm];

			pids[nvm++] = pids[i];
			pids[i] = t;
		}
	stop_pids(pids, nvm);
	stop_pids(pids + nvm, n - nvm);
	unlink(path);
	return n;
}

static int lab_usage(void)
{
	fprintf(stderr,
	        "usage: iovpath lab up FILE [--no-start] [--run-dir DIR]\n"
	        "       iovpath lab down [--force [FILE]] [--run-dir DIR]\n"
	        "       iovpath lab show [--json]\n"
	        "  FILE: the lab's description (see examples/lab.conf)\n"
	        "  --force: also stop unrecorded processes of the run directory and remove\n"
	        "  leftovers by name: the lab's own names (its state, or FILE), else every\n"
	        "  lab's (" LAB_PREFIX "*)\n");
	return 2;
}

int cli_cmd_lab(int argc, char **argv)
{
	struct cli_opts o;
	char state[PATH_MAX], err[512];
	int r = cli_opts_parse(&o, argc, argv);

	if (r)
		return r;
	if (o.argc < 1)
		return lab_usage();
	path_in(&o, "lab.json", state, sizeof(state));
	if (!strcmp(o.argv[0], "up") &&
	    (o.argc == 2 || (o.argc == 3 && !strcmp(o.argv[2], "--no-start")))) {
		struct lab_conf *c = lab_conf_load(o.argv[1], err, sizeof(err));

		if (!c) {
			fprintf(stderr, "iovpath: %s\n", err);
			return 1;
		}
		struct stat st;

		mkdir(o.run_dir, 0755);
		if (stat(o.run_dir, &st) || st.st_uid != geteuid() || (st.st_mode & 022)) {
			fprintf(stderr,
			        "iovpath: run directory %s is not ours or is writable by others: "
			        "remove it or use another --run-dir\n",
			        o.run_dir);
			lab_conf_free(c);
			return 1;
		}
		r = lab_up(c, state, err, sizeof(err));
		lab_conf_free(c);
		if (r < 0) {
			fprintf(stderr, "iovpath: lab up: %s\n", err);
			return 1;
		}
		printf("iovpath: lab up: namespaces and devices made (state %s)\n", state);
		if (o.argc == 3)
			return 0;
		if (lab_start(&o)) {
			fprintf(stderr, "iovpath: lab up failed; taking it down again\n");
			lab_stop(&o, false);
			lab_down(state, false, err, sizeof(err));
			return 1;
		}
		printf("iovpath: lab up: ready\n");
		return 0;
	}
	if (!strcmp(o.argv[0], "down") && o.argc <= 3) {
		bool force = false;
		const char *file = NULL;
		int procs;

		for (int i = 1; i < o.argc; i++) {
			if (!strcmp(o.argv[i], "--force"))
				force = true;
			else if (!file && o.argv[i][0] != '-')
				file = o.argv[i];
			else
				return lab_usage();
		}
		procs = lab_stop(&o, force);
		if (force && file && access(state, F_OK) != 0) {
			/* no state: sweep only what this lab's names would be */
			struct lab_conf *c = lab_conf_load(file, err, sizeof(err));
			char prefix[LAB_NETNS_MAX];

			if (!c) {
				fprintf(stderr, "iovpath: %s\n", err);
				return 1;
			}
			lab_conf_prefix(c, prefix, sizeof(prefix));
			lab_conf_free(c);
			r = lab_sweep(prefix, false, err, sizeof(err));
		} else {
			r = lab_down(state, force, err, sizeof(err));
		}
		if (r < 0) {
			fprintf(stderr, "iovpath: lab down: %s\n", err);
			return 1;
		}
		printf(
		    "iovpath: lab down: %d processes stopped, %d namespaces and devices removed\n",
		    procs, r);
		return 0;
	}
	if (!strcmp(o.argv[0], "show") && o.argc == 1) {
		json_t *st = load_state(&o);

		if (!st) {
			fprintf(stderr, "iovpath: no lab is up (no %s)\n", state);
			return 1;
		}
		cli_print(&o, st);
		json_decref(st);
		return 0;
	}
	return lab_usage();
}
