import { access, accessAdd, accessRemove } from "./access.ts";
import { account, accountDestroy, apiKeyReset, invitesCreate, login, logout, passwordChange, signup } from "./account.ts";
import { apps, appsActivity, appsCreate, appsDestroy, appsInfo, gitRemote } from "./apps.ts";
import { config, configCopy, configSet, configUnset } from "./config.ts";
import { cron, cronRun } from "./cron.ts";
import type { CommandSpec } from "./define.ts";
import { drains, drainsAdd, drainsRemove } from "./drains.ts";
import { logs } from "./logs.ts";
import { maintenance, maintenanceOff, maintenanceOn } from "./maintenance.ts";
import { mfaActivate, mfaDeactivate, mfaRecoveryCodes, mfaRequire } from "./mfa.ts";
import { open } from "./open.ts";
import { nodes, nodesActivate, nodesAdd, nodesDrain, nodesImage, nodesRemove } from "./nodes.ts";
import { certsAdd, certsRemove, certsRenew, domains, domainsAdd, domainsRemove } from "./domains.ts";
import { pg, pgBackups, pgBackupsCapture, pgBackupsDownload, pgBackupsRestore, pgCreate, pgDestroy, pgPsql, pgReadReplicas, pgReadReplicasCreate, pgRestart, pgScale, pgStart, pgStop, pgUpgrade } from "./postgres.ts";
import { ps, psKill, psRestart, psScale } from "./ps.ts";
import { psObserver } from "./ps-observer.ts";
import { psDistillery, psEval, psMigrate, psRemoteConsole, psRpc, psSsh } from "./ps-remote.ts";
import { releasesInfo } from "./release-info.ts";
import { releases, releasesRollback } from "./releases.ts";
import { run } from "./run.ts";
import { upgrade, version } from "./server.ts";
import { sshKeys, sshKeysAdd, sshKeysRemove } from "./ssh-keys.ts";
import { accountInvoices, accountUsage, usagePriceSet } from "./usage.ts";

/** Every CLI command, in the order `beamstalk --help` lists them. The README's reference is checked against this. */
export const COMMANDS: CommandSpec<any>[] = [
  signup, login, logout, account, apiKeyReset, passwordChange, invitesCreate, accountDestroy,
  mfaActivate, mfaDeactivate, mfaRecoveryCodes, mfaRequire,
  sshKeys, sshKeysAdd, sshKeysRemove,
  apps, appsCreate, appsInfo, appsDestroy, appsActivity, gitRemote, open,
  access, accessAdd, accessRemove,
  config, configSet, configUnset, configCopy,
  releases, releasesRollback,
  releasesInfo, logs, drains, drainsAdd, drainsRemove,
  ps, psScale, psRestart, psKill,
  psSsh, psRemoteConsole, psRpc, psEval, psMigrate, psObserver, psDistillery,
  run,
  cron, cronRun,
  maintenance, maintenanceOn, maintenanceOff,
  accountUsage, accountInvoices, usagePriceSet,
  pg, pgCreate, pgScale, pgRestart, pgStop, pgStart, pgUpgrade, pgDestroy, pgBackups, pgBackupsCapture, pgBackupsRestore, pgBackupsDownload, pgReadReplicasCreate, pgReadReplicas, pgPsql,
  domains, domainsAdd, domainsRemove, certsAdd, certsRenew, certsRemove,
  nodes, nodesAdd, nodesImage, nodesDrain, nodesActivate, nodesRemove,
  version, upgrade,
];
