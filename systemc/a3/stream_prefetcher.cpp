#include "a3/stream_prefetcher.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace a3 {

// One stream (K for the dot-product stage, V for the output stage): the lines it has issued and
// when their data arrived, and how far its stage has consumed them. Times in cycles from t0.
struct StreamPrefetcher::Cursor {
  Stream stream = Stream::K;
  uint64_t addr = 0;       // DRAM address of the first streamed row
  uint8_t* dst = nullptr;  // where the streamed rows land (function)
  // Lines issued and lines freed so far; the cycle each one's data arrived and each one was freed,
  // kept for the last 2 x depth lines (issue looks back depth lines, consumption at most depth).
  uint64_t issued = 0, freed = 0;
  std::vector<uint64_t> done_at, freed_at;  // rings, indexed by line % size
  uint64_t last_issue = 0;
  uint32_t q = 0;        // query whose pass the stage consumes
  uint32_t r = 0;        // next streamed row of that pass
  uint64_t t = 0;        // earliest cycle of that row
  bool started = false;  // the pass's stage start is known
  uint64_t stall = 0;
};

namespace {
uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
}  // namespace

StreamPrefetcher::Plan StreamPrefetcher::plan(const Job& job, uint64_t t0_ps) {
  Plan out;
  const uint32_t n = job.n, d = job.d, m = job.m, nb = job.bank_rows;
  const uint64_t row_b = static_cast<uint64_t>(d) * 4, rows_s = n - nb, total_b = rows_s * row_b;
  const uint64_t line = static_cast<uint64_t>(cfg_.stream_line_bytes);
  const uint64_t LP = ceil_div(total_b, line), lines = LP * m;  // lines per pass, per job
  const uint64_t D = static_cast<uint64_t>(cfg_.stream_depth);
  const uint64_t cyc = sc_core::sc_time(cfg_.cycle_ns(), sc_core::SC_NS).value();
  const uint64_t L_dot = static_cast<uint64_t>(cfg_.L_dot), L_exp = static_cast<uint64_t>(cfg_.L_exp);
  const uint64_t L_out = static_cast<uint64_t>(cfg_.L_div + cfg_.L_mac);

  // Function: all n rows, the bank rows now, the streamed rows by the bursts below.
  k_.resize(static_cast<size_t>(n) * d);
  v_.resize(static_cast<size_t>(n) * d);
  std::memcpy(k_.data(), job.bank_k, static_cast<size_t>(nb) * row_b);
  std::memcpy(v_.data(), job.bank_v, static_cast<size_t>(nb) * row_b);
  Cursor K, V;
  K.stream = Stream::K;
  K.addr = job.addr_k + nb * row_b;
  K.dst = reinterpret_cast<uint8_t*>(k_.data() + static_cast<size_t>(nb) * d);
  V.stream = Stream::V;
  V.addr = job.addr_v + nb * row_b;
  V.dst = reinterpret_cast<uint8_t*>(v_.data() + static_cast<size_t>(nb) * d);
  const uint64_t ring = 2 * D;
  for (Cursor* c : {&K, &V}) {
    c->done_at.assign(ring, 0);
    c->freed_at.assign(ring, 0);
  }
  // Stage ends per query (cycles from t0): dot-product, exponent, output.
  std::vector<uint64_t> e_dot, e_exp, e_out;
  e_dot.reserve(m);
  e_exp.reserve(m);
  e_out.reserve(m);

  auto last_line = [&](uint64_t r) { return ((r + 1) * row_b - 1) / line; };  // line of row r's last byte
  auto end_row = [&](uint64_t l) { return (std::min((l + 1) * line, total_b) - 1) / row_b; };  // row of a line's end
  auto can_issue = [&](const Cursor& c) {
    const uint64_t k = c.issued;
    return k < lines && (k < D || c.freed > k - D);
  };
  auto issue_time = [&](const Cursor& c) {
    const uint64_t k = c.issued;
    uint64_t t = k == 0 ? 0 : c.last_issue + 1;
    return k >= D ? std::max(t, c.freed_at[(k - D) % ring]) : t;
  };
  auto issue = [&](Cursor& c) {
    const uint64_t k = c.issued, off = (k % LP) * line;
    const uint64_t t = issue_time(c);
    const uint32_t len = static_cast<uint32_t>(std::min(line, total_b - off));
    const uint64_t done_ps =
        dma_.read_burst(c.addr + off, c.dst + off, len, t0_ps + t * cyc, job.job, c.stream, out.res);
    ++out.lines;
    if (!out.res.ok) out.fail_ps = done_ps;
    c.done_at[k % ring] = ceil_div(done_ps > t0_ps ? done_ps - t0_ps : 0, cyc);
    ++c.issued;
    c.last_issue = t;
  };
  // Consume what has arrived; start(q) is the pass's stage start (false: not known yet).
  using StartFn = std::function<bool(uint32_t, uint64_t&)>;
  using EndFn = std::function<void(uint64_t)>;
  auto consume = [&](Cursor& c, const StartFn& start, const EndFn& end) {
    while (c.q < m) {
      if (!c.started) {
        uint64_t s = 0;
        if (!start(c.q, s)) return;
        c.t = s + nb;  // the bank rows first, one per cycle
        c.started = true;
      }
      for (; c.r < rows_s; ++c.r) {
        const uint64_t k = c.q * LP + last_line(c.r);
        if (k >= c.issued) return;  // not issued yet
        const uint64_t st = std::max(c.t, c.done_at[k % ring]);
        c.stall += st - c.t;
        c.t = st + 1;
        while (c.freed < lines && c.freed / LP == c.q && end_row(c.freed % LP) <= c.r)
          c.freed_at[c.freed++ % ring] = c.t;
      }
      end(c.t);
      ++c.q;
      c.r = 0;
      c.started = false;
    }
  };
  const StartFn dot_start = [&](uint32_t q, uint64_t& s) {
    s = q == 0 ? 0 : e_dot[q - 1];
    return true;
  };
  const EndFn dot_end = [&](uint64_t t) {
    e_dot.push_back(t + L_dot);
    const uint64_t prev = e_exp.empty() ? 0 : e_exp.back();
    e_exp.push_back(std::max(prev, e_dot.back()) + n + L_exp);
  };
  const StartFn out_start = [&](uint32_t q, uint64_t& s) {
    if (q >= e_exp.size()) return false;
    s = std::max(q == 0 ? 0 : e_out[q - 1], e_exp[q]);
    return true;
  };
  const EndFn out_end = [&](uint64_t t) { e_out.push_back(t + L_out); };

  // Issue both streams' lines in time order (the earlier issue first), consuming as data arrives.
  while (out.res.ok && (K.issued < lines || V.issued < lines)) {
    consume(K, dot_start, dot_end);
    consume(V, out_start, out_end);
    const bool ck = can_issue(K), cv = can_issue(V);
    if (ck && (!cv || issue_time(K) <= issue_time(V)))
      issue(K);
    else if (cv)
      issue(V);
    else
      SC_REPORT_ERROR("a3/stream", "stream prefetcher: no line can be issued (model bug)");
  }
  if (!out.res.ok) return out;
  consume(K, dot_start, dot_end);
  consume(V, out_start, out_end);
  if (e_out.size() != m) SC_REPORT_ERROR("a3/stream", "stream prefetcher: a pass was not consumed (model bug)");

  TimingModel::Schedule& s = out.sched;
  s.stage_start = {0, e_dot[0], e_exp[0]};
  s.stage_end = {e_dot[m - 1], e_exp[m - 1], e_out[m - 1]};
  s.stage_busy = {static_cast<uint64_t>(m) * (n + L_dot), static_cast<uint64_t>(m) * (n + L_exp),
                  static_cast<uint64_t>(m) * (n + L_out)};
  s.makespan = e_out[m - 1];
  s.first_latency = e_out[0];
  out.stall_cycles[0] = K.stall;
  out.stall_cycles[1] = V.stall;
  return out;
}

}  // namespace a3
