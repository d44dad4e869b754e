// sampler.cpp - builds the llama.cpp sampler chain for a request and draws tokens from it.
#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>

void rd_sampler::reset() {
    if (constrain) llama_sampler_free(constrain);
    if (grammar) llama_sampler_free(grammar);
    if (pick) llama_sampler_free(pick);
    constrain = grammar = pick = nullptr;
}

void rd_sampler_default_params(rd_sampler_params * p) {
    if (!p) return;
    *p = rd_sampler_params{};
    p->temperature = 0.0f;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->min_p = 0.0f;
    p->seed = 0xFFFFFFFFu;
    p->repeat_penalty = 1.0f;
    p->penalty_last_n = 64;
    p->presence_penalty = 0.0f;
    p->frequency_penalty = 0.0f;
    p->logit_bias_tokens = nullptr;
    p->logit_bias_values = nullptr;
    p->n_logit_bias = 0;
    p->grammar = nullptr;
    p->grammar_root = nullptr;
    p->ignore_eos = false;
    p->n_probs = 0;
}

static bool finite(float x) { return std::isfinite(x); }

// llama.cpp parses a GBNF group by recursion, one stack frame per "(", and checks rules for left
// recursion by following rule references recursively, with no limit of its own: some thousands
// of nested groups, or a chain of some ten thousand rules each naming the next, overflow a
// worker thread's stack. Count nesting and rules first, skipping where "(" or "::=" is text:
// string literals, character classes, token references, comments.
static rd_status grammar_check(const char * g) {
    const size_t len = strlen(g);
    if (len > RD_MAX_GRAMMAR_BYTES)
        return rd_fail(RD_ERR_GRAMMAR, "the grammar has %zu bytes, more than the limit of %d (RD_MAX_GRAMMAR_BYTES)", len,
                       RD_MAX_GRAMMAR_BYTES);
    int32_t depth = 0, rules = 0;
    for (const char * p = g; *p; p++) {
        if (*p == '#') {
            while (p[1] && p[1] != '\n' && p[1] != '\r') p++;
        } else if (*p == '"' || *p == '[' || *p == '<') {
            const char close = *p == '"' ? '"' : *p == '[' ? ']' : '>';
            while (p[1] && p[1] != close) p += p[1] == '\\' && p[2] ? 2 : 1;
            if (!p[1]) break; // unterminated: llama.cpp's parser says so
            p++;
        } else if (*p == '(' && ++depth > RD_MAX_GRAMMAR_DEPTH) {
            return rd_fail(RD_ERR_GRAMMAR, "the grammar nests groups deeper than the limit of %d (RD_MAX_GRAMMAR_DEPTH)",
                           RD_MAX_GRAMMAR_DEPTH);
        } else if (*p == ')') {
            depth--;
        } else if (p[0] == ':' && p[1] == ':' && p[2] == '=' && ++rules > RD_MAX_GRAMMAR_RULES) {
            return rd_fail(RD_ERR_GRAMMAR, "the grammar defines more than the limit of %d rules (RD_MAX_GRAMMAR_RULES)",
                           RD_MAX_GRAMMAR_RULES);
        }
    }
    return RD_OK;
}

