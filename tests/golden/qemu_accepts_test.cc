// Starts the installed QEMU (TCG, -S) with every runnable golden command line and
// checks it does not exit with an error: proof that the argv we generate is accepted.
// Paths under /var/lib/skiff, /run/skiff and /var/log/skiff are moved into a temp dir
// (disk images are created), tap netdevs become user netdevs (no fd to pass).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <thread>

#include "golden/golden_util.h"
#include "skiff/base/process.h"
#include "testutil/temp_dir.h"

namespace skiff::golden {
namespace {

std::vector<std::string> Split(const std::string& args) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < args.size()) {
    size_t nl = args.find('\n', pos);
    std::string line = args.substr(pos, nl - pos);
    pos = nl == std::string::npos ? args.size() : nl + 1;
    if (line.empty()) continue;
    size_t sp = line[0] == '-' ? line.find(' ') : std::string::npos;
    out.push_back(line.substr(0, sp));
    if (sp != std::string::npos) out.push_back(line.substr(sp + 1));
  }
  return out;
}

TEST(QemuAccepts, SampleOfGoldenCommandLines) {
  std::string qemu = FindProgram(qemu::kDefaultEmulator);
  if (qemu.empty()) {
    if (InCi()) FAIL() << "qemu-system-x86_64 is not installed";
    GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  }
  fs::path dir = GoldenDir() / "domain2argv";
  testing::TempDir tmp;
  fs::create_directories(tmp / "lib");
  fs::create_directories(tmp / "run");
  fs::create_directories(tmp / "log" / "domains");
  size_t ran = 0;
  struct Run {
    std::string name;
    std::vector<std::string> argv;
    std::string text;
  };
  std::vector<Run> runs;
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".args") cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  for (const auto& c : cases) {
    std::string text = ReadAll(c);
    // Not runnable here: KVM, host devices, firmware/kernel files we cannot fake, and
    // helpers (swtpm, virtiofsd) QEMU must talk to (tests/integration/test_compat_virtinst.py
    // runs those with the real helpers).
    if (text.find("-accel kvm") != std::string::npos ||
        text.find("host_device") != std::string::npos ||
        text.find("host_cdrom") != std::string::npos || text.find("-kernel") != std::string::npos ||
        text.find("-bios") != std::string::npos || text.find("pflash") != std::string::npos ||
        text.find("-spice") != std::string::npos ||
        text.find("qemu-system-i386") != std::string::npos ||
        text.find("host-nodes") != std::string::npos || text.find("chrtpm") != std::string::npos ||
        text.find("vhost-user-fs") != std::string::npos) {
      continue;
    }
    SCOPED_TRACE(c.filename().string());
    std::string t =
        std::regex_replace(text, std::regex("/var/lib/skiff/"), (tmp / "lib").string() + "/");
    t = std::regex_replace(t, std::regex("/run/skiff/"), (tmp / "run").string() + "/");
    t = std::regex_replace(t, std::regex("/var/log/skiff/"), (tmp / "log").string() + "/");
    t = std::regex_replace(t, std::regex("-netdev tap,fd=[0-9]+,"), "-netdev user,");
    std::vector<std::string> argv = Split(t);
    argv.push_back("-S");
    // Create every image the command line opens: qcow2 when a qcow2 node sits on it.
    std::smatch m;
    std::regex file_node("driver=file,filename=([^,]+),node-name=(file-[a-z0-9-]+)");
    for (auto it = std::sregex_iterator(t.begin(), t.end(), file_node);
         it != std::sregex_iterator(); ++it) {
      fs::path p = (*it)[1].str();
      std::string node = (*it)[2].str();
      fs::create_directories(p.parent_path());
      if (fs::exists(p)) continue;
      if (t.find("driver=qcow2,file=" + node + ",") != std::string::npos) {
        auto r = RunCommand({"qemu-img", "create", "-q", "-f", "qcow2", p.string(), "64M"});
        ASSERT_TRUE(r.ok() && r->ok()) << "qemu-img create " << p;
      } else {
        auto r = RunCommand({"truncate", "-s", "16M", p.string()});
        ASSERT_TRUE(r.ok() && r->ok());
      }
    }
    runs.push_back({c.filename().string(), argv, t});
  }
  // Start them in batches, let them sit under -S, then see which ones exited.
  for (size_t b = 0; b < runs.size(); b += 12) {
    std::vector<std::pair<size_t, pid_t>> started;
    for (size_t i = b; i < runs.size() && i < b + 12; ++i) {
      fs::path err = tmp / (runs[i].name + ".stderr");
      int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0);
      SpawnOptions opt;
      opt.argv = runs[i].argv;
      opt.stderr_fd = fd;
      auto child = Spawn(opt);
      ::close(fd);
      ASSERT_TRUE(child.ok()) << child.status().ToString();
      started.emplace_back(i, child->pid);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    for (auto [i, pid] : started) {
      int status = 0;
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      ++ran;
      if (w == pid) {
        ADD_FAILURE() << runs[i].name << ": qemu exited (status " << status
                      << ") instead of waiting under -S:\n"
                      << ReadAll(tmp / (runs[i].name + ".stderr")) << "\nargv:\n"
                      << runs[i].text;
      } else {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
    }
  }
  EXPECT_GE(ran, 40u) << "too few golden cases are runnable under TCG";
  std::printf("qemu accepted %zu golden command lines\n", ran);
}

}  // namespace
}  // namespace skiff::golden
