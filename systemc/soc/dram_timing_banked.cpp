#include "soc/dram_timing_banked.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

namespace a3 {

namespace {

// Busy intervals older than this (behind the latest arrival) are dropped: loosely timed initiators
// run at most one transfer (a few us) apart.
constexpr uint64_t kHorizon = 100000000ull;  // 100 us

enum Field { CH = 0, RA = 1, BG = 2, BA = 3, CO = 4 };

uint32_t log2u(uint64_t v) {
  uint32_t b = 0;
  while ((1ull << b) < v) ++b;
  return b;
}

// Builds a spec: each value in clock cycles or ns (or the larger of both, as JEDEC states many
// minimums), converted to ps, and recorded with its source.
struct Builder {
  DramSpec s;
  explicit Builder(const char* name, double tck_ps) {
    s.name = name;
    s.tck_ps = tck_ps;
    s.params.push_back({"tCK", tck_ps / 1000.0, "ns", ""});
  }
  // max(n_ck clocks, ns nanoseconds); either may be 0.
  uint64_t t(const char* name, double n_ck, double ns, const std::string& src) {
    const double ps = std::max(n_ck * s.tck_ps, ns * 1000.0);
    const uint64_t v = static_cast<uint64_t>(std::llround(ps));
    s.params.push_back({name, v / 1000.0, "ns", src});
    return v;
  }
  uint32_t n(const char* name, uint64_t v, const char* unit, const std::string& src) {
    s.params.push_back({name, static_cast<double>(v), unit, src});
    return static_cast<uint32_t>(v);
  }
};

DramSpec ddr4_3200() {
  const std::string J = "[JESD79-4B DDR4-3200AA 22-22-22, 8 Gb x8] ";
  Builder b("DDR4-3200", 625.0);
  b.s.params[0].source = J + "3200 MT/s: tCK = 0.625 ns";
  DramSpec& s = b.s;
  s.channels = b.n("channels", 1, "count", "[ours] one 64-bit channel (one DIMM)");
  s.ranks = b.n("ranks", 1, "count", "[ours] one rank of eight x8 devices");
  s.bankgroups = b.n("bankgroups", 4, "count", J + "4 bank groups");
  s.banks_per_group = b.n("banks_per_group", 4, "count", J + "4 banks per group");
  s.rows = b.n("rows", 65536, "count", J + "8 Gb x8: 64K rows (A0-A15)");
  s.burst_bytes = b.n("burst_bytes", 64, "B", J + "BL8 x 64-bit channel = 64 B");
  s.bursts_per_row = b.n("bursts_per_row", 128, "count", J + "1 KB page per x8 device, 8 KB per rank = 128 bursts");
  s.tCL = b.t("tCL", 22, 0, J + "CL = 22 nCK");
  s.tCWL = b.t("tCWL", 16, 0, J + "CWL = 16 nCK (1st set)");
  s.tRCD = b.t("tRCD", 22, 0, J + "tRCD = 22 nCK = 13.75 ns");
  s.tRP = b.t("tRP", 22, 0, J + "tRP = 22 nCK = 13.75 ns");
  s.tRAS = b.t("tRAS", 0, 32, J + "tRAS min = 32 ns");
  s.tBURST = b.t("tBURST", 4, 0, J + "BL8 on a DDR bus = 4 nCK");
  s.tCCD_S = b.t("tCCD_S", 4, 0, J + "tCCD_S = 4 nCK");
  s.tCCD_L = b.t("tCCD_L", 5, 5, J + "tCCD_L = max(5 nCK, 5 ns) = 8 nCK");
  s.tWR = b.t("tWR", 0, 15, J + "tWR = 15 ns");
  s.tWTR_S = b.t("tWTR_S", 2, 2.5, J + "tWTR_S = max(2 nCK, 2.5 ns)");
  s.tWTR_L = b.t("tWTR_L", 4, 7.5, J + "tWTR_L = max(4 nCK, 7.5 ns)");
  s.tRTP = b.t("tRTP", 4, 7.5, J + "tRTP = max(4 nCK, 7.5 ns)");
  s.tRRD_S = b.t("tRRD_S", 4, 2.5, J + "tRRD_S (1 KB page) = max(4 nCK, 2.5 ns)");
  s.tRRD_L = b.t("tRRD_L", 4, 4.9, J + "tRRD_L (1 KB page) = max(4 nCK, 4.9 ns)");
  s.tFAW = b.t("tFAW", 20, 21, J + "tFAW (1 KB page) = max(20 nCK, 21 ns)");
  s.tREFI = b.t("tREFI", 0, 7800, J + "tREFI = 7.8 us (0-85 C)");
  s.tRFC = b.t("tRFC", 0, 350, J + "tRFC1 (8 Gb) = 350 ns");
  return s;
}

DramSpec lpddr4_4266() {
  const std::string J = "[JESD209-4B LPDDR4-4266, 8 Gb per x16 channel] ";
  Builder b("LPDDR4-4266", 1e6 / 2133.0);
  b.s.params[0].source = J + "4266 MT/s: tCK = 0.469 ns";
  DramSpec& s = b.s;
  s.channels = b.n("channels", 2, "count", "[ours] one x32 die = two x16 channels");
  s.ranks = b.n("ranks", 1, "count", "[ours] single rank");
  s.bankgroups = b.n("bankgroups", 1, "count", J + "no bank groups");
  s.banks_per_group = b.n("banks_per_group", 8, "count", J + "8 banks per channel");
  s.rows = b.n("rows", 65536, "count", J + "8 Gb per channel: 64K rows");
  s.burst_bytes = b.n("burst_bytes", 32, "B", J + "BL16 x 16-bit channel = 32 B");
  s.bursts_per_row = b.n("bursts_per_row", 64, "count", J + "2 KB page = 64 bursts");
  s.tCL = b.t("tCL", 36, 0, J + "RL = 36 nCK (set A, no DBI)");
  s.tCWL = b.t("tCWL", 18, 0, J + "WL = 18 nCK (set A)");
  s.tRCD = b.t("tRCD", 4, 18, J + "tRCD = max(18 ns, 4 nCK)");
  s.tRP = b.t("tRP", 3, 18, J + "tRPpb = max(18 ns, 3 nCK)");
  s.tRAS = b.t("tRAS", 3, 42, J + "tRAS = max(42 ns, 3 nCK)");
  s.tBURST = b.t("tBURST", 8, 0, J + "BL16 on a DDR bus = 8 nCK");
  s.tCCD_S = b.t("tCCD_S", 8, 0, J + "tCCD = BL/2 = 8 nCK");
  s.tCCD_L = b.t("tCCD_L", 8, 0, J + "no bank groups: tCCD = 8 nCK");
  s.tWR = b.t("tWR", 6, 18, J + "tWR = max(18 ns, 6 nCK)");
  s.tWTR_S = b.t("tWTR_S", 8, 10, J + "tWTR = max(10 ns, 8 nCK)");
  s.tWTR_L = b.t("tWTR_L", 8, 10, J + "tWTR = max(10 ns, 8 nCK)");
  s.tRTP = b.t("tRTP", 8, 7.5, J + "tRTP = max(7.5 ns, 8 nCK)");
  s.tRRD_S = b.t("tRRD_S", 4, 10, J + "tRRD = max(10 ns, 4 nCK)");
  s.tRRD_L = b.t("tRRD_L", 4, 10, J + "tRRD = max(10 ns, 4 nCK)");
  s.tFAW = b.t("tFAW", 0, 40, J + "tFAW = 40 ns");
  s.tREFI = b.t("tREFI", 0, 3904, J + "tREFIab = 3.904 us (8 Gb)");
  s.tRFC = b.t("tRFC", 0, 280, J + "tRFCab (8 Gb) = 280 ns");
  return s;
}

DramSpec hbm2(bool stack) {
  const std::string J = "[JESD235A HBM2 2 Gb/s, 8 Gb channel, pseudo-channel mode] ";
  const std::string R = "[Ramulator HBM table (Kim et al., IEEE CAL 2015), from JESD235, in ns] ";
  Builder b(stack ? "HBM2-stack" : "HBM2-PC", 1000.0);
  b.s.params[0].source = J + "2 Gb/s per pin, DDR: tCK = 1 ns";
  DramSpec& s = b.s;
  s.channels = stack ? b.n("channels", 16, "count", J + "8 channels x 2 pseudo-channels per stack")
                     : b.n("channels", 1, "count", "[ours] one pseudo-channel");
  s.ranks = b.n("ranks", 1, "count", J + "one stack id (4-high/8-high share the channel)");
  s.bankgroups = b.n("bankgroups", 4, "count", J + "4 bank groups per pseudo-channel");
  s.banks_per_group = b.n("banks_per_group", 4, "count", J + "16 banks per pseudo-channel");
  s.rows = b.n("rows", 32768, "count", J + "4 Gb per pseudo-channel / (16 banks x 1 KB)");
  s.burst_bytes = b.n("burst_bytes", 32, "B", J + "BL4 x 64-bit pseudo-channel = 32 B");
  s.bursts_per_row = b.n("bursts_per_row", 32, "count", J + "1 KB page = 32 bursts");
  s.tCL = b.t("tCL", 0, 14, R + "nCL = 7 x 2 ns");
  s.tCWL = b.t("tCWL", 0, 4, R + "nCWL = 2 x 2 ns");
  s.tRCD = b.t("tRCD", 0, 14, R + "nRCD = 7 x 2 ns");
  s.tRP = b.t("tRP", 0, 14, R + "nRP = 7 x 2 ns");
  s.tRAS = b.t("tRAS", 0, 34, R + "nRAS = 17 x 2 ns");
  s.tBURST = b.t("tBURST", 2, 0, J + "BL4 on a DDR bus = 2 nCK");
  s.tCCD_S = b.t("tCCD_S", 2, 0, R + "nCCDS = 1 x 2 ns");
  s.tCCD_L = b.t("tCCD_L", 4, 0, R + "nCCDL = 2 x 2 ns");
  s.tWR = b.t("tWR", 0, 16, R + "nWR = 8 x 2 ns");
  s.tWTR_S = b.t("tWTR_S", 0, 6, R + "nWTRS = 3 x 2 ns");
  s.tWTR_L = b.t("tWTR_L", 0, 8, R + "nWTRL = 4 x 2 ns");
  s.tRTP = b.t("tRTP", 0, 6, R + "nRTPL = 3 x 2 ns");
  s.tRRD_S = b.t("tRRD_S", 0, 4, R + "nRRDS = 2 x 2 ns");
  s.tRRD_L = b.t("tRRD_L", 0, 6, R + "nRRDL = 3 x 2 ns");
  s.tFAW = b.t("tFAW", 0, 32, R + "nFAW = 16 x 2 ns");
  s.tREFI = b.t("tREFI", 0, 3900, R + "tREFI = 3.9 us");
  s.tRFC = b.t("tRFC", 0, 350, R + "tRFC (8 Gb) = 350 ns");
  return s;
}

}  // namespace

DramSpec dram_spec(const Config& cfg) {
  DramSpec s;
  switch (static_cast<int>(cfg.dram_preset)) {
    case 2: s = lpddr4_4266(); break;
    case 3: s = hbm2(false); break;
    case 4: s = hbm2(true); break;
    default: s = ddr4_3200(); break;
  }
  auto override_count = [&](const char* name, uint32_t& field, double v) {
    if (v <= 0) return;
    field = static_cast<uint32_t>(v);
    for (auto& p : s.params)
      if (p.name == name) {
        p.value = v;
        p.source = std::string("config dram_") + name;
      }
  };
  override_count("channels", s.channels, cfg.dram_channels);
  override_count("ranks", s.ranks, cfg.dram_ranks);
  return s;
}

// ---- timeline ----------------------------------------------------------------------------------
uint64_t DramTimingBanked::Timeline::find(uint64_t from, uint64_t len) const {
  uint64_t t = from;
  auto it = iv_.upper_bound(t);
  if (it != iv_.begin()) {
    auto prev = std::prev(it);
    if (prev->second > t) t = prev->second;
  }
  for (; it != iv_.end(); ++it) {
    if (it->first >= t + len) break;
    t = std::max(t, it->second);
  }
  return t;
}

void DramTimingBanked::Timeline::add(uint64_t start, uint64_t len) {
  uint64_t s = start, e = start + len;
  auto it = iv_.lower_bound(s);
  if (it != iv_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= s) {
      s = prev->first;
      e = std::max(e, prev->second);
      it = iv_.erase(prev);
    }
  }
  while (it != iv_.end() && it->first <= e) {
    e = std::max(e, it->second);
    it = iv_.erase(it);
  }
  iv_.emplace(s, e);
}

