/* hostd — see hostd.h. */
#include "host/hostd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "host/host_dp.h"
#include "host/mgmt.h"
#include "host/migrate.h"
#include "util/util.h"

#define MOD     "iovpathd"
#define MAX_PFD (2 * HOST_DP_MAX_VMS + NIC_MAX_VPORTS + 8)
/* busy-poll after the last work: short, 2 cores are shared with the guests
 * (bench e2e); none on one CPU (util_spin_ns) */
#define SPIN_NS       5000ull
#define CTL_EVERY     256u   /* datapath passes between looks at the control descriptors */
#define HISTORY       512u   /* events kept */
#define SHOW_MAX      128u   /* events.show answers with the last ones (one reply) */
#define ERR_PER_SEC       10u    /* a VM's events a second; lines about connections a second */
#define PENDING_MAX   16u    /* VM connections waiting for their HELLO */
#define PENDING_MS    1000u  /* ... at most this long */
#define HS_STEP_MS    200u   /* the handshake's later steps, per step */
#define MIGR_PENDING  4u     /* migration connections waiting for their request */
#define MIGR_TOKENS   8u     /* migration tokens outstanding */
#define MIGR_TOKEN_MS 30000u /* a token's life */
#define MIGR_WAIT_MS      3000   /* the source waits this long for the destination, per step */
#define MIGR_OUT_MAX      8u     /* vm.migrate requests waiting for their destinations */
#define MIGR_OUT_CHECK_MS 50     /* ...the loop looks at their deadlines this often */
#define FWD_CHECK_MS  10     /* while forwarding, the loop looks at least this often */

/* A per-second limit on things a peer causes at will (log lines, events):
 * rate_over says whether one more this second is over the limit, and hands
 * out once, in the next second, how many were (for the caller to say). */
struct rate {
	uint64_t sec;
	unsigned int n;
	uint64_t over;
};

/* How many were over in a second that is past (0: none, or still this
 * second); taken once. */
static uint64_t rate_missed(struct rate *r)
{
	uint64_t sec = util_now_ns() / 1000000000ull, missed = 0;

	if (sec != r->sec) {
		missed = r->over;
		*r = (struct rate){ .sec = sec };
	}
	return missed;
}

static bool rate_over(struct rate *r, unsigned int per_sec, uint64_t *missed)
{
	*missed = rate_missed(r);
	if (++r->n <= per_sec)
		return false;
	r->over++;
	return true;
}

/* The daemon's lines about connections before any credential (anyone who
 * can reach the socket causes them): ERR_PER_SEC a second. One daemon per
 * process. */
static struct rate conn_lines;

static void conn_lines_missed(uint64_t missed)
{
	if (missed)
		log_warn(MOD, "%llu more lines about connections not shown",
		         (unsigned long long)missed);
}

static bool conn_line_ok(void)
{
	uint64_t missed;
	bool over = rate_over(&conn_lines, ERR_PER_SEC, &missed);

	conn_lines_missed(missed);
	return !over;
}

/* A connection accepted and waiting, without blocking the loop, for its
 * first message (or PENDING_MS): a peer that connects and stays silent
 * costs the daemon nothing. fd -1: a free slot. A VM connection waits so
 * for its OPENED too, after the OFFER (ch: its channel, which owns fd). */
struct pending {
	int fd;
	uint64_t deadline;
	struct vmbus_chan *ch;
};

struct hostd;

struct adapter {
	struct hostd *d;
	bool used;
	char name[VMBUS_NAME_MAX];
	uint8_t mac[6];
	uint16_t vlan;
	uint8_t secret[VMBUS_SECRET_LEN];
	int vm; /* host_dp id while connected, else -1 */
	uint64_t connects;
	/* host_dp's events for this VM: at most ERR_PER_SEC logged and
	 * published each second, the rest counted (a hostile VM can't flood:
	 * it causes most of them at will, errors or not) */
	struct rate events;
	/* live migration */
	char migrating_to[VMBUS_NAME_MAX]; /* out: the host it goes to, while it goes */
	char came_from[VMBUS_NAME_MAX];    /* in: the host it came from last */
	uint64_t migrations;
	json_t *earlier; /* its counters on the hosts before this one (NULL: none) */
	/* the migration's forwarding connection (migrate.h): out, on the source,
	 * from the VM's HALT until its port goes; in, on the destination, until
	 * the source closes it */
	struct migr_fwd *fwd;
	bool fwd_out;
	int fwd_vm;             /* out: the host_dp id of the port left behind (VM gone), or -1 */
	uint64_t fwd_since;     /* out: when its VM left; in: when the connection came */
	uint64_t fwd_last;      /* out: the last frame forwarded */
	uint64_t migr_deadline; /* out: the VM has left by then, or it stays (MIGR_HALT_MS) */
	int fwd_err;            /* out: the connection failed (negative errno) */
	bool came;              /* a VM connected to this adapter on this host */
	struct migr_out *mo;    /* out: its vm.migrate, waiting for the destination */
};

/* A vm.migrate waiting for its destination without holding up the loop (the
 * datapath, other requests): the connection, then the reply, each within
 * MIGR_WAIT_MS; its request is answered then (mgmt_answer). */
struct migr_out {
	int fd;
	bool sent;         /* the request is out: the reply is awaited */
	uint64_t ticket;   /* of the vm.migrate request */
	uint64_t deadline; /* of this step */
	char addr[32];     /* where to */
	char *req;         /* the request, sent once connected */
	size_t len;
	struct migr_rd rd; /* the reply, as far as it came */
};

struct hostd {
	struct hostd_config cfg;
	char run_dir[128];
	char mgmt_path[192], vmbus_path[192];
	int lock_fd, vmbus_fd, sig_fd;
	struct pending pend[PENDING_MAX];
	struct nic *nic;
	struct port *wire;
	struct host_dp *dp;
	struct mgmt_server *mgmt;
	struct adapter ad[HOSTD_MAX_ADAPTERS];
	uint64_t missed_sec; /* expire_pending's look at the rate limits */
	bool events_held;    /* a VM's events were held back: look again in 1 s */
	unsigned int nfwd; /* adapters with a forwarding connection */
	unsigned int nmo;  /* adapters with a vm.migrate waiting (a->mo) */
	/* live migration in: the listener, its connections waiting for their
	 * request, and the one-time tokens vm.migrate_accept handed out */
	int migr_fd;
	char migr_addr[32];
	struct pending mpend[MIGR_PENDING];
	struct migr_rd mrd[MIGR_PENDING]; /* each one's request, as far as it came */
	uint64_t mrd_for[MIGR_PENDING];   /* the connection's (its deadline, set at accept) */
	struct {
		uint8_t token[MIGR_TOKEN_LEN];
		uint64_t deadline; /* 0: free */
	} tok[MIGR_TOKENS];
	uint64_t t0;
	bool started, stop;
	unsigned int vf_timeout_ms;
	/* the timeline `iovpath events` prints: the last HISTORY events */
	json_t *hist[HISTORY];
	unsigned int nhist;
};

static void publish(struct hostd *d, const char *event, json_t *data)
{
	struct timespec ts;
	unsigned int slot = d->nhist++ % HISTORY;

	if (!data)
		data = json_object();
	clock_gettime(CLOCK_REALTIME, &ts);
	json_decref(d->hist[slot]);
	/* seq: the management socket numbers its events the same way (1, 2, …) */
	d->hist[slot] =
	    json_pack("{s:s, s:I, s:I, s:O}", "event", event, "seq", (json_int_t)d->nhist, "ts_ns",
	              (json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec, "data", data);
	if (d->mgmt)
		mgmt_event_publish(d->mgmt, event, data);
	else
		json_decref(data);
}

static int op_events_show(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct hostd *d = ctx;
	unsigned int n = d->nhist < SHOW_MAX ? d->nhist : SHOW_MAX;
	json_t *ev = json_array();

	for (unsigned int i = d->nhist - n; i != d->nhist; i++)
		if (d->hist[i % HISTORY])
			json_array_append(ev, d->hist[i % HISTORY]);
	*res = json_pack("{s:o, s:i}", "events", ev, "total", (int)d->nhist);
	return *res ? 0 : -ENOMEM;
}

static struct adapter *find(struct hostd *d, const char *name)
{
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
		if (d->ad[i].used && !strcmp(d->ad[i].name, name))
			return &d->ad[i];
	return NULL;
}

/* ---- the VMBus listener: a VM opens its adapter with its credential ---- */

static int check_cred(const char *name, const uint8_t *secret, void *arg)
{
	struct hostd *d = arg;
	struct adapter *a = find(d, name);
	uint8_t diff = 0;

	if (!a)
		return -ENOENT;
	for (unsigned int i = 0; i < VMBUS_SECRET_LEN; i++) /* constant time */
		diff |= (uint8_t)(a->secret[i] ^ secret[i]);
	if (diff)
		return -EACCES;
	if (a->vm >= 0 || a->fwd_vm >= 0) /* connected; or it left, its port forwarding */
		return -EBUSY;
	return 0;
}

/* Accept one connection on @lfd into a free slot of @p (@n of them); with
 * none free it is closed, and said: "more than N @what: one refused". */
static void pending_accept(int lfd, struct pending *p, unsigned int n, const char *what)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	unsigned int i;

	if (fd < 0)
		return;
	for (i = 0; i < n && p[i].fd >= 0; i++)
		;
	if (i == n) {
		if (conn_line_ok())
			log_warn(MOD, "more than %u %s: one refused", n, what);
		close(fd);
		return;
	}
	p[i].fd = fd;
	p[i].deadline = util_now_ns() + PENDING_MS * 1000000ull;
	p[i].ch = NULL;
}

/* Close pending connection @p (its channel, if it has one). */
static void pending_close(struct pending *p)
{
	if (p->ch)
		vmbus_chan_close(p->ch);
	else
		close(p->fd);
	p->fd = -1;
	p->ch = NULL;
}

/* Close the connections of @p past their deadline: "a @what in N ms". */
static void pending_expire(struct pending *p, unsigned int n, const char *what)
{
	uint64_t now = util_now_ns();

	for (unsigned int i = 0; i < n; i++)
		if (p[i].fd >= 0 && now > p[i].deadline) {
			if (conn_line_ok())
				log_warn(MOD, "a %s in %u ms: closed", what, PENDING_MS);
			pending_close(&p[i]);
		}
}

