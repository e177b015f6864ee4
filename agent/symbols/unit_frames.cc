#include "symbols/unit_frames.h"

#include <dwarf.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <unordered_map>

#include "symbols/dwarf_scopes.h"

namespace ppagent {

namespace {

using Scope = UnitFrames::Scope;
using Run = UnitFrames::Run;
using Row = UnitFrames::Row;
using Counts = UnitFrames::Counts;
constexpr uint32_t kNone = UnitFrames::kNone;

// The facts of one unit, read in one walk.
class UnitReader {
 public:
  explicit UnitReader(Dwarf_Die* cu) : cu_(cu) { pool_.push_back('\0'); }

  // The scopes below `parent` that the per-address walk could reach, in the
  // order it would meet them (dwarf_frames.cc, append_scopes): a code scope
  // with addresses, and what is under it; what is under a container or an
  // address-less block, as if it were `parent`'s own. False when the unit
  // cannot be represented.
  bool read_scopes(Dwarf_Die* parent, int depth, uint32_t parent_scope);
  void read_rows();
  std::vector<Run> runs() const;
  bool fits() const;
  uint32_t intern(const std::string& s);

  std::vector<Scope> scopes_;
  std::vector<Row> rows_;
  std::string pool_;

 private:
  struct Range {
    uint64_t low, high;
    uint32_t scope;
  };
  Dwarf_Die* cu_;
  std::vector<Range> ranges_;
  std::unordered_map<std::string, uint32_t> interned_;
};

uint32_t UnitReader::intern(const std::string& s) {
  if (s.empty()) return 0;
  auto found = interned_.find(s);
  if (found != interned_.end()) return found->second;
  const uint32_t offset = static_cast<uint32_t>(pool_.size());
  pool_.append(s);
  pool_.push_back('\0');
  interned_.emplace(s, offset);
  return offset;
}

bool UnitReader::read_scopes(Dwarf_Die* parent, int depth, uint32_t parent_scope) {
  if (depth >= kMaxScopeNesting) return true;
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return true;
  do {
    const int tag = dwarf_tag(&child);
    if (is_code_scope(tag)) {
      const uint32_t index = static_cast<uint32_t>(scopes_.size());
      const size_t first_range = ranges_.size();
      Dwarf_Addr base, low, high;
      ptrdiff_t at = 0;
      while ((at = dwarf_ranges(&child, at, &base, &low, &high)) > 0)
        if (low < high) ranges_.push_back({low, high, index});
      if (ranges_.size() > first_range) {
        // A block the walk would enter when it holds the address and look
        // through when it does not: which scope comes next would then not
        // follow from the ranges alone. libdw gives no range to a DIE
        // without the attributes, so this is only for units it reads
        // otherwise one day.
        if (is_addressless_block(&child, tag)) return false;
        Scope scope{parent_scope, tag, 0, 0, 0, 0};
        if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
          scope.name = intern(die_linkage_name(&child));
          scope.decl_line = die_decl_line(&child);
        }
        if (tag == DW_TAG_inlined_subroutine) {
          scope.call_file = intern(call_file(cu_, &child));
          scope.call_line = call_line(&child);
        }
        scopes_.push_back(scope);
        if (!read_scopes(&child, depth + 1, index)) return false;
      } else if (is_addressless_block(&child, tag)) {
        if (!read_scopes(&child, depth + 1, parent_scope)) return false;
      }
    } else if (may_hold_code_scopes(tag) && dwarf_haschildren(&child) > 0) {
      if (!read_scopes(&child, depth + 1, parent_scope)) return false;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return true;
}

void UnitReader::read_rows() {
  Dwarf_Lines* lines;
  size_t count;
  if (dwarf_getsrclines(cu_, &lines, &count) != 0) return;
  std::unordered_map<const char*, uint32_t> files;  // libdw's names are stable per unit
  rows_.reserve(count);
  for (size_t i = 0; i < count; i++) {
    Dwarf_Line* line = dwarf_onesrcline(lines, i);
    Dwarf_Addr address = 0;
    bool end = false;
    if (line == nullptr || dwarf_lineaddr(line, &address) != 0) continue;
    dwarf_lineendsequence(line, &end);
    if (end) {
      rows_.push_back({address, kNone, 0});
      continue;
    }
    uint32_t file = 0;
    if (const char* name = dwarf_linesrc(line, nullptr, nullptr)) {
      auto found = files.find(name);
      if (found == files.end())
        found = files.emplace(name, intern(absolute_source_path(cu_, name))).first;
      file = found->second;
    }
    int number = 0;
    rows_.push_back({address, file, dwarf_lineno(line, &number) == 0 ? number : 0});
  }
}

// Sweeps the ranges' boundaries in address order, keeping for each scope the
// set of its children that hold the current address; the walk's chain is
// then the first of the top level's, the first of that one's, and so on.
std::vector<Run> UnitReader::runs() const {
  struct Edge {
    uint64_t at;
    uint32_t scope;
    bool begins;
  };
  std::vector<Edge> edges;
  edges.reserve(2 * ranges_.size());
  for (const Range& r : ranges_) {
    edges.push_back({r.low, r.scope, true});
    edges.push_back({r.high, r.scope, false});
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) { return a.at < b.at; });
  const uint32_t top = static_cast<uint32_t>(scopes_.size());
  std::vector<uint32_t> holding(scopes_.size(), 0);  // ranges of the scope holding the address
  std::vector<std::set<uint32_t>> children(scopes_.size() + 1);
  std::vector<Run> out;
  for (size_t i = 0; i < edges.size();) {
    const uint64_t at = edges[i].at;
    for (; i < edges.size() && edges[i].at == at; i++) {
      const uint32_t s = edges[i].scope;
      const uint32_t parent = scopes_[s].parent == kNone ? top : scopes_[s].parent;
      if (edges[i].begins) {
        if (holding[s]++ == 0) children[parent].insert(s);
      } else if (--holding[s] == 0) {
        children[parent].erase(s);
      }
    }
    uint32_t innermost = kNone;
    for (uint32_t at_scope = top; !children[at_scope].empty();)
      innermost = at_scope = *children[at_scope].begin();
    if (out.empty() ? innermost != kNone : out.back().innermost != innermost)
      out.push_back({at, innermost, 0});
  }
  return out;
}

bool UnitReader::fits() const {
  return scopes_.size() < kNone && ranges_.size() < kNone / 2 && rows_.size() < kNone &&
         pool_.size() < kNone;
}

}  // namespace

std::unique_ptr<UnitFrames> UnitFrames::build(Dwarf_Die* cu, bool with_lines) {
  UnitReader reader(cu);
  if (!reader.read_scopes(cu, 0, kNone)) return nullptr;
  if (with_lines) reader.read_rows();
  if (!reader.fits()) return nullptr;
  const std::vector<Run> runs = reader.runs();
  Counts counts{static_cast<uint32_t>(reader.scopes_.size()), static_cast<uint32_t>(runs.size()),
                static_cast<uint32_t>(reader.rows_.size()),
                static_cast<uint32_t>(reader.pool_.size())};
  const uint64_t size = sizeof counts + counts.scopes * sizeof(Scope) + counts.runs * sizeof(Run) +
                        counts.rows * sizeof(Row) + counts.string_bytes;
  std::unique_ptr<UnitFrames> table(new UnitFrames);
  table->built_.assign((size + 7) / 8, 0);
  auto* bytes = reinterpret_cast<uint8_t*>(table->built_.data());
  uint64_t at = 0;
  auto put = [&](const void* data, size_t n) {
    if (n > 0) memcpy(bytes + at, data, n);
    at += n;
  };
  put(&counts, sizeof counts);
  put(reader.scopes_.data(), counts.scopes * sizeof(Scope));
  put(runs.data(), counts.runs * sizeof(Run));
  put(reader.rows_.data(), counts.rows * sizeof(Row));
  put(reader.pool_.data(), counts.string_bytes);
  if (!table->attach(bytes, size)) return nullptr;
  return table;
}

std::unique_ptr<UnitFrames> UnitFrames::from_bytes(const uint8_t* data, uint64_t size,
                                                   std::function<void()> release) {
  std::unique_ptr<UnitFrames> table(new UnitFrames);
  table->release_ = std::move(release);
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0 || !table->attach(data, size)) return nullptr;
  return table;
}

