import { describe, expect, test } from "bun:test";
import { amountMicros, checkCurrency, checkPrice, formatMoney, pricePico } from "./money.ts";

describe("money", () => {
  test("prices are decimal strings with at most 12 decimals", () => {
    expect(checkPrice("0.00001")).toBe("0.00001");
    expect(checkPrice("2")).toBe("2");
    expect(pricePico("0.00001")).toBe(10_000_000n);
    expect(pricePico("1.5")).toBe(1_500_000_000_000n);
    for (const bad of ["", "-1", "1e-5", "0.0000000000001", ".5", "01", "abc", 0.00001]) expect(() => checkPrice(bad)).toThrow(/decimal number/);
  });

  test("currencies are three-letter codes, upper-cased", () => {
    expect(checkCurrency("eur")).toBe("EUR");
    expect(() => checkCurrency("dollars")).toThrow(/three-letter/);
  });

  test("amounts are exact micro-units, rounded half up", () => {
    // 1,339,200 replica-size-seconds at 0.00001 = 13.392
    expect(amountMicros(1_339_200_000_000n, "0.00001")).toBe(13_392_000n);
    // 0.1 + 0.2 style sums stay exact
    expect(amountMicros(3n * 1_000_000n, "0.1")).toBe(300_000n);
    // 1 replica-size-second at 0.0000015 → 1.5 micro-units → 2
    expect(amountMicros(1_000_000n, "0.0000015")).toBe(2n);
    expect(amountMicros(1_000_000n, "0.0000014")).toBe(1n);
  });

  test("formatMoney keeps at least two decimals and drops trailing zeros", () => {
    expect(formatMoney(13_392_000n)).toBe("13.392");
    expect(formatMoney(5_000_000n)).toBe("5.00");
    expect(formatMoney(1n)).toBe("0.000001");
    expect(formatMoney(0n)).toBe("0.00");
  });
});
