/* migrate — see migrate.h. */
#include "host/migrate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/mgmt.h"
#include "util/util.h"

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EPROTO;
}

/* Big-endian words on the wire: the length words, the frame header. */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

void migr_hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

int migr_unhex(const char *s, uint8_t *b, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int migr_addr_parse(const char *s, struct sockaddr_in *sa)
{
	char ip[16];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* ---- encoding ---- */

static char *dump(json_t *j, size_t *len)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s)
		*len = strlen(s);
	return s;
}

char *migr_request_encode(const struct migr_request *r, size_t *len)
{
	char tok[2 * MIGR_TOKEN_LEN + 1], mac[18];

	migr_hex(r->token, MIGR_TOKEN_LEN, tok);
	util_mac_fmt(r->mac, mac);
	return dump(json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:{s:I, s:I, s:O}}", "v",
	                      MIGR_VERSION, "token", tok, "source", r->source, "port", "name",
	                      r->name, "mac", mac, "vlan", (int)r->vlan, "state", "connects",
	                      (json_int_t)r->connects, "migrations", (json_int_t)r->migrations,
	                      "stats", r->stats ? r->stats : json_object()),
	            len);
}

char *migr_reply_encode(const struct migr_reply *p, size_t *len)
{
	char sec[2 * VMBUS_SECRET_LEN + 1];

	if (!p->ok)
		return dump(
		    json_pack("{s:i, s:b, s:s}", "v", MIGR_VERSION, "ok", 0, "error", p->error),
		    len);
	migr_hex(p->secret, VMBUS_SECRET_LEN, sec);
	return dump(json_pack("{s:i, s:b, s:s, s:s, s:s}", "v", MIGR_VERSION, "ok", 1, "host",
	                      p->host, "channel", p->channel, "secret", sec),
	            len);
}

/* ---- decoding ---- */

/* @o has only the keys in @known (NULL-terminated)? */
static const char *unknown_key(json_t *o, const char *const *known)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
	{
		unsigned int i;

		for (i = 0; known[i] && strcmp(known[i], k); i++)
			;
		if (!known[i])
			return k;
	}
	return NULL;
}

/* String field @key of @o into @out (@cap bytes with the NUL; 1.. chars). */
static int get_str(json_t *o, const char *key, char *out, size_t cap, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!json_is_string(v))
		return bad(err, errlen, "\"%s\" is missing or not a string", key);
	n = json_string_length(v);
	if (!n || n >= cap || memchr(json_string_value(v), '\0', n))
		return bad(err, errlen, "\"%s\" must be 1..%zu characters", key, cap - 1);
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

