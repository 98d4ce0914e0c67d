#include "spice/ngspice_library.hpp"

#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "core/numbers.hpp"
#include "spice/errors.hpp"

#ifndef SPICENN_NGSPICE_SPINIT_DEFAULT
#define SPICENN_NGSPICE_SPINIT_DEFAULT "/usr/share/ngspice/scripts/spinit"
#endif

namespace spicenn::spice {

namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec);
  return ec ? fs::path("/tmp") : dir;
}

// Temporary directories are named <prefix><pid>-XXXXXX, so that those left
// behind by a process that died can be recognised and removed.
std::string make_temp_dir(const char* prefix) {
  std::string templ = (temp_dir() / fmt::format("{}{}-XXXXXX", prefix, ::getpid())).string();
  if (!mkdtemp(templ.data()))
    throw engine_fatal_error("start",
                             fmt::format("cannot create a temporary directory '{}': {}", templ, std::strerror(errno)),
                             {});
  return templ;
}

}  // namespace

void remove_stale_temp_dirs() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(temp_dir(), ec)) {
    const std::string name = entry.path().filename().string();
    std::string_view rest(name);
    if (rest.rfind("spicenn-ngspice-", 0) != 0) continue;
    rest.remove_prefix(16);
    if (rest.rfind("scripts-", 0) == 0) rest.remove_prefix(8);
    long pid = 0;
    auto [end, err] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (err != std::errc{} || end == rest.data() + rest.size() || *end != '-' || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid()) continue;
    fs::remove_all(entry.path(), ec);
  }
}

namespace {

// The process-wide spinit replacement (see ngspice_library.hpp).
struct process_scripts {
  bool private_codemodels = false;
  std::vector<std::string> codemodels;  // as named by the system spinit
  std::string dir;

  process_scripts() {
    remove_stale_temp_dirs();
    if (const char* user = std::getenv("SPICE_SCRIPTS"); user && *user) return;  // the user's choice wins
    const char* env = std::getenv("SPICENN_NGSPICE_SPINIT");
    std::string spinit = (env && *env) ? env : SPICENN_NGSPICE_SPINIT_DEFAULT;
    std::ifstream in(spinit);
    if (!in) return;  // ngspice will not find it either; nothing to isolate
    std::string text;
    std::string line;
    while (std::getline(in, line)) {
      std::string_view t = trim(line);
      std::string word(t.substr(0, t.find_first_of(" \t")));
      for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (word == "codemodel") {
        codemodels.emplace_back(trim(t.substr(word.size())));
        text += "if $?sharedmode\n* spicenn engines load private copies of this code model\nelse\n" + line + "\nend\n";
      } else {
        text += line + "\n";
      }
    }
    try {
      dir = make_temp_dir("spicenn-ngspice-scripts-");
    } catch (const spice_error&) {
      return;
    }
    std::ofstream out(fs::path(dir) / "spinit");
    out << "* Written by spicenn (src/spice/ngspice_library.cpp) from " << spinit << "\n" << text;
    out.close();
    if (!out || setenv("SPICE_SCRIPTS", dir.c_str(), 0) != 0) return;
    const char* now = std::getenv("SPICE_SCRIPTS");
    private_codemodels = now && dir == now;
  }

  ~process_scripts() {
    if (dir.empty()) return;
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Created (and SPICE_SCRIPTS set) by the first engine, before its ngSpice_Init;
// thread-safe static initialisation serialises concurrent first engines.
const process_scripts& scripts() {
  static const process_scripts instance;
  return instance;
}

}  // namespace

ngspice_library::~ngspice_library() {
  remove_files();
  close();
}

void ngspice_library::close() {
  if (handle_) dlclose(handle_);
  handle_ = nullptr;
  // ngspice never dlcloses the code models it loaded; with private copies
  // that would keep ~0.5 MB mapped per engine ever created. Nothing uses them
  // once the simulator is gone: drop ngspice's reference (and ours).
  for (const auto& cm : codemodels_) {
    for (int i = 0; i < 4; ++i) {  // bounded: a NODELETE object would stay forever
      void* h = dlopen(cm.c_str(), RTLD_LAZY | RTLD_NOLOAD);
      if (!h) break;
      dlclose(h);  // ours
      dlclose(h);  // ngspice's
    }
  }
  codemodels_.clear();
}

void ngspice_library::remove_files() {
  for (const auto& f : files_) ::unlink(f.c_str());
  files_.clear();
  if (!dir_.empty()) ::rmdir(dir_.c_str());
  dir_.clear();
}

void ngspice_library::open(const std::string& source) {
  const process_scripts& ps = scripts();
  dir_ = make_temp_dir("spicenn-ngspice-");
  std::error_code ec;
  const std::string lib = (fs::path(dir_) / "libngspice.so.0").string();
  fs::copy_file(source, lib, ec);
  if (ec) {
    remove_files();
    throw engine_fatal_error("start",
                             fmt::format("cannot copy the ngspice library '{}' to '{}': {} (set "
                                         "SPICENN_NGSPICE_LIBRARY to the path of libngspice.so.0)",
                                         source, lib, ec.message()),
                             {});
  }
  files_.push_back(lib);
  if (ps.private_codemodels) {
    for (std::size_t i = 0; i < ps.codemodels.size(); ++i) {
      fs::path from(ps.codemodels[i]);
      fs::path to = fs::path(dir_) / fmt::format("{}-{}", i, from.filename().string());
      if (to.string().find_first_of(" \t") != std::string::npos) continue;  // ngspice would split the path
      fs::copy_file(from, to, ec);
      if (ec) continue;  // like a missing code model in the system spinit: its devices are unavailable
      files_.push_back(to.string());
      codemodels_.push_back(to.string());
    }
  }
  {
    ngspice_allocations_untracked untracked;
    handle_ = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  if (!handle_) {
    const char* why = dlerror();
    remove_files();
    throw engine_fatal_error("start",
                             fmt::format("cannot load the copy of ngspice '{}' made from '{}': {} (a temporary "
                                         "directory mounted noexec? set TMPDIR)",
                                         lib, source, why ? why : "unknown dlopen error"),
                             {});
  }
  resolve(init, "ngSpice_Init", source);
  resolve(init_sync, "ngSpice_Init_Sync", source);
  resolve(command, "ngSpice_Command", source);
  resolve(circ, "ngSpice_Circ", source);
  resolve(vec_info, "ngGet_Vec_Info", source);
  resolve(cur_plot, "ngSpice_CurPlot", source);
  resolve(all_vecs, "ngSpice_AllVecs", source);
}

template <class F>
void ngspice_library::resolve(F& f, const char* name, const std::string& source) {
  f = reinterpret_cast<F>(dlsym(handle_, name));
  if (!f) {
    close();
    remove_files();
    throw engine_fatal_error("start", fmt::format("'{}' is not an ngspice shared library: no symbol {}", source, name),
                             {});
  }
}

}  // namespace spicenn::spice
