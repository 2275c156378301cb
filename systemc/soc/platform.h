// platform.h - the SoC: host bridge, system bus, DRAM and `units` A3 devices, wired as in the
// block diagram of DESIGN.md. Address map: DRAM at DRAM_BASE, unit u's registers at
// MMIO_BASE + u * MMIO_STRIDE. Bus initiators: 0 = host bridge, 1 + u = DMA of unit u.
// Bus targets: 0 = DRAM, 1 + u = registers of unit u.
#pragma once

#include <systemc>

#include <memory>
#include <vector>

#include "soc/a3_config.h"
#include "a3/a3_device.h"
#include "soc/dram.h"
#include "soc/host_bridge.h"
#include "soc/system_bus.h"
#include "soc/trace_recorder.h"

namespace a3 {

class Platform : public sc_core::sc_module {
 public:
  Platform(sc_core::sc_module_name name, const Config& cfg);

  Config cfg;
  TraceRecorder recorder;
  HostBridge host;
  SystemBus bus;
  Dram dram;
  std::vector<std::unique_ptr<A3Device>> units;
  sc_core::sc_vector<sc_core::sc_signal<bool, sc_core::SC_MANY_WRITERS>> irq_lines;
};

}  // namespace a3
