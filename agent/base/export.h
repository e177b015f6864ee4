// The agent's one way to export a definition from its libraries, which
// otherwise hide everything (-fvisibility=hidden; exports.map lists the
// names libppagent.so exports).
#pragma once

#define PPAGENT_EXPORT extern "C" __attribute__((visibility("default")))

// After PPAGENT_EXPORT: the definition is one version of a versioned symbol,
// "name@@VERSION" for the one new links bind to, "name@VERSION" for an older
// one.
#define PPAGENT_VERSION(versioned_name) __attribute__((symver(versioned_name)))
