// drafter_io.cpp - the drafter file: GGUF save/load, the target fingerprint check, and the
// seeded random initialisation that tests and training start from. Over 300 lines because
// writer and reader sit beside the layout below, so they change together.
//
// File layout (GGUF v3, default 32-byte alignment):
//   general.architecture        string  "redrafter"
//   redrafter.target.n_vocab    u32     V of the target the drafter was made for
//   redrafter.target.n_embd     u32     d of that target
//   redrafter.target.fingerprint u64    rd_model_fingerprint() of that target
//   redrafter.target.name       string  its general.name (only used in error messages)
//   redrafter.n_draft_vocab     u32     V', 1..V
//   redrafter.n_layers          u32     ResBlocks, 0..16
//   redrafter.n_proj            u32     e when > 0; 0 = no input projection (e = 2d)
// Tensors, shapes as ggml [ne0, ne1] (a matrix [in, out] maps in -> out; see drafter_graph.h):
//   rnn.w [d, d], rnn.u [d, d], rnn.b [d], proj.w [2d, e] (only if n_proj > 0),
//   blk.{i}.w [e, e], blk.{i}.b [e] for i < n_layers, lm_head.w [e, V'], draft_vocab.ids [V'].
// Matrices are f32, f16 or q8_0; biases are f32; draft_vocab.ids is I32 (draft index ->
// target id, each in 0..V-1). Saving q8_0 stores any matrix whose row length is not a multiple
// of 32 (the q8_0 block) as f16 instead, silently: the file records each tensor's type, and the
// loader accepts the three types per tensor. Extra tensors and keys are ignored on load.
#include "drafter_graph.h"
#include "ggml-alloc.h"
#include "gguf.h"
#include "hash.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

static const char * const KEY_ARCH          = "general.architecture";
static const char * const KEY_T_N_VOCAB     = "redrafter.target.n_vocab";
static const char * const KEY_T_N_EMBD      = "redrafter.target.n_embd";
static const char * const KEY_T_FINGERPRINT = "redrafter.target.fingerprint";
static const char * const KEY_T_NAME        = "redrafter.target.name";
static const char * const KEY_N_DRAFT_VOCAB = "redrafter.n_draft_vocab";
static const char * const KEY_N_LAYERS      = "redrafter.n_layers";
static const char * const KEY_N_PROJ        = "redrafter.n_proj";
static const char * const TENSOR_VOCAB_IDS  = "draft_vocab.ids";

rd_drafter::~rd_drafter() {
    rt.reset(); // graphs reference the weights and the backend
    if (wbuf) ggml_backend_buffer_free(wbuf);
    if (wctx) ggml_free(wctx);
    if (backend) ggml_backend_free(backend);
}

void rd_drafter_init_default_params(rd_drafter_init_params * p) {
    if (!p) return;
    p->n_draft_vocab = 0;
    p->n_layers      = 1;
    p->n_proj        = 0;
    p->weight_type   = RD_WEIGHTS_F32;
    p->seed          = 42;
    p->init_scale    = 1.0f;
    p->vocab_ids     = nullptr;
}

void rd_drafter_free(rd_drafter * d) { delete d; }
int32_t rd_drafter_n_draft_vocab(const rd_drafter * d) { return d ? d->hp.n_draft_vocab : 0; }
int32_t rd_drafter_n_layers(const rd_drafter * d) { return d ? d->hp.n_layers : 0; }

// ---------------------------------------------------------------------------------------------
// Saving

struct gguf_deleter { void operator()(gguf_context * g) const { gguf_free(g); } };
struct ggml_ctx_deleter { void operator()(ggml_context * c) const { ggml_free(c); } };
using gguf_ptr = std::unique_ptr<gguf_context, gguf_deleter>;
using ggml_ctx_ptr = std::unique_ptr<ggml_context, ggml_ctx_deleter>;

static ggml_type matrix_type(int32_t weight_type, int64_t ne0) {
    switch (weight_type) {
        case RD_WEIGHTS_F16:  return GGML_TYPE_F16;
        case RD_WEIGHTS_Q8_0: return ne0 % ggml_blck_size(GGML_TYPE_Q8_0) == 0 ? GGML_TYPE_Q8_0 : GGML_TYPE_F16;
        default:              return GGML_TYPE_F32;
    }
}

