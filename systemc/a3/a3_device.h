// a3_device.h - one A3 unit: register file, DMA engine, SRAM banks, compute core, and the
// control unit that works through the descriptor queue (fetch, validate, DMA in, compute,
// DMA out, completion record, interrupt). Device faults become status codes; the unit goes on
// with the next descriptor.
#pragma once

#include <systemc>

#include <array>
#include <vector>

#include "a3/a3_protocol.h"
#include "a3/compute_core.h"
#include "a3/dma_engine.h"
#include "a3/energy_model.h"
#include "a3/register_file.h"
#include "a3/sram_bank.h"
#include "a3/stream_prefetcher.h"
#include "soc/a3_config.h"
#include "soc/fault_injector.h"
#include "soc/trace_recorder.h"

namespace a3 {

class A3Device : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(A3Device);
  A3Device(sc_core::sc_module_name name, const Config& cfg, uint8_t unit, TraceRecorder* recorder,
           FaultInjector* faults = nullptr);

  RegisterFile regs;
  DmaEngine dma;
  SramBanks banks;
  ComputeCore core;
  StreamPrefetcher streamer;  // K/V rows beyond n_max (LOAD_KV with the STREAM flag)

  // K/V state of the banks.
  bool kv_loaded = false, sorted_loaded = false;
  uint64_t kv_tag = 0;  // the host's tag of the loaded K/V (LOAD_KV's M field)
  uint32_t kv_n = 0, kv_d = 0;
  uint64_t kv_generation = 0;  // counts LOAD_KV jobs
  bool kv_streamed = false;    // kv_n > n_max: rows n_max .. kv_n-1 stream from kv_addr_k / kv_addr_v
  uint64_t kv_addr_k = 0, kv_addr_v = 0;

 private:
  // What the job's traffic counters read at its start (DMA bytes, SRAM bytes per bank).
  struct TrafficMark {
    uint64_t dma_rd = 0, dma_wr = 0, sram_rd = 0, sram_wr = 0;
    std::array<uint64_t, 6> bank{};  // read + written, in SramBanks::all() order
  };

  void control();
  // One descriptor from the queue to its interrupt: the steps below, in order.
  void process_descriptor();
  void publish_residency();             // RES_* registers from kv_loaded, sorted_loaded, kv_tag
  bool take_prefetched();               // overlap: the prefetch thread fetched this descriptor already
  uint32_t begin_job(bool prefetched);  // job row, queue phase
  Error fetch(uint32_t job, uint32_t sq_index, bool prefetched, Descriptor& desc,
              uint32_t& detail);                                                          // queue check, fetch
  Error execute(const Descriptor& desc, uint32_t job, JobRecord& rec, uint32_t& detail);  // dispatch
  Error load_kv(const Descriptor& desc, uint32_t job, uint32_t& detail);
  Error load_sorted(const Descriptor& desc, uint32_t job, JobRecord& rec, uint32_t& detail);
  Error attend(const Descriptor& desc, uint32_t job, JobRecord& rec, uint32_t& detail);
  bool complete(uint32_t job, const Descriptor& desc, uint32_t sq_index, uint64_t t_start, Error& err,
                uint32_t& detail);  // completion record
  TrafficMark traffic_mark();
  void account(JobRecord& rec, const TrafficMark& start, uint64_t prefetched_ahead);  // traffic and energy
  void count(const JobRecord& rec, const Descriptor& desc, Error err);                // performance counters
  void interrupt(uint32_t job, const Descriptor& desc, Error err, bool completion_written, uint64_t t_end);

  Error validate(const Descriptor& desc, uint32_t& detail) const;
  void phase(uint32_t job, Phase p, uint64_t t0, uint64_t t1) {
    recorder_->phase(job, unit_, static_cast<uint8_t>(p), t0, t1);
  }
  bool queue_config_ok() const;
  // Overlap (config overlap = 1, docs/memory-model.md section 9): during an ATTEND's compute, the
  // prefetch thread fetches the next descriptor and, for an ATTEND, its queries into a second
  // query buffer; the control unit then starts that job without its own fetch and query DMA.
  void prefetch();
  struct Prefetch {
    bool busy = false, valid = false;
    uint32_t sq_index = 0, job = 0;
    Descriptor desc{};
    DmaEngine::Result fetch, queries;
    bool has_queries = false;
    uint64_t t_fetch0 = 0, t_fetch1 = 0, t_q0 = 0, t_q1 = 0, bytes = 0;
    std::vector<uint8_t> buffer;  // the second query buffer
  };
  Prefetch pf_;
  uint64_t pf_bytes_ = 0;            // DMA bytes the prefetch thread has read (charged to the jobs they belong to)
  bool prefetched_queries_ = false;  // the job in progress took its queries from the prefetch
  sc_core::sc_event prefetch_ev_, prefetch_done_ev_;
  void hang();  // fault injection: BUSY stuck until SOFT_RESET
  static Error dma_error(const DmaEngine::Result& r) {
    return r.status == tlm::TLM_ADDRESS_ERROR_RESPONSE ? Error::DMA_FAULT : Error::DMA_ERROR;
  }

  const Config& cfg_;
  uint8_t unit_;
  TraceRecorder* recorder_;
  FaultInjector* faults_;
  sc_core::sc_time cycle_;
  EnergyModel energy_;
};

}  // namespace a3
