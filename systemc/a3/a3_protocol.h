// a3_protocol.h - the contract between host software and the A3 device:
// register offsets, descriptor and completion layouts, error codes, trace enumerations.
// docs/register-map.md and docs/descriptors.md describe the same; a3sim/protocol.py is the
// driver's independent copy, and tests check that both agree.
#pragma once

#include <cstddef>
#include <cstdint>

namespace a3 {

// ---- address map -----------------------------------------------------------------------------
constexpr uint64_t DRAM_BASE = 0x0000000000ull;
constexpr uint64_t MMIO_BASE = 0x1000000000ull;  // 64 GiB: unit u at MMIO_BASE + u * MMIO_STRIDE
constexpr uint64_t MMIO_STRIDE = 0x1000ull;      // 4 KiB register window per unit

constexpr uint32_t DEVICE_ID = 0x41335349u;       // "A3SI" read little-endian as 'I','S','3','A'
constexpr uint32_t DEVICE_VERSION = 0x00010000u;  // 1.0

// Entries of a descriptor or completion ring (SQ_SIZE, CQ_SIZE); CAP_QUEUE_MAX publishes the bound.
constexpr uint32_t QUEUE_ENTRIES_MIN = 2;
constexpr uint32_t QUEUE_ENTRIES_MAX = 65536;

// ---- registers (32-bit, offsets within a unit's window) --------------------------------------
namespace reg {
constexpr uint32_t ID = 0x000;               // RO
constexpr uint32_t VERSION = 0x004;          // RO
constexpr uint32_t CTRL = 0x008;             // RW  bit0 ENABLE; bit1 SOFT_RESET (write 1, self-clearing)
constexpr uint32_t STATUS = 0x00C;           // RO  bit0 BUSY, bit1 ERROR, bit2 ENABLED, [15:8] LAST_ERROR
constexpr uint32_t IRQ_STATUS = 0x010;       // RO  bit0 DONE, bit1 ERROR
constexpr uint32_t IRQ_ENABLE = 0x014;       // RW  bit0 DONE, bit1 ERROR
constexpr uint32_t IRQ_ACK = 0x018;          // WO  write 1 to clear an IRQ_STATUS bit; reads 0
constexpr uint32_t SCRATCH = 0x01C;          // RW  free for host software
constexpr uint32_t SQ_BASE_LO = 0x020;       // RW  descriptor queue base (64-byte aligned)
constexpr uint32_t SQ_BASE_HI = 0x024;       // RW
constexpr uint32_t SQ_SIZE = 0x028;          // RW  entries, QUEUE_ENTRIES_MIN..QUEUE_ENTRIES_MAX
constexpr uint32_t SQ_HEAD = 0x02C;          // RO  next entry the device fetches
constexpr uint32_t SQ_TAIL = 0x030;          // RW  doorbell: index of the next entry the host fills
constexpr uint32_t CQ_BASE_LO = 0x040;       // RW  completion queue base (32-byte aligned)
constexpr uint32_t CQ_BASE_HI = 0x044;       // RW
constexpr uint32_t CQ_SIZE = 0x048;          // RW  entries, QUEUE_ENTRIES_MIN..QUEUE_ENTRIES_MAX
constexpr uint32_t CQ_HEAD = 0x04C;          // RW  host's consumer index
constexpr uint32_t CQ_TAIL = 0x050;          // RO  next entry the device writes
constexpr uint32_t CAP_N_MAX = 0x080;        // RO
constexpr uint32_t CAP_D_MAX = 0x084;        // RO
constexpr uint32_t CAP_Q_ROWS = 0x088;       // RO
constexpr uint32_t CAP_CLOCK_MHZ = 0x08C;    // RO
constexpr uint32_t CAP_BURST_BYTES = 0x090;  // RO
constexpr uint32_t CAP_FEATURES = 0x094;     // RO  feature bits (namespace feat)
constexpr uint32_t CAP_QUEUE_MAX = 0x098;    // RO  largest SQ_SIZE / CQ_SIZE (QUEUE_ENTRIES_MAX)
constexpr uint32_t CAP_ITER_BITS = 0x09C;    // RO  width of the iteration counter: ATTEND needs M < 2^bits
// Bank residency, owned by the unit: the tag the host put in the M field of the LOAD_KV whose K/V
// the banks hold (0 when none), and which banks hold valid data (RES_FLAGS bits below).
constexpr uint32_t RES_KV_TAG_LO = 0x0A0;  // RO
constexpr uint32_t RES_KV_TAG_HI = 0x0A4;  // RO
constexpr uint32_t RES_FLAGS = 0x0A8;      // RO  bit 0 K/V loaded, bit 1 sorted-key table loaded
constexpr uint32_t PERF_BASE = 0x100;      // RO  64-bit counters: LO at +0, HI at +4 (LO read latches HI)
constexpr uint32_t PERF_CLEAR = 0x1F0;     // WO  write 1 to clear all counters
}  // namespace reg

namespace ctrl {
constexpr uint32_t ENABLE = 1u << 0;
constexpr uint32_t SOFT_RESET = 1u << 1;
}  // namespace ctrl
namespace status {
constexpr uint32_t BUSY = 1u << 0;
constexpr uint32_t ERROR = 1u << 1;
constexpr uint32_t ENABLED = 1u << 2;
constexpr uint32_t LAST_ERROR_SHIFT = 8;
}  // namespace status
namespace irq {
constexpr uint32_t DONE = 1u << 0;
constexpr uint32_t ERROR = 1u << 1;
}  // namespace irq
namespace res {
constexpr uint32_t KV = 1u << 0;      // RES_FLAGS: the K/V banks hold the tagged load
constexpr uint32_t SORTED = 1u << 1;  // RES_FLAGS: the sorted-key bank holds K's table
}  // namespace res
namespace feat {
constexpr uint32_t APPROX = 1u << 0;         // CAP_FEATURES: the approximate pipeline (always present)
constexpr uint32_t DEVICE_SORTER = 1u << 1;  // CAP_FEATURES: LOAD_SORTED may sort on the device
constexpr uint32_t MIN_SKIP = 1u << 2;       // CAP_FEATURES: candidate selection has the min-side skip
                                             // (spec 3.2 rule 3; dflag::NO_MIN_SKIP turns it off)
constexpr uint32_t FIXED_POINT = 1u << 3;    // CAP_FEATURES: the fixed-point datapath is in force (spec 2.1)
}  // namespace feat

// Performance counters, in order from PERF_BASE, 8 bytes apart.
#define A3_PERF_TABLE(X)                                                     \
  X(JOBS, "jobs completed without error")                                    \
  X(ERRORS, "jobs completed with an error status")                           \
  X(QUERIES, "queries computed")                                             \
  X(BUSY_CYCLES, "cycles from descriptor fetch to completion write, summed") \
  X(CYC_CAND_SEL, "busy cycles of the candidate-selection stage")            \
  X(CYC_SCAN, "busy cycles of the greedy-score scan stage")                  \
  X(CYC_DOT, "busy cycles of the dot-product stage")                         \
  X(CYC_EXP, "busy cycles of the (post-scoring +) exponent stage")           \
  X(CYC_OUT, "busy cycles of the output stage")                              \
  X(CYC_SORT, "cycles of the device sorter")                                 \
  X(BYTES_RD, "bytes read by the DMA engine")                                \
  X(BYTES_WR, "bytes written by the DMA engine")                             \
  X(CANDIDATES, "candidate rows (|C|) summed over queries")                  \
  X(SELECTED, "selected rows (|SEL|) summed over queries")                   \
  X(SRAM_RD, "bytes read from the SRAM banks")                               \
  X(SRAM_WR, "bytes written to the SRAM banks")

enum class Perf : uint32_t {
#define A3_PERF_ENUM(name, doc) name,
  A3_PERF_TABLE(A3_PERF_ENUM)
#undef A3_PERF_ENUM
      COUNT
};

// ---- descriptors (64 bytes, little endian, in the descriptor queue) ---------------------------
enum class Opcode : uint8_t { NOP = 0, LOAD_KV = 1, ATTEND = 2, LOAD_SORTED = 3 };
enum class Mode : uint8_t { EXACT = 0, APPROX = 1, POST_ONLY = 2 };
namespace dflag {
constexpr uint16_t IRQ = 1u << 0;          // raise the DONE interrupt when this descriptor completes
constexpr uint16_t ROW_STATS = 1u << 1;    // ATTEND: write per-query stats to addr_c
constexpr uint16_t NO_MIN_SKIP = 1u << 2;  // ATTEND approx: candidate selection without the min-side skip
constexpr uint16_t SETS = 1u << 3;         // ATTEND: write candidate/selected bitmaps to addr_d
}  // namespace dflag

#pragma pack(push, 1)
struct Descriptor {
  uint8_t opcode;   // 0x00 Opcode
  uint8_t mode;     // 0x01 Mode (ATTEND)
  uint16_t flags;   // 0x02 dflag bits
  uint32_t tag;     // 0x04 host's job tag, echoed in the completion
  uint32_t n;       // 0x08 rows of K/V (LOAD_KV) or of the loaded K/V (ATTEND, checked)
  uint32_t d;       // 0x0C row length
  uint32_t m;       // 0x10 queries (ATTEND)
  float T;          // 0x14 post-scoring threshold (ATTEND approx/post_only)
  uint64_t M;       // 0x18 candidate-selection iterations (ATTEND approx)
  uint64_t addr_a;  // 0x20 LOAD_KV: K (n x d f32) | ATTEND: queries (m x d f32)
                    //      LOAD_SORTED: sorted-key table (d x n f32 values, then d x n u32 rows)
  uint64_t addr_b;  // 0x28 LOAD_KV: V (n x d f32) | ATTEND: outputs (m x d f32)
  uint64_t addr_c;  // 0x30 ATTEND with ROW_STATS: row stats (m x 24 B)
  uint64_t addr_d;  // 0x38 ATTEND with SETS: bitmaps, per query ceil(n/32) u32 of C then of SEL
};
static_assert(sizeof(Descriptor) == 64, "descriptor is 64 bytes");

// Per-query stats written by ATTEND with ROW_STATS (24 bytes). s_max and sum_exp are double: the
// host merges tiles with them (log-sum-exp), and a float32 s_max of a large score would shift a
// tile's weight by exp(rounding error), about 5e-6 relative at |s| = 80.
struct RowStats {
  double s_max;     // max score over the selected rows
  double sum_exp;   // sum over SEL of exp(s_i - s_max)
  uint32_t n_cand;  // |C|
  uint32_t n_sel;   // |SEL|
};
static_assert(sizeof(RowStats) == 24, "row stats are 24 bytes");

// Completion record (32 bytes, in the completion queue).
struct Completion {
  uint32_t tag;       // 0x00 descriptor tag
  uint16_t status;    // 0x04 Error code (0 = OK)
  uint8_t opcode;     // 0x06 descriptor opcode
  uint8_t phase;      // 0x07 phase bit: 1 on the first pass of the ring, toggles each wrap
  uint64_t cycles;    // 0x08 device cycles from descriptor fetch to completion
  uint32_t sq_index;  // 0x10 index of the descriptor in the queue
  uint32_t queries;   // 0x14 queries computed
  uint32_t detail;    // 0x18 error detail (offending value, truncated to 32 bits)
  uint32_t check;     // 0x1C CRC-32 (IEEE, as zlib's crc32) of bytes 0x00..0x1B: a host detects a corrupted record
};
static_assert(sizeof(Completion) == 32, "completion is 32 bytes");
#pragma pack(pop)

// CRC-32 (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF), bitwise: 28 bytes
// per completion record cost nothing next to the record's DMA write.
inline uint32_t crc32(const void* data, size_t bytes) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < bytes; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}
inline uint32_t completion_check(const Completion& c) { return crc32(&c, offsetof(Completion, check)); }

