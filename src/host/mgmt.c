/* mgmt — see mgmt.h for the protocol, the access rule and the life cycle.
 *
 * Server: one epoll set holds the listening socket and every connection, so
 * the daemon polls one descriptor. A connection is a fixed slot (no
 * allocation per client); a slot that breaks is marked dead and closed at
 * the end of the poll round, so nothing a handler or mgmt_event_publish does
 * frees a slot another part of the round still looks at.
 *
 * Per connection, two outputs: at most one reply the socket had no room for
 * (while it waits, no further request is read: a client that does not read
 * its replies stops being served, never the daemon), and the event queue of
 * a subscriber (full: drop the oldest, count, announce the gap).
 */
#include "host/mgmt.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

#define ACCEPT_BURST   16 /* connections accepted per poll round */
#define REQUEST_BURST  8  /* requests read from one client per poll round */
#define CONN_SNDBUF    (4 * MGMT_MSG_MAX)
#define CONNECT_TO_SEC 2 /* mgmt_connect: a full backlog waits this long */
#define EVQ_MASK       (MGMT_EVQ_LEN - 1)
#define HINT_REQUEST                                                                               \
	"a request is one JSON object: {\"v\":1,\"id\":N,\"op\":\"NAME\",\"args\":{...}}"

_Static_assert((MGMT_EVQ_LEN & EVQ_MASK) == 0, "MGMT_EVQ_LEN is a power of two");

/* ---- errors, names, argument helpers ---- */

int mgmt_err_set(struct mgmt_err *err, int errnum, const char *hint, const char *fmt, ...)
{
	const char *name = strerrorname_np(errnum);
	va_list ap;

	if (err) {
		err->errnum = errnum;
		snprintf(err->code, sizeof(err->code), "%s", name ? name : "EIO");
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		snprintf(err->hint, sizeof(err->hint), "%s", hint ? hint : "");
	}
	return -errnum;
}

static int __errno_from_name(const char *name)
{
	for (int e = 1; e < 4096; e++) {
		const char *n = strerrorname_np(e);

		if (n && strcmp(n, name) == 0)
			return e;
	}
	return 0;
}

static bool __lower(char ch)
{
	return ch >= 'a' && ch <= 'z';
}

bool mgmt_name_ok(const char *name)
{
	size_t n = strnlen(name, MGMT_NAME_MAX);
	bool part_start = true;

	if (n == 0 || n >= MGMT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (part_start) {
			if (!__lower(ch))
				return false;
			part_start = false;
		} else if (ch == '.') {
			part_start = true;
		} else if (!__lower(ch) && !(ch >= '0' && ch <= '9') && ch != '_' && ch != '-') {
			return false;
		}
	}
	return !part_start;
}

static const char *__type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		break;
	}
	return "null";
}

/* The first key of @obj not in the NULL-terminated list @known, or NULL. */
static const char *__unknown_key(json_t *obj, const char *const *known)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val)
	{
		const char *const *k = known;

		while (*k && strcmp(*k, key) != 0)
			k++;
		if (!*k)
			return key;
	}
	return NULL;
}

int mgmt_arg_str(json_t *args, const char *key, bool required, const char **out,
                 struct mgmt_err *err)
{
	json_t *v = json_object_get(args, key);

	if (!v)
		return required ? mgmt_err_set(err, EINVAL, NULL, "missing argument \"%s\"", key)
		                : 0;
	if (!json_is_string(v))
		return mgmt_err_set(err, EINVAL, NULL, "argument \"%s\" is %s, expected a string",
		                    key, __type_name(v));
	*out = json_string_value(v);
	return 0;
}

int mgmt_arg_int(json_t *args, const char *key, bool required, json_int_t min, json_int_t max,
                 json_int_t *out, struct mgmt_err *err)
{
	json_t *v = json_object_get(args, key);

	if (!v)
		return required ? mgmt_err_set(err, EINVAL, NULL, "missing argument \"%s\"", key)
		                : 0;
	if (!json_is_integer(v))
		return mgmt_err_set(err, EINVAL, NULL, "argument \"%s\" is %s, expected an integer",
		                    key, __type_name(v));
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return mgmt_err_set(err, EINVAL, NULL,
		                    "argument \"%s\" is %" JSON_INTEGER_FORMAT
		                    ", expected %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT,
		                    key, json_integer_value(v), min, max);
	*out = json_integer_value(v);
	return 0;
}

int mgmt_args_only(json_t *args, const char *const *known, struct mgmt_err *err)
{
	const char *key = __unknown_key(args, known);
	char hint[256] = "this op takes no arguments";
	size_t n;

	if (!key)
		return 0;
	if (known[0]) {
		n = (size_t)snprintf(hint, sizeof(hint), "this op takes");
		for (const char *const *k = known; *k && n < sizeof(hint); k++)
			n += (size_t)snprintf(hint + n, sizeof(hint) - n, "%s %s",
			                      k == known ? "" : ",", *k);
	}
	return mgmt_err_set(err, EINVAL, hint, "unknown argument \"%s\"", key);
}

/* ---- messages ---- */

/* @j as compact JSON in a malloc'd buffer of at most MGMT_MSG_MAX bytes. */
static char *__dump(const json_t *j, size_t *len)
{
	size_t n = j ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
	char *buf;

	if (n == 0) {
		errno = ENOMEM; /* json_pack failed, or the dump did */
		return NULL;
	}
	if (n > MGMT_MSG_MAX) {
		errno = EMSGSIZE;
		return NULL;
	}
	buf = malloc(n);
	if (buf)
		json_dumpb(j, buf, n, JSON_COMPACT);
	*len = n;
	return buf;
}

/* A JSON string of @s; bytes that make it invalid UTF-8 (a message quoting
 * a peer's bytes, a truncated sequence) become '?'. */
