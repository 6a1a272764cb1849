/* vmbus_chan — see vmbus_chan.h for the handshake and the memory layout. */
#include "vmbus/vmbus_chan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/util.h"

#define DEFAULT_RING_SIZE  (256u * 1024u)
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_SPIN_NS    50000u
#define REQUIRED_SEALS     (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

__attribute__((format(printf, 3, 4))) static int __errf(char *err, size_t errlen, const char *fmt,
                                                        ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

static bool __ring_size_ok(uint32_t s)
{
	return is_pow2(s) && s >= VMBUS_RING_MIN_SIZE && s <= VMBUS_RING_MAX_SIZE;
}

static bool __str_terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

int vmbus_hs_decode(const void *buf, size_t len, struct vmbus_hs_msg *m, char *err, size_t errlen)
{
	if (len != sizeof(*m))
		return __errf(err, errlen, "handshake message of %zu bytes, expected %zu", len,
		              sizeof(*m));
	memcpy(m, buf, sizeof(*m));
	if (m->magic != VMBUS_HS_MAGIC)
		return __errf(err, errlen, "handshake magic %#x, expected %#x", m->magic,
		              VMBUS_HS_MAGIC);
	if (m->version != VMBUS_HS_VERSION)
		return __errf(err, errlen, "handshake version %u, expected %u", m->version,
		              VMBUS_HS_VERSION);
	if (m->type < VMBUS_HS_HELLO || m->type > VMBUS_HS_REFUSE)
		return __errf(err, errlen, "handshake message type %u unknown", m->type);
	if (m->rsvd)
		return __errf(err, errlen, "handshake rsvd %#x not zero", m->rsvd);
	if (!__str_terminated(m->name, sizeof(m->name)) ||
	    !__str_terminated(m->reason, sizeof(m->reason)))
		return __errf(err, errlen, "handshake name/reason not NUL-terminated");
	if (m->type == VMBUS_HS_HELLO || m->type == VMBUS_HS_OFFER) {
		for (int d = 0; d < 2; d++)
			if (!__ring_size_ok(m->ring_size[d]))
				return __errf(err, errlen,
				              "handshake ring_size[%d] %u not a power of two in "
				              "[%u, %u]",
				              d, m->ring_size[d], VMBUS_RING_MIN_SIZE,
				              VMBUS_RING_MAX_SIZE);
	}
	if (m->type == VMBUS_HS_OFFER && m->mem_size != vmbus_ring_mem_size(m->ring_size[0]) +
	                                                    vmbus_ring_mem_size(m->ring_size[1]))
		return __errf(err, errlen, "handshake mem_size %llu does not match the rings",
		              (unsigned long long)m->mem_size);
	if (m->type == VMBUS_HS_REFUSE && (m->status == 0 || m->status > 4095))
		return __errf(err, errlen, "handshake refusal status %u invalid", m->status);
	return 0;
}

static void __hs_init(struct vmbus_hs_msg *m, enum vmbus_hs_type type)
{
	memset(m, 0, sizeof(*m));
	m->magic = VMBUS_HS_MAGIC;
	m->version = VMBUS_HS_VERSION;
	m->type = (uint16_t)type;
}

static void __hs_refuse(int sock, int status, const char *reason)
{
	struct vmbus_hs_msg m;

	__hs_init(&m, VMBUS_HS_REFUSE);
	m.status = (uint32_t)status;
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	util_send_fds(sock, &m, sizeof(m), NULL, 0);
}

/* Receive and decode the next handshake message; @fds/@nfds_max as in
 * util_recv_fds. A REFUSE from the peer turns into -status with its reason. */
static int __hs_recv(int sock, struct vmbus_hs_msg *m, int *fds, int nfds_max, int *nfds,
                     int timeout_ms, char *err, size_t errlen)
{
	uint8_t buf[sizeof(*m) + 1];
	ssize_t n = util_recv_fds(sock, buf, sizeof(buf), fds, nfds_max, nfds, timeout_ms);
	int rc;

	if (n == 0) {
		__errf(err, errlen, "peer closed the connection during the handshake");
		return -EPIPE;
	}
	if (n < 0) {
		__errf(err, errlen, "handshake receive failed: %s", strerror((int)-n));
		return (int)n;
	}
	rc = vmbus_hs_decode(buf, (size_t)n, m, err, errlen);
	if (rc == 0 && m->type == VMBUS_HS_REFUSE) {
		__errf(err, errlen, "peer refused: %s (%s)", m->reason, strerror((int)m->status));
		return -(int)m->status;
	}
	return rc;
}

static void __chan_signal(void *arg)
{
	struct vmbus_chan *ch = arg;
	uint64_t one = 1;

	/* A full counter (EAGAIN) means the peer has a wake-up pending anyway. */
	if (write(ch->efd_signal, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ch->peer_gone = true;
}

static struct vmbus_chan *__chan_alloc(int sock, bool server)
{
	struct vmbus_chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->sock = sock;
	ch->memfd = ch->efd_wait = ch->efd_signal = -1;
	ch->mem = MAP_FAILED;
	ch->server = server;
	ch->spin_ns = DEFAULT_SPIN_NS;
	return ch;
}

/* Map the memfd and attach both rings on the side this channel is. */
static int __chan_map(struct vmbus_chan *ch, char *err, size_t errlen)
{
	uint32_t c2s = ch->ring_size[VMBUS_C2S], s2c = ch->ring_size[VMBUS_S2C];
	uint8_t *c2s_mem, *s2c_mem;
	int rc;

	ch->mem = mmap(NULL, ch->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, ch->memfd, 0);
	if (ch->mem == MAP_FAILED) {
		rc = -errno;
		__errf(err, errlen, "mmap of %zu bytes: %s", ch->mem_size, strerror(errno));
		return rc;
	}
	c2s_mem = ch->mem;
	s2c_mem = c2s_mem + vmbus_ring_mem_size(c2s);
	if (ch->server) {
		rc = vmbus_ring_attach(&ch->rx, c2s_mem, c2s, VMBUS_RING_CONSUMER, __chan_signal,
		                       ch);
		if (!rc)
			rc = vmbus_ring_attach(&ch->tx, s2c_mem, s2c, VMBUS_RING_PRODUCER,
			                       __chan_signal, ch);
	} else {
		rc = vmbus_ring_attach(&ch->tx, c2s_mem, c2s, VMBUS_RING_PRODUCER, __chan_signal,
		                       ch);
		if (!rc)
			rc = vmbus_ring_attach(&ch->rx, s2c_mem, s2c, VMBUS_RING_CONSUMER,
			                       __chan_signal, ch);
	}
	if (rc)
		__errf(err, errlen, "shared ring header: %s",
		       ch->tx.broken ? ch->tx.err : ch->rx.err);
	return rc;
}

void vmbus_chan_close(struct vmbus_chan *ch)
{
	if (!ch)
		return;
	if (ch->mem != MAP_FAILED)
		munmap(ch->mem, ch->mem_size);
	if (ch->efd_signal >= 0)
		close(ch->efd_signal);
	if (ch->efd_wait >= 0)
		close(ch->efd_wait);
	if (ch->memfd >= 0)
		close(ch->memfd);
	if (ch->sock >= 0)
		close(ch->sock);
	free(ch);
}

int vmbus_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static uint32_t __clamp_size(uint32_t want, uint32_t max)
{
	return want > max ? max : want;
}

/* The handshake's last step: the client's OPENED within @timeout_ms (0: if
 * it is there). 1, 0 (time-out), or a negative errno with @err filled. */
static int __serve_opened(struct vmbus_chan *ch, int timeout_ms, char *err, size_t errlen)
{
	struct vmbus_hs_msg m;
	int rc = __hs_recv(ch->sock, &m, NULL, 0, NULL, timeout_ms, err, errlen);

	if (rc == -ETIMEDOUT || rc == -EAGAIN)
		return 0;
	if (rc == 0 && m.type != VMBUS_HS_OPENED)
		rc = __errf(err, errlen, "handshake: expected OPENED, got type %u", m.type);
	if (rc)
		return rc;
	/* From now on no send may wait for the peer: a VM that stops reading its
	 * control socket gets -EAGAIN from vmbus_chan_send_ctl, not a stuck host. */
	rc = fcntl(ch->sock, F_GETFL);
	if (rc < 0 || fcntl(ch->sock, F_SETFL, rc | O_NONBLOCK)) {
		rc = -errno;
		__errf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	return 1;
}

int vmbus_chan_serve_finish(struct vmbus_chan *ch, char *err, size_t errlen)
{
	return __serve_opened(ch, 0, err, errlen);
}

struct vmbus_chan *vmbus_chan_serve(int fd, const struct vmbus_server_opts *o, char *err,
                                    size_t errlen)
{
	int timeout = o && o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	uint32_t max = o && o->max_ring_size ? o->max_ring_size : VMBUS_RING_MAX_SIZE;
	struct vmbus_chan *ch;
	struct vmbus_hs_msg m;
	int fds[3], rc;

	ch = __chan_alloc(fd, true);
	if (!ch) {
		close(fd);
		errno = ENOMEM;
		__errf(err, errlen, "out of memory");
		return NULL;
	}
	/* 1. HELLO: no descriptors may come with it. */
	rc = __hs_recv(fd, &m, NULL, 0, NULL, timeout, err, errlen);
	if (rc == 0 && m.type != VMBUS_HS_HELLO)
		rc = __errf(err, errlen, "handshake: expected HELLO, got type %u", m.type);
	if (rc)
		goto fail_refuse;
	snprintf(ch->name, sizeof(ch->name), "%s", m.name);
	if (o && o->check && (rc = o->check(m.name, m.secret, o->check_arg)) < 0) {
		__errf(err, errlen, "adapter '%s' refused: %s", m.name, strerror(-rc));
		goto fail_refuse;
	}
	ch->ring_size[VMBUS_C2S] = __clamp_size(m.ring_size[VMBUS_C2S], max);
	ch->ring_size[VMBUS_S2C] = __clamp_size(m.ring_size[VMBUS_S2C], max);
	ch->mem_size = vmbus_ring_mem_size(ch->ring_size[VMBUS_C2S]) +
	               vmbus_ring_mem_size(ch->ring_size[VMBUS_S2C]);

	/* 2. The shared memory: ours, sealed, both rings formatted. */
	ch->memfd = memfd_create("iovpath-vmbus", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ch->memfd < 0 || ftruncate(ch->memfd, (off_t)ch->mem_size) ||
	    fcntl(ch->memfd, F_ADD_SEALS, REQUIRED_SEALS)) {
		rc = -errno;
		__errf(err, errlen, "channel memory: %s", strerror(errno));
		goto fail_refuse;
	}
	ch->mem = mmap(NULL, ch->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, ch->memfd, 0);
	if (ch->mem == MAP_FAILED) {
		rc = -errno;
		__errf(err, errlen, "mmap: %s", strerror(errno));
		goto fail_refuse;
	}
	vmbus_ring_format(ch->mem, ch->ring_size[VMBUS_C2S]);
	vmbus_ring_format((uint8_t *)ch->mem + vmbus_ring_mem_size(ch->ring_size[VMBUS_C2S]),
	                  ch->ring_size[VMBUS_S2C]);
	munmap(ch->mem, ch->mem_size);
	ch->mem = MAP_FAILED;

	/* 3. Signals: fds[1] wakes the server, fds[2] wakes the client. */
	ch->efd_wait = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ch->efd_signal = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->efd_wait < 0 || ch->efd_signal < 0) {
		rc = -errno;
		__errf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail_refuse;
	}
	rc = __chan_map(ch, err, errlen);
	if (rc)
		goto fail_refuse;

	/* 4. OFFER + descriptors, then wait for OPENED. */
	__hs_init(&m, VMBUS_HS_OFFER);
	m.ring_size[VMBUS_C2S] = ch->ring_size[VMBUS_C2S];
	m.ring_size[VMBUS_S2C] = ch->ring_size[VMBUS_S2C];
	m.mem_size = ch->mem_size;
	fds[0] = ch->memfd;
	fds[1] = ch->efd_wait;
	fds[2] = ch->efd_signal;
	rc = util_send_fds(fd, &m, sizeof(m), fds, 3);
	if (rc) {
		__errf(err, errlen, "sending OFFER: %s", strerror(-rc));
		goto fail;
	}
	if (o && o->no_wait_opened)
		return ch;
	rc = __serve_opened(ch, timeout, err, errlen);
	if (rc <= 0) {
		rc = rc ? rc : -ETIMEDOUT; /* (said in @err) */
		goto fail;
	}
	return ch;

fail_refuse:
	if (rc != -EPIPE)
		__hs_refuse(fd, rc < 0 ? -rc : EPROTO, err ? err : "refused");
fail:
	vmbus_chan_close(ch);
	errno = rc < 0 ? -rc : EPROTO;
	return NULL;
}

struct vmbus_chan *vmbus_chan_accept(int lfd, const struct vmbus_server_opts *o, char *err,
                                     size_t errlen)
{
	int fd;

	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int e = errno;

		__errf(err, errlen, "accept: %s", strerror(e));
		errno = e;
		return NULL;
	}
	return vmbus_chan_serve(fd, o, err, errlen);
}

struct vmbus_chan *vmbus_chan_connect(const char *path, const struct vmbus_client_opts *o,
                                      char *err, size_t errlen)
{
	int timeout = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vmbus_chan *ch;
	struct vmbus_hs_msg m;
	struct stat st;
	int fd, fds[3], nfds = 0, rc, seals;

	if (strlen(path) >= sizeof(sa.sun_path) || !o->name || strlen(o->name) >= VMBUS_NAME_MAX) {
		errno = EINVAL;
		__errf(err, errlen, "socket path or adapter name too long");
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		__errf(err, errlen, "connect %s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	ch = __chan_alloc(fd, false);
	if (!ch) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	snprintf(ch->name, sizeof(ch->name), "%s", o->name);

	__hs_init(&m, VMBUS_HS_HELLO);
	m.ring_size[VMBUS_C2S] =
	    o->ring_size[VMBUS_C2S] ? o->ring_size[VMBUS_C2S] : DEFAULT_RING_SIZE;
	m.ring_size[VMBUS_S2C] =
	    o->ring_size[VMBUS_S2C] ? o->ring_size[VMBUS_S2C] : DEFAULT_RING_SIZE;
	snprintf(m.name, sizeof(m.name), "%s", o->name);
	if (o->secret)
		memcpy(m.secret, o->secret, VMBUS_SECRET_LEN);
	rc = util_send_fds(fd, &m, sizeof(m), NULL, 0);
	if (rc) {
		__errf(err, errlen, "sending HELLO: %s", strerror(-rc));
		goto fail;
	}
	rc = __hs_recv(fd, &m, fds, 3, &nfds, timeout, err, errlen);
	if (rc == 0 && m.type != VMBUS_HS_OFFER)
		rc = __errf(err, errlen, "handshake: expected OFFER, got type %u", m.type);
	if (rc == 0 && nfds != 3)
		rc = __errf(err, errlen, "OFFER came with %d descriptors, expected 3", nfds);
	if (rc) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		goto fail;
	}
	ch->memfd = fds[0];
	ch->efd_signal = fds[1];
	ch->efd_wait = fds[2];
	ch->ring_size[VMBUS_C2S] = m.ring_size[VMBUS_C2S];
	ch->ring_size[VMBUS_S2C] = m.ring_size[VMBUS_S2C];
	ch->mem_size = m.mem_size;

	/* The memory must be what the OFFER says and unable to shrink under us. */
	seals = fcntl(ch->memfd, F_GET_SEALS);
	if (fstat(ch->memfd, &st) || (uint64_t)st.st_size != m.mem_size || seals < 0 ||
	    (seals & REQUIRED_SEALS) != REQUIRED_SEALS) {
		rc = __errf(err, errlen, "channel memory is not a sealed memfd of %llu bytes",
		            (unsigned long long)m.mem_size);
		goto fail_refuse;
	}
	rc = __chan_map(ch, err, errlen);
	if (rc)
		goto fail_refuse;
	__hs_init(&m, VMBUS_HS_OPENED);
	rc = util_send_fds(fd, &m, sizeof(m), NULL, 0);
	if (rc) {
		__errf(err, errlen, "sending OPENED: %s", strerror(-rc));
		goto fail;
	}
	return ch;

fail_refuse:
	__hs_refuse(fd, EPROTO, err ? err : "refused");
fail:
	vmbus_chan_close(ch);
	errno = rc < 0 ? -rc : EPROTO;
	return NULL;
}

int vmbus_chan_fail(struct vmbus_chan *ch, const char *fmt, ...)
{
	va_list ap;

	if (!ch->broken) {
		va_start(ap, fmt);
		vsnprintf(ch->err, sizeof(ch->err), fmt, ap);
		va_end(ap);
		ch->broken = true;
		shutdown(ch->sock, SHUT_RDWR);
		log_warn("vmbus", "channel '%s' closed: %s", ch->name, ch->err);
	}
	return -EPROTO;
}

static const char *__dir_name(const struct vmbus_chan *ch, bool tx)
{
	return (ch->server != tx) ? "c2s" : "s2c";
}

int vmbus_chan_send(struct vmbus_chan *ch, const struct vmbus_tx *pkts, unsigned int n)
{
	int rc;

	if (ch->broken)
		return -EPROTO;
	if (ch->peer_gone)
		return -EPIPE;
	rc = vmbus_ring_write(&ch->tx, pkts, n);
	if (rc == -EPROTO)
		return vmbus_chan_fail(ch, "ring %s: %s", __dir_name(ch, true), ch->tx.err);
	return rc;
}

int vmbus_chan_recv(struct vmbus_chan *ch, struct vmbus_rx *pkts, unsigned int max, void *buf,
                    size_t buflen)
{
	int rc;

	if (ch->broken)
		return -EPROTO;
	rc = vmbus_ring_read(&ch->rx, pkts, max, buf, buflen);
	if (ch->rx.broken)
		vmbus_chan_fail(ch, "ring %s: %s", __dir_name(ch, false), ch->rx.err);
	if (rc == 0 && ch->peer_gone)
		return -EPIPE;
	return rc;
}

/* The events of @events that are ready now; a negative errno on failure. */
static int __ready(struct vmbus_chan *ch, unsigned int events, uint32_t tx_need)
{
	unsigned int ready = 0;

	if (ch->broken)
		return -EPROTO;
	if (events & VMBUS_EV_RX) {
		int64_t avail = vmbus_ring_avail(&ch->rx);

		if (avail < 0)
			return vmbus_chan_fail(ch, "ring %s: %s", __dir_name(ch, false),
			                       ch->rx.err);
		if (avail > 0)
			ready |= VMBUS_EV_RX;
	}
	if ((events & VMBUS_EV_TX) && vmbus_ring_has_room(&ch->tx, tx_need))
		ready |= VMBUS_EV_TX;
	if (ch->tx.broken)
		return vmbus_chan_fail(ch, "ring %s: %s", __dir_name(ch, true), ch->tx.err);
	return (int)ready;
}

unsigned int vmbus_chan_poll_ctl(struct vmbus_chan *ch)
{
	char c;
	ssize_t n = recv(ch->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n > 0)
		return VMBUS_EV_CTL;
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		ch->peer_gone = true;
	return 0;
}

int vmbus_chan_wait(struct vmbus_chan *ch, unsigned int events, uint32_t tx_need, int timeout_ms)
{
	uint64_t start = util_now_ns(), deadline, spin_end = start + ch->spin_ns;
	int ready;

	deadline = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		/* Busy-poll: the producer is not asked to signal meanwhile. */
		if (events & VMBUS_EV_RX)
			vmbus_ring_disarm(&ch->rx);
		for (;;) {
			ready = __ready(ch, events, tx_need);
			/* A control message may have been sent before the ring
			 * packet (a GPADL before the NVSP message naming it): say
			 * so too, the caller takes control messages first. */
			if (ready > 0 && (events & VMBUS_EV_CTL))
				ready |= (int)vmbus_chan_poll_ctl(ch);
			if (ready)
				return ready;
			if (util_now_ns() >= spin_end)
				break;
			for (int i = 0; i < 64; i++)
				cpu_relax();
		}
		if ((events & VMBUS_EV_CTL) && (ready = (int)vmbus_chan_poll_ctl(ch)))
			return ready;
		if (ch->peer_gone)
			return -EPIPE;

		/* Ask to be signalled, check once more, then sleep. */
		if ((events & VMBUS_EV_RX) && !vmbus_ring_arm(&ch->rx))
			continue;
		if ((events & VMBUS_EV_TX) && !vmbus_ring_wait_room(&ch->tx, tx_need))
			continue;
		uint64_t now = util_now_ns();
		if (now >= deadline)
			return 0;
		struct pollfd pfd[2] = {
			{ .fd = ch->efd_wait, .events = POLLIN },
			{ .fd = ch->sock, .events = POLLIN },
		};
		uint64_t left_ms = deadline == UINT64_MAX ? 0 : (deadline - now + 999999) / 1000000;
		int rc = poll(pfd, 2, deadline == UINT64_MAX ? -1 : (int)left_ms);

		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc > 0 && (pfd[0].revents & POLLIN)) {
			uint64_t cnt;

			if (read(ch->efd_wait, &cnt, sizeof(cnt)) == sizeof(cnt))
				ch->wakeups++;
		}
		if (rc > 0 && pfd[1].revents) {
			unsigned int ctl = vmbus_chan_poll_ctl(ch);

			if (ctl & events)
				return (int)ctl;
			if (ctl) /* a message nobody asked for: don't spin on it */
				return vmbus_chan_fail(ch,
				                       "unexpected message on the control socket");
		}
		spin_end = util_now_ns() + ch->spin_ns;
	}
}

int vmbus_ctl_decode(const void *buf, size_t len, struct vmbus_ctl_msg *m, char *err, size_t errlen)
{
	if (len < sizeof(m->hdr) || len > sizeof(*m))
		return __errf(err, errlen, "control message of %zu bytes", len);
	memcpy(m, buf, len);
	if (m->hdr.magic != VMBUS_CTL_MAGIC)
		return __errf(err, errlen, "control magic %#x", m->hdr.magic);
	if (m->hdr.rsvd)
		return __errf(err, errlen, "control rsvd %#x not zero", m->hdr.rsvd);
	if (m->hdr.len != len - sizeof(m->hdr))
		return __errf(err, errlen, "control len %u, datagram carries %zu", m->hdr.len,
		              len - sizeof(m->hdr));
	return 0;
}

int vmbus_chan_send_ctl(struct vmbus_chan *ch, uint16_t type, uint32_t id, const void *payload,
                        uint32_t len, const int *fds, int nfds)
{
	struct vmbus_ctl_msg m;
	int rc;

	if (ch->broken)
		return -EPROTO;
	if (len > sizeof(m.payload) || nfds > VMBUS_CTL_MAX_FDS)
		return -EMSGSIZE;
	m.hdr =
	    (struct vmbus_ctl_hdr){ .magic = VMBUS_CTL_MAGIC, .type = type, .len = len, .id = id };
	if (len)
		memcpy(m.payload, payload, len);
	rc = util_send_fds(ch->sock, &m, sizeof(m.hdr) + len, fds, nfds);
	if (rc == -EPIPE || rc == -ECONNRESET) {
		ch->peer_gone = true;
		return -EPIPE;
	}
	return rc;
}

int vmbus_chan_recv_ctl(struct vmbus_chan *ch, struct vmbus_ctl_msg *m, int *fds, int nfds_max,
                        int *nfds)
{
	uint8_t buf[VMBUS_CTL_MAX + 1];
	char err[128];
	ssize_t n;

	if (ch->broken)
		return -EPROTO;
	n = util_recv_fds(ch->sock, buf, sizeof(buf), fds, nfds_max, nfds, 0);
	if (n == -ETIMEDOUT || n == -EAGAIN)
		return 0;
	if (n == 0 || n == -ECONNRESET) {
		ch->peer_gone = true;
		return -EPIPE;
	}
	if (n < 0)
		return vmbus_chan_fail(ch, "control message: %s", strerror((int)-n));
	if (vmbus_ctl_decode(buf, (size_t)n, m, err, sizeof(err))) {
		for (int i = 0; nfds && i < *nfds; i++)
			close(fds[i]);
		return vmbus_chan_fail(ch, "%s", err);
	}
	return 1;
}

int vmbus_gpadl_create(struct vmbus_chan *ch, uint32_t handle, size_t size, struct vmbus_gpadl *g)
{
	struct vmbus_ctl_gpadl msg = { .handle = handle, .size = size };
	int rc;

	memset(g, 0, sizeof(*g));
	g->fd = -1;
	if (!handle || !size || size > VMBUS_GPADL_MAX_SIZE)
		return -EINVAL;
	g->fd = memfd_create("iovpath-gpadl", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (g->fd < 0 || ftruncate(g->fd, (off_t)size) ||
	    fcntl(g->fd, F_ADD_SEALS, REQUIRED_SEALS)) {
		rc = -errno;
		goto fail;
	}
	g->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->mem == MAP_FAILED) {
		rc = -errno;
		g->mem = NULL;
		goto fail;
	}
	g->size = size;
	g->handle = handle;
	rc = vmbus_chan_send_ctl(ch, VMBUS_CTL_GPADL, handle, &msg, sizeof(msg), &g->fd, 1);
	if (rc)
		goto fail;
	return 0;
fail:
	vmbus_gpadl_release(g);
	return rc;
}

int vmbus_gpadl_map(const struct vmbus_ctl_msg *m, int fd, struct vmbus_gpadl *g, char *err,
                    size_t errlen)
{
	struct vmbus_ctl_gpadl msg;
	struct stat st;
	int seals;

	memset(g, 0, sizeof(*g));
	g->fd = -1;
	if (fd < 0 || m->hdr.type != VMBUS_CTL_GPADL || m->hdr.len != sizeof(msg)) {
		if (fd >= 0)
			close(fd);
		return __errf(err, errlen, "GPADL message malformed (len %u, fd %d)", m->hdr.len,
		              fd);
	}
	memcpy(&msg, m->payload, sizeof(msg));
	seals = fcntl(fd, F_GET_SEALS);
	if (!msg.handle || msg.rsvd || !msg.size || msg.size > VMBUS_GPADL_MAX_SIZE ||
	    fstat(fd, &st) || (uint64_t)st.st_size != msg.size || seals < 0 ||
	    (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
		close(fd);
		return __errf(err, errlen,
		              "GPADL %u: buffer must be a sealed memfd of the announced size "
		              "(1..%u bytes), got %llu",
		              msg.handle, VMBUS_GPADL_MAX_SIZE, (unsigned long long)msg.size);
	}
	g->mem = mmap(NULL, msg.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (g->mem == MAP_FAILED) {
		g->mem = NULL;
		close(fd);
		return __errf(err, errlen, "GPADL %u: mmap: %s", msg.handle, strerror(errno));
	}
	g->fd = fd;
	g->size = msg.size;
	g->handle = msg.handle;
	return 0;
}

void vmbus_gpadl_release(struct vmbus_gpadl *g)
{
	if (g->mem)
		munmap(g->mem, g->size);
	if (g->fd >= 0)
		close(g->fd);
	memset(g, 0, sizeof(*g));
	g->fd = -1;
}

/* ---- VPCI ---- */

static const char *__vpci_name(uint16_t type)
{
	switch (type) {
	case VMBUS_CTL_VPCI_ADD:
		return "VPCI_ADD";
	case VMBUS_CTL_VPCI_REMOVE:
		return "VPCI_REMOVE";
	case VMBUS_CTL_VPCI_REMOVE_DONE:
		return "VPCI_REMOVE_DONE";
	}
	return NULL;
}

int vmbus_vpci_decode(const struct vmbus_ctl_msg *m, int nfds, struct vmbus_vpci_add *out,
                      char *err, size_t errlen)
{
	const char *name = __vpci_name(m->hdr.type);
	bool add = m->hdr.type == VMBUS_CTL_VPCI_ADD;
	uint32_t want = add ? sizeof(struct vmbus_vpci_add) : sizeof(struct vmbus_vpci);
	int want_fds = add ? VMBUS_VPCI_ADD_FDS : 0;

	memset(out, 0, sizeof(*out));
	if (!name) {
		__errf(err, errlen, "control type %u is not VPCI", m->hdr.type);
		return -EINVAL;
	}
	if (m->hdr.len != want)
		return __errf(err, errlen, "%s of %u bytes, expected %u", name, m->hdr.len, want);
	if (nfds != want_fds)
		return __errf(err, errlen, "%s with %d descriptors, expected %d", name, nfds,
		              want_fds);
	if (add) {
		memcpy(out, m->payload, sizeof(*out));
		if (out->rsvd || !out->bar_size || out->bar_size > VMBUS_VPCI_MAX_BAR ||
		    !is_pow2(out->num_qp) || out->num_qp > VMBUS_VPCI_MAX_QP)
			return __errf(err, errlen,
			              "%s: BAR of %llu bytes, %u queue pairs, rsvd %#llx", name,
			              (unsigned long long)out->bar_size, out->num_qp,
			              (unsigned long long)out->rsvd);
	} else {
		struct vmbus_vpci v;

		memcpy(&v, m->payload, sizeof(v));
		if (v.rsvd)
			return __errf(err, errlen, "%s: rsvd %#x not zero", name, v.rsvd);
		out->serial = v.serial;
	}
	if (!out->serial)
		return __errf(err, errlen, "%s: serial 0", name);
	return 0;
}

int vmbus_vpci_add(struct vmbus_chan *ch, const struct vmbus_vpci_add *a, const int *fds)
{
	return vmbus_chan_send_ctl(ch, VMBUS_CTL_VPCI_ADD, a->serial, a, sizeof(*a), fds,
	                           VMBUS_VPCI_ADD_FDS);
}

static bool __cstr_ok(const char *s, size_t cap)
{
	return s[0] && memchr(s, '\0', cap);
}

int vmbus_migrate_decode(const struct vmbus_ctl_msg *m, int nfds, struct vmbus_migrate *out,
                         char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (m->hdr.type != VMBUS_CTL_MIGRATE)
		return __errf(err, errlen, "control type %u is not MIGRATE", m->hdr.type);
	if (m->hdr.len != sizeof(*out) || nfds)
		return __errf(err, errlen,
		              "MIGRATE of %u bytes and %d descriptors, expected %zu and 0",
		              m->hdr.len, nfds, sizeof(*out));
	memcpy(out, m->payload, sizeof(*out));
	if (!__cstr_ok(out->host, sizeof(out->host)) || !__cstr_ok(out->name, sizeof(out->name)) ||
	    !__cstr_ok(out->channel, sizeof(out->channel)) || out->channel[0] != '/') {
		memset(out, 0, sizeof(*out));
		return __errf(err, errlen, "MIGRATE: a name or the channel path is not a string");
	}
	return 0;
}

int vmbus_vpci_send(struct vmbus_chan *ch, uint16_t type, uint32_t serial)
{
	struct vmbus_vpci v = { .serial = serial };

	return vmbus_chan_send_ctl(ch, type, serial, &v, sizeof(v), NULL, 0);
}

void vmbus_chan_drain_signal(struct vmbus_chan *ch)
{
	uint64_t cnt;

	(void)!read(ch->efd_wait, &cnt, sizeof(cnt));
}
