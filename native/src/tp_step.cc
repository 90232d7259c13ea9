#include "tp_step.h"

#include <stdexcept>

#include "comm.h"

namespace lowbit {

namespace {
// The header goes out as the followers wait for it: a nonblocking broadcast (MPI matches
// a nonblocking collective only with nonblocking ones).
void send(const StepHeader& h) {
  StepHeader copy = h;
  comm::bcast_idle(&copy, sizeof copy);
}
}  // namespace

std::vector<float> lead_forward(Model& m, const int32_t* tokens, const int32_t* positions, int n, LogitsMode mode,
                                const int32_t* targets, int* rows) {
  // what only rank 0 has (the targets) is checked before the header goes out; everything
  // else a step checks is the same on every rank (mirrored caches) and fails everywhere
  const int n_out = mode == LogitsMode::All ? n : 1;
  if (targets)
    for (int r = 0; r < n_out; r++)
      if (targets[r] < 0 || targets[r] >= m.vocab()) throw std::invalid_argument("target id out of range");
  StepHeader h;
  h.kind = (int32_t)StepKind::Forward;
  h.n = n;
  h.all = mode == LogitsMode::All;
  send(h);
  std::vector<int32_t> payload(tokens, tokens + n);
  payload.insert(payload.end(), positions, positions + n);
  comm::bcast(payload.data(), payload.size() * sizeof(int32_t));
  return m.forward(tokens, positions, n, mode, targets, rows);
}

void lead_rollback(Model& m, int n) {
  StepHeader h;
  h.kind = (int32_t)StepKind::Rollback;
  h.n = n;
  send(h);
  m.cache().rollback(n);
}

void lead_drop(Model& m, int start, int count, int shift) {
  StepHeader h;
  h.kind = (int32_t)StepKind::Drop;
  h.start = start;
  h.count = count;
  h.shift = shift;
  send(h);
  m.cache().drop(start, count, shift);
}

void lead_clear(Model& m) {
  StepHeader h;
  h.kind = (int32_t)StepKind::Clear;
  send(h);
  m.cache().clear();
}

void lead_stop() {
  StepHeader h;
  h.kind = (int32_t)StepKind::Stop;
  send(h);
}

int64_t follow(Model& m) {
  if (comm::rank() == 0) throw std::runtime_error("follow() runs on ranks > 0 (rank 0 drives the model)");
  std::vector<int32_t> payload;
  for (int64_t steps = 0;; steps++) {
    StepHeader h;
    comm::bcast_idle(&h, sizeof h);
    switch ((StepKind)h.kind) {
      case StepKind::Stop: return steps;
      case StepKind::Forward: {
        if (h.n < 1 || h.n > (1 << 24)) throw std::runtime_error("follow: bad forward header");
        payload.resize((size_t)2 * h.n);
        comm::bcast(payload.data(), payload.size() * sizeof(int32_t));
        int rows = 0;
        try {  // the logits are rank 0's; a failed step failed there too, before any collective
          m.forward(payload.data(), payload.data() + h.n, h.n, h.all ? LogitsMode::All : LogitsMode::Last, nullptr,
                    &rows);
        } catch (const std::invalid_argument&) {
        } catch (const std::range_error&) {  // the cache is full
        }
        break;
      }
      case StepKind::Rollback:
        try {
          m.cache().rollback(h.n);
        } catch (const std::exception&) {
        }
        break;
      case StepKind::Drop:
        try {
          m.cache().drop(h.start, h.count, h.shift);
        } catch (const std::exception&) {
        }
        break;
      case StepKind::Clear: m.cache().clear(); break;
      default: throw std::runtime_error("follow: unknown step kind " + std::to_string(h.kind));
    }
  }
}

}  // namespace lowbit
