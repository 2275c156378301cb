// compute_core.h - the A3 compute core: the base pipeline (dot-product, exponent, output modules)
// and the approximate pipeline (candidate selection, greedy-score scan, dot-product on candidates,
// post-scoring + exponent, output), plus the optional device sorter (spec 2, 3.5, 3.6).
//
// Function apart from timing: the core first computes the exact values of a whole job (BLAS for
// exact mode; otherwise the job's exact scores at once, then a3::approx_query per query, two
// queries' candidate selections interleaved, spread over a WorkerPool of host threads),
// collecting the counts each stage saw; the
// TimingModel turns the counts into per-query stage cycles; the pipeline recurrence gives each
// stage's busy interval; the core then waits once per stage.
#pragma once

#include <systemc>

#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "a3/a3_protocol.h"
#include "a3/sram_bank.h"
#include "a3/timing_model.h"
#include "kernels/approx_kernel.h"
#include "kernels/exact_kernel.h"
#include "kernels/fixed_point.h"
#include "kernels/worker_pool.h"
#include "soc/a3_config.h"
#include "soc/trace_recorder.h"

namespace a3 {

struct SramBanks {
  SramBank key, value, sorted, query, output, score;
  explicit SramBanks(const Config& cfg);
  // In the order of a3sim_api.h's sram_counter(): key, value, sorted, query, output, score.
  std::array<SramBank*, 6> all() { return {&key, &value, &sorted, &query, &output, &score}; }
  uint64_t read_bytes() {
    uint64_t t = 0;
    for (SramBank* b : all()) t += b->read_bytes;
    return t;
  }
  uint64_t write_bytes() {
    uint64_t t = 0;
    for (SramBank* b : all()) t += b->write_bytes;
    return t;
  }
};

class ComputeCore : public sc_core::sc_module {
 public:
  ComputeCore(sc_core::sc_module_name name, const Config& cfg, SramBanks& banks);

  struct AttendJob {
    Mode mode;
    uint32_t n, d, m;
    uint64_t M;
    double T;
    bool want_sets;
    uint64_t kv_generation;  // changes with every LOAD_KV: keys derived from K are cached per value
    bool min_skip;           // candidate selection with the min-side skip (docs/spec.md 3.2 rule 3)
    // Streaming (exact mode, n > n_max; stream_prefetcher.h): all n rows of K and V, the rows the
    // banks hold, and the pipeline schedule with the stream's stalls (cycles from the compute start).
    const float* K_all = nullptr;
    const float* V_all = nullptr;
    uint32_t bank_rows = 0;
    const TimingModel::Schedule* schedule = nullptr;
  };
  // Called for each finished stage: (phase, start ps, end ps).
  using PhaseFn = std::function<void(Phase, uint64_t, uint64_t)>;

  // Runs an ATTEND job on the banks (queries in the query bank, K/V and, for approx, the sorted
  // table loaded). Writes outputs to the output bank, per-query stats to stats(), set bitmaps to
  // sets() when asked, fills the job record's counts and cycles. Returns OK or NONFINITE.
  Error attend(const AttendJob& job, JobRecord& rec, const PhaseFn& on_phase);

  // Device sorter: sorts the loaded K into the sorted bank and waits for its modelled cycles.
  void sort(uint32_t n, uint32_t d, JobRecord& rec, const PhaseFn& on_phase);

  const std::vector<RowStats>& stats() const { return stats_; }
  const std::vector<uint32_t>& sets() const { return sets_; }
  static uint32_t set_words(uint32_t n) { return (n + 31) / 32; }

  const TimingModel& timing() const { return timing_; }

 private:
  // ---- function: values, stats and set bitmaps of the whole job ----
  void select_operands(const AttendJob& job);  // the banks' data, or its fixed-point quantisation
  void compute_exact(const AttendJob& job);
  void compute_approx(const AttendJob& job);
  // ---- SRAM traffic of the job's queries (timing-model.md section 7) ----
  void count_sram_traffic(const AttendJob& job);
  // ---- counts: |C|, |SEL| summed into the job record ----
  void count_rows(const AttendJob& job, JobRecord& rec) const;
  // NONFINITE if an output or a query's stats left the float32 range.
  Error check_finite(const AttendJob& job) const;
  // ---- timing: per-query stage cycles (spec 3.6) into cycles_ ----
  void stage_cycles(const AttendJob& job, JobRecord& rec);
  // ---- waits: the pipeline recurrence, one wait per stage, busy cycles into the record ----
  void run_stages(const AttendJob& job, JobRecord& rec, const PhaseFn& on_phase);

  const Config& cfg_;
  SramBanks& banks_;
  TimingModel timing_;
  sc_core::sc_time cycle_;
  ExactScratch exact_;  // functional scratch for the batched exact scores
  WorkerPool pool_;
  std::vector<ApproxScratch> approx_, approx2_;    // two per worker (queries go in pairs)
  std::vector<std::vector<uint32_t>> cand_, sel_;  // one per worker
  std::vector<RowStats> stats_;
  std::vector<uint64_t> moves_;  // per query: candidate selection's pointer moves (sorted-key reads)
  std::vector<uint32_t> sets_;
  std::vector<double> kt_, scores_all_;  // K^T in double (cached per kv_generation), batch scores
  uint64_t kt_generation_ = ~uint64_t(0);
  std::vector<double> padded_value_;  // the sorted table laid out for selection (pad_sorted_table)
  std::vector<uint32_t> padded_row_;
  std::vector<uint64_t> cycles_;
  std::unique_ptr<FixedPoint> fixed_;  // the fixed-point datapath (docs/spec.md 2.1) when datapath = 1
  FixedOperands fx_ops_;
  struct Operands {  // what the datapath computes on in this job
    const float *Q = nullptr, *K = nullptr, *V = nullptr, *sv = nullptr;
    const uint32_t* sr = nullptr;
  } ops_;
};

}  // namespace a3
