/* vmproc — see vmproc.h. */
#include "guest/vmproc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "guest/endpoint.h"
#include "guest/netvsc.h"
#include "host/hostd.h"
#include "lab/lab_net.h"
#include "port/port.h"
#include "util/util.h"

#define MOD "iovpath-vm"
/* busy-poll after the last work: short, 2 cores are shared with the guests
 * (bench e2e); none on one CPU (util_spin_ns) */
#define SPIN_NS       5000ull
#define MAX_PFD       16
#define EP_BURST      32u
#define MIGR_ANNOUNCE 3 /* RARPs after a migration, as QEMU's self-announce */

struct vmproc {
	const struct vmproc_config *cfg;
	struct netvsc *nv;
	struct netvsc_config nc; /* how nv was opened: a migration opens it elsewhere */
	struct vmbus_migrate migr;
	char host[VMBUS_NAME_MAX]; /* where the adapter lives now */
	struct port *tap;
	int sig_fd;
	bool stop;
	/* guest frames the channel has not taken yet (in the TAP's or gbuf) */
	struct port_pkt pend[PORT_BURST];
	unsigned int npend, ipend;
	/* the endpoint's generated frames; with a TAP, a frame netvsc_tx_fill
	 * handed back (a broadcast read into the VF's queue) */
	uint8_t *gbuf;
	/* endpoint */
	struct ep *ep;
	uint64_t t_start, sent;
	bool gen_on; /* generating (with wait_vf: since the VF path is active) */
};

int vmproc_read_secret(const char *path, uint8_t *secret)
{
	char hex[2 * VMBUS_SECRET_LEN + 8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, hex, sizeof(hex) - 1);
	close(fd);
	if (n < 2 * (ssize_t)VMBUS_SECRET_LEN)
		return -EINVAL;
	hex[n] = '\0';
	for (unsigned int i = 0; i < VMBUS_SECRET_LEN; i++) {
		char pair[3] = { hex[2 * i], hex[2 * i + 1], '\0' };

		if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]))
			return -EINVAL;
		secret[i] = (uint8_t)strtoul(pair, NULL, 16);
	}
	return 0;
}

static void on_event(void *arg, struct netvsc *nv, enum netvsc_event ev, uint32_t value)
{
	struct vmproc *vp = arg;

	switch (ev) {
	case NETVSC_EV_VF_ASSOC:
		log_info(MOD, "%s: VF association: %s, serial %u", vp->cfg->name,
		         nv->vf_allocated ? "allocated" : "removed", value);
		break;
	case NETVSC_EV_MEDIA:
		log_info(MOD, "%s: media %s", vp->cfg->name, value ? "connected" : "disconnected");
		break;
	case NETVSC_EV_NETWORK_CHANGE:
		log_info(MOD, "%s: network change", vp->cfg->name);
		break;
	}
}

static void on_vf_event(void *arg, struct netvsc *nv, const char *event, const char *detail)
{
	struct vmproc *vp = arg;

	log_info(MOD, "%s: %s%s%s", vp->cfg->name, event, detail && *detail ? ": " : "",
	         detail ? detail : "");
}

/* The guest OS's adapter: a TAP in its namespace with the host's MAC. */
static int open_guest(struct vmproc *vp)
{
	const struct vmproc_config *c = vp->cfg;
	const char *ifname = c->ifname ? c->ifname : "eth0";
	char spec[160], err[256];
	struct lab_nl *nl;
	int r = 0;

	if (c->netns)
		snprintf(spec, sizeof(spec), "tap:%s,netns=%s", ifname, c->netns);
	else
		snprintf(spec, sizeof(spec), "tap:%s", ifname);
	vp->tap = port_open(spec, err, sizeof(err));
	if (!vp->tap) {
		log_err(MOD, "%s: guest adapter: %s", c->name, err);
		return -1;
	}
	nl = lab_nl_open(c->netns);
	if (!nl) {
		log_err(MOD, "%s: netlink in %s: %s", c->name,
		        c->netns ? c->netns : "this namespace", strerror(errno));
		return -1;
	}
	if ((r = lab_nl_link_set_mac(nl, ifname, vp->nv->mac)) < 0)
		log_err(MOD, "%s: set MAC of %s: %s %s", c->name, ifname, strerror(-r),
		        lab_nl_ext_err(nl));
	else if (c->ip && (r = lab_nl_addr_add(nl, ifname, c->ip, c->plen)) < 0 && r != -EEXIST)
		log_err(MOD, "%s: address on %s: %s %s", c->name, ifname, strerror(-r),
		        lab_nl_ext_err(nl));
	else if ((r = lab_nl_link_up(nl, ifname)) < 0)
		log_err(MOD, "%s: %s up: %s %s", c->name, ifname, strerror(-r), lab_nl_ext_err(nl));
	else
		r = 0;
	lab_nl_close(nl);
	return r < 0 ? -1 : 0;
}