UnitFrames::~UnitFrames() {
  if (release_) release_();
}

bool UnitFrames::attach(const uint8_t* data, uint64_t size) {
  if (size < sizeof(Counts)) return false;
  Counts c;
  memcpy(&c, data, sizeof c);
  // 32-bit counts: none of these products or sums can overflow.
  const uint64_t scopes_at = sizeof c, runs_at = scopes_at + uint64_t{c.scopes} * sizeof(Scope),
                 rows_at = runs_at + uint64_t{c.runs} * sizeof(Run),
                 strings_at = rows_at + uint64_t{c.rows} * sizeof(Row);
  if (size != strings_at + c.string_bytes || c.string_bytes == 0 ||
      data[size - 1] != '\0')  // every string ends inside the pool
    return false;
  const auto* scopes = reinterpret_cast<const Scope*>(data + scopes_at);
  const auto* runs = reinterpret_cast<const Run*>(data + runs_at);
  const auto* rows = reinterpret_cast<const Row*>(data + rows_at);
  for (uint32_t i = 0; i < c.scopes; i++) {
    const Scope& s = scopes[i];
    if ((s.parent != kNone && s.parent >= i) || s.name >= c.string_bytes ||
        s.call_file >= c.string_bytes)
      return false;
  }
  for (uint32_t i = 0; i < c.runs; i++) {
    if ((runs[i].innermost != kNone && runs[i].innermost >= c.scopes) ||
        (i > 0 && runs[i].start <= runs[i - 1].start))
      return false;
  }
  for (uint32_t i = 0; i < c.rows; i++) {
    if ((rows[i].file != kNone && rows[i].file >= c.string_bytes) ||
        (i > 0 && rows[i].address < rows[i - 1].address))
      return false;
  }
  data_ = data;
  size_ = size;
  counts_ = c;
  scopes_ = scopes;
  runs_ = runs;
  rows_ = rows;
  strings_ = reinterpret_cast<const char*>(data + strings_at);
  return true;
}

