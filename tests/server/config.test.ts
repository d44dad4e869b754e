// config.test.ts - settings precedence (flags > env > file > defaults), string spellings,
// and errors that name the setting and where its value came from.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, configHelp, defaultConfig, loadConfig } from "../../src/config.ts";

const file = (obj: unknown) => {
  const p = join(mkdtempSync(join(tmpdir(), "rd-cfg-")), "c.json");
  writeFileSync(p, typeof obj === "string" ? obj : JSON.stringify(obj));
  return p;
};

describe("loadConfig", () => {
  it("has defaults that serve", () => {
    const { config } = loadConfig([], {});
    expect(config).toEqual(defaultConfig);
    expect(config).toMatchObject({ host: "127.0.0.1", port: 8080, beamWidth: 1, beamLength: 4, adaptive: true, slots: 1, queueSize: 16, maxBody: 1 << 20, draft: true, apiKey: null });
  });

  it("takes flags over env over file over defaults", () => {
    const cfg = file({ port: 9000, beamWidth: 2, "beam-length": 3, host: "0.0.0.0" });
    const env = { REDRAFTER_PORT: "9100", REDRAFTER_BEAM_WIDTH: "5" };
    const { config } = loadConfig(["--config", cfg, "--port=9200"], env);
    expect(config.port).toBe(9200);
    expect(config.beamWidth).toBe(5);
    expect(config.beamLength).toBe(3);
    expect(config.host).toBe("0.0.0.0");
  });

  it("reads REDRAFTER_CONFIG and every REDRAFTER_* variable", () => {
    const { config } = loadConfig([], {
      REDRAFTER_CONFIG: file({ slots: 3 }),
      REDRAFTER_MODEL: "/m.gguf", REDRAFTER_DRAFTER: "/d.gguf", REDRAFTER_API_KEY: "k",
      REDRAFTER_CTX_SIZE: "2048", REDRAFTER_BEAM_LENGTH: "6", REDRAFTER_DRAFT: "off",
      REDRAFTER_FLASH_ATTN: "on", REDRAFTER_MAX_BODY: "2MiB", REDRAFTER_ALIAS: "a, b",
    });
    expect(config).toMatchObject({
      slots: 3, models: [{ model: "/m.gguf", drafter: null, alias: [] }], drafter: "/d.gguf", apiKey: "k", ctxSize: 2048, beamLength: 6,
      draft: false, flashAttn: 1, maxBody: 2 << 20, alias: ["a", "b"],
    });
  });

  it("parses booleans, negations and repeated flags", () => {
    const { config } = loadConfig(["--no-draft", "--kv-f32", "--alias", "x", "--alias=y", "--no-log-requests"], {});
    expect(config).toMatchObject({ draft: false, kvF32: true, alias: ["x", "y"], logRequests: false });
  });

  it("names the setting and the source of a bad value", () => {
    expect(() => loadConfig(["--port", "http"], {})).toThrow(/port "http" \(from --port\)/);
    expect(() => loadConfig([], { REDRAFTER_BEAM_WIDTH: "0" })).toThrow(/beam-width "0" \(from env REDRAFTER_BEAM_WIDTH\)/);
    const cfg = file({ slots: -1 });
    expect(() => loadConfig(["--config", cfg], {})).toThrow(new RegExp(`slots -1 \\(from 'slots' in ${cfg}\\)`));
    expect(() => loadConfig(["--flash-attn", "maybe"], {})).toThrow(ConfigError);
  });

  it("refuses unknown flags, unknown file keys, bad files and missing values", () => {
    expect(() => loadConfig(["--bogus"], {})).toThrow(/unknown option --bogus/);
    expect(() => loadConfig(["--config", file({ bogus: 1 })], {})).toThrow(/unknown setting 'bogus'/);
    expect(() => loadConfig(["--config", file("{not json")], {})).toThrow(/not valid JSON/);
    expect(() => loadConfig(["--config", "/nonexistent/x.json"], {})).toThrow(/cannot read config file/);
    expect(() => loadConfig(["--port"], {})).toThrow(/--port needs a value/);
    expect(() => loadConfig(["--no-draft=1"], {})).toThrow(/takes no value/);
  });

  it("documents every setting with its env var in --help", () => {
    const help = configHelp();
    for (const v of ["--model", "--[no-]draft", "REDRAFTER_CTX_SIZE", "REDRAFTER_API_KEY", "--config FILE"]) expect(help).toContain(v);
    expect(loadConfig(["--help"], {}).help).toBe(true);
  });
});
