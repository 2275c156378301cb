// txn_tag.h - a TLM extension that tags a transaction with the job and stream it belongs to,
// so that the bus recorder can attribute traffic. Ignorable: targets never look at it.
#pragma once

#include <tlm>

#include "a3/a3_protocol.h"
#include "soc/trace_recorder.h"

namespace a3 {

struct TxnTag : tlm::tlm_extension<TxnTag> {
  uint32_t job = NO_JOB;
  Stream stream = Stream::NONE;
  uint8_t initiator = 255;  // set by the system bus on the way through (for the DRAM recorder)
  tlm::tlm_extension_base* clone() const override { return new TxnTag(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override { *this = static_cast<const TxnTag&>(other); }
};

}  // namespace a3
