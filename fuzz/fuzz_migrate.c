/* libFuzzer target: what a peer host feeds a host daemon during a live
 * migration (host/migrate.h): the destination's migr_request_decode (and the
 * counters it keeps from it, migr_counters_add), the source's
 * migr_reply_decode. Every refusal must say why; everything that decodes
 * must encode and decode back to the same thing; the counters kept from a
 * request are only non-negative integers in objects.
 *
 * Input: one message's JSON bytes. */
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

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	request(in, len);
	reply(in, len);
	return 0;
}
