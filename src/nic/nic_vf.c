/* nic_vf — what the PF does to one VF through the backchannel: its PCI
 * config space, its config blocks, function level reset, power state.
 * See nic.h.
 *
 * A VF's config space at power-on (little-endian, as PCI is):
 *
 *   0x00 vendor 0x1414, device NIC_PCI_VF_DEVICE_ID       read-only
 *   0x04 command 0 (writable: memory, bus master, parity, SERR, INTx off)
 *   0x06 status: capability list                          read-only
 *   0x08 revision 1, class 02/00/00 (Ethernet controller) read-only
 *   0x0c cache line size (writable); latency, header type 0, BIST
 *   0x10 BAR0/1: 64-bit prefetchable memory, NIC_VF_BAR_SIZE bytes at
 *        NIC_VF_BAR_BASE + id * size; the address bits are writable, so a
 *        driver sizes it the usual way (write ~0, read back)
 *   0x2c subsystem vendor/device = vendor/device           read-only
 *   0x34 capabilities at 0x40                              read-only
 *   0x3c interrupt line (writable); pin 0: a VF has no INTx
 *   0x40 PCI Express capability, endpoint; device control writable except
 *        "initiate FLR" (an FLR is the PF's privilege: RESET_VF)
 *   0x50 power management capability; PMCSR shows the power state, which
 *        only SET_VF_POWER_STATE changes
 */
#include <string.h>

#include "nic/nic_priv.h"

#define CFG_COMMAND       0x04
#define CFG_STATUS        0x06
#define CFG_REVISION      0x08
#define CFG_CLASS         0x0b
#define CFG_BAR0          0x10
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_SUBSYS_ID     0x2e
#define CFG_CAP_PTR       0x34
#define CFG_PCIE          0x40
#define CFG_PM            0x50
#define CFG_PMCSR         (CFG_PM + 4)

#define STATUS_CAP_LIST     0x0010u
#define BAR_MEM64_PREF      0x000cu
#define PCIE_CAP_ID         0x10u
#define PCIE_CAP_V2_EP      0x0002u     /* version 2, device type: PCIe endpoint */
#define PCIE_DEVCAP_MPS     0x00000001u /* max payload 256 bytes; no FLR: the VF can't start one */
#define PCIE_DEVCTL_INIT    0x2810u     /* relaxed ordering, no snoop, max read request 512 */
#define PM_CAP_ID           0x01u
#define PM_CAP_V3           0x0003u
#define PMCSR_NO_SOFT_RESET 0x0008u
#define PMCSR_STATE_MASK    0x0003u

/* Bits a config space write may change; everything else is read-only. */
static const uint8_t __nic_cfg_wmask[NIC_CFG_SPACE_SIZE] = {
	[CFG_COMMAND] = 0x46,  [CFG_COMMAND + 1] = 0x05, /* 0x0546 */
	[0x0c] = 0xff,                                   /* cache line size */
	[CFG_BAR0 + 2] = 0xff, [CFG_BAR0 + 3] = 0xff,    /* BAR0: bits 31..16 (64 KiB) */
	[CFG_BAR0 + 4] = 0xff, [CFG_BAR0 + 5] = 0xff,    /* BAR1: the upper half */
	[CFG_BAR0 + 6] = 0xff, [CFG_BAR0 + 7] = 0xff,    [0x3c] = 0xff, /* interrupt line */
	[CFG_PCIE + 8] = 0xff, [CFG_PCIE + 9] = 0x7f, /* device control, not bit 15 */
};
_Static_assert(NIC_VF_BAR_SIZE == 0x10000u, "the BAR0 write mask assumes 64 KiB");

static void __put16(uint8_t *c, unsigned int off, uint16_t v)
{
	c[off] = (uint8_t)v;
	c[off + 1] = (uint8_t)(v >> 8);
}

static void __put32(uint8_t *c, unsigned int off, uint32_t v)
{
	__put16(c, off, (uint16_t)v);
	__put16(c, off + 2, (uint16_t)(v >> 16));
}

static void __nic_cfg_power_on(uint8_t *c, unsigned int id)
{
	memset(c, 0, NIC_CFG_SPACE_SIZE);
	__put16(c, 0x00, NIC_PCI_VENDOR_ID);
	__put16(c, 0x02, NIC_PCI_VF_DEVICE_ID);
	__put16(c, CFG_STATUS, STATUS_CAP_LIST);
	c[CFG_REVISION] = 1;
	c[CFG_CLASS] = 0x02; /* network controller; subclass 0 Ethernet, prog-if 0 */
	__put32(c, CFG_BAR0, (NIC_VF_BAR_BASE + id * NIC_VF_BAR_SIZE) | BAR_MEM64_PREF);
	__put16(c, CFG_SUBSYS_VENDOR, NIC_PCI_VENDOR_ID);
	__put16(c, CFG_SUBSYS_ID, NIC_PCI_VF_DEVICE_ID);
	c[CFG_CAP_PTR] = CFG_PCIE;
	c[CFG_PCIE] = PCIE_CAP_ID;
	c[CFG_PCIE + 1] = CFG_PM;
	__put16(c, CFG_PCIE + 2, PCIE_CAP_V2_EP);
	__put32(c, CFG_PCIE + 4, PCIE_DEVCAP_MPS);
	__put16(c, CFG_PCIE + 8, PCIE_DEVCTL_INIT);
	c[CFG_PM] = PM_CAP_ID;
	__put16(c, CFG_PM + 2, PM_CAP_V3);
	__put16(c, CFG_PMCSR, PMCSR_NO_SOFT_RESET | NIC_POWER_D0);
}

