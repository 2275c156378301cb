#include "soc/protocol_checker.h"

#include <cstring>
#include <sstream>

namespace a3 {

using namespace sc_core;

void ProtocolLog::violation(const std::string& where, const char* rule, const std::string& what) {
  ++violations;
  ++by_rule[rule];
  if (first.size() < kMaxMessages) first.push_back(where + ": " + rule + ": " + what);
}

std::string ProtocolLog::report() const {
  std::ostringstream os;
  for (const auto& kv : by_rule) os << kv.first << '|' << kv.second << '\n';
  for (const auto& m : first) os << "message|" << m << '\n';
  return os.str();
}

ProtocolChecker::ProtocolChecker(sc_module_name name, ProtocolLog* log, uint64_t range, bool dmi)
    : sc_module(name),
      target_socket("target_socket"),
      initiator_socket("initiator_socket"),
      log_(log),
      range_(range),
      dmi_(dmi) {
  target_socket.register_b_transport(this, &ProtocolChecker::b_transport);
  target_socket.register_transport_dbg(this, &ProtocolChecker::transport_dbg);
  target_socket.register_get_direct_mem_ptr(this, &ProtocolChecker::get_direct_mem_ptr);
  initiator_socket.register_invalidate_direct_mem_ptr(this, &ProtocolChecker::invalidate_direct_mem_ptr);
}

namespace {
std::string hex(uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}
}  // namespace

void ProtocolChecker::b_transport(tlm::tlm_generic_payload& t, sc_time& delay) {
  ++log_->checked;
  // ---- the initiator's obligations (before the call) ----
  if (t.get_response_status() != tlm::TLM_INCOMPLETE_RESPONSE)
    bad("I1-status-incomplete", "response status is " + t.get_response_string() + " at the call, not INCOMPLETE");
  const tlm::tlm_command cmd = t.get_command();
  const uint64_t addr = t.get_address();
  unsigned char* const data = t.get_data_ptr();
  const unsigned int len = t.get_data_length();
  const unsigned int sw = t.get_streaming_width();
  unsigned char* const be = t.get_byte_enable_ptr();
  const unsigned int be_len = t.get_byte_enable_length();
  const bool valid = data != nullptr && len > 0;
  if (!valid) bad("I2-data", "null data pointer or zero data length at " + hex(addr));
  if (sw == 0) bad("I3-streaming-width", "streaming width 0 at " + hex(addr));
  if (be != nullptr && be_len == 0) bad("I4-byte-enable-length", "byte-enable pointer with length 0 at " + hex(addr));
  if (valid) data_copy_.assign(data, data + len);
  if (be != nullptr && be_len > 0) be_copy_.assign(be, be + be_len);

  initiator_socket->b_transport(t, delay);

  // ---- the target's obligations (on return) ----
  const tlm::tlm_response_status st = t.get_response_status();
  if (st == tlm::TLM_INCOMPLETE_RESPONSE) bad("T1-status-set", "target returned with INCOMPLETE at " + hex(addr));
  if (t.get_command() != cmd || t.get_address() != addr || t.get_data_ptr() != data || t.get_data_length() != len ||
      t.get_streaming_width() != sw || t.get_byte_enable_ptr() != be || t.get_byte_enable_length() != be_len)
    bad("T2-attributes-kept",
        "command, address, data pointer, length, streaming width or byte enables changed at " + hex(addr));
  if (!valid) return;
  if (cmd == tlm::TLM_WRITE_COMMAND && t.get_data_ptr() == data && std::memcmp(data, data_copy_.data(), len) != 0)
    bad("T3-write-data-kept", "the target modified the data array of a write at " + hex(addr));
  if (st == tlm::TLM_OK_RESPONSE) {
    if (range_ != 0 && (addr >= range_ || len > range_ - addr))
      bad("T4-range", "OK response for [" + hex(addr) + ", +" + std::to_string(len) + ") outside the target's " +
                          hex(range_) + " bytes");
    if (sw < len && range_ != 0)
      bad("T5-streaming", "OK response to a streaming access (width " + std::to_string(sw) + " < length " +
                              std::to_string(len) + "); our targets do not stream: TLM_BURST_ERROR_RESPONSE");
    if (be != nullptr && be_len > 0 && cmd == tlm::TLM_READ_COMMAND && t.get_data_ptr() == data) {
      for (unsigned int i = 0; i < len; ++i)
        if (be_copy_[i % be_len] == TLM_BYTE_DISABLED && data[i] != data_copy_[i]) {
          bad("T6-byte-enables", "a read changed byte " + std::to_string(i) + " whose byte enable is off");
          break;
        }
    }
  }
  if (t.is_dmi_allowed() && !dmi_) bad("T7-dmi-hint", "DMI-allowed hint set on a hop without DMI at " + hex(addr));
}

unsigned int ProtocolChecker::transport_dbg(tlm::tlm_generic_payload& t) {
  ++log_->checked;
  const uint64_t addr = t.get_address();
  const unsigned int len = t.get_data_length();
  const unsigned int n = initiator_socket->transport_dbg(t);
  if (n > len)
    bad("D1-debug-count", "transport_dbg returned " + std::to_string(n) + " > length " + std::to_string(len));
  if (t.get_address() != addr) bad("D2-debug-address", "transport_dbg changed the address " + hex(addr));
  return n;
}

bool ProtocolChecker::get_direct_mem_ptr(tlm::tlm_generic_payload& t, tlm::tlm_dmi& dmi) {
  ++log_->checked;
  const uint64_t addr = t.get_address();
  const bool granted = initiator_socket->get_direct_mem_ptr(t, dmi);
  if (granted && !dmi_) bad("M1-dmi-granted", "DMI granted on a hop without DMI at " + hex(addr));
  if (granted && (dmi.get_start_address() > addr || dmi.get_end_address() < addr))
    bad("M2-dmi-region", "DMI region does not contain the requested address " + hex(addr));
  if (granted && ((t.is_read() && !dmi.is_read_allowed()) || (t.is_write() && !dmi.is_write_allowed())))
    bad("M3-dmi-access", "DMI granted without the requested access at " + hex(addr));
  return granted;
}

void ProtocolChecker::invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end) {
  if (start > end) bad("M4-dmi-invalidate", "invalidate range start > end");
  target_socket->invalidate_direct_mem_ptr(start, end);
}

}  // namespace a3
