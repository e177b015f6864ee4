#include "pprof/profile_builder.h"

#include "pprof/proto_writer.h"

namespace ppagent {

namespace field {
// Profile
constexpr int kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5,
              kStringTable = 6, kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11,
              kPeriod = 12, kComment = 13, kDefaultSampleType = 14;
// ValueType
constexpr int kType = 1, kUnit = 2;
// Sample
constexpr int kLocationId = 1, kValue = 2, kLabel = 3;
// Label
constexpr int kKey = 1, kStr = 2, kNum = 3, kNumUnit = 4;
// Mapping
constexpr int kMappingId = 1, kMemoryStart = 2, kMemoryLimit = 3, kFileOffset = 4,
              kFilename = 5, kBuildId = 6, kHasFunctions = 7, kHasFilenames = 8,
              kHasLineNumbers = 9, kHasInlineFrames = 10;
// Location
constexpr int kLocId = 1, kLocMappingId = 2, kAddress = 3, kLine = 4;
// Line
constexpr int kFunctionId = 1, kLineNumber = 2;
// Function
constexpr int kFuncId = 1, kName = 2, kSystemName = 3, kFuncFilename = 4, kStartLine = 5;
}  // namespace field

ProfileBuilder::ProfileBuilder() { str(""); }

int64_t ProfileBuilder::str(std::string_view s) {
  auto it = string_index_.find(std::string(s));
  if (it != string_index_.end()) return it->second;
  int64_t index = static_cast<int64_t>(strings_.size());
  strings_.emplace_back(s);
  string_index_.emplace(strings_.back(), index);
  return index;
}

void ProfileBuilder::add_sample_type(std::string_view type, std::string_view unit) {
  sample_types_.emplace_back(str(type), str(unit));
}

void ProfileBuilder::set_period(std::string_view type, std::string_view unit, int64_t period) {
  period_type_ = {str(type), str(unit)};
  period_ = period;
}

void ProfileBuilder::set_time(int64_t time_nanos, int64_t duration_nanos) {
  time_nanos_ = time_nanos;
  duration_nanos_ = duration_nanos;
}

void ProfileBuilder::set_default_sample_type(std::string_view type) {
  default_sample_type_ = str(type);
}

void ProfileBuilder::add_comment(std::string_view text) { comments_.push_back(str(text)); }

uint64_t ProfileBuilder::add_mapping(const MappingInfo& m) {
  mappings_.push_back(Mapping{m, str(m.filename), str(m.build_id)});
  return mappings_.size();
}

uint64_t ProfileBuilder::function_id(std::string_view name, std::string_view system_name,
                                     std::string_view filename, int64_t start_line) {
  auto key = std::make_tuple(str(name), str(system_name), str(filename), start_line);
  auto it = function_index_.find(key);
  if (it != function_index_.end()) return it->second;
  functions_.push_back(Function{std::get<0>(key), std::get<1>(key), std::get<2>(key), start_line});
  uint64_t id = functions_.size();
  function_index_.emplace(key, id);
  return id;
}

uint64_t ProfileBuilder::add_location(uint64_t mapping_id, uint64_t address,
                                      const std::vector<LineInfo>& lines) {
  locations_.push_back(Location{mapping_id, address, lines});
  return locations_.size();
}

void ProfileBuilder::add_sample(const std::vector<uint64_t>& location_ids,
                                const std::vector<int64_t>& values,
                                const std::vector<LabelInfo>& labels) {
  Sample s{location_ids, values, {}};
  for (const LabelInfo& l : labels) {
    if (l.is_num)
      s.labels.emplace_back(str(l.key), 0, l.num, l.num_unit.empty() ? 0 : str(l.num_unit));
    else
      s.labels.emplace_back(str(l.key), str(l.str), 0, 0);
  }
  samples_.push_back(std::move(s));
}

std::string ProfileBuilder::encode() {
  ProtoWriter w;
  auto value_type = [&w](int f, std::pair<int64_t, int64_t> vt) {
    size_t t = w.start_message(f);
    w.int64(field::kType, vt.first);
    w.int64(field::kUnit, vt.second);
    w.end_message(t);
  };

  for (const auto& vt : sample_types_) value_type(field::kSampleType, vt);

  for (const Sample& s : samples_) {
    size_t t = w.start_message(field::kSample);
    w.packed_uint64(field::kLocationId, s.locations);
    w.packed_int64(field::kValue, s.values);
    for (const auto& [key, sv, num, unit] : s.labels) {
      size_t lt = w.start_message(field::kLabel);
      w.int64(field::kKey, key);
      w.int64(field::kStr, sv);
      w.int64(field::kNum, num);
      w.int64(field::kNumUnit, unit);
      w.end_message(lt);
    }
    w.end_message(t);
  }

  for (size_t i = 0; i < mappings_.size(); i++) {
    const Mapping& m = mappings_[i];
    size_t t = w.start_message(field::kMapping);
    w.uint64(field::kMappingId, i + 1);
    w.uint64(field::kMemoryStart, m.info.start);
    w.uint64(field::kMemoryLimit, m.info.limit);
    w.uint64(field::kFileOffset, m.info.file_offset);
    w.int64(field::kFilename, m.filename);
    w.int64(field::kBuildId, m.build_id);
    w.boolean(field::kHasFunctions, m.info.has_functions);
    w.boolean(field::kHasFilenames, m.info.has_filenames);
    w.boolean(field::kHasLineNumbers, m.info.has_line_numbers);
    w.boolean(field::kHasInlineFrames, m.info.has_inline_frames);
    w.end_message(t);
  }

  for (size_t i = 0; i < locations_.size(); i++) {
    const Location& loc = locations_[i];
    size_t t = w.start_message(field::kLocation);
    w.uint64(field::kLocId, i + 1);
    w.uint64(field::kLocMappingId, loc.mapping_id);
    w.uint64(field::kAddress, loc.address);
    for (const LineInfo& line : loc.lines) {
      size_t lt = w.start_message(field::kLine);
      w.uint64(field::kFunctionId, line.function_id);
      w.int64(field::kLineNumber, line.line);
      w.end_message(lt);
    }
    w.end_message(t);
  }

  for (size_t i = 0; i < functions_.size(); i++) {
    const Function& f = functions_[i];
    size_t t = w.start_message(field::kFunction);
    w.uint64(field::kFuncId, i + 1);
    w.int64(field::kName, f.name);
    w.int64(field::kSystemName, f.system_name);
    w.int64(field::kFuncFilename, f.filename);
    w.int64(field::kStartLine, f.start_line);
    w.end_message(t);
  }

  for (const std::string& s : strings_) w.string(field::kStringTable, s);

  w.int64(field::kTimeNanos, time_nanos_);
  w.int64(field::kDurationNanos, duration_nanos_);
  if (period_type_.first != 0) value_type(field::kPeriodType, period_type_);
  w.int64(field::kPeriod, period_);
  w.packed_int64(field::kComment, comments_);
  w.int64(field::kDefaultSampleType, default_sample_type_);
  return w.take();
}

}  // namespace ppagent
