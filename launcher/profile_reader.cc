#include "profile_reader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include <limits>

namespace ppagent::profile {
namespace {

// A profile larger than this once inflated is refused rather than risk running
// out of memory on a corrupt or hostile file (the biggest real profiles seen are
// tens of megabytes).
constexpr size_t kMaxInflatedBytes = size_t{1} << 30;

struct ParseError {
  std::string message;
};

[[noreturn]] void fail(std::string message) { throw ParseError{std::move(message)}; }

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One protobuf message's bytes, read field by field.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : data_(bytes) {}

  bool done() const { return pos_ == data_.size(); }

  // Reads the next field's key; `what` names the message for error messages.
  void next_field(const char* what) {
    const uint64_t key = varint(what);
    field_ = key >> 3;
    wire_type_ = static_cast<uint32_t>(key & 7);
    if (field_ == 0 || field_ > std::numeric_limits<uint32_t>::max())
      fail(std::string("invalid field number in ") + what);
    if (wire_type_ != kVarint && wire_type_ != kFixed64 && wire_type_ != kLengthDelimited &&
        wire_type_ != kFixed32)
      fail(std::string("unsupported wire type ") + std::to_string(wire_type_) + " in " + what);
    what_ = what;
  }
  uint64_t field() const { return field_; }

  uint64_t read_varint_field() {
    expect(kVarint);
    return varint(what_);
  }
  int64_t read_int64() { return static_cast<int64_t>(read_varint_field()); }
  bool read_bool() { return read_varint_field() != 0; }
  std::string_view read_bytes() {
    expect(kLengthDelimited);
    return length_delimited();
  }

  // A repeated integer field, packed (one length-delimited run of varints) or
  // not (one varint per field), as proto3 allows a reader to receive either.
  template <typename T>
  void read_repeated(std::vector<T>* out) {
    if (wire_type_ == kVarint) {
      out->push_back(static_cast<T>(varint(what_)));
      return;
    }
    if (wire_type_ != kLengthDelimited) wrong_wire_type();
    WireReader packed(length_delimited());
    while (!packed.done()) out->push_back(static_cast<T>(packed.varint(what_)));
  }

  void skip() {
    switch (wire_type_) {
      case kVarint: varint(what_); break;
      case kFixed64: advance(8); break;
      case kFixed32: advance(4); break;
      case kLengthDelimited: length_delimited(); break;
    }
  }

