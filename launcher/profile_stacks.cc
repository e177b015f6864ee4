#include "profile_stacks.h"

#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>

#include <cctype>
#include <functional>
#include <memory>
#include <unordered_map>

#include "value_units.h"

namespace ppagent::profile {
namespace {

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string hex(uint64_t value) {
  char text[32];
  snprintf(text, sizeof text, "0x%" PRIx64, value);
  return text;
}

std::string unnamed_location_name(const Profile& profile, const Location& location) {
  const Mapping* mapping = profile.mapping(location.mapping_id);
  if (mapping && !mapping->filename.empty() && location.address >= mapping->start)
    return base_name(mapping->filename) + "+" +
           hex(location.address - mapping->start + mapping->offset);
  return hex(location.address);
}

// A compiled POSIX extended regular expression (glibc's regcomp): small to
// link, unlike std::regex, and its matcher does not recurse once per character
// of the text, so that a long C++ name cannot overflow the stack.
using Regex = std::shared_ptr<regex_t>;

bool compile_regex(const std::string& pattern, const char* option, Regex* out,
                   std::string* error) {
  auto compiled = std::make_unique<regex_t>();
  const int status = regcomp(compiled.get(), pattern.c_str(), REG_EXTENDED | REG_NOSUB);
  if (status != 0) {
    char message[256];
    regerror(status, compiled.get(), message, sizeof message);
    *error = std::string("bad ") + option + " regular expression \"" + pattern + "\": " + message;
    return false;
  }
  *out = Regex(compiled.release(), [](regex_t* regex) {
    regfree(regex);
    delete regex;
  });
  return true;
}

bool contains_match(const std::string& text, const Regex& pattern) {
  return regexec(pattern.get(), text.c_str(), 0, nullptr, 0) == 0;
}

// A numeric range of -tagfocus: "N[unit]", "N[unit]:", ":N[unit]" or
// "N[unit]:M[unit]", numbers integers as pprof reads them.
struct NumericRange {
  bool has_low = false, has_high = false;
  double low = 0, high = 0;
  std::string unit;  // the filter's unit, canonical, or as written if unknown

