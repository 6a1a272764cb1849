/* vsw_mac — the switch's MAC table: (MAC, VLAN) -> port, learned from source
 * addresses, with ageing. A fixed array of max_macs entries (allocated once)
 * chained from a power-of-two bucket array; the hash is keyed with a random
 * seed so hostile source MACs can't pile into one bucket. See vsw.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "util/util.h"
#include "vswitch/vsw_priv.h"

static inline uint32_t vsw__mac_hash(const struct vsw *sw, uint64_t key)
{
	uint64_t h = key ^ sw->seed;

	/* murmur3's finalizer: every key bit reaches every hash bit */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h & sw->bucket_mask;
}

static inline bool vsw__mac_expired(const struct vsw *sw, const struct vsw__mac *e, uint64_t now)
{
	return now - e->seen > sw->age_ns; /* a clock gone backwards expires it too */
}

int vsw__mac_init(struct vsw *sw, uint32_t max_macs)
{
	uint32_t nb = 1;

	while (nb < max_macs)
		nb <<= 1;
	sw->macs = calloc(max_macs, sizeof(*sw->macs));
	sw->buckets = malloc(nb * sizeof(*sw->buckets));
	if (!sw->macs || !sw->buckets)
		return -ENOMEM;
	sw->bucket_mask = nb - 1;
	sw->max_macs = max_macs;
	if (getrandom(&sw->seed, sizeof(sw->seed), GRND_NONBLOCK) != sizeof(sw->seed))
		sw->seed = util_now_ns() * 0x9e3779b97f4a7c15ull;
	vsw_mac_flush(sw);
	return 0;
}

void vsw__mac_fini(struct vsw *sw)
{
	free(sw->macs);
	free(sw->buckets);
}

static struct vsw__mac *vsw__mac_find(const struct vsw *sw, uint64_t key)
{
	for (uint32_t i = sw->buckets[vsw__mac_hash(sw, key)]; i != VSW__NIL; i = sw->macs[i].next)
		if (sw->macs[i].key == key)
			return &sw->macs[i];
	return NULL;
}

static void vsw__mac_remove(struct vsw *sw, struct vsw__mac *e)
{
	uint32_t idx = (uint32_t)(e - sw->macs);
	uint32_t *link = &sw->buckets[vsw__mac_hash(sw, e->key)];

	while (*link != idx)
		link = &sw->macs[*link].next;
	*link = e->next;
	e->used = 0;
	e->next = sw->free_head;
	sw->free_head = idx;
	sw->nmacs--;
}

/* Remove the entries @pred picks; returns how many went. */
static int vsw__mac_remove_if(struct vsw *sw,
                              bool (*pred)(const struct vsw *sw, const struct vsw__mac *e,
                                           uint64_t arg),
                              uint64_t arg)
{
	int n = 0;

	for (uint32_t i = 0; i < sw->max_macs && sw->nmacs; i++) {
		struct vsw__mac *e = &sw->macs[i];

		if (e->used && pred(sw, e, arg)) {
			vsw__mac_remove(sw, e);
			n++;
		}
	}
	return n;
}

static bool vsw__mac_on_port(const struct vsw *sw, const struct vsw__mac *e, uint64_t port)
{
	return e->port == port;
}

static int vsw__mac_sweep(struct vsw *sw, uint64_t now)
{
	int n = vsw__mac_remove_if(sw, vsw__mac_expired, now);

	sw->st.mac_aged += (uint64_t)n;
	return n;
}

int vsw__mac_port(const struct vsw *sw, uint64_t key, uint64_t now)
{
	const struct vsw__mac *e = vsw__mac_find(sw, key);

	return e && !vsw__mac_expired(sw, e, now) ? e->port : -1;
}

/* Whether a spoof-protected VM port other than @port owns @key's MAC in
 * @key's VLAN and has claimed it (learned it on itself): such a MAC is then
 * learned on its owner only, though its entry was swept. (Looked at when an
 * entry is created: at most max_macs times per age, the table full then.) */
static bool vsw__protected_elsewhere(const struct vsw *sw, uint64_t key, unsigned int port)
{
	const uint64_t *members = sw->members[key & VSW__VID_MASK];

	for (unsigned int w = 0; w < VSW_PORT_WORDS; w++)
		for (uint64_t m = members[w]; m; m &= m - 1) {
			unsigned int i = w * 64 + (unsigned int)__builtin_ctzll(m);
			const struct vsw__port *p = &sw->ports[i];

			if (i != port && p->used && p->claimed && vsw__port_owns(p, key >> 12))
				return true;
		}
	return false;
}

