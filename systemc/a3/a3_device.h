// a3_device.h - one A3 unit: register file, DMA engine, SRAM banks, compute core, and the
// control unit that works through the descriptor queue (fetch, validate, DMA in, compute,
// DMA out, completion record, interrupt). Device faults become status codes; the unit goes on
// with the next descriptor.
#pragma once

#include <systemc>

#include "soc/a3_config.h"
#include "a3/a3_protocol.h"
#include "a3/compute_core.h"
#include "a3/dma_engine.h"
#include "a3/register_file.h"
#include "a3/sram_bank.h"
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

  // K/V state of the banks.
  bool kv_loaded = false, sorted_loaded = false;
  uint32_t kv_n = 0, kv_d = 0;
  uint64_t kv_generation = 0;  // counts LOAD_KV jobs

 private:
  void control();
  void process_descriptor();
  Error execute(const Descriptor& desc, uint32_t job, JobRecord& rec, uint32_t& detail);
  Error validate(const Descriptor& desc, uint32_t& detail) const;
  void phase(uint32_t job, Phase p, uint64_t t0, uint64_t t1) { recorder_->phase(job, unit_, static_cast<uint8_t>(p), t0, t1); }
  bool queue_config_ok() const;
  void hang();  // fault injection: BUSY stuck until SOFT_RESET
  static Error dma_error(const DmaEngine::Result& r) {
    return r.status == tlm::TLM_ADDRESS_ERROR_RESPONSE ? Error::DMA_FAULT : Error::DMA_ERROR;
  }

  const Config& cfg_;
  uint8_t unit_;
  TraceRecorder* recorder_;
  FaultInjector* faults_;
  sc_core::sc_time cycle_;
};

}  // namespace a3
