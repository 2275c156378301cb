// host_bridge.h - the host CPU's port into the SoC: a TLM initiator that performs MMIO for the
// Python driver (called between simulation runs, at the host's own time), and the receiver of
// the A3 interrupt lines. run() advances the simulation until an interrupt reaches host software.
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <systemc>
#include <tlm>

#include <vector>

#include "soc/a3_config.h"
#include "soc/fault_injector.h"
#include "soc/txn_tag.h"

namespace a3 {

class HostBridge : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(HostBridge);
  tlm_utils::simple_initiator_socket<HostBridge> initiator_socket;
  sc_core::sc_vector<sc_core::sc_in<bool>> irq;

  HostBridge(sc_core::sc_module_name name, const Config& cfg, unsigned units, FaultInjector* faults = nullptr);
  ~HostBridge() override;

  // MMIO from host software. Returns the TLM response status (TLM_OK_RESPONSE = 1).
  int mmio_read32(uint64_t address, uint32_t& value);
  int mmio_write32(uint64_t address, uint32_t value);
  // Timed host stores (host_stores = 1): the bytes [address, address + bytes) the host has just
  // written into DRAM go over the bus as cache-line writes (dram_line_bytes each), up to
  // host_store_outstanding in flight, one issued per host_store_issue_ns, tagged with `stream`.
  // Host time advances to the last line's completion. Returns 1, or the TLM status of a failed line.
  int store(uint64_t address, uint64_t bytes, uint8_t stream, const uint8_t* data);
  // Any transaction host software could issue (for fuzzing and protocol tests): `bytes` (1..4096)
  // at `address` with a streaming width, byte enables from a repeating 32-bit mask (bit i enables
  // byte i % 32; all ones = no byte-enable array) and, if `preset_ok`, a response status wrongly
  // preset to OK (a deliberate initiator bug for the protocol checker). Data: `data` (read:
  // filled). Returns the TLM response status.
  int raw(bool write, uint64_t address, uint8_t* data, uint32_t bytes, uint32_t streaming_width, uint32_t be_mask,
          bool preset_ok);

  // Simulate until an interrupt is delivered to the host, the simulation runs out of events, or
  // max_ns pass. Returns true if an interrupt was delivered.
  bool run(double max_ns);

  uint64_t host_time_ps() const { return host_ps_; }
  uint64_t last_irq_ps() const { return last_irq_ps_; }
  uint64_t irqs_delivered() const { return irqs_; }

 private:
  int mmio(bool write, uint64_t address, uint32_t& value);
  bool any_line() const;
  void on_irq_change();
  void deliver();

  FaultInjector* faults_;
  sc_core::sc_time mmio_latency_, irq_latency_;
  uint32_t line_;
  uint64_t store_issue_ps_;
  std::vector<uint64_t> store_ring_;
  tlm::tlm_generic_payload store_trans_;
  TxnTag store_tag_;
  sc_core::sc_event deliver_ev_;
  tlm::tlm_generic_payload trans_;
  TxnTag tag_;
  uint64_t host_ps_ = 0, last_irq_ps_ = 0, irqs_ = 0;
  bool delivered_ = false;  // an interrupt reached the host and its line is still high
  bool running_ = false;
};

}  // namespace a3
