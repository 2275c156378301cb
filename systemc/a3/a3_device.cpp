#include "a3/a3_device.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/exact_kernel.h"

namespace a3 {

using namespace sc_core;

A3Device::A3Device(sc_module_name name, const Config& cfg, uint8_t unit, TraceRecorder* recorder, FaultInjector* faults)
    : sc_module(name),
      regs("regs", cfg),
      dma("dma", cfg),
      banks(cfg),
      core("core", cfg, banks),
      streamer(cfg, dma),
      cfg_(cfg),
      unit_(unit),
      recorder_(recorder),
      faults_(faults),
      cycle_(cfg.cycle_ns(), SC_NS),
      energy_(cfg) {
  regs.on_soft_reset = [this] {
    kv_loaded = sorted_loaded = kv_streamed = false;
    kv_tag = 0;
    regs.set_residency(0, 0);
    drop_prefetched();
  };
  SC_THREAD(control);
  // The control thread runs the functional kernels (BLAS, the approximation) on its coroutine
  // stack: give it room beyond QuickThreads' default.
  set_stack_size(static_cast<size_t>(cfg.control_stack_kib) * 1024);
  if (cfg.overlap != 0) {
    SC_THREAD(prefetch);
    SC_THREAD(writeback);
  }
}

bool A3Device::queue_config_ok() const {
  auto size_ok = [](uint32_t s) { return s >= QUEUE_ENTRIES_MIN && s <= QUEUE_ENTRIES_MAX; };
  return size_ok(regs.sq_size()) && size_ok(regs.cq_size()) && (regs.sq_base() % 64) == 0 &&
         (regs.cq_base() % 32) == 0 && regs.sq_tail() < regs.sq_size() && regs.sq_head() < regs.sq_size() &&
         regs.cq_head() < regs.cq_size() && regs.cq_tail() < regs.cq_size();
}

void A3Device::control() {
  for (;;) {
    // Written as a condition loop: a doorbell rung while the unit is busy is not lost.
    while (!(regs.enabled() && regs.sq_pending())) wait(regs.doorbell_ev);
    // Register writes apply when the host issues them; the device acts on them at their arrival.
    const uint64_t now = sc_time_stamp().value();
    if (regs.doorbell_ps() > now) wait(sc_time::from_value(regs.doorbell_ps() - now));
    regs.set_busy(true);
    if (faults_ && faults_->take_model_exception())
      throw std::runtime_error("injected model exception (fi_model_exception) at descriptor " +
                               std::to_string(regs.sq_head()));
    if (faults_ && faults_->take_stuck_busy())
      hang();
    else
      process_descriptor();
    // Overlap: BUSY stays up while finished jobs' outputs and completions are still going out,
    // unless the next descriptor is already there to be worked on.
    if (cfg_.overlap != 0 && !(regs.enabled() && regs.sq_pending() && regs.doorbell_ps() <= sc_time_stamp().value() &&
                               !regs.reset_pending()))
      drain_writeback();
    regs.set_busy(false);
    if (regs.take_pending_reset()) regs.soft_reset();
  }
}

void A3Device::hang() {
  // The descriptor is taken off the queue and never completes: no record, no interrupt, BUSY = 1,
  // until host software writes SOFT_RESET (applied by control() as soon as this returns).
  if (queue_config_ok()) regs.set_sq_head((regs.sq_head() + 1) % regs.sq_size());
  while (!regs.reset_pending()) wait(regs.reset_ev);
}

void A3Device::process_descriptor() {
  const bool pre = take_prefetched();
  const uint32_t job = begin_job(pre);
  Done dn;
  dn.job = job;
  dn.t_start = recorder_->job(job).t_start_ps;
  const TrafficMark start = traffic_mark();
  dn.sq_index = regs.sq_head();
  out_pending_ = false;
  dn.err = fetch(job, dn.sq_index, pre, dn.desc, dn.detail);
  if (dn.err == Error::OK) dn.err = execute(dn.desc, job, recorder_->job(job), dn.detail);
  account_sram(recorder_->job(job), start);
  dn.outputs = out_pending_;
  cur_pre_ = false;
  if (cfg_.overlap == 0) {
    finish(dn);
  } else {  // the writeback thread finishes jobs in queue order while the next one runs
    wb_q_.push_back(dn);
    wb_ev_.notify(SC_ZERO_TIME);
  }
}

void A3Device::finish(Done& dn) {
  if (dn.outputs && dn.err == Error::OK)
    dn.err = write_outputs(dn.desc, dn.job, wb_out_.data(), wb_stats_.data(), wb_sets_.data(), wb_sets_.size(), false,
                           dn.detail);
  const bool written = complete(dn.job, dn.desc, dn.sq_index, dn.t_start, dn.err, dn.detail);
  JobRecord& rec = recorder_->job(dn.job);
  rec.status = static_cast<uint16_t>(dn.err);
  rec.t_end_ps = sc_time_stamp().value();
  account(rec);
  count(rec, dn.desc, dn.err);
  interrupt(dn.job, dn.desc, dn.err, written, rec.t_end_ps);
}

uint32_t A3Device::begin_job(bool prefetched) {
  const uint32_t job = prefetched ? cur_pf_.job : recorder_->new_job();
  const uint64_t t_start = prefetched ? cur_pf_.t_fetch0 : sc_time_stamp().value();
  JobRecord& rec = recorder_->job(job);
  rec.unit = unit_;
  rec.t_doorbell_ps = std::min(regs.doorbell_ps(), t_start);
  rec.t_start_ps = t_start;
  phase(job, Phase::QUEUE, rec.t_doorbell_ps, t_start);
  return job;
}

Error A3Device::fetch(uint32_t job, uint32_t sq_index, bool prefetched, Descriptor& desc, uint32_t& detail) {
  if (!queue_config_ok()) {
    // Nothing can be fetched or completed: drop what is pending and say why.
    detail = regs.sq_tail();
    regs.set_sq_head(regs.sq_tail() < regs.sq_size() ? regs.sq_tail() : 0);
    if (regs.sq_tail() >= regs.sq_size()) regs.soft_reset();
    return Error::QUEUE_CONFIG;
  }
  DmaEngine::Result r;
  if (prefetched) {
    desc = cur_pf_.desc;
    r = cur_pf_.fetch;
    phase(job, Phase::FETCH, cur_pf_.t_fetch0, cur_pf_.t_fetch1);
  } else {
    const uint64_t t0 = sc_time_stamp().value();
    r = dma.read(regs.sq_base() + 64ull * sq_index, &desc, sizeof desc, job, Stream::DESC);
    phase(job, Phase::FETCH, t0, sc_time_stamp().value());
  }
  regs.set_sq_head((sq_index + 1) % regs.sq_size());
  if (!r.ok) {
    detail = static_cast<uint32_t>(r.fault_address);
    desc = Descriptor{};
    return dma_error(r);
  }
  JobRecord& rec = recorder_->job(job);
  rec.tag = desc.tag;
  rec.opcode = desc.opcode;
  rec.mode = desc.mode;
  rec.n = desc.n;
  rec.d = desc.d;
  rec.m = desc.m;
  rec.M = desc.M;
  rec.T = desc.T;
  return Error::OK;
}

bool A3Device::complete(uint32_t job, const Descriptor& desc, uint32_t sq_index, uint64_t t_start, Error& err,
                        uint32_t& detail) {
  const uint64_t t_c = sc_time_stamp().value();
  bool written = false;
  if (err != Error::QUEUE_CONFIG) {
    const uint32_t next = (regs.cq_tail() + 1) % regs.cq_size();
    if (next == regs.cq_head()) {
      err = Error::CQ_OVERFLOW;
      detail = regs.cq_tail();
    } else {
      Completion c{};
      c.tag = desc.tag;
      c.status = static_cast<uint16_t>(err);
      c.opcode = desc.opcode;
      c.phase = regs.cq_phase();
      c.cycles = (sc_time_stamp().value() - t_start) / cycle_.value();
      c.sq_index = sq_index;
      c.queries = (err == Error::OK && desc.opcode == static_cast<uint8_t>(Opcode::ATTEND)) ? desc.m : 0;
      c.detail = detail;
      c.check = completion_check(c);
      uint32_t bit = 0;
      if (faults_ && faults_->take_corrupt_completion(bit)) reinterpret_cast<uint8_t*>(&c)[bit / 8] ^= 1u << (bit % 8);
      DmaEngine::Result r = dma.write(regs.cq_base() + 32ull * regs.cq_tail(), &c, sizeof c, job, Stream::COMPLETION);
      if (r.ok) {
        regs.advance_cq_tail();
        written = true;
      } else {
        err = dma_error(r);
        detail = static_cast<uint32_t>(r.fault_address);
      }
    }
  }
  phase(job, Phase::COMPLETE, t_c, sc_time_stamp().value());
  return written;
}

A3Device::TrafficMark A3Device::traffic_mark() {
  TrafficMark t;
  t.sram_rd = banks.read_bytes();
  t.sram_wr = banks.write_bytes();
  auto all = banks.all();
  for (size_t b = 0; b < all.size(); ++b) t.bank[b] = all[b]->read_bytes + all[b]->write_bytes;
  return t;
}

void A3Device::account_sram(JobRecord& rec, const TrafficMark& start) {
  const TrafficMark now = traffic_mark();
  rec.sram_rd = now.sram_rd - start.sram_rd;
  rec.sram_wr = now.sram_wr - start.sram_wr;
  rec.sram_key = now.bank[0] - start.bank[0];
  rec.sram_value = now.bank[1] - start.bank[1];
  rec.sram_sorted = now.bank[2] - start.bank[2];
  rec.sram_query = now.bank[3] - start.bank[3];
  rec.sram_output = now.bank[4] - start.bank[4];
  rec.sram_score = now.bank[5] - start.bank[5];
}

void A3Device::account(JobRecord& rec) {
  // DMA bytes of this job, whichever thread moved them (the prefetch thread's are the job's own).
  const auto bytes = dma.take_job(rec.job);
  rec.bytes_rd = bytes.first;
  rec.bytes_wr = bytes.second;
  // rec.dram_activates: added by the DRAM as this job's accesses activate rows (the banked policy;
  // the simple policy has none).
  rec.job_cycles = (rec.t_end_ps - rec.t_start_ps) / cycle_.value();
  energy_.account(rec);
}

void A3Device::count(const JobRecord& rec, const Descriptor& desc, Error err) {
  regs.count(err == Error::OK ? Perf::JOBS : Perf::ERRORS, 1);
  if (err == Error::OK && desc.opcode == static_cast<uint8_t>(Opcode::ATTEND)) regs.count(Perf::QUERIES, desc.m);
  regs.count(Perf::BUSY_CYCLES, rec.job_cycles);
  regs.count(Perf::CYC_CAND_SEL, rec.cyc_cand_sel);
  regs.count(Perf::CYC_SCAN, rec.cyc_scan);
  regs.count(Perf::CYC_DOT, rec.cyc_dot);
  regs.count(Perf::CYC_EXP, rec.cyc_exp);
  regs.count(Perf::CYC_OUT, rec.cyc_out);
  regs.count(Perf::CYC_SORT, rec.cyc_sort);
  regs.count(Perf::BYTES_RD, rec.bytes_rd);
  regs.count(Perf::BYTES_WR, rec.bytes_wr);
  regs.count(Perf::CANDIDATES, rec.candidates);
  regs.count(Perf::SELECTED, rec.selected);
  regs.count(Perf::SRAM_RD, rec.sram_rd);
  regs.count(Perf::SRAM_WR, rec.sram_wr);
}

void A3Device::interrupt(uint32_t job, const Descriptor& desc, Error err, bool completion_written, uint64_t t_end) {
  uint32_t irq_bits = 0;
  if (err != Error::OK) {
    regs.record_error(err);
    irq_bits = irq::ERROR;
  } else if ((desc.flags & dflag::IRQ) && completion_written) {
    irq_bits = irq::DONE;
  }
  if (irq_bits && regs.raise_irq(irq_bits)) {
    // The line rose: the host bridge delivers the interrupt irq_latency_ns later.
    phase(job, Phase::IRQ, t_end, t_end + sc_time(cfg_.irq_latency_ns, SC_NS).value());
  }
}

Error A3Device::validate(const Descriptor& desc, uint32_t& detail) const {
  const auto op = static_cast<Opcode>(desc.opcode);
  if (desc.opcode > static_cast<uint8_t>(Opcode::LOAD_SORTED)) {
    detail = desc.opcode;
    return Error::BAD_OPCODE;
  }
  if (op == Opcode::NOP) return Error::OK;
  if (desc.n == 0 || desc.d == 0 || (op == Opcode::ATTEND && desc.m == 0)) return Error::BAD_SHAPE;
  // n > n_max: a LOAD_KV with the STREAM flag, or an ATTEND against such a load (streamed K/V).
  const bool streams = op == Opcode::LOAD_KV ? (desc.flags & dflag::STREAM) != 0
                                             : op == Opcode::ATTEND && kv_loaded && kv_streamed && desc.n == kv_n;
  if (desc.n > cfg_.n_max && !streams) {
    detail = desc.n;
    return Error::N_TOO_LARGE;
  }
  if (desc.d > cfg_.d_max) {
    detail = desc.d;
    return Error::D_TOO_LARGE;
  }
  auto aligned = [](uint64_t a) { return (a & 3) == 0; };
  if (!aligned(desc.addr_a) || !aligned(desc.addr_b) || !aligned(desc.addr_c) || !aligned(desc.addr_d))
    return Error::BAD_ALIGN;
  if (op == Opcode::LOAD_KV) {
    // Streamed K/V must lie in DRAM: n beyond what the DRAM holds is N_TOO_LARGE, not a late DMA fault.
    const uint64_t bytes = static_cast<uint64_t>(desc.n) * desc.d * static_cast<uint64_t>(cfg_.elem_bytes);
    const uint64_t end = DRAM_BASE + cfg_.dram_bytes();
    if (desc.n > cfg_.n_max && (desc.addr_a + bytes > end || desc.addr_b + bytes > end)) {
      detail = desc.n;
      return Error::N_TOO_LARGE;
    }
    return Error::OK;
  }
  if (!kv_loaded) return Error::NO_KV;
  if (desc.n != kv_n || desc.d != kv_d) {
    detail = desc.n != kv_n ? desc.n : desc.d;
    return Error::KV_MISMATCH;
  }
  if (op == Opcode::LOAD_SORTED) return Error::OK;
  if (desc.m > cfg_.q_rows) {
    detail = desc.m;
    return Error::M_TOO_LARGE;
  }
  if (desc.mode > static_cast<uint8_t>(Mode::POST_ONLY)) {
    detail = desc.mode;
    return Error::BAD_MODE;
  }
  if (desc.n > cfg_.n_max && desc.mode != static_cast<uint8_t>(Mode::EXACT)) {
    detail = desc.mode;  // the approximate modes need every key row in the banks (spec 3.5)
    return Error::STREAM_MODE;
  }
  if (!(desc.T >= 0.0f && desc.T <= 1.0f)) {  // also false for NaN
    uint32_t bits;
    std::memcpy(&bits, &desc.T, 4);
    detail = bits;
    return Error::BAD_PARAM;
  }
  if ((desc.M >> static_cast<unsigned>(cfg_.iter_counter_bits)) != 0) {
    detail = static_cast<uint32_t>(std::min<uint64_t>(desc.M, 0xFFFFFFFFull));
    return Error::BAD_ITERATIONS;
  }
  if (desc.mode == static_cast<uint8_t>(Mode::APPROX) && !sorted_loaded && cfg_.device_sorter == 0)
    return Error::NO_SORTED_TABLE;
  return Error::OK;
}

Error A3Device::execute(const Descriptor& desc, uint32_t job, JobRecord& rec, uint32_t& detail) {
  const Error err = validate(desc, detail);
  if (err != Error::OK) return err;
  switch (static_cast<Opcode>(desc.opcode)) {
    case Opcode::LOAD_KV: return load_kv(desc, job, detail);
    case Opcode::LOAD_SORTED: return load_sorted(desc, job, rec, detail);
    case Opcode::ATTEND: return attend(desc, job, rec, detail);
    default: return Error::OK;  // NOP
  }
}

namespace {
// DMA_FAULT for an address the target does not have, DMA_ERROR for any other error response.
Error dma_fault(const DmaEngine::Result& r, uint32_t& detail) {
  detail = static_cast<uint32_t>(r.fault_address);
  return r.status == tlm::TLM_ADDRESS_ERROR_RESPONSE ? Error::DMA_FAULT : Error::DMA_ERROR;
}
}  // namespace

void A3Device::publish_residency() {
  regs.set_residency(kv_loaded ? kv_tag : 0,
                     (kv_loaded ? res::KV : 0u) | (kv_loaded && sorted_loaded ? res::SORTED : 0u));
}

Error A3Device::load_kv(const Descriptor& desc, uint32_t job, uint32_t& detail) {
  // Streamed K/V (STREAM flag, n > n_max): the banks take the first n_max rows; the rest stay in DRAM.
  const uint32_t rows = std::min<uint32_t>(desc.n, static_cast<uint32_t>(cfg_.n_max));
  const uint64_t kv_bytes = static_cast<uint64_t>(rows) * desc.d * static_cast<uint64_t>(cfg_.elem_bytes);
  kv_loaded = sorted_loaded = kv_streamed = false;
  kv_tag = 0;
  publish_residency();
  ++kv_generation;
  const uint64_t t0 = sc_time_stamp().value();
  DmaEngine::Result r;
  uint64_t k_bytes = 0, v_bytes = 0;   // written into each bank (a fault stops the transfer)
  if (cur_pre_ && cur_pf_.has_data) {  // overlap: K and V wait in the second K/V bank (a bank swap)
    r = cur_pf_.data;
    k_bytes = cur_pf_.bytes_a;
    v_bytes = cur_pf_.bytes_b;
    if (r.ok) {
      std::memcpy(banks.key.data(), cur_pf_.a.data(), kv_bytes);
      std::memcpy(banks.value.data(), cur_pf_.b.data(), kv_bytes);
    }
    phase(job, Phase::DMA_IN, cur_pf_.t_d0, cur_pf_.t_d1);
  } else {
    r = dma.read(desc.addr_a, banks.key.data(), kv_bytes, job, Stream::K);
    k_bytes = r.bytes;
    if (r.ok) {
      r = dma.read(desc.addr_b, banks.value.data(), kv_bytes, job, Stream::V);
      v_bytes = r.bytes;
    }
    phase(job, Phase::DMA_IN, t0, sc_time_stamp().value());
  }
  banks.key.count_write(k_bytes);
  banks.value.count_write(v_bytes);
  if (!r.ok) return dma_fault(r, detail);
  if (!all_finite(banks.key.as<float>(), kv_bytes / 4) || !all_finite(banks.value.as<float>(), kv_bytes / 4))
    return Error::NONFINITE;
  kv_loaded = true;
  kv_n = desc.n;
  kv_d = desc.d;
  kv_tag = desc.M;  // the host's tag of this K/V (LOAD_KV's M field; docs/descriptors.md)
  kv_streamed = desc.n > rows;
  kv_addr_k = desc.addr_a;
  kv_addr_v = desc.addr_b;
  publish_residency();
  return Error::OK;
}

Error A3Device::load_sorted(const Descriptor& desc, uint32_t job, JobRecord& rec, uint32_t& detail) {
  const uint64_t bytes = static_cast<uint64_t>(desc.n) * desc.d * static_cast<uint64_t>(cfg_.sorted_entry_bytes);
  const uint64_t t0 = sc_time_stamp().value();
  sorted_loaded = false;
  publish_residency();
  DmaEngine::Result r;
  if (cur_pre_ && cur_pf_.has_data) {  // overlap: the table waits in the second sorted-key bank
    r = cur_pf_.data;
    std::memcpy(banks.sorted.data(), cur_pf_.a.data(), r.bytes);
    phase(job, Phase::DMA_IN, cur_pf_.t_d0, cur_pf_.t_d1);
  } else {
    r = dma.read(desc.addr_a, banks.sorted.data(), bytes, job, Stream::SORTED);
    phase(job, Phase::DMA_IN, t0, sc_time_stamp().value());
  }
  banks.sorted.count_write(r.bytes);
  if (!r.ok) return dma_fault(r, detail);
  // The table drives the pointers of candidate selection: check it as it streams in.
  const uint64_t entries = static_cast<uint64_t>(desc.n) * desc.d;
  const uint32_t* rows = reinterpret_cast<const uint32_t*>(banks.sorted.data() + entries * 4);
  uint32_t worst = 0;
  for (uint64_t i = 0; i < entries; ++i) worst = rows[i] > worst ? rows[i] : worst;
  if (worst >= desc.n) {
    detail = worst;
    return Error::BAD_TABLE;
  }
  if (!all_finite(banks.sorted.as<float>(), entries)) return Error::BAD_TABLE;
  sorted_loaded = true;
  publish_residency();
  rec.sorted_by = 1;  // the host sorted this key matrix ahead of the queries
  return Error::OK;
}

Error A3Device::attend(const Descriptor& desc, uint32_t job, JobRecord& rec, uint32_t& detail) {
  const uint32_t n = desc.n, d = desc.d, m = desc.m;
  const Mode mode = static_cast<Mode>(desc.mode);
  const uint64_t q_bytes = static_cast<uint64_t>(m) * d * static_cast<uint64_t>(cfg_.elem_bytes);
  const uint64_t t0 = sc_time_stamp().value();
  DmaEngine::Result r;
  if (cur_pre_ && cur_pf_.has_data) {  // overlap: the queries wait in the second query buffer
    r = cur_pf_.data;
    std::memcpy(banks.query.data(), cur_pf_.a.data(), r.bytes);
    phase(job, Phase::DMA_IN, cur_pf_.t_d0, cur_pf_.t_d1);
  } else {
    r = dma.read(desc.addr_a, banks.query.data(), q_bytes, job, Stream::Q);
    phase(job, Phase::DMA_IN, t0, sc_time_stamp().value());
  }
  banks.query.count_write(r.bytes);
  if (!r.ok) return dma_fault(r, detail);
  if (!all_finite(banks.query.as<float>(), static_cast<uint64_t>(m) * d)) return Error::NONFINITE;

  auto on_phase = [&](Phase p, uint64_t a, uint64_t b) { phase(job, p, a, b); };
  if (mode == Mode::APPROX && !sorted_loaded) {
    core.sort(n, d, rec, on_phase);  // validate() admitted this only with the device sorter
    sorted_loaded = true;
    publish_residency();
    rec.sorted_by = 2;
  }
  const bool want_sets = (desc.flags & dflag::SETS) != 0;
  const bool min_skip = cfg_.min_skip != 0 && !(desc.flags & dflag::NO_MIN_SKIP);
  ComputeCore::AttendJob cj{mode, n, d, m, desc.M, static_cast<double>(desc.T), want_sets, kv_generation, min_skip};
  StreamPrefetcher::Plan sp;
  if (kv_streamed && n > cfg_.n_max) {  // rows beyond the banks stream from DRAM (validate(): exact mode)
    const uint32_t nb = static_cast<uint32_t>(cfg_.n_max);
    sp = streamer.plan({n, d, m, nb, kv_addr_k, kv_addr_v, banks.key.as<float>(), banks.value.as<float>(), job},
                       sc_time_stamp().value());
    if (!sp.res.ok) {
      wait(sc_time::from_value(std::max<uint64_t>(sp.fail_ps, sc_time_stamp().value()) - sc_time_stamp().value()));
      return dma_fault(sp.res, detail);
    }
    cj.K_all = streamer.K();
    cj.V_all = streamer.V();
    cj.bank_rows = nb;
    cj.schedule = &sp.sched;
  }
  if (cfg_.overlap != 0) prefetch_ev_.notify(SC_ZERO_TIME);  // fetch the next job while this one computes
  const Error err = core.attend(cj, rec, on_phase);
  if (err != Error::OK) return err;

  if (cfg_.overlap != 0) return hand_off(desc);  // the writeback thread writes them while the next job runs
  return write_outputs(desc, job, banks.output.data(), core.stats().data(), core.sets().data(),
                       want_sets ? core.sets().size() * 4ull : 0, true, detail);
}

Error A3Device::write_outputs(const Descriptor& desc, uint32_t job, const void* out, const void* stats,
                              const void* sets, uint64_t set_bytes, bool count_bank, uint32_t& detail) {
  const uint64_t q_bytes = static_cast<uint64_t>(desc.m) * desc.d * static_cast<uint64_t>(cfg_.elem_bytes);
  const uint64_t t1 = sc_time_stamp().value();
  DmaEngine::Result r = dma.write(desc.addr_b, out, q_bytes, job, Stream::OUT);
  if (count_bank) banks.output.count_read(r.bytes);
  if (r.ok && (desc.flags & dflag::ROW_STATS))
    r = dma.write(desc.addr_c, stats, static_cast<uint64_t>(desc.m) * sizeof(RowStats), job, Stream::STATS);
  if (r.ok && set_bytes) r = dma.write(desc.addr_d, sets, set_bytes, job, Stream::SETS);
  phase(job, Phase::DMA_OUT, t1, sc_time_stamp().value());
  if (!r.ok) return dma_fault(r, detail);
  return Error::OK;
}

}  // namespace a3
