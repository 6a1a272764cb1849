/* VF attach and VF failover (SPEC §4, §5), host and guest in two processes
 * over a real channel, with traffic.
 *
 *   guest (child process)                     host (this process)
 *   ┌────────────────────────┐   VMBus    ┌───────────────────────────────────┐
 *   │ NetVSC ── synthetic ───┼────────────┼─ NetVSP ─ vsw ─ PF ─┐             │
 *   │   └─ VF driver ─ queue pair (BAR) ──┼──────────── NIC (VPorts) ── shm wire ── far end
 *   └────────────────────────┘            └───────────────────────────────────┘   (this process)
 *
 * Streams of sequence-numbered frames run both ways (guest -> far end, far
 * end -> guest), each paced by a window so that no queue overflows: a frame
 * missing at the end was lost by the switch-over. Counters and events are
 * shared through a MAP_SHARED page. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/netvsc.h"
#include "harness.h"
#include "host/host_dp.h"
#include "proto/nvsp.h"
#include "util/frame.h"
#include "util/util.h"

#define FRAME    128u
#define WINDOW   256u       /* frames in flight per direction */
#define MAX_SEQ  (1u << 18) /* frames per stream a test may send */
#define MAX_EV   64
#define FLOW_UNI 1u /* the unicast stream */
#define FLOW_BC  2u /* broadcast frames */
#define ETH_TEST 0x88b5

