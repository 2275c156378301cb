#include "soc/trace_recorder.h"

#include <algorithm>
#include <cstdint>

#include <cstddef>
#include <sstream>

namespace a3 {

namespace {
// Field description helper: numpy kind code ("u8" = uint64, "f4" = float32, ...).
struct Field {
  const char* name;
  const char* kind;
  size_t offset;
};
std::string join(std::initializer_list<Field> fields, size_t size) {
  std::ostringstream os;
  for (const Field& f : fields) os << f.name << ':' << f.kind << ':' << f.offset << ';';
  os << "__size__:V:" << size;
  return os.str();
}
}  // namespace

#define A3_FIELD(T, name, kind) \
  Field { #name, kind, offsetof(T, name) }

std::string TraceRecorder::txn_layout() {
  using T = TxnRecord;
  return join(
      {A3_FIELD(T, t_start_ps, "u8"), A3_FIELD(T, t_end_ps, "u8"), A3_FIELD(T, address, "u8"), A3_FIELD(T, bytes, "u4"),
       A3_FIELD(T, job, "u4"), A3_FIELD(T, initiator, "u1"), A3_FIELD(T, target, "u1"), A3_FIELD(T, op, "u1"),
       A3_FIELD(T, stream, "u1"), A3_FIELD(T, status, "u1"), A3_FIELD(T, t_grant_ps, "u8")},
      sizeof(T));
}

std::string TraceRecorder::phase_layout() {
  using T = PhaseRecord;
  return join({A3_FIELD(T, t_start_ps, "u8"), A3_FIELD(T, t_end_ps, "u8"), A3_FIELD(T, job, "u4"),
               A3_FIELD(T, phase, "u1"), A3_FIELD(T, unit, "u1")},
              sizeof(T));
}

std::string TraceRecorder::job_layout() {
  using T = JobRecord;
  return join({A3_FIELD(T, t_doorbell_ps, "u8"),
               A3_FIELD(T, t_start_ps, "u8"),
               A3_FIELD(T, t_end_ps, "u8"),
               A3_FIELD(T, M, "u8"),
               A3_FIELD(T, bytes_rd, "u8"),
               A3_FIELD(T, bytes_wr, "u8"),
               A3_FIELD(T, cyc_cand_sel, "u8"),
               A3_FIELD(T, cyc_scan, "u8"),
               A3_FIELD(T, cyc_dot, "u8"),
               A3_FIELD(T, cyc_exp, "u8"),
               A3_FIELD(T, cyc_out, "u8"),
               A3_FIELD(T, cyc_post, "u8"),
               A3_FIELD(T, cyc_sort, "u8"),
               A3_FIELD(T, compute_cycles, "u8"),
               A3_FIELD(T, first_latency_cycles, "u8"),
               A3_FIELD(T, job_cycles, "u8"),
               A3_FIELD(T, candidates, "u8"),
               A3_FIELD(T, selected, "u8"),
               A3_FIELD(T, sram_rd, "u8"),
               A3_FIELD(T, sram_wr, "u8"),
               A3_FIELD(T, sram_key, "u8"),
               A3_FIELD(T, sram_value, "u8"),
               A3_FIELD(T, sram_sorted, "u8"),
               A3_FIELD(T, sram_query, "u8"),
               A3_FIELD(T, sram_output, "u8"),
               A3_FIELD(T, sram_score, "u8"),
               A3_FIELD(T, dram_activates, "u8"),
               A3_FIELD(T, e_dot, "f8"),
               A3_FIELD(T, e_exp, "f8"),
               A3_FIELD(T, e_out, "f8"),
               A3_FIELD(T, e_cand_sel, "f8"),
               A3_FIELD(T, e_post, "f8"),
               A3_FIELD(T, e_key_sram, "f8"),
               A3_FIELD(T, e_value_sram, "f8"),
               A3_FIELD(T, e_sorted_sram, "f8"),
               A3_FIELD(T, e_dram, "f8"),
               A3_FIELD(T, e_bus, "f8"),
               A3_FIELD(T, job, "u4"),
               A3_FIELD(T, tag, "u4"),
               A3_FIELD(T, n, "u4"),
               A3_FIELD(T, d, "u4"),
               A3_FIELD(T, m, "u4"),
               A3_FIELD(T, T, "f4"),
               A3_FIELD(T, status, "u2"),
               A3_FIELD(T, unit, "u1"),
               A3_FIELD(T, opcode, "u1"),
               A3_FIELD(T, mode, "u1"),
               A3_FIELD(T, sorted_by, "u1")},
              sizeof(T));
}

std::string TraceRecorder::dram_layout() {
  using T = DramRecord;
  return join({A3_FIELD(T, t_arrive_ps, "u8"), A3_FIELD(T, t_data_ps, "u8"), A3_FIELD(T, t_done_ps, "u8"),
               A3_FIELD(T, address, "u8"), A3_FIELD(T, row, "u4"), A3_FIELD(T, job, "u4"), A3_FIELD(T, bytes, "u4"),
               A3_FIELD(T, channel, "u1"), A3_FIELD(T, rank, "u1"), A3_FIELD(T, bank, "u1"), A3_FIELD(T, kind, "u1"),
               A3_FIELD(T, op, "u1"), A3_FIELD(T, initiator, "u1"), A3_FIELD(T, stream, "u1")},
              sizeof(T));
}

bool TraceRecorder::DramRun::extend(const DramRecord& r) {
  const DramRecord& f = first;
  if (r.row != f.row || r.job != f.job || r.bytes != f.bytes || r.channel != f.channel || r.rank != f.rank ||
      r.bank != f.bank || r.kind != f.kind || r.op != f.op || r.initiator != f.initiator || r.stream != f.stream ||
      count == UINT32_MAX)
    return false;
  const int64_t da = static_cast<int64_t>(r.t_arrive_ps - f.t_arrive_ps);
  const int64_t dd = static_cast<int64_t>(r.t_data_ps - f.t_data_ps);
  const int64_t de = static_cast<int64_t>(r.t_done_ps - f.t_done_ps);
  const int64_t dx = static_cast<int64_t>(r.address - f.address);
  if (count == 1) {  // the second burst sets the steps, if they fit
    auto fits = [](int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; };
    if (!fits(da) || !fits(dd) || !fits(de) || !fits(dx)) return false;
    step_arrive = static_cast<int32_t>(da);
    step_data = static_cast<int32_t>(dd);
    step_done = static_cast<int32_t>(de);
    step_address = static_cast<int32_t>(dx);
  } else {
    const int64_t c = count;
    if (da != c * step_arrive || dd != c * step_data || de != c * step_done || dx != c * step_address) return false;
  }
  ++count;
  return true;
}

DramRecord TraceRecorder::DramRun::at(uint32_t i) const {
  DramRecord r = first;
  const int64_t k = i;
  r.t_arrive_ps += static_cast<uint64_t>(k * step_arrive);
  r.t_data_ps += static_cast<uint64_t>(k * step_data);
  r.t_done_ps += static_cast<uint64_t>(k * step_done);
  r.address += static_cast<uint64_t>(k * step_address);
  return r;
}

uint64_t TraceRecorder::copy_dram(uint64_t start, uint64_t count, DramRecord* dst) const {
  const uint64_t held = dram_count();
  if (start >= held || dst == nullptr) return 0;
  if (count > held - start) count = held - start;
  const uint64_t first = dram_.front().row0 + start;
  // The run holding burst `first`: the last run starting at or before it.
  const size_t lo = runs_before(first + 1) - 1;  // the front run starts at or before `first`
  uint64_t done = 0;
  uint32_t i = static_cast<uint32_t>(first - dram_[lo].row0);
  for (size_t k = lo; done < count; ++k, i = 0) {
    const DramRun& run = dram_[k];
    for (; i < run.count && done < count; ++i) dst[done++] = run.at(i);
  }
  return done;
}

#undef A3_FIELD

}  // namespace a3
