// Child processes: spawn with fd passing, run-and-capture, pidfds.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "skiff/base/fd.h"
#include "skiff/base/status.h"

namespace skiff {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  // Extra environment entries ("K=V"), added to (or overriding) the parent's.
  std::vector<std::string> env;
  // File descriptors handed to the child: {fd in this process, fd number in the child}.
  // Every other fd above 2 is closed in the child.
  std::vector<std::pair<int, int>> pass_fds;
  int stdin_fd = -1;         // -1: /dev/null
  int stdout_fd = -1;        // -1: /dev/null
  int stderr_fd = -1;        // -1: /dev/null
  bool new_session = false;  // setsid(): the child survives its parent's session
  std::string cwd;           // empty: inherit
  // cgroup.procs files (v1 or v2) the child moves itself into before exec, so that
  // everything the program allocates is charged there from its first page.
  std::vector<std::string> cgroup_procs;
  // Confinement, applied after the cgroups and before exec (it needs root).
  // private_dev: the child gets a mount namespace of its own (host mounts seen as
  // slaves: nothing it mounts reaches the host) whose /dev is a fresh tmpfs with
  // only `dev_nodes` (host device paths under /dev, copied with their type,
  // number, owner and mode; missing ones are skipped) and the host's /dev/pts,
  // /dev/shm, /dev/mqueue and /dev/hugepages mounts, as libvirt's namespace
  // feature builds QEMU's /dev.
  bool private_dev = false;
  std::vector<std::string> dev_nodes;
  // run_as: the child switches to this uid, gid and supplementary groups.
  struct User {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
  };
  std::optional<User> run_as;
  // no_capabilities: the capability bounding set is emptied and no_new_privs set,
  // so that the program holds no capability and can never gain one (not even as
  // uid 0, not through a set-uid binary).
  bool no_capabilities = false;
};

struct Child {
  pid_t pid = -1;
  UniqueFd pidfd;  // readable when the child exits (pidfd_open); may be invalid on old kernels
};

// Starts a child. Fails with the exec error (e.g. "exec 'qemu-x': no such file or
// directory") when the program cannot be started, naming the cgroup file the
// child could not join, or the confinement step that failed ("private /dev:
// mknod '/dev/kvm'", "run as uid 64055"); then no child is left. The caller must
// reap it.
Result<Child> Spawn(const SpawnOptions& options);

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
};

// Runs `argv` to completion, capturing stdout and stderr. Kills it (SIGKILL) and
// returns kUnavailable after `timeout`. `input` is written to its stdin.
Result<RunResult> RunCommand(const std::vector<std::string>& argv,
                             std::chrono::milliseconds timeout = std::chrono::seconds(60),
                             std::string_view input = {});

// Blocks until `pid` exits; returns its wait status.
Result<int> WaitForExit(pid_t pid);

// Looks up `name` in PATH; empty when not found. A name with '/' is returned when executable.
std::string FindProgram(const std::string& name);

}  // namespace skiff
