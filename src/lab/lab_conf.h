/* lab_conf — the lab's config file: what `iovpath lab up FILE` builds.
 *
 * A line-based text file. `#` starts a comment (to the end of the line);
 * blank lines are ignored; words are separated by spaces or tabs. One
 * declaration per line:
 *
 *   lab NAME                      optional, at most once: every namespace is
 *                                 named iovp-NAME-X instead of iovp-X, so two
 *                                 labs (or a lab and a test) can be up at once;
 *                                 no '-' in NAME (lab a's iovp-a- would also
 *                                 match lab a-b's names)
 *   network NAME                  the physical network, exactly once: a Linux
 *                                 bridge named NAME in its own namespace
 *   host NAME [port veth|tap] [cpus LIST]
 *                                 an emulated host (one iovpathd). Its namespace
 *                                 holds the host's end of its physical port:
 *                                   veth (default): a veth pair, "phys0" in the
 *                                     host's namespace, NAME on the bridge
 *                                   tap: a persistent TAP device NAME on the
 *                                     bridge, which the daemon opens itself
 *                                 cpus: the host's datapath CPUs (as taskset -c:
 *                                 1, 0-3, 1,3): its daemon and its VMs' adapter
 *                                 processes run there only (iovpathd --cpus,
 *                                 iovpath-vm --cpus); default: any CPU
 *   nic HOST vfs N                the host's SR-IOV NIC with N VFs (0..254); at
 *                                 most one per host; a host without one has no
 *                                 VFs (every VM stays on the synthetic path)
 *   vm NAME host HOST mac MAC ip A.B.C.D/P [vlan V] [netns NS]
 *                                 a VM network adapter on HOST; its guest OS is
 *                                 the namespace iovp-NS (NS defaults to NAME),
 *                                 where the VM process puts its TAP later
 *   external NAME ip A.B.C.D/P [vlan V] [mac MAC]
 *                                 an external test host: a namespace with a
 *                                 veth "eth0" on the bridge (with vlan V: the
 *                                 address goes on a VLAN device "eth0.V")
 *
 * Rules the parser enforces, each refusal naming FILE:LINE and the reason:
 *   - names: 1..15 characters of [A-Za-z0-9_-], starting with a letter or a
 *     digit ("lo", "sit0", "tunl0" and the other devices a new namespace may
 *     start with are reserved); unique across networks, hosts, VMs and
 *     external hosts; namespaces unique too (a VM's `netns` included)
 *   - a `nic` or `vm` names a host declared on an earlier line
 *   - MAC: six hex pairs with ':', unicast, not all zero; unique
 *   - IPv4: inside the benchmarking range 198.18.0.0/15 (RFC 2544), prefix
 *     length 15..30, neither the network nor the broadcast address of its
 *     subnet; unique
 *   - VLAN: 1..4094
 *   - at most LAB_MAX_VMS_PER_HOST VMs per host (the host switch's ports),
 *     LAB_MAX_HOSTS hosts, LAB_MAX_VMS VMs, LAB_MAX_EXTS external hosts
 *
 * Thread-safety: none needed: a parsed struct lab_conf is immutable and may be
 * read by any thread. Ownership: lab_conf_parse/lab_conf_load return a conf
 * the caller frees with lab_conf_free.
 * Errors: the constructors return NULL, set errno (EINVAL: a bad file, with
 * "FILE:LINE: what was wrong" in @err; ENOMEM; or the errno of reading the
 * file) and fill @err; other calls return 0 or a negative errno.
 */
#ifndef IOVPATH_LAB_CONF_H
#define IOVPATH_LAB_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LAB_PREFIX           "iovp-" /* every namespace and link the lab makes */
#define LAB_NAME_MAX         15u     /* an interface name: IFNAMSIZ - 1 */
#define LAB_CPUS_LEN         64u     /* a host's `cpus` list, with its NUL */
#define LAB_NETNS_MAX        (sizeof(LAB_PREFIX) + 2 * LAB_NAME_MAX + 1)
#define LAB_LINE_MAX         1024u
#define LAB_MAX_HOSTS        64u
#define LAB_MAX_VMS          1024u
#define LAB_MAX_EXTS         64u
#define LAB_MAX_VFS          254u        /* NIC_MAX_VFS */
#define LAB_MAX_VMS_PER_HOST 255u        /* a host switch port per VM, one for the physical port */
#define LAB_NET_BASE         0xc6120000u /* 198.18.0.0 */
#define LAB_NET_PLEN         15u

enum lab_port_kind { LAB_PORT_VETH, LAB_PORT_TAP };

struct lab_host {
	char name[LAB_NAME_MAX + 1];
	enum lab_port_kind port;
	char cpus[LAB_CPUS_LEN]; /* a CPU list (util_cpus_parse), or "": any */
	bool has_nic;
	uint32_t vfs;
	uint32_t nvms;
	unsigned int line; /* where it was declared */
};

struct lab_vm {
	char name[LAB_NAME_MAX + 1];
	char netns[LAB_NAME_MAX + 1]; /* without prefix; lab_conf_netns() gives the full name */
	uint32_t host;                /* index into lab_conf.hosts */
	uint8_t mac[6];
	uint32_t ip; /* host byte order */
	uint8_t plen;
	uint16_t vlan; /* 0: untagged */
	unsigned int line;
};

struct lab_ext {
	char name[LAB_NAME_MAX + 1];
	bool has_mac;
	uint8_t mac[6];
	uint32_t ip; /* host byte order */
	uint8_t plen;
	uint16_t vlan; /* 0: untagged */
	unsigned int line;
};

struct lab_conf {
	char lab[LAB_NAME_MAX + 1]; /* "" without a `lab` line */
	char network[LAB_NAME_MAX + 1];
	unsigned int network_line;
	struct lab_host *hosts;
	struct lab_vm *vms;
	struct lab_ext *exts;
	uint32_t nhosts, nvms, nexts;
};

/* Parse @len bytes of @text; @fname names the text in error messages. */
struct lab_conf *lab_conf_parse(const char *text, size_t len, const char *fname, char *err,
                                size_t errlen);
/* Read and parse the file @path. */
struct lab_conf *lab_conf_load(const char *path, char *err, size_t errlen);
void lab_conf_free(struct lab_conf *c);

/* The prefix of every name this lab makes: "iovp-" or "iovp-LAB-". Returns
 * 0 or -ENAMETOOLONG. */
int lab_conf_prefix(const struct lab_conf *c, char *buf, size_t len);
/* The namespace of object @name (a network, host, external host, or a VM's
 * netns): prefix + @name. Returns 0 or -ENAMETOOLONG. */
int lab_conf_netns(const struct lab_conf *c, const char *name, char *buf, size_t len);

/* Write @c back as a config file (canonical order: lab, network, hosts with
 * their NICs, VMs, external hosts). Parsing the output gives the same conf.
 * Returns 0 or -EIO. */
int lab_conf_write(const struct lab_conf *c, FILE *f);

/* "198.18.0.11/24" into @buf (at least 19 bytes). */
void lab_conf_fmt_ip(uint32_t ip, uint8_t plen, char *buf, size_t len);
/* "02:00:00:00:00:01" into @buf (at least 18 bytes). */
void lab_conf_fmt_mac(const uint8_t mac[6], char *buf, size_t len);

#endif
