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
export const ReplyIcon = () => svg('M10 8L4 13l6 5M4 13h10a6 6 0 0 1 6 6');
export const ReplyAllIcon = () => svg('M12 8l-5 5 5 5M7 8l-5 5 5 5M7 13h8a6 6 0 0 1 6 6');
export const ForwardIcon = () => svg('M14 8l6 5-6 5M20 13H10a6 6 0 0 0-6 6');
export const PencilIcon = () => svg('M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4');
export const SendIcon = () => svg('M22 2L11 13M22 2l-7 20-4-9-9-4z');
export const TrashIcon = () => svg('M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13');
export const InboxIcon = () => svg('M3 13h5l2 3h4l2-3h5M5 5h14l2 8v6H3v-6z');
export const SentIcon = () => svg('M3 11l18-8-8 18-2-8z');
export const DraftIcon = () => svg('M6 3h8l4 4v14H6zM14 3v4h4M9 13h6M9 17h4');

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
