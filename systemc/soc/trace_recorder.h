// trace_recorder.h - the opt-in observer that keeps every bus transaction and every job phase
// in row buffers that Python copies out in bulk (one memcpy per table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "soc/row_table.h"

namespace a3 {

#pragma pack(push, 1)
struct TxnRecord {
  uint64_t t_start_ps;
  uint64_t t_end_ps;
  uint64_t address;
  uint32_t bytes;
  uint32_t job;       // device job id, or NO_JOB for host MMIO
  uint8_t initiator;  // bus initiator index (0 = host bridge, 1 + u = DMA of unit u)
  uint8_t target;     // bus target index (0 = DRAM, 1 + u = registers of unit u, 255 = decode error)
  uint8_t op;         // 0 read, 1 write
  uint8_t stream;     // a3::Stream
  uint8_t status;     // 0 ok, 1 address error
  uint8_t pad[3];
  uint64_t t_grant_ps;  // the bus granted the DRAM port (= t_start_ps for other targets)
};

struct PhaseRecord {
  uint64_t t_start_ps;
  uint64_t t_end_ps;
  uint32_t job;
  uint8_t phase;  // a3::Phase
  uint8_t unit;
  uint8_t pad[2];
};

struct JobRecord {
  uint64_t t_doorbell_ps;  // when the host rang the doorbell that made this job visible
  uint64_t t_start_ps;     // descriptor fetch starts
  uint64_t t_end_ps;       // completion record written
  uint64_t M;
  uint64_t bytes_rd;
  uint64_t bytes_wr;
  uint64_t cyc_cand_sel;  // busy cycles per stage, summed over queries (spec 3.6)
  uint64_t cyc_scan;
  uint64_t cyc_dot;
  uint64_t cyc_exp;  // (post-scoring +) exponent stage
  uint64_t cyc_out;
  uint64_t cyc_post;              // of cyc_exp: the post-scoring compares, ceil(|C| / post_lanes) per query
  uint64_t cyc_sort;              // device sorter (not in compute_cycles)
  uint64_t compute_cycles;        // makespan of the pipeline for the job's queries
  uint64_t first_latency_cycles;  // latency of the first query through all stages
  uint64_t job_cycles;            // cycles from descriptor fetch to completion (the completion record's)
  uint64_t candidates;
  uint64_t selected;
  uint64_t sram_rd;
  uint64_t sram_wr;
  // SRAM bytes (read + written) per bank during the job
  uint64_t sram_key, sram_value, sram_sorted, sram_query, sram_output, sram_score;
  uint64_t dram_activates;  // row activates of the job's DRAM accesses, added by the DRAM (simple policy: 0)
  // Energy by component, pJ (energy_model.h, spec 3.7)
  double e_dot, e_exp, e_out, e_cand_sel, e_post, e_key_sram, e_value_sram, e_sorted_sram, e_dram, e_bus;
  uint32_t job;
  uint32_t tag;
  uint32_t n;
  uint32_t d;
  uint32_t m;
  float T;
  uint16_t status;
  uint8_t unit;
  uint8_t opcode;
  uint8_t mode;
  uint8_t sorted_by;  // key sorting of this job: 0 none, 1 host (LOAD_SORTED), 2 device sorter
  uint8_t pad[6];
};
// One DRAM burst (banked or simple policy), recorded by the DRAM target with the tag of the bus
// transaction it belongs to.
struct DramRecord {
  uint64_t t_arrive_ps;  // request reached the DRAM controller
  uint64_t t_data_ps;    // data transfer started
  uint64_t t_done_ps;    // data transfer ended
  uint64_t address;      // burst-aligned DRAM offset
  uint32_t row;
  uint32_t job;    // job of the transaction, or NO_JOB
  uint32_t bytes;  // burst length
  uint8_t channel;
  uint8_t rank;
  uint8_t bank;       // bank group * banks per group + bank
  uint8_t kind;       // 0 row hit, 1 row miss, 2 row conflict, 3 not modelled (simple policy)
  uint8_t op;         // 0 read, 1 write
  uint8_t initiator;  // bus initiator index, 255 unknown
  uint8_t stream;     // a3::Stream
  uint8_t pad[5];
};
#pragma pack(pop)

constexpr uint32_t NO_JOB = 0xFFFFFFFFu;

// Retention (docs/trace-schema.md section 6), with bound = max_rows: with tracing off, transactions
// are not recorded, and job and phase rows are kept only until read: a read that reaches the end of
// the job or phase table releases that table's rows (the driver reads each call's rows once, for
// its CallRecord). With tracing on, a read that reaches the end of a job or phase table holding
// 2 * bound rows or more trims it to its newest bound rows. Transactions: a table reaching
// 2 * bound rows drops its oldest bound rows. DRAM bursts: a burst that would take the table past
// 2 * bound bursts first drops the oldest runs until at most bound bursts are left (whole runs).
// Last resort (a host that never reads): a job or phase table reaching 4 * bound rows drops its
// oldest 2 * bound rows at once. Tables keep rows in blocks (row_table.h): a trim frees whole blocks
// for reuse and moves no row. Job ids stay stable (job_base counts dropped jobs); phase,
// transaction and burst row indices restart from the oldest row held.
class TraceRecorder {
 public:
  explicit TraceRecorder(uint64_t max_rows = 1u << 20) : max_rows_(max_rows < 1 ? 1 : max_rows) {}

