/* vmbus_chan — a VMBus channel between two processes: two vmbus_rings (one
 * per direction) in one memfd, two eventfds for signals, and a Unix
 * SOCK_SEQPACKET connection that carries the handshake, later control
 * messages (with descriptors), and tells each side when the other is gone.
 *
 * Handshake (each message a struct vmbus_hs_msg, one datagram):
 *
 *   client (VM, NetVSC)                      server (host, NetVSP)
 *     connect ------------------------------> accept
 *     HELLO {name, secret, ring sizes} ------>  check credential, clamp sizes
 *                                               memfd: format both rings, seal
 *     <------ OFFER {sizes, mem_size} + fds [memfd, eventfd to server, eventfd to client]
 *     verify size + seals, map, check each
 *     ring's magic/version/size
 *     OPENED --------------------------------> channel up
 *   (either side may answer REFUSE {status, reason} instead, and close)
 *
 * Memory (one memfd, created and sealed by the server so that the client
 * can neither shrink nor grow it; the server never maps client memory):
 *
 *   0                        ring c2s: header page + data (client produces)
 *   4096 + size[c2s]         ring s2c: header page + data (server produces)
 *
 * Trust: the server treats everything the client writes (ring indices,
 * descriptors, payloads, handshake messages) as hostile; the client does the
 * same the other way round, because the code is the same. A bad value breaks
 * the channel with an error that names the field; the socket is shut down so
 * the peer learns, and the process carries on.
 *
 * Thread-safety: one thread uses a channel at a time (both of its rings and
 * the wait call, which drains the shared eventfd). Different channels are
 * independent.
 *
 * Ownership: vmbus_chan_connect/accept return a channel the caller frees
 * with vmbus_chan_close(), which unmaps the memory and closes every fd.
 *
 * Errors: constructors return NULL, set errno and write a message into the
 * caller's buffer; other calls return a negative errno (-EPIPE: the peer is
 * gone; -EPROTO: the peer broke the protocol; see vmbus_chan_error()).
 */
#ifndef IOVPATH_VMBUS_CHAN_H
#define IOVPATH_VMBUS_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmbus/vmbus_ring.h"

#define VMBUS_HS_MAGIC   0x43564f49u /* "IOVC" */
#define VMBUS_HS_VERSION 1u

enum vmbus_hs_type {
	VMBUS_HS_HELLO = 1,
	VMBUS_HS_OFFER = 2,
	VMBUS_HS_OPENED = 3,
	VMBUS_HS_REFUSE = 4,
};

enum vmbus_dir { VMBUS_C2S = 0, VMBUS_S2C = 1 };

#define VMBUS_NAME_MAX   32
#define VMBUS_SECRET_LEN 32

struct vmbus_hs_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t ring_size[2];            /* [VMBUS_C2S], [VMBUS_S2C]: data-area bytes */
	uint32_t status;                  /* REFUSE: a positive errno */
	uint32_t rsvd;                    /* zero */
	uint64_t mem_size;                /* OFFER: bytes of the memfd */
	char name[VMBUS_NAME_MAX];        /* HELLO: the adapter to open, NUL-terminated */
	uint8_t secret[VMBUS_SECRET_LEN]; /* HELLO: its credential */
	char reason[64];                  /* REFUSE: why, NUL-terminated */
};
_Static_assert(sizeof(struct vmbus_hs_msg) == 160, "handshake message size");
_Static_assert(offsetof(struct vmbus_hs_msg, mem_size) == 24, "hs.mem_size");
_Static_assert(offsetof(struct vmbus_hs_msg, name) == 32, "hs.name");

/* Decode and validate one handshake message of @len bytes into @m: size,
 * magic, version, type, NUL-terminated strings, ring sizes (HELLO, OFFER),
 * memory size (OFFER). Returns 0, or -EPROTO with a message in @err. */
int vmbus_hs_decode(const void *buf, size_t len, struct vmbus_hs_msg *m, char *err, size_t errlen);

/* Server policy: may refuse a client by name and secret (return a negative
 * errno; its text goes into REFUSE). NULL accepts everyone. */
typedef int (*vmbus_check_fn)(const char *name, const uint8_t *secret, void *arg);

struct vmbus_server_opts {
	uint32_t max_ring_size; /* clamp for client requests; 0: VMBUS_RING_MAX_SIZE */
	int timeout_ms;         /* per handshake step; 0: 2000 */
	vmbus_check_fn check;
	void *check_arg;
	/* vmbus_chan_serve returns once the OFFER is out, without waiting for
	 * the OPENED: a caller serving many peers in one loop takes it with
	 * vmbus_chan_serve_finish when the socket polls readable. */
	bool no_wait_opened;
};

