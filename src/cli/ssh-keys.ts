import { existsSync, readFileSync } from "node:fs";
import { BeamstalkError } from "../lib/errors.ts";
import { command } from "./define.ts";
import { info, printTable } from "./output.ts";

export const sshKeys = command({
  name: "account:ssh_keys",
  aliases: ["ssh_keys"],
  description: "List your SSH keys",
  data: true,
  async run(_args, cli) {
    const list = await cli.client().get<Record<string, unknown>[]>("/api/account/ssh_keys");
    cli.print(list, () => printTable(list, ["id", "type", "fingerprint", "comment"], "No SSH keys yet: beamstalk account:ssh_keys:add ~/.ssh/id_ed25519.pub"));
  },
});

export const sshKeysAdd = command({
  name: "account:ssh_keys:add",
  aliases: ["add_ssh_key"],
  description: "Add an SSH public key (the key line, or the path of a .pub file)",
  args: { key: { type: "positional", required: true, description: '"ssh-ed25519 AAAA…" or ~/.ssh/id_ed25519.pub' } },
  data: true,
  async run(args, cli) {
    let key = args.key;
    if (!/^(ssh-|ecdsa-)/.test(key) && existsSync(key)) key = readFileSync(key, "utf8");
    if (/PRIVATE KEY/.test(key)) throw new BeamstalkError("usage", "that is a private key: never share it", "give the .pub file instead");
    const added = await cli.client().post<Record<string, unknown>>("/api/account/ssh_keys", { key });
    cli.print(added, () => info(`Added SSH key ${added.id} (${added.fingerprint}).`));
  },
});

export const sshKeysRemove = command({
  name: "account:ssh_keys:remove",
  aliases: ["delete_ssh_key"],
  description: "Remove one of your SSH keys by its id",
  args: { id: { type: "positional", required: true, description: "the key's id from account:ssh_keys" } },
  async run(args, cli) {
    await cli.client().delete(`/api/account/ssh_keys/${encodeURIComponent(args.id)}`);
  },
});
