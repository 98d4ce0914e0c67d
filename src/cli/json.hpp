// A minimal streaming JSON writer for the CLI's --json output (numbers in
// shortest round-trip form, strings escaped).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace spicenn::cli {

class json_writer {
 public:
  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  json_writer& string(std::string_view s);
  json_writer& number(double x);  // non-finite numbers are written as null
  json_writer& null();
  template <class Range>
  json_writer& numbers(const Range& values) {
    begin_array();
    for (double v : values) number(v);
    return end_array();
  }
  const std::string& str() const { return out_; }

 private:
  void separate();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace spicenn::cli
