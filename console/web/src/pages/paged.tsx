// Paging for long tables: a page of rows renders fast however many there are, and the pager's
// buttons are ordinary buttons for the keyboard.
import { useEffect, useState } from "preact/hooks";

export const pageSize = 100;

export function usePage(total: number, resetKey: string, size = pageSize): [number, (p: number) => void] {
  const [page, setPage] = useState(0);
  useEffect(() => setPage(0), [resetKey]);
  const last = Math.max(0, Math.ceil(total / size) - 1);
  return [Math.min(page, last), setPage];
}

export function Pager({
  page,
  total,
  setPage,
  label,
  size = pageSize,
}: {
  page: number;
  total: number;
  setPage: (p: number) => void;
  label: string;
  size?: number;
}) {
  const pages = Math.max(1, Math.ceil(total / size));
  if (pages <= 1) return null;
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
        Previous
      </button>
      <span aria-live="polite">
        page {page + 1} of {pages} ({total} rows)
      </span>
      <button type="button" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