static json_t *__text(const char *s)
{
	char clean[256];
	json_t *j = json_string(s);
	size_t i;

	if (j)
		return j;
	for (i = 0; s[i] && i < sizeof(clean) - 1; i++)
		clean[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	clean[i] = '\0';
	return json_string(clean);
}

int mgmt_req_decode(const void *buf, size_t len, struct mgmt_req *req, struct mgmt_err *err)
{
	static const char *const fields[] = { "v", "id", "op", "args", NULL };
	json_error_t jerr;
	json_t *root, *v, *id, *op, *args;
	const char *key;
	int rc;

	memset(req, 0, sizeof(*req));
	if (len > MGMT_MSG_MAX)
		return mgmt_err_set(err, EMSGSIZE, "send a smaller request",
		                    "request of %zu bytes exceeds the limit of %u bytes", len,
		                    MGMT_MSG_MAX);
	if (len == 0)
		return mgmt_err_set(err, EBADMSG, HINT_REQUEST, "empty request");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return mgmt_err_set(err, EBADMSG, HINT_REQUEST,
		                    "request is not JSON: %s (line %d, column %d)", jerr.text,
		                    jerr.line, jerr.column);
	if (!json_is_object(root)) {
		rc = mgmt_err_set(err, EBADMSG, HINT_REQUEST, "request is %s, not a JSON object",
		                  __type_name(root));
		goto out;
	}
	/* The id first: every later refusal can then name the request it answers. */
	id = json_object_get(root, "id");
	if (json_is_integer(id) && json_integer_value(id) >= 0 &&
	    json_integer_value(id) < MGMT_ID_MAX) {
		req->has_id = true;
		req->id = json_integer_value(id);
	}
	v = json_object_get(root, "v");
	op = json_object_get(root, "op");
	args = json_object_get(root, "args");
	if (!v) {
		rc = mgmt_err_set(err, EINVAL, HINT_REQUEST,
		                  "request has no \"v\" (the protocol version, 1)");
	} else if (!json_is_integer(v)) {
		rc = mgmt_err_set(err, EINVAL, HINT_REQUEST, "\"v\" is %s, expected the integer %d",
		                  __type_name(v), MGMT_VERSION);
	} else if (json_integer_value(v) != MGMT_VERSION) {
		rc = mgmt_err_set(err, EPROTONOSUPPORT,
		                  "use an iovpath client of the same release as iovpathd",
		                  "protocol version %" JSON_INTEGER_FORMAT
		                  " is not supported: this daemon speaks version %d",
		                  json_integer_value(v), MGMT_VERSION);
	} else if (!id) {
		rc = mgmt_err_set(err, EINVAL, HINT_REQUEST, "request has no \"id\"");
	} else if (!req->has_id) {
		rc = mgmt_err_set(err, EINVAL, HINT_REQUEST,
		                  "\"id\" must be an integer in [0, 2^53), not %s",
		                  json_is_integer(id) ? "one out of that range" : __type_name(id));
	} else if ((key = __unknown_key(root, fields)) != NULL) {
		rc = mgmt_err_set(err, EINVAL, "a version 1 request has only v, id, op and args",
		                  "unknown request field \"%s\"", key);
	} else if (!op) {
		rc = mgmt_err_set(err, EINVAL, HINT_REQUEST, "request has no \"op\"");
	} else if (!json_is_string(op)) {
		rc = mgmt_err_set(err, EINVAL, HINT_REQUEST, "\"op\" is %s, expected a string",
		                  __type_name(op));
	} else if (!mgmt_name_ok(json_string_value(op))) {
		/* (a NUL inside can't hide the rest: jansson refuses \u0000) */
		rc = mgmt_err_set(
		    err, EINVAL,
		    "an op is a dotted lower-case name like vm.show (mgmt.ops lists them)",
		    "\"op\" \"%.40s\" is not a valid op name", json_string_value(op));
	} else if (args && !json_is_object(args)) {
		rc = mgmt_err_set(err, EINVAL, HINT_REQUEST, "\"args\" is %s, expected an object",
		                  __type_name(args));
	} else {
		snprintf(req->op, sizeof(req->op), "%s", json_string_value(op));
		req->args = args ? json_incref(args) : json_object();
		rc = req->args ? 0 : mgmt_err_set(err, ENOMEM, NULL, "out of memory");
	}
out:
	json_decref(root);
	return rc;
}

void mgmt_req_release(struct mgmt_req *req)
{
	json_decref(req->args);
	req->args = NULL;
}

char *mgmt_req_encode(json_int_t id, const char *op, json_t *args, size_t *len)
{
	char *buf;
	json_t *j;

	if (id < 0 || id >= MGMT_ID_MAX || !op || !mgmt_name_ok(op) ||
	    (args && !json_is_object(args))) {
		errno = EINVAL;
		return NULL;
	}
	j = json_pack("{s:i,s:I,s:s,s:o}", "v", MGMT_VERSION, "id", id, "op", op, "args",
	              args ? json_incref(args) : json_object());
	buf = __dump(j, len);
	json_decref(j);
	return buf;
}

char *mgmt_reply_encode(bool has_id, json_int_t id, json_t *result, const struct mgmt_err *err,
                        size_t *len)
{
	json_t *j, *e = NULL;
	char *buf;

	if (err) {
		e = json_pack("{s:o,s:o}", "code", __text(err->code), "message",
		              __text(err->message));
		if (e && err->hint[0])
			json_object_set_new(e, "hint", __text(err->hint));
		j = json_pack("{s:i,s:o,s:b,s:o}", "v", MGMT_VERSION, "id",
		              has_id ? json_integer(id) : json_null(), "ok", 0, "error", e);
	} else {
		j = json_pack("{s:i,s:o,s:b,s:o}", "v", MGMT_VERSION, "id",
		              has_id ? json_integer(id) : json_null(), "ok", 1, "result",
		              result ? json_incref(result) : json_object());
	}
	buf = __dump(j, len);
	json_decref(j);
	return buf;
}

/* A copy of string member @key of @obj into @dst; false when it is not a string. */
static bool __copy_str(json_t *obj, const char *key, char *dst, size_t dstlen)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return false;
	snprintf(dst, dstlen, "%s", json_string_value(v));
	return true;
}

static int __why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int __why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

