/* host_dp — see host_dp.h. */
#include "host/host_dp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vm {
	struct host_dp *h;
	struct netvsp *vsp;
	int port;
};

struct host_dp {
	struct vsw *sw;
	struct nicdp *dp;
	int ext_port;
	struct vm *vm[HOST_DP_MAX_VMS];
	unsigned int rr; /* next VM to poll first */
};

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
	int r = netvsp_send(vm->vsp, f, n);

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

static const struct vsw_port_ops EXT_OPS = { .tx_burst = ext_tx };
static const struct vsw_port_ops VM_OPS = { .tx_burst = vm_tx };
static const struct netvsp_ops VSP_OPS = { .rx = vm_rx };

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

void host_dp_vm_remove(struct host_dp *h, int id)
{
	struct vm *vm = id >= 0 && id < (int)HOST_DP_MAX_VMS ? h->vm[id] : NULL;

	if (!vm)
		return;
	vsw_port_remove(h->sw, (unsigned int)vm->port);
	netvsp_destroy(vm->vsp);
	free(vm);
	h->vm[id] = NULL;
}

int host_dp_poll(struct host_dp *h, int *broken)
{
	int work = nicdp_poll(h->dp);

	if (broken)
		*broken = -1;
	/* Round-robin the starting VM so that no VM is always served last. */
	for (unsigned int k = 0; k < HOST_DP_MAX_VMS; k++) {
		unsigned int i = (h->rr + k) % HOST_DP_MAX_VMS;
		int r;

		if (!h->vm[i])
			continue;
		r = netvsp_poll(h->vm[i]->vsp);
		if (r > 0)
			work += r;
		else if (r < 0 && broken && *broken < 0)
			*broken = (int)i;
	}
	h->rr = (h->rr + 1) % HOST_DP_MAX_VMS;
	return work;
}

int host_dp_arm(struct host_dp *h, struct pollfd *pfd, int max)
{
	int n = nicdp_arm(h->dp, pfd, max);

	if (n < 0)
		return -1;
	for (unsigned int i = 0; i < HOST_DP_MAX_VMS; i++) {
		struct vmbus_chan *ch;

		if (!h->vm[i])
			continue;
		if (!netvsp_arm(h->vm[i]->vsp))
			return -1;
		ch = netvsp_chan(h->vm[i]->vsp);
		if (n + 2 > max)
			break;
		pfd[n++] = (struct pollfd){ .fd = ch->efd_wait, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ch->sock, .events = POLLIN };
	}
	return n;
}

void host_dp_disarm(struct host_dp *h)
{
	for (unsigned int i = 0; i < HOST_DP_MAX_VMS; i++)
		if (h->vm[i])
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
