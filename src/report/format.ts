/** Sizes as people read them: 1024-based units with one decimal (`28.9 MiB`). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

/** `12.0 MiB / 28.9 MiB · 45.1 MiB/s · 1 s left`: how far a transfer of a known size has come. */
export function formatTransfer(done: number, total: number | undefined, elapsedMs: number): string {
  const parts = [total ? `${formatBytes(done)} / ${formatBytes(total)}` : formatBytes(done)];
  if (elapsedMs >= 500 && done > 0) {
    const rate = done / (elapsedMs / 1000);
    parts.push(`${formatBytes(rate)}/s`);
    if (total && total > done) parts.push(`${Math.ceil((total - done) / rate)} s left`);
  }
  return parts.join(' · ');
}

export function formatCount(n: number, noun: string, plural = `${noun}s`): string {
  return `${groupDigits(n)} ${n === 1 ? noun : plural}`;
}

/**
 * `18,443`. Not toLocaleString: its first call loads ICU's number formatting, 15-20 ms of an install
 * that takes under a second from the cache.
 */
export function groupDigits(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Every duration terrarium prints, in one format: 658 ms, 8.5 s, 2 min 5 s. */
export function formatDuration(ms: number): string {
  return ms < 1000
    ? `${Math.round(ms)} ms`
    : ms < 60_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** How long ago something was, as people say it: 40 s, 12 min, 5 h, 3 days. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}
