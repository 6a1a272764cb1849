/* port_shm — a shared-memory wire between two NICs: a VMBus channel (two
 * rings in one sealed memfd) whose ends are two physical ports. Each frame is
 * an in-band packet; its virtio-net header rides in the extension bytes.
 * shm-listen waits for its peer without blocking: until the peer connects,
 * frames sent are counted as dropped (a cable not plugged in). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "port/port.h"
#include "util/util.h"
#include "vmbus/vmbus_chan.h"

#define SHM_RING_SIZE (4u << 20)

struct shm {
	int lfd; /* listening socket (shm-listen), -1 otherwise */
	int epfd; /* shm-listen's wait_fd: lfd, or the peer's wake-ups and socket */
	char path[108];
	struct vmbus_chan *ch;
	struct vmbus_rx rx[PORT_BURST];
};

struct shm_ext {
	struct virtio_net_hdr vnet;
	uint8_t pad[16 - sizeof(struct virtio_net_hdr)];
};
_Static_assert(sizeof(struct shm_ext) == 16, "shm extension is 8-aligned");

static int shm_open_common(struct port *p, const char *arg, bool listen_side, char *err,
                           size_t errlen)
{
	struct shm *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->lfd = s->epfd = -1;
	if (!*arg || strlen(arg) >= sizeof(s->path)) {
		snprintf(err, errlen, "shm: socket path '%s' empty or too long", arg);
		free(s);
		return -EINVAL;
	}
	strcpy(s->path, arg);
	if (listen_side) {
		struct epoll_event ev = { .events = EPOLLIN };

		s->lfd = vmbus_listen(arg);
		if (s->lfd < 0) {
			int rc = s->lfd;

			snprintf(err, errlen, "shm-listen %s: %s", arg, strerror(-rc));
			free(s);
			return rc;
		}
		s->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev)) {
			int rc = -errno;

			snprintf(err, errlen, "shm-listen %s: epoll: %s", arg, strerror(-rc));
			if (s->epfd >= 0)
				close(s->epfd);
			close(s->lfd);
			unlink(s->path);
			free(s);
			return rc;
		}
	} else {
		struct vmbus_client_opts o = { .name = "wire",
			                       .ring_size = { SHM_RING_SIZE, SHM_RING_SIZE } };

		s->ch = vmbus_chan_connect(arg, &o, err, errlen);
		if (!s->ch) {
			int rc = -errno;

			free(s);
			return rc;
		}
	}
	p->priv = s;
	return 0;
}

static int shm_listen_open(struct port *p, const char *arg, char *err, size_t errlen)
{
	return shm_open_common(p, arg, true, err, errlen);
}

static int shm_connect_open(struct port *p, const char *arg, char *err, size_t errlen)
{
	return shm_open_common(p, arg, false, err, errlen);
}

static void shm_close(struct port *p)
{
	struct shm *s = p->priv;

	vmbus_chan_close(s->ch);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->lfd >= 0) {
		close(s->lfd);
		unlink(s->path);
	}
	free(s);
}

/* shm-listen's wait set: the listening socket while unplugged; the peer's
 * wake-ups and its control socket (readable when it goes) while plugged. */
static void shm_wait_set(struct shm *s, bool plugged)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (plugged) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->ch->efd_wait, &ev);
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->ch->sock, &ev);
	} else {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->ch->efd_wait, NULL);
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->ch->sock, NULL);
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev);
	}
}

/* shm-listen, before sleeping: has the peer gone (its control socket hung
 * up), or sent something a wire never sends? Nothing else tells: the rings
 * and the wake-ups go on "working" after the peer's end is closed. */
static bool shm_peer_left(struct vmbus_chan *ch)
{
	if (ch->peer_gone || ch->broken)
		return true;
	if (vmbus_chan_poll_ctl(ch))
		vmbus_chan_fail(ch, "unexpected message on the control socket");
	return ch->peer_gone || ch->broken;
}

/* The listening side takes its peer when one is waiting; a peer that went
 * away leaves the port unplugged until another connects. */
static struct vmbus_chan *shm_chan(struct port *p)
{
	struct shm *s = p->priv;
	struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
	char err[256];

	if (s->ch && (s->ch->peer_gone || s->ch->broken) && s->lfd >= 0) {
		log_warn("port", "%s: peer gone (%s)", p->spec, vmbus_chan_error(s->ch));
		shm_wait_set(s, false);
		vmbus_chan_close(s->ch);
		s->ch = NULL;
	}
	if (!s->ch && s->lfd >= 0 && poll(&pfd, 1, 0) == 1) {
		s->ch = vmbus_chan_accept(s->lfd, NULL, err, sizeof(err));
		if (!s->ch)
			log_warn("port", "%s: %s", p->spec, err);
		else
			shm_wait_set(s, true);
	}
	return s->ch;
}

