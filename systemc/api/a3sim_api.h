// a3sim_api.h - the thin interface that Python includes through cppyy. Plain C++ types only, no
// SystemC headers (including <systemc> from Python costs ~0.6 s). One platform per process:
// C++ owns it for the life of the process.
#pragma once

#include <cstddef>
#include <cstdint>

namespace a3sim {

// Returned by the int entry points when no platform exists yet (last_error() says so), and when
// an argument is refused (last_error() says which). Entry points returning counts or addresses
// return 0 without a platform; none of them touches a missing platform.
constexpr int NO_PLATFORM = -1000;
constexpr int BAD_ARGUMENT = -1001;
// Returned by the entry points that run the simulation (run_until_irq, write_and_wait,
// timed_store) when a C++ exception escaped the SystemC kernel (a model bug, or a host limit such
// as memory; fault fi_model_exception provokes one): last_error() keeps its message, and since
// SystemC's state is then undefined, every later entry point acts as if no platform existed
// (NO_PLATFORM, with the same message). The process itself survives.
constexpr int MODEL_ERROR = -1002;

// Build the platform from "key=value;..." overrides of the defaults (a3_config.h). Returns 0, or
// -1 with last_error() set (unknown key, bad value, or a platform already built).
int create(const char* config);
const char* last_error();
bool exists();

// config_table, error_table, initiator_names, target_names, the four trace layouts and the DRAM's
// base, size and host pointer in one text: each after a line "@@name" (config, errors, initiators,
// targets, layout_txn, layout_phase, layout_job, layout_dram, dram: "base|n", "size|n", "ptr|n").
const char* describe();
// The configuration in force (or the defaults before create()): one line per entry,
// "name|value|default|unit|source".
const char* config_table();
// The BLAS of the functional kernels: "key|value" lines, config (the library's build string:
// name, version, options), corename (the kernel it selected for this CPU at run time), threads.
const char* blas_info();
// Error codes: one line per code, "code|NAME|message". Performance counters: "NAME|doc".
const char* error_table();
const char* perf_table();
// The protocol's other tables as a3_protocol.h defines them, one line per entry,
// "table|NAME|value": opcode, mode, phase, stream, dflag, reg, ctrl_bit, status_bit, irq_bit, limit,
// and layout (descriptor.FIELD / completion.FIELD / row_stats.FIELD -> offset; *.__size__ -> bytes).
const char* protocol_table();
// Bus initiator and target names, ';'-separated, in index order.
const char* initiator_names();
const char* target_names();

// MMIO through the host bridge. mmio_read returns the value (0..2^32-1), or the (negative) TLM
// response status on an error response. mmio_write returns 1 (TLM_OK_RESPONSE) or the TLM status.
int64_t mmio_read(uint64_t address);
int mmio_write(uint64_t address, uint32_t value);
uint64_t mmio_base(uint32_t unit);
// Two MMIO writes in one call, in order (e.g. IRQ_ACK, then CQ_HEAD after a drain): 1, or the TLM
// status of the first write that got an error response (the second is then not issued).
int mmio_write2(uint64_t address0, uint32_t value0, uint64_t address1, uint32_t value1);
// Timed host store (config host_stores = 1): the host's bytes [address, +bytes) of DRAM, already
// written through the backdoor view, go over the bus as cache-line writes tagged with `stream`
// (a3::Stream code). Returns 1 (TLM_OK_RESPONSE), 0 when host_stores = 0 (nothing to do), or the
// (negative) TLM status of a failed line.
int host_store(uint64_t address, uint64_t bytes, uint32_t stream);

// DRAM: bus address of byte 0, size, and the host pointer to its backing store.
uint64_t dram_base();
uint64_t dram_size();
uintptr_t dram_ptr();

// Simulate until an interrupt reaches the host (returns 1), or nothing is left to do or max_ns
// pass (returns 0). max_ns must be >= 0 (BAD_ARGUMENT otherwise); above 1e15 it means no limit.
int run_until_irq(double max_ns);
// A host MMIO write followed by run_until_irq (a doorbell, then wait for the interrupt): one call
// instead of two. Returns -1 if the write got an error response.
int write_and_wait(uint64_t address, uint32_t value, double max_ns);
// Index of the first NaN or infinity among `count` float32 values at `data`, or -1 if all are
// finite (the driver's input check; the device checks again after its DMA).
int64_t first_nonfinite(const float* data, uint64_t count);
// The host writes `count` float32 values from `data` into DRAM at bus address `address` (its own
// memory, through the backdoor, like a numpy view) and checks them on the way: returns the index
// of the first NaN or infinity, -1 if all are finite, or BAD_ARGUMENT (outside DRAM; nothing
// written). The driver's input staging: one call instead of a copy and a separate check.
int64_t stage_f32(uint64_t address, const float* data, uint64_t count);
// Eight uint64 at dst: job_base, job rows, phase rows, transaction rows, host time (ps), time of
// the last interrupt delivered (ps), simulation time (ps), interrupts delivered.
void snapshot(uintptr_t dst);
double now_ns();
double host_now_ns();
// Delivery time (ps) of the last interrupt that reached the host (snapshot's last_irq_ps alone).
uint64_t last_irq_ps();

// Trace buffers: counts, row layouts ("name:kind:offset;...;__size__:V:bytes") and bulk copies
// of rows [start, start + count) to dst (a buffer of count * row size bytes).
void trace_enable(bool on);
bool trace_enabled();
void trace_clear();
uint64_t txn_count();
uint64_t phase_count();
uint64_t job_count();  // rows held
uint64_t job_base();   // id of the first held job row
const char* txn_layout();
const char* phase_layout();
const char* job_layout();
uint64_t copy_txns(uint64_t start, uint64_t count, uintptr_t dst);
uint64_t copy_phases(uint64_t start, uint64_t count, uintptr_t dst);
uint64_t copy_jobs(uint64_t start, uint64_t count, uintptr_t dst);
// The rows of one driver call in one copy: job rows from job id `job_id` and phase rows from
// index `phase_start`, each to the end of its table, job rows first, then phase rows, at dst (a
// buffer of `capacity` bytes). Returns (jobs << 32) | phases; when they do not fit, nothing is
// copied (call again with a buffer of jobs * job row size + phases * phase row size bytes).
// Counts as a read of those rows (retention, docs/trace-schema.md section 6).
uint64_t copy_call_rows(uint64_t job_id, uint64_t phase_start, uintptr_t dst, uint64_t capacity);
// Rows dropped by the retention bound trace_max_rows (docs/trace-schema.md section 6).
uint64_t trace_dropped();

// Fault injection (docs/descriptors.md section 9): set a fault by its configuration name (fi_*);
// 0, or BAD_ARGUMENT with last_error(). fault_count(kind): faults injected so far, kind 0..4 =
// DMA error at the address, random DMA error, lost interrupt, stuck busy, corrupted completion.
int fault_set(const char* name, double value);
uint64_t fault_count(int kind);

// TLM-2.0 base-protocol checkers (configuration entry protocol_check; register-map.md section 10):
// whether they are in, transactions checked, violations found, and "rule|count" lines followed
// by "message|text" lines of the first violations.
bool protocol_enabled();
uint64_t protocol_checked();
uint64_t protocol_violations();
const char* protocol_report();
void protocol_clear();
// A host transaction with any attributes (fuzzing, protocol tests): bytes 1..4096 at address,
// data at `data` (0: a scratch buffer), streaming width >= 1, byte enables from a repeating 32-bit
// mask (0xFFFFFFFF: none), preset_ok: a response status wrongly preset to OK (an initiator bug).
// Returns the TLM response status (1 = OK, negative = error response).
int host_transaction(bool write, uint64_t address, uintptr_t data, uint32_t bytes, uint32_t streaming_width,
                     uint32_t be_mask, bool preset_ok);

// DRAM (memory system): the timing policy's resolved parameters ("name|value|unit|source" lines),
// its statistics since the last reset ("name|value|unit" lines), a reset, and the DRAM burst
// trace (one row per DRAM burst while recording is on).
const char* dram_spec();
const char* dram_stats();
void dram_reset_stats();
uint64_t dram_latency_hist(uintptr_t dst, uint64_t max_bins);  // uint64 bins; returns the bin count
uint64_t dram_count();
const char* dram_layout();
uint64_t copy_dram(uint64_t start, uint64_t count, uintptr_t dst);

// Cycle formulas of the timing model in force (for tests and docs, spec 3.6): stage = 0 dot(rows),
// 1 exponent(n), 2 output(rows), 3 cand_sel(M), 4 scan(n), 5 post_exponent(c, s), 6 sort(n, d).
uint64_t timing_formula(int stage, uint64_t a, uint64_t b);

}  // namespace a3sim
