#include "flame_tree.h"

#include <stdio.h>

#include <algorithm>
#include <utility>

namespace ppagent {

namespace {

void append_json_string(std::string_view text, std::string* out) {
  out->push_back('"');
  for (char c : text) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
          *out += escaped;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

template <typename Number>
void append_array(const std::vector<Number>& values, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < values.size(); i++) {
    if (i > 0) out->push_back(',');
    *out += std::to_string(values[i]);
  }
  out->push_back(']');
}

}  // namespace

FlameTree::FlameTree(std::vector<FlameSampleType> types, size_t line_type)
    : types_(std::move(types)), line_type_(line_type), self_(types_.size()) {
  parent_.push_back(0);
  frame_.push_back(-1);
  line_.push_back(0);
  line_weight_.push_back(0);
  for (auto& values : self_) values.push_back(0);
}

uint32_t FlameTree::intern(std::string_view text) {
  auto [it, added] = string_ids_.try_emplace(std::string(text), static_cast<uint32_t>(strings_.size()));
  if (added) strings_.emplace_back(text);
  return it->second;
}

uint32_t FlameTree::frame_id(const FlameFrame& frame) {
  const FrameKey key{intern(frame.function), intern(frame.file), frame.inlined};
  const uint64_t packed = (static_cast<uint64_t>(key.function) << 32) |
                          (static_cast<uint64_t>(key.file) << 1) | (key.inlined ? 1 : 0);
  auto [it, added] = frame_ids_.try_emplace(packed, static_cast<uint32_t>(frames_.size()));
  if (added) frames_.push_back(key);
  return it->second;
}

uint32_t FlameTree::child(uint32_t node, uint32_t frame) {
  const uint64_t key = (static_cast<uint64_t>(node) << 32) | frame;
  auto [it, added] = children_.try_emplace(key, static_cast<uint32_t>(parent_.size()));
  if (added) {
    parent_.push_back(node);
    frame_.push_back(frame);
    line_.push_back(0);
    line_weight_.push_back(-1);  // no line seen yet
    for (auto& values : self_) values.push_back(0);
  }
  return it->second;
}

void FlameTree::add(const std::vector<FlameStep>& leaf_first, const std::vector<int64_t>& values) {
  if (std::all_of(values.begin(), values.end(), [](int64_t v) { return v == 0; })) return;
  const int64_t weight = line_type_ < values.size() ? values[line_type_] : 0;
  uint32_t node = 0;
  for (auto frame = leaf_first.rbegin(); frame != leaf_first.rend(); ++frame) {
    node = child(node, frame->frame);
    // Weighed by magnitude so that a line still wins where values are negative
    // (a difference of two profiles); +1 so that a line seen with weight 0 is known.
    const int64_t magnitude = (weight < 0 ? -weight : weight) + 1;
    if (line_weight_[node] < 0) {
      line_[node] = frame->line;
      line_weight_[node] = magnitude;
    } else if (line_[node] == frame->line) {
      line_weight_[node] += magnitude;
    } else {
      other_lines_[(static_cast<uint64_t>(node) << 32) | static_cast<uint32_t>(frame->line)] +=
          magnitude;
    }
  }
  for (size_t t = 0; t < self_.size() && t < values.size(); t++) self_[t][node] += values[t];
}

std::string FlameTree::json(std::string_view title, std::string_view summary,
                            size_t default_type) const {
  const size_t count = parent_.size();
  // The line of each node: the heaviest, ties to the lowest line.
  std::vector<int64_t> best_line = line_, best_weight = line_weight_;
  std::vector<bool> several(count, false);
  for (const auto& [key, weight] : other_lines_) {
    const uint32_t node = static_cast<uint32_t>(key >> 32);
    const int64_t line = static_cast<uint32_t>(key);
    several[node] = true;
    if (weight > best_weight[node] || (weight == best_weight[node] && line < best_line[node])) {
      best_weight[node] = weight;
      best_line[node] = line;
    }
  }

  std::vector<std::vector<uint32_t>> children(count);
  for (uint32_t node = 1; node < count; node++) children[parent_[node]].push_back(node);
  const auto by_name = [this](uint32_t a, uint32_t b) {
    const FrameKey& x = frames_[frame_[a]];
    const FrameKey& y = frames_[frame_[b]];
    const int names = strings_[x.function].compare(strings_[y.function]);
    if (names != 0) return names < 0;
    const int files = strings_[x.file].compare(strings_[y.file]);
    if (files != 0) return files < 0;
    return x.inlined < y.inlined;
  };
  for (auto& list : children) std::sort(list.begin(), list.end(), by_name);

  std::vector<uint32_t> order;
  std::vector<uint32_t> depth_of(count, 0), depth;
  order.reserve(count);
  depth.reserve(count);
  std::vector<uint32_t> pending = {0};
  while (!pending.empty()) {
    const uint32_t node = pending.back();
    pending.pop_back();
    order.push_back(node);
    depth.push_back(depth_of[node]);
    for (auto it = children[node].rbegin(); it != children[node].rend(); ++it) {
      depth_of[*it] = depth_of[node] + 1;
      pending.push_back(*it);
    }
  }

  std::vector<int64_t> frame, line;
  std::vector<uint32_t> several_lines;
  frame.reserve(count);
  line.reserve(count);
  for (uint32_t position = 0; position < count; position++) {
    const uint32_t node = order[position];
    frame.push_back(frame_[node]);
    line.push_back(best_line[node]);
    if (several[node]) several_lines.push_back(position);
  }

  std::string out = "{\"title\":";
  append_json_string(title, &out);
  out += ",\"summary\":";
  append_json_string(summary, &out);
  out += ",\"types\":[";
  for (size_t t = 0; t < types_.size(); t++) {
    if (t > 0) out += ',';
    out += '[';
    append_json_string(types_[t].type, &out);
    out += ',';
    append_json_string(types_[t].unit, &out);
    out += ']';
  }
  out += "],\"default\":" + std::to_string(default_type < types_.size() ? default_type : 0);
  out += ",\"strings\":[";
  for (size_t i = 0; i < strings_.size(); i++) {
    if (i > 0) out += ',';
    append_json_string(strings_[i], &out);
  }
  out += "],\"frames\":[";
  for (size_t i = 0; i < frames_.size(); i++) {
    if (i > 0) out += ',';
    out += std::to_string(frames_[i].function) + ',' + std::to_string(frames_[i].file) + ',' +
           (frames_[i].inlined ? '1' : '0');
  }
  out += "],\"depth\":";
  append_array(depth, &out);
  out += ",\"frame\":";
  append_array(frame, &out);
  out += ",\"line\":";
  append_array(line, &out);
  out += ",\"several_lines\":";
  append_array(several_lines, &out);
  out += ",\"self\":[";
  for (size_t t = 0; t < self_.size(); t++) {
    if (t > 0) out += ',';
    std::vector<int64_t> values;
    values.reserve(count);
    for (uint32_t node : order) values.push_back(self_[t][node]);
    append_array(values, &out);
  }
  out += "]}";
  return out;
}

}  // namespace ppagent