// What dwarf_getsrc_die finds: the last row at or below `address`, unless
// that row ends a sequence.
bool UnitFrames::line_at(uint64_t address, std::string_view* file, int64_t* line) const {
  if (counts_.rows == 0) return false;
  size_t low = 0, high = counts_.rows - 1;
  while (low < high) {
    const size_t middle = high - (high - low) / 2;
    if (address < rows_[middle].address) high = middle - 1;
    else low = middle;
  }
  const Row& row = rows_[low];
  if (row.address > address || row.file == kNone) return false;
  *file = string(row.file);
  *line = row.line;
  return true;
}

bool UnitFrames::frames(uint64_t address, std::string_view symbol,
                        std::vector<SourceFrame>* out) const {
  std::string_view file;
  int64_t line = 0;
  line_at(address, &file, &line);
  const Run* after = std::upper_bound(runs_, runs_ + counts_.runs, address,
                                      [](uint64_t a, const Run& r) { return a < r.start; });
  std::vector<CodeScope> chain;
  // Parents come before their children (checked): the walk up ends.
  for (uint32_t s = after == runs_ ? kNone : (after - 1)->innermost; s != kNone;
       s = scopes_[s].parent) {
    const Scope& scope = scopes_[s];
    chain.push_back({scope.tag, string(scope.name), scope.decl_line, string(scope.call_file),
                     scope.call_line});
  }
  return frames_from_scopes(chain, file, line, symbol, out);
}

}  // namespace ppagent