static const uint8_t MAC_VM[6] = { 0x02, 0x00, 0x5e, 0x30, 0x00, 0x01 };
static const uint8_t MAC_X[6] = { 0x02, 0x00, 0x5e, 0x30, 0x00, 0xee }; /* behind the wire */
static const uint8_t MAC_OTHER[6] = { 0x02, 0x00, 0x5e, 0x30, 0x00, 0x99 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

enum cmd {
	CMD_NONE,
	CMD_BCAST,        /* send arg broadcast frames */
	CMD_HOSTILE,      /* malformed and misdirected VPCI messages */
	CMD_DONE_CURRENT, /* VPCI_REMOVE_DONE for the VF it holds, unasked */
	CMD_PAUSE,        /* stop draining anything until the next command */
	CMD_FILL,         /* send arg frames in place (netvsc_tx_fill), one a broadcast */
	CMD_RESUME,
	CMD_RECEIVE, /* (ends a CMD_PAUSE) one netvsc_rx_burst before anything else */
};

struct gev {
	char name[24];
	char detail[200];
	uint64_t vf_rx, vf_tx; /* the guest's VF counters when it fired */
};

/* The page both processes see. Guest-written fields are published with a
 * release store of `seq_pub`; the host reads them after an acquire load. */
struct shared {
	/* host -> guest */
	volatile int stop;
	volatile int tx_on;         /* the guest sends its unicast stream */
	volatile uint64_t tx_limit; /* ... up to this many frames */
	volatile uint64_t wire_rx;  /* guest stream frames the far end has */
	volatile int cmd, cmd_arg;
	volatile uint32_t quirks;
	volatile uint16_t vlan; /* the VM's access VLAN (for the frames it checks) */
	/* guest -> host */
	volatile int ready, cmd_ack, failed;
	volatile uint64_t tx_sent;  /* stream frames sent */
	volatile uint64_t rx_count; /* distinct stream frames received */
	volatile uint64_t turns;    /* guest loop turns done, each after st was copied */
	volatile uint64_t arms;     /* turns whose netvsc_arm let the guest sleep */
	volatile int flr_arm, in_cb, flr_done; /* the next association event waits for an FLR */
	volatile uint64_t rx_dup, rx_bad, bc_rx;
	volatile uint64_t fill_fallbacks; /* CMD_FILL frames sent by netvsc_tx_burst */
	volatile int vf_state;
	volatile uint32_t datapath, vf_serial;
	struct netvsc_stats st;
	struct gev ev[MAX_EV];
	volatile int nev;
	char err[320];
	uint8_t rx_seen[MAX_SEQ];
};

static struct shared *S;

/* ---- the guest (child process) ---- */

static void g_event(void *arg, struct netvsc *nv, const char *ev, const char *detail)
{
	int i = S->nev;

	if (i >= MAX_EV)
		return;
	snprintf(S->ev[i].name, sizeof(S->ev[i].name), "%s", ev);
	snprintf(S->ev[i].detail, sizeof(S->ev[i].detail), "%s", detail);
	S->ev[i].vf_rx = nv->st.vf_rx_packets;
	S->ev[i].vf_tx = nv->st.vf_tx_packets;
	store_release(&S->nev, i + 1);
}

static uint32_t build(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t vlan,
                      uint64_t seq, uint32_t flow)
{
	uint32_t h = 14;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (vlan) {
		f[12] = 0x81;
		f[13] = 0x00;
		f[14] = (uint8_t)(vlan >> 8);
		f[15] = (uint8_t)vlan;
		h = 18;
	}
	f[h - 2] = ETH_TEST >> 8;
	f[h - 1] = ETH_TEST & 0xff;
	util_frame_fill(f + h, FRAME - h, seq, flow, UTIL_FRAME_QUICK);
	return FRAME;
}

/* A received test frame (untagged: the VM sees its access VLAN untagged):
 * its flow and sequence number, or -1. */
static int parse(const uint8_t *f, uint32_t len, uint16_t vlan, uint64_t *seq, uint32_t *flow)
{
	uint32_t h = vlan ? 18 : 14;

	if (len < h + UTIL_FRAME_MIN || (f[h - 2] << 8 | f[h - 1]) != ETH_TEST)
		return -1;
	if (vlan && (f[12] != 0x81 || f[13] || ((f[14] << 8 | f[15]) & 0xfff) != vlan))
		return -1;
	return util_frame_check(f + h, len - h, seq, flow, UTIL_FRAME_QUICK);
}

static void g_receive(struct netvsc *nv)
{
	struct port_pkt pk[PORT_BURST];
	int n = netvsc_rx_burst(nv, pk, PORT_BURST);

	for (int i = 0; i < n; i++) {
		uint64_t seq;
		uint32_t flow;

		if (parse(pk[i].data, pk[i].len, 0, &seq, &flow) || seq >= MAX_SEQ) {
			S->rx_bad++;
		} else if (flow == FLOW_BC) {
			S->bc_rx++;
		} else if (S->rx_seen[seq]++) {
			S->rx_dup++;
		} else {
			S->rx_count++;
		}
	}
}

static void g_send(struct netvsc *nv, uint64_t *sent)
{
	static uint8_t buf[PORT_BURST][FRAME];
	struct port_pkt pk[PORT_BURST];
	unsigned int k = 0;

	while (k < PORT_BURST && *sent + k < S->tx_limit && *sent + k - S->wire_rx < WINDOW) {
		pk[k] = (struct port_pkt){
			.data = buf[k], .len = build(buf[k], MAC_X, MAC_VM, 0, *sent + k, FLOW_UNI)
		};
		k++;
	}
	if (k) {
		int r = netvsc_tx_burst(nv, pk, k);

		if (r > 0)
			*sent += (uint64_t)r;
	}
}

static void g_hostile(struct netvsc *nv)
{
	struct vmbus_chan *ch = netvsc_chan(nv);
	struct vmbus_vpci v = { .serial = 12345 };
	struct vmbus_vpci_add add = { .serial = 1, .bar_size = 4096, .num_qp = 1 };
	int fd = eventfd(0, EFD_CLOEXEC);

	/* well-formed, but for a VF that does not exist */
	vmbus_vpci_send(ch, VMBUS_CTL_VPCI_REMOVE_DONE, 12345);
	/* an unknown type */
	vmbus_chan_send_ctl(ch, 99, 0, &v, sizeof(v), NULL, 0);
	/* the wrong size */
	vmbus_chan_send_ctl(ch, VMBUS_CTL_VPCI_REMOVE_DONE, 0, &v, 4, NULL, 0);
	/* a descriptor where none belongs */
	vmbus_chan_send_ctl(ch, VMBUS_CTL_VPCI_REMOVE_DONE, 0, &v, sizeof(v), &fd, 1);
	/* only the host hot-adds */
	vmbus_chan_send_ctl(ch, VMBUS_CTL_VPCI_ADD, 0, &add, sizeof(add), NULL, 0);
	/* reserved bits set */
	v.rsvd = 1;
	vmbus_chan_send_ctl(ch, VMBUS_CTL_VPCI_REMOVE_DONE, 0, &v, sizeof(v), NULL, 0);
	close(fd);
}

/* netvsc_tx_fill's source: unicast stream frames, one broadcast among them. */
struct fill_src {
	uint64_t *seq; /* the guest's stream counter */
	unsigned int left, bc_at;
};

static ssize_t g_fill(void *arg, const struct iovec *iov, unsigned int iovcnt)
{
	struct fill_src *f = arg;
	uint8_t buf[sizeof(struct virtio_net_hdr) + FRAME] = { 0 };
	uint8_t *fr = buf + sizeof(struct virtio_net_hdr);
	uint32_t len, at = 0;

	if (!f->left)
		return 0;
	len = f->left == f->bc_at ? build(fr, BCAST, MAC_VM, 0, 0, FLOW_BC)
	                          : build(fr, MAC_X, MAC_VM, 0, (*f->seq)++, FLOW_UNI);
	len += (uint32_t)sizeof(struct virtio_net_hdr);
	for (unsigned int i = 0; i < iovcnt && at < len; i++) {
		size_t k = len - at < iov[i].iov_len ? len - at : iov[i].iov_len;

		memcpy(iov[i].iov_base, buf + at, k);
		at += (uint32_t)k;
	}
	f->left--;
	return at;
}

/* As iovpath-vm does: frames in place while netvsc_tx_fill takes them; when
 * it can't (-EAGAIN: a full queue, a VLAN tag to insert), one by the copying
 * path (counted in S->fill_fallbacks). */
static void g_fill_cmd(struct netvsc *nv, uint64_t *sent, unsigned int n)
{
	static uint8_t sp[sizeof(struct virtio_net_hdr) + PORT_MAX_FRAME];
	struct fill_src f = { .seq = sent, .left = n, .bc_at = n / 2 };

	while (f.left) {
		struct port_pkt spill = { .data = sp };
		int r = netvsc_tx_fill(nv, g_fill, &f, PORT_BURST, &spill);

		if (r == -EAGAIN) {
			struct iovec iov = { sp, sizeof(sp) };
			ssize_t k = g_fill(&f, &iov, 1);

			spill.len = (uint32_t)k - sizeof(struct virtio_net_hdr);
			memcpy(&spill.vnet, sp, sizeof(spill.vnet));
			spill.data = sp + sizeof(struct virtio_net_hdr);
			S->fill_fallbacks++;
		} else if (r < 0) {
			snprintf(S->err, sizeof(S->err), "netvsc_tx_fill: %d", r);
			S->failed = 1;
			return;
		}
		while (spill.len && netvsc_tx_burst(nv, &spill, 1) == 0)
			netvsc_poll(nv);
	}
}

static void g_command(struct netvsc *nv, int cmd, uint64_t *sent)
{
	static uint8_t f[FRAME];
	struct port_pkt pk = { .data = f };

	switch (cmd) {
	case CMD_BCAST:
		for (int i = 0; i < S->cmd_arg; i++) {
			pk.len = build(f, BCAST, MAC_VM, 0, (uint64_t)i, FLOW_BC);
			while (netvsc_tx_burst(nv, &pk, 1) == 0)
				netvsc_poll(nv);
		}
		break;
	case CMD_HOSTILE:
		g_hostile(nv);
		break;
	case CMD_DONE_CURRENT:
		vmbus_vpci_send(netvsc_chan(nv), VMBUS_CTL_VPCI_REMOVE_DONE, nv->vf_serial);
		break;
	case CMD_FILL:
		g_fill_cmd(nv, sent, (unsigned int)S->cmd_arg);
		break;
	case CMD_PAUSE:
		store_release(&S->cmd_ack, CMD_PAUSE);
		while (S->cmd == CMD_PAUSE && !S->stop)
			usleep(500);
		if (S->cmd == CMD_RECEIVE)
			g_receive(nv);
		break;
	}
}

/* An association event (netvsc's callback, from inside its calls): with
 * flr_arm, stay in it until the host has reset the VF. */
static void g_assoc(void *arg, struct netvsc *nv, enum netvsc_event ev, uint32_t value)
{
	if (ev != NETVSC_EV_VF_ASSOC || !S->flr_arm)
		return;
	S->flr_arm = 0;
	store_release(&S->in_cb, 1);
	while (!load_acquire(&S->flr_done) && !S->stop)
		usleep(100);
}

static int guest_main(void *arg)
{
	struct netvsc_config c = { .path = arg,
		                   .name = "vm",
		                   .vf_event = g_event,
		                   .event = g_assoc,
		                   .quirks = S->quirks,
		                   .timeout_ms = 3000 };
	struct netvsc *nv = netvsc_open(&c, S->err, sizeof(S->err));
	uint64_t sent = 0;
	int done_cmd = 0;

	if (!nv) {
		S->failed = 1;
		return 1;
	}
	store_release(&S->ready, 1);
	while (!S->stop) {
		int cmd = S->cmd;

		if (netvsc_poll(nv) < 0) {
			snprintf(S->err, sizeof(S->err), "netvsc_poll: %s", nv->err);
			S->failed = 1;
			return 2;
		}
		g_receive(nv);
		if (S->tx_on)
			g_send(nv, &sent);
		if (cmd != done_cmd) {
			g_command(nv, cmd, &sent);
			done_cmd = cmd;
		}
		S->tx_sent = sent;
		S->vf_state = nv->vf_state;
		S->datapath = nv->datapath;
		S->vf_serial = nv->vf_serial;
		S->st = nv->st;
		store_release(&S->cmd_ack, done_cmd);
		store_release(&S->turns, S->turns + 1);

		struct pollfd pfd[8];
		int n = netvsc_arm(nv, pfd, 8);

		if (n >= 0)
			S->arms++;
		if (n > 0 && !S->tx_on && poll(pfd, (nfds_t)n, 1) >= 0)
			netvsc_disarm(nv, pfd);
		else
			netvsc_disarm(nv, NULL);
	}
	netvsc_close(nv);
	return 0;
}

/* ---- the host (this process) ---- */

struct hev {
	char name[24];
	char detail[256];
	struct host_vf_info vi; /* when it fired */
};

static struct {
	struct nic *nic;
	struct port *wire, *far;
	struct host_dp *h;
	int lfd, vm;
	char path[108];
	pid_t guest;
	struct hev ev[MAX_EV];
	int nev;
	/* far end */
	uint64_t w2g_sent, w2g_limit; /* the stream to the guest */
	uint16_t w2g_vlan;
	uint64_t wire_count, wire_dup, wire_bad, wire_bc;
	uint8_t wire_seen[MAX_SEQ];
} H;

static void h_event(void *ctx, int vm, const char *ev, const char *detail)
{
	struct hev *e;

	if (H.nev >= MAX_EV)
		return;
	e = &H.ev[H.nev++];
	snprintf(e->name, sizeof(e->name), "%s", ev);
	snprintf(e->detail, sizeof(e->detail), "%s", detail);
	host_dp_vf_info(H.h, vm, &e->vi);
}

/* The first host event named @name at or after index @from, or -1. */
static int h_find(const char *name, int from)
{
	for (int i = from; i < H.nev; i++)
		if (!strcmp(H.ev[i].name, name))
			return i;
	return -1;
}

static int g_find(const char *name)
{
	int n = load_acquire(&S->nev);

	for (int i = 0; i < n; i++)
		if (!strcmp(S->ev[i].name, name))
			return i;
	return -1;
}

/* One pass: the datapath, then the far end of the wire. */
static void h_pass(void)
{
	static uint8_t buf[PORT_BURST][FRAME];
	struct port_pkt pk[PORT_BURST];
	int broken, n;

	host_dp_poll(H.h, &broken);
	cr_assert_eq(broken, -1, "the guest's channel broke");
	if (!H.far)
		return;
	n = port_rx_burst(H.far, pk, PORT_BURST);
	for (int i = 0; i < n; i++) {
		uint64_t seq;
		uint32_t flow;

		if (parse(pk[i].data, pk[i].len, H.w2g_vlan, &seq, &flow) || seq >= MAX_SEQ)
			H.wire_bad++;
		else if (flow == FLOW_BC)
			H.wire_bc++;
		else if (H.wire_seen[seq]++)
			H.wire_dup++;
		else
			H.wire_count++;
	}
	S->wire_rx = H.wire_count;
	n = 0;
	while (n < (int)PORT_BURST && H.w2g_sent + (uint64_t)n < H.w2g_limit &&
	       H.w2g_sent + (uint64_t)n - S->rx_count < WINDOW) {
		pk[n] = (struct port_pkt){ .data = buf[n],
			                   .len = build(buf[n], MAC_VM, MAC_X, H.w2g_vlan,
			                                H.w2g_sent + (uint64_t)n, FLOW_UNI) };
		n++;
	}
	if (n > 0) {
		int r = port_tx_burst(H.far, pk, (unsigned int)n);

		if (r > 0)
			H.w2g_sent += (uint64_t)r;
	}
}

#define RUN_UNTIL(cond, ms, ...)                                                                   \
	do {                                                                                       \
		uint64_t end_ = util_now_ns() + (uint64_t)(ms)*1000000ull;                         \
		while (!(cond)) {                                                                  \
			cr_assert(!S->failed, "guest failed: %s", S->err);                         \
			cr_assert(util_now_ns() < end_, __VA_ARGS__);                              \
			h_pass();                                                                  \
		}                                                                                  \
	} while (0)

struct peer {
	char spec[160], err[256];
	struct port *p;
	volatile int done;
};

static void *peer_connect(void *arg)
{
	struct peer *pe = arg;

	pe->p = port_open(pe->spec, pe->err, sizeof(pe->err));
	pe->done = 1;
	return NULL;
}

static void h_start(uint32_t max_vfs, uint16_t vlan, uint32_t quirks)
{
	struct nic_caps caps = { .max_vfs = max_vfs,
		                 .max_vports = max_vfs + 1,
		                 .total_queue_pairs = max_vfs + 1,
		                 .max_qps_per_vport = 1,
		                 .mac_filters_per_vport = 4 };
	struct host_vm_config vc = { .name = "vm", .vlan = vlan };
	struct peer pe;
	char spec[160], wpath[108], err[256];
	struct vmbus_chan *ch;
	pthread_t th;

	signal(SIGPIPE, SIG_IGN);
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(S != MAP_FAILED);
	S->quirks = quirks;
	S->vlan = vlan;
	memset(&H, 0, sizeof(H));
	H.w2g_vlan = vlan;
	H.nic = nic_create(&caps);
	cr_assert(H.nic && !nic_switch_create(H.nic, 1));
	snprintf(wpath, sizeof(wpath), "%s", th_sock_path());
	snprintf(spec, sizeof(spec), "shm-listen:%s", wpath);
	H.wire = port_open(spec, err, sizeof(err));
	cr_assert(H.wire, "%s", err);
	H.h = host_dp_create(H.nic, H.wire, err, sizeof(err));
	cr_assert(H.h, "%s", err);
	host_dp_set_event_cb(H.h, h_event, NULL);
	/* the far end connects from a thread while the NIC takes it */
	memset(&pe, 0, sizeof(pe));
	snprintf(pe.spec, sizeof(pe.spec), "shm-connect:%s", wpath);
	cr_assert_eq(pthread_create(&th, NULL, peer_connect, &pe), 0);
	while (!pe.done)
		host_dp_poll(H.h, NULL);
	pthread_join(th, NULL);
	cr_assert(pe.p, "far end: %s", pe.err);
	H.far = pe.p;
	/* the guest */
	snprintf(H.path, sizeof(H.path), "%s", th_sock_path());
	H.lfd = vmbus_listen(H.path);
	cr_assert(H.lfd >= 0);
	H.guest = th_spawn(guest_main, H.path);
	ch = vmbus_chan_accept(H.lfd, NULL, err, sizeof(err));
	cr_assert(ch, "%s", err);
	memcpy(vc.mac, MAC_VM, 6);
	H.vm = host_dp_vm_add(H.h, ch, &vc);
	cr_assert_geq(H.vm, 0);
	RUN_UNTIL(load_acquire(&S->ready), 5000, "the guest did not come up");
}

static void h_stop(void)
{
	S->stop = 1;
	for (uint64_t end = util_now_ns() + 3000000000ull; kill(H.guest, 0) == 0;) {
		int st;

		if (waitpid(H.guest, &st, WNOHANG) == H.guest) {
			cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "guest exit %d: %s",
			          WEXITSTATUS(st), S->err);
			break;
		}
		if (util_now_ns() > end) {
			kill(H.guest, SIGKILL);
			cr_assert_fail("the guest did not stop");
		}
		host_dp_poll(H.h, NULL);
	}
	host_dp_destroy(H.h);
	port_close(H.far);
	port_close(H.wire);
	nic_destroy(H.nic);
	close(H.lfd);
	unlink(H.path);
	munmap(S, sizeof(*S));
}

