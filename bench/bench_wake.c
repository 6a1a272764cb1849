/* bench wake — what a doorbell costs on this machine: the CPU time the
 * signalling process spends in one eventfd write that wakes a process asleep
 * in poll() (the way every iovpath doorbell wakes a VM, the host or the NIC
 * engine), with the sleeper on the other CPU and on the same CPU, and the
 * round trip of two such wake-ups (process A wakes B, B wakes A).
 *
 * The waker's cost is measured as its own CPU time (CLOCK_THREAD_CPUTIME_ID)
 * around each write, in a loop of "sleep 50 us, write", minus the same
 * reading around nothing: the sleeper is asleep at every write and its own
 * run is not counted. (Measured around the write alone, not as the
 * difference of two whole loops: the loops' own CPU time — the sleeps — is
 * noisier than a wake-up is dear, and that difference came out 0 at times.)
 * This is the figure that decides how often the datapath can afford to sleep
 * (SPIN_NS in hostd and vmproc) and what bench scale's host cost is made of.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "util/util.h"

#define GAP_US 50u

static uint64_t thread_cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The sleeper: wait on @in, drain it, and (when @out >= 0) wake the other. */
static void sleeper(int cpu, int in, int out)
{
	util_pin_cpu(cpu);
	for (;;) {
		struct pollfd p = { .fd = in, .events = POLLIN };
		uint64_t v;

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			_exit(1);
		if (read(in, &v, sizeof(v)) == sizeof(v) && out >= 0)
			(void)!write(out, &v, sizeof(v));
	}
}

static pid_t spawn_sleeper(int cpu, int in, int out)
{
	pid_t pid = fork();

	if (pid == 0)
		sleeper(cpu, in, out);
	return pid;
}

static void reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* Waker's CPU ns per wake-up of a sleeper on @cpu (the waker on CPU 0). */
static double wake_cost(int cpu, unsigned int n)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t one = 1, t0, base = 0, with = 0;
	pid_t pid;

	if (efd < 0)
		return -1;
	pid = spawn_sleeper(cpu, efd, -1);
	if (pid < 0) {
		close(efd);
		return -1;
	}
	util_pin_cpu(0);
	usleep(100000);
	for (unsigned int i = 0; i < n; i++) {
		usleep(GAP_US);
		t0 = thread_cpu_ns();
		base += thread_cpu_ns() - t0; /* the reading's own cost */
		t0 = thread_cpu_ns();
		(void)!write(efd, &one, sizeof(one));
		with += thread_cpu_ns() - t0;
	}
	reap(pid);
	close(efd);
	return with > base ? (double)(with - base) / n : 0;
}

/* Round trip: wake a sleeper on CPU 1 that wakes us back; wall ns. */
static double round_trip(unsigned int n)
{
	int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 1, t0, el;
	pid_t pid;

	if (a < 0 || b < 0) {
		if (a >= 0)
			close(a);
		return -1;
	}
	pid = spawn_sleeper(1, a, b);
	if (pid < 0) {
		close(a);
		close(b);
		return -1;
	}
	util_pin_cpu(0);
	usleep(100000);
	t0 = util_now_ns();
	for (unsigned int i = 0; i < n; i++) {
		(void)!write(a, &v, sizeof(v));
		(void)!read(b, &v, sizeof(v));
	}
	el = util_now_ns() - t0;
	reap(pid);
	close(a);
	close(b);
	return (double)el / n;
}

int bench_wake(int argc, char **argv)
{
	struct bench_opts o = { .size = 64, .seconds = 2, .ring = 1u << 20, .burst = 32 };
	unsigned int n;
	double cross, same, rt;

	if (bench_parse(argc, argv, &o, 0, 65535))
		return 2;
	/* each wake_cost loop pair takes about 2 * n * (GAP_US + a wake-up) */
	n = (unsigned int)(o.seconds * 1e6 / 3 / (2 * (GAP_US + 30)));
	if (n < 100)
		n = 100;
	cross = wake_cost(1, n);
	same = wake_cost(0, n);
	rt = round_trip(n);
	if (cross < 0 || same < 0 || rt < 0) {
		fprintf(stderr, "bench wake: %s\n", strerror(errno));
		return 1;
	}
	if (!o.json)
		printf("bench wake: eventfd write waking a process asleep in poll(), %u times each "
		       "(waker's CPU time); round trip A->B->A across CPUs\n",
		       n);
	bench_report(&o, "wake_ns_cross_cpu", cross, "wake_ns_same_cpu", same, "round_trip_ns",
	             rt, "wakeups", (double)n, NULL);
	return 0;
}