static int __event_decode(json_t *root, struct mgmt_msg *m, char *why, size_t whylen)
{
	static const char *const fields[] = { "v", "event", "seq", "ts_ns", "data", NULL };
	json_t *ev = json_object_get(root, "event"), *seq = json_object_get(root, "seq"),
	       *ts = json_object_get(root, "ts_ns");
	const char *key = __unknown_key(root, fields);

	if (key)
		return __why(why, whylen, "event with unknown field \"%s\"", key);
	if (!json_is_string(ev) || !mgmt_name_ok(json_string_value(ev)))
		return __why(why, whylen, "event name missing or invalid");
	if (!json_is_integer(seq) || json_integer_value(seq) < 1)
		return __why(why, whylen, "event \"seq\" missing or not a positive integer");
	if (!json_is_integer(ts) || json_integer_value(ts) < 0)
		return __why(why, whylen, "event \"ts_ns\" missing or negative");
	if (!json_is_object(json_object_get(root, "data")))
		return __why(why, whylen, "event \"data\" missing or not an object");
	m->kind = MGMT_MSG_EVENT;
	m->body = json_incref(root);
	return 0;
}

static int __reply_decode(json_t *root, struct mgmt_msg *m, char *why, size_t whylen)
{
	static const char *const ok_fields[] = { "v", "id", "ok", "result", NULL };
	static const char *const err_fields[] = { "v", "id", "ok", "error", NULL };
	json_t *id = json_object_get(root, "id"), *ok = json_object_get(root, "ok"), *e;
	const char *key;

	if (json_is_integer(id) && json_integer_value(id) >= 0 &&
	    json_integer_value(id) < MGMT_ID_MAX) {
		m->has_id = true;
		m->id = json_integer_value(id);
	} else if (!json_is_null(id)) {
		return __why(why, whylen, "reply \"id\" missing or not an integer in [0, 2^53)");
	}
	if (!json_is_boolean(ok))
		return __why(why, whylen, "reply \"ok\" missing or not a boolean");
	m->kind = MGMT_MSG_REPLY;
	m->ok = json_is_true(ok);
	key = __unknown_key(root, m->ok ? ok_fields : err_fields);
	if (key)
		return __why(why, whylen, "reply with unknown field \"%s\"", key);
	if (m->ok) {
		m->body = json_incref(json_object_get(root, "result"));
		return m->body ? 0 : __why(why, whylen, "reply has no \"result\"");
	}
	e = json_object_get(root, "error");
	if (!json_is_object(e) || !__copy_str(e, "code", m->err.code, sizeof(m->err.code)) ||
	    !__copy_str(e, "message", m->err.message, sizeof(m->err.message)))
		return __why(why, whylen, "reply \"error\" without a code and a message");
	if (json_object_get(e, "hint") && !__copy_str(e, "hint", m->err.hint, sizeof(m->err.hint)))
		return __why(why, whylen, "reply error \"hint\" is not a string");
	m->err.errnum = __errno_from_name(m->err.code);
	return 0;
}

int mgmt_msg_decode(const void *buf, size_t len, struct mgmt_msg *m, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root, *v;
	int rc;

	memset(m, 0, sizeof(*m));
	if (len == 0 || len > MGMT_MSG_MAX)
		return __why(why, whylen, "message of %zu bytes from the daemon", len);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return __why(why, whylen, "message from the daemon is not JSON: %s", jerr.text);
	v = json_object_get(root, "v");
	if (!json_is_object(root))
		rc = __why(why, whylen, "message from the daemon is not a JSON object");
	else if (!json_is_integer(v) || json_integer_value(v) != MGMT_VERSION)
		rc = __why(why, whylen, "the daemon does not speak protocol version %d",
		           MGMT_VERSION);
	else if (json_object_get(root, "event"))
		rc = __event_decode(root, m, why, whylen);
	else
		rc = __reply_decode(root, m, why, whylen);
	if (rc) {
		json_decref(m->body);
		m->body = NULL;
	}
	json_decref(root);
	return rc;
}

/* ---- server ---- */

/* An encoded reply or event; an event is shared by every subscriber's queue. */
struct mgmt_buf {
	unsigned int refs;
	uint64_t seq; /* events */
	size_t len;
	char *data;
};

struct mgmt_conn {
	int fd; /* -1: the slot is free */
	bool dead;
	bool subscribed;
	uint32_t epmask; /* what the epoll set watches for it now */
	struct ucred cred;
	struct mgmt_buf *reply; /* waiting for room in the socket */
	uint64_t ticket;        /* a deferred request's (0: none): no reading until answered */
	bool def_has_id;        /* ...its id and op, for the answer */
	json_int_t def_id;
	char def_op[MGMT_NAME_MAX];
	uint32_t ev_head;       /* free-running: [ev_tail, ev_head) are queued */
	uint32_t ev_tail;
	uint64_t ev_lost;     /* dropped since the last events.dropped went out */
	uint64_t ev_lost_seq; /* seq of the newest event dropped */
	struct mgmt_buf *evq[MGMT_EVQ_LEN];
};

struct mgmt_table {
	const struct mgmt_op *ops;
	void *ctx;
};

struct mgmt_server {
	int lfd;
	int epfd;
	gid_t group;
	dev_t dev; /* the socket file we made: close removes only that one */
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned int ntables;
	struct mgmt_table tables[MGMT_MAX_TABLES];
	struct mgmt_conn *cur; /* the connection whose request is being handled */
	uint64_t tickets;      /* deferred requests so far (the last ticket) */
	uint64_t ev_seq;       /* of the last event published */
	struct mgmt_stats st;
	struct mgmt_conn conns[MGMT_MAX_CLIENTS];
	uint8_t rbuf[MGMT_MSG_MAX];
};

static struct mgmt_buf *__buf_wrap(char *data, size_t len)
{
	struct mgmt_buf *b;

	if (!data)
		return NULL;
	b = malloc(sizeof(*b));
	if (!b) {
		free(data);
		return NULL;
	}
	*b = (struct mgmt_buf){ .refs = 1, .len = len, .data = data };
	return b;
}

static void __buf_put(struct mgmt_buf *b)
{
	if (b && --b->refs == 0) {
		free(b->data);
		free(b);
	}
}

static int64_t __realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Encode an event; @data (an object) is consumed. */
static struct mgmt_buf *__event_buf(uint64_t seq, const char *event, json_t *data)
{
	json_t *j = json_pack("{s:i,s:s,s:I,s:I,s:o}", "v", MGMT_VERSION, "event", event, "seq",
	                      (json_int_t)seq, "ts_ns", (json_int_t)__realtime_ns(), "data", data);
	size_t len = 0;
	char *enc = __dump(j, &len);
	struct mgmt_buf *b = __buf_wrap(enc, len);

