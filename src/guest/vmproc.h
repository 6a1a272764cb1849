/* vmproc — one VM network adapter as a process (iovpath-vm): NetVSC (and,
 * while the host has given it one, the VF driver inside it) on one side, the
 * guest OS on the other.
 *
 *   guest OS (namespace NS)                       this process
 *   ┌──────────────────────┐   TAP + vnet hdr   ┌─────────────────────────┐
 *   │ eth0: the VM's MAC,  │◄──────────────────►│ NetVSC ── VMBus ── host │
 *   │ its address, up      │  (checksum, TSO)   │   └── VF (when bound) ──┼─► NIC
 *   └──────────────────────┘                    └─────────────────────────┘
 *
 * The TAP is the guest's ONLY adapter: the VF stays inside NetVSC, so no tool
 * in the guest sees two interfaces with one MAC. Its MAC is the one the host
 * reports (RNDIS permanent address), its MTU the host's.
 *
 * Or, with an endpoint mode (no TAP, no root): the built-in traffic endpoint
 * (endpoint.h) is the guest: a sink that checks every frame it receives, and
 * optionally a generator towards a peer MAC; on exit (SIGTERM, SIGINT or the
 * end of --seconds) it prints its counters as one JSON line.
 *
 * The adapter's channel is RUN_DIR/HOST.vmbus; its credential is the hex file
 * RUN_DIR/NAME.secret that `vm.create` made (readable by root only), so a
 * process can open only the adapter whose credential it can read.
 *
 * Loop: move frames both ways in bursts while there is work (a guest frame
 * the channel cannot take now waits, never dropped: back-pressure reaches the
 * guest's queue), spin briefly, then sleep in poll() on the TAP, the channel
 * and the VF doorbell together, so an idle VM costs no CPU.
 *
 * Live migration: when the host sends MIGRATE (host/migrate.h), the process
 * stops taking guest frames (they wait in the TAP's queue), sends those it
 * took, hands the guest what arrived, closes the adapter on the old host and
 * opens it on the new one (same MAC, or it stops), then announces the VM with
 * RARPs so the physical network learns where it is. The guest's TAP, address
 * and TCP connections stay; only frames that arrive for the VM during the few
 * milliseconds it has no channel are lost (TCP resends them).
 *
 * Thread-safety: one thread. Errors: vmproc_run returns 0 after a clean stop
 * (a signal, the end of --seconds) and 1 on a failure or when the channel to
 * the host is gone (the daemon stopped or closed it), the reason on stderr.
 */
#ifndef IOVPATH_GUEST_VMPROC_H
#define IOVPATH_GUEST_VMPROC_H

#include <stdbool.h>
#include <stdint.h>

enum vmproc_mode {
	VMPROC_TAP,      /* the guest OS is a namespace behind a TAP */
	VMPROC_ENDPOINT, /* the built-in endpoint is the guest */
};

struct vmproc_config {
	const char *run_dir;     /* NULL: HOSTD_RUN_DIR */
	const char *host;        /* host daemon's name */
	const char *name;        /* the adapter's name (vm.create) */
	const char *secret_file; /* NULL: RUN_DIR/NAME.secret */
	enum vmproc_mode mode;
	/* VMPROC_TAP */
	const char *netns;  /* the guest OS; NULL: this process's namespace */
	const char *ifname; /* NULL: "eth0" */
	uint32_t ip;        /* host order; 0: no address */
	uint8_t plen;
	/* VMPROC_ENDPOINT */
	bool generate; /* also send, to @dst_mac */
	bool wait_vf;  /* generate only once the VF path is active (--seconds from then) */
	uint8_t dst_mac[6];
	uint32_t size;  /* frame bytes; 0: 64 */
	uint64_t pps;   /* 0: as fast as the path takes */
	double seconds; /* 0: until a signal */
	bool quiet;     /* endpoint: no JSON line at the end */
};

int vmproc_run(const struct vmproc_config *cfg);

/* Read a credential file of 2 * VMBUS_SECRET_LEN hex digits (+ newline).
 * Returns 0 or -errno (-EINVAL: not such a file). */
int vmproc_read_secret(const char *path, uint8_t *secret);

#endif