static struct host_vf_info vf_info(void)
{
	struct host_vf_info vi;

	cr_assert_eq(host_dp_vf_info(H.h, H.vm, &vi), 0);
	return vi;
}

/* Both streams on for @n more frames each; run until every frame arrived. */
/* The guest counts a frame (rx_count) as it takes it, and copies its stats
 * (st) later in the same turn of its loop: wait for a whole turn after
 * the counts are in, so st says what they say. */
static void settle(void)
{
	uint64_t t = load_acquire(&S->turns);

	RUN_UNTIL(load_acquire(&S->turns) >= t + 2, 5000, "the guest's loop stopped");
}

static void stream(uint64_t n)
{
	H.w2g_limit += n;
	S->tx_limit += n;
	S->tx_on = 1;
	RUN_UNTIL(S->rx_count == H.w2g_limit && H.wire_count == S->tx_limit, 10000,
	          "stream: the guest has %llu of %llu, the far end %llu of %llu",
	          (unsigned long long)S->rx_count, (unsigned long long)H.w2g_limit,
	          (unsigned long long)H.wire_count, (unsigned long long)S->tx_limit);
	S->tx_on = 0;
	settle();
}

static void no_loss(void)
{
	cr_expect_eq(S->rx_count, H.w2g_sent, "wire -> guest: %llu of %llu arrived",
	             (unsigned long long)S->rx_count, (unsigned long long)H.w2g_sent);
	cr_expect_eq(H.wire_count, S->tx_sent, "guest -> wire: %llu of %llu arrived",
	             (unsigned long long)H.wire_count, (unsigned long long)S->tx_sent);
	cr_expect_eq(S->rx_dup + H.wire_dup, 0, "duplicates");
	cr_expect_eq(S->rx_bad + H.wire_bad, 0, "bad frames");
}

