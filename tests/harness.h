/* Test harness helpers shared by the test programs (and the benchmarks'
 * process plumbing): unique socket paths, child processes. */
#ifndef IOVPATH_TESTS_HARNESS_H
#define IOVPATH_TESTS_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

/* A fresh Unix socket path under $TMPDIR (or /tmp), unique per call. */
const char *th_sock_path(void);

/* Run @fn(@arg) in a child process that exits with its return value (and is
 * killed when the calling thread ends: a failed test leaves nothing behind). */
pid_t th_spawn(int (*fn)(void *arg), void *arg);

/* Wait for @pid; returns its exit status, or 128 + signal. */
int th_wait(pid_t pid);

/* An unsigned number from the environment variable @name, or @def. */
uint64_t th_env_u64(const char *name, uint64_t def);

#endif
