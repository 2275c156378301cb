#include "api/a3sim_api.h"

#include <systemc>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>

#include <cblas.h>

#include "a3/a3_protocol.h"
#include "soc/platform.h"

namespace a3sim {

namespace {
a3::Platform* g_platform = nullptr;  // owned by C++ for the life of the process
std::string g_error, g_text;

// Every entry point that needs the platform checks for it first: a call before create() sets
// last_error() and returns NO_PLATFORM (or 0 / nothing), never touches a null pointer.
bool need_platform() {
  if (g_platform) return true;
  g_error = "no platform: call create() (a3sim.device.Device.open()) first";
  return false;
}

// Simulated-time limits: a number >= 0; beyond kMaxRunNs (1e15 ns, 11.6 days) means "no limit".
// SystemC time is 64-bit picoseconds (1.8e16 ns in all): the limit is also kept below half of what
// remains, so that now + limit never wraps.
constexpr double kMaxRunNs = 1e15;
bool run_limit(double& max_ns) {
  if (std::isnan(max_ns) || max_ns < 0) {
    g_error = "run time limit must be a number >= 0 ns";
    return false;
  }
  const double left_ns = (18446744073709551615.0 - static_cast<double>(sc_core::sc_time_stamp().value())) / 1000.0;
  if (max_ns > kMaxRunNs) max_ns = kMaxRunNs;
  if (max_ns > 0.5 * left_ns) max_ns = 0.5 * left_ns;
  return true;
}

const char* keep(std::string s) {
  g_text = std::move(s);
  return g_text.c_str();
}

template <class Row>
uint64_t copy_rows(const std::vector<Row>& rows, uint64_t start, uint64_t count, uintptr_t dst) {
  if (start >= rows.size()) return 0;
  if (count > rows.size() - start) count = rows.size() - start;
  std::memcpy(reinterpret_cast<void*>(dst), rows.data() + start, count * sizeof(Row));
  return count;
}
}  // namespace

int create(const char* config) {
  if (g_platform) {
    g_error = "the platform is already built: one platform per process";
    return -1;
  }
  a3::Config cfg;
  std::string err = cfg.parse(config ? config : "");
  if (!err.empty()) {
    g_error = err;
    return -1;
  }
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);
  // run_until_irq may find nothing to do (e.g. the interrupt was already delivered): not a warning.
  sc_core::sc_report_handler::set_actions(sc_core::SC_ID_NO_SC_START_ACTIVITY_, sc_core::SC_DO_NOTHING);
#ifdef A3SIM_OPENBLAS
  openblas_set_num_threads(static_cast<int>(cfg.blas_threads));
#endif
  g_platform = new a3::Platform("a3sim", cfg);
  // Elaborate and let every thread reach its first wait (a notification before the first
  // sc_start could otherwise be lost).
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  return 0;
}

const char* last_error() { return g_error.c_str(); }
bool exists() { return g_platform != nullptr; }

const char* config_table() {
  a3::Config defaults;
  const a3::Config& in_force = g_platform ? g_platform->cfg : defaults;
  std::ostringstream os;
  os.precision(17);
  for (const a3::ConfigEntry& e : a3::config_entries()) {
    double value = 0;
    in_force.get(e.name, value);
    os << e.name << '|' << value << '|' << e.default_value << '|' << e.unit << '|' << e.source << '\n';
  }
  return keep(os.str());
}

const char* error_table() {
  std::ostringstream os;
#define A3_ERROR_LINE(name, code, msg) os << code << '|' << #name << '|' << msg << '\n';
  A3_ERROR_TABLE(A3_ERROR_LINE)
#undef A3_ERROR_LINE
  return keep(os.str());
}

const char* perf_table() {
  std::ostringstream os;
#define A3_PERF_LINE(name, doc) os << #name << '|' << doc << '\n';
  A3_PERF_TABLE(A3_PERF_LINE)
#undef A3_PERF_LINE
  return keep(os.str());
}