 private:
  uint64_t varint(const char* what) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) fail(std::string("truncated varint in ") + what);
      const uint8_t byte = static_cast<uint8_t>(data_[pos_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail(std::string("varint longer than 10 bytes in ") + what);
  }
  std::string_view length_delimited() {
    const uint64_t length = varint(what_);
    if (length > data_.size() - pos_)
      fail(std::string("field ") + std::to_string(field_) + " of " + what_ +
           " runs past the end of its data");
    std::string_view bytes = data_.substr(pos_, length);
    pos_ += length;
    return bytes;
  }
  void advance(size_t n) {
    if (n > data_.size() - pos_) fail(std::string("truncated fixed-size field in ") + what_);
    pos_ += n;
  }
  void expect(uint32_t wire_type) {
    if (wire_type_ != wire_type) wrong_wire_type();
  }
  [[noreturn]] void wrong_wire_type() {
    fail(std::string("field ") + std::to_string(field_) + " of " + what_ + " has wire type " +
         std::to_string(wire_type_) + ", which does not fit its declared type");
  }

  std::string_view data_;
  size_t pos_ = 0;
  uint64_t field_ = 0;
  uint32_t wire_type_ = 0;
  const char* what_ = "profile";
};

// Messages as they are on the wire, strings still indices into the string
// table (which may come anywhere in the file, after its users).
struct RawValueType {
  int64_t type = 0, unit = 0;
};
struct RawLabel {
  int64_t key = 0, str = 0, num = 0, num_unit = 0;
};
struct RawFunction {
  uint64_t id = 0;
  int64_t name = 0, system_name = 0, filename = 0, start_line = 0;
};
struct RawMapping {
  Mapping mapping;  // the numbers and flags
  int64_t filename = 0, build_id = 0;
};
struct RawProfile {
  std::vector<RawValueType> sample_types;
  std::vector<std::vector<RawLabel>> sample_labels;  // parallel to Profile::samples
  std::vector<RawFunction> functions;
  std::vector<RawMapping> mappings;
  std::vector<std::string_view> strings;
  std::vector<int64_t> comments;
  RawValueType period_type;
  int64_t default_sample_type = 0, drop_frames = 0, keep_frames = 0;
};

RawValueType parse_value_type(std::string_view bytes) {
  RawValueType out;
  WireReader in(bytes);
  while (!in.done()) {
    in.next_field("ValueType");
    switch (in.field()) {
      case 1: out.type = in.read_int64(); break;
      case 2: out.unit = in.read_int64(); break;
      default: in.skip();
    }
  }
  return out;
}

RawLabel parse_label(std::string_view bytes) {
  RawLabel out;
  WireReader in(bytes);
  while (!in.done()) {
    in.next_field("Label");
    switch (in.field()) {
      case 1: out.key = in.read_int64(); break;
      case 2: out.str = in.read_int64(); break;
      case 3: out.num = in.read_int64(); break;
      case 4: out.num_unit = in.read_int64(); break;
      default: in.skip();
    }
  }
  return out;
}

void parse_sample(std::string_view bytes, Sample* out, std::vector<RawLabel>* labels) {
  WireReader in(bytes);
  while (!in.done()) {
    in.next_field("Sample");
    switch (in.field()) {
      case 1: in.read_repeated(&out->location_ids); break;
      case 2: in.read_repeated(&out->values); break;
      case 3: labels->push_back(parse_label(in.read_bytes())); break;
      default: in.skip();
    }
  }
}

Line parse_line(std::string_view bytes) {
  Line out;
  WireReader in(bytes);
  while (!in.done()) {
    in.next_field("Line");
    switch (in.field()) {
      case 1: out.function_id = in.read_varint_field(); break;
      case 2: out.line = in.read_int64(); break;
      case 3: out.column = in.read_int64(); break;
      default: in.skip();
    }
  }
  return out;
}

Location parse_location(std::string_view bytes) {
  Location out;
  WireReader in(bytes);
  while (!in.done()) {
    in.next_field("Location");
    switch (in.field()) {
      case 1: out.id = in.read_varint_field(); break;
      case 2: out.mapping_id = in.read_varint_field(); break;
      case 3: out.address = in.read_varint_field(); break;
      case 4: out.lines.push_back(parse_line(in.read_bytes())); break;
      case 5: out.is_folded = in.read_bool(); break;
      default: in.skip();
    }
  }
  return out;
}

RawFunction parse_function(std::string_view bytes) {
  RawFunction out;
  WireReader in(bytes);
  while (!in.done()) {
    in.next_field("Function");
    switch (in.field()) {
      case 1: out.id = in.read_varint_field(); break;
      case 2: out.name = in.read_int64(); break;
      case 3: out.system_name = in.read_int64(); break;
      case 4: out.filename = in.read_int64(); break;
      case 5: out.start_line = in.read_int64(); break;
      default: in.skip();
    }
  }
  return out;
}

RawMapping parse_mapping(std::string_view bytes) {
  RawMapping out;
  Mapping& m = out.mapping;
  WireReader in(bytes);
  while (!in.done()) {
    in.next_field("Mapping");
    switch (in.field()) {
      case 1: m.id = in.read_varint_field(); break;
      case 2: m.start = in.read_varint_field(); break;
      case 3: m.limit = in.read_varint_field(); break;
      case 4: m.offset = in.read_varint_field(); break;
      case 5: out.filename = in.read_int64(); break;
      case 6: out.build_id = in.read_int64(); break;
      case 7: m.has_functions = in.read_bool(); break;
      case 8: m.has_filenames = in.read_bool(); break;
      case 9: m.has_line_numbers = in.read_bool(); break;
      case 10: m.has_inline_frames = in.read_bool(); break;
      default: in.skip();
    }
  }
  return out;
}

void parse_top_level(std::string_view bytes, Profile* out, RawProfile* raw) {
  WireReader in(bytes);
  while (!in.done()) {
    in.next_field("Profile");
    switch (in.field()) {
      case 1: raw->sample_types.push_back(parse_value_type(in.read_bytes())); break;
      case 2:
        out->samples.emplace_back();
        raw->sample_labels.emplace_back();
        parse_sample(in.read_bytes(), &out->samples.back(), &raw->sample_labels.back());
        break;
      case 3: raw->mappings.push_back(parse_mapping(in.read_bytes())); break;
      case 4: out->locations.push_back(parse_location(in.read_bytes())); break;
      case 5: raw->functions.push_back(parse_function(in.read_bytes())); break;
      case 6: raw->strings.push_back(in.read_bytes()); break;
      case 7: raw->drop_frames = in.read_int64(); break;
      case 8: raw->keep_frames = in.read_int64(); break;
      case 9: out->time_nanos = in.read_int64(); break;
      case 10: out->duration_nanos = in.read_int64(); break;
      case 11: raw->period_type = parse_value_type(in.read_bytes()); break;
      case 12: out->period = in.read_int64(); break;
      case 13: in.read_repeated(&raw->comments); break;
      case 14: raw->default_sample_type = in.read_int64(); break;
      default: in.skip();
    }
  }
}

class StringTable {
 public:
  explicit StringTable(const std::vector<std::string_view>& strings) : strings_(strings) {}
  std::string get(int64_t index, const char* what) const {
    if (index < 0 || static_cast<uint64_t>(index) >= strings_.size())
      fail(std::string(what) + " names string " + std::to_string(index) +
           ", but the string table has " + std::to_string(strings_.size()) + " entries");
    return std::string(strings_[index]);
  }

