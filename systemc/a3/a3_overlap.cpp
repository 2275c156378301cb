// a3_overlap.cpp - the A3 unit's overlap of memory traffic with compute (config overlap = 1,
// docs/memory-model.md section 8): the prefetch thread that fills the second banks with the next
// descriptors' K/V, sorted table and queries while an ATTEND computes, and the writeback thread
// that writes a finished ATTEND's outputs from the second output buffer, then every job's
// completion record and interrupt, in queue order, while the control unit goes on.
#include <algorithm>
#include <cstring>

#include "a3/a3_device.h"

namespace a3 {

using namespace sc_core;

void A3Device::prefetch() {
  for (;;) {
    wait(prefetch_ev_);
    pf_busy_ = true;
    // Fetch ahead, in queue order, up to and with the next ATTEND (its compute triggers the next round).
    while (pf_q_.size() < 3) {
      const uint64_t now = sc_time_stamp().value();
      // Only descriptors the host has made visible by now (their doorbell has arrived).
      if (!regs.enabled() || !queue_config_ok() || !regs.sq_pending() || regs.doorbell_ps() > now) break;
      const uint32_t idx = pf_q_.empty() ? regs.sq_head() : (pf_q_.back().sq_index + 1) % regs.sq_size();
      if (idx == regs.sq_tail()) break;
      const uint64_t gen = pf_gen_;
      Prefetched e;
      const bool more = prefetch_one(idx, e);
      if (gen != pf_gen_) {  // a soft reset meanwhile: the entry belongs to no queue any more
        dma.take_job(e.job);
        break;
      }
      pf_q_.push_back(std::move(e));
      if (!more) break;
    }
    pf_busy_ = false;
    prefetch_done_ev_.notify();
  }
}

bool A3Device::prefetch_one(uint32_t idx, Prefetched& e) {
  e.sq_index = idx;
  e.job = recorder_->new_job();
  e.t_fetch0 = sc_time_stamp().value();
  e.fetch = dma.read(regs.sq_base() + 64ull * idx, &e.desc, sizeof e.desc, e.job, Stream::DESC);
  e.t_fetch1 = e.t_d0 = e.t_d1 = sc_time_stamp().value();
  if (!e.fetch.ok) return false;
  const Descriptor& d = e.desc;
  const uint64_t eb = static_cast<uint64_t>(cfg_.elem_bytes);
  const bool aligned = (d.addr_a & 3) == 0 && (d.addr_b & 3) == 0;
  const bool shape = d.n > 0 && d.d > 0 && d.d <= cfg_.d_max && aligned;
  switch (static_cast<Opcode>(d.opcode)) {
    case Opcode::LOAD_KV: {  // into the second K/V bank: K, then V (as load_kv() reads them)
      if (!shape || (d.n > cfg_.n_max && !(d.flags & dflag::STREAM))) return false;
      const uint64_t bytes = std::min<uint64_t>(d.n, static_cast<uint64_t>(cfg_.n_max)) * d.d * eb;
      e.a.resize(bytes);
      e.b.resize(bytes);
      e.data = dma.read(d.addr_a, e.a.data(), bytes, e.job, Stream::K);
      e.bytes_a = e.data.bytes;
      if (e.data.ok) {
        e.data = dma.read(d.addr_b, e.b.data(), bytes, e.job, Stream::V);
        e.bytes_b = e.data.bytes;
      }
      break;
    }
    case Opcode::LOAD_SORTED: {  // into the second sorted-key bank
      if (!shape || d.n > cfg_.n_max) return false;
      const uint64_t bytes = static_cast<uint64_t>(d.n) * d.d * static_cast<uint64_t>(cfg_.sorted_entry_bytes);
      e.a.resize(bytes);
      e.data = dma.read(d.addr_a, e.a.data(), bytes, e.job, Stream::SORTED);
      break;
    }
    case Opcode::ATTEND: {  // into the second query buffer; then stop
      if (d.m == 0 || d.m > cfg_.q_rows || d.d == 0 || d.d > cfg_.d_max || (d.addr_a & 3) != 0) return false;
      const uint64_t bytes = static_cast<uint64_t>(d.m) * d.d * eb;
      e.a.resize(bytes);
      e.data = dma.read(d.addr_a, e.a.data(), bytes, e.job, Stream::Q);
      e.has_data = true;
      e.t_d1 = sc_time_stamp().value();
      return false;
    }
    default: return false;
  }
  e.has_data = true;
  e.t_d1 = sc_time_stamp().value();
  return e.data.ok;
}

bool A3Device::take_prefetched() {
  // The prefetch thread may be fetching this descriptor (and its data) right now.
  while (pf_busy_) wait(prefetch_done_ev_);
  cur_pre_ = !pf_q_.empty() && pf_q_.front().sq_index == regs.sq_head();
  if (cur_pre_) {
    cur_pf_ = std::move(pf_q_.front());
    pf_q_.pop_front();
  } else {
    drop_prefetched();  // stale (the queues were re-programmed)
  }
  return cur_pre_;
}

void A3Device::drop_prefetched() {
  for (const Prefetched& e : pf_q_) dma.take_job(e.job);  // their traffic belongs to no job record
  pf_q_.clear();
  ++pf_gen_;
}

Error A3Device::hand_off(const Descriptor& desc) {
  // The second output buffer still holds the previous job's outputs: wait until they are out.
  while (wb_out_busy_) wait(wb_done_ev_);
  const uint64_t q_bytes = static_cast<uint64_t>(desc.m) * desc.d * static_cast<uint64_t>(cfg_.elem_bytes);
  wb_out_.assign(banks.output.data(), banks.output.data() + q_bytes);
  banks.output.count_read(q_bytes);
  const auto* st = reinterpret_cast<const uint8_t*>(core.stats().data());
  wb_stats_.assign(st, st + static_cast<size_t>(desc.m) * sizeof(RowStats));
  const auto* sets = reinterpret_cast<const uint8_t*>(core.sets().data());
  if (desc.flags & dflag::SETS)
    wb_sets_.assign(sets, sets + core.sets().size() * 4);
  else
    wb_sets_.clear();
  wb_out_busy_ = true;
  out_pending_ = true;
  return Error::OK;
}

void A3Device::writeback() {
  for (;;) {
    while (wb_q_.empty()) wait(wb_ev_);
    Done& dn = wb_q_.front();  // stays queued until finished: drain_writeback() sees it
    finish(dn);
    if (dn.outputs) wb_out_busy_ = false;
    wb_q_.pop_front();
    wb_done_ev_.notify();
  }
}

void A3Device::drain_writeback() {
  while (!wb_q_.empty()) wait(wb_done_ev_);
}

}  // namespace a3
