/* util_frame — self-checking test frames: a sequence number, a length, a
 * tail tag, and (optionally) a body pattern derived from the sequence number,
 * so a receiver can tell lost, reordered, duplicated, truncated and corrupted
 * frames apart. Used by the tests and the benchmarks alike.
 *
 *   +0  u64 seq
 *   +8  u32 len     (the frame's own length)
 *   +12 u32 flow
 *   +16 body: u64 words f(seq, i) (only checked in UTIL_FRAME_FULL mode)
 *   +len-8 u64 tail = seq ^ UTIL_FRAME_TAIL   (frames of at least 24 bytes)
 *
 * Thread-safety: pure functions. Errors: util_frame_check returns 0 or -EBADMSG.
 */
#ifndef IOVPATH_UTIL_FRAME_H
#define IOVPATH_UTIL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_FRAME_MIN  24u
#define UTIL_FRAME_TAIL 0xa5c3e1f00f1e3c5aull

enum util_frame_mode {
	UTIL_FRAME_QUICK, /* header and tail only: what a benchmark can afford */
	UTIL_FRAME_FULL,  /* every byte */
};

/* Write a frame of @len (at least UTIL_FRAME_MIN) bytes into @buf. */
void util_frame_fill(void *buf, uint32_t len, uint64_t seq, uint32_t flow, enum util_frame_mode m);

/* Check a received frame of @len bytes; on success @seq and @flow receive its
 * numbers. Returns 0, or -EBADMSG when anything disagrees. */
int util_frame_check(const void *buf, uint32_t len, uint64_t *seq, uint32_t *flow,
                     enum util_frame_mode m);

#endif
