// test_dram_banked.cpp - analytic checks of the banked DRAM policy (docs/memory-model.md), run by
// ctest: sequential streams reach >= 90 % of peak, isolated reads see the JEDEC latencies, refresh
// takes tRFC every tREFI per rank, crafted address patterns give the row-hit rates that the
// address mapping predicts, FR-FCFS lets a ready burst pass, and no channel's data bus carries
// two bursts at once. Returns nonzero on failure.
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "soc/dram_timing_banked.h"
#include "soc/dram_timing_simple.h"
#include "test_support.h"

using a3::DramBurst;
using a3::DramSpec;
using a3::DramTimingBanked;

static DramSpec preset(int p) {
  a3::Config cfg;
  cfg.dram_preset = p;
  return a3::dram_spec(cfg);
}

// Sequential reads of `bytes`, all requested at time 0 (the bounded queue paces them).
static void test_sequential_stream() {
  for (int p = 1; p <= 4; ++p) {
    DramSpec s = preset(p);
    for (bool refresh : {false, true}) {
      DramTimingBanked t(s, 0, false, false, 32, refresh);  // mapping 0, open page, FR-FCFS
      const uint64_t total = 4ull << 20;
      uint64_t done = 0;
      for (uint64_t a = 0; a < total; a += 256) done = std::max(done, t.access(a, 256, false, 0));
      const double gbps = total / (done / 1000.0);
      std::printf("sequential read %s, refresh %d: %.2f of %.2f GB/s (%.1f %%), row hits %.3f\n", s.name.c_str(),
                  refresh, gbps, s.peak_gbps(), 100 * gbps / s.peak_gbps(),
                  double(t.stats().row_hits) / t.stats().bursts);
      // >= 90 % of peak also with refresh (which takes tRFC of every tREFI: 4.5-9 %).
      CHECK(gbps >= 0.90 * s.peak_gbps());
      CHECK(gbps <= s.peak_gbps() * (1 + 1e-9));
      if (!refresh) CHECK(gbps >= 0.99 * s.peak_gbps());
    }
  }
}

// Isolated reads (far apart, refresh off): a row conflict costs tRP + tRCD + tCL + tBURST, a row
// miss (bank closed) tRCD + tCL + tBURST, a row hit tCL + tBURST.
static void test_isolated_latency() {
  for (int p = 1; p <= 4; ++p) {
    DramSpec s = preset(p);
    for (bool closed : {false, true}) {
      DramTimingBanked t(s, 0, closed, false, 32, false);
      std::mt19937_64 rng(p);
      const uint64_t span = 1ull << 30;
      uint64_t now = 0;
      std::vector<DramBurst> b;
      int conflicts = 0, misses = 0, hits = 0;
      for (int i = 0; i < 2000; ++i) {
        now += 10'000'000;  // 10 us apart: every bank is idle again
        const uint64_t a = (rng() % span) / s.burst_bytes * s.burst_bytes;
        b.clear();
        const uint64_t done = t.access(a, s.burst_bytes, false, now, &b);
        const uint64_t lat = done - now;
        if (b[0].kind == 2) {
          ++conflicts;
          CHECK(lat == s.tRP + s.tRCD + s.tCL + s.tBURST);
        } else if (b[0].kind == 1) {
          ++misses;
          CHECK(lat == s.tRCD + s.tCL + s.tBURST);
        }
        // The same row again: a hit when the page stays open, a miss when it was closed.
        now += 10'000'000;
        b.clear();
        const uint64_t lat2 = t.access(a, s.burst_bytes, false, now, &b) - now;
        if (!closed) {
          CHECK(b[0].kind == 0);
          CHECK(lat2 == s.tCL + s.tBURST);
          hits += b[0].kind == 0;
        } else {
          CHECK(b[0].kind == 1);
          CHECK(lat2 == s.tRCD + s.tCL + s.tBURST);
        }
      }
      if (!closed) CHECK(conflicts + misses == 2000 && conflicts > 1000 && hits == 2000);
      if (closed) CHECK(misses == 2000 && conflicts == 0);
    }
    // A 64-byte read: the miss latency within one burst time of it (DDR4: one burst; 32-byte
    // bursts: two, the second in another bank group or channel, one tRRD_S later at most).
    DramTimingBanked t(s, 0, false, false, 32, false);
    const uint64_t lat = t.access(1 << 20, 64, false, 1'000'000) - 1'000'000;
    const uint64_t miss = s.tRCD + s.tCL + s.tBURST;
    CHECK(lat >= miss && lat <= miss + (s.burst_bytes >= 64 ? 0 : std::max(s.tBURST, s.tRRD_S)));
  }
}

