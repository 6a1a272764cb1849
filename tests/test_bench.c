/* test_bench — every `iovpath bench` runs briefly, as a user would run it,
 * and reports what its header promises: its fields, frames that arrived,
 * none lost, reordered or corrupted, and a clean exit. The figures are not
 * judged: on a shared machine a timed assertion is noise (the README's
 * figures come from the benchmarks themselves). Bad options are refused.
 *
 * The benchmark binary is found next to this test's build directory
 * ($BUILD/tests/test_bench -> $BUILD/iovpath-bench), so a sanitizer build
 * tests its own benchmarks. bench e2e needs root and iperf3 (skipped
 * without them, with the reason). One benchmark at a time (a lock taken
 * around each run): `bench scale`'s 65 processes beside another benchmark
 * starve it past its handshake time-outs, as they would a user's.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_bench[PATH_MAX + 32];

static void find_bench(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	cr_assert(n > 0, "readlink /proc/self/exe");
	self[n] = '\0';
	slash = strrchr(self, '/'); /* .../tests/test_bench */
	cr_assert(slash);
	*slash = '\0';
	slash = strrchr(self, '/');
	cr_assert(slash);
	*slash = '\0';
	snprintf(g_bench, sizeof(g_bench), "%s/iovpath-bench", self);
	cr_assert(access(g_bench, X_OK) == 0, "no benchmark binary at %s", g_bench);
}

/* Run `iovpath-bench ARGS`; its exit status in *@rc, its stdout parsed as
 * JSON (NULL when it is not JSON). */
static json_t *run(int *rc, const char *args)
{
	char cmd[PATH_MAX + 256], lock[PATH_MAX + 64], *out = NULL;
	size_t cap = 0, len = 0;
	json_error_t je;
	json_t *j;
	FILE *p;
	int st, lfd;

	find_bench();
	snprintf(lock, sizeof(lock), "%s.lock", g_bench);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert(lfd >= 0 && flock(lfd, LOCK_EX) == 0, "lock %s", lock);
	snprintf(cmd, sizeof(cmd), "%s %s", g_bench, args);
	p = popen(cmd, "r");
	cr_assert(p, "popen %s", cmd);
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			out = realloc(out, cap);
			cr_assert(out);
		}
		size_t k = fread(out + len, 1, cap - len - 1, p);

		if (!k)
			break;
		len += k;
	}
	out[len] = '\0';
	st = pclose(p);
	close(lfd); /* and the lock */
	*rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	j = json_loads(out, 0, &je);
	if (!j)
		cr_log_info("%s printed: %s", cmd, out);
	free(out);
	return j;
}

static double num(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	cr_assert(json_is_number(v), "no number \"%s\" in the report", key);
	return json_number_value(v);
}

/* A report of a clean run: exit 0, JSON, and the @n named figures > 0. */
static json_t *clean_run(const char *args, const char **positive, unsigned int n)
{
	int rc;
	json_t *j = run(&rc, args);

	cr_assert(j, "bench %s: no JSON report", args);
	cr_assert_eq(rc, 0, "bench %s exited %d", args, rc);
	for (unsigned int i = 0; i < n; i++)
		cr_expect_gt(num(j, positive[i]), 0, "bench %s: %s = %g", args, positive[i],
		             num(j, positive[i]));
	return j;
}

#define CLEAN_RUN(args, ...)                                                                 \
	clean_run(args, (const char *[]){ __VA_ARGS__ },                                       \
	          sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *))

static void none_bad(json_t *j, const char *lost_key)
{
	cr_expect_eq(num(j, lost_key), 0, "%s = %g", lost_key, num(j, lost_key));
	cr_expect_eq(num(j, "bad"), 0, "bad = %g", num(j, "bad"));
}

/* ratio within [ratio_min, ratio_max] of the rounds it is the median of */
static void median_in_range(json_t *j, const char *key)
{
	char lo[64], hi[64];

	snprintf(lo, sizeof(lo), "%s_min", key);
	snprintf(hi, sizeof(hi), "%s_max", key);
	cr_expect(num(j, lo) <= num(j, key) && num(j, key) <= num(j, hi), "%s %g not in [%g, %g]",
	          key, num(j, key), num(j, lo), num(j, hi));
}

TestSuite(bench, .timeout = 180);

Test(bench, ring)
{
	json_t *j = CLEAN_RUN("ring --seconds 0.3 --json", "mpps", "gbps", "memcpy_gbps", "frames");

	cr_expect_eq(num(j, "size"), 64);
	none_bad(j, "lost");
	json_decref(j);
}

