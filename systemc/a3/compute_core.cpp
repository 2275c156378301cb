#include "a3/compute_core.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/exact_kernel.h"

namespace a3 {

using namespace sc_core;

namespace {
uint64_t u(double v) { return static_cast<uint64_t>(v); }
// The datapath's number format is float32: a score beyond its range (the functional model keeps
// scores in double for accuracy) is reported as NONFINITE, as are NaN and infinities.
// Queries per chunk of an approx job: two register blocks of all_scores, an even number (select_two
// takes queries in pairs).
constexpr uint32_t kApproxChunk = 2 * kScoreQueries;
bool stats_ok(const RowStats& r) {
  return std::isfinite(static_cast<float>(r.s_max)) && std::isfinite(static_cast<float>(r.sum_exp));
}
}  // namespace

SramBanks::SramBanks(const Config& c)
    : key("key", u(c.n_max) * u(c.d_max) * u(c.elem_bytes), u(c.sram_width_bytes)),
      value("value", u(c.n_max) * u(c.d_max) * u(c.elem_bytes), u(c.sram_width_bytes)),
      sorted("sorted", u(c.n_max) * u(c.d_max) * u(c.sorted_entry_bytes), u(c.sram_width_bytes)),
      query("query", u(c.q_rows) * u(c.d_max) * u(c.elem_bytes), u(c.sram_width_bytes)),
      output("output", u(c.q_rows) * u(c.d_max) * u(c.elem_bytes), u(c.sram_width_bytes)),
      score("score", 2 * u(c.n_max) * u(c.elem_bytes), u(c.sram_width_bytes)) {}

ComputeCore::ComputeCore(sc_module_name name, const Config& cfg, SramBanks& banks)
    : sc_module(name),
      cfg_(cfg),
      banks_(banks),
      timing_(cfg),
      cycle_(cfg.cycle_ns(), SC_NS),
      pool_(static_cast<unsigned>(cfg.sim_threads)) {
  const unsigned w = pool_.threads();
  approx_.resize(w);
  approx2_.resize(w);
  cand_.resize(w);
  sel_.resize(w);
  if (cfg.datapath != 0)
    fixed_ = std::make_unique<FixedPoint>(FixedFormat{static_cast<uint32_t>(cfg.fx_int_bits),
                                                      static_cast<uint32_t>(cfg.fx_frac_bits),
                                                      static_cast<uint32_t>(cfg.fx_exp_table_bits)});
  for (unsigned i = 0; i < w; ++i) {
    approx_[i].reserve(static_cast<uint32_t>(cfg.n_max), static_cast<uint32_t>(cfg.d_max));
    approx2_[i].reserve(static_cast<uint32_t>(cfg.n_max), static_cast<uint32_t>(cfg.d_max));
    cand_[i].resize(static_cast<size_t>(cfg.n_max));
    sel_[i].resize(static_cast<size_t>(cfg.n_max));
  }
}

Error ComputeCore::attend(const AttendJob& job, JobRecord& rec, const PhaseFn& on_phase) {
  select_operands(job);
  stats_.resize(job.m);
  moves_.assign(job.m, 0);
  if (job.want_sets) sets_.assign(static_cast<size_t>(job.m) * 2 * set_words(job.n), 0u);
  if (job.mode == Mode::EXACT)
    compute_exact(job);
  else
    compute_approx(job);
  count_rows(job, rec);
  count_sram_traffic(job);
  const Error err = check_finite(job);
  if (err != Error::OK) return err;
  if (!job.schedule) stage_cycles(job, rec);  // a streamed job comes with its schedule
  run_stages(job, rec, on_phase);
  return Error::OK;
}

void ComputeCore::select_operands(const AttendJob& job) {
  const uint32_t n = job.n, d = job.d;
  ops_.Q = banks_.query.as<float>();
  ops_.K = job.K_all ? job.K_all : banks_.key.as<float>();
  ops_.V = job.V_all ? job.V_all : banks_.value.as<float>();
  ops_.sv = banks_.sorted.as<float>();
  ops_.sr = reinterpret_cast<const uint32_t*>(banks_.sorted.data() + static_cast<size_t>(n) * d * 4);
  if (!fixed_) return;
  // Fixed-point datapath: the same flow on quantised operands (docs/spec.md 2.1, docs/fixed-point.md);
  // the sorted table is rebuilt from the quantised K, whose ties differ from the float32 K's.
  fx_ops_.load_kv(*fixed_, ops_.K, ops_.V, n, d, job.kv_generation);
  ops_.Q = fx_ops_.load_queries(*fixed_, ops_.Q, job.m, d);
  ops_.K = fx_ops_.K();
  ops_.V = fx_ops_.V();
  ops_.sv = fx_ops_.sorted_value();
  ops_.sr = fx_ops_.sorted_row();
}

void ComputeCore::compute_exact(const AttendJob& job) {
  const uint32_t n = job.n, d = job.d, m = job.m;
  float* O = banks_.output.as<float>();
  if (fixed_) {  // all rows, T = 0: post-scoring alone on the fixed-point datapath
    const ApproxParams all{0, 0.0, true, false, fixed_.get()};
    pool_.run(m, [&](uint32_t i0, uint32_t i1, unsigned w) {
      for (uint32_t i = i0; i < i1; ++i) {
        const QueryIO io{ops_.Q + static_cast<size_t>(i) * d, O + static_cast<size_t>(i) * d};
        const QueryResult r = approx_query(KeyTable{ops_.K, ops_.V, n, d}, all, io, approx_[w]);
        stats_[i] = RowStats{r.s_max, r.sum_exp, r.n_cand, r.n_sel};
      }
    });
  } else {
    // The whole job at once (BLAS); every query's stats count n candidates and n selected rows.
    exact_attention(ops_.Q, m, ops_.K, ops_.V, n, d, O, stats_.data(), exact_, pool_,
                    cfg_.exact_score_bits == 64 ? ExactPrecision::F64 : ExactPrecision::F32);
  }
  if (!job.want_sets) return;
  const uint32_t words = set_words(n);
  for (uint32_t i = 0; i < m; ++i) {
    uint32_t* c = &sets_[static_cast<size_t>(i) * 2 * words];
    for (uint32_t r = 0; r < n; ++r) {
      c[r / 32] |= 1u << (r % 32);
      c[words + r / 32] |= 1u << (r % 32);
    }
  }
}

void ComputeCore::compute_approx(const AttendJob& job) {
  const uint32_t n = job.n, d = job.d, m = job.m;
  const float* Q = ops_.Q;
  const float* K = ops_.K;
  float* O = banks_.output.as<float>();
  const uint32_t words = set_words(n);
  const bool post_only = job.mode == Mode::POST_ONLY;
  // Queries are independent, so they are spread over the host's worker threads. Exact scores of
  // every row for the whole job first (bit-identical to scoring the candidates one by one: see
  // approx_kernel.h), then per query selection, post-scoring and output.
  if (kt_generation_ != job.kv_generation || kt_.size() != static_cast<size_t>(padded_rows(n)) * d) {
    kt_.resize(static_cast<size_t>(padded_rows(n)) * d);
    transpose_keys(K, n, d, kt_.data());
    kt_generation_ = job.kv_generation;
  }
  scores_all_.resize(static_cast<size_t>(m) * n);
  const bool want_sets = job.want_sets;
  KeyTable kv{ops_.K, ops_.V, n, d, ops_.sv, ops_.sr};
  // The sorted table laid out for selection (~18 % faster pops), per job: the bank's table may
  // change without a new LOAD_KV (LOAD_SORTED, the device sorter). Laying it out (n d entries)
  // costs about what ~n d tree pops save, so only jobs with more pops than that use it.
  const uint64_t pops = static_cast<uint64_t>(m) * std::min<uint64_t>(2 * job.M, 2ull * n * d);
  if (!post_only && d <= 64 && pops >= static_cast<uint64_t>(n) * d) {
    padded_value_.resize(padded_table_entries(n, d));
    padded_row_.resize(padded_table_entries(n, d));
    pad_sorted_table(ops_.sv, ops_.sr, n, d, padded_value_.data(), padded_row_.data());
    kv.padded_value = padded_value_.data();
    kv.padded_row = padded_row_.data();
  }
  const ApproxParams params{job.M, job.T, post_only, job.min_skip, fixed_.get()};
  pool_.run(
      m,
      [&](uint32_t i0, uint32_t i1, unsigned w) {
        all_scores(Q + static_cast<size_t>(i0) * d, i1 - i0, kt_.data(), n, d,
                   scores_all_.data() + static_cast<size_t>(i0) * n);
        uint32_t* cb = cand_[w].data();
        uint32_t* sb = sel_[w].data();
        auto finish = [&](uint32_t i, ApproxScratch& sc, bool pre_selected) {
          const QueryIO io{Q + static_cast<size_t>(i) * d,
                           O + static_cast<size_t>(i) * d,
                           want_sets ? cb : nullptr,
                           want_sets ? sb : nullptr,
                           scores_all_.data() + static_cast<size_t>(i) * n,
                           pre_selected};
          QueryResult r = approx_query(kv, params, io, sc);
          stats_[i] = RowStats{r.s_max, r.sum_exp, r.n_cand, r.n_sel};
          moves_[i] = r.max_moves + r.min_moves;
          if (want_sets) {
            uint32_t* c = &sets_[static_cast<size_t>(i) * 2 * words];
            for (uint32_t k = 0; k < r.n_cand; ++k) c[cb[k] / 32] |= 1u << (cb[k] % 32);
            for (uint32_t k = 0; k < r.n_sel; ++k) c[words + sb[k] / 32] |= 1u << (sb[k] % 32);
          }
        };
        uint32_t i = i0;
        if (!post_only && d <= 64) {
          // Candidate selection is a serial chain per query: run two queries' chains together.
          for (; i + 1 < i1; i += 2) {
            select_two(Q + static_cast<size_t>(i) * d, Q + static_cast<size_t>(i + 1) * d, kv, params, approx_[w],
                       approx2_[w]);
            finish(i, approx_[w], true);
            finish(i + 1, approx2_[w], true);
          }
        }
        for (; i < i1; ++i) finish(i, approx_[w], false);
      },
      kApproxChunk);
}

void ComputeCore::count_sram_traffic(const AttendJob& job) {
  const uint32_t n = job.n, d = job.d, m = job.m;
  const uint64_t eb = u(cfg_.elem_bytes);
  const uint64_t row = static_cast<uint64_t>(d) * eb;
  if (job.mode == Mode::EXACT) {
    const uint64_t bank_rows = job.K_all ? job.bank_rows : n;  // streamed rows come from DRAM, not a bank
    banks_.query.count_read(static_cast<uint64_t>(m) * row);
    banks_.key.count_read(static_cast<uint64_t>(m) * bank_rows * row);
    banks_.value.count_read(static_cast<uint64_t>(m) * bank_rows * row);
    banks_.score.count_write(static_cast<uint64_t>(m) * n * eb);
    banks_.score.count_read(static_cast<uint64_t>(m) * n * eb);
    banks_.output.count_write(static_cast<uint64_t>(m) * row);
    return;
  }
  const uint64_t entry = u(cfg_.sorted_entry_bytes);
  for (uint32_t i = 0; i < m; ++i) {
    const uint32_t n_cand = stats_[i].n_cand, n_sel = stats_[i].n_sel;
    if (job.mode == Mode::APPROX) {
      // Sorted-key reads: the head of every column on both sides at the fill (2d), then one entry
      // per pointer move the kernel reports (the min side makes none in the iterations the skip
      // blocks; docs/energy-model.md section 1).
      banks_.sorted.count_read((2ull * d + moves_[i]) * entry);
      banks_.query.count_read(row);
    }
    banks_.query.count_read(row);
    banks_.key.count_read(static_cast<uint64_t>(n_cand) * row);
    banks_.value.count_read(static_cast<uint64_t>(n_sel) * row);
    banks_.score.count_write(static_cast<uint64_t>(n_cand) * eb);
    banks_.score.count_read(static_cast<uint64_t>(n_cand) * eb);
    banks_.output.count_write(row);
  }
}

void ComputeCore::count_rows(const AttendJob& job, JobRecord& rec) const {
  for (uint32_t i = 0; i < job.m; ++i) {
    rec.candidates += stats_[i].n_cand;
    rec.selected += stats_[i].n_sel;
  }
}

Error ComputeCore::check_finite(const AttendJob& job) const {
  if (!all_finite(banks_.output.as<float>(), static_cast<uint64_t>(job.m) * job.d)) return Error::NONFINITE;
  for (uint32_t i = 0; i < job.m; ++i)
    if (!stats_ok(stats_[i])) return Error::NONFINITE;
  return Error::OK;
}

void ComputeCore::stage_cycles(const AttendJob& job, JobRecord& rec) {
  const uint32_t S = TimingModel::stage_count(job.mode);
  cycles_.assign(static_cast<size_t>(job.m) * S, 0);
  for (uint32_t i = 0; i < job.m; ++i) {
    const RowStats& st = stats_[i];
    timing_.query_cycles(job.mode, job.n, job.M, st.n_cand, st.n_sel, &cycles_[static_cast<size_t>(i) * S]);
    // The post-scoring compares inside the exponent stage (none in exact mode).
    if (job.mode != Mode::EXACT) rec.cyc_post += timing_.post_busy(st.n_cand);
  }
}

void ComputeCore::run_stages(const AttendJob& job, JobRecord& rec, const PhaseFn& on_phase) {
  const uint32_t S = TimingModel::stage_count(job.mode);
  const Phase* phases = TimingModel::stage_phases(job.mode);
  const TimingModel::Schedule sched = job.schedule ? *job.schedule : TimingModel::pipeline(cycles_, job.m, S);
  const uint64_t t0 = sc_time_stamp().value();
  const uint64_t cyc = cycle_.value();
  uint64_t elapsed = 0;
  for (uint32_t k = 0; k < S; ++k) {
    // One wait per pipeline stage: until the stage's last query leaves it.
    const uint64_t end = sched.stage_end[k] * cyc;
    if (end > elapsed) {
      wait(sc_time::from_value(end - elapsed));
      elapsed = end;
    }
    on_phase(phases[k], t0 + sched.stage_start[k] * cyc, t0 + end);
    switch (phases[k]) {
      case Phase::CAND_SEL: rec.cyc_cand_sel += sched.stage_busy[k]; break;
      case Phase::SCAN: rec.cyc_scan += sched.stage_busy[k]; break;
      case Phase::DOT: rec.cyc_dot += sched.stage_busy[k]; break;
      case Phase::EXP: rec.cyc_exp += sched.stage_busy[k]; break;
      default: rec.cyc_out += sched.stage_busy[k]; break;
    }
  }
  rec.compute_cycles += sched.makespan;
  rec.first_latency_cycles = sched.first_latency;
}

void ComputeCore::sort(uint32_t n, uint32_t d, JobRecord& rec, const PhaseFn& on_phase) {
  float* sv = banks_.sorted.as<float>();
  uint32_t* sr = reinterpret_cast<uint32_t*>(banks_.sorted.data() + static_cast<size_t>(n) * d * 4);
  sort_keys(banks_.key.as<float>(), n, d, sv, sr);
  const uint64_t eb = u(cfg_.elem_bytes);
  banks_.key.count_read(static_cast<uint64_t>(n) * d * eb);
  banks_.sorted.count_write(static_cast<uint64_t>(n) * d * u(cfg_.sorted_entry_bytes));
  const uint64_t cycles = timing_.sort(n, d);
  const uint64_t t0 = sc_time_stamp().value();
  wait(cycle_ * static_cast<double>(cycles));
  rec.cyc_sort += cycles;
  on_phase(Phase::SORT, t0, sc_time_stamp().value());
}

}  // namespace a3
