/* bench — shared option parsing, baseline and reporting. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/mgmt.h"
#include "util/util.h"

int bench_parse(int argc, char **argv, struct bench_opts *o, uint32_t min_size, uint32_t max_size)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "ring", required_argument, NULL, 'r' },
		{ "burst", required_argument, NULL, 'b' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->size = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 't':
			o->seconds = strtod(optarg, NULL);
			break;
		case 'r':
			o->ring = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'b':
			o->burst = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'n':
			if (!o->rounds) {
				fprintf(stderr, "bench: this benchmark takes no --rounds\n");
				return -EINVAL;
			}
			o->rounds = (unsigned int)strtoul(optarg, NULL, 0);
			if (!o->rounds)
				o->rounds = BENCH_ROUNDS_MAX + 1; /* refused below */
			break;
		case 'j':
			o->json = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->size < min_size || o->size > max_size) {
		fprintf(stderr, "bench: --size must be in [%u, %u] bytes\n", min_size, max_size);
		return -EINVAL;
	}
	if (!(o->seconds > 0 && o->seconds <= 3600)) {
		fprintf(stderr, "bench: --seconds must be in (0, 3600]\n");
		return -EINVAL;
	}
	if (o->rounds > BENCH_ROUNDS_MAX) {
		fprintf(stderr, "bench: --rounds must be in [1, %d]\n", BENCH_ROUNDS_MAX);
		return -EINVAL;
	}
	if (o->burst < 1 || o->burst > 256) {
		fprintf(stderr, "bench: --burst must be in [1, 256]\n");
		return -EINVAL;
	}
	if (!is_pow2(o->ring) || o->ring < 65536 || o->ring > (1u << 28)) {
		fprintf(stderr, "bench: --ring must be a power of two in [64 KiB, 256 MiB]\n");
		return -EINVAL;
	}
	return 0;
}

int bench_round_opts(const struct bench_opts *o, struct bench_opts *ro)
{
	*ro = *o;
	ro->seconds = o->seconds / o->rounds;
	if (ro->seconds < 0.05) {
		fprintf(stderr, "bench: --seconds / --rounds must leave 0.05 s or more a round\n");
		return -EINVAL;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_range(const double *v, unsigned int n, double *lo, double *hi)
{
	*lo = *hi = v[0];
	for (unsigned int i = 1; i < n; i++) {
		if (v[i] < *lo)
			*lo = v[i];
		if (v[i] > *hi)
			*hi = v[i];
	}
}

uint64_t bench_cpu_ns(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

double bench_memcpy_gbps(uint32_t size, double seconds)
{
	const size_t src_len = 1u << 20, dst_len = 64u << 10;
	uint8_t *src = malloc(src_len), *dst = malloc(dst_len + size);
	uint64_t bytes = 0, t0, t1;
	size_t s = 0, d = 0;

	memset(src, 0x5a, src_len);
	memset(dst, 0, dst_len + size);
	t0 = util_now_ns();
	do {
		for (int i = 0; i < 4096; i++) {
			if (s + size > src_len)
				s = 0;
			if (d + size > dst_len)
				d = 0;
			memcpy(dst + d, src + s, size);
			__asm__ __volatile__("" ::"r"(dst) : "memory");
			s += (size + 7) & ~7u;
			d += (size + 7) & ~7u;
			bytes += size;
		}
		t1 = util_now_ns();
	} while ((double)(t1 - t0) < seconds * 1e9);
	free(src);
	free(dst);
	return (double)bytes * 8 / (double)(t1 - t0);
}

void bench_report_json(const struct bench_opts *o, json_t *obj)
{
	if (!obj) { /* json_pack refused its format: a bug here, not a figure */
		fprintf(stderr, "bench: the report could not be built\n");
		return;
	}
	if (o->json) {
		char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6));

		printf("%s\n", s);
		free(s);
	} else {
		const char *k;
		json_t *v;

		json_object_foreach(obj, k, v)
		{
			if (json_is_integer(v))
				printf("  %-16s %lld\n", k, (long long)json_integer_value(v));
			else if (json_is_string(v))
				printf("  %-16s %s\n", k, json_string_value(v));
			else
				printf("  %-16s %.3f\n", k, json_real_value(v));
		}
	}
	json_decref(obj);
}

void bench_report(const struct bench_opts *o, const char *name, ...)
{
	va_list ap;
	json_t *obj = json_object();

	va_start(ap, name);
	for (const char *k = name; k; k = va_arg(ap, const char *)) {
		double v = va_arg(ap, double);

		json_object_set_new(
		    obj, k, v == (double)(int64_t)v ? json_integer((json_int_t)v) : json_real(v));
	}
	va_end(ap);
	bench_report_json(o, obj);
}

/* ---- benchmarks that run host daemons and VM processes ---- */

void bench_bin_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (strrchr(buf, '/'))
		*strrchr(buf, '/') = '\0';
}

pid_t bench_spawn(const char *bin, const char *dir, const char *log, char *const argv[])
{
	char exe[PATH_MAX + 32], path[PATH_MAX];
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/%s", bin, argv[0]);
	snprintf(path, sizeof(path), "%s/%s.log", dir, log);
	pid = fork();
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(exe, argv);
		_exit(127);
	}
	return pid;
}

struct mgmt_client *bench_mgmt(const char *dir, const char *host)
{
	char path[PATH_MAX];
	struct mgmt_client *c = NULL;

	snprintf(path, sizeof(path), "%s/%s.mgmt", dir, host);
	for (int i = 0; i < 250 && !(c = mgmt_connect(path)); i++)
		usleep(20000);
	return c;
}

json_t *bench_call(const char *who, struct mgmt_client *c, const char *op, json_t *args)
{
	json_t *res = NULL;
	struct mgmt_err e;
	int rc = mgmt_call(c, op, args, &res, &e, strcmp(op, "vm.migrate") ? 5000 : 8000);

	json_decref(args);
	if (rc) {
		fprintf(stderr, "bench %s: %s: %s\n", who, op,
		        e.message[0] ? e.message : strerror(-rc));
		return NULL;
	}
	return res;
}

bool bench_vm_here(const char *who, struct mgmt_client *c, const char *vm)
{
	json_t *s = bench_call(who, c, "vm.show", json_pack("{s:s}", "name", vm));
	json_t *v = json_array_get(s, 0);
	bool yes =
	    json_is_true(json_object_get(v, "connected")) && !json_object_get(v, "migrating_to");

	json_decref(s);
	return yes;
}
