#include "a3/a3_device.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/exact_kernel.h"

namespace a3 {

using namespace sc_core;

A3Device::A3Device(sc_module_name name, const Config& cfg, uint8_t unit, TraceRecorder* recorder,
                   FaultInjector* faults)
    : sc_module(name),
      regs("regs", cfg),
      dma("dma", cfg),
      banks(cfg),
      core("core", cfg, banks),
      cfg_(cfg),
      unit_(unit),
      recorder_(recorder),
      faults_(faults),
      cycle_(cfg.cycle_ns(), SC_NS) {
  regs.on_soft_reset = [this] { kv_loaded = sorted_loaded = false; };
  SC_THREAD(control);
  // The control thread runs the functional kernels (BLAS, the approximation) on its coroutine
  // stack: give it room beyond QuickThreads' default.
  set_stack_size(static_cast<size_t>(cfg.control_stack_kib) * 1024);
}

bool A3Device::queue_config_ok() const {
  auto size_ok = [](uint32_t s) { return s >= 2 && s <= 65536; };
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
    if (faults_ && faults_->take_stuck_busy())
      hang();
    else
      process_descriptor();
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
  const uint32_t job = recorder_->new_job();
  const uint64_t t_start = sc_time_stamp().value();
  {
    JobRecord& rec = recorder_->job(job);
    rec.unit = unit_;
    rec.t_doorbell_ps = std::min(regs.doorbell_ps(), t_start);
    rec.t_start_ps = t_start;
  }
  phase(job, Phase::QUEUE, recorder_->job(job).t_doorbell_ps, t_start);
  const uint64_t rd0 = dma.bytes_read, wr0 = dma.bytes_written;
  const uint64_t sram_rd0 = banks.read_bytes(), sram_wr0 = banks.write_bytes();

  Error err = Error::OK;
  uint32_t detail = 0;
  Descriptor desc{};
  const uint32_t sq_index = regs.sq_head();
  if (!queue_config_ok()) {
    // Nothing can be fetched or completed: drop what is pending and say why.
    err = Error::QUEUE_CONFIG;
    detail = regs.sq_tail();
    regs.set_sq_head(regs.sq_tail() < regs.sq_size() ? regs.sq_tail() : 0);
    if (regs.sq_tail() >= regs.sq_size()) regs.soft_reset();
  } else {
    DmaEngine::Result r = dma.read(regs.sq_base() + 64ull * sq_index, &desc, sizeof desc, job, Stream::DESC);
    phase(job, Phase::FETCH, t_start, sc_time_stamp().value());
    regs.set_sq_head((sq_index + 1) % regs.sq_size());
    if (!r.ok) {
      err = dma_error(r);
      detail = static_cast<uint32_t>(r.fault_address);
      desc = Descriptor{};
    } else {
      JobRecord& rec = recorder_->job(job);
      rec.tag = desc.tag;
      rec.opcode = desc.opcode;
      rec.mode = desc.mode;
      rec.n = desc.n;
      rec.d = desc.d;
      rec.m = desc.m;
      rec.M = desc.M;
      rec.T = desc.T;
      err = execute(desc, job, rec, detail);
    }
  }

  // ---- completion record ----
  JobRecord& rec = recorder_->job(job);
  rec.status = static_cast<uint16_t>(err);
  const uint64_t t_c = sc_time_stamp().value();
  bool completion_written = false;
  if (err != Error::QUEUE_CONFIG) {
    const uint32_t next = (regs.cq_tail() + 1) % regs.cq_size();
    if (next == regs.cq_head()) {
      err = Error::CQ_OVERFLOW;
      detail = regs.cq_tail();
      rec.status = static_cast<uint16_t>(err);
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
        completion_written = true;
      } else {
        err = dma_error(r);
        detail = static_cast<uint32_t>(r.fault_address);
        rec.status = static_cast<uint16_t>(err);
      }
    }
  }
  const uint64_t t_end = sc_time_stamp().value();
  phase(job, Phase::COMPLETE, t_c, t_end);

