/* vsw — the extensible switch: ports, VLANs, the datapath (vsw_input),
 * extensions, VF-removal requests, introspection. See vsw.h. */
#include "vswitch/vsw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "vswitch/vsw_priv.h"

static uint64_t vsw__default_clock(void *arg)
{
	(void)arg;
	return util_now_ns();
}

/* --- life cycle --------------------------------------------------------- */

struct vsw *vsw_create(const struct vsw_config *cfg)
{
	static const struct vsw_config defaults;
	struct vsw *sw;

	if (!cfg)
		cfg = &defaults;
	if (cfg->max_macs > (1u << 20) || (cfg->max_frame && cfg->max_frame < VSW__ETH_HLEN) ||
	    cfg->max_frame > VSW_MAX_FRAME) {
		errno = EINVAL;
		return NULL;
	}
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		goto err;
	snprintf(sw->name, sizeof(sw->name), "%s", cfg->name ? cfg->name : "vsw");
	sw->clock = cfg->clock ? cfg->clock : vsw__default_clock;
	sw->clock_arg = cfg->clock_arg;
	sw->age_ns = cfg->mac_age_ns ? cfg->mac_age_ns : VSW_DEFAULT_AGE_NS;
	sw->max_frame = cfg->max_frame ? cfg->max_frame : VSW_MAX_FRAME;
	sw->external = -1;

	if (vsw__mac_init(sw, cfg->max_macs ? cfg->max_macs : VSW_DEFAULT_MAX_MACS))
		goto err_mac;
	/* Each frame of a burst may need an untagged and a tagged copy. */
	sw->arena_size = (size_t)VSW_BURST * 2 * ALIGN_UP(sw->max_frame + VSW__VLAN_HLEN, 64u);
	sw->arena = malloc(sw->arena_size);
	if (!sw->arena)
		goto err_mac;
	return sw;

err_mac:
	vsw__mac_fini(sw); /* frees what vsw__mac_init got */
	free(sw);
err:
	errno = ENOMEM;
	return NULL;
}

void vsw_destroy(struct vsw *sw)
{
	if (!sw)
		return;
	for (unsigned int i = 0; i < VSW_MAX_PORTS; i++)
		vsw__capture_close(&sw->ports[i]);
	free(sw->capbuf);
	free(sw->arena);
	vsw__mac_fini(sw);
	free(sw);
}

/* --- VLANs -------------------------------------------------------------- */

