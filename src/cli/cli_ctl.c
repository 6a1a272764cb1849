/* cli_ctl — `iovpath host|vm|nic|vf|port|filter|switch …`, `stats`,
 * `capture`, `events`: requests to a host daemon over its management socket. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "host/migrate.h"
#include "host/hostd.h"

#define CALL_TIMEOUT_MS 5000
/* vm.migrate: the source daemon waits up to 3 s for a connection to the
 * destination and 3 s for its answer (MIGR_WAIT_MS, hostd.c) */
#define MIGRATE_TIMEOUT_MS 8000

int cli_opts_parse(struct cli_opts *o, int argc, char **argv)
{
	*o = (struct cli_opts){ .host = getenv("IOVPATH_HOST"),
		                .run_dir = getenv("IOVPATH_RUN_DIR") };
	if (!o->run_dir)
		o->run_dir = HOSTD_RUN_DIR;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			o->json = true;
		} else if (!strcmp(argv[i], "--host") || !strcmp(argv[i], "--run-dir")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "iovpath: %s needs a value\n", argv[i]);
				return 2;
			}
			if (argv[i][2] == 'h')
				o->host = argv[++i];
			else
				o->run_dir = argv[++i];
		} else if (o->argc < (int)(sizeof(o->argv) / sizeof(o->argv[0]))) {
			o->argv[o->argc++] = argv[i];
		}
	}
	return 0;
}

/* The host daemons in the run directory (their HOST.mgmt sockets) that
 * @pick accepts (NULL: all): how many; the first one's name into @buf. */
static int find_hosts(struct cli_opts *o, bool (*pick)(const char *path, void *ctx), void *ctx,
                      char *buf, size_t len)
{
	DIR *d = opendir(o->run_dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char path[512];

		if (l <= 5 || strcmp(e->d_name + l - 5, ".mgmt"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", o->run_dir, e->d_name);
		if ((!pick || pick(path, ctx)) && ++n == 1)
			snprintf(buf, len, "%.*s", (int)(l - 5), e->d_name);
	}
	closedir(d);
	return n;
}

/* The only host daemon, when --host is not given. */
static int only_host(struct cli_opts *o, char *buf, size_t len)
{
	return find_hosts(o, NULL, NULL, buf, len);
}

struct mgmt_client *cli_connect(struct cli_opts *o)
{
	static char host[64];
	char path[256];
	struct mgmt_client *c;

	if (!o->host) {
		int n = only_host(o, host, sizeof(host));

		if (n > 1) {
			fprintf(stderr,
			        "iovpath: %d host daemons run in %s: say which with --host HOST\n",
			        n, o->run_dir);
			return NULL;
		}
		if (n == 0) {
			fprintf(stderr,
			        "iovpath: no host daemon runs in %s: start one (iovpathd --name "
			        "HOST) or bring a lab up (iovpath lab up FILE)\n",
			        o->run_dir);
			return NULL;
		}
		o->host = host;
	}
	snprintf(path, sizeof(path), "%s/%s.mgmt", o->run_dir, o->host);
	c = mgmt_connect(path);
	if (!c)
		fprintf(stderr, "iovpath: host %s (%s): %s%s\n", o->host, path, strerror(errno),
		        errno == ENOENT || errno == ECONNREFUSED
		            ? ": is iovpathd --name HOST running?"
		        : errno == EACCES ? ": run as root or in the daemon's --group"
		                          : "");
	return c;
}

int cli_call(struct mgmt_client *c, const char *op, json_t *args, json_t **res)
{
	struct mgmt_err e = { 0 };
	int r = mgmt_call(c, op, args, res, &e,
	                  strcmp(op, "vm.migrate") ? CALL_TIMEOUT_MS : MIGRATE_TIMEOUT_MS);

	if (r == 0)
		return 0;
	fprintf(stderr, "iovpath: %s: %s\n", op, e.message[0] ? e.message : strerror(-r));
	if (e.hint[0])
		fprintf(stderr, "  hint: %s\n", e.hint);
	return 1;
}

/* ---- text output ---- */

static void print_scalar(FILE *f, json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		fputs(json_string_value(v), f);
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	fputs(s ? s : "?", f);
	free(s);
}

static void print_table(json_t *arr, int indent)
{
	const char *keys[32];
	int w[32], nk = 0;
	size_t i;
	json_t *row, *v;
	const char *k;

	json_array_foreach(arr, i, row)
	{
		json_object_foreach(row, k, v)
		{
			int j;

			for (j = 0; j < nk && strcmp(keys[j], k); j++)
				;
			if (j == nk && nk < 32) {
				keys[nk] = k;
				w[nk++] = (int)strlen(k);
			}
		}
	}
	json_array_foreach(arr, i, row)
	{
		for (int j = 0; j < nk; j++) {
			char *s = (v = json_object_get(row, keys[j]))
			              ? (json_is_string(v)
			                     ? strdup(json_string_value(v))
			                     : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY))
			              : NULL;
			int l = s ? (int)strlen(s) : 1;

			if (l > w[j])
				w[j] = l;
			free(s);
		}
	}
	printf("%*s", indent, "");
	for (int j = 0; j < nk; j++)
		printf("%-*s  ", w[j], keys[j]);
	printf("\n");
	json_array_foreach(arr, i, row)
	{
		printf("%*s", indent, "");
		for (int j = 0; j < nk; j++) {
			v = json_object_get(row, keys[j]);
			char *s =
			    v ? (json_is_string(v) ? strdup(json_string_value(v))
			                           : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY))
			      : strdup("-");

			printf("%-*s  ", w[j], s ? s : "?");
			free(s);
		}
		printf("\n");
	}
}

