// register_file.h - the A3 unit's MMIO registers (layout in a3_protocol.h, docs/register-map.md).
// Software-visible state lives here; the device's control unit reads and updates it through the
// methods below. Writes to read-only registers are ignored; an offset outside the map answers
// with TLM_ADDRESS_ERROR_RESPONSE.
#pragma once

#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <array>
#include <functional>

#include "a3/a3_protocol.h"
#include "soc/a3_config.h"

namespace a3 {

class RegisterFile : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<RegisterFile> target_socket;
  sc_core::sc_out<bool> irq;  // level: (IRQ_STATUS & IRQ_ENABLE) != 0

  sc_core::sc_event doorbell_ev;  // SQ_TAIL written or the unit enabled
  sc_core::sc_event reset_ev;     // SOFT_RESET written while the unit is busy (it is pending)

  RegisterFile(sc_core::sc_module_name name, const Config& cfg);

  // ---- device side ----
  bool enabled() const { return ctrl_ & ctrl::ENABLE; }
  bool sq_pending() const { return sq_head_ != sq_tail_; }
  uint64_t sq_base() const { return (uint64_t(sq_base_hi_) << 32) | sq_base_lo_; }
  uint64_t cq_base() const { return (uint64_t(cq_base_hi_) << 32) | cq_base_lo_; }
  uint32_t sq_size() const { return sq_size_; }
  uint32_t sq_head() const { return sq_head_; }
  uint32_t sq_tail() const { return sq_tail_; }
  uint32_t cq_size() const { return cq_size_; }
  uint32_t cq_head() const { return cq_head_; }
  uint32_t cq_tail() const { return cq_tail_; }
  uint8_t cq_phase() const { return cq_phase_; }
  uint64_t doorbell_ps() const { return doorbell_ps_; }

  void set_sq_head(uint32_t h) { sq_head_ = h; }
  void advance_cq_tail();
  void set_busy(bool busy);
  void record_error(Error e);
  // Sets IRQ_STATUS bits; true if the interrupt line went from low to high.
  bool raise_irq(uint32_t bits);
  void count(Perf p, uint64_t v) { perf_[static_cast<size_t>(p)] += v; }
  uint64_t perf(Perf p) const { return perf_[static_cast<size_t>(p)]; }
  // SOFT_RESET was requested while the unit was busy: the control unit applies it when idle.
  bool take_pending_reset();
  bool reset_pending() const { return pending_reset_; }
  void soft_reset();
  // Called by soft_reset() so that the unit drops its bank state too.
  std::function<void()> on_soft_reset;
  // Bank residency the unit publishes (RES_KV_TAG_LO/HI, RES_FLAGS): set by the control unit.
  void set_residency(uint64_t kv_tag, uint32_t flags) {
    res_tag_ = kv_tag;
    res_flags_ = flags;
  }

  // Host-visible value of a register (also used by tests through transport_dbg).
  bool read_reg(uint32_t offset, uint32_t& value);

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  unsigned int transport_dbg(tlm::tlm_generic_payload& trans);
  bool write_reg(uint32_t offset, uint32_t value, const sc_core::sc_time& when);
  void update_irq();

  const Config& cfg_;
  sc_core::sc_time latency_;
  uint32_t ctrl_ = 0, status_ = 0, irq_status_ = 0, irq_enable_ = 0, scratch_ = 0;
  uint64_t res_tag_ = 0;
  uint32_t res_flags_ = 0;
  uint32_t sq_base_lo_ = 0, sq_base_hi_ = 0, sq_size_ = 0, sq_head_ = 0, sq_tail_ = 0;
  uint32_t cq_base_lo_ = 0, cq_base_hi_ = 0, cq_size_ = 0, cq_head_ = 0, cq_tail_ = 0;
  uint8_t cq_phase_ = 1;
  bool pending_reset_ = false;
  uint64_t doorbell_ps_ = 0;
  uint32_t perf_hi_latch_ = 0;
  std::array<uint64_t, static_cast<size_t>(Perf::COUNT)> perf_{};
};

}  // namespace a3
