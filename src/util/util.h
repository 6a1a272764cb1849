/* util — small helpers every module uses: barriers, time, logging, fd passing.
 *
 * Thread-safety: everything here is reentrant; the log level is a process-wide
 * setting read without locking (set it once at start-up).
 * Errors: calls that can fail return 0 or a negative errno, as everywhere in iovpath.
 */
#ifndef IOVPATH_UTIL_H
#define IOVPATH_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define likely(x)      __builtin_expect(!!(x), 1)
#define unlikely(x)    __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))

/* Shared-memory access: the only ways iovpath touches a field the peer also uses. */
#define READ_ONCE(x)        (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)    (*(volatile __typeof__(x) *)&(x) = (v))
#define load_acquire(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define smp_mb()            __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Monotonic time in nanoseconds. */
uint64_t util_now_ns(void);

/* "02:00:00:00:01:01" <-> 6 bytes. util_mac_parse: 0 or -EINVAL (not six
 * two-digit hex bytes separated by ':'). util_mac_fmt: @out holds 18 bytes. */
int util_mac_parse(const char *s, uint8_t mac[6]);
void util_mac_fmt(const uint8_t mac[6], char out[18]);

/* Logging to stderr: "iovpath[pid] LEVEL module: message". */
enum util_log_level { UTIL_LOG_ERR, UTIL_LOG_WARN, UTIL_LOG_INFO, UTIL_LOG_DEBUG };
extern int util_log_level;
void util_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_err(mod, ...)  util_log(UTIL_LOG_ERR, mod, __VA_ARGS__)
#define log_warn(mod, ...) util_log(UTIL_LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) util_log(UTIL_LOG_INFO, mod, __VA_ARGS__)
#define log_dbg(mod, ...)  util_log(UTIL_LOG_DEBUG, mod, __VA_ARGS__)

/* Send one datagram with up to @nfds file descriptors attached (SCM_RIGHTS).
 * Returns 0 or -errno (-EPIPE when the peer is gone; never raises SIGPIPE). */
int util_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);

/* Receive one datagram and the descriptors attached to it. Exactly @nfds_max
 * slots in @fds are filled with -1 first; *@nfds receives the count that
 * arrived. Descriptors beyond @nfds_max, or any when the message is truncated,
 * are closed and the call fails with -EPROTO. Returns the byte count (0: the
 * peer closed) or -errno. @timeout_ms < 0 waits forever. */
ssize_t util_recv_fds(int sock, void *buf, size_t len, int *fds, int nfds_max, int *nfds,
                      int timeout_ms);

/* Enter the network namespace /var/run/netns/@name (NULL or "": stay).
 * *@saved receives a descriptor of the namespace we came from (or -1), for
 * util_netns_leave. Returns 0 or -errno. Thread-local effect. */
int util_netns_enter(const char *name, int *saved);
void util_netns_leave(int saved);

/* Pin the calling thread to one CPU (best effort); returns 0 or -errno. */
int util_pin_cpu(int cpu);

/* A CPU list as taskset -c and /proc/PID/status's Cpus_allowed_list write
 * it: "N", "N-M" or several of them joined by ',' ("1", "0-3", "1,3,5-7"),
 * each CPU below UTIL_CPUS_MAX, ranges ascending. Fills @cpus (a bit per
 * CPU). Returns 0, or -EINVAL with what was wrong in @err. */
#define UTIL_CPUS_MAX 1024u
struct util_cpus {
	uint64_t bits[UTIL_CPUS_MAX / 64];
};
int util_cpus_parse(const char *list, struct util_cpus *cpus, char *err, size_t errlen);

/* The calling process becomes one of the datapath's processes on CPUs of
 * their own (iovpathd --cpus, iovpath-vm --cpus): kept on @list's CPUs (a
 * CPU list as above), and scheduled SCHED_BATCH (its nice value kept): a
 * wake-up of one of them (a doorbell) does not preempt the one running, which
 * finishes its batch first — on one shared CPU, fewer switches and bigger
 * batches (bench e2e: 5-7 % more, README). Returns 0, or -errno with why in
 * @err: a bad list (-EINVAL), or none of its CPUs online and allowed here
 * (-EINVAL from the kernel). */
int util_datapath_cpus(const char *list, char *err, size_t errlen);

/* How long to busy-poll for a peer process before sleeping: @ns when the
 * calling process may run on two CPUs or more, 0 when on one only (the peer
 * it polls for would run on that CPU too, as the datapath's processes on a
 * CPU of their own do: spinning only keeps it off; bench e2e 3-5 % more
 * without). */
uint64_t util_spin_ns(uint64_t ns);

/* The CPUs the calling process may run on, as a CPU list ("0-1"), into
 * @buf (truncated to @len). */
void util_cpus_self(char *buf, size_t len);

typedef uint8_t util_v16 __attribute__((vector_size(16))); /* one SSE register */

/* Copy @n bytes to @dst, returning @dst + @n: up to 64 bytes with a few
 * overlapping fixed-size moves the compiler inlines (packet headers and
 * small frames: a call would cost more than the copy), more with memcpy. */
static inline uint8_t *util_copy_small(uint8_t *dst, const void *src, size_t n)
{
	const uint8_t *s = src;

	/* every load before the first store (@dst may lie on @src), into
	 * vector variables: byte arrays were spilled to the stack and back */
	if (n >= 16 && n <= 32) {
		util_v16 a, b;

		memcpy(&a, s, 16);
		memcpy(&b, s + n - 16, 16);
		memcpy(dst, &a, 16);
		memcpy(dst + n - 16, &b, 16);
	} else if (n > 32 && n <= 64) {
		util_v16 a0, a1, b0, b1;

		memcpy(&a0, s, 16);
		memcpy(&a1, s + 16, 16);
		memcpy(&b0, s + n - 32, 16);
		memcpy(&b1, s + n - 16, 16);
		memcpy(dst, &a0, 16);
		memcpy(dst + 16, &a1, 16);
		memcpy(dst + n - 32, &b0, 16);
		memcpy(dst + n - 16, &b1, 16);
	} else if (n) {
		memcpy(dst, s, n);
	}
	return dst + n;
}

/* memcpy of a large block whose source another core just wrote (a send
 * section): out of line, so the compiler calls libc's vector copy instead of
 * inlining a `rep movsq` (which the profile showed stalling on those lines;
 * the two were not told apart on this noisy machine). */
void util_copy_block(void *dst, const void *src, size_t n);

/* Ask for the cache line at @p in the state for writing (x86 PREFETCHW:
 * a store into a line the other core read last then doesn't wait for it). */
static inline void util_prefetch_w(const void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

#endif
