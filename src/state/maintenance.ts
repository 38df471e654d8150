import type { Database } from "bun:sqlite";
import type { Activity } from "./activity.ts";
import type { App } from "./apps.ts";

/** Maintenance mode: the app keeps running, the router answers its visitors with a 503 page. */
export class Maintenance {
  constructor(private readonly db: Database, private readonly activity: Activity) {}

  isOn(app: App): boolean {
    const row = this.db.query("SELECT maintenance FROM apps WHERE id = ?").get(app.id) as { maintenance: number } | null;
    return row?.maintenance === 1;
  }

  /** Turns it on or off; records "Maintenance on/off" in the app's activity when it changed. Tells whether it did. */
  set(app: App, on: boolean, userId: number | null): boolean {
    return this.db.transaction(() => {
      const changed = this.db.query("UPDATE apps SET maintenance = ? WHERE id = ? AND maintenance <> ?").run(on ? 1 : 0, app.id, on ? 1 : 0).changes > 0;
      if (changed) this.activity.record(app.id, userId, on ? "maintenance.on" : "maintenance.off", on ? "Maintenance on" : "Maintenance off");
      return changed;
    })();
  }

  /** The names of the apps in maintenance (the daemon tells the router at boot). */
  appsOn(): string[] {
    return (this.db.query("SELECT name FROM apps WHERE maintenance = 1 ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  }
}
