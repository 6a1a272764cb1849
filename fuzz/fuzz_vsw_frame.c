/* libFuzzer target: the extensible switch's datapath (vsw_input) on
 * arbitrary bursts of arbitrary frames from an arbitrary ingress port, on a
 * switch set up once with ports of every kind and VLAN mode, a capture and a
 * filter extension, and pcap captures (into /dev/null).
 *
 * Input: [u8 clock step, seconds] then records
 *        [u8 port][u8 opts][u16 tci BE][u16 len LE][len bytes (or what is left)]
 *   port: as is (0..7 ports, 8 removed, the rest never added); consecutive
 *   records with the same port make one burst (> VSW_BURST: several batches).
 *   opts bit 0: the tag in vlan_tci (VSW_F_VLAN); bit 1: an offload header
 *   (csum_start = opts & 0xf0); bit 2: an unknown frame flag (passed through).
 *
 * Besides ASan/UBSan (each frame is in a buffer of exactly its length), every
 * frame handed to a port is checked against a model of the rules in vsw.h:
 * it is an admitted input frame (not malformed, spoofed, double-tagged, on a
 * VLAN the ingress port isn't in, or filtered), in input order, never back to the
 * ingress port, to a port in the frame's VLAN, with exactly the bytes, tag and
 * offload offsets that port must see; a broadcast reaches every other port of
 * its VLAN; the counters add up. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/vsw.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#define NPORTS    8u
#define MAX_FRAME 2048u
#define MAX_IN    80u
#define F_UNKNOWN 0x8000u

/* The model's view of one input frame. */
struct model {
	bool admitted;
	bool bcast;
	uint16_t vlan, tci;
	const uint8_t *payload; /* the bytes without an in-band tag */
	uint32_t plen;
	bool inband;
	unsigned int deliveries;
};

static struct {
	struct vsw *sw;
	uint64_t now;
	struct vsw_vlan_cfg vlan[NPORTS];
	bool offload[NPORTS];
	bool protect[NPORTS];
	uint8_t macs[NPORTS][2][6];
	unsigned int nmacs[NPORTS];
	/* the burst in flight */
	unsigned int in_port;
	const struct vsw_frame *frames;
	struct model *model;
	unsigned int n;
	unsigned int cursor[NPORTS];
	unsigned int calls[NPORTS];
	unsigned int vf_requests;
} F;

static uint64_t fuzz_clock(void *arg)
{
	return F.now;
}