/* A spoof-protected VM port learning one of its own MACs claims them. */
static void vsw__mac_claim(struct vsw *sw, uint64_t key, unsigned int port)
{
	struct vsw__port *self = &sw->ports[port];

	if (self->spoof_check && vsw__port_owns(self, key >> 12))
		self->claimed = true;
}

void vsw__mac_learn(struct vsw *sw, uint64_t key, unsigned int port, uint64_t now)
{
	struct vsw__mac *e = vsw__mac_find(sw, key);
	uint32_t idx, b;

	if (likely(e)) {
		if (unlikely(e->port != port)) {
			const struct vsw__port *owner = &sw->ports[e->port];
			bool live = !vsw__mac_expired(sw, e, now);

			/* A spoof-protected VM keeps its own MAC, its entry expired
			 * or not (expired, frames to it flood and still reach it). */
			if (owner->spoof_check && vsw__port_owns(owner, key >> 12)) {
				sw->st.mac_move_refused++;
				return;
			}
			if (live)
				sw->st.mac_moved++;
			else
				sw->st.mac_learned++;
			e->port = (uint16_t)port;
			vsw__mac_claim(sw, key, port);
		}
		e->seen = now;
		return;
	}
	if (unlikely(sw->nmacs == sw->max_macs)) {
		if (!sw->swept || now - sw->last_sweep >= VSW__SWEEP_NS) {
			sw->swept = true;
			sw->last_sweep = now;
			vsw__mac_sweep(sw, now);
		}
		if (sw->nmacs == sw->max_macs) {
			sw->st.mac_table_full++;
			return;
		}
	}
	if (unlikely(vsw__protected_elsewhere(sw, key, port))) { /* swept, or never seen */
		sw->st.mac_move_refused++;
		return;
	}
	idx = sw->free_head;
	e = &sw->macs[idx];
	sw->free_head = e->next;
	b = vsw__mac_hash(sw, key);
	*e = (struct vsw__mac){
		.key = key, .seen = now, .next = sw->buckets[b], .port = (uint16_t)port, .used = 1
	};
	sw->buckets[b] = idx;
	sw->nmacs++;
	sw->st.mac_learned++;
	vsw__mac_claim(sw, key, port);
}

void vsw__mac_forget_port(struct vsw *sw, unsigned int port)
{
	vsw__mac_remove_if(sw, vsw__mac_on_port, port);
}

int vsw_mac_age(struct vsw *sw)
{
	return vsw__mac_sweep(sw, sw->clock(sw->clock_arg));
}

void vsw_mac_flush(struct vsw *sw)
{
	for (uint32_t i = 0; i <= sw->bucket_mask; i++)
		sw->buckets[i] = VSW__NIL;
	for (uint32_t i = 0; i < sw->max_macs; i++) {
		sw->macs[i].used = 0;
		sw->macs[i].next = i + 1 < sw->max_macs ? i + 1 : VSW__NIL;
	}
	sw->free_head = 0;
	sw->nmacs = 0;
	sw->swept = false;
}

int vsw_mac_lookup(const struct vsw *sw, const uint8_t mac[6], uint16_t vlan)
{
	int port;

	if (vlan > VSW_VLAN_MAX)
		return -ENOENT;
	port = vsw__mac_port(sw, vsw__mac_key(mac, vlan), sw->clock(sw->clock_arg));
	return port < 0 ? -ENOENT : port;
}

int vsw__mac_dump(const struct vsw *sw, int (*fn)(void *arg, const struct vsw_mac_info *mac),
                  void *arg)
{
	uint64_t now = sw->clock(sw->clock_arg);

	for (uint32_t i = 0; i < sw->max_macs; i++) {
		const struct vsw__mac *e = &sw->macs[i];
		struct vsw_mac_info mi;
		uint64_t m = e->key >> 12;
		int rc;

		if (!e->used || vsw__mac_expired(sw, e, now))
			continue;
		for (int b = 0; b < 6; b++)
			mi.mac[b] = (uint8_t)(m >> (40 - 8 * b));
		mi.vlan = (uint16_t)(e->key & VSW__VID_MASK);
		mi.port = e->port;
		mi.idle_ns = now - e->seen;
		rc = fn(arg, &mi);
		if (rc)
			return rc;
	}
	return 0;
}
