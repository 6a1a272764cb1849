/* hostd — the host daemon (iovpathd): one emulated SR-IOV NIC on a physical
 * port, the extensible switch, a NetVSP per VM network adapter, and the
 * management socket, in one single-threaded event loop.
 *
 * Files in the run directory (default /run/iovpath):
 *   HOST.lock    the single-instance lock (a second daemon for HOST is refused)
 *   HOST.mgmt    the management socket (mgmt.h protocol v1; root or --group)
 *   HOST.vmbus   where VM processes open their adapter's VMBus channel (mode
 *                0660, the management group); each must present the adapter's
 *                credential (vm.create made it); its rings get at most
 *                HOSTD_RING_MAX bytes each way, whatever it asks for
 *   captures/    pcap files being written (mode 0770, the management group)
 *   NAME.secret  the credential of adapter NAME (mode 0600; for iovpath-vm)
 *
 * Management operations (mgmt_call op, args -> result):
 *   host.show                          {name, pid, version, port, vfs, vms, uptime_s, mgmt, channel,
 *                                       vf_timeout_ms, migrate: the migration address or ""}
 *   vm.create   {name, mac, vlan?}     {name, mac, vlan, secret_file, channel}
 *   host.set    {vf_timeout_ms}        {vf_timeout_ms}: the VF removal time-out
 *   vm.delete   {name}
 *   vm.set      {name, mac?, vlan?}    {name, mac, vlan}: a VM that is not connected (EBUSY)
 *   vm.show     {name?}                [{name, mac, vlan, connected, nvsp_version, datapath,
 *                                        vf_state, vf, switch_port, connects}]
 *   vm.stats    {name}                 {vm, datapath, vf_state, synthetic:{rx_packets, rx_bytes,
 *                                       tx_packets, tx_bytes, tx_send_full}, vf:{vf_rx_packets,
 *                                       vf_rx_bytes, vf_tx_packets, vf_tx_bytes, vf_tx_dropped,
 *                                       vf_rx_dropped, vf}, host:{bad_nvsp, ..., switch_drops_spoof, ...}}
 *                                      named as a Linux netvsc shows them (rx = to the VM)
 *   vm.attach_vf {name}                {vm, vf, vport, serial, state}: SPEC §4, host_dp.h
 *   vm.detach_vf {name, surprise?}     {vm, state}: SPEC §5, completes asynchronously
 *   nic.show                           {max_vfs, max_vports, vfs_allocated, vfs:[], vports:[],
 *                                       filters:[]}
 *   switch.show                        {ports:[], macs, mac_learned, mac_aged}
 *   capture.start {port, name, dir?}   {port, file}: pcap of a switch port ("in", "out",
 *                                      "both") into RUN_DIR/captures/NAME, a new file (the
 *                                      CLI copies it out and removes it)
 *   capture.stop  {port}
 *   vm.migrate_accept                  {host, address, token, expires_ms}: a one-time token
 *                                      for a VM migrating here (host/migrate.h)
 *   vm.migrate  {name, address, token} {vm, from, to, channel}: send VM (no VF) to the host
 *                                      at address; it leaves once its VM has moved
 *   events.show                        {events:[{event, seq, ts_ns, data}], total}: the last
 *                                      SHOW_MAX events (seq as on the event stream)
 * Events (events.subscribe): vm.create, vm.delete; vm.connect, vm.disconnect and host_dp's
 * VF events (vf.offered, datapath.vf, datapath.synthetic, vf.removing, vf.removed,
 * vf.surprise_removed, vf.attach_failed, vf.protocol_error, vm.protocol_error, vm.notice):
 * a VM causes these with its own messages and reconnections, so at most ERR_PER_SEC a
 * second per VM of all of them, then (within about a second) vm.events_suppressed
 * {vm, count}; live migration's
 * vm.migrate_out {vm, to}, vm.migrated {vm, to} (source), vm.migrate_in {vm, from},
 * vm.migrate_refused {vm, reason} (destination), vm.migrate_failed {vm, to, reason}
 * (source), and host.stop. vm.stats of a VM that migrated here adds {migrations,
 * before_migration: its counters on the earlier hosts, added up}.
 *
 * Migrations in: a TCP listener (cfg.migrate_listen, default 127.0.0.1 on a free port);
 * a connection must send its one request within PENDING_MS, with a token this daemon
 * handed out (vm.migrate_accept, one use, MIGR_TOKEN_MS); the request is validated as
 * hostile input (migrate.h). The source's vm.migrate is answered when the
 * destination has (a connection, then its reply, each within MIGR_WAIT_MS): the
 * loop, the datapath and other requests go on meanwhile (mgmt_defer); at most
 * MIGR_OUT_MAX wait at once.
 *
 * Loop: poll the datapath (NIC engine, every NetVSP) while there is work;
 * when idle (after SPIN_NS), arm everything and sleep in poll() on every
 * channel, queue and port descriptor plus the management, VMBus and signal
 * descriptors, so an idle host costs no CPU. The run directory must belong to
 * the daemon's user and be writable by no one else. SIGTERM/SIGINT: VMs' channels closed, the NIC's PF
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
/* A VM's channel costs the host its rings' memory and a copy buffer as large
 * as the VM's ring (netvsp): a VM may not ask for a gigabyte of each. A
 * guest's default (NETVSC_RING_SIZE) is 1 MiB. */
#define HOSTD_RING_MAX (4u << 20)

struct hostd_config {
	const char *name;    /* host name, e.g. "h1" */
	const char *run_dir; /* NULL: HOSTD_RUN_DIR */
	const char *port;    /* physical port spec (port.h); NULL: none */
	unsigned int vfs;    /* VFs of the NIC */
	gid_t group;         /* may use the management socket besides root; (gid_t)-1: none */
	int nice;            /* the daemon's scheduling priority (HOSTD_NICE by default) */
	const char *migrate_listen; /* "A.B.C.D:PORT" for migrations in; NULL: 127.0.0.1:0;
	                               "off": none */
	int verbose;
};

/* The host's datapath runs ahead of its guests: with more busy VM processes
 * than cores, a daemon at their priority gets a fair share only, frames wait
 * in the rings while its VMs run, and the whole host falls behind the offered
 * load (bench scale: 64 guests on 2 cores carried 1.3-2.0 of 3 M frames at
 * nice 0 and all of them at -5). Needs CAP_SYS_NICE (root); without it the
 * daemon says so and runs at the priority it has. */
#define HOSTD_NICE (-5)

int hostd_run(const struct hostd_config *cfg);

#endif
