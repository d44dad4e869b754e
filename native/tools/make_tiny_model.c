/* make_tiny_model.c - write a tiny random-weight llama GGUF for the tests: F32 weights from a
 * seeded PRNG, a SentencePiece ("llama") vocabulary that tokenizes English and code sensibly,
 * and a chat template. Same arguments -> byte-identical file, in milliseconds.
 *
 *   make-tiny-model OUT.gguf [--seed S] [--vocab N] [--embd D] [--layers K] [--ctx C] [--name NAME]
 *                   [--output-type T | --output-q8] [--body-type q4_1|q5_0]
 *
 * Vocabulary, ids in order: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, the chat
 * markers <|system|> <|user|> <|assistant|> <|end|> (control; <|end|> ends a turn and is an
 * end-of-generation token), "▁" and the printable ASCII characters, then BPE merges learned on
 * the prompt pool ("▁the", "ing", "▁▁▁▁") until N is reached; <unused_k> fills the rest when
 * the 700 merges run out.
 *
 * Weights: uniform with the std of a fan-in init, with attention sharpened (std 1.5/sqrt(D)
 * for Q/K) so the context matters, and the output layer scaled so word logits have a std of ~3
 * (bytes and EOS damped, other control tokens silenced): greedy text then depends on the
 * prompt, does not collapse onto one token and does not stop early. --output-type stores the
 * output layer as ggml type T (a name as ggml spells it: q8_0, the type of Gemma 3's; q6_K, that
 * of most Q4_K_M / Q5_K_M files; f16), the rest stays F32; --output-q8 is --output-type q8_0.
 * --body-type q4_1 stores the layers' seven matrices as Q4_1 (SmolLM2's body; the body kernel,
 * native/src/body_kernel.h), q5_0 as Q5_0 (most of Gemma 3's and Qwen2.5's); norms and the
 * embedding stay F32.
 */
/* Over 300 lines because the vocabulary, its merges and the weights must agree in one file. */
#include "ggml.h"
#include "gguf.h"
#include "hash.h" /* native/src: splitmix64 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_HEAD    4
#define N_HEAD_KV 2   /* grouped-query attention: 2 query heads per kv head */
#define MAX_TOKEN 96  /* bytes of a token text; the longest merge (20 x "▁") has 60 */

/* llama.h's llama_token_type, which this tool does not include (it links ggml-base only) */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_UNUSED = 5, TOK_BYTE = 6 };

static const char * const MARKERS[] = { "<|system|>", "<|user|>", "<|assistant|>", "<|end|>" };
#define N_MARKERS (int) (sizeof MARKERS / sizeof MARKERS[0])
#define TOKEN_EOS 2                         /* </s> */
#define TOKEN_EOT (3 + 256 + N_MARKERS - 1) /* <|end|> */
/* tokens before the words: 3 specials, 256 bytes, the markers, "▁" and 94 ASCII characters */
#define N_FIXED (3 + 256 + N_MARKERS + 1 + 94)

/* BPE merges learned once on a pool of English and code prompts (words of printable ASCII, split
 * as "▁word" and runs of "▁"; a space here stands for "▁"), in merge order. Each is the
 * concatenation of two earlier tokens and gets the score -rank, so llama.cpp's SentencePiece
 * merging (highest score first) replays the BPE. On tests/fixtures/prompts.jsonl: 1.0 bytes per
 * token with none, 1.85 with the first 154 (--vocab 512, checked by test_tiny_model), 2.6 with
 * all 700. */
