/* test_distill.c - knowledge distillation on the tiny target: teacher data (parallel greedy
 * answers, reused from the cache on rerun), a short training run whose loss goes down and whose
 * drafter beats a random one of the same shape on tau over held-out prompts, --resume from a
 * mid-run checkpoint ending in byte-identical weights, texts scored by prefill pooled with the
 * answers (same held-out prompts; a position budget), and clear errors (empty prompts, a
 * malformed prompt file, a checkpoint of another target, an unwritable output, a draft vocab
 * larger than the target's). Scratch files go to the working directory and are removed. */
#include "redrafter.h"
#include "harness.h"
#include "prompts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F_TEACHER   "test_distill_teacher.rdt"
#define F_TEACHER_B "test_distill_teacher_b.rdt"
#define F_CKPT_A    "test_distill_a.ckpt"
#define F_CKPT_B    "test_distill_b.ckpt"
#define F_OUT_A     "test_distill_a.gguf"
#define F_OUT_B     "test_distill_b.gguf"
#define F_RANDOM    "test_distill_random.gguf"
#define F_BAD_JSONL "test_distill_bad.jsonl"
#define F_SCORE     "test_distill_score.rdt"

#define N_TRAIN 18
#define N_HOLD  6 /* 24 prompts: all of tests/fixtures/prompts.jsonl */
#define THREADS 1 /* same-weights-on-resume holds for one thread count */

typedef struct prompt_set {
    int32_t * tokens;
    int64_t   offsets[N_TRAIN + 1];
    int       n;
} prompt_set;

static void tokenize(rd_model * m, char ** texts, int n, prompt_set * ps) {
    ps->tokens = malloc(sizeof(int32_t) * 4096 * (size_t) n);
    ps->n = n;
    ps->offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        /* keep prompts short: the tiny model's context and the test's time */
        int32_t k = rd_model_tokenize(m, texts[i], (int32_t) strlen(texts[i]), true, false, ps->tokens + ps->offsets[i], 4096);
        if (k < 0) k = 0;
        if (k > 48) k = 48;
        if (k == 0) ps->tokens[ps->offsets[i] + k++] = 1;
        ps->offsets[i + 1] = ps->offsets[i] + k;
    }
}

static void teacher_params(rd_teacher_params * tp, int32_t n_parallel) {
    rd_teacher_default_params(tp);
    tp->n_parallel = n_parallel;
    tp->max_new_tokens = 40;
    tp->top_k = 8;
    tp->n_ctx_seq = 128;
    tp->n_threads = THREADS;
}

static bool collect(rd_model * m, const prompt_set * ps, const char * path, rd_teacher_progress * pr) {
    rd_teacher_params tp;
    teacher_params(&tp, 8);
    rd_teacher * t = NULL;
    if (!CHECK_OK(rd_teacher_init(m, &tp, ps->tokens, ps->offsets, ps->n, path, &t))) return false;
    int guard = 0;
    do {
        if (!CHECK_OK(rd_teacher_run(t, 200, pr))) break;
    } while (!pr->finished && ++guard < 100000);
    rd_teacher_free(t);
    return CHECK(pr->finished == 1, "teacher collection did not finish");
}

static void train_params(rd_train_params * p) {
    rd_train_default_params(p);
    p->n_draft_vocab = 256;
    p->batch_size = 32;
    p->epochs = 6;
    p->lr = 3e-3f;
    p->warmup_steps = 5;
    p->holdout = 0.25f; /* of 18 teacher sequences */
    p->weight_type = RD_WEIGHTS_F32;
    p->checkpoint_every = 0;
    p->n_threads = THREADS;
    p->seed = 7;
}

