// dram_timing.h - the DRAM timing interface. The DRAM target asks its policy how long an access
// takes; one implementation per policy (dram_timing_simple.*), chosen by Config::dram_timing.
// A detailed policy (banks, row buffers, refresh) slots in here without touching the target.
#pragma once

#include <cstdint>
#include <memory>

#include "soc/a3_config.h"

namespace a3 {

class DramTiming {
 public:
  virtual ~DramTiming() = default;
  // An access of `bytes` at `address` issued at absolute time `issue_ps` completes at the
  // returned absolute time (ps). Policies may keep state (channel occupancy, open rows).
  virtual uint64_t access(uint64_t address, uint32_t bytes, bool write, uint64_t issue_ps) = 0;
  virtual const char* name() const = 0;
};

std::unique_ptr<DramTiming> make_dram_timing(const Config& cfg);

}  // namespace a3
