/* bench_ep — the guest side every path benchmark shares: the built-in
 * endpoint generating frames into a device (a VF, a NetVSC adapter) and
 * checking what comes back, with a bounded number of frames in flight. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "guest/endpoint.h"
#include "util/util.h"

#define INFLIGHT_MAX 4096u /* plus a burst: see netvsp.h, "Back-pressure" */

int bench_ep_loop(const struct bench_opts *o, const uint8_t src[6], const uint8_t dst[6],
                  const struct bench_dev *dev, struct bench_ep_result *res)
{
	struct ep_config cfg = { .size = o->size, .flows = 1, .mode = UTIL_FRAME_QUICK };
	uint8_t *frames = malloc((size_t)o->burst * o->size);
	struct port_pkt *tx = calloc(o->burst, sizeof(*tx)), rx[PORT_BURST];
	struct ep_stats st;
	struct ep *ep;
	uint64_t t0, end;
	unsigned int pending = 0, next = 0; /* frames generated and not yet accepted */
	unsigned int inflight =
	    dev->inflight && dev->inflight < INFLIGHT_MAX ? dev->inflight : INFLIGHT_MAX;

	memcpy(cfg.src_mac, src, 6);
	memcpy(cfg.dst_mac, dst, 6);
	ep = ep_create(&cfg);
	if (!ep || !frames || !tx)
		return -1;
	for (unsigned int i = 0; i < o->burst; i++)
		tx[i] = (struct port_pkt){ .data = frames + (size_t)i * o->size, .len = o->size };
	t0 = util_now_ns();
	end = t0 + (uint64_t)(o->seconds * 1e9);
	/* The clock is read once per generated burst (its send-time stamp) and
	 * every 64 idle turns: in a VM a clock read can cost more than a frame. */
	for (uint64_t now = t0, turns = 0; now < end; turns++) {
		ep_get_stats(ep, &st);
		if (!pending && st.tx_frames - st.rx_frames < inflight) {
			now = util_now_ns();
			ep_generate(ep, frames, o->size, o->burst, now);
			pending = o->burst;
			next = 0;
		} else if (turns % 64 == 0) {
			now = util_now_ns();
		}
		if (pending) {
			int r = dev->tx(dev->dev, tx + next, pending);

			if (r < 0)
				return -1;
			next += (unsigned int)r;
			pending -= (unsigned int)r;
		}
		int n = dev->rx(dev->dev, rx, PORT_BURST);

		if (n < 0)
			return -1;
		ep_receive_burst(ep, rx, (unsigned int)n, 0);
	}
	ep_get_stats(ep, &st);
	res->rx = st.rx_frames;
	res->lost = st.rx_reordered + st.rx_dup;
	res->bad = st.rx_bad;
	res->secs = (double)(util_now_ns() - t0) / 1e9;
	ep_destroy(ep);
	free(frames);
	free(tx);
	return 0;
}
