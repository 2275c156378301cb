// dram.h - DRAM target: a lazily mapped backing store plus a pluggable timing policy.
// The host sees the store as numpy arrays without copies (host_ptr()); transport_dbg gives
// untimed, untraced access for preload and inspection.
#pragma once

#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <memory>

#include "soc/a3_config.h"
#include "soc/dram_timing.h"
#include "soc/fault_injector.h"
#include "soc/trace_recorder.h"

namespace a3 {

class Dram : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<Dram> target_socket;

  Dram(sc_core::sc_module_name name, const Config& cfg, TraceRecorder* recorder = nullptr,
       FaultInjector* faults = nullptr);
  ~Dram() override;

  uint8_t* host_ptr() { return store_; }
  uint64_t size() const { return size_; }
  const DramTiming& timing() const { return *timing_; }
  DramTiming& timing() { return *timing_; }

  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  unsigned int transport_dbg(tlm::tlm_generic_payload& trans);
  bool in_range(uint64_t addr, uint64_t len) const { return addr < size_ && len <= size_ - addr; }

  uint8_t* store_ = nullptr;
  uint64_t size_ = 0;
  std::unique_ptr<DramTiming> timing_;
  TraceRecorder* recorder_;
  std::vector<DramBurst> bursts_;  // scratch for the recorder
  FaultInjector* faults_;
};

}  // namespace a3
