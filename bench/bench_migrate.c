/* bench migrate — what a live migration costs, and whether it loses a
 * frame, with no root:
 *
 *   iovpathd ma ══ shared-memory wire ══ iovpathd mb
 *     VM "mover" ───── moves ma→mb→ma… ────►
 *                                          VM "peer"
 *
 * Both VMs are built-in endpoints sending --pps frames/s of 64 bytes to each
 * other (sequence-numbered, checked on arrival); "mover" moves --moves times
 * (default 4) between the two hosts, --seconds apart (default 1), by the
 * same requests `iovpath vm migrate` makes (vm.migrate_accept on the
 * destination, vm.migrate on the source). Reported: each move's time from
 * the request until the VM is connected on the destination (move_ms), the
 * time the VM was without a channel (blackout_ms, from its log), the frames
 * the source forwarded to the destination after the VM halted (forwarded),
 * and what the endpoints saw from the first move's start to the end (their
 * counters on SIGUSR1 then, and as they stop): frames received, lost,
 * reordered (forwarded frames arrive after those that came the direct way),
 * duplicated. A frame lost, duplicated or corrupted fails the run (exit 1).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "host/mgmt.h"
#include "util/util.h"

#define MOVES_MAX 64

static const char *const HOST[2] = { "ma", "mb" };

struct mrun {
	char dir[64], bin[PATH_MAX];
	pid_t host[2], vm[2]; /* vm[0] mover, vm[1] peer */
	struct mgmt_client *c[2];
};

static void stop(struct mrun *r)
{
	char cmd[128];

	for (int i = 0; i < 2; i++)
		if (r->vm[i] > 0)
			kill(r->vm[i], SIGTERM);
	for (int i = 0; i < 2; i++)
		if (r->vm[i] > 0)
			waitpid(r->vm[i], NULL, 0);
	for (int i = 0; i < 2; i++) {
		mgmt_close(r->c[i]);
		if (r->host[i] > 0) {
			kill(r->host[i], SIGTERM);
			waitpid(r->host[i], NULL, 0);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	if (system(cmd)) {
		/* a leftover temporary directory is harmless */
	}
}

/* The endpoint's counters in VM @vm's log: the first JSON line (@last
 * false: printed on SIGUSR1) or the last (printed as it stopped); NULL if
 * there is none. */
static json_t *endpoint_report(struct mrun *r, const char *vm, bool last)
{
	char path[PATH_MAX], line[1024];
	json_t *j = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.log", r->dir, vm);
	if (!(f = fopen(path, "r")))
		return NULL;
	while ((last || !j) && fgets(line, sizeof(line), f))
		if (line[0] == '{') {
			json_decref(j);
			j = json_loads(line, 0, NULL);
		}
	fclose(f);
	return j;
}

/* Both endpoints' counters now (SIGUSR1), into @ep. 0, or -1 after 2 s. */
static int endpoint_mark(struct mrun *r, json_t *ep[2])
{
	static const char *const vm[2] = { "mover", "peer" };

	for (int i = 0; i < 2; i++)
		kill(r->vm[i], SIGUSR1);
	for (int t = 0; t < 200; t++) {
		for (int i = 0; i < 2; i++)
			if (!ep[i])
				ep[i] = endpoint_report(r, vm[i], false);
		if (ep[0] && ep[1])
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "bench migrate: the endpoints did not report (%s/{mover,peer}.log)\n",
	        r->dir);
	return -1;
}

/* The blackouts the mover's log tells ("N ms without the adapter's
 * channel"), in order, into @ms; how many. */
static unsigned int blackouts(struct mrun *r, double *ms, unsigned int max)
{
	char path[PATH_MAX], line[1024];
	unsigned int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/mover.log", r->dir);
	if (!(f = fopen(path, "r")))
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, " ms without the adapter's channel");

		if (!p)
			continue;
		while (p > line && (p[-1] == '.' || (p[-1] >= '0' && p[-1] <= '9')))
			p--;
		ms[n++] = strtod(p, NULL);
	}
	fclose(f);
	return n;
}

