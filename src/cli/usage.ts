import { command } from "./define.ts";
import { info, printTable } from "./output.ts";

interface LineJson {
  app: string;
  process: string;
  replica_size_seconds: number;
  amount: string | null;
}
interface ReportJson {
  from: string;
  to: string;
  price: string | null;
  currency: string | null;
  lines: LineJson[];
  replica_size_seconds: number;
  amount: string | null;
}
interface StatementJson extends ReportJson {
  month: string;
}

const money = (r: { amount: string | null; currency: string | null }, amount: string | null) => (amount === null ? "-" : `${amount} ${r.currency}`);

function printReport(report: ReportJson): void {
  const rows = report.lines.map((l) => ({ app: l.app, process: l.process, "replica-size-seconds": l.replica_size_seconds, amount: money(report, l.amount) }));
  rows.push({ app: "total", process: "", "replica-size-seconds": report.replica_size_seconds, amount: money(report, report.amount) });
  printTable(rows, ["app", "process", "replica-size-seconds", "amount"]);
}

export const accountUsage = command({
  name: "account:usage",
  aliases: ["current_period_usage"],
  description: "Your usage this month so far: replica-size-seconds and amount per app and process",
  data: true,
  async run(_args, cli) {
    const report = await cli.client().get<ReportJson>("/api/account/usage");
    cli.print(report, () => {
      info(`Usage from ${report.from} to ${report.to}${report.price === null ? " (no price set)" : `, at ${report.price} ${report.currency} per replica-size-second`}:`);
      printReport(report);
    });
  },
});

export const accountInvoices = command({
  name: "account:invoices",
  aliases: ["invoices"],
  description: "Your statements for earlier months with usage, newest first",
  data: true,
  async run(_args, cli) {
    const statements = await cli.client().get<StatementJson[]>("/api/account/invoices");
    cli.print(statements, () => {
      if (statements.length === 0) info("No usage in earlier months.");
      statements.forEach((s, i) => {
        if (i > 0) process.stdout.write("\n");
        process.stdout.write(`${s.month}: ${money(s, s.amount)}\n`);
        printReport(s);
      });
    });
  },
});

export const usagePriceSet = command({
  name: "usage:price:set",
  description: "Set the price per replica-size-second (admins only), e.g. 0.00001",
  args: {
    price: { type: "positional", required: true, description: "price per replica-size-second, a decimal number" },
    currency: { type: "string", default: "USD", description: "three-letter currency code" },
  },
  async run(args, cli) {
    const res = await cli.client().request<{ price: string; currency: string }>("PUT", "/api/settings/price", { price: args.price, currency: args.currency });
    info(`Price set: ${res.price} ${res.currency} per replica-size-second.`);
  },
});
