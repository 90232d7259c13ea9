// The step protocol of tensor parallelism. Rank 0 (the process whose JS drives
// generation) broadcasts a header at the start of every call that changes the
// model's state (forward, rollback, drop, clear) and Stop when its model goes
// away; ranks > 0 run follow(), which receives each header and makes the same
// call on their own shard of the model, until Stop. No per-op JS calls: a
// forward step's collectives (all_reduce / all_gather ops) run inside
// Model::forward on every rank in the same order.
#pragma once
#include <cstdint>
#include <vector>

#include "model.h"

namespace lowbit {

enum class StepKind : int32_t { Forward = 1, Rollback = 2, Drop = 3, Clear = 4, Stop = 5 };

struct StepHeader {
  int32_t kind = 0;
  int32_t n = 0;    // forward: tokens (then n tokens and n positions follow); rollback: cells
  int32_t all = 0;  // forward: logits of every row
  int32_t start = 0, count = 0, shift = 0;  // drop
};

// Rank 0: broadcast the step, then run it here.
std::vector<float> lead_forward(Model& m, const int32_t* tokens, const int32_t* positions, int n, LogitsMode mode,
                                const int32_t* targets, int* rows);
void lead_rollback(Model& m, int n);
void lead_drop(Model& m, int start, int count, int shift);
void lead_clear(Model& m);
void lead_stop();

// Ranks > 0: execute rank 0's steps until Stop; returns the number of steps. A
// step that fails (the same validation fails on rank 0) is skipped.
int64_t follow(Model& m);

}  // namespace lowbit