/* Frames host @h forwarded to the other host (its vm.forwarding_end events). */
static double forwarded(struct mrun *r, int h)
{
	json_t *res = bench_call("migrate", r->c[h], "events.show", NULL), *e;
	double n = 0;
	size_t i;

	json_array_foreach(json_object_get(res, "events"), i, e)
	{
		json_t *d = json_object_get(e, "data");

		if (!strcmp(json_string_value(json_object_get(e, "event")) ?: "",
		            "vm.forwarding_end") &&
		    json_object_get(d, "to"))
			n += (double)json_integer_value(json_object_get(d, "frames"));
	}
	json_decref(res);
	return n;
}

/* One move of the mover from host @from to the other; its time in ms, or -1. */
static double move(struct mrun *r, int from)
{
	int to = !from;
	uint64_t t0 = util_now_ns();
	json_t *tok = bench_call("migrate", r->c[to], "vm.migrate_accept", NULL), *res;

	if (!tok)
		return -1;
	res = bench_call("migrate", r->c[from], "vm.migrate",
	                 json_pack("{s:s, s:O, s:O}", "name", "mover", "address",
	                           json_object_get(tok, "address"), "token",
	                           json_object_get(tok, "token")));
	json_decref(tok);
	if (!res)
		return -1;
	json_decref(res);
	for (int i = 0; i < 1000; i++) {
		if (bench_vm_here("migrate", r->c[to], "mover"))
			return (double)(util_now_ns() - t0) / 1e6;
		usleep(1000);
	}
	fprintf(stderr, "bench migrate: the mover did not arrive on %s (%s/mover.log)\n", HOST[to],
	        r->dir);
	return -1;
}

static int start(struct mrun *r, const char *pps)
{
	char wire[PATH_MAX];

	bench_bin_dir(r->bin, sizeof(r->bin));
	snprintf(r->dir, sizeof(r->dir), "/tmp/iovpath-migrate.XXXXXX");
	if (!mkdtemp(r->dir))
		return -1;
	for (int h = 0; h < 2; h++) {
		snprintf(wire, sizeof(wire), "shm-%s:%s/wire", h ? "connect" : "listen", r->dir);
		char *argv[] = { "iovpathd", "--name", (char *)HOST[h], "--vfs", "0",
			         "--port",   wire,     "--run-dir",     r->dir,  NULL };

		r->host[h] = bench_spawn(r->bin, r->dir, HOST[h], argv);
		if (!(r->c[h] = bench_mgmt(r->dir, HOST[h]))) {
			fprintf(stderr, "bench migrate: host %s did not start (%s/%s.log)\n",
			        HOST[h], r->dir, HOST[h]);
			return -1;
		}
	}
	static const char *const vm[2] = { "mover", "peer" };
	static const char *const mac[2] = { "02:00:00:00:0a:01", "02:00:00:00:0a:02" };

	for (int i = 0; i < 2; i++) {
		json_t *res = bench_call("migrate", r->c[i], "vm.create",
		                         json_pack("{s:s, s:s}", "name", vm[i], "mac", mac[i]));
		char *argv[] = { "iovpath-vm",  "--host",     (char *)HOST[i], "--name",
			         (char *)vm[i], "--endpoint", "--to",          (char *)mac[!i],
			         "--pps",       (char *)pps,  "--run-dir",     r->dir,
			         NULL };

		if (!res)
			return -1;
		json_decref(res);
		r->vm[i] = bench_spawn(r->bin, r->dir, vm[i], argv);
	}
	for (int i = 0; i < 2; i++) {
		int k = 0;

		while (!bench_vm_here("migrate", r->c[i], vm[i]) && k++ < 250)
			usleep(20000);
		if (k >= 250) {
			fprintf(stderr, "bench migrate: %s did not connect (%s/%s.log)\n", vm[i],
			        r->dir, vm[i]);
			return -1;
		}
	}
	return 0;
}