/* Hand the frames the channel has not taken yet to NetVSC again (they wait
 * for room, never dropped). Returns how many it took, or -1. */
static int flush_pending(struct vmproc *vp)
{
	int n = 0;

	if (vp->ipend < vp->npend) {
		n = netvsc_tx_burst(vp->nv, vp->pend + vp->ipend, vp->npend - vp->ipend);
		if (n < 0)
			return -1;
		vp->ipend += (unsigned int)n;
		vp->sent += (uint64_t)n;
	}
	return n;
}

/* Frames from the adapter to the guest: the TAP (the kernel takes or
 * counts them) or the endpoint's sink. */
static void to_guest(struct vmproc *vp, const struct port_pkt *pk, unsigned int n)
{
	if (vp->tap) {
		port_tx_burst(vp->tap, pk, n);
		return;
	}
	ep_receive_burst(vp->ep, pk, n, util_now_ns());
}

static ssize_t tap_fill(void *arg, const struct iovec *iov, unsigned int iovcnt)
{
	return port_rx_iov(((struct vmproc *)arg)->tap, iov, iovcnt);
}

/* One pass of the TAP <-> NetVSC pump. Returns the work done, -1 when the
 * channel is gone. On the VF path the guest's frames go from the kernel
 * straight into the VF's queue (netvsc_tx_fill); else, or when that queue is
 * full, a burst is read here and handed to netvsc_tx_burst. */
static int pump_tap(struct vmproc *vp)
{
	struct port_pkt rx[PORT_BURST];
	int work = 0, n;

	if (vp->ipend == vp->npend) {
		struct port_pkt spill = { .data = vp->gbuf };

		n = netvsc_tx_fill(vp->nv, tap_fill, vp, PORT_BURST, &spill);
		if (n < 0) {
			n = port_rx_burst(vp->tap, vp->pend, PORT_BURST);
			vp->npend = n > 0 ? (unsigned int)n : 0;
		} else {
			work += n;
			vp->sent += (uint64_t)n;
			vp->npend = spill.len ? 1 : 0;
			vp->pend[0] = spill;
		}
		vp->ipend = 0;
	}
	n = flush_pending(vp);
	if (n < 0)
		return -1;
	work += n;
	n = netvsc_rx_burst(vp->nv, rx, PORT_BURST);
	if (n < 0)
		return -1;
	if (n > 0) {
		to_guest(vp, rx, (unsigned int)n);
		work += n;
	}
	return work;
}

static int pump_endpoint(struct vmproc *vp)
{
	const struct vmproc_config *c = vp->cfg;
	struct port_pkt pk[PORT_BURST];
	uint64_t now = util_now_ns();
	int work = 0, n;

	n = netvsc_rx_burst(vp->nv, pk, PORT_BURST);
	if (n < 0)
		return -1;
	to_guest(vp, pk, (unsigned int)n);
	work += n;
	if (c->generate && !vp->gen_on && netvsc_vf_state(vp->nv) == NETVSC_VF_ACTIVE) {
		vp->gen_on = true; /* --wait-vf: the run starts now */
		vp->t_start = now;
		vp->sent = 0;
	}
	if (vp->gen_on && vp->ipend == vp->npend) {
		uint32_t size = c->size ? c->size : 64;
		uint64_t want = EP_BURST;

		if (c->pps) {
			uint64_t due = (uint64_t)((unsigned __int128)(now - vp->t_start) * c->pps /
			                          1000000000u);

			want = due > vp->sent ? due - vp->sent : 0;
			if (want > EP_BURST)
				want = EP_BURST;
		}
		if (want) {
			ep_generate(vp->ep, vp->gbuf, size, (unsigned int)want, now);
			for (unsigned int i = 0; i < want; i++)
				vp->pend[i] =
				    (struct port_pkt){ .data = vp->gbuf + (size_t)i * size,
					               .len = size };
			vp->npend = (unsigned int)want;
			vp->ipend = 0;
		}
	}
	/* Frames the channel did not take wait for room: never dropped. */
	n = flush_pending(vp);
	if (n < 0)
		return -1;
	work += n;
	return work;
}

