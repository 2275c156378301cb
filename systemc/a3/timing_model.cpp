#include "a3/timing_model.h"

#include <algorithm>

namespace a3 {

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static uint64_t ceil_log2(uint64_t x) {
  uint64_t r = 0;
  while ((uint64_t(1) << r) < x) ++r;
  return r;
}

uint64_t TimingModel::L_dp(uint32_t d) const { return ceil_log2(d) + static_cast<uint64_t>(cfg_.L_dp_extra); }

uint64_t TimingModel::L_tail() const {
  return static_cast<uint64_t>(cfg_.L_exp + cfg_.L_mac + cfg_.L_recip);
}

uint64_t TimingModel::cand_sel(uint64_t M, uint32_t n) const {
  return static_cast<uint64_t>(cfg_.cs_fill) + M + ceil_div(n, static_cast<uint64_t>(cfg_.scan_lanes));
}

uint64_t TimingModel::post(uint32_t n_cand, uint32_t n_sel) const {
  return ceil_div(n_cand, static_cast<uint64_t>(cfg_.filter_lanes)) + n_sel + L_tail();
}

uint64_t TimingModel::sort(uint32_t n, uint32_t d) const {
  return ceil_div(d, static_cast<uint64_t>(cfg_.sorter_lanes)) * n * std::max<uint64_t>(1, ceil_log2(n));
}

TimingModel::Schedule TimingModel::pipeline(const std::vector<uint64_t>& cycles, uint32_t m, uint32_t S) {
  Schedule s;
  s.stage_start.assign(S, 0);
  s.stage_end.assign(S, 0);
  s.stage_busy.assign(S, 0);
  std::vector<uint64_t> end_prev(S, 0);  // end(i-1, k)
  for (uint32_t i = 0; i < m; ++i) {
    uint64_t end_left = 0;  // end(i, k-1)
    for (uint32_t k = 0; k < S; ++k) {
      uint64_t c = cycles[static_cast<size_t>(i) * S + k];
      uint64_t start = std::max(end_prev[k], end_left);
      uint64_t end = start + c;
      if (i == 0) s.stage_start[k] = start;
      s.stage_busy[k] += c;
      end_prev[k] = end;
      end_left = end;
    }
    if (i == 0) s.first_latency = end_left;
  }
  for (uint32_t k = 0; k < S; ++k) s.stage_end[k] = end_prev[k];
  s.makespan = S ? end_prev[S - 1] : 0;
  return s;
}

}  // namespace a3