/* Say that @missed of @a's events were held back (vm.events_suppressed). */
static void vm_events_missed(struct hostd *d, struct adapter *a, uint64_t missed)
{
	if (missed) {
		log_warn(MOD, "VM %s: %llu more events not shown", a->name,
		         (unsigned long long)missed);
		publish(d, "vm.events_suppressed",
		        json_pack("{s:s, s:I}", "vm", a->name, "count", (json_int_t)missed));
	}
}

/* A VM causes most of its events at will (a message, a reconnection): true
 * when @a's event is one too many this second (counted, and said once the
 * second is over as vm.events_suppressed), so a hostile VM can't flood the
 * log and push every other VM's events out of the timeline. */
static bool vm_event_limited(struct hostd *d, struct adapter *a)
{
	uint64_t missed;
	bool over = rate_over(&a->events, ERR_PER_SEC, &missed);

	vm_events_missed(d, a, missed);
	d->events_held |= over;
	return over;
}

/* Pending connection @i has a message: its HELLO (check it, send the
 * OFFER; the OPENED is waited for in the slot like the HELLO, never in the
 * loop: a VM that proved its credential and stays silent, again and again,
 * must not hold up every other VM), or its OPENED (the adapter is up). */
static void accept_vm(struct hostd *d, unsigned int i)
{
	struct vmbus_server_opts so = { .max_ring_size = HOSTD_RING_MAX,
		                        .timeout_ms = HS_STEP_MS,
		                        .check = check_cred,
		                        .check_arg = d,
		                        .no_wait_opened = true };
	struct pending *p = &d->pend[i];
	char err[256];
	int fd = p->fd, fl = fcntl(fd, F_GETFL), r;
	struct vmbus_chan *ch = p->ch;
	struct adapter *a;
	struct host_vm_config vc = { 0 };

	if (!ch) {
		p->fd = -1;
		if (fl >= 0) /* vmbus_chan_serve waits with poll() */
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		ch = vmbus_chan_serve(fd, &so, err, sizeof(err));
		if (!ch) {
			if (conn_line_ok())
				log_warn(MOD, "a VM was refused: %s", err);
			return;
		}
		p->fd = ch->sock;
		p->ch = ch;
		return;
	}
	r = vmbus_chan_serve_finish(ch, err, sizeof(err));
	if (r == 0)
		return;
	p->fd = -1;
	p->ch = NULL;
	if (r < 0) {
		if (conn_line_ok())
			log_warn(MOD, "a VM was refused: %s", err);
		vmbus_chan_close(ch);
		return;
	}
	a = find(d, ch->name);
	/* deleted during the handshake, or another connection got it first */
	if (!a || check_cred(a->name, a->secret, d)) {
		vmbus_chan_close(ch);
		return;
	}
	vc.name = a->name;
	memcpy(vc.mac, a->mac, 6);
	vc.vlan = a->vlan;
	a->vm = host_dp_vm_add(d->dp, ch, &vc);
	if (a->vm < 0) {
		log_err(MOD, "VM %s: %s", a->name, strerror(-a->vm));
		a->vm = -1;
		return;
	}
	a->connects++;
	a->came = true;
	if (!vm_event_limited(d, a)) {
		log_info(MOD, "VM %s connected", a->name);
		publish(d, "vm.connect", json_pack("{s:s}", "vm", a->name));
	}
}

static void expire_pending(struct hostd *d)
{
	uint64_t sec = util_now_ns() / 1000000000ull;

	/* what the limits kept back in a second past, said without waiting
	 * for the next event (looked at once a second) */
	if (sec != d->missed_sec) {
		d->missed_sec = sec;
		conn_lines_missed(rate_missed(&conn_lines));
		d->events_held = false;
		for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
			if (d->ad[i].used && d->ad[i].events.over) {
				vm_events_missed(d, &d->ad[i], rate_missed(&d->ad[i].events));
				d->events_held |= d->ad[i].events.over != 0; /* this second's */
			}
	}
	pending_expire(d->pend, PENDING_MAX, "VM connection did not finish its handshake");
	pending_expire(d->mpend, MIGR_PENDING, "migration connection sent no request");
}

static void adapter_remove(struct hostd *d, struct adapter *a);

static void vm_gone(struct hostd *d, int vm)
{
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++) {
		struct adapter *a = &d->ad[i];

		if (!a->used || a->vm != vm)
			continue;
		struct netvsp *v = host_dp_netvsp(d->dp, vm);
		bool said = !vm_event_limited(d, a); /* a VM may reconnect in a loop */

		if (said)
			log_info(MOD, "VM %s disconnected%s%s", a->name,
			         v && netvsp_last_error(v)[0] ? ": " : "",
			         v ? netvsp_last_error(v) : "");
		if (a->fwd && a->fwd_out) { /* its port forwards a while longer */
			host_dp_vm_unplug(d->dp, vm);
			a->fwd_vm = vm;
			a->fwd_since = util_now_ns();
		} else {
			host_dp_vm_remove(d->dp, vm);
		}
		a->vm = -1;
		if (said)
			publish(d, "vm.disconnect", json_pack("{s:s}", "vm", a->name));
		if (a->migrating_to[0]) { /* it left for its new host: the port goes */
			log_info(MOD, "VM %s: migrated to host %s", a->name, a->migrating_to);
			publish(d, "vm.migrated",
			        json_pack("{s:s, s:s}", "vm", a->name, "to", a->migrating_to));
			if (!a->fwd)
				adapter_remove(d, a);
		}
	}
}

/* VF and protocol events of host_dp: the timeline and the log. */
static void dp_event(void *ctx, int vm, const char *event, const char *detail)
{
	struct hostd *d = ctx;
	struct adapter *a = NULL;
	const char *name = "?";
	bool error = strstr(event, "error") != NULL;

	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
		if (d->ad[i].used && d->ad[i].vm == vm)
			a = &d->ad[i];
	if (a)
		name = a->name;
	if (a && vm_event_limited(d, a))
		return;
	if (error || strstr(event, "failed") || strstr(event, "surprise"))
		log_warn(MOD, "VM %s: %s%s%s", name, event, detail[0] ? ": " : "", detail);
	else
		log_info(MOD, "VM %s: %s%s%s", name, event, detail[0] ? ": " : "", detail);
	publish(d, event, json_pack("{s:s, s:s}", "vm", name, "detail", detail));
}

/* ---- management operations ---- */

static int op_host_show(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct hostd *d = ctx;
	unsigned int vms = 0;
	char cpus[128];

	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
		vms += d->ad[i].used;
	util_cpus_self(cpus, sizeof(cpus));
	*res = json_pack("{s:s, s:i, s:i, s:s, s:i, s:i, s:f, s:s, s:s, s:i, s:s, s:s}", "name",
	                 d->cfg.name, "pid", (int)getpid(), "version", 1, "port",
	                 d->cfg.port ? d->cfg.port : "", "vfs", (int)d->cfg.vfs, "vms", (int)vms,
	                 "uptime_s", (double)(util_now_ns() - d->t0) / 1e9, "mgmt", d->mgmt_path,
	                 "channel", d->vmbus_path, "vf_timeout_ms", (int)d->vf_timeout_ms,
	                 "migrate", d->migr_fd >= 0 ? d->migr_addr : "", "cpus", cpus);
	return *res ? 0 : -ENOMEM;
}

static int write_secret(struct hostd *d, struct adapter *a, char *path, size_t len)
{
	char hex[2 * VMBUS_SECRET_LEN + 2];
	int fd;

	snprintf(path, len, "%s/%s.secret", d->run_dir, a->name);
	for (unsigned int i = 0; i < VMBUS_SECRET_LEN; i++)
		sprintf(hex + 2 * i, "%02x", a->secret[i]);
	strcat(hex, "\n");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* A new adapter: the port's policies checked (a good name, not taken, a
 * free slot, a MAC no other VM has), a new credential written. vm.create's
 * and a migration's (the destination's validation port). */
static int adapter_add(struct hostd *d, const char *name, const uint8_t mac[6], uint16_t vlan,
                       struct adapter **out, struct mgmt_err *err)
{
	struct adapter *a = NULL;
	char path[256], macs[18];

	util_mac_fmt(mac, macs);
	if (!mgmt_name_ok(name) || strchr(name, '.') || strlen(name) >= VMBUS_NAME_MAX ||
	    !strcmp(name, "external"))
		return mgmt_err_set(err, EINVAL,
		                    "names are [a-z][a-z0-9_-]*, shorter than 32, not \"external\" "
		                    "(the switch's port to the NIC)",
		                    "bad VM name \"%s\"", name);
	if (find(d, name))
		return mgmt_err_set(err, EEXIST, "iovpath vm show lists the VMs",
		                    "a VM named %s exists", name);
	if ((mac[0] & 1) || !memcmp(mac, "\0\0\0\0\0\0", 6))
		return mgmt_err_set(err, EINVAL, "give a unicast MAC like 02:00:5e:00:00:01",
		                    "bad MAC \"%s\"", macs);
	if (vlan > 4094)
		return mgmt_err_set(err, EINVAL, NULL, "VLAN %u: 0..4094", vlan);
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
		if (d->ad[i].used && !memcmp(d->ad[i].mac, mac, 6))
			return mgmt_err_set(err, EEXIST, NULL, "VM %s has MAC %s already",
			                    d->ad[i].name, macs);
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS && !a; i++)
		if (!d->ad[i].used)
			a = &d->ad[i];
	if (!a)
		return mgmt_err_set(err, ENOSPC, "delete a VM first", "%u VMs is the limit",
		                    HOSTD_MAX_ADAPTERS);
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	memcpy(a->mac, mac, 6);
	a->vlan = vlan;
	a->d = d;
	a->vm = -1;
	a->fwd_vm = -1;
	if (getrandom(a->secret, sizeof(a->secret), 0) != (ssize_t)sizeof(a->secret) ||
	    write_secret(d, a, path, sizeof(path)))
		return mgmt_err_set(err, EIO, NULL, "cannot make the credential of %s", name);
	a->used = true;
	*out = a;
	return 0;
}