void DramTimingBanked::Timeline::prune(uint64_t before) {
  while (!iv_.empty() && iv_.begin()->second < before) iv_.erase(iv_.begin());
}

// ---- policy ------------------------------------------------------------------------------------
DramTimingBanked::DramTimingBanked(const Config& cfg)
    : DramTimingBanked(dram_spec(cfg), static_cast<int>(cfg.dram_mapping), cfg.dram_page_policy == 1,
                       cfg.dram_scheduler == 1, static_cast<uint32_t>(cfg.dram_queue_depth), cfg.dram_refresh != 0) {}

DramTimingBanked::DramTimingBanked(const DramSpec& spec, int mapping, bool closed_page, bool in_order,
                                   uint32_t queue_depth, bool refresh)
    : spec_(spec),
      mapping_(mapping),
      closed_page_(closed_page),
      in_order_(in_order),
      refresh_(refresh && spec.tREFI > 0),
      queue_depth_(std::max<uint32_t>(queue_depth, 1)) {
  offset_bits_ = log2u(spec_.burst_bytes);
  const uint32_t ch = log2u(spec_.channels), ra = log2u(spec_.ranks), bg = log2u(spec_.bankgroups),
                 ba = log2u(spec_.banks_per_group), co = log2u(spec_.bursts_per_row);
  switch (mapping_) {
    case 1:  // row : rank : bank : bank group : column : channel (RoRaBaBgCoCh)
      fields_ = {{CH, ch}, {CO, co}, {BG, bg}, {BA, ba}, {RA, ra}};
      break;
    case 2:  // row : column : rank : bank : bank group : channel (bursts interleaved over all banks)
      fields_ = {{CH, ch}, {BG, bg}, {BA, ba}, {RA, ra}, {CO, co}};
      break;
    default:  // row : rank : bank : column : bank group : channel (bank groups interleaved per burst)
      fields_ = {{CH, ch}, {BG, bg}, {CO, co}, {BA, ba}, {RA, ra}};
      break;
  }
  ch_.resize(spec_.channels);
  for (Channel& c : ch_) {
    c.banks.resize(static_cast<size_t>(spec_.ranks) * spec_.banks());
    c.ranks.resize(spec_.ranks);
    for (Rank& r : c.ranks) {
      r.bg_last_act.assign(spec_.bankgroups, 0);
      r.bg_wr_end.assign(spec_.bankgroups, 0);
    }
    c.bg_col.resize(static_cast<size_t>(spec_.ranks) * spec_.bankgroups);
  }
  reset_stats();
}

