/* port_afpacket — AF_PACKET on an existing interface, with PACKET_VNET_HDR,
 * promiscuous, our own transmissions ignored, batched with recvmmsg/sendmmsg. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "port/port.h"
#include "util/util.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct afp {
	int fd;
	int ifindex;
};

static int afp_open(struct port *p, const char *arg, char *err, size_t errlen)
{
	char name[IFNAMSIZ], netns[64];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
	struct afp *a;
	int saved, rc, one = 1;

	if (port__parse_arg(arg, name, sizeof(name), netns, sizeof(netns))) {
		snprintf(err, errlen, "afpacket: bad interface or netns in '%s'", arg);
		return -EINVAL;
	}
	rc = util_netns_enter(netns, &saved);
	if (rc) {
		snprintf(err, errlen, "afpacket %s: netns %s: %s", name, netns, strerror(-rc));
		return rc;
	}
	a = calloc(1, sizeof(*a));
	a->ifindex = (int)if_nametoindex(name);
	a->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (!a->ifindex || a->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "afpacket %s: %s%s", name, strerror(errno),
		         a->fd < 0 ? " (needs root or CAP_NET_RAW)" : "");
		goto fail;
	}
	sll.sll_ifindex = a->ifindex;
	mr.mr_ifindex = a->ifindex;
	if (setsockopt(a->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) ||
	    setsockopt(a->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) ||
	    setsockopt(a->fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) ||
	    setsockopt(a->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) ||
	    bind(a->fd, (struct sockaddr *)&sll, sizeof(sll))) {
		rc = -errno;
		snprintf(err, errlen, "afpacket %s: %s", name, strerror(errno));
		goto fail;
	}
	rc = port__set_up(name);
	if (rc) {
		snprintf(err, errlen, "afpacket %s: set up: %s", name, strerror(-rc));
		goto fail;
	}
	util_netns_leave(saved);
	p->priv = a;
	return 0;
fail:
	if (a->fd >= 0)
		close(a->fd);
	free(a);
	util_netns_leave(saved);
	return rc;
}

static void afp_close(struct port *p)
{
	struct afp *a = p->priv;

	close(a->fd);
	free(a);
}

/* The kernel takes an 802.1Q/802.1ad tag out of the bytes before AF_PACKET
 * sees them (the auxiliary data carry it): put it back where it was on the
 * wire, and move the offload offsets with it. false: no room for it. */
static bool afp_vlan_restore(const struct msghdr *mh, struct port_pkt *pk)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
		struct tpacket_auxdata aux;
		uint16_t tpid;

		if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA ||
		    c->cmsg_len < CMSG_LEN(sizeof(aux)))
			continue;
		memcpy(&aux, CMSG_DATA(c), sizeof(aux));
		if (!(aux.tp_status & TP_STATUS_VLAN_VALID))
			return true;
		if (pk->len + 4 > PORT_MAX_FRAME)
			return false;
		tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : ETH_P_8021Q;
		memmove(pk->data + 16, pk->data + 12, pk->len - 12);
		pk->data[12] = (uint8_t)(tpid >> 8);
		pk->data[13] = (uint8_t)tpid;
		pk->data[14] = (uint8_t)(aux.tp_vlan_tci >> 8);
		pk->data[15] = (uint8_t)aux.tp_vlan_tci;
		pk->len += 4;
		if (pk->vnet.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			pk->vnet.csum_start = (uint16_t)(pk->vnet.csum_start + 4);
		if (pk->vnet.hdr_len)
			pk->vnet.hdr_len = (uint16_t)(pk->vnet.hdr_len + 4);
		return true;
	}
	return true;
}

static int afp_rx_burst(struct port *p, struct port_pkt *pkts, unsigned int n)
{
	struct afp *a = p->priv;
	struct mmsghdr msgs[PORT_BURST];
	struct iovec iov[PORT_BURST][2];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} ctl[PORT_BURST];
	int r, got = 0;

	for (unsigned int i = 0; i < n; i++) {
		iov[i][0] = (struct iovec){ &pkts[i].vnet, sizeof(pkts[i].vnet) };
		iov[i][1] = (struct iovec){ p->rxbuf + (size_t)i * PORT_MAX_FRAME, PORT_MAX_FRAME };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = iov[i],
			                                 .msg_iovlen = 2,
			                                 .msg_control = &ctl[i],
			                                 .msg_controllen = sizeof(ctl[i]) } };
	}
	do
		r = recvmmsg(a->fd, msgs, n, MSG_DONTWAIT, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno != EAGAIN)
			p->st.rx_errors++;
		return 0;
	}
	for (int i = 0; i < r; i++) {
		uint32_t len = msgs[i].msg_len;

		if (len < sizeof(struct virtio_net_hdr) + 14 ||
		    (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			p->st.rx_errors++;
			continue;
		}
		pkts[got].vnet = pkts[i].vnet;
		pkts[got].data = p->rxbuf + (size_t)i * PORT_MAX_FRAME;
		pkts[got].len = len - (uint32_t)sizeof(struct virtio_net_hdr);
		if (!afp_vlan_restore(&msgs[i].msg_hdr, &pkts[got])) {
			p->st.rx_errors++;
			continue;
		}
		p->st.rx_frames++;
		p->st.rx_bytes += pkts[got].len;
		got++;
	}
	return got;
}

static int afp_tx_burst(struct port *p, const struct port_pkt *pkts, unsigned int n)
{
	struct afp *a = p->priv;
	struct mmsghdr msgs[PORT_BURST];
	struct iovec iov[PORT_BURST][2];
	struct virtio_net_hdr vh[PORT_BURST];
	unsigned int done = 0;

	while (done < n) {
		unsigned int k = n - done > PORT_BURST ? PORT_BURST : n - done;
		int r;

		for (unsigned int i = 0; i < k; i++) {
			const struct port_pkt *pk = &pkts[done + i];

			const struct virtio_net_hdr *h =
			    port__vnet_for_kernel(&pk->vnet, pk->data, pk->len, &vh[i]);

			iov[i][0] = (struct iovec){ (void *)h, sizeof(*h) };
			iov[i][1] = (struct iovec){ pk->data, pk->len };
			msgs[i] =
			    (struct mmsghdr){ .msg_hdr = { .msg_iov = iov[i], .msg_iovlen = 2 } };
		}
		do
			r = sendmmsg(a->fd, msgs, k, MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) { /* the first frame was refused: count it, go on */
			p->st.tx_dropped++;
			done++;
			continue;
		}
		for (int i = 0; i < r; i++) {
			p->st.tx_frames++;
			p->st.tx_bytes += pkts[done + (unsigned int)i].len;
		}
		done += (unsigned int)r;
	}
	return (int)done;
}

static int afp_wait_fd(struct port *p)
{
	return ((struct afp *)p->priv)->fd;
}

const struct port_ops port_afpacket_ops = {
	.kind = "afpacket",
	.open = afp_open,
	.close = afp_close,
	.rx_burst = afp_rx_burst,
	.tx_burst = afp_tx_burst,
	.wait_fd = afp_wait_fd,
	.rx_idle_skip = PORT_RX_SKIP,
};
