// timing_model.h - the cycle formulas of spec sections 2 and 3.6 and the pipeline recurrence of
// section 3.6, as plain functions of the counts a stage saw. No SystemC here: the compute core
// turns these cycles into one wait() per stage. docs/timing-model.md states the same.
#pragma once

#include <cstdint>
#include <vector>

#include "a3/a3_protocol.h"
#include "soc/a3_config.h"

namespace a3 {

class TimingModel {
 public:
  explicit TimingModel(const Config& cfg) : cfg_(cfg) {}

  // ---- one stage of one query (spec 3.6) ----
  // dot-product module on `rows` rows (all n in exact and post_only, |C| in approx): rows + L_dot
  uint64_t dot(uint32_t rows) const;
  // exponent module, exact: n + L_exp
  uint64_t exponent(uint32_t n) const;
  // post-scoring + exponent: max(ceil(|C| / post_lanes), |SEL|) + L_exp
  uint64_t post_exponent(uint32_t n_cand, uint32_t n_sel) const;
  // busy cycles of the post-scoring compares inside that stage: ceil(|C| / post_lanes)
  uint64_t post_busy(uint32_t n_cand) const;
  // output module on `rows` rows (n exact, |SEL| otherwise): rows + L_div + L_mac
  uint64_t output(uint32_t rows) const;
  // candidate selection: M + cs_refill
  uint64_t cand_sel(uint64_t M) const;
  // greedy-score scan: ceil(n / scan_lanes)
  uint64_t scan(uint32_t n) const;
  // device sorter: ceil(d / sorter_lanes) columns x n * ceil(log2 n) compare steps (merge sort)
  uint64_t sort(uint32_t n, uint32_t d) const;

  // ---- the stages of a mode ----
  // exact: dot-product, exponent, output; post_only: dot-product (C = all rows), post-scoring +
  // exponent, output; approx: candidate selection, greedy-score scan, then the post_only three on C.
  static uint32_t stage_count(Mode mode) { return mode == Mode::APPROX ? 5 : 3; }
  static const Phase* stage_phases(Mode mode);
  // Cycles of each stage of one query, in stage order, into out[0 .. stage_count(mode)).
  void query_cycles(Mode mode, uint32_t n, uint64_t M, uint32_t n_cand, uint32_t n_sel, uint64_t* out) const;

  // Pipeline of S stages over m queries, cycles[i * S + k] for query i, stage k:
  //   start(i, k) = max(end(i-1, k), end(i, k-1));  end(i, k) = start(i, k) + cycles(i, k)
  struct Schedule {
    uint64_t makespan = 0;                                     // end of the last stage of the last query
    uint64_t first_latency = 0;                                // end(0, S-1): latency of one query through the pipeline
    std::vector<uint64_t> stage_start, stage_end, stage_busy;  // per stage over the job
  };
  static Schedule pipeline(const std::vector<uint64_t>& cycles, uint32_t m, uint32_t S);

 private:
  const Config& cfg_;
};

}  // namespace a3