static int get_uint(json_t *o, const char *key, json_int_t max, uint64_t *out, char *err,
                    size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return bad(err, errlen, "\"%s\" must be an integer 0..%lld", key, (long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* The envelope: a JSON object of version MIGR_VERSION. */
static json_t *envelope(const void *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j, *v;

	if (!len || len > MIGR_MSG_MAX) {
		bad(err, errlen, "message of %zu bytes (1..%u)", len, MIGR_MSG_MAX);
		return NULL;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		bad(err, errlen, "not JSON: %s", je.text);
		return NULL;
	}
	v = json_object_get(j, "v");
	if (!json_is_object(j) || !json_is_integer(v) || json_integer_value(v) != MIGR_VERSION) {
		bad(err, errlen, "not a version %d migration message", MIGR_VERSION);
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool name_ok(const char *s)
{
	return mgmt_name_ok(s) && !strchr(s, '.');
}

int migr_request_decode(const void *buf, size_t len, struct migr_request *r, char *err,
                        size_t errlen)
{
	static const char *const top[] = { "v", "token", "source", "port", "state", NULL };
	static const char *const port[] = { "name", "mac", "vlan", NULL };
	static const char *const state[] = { "connects", "migrations", "stats", NULL };
	char tok[2 * MIGR_TOKEN_LEN + 2], mac[20];
	json_t *j, *p, *s, *st;
	const char *k;
	uint64_t vlan;
	int rc = -EPROTO;

	memset(r, 0, sizeof(*r));
	if (!(j = envelope(buf, len, err, errlen)))
		return -EPROTO;
	p = json_object_get(j, "port");
	s = json_object_get(j, "state");
	st = json_object_get(s, "stats");
	if ((k = unknown_key(j, top)))
		bad(err, errlen, "unknown field \"%s\"", k);
	else if (get_str(j, "token", tok, sizeof(tok), err, errlen) ||
	         migr_unhex(tok, r->token, MIGR_TOKEN_LEN))
		bad(err, errlen, "\"token\" must be %u hex digits", 2 * MIGR_TOKEN_LEN);
	else if (get_str(j, "source", r->source, sizeof(r->source), err, errlen))
		;
	else if (!name_ok(r->source))
		bad(err, errlen, "bad source host name");
	else if (!json_is_object(p) || !json_is_object(s))
		bad(err, errlen, "\"port\" and \"state\" must be objects");
	else if ((k = unknown_key(p, port)) || (k = unknown_key(s, state)))
		bad(err, errlen, "unknown field \"%s\"", k);
	else if (get_str(p, "name", r->name, sizeof(r->name), err, errlen))
		;
	else if (!name_ok(r->name) || !strcmp(r->name, "external"))
		bad(err, errlen, "bad VM name");
	else if (get_str(p, "mac", mac, sizeof(mac), err, errlen))
		;
	else if (util_mac_parse(mac, r->mac) || (r->mac[0] & 1) ||
	         !memcmp(r->mac, "\0\0\0\0\0\0", 6))
		bad(err, errlen, "\"mac\" must be a unicast MAC");
	else if (get_uint(p, "vlan", 4094, &vlan, err, errlen) ||
	         get_uint(s, "connects", MGMT_ID_MAX - 1, &r->connects, err, errlen) ||
	         get_uint(s, "migrations", MGMT_ID_MAX - 1, &r->migrations, err, errlen))
		;
	else if (st && !json_is_object(st))
		bad(err, errlen, "\"stats\" must be an object");
	else
		rc = 0;
	if (!rc) {
		r->vlan = (uint16_t)vlan;
		r->stats = st ? json_incref(st) : json_object();
	}
	json_decref(j);
	return rc;
}

void migr_request_release(struct migr_request *r)
{
	json_decref(r->stats);
	r->stats = NULL;
}

int migr_reply_decode(const void *buf, size_t len, struct migr_reply *p, char *err, size_t errlen)
{
	static const char *const yes[] = { "v", "ok", "host", "channel", "secret", NULL };
	static const char *const no[] = { "v", "ok", "error", NULL };
	char sec[2 * VMBUS_SECRET_LEN + 2];
	json_t *j, *ok;
	const char *k;
	int rc = -EPROTO;

	memset(p, 0, sizeof(*p));
	if (!(j = envelope(buf, len, err, errlen)))
		return -EPROTO;
	ok = json_object_get(j, "ok");
	if (!json_is_boolean(ok))
		bad(err, errlen, "\"ok\" is missing or not true/false");
	else if ((k = unknown_key(j, json_is_true(ok) ? yes : no)))
		bad(err, errlen, "unknown field \"%s\"", k);
	else if (!json_is_true(ok))
		rc = get_str(j, "error", p->error, sizeof(p->error), err, errlen);
	else if (get_str(j, "host", p->host, sizeof(p->host), err, errlen) ||
	         get_str(j, "channel", p->channel, sizeof(p->channel), err, errlen))
		;
	else if (!name_ok(p->host))
		bad(err, errlen, "bad host name");
	else if (p->channel[0] != '/')
		bad(err, errlen, "\"channel\" must be an absolute path");
	else if (get_str(j, "secret", sec, sizeof(sec), err, errlen) ||
	         migr_unhex(sec, p->secret, VMBUS_SECRET_LEN))
		bad(err, errlen, "\"secret\" must be %u hex digits", 2 * VMBUS_SECRET_LEN);
	else
		rc = 0, p->ok = 1;
	json_decref(j);
	return rc;
}

/* ---- framing ---- */

int migr_send(int fd, const char *json, size_t len)
{
	uint8_t hdr[4];
	struct iovec iov[2] = { { hdr, 4 }, { (void *)json, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	size_t want = len + 4;
	ssize_t n;

	if (!len || len > MIGR_MSG_MAX)
		return -EMSGSIZE;
	put32(hdr, (uint32_t)len);
	n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return (size_t)n == want ? 0 : -EPIPE; /* a small message on a new socket: all or none */
}

/* Exactly @len bytes by @deadline (ns). */
static int read_full(int fd, uint8_t *buf, size_t len, uint64_t deadline)
{
	size_t got = 0;

	while (got < len) {
		uint64_t now = util_now_ns();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) < 0 && errno != EINTR)
			return -errno;
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int migr_recv(int fd, char *buf, int timeout_ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000u;
	uint8_t hdr[4];
	uint32_t len;
	int r = read_full(fd, hdr, 4, deadline);

	if (r)
		return r;
	len = get32(hdr);
	if (!len || len > MIGR_MSG_MAX)
		return -EMSGSIZE;
	r = read_full(fd, (uint8_t *)buf, len, deadline);
	if (r)
		return r;
	buf[len] = '\0';
	return (int)len;
}

int migr_recv_some(int fd, struct migr_rd *rd)
{
	for (;;) {
		uint32_t len = rd->got >= 4 ? get32(rd->hdr) : 0;
		size_t want;
		uint8_t *at;
		ssize_t n;

		if (rd->got >= 4 && (!len || len > MIGR_MSG_MAX))
			return -EMSGSIZE;
		if (rd->got >= 4 && rd->got == 4 + len) {
			rd->buf[len] = '\0';
			return (int)len;
		}
		if (rd->got < 4)
			at = rd->hdr + rd->got, want = 4 - rd->got;
		else
			at = (uint8_t *)rd->buf + (rd->got - 4), want = 4 + len - rd->got;
		n = recv(fd, at, want, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		rd->got += (uint32_t)n;
	}
}

/* ---- run-time state ---- */

void migr_counters_add(json_t *acc, json_t *add, int depth)
{
	const char *k;
	json_t *v;

	if (!json_is_object(acc) || !json_is_object(add) || depth > MIGR_COUNTER_DEPTH)
		return;
	json_object_foreach(add, k, v)
	{
		json_t *have = json_object_get(acc, k);

		if (json_is_integer(v) && json_integer_value(v) >= 0 && strcmp(k, "vf")) {
			json_int_t sum = json_integer_value(v);

			if (json_is_integer(have) && json_integer_value(have) >= 0)
				sum = sum > MGMT_ID_MAX - json_integer_value(have)
				          ? MGMT_ID_MAX
				          : sum + json_integer_value(have);
			json_object_set_new(acc, k, json_integer(sum));
		} else if (json_is_object(v)) {
			if (!json_is_object(have)) {
				have = json_object();
				json_object_set_new(acc, k, have);
			}
			migr_counters_add(have, v, depth + 1);
		}
	}
}

/* ---- frames forwarded while the VM moves ---- */

struct migr_fwd {
	int fd;
	uint8_t *buf;
	size_t cap, off, len; /* bytes [off, len) wait: to be sent, or to be handed over */
	bool eof;
	struct migr_fwd_stats st;
};

struct migr_fwd *migr_fwd_new(int fd, size_t bufsize)
{
	struct migr_fwd *f;

	if (bufsize < 4 + MIGR_FRAME_HDR + VSW_MAX_FRAME) { /* not even one frame */
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f)
		f->buf = malloc(bufsize);
	if (!f || !f->buf) {
		free(f);
		errno = ENOMEM;
		return NULL;
	}
	f->fd = fd;
	f->cap = bufsize;
	return f;
}

void migr_fwd_free(struct migr_fwd *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f->buf);
	free(f);
}

int migr_fwd_fd(const struct migr_fwd *f)
{
	return f->fd;
}

void migr_fwd_stats(const struct migr_fwd *f, struct migr_fwd_stats *st)
{
	*st = f->st;
}

/* The waiting bytes to the front: room at the end. */
static void compact(struct migr_fwd *f)
{
	if (f->off) {
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
}

/* Room for @need more bytes at the end of the queue: where, or NULL. */
static uint8_t *reserve(struct migr_fwd *f, size_t need)
{
	if (f->len + need > f->cap)
		compact(f);
	if (f->len + need > f->cap)
		return NULL;
	f->len += need;
	return f->buf + f->len - need;
}

unsigned int migr_fwd_put(struct migr_fwd *f, const uint8_t mac[6], const struct vsw_frame *fr,
                          unsigned int n)
{
	unsigned int put = 0;

	for (unsigned int i = 0; i < n; i++) {
		size_t need = 4 + MIGR_FRAME_HDR + fr[i].len;
		uint8_t *m;

		if (fr[i].len < 14 || fr[i].len > VSW_MAX_FRAME || memcmp(fr[i].data, mac, 6) ||
		    (fr[i].flags & VSW_F_VLAN))
			continue; /* not the VM's own unicast, as it would have had it */
		if (!(m = reserve(f, need))) {
			f->st.dropped++;
			continue;
		}
		put32(m, MIGR_FRAME_BIT | (MIGR_FRAME_HDR + fr[i].len));
		m[4] = fr[i].vnet.flags;
		m[5] = fr[i].vnet.gso_type;
		put16(m + 6, fr[i].vnet.hdr_len);
		put16(m + 8, fr[i].vnet.gso_size);
		put16(m + 10, fr[i].vnet.csum_start);
		put16(m + 12, fr[i].vnet.csum_offset);
		put16(m + 14, 0);
		memcpy(m + 16, fr[i].data, fr[i].len);
		f->st.frames++;
		f->st.bytes += fr[i].len;
		put++;
	}
	return put;
}

int migr_fwd_cancel(struct migr_fwd *f, const char *why)
{
	json_t *j = json_pack("{s:i, s:s}", "v", MIGR_VERSION, "cancel", why);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n = s ? strlen(s) : 0;
	uint8_t *m = NULL;
	int rc = 0;

	json_decref(j);
	if (!s || !why[0] || n > MIGR_MSG_MAX)
		rc = -EINVAL;
	else if (!(m = reserve(f, 4 + n)))
		rc = -ENOSPC;
	else {
		put32(m, (uint32_t)n);
		memcpy(m + 4, s, n);
	}
	free(s);
	return rc;
}

int migr_cancel_decode(const void *buf, size_t len, char *why, size_t whylen)
{
	static const char *const known[] = { "v", "cancel", NULL };
	json_t *j = envelope(buf, len, why, whylen);
	const char *k;
	int rc = -EPROTO;

	if (!j)
		return rc;
	if ((k = unknown_key(j, known)))
		bad(why, whylen, "unknown field \"%s\"", k);
	else
		rc = get_str(j, "cancel", why, whylen, why, whylen);
	json_decref(j);
	return rc;
}

int migr_fwd_flush(struct migr_fwd *f)
{
	while (f->off < f->len) {
		ssize_t n =
		    send(f->fd, f->buf + f->off, f->len - f->off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -EAGAIN : -errno;
		f->off += (size_t)n;
	}
	f->off = f->len = 0;
	return 0;
}

bool migr_fwd_pending(const struct migr_fwd *f)
{
	return f->off < f->len;
}

int migr_frame_decode(const uint8_t *buf, size_t len, struct vsw_frame *f, size_t *used, char *err,
                      size_t errlen)
{
	uint32_t w, flen;

	if (len < 4)
		return 0;
	w = get32(buf);
	if (!(w & MIGR_FRAME_BIT))
		return bad(err, errlen, "a message of %u bytes where a frame was due", w);
	w &= ~MIGR_FRAME_BIT;
	if (w < MIGR_FRAME_HDR + 14 || w > MIGR_FRAME_HDR + VSW_MAX_FRAME)
		return bad(err, errlen, "frame message length %u outside %u..%u", w,
		           MIGR_FRAME_HDR + 14, MIGR_FRAME_HDR + VSW_MAX_FRAME);
	if (len < 4 + (size_t)w)
		return 0;
	flen = w - MIGR_FRAME_HDR;
	if (buf[4] & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return bad(err, errlen, "frame flags %#x unknown", buf[4]);
	if ((buf[5] & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE &&
	    (buf[5] & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_TCPV4 &&
	    (buf[5] & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_TCPV6)
		return bad(err, errlen, "frame gso_type %#x unknown", buf[5]);
	if (get16(buf + 14))
		return bad(err, errlen, "frame header's reserved bytes not zero");
	*f = (struct vsw_frame){ .data = buf + 16, .len = flen };
	f->vnet.flags = buf[4];
	f->vnet.gso_type = buf[5];
	f->vnet.hdr_len = get16(buf + 6);
	f->vnet.gso_size = get16(buf + 8);
	f->vnet.csum_start = get16(buf + 10);
	f->vnet.csum_offset = get16(buf + 12);
	if ((f->vnet.hdr_len | f->vnet.gso_size | f->vnet.csum_start | f->vnet.csum_offset) &&
	    (f->vnet.csum_start >= flen || f->vnet.hdr_len > flen))
		return bad(err, errlen, "frame offload offsets past its %u bytes", flen);
	*used = 4 + (size_t)w;
	return 1;
}

/* A cancel message at @at? -ECANCELED (its reason in @err) or -EPROTO when
 * it is all there, 1 when more of it is to come; 0 when a frame (or too
 * little to tell) is there. */
static int cancel_at(const struct migr_fwd *f, size_t at, char *err, size_t errlen)
{
	const uint8_t *m = f->buf + at;
	uint32_t w;

	if (f->len - at < 4 || (m[0] & 0x80))
		return 0;
	w = get32(m);
	if (w > MIGR_MSG_MAX)
		return bad(err, errlen, "a message of %u bytes where a frame was due", w);
	if (f->len - at < 4 + (size_t)w)
		return 1;
	return migr_cancel_decode(m + 4, w, err, errlen) ? -EPROTO : -ECANCELED;
}

int migr_fwd_pump(struct migr_fwd *f, const uint8_t mac[6], migr_deliver_fn deliver, void *ctx,
                  char *err, size_t errlen)
{
	int handed = 0;

	for (;;) {
		struct vsw_frame fr[VSW_BURST];
		size_t used[VSW_BURST], at = f->off;
		unsigned int k = 0, took;
		int r = 0;

		while (k < VSW_BURST && !(r = cancel_at(f, at, err, errlen)) &&
		       (r = migr_frame_decode(f->buf + at, f->len - at, &fr[k], &used[k], err,
		                              errlen)) == 1) {
			if (memcmp(fr[k].data, mac, 6)) { /* another's: never the VM's */
				if (k)
					break; /* those before it first; dropped next turn */
				f->off = at += used[0];
				f->st.dropped++;
				continue;
			}
			at += used[k++];
		}
		if (r < 0 && !k)
			return r;
		if (k) {
			took = deliver(ctx, fr, k);
			for (unsigned int i = 0; i < took && i < k; i++) {
				f->off += used[i];
				f->st.frames++;
				f->st.bytes += fr[i].len;
			}
			handed += (int)took;
			if (took < k)
				return handed ? handed : -EAGAIN;
			continue;
		}
		if (f->eof)
			return handed ? handed : -EPIPE;
		compact(f);
		ssize_t n = recv(f->fd, f->buf + f->len, f->cap - f->len, MSG_DONTWAIT);

		if (n == 0)
			f->eof = true;
		else if (n < 0)
			return errno == EAGAIN || errno == EINTR ? handed : -errno;
		else
			f->len += (size_t)n;
	}
}
