/* Ring buffer unit tests: both sides of one ring in one process, and a
 * hostile producer that writes the shared memory by hand. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/frame.h"
#include "util/util.h"
#include "vmbus/vmbus_ring.h"

#define RSIZE 4096u

struct pair {
	void *mem;
	struct vmbus_ring prod, cons;
	int prod_signals; /* producer -> consumer wake-ups */
	int cons_signals; /* consumer -> producer (room) wake-ups */
	uint8_t buf[1 << 17];
	struct vmbus_rx rx[256];
};

static void sig_to_cons(void *arg)
{
	((struct pair *)arg)->prod_signals++;
}

static void sig_to_prod(void *arg)
{
	((struct pair *)arg)->cons_signals++;
}

/* A fresh ring whose indices both start at @start (free-running). */
static struct pair *pair_new(uint32_t size, uint32_t start)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct vmbus_ring_hdr *h;

	cr_assert(p);
	cr_assert_eq(posix_memalign(&p->mem, 4096, vmbus_ring_mem_size(size)), 0);
	memset(p->mem, 0, vmbus_ring_mem_size(size));
	cr_assert_eq(vmbus_ring_format(p->mem, size), 0);
	h = p->mem;
	h->write_index = h->read_index = start;
	cr_assert_eq(vmbus_ring_attach(&p->prod, p->mem, size, VMBUS_RING_PRODUCER, sig_to_cons, p),
	             0);
	cr_assert_eq(vmbus_ring_attach(&p->cons, p->mem, size, VMBUS_RING_CONSUMER, sig_to_prod, p),
	             0);
	return p;
}

static void pair_free(struct pair *p)
{
	free(p->mem);
	free(p);
}

static int send_frame(struct pair *p, uint32_t len, uint64_t seq)
{
	uint8_t frame[16384];
	struct iovec iov = { frame, len };
	struct vmbus_tx tx = {
		.type = VMBUS_PKT_DATA_INBAND, .trans_id = (uint32_t)seq, .iov = &iov, .iovcnt = 1
	};

	util_frame_fill(frame, len, seq, 7, UTIL_FRAME_FULL);
	return vmbus_ring_write(&p->prod, &tx, 1);
}

static void expect_frame(const struct vmbus_rx *rx, uint32_t len, uint64_t seq)
{
	uint64_t s;
	uint32_t f;

	cr_assert_eq(rx->len, len);
	cr_assert_eq(rx->type, VMBUS_PKT_DATA_INBAND);
	cr_assert_eq(rx->trans_id, (uint32_t)seq);
	cr_assert_eq(util_frame_check(rx->data, rx->len, &s, &f, UTIL_FRAME_FULL), 0);
	cr_assert_eq(s, seq);
}

Test(ring, format_rejects_bad_sizes, .timeout = 10)
{
	static uint8_t mem[VMBUS_RING_HDR_SIZE + 8192];

	cr_assert_eq(vmbus_ring_format(mem, 3000), -EINVAL);
	cr_assert_eq(vmbus_ring_format(mem, 2048), -EINVAL);
	cr_assert_eq(vmbus_ring_format(mem, 8192), 0);
}

Test(ring, empty, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);

	cr_assert_eq(vmbus_ring_avail(&p->cons), 0);
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 8, p->buf, sizeof(p->buf)), 0);
	cr_assert(vmbus_ring_arm(&p->cons), "an empty ring is safe to sleep on");
	pair_free(p);
}