static const char * const MERGES[] = {
    "  ", "    ", " t", " a", "in", "he", "on", "re", "er", " s", " the", "at", "or", " c", "en",
    " f", "es", "        ", "it", " p", " o", "is", "an", "al", " m", " w", "le", " b", " to", "ar",
    "ing", " d", "ou", " an", " of", " in", "ion", "ct", "ed", " h", " n", "as", " and", "ro", " e",
    "el", "et", "ic", "st", " l", "ow", "ent", " th", " =", "im", "ut", "am", "ac", " re", " g",
    "il", "um", "un", "id", "ol", "iv", " st", " is", " 1", "om", "ur", "ay", " for", "ot", "se",
    "ad", "ction", "if", " I", "ate", "s.", " T", " on", "ag", "ig", "ch", "od", "ite", " W", "ir",
    " 2", "ist", " y", "ers", "th", "ve", "**", " he", "ul", " (", "ith", "us", "00", "ce", " S",
    " be", "rite", "            ", " A", " that", "ation", " \"", "ly", "qu", "unction", " as",
    " with", " con", "ver", " C", " function", "nt", "ak", "ain", " H", " r", "est", "pl", "ex",
    "ri", " Write", "ab", " are", "ap", "rom", " v", "ame", "age", " al", " $", "ore", "umb",
    " you", "ec", " 3", "ue", "int", "oc", " sh", "ach", "pt", "                ", "ind", " ex",
    " -", "end", "ort", " M", " P", " it", "ill", " pro", " The", "ple", " numb", "de", " man",
    "os", "ment", " or", "ld", "ht", "ter", "all", "s,", "ave", " wh", "her", "elf", "ile", "res",
    "()", " ne", " {", "ess", " ch", "__", "--", "up", "\"\"", "ive", "iz", " many", " can",
    " from", "put", "pe", " at", "nd", "ang", "iven", "art", " has", "urn", " number", "our",
    " com", " D", " we", " 5", "act", " '", " do", "ure", " 0", " 4", " k", " each", "elf.", "****",
    " str", "ack", "'s", "em", " int", " us", " F", "ould", " E", ";;", " se", " have", "es.", "e.",
    "and", " le", "\",", " given", "ight", " de", "ext", "ant", " tr", "port", "ine", ");", " list",
    " B", " How", " all", " how", "red", "ice", " not", "0,", "ust", " sp", " [", "ord", " R", "og",
    "ake", " tw", "for", " j", " she", " pl", "ount", "ost", " by", "ata", "ity", "op", "yth",
    " her", "turn", "ard", " will", " this", " O", "ass", "ath", "ey", " cont", " find", "ies",
    "ub", "ult", "1,", "cl", " cl", " ar", " L", "eg", " N", "ase", "):", "ect", "_p", "out", "dd",
    "con", "ode", "self.", "def", "ong", "ell", " J", " if", " im", "ython", "_s", "able", "ial",
    " un", "uch", "\":", "),", "##", " per", "ast", "av", " his", "_t", "ok", " tim", "ide", "=\"",
    "\")", "str", " G", "are", "ther", "ib", " 6", "low", " If", " +", " qu", " whe", " than",
    "per", "10", "(\"", ">>", " two", "ock", "The", " sc", "ound", " python", "get", " me", "ep",
    "tr", " val", " string", "',", "ance", " i", " one", "ace", "ax", " more", "_f", "ray", "_d",
    "ud", " out", " need", "old", "ew", " ro", " ap", "ck", "irst", " en", "ick", "ize", "ich",
    "ary", "_c", "\"\"\"", "lo", " should", "ork", "ft", "rent", "ption", "use", " was", "ll", "ff",
    "ear", "ik", "oint", " pr", "ip", " bu", " <", " mon", " day", "ition", " ab", "cc", "ory",
    "ree", "],", "tal", "pr", " res", " much", "er.", " 10", " but", "ange", " col", "ical", "ence",
    "55", "********", " min", "----", "one", " up", " first", "1}", " 20", " ele", "20", "gr",
    "val", " does", " Y", " ==", "2,", " your", "form", " U", " their", "..", "ome", "ated", "very",
    " total", " mod", " get", "oug", "ond", "es,", "ra", "ark", " using", "ire", "fe", "ook",
    " they", "{1}", " new", "ail", "ry", "du", "ove", " add", "return", " them", " In", " gr", " 8",
    "_m", ";;;;", "ug", "che", "ren", "ous", "fr", "ateg", "])", "ollow", " 7", "50", " did",
    " there", " pos", "ign", "s:", "_l", " cost", "   ", "lect", "12", "                    ", "ie",
    " che", " bl", " follow", "ype", " make", " rem", "hat", " which", "ject", "____", " long",
    "))", "ild", " hour", "eng", " element", "ents", " dis", "ans", "row", "(s", " ind", "ox",
    " year", "umn", "own", " x", "')", ".s", "we", "urrent", "90", "11", "name", " other", "led",
    "akes", " K", " dec", " return", " ev", " use", " class", "ge", "reate", " sum", "ose", " char",
    " *", "app", "les", "ix", "//", "ob", "atch", "y.", " sec", "ener", "cri", "ek", "ime", "fter",
    "ample", "ens", " want", "ing.", "ys", "('", "image", " into", " value", " go", " array", "000",
    "com", " so", " only", "read", " He", " point", " V", "air", " integ", "fig", " set", "_b",
    "ike", "y,", " play", " work", "ov", ").", " had", "ual", "der", " code", "ask", "rue", " cal",
    " am", "ater", "ict", "ient", "frac", " em", "ER", "ings", " pre", "In", "5,", "ool", "\\frac",
    "orm", "ces", "ari", " three", "te", "pon", "print", " contain", "ble", "([", " would", "ength",
    " start", " sub", "::", " fe", "erv", "3,", " end", " te", " check", " det", " every", "cul",
    "so", "24", " following", "pro", " word", "ars", " week", " then", "How", " ad", " time",
    " bot", "99", "Ex", ">>>", " same", "(f", " about", " file", "ations", "ed.", "inal", "text",
    "ink", "ions", " times", " model", "},", " count", " what", "ress", "p.", "14", " my",
    " numbers", "1.", " data", "ph", " bet", "imum", " self.", "ert", " charact", " like", " |",
    "0.", "son", "15", " pe", "ning", " acc", " dif", "day", "er,", "igh", " comp", " Th", "ton",
    "(n", "rit", "erm", " stud", "iles", "ish", "2.", " produ", "oup", " tu", " She", " minut",
    "16",
};

