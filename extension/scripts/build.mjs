// Bundles the extension with esbuild (--production: minified, no source maps), or the unit
// tests (--tests: each test/*.test.ts to out/test/*.test.js; they import no `vscode`).
import { build, context } from "esbuild";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const production = args.has("--production");

const common = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node18",
  logLevel: "warning",
  absWorkingDir: root,
};

if (args.has("--tests")) {
  const tests = readdirSync(join(root, "test")).filter((f) => f.endsWith(".test.ts"));
  await build({
    ...common,
    entryPoints: tests.map((f) => join("test", f)),
    outdir: "out/test",
    sourcemap: "inline",
  });
} else {
  const options = {
    ...common,
    entryPoints: ["src/extension.ts"],
    outfile: "dist/extension.js",
    external: ["vscode"],
    minify: production,
    sourcemap: !production,
  };
  if (args.has("--watch")) {
    const ctx = await context(options);
    await ctx.watch();
  } else {
    await build(options);
  }
}