// Refresh: a saturating stream on DDR4 with two ranks; no data transfer of a rank falls into one of
// its refresh windows [tREFI (1 + k) + r tREFI / ranks, + tRFC), and each rank refreshes once per
// tREFI.
static void test_refresh() {
  a3::Config cfg;
  cfg.dram_preset = 1;
  cfg.dram_ranks = 2;
  DramSpec s = a3::dram_spec(cfg);
  DramTimingBanked t(s);
  std::vector<DramBurst> bursts;
  const uint64_t total = 8ull << 20;  // 8 MiB: about 14 tREFI at 25.6 GB/s
  uint64_t done = 0;
  for (uint64_t a = 0; a < total; a += 256) done = std::max(done, t.access(a, 256, false, 0, &bursts));
  int bad = 0;
  for (const DramBurst& b : bursts) {
    const uint64_t off = s.tREFI + b.rank * (s.tREFI / s.ranks);
    for (uint64_t k = 0; off + k * s.tREFI < done; ++k) {
      const uint64_t ws = off + k * s.tREFI, we = ws + s.tRFC;
      if (b.t_data_ps < we && b.t_done_ps > ws) ++bad;
    }
  }
  CHECK(bad == 0);
  const auto& st = t.stats();
  uint64_t expect = 0;
  for (uint32_t r = 0; r < s.ranks; ++r) {
    const uint64_t off = s.tREFI + r * (s.tREFI / s.ranks);
    expect += st.last_done_ps < off ? 0 : (st.last_done_ps - off) / s.tREFI + 1;
  }
  CHECK(st.refreshes == expect && st.refreshes >= 2 * (done / s.tREFI) - 2);
  CHECK(st.refresh_ps == st.refreshes * s.tRFC);
  // Each rank is blocked tRFC of every tREFI: with both ranks busy the stream loses at most that.
  const double eff = double(total) / (done / 1000.0) / s.peak_gbps();
  std::printf("refresh: %llu refreshes, stream at %.1f %% of peak\n", (unsigned long long)st.refreshes, 100 * eff);
  CHECK(eff <= 1.0 && eff >= 0.90);
  // Without refresh the same stream is faster.
  DramTimingBanked t2(s, 0, false, false, 32, false);
  uint64_t done2 = 0;
  for (uint64_t a = 0; a < total; a += 256) done2 = std::max(done2, t2.access(a, 256, false, 0));
  CHECK(done2 < done);
}

// Row-hit rates of crafted patterns, predicted from the mapping's bit layout (DDR4: 64 B bursts,
// 4 bank groups x 4 banks, 128 bursts per row, one rank and channel).
static void test_mapping_hit_rates() {
  DramSpec s = preset(1);
  const uint64_t row_bytes = 128 * 64;
  auto run = [&](int mapping, const std::vector<uint64_t>& addrs) {
    DramTimingBanked t(s, mapping, false, false, 32, false);
    uint64_t now = 0;
    for (uint64_t a : addrs) {
      t.access(a, 64, false, now);
      now += 1'000'000;  // one at a time
    }
    return t.stats();
  };
  // Mapping 1 (Co lowest): 64 KiB sequential = 1024 bursts in 8 rows of the banks it touches: the
  // first burst of each row misses, every other one hits.
  {
    std::vector<uint64_t> a;
    for (uint64_t x = 0; x < (64u << 10); x += 64) a.push_back(x);
    auto st = run(1, a);
    CHECK(st.row_hits == 1024 - 8 && st.row_misses == 8 && st.row_conflicts == 0);
  }
  // Mapping 1: stride of one row x 16 banks lands in the same bank on a new row every time.
  {
    std::vector<uint64_t> a;
    for (int i = 0; i < 100; ++i) a.push_back(i * row_bytes * 16);
    auto st = run(1, a);
    CHECK(st.row_hits == 0 && st.row_misses == 1 && st.row_conflicts == 99);
  }
  // Mapping 0 (Bg lowest, then Co): the same stride also maps to one bank (Bg, Co and Ba bits are
  // all below it): again all conflicts; a stride of 64 B x 4 stays in bank group 0, bank 0, one
  // row for 128 bursts.
  {
    std::vector<uint64_t> a;
    for (int i = 0; i < 100; ++i) a.push_back(i * row_bytes * 16);
    auto st = run(0, a);
    CHECK(st.row_hits == 0 && st.row_conflicts == 99);
    a.clear();
    for (int i = 0; i < 512; ++i) a.push_back(i * 256);  // bank group 0, columns 0..127, then next bank
    st = run(0, a);
    CHECK(st.row_hits == 512 - 4 && st.row_misses == 4);
  }
  // Mapping 2 (bursts interleaved over the 16 banks): ping-pong between two rows of one bank.
  {
    std::vector<uint64_t> a;
    const uint64_t next_row = 64ull * 16 * 128;  // Bg, Ba, Co bits below the row
    for (int i = 0; i < 50; ++i) {
      a.push_back(0);
      a.push_back(next_row);
    }
    auto st = run(2, a);
    CHECK(st.row_hits == 0 && st.row_misses == 1 && st.row_conflicts == 99);
    // Two rows of different banks: every access after the first two hits.
    a.clear();
    for (int i = 0; i < 50; ++i) {
      a.push_back(0);
      a.push_back(next_row + 64);  // bank group 1
    }
    st = run(2, a);
    CHECK(st.row_hits == 98 && st.row_misses == 2);
  }
}