/* Every 8-byte start offset, and free-running indices that cross 2^32. */
Test(ring, wrap_at_every_offset, .timeout = 30)
{
	static const uint32_t lens[] = { 24, 25, 31, 64, 100, 1500, 2000, 4096 - 16 - 8 - 8 };

	for (uint32_t off = 0; off < RSIZE; off += 8) {
		for (int base = 0; base < 2; base++) {
			uint32_t start = (base ? 0xfffff000u : 0) + off;

			for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
				struct pair *p = pair_new(RSIZE, start);

				cr_assert_eq(send_frame(p, lens[k], off + k), 1);
				cr_assert_eq(
				    vmbus_ring_read(&p->cons, p->rx, 8, p->buf, sizeof(p->buf)), 1,
				    "off %u len %u", off, lens[k]);
				expect_frame(&p->rx[0], lens[k], off + k);
				cr_assert_eq(vmbus_ring_avail(&p->cons), 0);
				pair_free(p);
			}
		}
	}
}

/* A stream that keeps wrapping: sizes chosen so packets straddle the end. */
Test(ring, wrap_stream, .timeout = 30)
{
	struct pair *p = pair_new(RSIZE, 0xffffff00u);
	uint64_t sent = 0, got = 0;

	while (got < 20000) {
		while (send_frame(p, 24 + (uint32_t)(sent * 37 % 900), sent) == 1)
			sent++;
		int n = vmbus_ring_read(&p->cons, p->rx, 3, p->buf, sizeof(p->buf));

		cr_assert_gt(n, 0);
		for (int i = 0; i < n; i++, got++)
			expect_frame(&p->rx[i], 24 + (uint32_t)(got * 37 % 900), got);
	}
	pair_free(p);
}

Test(ring, exactly_full, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	/* 64-byte payload: 16 + 64 + 8 = 88 bytes; make packets that tile 4096 exactly:
	 * 4096 / 8 = 512 words; 16 packets of 256 bytes = 16 + 232 + 8. */
	uint32_t len = 256 - 16 - 8;

	cr_assert_eq(vmbus_pkt_space(0, len), 256);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(send_frame(p, len, (uint64_t)i), 1, "packet %d", i);
	cr_assert_eq(vmbus_ring_avail(&p->cons), RSIZE, "used == size: exactly full");
	cr_assert_eq(send_frame(p, 24, 99), 0, "no room in a full ring");
	cr_assert_eq(p->prod.full_events, 1);
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 1, p->buf, sizeof(p->buf)), 1);
	expect_frame(&p->rx[0], len, 0);
	cr_assert_eq(send_frame(p, len, 16), 1, "room again after one read");
	for (int i = 1; i <= 16; i++) {
		cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 1, p->buf, sizeof(p->buf)), 1);
		expect_frame(&p->rx[0], len, (uint64_t)i);
	}
	cr_assert_eq(vmbus_ring_avail(&p->cons), 0);
	pair_free(p);
}

Test(ring, too_big_and_no_buffer, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);

	cr_assert_eq(send_frame(p, RSIZE, 1), -EMSGSIZE);
	cr_assert_eq(send_frame(p, 1000, 1), 1);
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 1, p->buf, 100), -ENOBUFS);
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 1, p->buf, sizeof(p->buf)), 1,
	             "nothing was lost by the short buffer");
	pair_free(p);
}

Test(ring, extension_bytes, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	uint64_t ext[3] = { 1, 2, 3 };
	char payload[] = "hello";
	struct iovec iov[2] = { { payload, 2 }, { payload + 2, 3 } };
	struct vmbus_tx tx = { .type = VMBUS_PKT_DATA_XFER_PAGES,
		               .flags = 1,
		               .trans_id = 42,
		               .ext = ext,
		               .ext_len = sizeof(ext),
		               .iov = iov,
		               .iovcnt = 2 };

	cr_assert_eq(vmbus_ring_write(&p->prod, &tx, 1), 1);
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 1, p->buf, sizeof(p->buf)), 1);
	cr_assert_eq(p->rx[0].ext_len, sizeof(ext));
	cr_assert_eq(memcmp(p->rx[0].ext, ext, sizeof(ext)), 0);
	cr_assert_eq(p->rx[0].len, 5);
	cr_assert_eq(memcmp(p->rx[0].data, "hello", 5), 0);
	cr_assert_eq(p->rx[0].trans_id, 42);
	cr_assert_eq(p->rx[0].flags, 1);
	tx.ext_len = 12; /* not a multiple of 8 */
	cr_assert_eq(vmbus_ring_write(&p->prod, &tx, 1), -EINVAL);
	pair_free(p);
}

