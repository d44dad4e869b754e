// sampler.h - the request's llama.cpp sampler chain, applied one node at a time by the
// acceptance walk exactly as plain decoding would apply it token by token.
#pragma once

#include "internal.h"

#include <vector>

// The chain is kept in three parts so a step can tell "no token is allowed" from a draw: the
// constraints (logit bias, penalties) shift the logits, the grammar masks them, the pick (greedy,
// or top-k/top-p/min-p/temperature/dist) draws from what is left.
//
// The grammar is tried on the picked token first, as llama.cpp's common sampler does (llama-server's
// default): llama.cpp checks a candidate against the grammar by decoding its text and walking the
// grammar stacks, so masking a 262k vocabulary costs 100+ ms per token while one check costs
// microseconds. Only when the pick is not allowed is the whole vocabulary masked and the pick drawn
// again. Greedy: the result is the argmax of the masked logits either way (exact). Sampled: a
// token the grammar allows keeps its probability under the pick, the rest is redrawn from the
// masked distribution (with no truncation this is the masked distribution exactly). Plain and
// speculative decoding share this function, so they still draw the same tokens.
struct rd_sampler {
    llama_sampler * constrain = nullptr; // logit bias / penalties; null when the request has none
    llama_sampler * grammar = nullptr;   // null without a grammar
    llama_sampler * pick = nullptr;      // null on the greedy fast path (no constraint either)
    int32_t n_vocab = 0;
    int32_t n_probs = 0;
    std::vector<llama_token_data> cur;  // V candidates, reused
    std::vector<llama_token_data> base; // the constrained candidates, kept for a grammar redraw

    rd_sampler() = default;
    rd_sampler(const rd_sampler &) = delete;
    rd_sampler & operator=(const rd_sampler &) = delete;
    ~rd_sampler() { reset(); }
    void reset();
};

// Validate sp and build the chain into s (replacing what it held). A logit bias <= -100 bans
// the token (OpenAI's documented meaning), like -INFINITY.
// RD_ERR_INVALID_ARG for out-of-range values, RD_ERR_GRAMMAR for a GBNF that does not parse or
// exceeds RD_MAX_GRAMMAR_BYTES / RD_MAX_GRAMMAR_DEPTH.
rd_status rd_sampler_build(rd_sampler & s, const rd_model * m, const rd_sampler_params & sp);

// Draw the next token from logits (V floats) and advance the chain's state (penalties,
// grammar, RNG) with it. RD_NO_TOKEN, with the state unchanged, when the constraints leave no
// candidate with a finite logit (a grammar that is complete while end-of-generation is banned,
// or every token banned): llama.cpp's grammar would throw on accepting any token then.
constexpr int32_t RD_NO_TOKEN = -1;
int32_t rd_sampler_next(rd_sampler & s, const float * logits);

// Log-softmax of the raw logits: out[0] = logprob of token, then n_probs (id, logprob) pairs
// of the most likely tokens (ids stored as floats, exact below 2^24).
void rd_sampler_logprobs(const float * logits, int32_t n_vocab, int32_t token, int32_t n_probs, float * out);