  bool enabled = true;  // bus transactions recorded; job and phase rows are always recorded

  void txn(const TxnRecord& r) {
    if (!enabled) return;
    bound(txns_, 2);
    txns_.push_back(r);
  }
  // DRAM bursts are held as runs (DramRun below): a burst that continues the last run's steps of
  // time and address, with every other field equal, only counts up that run. Reads expand runs
  // back into one DramRecord per burst, so the table reads as before: the bursts of a transaction
  // of the `simple` policy (same arrival, data back to back) take one run instead of one row each.
  // r is the first of `count` bursts that follow it at fixed steps (a run its policy reported:
  // the same arrival, data `step_ps` apart, addresses `step_address` apart).
  void dram(const DramRecord& r, uint32_t count = 1, int32_t step_ps = 0, int32_t step_address = 0) {
    if (!enabled || count == 0) return;
    // The same retention bound as the transactions, in bursts (docs/trace-schema.md 6).
    if (dram_count() + count > 2 * max_rows_) bound_dram();
    if (count == 1 && !dram_.empty() && dram_.back().extend(r)) {
      ++dram_rows_;
      return;
    }
    dram_.push_back(DramRun{r, dram_rows_, count, 0, count > 1 ? step_ps : 0, count > 1 ? step_ps : 0,
                            count > 1 ? step_address : 0});
    dram_rows_ += count;
  }
  // Bursts held (the rows a read can return).
  uint64_t dram_count() const { return dram_.empty() ? 0 : dram_rows_ - dram_.front().row0; }
  // Bursts [start, start + count) as DramRecord rows into dst; returns how many.
  uint64_t copy_dram(uint64_t start, uint64_t count, DramRecord* dst) const;
  void phase(uint32_t job, uint8_t unit, uint8_t phase, uint64_t t0, uint64_t t1) {
    bound(phases_, 4);
    phases_.push_back(PhaseRecord{t0, t1, job, phase, unit, {0, 0}});
  }
  // Reserve a row for a new job and return its id.
  uint32_t new_job() {
    if (jobs_.size() >= 4 * max_rows_) drop_jobs(2 * max_rows_);
    jobs_.emplace_back();
    jobs_.back().job = static_cast<uint32_t>(job_base_ + jobs_.size() - 1);
    return jobs_.back().job;
  }
  // The row of a job id. A row dropped while its job runs (only if the host never reads and
  // 4 * max_rows jobs pile up) is replaced by a scratch row.
  JobRecord& job(uint32_t id) {
    if (id < job_base_ || id - job_base_ >= jobs_.size()) return scratch_;
    return jobs_[id - job_base_];
  }

