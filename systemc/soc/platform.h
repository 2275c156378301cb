// platform.h - the SoC: host bridge, system bus, DRAM and `units` A3 devices, wired as in the
// block diagram of DESIGN.md. Address map: DRAM at DRAM_BASE, unit u's registers at
// MMIO_BASE + u * MMIO_STRIDE. Bus initiators: 0 = host bridge, 1 + u = DMA of unit u.
// Bus targets: 0 = DRAM, 1 + u = registers of unit u. With protocol_check = 1 a ProtocolChecker
// sits on every hop (host -> bus, DMA u -> bus, bus -> DRAM, bus -> registers u).
#pragma once

#include <systemc>

#include <memory>
#include <vector>

#include "a3/a3_device.h"
#include "soc/a3_config.h"
#include "soc/dram.h"
#include "soc/fault_injector.h"
#include "soc/host_bridge.h"
#include "soc/protocol_checker.h"
#include "soc/system_bus.h"
#include "soc/trace_recorder.h"

namespace a3 {

class Platform : public sc_core::sc_module {
 public:
  Platform(sc_core::sc_module_name name, const Config& cfg);

  Config cfg;
  TraceRecorder recorder;
  FaultInjector faults;
  ProtocolLog protocol_log;
  HostBridge host;
  SystemBus bus;
  Dram dram;
  std::vector<std::unique_ptr<A3Device>> units;
  sc_core::sc_vector<sc_core::sc_signal<bool, sc_core::SC_MANY_WRITERS>> irq_lines;
  std::vector<std::unique_ptr<ProtocolChecker>> checkers;  // empty unless protocol_check = 1
};

}  // namespace a3
