#include "soc/host_bridge.h"

#include <algorithm>

namespace a3 {

using namespace sc_core;

HostBridge::HostBridge(sc_module_name name, const Config& cfg, unsigned units, FaultInjector* faults)
    : sc_module(name),
      initiator_socket("initiator_socket"),
      irq("irq", units),
      faults_(faults),
      mmio_latency_(cfg.host_mmio_ns, SC_NS),
      irq_latency_(cfg.irq_latency_ns, SC_NS),
      line_(static_cast<uint32_t>(cfg.dram_line_bytes)),
      store_issue_ps_(sc_time(cfg.host_store_issue_ns, SC_NS).value()),
      store_ring_(static_cast<size_t>(cfg.host_store_outstanding), 0) {
  tag_.stream = Stream::MMIO;
  trans_.set_extension(&tag_);
  store_trans_.set_extension(&store_tag_);
  SC_METHOD(on_irq_change);
  for (auto& line : irq) sensitive << line;
  dont_initialize();
  SC_METHOD(deliver);
  sensitive << deliver_ev_;
  dont_initialize();
}

HostBridge::~HostBridge() {
  trans_.clear_extension(&tag_);
  store_trans_.clear_extension(&store_tag_);
}

int HostBridge::store(uint64_t address, uint64_t bytes, uint8_t stream, const uint8_t* data) {
  if (bytes == 0) return tlm::TLM_OK_RESPONSE;
  const uint64_t now = sc_time_stamp().value();
  host_ps_ = std::max<uint64_t>(host_ps_, now);
  store_tag_.stream = static_cast<Stream>(stream);
  std::fill(store_ring_.begin(), store_ring_.end(), 0);
  std::vector<uint8_t> line(line_);
  uint64_t issue = host_ps_, last = host_ps_;
  const size_t ring = store_ring_.size();
  size_t k = 0;
  // Whole cache lines, as a CPU writes them back: the first and last may be partly the caller's.
  const uint64_t a0 = address / line_ * line_;
  for (uint64_t a = a0; a < address + bytes; a += line_, ++k) {
    issue = std::max(issue, store_ring_[k % ring]);
    // The line's bytes are already in DRAM (the host wrote them through its view): write them again.
    std::copy(data + (a - a0), data + (a - a0) + line_, line.begin());
    store_trans_.set_command(tlm::TLM_WRITE_COMMAND);
    store_trans_.set_address(a);
    store_trans_.set_data_ptr(line.data());
    store_trans_.set_data_length(line_);
    store_trans_.set_streaming_width(line_);
    store_trans_.set_byte_enable_ptr(nullptr);
    store_trans_.set_dmi_allowed(false);
    store_trans_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_time delay = sc_time::from_value(issue - now);
    initiator_socket->b_transport(store_trans_, delay);
    const uint64_t done = now + delay.value();
    if (!store_trans_.is_response_ok()) {
      host_ps_ = std::max(last, done);
      return static_cast<int>(store_trans_.get_response_status());
    }
    store_ring_[k % ring] = done;
    last = std::max(last, done);
    issue += store_issue_ps_;
  }
  host_ps_ = last;
  return tlm::TLM_OK_RESPONSE;
}

bool HostBridge::any_line() const {
  for (const auto& line : irq)
    if (line.read()) return true;
  return false;
}

void HostBridge::on_irq_change() {
  const bool any = any_line();
  if (any && !delivered_)
    deliver_ev_.notify(irq_latency_ + (faults_ ? sc_time::from_value(faults_->irq_delay_ps()) : SC_ZERO_TIME));
  else if (!any)
    delivered_ = false;
}

void HostBridge::deliver() {
  if (!any_line() || delivered_) return;
  // A lost interrupt: host software is never told; the line stays high until IRQ_ACK clears it,
  // and nothing more is delivered until then (the host must poll its completion ring).
  if (faults_ && faults_->take_irq_drop()) return;
  delivered_ = true;
  ++irqs_;
  last_irq_ps_ = sc_time_stamp().value();
  if (running_) sc_pause();
}

int HostBridge::mmio(bool write, uint64_t address, uint32_t& value) {
  const uint64_t now = sc_time_stamp().value();
  host_ps_ = std::max<uint64_t>(host_ps_, now);
  sc_time delay = sc_time::from_value(host_ps_ - now) + mmio_latency_;
  trans_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  trans_.set_address(address);
  trans_.set_data_ptr(reinterpret_cast<unsigned char*>(&value));
  trans_.set_data_length(4);
  trans_.set_streaming_width(4);
  trans_.set_byte_enable_ptr(nullptr);
  trans_.set_dmi_allowed(false);
  trans_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  initiator_socket->b_transport(trans_, delay);
  host_ps_ = now + delay.value();
  return static_cast<int>(trans_.get_response_status());
}

int HostBridge::raw(bool write, uint64_t address, uint8_t* data, uint32_t bytes, uint32_t streaming_width,
                    uint32_t be_mask, bool preset_ok) {
  const uint64_t now = sc_time_stamp().value();
  host_ps_ = std::max<uint64_t>(host_ps_, now);
  sc_time delay = sc_time::from_value(host_ps_ - now) + mmio_latency_;
  unsigned char be[32];
  for (int i = 0; i < 32; ++i) be[i] = (be_mask >> i) & 1 ? TLM_BYTE_ENABLED : TLM_BYTE_DISABLED;
  tlm::tlm_generic_payload t;
  t.set_extension(&tag_);
  t.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  t.set_address(address);
  t.set_data_ptr(data);
  t.set_data_length(bytes);
  t.set_streaming_width(streaming_width);
  if (be_mask != 0xFFFFFFFFu) {
    t.set_byte_enable_ptr(be);
    t.set_byte_enable_length(std::min<uint32_t>(32, std::max<uint32_t>(bytes, 1)));
  }
  t.set_dmi_allowed(false);
  t.set_response_status(preset_ok ? tlm::TLM_OK_RESPONSE : tlm::TLM_INCOMPLETE_RESPONSE);
  initiator_socket->b_transport(t, delay);
  t.clear_extension(&tag_);
  host_ps_ = now + delay.value();
  return static_cast<int>(t.get_response_status());
}

int HostBridge::mmio_read32(uint64_t address, uint32_t& value) { return mmio(false, address, value); }

int HostBridge::mmio_write32(uint64_t address, uint32_t value) { return mmio(true, address, value); }

bool HostBridge::run(double max_ns) {
  const uint64_t before = irqs_;
  // Let signal writes made by MMIO since the last run (e.g. an interrupt acknowledge) settle.
  sc_start(SC_ZERO_TIME);
  if (!any_line())
    delivered_ = false;
  else if (delivered_)
    return true;  // a line is still high and the host has seen it
  running_ = true;
  const sc_time end = sc_time_stamp() + sc_time(max_ns, SC_NS);
  sc_start(sc_time(max_ns, SC_NS), SC_EXIT_ON_STARVATION);
  // sc_start stops at the last event inside the window when the next one lies beyond it: let the
  // window pass, so that a caller that waits in windows always sees time advance.
  if (irqs_ == before && sc_time_stamp() < end && sc_pending_activity_at_future_time())
    sc_start(end - sc_time_stamp(), SC_RUN_TO_TIME);
  running_ = false;
  host_ps_ = std::max<uint64_t>(host_ps_, sc_time_stamp().value());
  return irqs_ != before;
}

}  // namespace a3
