/* lab_net — the kernel objects a lab is built from: named network namespaces,
 * veth pairs, a bridge, VLAN devices, TAP devices, link state and IPv4
 * addresses. rtnetlink through libmnl; no fork/exec of iproute2.
 *
 * Named namespaces are made exactly as `ip netns add` makes them, so `ip netns
 * exec NAME …` and util_netns_enter() work on them: a file LAB_NETNS_DIR/NAME
 * on which the namespace (/proc/thread-self/ns/net of a thread that unshared
 * it) is bind-mounted; LAB_NETNS_DIR is made a shared mount point first, so
 * the mount propagates to other mount namespaces. The namespace lives as long
 * as that mount or any process in it; lab_netns_del() unmounts and removes the
 * file, and the kernel tears the namespace down (with every device in it) when
 * its last process has left.
 *
 * Working in another namespace never moves the calling thread: each operation
 * that must happen inside a namespace (creating one, opening a netlink socket
 * or a TAP device there) runs on a short-lived thread of its own that calls
 * setns() and then exits, so the caller's thread can never be left stranded in
 * the wrong namespace by a failing setns() back. A netlink socket stays bound
 * to the namespace it was opened in, so a struct lab_nl opened "in" a
 * namespace acts on that namespace from any thread afterwards.
 *
 * Interfaces are named by name (IFNAMSIZ: at most 15 characters), always in
 * the namespace of the socket they are sent on; @netns arguments name a
 * namespace in LAB_NETNS_DIR (NULL: the socket's own).
 *
 * Thread-safety: the namespace calls are safe from any thread. A struct lab_nl
 * is used by one thread at a time; different ones are independent.
 * Ownership: lab_nl_open returns a socket the caller closes with
 * lab_nl_close; lab_tap_open returns a descriptor the caller closes.
 * Errors: 0 (or a count, index or descriptor) or a negative errno: -EEXIST (a
 * namespace or device by that name exists), -ENOENT (no such namespace),
 * -ENODEV (no such device), -EINVAL (a bad name), -EPERM (needs root /
 * CAP_SYS_ADMIN and CAP_NET_ADMIN), or what the kernel said; after a netlink
 * failure lab_nl_ext_err() gives the kernel's own explanation when it sent one.
 */
#ifndef IOVPATH_LAB_NET_H
#define IOVPATH_LAB_NET_H

#include <stdbool.h>
#include <stdint.h>

#define LAB_NETNS_DIR "/var/run/netns" /* iproute2's NETNS_RUN_DIR (/run/netns) */

/* ---- named network namespaces ---- */

/* Make the namespace @name (lo down, nothing else in it). -EEXIST if taken. */
int lab_netns_add(const char *name);
/* Remove the name (unmount + unlink). -ENOENT if there is none. */
int lab_netns_del(const char *name);
bool lab_netns_exists(const char *name);
/* A descriptor of namespace @name (O_RDONLY|O_CLOEXEC), or -errno. */
int lab_netns_open(const char *name);
/* Run @fn(@arg) on a new thread inside namespace @name (NULL or "": the
 * caller's); returns what @fn returned, or -errno when the thread could not
 * be made or enter the namespace. */
int lab_netns_run(const char *name, int (*fn)(void *arg), void *arg);
/* Call @fn(name, @arg) for each namespace in LAB_NETNS_DIR whose name starts
 * with @prefix; stops at (and returns) the first non-zero return, else 0.
 * The names are read first, so @fn may remove them. */
int lab_netns_foreach(const char *prefix, int (*fn)(const char *name, void *arg), void *arg);

/* ---- rtnetlink ---- */

struct lab_nl;

/* A route netlink socket in namespace @netns (NULL: the caller's). NULL and
 * errno on failure. */
struct lab_nl *lab_nl_open(const char *netns);
void lab_nl_close(struct lab_nl *nl);
/* The kernel's extended-ack message for the last failed request ("" if none). */
const char *lab_nl_ext_err(const struct lab_nl *nl);

/* The ifindex of @name (> 0), or -ENODEV. */
int lab_nl_ifindex(struct lab_nl *nl, const char *name);
/* The ifindex of @name's bridge (IFLA_MASTER), 0 without one, or -errno. */
int lab_nl_master(struct lab_nl *nl, const char *name);
/* A veth pair: @name in @netns (with MAC @mac unless NULL) and @peer in
 * @peer_netns, created there directly (neither end ever appears in the
 * socket's namespace unless a netns is NULL). Both ends down. */
int lab_nl_veth_add(struct lab_nl *nl, const char *name, const char *netns, const uint8_t *mac,
                    const char *peer, const char *peer_netns);
/* A Linux bridge (STP off: ports forward as soon as they are up). */
int lab_nl_bridge_add(struct lab_nl *nl, const char *name);
/* An 802.1Q device @name on @parent for VLAN @vid (1..4094). */
int lab_nl_vlan_add(struct lab_nl *nl, const char *name, const char *parent, uint16_t vid);
int lab_nl_link_del(struct lab_nl *nl, const char *name);
int lab_nl_link_up(struct lab_nl *nl, const char *name);
/* Enslave @name to bridge @master. */
int lab_nl_link_set_master(struct lab_nl *nl, const char *name, const char *master);
/* Move @name into namespace @netns. */
int lab_nl_link_set_netns(struct lab_nl *nl, const char *name, const char *netns);
int lab_nl_link_set_mac(struct lab_nl *nl, const char *name, const uint8_t mac[6]);
/* Add IPv4 address @ip/@plen (host byte order) to @name, with its broadcast. */
int lab_nl_addr_add(struct lab_nl *nl, const char *name, uint32_t ip, uint8_t plen);
/* Call @fn(name, @arg) for each link in the socket's namespace whose name
 * starts with @prefix; the names are read first, so @fn may use @nl. Stops at
 * (and returns) the first non-zero return; else 0, or -errno. */
int lab_nl_link_foreach(struct lab_nl *nl, const char *prefix,
                        int (*fn)(const char *name, void *arg), void *arg);

/* ---- TAP ---- */

/* Open (creating if needed) TAP device @name in namespace @netns with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (a struct virtio_net_hdr before each
 * frame). With @persist the device outlives the descriptor (TUNSETPERSIST),
 * so a lab can make it and a daemon attach to it later; remove it with
 * lab_nl_link_del. Returns a non-blocking descriptor or -errno. */
int lab_tap_open(const char *netns, const char *name, bool persist);

#endif
