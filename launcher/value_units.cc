#include "value_units.h"

#include <math.h>
#include <stdio.h>

#include <cctype>

namespace ppagent::profile {
namespace {

struct Unit {
  const char* canonical;
  const char* aliases[3];
  double factor;  // in the family's base unit
};

struct Family {
  const Unit* units;
  size_t count;
  const char* default_unit;  // canonical name used when the target is foreign
  double default_factor;
};

constexpr Unit kBytes[] = {
    {"B", {"b", "byte"}, 1},
    {"kB", {"kb", "kbyte", "kilobyte"}, 1024.0},
    {"MB", {"mb", "mbyte", "megabyte"}, 1024.0 * 1024},
    {"GB", {"gb", "gbyte", "gigabyte"}, 1024.0 * 1024 * 1024},
    {"TB", {"tb", "tbyte", "terabyte"}, 1024.0 * 1024 * 1024 * 1024},
    {"PB", {"pb", "pbyte", "petabyte"}, 1024.0 * 1024 * 1024 * 1024 * 1024},
};
constexpr Unit kTime[] = {
    {"ns", {"ns", "nanosecond"}, 1},
    {"us", {"μs", "us", "microsecond"}, 1e3},
    {"ms", {"ms", "millisecond"}, 1e6},
    {"s", {"s", "sec", "second"}, 1e9},
    {"hrs", {"hour", "hr"}, 3600e9},
};
constexpr Unit kGcu[] = {
    {"n*GCU", {"nanogcu"}, 1e-9}, {"u*GCU", {"microgcu"}, 1e-6}, {"m*GCU", {"milligcu"}, 1e-3},
    {"GCU", {"gcu"}, 1},          {"k*GCU", {"kilogcu"}, 1e3},   {"M*GCU", {"megagcu"}, 1e6},
    {"G*GCU", {"gigagcu"}, 1e9},  {"T*GCU", {"teragcu"}, 1e12},  {"P*GCU", {"petagcu"}, 1e15},
};
const Family kFamilies[] = {
    {kBytes, sizeof kBytes / sizeof kBytes[0], "B", 1},
    {kTime, sizeof kTime / sizeof kTime[0], "s", 1e9},
    {kGcu, sizeof kGcu / sizeof kGcu[0], "GCU", 1},
};

// Lower-cased, and a plural "s" dropped from names longer than two letters.
const Unit* find_unit(const Family& family, std::string name) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.size() > 2 && name.back() == 's') name.pop_back();
  for (size_t i = 0; i < family.count; ++i)
    for (const char* alias : family.units[i].aliases)
      if (alias && name == alias) return &family.units[i];
  return nullptr;
}

}  // namespace

Scaled scale(int64_t value, const std::string& from_unit, const std::string& to_unit) {
  if (value < 0 && value != INT64_MIN) {
    Scaled positive = scale(-value, from_unit, to_unit);
    positive.value = -positive.value;
    return positive;
  }
  for (const Family& family : kFamilies) {
    const Unit* from = find_unit(family, from_unit);
    if (!from) continue;
    const double base = static_cast<double>(value) * from->factor;
    if (to_unit == "auto" || to_unit == "minimum") {
      double best = 0;
      const char* best_name = nullptr;
      for (size_t i = 0; i < family.count; ++i) {
        const Unit& u = family.units[i];
        if (u.factor >= best && base / u.factor >= 1.0) {
          best = u.factor;
          best_name = u.canonical;
        }
      }
      if (best_name) return {base / best, best_name};
      return {base / family.default_factor, family.default_unit};
    }
    const Unit* to = find_unit(family, to_unit);
    if (!to) return {base / family.default_factor, family.default_unit};
    return {base / to->factor, to->canonical};
  }
  if (to_unit == "count" || to_unit == "sample" || to_unit == "unit" || to_unit == "minimum" ||
      to_unit == "auto")
    return {static_cast<double>(value), ""};
  return {static_cast<double>(value), to_unit};
}

std::string format_value(int64_t value, const std::string& unit, const std::string& to_unit) {
  const Scaled scaled = scale(value, unit, to_unit);
  char text[64];
  snprintf(text, sizeof text, "%.2f", scaled.value);
  std::string number = text;
  if (number.size() >= 3 && number.compare(number.size() - 3, 3, ".00") == 0)
    number.resize(number.size() - 3);
  if (number == "0" || number == "-0") return "0";
  return number + scaled.unit;
}

std::string format_percentage(int64_t value, int64_t total) {
  double ratio = 0;
  if (total != 0) ratio = fabs(static_cast<double>(value) / static_cast<double>(total)) * 100;
  char text[64];
  if (ratio >= 99.95 && ratio <= 100.05) return "  100%";
  if (ratio >= 1.0)
    snprintf(text, sizeof text, "%5.2f%%", ratio);
  else
    snprintf(text, sizeof text, "%5.2g%%", ratio);
  return text;
}

}  // namespace ppagent::profile