// ---- error codes ------------------------------------------------------------------------------
// X(name, code, message). User-provokable faults are status codes, never SystemC error reports
// (those stop the kernel for the rest of the process; they are kept for model bugs).
#define A3_ERROR_TABLE(X)                                                                                    \
  X(OK, 0, "success")                                                                                        \
  X(BAD_OPCODE, 1, "descriptor opcode is not NOP, LOAD_KV, ATTEND or LOAD_SORTED")                           \
  X(BAD_MODE, 2, "descriptor mode is not exact, approx or post_only")                                        \
  X(BAD_SHAPE, 3, "n, d or m is zero")                                                                       \
  X(N_TOO_LARGE, 4, "n exceeds the key/value SRAM capacity (CAP_N_MAX)")                                     \
  X(D_TOO_LARGE, 5, "d exceeds the datapath width (CAP_D_MAX)")                                              \
  X(M_TOO_LARGE, 6, "m exceeds the query/output bank depth (CAP_Q_ROWS)")                                    \
  X(BAD_PARAM, 7, "T is not a number in [0, 1]")                                                             \
  X(NO_KV, 8, "ATTEND or LOAD_SORTED without K/V loaded by a LOAD_KV")                                       \
  X(KV_MISMATCH, 9, "ATTEND or LOAD_SORTED n or d differs from the loaded K/V")                              \
  X(NO_SORTED_TABLE, 10, "approx mode needs a sorted-key table (LOAD_SORTED, or the device sorter)")         \
  X(DMA_FAULT, 11, "a DMA transfer hit an address outside memory (address error response)")                  \
  X(NONFINITE, 12, "a score or output is NaN or infinite")                                                   \
  X(QUEUE_CONFIG, 13, "descriptor or completion queue base/size/tail is invalid")                            \
  X(CQ_OVERFLOW, 14, "completion queue full: the host did not advance CQ_HEAD")                              \
  X(BAD_ALIGN, 15, "a descriptor address is not 4-byte aligned")                                             \
  X(BAD_TABLE, 16, "the sorted-key table holds a row index >= n or a non-finite value")                      \
  X(DMA_ERROR, 17, "a DMA burst got an error response from its target (e.g. an uncorrectable memory error)") \
  X(BAD_ITERATIONS, 18, "ATTEND M does not fit the iteration counter (M >= 2^CAP_ITER_BITS)")

