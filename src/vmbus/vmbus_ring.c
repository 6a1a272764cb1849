/* vmbus_ring — see vmbus_ring.h for the layout and the index contract. */
#include "vmbus/vmbus_ring.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

static const uint8_t zeros[8];

/* Descriptors are composed as little-endian words (vmbus_ring_write). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "a little-endian host");

__attribute__((format(printf, 2, 3))) static int __ring_fail(struct vmbus_ring *r, const char *fmt,
                                                             ...)
{
	va_list ap;

	if (!r->broken) {
		va_start(ap, fmt);
		vsnprintf(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
		r->broken = true;
	}
	return -EPROTO;
}

/* Copy @n bytes into the data area at free-running index @idx, wrapping. */
static inline void __ring_put(struct vmbus_ring *r, uint32_t idx, const void *src, uint32_t n)
{
	uint32_t off = idx & r->mask;
	uint32_t first = r->size - off;

	if (likely(n <= first)) {
		memcpy(r->data + off, src, n);
	} else {
		memcpy(r->data + off, src, first);
		memcpy(r->data, (const uint8_t *)src + first, n - first);
	}
}

/* One 8-byte word at an 8-aligned free-running index: the data area is a
 * power of two of at least 8 bytes, so the word never wraps. Descriptors
 * (two words), trailers and the word holding a packet's padding are written
 * and read this way, with no call per field. */
static inline void __ring_put64(struct vmbus_ring *r, uint32_t idx, const void *src)
{
	memcpy(r->data + (idx & r->mask), src, 8);
}

static inline void __ring_get64(const struct vmbus_ring *r, uint32_t idx, void *dst)
{
	memcpy(dst, r->data + (idx & r->mask), 8);
}

/* Copy @n bytes out of the data area at free-running index @idx, wrapping. */
static inline void __ring_get(const struct vmbus_ring *r, uint32_t idx, void *dst, uint32_t n)
{
	uint32_t off = idx & r->mask;
	uint32_t first = r->size - off;

	if (likely(n <= first)) {
		memcpy(dst, r->data + off, n);
	} else {
		memcpy(dst, r->data + off, first);
		memcpy((uint8_t *)dst + first, r->data, n - first);
	}
}

static inline void __ring_signal(struct vmbus_ring *r)
{
	if (r->signal) {
		r->signal(r->signal_arg);
		r->signals++;
	}
}

int vmbus_ring_format(void *mem, uint32_t size)
{
	struct vmbus_ring_hdr *h = mem;

	if (!is_pow2(size) || size < VMBUS_RING_MIN_SIZE || size > VMBUS_RING_MAX_SIZE)
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	h->magic = VMBUS_RING_MAGIC;
	h->version = VMBUS_RING_VERSION;
	h->size = size;
	h->feature_bits = VMBUS_RING_F_PENDING_SEND_SZ;
	return 0;
}

int vmbus_ring_attach(struct vmbus_ring *r, void *mem, uint32_t size, enum vmbus_ring_role role,
                      void (*signal)(void *arg), void *signal_arg)
{
	struct vmbus_ring_hdr *h = mem;
	uint32_t magic = READ_ONCE(h->magic), version = READ_ONCE(h->version);
	uint32_t hsize = READ_ONCE(h->size);
	uint32_t w = READ_ONCE(h->write_index), rd = READ_ONCE(h->read_index);

	memset(r, 0, sizeof(*r));
	r->hdr = h;
	r->data = (uint8_t *)mem + VMBUS_RING_HDR_SIZE;
	r->size = size;
	r->mask = size - 1;
	r->role = role;
	r->signal = signal;
	r->signal_arg = signal_arg;
	if (magic != VMBUS_RING_MAGIC)
		return __ring_fail(r, "magic %#x, expected %#x", magic, VMBUS_RING_MAGIC);
	if (version != VMBUS_RING_VERSION)
		return __ring_fail(r, "version %u, expected %u", version, VMBUS_RING_VERSION);
	if (!is_pow2(size) || hsize != size)
		return __ring_fail(r, "size %u, expected %u", hsize, size);
	if (w - rd > size || (w & 7) || (rd & 7))
		return __ring_fail(r, "write_index %u / read_index %u inconsistent", w, rd);
	if (role == VMBUS_RING_PRODUCER) {
		r->idx = r->pub = w;
		r->peer_idx = rd;
		r->pending = READ_ONCE(h->pending_send_sz) != 0; /* an earlier producer's */
	} else {
		r->idx = rd;
		r->peer_idx = w;
		WRITE_ONCE(h->interrupt_mask, 1); /* busy until the first arm */
	}
	return 0;
}

