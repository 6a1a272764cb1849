/* port — the NIC's physical port: backends behind one ops table.
 *
 *   tap:NAME[,netns=NS]         a TAP device (created, brought up) in namespace NS
 *   afpacket:IFNAME[,netns=NS]  AF_PACKET on an existing interface (a veth end or a
 *                               real NIC), promiscuous, batched with recvmmsg/sendmmsg
 *   shm-listen:PATH             a shared-memory wire: a VMBus channel whose other end
 *   shm-connect:PATH            is another NIC (another host daemon, or a test)
 *
 * Every backend carries the virtio-net header with each frame (TAP: IFF_VNET_HDR
 * with checksum and TSO offloads on; AF_PACKET: PACKET_VNET_HDR; shm: in the
 * packet's extension bytes), so offloaded segments (up to 64 KiB, checksum
 * not yet computed) pass unchanged.
 *
 * Life cycle (Open vSwitch netdev style): port_open() allocates the struct
 * port and calls ops->open (construct); port_close() calls ops->close
 * (destruct) and frees it. A NULL op means "not supported".
 *
 * Thread-safety: a port is used by one thread at a time.
 * Ownership: rx_burst hands out frames in the port's own buffers, valid until
 * the next rx_burst or close; tx_burst copies the frames (the caller keeps
 * them, whatever the result).
 * Errors: port_open returns NULL, sets errno and fills @err; bursts return a
 * count or a negative errno.
 */
#ifndef IOVPATH_PORT_H
#define IOVPATH_PORT_H

#include <errno.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define PORT_MAX_FRAME 65550u /* a 64 KiB GSO segment plus headers */
#define PORT_BURST     32u
#define PORT_RX_SKIP   8u /* rx_idle_skip of the system-call backends */

struct port_pkt {
	uint8_t *data; /* Ethernet header first */
	uint32_t len;
	struct virtio_net_hdr vnet; /* offload metadata; all zero for a plain frame */
};

struct port_stats {
	uint64_t rx_frames, rx_bytes, rx_errors;
	uint64_t tx_frames, tx_bytes, tx_dropped;
};

struct port;

struct port_ops {
	const char *kind;
	int (*open)(struct port *p, const char *arg, char *err, size_t errlen);
	void (*close)(struct port *p);
	/* Up to @n frames received now (never blocks). */
	int (*rx_burst)(struct port *p, struct port_pkt *pkts, unsigned int n);
	/* Optional: one frame received now into the caller's memory: its
	 * virtio_net_hdr's bytes then the frame's, across @iov (never blocks).
	 * Returns the bytes (at least the header and 14), 0 when none waits,
	 * or a negative errno. */
	ssize_t (*rx_iov)(struct port *p, const struct iovec *iov, unsigned int iovcnt);
	/* Send up to @n frames (never blocks); frames not taken are the caller's. */
	int (*tx_burst)(struct port *p, const struct port_pkt *pkts, unsigned int n);
	/* A descriptor that polls readable when rx_burst may have frames. */
	int (*wait_fd)(struct port *p);
	/* Before sleeping on wait_fd: ask to be woken; false when frames are
	 * already waiting (don't sleep). NULL: always true. */
	bool (*arm)(struct port *p);
	/* Backends whose rx_burst is a system call (TAP, AF_PACKET): after a
	 * read that came up short, this many port_rx_burst calls return 0
	 * without asking the kernel (a busy-polling loop would otherwise pay a
	 * syscall per pass for nothing, and a loop woken by something else one
	 * per wake-up); port_rx_ready ends the skip: call it when wait_fd
	 * polled readable. 0: never skip. */
	unsigned int rx_idle_skip;
};

struct port {
	const struct port_ops *ops;
	char spec[128];
	void *priv;
	uint8_t *rxbuf; /* PORT_BURST frames of PORT_MAX_FRAME bytes */
	unsigned int rx_idle; /* port_rx_burst calls left to skip (ops->rx_idle_skip) */
	struct port_stats st;
};

struct port *port_open(const char *spec, char *err, size_t errlen);
void port_close(struct port *p);

/* Internal: true while port_rx_burst/port_rx_iov skip the kernel
 * (ops->rx_idle_skip), counting the call off. */
static inline bool port__rx_skip(struct port *p)
{
	if (!p->rx_idle)
		return false;
	p->rx_idle--;
	return true;
}

static inline int port_rx_burst(struct port *p, struct port_pkt *pkts, unsigned int n)
{
	int r;

	if (n > PORT_BURST)
		n = PORT_BURST;
	if (port__rx_skip(p))
		return 0;
	r = p->ops->rx_burst(p, pkts, n);
	if (r >= 0 && (unsigned int)r < n)
		p->rx_idle = p->ops->rx_idle_skip;
	return r;
}

/* One frame into @iov (ops->rx_iov; the same idle skip as port_rx_burst);
 * -ENOTSUP for a backend without it. */
static inline ssize_t port_rx_iov(struct port *p, const struct iovec *iov, unsigned int iovcnt)
{
	ssize_t r;

	if (!p->ops->rx_iov)
		return -ENOTSUP;
	if (port__rx_skip(p))
		return 0;
	r = p->ops->rx_iov(p, iov, iovcnt);
	if (r == 0)
		p->rx_idle = p->ops->rx_idle_skip;
	return r;
}

static inline int port_tx_burst(struct port *p, const struct port_pkt *pkts, unsigned int n)
{
	return p->ops->tx_burst(p, pkts, n);
}

static inline int port_wait_fd(struct port *p)
{
	return p->ops->wait_fd ? p->ops->wait_fd(p) : -1;
}

/* wait_fd polled readable: the next port_rx_burst asks the kernel. */
static inline void port_rx_ready(struct port *p)
{
	p->rx_idle = 0;
}

static inline bool port_arm(struct port *p)
{
	return p->ops->arm ? p->ops->arm(p) : true;
}

/* Backends (port_tap.c, port_afpacket.c, port_shm.c). */
extern const struct port_ops port_tap_ops, port_afpacket_ops, port_shm_listen_ops,
    port_shm_connect_ops;

/* Internal to backends: split "NAME,netns=NS" into @name and @netns. */
int port__parse_arg(const char *arg, char *name, size_t namelen, char *netns, size_t nslen);
/* Internal: the kernel takes no DATA_VALID from user space (TAP, AF_PACKET):
 * a frame whose checksum the sender vouches for, which may be a partial one
 * never completed (VM to VM), goes in as NEEDS_CSUM over its TCP/UDP header
 * (the kernel then neither checks nor needs it for local delivery). A frame
 * whose L4 header can't be found goes with no flag (the kernel checks it).
 * Returns the header to send (@h itself when nothing changes, else @tmp). */
const struct virtio_net_hdr *port__vnet_for_kernel(const struct virtio_net_hdr *h,
                                                   const uint8_t *frame, uint32_t len,
                                                   struct virtio_net_hdr *tmp);
/* Internal: set an interface up (in the current namespace). */
int port__set_up(const char *ifname);

#endif
