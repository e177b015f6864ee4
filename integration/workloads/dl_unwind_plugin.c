/* Plugin that dl_unwind's burner threads run in while other threads dlopen and
 * dlclose it: three frames of its own (unwind_plugin_work -> plugin_middle ->
 * unwind_plugin_burn), each doing work after its call so none is a tail call. */
#include <stdint.h>

static volatile uint64_t plugin_state;

__attribute__((noinline)) uint64_t unwind_plugin_burn(uint64_t n) {
  uint64_t x = plugin_state | 1;
  for (uint64_t i = 0; i < n; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

__attribute__((noinline)) static uint64_t plugin_middle(uint64_t n) {
  uint64_t r = unwind_plugin_burn(n);
  plugin_state += r;
  return r + 1;
}

__attribute__((visibility("default"))) uint64_t unwind_plugin_work(uint64_t n) {
  uint64_t r = plugin_middle(n);
  plugin_state ^= r;
  return r;
}