int main(void) {
    rd_model * m = rd_test_open_model();
    rd_model * mb = rd_test_open_model_b();
    char ** texts = NULL;
    const int n_texts = rd_test_read_prompts(N_TRAIN + N_HOLD, &texts);
    if (!m || !mb || !CHECK(n_texts == N_TRAIN + N_HOLD, "need %d prompts", N_TRAIN + N_HOLD)) return rd_test_done();

    prompt_set train, hold;
    tokenize(m, texts, N_TRAIN, &train);
    tokenize(m, texts + N_TRAIN, N_HOLD, &hold);

    /* teacher data, then the same call again: answered from the cache */
    rd_teacher_progress pr;
    if (!collect(m, &train, F_TEACHER, &pr)) return rd_test_done();
    CHECK_EQ_INT(pr.n_done, N_TRAIN);
    CHECK(pr.n_positions > N_TRAIN * 8, "only %lld positions recorded", (long long) pr.n_positions);
    const long long positions = pr.n_positions;
    collect(m, &train, F_TEACHER, &pr);
    CHECK_EQ_INT(pr.n_resumed, N_TRAIN);
    CHECK_EQ_INT(pr.n_positions, positions);
    CHECK_EQ_INT(pr.n_tokens_run, 0);

    /* an interrupted collection resumes: the answers on disk are kept, the rest collected */
    {
        const char * path = "test_distill_partial.rdt";
        remove(path);
        rd_teacher_params tp;
        teacher_params(&tp, 4);
        rd_teacher * t = NULL;
        rd_teacher_progress part;
        memset(&part, 0, sizeof part);
        if (CHECK_OK(rd_teacher_init(m, &tp, train.tokens, train.offsets, 12, path, &t)))
            while (part.n_done < 3 && CHECK_OK(rd_teacher_run(t, 1, &part))) {}
        rd_teacher_free(t);
        t = NULL;
        CHECK(!part.finished, "collection finished too early for the test");
        if (CHECK_OK(rd_teacher_init(m, &tp, train.tokens, train.offsets, 12, path, &t)))
            do { if (!CHECK_OK(rd_teacher_run(t, 1000, &pr))) break; } while (!pr.finished);
        rd_teacher_free(t);
        CHECK_EQ_INT(pr.n_resumed, part.n_done);
        CHECK_EQ_INT(pr.n_done, 12);
        remove(path);
    }

    int32_t ids[256];
    double coverage = 0;
    CHECK_OK(rd_teacher_draft_vocab(m, F_TEACHER, 256, ids, &coverage));
    CHECK(coverage > 0.5 && coverage <= 1.0, "coverage %.3f", coverage);
    CHECK_EQ_INT(rd_teacher_draft_vocab(m, F_TEACHER, rd_model_n_vocab(m) + 1, ids, NULL), RD_ERR_INVALID_ARG);

    /* a short uninterrupted run: the loss goes down */
    rd_train_params p;
    train_params(&p);
    remove(F_CKPT_A);
    rd_trainer * t = NULL;
    rd_train_progress first, last;
    if (!CHECK_OK(rd_trainer_init(m, F_TEACHER, &p, F_CKPT_A, false, &t))) return rd_test_done();
    CHECK_OK(rd_trainer_run(t, 1000000, 1, &first));
    do {
        if (!CHECK_OK(rd_trainer_run(t, 1000000, 0, &last))) break;
    } while (!last.finished);
    const long long total = last.total_steps;
    printf("train: %lld steps, first loss %.3f, last %.3f; held-out KL %.3f, top-1 %.3f %.3f %.3f %.3f\n",
           total, first.loss, last.loss, last.eval_kl, last.acc1[0], last.acc1[1], last.acc1[2], last.acc1[3]);
    CHECK(total >= 10, "only %lld steps", total);
    CHECK(last.loss < first.loss * 0.8, "loss %.3f -> %.3f did not go down", first.loss, last.loss);
    CHECK(last.n_evals == p.epochs, "%lld evaluations for %d epochs", (long long) last.n_evals, p.epochs);
    CHECK_OK(rd_trainer_save(t, F_OUT_A));
    CHECK_EQ_INT(rd_trainer_save(t, "no-such-dir/x/drafter.gguf"), RD_ERR_IO);
    CHECK(strstr(rd_last_error(), "no-such-dir") != NULL, "message: %s", rd_last_error());
    rd_trainer_free(t);

    /* interrupted at mid-run, resumed from the checkpoint: the same final weights */
    remove(F_CKPT_B);
    t = NULL;
    if (CHECK_OK(rd_trainer_init(m, F_TEACHER, &p, F_CKPT_B, true, &t))) {
        CHECK_OK(rd_trainer_run(t, 1000000, (int32_t) (total / 2), &last));
        CHECK_EQ_INT(last.step, total / 2);
        CHECK_OK(rd_trainer_checkpoint(t));
        rd_trainer_free(t);
        t = NULL;
    }
    if (CHECK_OK(rd_trainer_init(m, F_TEACHER, &p, F_CKPT_B, true, &t))) {
        CHECK_OK(rd_trainer_run(t, 1000000, 1, &last));
        CHECK_EQ_INT(last.step, total / 2 + 1);
        while (!last.finished) if (!CHECK_OK(rd_trainer_run(t, 1000000, 0, &last))) break;
        CHECK_OK(rd_trainer_save(t, F_OUT_B));
        rd_trainer_free(t);
    }
    long sa = 0, sb = 0;
    unsigned char * a = rd_test_read_file(F_OUT_A, &sa), * b = rd_test_read_file(F_OUT_B, &sb);
    CHECK(a && b && sa == sb && memcmp(a, b, (size_t) sa) == 0, "resumed drafter differs from the uninterrupted one");
    free(a);
    free(b);

    /* texts scored by prefill (every prompt position, one new token), pooled with the answers:
     * more training samples, the same held-out answers; a position budget takes fewer */
    {
        rd_teacher_params tp;
        teacher_params(&tp, 1);
        tp.max_new_tokens = 1;
        tp.prompt_tail = tp.n_ctx_seq;
        rd_teacher * ts = NULL;
        rd_teacher_progress sp;
        memset(&sp, 0, sizeof sp);
        remove(F_SCORE);
        if (CHECK_OK(rd_teacher_init(m, &tp, train.tokens, train.offsets, train.n, F_SCORE, &ts)))
            do { if (!CHECK_OK(rd_teacher_run(ts, 1000, &sp))) break; } while (!sp.finished);
        rd_teacher_free(ts);
        CHECK_EQ_INT(sp.n_positions, train.offsets[train.n]); /* every prompt token, nothing generated */

        rd_train_params q;
        train_params(&q);
        q.epochs = 1;
        rd_train_progress alone, pooled, budget;
        const char * both = F_TEACHER "\n" F_SCORE;
        rd_trainer * tq = NULL;
        if (CHECK_OK(rd_trainer_init(m, F_TEACHER, &q, NULL, false, &tq))) CHECK_OK(rd_trainer_run(tq, 1000000, 1, &alone));
        rd_trainer_free(tq);
        tq = NULL;
        if (CHECK_OK(rd_trainer_init(m, both, &q, NULL, false, &tq))) CHECK_OK(rd_trainer_run(tq, 1000000, 1, &pooled));
        rd_trainer_free(tq);
        tq = NULL;
        q.max_positions = positions / 2;
        if (CHECK_OK(rd_trainer_init(m, both, &q, NULL, false, &tq))) CHECK_OK(rd_trainer_run(tq, 1000000, 1, &budget));
        rd_trainer_free(tq);
        printf("pooled: %lld train samples alone, %lld pooled, %lld within %lld positions; %lld held out\n",
               (long long) alone.n_train_samples, (long long) pooled.n_train_samples, (long long) budget.n_train_samples,
               (long long) q.max_positions, (long long) pooled.n_eval_samples);
        CHECK(pooled.n_train_samples > alone.n_train_samples, "pooling added no sample");
        CHECK(alone.n_eval_samples > 0, "no held-out answer");
        CHECK_EQ_INT(pooled.n_eval_samples, alone.n_eval_samples);
        CHECK_EQ_INT(budget.n_eval_samples, alone.n_eval_samples);
        CHECK(budget.n_train_samples > 0 && budget.n_train_samples <= q.max_positions + 48 + 40,
              "%lld samples for a budget of %lld positions", (long long) budget.n_train_samples, (long long) q.max_positions);

        q.max_positions = 0;
        tq = NULL;
        CHECK_EQ_INT(rd_trainer_init(m, F_TEACHER "\n", &q, NULL, false, &tq), RD_ERR_INVALID_ARG);
        q.max_positions = -1;
        CHECK_EQ_INT(rd_trainer_init(m, F_TEACHER, &q, NULL, false, &tq), RD_ERR_INVALID_ARG);
        CHECK(tq == NULL, "no handle on failure");
    }

    /* tau on held-out prompts: trained > random of the same shape */
    rd_drafter_init_params ip;
    rd_drafter_init_default_params(&ip);
    ip.n_draft_vocab = p.n_draft_vocab;
    ip.vocab_ids = ids;
    ip.seed = p.seed;
    CHECK_OK(rd_drafter_write_random(m, &ip, F_RANDOM));
    rd_drafter * dr = NULL, * dt = NULL;
    double tau_random = 0, tau_trained = 0;
    if (CHECK_OK(rd_drafter_load(F_RANDOM, m, &dr)) && CHECK_OK(rd_drafter_load(F_OUT_A, m, &dt))) {
        CHECK_OK(rd_eval_tau(m, dr, hold.tokens, hold.offsets, hold.n, 4, 4, 40, THREADS, &tau_random, NULL));
        CHECK_OK(rd_eval_tau(m, dt, hold.tokens, hold.offsets, hold.n, 4, 4, 40, THREADS, &tau_trained, NULL));
        printf("tau on %d held-out prompts: random %.3f, trained %.3f\n", hold.n, tau_random, tau_trained);
        CHECK(tau_trained > tau_random, "trained tau %.3f is not above random %.3f", tau_trained, tau_random);
    }
    rd_drafter_free(dr);
    rd_drafter_free(dt);

    /* errors */
    {
        int64_t off[2] = {0, 0};
        rd_teacher * bad = NULL;
        CHECK_EQ_INT(rd_teacher_init(m, NULL, train.tokens, off, 1, "test_distill_empty.rdt", &bad), RD_ERR_INVALID_ARG);
        CHECK(strstr(rd_last_error(), "empty") != NULL, "message: %s", rd_last_error());
        CHECK_EQ_INT(rd_teacher_init(m, NULL, train.tokens, off, 0, "test_distill_empty.rdt", &bad), RD_ERR_INVALID_ARG);
        CHECK_EQ_INT(rd_teacher_init(m, NULL, train.tokens, train.offsets, 1, "no-such-dir/t.rdt", &bad), RD_ERR_IO);
        CHECK(bad == NULL, "no handle on failure");

        FILE * f = fopen(F_BAD_JSONL, "wb");
        if (f) { fputs("this is not json\n{\"id\": 1}\n", f); fclose(f); }
        char ** none = NULL;
        CHECK_EQ_INT(rd_read_prompts(F_BAD_JSONL, 0, &none), -1);
        f = fopen(F_BAD_JSONL, "wb");
        if (f) fclose(f);
        CHECK_EQ_INT(rd_read_prompts(F_BAD_JSONL, 0, &none), -1);

        rd_train_params q;
        train_params(&q);
        q.n_draft_vocab = rd_model_n_vocab(m) + 1;
        rd_trainer * tb = NULL;
        CHECK_EQ_INT(rd_trainer_init(m, F_TEACHER, &q, NULL, false, &tb), RD_ERR_INVALID_ARG);
        CHECK(strstr(rd_last_error(), "vocab") != NULL, "message: %s", rd_last_error());

        /* a checkpoint of target A offered to target B */
        prompt_set pb;
        tokenize(mb, texts, 8, &pb);
        rd_teacher_progress prb;
        if (collect(mb, &pb, F_TEACHER_B, &prb)) {
            train_params(&q);
            q.n_draft_vocab = 128;
            CHECK_EQ_INT(rd_trainer_init(mb, F_TEACHER_B, &q, F_CKPT_A, true, &tb), RD_ERR_MISMATCH);
            CHECK(strstr(rd_last_error(), "checkpoint") != NULL, "message: %s", rd_last_error());
            CHECK_EQ_INT(rd_trainer_init(mb, F_TEACHER, &q, NULL, false, &tb), RD_ERR_MISMATCH);
            /* pooling files of two targets */
            CHECK_EQ_INT(rd_trainer_init(m, F_TEACHER "\n" F_TEACHER_B, &q, NULL, false, &tb), RD_ERR_MISMATCH);
            CHECK(strstr(rd_last_error(), F_TEACHER_B) != NULL, "message: %s", rd_last_error());
        }
        free(pb.tokens);
    }

    const char * scratch[] = {F_TEACHER, F_TEACHER_B, F_CKPT_A, F_CKPT_B, F_OUT_A, F_OUT_B, F_RANDOM, F_BAD_JSONL,
                              F_SCORE, "test_distill_empty.rdt"};
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++) remove(scratch[i]);
    free(train.tokens);
    free(hold.tokens);
    rd_test_free_prompts(texts, n_texts);
    rd_model_free(m);
    rd_model_free(mb);
    return rd_test_done();
}
