// Reads a profile.proto file (pprof's format, proto/profile.proto) into plain
// structs, without libprotobuf: the launcher stays a small, quick-starting binary
// (it only adds zlib, to inflate gzipped files).
//
// Strings are resolved from the string table and ids are checked while reading,
// so a Profile that read_profile() returns is consistent: every location id a
// sample names, every mapping id a location names (other than 0, "none") and
// every function id a line names exists.
#pragma once

#include <stdint.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ppagent::profile {

struct ValueType {
  std::string type;  // "cpu", "alloc_space", ...
  std::string unit;  // "nanoseconds", "bytes", "count", ...
};

struct Label {
  std::string key;
  std::string str;       // empty for a numeric label
  int64_t num = 0;
  std::string num_unit;  // may be empty
  bool is_numeric() const { return str.empty(); }
};

struct Sample {
  std::vector<uint64_t> location_ids;  // leaf first
  std::vector<int64_t> values;         // one per sample type
  std::vector<Label> labels;
};

struct Line {
  uint64_t function_id = 0;  // 0: no function
  int64_t line = 0;
  int64_t column = 0;
};

struct Location {
  uint64_t id = 0;
  uint64_t mapping_id = 0;  // 0: no mapping
  uint64_t address = 0;
  std::vector<Line> lines;  // lines[0] is the innermost (inlined) frame
  bool is_folded = false;
};

struct Function {
  uint64_t id = 0;
  std::string name;
  std::string system_name;
  std::string filename;
  int64_t start_line = 0;
};

struct Mapping {
  uint64_t id = 0;
  uint64_t start = 0;
  uint64_t limit = 0;
  uint64_t offset = 0;
  std::string filename;
  std::string build_id;
  bool has_functions = false;
  bool has_filenames = false;
  bool has_line_numbers = false;
  bool has_inline_frames = false;
};

struct Profile {
  std::vector<ValueType> sample_types;
  std::string default_sample_type;  // empty when the file names none
  ValueType period_type;
  int64_t period = 0;
  int64_t time_nanos = 0;
  int64_t duration_nanos = 0;
  std::vector<std::string> comments;
  std::string drop_frames;
  std::string keep_frames;
  std::vector<Sample> samples;
  std::vector<Location> locations;  // in file order; ids are unique
  std::vector<Function> functions;  // in file order; ids are unique
  std::vector<Mapping> mappings;    // in file order; ids are unique

  // Lookups by id; nullptr when absent.
  const Location* location(uint64_t id) const;
  const Function* function(uint64_t id) const;
  const Mapping* mapping(uint64_t id) const;

 private:
  friend struct ProfileParser;
  // Positions in the vectors above, by id; filled by parse_profile().
  std::unordered_map<uint64_t, uint32_t> location_index_, function_index_, mapping_index_;
};

// Parses the bytes of a profile, gzipped (detected by gzip's magic number;
// several gzip members are read one after the other) or not. On failure returns
// false and sets *error to one line that says what is wrong, without a
// "ppagent:" prefix; *out is then unspecified.
bool parse_profile(std::string_view bytes, Profile* out, std::string* error);

// Reads the file at `path` and parses it. Errors name the file.
bool read_profile(const std::string& path, Profile* out, std::string* error);

}  // namespace ppagent::profile
