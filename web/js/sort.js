// Sortable columns: a button in each sortable header; the rows already loaded are sorted
// in place (a cell's data-sort value, else its text), aria-sort says the order. Rows
// appended later (Show more) take their place with resort().

/** Makes the columns `sortable` (indexes) of `tbl` sortable. Returns {resort()}. */
export function sortable(tbl, sortableColumns) {
  const headers = [...tbl.tHead.rows[0].cells];
  let by = null;
  let ascending = true;
  const value = (tr) => {
    const cell = tr.cells[by];
    return cell ? (cell.dataset.sort ?? cell.textContent.trim()) : '';
  };
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  const compare = (a, b) => {
    const x = value(a);
    const y = value(b);
    const nx = Number(x);
    const ny = Number(y);
    const c = x !== '' && y !== '' && !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : collator.compare(x, y);
    return ascending ? c : -c;
  };
  const resort = () => {
    if (by === null) return;
    const body = tbl.tBodies[0];
    body.append(...[...body.rows].sort(compare));
  };
  for (const i of sortableColumns) {
    const th = headers[i];
    const label = th.textContent;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sort';
    button.textContent = label;
    th.replaceChildren(button);
    button.addEventListener('click', () => {
      ascending = by === i ? !ascending : true;
      by = i;
      for (const other of headers) other.removeAttribute('aria-sort');
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      resort();
    });
  }
  return { resort };
}