	json_decref(j);
	if (b)
		b->seq = seq;
	return b;
}

/* 0, -EAGAIN (no room now), or -errno (the connection is broken). */
static int __send(int fd, const struct mgmt_buf *b)
{
	if (send(fd, b->data, b->len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)b->len)
		return 0;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* Watch what @c needs: requests unless a reply waits; room when output waits. */
static void __conn_watch(struct mgmt_server *s, struct mgmt_conn *c)
{
	uint32_t want = 0;
	struct epoll_event ev;

	if (!c->reply && !c->ticket)
		want |= EPOLLIN;
	if (c->reply || c->ev_lost || c->ev_head != c->ev_tail)
		want |= EPOLLOUT;
	if (want == c->epmask)
		return;
	ev = (struct epoll_event){ .events = want, .data.ptr = c };
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		c->dead = true;
	else
		c->epmask = want;
}

/* Send what @c has waiting, as far as its socket takes it. */
static void __conn_flush(struct mgmt_server *s, struct mgmt_conn *c)
{
	int rc = 0;

	if (c->dead)
		return;
	if (c->reply) {
		rc = __send(c->fd, c->reply);
		if (rc == 0) {
			__buf_put(c->reply);
			c->reply = NULL;
		}
	}
	if (rc == 0 && c->ev_lost) {
		/* The lost events sit right before the queue's head: say so there. */
		struct mgmt_buf *m =
		    __event_buf(c->ev_lost_seq, "events.dropped",
		                json_pack("{s:I}", "count", (json_int_t)c->ev_lost));

		rc = m ? __send(c->fd, m) : -EAGAIN; /* out of memory: try again later */
		if (rc == 0)
			c->ev_lost = 0;
		__buf_put(m);
	}
	while (rc == 0 && c->ev_tail != c->ev_head) {
		struct mgmt_buf **slot = &c->evq[c->ev_tail & EVQ_MASK];

		rc = __send(c->fd, *slot);
		if (rc == 0) {
			__buf_put(*slot);
			*slot = NULL;
			c->ev_tail++;
		}
	}
	if (rc && rc != -EAGAIN)
		c->dead = true;
	else
		__conn_watch(s, c);
}

static void __conn_unsubscribe(struct mgmt_server *s, struct mgmt_conn *c)
{
	while (c->ev_tail != c->ev_head) {
		__buf_put(c->evq[c->ev_tail & EVQ_MASK]);
		c->evq[c->ev_tail++ & EVQ_MASK] = NULL;
	}
	c->ev_lost = 0;
	if (c->subscribed)
		s->st.subscribers--;
	c->subscribed = false;
}

static void __conn_close(struct mgmt_server *s, struct mgmt_conn *c)
{
	__conn_unsubscribe(s, c);
	__buf_put(c->reply);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	s->st.clients--;
}

static void __reap(struct mgmt_server *s)
{
	for (unsigned int i = 0; i < MGMT_MAX_CLIENTS; i++)
		if (s->conns[i].fd >= 0 && s->conns[i].dead)
			__conn_close(s, &s->conns[i]);
}

/* ---- built-in ops ---- */

static const char *const no_args[] = { NULL };

static int __op_subscribe(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	struct mgmt_server *s = ctx;
	int rc = mgmt_args_only(args, no_args, err);

	if (rc)
		return rc;
	if (!s->cur->subscribed)
		s->st.subscribers++;
	s->cur->subscribed = true;
	*result = json_pack("{s:I,s:i}", "next_seq", (json_int_t)(s->ev_seq + 1), "queue_max",
	                    (int)MGMT_EVQ_LEN);
	return *result ? 0 : -ENOMEM;
}

static int __op_unsubscribe(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	struct mgmt_server *s = ctx;
	int rc = mgmt_args_only(args, no_args, err);

	if (rc)
		return rc;
	__conn_unsubscribe(s, s->cur);
	return 0;
}

static int __op_ops(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	struct mgmt_server *s = ctx;
	int rc = mgmt_args_only(args, no_args, err);
	json_t *names = json_array();

	if (rc || !names) {
		json_decref(names);
		return rc ? rc : -ENOMEM;
	}
	for (unsigned int t = 0; t < s->ntables; t++)
		for (const struct mgmt_op *op = s->tables[t].ops; op->name; op++)
			json_array_append_new(names, json_string(op->name));
	*result = json_pack("{s:i,s:o}", "version", MGMT_VERSION, "ops", names);
	return *result ? 0 : -ENOMEM;
}

static const struct mgmt_op builtin_ops[] = {
	{ "events.subscribe", __op_subscribe },
	{ "events.unsubscribe", __op_unsubscribe },
	{ "mgmt.ops", __op_ops },
	{ NULL, NULL },
};

static const struct mgmt_op *__find_op(const struct mgmt_server *s, const char *name, void **ctx)
{
	for (unsigned int t = 0; t < s->ntables; t++)
		for (const struct mgmt_op *op = s->tables[t].ops; op->name; op++)
			if (strcmp(op->name, name) == 0) {
				*ctx = s->tables[t].ctx;
				return op;
			}
	return NULL;
}

static unsigned int __edit_distance(const char *a, const char *b)
{
	unsigned int row[MGMT_NAME_MAX + 1];
	size_t la = strnlen(a, MGMT_NAME_MAX), lb = strnlen(b, MGMT_NAME_MAX);

	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned int)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned int diag = row[0];

		row[0] = (unsigned int)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned int up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int __unknown_op(const struct mgmt_server *s, const char *name, struct mgmt_err *err)
{
	const char *best = NULL;
	unsigned int best_d = 3; /* suggest only a near miss */
	char hint[sizeof(err->hint)];

	for (unsigned int t = 0; t < s->ntables; t++)
		for (const struct mgmt_op *op = s->tables[t].ops; op->name; op++) {
			unsigned int d = __edit_distance(name, op->name);

			if (d < best_d) {
				best_d = d;
				best = op->name;
			}
		}
	if (best)
		snprintf(hint, sizeof(hint), "did you mean \"%s\"? The op mgmt.ops lists them all",
		         best);
	else
		snprintf(hint, sizeof(hint), "the op mgmt.ops lists the ops this daemon serves");
	return mgmt_err_set(err, EOPNOTSUPP, hint, "unknown op \"%s\"", name);
}

/* ---- accept, access check ---- */

/* 1 when the peer on @fd has supplementary group @group, 0 when not, -errno. */
static int __peer_in_group(int fd, pid_t pid, gid_t group)
{
	gid_t small[64], *g = small;
	socklen_t len = sizeof(small);
	char path[32], *line = NULL;
	size_t cap = 0;
	int rc, found = 0;
	FILE *f;

	rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	if (rc && errno == ERANGE) {
		g = malloc(len);
		rc = g ? getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) : -1;
	}
	if (rc == 0) {
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			found |= g[i] == group;
	} else {
		found = errno == ENOPROTOOPT ? 0 : -errno;
	}
	if (g != small)
		free(g);
	if (rc == 0 || found < 0)
		return found;
	/* Kernels before 4.13: the groups the process has now (it may have
	 * changed them since connect(); SO_PEERGROUPS has no such gap). */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *p, *end;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (p = line + 7;; p = end) {
			unsigned long v = strtoul(p, &end, 10);

			if (end == p)
				break;
			found |= (gid_t)v == group;
		}
		break;
	}
	free(line);
	fclose(f);
	return found;
}

