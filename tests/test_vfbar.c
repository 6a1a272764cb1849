/* The VF BAR: queue pairs and the PF/VF mailbox between two processes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "nic/vfbar.h"
#include "util/frame.h"

static struct vfbar *g_bar;
static char g_err[256];

static int vf_side(void *arg)
{
	struct vfbar *b = vfbar_attach(dup(g_bar->memfd), dup(g_bar->efd_nic), dup(g_bar->efd_vf),
	                               g_err, sizeof(g_err));
	uint8_t frame[256], out[64];
	struct vfbar_ext ext = { .vnet = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
		                           .gso_size = 1400 } };
	struct iovec iov = { frame, sizeof(frame) };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND,
		               .ext = &ext,
		               .ext_len = sizeof(ext),
		               .iov = &iov,
		               .iovcnt = 1 };

	if (!b)
		return 10;
	for (int i = 0; i < 100; i++) {
		util_frame_fill(frame, sizeof(frame), (uint64_t)i, 0, UTIL_FRAME_FULL);
		if (vmbus_ring_write(&b->tx[i % b->num_qp], &tx, 1) != 1)
			return 11;
	}
	/* Backchannel: read block 1 (the MAC). */
	int n = vfbar_mbox_call(b, VFBAR_OP_READ_BLOCK, 1, sizeof(out), NULL, 0, out, sizeof(out),
	                        5000);
	if (n != 6 || memcmp(out, "\x02\x11\x22\x33\x44\x55", 6))
		return 12;
	n = vfbar_mbox_call(b, VFBAR_OP_READ_BLOCK, 99, 8, NULL, 0, out, sizeof(out), 5000);
	if (n != -ENOENT)
		return 13;
	/* Wait for the invalidation of block 1. */
	for (int i = 0; i < 5000; i++) {
		uint64_t bits = vfbar_take_invalidations(b);

		if (bits)
			return bits == 2 ? 0 : 14;
		usleep(1000);
	}
	return 15;
}

Test(vfbar, queue_pairs_and_mailbox_between_processes, .timeout = 20)
{
	struct vfbar_req req;
	static uint8_t buf[1 << 16];
	struct vmbus_rx rx[64];
	int frames = 0, calls = 0;
	pid_t pid;

	g_bar = vfbar_create(2, 65536);
	cr_assert(g_bar);
	pid = th_spawn(vf_side, NULL);
	while (calls < 2) {
		for (uint32_t q = 0; q < g_bar->num_qp; q++) {
			int n = vmbus_ring_read(&g_bar->tx[q], rx, 64, buf, sizeof(buf));

			cr_assert_geq(n, 0);
			for (int i = 0; i < n; i++, frames++) {
				cr_assert_eq(rx[i].ext_len, sizeof(struct vfbar_ext));
				cr_assert_eq(((const struct vfbar_ext *)rx[i].ext)->vnet.gso_size,
				             1400);
			}
		}
		int t = vfbar_mbox_take(g_bar, &req);

		cr_assert_geq(t, 0);
		if (t == 1) {
			cr_assert_eq(req.op, VFBAR_OP_READ_BLOCK);
			if (req.arg0 == 1)
				vfbar_mbox_reply(g_bar, &req, 0, "\x02\x11\x22\x33\x44\x55", 6);
			else
				vfbar_mbox_reply(g_bar, &req, -ENOENT, NULL, 0);
			calls++;
		}
		usleep(100);
	}
	cr_assert_eq(frames, 100, "frames sent before the first call are all there");
	vfbar_invalidate(g_bar, 2);
	cr_assert_eq(th_wait(pid), 0);
	vfbar_destroy(g_bar);
}

Test(vfbar, flr_counts_queued_frames_as_dropped, .timeout = 10)
{
	struct vfbar *nic = vfbar_create(1, 16384);
	struct vfbar *vf = vfbar_attach(dup(nic->memfd), dup(nic->efd_nic), dup(nic->efd_vf), g_err,
	                                sizeof(g_err));
	uint8_t f[64] = { 0 };
	struct iovec iov = { f, sizeof(f) };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_INBAND, .iov = &iov, .iovcnt = 1 };

	cr_assert(vf, "%s", g_err);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(vmbus_ring_write(&vf->tx[0], &tx, 1), 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(vmbus_ring_write(&nic->rx[0], &tx, 1), 1);
	cr_assert_eq(vfbar_reset_queues(nic), 10);
	cr_assert_eq(vmbus_ring_avail(&nic->tx[0]), 0, "queues are empty after FLR");
	vfbar_destroy(vf);
	vfbar_destroy(nic);
}

Test(vfbar, attach_rejects_bad_bars, .timeout = 10)
{
	struct vfbar *nic = vfbar_create(1, 16384);
	int fd = memfd_create("plain", 0);

	cr_assert(nic);
	cr_assert_eq(ftruncate(fd, 65536), 0);
	cr_assert_null(vfbar_attach(fd, dup(nic->efd_nic), dup(nic->efd_vf), g_err, sizeof(g_err)));
	cr_assert(strstr(g_err, "sealed"), "%s", g_err);
	((struct vfbar_hdr *)nic->mem)->magic = 1;
	cr_assert_null(vfbar_attach(dup(nic->memfd), dup(nic->efd_nic), dup(nic->efd_vf), g_err,
	                            sizeof(g_err)));
	cr_assert(strstr(g_err, "magic"), "%s", g_err);
	((struct vfbar_hdr *)nic->mem)->magic = VFBAR_MAGIC;
	((struct vfbar_hdr *)nic->mem)->num_qp = 4;
	cr_assert_null(vfbar_attach(dup(nic->memfd), dup(nic->efd_nic), dup(nic->efd_vf), g_err,
	                            sizeof(g_err)));
	cr_assert(strstr(g_err, "layout"), "%s", g_err);
	vfbar_destroy(nic);
}

Test(vfbar, hostile_mailbox_request, .timeout = 10)
{
	struct vfbar *nic = vfbar_create(1, 16384);
	struct vfbar_req req;

	nic->mbox->req_op = 77;
	nic->mbox->req_seq = 1;
	cr_assert_eq(vfbar_mbox_take(nic, &req), -EPROTO);
	cr_assert_eq(nic->mbox->resp_status, -EINVAL);
	cr_assert_eq(nic->mbox->resp_seq, 1);
	nic->mbox->req_op = VFBAR_OP_WRITE_BLOCK;
	nic->mbox->req_arg1 = 1u << 30;
	nic->mbox->req_seq = 2;
	cr_assert_eq(vfbar_mbox_take(nic, &req), -EPROTO, "a length past the mailbox");
	cr_assert_eq(vfbar_mbox_take(nic, &req), 0, "nothing new");
	vfbar_destroy(nic);
}
