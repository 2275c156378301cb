#include "a3/timing_model.h"

#include <algorithm>

namespace a3 {

namespace {
uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
uint64_t ceil_log2(uint64_t x) {
  uint64_t r = 0;
  while ((uint64_t(1) << r) < x) ++r;
  return r;
}
uint64_t u(double v) { return static_cast<uint64_t>(v); }
}  // namespace

uint64_t TimingModel::dot(uint32_t rows) const { return rows + u(cfg_.L_dot); }
uint64_t TimingModel::exponent(uint32_t n) const { return n + u(cfg_.L_exp); }
uint64_t TimingModel::post_busy(uint32_t n_cand) const { return ceil_div(n_cand, u(cfg_.post_lanes)); }
uint64_t TimingModel::post_exponent(uint32_t n_cand, uint32_t n_sel) const {
  return std::max<uint64_t>(post_busy(n_cand), n_sel) + u(cfg_.L_exp);
}
uint64_t TimingModel::output(uint32_t rows) const { return rows + u(cfg_.L_div) + u(cfg_.L_mac); }
uint64_t TimingModel::cand_sel(uint64_t M) const { return M + u(cfg_.cs_refill); }
uint64_t TimingModel::scan(uint32_t n) const { return ceil_div(n, u(cfg_.scan_lanes)); }

uint64_t TimingModel::sort(uint32_t n, uint32_t d) const {
  return ceil_div(d, u(cfg_.sorter_lanes)) * n * std::max<uint64_t>(1, ceil_log2(n));
}

const Phase* TimingModel::stage_phases(Mode mode) {
  static const Phase three[] = {Phase::DOT, Phase::EXP, Phase::OUTPUT};
  static const Phase five[] = {Phase::CAND_SEL, Phase::SCAN, Phase::DOT, Phase::EXP, Phase::OUTPUT};
  return mode == Mode::APPROX ? five : three;
}

void TimingModel::query_cycles(Mode mode, uint32_t n, uint64_t M, uint32_t n_cand, uint32_t n_sel,
                               uint64_t* out) const {
  switch (mode) {
    case Mode::EXACT:
      out[0] = dot(n);
      out[1] = exponent(n);
      out[2] = output(n);
      break;
    case Mode::POST_ONLY:
      out[0] = dot(n);
      out[1] = post_exponent(n, n_sel);
      out[2] = output(n_sel);
      break;
    case Mode::APPROX:
      out[0] = cand_sel(M);
      out[1] = scan(n);
      out[2] = dot(n_cand);
      out[3] = post_exponent(n_cand, n_sel);
      out[4] = output(n_sel);
      break;
  }
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
