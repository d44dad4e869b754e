// docker-check.ts - what CI can check of the Dockerfile and deploy/compose.yaml where no Docker
// engine runs. Static checks: stages, a non-root USER and no compiler in each image that is
// deployed (the last stage and compose's build targets), every COPY --from an earlier stage,
// every context COPY source present and not excluded by .dockerignore, compose health checks,
// depends_on conditions, volumes, and every flag a redrafter service passes listed by that
// command's --help. Then the replay: the build stage's unprivileged steps (COPY, RUN) in a copy
// of the working tree under a temporary root, the runtime stage's COPYs from it into a second
// root at the same path (libredrafter's RUNPATH names /app, as in the image), the build root
// moved away, and the runtime's ENTRYPOINT + CMD started there until /health answers 200 and
// one completion comes back; with --llama the same for llama-server. The root steps (apt-get,
// chown) are not replayed.
//
//   node_modules/.bin/bun scripts/docker-check.ts [--static] [--llama] [--keep]
//
//   --static  parse and check only, no replay (seconds)
//   --llama   also replay the llama-build and llama-server stages and start llama-server as
//             compose does (needs the llama.cpp build that `scripts/build-llama.sh --server`
//             caches, else it compiles llama.cpp: ~25 min on 2 cores)
//   --keep    leave the temporary roots in place and print where
//
// The replay reuses the npm cache and stands the model cache (REDRAFTER_CACHE, else
// ~/.cache/redrafter/models) in for the /models volume; compose's `pull` runs first (from this
// checkout), so the default model is fetched there if absent. Exit status 1 when a check fails;
// every failure is printed.
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const staticOnly = args.includes("--static");
const keep = args.includes("--keep");
const withLlama = args.includes("--llama");
const COMPILERS = ["gcc", "g++", "clang", "cmake", "make", "build-essential", "cpp", "nvcc", "ninja-build"];
const t0 = performance.now();

const failures: string[] = [];
const fail = (msg: string) => (failures.push(msg), console.log(`[docker-check] FAIL ${msg}`));
const ok = (msg: string) => console.log(`[docker-check] ok   ${msg}`);
const note = (msg: string) => console.log(`[docker-check] ${msg}`);

// --- Dockerfile --------------------------------------------------------------------------------
interface Instr { op: string; args: string; line: number }
interface Stage { name: string; base: string; instrs: Instr[] }

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let buf = "", start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buf && (line.trim() === "" || line.trimStart().startsWith("#"))) return;
    if (buf && line.trimStart().startsWith("#")) return; // comments inside a continuation
    if (!buf) start = i + 1;
    buf += line.endsWith("\\") ? line.slice(0, -1) + " " : line;
    if (line.endsWith("\\")) return;
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(buf)!;
    buf = "";
    const op = m[1]!.toUpperCase(), rest = m[2]!.trim();
    if (op === "FROM") {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ base: f[1]!, name: f[2] ?? String(stages.length), instrs: [] });
    } else if (stages.length) stages.at(-1)!.instrs.push({ op, args: rest, line: start });
  });
  return stages;
}

/** COPY's flags, sources and destination (JSON or space form). */
function copyArgs(a: string): { from?: string; chown?: string; srcs: string[]; dest: string } {
  const flags: Record<string, string> = {};
  let rest = a;
  for (let m; (m = /^--(\w+)=(\S+)\s+/.exec(rest)); rest = rest.slice(m[0].length)) flags[m[1]!] = m[2]!;
  const parts: string[] = rest.startsWith("[") ? JSON.parse(rest) : rest.split(/\s+/);
  return { from: flags.from, chown: flags.chown, srcs: parts.slice(0, -1), dest: parts.at(-1)! };
}
const execForm = (a: string): string[] => (a.startsWith("[") ? JSON.parse(a) : ["/bin/sh", "-c", a]);
const aptPackages = (s: Stage) =>
  s.instrs.filter((i) => i.op === "RUN").flatMap((i) =>
    [...i.args.matchAll(/apt-get install((?:\s+(?!&&)[^\s;&|]+)+)/g)].flatMap((m) => m[1]!.trim().split(/\s+/)))
    .filter((p) => !p.startsWith("-"));
