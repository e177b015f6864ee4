// Template-heavy on purpose: each Node<N> instantiates its own map, variant,
// std::function, sort and tuple machinery, so `clang++ -std=c++17 -O1 -c`
// works for about 3-4 s. Compiled by bench/run_real_bench.py and by
// integration/test_real_world.py (clang++ and g++); never linked or run.
#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>
template <int N> struct Key { std::array<char, N % 13 + 1> a{}; bool operator<(const Key &o) const { return a < o.a; } };
template <int N> struct Node {
  std::map<Key<N>, std::vector<std::variant<int, double, std::string, Key<N>>>> m;
  std::function<int(int)> f = [](int x) { return x * 3 + N; };
  std::tuple<std::integral_constant<int, N>, std::vector<Key<N>>, std::string> t;
  int run(int x) {
    std::vector<Key<N>> v(N % 7 + 1);
    std::sort(v.begin(), v.end());
    m[v[0]].emplace_back(std::to_string(x));
    std::visit([&](auto &&e) { x += sizeof(e); }, m[v[0]].back());
    return f(x) + static_cast<int>(m.size() + std::get<1>(t).size());
  }
};
template <int... Is> int run_all(std::integer_sequence<int, Is...>) { int s = 0; ((s += Node<Is>{}.run(s)), ...); return s; }
int main() { return run_all(std::make_integer_sequence<int, 9>{}) & 1; }
