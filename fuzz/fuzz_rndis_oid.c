/* libFuzzer target: the host's RNDIS responder fed hostile requests. Each
 * message of the transfer is decoded and answered by rndis_oid_respond() for
 * one adapter (fixed start state: initialised, MAC/MTU/speed set); every
 * completion must decode, and the state must stay within its rules.
 *
 * Input: [u8 output space: 0..15 -> that many 8-byte units, else 4096]
 *        [an RNDIS transfer: requests back to back, as rndis_next() walks them] */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rndis_oid.h"

static void check_state(const struct rndis_oid_adapter *a)
{
	const uint8_t *p = (const uint8_t *)&a->offload;

	if (a->mcast_count > RNDIS_OID_MCAST_MAX ||
	    (a->packet_filter & ~RNDIS_OID_FILTER_SUPPORTED))
		abort();
	for (uint32_t i = 0; i < a->mcast_count; i++)
		if (!(a->mcast[i][0] & 1))
			abort();
	/* No setting ever becomes "no change" or leaves its range. */
	for (size_t off = offsetof(struct rndis_oid_offload_params, ip4_csum);
	     off < offsetof(struct rndis_oid_offload_params, encap_types); off++)
		if (off <= offsetof(struct rndis_oid_offload_params, tcp6_conn) ||
		    off >= offsetof(struct rndis_oid_offload_params, ipsecv2))
			if (p[off] == 0 || p[off] > 4)
				abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 0xaa, 0xbb, 0xcc };
	static struct rndis_oid_adapter tmpl;
	static uint8_t out[4096];
	struct rndis_oid_adapter a;
	struct rndis_msg req, comp;
	const uint8_t *msg;
	size_t pos = 0, cap;
	uint32_t mlen;
	int rc;

	if (!tmpl.initialized) {
		uint8_t b[64];

		rndis_oid_adapter_init(&tmpl, mac, 1500, 100000000);
		rc = rndis_encode_init(b, sizeof(b), 1, RNDIS_MAJOR_VERSION, RNDIS_MINOR_VERSION,
		                       0x4000);
		if (rc <= 0 || rndis_decode(b, (size_t)rc, &req, NULL, 0) ||
		    rndis_oid_respond(&tmpl, &req, out, sizeof(out)) <= 0 || !tmpl.initialized)
			abort();
	}
	if (len < 1)
		return 0;
	cap = in[0] < 16 ? in[0] * 8u : sizeof(out);
	in++, len--;
	a = tmpl;

	while (rndis_next(in, len, &pos, &msg, &mlen, NULL, 0) == 1) {
		/* The responder sees only what the decoder let through, from a
		 * private copy of exactly the message's bytes. */
		uint8_t *copy = malloc(mlen);

		if (!copy)
			return 0;
		memcpy(copy, msg, mlen);
		if (rndis_decode(copy, mlen, &req, NULL, 0) == 0) {
			rc = rndis_oid_respond(&a, &req, out, cap);
			if (rc > 0) {
				if ((size_t)rc > cap ||
				    rndis_decode(out, (size_t)rc, &comp, NULL, 0))
					abort();
				if (comp.hdr.type != (req.hdr.type | RNDIS_MSG_COMPLETION))
					abort();
			} else if (rc == 0 && req.hdr.type != RNDIS_MSG_HALT) {
				abort();
			}
			check_state(&a);
		}
		free(copy);
	}
	return 0;
}
