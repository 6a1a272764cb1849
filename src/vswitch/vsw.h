/* vsw — the host's Hyper-V extensible switch: an L2 switch with ports of three
 * kinds, per-port policies (VLAN, MAC spoof protection, capture), MAC
 * learning with ageing, and an extension chain.
 *
 *                 +------------------------- vsw ---------------------------+
 *   NIC PF        |                                                          |
 *   default VPort-+- external port --+                                      |
 *   host vNIC  ---+- internal port --+--> capture ext -> filter ext ->      |
 *   VM adapter ---+- VM port --------+    forwarding (MAC table, VLANs) ----+--> tx_burst of
 *   VM adapter ---+- VM port --------+                                      |    each destination
 *                 +----------------------------------------------------------+
 *
 * Ports. A port is added with an ops table its owner provides (Open vSwitch
 * netdev-provider style) and keeps its id for life (ids are the lowest free,
 * 0..VSW_MAX_PORTS-1; an id is reused only after the port is removed). At
 * most one external port (the NIC's PF default VPort); any number of internal
 * ports (host interfaces) and VM ports (one per VM network adapter).
 *
 * Frames through the switch (vsw_input), in this order, per frame:
 *   1. the port's counters (rx) and its "in" capture see the frame as given.
 *   2. capture extensions see it (read-only), whatever happens next.
 *   3. malformed: shorter than 14 bytes (18 with an in-band 802.1Q tag),
 *      longer than max_frame, VLAN id 4095, or a group (multicast) source
 *      MAC -> dropped, "malformed".
 *   4. MAC spoof protection (VM ports, unless allow_mac_spoofing): the source
 *      MAC must be one of the port's MACs -> else dropped, "spoof".
 *   5. VLAN classification by the port's mode (struct vsw_vlan_cfg) -> the
 *      frame's VLAN, or dropped, "vlan". Frames never cross VLANs.
 *   6. filter extensions, in the order added: any may drop it, "filter".
 *   7. forwarding: the source (MAC, VLAN) is learned on the ingress port;
 *      a unicast destination found in the MAC table goes to that one port;
 *      unknown unicast, broadcast and multicast are flooded to every port of
 *      the VLAN. Never back to the ingress port: nowhere to go -> dropped,
 *      "no-route".
 *   8. each destination port gets the frame tagged or untagged as its VLAN
 *      mode says, in ONE tx_burst call per destination per burst; frames the
 *      owner does not take are dropped on that port, "port-full".
 * So a VM port receives unicast only for its own MACs (once learned), plus
 * the flooded broadcast, multicast and unknown unicast of its VLAN: the same
 * as on a physical learning switch. It never receives a frame it sent.
 *
 * VLANs. Ids 0..4094 name the switch's VLANs; VLAN 0 is the untagged network
 * (Hyper-V's "no VLAN id"). An ACCESS port belongs to one VLAN: frames from it
 * must be untagged, priority-tagged (VLAN id 0) or tagged with that VLAN, any
 * other tag is dropped; frames to it leave untagged. A TRUNK port belongs to
 * the VLANs in its allowed set (1..4094) plus its native VLAN, if any: tagged
 * frames must carry an allowed VLAN; untagged and priority-tagged frames
 * belong to the native VLAN (dropped without one); frames to it leave tagged,
 * except on the native VLAN (untagged). A tag's priority bits (PCP, DEI) are
 * kept when a frame leaves tagged. A tag comes either in the bytes (ethertype
 * 0x8100 at offset 12) or, from an offloading owner, in vsw_frame.vlan_tci
 * with VSW_F_VLAN. A frame with a second tag (0x8100 or 0x88a8) behind the
 * one the switch reads is dropped (VSW_DROP_VLAN): where the outer tag comes
 * off (a trunk's native VLAN) the inner one would put it on another VLAN.
 * On egress the tag goes into the bytes, or into vlan_tci for a port with
 * tx_vlan_offload.
 *
 * MAC table. Entries (MAC, VLAN) -> port, learned from source addresses,
 * age out mac_age_ns after the last frame (lazily: a lookup never returns an
 * expired entry, vsw_mac_age() sweeps). A MAC seen on another port moves
 * there, except a MAC that a spoof-protected VM port owns (one of its MACs):
 * once learned on its own port it is learned on no other while that port
 * owns it — its entry may expire or be swept (frames to it then flood and
 * still reach it) — (the frame is still forwarded; the refusal is counted),
 * so nothing else can draw a VM's unicast traffic away from it. A full table learns nothing new and
 * counts it (vsw_stats.mac_table_full); frames still flood.
 *
 * Extensions (Hyper-V's extensible switch model): capture extensions see
 * every frame that enters and can't change or drop it; filter extensions see
 * the frames that passed the port's policies and may drop them; the
 * forwarding extension is the built-in L2 logic above. A filter may ask the
 * host to remove a port's VF (vsw_request_vf_removal), so that the port's
 * traffic comes back to the synthetic path and its policies apply again
 * (VF traffic bypasses the switch).
 *
 * Time: ageing reads the clock given in struct vsw_config (monotonic
 * nanoseconds) once per burst; tests inject their own. Capture files carry
 * real (CLOCK_REALTIME) timestamps.
 *
 * Thread-safety: none inside. One thread owns a switch and makes every call
 * on it; the callbacks (tx_burst, extensions, the VF-removal handler, the
 * clock) run on that thread, inside the call that triggered them, and must
 * not call vsw_input, add or remove ports or extensions, or destroy the
 * switch (such calls return -EBUSY). Different switches are independent.
 *
 * Ownership:
 *   - vsw_input: the caller keeps its frames; the switch only reads them,
 *     during the call.
 *   - tx_burst: the frames (bytes and the array) are the switch's, valid only
 *     during the call; the owner copies what it takes. It must not write the
 *     bytes (other ports may be handed the same ones); it may change the
 *     array's entries, which the switch does not read afterwards.
 *   - vsw_create allocates everything the datapath needs (ports, MAC table,
 *     per-burst scratch); vsw_input never allocates and makes no system call
 *     (the clock excepted; a capture writes its file through stdio).
 *   - strings and configuration structs passed in are copied.
 *
 * Errors: vsw_create returns NULL and sets errno; every other call returns 0
 * (or a count or an id) or a negative errno, listed with the call. Common to
 * all: -ENOENT for a port id with no port, -EINVAL for a malformed argument,
 * -EBUSY when called from inside a callback of the same switch.
 */