const lastArg = (s: Stage, op: string) => s.instrs.filter((i) => i.op === op).at(-1)?.args;

// .dockerignore, Docker's way in the cases that file uses: a pattern excludes a path or its
// parents, the last matching line wins, "!" re-includes.
function ignoredBy(patterns: string[]): (path: string) => boolean {
  const rules = patterns.map((p) => ({ neg: p.startsWith("!"), glob: new Bun.Glob(p.replace(/^!/, "").replace(/^\/|\/$/g, "")) }));
  return (path) => {
    const prefixes = path.split("/").map((_, i, a) => a.slice(0, i + 1).join("/"));
    let ignored = false;
    for (const r of rules) if (prefixes.some((p) => r.glob.match(p))) ignored = !r.neg;
    return ignored;
  };
}

const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
const stages = parseDockerfile(dockerfile);
const byName = new Map(stages.map((s, i) => [s.name, i]));
const ignore = ignoredBy(readFileSync(join(root, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
// the build context: the working tree's files that git does not ignore, less .dockerignore's
const context = spawnSync("git", ["ls-files", "-z", "-co", "--exclude-standard"], { cwd: root, encoding: "utf8" })
  .stdout.split("\0").filter((p) => p && existsSync(join(root, p)) && !ignore(p));
const inContext = (src: string) => src === "." || context.some((p) => p === src || p.startsWith(src.replace(/\/$/, "") + "/"));

note(`Dockerfile: stages ${stages.map((s) => `${s.name} (FROM ${s.base})`).join(", ")}`);
if (stages.length < 2) fail("the Dockerfile is not multi-stage");
stages.forEach((s, i) => {
  for (const ins of s.instrs.filter((x) => x.op === "COPY" || x.op === "ADD")) {
    const c = copyArgs(ins.args);
    if (c.from !== undefined) {
      const j = byName.get(c.from);
      if (j === undefined || j >= i) fail(`line ${ins.line}: COPY --from=${c.from} names no earlier stage`);
    } else {
      for (const src of c.srcs) if (!inContext(src)) fail(`line ${ins.line}: COPY source ${src} is not in the build context`);
    }
  }
});

// --- compose ------------------------------------------------------------------------------------
const composePath = join(root, "deploy", "compose.yaml");
const compose = Bun.YAML.parse(readFileSync(composePath, "utf8")) as {
  services: Record<string, any>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const targetOf = (svc: any) => svc.build?.target ?? stages.at(-1)!.name;
// the images that are deployed: the default target, and every target compose builds
const deployed = new Set([stages.at(-1)!.name, ...Object.values(services).filter((s) => s.build).map(targetOf)]);
for (const name of deployed) {
  const i = byName.get(name);
  if (i === undefined) { fail(`compose builds target ${name}, which the Dockerfile lacks`); continue; }
  const s = stages[i]!, before = failures.length;
  if (byName.has(s.base)) fail(`stage ${name} is FROM stage ${s.base}: it inherits that stage's packages`);
  const user = lastArg(s, "USER");
  if (!user || /^(root|0)(:|$)/.test(user)) fail(`stage ${name} runs as ${user ?? "root (no USER)"}`);
  const compilers = aptPackages(s).filter((p) => COMPILERS.includes(p));
  if (compilers.length) fail(`stage ${name} installs ${compilers.join(", ")}`);
  if (!lastArg(s, "HEALTHCHECK")) fail(`stage ${name} has no HEALTHCHECK`);
  if (failures.length === before) ok(`stage ${name}: USER ${user}, packages ${aptPackages(s).join(" ") || "none"}, HEALTHCHECK`);
}

const runtime = stages.at(-1)!;
const entry = [...execForm(lastArg(runtime, "ENTRYPOINT") ?? "[]"), ...execForm(lastArg(runtime, "CMD") ?? "[]")];
const declared = new Set(Object.keys(compose.volumes ?? {}));
const helpCache = new Map<string, string>();
function helpOf(command: string): string {
  if (!helpCache.has(command)) {
    const r = spawnSync(join(root, "node_modules", ".bin", "bun"), [join(root, "src", "cli", "main.ts"), command, "--help"], { encoding: "utf8" });
    helpCache.set(command, r.stdout + r.stderr);
  }
  return helpCache.get(command)!;
}
for (const [name, svc] of Object.entries(services)) {
  const oneShot = Object.values(services).some((o) => o.depends_on?.[name]?.condition === "service_completed_successfully");
  if (svc.healthcheck?.disable ? !oneShot : !svc.healthcheck?.test) fail(`service ${name} has no health check`);
  for (const [dep, spec] of Object.entries<any>(svc.depends_on ?? {})) {
    if (!services[dep]) fail(`service ${name} depends on ${dep}, which compose lacks`);
    else if (!["service_healthy", "service_completed_successfully"].includes(spec?.condition)) fail(`service ${name} waits for ${dep} without service_healthy`);
  }
  for (const v of svc.volumes ?? []) {
    const src = String(v).split(":")[0]!;
    if (!src.startsWith(".") && !src.startsWith("/") && !declared.has(src)) fail(`service ${name} mounts undeclared volume ${src}`);
  }
  // a service of the runtime image runs `node bin/redrafter.js <command> ...`: its flags must be that command's
  if (svc.build && targetOf(svc) === runtime.name && Array.isArray(svc.command)) {
    const help = helpOf(svc.command[0]);
    const listed = new Set([...help.matchAll(/--(\[no-\])?([\w-]+)/g)].flatMap((m) => (m[1] ? [`--${m[2]}`, `--no-${m[2]}`] : [`--${m[2]}`])));
    const unknown = svc.command.filter((a: string) => a.startsWith("--") && !listed.has(a.split("=")[0]!));
    if (!/usage:/i.test(help)) fail(`service ${name}: \`redrafter ${svc.command[0]} --help\` printed no usage`);
    else if (unknown.length) fail(`service ${name}: redrafter ${svc.command[0]} does not list ${[...new Set(unknown)].join(", ")}`);
    else ok(`service ${name}: redrafter ${svc.command.join(" ")}`);
  }
}
ok(`compose: ${Object.keys(services).join(", ")}`);

// --- replay -----------------------------------------------------------------------------------
const run = (cmd: string, opts: { cwd: string; env: Record<string, string> }) =>
  spawnSync("/bin/sh", ["-c", cmd], { ...opts, stdio: "inherit" }).status === 0;

/** Copy `srcs` (resolved) to dest as Docker does: a directory's contents; a file into dest when
 *  COPY's destination ends with / or there are several sources. The first missing source, or null. */
function dockerCopy(srcs: string[], dest: string, destIsDir: boolean): string | null {
  for (const src of srcs) {
    if (!existsSync(src)) return src;
    const dir = statSync(src).isDirectory();
    const into = dir ? dest : destIsDir || srcs.length > 1 ? join(dest, basename(src)) : dest;
    mkdirSync(dir ? into : dirname(into), { recursive: true });
    cpSync(src, into, { recursive: true, verbatimSymlinks: true });
  }
  return null;
}

/** Where the model volume (/models) is here: the model cache. */
const modelCache = () => process.env.REDRAFTER_CACHE || join(homedir(), ".cache", "redrafter", "models");

interface StageState { workdir: string; user: string; env: Record<string, string> }

/** The stages a target needs (its FROM and COPY --from stages, transitively), in file order. */
function needed(targets: string[]): Stage[] {
  const want = new Set<string>();
  const add = (name: string) => {
    const s = stages[byName.get(name)!];
    if (!s || want.has(name)) return;
    want.add(name);
    if (byName.has(s.base)) add(s.base);
    for (const i of s.instrs) if (i.op === "COPY" && copyArgs(i.args).from) add(copyArgs(i.args).from!);
  };
  targets.forEach(add);
  return stages.filter((s) => want.has(s.name));
}

/** Replays the stages under tmp: each stage FROM an image gets an empty root at tmp/fs, the path
 *  every image's / has here, after the previous root moves to tmp/stage-NAME; a stage FROM a stage
 *  continues in that stage's root. Root RUN steps (system packages) are skipped. Each target is
 *  started from its own root as compose runs it. */
async function replay(tmp: string, targets: string[]): Promise<void> {
  const ctx = join(tmp, "context");
  for (const p of context) cpSync(join(root, p), join(ctx, p), { recursive: true, verbatimSymlinks: true });
  // compose's one-shot services first (`pull`: the model the servers read), from this checkout
  const cache = modelCache();
  for (const [name, svc] of Object.entries(services)) {
    if (!svc.healthcheck?.disable || targetOf(svc) !== runtime.name) continue;
    note(`${name}: redrafter ${svc.command.join(" ")}`);
    const r = spawnSync(join(root, "node_modules", ".bin", "bun"), [join(root, "src", "cli", "main.ts"), ...svc.command],
      { stdio: "inherit", env: { ...process.env, REDRAFTER_CACHE: cache } });
    if (r.status !== 0) return fail(`service ${name} failed: redrafter ${svc.command.join(" ")}`);
  }
  const fsRoot = join(tmp, "fs");
  const rootOf = new Map<string, string>(), state = new Map<string, StageState>();
  let current: string[] = []; // the stages whose files are at fsRoot now
  for (const stage of needed(targets)) {
    const t = performance.now();
    const parent = state.get(stage.base);
    if (!parent) {
      const away = join(tmp, `stage-${current[0] ?? "none"}`);
      if (current.length) renameSync(fsRoot, away);
      for (const s of current) rootOf.set(s, away);
      current = [];
      mkdirSync(fsRoot, { recursive: true });
    }
    current.push(stage.name);
    rootOf.set(stage.name, fsRoot);
    const st: StageState = parent ? structuredClone(parent) : { workdir: "/", user: "root", env: { ...(process.env as Record<string, string>) } };
    const at = (p: string) => join(fsRoot, isAbsolute(p) ? p : join(st.workdir, p));
    for (const ins of stage.instrs) {
      if (ins.op === "WORKDIR") mkdirSync(at((st.workdir = resolve(st.workdir, ins.args))), { recursive: true });
      else if (ins.op === "USER") st.user = ins.args;
      else if (ins.op === "ENV") for (const m of ins.args.matchAll(/(\w+)=(\S+)/g)) st.env[m[1]!] = m[2]!;
      else if (ins.op === "COPY") {
        const c = copyArgs(ins.args);
        const base = c.from ? rootOf.get(c.from)! : ctx;
        const missing = dockerCopy(c.srcs.map((s) => join(base, s)), at(c.dest), /\/$|^\.$/.test(c.dest));
        if (missing) return fail(`line ${ins.line}: COPY source ${missing.slice(base.length)} does not exist`);
      } else if (ins.op === "RUN") {
        if (/^(root|0)(:|$)/.test(st.user)) { note(`${stage.name}: skipped (as root) ${ins.args.slice(0, 80)}`); continue; }
        note(`${stage.name}: RUN ${ins.args.slice(0, 100)}`);
        if (!run(ins.args, { cwd: at("."), env: st.env })) return fail(`line ${ins.line}: RUN failed: ${ins.args}`);
      }
    }
    state.set(stage.name, st);
    note(`stage ${stage.name} replayed in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    if (targets.includes(stage.name)) await start(stage, fsRoot, st);
  }
}

/** A target image's ENTRYPOINT + CMD (or the command of a compose server built from it), run
 *  from its root with the model volume at the model cache, until /health says 200; then one
 *  completion and SIGTERM. */
async function start(stage: Stage, fsRoot: string, st: StageState): Promise<void> {
  const cache = modelCache();
  // an absolute path of the image is under its root here; the model volume is the model cache
  const inRoot = (v: string) =>
    v.startsWith("/models/") ? join(cache, v.slice(8)) : isAbsolute(v) && existsSync(join(fsRoot, v)) ? join(fsRoot, v) : v;
  // a server compose builds from this target that waits for no other server: a replica, not the gateway or `pull`
  const svc = Object.values(services).find((s) => s.build && targetOf(s) === stage.name && Array.isArray(s.command) &&
    s.healthcheck?.test && !Object.values<any>(s.depends_on ?? {}).some((d) => d.condition === "service_healthy"));
  const cmd = svc?.command ?? execForm(lastArg(stage, "CMD") ?? "[]");
  const port = (() => { const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }); const p = s.port; s.stop(true); return p; })();
  // the port goes in twice, as REDRAFTER_PORT and as the last --port for an image that fixes it in its ENTRYPOINT
  const redrafter = stage === runtime;
  const argv = [...execForm(lastArg(stage, "ENTRYPOINT") ?? "[]"), ...cmd, ...(redrafter ? [] : ["--port", String(port)])].map(inRoot);
  const env = Object.fromEntries(Object.entries(st.env).map(([k, v]) => [k, inRoot(v)]));
  Object.assign(env, { REDRAFTER_CACHE: cache, REDRAFTER_HOST: "127.0.0.1", REDRAFTER_PORT: String(port) });
  const app = join(fsRoot, st.workdir);

  const bin = redrafter ? join(app, "native", "build", "libredrafter.so") : argv[0]!;
  const ldd = spawnSync("ldd", [bin], { encoding: "utf8", env }).stdout;
  const outside = ldd.split("\n").filter((l) => / not found/.test(l) || (/=> \//.test(l) && !l.includes(fsRoot) && !/=> \/(usr\/)?lib/.test(l)));
  if (outside.length) fail(`${stage.name}: ${basename(bin)} loads libraries from outside its image: ${outside.map((l) => l.trim()).join("; ")}`);
  else ok(`${stage.name}: ${basename(bin)} loads its libraries from the image's files`);

  const t = performance.now();
  note(`${stage.name}: starting ${argv.map((a) => a.replace(fsRoot, "")).join(" ")} on port ${port}`);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: app, stdio: ["ignore", "inherit", "inherit"], env });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const base = `http://127.0.0.1:${port}`;
  let status = 0, seen503 = false;
  const deadline = Date.now() + 300_000; // a model download and the thread calibration on 2 cores
  while (Date.now() < deadline && child.exitCode === null) {
    status = await fetch(`${base}/health`).then((r) => r.status, () => 0);
    if (status === 503) seen503 = true;
    if (status === 200) break;
    await Bun.sleep(500);
  }
  if (status !== 200) fail(`${stage.name}: /health never answered 200 (last: ${status || "no answer"})`);
  else {
    ok(`${stage.name}: /health 200 after ${((performance.now() - t) / 1000).toFixed(0)} s${seen503 ? " (503 while loading)" : ""}`);
    const r = await fetch(`${base}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "smollm2", prompt: "The capital of France is", max_tokens: 4, temperature: 0 }),
    });
    const body = (await r.json().catch(() => ({}))) as { choices?: { text: string }[] };
    if (r.status !== 200 || !body.choices?.length) fail(`${stage.name}: a completion failed: ${r.status} ${JSON.stringify(body)}`);
    else ok(`${stage.name}: completion ${JSON.stringify(body.choices[0]!.text)}`);
  }
  child.kill("SIGTERM");
  const code = await Promise.race([exited, Bun.sleep(20_000).then(() => "timeout" as const)]);
  if (code !== 0) { fail(`${stage.name}: did not exit 0 on SIGTERM (${code})`); child.kill("SIGKILL"); }
  else ok(`${stage.name}: SIGTERM, exit 0`);
}

if (!staticOnly && failures.length === 0) {
  const tmp = mkdtempSync(join(tmpdir(), "docker-check-"));
  try {
    await replay(tmp, [runtime.name, ...(withLlama ? ["llama-server"] : [])]);
  } finally {
    if (keep) note(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}
note(`${failures.length ? `${failures.length} failed` : "all passed"} in ${((performance.now() - t0) / 1000).toFixed(0)} s${staticOnly ? " (static)" : ""}`);
process.exit(failures.length ? 1 : 0);
