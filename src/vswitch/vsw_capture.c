/* vsw_capture — per-port capture into pcap files (libpcap's writer:
 * Ethernet, snap length 65535, microsecond real time stamps), for tcpdump
 * and Wireshark. The file is written through stdio; it is complete once the
 * capture stops. See vsw.h. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"
#include "vswitch/vsw_priv.h"

#define VSW__SNAPLEN 65535u

struct vsw__capture {
	pcap_t *pcap; /* a "dead" handle: only the link type and snap length */
	pcap_dumper_t *dumper;
};

int vsw_capture_start(struct vsw *sw, unsigned int port, const char *path, unsigned int dirs)
{
	struct vsw__port *p = port < VSW_MAX_PORTS ? &sw->ports[port] : NULL;
	struct vsw__capture *c;
	FILE *fp;
	int rc;

	if (!p || !p->used)
		return -ENOENT;
	if (!path || !dirs || (dirs & ~(VSW_CAP_IN | VSW_CAP_OUT)))
		return -EINVAL;
	if (p->cap)
		return -EBUSY;
	if (!sw->capbuf) {
		sw->capbuf = malloc(VSW__SNAPLEN);
		if (!sw->capbuf)
			return -ENOMEM;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pcap = pcap_open_dead(DLT_EN10MB, (int)VSW__SNAPLEN);
	if (!c->pcap) {
		rc = -ENOMEM;
		goto err_pcap;
	}
	fp = fopen(path, "wb");
	if (!fp) {
		rc = -errno;
		goto err_open;
	}
	c->dumper = pcap_dump_fopen(c->pcap, fp); /* writes the file header */
	if (!c->dumper) {
		rc = -EIO;
		goto err_dump;
	}
	p->cap = c;
	p->cap_dirs = dirs;
	log_info("vsw", "%s: port %u: capturing%s%s into %s", sw->name, port,
	         dirs & VSW_CAP_IN ? " in" : "", dirs & VSW_CAP_OUT ? " out" : "", path);
	return 0;

err_dump:
	fclose(fp);
err_open:
	pcap_close(c->pcap);
err_pcap:
	free(c);
	return rc;
}

int vsw__capture_close(struct vsw__port *p)
{
	struct vsw__capture *c = p->cap;
	int rc = 0;

	if (!c)
		return 0;
	if (pcap_dump_flush(c->dumper) || ferror(pcap_dump_file(c->dumper)))
		rc = -EIO;
	pcap_dump_close(c->dumper);
	pcap_close(c->pcap);
	free(c);
	p->cap = NULL;
	p->cap_dirs = 0;
	return rc;
}

int vsw_capture_stop(struct vsw *sw, unsigned int port)
{
	if (port >= VSW_MAX_PORTS || !sw->ports[port].used)
		return -ENOENT;
	return vsw__capture_close(&sw->ports[port]);
}

void vsw__capture_write(struct vsw *sw, struct vsw__port *p, const struct vsw_frame *f,
                        unsigned int n)
{
	struct pcap_pkthdr h;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	h.ts.tv_sec = ts.tv_sec;
	h.ts.tv_usec = ts.tv_nsec / 1000;
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *bytes = f[i].data;
		uint64_t wire = f[i].len;

		if ((f[i].flags & VSW_F_VLAN) && wire >= 12) {
			/* Show the offloaded tag where it is on the wire. */
			uint8_t *b = sw->capbuf;

			wire += VSW__VLAN_HLEN;
			memcpy(b, bytes, 12);
			b[12] = VSW__ETH_P_8021Q >> 8;
			b[13] = VSW__ETH_P_8021Q & 0xff;
			b[14] = (uint8_t)(f[i].vlan_tci >> 8);
			b[15] = (uint8_t)f[i].vlan_tci;
			memcpy(b + 16, bytes + 12,
			       (wire < VSW__SNAPLEN ? wire : VSW__SNAPLEN) - 16);
			bytes = b;
		}
		h.len = wire > UINT32_MAX ? UINT32_MAX : (bpf_u_int32)wire;
		h.caplen = wire < VSW__SNAPLEN ? (bpf_u_int32)wire : VSW__SNAPLEN;
		pcap_dump((u_char *)p->cap->dumper, &h, bytes);
	}
}
