// teacher.cpp - teacher data for distillation: the target answers a prompt pool greedily, many
// sequences in parallel in one llama context (one token per live sequence per llama_decode),
// and every position of prompt tail + answer is recorded: the token, the last-layer hidden
// state after it, and the top-K of the next-token distribution. Also: the draft vocabulary
// (most frequent answer tokens) and a chat-template helper for C tools. Over 300 lines because
// the file's writer (the collection) and reader sit beside its layout, so they change together.
//
// File format (little-endian; the file is valid after every finished sequence, so an
// interrupted run resumes; docs/distill.md repeats this):
//   header, 64 bytes:
//     0  char[8] magic "RDTEACH1"        8  u32 version (1)
//     12 u32 n_embd d                    16 u32 n_vocab V
//     20 u32 top_k K                     24 u64 target fingerprint (rd_model_fingerprint)
//     32 u64 key: FNV-1a of fingerprint, settings and every prompt token (the cache key)
//     40 u32 complete (1 when every prompt is on disk)
//     44 u32 n_records                   48 u64 n_positions (sum of n over records)
//     56 u32 max_new_tokens              60 u32 prompt_tail
//   then n_records records, in the order sequences finished:
//     u32 magic "RSEQ", u32 prompt index, u32 n positions, u32 n_tail (prompt positions first)
//     i32 tokens[n]                       token at each position
//     f16 hidden[n*d] (+2 zero bytes when n*d is odd, keeping 4-byte alignment)
//     i32 ids[n*K]                        top-K next-token ids, most probable first
//     f32 probs[n*K]                      their softmax probabilities over the full vocab
// Position i's distribution is over the token at i+1; a sequence ends with the last token fed
// (the answer's final token - EOG or the max_new_tokens-th - is ids[(n-1)*K], never fed).
#include "teacher.h"
#include "body_kernel.h"
#include "hash.h"
#include "thread_pool.h"
#include "ggml.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

static const char     MAGIC[8]   = {'R', 'D', 'T', 'E', 'A', 'C', 'H', '1'};
static const uint32_t VERSION    = 1;
static const uint32_t REC_MAGIC  = 0x51455352u; // "RSEQ"
static const size_t   HEADER_SIZE = 64;
static const int32_t  MAX_TOP_K  = 32;

struct file_header {
    char     magic[8];
    uint32_t version, n_embd, n_vocab, top_k;
    uint64_t fingerprint, key;
    uint32_t complete, n_records;
    uint64_t n_positions;
    uint32_t max_new_tokens, prompt_tail;
};
static_assert(sizeof(file_header) == HEADER_SIZE, "teacher header must be 64 bytes");

static size_t hidden_bytes(int64_t n, int64_t d) { return (size_t) (n * d) * 2 + ((n * d) % 2 ? 2 : 0); }
static size_t record_bytes(int64_t n, int64_t d, int64_t K) {
    return 16 + 4 * (size_t) n + hidden_bytes(n, d) + 8 * (size_t) (n * K);
}

// ---------------------------------------------------------------------------------------------
// Reading

teacher_file::~teacher_file() {
    for (auto & [map, size] : maps) munmap(map, size);
}

