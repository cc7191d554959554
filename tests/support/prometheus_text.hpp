// A strict reader of the Prometheus text exposition format 0.0.4, for tests: it checks the
// syntax (names, labels, escapes, values, HELP/TYPE lines once per family and before its
// samples, no duplicate series) and the histogram rules (cumulative buckets ending in +Inf equal
// to _count, _sum present), and gives the samples back for assertions. Debian's `promtool`
// comes with the 96 MB prometheus package, too big for CI: this is what validates /metrics.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace coredb::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromParse {
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family → counter/gauge/histogram/…
  std::vector<std::string> problems;         // empty: valid

  // The value of the one sample with this name and (a subset of) these labels; nullopt if none.
  std::optional<double> Value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    std::optional<double> found;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        match = match && it != s.labels.end() && it->second == v;
      }
      if (match) found = found.value_or(0) + s.value;  // summed over the other labels
    }
    return found;
  }
};

namespace prom_detail {

inline bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
inline bool IsNameChar(char c) { return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

inline std::string Family(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view sv(suffix);
    if (name.size() > sv.size() && name.compare(name.size() - sv.size(), sv.size(), sv) == 0) {
      std::string base = name.substr(0, name.size() - sv.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

inline std::optional<double> ParseValue(std::string_view text) {
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return std::nan("");
  if (text.empty()) return std::nullopt;
  std::string copy(text);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

}  // namespace prom_detail

inline PromParse ParsePrometheusText(std::string_view text) {
  using namespace prom_detail;
  PromParse out;
  std::set<std::string> helped, seen_series, families_with_samples;
  std::size_t line_no = 0;
  auto problem = [&](const std::string& what) { out.problems.push_back("line " + std::to_string(line_no) + ": " + what); };
  if (!text.empty() && text.back() != '\n') out.problems.push_back("the exposition does not end with a newline");
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        const bool is_type = line[2] == 'T';
        std::string_view rest = line.substr(7);
        const auto sp = rest.find(' ');
        std::string name(rest.substr(0, sp));
        if (name.empty() || !IsNameStart(name[0])) problem("bad metric name in a comment");
        if (is_type) {
          std::string type(sp == std::string_view::npos ? "" : rest.substr(sp + 1));
          static const std::set<std::string> kTypes{"counter", "gauge", "histogram", "summary", "untyped"};
          if (!kTypes.count(type)) problem("unknown type \"" + type + "\"");
          if (out.types.count(name)) problem("second TYPE line for " + name);
          if (families_with_samples.count(name)) problem("TYPE of " + name + " after its samples");
          out.types[name] = type;
        } else {
          if (!helped.insert(name).second) problem("second HELP line for " + name);
        }
      }
      continue;
    }
    PromSample s;
    std::size_t i = 0;
    if (!IsNameStart(line[0])) {
      problem("bad metric name");
      continue;
    }
    while (i < line.size() && IsNameChar(line[i])) ++i;
    s.name = std::string(line.substr(0, i));
    std::string series = s.name + "{";
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool ok = true;
      while (ok && i < line.size() && line[i] != '}') {
        std::size_t start = i;
        if (!IsNameStart(line[i])) ok = false;
        while (ok && i < line.size() && IsNameChar(line[i])) ++i;
        std::string label(line.substr(start, i - start));
        if (!ok || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          ok = false;
          break;
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) break;
            const char e = line[i + 1];
            if (e == '\\') value += '\\';
            else if (e == '"') value += '"';
            else if (e == 'n') value += '\n';
            else ok = false;
            i += 2;
          } else {
            value += line[i++];
          }
        }
        if (i >= line.size()) {
          ok = false;
          break;
        }
        ++i;  // closing quote
        if (s.labels.count(label)) ok = false;
        s.labels[label] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size()) {
        problem("malformed labels: " + std::string(line));
        continue;
      }
      ++i;  // '}'
    }
    for (const auto& [k, v] : s.labels) series += k + "=" + v + ",";
    if (i >= line.size() || line[i] != ' ') {
      problem("no value: " + std::string(line));
      continue;
    }
    std::string_view rest = line.substr(i + 1);
    const auto sp = rest.find(' ');  // an optional timestamp follows
    auto value = ParseValue(rest.substr(0, sp));
    if (!value) {
      problem("bad value: " + std::string(line));
      continue;
    }
    s.value = *value;
    if (!seen_series.insert(series).second) problem("duplicate series " + series + "}");
    const std::string family = Family(s.name, out.types);
    families_with_samples.insert(family);
    if (!out.types.count(family)) problem("sample of " + s.name + " without a TYPE line");
    auto type = out.types.find(family);
    if (type != out.types.end() && type->second == "counter" && s.value < 0) problem("negative counter " + s.name);
    out.samples.push_back(std::move(s));
  }
  // Histograms: per label set, buckets cumulative, +Inf present and equal to _count, _sum present.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets;
    std::map<std::string, double> counts;
    std::set<std::string> sums;
    for (const auto& s : out.samples) {
      std::string key;
      for (const auto& [k, v] : s.labels) {
        if (k != "le") key += k + "=" + v + ",";
      }
      if (s.name == family + "_bucket") {
        auto le = s.labels.find("le");
        if (le == s.labels.end()) {
          out.problems.push_back(family + ": bucket without le");
          continue;
        }
        auto bound = ParseValue(le->second);
        if (!bound) out.problems.push_back(family + ": bad le " + le->second);
        else buckets[key].emplace_back(*bound, s.value);
      } else if (s.name == family + "_count") {
        counts[key] = s.value;
      } else if (s.name == family + "_sum") {
        sums.insert(key);
      }
    }
    for (auto& [key, list] : buckets) {
      for (std::size_t k = 1; k < list.size(); ++k) {
        if (!(list[k].first > list[k - 1].first)) out.problems.push_back(family + "{" + key + "}: le not increasing");
        if (list[k].second < list[k - 1].second) out.problems.push_back(family + "{" + key + "}: buckets not cumulative");
      }
      if (list.empty() || !std::isinf(list.back().first)) out.problems.push_back(family + "{" + key + "}: no +Inf bucket");
      else if (!counts.count(key) || counts[key] != list.back().second)
        out.problems.push_back(family + "{" + key + "}: +Inf bucket differs from _count");
      if (!sums.count(key)) out.problems.push_back(family + "{" + key + "}: no _sum");
    }
  }
  return out;
}

}  // namespace coredb::testing
