// Code with nested inlined calls and lexical blocks (built -O2 -g), for the
// frames tables' tests: each block below has variables of its own, so the
// compiler describes it with a DW_TAG_lexical_block, and the inlined calls sit
// inside such blocks.
volatile int inline_sink;

static inline __attribute__((always_inline)) int inline_leaf(int x) {
  int scaled = x * 3;
  inline_sink += scaled;
  return scaled ^ (x >> 2);
}

static inline __attribute__((always_inline)) int inline_middle(int x) {
  int total = 0;
  for (int i = 0; i < x; i++) {
    int twice = inline_leaf(i) * 2;
    if (twice & 4) {
      int more = inline_leaf(twice);
      inline_sink += more;
      total += more;
    }
    total += twice;
  }
  return total;
}

__attribute__((noinline)) int inline_outer(int x) {
  int result = inline_middle(x);
  {
    volatile int scratch[4] = {x, x + 1, x + 2, x + 3};
    for (int i = 0; i < 4; i++) {
      int leaf = inline_leaf(scratch[i]);
      result += leaf;
    }
  }
  return result;
}

__attribute__((noinline)) int inline_other(int x) { return inline_middle(x + 1) - inline_leaf(x); }
