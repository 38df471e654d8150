#!/usr/bin/env bun
import { type CommandDef, defineCommand, runCommand, showUsage } from "citty";
import { toCitty } from "./cli/define.ts";
import { reportError } from "./cli/exit.ts";
import { COMMANDS } from "./cli/index.ts";
import { serverCommand } from "./daemon/command.ts";
import { stackBuildCommand } from "./daemon/stack-command.ts";
import { systemdUnitCommand } from "./daemon/systemd.ts";
import { unknownCommand } from "./cli/unknown-command.ts";
import { BeamstalkError } from "./lib/errors.ts";
import { VERSION } from "./version.ts";

const subCommands: Record<string, CommandDef<any>> = {
  server: serverCommand,
  "systemd-unit": systemdUnitCommand,
  "stack:build": stackBuildCommand,
  ...Object.fromEntries(COMMANDS.map((spec) => [spec.name, toCitty(spec)])),
};

const root = defineCommand({
  meta: { name: "beamstalk", version: VERSION, description: "Run Elixir apps on your own servers. `beamstalk server` is the daemon; everything else is the CLI." },
  subCommands,
});

function find(name: string | undefined): CommandDef<any> | undefined {
  if (!name) return undefined;
  if (subCommands[name]) return subCommands[name];
  return Object.values(subCommands).find((cmd) => aliasesOf(cmd).includes(name));
}

function aliasesOf(cmd: CommandDef<any>): string[] {
  return [(cmd.meta as { alias?: string | string[] } | undefined)?.alias ?? []].flat();
}

/** Every name a user may type: commands and their aliases. */
const KNOWN = [...Object.keys(subCommands), ...Object.values(subCommands).flatMap(aliasesOf), "help"];

async function main(argv: string[]): Promise<number> {
  // git runs `beamstalk hook pre-receive` inside receive-pack: keep it light and let its code be the exit code.
  if (argv[0] === "hook" && argv[1] === "pre-receive" && argv.length === 2) {
    const { runPreReceiveHook } = await import("./git/hook.ts");
    return runPreReceiveHook();
  }
  // Swarm nodes run `beamstalk agent` as a service: no one types it, so it stays out of the CLI's help.
  if (argv[0] === "agent") {
    const { agentCommand } = await import("./agent/command.ts");
    if (argv.includes("--help") || argv.includes("-h")) {
      await showUsage(agentCommand as CommandDef<any>, root);
      return 0;
    }
    return run(agentCommand, argv.slice(1));
  }
  const name = argv.find((a) => !a.startsWith("-"));
  if (argv.length === 0 || argv[0] === "help") {
    // `help nosuch` is a typo, not a request for the root help.
    if (argv[1] !== undefined && !find(argv[1])) return reportError(unknownCommand(argv[1], KNOWN));
    await showUsage(find(argv[1]) ?? root, find(argv[1]) ? root : undefined);
    return 0;
  }
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
    process.stdout.write(VERSION + "\n");
    return 0;
  }
  const beforeDashes = argv.slice(0, argv.includes("--") ? argv.indexOf("--") : argv.length);
  if (beforeDashes.includes("--help") || beforeDashes.includes("-h")) {
    const cmd = find(name);
    // Only a bare `beamstalk --help` shows the root help; `beamstalk nosuch --help` is a typo.
    if (!cmd && name !== undefined) return reportError(unknownCommand(name, KNOWN));
    await showUsage(cmd ?? root, cmd ? root : undefined);
    return 0;
  }
  if (!find(name)) return reportError(unknownCommand(name ?? argv[0]!, KNOWN));
  return run(root, argv);
}

async function run(command: CommandDef<any>, rawArgs: string[]): Promise<number> {
  try {
    await runCommand(command, { rawArgs });
    return 0;
  } catch (err) {
    if (err instanceof Error && err.name === "CLIError") return reportError(new BeamstalkError("usage", err.message, "add --help for usage"));
    return reportError(err);
  }
}

process.exitCode = await main(process.argv.slice(2));