static int write_burst(struct pair *p, unsigned n, uint32_t len, uint64_t seq0)
{
	static uint8_t frames[64][256];
	struct iovec iov[64];
	struct vmbus_tx tx[64];

	for (unsigned i = 0; i < n; i++) {
		util_frame_fill(frames[i], len, seq0 + i, 0, UTIL_FRAME_QUICK);
		iov[i] = (struct iovec){ frames[i], len };
		tx[i] =
		    (struct vmbus_tx){ .type = VMBUS_PKT_DATA_INBAND, .iov = &iov[i], .iovcnt = 1 };
	}
	return vmbus_ring_write(&p->prod, tx, n);
}

Test(ring, one_signal_per_burst, .timeout = 10)
{
	struct pair *p = pair_new(16384, 0);

	cr_assert(vmbus_ring_arm(&p->cons));
	cr_assert_eq(write_burst(p, 32, 64, 0), 32);
	cr_assert_eq(p->prod_signals, 1, "empty -> non-empty: exactly one signal for 32 packets");
	cr_assert_eq(write_burst(p, 32, 64, 32), 32);
	cr_assert_eq(p->prod_signals, 1, "ring was not empty: no signal");
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 256, p->buf, sizeof(p->buf)), 64);
	cr_assert(vmbus_ring_arm(&p->cons));
	cr_assert_eq(write_burst(p, 32, 64, 64), 32);
	cr_assert_eq(p->prod_signals, 2);
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 256, p->buf, sizeof(p->buf)), 32);
	vmbus_ring_disarm(&p->cons); /* busy polling: no signals wanted */
	cr_assert_eq(write_burst(p, 32, 64, 96), 32);
	cr_assert_eq(p->prod_signals, 2, "a busy consumer is not signalled");
	cr_assert_eq(p->cons_signals, 0, "nobody waited for room");
	pair_free(p);
}

Test(ring, arm_sees_late_data, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);

	cr_assert_eq(write_burst(p, 1, 64, 0), 1);
	cr_assert_not(vmbus_ring_arm(&p->cons), "data is there: do not sleep");
	cr_assert_eq(p->cons.hdr->interrupt_mask, 1, "masked again");
	pair_free(p);
}

Test(ring, pending_send_wakeup, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	int n = 0;

	/* 64-byte frames take 88 bytes: fill until the writer finds no room. */
	while (write_burst(p, 1, 64, (uint64_t)n) == 1)
		n++;
	cr_assert_eq(n, RSIZE / 88);
	cr_assert_eq(p->cons.hdr->pending_send_sz, 88, "a write that found no room asks for it");
	cr_assert(vmbus_ring_wait_room(&p->prod, 1000), "no room for 1000 bytes: sleep");
	cr_assert_eq(p->cons.hdr->pending_send_sz, 1000);
	uint32_t free0 = RSIZE - (uint32_t)n * 88;
	int reads = 0;

	while (free0 + (uint32_t)reads * 88 < 1000) {
		cr_assert_eq(p->cons_signals, 0, "no signal before the room is there");
		cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 1, p->buf, sizeof(p->buf)), 1);
		reads++;
	}
	cr_assert_eq(p->cons_signals, 1, "one signal when free space crosses pending_send_sz");
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 1, p->buf, sizeof(p->buf)), 1);
	cr_assert_eq(p->cons_signals, 1, "and only one");
	cr_assert(vmbus_ring_has_room(&p->prod, 1000));
	cr_assert_eq(write_burst(p, 1, 64, 1000), 1);
	cr_assert_eq(p->cons.hdr->pending_send_sz, 0, "a successful write clears the request");
	pair_free(p);
}

