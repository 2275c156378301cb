// protocol_checker.h - a pass-through component that checks the TLM-2.0 base-protocol rules of
// blocking transport (IEEE 1666-2011 sections 11 and 14) on one socket-to-socket hop: what the
// initiator must set before the call, what the target must set (and must leave alone) on return,
// and DMI. Violations are counted in a shared ProtocolLog (read through the API), never reported
// with a SystemC error report: a checker observes, it does not stop the kernel. Inserted on every hop of
// the platform when the configuration entry protocol_check = 1 (the tests); absent otherwise.
// Rules and their ids: docs/register-map.md section 10.
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace a3 {

// Violations of every checker of a platform.
struct ProtocolLog {
  uint64_t checked = 0;     // transactions (b_transport, transport_dbg, DMI requests) checked
  uint64_t violations = 0;  // rule violations found
  std::map<std::string, uint64_t> by_rule;
  std::vector<std::string> first;  // the first kMaxMessages messages
  static constexpr size_t kMaxMessages = 64;

  void violation(const std::string& where, const char* rule, const std::string& what);
  void clear() { *this = ProtocolLog{}; }
  // "rule|count" lines, then "message|text" lines.
  std::string report() const;
};

class ProtocolChecker : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<ProtocolChecker> target_socket;        // the initiator side binds here
  tlm_utils::simple_initiator_socket<ProtocolChecker> initiator_socket;  // to the target side

  // range: size of the target's address window as seen on this hop (addresses 0..range-1), or 0
  // when the hop faces an interconnect (no range rule). dmi: whether DMI may be granted here.
  ProtocolChecker(sc_core::sc_module_name name, ProtocolLog* log, uint64_t range, bool dmi);

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  unsigned int transport_dbg(tlm::tlm_generic_payload& trans);
  bool get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
  void invalidate_direct_mem_ptr(sc_dt::uint64 start, sc_dt::uint64 end);
  void bad(const char* rule, const std::string& what) { log_->violation(name(), rule, what); }

  ProtocolLog* log_;
  uint64_t range_;
  bool dmi_;
  std::vector<unsigned char> data_copy_, be_copy_;
};

}  // namespace a3
