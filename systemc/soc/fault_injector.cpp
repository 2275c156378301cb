#include "soc/fault_injector.h"

#include <cmath>

namespace a3 {

FaultInjector::FaultInjector(const Config& cfg) {
  set("fi_seed", cfg.fi_seed);
  set("fi_dma_error_address", cfg.fi_dma_error_address);
  set("fi_dma_error_rate", cfg.fi_dma_error_rate);
  set("fi_irq_drop", cfg.fi_irq_drop);
  set("fi_irq_delay_ns", cfg.fi_irq_delay_ns);
  set("fi_stuck_busy", cfg.fi_stuck_busy);
  set("fi_corrupt_completion", cfg.fi_corrupt_completion);
  set("fi_model_exception", cfg.fi_model_exception);
}

std::string FaultInjector::set(const std::string& name, double v) {
  if (!std::isfinite(v)) return "fault " + name + ": value must be finite";
  auto count = [&](uint64_t& field) -> std::string {
    if (v < 0 || v > 1e9 || std::floor(v) != v) return "fault " + name + ": expected an integer count in [0, 1e9]";
    field = static_cast<uint64_t>(v);
    return "";
  };
  if (name == "fi_seed") {
    if (v < 0 || v > 4294967295.0 || std::floor(v) != v) return "fault fi_seed: expected an integer in [0, 2^32)";
    // Scramble the seed, so that nearby seeds do not give shifted copies of one sequence.
    uint64_t z = static_cast<uint64_t>(v) ^ 0xA3A3A3A3A3A3A3A3ull;
    z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDull;
    z = (z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53ull;
    state_ = z ^ (z >> 33);
    return "";
  }
  if (name == "fi_dma_error_address") {
    if (v < -1 || v > 9007199254740992.0 || std::floor(v) != v)
      return "fault fi_dma_error_address: expected -1 (off) or a bus address below 2^53";
    dma_address_ = static_cast<int64_t>(v);
    return "";
  }
  if (name == "fi_dma_error_rate") {
    if (v < 0 || v > 1) return "fault fi_dma_error_rate: expected a probability in [0, 1]";
    dma_rate_ = v;
    return "";
  }
  if (name == "fi_irq_delay_ns") {
    if (v < 0 || v > 1e12) return "fault fi_irq_delay_ns: expected a delay in [0, 1e12] ns";
    irq_delay_ps_ = static_cast<uint64_t>(std::llround(v * 1000.0));
    return "";
  }
  if (name == "fi_irq_drop") return count(irq_drop_);
  if (name == "fi_stuck_busy") return count(stuck_busy_);
  if (name == "fi_corrupt_completion") return count(corrupt_);
  if (name == "fi_model_exception") return count(model_exception_);
  return "unknown fault '" + name +
         "' (fi_dma_error_address, fi_dma_error_rate, fi_seed, fi_irq_drop, "
         "fi_irq_delay_ns, fi_stuck_busy, fi_corrupt_completion, fi_model_exception)";
}

uint64_t FaultInjector::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool FaultInjector::dma_error(uint64_t address, uint64_t bytes) {
  if (dma_address_ >= 0) {
    const uint64_t a = static_cast<uint64_t>(dma_address_);
    if (a >= address && a - address < bytes) {
      ++injected_[DMA_ADDRESS];
      return true;
    }
  }
  if (dma_rate_ > 0) {
    // 53 random bits -> uniform in [0, 1).
    const double u = static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
    if (u < dma_rate_) {
      ++injected_[DMA_RANDOM];
      return true;
    }
  }
  return false;
}

bool FaultInjector::take_irq_drop() {
  if (irq_drop_ == 0) return false;
  --irq_drop_;
  ++injected_[IRQ_DROP];
  return true;
}

bool FaultInjector::take_model_exception() {
  if (model_exception_ == 0) return false;
  --model_exception_;
  return true;
}

bool FaultInjector::take_stuck_busy() {
  if (stuck_busy_ == 0) return false;
  --stuck_busy_;
  ++injected_[STUCK_BUSY];
  return true;
}

bool FaultInjector::take_corrupt_completion(uint32_t& bit) {
  if (corrupt_ == 0) return false;
  --corrupt_;
  ++injected_[CORRUPT_COMPLETION];
  // 27 bytes other than the phase byte (offset 7) and the check word (28..31): 216 bits.
  uint32_t k = static_cast<uint32_t>(next() % 216);
  bit = k < 56 ? k : k + 8;
  return true;
}

}  // namespace a3