/* ---- hostile producer: the consumer must report, survive, and lose nothing
 * that was valid before the bad packet. ---- */

struct raw {
	uint16_t type, flags;
	uint32_t len;
	uint16_t offset;
	uint8_t pad, rsvd;
	uint32_t trans_id;
};

static void poke(struct pair *p, uint32_t idx, const void *src, uint32_t n)
{
	uint8_t *data = (uint8_t *)p->mem + VMBUS_RING_HDR_SIZE;

	for (uint32_t i = 0; i < n; i++)
		data[(idx + i) & (RSIZE - 1)] = ((const uint8_t *)src)[i];
}

/* One good packet through the API, then a hand-made one at its end. */
static void hostile(struct pair *p, struct raw d, uint64_t trailer, uint32_t publish_extra,
                    const char *field)
{
	uint32_t w;
	int n;

	cr_assert_eq(write_burst(p, 1, 64, 5), 1);
	w = p->prod.idx;
	poke(p, w, &d, sizeof(d));
	if (d.len < RSIZE - 8)
		poke(p, w + (d.len & ~7u), &trailer, 8);
	__atomic_store_n(&p->prod.hdr->write_index, w + publish_extra, __ATOMIC_RELEASE);
	n = vmbus_ring_read(&p->cons, p->rx, 8, p->buf, sizeof(p->buf));
	cr_assert_eq(n, 1, "the valid packet before the bad one is delivered");
	cr_assert_eq(p->rx[0].len, 64);
	cr_assert(strstr(vmbus_ring_error(&p->cons), field), "error '%s' should name %s",
	          vmbus_ring_error(&p->cons), field);
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 8, p->buf, sizeof(p->buf)), -EPROTO);
	cr_assert_eq(vmbus_ring_avail(&p->cons), -EPROTO);
}

Test(ring_hostile, write_index_past_data_area, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);

	p->prod.hdr->write_index = RSIZE + 8;
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 8, p->buf, sizeof(p->buf)), -EPROTO);
	cr_assert(strstr(vmbus_ring_error(&p->cons), "write_index"));
	pair_free(p);
}

Test(ring_hostile, write_index_unaligned, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);

	p->prod.hdr->write_index = 12;
	cr_assert_eq(vmbus_ring_avail(&p->cons), -EPROTO);
	cr_assert(strstr(vmbus_ring_error(&p->cons), "write_index"));
	pair_free(p);
}

Test(ring_hostile, write_index_backwards, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 1024);

	cr_assert_eq(write_burst(p, 2, 64, 0), 2);
	cr_assert_eq(vmbus_ring_avail(&p->cons), 176);
	p->prod.hdr->write_index = 1024 + 88;
	cr_assert_eq(vmbus_ring_avail(&p->cons), -EPROTO, "a write index may not move back");
	pair_free(p);
}

Test(ring_hostile, desc_len_larger_than_ring, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct raw d = { .type = 6, .len = RSIZE * 4, .offset = 16 };

	hostile(p, d, 0, 24, "desc.len");
	cr_assert(strstr(vmbus_ring_error(&p->cons), "larger than the ring"), "%s",
	          vmbus_ring_error(&p->cons));
	pair_free(p);
}

Test(ring_hostile, desc_len_not_aligned, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct raw d = { .type = 6, .len = 37, .offset = 16 };

	hostile(p, d, 0, 48, "not 8-aligned");
	pair_free(p);
}

Test(ring_hostile, desc_len_past_write_index, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct raw d = { .type = 6, .len = 512, .offset = 16 };

	hostile(p, d, 0, 64, "runs past write_index");
	pair_free(p);
}

Test(ring_hostile, data_offset_smaller_than_descriptor, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct raw d = { .type = 6, .len = 64, .offset = 8 };

	hostile(p, d, (uint64_t)88 << 32 | 64, 72, "desc.offset");
	pair_free(p);
}

