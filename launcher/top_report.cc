#include "top_report.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "value_units.h"

namespace ppagent::profile {
namespace {

// pprof's defaults for -nodefraction and -edgefraction.
constexpr double kNodeFraction = 0.005;
constexpr double kEdgeFraction = 0.001;

int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

struct Edge {
  int64_t weight = 0;
  bool inline_only = true;  // every call along this edge was inlined
};

struct Node {
  int64_t flat = 0;
  int64_t cum = 0;
  std::unordered_map<uint32_t, Edge> in;  // by caller node
};

// Functions (rows) and, for each interned frame, its function.
struct Names {
  std::vector<std::string> names;
  std::vector<uint32_t> node_of_frame;
};

Names name_nodes(const Stacks& stacks) {
  Names out;
  std::unordered_map<std::string, uint32_t> ids;
  for (const Frame& frame : stacks.frames) {
    std::string name = frame.pprof_name();
    const auto inserted = ids.emplace(name, static_cast<uint32_t>(out.names.size()));
    if (inserted.second) out.names.push_back(std::move(name));
    out.node_of_frame.push_back(inserted.first->second);
  }
  return out;
}

// pprof's graph over the nodes in `kept` (all when empty): frames of other
// nodes are stepped over, and a sample whose leaf is not kept adds no flat.
std::vector<Node> build_graph(const Stacks& stacks, const Names& names,
                              const std::vector<bool>& kept) {
  std::vector<Node> nodes(names.names.size());
  std::vector<size_t> counted_in(nodes.size(), SIZE_MAX);
  std::unordered_set<uint64_t> counted_edges;
  for (size_t s = 0; s < stacks.stacks.size(); ++s) {
    const Stacks::Stack& stack = stacks.stacks[s];
    const int64_t w = stack.value;
    if (w == 0) continue;
    counted_edges.clear();
    int64_t parent = -1;
    bool residual = false;
    for (size_t i = stack.frames.size(); i-- > 0;) {
      const Frame& frame = stacks.frames[stack.frames[i]];
      const uint32_t n = names.node_of_frame[stack.frames[i]];
      if (!kept.empty() && !kept[n]) {
        residual = true;
        continue;
      }
      if (counted_in[n] != s) {
        counted_in[n] = s;
        nodes[n].cum += w;
      }
      if (parent >= 0 && parent != n &&
          counted_edges.insert(static_cast<uint64_t>(parent) << 32 | n).second) {
        Edge& edge = nodes[n].in[static_cast<uint32_t>(parent)];
        edge.weight += w;
        edge.inline_only = edge.inline_only && frame.inlined;
      }
      parent = n;
      residual = false;
    }
    if (parent >= 0 && !residual) nodes[parent].flat += w;
  }
  return nodes;
}

// The nodes pprof keeps in a graph: those with any value.
std::vector<uint32_t> present(const std::vector<Node>& nodes) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].cum != 0 || nodes[i].flat != 0) out.push_back(i);
  return out;
}

std::vector<bool> as_set(const std::vector<uint32_t>& ids, size_t size) {
  std::vector<bool> set(size, false);
  for (uint32_t id : ids) set[id] = true;
  return set;
}

void sort_rows(std::vector<uint32_t>* rows, const std::vector<Node>& nodes,
               const std::vector<std::string>& names, bool cum) {
  std::sort(rows->begin(), rows->end(), [&](uint32_t l, uint32_t r) {
    const int64_t first_l = abs64(cum ? nodes[l].cum : nodes[l].flat);
    const int64_t first_r = abs64(cum ? nodes[r].cum : nodes[r].flat);
    if (first_l != first_r) return first_l > first_r;
    if (names[l] != names[r]) return names[l] < names[r];
    const int64_t second_l = abs64(cum ? nodes[l].flat : nodes[l].cum);
    const int64_t second_r = abs64(cum ? nodes[r].flat : nodes[r].cum);
    return second_l > second_r;
  });
}