 private:
  const std::vector<std::string_view>& strings_;
};

ValueType resolve(const RawValueType& raw, const StringTable& strings) {
  return ValueType{strings.get(raw.type, "a sample type"), strings.get(raw.unit, "a sample type")};
}

template <typename T>
void index_ids(const std::vector<T>& items, const char* what,
               std::unordered_map<uint64_t, uint32_t>* index) {
  index->reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].id == 0) fail(std::string("a ") + what + " has id 0, which is reserved");
    if (!index->emplace(items[i].id, static_cast<uint32_t>(i)).second)
      fail(std::string("two ") + what + "s have id " + std::to_string(items[i].id));
  }
}

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f &&
         static_cast<uint8_t>(bytes[1]) == 0x8b;
}

// Inflates one or more concatenated gzip members.
std::string gunzip(std::string_view bytes) {
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) fail("cannot initialise zlib");
  std::string out;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  if (bytes.size() > std::numeric_limits<uInt>::max()) {
    inflateEnd(&stream);
    fail("the compressed file is larger than 4 GiB");
  }
  char buffer[65536];
  for (;;) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    const int status = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
    if (out.size() > kMaxInflatedBytes) {
      inflateEnd(&stream);
      fail("the profile is larger than 1 GiB once decompressed");
    }
    if (status == Z_STREAM_END) {
      const std::string_view rest(reinterpret_cast<const char*>(stream.next_in), stream.avail_in);
      if (rest.empty()) break;
      if (!is_gzip(rest)) {
        inflateEnd(&stream);
        fail("unexpected data after the end of the gzip stream");
      }
      inflateReset(&stream);
      continue;
    }
    if (status == Z_OK) continue;
    if (status == Z_BUF_ERROR && stream.avail_in == 0) {
      inflateEnd(&stream);
      fail("the gzip stream is truncated");
    }
    const std::string message = stream.msg ? stream.msg : "error " + std::to_string(status);
    inflateEnd(&stream);
    fail("corrupt gzip data (" + message + ")");
  }
  inflateEnd(&stream);
  return out;
}

template <typename T>
const T* find_by_id(const std::vector<T>& items, const std::unordered_map<uint64_t, uint32_t>& index,
                    uint64_t id) {
  const auto found = index.find(id);
  return found == index.end() ? nullptr : &items[found->second];
}

}  // namespace

// A friend of Profile, to fill its indexes.
struct ProfileParser {
  static void parse(std::string_view bytes, Profile* out);
};

