// a3_device.h - one A3 unit: register file, DMA engine, SRAM banks, compute core, and the
// control unit that works through the descriptor queue (fetch, validate, DMA in, compute,
// DMA out, completion record, interrupt). Device faults become status codes; the unit goes on
// with the next descriptor.
#pragma once

#include <systemc>

#include <array>
#include <deque>
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
  // What the job's SRAM counters read at its start (bytes per bank).
  struct TrafficMark {
    uint64_t sram_rd = 0, sram_wr = 0;
    std::array<uint64_t, 6> bank{};  // read + written, in SramBanks::all() order
  };
  // A job between the end of its control-unit part and its interrupt (overlap: the writeback
  // thread finishes it while the next job runs).
  struct Done {
    uint32_t job = 0, sq_index = 0, detail = 0;
    Descriptor desc{};
    uint64_t t_start = 0;
    Error err = Error::OK;
    bool outputs = false;  // its outputs wait in the second output buffer
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
  // Outputs, row stats and set bitmaps to memory (the DMA_OUT phase).
  Error write_outputs(const Descriptor& desc, uint32_t job, const void* out, const void* stats, const void* sets,
                      uint64_t set_bytes, bool count_bank, uint32_t& detail);
  void finish(Done& dn);  // [output DMA,] completion record, accounting, interrupt
  bool complete(uint32_t job, const Descriptor& desc, uint32_t sq_index, uint64_t t_start, Error& err,
                uint32_t& detail);  // completion record
  TrafficMark traffic_mark();
  void account_sram(JobRecord& rec, const TrafficMark& start);          // SRAM bytes per bank
  void account(JobRecord& rec);                                         // DMA bytes, energy
  void count(const JobRecord& rec, const Descriptor& desc, Error err);  // performance counters
  void interrupt(uint32_t job, const Descriptor& desc, Error err, bool completion_written, uint64_t t_end);

  Error validate(const Descriptor& desc, uint32_t& detail) const;
  void phase(uint32_t job, Phase p, uint64_t t0, uint64_t t1) {
    recorder_->phase(job, unit_, static_cast<uint8_t>(p), t0, t1);
  }
  bool queue_config_ok() const;
  // Overlap (config overlap = 1, docs/memory-model.md section 8; a3_overlap.cpp): second banks.
  // While an ATTEND computes, the prefetch thread fetches the next descriptors (up to and with the
  // next ATTEND) and their K/V, sorted table or queries into second banks; the control unit takes
  // them instead of its own fetch and DMA. An ATTEND's outputs go to a second output buffer that the
  // writeback thread writes to memory, followed by the completion record and interrupt, while the
  // next job runs; every job's completion goes through that thread, in queue order.
  struct Prefetched {
    uint32_t sq_index = 0, job = 0;
    Descriptor desc{};
    DmaEngine::Result fetch, data;  // descriptor fetch; data DMA (K then V | table | queries)
    bool has_data = false;
    uint64_t t_fetch0 = 0, t_fetch1 = 0, t_d0 = 0, t_d1 = 0;
    std::vector<uint8_t> a, b;          // second banks: K and V | sorted table | queries
    uint64_t bytes_a = 0, bytes_b = 0;  // bytes moved into a and b (K and V counted apart)
  };
  void prefetch();
  bool prefetch_one(uint32_t sq_index, Prefetched& e);  // false: stop after this one
  void drop_prefetched();                               // forget what was fetched ahead
  Error hand_off(const Descriptor& desc);               // outputs into the second output buffer
  void writeback();
  void drain_writeback();  // until every finished job's completion and interrupt are out
  std::deque<Prefetched> pf_q_;
  Prefetched cur_pf_;  // the entry the job in progress took
  bool cur_pre_ = false, pf_busy_ = false;
  uint64_t pf_gen_ = 0;  // counts drops (soft resets): a prefetch that spans one is discarded
  std::deque<Done> wb_q_;
  bool wb_out_busy_ = false, out_pending_ = false;
  std::vector<uint8_t> wb_out_, wb_stats_, wb_sets_;  // the second output buffer
  sc_core::sc_event prefetch_ev_, prefetch_done_ev_, wb_ev_, wb_done_ev_;
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
