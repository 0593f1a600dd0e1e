/** Small inline icons; each is decorative (aria-hidden): the control or row around it carries the words. */
import type { JSX } from 'preact';

const svg = (d: string, props: JSX.SVGAttributes<SVGSVGElement> = {}) => (
  <svg
    class="icon"
    viewBox="0 0 24 24"
    width="18"
    height="18"
    aria-hidden="true"
    focusable="false"
    fill="none"
    stroke="currentColor"
    stroke-width="2"
    stroke-linecap="round"
    stroke-linejoin="round"
    {...props}
  >
    <path d={d} />
  </svg>
);

export const PaperclipIcon = () =>
  svg('M21 11.5l-8.5 8.5a5 5 0 0 1-7-7l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8');
export const FlagIcon = ({ filled = false }: { filled?: boolean }) =>
  svg('M5 21V4m0 0h11l-2 4 2 4H5', filled ? { fill: 'currentColor' } : {});
export const BackIcon = () => svg('M15 18l-6-6 6-6');
export const SearchIcon = () => svg('M11 18a7 7 0 1 1 0-14 7 7 0 0 1 0 14zm10 3l-5-5');
export const HelpIcon = () =>
  svg('M9.1 9a3 3 0 0 1 5.8 1c0 2-3 2.5-3 4.5M12 18h.01M12 22a10 10 0 1 1 0-20 10 10 0 0 1 0 20z');
export const MailIcon = () => svg('M3 6h18v12H3zM3 6l9 7 9-7');
export const DownloadIcon = () => svg('M12 3v12m0 0l-5-5m5 5l5-5M4 21h16');
export const CloseIcon = () => svg('M6 6l12 12M18 6L6 18');

/** The app's mark: a lifebuoy. */
export const LogoIcon = () => (
  <svg class="icon logo" viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false">
    <circle
      cx="12"
      cy="12"
      r="9"
      fill="none"
      stroke="currentColor"
      stroke-width="5"
      stroke-dasharray="4.7 4.7"
    />
    <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="1" />
    <circle cx="12" cy="12" r="4.5" fill="none" stroke="currentColor" stroke-width="1" />
  </svg>
);
