/* libFuzzer target: the NIC switch's forwarding decision (nic_lookup) on
 * arbitrary frames from an arbitrary source, on a NIC set up once with VFs,
 * VPorts (one stopped by an FLR, one in D3hot) and MAC / MAC+VLAN filters.
 *
 * Input: [u8 source][frame bytes ...]
 *   source 0xfe: -1 (a bad id); anything else as is (0..7 VPorts, some
 *   missing; 8..254 out of range; 255 the wire).
 *
 * Besides ASan/UBSan (the frame is copied into a buffer of exactly its
 * length), every verdict is checked against the rules in nic.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nic/nic.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static const uint8_t vf_macs[4][6] = {
	{ 0x02, 0, 0, 0, 0, 0x0a },
	{ 0x02, 0, 0, 0, 0, 0x0b },
	{ 0x02, 0, 0, 0, 0, 0x0c },
	{ 0x02, 0, 0, 0, 0, 0x0d },
};

/* VPort 0: S untagged + VLAN 10; VPorts 1..4 = VF0..3 (VF2: VLAN 10 only,
 * VF3 stopped by an FLR); VPort 5: PF, P untagged; VF1 goes to D3hot. */
static struct nic *setup(void)
{
	static const uint8_t mac_s[6] = { 0x02, 0, 0, 0, 0, 0x53 };
	static const uint8_t mac_p[6] = { 0x02, 0, 0, 0, 0, 0x50 };
	const struct nic_caps caps = { 4, 8, 16, 4, 4 };
	struct nic *nic = nic_create(&caps);

	CHECK(nic && nic_switch_create(nic, 1) == 0);
	for (int i = 0; i < 4; i++) {
		int vf = nic_vf_alloc(nic, vf_macs[i], NULL);

		CHECK(vf == i && nic_vport_create(nic, vf, 1) == i + 1);
		CHECK(nic_filter_set(nic, (unsigned int)i + 1, vf_macs[i], i == 2 ? 10 : 0) == 0);
	}
	CHECK(nic_filter_set(nic, 1, vf_macs[0], 20) == 0);
	CHECK(nic_vport_create(nic, NIC_ATTACH_PF, 1) == 5);
	CHECK(nic_filter_set(nic, 5, mac_p, 0) == 0);
	CHECK(nic_filter_set(nic, 0, mac_s, 0) == 0);
	CHECK(nic_filter_set(nic, 0, mac_s, 10) == 0);
	CHECK(nic_vf_reset(nic, 3) == 0);
	CHECK(nic_vf_set_power(nic, 1, NIC_POWER_D3HOT) == 0);
	return nic;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static struct nic *nic;
	struct nic_verdict v;
	unsigned int n, seen = 0;
	uint8_t *frame;
	int src;

	if (!nic)
		nic = setup();
	if (len < 1)
		return 0;
	src = in[0] == 0xfe ? -1 : in[0];
	frame = malloc(len - 1 ? len - 1 : 1);
	CHECK(frame);
	memcpy(frame, in + 1, len - 1);

	n = nic_lookup(nic, frame, len - 1, src, &v);

	CHECK(n == v.ndst);
	CHECK(n == 1 ? v.port == nic_verdict_next(&v, -1) : v.port == -1);
	CHECK((n == 0) == (v.drop != NIC_DROP_NONE));
	CHECK((unsigned int)v.drop < NIC_DROP_MAX);
	for (int p = nic_verdict_next(&v, -1); p >= 0; p = nic_verdict_next(&v, p)) {
		CHECK(p != src);                         /* never back to the source */
		CHECK(p == (int)NIC_DST_WIRE || p <= 5); /* only existing ports */
		CHECK(p != 2 && p != 4);                 /* D3hot, stopped: inactive */
		seen++;
	}
	CHECK(seen == n);
	if (n) {
		CHECK(len - 1 >= 14);
		if (!(frame[0] & 1)) /* unicast: exactly one destination */
			CHECK(n == 1);
		else /* broadcast: the default VPort unless it sent it */
			CHECK(src == 0 || nic_verdict_has(&v, 0));
		if (src >= 1 && src <= 4) /* a VF sends only with its own MAC */
			CHECK(!memcmp(frame + 6, vf_macs[src - 1], 6));
	} else if (v.drop_port >= 0) {
		CHECK(v.drop_port == src || (v.drop == NIC_DROP_INACTIVE && v.drop_port <= 5));
	}
	free(frame);
	return 0;
}