static void __group_name(gid_t gid, char *buf, size_t len)
{
	struct group gr, *res = NULL;
	char tmp[1024];

	if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "%s (gid %u)", res->gr_name, (unsigned int)gid);
	else
		snprintf(buf, len, "gid %u", (unsigned int)gid);
}

static int __peer_check(const struct mgmt_server *s, int fd, struct ucred *cr, struct mgmt_err *err)
{
	socklen_t len = sizeof(*cr);
	char gname[96], hint[sizeof(err->hint)];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len))
		return mgmt_err_set(err, errno, NULL, "cannot read the peer's credentials: %s",
		                    strerror(errno));
	if (cr->uid == 0 || cr->uid == geteuid()) /* root, or the daemon's own user */
		return 0;
	if (s->group == MGMT_NO_GROUP)
		return mgmt_err_set(err, EACCES,
		                    "run it as root, or start iovpathd with a management group",
		                    "uid %u may not use this management socket: only root may",
		                    (unsigned int)cr->uid);
	if (cr->gid == s->group || __peer_in_group(fd, cr->pid, s->group) == 1)
		return 0;
	__group_name(s->group, gname, sizeof(gname));
	snprintf(hint, sizeof(hint),
	         "add the user to group %s (usermod -aG GROUP USER, then log in again), or run "
	         "it as root",
	         gname);
	return mgmt_err_set(err, EACCES, hint,
	                    "uid %u may not use this management socket: only root and members of "
	                    "group %s may",
	                    (unsigned int)cr->uid, gname);
}

/* The one reply a refused peer gets, then the door. */
static void __refuse(int fd, const struct mgmt_err *err)
{
	size_t len = 0;
	char *buf = mgmt_reply_encode(false, 0, NULL, err, &len);

	if (buf && send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_dbg("mgmt", "refusal not delivered: %s", strerror(errno));
	free(buf);
	close(fd);
}

static void __accept(struct mgmt_server *s)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int sndbuf = CONN_SNDBUF;
		struct mgmt_conn *c = NULL;
		struct epoll_event ev;
		struct mgmt_err err;
		struct ucred cr = { 0 };

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("mgmt", "%s: accept: %s", s->path, strerror(errno));
			return;
		}
		if (__peer_check(s, fd, &cr, &err)) {
			s->st.refused_access++;
			log_info("mgmt", "%s: refused pid %d: %s", s->path, (int)cr.pid,
			         err.message);
			__refuse(fd, &err);
			continue;
		}
		for (unsigned int k = 0; k < MGMT_MAX_CLIENTS && !c; k++)
			if (s->conns[k].fd < 0)
				c = &s->conns[k];
		if (!c) {
			s->st.refused_full++;
			mgmt_err_set(&err, EBUSY,
			             "close an idle client (an `iovpath events` left running?) and "
			             "retry",
			             "too many management clients: %d are connected",
			             MGMT_MAX_CLIENTS);
			log_warn("mgmt", "%s: refused pid %d: %s", s->path, (int)cr.pid,
			         err.message);
			__refuse(fd, &err);
			continue;
		}
		/* Best effort: room for a few full-size messages whatever wmem_default is. */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			log_warn("mgmt", "%s: epoll: %s", s->path, strerror(errno));
			close(fd);
			continue;
		}
		*c = (struct mgmt_conn){ .fd = fd, .epmask = EPOLLIN, .cred = cr };
		s->st.accepted++;
		s->st.clients++;
	}
}

/* ---- requests ---- */

/* Answer @c's request (@has_id, @id, @op) with what its handler gave. */
static void __conn_reply(struct mgmt_server *s, struct mgmt_conn *c, bool has_id, json_int_t id,
                         const char *op, int rc, json_t *result, struct mgmt_err *err)
{
	size_t blen = 0;
	char *buf = NULL;

	if (rc >= 0) {
		buf = mgmt_reply_encode(has_id, id, result, NULL, &blen);
		if (!buf)
			rc = errno == EMSGSIZE
			         ? mgmt_err_set(err, E2BIG, "ask for less (one VM, one port)",
			                        "the result of %s does not fit in one reply of %u "
			                        "bytes",
			                        op, MGMT_MSG_MAX)
			         : mgmt_err_set(err, ENOMEM, NULL, "out of memory");
	}
	json_decref(result);
	if (rc < 0) {
		if (!err->code[0] || !err->message[0]) {
			char hint[sizeof(err->hint)]; /* (not formatted onto itself) */

			snprintf(hint, sizeof(hint), "%s", err->hint);
			mgmt_err_set(err, -rc, hint, "%s", strerror(-rc));
		}
		log_dbg("mgmt", "pid %d: %s: %s: %s", (int)c->cred.pid, op[0] ? op : "(request)",
		        err->code, err->message);
		s->st.errors++;
		buf = mgmt_reply_encode(has_id, id, NULL, err, &blen);
	}
	s->st.requests++;
	c->reply = __buf_wrap(buf, blen);
	if (!c->reply)
		c->dead = true; /* cannot even say so */
	__conn_flush(s, c);
}

