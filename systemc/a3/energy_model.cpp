#include "a3/energy_model.h"

namespace a3 {

void EnergyModel::account(JobRecord& rec) const {
  const double t = cfg_.cycle_ns();  // mW x ns = pJ
  const double job = static_cast<double>(rec.job_cycles);
  auto module = [&](double dyn_mw, double static_mw, uint64_t busy) {
    return (dyn_mw * static_cast<double>(busy) + static_mw * job) * t;
  };
  auto sram = [&](double dyn_mw, double static_mw, uint64_t bytes) {
    return (dyn_mw * static_cast<double>(bytes) / cfg_.sram_full_use_bytes + static_mw * job) * t;
  };
  rec.e_dot = module(cfg_.dot_dyn_mw, cfg_.dot_static_mw, rec.cyc_dot);
  rec.e_exp = module(cfg_.exp_dyn_mw, cfg_.exp_static_mw, rec.cyc_exp);
  rec.e_out = module(cfg_.out_dyn_mw, cfg_.out_static_mw, rec.cyc_out);
  rec.e_cand_sel = module(cfg_.cs_dyn_mw, cfg_.cs_static_mw, rec.cyc_cand_sel + rec.cyc_scan);
  rec.e_post = module(cfg_.post_dyn_mw, cfg_.post_static_mw, rec.cyc_post);
  rec.e_key_sram = sram(cfg_.key_sram_dyn_mw, cfg_.key_sram_static_mw, rec.sram_key);
  rec.e_value_sram = sram(cfg_.value_sram_dyn_mw, cfg_.value_sram_static_mw, rec.sram_value);
  rec.e_sorted_sram = sram(cfg_.sorted_sram_dyn_mw, cfg_.sorted_sram_static_mw, rec.sram_sorted);
  const double rd = static_cast<double>(rec.bytes_rd), wr = static_cast<double>(rec.bytes_wr);
  const double acts = static_cast<double>(rec.dram_activates) * cfg_.dram_activate_pj;
  if (cfg_.dram_timing != 0)  // banked: activates counted, per-byte burst energy without activation
    rec.e_dram = rd * cfg_.dram_rd_pj_per_byte + wr * cfg_.dram_wr_pj_per_byte + acts;
  else  // simple: no rows; the all-inclusive per-byte figure
    rec.e_dram = (rd + wr) * cfg_.dram_pj_per_byte + acts;
  rec.e_bus = (rd + wr) * cfg_.bus_pj_per_byte;
}

}  // namespace a3