void trim_edges(std::vector<Node>* nodes, const std::vector<uint32_t>& rows, int64_t cutoff) {
  for (uint32_t id : rows) {
    auto& in = (*nodes)[id].in;
    for (auto it = in.begin(); it != in.end();) {
      if (abs64(it->second.weight) < cutoff)
        it = in.erase(it);
      else
        ++it;
    }
  }
}

// pprof's "minimum" output unit: the unit of the smallest value shown, or a
// larger one when the smallest is under 1% of the total.
std::string output_unit(const std::vector<Node>& nodes, const std::vector<uint32_t>& rows,
                        int64_t total, const std::string& unit) {
  if (rows.empty()) return "minimum";
  int64_t min_value = 0;
  for (uint32_t id : rows) {
    int64_t v = abs64(nodes[id].flat);
    if (v == 0) v = abs64(nodes[id].cum);
    if (v > 0 && (min_value == 0 || v < min_value)) min_value = v;
  }
  const int64_t max_value = total;
  if (min_value == 0) min_value = max_value;
  const std::string min_unit = scale(min_value, unit, "minimum").unit;
  const std::string max_unit = scale(max_value, unit, "minimum").unit;
  std::string chosen = min_unit;
  if (min_unit != max_unit && min_value < INT64_MAX / 100 && min_value * 100 < max_value)
    chosen = scale(100 * min_value, unit, "minimum").unit;
  return chosen.empty() ? unit : chosen;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Go's time layout "Jan 2, 2006 at 3:04pm (MST)", in local time.
std::string go_time(int64_t nanos) {
  const time_t seconds = static_cast<time_t>(nanos / 1000000000);
  struct tm local;
  if (!localtime_r(&seconds, &local)) return "?";
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int hour12 = local.tm_hour % 12 == 0 ? 12 : local.tm_hour % 12;
  char text[96];
  snprintf(text, sizeof text, "%s %d, %d at %d:%02d%s (%s)", kMonths[local.tm_mon], local.tm_mday,
           local.tm_year + 1900, hour12, local.tm_min, local.tm_hour < 12 ? "am" : "pm",
           local.tm_zone ? local.tm_zone : "");
  return text;
}

std::string trim_spaces(const std::string& text) {
  const size_t first = text.find_first_not_of(' ');
  return first == std::string::npos ? "" : text.substr(first);
}

}  // namespace