rd_status rd_sampler_build(rd_sampler & s, const rd_model * m, const rd_sampler_params & sp) {
    if (!finite(sp.temperature) || sp.temperature > 100.0f)
        return rd_fail(RD_ERR_INVALID_ARG, "temperature must be a finite number <= 100 (got %g)", sp.temperature);
    if (sp.top_k < 0) return rd_fail(RD_ERR_INVALID_ARG, "top_k must be >= 0 (got %d)", sp.top_k);
    if (!(sp.top_p > 0.0f && sp.top_p <= 1.0f))
        return rd_fail(RD_ERR_INVALID_ARG, "top_p must be in (0, 1] (got %g)", sp.top_p);
    if (!(sp.min_p >= 0.0f && sp.min_p <= 1.0f))
        return rd_fail(RD_ERR_INVALID_ARG, "min_p must be in [0, 1] (got %g)", sp.min_p);
    if (!(sp.repeat_penalty > 0.0f && finite(sp.repeat_penalty)))
        return rd_fail(RD_ERR_INVALID_ARG, "repeat_penalty must be > 0 (got %g)", sp.repeat_penalty);
    if (!finite(sp.presence_penalty) || !finite(sp.frequency_penalty))
        return rd_fail(RD_ERR_INVALID_ARG, "presence/frequency penalties must be finite");
    if (sp.penalty_last_n < -1) return rd_fail(RD_ERR_INVALID_ARG, "penalty_last_n must be >= -1");
    if (sp.n_probs < 0 || sp.n_probs > RD_MAX_PROBS)
        return rd_fail(RD_ERR_INVALID_ARG, "n_probs must be in 0..%d (got %d)", RD_MAX_PROBS, sp.n_probs);
    if (sp.n_logit_bias < 0 || (sp.n_logit_bias > 0 && (!sp.logit_bias_tokens || !sp.logit_bias_values)))
        return rd_fail(RD_ERR_INVALID_ARG, "logit bias arrays are missing");

    std::vector<llama_logit_bias> bias;
    for (int32_t i = 0; i < sp.n_logit_bias; i++) {
        int32_t t = sp.logit_bias_tokens[i];
        float v = sp.logit_bias_values[i];
        if (t < 0 || t >= m->n_vocab)
            return rd_fail(RD_ERR_INVALID_ARG, "logit_bias token %d is outside the vocabulary (0..%d)", t, m->n_vocab - 1);
        if (std::isnan(v) || v == INFINITY) return rd_fail(RD_ERR_INVALID_ARG, "logit_bias for token %d is not a number", t);
        bias.push_back({t, v <= -100.0f ? -INFINITY : v}); // OpenAI: -100 bans the token
    }
    if (sp.ignore_eos)
        for (int32_t t : m->eog_tokens) bias.push_back({t, -INFINITY});
    const bool grammar = sp.grammar && *sp.grammar;
    if (rd_status st = grammar ? grammar_check(sp.grammar) : RD_OK; st != RD_OK) return st;

    s.reset();
    s.n_vocab = m->n_vocab;
    s.n_probs = sp.n_probs;
    const bool greedy = sp.temperature <= 0.0f;
    const bool penalties = sp.repeat_penalty != 1.0f || sp.presence_penalty != 0.0f || sp.frequency_penalty != 0.0f;
    if (greedy && bias.empty() && !penalties && !grammar) return RD_OK; // argmax fast path

    s.cur.resize((size_t) m->n_vocab);
    if (!bias.empty() || penalties) {
        llama_sampler * c = s.constrain = llama_sampler_chain_init(llama_sampler_chain_default_params());
        if (!bias.empty()) llama_sampler_chain_add(c, llama_sampler_init_logit_bias(m->n_vocab, (int32_t) bias.size(), bias.data()));
        if (penalties)
            llama_sampler_chain_add(c, llama_sampler_init_penalties(m->n_vocab, sp.penalty_last_n, sp.repeat_penalty,
                                                                    sp.frequency_penalty, sp.presence_penalty));
    }
    if (grammar) {
        const char * root = sp.grammar_root ? sp.grammar_root : "root";
        s.grammar = llama_sampler_init_grammar(m->vocab, sp.grammar, root);
        if (!s.grammar) {
            s.reset();
            return rd_fail(RD_ERR_GRAMMAR, "the GBNF grammar does not parse (or has no rule '%s')", root);
        }
        s.base.resize((size_t) m->n_vocab);
    }
    llama_sampler * pick = s.pick = llama_sampler_chain_init(llama_sampler_chain_default_params());
    if (greedy) {
        llama_sampler_chain_add(pick, llama_sampler_init_greedy());
    } else {
        if (sp.top_k > 0) llama_sampler_chain_add(pick, llama_sampler_init_top_k(sp.top_k));
        if (sp.top_p < 1.0f) llama_sampler_chain_add(pick, llama_sampler_init_top_p(sp.top_p, 1));
        if (sp.min_p > 0.0f) llama_sampler_chain_add(pick, llama_sampler_init_min_p(sp.min_p, 1));
        llama_sampler_chain_add(pick, llama_sampler_init_temp(sp.temperature));
        llama_sampler_chain_add(pick, llama_sampler_init_dist(sp.seed));
    }
    return RD_OK;
}

