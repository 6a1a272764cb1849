/* libFuzzer target: what a peer host feeds a host daemon during a live
 * migration (host/migrate.h): the destination's migr_request_decode (and the
 * counters it keeps from it, migr_counters_add), the source's
 * migr_reply_decode, and the destination's migr_frame_decode over the
 * forwarded frames that follow and migr_cancel_decode (the source gives up). Every refusal must say why; everything that
 * decodes must encode and decode back to the same thing; the counters kept
 * from a request are only non-negative integers in objects; a decoded frame
 * lies inside the input, within the size limits, its offloads inside it.
 *
 * Input: one message's JSON bytes, or a stream of frame messages. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/migrate.h"

static void only_counters(json_t *o, int depth)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o) || depth > MIGR_COUNTER_DEPTH + 1)
		abort();
	json_object_foreach(o, k, v)
	{
		if (json_is_object(v))
			only_counters(v, depth + 1);
		else if (!json_is_integer(v) || json_integer_value(v) < 0)
			abort();
	}
}

static void request(const uint8_t *in, size_t len)
{
	struct migr_request r, again;
	char err[160] = "";
	size_t n;
	char *buf;

	if (migr_request_decode(in, len, &r, err, sizeof(err))) {
		if (!err[0] || r.stats)
			abort();
		return;
	}
	json_t *kept = json_object();

	migr_counters_add(kept, r.stats, 0);
	migr_counters_add(kept, r.stats, 0); /* twice: sums stay in range */
	only_counters(kept, 0);
	json_decref(kept);
	buf = migr_request_encode(&r, &n);
	if (!buf)
		abort();
	if (n <= MIGR_MSG_MAX) { /* re-encoding may grow past the limit (escapes) */
		if (migr_request_decode(buf, n, &again, err, sizeof(err)))
			abort();
		if (memcmp(again.token, r.token, sizeof(r.token)) || strcmp(again.name, r.name) ||
		    strcmp(again.source, r.source) || memcmp(again.mac, r.mac, 6) ||
		    again.vlan != r.vlan || again.connects != r.connects ||
		    again.migrations != r.migrations || !json_equal(again.stats, r.stats))
			abort();
		migr_request_release(&again);
	}
	free(buf);
	migr_request_release(&r);
}

static void reply(const uint8_t *in, size_t len)
{
	struct migr_reply p, again;
	char err[160] = "";
	size_t n;
	char *buf;

	if (migr_reply_decode(in, len, &p, err, sizeof(err))) {
		if (!err[0])
			abort();
		return;
	}
	buf = migr_reply_encode(&p, &n);
	if (!buf || migr_reply_decode(buf, n, &again, err, sizeof(err)) ||
	    memcmp(&again, &p, sizeof(p)))
		abort();
	free(buf);
}

static void frames(const uint8_t *in, size_t len)
{
	size_t at = 0, used;
	char err[160];
	struct vsw_frame f;
	int r;

	while (at < len) {
		err[0] = '\0';
		r = migr_frame_decode(in + at, len - at, &f, &used, err, sizeof(err));
		if (r < 0 && !err[0])
			abort();
		if (r <= 0)
			return;
		if (used > len - at || f.data < in + at || f.data + f.len > in + at + used ||
		    f.len < 14 || f.len > VSW_MAX_FRAME ||
		    (f.vnet.flags && f.vnet.csum_start >= f.len) || f.vnet.hdr_len > f.len)
			abort();
		at += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	char why[160] = "";

	request(in, len);
	reply(in, len);
	frames(in, len);
	migr_cancel_decode(in, len, why, sizeof(why));
	if (!why[0])
		abort(); /* a reason either way: the cancel's, or what is wrong */
	return 0;
}
