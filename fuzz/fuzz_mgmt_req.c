/* libFuzzer target: mgmt_req_decode() on arbitrary bytes (a management
 * client's datagram, as the daemon receives it). Every refusal must say why
 * and turn into a reply the client side decodes back to the same error;
 * every request that decodes must re-encode to the same id, op and args.
 * The same bytes also go through the client's decoder of daemon messages.
 *
 * Input: the datagram bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/mgmt.h"

/* The reply the daemon would send for @err must decode to the same error. */
static void check_refusal(const struct mgmt_req *req, const struct mgmt_err *err)
{
	struct mgmt_msg m;
	char why[160];
	size_t len;
	char *buf = mgmt_reply_encode(req->has_id, req->id, NULL, err, &len);

	if (!buf)
		abort();
	if (mgmt_msg_decode(buf, len, &m, why, sizeof(why)) != 0)
		abort();
	if (m.kind != MGMT_MSG_REPLY || m.ok || m.has_id != req->has_id ||
	    (m.has_id && m.id != req->id) || m.err.errnum != err->errnum ||
	    strcmp(m.err.code, err->code) != 0 || strlen(m.err.message) != strlen(err->message))
		abort();
	free(buf);
}

static void check_request(const struct mgmt_req *req)
{
	struct mgmt_err err;
	struct mgmt_req again;
	size_t len;
	char *buf;

	if (!req->has_id || req->id < 0 || req->id >= MGMT_ID_MAX || !mgmt_name_ok(req->op) ||
	    !json_is_object(req->args))
		abort();
	buf = mgmt_req_encode(req->id, req->op, req->args, &len);
	if (!buf) {
		/* Only a request at the limit can grow past it when re-encoded. */
		if (errno != EMSGSIZE)
			abort();
		return;
	}
	if (mgmt_req_decode(buf, len, &again, &err) != 0)
		abort();
	if (again.id != req->id || strcmp(again.op, req->op) != 0 ||
	    !json_equal(again.args, req->args))
		abort();
	mgmt_req_release(&again);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct mgmt_err err = { 0 };
	struct mgmt_req req;
	struct mgmt_msg m;
	char why[160];
	int rc;

	rc = mgmt_req_decode(in, len, &req, &err);
	if (rc) {
		if (rc >= 0 || -rc != err.errnum || !err.code[0] || !err.message[0] || req.args)
			abort(); /* every refusal says why */
		check_refusal(&req, &err);
	} else {
		check_request(&req);
		mgmt_req_release(&req);
	}

	why[0] = '\0';
	rc = mgmt_msg_decode(in, len, &m, why, sizeof(why));
	if (rc) {
		if (rc != -EPROTO || !why[0] || m.body)
			abort();
		return 0;
	}
	if ((m.kind == MGMT_MSG_EVENT || m.ok) != (m.body != NULL))
		abort();
	json_decref(m.body);
	return 0;
}
