/**
 * Add a signed release to the repository: the image file (Intel HEX, S-record or binary) and the signed
 * manifest exactly as `ota firmware sign` wrote it. The manager checks signature, signer and digest.
 */
import { useState, type FormEvent } from 'react';
import { api, describeError } from '../api/client';
import type { Firmware } from '../api/types';
import { Notice } from '../components/ui';

const MAX_IMAGE_BYTES = 40 * 1024 * 1024;

/** Bytes → strict base64 (chunked: String.fromCharCode has an argument limit). */
function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

async function readFile(input: HTMLInputElement | null): Promise<Uint8Array | undefined> {
  const f = input?.files?.[0];
  return f === undefined ? undefined : new Uint8Array(await f.arrayBuffer());
}

export function AddFirmware({ onAdded }: { onAdded: (fw: Firmware) => void }) {
  const [busy, setBusy] = useState(false);
  const [format, setFormat] = useState('');
  const [result, setResult] = useState<{ ok: true; fw: Firmware } | { ok: false; message: string } | undefined>();

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const image = await readFile(form.elements.namedItem('fw-image') as HTMLInputElement | null);
    const manifest = await readFile(form.elements.namedItem('fw-manifest') as HTMLInputElement | null);
    if (image === undefined || manifest === undefined) {
      setResult({ ok: false, message: 'Choose both the image file and its signed manifest.' });
      return;
    }
    if (image.length > MAX_IMAGE_BYTES) {
      setResult({ ok: false, message: 'The image file is larger than the manager accepts.' });
      return;
    }
    setBusy(true);
    setResult(undefined);
    try {
      const fw = await api.addFirmware({ image: toBase64(image), manifest: toBase64(manifest), ...(format === '' ? {} : { format }) });
      setResult({ ok: true, fw });
      form.reset();
      setFormat('');
      onAdded(fw);
    } catch (err) {
      setResult({ ok: false, message: describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <details className="add-firmware">
      <summary>Add a signed release…</summary>
      <form onSubmit={(e) => void submit(e)}>
        <div className="form-grid">
          <div className="field">
            <label htmlFor="fw-image">Image file</label>
            <input type="file" id="fw-image" name="fw-image" accept=".hex,.ihex,.srec,.s19,.s28,.s37,.mot,.bin" required />
          </div>
          <div className="field">
            <label htmlFor="fw-manifest">Signed manifest</label>
            <input type="file" id="fw-manifest" name="fw-manifest" required />
          </div>
          <div className="field">
            <label htmlFor="fw-format">Format</label>
            <select id="fw-format" value={format} onChange={(e) => setFormat(e.target.value)}>
              <option value="">As the manifest says</option>
              <option value="ihex">Intel HEX</option>
              <option value="srec">S-record</option>
              <option value="bin">Binary</option>
            </select>
          </div>
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {busy ? 'Uploading…' : 'Add release'}
            </button>
          </div>
        </div>
        {result?.ok === true && (
          <Notice tone="ok" title={`Release ${result.fw.version} for ${result.fw.hardwareId} added`}>
            Id {result.fw.id}, signed by {result.fw.signer.cn}.
          </Notice>
        )}
        {result?.ok === false && <Notice tone="bad" title="Release refused">{result.message}</Notice>}
      </form>
    </details>
  );
}
