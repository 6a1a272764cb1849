/* Management socket tests: a real server (in a thread of the test process,
 * or polled from the test's own loop the way the daemon does) and real
 * clients, well-behaved ones through the client API and hostile ones
 * writing raw datagrams; children that drop to uid 65534 for the access
 * check; a second process for the single-instance lock. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "guest/netvsc.h"
#include "guest/vmproc.h"
#include "host/hostd.h"
#include "host/mgmt.h"
#include "proto/nvsp.h"
#include "util/util.h"
#include "vmbus/vmbus_chan.h"

#define TEST_GID   4242 /* a group the unprivileged children may or may not have */
#define NOBODY     65534
#define CALL_TO_MS 5000
#define NEVENTS    5000
#define STR(s)     s, sizeof(s) - 1

static char g_dir[64];
static char g_path[128];

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(g_dir, sizeof(g_dir), "%s/iovpath-mgmt-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
	snprintf(g_path, sizeof(g_path), "%s/h1.sock", g_dir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(g_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- the server under test: its ops and its thread ---- */

struct srv {
	struct mgmt_server *s;
	pthread_t th;
	int stop;
};

static int op_echo(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	*result = json_incref(args);
	return 0;
}

static int op_fail(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	static const char *const known[] = { "name", NULL };
	const char *name = NULL;
	int rc = mgmt_args_only(args, known, err);

	if (!rc)
		rc = mgmt_arg_str(args, "name", true, &name, err);
	if (rc)
		return rc;
	return mgmt_err_set(err, ENOENT, "iovpath vm show lists the VMs", "no VM named %s", name);
}

static int op_sleep(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	json_int_t ms = 0;
	int rc = mgmt_arg_int(args, "ms", true, 0, 2000, &ms, err);

	if (!rc)
		usleep((useconds_t)ms * 1000);
	return rc;
}

static int op_publish(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	struct srv *v = ctx;
	json_int_t n = 0;
	int rc = mgmt_arg_int(args, "n", true, 0, 100000, &n, err);

	for (json_int_t i = 0; !rc && i < n; i++)
		rc = mgmt_event_publish(v->s, "vf.attach", json_pack("{s:I}", "i", i)) < 0;
	return rc ? mgmt_err_set(err, EIO, NULL, "publish failed") : 0;
}

static int op_big(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	static char blob[MGMT_MSG_MAX];

	memset(blob, 'x', sizeof(blob) - 1);
	*result = json_pack("{s:s}", "blob", blob);
	return 0;
}

static int op_stats(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	struct srv *v = ctx;
	struct mgmt_stats st;

	mgmt_server_stats(v->s, &st);
	*result = json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "clients", st.clients,
	                    "subscribers", st.subscribers, "accepted", (json_int_t)st.accepted,
	                    "refused_access", (json_int_t)st.refused_access, "refused_full",
	                    (json_int_t)st.refused_full, "requests", (json_int_t)st.requests,
	                    "errors", (json_int_t)st.errors, "events", (json_int_t)st.events,
	                    "events_dropped", (json_int_t)st.events_dropped);
	return 0;
}

/* test.defer keeps its request for a later test.answer (both on the
 * server's thread, as the daemon's loop would answer). */
static uint64_t g_ticket;

static int op_defer(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	struct srv *v = ctx;

	g_ticket = mgmt_defer(v->s);
	if (json_object_get(args, "fail_now")) /* took a ticket, answers at once */
		return mgmt_err_set(err, EINVAL, NULL, "failed at once");
	return g_ticket ? MGMT_DEFERRED : mgmt_err_set(err, EIO, NULL, "no ticket");
}

/* Answer the kept request with {"answered": value}, or with ENOENT when
 * "fail" is given; the result says what mgmt_answer returned. */
static int op_answer(void *ctx, json_t *args, json_t **result, struct mgmt_err *err)
{
	struct srv *v = ctx;
	struct mgmt_err e = { 0 };
	json_t *val = json_object_get(args, "value");
	int rc;

	if (json_object_get(args, "fail"))
		rc = mgmt_answer(v->s, g_ticket,
		                 mgmt_err_set(&e, ENOENT, "a hint", "the answer is no"), NULL, &e);
	else
		rc = mgmt_answer(v->s, g_ticket, 0, json_pack("{s:O}", "answered", val), NULL);
	*result = json_pack("{s:i}", "rc", rc);
	return 0;
}

static const struct mgmt_op test_ops[] = {
	{ "test.defer", op_defer }, { "test.answer", op_answer }, { "test.echo", op_echo },
	{ "test.fail", op_fail },   { "test.sleep", op_sleep },   { "test.publish", op_publish },
	{ "test.big", op_big },     { "test.stats", op_stats },   { NULL, NULL },
};

static void *srv_main(void *arg)
{
	struct srv *v = arg;

	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE))
		mgmt_poll_once(v->s, 20);
	return NULL;
}

static void srv_open(struct srv *v, gid_t group)
{
	memset(v, 0, sizeof(*v));
	v->s = mgmt_listen(g_path, group);
	cr_assert(v->s, "mgmt_listen %s: %s", g_path, strerror(errno));
	cr_assert_eq(mgmt_register(v->s, test_ops, v), 0);
}

static void srv_start(struct srv *v, gid_t group)
{
	srv_open(v, group);
	cr_assert_eq(pthread_create(&v->th, NULL, srv_main, v), 0);
}

static void srv_stop(struct srv *v)
{
	__atomic_store_n(&v->stop, 1, __ATOMIC_RELEASE);
	pthread_join(v->th, NULL);
	mgmt_server_close(v->s);
}

static json_int_t stat_of(struct mgmt_client *c, const char *name)
{
	json_t *r = NULL;
	json_int_t val;

	cr_assert_eq(mgmt_call(c, "test.stats", NULL, &r, NULL, CALL_TO_MS), 0);
	val = json_integer_value(json_object_get(r, name));
	json_decref(r);
	return val;
}

/* Wait until stat @name of the server is @want (the server cleans up in its
 * own time); returns the last value seen. */
static json_int_t stat_wait(struct mgmt_client *c, const char *name, json_int_t want)
{
	json_int_t val = -1;

	for (int i = 0; i < 200 && (val = stat_of(c, name)) != want; i++)
		usleep(10000);
	return val;
}

static struct mgmt_client *client(void)
{
	struct mgmt_client *c = mgmt_connect(g_path);

	cr_assert(c, "mgmt_connect %s: %s", g_path, strerror(errno));
	return c;
}

/* ---- raw peers: whatever bytes they like ---- */

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, g_path);
	cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
	          strerror(errno));
	return fd;
}

/* Send @len bytes, return the reply object (the test decrefs). */
static json_t *raw_call(int fd, const void *buf, size_t len)
{
	static char rbuf[2 * MGMT_MSG_MAX];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	json_error_t jerr;
	ssize_t n;
	json_t *j;

	cr_assert_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len, "send: %s", strerror(errno));
	cr_assert_eq(poll(&p, 1, CALL_TO_MS), 1, "no reply");
	n = recv(fd, rbuf, sizeof(rbuf), 0);
	cr_assert(n > 0, "recv: %zd", n);
	j = json_loadb(rbuf, (size_t)n, 0, &jerr);
	cr_assert(j, "reply not JSON: %s", jerr.text);
	return j;
}

/* A raw request that must be refused with @code; the reply's id must be
 * @id (-1: null). The message must say something. */
static void expect_refusal(int fd, const char *req, size_t len, const char *code, json_int_t id)
{
	json_t *r = raw_call(fd, req, len), *e = json_object_get(r, "error");
	json_t *jid = json_object_get(r, "id");

	cr_assert_eq(json_integer_value(json_object_get(r, "v")), MGMT_VERSION);
	cr_assert(json_is_false(json_object_get(r, "ok")), "request %.60s accepted", req);
	cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code, "request %.60s", req);
	cr_assert(strlen(json_string_value(json_object_get(e, "message"))) > 5);
	if (id < 0)
		cr_assert(json_is_null(jid), "request %.60s: id not null", req);
	else
		cr_assert_eq(json_integer_value(jid), id, "request %.60s", req);
	json_decref(r);
}

static void expect_echo_works(int fd)
{
	static const char req[] = "{\"v\":1,\"id\":99,\"op\":\"test.echo\",\"args\":{\"k\":\"v\"}}";
	json_t *r = raw_call(fd, req, sizeof(req) - 1);

	cr_assert(json_is_true(json_object_get(r, "ok")), "connection did not live on");
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), 99);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "result"), "k")),
	                 "v");
	json_decref(r);
}

/* ---- requests ---- */

