// The CSV export panel: start, progress, cancel, and the file to download.

import { h, count } from '../dom.js';
import { exportCsv, fileName } from '../csv.js';
import { state } from '../ui.js';

let lastDownloadUrl = null;

export function exportPanel(siteIds, label) {
  const start = h('button', { type: 'button', class: 'secondary', id: 'export-start' }, label);
  const panel = h('section', { class: 'export', 'aria-label': 'Export' }, start);
  const progress = h('progress', { id: 'export-progress', max: '1', value: '0', 'aria-label': 'Export progress' });
  const text = h('p', { id: 'export-status', role: 'status' });
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'export-cancel' }, 'Cancel export');
  start.addEventListener('click', async () => {
    if (state.activeExport) state.activeExport.abort();
    const controller = new AbortController();
    state.activeExport = controller;
    start.disabled = true;
    cancel.disabled = false;
    panel.querySelector('.export-done')?.remove();
    progress.removeAttribute('value');
    text.textContent = 'Starting the export…';
    panel.append(progress, text, cancel);
    cancel.onclick = () => controller.abort();
    try {
      const result = await exportCsv({
        siteIds,
        signal: controller.signal,
        onProgress: ({ sites, sitesDone, rows, listed }) => {
          if (sites === null) {
            text.textContent = `Listing account sites: ${count(listed)} so far…`;
            return;
          }
          progress.max = sites;
          progress.value = sitesDone;
          text.textContent = `Exported ${count(rows)} entitlements from ${count(sitesDone)} of ${count(sites)} account site${sites === 1 ? '' : 's'}…`;
        },
      });
      if (lastDownloadUrl) URL.revokeObjectURL(lastDownloadUrl);
      lastDownloadUrl = URL.createObjectURL(result.blob);
      const name = fileName(siteIds && siteIds.length === 1 ? siteIds[0] : null);
      progress.remove();
      cancel.remove();
      text.textContent = `Export ready: ${count(result.rows)} entitlements from ${count(result.sites)} account site${result.sites === 1 ? '' : 's'}.`;
      const link = h('a', { href: lastDownloadUrl, download: name, id: 'export-download', class: 'export-done' }, `Download ${name}`);
      panel.append(link);
      link.click();
    } catch (e) {
      progress.remove();
      cancel.remove();
      if (e && e.name === 'AbortError') text.textContent = 'Export cancelled.';
      else if (e && e.status === 401) text.textContent = '';
      else text.textContent = `The export failed: ${e && e.message ? e.message : 'please try again.'}`;
    } finally {
      if (state.activeExport === controller) state.activeExport = null;
      start.disabled = false;
    }
  });
  return panel;
}
