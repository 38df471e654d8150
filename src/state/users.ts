import type { Database } from "bun:sqlite";
import { type Clock, isoNow } from "./clock.ts";

export interface User {
  id: number;
  email: string;
  isAdmin: boolean;
  createdAt: string;
}

interface UserRow {
  id: number;
  email: string;
  password_hash: string;
  is_admin: number;
  created_at: string;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  email: row.email,
  isAdmin: row.is_admin === 1,
  createdAt: row.created_at,
});

export class Users {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  count(): number {
    return (this.db.query("SELECT count(*) AS n FROM users").get() as { n: number }).n;
  }

  create(input: { email: string; passwordHash: string; isAdmin: boolean }): User {
    const row = this.db
      .query("INSERT INTO users (email, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?) RETURNING *")
      .get(input.email, input.passwordHash, input.isAdmin ? 1 : 0, isoNow(this.clock)) as UserRow;
    return toUser(row);
  }

  byId(id: number): User | null {
    const row = this.db.query("SELECT * FROM users WHERE id = ?").get(id) as UserRow | null;
    return row ? toUser(row) : null;
  }

  byEmail(email: string): User | null {
    const row = this.db.query("SELECT * FROM users WHERE email = ?").get(email) as UserRow | null;
    return row ? toUser(row) : null;
  }

  passwordHash(id: number): string | null {
    const row = this.db.query("SELECT password_hash FROM users WHERE id = ?").get(id) as { password_hash: string } | null;
    return row?.password_hash ?? null;
  }

  setPasswordHash(id: number, passwordHash: string): void {
    this.db.query("UPDATE users SET password_hash = ? WHERE id = ?").run(passwordHash, id);
  }

  adminCount(): number {
    return (this.db.query("SELECT count(*) AS n FROM users WHERE is_admin = 1").get() as { n: number }).n;
  }

  /**
   * Removes the account: its API keys, SSH keys, app access, MFA and its own usage
   * statements go with it (activity and releases keep their rows, without the user).
   * The caller checks first that it owns no app.
   */
  destroy(id: number): void {
    this.db.transaction(() => {
      this.db.query("DELETE FROM usage_periods WHERE owner_id = ?").run(id);
      this.db.query("DELETE FROM users WHERE id = ?").run(id);
    })();
  }
}
