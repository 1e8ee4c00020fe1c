/**
 * A small History-API router: real paths (the manager answers index.html for any non-API path), links
 * that are real anchors (open in a new tab works), and a store React reads with useSyncExternalStore.
 */
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

export type Route =
  | { name: 'fleet' }
  | { name: 'vehicle'; id: string }
  | { name: 'log' }
  | { name: 'firmware' }
  | { name: 'notFound'; path: string };

/** Paths of the views. */
export const paths = {
  fleet: '/',
  vehicle: (id: string) => `/vehicles/${encodeURIComponent(id)}`,
  log: '/diag-log',
  firmware: '/firmware',
} as const;

export function parseRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { name: 'fleet' };
  if (pathname === paths.log) return { name: 'log' };
  if (pathname === paths.firmware) return { name: 'firmware' };
  const m = /^\/vehicles\/([^/]+)\/?$/.exec(pathname);
  if (m?.[1] !== undefined) {
    try {
      return { name: 'vehicle', id: decodeURIComponent(m[1]) };
    } catch {
      return { name: 'notFound', path: pathname };
    }
  }
  return { name: 'notFound', path: pathname };
}

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Go to `path` (pushes a history entry) and move focus to the main content for screen readers. */
export function navigate(path: string): void {
  if (path === location.pathname) return;
  history.pushState(null, '', path);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
  document.getElementById('main')?.focus({ preventScroll: true });
}

/** The current pathname; re-renders on navigation. */
export function usePathname(): string {
  return useSyncExternalStore(subscribe, () => location.pathname);
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { to: string; children: ReactNode };

/** An anchor that navigates in place on a plain click and behaves as a normal link otherwise. */
export function Link({ to, children, onClick, ...rest }: LinkProps) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={handle} {...rest}>
      {children}
    </a>
  );
}
