#include "kernels/blas.h"

#include <dlfcn.h>
#include <link.h>

#include <cstring>
#include <string>
#include <vector>

namespace a3::blas {

const Shared* g_shared = nullptr;
thread_local bool t_linked = false;

namespace {
Shared g_bound;

// Names of the loaded shared objects that look like an OpenBLAS.
int collect(dl_phdr_info* info, size_t, void* out) {
  const char* name = info->dlpi_name;
  if (name != nullptr && std::strstr(name, "openblas") != nullptr)
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

template <class F>
F sym(void* handle, const std::string& name) {
  return reinterpret_cast<F>(dlsym(handle, name.c_str()));
}
}  // namespace

std::string bind_shared() {
  if (g_shared != nullptr) return "";
  std::vector<std::string> names;
  dl_iterate_phdr(collect, &names);
  // Symbol decorations of OpenBLAS builds: scipy-openblas64 (numpy's wheels: prefix scipy_, suffix
  // 64_), scipy-openblas32 (prefix only), and plain OpenBLAS (with or without the suffix).
  struct Decoration {
    const char* prefix;
    const char* suffix;
  };
  const Decoration decorations[] = {{"scipy_", "64_"}, {"", "64_"}, {"scipy_", ""}, {"", ""}};
  for (const std::string& name : names) {
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD);  // already loaded: only a handle
    if (h == nullptr) continue;
    for (const Decoration& dec : decorations) {
      const std::string p = dec.prefix, s = dec.suffix;
      Shared b{};
      b.sgemm = dlsym(h, (p + "cblas_sgemm" + s).c_str());
      b.dgemm = dlsym(h, (p + "cblas_dgemm" + s).c_str());
      b.get_threads = sym<int (*)()>(h, p + "openblas_get_num_threads" + s);
      b.corename = sym<char* (*)()>(h, p + "openblas_get_corename" + s);
      b.config = sym<char* (*)()>(h, p + "openblas_get_config" + s);
      if (!b.sgemm || !b.dgemm || !b.get_threads || !b.corename || !b.config) continue;
      if (b.sgemm == reinterpret_cast<void*>(&A3_BLAS_OWN(cblas_sgemm))) break;  // the model's own
      // The integer width comes from the build itself: an ILP64 build says USE64BITINT in its
      // configuration string whatever its symbol names (some ILP64 builds keep plain names).
      const char* conf = b.config();
      b.ilp64 = conf != nullptr && std::strstr(conf, "USE64BITINT") != nullptr;
      b.library = name;
      g_bound = b;
      g_shared = &g_bound;
      return "";  // the handle stays open: the library stays loaded for the process
    }
    dlclose(h);
  }
  return "no OpenBLAS other than the model's own is loaded in this process";
}

void unbind_shared() { g_shared = nullptr; }

}  // namespace a3::blas