static void print_text(json_t *v, int indent)
{
	const char *k;
	json_t *x;

	if (json_is_array(v)) {
		if (json_array_size(v) && json_is_object(json_array_get(v, 0)))
			print_table(v, indent);
		else {
			printf("%*s", indent, "");
			print_scalar(stdout, v);
			printf("\n");
		}
		return;
	}
	if (!json_is_object(v)) {
		printf("%*s", indent, "");
		print_scalar(stdout, v);
		printf("\n");
		return;
	}
	json_object_foreach(v, k, x)
	{
		if (json_is_object(x) && json_object_size(x)) {
			printf("%*s%s:\n", indent, "", k);
			print_text(x, indent + 2);
		} else if (json_is_array(x) && json_array_size(x) &&
		           json_is_object(json_array_get(x, 0))) {
			printf("%*s%s:\n", indent, "", k);
			print_table(x, indent + 2);
		} else {
			printf("%*s%-22s ", indent, "", k);
			print_scalar(stdout, x);
			printf("\n");
		}
	}
}

void cli_print(const struct cli_opts *o, json_t *v)
{
	if (o->json) {
		json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
		printf("\n");
	} else {
		print_text(v, 0);
	}
}

/* ---- commands ---- */

static int one_call(struct cli_opts *o, const char *op, json_t *args, bool print)
{
	struct mgmt_client *c = cli_connect(o);
	json_t *res = NULL;
	int rc;

	if (!c) {
		json_decref(args);
		return 1;
	}
	rc = cli_call(c, op, args, &res);
	if (!rc && print && res)
		cli_print(o, res);
	json_decref(res);
	json_decref(args);
	mgmt_close(c);
	return rc;
}

/* Put VLAN @arg (0..4094) into @a; -1 after a message. */
static int set_vlan(json_t *a, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < 0 || v > 4094) {
		fprintf(stderr, "iovpath: VLAN %s: 0..4094\n", arg);
		return -1;
	}
	json_object_set_new(a, "vlan", json_integer(v));
	return 0;
}