static void command(int cmd, int arg)
{
	S->cmd_arg = arg;
	S->cmd = cmd;
	RUN_UNTIL(load_acquire(&S->cmd_ack) == cmd, 5000, "the guest did not do command %d", cmd);
}

/* Attach and wait until both sides are on the VF path. */
static int attach_active(void)
{
	char err[256];
	int vf = host_dp_vf_attach(H.h, H.vm, err, sizeof(err));

	cr_assert_geq(vf, 0, "attach: %s", err);
	RUN_UNTIL(S->vf_state == NETVSC_VF_ACTIVE && vf_info().state == HOST_VF_ACTIVE, 5000,
	          "not on the VF path: guest %s, host %s", netvsc_vf_state_name(S->vf_state),
	          host_vf_state_name(vf_info().state));
	return vf;
}

static void vf_gone(int vf)
{
	struct nic_vf_info fi;
	struct nic_info ni;

	cr_expect_eq(nic_vf_get(H.nic, (unsigned int)vf, &fi), -ENOENT,
	             "the VF is still allocated");
	nic_get_info(H.nic, &ni);
	cr_expect_eq(ni.vfs, 0);
	cr_expect_eq(ni.vports, 1, "the VF's VPort is still there");
	cr_expect_eq(nic_filter_find(H.nic, MAC_VM, S->vlan), (int)NIC_DEFAULT_VPORT,
	             "the VM's filter is not back on the default VPort");
}

/* (a) synthetic, then attach: the VF path carries unicast after the
 * completion only; broadcast stays synthetic. */
