/* lab — `iovpath lab up FILE` / `iovpath lab down [--force]`: build the lab a
 * config file describes (lab_conf.h) out of network namespaces, and take it
 * down again, also after a crash.
 *
 * What lab_up makes (P is the lab's prefix, "iovp-" or "iovp-LAB-"):
 *
 *     namespace P<network>: the physical network
 *     ┌───────────────────── bridge <network> ─────────────────────┐
 *     │ port <host> (veth)   port <host> (TAP)   port <ext> (veth)  │
 *     └────┬───────────────────────┬─────────────────────┬─────────┘
 *          │ veth                  │ opened later by     │ veth
 *     P<host>: phys0              the host daemon     P<ext>: eth0 [eth0.V]
 *     (the daemon's physical      (tap:<host>,         198.18.x.y/P
 *      port: afpacket:phys0,       netns=P<network>)
 *      netns=P<host>)
 *     P<vm netns>: one per VM, only lo: the guest OS, where the VM process
 *     puts its TAP (its one adapter) later.
 *
 * Every namespace has lo up. Every namespace the lab makes is named P…, and
 * it makes devices only inside those namespaces, never in the caller's own
 * (a veth pair is created with both ends already in place). So a sweep by
 * prefix (lab_sweep: namespaces, plus devices in the caller's namespace in
 * case a future step ever leaves one there) finds every leftover without
 * touching anything else.
 *
 * The state file (JSON) records each namespace and device BEFORE it is made
 * (written to FILE.tmp, then renamed: never half-written), so after a crash at
 * any point lab_down removes everything the crashed lab_up may have made;
 * objects already gone are skipped, which makes lab_down idempotent. Besides
 * the objects it lists, for the daemons and the CLI: each host's namespace,
 * VF count and physical-port spec (port_open() syntax), each VM's namespace,
 * MAC, address and VLAN, each external host's namespace and address.
 *   { "version": 1, "lab": "", "prefix": "iovp-", "complete": true,
 *     "netns": [ "iovp-net", … ], "links": [ { "netns": "iovp-net", "name": "h1" }, … ],
 *     "hosts": [ { "name": "h1", "netns": "iovp-h1", "vfs": 4,
 *                  "port": "afpacket:phys0,netns=iovp-h1" } ],
 *     "vms": [ { "name": "vm1", "host": "h1", "netns": "iovp-vm1",
 *                "mac": "02:00:00:00:01:01", "ip": "198.18.0.11/24", "vlan": 0 } ],
 *     "externals": [ { "name": "ext1", "netns": "iovp-ext1", "ip": "198.18.0.100/24",
 *                      "vlan": 0 } ] }
 *
 * Why netlink (libmnl) and not iproute2: a lab of 64 VMs is hundreds of
 * objects, and one netlink request each costs microseconds where a fork/exec
 * of `ip` costs milliseconds; errors come back as an errno plus the kernel's
 * own extended-ack text for the exact object, instead of stderr text to
 * parse whose wording changes between iproute2 versions; a veth pair can be
 * created with both ends directly in their namespaces (IFLA_NET_NS_FD), so no
 * device of ours ever appears in the machine's own namespace, even for an
 * instant before a crash; and the daemons reuse the same calls (a VM process
 * makes its TAP in its guest namespace and sets its MAC and address) without
 * needing a shell or the `ip` binary. The namespaces are made exactly as
 * `ip netns add` makes them, so `ip netns exec` still works for debugging.
 *
 * Requirements: root (CAP_SYS_ADMIN for namespaces and mounts, CAP_NET_ADMIN).
 * Processes still running in a namespace keep it (and its devices) alive after
 * lab_down has removed its name: stop the daemons and VMs first.
 *
 * Thread-safety: lab_up/lab_down/lab_sweep may run on any thread; two calls on
 * the same state file or the same names must not overlap.
 * Errors: 0 (or a count) or a negative errno, with a message in @err saying
 * what failed and what to do: -EEXIST (a lab is already up: its state file or
 * its names exist), -ENOENT, -EINVAL (a bad or foreign state file), -EPERM
 * (needs root), or the errno of the failing kernel call.
 */
#ifndef IOVPATH_LAB_H
#define IOVPATH_LAB_H

#include <stdbool.h>
#include <stddef.h>

#include "lab/lab_conf.h"

/* Build the lab @c describes, recording it in @state_file (which must not
 * exist). On failure everything made so far is removed again and the state
 * file too. Returns 0 or -errno. */
int lab_up(const struct lab_conf *c, const char *state_file, char *err, size_t errlen);

/* Remove everything @state_file lists (newest first), then the file. Objects
 * already gone are skipped. With @force, also sweep leftovers: everything
 * named with the state's prefix, or, without a state file, with LAB_PREFIX
 * (every lab's). Without @force and without a state file there is nothing to
 * do. Returns the number of namespaces and devices removed, or -errno (the
 * state file is kept when something could not be removed). */
int lab_down(const char *state_file, bool force, char *err, size_t errlen);

/* Remove (or with @dry_run only count) every namespace in LAB_NETNS_DIR and
 * every device in the caller's namespace whose name starts with @prefix, which
 * must itself start with LAB_PREFIX. Returns the count or -errno. */
int lab_sweep(const char *prefix, bool dry_run, char *err, size_t errlen);

#endif
