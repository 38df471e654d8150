import { BeamstalkError } from "../lib/errors.ts";

/** Edit distance (insert, delete, substitute, swap two neighbours: 1 each), small strings only. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let cost = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cost = Math.min(cost, d[i - 2]![j - 2]! + 1);
      d[i]![j] = cost;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name nearest to a typo, if it is close enough to be what was meant. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.min(3, Math.floor(name.length / 3)));
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance <= limit && (!best || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/** `error: unknown command "x"`, with a close match as the hint when there is one. */
export function unknownCommand(name: string, known: readonly string[]): BeamstalkError {
  const near = closestName(name, known);
  return new BeamstalkError(
    "usage",
    `unknown command ${JSON.stringify(name)}`,
    near ? `did you mean \`beamstalk ${near}\`? \`beamstalk --help\` lists the commands` : "`beamstalk --help` lists the commands",
  );
}
