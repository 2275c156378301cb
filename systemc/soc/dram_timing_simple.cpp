#include "soc/dram_timing_simple.h"

#include <algorithm>
#include <cmath>

namespace a3 {

DramTimingSimple::DramTimingSimple(double latency_ns, double bandwidth_gbps)
    : latency_ps_(static_cast<uint64_t>(std::llround(latency_ns * 1000.0))),
      ps_per_byte_(1000.0 / bandwidth_gbps) {}

uint64_t DramTimingSimple::access(uint64_t, uint32_t bytes, bool, uint64_t issue_ps) {
  uint64_t data_start = std::max(issue_ps + latency_ps_, channel_free_ps_);
  uint64_t transfer = static_cast<uint64_t>(std::llround(bytes * ps_per_byte_));
  channel_free_ps_ = data_start + transfer;
  return channel_free_ps_;
}

std::unique_ptr<DramTiming> make_dram_timing(const Config& cfg) {
  // Config::validate() admits only the policies listed here.
  return std::make_unique<DramTimingSimple>(cfg.dram_latency_ns, cfg.dram_bandwidth_gbps);
}

}  // namespace a3