/* Producer: load and validate the consumer's read index. It must be 8-aligned,
 * must not move backwards and must not pass our write index. */
static int __prod_load_read(struct vmbus_ring *r)
{
	uint32_t rd = load_acquire(&r->hdr->read_index);

	if ((rd & 7) || rd - r->peer_idx > r->idx - r->peer_idx)
		return __ring_fail(r, "read_index %u invalid (write_index %u, last read_index %u)",
		                   rd, r->idx, r->peer_idx);
	r->peer_idx = rd;
	return 0;
}

/* Consumer: load and validate the producer's write index: 8-aligned, not
 * moving backwards, at most @size ahead of our read index. */
static int __cons_load_write(struct vmbus_ring *r)
{
	uint32_t w = load_acquire(&r->hdr->write_index);

	if ((w & 7) || w - r->idx > r->size || w - r->idx < r->peer_idx - r->idx)
		return __ring_fail(r, "write_index %u invalid (read_index %u, ring size %u)", w,
		                   r->idx, r->size);
	r->peer_idx = w;
	return 0;
}

static inline uint32_t __prod_free(const struct vmbus_ring *r)
{
	return r->size - (r->idx - r->peer_idx);
}

/* Producer: 1 when @need bytes fit, 0 when not, -EPROTO. With @set_pending
 * the need is published first so the consumer signals when room appears. */
static int __prod_room(struct vmbus_ring *r, uint32_t need, bool set_pending)
{
	if (__prod_free(r) >= need)
		return 1;
	if (__prod_load_read(r))
		return -EPROTO;
	if (__prod_free(r) >= need)
		return 1;
	if (!set_pending)
		return 0;
	WRITE_ONCE(r->hdr->pending_send_sz, need);
	r->pending = true;
	smp_mb(); /* pending_send_sz before read_index: pairs with the consumer's */
	if (__prod_load_read(r))
		return -EPROTO;
	return __prod_free(r) >= need;
}

bool vmbus_ring_has_room(struct vmbus_ring *r, uint32_t need)
{
	return __prod_room(r, need, false) == 1;
}

bool vmbus_ring_wait_room(struct vmbus_ring *r, uint32_t need)
{
	return __prod_room(r, need, true) == 0;
}

/* Producer: make every packet up to r->idx visible with one index store,
 * and signal as the header says (the ring was empty before, the consumer
 * not busy polling). */
static void __prod_publish(struct vmbus_ring *r)
{
	uint32_t start = r->pub, w = r->idx;
	/* The consumer read the lines ahead last: ask for as many as this
	 * burst took (up to 2 KiB, never past our free space) now, so the
	 * next burst's stores don't each wait for one. */
	uint32_t span = w - start < 2048 ? w - start : 2048;

	if (w == start)
		return;
	if (span > __prod_free(r))
		span = __prod_free(r);
	for (uint32_t o = 0; o < span; o += 64)
		util_prefetch_w(r->data + ((w + o) & r->mask));
	store_release(&r->hdr->write_index, w);
	r->pub = w;
	if (r->pending) { /* no read of the shared line: only we write it */
		WRITE_ONCE(r->hdr->pending_send_sz, 0);
		r->pending = false;
	}
	smp_mb(); /* write_index before interrupt_mask/read_index: pairs with arm */
	if (!READ_ONCE(r->hdr->interrupt_mask) && READ_ONCE(r->hdr->read_index) == start)
		__ring_signal(r);
}

/* A packet's framing at index @w: its descriptor as two words (not a struct
 * on the stack: reading back its narrow stores at once would stall), the
 * trailer, and its sizes (the header's packet layout). */
struct pkt_frame {
	uint64_t d0, d1, trailer;
	uint32_t need, dlen; /* ring bytes in all; before the trailer */
	uint8_t pad;
};

