#include "a3/register_file.h"

#include <cstring>

namespace a3 {

using namespace sc_core;

RegisterFile::RegisterFile(sc_module_name name, const Config& cfg)
    : sc_module(name), target_socket("target_socket"), irq("irq"), cfg_(cfg), latency_(cfg.reg_latency_ns, SC_NS) {
  target_socket.register_b_transport(this, &RegisterFile::b_transport);
  target_socket.register_transport_dbg(this, &RegisterFile::transport_dbg);
}

void RegisterFile::soft_reset() {
  status_ &= ~(status::ERROR | (0xFFu << status::LAST_ERROR_SHIFT));
  irq_status_ = 0;
  sq_head_ = sq_tail_ = 0;
  cq_head_ = cq_tail_ = 0;
  cq_phase_ = 1;
  perf_.fill(0);
  update_irq();
  if (on_soft_reset) on_soft_reset();
}

bool RegisterFile::take_pending_reset() {
  bool r = pending_reset_;
  pending_reset_ = false;
  return r;
}

void RegisterFile::advance_cq_tail() {
  if (++cq_tail_ >= cq_size_) {
    cq_tail_ = 0;
    cq_phase_ ^= 1;
  }
}

void RegisterFile::set_busy(bool busy) {
  if (busy)
    status_ |= status::BUSY;
  else
    status_ &= ~status::BUSY;
}

void RegisterFile::record_error(Error e) {
  status_ = (status_ & ~(0xFFu << status::LAST_ERROR_SHIFT)) | status::ERROR |
            (static_cast<uint32_t>(e) << status::LAST_ERROR_SHIFT);
}

bool RegisterFile::raise_irq(uint32_t bits) {
  const bool was = (irq_status_ & irq_enable_) != 0;
  irq_status_ |= bits;
  update_irq();
  return !was && (irq_status_ & irq_enable_) != 0;
}

void RegisterFile::update_irq() { irq.write((irq_status_ & irq_enable_) != 0); }

bool RegisterFile::read_reg(uint32_t off, uint32_t& v) {
  switch (off) {
    case reg::ID: v = DEVICE_ID; return true;
    case reg::VERSION: v = DEVICE_VERSION; return true;
    case reg::CTRL: v = ctrl_ & ctrl::ENABLE; return true;
    case reg::STATUS: v = status_ | (enabled() ? status::ENABLED : 0); return true;
    case reg::IRQ_STATUS: v = irq_status_; return true;
    case reg::IRQ_ENABLE: v = irq_enable_; return true;
    case reg::IRQ_ACK: v = 0; return true;
    case reg::SCRATCH: v = scratch_; return true;
    case reg::SQ_BASE_LO: v = sq_base_lo_; return true;
    case reg::SQ_BASE_HI: v = sq_base_hi_; return true;
    case reg::SQ_SIZE: v = sq_size_; return true;
    case reg::SQ_HEAD: v = sq_head_; return true;
    case reg::SQ_TAIL: v = sq_tail_; return true;
    case reg::CQ_BASE_LO: v = cq_base_lo_; return true;
    case reg::CQ_BASE_HI: v = cq_base_hi_; return true;
    case reg::CQ_SIZE: v = cq_size_; return true;
    case reg::CQ_HEAD: v = cq_head_; return true;
    case reg::CQ_TAIL: v = cq_tail_; return true;
    case reg::CAP_N_MAX: v = static_cast<uint32_t>(cfg_.n_max); return true;
    case reg::CAP_D_MAX: v = static_cast<uint32_t>(cfg_.d_max); return true;
    case reg::CAP_Q_ROWS: v = static_cast<uint32_t>(cfg_.q_rows); return true;
    case reg::CAP_CLOCK_MHZ: v = static_cast<uint32_t>(cfg_.clock_mhz); return true;
    case reg::CAP_BURST_BYTES: v = static_cast<uint32_t>(cfg_.burst_bytes); return true;
    case reg::CAP_FEATURES:
      v = feat::APPROX | feat::MIN_SKIP | (cfg_.device_sorter != 0 ? feat::DEVICE_SORTER : 0u) |
          (cfg_.datapath != 0 ? feat::FIXED_POINT : 0u);
      return true;
    case reg::CAP_QUEUE_MAX: v = QUEUE_ENTRIES_MAX; return true;
    case reg::CAP_ITER_BITS: v = static_cast<uint32_t>(cfg_.iter_counter_bits); return true;
    case reg::RES_KV_TAG_LO: v = static_cast<uint32_t>(res_tag_); return true;
    case reg::RES_KV_TAG_HI: v = static_cast<uint32_t>(res_tag_ >> 32); return true;
    case reg::RES_FLAGS: v = res_flags_; return true;
    case reg::PERF_CLEAR: v = 0; return true;
    default: break;
  }
  if (off >= reg::PERF_BASE && off < reg::PERF_BASE + 8 * static_cast<uint32_t>(Perf::COUNT)) {
    uint64_t c = perf_[(off - reg::PERF_BASE) / 8];
    if ((off & 7) == 0) {
      perf_hi_latch_ = static_cast<uint32_t>(c >> 32);
      v = static_cast<uint32_t>(c);
    } else if ((off & 7) == 4) {
      v = perf_hi_latch_;
    } else {
      return false;
    }
    return true;
  }
  return false;
}

bool RegisterFile::write_reg(uint32_t off, uint32_t v, const sc_time& when) {
  switch (off) {
    case reg::CTRL: {
      bool was = enabled();
      ctrl_ = v & ctrl::ENABLE;
      if (v & ctrl::SOFT_RESET) {
        if (status_ & status::BUSY) {
          pending_reset_ = true;
          reset_ev.notify(when - sc_time_stamp());
        } else
          soft_reset();
      }
      if (!was && enabled()) {
        doorbell_ps_ = when.value();
        doorbell_ev.notify(when - sc_time_stamp());
      }
      return true;
    }
    case reg::IRQ_ENABLE:
      irq_enable_ = v & (irq::DONE | irq::ERROR);
      update_irq();
      return true;
    case reg::IRQ_ACK:
      irq_status_ &= ~v;
      update_irq();
      return true;
    case reg::SCRATCH: scratch_ = v; return true;
    case reg::SQ_BASE_LO: sq_base_lo_ = v; return true;
    case reg::SQ_BASE_HI: sq_base_hi_ = v; return true;
    case reg::SQ_SIZE: sq_size_ = v; return true;
    case reg::SQ_TAIL:
      sq_tail_ = v;
      doorbell_ps_ = when.value();
      doorbell_ev.notify(when - sc_time_stamp());
      return true;
    case reg::CQ_BASE_LO: cq_base_lo_ = v; return true;
    case reg::CQ_BASE_HI: cq_base_hi_ = v; return true;
    case reg::CQ_SIZE: cq_size_ = v; return true;
    case reg::CQ_HEAD: cq_head_ = v; return true;
    case reg::PERF_CLEAR:
      if (v & 1) perf_.fill(0);
      return true;
    default: break;
  }
  // Read-only registers ignore writes (as documented); unmapped offsets are an address error.
  uint32_t dummy;
  return read_reg(off, dummy);
}

void RegisterFile::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
  const uint64_t off = trans.get_address();
  // 32-bit accesses only: no byte enables (the matching error response, IEEE 1666 14.15), one
  // aligned word, no streaming.
  if (trans.get_byte_enable_ptr() != nullptr) {
    trans.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    return;
  }
  if (trans.get_data_length() != 4 || (off & 3) != 0 || trans.get_streaming_width() < 4 ||
      trans.get_data_ptr() == nullptr) {
    trans.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
    return;
  }
  delay += latency_;
  uint32_t v = 0;
  bool ok;
  if (trans.is_write()) {
    std::memcpy(&v, trans.get_data_ptr(), 4);
    ok = write_reg(static_cast<uint32_t>(off), v, sc_time_stamp() + delay);
  } else {
    ok = read_reg(static_cast<uint32_t>(off), v);
    if (ok) std::memcpy(trans.get_data_ptr(), &v, 4);
  }
  trans.set_response_status(ok ? tlm::TLM_OK_RESPONSE : tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

unsigned int RegisterFile::transport_dbg(tlm::tlm_generic_payload& trans) {
  // Debug reads do not latch the performance-counter high words and never write.
  if (!trans.is_read() || trans.get_data_length() != 4) return 0;
  uint32_t v = 0;
  uint32_t saved_latch = perf_hi_latch_;
  bool ok = read_reg(static_cast<uint32_t>(trans.get_address()), v);
  perf_hi_latch_ = saved_latch;
  if (!ok) return 0;
  std::memcpy(trans.get_data_ptr(), &v, 4);
  return 4;
}

}  // namespace a3
