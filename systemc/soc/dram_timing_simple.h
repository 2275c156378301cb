// dram_timing_simple.h - latency + bandwidth DRAM policy with one shared data channel.
//
//   data_start = max(issue + latency, channel_free);  done = data_start + bytes / bandwidth
//
// Independent requests overlap their latency; the data transfers serialise on the channel, so a
// stream of pipelined bursts reaches the peak bandwidth and concurrent initiators contend.
#pragma once

#include "soc/dram_timing.h"

namespace a3 {

class DramTimingSimple final : public DramTiming {
 public:
  DramTimingSimple(double latency_ns, double bandwidth_gbps);
  uint64_t access(uint64_t address, uint32_t bytes, bool write, uint64_t issue_ps) override;
  const char* name() const override { return "simple"; }

 private:
  uint64_t latency_ps_;
  double ps_per_byte_;
  uint64_t channel_free_ps_ = 0;
};

}  // namespace a3