struct vmbus_client_opts {
	const char *name;      /* adapter name, < VMBUS_NAME_MAX */
	const uint8_t *secret; /* VMBUS_SECRET_LEN bytes, or NULL for zeros */
	uint32_t ring_size[2]; /* requested; 0: 256 KiB */
	int timeout_ms;        /* per handshake step; 0: 2000 */
};

struct vmbus_chan {
	int sock;
	int memfd;
	void *mem;
	size_t mem_size;
	int efd_wait;   /* we sleep on this */
	int efd_signal; /* we wake the peer with this */
	bool server;
	bool peer_gone;
	bool broken;
	struct vmbus_ring tx; /* we produce */
	struct vmbus_ring rx; /* we consume */
	uint32_t ring_size[2];
	char name[VMBUS_NAME_MAX];
	uint64_t spin_ns; /* busy-poll budget in vmbus_chan_wait; default 50 us */
	uint64_t wakeups; /* times the wait slept and was woken */
	char err[224];
};

/* Create a listening SOCK_SEQPACKET Unix socket at @path (a stale socket
 * file is replaced). Returns the fd or -errno. */
int vmbus_listen(const char *path);

/* Accept one connection from @lfd and run the server handshake on it.
 * Returns the channel, or NULL with errno set and @err filled. */
struct vmbus_chan *vmbus_chan_accept(int lfd, const struct vmbus_server_opts *o, char *err,
                                     size_t errlen);

/* Run the server handshake on an already accepted connection @fd, which the
 * call owns from now on (closed on failure). */
struct vmbus_chan *vmbus_chan_serve(int fd, const struct vmbus_server_opts *o, char *err,
                                    size_t errlen);

/* With opts.no_wait_opened: take the client's OPENED, without waiting.
 * Returns 1 (the channel is up), 0 (not there yet: call again when ch->sock
 * polls readable), or a negative errno with @err filled (the caller closes
 * the channel). */
int vmbus_chan_serve_finish(struct vmbus_chan *ch, char *err, size_t errlen);

/* Connect to the server at @path and open the channel. */
struct vmbus_chan *vmbus_chan_connect(const char *path, const struct vmbus_client_opts *o,
                                      char *err, size_t errlen);

/* Unmap and close everything; NULL is a no-op. */
void vmbus_chan_close(struct vmbus_chan *ch);

/* Write a burst (see vmbus_ring_write). -EPROTO/-EPIPE when the channel is
 * broken or the peer is gone. */
int vmbus_chan_send(struct vmbus_chan *ch, const struct vmbus_tx *pkts, unsigned int n);

/* Read a burst (see vmbus_ring_read). A corrupt ring breaks the channel:
 * packets before the bad one are returned, then -EPROTO. After the peer has
 * gone, what it published is still returned; then -EPIPE. */
int vmbus_chan_recv(struct vmbus_chan *ch, struct vmbus_rx *pkts, unsigned int max, void *buf,
                    size_t buflen);

#define VMBUS_EV_RX  0x1u /* the receive ring has packets */
#define VMBUS_EV_TX  0x2u /* the transmit ring has room for @tx_need bytes */
#define VMBUS_EV_CTL 0x4u /* a control message waits on the socket */

/* Wait until one of @events is ready: busy-poll for spin_ns, then sleep on
 * the eventfd (an idle channel costs no CPU). Returns the ready events, 0 on
 * time-out (@timeout_ms < 0: none), -EPIPE when the peer is gone (and, for
 * VMBUS_EV_RX, nothing is left to read), -EPROTO when the channel broke. */
int vmbus_chan_wait(struct vmbus_chan *ch, unsigned int events, uint32_t tx_need, int timeout_ms);

/* Look at the control socket without waiting: VMBUS_EV_CTL when a message
 * waits, else 0 (and peer_gone set when the peer has hung up). */
unsigned int vmbus_chan_poll_ctl(struct vmbus_chan *ch);

/* For a caller that sleeps in its own poll() on ch->efd_wait: consume the
 * signals that came already. Call it BEFORE arming the rings and looking at
 * them once more, so a signal is never lost and a stale one never spins. */
void vmbus_chan_drain_signal(struct vmbus_chan *ch);

/* Break the channel on purpose (a protocol error found above the ring):
 * record @why, shut the socket down so the peer learns. Returns -EPROTO. */
