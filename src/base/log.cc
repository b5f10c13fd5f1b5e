// Process-wide logger set-up.
#include "skiff/base/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace skiff {

void InitLogging(const std::filesystem::path& file, bool verbose) {
  std::shared_ptr<spdlog::logger> logger;
  if (file.empty()) {
    logger = std::make_shared<spdlog::logger>("skiff",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    logger = std::make_shared<spdlog::logger>(
        "skiff", std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), false));
  }
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace skiff