static void print_endpoint(struct vmproc *vp)
{
	struct ep_stats s; /* (no adapter: a move's new host refused it) */
	double secs = (double)(util_now_ns() - vp->t_start) / 1e9;

	ep_get_stats(vp->ep, &s);
	printf("{\"vm\":\"%s\",\"seconds\":%.3f,\"tx_frames\":%llu,\"tx_bytes\":%llu,"
	       "\"rx_frames\":%llu,\"rx_bytes\":%llu,\"rx_bad\":%llu,\"rx_lost\":%llu,"
	       "\"rx_reordered\":%llu,\"rx_dup\":%llu,\"rx_foreign\":%llu,\"lat_p50_ns\":%llu,"
	       "\"lat_p99_ns\":%llu,\"tx_send_full\":%llu}\n",
	       vp->cfg->name, secs, (unsigned long long)s.tx_frames, (unsigned long long)s.tx_bytes,
	       (unsigned long long)s.rx_frames, (unsigned long long)s.rx_bytes,
	       (unsigned long long)s.rx_bad, (unsigned long long)s.rx_lost,
	       (unsigned long long)s.rx_reordered, (unsigned long long)s.rx_dup,
	       (unsigned long long)s.rx_foreign, (unsigned long long)ep_latency(vp->ep, 50),
	       (unsigned long long)ep_latency(vp->ep, 99),
	       (unsigned long long)(vp->nv ? vp->nv->st.tx_send_full : 0));
	fflush(stdout);
}

static void handle_signal(struct vmproc *vp)
{
	struct signalfd_siginfo si;

	while (read(vp->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) { /* the counters so far, and on */
			if (vp->ep)
				print_endpoint(vp);
			continue;
		}
		log_info(MOD, "%s: signal %u: stopping", vp->cfg->name, si.ssi_signo);
		vp->stop = true;
	}
}

/* Sleep until the guest, the channel, the VF or a signal has something. */
static void sleep_all(struct vmproc *vp, int timeout_ms)
{
	struct pollfd pfd[MAX_PFD];
	int n = netvsc_arm(vp->nv, pfd, MAX_PFD - 2), tap = -1, sig;

	if (n < 0)
		return; /* work arrived while arming */
	sig = n;
	pfd[n++] = (struct pollfd){ .fd = vp->sig_fd, .events = POLLIN };
	/* A guest frame still waiting for the channel: wait for room (netvsc_arm
	 * asked for it), not for more guest frames. */
	if (vp->tap && vp->ipend == vp->npend) {
		if (!port_arm(vp->tap)) {
			netvsc_disarm(vp->nv, NULL);
			return;
		}
		tap = n;
		pfd[n++] = (struct pollfd){ .fd = port_wait_fd(vp->tap), .events = POLLIN };
	}
	if (poll(pfd, (nfds_t)n, timeout_ms) < 0) {
		if (errno != EINTR)
			log_warn(MOD, "poll: %s", strerror(errno));
		netvsc_disarm(vp->nv, NULL);
		return;
	}
	if (tap >= 0 && (pfd[tap].revents & POLLIN))
		port_rx_ready(vp->tap);
	netvsc_disarm(vp->nv, pfd);
	if (pfd[sig].revents & POLLIN)
		handle_signal(vp);
}

/* A RARP request from the VM's MAC, as a migrated VM announces itself: the
 * physical network's bridges learn where the MAC is now (no address needed). */