static void migr_out_end(struct hostd *d, struct adapter *a, int r, const struct migr_reply *rp,
                         const char *why);

/* Forget adapter @a (its VM's channel closed first). Its credential file
 * goes too, unless it holds another's now (a migrated VM's new host may
 * share the run directory). */
static void adapter_remove(struct hostd *d, struct adapter *a)
{
	char path[256], hex[2 * VMBUS_SECRET_LEN + 2] = "", mine[2 * VMBUS_SECRET_LEN + 1];
	int fd;

	if (a->mo)
		migr_out_end(d, a, -ECANCELED, NULL, "the VM was deleted");
	if (a->vm >= 0)
		host_dp_vm_remove(d->dp, a->vm);
	if (a->fwd_vm >= 0)
		host_dp_vm_remove(d->dp, a->fwd_vm);
	if (a->fwd) {
		migr_fwd_free(a->fwd);
		d->nfwd--;
	}
	a->fwd = NULL;
	a->fwd_vm = -1;
	snprintf(path, sizeof(path), "%s/%s.secret", d->run_dir, a->name);
	migr_hex(a->secret, VMBUS_SECRET_LEN, mine);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, hex, sizeof(hex) - 1);

		close(fd);
		hex[n > 0 ? n : 0] = '\0';
		if (!strncmp(hex, mine, 2 * VMBUS_SECRET_LEN))
			unlink(path);
	}
	json_decref(a->earlier);
	a->earlier = NULL;
	a->used = false;
	a->vm = -1;
}

static int op_vm_create(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	static const char *const known[] = { "name", "mac", "vlan", NULL };
	struct hostd *d = ctx;
	const char *name = NULL, *mac = NULL;
	json_int_t vlan = 0;
	struct adapter *a = NULL;
	uint8_t m[6];
	char path[256], macs[18];
	int r;

	if ((r = mgmt_args_only(args, known, err)) ||
	    (r = mgmt_arg_str(args, "name", true, &name, err)) ||
	    (r = mgmt_arg_str(args, "mac", true, &mac, err)) ||
	    (r = mgmt_arg_int(args, "vlan", false, 0, 4094, &vlan, err)))
		return r;
	if (util_mac_parse(mac, m))
		return mgmt_err_set(err, EINVAL, "give a unicast MAC like 02:00:5e:00:00:01",
		                    "bad MAC \"%s\"", mac);
	if ((r = adapter_add(d, name, m, (uint16_t)vlan, &a, err)))
		return r;
	snprintf(path, sizeof(path), "%s/%s.secret", d->run_dir, a->name);
	util_mac_fmt(a->mac, macs);
	*res = json_pack("{s:s, s:s, s:i, s:s, s:s}", "name", a->name, "mac", macs, "vlan",
	                 (int)vlan, "secret_file", path, "channel", d->vmbus_path);
	publish(d, "vm.create", json_pack("{s:s, s:s}", "vm", a->name, "mac", macs));
	return 0;
}

static int need_vm(struct hostd *d, json_t *args, struct adapter **a, struct mgmt_err *err)
{
	const char *name = NULL;
	int r = mgmt_arg_str(args, "name", true, &name, err);

	if (r)
		return r;
	*a = find(d, name);
	if (!*a)
		return mgmt_err_set(err, ENOENT, "iovpath vm show lists the VMs", "no VM named %s",
		                    name);
	return 0;
}

/* vm.set {name, mac?, vlan?}: the adapter's settings. They are the host's
 * side of the adapter (its switch port, its NIC filter, its VF's config
 * blocks), applied when the VM's process connects: changing them under a
 * connected VM would pull its MAC away from its guest, so that is refused. */
static int op_vm_set(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	static const char *const known[] = { "name", "mac", "vlan", NULL };
	struct hostd *d = ctx;
	struct adapter *a;
	const char *mac = NULL;
	json_int_t vlan = -1;
	uint8_t m[6];
	char macs[18];
	int r;

	if ((r = mgmt_args_only(args, known, err)) || (r = need_vm(d, args, &a, err)) ||
	    (r = mgmt_arg_str(args, "mac", false, &mac, err)) ||
	    (r = mgmt_arg_int(args, "vlan", false, 0, 4094, &vlan, err)))
		return r;
	if (!mac && vlan < 0)
		return mgmt_err_set(err, EINVAL, "iovpath vm set VM mac MAC | vlan V",
		                    "nothing to set");
	if (a->vm >= 0)
		return mgmt_err_set(err, EBUSY,
		                    "stop its iovpath-vm, set, then start it again (the guest "
		                    "reads its MAC when its adapter opens)",
		                    "VM %s is connected", a->name);
	if (mac) {
		if (util_mac_parse(mac, m) || (m[0] & 1) || !memcmp(m, "\0\0\0\0\0\0", 6))
			return mgmt_err_set(err, EINVAL,
			                    "give a unicast MAC like 02:00:5e:00:00:01",
			                    "bad MAC \"%s\"", mac);
		for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
			if (d->ad[i].used && &d->ad[i] != a && !memcmp(d->ad[i].mac, m, 6))
				return mgmt_err_set(err, EEXIST, NULL, "VM %s has MAC %s already",
				                    d->ad[i].name, mac);
		memcpy(a->mac, m, 6);
	}
	if (vlan >= 0)
		a->vlan = (uint16_t)vlan;
	util_mac_fmt(a->mac, macs);
	*res = json_pack("{s:s, s:s, s:i}", "name", a->name, "mac", macs, "vlan", (int)a->vlan);
	publish(d, "vm.set",
	        json_pack("{s:s, s:s, s:i}", "vm", a->name, "mac", macs, "vlan", (int)a->vlan));
	return 0;
}

/* host.set {vf_timeout_ms}: how long a VF removal waits for the VM before it
 * becomes a surprise removal. */
static int op_host_set(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	static const char *const known[] = { "vf_timeout_ms", NULL };
	struct hostd *d = ctx;
	json_int_t ms = -1;
	int r;

	if ((r = mgmt_args_only(args, known, err)) ||
	    (r = mgmt_arg_int(args, "vf_timeout_ms", true, 10, 60000, &ms, err)))
		return r;
	host_dp_set_vf_timeout(d->dp, (unsigned int)ms);
	d->vf_timeout_ms = (unsigned int)ms;
	*res = json_pack("{s:i}", "vf_timeout_ms", (int)ms);
	return *res ? 0 : -ENOMEM;
}

static int op_vm_delete(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct hostd *d = ctx;
	struct adapter *a;
	int r = need_vm(d, args, &a, err);

	if (r)
		return r;
	publish(d, "vm.delete", json_pack("{s:s}", "vm", a->name));
	adapter_remove(d, a);
	*res = json_object();
	return 0;
}

static json_t *vm_json(struct hostd *d, struct adapter *a)
{
	char macs[18];
	struct netvsp *v = host_dp_netvsp(d->dp, a->vm);
	struct host_vf_info vi = { .vf = -1 };
	json_t *j;

	util_mac_fmt(a->mac, macs);
	if (v)
		host_dp_vf_info(d->dp, a->vm, &vi);
	j = json_pack("{s:s, s:s, s:i, s:b, s:i, s:s, s:s, s:i, s:i, s:I}", "name", a->name, "mac",
	              macs, "vlan", a->vlan, "connected", v != NULL, "nvsp_version",
	              v ? (int)netvsp_version(v) : 0, "datapath",
	              vi.datapath == NVSP_DATAPATH_VF ? "vf" : "synthetic", "vf_state",
	              host_vf_state_name(vi.state), "vf", vi.vf, "switch_port",
	              host_dp_vm_port(d->dp, a->vm), "connects", (json_int_t)a->connects);
	/* moving, or moved and its port forwarding what still comes here */
	if (j && a->migrating_to[0])
		json_object_set_new(j, "migrating_to", json_string(a->migrating_to));
	if (j && a->fwd)
		json_object_set_new(j, "forwarding", json_true());
	return j;
}

static int op_vm_show(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct hostd *d = ctx;
	const char *name = NULL;
	int r = mgmt_arg_str(args, "name", false, &name, err);

	if (r)
		return r;
	if (name) {
		struct adapter *a = find(d, name);

		if (!a)
			return mgmt_err_set(err, ENOENT, "iovpath vm show lists the VMs",
			                    "no VM named %s", name);
		*res = json_pack("[o]", vm_json(d, a));
		return *res ? 0 : -ENOMEM;
	}
	*res = json_array();
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
		if (d->ad[i].used)
			json_array_append_new(*res, vm_json(d, &d->ad[i]));
	return 0;
}

/* vm.stats of @a on this host (a new reference; NULL on ENOMEM). */
static json_t *vm_stats_json(struct hostd *d, struct adapter *a)
{
	struct netvsp_stats st = { 0 };
	struct vsw_port_info pi = { 0 };
	struct host_vf_info vi = { .vf = -1 };

	if (a->vm >= 0) {
		netvsp_get_stats(host_dp_netvsp(d->dp, a->vm), &st);
		vsw_port_get(host_dp_vsw(d->dp), (unsigned int)host_dp_vm_port(d->dp, a->vm), &pi);
		host_dp_vf_info(d->dp, a->vm, &vi);
	}
	/* Named as the guest's netvsc shows them (ethtool -S): rx = towards the
	 * VM. Synthetic: what NetVSP moved; VF: what the NIC moved on the VF's
	 * VPort (the host's software is not on that path). */
	return json_pack(
	    "{s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:i},"
	    " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
	    "vm", a->name, "datapath", vi.datapath == NVSP_DATAPATH_VF ? "vf" : "synthetic",
	    "vf_state", host_vf_state_name(vi.state), "synthetic", "rx_packets",
	    (json_int_t)st.tx_frames, "rx_bytes", (json_int_t)st.tx_bytes, "tx_packets",
	    (json_int_t)st.rx_frames, "tx_bytes", (json_int_t)st.rx_bytes, "tx_send_full",
	    (json_int_t)st.tx_no_room, "vf", "vf_rx_packets", (json_int_t)vi.rx_frames,
	    "vf_rx_bytes", (json_int_t)vi.rx_bytes, "vf_tx_packets", (json_int_t)vi.tx_frames,
	    "vf_tx_bytes", (json_int_t)vi.tx_bytes, "vf_tx_dropped", (json_int_t)vi.tx_drops,
	    "vf_rx_dropped", (json_int_t)vi.rx_drops, "vf", vi.vf, "host", "bad_nvsp",
	    (json_int_t)st.bad_nvsp, "bad_rndis", (json_int_t)st.bad_rndis, "bad_section",
	    (json_int_t)st.bad_section, "bad_completion", (json_int_t)st.bad_completion, "ctl_msgs",
	    (json_int_t)st.ctl_msgs, "switch_drops_spoof",
	    (json_int_t)pi.stats.drops[VSW_DROP_SPOOF], "switch_drops_vlan",
	    (json_int_t)pi.stats.drops[VSW_DROP_VLAN], "switch_drops_port_full",
	    (json_int_t)pi.stats.drops[VSW_DROP_PORT_FULL], "rx_filtered",
	    (json_int_t)st.tx_filtered, "vf_attaches", (json_int_t)vi.attaches, "vf_removals",
	    (json_int_t)vi.removals, "vf_surprise_removals", (json_int_t)vi.surprise_removals);
}