/* Nothing to read on @fd for @ms. */
static bool silent(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

/* The next datagram on @fd, as JSON (the test decrefs). */
static json_t *raw_next(int fd)
{
	static char rbuf[MGMT_MSG_MAX];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	cr_assert_eq(poll(&p, 1, CALL_TO_MS), 1, "no reply");
	n = recv(fd, rbuf, sizeof(rbuf), 0);
	cr_assert(n > 0, "recv: %zd", n);
	return json_loadb(rbuf, (size_t)n, 0, NULL);
}

/* A deferred request is answered when the daemon says, the client's next
 * request after it (replies in order); others are served meanwhile; an
 * error answer reaches the client as a handler's would; an answer for a
 * client that went away is dropped. */
Test(mgmt, deferred_answer, .init = setup, .fini = teardown, .timeout = 20)
{
	static const char defer[] = "{\"v\":1,\"id\":1,\"op\":\"test.defer\"}";
	static const char echo[] = "{\"v\":1,\"id\":2,\"op\":\"test.echo\",\"args\":{\"k\":1}}";
	struct srv v;
	struct mgmt_client *b;
	struct mgmt_err me;
	json_t *r = NULL, *m;
	json_t *args[3] = { json_pack("{s:i}", "value", 7), json_pack("{s:b}", "fail", 1),
		            json_pack("{s:i}", "value", 8) }; /* mgmt_call borrows them */
	int a;

	srv_start(&v, MGMT_NO_GROUP);
	a = raw_connect();
	b = client();
	cr_assert_eq(send(a, defer, sizeof(defer) - 1, 0), (ssize_t)sizeof(defer) - 1);
	cr_assert_eq(send(a, echo, sizeof(echo) - 1, 0), (ssize_t)sizeof(echo) - 1);
	cr_expect(silent(a, 200), "a deferred request was answered before its time");
	/* another client is served meanwhile: it answers A's request */
	cr_assert_eq(mgmt_call(b, "test.answer", args[0], &r, &me, CALL_TO_MS), 0, "%s",
	             me.message);
	cr_expect_eq(json_integer_value(json_object_get(r, "rc")), 0);
	json_decref(r);
	m = raw_next(a);
	cr_assert(m);
	cr_expect_eq(json_integer_value(json_object_get(m, "id")), 1, "the deferred reply first");
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(m, "result"), "answered")),
	             7);
	json_decref(m);
	m = raw_next(a);
	cr_assert(m);
	cr_expect_eq(json_integer_value(json_object_get(m, "id")), 2, "then the next request's");
	json_decref(m);
	/* an error answer */
	cr_assert_eq(send(a, defer, sizeof(defer) - 1, 0), (ssize_t)sizeof(defer) - 1);
	cr_expect(silent(a, 100));
	cr_assert_eq(mgmt_call(b, "test.answer", args[1], &r, &me, CALL_TO_MS), 0);
	json_decref(r);
	m = raw_next(a);
	cr_assert(m);
	cr_expect(json_is_false(json_object_get(m, "ok")));
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(m, "error"), "code")),
	                 "ENOENT");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(m, "error"), "hint")),
	                 "a hint");
	json_decref(m);
	/* the client goes before its answer: dropped */
	cr_assert_eq(send(a, defer, sizeof(defer) - 1, 0), (ssize_t)sizeof(defer) - 1);
	cr_expect(silent(a, 100));
	close(a);
	cr_expect_eq(stat_wait(b, "clients", 1), 1);
	cr_assert_eq(mgmt_call(b, "test.answer", args[2], &r, &me, CALL_TO_MS), 0);
	cr_expect_eq(json_integer_value(json_object_get(r, "rc")), -ENOTCONN);
	json_decref(r);
	/* a handler that took a ticket and answered at once: the connection
	 * goes on */
	json_t *now = json_pack("{s:b}", "fail_now", 1);

	cr_expect_eq(mgmt_call(b, "test.defer", now, NULL, &me, CALL_TO_MS), -EINVAL);
	cr_expect_eq(mgmt_call(b, "test.echo", now, NULL, &me, CALL_TO_MS), 0,
	             "the connection stopped after an answered deferral: %s", me.message);
	json_decref(now);
	for (int i = 0; i < 3; i++)
		json_decref(args[i]);
	mgmt_close(b);
	srv_stop(&v);
}

Test(mgmt, request_round_trip, .init = setup, .fini = teardown, .timeout = 20)
{
	struct srv v;
	struct mgmt_client *c;
	struct mgmt_err err;
	json_t *args, *r = NULL, *ops;
	bool saw_echo = false, saw_sub = false;
	size_t i;
	json_t *name;

	srv_start(&v, MGMT_NO_GROUP);
	c = client();
	args = json_pack("{s:i,s:s,s:[i,i]}", "a", 1, "s", "x", "list", 2, 3);
	cr_assert_eq(mgmt_call(c, "test.echo", args, &r, &err, CALL_TO_MS), 0, "%s", err.message);
	cr_assert(json_equal(r, args));
	json_decref(r);
	json_decref(args);

	/* An error travels as code, message and hint; the errno comes back. */
	args = json_pack("{s:s}", "name", "vm3");
	cr_assert_eq(mgmt_call(c, "test.fail", args, &r, &err, CALL_TO_MS), -ENOENT);
	cr_assert_null(r);
	cr_assert_str_eq(err.code, "ENOENT");
	cr_assert_str_eq(err.message, "no VM named vm3");
	cr_assert_str_eq(err.hint, "iovpath vm show lists the VMs");
	json_decref(args);

	/* Handlers' argument checks answer with a clear EINVAL. */
	args = json_pack("{s:i}", "name", 3);
	cr_assert_eq(mgmt_call(c, "test.fail", args, NULL, &err, CALL_TO_MS), -EINVAL);
	cr_assert_str_eq(err.message, "argument \"name\" is an integer, expected a string");
	json_decref(args);
	args = json_pack("{s:s,s:i}", "name", "vm3", "colour", 1);
	cr_assert_eq(mgmt_call(c, "test.fail", args, NULL, &err, CALL_TO_MS), -EINVAL);
	cr_assert_str_eq(err.message, "unknown argument \"colour\"");
	cr_assert_str_eq(err.hint, "this op takes name");
	json_decref(args);

	/* The built-in list of ops. */
	cr_assert_eq(mgmt_call(c, "mgmt.ops", NULL, &r, &err, CALL_TO_MS), 0);
	cr_assert_eq(json_integer_value(json_object_get(r, "version")), MGMT_VERSION);
	ops = json_object_get(r, "ops");
	json_array_foreach(ops, i, name)
	{
		saw_echo |= strcmp(json_string_value(name), "test.echo") == 0;
		saw_sub |= strcmp(json_string_value(name), "events.subscribe") == 0;
	}
	cr_assert(saw_echo && saw_sub);
	json_decref(r);
	mgmt_close(c);
	srv_stop(&v);
}

