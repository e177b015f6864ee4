#include "flame_html.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <unordered_map>
#include <vector>

#include "flame_page.h"
#include "flame_tree.h"
#include "gzip_base64.h"
#include "profile_stacks.h"

namespace ppagent {

namespace {

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "2026-12-07 20:10:03 UTC · 3.01 s": when and how long, as far as the profile says.
std::string summary(const profile::Profile& profile) {
  std::string text;
  if (profile.time_nanos > 0) {
    const time_t seconds = static_cast<time_t>(profile.time_nanos / 1000000000);
    struct tm utc;
    char when[64];
    if (gmtime_r(&seconds, &utc) != nullptr &&
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &utc) > 0) {
      text += when;
    }
  }
  if (profile.duration_nanos > 0) {
    char duration[64];
    snprintf(duration, sizeof duration, "%.2f s", profile.duration_nanos / 1e9);
    text += (text.empty() ? "" : " · ") + std::string(duration);
  }
  return text;
}

struct StackHash {
  size_t operator()(const std::vector<uint32_t>* frames) const {
    size_t hash = frames->size();
    for (uint32_t frame : *frames) hash = hash * 1000003 ^ frame;
    return hash;
  }
};

struct StackEqual {
  bool operator()(const std::vector<uint32_t>* a, const std::vector<uint32_t>* b) const {
    return *a == *b;
  }
};

bool write_file(const std::string& path, const std::string& text, mode_t mode, std::string* error) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    *error = "cannot write " + path + ": " + strerror(errno);
    return false;
  }
  // O_CREAT's mode is masked by the umask and leaves an existing file's alone.
  // (Not for a device such as /dev/stdout.)
  struct stat status;
  const bool regular = fstat(fd, &status) == 0 && S_ISREG(status.st_mode);
  bool ok = !regular || fchmod(fd, mode) == 0;
  size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t wrote = write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    ok = wrote > 0;
    if (ok) done += static_cast<size_t>(wrote);
  }
  const int saved_errno = errno;
  ok = close(fd) == 0 && ok;
  if (!ok) {
    *error = "cannot write " + path + ": " + strerror(done < text.size() ? saved_errno : errno);
    if (regular) unlink(path.c_str());  // no half page; never a device's name
  }
  return ok;
}

}  // namespace

std::string flame_html(const profile::Profile& profile, const std::string& title,
                       size_t default_type) {
  std::vector<FlameSampleType> types;
  for (const profile::ValueType& type : profile.sample_types) types.push_back({type.type, type.unit});
  FlameTree tree(types, default_type);

  profile::Stacks stacks;
  std::string no_error;  // only a filter can fail to parse, and there is none
  profile::collect_stacks(profile, default_type, profile::SampleFilter(), &stacks, &no_error);
  std::vector<FlameStep> steps_of_frame;
  steps_of_frame.reserve(stacks.frames.size());
  for (const profile::Frame& frame : stacks.frames) {
    steps_of_frame.push_back({tree.frame_id({frame.name, frame.file, frame.inlined}), frame.line});
  }
  // Samples that differ only in their labels (a thread's name, say) have the
  // same stack: merged first, each distinct stack walks down the tree once.
  std::unordered_map<const std::vector<uint32_t>*, size_t, StackHash, StackEqual> distinct;
  std::vector<const std::vector<uint32_t>*> distinct_frames;
  std::vector<std::vector<int64_t>> distinct_values;
  for (const profile::Stacks::Stack& stack : stacks.stacks) {
    const std::vector<int64_t>& values = profile.samples[stack.sample].values;
    auto [it, added] = distinct.try_emplace(&stack.frames, distinct_frames.size());
    if (added) {
      distinct_frames.push_back(&stack.frames);
      distinct_values.push_back(values);
      continue;
    }
    std::vector<int64_t>& sum = distinct_values[it->second];
    for (size_t i = 0; i < sum.size() && i < values.size(); i++) sum[i] += values[i];
  }
  std::vector<FlameStep> steps;
  for (size_t i = 0; i < distinct_frames.size(); i++) {
    steps.clear();
    for (uint32_t frame : *distinct_frames[i]) steps.push_back(steps_of_frame[frame]);
    tree.add(steps, distinct_values[i]);
  }

  const std::string data = gzip_base64(tree.json(title, summary(profile), default_type));
  if (data.empty()) return std::string();
  return kFlamePageBeforeData + data + kFlamePageAfterData;
}

bool write_flame_page(const std::string& profile_path, const std::string& sample_index,
                      const std::string& page_path, std::string* error, bool* usage) {
  *usage = false;
  profile::Profile profile;
  if (!profile::read_profile(profile_path, &profile, error)) return false;
  if (profile.sample_types.empty()) {
    *error = profile_path + ": the profile has no sample types, so nothing to draw";
    return false;
  }
  size_t default_type = 0;
  if (!profile::pick_sample_index(profile, sample_index, &default_type, error)) {
    *usage = !sample_index.empty();
    *error = profile_path + ": " + *error;
    return false;
  }
  struct stat status;
  const mode_t mode = stat(profile_path.c_str(), &status) == 0 ? (status.st_mode & 0777) : 0600;
  const std::string page = flame_html(profile, base_name(profile_path), default_type);
  if (page.empty()) {
    *error = profile_path + ": cannot compress the page's data (out of memory?)";
    return false;
  }
  return write_file(page_path, page, mode, error);
}

}  // namespace ppagent
