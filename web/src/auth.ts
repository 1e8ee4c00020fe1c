/**
 * The API bearer token. `ota up` prints `http://127.0.0.1:8080/#token=<token>` once (first start, on a terminal): the fragment never reaches
 * the server (nor any log or Referer), the dashboard moves it into sessionStorage (this tab only, gone
 * when the tab closes) and removes it from the address bar so it is not bookmarked or shared by accident.
 */
const KEY = 'ota.apiToken';
const TOKEN_FORM = /^[0-9A-Za-z._~+/=-]{1,512}$/;

let memoryToken: string | undefined;
const listeners = new Set<() => void>();

function storage(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined; // storage disabled: keep the token in memory for this page only
  }
}

/** Take `#token=…` from the URL (if any) into the session, and clean the fragment. Call once at start. */
export function adoptTokenFromFragment(): void {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = params.get('token');
  if (token === null) return;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest.length > 0 ? `#${rest}` : ''));
  if (TOKEN_FORM.test(token)) setToken(token);
}

export function getToken(): string | undefined {
  return storage()?.getItem(KEY) ?? memoryToken;
}

/** Use `token` from now on (trimmed); an empty string forgets it. */
export function setToken(token: string): void {
  const t = token.trim();
  memoryToken = t.length > 0 ? t : undefined;
  const s = storage();
  if (t.length > 0) s?.setItem(KEY, t);
  else s?.removeItem(KEY);
  for (const l of listeners) l();
}

/** Called when the token changes (so views reload). */
export function onTokenChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