#ifndef IOVPATH_VSWITCH_VSW_H
#define IOVPATH_VSWITCH_VSW_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VSW_MAX_PORTS        256u /* port ids 0..255 */
#define VSW_PORT_WORDS       (VSW_MAX_PORTS / 64u)
#define VSW_BURST            32u /* frames per batch: vsw_input splits longer bursts */
#define VSW_PORT_MACS        8u  /* MACs per VM port (spoof protection) */
#define VSW_NAME_LEN         32u
#define VSW_VLAN_MAX         4094u
#define VSW_VLAN_NONE        0xffffu /* trunk: no native VLAN */
#define VSW_VLAN_WORDS       (4096u / 64u)
#define VSW_MAX_EXTS         8u
#define VSW_MAX_FRAME        65550u /* a 64 KiB GSO segment plus headers (PORT_MAX_FRAME) */
#define VSW_DEFAULT_MAX_MACS 4096u
#define VSW_DEFAULT_AGE_NS   (300ull * 1000000000ull)

/* vsw_frame.flags */
#define VSW_F_VLAN 0x1u /* the 802.1Q tag is in vlan_tci, not in the bytes */

/* One Ethernet frame and its metadata. */
struct vsw_frame {
	const uint8_t *data; /* the Ethernet header first */
	uint32_t len;
	uint16_t flags;    /* VSW_F_* */
	uint16_t vlan_tci; /* with VSW_F_VLAN: PCP(3) DEI(1) VID(12), host order */
	/* Checksum and segmentation offload, as on the port backends (port.h).
	 * Opaque to the switch and passed to every destination, with one change:
	 * when the switch adds or removes a tag in the bytes, csum_start and
	 * hdr_len (those >= 12) move by 4 so they keep pointing at the same
	 * header. Fields in host order. */
	struct virtio_net_hdr vnet;
};

enum vsw_port_kind {
	VSW_PORT_EXTERNAL, /* the physical network: the NIC's PF default VPort */
	VSW_PORT_INTERNAL, /* a host interface */
	VSW_PORT_VM,       /* a VM network adapter (NetVSP) */
};

enum vsw_vlan_mode { VSW_VLAN_ACCESS, VSW_VLAN_TRUNK };

struct vsw_vlan_cfg {
	enum vsw_vlan_mode mode;
	uint16_t access_vlan;             /* ACCESS: 0..VSW_VLAN_MAX (0: the untagged network) */
	uint16_t native_vlan;             /* TRUNK: 0..VSW_VLAN_MAX, or VSW_VLAN_NONE */
	uint64_t allowed[VSW_VLAN_WORDS]; /* TRUNK: bit v = VLAN v allowed, v in 1..4094 */
};

