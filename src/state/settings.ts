import type { Database } from "bun:sqlite";

/** Server-wide settings that outlive a restart (the settings table; usage prices live there too). */
export class Settings {
  constructor(private readonly db: Database) {}

  get(key: string): string | null {
    return (this.db.query("SELECT value FROM settings WHERE key = ?").get(key) as { value: string } | null)?.value ?? null;
  }

  set(key: string, value: string): void {
    this.db.query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }
}