static int shm_rx_burst(struct port *p, struct port_pkt *pkts, unsigned int n)
{
	struct shm *s = p->priv;
	struct vmbus_chan *ch = shm_chan(p);
	int r, got = 0;

	if (!ch)
		return 0;
	r = vmbus_chan_recv(ch, s->rx, n, p->rxbuf, (size_t)PORT_BURST * PORT_MAX_FRAME);
	if (r == -ENOBUFS) {
		/* The next packet is longer than the whole buffer (the peer's ring
		 * allows it), so no frame: take it out of the ring into memory as
		 * large as the ring, drop it, count it. Left there, it would stop
		 * the wire for good. */
		void *tmp = malloc(ch->rx.size);

		if (tmp) {
			r = vmbus_chan_recv(ch, s->rx, 1, tmp, ch->rx.size);
			free(tmp);
		}
		p->st.rx_errors++;
		return 0;
	}
	if (r <= 0) {
		if (r < 0 && r != -EPIPE)
			p->st.rx_errors++;
		return 0;
	}
	for (int i = 0; i < r; i++) {
		const struct vmbus_rx *x = &s->rx[i];

		if (x->ext_len != sizeof(struct shm_ext) || x->len < 14 ||
		    x->len > PORT_MAX_FRAME) {
			p->st.rx_errors++;
			continue;
		}
		memcpy(&pkts[got].vnet, x->ext, sizeof(pkts[got].vnet));
		pkts[got].data = (uint8_t *)x->data;
		pkts[got].len = x->len;
		p->st.rx_frames++;
		p->st.rx_bytes += x->len;
		got++;
	}
	return got;
}

static int shm_tx_burst(struct port *p, const struct port_pkt *pkts, unsigned int n)
{
	struct vmbus_chan *ch = shm_chan(p);
	struct shm_ext ext[PORT_BURST];
	struct iovec iov[PORT_BURST];
	struct vmbus_tx tx[PORT_BURST];
	unsigned int done = 0;

	if (!ch) {
		p->st.tx_dropped += n; /* unplugged: the frames fall on the floor, counted */
		return (int)n;
	}
	while (done < n) {
		unsigned int k = n - done > PORT_BURST ? PORT_BURST : n - done;
		int r;

		for (unsigned int i = 0; i < k; i++) {
			const struct port_pkt *pk = &pkts[done + i];

			memset(&ext[i], 0, sizeof(ext[i]));
			ext[i].vnet = pk->vnet;
			iov[i] = (struct iovec){ pk->data, pk->len };
			tx[i] = (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND,
				                   .ext = &ext[i],
				                   .ext_len = sizeof(ext[i]),
				                   .iov = &iov[i],
				                   .iovcnt = 1 };
		}
		r = vmbus_chan_send(ch, tx, k);
		if (r <= 0) {
			if (r < 0) { /* a dead wire drops, counted */
				p->st.tx_dropped += n - done;
				return (int)n;
			}
			break; /* ring full: the caller keeps the rest */
		}
		for (int i = 0; i < r; i++) {
			p->st.tx_frames++;
			p->st.tx_bytes += pkts[done + (unsigned int)i].len;
		}
		done += (unsigned int)r;
	}
	return (int)done;
}

static int shm_wait_fd(struct port *p)
{
	struct shm *s = p->priv;

	return s->epfd >= 0 ? s->epfd : s->ch->efd_wait;
}

static bool shm_arm(struct port *p)
{
	struct shm *s = p->priv;

	uint64_t cnt;

	if (!s->ch)
		return true;
	(void)!read(s->ch->efd_wait, &cnt, sizeof(cnt)); /* old wake-ups: drain, then arm */
	if (s->lfd >= 0 && shm_peer_left(s->ch))
		return false; /* the next rx_burst unplugs it */
	return vmbus_ring_arm(&s->ch->rx);
}

const struct port_ops port_shm_listen_ops = {
	.kind = "shm-listen",
	.open = shm_listen_open,
	.close = shm_close,
	.rx_burst = shm_rx_burst,
	.tx_burst = shm_tx_burst,
	.wait_fd = shm_wait_fd,
	.arm = shm_arm,
};

const struct port_ops port_shm_connect_ops = {
	.kind = "shm-connect",
	.open = shm_connect_open,
	.close = shm_close,
	.rx_burst = shm_rx_burst,
	.tx_burst = shm_tx_burst,
	.wait_fd = shm_wait_fd,
	.arm = shm_arm,
};
