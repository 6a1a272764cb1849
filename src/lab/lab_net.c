/* lab_net — namespaces, links and addresses over rtnetlink (libmnl); see lab_net.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <linux/virtio_net.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lab/lab_net.h"

#define NL_BUF_SIZE  32768u /* a whole dump datagram (MNL_SOCKET_DUMP_SIZE) */
#define NL_TIMEOUT_S 10     /* for one answer from the kernel */

struct lab_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char ext_err[160];
	char buf[NL_BUF_SIZE];
};

/* ---- namespaces ---- */

static int netns_path(const char *name, char *path, size_t len)
{
	int n;

	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EINVAL;
	n = snprintf(path, len, "%s/%s", LAB_NETNS_DIR, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

struct ns_thread {
	int (*fn)(void *arg);
	void *arg;
	int nsfd; /* -1: stay */
	int rc;
};

static void *ns_thread_main(void *p)
{
	struct ns_thread *t = p;

	if (t->nsfd >= 0 && setns(t->nsfd, CLONE_NEWNET)) {
		t->rc = -errno;
		return NULL;
	}
	t->rc = t->fn(t->arg);
	return NULL;
}

/* Run @fn on a thread of its own, first entering namespace @nsfd (-1: stay). */
static int run_on_thread(int nsfd, int (*fn)(void *arg), void *arg)
{
	struct ns_thread t = { .fn = fn, .arg = arg, .nsfd = nsfd, .rc = -EINTR };
	pthread_t th;
	int rc = pthread_create(&th, NULL, ns_thread_main, &t);

	if (rc)
		return -rc;
	pthread_join(th, NULL);
	return t.rc;
}

int lab_netns_open(const char *name)
{
	char path[512];
	int rc = netns_path(name, path, sizeof(path)), fd;

	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int lab_netns_run(const char *name, int (*fn)(void *arg), void *arg)
{
	int fd = -1, rc;

	if (name && *name) {
		fd = lab_netns_open(name);
		if (fd < 0)
			return fd;
	}
	rc = run_on_thread(fd, fn, arg);
	if (fd >= 0)
		close(fd);
	return rc;
}

bool lab_netns_exists(const char *name)
{
	char path[512];

	return netns_path(name, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

/* Make LAB_NETNS_DIR a shared mount point, as iproute2 does. */
static int netns_dir_prepare(void)
{
	bool bound = false;

	if (mkdir(LAB_NETNS_DIR, 0755) && errno != EEXIST)
		return -errno;
	while (mount("", LAB_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL)) {
		if (errno != EINVAL || bound)
			return -errno;
		/* Not a mount point yet: bind it onto itself, then share it. */
		if (mount(LAB_NETNS_DIR, LAB_NETNS_DIR, "none", MS_BIND | MS_REC, NULL))
			return -errno;
		bound = true;
	}
	return 0;
}

/* On its own thread: a new namespace, bind-mounted on the path @arg. */
static int netns_create(void *arg)
{
	if (unshare(CLONE_NEWNET))
		return -errno;
	if (mount("/proc/thread-self/ns/net", arg, "none", MS_BIND, NULL))
		return -errno;
	return 0;
}

int lab_netns_add(const char *name)
{
	char path[512];
	int rc = netns_path(name, path, sizeof(path)), fd;

	if (rc)
		return rc;
	rc = netns_dir_prepare();
	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	rc = run_on_thread(-1, netns_create, path);
	if (rc)
		unlink(path);
	return rc;
}

int lab_netns_del(const char *name)
{
	char path[512];
	int rc = netns_path(name, path, sizeof(path));

	if (rc)
		return rc;
	/* EINVAL: not mounted (a crash between creating the file and the mount). */
	if (umount2(path, MNT_DETACH) && errno != EINVAL && errno != ENOENT)
		return -errno;
	return unlink(path) ? -errno : 0;
}

/* A list of names read before anything is done with them. */
struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *ns, const char *name)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		char **v = realloc(ns->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n] = strdup(name);
	if (!ns->v[ns->n])
		return -ENOMEM;
	ns->n++;
	return 0;
}

/* Call @fn for each name, then free the list. */
static int names_apply(struct names *ns, int rc, int (*fn)(const char *name, void *arg), void *arg)
{
	for (size_t i = 0; i < ns->n; i++) {
		if (!rc)
			rc = fn(ns->v[i], arg);
		free(ns->v[i]);
	}
	free(ns->v);
	return rc;
}

int lab_netns_foreach(const char *prefix, int (*fn)(const char *name, void *arg), void *arg)
{
	struct names ns = { 0 };
	DIR *d = opendir(LAB_NETNS_DIR);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!rc && (e = readdir(d)))
		if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			rc = names_add(&ns, e->d_name);
	closedir(d);
	return names_apply(&ns, rc, fn, arg);
}

/* ---- rtnetlink ---- */

static int nl_socket(void *arg)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	*(int *)arg = fd;
	return 0;
}

struct lab_nl *lab_nl_open(const char *netns)
{
	struct timeval tmo = { .tv_sec = NL_TIMEOUT_S };
	struct lab_nl *nl;
	int fd = -1, rc, one = 1;

	rc = lab_netns_run(netns, nl_socket, &fd);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	nl = calloc(1, sizeof(*nl));
	if (!nl) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	nl->sock = mnl_socket_fdopen(fd);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = errno;
		if (nl->sock)
			mnl_socket_close(nl->sock);
		else
			close(fd);
		free(nl);
		errno = rc;
		return NULL;
	}
	/* Best effort: the kernel's reason with each error, without an echo of the request. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	/* The kernel always answers; a bug must not hang the caller forever. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)getpid() << 8;
	return nl;
}

void lab_nl_close(struct lab_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

const char *lab_nl_ext_err(const struct lab_nl *nl)
{
	return nl->ext_err;
}

/* One request/answer exchange: its data callback and argument. */
struct talk {
	struct lab_nl *nl;
	mnl_cb_t cb;
	void *arg;
};

static int talk_data(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;

	return t->cb ? t->cb(nlh, t->arg) : MNL_CB_OK;
}

static int ext_attr(const struct nlattr *a, void *data)
{
	struct lab_nl *nl = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(nl->ext_err, sizeof(nl->ext_err), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int talk_error(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error == 0)
		return MNL_CB_STOP; /* the ACK */
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(e->msg);
		if (off < mnl_nlmsg_get_payload_len(nlh))
			mnl_attr_parse_payload((const char *)e + off,
			                       mnl_nlmsg_get_payload_len(nlh) - off, ext_attr,
			                       t->nl);
	}
	errno = -e->error;
	return MNL_CB_ERROR;
}

static int talk_done(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_STOP;
}

/* Send the request in nl->buf; feed the answers to @cb until the ACK, the end
 * of a dump, or an error. Returns 0 or -errno. */
static int nl_talk(struct lab_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	/* libmnl takes it non-const; nothing writes it. */
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = talk_error, [NLMSG_DONE] = talk_done
	};
	struct talk t = { nl, cb, arg };
	uint32_t seq = ++nl->seq;
	int rc;

	nl->ext_err[0] = '\0';
	nlh->nlmsg_seq = seq;
	/* Not by the flags alone: NLM_F_DUMP's bits mean REPLACE|EXCL in a NEW request. */
	if (!(nlh->nlmsg_type == RTM_GETLINK && (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP))
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		rc = mnl_cb_run2(nl->buf, (size_t)n, seq, nl->portid, talk_data, &t, ctl,
		                 NLMSG_MIN_TYPE);
	} while (rc > MNL_CB_STOP);
	return rc < 0 ? -(errno ? errno : EPROTO) : 0;
}

