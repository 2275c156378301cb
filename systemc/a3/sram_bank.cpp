#include "a3/sram_bank.h"

namespace a3 {

SramBank::SramBank(std::string name, uint64_t capacity_bytes, uint32_t width_bytes)
    : name_(std::move(name)), capacity_(capacity_bytes), width_(width_bytes), store_(capacity_bytes) {}

}  // namespace a3
