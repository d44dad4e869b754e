// chat-variants.ts - more chat prompts for a drafter's teacher from the ones a pool has: each short
// chat prompt (category "chat", at most --max-chars) under a few fixed wrappings ("... Keep it
// short.", "Can you help me with this? ...") that ask for answers of other lengths and shapes, so
// the target's own answers to them (`redrafter distill --answer FILE`) add chat-style answer
// positions without any text from outside the pool. Deterministic; JSONL on stdout.
//
//   bun scripts/chat-variants.ts ../shared/data/train_pool.jsonl [--max-chars 600] > variants.jsonl
import { readFileSync } from "node:fs";

const WRAPS: ((p: string) => string)[] = [
  (p) => `${p} Keep it short.`,
  (p) => `${p}\n\nPlease explain your answer.`,
  (p) => `Can you help me with this? ${p}`,
  (p) => `${p} Answer in a few sentences.`,
  (p) => `${p}\n\nUse a numbered list.`,
  (p) => `I need some help. ${p}`,
  (p) => `${p} Give an example.`,
  (p) => `${p}\n\nBe detailed.`,
];

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
const at = args.indexOf("--max-chars");
const maxChars = at >= 0 ? Number(args[at + 1]) : 600;
if (!file || !Number.isFinite(maxChars)) {
  console.error("usage: bun scripts/chat-variants.ts POOL.jsonl [--max-chars N] > variants.jsonl");
  process.exit(2);
}
const rows: { id?: string; prompt: string }[] = [];
for (const line of readFileSync(file, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const row = JSON.parse(line) as { id?: string; category?: string; prompt?: string };
  if (row.category === "chat" && typeof row.prompt === "string" && row.prompt.length <= maxChars) rows.push({ id: row.id, prompt: row.prompt });
}
// wrapping by wrapping, so a teacher stopped part way (--answer-max-s) has seen every prompt
const out: string[] = [];
WRAPS.forEach((wrap, k) => {
  for (const r of rows) out.push(JSON.stringify({ id: `${r.id}-v${k}`, category: "chat", prompt: wrap(r.prompt) }));
});
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
console.error(`chat-variants: ${out.length} prompts`);
