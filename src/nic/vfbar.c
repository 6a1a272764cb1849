/* vfbar — see vfbar.h. */
#include "nic/vfbar.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static size_t __bar_size(uint32_t num_qp, uint32_t ring_size)
{
	return 8192 + (size_t)num_qp * 2 * vmbus_ring_mem_size(ring_size);
}

static uint8_t *__ring_mem(struct vfbar *b, uint32_t qp, bool rx)
{
	return b->mem + 8192 + ((size_t)qp * 2 + (rx ? 1 : 0)) * vmbus_ring_mem_size(b->ring_size);
}

void vfbar_ring_doorbell(struct vfbar *b)
{
	uint64_t one = 1;
	int fd = b->side == VFBAR_NIC ? b->efd_vf : b->efd_nic;

	if (write(fd, &one, sizeof(one)) == sizeof(one))
		b->doorbells++;
}

static void __signal(void *arg)
{
	vfbar_ring_doorbell(arg);
}

/* Attach this side's view of every ring; -EPROTO with b->err on failure. */
static int __attach_rings(struct vfbar *b)
{
	bool nic = b->side == VFBAR_NIC;

	for (uint32_t q = 0; q < b->num_qp; q++) {
		int rc =
		    vmbus_ring_attach(&b->tx[q], __ring_mem(b, q, false), b->ring_size,
		                      nic ? VMBUS_RING_CONSUMER : VMBUS_RING_PRODUCER, __signal, b);

		if (!rc)
			rc = vmbus_ring_attach(&b->rx[q], __ring_mem(b, q, true), b->ring_size,
			                       nic ? VMBUS_RING_PRODUCER : VMBUS_RING_CONSUMER,
			                       __signal, b);
		if (rc) {
			snprintf(b->err, sizeof(b->err), "qp %u: %s", q,
			         b->tx[q].broken ? b->tx[q].err : b->rx[q].err);
			return -EPROTO;
		}
	}
	return 0;
}

static struct vfbar *__alloc(enum vfbar_side side)
{
	struct vfbar *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->side = side;
	b->memfd = b->efd_nic = b->efd_vf = -1;
	return b;
}

struct vfbar *vfbar_create(uint32_t num_qp, uint32_t ring_size)
{
	struct vfbar *b;
	struct vfbar_hdr *h;

	if (!is_pow2(num_qp) || num_qp > VFBAR_MAX_QP || !is_pow2(ring_size) ||
	    ring_size < VMBUS_RING_MIN_SIZE || ring_size > (64u << 20)) {
		errno = EINVAL;
		return NULL;
	}
	b = __alloc(VFBAR_NIC);
	if (!b)
		return NULL;
	b->num_qp = num_qp;
	b->ring_size = ring_size;
	b->size = __bar_size(num_qp, ring_size);
	b->memfd = memfd_create("iovpath-vfbar", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (b->memfd < 0 || ftruncate(b->memfd, (off_t)b->size) ||
	    fcntl(b->memfd, F_ADD_SEALS, SEALS))
		goto fail;
	b->mem = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->memfd, 0);
	if (b->mem == MAP_FAILED) {
		b->mem = NULL;
		goto fail;
	}
	b->efd_nic = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	b->efd_vf = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->efd_nic < 0 || b->efd_vf < 0)
		goto fail;
	h = (struct vfbar_hdr *)b->mem;
	h->magic = VFBAR_MAGIC;
	h->version = VFBAR_VERSION;
	h->num_qp = num_qp;
	h->ring_size = ring_size;
	h->mbox_off = 4096;
	h->qp_off = 8192;
	h->total_size = b->size;
	b->mbox = (struct vfbar_mbox *)(b->mem + 4096);
	for (uint32_t q = 0; q < num_qp; q++) {
		vmbus_ring_format(__ring_mem(b, q, false), ring_size);
		vmbus_ring_format(__ring_mem(b, q, true), ring_size);
	}
	if (__attach_rings(b)) {
		errno = EPROTO;
		goto fail;
	}
	return b;
