import type { ArgsDef } from "citty";
import { COMMANDS } from "./index.ts";

/**
 * The README's command reference, rendered from the command definitions.
 * A test keeps README.md equal to this; `npm run readme:commands` prints it.
 */
export function commandReference(): string {
  const rows = COMMANDS.map((spec) => {
    const args = Object.entries((spec.args ?? {}) as ArgsDef);
    const positionals = args.filter(([, a]) => a.type === "positional").map(([name, a]) => (a.required ? name.toUpperCase() : `[${name.toUpperCase()}]`));
    const usage = ["beamstalk", spec.name, ...positionals, ...(spec.variadic ? [spec.variadic] : [])].join(" ");
    const flags = [
      ...args.filter(([, a]) => a.type !== "positional").map(([name, a]) => [name, ...longAliases(a)].map((n) => `--${n}`).join("/")),
      ...(spec.app ? ["-a/--app"] : []),
      ...(spec.data ? ["--json"] : []),
    ];
    const cells = [`\`${usage}\``, (spec.aliases ?? []).map((a) => `\`${a}\``).join(", "), flags.map((f) => `\`${f}\``).join(" "), spec.description];
    return `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  });
  return ["| command | alias | flags | what it does |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** A flag's other long names (GIGALIXIR's spelling, e.g. --migration_app_name). */
function longAliases(arg: ArgsDef[string]): string[] {
  return ["alias" in arg && arg.alias ? arg.alias : []].flat().filter((a) => a.length > 1);
}

if (import.meta.main) console.log(commandReference());
