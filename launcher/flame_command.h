// `ppagent flame`: writes a profile's flame graph as one self-contained HTML page.
#pragma once

namespace ppagent {

// argv[1] is "flame". Returns the exit status: 0 written, 1 the profile cannot be
// read or the page cannot be written, 2 usage error.
int flame_command(int argc, char** argv);

}  // namespace ppagent