Test(vfattach, attach_moves_unicast_to_the_vf, .timeout = 60)
{
	struct host_vf_info vi;
	struct netvsc_stats before;
	int e, g;

	h_start(2, 0, 0);
	stream(3000);
	vi = vf_info();
	cr_expect_eq(vi.state, HOST_VF_NONE);
	cr_expect_eq(S->st.vf_rx_packets + S->st.vf_tx_packets, 0);
	cr_expect_geq(S->st.rx_packets, 3000);
	cr_expect_geq(S->st.tx_packets, 3000);
	cr_expect_eq(nic_filter_find(H.nic, MAC_VM, 0), (int)NIC_DEFAULT_VPORT,
	             "a synthetic VM's filter lives on the default VPort");

	/* attach with both streams running */
	H.w2g_limit += 20000;
	S->tx_limit += 20000;
	S->tx_on = 1;
	int vf = attach_active();
	stream(0);

	e = h_find("vf.offered", 0);
	cr_assert_geq(e, 0);
	e = h_find("datapath.vf", e);
	cr_assert_geq(e, 0, "no datapath.vf event on the host");
	cr_expect_eq(H.ev[e].vi.rx_frames + H.ev[e].vi.tx_frames, 0,
	             "frames on the VF's VPort before the switch: %llu in, %llu out",
	             (unsigned long long)H.ev[e].vi.rx_frames,
	             (unsigned long long)H.ev[e].vi.tx_frames);
	g = g_find("datapath.vf");
	cr_assert_geq(g, 0, "no datapath.vf event in the guest");
	cr_expect_eq(S->ev[g].vf_rx + S->ev[g].vf_tx, 0,
	             "the guest used the VF before the completion: %llu in, %llu out",
	             (unsigned long long)S->ev[g].vf_rx, (unsigned long long)S->ev[g].vf_tx);
	cr_expect_lt(g_find("vf.added"), g);
	no_loss();

	/* on the VF: unicast leaves the synthetic counters alone */
	before = S->st;
	stream(5000);
	cr_expect_eq(S->st.rx_packets, before.rx_packets, "unicast in on synthetic");
	cr_expect_eq(S->st.tx_packets, before.tx_packets, "unicast out on synthetic");
	cr_expect_eq(S->st.vf_rx_packets - before.vf_rx_packets, 5000);
	cr_expect_eq(S->st.vf_tx_packets - before.vf_tx_packets, 5000);
	vi = vf_info();
	cr_expect_eq(vi.vf, vf);
	cr_expect_eq(vi.datapath, NVSP_DATAPATH_VF);
	cr_expect_geq(vi.rx_frames, 5000, "the NIC's VPort counters");
	cr_expect_geq(vi.tx_frames, 5000);
	cr_expect_eq(nic_filter_find(H.nic, MAC_VM, 0), vi.vport);

	/* broadcast: out on synthetic; in once, from synthetic */
	before = S->st;
	command(CMD_BCAST, 10);
	RUN_UNTIL(H.wire_bc == 10, 3000, "broadcasts out: %llu of 10",
	          (unsigned long long)H.wire_bc);
	settle();
	cr_expect_eq(S->st.tx_packets - before.tx_packets, 10, "broadcast left by synthetic");
	cr_expect_eq(S->st.vf_tx_packets, before.vf_tx_packets);
	static uint8_t f[FRAME];
	struct port_pkt pk = { .data = f };

	for (int i = 0; i < 10; i++) {
		pk.len = build(f, BCAST, MAC_X, 0, (uint64_t)i, FLOW_BC);
		cr_assert_eq(port_tx_burst(H.far, &pk, 1), 1);
	}
	RUN_UNTIL(S->bc_rx >= 10 && S->st.vf_rx_mcast_skipped >= 10, 3000,
	          "broadcasts in: %llu, skipped on the VF %llu", (unsigned long long)S->bc_rx,
	          (unsigned long long)S->st.vf_rx_mcast_skipped);
	for (int i = 0; i < 100; i++)
		h_pass();
	settle();
	cr_expect_eq(S->bc_rx, 10, "each broadcast once");
	cr_expect_eq(S->st.rx_packets - before.rx_packets, 10, "broadcast came by synthetic");
	no_loss();
	h_stop();
}

/* (i) a guest that stops draining its VF's receive queue: the NIC drops what
 * no longer fits and charges it to the way in (vf_rx_dropped), not to the
 * guest's sending; the guest gets every other frame, once, when it drains. */
Test(vfattach, full_receive_queue_counts_rx_drops, .timeout = 60)
{
	static uint8_t buf[PORT_BURST][FRAME];
	struct port_pkt pk[PORT_BURST];
	struct host_vf_info before, vi;
	uint64_t base, flood = 0;
	/* more frames than a VF receive ring holds (header, extension, trailer) */
	const uint64_t total = HOST_DP_VF_RING_SIZE / (FRAME + 40) + 4000;

	cr_assert_lt(total, MAX_SEQ);
	h_start(2, 0, 0);
	attach_active();
	stream(1000);
	before = vf_info();
	base = S->rx_count;
	command(CMD_PAUSE, 0);
	while (flood < total) {
		unsigned int n = 0;

		while (n < PORT_BURST && flood + n < total) {
			pk[n] = (struct port_pkt){ .data = buf[n],
				                   .len = build(buf[n], MAC_VM, MAC_X, 0,
				                                H.w2g_sent + flood + n, FLOW_UNI) };
			n++;
		}
		int r = port_tx_burst(H.far, pk, n);

		flood += r > 0 ? (uint64_t)r : 0;
		host_dp_poll(H.h, NULL);
	}
	H.w2g_sent += flood;
	H.w2g_limit = H.w2g_sent;
	RUN_UNTIL(vf_info().rx_frames + vf_info().rx_drops - before.rx_frames - before.rx_drops ==
	              flood,
	          5000, "the NIC has not decided every frame");
	vi = vf_info();
	cr_expect_gt(vi.rx_drops - before.rx_drops, 0, "nothing dropped: the test does not test");
	cr_expect_eq(vi.tx_drops, before.tx_drops, "receive-queue drops counted as transmit drops");
	command(CMD_RESUME, 0);
	RUN_UNTIL(S->rx_count - base == vi.rx_frames - before.rx_frames, 5000,
	          "the guest has %llu of the %llu the NIC delivered",
	          (unsigned long long)(S->rx_count - base),
	          (unsigned long long)(vi.rx_frames - before.rx_frames));
	cr_expect_eq(S->rx_count - base + vi.rx_drops - before.rx_drops, flood);
	cr_expect_eq(S->rx_dup + S->rx_bad, 0, "duplicates or bad frames");
	h_stop();
}

/* (j) frames read straight into the VF's queue (netvsc_tx_fill, as
 * iovpath-vm does from its TAP): unicast on the VF, in order, none lost; the
 * broadcast among them handed back and sent on synthetic. */
Test(vfattach, in_place_transmit, .timeout = 60)
{
	struct netvsc_stats before;
	uint64_t wire0, bc0;

	h_start(2, 0, 0);
	attach_active();
	stream(100);
	before = S->st;
	wire0 = H.wire_count;
	bc0 = H.wire_bc;
	S->tx_limit += 3000;
	command(CMD_FILL, 3001);
	RUN_UNTIL(H.wire_count - wire0 == 3000 && H.wire_bc - bc0 == 1, 5000,
	          "the far end has %llu of 3000 unicast, %llu of 1 broadcast",
	          (unsigned long long)(H.wire_count - wire0), (unsigned long long)(H.wire_bc - bc0));
	settle();
	cr_expect_eq(S->st.vf_tx_packets - before.vf_tx_packets, 3000, "unicast on the VF");
	cr_expect_eq(S->st.tx_packets - before.tx_packets, 1, "the broadcast on synthetic");
	cr_expect_lt(S->fill_fallbacks, 100, "%llu of 3001 frames not sent in place",
	             (unsigned long long)S->fill_fallbacks);
	no_loss();
	h_stop();
}

/* (b) a guest that binds but never asks for the VF path: everything stays
 * synthetic, the VF's VPort sees nothing. */
