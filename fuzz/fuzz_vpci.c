/* libFuzzer target: a control message as a hostile VM (or host) sends it,
 * through vmbus_ctl_decode(), vmbus_vpci_decode() and vmbus_migrate_decode().
 * Whatever decodes must satisfy the documented rules: a nonzero serial,
 * reserved fields zero, the right descriptor count, VPCI_ADD's sizes in
 * range; MIGRATE's strings terminated and nonempty, its channel absolute.
 *
 * Input: [u8 descriptor count][the datagram]. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmbus/vmbus_chan.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static struct vmbus_ctl_msg m;
	struct vmbus_vpci_add a;
	char err[160];
	int nfds, rc;

	if (len < 1)
		return 0;
	nfds = in[0] % (VMBUS_CTL_MAX_FDS + 1);
	err[0] = 0;
	if (vmbus_ctl_decode(in + 1, len - 1, &m, err, sizeof(err))) {
		if (!err[0])
			abort(); /* every refusal says why */
		return 0;
	}
	if (m.hdr.type == VMBUS_CTL_MIGRATE) {
		struct vmbus_migrate mg;

		err[0] = 0;
		if (vmbus_migrate_decode(&m, nfds, &mg, err, sizeof(err)))
			return err[0] ? 0 : (abort(), 0);
		if (nfds || !mg.host[0] || !memchr(mg.host, 0, sizeof(mg.host)) || !mg.name[0] ||
		    !memchr(mg.name, 0, sizeof(mg.name)) || mg.channel[0] != '/' ||
		    !memchr(mg.channel, 0, sizeof(mg.channel)))
			abort();
		return 0;
	}
	err[0] = 0;
	rc = vmbus_vpci_decode(&m, nfds, &a, err, sizeof(err));
	if (rc) {
		if (!err[0] || (rc != -EPROTO && rc != -EINVAL))
			abort();
		return 0;
	}
	if (!a.serial || a.rsvd)
		abort();
	if (m.hdr.type == VMBUS_CTL_VPCI_ADD) {
		if (nfds != VMBUS_VPCI_ADD_FDS || m.hdr.len != sizeof(a) || !a.bar_size ||
		    a.bar_size > VMBUS_VPCI_MAX_BAR || !a.num_qp || a.num_qp > VMBUS_VPCI_MAX_QP ||
		    (a.num_qp & (a.num_qp - 1)))
			abort();
	} else if (nfds || m.hdr.len != sizeof(struct vmbus_vpci) || a.bar_size || a.num_qp) {
		abort();
	}
	return 0;
}