Test(mgmt, reply_wire_format, .init = setup, .fini = teardown, .timeout = 20)
{
	static const char req[] = "{\"v\":1,\"id\":5,\"op\":\"test.echo\",\"args\":{\"a\":1}}";
	static const char want[] = "{\"v\":1,\"id\":5,\"ok\":true,\"result\":{\"a\":1}}";
	char buf[256];
	struct srv v;
	ssize_t n;
	int fd;

	srv_start(&v, MGMT_NO_GROUP);
	fd = raw_connect();
	cr_assert_eq(send(fd, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
	n = recv(fd, buf, sizeof(buf), 0);
	cr_assert_eq(n, (ssize_t)sizeof(want) - 1);
	cr_assert_eq(memcmp(buf, want, (size_t)n), 0, "reply %.*s", (int)n, buf);
	close(fd);
	srv_stop(&v);
}

Test(mgmt, unknown_op, .init = setup, .fini = teardown, .timeout = 20)
{
	struct mgmt_err err;
	struct mgmt_client *c;
	struct srv v;

	srv_start(&v, MGMT_NO_GROUP);
	c = client();
	cr_assert_eq(mgmt_call(c, "test.ecko", NULL, NULL, &err, CALL_TO_MS), -EOPNOTSUPP);
	cr_assert_str_eq(err.code, "EOPNOTSUPP");
	cr_assert_str_eq(err.message, "unknown op \"test.ecko\"");
	cr_assert(strstr(err.hint, "did you mean \"test.echo\""), "hint: %s", err.hint);
	cr_assert_eq(mgmt_call(c, "vm.frobnicate", NULL, NULL, &err, CALL_TO_MS), -EOPNOTSUPP);
	cr_assert(strstr(err.hint, "mgmt.ops"), "hint: %s", err.hint);
	cr_assert_eq(mgmt_call(c, "test.echo", NULL, NULL, &err, CALL_TO_MS), 0,
	             "the connection did not live on");
	mgmt_close(c);
	srv_stop(&v);
}

Test(mgmt, bad_json_and_bad_fields, .init = setup, .fini = teardown, .timeout = 20)
{
	static const struct {
		const char *req;
		const char *code;
		json_int_t id;
	} cases[] = {
		{ "{not json", "EBADMSG", -1 },
		{ "\xff\xfe\x00garbage", "EBADMSG", -1 },
		{ "[1,2,3]", "EBADMSG", -1 },
		{ "\"v\"", "EBADMSG", -1 },
		{ "{\"v\":1,\"id\":1,\"op\":\"test.echo\"} trailing", "EBADMSG", -1 },
		{ "{\"v\":1,\"id\":1,\"id\":2,\"op\":\"test.echo\"}", "EBADMSG", -1 },
		{ "{\"v\":1,\"op\":\"test.echo\"}", "EINVAL", -1 },
		{ "{\"v\":1,\"id\":\"7\",\"op\":\"test.echo\"}", "EINVAL", -1 },
		{ "{\"v\":1,\"id\":-1,\"op\":\"test.echo\"}", "EINVAL", -1 },
		{ "{\"v\":1,\"id\":9007199254740992,\"op\":\"test.echo\"}", "EINVAL", -1 },
		{ "{\"id\":2,\"op\":\"test.echo\"}", "EINVAL", 2 },
		{ "{\"v\":1,\"id\":3}", "EINVAL", 3 },
		{ "{\"v\":1,\"id\":3,\"op\":7}", "EINVAL", 3 },
		{ "{\"v\":1,\"id\":3,\"op\":\"Test.Echo\"}", "EINVAL", 3 },
		{ "{\"v\":1,\"id\":3,\"op\":\"test..echo\"}", "EINVAL", 3 },
		{ "{\"v\":1,\"id\":3,\"op\":\"test.echo\",\"args\":[]}", "EINVAL", 3 },
		{ "{\"v\":1,\"id\":3,\"op\":\"test.echo\",\"extra\":true}", "EINVAL", 3 },
		{ "{\"v\":1,\"id\":3,\"op\":\"te\\u0000st\"}", "EBADMSG", -1 },
	};
	struct srv v;
	int fd;

	srv_start(&v, MGMT_NO_GROUP);
	fd = raw_connect();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *r = cases[i].req;
		size_t len = r[0] == '\xff' ? 10 : strlen(r);

		expect_refusal(fd, r, len, cases[i].code, cases[i].id);
	}
	/* An empty datagram is a request too (not the end of the connection). */
	expect_refusal(fd, "", 0, "EBADMSG", -1);
	expect_echo_works(fd);
	close(fd);
	srv_stop(&v);
}

Test(mgmt, wrong_version, .init = setup, .fini = teardown, .timeout = 20)
{
	static const char v2[] = "{\"v\":2,\"id\":7,\"op\":\"test.echo\",\"newfield\":1}";
	static const char vstr[] = "{\"v\":\"1\",\"id\":8,\"op\":\"test.echo\"}";
	json_t *r, *e;
	struct srv v;
	int fd;

	srv_start(&v, MGMT_NO_GROUP);
	fd = raw_connect();
	r = raw_call(fd, v2, sizeof(v2) - 1);
	e = json_object_get(r, "error");
	cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "EPROTONOSUPPORT");
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), 7);
	cr_assert_eq(json_integer_value(json_object_get(r, "v")), 1);
	cr_assert(strstr(json_string_value(json_object_get(e, "message")),
	                 "this daemon speaks version 1"));
	cr_assert(json_is_string(json_object_get(e, "hint")));
	json_decref(r);
	expect_refusal(fd, vstr, sizeof(vstr) - 1, "EINVAL", 8);
	expect_echo_works(fd);
	close(fd);
	srv_stop(&v);
}