/* A fresh request of @type with @flags and an ifinfomsg for link @index. */
static struct nlmsghdr *link_msg(struct lab_nl *nl, uint16_t type, uint16_t flags, int index)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = index;
	return nlh;
}

static bool ifname_ok(const char *name)
{
	return name && *name && strlen(name) < IFNAMSIZ && !strchr(name, '/');
}

/* A link request naming the device @name. */
static struct nlmsghdr *named_msg(struct lab_nl *nl, uint16_t type, uint16_t flags,
                                  const char *name)
{
	struct nlmsghdr *nlh = link_msg(nl, type, flags, 0);

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nlh;
}

struct link_info {
	int index;
	int master;
};

static int link_info_attr(const struct nlattr *a, void *data)
{
	struct link_info *li = data;

	if (mnl_attr_get_type(a) == IFLA_MASTER && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		li->master = (int)mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int link_info_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct link_info *li = data;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm))
		return MNL_CB_OK;
	li->index = ifm->ifi_index;
	return mnl_attr_parse(nlh, sizeof(*ifm), link_info_attr, li);
}

static int link_get(struct lab_nl *nl, const char *name, struct link_info *li)
{
	int rc;

	if (!ifname_ok(name))
		return -EINVAL;
	*li = (struct link_info){ 0 };
	rc = nl_talk(nl, named_msg(nl, RTM_GETLINK, 0, name), link_info_cb, li);
	if (rc)
		return rc;
	return li->index > 0 ? 0 : -ENODEV;
}