  const RowTable<TxnRecord>& txns() const { return txns_; }
  const RowTable<PhaseRecord>& phases() const { return phases_; }
  // A deque: a unit holds a reference to its job's row across waits while other units add rows.
  const std::deque<JobRecord>& jobs() const { return jobs_; }
  uint64_t job_base() const { return job_base_; }
  uint64_t max_rows() const { return max_rows_; }
  uint64_t dropped() const { return dropped_; }  // rows dropped by the bounds (not by reads or clear)

  // A read of job or phase rows [start, start + count) happened (retention policy above).
  void jobs_read(uint64_t start, uint64_t count) {
    if (count == 0 || start + count < jobs_.size()) return;  // rows of jobs still running are kept
    if (!enabled)
      drop_jobs(jobs_.size(), false);
    else if (jobs_.size() >= 2 * max_rows_)
      drop_jobs(jobs_.size() - max_rows_, false);
  }
  void phases_read(uint64_t start, uint64_t count) {
    if (count == 0 || start + count < phases_.size()) return;
    if (!enabled)
      phases_.clear();
    else if (phases_.size() >= 2 * max_rows_)
      phases_.erase_front(phases_.size() - max_rows_);
  }

  // Drop what has been recorded; job ids keep counting up. Gives the memory back.
  void clear() {
    job_base_ += jobs_.size();
    txns_.release();
    dram_.release();
    dram_rows_ = 0;
    phases_.release();
    std::deque<JobRecord>().swap(jobs_);
  }

  // "name:kind:offset;..." layouts for building numpy dtypes on the Python side.
  static std::string txn_layout();
  static std::string phase_layout();
  static std::string job_layout();
  static std::string dram_layout();

 private:
  // A table reaching `times` * bound rows drops its oldest (times / 2) * bound rows.
  template <class Row>
  void bound(RowTable<Row>& rows, uint64_t times) {
    if (rows.size() < times * max_rows_) return;
    const uint64_t k = times / 2 * max_rows_;
    rows.erase_front(k);
    dropped_ += k;
  }
  // Drops at most the k oldest job rows, and only rows of jobs that have ended: a unit holds a
  // reference to its running job's row across waits (erasing at the front of a deque leaves the
  // other rows in place).
  void drop_jobs(uint64_t k, bool count = true) {
    uint64_t done = 0;
    while (done < k && done < jobs_.size() && jobs_[done].t_end_ps != 0) ++done;
    k = done;
    jobs_.erase(jobs_.begin(), jobs_.begin() + static_cast<std::ptrdiff_t>(k));
    job_base_ += k;
    if (count) dropped_ += k;
  }

  // Bursts first, first + step, ..., first + (count - 1) * step (times in ps, address in bytes).
  struct DramRun {
    DramRecord first;
    uint64_t row0;  // index of the first burst among the bursts recorded since clear()
    uint32_t count;
    int32_t step_arrive, step_data, step_done, step_address;
    bool extend(const DramRecord& r);
    DramRecord at(uint32_t i) const;
  };
  // How many held runs start before burst index `row` (runs are in row0 order).
  size_t runs_before(uint64_t row) const {
    size_t lo = 0, hi = dram_.size();
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (dram_[mid].row0 < row)
        lo = mid + 1;
      else
        hi = mid;
    }
    return lo;
  }
  // Drops the oldest runs until at most max_rows bursts are held (whole runs: a run starting
  // before the newest max_rows bursts goes).
  void bound_dram() {
    const uint64_t keep_from = dram_rows_ > max_rows_ ? dram_rows_ - max_rows_ : 0;
    const size_t lo = runs_before(keep_from);
    if (lo == 0) return;
    dropped_ += (lo < dram_.size() ? dram_[lo].row0 : dram_rows_) - dram_.front().row0;
    dram_.erase_front(lo);
  }

  uint64_t max_rows_;
  RowTable<TxnRecord> txns_;
  RowTable<DramRun> dram_;
  uint64_t dram_rows_ = 0;  // bursts recorded since clear()
  RowTable<PhaseRecord> phases_;
  std::deque<JobRecord> jobs_;
  JobRecord scratch_{};
  uint64_t job_base_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace a3
