#include "symbols/debug_file.h"

#include <zlib.h>

namespace ppagent {

const char kSystemDebugRoot[] = "/usr/lib/debug";

namespace {

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

uint32_t file_crc32(const ElfFile& file) {
  return static_cast<uint32_t>(crc32_z(0, file.at(0), file.size()));
}

bool is_module_itself(const ElfFile& candidate, const ElfFile& module) {
  return candidate.identity() == module.identity();
}

}  // namespace

std::unique_ptr<ElfFile> find_debug_file(const ElfFile& module, const std::string& module_path,
                                         const std::string& debug_root) {
  const std::string& id = module.build_id();
  if (id.size() >= 2) {
    std::string hex = hex_string(id);
    std::string path = debug_root + "/.build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug";
    std::unique_ptr<ElfFile> file = ElfFile::open(path, nullptr);
    if (file && file->build_id() == id && !is_module_itself(*file, module)) return file;
  }

  std::string link;
  uint32_t crc = 0;
  if (!module.debuglink(&link, &crc) || link.find('/') != std::string::npos) return nullptr;
  const std::string dir = directory_of(module_path);
  for (const std::string& path : {join(dir, link), join(dir, ".debug/" + link),
                                  join(debug_root + dir, link)}) {
    std::unique_ptr<ElfFile> file = ElfFile::open(path, nullptr);
    if (!file || is_module_itself(*file, module)) continue;
    const std::string& candidate_id = file->build_id();
    if (!id.empty() && !candidate_id.empty()) {
      if (candidate_id == id) return file;
      continue;  // another build's debug file
    }
    if (file_crc32(*file) == crc) return file;
  }
  return nullptr;
}

}  // namespace ppagent