static int ctl_usage(void)
{
	fprintf(stderr,
	        "usage: iovpath host show | host set vf-timeout MS\n"
	        "       iovpath vm show [VM] | vm create VM MAC [VLAN] | vm delete VM\n"
	        "       iovpath vm attach-vf VM | vm detach-vf VM | vm set VM mac MAC|vlan V\n"
	        "       iovpath vm migrate VM --to HOST [--no-vf]   (live migration: the VF back\n"
	        "                                  first, one on HOST after, unless --no-vf)\n"
	        "       iovpath nic show | vf show | filter show | port show | switch show\n"
	        "       (each takes --host HOST, --run-dir DIR, --json)\n");
	return 2;
}

/* `show` of a part of the NIC: one field of nic.show. */
static int nic_part(struct cli_opts *o, const char *field)
{
	struct mgmt_client *c = cli_connect(o);
	json_t *res = NULL;
	int rc;

	if (!c)
		return 1;
	rc = cli_call(c, "nic.show", NULL, &res);
	if (!rc) {
		json_t *part = json_object_get(res, field);

		if (part)
			cli_print(o, part);
	}
	json_decref(res);
	mgmt_close(c);
	return rc;
}

/* ---- vm migrate ---- */

/* Does the daemon at @path have VM @vm (not only the port it left there)? */
static bool has_vm(const char *path, void *vm)
{
	struct mgmt_client *c = mgmt_connect(path);
	json_t *args = json_pack("{s:s}", "name", (const char *)vm), *res = NULL;
	struct mgmt_err me;
	bool yes = c && !mgmt_call(c, "vm.show", args, &res, &me, CALL_TIMEOUT_MS) &&
	           !json_object_get(json_array_get(res, 0), "migrating_to");

	json_decref(args);
	json_decref(res);
	mgmt_close(c);
	return yes;
}

/* The hosts that have VM @vm: how many; the first one's name into @buf. */
static int vm_host(struct cli_opts *o, const char *vm, char *buf, size_t len)
{
	return find_hosts(o, has_vm, (void *)vm, buf, len);
}

/* Field @key of VM @vm's vm.show on @c (a string; "" when unknown). */
static const char *vm_field(struct mgmt_client *c, const char *vm, const char *key, char *buf,
                            size_t len)
{
	json_t *args = json_pack("{s:s}", "name", vm), *res = NULL, *v;
	struct mgmt_err me;

	buf[0] = '\0';
	if (!mgmt_call(c, "vm.show", args, &res, &me, CALL_TIMEOUT_MS)) {
		v = json_object_get(json_array_get(res, 0), key);
		if (json_is_string(v))
			snprintf(buf, len, "%s", json_string_value(v));
		else if (json_is_boolean(v))
			snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
	}
	json_decref(args);
	json_decref(res);
	return buf;
}

/* Wait (at most @ms) until @vm's vm.show field @key reads @want. */
static bool vm_wait(struct mgmt_client *c, const char *vm, const char *key, const char *want,
                    int ms)
{
	char buf[32];

	for (int t = 0; t < ms; t += 20) {
		if (!strcmp(vm_field(c, vm, key, buf, sizeof(buf)), want))
			return true;
		usleep(20000);
	}
	return false;
}

/* The VM had a VF before it moved: one on its new host @to too, if there is
 * one free (without, it works on synthetic: said, not a failure). true or
 * false, as JSON. */
static json_t *vf_again(struct mgmt_client *dst, const char *vm, const char *to)
{
	json_t *args = json_pack("{s:s}", "name", vm), *res = NULL;
	struct mgmt_err me;
	char buf[32];
	int r = mgmt_call(dst, "vm.attach_vf", args, &res, &me, CALL_TIMEOUT_MS);

	json_decref(args);
	json_decref(res);
	if (r) {
		fprintf(stderr, "iovpath: VM %s moved, but gets no VF on host %s: %s\n", vm, to,
		        me.message[0] ? me.message : strerror(-r));
		return json_false();
	}
	if (!vm_wait(dst, vm, "vf_state", "active", 5000)) {
		fprintf(stderr, "iovpath: VM %s moved; its VF on host %s is %s, not active yet\n",
		        vm, to, vm_field(dst, vm, "vf_state", buf, sizeof(buf)));
		return json_false();
	}
	return json_true();
}

