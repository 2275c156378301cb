#include "api/a3sim_api.h"

#include <systemc>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "a3/a3_protocol.h"
#include "kernels/blas.h"
#include "soc/platform.h"

namespace a3sim {

namespace {
a3::Platform* g_platform = nullptr;  // owned by C++ for the life of the process
std::string g_error, g_text;
bool g_failed = false;  // an exception escaped the simulation kernel (MODEL_ERROR)

// Every entry point that needs the platform checks for it first: a call before create() sets
// last_error() and returns NO_PLATFORM (or 0 / nothing), never touches a null pointer. After a
// MODEL_ERROR the platform counts as gone and last_error() keeps the model's message.
bool need_platform() {
  if (g_failed) return false;
  if (g_platform) return true;
  g_error = "no platform: call create() (a3sim.device.Device.open()) first";
  return false;
}

// Runs `f` (which runs the simulation): an exception that escapes the SystemC kernel becomes
// MODEL_ERROR with last_error() set, instead of unwinding into the host program.
template <class F>
int guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    g_error = std::string(
                  "the simulation stopped on a C++ exception (model bug or host limit); the platform "
                  "cannot be used any more in this process: ") +
              e.what();
  } catch (...) {
    g_error = "the simulation stopped on an unknown C++ exception; the platform cannot be used any more";
  }
  g_failed = true;
  return MODEL_ERROR;
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
uint64_t copy_rows(const std::deque<Row>& rows, uint64_t start, uint64_t count, uintptr_t dst) {
  if (start >= rows.size()) return 0;
  if (count > rows.size() - start) count = rows.size() - start;
  Row* out = reinterpret_cast<Row*>(dst);
  std::copy(rows.begin() + start, rows.begin() + start + count, out);
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
  a3::blas::set_threads(static_cast<int>(cfg.blas_threads));
  // numpy's OpenBLAS when asked for and loaded; otherwise (none loaded, or MKL) the linked one.
  if (cfg.host_blas != 0)
    a3::blas::bind_shared();
  else
    a3::blas::unbind_shared();
  try {
    g_platform = new a3::Platform("a3sim", cfg);
  } catch (const std::exception& e) {  // a host limit met while building (e.g. the DRAM mapping)
    g_error = e.what();
    return -1;
  }
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

const char* blas_info() {
  return keep("config|" + a3::blas::config() + "\ncorename|" + a3::blas::corename() + "\nthreads|" +
              std::to_string(a3::blas::threads()) + "\norigin|" + a3::blas::origin() + "\nlinked_config|" +
              a3::blas::linked_config() + "\nlinked_corename|" + a3::blas::linked_corename() + "\nlinked_threads|" +
              std::to_string(a3::blas::linked_threads()) + "\n");
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

namespace {
struct ProtocolRow {
  const char* table;
  const char* name;
  uint64_t value;
};

template <class E>
constexpr uint64_t u(E e) {
  return static_cast<uint64_t>(e);
}

// Every table of a3_protocol.h that host software shares, one row per entry.
const ProtocolRow kProtocolRows[] = {
    {"opcode", "NOP", u(a3::Opcode::NOP)},
    {"opcode", "LOAD_KV", u(a3::Opcode::LOAD_KV)},
    {"opcode", "ATTEND", u(a3::Opcode::ATTEND)},
    {"opcode", "LOAD_SORTED", u(a3::Opcode::LOAD_SORTED)},
    {"mode", "EXACT", u(a3::Mode::EXACT)},
    {"mode", "APPROX", u(a3::Mode::APPROX)},
    {"mode", "POST_ONLY", u(a3::Mode::POST_ONLY)},
    {"phase", "QUEUE", u(a3::Phase::QUEUE)},
    {"phase", "FETCH", u(a3::Phase::FETCH)},
    {"phase", "DMA_IN", u(a3::Phase::DMA_IN)},
    {"phase", "SORT", u(a3::Phase::SORT)},
    {"phase", "CAND_SEL", u(a3::Phase::CAND_SEL)},
    {"phase", "SCAN", u(a3::Phase::SCAN)},
    {"phase", "DOT", u(a3::Phase::DOT)},
    {"phase", "EXP", u(a3::Phase::EXP)},
    {"phase", "OUTPUT", u(a3::Phase::OUTPUT)},
    {"phase", "DMA_OUT", u(a3::Phase::DMA_OUT)},
    {"phase", "COMPLETE", u(a3::Phase::COMPLETE)},
    {"phase", "IRQ", u(a3::Phase::IRQ)},
    {"stream", "NONE", u(a3::Stream::NONE)},
    {"stream", "DESC", u(a3::Stream::DESC)},
    {"stream", "K", u(a3::Stream::K)},
    {"stream", "V", u(a3::Stream::V)},
    {"stream", "SORTED", u(a3::Stream::SORTED)},
    {"stream", "Q", u(a3::Stream::Q)},
    {"stream", "OUT", u(a3::Stream::OUT)},
    {"stream", "STATS", u(a3::Stream::STATS)},
    {"stream", "SETS", u(a3::Stream::SETS)},
    {"stream", "COMPLETION", u(a3::Stream::COMPLETION)},
    {"stream", "MMIO", u(a3::Stream::MMIO)},
    {"dflag", "IRQ", a3::dflag::IRQ},
    {"dflag", "ROW_STATS", a3::dflag::ROW_STATS},
    {"dflag", "NO_MIN_SKIP", a3::dflag::NO_MIN_SKIP},
    {"dflag", "SETS", a3::dflag::SETS},
    {"dflag", "STREAM", a3::dflag::STREAM},
    {"ctrl_bit", "ENABLE", a3::ctrl::ENABLE},
    {"ctrl_bit", "SOFT_RESET", a3::ctrl::SOFT_RESET},
    {"status_bit", "BUSY", a3::status::BUSY},
    {"status_bit", "ERROR", a3::status::ERROR},
    {"status_bit", "ENABLED", a3::status::ENABLED},
    {"status_bit", "LAST_ERROR_SHIFT", a3::status::LAST_ERROR_SHIFT},
    {"irq_bit", "DONE", a3::irq::DONE},
    {"irq_bit", "ERROR", a3::irq::ERROR},
    {"res_bit", "KV", a3::res::KV},
    {"res_bit", "SORTED", a3::res::SORTED},
    {"feat_bit", "APPROX", a3::feat::APPROX},
    {"feat_bit", "DEVICE_SORTER", a3::feat::DEVICE_SORTER},
    {"feat_bit", "MIN_SKIP", a3::feat::MIN_SKIP},
    {"feat_bit", "FIXED_POINT", a3::feat::FIXED_POINT},
    {"feat_bit", "STREAM", a3::feat::STREAM},
    {"limit", "QUEUE_ENTRIES_MIN", a3::QUEUE_ENTRIES_MIN},
    {"limit", "QUEUE_ENTRIES_MAX", a3::QUEUE_ENTRIES_MAX},
    {"limit", "DEVICE_ID", a3::DEVICE_ID},
    {"limit", "DEVICE_VERSION", a3::DEVICE_VERSION},
    {"limit", "MMIO_BASE", a3::MMIO_BASE},
    {"limit", "MMIO_STRIDE", a3::MMIO_STRIDE},
    {"limit", "DRAM_BASE", a3::DRAM_BASE},
    {"reg", "ID", a3::reg::ID},
    {"reg", "VERSION", a3::reg::VERSION},
    {"reg", "CTRL", a3::reg::CTRL},
    {"reg", "STATUS", a3::reg::STATUS},
    {"reg", "IRQ_STATUS", a3::reg::IRQ_STATUS},
    {"reg", "IRQ_ENABLE", a3::reg::IRQ_ENABLE},
    {"reg", "IRQ_ACK", a3::reg::IRQ_ACK},
    {"reg", "SCRATCH", a3::reg::SCRATCH},
    {"reg", "SQ_BASE_LO", a3::reg::SQ_BASE_LO},
    {"reg", "SQ_BASE_HI", a3::reg::SQ_BASE_HI},
    {"reg", "SQ_SIZE", a3::reg::SQ_SIZE},
    {"reg", "SQ_HEAD", a3::reg::SQ_HEAD},
    {"reg", "SQ_TAIL", a3::reg::SQ_TAIL},
    {"reg", "CQ_BASE_LO", a3::reg::CQ_BASE_LO},
    {"reg", "CQ_BASE_HI", a3::reg::CQ_BASE_HI},
    {"reg", "CQ_SIZE", a3::reg::CQ_SIZE},
    {"reg", "CQ_HEAD", a3::reg::CQ_HEAD},
    {"reg", "CQ_TAIL", a3::reg::CQ_TAIL},
    {"reg", "CAP_N_MAX", a3::reg::CAP_N_MAX},
    {"reg", "CAP_D_MAX", a3::reg::CAP_D_MAX},
    {"reg", "CAP_Q_ROWS", a3::reg::CAP_Q_ROWS},
    {"reg", "CAP_CLOCK_MHZ", a3::reg::CAP_CLOCK_MHZ},
    {"reg", "CAP_BURST_BYTES", a3::reg::CAP_BURST_BYTES},
    {"reg", "CAP_FEATURES", a3::reg::CAP_FEATURES},
    {"reg", "CAP_QUEUE_MAX", a3::reg::CAP_QUEUE_MAX},
    {"reg", "CAP_ITER_BITS", a3::reg::CAP_ITER_BITS},
    {"reg", "RES_KV_TAG_LO", a3::reg::RES_KV_TAG_LO},
    {"reg", "RES_KV_TAG_HI", a3::reg::RES_KV_TAG_HI},
    {"reg", "RES_FLAGS", a3::reg::RES_FLAGS},
    {"reg", "PERF_BASE", a3::reg::PERF_BASE},
    {"reg", "PERF_CLEAR", a3::reg::PERF_CLEAR},
    {"layout", "descriptor.opcode", offsetof(a3::Descriptor, opcode)},
    {"layout", "descriptor.mode", offsetof(a3::Descriptor, mode)},
    {"layout", "descriptor.flags", offsetof(a3::Descriptor, flags)},
    {"layout", "descriptor.tag", offsetof(a3::Descriptor, tag)},
    {"layout", "descriptor.n", offsetof(a3::Descriptor, n)},
    {"layout", "descriptor.d", offsetof(a3::Descriptor, d)},
    {"layout", "descriptor.m", offsetof(a3::Descriptor, m)},
    {"layout", "descriptor.T", offsetof(a3::Descriptor, T)},
    {"layout", "descriptor.M", offsetof(a3::Descriptor, M)},
    {"layout", "descriptor.addr_a", offsetof(a3::Descriptor, addr_a)},
    {"layout", "descriptor.addr_b", offsetof(a3::Descriptor, addr_b)},
    {"layout", "descriptor.addr_c", offsetof(a3::Descriptor, addr_c)},
    {"layout", "descriptor.addr_d", offsetof(a3::Descriptor, addr_d)},
    {"layout", "descriptor.__size__", sizeof(a3::Descriptor)},
    {"layout", "completion.tag", offsetof(a3::Completion, tag)},
    {"layout", "completion.status", offsetof(a3::Completion, status)},
    {"layout", "completion.opcode", offsetof(a3::Completion, opcode)},
    {"layout", "completion.phase", offsetof(a3::Completion, phase)},
    {"layout", "completion.cycles", offsetof(a3::Completion, cycles)},
    {"layout", "completion.sq_index", offsetof(a3::Completion, sq_index)},
    {"layout", "completion.queries", offsetof(a3::Completion, queries)},
    {"layout", "completion.detail", offsetof(a3::Completion, detail)},
    {"layout", "completion.check", offsetof(a3::Completion, check)},
    {"layout", "completion.__size__", sizeof(a3::Completion)},
    {"layout", "row_stats.s_max", offsetof(a3::RowStats, s_max)},
    {"layout", "row_stats.sum_exp", offsetof(a3::RowStats, sum_exp)},
    {"layout", "row_stats.n_cand", offsetof(a3::RowStats, n_cand)},
    {"layout", "row_stats.n_sel", offsetof(a3::RowStats, n_sel)},
    {"layout", "row_stats.__size__", sizeof(a3::RowStats)},
};
}  // namespace

const char* protocol_table() {
  std::ostringstream os;
  for (const ProtocolRow& r : kProtocolRows) os << r.table << '|' << r.name << '|' << r.value << '\n';
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
int mmio_write2(uint64_t address0, uint32_t value0, uint64_t address1, uint32_t value1) {
  if (!need_platform()) return NO_PLATFORM;
  const int st = g_platform->host.mmio_write32(address0, value0);
  if (st != tlm::TLM_OK_RESPONSE) return st;
  return g_platform->host.mmio_write32(address1, value1);
}

int64_t first_nonfinite(const float* data, uint64_t count) {
  if (data == nullptr) return -1;
  // Blocks of 256 values: a branch-free test of the exponent bits (vectorised), then a scalar
  // search only in a block that holds a NaN or an infinity.
  constexpr uint32_t kExponent = 0x7f800000u;
  for (uint64_t b = 0; b < count; b += 256) {
    const uint64_t e = std::min<uint64_t>(count, b + 256);
    uint32_t bad = 0;
    for (uint64_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, data + i, sizeof u);
      bad |= static_cast<uint32_t>((u & kExponent) == kExponent);
    }
    if (bad)
      for (uint64_t i = b; i < e; ++i)
        if (!std::isfinite(data[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

int64_t stage_f32(uint64_t address, const float* data, uint64_t count) {
  if (!need_platform()) return NO_PLATFORM;
  const uint64_t bytes = count * sizeof(float);
  if (data == nullptr || address < a3::DRAM_BASE || address - a3::DRAM_BASE > g_platform->dram.size() ||
      bytes > g_platform->dram.size() - (address - a3::DRAM_BASE)) {
    g_error = "stage_f32: the range is outside DRAM";
    return BAD_ARGUMENT;
  }
  float* dst = reinterpret_cast<float*>(g_platform->dram.host_ptr() + (address - a3::DRAM_BASE));
  std::memcpy(dst, data, bytes);
  return first_nonfinite(dst, count);
}

int host_store(uint64_t address, uint64_t bytes, uint32_t stream) {
  if (!need_platform()) return NO_PLATFORM;
  if (g_platform->cfg.host_stores == 0) return 0;
  a3::Platform& p = *g_platform;
  const uint64_t line = static_cast<uint64_t>(p.cfg.dram_line_bytes);
  const uint64_t a0 = address / line * line, a1 = (address + bytes + line - 1) / line * line;
  if (address < a3::DRAM_BASE || a1 - a3::DRAM_BASE > p.dram.size())
    return -static_cast<int>(-tlm::TLM_ADDRESS_ERROR_RESPONSE);
  return guarded([&] {
    const int st = p.host.store(address, bytes, static_cast<uint8_t>(stream), p.dram.host_ptr() + (a0 - a3::DRAM_BASE));
    return st == tlm::TLM_OK_RESPONSE ? 1 : -std::abs(st);
  });
}

uint64_t mmio_base(uint32_t unit) { return a3::MMIO_BASE + unit * a3::MMIO_STRIDE; }

uint64_t dram_base() { return a3::DRAM_BASE; }
uint64_t dram_size() { return need_platform() ? g_platform->dram.size() : 0; }
uintptr_t dram_ptr() { return need_platform() ? reinterpret_cast<uintptr_t>(g_platform->dram.host_ptr()) : 0; }

int run_until_irq(double max_ns) {
  if (!need_platform()) return NO_PLATFORM;
  if (!run_limit(max_ns)) return BAD_ARGUMENT;
  return guarded([&] { return g_platform->host.run(max_ns) ? 1 : 0; });
}

int write_and_wait(uint64_t address, uint32_t value, double max_ns) {
  if (!need_platform()) return NO_PLATFORM;
  if (!run_limit(max_ns)) return BAD_ARGUMENT;
  int st = g_platform->host.mmio_write32(address, value);
  if (st != tlm::TLM_OK_RESPONSE) return -1;
  return guarded([&] { return g_platform->host.run(max_ns) ? 1 : 0; });
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
uint64_t last_irq_ps() { return need_platform() ? g_platform->host.last_irq_ps() : 0; }
double host_now_ns() { return need_platform() ? static_cast<double>(g_platform->host.host_time_ps()) / 1000.0 : 0.0; }

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
// Each table's text, then the next: one native call at start-up instead of one per table (cppyy
// compiles a wrapper at the first call of each function, ~3-4 ms each).
const char* describe() {
  std::string out;
  auto section = [&](const char* name, const char* text) {
    out += "@@";
    out += name;
    out += '\n';
    out += text;
    if (!out.empty() && out.back() != '\n') out += '\n';
  };
  section("config", config_table());
  section("errors", error_table());
  section("initiators", initiator_names());
  section("targets", target_names());
  section("layout_txn", txn_layout());
  section("layout_phase", phase_layout());
  section("layout_job", job_layout());
  section("layout_dram", dram_layout());
  const uint64_t size = g_platform ? g_platform->dram.size() : 0;
  const uintptr_t ptr = g_platform ? reinterpret_cast<uintptr_t>(g_platform->dram.host_ptr()) : 0;
  const std::string dram = "base|" + std::to_string(a3::DRAM_BASE) + "\nsize|" + std::to_string(size) + "\nptr|" +
                           std::to_string(ptr) + "\n";
  section("dram", dram.c_str());
  return keep(out);
}

const char* txn_layout() { return keep(a3::TraceRecorder::txn_layout()); }
const char* phase_layout() { return keep(a3::TraceRecorder::phase_layout()); }
const char* job_layout() { return keep(a3::TraceRecorder::job_layout()); }
uint64_t copy_txns(uint64_t s, uint64_t c, uintptr_t d) {
  return need_platform() && d ? g_platform->recorder.txns().copy(s, c, reinterpret_cast<a3::TxnRecord*>(d)) : 0;
}
uint64_t copy_phases(uint64_t s, uint64_t c, uintptr_t d) {
  if (!need_platform() || !d) return 0;
  const uint64_t n = g_platform->recorder.phases().copy(s, c, reinterpret_cast<a3::PhaseRecord*>(d));
  g_platform->recorder.phases_read(s, n);
  return n;
}
uint64_t copy_jobs(uint64_t s, uint64_t c, uintptr_t d) {
  if (!need_platform() || !d) return 0;
  const uint64_t n = copy_rows(g_platform->recorder.jobs(), s, c, d);
  g_platform->recorder.jobs_read(s, n);
  return n;
}

uint64_t copy_call_rows(uint64_t job_id, uint64_t phase_start, uintptr_t dst, uint64_t capacity) {
  if (!need_platform()) return 0;
  a3::TraceRecorder& r = g_platform->recorder;
  const uint64_t held_jobs = r.jobs().size(), held_phases = r.phases().size();
  const uint64_t j0 = job_id > r.job_base() ? std::min(job_id - r.job_base(), held_jobs) : 0;
  const uint64_t p0 = std::min(phase_start, held_phases);
  const uint64_t nj = held_jobs - j0, np = held_phases - p0;
  if (nj >= (1ull << 32) || np >= (1ull << 32)) return 0;
  const uint64_t counts = (nj << 32) | np;
  const uint64_t job_bytes = nj * sizeof(a3::JobRecord);
  if (dst == 0 || job_bytes + np * sizeof(a3::PhaseRecord) > capacity) return counts;
  copy_rows(r.jobs(), j0, nj, dst);
  r.phases().copy(p0, np, reinterpret_cast<a3::PhaseRecord*>(dst + job_bytes));
  r.jobs_read(j0, nj);
  r.phases_read(p0, np);
  return counts;
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

const char* dram_spec() { return need_platform() ? keep(g_platform->dram.timing().spec_text()) : ""; }
const char* dram_stats() {
  if (!need_platform()) return "";
  const a3::DramTiming& t = g_platform->dram.timing();
  return keep(a3::dram_stats_text(t.stats(), t.peak_gbps()));
}
void dram_reset_stats() {
  if (need_platform()) g_platform->dram.timing().reset_stats();
}
uint64_t dram_latency_hist(uintptr_t dst, uint64_t max_bins) {
  if (!need_platform()) return 0;
  const auto& h = g_platform->dram.timing().stats().latency_hist;
  const uint64_t n = std::min<uint64_t>(max_bins, h.size());
  if (dst && n) std::memcpy(reinterpret_cast<void*>(dst), h.data(), n * sizeof(uint64_t));
  return h.size();
}
uint64_t dram_count() { return need_platform() ? g_platform->recorder.dram_count() : 0; }
const char* dram_layout() { return keep(a3::TraceRecorder::dram_layout()); }
uint64_t copy_dram(uint64_t s, uint64_t c, uintptr_t d) {
  return need_platform() && d ? g_platform->recorder.copy_dram(s, c, reinterpret_cast<a3::DramRecord*>(d)) : 0;
}

uint64_t timing_formula(int stage, uint64_t a, uint64_t b) {
  a3::Config defaults;
  const a3::Config& cfg = g_platform ? g_platform->cfg : defaults;
  a3::TimingModel t(cfg);
  const auto u32 = [](uint64_t v) { return static_cast<uint32_t>(v); };
  switch (stage) {
    case 0: return t.dot(u32(a));
    case 1: return t.exponent(u32(a));
    case 2: return t.output(u32(a));
    case 3: return t.cand_sel(a);
    case 4: return t.scan(u32(a));
    case 5: return t.post_exponent(u32(a), u32(b));
    case 6: return t.sort(u32(a), u32(b));
    default: return 0;
  }
}

}  // namespace a3sim
