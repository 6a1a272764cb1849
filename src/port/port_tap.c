/* port_tap — a TAP device with the virtio-net header and offloads on. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "port/port.h"
#include "util/util.h"

struct tap {
	int fd;
	char ifname[IFNAMSIZ];
};

static int tap_open(struct port *p, const char *arg, char *err, size_t errlen)
{
	char name[IFNAMSIZ], netns[64];
	struct ifreq ifr = { 0 };
	struct tap *t;
	int saved, rc, hdrsz = sizeof(struct virtio_net_hdr);
	unsigned int offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

	if (port__parse_arg(arg, name, sizeof(name), netns, sizeof(netns))) {
		snprintf(err, errlen, "tap: bad name or netns in '%s'", arg);
		return -EINVAL;
	}
	rc = util_netns_enter(netns, &saved);
	if (rc) {
		snprintf(err, errlen, "tap %s: netns %s: %s", name, netns, strerror(-rc));
		return rc;
	}
	t = calloc(1, sizeof(*t));
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "tap %s: /dev/net/tun: %s (needs root or CAP_NET_ADMIN)",
		         name, strerror(errno));
		goto fail;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0 || ioctl(t->fd, TUNSETVNETHDRSZ, &hdrsz) < 0 ||
	    ioctl(t->fd, TUNSETOFFLOAD, offloads) < 0) {
		rc = -errno;
		snprintf(err, errlen, "tap %s: %s", name, strerror(errno));
		goto fail;
	}
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
	rc = port__set_up(t->ifname);
	if (rc) {
		snprintf(err, errlen, "tap %s: set up: %s", name, strerror(-rc));
		goto fail;
	}
	util_netns_leave(saved);
	p->priv = t;
	return 0;
fail:
	if (t->fd >= 0)
		close(t->fd);
	free(t);
	util_netns_leave(saved);
	return rc;
}

static void tap_close(struct port *p)
{
	struct tap *t = p->priv;

	close(t->fd);
	free(t);
}

static ssize_t tap_rx_iov(struct port *p, const struct iovec *iov, unsigned int iovcnt)
{
	struct tap *t = p->priv;

	for (;;) {
		ssize_t r = readv(t->fd, iov, (int)iovcnt);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			p->st.rx_errors++;
			return -errno;
		}
		if (r < (ssize_t)sizeof(struct virtio_net_hdr) + 14) {
			p->st.rx_errors++;
			continue;
		}
		p->st.rx_frames++;
		p->st.rx_bytes += (uint64_t)r - sizeof(struct virtio_net_hdr);
		return r;
	}
}

static int tap_rx_burst(struct port *p, struct port_pkt *pkts, unsigned int n)
{
	unsigned int got = 0;

	while (got < n) {
		uint8_t *buf = p->rxbuf + (size_t)got * PORT_MAX_FRAME;
		struct iovec iov[2] = { { &pkts[got].vnet, sizeof(pkts[got].vnet) },
			                { buf, PORT_MAX_FRAME } };
		ssize_t r = tap_rx_iov(p, iov, 2);

		if (r <= 0)
			break;
		pkts[got].data = buf;
		pkts[got].len = (uint32_t)(r - (ssize_t)sizeof(struct virtio_net_hdr));
		got++;
	}
	return (int)got;
}

static int tap_tx_burst(struct port *p, const struct port_pkt *pkts, unsigned int n)
{
	struct tap *t = p->priv;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct virtio_net_hdr tmp;
		const struct virtio_net_hdr *h =
		    port__vnet_for_kernel(&pkts[i].vnet, pkts[i].data, pkts[i].len, &tmp);
		struct iovec iov[2] = { { (void *)h, sizeof(*h) }, { pkts[i].data, pkts[i].len } };
		ssize_t r = writev(t->fd, iov, 2);

		if (r < 0 && errno == EAGAIN)
			break;
		if (r < 0) {
			p->st.tx_dropped++; /* the kernel refused this frame: count it, go on */
			continue;
		}
		p->st.tx_frames++;
		p->st.tx_bytes += pkts[i].len;
	}
	return (int)i;
}

static int tap_wait_fd(struct port *p)
{
	return ((struct tap *)p->priv)->fd;
}

const struct port_ops port_tap_ops = {
	.kind = "tap",
	.open = tap_open,
	.close = tap_close,
	.rx_burst = tap_rx_burst,
	.rx_iov = tap_rx_iov,
	.tx_burst = tap_tx_burst,
	.wait_fd = tap_wait_fd,
	.rx_idle_skip = PORT_RX_SKIP,
};
