/* lab — build and remove a lab; see lab.h. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/lab.h"
#include "lab/lab_net.h"

#define STATE_VERSION 1
#define HOST_PORT_IF  "phys0" /* the host's end of a veth physical port */
#define EXT_IF        "eth0"  /* an external host's interface */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "message: strerror(-rc)" into @err; returns @rc. */
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!errlen)
		return rc;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, ": %s%s", strerror(-rc),
		         rc == -EPERM ? " (needs root)" : "");
	return rc;
}

/* A netlink failure, with the kernel's extended-ack text when there is one. */
static int nl_fail(char *err, size_t errlen, struct lab_nl *nl, int rc, const char *what,
                   const char *name, const char *netns)
{
	const char *ext = nl ? lab_nl_ext_err(nl) : "";

	return fail(err, errlen, rc, "%s %s in %s%s%s%s", what, name, netns,
	            *ext ? " (kernel: " : "", ext, *ext ? ")" : "");
}

/* ---- the state file ---- */

struct state {
	const char *path;
	json_t *root, *netns, *links;
};

static int state_save(const struct state *st, char *err, size_t errlen)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", st->path) >= (int)sizeof(tmp))
		return fail(err, errlen, -ENAMETOOLONG, "state file %s", st->path);
	if (json_dump_file(st->root, tmp, JSON_INDENT(2)) != 0)
		return fail(err, errlen, errno ? -errno : -EIO, "cannot write state file %s", tmp);
	if (rename(tmp, st->path)) {
		int rc = -errno;

		unlink(tmp);
		return fail(err, errlen, rc, "cannot write state file %s", st->path);
	}
	return 0;
}

/* Record that namespace @ns is about to be made. */
static int state_add_netns(struct state *st, const char *ns, char *err, size_t errlen)
{
	json_array_append_new(st->netns, json_string(ns));
	return state_save(st, err, errlen);
}

/* Record that device @name in namespace @ns is about to be made. */
static int state_add_link(struct state *st, const char *ns, const char *name, char *err,
                          size_t errlen)
{
	json_array_append_new(st->links, json_pack("{s:s, s:s}", "netns", ns, "name", name));
	return state_save(st, err, errlen);
}

/* Whether @s is a name of ours: a string starting with LAB_PREFIX. */
static const char *our_name(const json_t *s)
{
	const char *v = json_string_value(s);

	return v && strncmp(v, LAB_PREFIX, strlen(LAB_PREFIX)) == 0 && !strchr(v, '/') ? v : NULL;
}

/* Remove the devices, then the namespaces @st lists, newest first; gone ones
 * are skipped. Adds what it removed to *@removed; returns the first error. */
static int state_remove_all(const struct state *st, int *removed, char *err, size_t errlen)
{
	int first = 0;

	for (size_t i = json_array_size(st->links); i-- > 0;) {
		const json_t *l = json_array_get(st->links, i);
		const char *ns = our_name(json_object_get(l, "netns"));
		const char *name = json_string_value(json_object_get(l, "name"));
		struct lab_nl *nl;
		int rc;

		if (!ns || !name || !lab_netns_exists(ns))
			continue; /* not ours, or gone with its namespace */
		nl = lab_nl_open(ns);
		rc = nl ? lab_nl_link_del(nl, name) : -errno;
		if (rc == 0)
			(*removed)++;
		else if (rc != -ENODEV && rc != -ENOENT && !first)
			first = nl_fail(err, errlen, nl, rc, "cannot remove device", name, ns);
		lab_nl_close(nl);
	}
	for (size_t i = json_array_size(st->netns); i-- > 0;) {
		const char *ns = our_name(json_array_get(st->netns, i));
		int rc = ns ? lab_netns_del(ns) : -ENOENT;

		if (rc == 0)
			(*removed)++;
		else if (rc != -ENOENT && !first)
			first = fail(err, errlen, rc, "cannot remove namespace %s", ns);
	}
	return first;
}

/* ---- lab up ---- */

struct up {
	const struct lab_conf *c;
	struct state st;
	struct lab_nl *root; /* in the caller's namespace: makes veth pairs */
	struct lab_nl *net;  /* in the physical network's namespace */
	char net_ns[LAB_NETNS_MAX];
	char *err;
	size_t errlen;
};

