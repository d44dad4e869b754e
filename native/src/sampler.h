// sampler.h - the request's llama.cpp sampler chain, applied one node at a time by the
// acceptance walk exactly as plain decoding would apply it token by token.
#pragma once

#include "internal.h"

#include <vector>

struct rd_sampler {
    llama_sampler * chain = nullptr; // null on the greedy fast path
    int32_t n_vocab = 0;
    int32_t n_probs = 0;
    std::vector<llama_token_data> cur; // V candidates, reused

    rd_sampler() = default;
    rd_sampler(const rd_sampler &) = delete;
    rd_sampler & operator=(const rd_sampler &) = delete;
    ~rd_sampler() { reset(); }
    void reset();
};

// Validate sp and build the chain into s (replacing what it held).
// RD_ERR_INVALID_ARG for out-of-range values, RD_ERR_GRAMMAR for a GBNF that does not parse.
rd_status rd_sampler_build(rd_sampler & s, const rd_model * m, const rd_sampler_params & sp);

// Draw the next token from logits (V floats) and advance the chain's state (penalties,
// grammar, RNG) with it.
int32_t rd_sampler_next(rd_sampler & s, const float * logits);

// Log-softmax of the raw logits: out[0] = logprob of token, then n_probs (id, logprob) pairs
// of the most likely tokens (ids stored as floats, exact below 2^24).
void rd_sampler_logprobs(const float * logits, int32_t n_vocab, int32_t token, int32_t n_probs, float * out);