rd_status teacher_file_open(const char * path, bool allow_partial, teacher_file * out, size_t * valid_end) {
    const int fd = open(path, O_RDONLY);
    if (fd < 0) return rd_fail(RD_ERR_IO, "cannot open teacher file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); return rd_fail(RD_ERR_IO, "cannot stat '%s'", path); }
    const size_t size = (size_t) st.st_size;
    if (size < HEADER_SIZE) { close(fd); return rd_fail(RD_ERR_FORMAT, "'%s' is not a teacher file (too short)", path); }
    void * map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return rd_fail(RD_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
    for (auto & [old, old_size] : out->maps) munmap(old, old_size);
    out->maps.assign(1, {map, size});

    file_header h;
    memcpy(&h, map, sizeof h);
    if (memcmp(h.magic, MAGIC, 8) != 0 || h.version != VERSION)
        return rd_fail(RD_ERR_FORMAT, "'%s' is not a teacher file of version %u", path, VERSION);
    if (h.n_embd < 1 || h.n_vocab < 1 || h.top_k < 1 || h.top_k > (uint32_t) MAX_TOP_K)
        return rd_fail(RD_ERR_FORMAT, "teacher file '%s' has a bad header", path);
    out->n_embd = (int32_t) h.n_embd;
    out->n_vocab = (int32_t) h.n_vocab;
    out->top_k = (int32_t) h.top_k;
    out->fingerprint = h.fingerprint;
    out->key = h.key;
    out->complete = h.complete == 1;
    if (!out->complete && !allow_partial)
        return rd_fail(RD_ERR_FORMAT, "teacher file '%s' is incomplete (an interrupted collection; rerun it to finish)", path);

    const uint8_t * base = static_cast<const uint8_t *>(map);
    const int64_t d = h.n_embd, K = h.top_k;
    size_t off = HEADER_SIZE;
    out->seqs.clear();
    out->n_positions = 0;
    while (off + 16 <= size) {
        uint32_t rh[4];
        memcpy(rh, base + off, sizeof rh);
        if (rh[0] != REC_MAGIC || rh[2] < 1 || rh[3] > rh[2]) break;
        const int64_t n = rh[2];
        const size_t bytes = record_bytes(n, d, K);
        if (bytes > size - off) break;
        teacher_seq s;
        s.prompt = (int32_t) rh[1];
        s.n = (int32_t) n;
        s.n_tail = (int32_t) rh[3];
        const uint8_t * p = base + off + 16;
        s.tokens = reinterpret_cast<const int32_t *>(p);  p += 4 * n;
        s.hidden = reinterpret_cast<const uint16_t *>(p); p += hidden_bytes(n, d);
        s.ids = reinterpret_cast<const int32_t *>(p);     p += 4 * n * K;
        s.probs = reinterpret_cast<const float *>(p);
        bool ok = true;
        for (int64_t i = 0; i < n && ok; i++) ok = s.tokens[i] >= 0 && s.tokens[i] < (int32_t) h.n_vocab;
        for (int64_t i = 0; i < n * K && ok; i++) ok = s.ids[i] >= 0 && s.ids[i] < (int32_t) h.n_vocab;
        if (!ok) break;
        out->seqs.push_back(s);
        out->n_positions += n;
        off += bytes;
    }
    if (valid_end) *valid_end = off;
    if (out->complete && (out->seqs.size() != h.n_records || off != size))
        return rd_fail(RD_ERR_FORMAT, "teacher file '%s' is corrupt: %zu valid records of %u", path, out->seqs.size(), h.n_records);
    return RD_OK;
}

rd_status teacher_file_add(const char * path, bool allow_partial, teacher_file * out) {
    teacher_file more;
    if (rd_status st = teacher_file_open(path, allow_partial, &more); st != RD_OK) return st;
    if (more.fingerprint != out->fingerprint || more.n_embd != out->n_embd || more.n_vocab != out->n_vocab || more.top_k != out->top_k)
        return rd_fail(RD_ERR_MISMATCH, "teacher file '%s' differs from the first one (another target or top-K)", path);
    out->seqs.insert(out->seqs.end(), more.seqs.begin(), more.seqs.end());
    out->n_positions += more.n_positions;
    out->complete = out->complete && more.complete;
    const uint64_t keys[2] = {out->key, more.key};
    out->key = rd_fnv1a(RD_FNV_START, keys, sizeof keys);
    out->maps.insert(out->maps.end(), more.maps.begin(), more.maps.end());
    more.maps.clear(); // now owned by out
    return RD_OK;
}

// ---------------------------------------------------------------------------------------------
// Collection

void rd_teacher_default_params(rd_teacher_params * p) {
    if (!p) return;
    p->n_parallel = 8;
    p->max_new_tokens = 128;
    p->top_k = 16;
    p->prompt_tail = 8;
    p->n_ctx_seq = 1024;
    p->n_threads = 0;
}

namespace {

struct slot {
    int32_t prompt = -1;  // -1: free
    int32_t pos = 0;      // tokens of this sequence in the KV cache
    int32_t n_new = 0;    // answer tokens sampled
    int32_t next = -1;    // sampled, not yet fed
    int32_t n_tail = 0;
    std::vector<int32_t>  tokens, ids;
    std::vector<uint16_t> hidden;
    std::vector<float>    probs;
};


// Top-K of softmax(x) over n logits: ids by descending probability (ties: the lower id).
void top_k_probs(const float * x, int32_t n, int32_t K, int32_t * ids, float * probs) {
    float mx = x[0];
    for (int32_t j = 1; j < n; j++) mx = std::max(mx, x[j]);
    double sum = 0.0;
    for (int32_t j = 0; j < n; j++) sum += std::exp(x[j] - mx);
    float val[MAX_TOP_K];
    int32_t cnt = 0;
    for (int32_t j = 0; j < n; j++) {
        const float v = x[j];
        if (cnt == K && !(v > val[K - 1])) continue; // strict: an equal later id loses the tie
        int32_t i = cnt < K ? cnt++ : K - 1;
        for (; i > 0 && v > val[i - 1]; i--) { val[i] = val[i - 1]; ids[i] = ids[i - 1]; }
        val[i] = v;
        ids[i] = j;
    }
    for (int32_t i = 0; i < K; i++) probs[i] = (float) (std::exp((double) val[i] - mx) / sum);
}

} // namespace

struct rd_teacher {
    rd_model *        m = nullptr;
    rd_teacher_params p{};
    std::string       path;
    FILE *            f = nullptr;
    llama_context *   ctx = nullptr;
    llama_batch       batch{};
    int32_t           n_batch = 512;
    // A Q4_1 model's products on the body kernel, as in sessions: ggml on one thread, the
    // products on pool's (null with one thread). Its attention kernel is not used: it serves
    // one unified cache, and the teacher keeps one stream per sequence.
    bool              body = false;
    std::unique_ptr<rd_pool> pool;
    rd_ggml_one_thread ggml_pool; // ggml's threadpool when body (internal.h)
    file_header       hdr{};

    std::vector<std::vector<int32_t>> prompts;
    std::vector<uint8_t> state;       // per prompt: 0 pending, 1 done, 2 skipped
    size_t            next_prompt = 0;
    std::vector<slot> slots;

    int64_t n_done = 0, n_skipped = 0, n_resumed = 0, n_tokens_run = 0, n_generated_run = 0, n_done_run = 0;
    double  t_start = 0, t_busy = 0;
    bool    finished = false;

    ~rd_teacher() {
        if (batch.token) llama_batch_free(batch);
        if (ctx) llama_free(ctx);
        if (f) fclose(f);
    }
};

static rd_status write_header(rd_teacher * t) {
    if (fseeko(t->f, 0, SEEK_SET) != 0 || fwrite(&t->hdr, sizeof t->hdr, 1, t->f) != 1 ||
        fseeko(t->f, 0, SEEK_END) != 0 || fflush(t->f) != 0)
        return rd_fail(RD_ERR_IO, "cannot write teacher file '%s': %s", t->path.c_str(), strerror(errno));
    return RD_OK;
}

static rd_status write_record(rd_teacher * t, slot & s) {
    const uint32_t n = (uint32_t) s.tokens.size();
    const uint32_t rh[4] = {REC_MAGIC, (uint32_t) s.prompt, n, (uint32_t) s.n_tail};
    const int64_t d = t->m->n_embd;
    bool ok = fwrite(rh, sizeof rh, 1, t->f) == 1 &&
              fwrite(s.tokens.data(), 4, n, t->f) == n &&
              fwrite(s.hidden.data(), 2, s.hidden.size(), t->f) == s.hidden.size();
    if (ok && (n * d) % 2) { const uint16_t pad = 0; ok = fwrite(&pad, 2, 1, t->f) == 1; }
    ok = ok && fwrite(s.ids.data(), 4, s.ids.size(), t->f) == s.ids.size() &&
         fwrite(s.probs.data(), 4, s.probs.size(), t->f) == s.probs.size();
    if (!ok) return rd_fail(RD_ERR_IO, "cannot write teacher file '%s': %s", t->path.c_str(), strerror(errno));
    t->hdr.n_records++;
    t->hdr.n_positions += n;
    return write_header(t);
}

// The cache key: everything that changes the recorded data (not P or threads). Offsets are
// validated by the caller.
static uint64_t cache_key(const rd_model * m, const rd_teacher_params * p, const int32_t * tokens,
                          const int64_t * offsets, int32_t n_prompts) {
    uint64_t key = RD_FNV_START;
    const int32_t settings[5] = {(int32_t) VERSION, p->max_new_tokens, p->top_k, p->prompt_tail, p->n_ctx_seq};
    key = rd_fnv1a(key, &m->fingerprint, sizeof m->fingerprint);
    key = rd_fnv1a(key, settings, sizeof settings);
    key = rd_fnv1a(key, &n_prompts, sizeof n_prompts);
    for (int32_t i = 0; i < n_prompts; i++) {
        const int64_t len = offsets[i + 1] - offsets[i];
        key = rd_fnv1a(key, &len, sizeof len);
        key = rd_fnv1a(key, tokens + offsets[i], sizeof(int32_t) * (size_t) len);
    }
    return key;
}

uint64_t rd_teacher_cache_key(const rd_model * m, const rd_teacher_params * p, const int32_t * tokens,
                              const int64_t * offsets, int32_t n_prompts) try {
    rd_teacher_params defaults;
    rd_teacher_default_params(&defaults);
    if (!m || !tokens || !offsets || n_prompts < 0) return 0;
    return cache_key(m, p ? p : &defaults, tokens, offsets, n_prompts);
} catch (...) { rd_caught(__func__); return 0; }

rd_status rd_teacher_init(rd_model * m, const rd_teacher_params * p, const int32_t * tokens,
                          const int64_t * offsets, int32_t n_prompts, const char * path, rd_teacher ** out) try {
    if (!m || !path || !out || (n_prompts > 0 && (!tokens || !offsets)))
        return rd_fail(RD_ERR_INVALID_ARG, "rd_teacher_init: model, tokens, offsets, path and out are required");
    *out = nullptr;
    rd_teacher_params defaults;
    rd_teacher_default_params(&defaults);
    if (!p) p = &defaults;
    if (n_prompts < 1) return rd_fail(RD_ERR_INVALID_ARG, "no prompts to answer");
    if (p->n_parallel < 1 || p->n_parallel > 256) return rd_fail(RD_ERR_INVALID_ARG, "n_parallel must be in 1..256 (got %d)", p->n_parallel);
    if (p->max_new_tokens < 1) return rd_fail(RD_ERR_INVALID_ARG, "max_new_tokens must be >= 1 (got %d)", p->max_new_tokens);
    if (p->top_k < 1 || p->top_k > MAX_TOP_K) return rd_fail(RD_ERR_INVALID_ARG, "top_k must be in 1..%d (got %d)", MAX_TOP_K, p->top_k);
    if (p->prompt_tail < 1) return rd_fail(RD_ERR_INVALID_ARG, "prompt_tail must be >= 1 (got %d)", p->prompt_tail);
    if (p->n_ctx_seq < p->max_new_tokens + 2) return rd_fail(RD_ERR_INVALID_ARG, "n_ctx_seq %d leaves no room for a prompt and %d new tokens", p->n_ctx_seq, p->max_new_tokens);
    if (p->n_threads < 0) return rd_fail(RD_ERR_INVALID_ARG, "n_threads must be >= 0");

    auto t = std::make_unique<rd_teacher>();
    t->m = m;
    t->p = *p;
    t->path = path;
    t->prompts.resize((size_t) n_prompts);
    for (int32_t i = 0; i < n_prompts; i++) {
        const int64_t a = offsets[i], b = offsets[i + 1];
        if (a < 0 || b < a) return rd_fail(RD_ERR_INVALID_ARG, "offsets[%d..%d] = %lld..%lld is not a range", i, i + 1, (long long) a, (long long) b);
        if (b == a) return rd_fail(RD_ERR_INVALID_ARG, "prompt %d is empty", i);
        for (int64_t j = a; j < b; j++)
            if (tokens[j] < 0 || tokens[j] >= m->n_vocab)
                return rd_fail(RD_ERR_INVALID_ARG, "prompt %d holds token %d, outside the vocabulary", i, tokens[j]);
        t->prompts[(size_t) i].assign(tokens + a, tokens + b);
    }
    const uint64_t key = cache_key(m, p, tokens, offsets, n_prompts);
    t->state.assign((size_t) n_prompts, 0);

    file_header & h = t->hdr;
    memcpy(h.magic, MAGIC, 8);
    h.version = VERSION;
    h.n_embd = (uint32_t) m->n_embd;
    h.n_vocab = (uint32_t) m->n_vocab;
    h.top_k = (uint32_t) p->top_k;
    h.fingerprint = m->fingerprint;
    h.key = key;
    h.max_new_tokens = (uint32_t) p->max_new_tokens;
    h.prompt_tail = (uint32_t) p->prompt_tail;

    // Reuse a previous run's file with the same key: keep its valid records.
    {
        teacher_file old;
        size_t valid_end = 0;
        struct stat st;
        if (stat(path, &st) == 0 && teacher_file_open(path, true, &old, &valid_end) == RD_OK && old.key == key) {
            for (const teacher_seq & s : old.seqs)
                if (s.prompt >= 0 && s.prompt < n_prompts && t->state[(size_t) s.prompt] == 0) {
                    t->state[(size_t) s.prompt] = 1;
                    t->n_resumed++;
                }
            h.n_records = (uint32_t) old.seqs.size();
            h.n_positions = (uint64_t) old.n_positions;
            if (truncate(path, (off_t) valid_end) != 0)
                return rd_fail(RD_ERR_IO, "cannot truncate '%s': %s", path, strerror(errno));
            t->f = fopen(path, "r+b");
        }
    }
    if (!t->f) {
        h.n_records = 0;
        h.n_positions = 0;
        t->n_resumed = 0;
        std::fill(t->state.begin(), t->state.end(), 0);
        t->f = fopen(path, "w+b");
    }
    if (!t->f) return rd_fail(RD_ERR_IO, "cannot open '%s' for writing: %s", path, strerror(errno));
    t->n_done = t->n_resumed;
    // skip over-long prompts now, so progress counts them from the start
    const int32_t max_prompt = p->n_ctx_seq - p->max_new_tokens;
    for (int32_t i = 0; i < n_prompts; i++)
        if (t->state[(size_t) i] == 0 && (int32_t) t->prompts[(size_t) i].size() > max_prompt) {
            t->state[(size_t) i] = 2;
            t->n_skipped++;
        }
    h.complete = 0;
    if (rd_status st = write_header(t.get()); st != RD_OK) return st;

    const int32_t threads = p->n_threads > 0 ? p->n_threads : rd_default_threads();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) (p->n_ctx_seq * p->n_parallel);
    t->n_batch = std::max(512, p->n_parallel);
    cp.n_batch = cp.n_ubatch = (uint32_t) t->n_batch;
    cp.n_seq_max = (uint32_t) p->n_parallel;
    t->body = m->body_kernel;
    if (t->body && threads > 1) t->pool = std::make_unique<rd_pool>(threads, rd_body_spin_us());
    cp.n_threads = cp.n_threads_batch = t->body ? 1 : threads;
    cp.embeddings = true;                 // hidden states with the logits
    cp.pooling_type = LLAMA_POOLING_TYPE_NONE;
    cp.kv_unified = false;                // one stream per sequence: attention sees only its own
    cp.no_perf = true;
    rd_body_scope body(t->body, t->pool.get(), false, m->body_packs.get()); // graphs reserved here
    t->ctx = llama_init_from_model(m->lm, cp);
    if (!t->ctx) return rd_fail(RD_ERR_NO_MEMORY, "llama.cpp could not create a context of %d x %d tokens", p->n_parallel, p->n_ctx_seq);
    if (t->body) t->ggml_pool.attach(t->ctx);
    t->batch = llama_batch_init(t->n_batch, 0, 1);
    t->slots.resize((size_t) p->n_parallel);
    t->t_start = rd_now_ms();
    *out = t.release();
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

void rd_teacher_free(rd_teacher * t) { delete t; }

// Record the output at batch index i for slot s: the token just fed, its hidden state (f16) and
// the top-K of the next-token distribution.
static void record(rd_teacher * t, slot & s, int32_t i, int32_t token) {
    const int32_t d = t->m->n_embd, K = t->p.top_k;
    s.tokens.push_back(token);
    const size_t h0 = s.hidden.size();
    s.hidden.resize(h0 + (size_t) d);
    ggml_fp32_to_fp16_row(llama_get_embeddings_ith(t->ctx, i), reinterpret_cast<ggml_fp16_t *>(s.hidden.data() + h0), d);
    const size_t k0 = s.ids.size();
    s.ids.resize(k0 + (size_t) K);
    s.probs.resize(k0 + (size_t) K);
    top_k_probs(llama_get_logits_ith(t->ctx, i), t->m->n_vocab, K, s.ids.data() + k0, s.probs.data() + k0);
}

// After a recorded answer-side output: sample greedily, finish the sequence when it ends.
static rd_status advance(rd_teacher * t, slot & s, int32_t si) {
    const int32_t x = s.ids[s.ids.size() - (size_t) t->p.top_k]; // argmax = top-1
    s.n_new++;
    if (s.n_new >= t->p.max_new_tokens || llama_vocab_is_eog(t->m->vocab, x)) {
        if (rd_status st = write_record(t, s); st != RD_OK) return st;
        t->state[(size_t) s.prompt] = 1;
        t->n_done++;
        t->n_done_run++;
        llama_memory_seq_rm(llama_get_memory(t->ctx), si, -1, -1);
        s = slot();
        return RD_OK;
    }
    s.next = x;
    return RD_OK;
}

static void batch_add(llama_batch & b, int32_t tok, int32_t pos, int32_t seq, bool logits) {
    const int32_t i = b.n_tokens++;
    b.token[i] = tok;
    b.pos[i] = pos;
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = seq;
    b.logits[i] = logits;
}

static rd_status decode(rd_teacher * t) {
    rd_body_scope body(t->body, t->pool.get(), false, t->m->body_packs.get());
    const int32_t rc = llama_decode(t->ctx, t->batch);
    if (rc != 0) return rd_fail(RD_ERR_DECODE, "llama_decode failed (code %d) while collecting teacher data", rc);
    t->n_tokens_run += t->batch.n_tokens;
    return RD_OK;
}

// Prefill prompt pi into free slot si, record its tail, sample the first answer token.
static rd_status admit(rd_teacher * t, int32_t si, int32_t pi) {
    slot & s = t->slots[(size_t) si];
    s = slot();
    s.prompt = pi;
    const std::vector<int32_t> & pr = t->prompts[(size_t) pi];
    const int32_t n = (int32_t) pr.size();
    const int32_t tail0 = std::max(0, n - t->p.prompt_tail);
    s.n_tail = n - tail0;
    // With embeddings on, llama.cpp makes every token an output and runs the LM head on it (for
    // Gemma 3, 262144 x 640 per token: most of the prompt's cost). The head of the prompt needs
    // no output, so it is decoded with embeddings off; only the tail is recorded.
    llama_set_embeddings(t->ctx, false);
    for (int32_t a = 0; a < tail0; a += t->n_batch) {
        const int32_t k = std::min(t->n_batch, tail0 - a);
        t->batch.n_tokens = 0;
        for (int32_t j = 0; j < k; j++) batch_add(t->batch, pr[(size_t) (a + j)], a + j, si, false);
        if (rd_status st = decode(t); st != RD_OK) { llama_set_embeddings(t->ctx, true); return st; }
    }
    llama_set_embeddings(t->ctx, true);
    for (int32_t a = tail0; a < n; a += t->n_batch) {
        const int32_t k = std::min(t->n_batch, n - a);
        t->batch.n_tokens = 0;
        for (int32_t j = 0; j < k; j++) batch_add(t->batch, pr[(size_t) (a + j)], a + j, si, true);
        if (rd_status st = decode(t); st != RD_OK) return st;
        for (int32_t j = 0; j < k; j++) record(t, s, j, pr[(size_t) (a + j)]);
    }
    s.pos = n;
    return advance(t, s, si);
}

static void fill_progress(const rd_teacher * t, rd_teacher_progress * pr) {
    if (!pr) return;
    pr->n_prompts = (int64_t) t->prompts.size();
    pr->n_done = t->n_done;
    pr->n_skipped = t->n_skipped;
    pr->n_resumed = t->n_resumed;
    pr->n_positions = (int64_t) t->hdr.n_positions;
    pr->n_tokens_run = t->n_tokens_run;
    pr->elapsed_s = t->t_busy / 1000.0;
    pr->tokens_per_s = t->t_busy > 0 ? (double) t->n_generated_run / (t->t_busy / 1000.0) : 0.0;
    const int64_t left = pr->n_prompts - t->n_done - t->n_skipped;
    pr->eta_s = t->finished ? 0.0 : t->n_done_run > 0 ? (double) left * (t->t_busy / 1000.0) / (double) t->n_done_run : -1.0;
    pr->finished = t->finished ? 1 : 0;
}

rd_status rd_teacher_run(rd_teacher * t, int32_t max_ms, rd_teacher_progress * progress) try {
    if (!t) return rd_fail(RD_ERR_INVALID_ARG, "rd_teacher_run: teacher is null");
    const double t0 = rd_now_ms();
    rd_status st = RD_OK;
    bool first = true;
    while (!t->finished && (first || rd_now_ms() - t0 < max_ms)) {
        first = false;
        // admit one pending prompt into a free slot per iteration (keeps time slices short)
        int32_t free_slot = -1, live = 0;
        for (int32_t i = 0; i < (int32_t) t->slots.size(); i++) {
            if (t->slots[(size_t) i].prompt < 0) { if (free_slot < 0) free_slot = i; }
            else live++;
        }
        while (t->next_prompt < t->prompts.size() && t->state[t->next_prompt] != 0) t->next_prompt++;
        if (free_slot >= 0 && t->next_prompt < t->prompts.size()) {
            const int32_t pi = (int32_t) t->next_prompt++;
            if ((st = admit(t, free_slot, pi)) != RD_OK) break;
            continue;
        }
        if (live == 0) {
            t->hdr.complete = 1;
            if ((st = write_header(t)) != RD_OK) break;
            t->finished = true;
            break;
        }
        // one token per live sequence
        t->batch.n_tokens = 0;
        std::vector<int32_t> who;
        for (int32_t i = 0; i < (int32_t) t->slots.size(); i++) {
            slot & s = t->slots[(size_t) i];
            if (s.prompt < 0) continue;
            batch_add(t->batch, s.next, s.pos, i, true);
            who.push_back(i);
        }
        if ((st = decode(t)) != RD_OK) break;
        t->n_generated_run += (int64_t) who.size();
        for (int32_t j = 0; j < (int32_t) who.size() && st == RD_OK; j++) {
            slot & s = t->slots[(size_t) who[(size_t) j]];
            record(t, s, j, s.next);
            s.pos++;
            st = advance(t, s, who[(size_t) j]);
        }
        if (st != RD_OK) break;
    }
    t->t_busy += rd_now_ms() - t0;
    fill_progress(t, progress);
    return st;
} catch (...) { return rd_caught(__func__); }

// ---------------------------------------------------------------------------------------------
// Draft vocabulary

void teacher_draft_vocab(const teacher_file & tf, int32_t n, int32_t * ids, double * coverage) {
    // answer tokens = the teacher's greedy choice from the last prompt position onwards; in a
    // scored text (no answer) its greedy choice at every position
    std::vector<int64_t> out_count((size_t) tf.n_vocab, 0), in_count((size_t) tf.n_vocab, 0);
    int64_t total = 0;
    for (const teacher_seq & s : tf.seqs) {
        for (int32_t i = 0; i < s.n; i++) in_count[(size_t) s.tokens[i]]++;
        for (int32_t i = teacher_seq_has_answer(s) ? std::max(0, s.n_tail - 1) : 0; i < s.n; i++) {
            out_count[(size_t) s.ids[(size_t) i * tf.top_k]]++;
            total++;
        }
    }
    std::vector<int32_t> order((size_t) tf.n_vocab);
    for (int32_t i = 0; i < tf.n_vocab; i++) order[(size_t) i] = i;
    // rank: answer count, then input count, then the lower id
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        if (out_count[(size_t) a] != out_count[(size_t) b]) return out_count[(size_t) a] > out_count[(size_t) b];
        return in_count[(size_t) a] > in_count[(size_t) b];
    });
    int64_t inside = 0;
    for (int32_t i = 0; i < n; i++) {
        ids[i] = order[(size_t) i];
        inside += out_count[(size_t) ids[i]];
    }
    if (coverage) *coverage = total > 0 ? (double) inside / (double) total : 0.0;
}

