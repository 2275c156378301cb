#include "soc/dram.h"

#include <stdexcept>
#include <string>

#include <sys/mman.h>

#include <cstring>

#include "soc/txn_tag.h"

namespace a3 {

using namespace sc_core;

Dram::Dram(sc_module_name name, const Config& cfg, TraceRecorder* recorder, FaultInjector* faults)
    : sc_module(name),
      target_socket("target_socket"),
      size_(cfg.dram_bytes()),
      timing_(make_dram_timing(cfg)),
      recorder_(recorder),
      faults_(faults) {
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    // A host limit (address space, ulimit -v), which a user can meet: create() turns it into an
    // error message, the process survives (no SystemC error report).
    throw std::runtime_error("cannot map the DRAM backing store of " + std::to_string(size_ >> 20) +
                             " MiB (host address-space limit?): lower dram_mb");
  }
  store_ = static_cast<uint8_t*>(p);
  target_socket.register_b_transport(this, &Dram::b_transport);
  target_socket.register_transport_dbg(this, &Dram::transport_dbg);
}

Dram::~Dram() {
  if (store_) munmap(store_, size_);
}

void Dram::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
  const uint64_t addr = trans.get_address();
  const uint32_t len = trans.get_data_length();
  // Neither byte enables nor streaming are supported (IEEE 1666 14.13, 14.15: the matching error
  // responses); an access must lie inside the store.
  if (trans.get_byte_enable_ptr() != nullptr) {
    trans.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    return;
  }
  if (trans.get_streaming_width() < len || len == 0 || trans.get_data_ptr() == nullptr) {
    trans.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
    return;
  }
  if (!in_range(addr, len)) {
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  // Fault injection: an uncorrectable error on this burst (docs/descriptors.md section 9).
  if (faults_ && faults_->dma_error(addr, len)) {
    trans.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  const bool write = trans.is_write();
  if (write) {
    std::memcpy(store_ + addr, trans.get_data_ptr(), len);
    bytes_written += len;
  } else if (trans.is_read()) {
    std::memcpy(trans.get_data_ptr(), store_ + addr, len);
    bytes_read += len;
  } else {
    trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
    return;
  }
  const uint64_t issue = (sc_time_stamp() + delay).value();
  const bool record = recorder_ && recorder_->enabled;
  if (record) bursts_.clear();
  const uint64_t acts0 = timing_->stats().activates;
  const uint64_t done = timing_->access(addr, len, write, issue, record ? &bursts_ : nullptr);
  TxnTag* tag = nullptr;
  trans.get_extension(tag);
  // Row activates of this access go to the job that issued it (its energy, docs/energy-model.md);
  // a policy without rows (simple) counts none.
  const uint64_t acts = timing_->stats().activates - acts0;
  if (acts != 0 && recorder_ && tag && tag->job != NO_JOB) recorder_->job(tag->job).dram_activates += acts;
  if (record) {
    const uint32_t burst = timing_->burst_bytes();
    for (const DramBurst& b : bursts_) {
      DramRecord r{};
      r.t_arrive_ps = b.t_arrive_ps;
      r.t_data_ps = b.t_data_ps;
      r.t_done_ps = b.t_done_ps;
      r.address = b.address;
      r.row = b.row;
      r.job = tag ? tag->job : NO_JOB;
      r.bytes = burst;
      r.channel = b.channel;
      r.rank = b.rank;
      r.bank = b.bank;
      r.kind = b.kind;
      r.op = write ? 1 : 0;
      r.initiator = tag ? tag->initiator : 255;
      r.stream = static_cast<uint8_t>(tag ? tag->stream : Stream::NONE);
      recorder_->dram(r, b.count, b.step_ps, b.step_address);
    }
  }
  delay += sc_time::from_value(done - issue);
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned int Dram::transport_dbg(tlm::tlm_generic_payload& trans) {
  const uint64_t addr = trans.get_address();
  uint64_t len = trans.get_data_length();
  if (addr >= size_) return 0;
  if (len > size_ - addr) len = size_ - addr;
  if (trans.is_write())
    std::memcpy(store_ + addr, trans.get_data_ptr(), len);
  else if (trans.is_read())
    std::memcpy(trans.get_data_ptr(), store_ + addr, len);
  else
    return 0;
  return static_cast<unsigned int>(len);
}

}  // namespace a3
