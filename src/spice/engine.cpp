#include "spice/engine.hpp"
#include "core/text.hpp"

#include <locale.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <ngspice/sharedspice.h>

#include "core/numbers.hpp"
#include "spice/diagnose.hpp"
#include "spice/ngspice_library.hpp"
#include "spice/worker_engine.hpp"

#ifndef SPICENN_NGSPICE_LIBRARY_DEFAULT
#define SPICENN_NGSPICE_LIBRARY_DEFAULT "libngspice.so.0"
#endif

namespace spicenn::spice {

namespace {

// ngspice's vector type codes (ngspice/sim.h: enum simulation_types).
constexpr int sv_voltage = 3;

std::string first_word(std::string_view text) {
  text = trim(text);
  return to_lower(text.substr(0, text.find_first_of(" \t")));
}

// Names that go into commands must be one word with no characters that the
// ngspice command parser would interpret.
std::string checked_name(std::string_view what, std::string_view name) {
  std::string n = to_lower(trim(name));
  bool ok = !n.empty();
  for (char c : n) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)) ||
        std::strchr(";=(){}\"'`\\<>|&$", c) != nullptr)
      ok = false;
  }
  if (!ok) throw command_error(std::string(what), fmt::format("invalid {} name '{}'", what, name), {});
  return n;
}

std::string number(std::string_view what, double value) {
  if (!std::isfinite(value))
    throw command_error(std::string(what), fmt::format("{}: value {} is not finite", what, value), {});
  return format_double(value);
}

// Runs the enclosing scope under the "C" locale, for this thread only.
class c_locale_scope {
 public:
  c_locale_scope() : previous_(uselocale(c_locale())) {}
  ~c_locale_scope() { uselocale(previous_); }
  c_locale_scope(const c_locale_scope&) = delete;
  c_locale_scope& operator=(const c_locale_scope&) = delete;

 private:
  static locale_t c_locale() {
    // Created once, never freed: the process may use it until exit.
    static const locale_t loc = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
    return loc;  // (locale_t)0 if newlocale failed: uselocale(0) changes nothing
  }
  locale_t previous_;
};

std::atomic<int> next_engine_id{1};

constexpr std::array<std::string_view, 12> analysis_words = {"op", "dc",    "ac",    "tran", "sens", "tf",
                                                             "noise", "pz", "run", "disto", "pss", "sp"};

bool is_analysis(std::string_view word) {
  return std::find(analysis_words.begin(), analysis_words.end(), word) != analysis_words.end();
}

// Commands that would break the engine's bookkeeping or start threads.
bool is_refused(std::string_view word) {
  return word.rfind("bg_", 0) == 0 || word == "quit" || word == "exit" || word == "remcirc" ||
         word == "source" || word == "circbyline";
}

}  // namespace

std::string default_library_path() { return SPICENN_NGSPICE_LIBRARY_DEFAULT; }

bool is_analysis_command(std::string_view text) { return is_analysis(first_word(text)); }

// ---------------------------------------------------------------------------

