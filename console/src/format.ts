// Money, dates and counts in the reader's locale.
//
// Money arrives as the API's `Decimal`: an exact decimal string ("12345678901234.5678").
// It is never turned into a JS number (a float would round the last digits): the digits
// are regrouped as text, and only the locale's *symbols and layout* come from Intl
// (the group and decimal separators, where the currency sign and the minus go).
//
//   formatMoney('12050.9', 'BRL', 'pt-BR')   → 'R$ 12.050,90'
//   formatMoney('12050.9', 'BRL', 'en')      → 'R$12,050.90'
//   formatMoney('1234.5', 'BRL', 'es')       → '1234,50 R$'   (Spanish groups from 5 digits)
//   formatMoney('-0.1234', 'USD', 'en')      → '-$0.1234'     (extra decimals are kept)
//   formatMoney('12345678901234.5678', 'BRL', 'pt-BR') → 'R$ 12.345.678.901.234,5678'

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

interface NumberSymbols {
  group: string;
  decimal: string;
  /** Digits the integer part needs before it is grouped at all (1, or 2 in Spanish). */
  minimumGroupingDigits: number;
}

const symbolsCache = new Map<string, NumberSymbols>();

function numberSymbols(locale: string): NumberSymbols {
  let symbols = symbolsCache.get(locale);
  if (!symbols) {
    const format = new Intl.NumberFormat(locale);
    const parts = format.formatToParts(1234567.5);
    const group = parts.find((part) => part.type === 'group')?.value ?? ',';
    symbols = {
      group,
      decimal: parts.find((part) => part.type === 'decimal')?.value ?? '.',
      minimumGroupingDigits: format.format(1000).includes(group) ? 1 : 2,
    };
    symbolsCache.set(locale, symbols);
  }
  return symbols;
}

/** Groups an integer's digits by thousands ("1234567" → "1.234.567"). */
function groupDigits(digits: string, symbols: NumberSymbols): string {
  if (digits.length < 4 + symbols.minimumGroupingDigits - 1) return digits;
  const groups: string[] = [];
  for (let end = digits.length; end > 0; end -= 3) groups.unshift(digits.slice(Math.max(0, end - 3), end));
  return groups.join(symbols.group);
}

/** Pads the fraction to `minimum` digits and drops zeros past it ("5" → "50", "5000" → "50"). */
function fractionDigits(fraction: string, minimum: number): string {
  let digits = fraction.replace(/0+$/, '');
  while (digits.length < minimum) digits += '0';
  return digits;
}

interface ParsedDecimal {
  negative: boolean;
  integer: string;
  fraction: string;
}

function parseDecimal(value: string): ParsedDecimal | null {
  const match = DECIMAL.exec(value.trim());
  if (!match) return null;
  const integer = (match[2] ?? '0').replace(/^0+(?=\d)/, '');
  const fraction = match[3] ?? '';
  const negative = match[1] === '-' && /[1-9]/.test(integer + fraction);
  return { negative, integer, fraction };
}

/** A Decimal string with the locale's separators, exact; `minimumFraction` digits at least. */
export function formatDecimal(value: string, locale: string, minimumFraction = 0): string {
  const parsed = parseDecimal(value);
  if (!parsed) return value;
  const symbols = numberSymbols(locale);
  const fraction = fractionDigits(parsed.fraction, minimumFraction);
  return (
    (parsed.negative ? '-' : '') +
    groupDigits(parsed.integer, symbols) +
    (fraction ? symbols.decimal + fraction : '')
  );
}

/** An amount of `currency` (ISO 4217) laid out as the locale writes money, exact. */
export function formatMoney(amount: string, currency: string, locale: string): string {
  const parsed = parseDecimal(amount);
  if (!parsed) return `${amount} ${currency}`;
  let layout: Intl.NumberFormatPart[];
  let minimumFraction: number;
  try {
    const format = new Intl.NumberFormat(locale, { style: 'currency', currency });
    minimumFraction = format.resolvedOptions().minimumFractionDigits ?? 2;
    // The layout of a one: where the sign, the currency and the spaces go.
    layout = format.formatToParts(parsed.negative ? -1 : 1);
  } catch {
    // A currency code Intl does not know: the number, then the code.
    return `${formatDecimal(amount, locale, 2)} ${currency}`;
  }
  const symbols = numberSymbols(locale);
  const fraction = fractionDigits(parsed.fraction, minimumFraction);
  const number = groupDigits(parsed.integer, symbols) + (fraction ? symbols.decimal + fraction : '');
  let text = '';
  for (const part of layout) {
    if (part.type === 'integer') text += number;
    else if (part.type !== 'group' && part.type !== 'decimal' && part.type !== 'fraction') text += part.value;
  }
  return text;
}

/** A `Date` ("2026-12-03"): the calendar day itself, whatever the reader's time zone. */
export function formatDate(date: string, locale: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) return date;
  const utc = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' }).format(utc);
}

/** A `DateTime` (RFC 3339) in the reader's time zone. */
export function formatDateTime(dateTime: string, locale: string): string {
  const time = Date.parse(dateTime);
  if (Number.isNaN(time)) return dateTime;
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(time);
}

export function formatCount(count: number, locale: string): string {
  return new Intl.NumberFormat(locale).format(count);
}