static void __nic_block_set(struct __nic_block *b, const void *data, size_t len)
{
	b->present = true;
	b->len = (uint16_t)len;
	memcpy(b->data, data, len);
}

void __nic_vf_power_on(struct __nic_vf *vf, unsigned int id, bool keep_pf_blocks)
{
	uint8_t vlan[2] = { 0, 0 }, mtu[4];

	__nic_cfg_power_on(vf->cfg, id);
	vf->power = NIC_POWER_D0;
	vf->pending = 0;
	for (unsigned int b = keep_pf_blocks ? NIC_BLOCK_VF_FIRST : 0; b < NIC_BLOCKS; b++)
		vf->blocks[b].present = false;
	if (keep_pf_blocks)
		return;
	__put32(mtu, 0, 1500);
	__nic_block_set(&vf->blocks[NIC_BLOCK_MAC], vf->mac, 6);
	__nic_block_set(&vf->blocks[NIC_BLOCK_VLAN], vlan, sizeof(vlan));
	__nic_block_set(&vf->blocks[NIC_BLOCK_MTU], mtu, sizeof(mtu));
}

/* --- config space -------------------------------------------------------- */

static int __nic_cfg_check(const struct nic *nic, unsigned int vf, unsigned int off, size_t len)
{
	int err = __nic_vf_check(nic, vf);

	if (err)
		return err;
	if (off > NIC_CFG_SPACE_SIZE || len > NIC_CFG_SPACE_SIZE - off)
		return -EINVAL;
	return 0;
}

int nic_vf_cfg_read(const struct nic *nic, unsigned int vf, unsigned int off, void *buf, size_t len)
{
	int err = __nic_cfg_check(nic, vf, off, len);

	if (err)
		return err;
	memcpy(buf, nic->vfs[vf].cfg + off, len);
	return 0;
}

int nic_vf_cfg_write(struct nic *nic, unsigned int vf, unsigned int off, const void *buf,
                     size_t len)
{
	const uint8_t *in = buf;
	uint8_t *cfg;
	int err = __nic_cfg_check(nic, vf, off, len);

	if (err)
		return err;
	cfg = nic->vfs[vf].cfg;
	for (size_t i = 0; i < len; i++) {
		uint8_t m = __nic_cfg_wmask[off + i];

		cfg[off + i] = (uint8_t)((cfg[off + i] & ~m) | (in[i] & m));
	}
	return 0;
}

/* --- config blocks ------------------------------------------------------- */

int nic_vf_block_read(const struct nic *nic, unsigned int vf, unsigned int id, void *buf,
                      size_t buflen)
{
	const struct __nic_block *b;
	int err = __nic_vf_check(nic, vf);

	if (err)
		return err;
	if (id >= NIC_BLOCKS)
		return -EINVAL;
	b = &nic->vfs[vf].blocks[id];
	if (!b->present)
		return -ENOENT;
	if (buflen < b->len)
		return -ENOBUFS;
	memcpy(buf, b->data, b->len);
	return b->len;
}

int nic_vf_block_write(struct nic *nic, unsigned int vf, enum nic_who who, unsigned int id,
                       const void *buf, size_t len)
{
	int err = __nic_vf_check(nic, vf);

	if (err)
		return err;
	if (id >= NIC_BLOCKS || len > NIC_BLOCK_MAX_LEN || (who != NIC_BY_PF && who != NIC_BY_VF))
		return -EINVAL;
	if (who == NIC_BY_VF && id < NIC_BLOCK_VF_FIRST)
		return -EPERM;
	__nic_block_set(&nic->vfs[vf].blocks[id], buf, len);
	return 0;
}

int nic_vf_block_invalidate(struct nic *nic, unsigned int vf, uint64_t mask)
{
	int err = __nic_vf_check(nic, vf);

	if (err)
		return err;
	nic->vfs[vf].pending |= mask;
	return 0;
}

int nic_vf_block_pending(struct nic *nic, unsigned int vf, uint64_t *mask)
{
	int err = __nic_vf_check(nic, vf);

	if (err)
		return err;
	*mask = nic->vfs[vf].pending;
	nic->vfs[vf].pending = 0;
	return 0;
}

/* --- reset and power ----------------------------------------------------- */

int nic_vf_reset(struct nic *nic, unsigned int id)
{
	struct __nic_vf *vf;
	int err = __nic_vf_check(nic, id);

	if (err)
		return err;
	vf = &nic->vfs[id];
	if (vf->vport != __NIC_NO_VPORT) {
		struct __nic_vport *vp = &nic->vports[vf->vport];

		vp->st.drops[NIC_DROP_FLR] += vp->st.queued;
		vp->st.queued = 0;
		vp->running = false;
	}
	__nic_vf_power_on(vf, id, true);
	if (vf->vport != __NIC_NO_VPORT)
		__nic_vport_update_active(nic, vf->vport);
	return 0;
}

int nic_vf_set_power(struct nic *nic, unsigned int id, enum nic_power state)
{
	struct __nic_vf *vf;
	int err;

	if (state != NIC_POWER_D0 && state != NIC_POWER_D3HOT)
		return -EINVAL;
	err = __nic_vf_check(nic, id);
	if (err)
		return err;
	vf = &nic->vfs[id];
	vf->power = state;
	vf->cfg[CFG_PMCSR] = (uint8_t)((vf->cfg[CFG_PMCSR] & ~PMCSR_STATE_MASK) | state);
	if (vf->vport != __NIC_NO_VPORT)
		__nic_vport_update_active(nic, vf->vport);
	return 0;
}