static void __conn_request(struct mgmt_server *s, struct mgmt_conn *c, size_t len)
{
	struct mgmt_err err = { 0 };
	json_t *result = NULL;
	struct mgmt_req req;
	void *ctx = NULL;
	int rc;

	rc = mgmt_req_decode(s->rbuf, len, &req, &err);
	if (rc == 0) {
		const struct mgmt_op *op = __find_op(s, req.op, &ctx);

		if (!op) {
			rc = __unknown_op(s, req.op, &err);
		} else {
			s->cur = c;
			rc = op->fn(ctx, req.args, &result, &err);
			s->cur = NULL;
		}
	}
	if (rc == MGMT_DEFERRED && c->ticket) { /* answered by mgmt_answer */
		c->def_has_id = req.has_id;
		c->def_id = req.id;
		snprintf(c->def_op, sizeof(c->def_op), "%s", req.op);
		json_decref(result);
		mgmt_req_release(&req);
		__conn_watch(s, c);
		return;
	}
	c->ticket = 0; /* (a handler that took one and answered at once) */
	if (rc > 0) /* MGMT_DEFERRED without mgmt_defer: a handler's bug */
		rc = mgmt_err_set(&err, EIO, NULL, "%s deferred its answer without a ticket",
		                  req.op);
	__conn_reply(s, c, req.has_id, req.id, req.op, rc, result, &err);
	mgmt_req_release(&req);
}

uint64_t mgmt_defer(struct mgmt_server *s)
{
	if (!s->cur)
		return 0;
	s->cur->ticket = ++s->tickets;
	return s->cur->ticket;
}

int mgmt_answer(struct mgmt_server *s, uint64_t ticket, int rc, json_t *result,
                const struct mgmt_err *err)
{
	struct mgmt_err e = { 0 };

	if (err)
		e = *err;
	for (unsigned int i = 0; ticket && i < MGMT_MAX_CLIENTS; i++) {
		struct mgmt_conn *c = &s->conns[i];

		if (c->fd < 0 || c->ticket != ticket)
			continue;
		c->ticket = 0;
		if (c->dead) /* gone: reaped at the next poll */
			break;
		__conn_reply(s, c, c->def_has_id, c->def_id, c->def_op, rc < 0 ? rc : 0, result,
		             &e);
		return 0;
	}
	json_decref(result);
	return -ENOTCONN;
}

static void __conn_read(struct mgmt_server *s, struct mgmt_conn *c)
{
	for (int i = 0; i < REQUEST_BURST && !c->dead && !c->reply && !c->ticket; i++) {
		ssize_t n = recv(c->fd, s->rbuf, sizeof(s->rbuf), MSG_DONTWAIT | MSG_TRUNC);
		struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->dead = true;
			return;
		}
		/* 0 bytes: an empty datagram, or the peer has gone. */
		if (n == 0 && poll(&p, 1, 0) != 0) {
			c->dead = true;
			return;
		}
		__conn_request(s, c, (size_t)n); /* MSG_TRUNC: n is the datagram's size */
	}
}

/* ---- server life cycle ---- */

/* Remove a socket file nobody answers on; refuse to touch a live one. */
static int __stale_remove(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ? errno : 0;
	close(fd);
	if (rc != ECONNREFUSED && rc != ENOENT)
		return -EADDRINUSE;
	return unlink(sa->sun_path) && errno != ENOENT ? -errno : 0;
}

struct mgmt_server *mgmt_listen(const char *path, gid_t group_gid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct mgmt_server *s;
	struct stat st;
	mode_t old_mask;
	int rc;

	if (!path || !path[0] || strlen(path) >= sizeof(sa.sun_path)) {
		errno = path && path[0] ? ENAMETOOLONG : EINVAL;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->epfd = -1;
	s->group = group_gid;
	strcpy(s->path, path);
	for (unsigned int i = 0; i < MGMT_MAX_CLIENTS; i++)
		s->conns[i].fd = -1;
	s->tables[s->ntables++] = (struct mgmt_table){ builtin_ops, s };

	s->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->lfd < 0)
		goto err_free;
	rc = __stale_remove(&sa);
	if (rc) {
		errno = -rc;
		goto err_sock;
	}
	old_mask = umask(0117); /* born 0660: no moment at which others may connect */
	rc = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (rc)
		goto err_sock;
	if (group_gid != MGMT_NO_GROUP && chown(path, (uid_t)-1, group_gid))
		goto err_unlink;
	if (chmod(path, 0660) || stat(path, &st))
		goto err_unlink;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(s->lfd, MGMT_MAX_CLIENTS))
		goto err_unlink;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		goto err_unlink;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev))
		goto err_epoll;
	return s;

err_epoll:
	rc = errno;
	close(s->epfd);
	errno = rc;
err_unlink:
	rc = errno;
	unlink(path);
	errno = rc;
err_sock:
	rc = errno;
	close(s->lfd);
	errno = rc;
err_free:
	rc = errno;
	free(s);
	errno = rc;
	return NULL;
}

int mgmt_register(struct mgmt_server *s, const struct mgmt_op *ops, void *ctx)
{
	void *unused;

	if (s->ntables == MGMT_MAX_TABLES)
		return -ENOSPC;
	for (const struct mgmt_op *op = ops; op->name; op++) {
		if (!mgmt_name_ok(op->name) || !op->fn)
			return -EINVAL;
		if (__find_op(s, op->name, &unused))
			return -EEXIST;
		for (const struct mgmt_op *q = ops; q < op; q++)
			if (strcmp(q->name, op->name) == 0)
				return -EEXIST;
	}
	s->tables[s->ntables++] = (struct mgmt_table){ ops, ctx };
	return 0;
}

int mgmt_fd(const struct mgmt_server *s)
{
	return s->epfd;
}

int mgmt_poll_once(struct mgmt_server *s, int timeout_ms)
{
	struct epoll_event evs[MGMT_MAX_CLIENTS + 1];
	int n = epoll_wait(s->epfd, evs, (int)ARRAY_SIZE(evs), timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct mgmt_conn *c = evs[i].data.ptr;

		if (!c) {
			__accept(s);
			continue;
		}
		if (c->fd < 0 || c->dead)
			continue;
		if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
			c->dead = true; /* the client has gone: what it asked, nobody waits for */
			continue;
		}
		if (evs[i].events & EPOLLOUT)
			__conn_flush(s, c);
		if (evs[i].events & EPOLLIN)
			__conn_read(s, c);
	}
	__reap(s);
	return n;
}

