/**
 * A message's body as both apps show it, the webmail's reading pane and the console's quarantine
 * preview alike: the HTML through the renderer (web/src/mail/render.ts, the only module that turns
 * mail HTML into markup) in an iframe sandboxed without scripts and without same-origin, remote
 * images held back behind a bar until the reader allows them for this message, or the text as
 * written. Keyed by the message's id where it is used, so allowing images never carries over.
 * It brings the renderer (and DOMPurify) with it: the console loads it when a preview is opened.
 */
import type { ComponentChildren } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { buildMessageDocument } from '../mail/render.js';

/** What of a message its body is drawn from (the webmail's read and the preview both carry it). */
export interface MessageContent {
  /** The server's sanitised HTML, or null for a text-only message. */
  html: string | null;
  text: string | null;
  /** Remote images the server held back. */
  remoteImages: number;
  /** Signed links for embedded images, by Content-ID. */
  inlineImages: Record<string, string>;
}

export interface MessageBodyProps {
  message: MessageContent;
  /** Who the sender learns opened the message when images are shown ("you opened this message"). */
  opened: string;
  /** The class of the line that says there is no text. */
  noTextClass?: string | undefined;
  /** Shown between the remote-images bar and the body (the reading pane's attachments). */
  children?: ComponentChildren;
}

export function MessageBody(props: MessageBodyProps) {
  const { html, inlineImages, text, remoteImages } = props.message;
  const [allowRemote, setAllowRemote] = useState(false);
  const rendered = useMemo(
    () => (html ? buildMessageDocument(html, { allowRemote, inlineImages }) : null),
    [html, inlineImages, allowRemote],
  );
  // The server holds remote images back and counts them; the renderer counts what it blocked.
  const remoteHeld = rendered ? Math.max(rendered.remoteBlocked, remoteImages) : 0;
  return (
    <>
      {remoteHeld > 0 && !allowRemote ? (
        <section class="remote-bar" aria-label="Remote images">
          <span>
            Remote images are hidden ({remoteHeld}). Showing them tells the sender {props.opened}.
          </span>
          <button type="button" class="button" onClick={() => setAllowRemote(true)}>
            Show remote images
          </button>
        </section>
      ) : null}
      {props.children}
      {rendered ? (
        <iframe
          class="body-frame"
          title="Message body"
          sandbox="allow-popups allow-popups-to-escape-sandbox"
          referrerpolicy="no-referrer"
          srcdoc={rendered.srcdoc}
        />
      ) : text !== null ? (
        <pre class="text-body">{text}</pre>
      ) : (
        <p class={props.noTextClass ?? 'muted'}>This message has no text.</p>
      )}
    </>
  );
}
