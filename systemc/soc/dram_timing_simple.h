// dram_timing_simple.h - latency + bandwidth DRAM policy with one shared data channel.
//
//   lines      = DRAM lines (dram_line_bytes) the access touches: a DRAM access moves whole bursts
//   data_start = max(issue + latency, channel_free);  done = data_start + lines * line / bandwidth
//
// Independent requests overlap their latency; the data transfers serialise on the channel, so a
// stream of pipelined bursts reaches the peak bandwidth and concurrent initiators contend.
#pragma once

#include "soc/dram_timing.h"

namespace a3 {

class DramTimingSimple final : public DramTiming {
 public:
  DramTimingSimple(double latency_ns, double bandwidth_gbps, uint32_t line_bytes = 64);
  uint64_t access(uint64_t address, uint32_t bytes, bool write, uint64_t issue_ps,
                  std::vector<DramBurst>* bursts = nullptr) override;
  const char* name() const override { return "simple"; }
  const DramStats& stats() const override { return stats_; }
  void reset_stats() override;
  double peak_gbps() const override { return bandwidth_gbps_; }
  uint32_t burst_bytes() const override { return line_; }
  std::string spec_text() const override;

 private:
  uint64_t latency_ps_;
  double bandwidth_gbps_, ps_per_byte_;
  uint32_t line_;
  uint64_t line_ps_ = 0;  // ps per line when a whole number, else 0
  uint64_t channel_free_ps_ = 0;
  DramStats stats_;
};

}  // namespace a3