/* A request of exactly @len bytes: echo of one string padded to fit. */
static char *sized_request(size_t len)
{
	static const char head[] = "{\"v\":1,\"id\":11,\"op\":\"test.echo\",\"args\":{\"s\":\"";
	static const char tail[] = "\"}}";
	char *buf = malloc(len);

	memcpy(buf, head, sizeof(head) - 1);
	memset(buf + sizeof(head) - 1, 'a', len - (sizeof(head) - 1) - (sizeof(tail) - 1));
	memcpy(buf + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	return buf;
}

Test(mgmt, oversized_datagram, .init = setup, .fini = teardown, .timeout = 20)
{
	struct mgmt_err err;
	struct mgmt_client *c;
	json_t *r, *args;
	struct srv v;
	char *req;
	int fd;

	srv_start(&v, MGMT_NO_GROUP);
	fd = raw_connect();
	req = sized_request(MGMT_MSG_MAX + 1);
	expect_refusal(fd, req, MGMT_MSG_MAX + 1, "EMSGSIZE", -1);
	free(req);
	req = sized_request(100000);
	expect_refusal(fd, req, 100000, "EMSGSIZE", -1);
	free(req);
	/* Exactly the limit is fine. */
	req = sized_request(MGMT_MSG_MAX);
	r = raw_call(fd, req, MGMT_MSG_MAX);
	cr_assert(json_is_true(json_object_get(r, "ok")), "a request of the limit refused");
	cr_assert_eq(strlen(json_string_value(json_object_get(json_object_get(r, "result"), "s"))),
	             MGMT_MSG_MAX - 48);
	json_decref(r);
	free(req);
	expect_echo_works(fd);
	close(fd);

	/* The client refuses to send what the daemon would refuse. */
	c = client();
	req = sized_request(MGMT_MSG_MAX + 100);
	req[MGMT_MSG_MAX + 100 - 3] = '\0';
	args = json_pack("{s:s}", "s", req + 44);
	cr_assert_eq(mgmt_call(c, "test.echo", args, NULL, &err, CALL_TO_MS), -EMSGSIZE);
	json_decref(args);
	free(req);
	/* A result too big for one reply is an error, and the connection lives. */
	cr_assert_eq(mgmt_call(c, "test.big", NULL, NULL, &err, CALL_TO_MS), -E2BIG);
	cr_assert(strstr(err.message, "test.big"), "%s", err.message);
	cr_assert_eq(mgmt_call(c, "test.echo", NULL, NULL, &err, CALL_TO_MS), 0);
	mgmt_close(c);
	srv_stop(&v);
}

Test(mgmt, client_vanishes_mid_request, .init = setup, .fini = teardown, .timeout = 30)
{
	static const char slow[] = "{\"v\":1,\"id\":1,\"op\":\"test.sleep\",\"args\":{\"ms\":200}}";
	static const char echo[] = "{\"v\":1,\"id\":1,\"op\":\"test.echo\"}";
	struct mgmt_client *c;
	struct mgmt_err err;
	struct srv v;
	int fd, sent = 0;

	srv_start(&v, MGMT_NO_GROUP);
	c = client();
	/* Gone while its request runs: the reply finds nobody. */
	fd = raw_connect();
	cr_assert_eq(send(fd, slow, sizeof(slow) - 1, 0), (ssize_t)sizeof(slow) - 1);
	usleep(50000);
	close(fd);
	/* Gone right after asking. */
	for (int i = 0; i < 10; i++) {
		fd = raw_connect();
		cr_assert_eq(send(fd, echo, sizeof(echo) - 1, 0), (ssize_t)sizeof(echo) - 1);
		close(fd);
	}
	/* Asks and asks and never reads: the server stops reading it, serves others. */
	fd = raw_connect();
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (sent < 100000 && send(fd, echo, sizeof(echo) - 1, MSG_NOSIGNAL) > 0)
		sent++;
	cr_assert(errno == EAGAIN, "flooding client: %s after %d", strerror(errno), sent);
	cr_assert_eq(mgmt_call(c, "test.echo", NULL, NULL, &err, CALL_TO_MS), 0,
	             "others not served: %s", err.message);
	close(fd);
	cr_assert_eq(stat_wait(c, "clients", 1), 1, "vanished clients not cleaned up");
	cr_assert_eq(stat_of(c, "accepted"), 13);
	mgmt_close(c);
	srv_stop(&v);
}

Test(mgmt, client_bound, .init = setup, .fini = teardown, .timeout = 30)
{
	struct mgmt_client *cs[MGMT_MAX_CLIENTS], *extra;
	struct mgmt_err err;
	struct srv v;

	srv_start(&v, MGMT_NO_GROUP);
	for (int i = 0; i < MGMT_MAX_CLIENTS; i++) {
		cs[i] = client();
		cr_assert_eq(mgmt_call(cs[i], "test.echo", NULL, NULL, &err, CALL_TO_MS), 0,
		             "client %d: %s", i, err.message);
	}
	for (int i = 0; i < 3; i++) {
		extra = client(); /* connect() succeeds; the daemon answers, then closes */
		int rc = mgmt_call(extra, "test.echo", NULL, NULL, &err, CALL_TO_MS);

		cr_assert_eq(rc, -EBUSY, "%d %s %s", rc, err.code, err.message);
		cr_assert_str_eq(err.code, "EBUSY");
		cr_assert(strstr(err.message, "too many management clients"), "%s", err.message);
		cr_assert(err.hint[0]);
		cr_assert_eq(mgmt_call(extra, "test.echo", NULL, NULL, &err, CALL_TO_MS), -EPIPE);
		mgmt_close(extra);
	}
	cr_assert_eq(stat_of(cs[0], "refused_full"), 3);
	cr_assert_eq(stat_of(cs[0], "clients"), MGMT_MAX_CLIENTS);
	/* A slot that frees up is served again. */
	mgmt_close(cs[MGMT_MAX_CLIENTS - 1]);
	cr_assert_eq(stat_wait(cs[0], "clients", MGMT_MAX_CLIENTS - 1), MGMT_MAX_CLIENTS - 1);
	cs[MGMT_MAX_CLIENTS - 1] = client();
	cr_assert_eq(mgmt_call(cs[MGMT_MAX_CLIENTS - 1], "test.echo", NULL, NULL, &err, CALL_TO_MS),
	             0, "%s", err.message);
	for (int i = 0; i < MGMT_MAX_CLIENTS; i++)
		mgmt_close(cs[i]);
	srv_stop(&v);
}

/* ---- events ---- */

static void subscribe(struct mgmt_client *c, json_int_t next_seq)
{
	struct mgmt_err err;
	json_t *r = NULL;

	cr_assert_eq(mgmt_call(c, "events.subscribe", NULL, &r, &err, CALL_TO_MS), 0, "%s",
	             err.message);
	cr_assert_eq(json_integer_value(json_object_get(r, "next_seq")), next_seq);
	cr_assert_eq(json_integer_value(json_object_get(r, "queue_max")), MGMT_EVQ_LEN);
	json_decref(r);
}

static void publish(struct mgmt_client *c, int n)
{
	json_t *args = json_pack("{s:i}", "n", n);
	struct mgmt_err err;

	cr_assert_eq(mgmt_call(c, "test.publish", args, NULL, &err, CALL_TO_MS), 0, "%s",
	             err.message);
	json_decref(args);
}

static json_int_t ev_int(json_t *ev, const char *key)
{
	return json_integer_value(json_object_get(ev, key));
}

static void expect_events(struct mgmt_client *c, json_int_t first_seq, int n)
{
	json_t *ev;

	for (int i = 0; i < n; i++) {
		cr_assert_eq(mgmt_next_event(c, &ev, CALL_TO_MS), 1, "event %d missing", i);
		cr_assert_str_eq(json_string_value(json_object_get(ev, "event")), "vf.attach");
		cr_assert_eq(ev_int(ev, "seq"), first_seq + i);
		cr_assert(ev_int(ev, "ts_ns") > 0);
		json_decref(ev);
	}
}

Test(mgmt, event_subscribe_and_publish_order, .init = setup, .fini = teardown, .timeout = 30)
{
	struct mgmt_client *sub, *sub2, *pub;
	json_int_t prev_ts = 0;
	struct mgmt_err err;
	struct srv v;
	json_t *ev;

	srv_start(&v, MGMT_NO_GROUP);
	sub = client();
	sub2 = client();
	pub = client();
	/* Nothing before subscribing. */
	publish(pub, 3);
	subscribe(sub, 4);
	subscribe(sub2, 4);
	publish(pub, 200);
	for (int i = 0; i < 200; i++) {
		int rc = mgmt_next_event(sub, &ev, CALL_TO_MS);

		cr_assert_eq(rc, 1, "event %d missing: %d", i, rc);
		cr_assert_str_eq(json_string_value(json_object_get(ev, "event")), "vf.attach");
		cr_assert_eq(ev_int(ev, "seq"), 4 + i);
		cr_assert_eq(ev_int(json_object_get(ev, "data"), "i"), i);
		cr_assert(ev_int(ev, "ts_ns") >= prev_ts);
		prev_ts = ev_int(ev, "ts_ns");
		json_decref(ev);
	}
	cr_assert_eq(mgmt_next_event(sub, &ev, 100), 0, "an event too many");
	expect_events(sub2, 4, 200);

	/* A subscriber's own call: the events that arrive meanwhile wait for it. */
	publish(sub, 50);
	expect_events(sub, 204, 50);
	expect_events(sub2, 204, 50);

	/* Unsubscribed: nothing more. */
	cr_assert_eq(mgmt_call(sub, "events.unsubscribe", NULL, NULL, &err, CALL_TO_MS), 0);
	publish(pub, 5);
	cr_assert_eq(mgmt_next_event(sub, &ev, 100), 0);
	expect_events(sub2, 254, 5);
	cr_assert_eq(stat_of(pub, "subscribers"), 1);
	cr_assert_eq(stat_of(pub, "events_dropped"), 0);
	mgmt_close(sub);
	mgmt_close(sub2);
	mgmt_close(pub);
	srv_stop(&v);
}

Test(mgmt, slow_subscriber_overflow_counted, .init = setup, .fini = teardown, .timeout = 30)
{
	struct mgmt_client *slow, *pub;
	json_int_t expect_seq = 1, got = 0, lost = 0, markers = 0, dropped;
	uint64_t t0;
	struct srv v;
	json_t *ev;

	srv_start(&v, MGMT_NO_GROUP);
	slow = client();
	pub = client();
	subscribe(slow, 1);
	/* The daemon must not wait for the subscriber that does not read. */
	t0 = util_now_ns();
	publish(pub, NEVENTS);
	cr_assert(util_now_ns() - t0 < 2000000000ull, "publishing blocked");
	dropped = stat_of(pub, "events_dropped");
	cr_assert(dropped > 0, "nothing dropped: the test does not test");
	cr_assert(dropped < NEVENTS);
	/* Now read: every event is either delivered in order or counted. */
	while (mgmt_next_event(slow, &ev, 300) == 1) {
		const char *name = json_string_value(json_object_get(ev, "event"));

		if (strcmp(name, "events.dropped") == 0) {
			json_int_t n = ev_int(json_object_get(ev, "data"), "count");

			cr_assert(n > 0);
			cr_assert_eq(ev_int(ev, "seq"), expect_seq + n - 1,
			             "the gap is not where it says");
			expect_seq += n;
			lost += n;
			markers++;
		} else {
			cr_assert_eq(ev_int(ev, "seq"), expect_seq, "out of order");
			expect_seq++;
			got++;
		}
		json_decref(ev);
	}
	cr_assert_eq(got + lost, NEVENTS, "delivered %lld + dropped %lld", (long long)got,
	             (long long)lost);
	cr_assert_eq(lost, dropped);
	cr_assert_eq(markers, 1);
	cr_assert(got >= (json_int_t)MGMT_EVQ_LEN, "less than the queue delivered: %lld",
	          (long long)got);
	/* Caught up: the next events come without loss. */
	publish(pub, 10);
	expect_events(slow, NEVENTS + 1, 10);
	mgmt_close(slow);
	mgmt_close(pub);
	srv_stop(&v);
}

/* ---- the daemon's loop: one descriptor in its own poll() ---- */

static int poll_loop_client(void *arg)
{
	struct mgmt_client *c = mgmt_connect(g_path);
	struct mgmt_err err;

	if (!c)
		return 10;
	if (mgmt_call(c, "test.echo", NULL, NULL, &err, CALL_TO_MS))
		return 11;
	mgmt_close(c);
	return 0;
}

Test(mgmt, single_threaded_poll_loop, .init = setup, .fini = teardown, .timeout = 20)
{
	struct srv v;
	pid_t pid;
	int st = -1;

	srv_open(&v, MGMT_NO_GROUP);
	pid = th_spawn(poll_loop_client, NULL);
	for (int i = 0; i < 500; i++) {
		struct pollfd p = { .fd = mgmt_fd(v.s), .events = POLLIN };

		if (poll(&p, 1, 10) == 1)
			cr_assert(mgmt_poll_once(v.s, 0) >= 0);
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client status %d", st);
	mgmt_server_close(v.s);
	cr_assert_eq(access(g_path, F_OK), -1, "socket file left behind");
}

/* ---- access ---- */

struct as_user {
	gid_t gid;
	gid_t supp; /* 0: none */
};

/* Child: become uid 65534 with @a's groups, then try. 0: served; 1: the
 * file mode kept it out; 2: refused by the daemon naming the group; 3:
 * refused as not root (no group configured). */
static int try_as_user(void *arg)
{
	const struct as_user *a = arg;
	struct mgmt_client *c;
	struct mgmt_err err;
	int rc;

	if (setgroups(a->supp ? 1 : 0, &a->supp) || setgid(a->gid) || setuid(NOBODY))
		return 20;
	c = mgmt_connect(g_path);
	if (!c)
		return errno == EACCES ? 1 : 21;
	rc = mgmt_call(c, "test.echo", NULL, NULL, &err, CALL_TO_MS);
	mgmt_close(c);
	if (rc == 0)
		return 0;
	if (rc == -EACCES && strcmp(err.code, "EACCES") == 0 && strstr(err.message, "uid 65534") &&
	    strstr(err.message, "gid 4242") && strstr(err.hint, "usermod"))
		return 2;
	if (rc == -EACCES && strstr(err.message, "only root may"))
		return 3;
	return 22;
}

static int run_as(gid_t gid, gid_t supp)
{
	struct as_user a = { gid, supp };

	return th_wait(th_spawn(try_as_user, &a));
}

Test(mgmt, permission_check, .init = setup, .fini = teardown, .timeout = 30)
{
	struct mgmt_client *root;
	struct stat st;
	struct srv v;

	if (geteuid() != 0)
		cr_skip_test("needs root: the test runs clients as uid %d via setuid", NOBODY);
	cr_assert_eq(chmod(g_dir, 0755), 0);
	srv_start(&v, TEST_GID);
	cr_assert_eq(stat(g_path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0660, "mode %o", st.st_mode & 07777);
	cr_assert_eq(st.st_gid, TEST_GID);
	/* The file mode keeps strangers out before the daemon sees them... */
	cr_assert_eq(run_as(NOBODY, 0), 1);
	/* ...and the credential check is what stands behind it. */
	cr_assert_eq(chmod(g_path, 0666), 0);
	cr_assert_eq(run_as(NOBODY, 0), 2);
	cr_assert_eq(run_as(NOBODY, TEST_GID), 0, "a supplementary group member refused");
	cr_assert_eq(run_as(TEST_GID, 0), 0, "a primary group member refused");
	root = client();
	cr_assert_eq(stat_of(root, "refused_access"), 1);
	cr_assert_eq(stat_of(root, "requests"), 3); /* two children, one stats call */
	mgmt_close(root);
	srv_stop(&v);
}

Test(mgmt, root_only_without_group, .init = setup, .fini = teardown, .timeout = 30)
{
	struct srv v;
	struct mgmt_client *c;
	struct mgmt_err err;

	if (geteuid() != 0)
		cr_skip_test("needs root: the test runs clients as uid %d via setuid", NOBODY);
	cr_assert_eq(chmod(g_dir, 0755), 0);
	srv_start(&v, MGMT_NO_GROUP);
	cr_assert_eq(chmod(g_path, 0666), 0);
	cr_assert_eq(run_as(TEST_GID, 0), 3);
	c = client();
	cr_assert_eq(mgmt_call(c, "test.echo", NULL, NULL, &err, CALL_TO_MS), 0);
	mgmt_close(c);
	srv_stop(&v);
}

/* ---- server life cycle ---- */

Test(mgmt, live_socket_kept_stale_replaced, .init = setup, .fini = teardown, .timeout = 20)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct mgmt_server *s, *s2;
	int fd;

	s = mgmt_listen(g_path, MGMT_NO_GROUP);
	cr_assert(s);
	s2 = mgmt_listen(g_path, MGMT_NO_GROUP);
	cr_assert_null(s2, "a live daemon's socket was taken over");
	cr_assert_eq(errno, EADDRINUSE);
	mgmt_server_close(s);
	cr_assert_eq(access(g_path, F_OK), -1);

	/* A crashed daemon's socket file: replaced. */
	strcpy(sa.sun_path, g_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	s = mgmt_listen(g_path, MGMT_NO_GROUP);
	cr_assert(s, "stale socket not replaced: %s", strerror(errno));
	mgmt_server_close(s);

	/* Never a file that is not a socket. */
	fd = open(g_path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	cr_assert_null(mgmt_listen(g_path, MGMT_NO_GROUP));
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(access(g_path, F_OK), 0);
}

Test(mgmt, register_rules, .init = setup, .fini = teardown, .timeout = 10)
{
	static const struct mgmt_op dup_builtin[] = { { "events.subscribe", op_echo },
		                                      { NULL, NULL } };
	static const struct mgmt_op dup_self[] = { { "a.b", op_echo },
		                                   { "a.b", op_echo },
		                                   { NULL, NULL } };
	static const struct mgmt_op bad_name[] = { { "A.b", op_echo }, { NULL, NULL } };
	static const struct mgmt_op no_fn[] = { { "a.c", NULL }, { NULL, NULL } };
	static const struct mgmt_op fine[] = { { "a.d", op_echo }, { NULL, NULL } };
	struct srv v;
	int rc = 0, n = 0;

	srv_open(&v, MGMT_NO_GROUP);
	cr_assert_eq(mgmt_register(v.s, test_ops, NULL), -EEXIST);
	cr_assert_eq(mgmt_register(v.s, dup_builtin, NULL), -EEXIST);
	cr_assert_eq(mgmt_register(v.s, dup_self, NULL), -EEXIST);
	cr_assert_eq(mgmt_register(v.s, bad_name, NULL), -EINVAL);
	cr_assert_eq(mgmt_register(v.s, no_fn, NULL), -EINVAL);
	cr_assert_eq(mgmt_register(v.s, fine, NULL), 0);
	cr_assert_eq(mgmt_register(v.s, fine, NULL), -EEXIST);
	while (rc == 0) {
		static const struct mgmt_op empty[] = { { NULL, NULL } };

		rc = mgmt_register(v.s, empty, NULL);
		n++;
	}
	cr_assert_eq(rc, -ENOSPC);
	cr_assert_eq(n, MGMT_MAX_TABLES - 3 + 1); /* builtin, test_ops, fine */
	mgmt_server_close(v.s);
}

Test(mgmt, names_and_codecs, .timeout = 10)
{
	static const char *const good[] = { "vm.show", "a", "vf.attach-vf", "x1.y_2.z" };
	static const char *const bad[] = { "",    "Vm.show", "vm.",     ".vm",          "vm..show",
		                           "1vm", "vm show", "vm.Show", "vm.sh\xc3\xa9" };
	struct mgmt_err err = { .hint = "x" };
	struct mgmt_req req;
	struct mgmt_msg m;
	char why[128], *buf;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		cr_assert(mgmt_name_ok(good[i]), "%s", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert(!mgmt_name_ok(bad[i]), "%s", bad[i]);
	cr_assert(
	    !mgmt_name_ok("a.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

	/* encode → decode round trip */
	buf = mgmt_req_encode(42, "vm.show", NULL, &len);
	cr_assert(buf);
	cr_assert_eq(mgmt_req_decode(buf, len, &req, &err), 0, "%s", err.message);
	cr_assert(req.has_id && req.id == 42);
	cr_assert_str_eq(req.op, "vm.show");
	cr_assert(json_is_object(req.args) && json_object_size(req.args) == 0);
	mgmt_req_release(&req);
	free(buf);
	cr_assert_null(mgmt_req_encode(-1, "vm.show", NULL, &len));
	cr_assert_null(mgmt_req_encode(1, "VM", NULL, &len));

	/* An error reply whose message is not valid UTF-8 still goes out, readable. */
	mgmt_err_set(&err, EINVAL, NULL, "bad byte \xff here");
	cr_assert_str_eq(err.hint, "");
	buf = mgmt_reply_encode(true, 3, NULL, &err, &len);
	cr_assert(buf);
	cr_assert_eq(mgmt_msg_decode(buf, len, &m, why, sizeof(why)), 0, "%s", why);
	cr_assert(m.kind == MGMT_MSG_REPLY && !m.ok && m.has_id && m.id == 3);
	cr_assert_eq(m.err.errnum, EINVAL);
	cr_assert_str_eq(m.err.message, "bad byte ? here");
	free(buf);

	/* The client refuses what the daemon would never send. */
	cr_assert_eq(mgmt_msg_decode(STR("{\"v\":2,\"id\":1,\"ok\":true,\"result\":{}}"), &m, why,
	                             sizeof(why)),
	             -EPROTO);
	cr_assert_eq(mgmt_msg_decode(STR("{\"v\":1,\"id\":1,\"ok\":true}"), &m, why, sizeof(why)),
	             -EPROTO);
	cr_assert_eq(
	    mgmt_msg_decode(STR("{\"v\":1,\"event\":\"x\",\"seq\":0,\"ts_ns\":1,\"data\":{}}"), &m,
	                    why, sizeof(why)),
	    -EPROTO);
	cr_assert_eq(
	    mgmt_msg_decode(STR("{\"v\":1,\"id\":1,\"ok\":false,\"error\":{\"code\":\"EWHAT\","
	                        "\"message\":\"m\"}}"),
	                    &m, why, sizeof(why)),
	    0, "%s", why);
	cr_assert_eq(m.err.errnum, 0); /* unknown code: mgmt_call answers -EREMOTEIO */
}

/* ---- single-instance lock ---- */

static int lock_holder(void *arg)
{
	int *pipes = arg; /* [0]: wait for EOF; [1]: write "locked"; [2]: not ours */
	char msg[256], ch;
	int fd = mgmt_lock_host(g_dir, "h1", msg, sizeof(msg));

	close(pipes[2]);
	if (fd < 0)
		return 10;
	if (write(pipes[1], "L", 1) != 1)
		return 11;
	while (read(pipes[0], &ch, 1) > 0)
		;
	return 0; /* exit releases the lock */
}

Test(mgmt, second_lock_refused_naming_the_pid, .init = setup, .fini = teardown, .timeout = 20)
{
	int to_child[2], from_child[2], arg[3], fd;
	char msg[256], want[64], ch, buf[32];
	pid_t pid;
	ssize_t n;

	cr_assert_eq(pipe(to_child), 0);
	cr_assert_eq(pipe(from_child), 0);
	arg[0] = to_child[0];
	arg[1] = from_child[1];
	arg[2] = to_child[1];
	pid = th_spawn(lock_holder, arg);
	close(to_child[0]);
	close(from_child[1]);
	cr_assert_eq(read(from_child[0], &ch, 1), 1, "holder did not lock");

	cr_assert_eq(mgmt_lock_host(g_dir, "h1", msg, sizeof(msg)), -EBUSY);
	snprintf(want, sizeof(want), "iovpathd pid %d", (int)pid);
	cr_assert(strstr(msg, want), "message does not name pid %d: %s", (int)pid, msg);
	cr_assert(strstr(msg, "host h1"), "%s", msg);
	/* Another host name is another daemon. */
	fd = mgmt_lock_host(g_dir, "h2", msg, sizeof(msg));
	cr_assert(fd >= 0, "%s", msg);
	mgmt_unlock_host(fd);

	/* The holder exits: the lock is free, and it is ours, with our PID. */
	close(to_child[1]);
	cr_assert_eq(th_wait(pid), 0);
	fd = mgmt_lock_host(g_dir, "h1", msg, sizeof(msg));
	cr_assert(fd >= 0, "%s", msg);
	snprintf(want, sizeof(want), "%d\n", (int)getpid());
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	cr_assert(n > 0);
	buf[n] = '\0';
	cr_assert_str_eq(buf, want);
	mgmt_unlock_host(fd);
	close(from_child[0]);

	cr_assert_eq(mgmt_lock_host(g_dir, "../etc", msg, sizeof(msg)), -EINVAL);
	cr_assert(strstr(msg, "host name"), "%s", msg);
	cr_assert_eq(mgmt_lock_host(g_dir, "", msg, sizeof(msg)), -EINVAL);
	cr_assert_eq(mgmt_lock_host(g_dir, ".hidden", msg, sizeof(msg)), -EINVAL);
}

/* ---- the command line against a real daemon ---- */

static pid_t g_daemon = -1;

/* $BUILD/NAME, next to this test's build directory ($BUILD/tests/test_mgmt). */
static void bin_path(const char *name, char *buf, size_t len)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	cr_assert(n > 0, "readlink /proc/self/exe");
	self[n] = '\0';
	for (int i = 0; i < 2; i++) {
		slash = strrchr(self, '/');
		cr_assert(slash);
		*slash = '\0';
	}
	snprintf(buf, len, "%s/%s", self, name);
	cr_assert(access(buf, X_OK) == 0, "no %s (make all)", buf);
}

/* iovpathd --name c1 in g_dir, up when its socket answers. */
static void daemon_setup(void)
{
	char bin[600], sock[128];
	struct mgmt_client *c = NULL;

	setup();
	bin_path("iovpathd", bin, sizeof(bin));
	g_daemon = fork();
	cr_assert(g_daemon >= 0);
	if (g_daemon == 0) {
		char log[160];
		int null = open("/dev/null", O_WRONLY), lf;

		snprintf(log, sizeof(log), "%s/daemon.log", g_dir);
		lf = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		dup2(null, 1);
		dup2(lf >= 0 ? lf : null, 2); /* what hostd logs, for tests that count */
		execl(bin, bin, "--name", "c1", "--vfs", "1", "--run-dir", g_dir, (char *)NULL);
		_exit(127);
	}
	snprintf(sock, sizeof(sock), "%s/c1.mgmt", g_dir);
	for (int i = 0; i < 200 && !(c = mgmt_connect(sock)); i++)
		usleep(25000);
	cr_assert(c, "iovpathd did not come up in %s", g_dir);
	mgmt_close(c);
}

static void daemon_teardown(void)
{
	if (g_daemon > 0) {
		kill(g_daemon, SIGTERM);
		waitpid(g_daemon, NULL, 0);
		g_daemon = -1;
	}
	teardown();
}

/* `PROG ARGS… --run-dir g_dir` (PROG from the build directory), killed after
 * @ms: its exit status (-1: it was still running), its stderr into @err. */
static int prog_run(const char *prog, int ms, char *err, size_t errlen, const char *const *args)
{
	char bin[600], path[128];
	const char *argv[24];
	int n = 0, st, fd;
	pid_t pid;
	ssize_t r;

	bin_path(prog, bin, sizeof(bin));
	snprintf(path, sizeof(path), "%s/cli.err", g_dir);
	argv[n++] = bin;
	for (; *args && n < 20; args++)
		argv[n++] = *args;
	argv[n++] = "--run-dir";
	argv[n++] = g_dir;
	argv[n] = NULL;
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		int e = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(null, 1);
		dup2(e, 2);
		execv(bin, (char **)argv);
		_exit(127);
	}
	for (int t = 0; waitpid(pid, &st, WNOHANG) == 0; t += 10) {
		if (t >= ms) {
			/* as Ctrl-C; for good if that did not end it in 2 s */
			kill(pid, SIGINT);
			for (int k = 0; waitpid(pid, &st, WNOHANG) == 0; k++) {
				if (k == 200)
					kill(pid, SIGKILL);
				usleep(10000);
			}
			st = -1;
			break;
		}
		usleep(10000);
	}
	fd = open(path, O_RDONLY);
	r = fd >= 0 ? read(fd, err, errlen - 1) : -1;
	err[r > 0 ? r : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* `iovpath ARGS… --run-dir g_dir`: prog_run. */
static int cli_run(int ms, char *err, size_t errlen, const char *const *args)
{
	return prog_run("iovpath", ms, err, errlen, args);
}

/* Files in g_dir/captures: the daemon's copies a capture leaves behind. */
static int captures_left(void)
{
	char path[128];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/captures", g_dir);
	d = opendir(path);
	cr_assert(d, "%s: %s", path, strerror(errno));
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* `capture --seconds S`: S a number of seconds above 0, else a usage error
 * naming it, and no capture started (atof made "abc", "-1" and "0" a capture
 * until Ctrl-C, and "0.2x" 0.2 s). */
Test(cli, capture_seconds_checked, .init = daemon_setup, .fini = daemon_teardown, .timeout = 60)
{
	static const char *const bad[] = { "abc", "0", "-1", "0.2x", "", "nan", "inf", "1e999" };
	char file[128], err[1024];
	struct stat st;

	snprintf(file, sizeof(file), "%s/out.pcap", g_dir);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *args[] = {
			"capture", "external", "-w", file, "--seconds", bad[i], NULL
		};
		int rc = cli_run(3000, err, sizeof(err), args);

		cr_assert_eq(rc, 2, "--seconds '%s': exit %d (-1: still capturing): %s", bad[i], rc,
		             err);
		cr_assert(strstr(err, "--seconds"), "--seconds '%s': %s", bad[i], err);
		cr_assert(stat(file, &st) < 0, "--seconds '%s' wrote %s", bad[i], file);
		cr_assert_eq(captures_left(), 0, "--seconds '%s'", bad[i]);
	}
	{
		const char *args[] = {
			"capture", "external", "-w", file, "--seconds", "0.2", NULL
		};

		cr_assert_eq(cli_run(5000, err, sizeof(err), args), 0, "%s", err);
		cr_assert(stat(file, &st) == 0 && st.st_size >= 24, "a pcap with its header");
		cr_assert_eq(captures_left(), 0);
	}
}

/* `capture -w FILE` where FILE can't be written (its directory is missing):
 * said before the capture starts, not after the user waited for it, and
 * nothing left in the daemon's captures directory. */
Test(cli, capture_unwritable_file_refused_first, .init = daemon_setup, .fini = daemon_teardown,
     .timeout = 60)
{
	char file[128], err[1024];
	struct stat st;
	int rc;

	snprintf(file, sizeof(file), "%s/no-such-dir/out.pcap", g_dir);
	{
		const char *args[] = { "capture", "external", "-w", file, "--seconds", "30", NULL };

		rc = cli_run(3000, err, sizeof(err), args);
	}
	cr_assert_eq(rc, 1, "exit %d (-1: still capturing): %s", rc, err);
	cr_assert(strstr(err, file), "the message names the file: %s", err);
	cr_assert_null(strstr(err, "capturing"), "a capture started: %s", err);
	cr_assert_eq(captures_left(), 0, "the daemon's copy was left behind");

	/* An existing file is kept as it was when the capture can't start. */
	snprintf(file, sizeof(file), "%s/keep.pcap", g_dir);
	cr_assert_eq(close(open(file, O_WRONLY | O_CREAT, 0644)), 0);
	cr_assert_eq(truncate(file, 7), 0);
	{
		const char *args[] = { "capture", "nosuchvm", "-w", file, "--seconds", "1", NULL };

		rc = cli_run(3000, err, sizeof(err), args);
	}
	cr_assert_eq(rc, 1, "%s", err);
	cr_assert(stat(file, &st) == 0 && st.st_size == 7, "FILE was touched");
	/* A new file is not left behind by a capture that did not start. */
	snprintf(file, sizeof(file), "%s/new.pcap", g_dir);
	{
		const char *args[] = { "capture", "nosuchvm", "-w", file, "--seconds", "1", NULL };

		rc = cli_run(3000, err, sizeof(err), args);
	}
	cr_assert_eq(rc, 1, "%s", err);
	cr_assert(stat(file, &st) < 0, "an empty %s left behind", file);
}

/* -w FILE is opened once, before the capture: a FIFO with a reader on it
 * gets the whole capture (a second open for the copy would have given the
 * reader an empty file, then waited for another), and an existing regular
 * file holds the capture alone (truncated only then). */
Test(cli, capture_file_opened_once, .init = daemon_setup, .fini = daemon_teardown, .timeout = 60)
{
	char file[128], err[1024];
	struct stat st;
	pid_t reader;
	int rc, wst;

	snprintf(file, sizeof(file), "%s/fifo", g_dir);
	cr_assert_eq(mkfifo(file, 0600), 0);
	reader = fork();
	cr_assert(reader >= 0);
	if (reader == 0) {
		char buf[4096];
		size_t total = 0;
		ssize_t n;
		int fd;

		alarm(20);
		fd = open(file, O_RDONLY);
		while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			total += (size_t)n;
		_exit(total >= 24 ? 0 : 1);
	}
	{
		const char *args[] = {
			"capture", "external", "-w", file, "--seconds", "0.2", NULL
		};

		rc = cli_run(5000, err, sizeof(err), args);
	}
	cr_assert_eq(waitpid(reader, &wst, 0), reader);
	cr_assert_eq(rc, 0, "exit %d (-1: still running): %s", rc, err);
	cr_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "the FIFO's reader got no pcap");
	cr_assert_eq(captures_left(), 0);

	snprintf(file, sizeof(file), "%s/big.pcap", g_dir);
	cr_assert_eq(close(open(file, O_WRONLY | O_CREAT, 0644)), 0);
	cr_assert_eq(truncate(file, 1 << 20), 0);
	{
		const char *args[] = {
			"capture", "external", "-w", file, "--seconds", "0.2", NULL
		};

		rc = cli_run(5000, err, sizeof(err), args);
	}
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(stat(file, &st) == 0 && st.st_size >= 24 && st.st_size < 1 << 20,
	          "%s: %lld bytes", file, (long long)st.st_size);
}

/* `show` takes nothing more (`vm show` a VM's name): a word more, a
 * mistyped option, is a usage error naming it, not a silent success that
 * ignored it. */
Test(cli, show_refuses_extra_words, .init = daemon_setup, .fini = daemon_teardown, .timeout = 60)
{
	static const char *const bad[][5] = {
		{ "host", "show", "--jsno" },
		{ "host", "show", "extra" },
		{ "nic", "show", "x" },
		{ "vf", "show", "--all" },
		{ "filter", "show", "x" },
		{ "port", "show", "x" },
		{ "switch", "show", "x" },
		{ "vm", "show", "b1", "b2" },
		{ "vm", "show", "b1", "--bogus" },
	};
	char err[2048], want[64];
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *last = bad[i][3] ? bad[i][3] : bad[i][2];

		rc = cli_run(5000, err, sizeof(err), bad[i]);
		cr_assert_eq(rc, 2, "%s %s %s: exit %d", bad[i][0], bad[i][1], last, rc);
		snprintf(want, sizeof(want), "iovpath: unexpected '%s'", last);
		cr_assert(strstr(err, want), "%s %s %s: does not name it: %s", bad[i][0], bad[i][1],
		          last, err);
	}
	{
		const char *args[] = { "host", "show", "--json", NULL };

		cr_assert_eq(cli_run(5000, err, sizeof(err), args), 0, "%s", err);
	}
	{
		const char *args[] = { "vm", "show", NULL };

		cr_assert_eq(cli_run(5000, err, sizeof(err), args), 0, "%s", err);
	}
	{ /* one word after `vm show` is a VM's name: none by that name */
		const char *args[] = { "vm", "show", "nosuchvm", NULL };

		cr_assert_eq(cli_run(5000, err, sizeof(err), args), 1, "%s", err);
	}
}

/* iovpath-vm --size N and --pps R: decimal digits, in range, else exit 2
 * naming the option (a (uint32_t) cast took --size 4294967356 as 60, and
 * strtoull --pps -1 as 2^64-1). Refused before a host is looked for: no
 * daemon here, so a value let through ends in exit 1 (no such VM). */
Test(cli, vm_size_pps_checked, .init = setup, .fini = teardown, .timeout = 60)
{
	static const char *const bad[][2] = {
		{ "--size", "4294967356" },
		{ "--size", "18446744073709551676" },
		{ "--size", "-60" },
		{ "--size", "+100" },
		{ "--size", " 100" },
		{ "--size", "" },
		{ "--size", "59" },
		{ "--size", "1515" },
		{ "--pps", "-1" },
		{ "--pps", "18446744073709551616" },
		{ "--pps", "+5" },
		{ "--pps", " 5" },
		{ "--pps", "" },
		{ "--pps", "5x" },
		{ "--seconds", "nan" },
		{ "--seconds", "inf" },
		{ "--seconds", "-1" },
		{ "--seconds", "" },
	};
	static const char *const good[][2] = {
		{ "--size", "60" },   { "--size", "1514" },
		{ "--pps", "0" },     { "--pps", "18446744073709551615" },
		{ "--seconds", "0" }, { "--seconds", "0.5" },
	};
	char err[1024], want[64];
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *args[] = { "--host",     "nohost",  "--name",  "v",
			               "--endpoint", bad[i][0], bad[i][1], NULL };

		rc = prog_run("iovpath-vm", 5000, err, sizeof(err), args);
		cr_assert_eq(rc, 2, "%s '%s': exit %d: %s", bad[i][0], bad[i][1], rc, err);
		snprintf(want, sizeof(want), "iovpath-vm: %s %s:", bad[i][0], bad[i][1]);
		cr_assert(strstr(err, want), "%s '%s': %s", bad[i][0], bad[i][1], err);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		const char *args[] = { "--host",     "nohost",   "--name",   "v",
			               "--endpoint", good[i][0], good[i][1], NULL };

		rc = prog_run("iovpath-vm", 5000, err, sizeof(err), args);
		cr_assert_eq(rc, 1, "%s %s: exit %d: %s", good[i][0], good[i][1], rc, err);
	}
}

/* ---- a hostile VM against a real daemon: a raw channel, its own NVSP ---- */

static struct mgmt_client *g_mc;

/* @op with @args (taken) on g_mc; its result (the caller's). */
static json_t *dcall(const char *op, json_t *args)
{
	struct mgmt_err me = { 0 };
	json_t *r = NULL;
	int rc = mgmt_call(g_mc, op, args, &r, &me, CALL_TO_MS);

	json_decref(args);
	cr_assert_eq(rc, 0, "%s: %s", op, me.message);
	return r;
}

/* The daemon up (daemon_setup), a management connection and adapter @vm. */
static void hostile_vm_setup(const char *vm)
{
	char sock[128];

	snprintf(sock, sizeof(sock), "%s/c1.mgmt", g_dir);
	g_mc = mgmt_connect(sock);
	cr_assert(g_mc);
	json_decref(
	    dcall("vm.create", json_pack("{s:s, s:s}", "name", vm, "mac", "02:00:00:00:00:01")));
}

/* VM @vm's channel opened with its credential, rings of @ring bytes each
 * way asked for (0: the default), or NULL with @err. */
static struct vmbus_chan *raw_vm_try(const char *vm, uint32_t ring, char *err, size_t len)
{
	char sfile[128], chpath[128];
	uint8_t secret[VMBUS_SECRET_LEN];
	struct vmbus_client_opts co = { .name = vm, .secret = secret, .ring_size = { ring, ring } };

	snprintf(sfile, sizeof(sfile), "%s/%s.secret", g_dir, vm);
	snprintf(chpath, sizeof(chpath), "%s/c1.vmbus", g_dir);
	cr_assert_eq(vmproc_read_secret(sfile, secret), 0);
	return vmbus_chan_connect(chpath, &co, err, len);
}

static struct vmbus_chan *raw_vm(const char *vm)
{
	char err[256];
	struct vmbus_chan *ch = raw_vm_try(vm, 0, err, sizeof(err));

	cr_assert(ch, "%s", err);
	return ch;
}

/* One NVSP message in an in-band packet; what the host sent back is read
 * and dropped, so the host's answers never fill the ring. */
static void raw_send(struct vmbus_chan *ch, const void *m, uint32_t len)
{
	static uint8_t buf[1u << 20];
	struct iovec iov = { (void *)m, len };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };
	struct vmbus_rx pk[64];
	int r = 0;

	for (int i = 0; i < 2000 && (r = vmbus_chan_send(ch, &tx, 1)) == 0; i++) {
		vmbus_chan_recv(ch, pk, 64, buf, sizeof(buf));
		usleep(1000);
	}
	cr_assert_eq(r, 1, "the host stopped reading: %d", r);
	vmbus_chan_recv(ch, pk, 64, buf, sizeof(buf));
}

static json_int_t events_total(void)
{
	json_t *r = dcall("events.show", NULL);
	json_int_t n = json_integer_value(json_object_get(r, "total"));

	json_decref(r);
	return n;
}

/* A VM floods what it may send at will and what each makes the host say: an
 * INIT in versions the host does not speak (a notice each: it may try
 * again), then, with a VF offered, SWITCH_DATA_PATH to the VF and back (a
 * datapath.vf and a datapath.synthetic each). The log and the timeline get
 * at most ERR_PER_SEC (10) of its events a second, not one per message
 * (found: only the events named *error* were limited; 300 notices and 300
 * switches reached the timeline, pushing every other VM's events out). */
Test(hostd, a_vms_own_events_are_rate_limited, .init = daemon_setup, .fini = daemon_teardown,
     .timeout = 60)
{
	uint8_t m[NVSP_MSG_SIZE] = { 0 };
	struct vmbus_chan *ch;
	uint64_t t0;
	json_int_t e0, e1;
	double secs;

	hostile_vm_setup("v1");
	ch = raw_vm("v1");
	usleep(100000); /* vm.connect */
	e0 = events_total();
	t0 = util_now_ns();
	nvsp_encode_init(m, sizeof(m), 0x1, 0x1);
	for (int i = 0; i < 300; i++)
		raw_send(ch, m, sizeof(m));
	nvsp_encode_init(m, sizeof(m), NVSP_VERSION_61, NVSP_VERSION_61);
	raw_send(ch, m, sizeof(m));
	usleep(100000);
	json_decref(dcall("vm.attach_vf", json_pack("{s:s}", "name", "v1")));
	for (int i = 0; i < 300; i++) {
		nvsp_encode_switch_data_path(m, sizeof(m),
		                             i & 1 ? NVSP_DATAPATH_SYNTHETIC : NVSP_DATAPATH_VF);
		raw_send(ch, m, sizeof(m));
	}
	usleep(200000);
	e1 = events_total();
	secs = (double)(util_now_ns() - t0) / 1e9;
	/* per second begun: ERR_PER_SEC events and one vm.events_suppressed */
	cr_expect_leq(e1 - e0, (json_int_t)((secs + 2) * 11), "%lld events in %.1f s",
	              (long long)(e1 - e0), secs);
	json_t *r = dcall("vm.show", json_pack("{s:s}", "name", "v1"));

	cr_expect(json_is_true(json_object_get(json_array_get(r, 0), "connected")),
	          "the VM lost its channel");
	json_decref(r);
	vmbus_chan_close(ch);
	mgmt_close(g_mc);
}

/* A VM that reconnects in a loop (its credential is right each time) gets
 * at most ERR_PER_SEC of its events a second too: vm.connect and
 * vm.disconnect were published (and logged) for every round. */
Test(hostd, a_vm_reconnecting_in_a_loop_is_rate_limited, .init = daemon_setup,
     .fini = daemon_teardown, .timeout = 60)
{
	json_int_t e0, e1;
	uint64_t t0;
	double secs;

	hostile_vm_setup("v1");
	vmbus_chan_close(raw_vm("v1"));
	usleep(100000);
	e0 = events_total();
	t0 = util_now_ns();
	for (int i = 0; i < 100; i++) {
		struct vmbus_chan *ch;
		char err[256];

		/* the host may not have seen the last one leave yet: EBUSY */
		for (int t = 0; t < 100 && !(ch = raw_vm_try("v1", 0, err, sizeof(err))); t++)
			usleep(2000);
		cr_assert(ch, "round %d: %s", i, err);
		vmbus_chan_close(ch);
	}
	usleep(200000);
	e1 = events_total();
	secs = (double)(util_now_ns() - t0) / 1e9;
	cr_expect_leq(e1 - e0, (json_int_t)((secs + 2) * 11), "%lld events in %.1f s",
	              (long long)(e1 - e0), secs);
	mgmt_close(g_mc);
}

/* Lines of the daemon's log that contain @what. */
static int daemon_log_count(const char *what)
{
	char path[160], line[1024];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/daemon.log", g_dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* Anyone who can reach the VMBus socket can have a connection refused (a
 * wrong credential here): the daemon says so at most ERR_PER_SEC times a
 * second, then how many more it did not say (it logged every one). */
Test(hostd, refused_connections_do_not_flood_the_log, .init = daemon_setup, .fini = daemon_teardown,
     .timeout = 60)
{
	char chpath[128], err[256];
	uint8_t secret[VMBUS_SECRET_LEN] = { 0 };
	struct vmbus_client_opts co = { .name = "v1", .secret = secret };
	uint64_t t0;
	double secs;
	int said;

	hostile_vm_setup("v1");
	snprintf(chpath, sizeof(chpath), "%s/c1.vmbus", g_dir);
	t0 = util_now_ns();
	for (int i = 0; i < 200; i++)
		cr_assert_null(vmbus_chan_connect(chpath, &co, err, sizeof(err)));
	secs = (double)(util_now_ns() - t0) / 1e9;
	said = daemon_log_count("a VM was refused");
	cr_expect_leq(said, (int)((secs + 2) * 10), "%d lines for 200 refusals in %.1f s", said,
	              secs);
	cr_expect_gt(said, 0);
	/* how many were not said, within about a second, with nothing else
	 * happening */
	for (int i = 0; i < 40 && !daemon_log_count("more lines about connections not shown"); i++)
		usleep(100000);
	cr_expect_gt(daemon_log_count("more lines about connections not shown"), 0);
	mgmt_close(g_mc);
}

/* A line of the daemon's /proc/PID/status, in kB ("VmSize"...), or -1. */
static long daemon_status_kb(const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)g_daemon);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			kb = atol(line + n + 1);
	if (f)
		fclose(f);
	return kb;
}

/* A VM asks for rings of 1 GiB each way: it gets HOSTD_RING_MAX, and the
 * daemon's address space grows by about that, not by gigabytes (found: no
 * clamp, the host made a 2 GiB ring memfd, mapped it, and allocated a 1 GiB
 * copy buffer for the VM's packets, which a few large packets filled). */
Test(hostd, a_vms_rings_are_clamped, .init = daemon_setup, .fini = daemon_teardown, .timeout = 60)
{
	char err[256];
	struct vmbus_chan *ch;
	long vm0, vm1;

	hostile_vm_setup("v1");
	vm0 = daemon_status_kb("VmSize");
	ch = raw_vm_try("v1", 1u << 30, err, sizeof(err));
	cr_assert(ch, "%s", err);
	usleep(100000);
	vm1 = daemon_status_kb("VmSize");
	cr_expect_leq(ch->ring_size[VMBUS_C2S], HOSTD_RING_MAX);
	cr_expect_leq(ch->ring_size[VMBUS_S2C], HOSTD_RING_MAX);
	cr_expect_lt(vm1 - vm0, 4 * (long)(HOSTD_RING_MAX >> 10) + 16384,
	             "one VM's channel grew the daemon by %ld kB", vm1 - vm0);
	vmbus_chan_close(ch);
	mgmt_close(g_mc);
}

/* A VM that knows its credential says HELLO on 8 connections at a time and
 * never OPENED, again and again. The other VM keeps its service: no
 * keepalive waits for the host 100 ms (found: the host waited for each
 * OPENED HS_STEP_MS (200 ms) in its loop, and the other VM got 27
 * keepalives answered in 2 s instead of ~100000). */
static volatile int hello_stop;

static void *hello_flood(void *arg)
{
	struct vmbus_hs_msg m = { .magic = VMBUS_HS_MAGIC,
		                  .version = VMBUS_HS_VERSION,
		                  .type = VMBUS_HS_HELLO,
		                  .ring_size = { 4096, 4096 },
		                  .name = "v1" };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memcpy(m.secret, arg, VMBUS_SECRET_LEN);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/c1.vmbus", g_dir);
	while (!hello_stop) {
		int fds[8];

		for (int k = 0; k < 8; k++) {
			fds[k] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
			if (connect(fds[k], (struct sockaddr *)&sa, sizeof(sa)) == 0)
				(void)!send(fds[k], &m, sizeof(m), 0);
		}
		usleep(300000);
		for (int k = 0; k < 8; k++)
			close(fds[k]);
	}
	return NULL;
}

Test(hostd, a_vm_silent_after_its_hello_stalls_no_one, .init = daemon_setup,
     .fini = daemon_teardown, .timeout = 60)
{
	char sfile[128], chpath[128], err[256];
	uint8_t secret[VMBUS_SECRET_LEN], secret2[VMBUS_SECRET_LEN];
	struct netvsc_config c = { .path = chpath, .name = "v2", .secret = secret2 };
	struct netvsc *nv;
	uint64_t worst = 0, t0;
	unsigned int n = 0;
	pthread_t th;

	hostile_vm_setup("v1");
	json_decref(
	    dcall("vm.create", json_pack("{s:s, s:s}", "name", "v2", "mac", "02:00:00:00:00:02")));
	snprintf(sfile, sizeof(sfile), "%s/v1.secret", g_dir);
	cr_assert_eq(vmproc_read_secret(sfile, secret), 0);
	snprintf(sfile, sizeof(sfile), "%s/v2.secret", g_dir);
	cr_assert_eq(vmproc_read_secret(sfile, secret2), 0);
	snprintf(chpath, sizeof(chpath), "%s/c1.vmbus", g_dir);
	nv = netvsc_open(&c, err, sizeof(err));
	cr_assert(nv, "%s", err);
	hello_stop = 0;
	pthread_create(&th, NULL, hello_flood, secret);
	usleep(100000);
	for (t0 = util_now_ns(); util_now_ns() - t0 < 1500000000ull; n++) {
		uint64_t t = util_now_ns();

		cr_assert_eq(netvsc_keepalive(nv), 0, "%s", netvsc_last_error(nv));
		if (util_now_ns() - t > worst)
			worst = util_now_ns() - t;
	}
	hello_stop = 1;
	pthread_join(th, NULL);
	cr_expect_lt(worst, 100000000ull, "a keepalive waited %.1f ms (%u in 1.5 s)",
	             (double)worst / 1e6, n);
	netvsc_close(nv);
	mgmt_close(g_mc);
}