/* Add an F32 tensor named "<prefix><name>" (1-D when ne1 == 0) to the file: all ones when
 * std == 0 (norm weights), else uniform in [-sqrt(3) std, sqrt(3) std): zero mean, that std. */
static float * add_tensor(struct ggml_context * ctx, struct gguf_context * gg, uint64_t * rng,
                          const char * prefix, const char * name, int64_t ne0, int64_t ne1,
                          float std) {
    struct ggml_tensor * t = ne1 ? ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne0, ne1)
                                 : ggml_new_tensor_1d(ctx, GGML_TYPE_F32, ne0);
    ggml_format_name(t, "%s%s", prefix, name);
    float * d = (float *) t->data;
    const float a = std * 1.7320508f;
    for (int64_t i = 0; i < ggml_nelements(t); i++) {
        d[i] = std == 0.0f ? 1.0f : a * ((float) (rd_splitmix64(rng) >> 40) * (2.0f / 16777216.0f) - 1.0f);
    }
    gguf_add_tensor(gg, t); /* the data is read at write time: the caller may still edit it */
    return d;
}

/* Write F32 tensor t to the file as type ty instead: returns the converted data, which must live
 * until the file is written (the caller frees it), or NULL when out of memory. */
static void * store_as(struct gguf_context * gg, enum ggml_type ty, const struct ggml_tensor * t) {
    void * q = malloc(ggml_row_size(ty, t->ne[0]) * (size_t) t->ne[1]);
    if (!q) return NULL;
    ggml_quantize_chunk(ty, (const float *) t->data, q, 0, t->ne[1], t->ne[0], NULL);
    gguf_set_tensor_type(gg, ggml_get_name(t), ty);
    gguf_set_tensor_data(gg, ggml_get_name(t), q);
    return q;
}

typedef struct vocab {
    char  (*text)[MAX_TOKEN];
    float * score;
    int32_t * type;
    int     n;
} vocab;

static void vocab_add(vocab * v, const char * s, float score, int32_t type) {
    snprintf(v->text[v->n], MAX_TOKEN, "%s", s);
    v->score[v->n] = score;
    v->type[v->n]  = type;
    v->n++;
}

/* " word" -> "▁word" */
static void to_sp(const char * w, char * out) {
    size_t o = 0;
    for (; *w && o + 4 < MAX_TOKEN; w++) {
        if (*w == ' ') { memcpy(out + o, "\xE2\x96\x81", 3); o += 3; }
        else out[o++] = *w;
    }
    out[o] = '\0';
}