enum class Error : uint16_t {
#define A3_ERROR_ENUM(name, code, msg) name = code,
  A3_ERROR_TABLE(A3_ERROR_ENUM)
#undef A3_ERROR_ENUM
};

// ---- trace enumerations -----------------------------------------------------------------------
enum class Phase : uint8_t {
  QUEUE = 0,      // doorbell (arrival of the SQ_TAIL write that made the job visible) to fetch
  FETCH = 1,      // descriptor fetch
  DMA_IN = 2,     // K/V/sorted table or queries into the SRAM banks
  SORT = 3,       // device sorter
  CAND_SEL = 4,   // candidate selection stage (approx)
  SCAN = 5,       // greedy-score scan stage (approx)
  DOT = 6,        // dot-product stage
  EXP = 7,        // (post-scoring +) exponent stage
  OUTPUT = 8,     // output stage
  DMA_OUT = 9,    // outputs, stats, bitmaps to memory
  COMPLETE = 10,  // completion record write
  IRQ = 11,       // interrupt line to host software
};

// What a DMA transfer carries (the trace's 'stream' column).
enum class Stream : uint8_t {
  NONE = 0,
  DESC = 1,
  K = 2,
  V = 3,
  SORTED = 4,
  Q = 5,
  OUT = 6,
  STATS = 7,
  SETS = 8,
  COMPLETION = 9,
  MMIO = 10
};

}  // namespace a3