// Streams tensor data after the GGUF header, padding each tensor to the file's alignment the
// way gguf's own writer does (so the offsets recorded in the header hold).
struct data_writer {
    FILE * f;
    size_t alignment;
    size_t written = 0; // bytes of the current tensor
    bool   ok = true;

    void put(const void * p, size_t n) {
        if (ok && fwrite(p, 1, n, f) != n) ok = false;
        written += n;
    }
    void end_tensor() {
        static const uint8_t zeros[64] = {};
        while (written % alignment != 0) put(zeros, std::min(sizeof zeros, alignment - written % alignment));
        written = 0;
    }
};

rd_status drafter_save(const char * path, const rd_model * m, const drafter_hparams & hp,
                       int32_t weight_type, const int32_t * vocab_ids, const drafter_fill_fn & fill) {
    const std::vector<drafter_tensor_spec> specs = drafter_tensor_specs(hp, nullptr);

    gguf_ptr g(gguf_init_empty());
    gguf_set_val_str(g.get(), KEY_ARCH, "redrafter");
    gguf_set_val_u32(g.get(), KEY_T_N_VOCAB, (uint32_t) m->n_vocab);
    gguf_set_val_u32(g.get(), KEY_T_N_EMBD, (uint32_t) m->n_embd);
    gguf_set_val_u64(g.get(), KEY_T_FINGERPRINT, m->fingerprint);
    gguf_set_val_str(g.get(), KEY_T_NAME, m->name.c_str());
    gguf_set_val_u32(g.get(), KEY_N_DRAFT_VOCAB, (uint32_t) hp.n_draft_vocab);
    gguf_set_val_u32(g.get(), KEY_N_LAYERS, (uint32_t) hp.n_layers);
    gguf_set_val_u32(g.get(), KEY_N_PROJ, (uint32_t) hp.n_proj);

    // Tensor descriptors only (no data): gguf needs them for the header's offsets.
    ggml_init_params ip = { ggml_tensor_overhead() * (specs.size() + 1), nullptr, /*no_alloc =*/ true };
    ggml_ctx_ptr ctx(ggml_init(ip));
    if (!ctx) return rd_fail(RD_ERR_NO_MEMORY, "drafter_save: cannot create a ggml context");
    std::vector<ggml_tensor *> tensors;
    for (const drafter_tensor_spec & s : specs) {
        ggml_tensor * t = s.matrix
            ? ggml_new_tensor_2d(ctx.get(), matrix_type(weight_type, s.ne0), s.ne0, s.ne1)
            : ggml_new_tensor_1d(ctx.get(), GGML_TYPE_F32, s.ne0);
        ggml_set_name(t, s.name.c_str());
        gguf_add_tensor(g.get(), t);
        tensors.push_back(t);
    }
    ggml_tensor * ids = ggml_new_tensor_1d(ctx.get(), GGML_TYPE_I32, hp.n_draft_vocab);
    ggml_set_name(ids, TENSOR_VOCAB_IDS);
    gguf_add_tensor(g.get(), ids);

    std::unique_ptr<FILE, int (*)(FILE *)> file(fopen(path, "wb"), fclose);
    if (!file) return rd_fail(RD_ERR_IO, "cannot open '%s' for writing: %s", path, strerror(errno));
    FILE * f = file.get();
    data_writer w{f, gguf_get_alignment(g.get())};
    w.ok = gguf_write_to_file_ptr(g.get(), f, /*only_meta =*/ true);

    // Convert in chunks of rows: f32 -> file type, never the whole matrix at once.
    const int64_t chunk_elems = 1 << 20;
    std::vector<float> rows;
    std::vector<uint8_t> conv;
    for (size_t i = 0; i < specs.size() && w.ok; i++) {
        const drafter_tensor_spec & s = specs[i];
        const ggml_type type = tensors[i]->type;
        const int64_t chunk_rows = std::max<int64_t>(1, chunk_elems / s.ne0);
        for (int64_t r0 = 0; r0 < s.ne1 && w.ok; r0 += chunk_rows) {
            const int64_t nr = std::min(chunk_rows, s.ne1 - r0);
            rows.resize((size_t) (nr * s.ne0));
            fill(s, r0, nr, rows.data());
            if (type == GGML_TYPE_F32) {
                w.put(rows.data(), rows.size() * sizeof(float));
                continue;
            }
            conv.resize(ggml_row_size(type, s.ne0) * (size_t) nr);
            if (type == GGML_TYPE_F16) ggml_fp32_to_fp16_row(rows.data(), (ggml_fp16_t *) conv.data(), nr * s.ne0);
            else ggml_quantize_chunk(type, rows.data(), conv.data(), 0, nr, s.ne0, nullptr);
            w.put(conv.data(), conv.size());
        }
        w.end_tensor();
    }
    if (w.ok) {
        w.put(vocab_ids, sizeof(int32_t) * (size_t) hp.n_draft_vocab);
        w.end_tensor();
    }
    const int err = errno;
    if (fclose(file.release()) != 0) w.ok = false;
    if (!w.ok) {
        remove(path); // never leave a truncated drafter behind
        return rd_fail(RD_ERR_IO, "cannot write '%s': %s", path, strerror(err));
    }
    return RD_OK;
}

