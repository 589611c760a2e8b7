// A table's horizontal scroller (wide tables on a phone). When, and only when, it
// actually scrolls, it becomes focusable (and named) so the keyboard can scroll it.
import { useLayoutEffect, useRef, useState, type ReactNode } from 'react';

export function TableScroll({ label, className, children }: { label: string; className?: string; children: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrolls, setScrolls] = useState(false);

  useLayoutEffect(() => {
    const element = ref.current;
    if (!element) return;
    const check = () =>
      setScrolls(element.scrollWidth > element.clientWidth + 1 || element.scrollHeight > element.clientHeight + 1);
    const observer = new ResizeObserver(check);
    observer.observe(element);
    if (element.firstElementChild) observer.observe(element.firstElementChild);
    check();
    return () => observer.disconnect();
  }, []);

  return (
    <div
      ref={ref}
      className={className ? `table-scroll ${className}` : 'table-scroll'}
      tabIndex={scrolls ? 0 : undefined}
      role={scrolls ? 'group' : undefined}
      aria-label={scrolls ? label : undefined}
    >
      {children}
    </div>
  );
}
