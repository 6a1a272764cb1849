/* vf — the VF driver inside the VM: a normal NIC driver over the VF's queue
 * pairs (struct vfbar), which talks to the PF only through the backchannel
 * mailbox. NetVSC binds to it (nothing else may); the guest OS never sees it.
 *
 * Life cycle: vf_start() on hot-add (map the BAR, read MAC, VLAN and MTU
 * from the config blocks), then rx/tx bursts, vf_stop() on removal (pause,
 * halt, return what it indicated: frames handed out by vf_rx_burst are only
 * valid until the next vf_rx_burst or vf_stop). A function level reset by
 * the PF (hdr.flr moved) ends the device for this driver: every burst fails
 * with -ENODEV from then on, and vf_stop is all that is left to do.
 *
 * Port VLAN: when the PF set a VLAN in the VF's config block, the driver
 * inserts that 802.1Q tag on transmit and takes it off on receive (with the
 * offload offsets moved), as a VF with a port VLAN does; the guest sees
 * untagged frames on both paths, like an access port of the switch.
 *
 * Thread-safety: one thread. Ownership: vf_start takes the three descriptors
 * (closed by vf_stop, and on failure). Errors: vf_start returns NULL, sets
 * errno and fills @err; bursts return a count or a negative errno (-EPROTO:
 * the NIC broke the queue contract, -ENODEV: the VF was reset).
 */
#ifndef IOVPATH_GUEST_VF_H
#define IOVPATH_GUEST_VF_H

#include <stdbool.h>
#include <stdint.h>

#include "nic/vfbar.h"
#include "port/port.h"

struct vf {
	struct vfbar *bar;
	uint8_t mac[6];
	uint16_t vlan;
	uint32_t mtu;
	uint32_t serial;
	uint8_t *rxbuf; /* frames that wrap in an rx ring are copied here */
	struct vmbus_rx rx[PORT_BURST];
	uint32_t rx_next[VFBAR_MAX_QP]; /* read index to release: frames handed out in place */
	bool rx_held[VFBAR_MAX_QP];
	uint32_t rx_q; /* the receive queue the next vf_rx_burst looks at first */
	struct {
		uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, tx_dropped;
	} st;
};

struct vf *vf_start(int memfd, int efd_nic, int efd_vf, uint32_t serial, char *err, size_t errlen);
void vf_stop(struct vf *vf);

/* Frames sent (copied); fewer than @n when the queue is full. */
int vf_tx_burst(struct vf *vf, const struct port_pkt *pkts, unsigned int n);
/* In place, with no copy (netvsc_tx_fill): a slot in the transmit queue for
 * one frame of up to @max bytes; its region is the frame's struct vfbar_ext
 * (zeroed: the caller puts the virtio-net header at its start) then the
 * frame. 1; 0 when the queue has no room; -ENOTSUP when frames need a VLAN
 * tag inserted (a VF on an access VLAN: use vf_tx_burst); -ENODEV after a
 * function level reset; -EPROTO. vf_tx_commit queues the slot as a frame of
 * @len bytes; vf_tx_publish hands every queued frame to the NIC (after a
 * reset both do nothing: the frames are lost with the function). */
int vf_tx_reserve(struct vf *vf, uint32_t max, struct vmbus_slot *s);
void vf_tx_commit(struct vf *vf, const struct vmbus_slot *s, uint32_t len);
void vf_tx_publish(struct vf *vf);
/* Frames received (in the VF's buffer until the next call). */
int vf_rx_burst(struct vf *vf, struct port_pkt *pkts, unsigned int n);
/* Before sleeping on vf->bar->efd_vf: false when frames wait already. The
 * frames the last vf_rx_burst handed out are given back (no longer valid). */
bool vf_arm(struct vf *vf);
/* Re-read the config blocks the PF invalidated; returns the mask handled. */
uint64_t vf_refresh(struct vf *vf);

#endif
