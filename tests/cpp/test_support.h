// test_support.h - what the C++ tests share: CHECK, the end-of-test report, and a watchdog that
// turns a hang into a quick failure that says where it hung.
// CHECK(cond) counts and prints a failed condition (the first 30). finish("name") prints the
// verdict and gives the exit status. section("name") records what the test is doing (and prints it, so a log shows
// progress). A thread started by the first section() waits A3SIM_TEST_WATCHDOG_S seconds (default 300); if the test is
// still running then, it prints the section, the stacks of all threads (gdb, when the machine has it), and ends the
// process with status 124. ctest's TIMEOUT stays as a backstop.
#pragma once

#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace a3test {

inline int failures = 0;

// Prints "name: all checks passed" or the number of failures; the exit status of the test.
inline int finish(const char* name) {
  if (failures == 0)
    std::printf("%s: all checks passed\n", name);
  else
    std::printf("%s: %d check(s) failed\n", name, failures);
  return failures == 0 ? 0 : 1;
}

inline std::atomic<const char*>& current_section() {
  static std::atomic<const char*> s{"start"};
  return s;
}

inline void watchdog_fire(double limit_s) {
  std::fprintf(stderr, "watchdog: still in section '%s' after %.0f s; thread stacks follow\n", current_section().load(),
               limit_s);
  std::fflush(stderr);
  // Let a child (gdb) attach to this process where Yama restricts ptrace to descendants.
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  const std::string cmd = "command -v gdb >/dev/null && timeout 60 gdb -p " + std::to_string(getpid()) +
                          " -batch -nx -ex 'thread apply all bt 30' 1>&2 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "watchdog: no stacks (gdb missing or refused)\n");
  std::fflush(stderr);
  std::_Exit(124);
}

inline void start_watchdog() {
  const char* env = std::getenv("A3SIM_TEST_WATCHDOG_S");
  const double limit_s = env ? std::atof(env) : 300.0;
  if (limit_s <= 0) return;
  std::thread([limit_s] {
    std::this_thread::sleep_for(std::chrono::duration<double>(limit_s));
    watchdog_fire(limit_s);
  }).detach();
}

// Marks the start of a part of a test; the first call starts the watchdog.
inline void section(const char* name) {
  static const bool started = (start_watchdog(), true);
  (void)started;
  current_section().store(name);
  std::printf("-- %s\n", name);
  std::fflush(stdout);
}

}  // namespace a3test

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      if (a3test::failures < 30) std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++a3test::failures;                                                                    \
    }                                                                                        \
  } while (0)