/* The counters a migrating VM takes along: this host's plus the earlier
 * hosts' (a new reference). */
static json_t *vm_counters_all(struct hostd *d, struct adapter *a)
{
	json_t *all = json_object(), *here = vm_stats_json(d, a);

	migr_counters_add(all, here, 0);
	migr_counters_add(all, a->earlier, 0);
	json_decref(here);
	return all;
}

static int op_vm_stats(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct hostd *d = ctx;
	struct adapter *a;
	int r = need_vm(d, args, &a, err);

	if (r)
		return r;
	*res = vm_stats_json(d, a);
	if (*res && a->migrations) { /* what it moved on the hosts before */
		json_object_set_new(*res, "migrations", json_integer((json_int_t)a->migrations));
		json_object_set(*res, "before_migration", a->earlier);
	}
	return *res ? 0 : -ENOMEM;
}

static int op_vm_attach_vf(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct hostd *d = ctx;
	struct adapter *a;
	struct host_vf_info vi;
	char why[256] = "";
	int r = need_vm(d, args, &a, err);

	if (r)
		return r;
	if (a->vm < 0)
		return mgmt_err_set(err, ENOTCONN,
		                    "start its VM process: iovpath-vm --host HOST --name VM",
		                    "VM %s is not connected", a->name);
	if (a->migrating_to[0])
		return mgmt_err_set(err, EBUSY, NULL, "VM %s is migrating to host %s", a->name,
		                    a->migrating_to);
	r = host_dp_vf_attach(d->dp, a->vm, why, sizeof(why));
	if (r < 0)
		return mgmt_err_set(err, -r,
		                    r == -ENOSPC
		                        ? "the VM stays synthetic; detach-vf another VM, or "
		                          "start iovpathd with more --vfs"
		                        : NULL,
		                    "VM %s: %s", a->name, why[0] ? why : strerror(-r));
	host_dp_vf_info(d->dp, a->vm, &vi);
	*res = json_pack("{s:s, s:i, s:i, s:I, s:s}", "vm", a->name, "vf", vi.vf, "vport", vi.vport,
	                 "serial", (json_int_t)vi.serial, "state", host_vf_state_name(vi.state));
	return *res ? 0 : -ENOMEM;
}

static int op_vm_detach_vf(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	static const char *const known[] = { "name", "surprise", NULL };
	struct hostd *d = ctx;
	struct adapter *a;
	json_t *sur = json_object_get(args, "surprise");
	char why[256] = "";
	int r;

	if ((r = mgmt_args_only(args, known, err)) || (r = need_vm(d, args, &a, err)))
		return r;
	if (sur && !json_is_boolean(sur))
		return mgmt_err_set(err, EINVAL, NULL, "\"surprise\" must be true or false");
	if (a->vm < 0)
		return mgmt_err_set(err, ENOTCONN, NULL, "VM %s is not connected", a->name);
	r = host_dp_vf_detach(d->dp, a->vm, json_is_true(sur), why, sizeof(why));
	if (r < 0)
		return mgmt_err_set(err, -r,
		                    r == -ENOENT ? "iovpath vm show lists each VM's VF" : NULL,
		                    "VM %s: %s", a->name, why[0] ? why : strerror(-r));
	*res = json_pack("{s:s, s:s}", "vm", a->name, "state", "removing");
	return *res ? 0 : -ENOMEM;
}

static int dump_port(void *arg, const struct vsw_port_info *pi)
{
	json_t *ports = arg, *drops = json_object();

	for (int r = 1; r < VSW_DROP_MAX; r++)
		if (pi->stats.drops[r])
			json_object_set_new(drops, vsw_drop_name((enum vsw_drop)r),
			                    json_integer((json_int_t)pi->stats.drops[r]));
	json_array_append_new(
	    ports,
	    json_pack("{s:i, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:o}", "id", (int)pi->id,
	              "name", pi->name, "kind", vsw_port_kind_name(pi->kind), "vlan_mode",
	              vsw_vlan_mode_name(pi->vlan.mode), "access_vlan", (int)pi->vlan.access_vlan,
	              "rx_frames", (json_int_t)pi->stats.rx_frames, "rx_bytes",
	              (json_int_t)pi->stats.rx_bytes, "tx_frames", (json_int_t)pi->stats.tx_frames,
	              "tx_bytes", (json_int_t)pi->stats.tx_bytes, "drops", drops));
	return 0;
}

static int op_switch_show(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct hostd *d = ctx;
	struct vsw_dump_ops ops = { .port = dump_port };
	json_t *ports = json_array();
	struct vsw_stats st;

	vsw_dump(host_dp_vsw(d->dp), &ops, ports);
	vsw_get_stats(host_dp_vsw(d->dp), &st);
	*res =
	    json_pack("{s:o, s:i, s:I, s:I}", "ports", ports, "macs", (int)st.macs, "mac_learned",
	              (json_int_t)st.mac_learned, "mac_aged", (json_int_t)st.mac_aged);
	return *res ? 0 : -ENOMEM;
}

struct nic_dump_ctx {
	struct hostd *d;
	json_t *vfs, *vports, *filters;
};

static int dump_vf(void *arg, const struct nic_vf_info *vf)
{
	struct nic_dump_ctx *c = arg;
	char macs[18];

	util_mac_fmt(vf->mac, macs);
	json_array_append_new(c->vfs,
	                      json_pack("{s:i, s:s, s:I, s:i, s:s}", "id", (int)vf->id, "mac", macs,
	                                "serial", (json_int_t)vf->serial, "vport", vf->vport,
	                                "power", vf->power == NIC_POWER_D0 ? "D0" : "D3hot"));
	return 0;
}

static int dump_vport(void *arg, const struct nic_vport_info *vi)
{
	struct nic_dump_ctx *c = arg;
	struct nic_port_stats ps;
	uint64_t drops = 0;

	nic_port_stats(c->d->nic, vi->id, &ps);
	for (unsigned int r = 0; r < NIC_DROP_MAX; r++)
		drops += ps.drops[r];
	json_array_append_new(
	    c->vports, json_pack("{s:i, s:s, s:i, s:i, s:b, s:i, s:I, s:I, s:I}", "id", (int)vi->id,
	                         "attached", vi->vf < 0 ? "PF" : "VF", "vf", vi->vf, "queue_pairs",
	                         (int)vi->nqp, "active", vi->active, "filters", (int)vi->nfilters,
	                         "rx_frames", (json_int_t)ps.rx_frames, "tx_frames",
	                         (json_int_t)ps.tx_frames, "drops", (json_int_t)drops));
	return 0;
}

static int dump_filter(void *arg, const struct nic_filter_info *f)
{
	struct nic_dump_ctx *c = arg;
	char macs[18];

	util_mac_fmt(f->mac, macs);
	json_array_append_new(
	    c->filters,
	    json_pack("{s:s, s:o, s:i}", "mac", macs, "vlan",
	              f->vlan == NIC_VLAN_NONE ? json_string("untagged/0") : json_integer(f->vlan),
	              "vport", (int)f->vport));
	return 0;
}

static int op_nic_show(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct nic_dump_ctx c = {
		.d = ctx, .vfs = json_array(), .vports = json_array(), .filters = json_array()
	};
	struct nic_dump_ops ops = { .vf = dump_vf, .vport = dump_vport, .filter = dump_filter };
	struct nic_info ni;
	struct nic_port_stats ws;
	uint64_t wdrops = 0;

	nic_dump(c.d->nic, &ops, &c);
	nic_get_info(c.d->nic, &ni);
	nic_port_stats(c.d->nic, NIC_PORT_WIRE, &ws);
	for (unsigned int r = 0; r < NIC_DROP_MAX; r++)
		wdrops += ws.drops[r];
	/* the wire: "tx" out of the NIC onto it, "rx" in from it */
	*res = json_pack("{s:i, s:i, s:i, s:o, s:o, s:o, s:{s:I, s:I, s:I}}", "max_vfs",
	                 (int)ni.caps.max_vfs, "max_vports", (int)ni.caps.max_vports,
	                 "vfs_allocated", (int)ni.vfs, "vfs", c.vfs, "vports", c.vports, "filters",
	                 c.filters, "wire", "tx_frames", (json_int_t)ws.rx_frames, "rx_frames",
	                 (json_int_t)ws.tx_frames, "drops", (json_int_t)wdrops);
	return *res ? 0 : -ENOMEM;
}

static int port_by_name(struct hostd *d, const char *name)
{
	struct adapter *a = find(d, name);

	if (a)
		return a->vm >= 0 ? host_dp_vm_port(d->dp, a->vm) : -ENOTCONN;
	if (!strcmp(name, "external"))
		return 0;
	return -ENOENT;
}

/* A capture file name: [A-Za-z0-9._-], not starting with '.'. */
static bool capture_name_ok(const char *n)
{
	size_t l = strlen(n);

	if (!l || l > 100 || n[0] == '.')
		return false;
	for (size_t i = 0; i < l; i++)
		if (!isalnum((unsigned char)n[i]) && !strchr("._-", n[i]))
			return false;
	return true;
}