int vsw_vlan_cfg_check(const struct vsw_vlan_cfg *c)
{
	switch (c->mode) {
	case VSW_VLAN_ACCESS:
		return c->access_vlan <= VSW_VLAN_MAX ? 0 : -EINVAL;
	case VSW_VLAN_TRUNK:
		if (c->native_vlan > VSW_VLAN_MAX && c->native_vlan != VSW_VLAN_NONE)
			return -EINVAL;
		if ((c->allowed[0] & 1) || (c->allowed[VSW_VLAN_WORDS - 1] >> 63))
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

bool vsw_vlan_has(const struct vsw_vlan_cfg *c, uint16_t vlan)
{
	if (vlan > VSW_VLAN_MAX)
		return false;
	if (c->mode == VSW_VLAN_ACCESS)
		return vlan == c->access_vlan;
	return vlan == c->native_vlan || (vlan && vsw__bit(c->allowed, vlan));
}

static void vsw__members_update(struct vsw *sw, unsigned int port, bool on)
{
	const struct vsw_vlan_cfg *c = &sw->ports[port].vlan;

	for (uint16_t v = 0; v <= VSW_VLAN_MAX; v++)
		if (vsw_vlan_has(c, v))
			vsw__bit_set(sw->members[v], port, on);
}

/* --- ports -------------------------------------------------------------- */

static struct vsw__port *vsw__port(const struct vsw *sw, unsigned int port)
{
	if (port >= VSW_MAX_PORTS || !sw->ports[port].used)
		return NULL;
	return (struct vsw__port *)&sw->ports[port];
}

static int vsw__macs_set(struct vsw__port *p, const uint8_t macs[][6], unsigned int nmacs,
                         bool allow_mac_spoofing)
{
	if (nmacs > VSW_PORT_MACS || (!nmacs && !allow_mac_spoofing))
		return -EINVAL;
	for (unsigned int i = 0; i < nmacs; i++) {
		uint64_t m = vsw__mac48(macs[i]);

		if (!m || (macs[i][0] & 1))
			return -EINVAL;
	}
	for (unsigned int i = 0; i < nmacs; i++)
		p->mac48[i] = vsw__mac48(macs[i]);
	p->nmacs = nmacs;
	p->allow_mac_spoofing = allow_mac_spoofing;
	p->spoof_check = !allow_mac_spoofing;
	return 0;
}

int vsw_port_add(struct vsw *sw, const struct vsw_port_config *cfg)
{
	struct vsw__port *p, tmp = { 0 };
	unsigned int id;
	int rc;

	if (sw->busy)
		return -EBUSY;
	if (!cfg->ops || !cfg->ops->tx_burst || vsw_vlan_cfg_check(&cfg->vlan))
		return -EINVAL;
	switch (cfg->kind) {
	case VSW_PORT_EXTERNAL:
		if (sw->external >= 0)
			return -EEXIST;
		break;
	case VSW_PORT_INTERNAL:
		break;
	case VSW_PORT_VM:
		rc = vsw__macs_set(&tmp, cfg->macs, cfg->nmacs, cfg->allow_mac_spoofing);
		if (rc)
			return rc;
		break;
	default:
		return -EINVAL;
	}
	for (id = 0; id < VSW_MAX_PORTS && sw->ports[id].used; id++)
		;
	if (id == VSW_MAX_PORTS)
		return -ENOSPC;

	p = &sw->ports[id];
	*p = tmp;
	p->used = true;
	p->kind = cfg->kind;
	p->vlan = cfg->vlan;
	p->tx_vlan_offload = cfg->tx_vlan_offload;
	p->ops = cfg->ops;
	p->ctx = cfg->ctx;
	snprintf(p->name, sizeof(p->name), "%s", cfg->name ? cfg->name : "");
	vsw__members_update(sw, id, true);
	if (cfg->kind == VSW_PORT_EXTERNAL)
		sw->external = (int)id;
	sw->nports++;
	log_info("vsw", "%s: port %u \"%s\" (%s, %s) added", sw->name, id, p->name,
	         vsw_port_kind_name(p->kind), vsw_vlan_mode_name(p->vlan.mode));
	return (int)id;
}

int vsw_port_remove(struct vsw *sw, unsigned int port)
{
	struct vsw__port *p = vsw__port(sw, port);

	if (!p)
		return -ENOENT;
	if (sw->busy)
		return -EBUSY;
	vsw__capture_close(p);
	vsw__members_update(sw, port, false);
	vsw__mac_forget_port(sw, port);
	vsw__bit_set(sw->vf_pending, port, false);
	if (sw->external == (int)port)
		sw->external = -1;
	log_info("vsw", "%s: port %u \"%s\" removed", sw->name, port, p->name);
	memset(p, 0, sizeof(*p));
	sw->nports--;
	return 0;
}

int vsw_port_set_vlan(struct vsw *sw, unsigned int port, const struct vsw_vlan_cfg *vlan)
{
	struct vsw__port *p = vsw__port(sw, port);

	if (!p)
		return -ENOENT;
	if (sw->busy)
		return -EBUSY;
	if (vsw_vlan_cfg_check(vlan))
		return -EINVAL;
	vsw__members_update(sw, port, false);
	p->vlan = *vlan;
	vsw__members_update(sw, port, true);
	vsw__mac_forget_port(sw, port);
	return 0;
}

/* VM port @port, for a change from outside the datapath; NULL with *@rc
 * -ENOENT (no port), -EBUSY (inside a callback) or -EINVAL (not a VM port). */
static struct vsw__port *vsw__vm_port(struct vsw *sw, unsigned int port, int *rc)
{
	struct vsw__port *p = vsw__port(sw, port);

	*rc = !p ? -ENOENT : sw->busy ? -EBUSY : p->kind != VSW_PORT_VM ? -EINVAL : 0;
	return *rc ? NULL : p;
}

int vsw_port_set_macs(struct vsw *sw, unsigned int port, const uint8_t macs[][6],
                      unsigned int nmacs, bool allow_mac_spoofing)
{
	int rc;
	struct vsw__port *p = vsw__vm_port(sw, port, &rc);

	if (!p)
		return rc;
	rc = vsw__macs_set(p, macs, nmacs, allow_mac_spoofing);
	if (rc)
		return rc;
	p->claimed = false; /* until they are learned on it */
	vsw__mac_forget_port(sw, port);
	return 0;
}

int vsw_port_learn_macs(struct vsw *sw, unsigned int port)
{
	int rc;
	struct vsw__port *p = vsw__vm_port(sw, port, &rc);
	uint64_t now;

	if (!p || p->vlan.mode != VSW_VLAN_ACCESS)
		return rc;
	now = sw->clock(sw->clock_arg);
	for (unsigned int i = 0; i < p->nmacs; i++)
		vsw__mac_learn(sw, vsw__mac_key48(p->mac48[i], p->vlan.access_vlan), port, now);
	return 0;
}

int vsw_port_release_macs(struct vsw *sw, unsigned int port)
{
	int rc;
	struct vsw__port *p = vsw__vm_port(sw, port, &rc);

	if (!p)
		return rc;
	p->nmacs = 0; /* spoof_check stays: it may send nothing now */
	p->claimed = false;
	return 0;
}

/* --- the datapath ------------------------------------------------------- */

/* Port policies (vsw.h steps 3 to 5): fills @pk's VLAN and tag, or says why
 * the frame goes. */
static enum vsw_drop vsw__classify(const struct vsw *sw, const struct vsw__port *ip,
                                   const struct vsw_frame *f, struct vsw__pkt *pk)
{
	const struct vsw_vlan_cfg *vc = &ip->vlan;
	const uint8_t *d = f->data;
	uint16_t tci = 0, vid, vlan;
	bool tagged = false;

	pk->inband = false;
	if (unlikely(f->len < VSW__ETH_HLEN || f->len > sw->max_frame))
		return VSW_DROP_MALFORMED;
	if (f->flags & VSW_F_VLAN) {
		tagged = true;
		tci = f->vlan_tci;
	} else if (vsw__be16(d + 12) == VSW__ETH_P_8021Q) {
		if (unlikely(f->len < VSW__ETH_HLEN + VSW__VLAN_HLEN))
			return VSW_DROP_MALFORMED;
		tagged = pk->inband = true;
		tci = vsw__be16(d + 14);
	}
	vid = tci & VSW__VID_MASK;
	if (unlikely(vid == VSW__VID_MASK || (d[6] & 1)))
		return VSW_DROP_MALFORMED;
	/* A tag behind the one the switch reads would be the frame's VLAN
	 * wherever that one is taken off (a trunk's native VLAN): stacked tags
	 * are not switched, or a frame could hop VLANs. */
	{
		uint16_t inner = vsw__be16(d + (pk->inband ? 16 : 12)); /* (length checked) */

		if (unlikely(inner == VSW__ETH_P_8021Q || inner == VSW__ETH_P_8021AD))
			return VSW_DROP_VLAN;
	}

	if (ip->spoof_check && unlikely(!vsw__port_owns(ip, vsw__mac48(d + 6))))
		return VSW_DROP_SPOOF;

	if (!tagged || !vid) { /* untagged or priority-tagged */
		if (vc->mode == VSW_VLAN_ACCESS)
			vlan = vc->access_vlan;
		else if (vc->native_vlan != VSW_VLAN_NONE)
			vlan = vc->native_vlan;
		else
			return VSW_DROP_VLAN;
	} else {
		if (!vsw_vlan_has(vc, vid))
			return VSW_DROP_VLAN;
		vlan = vid;
	}
	pk->vlan = vlan;
	pk->tci = (uint16_t)((tci & ~VSW__VID_MASK) | vlan);
	return VSW_DROP_NONE;
}

/* Forwarding: where the frame goes (vsw.h step 7). */
static enum vsw_drop vsw__forward(struct vsw *sw, unsigned int in, struct vsw__pkt *pk,
                                  uint64_t now)
{
	const uint8_t *d = pk->in->data;
	const uint64_t *members = sw->members[pk->vlan];
	uint64_t any = 0;

	vsw__mac_learn(sw, vsw__mac_key(d + 6, pk->vlan), in, now);
	memset(pk->dst, 0, sizeof(pk->dst));
	if (!(d[0] & 1)) {
		int q = vsw__mac_port(sw, vsw__mac_key(d, pk->vlan), now);

		/* (An entry's port is always in its VLAN: entries go when a
		 * port's VLANs change. Checked anyway: frames never cross VLANs.) */
		if (q >= 0 && vsw__bit(members, (unsigned int)q)) {
			if ((unsigned int)q == in)
				return VSW_DROP_NO_ROUTE;
			vsw__bit_set(pk->dst, (unsigned int)q, true);
			return VSW_DROP_NONE;
		}
	}
	/* Broadcast, multicast, unknown unicast: the VLAN, never the sender. */
	memcpy(pk->dst, members, sizeof(pk->dst));
	vsw__bit_set(pk->dst, in, false);
	for (unsigned int w = 0; w < VSW_PORT_WORDS; w++)
		any |= pk->dst[w];
	return any ? VSW_DROP_NONE : VSW_DROP_NO_ROUTE;
}

/* Offsets in the offload header move with a tag added (+4) or removed (-4)
 * in front of them. */
static void vsw__vnet_shift(struct virtio_net_hdr *h, int delta)
{
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && h->csum_start >= 12)
		h->csum_start = (uint16_t)(h->csum_start + delta);
	if (h->hdr_len >= 12)
		h->hdr_len = (uint16_t)(h->hdr_len + delta);
}

/* @pk's bytes untagged (@tagged false) or tagged with pk->tci, built in the
 * arena the first time a port needs them; *@len gets their length. */
static const uint8_t *vsw__variant(struct vsw *sw, struct vsw__pkt *pk, bool tagged, uint32_t *len)
{
	const uint8_t *src = pk->in->data;
	uint32_t slen = pk->in->len;
	uint8_t *dst;

	*len = slen + (tagged ? VSW__VLAN_HLEN : 0) - (pk->inband ? VSW__VLAN_HLEN : 0);
	if (pk->bytes[tagged])
		return pk->bytes[tagged];
	dst = sw->arena + sw->arena_used;
	sw->arena_used += ALIGN_UP(slen + VSW__VLAN_HLEN, 64u);
	memcpy(dst, src, 12); /* the MAC addresses */
	if (tagged) {
		dst[12] = VSW__ETH_P_8021Q >> 8;
		dst[13] = VSW__ETH_P_8021Q & 0xff;
		dst[14] = (uint8_t)(pk->tci >> 8);
		dst[15] = (uint8_t)pk->tci;
		memcpy(dst + 16, src + (pk->inband ? 16 : 12), *len - 16);
	} else {
		memcpy(dst + 12, src + 16, *len - 12); /* only built when inband */
	}
	pk->bytes[tagged] = dst;
	return dst;
}

/* The frame as port @p receives it. */
static void vsw__present(struct vsw *sw, const struct vsw__port *p, struct vsw__pkt *pk,
                         struct vsw_frame *o)
{
	bool untag = p->vlan.mode == VSW_VLAN_ACCESS || p->vlan.native_vlan == pk->vlan;
	bool tag_bytes = !untag && !p->tx_vlan_offload;

	o->data = vsw__variant(sw, pk, tag_bytes, &o->len);
	o->flags = pk->in->flags & (uint16_t)~VSW_F_VLAN;
	o->vlan_tci = 0;
	if (!untag && p->tx_vlan_offload) {
		o->flags |= VSW_F_VLAN;
		o->vlan_tci = pk->tci;
	}
	o->vnet = pk->in->vnet;
	if (tag_bytes != pk->inband)
		vsw__vnet_shift(&o->vnet, tag_bytes ? (int)VSW__VLAN_HLEN : -(int)VSW__VLAN_HLEN);
}

/* Hand port @port its frames of the burst in one call. */
static void vsw__deliver(struct vsw *sw, unsigned int port, unsigned int npk)
{
	struct vsw__port *p = &sw->ports[port];
	uint32_t lens[VSW_BURST];
	unsigned int m = 0;
	int taken;

	for (unsigned int k = 0; k < npk; k++) {
		struct vsw__pkt *pk = &sw->pkts[k];

		if (!vsw__bit(pk->dst, port))
			continue;
		vsw__present(sw, p, pk, &sw->out[m]);
		lens[m] = sw->out[m].len;
		m++;
	}
	if (unlikely(p->cap_dirs & VSW_CAP_OUT))
		vsw__capture_write(sw, p, sw->out, m);
	taken = p->ops->tx_burst(p->ctx, sw->out, m);
	if (taken < 0)
		taken = 0;
	if ((unsigned int)taken > m)
		taken = (int)m;
	for (int i = 0; i < taken; i++)
		p->st.tx_bytes += lens[i];
	p->st.tx_frames += (uint64_t)taken;
	p->st.drops[VSW_DROP_PORT_FULL] += m - (unsigned int)taken;
}

/* One batch of at most VSW_BURST frames from port @in. */
static unsigned int vsw__batch(struct vsw *sw, unsigned int in, const struct vsw_frame *frames,
                               unsigned int n, uint64_t now)
{
	struct vsw__port *ip = &sw->ports[in];
	uint64_t all[VSW_PORT_WORDS] = { 0 };
	unsigned int npk = 0;

	if (unlikely(ip->cap_dirs & VSW_CAP_IN))
		vsw__capture_write(sw, ip, frames, n);
	sw->arena_used = 0;
	for (unsigned int i = 0; i < n; i++) {
		const struct vsw_frame *f = &frames[i];
		struct vsw__pkt *pk = &sw->pkts[npk];
		enum vsw_drop why;

		ip->st.rx_frames++;
		ip->st.rx_bytes += f->len;
		for (unsigned int c = 0; c < sw->ncap; c++) {
			const struct vsw__ext *x = &sw->exts[sw->cap_chain[c]];

			x->ops->capture(x->ctx, sw, in, f);
		}
		pk->in = f;
		why = vsw__classify(sw, ip, f, pk);
		for (unsigned int c = 0; !why && c < sw->nfilter; c++) {
			const struct vsw__ext *x = &sw->exts[sw->filter_chain[c]];

			if (x->ops->filter(x->ctx, sw, in, pk->vlan, f) != VSW_PASS)
				why = VSW_DROP_FILTER;
		}
		if (!why)
			why = vsw__forward(sw, in, pk, now);
		if (why) {
			ip->st.drops[why]++;
			continue;
		}
		pk->bytes[0] = pk->inband ? NULL : f->data;
		pk->bytes[1] = pk->inband && vsw__be16(f->data + 14) == pk->tci ? f->data : NULL;
		for (unsigned int w = 0; w < VSW_PORT_WORDS; w++)
			all[w] |= pk->dst[w];
		npk++;
	}

	for (unsigned int w = 0; w < VSW_PORT_WORDS; w++) {
		while (all[w]) {
			unsigned int port = w * 64 + (unsigned int)__builtin_ctzll(all[w]);

			all[w] &= all[w] - 1;
			vsw__deliver(sw, port, npk);
		}
	}
	return npk;
}

static void vsw__vf_flush(struct vsw *sw)
{
	for (unsigned int w = 0; w < VSW_PORT_WORDS; w++) {
		while (sw->vf_pending[w]) {
			unsigned int port =
			    w * 64 + (unsigned int)__builtin_ctzll(sw->vf_pending[w]);

			sw->vf_pending[w] &= sw->vf_pending[w] - 1;
			if (sw->vf_fn && vsw__port(sw, port))
				sw->vf_fn(sw->vf_arg, sw, port);
		}
	}
}

int vsw_input(struct vsw *sw, unsigned int port, const struct vsw_frame *frames, unsigned int n)
{
	uint64_t now, fwd = 0;

	if (!vsw__port(sw, port))
		return -ENOENT;
	if (sw->busy)
		return -EBUSY;
	sw->busy = true;
	now = sw->clock(sw->clock_arg);
	for (unsigned int off = 0; off < n; off += VSW_BURST)
		fwd += vsw__batch(sw, port, frames + off, n - off < VSW_BURST ? n - off : VSW_BURST,
		                  now);
	sw->busy = false;
	vsw__vf_flush(sw);
	return fwd > INT32_MAX ? INT32_MAX : (int)fwd;
}

/* --- MAC table settings ------------------------------------------------- */

int vsw_set_mac_age(struct vsw *sw, uint64_t age_ns)
{
	if (!age_ns)
		return -EINVAL;
	sw->age_ns = age_ns;
	return 0;
}

/* --- extensions --------------------------------------------------------- */

int vsw_ext_add(struct vsw *sw, const struct vsw_ext_ops *ops, void *ext_ctx)
{
	unsigned int id;

	if (sw->busy)
		return -EBUSY;
	if (!ops || !ops->capture == !ops->filter)
		return -EINVAL;
	for (id = 0; id < VSW_MAX_EXTS && sw->exts[id].ops; id++)
		;
	if (id == VSW_MAX_EXTS)
		return -ENOSPC;
	sw->exts[id] = (struct vsw__ext){ ops, ext_ctx };
	if (ops->capture)
		sw->cap_chain[sw->ncap++] = (uint8_t)id;
	else
		sw->filter_chain[sw->nfilter++] = (uint8_t)id;
	return (int)id;
}

/* Take @id out of the chain @chain of *@n slot ids, keeping the order. */
static bool vsw__chain_remove(uint8_t *chain, unsigned int *n, unsigned int id)
{
	for (unsigned int i = 0; i < *n; i++) {
		if (chain[i] != id)
			continue;
		memmove(chain + i, chain + i + 1, *n - i - 1);
		(*n)--;
		return true;
	}
	return false;
}

int vsw_ext_remove(struct vsw *sw, int ext_id)
{
	if (ext_id < 0 || ext_id >= (int)VSW_MAX_EXTS || !sw->exts[ext_id].ops)
		return -ENOENT;
	if (sw->busy)
		return -EBUSY;
	if (!vsw__chain_remove(sw->cap_chain, &sw->ncap, (unsigned int)ext_id))
		vsw__chain_remove(sw->filter_chain, &sw->nfilter, (unsigned int)ext_id);
	sw->exts[ext_id] = (struct vsw__ext){ 0 };
	return 0;
}

void vsw_set_vf_removal_handler(struct vsw *sw,
                                int (*fn)(void *arg, struct vsw *sw, unsigned int port), void *arg)
{
	sw->vf_fn = fn;
	sw->vf_arg = arg;
}

int vsw_request_vf_removal(struct vsw *sw, unsigned int port)
{
	struct vsw__port *p = vsw__port(sw, port);

	if (!p)
		return -ENOENT;
	if (p->kind != VSW_PORT_VM)
		return -EINVAL;
	if (!sw->vf_fn)
		return -EOPNOTSUPP;
	sw->st.vf_removal_requests++;
	log_info("vsw", "%s: VF removal requested for port %u \"%s\"", sw->name, port, p->name);
	if (sw->busy) {
		vsw__bit_set(sw->vf_pending, port, true);
		return 0;
	}
	return sw->vf_fn(sw->vf_arg, sw, port);
}

/* --- introspection ------------------------------------------------------ */

int vsw_port_get(const struct vsw *sw, unsigned int port, struct vsw_port_info *info)
{
	const struct vsw__port *p = vsw__port(sw, port);

	if (!p)
		return -ENOENT;
	memset(info, 0, sizeof(*info));
	info->id = port;
	info->kind = p->kind;
	memcpy(info->name, p->name, sizeof(info->name));
	info->vlan = p->vlan;
	for (unsigned int i = 0; i < p->nmacs; i++)
		for (int b = 0; b < 6; b++)
			info->macs[i][b] = (uint8_t)(p->mac48[i] >> (40 - 8 * b));
	info->nmacs = p->nmacs;
	info->allow_mac_spoofing = p->allow_mac_spoofing;
	info->tx_vlan_offload = p->tx_vlan_offload;
	info->capture = p->cap_dirs;
	info->stats = p->st;
	return 0;
}

int vsw_dump(const struct vsw *sw, const struct vsw_dump_ops *ops, void *arg)
{
	int rc;

	for (unsigned int i = 0; ops->port && i < VSW_MAX_PORTS; i++) {
		struct vsw_port_info info;

		if (vsw_port_get(sw, i, &info))
			continue;
		rc = ops->port(arg, &info);
		if (rc)
			return rc;
	}
	return ops->mac ? vsw__mac_dump(sw, ops->mac, arg) : 0;
}

void vsw_get_stats(const struct vsw *sw, struct vsw_stats *st)
{
	*st = sw->st;
	st->ports = sw->nports;
	st->macs = sw->nmacs;
	st->max_macs = sw->max_macs;
	st->mac_age_ns = sw->age_ns;
}

const char *vsw_drop_name(enum vsw_drop reason)
{
	static const char *const names[VSW_DROP_MAX] = {
		[VSW_DROP_NONE] = "none",           [VSW_DROP_MALFORMED] = "malformed",
		[VSW_DROP_SPOOF] = "spoof",         [VSW_DROP_VLAN] = "vlan",
		[VSW_DROP_FILTER] = "filter",       [VSW_DROP_NO_ROUTE] = "no-route",
		[VSW_DROP_PORT_FULL] = "port-full",
	};

	return (unsigned int)reason < VSW_DROP_MAX ? names[reason] : "?";
}

const char *vsw_port_kind_name(enum vsw_port_kind kind)
{
	switch (kind) {
	case VSW_PORT_EXTERNAL:
		return "external";
	case VSW_PORT_INTERNAL:
		return "internal";
	case VSW_PORT_VM:
		return "vm";
	}
	return "?";
}

const char *vsw_vlan_mode_name(enum vsw_vlan_mode mode)
{
	switch (mode) {
	case VSW_VLAN_ACCESS:
		return "access";
	case VSW_VLAN_TRUNK:
		return "trunk";
	}
	return "?";
}
