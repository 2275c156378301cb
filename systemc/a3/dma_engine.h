// dma_engine.h - the A3 unit's DMA engine: a TLM initiator on the system bus that moves data
// between memory and the SRAM banks in bursts (one TLM transaction per burst, burst_bytes long).
// Bursts are pipelined, up to dma_outstanding in flight; the annotated delays of a transfer are
// accumulated and the calling thread waits once at its end (loosely timed).
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <systemc>
#include <tlm>

#include <unordered_map>
#include <utility>
#include <vector>

#include "a3/a3_protocol.h"
#include "soc/a3_config.h"
#include "soc/txn_tag.h"

namespace a3 {

class DmaEngine : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<DmaEngine> initiator_socket;

  DmaEngine(sc_core::sc_module_name name, const Config& cfg);
  ~DmaEngine() override;

  struct Result {
    bool ok = true;
    uint64_t fault_address = 0;  // first address that failed
    uint64_t bytes = 0;          // bytes moved before a fault (all on success)
    int status = 1;              // TLM response status of the failing burst (1 = OK)
  };
  // Memory -> local (read) or local -> memory (write). Must be called from an SC_THREAD.
  Result read(uint64_t address, void* local, uint64_t bytes, uint32_t job, Stream stream) {
    return transfer(false, address, local, bytes, job, stream);
  }
  Result write(uint64_t address, const void* local, uint64_t bytes, uint32_t job, Stream stream) {
    return transfer(true, address, const_cast<void*>(local), bytes, job, stream);
  }

  // One read burst issued at absolute time issue_ps (>= now) without waiting: the port of the
  // K/V stream prefetcher (stream_prefetcher.h), which times its lines itself. Returns the time
  // its data is in (ps); a failed burst sets res.ok = false and its fault address and status.
  uint64_t read_burst(uint64_t address, void* local, uint32_t bytes, uint64_t issue_ps, uint32_t job, Stream stream,
                      Result& res);

  uint64_t bytes_read = 0, bytes_written = 0, bursts = 0;
  // Bytes (read, written) moved for one job so far, handed over once (the job's traffic, whichever
  // thread of the unit moved them: control, prefetch or writeback).
  std::pair<uint64_t, uint64_t> take_job(uint32_t job) {
    auto it = per_job_.find(job);
    if (it == per_job_.end()) return {0, 0};
    const auto v = it->second;
    per_job_.erase(it);
    return v;
  }

 private:
  std::unordered_map<uint32_t, std::pair<uint64_t, uint64_t>> per_job_;
  Result transfer(bool write, uint64_t address, void* local, uint64_t bytes, uint32_t job, Stream stream);

  const Config& cfg_;
  uint32_t burst_;
  sc_core::sc_time setup_, issue_interval_;
  tlm::tlm_generic_payload trans_;
  TxnTag tag_;
  std::vector<uint64_t> inflight_done_;  // completion times (ps) of the last bursts, a ring
};

}  // namespace a3