fail:
	vfbar_destroy(b);
	return NULL;
}

struct vfbar *vfbar_attach(int memfd, int efd_nic, int efd_vf, char *err, size_t errlen)
{
	struct vfbar *b = __alloc(VFBAR_VF);
	struct vfbar_hdr h;
	struct stat st;
	int seals;

	if (!b) {
		close(memfd);
		close(efd_nic);
		close(efd_vf);
		return NULL;
	}
	b->memfd = memfd;
	b->efd_nic = efd_nic;
	b->efd_vf = efd_vf;
	seals = fcntl(memfd, F_GET_SEALS);
	if (fstat(memfd, &st) || seals < 0 || (seals & SEALS) != SEALS || st.st_size < 8192) {
		snprintf(err, errlen, "VF BAR: not a sealed memfd of at least 8 KiB");
		goto fail;
	}
	b->size = (size_t)st.st_size;
	b->mem = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (b->mem == MAP_FAILED) {
		b->mem = NULL;
		snprintf(err, errlen, "VF BAR: mmap: %s", strerror(errno));
		goto fail;
	}
	memcpy(&h, b->mem, sizeof(h));
	if (h.magic != VFBAR_MAGIC || h.version != VFBAR_VERSION) {
		snprintf(err, errlen, "VF BAR: magic %#x version %u, expected %#x version %u",
		         h.magic, h.version, VFBAR_MAGIC, VFBAR_VERSION);
		goto fail;
	}
	if (!is_pow2(h.num_qp) || h.num_qp > VFBAR_MAX_QP || !is_pow2(h.ring_size) ||
	    h.ring_size < VMBUS_RING_MIN_SIZE || h.mbox_off != 4096 || h.qp_off != 8192 ||
	    h.total_size != b->size || __bar_size(h.num_qp, h.ring_size) != b->size) {
		snprintf(err, errlen,
		         "VF BAR: layout (%u queue pairs of %u bytes) disagrees with "
		         "its size %zu",
		         h.num_qp, h.ring_size, b->size);
		goto fail;
	}
	b->num_qp = h.num_qp;
	b->ring_size = h.ring_size;
	b->mbox = (struct vfbar_mbox *)(b->mem + 4096);
	b->mbox_seen = READ_ONCE(b->mbox->req_seq);
	b->flr_seen = load_acquire(&((struct vfbar_hdr *)b->mem)->flr);
	if (__attach_rings(b)) {
		snprintf(err, errlen, "VF BAR: %s", b->err);
		goto fail;
	}
	return b;
fail:
	vfbar_destroy(b);
	errno = EPROTO;
	return NULL;
}

void vfbar_destroy(struct vfbar *b)
{
	if (!b)
		return;
	if (b->mem)
		munmap(b->mem, b->size);
	if (b->memfd >= 0)
		close(b->memfd);
	if (b->efd_nic >= 0)
		close(b->efd_nic);
	if (b->efd_vf >= 0)
		close(b->efd_vf);
	free(b);
}

/* Count (and discard) the packets a consumer view of @mem would read. */
static uint64_t __drain(uint8_t *mem, uint32_t size)
{
	struct vmbus_ring r;
	struct vmbus_rx rx[64];
	uint64_t n = 0;
	uint8_t *buf;
	int got;

	if (vmbus_ring_attach(&r, mem, size, VMBUS_RING_CONSUMER, NULL, NULL))
		return 0;
	buf = malloc(size);
	while (buf && (got = vmbus_ring_read(&r, rx, 64, buf, size)) > 0)
		n += (uint64_t)got;
	free(buf);
	return n;
}

uint64_t vfbar_reset_queues(struct vfbar *b)
{
	uint64_t dropped = 0;

	/* First: whatever the VF sees from now on, it can tell why. */
	__atomic_fetch_add(&((struct vfbar_hdr *)b->mem)->flr, 1, __ATOMIC_SEQ_CST);
	for (uint32_t q = 0; q < b->num_qp; q++) {
		dropped += __drain(__ring_mem(b, q, false), b->ring_size);
		dropped += __drain(__ring_mem(b, q, true), b->ring_size);
		vmbus_ring_format(__ring_mem(b, q, false), b->ring_size);
		vmbus_ring_format(__ring_mem(b, q, true), b->ring_size);
	}
	memset(b->mbox, 0, sizeof(*b->mbox));
	b->mbox_seen = 0;
	__attach_rings(b);
	vfbar_ring_doorbell(b);
	return dropped;
}