/* What a port's owner provides. */
struct vsw_port_ops {
	/* Deliver @n frames out of the switch to the port's owner (never block).
	 * Returns how many it took, in order (frames[0..ret-1]); the others are
	 * dropped and counted "port-full" (a negative return counts as 0). The
	 * frames are valid during the call only: see "Ownership" above.
	 * Required. */
	int (*tx_burst)(void *port_ctx, struct vsw_frame *frames, unsigned int n);
};

struct vsw_port_config {
	enum vsw_port_kind kind;
	const char *name; /* for dumps; NULL: "" (copied, truncated to VSW_NAME_LEN - 1) */
	struct vsw_vlan_cfg vlan;
	/* VM ports: the source MACs the VM may use (unicast), 1..VSW_PORT_MACS
	 * of them unless allow_mac_spoofing. Ignored for the other kinds. */
	uint8_t macs[VSW_PORT_MACS][6];
	unsigned int nmacs;
	bool allow_mac_spoofing;
	bool tx_vlan_offload; /* egress tags go in vlan_tci (VSW_F_VLAN), not in the bytes */
	const struct vsw_port_ops *ops;
	void *ctx; /* passed to the ops */
};

/* Why a frame was dropped (the index of vsw_port_stats.drops). */
enum vsw_drop {
	VSW_DROP_NONE = 0,
	VSW_DROP_MALFORMED, /* runt, truncated tag, oversize, VLAN 4095, group source MAC */
	VSW_DROP_SPOOF,     /* a VM port's source MAC is not one of its MACs */
	VSW_DROP_VLAN,      /* a VLAN the ingress port is not in (or untagged without one) */
	VSW_DROP_FILTER,    /* a filter extension said so */
	VSW_DROP_NO_ROUTE,  /* no destination but the ingress port itself */
	VSW_DROP_PORT_FULL, /* the destination's tx_burst did not take it (egress port) */
	VSW_DROP_MAX
};

/* Per-port counters. Ingress drops are charged to the ingress port,
 * "port-full" to the destination. */
struct vsw_port_stats {
	uint64_t rx_frames, rx_bytes; /* from the owner into the switch (vsw_input), all of them */
	uint64_t tx_frames, tx_bytes; /* from the switch to the owner: taken by tx_burst */
	uint64_t drops[VSW_DROP_MAX]; /* frames, by reason (drops[VSW_DROP_NONE] stays 0) */
};

/* Switch-wide counters (vsw_get_stats). */
struct vsw_stats {
	uint32_t ports;
	uint32_t macs;     /* entries in the MAC table, expired ones included until swept */
	uint32_t max_macs; /* its limit */
	uint64_t mac_age_ns;
	uint64_t mac_learned;      /* new entries */
	uint64_t mac_moved;        /* entries that moved to another port */
	uint64_t mac_move_refused; /* a spoof-protected VM's MAC seen elsewhere */
	uint64_t mac_aged;         /* entries removed because they expired */
	uint64_t mac_table_full;   /* frames whose source could not be learned */
	uint64_t vf_removal_requests;
};

struct vsw_config {
	const char *name;    /* for logs; NULL: "vsw" */
	uint32_t max_macs;   /* MAC table limit; 0: VSW_DEFAULT_MAX_MACS; at most 1 << 20 */
	uint64_t mac_age_ns; /* 0: VSW_DEFAULT_AGE_NS */
	uint32_t max_frame;  /* longest frame accepted (bytes); 0: VSW_MAX_FRAME */
	uint64_t (*clock)(void *arg); /* monotonic ns; NULL: util_now_ns() */
	void *clock_arg;
};

struct vsw;

/* --- life cycle --------------------------------------------------------- */

/* A switch with no ports (@cfg NULL: all defaults). NULL with errno EINVAL
 * (a value out of range) or ENOMEM. */
struct vsw *vsw_create(const struct vsw_config *cfg);
/* Stop every capture, drop every port (no callback is called) and free the
 * switch. NULL: nothing. */
void vsw_destroy(struct vsw *sw);

/* --- ports -------------------------------------------------------------- */

/* Add a port; returns its id. -EINVAL: no ops/tx_burst, bad kind, bad VLAN
 * config (vsw_vlan_cfg_check), a VM port without MACs while spoof-protected
 * or with a bad one (group or zero); -EEXIST: a second external port;
 * -ENOSPC: VSW_MAX_PORTS ports exist. */
