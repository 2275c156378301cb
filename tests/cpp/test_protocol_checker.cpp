// test_protocol_checker.cpp - the ProtocolChecker against a deliberately broken target and a
// careless initiator: each base-protocol rule it enforces is violated once and counted once, a
// correct transaction counts nothing, and the kernel keeps running (no SystemC error report).
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <cstdio>
#include <cstring>
#include <string>

#include "soc/protocol_checker.h"
#include "test_support.h"

// A target whose misbehaviour is chosen per transaction.
struct BrokenTarget : sc_core::sc_module {
  enum Bug {
    NONE,
    LEAVE_INCOMPLETE,
    CHANGE_LENGTH,
    SCRIBBLE_WRITE,
    OK_OUT_OF_RANGE,
    OK_STREAMING,
    IGNORE_BYTE_ENABLES,
    DMI_HINT,
    GRANT_DMI,
    DBG_OVERCOUNT,
    ANSWER_BURST_ERROR
  };
  tlm_utils::simple_target_socket<BrokenTarget> socket;
  Bug bug = NONE;
  explicit BrokenTarget(sc_core::sc_module_name n) : sc_module(n), socket("socket") {
    socket.register_b_transport(this, &BrokenTarget::b_transport);
    socket.register_transport_dbg(this, &BrokenTarget::dbg);
    socket.register_get_direct_mem_ptr(this, &BrokenTarget::dmi);
  }
  void b_transport(tlm::tlm_generic_payload& t, sc_core::sc_time&) {
    unsigned char* d = t.get_data_ptr();
    if (t.is_read()) std::memset(d, 0xAB, t.get_data_length());
    switch (bug) {
      case LEAVE_INCOMPLETE: return;
      case CHANGE_LENGTH: t.set_data_length(t.get_data_length() / 2); break;
      case SCRIBBLE_WRITE: d[0] ^= 1; break;
      case DMI_HINT: t.set_dmi_allowed(true); break;
      case ANSWER_BURST_ERROR: t.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE); return;
      default: break;
    }
    t.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  unsigned int dbg(tlm::tlm_generic_payload& t) { return bug == DBG_OVERCOUNT ? t.get_data_length() + 1 : 0; }
  bool dmi(tlm::tlm_generic_payload&, tlm::tlm_dmi& d) {
    if (bug != GRANT_DMI) return false;
    d.set_start_address(0);
    d.set_end_address(0xFF);
    d.allow_read();
    return true;
  }
};

struct Driver : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Driver> socket;
  explicit Driver(sc_core::sc_module_name n) : sc_module(n), socket("socket") {}
  unsigned char data[64] = {};
  unsigned char be[4] = {TLM_BYTE_ENABLED, TLM_BYTE_DISABLED, TLM_BYTE_ENABLED, TLM_BYTE_ENABLED};
  int send(bool write, uint64_t addr, unsigned len, unsigned width, bool byte_enables, bool preset_ok) {
    if (!write) std::memset(data, 0, sizeof data);
    tlm::tlm_generic_payload t;
    t.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    t.set_address(addr);
    t.set_data_ptr(data);
    t.set_data_length(len);
    t.set_streaming_width(width);
    if (byte_enables) {
      t.set_byte_enable_ptr(be);
      t.set_byte_enable_length(4);
    }
    t.set_response_status(preset_ok ? tlm::TLM_OK_RESPONSE : tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
    socket->b_transport(t, delay);
    return t.get_response_status();
  }
};

int sc_main(int, char**) {
  a3test::section("protocol checker");
  a3::ProtocolLog log;
  Driver init("init");
  a3::ProtocolChecker chk("chk", &log, 0x100, false);
  BrokenTarget tgt("tgt");
  init.socket.bind(chk.target_socket);
  chk.initiator_socket.bind(tgt.socket);

  using B = BrokenTarget;
  struct Case {
    B::Bug bug;
    bool write;
    uint64_t addr;
    unsigned len, width;
    bool be, preset_ok;
    const char* rule;  // expected rule, or nullptr for a correct transaction
  };
  const Case cases[] = {
      {B::NONE, false, 0x10, 16, 16, false, false, nullptr},
      {B::NONE, true, 0x10, 16, 16, false, false, nullptr},
      {B::NONE, false, 0x10, 16, 16, false, true, "I1-status-incomplete"},
      {B::ANSWER_BURST_ERROR, false, 0x10, 16, 0, false, false, "I3-streaming-width"},
      {B::LEAVE_INCOMPLETE, false, 0x10, 16, 16, false, false, "T1-status-set"},
      {B::CHANGE_LENGTH, false, 0x10, 16, 16, false, false, "T2-attributes-kept"},
      {B::SCRIBBLE_WRITE, true, 0x10, 16, 16, false, false, "T3-write-data-kept"},
      {B::NONE, false, 0xF8, 16, 16, false, false, "T4-range"},
      {B::NONE, false, 0x10, 16, 4, false, false, "T5-streaming"},
      {B::IGNORE_BYTE_ENABLES, false, 0x10, 16, 16, true, false, "T6-byte-enables"},
      {B::DMI_HINT, false, 0x10, 16, 16, false, false, "T7-dmi-hint"},
  };
  for (const Case& c : cases) {
    tgt.bug = c.bug;
    const uint64_t v0 = log.violations;
    const auto before = c.rule ? log.by_rule[c.rule] : 0;
    init.send(c.write, c.addr, c.len, c.width, c.be, c.preset_ok);
    if (c.rule == nullptr) {
      CHECK(log.violations == v0);
    } else {
      CHECK(log.violations == v0 + 1);
      CHECK(log.by_rule[c.rule] == before + 1);
      if (log.violations != v0 + 1)
        std::printf("  case %s: %llu violations\n", c.rule, static_cast<unsigned long long>(log.violations - v0));
    }
  }
  // DMI: granted on a hop without DMI; debug transport over-reporting.
  tgt.bug = B::GRANT_DMI;
  tlm::tlm_generic_payload t;
  t.set_command(tlm::TLM_READ_COMMAND);
  t.set_address(0x10);
  tlm::tlm_dmi dmi;
  init.socket->get_direct_mem_ptr(t, dmi);
  CHECK(log.by_rule["M1-dmi-granted"] == 1);
  tgt.bug = B::DBG_OVERCOUNT;
  t.set_data_ptr(init.data);
  t.set_data_length(8);
  init.socket->transport_dbg(t);
  CHECK(log.by_rule["D1-debug-count"] == 1);
  CHECK(log.first.size() == log.violations && log.report().find("T4-range|1") != std::string::npos);
  // The kernel is alive: simulated time still advances.
  sc_core::sc_start(sc_core::sc_time(10, sc_core::SC_NS));
  CHECK(sc_core::sc_time_stamp() == sc_core::sc_time(10, sc_core::SC_NS));
  std::printf("violations caught: %llu\n", static_cast<unsigned long long>(log.violations));
  return a3test::finish("protocol checker");
}
