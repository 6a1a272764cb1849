/* ep — see endpoint.h. */
#include "guest/endpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ep_flow {
	uint64_t tx_seq;
	uint64_t max_seq; /* highest seen + 1; 0: nothing seen */
	uint64_t unique;  /* distinct sequence numbers seen */
	uint64_t window[EP_WINDOW / 64];
};

struct ep {
	struct ep_config cfg;
	uint8_t hdr[16]; /* every frame's first 16 bytes: MACs, ethertype, zero */
	uint32_t next_flow;
	struct ep_stats st;
	uint64_t lat[EP_LAT_BUCKETS];
	uint64_t lat_n;
	struct ep_flow flows[];
};

struct ep *ep_create(const struct ep_config *cfg)
{
	struct ep *ep;

	if (cfg->size < EP_MIN_FRAME || cfg->size > EP_MAX_FRAME || !cfg->flows ||
	    cfg->flows > EP_MAX_FLOWS) {
		errno = EINVAL;
		return NULL;
	}
	ep = calloc(1, sizeof(*ep) + cfg->flows * sizeof(ep->flows[0]));
	if (!ep)
		return NULL;
	ep->cfg = *cfg;
	memcpy(ep->hdr, cfg->dst_mac, 6);
	memcpy(ep->hdr + 6, cfg->src_mac, 6);
	ep->hdr[12] = EP_ETHERTYPE >> 8;
	ep->hdr[13] = EP_ETHERTYPE & 0xff;
	return ep;
}

void ep_destroy(struct ep *ep)
{
	free(ep);
}

void ep_generate(struct ep *ep, uint8_t *buf, uint32_t stride, unsigned int n, uint64_t now_ns)
{
	uint32_t size = ep->cfg.size;

	for (unsigned int i = 0; i < n; i++, buf += stride) {
		uint32_t flow = ep->next_flow;
		struct ep_flow *f = &ep->flows[flow];

		if (++ep->next_flow == ep->cfg.flows)
			ep->next_flow = 0;
		memcpy(buf, ep->hdr, 16);
		memcpy(buf + 16, &now_ns, 8);
		util_frame_fill(buf + 24, size - 24, f->tx_seq++, flow, ep->cfg.mode);
	}
	ep->st.tx_frames += n;
	ep->st.tx_bytes += (uint64_t)n * size;
}

static unsigned int __lat_bucket(uint64_t v)
{
	unsigned int e;

	if (v < 4)
		return (unsigned int)v;
	e = 63u - (unsigned int)__builtin_clzll(v);
	return e * 4 + (unsigned int)((v >> (e - 2)) & 3);
}

static uint64_t __lat_value(unsigned int b)
{
	unsigned int e = b / 4;

	if (b < 4)
		return b;
	return (1ull << e) | ((uint64_t)(b & 3) << (e - 2));
}

static bool __test_and_set(struct ep_flow *f, uint64_t seq)
{
	uint64_t bit = 1ull << (seq % 64), *w = &f->window[(seq % EP_WINDOW) / 64];
	bool was = *w & bit;

	*w |= bit;
	return was;
}

/* The latency of a received frame that counts, into the histogram. */
static inline void __latency(struct ep *ep, const uint8_t *frame, uint64_t now_ns)
{
	uint64_t sent;

	memcpy(&sent, frame + 16, 8);
	if (now_ns >= sent) {
		ep->lat[__lat_bucket(now_ns - sent)]++;
		ep->lat_n++;
	}
}

/* Account a received frame that counts: @seq is new to its flow or not. */
static inline void __count(struct ep *ep, const uint8_t *frame, uint32_t len, uint64_t now_ns)
{
	ep->st.rx_frames++;
	ep->st.rx_bytes += len;
	__latency(ep, frame, now_ns);
}

