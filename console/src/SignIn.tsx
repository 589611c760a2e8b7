// Sign-in: through the identity provider when single sign-on is configured, a pasted
// token, or in demo mode one click as the demo admin or customer. Shown instead of the
// screen when signed out, and above the kept screen when the session ends.
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { signIn } from './auth';
import type { DemoTokens, SsoConfig } from './config';
import { useI18n } from './i18n';
import { finishSso, isSsoReturn, STATE_MISMATCH, startSso, type SsoOutcome } from './sso';
import { checkToken } from './transport';

interface SignInProps {
  demo: DemoTokens | null;
  sso: SsoConfig | null;
  /** Why the form is back (the session ended), if it is. */
  notice: string | null;
}

export function SignIn({ demo, sso, notice }: SignInProps) {
  const { t } = useI18n();
  const id = useId();
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  // Kept as the outcome, not as text, so that it follows a change of language.
  const [ssoProblem, setSsoProblem] = useState<Exclude<SsoOutcome, { kind: 'signed-in' }> | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  // When the session ends, the form appears above the screen: take the reader to it.
  useEffect(() => {
    if (notice) input.current?.focus();
  }, [notice]);

  // Back from the identity provider: trade the code for a token.
  useEffect(() => {
    if (!sso || !isSsoReturn()) return;
    setBusy(true);
    void finishSso(sso).then((outcome) => {
      setBusy(false);
      if (outcome.kind !== 'signed-in') setSsoProblem(outcome);
    });
  }, [sso]);

  async function signInWithSso() {
    if (!sso) return;
    setBusy(true);
    setSsoProblem(null);
    try {
      await startSso(sso);
    } catch (error) {
      setBusy(false);
      setSsoProblem({ kind: 'failed', message: (error as Error).message });
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const candidate = token.trim();
    if (!candidate) {
      setProblem(t('tokenRequired'));
      return;
    }
    setBusy(true);
    setProblem(null);
    const outcome = await checkToken(candidate);
    setBusy(false);
    if (outcome.verdict === 'accepted') signIn(candidate);
    else setProblem(outcome.verdict === 'refused' ? t('tokenRefused') : outcome.message);
  }

  return (
    <section className="card signin" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{t('signInTitle')}</h2>
      {notice ? (
        <p className="notice notice-warning" role="alert">
          {notice}
        </p>
      ) : (
        <p className="muted">{t('signInIntro')}</p>
      )}
      {sso ? (
        <div className="button-row sso">
          <button type="button" className="button button-primary" onClick={signInWithSso} disabled={busy}>
            {t('signInSso')}
          </button>
          <span className="muted">{t('orPasteToken')}</span>
        </div>
      ) : null}
      {ssoProblem ? (
        <p className="notice notice-warning" role="alert">
          {ssoProblem.kind === 'refused'
            ? t('ssoRefused')
            : t('ssoFailed', { reason: ssoProblem.message === STATE_MISMATCH ? t('ssoStateMismatch') : ssoProblem.message })}
        </p>
      ) : null}
      <form className="stack" onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor={`${id}-token`}>{t('token')}</label>
          <input
            ref={input}
            id={`${id}-token`}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={token}
            onChange={(event) => setToken(event.target.value)}
            aria-invalid={problem ? true : undefined}
            aria-describedby={problem ? `${id}-problem` : undefined}
          />
          {problem ? (
            <p id={`${id}-problem`} className="field-error">
              {problem}
            </p>
          ) : null}
        </div>
        <div className="button-row">
          <button type="submit" className="button button-primary" disabled={busy}>
            {t('signIn')}
          </button>
          {busy ? <span role="status">{t('signingIn')}</span> : null}
        </div>
      </form>
      {demo ? (
        <div className="demo">
          <p className="muted">{t('demoHint')}</p>
          <div className="button-row">
            <button type="button" className="button" onClick={() => signIn(demo.admin)}>
              {t('signInDemoAdmin')}
            </button>
            <button type="button" className="button" onClick={() => signIn(demo.customer)}>
              {t('signInDemoCustomer')}
            </button>
          </div>
        </div>
      ) : null}
    </section>
  );
}
