// Collects a pprof Profile — strings, mappings, functions, locations, samples —
// deduplicating strings and functions, and encodes it with ProtoWriter.
// Field numbers are those of proto/profile.proto.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace ppagent {

struct MappingInfo {
  uint64_t start = 0, limit = 0, file_offset = 0;
  std::string filename, build_id;
  bool has_functions = false, has_filenames = false, has_line_numbers = false,
       has_inline_frames = false;
};

struct LineInfo {
  uint64_t function_id;
  int64_t line;
};

struct LabelInfo {
  std::string key;
  std::string str;   // a string label when num_unit is empty and str is set
  int64_t num = 0;
  std::string num_unit;
  bool is_num = false;
};

class ProfileBuilder {
 public:
  ProfileBuilder();

  void add_sample_type(std::string_view type, std::string_view unit);
  void set_period(std::string_view type, std::string_view unit, int64_t period);
  void set_time(int64_t time_nanos, int64_t duration_nanos);
  void set_default_sample_type(std::string_view type);
  void add_comment(std::string_view text);

  uint64_t add_mapping(const MappingInfo& m);  // ids follow insertion order, from 1
  MappingInfo& mapping(uint64_t id) { return mappings_[id - 1].info; }  // to set has_* later
  uint64_t function_id(std::string_view name, std::string_view system_name,
                       std::string_view filename, int64_t start_line);
  uint64_t add_location(uint64_t mapping_id, uint64_t address,
                        const std::vector<LineInfo>& lines);
  void add_sample(const std::vector<uint64_t>& location_ids,
                  const std::vector<int64_t>& values,
                  const std::vector<LabelInfo>& labels);

  std::string encode();  // the serialized Profile (not compressed)

 private:
  int64_t str(std::string_view s);

  struct Sample {
    std::vector<uint64_t> locations;
    std::vector<int64_t> values;
    std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> labels;  // key, str, num, unit
  };
  struct Location {
    uint64_t mapping_id, address;
    std::vector<LineInfo> lines;
  };
  struct Function {
    int64_t name, system_name, filename, start_line;
  };
  struct Mapping {
    MappingInfo info;
    int64_t filename, build_id;
  };

  std::vector<std::string> strings_;
  std::unordered_map<std::string, int64_t> string_index_;
  std::vector<std::pair<int64_t, int64_t>> sample_types_;
  std::pair<int64_t, int64_t> period_type_{0, 0};
  int64_t period_ = 0, time_nanos_ = 0, duration_nanos_ = 0, default_sample_type_ = 0;
  std::vector<int64_t> comments_;
  std::vector<Mapping> mappings_;
  std::vector<Function> functions_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, uint64_t> function_index_;
  std::vector<Location> locations_;
  std::vector<Sample> samples_;
};

}  // namespace ppagent