static inline struct pkt_frame __pkt_frame(uint32_t w, uint16_t type, uint16_t flags,
                                           uint32_t trans_id, uint32_t ext_len, uint32_t len)
{
	struct pkt_frame f;

	f.need = vmbus_pkt_space(ext_len, len);
	f.dlen = f.need - VMBUS_TRAILER_SIZE;
	f.pad = (uint8_t)((8 - (len & 7)) & 7);
	f.d0 = type | (uint64_t)flags << 16 | (uint64_t)f.dlen << 32;
	f.d1 = (sizeof(struct vmbus_desc) + ext_len) | (uint64_t)f.pad << 16 |
	       (uint64_t)trans_id << 32; /* offset, pad, rsvd 0, trans_id */
	f.trailer = ((uint64_t)w << 32) | f.dlen;
	return f;
}

int vmbus_ring_write(struct vmbus_ring *r, const struct vmbus_tx *pkts, unsigned int n)
{
	uint32_t w = r->idx;
	unsigned int i;
	int rc = 0;

	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_PRODUCER)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const struct vmbus_tx *p = &pkts[i];
		uint64_t len = 0;
		struct pkt_frame f;

		for (unsigned int k = 0; k < p->iovcnt; k++)
			len += p->iov[k].iov_len;
		if ((p->ext_len & 7) || p->ext_len > 0xffffu - 7u - sizeof(struct vmbus_desc) ||
		    (p->ext_len && !p->ext) || len > VMBUS_RING_MAX_SIZE) {
			rc = -EINVAL;
			break;
		}
		f = __pkt_frame(w, p->type, p->flags, p->trans_id, p->ext_len, (uint32_t)len);
		uint32_t need = f.need, dlen = f.dlen;

		if (need > r->size) {
			rc = -EMSGSIZE;
			break;
		}
		if (unlikely(__prod_free(r) < need)) {
			rc = __prod_room(r, need, true); /* r->idx == w: counts this burst */
			if (rc < 0)
				return rc;
			if (rc == 0) {
				r->full_events++;
				break;
			}
			rc = 0;
		}
		if (likely((w & r->mask) + need <= r->size)) {
			/* Contiguous (nearly every packet): plain stores, no wrap math
			 * per field, small copies inline. */
			uint8_t *q = r->data + (w & r->mask), *at = q + sizeof(struct vmbus_desc);

			memcpy(q, &f.d0, 8);
			memcpy(q + 8, &f.d1, 8);
			if (f.pad) /* the packet's last word: the body's tail, then zeros */
				memcpy(q + dlen - 8, zeros, 8);
			at = util_copy_small(at, p->ext, p->ext_len);
			for (unsigned int k = 0; k < p->iovcnt; k++)
				at = util_copy_small(at, p->iov[k].iov_base, p->iov[k].iov_len);
			memcpy(q + dlen, &f.trailer, 8);
		} else {
			__ring_put64(r, w, &f.d0);
			__ring_put64(r, w + 8, &f.d1);
			if (f.pad)
				__ring_put64(r, w + dlen - 8, zeros);
			uint32_t at = w + (uint32_t)sizeof(struct vmbus_desc);
			if (p->ext_len) {
				__ring_put(r, at, p->ext, p->ext_len);
				at += p->ext_len;
			}
			for (unsigned int k = 0; k < p->iovcnt; k++) {
				__ring_put(r, at, p->iov[k].iov_base, (uint32_t)p->iov[k].iov_len);
				at += (uint32_t)p->iov[k].iov_len;
			}
			__ring_put64(r, w + dlen, &f.trailer);
		}
		w += need;
		r->idx = w; /* private: the peer sees nothing until the store below */
	}
	__prod_publish(r);
	if (i == 0 && rc < 0)
		return rc;
	return (int)i;
}

int vmbus_ring_reserve(struct vmbus_ring *r, uint32_t ext_len, uint32_t max, struct vmbus_slot *s)
{
	uint32_t at, n, off, first;
	int rc;

	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_PRODUCER || (ext_len & 7) ||
	    ext_len > 0xffffu - 7u - sizeof(struct vmbus_desc) || max > VMBUS_RING_MAX_SIZE)
		return -EINVAL;
	if (vmbus_pkt_space(ext_len, max) > r->size)
		return -EMSGSIZE;
	rc = __prod_room(r, vmbus_pkt_space(ext_len, max), true);
	if (rc <= 0) {
		if (rc == 0)
			r->full_events++;
		return rc;
	}
	s->w = r->idx;
	s->ext_len = ext_len;
	s->max = max;
	at = r->idx + (uint32_t)sizeof(struct vmbus_desc);
	n = ext_len + max;
	off = at & r->mask;
	first = r->size - off;
	s->iov[0] = (struct iovec){ r->data + off, n <= first ? n : first };
	s->iov[1] = (struct iovec){ r->data, n <= first ? 0 : n - first };
	return 1;
}