/* Every frame the fast path of ep_receive does not take. */
static __attribute__((noinline)) void __receive_slow(struct ep *ep, const uint8_t *frame,
                                                     uint32_t len, uint64_t now_ns)
{
	uint64_t seq;
	uint32_t flow;
	struct ep_flow *f;

	if (len < EP_MIN_FRAME || frame[12] != (EP_ETHERTYPE >> 8) ||
	    frame[13] != (EP_ETHERTYPE & 0xff)) {
		ep->st.rx_foreign++;
		return;
	}
	if (util_frame_check(frame + 24, len - 24, &seq, &flow, ep->cfg.mode) ||
	    len != ep->cfg.size) {
		ep->st.rx_bad++;
		return;
	}
	if (flow >= ep->cfg.flows) {
		ep->st.rx_foreign++;
		return;
	}
	f = &ep->flows[flow];
	if (seq >= f->max_seq) {
		/* New highest: forget the window slots it moves past. */
		if (seq - f->max_seq >= EP_WINDOW) {
			memset(f->window, 0, sizeof(f->window));
		} else {
			for (uint64_t s = f->max_seq; s < seq; s++)
				f->window[(s % EP_WINDOW) / 64] &= ~(1ull << (s % 64));
		}
		f->window[(seq % EP_WINDOW) / 64] |= 1ull << (seq % 64); /* seen */
		f->max_seq = seq + 1;
		f->unique++;
	} else if (f->max_seq - seq > EP_WINDOW) {
		ep->st.rx_late++;
		f->unique++;
	} else if (__test_and_set(f, seq)) {
		ep->st.rx_dup++;
		return;
	} else {
		ep->st.rx_reordered++;
		f->unique++;
	}
	__count(ep, frame, len, now_ns);
}

/* The common case: a good frame of ours in QUICK mode, the next of its flow.
 * Takes it (the flow's state, not the counters) and says so, or leaves the
 * frame to __receive_slow (whose outcome for such a frame this is). */
static inline bool __take_next(struct ep *ep, const uint8_t *frame, uint32_t len)
{
	uint64_t seq;
	uint32_t flow;
	struct ep_flow *f;

	if (len != ep->cfg.size || ep->cfg.mode != UTIL_FRAME_QUICK ||
	    frame[12] != (EP_ETHERTYPE >> 8) || frame[13] != (EP_ETHERTYPE & 0xff) ||
	    util_frame_check(frame + 24, len - 24, &seq, &flow, UTIL_FRAME_QUICK) ||
	    flow >= ep->cfg.flows || seq != (f = &ep->flows[flow])->max_seq)
		return false;
	f->window[(seq % EP_WINDOW) / 64] |= 1ull << (seq % 64);
	f->max_seq = seq + 1;
	f->unique++;
	return true;
}

void ep_receive(struct ep *ep, const uint8_t *frame, uint32_t len, uint64_t now_ns)
{
	if (__take_next(ep, frame, len))
		__count(ep, frame, len, now_ns);
	else
		__receive_slow(ep, frame, len, now_ns);
}

void ep_receive_burst(struct ep *ep, const struct port_pkt *pk, unsigned int n, uint64_t now_ns)
{
	uint64_t frames = 0, bytes = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (__take_next(ep, pk[i].data, pk[i].len)) {
			frames++;
			bytes += pk[i].len;
			__latency(ep, pk[i].data, now_ns);
		} else {
			__receive_slow(ep, pk[i].data, pk[i].len, now_ns);
		}
	}
	ep->st.rx_frames += frames;
	ep->st.rx_bytes += bytes;
}

void ep_get_stats(const struct ep *ep, struct ep_stats *st)
{
	*st = ep->st;
	st->rx_lost = 0;
	for (uint32_t i = 0; i < ep->cfg.flows; i++)
		st->rx_lost += ep->flows[i].max_seq - ep->flows[i].unique;
}

uint64_t ep_latency(const struct ep *ep, double p)
{
	uint64_t want, seen = 0;

	if (!ep->lat_n)
		return 0;
	want = (uint64_t)((double)ep->lat_n * p / 100.0);
	if (want >= ep->lat_n)
		want = ep->lat_n - 1;
	for (unsigned int b = 0; b < EP_LAT_BUCKETS; b++) {
		seen += ep->lat[b];
		if (seen > want)
			return __lat_value(b);
	}
	return __lat_value(EP_LAT_BUCKETS - 1);
}