/* Captures go only into RUN_DIR/captures (the daemon runs as root: it must
 * not write where a management client points it), each a new file created
 * with O_EXCL | O_NOFOLLOW; the CLI copies it out and removes it. */
static int op_capture_start(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	static const char *const known[] = { "port", "name", "dir", NULL };
	struct hostd *d = ctx;
	const char *port = NULL, *name = NULL, *dir = "both";
	char path[512], fdpath[64];
	unsigned int dirs;
	int r, p, fd;

	if ((r = mgmt_args_only(args, known, err)) ||
	    (r = mgmt_arg_str(args, "port", true, &port, err)) ||
	    (r = mgmt_arg_str(args, "name", true, &name, err)) ||
	    (r = mgmt_arg_str(args, "dir", false, &dir, err)))
		return r;
	if (!strcmp(dir, "in"))
		dirs = VSW_CAP_IN;
	else if (!strcmp(dir, "out"))
		dirs = VSW_CAP_OUT;
	else if (!strcmp(dir, "both"))
		dirs = VSW_CAP_IN | VSW_CAP_OUT;
	else
		return mgmt_err_set(err, EINVAL, "use in, out or both", "bad direction \"%s\"",
		                    dir);
	if (!capture_name_ok(name))
		return mgmt_err_set(err, EINVAL, "a file name of A-Z a-z 0-9 . _ -",
		                    "bad capture name \"%s\"", name);
	p = port_by_name(d, port);
	if (p < 0)
		return mgmt_err_set(err, -p, "ports are \"external\" and connected VMs' names",
		                    "no switch port \"%s\"", port);
	snprintf(path, sizeof(path), "%s/captures/%s", d->run_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return mgmt_err_set(err, errno, NULL, "capture file %s: %s", path, strerror(errno));
	if (d->cfg.group != MGMT_NO_GROUP)
		(void)!fchown(fd, (uid_t)-1, d->cfg.group);
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd); /* that very file */
	r = vsw_capture_start(host_dp_vsw(d->dp), (unsigned int)p, fdpath, dirs);
	close(fd);
	if (r) {
		unlink(path);
		return mgmt_err_set(err, -r, NULL, "capture on %s: %s", port, strerror(-r));
	}
	*res = json_pack("{s:s, s:s}", "port", port, "file", path);
	return *res ? 0 : -ENOMEM;
}

static int op_capture_stop(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	struct hostd *d = ctx;
	const char *port = NULL;
	int r = mgmt_arg_str(args, "port", true, &port, err), p;

	if (r)
		return r;
	p = port_by_name(d, port);
	if (p < 0)
		return mgmt_err_set(err, -p, NULL, "no switch port \"%s\"", port);
	r = vsw_capture_stop(host_dp_vsw(d->dp), (unsigned int)p);
	if (r == -ENOENT)
		return mgmt_err_set(err, ENOENT, NULL, "no capture on \"%s\"", port);
	if (r)
		return mgmt_err_set(err, -r, NULL,
		                    "capture on %s ended badly (the file may be "
		                    "incomplete): %s",
		                    port, strerror(-r));
	*res = json_object();
	return 0;
}

/* ---- live migration (migrate.h) ---- */

static int op_vm_migrate_accept(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	static const char *const known[] = { NULL };
	struct hostd *d = ctx;
	uint64_t now = util_now_ns();
	char hex[2 * MIGR_TOKEN_LEN + 1];
	unsigned int i;
	int r;

	if ((r = mgmt_args_only(args, known, err)))
		return r;
	if (d->migr_fd < 0)
		return mgmt_err_set(err, EOPNOTSUPP,
		                    "start iovpathd with --migrate-listen A.B.C.D:PORT",
		                    "host %s takes no migrations", d->cfg.name);
	for (i = 0; i < MIGR_TOKENS && d->tok[i].deadline > now; i++)
		;
	if (i == MIGR_TOKENS)
		return mgmt_err_set(err, EBUSY, "try again when one is used or expired",
		                    "%u migrations are being prepared already", MIGR_TOKENS);
	if (getrandom(d->tok[i].token, MIGR_TOKEN_LEN, 0) != (ssize_t)MIGR_TOKEN_LEN)
		return mgmt_err_set(err, EIO, NULL, "no random bytes for a token");
	d->tok[i].deadline = now + MIGR_TOKEN_MS * 1000000ull;
	migr_hex(d->tok[i].token, MIGR_TOKEN_LEN, hex);
	*res = json_pack("{s:s, s:s, s:s, s:i}", "host", d->cfg.name, "address", d->migr_addr,
	                 "token", hex, "expires_ms", (int)MIGR_TOKEN_MS);
	return *res ? 0 : -ENOMEM;
}

/* A TCP connection to @sa, under way: the fd (writable once connected) or
 * -errno. */
static int migr_connect(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), e;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* ---- forwarding while the VM moves (migrate.h) ---- */

/* The switch's frames for a halted (or gone) VM: queued for its new host
 * (fwd_service sends them, in the same pass of the loop). */
static unsigned int fwd_out_frames(void *ctx, const struct vsw_frame *f, unsigned int n)
{
	struct adapter *a = ctx;
	unsigned int k;

	if (!a->fwd || a->fwd_err)
		return 0;
	k = migr_fwd_put(a->fwd, a->mac, f, n);
	if (k)
		a->fwd_last = util_now_ns();
	return k;
}

/* The source: frames for @a's port go to connection @fd from its VM's HALT
 * on. Without the memory for it the VM moves all the same: what comes
 * meanwhile is lost, as before forwarding. */
static void fwd_start(struct hostd *d, struct adapter *a, int fd)
{
	int sz = (int)MIGR_FWD_OUT_BUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	a->fwd = migr_fwd_new(fd, MIGR_FWD_OUT_BUF);
	if (!a->fwd) {
		log_warn(MOD, "VM %s: no forwarding while it moves: %s", a->name, strerror(errno));
		close(fd);
		return;
	}
	d->nfwd++;
	a->fwd_out = true;
	a->fwd_err = 0;
	a->fwd_last = 0;
	host_dp_vm_forward(d->dp, a->vm, fwd_out_frames, a);
}

/* The forwarding of @a ends (@why): counted in the log; on the source the
 * port left behind goes, and the adapter with it. */
static void fwd_end(struct hostd *d, struct adapter *a, const char *why)
{
	struct migr_fwd_stats st;

	if (!a->fwd)
		return;
	migr_fwd_stats(a->fwd, &st);
	log_info(MOD,
	         "VM %s: %" PRIu64 " frames (%" PRIu64 " bytes) forwarded %s host %s, %" PRIu64
	         " dropped; %s",
	         a->name, st.frames, st.bytes, a->fwd_out ? "to" : "from",
	         a->fwd_out ? a->migrating_to : a->came_from, st.dropped, why);
	publish(d, "vm.forwarding_end",
	        json_pack("{s:s, s:s, s:I, s:I, s:s}", "vm", a->name, a->fwd_out ? "to" : "from",
	                  a->fwd_out ? a->migrating_to : a->came_from, "frames",
	                  (json_int_t)st.frames, "dropped", (json_int_t)st.dropped, "why", why));
	if (a->fwd_out && a->vm >= 0)
		host_dp_vm_forward(d->dp, a->vm, NULL, NULL);
	migr_fwd_free(a->fwd);
	a->fwd = NULL;
	d->nfwd--;
	if (a->fwd_out && a->fwd_vm >= 0)
		adapter_remove(d, a); /* its VM left: the port goes */
}

/* Has @a's VM halted its adapter (it is on its way to another host)? */
static bool halted(struct hostd *d, const struct adapter *a)
{
	struct netvsp *v = host_dp_netvsp(d->dp, a->vm);

	return v && netvsp_adapter(v)->halted;
}

/* The source: the VM told to move has not left in MIGR_HALT_MS (twice that
 * once it halted: it is on its way). It stays here: the VM is told to
 * forget the MIGRATE (a VM that was only slow does not move later to a port
 * that is gone), the destination to delete the port it made (the cancel
 * message ends the forwarding connection). */
static void migr_cancel(struct hostd *d, struct adapter *a)
{
	struct netvsp *v = host_dp_netvsp(d->dp, a->vm);
	char why[96];

	snprintf(why, sizeof(why), "VM %s did not move within %u ms", a->name,
	         (halted(d, a) ? 2 : 1) * MIGR_HALT_MS);
	if (v &&
	    vmbus_chan_send_ctl(netvsp_chan(v), VMBUS_CTL_MIGRATE_CANCEL, 0, NULL, 0, NULL, 0) < 0)
		log_warn(MOD, "VM %s: the cancel could not be sent to it", a->name);
	if (migr_fwd_cancel(a->fwd, why) || migr_fwd_flush(a->fwd))
		log_warn(MOD, "VM %s: host %s could not be told of the cancel", a->name,
		         a->migrating_to);
	log_warn(MOD, "%s: it stays on this host", why);
	publish(d, "vm.migrate_failed",
	        json_pack("{s:s, s:s, s:s}", "vm", a->name, "to", a->migrating_to, "reason", why));
	fwd_end(d, a, "the migration was cancelled");
	a->migrating_to[0] = '\0';
}

/* Frames from the source for @a's VM, once it is here. */
static unsigned int fwd_in_frames(void *ctx, const struct vsw_frame *f, unsigned int n)
{
	struct adapter *a = ctx;

	return a->vm >= 0 ? host_dp_vm_deliver(a->d->dp, a->vm, f, n) : 0;
}

/* The destination: the source cancelled (its reason @why). A VM that never
 * came: its port goes. */
static void migr_cancelled(struct hostd *d, struct adapter *a, const char *why)
{
	if (a->came) { /* here after all: it stays */
		fwd_end(d, a, why);
		return;
	}
	log_warn(MOD, "VM %s: host %s cancelled its migration here: %s", a->name, a->came_from,
	         why);
	publish(d, "vm.migrate_cancelled",
	        json_pack("{s:s, s:s, s:s}", "vm", a->name, "from", a->came_from, "reason", why));
	fwd_end(d, a, "the migration was cancelled");
	adapter_remove(d, a);
}

/* Every forwarding connection, once per pass while there are any: the
 * source sends what waits and ends when the port went quiet; the
 * destination hands what came to its VM once it is here. Returns the
 * frames moved. */
