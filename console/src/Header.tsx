import { signOut, useSession } from './auth';
import { LANGUAGES, setLanguage, useI18n, type Language } from './i18n';
import { client } from './transport';

export type Page = 'console' | 'my-credits';

export function Header({ page }: { page: Page }) {
  const { t, language } = useI18n();
  const current = useSession();

  function leave() {
    signOut();
    void client.clearStore();
  }

  return (
    <header className="topbar">
      <a className="skip-link" href="#main">
        {t('skipToContent')}
      </a>
      <span className="brand">{t('appName')}</span>
      <nav className="topnav" aria-label={t('screens')}>
        <a href="/console" aria-current={page === 'console' ? 'page' : undefined}>
          {t('navConsole')}
        </a>
        <a href="/my-credits" aria-current={page === 'my-credits' ? 'page' : undefined}>
          {t('navMyCredits')}
        </a>
      </nav>
      <div className="topbar-tools">
        <label className="language">
          <span>
            {t('language')}
            {/* The selector answers to its English name in every language. */}
            {language === 'en' ? null : <span lang="en"> / Language</span>}
          </span>
          <select value={language} onChange={(event) => setLanguage(event.target.value as Language)}>
            {LANGUAGES.map((info) => (
              <option key={info.code} value={info.code} lang={info.locale}>
                {info.name}
              </option>
            ))}
          </select>
        </label>
        {current.state === 'signed-in' ? (
          <>
            {current.claims?.subject ? (
              <span className="whoami">{t('signedInAs', { name: current.claims.subject })}</span>
            ) : null}
            <button type="button" className="button button-quiet" onClick={leave}>
              {t('signOut')}
            </button>
          </>
        ) : null}
      </div>
    </header>
  );
}
