/**
 * Everything for writing mail, loaded as one chunk of its own when the user first writes, replies
 * or opens Sent, Drafts or the signature (and in the background once the mailbox is up): the
 * mailbox's first render never waits for it.
 */
export { Composer, type ComposeSpec } from './compose.js';
export { DraftsView, NoteToast, SentView, SignatureDialog, UndoToast } from './sent.js';
