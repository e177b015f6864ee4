/* Plugin that dl_storm dlopens and dlcloses in a loop. It is loaded by nothing
 * else, so each last dlclose really unmaps it. */
#include <stdint.h>

static volatile uint64_t plugin_state;

__attribute__((constructor)) static void storm_plugin_init(void) { plugin_state++; }

__attribute__((visibility("default"))) uint64_t storm_plugin_work(int n) {
  uint64_t x = plugin_state | 1;
  for (int i = 0; i < n; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
  plugin_state = x;
  return x;
}
