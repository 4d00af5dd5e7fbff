// Where the refresh token waits between page loads: IndexedDB, encrypted (AES-GCM) with a
// key the browser created as non-extractable. Script on this origin can use the key while
// the page is open, but cannot read it out: the token never sits anywhere in the clear
// (not in localStorage, not on disk), and a copied database is useless elsewhere. This is
// how OIDC client libraries keep a session across reloads and tabs (docs/WEB.md).

const DB = 'abev';
const STORE = 'session';
const KEY = 'refresh';

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transact(mode, work) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** Keeps `refreshToken` (encrypted) for the next load or tab. */
export async function saveRefreshToken(refreshToken) {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(refreshToken));
  await transact('readwrite', (store) => store.put({ key, iv, data }, KEY));
}

/** The kept refresh token, or null. */
export async function loadRefreshToken() {
  try {
    const record = await transact('readonly', (store) => store.get(KEY));
    if (!record) return null;
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: record.iv }, record.key, record.data);
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}

export async function clearRefreshToken() {
  try {
    await transact('readwrite', (store) => store.delete(KEY));
  } catch {
    // Nothing kept, or no IndexedDB (a private window): nothing to forget.
  }
}
