/* Loaded and unloaded by test_module_unload.cc: code the walker must unwind
 * through, in an object that comes and goes. */
__attribute__((visibility("default"), noinline)) int walk_plugin_call(int (*callback)(void *),
                                                                       void *arg) {
  volatile int extra = 1;
  int r = callback(arg);
  return r + extra; /* work after the call: not a tail call */
}