Test(ring_hostile, data_offset_past_length, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct raw d = { .type = 6, .len = 64, .offset = 72 };

	hostile(p, d, (uint64_t)88 << 32 | 64, 72, "desc.offset");
	pair_free(p);
}

Test(ring_hostile, pad_too_large, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct raw d = { .type = 6, .len = 64, .offset = 16, .pad = 9 };

	hostile(p, d, (uint64_t)88 << 32 | 64, 72, "desc.pad");
	pair_free(p);
}

Test(ring_hostile, trailer_disagrees, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct raw d = { .type = 6, .len = 64, .offset = 16 };

	hostile(p, d, (uint64_t)4242 << 32 | 64, 72, "trailer");
	pair_free(p);
}

Test(ring_hostile, partial_packet, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct raw d = { .type = 6, .len = 64, .offset = 16 };

	hostile(p, d, 0, 16, "partial packet");
	pair_free(p);
}

Test(ring_hostile, read_index_scribbled, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	int n = 0;

	while (write_burst(p, 1, 64, (uint64_t)n) == 1)
		n++;
	p->cons.hdr->read_index = p->prod.idx + 4096; /* ahead of the write index */
	cr_assert_eq(write_burst(p, 1, 64, 0), -EPROTO);
	cr_assert(strstr(vmbus_ring_error(&p->prod), "read_index"));
	pair_free(p);
}

Test(ring_hostile, bad_header_on_attach, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct vmbus_ring r;

	p->prod.hdr->magic ^= 1;
	cr_assert_eq(vmbus_ring_attach(&r, p->mem, RSIZE, VMBUS_RING_CONSUMER, NULL, NULL),
	             -EPROTO);
	cr_assert(strstr(vmbus_ring_error(&r), "magic"));
	p->prod.hdr->magic ^= 1;
	p->prod.hdr->version = 99;
	cr_assert_eq(vmbus_ring_attach(&r, p->mem, RSIZE, VMBUS_RING_CONSUMER, NULL, NULL),
	             -EPROTO);
	cr_assert(strstr(vmbus_ring_error(&r), "version"));
	p->prod.hdr->version = VMBUS_RING_VERSION;
	p->prod.hdr->size = RSIZE * 2;
	cr_assert_eq(vmbus_ring_attach(&r, p->mem, RSIZE, VMBUS_RING_CONSUMER, NULL, NULL),
	             -EPROTO);
	cr_assert(strstr(vmbus_ring_error(&r), "size"));
	pair_free(p);
}

/* vmbus_ring_peek (a trusted producer): bodies in place unless they wrap,
 * nothing released until vmbus_ring_release, the producer then has room. */