int vmbus_chan_fail(struct vmbus_chan *ch, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- control messages: the socket after the handshake ----
 *
 * A control message is one datagram: struct vmbus_ctl_hdr + payload, with up
 * to VMBUS_CTL_MAX_FDS descriptors. They carry what rings can't: shared
 * buffers (GPADL: the guest's receive and send buffers, announced before the
 * NVSP message that names their handle) and VPCI, the hot-add and removal of
 * a VF in the VM (SPEC §4, §5):
 *
 *   host (NetVSP side)                          guest (NetVSC)
 *     VPCI_ADD {serial, vf, BAR size, ids} + [memfd, efd_nic, efd_vf]
 *     ----------------------------------------->  vf_start: map the BAR, read
 *     SEND_VF_ASSOCIATION {1, serial} (ring) -->   the config blocks; bind when
 *                                                  serial and MAC match
 *     VPCI_REMOVE {serial} -------------------->  back to synthetic, drain, stop
 *     <------------------------------------------ VPCI_REMOVE_DONE {serial}
 *
 * The socket and the ring are not ordered with each other: the association
 * may arrive before the VPCI_ADD it names.
 */
#define VMBUS_CTL_MAGIC   0x4c54434fu /* "OCTL" */
#define VMBUS_CTL_MAX     4096u
#define VMBUS_CTL_MAX_FDS 4

enum vmbus_ctl_type {
	VMBUS_CTL_GPADL = 1, /* {handle, size} + memfd: a guest buffer shared with the host */
	VMBUS_CTL_GPADL_TEARDOWN = 2,   /* {handle} */
	VMBUS_CTL_VPCI_ADD = 3,         /* host->guest: struct vmbus_vpci_add + 3 fds */
	VMBUS_CTL_VPCI_REMOVE = 4,      /* host->guest: struct vmbus_vpci {serial} */
	VMBUS_CTL_VPCI_REMOVE_DONE = 5, /* guest->host: struct vmbus_vpci {serial} */
	VMBUS_CTL_MIGRATE = 6,          /* host->guest: struct vmbus_migrate (live migration) */
	VMBUS_CTL_MIGRATE_CANCEL = 7,   /* host->guest, no payload: forget the MIGRATE */
};

struct vmbus_ctl_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t rsvd; /* zero */
	uint32_t len;  /* payload bytes after the header */
	uint32_t id;
};
_Static_assert(sizeof(struct vmbus_ctl_hdr) == 16, "control header");

struct vmbus_ctl_gpadl {
	uint32_t handle; /* nonzero, chosen by the guest, unique per channel */
	uint32_t rsvd;
	uint64_t size; /* bytes of the memfd */
};
_Static_assert(sizeof(struct vmbus_ctl_gpadl) == 16, "gpadl message");

/* VPCI_ADD: a VF hot-added into the VM. Its descriptors, in this order: the
 * BAR memfd, the NIC's doorbell (the VF rings it), the VF's doorbell. */
#define VMBUS_VPCI_ADD_FDS 3
#define VMBUS_VPCI_MAX_BAR (1ull << 30)
#define VMBUS_VPCI_MAX_QP  64u
struct vmbus_vpci_add {
	uint32_t serial;   /* nonzero: what SEND_VF_ASSOCIATION names */
	uint32_t vf_id;    /* the VF's function number on the NIC */
	uint64_t bar_size; /* bytes of the BAR memfd: 1..VMBUS_VPCI_MAX_BAR */
	uint16_t vendor_id;
	uint16_t device_id;
	uint32_t num_qp; /* queue pairs: a power of two, at most VMBUS_VPCI_MAX_QP */
	uint64_t rsvd;   /* zero */
};
_Static_assert(sizeof(struct vmbus_vpci_add) == 32, "vpci add message");

/* VPCI_REMOVE and VPCI_REMOVE_DONE. */
struct vmbus_vpci {
	uint32_t serial; /* nonzero */
	uint32_t rsvd;   /* zero */
};
_Static_assert(sizeof(struct vmbus_vpci) == 8, "vpci message");

/* MIGRATE: the VM's adapter now lives on host @host: close it here and open
 * it there, at the channel @channel, as @name with the credential @secret
 * (host/migrate.h has the whole sequence). */
