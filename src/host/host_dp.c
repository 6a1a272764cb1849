/* host_dp — see host_dp.h. */
#include "host/host_dp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/nvsp.h"
#include "util/util.h"

struct vm {
	struct host_dp *h;
	int id;
	struct netvsp *vsp;
	int port;
	uint8_t mac[6];
	uint16_t vlan;
	uint32_t mtu;
	bool up;     /* its adapter took its packet filter: ready to receive */
	bool filter; /* its (MAC, VLAN) filter is in the NIC */
	/* the VF */
	enum host_vf_state vf_state;
	struct nicdp_vf vf;
	uint32_t datapath;       /* NVSP_DATAPATH_VF: the filter is on the VF's VPort */
	uint64_t deadline_ns;    /* HOST_VF_REMOVING: a surprise removal after this */
	bool remove_done;        /* HOST_VF_REMOVING: the VM answered */
	uint32_t last_serial;    /* the VF taken away last: a late answer for it is no fault */
	struct host_vf_info acc; /* counters of the VFs gone */
	/* a live migration: once the VM halted (or left), the switch's frames
	 * for it go to fwd instead (host_dp_vm_forward) */
	host_dp_fwd_fn fwd;
	void *fwd_ctx;
	bool released; /* the port gave up its MAC (vsw_port_release_macs) */
};

struct host_dp {
	struct nic *nic;
	struct vsw *sw;
	struct nicdp *dp;
	int ext_port;
	struct vm *vm[HOST_DP_MAX_VMS];
	unsigned int rr; /* next VM to poll first */
	/* host_dp_arm's descriptors: how many are the NIC's, which are channel
	 * eventfds (drained by host_dp_ack) */
	int nnic;
	bool chan_sig[HOST_DP_MAX_FDS];
	int16_t chan_vm[HOST_DP_MAX_FDS]; /* a channel socket's VM slot, or -1 */
	host_dp_event_fn event;
	void *event_ctx;
	uint64_t vf_timeout_ns;
};