void DramTimingBanked::reset_stats() {
  stats_ = DramStats{};
  stats_.latency_hist.assign(20001, 0);
}

DramTimingBanked::Location DramTimingBanked::decode(uint64_t address) const {
  Location l{0, 0, 0, 0, 0, 0};
  uint64_t a = address >> offset_bits_;
  for (const auto& [f, bits] : fields_) {
    const uint32_t v = static_cast<uint32_t>(a & ((1ull << bits) - 1));
    a >>= bits;
    switch (f) {
      case CH: l.channel = v; break;
      case RA: l.rank = v; break;
      case BG: l.bankgroup = v; break;
      case BA: l.bank = v; break;
      default: l.column = v; break;
    }
  }
  l.row = a;
  return l;
}

uint64_t DramTimingBanked::epoch(uint32_t rank, uint64_t t) const {
  if (!refresh_) return 0;
  const uint64_t off = refresh_offset(rank) + spec_.tREFI;  // first refresh at tREFI (+ stagger)
  return t < off ? 0 : (t - off) / spec_.tREFI + 1;
}

uint64_t DramTimingBanked::refresh_clash(uint32_t rank, uint64_t a, uint64_t b) const {
  if (!refresh_) return 0;
  // Windows [off + k tREFI, off + k tREFI + tRFC), k >= 0, off = tREFI + stagger.
  const uint64_t off = refresh_offset(rank) + spec_.tREFI;
  if (b <= off) return 0;
  const uint64_t k = a < off ? 0 : (a - off) / spec_.tREFI;
  for (uint64_t j = k; j <= k + 1; ++j) {
    const uint64_t ws = off + j * spec_.tREFI, we = ws + spec_.tRFC;
    if (a < we && b > ws) return we;
  }
  return 0;
}

