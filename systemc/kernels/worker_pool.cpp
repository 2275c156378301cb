#include "kernels/worker_pool.h"

#include <unistd.h>

#include <chrono>

namespace a3 {

namespace {
// How long an idle worker (or the waiting caller) polls before it sleeps. Jobs of one call follow
// each other within tens of microseconds; a sleeping thread can take longer than that to wake on a
// virtual machine, so a short spin keeps the workers on the job.
constexpr auto kSpin = std::chrono::microseconds(300);

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

WorkerPool::WorkerPool(unsigned threads) : threads_(threads < 1 ? 1 : threads) {}

void WorkerPool::start() {
  // A forked child has none of the parent's threads: start new ones with new sync objects.
  sh_ = new Shared;
  pid_ = static_cast<long>(getpid());
  for (unsigned w = 1; w < threads_; ++w) std::thread(loop, sh_, w).detach();
}

void WorkerPool::work(Shared* sh, unsigned worker) {
  for (;;) {
    const uint32_t begin = sh->next.fetch_add(sh->chunk);
    if (begin >= sh->count) return;
    const uint32_t end = begin + sh->chunk < sh->count ? begin + sh->chunk : sh->count;
    (*sh->fn)(begin, end, worker);
  }
}

void WorkerPool::loop(Shared* sh, unsigned worker) {
  uint64_t seen = 0;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    while (sh->generation.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() - t0 < kSpin)
      relax();
    if (sh->generation.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lk(sh->mu);
      sh->go.wait(lk, [&] { return sh->generation.load(std::memory_order_acquire) != seen; });
    }
    seen = sh->generation.load(std::memory_order_acquire);
    work(sh, worker);
    if (sh->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lk(sh->mu);
      sh->done.notify_one();
    }
  }
}

void WorkerPool::run(uint32_t count, const Fn& fn, uint32_t chunk) {
  if (chunk < 1) chunk = 1;
  if (threads_ <= 1 || count <= chunk) {
    fn(0, count, 0);
    return;
  }
  if (sh_ == nullptr || pid_ != static_cast<long>(getpid())) start();
  {
    std::lock_guard<std::mutex> lk(sh_->mu);
    sh_->fn = &fn;
    sh_->count = count;
    sh_->chunk = chunk;
    sh_->next.store(0);
    sh_->pending.store(threads_ - 1);
    sh_->generation.fetch_add(1, std::memory_order_release);
  }
  sh_->go.notify_all();
  work(sh_, 0);
  const auto t0 = std::chrono::steady_clock::now();
  while (sh_->pending.load(std::memory_order_acquire) != 0 && std::chrono::steady_clock::now() - t0 < kSpin)
    relax();
  std::unique_lock<std::mutex> lk(sh_->mu);
  sh_->done.wait(lk, [&] { return sh_->pending.load(std::memory_order_acquire) == 0; });
}

}  // namespace a3