unsigned int vmbus_slot_iov(const struct vmbus_slot *s, uint32_t at, uint32_t len,
                            struct iovec out[2])
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < 2 && len; i++) {
		size_t have = s->iov[i].iov_len;

		if (at >= have) {
			at -= (uint32_t)have;
			continue;
		}
		size_t take = have - at < len ? have - at : len;

		out[k++] = (struct iovec){ (uint8_t *)s->iov[i].iov_base + at, take };
		len -= (uint32_t)take;
		at = 0;
	}
	return k;
}

void vmbus_ring_commit(struct vmbus_ring *r, const struct vmbus_slot *s, uint16_t type,
                       uint32_t len)
{
	struct pkt_frame f = __pkt_frame(s->w, type, 0, 0, s->ext_len, len);

	if (r->broken || s->w != r->idx || len > s->max)
		return; /* not the slot reserved last, or more than it holds */
	__ring_put64(r, s->w, &f.d0);
	__ring_put64(r, s->w + 8, &f.d1);
	if (f.pad) /* after the body, already in place: the pad bytes alone */
		__ring_put(r, s->w + f.dlen - f.pad, zeros, f.pad);
	__ring_put64(r, s->w + f.dlen, &f.trailer);
	r->idx = s->w + f.need; /* private until vmbus_ring_publish */
}

void vmbus_ring_publish(struct vmbus_ring *r)
{
	if (!r->broken && r->role == VMBUS_RING_PRODUCER)
		__prod_publish(r);
}

int64_t vmbus_ring_avail(struct vmbus_ring *r)
{
	if (r->broken || __cons_load_write(r))
		return -EPROTO;
	return r->peer_idx - r->idx;
}

/* Consumer: the free space the producer sees once we release up to @rd, as
 * far as the latest write index tells. */
static int64_t __cons_free_at(const struct vmbus_ring *r, uint32_t w, uint32_t rd)
{
	return (int64_t)r->size - (int64_t)(uint32_t)(w - rd);
}

static void __cons_release(struct vmbus_ring *r, uint32_t rd)
{
	uint32_t old = r->idx, pend, w;

	store_release(&r->hdr->read_index, rd);
	r->idx = rd;
	smp_mb(); /* read_index before pending_send_sz: pairs with the producer's */
	pend = READ_ONCE(r->hdr->pending_send_sz);
	if (!pend || pend > r->size)
		return; /* nothing asked; a nonsense value asks for nothing */
	w = READ_ONCE(r->hdr->write_index);
	if (__cons_free_at(r, w, old) < pend && __cons_free_at(r, w, rd) >= pend)
		__ring_signal(r);
}

/* The consumer's loop: validate each descriptor on its copy, then copy the
 * body into @buf, or with @in_place hand out a body that lies contiguous in
 * the data area where it is. *@next gets the read index after the packets
 * taken (nothing is released here). */
