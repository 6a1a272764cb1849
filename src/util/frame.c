/* util_frame — see frame.h. */
#include "util/frame.h"

#include <errno.h>
#include <string.h>

static inline uint64_t __word(uint64_t seq, uint64_t i)
{
	return (seq * 0x9e3779b97f4a7c15ull) ^ (i * 0xd6e8feb86659fd93ull);
}

void util_frame_fill(void *buf, uint32_t len, uint64_t seq, uint32_t flow, enum util_frame_mode m)
{
	uint8_t *p = buf;
	uint64_t tail = seq ^ UTIL_FRAME_TAIL;

	memcpy(p, &seq, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flow, 4);
	if (m == UTIL_FRAME_FULL) {
		uint32_t body = len - 24, i;

		for (i = 0; i + 8 <= body; i += 8) {
			uint64_t w = __word(seq, i);

			memcpy(p + 16 + i, &w, 8);
		}
		for (; i < body; i++)
			p[16 + i] = (uint8_t)__word(seq, i);
	}
	memcpy(p + len - 8, &tail, 8);
}

int util_frame_check(const void *buf, uint32_t len, uint64_t *seq, uint32_t *flow,
                     enum util_frame_mode m)
{
	const uint8_t *p = buf;
	uint64_t s, tail;
	uint32_t l, f;

	if (len < UTIL_FRAME_MIN)
		return -EBADMSG;
	memcpy(&s, p, 8);
	memcpy(&l, p + 8, 4);
	memcpy(&f, p + 12, 4);
	memcpy(&tail, p + len - 8, 8);
	if (l != len || tail != (s ^ UTIL_FRAME_TAIL))
		return -EBADMSG;
	if (m == UTIL_FRAME_FULL) {
		uint32_t body = len - 24, i;

		for (i = 0; i + 8 <= body; i += 8) {
			uint64_t w;

			memcpy(&w, p + 16 + i, 8);
			if (w != __word(s, i))
				return -EBADMSG;
		}
		for (; i < body; i++)
			if (p[16 + i] != (uint8_t)__word(s, i))
				return -EBADMSG;
	}
	*seq = s;
	*flow = f;
	return 0;
}
