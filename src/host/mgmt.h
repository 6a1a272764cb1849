/* mgmt — the host daemon's management socket: a versioned request protocol
 * and an event stream over a Unix SOCK_SEQPACKET socket, the server side the
 * daemon polls, the client side the CLI uses, and the single-instance lock.
 *
 * Protocol, version 1 (MGMT_VERSION). Every message is one datagram holding
 * one JSON object (UTF-8, at most MGMT_MSG_MAX bytes, no trailing data):
 *
 *   request  {"v":1,"id":N,"op":"vm.show","args":{...}}
 *   reply    {"v":1,"id":N,"ok":true,"result":...}
 *            {"v":1,"id":N,"ok":false,"error":{"code":"ENOENT",
 *                  "message":"no VM named vm3","hint":"iovpath vm show lists the VMs"}}
 *   event    {"v":1,"event":"vf.attach","seq":S,"ts_ns":T,"data":{...}}
 *
 *   v     the protocol version; a request with any other version is refused
 *         with EPROTONOSUPPORT (the reply says which version the daemon speaks).
 *   id    an integer in [0, 2^53) chosen by the client, echoed in the reply.
 *         A reply to a request whose id could not be read (not JSON, no id)
 *         and the one reply sent before the daemon closes a refused connection
 *         carry "id":null.
 *   op    a dotted lower-case name ([a-z][a-z0-9_-]* parts joined by '.', at
 *         most MGMT_NAME_MAX - 1 bytes).
 *   args  an object, optional (absent = {}). No other request field exists.
 *   result  what the op returns (an object by convention).
 *   error   code: the errno name (ENOENT, EINVAL, EBUSY…); message: what was
 *           wrong; hint (absent when empty): what to do about it.
 *   event   a dotted name like an op; seq: 1, 2, 3… per daemon, so a gap is
 *           visible; ts_ns: CLOCK_REALTIME in nanoseconds; data: an object.
 *
 * The envelope errors: EBADMSG (not JSON, not an object), EINVAL (a missing,
 * unknown or ill-typed field), EPROTONOSUPPORT (version), EMSGSIZE (request
 * over MGMT_MSG_MAX), EOPNOTSUPP (unknown op; the hint suggests the nearest
 * name), E2BIG (a result that does not fit in one reply). None of them
 * closes the connection. Replies to one client come in request order.
 *
 * Built-in ops: "events.subscribe" (result {"next_seq":S,"queue_max":Q}: the
 * events from seq S on follow as event datagrams), "events.unsubscribe", and
 * "mgmt.ops" (result {"version":1,"ops":[names]}).
 *
 * Event delivery never blocks the daemon: each subscriber has a queue of
 * MGMT_EVQ_LEN events behind its socket buffer; when it is full the oldest
 * event is dropped and counted, and before the next event it does receive,
 * the subscriber gets {"event":"events.dropped","seq":L,...,"data":
 * {"count":N}}: the N events up to seq L were lost right there, the next
 * event is L + 1.
 *
 * Access: the socket file is mode 0660, group @group_gid; every connecting
 * peer is checked with SO_PEERCRED: uid 0, the daemon's own uid (a daemon run
 * without root for a lab of endpoints), or a peer whose gid or one of
 * whose supplementary groups (SO_PEERGROUPS, taken at connect() time; on
 * kernels without it /proc/PID/status "Groups:") is @group_gid. Others get
 * one EACCES reply and are closed; so is a peer beyond MGMT_MAX_CLIENTS
 * (EBUSY).
 *
 * Thread-safety: a server is used by one thread (the daemon's poll loop):
 * mgmt_poll_once, mgmt_event_publish and the handlers it calls all run
 * there; handlers may publish events. A client handle is used by one thread.
 *
 * Ownership: handlers get @args borrowed and hand a new reference in
 * *@result to the server. mgmt_event_publish consumes @data, also on error.
 * mgmt_call borrows @args; *@result is a new reference for the caller.
 *
 * Errors: constructors return NULL and set errno; everything else returns 0
 * (or a count) or a negative errno; a struct mgmt_err says why in words.
 */
#ifndef IOVPATH_HOST_MGMT_H
#define IOVPATH_HOST_MGMT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MGMT_VERSION     1
#define MGMT_MSG_MAX     65536u                /* bytes of one request, reply or event */
#define MGMT_MAX_CLIENTS 64                    /* connections served at once */
#define MGMT_EVQ_LEN     256u                  /* events queued per subscriber; a power of two */
#define MGMT_NAME_MAX    64                    /* op and event names, with the NUL */
#define MGMT_MAX_TABLES  16                    /* mgmt_register calls */
#define MGMT_ID_MAX      ((json_int_t)1 << 53) /* ids below this survive any JSON reader */
#define MGMT_NO_GROUP    ((gid_t)-1)           /* mgmt_listen: root only */