/* Make namespace @ns with lo up; *@nl_out (unless NULL) receives a socket in it. */
static int up_netns(struct up *u, const char *ns, struct lab_nl **nl_out)
{
	struct lab_nl *nl;
	int rc = state_add_netns(&u->st, ns, u->err, u->errlen);

	if (rc)
		return rc;
	rc = lab_netns_add(ns);
	if (rc) {
		if (rc == -EEXIST) /* not ours: keep it off the list */
			json_array_remove(u->st.netns, json_array_size(u->st.netns) - 1);
		return fail(u->err, u->errlen, rc, "cannot make namespace %s", ns);
	}
	nl = lab_nl_open(ns);
	if (!nl)
		return fail(u->err, u->errlen, -errno, "netlink socket in %s", ns);
	rc = lab_nl_link_up(nl, "lo");
	if (rc) {
		rc = nl_fail(u->err, u->errlen, nl, rc, "cannot set up", "lo", ns);
		lab_nl_close(nl);
		return rc;
	}
	if (nl_out)
		*nl_out = nl;
	else
		lab_nl_close(nl);
	return 0;
}

/* A veth pair: @name in namespace @ns (socket @nl) and @port on the bridge,
 * both up. */
static int up_veth_port(struct up *u, struct lab_nl *nl, const char *ns, const char *name,
                        const uint8_t *mac, const char *port)
{
	int rc = state_add_link(&u->st, u->net_ns, port, u->err, u->errlen);

	if (rc)
		return rc;
	rc = lab_nl_veth_add(u->root, name, ns, mac, port, u->net_ns);
	if (rc)
		return nl_fail(u->err, u->errlen, u->root, rc, "cannot make veth", port, u->net_ns);
	rc = lab_nl_link_set_master(u->net, port, u->c->network);
	if (!rc)
		rc = lab_nl_link_up(u->net, port);
	if (rc)
		return nl_fail(u->err, u->errlen, u->net, rc, "cannot bridge", port, u->net_ns);
	rc = lab_nl_link_up(nl, name);
	return rc ? nl_fail(u->err, u->errlen, nl, rc, "cannot set up", name, ns) : 0;
}

/* A persistent TAP @port on the bridge, up; the host daemon attaches later. */
static int up_tap_port(struct up *u, const char *port)
{
	int rc = state_add_link(&u->st, u->net_ns, port, u->err, u->errlen), fd;

	if (rc)
		return rc;
	fd = lab_tap_open(u->net_ns, port, true);
	if (fd < 0)
		return fail(u->err, u->errlen, fd, "cannot make TAP %s in %s", port, u->net_ns);
	close(fd);
	rc = lab_nl_link_set_master(u->net, port, u->c->network);
	if (!rc)
		rc = lab_nl_link_up(u->net, port);
	return rc ? nl_fail(u->err, u->errlen, u->net, rc, "cannot bridge", port, u->net_ns) : 0;
}

static int up_host(struct up *u, const struct lab_host *h, json_t *desc)
{
	char ns[LAB_NETNS_MAX], spec[128];
	struct lab_nl *nl = NULL;
	int rc;

	lab_conf_netns(u->c, h->name, ns, sizeof(ns));
	rc = up_netns(u, ns, &nl);
	if (!rc && h->port == LAB_PORT_VETH) {
		rc = up_veth_port(u, nl, ns, HOST_PORT_IF, NULL, h->name);
		snprintf(spec, sizeof(spec), "afpacket:%s,netns=%s", HOST_PORT_IF, ns);
	} else if (!rc) {
		rc = up_tap_port(u, h->name);
		snprintf(spec, sizeof(spec), "tap:%s,netns=%s", h->name, u->net_ns);
	}
	lab_nl_close(nl);
	if (!rc)
		json_array_append_new(desc, json_pack("{s:s, s:s, s:i, s:s, s:s}", "name", h->name,
		                                      "netns", ns, "vfs", (json_int_t)h->vfs,
		                                      "port", spec, "cpus", h->cpus));
	return rc;
}

static int up_vm(struct up *u, const struct lab_vm *vm, json_t *desc)
{
	char ns[LAB_NETNS_MAX], ip[24], mac[20];
	int rc;

	lab_conf_netns(u->c, vm->netns, ns, sizeof(ns));
	rc = up_netns(u, ns, NULL);
	if (rc)
		return rc;
	lab_conf_fmt_ip(vm->ip, vm->plen, ip, sizeof(ip));
	lab_conf_fmt_mac(vm->mac, mac, sizeof(mac));
	json_array_append_new(desc, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "name", vm->name,
	                                      "host", u->c->hosts[vm->host].name, "netns", ns,
	                                      "mac", mac, "ip", ip, "vlan", (json_int_t)vm->vlan));
	return 0;
}