int vsw_port_add(struct vsw *sw, const struct vsw_port_config *cfg);
/* Remove a port: its capture stops, its MAC table entries go. -ENOENT. */
int vsw_port_remove(struct vsw *sw, unsigned int port);
/* Change a port's VLAN config at run time; its learned MACs are forgotten.
 * -ENOENT, -EINVAL (bad config). */
int vsw_port_set_vlan(struct vsw *sw, unsigned int port, const struct vsw_vlan_cfg *vlan);
/* Change a VM port's MACs and spoofing setting at run time (as in
 * vsw_port_config); its learned MACs are forgotten. -ENOENT, -EINVAL (not a
 * VM port, bad MACs). */
int vsw_port_set_macs(struct vsw *sw, unsigned int port, const uint8_t macs[][6],
                      unsigned int nmacs, bool allow_mac_spoofing);

/* VM port @port's own MACs are learned on it now, wherever they were seen
 * last (its VM is ready to receive; a VM that moved here from another host
 * is found here at once, not only after it has sent a frame). ACCESS ports
 * only (a trunk port's MACs are learned per VLAN as frames come). -ENOENT,
 * -EINVAL (not a VM port). */
int vsw_port_learn_macs(struct vsw *sw, unsigned int port);

/* VM port @port no longer owns its MACs (its VM moved to another host; the
 * port stays a while to forward what still comes): what was learned on it
 * stays until the MAC is seen on another port, then moves there as any
 * learned MAC does. -ENOENT, -EINVAL (not a VM port). */
int vsw_port_release_macs(struct vsw *sw, unsigned int port);

/* VLAN config helpers. */
static inline void vsw_vlan_access(struct vsw_vlan_cfg *c, uint16_t vlan)
{
	*c = (struct vsw_vlan_cfg){ .mode = VSW_VLAN_ACCESS, .access_vlan = vlan };
}
/* A trunk with no allowed VLAN yet; @native: VSW_VLAN_NONE or a VLAN. */
static inline void vsw_vlan_trunk(struct vsw_vlan_cfg *c, uint16_t native)
{
	*c = (struct vsw_vlan_cfg){ .mode = VSW_VLAN_TRUNK, .native_vlan = native };
}
static inline void vsw_vlan_allow(struct vsw_vlan_cfg *c, uint16_t vlan)
{
	if (vlan >= 1 && vlan <= VSW_VLAN_MAX)
		c->allowed[vlan / 64] |= 1ull << (vlan % 64);
}
/* 0, or -EINVAL: unknown mode, a VLAN over VSW_VLAN_MAX, allowed bits 0 or
 * 4095 set. */
int vsw_vlan_cfg_check(const struct vsw_vlan_cfg *c);
/* Whether a port with config @c is in VLAN @vlan. */
bool vsw_vlan_has(const struct vsw_vlan_cfg *c, uint16_t vlan);

/* --- the datapath ------------------------------------------------------- */

/* Frames from @port's owner into the switch: a burst of @n (any number;
 * batches of VSW_BURST, each with one tx_burst call per destination).
 * Every frame is consumed: forwarded, or dropped and counted. Returns the
 * number forwarded to at least one destination (tx_burst may still refuse
 * them: "port-full"); -ENOENT: no such port; -EBUSY: called from a callback. */
int vsw_input(struct vsw *sw, unsigned int port, const struct vsw_frame *frames, unsigned int n);

/* --- MAC table ---------------------------------------------------------- */

/* Set the age of learned entries (> 0 ns). -EINVAL. */
int vsw_set_mac_age(struct vsw *sw, uint64_t age_ns);
/* Remove every expired entry now; returns how many went. */
int vsw_mac_age(struct vsw *sw);
/* Forget every learned entry (the table is as new). */
void vsw_mac_flush(struct vsw *sw);
/* The port (MAC, VLAN) is learned on, or -ENOENT (none, or expired). */
int vsw_mac_lookup(const struct vsw *sw, const uint8_t mac[6], uint16_t vlan);

/* --- extensions --------------------------------------------------------- */

enum vsw_verdict { VSW_PASS = 0, VSW_DROP = 1 };

/* An extension: exactly one of capture and filter. Both are called per frame,
 * on the owner's thread, during vsw_input. */
