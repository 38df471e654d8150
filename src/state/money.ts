import { badRequest } from "../lib/errors.ts";

/**
 * Money without floating point: a price per replica-size-second is kept as the
 * decimal string the admin gave (at most 12 decimals), amounts are integer
 * micro-units of the currency (1 USD = 1,000,000).
 */
const PRICE = /^(0|[1-9]\d{0,8})(\.\d{1,12})?$/;
const CURRENCY = /^[A-Z]{3}$/;

export interface Price {
  /** Per replica-size-second, as a decimal string such as "0.00001". */
  perReplicaSizeSecond: string;
  /** ISO 4217 code such as "USD". */
  currency: string;
}

export function checkPrice(value: unknown): string {
  if (typeof value !== "string" || !PRICE.test(value)) {
    throw badRequest("the price must be a decimal number such as 0.00001 (at most 12 decimals)", "give it as a string, per replica-size-second");
  }
  return value;
}

export function checkCurrency(value: unknown): string {
  const code = typeof value === "string" ? value.toUpperCase() : "";
  if (!CURRENCY.test(code)) throw badRequest("the currency must be a three-letter code such as USD");
  return code;
}

/** The price in 10⁻¹² currency units per replica-size-second. */
export function pricePico(price: string): bigint {
  const [whole, fraction = ""] = checkPrice(price).split(".");
  return BigInt(whole!) * 10n ** 12n + BigInt(fraction.padEnd(12, "0"));
}

/**
 * What usage costs, in micro-units, rounded half up: units are 10⁻⁶
 * replica-size-seconds, the price 10⁻¹² per replica-size-second.
 */
export function amountMicros(units: bigint, price: string): bigint {
  return (units * pricePico(price) + 500_000_000_000n) / 1_000_000_000_000n;
}

/** Micro-units as a decimal string with at least two decimals: 13392000 → "13.392", 5000000 → "5.00". */
export function formatMoney(micros: bigint): string {
  const sign = micros < 0n ? "-" : "";
  const abs = micros < 0n ? -micros : micros;
  const fraction = (abs % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "").padEnd(2, "0");
  return `${sign}${abs / 1_000_000n}.${fraction}`;
}
