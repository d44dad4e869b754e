// test_sampler.cpp - the grammar is tried on the picked token before the whole vocabulary is
// masked (sampler.h). Against a reference that masks every token first, on random logits over
// the tiny model's vocabulary: greedy picks the same token at every step (allowed or not by the
// grammar, the argmax of the masked logits), and a sampled pick is always a token the grammar
// allows. The grammar state advances with each token in both, so later steps see later stacks.
#include "harness.h"
#include "sampler.h"

#include <cmath>
#include <random>
#include <vector>

// words of lower-case letters separated by single spaces: most tokens are refused, many allowed
static const char * GRAMMAR = "root ::= [a-z]+ (\" \" [a-z]+)*";

static int32_t reference_greedy(llama_sampler * g, const std::vector<float> & logits) {
    std::vector<llama_token_data> cur(logits.size());
    for (size_t i = 0; i < logits.size(); i++) cur[i] = {(int32_t) i, logits[i], 0.0f};
    llama_token_data_array arr = {cur.data(), cur.size(), -1, false};
    llama_sampler_apply(g, &arr);
    int32_t best = -1;
    for (size_t i = 0; i < cur.size(); i++)
        if (cur[i].logit > -INFINITY && (best < 0 || cur[i].logit > cur[(size_t) best].logit)) best = (int32_t) i;
    return best;
}

static bool allowed(llama_sampler * g, int32_t tok) {
    llama_token_data one = {tok, 0.0f, 0.0f};
    llama_token_data_array arr = {&one, 1, -1, false};
    llama_sampler_apply(g, &arr);
    return one.logit > -INFINITY;
}

int main() {
    rd_model * m = rd_test_open_model();
    if (!m) return rd_test_done();
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    std::vector<float> logits((size_t) m->n_vocab);

    for (const float temperature : {0.0f, 0.8f}) {
        rd_sampler_params sp;
        rd_sampler_default_params(&sp);
        sp.grammar = GRAMMAR;
        sp.temperature = temperature;
        sp.seed = 11;
        rd_sampler s;
        if (!CHECK_OK(rd_sampler_build(s, m, sp))) break;
        llama_sampler * ref = llama_sampler_init_grammar(m->vocab, GRAMMAR, "root");
        if (!CHECK(ref != nullptr, "the reference grammar parses")) break;
        int first_allowed = 0, first_refused = 0;
        for (int step = 0; step < 300; step++) {
            for (float & x : logits) x = normal(rng);
            const int32_t expect = reference_greedy(ref, logits);
            int32_t argmax = 0;
            for (int32_t i = 1; i < m->n_vocab; i++)
                if (logits[(size_t) i] > logits[(size_t) argmax]) argmax = i;
            (allowed(ref, argmax) ? first_allowed : first_refused)++;
            const int32_t got = rd_sampler_next(s, logits.data());
            if (temperature == 0.0f) {
                if (!CHECK_EQ_INT(got, expect)) break;
            } else if (!CHECK(got >= 0 && allowed(ref, got), "step %d: sampled token %d is allowed", step, got)) {
                break;
            }
            llama_sampler_accept(ref, got);
        }
        // both branches ran: the argmax was allowed at some steps and refused at others
        CHECK(first_allowed > 0 && first_refused > 0, "T=%g: argmax allowed %d times, refused %d times", temperature,
              first_allowed, first_refused);
        llama_sampler_free(ref);
    }
    rd_model_free(m);
    return rd_test_done();
}