const char* initiator_names() {
  std::string s;
  if (g_platform)
    for (const auto& n : g_platform->bus.initiator_names()) s += n + ";";
  return keep(s);
}

const char* target_names() {
  std::string s;
  if (g_platform)
    for (const auto& n : g_platform->bus.target_names()) s += n + ";";
  return keep(s);
}

int64_t mmio_read(uint64_t address) {
  if (!need_platform()) return NO_PLATFORM;
  uint32_t v = 0;
  int st = g_platform->host.mmio_read32(address, v);
  return st == tlm::TLM_OK_RESPONSE ? static_cast<int64_t>(v) : -static_cast<int64_t>(-st);
}

int mmio_write(uint64_t address, uint32_t value) {
  if (!need_platform()) return NO_PLATFORM;
  return g_platform->host.mmio_write32(address, value);
}
uint64_t mmio_base(uint32_t unit) { return a3::MMIO_BASE + unit * a3::MMIO_STRIDE; }

uint64_t dram_base() { return a3::DRAM_BASE; }
uint64_t dram_size() { return need_platform() ? g_platform->dram.size() : 0; }
uintptr_t dram_ptr() { return need_platform() ? reinterpret_cast<uintptr_t>(g_platform->dram.host_ptr()) : 0; }

int run_until_irq(double max_ns) {
  if (!need_platform()) return NO_PLATFORM;
  if (!run_limit(max_ns)) return BAD_ARGUMENT;
  return g_platform->host.run(max_ns) ? 1 : 0;
}

int write_and_wait(uint64_t address, uint32_t value, double max_ns) {
  if (!need_platform()) return NO_PLATFORM;
  if (!run_limit(max_ns)) return BAD_ARGUMENT;
  int st = g_platform->host.mmio_write32(address, value);
  if (st != tlm::TLM_OK_RESPONSE) return -1;
  return g_platform->host.run(max_ns) ? 1 : 0;
}

void snapshot(uintptr_t dst) {
  if (dst == 0) return;
  uint64_t* o = reinterpret_cast<uint64_t*>(dst);
  if (!need_platform()) {
    std::memset(o, 0, 8 * sizeof(uint64_t));
    return;
  }
  const a3::TraceRecorder& r = g_platform->recorder;
  o[0] = r.job_base();
  o[1] = r.jobs().size();
  o[2] = r.phases().size();
  o[3] = r.txns().size();
  o[4] = g_platform->host.host_time_ps();
  o[5] = g_platform->host.last_irq_ps();
  o[6] = sc_core::sc_time_stamp().value();
  o[7] = g_platform->host.irqs_delivered();
}
double now_ns() { return sc_core::sc_time_stamp().to_seconds() * 1e9; }
double host_now_ns() {
  return need_platform() ? static_cast<double>(g_platform->host.host_time_ps()) / 1000.0 : 0.0;
}
double last_irq_ns() { return need_platform() ? static_cast<double>(g_platform->host.last_irq_ps()) / 1000.0 : 0.0; }

void trace_enable(bool on) {
  if (need_platform()) g_platform->recorder.enabled = on;
}
bool trace_enabled() { return need_platform() && g_platform->recorder.enabled; }
void trace_clear() {
  if (need_platform()) g_platform->recorder.clear();
}
uint64_t txn_count() { return need_platform() ? g_platform->recorder.txns().size() : 0; }
uint64_t phase_count() { return need_platform() ? g_platform->recorder.phases().size() : 0; }
uint64_t job_count() { return need_platform() ? g_platform->recorder.jobs().size() : 0; }
uint64_t job_base() { return need_platform() ? g_platform->recorder.job_base() : 0; }
uint64_t trace_dropped() { return need_platform() ? g_platform->recorder.dropped() : 0; }
const char* txn_layout() { return keep(a3::TraceRecorder::txn_layout()); }
const char* phase_layout() { return keep(a3::TraceRecorder::phase_layout()); }
const char* job_layout() { return keep(a3::TraceRecorder::job_layout()); }
uint64_t copy_txns(uint64_t s, uint64_t c, uintptr_t d) {
  return need_platform() && d ? copy_rows(g_platform->recorder.txns(), s, c, d) : 0;
}
uint64_t copy_phases(uint64_t s, uint64_t c, uintptr_t d) {
  if (!need_platform() || !d) return 0;
  const uint64_t n = copy_rows(g_platform->recorder.phases(), s, c, d);
  g_platform->recorder.phases_read(s, n);
  return n;
}
uint64_t copy_jobs(uint64_t s, uint64_t c, uintptr_t d) {
  if (!need_platform() || !d) return 0;
  const uint64_t n = copy_rows(g_platform->recorder.jobs(), s, c, d);
  g_platform->recorder.jobs_read(s, n);
  return n;
}

