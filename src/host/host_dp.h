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
 * Each VM's (MAC, VLAN) receive filter lives on the default VPort while the
 * VM is synthetic, so there is a filter to move when it gets a VF.
 *
 * VF attach (SPEC §4), host_dp_vf_attach:
 *   ALLOCATE_VF (the VM's MAC) -> CREATE_VPORT -> config blocks (MAC, VLAN,
 *   MTU) -> BAR, serviced by the NIC engine -> VPCI_ADD to the VM (BAR fds)
 *   -> SEND_VF_ASSOCIATION {1, serial}                   state OFFERED
 *   ... the VM binds and sends SWITCH_DATA_PATH(VF): MOVE_FILTER to the VF's
 *   VPort, then the completion goes out                  state ACTIVE
 * Until that completion every frame for the VM goes the synthetic way.
 *
 * VF removal (SPEC §5), host_dp_vf_detach, asynchronous (host_dp_poll):
 *   VPCI_REMOVE -> the VM goes back to synthetic: SWITCH_DATA_PATH(0): what
 *   the VF sent is drained into the NIC, MOVE_FILTER back to the default
 *   VPort, completion -> the VM drains and stops its VF: VPCI_REMOVE_DONE ->
 *   stop servicing the BAR, DELETE_VPORT, RESET_VF, FREE_VF, association 0.
 *   No answer within the time-out (or @surprise, or the VM's channel gone):
 *   surprise removal, the same steps without waiting; the VF driver in the VM
 *   sees the reset (-ENODEV).
 * Every step is reported through the event callback (host_dp_set_event_cb):
 *   vf.offered, datapath.vf, datapath.synthetic, vf.removing, vf.removed,
 *   vf.surprise_removed, vf.attach_failed, vf.protocol_error (a VPCI or
 *   data-path request that makes no sense), vm.protocol_error (NetVSP's own
 *   reports of a hostile or broken VM).
 *
 * Thread-safety: one thread makes every call (the switch, the NIC engine and
 * every NetVSP belong to it), the event callback included. Ownership: host_dp
 * borrows the nic and the nicdp; host_dp_vm_add takes the channel; a VM's VF
 * is host_dp's (freed with the VM at the latest). Errors: negative errno; a
 * VM whose channel breaks is reported by host_dp_poll and removed with
 * host_dp_vm_remove.
 */
#ifndef IOVPATH_HOST_HOST_DP_H
#define IOVPATH_HOST_HOST_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nic/nicdp.h"
#include "vswitch/netvsp.h"
#include "vswitch/vsw.h"

#define HOST_DP_MAX_VMS              128u
#define HOST_DP_MAX_FDS              (2 * HOST_DP_MAX_VMS + 256u) /* host_dp_arm's at most */
#define HOST_DP_VF_QPS               1u                           /* queue pairs of a VM's VF */
#define HOST_DP_VF_RING_SIZE         (4u << 20) /* bytes of each VF queue ring: a TCP window (README) */
#define HOST_DP_VF_REMOVE_TIMEOUT_MS 2000u /* before a removal becomes a surprise */

struct host_dp;

enum host_vf_state {
	HOST_VF_NONE,     /* synthetic only */
	HOST_VF_OFFERED,  /* hot-added and associated; the VM has not switched (or switched back) */
	HOST_VF_ACTIVE,   /* the VM's filter is on the VF's VPort: unicast takes the VF path */
	HOST_VF_REMOVING, /* VPCI_REMOVE sent, waiting for VPCI_REMOVE_DONE or the time-out */
};

/* A VM's VF and its path (host_dp_vf_info). The counters are the NIC's, on
 * the VF's VPort, summed over every VF the VM had. */
struct host_vf_info {
	enum host_vf_state state;
	int vf;                       /* VF id; -1: none */
	int vport;                    /* its VPort; -1: none */
	uint32_t serial;              /* 0: none */
	uint32_t datapath;            /* NVSP_DATAPATH_*: where the NIC sends the VM's unicast */
	uint64_t rx_frames, rx_bytes; /* NIC -> VM on the VF path */
	uint64_t tx_frames, tx_bytes; /* VM -> NIC on the VF path */
	uint64_t tx_drops;            /* sent by the VM, refused (spoof, malformed, nowhere to go) */
	uint64_t rx_drops;            /* for the VM, its receive queue full (or reset): lost */
	uint64_t attaches, removals, surprise_removals;
	uint64_t bad_messages; /* VPCI and data-path requests refused (vf.protocol_error) */
};

/* An event for the VM @vm: @event is one of the names in the header comment,
 * @detail a human-readable sentence ("" when there is nothing to add). Both
 * are valid during the call only. */
typedef void (*host_dp_event_fn)(void *ctx, int vm, const char *event, const char *detail);

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

/* A VM network adapter on channel @ch (taken). Returns its id (>= 0). Once
 * its adapter is up (its packet filter set: host_dp_poll sees it), its
 * (MAC, VLAN) filter goes on the default VPort and the switch learns its
 * MAC on its port; when the NIC can't take the filter
 * (the VPort is full, another adapter has the MAC) the VM still works
 * synthetic, and host_dp_vf_attach tries again. */
int host_dp_vm_add(struct host_dp *h, struct vmbus_chan *ch, const struct host_vm_config *c);
/* Remove the adapter: a VF it has is taken away first (surprise removal,
 * reported), its filter cleared. */
void host_dp_vm_remove(struct host_dp *h, int vm);

/* Live migration (host/migrate.h). From the moment VM @vm's adapter is
 * halted (RNDIS HALT) or unplugged, the frames the switch sends to its port
 * go to @fn (NULL: stop) instead of its NetVSP: what still comes for a VM
 * that moves away is forwarded, not lost. At that moment, too, the port
 * gives up its MAC (it moves with the VM's announcement from its new host,
 * vsw_port_release_macs) and its filter leaves the NIC. @fn's return is not
 * looked at: frames it leaves out are dropped, uncounted by the port. */
typedef unsigned int (*host_dp_fwd_fn)(void *ctx, const struct vsw_frame *f, unsigned int n);
void host_dp_vm_forward(struct host_dp *h, int vm, host_dp_fwd_fn fn, void *ctx);
/* The VM left: its NetVSP and channel go (a VF first, as a surprise
 * removal); its switch port stays until host_dp_vm_remove, so what the
 * switch still sends it goes to the forwarding function. */
void host_dp_vm_unplug(struct host_dp *h, int vm);
/* Hand @f[0..n) to VM @vm's NetVSP as if the switch had sent them (frames
 * forwarded from the host it came from). Returns how many it took: none
 * before the VM has set its packet filter (they wait, not filtered out). */
unsigned int host_dp_vm_deliver(struct host_dp *h, int vm, const struct vsw_frame *f,
                                unsigned int n);

/* One pass: the NIC engine, then every VM's NetVSP, then the VF removals in
 * progress (answered, or timed out). Returns the work done; *@broken (if not
 * NULL) gets the id of a VM whose channel closed, or -1. */
int host_dp_poll(struct host_dp *h, int *broken);

/* Report VF and protocol events to @cb (NULL: none). */
void host_dp_set_event_cb(struct host_dp *h, host_dp_event_fn cb, void *ctx);

/* How long a VF removal waits for the VM (default HOST_DP_VF_REMOVE_TIMEOUT_MS). */
void host_dp_set_vf_timeout(struct host_dp *h, unsigned int ms);

/* Give VM @vm a VF (SPEC §4 steps 2-6; the filter moves when the VM asks for
 * the VF path). Returns the VF id, or a negative errno with the reason in
 * @err — the VM then stays synthetic: -ENOENT no such VM; -EBUSY it has a
 * VF; -EAGAIN its NetVSC is not up yet; -ENOTSUP its NVSP version has no VF
 * association; -ENOSPC no VF (or VPort, or filter room) left; others from
 * the NIC or the channel. */
int host_dp_vf_attach(struct host_dp *h, int vm, char *err, size_t errlen);

/* Take VM @vm's VF away (SPEC §5). Graceful: VPCI_REMOVE now, the rest in
 * host_dp_poll when the VM answers, or as a surprise removal after the
 * time-out. @surprise: don't ask, tear down now (the VM's VF driver sees the
 * reset). Returns 0 (started, or done), or -ENOENT (no VM, or no VF),
 * -EALREADY (a graceful removal is in progress), with @err filled. */
int host_dp_vf_detach(struct host_dp *h, int vm, bool surprise, char *err, size_t errlen);

/* The VM's VF state and VF-path counters. -ENOENT: no such VM. */
int host_dp_vf_info(struct host_dp *h, int vm, struct host_vf_info *out);

/* "none", "offered", "active", "removing". */
const char *host_vf_state_name(enum host_vf_state s);

/* Milliseconds the caller may sleep before host_dp_poll has a time-out to
 * handle (a VF removal waiting for its VM); -1: no limit. */
int host_dp_timeout_ms(struct host_dp *h);

/* Before sleeping: arm the NIC engine and every VM's channel and list the
 * descriptors to wait on (at most @max). Returns how many, or -1 when work
 * is waiting already. */
int host_dp_arm(struct host_dp *h, struct pollfd *pfd, int max);
/* After poll() on what host_dp_arm gave (@pfd, @n entries, revents set):
 * consume the signals that came (doorbells, channel eventfds), and tell each
 * NetVSP whether its channel's socket needs a look. Signals that
 * come while the host is busy are left alone until then: at most one extra
 * wake-up, and no system call per VM or VF on the way to sleep. */
void host_dp_ack(struct host_dp *h, const struct pollfd *pfd, int n);

/* After waking: busy-polling again, ask the VMs not to signal. */
void host_dp_disarm(struct host_dp *h);

struct vsw *host_dp_vsw(struct host_dp *h);
struct nicdp *host_dp_nicdp(struct host_dp *h);
struct netvsp *host_dp_netvsp(struct host_dp *h, int vm);
int host_dp_vm_port(struct host_dp *h, int vm);

#endif
