// worker_pool.h - host threads for the functional model's per-query work (not a hardware box).
// The SystemC thread that calls run() takes part as worker 0 and returns when all work is done;
// workers never touch SystemC. Safe across fork(): a child process starts fresh workers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace a3 {

class WorkerPool {
 public:
  // fn(begin, end, worker) handles items [begin, end) with worker index in [0, threads()).
  using Fn = std::function<void(uint32_t, uint32_t, unsigned)>;

  // back_off = false: never fall back to the caller alone (tests of the parallel path).
  explicit WorkerPool(unsigned threads, bool back_off = true);
  unsigned threads() const { return threads_; }
  // True while calls run on the caller alone after a late call (see run()).
  bool backing_off() const { return std::chrono::steady_clock::now() < inline_until_; }
  // Hands out [0, count) in chunks of `chunk` items to whichever worker is free (dynamic
  // scheduling: a worker slowed by other load takes fewer chunks). Runs inline when count <= chunk.
  // Returns when every item is done: the caller waits only for chunks a worker has taken, never
  // for a worker that has not woken up yet (on a loaded machine that can take a time slice).
  // After a call whose workers finished late (a worker lost its core to another busy thread, e.g.
  // numpy's OpenBLAS threads, which spin after each of their calls), the calls of the next
  // 20 ms .. 1 s (doubling while it lasts) run on the caller alone. fn is handed the same ranges
  // either way when it cuts them itself; results must not depend on the worker index.
  void run(uint32_t count, const Fn& fn, uint32_t chunk = 16);

 private:
  struct Shared {
    std::mutex mu;
    std::condition_variable go, done_cv;
    // The call in progress. `claim` packs the call's generation (high 32 bits) and the next item
    // (low 32 bits): a worker claims a chunk by compare-and-swap, so a worker that wakes late
    // cannot take items of a call that has ended, nor of the next one by mistake.
    std::atomic<const Fn*> fn{nullptr};
    std::atomic<uint32_t> count{0};
    std::atomic<uint32_t> chunk{1};
    std::atomic<uint64_t> claim{0};
    std::atomic<uint32_t> done{0};  // items finished in the call in progress
    std::atomic<bool> caller_sleeps{false};
  };
  void start();
  static void loop(Shared* sh, unsigned worker);
  // Claims and runs chunks of generation gen until none is left.
  static uint32_t work(Shared* sh, uint32_t gen, unsigned worker);  // returns the chunks it ran

  unsigned threads_;
  bool back_off_;
  long pid_ = 0;
  uint32_t gen_ = 0;
  Shared* sh_ = nullptr;  // leaked on purpose when a forked child starts afresh
  // Contention back-off (the caller's side only): calls before inline_until_ run on the caller.
  static constexpr std::chrono::milliseconds kBackoffMin{20}, kBackoffMax{1000};
  std::chrono::steady_clock::time_point inline_until_{};
  std::chrono::steady_clock::duration backoff_ = kBackoffMin;
};

}  // namespace a3