bool vfbar_was_reset(const struct vfbar *b)
{
	return load_acquire(&((const struct vfbar_hdr *)b->mem)->flr) != b->flr_seen;
}

int vfbar_mbox_call(struct vfbar *b, enum vfbar_op op, uint32_t arg0, uint32_t arg1,
                    const void *data, uint32_t len, void *out, uint32_t outlen, int timeout_ms)
{
	struct vfbar_mbox *m = b->mbox;
	uint32_t seq = b->mbox_seen + 1;
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	if (len > VFBAR_MBOX_DATA)
		return -EMSGSIZE;
	m->req_op = op;
	m->req_arg0 = arg0;
	m->req_arg1 = arg1;
	if (len)
		memcpy(m->req_data, data, len);
	store_release(&m->req_seq, seq);
	b->mbox_seen = seq;
	vfbar_ring_doorbell(b);
	while (load_acquire(&m->resp_seq) != seq) {
		struct pollfd pfd = { .fd = b->efd_vf, .events = POLLIN };
		uint64_t cnt;

		if (util_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, 1) == 1 && read(b->efd_vf, &cnt, sizeof(cnt)) < 0)
			continue;
	}
	int32_t status = READ_ONCE(m->resp_status);
	uint32_t rlen = READ_ONCE(m->resp_len);

	if (status < 0)
		return status;
	if (rlen > VFBAR_MBOX_DATA)
		return -EPROTO;
	if (rlen > outlen)
		rlen = outlen;
	if (rlen)
		memcpy(out, m->resp_data, rlen);
	return (int)rlen;
}

int vfbar_mbox_take(struct vfbar *b, struct vfbar_req *req)
{
	struct vfbar_mbox *m = b->mbox;
	uint32_t seq = load_acquire(&m->req_seq);

	if (seq == b->mbox_seen)
		return 0;
	b->mbox_seen = seq;
	req->seq = seq;
	req->op = (enum vfbar_op)READ_ONCE(m->req_op);
	req->arg0 = READ_ONCE(m->req_arg0);
	req->arg1 = READ_ONCE(m->req_arg1);
	if (req->op < VFBAR_OP_READ_CONFIG || req->op > VFBAR_OP_WRITE_BLOCK ||
	    req->arg1 > VFBAR_MBOX_DATA) {
		vfbar_mbox_reply(b, req, -EINVAL, NULL, 0);
		return -EPROTO;
	}
	if (req->op == VFBAR_OP_WRITE_CONFIG || req->op == VFBAR_OP_WRITE_BLOCK)
		memcpy(req->data, m->req_data, req->arg1);
	return 1;
}

void vfbar_mbox_reply(struct vfbar *b, const struct vfbar_req *req, int status, const void *data,
                      uint32_t len)
{
	struct vfbar_mbox *m = b->mbox;

	if (len > VFBAR_MBOX_DATA)
		len = 0, status = -EMSGSIZE;
	if (len)
		memcpy(m->resp_data, data, len);
	WRITE_ONCE(m->resp_status, status);
	WRITE_ONCE(m->resp_len, len);
	store_release(&m->resp_seq, req->seq);
	vfbar_ring_doorbell(b);
}

void vfbar_invalidate(struct vfbar *b, uint64_t mask)
{
	__atomic_fetch_or(&b->mbox->invalidate, mask, __ATOMIC_RELEASE);
	vfbar_ring_doorbell(b);
}

uint64_t vfbar_take_invalidations(struct vfbar *b)
{
	return __atomic_exchange_n(&b->mbox->invalidate, 0, __ATOMIC_ACQ_REL);
}