Test(bench, synthetic_in_rounds)
{
	json_t *j = CLEAN_RUN("synthetic --seconds 0.6 --rounds 3 --json", "mpps", "gbps",
	                      "ring_mpps", "ratio", "ring_echo_mpps", "ratio_echo", "frames");

	cr_expect_eq(num(j, "rounds"), 3);
	median_in_range(j, "ratio");
	median_in_range(j, "ratio_echo");
	none_bad(j, "reordered_or_dup");
	json_decref(j);
}

Test(bench, synthetic_large_frames)
{
	json_t *j = CLEAN_RUN("synthetic --size 1500 --seconds 0.3 --rounds 1 --json", "mpps",
	                      "ring_mpps", "frames");

	cr_expect_eq(num(j, "size"), 1500);
	none_bad(j, "reordered_or_dup");
	json_decref(j);
}

Test(bench, vf_in_rounds)
{
	json_t *j = CLEAN_RUN("vf --seconds 0.6 --rounds 3 --json", "vf_mpps", "synthetic_mpps",
	                      "vf_over_synthetic", "nic_switch_mpps", "vf_frames",
	                      "synthetic_frames");

	median_in_range(j, "vf_over_synthetic");
	none_bad(j, "reordered_or_dup");
	json_decref(j);
}

Test(bench, wake)
{
	json_t *j = CLEAN_RUN("wake --seconds 0.3 --json", "wake_ns_cross_cpu", "wake_ns_same_cpu",
	                      "round_trip_ns", "wakeups");

	json_decref(j);
}

Test(bench, scale)
{
	json_t *j = CLEAN_RUN("scale --seconds 2 --json", "host_ns_1vm", "host_ns_64vms",
	                      "host_ratio", "frames_1vm", "frames_64vms");

	json_decref(j);
}

/* Two moves under traffic both ways: nothing lost, duplicated or corrupted
 * (the exit status says so too), each move's time and blackout reported. */
Test(bench, migrate)
{
	json_t *j = CLEAN_RUN("migrate --moves 2 --seconds 0.3 --pps 20000 --json", "move_ms",
	                      "blackout_ms", "frames");

	cr_expect_eq(num(j, "moves"), 2);
	median_in_range(j, "move_ms");
	none_bad(j, "lost");
	cr_expect_eq(num(j, "dup"), 0);
	json_decref(j);
}

Test(bench, e2e)
{
	int rc;
	json_t *j;

	if (geteuid() != 0)
		cr_skip_test("bench e2e needs root (network namespaces, TAP devices)");
	if (system("command -v iperf3 >/dev/null 2>&1") != 0)
		cr_skip_test("bench e2e needs iperf3");
	/* two rounds: the VFs are attached, taken back and attached again */
	j = run(&rc, "e2e --seconds 1 --rounds 2 --json");
	cr_assert(j, "bench e2e: no JSON report");
	cr_assert_eq(rc, 0, "bench e2e exited %d", rc);
	cr_expect_gt(num(j, "synthetic_gbps"), 0);
	cr_expect_gt(num(j, "vf_gbps"), 0);
	cr_expect_gt(num(j, "veth_gbps"), 0);
	cr_expect_eq(num(j, "rounds"), 2);
	median_in_range(j, "vf_vs_veth");
	median_in_range(j, "synthetic_vs_veth");
	cr_expect(json_is_string(json_object_get(j, "tcp_cc")), "no tcp_cc");
	/* the datapath on the last CPU by default, or on any with one CPU */
	cr_expect(json_is_string(json_object_get(j, "datapath_cpus")), "no datapath_cpus");
	json_decref(j);
}

/* Options out of range are refused with exit 2 and nothing on stdout. */
Test(bench, bad_options_refused)
{
	static const char *bad[] = {
		"synthetic --rounds 0 --json",  "synthetic --rounds 65 --json",
		"vf --seconds 1 --rounds 40 --json",
		"ring --rounds 2 --json",       "vf --size 10 --json",
		"synthetic --seconds 0 --json", "ring --ring 1000 --json",
		"migrate --moves 0 --json",     "migrate --pps 0 --json",
		"e2e --cpus 2-1 --json",        "e2e --json --cpus",
		"nosuchbench --json",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;
		json_t *j = run(&rc, bad[i]);

		cr_expect_neq(rc, 0, "bench %s was accepted", bad[i]);
		cr_expect_null(j, "bench %s printed a report", bad[i]);
		json_decref(j);
	}
}
