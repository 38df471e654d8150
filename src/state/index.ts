import type { Database } from "bun:sqlite";
import { Access } from "./access.ts";
import { Activity } from "./activity.ts";
import { ApiKeys } from "./api-keys.ts";
import { Apps } from "./apps.ts";
import { type Clock, systemClock } from "./clock.ts";
import { Config } from "./config.ts";
import { CronRuns } from "./cron-runs.ts";
import { Cipher } from "./crypto.ts";
import { Drains } from "./drains.ts";
import { Formation } from "./formation.ts";
import { Certificates } from "./certificates.ts";
import { Domains } from "./domains.ts";
import { Backups } from "./backups.ts";
import { Databases } from "./databases.ts";
import { Invites } from "./invites.ts";
import { Maintenance } from "./maintenance.ts";
import { Mfa } from "./mfa.ts";
import { Revivals } from "./revivals.ts";
import { Releases } from "./releases.ts";
import { Settings } from "./settings.ts";
import { SlugTokens } from "./slug-tokens.ts";
import { SshKeys } from "./ssh-keys.ts";
import { Usage } from "./usage.ts";
import { Users } from "./users.ts";

/** Every repository, built over one database. The daemon builds this once, in boot.ts. */
export interface State {
  db: Database;
  users: Users;
  apiKeys: ApiKeys;
  /** Each account's second factor (TOTP, recovery codes) and the server's requirement of it. */
  mfa: Mfa;
  invites: Invites;
  apps: Apps;
  access: Access;
  config: Config;
  releases: Releases;
  activity: Activity;
  sshKeys: SshKeys;
  formation: Formation;
  /** Each app.json cron entry's runs. */
  cronRuns: CronRuns;
  domains: Domains;
  certificates: Certificates;
  databases: Databases;
  backups: Backups;
  maintenance: Maintenance;
  revivals: Revivals;
  usage: Usage;
  /** Log drain URLs, encrypted. */
  drains: Drains;
  settings: Settings;
  /** Per-release tokens replicas download their slug with (keyed from master.key; nothing stored). */
  slugTokens: SlugTokens;
  /** Runs fn in one transaction. */
  transaction<T>(fn: () => T): T;
}

export function createState(db: Database, masterKey: Uint8Array, clock: Clock = systemClock): State {
  const cipher = new Cipher(masterKey);
  const activity = new Activity(db, clock);
  const releases = new Releases(db, clock, cipher);
  const settings = new Settings(db);
  return {
    db,
    users: new Users(db, clock),
    apiKeys: new ApiKeys(db, clock),
    mfa: new Mfa(db, clock, cipher, settings),
    invites: new Invites(db, clock),
    apps: new Apps(db, clock, cipher, activity),
    access: new Access(db, clock, activity),
    config: new Config(db, cipher, releases, activity),
    releases,
    activity,
    sshKeys: new SshKeys(db, clock),
    formation: new Formation(db),
    cronRuns: new CronRuns(db, clock),
    domains: new Domains(db, clock, activity),
    certificates: new Certificates(db, clock, cipher),
    databases: new Databases(db, clock, cipher),
    backups: new Backups(db, clock),
    maintenance: new Maintenance(db, activity),
    revivals: new Revivals(db),
    usage: new Usage(db, clock),
    drains: new Drains(db, clock, cipher),
    settings,
    slugTokens: new SlugTokens(masterKey),
    transaction: (fn) => db.transaction(fn)(),
  };
}

export type { App, Role } from "./apps.ts";
export type { Release } from "./releases.ts";
export type { User } from "./users.ts";
export type { MfaStatus, SecondFactorRefusal } from "./mfa.ts";