int lab_nl_ifindex(struct lab_nl *nl, const char *name)
{
	struct link_info li;
	int rc = link_get(nl, name, &li);

	return rc ? rc : li.index;
}

int lab_nl_master(struct lab_nl *nl, const char *name)
{
	struct link_info li;
	int rc = link_get(nl, name, &li);

	return rc ? rc : li.master;
}

/* IFLA_NET_NS_FD for @netns into @nlh; *@fd keeps the descriptor open until sent. */
static int put_netns(struct nlmsghdr *nlh, const char *netns, int *fd)
{
	*fd = -1;
	if (!netns)
		return 0;
	*fd = lab_netns_open(netns);
	if (*fd < 0)
		return *fd;
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)*fd);
	return 0;
}

int lab_nl_veth_add(struct lab_nl *nl, const char *name, const char *netns, const uint8_t *mac,
                    const char *peer, const char *peer_netns)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data, *pnest;
	struct ifinfomsg *pifm;
	int fd = -1, pfd = -1, rc;

	if (!ifname_ok(name) || !ifname_ok(peer))
		return -EINVAL;
	nlh = named_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, name);
	rc = put_netns(nlh, netns, &fd);
	if (rc)
		return rc;
	if (mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	pnest = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* The peer's attributes follow an ifinfomsg of its own. */
	pifm = (struct ifinfomsg *)((char *)nlh + nlh->nlmsg_len);
	memset(pifm, 0, MNL_ALIGN(sizeof(*pifm)));
	pifm->ifi_family = AF_UNSPEC;
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*pifm));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	rc = put_netns(nlh, peer_netns, &pfd);
	if (!rc) {
		mnl_attr_nest_end(nlh, pnest);
		mnl_attr_nest_end(nlh, data);
		mnl_attr_nest_end(nlh, info);
		rc = nl_talk(nl, nlh, NULL, NULL);
	}
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	return rc;
}

/* A new device @name of @kind; @nlh_out receives the request to add to, with
 * IFLA_LINKINFO open and IFLA_INFO_KIND in it. */
static struct nlattr *kind_msg(struct lab_nl *nl, const char *name, const char *kind,
                               struct nlmsghdr **nlh_out)
{
	struct nlmsghdr *nlh = named_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, name);
	struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);

	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	*nlh_out = nlh;
	return info;
}

int lab_nl_bridge_add(struct lab_nl *nl, const char *name)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;

	if (!ifname_ok(name))
		return -EINVAL;
	info = kind_msg(nl, name, "bridge", &nlh);
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_talk(nl, nlh, NULL, NULL);
}

int lab_nl_vlan_add(struct lab_nl *nl, const char *name, const char *parent, uint16_t vid)
{
	struct nlmsghdr *nlh;
	struct nlattr *info, *data;
	int parent_idx;

	if (!ifname_ok(name) || vid < 1 || vid > 4094)
		return -EINVAL;
	parent_idx = lab_nl_ifindex(nl, parent);
	if (parent_idx < 0)
		return parent_idx;
	info = kind_msg(nl, name, "vlan", &nlh);
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u16(nlh, IFLA_VLAN_ID, vid);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	mnl_attr_put_u32(nlh, IFLA_LINK, (uint32_t)parent_idx);
	return nl_talk(nl, nlh, NULL, NULL);
}

