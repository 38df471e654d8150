import { randomInt } from "node:crypto";

const ADJECTIVES = [
  "quiet", "bold", "calm", "brave", "bright", "crisp", "damp", "eager", "fancy", "gentle",
  "hidden", "icy", "jolly", "keen", "lively", "misty", "noble", "odd", "proud", "rapid",
  "silent", "tidy", "vast", "warm", "young", "zesty", "amber", "golden", "rustic", "sunny",
];
const NOUNS = [
  "river", "meadow", "forest", "harbor", "canyon", "glade", "summit", "brook", "island", "prairie",
  "valley", "ridge", "lagoon", "grove", "delta", "marsh", "cliff", "dune", "fjord", "tundra",
  "cedar", "falcon", "otter", "heron", "maple", "willow", "comet", "ember", "pebble", "beacon",
];

/** A name such as `quiet-river-4821`; always matches the app name rule. */
export function generateAppName(): string {
  const pick = (list: string[]) => list[randomInt(list.length)]!;
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${randomInt(1000, 10000)}`;
}