static int up_external(struct up *u, const struct lab_ext *x, json_t *desc)
{
	char ns[LAB_NETNS_MAX], ip[24], ifname[IFNAMSIZ];
	struct lab_nl *nl = NULL;
	int rc;

	lab_conf_netns(u->c, x->name, ns, sizeof(ns));
	lab_conf_fmt_ip(x->ip, x->plen, ip, sizeof(ip));
	rc = up_netns(u, ns, &nl);
	if (!rc)
		rc = up_veth_port(u, nl, ns, EXT_IF, x->has_mac ? x->mac : NULL, x->name);
	snprintf(ifname, sizeof(ifname), EXT_IF);
	if (!rc && x->vlan) {
		snprintf(ifname, sizeof(ifname), "%s.%u", EXT_IF, x->vlan);
		rc = lab_nl_vlan_add(nl, ifname, EXT_IF, x->vlan);
		if (!rc)
			rc = lab_nl_link_up(nl, ifname);
		if (rc == -EOPNOTSUPP)
			rc = fail(
			    u->err, u->errlen, rc,
			    "external %s: VLAN %u needs 802.1Q VLAN devices, which this kernel "
			    "lacks (CONFIG_VLAN_8021Q; try `modprobe 8021q`)",
			    x->name, x->vlan);
		else if (rc)
			rc = nl_fail(u->err, u->errlen, nl, rc, "cannot make VLAN device", ifname,
			             ns);
	}
	if (!rc) {
		rc = lab_nl_addr_add(nl, ifname, x->ip, x->plen);
		if (rc)
			rc =
			    nl_fail(u->err, u->errlen, nl, rc, "cannot add address to", ifname, ns);
	}
	lab_nl_close(nl);
	if (!rc)
		json_array_append_new(desc,
		                      json_pack("{s:s, s:s, s:s, s:i}", "name", x->name, "netns",
		                                ns, "ip", ip, "vlan", (json_int_t)x->vlan));
	return rc;
}

/* Everything, in order: network, hosts, VMs, external hosts. */
static int up_build(struct up *u)
{
	const struct lab_conf *c = u->c;
	json_t *hosts = json_array(), *vms = json_array(), *exts = json_array();
	int rc;

	json_object_set_new(u->st.root, "hosts", hosts);
	json_object_set_new(u->st.root, "vms", vms);
	json_object_set_new(u->st.root, "externals", exts);
	u->root = lab_nl_open(NULL);
	if (!u->root)
		return fail(u->err, u->errlen, -errno, "netlink socket");
	rc = up_netns(u, u->net_ns, &u->net);
	if (rc)
		return rc;
	rc = state_add_link(&u->st, u->net_ns, c->network, u->err, u->errlen);
	if (rc)
		return rc;
	rc = lab_nl_bridge_add(u->net, c->network);
	if (!rc)
		rc = lab_nl_link_up(u->net, c->network);
	if (rc)
		return nl_fail(u->err, u->errlen, u->net, rc, "cannot make bridge", c->network,
		               u->net_ns);
	for (uint32_t i = 0; i < c->nhosts && !rc; i++)
		rc = up_host(u, &c->hosts[i], hosts);
	for (uint32_t i = 0; i < c->nvms && !rc; i++)
		rc = up_vm(u, &c->vms[i], vms);
	for (uint32_t i = 0; i < c->nexts && !rc; i++)
		rc = up_external(u, &c->exts[i], exts);
	return rc;
}

/* -EEXIST when namespace @name of @c is taken already. */
static int up_check_free(const struct lab_conf *c, const char *name, char *err, size_t errlen)
{
	char ns[LAB_NETNS_MAX];

	lab_conf_netns(c, name, ns, sizeof(ns));
	if (!lab_netns_exists(ns))
		return 0;
	return fail(err, errlen, -EEXIST,
	            "namespace %s exists: a lab with the same names is up (`iovpath lab down`, "
	            "or `lab down --force` after a crash; or give this one a `lab NAME` line)",
	            ns);
}

/* -EEXIST when one of the namespaces @c names is taken already. */
static int up_check_all_free(const struct lab_conf *c, char *err, size_t errlen)
{
	int rc = up_check_free(c, c->network, err, errlen);

	for (uint32_t i = 0; i < c->nhosts && !rc; i++)
		rc = up_check_free(c, c->hosts[i].name, err, errlen);
	for (uint32_t i = 0; i < c->nvms && !rc; i++)
		rc = up_check_free(c, c->vms[i].netns, err, errlen);
	for (uint32_t i = 0; i < c->nexts && !rc; i++)
		rc = up_check_free(c, c->exts[i].name, err, errlen);
	return rc;
}