  bool contains(int64_t value, const std::string& value_unit) const {
    const Scaled scaled = scale(value, value_unit, unit);
    if (scaled.unit != unit) return false;
    return (!has_low || scaled.value >= low) && (!has_high || scaled.value <= high);
  }
};

// One "[+-]digits[letters]" bound; returns false if `text` is not exactly that.
bool parse_bound(const std::string& text, int64_t* number, std::string* unit) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  const size_t digits = i;
  while (i < text.size() && isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == digits) return false;
  const size_t letters = i;
  while (i < text.size() && isalpha(static_cast<unsigned char>(text[i]))) ++i;
  if (i != text.size()) return false;
  errno = 0;
  *number = strtoll(text.substr(0, letters).c_str(), nullptr, 10);
  if (errno == ERANGE) return false;
  *unit = text.substr(letters);
  return true;
}

bool parse_numeric_range(const std::string& text, NumericRange* out) {
  const size_t colon = text.find(':');
  std::string first = colon == std::string::npos ? text : text.substr(0, colon);
  std::string second = colon == std::string::npos ? "" : text.substr(colon + 1);
  int64_t number = 0;
  std::string unit;
  if (colon == std::string::npos) {
    if (!parse_bound(first, &number, &unit)) return false;
    const Scaled scaled = scale(number, unit, unit);
    *out = NumericRange{true, true, scaled.value, scaled.value, scaled.unit};
    return true;
  }
  if (first.empty() == second.empty() && first.empty()) return false;
  if (!first.empty()) {
    if (!parse_bound(first, &number, &unit)) return false;
    const Scaled scaled = scale(number, unit, unit);
    out->has_low = true;
    out->low = scaled.value;
    out->unit = scaled.unit;
  }
  if (!second.empty()) {
    int64_t high = 0;
    std::string high_unit;
    if (!parse_bound(second, &high, &high_unit)) return false;
    const std::string target = first.empty() ? high_unit : out->unit;
    const Scaled scaled = scale(high, high_unit, target);
    if (!first.empty() && scaled.unit != out->unit) return false;
    out->has_high = true;
    out->high = scaled.value;
    if (first.empty()) out->unit = scaled.unit;
  }
  return true;
}

using SamplePredicate = std::function<bool(const Sample&)>;

// The unit of each numeric label key, as pprof decides it: the first unit any
// sample gives for the key; without one, "bytes" for "alignment" and "request",
// else the key itself (Go's heap profiles label sizes "bytes" with no unit).
std::unordered_map<std::string, std::string> numeric_label_units(const Profile& profile) {
  std::unordered_map<std::string, std::string> units;
  for (const Sample& sample : profile.samples)
    for (const Label& label : sample.labels)
      if (label.is_numeric()) {
        std::string& unit = units[label.key];
        if (unit.empty()) unit = label.num_unit;
      }
  for (auto& [key, unit] : units)
    if (unit.empty()) unit = key == "alignment" || key == "request" ? "bytes" : key;
  return units;
}

bool compile_tagfocus(const Profile& profile, const std::string& option, SamplePredicate* out,
                      std::string* error) {
  std::string key, value = option;
  const size_t equals = option.find('=');
  if (equals != std::string::npos) {
    key = option.substr(0, equals);
    value = option.substr(equals + 1);
  }
  NumericRange range;
  if (parse_numeric_range(value, &range)) {
    *out = [key, range, units = numeric_label_units(profile)](const Sample& sample) {
      for (const Label& label : sample.labels)
        if (label.is_numeric() && (key.empty() || label.key == key) &&
            range.contains(label.num, units.at(label.key)))
          return true;
      return false;
    };
    return true;
  }
  std::vector<Regex> patterns;
  size_t start = 0;
  for (;;) {
    const size_t comma = value.find(',', start);
    patterns.emplace_back();
    if (!compile_regex(value.substr(start, comma - start), "-tagfocus", &patterns.back(), error))
      return false;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (key.empty()) {
    *out = [patterns](const Sample& sample) {
      for (const Regex& pattern : patterns) {
        bool matched = false;
        for (const Label& label : sample.labels)
          if (!label.is_numeric() && contains_match(label.key + ":" + label.str, pattern)) {
            matched = true;
            break;
          }
        if (!matched) return false;
      }
      return true;
    };
  } else {
    *out = [key, patterns](const Sample& sample) {
      for (const Label& label : sample.labels)
        if (!label.is_numeric() && label.key == key)
          for (const Regex& pattern : patterns)
            if (contains_match(label.str, pattern)) return true;
      return false;
    };
  }
  return true;
}

struct FrameHash {
  size_t operator()(const Frame& frame) const {
    return std::hash<std::string>()(frame.name) * 31 + std::hash<std::string>()(frame.file) +
           static_cast<size_t>(frame.line) * 7 + frame.inlined;
  }
};

}  // namespace

std::string Frame::pprof_name() const {
  if (has_name) return name;
  if (mapping_file.empty()) return "<unknown>";
  return "[" + base_name(mapping_file) + "]";
}

bool pick_sample_index(const Profile& profile, const std::string& name, size_t* index,
                       std::string* error) {
  const auto& types = profile.sample_types;
  if (types.empty()) {
    *error = "the profile has no sample types";
    return false;
  }
  if (name.empty()) {
    for (size_t i = 0; i < types.size(); ++i)
      if (!profile.default_sample_type.empty() && types[i].type == profile.default_sample_type) {
        *index = i;
        return true;
      }
    *index = types.size() - 1;
    return true;
  }
  char* end = nullptr;
  errno = 0;
  const long long number = strtoll(name.c_str(), &end, 10);
  if (*end == '\0' && errno == 0) {
    if (number < 0 || static_cast<unsigned long long>(number) >= types.size()) {
      *error = "sample_index " + name + " is outside the range [0.." +
               std::to_string(types.size() - 1) + "]";
      return false;
    }
    *index = static_cast<size_t>(number);
    return true;
  }
  const std::string without_inuse = name.rfind("inuse_", 0) == 0 ? name.substr(6) : name;
  for (size_t i = 0; i < types.size(); ++i)
    if (types[i].type == name || types[i].type == without_inuse) {
      *index = i;
      return true;
    }
  std::string names;
  for (const ValueType& type : types) names += (names.empty() ? "" : ", ") + type.type;
  *error = "sample_index \"" + name + "\" must be one of: " + names;
  return false;
}

bool collect_stacks(const Profile& profile, size_t sample_index, const SampleFilter& filter,
                    Stacks* out, std::string* error) {
  *out = Stacks();
  Regex focus;
  if (!filter.focus.empty() && !compile_regex(filter.focus, "-focus", &focus, error)) return false;
  SamplePredicate tag_predicate;
  if (!filter.tagfocus.empty() && !compile_tagfocus(profile, filter.tagfocus, &tag_predicate, error))
    return false;

  // Each location's frames (leaf first) and whether it matches -focus,
  // computed once per location rather than once per sample.
  std::unordered_map<Frame, uint32_t, FrameHash> frame_ids;
  struct LocationFrames {
    std::vector<uint32_t> frames;
    bool focused = false;
  };
  std::vector<LocationFrames> by_location(profile.locations.size());
  for (size_t i = 0; i < profile.locations.size(); ++i) {
    const Location& location = profile.locations[i];
    LocationFrames& result = by_location[i];
    const Mapping* mapping = profile.mapping(location.mapping_id);
    if (!filter.focus.empty() && mapping && contains_match(mapping->filename, focus))
      result.focused = true;
    auto add_frame = [&](Frame frame) {
      const auto inserted = frame_ids.emplace(frame, static_cast<uint32_t>(out->frames.size()));
      if (inserted.second) out->frames.push_back(std::move(frame));
      result.frames.push_back(inserted.first->second);
    };
    const std::string mapping_file = mapping ? mapping->filename : "";
    if (location.lines.empty()) {
      Frame frame;
      frame.name = unnamed_location_name(profile, location);
      frame.has_name = false;
      frame.mapping_file = mapping_file;
      add_frame(std::move(frame));
      continue;
    }
    for (size_t j = 0; j < location.lines.size(); ++j) {
      const Line& line = location.lines[j];
      const Function* function = profile.function(line.function_id);
      Frame frame;
      frame.inlined = j + 1 < location.lines.size();
      frame.line = line.line;
      if (function) {
        frame.name = function->name;
        frame.file = function->filename;
        if (!filter.focus.empty() &&
            (contains_match(function->name, focus) || contains_match(function->filename, focus)))
          result.focused = true;
      }
      if (frame.name.empty()) {
        frame.name = unnamed_location_name(profile, location);
        frame.has_name = false;
        frame.mapping_file = mapping_file;
      }
      add_frame(std::move(frame));
    }
  }

  std::unordered_map<uint64_t, uint32_t> location_position;
  location_position.reserve(profile.locations.size());
  for (size_t i = 0; i < profile.locations.size(); ++i)
    location_position.emplace(profile.locations[i].id, static_cast<uint32_t>(i));

  for (size_t s = 0; s < profile.samples.size(); ++s) {
    const Sample& sample = profile.samples[s];
    if (tag_predicate && !tag_predicate(sample)) continue;
    bool focused = filter.focus.empty();
    Stacks::Stack stack;
    for (uint64_t id : sample.location_ids) {
      const LocationFrames& frames = by_location[location_position.at(id)];
      focused = focused || frames.focused;
      stack.frames.insert(stack.frames.end(), frames.frames.begin(), frames.frames.end());
    }
    if (!focused) continue;
    stack.value = sample.values[sample_index];
    stack.sample = s;
    out->total += stack.value;
    out->stacks.push_back(std::move(stack));
  }
  return true;
}

}  // namespace ppagent::profile
