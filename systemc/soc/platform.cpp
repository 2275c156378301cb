#include "soc/platform.h"

#include <string>

namespace a3 {

using namespace sc_core;

Platform::Platform(sc_module_name name, const Config& c)
    : sc_module(name),
      cfg(c),
      host("host_bridge", cfg, static_cast<unsigned>(cfg.units)),
      bus("system_bus", cfg, &recorder),
      dram("dram", cfg, &recorder),
      irq_lines("irq_line", static_cast<size_t>(cfg.units)) {
  const unsigned n_units = static_cast<unsigned>(cfg.units);
  host.initiator_socket.bind(bus.target_socket);
  bus.name_initiator(0, "host");
  bus.initiator_socket.bind(dram.target_socket);
  bus.map(0, DRAM_BASE, dram.size(), "dram");
  for (unsigned u = 0; u < n_units; ++u) {
    std::string un = "a3_" + std::to_string(u);
    units.emplace_back(new A3Device(un.c_str(), cfg, static_cast<uint8_t>(u), &recorder));
    A3Device& dev = *units.back();
    dev.dma.initiator_socket.bind(bus.target_socket);
    bus.name_initiator(static_cast<uint8_t>(1 + u), un + ".dma");
    bus.initiator_socket.bind(dev.regs.target_socket);
    bus.map(static_cast<uint8_t>(1 + u), MMIO_BASE + u * MMIO_STRIDE, MMIO_STRIDE, un + ".regs");
    dev.regs.irq.bind(irq_lines[u]);
    host.irq[u].bind(irq_lines[u]);
  }
}

}  // namespace a3