void ProfileParser::parse(std::string_view bytes, Profile* out) {
  RawProfile raw;
  parse_top_level(bytes, out, &raw);
  if (raw.strings.empty() || !raw.strings[0].empty())
    fail("the string table does not start with an empty string, as a profile's must");
  const StringTable strings(raw.strings);

  for (const RawValueType& type : raw.sample_types) out->sample_types.push_back(resolve(type, strings));
  out->period_type = resolve(raw.period_type, strings);
  out->default_sample_type = strings.get(raw.default_sample_type, "default_sample_type");
  out->drop_frames = strings.get(raw.drop_frames, "drop_frames");
  out->keep_frames = strings.get(raw.keep_frames, "keep_frames");
  for (int64_t comment : raw.comments) out->comments.push_back(strings.get(comment, "a comment"));

  for (const RawFunction& raw_function : raw.functions) {
    Function function;
    function.id = raw_function.id;
    function.name = strings.get(raw_function.name, "a function's name");
    function.system_name = strings.get(raw_function.system_name, "a function's system name");
    function.filename = strings.get(raw_function.filename, "a function's file name");
    function.start_line = raw_function.start_line;
    out->functions.push_back(std::move(function));
  }
  for (RawMapping& raw_mapping : raw.mappings) {
    raw_mapping.mapping.filename = strings.get(raw_mapping.filename, "a mapping's file name");
    raw_mapping.mapping.build_id = strings.get(raw_mapping.build_id, "a mapping's build id");
    out->mappings.push_back(std::move(raw_mapping.mapping));
  }

  index_ids(out->locations, "location", &out->location_index_);
  index_ids(out->functions, "function", &out->function_index_);
  index_ids(out->mappings, "mapping", &out->mapping_index_);
  for (const Location& location : out->locations) {
    if (location.mapping_id != 0 && !out->mapping(location.mapping_id))
      fail("location " + std::to_string(location.id) + " names mapping " +
           std::to_string(location.mapping_id) + ", which does not exist");
    for (const Line& line : location.lines)
      if (line.function_id != 0 && !out->function(line.function_id))
        fail("location " + std::to_string(location.id) + " names function " +
             std::to_string(line.function_id) + ", which does not exist");
  }

  const size_t value_count = out->sample_types.size();
  for (size_t i = 0; i < out->samples.size(); ++i) {
    Sample& sample = out->samples[i];
    if (sample.values.size() != value_count)
      fail("sample " + std::to_string(i) + " has " + std::to_string(sample.values.size()) +
           " values, but the profile has " + std::to_string(value_count) + " sample types");
    for (uint64_t id : sample.location_ids)
      if (!out->location(id))
        fail("sample " + std::to_string(i) + " names location " + std::to_string(id) +
             ", which does not exist");
    for (const RawLabel& raw_label : raw.sample_labels[i]) {
      Label label;
      label.key = strings.get(raw_label.key, "a label's key");
      label.str = strings.get(raw_label.str, "a label's value");
      label.num = raw_label.num;
      label.num_unit = strings.get(raw_label.num_unit, "a label's unit");
      sample.labels.push_back(std::move(label));
    }
  }
}

const Location* Profile::location(uint64_t id) const {
  return find_by_id(locations, location_index_, id);
}
const Function* Profile::function(uint64_t id) const {
  return find_by_id(functions, function_index_, id);
}
const Mapping* Profile::mapping(uint64_t id) const {
  return find_by_id(mappings, mapping_index_, id);
}

bool parse_profile(std::string_view bytes, Profile* out, std::string* error) {
  *out = Profile();
  try {
    if (bytes.empty()) fail("the file is empty");
    if (is_gzip(bytes)) {
      const std::string inflated = gunzip(bytes);
      ProfileParser::parse(inflated, out);
    } else {
      ProfileParser::parse(bytes, out);
    }
    return true;
  } catch (const ParseError& e) {
    *error = "not a readable profile: " + e.message;
  } catch (const std::bad_alloc&) {
    *error = "not a readable profile: out of memory while reading it";
  }
  return false;
}

bool read_profile(const std::string& path, Profile* out, std::string* error) {
  FILE* file = fopen(path.c_str(), "rb");
  if (!file) {
    *error = "cannot open " + path + ": " + strerror(errno);
    return false;
  }
  std::string bytes;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, file)) > 0) bytes.append(buffer, n);
  const bool failed = ferror(file);
  const int read_errno = errno;
  fclose(file);
  if (failed) {
    *error = "cannot read " + path + ": " + strerror(read_errno);
    return false;
  }
  if (!parse_profile(bytes, out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace ppagent::profile
