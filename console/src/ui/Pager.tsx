// Cursor paging: "Previous page" / "Next page" over a stack of `after` cursors, so each
// page is one keyset read however deep it is (no offsets, fast at a million rows).
import { useI18n } from '../i18n';

interface PagerProps {
  /** The `after` cursors of the pages visited so far; the last is the current page's. */
  stack: readonly (string | null)[];
  pageSize: number;
  shown: number;
  total: number;
  endCursor: string | null | undefined;
  hasNextPage: boolean;
  onChange: (stack: (string | null)[]) => void;
}

export function Pager({ stack, pageSize, shown, total, endCursor, hasNextPage, onChange }: PagerProps) {
  const { t, count } = useI18n();
  const first = (stack.length - 1) * pageSize + 1;
  return (
    <div className="pager" role="group" aria-label={t('pages')}>
      <span className="pager-range">
        {shown > 0 ? t('pageRange', { from: count(first), to: count(first + shown - 1), total: count(total) }) : null}
      </span>
      <button type="button" className="button" disabled={stack.length <= 1} onClick={() => onChange(stack.slice(0, -1))}>
        {t('previousPage')}
      </button>
      <button
        type="button"
        className="button"
        disabled={!hasNextPage || !endCursor}
        onClick={() => endCursor && onChange([...stack, endCursor])}
      >
        {t('nextPage')}
      </button>
    </div>
  );
}
