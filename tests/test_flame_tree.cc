// FlameTree: stacks merged by function into a preorder tree, and the JSON the
// flame-graph page reads; gzip_base64: what the page's DecompressionStream inflates.

#include <zlib.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flame_tree.h"
#include "gzip_base64.h"

namespace ppagent {
namespace {

// The JSON array that follows `"key":` (numbers only, no nesting).
std::string array_after(const std::string& json, const std::string& key) {
  const size_t start = json.find("\"" + key + "\":[");
  if (start == std::string::npos) return "(no " + key + ")";
  const size_t open = json.find('[', start);
  return json.substr(open, json.find(']', open) - open + 1);
}

FlameTree two_type_tree() { return FlameTree({{"samples", "count"}, {"cpu", "nanoseconds"}}, 1); }

struct TestFrame {
  const char* function;
  const char* file;
  int64_t line;
  bool inlined = false;
};

void add(FlameTree* tree, const std::vector<TestFrame>& leaf_first,
         const std::vector<int64_t>& values) {
  std::vector<FlameStep> steps;
  // Interned from the root, as a reader that meets callers first would.
  for (auto frame = leaf_first.rbegin(); frame != leaf_first.rend(); ++frame)
    steps.insert(steps.begin(),
                 FlameStep{tree->frame_id({frame->function, frame->file, frame->inlined}), frame->line});
  tree->add(steps, values);
}

TEST(FlameTree, MergesCommonCallersAndSortsChildrenByName) {
  FlameTree tree = two_type_tree();
  // Leaf first, as profiles list them.
  add(&tree, {{"zeta", "z.c", 3}, {"main", "m.c", 10}}, {1, 10});
  add(&tree, {{"alpha", "a.c", 7}, {"main", "m.c", 11}}, {2, 20});
  add(&tree, {{"zeta", "z.c", 3}, {"main", "m.c", 10}}, {3, 30});
  EXPECT_EQ(tree.node_count(), 4u);  // root, main, alpha, zeta
  const std::string json = tree.json("t", "s", 1);
  EXPECT_EQ(array_after(json, "depth"), "[0,1,2,2]");
  // Frames are numbered as first seen from the root: main 0, zeta 1, alpha 2;
  // alpha sorts first.
  EXPECT_EQ(array_after(json, "frame"), "[-1,0,2,1]");
  EXPECT_NE(json.find("\"self\":[[0,0,2,4],[0,0,20,40]]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"default\":1"), std::string::npos) << json;
}

TEST(FlameTree, KeepsTheHeaviestLineAndSaysThereWereOthers) {
  FlameTree tree = two_type_tree();
  add(&tree, {{"work", "w.c", 5}}, {9, 10});
  add(&tree, {{"work", "w.c", 8}}, {1, 90});  // heavier in the line type (cpu)
  add(&tree, {{"other", "o.c", 2}}, {1, 1});
  const std::string json = tree.json("t", "s", 1);
  EXPECT_EQ(array_after(json, "line"), "[0,2,8]");  // root, other, work
  EXPECT_EQ(array_after(json, "several_lines"), "[2]");
}

TEST(FlameTree, AnInlinedFrameIsNotItsOutOfLineNamesake) {
  FlameTree tree = two_type_tree();
  add(&tree, {{"helper", "h.h", 1, /*inlined=*/true}, {"main", "m.c", 2}}, {1, 1});
  add(&tree, {{"helper", "h.h", 1, /*inlined=*/false}, {"main", "m.c", 2}}, {1, 1});
  EXPECT_EQ(tree.node_count(), 4u);
  const std::string json = tree.json("t", "s", 0);
  // Strings: main 0, m.c 1, helper 2, h.h 3. Frames: main, helper inlined,
  // helper; the out-of-line one sorts first.
  EXPECT_NE(json.find("\"frames\":[0,1,0,2,3,1,2,3,0]"), std::string::npos) << json;
  EXPECT_EQ(array_after(json, "frame"), "[-1,0,2,1]");
}

TEST(FlameTree, SamplesWithoutValueAddNothing) {
  FlameTree tree = two_type_tree();
  add(&tree, {{"idle", "i.c", 1}}, {0, 0});
  EXPECT_EQ(tree.node_count(), 1u);
}

TEST(FlameTree, EscapesStringsForJson) {
  FlameTree tree({{"samples", "count"}}, 0);
  add(&tree, {{"operator\"<\\>\n", "f.c", 1}}, {1});
  const std::string json = tree.json("a\tb", "", 0);
  EXPECT_NE(json.find(R"("operator\"<\\>\u000a")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("title":"a\u0009b")"), std::string::npos) << json;
}

std::string gunzip_base64(const std::string& text) {
  std::string bytes;
  uint32_t group = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    group = (group << 6) | static_cast<uint32_t>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((group >> bits) & 0xff);
    }
  }
  z_stream stream = {};
  EXPECT_EQ(inflateInit2(&stream, 15 + 16), Z_OK);  // gzip only
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(bytes.data());
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return out;
}

TEST(GzipBase64, RoundTripsEveryLengthModuloThree) {
  for (const std::string text : {"", "a", "ab", "abc", "{\"x\":[1,2,3]} and some more text"}) {
    const std::string packed = gzip_base64(text);
    ASSERT_FALSE(packed.empty());
    EXPECT_EQ(packed.size() % 4, 0u);
    EXPECT_EQ(packed.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
              std::string::npos);
    EXPECT_EQ(gunzip_base64(packed), text);
  }
}

}  // namespace
}  // namespace ppagent