uint64_t DramTimingBanked::act_time(Rank& r, uint32_t bg, uint64_t t) const {
  for (int iter = 0; iter < 64; ++iter) {
    uint64_t t0 = t;
    for (size_t i = 0; i < r.acts.size(); ++i) {
      const uint64_t a = r.acts[i];
      // tRRD_S between any two ACTs of the rank (tRRD_L within a bank group is checked below).
      if (t < a + spec_.tRRD_S && a < t + spec_.tRRD_S) t = a + spec_.tRRD_S;
    }
    if (r.any_act && t < r.bg_last_act[bg] + spec_.tRRD_L && r.bg_last_act[bg] < t + spec_.tRRD_L)
      t = r.bg_last_act[bg] + spec_.tRRD_L;
    // tFAW: at most four ACTs in any window of tFAW; count those in (t - tFAW, t].
    std::vector<uint64_t> win;
    for (uint64_t a : r.acts)
      if (a + spec_.tFAW > t && a <= t) win.push_back(a);
    if (win.size() >= 4) t = win[win.size() - 4] + spec_.tFAW;
    if (t == t0) break;
  }
  return t;
}

uint64_t DramTimingBanked::schedule(uint64_t address, bool write, uint64_t arrive, DramBurst* out) {
  const Location loc = decode(address);
  Channel& c = ch_[loc.channel];
  DramStats& s = stats_;

  // Bounded controller queue: wait for a free entry.
  uint64_t t = arrive;
  auto& q = c.inflight;
  auto cmp = std::greater<uint64_t>();
  while (!q.empty() && q.front() <= t) {
    std::pop_heap(q.begin(), q.end(), cmp);
    q.pop_back();
  }
  if (q.size() >= queue_depth_) {
    const uint64_t free_at = q.front();
    std::pop_heap(q.begin(), q.end(), cmp);
    q.pop_back();
    s.queue_full_ps += free_at - t;
    t = free_at;
  }

  const size_t bank_index =
      static_cast<size_t>(loc.rank) * spec_.banks() + loc.bankgroup * spec_.banks_per_group + loc.bank;
  Bank& bank = c.banks[bank_index];
  Rank& rank = c.ranks[loc.rank];
  Timeline& bgc = c.bg_col[static_cast<size_t>(loc.rank) * spec_.bankgroups + loc.bankgroup];
  const uint64_t cas = write ? spec_.tCWL : spec_.tCL;

  uint8_t kind = 0;
  uint64_t t_act = 0, t_pre = 0, t_col = 0, t_data = 0;
  bool need_act = false, need_pre = false;
  for (int attempt = 0; attempt < 8; ++attempt) {
    // A refresh since the bank's last use closed its row.
    bool open = bank.open && epoch(loc.rank, std::max(t, bank.col_ok)) == bank.refresh_epoch;
    uint64_t act_ok = bank.act_ok;
    if (bank.open && !open) act_ok = std::max(act_ok, bank.pre_ok + spec_.tRP);
    need_pre = open && bank.row != loc.row;
    need_act = !open || need_pre;
    kind = !need_act ? 0 : (need_pre ? 2 : 1);
    uint64_t col_from = std::max(t, bank.col_ok);
    if (need_pre) {
      t_pre = std::max(t, bank.pre_ok);
      act_ok = std::max(act_ok, t_pre + spec_.tRP);
    }
    if (need_act) {
      t_act = act_time(rank, loc.bankgroup, std::max(t, act_ok));
      col_from = std::max(col_from, t_act + spec_.tRCD);
    }
    if (!write) {  // write-to-read turnaround of the rank
      col_from = std::max(col_from, rank.wr_end + spec_.tWTR_S);
      col_from = std::max(col_from, rank.bg_wr_end[loc.bankgroup] + spec_.tWTR_L);
    }
    // Data: the earliest slot at which the channel's data bus (tBURST) and the bank group's column
    // path (tCCD_L) are both free. In order: never before the last slot taken.
    uint64_t d = col_from + cas;
    if (in_order_) d = std::max(d, c.data.tail());
    for (int k = 0; k < 256; ++k) {
      const uint64_t d1 = c.data.find(d, spec_.tBURST);
      const uint64_t d2 = bgc.find(d1, spec_.tCCD_L);
      if (d2 == d1) {
        d = d1;
        break;
      }
      d = d2;
    }
    t_col = d - cas;
    t_data = d;
    // Nothing of this burst may fall into a refresh window of its rank.
    const uint64_t first = need_pre ? t_pre : (need_act ? t_act : t_col);
    const uint64_t busy_to = t_data + spec_.tBURST + (write ? spec_.tWR : 0);
    const uint64_t clash = refresh_clash(loc.rank, std::min(first, t_col), busy_to);
    if (clash == 0) break;
    t = std::max(t, clash);
  }
  const uint64_t done = t_data + spec_.tBURST;

  // Commit.
  if (need_pre) {
    ++s.precharges;
  }
  if (need_act) {
    ++s.activates;
    rank.acts.push_back(t_act);
    std::sort(rank.acts.begin(), rank.acts.end());
    while (rank.acts.size() > 8) rank.acts.erase(rank.acts.begin());
    rank.bg_last_act[loc.bankgroup] = std::max(rank.bg_last_act[loc.bankgroup], t_act);
    rank.last_act = std::max(rank.last_act, t_act);
    rank.any_act = true;
    bank.open = true;
    bank.row = loc.row;
    bank.pre_ok = t_act + spec_.tRAS;
  }
  bank.refresh_epoch = epoch(loc.rank, t_col);
  bank.col_ok = std::max(bank.col_ok, t_col);
  bank.pre_ok = std::max(bank.pre_ok, write ? done + spec_.tWR : t_col + spec_.tRTP);
  if (closed_page_) {  // auto-precharge
    bank.open = false;
    ++s.precharges;
    bank.act_ok = std::max(bank.act_ok, bank.pre_ok + spec_.tRP);
  } else if (need_act) {
    bank.act_ok = t_act;  // the next ACT needs a PRE first (tracked through pre_ok)
  }
  if (write) {
    rank.wr_end = std::max(rank.wr_end, done);
    rank.bg_wr_end[loc.bankgroup] = std::max(rank.bg_wr_end[loc.bankgroup], done);
  }
  c.data.add(t_data, spec_.tBURST);
  bgc.add(t_data, spec_.tCCD_L);
  q.push_back(done);
  std::push_heap(q.begin(), q.end(), cmp);
  // Keep the timelines short: LT initiators run at most a few transfers apart.
  c.max_seen = std::max(c.max_seen, arrive);
  if (c.max_seen > kHorizon) {
    c.data.prune(c.max_seen - kHorizon);
    bgc.prune(c.max_seen - kHorizon);
  }

  (kind == 0 ? s.row_hits : kind == 1 ? s.row_misses : s.row_conflicts) += 1;
  ++s.bursts;
  (write ? s.bytes_written : s.bytes_read) += spec_.burst_bytes;
  s.data_busy_ps += spec_.tBURST;
  s.first_arrival_ps = std::min(s.first_arrival_ps, arrive);
  s.last_done_ps = std::max(s.last_done_ps, done);
  const uint64_t lat = done - arrive;
  s.latency_sum_ps += lat;
  s.latency_max_ps = std::max(s.latency_max_ps, lat);
  s.latency_hist[std::min<uint64_t>(lat / s.latency_bin_ps, s.latency_hist.size() - 1)] += 1;
  if (out) {
    out->t_arrive_ps = arrive;
    out->t_data_ps = t_data;
    out->t_done_ps = done;
    out->address = address;
    out->row = static_cast<uint32_t>(loc.row);
    out->channel = static_cast<uint8_t>(loc.channel);
    out->rank = static_cast<uint8_t>(loc.rank);
    out->bank = static_cast<uint8_t>(loc.bankgroup * spec_.banks_per_group + loc.bank);
    out->kind = kind;
  }
  return done;
}

