import { Hono } from "hono";
import { forbidden } from "../lib/errors.ts";
import type { UsageReport } from "../state/metering.ts";
import { replicaSizeSeconds } from "../state/metering.ts";
import { type Price, amountMicros, formatMoney } from "../state/money.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, readJson } from "./context.ts";

/**
 * Metered usage and what it costs: the caller's own account only (deleted apps
 * included), and the price, which admins set. Amounts are exact decimal
 * strings; each line is rounded to a millionth, the total is the sum of the lines.
 */
export function usageRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { usage } = deps.state;
  const auth = requireUser(deps);

  r.get("/account/usage", auth, (c) => c.json(reportJson(usage.currentMonth(c.var.user.id), usage.price())));

  r.get("/account/invoices", auth, (c) => {
    const price = usage.price();
    return c.json(usage.statements(c.var.user.id).map((s) => ({ month: s.month, ...reportJson(s, price) })));
  });

  r.get("/settings/price", auth, (c) => c.json(priceJson(usage.price())));

  r.put("/settings/price", auth, async (c) => {
    if (!c.var.user.isAdmin) throw forbidden("only admins can set the price", "ask an admin of this server");
    const body = await readJson(c);
    const price = usage.setPrice(body.price as string, (body.currency as string | undefined) ?? "USD");
    deps.logger.info("settings.price", { by: c.var.user.email, price: price.perReplicaSizeSecond, currency: price.currency });
    return c.json(priceJson(price));
  });

  return r;
}

const priceJson = (price: Price | null) => ({ price: price?.perReplicaSizeSecond ?? null, currency: price?.currency ?? null });

/** A report with amounts; with no price set, amounts are null. */
export function reportJson(report: UsageReport, price: Price | null) {
  const amount = (units: bigint) => (price ? amountMicros(units, price.perReplicaSizeSecond) : null);
  const lines = report.lines.map((l) => ({ app: l.app, process: l.process, replica_size_seconds: replicaSizeSeconds(l.units), micros: amount(l.units) }));
  const total = price ? lines.reduce((sum, l) => sum + l.micros!, 0n) : null;
  return {
    from: report.from.toISOString(),
    to: report.to.toISOString(),
    ...priceJson(price),
    lines: lines.map(({ micros, ...l }) => ({ ...l, amount: micros === null ? null : formatMoney(micros) })),
    replica_size_seconds: replicaSizeSeconds(report.units),
    amount: total === null ? null : formatMoney(total),
  };
}
