#include "pprof/profile_text.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <vector>

namespace ppagent {

namespace {

// A cursor over protobuf wire data; every read is bounds-checked.
struct Reader {
  std::string_view data;
  size_t pos = 0;

  bool done() const { return pos >= data.size(); }
  bool varint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= data.size()) return false;
      uint8_t byte = static_cast<uint8_t>(data[pos++]);
      *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }
  // The next field: its number, wire type, and either its varint value or
  // its length-delimited bytes. Fixed-width fields are skipped over.
  bool field(uint32_t* number, uint64_t* value, std::string_view* bytes) {
    uint64_t tag;
    if (!varint(&tag) || (tag >> 3) == 0) return false;
    *number = static_cast<uint32_t>(tag >> 3);
    switch (tag & 7) {
      case 0: return varint(value);
      case 1: return skip(8);
      case 5: return skip(4);
      case 2: {
        uint64_t length;
        if (!varint(&length) || length > data.size() - pos) return false;
        *bytes = data.substr(pos, length);
        pos += length;
        *value = 0;
        return true;
      }
      default: return false;
    }
  }
  bool skip(size_t n) {
    if (n > data.size() - pos) return false;
    pos += n;
    return true;
  }
};

// A repeated integer field, packed (wire type 2) or one value per field.
bool append_ints(uint64_t value, std::string_view bytes, bool packed,
                 std::vector<uint64_t>* out) {
  if (!packed) {
    out->push_back(value);
    return true;
  }
  Reader r{bytes};
  while (!r.done()) {
    if (!r.varint(&value)) return false;
    out->push_back(value);
  }
  return true;
}

struct Line {
  uint64_t function_id = 0;
  int64_t line = 0;
};
struct Location {
  uint64_t address = 0;
  std::vector<Line> lines;  // innermost inlined first
};
struct Function {
  uint64_t name = 0, filename = 0;
};
struct Sample {
  std::vector<uint64_t> locations;
  std::vector<int64_t> values;
  struct Label {
    uint64_t key = 0, str = 0;  // string indexes
    int64_t num = 0;
  };
  std::vector<Label> labels;
};

// Parses one embedded message, calling `on_field` for each field.
template <typename F>
bool each_field(std::string_view bytes, F on_field) {
  Reader r{bytes};
  while (!r.done()) {
    uint32_t number;
    uint64_t value = 0;
    std::string_view inner;
    bool is_bytes = false;
    size_t before = r.pos;
    if (!r.field(&number, &value, &inner)) return false;
    is_bytes = (static_cast<uint8_t>(bytes[before]) & 7) == 2;
    if (!on_field(number, value, inner, is_bytes)) return false;
  }
  return true;
}

}  // namespace

bool profile_text(std::string_view encoded, std::string_view name, std::string* text,
                  std::string* error) {
  std::vector<std::string_view> strings;
  std::vector<Sample> samples;
  std::map<uint64_t, Location> locations;
  std::map<uint64_t, Function> functions;

  bool ok = each_field(encoded, [&](uint32_t number, uint64_t, std::string_view bytes, bool is_bytes) {
    if (number == 6 && is_bytes) strings.push_back(bytes);
    else if (number == 2 && is_bytes) {
      Sample& sample = samples.emplace_back();
      std::vector<uint64_t> values;  // int64 on the wire as two's complement varints
      if (!each_field(bytes, [&](uint32_t n, uint64_t v, std::string_view b, bool packed) {
            if (n == 1) return append_ints(v, b, packed, &sample.locations);
            if (n == 2) return append_ints(v, b, packed, &values);
            if (n == 3 && packed) {
              Sample::Label& label = sample.labels.emplace_back();
              return each_field(b, [&](uint32_t ln, uint64_t lv, std::string_view, bool) {
                if (ln == 1) label.key = lv;
                if (ln == 2) label.str = lv;
                if (ln == 3) label.num = static_cast<int64_t>(lv);
                return true;
              });
            }
            return true;
          }))
        return false;
      for (uint64_t v : values) sample.values.push_back(static_cast<int64_t>(v));
    } else if (number == 4 && is_bytes) {
      uint64_t id = 0;
      Location location;
      if (!each_field(bytes, [&](uint32_t n, uint64_t v, std::string_view b, bool is_b) {
            if (n == 1) id = v;
            if (n == 3) location.address = v;
            if (n == 4 && is_b) {
              Line line;
              if (!each_field(b, [&](uint32_t ln, uint64_t lv, std::string_view, bool) {
                    if (ln == 1) line.function_id = lv;
                    if (ln == 2) line.line = static_cast<int64_t>(lv);
                    return true;
                  }))
                return false;
              location.lines.push_back(line);
            }
            return true;
          }))
        return false;
      locations[id] = std::move(location);
    } else if (number == 5 && is_bytes) {
      uint64_t id = 0;
      Function function;
      if (!each_field(bytes, [&](uint32_t n, uint64_t v, std::string_view, bool) {
            if (n == 1) id = v;
            if (n == 2) function.name = v;
            if (n == 4) function.filename = v;
            return true;
          }))
        return false;
      functions[id] = function;
    }
    return true;
  });
  if (!ok) {
    *error = "malformed profile";
    return false;
  }
  auto string_at = [&](uint64_t index) {
    return index < strings.size() ? strings[index] : std::string_view("?");
  };

  std::stable_sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) {
    int64_t va = a.values.empty() ? 0 : a.values[0], vb = b.values.empty() ? 0 : b.values[0];
    return va > vb;
  });
  int64_t total = 0;
  for (const Sample& s : samples)
    if (!s.values.empty()) total += s.values[0];

  std::string out;
  out += std::string(name) + " profile: total " + std::to_string(total) + "\n";
  char hex[24];
  for (const Sample& s : samples) {
    for (size_t i = 0; i < s.values.size(); i++)
      out += (i ? " " : "") + std::to_string(s.values[i]);
    out += " @";
    for (uint64_t id : s.locations) {
      auto it = locations.find(id);
      snprintf(hex, sizeof hex, " 0x%" PRIx64, it == locations.end() ? 0 : it->second.address);
      out += hex;
    }
    out += "\n";
    if (!s.labels.empty()) {
      out += "# labels:";
      for (const Sample::Label& label : s.labels) {
        out += " " + std::string(string_at(label.key)) + "=";
        out += label.str ? std::string(string_at(label.str)) : std::to_string(label.num);
      }
      out += "\n";
    }
    for (uint64_t id : s.locations) {
      auto it = locations.find(id);
      if (it == locations.end()) continue;
      snprintf(hex, sizeof hex, "#\t0x%" PRIx64, it->second.address);
      if (it->second.lines.empty()) out += std::string(hex) + "\t?\n";
      for (const Line& line : it->second.lines) {
        auto f = functions.find(line.function_id);
        std::string_view function = f == functions.end() ? "?" : string_at(f->second.name);
        std::string_view file = f == functions.end() ? "?" : string_at(f->second.filename);
        out += std::string(hex) + "\t" + std::string(function) + "\t" + std::string(file) + ":" +
               std::to_string(line.line) + "\n";
      }
    }
    out += "\n";
  }
  *text = std::move(out);
  return true;
}

}  // namespace ppagent