static bool same_output(unsigned int port, const struct model *m, const struct vsw_frame *in,
                        const struct vsw_frame *o)
{
	const struct vsw_vlan_cfg *c = &F.vlan[port];
	bool untag = c->mode == VSW_VLAN_ACCESS || c->native_vlan == m->vlan;
	bool meta = !untag && F.offload[port];
	bool tag_bytes = !untag && !meta;
	uint16_t want_flags = (uint16_t)((in->flags & ~VSW_F_VLAN) | (meta ? VSW_F_VLAN : 0));
	struct virtio_net_hdr vn = in->vnet;
	int delta = (tag_bytes ? 4 : 0) - (m->inband ? 4 : 0);

	if (o->flags != want_flags || (meta && o->vlan_tci != m->tci))
		return false;
	if (o->len != m->plen + (tag_bytes ? 4u : 0u))
		return false;
	if (memcmp(o->data, m->payload, 12))
		return false;
	if (tag_bytes) {
		if (o->data[12] != 0x81 || o->data[13] != 0 || o->data[14] != m->tci >> 8 ||
		    o->data[15] != (m->tci & 0xff) ||
		    memcmp(o->data + 16, m->payload + 12, m->plen - 12))
			return false;
	} else if (memcmp(o->data + 12, m->payload + 12, m->plen - 12)) {
		return false;
	}
	if ((vn.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && vn.csum_start >= 12)
		vn.csum_start = (uint16_t)(vn.csum_start + delta);
	if (vn.hdr_len >= 12)
		vn.hdr_len = (uint16_t)(vn.hdr_len + delta);
	return !memcmp(&vn, &o->vnet, sizeof(vn));
}

static int fuzz_tx(void *ctx, struct vsw_frame *frames, unsigned int n)
{
	unsigned int port = (unsigned int)(uintptr_t)ctx;

	CHECK(port < NPORTS && port != F.in_port);
	CHECK(n >= 1 && n <= VSW_BURST);
	F.calls[port]++;
	for (unsigned int i = 0; i < n; i++) {
		const struct vsw_frame *o = &frames[i];
		unsigned int k = F.cursor[port];

		/* The next admitted input frame, in order, that this output is. */
		while (k < F.n &&
		       !(F.model[k].admitted && vsw_vlan_has(&F.vlan[port], F.model[k].vlan) &&
		         same_output(port, &F.model[k], &F.frames[k], o)))
			k++;
		CHECK(k < F.n);
		F.model[k].deliveries++;
		F.cursor[port] = k + 1;
	}
	return (int)n;
}

static const struct vsw_port_ops fuzz_ops = { .tx_burst = fuzz_tx };

static void fuzz_capture(void *ctx, struct vsw *sw, unsigned int in_port, const struct vsw_frame *f)
{
	volatile uint8_t sum = 0;

	CHECK(in_port == F.in_port);
	for (uint32_t i = 0; i < f->len; i++)
		sum += f->data[i];
}

static bool is_filtered(const struct vsw_frame *f)
{
	return f->len >= 14 && f->data[12] == 0x88 && f->data[13] == 0xb5;
}

static enum vsw_verdict fuzz_filter(void *ctx, struct vsw *sw, unsigned int in_port, uint16_t vlan,
                                    const struct vsw_frame *f)
{
	CHECK(in_port == F.in_port && vlan <= VSW_VLAN_MAX);
	if (f->len >= 14 && f->data[12] == 0x88 && f->data[13] == 0xb6)
		CHECK(vsw_request_vf_removal(sw, in_port) == (in_port >= 3 ? 0 : -EINVAL));
	return is_filtered(f) ? VSW_DROP : VSW_PASS;
}

static int fuzz_vf_removal(void *arg, struct vsw *sw, unsigned int port)
{
	F.vf_requests++;
	return 0;
}

static const struct vsw_ext_ops cap_ext = { .name = "cap", .capture = fuzz_capture };
static const struct vsw_ext_ops filter_ext = { .name = "filter", .filter = fuzz_filter };

/*  port  kind      VLANs                          MACs
 *  0     external  trunk 10,20,30 native 0        -
 *  1     internal  access 0                       -
 *  2     internal  trunk 10,30, no native, offload
 *  3     VM        access 10                      A (protected)
 *  4     VM        access 10                      B (spoofing allowed)
 *  5     VM        access 20                      C, D (protected)
 *  6     VM        access 0                       E (protected)
 *  7     VM        trunk 20,30 native 10, offload F (protected)
 *  8     removed */
static void setup(void)
{
	const struct vsw_config cfg = {
		.max_macs = 8,
		.mac_age_ns = 100ull * 1000000000ull,
		.max_frame = MAX_FRAME,
		.clock = fuzz_clock,
		.clock_arg = NULL,
	};
	static const enum vsw_port_kind kinds[NPORTS] = {
		VSW_PORT_EXTERNAL, VSW_PORT_INTERNAL, VSW_PORT_INTERNAL, VSW_PORT_VM,
		VSW_PORT_VM,       VSW_PORT_VM,       VSW_PORT_VM,       VSW_PORT_VM,
	};
	struct vsw_port_config pc;
	int id;

	F.now = 1ull << 40;
	F.sw = vsw_create(&cfg);
	CHECK(F.sw);
	vsw_vlan_trunk(&F.vlan[0], 0);
	vsw_vlan_allow(&F.vlan[0], 10);
	vsw_vlan_allow(&F.vlan[0], 20);
	vsw_vlan_allow(&F.vlan[0], 30);
	vsw_vlan_access(&F.vlan[1], 0);
	vsw_vlan_trunk(&F.vlan[2], VSW_VLAN_NONE);
	vsw_vlan_allow(&F.vlan[2], 10);
	vsw_vlan_allow(&F.vlan[2], 30);
	F.offload[2] = true;
	vsw_vlan_access(&F.vlan[3], 10);
	vsw_vlan_access(&F.vlan[4], 10);
	vsw_vlan_access(&F.vlan[5], 20);
	vsw_vlan_access(&F.vlan[6], 0);
	vsw_vlan_trunk(&F.vlan[7], 10);
	vsw_vlan_allow(&F.vlan[7], 20);
	vsw_vlan_allow(&F.vlan[7], 30);
	F.offload[7] = true;
	for (unsigned int p = 3; p < NPORTS; p++) {
		F.nmacs[p] = p == 5 ? 2 : 1;
		F.protect[p] = p != 4;
		for (unsigned int m = 0; m < F.nmacs[p]; m++) {
			uint8_t mac[6] = { 0x02, 0, 0, 0, (uint8_t)m, (uint8_t)(0xa0 + p) };

			memcpy(F.macs[p][m], mac, 6);
		}
	}
	for (unsigned int p = 0; p < NPORTS; p++) {
		pc = (struct vsw_port_config){
			.kind = kinds[p],
			.vlan = F.vlan[p],
			.nmacs = F.nmacs[p],
			.allow_mac_spoofing = kinds[p] == VSW_PORT_VM && !F.protect[p],
			.tx_vlan_offload = F.offload[p],
			.ops = &fuzz_ops,
			.ctx = (void *)(uintptr_t)p,
		};
		memcpy(pc.macs, F.macs[p], sizeof(F.macs[p]));
		CHECK(vsw_port_add(F.sw, &pc) == (int)p);
	}
	pc.kind = VSW_PORT_INTERNAL;
	id = vsw_port_add(F.sw, &pc);
	CHECK(id == (int)NPORTS && vsw_port_remove(F.sw, NPORTS) == 0);
	CHECK(vsw_ext_add(F.sw, &cap_ext, NULL) >= 0);
	CHECK(vsw_ext_add(F.sw, &filter_ext, NULL) >= 0);
	vsw_set_vf_removal_handler(F.sw, fuzz_vf_removal, NULL);
	CHECK(vsw_capture_start(F.sw, 0, "/dev/null", VSW_CAP_IN | VSW_CAP_OUT) == 0);
	CHECK(vsw_capture_start(F.sw, 7, "/dev/null", VSW_CAP_IN | VSW_CAP_OUT) == 0);
}

/* What vsw.h says happens to @f from @port at ingress. */
static void classify(unsigned int port, const struct vsw_frame *f, struct model *m)
{
	const struct vsw_vlan_cfg *c = &F.vlan[port];
	const uint8_t *d = f->data;
	uint16_t tci = 0, vid;
	bool tagged = false, owned = false;

	memset(m, 0, sizeof(*m));
	if (f->len < 14 || f->len > MAX_FRAME)
		return;
	if (f->flags & VSW_F_VLAN) {
		tagged = true;
		tci = f->vlan_tci;
	} else if (d[12] == 0x81 && d[13] == 0x00) {
		if (f->len < 18)
			return;
		tagged = m->inband = true;
		tci = (uint16_t)(d[14] << 8 | d[15]);
	}
	vid = tci & 0xfff;
	if (vid == 0xfff || (d[6] & 1))
		return;
	{ /* a second tag behind the one read: not switched */
		const uint8_t *e = d + (m->inband ? 16 : 12);

		if ((e[0] == 0x81 && e[1] == 0x00) || (e[0] == 0x88 && e[1] == 0xa8))
			return;
	}
	for (unsigned int i = 0; i < F.nmacs[port]; i++)
		owned |= !memcmp(d + 6, F.macs[port][i], 6);
	if (F.protect[port] && !owned)
		return;
	if (!tagged || !vid) {
		if (c->mode == VSW_VLAN_ACCESS)
			m->vlan = c->access_vlan;
		else if (c->native_vlan != VSW_VLAN_NONE)
			m->vlan = c->native_vlan;
		else
			return;
	} else if (c->mode == VSW_VLAN_ACCESS
	               ? vid != c->access_vlan
	               : !(vid == c->native_vlan || (c->allowed[vid / 64] >> (vid % 64) & 1))) {
		return;
	} else {
		m->vlan = vid;
	}
	if (is_filtered(f))
		return;
	m->admitted = true;
	m->bcast = d[0] & 1;
	m->tci = (uint16_t)((tci & 0xf000) | m->vlan);
	if (m->inband) {
		/* payload: the frame without its tag, built by the caller */
		m->plen = f->len - 4;
	} else {
		m->payload = d;
		m->plen = f->len;
	}
}

static unsigned int members_but(uint16_t vlan, unsigned int in)
{
	unsigned int n = 0;

	for (unsigned int p = 0; p < NPORTS; p++)
		n += p != in && vsw_vlan_has(&F.vlan[p], vlan);
	return n;
}

static void run_burst(unsigned int port, struct vsw_frame *frames, struct model *model,
                      uint8_t (*untagged)[MAX_FRAME], unsigned int n)
{
	struct vsw_port_info before, after;
	unsigned int admitted = 0, min_fwd = 0;
	uint64_t ingress_drops = 0;
	int rc;

	F.in_port = port;
	F.frames = frames;
	F.model = model;
	F.n = n;
	memset(F.cursor, 0, sizeof(F.cursor));
	memset(F.calls, 0, sizeof(F.calls));
	for (unsigned int i = 0; i < n; i++) {
		memset(&model[i], 0, sizeof(model[i]));
		if (port < NPORTS)
			classify(port, &frames[i], &model[i]);
		if (model[i].admitted && model[i].inband) {
			memcpy(untagged[i], frames[i].data, 12);
			memcpy(untagged[i] + 12, frames[i].data + 16, frames[i].len - 16);
			model[i].payload = untagged[i];
		}
	}
	if (port < NPORTS)
		CHECK(vsw_port_get(F.sw, port, &before) == 0);
	rc = vsw_input(F.sw, port, frames, n);
	if (port >= NPORTS) {
		CHECK(rc == -ENOENT);
		return;
	}
	CHECK(vsw_port_get(F.sw, port, &after) == 0);
	CHECK(after.stats.rx_frames - before.stats.rx_frames == n);
	for (int r = VSW_DROP_MALFORMED; r <= VSW_DROP_FILTER; r++)
		ingress_drops += after.stats.drops[r] - before.stats.drops[r];
	for (unsigned int i = 0; i < n; i++) {
		const struct model *m = &model[i];

		admitted += m->admitted;
		if (!m->admitted)
			continue;
		if (m->bcast) {
			/* every other port of the VLAN, once */
			CHECK(m->deliveries == members_but(m->vlan, port));
			min_fwd += m->deliveries > 0;
		} else {
			CHECK(m->deliveries <= 1 || m->deliveries == members_but(m->vlan, port));
		}
	}
	CHECK(ingress_drops == n - admitted);
	CHECK(rc >= 0 && (unsigned int)rc >= min_fwd && (unsigned int)rc <= admitted);
	CHECK(after.stats.drops[VSW_DROP_NO_ROUTE] - before.stats.drops[VSW_DROP_NO_ROUTE] ==
	      admitted - (unsigned int)rc);
	for (unsigned int p = 0; p < NPORTS; p++)
		CHECK(F.calls[p] <= (n + VSW_BURST - 1) / VSW_BURST);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static struct vsw_frame frames[MAX_IN];
	static uint8_t *bufs[MAX_IN];
	static struct model model[MAX_IN];
	static uint8_t untagged[MAX_IN][MAX_FRAME];
	static uint8_t ports[MAX_IN];
	size_t off = 1;
	unsigned int n = 0, start = 0;

	if (!F.sw)
		setup();
	if (len < 1)
		return 0;
	vsw_mac_flush(F.sw);
	F.now += 1000ull * 1000000000ull; /* a fresh table at a later time */

	while (n < MAX_IN && off + 6 <= len) {
		const uint8_t *r = in + off;
		size_t flen = (size_t)(r[4] | r[5] << 8);
		struct vsw_frame *f = &frames[n];

		off += 6;
		if (flen > len - off)
			flen = len - off;
		bufs[n] = malloc(flen ? flen : 1);
		CHECK(bufs[n]);
		memcpy(bufs[n], in + off, flen);
		off += flen;
		*f = (struct vsw_frame){ .data = bufs[n], .len = (uint32_t)flen };
		if (r[1] & 1) {
			f->flags |= VSW_F_VLAN;
			f->vlan_tci = (uint16_t)(r[2] << 8 | r[3]);
		}
		if (r[1] & 2) {
			f->vnet.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			f->vnet.csum_start = r[1] & 0xf0;
			f->vnet.csum_offset = 16;
			f->vnet.hdr_len = (uint16_t)((r[1] & 0xf0) + 20);
			f->vnet.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
			f->vnet.gso_size = 1448;
		}
		if (r[1] & 4)
			f->flags |= F_UNKNOWN;
		ports[n++] = r[0];
	}
	for (unsigned int i = 1; i <= n; i++) {
		if (i < n && ports[i] == ports[start])
			continue;
		run_burst(ports[start], frames + start, model + start, untagged + start, i - start);
		F.now += (uint64_t)in[0] * 1000000000ull; /* between bursts: ageing */
		start = i;
	}
	for (unsigned int i = 0; i < n; i++)
		free(bufs[i]);
	return 0;
}
