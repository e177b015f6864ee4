// The stacks of a profile merged into one tree (a trie from the root: a node per
// distinct caller path), as the flame-graph page draws it, and its encoding for
// the page (JSON, described at FlameTree::json).
#pragma once

#include <stdint.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ppagent {

// A function as the flame graph shows it. Frames that differ only in their line
// are one node: the node remembers the line that carried most of its value.
struct FlameFrame {
  std::string_view function;
  std::string_view file;
  bool inlined = false;  // inlined into the frame after it (its caller)
};

// One frame of a sample's stack: a frame_id() and its line (0: unknown).
struct FlameStep {
  uint32_t frame;
  int64_t line;
};

struct FlameSampleType {
  std::string type;
  std::string unit;
};

class FlameTree {
 public:
  // `line_type`: the index of the value whose weight decides a node's line.
  FlameTree(std::vector<FlameSampleType> types, size_t line_type);

  // The id of `frame`, the same for equal frames.
  uint32_t frame_id(const FlameFrame& frame);

  // One sample: its frames leaf first, as profiles list them, and one value per
  // sample type. A sample whose values are all zero adds nothing.
  void add(const std::vector<FlameStep>& leaf_first, const std::vector<int64_t>& values);

  size_t node_count() const { return parent_.size(); }
  size_t type_count() const { return types_.size(); }

  // {"title", "summary", "types": [[type, unit], ...], "default": index of the
  // type shown first, "strings": [...], "frames": [function, file, inlined, ...]
  // (string indexes, 3 per frame), and per node, in preorder with each node's
  // children sorted by function name: "depth" (the root, node 0, has 0), "frame"
  // (-1 for the root), "line" (0: unknown), "several_lines" (the nodes whose
  // samples had other lines too) and "self": [[value per node] per type]}.
  std::string json(std::string_view title, std::string_view summary, size_t default_type) const;

 private:
  struct FrameKey {
    uint32_t function, file;
    bool inlined;
  };
  uint32_t intern(std::string_view text);
  uint32_t child(uint32_t node, uint32_t frame);

  std::vector<FlameSampleType> types_;
  size_t line_type_;
  std::vector<std::string> strings_;
  std::unordered_map<std::string, uint32_t> string_ids_;
  std::vector<FrameKey> frames_;
  std::unordered_map<uint64_t, uint32_t> frame_ids_;  // function, file, inlined
  std::unordered_map<uint64_t, uint32_t> children_;   // (parent, frame) -> node
  std::vector<uint32_t> parent_;
  std::vector<int64_t> frame_;                         // -1 for the root
  std::vector<std::vector<int64_t>> self_;             // [type][node]
  // The weight of each line of a node: the first line seen in line_ and
  // line_weight_ (most nodes only ever have one), the others in other_lines_.
  std::vector<int64_t> line_;
  std::vector<int64_t> line_weight_;
  std::unordered_map<uint64_t, int64_t> other_lines_;  // (node, line) -> weight
};

}  // namespace ppagent
