/* hostd — the host daemon (iovpathd): one emulated SR-IOV NIC on a physical
 * port, the extensible switch, a NetVSP per VM network adapter, and the
 * management socket, in one single-threaded event loop.
 *
 * Files in the run directory (default /run/iovpath):
 *   HOST.lock    the single-instance lock (a second daemon for HOST is refused)
 *   HOST.mgmt    the management socket (mgmt.h protocol v1; root or --group)
 *   HOST.vmbus   where VM processes open their adapter's VMBus channel; each
 *                must present the adapter's credential (vm.create made it)
 *   NAME.secret  the credential of adapter NAME (mode 0600; for iovpath-vm)
 *
 * Management operations (mgmt_call op, args -> result):
 *   host.show                          {name, pid, version, port, vfs, vms, uptime_s}
 *   vm.create   {name, mac, vlan?}     {name, mac, vlan, secret_file, channel}
 *   vm.delete   {name}
 *   vm.show     {name?}                [{name, mac, vlan, connected, nvsp_version, datapath, ...}]
 *   vm.stats    {name}                 per-path counters (netvsc names: rx_packets, tx_packets,
 *                                      vf_rx_packets, ..., tx_send_full) + the host's reports
 *   nic.show                           caps, VFs, VPorts with filters and counters
 *   switch.show                        ports with VLAN config and counters
 *   capture.start {port, file, dir?}   pcap of a switch port ("in", "out", "both")
 *   capture.stop  {port}
 * Events (events.subscribe): vm.create, vm.connect, vm.disconnect, vm.delete,
 * datapath.switch, host.stop — each with ts_ns, the timeline `iovpath events` prints.
 *
 * Loop: poll the datapath (NIC engine, every NetVSP) while there is work;
 * when idle, arm everything and sleep in poll() on every channel, queue and
 * port descriptor plus the management, VMBus and signal descriptors, so an
 * idle host costs no CPU. SIGTERM/SIGINT: VMs' channels closed, the NIC's PF
 * halted in the documented order, files removed.
 *
 * Thread-safety: one thread. Errors: hostd_run returns 0 after a clean stop,
 * 1 on a start-up failure (the reason on stderr).
 */
#ifndef IOVPATH_HOST_HOSTD_H
#define IOVPATH_HOST_HOSTD_H

#include <sys/types.h>

#define HOSTD_RUN_DIR      "/run/iovpath"
#define HOSTD_MAX_ADAPTERS 128u

struct hostd_config {
	const char *name;    /* host name, e.g. "h1" */
	const char *run_dir; /* NULL: HOSTD_RUN_DIR */
	const char *port;    /* physical port spec (port.h); NULL: none */
	unsigned int vfs;    /* VFs of the NIC */
	gid_t group;         /* may use the management socket besides root; (gid_t)-1: none */
	int verbose;
};

int hostd_run(const struct hostd_config *cfg);

#endif
