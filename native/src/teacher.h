// teacher.h - read access to a teacher file (format: top of teacher.cpp), shared by the draft
// vocabulary (teacher.cpp) and the trainer (train*.cpp). The file is mapped read-only.
#pragma once

#include "internal.h"

#include <cstdint>
#include <utility>
#include <vector>

// One recorded sequence: n positions (the last n_tail prompt tokens, then the fed answer tokens).
// Position i holds tokens[i], hidden[i*d .. +d] (f16), and the top-K of the target's next-token
// distribution after it: ids[i*K .. +K] (most probable first), probs[i*K .. +K].
struct teacher_seq {
    int32_t prompt = 0;        // index of the prompt in the pool
    int32_t n = 0;             // positions
    int32_t n_tail = 0;        // of which the first n_tail are prompt tokens
    const int32_t *  tokens = nullptr;
    const uint16_t * hidden = nullptr; // ggml_fp16_t bits
    const int32_t *  ids = nullptr;
    const float *    probs = nullptr;
};

struct teacher_file {
    int32_t  n_embd = 0, n_vocab = 0, top_k = 0;
    uint64_t fingerprint = 0, key = 0;
    bool     complete = false;
    std::vector<teacher_seq> seqs; // in file order
    int64_t  n_positions = 0;

    std::vector<std::pair<void *, size_t>> maps; // one per file (teacher_file_add pools several)
    teacher_file() = default;
    teacher_file(const teacher_file &) = delete;
    teacher_file & operator=(const teacher_file &) = delete;
    ~teacher_file();
};

// Map and index the teacher file at path. RD_ERR_IO / RD_ERR_FORMAT with a message; a file
// that is not complete is refused unless allow_partial (then its last, truncated record is
// ignored and *valid_end tells where the valid records end).
rd_status teacher_file_open(const char * path, bool allow_partial, teacher_file * out, size_t * valid_end = nullptr);

// Pool the sequences of the teacher file at path into out (opened by teacher_file_open):
// RD_ERR_MISMATCH unless both come from the same target with the same top-K. out's key
// becomes a hash of both keys; out is complete only when both are.
rd_status teacher_file_add(const char * path, bool allow_partial, teacher_file * out);

// Whether sequence s holds answer positions (the target's own greedy tokens after the prompt
// tail); a scored text (rd_teacher_params.prompt_tail covering the whole prompt, one new
// token) holds none.
inline bool teacher_seq_has_answer(const teacher_seq & s) { return s.n > s.n_tail; }

// The n most frequent answer tokens of tf (ranking: answer count, input count, lower id) into
// ids; *coverage (may be NULL) = share of answer tokens inside. n in 1..tf.n_vocab.
void teacher_draft_vocab(const teacher_file & tf, int32_t n, int32_t * ids, double * coverage);
