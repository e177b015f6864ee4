#include "base/program_name.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

namespace {
// NAME_MAX bytes and a terminator: a basename cannot be longer.
char g_program_name[NAME_MAX + 1];
}  // namespace

void remember_program_name() {
  const char* name = program_invocation_short_name;
  if (name == nullptr) name = "";
  strncpy(g_program_name, name, sizeof g_program_name - 1);
  g_program_name[sizeof g_program_name - 1] = '\0';
}

const char* program_name() { return g_program_name; }
