// row_table.h - the storage of one trace table: rows in fixed blocks, appended at the back and
// dropped at the front (the retention bound). Appending never moves rows already held (a vector
// that doubles copies them all and touches fresh pages each time), dropping frees whole blocks into
// a spare list that later appends reuse, so a table that stays at its bound allocates nothing and
// moves nothing. Reads copy a range out block by block. A block is one 2 MiB page-aligned
// allocation that asks for a transparent huge page (madvise; a hint, taken where the kernel's THP
// mode is "madvise" or "always"): a table growing by hundreds of kB per call then takes one page
// fault per 2 MiB instead of one per 4 kB.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace a3 {

template <class Row, size_t BlockBytes = size_t(2) << 20>
class RowTable {
  static_assert(std::is_trivially_copyable<Row>::value && std::is_trivially_destructible<Row>::value,
                "rows are plain records");

 public:
  static constexpr size_t kBlockBytes = BlockBytes;  // a power of two, at least a page
  static constexpr size_t kBlockRows = kBlockBytes / sizeof(Row);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void push_back(const Row& r) {
    const size_t at = front_ + size_;
    if (at / kBlockRows == blocks_.size()) {
      if (!spare_.empty()) {
        blocks_.push_back(std::move(spare_.back()));
        spare_.pop_back();
      } else {
        blocks_.emplace_back(new_block());
      }
    }
    blocks_[at / kBlockRows].get()[at % kBlockRows] = r;
    ++size_;
  }

  const Row& operator[](size_t i) const {
    i += front_;
    return blocks_[i / kBlockRows].get()[i % kBlockRows];
  }
  Row& operator[](size_t i) {
    i += front_;
    return blocks_[i / kBlockRows].get()[i % kBlockRows];
  }
  Row& back() { return (*this)[size_ - 1]; }
  const Row& front() const { return (*this)[0]; }

  // Drops the k oldest rows; emptied blocks go to the spare list.
  void erase_front(size_t k) {
    k = std::min(k, size_);
    front_ += k;
    size_ -= k;
    while (front_ >= kBlockRows) {
      spare_.push_back(std::move(blocks_.front()));
      blocks_.erase(blocks_.begin());
      front_ -= kBlockRows;
    }
    if (size_ == 0) {  // start the next row at a block boundary again
      for (auto& b : blocks_) spare_.push_back(std::move(b));
      blocks_.clear();
      front_ = 0;
    }
  }
  // Drops every row and keeps the blocks for reuse.
  void clear() { erase_front(size_); }
  // Drops every row and gives the memory back.
  void release() {
    std::vector<Block>().swap(blocks_);
    std::vector<Block>().swap(spare_);
    front_ = size_ = 0;
  }

  // Copies rows [start, start + count) (clipped to the rows held) to dst; returns how many.
  size_t copy(size_t start, size_t count, Row* dst) const {
    if (start >= size_ || dst == nullptr) return 0;
    count = std::min(count, size_ - start);
    size_t done = 0;
    while (done < count) {
      const size_t i = front_ + start + done;
      const size_t n = std::min(count - done, kBlockRows - i % kBlockRows);
      std::memcpy(static_cast<void*>(dst + done), blocks_[i / kBlockRows].get() + i % kBlockRows, n * sizeof(Row));
      done += n;
    }
    return done;
  }

 private:
  struct Free {
    void operator()(Row* p) const { std::free(p); }
  };
  using Block = std::unique_ptr<Row, Free>;
  // Uninitialised memory: pages are touched by the first write of a row.
  static Block new_block() {
    void* p = std::aligned_alloc(kBlockBytes, kBlockBytes);
    if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(p, kBlockBytes, MADV_HUGEPAGE);
#endif
    return Block(static_cast<Row*>(p));
  }

  std::vector<Block> blocks_;
  std::vector<Block> spare_;
  size_t front_ = 0;  // index of the oldest row inside blocks_[0]
  size_t size_ = 0;
};

}  // namespace a3