// ---------------------------------------------------------------------------------------------
// Random initialisation: N(0, init_scale^2 / fan_in) per matrix element, biases 0.
// Each matrix row has its own splitmix64 stream seeded from (seed, tensor name, row), so the
// values do not depend on chunking or on which other tensors exist; Box-Muller in double turns
// uniforms into normals (bitwise identical wherever libm's log/cos/sqrt round the same way).

static void fill_normal_row(uint64_t seed, const std::string & name, int64_t row, double std_dev,
                            float * out, int64_t n) {
    uint64_t state = seed ^ rd_fnv1a(RD_FNV_START, name.data(), name.size());
    state = rd_splitmix64(&state) ^ (uint64_t) row;
    const double two_pi = 6.283185307179586476925;
    for (int64_t i = 0; i < n; i += 2) {
        // u1 in (0, 1] so log(u1) is finite; 53 random bits each
        const double u1 = (double) ((rd_splitmix64(&state) >> 11) + 1) * 0x1.0p-53;
        const double u2 = (double) (rd_splitmix64(&state) >> 11) * 0x1.0p-53;
        const double r = std::sqrt(-2.0 * std::log(u1)) * std_dev;
        out[i] = (float) (r * std::cos(two_pi * u2));
        if (i + 1 < n) out[i + 1] = (float) (r * std::sin(two_pi * u2));
    }
}

drafter_fill_fn drafter_random_fill(uint64_t seed, double scale) {
    return [seed, scale](const drafter_tensor_spec & s, int64_t row0, int64_t n_rows, float * dst) {
        if (!s.matrix) {
            std::fill(dst, dst + n_rows * s.ne0, 0.0f);
            return;
        }
        const double std_dev = scale / std::sqrt((double) s.ne0); // fan_in = ne0 = input size
        for (int64_t r = 0; r < n_rows; r++)
            fill_normal_row(seed, s.name, row0 + r, std_dev, dst + r * s.ne0, s.ne0);
    };
}

rd_status drafter_check_shape(int32_t n_layers, int32_t n_proj, int32_t weight_type) {
    if (n_layers < 0 || n_layers > RD_DRAFTER_MAX_LAYERS)
        return rd_fail(RD_ERR_INVALID_ARG, "n_layers %d out of range 0..%d", n_layers, RD_DRAFTER_MAX_LAYERS);
    if (n_proj < 0 || n_proj > RD_DRAFTER_MAX_PROJ)
        return rd_fail(RD_ERR_INVALID_ARG, "n_proj %d out of range 0..%d", n_proj, RD_DRAFTER_MAX_PROJ);
    if (weight_type < RD_WEIGHTS_F32 || weight_type > RD_WEIGHTS_Q8_0)
        return rd_fail(RD_ERR_INVALID_ARG, "weight_type %d is not one of RD_WEIGHTS_F32/F16/Q8_0", weight_type);
    return RD_OK;
}