#define VMBUS_MIGRATE_PATH_MAX 128
struct vmbus_migrate {
	char host[VMBUS_NAME_MAX]; /* NUL-terminated, nonempty */
	char name[VMBUS_NAME_MAX]; /* NUL-terminated, nonempty */
	uint8_t secret[VMBUS_SECRET_LEN];
	char channel[VMBUS_MIGRATE_PATH_MAX]; /* an absolute path, NUL-terminated */
};
_Static_assert(sizeof(struct vmbus_migrate) == 224, "migrate message");
_Static_assert(offsetof(struct vmbus_migrate, channel) == 96, "migrate.channel");

/* A control message as received: header and payload copied out. */
struct vmbus_ctl_msg {
	struct vmbus_ctl_hdr hdr;
	uint8_t payload[VMBUS_CTL_MAX - sizeof(struct vmbus_ctl_hdr)];
};

/* Send one control message with @nfds descriptors (not consumed).
 * Returns 0, -EMSGSIZE, -EPIPE, -EPROTO (channel broken), or on the server
 * side (never blocked by the peer) -EAGAIN: its socket buffer is full. */
int vmbus_chan_send_ctl(struct vmbus_chan *ch, uint16_t type, uint32_t id, const void *payload,
                        uint32_t len, const int *fds, int nfds);

/* Receive one pending control message without blocking. The descriptors
 * that came with it go to @fds (the caller owns and closes them).
 * Returns 1, 0 when none is waiting, -EPIPE when the peer is gone, -EPROTO
 * for a malformed message (the channel is then broken). */
int vmbus_chan_recv_ctl(struct vmbus_chan *ch, struct vmbus_ctl_msg *m, int *fds, int nfds_max,
                        int *nfds);

/* Decode and validate a control message of @len bytes (copy into @m).
 * Returns 0 or -EPROTO with a reason in @err. */
int vmbus_ctl_decode(const void *buf, size_t len, struct vmbus_ctl_msg *m, char *err,
                     size_t errlen);

/* Validate a VPCI message (@m, received with @nfds descriptors) of any VPCI
 * type and copy it into *@out (for REMOVE and REMOVE_DONE only @out->serial
 * is set, the rest zeroed): exact payload size, reserved fields zero, serial
 * nonzero, the right number of descriptors (VPCI_ADD: VMBUS_VPCI_ADD_FDS,
 * others none), VPCI_ADD's BAR size and queue count in range. The caller
 * still owns the descriptors. Returns 0, or -EPROTO with a reason in @err
 * (-EINVAL: not a VPCI type). */
int vmbus_vpci_decode(const struct vmbus_ctl_msg *m, int nfds, struct vmbus_vpci_add *out,
                      char *err, size_t errlen);

/* Validate a MIGRATE message (@m, received with @nfds descriptors: none)
 * into *@out: exact size, every string NUL-terminated and nonempty, the
 * channel an absolute path. 0, or -EPROTO with a reason in @err. */
int vmbus_migrate_decode(const struct vmbus_ctl_msg *m, int nfds, struct vmbus_migrate *out,
                         char *err, size_t errlen);

/* Host: hot-add a VF (@fds: VMBUS_VPCI_ADD_FDS descriptors, not consumed). */
int vmbus_vpci_add(struct vmbus_chan *ch, const struct vmbus_vpci_add *a, const int *fds);

/* VPCI_REMOVE (host) or VPCI_REMOVE_DONE (guest) for the VF @serial. */
int vmbus_vpci_send(struct vmbus_chan *ch, uint16_t type, uint32_t serial);

/* A buffer shared by the guest with the host (Hyper-V's GPADL). */
struct vmbus_gpadl {
	uint32_t handle;
	int fd;
	uint8_t *mem;
	size_t size;
};

#define VMBUS_GPADL_MAX_SIZE (256u << 20)

/* Guest: create a sealed buffer of @size bytes, map it and announce it to
 * the host with @handle. Returns 0 or -errno. */
int vmbus_gpadl_create(struct vmbus_chan *ch, uint32_t handle, size_t size, struct vmbus_gpadl *g);

/* Host: take the buffer a GPADL message announced, with its descriptor @fd
 * (consumed, also on failure). The memfd must be sealed against shrinking and
 * growing and be exactly the announced size (at most VMBUS_GPADL_MAX_SIZE).
 * Returns 0, or -EPROTO with a reason in @err. */
int vmbus_gpadl_map(const struct vmbus_ctl_msg *m, int fd, struct vmbus_gpadl *g, char *err,
                    size_t errlen);

/* Unmap and close; a gpadl that failed or was released already is a no-op. */
void vmbus_gpadl_release(struct vmbus_gpadl *g);

static inline const char *vmbus_chan_error(const struct vmbus_chan *ch)
{
	return ch->err;
}

#endif