int bench_migrate(int argc, char **argv)
{
	struct bench_opts o = { .size = 64, .seconds = 1, .ring = 1u << 20, .burst = 32 };
	unsigned int moves = 4;
	char pps[24] = "100000";
	double mv[MOVES_MAX], bo[MOVES_MAX], lo, hi, blo = 0, bhi = 0, bmed = 0, fwd;
	struct mrun r = { 0 };
	json_t *ep[2] = { NULL, NULL }, *ep0[2] = { NULL, NULL }, *out;
	uint64_t rx = 0, lost = 0, reord = 0, dup = 0, bad = 0;
	unsigned int nb;
	int rc = 1;

	for (int i = 1; i + 1 < argc;) {
		if (!strcmp(argv[i], "--moves"))
			moves = (unsigned int)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--pps"))
			snprintf(pps, sizeof(pps), "%llu", strtoull(argv[i + 1], NULL, 10));
		else {
			i++;
			continue;
		}
		memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 2) * sizeof(*argv));
		argc -= 2;
	}
	if (bench_parse(argc, argv, &o, 64, 64))
		return 2;
	if (moves < 1 || moves > MOVES_MAX || !strtoull(pps, NULL, 10)) {
		fprintf(stderr, "bench migrate: --moves 1..%u, --pps > 0\n", MOVES_MAX);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (start(&r, pps))
		goto out;
	usleep(500000); /* both streams steady: from here on, nothing may be lost */
	if (endpoint_mark(&r, ep0))
		goto out;
	for (unsigned int k = 0; k < moves; k++) {
		if ((mv[k] = move(&r, (int)(k % 2))) < 0)
			goto out;
		usleep((useconds_t)(o.seconds * 1e6));
	}
	fwd = forwarded(&r, 0) + forwarded(&r, 1);
	for (int i = 0; i < 2; i++) { /* they print their counters as they stop */
		kill(r.vm[i], SIGTERM);
		waitpid(r.vm[i], NULL, 0);
		r.vm[i] = 0;
	}
	ep[0] = endpoint_report(&r, "mover", true);
	ep[1] = endpoint_report(&r, "peer", true);
	if (!ep[0] || !ep[1]) {
		fprintf(stderr, "bench migrate: no endpoint counters in %s/{mover,peer}.log\n",
		        r.dir);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
#define F(k)                                                                                       \
	((uint64_t)json_integer_value(json_object_get(ep[i], k)) -                                 \
	 (uint64_t)json_integer_value(json_object_get(ep0[i], k)))
		rx += F("rx_frames"), lost += F("rx_lost"), reord += F("rx_reordered");
		dup += F("rx_dup"), bad += F("rx_bad");
#undef F
	}
	if (!rx) { /* the last report is the first: a VM did not stop as asked */
		fprintf(stderr, "bench migrate: no frames counted (%s/{mover,peer}.log)\n", r.dir);
		goto out;
	}
	nb = blackouts(&r, bo, MOVES_MAX);
	if (nb) {
		bench_range(bo, nb, &blo, &bhi);
		bmed = bench_median(bo, nb);
	}
	bench_range(mv, moves, &lo, &hi);
	if (!o.json)
		printf("bench migrate: 2 hosts on a shared-memory wire, 2 endpoint VMs sending %s "
		       "frames/s of 64 B to each other, %u moves\n",
		       pps, moves);
	out = json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:f}",
	                "moves", (int)moves, "move_ms", bench_median(mv, moves), "move_ms_min", lo,
	                "move_ms_max", hi, "blackout_ms", bmed, "blackout_ms_min", blo,
	                "blackout_ms_max", bhi, "pps", strtod(pps, NULL), "frames", (json_int_t)rx,
	                "lost", (json_int_t)lost, "reordered", (json_int_t)reord, "dup",
	                (json_int_t)dup, "bad", (json_int_t)bad, "forwarded", fwd);
	bench_report_json(&o, out);
	rc = lost || bad || dup ? 1 : 0;
out:
	for (int i = 0; i < 2; i++) {
		json_decref(ep[i]);
		json_decref(ep0[i]);
	}
	stop(&r);
	return rc;
}
