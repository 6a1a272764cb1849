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
 *      (VMBUS_CTL_MIGRATE); the VM quiesces, halts its adapter on the source
 *      (RNDIS HALT: every frame it sent is through, every frame the source
 *      delivered before the HALT's completion is taken), closes it, opens it
 *      on the destination and announces itself (RARP) on the physical
 *      network;
 *   6. from the HALT on, what the source's switch still sends to the port
 *      (the physical network learns where the MAC went only from the RARP;
 *      the source's own VMs keep sending to the port until then) is
 *      forwarded to the destination on the same TCP connection (struct
 *      migr_fwd below), which hands it to the VM once it is there: nothing
 *      is lost in between. When the VM has left and nothing more came for
 *      MIGR_FWD_QUIET_MS (at most MIGR_FWD_MAX_MS in all), the source deletes
 *      the port and closes the connection. A VM that has not left within
 *      MIGR_HALT_MS (twice that once it halted) stays: the source sends it
 *      VMBUS_CTL_MIGRATE_CANCEL and the destination the cancel message.
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
 * After the reply the connection carries forwarded frames, source to
 * destination: a 4-byte big-endian word MIGR_FRAME_BIT | (12 + frame length),
 * a 12-byte header (the frame's virtio-net offload header: flags, gso_type,
 * then hdr_len, gso_size, csum_start, csum_offset as big-endian 16-bit
 * words; 2 bytes zero), the frame (14..VSW_MAX_FRAME bytes, untagged, to the
 * VM's own unicast MAC). Or, once, last: a JSON message (framed as above)
 *
 *   cancel   {"v":1,"cancel":REASON}
 *
 * when the VM did not move (it ignored MIGRATE, or never left, for
 * MIGR_HALT_MS): the source keeps it, the destination deletes the port it
 * made for it (a VM that is there already keeps it).
 *
 * Trust: the destination treats the request as hostile input from a peer
 * (migr_request_decode validates every field; unknown fields are refused),
 * the source the reply likewise (migr_reply_decode), the destination every
 * forwarded frame's header too (a malformed one closes the connection; a
 * frame not for the VM's MAC is dropped and counted; NetVSP validates the
 * offloads as for any frame). All are fuzzed.
 *
 * Thread-safety: none needed (no shared state). Ownership: a decoded
 * request holds a reference to its "stats" object: migr_request_release.
 * Errors: decoders return 0 or -EPROTO with the reason in @err; I/O calls
 * return 0 or a negative errno (-ETIMEDOUT, -EPIPE, -EMSGSIZE).
 */
#ifndef IOVPATH_HOST_MIGRATE_H
#define IOVPATH_HOST_MIGRATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmbus/vmbus_chan.h"
#include "vswitch/vsw.h"

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

/* The same message read without waiting, a piece at a time as the socket
 * has it (a listener must not wait for a peer that has proved nothing):
 * migr_recv_some reads what @fd has now into @rd and returns the message's
 * length once it is whole (the JSON NUL-terminated in rd->buf), 0 while it
 * is not, or a negative errno (-EMSGSIZE, -EPIPE: closed). Start @rd zeroed. */
struct migr_rd {
	uint32_t got; /* bytes of the 4-byte length and the message so far */
	uint8_t hdr[4];
	char buf[MIGR_MSG_MAX + 1];
};

int migr_recv_some(int fd, struct migr_rd *rd);

/* ---- frames forwarded while the VM moves ---- */

#define MIGR_FRAME_BIT    0x80000000u
#define MIGR_FRAME_HDR    12u
#define MIGR_FWD_OUT_BUF  (4u << 20)   /* bytes the source queues (a few ms of 10 Gbit/s) */
#define MIGR_FWD_IN_BUF   (256u << 10) /* bytes the destination reads at once */
#define MIGR_FWD_QUIET_MS 250u         /* the source stops this long after the last frame */
#define MIGR_FWD_MAX_MS   3000u        /* ... or this long after its VM left */
#define MIGR_FWD_IN_MS    10000u       /* the destination waits at most this for the end */
#define MIGR_HALT_MS      5000u        /* a VM told to move has left within this, or stays */

/* One forwarding connection's end: the source's (migr_fwd_put, _flush) or
 * the destination's (migr_fwd_pump). Owns its descriptor. */
struct migr_fwd;

struct migr_fwd_stats {
	uint64_t frames, bytes; /* queued (source) / handed to the VM (destination) */
	uint64_t dropped;       /* source: no room in the queue; destination: not for the VM */
};

struct migr_fwd *migr_fwd_new(int fd, size_t bufsize);
void migr_fwd_free(struct migr_fwd *f); /* closes the descriptor */
int migr_fwd_fd(const struct migr_fwd *f);
void migr_fwd_stats(const struct migr_fwd *f, struct migr_fwd_stats *st);

/* Source: queue the unicast frames to @mac among @fr[0..n) (others are left
 * out: broadcast reaches the destination by the physical network). Returns
 * how many were queued; a full queue drops (counted). */
unsigned int migr_fwd_put(struct migr_fwd *f, const uint8_t mac[6], const struct vsw_frame *fr,
                          unsigned int n);
/* Source: queue the cancel message (the last thing on the connection).
 * 0, or -ENOSPC (no room: the destination keeps its port until its time is
 * up), -EINVAL (@why empty or too long). */
int migr_fwd_cancel(struct migr_fwd *f, const char *why);
/* Source: send what is queued without blocking. 0: all sent; -EAGAIN: some
 * left (wait for POLLOUT); another negative errno: the connection failed. */
int migr_fwd_flush(struct migr_fwd *f);
bool migr_fwd_pending(const struct migr_fwd *f);

/* Destination: read what came without blocking and hand the frames, in
 * order, to @deliver (up to VSW_BURST at once; it returns how many it took;
 * the rest wait for the next call). Frames not for @mac are dropped and
 * counted. Returns the frames handed over (>= 0), -EAGAIN when @deliver took
 * none of some waiting, -EPIPE at the end of the stream (all handed over),
 * -ECANCELED at the cancel message (all before it handed over; its reason in
 * @err), or -EPROTO with the reason in @err (the stream is unusable: close
 * it). */
/* The cancel message's JSON (@len bytes): 0 with its reason in @why, or
 * -EPROTO with what is wrong in @why. */
int migr_cancel_decode(const void *buf, size_t len, char *why, size_t whylen);

/* One forwarded frame's message at @buf (@len bytes there): 1 with *@f (its
 * data inside @buf) and *@used, 0 when more bytes are needed, or -EPROTO
 * with the reason in @err. What migr_fwd_pump runs on every message. */
int migr_frame_decode(const uint8_t *buf, size_t len, struct vsw_frame *f, size_t *used, char *err,
                      size_t errlen);
typedef unsigned int (*migr_deliver_fn)(void *ctx, const struct vsw_frame *f, unsigned int n);
int migr_fwd_pump(struct migr_fwd *f, const uint8_t mac[6], migr_deliver_fn deliver, void *ctx,
                  char *err, size_t errlen);

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