static void emit(struct host_dp *h, int vm, const char *ev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void emit(struct host_dp *h, int vm, const char *ev, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (h->event)
		h->event(h->event_ctx, vm, ev, detail);
	else
		log_dbg("host_dp", "vm %d: %s: %s", vm, ev, detail);
}

/* A request from the VM that makes no sense now: reported, dropped. */
static void bad_request(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bad_request(struct vm *vm, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	vm->acc.bad_messages++;
	emit(vm->h, vm->id, "vf.protocol_error", "%s: dropped", what);
}

/* ---- the glue: each side's callbacks feed the other ---- */

static unsigned int vm_rx(void *ctx, struct netvsp *v, const struct vsw_frame *f, unsigned int n)
{
	struct vm *vm = ctx;

	vsw_input(vm->h->sw, (unsigned int)vm->port, f, n);
	return n; /* the switch drops (and counts) what its destinations can't take */
}

static int vm_tx(void *ctx, struct vsw_frame *f, unsigned int n)
{
	struct vm *vm = ctx;
	int r;

	if (vm->fwd && (!vm->vsp || netvsp_adapter(vm->vsp)->halted)) {
		vm->fwd(vm->fwd_ctx, f, n);
		return (int)n; /* what it left out was not the VM's to have */
	}
	r = vm->vsp ? netvsp_send(vm->vsp, f, n) : 0;
	return r < 0 ? 0 : r;
}

static int ext_tx(void *ctx, struct vsw_frame *f, unsigned int n)
{
	struct host_dp *h = ctx;
	struct port_pkt pk[VSW_BURST];

	for (unsigned int done = 0; done < n;) {
		unsigned int k = n - done < VSW_BURST ? n - done : VSW_BURST;

		for (unsigned int i = 0; i < k; i++)
			pk[i] = (struct port_pkt){ .data = (uint8_t *)f[done + i].data,
				                   .len = f[done + i].len,
				                   .vnet = f[done + i].vnet };
		nicdp_pf_tx(h->dp, pk, k);
		done += k;
	}
	return (int)n;
}

static void pf_rx(void *arg, const struct port_pkt *pk, unsigned int n)
{
	struct host_dp *h = arg;
	struct vsw_frame f[VSW_BURST];

	for (unsigned int done = 0; done < n;) {
		unsigned int k = n - done < VSW_BURST ? n - done : VSW_BURST;

		for (unsigned int i = 0; i < k; i++)
			f[i] = (struct vsw_frame){ .data = pk[done + i].data,
				                   .len = pk[done + i].len,
				                   .vnet = pk[done + i].vnet };
		vsw_input(h->sw, (unsigned int)h->ext_port, f, k);
		done += k;
	}
}

/* ---- the VM's filter and its VF ---- */

/* The VM's filter back to the default VPort (or, when that is full, gone:
 * an unknown unicast from the wire reaches the default VPort anyway). */
static void filter_home(struct vm *vm)
{
	struct host_dp *h = vm->h;

	if (vm->filter && nic_filter_move(h->nic, vm->mac, vm->vlan, NIC_DEFAULT_VPORT) &&
	    !nic_filter_clear(h->nic, vm->mac, vm->vlan))
		vm->filter = false;
	vm->datapath = NVSP_DATAPATH_SYNTHETIC;
}

/* SWITCH_DATA_PATH(synthetic) on the host: what the VF sent before the VM
 * switched goes into the NIC while its VPort still owns the filter (after,
 * it would be a spoof), then the filter moves back. */
static void to_synthetic(struct vm *vm, const char *why)
{
	if (vm->datapath != NVSP_DATAPATH_VF)
		return;
	nicdp_vport_drain(vm->h->dp, (unsigned int)vm->vf.vport);
	filter_home(vm);
	if (vm->vf_state == HOST_VF_ACTIVE)
		vm->vf_state = HOST_VF_OFFERED;
	emit(vm->h, vm->id, "datapath.synthetic", "%s; filter back on the default VPort", why);
}

static void add_vport_stats(struct host_dp *h, int vport, struct host_vf_info *o)
{
	struct nic_port_stats st;

	if (vport < 0 || nic_port_stats(h->nic, (unsigned int)vport, &st))
		return;
	o->rx_frames += st.rx_frames;
	o->rx_bytes += st.rx_bytes;
	o->tx_frames += st.tx_frames;
	o->tx_bytes += st.tx_bytes;
	for (unsigned int i = 0; i < NIC_DROP_MAX; i++) {
		if (i == NIC_DROP_QUEUE_FULL || i == NIC_DROP_FLR) /* on the way in */
			o->rx_drops += st.drops[i];
		else
			o->tx_drops += st.drops[i];
	}
}

/* SPEC §5 steps 3-6 and the association's end, now. */
static void vf_teardown(struct vm *vm, bool surprise, const char *why)
{
	struct host_dp *h = vm->h;
	uint32_t serial = vm->vf.serial;
	int id = vm->vf.vf, rc;

	if (vm->datapath == NVSP_DATAPATH_VF) {
		if (!surprise)
			nicdp_vport_drain(h->dp, (unsigned int)vm->vf.vport);
		filter_home(vm);
		emit(h, vm->id, "datapath.synthetic", "%s; filter back on the default VPort", why);
	}
	add_vport_stats(h, vm->vf.vport, &vm->acc);
	rc = nicdp_vf_destroy(h->dp, &vm->vf);
	if (rc) /* only if the VPort got a filter behind our back */
		log_err("host_dp", "vm %d: VF %d: %s", vm->id, id, strerror(-rc));
	vm->vf_state = HOST_VF_NONE;
	vm->last_serial = serial;
	netvsp_vf_assoc(vm->vsp, false, serial); /* fails when the VM is gone: fine */
	if (surprise)
		vm->acc.surprise_removals++;
	else
		vm->acc.removals++;
	emit(h, vm->id, surprise ? "vf.surprise_removed" : "vf.removed",
	     "VF %d serial %u: %s; VPort deleted, VF reset and freed", id, serial, why);
}

/* The VM asked for a data path; the completion goes out when this returns. */
static void vm_datapath(void *ctx, struct netvsp *v, uint32_t path)
{
	struct vm *vm = ctx;
	int rc;

	if (path == NVSP_DATAPATH_SYNTHETIC) {
		to_synthetic(vm, "the VM switched to synthetic");
		return;
	}
	if (vm->vf_state != HOST_VF_OFFERED && vm->vf_state != HOST_VF_ACTIVE) {
		bad_request(vm, "SWITCH_DATA_PATH(VF) with no VF offered (state %s)",
		            host_vf_state_name(vm->vf_state));
		return;
	}
	if (vm->datapath == NVSP_DATAPATH_VF)
		return;
	rc = vm->filter ? nic_filter_move(vm->h->nic, vm->mac, vm->vlan, (unsigned int)vm->vf.vport)
	                : -ENOENT;
	if (rc) {
		emit(vm->h, vm->id, "vf.attach_failed",
		     "MOVE_FILTER to VPort %d: %s; staying synthetic", vm->vf.vport, strerror(-rc));
		return;
	}
	vm->datapath = NVSP_DATAPATH_VF;
	vm->vf_state = HOST_VF_ACTIVE;
	emit(vm->h, vm->id, "datapath.vf", "filter moved to VPort %d of VF %d serial %u",
	     vm->vf.vport, vm->vf.vf, vm->vf.serial);
}

static void vm_vpci(void *ctx, struct netvsp *v, uint16_t type, uint32_t serial)
{
	struct vm *vm = ctx;

	if (vm->vf_state == HOST_VF_REMOVING && serial == vm->vf.serial)
		vm->remove_done = true; /* host_dp_poll finishes */
	else if (serial != vm->last_serial || vm->vf_state == HOST_VF_REMOVING)
		bad_request(vm, "VPCI_REMOVE_DONE for serial %u (VF state %s, serial %u)", serial,
		            host_vf_state_name(vm->vf_state), vm->vf.serial);
	/* else: the answer to a removal that timed out */
}

static void vm_log(void *ctx, struct netvsp *v, int level, const char *msg)
{
	struct vm *vm = ctx;

	emit(vm->h, vm->id, level ? "vm.notice" : "vm.protocol_error", "%s", msg);
}

static const struct vsw_port_ops EXT_OPS = { .tx_burst = ext_tx };
static const struct vsw_port_ops VM_OPS = { .tx_burst = vm_tx };
static const struct netvsp_ops VSP_OPS = {
	.rx = vm_rx, .datapath = vm_datapath, .vpci = vm_vpci, .log = vm_log
};

struct host_dp *host_dp_create(struct nic *nic, struct port *wire, char *err, size_t errlen)
{
	struct host_dp *h = calloc(1, sizeof(*h));
	struct nicdp_ops ops = { .pf_rx = pf_rx };
	struct vsw_port_config ext = { .kind = VSW_PORT_EXTERNAL,
		                       .name = "external",
		                       .ops = &EXT_OPS };

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ext.ctx = h;
	h->nic = nic;
	h->vf_timeout_ns = HOST_DP_VF_REMOVE_TIMEOUT_MS * 1000000ull;
	vsw_vlan_trunk(&ext.vlan, 0);
	for (unsigned int v = 1; v <= VSW_VLAN_MAX; v++)
		vsw_vlan_allow(&ext.vlan, (uint16_t)v);
	h->sw = vsw_create(NULL);
	h->dp = h->sw ? nicdp_create(nic, wire, &ops, h) : NULL;
	h->ext_port = h->dp ? vsw_port_add(h->sw, &ext) : -1;
	if (h->ext_port < 0) {
		snprintf(err, errlen, "host datapath: %s", strerror(errno ? errno : EINVAL));
		host_dp_destroy(h);
		return NULL;
	}
	return h;
}

void host_dp_destroy(struct host_dp *h)
{
	if (!h)
		return;
	h->event = NULL; /* going down: the VMs' VFs go without a word */
	for (int i = 0; i < (int)HOST_DP_MAX_VMS; i++)
		host_dp_vm_remove(h, i);
	nicdp_destroy(h->dp);
	vsw_destroy(h->sw);
	free(h);
}

int host_dp_vm_add(struct host_dp *h, struct vmbus_chan *ch, const struct host_vm_config *c)
{
	struct netvsp_config vc = { .name = c->name, .mtu = c->mtu };
	struct vsw_port_config pc = {
		.kind = VSW_PORT_VM, .name = c->name, .nmacs = 1, .ops = &VM_OPS
	};
	struct vm *vm;
	int id = -1;

	for (int i = 0; i < (int)HOST_DP_MAX_VMS && id < 0; i++)
		if (!h->vm[i])
			id = i;
	if (id < 0) {
		vmbus_chan_close(ch);
		return -ENOSPC;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		vmbus_chan_close(ch);
		return -ENOMEM;
	}
	vm->h = h;
	vm->id = id;
	vm->vf = (struct nicdp_vf){ .vf = -1, .vport = -1 };
	memcpy(vm->mac, c->mac, 6);
	vm->vlan = c->vlan;
	vm->mtu = c->mtu;
	memcpy(vc.mac, c->mac, 6);
	memcpy(pc.macs[0], c->mac, 6);
	vsw_vlan_access(&pc.vlan, c->vlan);
	pc.ctx = vm;
	vm->port = vsw_port_add(h->sw, &pc);
	if (vm->port < 0) {
		int r = vm->port;

		vmbus_chan_close(ch);
		free(vm);
		return r;
	}
	vm->vsp = netvsp_create(ch, &vc, &VSP_OPS, vm);
	if (!vm->vsp) {
		vsw_port_remove(h->sw, (unsigned int)vm->port);
		vmbus_chan_close(ch);
		free(vm);
		return -ENOMEM;
	}
	h->vm[id] = vm;
	return id;
}

static struct vm *vm_get(struct host_dp *h, int id)
{
	return id >= 0 && id < (int)HOST_DP_MAX_VMS ? h->vm[id] : NULL;
}

void host_dp_vm_remove(struct host_dp *h, int id)
{
	struct vm *vm = vm_get(h, id);

	if (!vm)
		return;
	if (vm->vf_state != HOST_VF_NONE)
		vf_teardown(vm, true, "the VM adapter is removed");
	if (vm->filter)
		nic_filter_clear(h->nic, vm->mac, vm->vlan);
	vsw_port_remove(h->sw, (unsigned int)vm->port);
	netvsp_destroy(vm->vsp);
	free(vm);
	h->vm[id] = NULL;
}

/* The VM's adapter is up (it set its packet filter): its filter goes on the
 * default VPort and the switch learns its MAC on its port, both at once.
 * Not before: a VM that migrates in would otherwise have this host's NIC
 * turn back (at the default VPort) the frames the switch still sends out
 * towards where the MAC was, until the VM's first frame; those reach the
 * old host and come forwarded instead. */
static void vm_up(struct vm *vm)
{
	vm->up = true;
	vm->filter = nic_filter_set(vm->h->nic, NIC_DEFAULT_VPORT, vm->mac, vm->vlan) == 0;
	vsw_port_learn_macs(vm->h->sw, (unsigned int)vm->port);
}

/* A VM that halts to move away: its port gives up its MAC, so that once the
 * VM announces itself from its new host (the RARP comes in by the wire)
 * this host's VMs send to it there, not through the forwarding; and its
 * filter leaves the NIC, which would otherwise turn those frames back at
 * the default VPort (what the wire still brings for the MAC reaches the
 * default VPort as unknown unicast, and the port forwards it). */
static void fwd_release(struct vm *vm)
{
	vsw_port_release_macs(vm->h->sw, (unsigned int)vm->port);
	if (vm->filter)
		nic_filter_clear(vm->h->nic, vm->mac, vm->vlan);
	vm->filter = false;
	vm->released = true;
}

/* A VM whose move was called off after it halted (it stays, and opens its
 * adapter again): its port takes its MAC back, its filter returns to the
 * NIC, as vm_up had them. */
static void fwd_reclaim(struct vm *vm)
{
	struct vsw_port_info pi;
	uint8_t macs[1][6];

	memcpy(macs[0], vm->mac, 6);
	vsw_port_set_macs(vm->h->sw, (unsigned int)vm->port, macs, 1,
	                  vsw_port_get(vm->h->sw, (unsigned int)vm->port, &pi) == 0 &&
	                      pi.allow_mac_spoofing);
	vm->released = false;
	if (vm->up) {
		vm->filter = nic_filter_set(vm->h->nic, NIC_DEFAULT_VPORT, vm->mac, vm->vlan) == 0;
		vsw_port_learn_macs(vm->h->sw, (unsigned int)vm->port);
	}
}

void host_dp_vm_forward(struct host_dp *h, int id, host_dp_fwd_fn fn, void *ctx)
{
	struct vm *vm = vm_get(h, id);

	if (vm)
		vm->fwd = fn, vm->fwd_ctx = ctx;
}

void host_dp_vm_unplug(struct host_dp *h, int id)
{
	struct vm *vm = vm_get(h, id);

	if (!vm || !vm->vsp)
		return;
	if (vm->vf_state != HOST_VF_NONE)
		vf_teardown(vm, true, "the VM left");
	if (vm->fwd && !vm->released)
		fwd_release(vm);
	netvsp_destroy(vm->vsp);
	vm->vsp = NULL;
}

unsigned int host_dp_vm_deliver(struct host_dp *h, int id, const struct vsw_frame *f,
                                unsigned int n)
{
	struct vm *vm = vm_get(h, id);
	int r;

	/* not before the VM set its packet filter: they would be filtered out */
	if (!vm || !vm->vsp || !netvsp_adapter(vm->vsp)->packet_filter)
		return 0;
	r = netvsp_send(vm->vsp, f, n);
	return r < 0 ? 0 : (unsigned int)r;
}

/* A removal in progress: answered, or out of time? */
static bool removal_due(const struct vm *vm, uint64_t now)
{
	return vm->vf_state == HOST_VF_REMOVING && (vm->remove_done || now >= vm->deadline_ns);
}

int host_dp_poll(struct host_dp *h, int *broken)
{
	int work = nicdp_poll(h->dp);
	uint64_t now = 0;

	if (broken)
		*broken = -1;
	/* Round-robin the starting VM so that no VM is always served last. */
	for (unsigned int k = 0; k < HOST_DP_MAX_VMS; k++) {
		unsigned int i = (h->rr + k) % HOST_DP_MAX_VMS;
		struct vm *vm = h->vm[i];
		int r;

		if (!vm || !vm->vsp)
			continue;
		r = netvsp_poll(vm->vsp);
		if (r > 0)
			work += r;
		else if (r < 0 && broken && *broken < 0)
			*broken = (int)i;
		if (!vm->up && netvsp_adapter(vm->vsp)->packet_filter)
			vm_up(vm);
		if (vm->fwd && !vm->released && netvsp_adapter(vm->vsp)->halted)
			fwd_release(vm);
		else if (!vm->fwd && vm->released && !netvsp_adapter(vm->vsp)->halted)
			fwd_reclaim(vm); /* the move was called off: it stays */
		if (vm->vf_state != HOST_VF_REMOVING)
			continue;
		if (!now)
			now = util_now_ns();
		if (removal_due(vm, now)) {
			vf_teardown(vm, !vm->remove_done,
			            vm->remove_done ? "the VM released it"
			                            : "no VPCI_REMOVE_DONE from the VM in time");
			work++;
		}
	}
	h->rr = (h->rr + 1) % HOST_DP_MAX_VMS;
	return work;
}

int host_dp_arm(struct host_dp *h, struct pollfd *pfd, int max)
{
	int n = nicdp_arm(h->dp, pfd, max);
	uint64_t now = util_now_ns();

	if (n < 0)
		return -1;
	h->nnic = n;
	for (int i = 0; i < n && i < (int)HOST_DP_MAX_FDS; i++)
		h->chan_sig[i] = false, h->chan_vm[i] = -1;
	for (unsigned int i = 0; i < HOST_DP_MAX_VMS; i++) {
		struct vmbus_chan *ch;

		if (!h->vm[i] || !h->vm[i]->vsp)
			continue;
		if (removal_due(h->vm[i], now))
			return -1;
		ch = netvsp_chan(h->vm[i]->vsp);
		if (!netvsp_arm(h->vm[i]->vsp))
			return -1;
		if (n + 2 > max || n + 2 > (int)HOST_DP_MAX_FDS)
			break;
		h->chan_sig[n] = true, h->chan_vm[n] = -1;
		pfd[n++] = (struct pollfd){ .fd = ch->efd_wait, .events = POLLIN };
		h->chan_sig[n] = false, h->chan_vm[n] = (int16_t)i;
		pfd[n++] = (struct pollfd){ .fd = ch->sock, .events = POLLIN };
	}
	return n;
}

void host_dp_ack(struct host_dp *h, const struct pollfd *pfd, int n)
{
	uint64_t cnt;

	nicdp_ack(h->dp, pfd, n < h->nnic ? n : h->nnic);
	for (int i = h->nnic; i < n && i < (int)HOST_DP_MAX_FDS; i++) {
		if (h->chan_sig[i] && (pfd[i].revents & POLLIN))
			(void)!read(pfd[i].fd, &cnt, sizeof(cnt));
		else if (h->chan_vm[i] >= 0 && h->vm[h->chan_vm[i]] && h->vm[h->chan_vm[i]]->vsp)
			netvsp_woken(h->vm[h->chan_vm[i]]->vsp, pfd[i].revents != 0);
	}
}

void host_dp_disarm(struct host_dp *h)
{
	for (unsigned int i = 0; i < HOST_DP_MAX_VMS; i++)
		if (h->vm[i] && h->vm[i]->vsp)
			vmbus_ring_disarm(&netvsp_chan(h->vm[i]->vsp)->rx);
}

struct vsw *host_dp_vsw(struct host_dp *h)
{
	return h->sw;
}

struct nicdp *host_dp_nicdp(struct host_dp *h)
{
	return h->dp;
}

struct netvsp *host_dp_netvsp(struct host_dp *h, int vm)
{
	return vm >= 0 && vm < (int)HOST_DP_MAX_VMS && h->vm[vm] ? h->vm[vm]->vsp : NULL;
}

int host_dp_vm_port(struct host_dp *h, int vm)
{
	return vm >= 0 && vm < (int)HOST_DP_MAX_VMS && h->vm[vm] ? h->vm[vm]->port : -1;
}

/* ---- VF attach and removal ---- */

void host_dp_set_event_cb(struct host_dp *h, host_dp_event_fn cb, void *ctx)
{
	h->event = cb;
	h->event_ctx = ctx;
}

void host_dp_set_vf_timeout(struct host_dp *h, unsigned int ms)
{
	h->vf_timeout_ns = (uint64_t)ms * 1000000ull;
}

const char *host_vf_state_name(enum host_vf_state s)
{
	switch (s) {
	case HOST_VF_NONE:
		return "none";
	case HOST_VF_OFFERED:
		return "offered";
	case HOST_VF_ACTIVE:
		return "active";
	case HOST_VF_REMOVING:
		return "removing";
	}
	return "?";
}

static int attach_fail(struct vm *vm, int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int attach_fail(struct vm *vm, int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	emit(vm->h, vm->id, "vf.attach_failed", "%s; the VM stays synthetic", err);
	return rc;
}

int host_dp_vf_attach(struct host_dp *h, int id, char *err, size_t errlen)
{
	struct vm *vm = vm_get(h, id);
	struct vmbus_vpci_add add;
	char why[160];
	int fds[VMBUS_VPCI_ADD_FDS], rc;

	if (!vm) {
		snprintf(err, errlen, "no VM %d", id);
		return -ENOENT;
	}
	if (vm->vf_state != HOST_VF_NONE) {
		snprintf(err, errlen, "the VM has VF %d already (%s)", vm->vf.vf,
		         host_vf_state_name(vm->vf_state));
		return -EBUSY;
	}
	if (netvsp_state(vm->vsp) != NETVSP_READY)
		return attach_fail(vm, -EAGAIN, err, errlen, "the VM's NetVSC is not up");
	if (netvsp_version(vm->vsp) < NVSP_VERSION_4)
		return attach_fail(vm, -ENOTSUP, err, errlen,
		                   "the VM speaks NVSP %#x: VF association needs 4",
		                   netvsp_version(vm->vsp));
	if (!vm->filter) {
		rc = nic_filter_set(h->nic, NIC_DEFAULT_VPORT, vm->mac, vm->vlan);
		if (rc)
			return attach_fail(vm, rc, err, errlen,
			                   "no receive filter for the VM's MAC on the default "
			                   "VPort: %s",
			                   strerror(-rc));
		vm->filter = true;
	}
	rc = nicdp_vf_create(h->dp, vm->mac, vm->vlan, vm->mtu, HOST_DP_VF_QPS,
	                     HOST_DP_VF_RING_SIZE, &vm->vf, why, sizeof(why));
	if (rc)
		return attach_fail(vm, rc, err, errlen, "%s", why);
	add = (struct vmbus_vpci_add){ .serial = vm->vf.serial,
		                       .vf_id = (uint32_t)vm->vf.vf,
		                       .bar_size = vm->vf.bar->size,
		                       .vendor_id = NIC_PCI_VENDOR_ID,
		                       .device_id = NIC_PCI_VF_DEVICE_ID,
		                       .num_qp = vm->vf.bar->num_qp };
	fds[0] = vm->vf.bar->memfd;
	fds[1] = vm->vf.bar->efd_nic;
	fds[2] = vm->vf.bar->efd_vf;
	rc = vmbus_vpci_add(netvsp_chan(vm->vsp), &add, fds);
	if (rc) {
		nicdp_vf_destroy(h->dp, &vm->vf);
		return attach_fail(vm, rc, err, errlen, "VPCI_ADD: %s", strerror(-rc));
	}
	vm->vf_state = HOST_VF_OFFERED;
	vm->acc.attaches++;
	rc = netvsp_vf_assoc(vm->vsp, true, add.serial);
	if (rc) {
		/* The VM has the device: take it back, as a surprise. */
		vmbus_vpci_send(netvsp_chan(vm->vsp), VMBUS_CTL_VPCI_REMOVE, add.serial);
		vf_teardown(vm, true, "SEND_VF_ASSOCIATION could not be sent");
		return attach_fail(vm, rc, err, errlen, "SEND_VF_ASSOCIATION: %s", strerror(-rc));
	}
	emit(h, id, "vf.offered", "VF %u serial %u on VPort %d: hot-added and associated",
	     add.vf_id, add.serial, vm->vf.vport);
	return (int)add.vf_id;
}

int host_dp_vf_detach(struct host_dp *h, int id, bool surprise, char *err, size_t errlen)
{
	struct vm *vm = vm_get(h, id);
	uint32_t serial;
	int rc;

	if (!vm || vm->vf_state == HOST_VF_NONE) {
		snprintf(err, errlen, vm ? "the VM has no VF" : "no VM %d", id);
		return -ENOENT;
	}
	serial = vm->vf.serial;
	if (vm->vf_state == HOST_VF_REMOVING && !surprise) {
		snprintf(err, errlen, "VF %d is being removed already", vm->vf.vf);
		return -EALREADY;
	}
	if (surprise) {
		vf_teardown(vm, true, "surprise removal asked for");
		vmbus_vpci_send(netvsp_chan(vm->vsp), VMBUS_CTL_VPCI_REMOVE, serial);
		return 0;
	}
	rc = vmbus_vpci_send(netvsp_chan(vm->vsp), VMBUS_CTL_VPCI_REMOVE, serial);
	if (rc) {
		vf_teardown(vm, true, "VPCI_REMOVE could not be sent");
		return 0;
	}
	vm->vf_state = HOST_VF_REMOVING;
	vm->remove_done = false;
	vm->deadline_ns = util_now_ns() + h->vf_timeout_ns;
	emit(h, id, "vf.removing", "VPCI_REMOVE for VF %d serial %u sent; %llu ms to answer",
	     vm->vf.vf, serial, (unsigned long long)(h->vf_timeout_ns / 1000000));
	return 0;
}

int host_dp_vf_info(struct host_dp *h, int id, struct host_vf_info *out)
{
	struct vm *vm = vm_get(h, id);

	if (!vm)
		return -ENOENT;
	*out = vm->acc;
	out->state = vm->vf_state;
	out->vf = vm->vf.vf;
	out->vport = vm->vf.vport;
	out->serial = vm->vf_state == HOST_VF_NONE ? 0 : vm->vf.serial;
	out->datapath = vm->datapath;
	if (vm->vf_state != HOST_VF_NONE)
		add_vport_stats(h, vm->vf.vport, out);
	return 0;
}

int host_dp_timeout_ms(struct host_dp *h)
{
	uint64_t now = util_now_ns(), first = UINT64_MAX;

	for (unsigned int i = 0; i < HOST_DP_MAX_VMS; i++) {
		const struct vm *vm = h->vm[i];

		if (vm && vm->vf_state == HOST_VF_REMOVING && vm->deadline_ns < first)
			first = vm->deadline_ns;
	}
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now + 999999) / 1000000);
}
