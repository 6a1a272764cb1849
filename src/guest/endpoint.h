/* ep — the built-in traffic endpoint of a guest: a generator and a sink of
 * Ethernet frames that need no TAP device and no root. Each frame carries a
 * flow number, a per-flow sequence number and its send time, so the sink
 * counts loss, reordering, duplicates and corruption, and keeps a latency
 * histogram. Every end-to-end test and benchmark uses it.
 *
 * Frame (all sizes include the 14-byte Ethernet header; minimum EP_MIN_FRAME):
 *   +0  Ethernet: dst MAC, src MAC, ethertype EP_ETHERTYPE (local experimental)
 *   +14 u16 zero
 *   +16 u64 send time, CLOCK_MONOTONIC ns (one machine: comparable across processes)
 *   +24 a util_frame (seq, len, flow, body, tail tag): see util/frame.h
 *
 * Thread-safety: an endpoint belongs to one thread.
 * Ownership: ep_create returns an endpoint the caller frees with ep_destroy.
 * Errors: ep_create returns NULL with errno EINVAL (bad config) or ENOMEM.
 */
#ifndef IOVPATH_GUEST_ENDPOINT_H
#define IOVPATH_GUEST_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "port/port.h"
#include "util/frame.h"

#define EP_ETHERTYPE   0x88b5
#define EP_MIN_FRAME   60u
#define EP_MAX_FRAME   65535u
#define EP_MAX_FLOWS   4096u
#define EP_WINDOW      1024u /* reorder/duplicate detection window, per flow */
#define EP_LAT_BUCKETS 256u

struct ep_config {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint32_t size;  /* frame bytes */
	uint32_t flows; /* 1..EP_MAX_FLOWS; generated round-robin */
	enum util_frame_mode mode;
};

struct ep_stats {
	uint64_t tx_frames, tx_bytes;
	uint64_t rx_frames, rx_bytes; /* frames that passed the check */
	uint64_t rx_bad;              /* corrupted or truncated */
	uint64_t rx_foreign;          /* not ours: another ethertype, flow out of range */
	uint64_t rx_lost;             /* sequence numbers never seen (up to the highest seen) */
	uint64_t rx_reordered;        /* arrived after a higher sequence number */
	uint64_t rx_dup;              /* seen twice */
	uint64_t rx_late;             /* older than the window: can't tell dup from reorder */
};

struct ep;

struct ep *ep_create(const struct ep_config *cfg);
void ep_destroy(struct ep *ep);

/* Write @n frames of cfg.size bytes, @stride bytes apart, starting at @buf,
 * stamped with @now_ns. */
void ep_generate(struct ep *ep, uint8_t *buf, uint32_t stride, unsigned int n, uint64_t now_ns);

/* Account one received frame. */
void ep_receive(struct ep *ep, const uint8_t *frame, uint32_t len, uint64_t now_ns);

/* Account @n received frames (ep_receive for each, with less work per frame). */
void ep_receive_burst(struct ep *ep, const struct port_pkt *pk, unsigned int n, uint64_t now_ns);

/* Counters so far (rx_lost is computed at the call). */
void ep_get_stats(const struct ep *ep, struct ep_stats *st);

/* Latency in ns at percentile @p (0..100) of received frames; 0 if none. */
uint64_t ep_latency(const struct ep *ep, double p);

#endif
