/**
 * Compiles Beamstalk into one executable: dist/beamstalk.
 * `bun build.ts` (or `npm run build`); BEAMSTALK_OUT overrides the output path.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

const outfile = process.env.BEAMSTALK_OUT ?? "dist/beamstalk";
mkdirSync(dirname(outfile), { recursive: true });

const started = performance.now();
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: { outfile },
  minify: true,
  // BEAMSTALK_BUILD_TAG marks a build (`0.1.0+tag`), so two builds of one commit tell themselves apart (the upgrade test).
  define: { BEAMSTALK_BUILD_TAG: JSON.stringify(process.env.BEAMSTALK_BUILD_TAG ?? "") },
  sourcemap: "linked",
  // ssh2 optionally loads native helpers; it falls back to pure JS without them.
  external: ["cpu-features", "./crypto/build/Release/sshcrypto.node"],
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
const size = Bun.file(outfile).size;
console.error(`built ${outfile} (${(size / 1048576).toFixed(1)} MiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