static bool any_finite(const llama_token_data_array & arr) {
    for (size_t i = 0; i < arr.size; i++)
        if (arr.data[i].logit > -INFINITY) return true;
    return false;
}

// One candidate through the grammar: llama.cpp's grammar sampler sets the logit of a token it
// does not allow to -INFINITY, whatever the array's size.
static bool grammar_allows(llama_sampler * grammar, int32_t tok, float logit) {
    llama_token_data one = {tok, logit, 0.0f};
    llama_token_data_array arr = {&one, 1, -1, false};
    llama_sampler_apply(grammar, &arr);
    return one.logit > -INFINITY;
}

int32_t rd_sampler_next(rd_sampler & s, const float * logits) {
    if (!s.pick) {
        // greedy: first maximum, like llama.cpp's greedy sampler
        int32_t best = 0;
        for (int32_t i = 1; i < s.n_vocab; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    for (int32_t i = 0; i < s.n_vocab; i++) s.cur[i] = {i, logits[i], 0.0f};
    llama_token_data_array arr = {s.cur.data(), s.cur.size(), -1, false};
    if (s.constrain) llama_sampler_apply(s.constrain, &arr);
    if (!any_finite(arr)) return RD_NO_TOKEN;
    if (s.grammar) std::copy(s.cur.begin(), s.cur.end(), s.base.begin());
    llama_sampler_apply(s.pick, &arr);
    int32_t tok = arr.data[arr.selected].id;
    if (s.grammar && !grammar_allows(s.grammar, tok, arr.data[arr.selected].logit)) {
        // the pick is not allowed: mask the whole vocabulary and draw again
        std::copy(s.base.begin(), s.base.end(), s.cur.begin());
        arr = {s.cur.data(), s.cur.size(), -1, false};
        llama_sampler_apply(s.grammar, &arr);
        if (!any_finite(arr)) return RD_NO_TOKEN;
        llama_sampler_apply(s.pick, &arr);
        tok = arr.data[arr.selected].id;
    }
    if (s.constrain) llama_sampler_accept(s.constrain, tok);
    if (s.grammar) llama_sampler_accept(s.grammar, tok);
    llama_sampler_accept(s.pick, tok);
    return tok;
}

void rd_sampler_logprobs(const float * logits, int32_t n_vocab, int32_t token, int32_t n_probs, float * out) {
    float mx = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) mx = std::max(mx, logits[i]);
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += std::exp((double) (logits[i] - mx));
    const float lse = mx + (float) std::log(sum);
    out[0] = logits[token] - lse;
    if (n_probs <= 0) return;
    // top n_probs by a small insertion list: n_probs <= RD_MAX_PROBS
    int32_t ids[RD_MAX_PROBS];
    int32_t n = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (n == n_probs && logits[i] <= logits[ids[n - 1]]) continue;
        int32_t j = n < n_probs ? n++ : n - 1;
        while (j > 0 && logits[ids[j - 1]] < logits[i]) { ids[j] = ids[j - 1]; j--; }
        ids[j] = i;
    }
    for (int32_t k = 0; k < n; k++) {
        out[1 + 2 * k] = (float) ids[k];
        out[2 + 2 * k] = logits[ids[k]] - lse;
    }
    for (int32_t k = n; k < n_probs; k++) { out[1 + 2 * k] = -1.0f; out[2 + 2 * k] = -INFINITY; }
}
