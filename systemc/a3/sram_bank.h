// sram_bank.h - one on-chip SRAM bank of the A3 unit (key, value, sorted-key, query, output,
// score). Storage plus access counters; the DMA engine and the compute core read and write it
// through the counted accessors. Capacity and port width are parameters (a3_config.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace a3 {

class SramBank {
 public:
  SramBank(std::string name, uint64_t capacity_bytes, uint32_t width_bytes);

  const std::string& name() const { return name_; }
  uint64_t capacity() const { return capacity_; }
  uint32_t width() const { return width_; }
  uint8_t* data() { return store_.data(); }
  const uint8_t* data() const { return store_.data(); }
  template <class T>
  T* as() {
    return reinterpret_cast<T*>(store_.data());
  }

  bool fits(uint64_t bytes) const { return bytes <= capacity_; }
  // Account for a read or write of `bytes` (the SRAM_RD / SRAM_WR counters and trace columns).
  void count_read(uint64_t bytes) { read_bytes += bytes; }
  void count_write(uint64_t bytes) { write_bytes += bytes; }
  uint32_t port_width() const { return width_; }

  uint64_t read_bytes = 0, write_bytes = 0;

 private:
  std::string name_;
  uint64_t capacity_;
  uint32_t width_;
  std::vector<uint8_t> store_;
};

}  // namespace a3
