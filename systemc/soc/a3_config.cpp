#include "soc/a3_config.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace a3 {

const std::vector<ConfigEntry>& config_entries() {
  static const std::vector<ConfigEntry> entries = {
#define A3_CONFIG_ENTRY(name, def, unit, src) {#name, def, unit, src},
      A3_CONFIG_TABLE(A3_CONFIG_ENTRY)
#undef A3_CONFIG_ENTRY
  };
  return entries;
}

std::string Config::set(const std::string& key, double value) {
  if (!std::isfinite(value)) return "config " + key + ": value must be finite";
#define A3_CONFIG_SET(name, def, unit, src) \
  if (key == #name) {                       \
    name = value;                           \
    return "";                              \
  }
  A3_CONFIG_TABLE(A3_CONFIG_SET)
#undef A3_CONFIG_SET
  return "unknown config key '" + key + "'";
}

bool Config::get(const std::string& key, double& value) const {
#define A3_CONFIG_GET(field, def, unit, src) \
  if (key == #field) {                       \
    value = field;                           \
    return true;                             \
  }
  A3_CONFIG_TABLE(A3_CONFIG_GET)
#undef A3_CONFIG_GET
  return false;
}

std::string Config::parse(const std::string& text) {
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ';')) {
    auto trim = [](std::string s) {
      const char* ws = " \t\n\r";
      s.erase(0, s.find_first_not_of(ws));
      s.erase(s.find_last_not_of(ws) + 1);
      return s;
    };
    item = trim(item);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos) return "config item '" + item + "' is not key=value";
    std::string key = trim(item.substr(0, eq));
    std::string val = trim(item.substr(eq + 1));
    char* end = nullptr;
    double v = std::strtod(val.c_str(), &end);
    if (val.empty() || end == val.c_str() || *end != '\0') return "config " + key + ": '" + val + "' is not a number";
    std::string err = set(key, v);
    if (!err.empty()) return err;
  }
  return validate();
}