struct vsw_ext_ops {
	const char *name;
	/* Sees every frame entering the switch from @in_port, as given (before any
	 * check: it may be malformed). Read-only. */
	void (*capture)(void *ext_ctx, struct vsw *sw, unsigned int in_port,
	                const struct vsw_frame *frame);
	/* Sees a frame from @in_port on VLAN @vlan that passed the port's policies;
	 * VSW_DROP drops it ("filter"). Read-only. May call vsw_request_vf_removal. */
	enum vsw_verdict (*filter)(void *ext_ctx, struct vsw *sw, unsigned int in_port,
	                           uint16_t vlan, const struct vsw_frame *frame);
};

/* Add an extension at the end of its kind's chain (captures all run before
 * filters). Returns its id. -EINVAL: not exactly one of capture/filter;
 * -ENOSPC: VSW_MAX_EXTS extensions. */
int vsw_ext_add(struct vsw *sw, const struct vsw_ext_ops *ops, void *ext_ctx);
/* -ENOENT: no such extension. */
int vsw_ext_remove(struct vsw *sw, int ext_id);

/* The host's handler for VF-removal requests: fail the VM port's VF over to
 * the synthetic path (section 5 of the spec). Its return value is returned
 * by vsw_request_vf_removal when called outside a burst. NULL: none. */
void vsw_set_vf_removal_handler(struct vsw *sw,
                                int (*fn)(void *arg, struct vsw *sw, unsigned int port), void *arg);
/* Ask the host to remove @port's VF. From inside vsw_input (an extension),
 * the request is queued and the handler called once per port after the
 * burst, returning 0 now; otherwise the handler is called now.
 * -ENOENT; -EINVAL: not a VM port; -EOPNOTSUPP: no handler. */
int vsw_request_vf_removal(struct vsw *sw, unsigned int port);

/* --- capture (vsw_capture.c) -------------------------------------------- */

#define VSW_CAP_IN  0x1u /* frames the port's owner sent into the switch */
#define VSW_CAP_OUT 0x2u /* frames the switch handed to the owner */

/* Write @port's frames (directions @dirs) into a new pcap file at @path
 * (Ethernet, snap length 65535, real time stamps), readable by tcpdump and
 * Wireshark. Frames appear as on the wire: a tag carried in vlan_tci is put
 * back into the bytes. "out" frames are written before tx_burst, so frames
 * the owner then refuses are in the file too (as tcpdump on a Linux
 * interface shows them). Directions are not marked in the file.
 * -ENOENT; -EINVAL: bad @dirs; -EBUSY: already capturing; -errno of
 * creating the file. */
int vsw_capture_start(struct vsw *sw, unsigned int port, const char *path, unsigned int dirs);
/* Stop and close the file (complete from then on; stopping a port that is
 * not capturing does nothing). -ENOENT; -EIO: the file could not be written
 * completely. */
int vsw_capture_stop(struct vsw *sw, unsigned int port);

/* --- introspection ------------------------------------------------------ */

struct vsw_port_info {
	unsigned int id;
	enum vsw_port_kind kind;
	char name[VSW_NAME_LEN];
	struct vsw_vlan_cfg vlan;
	uint8_t macs[VSW_PORT_MACS][6];
	unsigned int nmacs;
	bool allow_mac_spoofing;
	bool tx_vlan_offload;
	unsigned int capture; /* VSW_CAP_* being captured */
	struct vsw_port_stats stats;
};

struct vsw_mac_info {
	uint8_t mac[6];
	uint16_t vlan;
	unsigned int port;
	uint64_t idle_ns; /* since the last frame from it */
};

/* vsw_dump callbacks; NULL: skip that kind. A non-zero return stops the dump. */
struct vsw_dump_ops {
	int (*port)(void *arg, const struct vsw_port_info *port);
	int (*mac)(void *arg, const struct vsw_mac_info *mac);
};

/* Every port (by id), then every live MAC table entry (in table order).
 * Returns 0, or the first non-zero value a callback returned. */
int vsw_dump(const struct vsw *sw, const struct vsw_dump_ops *ops, void *arg);
/* -ENOENT. */
int vsw_port_get(const struct vsw *sw, unsigned int port, struct vsw_port_info *info);
void vsw_get_stats(const struct vsw *sw, struct vsw_stats *st);

/* Names for dumps: "spoof", "port-full"...; "external", "internal", "vm";
 * "access", "trunk". */
const char *vsw_drop_name(enum vsw_drop reason);
const char *vsw_port_kind_name(enum vsw_port_kind kind);
const char *vsw_vlan_mode_name(enum vsw_vlan_mode mode);

#endif