rd_status rd_teacher_draft_vocab(const rd_model * m, const char * path, int32_t n, int32_t * ids, double * coverage) try {
    if (!m || !path || !ids) return rd_fail(RD_ERR_INVALID_ARG, "rd_teacher_draft_vocab: model, path and ids are required");
    if (n < 1 || n > m->n_vocab)
        return rd_fail(RD_ERR_INVALID_ARG, "draft vocabulary of %d tokens is not in 1..%d (the target's vocab)", n, m->n_vocab);
    teacher_file tf;
    if (rd_status st = teacher_file_open(path, false, &tf); st != RD_OK) return st;
    if (tf.fingerprint != m->fingerprint || tf.n_vocab != m->n_vocab)
        return rd_fail(RD_ERR_MISMATCH, "teacher file '%s' was recorded from another target (fingerprint %016llx, loaded '%s' has %016llx)",
                       path, (unsigned long long) tf.fingerprint, m->name.c_str(), (unsigned long long) m->fingerprint);
    teacher_draft_vocab(tf, n, ids, coverage);
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

// ---------------------------------------------------------------------------------------------
// Chat template for C tools

int32_t rd_model_chat_user_prompt(const rd_model * m, const char * user, char * buf, int32_t cap) try {
    if (!m || !user) return -1;
    // no template in the GGUF: the known format of its architecture, else ChatML (llama.cpp's
    // own fallback): the gateway's rule (src/engine/chat-template.ts)
    const char * tmpl = llama_model_chat_template(m->lm, nullptr);
    char arch[64] = "";
    if (!tmpl && llama_model_meta_val_str(m->lm, "general.architecture", arch, sizeof arch) > 0 && strncmp(arch, "gemma", 5) == 0)
        tmpl = "gemma";
    llama_chat_message msg = {"user", user};
    std::vector<char> tmp(strlen(user) * 2 + 512);
    int32_t n = llama_chat_apply_template(tmpl, &msg, 1, true, tmp.data(), (int32_t) tmp.size());
    if (n < 0) return -1;
    if ((size_t) n >= tmp.size()) {
        tmp.resize((size_t) n + 1);
        n = llama_chat_apply_template(tmpl, &msg, 1, true, tmp.data(), (int32_t) tmp.size());
        if (n < 0) return -1;
    }
    if (!buf || n + 1 > cap) return -(n + 1);
    memcpy(buf, tmp.data(), (size_t) n);
    buf[n] = '\0';
    return n;
} catch (...) { rd_caught(__func__); return -1; }
