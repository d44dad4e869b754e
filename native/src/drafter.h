// drafter.h - the draft head as the session sees it: beam search from (h, g).
// Implemented in drafter_*.cpp; the GGUF layout is documented in drafter_io.cpp.
#pragma once

#include "internal.h"

#include <functional>

// Beam search of width B and length L from the target hidden state h (d floats) and the last
// sampled token g (Apple's ReDrafter: the first step grows one beam, later steps keep the top B
// of B x V' continuations by summed log-probability).
// Writes beams[b*L + k] = target token id of draft step k+1 of beam b (B*L ids), and
// beam_logp[b] = its summed draft log-probability (B floats), best beam first, and, when
// step_logp is not null, step_logp[b*L + k] = the sum over its first k+1 draft steps.
// B in 1..RD_MAX_BEAMS, L in 1..RD_MAX_BEAM_LENGTH; otherwise RD_ERR_INVALID_ARG.
// more, when set, is asked before each step k+1 >= 2 with the k steps done so far
// (step_logp-like sums, beam b's at [b*L ..]); false ends the search at k steps: the outputs
// then hold k tokens per beam (stride k instead of L) and *n_steps (if not null) says k.
// Allocation failures throw; the exported call above it catches them (internal.h).
// pool, when given, runs the LM head's rows on its threads where the head kernel takes it (a
// CPU drafter whose LM head is F16 or Q8_0: drafter_beam.cpp); the rest of a step is ggml's.
using rd_draft_gate = std::function<bool(int32_t k, const float * sums)>;
class rd_pool;
rd_status rd_drafter_beam_search(rd_drafter * d, const float * h, int32_t g, int32_t B, int32_t L,
                                 int32_t * beams, float * beam_logp, float * step_logp = nullptr,
                                 const rd_draft_gate & more = {}, int32_t * n_steps = nullptr,
                                 rd_pool * pool = nullptr);

// Whether d's searches run on the host path (drafter_host.h); known after its first search.
bool rd_drafter_on_host(rd_drafter * d);

// Threads the drafter's CPU backend uses (the session passes its own count).
void rd_drafter_set_threads(rd_drafter * d, int32_t n_threads);
