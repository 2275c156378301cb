// dram_timing.h - the DRAM timing interface. The DRAM target asks its policy how long an access
// takes; one implementation per policy, chosen by Config::dram_timing:
//   0 simple  (dram_timing_simple.*): latency + bandwidth on one shared data channel;
//   1 banked  (dram_timing_banked.*): channels, ranks, bank groups, banks, rows, refresh, FR-FCFS.
// Every policy keeps typed statistics (DramStats) and, when asked, describes each DRAM burst it
// scheduled (DramBurst) so that the trace recorder can keep them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "soc/a3_config.h"

namespace a3 {

// One DRAM burst as a policy scheduled it (times in ps, absolute), or a run of `count` bursts
// that follow it at fixed steps: burst i arrives at t_arrive_ps, moves its data in
// [t_data_ps + i * step_ps, t_done_ps + i * step_ps) at address + i * step_address, with the same
// row, bank and kind (a policy reports a run only where that holds exactly).
struct DramBurst {
  uint64_t t_arrive_ps;  // the request reached the controller
  uint64_t t_data_ps;    // its data transfer started on the channel's data bus
  uint64_t t_done_ps;    // its data transfer ended
  uint64_t address;      // burst-aligned byte address (offset inside the DRAM)
  uint32_t row;
  uint8_t channel, rank, bank;  // bank = bank group * banks per group + bank
  uint8_t kind;                 // 0 row hit, 1 row miss (bank closed), 2 row conflict, 3 not modelled
  uint32_t count = 1;
  int32_t step_ps = 0;
  int32_t step_address = 0;
};
// Statistics of a policy since construction or the last reset (times in ps, sizes in bytes).
struct DramStats {
  uint64_t accesses = 0;    // TLM transactions
  uint64_t bursts = 0;      // DRAM bursts (requests after splitting)
  uint64_t bytes_read = 0;  // bytes moved on the data bus (whole bursts)
  uint64_t bytes_written = 0;
  uint64_t row_hits = 0, row_misses = 0, row_conflicts = 0;
  uint64_t activates = 0, precharges = 0;
  uint64_t refreshes = 0;     // all-bank refresh commands (per rank)
  uint64_t refresh_ps = 0;    // rank time spent refreshing (tRFC per refresh)
  uint64_t data_busy_ps = 0;  // data-bus busy time summed over channels
  uint64_t first_arrival_ps = UINT64_MAX, last_done_ps = 0;
  uint64_t latency_sum_ps = 0, latency_max_ps = 0;  // per burst: arrival -> end of data
  uint64_t queue_full_ps = 0;                       // time requests waited for a free controller queue entry
  std::vector<uint64_t> latency_hist;               // per-burst latency, bins of latency_bin_ps; last bin = overflow
  uint64_t latency_bin_ps = 1000;
};

class DramTiming {
 public:
  virtual ~DramTiming() = default;
  // An access of `bytes` at `address` issued at absolute time `issue_ps` completes at the
  // returned absolute time (ps). Policies may keep state (channel occupancy, open rows). If
  // `bursts` is given, the policy appends one DramBurst per burst it scheduled.
  virtual uint64_t access(uint64_t address, uint32_t bytes, bool write, uint64_t issue_ps,
                          std::vector<DramBurst>* bursts = nullptr) = 0;
  virtual const char* name() const = 0;
  virtual const DramStats& stats() const = 0;
  virtual void reset_stats() = 0;
  // Bytes one DRAM burst moves (the smallest access).
  virtual uint32_t burst_bytes() const = 0;
  // Peak data bandwidth of the whole memory (GB/s = B/ns).
  virtual double peak_gbps() const = 0;
  // The resolved parameters: one line per value, "name|value|unit|source".
  virtual std::string spec_text() const = 0;
};

std::unique_ptr<DramTiming> make_dram_timing(const Config& cfg);

// "name|value|unit" lines of a stats block (value printed as an integer or a real).
std::string dram_stats_text(const DramStats& s, double peak_gbps);

}  // namespace a3
