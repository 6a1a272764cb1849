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

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_FRAME_MIN  24u
#define UTIL_FRAME_TAIL 0xa5c3e1f00f1e3c5aull

enum util_frame_mode {
	UTIL_FRAME_QUICK, /* header and tail only: what a benchmark can afford */
	UTIL_FRAME_FULL,  /* every byte */
};

/* The body pattern (UTIL_FRAME_FULL), written and checked out of line. */
void util_frame_fill_body(uint8_t *buf, uint32_t len, uint64_t seq);
int util_frame_check_body(const uint8_t *buf, uint32_t len, uint64_t seq);

/* Write a frame of @len (at least UTIL_FRAME_MIN) bytes into @buf. (Inline:
 * a benchmark's generator calls it per frame.) */
static inline void util_frame_fill(void *buf, uint32_t len, uint64_t seq, uint32_t flow,
                                   enum util_frame_mode m)
{
	uint8_t *p = (uint8_t *)buf;
	uint64_t tail = seq ^ UTIL_FRAME_TAIL;

	__builtin_memcpy(p, &seq, 8);
	__builtin_memcpy(p + 8, &len, 4);
	__builtin_memcpy(p + 12, &flow, 4);
	if (m == UTIL_FRAME_FULL)
		util_frame_fill_body(p, len, seq);
	__builtin_memcpy(p + len - 8, &tail, 8);
}

/* Check a received frame of @len bytes; on success @seq and @flow receive its
 * numbers. Returns 0, or -EBADMSG when anything disagrees. (Inline: a
 * benchmark's sink calls it per frame.) */
static inline int util_frame_check(const void *buf, uint32_t len, uint64_t *seq, uint32_t *flow,
                                   enum util_frame_mode m)
{
	const uint8_t *p = (const uint8_t *)buf;
	uint64_t s, tail;
	uint32_t l, f;

	if (len < UTIL_FRAME_MIN)
		return -EBADMSG;
	__builtin_memcpy(&s, p, 8);
	__builtin_memcpy(&l, p + 8, 4);
	__builtin_memcpy(&f, p + 12, 4);
	__builtin_memcpy(&tail, p + len - 8, 8);
	if (l != len || tail != (s ^ UTIL_FRAME_TAIL))
		return -EBADMSG;
	if (m == UTIL_FRAME_FULL && util_frame_check_body(p, len, s))
		return -EBADMSG;
	*seq = s;
	*flow = f;
	return 0;
}

#endif
