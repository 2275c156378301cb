// timing_model.h - the cycle formulas of A3-SPEC section 3.6 and the pipeline recurrence of
// section 3.6/3.5, as plain functions of the counts a stage saw. No SystemC here: the compute
// core turns these cycles into one wait() per stage. docs/timing-model.md states the same.
#pragma once

#include <cstdint>
#include <vector>

#include "soc/a3_config.h"

namespace a3 {

class TimingModel {
 public:
  explicit TimingModel(const Config& cfg) : cfg_(cfg) {}

  // Adder-tree latency L_dp = ceil(log2 d) + L_dp_extra.
  uint64_t L_dp(uint32_t d) const;
  uint64_t L_tail() const;  // L_exp + L_mac + L_recip

  // exact (base A3): dot-product n + L_dp; exponent + output n + L_exp + L_mac + L_recip
  uint64_t exact_dot(uint32_t n, uint32_t d) const { return n + L_dp(d); }
  uint64_t exact_exp_out(uint32_t n) const { return n + L_tail(); }
  // approx: candidate selection cs_fill + M + ceil(n / scan_lanes)
  uint64_t cand_sel(uint64_t M, uint32_t n) const;
  // approx / post_only: dot product on C, |C| + L_dp
  uint64_t approx_dot(uint32_t n_cand, uint32_t d) const { return n_cand + L_dp(d); }
  // approx / post_only: ceil(|C| / filter_lanes) + |SEL| + L_exp + L_mac + L_recip
  uint64_t post(uint32_t n_cand, uint32_t n_sel) const;
  // device sorter: ceil(d / sorter_lanes) columns x n * ceil(log2 n) compare steps (merge sort)
  uint64_t sort(uint32_t n, uint32_t d) const;

  // Pipeline of S stages over m queries, cycles[i * S + k] for query i, stage k:
  //   start(i, k) = max(end(i-1, k), end(i, k-1));  end(i, k) = start(i, k) + cycles(i, k)
  struct Schedule {
    uint64_t makespan = 0;        // end of the last stage of the last query
    uint64_t first_latency = 0;   // end(0, S-1): latency of one query through the pipeline
    std::vector<uint64_t> stage_start, stage_end, stage_busy;  // per stage over the job
  };
  static Schedule pipeline(const std::vector<uint64_t>& cycles, uint32_t m, uint32_t S);

 private:
  const Config& cfg_;
};

}  // namespace a3
