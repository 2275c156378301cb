#include "soc/platform.h"

#include <string>

namespace a3 {

using namespace sc_core;

Platform::Platform(sc_module_name name, const Config& c)
    : sc_module(name),
      cfg(c),
      recorder(static_cast<uint64_t>(cfg.trace_max_rows)),
      faults(cfg),
      host("host_bridge", cfg, static_cast<unsigned>(cfg.units), &faults),
      bus("system_bus", cfg, &recorder),
      dram("dram", cfg, &recorder, &faults),
      irq_lines("irq_line", static_cast<size_t>(cfg.units)) {
  const unsigned n_units = static_cast<unsigned>(cfg.units);
  const bool check = cfg.protocol_check != 0;
  // A checker between an initiator socket and a target socket, or a direct binding.
  auto hop = [&](auto& from, auto& to, const std::string& n, uint64_t range) {
    if (!check) {
      from.bind(to);
      return;
    }
    checkers.emplace_back(new ProtocolChecker(("check_" + n).c_str(), &protocol_log, range, false));
    from.bind(checkers.back()->target_socket);
    checkers.back()->initiator_socket.bind(to);
  };
  hop(host.initiator_socket, bus.target_socket, "host", 0);
  bus.name_initiator(0, "host");
  hop(bus.initiator_socket, dram.target_socket, "dram", dram.size());
  bus.map(0, DRAM_BASE, dram.size(), "dram");
  for (unsigned u = 0; u < n_units; ++u) {
    std::string un = "a3_" + std::to_string(u);
    units.emplace_back(new A3Device(un.c_str(), cfg, static_cast<uint8_t>(u), &recorder, &faults));
    A3Device& dev = *units.back();
    hop(dev.dma.initiator_socket, bus.target_socket, un + "_dma", 0);
    bus.name_initiator(static_cast<uint8_t>(1 + u), un + ".dma");
    hop(bus.initiator_socket, dev.regs.target_socket, un + "_regs", MMIO_STRIDE);
    bus.map(static_cast<uint8_t>(1 + u), MMIO_BASE + u * MMIO_STRIDE, MMIO_STRIDE, un + ".regs");
    dev.regs.irq.bind(irq_lines[u]);
    host.irq[u].bind(irq_lines[u]);
  }
}

}  // namespace a3
