/* nicdp — the emulated NIC's "hardware": the engine that moves frames
 * between the physical port, the VFs' queue pairs and the default VPort,
 * asking the NIC switch (nic_lookup) where each frame goes.
 *
 *     physical port (struct port) ──rx──┐              ┌──tx──► physical port
 *     VF k queue pairs (vfbar tx) ──────┤  nic_lookup  ├──────► VF m queue pairs (vfbar rx)
 *     PF / host switch (nicdp_pf_tx) ───┘              └──────► PF (ops->pf_rx: default VPort)
 *
 * Each pass (nicdp_poll) takes a burst from every source, decides every
 * frame, and hands each destination its frames in one call. VF-to-VF
 * frames never leave the NIC; a large one is copied once, from the sender's
 * queue into the receiver's, after the NIC decided on a private copy of its
 * head (the VM can rewrite the frame meanwhile: it changes no decision). A
 * full destination queue drops the frame and counts it (NIC_DROP_QUEUE_FULL)
 * on that VPort; the NIC's per-port counters (nic_port_stats) see everything.
 *
 * The BAR's mailbox is served here too: config space and config block
 * requests from the VF go to the NIC's PF operations.
 *
 * Thread-safety: one thread runs a nicdp and makes every call on it and on
 * its struct nic (the control plane calls go through the same thread).
 * Ownership: the nicdp borrows the nic, the port and the BARs; the caller
 * keeps them alive until nicdp_destroy / nicdp_vport_detach.
 * Errors: 0 or a negative errno; nicdp_create returns NULL and sets errno.
 */
#ifndef IOVPATH_NIC_NICDP_H
#define IOVPATH_NIC_NICDP_H

#include <poll.h>
#include <stdint.h>

#include "nic/nic.h"
#include "nic/vfbar.h"
#include "port/port.h"

struct nicdp_ops {
	/* Frames the NIC switch delivers to the default VPort (the PF, i.e. the
	 * host's extensible switch). Valid during the call only. */
	void (*pf_rx)(void *arg, const struct port_pkt *pkts, unsigned int n);
};

struct nicdp;

struct nicdp *nicdp_create(struct nic *nic, struct port *wire, const struct nicdp_ops *ops,
                           void *arg);
void nicdp_destroy(struct nicdp *dp);

/* Service @bar as the queue pairs of @vport (a VF's VPort). -EEXIST: one is
 * attached; -EINVAL: bad VPort. */
int nicdp_vport_attach(struct nicdp *dp, unsigned int vport, struct vfbar *bar);
/* Stop servicing @vport's queue pairs (the VF was removed). */
void nicdp_vport_detach(struct nicdp *dp, unsigned int vport);

/* Frames from the PF into the NIC switch through the default VPort (copied). */
int nicdp_pf_tx(struct nicdp *dp, const struct port_pkt *pkts, unsigned int n);

/* One pass over every source; returns the number of frames taken. */
int nicdp_poll(struct nicdp *dp);

/* Before sleeping: arm every queue and the port, and put the descriptors to
 * wait on into @pfd (at most @max). Returns how many, or -1 when a source
 * has work already (don't sleep). */
int nicdp_arm(struct nicdp *dp, struct pollfd *pfd, int max);
/* After poll() on what nicdp_arm gave: consume the doorbells that rang (the
 * first @n entries of @pfd, as nicdp_arm filled them). */
void nicdp_ack(struct nicdp *dp, const struct pollfd *pfd, int n);

/* Sleep until a source may have frames (or @timeout_ms): arms every queue
 * and the port first, so nothing is missed. Returns 1 woken, 0 time-out. */
int nicdp_wait(struct nicdp *dp, int timeout_ms);

/* RESET_VF through the engine: the NIC's FLR plus emptying the VF's queues
 * (their frames counted as NIC_DROP_FLR). */
int nicdp_vf_reset(struct nicdp *dp, unsigned int vf);

/* Take what waits in @vport's transmit queues into the switch now, before
 * its filter moves away (frames from a VPort without a filter are spoof
 * drops). Bounded: at most one ring's worth per queue pair, so a VF that
 * keeps sending can't hold the caller. Returns the frames taken. */
int nicdp_vport_drain(struct nicdp *dp, unsigned int vport);

/* A VF made ready to hot-add into a VM (SPEC §4 steps 2-3): the NIC's
 * objects and the BAR its driver maps. */
struct nicdp_vf {
	int vf;    /* VF id */
	int vport; /* its VPort */
	uint32_t serial;
	struct vfbar *bar; /* owned; freed by nicdp_vf_destroy */
};

/* ALLOCATE_VF for @mac, CREATE_VPORT with @nqp queue pairs, the PF's config
 * blocks for the VF (VLAN @vlan, MTU @mtu, 0: 1500; the MAC is set by the
 * allocation), a BAR with @nqp queue pairs of @ring_size-byte rings, serviced
 * by @dp from now on. No receive filter: the caller sets or moves one.
 * Returns 0, or a negative errno with the failed step in @err, everything
 * undone: -ENOSPC from ALLOCATE_VF means no VF left, from CREATE_VPORT no
 * VPort or queue pairs left; -EEXIST: a VF has @mac already. */
int nicdp_vf_create(struct nicdp *dp, const uint8_t mac[6], uint16_t vlan, uint32_t mtu,
                    unsigned int nqp, uint32_t ring_size, struct nicdp_vf *out, char *err,
                    size_t errlen);

/* Take a VF away (SPEC §5 steps 4-6) once its VPort holds no filter: stop
 * servicing its queues, DELETE_VPORT, RESET_VF (the FLR empties the queues
 * and the VF driver sees it: its bursts fail with -ENODEV), FREE_VF, and
 * free the BAR; *@vf is cleared. -EBUSY: the VPort still has filters
 * (nothing done); -ENOENT: no such VF. */
int nicdp_vf_destroy(struct nicdp *dp, struct nicdp_vf *vf);

#endif
