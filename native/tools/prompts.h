/* prompts.h - JSONL prompt files (one object per line with a "prompt" string). */
#ifndef RD_PROMPTS_H
#define RD_PROMPTS_H

/* The "prompt" strings of the file at path, unescaped to UTF-8, at most max of them (max <= 0:
 * all); lines without one are skipped. *out is an array of malloc'd strings; release it with
 * rd_free_prompts(). Returns the count, or -1 when the file cannot be read or holds no prompt. */
int  rd_read_prompts(const char * path, int max, char *** out);
void rd_free_prompts(char ** prompts, int n);

#endif