static int fwd_service(struct hostd *d)
{
	uint64_t now = util_now_ns();
	int work = 0;

	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS && d->nfwd; i++) {
		struct adapter *a = &d->ad[i];
		char why[160];
		int r;

		if (!a->used || !a->fwd)
			continue;
		if (a->fwd_out) {
			uint64_t quiet = a->fwd_last > a->fwd_since ? a->fwd_last : a->fwd_since;

			r = migr_fwd_pending(a->fwd) ? migr_fwd_flush(a->fwd) : 0;
			if (r < 0 && r != -EAGAIN && !a->fwd_err)
				a->fwd_err = r;
			if (a->fwd_err) {
				snprintf(why, sizeof(why), "the connection failed: %s",
				         strerror(-a->fwd_err));
				fwd_end(d, a, why);
			} else if (a->fwd_vm >= 0 && r == 0 &&
			           now - quiet >= MIGR_FWD_QUIET_MS * 1000000ull) {
				fwd_end(d, a, "nothing more came");
			} else if (a->fwd_vm >= 0 &&
			           now - a->fwd_since >= MIGR_FWD_MAX_MS * 1000000ull) {
				fwd_end(d, a, "its time is up");
			} else if (a->fwd_vm < 0 && now >= a->migr_deadline && !halted(d, a)) {
				migr_cancel(d, a); /* told to move, it did not */
			} else if (a->fwd_vm < 0 &&
			           now >= a->migr_deadline + MIGR_HALT_MS * 1000000ull) {
				migr_cancel(d, a); /* it halted, and went no further */
			}
			continue;
		}
		r = migr_fwd_pump(a->fwd, a->mac, fwd_in_frames, a, why, sizeof(why));
		if (r > 0)
			work += r;
		else if (r == -EPIPE)
			fwd_end(d, a, "the source closed it");
		else if (r == -ECANCELED)
			migr_cancelled(d, a, why);
		else if (r < 0 && r != -EAGAIN)
			fwd_end(d, a, r == -EPROTO ? why : strerror(-r));
		if (a->used && a->fwd && now - a->fwd_since >= MIGR_FWD_IN_MS * 1000000ull)
			fwd_end(d, a, "its time is up");
	}
	return work;
}

/* vm.migrate on the source failed (@r, @why: "" for strerror): said on
 * the timeline and in @err. Returns the error for the request. */
static int migr_failed(struct hostd *d, struct adapter *a, const char *addr, int r, const char *why,
                       struct mgmt_err *err)
{
	char w[160];

	snprintf(w, sizeof(w), "%s", why[0] ? why : strerror(-r));
	publish(d, "vm.migrate_failed",
	        json_pack("{s:s, s:s, s:s}", "vm", a->name, "to", addr, "reason", w));
	return mgmt_err_set(err, -r, "the VM stays on this host; iovpath events tells on both",
	                    "migration of %s to %s: %s", a->name, addr, w);
}

/* The destination said yes (@rp) on connection @fd: the VM is told where its
 * adapter lives now, and frames that still come here follow it on @fd. */
static int migr_go(struct hostd *d, struct adapter *a, int fd, const struct migr_reply *rp,
                   json_t **res, struct mgmt_err *err)
{
	struct vmbus_migrate vm;
	int r;

	memset(&vm, 0, sizeof(vm));
	snprintf(vm.host, sizeof(vm.host), "%s", rp->host);
	snprintf(vm.name, sizeof(vm.name), "%s", a->name);
	memcpy(vm.secret, rp->secret, VMBUS_SECRET_LEN);
	snprintf(vm.channel, sizeof(vm.channel), "%s", rp->channel);
	fwd_start(d, a, fd); /* before the VM can halt */
	r = vmbus_chan_send_ctl(netvsp_chan(host_dp_netvsp(d->dp, a->vm)), VMBUS_CTL_MIGRATE, 0,
	                        &vm, sizeof(vm), NULL, 0);
	if (r < 0) {
		fwd_end(d, a, "the VM could not be told");
		return mgmt_err_set(err, -r, "iovpath vm delete VM on host the destination",
		                    "VM %s could not be told (%s); host %s made its port already",
		                    a->name, strerror(-r), rp->host);
	}
	snprintf(a->migrating_to, sizeof(a->migrating_to), "%s", rp->host);
	a->migr_deadline = util_now_ns() + MIGR_HALT_MS * 1000000ull;
	log_info(MOD, "VM %s: migrating to host %s", a->name, rp->host);
	publish(d, "vm.migrate_out", json_pack("{s:s, s:s}", "vm", a->name, "to", rp->host));
	*res = json_pack("{s:s, s:s, s:s, s:s}", "vm", a->name, "from", d->cfg.name, "to", rp->host,
	                 "channel", rp->channel);
	return *res ? 0 : -ENOMEM;
}

/* Why VM @a can't move now (an error in @err), or 0. Asked when vm.migrate
 * comes and again when the destination has answered. */
static int migr_blocked(struct hostd *d, struct adapter *a, struct mgmt_err *err)
{
	struct host_vf_info vi = { .vf = -1 };

	if (a->vm < 0)
		return mgmt_err_set(err, ENOTCONN, "start its VM process first",
		                    "VM %s is not connected: there is nothing to migrate", a->name);
	host_dp_vf_info(d->dp, a->vm, &vi);
	if (vi.state != HOST_VF_NONE || vi.datapath == NVSP_DATAPATH_VF)
		return mgmt_err_set(err, EBUSY,
		                    "take the VF back first (iovpath vm migrate does): iovpath vm "
		                    "detach-vf VM",
		                    "VM %s has a VF (%s)", a->name, host_vf_state_name(vi.state));
	return 0;
}

/* The vm.migrate of @a is over: @r < 0 failed (@why, "" for strerror; the
 * connection closed), else the reply @rp came. Its request is answered. */
static void migr_out_end(struct hostd *d, struct adapter *a, int r, const struct migr_reply *rp,
                         const char *why)
{
	struct migr_out *mo = a->mo;
	struct mgmt_err err = { 0 };
	json_t *res = NULL;

	a->mo = NULL;
	d->nmo--;
	if (r >= 0 && !rp->ok) /* the destination said no */
		why = rp->error, r = -EPERM;
	if (r >= 0 && migr_blocked(d, a, &err) < 0) { /* while the destination answered */
		r = -err.errnum;
		why = err.message;
	}
	if (r < 0) {
		close(mo->fd);
		r = migr_failed(d, a, mo->addr, r, why, &err);
	} else {
		r = migr_go(d, a, mo->fd, rp, &res, &err);
	}
	mgmt_answer(d->mgmt, mo->ticket, r, res, &err);
	free(mo->req);
	free(mo);
}

/* The next step of @a's vm.migrate: its connection is ready (or its time
 * is up). */
static void migr_out_step(struct hostd *d, struct adapter *a)
{
	struct migr_out *mo = a->mo;
	bool late = util_now_ns() >= mo->deadline;
	struct migr_reply rp;
	char why[160] = "";
	socklen_t el = sizeof(int);
	int e = 0, r;

	if (!mo->sent) {
		struct pollfd p = { .fd = mo->fd, .events = POLLOUT };

		if (poll(&p, 1, 0) != 1) {
			if (late)
				migr_out_end(d, a, -ETIMEDOUT, NULL, "no connection in time");
			return;
		}
		if (getsockopt(mo->fd, SOL_SOCKET, SO_ERROR, &e, &el) || e ||
		    (e = -migr_send(mo->fd, mo->req, mo->len))) {
			migr_out_end(d, a, -(e ? e : EIO), NULL, "");
			return;
		}
		mo->sent = true;
		mo->deadline = util_now_ns() + MIGR_WAIT_MS * 1000000ull;
		return;
	}
	r = migr_recv_some(mo->fd, &mo->rd);
	if (r == 0) {
		if (late)
			migr_out_end(d, a, -ETIMEDOUT, NULL, "no answer in time");
		return;
	}
	if (r > 0)
		r = migr_reply_decode(mo->rd.buf, (size_t)r, &rp, why, sizeof(why));
	migr_out_end(d, a, r, &rp, why);
}

/* Every vm.migrate waiting: a step each (nothing waits). */
static void migr_out_service(struct hostd *d)
{
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS && d->nmo; i++)
		if (d->ad[i].used && d->ad[i].mo)
			migr_out_step(d, &d->ad[i]);
}

/* The source's side: the destination is asked (request, reply), then the
 * VM is told where its adapter lives now. The request is answered when the
 * destination has (migr_out_step), the loop going on meanwhile. */
static int op_vm_migrate(void *ctx, json_t *args, json_t **res, struct mgmt_err *err)
{
	static const char *const known[] = { "name", "address", "token", NULL };
	struct hostd *d = ctx;
	struct adapter *a;
	const char *addr = NULL, *token = NULL;
	struct migr_request rq = { 0 };
	struct migr_out *mo;
	struct sockaddr_in sa;
	int r;

	(void)res;
	if ((r = mgmt_args_only(args, known, err)) || (r = need_vm(d, args, &a, err)) ||
	    (r = mgmt_arg_str(args, "address", true, &addr, err)) ||
	    (r = mgmt_arg_str(args, "token", true, &token, err)))
		return r;
	if (a->vm < 0)
		return migr_blocked(d, a, err);
	if (a->migrating_to[0] || a->mo)
		return mgmt_err_set(err, EALREADY, NULL, "VM %s is migrating to %s already",
		                    a->name, a->mo ? a->mo->addr : a->migrating_to);
	if ((r = migr_blocked(d, a, err)))
		return r;
	if (migr_addr_parse(addr, &sa))
		return mgmt_err_set(err, EINVAL, "host show tells a host's migration address",
		                    "bad address \"%s\": want A.B.C.D:PORT", addr);
	if (d->migr_fd >= 0 && !strcmp(addr, d->migr_addr)) /* we would wait for ourselves */
		return mgmt_err_set(err, EINVAL, NULL, "%s is this host's own address (%s)", addr,
		                    d->cfg.name);
	if (migr_unhex(token, rq.token, MIGR_TOKEN_LEN))
		return mgmt_err_set(err, EINVAL, "vm.migrate_accept on the destination gives one",
		                    "bad token: want %u hex digits", 2 * MIGR_TOKEN_LEN);
	if (d->nmo >= MIGR_OUT_MAX)
		return mgmt_err_set(err, EBUSY, "try again when one of them is over",
		                    "%u migrations are waiting for their destinations", d->nmo);
	snprintf(rq.source, sizeof(rq.source), "%s", d->cfg.name);
	snprintf(rq.name, sizeof(rq.name), "%s", a->name);
	memcpy(rq.mac, a->mac, 6);
	rq.vlan = a->vlan;
	rq.connects = a->connects;
	rq.migrations = a->migrations;
	rq.stats = vm_counters_all(d, a);
	if (!(mo = calloc(1, sizeof(*mo))))
		return -ENOMEM;
	mo->req = migr_request_encode(&rq, &mo->len);
	json_decref(rq.stats);
	if (!mo->req) {
		free(mo);
		return -ENOMEM;
	}
	snprintf(mo->addr, sizeof(mo->addr), "%s", addr);
	mo->fd = migr_connect(&sa);
	if (mo->fd < 0) {
		r = migr_failed(d, a, addr, mo->fd, "", err);
		free(mo->req);
		free(mo);
		return r;
	}
	mo->deadline = util_now_ns() + MIGR_WAIT_MS * 1000000ull;
	mo->ticket = mgmt_defer(d->mgmt);
	a->mo = mo;
	d->nmo++;
	return MGMT_DEFERRED;
}