/* `iovpath vm migrate VM --to HOST [--no-vf]` (host/migrate.h): the VF back
 * first, a token from the destination, the source does the rest; done when
 * the VM is connected on the destination (then, @with_vf, a VF there if it
 * had one), failed when the source gave up (the VM stays). */
static int vm_migrate(struct cli_opts *o, const char *vm, const char *to, bool with_vf)
{
	struct cli_opts od = *o;
	struct mgmt_client *src = NULL, *dst = NULL;
	json_t *res = NULL, *out = NULL;
	char from[64], buf[32];
	struct timespec t0, t1;
	bool vf;
	int rc = 1, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!o->host) {
		int n = vm_host(o, vm, from, sizeof(from));

		if (n > 1)
			fprintf(
			    stderr,
			    "iovpath: %d host daemons in %s have a VM named %s: say which one it "
			    "leaves with --host HOST\n",
			    n, o->run_dir, vm);
		else if (!n)
			fprintf(stderr, "iovpath: no host daemon in %s has a VM named %s\n",
			        o->run_dir, vm);
		if (n != 1)
			return 1;
	}
	if (o->host)
		snprintf(from, sizeof(from), "%s", o->host);
	if (!strcmp(from, to)) {
		fprintf(stderr, "iovpath: VM %s is on host %s already\n", vm, to);
		return 1;
	}
	o->host = from;
	od.host = to;
	if (!(src = cli_connect(o)) || !(dst = cli_connect(&od)))
		goto out;
	vf = strcmp(vm_field(src, vm, "vf_state", buf, sizeof(buf)), "none") != 0;
	if (vf) { /* SPEC §5: the VF is taken back before the VM moves */
		json_t *a = json_pack("{s:s}", "name", vm);

		r = cli_call(src, "vm.detach_vf", a, &res);
		json_decref(a);
		if (r)
			goto out;
		json_decref(res);
		res = NULL;
		if (!vm_wait(src, vm, "vf_state", "none", 10000)) {
			fprintf(stderr, "iovpath: VM %s did not give its VF back in 10 s\n", vm);
			goto out;
		}
	}
	if (cli_call(dst, "vm.migrate_accept", NULL, &res))
		goto out;
	json_t *a =
	    json_pack("{s:s, s:O, s:O}", "name", vm, "address", json_object_get(res, "address"),
	              "token", json_object_get(res, "token"));
	json_decref(res);
	res = NULL;
	rc = !a || cli_call(src, "vm.migrate", a, &res);
	json_decref(a);
	if (rc)
		goto out;
	rc = 1;
	/* until it is connected there, or the source gave up (a VM that did not
	 * move in MIGR_HALT_MS stays where it was) */
	for (int t = 0;; t += 20) {
		if (!strcmp(vm_field(dst, vm, "connected", buf, sizeof(buf)), "true"))
			break;
		if (!vm_field(src, vm, "migrating_to", buf, sizeof(buf))[0] &&
		    !strcmp(vm_field(src, vm, "connected", buf, sizeof(buf)), "true")) {
			fprintf(stderr,
			        "iovpath: VM %s did not move: it stays on host %s (iovpath events "
			        "--host %s tells why)\n",
			        vm, from, from);
			goto out;
		}
		if (t >= 3 * (int)MIGR_HALT_MS) {
			fprintf(stderr,
			        "iovpath: VM %s did not connect on host %s in %u s (iovpath events "
			        "--host %s tells why)\n",
			        vm, to, 3 * MIGR_HALT_MS / 1000, to);
			goto out;
		}
		usleep(20000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out = json_pack(
	    "{s:s, s:s, s:s, s:b, s:f}", "vm", vm, "from", from, "to", to, "vf_detached_first", vf,
	    "ms", /* to 0.1 ms */
	    (double)((t1.tv_sec - t0.tv_sec) * 10000 + (t1.tv_nsec - t0.tv_nsec) / 100000) / 10.0);
	if (vf && with_vf) /* SPEC §5: a VF may be attached again on the destination */
		json_object_set_new(out, "vf_attached_after", vf_again(dst, vm, to));
	cli_print(o, out);
	json_decref(out);
	rc = 0;
out:
	json_decref(res);
	mgmt_close(src);
	mgmt_close(dst);
	return rc;
}

int cli_cmd_ctl(const char *noun, int argc, char **argv)
{
	struct cli_opts o;
	const char *verb;
	int r = cli_opts_parse(&o, argc, argv);

	if (r)
		return r;
	verb = o.argc > 0 ? o.argv[0] : "show";
	/* show takes nothing more (vm show: a VM's name): a word more, or a
	 * mistyped option, is named, not ignored */
	if (!strcmp(verb, "show") && o.argc > (strcmp(noun, "vm") ? 1 : 2)) {
		fprintf(stderr, "iovpath: unexpected '%s' after `%s show%s`\n",
		        o.argv[strcmp(noun, "vm") ? 1 : 2], noun, strcmp(noun, "vm") ? "" : " VM");
		return ctl_usage();
	}
	if (!strcmp(noun, "host") && !strcmp(verb, "show"))
		return one_call(&o, "host.show", NULL, true);
	if (!strcmp(noun, "host") && !strcmp(verb, "set") && o.argc == 3 &&
	    !strcmp(o.argv[1], "vf-timeout")) {
		char *end;
		long ms = strtol(o.argv[2], &end, 10);

		if (*end || ms < 10 || ms > 60000) {
			fprintf(stderr, "iovpath: vf-timeout %s: milliseconds, 10..60000\n",
			        o.argv[2]);
			return 2;
		}
		return one_call(&o, "host.set", json_pack("{s:i}", "vf_timeout_ms", (int)ms), true);
	}
	if (!strcmp(noun, "switch") && !strcmp(verb, "show"))
		return one_call(&o, "switch.show", NULL, true);
	if (!strcmp(noun, "nic") && !strcmp(verb, "show"))
		return one_call(&o, "nic.show", NULL, true);
	if (!strcmp(noun, "vf") && !strcmp(verb, "show"))
		return nic_part(&o, "vfs");
	if (!strcmp(noun, "filter") && !strcmp(verb, "show"))
		return nic_part(&o, "filters");
	if (!strcmp(noun, "port") && !strcmp(verb, "show")) {
		struct mgmt_client *c = cli_connect(&o);
		json_t *res = NULL;

		if (!c)
			return 1;
		r = cli_call(c, "switch.show", NULL, &res);
		if (!r)
			cli_print(&o, json_object_get(res, "ports"));
		json_decref(res);
		mgmt_close(c);
		return r;
	}
	if (!strcmp(noun, "vm")) {
		const char *name = o.argc > 1 ? o.argv[1] : NULL;

		if (!strcmp(verb, "show"))
			return one_call(&o, "vm.show",
			                name ? json_pack("{s:s}", "name", name) : NULL, true);
		if (!strcmp(verb, "create") && (o.argc == 3 || o.argc == 4)) {
			json_t *a = json_pack("{s:s, s:s}", "name", name, "mac", o.argv[2]);

			if (o.argc == 4) {
				if (set_vlan(a, o.argv[3])) {
					json_decref(a);
					return 2;
				}
			}
			return one_call(&o, "vm.create", a, true);
		}
		if (!strcmp(verb, "set") && name && o.argc == 4 &&
		    (!strcmp(o.argv[2], "mac") || !strcmp(o.argv[2], "vlan"))) {
			json_t *a = json_pack("{s:s}", "name", name);

			if (!strcmp(o.argv[2], "mac")) {
				json_object_set_new(a, "mac", json_string(o.argv[3]));
			} else {
				if (set_vlan(a, o.argv[3])) {
					json_decref(a);
					return 2;
				}
			}
			return one_call(&o, "vm.set", a, true);
		}
		if (!strcmp(verb, "migrate") && name && (o.argc == 4 || o.argc == 5) &&
		    !strcmp(o.argv[2], "--to") && (o.argc == 4 || !strcmp(o.argv[4], "--no-vf")))
			return vm_migrate(&o, name, o.argv[3], o.argc == 4);
		if (name && o.argc == 2) {
			const char *op = !strcmp(verb, "delete")      ? "vm.delete"
			                 : !strcmp(verb, "attach-vf") ? "vm.attach_vf"
			                 : !strcmp(verb, "detach-vf") ? "vm.detach_vf"
			                                              : NULL;
			if (op)
				return one_call(&o, op, json_pack("{s:s}", "name", name), true);
		}
	}
	return ctl_usage();
}

int cli_cmd_stats(int argc, char **argv)
{
	struct cli_opts o;
	int r = cli_opts_parse(&o, argc, argv);

	if (r)
		return r;
	if (o.argc != 1) {
		fprintf(stderr, "usage: iovpath stats VM [--host HOST] [--json]\n");
		return 2;
	}
	return one_call(&o, "vm.stats", json_pack("{s:s}", "name", o.argv[0]), true);
}

/* Open @file, the capture's -w FILE, before the capture starts: a path
 * that can't be written is said at once, not once the user waited for the
 * capture. Created if need be; an existing file is truncated only when the
 * capture is there to copy (copy_file), so one that could not start leaves it
 * as it was. The fd, *@created: it is new (removed if nothing comes), or -1
 * after a message. */
static int out_open(const char *file, bool *created)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	*created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "iovpath: -w %s: %s\n", file, strerror(errno));
	return fd;
}

