// The page: header, the "unavailable" banner, the one <h1>, and either the sign-in or
// the screen of this address (/console or /my-credits; no router needed for two).
import { useEffect, type ReactNode } from 'react';
import { session, useSession } from './auth';
import type { PageConfig } from './config';
import { ConsolePage } from './console/ConsolePage';
import { Header, type Page } from './Header';
import { useHealth } from './health';
import { useI18n } from './i18n';
import { MyCreditsPage } from './my-credits/MyCreditsPage';
import { SignIn } from './SignIn';
import { client } from './transport';

export function pageOf(pathname: string): Page {
  return pathname.replace(/\/+$/, '') === '/my-credits' ? 'my-credits' : 'console';
}

export function App({ config, page }: { config: PageConfig; page: Page }) {
  const { t, locale } = useI18n();
  const current = useSession();
  const { reachable, live } = useHealth();
  const title = page === 'console' ? t('consoleTitle') : t('myCreditsTitle');

  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);
  useEffect(() => {
    document.title = `${title} · ${t('appName')}`;
  }, [title, t]);
  // Back to this tab: what the live feed does not carry (a new payment link, an
  // observation) may have changed meanwhile.
  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState === 'visible' && session.get().state === 'signed-in') {
        void client.refetchQueries({ include: 'active' }).catch(() => undefined);
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, []);

  return (
    <>
      <Header page={page} />
      <main id="main" className="main" tabIndex={-1}>
        {reachable ? null : (
          <p className="banner" role="alert">
            {t('unavailable')}
          </p>
        )}
        <div className="page-head">
          <h1>{title}</h1>
          {current.state === 'signed-in' && (live === 'live' || live === 'lost') ? (
            <span className={`live live-${live}`}>{live === 'live' ? t('live') : t('reconnecting')}</span>
          ) : null}
        </div>
        {current.state === 'signed-in' ? null : (
          <SignIn demo={config.demo} sso={config.sso} notice={current.state === 'expired' ? t('sessionEnded') : null} />
        )}
        {current.state === 'signed-out' ? null : (
          // Stays mounted, and in view, while the session is renewed above it: filters,
          // the open invoice and anything typed are all still there after signing in.
          <RoleGate page={page}>{page === 'console' ? <ConsolePage /> : <MyCreditsPage />}</RoleGate>
        )}
      </main>
    </>
  );
}

/** A customer on the console, or an admin on My Credits: point to the right screen. */
function RoleGate({ page, children }: { page: Page; children: ReactNode }) {
  const { t } = useI18n();
  const current = useSession();
  const role = current.state === 'signed-out' ? null : current.claims?.role;
  if (page === 'console' && role === 'customer') {
    return (
      <p className="notice">
        {t('adminsOnly')} <a href="/my-credits">{t('goToMyCredits')}</a>
      </p>
    );
  }
  if (page === 'my-credits' && role === 'admin') {
    return (
      <p className="notice">
        {t('customersOnly')} <a href="/console">{t('goToConsole')}</a>
      </p>
    );
  }
  return <>{children}</>;
}