/* A token vm.migrate_accept handed out, unexpired: used up. */
static bool token_take(struct hostd *d, const uint8_t *token)
{
	uint64_t now = util_now_ns();
	bool found = false;

	for (unsigned int i = 0; i < MIGR_TOKENS; i++) {
		uint8_t diff = 0;

		for (unsigned int k = 0; k < MIGR_TOKEN_LEN; k++) /* constant time */
			diff |= (uint8_t)(d->tok[i].token[k] ^ token[k]);
		if (!diff && d->tok[i].deadline > now && !found) {
			d->tok[i].deadline = 0;
			found = true;
		}
	}
	return found;
}

/* The destination's side: one request on migration connection @i. */
static void migr_serve(struct hostd *d, unsigned int i)
{
	int fd = d->mpend[i].fd, n;
	char *buf = d->mrd[i].buf, why[160];
	struct migr_request rq = { 0 };
	struct migr_reply rp = { 0 };
	struct mgmt_err me = { 0 };
	struct adapter *a = NULL;
	size_t len;
	char *out;

	/* Read what came, never wait: anyone can connect here, and the
	 * datapath runs on this thread (the slot's deadline ends a slow one). */
	if (d->mrd_for[i] != d->mpend[i].deadline) { /* a new connection in this slot */
		d->mrd_for[i] = d->mpend[i].deadline;
		d->mrd[i].got = 0;
	}
	n = migr_recv_some(fd, &d->mrd[i]);
	if (n == 0)
		return; /* more to come */
	d->mpend[i].fd = -1;
	d->mrd_for[i] = 0;
	if (n < 0) {
		log_warn(MOD, "a migration connection sent no request: %s", strerror(-n));
		close(fd);
		return;
	}
	if (migr_request_decode(buf, (size_t)n, &rq, why, sizeof(why)))
		snprintf(rp.error, sizeof(rp.error), "bad request: %s", why);
	else if (!token_take(d, rq.token))
		snprintf(rp.error, sizeof(rp.error),
		         "no such migration token on host %s (or it expired)", d->cfg.name);
	else if ((a = find(d, rq.name)) && a->fwd_out && a->fwd_vm >= 0)
		fwd_end(d, a, "the VM comes back"); /* the port it left here: gone now */
	a = NULL;
	if (rp.error[0])
		; /* refused above */
	else if (strlen(d->vmbus_path) >= MIGR_PATH_MAX)
		snprintf(rp.error, sizeof(rp.error), "host %s's channel path is too long",
		         d->cfg.name);
	else if (adapter_add(d, rq.name, rq.mac, rq.vlan, &a, &me))
		snprintf(rp.error, sizeof(rp.error), "host %s: %s", d->cfg.name, me.message);
	else {
		a->earlier = json_object();
		migr_counters_add(a->earlier, rq.stats, 0);
		a->migrations = rq.migrations + 1;
		a->connects = rq.connects;
		snprintf(a->came_from, sizeof(a->came_from), "%s", rq.source);
		rp.ok = 1;
		snprintf(rp.host, sizeof(rp.host), "%s", d->cfg.name);
		snprintf(rp.channel, sizeof(rp.channel), "%s", d->vmbus_path);
		memcpy(rp.secret, a->secret, VMBUS_SECRET_LEN);
	}
	out = migr_reply_encode(&rp, &len);
	if (!out || migr_send(fd, out, len) < 0) {
		log_warn(MOD, "migration of %s: the reply could not be sent",
		         rq.name[0] ? rq.name : "?");
		if (a) /* the source will not tell its VM: no orphan port here */
			adapter_remove(d, a), a = NULL, rp.ok = 0;
	}
	free(out);
	if (a && rp.ok && (a->fwd = migr_fwd_new(fd, MIGR_FWD_IN_BUF))) {
		d->nfwd++; /* what the source's port still gets comes this way */
		a->fwd_out = false;
		a->fwd_since = util_now_ns();
	} else {
		close(fd);
	}
	if (rp.ok) {
		log_info(MOD, "VM %s: migrating in from host %s", rq.name, rq.source);
		publish(d, "vm.migrate_in",
		        json_pack("{s:s, s:s}", "vm", rq.name, "from", rq.source));
	} else if (rp.error[0]) {
		log_warn(MOD, "a migration was refused: %s", rp.error);
		publish(
		    d, "vm.migrate_refused",
		    json_pack("{s:s, s:s}", "vm", rq.name[0] ? rq.name : "?", "reason", rp.error));
	}
	migr_request_release(&rq);
}

/* The migration listener (cfg.migrate_listen). 0, or -1 after a message
 * when one was asked for and cannot be had. */