/* Copy @src to @out (out_open's fd of @dst: a regular file is truncated
 * first). 0 or 1 after a message. */
static int copy_file(const char *src, int out, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n = 0;

	if (in < 0) {
		fprintf(stderr, "iovpath: %s: %s\n", src, strerror(errno));
		return 1;
	}
	if (fstat(out, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(out, 0) < 0)
		n = -1;
	else
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n) {
				n = -1;
				break;
			}
	if (n < 0)
		fprintf(stderr, "iovpath: copying %s to %s: %s (the capture stays in %s)\n", src,
		        dst, strerror(errno), src);
	close(in);
	return n < 0;
}

static volatile sig_atomic_t interrupted;
static void on_int(int sig)
{
	interrupted = 1;
}

int cli_cmd_capture(int argc, char **argv)
{
	struct cli_opts o;
	const char *port = NULL, *file = NULL, *dir = "both";
	double secs = 0;
	struct mgmt_client *c;
	json_t *res = NULL, *args;
	char name[128], src[512];
	bool created;
	int r = cli_opts_parse(&o, argc, argv), out;

	if (r)
		return r;
	for (int i = 0; i < o.argc; i++) {
		if (!strcmp(o.argv[i], "-w") && i + 1 < o.argc)
			file = o.argv[++i];
		else if (!strcmp(o.argv[i], "--dir") && i + 1 < o.argc)
			dir = o.argv[++i];
		else if (!strcmp(o.argv[i], "--seconds") && i + 1 < o.argc) {
			const char *v = o.argv[++i];
			char *end;

			/* the whole word, above 0 and finite (atof read "abc" as 0:
			 * until Ctrl-C, and "0.2x" as 0.2) */
			errno = 0;
			secs = strtod(v, &end);
			if (!*v || *end || errno || !(secs > 0) || isinf(secs)) {
				fprintf(stderr,
				        "iovpath: --seconds %s: a number of seconds above 0 "
				        "(without --seconds: until Ctrl-C)\n",
				        v);
				return 2;
			}
		} else if (!port && o.argv[i][0] != '-')
			port = o.argv[i];
		else
			port = NULL, file = NULL, i = o.argc;
	}
	if (!port || !file) {
		fprintf(stderr,
		        "usage: iovpath capture PORT -w FILE [--dir in|out|both] [--seconds S]\n"
		        "  PORT: a VM's name or \"external\"; until Ctrl-C or S seconds\n");
		return 2;
	}
	out = out_open(file, &created);
	if (out < 0)
		return 1;
	c = cli_connect(&o);
	if (!c) {
		close(out);
		if (created)
			unlink(file);
		return 1;
	}
	/* The daemon writes into its run directory only (it runs as root); this
	 * command copies the finished file to FILE (opened above, as the user
	 * who asked). */
	snprintf(name, sizeof(name), "%s-%d-%ld.pcap", port, (int)getpid(), (long)time(NULL));
	args = json_pack("{s:s, s:s, s:s}", "port", port, "name", name, "dir", dir);
	r = cli_call(c, "capture.start", args, &res);
	json_decref(args);
	if (r) {
		mgmt_close(c);
		close(out);
		if (created)
			unlink(file);
		return r;
	}
	snprintf(src, sizeof(src), "%s", json_string_value(json_object_get(res, "file")));
	json_decref(res);
	fprintf(stderr, "iovpath: capturing %s to %s%s\n", port, file,
	        secs > 0 ? "" : " (Ctrl-C stops)");
	signal(SIGINT, on_int);
	signal(SIGTERM, on_int);
	for (double t = 0; !interrupted && (secs <= 0 || t < secs); t += 0.05)
		usleep(50000);
	args = json_pack("{s:s}", "port", port);
	r = cli_call(c, "capture.stop", args, NULL);
	json_decref(args);
	mgmt_close(c);
	if (copy_file(src, out, file) == 0)
		unlink(src);
	else
		r = 1;
	close(out);
	return r;
}