/* Why a request failed, in words the CLI prints. */
struct mgmt_err {
	int errnum;        /* positive errno */
	char code[32];     /* its name: "ENOENT" */
	char message[256]; /* what was wrong */
	char hint[256];    /* what to do; "" when there is nothing to say */
};

/* Fill @err (may be NULL) with @errnum, its name, the formatted message and
 * @hint (may be NULL). Returns -@errnum, so a handler can
 * `return mgmt_err_set(err, ENOENT, "iovpath vm show lists the VMs", "no VM named %s", n);` */
int mgmt_err_set(struct mgmt_err *err, int errnum, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One operation. @fn returns 0 with a new reference in *@result (NULL: {}),
 * or a negative errno with @err filled (what it leaves empty, the server
 * fills from the errno). @args is always an object, borrowed. */
struct mgmt_op {
	const char *name;
	int (*fn)(void *ctx, json_t *args, json_t **result, struct mgmt_err *err);
};

/* Helpers for handlers: check @args. Each returns 0 (a missing optional key
 * leaves *@out as it was) or -EINVAL with @err naming the key. */
int mgmt_arg_str(json_t *args, const char *key, bool required, const char **out,
                 struct mgmt_err *err);
int mgmt_arg_int(json_t *args, const char *key, bool required, json_int_t min, json_int_t max,
                 json_int_t *out, struct mgmt_err *err);
/* Refuse a key not in the NULL-terminated list @known. */
int mgmt_args_only(json_t *args, const char *const *known, struct mgmt_err *err);

/* ---- server ---- */

struct mgmt_server;

struct mgmt_stats {
	unsigned int clients;     /* connected now */
	unsigned int subscribers; /* of those, subscribed to events */
	uint64_t accepted;        /* connections served */
	uint64_t refused_access;  /* refused by the peer check */
	uint64_t refused_full;    /* refused: MGMT_MAX_CLIENTS connected */
	uint64_t requests;        /* requests answered */
	uint64_t errors;          /* of those, answered with an error */
	uint64_t events;          /* events published */
	uint64_t events_dropped;  /* queued events dropped, all subscribers */
};

/* Create the socket at @path (a stale socket file is replaced; a live one
 * refuses with EADDRINUSE), mode 0660 and group @group_gid (MGMT_NO_GROUP:
 * root only, group unchanged). Returns the server, or NULL with errno set.
 * Changes the process umask for the duration of the call. */
struct mgmt_server *mgmt_listen(const char *path, gid_t group_gid);

/* Add a table of ops ending with a {NULL, NULL} entry; @ctx goes to each
 * handler. The table must outlive the server. Returns 0, -EINVAL (a bad
 * name), -EEXIST (a name served already), -ENOSPC (MGMT_MAX_TABLES). */
int mgmt_register(struct mgmt_server *s, const struct mgmt_op *ops, void *ctx);

/* A descriptor that polls readable whenever mgmt_poll_once(s, 0) has work
 * (an epoll set); put it in the daemon's poll loop. */
int mgmt_fd(const struct mgmt_server *s);

/* Wait up to @timeout_ms (< 0: forever) for activity, then accept, answer
 * requests and send queued events, without ever blocking on a client.
 * Returns the number of ready descriptors handled, or -errno. */
int mgmt_poll_once(struct mgmt_server *s, int timeout_ms);

/* A request answered later. A handler that would have to wait (for another
 * host, say) calls mgmt_defer, keeps the ticket and returns MGMT_DEFERRED;
 * the daemon answers with mgmt_answer when it can, from its poll loop. The
 * connection's later requests wait meanwhile (replies stay in request
 * order); if the client goes first, the answer is dropped (-ENOTCONN). */
#define MGMT_DEFERRED 1

/* Only inside a handler: the ticket for its request (> 0), or 0 outside. */
uint64_t mgmt_defer(struct mgmt_server *s);

/* Answer the deferred request @ticket as a handler would have: @rc 0 with
 * @result (consumed; NULL: {}), or a negative errno with @err (may be NULL).
 * Returns 0, or -ENOTCONN (no such request waits: its client went away). */
int mgmt_answer(struct mgmt_server *s, uint64_t ticket, int rc, json_t *result,
                const struct mgmt_err *err);

/* Send event @event (a dotted name) with @data (an object, consumed; NULL:
 * {}) to every subscriber. Returns the number of subscribers it was queued
 * for, -EINVAL (bad name, data not an object), -EMSGSIZE, -ENOMEM. */
int mgmt_event_publish(struct mgmt_server *s, const char *event, json_t *data);

void mgmt_server_stats(const struct mgmt_server *s, struct mgmt_stats *st);

/* Close every connection and the socket, remove the socket file if it is
 * still ours. NULL is a no-op. */
void mgmt_server_close(struct mgmt_server *s);

/* ---- client ---- */

struct mgmt_client;

/* Connect to the daemon at @path. NULL with errno: ENOENT (no daemon
 * socket), ECONNREFUSED (a stale one), EACCES (the file's mode). A peer the
 * daemon refuses learns it on its first call. */
struct mgmt_client *mgmt_connect(const char *path);

/* Send @op with @args (borrowed; NULL: {}) and wait up to @timeout_ms (< 0:
 * forever) for the reply. Events arriving meanwhile are kept for
 * mgmt_next_event. Returns 0 with the result in *@result (the caller
 * decrefs; @result may be NULL), or a negative errno with @err filled: the
 * daemon's error (its code as -errno; -EREMOTEIO for a code this side does
 * not know), -ETIMEDOUT, -EPIPE (the daemon is gone), -EPROTO (a malformed
 * reply), -EMSGSIZE (the request is too big). */
int mgmt_call(struct mgmt_client *c, const char *op, json_t *args, json_t **result,
              struct mgmt_err *err, int timeout_ms);

/* Next event after "events.subscribe": 1 with the whole event object in
 * *@ev (the caller decrefs), 0 on time-out, -EPIPE when the daemon is gone,
 * -EPROTO for a malformed message. */
int mgmt_next_event(struct mgmt_client *c, json_t **ev, int timeout_ms);

void mgmt_close(struct mgmt_client *c);

/* ---- decoders (what a peer feeds; exposed for the fuzzer and tests) ---- */

struct mgmt_req {
	bool has_id; /* false: the reply carries "id":null */
	json_int_t id;
	char op[MGMT_NAME_MAX];
	json_t *args; /* an object, owned; release with mgmt_req_release */
};

/* Decode and validate one request datagram of @len bytes. Returns 0, or a
 * negative errno with @err filled (req->has_id/id still tell what to answer).
 * req->args is NULL after a failure. */
int mgmt_req_decode(const void *buf, size_t len, struct mgmt_req *req, struct mgmt_err *err);
void mgmt_req_release(struct mgmt_req *req);

/* Encode a request as the client sends it: a malloc'd buffer of *@len bytes
 * (not NUL-terminated), or NULL with errno (EINVAL, EMSGSIZE, ENOMEM). */
char *mgmt_req_encode(json_int_t id, const char *op, json_t *args, size_t *len);

/* Encode a reply: the result (borrowed; NULL: {}) when @err is NULL, else
 * the error (a message or hint that is not valid UTF-8 is sent with '?' for
 * its non-ASCII bytes). A malloc'd buffer of *@len bytes, or NULL with errno
 * (EMSGSIZE: over MGMT_MSG_MAX, ENOMEM). */
char *mgmt_reply_encode(bool has_id, json_int_t id, json_t *result, const struct mgmt_err *err,
                        size_t *len);

enum mgmt_msg_kind { MGMT_MSG_REPLY = 1, MGMT_MSG_EVENT = 2 };

/* What the daemon sends, decoded. */
struct mgmt_msg {
	enum mgmt_msg_kind kind;
	bool has_id; /* reply: false for "id":null */
	json_int_t id;
	bool ok;             /* reply: true when it carries a result */
	json_t *body;        /* owned: an ok reply's result, or the whole event; else NULL */
	struct mgmt_err err; /* reply with ok false: the daemon's error */
};

/* Decode and validate one datagram from the daemon. Returns 0, or -EPROTO
 * with @why saying what was wrong (then m->body is NULL). */
int mgmt_msg_decode(const void *buf, size_t len, struct mgmt_msg *m, char *why, size_t whylen);

/* True when @name is a valid op or event name. */
bool mgmt_name_ok(const char *name);

/* ---- single-instance lock ---- */

/* Take an exclusive lock on @run_dir/@host_name.lock (the directory is
 * created if missing) and write our PID into it. Returns the lock's fd, held
 * until mgmt_unlock_host or the process exits (also across fork; not across
 * exec), or -EBUSY with @msg naming the PID of the daemon holding it,
 * -EINVAL (a host name that is not [A-Za-z0-9_.-], 1..63 bytes, not
 * starting with '.'), or another -errno with @msg saying what failed. */
int mgmt_lock_host(const char *run_dir, const char *host_name, char *msg, size_t msglen);

/* Empty the lock file and release the lock. A negative @fd is a no-op. */
void mgmt_unlock_host(int fd);

#endif
