/**
 * What to do when the API is not usable: a wrong or missing token (with a field to paste one), or a
 * manager that does not answer. Shown above every view.
 */
import { useState, useSyncExternalStore, type FormEvent } from 'react';
import { connectionStore } from '../api/client';
import { setToken } from '../auth';
import { Notice } from './ui';

function TokenForm() {
  const [value, setValue] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim().length > 0) setToken(value);
  };
  return (
    <form className="token-form" onSubmit={submit}>
      <label htmlFor="api-token">API token</label>
      <input
        id="api-token"
        type="password"
        autoComplete="off"
        spellCheck={false}
        value={value}
        onChange={(e) => setValue(e.target.value)}
        placeholder="64 hex digits from <data>/manager/api-token"
      />
      <button type="submit" className="btn btn-primary" disabled={value.trim().length === 0}>
        Use token
      </button>
    </form>
  );
}

export function AuthBanner() {
  const conn = useSyncExternalStore(connectionStore.subscribe, connectionStore.get);
  if (conn.state === 'unauthorized') {
    return (
      <div className="banner">
        <Notice tone="bad" title="Token missing or wrong: open the URL printed by ota up">
          <p>
            The manager refused this dashboard's API token (HTTP 401). Open the address <code className="mono">ota up</code> printed, ending in{' '}
            <code className="mono">#token=…</code>, or paste the token from <code className="mono">&lt;data&gt;/manager/api-token</code>:
          </p>
          <TokenForm />
        </Notice>
      </div>
    );
  }
  if (conn.state === 'unreachable') {
    return (
      <div className="banner">
        <Notice tone="bad" title="Manager unreachable">
          <p>
            No answer from the manager at <code className="mono">{location.origin}</code> ({conn.detail ?? 'connection failed'}). Is{' '}
            <code className="mono">ota up</code> still running? The dashboard keeps retrying.
          </p>
        </Notice>
      </div>
    );
  }
  return null;
}
