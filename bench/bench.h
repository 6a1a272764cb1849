/* bench — the benchmarks behind `iovpath bench …` (binary: iovpath-bench).
 * Each benchmark measures real processes over the real datapath and, in the
 * same run, a baseline, and prints units (Mpps, Gbit/s) or one JSON object.
 *
 * Thread-safety: single-threaded programs that fork their peers.
 */
#ifndef IOVPATH_BENCH_H
#define IOVPATH_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "port/port.h"

struct bench_opts {
	uint32_t size;  /* frame bytes */
	double seconds; /* measurement time */
	uint32_t ring;  /* ring data-area bytes */
	unsigned int burst;
	unsigned int rounds; /* interleaved rounds; 0: the benchmark has none */
	bool json;
};

/* Parse the common options (--size N --seconds S --ring BYTES --burst N
 * --rounds N --json) from argv[1..]; returns 0 or -EINVAL after printing why. */
int bench_parse(int argc, char **argv, struct bench_opts *o, uint32_t min_size, uint32_t max_size);

/* A path and its baseline measured in @o->rounds rounds, each of both (all)
 * measurements back to back for @o->seconds / rounds: the hypervisor moves
 * this machine's two vCPUs between placements in which the same path runs
 * at 0.5x to 2x, every few minutes, so a ratio is only worth something
 * between figures from one placement. Per-round figures are kept; the
 * reported ratio is the median of the rounds' ratios. */
#define BENCH_ROUNDS_MAX 64

/* The options of one round of a benchmark whose --seconds is split across
 * its rounds: @o with seconds / rounds; -EINVAL (said why) when a round
 * would be shorter than 0.05 s. */
int bench_round_opts(const struct bench_opts *o, struct bench_opts *ro);
/* Median of @n values (n >= 1); @v is reordered. */
double bench_median(double *v, unsigned int n);
/* The smallest and largest of @n values. */
void bench_range(const double *v, unsigned int n, double *lo, double *hi);

/* CPU time @pid has used so far (ns, /proc/PID/schedstat), 0 if unknown. */
uint64_t bench_cpu_ns(pid_t pid);

/* Single-process memcpy of @frames frames of @size bytes, each from a 1 MiB
 * source area into a small destination, as a copy-speed baseline; Gbit/s. */
double bench_memcpy_gbps(uint32_t size, double seconds);

/* The benchmark's report: human-readable lines, or one JSON object built
 * from the name/value pairs (NULL-terminated list of name, double). */
void bench_report(const struct bench_opts *o, const char *name, ...) __attribute__((sentinel));
/* The same for a JSON object of numbers and strings, which it takes over. */
void bench_report_json(const struct bench_opts *o, json_t *obj);

/* A guest device the endpoint drives: bursts as in port.h. */
struct bench_dev {
	int (*tx)(void *dev, const struct port_pkt *pkts, unsigned int n);
	int (*rx)(void *dev, struct port_pkt *pkts, unsigned int n);
	void *dev;
	unsigned int inflight; /* frames in flight at most (0: bench_ep's default) */
};

struct bench_ep_result {
	uint64_t rx, lost, bad; /* lost: reordered or duplicated (loss shows as fewer rx) */
	double secs;
};

/* Generate o->size-byte frames @src -> @dst into @dev for o->seconds (at
 * most 4096 in flight), checking every frame that comes back. 0 or -1. */
int bench_ep_loop(const struct bench_opts *o, const uint8_t src[6], const uint8_t dst[6],
                  const struct bench_dev *dev, struct bench_ep_result *res);

/* The ring benchmark's measurement alone (Mpps), for comparisons. */
double bench_ring_mpps(const struct bench_opts *o);
/* The bare ring in the synthetic path's shape (Mpps): the same endpoint
 * sends one frame per packet to a host process that sends it straight back;
 * no NVSP, RNDIS or buffers. -1 on failure. */
double bench_ring_echo_mpps(const struct bench_opts *o);

/* The guest side of a synthetic-path run against the NetVSP listening at
 * @path: frames to @dst (NULL: to itself). 0 with @res filled, or -1. */
int bench_netvsc_guest(const char *path, const uint8_t *dst, const struct bench_opts *o,
                       struct bench_ep_result *res);

/* ---- benchmarks that run host daemons and VM processes (no root) ---- */

/* The directory of this program (where iovpathd and iovpath-vm are). */
void bench_bin_dir(char *buf, size_t len);
/* Start @bin/@argv[0] with @argv, stdout and stderr into @dir/@log.log. */
pid_t bench_spawn(const char *bin, const char *dir, const char *log, char *const argv[]);
/* The management socket of host @host in @dir, waiting up to 5 s for it. */
struct mgmt_client;
struct mgmt_client *bench_mgmt(const char *dir, const char *host);
/* Request @op (@args taken) on @c: the result, or NULL after saying why
 * (@who: the benchmark's name). */
json_t *bench_call(const char *who, struct mgmt_client *c, const char *op, json_t *args);
/* Whether VM @vm is connected on @c (and not on its way to another host). */
bool bench_vm_here(const char *who, struct mgmt_client *c, const char *vm);

int bench_ring(int argc, char **argv);
int bench_synthetic(int argc, char **argv);
int bench_vf(int argc, char **argv);
int bench_e2e(int argc, char **argv);
int bench_scale(int argc, char **argv);
int bench_wake(int argc, char **argv);
int bench_migrate(int argc, char **argv);

#endif