int mgmt_event_publish(struct mgmt_server *s, const char *event, json_t *data)
{
	struct mgmt_buf *b;
	int n = 0;

	if (!event || !mgmt_name_ok(event) || (data && !json_is_object(data))) {
		json_decref(data);
		return -EINVAL;
	}
	b = __event_buf(s->ev_seq + 1, event, data ? data : json_object());
	if (!b)
		return -errno;
	s->ev_seq++;
	s->st.events++;
	for (unsigned int i = 0; i < MGMT_MAX_CLIENTS; i++) {
		struct mgmt_conn *c = &s->conns[i];

		if (c->fd < 0 || c->dead || !c->subscribed)
			continue;
		if (c->ev_head - c->ev_tail == MGMT_EVQ_LEN) {
			struct mgmt_buf **oldest = &c->evq[c->ev_tail++ & EVQ_MASK];

			c->ev_lost++;
			c->ev_lost_seq = (*oldest)->seq;
			s->st.events_dropped++;
			__buf_put(*oldest);
			*oldest = NULL;
		}
		b->refs++;
		c->evq[c->ev_head++ & EVQ_MASK] = b;
		n++;
		__conn_flush(s, c);
	}
	__buf_put(b);
	return n;
}

void mgmt_server_stats(const struct mgmt_server *s, struct mgmt_stats *st)
{
	*st = s->st;
}

void mgmt_server_close(struct mgmt_server *s)
{
	struct stat st;

	if (!s)
		return;
	for (unsigned int i = 0; i < MGMT_MAX_CLIENTS; i++)
		if (s->conns[i].fd >= 0)
			__conn_close(s, &s->conns[i]);
	close(s->epfd);
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	close(s->lfd);
	free(s);
}

/* ---- client ---- */

struct mgmt_client {
	int fd;
	json_int_t next_id;
	uint32_t ev_head; /* free-running: [ev_tail, ev_head) are queued */
	uint32_t ev_tail;
	uint64_t ev_lost; /* dropped here: events that came during calls, too many */
	int64_t ev_lost_seq;
	json_t *evq[MGMT_EVQ_LEN];
	uint8_t rbuf[MGMT_MSG_MAX];
};

struct mgmt_client *mgmt_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval to = { .tv_sec = CONNECT_TO_SEC };
	struct mgmt_client *c;
	int rc;

	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		errno = path ? ENAMETOOLONG : EINVAL;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->next_id = 1;
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto err_free;
	/* A Unix connect() waits for room in the backlog up to the send time-out. */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &to, sizeof(to));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto err_sock;
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK))
		goto err_sock;
	return c;

err_sock:
	rc = errno;
	close(c->fd);
	errno = rc;
err_free:
	rc = errno;
	free(c);
	errno = rc;
	return NULL;
}

void mgmt_close(struct mgmt_client *c)
{
	if (!c)
		return;
	while (c->ev_tail != c->ev_head)
		json_decref(c->evq[c->ev_tail++ & EVQ_MASK]);
	close(c->fd);
	free(c);
}

static int __remaining_ms(uint64_t deadline)
{
	uint64_t now;

	if (deadline == UINT64_MAX)
		return -1;
	now = util_now_ns();
	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

static uint64_t __deadline(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : util_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

static int __gone(struct mgmt_err *err)
{
	return mgmt_err_set(err, EPIPE, "is iovpathd running? It logs why it stopped",
	                    "the daemon closed the connection");
}

/* Wait until @deadline for one message from the daemon. 1 with @m filled,
 * 0 on time-out, or -errno with @err filled. */
static int __client_recv(struct mgmt_client *c, struct mgmt_msg *m, uint64_t deadline,
                         struct mgmt_err *err)
{
	char why[160];

	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int rc = poll(&p, 1, __remaining_ms(deadline));
		ssize_t n;

		if (rc < 0 && errno != EINTR)
			return mgmt_err_set(err, errno, NULL, "poll: %s", strerror(errno));
		if (rc == 0)
			return 0;
		if (rc < 0)
			continue;
		n = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT | MSG_TRUNC);
		/* ECONNRESET: the daemon closed with our request unread; what it
		 * sent before (a refusal saying why) is still to be read. */
		if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ECONNRESET))
			continue;
		if (n < 0)
			return mgmt_err_set(err, errno, NULL, "receive: %s", strerror(errno));
		if (n == 0)
			return __gone(err);
		if (mgmt_msg_decode(c->rbuf, (size_t)n, m, why, sizeof(why)))
			return mgmt_err_set(err, EPROTO,
			                    "the CLI and iovpathd must come from the same release",
			                    "bad message from the daemon: %s", why);
		return 1;
	}
}

static void __client_queue_event(struct mgmt_client *c, json_t *ev)
{
	if (c->ev_head - c->ev_tail == MGMT_EVQ_LEN) {
		json_t *oldest = c->evq[c->ev_tail++ & EVQ_MASK];

		c->ev_lost++;
		c->ev_lost_seq = json_integer_value(json_object_get(oldest, "seq"));
		json_decref(oldest);
	}
	c->evq[c->ev_head++ & EVQ_MASK] = ev;
}

/* A refused peer's one reply (id null) tells why a send found the door shut. */
static int __client_refusal(struct mgmt_client *c, struct mgmt_err *err)
{
	struct mgmt_msg m;

	while (__client_recv(c, &m, 0, err) == 1) {
		if (m.kind == MGMT_MSG_REPLY && !m.ok && !m.has_id) {
			*err = m.err;
			return -(m.err.errnum ? m.err.errnum : EREMOTEIO);
		}
		if (m.kind == MGMT_MSG_EVENT)
			__client_queue_event(c, m.body);
		else
			json_decref(m.body);
	}
	return __gone(err);
}