Test(ring, peek_in_place_then_release, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	const uint8_t *lo = (const uint8_t *)p->mem + VMBUS_RING_HDR_SIZE, *hi = lo + RSIZE;
	uint32_t next;
	uint64_t seq = 0;
	int n;

	/* fill the ring close to its end, read it away: the next frames wrap */
	for (; send_frame(p, 1000, seq) == 1; seq++)
		;
	n = vmbus_ring_read(&p->cons, p->rx, 256, p->buf, sizeof(p->buf));
	cr_assert_eq((uint64_t)n, seq);
	cr_assert_eq(send_frame(p, 1000, seq), 1);
	cr_assert_eq(send_frame(p, 1000, seq + 1), 1);
	cr_assert_eq(send_frame(p, 1000, seq + 2), 1);
	n = vmbus_ring_peek(&p->cons, p->rx, 8, p->buf, sizeof(p->buf), &next);
	cr_assert_eq(n, 3);
	for (int i = 0; i < 3; i++) {
		bool in_ring = p->rx[i].data >= lo && p->rx[i].data < hi;
		bool in_buf = p->rx[i].data >= p->buf && p->rx[i].data < p->buf + sizeof(p->buf);

		expect_frame(&p->rx[i], 1000, seq + (uint64_t)i);
		cr_assert(in_ring || in_buf);
	}
	cr_assert(p->rx[0].data >= lo && p->rx[0].data < hi, "a contiguous frame stays in place");
	/* not released: the producer has no room for what was taken */
	cr_assert_eq(send_frame(p, 1000, seq + 3), 1);
	cr_assert_eq(send_frame(p, 1000, seq + 4), 0, "the peeked frames still hold their space");
	vmbus_ring_release(&p->cons, next);
	cr_assert_eq(send_frame(p, 1000, seq + 4), 1);
	n = vmbus_ring_peek(&p->cons, p->rx, 8, p->buf, sizeof(p->buf), &next);
	cr_assert_eq(n, 2);
	expect_frame(&p->rx[0], 1000, seq + 3);
	expect_frame(&p->rx[1], 1000, seq + 4);
	vmbus_ring_release(&p->cons, next);
	cr_assert_eq(vmbus_ring_avail(&p->cons), 0);
	vmbus_ring_release(&p->cons, next + 4096); /* beyond what was published: ignored */
	cr_assert_eq(vmbus_ring_avail(&p->cons), 0);
	pair_free(p);
}

/* @len bytes of @src into bytes [@at, @at + @len) of a reserved slot,
 * through its iovecs (as readv would). */
static void slot_put(const struct vmbus_slot *s, uint32_t at, const uint8_t *src, uint32_t len)
{
	struct iovec v[2];
	unsigned int k = vmbus_slot_iov(s, at, len, v);

	for (unsigned int i = 0; i < k; src += v[i].iov_len, i++)
		memcpy(v[i].iov_base, src, v[i].iov_len);
}

/* In place: a reserved slot's extension bytes, then its body. */
static void fill_slot(const struct vmbus_slot *s, const uint8_t *ext, uint32_t ext_len,
                      const uint8_t *body, uint32_t len)
{
	slot_put(s, 0, ext, ext_len);
	slot_put(s, ext_len, body, len);
}

/* Every start offset (the region wraps at each place in turn) and body
 * lengths with every padding: the consumer reads what vmbus_ring_write would
 * have given it; nothing shows before the publish. */
Test(ring, in_place_at_every_offset, .timeout = 30)
{
	static const uint32_t lens[] = { UTIL_FRAME_MIN, 60, 61, 63, 1500, 2000 };
	uint8_t ext[16], body[2048];

	for (unsigned int i = 0; i < sizeof(ext); i++)
		ext[i] = (uint8_t)(0xa0 + i);
	for (uint32_t off = 0; off < RSIZE; off += 8) {
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			struct pair *p = pair_new(RSIZE, 0xfffff000u + off);
			struct vmbus_slot s;

			cr_assert(vmbus_ring_arm(&p->cons)); /* asleep: the producer signals */
			util_frame_fill(body, lens[k], off + k, 7, UTIL_FRAME_FULL);
			cr_assert_eq(vmbus_ring_reserve(&p->prod, sizeof(ext), 2048, &s), 1);
			cr_assert_eq(s.iov[0].iov_len + s.iov[1].iov_len, sizeof(ext) + 2048);
			fill_slot(&s, ext, sizeof(ext), body, lens[k]);
			vmbus_ring_commit(&p->prod, &s, VMBUS_PKT_DATA_INBAND, lens[k]);
			cr_assert_eq(vmbus_ring_avail(&p->cons), 0, "seen before the publish");
			vmbus_ring_publish(&p->prod);
			cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 8, p->buf, sizeof(p->buf)), 1,
			             "off %u len %u: %s", off, lens[k], vmbus_ring_error(&p->cons));
			cr_assert_eq(p->rx[0].ext_len, sizeof(ext));
			cr_assert_eq(memcmp(p->rx[0].ext, ext, sizeof(ext)), 0);
			cr_assert_eq(p->rx[0].len, lens[k]);
			cr_assert_eq(memcmp(p->rx[0].data, body, lens[k]), 0);
			cr_assert_eq(p->prod_signals, 1, "one signal: the ring was empty");
			pair_free(p);
		}
	}
}

