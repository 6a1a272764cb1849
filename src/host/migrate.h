/* migrate — live migration of a VM's network adapter between two host
 * daemons (SPEC §5): the messages the source and the destination exchange
 * over TCP, their framing, encoding and validation. No state, no policy:
 * hostd.c runs the sequence.
 *
 * The sequence (driven by `iovpath vm migrate VM --to HOST`):
 *   1. the VF, if any, is taken back first (a VF failover: SPEC §5 steps 1-6);
 *   2. the destination hands out a one-time token (vm.migrate_accept);
 *   3. the source connects to the destination's migration listener and sends
 *      one MIGRATE request: the token, the port's parameters (name, MAC,
 *      VLAN: what the destination's validation port checks) and its run-time
 *      state (counters so far, connects, migrations);
 *   4. the destination checks the token and the port's policies (the name and
 *      the MAC free, room for one more adapter, a valid VLAN); a failure is
 *      the reply and stops the migration (the VM stays where it is). Else it
 *      creates the operational port with the same parameters, a new
 *      credential, restores the state and replies with its channel and the
 *      credential;
 *   5. the source hands both to the VM on its VMBus control path
 *      (VMBUS_CTL_MIGRATE); the VM quiesces, closes its adapter on the source
 *      (RNDIS HALT: every frame it sent is through), opens it on the
 *      destination and announces itself (RARP) on the physical network;
 *   6. when the VM has left, the source deletes the port.
 *
 * Wire: every message is a 4-byte big-endian length (1..MIGR_MSG_MAX) and
 * that many bytes of one JSON object, version MIGR_VERSION:
 *
 *   request  {"v":1,"token":HEX64,"source":HOST,
 *             "port":{"name":VM,"mac":"02:..","vlan":0..4094},
 *             "state":{"connects":N,"migrations":N,"stats":{...}}}
 *   reply    {"v":1,"ok":true,"host":HOST,"channel":PATH,"secret":HEX64}
 *            {"v":1,"ok":false,"error":TEXT}
 *
 * Trust: the destination treats the request as hostile input from a peer
 * (migr_request_decode validates every field; unknown fields are refused),
 * the source the reply likewise (migr_reply_decode). Both are fuzzed.
 *
 * Thread-safety: none needed (no shared state). Ownership: a decoded
 * request holds a reference to its "stats" object: migr_request_release.
 * Errors: decoders return 0 or -EPROTO with the reason in @err; I/O calls
 * return 0 or a negative errno (-ETIMEDOUT, -EPIPE, -EMSGSIZE).
 */
#ifndef IOVPATH_HOST_MIGRATE_H
#define IOVPATH_HOST_MIGRATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "vmbus/vmbus_chan.h"

#define MIGR_VERSION   1
#define MIGR_MSG_MAX   16384u /* bytes of one message's JSON */
#define MIGR_TOKEN_LEN 32u    /* bytes; HEX64 on the wire */
#define MIGR_PATH_MAX  128u   /* a channel path, with the NUL */

struct migr_request {
	uint8_t token[MIGR_TOKEN_LEN];
	char source[VMBUS_NAME_MAX];
	char name[VMBUS_NAME_MAX];
	uint8_t mac[6];
	uint16_t vlan;
	uint64_t connects, migrations;
	json_t *stats; /* an object (maybe empty): the counters so far */
};

struct migr_reply {
	int ok;
	char error[384];
	char host[VMBUS_NAME_MAX];
	char channel[MIGR_PATH_MAX];
	uint8_t secret[VMBUS_SECRET_LEN];
};

/* Encode @r / @p into a new JSON string (free()); NULL on ENOMEM. */
char *migr_request_encode(const struct migr_request *r, size_t *len);
char *migr_reply_encode(const struct migr_reply *p, size_t *len);

int migr_request_decode(const void *buf, size_t len, struct migr_request *r, char *err,
                        size_t errlen);
void migr_request_release(struct migr_request *r);
int migr_reply_decode(const void *buf, size_t len, struct migr_reply *p, char *err, size_t errlen);

/* One framed message on a connected stream socket. migr_recv waits at most
 * @timeout_ms in all and puts the JSON (NUL-terminated) into @buf
 * (MIGR_MSG_MAX + 1 bytes); returns its length or a negative errno. */
int migr_send(int fd, const char *json, size_t len);
int migr_recv(int fd, char *buf, int timeout_ms);

/* "A.B.C.D:PORT" into a socket address; 0 or -EINVAL. */
struct sockaddr_in;
int migr_addr_parse(const char *s, struct sockaddr_in *sa);

/* Add the counters of @add into @acc: every non-negative integer (but a
 * "vf" index) by its key, nested objects down to MIGR_COUNTER_DEPTH levels;
 * anything else in @add is left out. So a port's counters on earlier hosts
 * add up, and what a peer sent is only ever counters. Call with @depth 0. */
#define MIGR_COUNTER_DEPTH 3
void migr_counters_add(json_t *acc, json_t *add, int depth);

/* Hex of @n bytes into @out (2n + 1); and back (exactly 2n hex digits). */
void migr_hex(const uint8_t *b, size_t n, char *out);
int migr_unhex(const char *s, uint8_t *b, size_t n);

#endif