int mgmt_call(struct mgmt_client *c, const char *op, json_t *args, json_t **result,
              struct mgmt_err *err, int timeout_ms)
{
	uint64_t deadline = __deadline(timeout_ms);
	json_int_t id = c->next_id;
	struct mgmt_err scratch;
	struct mgmt_msg m;
	size_t len = 0;
	char *req;
	int rc;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	if (result)
		*result = NULL;
	c->next_id = c->next_id + 1 < MGMT_ID_MAX ? c->next_id + 1 : 0;
	req = mgmt_req_encode(id, op, args, &len);
	if (!req && errno == EMSGSIZE)
		return mgmt_err_set(err, EMSGSIZE, "send less per request",
		                    "request %s is larger than %u bytes", op, MGMT_MSG_MAX);
	if (!req && errno == EINVAL)
		return mgmt_err_set(err, EINVAL, NULL,
		                    "op \"%s\" is not a valid name, or its args not an object",
		                    op ? op : "(null)");
	if (!req)
		return mgmt_err_set(err, ENOMEM, NULL, "out of memory");
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };

		rc = send(c->fd, req, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? errno : 0;
		if (rc != EAGAIN && rc != EINTR)
			break;
		if (rc == EAGAIN && poll(&p, 1, __remaining_ms(deadline)) == 0)
			break;
	}
	free(req);
	if (rc == EPIPE || rc == ECONNRESET)
		return __client_refusal(c, err);
	if (rc == EAGAIN)
		return mgmt_err_set(err, ETIMEDOUT, "is iovpathd busy or stuck?",
		                    "could not send %s within %d ms", op, timeout_ms);
	if (rc)
		return mgmt_err_set(err, rc, NULL, "send: %s", strerror(rc));
	for (;;) {
		rc = __client_recv(c, &m, deadline, err);
		if (rc == 0)
			return mgmt_err_set(err, ETIMEDOUT, "is iovpathd busy or stuck?",
			                    "no reply to %s within %d ms", op, timeout_ms);
		if (rc < 0)
			return rc;
		if (m.kind == MGMT_MSG_EVENT) {
			__client_queue_event(c, m.body);
			continue;
		}
		if (m.has_id && m.id != id) {
			json_decref(m.body); /* a late reply to a call that timed out */
			continue;
		}
		if (!m.ok) {
			*err = m.err;
			return -(m.err.errnum ? m.err.errnum : EREMOTEIO);
		}
		if (result)
			*result = m.body;
		else
			json_decref(m.body);
		return 0;
	}
}

int mgmt_next_event(struct mgmt_client *c, json_t **ev, int timeout_ms)
{
	uint64_t deadline = __deadline(timeout_ms);
	struct mgmt_err err;
	struct mgmt_msg m;
	int rc;

	*ev = NULL;
	if (c->ev_lost) {
		*ev =
		    json_pack("{s:i,s:s,s:I,s:I,s:{s:I}}", "v", MGMT_VERSION, "event",
		              "events.dropped", (json_int_t)c->ev_lost_seq, "ts_ns",
		              (json_int_t)__realtime_ns(), "data", "count", (json_int_t)c->ev_lost);
		if (!*ev)
			return -ENOMEM;
		c->ev_lost = 0;
		return 1;
	}
	if (c->ev_tail != c->ev_head) {
		*ev = c->evq[c->ev_tail & EVQ_MASK];
		c->evq[c->ev_tail++ & EVQ_MASK] = NULL;
		return 1;
	}
	for (;;) {
		rc = __client_recv(c, &m, deadline, &err);
		if (rc <= 0)
			return rc;
		if (m.kind == MGMT_MSG_EVENT) {
			*ev = m.body;
			return 1;
		}
		json_decref(m.body);
		if (!m.ok && !m.has_id)
			return -(m.err.errnum ? m.err.errnum : EREMOTEIO);
	}
}

/* ---- single-instance lock ---- */

static int __msgf(char *msg, size_t msglen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int __msgf(char *msg, size_t msglen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static bool __host_name_ok(const char *name)
{
	size_t n = strnlen(name, 64);

	if (n == 0 || n > 63 || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
		            name[i]))
			return false;
	return true;
}

/* The PID the holder wrote; it may be a moment behind its flock(). */
static long __lock_pid(int fd)
{
	for (int tries = 0; tries < 20; tries++) {
		char buf[24];
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		long pid;

		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, NULL, 10);
			if (pid > 0)
				return pid;
		}
		usleep(10000);
	}
	return 0;
}

int mgmt_lock_host(const char *run_dir, const char *host_name, char *msg, size_t msglen)
{
	char path[PATH_MAX], pid[24];
	int fd, rc, n;
	long holder;

	if (!host_name || !__host_name_ok(host_name))
		return __msgf(msg, msglen, -EINVAL,
		              "host name \"%s\" is not 1..63 characters of A-Z a-z 0-9 _ . - (not "
		              "starting with '.')",
		              host_name ? host_name : "");
	if (mkdir(run_dir, 0755) && errno != EEXIST)
		return __msgf(msg, msglen, -errno, "cannot create %s: %s", run_dir,
		              strerror(errno));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.lock", run_dir, host_name) >= sizeof(path))
		return __msgf(msg, msglen, -ENAMETOOLONG, "lock path under %s too long", run_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return __msgf(msg, msglen, -errno, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		rc = errno;
		holder = rc == EWOULDBLOCK ? __lock_pid(fd) : 0;
		close(fd);
		if (rc != EWOULDBLOCK)
			return __msgf(msg, msglen, -rc, "cannot lock %s: %s", path, strerror(rc));
		if (holder)
			return __msgf(
			    msg, msglen, -EBUSY,
			    "host %s is already served by iovpathd pid %ld (lock %s); stop "
			    "it first or use another host name",
			    host_name, holder, path);
		return __msgf(msg, msglen, -EBUSY,
		              "host %s is already served by another iovpathd (lock %s, no PID in "
		              "it); stop it first or use another host name",
		              host_name, path);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) {
		rc = errno ? errno : EIO;
		close(fd);
		return __msgf(msg, msglen, -rc, "cannot write %s: %s", path, strerror(rc));
	}
	return fd;
}

void mgmt_unlock_host(int fd)
{
	if (fd < 0)
		return;
	if (ftruncate(fd, 0))
		log_dbg("mgmt", "emptying the lock file: %s", strerror(errno));
	close(fd);
}