  // ---- counters, status, interrupt ----
  rec.t_end_ps = t_end;
  rec.bytes_rd = dma.bytes_read - rd0;
  rec.bytes_wr = dma.bytes_written - wr0;
  rec.sram_rd = banks.read_bytes() - sram_rd0;
  rec.sram_wr = banks.write_bytes() - sram_wr0;
  regs.count(err == Error::OK ? Perf::JOBS : Perf::ERRORS, 1);
  if (err == Error::OK && desc.opcode == static_cast<uint8_t>(Opcode::ATTEND)) regs.count(Perf::QUERIES, desc.m);
  regs.count(Perf::BUSY_CYCLES, (t_end - t_start) / cycle_.value());
  regs.count(Perf::CYC_CAND_SEL, rec.cyc_cand_sel);
  regs.count(Perf::CYC_DOT, rec.cyc_dot);
  regs.count(Perf::CYC_EXP_OUT, rec.cyc_exp_out);
  regs.count(Perf::CYC_SORT, rec.cyc_sort);
  regs.count(Perf::BYTES_RD, rec.bytes_rd);
  regs.count(Perf::BYTES_WR, rec.bytes_wr);
  regs.count(Perf::CANDIDATES, rec.candidates);
  regs.count(Perf::SELECTED, rec.selected);
  regs.count(Perf::SRAM_RD, rec.sram_rd);
  regs.count(Perf::SRAM_WR, rec.sram_wr);
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
  if (desc.n > cfg_.n_max) {
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
  if (op == Opcode::LOAD_KV) return Error::OK;
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
  Error err = validate(desc, detail);
  if (err != Error::OK) return err;
  const auto op = static_cast<Opcode>(desc.opcode);
  const uint64_t eb = static_cast<uint64_t>(cfg_.elem_bytes);
  const uint64_t kv_bytes = static_cast<uint64_t>(desc.n) * desc.d * eb;
  auto fault = [&](const DmaEngine::Result& r) {
    detail = static_cast<uint32_t>(r.fault_address);
    return dma_error(r);
  };

  if (op == Opcode::NOP) return Error::OK;

  if (op == Opcode::LOAD_KV) {
    kv_loaded = sorted_loaded = false;
    ++kv_generation;
    const uint64_t t0 = sc_time_stamp().value();
    DmaEngine::Result r = dma.read(desc.addr_a, banks.key.data(), kv_bytes, job, Stream::K);
    if (r.ok) r = dma.read(desc.addr_b, banks.value.data(), kv_bytes, job, Stream::V);
    banks.key.count_write(std::min(r.bytes, kv_bytes));
    banks.value.count_write(r.bytes > kv_bytes ? r.bytes - kv_bytes : 0);
    phase(job, Phase::DMA_IN, t0, sc_time_stamp().value());
    if (!r.ok) return fault(r);
    if (!all_finite(banks.key.as<float>(), kv_bytes / 4) || !all_finite(banks.value.as<float>(), kv_bytes / 4))
      return Error::NONFINITE;
    kv_loaded = true;
    kv_n = desc.n;
    kv_d = desc.d;
    return Error::OK;
  }

  if (op == Opcode::LOAD_SORTED) {
    const uint64_t bytes = static_cast<uint64_t>(desc.n) * desc.d * static_cast<uint64_t>(cfg_.sorted_entry_bytes);
    const uint64_t t0 = sc_time_stamp().value();
    sorted_loaded = false;
    DmaEngine::Result r = dma.read(desc.addr_a, banks.sorted.data(), bytes, job, Stream::SORTED);
    banks.sorted.count_write(r.bytes);
    phase(job, Phase::DMA_IN, t0, sc_time_stamp().value());
    if (!r.ok) return fault(r);
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
    return Error::OK;
  }

  // ---- ATTEND ----
  const uint32_t n = desc.n, d = desc.d, m = desc.m;
  const Mode mode = static_cast<Mode>(desc.mode);
  const uint64_t q_bytes = static_cast<uint64_t>(m) * d * eb;
  const uint64_t t0 = sc_time_stamp().value();
  DmaEngine::Result r = dma.read(desc.addr_a, banks.query.data(), q_bytes, job, Stream::Q);
  banks.query.count_write(r.bytes);
  phase(job, Phase::DMA_IN, t0, sc_time_stamp().value());
  if (!r.ok) return fault(r);
  if (!all_finite(banks.query.as<float>(), static_cast<uint64_t>(m) * d)) return Error::NONFINITE;

  auto on_phase = [&](Phase p, uint64_t a, uint64_t b) { phase(job, p, a, b); };
  if (mode == Mode::APPROX && !sorted_loaded) {
    core.sort(n, d, rec, on_phase);  // validate() admitted this only with the device sorter
    sorted_loaded = true;
  }
  const bool want_sets = (desc.flags & dflag::SETS) != 0;
  ComputeCore::AttendJob cj{mode, n, d, m, desc.M, static_cast<double>(desc.T), want_sets, kv_generation};
  err = core.attend(cj, rec, on_phase);
  if (err != Error::OK) return err;

  const uint64_t t1 = sc_time_stamp().value();
  r = dma.write(desc.addr_b, banks.output.data(), q_bytes, job, Stream::OUT);
  banks.output.count_read(r.bytes);
  if (r.ok && (desc.flags & dflag::ROW_STATS))
    r = dma.write(desc.addr_c, core.stats().data(), static_cast<uint64_t>(m) * sizeof(RowStats), job, Stream::STATS);
  if (r.ok && want_sets)
    r = dma.write(desc.addr_d, core.sets().data(), core.sets().size() * 4ull, job, Stream::SETS);
  phase(job, Phase::DMA_OUT, t1, sc_time_stamp().value());
  if (!r.ok) return fault(r);
  return Error::OK;
}

}  // namespace a3
