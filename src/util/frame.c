/* util_frame — see frame.h. */
#include "util/frame.h"

#include <errno.h>
#include <string.h>

static inline uint64_t __word(uint64_t seq, uint64_t i)
{
	return (seq * 0x9e3779b97f4a7c15ull) ^ (i * 0xd6e8feb86659fd93ull);
}

void util_frame_fill_body(uint8_t *p, uint32_t len, uint64_t seq)
{
	uint32_t body = len - 24, i;

	for (i = 0; i + 8 <= body; i += 8) {
		uint64_t w = __word(seq, i);

		memcpy(p + 16 + i, &w, 8);
	}
	for (; i < body; i++)
		p[16 + i] = (uint8_t)__word(seq, i);
}

int util_frame_check_body(const uint8_t *p, uint32_t len, uint64_t seq)
{
	uint32_t body = len - 24, i;

	for (i = 0; i + 8 <= body; i += 8) {
		uint64_t w;

		memcpy(&w, p + 16 + i, 8);
		if (w != __word(seq, i))
			return -EBADMSG;
	}
	for (; i < body; i++)
		if (p[16 + i] != (uint8_t)__word(seq, i))
			return -EBADMSG;
	return 0;
}