static int __cons_take(struct vmbus_ring *r, struct vmbus_rx *pkts, unsigned int max, void *buf,
                       size_t buflen, bool in_place, uint32_t *next)
{
	uint8_t *out = buf;
	size_t used = 0;
	uint32_t rd;
	unsigned int n = 0;

	if (r->broken)
		return -EPROTO;
	if (r->role != VMBUS_RING_CONSUMER)
		return -EINVAL;
	if (__cons_load_write(r))
		return -EPROTO;
	rd = r->idx;
	while (n < max && rd != r->peer_idx) {
		uint32_t left = r->peer_idx - rd, body;
		struct vmbus_desc d;
		uint64_t trailer, expect;

		if (left < sizeof(d) + VMBUS_TRAILER_SIZE) {
			__ring_fail(r, "write_index %u leaves a partial packet of %u bytes",
			            r->peer_idx, left);
			break;
		}
		__ring_get64(r, rd, &d);
		__ring_get64(r, rd + 8, (uint8_t *)&d + 8);
		if (d.len > r->size - VMBUS_TRAILER_SIZE) {
			__ring_fail(r, "desc.len %u larger than the ring (%u bytes)", d.len,
			            r->size);
			break;
		}
		if (d.len & 7) {
			__ring_fail(r, "desc.len %u not 8-aligned", d.len);
			break;
		}
		if (d.len < sizeof(d)) {
			__ring_fail(r, "desc.len %u shorter than a descriptor", d.len);
			break;
		}
		if (d.len + VMBUS_TRAILER_SIZE > left) {
			__ring_fail(r, "desc.len %u runs past write_index (%u bytes published)",
			            d.len, left);
			break;
		}
		if (d.offset < sizeof(d) || (d.offset & 7) || d.offset > d.len) {
			__ring_fail(r, "desc.offset %u invalid (desc.len %u)", d.offset, d.len);
			break;
		}
		if (d.pad > 7 || d.pad > d.len - d.offset || d.rsvd) {
			__ring_fail(r, "desc.pad %u / desc.rsvd %u invalid", d.pad, d.rsvd);
			break;
		}
		body = d.len - (uint32_t)sizeof(d);
		const uint8_t *at;
		uint32_t boff = (rd + (uint32_t)sizeof(d)) & r->mask;

		/* Small bodies are copied anyway: reading them where the producer
		 * keeps writing the next ones costs more than the copy. */
		if (in_place && body >= VMBUS_PEEK_MIN && body <= r->size - boff) {
			at = r->data + boff;
		} else {
			if (used + body > buflen) {
				if (n == 0)
					return -ENOBUFS;
				break;
			}
			if (likely(body <= r->size - boff)) /* contiguous */
				util_copy_small(out + used, r->data + boff, body);
			else
				__ring_get(r, rd + (uint32_t)sizeof(d), out + used, body);
			at = out + used;
			used += body;
		}
		__ring_get64(r, rd + d.len, &trailer);
		expect = ((uint64_t)rd << 32) | d.len;
		if (trailer != expect) {
			__ring_fail(r, "trailer %#llx disagrees with the packet (expected %#llx)",
			            (unsigned long long)trailer, (unsigned long long)expect);
			break;
		}
		pkts[n].type = d.type;
		pkts[n].flags = d.flags;
		pkts[n].trans_id = d.trans_id;
		pkts[n].ext = at;
		pkts[n].ext_len = d.offset - (uint32_t)sizeof(d);
		pkts[n].data = at + pkts[n].ext_len;
		pkts[n].len = d.len - d.offset - d.pad;
		rd += d.len + VMBUS_TRAILER_SIZE;
		n++;
	}
	*next = rd;
	if (n == 0 && r->broken)
		return -EPROTO;
	return (int)n;
}

int vmbus_ring_read(struct vmbus_ring *r, struct vmbus_rx *pkts, unsigned int max, void *buf,
                    size_t buflen)
{
	uint32_t next;
	int n = __cons_take(r, pkts, max, buf, buflen, false, &next);

	if (n > 0 && next != r->idx)
		__cons_release(r, next);
	return n;
}

int vmbus_ring_peek(struct vmbus_ring *r, struct vmbus_rx *pkts, unsigned int max, void *buf,
                    size_t buflen, uint32_t *next)
{
	*next = r->idx;
	return __cons_take(r, pkts, max, buf, buflen, true, next);
}

void vmbus_ring_release(struct vmbus_ring *r, uint32_t next)
{
	if (!r->broken && r->role == VMBUS_RING_CONSUMER && next != r->idx &&
	    next - r->idx <= r->peer_idx - r->idx)
		__cons_release(r, next);
}

bool vmbus_ring_arm(struct vmbus_ring *r)
{
	WRITE_ONCE(r->hdr->interrupt_mask, 0);
	smp_mb(); /* interrupt_mask before write_index: pairs with the producer's */
	if (__cons_load_write(r) == 0 && r->peer_idx == r->idx)
		return true;
	WRITE_ONCE(r->hdr->interrupt_mask, 1);
	return false;
}

void vmbus_ring_disarm(struct vmbus_ring *r)
{
	WRITE_ONCE(r->hdr->interrupt_mask, 1);
}
