// The reader's language: chosen from the browser's languages, switchable, remembered
// for the tab (sessionStorage), and applied to <html lang>. `useI18n()` gives the
// texts and the locale's formats of money, dates and counts.
import { useMemo } from 'react';
import { formatCount, formatDate, formatDateTime, formatMoney } from './format';
import { en, es, pt, type MessageKey, type Messages } from './messages';
import { readSession, writeSession } from './persist';
import { createStore, useStore } from './store';

export type Language = 'en' | 'es' | 'pt';

interface LanguageInfo {
  code: Language;
  /** The language's name in itself, as the selector shows it. */
  name: string;
  /** BCP 47 tag for <html lang> and Intl: the product's customers are Brazilian. */
  locale: string;
}

export const LANGUAGES: readonly LanguageInfo[] = [
  { code: 'en', name: 'English', locale: 'en' },
  { code: 'es', name: 'Español', locale: 'es' },
  { code: 'pt', name: 'Português', locale: 'pt-BR' },
];

const CATALOGS: Record<Language, Messages> = { en, es, pt };
const STORAGE_KEY = 'cg.language';

function isLanguage(value: unknown): value is Language {
  return value === 'en' || value === 'es' || value === 'pt';
}

function initialLanguage(): Language {
  const remembered = readSession<string>(STORAGE_KEY);
  if (isLanguage(remembered)) return remembered;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const primary = tag.toLowerCase().split('-')[0];
    if (isLanguage(primary)) return primary;
  }
  return 'en';
}

export const language = createStore<Language>(initialLanguage());

export function setLanguage(next: Language): void {
  writeSession(STORAGE_KEY, next);
  language.set(next);
}

export function localeOf(code: Language): string {
  return LANGUAGES.find((info) => info.code === code)?.locale ?? 'en';
}

export type Vars = Record<string, string | number>;

export function translate(code: Language, key: MessageKey, vars?: Vars): string {
  const text = CATALOGS[code][key];
  return vars ? text.replace(/\{(\w+)\}/g, (whole, name: string) => String(vars[name] ?? whole)) : text;
}

export interface I18n {
  language: Language;
  locale: string;
  t(key: MessageKey, vars?: Vars): string;
  money(amount: string, currency: string): string;
  date(date: string): string;
  dateTime(dateTime: string): string;
  count(count: number): string;
  /** "1 invoice", "12 invoices". */
  invoices(count: number): string;
}

export function useI18n(): I18n {
  const code = useStore(language);
  return useMemo(() => {
    const locale = localeOf(code);
    const plural = new Intl.PluralRules(locale);
    return {
      language: code,
      locale,
      t: (key, vars) => translate(code, key, vars),
      money: (amount, currency) => formatMoney(amount, currency, locale),
      date: (date) => formatDate(date, locale),
      dateTime: (dateTime) => formatDateTime(dateTime, locale),
      count: (count) => formatCount(count, locale),
      invoices: (count) =>
        translate(code, plural.select(count) === 'one' ? 'invoicesOne' : 'invoicesOther', {
          count: formatCount(count, locale),
        }),
    };
  }, [code]);
}