int lab_nl_link_del(struct lab_nl *nl, const char *name)
{
	if (!ifname_ok(name))
		return -EINVAL;
	return nl_talk(nl, named_msg(nl, RTM_DELLINK, 0, name), NULL, NULL);
}

int lab_nl_link_up(struct lab_nl *nl, const char *name)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;

	if (!ifname_ok(name))
		return -EINVAL;
	nlh = named_msg(nl, RTM_NEWLINK, 0, name);
	ifm = mnl_nlmsg_get_payload(nlh);
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	return nl_talk(nl, nlh, NULL, NULL);
}

int lab_nl_link_set_master(struct lab_nl *nl, const char *name, const char *master)
{
	struct nlmsghdr *nlh;
	int idx;

	if (!ifname_ok(name))
		return -EINVAL;
	idx = lab_nl_ifindex(nl, master);
	if (idx < 0)
		return idx;
	nlh = named_msg(nl, RTM_NEWLINK, 0, name);
	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)idx);
	return nl_talk(nl, nlh, NULL, NULL);
}

int lab_nl_link_set_netns(struct lab_nl *nl, const char *name, const char *netns)
{
	struct nlmsghdr *nlh;
	int fd, rc;

	if (!ifname_ok(name) || !netns)
		return -EINVAL;
	nlh = named_msg(nl, RTM_NEWLINK, 0, name);
	rc = put_netns(nlh, netns, &fd);
	if (rc)
		return rc;
	rc = nl_talk(nl, nlh, NULL, NULL);
	close(fd);
	return rc;
}

int lab_nl_link_set_mac(struct lab_nl *nl, const char *name, const uint8_t mac[6])
{
	struct nlmsghdr *nlh;

	if (!ifname_ok(name))
		return -EINVAL;
	nlh = named_msg(nl, RTM_NEWLINK, 0, name);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	return nl_talk(nl, nlh, NULL, NULL);
}

int lab_nl_addr_add(struct lab_nl *nl, const char *name, uint32_t ip, uint8_t plen)
{
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	uint32_t mask = plen ? ~0u << (32 - plen) : 0;
	int idx;

	if (plen > 32)
		return -EINVAL;
	idx = lab_nl_ifindex(nl, name);
	if (idx < 0)
		return idx;
	nlh = mnl_nlmsg_put_header(nl->buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = plen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)idx;
	mnl_attr_put_u32(nlh, IFA_LOCAL, htonl(ip));
	mnl_attr_put_u32(nlh, IFA_ADDRESS, htonl(ip));
	if (plen < 31)
		mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl(ip | ~mask));
	return nl_talk(nl, nlh, NULL, NULL);
}

struct link_dump {
	const char *prefix;
	struct names names;
	int rc;
};

static int link_name_attr(const struct nlattr *a, void *data)
{
	struct link_dump *d = data;

	if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 &&
	    strncmp(mnl_attr_get_str(a), d->prefix, strlen(d->prefix)) == 0 && !d->rc)
		d->rc = names_add(&d->names, mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int link_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ifinfomsg))
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_name_attr, data);
}

int lab_nl_link_foreach(struct lab_nl *nl, const char *prefix,
                        int (*fn)(const char *name, void *arg), void *arg)
{
	struct link_dump d = { .prefix = prefix };
	int rc = nl_talk(nl, link_msg(nl, RTM_GETLINK, NLM_F_DUMP, 0), link_dump_cb, &d);

	return names_apply(&d.names, rc ? rc : d.rc, fn, arg);
}

/* ---- TAP ---- */

struct tap_req {
	const char *name;
	bool persist;
};

static int tap_create(void *arg)
{
	const struct tap_req *r = arg;
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC), hdrsz, rc;

	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", r->name);
	hdrsz = (int)sizeof(struct virtio_net_hdr);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0 ||
	    (r->persist && ioctl(fd, TUNSETPERSIST, 1) < 0)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int lab_tap_open(const char *netns, const char *name, bool persist)
{
	struct tap_req r = { name, persist };

	if (!ifname_ok(name))
		return -EINVAL;
	return lab_netns_run(netns, tap_create, &r);
}
