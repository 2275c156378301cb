// a3_config.h - every number of the hardware model, in one place.
//
// Each entry: name, default, unit, source. The table below is the single source of the
// defaults: the C++ model, the Python driver (a3sim.config) and docs/configuration.md all read
// it. Sources: [paper] Ham et al., HPCA 2020; [spec] docs/spec.md (which records
// the paper's figures and the project's rules); [ours] our own modelling choice, with the reason;
// [sim] a setting of the simulator itself, not of the modelled hardware.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace a3 {

// X(name, default, unit, source)
#define A3_CONFIG_TABLE(X)                                                                                             \
  X(clock_mhz, 1000.0, "MHz", "[spec 3.5] 1 GHz default clock of the A3 datapath")                                     \
  X(units, 1.0, "count", "[ours] number of A3 units on the bus; each has its own registers and DMA")                   \
  X(n_max, 320.0, "rows", "[paper] design point n = 320 keys per key/value SRAM bank (spec 3.5, 4)")                   \
  X(d_max, 64.0, "elements", "[paper] design point d = 64, d multipliers per module (spec 3.5, 4)")                    \
  X(q_rows, 256.0, "rows", "[ours] query and output bank depth = queries per job (64 KiB each at d=64)")               \
  X(elem_bytes, 4.0, "bytes", "[spec 4] float32 data in the functional model; only 4 is supported")                    \
  X(sorted_entry_bytes, 8.0, "bytes",                                                                                  \
    "[ours] sorted-key table entry: float32 value + uint32 row (the only layout supported)")                           \
  X(sram_width_bytes, 256.0, "bytes", "[ours] bank port width: one d_max float32 row per cycle")                       \
  X(L_dot, 9.0, "cycles",                                                                                              \
    "[spec 2, 3.6] dot-product module: n + 9 cycles per query (paper Sec. III-A balances its three modules at n + 9)") \
  X(L_exp, 9.0, "cycles",                                                                                              \
    "[spec 2, 3.6] exponent module: n + 9 cycles per query (exact); max(ceil(|C|/post_lanes), |SEL|) + 9 with "        \
    "post-scoring")                                                                                                    \
  X(L_div, 7.0, "cycles", "[spec 2] output module: pipelined divide of the weight, 7 cycles (paper Sec. III-A)")       \
  X(L_mac, 2.0, "cycles",                                                                                              \
    "[spec 2] output module: multiply-accumulate, 2 cycles; output = rows + L_div + L_mac = n + 9")                    \
  X(cs_refill, 4.0, "cycles",                                                                                          \
    "[spec 3.5, 3.6] candidate selection: refill path c = 4 deep, M + 4 cycles per query (the 4-cycle init overlaps "  \
    "the previous query)")                                                                                             \
  X(scan_lanes, 16.0, "lanes", "[spec 3.5, 3.6] greedy-score scan: 16 registers per cycle, ceil(n / 16) cycles")       \
  X(post_lanes, 16.0, "lanes",                                                                                         \
    "[spec 3.5, 3.6] post-scoring: 16 compares per cycle against s_max, ceil(|C| / 16) cycles")                        \
  X(min_skip, 1.0, "bool",                                                                                             \
    "[spec 3.2] min-side skip of candidate selection (paper Sec. IV-C); 0: plain algorithm. A descriptor's "           \
    "NO_MIN_SKIP flag turns it off per job")                                                                           \
  X(datapath, 0.0, "policy",                                                                                           \
    "[spec 2.1] number format of the datapath: 0 = float32 (default), 1 = fixed point (paper Sec. III-B)")             \
  X(fx_int_bits, 4.0, "bits", "[paper] fixed point: integer bits i of the inputs (paper Sec. III-B evaluates i = 4)")  \
  X(fx_frac_bits, 4.0, "bits",                                                                                         \
    "[paper] fixed point: fraction bits f of the inputs (paper Sec. III-B evaluates f = 4)")                           \
  X(fx_exp_table_bits, 8.0, "bits",                                                                                    \
    "[paper] fixed point: each exponent table has 2^b entries, input 2b bits (paper: two 256-entry tables for 16 "     \
    "bits)")                                                                                                           \
  X(device_sorter, 0.0, "bool", "[spec 3.1] 0: host sorts K (default), 1: device sorter, cost modelled")               \
  X(sorter_lanes, 1.0, "lanes", "[ours] device sorter: columns sorted in parallel (merge sort)")                       \
  X(dot_dyn_mw, 14.338, "mW",                                                                                          \
    "[paper] Table I (spec 3.7): dot-product module, dynamic power at full use, 40 nm, 1 GHz")                         \
  X(dot_static_mw, 1.265, "mW", "[paper] Table I (spec 3.7): dot-product module, static power")                        \
  X(dot_area_mm2, 0.098, "mm2", "[paper] Table I (spec 3.7): dot-product module, area")                                \
  X(exp_dyn_mw, 0.224, "mW", "[paper] Table I (spec 3.7): exponent module, dynamic power at full use")                 \
  X(exp_static_mw, 0.053, "mW", "[paper] Table I (spec 3.7): exponent module, static power")                           \
  X(exp_area_mm2, 0.016, "mm2", "[paper] Table I (spec 3.7): exponent module, area")                                   \
  X(out_dyn_mw, 50.918, "mW", "[paper] Table I (spec 3.7): output module, dynamic power at full use")                  \
  X(out_static_mw, 0.070, "mW", "[paper] Table I (spec 3.7): output module, static power")                             \
  X(out_area_mm2, 0.062, "mm2", "[paper] Table I (spec 3.7): output module, area")                                     \
  X(cs_dyn_mw, 19.48, "mW", "[paper] Table I (spec 3.7): candidate-selection module, dynamic power at full use")       \
  X(cs_static_mw, 5.08, "mW", "[paper] Table I (spec 3.7): candidate-selection module, static power")                  \
  X(cs_area_mm2, 0.277, "mm2", "[paper] Table I (spec 3.7): candidate-selection module, area")                         \
  X(post_dyn_mw, 2.055, "mW", "[paper] Table I (spec 3.7): post-scoring module, dynamic power at full use")            \
  X(post_static_mw, 0.147, "mW", "[paper] Table I (spec 3.7): post-scoring module, static power")                      \
  X(post_area_mm2, 0.010, "mm2", "[paper] Table I (spec 3.7): post-scoring module, area")                              \
  X(key_sram_dyn_mw, 2.901, "mW", "[paper] Table I (spec 3.7): key SRAM (20 KB), dynamic power at full use")           \
  X(key_sram_static_mw, 0.987, "mW", "[paper] Table I (spec 3.7): key SRAM, static power")                             \
  X(key_sram_area_mm2, 0.350, "mm2", "[paper] Table I (spec 3.7): key SRAM, area")                                     \
  X(value_sram_dyn_mw, 2.901, "mW", "[paper] Table I (spec 3.7): value SRAM (20 KB), dynamic power at full use")       \
  X(value_sram_static_mw, 0.987, "mW", "[paper] Table I (spec 3.7): value SRAM, static power")                         \
  X(value_sram_area_mm2, 0.350, "mm2", "[paper] Table I (spec 3.7): value SRAM, area")                                 \
  X(sorted_sram_dyn_mw, 6.100, "mW", "[paper] Table I (spec 3.7): sorted-key SRAM (40 KB), dynamic power at full use") \
  X(sorted_sram_static_mw, 2.913, "mW", "[paper] Table I (spec 3.7): sorted-key SRAM, static power")                   \
  X(sorted_sram_area_mm2, 0.919, "mm2", "[paper] Table I (spec 3.7): sorted-key SRAM, area")                           \
  X(sram_full_use_bytes, 256.0, "B/cycle",                                                                             \
    "[ours] full use of a bank = one d_max row of 4-byte elements per cycle (the dot-product module reads one key "    \
    "row per cycle); Table I dynamic power is charged per byte at this rate")                                          \
  X(dram_pj_per_byte, 160.0, "pJ/B",                                                                                   \
    "[Horowitz, ISSCC 2014, 'Computing's energy problem'] DRAM access 1.3-2.6 nJ per 64 bits = 20-40 pJ/bit; the low " \
    "end, 20 pJ/bit. All-inclusive (activation, I/O): used with the simple DRAM policy, which counts no activates")    \
  X(dram_rd_pj_per_byte, 43.5, "pJ/B",                                                                                 \
    "[Micron, TN-40-07 (2017) IDD method; currents of DRAMsim3 DDR4_8Gb_x8_3200.ini] banked policy, read burst: "      \
    "VDD (IDD4R - IDD3N) tBURST x 8 devices / 64 B = 1.2 V x 116 mA x 2.5 ns x 8 / 64 B; no ACT, I/O or background")   \
  X(dram_wr_pj_per_byte, 36.75, "pJ/B",                                                                                \
    "[Micron, TN-40-07 (2017) IDD method; currents of DRAMsim3 DDR4_8Gb_x8_3200.ini] banked policy, write burst: "     \
    "VDD (IDD4W - IDD3N) tBURST x 8 devices / 64 B = 1.2 V x 98 mA x 2.5 ns x 8 / 64 B")                               \
  X(dram_activate_pj, 4176.0, "pJ",                                                                                    \
    "[Micron, TN-40-07 (2017) IDD method; currents of DRAMsim3 DDR4_8Gb_x8_3200.ini] banked policy, one ACT + PRE: "   \
    "VDD (IDD0 tRC - IDD3N tRAS - IDD2N tRP) x 8, IDD0/3N/2N = 57/52/37 mA, tRAS 32 ns, tRP 13.75 ns")                 \
  X(bus_pj_per_byte, 0.0, "pJ/B",                                                                                      \
    "[ours] 0: Table I has no interconnect figure, no verified 40 nm wire energy was found and the SoC's wire "        \
    "lengths are not modelled (docs/energy-model.md 2); set it to study bus energy")                                   \
  X(burst_bytes, 256.0, "bytes", "[ours] DMA burst = one TLM transaction (16 beats x 16 B AXI INCR)")                  \
  X(dma_outstanding, 8.0, "bursts", "[ours] DMA bursts in flight; 8 x 256 B covers DRAM latency x bandwidth")          \
  X(dma_setup_ns, 10.0, "ns", "[ours] DMA engine set-up per transfer (descriptor decode, address gen)")                \
  X(bus_latency_ns, 2.0, "ns", "[ours] system bus: address decode + arbitration, 2 cycles at 1 GHz")                   \
  X(reg_latency_ns, 10.0, "ns", "[ours] register file access")                                                         \
  X(host_mmio_ns, 50.0, "ns", "[ours] host bridge: CPU uncached MMIO access to the bus")                               \
  X(irq_latency_ns, 500.0, "ns", "[ours] interrupt delivery from the device line to host software")                    \
  X(dram_mb, 1024.0, "MiB", "[ours] DRAM size (backing store is mapped lazily)")                                       \
  X(dram_timing, 0.0, "policy",                                                                                        \
    "[ours] DRAM timing policy: 0 = latency + bandwidth (simple), 1 = banked (docs/memory-model.md)")                  \
  X(dram_latency_ns, 45.0, "ns", "[ours] DRAM access latency, about tRCD + tCL of DDR4-3200 + controller")             \
  X(dram_bandwidth_gbps, 25.6, "GB/s", "[ours] one DDR4-3200 x64 channel peak (3200 MT/s x 8 B)")                      \
  /* ---- memory system (issue 11): banked DRAM policy and bus arbitration ---- */                                     \
  X(dram_line_bytes, 64.0, "bytes",                                                                                    \
    "[ours] simple policy: an access moves whole lines of one DDR4 burst (JESD79-4: BL8 x 64 bit = 64 B)")             \
  X(dram_preset, 1.0, "preset",                                                                                        \
    "[ours] banked: 1 DDR4-3200, 2 LPDDR4-4266, 3 HBM2 pseudo-channel, 4 HBM2 stack (JEDEC values and sources: "       \
    "docs/memory-model.md)")                                                                                           \
  X(dram_channels, 0.0, "count", "[ours] banked: channels (power of 2); 0 = the preset's")                             \
  X(dram_ranks, 0.0, "count", "[ours] banked: ranks per channel (power of 2); 0 = the preset's")                       \
  X(dram_mapping, 0.0, "mapping",                                                                                      \
    "[ours] banked address map, LSB up: 0 Ch-Bg-Co-Ba-Ra-Ro (bank groups per burst), 1 Ch-Co-Bg-Ba-Ra-Ro, 2 "          \
    "Ch-Bg-Ba-Ra-Co-Ro")                                                                                               \
  X(dram_page_policy, 0.0, "policy", "[ours] banked: 0 open-page, 1 closed-page (auto-precharge)")                     \
  X(dram_scheduler, 0.0, "policy", "[ours] banked: 0 FR-FCFS (earliest ready slot), 1 in-order")                       \
  X(dram_queue_depth, 32.0, "bursts",                                                                                  \
    "[ours] banked: controller request buffer per channel, in bursts (DRAMSys' default of 32)")                        \
  X(dram_refresh, 1.0, "bool",                                                                                         \
    "[ours] banked: 1 all-bank refresh, tRFC every tREFI per rank (ranks staggered); 0 none")                          \
  X(bus_arbitration, 0.0, "policy",                                                                                    \
    "[ours] DRAM port of the bus: 0 round-robin (first come), 1 fixed priority (host, then unit 0, 1, ...)")           \
  X(bus_grant_ns, 1.0, "ns", "[ours] DRAM port of the bus grants one transaction per cycle at 1 GHz")                  \
  X(host_stores, 0.0, "bool",                                                                                          \
    "[ours] 0: the host's stores of K/V/queries/descriptors are untimed backdoor writes; 1: timed line writes "        \
    "through the host bridge and bus (studies)")                                                                       \
  X(host_store_outstanding, 10.0, "lines",                                                                             \
    "[ours] cache-line stores in flight: a core's 10-12 line-fill buffers (Intel 64 and IA-32 Optimization Reference " \
    "Manual)")                                                                                                         \
  X(host_store_issue_ns, 1.0, "ns", "[ours] one cache-line store issued per host cycle at 1 GHz")                      \
  X(overlap, 0.0, "bool",                                                                                              \
    "[ours] 1: double-buffered banks: while an ATTEND computes, the unit fetches the next descriptors with their "     \
    "K/V, sorted table and queries into second banks, and writes the previous job's outputs from a second output "     \
    "buffer (K/V/sorted/query/output SRAM doubles); 0: strictly sequential jobs")                                      \
  X(stream_depth, 16.0, "lines",                                                                                       \
    "[ours] K/V streaming (n > n_max, exact mode): lines the sequential prefetcher of each stream (K, V) holds in "    \
    "flight or unread; 16 x 256 B covers a DDR4 round trip (about 60 ns) at the channel's 25.6 B/ns six times over")   \
  X(stream_line_bytes, 256.0, "bytes",                                                                                 \
    "[ours] K/V streaming: one prefetch line = one DMA burst (burst_bytes) = one d_max float32 row")                   \
  X(host_blas, 1.0, "bool",                                                                                            \
    "[sim] 1: exact-mode GEMMs run whole-job on the OpenBLAS numpy loaded (its thread pool) when the process has "     \
    "one; "                                                                                                            \
    "0: on the linked scipy-openblas32 in query blocks over sim_threads")                                              \
  X(blas_threads, 1.0, "threads",                                                                                      \
    "[sim] host BLAS threads of the functional model; 1 avoids oversubscription with numpy's own pool")                \
  X(control_stack_kib, 4096.0, "KiB", "[sim] coroutine stack of each unit's control thread (kernels run on it)")       \
  X(sim_threads, 2.0, "threads",                                                                                       \
    "[sim] host threads for the functional kernels' query blocks (the machine's 2 cores)")                             \
  X(exact_score_bits, 32.0, "bits",                                                                                    \
    "[sim] exact-mode host scores: 32 = float32 GEMM (as numpy), 64 = double (docs/numerics.md)")                      \
  /* ---- robustness: iteration counter, protocol checkers, trace retention, fault injection ---- */                   \
  X(iter_counter_bits, 32.0, "bits",                                                                                   \
    "[ours] width of the candidate-selection iteration counter: ATTEND needs M < 2^bits (BAD_ITERATIONS); 2^32 "       \
    "cycles x 256 queries stays far inside SystemC's 64-bit ps time")                                                  \
  X(protocol_check, 0.0, "bool",                                                                                       \
    "[sim] 1: a TLM-2.0 base-protocol checker on every socket (the tests); 0: none (speed)")                           \
  X(trace_max_rows, 1048576.0, "rows", "[sim] retention bound of each trace table (docs/trace-schema.md section 6)")   \
  X(fi_dma_error_address, -1.0, "address",                                                                             \
    "[sim] fault injection: DRAM answers DMA bursts that cover this bus address with TLM_GENERIC_ERROR_RESPONSE; -1 "  \
    "off")                                                                                                             \
  X(fi_dma_error_rate, 0.0, "probability",                                                                             \
    "[sim] fault injection: probability that DRAM answers a DMA burst with TLM_GENERIC_ERROR_RESPONSE")                \
  X(fi_seed, 1.0, "seed",                                                                                              \
    "[sim] fault injection: seed of the generator behind fi_dma_error_rate and the corrupted bits")                    \
  X(fi_irq_drop, 0.0, "count", "[sim] fault injection: the next this-many interrupts are lost on the way to the host") \
  X(fi_irq_delay_ns, 0.0, "ns", "[sim] fault injection: extra delay of every interrupt delivery (a late interrupt)")   \
  X(fi_stuck_busy, 0.0, "count",                                                                                       \
    "[sim] fault injection: the next this-many descriptors hang after their fetch, BUSY stuck at 1 until SOFT_RESET")  \
  X(fi_corrupt_completion, 0.0, "count",                                                                               \
    "[sim] fault injection: the next this-many completion records get one bit flipped after their check word is "      \
    "computed")                                                                                                        \
  X(fi_model_exception, 0.0, "count",                                                                                  \
    "[sim] fault injection: the next this-many descriptors throw a C++ exception inside the simulation kernel (a "     \
    "stand-in for a model bug or a host limit; the platform is unusable afterwards)")

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
  // Area of one A3 unit: the sum of the Table I entries (spec 3.7), mm2.
  // With overlap = 1 the key, value and sorted-key SRAMs are double-buffered: their area counts twice.
  double area_mm2() const {
    const double sram = key_sram_area_mm2 + value_sram_area_mm2 + sorted_sram_area_mm2;
    return dot_area_mm2 + exp_area_mm2 + out_area_mm2 + cs_area_mm2 + post_area_mm2 + sram * (overlap != 0 ? 2 : 1);
  }
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
