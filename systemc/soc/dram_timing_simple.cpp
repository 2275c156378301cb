#include "soc/dram_timing_simple.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "soc/dram_timing_banked.h"

namespace a3 {

DramTimingSimple::DramTimingSimple(double latency_ns, double bandwidth_gbps, uint32_t line_bytes)
    : latency_ps_(static_cast<uint64_t>(std::llround(latency_ns * 1000.0))),
      bandwidth_gbps_(bandwidth_gbps),
      ps_per_byte_(1000.0 / bandwidth_gbps),
      line_(line_bytes ? line_bytes : 1) {
  const double line_ps = line_ * ps_per_byte_;
  if (line_ps == std::floor(line_ps) && line_ps < 1e15) line_ps_ = static_cast<uint64_t>(line_ps);
  reset_stats();
}

void DramTimingSimple::reset_stats() {
  stats_ = DramStats{};
  stats_.latency_hist.assign(20001, 0);
}

uint64_t DramTimingSimple::access(uint64_t address, uint32_t bytes, bool write, uint64_t issue_ps,
                                  std::vector<DramBurst>* bursts) {
  // A DRAM access moves whole lines: a 24-byte write costs one 64-byte burst.
  const uint64_t first = address / line_, last = (address + std::max<uint32_t>(bytes, 1) - 1) / line_;
  const uint64_t moved = (last - first + 1) * line_;
  uint64_t data_start = std::max(issue_ps + latency_ps_, channel_free_ps_);
  // A whole number of ps per line (line_ps_, the default 64 B at 25.6 GB/s: 2,500 ps) is exact in
  // integers: moved * ps_per_byte = lines * line_ps_ then holds exactly in double too.
  const uint64_t transfer =
      line_ps_ != 0 ? (last - first + 1) * line_ps_ : static_cast<uint64_t>(std::llround(moved * ps_per_byte_));
  channel_free_ps_ = data_start + transfer;
  DramStats& s = stats_;
  ++s.accesses;
  s.bursts += last - first + 1;
  (write ? s.bytes_written : s.bytes_read) += moved;
  s.data_busy_ps += transfer;
  s.first_arrival_ps = std::min(s.first_arrival_ps, issue_ps);
  s.last_done_ps = std::max(s.last_done_ps, channel_free_ps_);
  const uint64_t lat = channel_free_ps_ - issue_ps;
  s.latency_sum_ps += lat * (last - first + 1);
  s.latency_max_ps = std::max(s.latency_max_ps, lat);
  s.latency_hist[std::min<uint64_t>(lat / s.latency_bin_ps, s.latency_hist.size() - 1)] += last - first + 1;
  if (bursts) {
    // Burst i moves its line in [offset(i), offset(i + 1)) after data_start; offset(i) rounds
    // i * line * ps_per_byte. When a line takes a whole number of ps the bursts are one run.
    const uint64_t lines = last - first + 1;
    if (line_ps_ != 0 && line_ps_ <= INT32_MAX && line_ <= INT32_MAX) {
      DramBurst b{};
      b.t_arrive_ps = issue_ps;
      b.t_data_ps = data_start;
      b.t_done_ps = data_start + line_ps_;
      b.address = first * line_;
      b.kind = 3;
      b.count = static_cast<uint32_t>(lines);
      b.step_ps = static_cast<int32_t>(line_ps_);
      b.step_address = static_cast<int32_t>(line_);
      bursts->push_back(b);
    } else {
      for (uint64_t i = 0; i < lines; ++i) {
        DramBurst b{};
        b.t_arrive_ps = issue_ps;
        b.t_data_ps = data_start + static_cast<uint64_t>(std::llround(i * line_ * ps_per_byte_));
        b.t_done_ps = data_start + static_cast<uint64_t>(std::llround((i + 1) * line_ * ps_per_byte_));
        b.address = (first + i) * line_;
        b.kind = 3;
        bursts->push_back(b);
      }
    }
  }
  return channel_free_ps_;
}

std::string DramTimingSimple::spec_text() const {
  std::ostringstream os;
  os.precision(17);
  os << "policy|0|code|simple: latency + bandwidth\n";
  os << "latency_ns|" << latency_ps_ / 1000.0 << "|ns|config dram_latency_ns\n";
  os << "line_bytes|" << line_ << "|B|config dram_line_bytes\n";
  os << "peak_gbps|" << bandwidth_gbps_ << "|GB/s|config dram_bandwidth_gbps\n";
  return os.str();
}

std::string dram_stats_text(const DramStats& s, double peak_gbps) {
  std::ostringstream os;
  os.precision(17);
  auto u = [&](const char* name, uint64_t v, const char* unit) { os << name << '|' << v << '|' << unit << '\n'; };
  auto r = [&](const char* name, double v, const char* unit) { os << name << '|' << v << '|' << unit << '\n'; };
  u("accesses", s.accesses, "count");
  u("bursts", s.bursts, "count");
  u("bytes_read", s.bytes_read, "B");
  u("bytes_written", s.bytes_written, "B");
  u("row_hits", s.row_hits, "count");
  u("row_misses", s.row_misses, "count");
  u("row_conflicts", s.row_conflicts, "count");
  u("activates", s.activates, "count");
  u("precharges", s.precharges, "count");
  u("refreshes", s.refreshes, "count");
  r("refresh_ns", s.refresh_ps / 1000.0, "ns");
  r("data_busy_ns", s.data_busy_ps / 1000.0, "ns");
  r("queue_full_ns", s.queue_full_ps / 1000.0, "ns");
  const bool any = s.bursts > 0;
  r("first_arrival_ns", any ? s.first_arrival_ps / 1000.0 : 0.0, "ns");
  r("last_done_ns", s.last_done_ps / 1000.0, "ns");
  const double span = any ? (s.last_done_ps - s.first_arrival_ps) / 1000.0 : 0.0;
  r("achieved_gbps", span > 0 ? (s.bytes_read + s.bytes_written) / span : 0.0, "GB/s");
  r("peak_gbps", peak_gbps, "GB/s");
  r("latency_mean_ns", any ? s.latency_sum_ps / 1000.0 / s.bursts : 0.0, "ns");
  r("latency_max_ns", s.latency_max_ps / 1000.0, "ns");
  // Percentiles from the histogram: the upper edge of the bin that holds the quantile.
  for (double q : {0.5, 0.95, 0.99}) {
    double v = 0;
    if (any) {
      const uint64_t need = static_cast<uint64_t>(std::ceil(q * s.bursts));
      uint64_t acc = 0;
      for (size_t i = 0; i < s.latency_hist.size(); ++i) {
        acc += s.latency_hist[i];
        if (acc >= need) {
          v = (i + 1) * s.latency_bin_ps / 1000.0;
          break;
        }
      }
      v = std::min(v, s.latency_max_ps / 1000.0);
    }
    os << "latency_p" << static_cast<int>(q * 100) << "_ns|" << v << "|ns\n";
  }
  return os.str();
}

std::unique_ptr<DramTiming> make_dram_timing(const Config& cfg) {
  // Config::validate() admits only the policies listed here.
  if (cfg.dram_timing == 1) return std::make_unique<DramTimingBanked>(cfg);
  return std::make_unique<DramTimingSimple>(cfg.dram_latency_ns, cfg.dram_bandwidth_gbps,
                                            static_cast<uint32_t>(cfg.dram_line_bytes));
}

}  // namespace a3