static rd_status write_random(const rd_model * m, const rd_drafter_init_params * p, const char * path) {
    if (!m || !path) return rd_fail(RD_ERR_INVALID_ARG, "rd_drafter_write_random: model and path are required");
    rd_drafter_init_params defaults;
    rd_drafter_init_default_params(&defaults);
    if (!p) p = &defaults;

    if (p->n_draft_vocab < 0 || p->n_draft_vocab > m->n_vocab)
        return rd_fail(RD_ERR_INVALID_ARG, "n_draft_vocab %d out of range 0..%d (the target's vocab)", p->n_draft_vocab, m->n_vocab);
    if (rd_status st = drafter_check_shape(p->n_layers, p->n_proj, p->weight_type); st != RD_OK) return st;
    if (!std::isfinite(p->init_scale) || p->init_scale < 0)
        return rd_fail(RD_ERR_INVALID_ARG, "init_scale must be finite and >= 0 (got %g)", (double) p->init_scale);

    drafter_hparams hp;
    hp.n_embd        = m->n_embd;
    hp.n_vocab       = m->n_vocab;
    hp.n_draft_vocab = p->n_draft_vocab > 0 ? p->n_draft_vocab : m->n_vocab;
    hp.n_layers      = p->n_layers;
    hp.n_proj        = p->n_proj;

    std::vector<int32_t> ids((size_t) hp.n_draft_vocab);
    if (p->vocab_ids) {
        // duplicates would make two draft tokens one target token: refuse them too
        std::vector<bool> seen((size_t) m->n_vocab, false);
        for (int32_t i = 0; i < hp.n_draft_vocab; i++) {
            const int32_t t = p->vocab_ids[i];
            if (t < 0 || t >= m->n_vocab)
                return rd_fail(RD_ERR_INVALID_ARG, "vocab_ids[%d] = %d is not a token of the target (0..%d)", i, t, m->n_vocab - 1);
            if (seen[(size_t) t])
                return rd_fail(RD_ERR_INVALID_ARG, "vocab_ids[%d] = %d repeats an earlier id", i, t);
            seen[(size_t) t] = true;
            ids[(size_t) i] = t;
        }
    } else {
        for (int32_t i = 0; i < hp.n_draft_vocab; i++) ids[(size_t) i] = i;
    }

    return drafter_save(path, m, hp, p->weight_type, ids.data(), drafter_random_fill(p->seed, p->init_scale));
}

rd_status rd_drafter_write_random(const rd_model * m, const rd_drafter_init_params * p,
                                  const char * path) try {
    return write_random(m, p, path);
} catch (...) { return rd_caught(__func__); }

// ---------------------------------------------------------------------------------------------
// Loading

// Reads a u32 key; false when it is absent or of another type.
static bool get_u32(const gguf_context * g, const char * key, uint32_t * out) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_UINT32) return false;
    *out = gguf_get_val_u32(g, id);
    return true;
}

static const char * get_str(const gguf_context * g, const char * key) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) return nullptr;
    return gguf_get_val_str(g, id);
}

// Finds tensor name and checks its type against the allowed set and its shape against [ne0, ne1].
// On success *tid is its index in g.
static rd_status check_tensor(const gguf_context * g, const char * path, const char * name,
                              int64_t ne0, int64_t ne1, bool matrix, ggml_type only_type,
                              size_t file_size, int64_t * tid) {
    *tid = gguf_find_tensor(g, name);
    if (*tid < 0) return rd_fail(RD_ERR_FORMAT, "drafter '%s' lacks tensor %s", path, name);
    const ggml_type type = gguf_get_tensor_type(g, *tid);
    const bool type_ok = matrix
        ? (type == GGML_TYPE_F32 || type == GGML_TYPE_F16 || type == GGML_TYPE_Q8_0)
        : type == only_type;
    if (!type_ok)
        return rd_fail(RD_ERR_FORMAT, "drafter '%s': tensor %s has type %s, expected %s", path, name,
                       ggml_type_name(type), matrix ? "f32, f16 or q8_0" : ggml_type_name(only_type));
    const int64_t * ne = gguf_get_tensor_ne(g, *tid);
    if (ne[0] != ne0 || ne[1] != ne1 || ne[2] != 1 || ne[3] != 1)
        return rd_fail(RD_ERR_FORMAT,
                       "drafter '%s': tensor %s has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], expected [%" PRId64 ", %" PRId64 "]",
                       path, name, ne[0], ne[1], ne[2], ne[3], ne0, ne1);
    // written so that absurd offsets cannot wrap around
    const size_t begin = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, *tid), size = gguf_get_tensor_size(g, *tid);
    if (begin < gguf_get_data_offset(g) || begin > file_size || size > file_size - begin)
        return rd_fail(RD_ERR_FORMAT, "drafter '%s' is truncated: tensor %s ends past the end of the file", path, name);
    return RD_OK;
}