Test(vfattach, no_vf_path_before_the_switch, .timeout = 60)
{
	char err[256];
	struct host_vf_info vi;

	h_start(2, 0, NETVSC_QUIRK_NO_SWITCH);
	cr_assert_geq(host_dp_vf_attach(H.h, H.vm, err, sizeof(err)), 0, "%s", err);
	RUN_UNTIL(S->vf_state == NETVSC_VF_ADDED && S->st.vf_assoc_events >= 1, 5000,
	          "the guest has not got its VF");
	stream(5000);
	vi = vf_info();
	cr_expect_eq(vi.state, HOST_VF_OFFERED);
	cr_expect_eq(vi.datapath, NVSP_DATAPATH_SYNTHETIC);
	cr_expect_eq(vi.rx_frames + vi.tx_frames + vi.tx_drops + vi.rx_drops, 0, "the VF's VPort carried frames");
	cr_expect_eq(S->st.vf_rx_packets + S->st.vf_tx_packets, 0);
	cr_expect_geq(S->st.rx_packets, 5000);
	cr_expect_eq(nic_filter_find(H.nic, MAC_VM, 0), (int)NIC_DEFAULT_VPORT);
	cr_expect_eq(h_find("datapath.vf", 0), -1);
	no_loss();
	/* and it gives the VF back when asked */
	cr_assert_eq(host_dp_vf_detach(H.h, H.vm, false, err, sizeof(err)), 0, "%s", err);
	RUN_UNTIL(vf_info().state == HOST_VF_NONE, 5000, "not removed");
	cr_expect_geq(h_find("vf.removed", 0), 0);
	vf_gone(0);
	h_stop();
}

/* (c) graceful removal with both streams running: nothing lost, back on
 * synthetic, the VF freed, in the SPEC's order. */
