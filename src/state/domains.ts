import type { Database } from "bun:sqlite";
import { conflict, notFound } from "../lib/errors.ts";
import type { Activity } from "./activity.ts";
import type { App } from "./apps.ts";
import { type Clock, isoNow } from "./clock.ts";

export interface DomainRecord {
  name: string;
  app: string;
  createdAt: string;
}

interface DomainRow {
  name: string;
  app: string;
  created_at: string;
}

const SELECT = "SELECT d.name, a.name AS app, d.created_at FROM domains d JOIN apps a ON a.id = d.app_id";
const toRecord = (r: DomainRow): DomainRecord => ({ name: r.name, app: r.app, createdAt: r.created_at });

/** Custom domains: each belongs to one app, and goes with it (ON DELETE CASCADE). Names are validated by the caller. */
export class Domains {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly activity: Activity,
  ) {}

  list(app: App): DomainRecord[] {
    return (this.db.query(`${SELECT} WHERE d.app_id = ? ORDER BY d.name`).all(app.id) as DomainRow[]).map(toRecord);
  }

  all(): DomainRecord[] {
    return (this.db.query(`${SELECT} ORDER BY a.name, d.name`).all() as DomainRow[]).map(toRecord);
  }

  /** The app's name that owns this domain, or null. */
  ownerOf(name: string): string | null {
    const row = this.db.query("SELECT a.name FROM domains d JOIN apps a ON a.id = d.app_id WHERE d.name = ?").get(name) as { name: string } | null;
    return row?.name ?? null;
  }

  /** Adds the domain to the app; a domain of another app is a conflict (whose, it does not say). Adding it twice is fine. */
  add(app: App, name: string, userId: number | null): DomainRecord {
    return this.db.transaction(() => {
      const owner = this.ownerOf(name);
      if (owner === app.name) return this.list(app).find((d) => d.name === name)!;
      if (owner !== null) throw conflict(`domain ${name} is already in use by another app`, "remove it from that app first (`beamstalk domains:remove`)");
      this.db.query("INSERT INTO domains (name, app_id, created_at) VALUES (?, ?, ?)").run(name, app.id, isoNow(this.clock));
      this.activity.record(app.id, userId, "domain.add", `Added domain ${name}`);
      return { name, app: app.name, createdAt: isoNow(this.clock) };
    })();
  }

  remove(app: App, name: string, userId: number | null): void {
    this.db.transaction(() => {
      const removed = this.db.query("DELETE FROM domains WHERE app_id = ? AND name = ?").run(app.id, name).changes > 0;
      if (!removed) throw notFound(`${app.name} has no domain ${name}`, "`beamstalk domains` lists them");
      this.activity.record(app.id, userId, "domain.remove", `Removed domain ${name}`);
    })();
  }

  /** Every host name the app is served at: `<app>.<baseDomain>` (when set), then its custom domains. */
  hostnamesFor(app: App | string, baseDomain?: string): string[] {
    const name = typeof app === "string" ? app : app.name;
    const custom = this.db.query("SELECT d.name FROM domains d JOIN apps a ON a.id = d.app_id WHERE a.name = ? ORDER BY d.name").all(name) as { name: string }[];
    return [...(baseDomain ? [`${name}.${baseDomain}`] : []), ...custom.map((r) => r.name)];
  }

  /** Every host name of every app: what should have a certificate (plus the controller's own host). */
  allHostnames(baseDomain?: string): string[] {
    const apps = baseDomain ? (this.db.query("SELECT name FROM apps ORDER BY name").all() as { name: string }[]).map((r) => `${r.name}.${baseDomain}`) : [];
    const custom = (this.db.query("SELECT name FROM domains ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    return [...apps, ...custom];
  }
}
