/* host_dp — the host's datapath assembled: the extensible switch (vsw) with
 * its external port bound to the NIC's PF default VPort (nicdp), and one VM
 * port per VM network adapter served by a NetVSP.
 *
 *   VM (NetVSC) ==VMBus== NetVSP ──ops.rx──► vsw_input(VM port)
 *                               ◄─tx_burst── vsw ──tx_burst──► nicdp_pf_tx ─► NIC switch
 *                                            vsw ◄─vsw_input── ops.pf_rx ◄── default VPort
 *
 * Frames a VM sends enter the switch at its port (spoof protection, VLAN,
 * learning); frames the switch sends to the external port go into the NIC
 * through the PF and leave by the wire or reach a VF's VPort inside the NIC;
 * frames the NIC switch delivers to the default VPort (every MAC without a
 * VF filter: the synthetic path) come back into the switch.
 *
 * Thread-safety: one thread makes every call (the switch, the NIC engine and
 * every NetVSP belong to it). Ownership: host_dp borrows the nic and the
 * nicdp; host_dp_vm_add takes the channel. Errors: negative errno; a VM whose
 * channel breaks is reported by host_dp_poll and removed with host_dp_vm_remove.
 */
#ifndef IOVPATH_HOST_HOST_DP_H
#define IOVPATH_HOST_HOST_DP_H

#include <stdint.h>

#include "nic/nicdp.h"
#include "vswitch/netvsp.h"
#include "vswitch/vsw.h"

#define HOST_DP_MAX_VMS 128u

struct host_dp;

struct host_vm_config {
	const char *name;
	uint8_t mac[6];
	uint16_t vlan; /* access VLAN; 0: untagged */
	uint32_t mtu;  /* 0: 1500 */
};

/* A switch and a NIC engine for @nic with the wire @wire (may be NULL). The
 * nicdp's pf_rx goes to the switch's external port. */
struct host_dp *host_dp_create(struct nic *nic, struct port *wire, char *err, size_t errlen);
void host_dp_destroy(struct host_dp *h);

/* A VM network adapter on channel @ch (taken). Returns its id (>= 0). */
int host_dp_vm_add(struct host_dp *h, struct vmbus_chan *ch, const struct host_vm_config *c);
void host_dp_vm_remove(struct host_dp *h, int vm);

/* One pass: the NIC engine, then every VM's NetVSP. Returns the work done;
 * *@broken (if not NULL) gets the id of a VM whose channel closed, or -1. */
int host_dp_poll(struct host_dp *h, int *broken);

/* Before sleeping: arm the NIC engine and every VM's channel and list the
 * descriptors to wait on (at most @max). Returns how many, or -1 when work
 * is waiting already. */
int host_dp_arm(struct host_dp *h, struct pollfd *pfd, int max);

/* After waking: busy-polling again, ask the VMs not to signal. */
void host_dp_disarm(struct host_dp *h);

struct vsw *host_dp_vsw(struct host_dp *h);
struct nicdp *host_dp_nicdp(struct host_dp *h);
struct netvsp *host_dp_netvsp(struct host_dp *h, int vm);
int host_dp_vm_port(struct host_dp *h, int vm);

#endif
