// system_bus.h - address decoder/router between the initiators (host bridge, DMA engines) and the
// targets (DRAM, register files). Adds its latency to every transaction, arbitrates the DRAM port
// between the initiators (one grant per bus_grant_ns; round-robin or fixed priority), and, as an
// opt-in observer, records each transaction (time, wait for the grant, initiator, target, op,
// address, bytes, job, stream).
#pragma once

#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <systemc>
#include <tlm>

#include <string>
#include <utility>
#include <vector>

#include "soc/a3_config.h"
#include "soc/trace_recorder.h"

namespace a3 {

class SystemBus : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<SystemBus> target_socket;        // initiators bind here
  tlm_utils::multi_passthrough_initiator_socket<SystemBus> initiator_socket;  // to targets

  static constexpr uint8_t DECODE_ERROR = 255;

  SystemBus(sc_core::sc_module_name name, const Config& cfg, TraceRecorder* recorder);

  // Target `index` (the order of initiator_socket bindings) answers [base, base + size).
  void map(uint8_t index, uint64_t base, uint64_t size, const std::string& name);
  // Initiator `index` (the order of target_socket bindings) is called `name` in traces.
  void name_initiator(uint8_t index, const std::string& name) {
    if (initiator_names_.size() <= index) initiator_names_.resize(index + 1);
    initiator_names_[index] = name;
  }
  const std::vector<std::string>& initiator_names() const { return initiator_names_; }
  std::vector<std::string> target_names() const;

  uint64_t transactions = 0;
  uint64_t arbitration_wait_ps = 0;  // summed over DRAM transactions

 private:
  struct Region {
    uint64_t base, size;
    uint8_t target;
    std::string name;
  };
  const Region* decode(uint64_t addr, uint64_t len) const;
  void b_transport(int id, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  unsigned int transport_dbg(int id, tlm::tlm_generic_payload& trans);

  // The grant time (ps) of a DRAM-port request of initiator `id` arriving at `t`.
  uint64_t arbitrate(int id, uint64_t t);

  // The DRAM-port time granted to one initiator: disjoint intervals [start, end), sorted, with
  // touching grants merged (a DMA transfer's back-to-back grants are one interval). Intervals
  // before `head` are forgotten (behind the horizon of arbitrate()).
  struct Grants {
    std::vector<std::pair<uint64_t, uint64_t>> iv;
    size_t head = 0;
    // The end of the interval that holds t, or t when none does.
    uint64_t free_from(uint64_t t) const;
    // The first interval starting at or after t, as an index (iv.size() when none).
    size_t first_at_or_after(uint64_t t) const;
    void add(uint64_t start, uint64_t end);
    void forget_before(uint64_t t);
  };

  sc_core::sc_time latency_;
  uint64_t grant_ps_;
  bool fixed_priority_;
  std::vector<Grants> grants_;  // per initiator
  uint64_t latest_request_ = 0;
  TraceRecorder* recorder_;
  std::vector<Region> regions_;
  std::vector<std::string> initiator_names_;
};

}  // namespace a3
