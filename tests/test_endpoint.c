/* The guest traffic endpoint: what the sink concludes from what it gets. */
#include <criterion/criterion.h>
#include <string.h>

#include "guest/endpoint.h"

static struct ep *mk_mode(uint32_t size, uint32_t flows, enum util_frame_mode mode)
{
	struct ep_config c = { .src_mac = { 2, 0, 0, 0, 0, 1 },
		               .dst_mac = { 2, 0, 0, 0, 0, 2 },
		               .size = size,
		               .flows = flows,
		               .mode = mode };
	struct ep *ep = ep_create(&c);

	cr_assert(ep);
	return ep;
}

static struct ep *mk(uint32_t size, uint32_t flows)
{
	return mk_mode(size, flows, UTIL_FRAME_FULL);
}

Test(endpoint, rejects_bad_config, .timeout = 10)
{
	struct ep_config c = { .size = 20, .flows = 1 };

	cr_assert_null(ep_create(&c));
	c.size = 64;
	c.flows = 0;
	cr_assert_null(ep_create(&c));
}

Test(endpoint, in_order_stream_is_clean, .timeout = 10)
{
	static uint8_t buf[100][256];
	struct ep *tx = mk(256, 3), *rx = mk(256, 3);
	struct ep_stats st;

	ep_generate(tx, buf[0], 256, 100, 1000);
	cr_assert_eq(memcmp(buf[0], "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x88\xb5", 14), 0);
	for (int i = 0; i < 100; i++)
		ep_receive(rx, buf[i], 256, 1000 + 500);
	ep_get_stats(rx, &st);
	cr_assert_eq(st.rx_frames, 100);
	cr_assert_eq(st.rx_bytes, 25600);
	cr_assert_eq(st.rx_lost + st.rx_reordered + st.rx_dup + st.rx_bad + st.rx_late, 0);
	cr_assert_eq(ep_latency(rx, 50), 448, "500 ns falls in the [448, 512) bucket");
	ep_get_stats(tx, &st);
	cr_assert_eq(st.tx_frames, 100);
	ep_destroy(tx);
	ep_destroy(rx);
}

/* The same stream in both modes: QUICK (the benchmarks' mode, with the
 * receiver's in-order fast path) checks header and tail only, so the
 * corruption hits the tail there and the body in FULL mode. FULL feeds the
 * receiver frame by frame, QUICK in one burst. */
static void loss_reorder_duplicate_corruption(enum util_frame_mode mode, unsigned int flip)
{
	static uint8_t buf[10][128];
	struct ep *tx = mk_mode(128, 1, mode), *rx = mk_mode(128, 1, mode);
	struct ep_stats st;
	static const int order[] = { 0, 1, 3, 2, 2, 5, 6, 9 }; /* 4, 7, 8 lost; 2 late + dup */
	struct port_pkt pk[11];
	unsigned int n = 0;

	ep_generate(tx, buf[0], 128, 10, 0);
	buf[4][flip] ^= 1;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		pk[n++] = (struct port_pkt){ .data = buf[order[i]], .len = 128 };
	pk[n++] = (struct port_pkt){ .data = buf[4], .len = 128 };
	pk[n++] = (struct port_pkt){ .data = buf[7], .len = 64 }; /* truncated */
	pk[n++] = (struct port_pkt){
		.data = (uint8_t *)"not a frame of ours at all, too short & wrong type.........",
		.len = 60
	};
	if (mode == UTIL_FRAME_QUICK)
		ep_receive_burst(rx, pk, n, 10);
	else
		for (unsigned int i = 0; i < n; i++)
			ep_receive(rx, pk[i].data, pk[i].len, 10);
	ep_get_stats(rx, &st);
	cr_assert_eq(st.rx_frames, 7);
	cr_assert_eq(st.rx_bytes, 7 * 128);
	cr_assert_eq(st.rx_reordered, 1);
	cr_assert_eq(st.rx_dup, 1);
	cr_assert_eq(st.rx_lost, 3);
	cr_assert_eq(st.rx_bad, 2);
	cr_assert_eq(st.rx_foreign, 1);
	cr_assert_eq(ep_latency(rx, 50), 10, "sent at 0, received at 10");
	ep_get_stats(tx, &st);
	cr_assert_eq(st.tx_frames, 10);
	cr_assert_eq(st.tx_bytes, 10 * 128);
	ep_destroy(tx);
	ep_destroy(rx);
}

Test(endpoint, loss_reorder_duplicate_corruption, .timeout = 10)
{
	loss_reorder_duplicate_corruption(UTIL_FRAME_FULL, 100);
}

Test(endpoint, loss_reorder_duplicate_corruption_quick, .timeout = 10)
{
	loss_reorder_duplicate_corruption(UTIL_FRAME_QUICK, 124);
}

/* QUICK mode: a frame the fast path would take but for one field. */
Test(endpoint, quick_mode_checks_every_field, .timeout = 10)
{
	static uint8_t buf[6][128];
	struct ep *tx = mk_mode(128, 2, UTIL_FRAME_QUICK), *rx = mk_mode(128, 2, UTIL_FRAME_QUICK);
	struct ep_stats st;

	ep_generate(tx, buf[0], 128, 6, 0); /* flows 0, 1, 0, 1, 0, 1 */
	buf[0][13] ^= 1;                    /* ethertype */
	buf[1][32] ^= 1;                    /* the util_frame's length */
	buf[2][36] = 7;                     /* flow 7 of 2 */
	buf[3][24] ^= 1;                    /* sequence number: the tail disagrees */
	for (int i = 0; i < 6; i++)
		ep_receive(rx, buf[i], 128, 0);
	ep_get_stats(rx, &st);
	cr_assert_eq(st.rx_foreign, 2, "ethertype, flow");
	cr_assert_eq(st.rx_bad, 2, "length, sequence number");
	cr_assert_eq(st.rx_frames, 2);
	cr_assert_eq(st.rx_lost, 4, "each flow saw only its frame 2 of 0..2");
	ep_destroy(tx);
	ep_destroy(rx);
}

Test(endpoint, window_and_late_frames, .timeout = 10)
{
	static uint8_t first[128], buf[128];
	struct ep *tx = mk(128, 1), *rx = mk(128, 1);
	struct ep_stats st;

	ep_generate(tx, first, 128, 1, 0);
	for (int i = 1; i < 3000; i++) {
		ep_generate(tx, buf, 128, 1, 0);
		ep_receive(rx, buf, 128, 0);
	}
	ep_receive(rx, first, 128, 0); /* 2999 behind: older than the window */
	ep_get_stats(rx, &st);
	cr_assert_eq(st.rx_late, 1);
	cr_assert_eq(st.rx_lost, 0);
	cr_assert_eq(st.rx_frames, 3000);
	ep_destroy(tx);
	ep_destroy(rx);
}