int lab_up(const struct lab_conf *c, const char *state_file, char *err, size_t errlen)
{
	struct up u = { .c = c, .st = { .path = state_file }, .err = err, .errlen = errlen };
	char prefix[LAB_NETNS_MAX];
	int rc, removed = 0;

	if (errlen)
		err[0] = '\0';
	if (access(state_file, F_OK) == 0)
		return fail(err, errlen, -EEXIST,
		            "a lab is already up (state file %s; `iovpath lab down` first)",
		            state_file);
	rc = up_check_all_free(c, err, errlen);
	if (rc)
		return rc;
	lab_conf_prefix(c, prefix, sizeof(prefix));
	lab_conf_netns(c, c->network, u.net_ns, sizeof(u.net_ns));
	u.st.netns = json_array();
	u.st.links = json_array();
	u.st.root =
	    json_pack("{s:i, s:s, s:s, s:b, s:o, s:o}", "version", STATE_VERSION, "lab", c->lab,
	              "prefix", prefix, "complete", 0, "netns", u.st.netns, "links", u.st.links);
	if (!u.st.root)
		return fail(err, errlen, -ENOMEM, "state");
	rc = state_save(&u.st, err, errlen);
	if (!rc)
		rc = up_build(&u);
	if (!rc) {
		json_object_set_new(u.st.root, "complete", json_true());
		rc = state_save(&u.st, err, errlen);
	}
	lab_nl_close(u.net);
	lab_nl_close(u.root);
	if (rc) {
		/* Unwind; the first error is the one to report. */
		char ignored[256];

		if (state_remove_all(&u.st, &removed, ignored, sizeof(ignored)) == 0)
			unlink(state_file);
	}
	json_decref(u.st.root);
	return rc;
}

/* ---- lab down, sweep ---- */

struct sweep {
	bool dry_run;
	int count, first;
	struct lab_nl *nl;
	char *err;
	size_t errlen;
};

static int sweep_netns(const char *name, void *arg)
{
	struct sweep *s = arg;
	int rc = s->dry_run ? 0 : lab_netns_del(name);

	if (rc == 0)
		s->count++;
	else if (rc != -ENOENT && !s->first)
		s->first = fail(s->err, s->errlen, rc, "cannot remove namespace %s", name);
	return 0;
}

static int sweep_link(const char *name, void *arg)
{
	struct sweep *s = arg;
	int rc = s->dry_run ? 0 : lab_nl_link_del(s->nl, name);

	if (rc == 0)
		s->count++;
	else if (rc != -ENODEV && !s->first)
		s->first = nl_fail(s->err, s->errlen, s->nl, rc, "cannot remove device", name,
		                   "this namespace");
	return 0;
}

int lab_sweep(const char *prefix, bool dry_run, char *err, size_t errlen)
{
	struct sweep s = { .dry_run = dry_run, .err = err, .errlen = errlen };
	int rc;

	if (errlen)
		err[0] = '\0';
	if (strncmp(prefix, LAB_PREFIX, strlen(LAB_PREFIX)) != 0)
		return fail(err, errlen, -EINVAL, "sweep prefix '%s' does not start with %s",
		            prefix, LAB_PREFIX);
	rc = lab_netns_foreach(prefix, sweep_netns, &s);
	if (rc)
		return fail(err, errlen, rc, "cannot list %s", LAB_NETNS_DIR);
	s.nl = lab_nl_open(NULL);
	if (!s.nl)
		return fail(err, errlen, -errno, "netlink socket");
	rc = lab_nl_link_foreach(s.nl, prefix, sweep_link, &s);
	lab_nl_close(s.nl);
	if (rc)
		return fail(err, errlen, rc, "cannot list devices");
	return s.first ? s.first : s.count;
}

int lab_down(const char *state_file, bool force, char *err, size_t errlen)
{
	struct state st = { .path = state_file };
	json_error_t je;
	const char *prefix = LAB_PREFIX;
	int removed = 0, rc = 0;

	if (errlen)
		err[0] = '\0';
	st.root = json_load_file(state_file, 0, &je);
	if (!st.root && access(state_file, F_OK) != 0) {
		if (!force)
			return 0; /* nothing is up, or the state was lost: --force sweeps */
	} else if (!st.root) {
		if (!force)
			return fail(err, errlen, -EINVAL,
			            "state file %s is unreadable (%s, line %d); `iovpath lab down "
			            "--force` removes every leftover named %s*",
			            state_file, je.text, je.line, LAB_PREFIX);
	} else {
		json_t *p = json_object_get(st.root, "prefix");

		st.netns = json_object_get(st.root, "netns");
		st.links = json_object_get(st.root, "links");
		if (json_integer_value(json_object_get(st.root, "version")) != STATE_VERSION ||
		    !our_name(p) || !json_is_array(st.netns) || !json_is_array(st.links)) {
			json_decref(st.root);
			return fail(err, errlen, -EINVAL, "%s is not an iovpath lab state file",
			            state_file);
		}
		rc = state_remove_all(&st, &removed, err, errlen);
		prefix = json_string_value(p);
	}
	if (!rc && force) {
		rc = lab_sweep(prefix, false, err, errlen);
		removed += rc > 0 ? rc : 0;
	}
	json_decref(st.root);
	if (rc < 0)
		return rc;
	if (unlink(state_file) && errno != ENOENT)
		return fail(err, errlen, -errno, "cannot remove state file %s", state_file);
	return removed;
}
