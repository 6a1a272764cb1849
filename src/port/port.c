/* port — the generic part: spec parsing, life cycle. */
#include "port/port.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct port_ops *const backends[] = {
	&port_tap_ops,
	&port_afpacket_ops,
	&port_shm_listen_ops,
	&port_shm_connect_ops,
};

struct port *port_open(const char *spec, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	struct port *p;
	int rc;

	for (size_t i = 0; colon && i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strlen(backends[i]->kind) != (size_t)(colon - spec) ||
		    strncmp(spec, backends[i]->kind, (size_t)(colon - spec)))
			continue;
		p = calloc(1, sizeof(*p));
		if (p)
			p->rxbuf = malloc((size_t)PORT_BURST * PORT_MAX_FRAME);
		if (!p || !p->rxbuf) {
			if (p)
				free(p);
			snprintf(err, errlen, "out of memory");
			errno = ENOMEM;
			return NULL;
		}
		p->ops = backends[i];
		snprintf(p->spec, sizeof(p->spec), "%s", spec);
		rc = p->ops->open(p, colon + 1, err, errlen);
		if (rc) {
			free(p->rxbuf);
			free(p);
			errno = -rc;
			return NULL;
		}
		return p;
	}
	snprintf(err, errlen,
	         "port '%s': expected tap:NAME[,netns=NS], afpacket:IFNAME[,netns=NS], "
	         "shm-listen:PATH or shm-connect:PATH",
	         spec);
	errno = EINVAL;
	return NULL;
}

void port_close(struct port *p)
{
	if (!p)
		return;
	p->ops->close(p);
	free(p->rxbuf);
	free(p);
}

int port__parse_arg(const char *arg, char *name, size_t namelen, char *netns, size_t nslen)
{
	const char *comma = strchr(arg, ',');
	size_t n = comma ? (size_t)(comma - arg) : strlen(arg);

	netns[0] = '\0';
	if (n == 0 || n >= namelen)
		return -EINVAL;
	memcpy(name, arg, n);
	name[n] = '\0';
	if (comma) {
		if (strncmp(comma + 1, "netns=", 6) || strlen(comma + 7) >= nslen || !comma[7] ||
		    strchr(comma + 7, '/'))
			return -EINVAL;
		strcpy(netns, comma + 7);
	}
	return 0;
}

int port__set_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			rc = -errno;
	}
	close(fd);
	return rc;
}

const struct virtio_net_hdr *port__vnet_for_kernel(const struct virtio_net_hdr *h,
                                                   const uint8_t *frame, uint32_t len,
                                                   struct virtio_net_hdr *tmp)
{
	uint32_t off = 14, l4 = 0;
	uint16_t type;
	uint8_t proto = 0;

	if (!(h->flags & VIRTIO_NET_HDR_F_DATA_VALID) || (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return h;
	*tmp = *h;
	tmp->flags = 0;
	if (len < off + 2 + 20)
		return tmp;
	type = (uint16_t)(frame[12] << 8 | frame[13]);
	if (type == 0x8100) { /* one 802.1Q tag */
		type = (uint16_t)(frame[16] << 8 | frame[17]);
		off += 4;
	}
	if (type == 0x0800 && len >= off + 20 && (frame[off] >> 4) == 4) {
		uint32_t ihl = (frame[off] & 0xfu) * 4u;
		bool frag = ((frame[off + 6] & 0x3fu) | frame[off + 7]) != 0; /* MF or an offset */

		if (ihl >= 20 && !frag) {
			proto = frame[off + 9];
			l4 = off + ihl;
		}
	} else if (type == 0x86dd && len >= off + 40) {
		proto = frame[off + 6]; /* no extension headers: those go unflagged */
		l4 = off + 40;
	}
	if (proto == 6 && l4 + 20 <= len) {
		tmp->csum_offset = 16;
	} else if (proto == 17 && l4 + 8 <= len) {
		tmp->csum_offset = 6;
	} else {
		return tmp;
	}
	tmp->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	tmp->csum_start = (uint16_t)l4;
	return tmp;
}
