#include "soc/system_bus.h"

#include <algorithm>

#include "soc/txn_tag.h"

namespace a3 {

using namespace sc_core;

SystemBus::SystemBus(sc_module_name name, const Config& cfg, TraceRecorder* recorder)
    : sc_module(name),
      target_socket("target_socket"),
      initiator_socket("initiator_socket"),
      latency_(cfg.bus_latency_ns, SC_NS),
      grant_ps_(sc_time(cfg.bus_grant_ns, SC_NS).value()),
      fixed_priority_(cfg.bus_arbitration == 1),
      recorder_(recorder) {
  target_socket.register_b_transport(this, &SystemBus::b_transport);
  target_socket.register_transport_dbg(this, &SystemBus::transport_dbg);
}

void SystemBus::map(uint8_t index, uint64_t base, uint64_t size, const std::string& name) {
  regions_.push_back(Region{base, size, index, name});
}

std::vector<std::string> SystemBus::target_names() const {
  std::vector<std::string> names;
  for (const Region& r : regions_) {
    if (names.size() <= r.target) names.resize(r.target + 1);
    names[r.target] = r.name;
  }
  return names;
}

const SystemBus::Region* SystemBus::decode(uint64_t addr, uint64_t len) const {
  for (const Region& r : regions_)
    if (addr >= r.base && addr - r.base < r.size && len <= r.size - (addr - r.base)) return &r;
  return nullptr;
}

uint64_t SystemBus::Grants::free_from(uint64_t t) const {
  // The last interval starting at or before t.
  auto it = std::upper_bound(iv.begin() + static_cast<std::ptrdiff_t>(head), iv.end(), t,
                             [](uint64_t v, const std::pair<uint64_t, uint64_t>& g) { return v < g.first; });
  if (it == iv.begin() + static_cast<std::ptrdiff_t>(head)) return t;
  --it;
  return it->second > t ? it->second : t;
}

size_t SystemBus::Grants::first_at_or_after(uint64_t t) const {
  auto it = std::lower_bound(iv.begin() + static_cast<std::ptrdiff_t>(head), iv.end(), t,
                             [](const std::pair<uint64_t, uint64_t>& g, uint64_t v) { return g.first < v; });
  return static_cast<size_t>(it - iv.begin());
}

void SystemBus::Grants::add(uint64_t start, uint64_t end) {
  // Common case: at or after the last interval (an initiator's own requests come in time order).
  if (iv.size() == head || iv.back().second <= start) {
    if (iv.size() > head && iv.back().second == start)
      iv.back().second = end;
    else
      iv.emplace_back(start, end);
    return;
  }
  const size_t i = first_at_or_after(start);  // [start, end) is free: it fits before iv[i]
  const bool join_prev = i > head && iv[i - 1].second == start;
  const bool join_next = i < iv.size() && iv[i].first == end;
  if (join_prev && join_next) {
    iv[i - 1].second = iv[i].second;
    iv.erase(iv.begin() + static_cast<std::ptrdiff_t>(i));
  } else if (join_prev) {
    iv[i - 1].second = end;
  } else if (join_next) {
    iv[i].first = start;
  } else {
    iv.insert(iv.begin() + static_cast<std::ptrdiff_t>(i), {start, end});
  }
}

void SystemBus::Grants::forget_before(uint64_t t) {
  while (head < iv.size() && iv[head].second < t) ++head;
  if (head > 64 && head * 2 > iv.size()) {  // compact now and then: amortised O(1) per grant
    iv.erase(iv.begin(), iv.begin() + static_cast<std::ptrdiff_t>(head));
    head = 0;
  }
}

uint64_t SystemBus::arbitrate(int id, uint64_t t) {
  if (grant_ps_ == 0) return t;
  if (grants_.size() <= static_cast<size_t>(id)) grants_.resize(id + 1);
  // Round-robin: every grant of every initiator blocks its slot; a request takes the earliest free
  // slot at or after its arrival (loosely timed: requests are served in call order, each at its
  // own time). Fixed priority: only grants of initiators of higher or equal priority (lower index)
  // block a request, so a high-priority initiator never waits for a lower one.
  const size_t last = fixed_priority_ ? static_cast<size_t>(id) : grants_.size() - 1;
  uint64_t g = t;
  for (int iter = 0; iter < 1024; ++iter) {
    const uint64_t before = g;
    for (size_t i = 0; i <= last; ++i) {
      const Grants& m = grants_[i];
      // Common case: every grant of this initiator ends by g (an idle initiator, or the requester's
      // own back-to-back grants): nothing of it can block.
      if (m.iv.size() == m.head || m.iv.back().second <= g) continue;
      g = m.free_from(g);
      const size_t k = m.first_at_or_after(g);
      if (k < m.iv.size() && m.iv[k].first < g + grant_ps_) g = m.iv[k].second;
    }
    if (g == before) break;
  }
  grants_[id].add(g, g + grant_ps_);
  // Forget grants far behind: loosely timed initiators run at most a few transfers apart.
  latest_request_ = std::max(latest_request_, t);
  constexpr uint64_t horizon = 100000000ull;  // 100 us
  if (latest_request_ > horizon)
    for (auto& m : grants_) m.forget_before(latest_request_ - horizon);
  return g;
}

void SystemBus::b_transport(int id, tlm::tlm_generic_payload& trans, sc_time& delay) {
  ++transactions;
  const uint64_t addr = trans.get_address();
  const uint32_t len = trans.get_data_length();
  const uint64_t t_start = (sc_time_stamp() + delay).value();
  const Region* r = decode(addr, len);
  uint64_t t_grant = t_start;
  if (r != nullptr && r->target == 0) {  // the DRAM port is arbitrated
    t_grant = arbitrate(id, t_start);
    arbitration_wait_ps += t_grant - t_start;
    delay += sc_time::from_value(t_grant - t_start);
  }
  delay += latency_;
  uint8_t target = DECODE_ERROR;
  if (r == nullptr) {
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  } else {
    target = r->target;
    TxnTag* tag = nullptr;
    trans.get_extension(tag);
    if (tag) tag->initiator = static_cast<uint8_t>(id);
    trans.set_address(addr - r->base);
    initiator_socket[r->target]->b_transport(trans, delay);
    trans.set_address(addr);
  }
  if (recorder_ && recorder_->enabled) {
    TxnTag* tag = nullptr;
    trans.get_extension(tag);
    TxnRecord rec{};
    rec.t_start_ps = t_start;
    rec.t_grant_ps = t_grant;
    rec.t_end_ps = (sc_time_stamp() + delay).value();
    rec.address = addr;
    rec.bytes = len;
    rec.job = tag ? tag->job : NO_JOB;
    rec.initiator = static_cast<uint8_t>(id);
    rec.target = target;
    rec.op = trans.is_write() ? 1 : 0;
    rec.stream = static_cast<uint8_t>(tag ? tag->stream : Stream::NONE);
    rec.status = trans.is_response_ok() ? 0 : 1;
    recorder_->txn(rec);
  }
}

unsigned int SystemBus::transport_dbg(int, tlm::tlm_generic_payload& trans) {
  const uint64_t addr = trans.get_address();
  const Region* r = decode(addr, 1);
  if (r == nullptr) return 0;
  uint64_t room = r->size - (addr - r->base);
  if (trans.get_data_length() > room) trans.set_data_length(static_cast<unsigned int>(room));
  trans.set_address(addr - r->base);
  unsigned int n = initiator_socket[r->target]->transport_dbg(trans);
  trans.set_address(addr);
  return n;
}

}  // namespace a3
