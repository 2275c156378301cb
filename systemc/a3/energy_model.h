// energy_model.h - energy of a job from the counts the model keeps (spec 3.7): an observer that
// reads a finished job's record (busy cycles per module, SRAM bytes per bank, DRAM bytes and
// activates, the job's cycles) and writes its energy by component. No SystemC, no state: the same
// counts always give the same energy. docs/energy-model.md states the formulas.
#pragma once

#include "soc/a3_config.h"
#include "soc/trace_recorder.h"

namespace a3 {

class EnergyModel {
 public:
  explicit EnergyModel(const Config& cfg) : cfg_(cfg) {}

  // Fills rec.e_* (pJ) from rec's counts:
  //   module:  (dyn_mW x busy cycles + static_mW x job cycles) x cycle_ns
  //   SRAM:    (dyn_mW x bytes / sram_full_use_bytes + static_mW x job cycles) x cycle_ns
  //   DRAM:    simple policy: DMA bytes x dram_pj_per_byte (activation included, no activates counted);
  //            banked policy: read bytes x dram_rd_pj_per_byte + written bytes x dram_wr_pj_per_byte
  //            + activates x dram_activate_pj (the activates the DRAM attributed to the job)
  //   bus:     DMA bytes x bus_pj_per_byte
  // Busy cycles: dot-product cyc_dot; exponent cyc_exp; output cyc_out; candidate selection
  // cyc_cand_sel + cyc_scan (the greedy-score registers are part of that module); post-scoring
  // cyc_post.
  void account(JobRecord& rec) const;

 private:
  const Config& cfg_;
};

}  // namespace a3