// Copies tensor tid's bytes from the file into t (host buffer: straight in; device buffer:
// through a bounded staging buffer).
static bool read_tensor(FILE * f, const gguf_context * g, int64_t tid, ggml_tensor * t,
                        std::vector<uint8_t> & staging) {
    const size_t nbytes = ggml_nbytes(t);
    if (fseeko(f, (off_t) (gguf_get_data_offset(g) + gguf_get_tensor_offset(g, tid)), SEEK_SET) != 0) return false;
    if (ggml_backend_buffer_is_host(t->buffer)) return fread(t->data, 1, nbytes, f) == nbytes;
    const size_t chunk = 16u << 20;
    for (size_t off = 0; off < nbytes; off += chunk) {
        const size_t n = std::min(chunk, nbytes - off);
        staging.resize(n);
        if (fread(staging.data(), 1, n, f) != n) return false;
        ggml_backend_tensor_set(t, staging.data(), off, n);
    }
    return true;
}

static rd_status load(const char * path, const rd_model * m, rd_drafter ** out) {
    if (!path || !m || !out) return rd_fail(RD_ERR_INVALID_ARG, "rd_drafter_load: path, model and out are required");
    *out = nullptr;

    struct stat st;
    FILE * probe = fopen(path, "rb");
    if (!probe) return rd_fail(RD_ERR_IO, "cannot open drafter file '%s': %s", path, strerror(errno));
    const bool sized = fstat(fileno(probe), &st) == 0;
    fclose(probe);
    if (!sized) return rd_fail(RD_ERR_IO, "cannot stat drafter file '%s'", path);
    const size_t file_size = (size_t) st.st_size;

    gguf_init_params gp = { /*no_alloc =*/ true, /*ctx =*/ nullptr };
    gguf_ptr g(gguf_init_from_file(path, gp));
    if (!g) return rd_fail(RD_ERR_FORMAT, "'%s' is not a valid GGUF file", path);

    const char * arch = get_str(g.get(), KEY_ARCH);
    if (!arch || strcmp(arch, "redrafter") != 0)
        return rd_fail(RD_ERR_FORMAT, "'%s' is not a ReDrafter drafter (general.architecture = %s)", path, arch ? arch : "(none)");

    uint32_t t_vocab = 0, t_embd = 0, n_draft_vocab = 0, n_layers = 0, n_proj = 0;
    const int64_t fp_id = gguf_find_key(g.get(), KEY_T_FINGERPRINT);
    const char * t_name = get_str(g.get(), KEY_T_NAME);
    if (!get_u32(g.get(), KEY_T_N_VOCAB, &t_vocab) || !get_u32(g.get(), KEY_T_N_EMBD, &t_embd) ||
        fp_id < 0 || gguf_get_kv_type(g.get(), fp_id) != GGUF_TYPE_UINT64 || !t_name)
        return rd_fail(RD_ERR_FORMAT, "drafter '%s' lacks its redrafter.target.* keys (n_vocab, n_embd u32; fingerprint u64; name string)", path);
    const uint64_t t_fp = gguf_get_val_u64(g.get(), fp_id);
    if (t_fp != m->fingerprint || t_vocab != (uint32_t) m->n_vocab || t_embd != (uint32_t) m->n_embd)
        return rd_fail(RD_ERR_MISMATCH,
                       "drafter '%s' was made for target '%s' (fingerprint %016" PRIx64 ", n_vocab %u, n_embd %u), "
                       "but the loaded target is '%s' (fingerprint %016" PRIx64 ", n_vocab %d, n_embd %d)",
                       path, t_name, t_fp, t_vocab, t_embd, m->name.c_str(), m->fingerprint, m->n_vocab, m->n_embd);

    if (!get_u32(g.get(), KEY_N_DRAFT_VOCAB, &n_draft_vocab) || !get_u32(g.get(), KEY_N_LAYERS, &n_layers) ||
        !get_u32(g.get(), KEY_N_PROJ, &n_proj))
        return rd_fail(RD_ERR_FORMAT, "drafter '%s' lacks redrafter.n_draft_vocab / n_layers / n_proj (u32)", path);
    if (n_draft_vocab < 1 || n_draft_vocab > t_vocab || n_layers > (uint32_t) RD_DRAFTER_MAX_LAYERS ||
        n_proj > (uint32_t) RD_DRAFTER_MAX_PROJ)
        return rd_fail(RD_ERR_FORMAT, "drafter '%s': hyper-parameters out of range (n_draft_vocab %u of 1..%u, n_layers %u of 0..%d, n_proj %u of 0..%d)",
                       path, n_draft_vocab, t_vocab, n_layers, RD_DRAFTER_MAX_LAYERS, n_proj, RD_DRAFTER_MAX_PROJ);

    auto d = std::unique_ptr<rd_drafter>(new rd_drafter());
    d->m = m;
    d->hp.n_embd = m->n_embd;
    d->hp.n_vocab = m->n_vocab;
    d->hp.n_draft_vocab = (int32_t) n_draft_vocab;
    d->hp.n_layers = (int32_t) n_layers;
    d->hp.n_proj = (int32_t) n_proj;

    // Validate every tensor before allocating anything.
    const std::vector<drafter_tensor_spec> specs = drafter_tensor_specs(d->hp, &d->w);
    std::vector<int64_t> tids(specs.size());
    for (size_t i = 0; i < specs.size(); i++) {
        const drafter_tensor_spec & s = specs[i];
        if (rd_status r = check_tensor(g.get(), path, s.name.c_str(), s.ne0, s.ne1, s.matrix, GGML_TYPE_F32, file_size, &tids[i]); r != RD_OK)
            return r;
    }
    int64_t ids_tid = -1;
    if (rd_status r = check_tensor(g.get(), path, TENSOR_VOCAB_IDS, d->hp.n_draft_vocab, 1, false, GGML_TYPE_I32, file_size, &ids_tid); r != RD_OK)
        return r;

    FILE * f = fopen(path, "rb");
    if (!f) return rd_fail(RD_ERR_IO, "cannot open drafter file '%s': %s", path, strerror(errno));
    std::unique_ptr<FILE, int (*)(FILE *)> file(f, fclose);

    d->vocab_ids.resize(n_draft_vocab);
    if (fseeko(f, (off_t) (gguf_get_data_offset(g.get()) + gguf_get_tensor_offset(g.get(), ids_tid)), SEEK_SET) != 0 ||
        fread(d->vocab_ids.data(), sizeof(int32_t), n_draft_vocab, f) != n_draft_vocab)
        return rd_fail(RD_ERR_IO, "cannot read %s from '%s'", TENSOR_VOCAB_IDS, path);
    for (uint32_t i = 0; i < n_draft_vocab; i++)
        if (d->vocab_ids[i] < 0 || d->vocab_ids[i] >= m->n_vocab)
            return rd_fail(RD_ERR_FORMAT, "drafter '%s': %s[%u] = %d is not a token of the target", path, TENSOR_VOCAB_IDS, i, d->vocab_ids[i]);

    ggml_backend_dev_t dev = m->dev ? m->dev : ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!dev) return rd_fail(RD_ERR_BACKEND, "no ggml device to run the drafter on (was rd_backend_init called?)");
    d->backend = ggml_backend_dev_init(dev, nullptr);
    if (!d->backend) return rd_fail(RD_ERR_BACKEND, "cannot initialise ggml device %s for the drafter", ggml_backend_dev_name(dev));

    ggml_init_params ip = { ggml_tensor_overhead() * specs.size(), nullptr, /*no_alloc =*/ true };
    d->wctx = ggml_init(ip);
    if (!d->wctx) return rd_fail(RD_ERR_NO_MEMORY, "cannot create the drafter's ggml context");
    for (size_t i = 0; i < specs.size(); i++) {
        const drafter_tensor_spec & s = specs[i];
        const ggml_type type = gguf_get_tensor_type(g.get(), tids[i]);
        ggml_tensor * t = s.matrix ? ggml_new_tensor_2d(d->wctx, type, s.ne0, s.ne1)
                                   : ggml_new_tensor_1d(d->wctx, type, s.ne0);
        ggml_set_name(t, s.name.c_str());
        *s.slot = t;
    }
    d->wbuf = ggml_backend_alloc_ctx_tensors(d->wctx, d->backend);
    if (!d->wbuf) return rd_fail(RD_ERR_NO_MEMORY, "cannot allocate the drafter's weights on %s", ggml_backend_name(d->backend));
    ggml_backend_buffer_set_usage(d->wbuf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);

    std::vector<uint8_t> staging;
    for (size_t i = 0; i < specs.size(); i++)
        if (!read_tensor(f, g.get(), tids[i], *specs[i].slot, staging))
            return rd_fail(RD_ERR_IO, "cannot read tensor %s from '%s'", specs[i].name.c_str(), path);

    rd_drafter_set_threads(d.get(), 0);
    *out = d.release();
    return RD_OK;
}

rd_status rd_drafter_load(const char * path, const rd_model * m, rd_drafter ** out) try {
    return load(path, m, out);
} catch (...) { return rd_caught(__func__); }