std::string Config::validate() const {
  auto integral = [](double v) { return std::floor(v) == v; };
  struct Rule {
    const char* name;
    double value;
    double lo, hi;
    bool whole;
  };
  const Rule rules[] = {
      {"clock_mhz", clock_mhz, 1, 1e5, false},
      {"units", units, 1, 64, true},
      {"n_max", n_max, 1, 1 << 20, true},
      {"d_max", d_max, 1, 4096, true},
      {"q_rows", q_rows, 1, 1 << 20, true},
      {"elem_bytes", elem_bytes, 4, 4, true},
      {"sorted_entry_bytes", sorted_entry_bytes, 8, 8, true},  // layout fixed: f32 value + u32 row
      {"sram_width_bytes", sram_width_bytes, 4, 1 << 16, true},
      {"L_dot", L_dot, 0, 1e6, true},
      {"L_exp", L_exp, 0, 1e6, true},
      {"L_div", L_div, 0, 1e6, true},
      {"L_mac", L_mac, 0, 1e6, true},
      {"cs_refill", cs_refill, 0, 1e6, true},
      {"scan_lanes", scan_lanes, 1, 1 << 16, true},
      {"post_lanes", post_lanes, 1, 1 << 16, true},
      {"min_skip", min_skip, 0, 1, true},
      {"datapath", datapath, 0, 1, true},
      {"fx_int_bits", fx_int_bits, 0, 15, true},
      {"fx_frac_bits", fx_frac_bits, 1, 15, true},
      {"fx_exp_table_bits", fx_exp_table_bits, 2, 16, true},
      {"device_sorter", device_sorter, 0, 1, true},
      {"sorter_lanes", sorter_lanes, 1, 4096, true},
      {"burst_bytes", burst_bytes, 4, 1 << 20, true},
      {"dma_outstanding", dma_outstanding, 1, 1024, true},
      {"dma_setup_ns", dma_setup_ns, 0, 1e9, false},
      {"bus_latency_ns", bus_latency_ns, 0, 1e9, false},
      {"reg_latency_ns", reg_latency_ns, 0, 1e9, false},
      {"host_mmio_ns", host_mmio_ns, 0, 1e9, false},
      {"irq_latency_ns", irq_latency_ns, 0, 1e9, false},
      // 2 MiB: the first 4 KiB (never allocated), the driver's rings, its 1 MiB staging arena
      // (a design-point call fits in it) and a loaded design-point context; at 1 MiB the arena
      // alone does not fit and every call fails (issue 13, finding 7).
      {"dram_mb", dram_mb, 2, 65536, true},
      {"dram_timing", dram_timing, 0, 1, true},
      {"dram_latency_ns", dram_latency_ns, 0, 1e9, false},
      {"dram_bandwidth_gbps", dram_bandwidth_gbps, 1e-3, 1e6, false},
      {"dram_line_bytes", dram_line_bytes, 1, 4096, true},
      {"dram_preset", dram_preset, 1, 4, true},
      {"dram_channels", dram_channels, 0, 64, true},
      {"dram_ranks", dram_ranks, 0, 8, true},
      {"dram_mapping", dram_mapping, 0, 2, true},
      {"dram_page_policy", dram_page_policy, 0, 1, true},
      {"dram_scheduler", dram_scheduler, 0, 1, true},
      {"dram_queue_depth", dram_queue_depth, 1, 4096, true},
      {"dram_refresh", dram_refresh, 0, 1, true},
      {"bus_arbitration", bus_arbitration, 0, 1, true},
      {"bus_grant_ns", bus_grant_ns, 0, 1e6, false},
      {"host_stores", host_stores, 0, 1, true},
      {"host_store_outstanding", host_store_outstanding, 1, 1024, true},
      {"host_store_issue_ns", host_store_issue_ns, 0, 1e6, false},
      {"overlap", overlap, 0, 1, true},
      {"stream_depth", stream_depth, 1, 4096, true},
      {"stream_line_bytes", stream_line_bytes, 4, 1 << 20, true},
      {"host_blas", host_blas, 0, 1, true},
      {"blas_threads", blas_threads, 1, 256, true},
      {"sim_threads", sim_threads, 1, 256, true},
      {"control_stack_kib", control_stack_kib, 256, 1 << 20, true},
      {"exact_score_bits", exact_score_bits, 32, 64, true},
      {"iter_counter_bits", iter_counter_bits, 1, 63, true},
      {"protocol_check", protocol_check, 0, 1, true},
      {"trace_max_rows", trace_max_rows, 1024, 1ull << 32, true},
      {"fi_dma_error_address", fi_dma_error_address, -1, 9007199254740992.0, true},
      {"fi_dma_error_rate", fi_dma_error_rate, 0, 1, false},
      {"fi_seed", fi_seed, 0, 4294967295.0, true},
      {"fi_irq_drop", fi_irq_drop, 0, 1e9, true},
      {"fi_irq_delay_ns", fi_irq_delay_ns, 0, 1e12, false},
      {"fi_stuck_busy", fi_stuck_busy, 0, 1e9, true},
      {"fi_corrupt_completion", fi_corrupt_completion, 0, 1e9, true},
      {"fi_model_exception", fi_model_exception, 0, 1e9, true},
  };
  if (exact_score_bits != 32 && exact_score_bits != 64) {
    std::ostringstream os;
    os << "config exact_score_bits = " << exact_score_bits << " is out of range: expected 32 or 64";
    return os.str();
  }
  for (const Rule& r : rules) {
    if (r.value < r.lo || r.value > r.hi || (r.whole && !integral(r.value))) {
      std::ostringstream os;
      os << "config " << r.name << " = " << r.value << " is out of range: expected "
         << (r.whole ? "an integer " : "a value ") << "in [" << r.lo << ", " << r.hi << "]";
      return os.str();
    }
  }
  // Energy and area coefficients (spec 3.7): finite (checked by set) and not negative.
#define A3_CONFIG_NONNEG(name, def, unit, src)                                                   \
  if ((std::string(unit) == "mW" || std::string(unit) == "mm2" || std::string(unit) == "pJ/B" || \
       std::string(unit) == "pJ") &&                                                             \
      name < 0)                                                                                  \
    return "config " #name " must not be negative";
  A3_CONFIG_TABLE(A3_CONFIG_NONNEG)
#undef A3_CONFIG_NONNEG
  if (sram_full_use_bytes < 1) return "config sram_full_use_bytes must be at least 1";
  if (fx_int_bits + fx_frac_bits > 16) return "config fx_int_bits + fx_frac_bits must be at most 16";
  if (fx_exp_table_bits <= fx_frac_bits)
    return "config fx_exp_table_bits must exceed fx_frac_bits (the exponent input needs integer bits)";
  auto pow2 = [](double v) {
    const uint64_t u = static_cast<uint64_t>(v);
    return v == 0 || (u & (u - 1)) == 0;
  };
  if (!pow2(dram_channels) || !pow2(dram_ranks)) return "config dram_channels and dram_ranks must be 0 or a power of 2";
  if (static_cast<uint64_t>(burst_bytes) % 4 != 0) return "config burst_bytes must be a multiple of 4";
  if (static_cast<uint64_t>(stream_line_bytes) % 4 != 0) return "config stream_line_bytes must be a multiple of 4";
  // The stream prefetcher frees a line once the row holding its last byte is consumed: it must hold
  // every line one row can touch (a row may start inside a line), or it could wait for itself.
  const double row_lines = std::ceil(d_max * elem_bytes / stream_line_bytes) + 1;
  if (stream_depth < row_lines) {
    std::ostringstream os;
    os << "config stream_depth = " << stream_depth << " is too small: the prefetcher must hold the " << row_lines
       << " lines one d_max row can touch (ceil(d_max * elem_bytes / stream_line_bytes) + 1)";
    return os.str();
  }
  if (n_max * d_max >= 4294967296.0) return "config n_max * d_max must be below 2^32 (sorted-table indexing)";
  return "";
}

}  // namespace a3
