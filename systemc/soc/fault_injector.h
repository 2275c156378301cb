// fault_injector.h - faults on demand, for host-integration tests of driver software: DMA error
// responses from DRAM (at an address, or with a seeded probability per burst), lost and late
// interrupts, a unit that hangs with BUSY stuck at 1, and completion records with a flipped bit.
// Armed by the fi_* configuration entries at start and by a3sim::fault_set() at any time;
// docs/descriptors.md section 9 says what each fault looks like to the host and how it recovers.
// Every draw comes from one seeded generator, so a run with faults is as deterministic as one
// without.
#pragma once

#include <cstdint>
#include <string>

#include "soc/a3_config.h"

namespace a3 {

class FaultInjector {
 public:
  explicit FaultInjector(const Config& cfg);

  // Set one fault by its configuration name (fi_*). Returns "" or a message.
  std::string set(const std::string& name, double value);

  // ---- hooks of the components ----
  // DRAM: answer this burst [address, address + bytes) with an error response?
  bool dma_error(uint64_t address, uint64_t bytes);
  // Host bridge: lose this interrupt? / extra delay of every delivery (ps).
  bool take_irq_drop();
  uint64_t irq_delay_ps() const { return irq_delay_ps_; }
  // Control unit: hang on this descriptor?
  bool take_stuck_busy();
  // Control unit: throw a C++ exception inside the simulation on this descriptor? (A stand-in for
  // a model bug or a host limit; not a device fault, so not counted by kind.)
  bool take_model_exception();
  // Completion write: flip one bit of the record? `bit` receives the bit index (0..223, never the
  // phase byte, so that the host sees the record and checks it).
  bool take_corrupt_completion(uint32_t& bit);

  // Faults injected so far, by kind.
  enum Kind { DMA_ADDRESS = 0, DMA_RANDOM, IRQ_DROP, STUCK_BUSY, CORRUPT_COMPLETION, KINDS };
  uint64_t injected(int kind) const { return (kind >= 0 && kind < KINDS) ? injected_[kind] : 0; }

 private:
  uint64_t next();  // splitmix64

  int64_t dma_address_ = -1;
  double dma_rate_ = 0;
  uint64_t state_ = 0;
  uint64_t irq_drop_ = 0, stuck_busy_ = 0, corrupt_ = 0, model_exception_ = 0;
  uint64_t irq_delay_ps_ = 0;
  uint64_t injected_[KINDS] = {};
};

}  // namespace a3