// ---- fault injection ----
int fault_set(const char* name, double value) {
  if (!need_platform()) return NO_PLATFORM;
  std::string err = g_platform->faults.set(name ? name : "", value);
  if (!err.empty()) {
    g_error = err;
    return BAD_ARGUMENT;
  }
  return 0;
}
uint64_t fault_count(int kind) { return need_platform() ? g_platform->faults.injected(kind) : 0; }

// ---- protocol checkers ----
bool protocol_enabled() { return need_platform() && !g_platform->checkers.empty(); }
uint64_t protocol_checked() { return need_platform() ? g_platform->protocol_log.checked : 0; }
uint64_t protocol_violations() { return need_platform() ? g_platform->protocol_log.violations : 0; }
const char* protocol_report() { return keep(need_platform() ? g_platform->protocol_log.report() : std::string()); }
void protocol_clear() {
  if (need_platform()) g_platform->protocol_log.clear();
}

int host_transaction(bool write, uint64_t address, uintptr_t data, uint32_t bytes, uint32_t streaming_width,
                     uint32_t be_mask, bool preset_ok) {
  if (!need_platform()) return NO_PLATFORM;
  if (bytes == 0 || bytes > 4096 || streaming_width == 0) {
    g_error = "host_transaction: bytes must be 1..4096 and streaming_width >= 1";
    return BAD_ARGUMENT;
  }
  static uint8_t scratch[4096];
  uint8_t* p = data ? reinterpret_cast<uint8_t*>(data) : scratch;
  return g_platform->host.raw(write, address, p, bytes, streaming_width, be_mask, preset_ok);
}

uint64_t sram_counter(uint32_t unit, uint32_t bank, uint32_t what) {
  if (!g_platform || unit >= g_platform->units.size()) return 0;
  auto banks = g_platform->units[unit]->banks.all();
  if (bank >= banks.size()) return 0;
  const a3::SramBank& s = *banks[bank];
  switch (what) {
    case 0: return s.capacity();
    case 1: return s.read_bytes;
    case 2: return s.write_bytes;
    case 3: return s.read_accesses;
    case 4: return s.write_accesses;
    default: return 0;
  }
}

const char* sram_bank_names() { return "key;value;sorted;query;output;score;"; }

uint64_t timing_formula(int stage, uint64_t a, uint64_t b) {
  a3::Config defaults;
  const a3::Config& cfg = g_platform ? g_platform->cfg : defaults;
  a3::TimingModel t(cfg);
  switch (stage) {
    case 0: return t.exact_dot(static_cast<uint32_t>(a), static_cast<uint32_t>(b));
    case 1: return t.exact_exp_out(static_cast<uint32_t>(a));
    case 2: return t.cand_sel(a, static_cast<uint32_t>(b));
    case 3: return t.approx_dot(static_cast<uint32_t>(a), static_cast<uint32_t>(b));
    case 4: return t.post(static_cast<uint32_t>(a), static_cast<uint32_t>(b));
    case 5: return t.sort(static_cast<uint32_t>(a), static_cast<uint32_t>(b));
    default: return 0;
  }
}

}  // namespace a3sim
