#include "a3/dma_engine.h"

#include <algorithm>

namespace a3 {

using namespace sc_core;

DmaEngine::DmaEngine(sc_module_name name, const Config& cfg)
    : sc_module(name),
      initiator_socket("initiator_socket"),
      cfg_(cfg),
      burst_(static_cast<uint32_t>(cfg.burst_bytes)),
      setup_(cfg.dma_setup_ns, SC_NS),
      issue_interval_(cfg.cycle_ns(), SC_NS),
      inflight_done_(static_cast<size_t>(cfg.dma_outstanding), 0) {
  trans_.set_extension(&tag_);
}

DmaEngine::~DmaEngine() { trans_.clear_extension(&tag_); }

DmaEngine::Result DmaEngine::transfer(bool write, uint64_t address, void* local, uint64_t bytes, uint32_t job,
                                      Stream stream) {
  Result res;
  if (bytes == 0) return res;
  tag_.job = job;
  tag_.stream = stream;
  uint8_t* p = static_cast<uint8_t*>(local);
  const uint64_t now = sc_time_stamp().value();
  uint64_t issue = now + setup_.value();
  uint64_t last_done = issue;
  const size_t ring = inflight_done_.size();
  std::fill(inflight_done_.begin(), inflight_done_.end(), 0);
  size_t k = 0;
  for (uint64_t off = 0; off < bytes; off += burst_, ++k) {
    const uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(burst_, bytes - off));
    // A burst issues one cycle after the previous one, and only when a slot is free.
    issue = std::max(issue, inflight_done_[k % ring]);
    trans_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    trans_.set_address(address + off);
    trans_.set_data_ptr(p + off);
    trans_.set_data_length(len);
    trans_.set_streaming_width(len);
    trans_.set_byte_enable_ptr(nullptr);
    trans_.set_dmi_allowed(false);
    trans_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_time delay = sc_time::from_value(issue - now);
    initiator_socket->b_transport(trans_, delay);
    ++bursts;
    const uint64_t done = now + delay.value();
    if (!trans_.is_response_ok()) {
      res.ok = false;
      res.fault_address = address + off;
      res.status = static_cast<int>(trans_.get_response_status());
      last_done = std::max(last_done, done);
      break;
    }
    inflight_done_[k % ring] = done;
    last_done = std::max(last_done, done);
    res.bytes += len;
    issue += issue_interval_.value();
  }
  (write ? bytes_written : bytes_read) += res.bytes;
  auto& pj = per_job_[job];
  (write ? pj.second : pj.first) += res.bytes;
  wait(sc_time::from_value(last_done - now));
  return res;
}

uint64_t DmaEngine::read_burst(uint64_t address, void* local, uint32_t bytes, uint64_t issue_ps, uint32_t job,
                               Stream stream, Result& res) {
  const uint64_t now = sc_time_stamp().value();
  tag_.job = job;
  tag_.stream = stream;
  trans_.set_command(tlm::TLM_READ_COMMAND);
  trans_.set_address(address);
  trans_.set_data_ptr(static_cast<uint8_t*>(local));
  trans_.set_data_length(bytes);
  trans_.set_streaming_width(bytes);
  trans_.set_byte_enable_ptr(nullptr);
  trans_.set_dmi_allowed(false);
  trans_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_time delay = sc_time::from_value(issue_ps > now ? issue_ps - now : 0);
  initiator_socket->b_transport(trans_, delay);
  ++bursts;
  if (!trans_.is_response_ok()) {
    res.ok = false;
    res.fault_address = address;
    res.status = static_cast<int>(trans_.get_response_status());
  } else {
    res.bytes += bytes;
    bytes_read += bytes;
    per_job_[job].first += bytes;
  }
  return now + delay.value();
}

}  // namespace a3
