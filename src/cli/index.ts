import { access, accessAdd, accessRemove } from "./access.ts";
import { account, apiKeyReset, invitesCreate, login, logout, passwordChange, signup } from "./account.ts";
import { apps, appsActivity, appsCreate, appsDestroy, appsInfo, gitRemote } from "./apps.ts";
import { config, configCopy, configSet, configUnset } from "./config.ts";
import type { CommandSpec } from "./define.ts";
import { releases, releasesRollback } from "./releases.ts";
import { sshKeys, sshKeysAdd, sshKeysRemove } from "./ssh-keys.ts";

/** Every CLI command, in the order `beamstalk --help` lists them. The README's reference is checked against this. */
export const COMMANDS: CommandSpec<any>[] = [
  signup, login, logout, account, apiKeyReset, passwordChange, invitesCreate,
  sshKeys, sshKeysAdd, sshKeysRemove,
  apps, appsCreate, appsInfo, appsDestroy, appsActivity, gitRemote,
  access, accessAdd, accessRemove,
  config, configSet, configUnset, configCopy,
  releases, releasesRollback,
];