static void announce(struct vmproc *vp)
{
	uint8_t f[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t rarp[10] = { 0x80, 0x35, 0, 1, 0x08, 0x00, 6, 4, 0, 3 };
	struct port_pkt pk = { .data = f, .len = sizeof(f) };

	memcpy(f + 6, vp->nv->mac, 6);
	memcpy(f + 12, rarp, sizeof(rarp)); /* ethertype, htype, ptype, hlen, plen, op */
	memcpy(f + 22, vp->nv->mac, 6);     /* sender MAC; sender IP 0 */
	memcpy(f + 32, vp->nv->mac, 6);     /* target MAC; target IP 0 */
	for (int i = 0; i < MIGR_ANNOUNCE; i++)
		if (netvsc_tx_burst(vp->nv, &pk, 1) != 1)
			log_warn(MOD, "%s: announce %d not sent", vp->cfg->name, i + 1);
}

/* The host moved the adapter (netvsc_migration): the guest's frames stay
 * queued where they are (the TAP's queue), those already taken go out; the
 * adapter halts here (its RNDIS HALT is answered after every frame before
 * it, both ways), those that came in reach the guest, and what comes later
 * the old host forwards to the new one; the adapter closes, opens on the
 * new host, and the VM announces itself. 0, or -1 when the new host refused
 * it. */
static int migrate(struct vmproc *vp)
{
	struct vmbus_migrate *m = &vp->migr;
	uint64_t t0 = util_now_ns(), until = t0 + 2000000000ull;
	struct port_pkt rx[PORT_BURST];
	uint8_t mac[6];
	char err[256];
	int n;

	log_info(MOD, "%s: migrating from host %s to host %s", vp->cfg->name, vp->host, m->host);
	while (vp->ipend < vp->npend && util_now_ns() < until)
		if (flush_pending(vp) < 0 ||
		    (vp->ipend < vp->npend && netvsc_wait(vp->nv, NETVSC_EV_TX, 100) < 0))
			break;
	if (vp->ipend < vp->npend)
		log_warn(MOD, "%s: %u guest frames not sent before the move", vp->cfg->name,
		         vp->npend - vp->ipend);
	vp->ipend = vp->npend = 0;
	/* from the HALT's completion on, the old host forwards the VM's frames to
	 * the new one: what it delivered before is all here, to the guest */
	if ((n = netvsc_halt(vp->nv)) < 0)
		log_warn(MOD, "%s: the halt on host %s: %s (frames may be lost)", vp->cfg->name,
		         vp->host, strerror(-n));
	while ((n = netvsc_rx_burst(vp->nv, rx, PORT_BURST)) > 0)
		to_guest(vp, rx, (unsigned int)n);
	memcpy(mac, vp->nv->mac, 6);
	netvsc_close(vp->nv);
	vp->nc.path = m->channel;
	vp->nc.name = m->name;
	vp->nc.secret = m->secret;
	vp->nv = netvsc_open(&vp->nc, err, sizeof(err));
	if (!vp->nv) {
		log_err(MOD, "%s: cannot open the adapter on host %s (%s): %s", vp->cfg->name,
		        m->host, m->channel, err);
		return -1;
	}
	if (memcmp(mac, vp->nv->mac, 6)) {
		log_err(MOD, "%s: host %s gave the adapter another MAC: refused", vp->cfg->name,
		        m->host);
		return -1;
	}
	snprintf(vp->host, sizeof(vp->host), "%s", m->host);
	announce(vp);
	log_info(MOD, "%s: on host %s now (%.1f ms without the adapter's channel)", vp->cfg->name,
	         vp->host, (double)(util_now_ns() - t0) / 1e6);
	return 0;
}

static int run_loop(struct vmproc *vp)
{
	const struct vmproc_config *c = vp->cfg;
	uint64_t last_work = util_now_ns(), spin_ns = util_spin_ns(SPIN_NS);
	uint64_t secs_ns =
	    c->mode == VMPROC_ENDPOINT && c->seconds > 0 ? (uint64_t)(c->seconds * 1e9) : 0;
	unsigned int passes = 0;

	while (!vp->stop) {
		int w = c->mode == VMPROC_TAP ? pump_tap(vp) : pump_endpoint(vp);
		uint64_t now;

		if (w < 0 || netvsc_poll(vp->nv) < 0) {
			log_err(MOD, "%s: the channel to host %s is gone: %s", c->name, vp->host,
			        vp->nv->err[0] ? vp->nv->err : "closed");
			return 1;
		}
		if (netvsc_migration(vp->nv, &vp->migr)) {
			if (migrate(vp) < 0)
				return 1;
			last_work = util_now_ns();
			continue;
		}
		now = util_now_ns();
		if (secs_ns && (vp->gen_on || !c->generate) && now - vp->t_start >= secs_ns)
			break;
		if (++passes % 1024 == 0)
			handle_signal(vp);
		if (w > 0) {
			last_work = now;
			continue;
		}
		if (now - last_work < spin_ns)
			continue;
		/* a generator with a rate sleeps until its next frame is due */
		sleep_all(vp, c->mode == VMPROC_ENDPOINT && c->generate ? (c->pps ? 1 : 0) : 1000);
		last_work = util_now_ns();
	}
	return 0;
}

int vmproc_run(const struct vmproc_config *cfg)
{
	struct vmproc vp = { .cfg = cfg, .sig_fd = -1 };
	const char *run_dir = cfg->run_dir ? cfg->run_dir : HOSTD_RUN_DIR;
	char chan[256], secf[256], err[256];
	uint8_t secret[VMBUS_SECRET_LEN];
	struct netvsc_config nc = {
		.name = cfg->name, .secret = secret, .event = on_event, .vf_event = on_vf_event
	};
	sigset_t mask;
	int r, rc = 1;

	nc.event_arg = &vp;
	snprintf(vp.host, sizeof(vp.host), "%s", cfg->host);
	snprintf(chan, sizeof(chan), "%s/%s.vmbus", run_dir, cfg->host);
	if (cfg->secret_file)
		snprintf(secf, sizeof(secf), "%s", cfg->secret_file);
	else
		snprintf(secf, sizeof(secf), "%s/%s.secret", run_dir, cfg->name);
	r = vmproc_read_secret(secf, secret);
	if (r < 0) {
		log_err(MOD,
		        "%s: credential %s: %s (create the VM on its host first: iovpath vm "
		        "create --host %s %s MAC)",
		        cfg->name, secf, strerror(-r), cfg->host, cfg->name);
		return 1;
	}
	nc.path = chan;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	vp.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (vp.sig_fd < 0) {
		log_err(MOD, "%s: signalfd: %s", cfg->name, strerror(errno));
		return 1;
	}
	vp.nc = nc;
	vp.nv = netvsc_open(&nc, err, sizeof(err));
	if (!vp.nv) {
		log_err(MOD, "%s: cannot open the adapter on host %s (%s): %s", cfg->name,
		        cfg->host, chan, err);
		goto out;
	}
	log_info(MOD, "%s: adapter open: NVSP %#x, MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %u",
	         cfg->name, vp.nv->version, vp.nv->mac[0], vp.nv->mac[1], vp.nv->mac[2],
	         vp.nv->mac[3], vp.nv->mac[4], vp.nv->mac[5], vp.nv->mtu);
	if (cfg->mode == VMPROC_TAP) {
		vp.gbuf = malloc(PORT_MAX_FRAME);
		if (!vp.gbuf || open_guest(&vp) < 0)
			goto out;
	} else {
		struct ep_config ec = { .size = cfg->size ? cfg->size : 64, .flows = 1 };

		memcpy(ec.src_mac, vp.nv->mac, 6);
		memcpy(ec.dst_mac, cfg->dst_mac, 6);
		vp.ep = ep_create(&ec);
		vp.gbuf = malloc((size_t)EP_BURST * ec.size);
		if (!vp.ep || !vp.gbuf) {
			log_err(MOD, "%s: endpoint: %s", cfg->name,
			        strerror(errno ? errno : EINVAL));
			goto out;
		}
	}
	vp.t_start = util_now_ns();
	vp.gen_on = cfg->generate && !cfg->wait_vf;
	rc = run_loop(&vp);
	if (vp.ep && !cfg->quiet)
		print_endpoint(&vp);
out:
	port_close(vp.tap);
	netvsc_close(vp.nv);
	ep_destroy(vp.ep);
	free(vp.gbuf);
	if (vp.sig_fd >= 0)
		close(vp.sig_fd);
	return rc;
}
