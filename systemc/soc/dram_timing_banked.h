// dram_timing_banked.h - a DRAM controller and device timing policy with channels, ranks, bank
// groups, banks and rows (docs/memory-model.md).
//
// Each TLM access is split into bursts (burst_bytes of the preset, aligned). Each burst is decoded
// (address mapping), queued in its channel's controller (bounded queue), and scheduled against
// per-bank state (open row, earliest ACT / column / PRE times), the rank's activate window (tRRD,
// tFAW), refresh (all-bank, tRFC every tREFI per rank, ranks staggered), write-to-read turnaround
// (tWTR) and the occupancy of the channel's data bus (tBURST) and of each bank group's column path
// (tCCD_L). FR-FCFS: a burst takes the earliest data-bus slot at which it is ready, so a row hit
// that arrives after a row miss can pass it; in-order: data slots follow arrival order.
//
// Loosely timed: requests are scheduled in the order their b_transport calls arrive, each at its
// annotated time; a bank's state only moves forward, so a request that arrives (in call order)
// after a later one to the same bank waits behind it.
#pragma once

#include <map>
#include <vector>

#include "soc/dram_timing.h"

namespace a3 {

// A DRAM standard's geometry and timing. Times in ps.
struct DramSpec {
  struct Param {
    std::string name;
    double value;
    std::string unit, source;
  };
  std::string name;
  double tck_ps = 0;
  uint32_t channels = 1, ranks = 1, bankgroups = 1, banks_per_group = 1;
  uint32_t bursts_per_row = 1;  // columns of a row in bursts
  uint32_t burst_bytes = 64;
  uint64_t rows = 1;
  uint64_t tRCD = 0, tCL = 0, tCWL = 0, tRP = 0, tRAS = 0, tCCD_S = 0, tCCD_L = 0, tBURST = 0, tWR = 0, tWTR_S = 0,
           tWTR_L = 0, tRTP = 0, tRRD_S = 0, tRRD_L = 0, tFAW = 0, tREFI = 0, tRFC = 0;
  std::vector<Param> params;  // every value with its source, for docs and the API

  uint32_t banks() const { return bankgroups * banks_per_group; }
  double peak_gbps() const { return channels * static_cast<double>(burst_bytes) / (tBURST / 1000.0); }
};

// Preset 1 DDR4-3200, 2 LPDDR4-4266, 3 HBM2 (one pseudo-channel), 4 HBM2 (a stack of 16
// pseudo-channels); channels / ranks of the config override the preset's when non-zero.
DramSpec dram_spec(const Config& cfg);

class DramTimingBanked final : public DramTiming {
 public:
  explicit DramTimingBanked(const Config& cfg);
  explicit DramTimingBanked(const DramSpec& spec, int mapping = 0, bool closed_page = false, bool in_order = false,
                            uint32_t queue_depth = 32, bool refresh = true);
  uint64_t access(uint64_t address, uint32_t bytes, bool write, uint64_t issue_ps,
                  std::vector<DramBurst>* bursts = nullptr) override;
  const char* name() const override { return "banked"; }
  const DramStats& stats() const override;
  void reset_stats() override;
  double peak_gbps() const override { return spec_.peak_gbps(); }
  uint32_t burst_bytes() const override { return spec_.burst_bytes; }
  std::string spec_text() const override;
  const DramSpec& spec() const { return spec_; }

  struct Location {
    uint32_t channel, rank, bankgroup, bank, column;
    uint64_t row;
  };
  Location decode(uint64_t address) const;

 private:
  // Busy intervals [start, end) of a resource, non-overlapping, kept sorted.
  class Timeline {
   public:
    // Earliest t >= from such that [t, t + len) is free.
    uint64_t find(uint64_t from, uint64_t len) const;
    void add(uint64_t start, uint64_t len);
    void prune(uint64_t before);
    uint64_t tail() const { return iv_.empty() ? 0 : iv_.rbegin()->second; }

   private:
    std::map<uint64_t, uint64_t> iv_;
  };
  struct Bank {
    bool open = false;
    uint64_t row = 0;
    uint64_t act_ok = 0;         // earliest ACT
    uint64_t col_ok = 0;         // earliest RD/WR
    uint64_t pre_ok = 0;         // earliest PRE (tRAS, tRTP, tWR)
    uint64_t refresh_epoch = 0;  // refresh windows of its rank seen so far
  };
  struct Rank {
    std::vector<uint64_t> acts;  // recent ACT times, ascending
    std::vector<uint64_t> bg_last_act;
    uint64_t last_act = 0;
    std::vector<uint64_t> bg_wr_end;  // end of the last write data per bank group
    uint64_t wr_end = 0;
    bool any_act = false;
  };
  struct Channel {
    std::vector<Bank> banks;  // rank-major
    std::vector<Rank> ranks;
    Timeline data;                   // data bus
    std::vector<Timeline> bg_col;    // per rank x bank group: column path (tCCD_L)
    std::vector<uint64_t> inflight;  // min-heap of done times of queued bursts
    uint64_t max_seen = 0;
  };

  uint64_t schedule(uint64_t address, bool write, uint64_t arrive, DramBurst* out);
  uint64_t refresh_offset(uint32_t rank) const { return (spec_.tREFI / spec_.ranks) * rank; }
  uint64_t epoch(uint32_t rank, uint64_t t) const;
  // If [a, b) meets a refresh window of `rank`, the end of that window; else 0.
  uint64_t refresh_clash(uint32_t rank, uint64_t a, uint64_t b) const;
  uint64_t act_time(Rank& r, uint32_t bg, uint64_t t) const;

  DramSpec spec_;
  int mapping_;
  bool closed_page_, in_order_, refresh_;
  uint32_t queue_depth_;
  std::vector<Channel> ch_;
  std::vector<std::pair<int, uint32_t>> fields_;  // (field, bits) from the LSB up, after the burst offset
  uint32_t offset_bits_ = 6;
  mutable DramStats stats_;
};

}  // namespace a3