class engine::impl {
 public:
  explicit impl(engine_options options) : options_(std::move(options)), id_(next_engine_id++) {
    if (options_.library_path.empty()) {
      const char* env = std::getenv("SPICENN_NGSPICE_LIBRARY");
      options_.library_path = (env && *env) ? env : default_library_path();
    }
    start();
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  // `quit` before dlclose frees ngspice's heap (~135 kB per engine otherwise).
  ~impl() {
    if (!library_) return;
    try {
      free_circuit();
    } catch (...) {  // a fatal error here already reloaded the library; quit that one
    }
    if (!library_) return;
    begin_call();
    {
      c_locale_scope c;
      ngspice_allocations_untracked untracked;
      library_->command(const_cast<char*>("quit"));
    }
    library_.reset();  // dlclose
  }

  // --- ngspice callbacks (called synchronously from inside library calls) ---
  static int on_char(char* text, int, void* self) {
    static_cast<impl*>(self)->record(text);
    return 0;
  }
  static int on_stat(char*, int, void*) { return 0; }
  static int on_exit(int status, NG_BOOL, NG_BOOL quit, int, void* self) {
    auto* me = static_cast<impl*>(self);
    me->exit_requested_ = true;
    me->exit_status_ = status;
    me->exit_on_quit_ = quit;
    return 0;
  }
  static int on_bg_thread(NG_BOOL, int, void*) { return 0; }

  void record(const char* text) {
    std::string_view t = text ? text : "";
    bool is_stderr = false;
    if (t.rfind("stderr ", 0) == 0) {
      is_stderr = true;
      t.remove_prefix(7);
    } else if (t.rfind("stdout ", 0) == 0) {
      t.remove_prefix(7);
    }
    if (logging_) {
      last_output_ += is_stderr ? "stderr " : "stdout ";
      last_output_.append(t);
      last_output_ += '\n';
    }
    // A callback string may hold several lines.
    std::size_t start = 0;
    while (true) {
      auto end = t.find('\n', start);
      output_.push_back({is_stderr, std::string(t.substr(start, end == std::string_view::npos ? end : end - start))});
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
  }

  // --- lifecycle ---
  void start() {
    library_ = std::make_unique<ngspice_library>();
    library_->open(options_.library_path);
    begin_call();
    {
      c_locale_scope c;
      ngspice_allocations_untracked untracked;
      library_->init(&on_char, &on_stat, &on_exit, nullptr, nullptr, &on_bg_thread, this);
      int ident = id_;
      library_->init_sync(nullptr, nullptr, nullptr, &ident, this);
    }
    if (exit_requested_) {
      library_.reset();
      throw engine_fatal_error("start", "ngspice exited during initialisation", relevant_messages(output_));
    }
    loaded_ = false;
    circuit_present_ = false;
    for (const auto& cm : library_->codemodels()) {
      std::string cmd = "codemodel " + cm;
      begin_call();
      int rc = raw_command(cmd);
      if (const auto said = relevant_messages(output_); rc != 0 || exit_requested_ || !said.empty()) {
        library_.reset();
        throw engine_fatal_error("start", fmt::format("ngspice could not load the code model '{}'", cm), said);
      }
    }
    library_->remove_files();
  }

  // After ControlledExit: unload this copy, load a fresh one, then throw.
  [[noreturn]] void restart_and_throw(std::string_view command, const std::vector<std::string>* deck) {
    auto output = output_;
    loaded_ = false;
    circuit_present_ = false;
    alters_.clear();
    needs_reset_ = false;
    library_.reset();
    ++restarts_;
    std::string extra = "ngspice was reloaded, load the circuit again";
    try {
      start();
    } catch (const spice_error& e) {
      extra = fmt::format("reloading ngspice failed too: {}", e.what());
    }
    last_output_.clear();
    for (const auto& l : output) last_output_ += (l.is_stderr ? "stderr " : "stdout ") + l.text + '\n';
    throw_fatal(command, output, deck, extra);
  }

  void ensure_started() {
    if (!library_) start();
  }

  // Before every call into ngspice. Vector reads (log = false) keep the
  // text of the last command in last_output_.
  void begin_call(bool log = true) {
    output_.clear();
    logging_ = log;
    if (log) last_output_.clear();
    exit_requested_ = false;
  }

  // ngSpice_Command under the C locale; returns its result (1: fatal error).
  int raw_command(const std::string& text) {
    c_locale_scope c;
    ngspice_allocations_untracked untracked;
    int rc = library_->command(const_cast<char*>(text.c_str()));
    // ngSpice_Command(NULL) frees the control structures ngspice keeps for
    // every command it ran (~150 bytes each, never freed otherwise).
    if (!exit_requested_ && rc == 0) library_->command(nullptr);
    return rc;
  }

  // Sends one command; handles fatal exits. Returns without checking the text.
  void send(const std::string& text) {
    ensure_started();
    begin_call();
    if (raw_command(text) != 0 || exit_requested_) restart_and_throw(text, nullptr);
  }

  void run_checked(const std::string& text, command_kind kind) {
    send(text);
    check_command_output(text, kind, output_);
  }

  // Frees all plots and the circuit; ngspice's complaints are irrelevant here.
  void free_circuit() {
    if (!library_ || !circuit_present_) return;
    send("destroy all");
    send("remcirc");
    circuit_present_ = false;
    loaded_ = false;
  }

  void require_loaded(std::string_view what) const {
    if (!loaded_)
      throw command_error(std::string(what),
                          fmt::format("cannot run '{}': no circuit is loaded (load() failed or was not called)", what),
                          {});
  }

  // --- deck ---
  void load(std::string_view netlist) {
    ensure_started();
    free_circuit();
    alters_.clear();
    needs_reset_ = false;
    last_analysis_.clear();

    deck_.clear();
    std::size_t start = 0;
    while (start <= netlist.size()) {
      auto end = netlist.find('\n', start);
      if (end == std::string_view::npos) end = netlist.size();
      std::string line(netlist.substr(start, end - start));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      deck_.push_back(std::move(line));
      start = end + 1;
    }
    while (deck_.size() > 1 && trim(deck_.back()).empty()) deck_.pop_back();
    bool has_end = false;
    for (std::size_t i = 1; i < deck_.size(); ++i) {
      std::string word = first_word(deck_[i]);
      if (word == ".end") has_end = true;
      if (word == ".control" && !options_.allow_control_blocks)
        throw netlist_error(
            fmt::format("netlist line {} starts a .control block, which can run arbitrary commands; refused "
                        "(engine_options::allow_control_blocks)",
                        i + 1),
            {}, i + 1, deck_[i]);
    }
    if (!has_end) deck_.push_back(".end");

    std::vector<char*> lines;
    lines.reserve(deck_.size() + 1);
    for (auto& l : deck_) lines.push_back(l.data());
    lines.push_back(nullptr);

    begin_call();
    int rc;
    {
      c_locale_scope c;
      ngspice_allocations_untracked untracked;
      rc = library_->circ(lines.data());
    }
    if (exit_requested_ || rc != 0) restart_and_throw("load", &deck_);
    circuit_present_ = true;
    check_load_output(output_, deck_);
    loaded_ = true;
  }

  // --- commands ---
  void command(std::string_view text) {
    std::string cmd(trim(text));
    std::string word = first_word(cmd);
    if (word.empty()) return;
    if (is_refused(word))
      throw command_error(cmd,
                          fmt::format("'{}' is not allowed through engine::command (it would break the engine's "
                                      "state; use load() or destroy the engine)",
                                      word),
                          {});
    if (is_analysis(word)) {
      analysis(cmd, word);
      return;
    }
    run_checked(cmd, command_kind::other);
    if (word == "reset") {
      alters_.clear();  // ngspice's reset re-parses the deck: alters are undone
      needs_reset_ = false;
    }
  }

  void analysis(const std::string& cmd, const std::string& word) {
    ensure_started();
    require_loaded(cmd);
    if (needs_reset_) {
      run_checked("reset", command_kind::other);
      needs_reset_ = false;
      for (const auto& [key, alter_cmd] : alters_) run_checked(alter_cmd, command_kind::other);
    }
    send("destroy all");  // frees earlier plots: vectors are read from the newest one only
    run_checked(cmd, command_kind::analysis);
    if (word == "sens") needs_reset_ = true;
    last_analysis_ = cmd;
    if (options_.voltage_bound && (word == "op" || word == "dc" || word == "tran"))
      check_node_voltages(*options_.voltage_bound, cmd);
  }

  void alter(const std::string& key, const std::string& cmd) {
    ensure_started();
    require_loaded(cmd);
    run_checked(cmd, command_kind::other);
    // Keep the order of the last writes: `alter v1 = 3` then `alter v1 dc = 4` must replay that way.
    std::erase_if(alters_, [&](const auto& entry) { return entry.first == key; });
    alters_.emplace_back(key, cmd);
  }

  // --- vectors ---
  std::string current_plot() {
    ensure_started();
    begin_call(false);
    c_locale_scope c;
    ngspice_allocations_untracked untracked;
    const char* p = library_->cur_plot();
    return p ? p : "";
  }

  std::vector<std::string> vector_names() {
    ensure_started();
    std::string plot = current_plot();
    std::vector<std::string> names;
    c_locale_scope c;
    char** v;
    {
      ngspice_allocations_untracked untracked;
      v = library_->all_vecs(plot.data());
    }
    for (; v && *v; ++v) names.emplace_back(*v);
    return names;
  }

  // The vector's data, copied before anything else can touch ngspice.
  struct vector_copy {
    std::string name;
    int type = 0;
    std::vector<double> real;
    std::vector<std::complex<double>> complex;
    bool is_complex = false;
  };

  std::optional<vector_copy> find_vector(std::string_view name) {
    ensure_started();
    std::string n = to_lower(trim(name));
    begin_call(false);
    vector_copy out;
    {
      c_locale_scope c;
      pvector_info info;
      {
        ngspice_allocations_untracked untracked;
        info = library_->vec_info(n.data());
      }
      if (!info) return std::nullopt;
      out.name = info->v_name ? info->v_name : n;
      out.type = info->v_type;
      const int len = std::max(info->v_length, 0);
      if (info->v_compdata) {
        out.is_complex = true;
        out.complex.reserve(static_cast<std::size_t>(len));
        for (int i = 0; i < len; ++i) out.complex.emplace_back(info->v_compdata[i].cx_real, info->v_compdata[i].cx_imag);
      } else if (info->v_realdata) {
        out.real.assign(info->v_realdata, info->v_realdata + len);
      }
    }
    return out;
  }

  vector_copy get_vector(std::string_view name) {
    auto v = find_vector(name);
    if (!v) {
      std::string said = relevant_messages(output_);
      std::vector<std::string> names = vector_names();
      std::string list;
      for (std::size_t i = 0; i < names.size() && i < 30; ++i) list += (i ? ", " : "") + names[i];
      if (names.size() > 30) list += ", ...";
      throw vector_error(std::string(name),
                         fmt::format("no vector '{}' in plot '{}' (it has: {})", name, current_plot(),
                                     list.empty() ? "nothing" : list),
                         said);
    }
    return std::move(*v);
  }

  void check_node_voltages(double bound, const std::string& context, const std::vector<std::string>& ignore = {}) {
    std::vector<std::string> skip;
    for (const auto& n : ignore) skip.push_back(to_lower(trim(n)));
    for (const auto& name : vector_names()) {
      if (name.size() > 6 && name.compare(name.size() - 6, 6, "-sweep") == 0) continue;
      if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
      auto v = find_vector(name);
      if (!v || v->type != sv_voltage || v->is_complex) continue;
      for (std::size_t i = 0; i < v->real.size(); ++i) {
        double x = v->real[i];
        if (std::isfinite(x) && std::abs(x) <= bound) continue;
        std::string at = v->real.size() > 1 ? fmt::format(" at point {} of {}", i, v->real.size()) : "";
        throw convergence_error(
            context,
            fmt::format("implausible solution of '{}': node '{}' is at {} V{}, beyond the plausibility bound of "
                        "{} V; ngspice reported convergence, but the circuit probably has no valid operating "
                        "point (e.g. a current source into a node that cannot sink it)",
                        context, name, format_double(x), at, format_double(bound)),
            {}, name);
      }
    }
  }

  engine_options options_;
  int id_;
  std::unique_ptr<ngspice_library> library_;
  std::vector<output_line> output_;
  std::string last_output_;
  bool logging_ = true;
  bool exit_requested_ = false;
  int exit_status_ = 0;
  bool exit_on_quit_ = false;
  bool loaded_ = false;
  bool circuit_present_ = false;
  bool needs_reset_ = false;
  std::size_t restarts_ = 0;
  std::vector<std::string> deck_;
  std::string last_analysis_;
  // (device[ param], alter command) in order of application, re-applied after reset.
  std::vector<std::pair<std::string, std::string>> alters_;
};

// ---------------------------------------------------------------------------

engine::engine(engine_options options) {
  if (options.where == engine_options::isolation::worker_process)
    worker_ = std::make_unique<worker_engine>(options, next_engine_id++);
  else
    impl_ = std::make_unique<impl>(std::move(options));
}
engine::~engine() = default;
engine::engine(engine&&) noexcept = default;
engine& engine::operator=(engine&&) noexcept = default;

void engine::load(std::string_view netlist) {
  if (worker_) return worker_->load(netlist);
  impl_->load(netlist);
}
bool engine::loaded() const { return worker_ ? worker_->loaded() : impl_->loaded_; }
const std::vector<std::string>& engine::deck() const { return worker_ ? worker_->deck() : impl_->deck_; }

void engine::analysis(const std::string& command, const std::string& word) {
  if (worker_) return worker_->analysis(command);
  impl_->analysis(command, word);
}

void engine::op() { analysis("op", "op"); }

void engine::dc(std::string_view source, double start, double stop, double step) {
  std::string cmd = fmt::format("dc {} {} {} {}", checked_name("dc source", source), number("dc start", start),
                                number("dc stop", stop), number("dc step", step));
  analysis(cmd, "dc");
}

void engine::ac(ac_sweep sweep, int points, double fstart, double fstop) {
  const char* kind = sweep == ac_sweep::lin ? "lin" : sweep == ac_sweep::dec ? "dec" : "oct";
  if (points < 1) throw command_error("ac", fmt::format("ac: {} points requested; need at least 1", points), {});
  std::string cmd = fmt::format("ac {} {} {} {}", kind, points, number("ac fstart", fstart), number("ac fstop", fstop));
  analysis(cmd, "ac");
}

void engine::tran(double step, double stop, const tran_options& options) {
  std::string cmd = fmt::format("tran {} {}", number("tran step", step), number("tran stop", stop));
  if (options.start != 0.0 || options.max_step != 0.0) cmd += " " + number("tran start", options.start);
  if (options.max_step != 0.0) cmd += " " + number("tran max step", options.max_step);
  if (options.uic) cmd += " uic";
  analysis(cmd, "tran");
}

void engine::sens(std::string_view output) {
  std::string out = to_lower(trim(output));
  for (char c : out) {
    if (std::iscntrl(static_cast<unsigned char>(c)) || std::strchr(";\"'`\\<>|&$", c))
      throw command_error("sens", fmt::format("invalid sens output '{}'", output), {});
  }
  analysis("sens " + out, "sens");
}

void engine::command(std::string_view text) {
  if (worker_) return worker_->command(text);
  impl_->command(text);
}

void engine::alter(std::string_view device, double value) {
  std::string dev = checked_name("device", device);
  std::string cmd = fmt::format("alter {} = {}", dev, number("alter", value));
  if (worker_) return worker_->alter(dev, value);
  impl_->alter(dev, cmd);
}

void engine::alter(std::string_view device, std::string_view parameter, double value) {
  std::string dev = checked_name("device", device);
  std::string par = checked_name("parameter", parameter);
  std::string cmd = fmt::format("alter {} {} = {}", dev, par, number("alter", value));
  if (worker_) return worker_->alter(dev, par, value);
  impl_->alter(dev + " " + par, cmd);
}

std::string engine::current_plot() const { return worker_ ? worker_->current_plot() : impl_->current_plot(); }
std::vector<std::string> engine::vector_names() const {
  return worker_ ? worker_->vector_names() : impl_->vector_names();
}
bool engine::has_vector(std::string_view name) const {
  return worker_ ? worker_->has_vector(name) : impl_->find_vector(name).has_value();
}

std::vector<double> engine::real_vector(std::string_view name) const {
  if (worker_) return worker_->real_vector(name);
  auto v = impl_->get_vector(name);
  if (v.is_complex)
    throw vector_error(std::string(name),
                       fmt::format("vector '{}' is complex (plot '{}'); read it with complex_vector()", name,
                                   impl_->current_plot()));
  return std::move(v.real);
}

std::vector<std::complex<double>> engine::complex_vector(std::string_view name) const {
  if (worker_) return worker_->complex_vector(name);
  auto v = impl_->get_vector(name);
  if (v.is_complex) return std::move(v.complex);
  std::vector<std::complex<double>> out(v.real.begin(), v.real.end());
  return out;
}

double engine::real_value(std::string_view name) const {
  auto v = real_vector(name);
  if (v.size() != 1)
    throw vector_error(std::string(name), fmt::format("vector '{}' has {} values, expected exactly one (plot '{}')",
                                                      name, v.size(), current_plot()));
  return v.front();
}

void engine::check_node_voltages(double bound, const std::vector<std::string>& ignore) const {
  if (worker_) return worker_->check_node_voltages(bound, ignore);
  impl_->check_node_voltages(bound, impl_->last_analysis_.empty() ? impl_->current_plot() : impl_->last_analysis_,
                             ignore);
}

const std::string& engine::last_output() const { return worker_ ? worker_->last_output() : impl_->last_output_; }
int engine::id() const { return worker_ ? worker_->id() : impl_->id_; }
std::size_t engine::restarts() const { return worker_ ? worker_->restarts() : impl_->restarts_; }

}  // namespace spicenn::spice