static int migr_listen(struct hostd *d)
{
	const char *want = d->cfg.migrate_listen ? d->cfg.migrate_listen : "127.0.0.1:0";
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char ip[INET_ADDRSTRLEN];
	int one = 1;

	if (!strcmp(want, "off"))
		return 0;
	if (migr_addr_parse(want, &sa)) {
		fprintf(stderr, "iovpathd: --migrate-listen %s: want A.B.C.D:PORT or off\n", want);
		return -1;
	}
	d->migr_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->migr_fd < 0 || setsockopt(d->migr_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(d->migr_fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(d->migr_fd, 4) ||
	    getsockname(d->migr_fd, (struct sockaddr *)&sa, &sl)) {
		int e = errno;

		if (d->migr_fd >= 0)
			close(d->migr_fd);
		d->migr_fd = -1;
		if (!d->cfg.migrate_listen) { /* the default: the host runs on without */
			log_warn(MOD, "no migration listener on %s (%s): migrations in refused",
			         want, strerror(e));
			return 0;
		}
		fprintf(stderr, "iovpathd: --migrate-listen %s: %s\n", want, strerror(e));
		return -1;
	}
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	snprintf(d->migr_addr, sizeof(d->migr_addr), "%s:%u", ip, ntohs(sa.sin_port));
	return 0;
}

static const struct mgmt_op OPS[] = {
	{ "host.show", op_host_show },
	{ "vm.create", op_vm_create },
	{ "vm.delete", op_vm_delete },
	{ "vm.show", op_vm_show },
	{ "vm.stats", op_vm_stats },
	{ "nic.show", op_nic_show },
	{ "switch.show", op_switch_show },
	{ "capture.start", op_capture_start },
	{ "capture.stop", op_capture_stop },
	{ "events.show", op_events_show },
	{ "vm.set", op_vm_set },
	{ "host.set", op_host_set },
	{ "vm.attach_vf", op_vm_attach_vf },
	{ "vm.detach_vf", op_vm_detach_vf },
	{ "vm.migrate_accept", op_vm_migrate_accept },
	{ "vm.migrate", op_vm_migrate },
	{ NULL, NULL },
};

/* ---- life cycle ---- */

/* See HOSTD_NICE. Not allowed (no CAP_SYS_NICE): said once, not fatal. */
static void set_priority(int nice)
{
	errno = 0;
	int now = getpriority(PRIO_PROCESS, 0);

	if (errno == 0 && now == nice)
		return;
	if (setpriority(PRIO_PROCESS, 0, nice) == 0) {
		log_dbg(MOD, "datapath priority: nice %d", nice);
		return;
	}
	log_info(MOD,
	         "datapath priority nice %d refused (%s): running at nice %d, so busy VM "
	         "processes can hold the switch back (run as root, or with CAP_SYS_NICE)",
	         nice, strerror(errno), now);
}

static int start(struct hostd *d)
{
	struct nic_caps caps = { .max_vfs = d->cfg.vfs,
		                 .max_vports = d->cfg.vfs + 1,
		                 .total_queue_pairs = d->cfg.vfs + 1,
		                 .max_qps_per_vport = 1,
		                 .mac_filters_per_vport = NIC_MAX_FILTERS_PER_VPORT };
	char err[256], path[512];
	struct stat st;
	sigset_t ss;
	int r;

	snprintf(d->run_dir, sizeof(d->run_dir), "%s",
	         d->cfg.run_dir ? d->cfg.run_dir : HOSTD_RUN_DIR);
	d->lock_fd = mgmt_lock_host(d->run_dir, d->cfg.name, err, sizeof(err));
	if (d->lock_fd < 0) {
		fprintf(stderr, "iovpathd: %s\n", err);
		return -1;
	}
	/* Secrets, sockets and captures go there: it must be ours alone. */
	if (stat(d->run_dir, &st) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		fprintf(stderr,
		        "iovpathd: run directory %s is not owned by this user or is writable by "
		        "others: remove it or use another --run-dir\n",
		        d->run_dir);
		return -1;
	}
	d->started = true;
	set_priority(d->cfg.nice);
	snprintf(d->mgmt_path, sizeof(d->mgmt_path), "%s/%s.mgmt", d->run_dir, d->cfg.name);
	snprintf(d->vmbus_path, sizeof(d->vmbus_path), "%s/%s.vmbus", d->run_dir, d->cfg.name);
	d->nic = nic_create(&caps);
	r = d->nic ? nic_switch_create(d->nic, 1) : -errno;
	if (r) {
		fprintf(stderr, "iovpathd: NIC with %u VFs: %s\n", d->cfg.vfs, strerror(-r));
		return -1;
	}
	if (d->cfg.port && !(d->wire = port_open(d->cfg.port, err, sizeof(err)))) {
		fprintf(stderr, "iovpathd: physical port %s: %s\n", d->cfg.port, err);
		return -1;
	}
	d->dp = host_dp_create(d->nic, d->wire, err, sizeof(err));
	if (!d->dp) {
		fprintf(stderr, "iovpathd: %s\n", err);
		return -1;
	}
	host_dp_set_event_cb(d->dp, dp_event, d);
	d->vf_timeout_ms = HOST_DP_VF_REMOVE_TIMEOUT_MS;
	d->mgmt = mgmt_listen(d->mgmt_path, d->cfg.group);
	r = d->mgmt ? mgmt_register(d->mgmt, OPS, d) : -errno;
	if (r) {
		fprintf(stderr, "iovpathd: management socket %s: %s\n", d->mgmt_path, strerror(-r));
		return -1;
	}
	d->vmbus_fd = vmbus_listen(d->vmbus_path);
	if (d->vmbus_fd < 0) {
		fprintf(stderr, "iovpathd: channel socket %s: %s\n", d->vmbus_path,
		        strerror(-d->vmbus_fd));
		return -1;
	}
	/* VM processes of root, the daemon's user and the group may knock; the
	 * per-adapter credential decides which adapter they get. */
	if (d->cfg.group != MGMT_NO_GROUP)
		(void)!chown(d->vmbus_path, (uid_t)-1, d->cfg.group);
	chmod(d->vmbus_path, 0660);
	if (migr_listen(d))
		return -1;
	snprintf(path, sizeof(path), "%s/captures", d->run_dir);
	if (mkdir(path, 0770) && errno != EEXIST) {
		fprintf(stderr, "iovpathd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (d->cfg.group != MGMT_NO_GROUP)
		(void)!chown(path, (uid_t)-1, d->cfg.group);
	chmod(path, 0770);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	d->sig_fd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sig_fd < 0) {
		fprintf(stderr, "iovpathd: signalfd: %s\n", strerror(errno));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	d->t0 = util_now_ns();
	log_info(MOD,
	         "host %s up: NIC with %u VFs, port %s, management %s, channels %s, "
	         "migrations in %s",
	         d->cfg.name, d->cfg.vfs, d->cfg.port ? d->cfg.port : "(none)", d->mgmt_path,
	         d->vmbus_path, d->migr_fd >= 0 ? d->migr_addr : "(off)");
	return 0;
}

static void stop(struct hostd *d)
{
	publish(d, "host.stop", NULL);
	if (d->mgmt)
		mgmt_poll_once(d->mgmt, 0); /* let subscribers see it */
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++) {
		char path[256];

		if (!d->ad[i].used)
			continue;
		snprintf(path, sizeof(path), "%s/%s.secret", d->run_dir, d->ad[i].name);
		unlink(path);
	}
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
		if (d->ad[i].mo)
			migr_out_end(d, &d->ad[i], -ECANCELED, NULL, "the host stops");
	host_dp_destroy(d->dp); /* every VM's channel closes */
	if (d->nic)
		nic_pf_halt(d->nic);
	port_close(d->wire);
	nic_destroy(d->nic);
	mgmt_server_close(d->mgmt);
	for (unsigned int i = 0; i < PENDING_MAX; i++)
		if (d->pend[i].fd >= 0)
			pending_close(&d->pend[i]);
	for (unsigned int i = 0; i < MIGR_PENDING; i++)
		if (d->mpend[i].fd >= 0)
			close(d->mpend[i].fd);
	if (d->migr_fd >= 0)
		close(d->migr_fd);
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS; i++)
		json_decref(d->ad[i].earlier);
	if (d->vmbus_fd >= 0) {
		close(d->vmbus_fd);
		unlink(d->vmbus_path);
	}
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	if (d->lock_fd >= 0)
		mgmt_unlock_host(d->lock_fd);
	for (unsigned int i = 0; i < HISTORY; i++)
		json_decref(d->hist[i]);
	if (d->started)
		log_info(MOD, "host %s stopped", d->cfg.name);
}

/* The control descriptors: management, new VMs, migrations in, signals. */
static void control(struct hostd *d, int timeout_ms, struct pollfd *dp_fds, int ndp)
{
	struct pollfd
	    pfd[MAX_PFD + PENDING_MAX + MIGR_PENDING + HOSTD_MAX_ADAPTERS + MIGR_OUT_MAX + 1];
	int n = 0, npend = 0, nmig = 0, fixed;
	unsigned int pidx[PENDING_MAX], midx[MIGR_PENDING];

	pfd[n++] = (struct pollfd){ .fd = mgmt_fd(d->mgmt), .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = d->vmbus_fd, .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = d->sig_fd, .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = d->migr_fd, .events = POLLIN }; /* -1: ignored */
	for (unsigned int i = 0; i < PENDING_MAX; i++)
		if (d->pend[i].fd >= 0) {
			pidx[npend++] = i;
			pfd[n++] = (struct pollfd){ .fd = d->pend[i].fd, .events = POLLIN };
		}
	for (unsigned int i = 0; i < MIGR_PENDING; i++)
		if (d->mpend[i].fd >= 0) {
			midx[nmig++] = i;
			pfd[n++] = (struct pollfd){ .fd = d->mpend[i].fd, .events = POLLIN };
		}
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS && d->nfwd; i++) {
		struct adapter *a = &d->ad[i];

		if (a->used && a->fwd && a->fwd_out && migr_fwd_pending(a->fwd))
			pfd[n++] = (struct pollfd){ .fd = migr_fwd_fd(a->fwd), .events = POLLOUT };
		else if (a->used && a->fwd && !a->fwd_out && !migr_fwd_pending(a->fwd))
			pfd[n++] = (struct pollfd){ .fd = migr_fwd_fd(a->fwd), .events = POLLIN };
	}
	for (unsigned int i = 0; i < HOSTD_MAX_ADAPTERS && d->nmo; i++) {
		struct migr_out *mo = d->ad[i].used ? d->ad[i].mo : NULL;

		if (mo)
			pfd[n++] =
			    (struct pollfd){ .fd = mo->fd, .events = mo->sent ? POLLIN : POLLOUT };
	}
	if (d->nmo && (timeout_ms < 0 || timeout_ms > (int)MIGR_OUT_CHECK_MS))
		timeout_ms = MIGR_OUT_CHECK_MS; /* their deadlines */
	if ((npend || nmig) && (timeout_ms < 0 || timeout_ms > (int)PENDING_MS))
		timeout_ms = PENDING_MS; /* to expire the silent ones */
	if ((d->events_held || conn_lines.over) && (timeout_ms < 0 || timeout_ms > 1000))
		timeout_ms = 1000; /* to say what the limits held back */
	if (d->nfwd && (timeout_ms < 0 || timeout_ms > (int)FWD_CHECK_MS))
		timeout_ms = FWD_CHECK_MS; /* forwarding: its ends, frames the VM could not take */
	fixed = n;
	for (int i = 0; i < ndp && n < (int)(sizeof(pfd) / sizeof(pfd[0])); i++)
		pfd[n++] = dp_fds[i];
	if (poll(pfd, (nfds_t)n, timeout_ms) <= 0) {
		expire_pending(d);
		migr_out_service(d);
		return;
	}
	migr_out_service(d);
	if (ndp)
		host_dp_ack(d->dp, pfd + fixed, n - fixed);
	if (pfd[0].revents)
		mgmt_poll_once(d->mgmt, 0);
	for (int k = 0; k < npend; k++)
		if (pfd[4 + k].revents)
			accept_vm(d, pidx[k]);
	for (int k = 0; k < nmig; k++)
		if (pfd[4 + npend + k].revents)
			migr_serve(d, midx[k]);
	expire_pending(d);
	if (pfd[1].revents)
		pending_accept(d->vmbus_fd, d->pend, PENDING_MAX, "VM connections mid-handshake");
	if (pfd[3].revents)
		pending_accept(d->migr_fd, d->mpend, MIGR_PENDING, "migration connections at once");
	if (pfd[2].revents) {
		struct signalfd_siginfo si;

		if (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
			log_info(MOD, "signal %u: stopping", si.ssi_signo);
			d->stop = true;
		}
	}
}

int hostd_run(const struct hostd_config *cfg)
{
	struct hostd *d = calloc(1, sizeof(*d));
	uint64_t last_work, spin_ns = util_spin_ns(SPIN_NS);
	unsigned int passes = 0;
	int rc = 0;

	if (!d)
		return 1;
	d->cfg = *cfg;
	d->lock_fd = d->vmbus_fd = d->sig_fd = -1;
	for (unsigned int i = 0; i < PENDING_MAX; i++)
		d->pend[i].fd = -1;
	d->migr_fd = -1;
	for (unsigned int i = 0; i < MIGR_PENDING; i++)
		d->mpend[i].fd = -1;
	if (start(d)) {
		stop(d);
		free(d);
		return 1;
	}
	last_work = util_now_ns();
	while (!d->stop) {
		int broken, work = host_dp_poll(d->dp, &broken);

		if (broken >= 0)
			vm_gone(d, broken);
		if (d->nfwd)
			work += fwd_service(d);
		if (work > 0) {
			last_work = util_now_ns();
			if (++passes % CTL_EVERY == 0)
				control(d, 0, NULL, 0);
			continue;
		}
		if (util_now_ns() - last_work < spin_ns) {
			if (++passes % CTL_EVERY == 0)
				control(d, 0, NULL, 0);
			continue;
		}
		struct pollfd pfd[MAX_PFD];
		int n = host_dp_arm(d->dp, pfd, MAX_PFD - 3);

		if (n < 0)
			continue; /* work arrived while arming */
		control(d, host_dp_timeout_ms(d->dp), pfd, n);
		host_dp_disarm(d->dp);
		last_work = util_now_ns();
	}
	stop(d);
	free(d);
	return rc;
}
