// a3_config.h - every number of the hardware model, in one place.
//
// Each entry: name, default, unit, source. The table below is the single source of the
// defaults: the C++ model, the Python driver (a3sim.config) and docs/configuration.md all read
// it. Sources: [paper] Ham et al., HPCA 2020; [spec] A3-SPEC.md of this project (which records
// the paper's figures and the project's rules); [ours] our own modelling choice, with the reason;
// [sim] a setting of the simulator itself, not of the modelled hardware.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace a3 {

// X(name, default, unit, source)
#define A3_CONFIG_TABLE(X)                                                                          \
  X(clock_mhz, 1000.0, "MHz", "[spec 3.5] 1 GHz default clock of the A3 datapath")                \
  X(units, 1.0, "count", "[ours] number of A3 units on the bus; each has its own registers and DMA") \
  X(n_max, 320.0, "rows", "[paper] design point n = 320 keys per key/value SRAM bank (spec 3.5, 4)") \
  X(d_max, 64.0, "elements", "[paper] design point d = 64, d multipliers per module (spec 3.5, 4)") \
  X(q_rows, 256.0, "rows", "[ours] query and output bank depth = queries per job (64 KiB each at d=64)") \
  X(elem_bytes, 4.0, "bytes", "[spec 4] float32 data in the functional model; only 4 is supported")  \
  X(sorted_entry_bytes, 8.0, "bytes", "[ours] sorted-key table entry: float32 value + uint32 row (the only layout supported)")     \
  X(sram_width_bytes, 256.0, "bytes", "[ours] bank port width: one d_max float32 row per cycle")       \
  X(L_dp_extra, 2.0, "cycles", "[spec 3.6] dot-product adder-tree latency = ceil(log2 d) + 2")         \
  X(L_exp, 3.0, "cycles", "[spec 3.6] exponent lookup-table latency")                                  \
  X(L_mac, 2.0, "cycles", "[spec 3.6] output multiply-accumulate latency")                             \
  X(L_recip, 8.0, "cycles", "[spec 3.6] reciprocal latency of the output normalisation")              \
  X(cs_fill, 2.0, "cycles", "[spec 3.6] candidate-selection fill: 2d products on d multipliers")       \
  X(scan_lanes, 32.0, "lanes", "[spec 3.6] greedy-score scan lanes (n / lanes cycles)")                \
  X(filter_lanes, 8.0, "lanes", "[spec 3.6] post-scoring compare lanes (|C| / lanes cycles)")         \
  X(device_sorter, 0.0, "bool", "[spec 3.1] 0: host sorts K (default), 1: device sorter, cost modelled") \
  X(sorter_lanes, 1.0, "lanes", "[ours] device sorter: columns sorted in parallel (merge sort)")       \
  X(burst_bytes, 256.0, "bytes", "[ours] DMA burst = one TLM transaction (16 beats x 16 B AXI INCR)")  \
  X(dma_outstanding, 8.0, "bursts", "[ours] DMA bursts in flight; 8 x 256 B covers DRAM latency x bandwidth") \
  X(dma_setup_ns, 10.0, "ns", "[ours] DMA engine set-up per transfer (descriptor decode, address gen)")\
  X(bus_latency_ns, 2.0, "ns", "[ours] system bus: address decode + arbitration, 2 cycles at 1 GHz")   \
  X(reg_latency_ns, 10.0, "ns", "[ours] register file access")                                          \
  X(host_mmio_ns, 50.0, "ns", "[ours] host bridge: CPU uncached MMIO access to the bus")              \
  X(irq_latency_ns, 500.0, "ns", "[ours] interrupt delivery from the device line to host software")   \
  X(dram_mb, 1024.0, "MiB", "[ours] DRAM size (backing store is mapped lazily)")                      \
  X(dram_timing, 0.0, "policy", "[ours] DRAM timing policy: 0 = latency + bandwidth (simple)")       \
  X(dram_latency_ns, 45.0, "ns", "[ours] DRAM access latency, about tRCD + tCL of DDR4-3200 + controller") \
  X(dram_bandwidth_gbps, 25.6, "GB/s", "[ours] one DDR4-3200 x64 channel peak (3200 MT/s x 8 B)")        \
  X(blas_threads, 1.0, "threads", "[sim] host BLAS threads of the functional model; 1 avoids oversubscription with numpy's own pool") \
  X(control_stack_kib, 4096.0, "KiB", "[sim] coroutine stack of each unit's control thread (kernels run on it)") \
  X(sim_threads, 2.0, "threads", "[sim] host threads for the per-query approximate kernels (the machine's 2 cores)") \
  /* ---- robustness: iteration counter, protocol checkers, trace retention, fault injection ---- */ \
  X(iter_counter_bits, 32.0, "bits", "[ours] width of the candidate-selection iteration counter: ATTEND needs M < 2^bits (BAD_ITERATIONS); 2^32 cycles x 256 queries stays far inside SystemC's 64-bit ps time") \
  X(protocol_check, 0.0, "bool", "[sim] 1: a TLM-2.0 base-protocol checker on every socket (the tests); 0: none (speed)") \
  X(trace_max_rows, 1048576.0, "rows", "[sim] retention bound of each trace table (docs/trace-schema.md section 6)") \
  X(fi_dma_error_address, -1.0, "address", "[sim] fault injection: DRAM answers DMA bursts that cover this bus address with TLM_GENERIC_ERROR_RESPONSE; -1 off") \
  X(fi_dma_error_rate, 0.0, "probability", "[sim] fault injection: probability that DRAM answers a DMA burst with TLM_GENERIC_ERROR_RESPONSE") \
  X(fi_seed, 1.0, "seed", "[sim] fault injection: seed of the generator behind fi_dma_error_rate and the corrupted bits") \
  X(fi_irq_drop, 0.0, "count", "[sim] fault injection: the next this-many interrupts are lost on the way to the host") \
  X(fi_irq_delay_ns, 0.0, "ns", "[sim] fault injection: extra delay of every interrupt delivery (a late interrupt)") \
  X(fi_stuck_busy, 0.0, "count", "[sim] fault injection: the next this-many descriptors hang after their fetch, BUSY stuck at 1 until SOFT_RESET") \
  X(fi_corrupt_completion, 0.0, "count", "[sim] fault injection: the next this-many completion records get one bit flipped after their check word is computed")

struct Config {
#define A3_CONFIG_FIELD(name, def, unit, src) double name = def;
  A3_CONFIG_TABLE(A3_CONFIG_FIELD)
#undef A3_CONFIG_FIELD

  // Set one entry by name. Returns an empty string on success, else a message.
  std::string set(const std::string& key, double value);
  // Read one entry by name; false for an unknown key.
  bool get(const std::string& key, double& value) const;
  // Parse "key=value;key=value" (whitespace allowed). Returns an empty string or a message.
  std::string parse(const std::string& text);
  // Check ranges and consistency. Returns an empty string or a message.
  std::string validate() const;

  double cycle_ns() const { return 1000.0 / clock_mhz; }
  uint64_t dram_bytes() const { return static_cast<uint64_t>(dram_mb) * 1024ull * 1024ull; }
};

struct ConfigEntry {
  const char* name;
  double default_value;
  const char* unit;
  const char* source;
};

// The table of entries, in declaration order.
const std::vector<ConfigEntry>& config_entries();

}  // namespace a3