uint64_t DramTimingBanked::access(uint64_t address, uint32_t bytes, bool write, uint64_t issue_ps,
                                  std::vector<DramBurst>* bursts) {
  const uint64_t bb = spec_.burst_bytes;
  const uint64_t first = address / bb, last = (address + std::max<uint32_t>(bytes, 1) - 1) / bb;
  uint64_t done = issue_ps;
  ++stats_.accesses;
  for (uint64_t k = first; k <= last; ++k) {
    DramBurst b{};
    done = std::max(done, schedule(k * bb, write, issue_ps, bursts ? &b : nullptr));
    if (bursts) bursts->push_back(b);
  }
  return done;
}

const DramStats& DramTimingBanked::stats() const {
  // Refresh commands of every rank whose window started before the last activity.
  stats_.refreshes = 0;
  if (refresh_ && stats_.bursts) {
    for (uint32_t ch = 0; ch < spec_.channels; ++ch)
      for (uint32_t r = 0; r < spec_.ranks; ++r) stats_.refreshes += epoch(r, stats_.last_done_ps);
  }
  stats_.refresh_ps = stats_.refreshes * spec_.tRFC;
  return stats_;
}

std::string DramTimingBanked::spec_text() const {
  std::ostringstream os;
  os.precision(17);
  os << "policy|1|code|banked: " << spec_.name << '\n';
  for (const auto& p : spec_.params) os << p.name << '|' << p.value << '|' << p.unit << '|' << p.source << '\n';
  os << "peak_gbps|" << spec_.peak_gbps() << "|GB/s|channels x burst_bytes / tBURST\n";
  os << "mapping|" << mapping_ << "|code|config dram_mapping\n";
  os << "closed_page|" << (closed_page_ ? 1 : 0) << "|bool|config dram_page_policy\n";
  os << "in_order|" << (in_order_ ? 1 : 0) << "|bool|config dram_scheduler\n";
  os << "queue_depth|" << queue_depth_ << "|requests|config dram_queue_depth\n";
  os << "refresh|" << (refresh_ ? 1 : 0) << "|bool|config dram_refresh\n";
  return os.str();
}

}  // namespace a3
