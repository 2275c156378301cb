// stream_prefetcher.h - the sequential prefetcher that streams K/V rows beyond the SRAM banks from
// DRAM (docs/spec.md 2, paper Sec. III-C; docs/timing-model.md section 6.6).
//
// In an exact ATTEND on K/V loaded with the STREAM flag (n > n_max), the dot-product stage reads
// each query's rows 0 .. n_max-1 from the key bank and rows n_max .. n-1 from the K stream; the
// output stage reads the value bank and the V stream the same way. No SRAM holds the streamed rows,
// so each stream reads them from DRAM again for every query. Each stream has a prefetch buffer of
// stream_depth lines of stream_line_bytes: line k is issued one cycle after line k-1 and only once
// line k - depth has been consumed (its slot is free); a row is consumed on a clock edge at or after
// the arrival of the line holding its last byte, at most one row per cycle. Every line is a DMA read
// burst on the bus, traced and counted by the DRAM like any other.
//
// plan() issues all the lines of a job at their times (no wait: loosely timed) and returns the
// exact pipeline's stage schedule with these stalls, in cycles from the compute start; the compute
// core then waits once per stage. Function apart from timing: K() and V() hold all n rows (the bank
// rows copied, the streamed rows as the bursts brought them) for the exact kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "a3/dma_engine.h"
#include "a3/timing_model.h"
#include "soc/a3_config.h"

namespace a3 {

class StreamPrefetcher {
 public:
  StreamPrefetcher(const Config& cfg, DmaEngine& dma) : cfg_(cfg), dma_(dma) {}

  struct Job {
    uint32_t n, d, m;              // all rows, row length, queries
    uint32_t bank_rows;            // rows the banks hold (n_max); rows bank_rows .. n-1 stream
    uint64_t addr_k, addr_v;       // DRAM address of row 0 of K and of V
    const float *bank_k, *bank_v;  // the key and value banks
    uint32_t job;                  // trace job id
  };
  struct Plan {
    TimingModel::Schedule sched;        // exact pipeline, cycles from the compute start
    DmaEngine::Result res;              // ok, or the first failing burst
    uint64_t fail_ps = 0;               // when that burst completed (absolute)
    uint64_t lines = 0;                 // bursts issued (both streams)
    uint64_t stall_cycles[2] = {0, 0};  // dot-product / output stage cycles spent waiting for data
  };
  Plan plan(const Job& job, uint64_t t0_ps);

  const float* K() const { return k_.data(); }
  const float* V() const { return v_.data(); }

 private:
  struct Cursor;
  const Config& cfg_;
  DmaEngine& dma_;
  std::vector<float> k_, v_;
};

}  // namespace a3
