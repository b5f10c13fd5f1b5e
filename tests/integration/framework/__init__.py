"""The integration tests' framework: skiffd, the test guest, its console, QMP and
the host, as Firecracker's tests/framework does it. Test files import from here
and take shared fixtures from ../conftest.py; never from one another. See
tests/integration/README.md.

  util     BUILD/BIN paths, wait_until, wait_for, pid_alive, require_guest
  guest    domain_xml, disk_xml, boot
  console  ConsoleLog (the console's log file), Viewer (`skiff console`)
  qmp      qmp: one command on a QEMU's monitor, past skiffd
  daemon   Daemon, daemon_session, Events, Env
  host     qemu_pid, cgroups, threads, affinity, image locks
  net      subnets and links for skiffd's networks; World (network namespaces)
"""
