// A profile's bytes read by the launcher's reader, for tests that build the
// bytes with the agent's ProfileBuilder; a failure to read fails the test.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "profile_reader.h"

namespace ppagent::profile {

inline Profile parse(const std::string& bytes) {
  Profile p;
  std::string error;
  EXPECT_TRUE(parse_profile(bytes, &p, &error)) << error;
  return p;
}

}  // namespace ppagent::profile
