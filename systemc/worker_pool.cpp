#include "worker_pool.h"

#include <unistd.h>

namespace a3 {

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
    {
      std::unique_lock<std::mutex> lk(sh->mu);
      sh->go.wait(lk, [&] { return sh->generation != seen; });
      seen = sh->generation;
    }
    work(sh, worker);
    std::lock_guard<std::mutex> lk(sh->mu);
    if (--sh->pending == 0) sh->done.notify_one();
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
    sh_->pending = threads_ - 1;
    ++sh_->generation;
  }
  sh_->go.notify_all();
  work(sh_, 0);
  std::unique_lock<std::mutex> lk(sh_->mu);
  sh_->done.wait(lk, [&] { return sh_->pending == 0; });
}

}  // namespace a3
