import { defineCommand } from "citty";
import { createLogger } from "../lib/logger.ts";
import { STACK_IMAGES, type StackKind, buildStackImage, stackImageCurrent } from "../stack/index.ts";

/** `beamstalk stack:build`: builds the stack images on this host from Debian packages (run it where the server runs). */
export const stackBuildCommand = defineCommand({
  meta: { name: "stack:build", description: "Build the stack images (run and build) from Debian packages on this host; missing or outdated ones only unless --force" },
  args: {
    force: { type: "boolean", description: "rebuild images that exist" },
    kind: { type: "enum", options: ["run", "build"], description: "only this image" },
  },
  async run({ args }) {
    const logger = createLogger({ write: () => {} });
    const kinds: StackKind[] = args.kind ? [args.kind as StackKind] : ["run", "build"];
    for (const kind of kinds) {
      const tag = STACK_IMAGES[kind];
      if (!args.force && (await stackImageCurrent(kind))) {
        process.stderr.write(`${tag} exists and is up to date (--force rebuilds it)\n`);
        continue;
      }
      await buildStackImage(kind, { logger, onOutput: (line) => process.stderr.write(line + "\n") });
    }
  },
});
