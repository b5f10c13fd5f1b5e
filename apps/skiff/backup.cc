// skiff backup create|list|verify|restore: one command for full and incremental
// backups of a domain and their restore (the daemon's DomainBackups).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "daemon_cli.h"
#include "skiff/base/size.h"

namespace skiff::app {

namespace {

bool ParseCount(const Args& a, const char* option, unsigned* out) {
  const std::string v = a.get(option);
  if (v.empty()) return true;
  auto n = ParseUint(v);
  if (!n.ok() || *n > 100000) {
    Fail(std::string("--") + option + ": '" + v + "' is not a count");
    return false;
  }
  *out = static_cast<unsigned>(*n);
  return true;
}

int CmdCreate(const Args& a, api::Client& c) {
  api::BackupCreateRequest req;
  if (!a.get("to").empty()) req.dir = Absolute(a.get("to"));
  req.incremental = a.has("incremental");
  if (!ParseCount(a, "keep-last", &req.keep_last) ||
      !ParseCount(a, "keep-daily", &req.keep_daily)) {
    return 1;
  }
  const std::string dom = a.get("domain");
  api::BackupCreateReply r;
  if (!CallOrFail(c, "POST", api::routes::Domain(dom, "backups"), req, &r)) return 1;
  const bool quiet = a.has("quiet");
  if (!quiet) {
    std::printf("Backing up '%s' (%s%s) into %s/%s\n", dom.c_str(), r.kind.c_str(),
                r.parent.empty() ? "" : (" since " + r.parent).c_str(), r.dir.c_str(),
                r.id.c_str());
    std::fflush(stdout);
  }
  if (!WaitForJob(c, r.job, !quiet)) return 1;
  if (!quiet) std::printf("Backup '%s' of '%s' is complete.\n", r.id.c_str(), dom.c_str());
  return 0;
}

int CmdList(const Args& a, api::Client& c) {
  api::BackupList r;
  const std::string q = api::ToQuery(api::BackupListQuery{Absolute(a.get("dir"))});
  if (!GetOrFail(c, std::string(api::routes::kBackups) + q, &r)) return 1;
  PrintListing<api::BackupInfo>(a, r.backups,
                                {"Id", "Domain", "Kind", "Created (UTC)", "Size", "Disks"},
                                [](const api::BackupInfo& b) -> std::vector<std::string> {
                                  if (!b.error.empty())
                                    return {b.id, "-", "damaged", "-", "-", b.error};
                                  std::string disks;
                                  for (const auto& d : b.disks)
                                    disks += (disks.empty() ? "" : ",") + d;
                                  return {b.id,
                                          b.domain,
                                          b.kind + (b.parent.empty() ? "" : " of " + b.parent),
                                          b.created,
                                          FormatSizeHuman(b.bytes),
                                          disks};
                                });
  return 0;
}

int CmdVerify(const Args& a, api::Client& c) {
  api::BackupVerifyReply r;
  api::BackupPathRequest req{Absolute(a.get("path"))};
  if (!CallOrFail(c, "POST", std::string(api::routes::kBackupsVerify), req, &r)) return 1;
  int damaged = 0;
  for (const auto& b : r.backups) {
    if (b.problems.empty()) {
      std::printf("%s: ok\n", b.id.c_str());
      continue;
    }
    ++damaged;
    for (const auto& p : b.problems) std::printf("%s: damaged: %s\n", b.id.c_str(), p.c_str());
  }
  if (damaged > 0)
    return Fail(std::to_string(damaged) + " of " + std::to_string(r.backups.size()) +
                " backup(s) are damaged");
  return 0;
}

int CmdRestore(const Args& a, api::Client& c) {
  api::BackupRestoreRequest req{Absolute(a.get("path")), a.get("name"), a.get("at"), a.get("pool")};
  api::BackupRestoreReply r;
  if (!CallOrFail(c, "POST", std::string(api::routes::kBackupsRestore), req, &r)) return 1;
  const bool quiet = a.has("quiet");
  if (!quiet) {
    for (const auto& f : r.files) std::printf("Writing '%s'\n", f.c_str());
    std::fflush(stdout);
  }
  if (!WaitForJob(c, r.job, !quiet)) return 1;
  if (!quiet) {
    std::printf("Domain '%s' restored from backup '%s'; start it with: skiff start %s\n",
                r.name.c_str(), r.id.c_str(), r.name.c_str());
  }
  return 0;
}

const VerbDef kBackupVerbs[] = {
    {"create",
     "back up a domain (running or not): its definition, disks (qcow2) and NVRAM; "
     "--incremental keeps only what changed since the newest backup in the directory",
     {{"domain"}, 1, {"incremental", "quiet"}, {"to", "keep-last", "keep-daily"}},
     CmdCreate},
    {"list", "list the backups in a directory", {{"dir"}, 1, {"json"}, {}}, CmdList},
    {"verify",
     "check every file of a backup (or of each backup in a directory) against its manifest",
     {{"path"}, 1, {}, {}},
     CmdVerify},
    {"restore",
     "define a domain from a backup (a directory: its newest, or the newest by --at), its "
     "disks as new volumes of a pool",
     {{"path"}, 1, {"quiet"}, {"name", "at", "pool"}},
     CmdRestore},
};

}  // namespace

void AddBackupCommands(std::vector<Command>& out) {
  Command group{"backup", "full and incremental backups of a domain, and their restore", nullptr,
                std::nullopt};
  for (const auto& v : kBackupVerbs) {
    Command sub = DaemonVerb(std::string("backup ") + v.name, v.help, v.spec, v.run);
    sub.name = v.name;
    group.subcommands.push_back(std::move(sub));
  }
  group.run = [subs = group.subcommands](const GlobalOptions& g,
                                         const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      std::FILE* to = args.empty() ? stderr : stdout;
      std::fprintf(to, "usage: skiff backup COMMAND [ARGS...]\n\ncommands:\n");
      for (const auto& s : subs) std::fprintf(to, "  %-8s %s\n", s.name.c_str(), s.help.c_str());
      return args.empty() ? 1 : 0;
    }
    for (const auto& s : subs) {
      if (s.name == args[0])
        return s.run(g, std::vector<std::string>(args.begin() + 1, args.end()));
    }
    return Fail("unknown command 'backup " + args[0] + "' (see 'skiff backup --help')");
  };
  out.push_back(std::move(group));
}

}  // namespace skiff::app