static void print_event(const struct cli_opts *o, json_t *ev)
{
	json_int_t ts = json_integer_value(json_object_get(ev, "ts_ns"));
	time_t sec = (time_t)(ts / 1000000000);
	struct tm tm;
	char when[32], *data;

	if (o->json) {
		json_dumpf(ev, stdout, JSON_COMPACT);
		printf("\n");
		fflush(stdout);
		return;
	}
	localtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	data = json_dumps(json_object_get(ev, "data"), JSON_COMPACT);
	printf("%s.%06lld  %-22s %s\n", when, (long long)(ts % 1000000000) / 1000,
	       json_string_value(json_object_get(ev, "event")), data ? data : "");
	free(data);
	fflush(stdout);
}

int cli_cmd_events(int argc, char **argv)
{
	struct cli_opts o;
	bool follow = false;
	json_int_t last = 0;
	struct mgmt_client *c;
	json_t *res = NULL, *ev;
	size_t i;
	int r = cli_opts_parse(&o, argc, argv);

	if (r)
		return r;
	for (int k = 0; k < o.argc; k++) {
		if (!strcmp(o.argv[k], "--follow") || !strcmp(o.argv[k], "-f")) {
			follow = true;
		} else {
			fprintf(stderr,
			        "usage: iovpath events [--follow] [--host HOST] [--json]\n"
			        "  the host's timeline (VMs, VF attach, data-path switches, "
			        "detach), then with --follow what happens next\n");
			return 2;
		}
	}
	c = cli_connect(&o);
	if (!c)
		return 1;
	/* Subscribe first, then read the history: an event in both (same seq)
	 * is printed once, and none falls between the two. */
	if (follow && (r = cli_call(c, "events.subscribe", NULL, NULL))) {
		mgmt_close(c);
		return r;
	}
	if ((r = cli_call(c, "events.show", NULL, &res))) {
		mgmt_close(c);
		return r;
	}
	json_array_foreach(json_object_get(res, "events"), i, ev)
	{
		print_event(&o, ev);
		if (json_integer_value(json_object_get(ev, "seq")) > last)
			last = json_integer_value(json_object_get(ev, "seq"));
	}
	json_decref(res);
	signal(SIGINT, on_int);
	signal(SIGTERM, on_int);
	while (follow && !interrupted) {
		r = mgmt_next_event(c, &ev, 200);
		if (r < 0) {
			fprintf(stderr, "iovpath: the daemon closed the event stream (%s)\n",
			        strerror(-r));
			break;
		}
		if (r > 0) {
			if (json_integer_value(json_object_get(ev, "seq")) > last)
				print_event(&o, ev);
			json_decref(ev);
		}
	}
	mgmt_close(c);
	return 0;
}