Test(vfattach, graceful_detach_loses_nothing, .timeout = 60)
{
	char err[256];
	int vf, e0, e1, e2;

	h_start(2, 0, 0);
	stream(2000);
	vf = attach_active();
	stream(2000);
	H.w2g_limit += 30000;
	S->tx_limit += 30000;
	S->tx_on = 1;
	RUN_UNTIL(S->rx_count > H.w2g_limit - 25000, 5000, "stream stuck");
	cr_assert_eq(host_dp_vf_detach(H.h, H.vm, false, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(host_dp_vf_detach(H.h, H.vm, false, err, sizeof(err)), -EALREADY);
	RUN_UNTIL(vf_info().state == HOST_VF_NONE, 5000, "not removed: %s",
	          host_vf_state_name(vf_info().state));
	stream(0);
	stream(3000); /* and after: synthetic */
	no_loss();
	cr_expect_eq(S->vf_state, NETVSC_VF_NONE);
	cr_expect_eq(S->datapath, NVSP_DATAPATH_SYNTHETIC);
	vf_gone(vf);
	e0 = h_find("vf.removing", 0);
	e1 = h_find("datapath.synthetic", e0);
	e2 = h_find("vf.removed", e1);
	cr_expect(e0 >= 0 && e1 > e0 && e2 > e1, "events out of order: %d %d %d", e0, e1, e2);
	cr_expect_eq(h_find("vf.surprise_removed", 0), -1);
	cr_expect_eq(vf_info().removals, 1);
	cr_expect_geq(g_find("vf.removed"), 0);
	cr_expect_gt(vf_info().rx_frames, 0, "the VF path's counters survive the VF");
	h_stop();
}

/* (d) the guest ignores VPCI_REMOVE: after the time-out the host tears down
 * anyway; the guest's VF sees the reset and the guest goes on, synthetic. */
Test(vfattach, surprise_removal_after_the_timeout, .timeout = 60)
{
	char err[256];
	uint64_t t0;
	int vf;

	h_start(2, 0, NETVSC_QUIRK_IGNORE_REMOVE);
	host_dp_set_vf_timeout(H.h, 300);
	vf = attach_active();
	stream(2000);
	t0 = util_now_ns();
	cr_assert_eq(host_dp_vf_detach(H.h, H.vm, false, err, sizeof(err)), 0, "%s", err);
	cr_expect_gt(host_dp_timeout_ms(H.h), 0);
	RUN_UNTIL(vf_info().state == HOST_VF_NONE, 5000, "no surprise removal");
	cr_expect_geq(util_now_ns() - t0, 300000000ull, "torn down before the time-out");
	cr_expect_eq(host_dp_timeout_ms(H.h), -1);
	cr_expect_geq(h_find("vf.surprise_removed", 0), 0);
	cr_expect_eq(vf_info().surprise_removals, 1);
	vf_gone(vf);
	RUN_UNTIL(S->vf_state == NETVSC_VF_NONE, 5000, "the guest still holds the VF: %s",
	          netvsc_vf_state_name(S->vf_state));
	cr_expect_geq(g_find("vf.removed"), 0);
	/* the adapter is alive, on synthetic, both ways */
	uint64_t rx = S->st.rx_packets, tx = S->st.tx_packets;

	stream(3000);
	cr_expect_geq(S->st.rx_packets - rx, 3000);
	cr_expect_geq(S->st.tx_packets - tx, 3000);
	no_loss();
	h_stop();
}

/* A VF with @mac on the NIC, offered to the guest by VPCI_ADD (no
 * association yet). */
static void vf_offer(struct nicdp *dp, struct netvsp *v, const uint8_t *mac, struct nicdp_vf *vf)
{
	struct vmbus_vpci_add add = { .vendor_id = NIC_PCI_VENDOR_ID,
		                      .device_id = NIC_PCI_VF_DEVICE_ID,
		                      .num_qp = 1 };
	char err[256];
	int fds[3];

	cr_assert_eq(nicdp_vf_create(dp, mac, 0, 0, 1, 1u << 16, vf, err, sizeof(err)), 0, "%s",
	             err);
	add.serial = vf->serial;
	add.bar_size = vf->bar->size;
	fds[0] = vf->bar->memfd, fds[1] = vf->bar->efd_nic, fds[2] = vf->bar->efd_vf;
	cr_assert_eq(vmbus_vpci_add(netvsp_chan(v), &add, fds), 0);
}

/* (e) an association that does not match the VF is not bound. */
Test(vfattach, association_must_match_serial_and_mac, .timeout = 60)
{
	struct nicdp *dp = NULL;
	struct netvsp *v;
	struct nicdp_vf vf;

	h_start(2, 0, 0);
	dp = host_dp_nicdp(H.h);
	v = host_dp_netvsp(H.h, H.vm);
	/* a VF with the VM's MAC, named by a wrong serial */
	vf_offer(dp, v, MAC_VM, &vf);
	cr_assert_eq(netvsp_vf_assoc(v, true, vf.serial + 7), 0);
	RUN_UNTIL(S->st.vf_assoc_mismatch == 1, 5000, "no mismatch seen");
	cr_expect_eq(S->vf_state, NETVSC_VF_ADDED, "bound to a VF of another serial");
	cr_expect(strstr(S->ev[g_find("vf.mismatch")].detail, "not bound"));
	/* the right serial binds */
	cr_assert_eq(netvsp_vf_assoc(v, true, vf.serial), 0);
	RUN_UNTIL(S->vf_state == NETVSC_VF_SWITCHING || S->vf_state == NETVSC_VF_ACTIVE, 5000,
	          "the matching association did not bind");
	RUN_UNTIL(h_find("vf.protocol_error", 0) >= 0, 5000,
	          "the host was asked for a VF path it did not offer: not reported");
	cr_expect_eq(nic_filter_find(H.nic, MAC_VM, 0), (int)NIC_DEFAULT_VPORT);
	/* take it away: the guest sees the reset */
	cr_assert_eq(nicdp_vf_destroy(dp, &vf), 0);
	RUN_UNTIL(S->vf_state == NETVSC_VF_NONE, 5000, "the guest kept a reset VF");

	/* a VF with another MAC, named by its own serial */
	vf_offer(dp, v, MAC_OTHER, &vf);
	cr_assert_eq(netvsp_vf_assoc(v, true, vf.serial), 0);
	RUN_UNTIL(S->st.vf_assoc_mismatch == 2, 5000, "no MAC mismatch seen");
	cr_expect_eq(S->vf_state, NETVSC_VF_ADDED);
	stream(1000);
	cr_expect_eq(S->st.vf_tx_packets + S->st.vf_rx_packets, 0);
	no_loss();
	cr_assert_eq(nicdp_vf_destroy(dp, &vf), 0);
	h_stop();
}

/* (f) hostile VPCI messages from the guest: reported, dropped; the host and
 * the VM's service go on. */
Test(vfattach, hostile_vpci_messages_are_dropped, .timeout = 60)
{
	struct netvsp_stats st;

	h_start(2, 0, 0);
	command(CMD_HOSTILE, 0);
	for (int i = 0; i < 200; i++)
		h_pass();
	netvsp_get_stats(host_dp_netvsp(H.h, H.vm), &st);
	cr_expect_eq(st.bad_vpci, 4, "malformed or misdirected VPCI messages: %llu",
	             (unsigned long long)st.bad_vpci);
	cr_expect_eq(st.bad_nvsp, 1, "the unknown type");
	cr_expect_eq(vf_info().bad_messages, 1, "REMOVE_DONE for a VF never offered");
	cr_expect_geq(h_find("vf.protocol_error", 0), 0);
	cr_expect_geq(h_find("vm.protocol_error", 0), 0);
	stream(1000);
	/* with a VF: an unasked REMOVE_DONE for it changes nothing */
	attach_active();
	command(CMD_DONE_CURRENT, 0);
	for (int i = 0; i < 200; i++)
		h_pass();
	cr_expect_eq(vf_info().bad_messages, 2);
	cr_expect_eq(vf_info().state, HOST_VF_ACTIVE);
	stream(1000);
	no_loss();
	h_stop();
}

/* (g) no VF left: the attach fails with a clear error, the VM stays
 * synthetic; once a VF is free again it gets one. */
Test(vfattach, no_vf_left_stays_synthetic, .timeout = 60)
{
	char err[256];
	uint32_t serial;
	int other;

	h_start(1, 0, 0);
	other = nic_vf_alloc(H.nic, MAC_OTHER, &serial);
	cr_assert_geq(other, 0);
	cr_expect_eq(host_dp_vf_attach(H.h, H.vm, err, sizeof(err)), -ENOSPC);
	cr_expect(strstr(err, "no VF left"), "error: %s", err);
	cr_expect_geq(h_find("vf.attach_failed", 0), 0);
	cr_expect_eq(vf_info().state, HOST_VF_NONE);
	stream(2000);
	cr_expect_eq(S->vf_state, NETVSC_VF_NONE);
	cr_expect_eq(S->st.vf_rx_packets + S->st.vf_tx_packets, 0);
	no_loss();
	cr_assert_eq(nic_vf_free(H.nic, (unsigned int)other), 0);
	attach_active();
	stream(2000);
	cr_expect_geq(S->st.vf_tx_packets, 2000);
	no_loss();
	h_stop();
}

/* A VM on an access VLAN: its VF inserts and strips the port VLAN's tag, so
 * the guest sees the same untagged frames on both paths. */
Test(vfattach, access_vlan_on_the_vf_path, .timeout = 60)
{
	char err[256];
	int vf;

	h_start(2, 10, 0);
	stream(1000);
	vf = attach_active();
	stream(3000);
	cr_expect_geq(S->st.vf_rx_packets, 3000);
	cr_expect_geq(S->st.vf_tx_packets, 3000);
	cr_expect_eq(nic_filter_find(H.nic, MAC_VM, 10), vf_info().vport);
	/* a tag to insert: nothing in place, every frame by the copying path */
	S->tx_limit += 10;
	command(CMD_FILL, 11);
	RUN_UNTIL(H.wire_count == S->tx_limit && H.wire_bc == 1, 5000, "CMD_FILL frames missing");
	settle();
	cr_expect_eq(S->fill_fallbacks, 11);
	cr_assert_eq(host_dp_vf_detach(H.h, H.vm, false, err, sizeof(err)), 0, "%s", err);
	RUN_UNTIL(vf_info().state == HOST_VF_NONE, 5000, "not removed");
	stream(1000);
	no_loss();
	vf_gone(vf);
	h_stop();
}

/* The PF invalidates config blocks (SPEC §6): the guest's VF driver re-reads
 * them and the adapter goes back to sleeping when idle (found by an audit:
 * nothing took the invalidation, so netvsc_arm said "work waiting" forever
 * and the VM's process spun on a CPU while idle). */
Test(vfattach, invalidated_config_blocks_are_read_again, .timeout = 60)
{
	struct nicdp *dp;
	struct netvsp *v;
	struct nicdp_vf vf;
	uint32_t seq;
	uint64_t arms;

	h_start(2, 0, 0);
	dp = host_dp_nicdp(H.h);
	v = host_dp_netvsp(H.h, H.vm);
	vf_offer(dp, v, MAC_VM, &vf);
	/* unbound (another serial): the VF stays ADDED, its driver running */
	cr_assert_eq(netvsp_vf_assoc(v, true, vf.serial + 7), 0);
	RUN_UNTIL(S->st.vf_assoc_mismatch == 1, 5000, "no mismatch seen");
	arms = S->arms;
	RUN_UNTIL(S->arms > arms + 5, 3000, "an idle guest with a VF does not sleep");
	seq = READ_ONCE(vf.bar->mbox->req_seq);
	vfbar_invalidate(vf.bar, 1ull << NIC_BLOCK_MTU);
	RUN_UNTIL(READ_ONCE(vf.bar->mbox->invalidate) == 0, 3000,
	          "the guest did not take the invalidation");
	RUN_UNTIL(READ_ONCE(vf.bar->mbox->req_seq) != seq, 3000, "the blocks were not read again");
	arms = S->arms;
	RUN_UNTIL(S->arms > arms + 5, 3000, "the guest no longer sleeps after an invalidation");
	stream(1000);
	no_loss();
	cr_assert_eq(nicdp_vf_destroy(dp, &vf), 0);
	RUN_UNTIL(S->vf_state == NETVSC_VF_NONE, 5000, "the guest kept a reset VF");
	h_stop();
}

/* A VF hot-added before its association (SPEC §4: step 5, then 6): the idle
 * guest sleeps while it waits, and binds when the association comes (found
 * by an audit: the association looked for at VPCI_ADD stayed "new" while
 * there was none, so netvsc_arm never let the VM's process sleep). */
Test(vfattach, vf_waiting_for_its_association_lets_the_guest_sleep, .timeout = 60)
{
	struct nicdp *dp;
	struct netvsp *v;
	struct nicdp_vf vf;
	uint64_t arms;

	h_start(2, 0, 0);
	dp = host_dp_nicdp(H.h);
	v = host_dp_netvsp(H.h, H.vm);
	vf_offer(dp, v, MAC_VM, &vf);
	RUN_UNTIL(S->vf_state == NETVSC_VF_ADDED, 5000, "the guest did not start the VF");
	arms = S->arms;
	RUN_UNTIL(S->arms > arms + 5, 3000, "an idle guest waiting for an association does not sleep");
	cr_expect_eq(S->vf_state, NETVSC_VF_ADDED);
	/* the association comes: bound */
	cr_assert_eq(netvsp_vf_assoc(v, true, vf.serial), 0);
	RUN_UNTIL(S->vf_state == NETVSC_VF_SWITCHING || S->vf_state == NETVSC_VF_ACTIVE, 5000,
	          "the association did not bind");
	/* take it away: the guest sees the reset */
	cr_assert_eq(nicdp_vf_destroy(dp, &vf), 0);
	RUN_UNTIL(S->vf_state == NETVSC_VF_NONE, 5000, "the guest kept a reset VF");
	stream(1000);
	no_loss();
	h_stop();
}

/* Wait for @cond without running the host (its datapath stays where it is). */
#define WAIT_ONLY(cond, ms, ...)                                                                   \
	do {                                                                                       \
		uint64_t end_ = util_now_ns() + (uint64_t)(ms)*1000000ull;                         \
		while (!(cond)) {                                                                  \
			cr_assert(!S->failed, "guest failed: %s", S->err);                         \
			cr_assert(util_now_ns() < end_, __VA_ARGS__);                              \
			usleep(100);                                                               \
		}                                                                                  \
	} while (0)

/* The VF is reset while netvsc_rx_burst holds frames the VF indicated, in
 * the SWITCHING state's look for the completion: the frames stay valid for
 * the caller (found by an audit: the VF was stopped and its BAR unmapped
 * under the frames just taken from it, and the guest crashed reading them). */
Test(vfattach, vf_reset_while_its_frames_are_handed_out, .timeout = 60)
{
	static uint8_t f[600];
	struct nicdp *dp;
	struct netvsp *v;
	struct nicdp_vf vf;
	struct vfbar_ext ext = { 0 };
	struct iovec iov = { f, sizeof(f) };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND,
		               .ext = &ext,
		               .ext_len = sizeof(ext),
		               .iov = &iov,
		               .iovcnt = 1 };
	int st = 0;

	h_start(2, 0, 0);
	dp = host_dp_nicdp(H.h);
	v = host_dp_netvsp(H.h, H.vm);
	vf_offer(dp, v, MAC_VM, &vf);
	RUN_UNTIL(S->vf_state == NETVSC_VF_ADDED, 5000, "the guest did not start the VF");
	/* bound: SWITCH_DATA_PATH(VF) sent, the host not running to answer it */
	command(CMD_PAUSE, 0);
	cr_assert_eq(netvsp_vf_assoc(v, true, vf.serial), 0);
	S->cmd = CMD_RESUME;
	WAIT_ONLY(S->cmd_ack == CMD_RESUME && S->vf_state == NETVSC_VF_SWITCHING, 5000,
	          "the guest did not bind");
	S->cmd = CMD_PAUSE;
	WAIT_ONLY(S->cmd_ack == CMD_PAUSE, 5000, "the guest did not pause");
	/* the guest's ring: an association, then the completion; its VF's: a
	 * frame (a broadcast, handed out in place) */
	cr_assert_eq(netvsp_vf_assoc(v, true, vf.serial), 0);
	build(f, BCAST, MAC_X, 0, 0, FLOW_BC);
	cr_assert_eq(vmbus_ring_write(&vf.bar->rx[0], &tx, 1), 1);
	for (int i = 0; i < 200; i++)
		h_pass();
	cr_assert_eq(netvsp_datapath(v), NVSP_DATAPATH_VF);
	/* one rx_burst: the VF's frame, then the ring's association; the VF is
	 * reset during it, the completion follows */
	S->flr_arm = 1;
	S->cmd = CMD_RECEIVE;
	WAIT_ONLY(S->in_cb, 5000, "the association event did not come");
	vfbar_reset_queues(vf.bar);
	store_release(&S->flr_done, 1);
	RUN_UNTIL(S->cmd_ack == CMD_RECEIVE || waitpid(H.guest, &st, WNOHANG) == H.guest, 5000,
	          "the guest's rx_burst did not return");
	cr_assert_eq(S->cmd_ack, CMD_RECEIVE, "the guest died (status %#x)", st);
	RUN_UNTIL(S->vf_state == NETVSC_VF_NONE, 5000, "the guest kept a reset VF: %s",
	          netvsc_vf_state_name(S->vf_state));
	cr_assert_eq(nicdp_vf_destroy(dp, &vf), 0);
	stream(1000);
	no_loss();
	h_stop();
}