/* n_vocab >= N_FIXED */
static void build_vocab(vocab * v, int n_vocab) {
    v->n = 0;
    vocab_add(v, "<unk>", 0.0f, TOK_UNKNOWN);
    vocab_add(v, "<s>",   0.0f, TOK_CONTROL);
    vocab_add(v, "</s>",  0.0f, TOK_CONTROL);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        vocab_add(v, s, 0.0f, TOK_BYTE);
    }
    for (int i = 0; i < N_MARKERS; i++) {
        vocab_add(v, MARKERS[i], 0.0f, TOK_CONTROL);
    }
    vocab_add(v, "\xE2\x96\x81", -1000.0f, TOK_NORMAL);
    for (int c = 0x21; c < 0x7F; c++) {
        const char s[2] = { (char) c, '\0' };
        vocab_add(v, s, -1000.0f, TOK_NORMAL);
    }
    for (size_t i = 0; i < sizeof MERGES / sizeof MERGES[0] && v->n < n_vocab; i++) {
        char sp[MAX_TOKEN];
        to_sp(MERGES[i], sp);
        vocab_add(v, sp, -(float) (i + 1), TOK_NORMAL);
    }
    for (int k = 0; v->n < n_vocab; k++) {
        char s[32];
        snprintf(s, sizeof s, "<unused_%d>", k);
        vocab_add(v, s, -1e9f, TOK_UNUSED);
    }
}

/* Phi-3 style turns, which llama.cpp's built-in template detection also recognises. */
static const char CHAT_TEMPLATE[] =
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

static int usage(const char * argv0) {
    fprintf(stderr,
        "usage: %s OUT.gguf [--seed S] [--vocab N] [--embd D] [--layers K] [--ctx C] [--name NAME]\n"
        "         [--output-type T | --output-q8] [--body-type q4_1|q5_0]\n"
        "  defaults: --seed 1 --vocab 512 --embd 64 --layers 2 --ctx 2048 --name tiny-random-llama --output-type f32\n"
        "  T: f32, f16, q8_0 or q6_K\n"
        "  D must be a multiple of %d (the head count) with an even head size, and of T's block size; N >= %d\n",
        argv0, N_HEAD, N_FIXED);
    return 2;
}

#define MAX_LAYERS 256 /* --layers; each has 7 matrices --body-type converts */

/* The output types the tests and benchmarks use (each one ggml_quantize_chunk writes). */
static const enum ggml_type OUTPUT_TYPES[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q6_K };

/* The output type named s (case-insensitive, as ggml spells it); -1 if none. */
static int parse_type(const char * s) {
    for (size_t i = 0; i < sizeof OUTPUT_TYPES / sizeof OUTPUT_TYPES[0]; i++)
        if (strcasecmp(ggml_type_name(OUTPUT_TYPES[i]), s) == 0) return (int) OUTPUT_TYPES[i];
    return -1;
}