/* A slot left uncommitted costs nothing; several commits go out with one
 * index store and one signal; no room gives 0 and asks for a wake-up. */
Test(ring, in_place_abandon_batch_and_full, .timeout = 10)
{
	struct pair *p = pair_new(RSIZE, 0);
	struct vmbus_slot s;
	uint8_t ext[8] = { 0 }, body[1024];

	cr_assert(vmbus_ring_arm(&p->cons)); /* asleep: the producer signals */
	cr_assert_eq(vmbus_ring_reserve(&p->prod, 8, 1024, &s), 1);
	fill_slot(&s, ext, 8, body, 100); /* then thought better of */
	for (uint64_t seq = 0; seq < 3; seq++) {
		util_frame_fill(body, 200, seq, 7, UTIL_FRAME_FULL);
		cr_assert_eq(vmbus_ring_reserve(&p->prod, 8, 1024, &s), 1);
		fill_slot(&s, ext, 8, body, 200);
		vmbus_ring_commit(&p->prod, &s, VMBUS_PKT_DATA_INBAND, 200);
	}
	vmbus_ring_publish(&p->prod);
	cr_assert_eq(p->prod_signals, 1);
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 8, p->buf, sizeof(p->buf)), 3);
	for (uint64_t seq = 0; seq < 3; seq++)
		cr_assert_eq(util_frame_check(p->rx[seq].data, p->rx[seq].len, &(uint64_t){ 0 },
		                              &(uint32_t){ 0 }, UTIL_FRAME_FULL),
		             0);
	/* too big ever; then fill until no room */
	cr_assert_eq(vmbus_ring_reserve(&p->prod, 8, RSIZE, &s), -EMSGSIZE);
	cr_assert_eq(vmbus_ring_reserve(&p->prod, 12, 100, &s), -EINVAL);
	int n = 0;

	while (vmbus_ring_reserve(&p->prod, 8, 1024, &s) == 1) {
		vmbus_ring_commit(&p->prod, &s, VMBUS_PKT_DATA_INBAND, 1000);
		n++;
	}
	cr_assert_eq(n, 3, "%d packets of 1 KiB in a 4 KiB ring", n);
	cr_assert(p->prod.hdr->pending_send_sz > 0, "no room and no wake-up asked for");
	vmbus_ring_publish(&p->prod); /* what it did write: the request was for before */
	cr_assert(vmbus_ring_wait_room(&p->prod, vmbus_pkt_space(8, 1024)), "room already?");
	cr_assert_eq(vmbus_ring_read(&p->cons, p->rx, 8, p->buf, sizeof(p->buf)), 3);
	cr_assert_eq(p->cons_signals, 1, "the consumer made room and said so");
	pair_free(p);
}

/* util_copy_small (the ring's and the datapath's copy of headers and small
 * frames): every length up to past its inline cases, at odd alignments,
 * exactly @n bytes written, the end pointer returned. */
Test(util, copy_small_every_length, .timeout = 10)
{
	uint8_t src[160], dst[160];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	for (size_t n = 0; n <= 100; n++)
		for (size_t a = 0; a < 3; a++) {
			memset(dst, 0xee, sizeof(dst));
			cr_assert_eq(util_copy_small(dst + a, src + 2 * a, n), dst + a + n);
			cr_assert_eq(memcmp(dst + a, src + 2 * a, n), 0, "n %zu a %zu", n, a);
			for (size_t i = 0; i < sizeof(dst); i++)
				if (i < a || i >= a + n)
					cr_assert_eq(dst[i], 0xee, "n %zu: byte %zu written", n, i);
		}
}
