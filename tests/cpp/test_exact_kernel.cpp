// test_exact_kernel.cpp - C++ tests of the exact kernel's own functions, run by ctest: the
// softmax's exp against exp in double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "kernels/exact_kernel.h"
#include "test_support.h"

// The exact kernel's exp: within 2 ulp of exp in double over [-87, 0] (a dense sweep and every
// float of [-1, 0) near 0, where most softmax weights lie; 0.91 ulp measured), 1 at 0, 0 below -87;
// the sum it returns is a float32 sum of the values it wrote (within the bound of any order).
static void test_exact_exp() {
  const uint32_t N = 1u << 21;
  std::vector<float> x(N), e(N);
  for (uint32_t i = 0; i < N; ++i) x[i] = -87.0f * static_cast<float>(i) / static_cast<float>(N - 1);
  double worst = 0;
  auto check = [&](uint32_t count) {
    const float sum = a3::exp_shifted_sum(x.data(), e.data(), count, 0.0f);
    double ref_sum = 0.0;  // the values written, summed in double
    for (uint32_t i = 0; i < count; ++i) {
      ref_sum += e[i];
      const double exact = std::exp(static_cast<double>(x[i]));
      const double ulp = std::ldexp(1.0, std::ilogb(exact) - 23);
      worst = std::max(worst, std::fabs(e[i] - exact) / ulp);
    }
    // A float32 sum in any order is within gamma_count = count u / (1 - count u) of it.
    const double u = std::ldexp(1.0, -24), gamma = count * u / (1 - count * u);
    CHECK(std::fabs(sum - ref_sum) <= gamma * ref_sum);
  };
  check(N);
  uint32_t k = 0;  // every float in [-1, 0)
  for (float v = -1.0f; v < 0.0f && k < N; v = std::nextafter(v, 0.0f)) x[k++] = v;
  check(k);
  CHECK(worst <= 2.0);
  if (worst > 2.0) std::printf("exp: worst error %.3f ulp\n", worst);
  x[0] = 0.0f, x[1] = -87.5f, x[2] = -1000.0f, x[3] = -std::numeric_limits<float>::infinity();
  a3::exp_shifted_sum(x.data(), e.data(), 4, 0.0f);
  CHECK(e[0] == 1.0f && e[1] == 0.0f && e[2] == 0.0f && e[3] == 0.0f);
}

extern "C" int sc_main(int, char**) {  // libsystemc (linked with a3core) provides main()
  a3test::section("exact exp");
  test_exact_exp();
  return a3test::finish("exact kernel");
}
