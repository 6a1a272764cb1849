/* libFuzzer target: an RNDIS transfer (what a SEND_RNDIS_PKT carries) walked
 * with rndis_next(), each message decoded with rndis_decode(), PPIs included.
 * Every pointer the decoder hands back must lie inside its message, a
 * decoded packet must re-encode to the same per-packet info, and the data
 * path's rndis_decode_packet() must give rndis_decode()'s verdict.
 *
 * Input: the transfer bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rndis.h"

static void check_inside(const uint8_t *msg, uint32_t len, const uint8_t *p, uint32_t n)
{
	if (n == 0 ? p != NULL : (p < msg || p + n > msg + len))
		abort();
}

static void check_packet(const struct rndis_msg *m)
{
	static uint8_t b[44 + 5 * 16];
	struct rndis_msg m2;
	uint8_t *whole;
	int hdr;

	if (m->data_len == 0 || m->pi.present & ~RNDIS_PI_ALL)
		abort();
	hdr = rndis_encode_packet(b, sizeof(b), &m->pi, m->data_len);
	if (hdr <= 0)
		abort();
	whole = malloc((size_t)hdr + m->data_len);
	if (!whole)
		return;
	memcpy(whole, b, (size_t)hdr);
	memcpy(whole + hdr, m->data, m->data_len);
	if (rndis_decode(whole, (size_t)hdr + m->data_len, &m2, NULL, 0) != 0 ||
	    memcmp(&m2.pi, &m->pi, sizeof(m->pi)) != 0 || m2.data_len != m->data_len ||
	    memcmp(m2.data, m->data, m->data_len) != 0)
		abort();
	free(whole);
}

/* rndis_decode_packet() on the same bytes: the same result, or -ENOMSG
 * where rndis_decode() found another type. */
static void check_same(const uint8_t *msg, size_t len, int rc, const struct rndis_msg *m)
{
	struct rndis_pkt_view v;
	char err[160];
	int r = rndis_decode_packet(msg, len, &v, err, sizeof(err));

	if (rc < 0 ? r != rc || !err[0]
	           : m->hdr.type != RNDIS_MSG_PACKET
	               ? r != -ENOMSG || !err[0]
	               : r != 0 || v.data != m->data || v.data_len != m->data_len ||
	                     v.nppi != m->nppi || memcmp(&v.pi, &m->pi, sizeof(v.pi)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	const uint8_t *msg;
	struct rndis_msg m;
	char err[160];
	size_t pos = 0;
	uint32_t mlen;
	int rc;

	/* The decoder alone on the raw bytes (one message, maybe followed by more). */
	rc = rndis_decode(in, len, &m, err, sizeof(err));
	if (rc != 0 && !err[0])
		abort();
	check_same(in, len, rc, &m);

	while ((rc = rndis_next(in, len, &pos, &msg, &mlen, err, sizeof(err))) == 1) {
		if (msg < in || msg + mlen > in + len || mlen < RNDIS_HDR_SIZE)
			abort();
		rc = rndis_decode(msg, mlen, &m, err, sizeof(err));
		check_same(msg, mlen, rc, &m);
		if (rc != 0) {
			if (!err[0])
				abort();
			continue;
		}
		if (m.hdr.len != mlen)
			abort();
		check_inside(msg, mlen, m.info, m.info_len);
		check_inside(msg, mlen, m.data, m.data_len);
		if (m.hdr.type == RNDIS_MSG_PACKET)
			check_packet(&m);
	}
	if (rc < 0 && !err[0])
		abort();
	return 0;
}