bool top_report(const Profile& profile, const TopOptions& options, std::string* text,
                std::string* error) {
  size_t index = 0;
  if (!pick_sample_index(profile, options.sample_index, &index, error)) return false;
  const ValueType& type = profile.sample_types[index];

  // Percentages are of every sample, before filtering, as pprof's default.
  int64_t total = 0;
  for (const Sample& sample : profile.samples) total += abs64(sample.values[index]);

  Stacks stacks;
  if (!collect_stacks(profile, index, options.filter, &stacks, error)) return false;
  const Names names = name_nodes(stacks);

  std::vector<Node> nodes = build_graph(stacks, names, {});
  std::vector<uint32_t> rows = present(nodes);
  int64_t shown_total = 0;
  for (uint32_t id : rows) shown_total += nodes[id].flat;
  const int64_t node_cutoff = abs64(static_cast<int64_t>(static_cast<double>(shown_total) * kNodeFraction));
  const int64_t edge_cutoff = abs64(static_cast<int64_t>(static_cast<double>(shown_total) * kEdgeFraction));

  size_t dropped_nodes = 0;
  if (node_cutoff > 0) {
    std::vector<uint32_t> kept;
    for (uint32_t id : rows)
      if (abs64(nodes[id].cum) >= node_cutoff) kept.push_back(id);
    if (kept.size() != rows.size()) {
      dropped_nodes = rows.size() - kept.size();
      nodes = build_graph(stacks, names, as_set(kept, nodes.size()));
      rows = present(nodes);
    }
  }
  const size_t rows_before_nodecount = rows.size();
  sort_rows(&rows, nodes, names.names, options.cum);
  if (options.nodecount > 0) {
    trim_edges(&nodes, rows, edge_cutoff);
    if (static_cast<size_t>(options.nodecount) < rows.size()) {
      rows.resize(options.nodecount);
      nodes = build_graph(stacks, names, as_set(rows, nodes.size()));
      rows = present(nodes);
      sort_rows(&rows, nodes, names.names, options.cum);
    }
  }
  trim_edges(&nodes, rows, edge_cutoff);

  const std::string unit = output_unit(nodes, rows, total, type.unit);
  auto format = [&](int64_t v) { return format_value(v, type.unit, unit); };

  std::vector<std::string> labels;
  if (!profile.mappings.empty()) {
    if (!profile.mappings[0].filename.empty())
      labels.push_back("File: " + base_name(profile.mappings[0].filename));
    if (!profile.mappings[0].build_id.empty())
      labels.push_back("Build ID: " + profile.mappings[0].build_id);
  }
  for (const std::string& comment : profile.comments)
    if (comment.rfind('#', 0) != 0) labels.push_back(comment);
  labels.push_back("Type: " + type.type);
  if (profile.time_nanos != 0) labels.push_back("Time: " + go_time(profile.time_nanos));
  if (profile.duration_nanos != 0) {
    const Scaled in_nanos = scale(total, type.unit, "nanoseconds");
    std::string ratio;
    if (in_nanos.unit == "ns" && in_nanos.value != 0)
      ratio = "(" + format_percentage(static_cast<int64_t>(in_nanos.value), profile.duration_nanos) + ")";
    labels.push_back("Duration: " + format_value(profile.duration_nanos, "nanoseconds") +
                     ", Total samples = " + format(total) + " " + ratio);
  }
  std::vector<std::string> filters;
  if (!options.filter.focus.empty()) filters.push_back("focus=" + options.filter.focus);
  if (!options.filter.tagfocus.empty()) filters.push_back("tagfocus=" + options.filter.tagfocus);
  if (!filters.empty()) {
    labels.push_back("Active filters:");
    for (std::string filter : filters) {
      if (filter.size() > 80) filter = filter.substr(0, 80) + "\u2026";
      labels.push_back("   " + filter);
    }
  }
  int64_t flat_sum = 0;
  for (uint32_t id : rows) flat_sum += nodes[id].flat;
  labels.push_back("Showing nodes accounting for " + format(flat_sum) + ", " +
                   trim_spaces(format_percentage(flat_sum, total)) + " of " + format(total) + " total");
  if (total != 0) {
    if (dropped_nodes > 0)
      labels.push_back("Dropped " + std::to_string(dropped_nodes) +
                       (dropped_nodes > 1 ? " nodes" : " node") + " (cum <= " +
                       format(abs64(static_cast<int64_t>(static_cast<double>(total) * kNodeFraction))) + ")");
    if (!rows.empty() && rows.size() < rows_before_nodecount)
      labels.push_back("Showing top " + std::to_string(rows.size()) + " nodes out of " +
                       std::to_string(rows_before_nodecount));
  }

  std::string out;
  for (const std::string& label : labels) out += label + "\n";
  char line[256];
  snprintf(line, sizeof line, "%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum", "cum");
  out += line;
  int64_t running = 0;
  for (uint32_t id : rows) {
    const Node& node = nodes[id];
    running += node.flat;
    bool inlined = false, called = false;
    for (const auto& caller : node.in) (caller.second.inline_only ? inlined : called) = true;
    const char* inline_label = inlined ? (called ? " (partial-inline)" : " (inline)") : "";
    snprintf(line, sizeof line, "%10s %s %s %10s %s  ", format(node.flat).c_str(),
             format_percentage(node.flat, total).c_str(), format_percentage(running, total).c_str(),
             format(node.cum).c_str(), format_percentage(node.cum, total).c_str());
    out += line;
    out += names.names[id];
    out += inline_label;
    out += "\n";
  }
  *text = std::move(out);
  return true;
}

}  // namespace ppagent::profile