static int parse_int(const char * s, long long lo, long long hi, long long * out) {
    char * end = NULL;
    const long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int main(int argc, char ** argv) {
    const char * out_path = NULL;
    const char * name     = "tiny-random-llama";
    long long seed = 1, n_vocab = 512, n_embd = 64, n_layer = 2, n_ctx = 2048;
    int output_type = GGML_TYPE_F32;
    int body_type = GGML_TYPE_F32;

    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        long long * dst = NULL;
        long long lo = 1, hi = 1 << 20;
        if      (strcmp(a, "--seed")   == 0) { dst = &seed; lo = 0; hi = INT64_MAX; }
        else if (strcmp(a, "--vocab")  == 0) { dst = &n_vocab; }
        else if (strcmp(a, "--embd")   == 0) { dst = &n_embd; hi = 8192; }
        else if (strcmp(a, "--layers") == 0) { dst = &n_layer; hi = MAX_LAYERS; }
        else if (strcmp(a, "--ctx")    == 0) { dst = &n_ctx; }
        else if (strcmp(a, "--output-q8") == 0) { output_type = GGML_TYPE_Q8_0; continue; }
        else if (strcmp(a, "--body-type") == 0) {
            if (++i >= argc || (strcasecmp(argv[i], "q4_1") != 0 && strcasecmp(argv[i], "q5_0") != 0)) {
                fprintf(stderr, "%s: bad value for %s (q4_1, q5_0)\n", argv[0], a);
                return usage(argv[0]);
            }
            body_type = strcasecmp(argv[i], "q4_1") == 0 ? GGML_TYPE_Q4_1 : GGML_TYPE_Q5_0;
            continue;
        }
        else if (strcmp(a, "--output-type") == 0) {
            if (++i >= argc || (output_type = parse_type(argv[i])) < 0) {
                fprintf(stderr, "%s: bad value for %s\n", argv[0], a);
                return usage(argv[0]);
            }
            continue;
        } else if (strcmp(a, "--name")   == 0) {
            if (++i >= argc) return usage(argv[0]);
            name = argv[i];
            continue;
        } else if (a[0] == '-' || out_path) {
            return usage(argv[0]);
        } else {
            out_path = a;
            continue;
        }
        if (++i >= argc || !parse_int(argv[i], lo, hi, dst)) {
            fprintf(stderr, "%s: bad value for %s\n", argv[0], a);
            return usage(argv[0]);
        }
    }
    const long long head = n_embd / N_HEAD;
    if (!out_path || n_embd % N_HEAD != 0 || head % 2 != 0 || n_vocab < N_FIXED ||
        n_embd % ggml_blck_size((enum ggml_type) output_type) != 0) {
        return usage(argv[0]);
    }

    vocab v = {
        .text  = malloc((size_t) n_vocab * sizeof *v.text),
        .score = malloc((size_t) n_vocab * sizeof *v.score),
        .type  = malloc((size_t) n_vocab * sizeof *v.type),
    };
    if (!v.text || !v.score || !v.type) { fprintf(stderr, "%s: out of memory\n", argv[0]); return 1; }
    build_vocab(&v, (int) n_vocab);

    const int64_t n_ff = 2 * n_embd, n_embd_kv = head * N_HEAD_KV;
    const int     n_tensors = 3 + 9 * (int) n_layer;
    const size_t  n_floats  = (size_t) (2 * n_vocab * n_embd + n_embd +
        n_layer * (2 * n_embd + 2 * n_embd * n_embd + 2 * n_embd * n_embd_kv + 3 * n_embd * n_ff));
    struct ggml_init_params ip = {
        .mem_size   = n_floats * sizeof(float) + (size_t) n_tensors * (ggml_tensor_overhead() + 64),
        .mem_buffer = NULL,
        .no_alloc   = false,
    };
    struct ggml_context * ctx = ggml_init(ip);
    struct gguf_context * gg  = gguf_init_empty();
    if (!ctx || !gg) { fprintf(stderr, "%s: out of memory\n", argv[0]); return 1; }

    gguf_set_val_str(gg, "general.architecture", "llama");
    gguf_set_val_str(gg, "general.name", name);
    gguf_set_val_u32(gg, "general.file_type", 0); /* all F32 */
    gguf_set_val_u32(gg, "llama.context_length", (uint32_t) n_ctx);
    gguf_set_val_u32(gg, "llama.embedding_length", (uint32_t) n_embd);
    gguf_set_val_u32(gg, "llama.block_count", (uint32_t) n_layer);
    gguf_set_val_u32(gg, "llama.feed_forward_length", (uint32_t) n_ff);
    gguf_set_val_u32(gg, "llama.attention.head_count", N_HEAD);
    gguf_set_val_u32(gg, "llama.attention.head_count_kv", N_HEAD_KV);
    gguf_set_val_u32(gg, "llama.rope.dimension_count", (uint32_t) head);
    gguf_set_val_f32(gg, "llama.rope.freq_base", 10000.0f);
    gguf_set_val_f32(gg, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_set_val_u32(gg, "llama.vocab_size", (uint32_t) n_vocab);

    const char ** texts = malloc((size_t) n_vocab * sizeof *texts);
    if (!texts) { fprintf(stderr, "%s: out of memory\n", argv[0]); return 1; }
    for (int i = 0; i < v.n; i++) texts[i] = v.text[i];
    gguf_set_val_str(gg, "tokenizer.ggml.model", "llama");
    gguf_set_arr_str(gg, "tokenizer.ggml.tokens", texts, (size_t) v.n);
    gguf_set_arr_data(gg, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v.score, (size_t) v.n);
    gguf_set_arr_data(gg, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.type, (size_t) v.n);
    gguf_set_val_u32(gg, "tokenizer.ggml.unknown_token_id", 0);
    gguf_set_val_u32(gg, "tokenizer.ggml.bos_token_id", 1);
    gguf_set_val_u32(gg, "tokenizer.ggml.eos_token_id", TOKEN_EOS);
    gguf_set_val_u32(gg, "tokenizer.ggml.eot_token_id", TOKEN_EOT);
    gguf_set_val_bool(gg, "tokenizer.ggml.add_bos_token", true);
    gguf_set_val_bool(gg, "tokenizer.ggml.add_eos_token", false);
    gguf_set_val_str(gg, "tokenizer.chat_template", CHAT_TEMPLATE);

    uint64_t rng = (uint64_t) seed;
    const float w_in = 1.0f / sqrtf((float) n_embd), w_ff = 1.0f / sqrtf((float) n_ff);
    add_tensor(ctx, gg, &rng, "", "token_embd.weight", n_embd, n_vocab, 1.0f);
    for (int il = 0; il < n_layer; il++) {
        char blk[32];
        snprintf(blk, sizeof blk, "blk.%d.", il);
        add_tensor(ctx, gg, &rng, blk, "attn_norm.weight",   n_embd, 0,         0.0f);
        add_tensor(ctx, gg, &rng, blk, "attn_q.weight",      n_embd, n_embd,    1.5f * w_in);
        add_tensor(ctx, gg, &rng, blk, "attn_k.weight",      n_embd, n_embd_kv, 1.5f * w_in);
        add_tensor(ctx, gg, &rng, blk, "attn_v.weight",      n_embd, n_embd_kv, w_in);
        add_tensor(ctx, gg, &rng, blk, "attn_output.weight", n_embd, n_embd,    w_in);
        add_tensor(ctx, gg, &rng, blk, "ffn_norm.weight",    n_embd, 0,         0.0f);
        add_tensor(ctx, gg, &rng, blk, "ffn_gate.weight",    n_embd, n_ff,      w_in);
        add_tensor(ctx, gg, &rng, blk, "ffn_up.weight",      n_embd, n_ff,      w_in);
        add_tensor(ctx, gg, &rng, blk, "ffn_down.weight",    n_ff,   n_embd,    w_ff);
    }
    /* the layers' matrices converted (--body-type): every 2-D tensor named blk.* */
    void * conv[1 + 7 * MAX_LAYERS] = { NULL }; /* converted data, kept until the file is written */
    int n_conv = 0;
    if (body_type != GGML_TYPE_F32) {
        for (struct ggml_tensor * t = ggml_get_first_tensor(ctx); t; t = ggml_get_next_tensor(ctx, t)) {
            if (strncmp(ggml_get_name(t), "blk.", 4) != 0 || t->ne[1] == 1) continue;
            conv[n_conv] = store_as(gg, (enum ggml_type) body_type, t);
            if (!conv[n_conv++]) { fprintf(stderr, "%s: out of memory\n", argv[0]); return 1; }
        }
    }
    add_tensor(ctx, gg, &rng, "", "output_norm.weight", n_embd, 0, 0.0f);
    /* output_norm leaves the hidden state with rms 1, so logit std = std(w) * sqrt(D) = 3 for
     * the ~250 word tokens, whose best is then ~8. Like a trained model, it seldom spells out
     * bytes and seldom stops: byte, EOS and <|end|> logits have std 1.5, ~5 std below the best
     * word, so greedy text runs to max_tokens while sampling, or a grammar that leaves few
     * words, still reaches EOS. Other control tokens get logit 0: it never volunteers them. */
    float * out = add_tensor(ctx, gg, &rng, "", "output.weight", n_embd, n_vocab, 3.0f * w_in);
    for (int id = 0; id < v.n; id++) {
        const float scale = v.type[id] == TOK_NORMAL ? 1.0f
                          : v.type[id] == TOK_BYTE || id == TOKEN_EOS || id == TOKEN_EOT ? 0.5f
                          : 0.0f;
        for (int64_t k = 0; k < n_embd; k++) out[id * n_embd + k] *= scale;
    }
    if (output_type != GGML_TYPE_F32) {
        conv[n_conv] = store_as(gg, (enum ggml_type) output_type, ggml_get_tensor(ctx, "output.weight"));
        if (!conv[n_conv++]) { fprintf(stderr, "%s: out of memory\n", argv[0]); return 1; }
    }

    const int ok = gguf_write_to_file(gg, out_path, false);
    if (!ok) fprintf(stderr, "%s: cannot write %s\n", argv[0], out_path);
    gguf_free(gg);
    ggml_free(ctx);
    for (int i = 0; i < n_conv; i++) free(conv[i]);
    free(texts);
    free(v.text); free(v.score); free(v.type);
    return ok ? 0 : 1;
}
