// test_trace_recorder.cpp - C++ tests of the trace tables, run by ctest: the block storage
// (row_table.h) against a deque, and DRAM bursts held as runs against the bursts recorded.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>
#include <vector>

#include "soc/row_table.h"
#include "soc/trace_recorder.h"
#include "test_support.h"

// A trace table against a deque: appends, drops at the front (inside a block, whole blocks, all of
// it) and range copies across block boundaries give the same rows; dropped blocks are reused.
static void test_row_table() {
  a3::RowTable<uint64_t, 4096> t;  // blocks of 512 rows (the trace tables use 2 MiB blocks)
  std::deque<uint64_t> ref;
  std::mt19937 rng(5);
  uint64_t next = 0;
  const size_t B = a3::RowTable<uint64_t, 4096>::kBlockRows;
  for (int step = 0; step < 400; ++step) {
    const size_t add = rng() % (3 * B);
    for (size_t i = 0; i < add; ++i) t.push_back(next), ref.push_back(next++);
    const size_t drop = step % 7 == 0 ? ref.size() : rng() % (ref.size() + 1);
    t.erase_front(drop);
    ref.erase(ref.begin(), ref.begin() + static_cast<std::ptrdiff_t>(drop));
    CHECK(t.size() == ref.size());
    if (ref.empty()) continue;
    const size_t start = rng() % ref.size(), count = rng() % (2 * B);
    std::vector<uint64_t> out(count + 1, ~uint64_t(0));
    const size_t got = t.copy(start, count, out.data());
    CHECK(got == std::min(count, ref.size() - start));
    CHECK(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(got),
                     ref.begin() + static_cast<std::ptrdiff_t>(start)));
    CHECK(out[got] == ~uint64_t(0));
    CHECK(t.front() == ref.front() && t[ref.size() - 1] == ref.back());
  }
  CHECK(t.copy(t.size(), 1, nullptr) == 0);
  t.release();
  CHECK(t.size() == 0);
}

// DRAM bursts are stored as runs: whatever the pattern (regular runs, runs a policy reports, steps
// that change, fields that differ, steps beyond 32 bits, negative steps), a read gives back every
// burst as recorded,
// from any start, and the retention bound keeps the newest bursts.
static void test_dram_runs() {
  std::mt19937 rng(11);
  for (uint64_t max_rows : {uint64_t(1) << 20, uint64_t(3)}) {
    a3::TraceRecorder rec(max_rows);
    std::vector<a3::DramRecord> in;
    a3::DramRecord r{};
    for (int i = 0; i < 5000; ++i) {
      const unsigned pick = rng() % 8;
      if (pick == 0) r.t_arrive_ps += 1000;                     // a new transaction
      if (pick == 1) r.bank = static_cast<uint8_t>(rng() % 4);  // another bank
      if (pick == 2) r.t_data_ps += uint64_t(1) << 33;          // a step beyond 32 bits
      if (pick == 3) r.address -= 4096;                         // backwards
      r.t_data_ps += 2500;
      r.t_done_ps = r.t_data_ps + 2500;
      r.address += 64;
      r.job = static_cast<uint32_t>(i / 700);
      if (pick == 4) {  // a run its policy reported: same arrival, data back to back
        const uint32_t k = 1 + rng() % 5;
        rec.dram(r, k, 2500, 64);
        for (uint32_t j = 0; j < k; ++j) {
          a3::DramRecord x = r;
          x.t_data_ps += 2500ull * j;
          x.t_done_ps += 2500ull * j;
          x.address += 64ull * j;
          in.push_back(x);
        }
        continue;
      }
      in.push_back(r);
      rec.dram(r);
    }
    const uint64_t held = rec.dram_count();
    if (max_rows > in.size()) CHECK(held == in.size());
    CHECK(held >= 1 && held <= std::min<uint64_t>(2 * max_rows, in.size()));
    CHECK(rec.dropped() == in.size() - held);
    std::vector<a3::DramRecord> out(held);
    CHECK(rec.copy_dram(0, held, out.data()) == held);
    CHECK(std::memcmp(out.data(), in.data() + (in.size() - held), held * sizeof(a3::DramRecord)) == 0);
    for (uint64_t start : {uint64_t(0), uint64_t(1), held / 3, held - 1}) {  // reads from inside a run
      std::vector<a3::DramRecord> part(7);
      const uint64_t got = rec.copy_dram(start, 7, part.data());
      CHECK(got == std::min<uint64_t>(7, held - start));
      CHECK(std::memcmp(part.data(), in.data() + (in.size() - held) + start, got * sizeof(a3::DramRecord)) == 0);
    }
    CHECK(rec.copy_dram(held, 1, out.data()) == 0);
    rec.clear();
    CHECK(rec.dram_count() == 0);
  }
}

extern "C" int sc_main(int, char**) {  // libsystemc (linked with a3core) provides main()
  a3test::section("row table");
  test_row_table();
  a3test::section("dram runs");
  test_dram_runs();
  return a3test::finish("trace recorder");
}