// FR-FCFS: a row hit requested just after a row conflict (other bank) is served first; in order it
// waits behind the conflict.
static void test_fr_fcfs() {
  DramSpec s = preset(1);
  for (bool in_order : {false, true}) {
    DramTimingBanked t(s, 0, false, in_order, 32, false);
    const uint64_t row_a = 0, row_b = 64ull * 4 * 128 * 4;  // bank 0 of group 0, next row
    t.access(row_a, 64, false, 0);                          // opens row 0 in (bg0, b0)
    t.access(64, 64, false, 0);                             // opens a row in bg1
    const uint64_t t0 = 1'000'000;
    const uint64_t conflict = t.access(row_b, 64, false, t0);
    const uint64_t hit = t.access(64 + 256, 64, false, t0 + 1);  // bg1, same row, next column
    if (!in_order) {
      CHECK(hit == t0 + 1 + s.tCL + s.tBURST);
      CHECK(hit < conflict);
    } else {
      CHECK(hit >= conflict + s.tBURST);
    }
  }
}

// No channel's data bus carries two bursts at once, whatever the traffic (random mix, writes).
static void test_data_bus_exclusive() {
  for (int p : {1, 4}) {
    DramSpec s = preset(p);
    DramTimingBanked t(s);
    std::mt19937_64 rng(99);
    std::vector<DramBurst> b;
    uint64_t now = 0;
    for (int i = 0; i < 20000; ++i) {
      now += rng() % 4000;
      t.access((rng() % (1u << 28)) & ~63ull, 64 * (1 + rng() % 4), rng() % 3 == 0, now, &b);
    }
    std::map<int, std::vector<std::pair<uint64_t, uint64_t>>> per;
    for (const auto& x : b) per[x.channel].push_back({x.t_data_ps, x.t_done_ps});
    int overlaps = 0;
    for (auto& [c, v] : per) {
      std::sort(v.begin(), v.end());
      for (size_t i = 1; i < v.size(); ++i) overlaps += v[i].first < v[i - 1].second;
    }
    CHECK(overlaps == 0);
    CHECK(t.stats().row_hits + t.stats().row_misses + t.stats().row_conflicts == b.size());
  }
}

// The simple policy charges whole lines: a 24-byte access costs one 64-byte burst.
static void test_simple_whole_bursts() {
  a3::DramTimingSimple t(45.0, 25.6, 64);
  CHECK(t.access(0, 24, false, 0) == 45000 + 2500);
  CHECK(t.access(1 << 20, 24, false, 1000000) == 1000000 + 45000 + 2500);
  // 64 bytes straddling two lines move two lines.
  CHECK(t.access((2 << 20) + 32, 64, false, 2000000) - 2000000 == 45000 + 5000);
}

extern "C" int sc_main(int, char**) {  // libsystemc provides main()
  a3test::section("sequential_stream");
  test_sequential_stream();
  a3test::section("isolated_latency");
  test_isolated_latency();
  a3test::section("refresh");
  test_refresh();
  a3test::section("mapping_hit_rates");
  test_mapping_hit_rates();
  a3test::section("fr_fcfs");
  test_fr_fcfs();
  a3test::section("data_bus_exclusive");
  test_data_bus_exclusive();
  a3test::section("simple_whole_bursts");
  test_simple_whole_bursts();
  return a3test::finish("dram_banked");
}
